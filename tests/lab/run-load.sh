#!/bin/sh
# run-load.sh - pinholes under load and pinholes that must not outlive their session
# (tests/lab/load.py; part of `make check`).  Writes build/results/load.txt.  Needs root;
# never skips silently.
#   tests/lab/run-load.sh [--sessions N] [--engines proxy,inline] [-v]
set -u
cd "$(dirname "$0")/../.." || exit 2
mkdir -p build/results

fail() {
	echo "load-lab: $*" >&2
	echo "passed=0 failed=1" > build/results/load.txt
	exit 2
}

[ "$(id -u)" = 0 ] || fail "must run as root (network namespaces, nftables, NFQUEUE): sudo make check"
[ -x /usr/bin/python3 ] || fail "/usr/bin/python3 missing (scripts/install-deps.sh)"
for t in ip nft iptables ip6tables conntrack ss cc; do
	command -v "$t" >/dev/null 2>&1 || fail "$t missing: run scripts/install-deps.sh"
done
[ -x build/ftpalgd ] || fail "build/ftpalgd missing: run make"
exec timeout --kill-after=20 400 /usr/bin/python3 tests/lab/load.py "$@"
