#!/bin/sh
# run-ha.sh - two routers with keepalived (VRRP) and conntrackd (FTFW): FTP across
# graceful and crash failovers and failbacks, with the kernel helper, the inline
# engine and the proxy engine.  Runs tests/lab/ha.py; writes build/results/ha.txt
# and the survival table build/lab/ha-table.md.  Needs root; never skips silently.
#   tests/lab/run-ha.sh [--engines kernel,inline,proxy] [--transitions ...] [-v]
set -u
cd "$(dirname "$0")/../.." || exit 2
mkdir -p build/results

fail() {
	echo "ha-lab: $*" >&2
	echo "passed=0 failed=1" > build/results/ha.txt
	exit 2
}

[ "$(id -u)" = 0 ] || fail "must run as root (network namespaces, nftables, VRRP): sudo make check"
[ -x /usr/bin/python3 ] || fail "/usr/bin/python3 missing (scripts/install-deps.sh)"
for t in ip nft iptables conntrack ss vsftpd keepalived conntrackd; do
	command -v "$t" >/dev/null 2>&1 || fail "$t missing: run scripts/install-deps.sh"
done
[ -x build/ftpalgd ] || fail "build/ftpalgd missing: run make"

exec /usr/bin/python3 tests/lab/ha.py "$@"
