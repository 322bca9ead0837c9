#!/bin/sh
# run-lab.sh - the namespace lab of `make check` / `make lab-check`.
# Runs the FTP matrix in modes none, kernel and ftpalgd (tests/lab/matrix.py) and
# writes build/results/lab.txt.  Needs root; never skips silently.
#   tests/lab/run-lab.sh [--modes none,kernel,ftpalgd] [--quick] [-v]
set -u
cd "$(dirname "$0")/../.." || exit 2
mkdir -p build/results

fail() {
	echo "lab: $*" >&2
	echo "passed=0 failed=1" > build/results/lab.txt
	exit 2
}

[ "$(id -u)" = 0 ] || fail "must run as root (network namespaces, nftables): sudo make check"
[ -x /usr/bin/python3 ] || fail "/usr/bin/python3 missing (scripts/install-deps.sh)"
for t in ip nft conntrack ss vsftpd curl lftp; do
	command -v "$t" >/dev/null 2>&1 || fail "$t missing: run scripts/install-deps.sh"
done
/usr/bin/python3 -c 'import pyftpdlib' 2>/dev/null ||
	fail "python3-pyftpdlib missing: run scripts/install-deps.sh"

exec /usr/bin/python3 tests/lab/matrix.py "$@"
