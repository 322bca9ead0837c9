#!/bin/sh
# check-layers.sh [BUILD_DIR] - the layering the Makefile states, checked:
#
#   alg/     includes alg/ and the C library's own headers, nothing else
#   nat/     includes nat/ only (netfilter, nothing of FTP)
#   engine/  includes alg/, nat/, engine/: never daemon/ or tools/
#   daemon/  includes alg/, nat/, engine/, daemon/: never tools/
#   tools/   includes alg/, tools/ and daemon/'s config.h and version.h
#            (the CLI reads the daemon's configuration): never engine/ or nat/
#   netfilter headers (libnftnl, libnetfilter_*, linux/netfilter*) only in nat/
#
# and the same on the objects: no library below calls a symbol that a library
# above defines (libengine.a needs nothing of libdaemon.a, and so on), so a
# program can link only the layers it uses.  One check per file and per
# library pair; writes BUILD_DIR/results/layers.txt as "passed=N failed=M".
set -u
cd "$(dirname "$0")/.." || exit 2
B=${1:-build}
RESULTS=${RESULTS_DIR:-$B/results}
mkdir -p "$RESULTS"
passed=0
failed=0

bad() {
	echo "layers: $*" >&2
	failed=$((failed + 1))
}

# includes FILE: the quoted includes' folders, one a line
quoted() {
	sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z]*\)\/[^"]*".*/\1/p' "$1"
}
angled() {
	sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*<\([^>]*\)>.*/\1/p' "$1"
}

# The C library's headers alg/ may use: nothing that talks to the system.
ALG_LIBC=" assert.h ctype.h errno.h inttypes.h limits.h stdarg.h stdbool.h stddef.h stdint.h stdio.h stdlib.h string.h "

check_file() {
	f=$1
	dir=${f%%/*}
	ok=1
	case $dir in
	alg) allowed="alg" ;;
	nat) allowed="nat" ;;
	engine) allowed="alg nat engine" ;;
	daemon) allowed="alg nat engine daemon" ;;
	tools) allowed="alg tools daemon" ;;
	*) return ;;
	esac
	for d in $(quoted "$f"); do
		case " $allowed " in
		*" $d "*) ;;
		*) bad "$f includes $d/ (allowed: $allowed)"; ok=0 ;;
		esac
	done
	if [ "$dir" = tools ]; then
		for h in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"daemon\/\([^"]*\)".*/\1/p' "$f"); do
			case $h in
			config.h|version.h) ;;
			*) bad "$f includes daemon/$h (tools/ may read only config.h, version.h)"; ok=0 ;;
			esac
		done
	fi
	for h in $(angled "$f"); do
		if [ "$dir" = alg ]; then
			case $ALG_LIBC in
			*" $h "*) ;;
			*) bad "$f includes <$h>: alg/ is pure code over buffers"; ok=0 ;;
			esac
		elif [ "$dir" != nat ]; then
			case $h in
			libnftnl/*|libnetfilter_*|linux/netfilter*)
				bad "$f includes <$h>: netfilter is nat/'s"; ok=0 ;;
			esac
		fi
	done
	[ $ok = 1 ] && passed=$((passed + 1))
}

for f in alg/*.[ch] nat/*.[ch] engine/*.[ch] daemon/*.[ch] tools/*.[ch]; do
	[ -f "$f" ] && check_file "$f"
done

# The objects: LOWER's undefined symbols that one of UPPER defines.
defined() {
	for a in "$@"; do
		nm -g --defined-only "$B/$a" 2>/dev/null | awk 'NF == 3 { print $3 }'
	done | sort -u
}
check_link() {
	lower=$1
	shift
	if [ ! -f "$B/$lower" ]; then
		bad "$B/$lower missing: run make first"
		return
	fi
	calls=$(nm -u "$B/$lower" | awk '{ print $NF }' | sort -u | comm -12 - "$tmp.up")
	if [ -n "$calls" ]; then
		bad "$lower calls into $*: $(echo $calls)"
	else
		passed=$((passed + 1))
	fi
}
tmp=$(mktemp) || exit 2
trap 'rm -f "$tmp" "$tmp.up"' EXIT INT TERM
for pair in "libalg.a:libnat.a libengine.a libdaemon.a libtools.a" \
    "libnat.a:libalg.a libengine.a libdaemon.a libtools.a" \
    "libengine.a:libdaemon.a libtools.a" \
    "libdaemon.a:libtools.a"; do
	lower=${pair%%:*}
	defined ${pair#*:} > "$tmp.up"
	check_link "$lower" ${pair#*:}
done

echo "passed=$passed failed=$failed" > "$RESULTS/layers.txt"
echo "layers: passed=$passed failed=$failed"
[ "$failed" -eq 0 ]
