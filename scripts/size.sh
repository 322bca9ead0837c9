#!/bin/sh
# size.sh - the daemon and the CLI as a router build makes them: -Os,
# -ffunction-sections -fdata-sections, -Wl,--gc-sections, stripped (what
# OpenWrt's PKG_BUILD_FLAGS:=gc-sections and its strip do), in build/size/.
# Prints each binary's size and its shared libraries (ELF NEEDED).  Part of
# `make bench`; figures for docs/deployment.md.
set -eu
cd "$(dirname "$0")/.."
B=build/size
CC=${CC:-cc}
FLAGS="-Os -ffunction-sections -fdata-sections"
make -s B=$B CC="$CC" CFLAGS="$FLAGS" LDFLAGS="-Wl,--gc-sections" \
	$B/ftpalgd $B/ftpalg-notrace $B/ftpalg >$B.log 2>&1 || { cat $B.log >&2; exit 1; }
echo "size: $($CC --version | head -n 1); $FLAGS -Wl,--gc-sections; stripped"
for b in ftpalgd ftpalg-notrace ftpalg; do
	strip -o "$B/$b.stripped" "$B/$b"
	bytes=$(wc -c <"$B/$b.stripped")
	needed=$(readelf -d "$B/$b.stripped" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
	case $b in
	ftpalgd) what="the daemon" ;;
	ftpalg-notrace) what="the CLI without trace (OpenWrt ftpalgd package)" ;;
	ftpalg) what="the CLI with the pcap doctor (ftpalg-trace)" ;;
	esac
	printf 'size: %-15s %7d bytes (%d KiB)  NEEDED: %s  (%s)\n' "$b" "$bytes" \
		$(((bytes + 1023) / 1024)) "$needed" "$what"
done
size "$B/ftpalgd.stripped" | sed 's/^/size: /'
