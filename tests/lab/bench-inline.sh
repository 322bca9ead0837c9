#!/bin/sh
# bench-inline.sh - `make bench`, inline engine part: data throughput (1 GiB RETR) and
# control-path cost (NOOP round trip, small transfers, the daemon's verdict time)
# with plain forwarding, the kernel FTP helper and engine = inline, in one lab;
# ratios to the kernel helper.  Reports, never asserts timing.  Needs root.
#   tests/lab/bench-inline.sh [--gib N] [--reps N] [--count N] [--noops N] [--modes none,kernel,inline]
set -u
cd "$(dirname "$0")/../.." || exit 2
if [ "$(id -u)" != 0 ]; then
	echo "bench-inline: must run as root (network namespaces, nftables, NFQUEUE): sudo make bench" >&2
	exit 2
fi
for t in ip nft iptables ip6tables conntrack ss vsftpd curl; do
	command -v "$t" >/dev/null 2>&1 || { echo "bench-inline: $t missing: run scripts/install-deps.sh" >&2; exit 2; }
done
[ -x build/ftpalgd ] || { echo "bench-inline: build/ftpalgd missing: run make" >&2; exit 2; }
exec /usr/bin/python3 tests/lab/bench_inline.py "$@"
