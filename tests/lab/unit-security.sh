#!/bin/sh
# unit-security.sh - `systemd-analyze security --offline=yes` on the shipped unit:
# the overall exposure must stay at or below 1.5 (issue 11; it was 2.3 while the
# daemon ran as root), and `systemd-analyze verify` must find no directive it
# ignores.  Skipped (no result file) where systemd-analyze is missing.
# Writes build/results/unit-security.txt.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
unit=$repo/systemd/ftpalgd.service
out=$repo/build/results
max=1.5
mkdir -p "$out"
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "unit-security: systemd-analyze not installed: skipped"
	exit 0
fi
passed=0
failed=0
report=$(systemd-analyze security --offline=yes --no-pager "$unit" 2>&1)
level=$(printf '%s\n' "$report" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' | tail -n 1)
if [ -n "$level" ] && awk -v l="$level" -v m="$max" 'BEGIN { exit !(l <= m) }'; then
	echo "  ok     exposure $level <= $max"
	passed=$((passed + 1))
else
	echo "  FAIL!! exposure ${level:-unknown} > $max:"
	printf '%s\n' "$report" | grep -E '✗|Overall|rror' | head -n 40
	failed=$((failed + 1))
fi
# A mistyped or unsupported directive is ignored by systemd with a warning, and
# the sandbox silently loses it: every directive must parse.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/local/sbin/ftpalgd|$repo/build/ftpalgd|g" "$unit" > "$tmp/ftpalgd.service"
warn=$(systemd-analyze verify --man=no "$tmp/ftpalgd.service" 2>&1 |
	grep -Ei 'unknown|invalid|failed to parse|ignoring|unsupported' || true)
if [ -z "$warn" ]; then
	echo "  ok     systemd-analyze verify: every directive parses"
	passed=$((passed + 1))
else
	echo "  FAIL!! systemd-analyze verify: $warn"
	failed=$((failed + 1))
fi
echo "unit-security: passed=$passed failed=$failed"
echo "passed=$passed failed=$failed" > "$out/unit-security.txt"
[ "$failed" -eq 0 ]
