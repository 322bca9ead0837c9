#!/bin/sh
# build-deb.sh OUTDIR - builds the Debian package from a copy of this tree
# (dpkg-buildpackage writes its results into the parent directory, which must
# not be the one above the repository) and puts the .deb, .changes and
# .buildinfo into OUTDIR.  Needs debhelper and the Build-Depends of
# debian/control.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build/deb}
case $out in /*) ;; *) out=$top/$out ;; esac
ver=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
work=$(mktemp -d /tmp/ftpalg-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
src=$work/ftpalg-$ver
mkdir -p "$src"
# The tree as it is (also uncommitted work), without build output and git.
(cd "$top" && tar --exclude=./build --exclude=./.git --exclude='./build-*' -cf - .) |
	tar -xf - -C "$src"
echo "build-deb: dpkg-buildpackage -us -uc -b in $src"
if ! (cd "$src" && dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1); then
	tail -n 40 "$work/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed (log above)" >&2
	exit 1
fi
mkdir -p "$out"
rm -f "$out"/ftpalg*_*
cp "$work"/ftpalg*_"$ver"_*.deb "$work"/ftpalg_"$ver"_*.changes "$work"/ftpalg_"$ver"_*.buildinfo "$out"/
cp "$work/build.log" "$out/build.log"
ls -l "$out"/ftpalg*_*
