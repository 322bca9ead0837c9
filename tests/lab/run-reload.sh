#!/bin/sh
# run-reload.sh - the reload lab of `make check`: ftpalgd re-reads its configuration
# on SIGHUP while transfers run (a policy change, a new mapping, a removed mapping,
# a broken file, restart-only keys), and no session drops (tests/lab/reload.py).
# Writes build/results/reload.txt and reload.log.  Needs root; never skips silently.
set -u
cd "$(dirname "$0")/../.." || exit 2
mkdir -p build/results

fail() {
	echo "reload: $*" >&2
	echo "passed=0 failed=1" > build/results/reload.txt
	exit 2
}

[ "$(id -u)" = 0 ] || fail "must run as root (network namespaces, nftables): sudo make check"
[ -x /usr/bin/python3 ] || fail "/usr/bin/python3 missing (scripts/install-deps.sh)"
for t in ip nft conntrack ss vsftpd curl; do
	command -v "$t" >/dev/null 2>&1 || fail "$t missing: run scripts/install-deps.sh"
done
[ -x build/ftpalgd ] && [ -x build/ftpalg ] || fail "build/ftpalgd or build/ftpalg missing: run make"
[ -x build/tests/seccomp-exec ] || fail "build/tests/seccomp-exec missing: make build/tests/seccomp-exec"
for t in setpriv systemd-analyze; do
	command -v "$t" >/dev/null 2>&1 || fail "$t missing: run scripts/install-deps.sh"
done

# Bounded in time whatever happens inside (the lab tears down on SIGTERM).
exec timeout --kill-after=30 300 /usr/bin/python3 tests/lab/reload.py "$@"
