#!/bin/sh
# tests/lab/package.sh - the Debian package, built and looked into.
#
# Builds it with `scripts/build-deb.sh build/deb` (dpkg-buildpackage -us -uc
# -b on a copy of the tree), runs lintian on the .deb and the .changes (no
# error, no warning), checks the file list (dpkg-deb -c), the conffiles, the
# unit's paths and that the maintainer scripts do not enable or start the
# service on a fresh install, then extracts the package (dpkg-deb -x) and runs
# the extracted ftpalgd -n against the extracted example configuration, and
# the extracted ftpalg.  Nothing is installed on this machine.
# Writes build/results/package.txt ("passed=N failed=M").  Needs no root.
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
RESULTS=${RESULTS_DIR:-$ROOT/build/results}
OUT=$ROOT/build/deb
mkdir -p "$RESULTS"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { # check NAME COMMAND...: ok when the command succeeds
	name=$1; shift
	if "$@" >/dev/null 2>&1; then ok "$name"; else bad "$name"; fi
}
tmp=$(mktemp -d /tmp/ftpalg-pkg.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
finish() {
	echo "package: passed=$passed failed=$failed ($(($(date +%s) - t0))s)"
	echo "passed=$passed failed=$failed" >"$RESULTS/package.txt"
	[ "$failed" -eq 0 ]
	exit
}
t0=$(date +%s)

for t in dpkg-buildpackage dh lintian dpkg-deb dpkg-parsechangelog; do
	if ! command -v "$t" >/dev/null 2>&1; then
		bad "$t missing: run scripts/install-deps.sh (debhelper, devscripts, lintian)"
		finish
	fi
done
ver=$(dpkg-parsechangelog -l debian/changelog -S Version)
arch=$(dpkg --print-architecture)
deb=$OUT/ftpalg_${ver}_${arch}.deb
changes=$OUT/ftpalg_${ver}_${arch}.changes

# quicker than `make deb`: both cores, no -dbgsym package
if DEB_BUILD_OPTIONS="parallel=2 noautodbgsym" timeout 300 scripts/build-deb.sh "$OUT" \
    >"$tmp/build.out" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b builds ftpalg_${ver}_${arch}.deb"
else
	sed 's/^/  | /' "$tmp/build.out" | tail -n 30
	bad "dpkg-buildpackage -us -uc -b"
	finish
fi
check "the .deb and the .changes are there" test -s "$deb" -a -s "$changes"
grep -i 'warning' "$OUT/build.log" | grep -v 'dpkg-source: warning: building' >"$tmp/bw" || true
if [ -s "$tmp/bw" ]; then
	sed 's/^/  | /' "$tmp/bw" | head -n 20
	bad "the package build (compiler, debhelper) prints no warning"
else
	ok "the package build (compiler, debhelper) prints no warning"
fi

# lintian: no error and no warning (info and pedantic tags are listed only)
for f in "$deb" "$changes"; do
	lintian -I --fail-on error,warning "$f" >"$tmp/lintian" 2>&1
	rc=$?
	grep -v 'running with root privileges' "$tmp/lintian" >"$tmp/lintian.tags" || true
	if [ "$rc" -eq 0 ] && ! grep -q '^[EW]: ' "$tmp/lintian.tags"; then
		ok "lintian $(basename "$f"): no error, no warning"
	else
		sed 's/^/  | /' "$tmp/lintian.tags"
		bad "lintian $(basename "$f") (exit $rc)"
	fi
	grep '^[IPX]: ' "$tmp/lintian.tags" | sed 's/^/  lintian: /'
done

# the contents
dpkg-deb -c "$deb" | awk '{ sub(/^\.\//, "/", $6); print $6 }' >"$tmp/files"
for p in /usr/sbin/ftpalgd /usr/sbin/ftpalg /usr/share/man/man8/ftpalgd.8.gz \
    /usr/share/man/man8/ftpalg.8.gz /usr/share/man/man5/ftpalgd.conf.5.gz \
    /lib/systemd/system/ftpalgd.service /etc/ftpalg/ftpalgd.conf /etc/ftpalg/ftpalgd.nft \
    /etc/ftpalg/ftpalgd-forward.nft /usr/share/bash-completion/completions/ftpalg \
    /usr/share/bash-completion/completions/ftpalgd /usr/lib/sysusers.d/ftpalg.conf \
    /usr/share/doc/ftpalg/copyright; do
	check "dpkg-deb -c lists $p" grep -qx "$p" "$tmp/files"
done
check "nothing under /usr/local" sh -c "! grep -q '^/usr/local' '$tmp/files'"
dpkg-deb -e "$deb" "$tmp/ctrl"
for c in /etc/ftpalg/ftpalgd.conf /etc/ftpalg/ftpalgd.nft /etc/ftpalg/ftpalgd-forward.nft; do
	check "conffile $c" grep -qx "$c" "$tmp/ctrl/conffiles"
done
check "a system user from sysusers.d (postinst runs systemd-sysusers)" \
	grep -q 'systemd-sysusers.*ftpalg.conf' "$tmp/ctrl/postinst"
# Fresh install: only a unit that "was-enabled" is enabled again, and
# deb-systemd-invoke does not start a disabled unit.
n=$(grep -c 'deb-systemd-helper enable' "$tmp/ctrl/postinst")
w=$(grep -B2 'deb-systemd-helper enable' "$tmp/ctrl/postinst" | grep -c 'was-enabled')
if [ "$n" -le 1 ] && [ "$w" -eq "$n" ]; then
	ok "postinst does not enable the service on a fresh install ($n enable, under was-enabled)"
else
	sed 's/^/  | /' "$tmp/ctrl/postinst"
	bad "postinst enables the service on install"
fi

# extracted: the programs run, the daemon accepts its example configuration
dpkg-deb -x "$deb" "$tmp/root"
r=$tmp/root
check "the unit runs /usr/sbin/ftpalgd with /etc/ftpalg/ftpalgd.conf" \
	grep -q '^ExecStart=/usr/sbin/ftpalgd .*-f /etc/ftpalg/ftpalgd.conf' \
	"$r/lib/systemd/system/ftpalgd.service"
check "the unit names no /usr/local path" sh -c \
	"! grep -q /usr/local '$r/lib/systemd/system/ftpalgd.service'"
u=$(sed -n 's/^User=//p' "$r/lib/systemd/system/ftpalgd.service")
if [ -n "$u" ] && grep -q "^u $u " "$r/usr/lib/sysusers.d/ftpalg.conf"; then
	ok "sysusers.d creates the unit's User=$u"
else
	bad "the unit's User=${u:-none} is not what sysusers.d creates: $(grep '^u' "$r/usr/lib/sysusers.d/ftpalg.conf")"
fi
if out=$("$r/usr/sbin/ftpalgd" -n -f "$r/etc/ftpalg/ftpalgd.conf" 2>&1); then
	ok "extracted ftpalgd -n accepts the extracted example configuration"
else
	echo "$out" | sed 's/^/  | /'
	bad "extracted ftpalgd -n -f etc/ftpalg/ftpalgd.conf"
fi
sed 's/^listen = 2121$/listen = 2121x/' "$r/etc/ftpalg/ftpalgd.conf" >"$tmp/broken.conf"
if "$r/usr/sbin/ftpalgd" -n -f "$tmp/broken.conf" >"$tmp/err" 2>&1; then
	bad "extracted ftpalgd -n refuses a broken copy"
else
	check "extracted ftpalgd -n refuses a broken copy, naming file:line" \
		grep -q "broken.conf:[0-9]" "$tmp/err"
fi
check "extracted ftpalg --version is $ver" sh -c \
	"'$r/usr/sbin/ftpalg' --version | grep -qx 'ftpalg $ver'"
check "extracted ftpalg rules -f the example" "$r/usr/sbin/ftpalg" rules -f \
	"$r/etc/ftpalg/ftpalgd.conf"
check "the man pages are compressed and read" sh -c \
	"zcat '$r/usr/share/man/man8/ftpalg.8.gz' | grep -q metrics"
finish
