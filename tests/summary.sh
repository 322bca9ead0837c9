#!/bin/sh
# summary.sh DIR - adds up every DIR/*.txt ("passed=N failed=M") and prints, alone
# on the last line, "check: N passed, M failed".  Exit status non-zero if M > 0,
# if a result file cannot be read, or if nothing ran at all.
set -u
dir=${1:?usage: summary.sh DIR}
passed=0
failed=0
files=0
for f in "$dir"/*.txt; do
	[ -f "$f" ] || continue
	files=$((files + 1))
	p=$(sed -n 's/.*passed=\([0-9]\{1,\}\).*/\1/p' "$f" | head -n 1)
	m=$(sed -n 's/.*failed=\([0-9]\{1,\}\).*/\1/p' "$f" | head -n 1)
	if [ -z "$p" ] || [ -z "$m" ]; then
		echo "summary: $(basename "$f"): unreadable: $(head -c 200 "$f")"
		failed=$((failed + 1))
		continue
	fi
	printf 'summary: %-12s passed=%s failed=%s\n' "$(basename "$f" .txt)" "$p" "$m"
	passed=$((passed + p))
	failed=$((failed + m))
done
[ "$files" -gt 0 ] || echo "summary: no result files in $dir"
echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ $((passed + failed)) -gt 0 ]
