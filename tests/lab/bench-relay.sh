#!/bin/sh
# bench-relay.sh - `make bench`, inbound part: throughput of ftpalgd's userspace relay
# (splice) as a ratio to the kernel path (ftpalgd's pinholes), to DNAT + the kernel
# helper and to Debian's ftp-proxy, interleaved reps in one run on the inbound lab, the
# router on a core of its own (tests/lab/bench-relay.py, its docstring says how).
# Reports, never asserts timing.  Needs root.  About 2 minutes.
#   tests/lab/bench-relay.sh [--gib N] [--reps N] [--mem 1] [--daemon-b BUILD] [--help]
set -u
cd "$(dirname "$0")/../.." || exit 2
if [ "$(id -u)" != 0 ]; then
	echo "bench-relay: must run as root (network namespaces, nftables): sudo make bench" >&2
	exit 2
fi
for t in ip nft ss vsftpd curl; do
	command -v "$t" >/dev/null 2>&1 || { echo "bench-relay: $t missing: run scripts/install-deps.sh" >&2; exit 2; }
done
[ -x build/ftpalgd ] || { echo "bench-relay: build/ftpalgd missing: run make first" >&2; exit 2; }
exec timeout --kill-after=30 1800 /usr/bin/python3 tests/lab/bench-relay.py "$@"
