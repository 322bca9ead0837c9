#!/bin/sh
# run-inline.sh - the inline engine's namespace lab (part of `make check`).
# Runs tests/lab/inline.py: the matrix in inline mode beside the kernel helper,
# commands byte by byte and replies split, loss and reordering, long sessions,
# fail-open/fail-closed and recovery.  Writes build/results/inline.txt.  Needs
# root; never skips silently.
#   tests/lab/run-inline.sh [--only matrix,bytewise,netem,long,recovery] [--quick] [-v]
set -u
cd "$(dirname "$0")/../.." || exit 2
mkdir -p build/results

fail() {
	echo "inline-lab: $*" >&2
	echo "passed=0 failed=1" > build/results/inline.txt
	exit 2
}

[ "$(id -u)" = 0 ] || fail "must run as root (network namespaces, nftables, NFQUEUE): sudo make check"
[ -x /usr/bin/python3 ] || fail "/usr/bin/python3 missing (scripts/install-deps.sh)"
for t in ip nft iptables ip6tables tc conntrack ss vsftpd curl lftp; do
	command -v "$t" >/dev/null 2>&1 || fail "$t missing: run scripts/install-deps.sh"
done
/usr/bin/python3 -c 'import pyftpdlib' 2>/dev/null ||
	fail "python3-pyftpdlib missing: run scripts/install-deps.sh"
[ -x build/ftpalgd ] || fail "build/ftpalgd missing: run make"

exec /usr/bin/python3 tests/lab/inline.py "$@"
