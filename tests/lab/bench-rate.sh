#!/bin/sh
# bench-rate.sh - `make bench`: FTP sessions per second (connect, login, PASV|PORT, one
# small RETR, QUIT; 50 concurrent clients) with no ALG, the kernel FTP helper, ftpalgd's
# proxy and its inline engine, in one lab (tests/lab/bench-rate.py).  Reports, never
# asserts timing.  Needs root.
#   tests/lab/bench-rate.sh [--workers N] [--secs T] [--reps R] [--modes ...] [--soak SECS]
set -u
cd "$(dirname "$0")/../.." || exit 2
if [ "$(id -u)" != 0 ]; then
	echo "bench-rate: must run as root (network namespaces, nftables): sudo make bench" >&2
	exit 2
fi
for t in ip nft iptables ip6tables conntrack ss cc; do
	command -v "$t" >/dev/null 2>&1 || { echo "bench-rate: $t missing: run scripts/install-deps.sh" >&2; exit 2; }
done
[ -x build/ftpalgd ] || { echo "bench-rate: build/ftpalgd missing: run make" >&2; exit 2; }
exec timeout --kill-after=30 3600 /usr/bin/python3 tests/lab/bench-rate.py "$@"
