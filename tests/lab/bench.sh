#!/bin/sh
# bench.sh - `make bench`: data path (1 GiB RETR, MB/s) and control path (200 small
# transfers in one session) with plain forwarding, the kernel FTP helper and ftpalgd,
# in one lab; ratios to the kernel helper.  Reports, never asserts timing.  Needs root.
#   tests/lab/bench.sh [--gib N] [--reps N] [--count N] [--modes none,kernel,ftpalgd]
set -u
cd "$(dirname "$0")/../.." || exit 2
if [ "$(id -u)" != 0 ]; then
	echo "bench: must run as root (network namespaces, nftables): sudo make bench" >&2
	exit 2
fi
for t in ip nft conntrack ss vsftpd curl; do
	command -v "$t" >/dev/null 2>&1 || { echo "bench: $t missing: run scripts/install-deps.sh" >&2; exit 2; }
done
exec /usr/bin/python3 tests/lab/bench.py "$@"
