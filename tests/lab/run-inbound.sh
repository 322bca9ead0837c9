#!/bin/sh
# run-inbound.sh - the inbound lab of `make check`: intranet FTP servers behind the
# router's port mappings, reached from outside and by hairpin, with the classic DNAT,
# DNAT + kernel helper, ftpalgd (pinholes) and ftpalgd (relay) side by side, the relay's
# memory bound and a WAN address change (tests/lab/inbound.py).  Writes
# build/results/inbound.txt.  Needs root; never skips silently.
#   tests/lab/run-inbound.sh [--modes dnat,helper,ftpalgd,relay] [--quick] [-v]
set -u
cd "$(dirname "$0")/../.." || exit 2
mkdir -p build/results

fail() {
	echo "inbound: $*" >&2
	echo "passed=0 failed=1" > build/results/inbound.txt
	exit 2
}

[ "$(id -u)" = 0 ] || fail "must run as root (network namespaces, nftables): sudo make check"
[ -x /usr/bin/python3 ] || fail "/usr/bin/python3 missing (scripts/install-deps.sh)"
for t in ip nft conntrack ss vsftpd curl lftp; do
	command -v "$t" >/dev/null 2>&1 || fail "$t missing: run scripts/install-deps.sh"
done
/usr/bin/python3 -c 'import pyftpdlib' 2>/dev/null ||
	fail "python3-pyftpdlib missing: run scripts/install-deps.sh"
[ -x build/ftpalgd ] || fail "build/ftpalgd missing: run make first"

# Bounded in time whatever happens inside (the lab tears down on SIGTERM).
exec timeout --kill-after=30 900 /usr/bin/python3 tests/lab/inbound.py "$@"
