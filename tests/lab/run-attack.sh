#!/bin/sh
# run-attack.sh - hostile peers against the router (issue 11; part of `make check`).
# Runs tests/lab/attack.py: NAT slipstreaming for real (one segment, PORT at a
# segment start, request before the greeting, EPRT; ports 21 and 2121; the kernel
# helper measured, ftpalgd's proxy and inline engines asserted), an unsolicited 227
# naming a LAN host, bounce and low-port PORT; the same over IPv6 with EPRT |2|
# (and an unsolicited 229); a legitimate session after each.  About 90 s.
# Writes build/results/attack.txt.  Needs root; never skips silently.
#   tests/lab/run-attack.sh [--modes kernel,proxy,inline] [-v]
set -u
cd "$(dirname "$0")/../.." || exit 2
mkdir -p build/results

fail() {
	echo "attack-lab: $*" >&2
	echo "passed=0 failed=1" > build/results/attack.txt
	exit 2
}

[ "$(id -u)" = 0 ] || fail "must run as root (network namespaces, nftables, NFQUEUE): sudo make check"
[ -x /usr/bin/python3 ] || fail "/usr/bin/python3 missing (scripts/install-deps.sh)"
for t in ip nft iptables ip6tables conntrack ss vsftpd curl lftp wget; do
	command -v "$t" >/dev/null 2>&1 || fail "$t missing: run scripts/install-deps.sh"
done
[ -x build/ftpalgd ] || fail "build/ftpalgd missing: run make"

exec /usr/bin/python3 tests/lab/attack.py "$@"
