#!/bin/sh
# run-labs.sh SCRIPT... - runs each namespace lab in turn, its output shown live
# and kept in build/results/log/<script>.log.  At the end, for every lab that
# failed, it prints the lines that say what failed (a lab marks them FAIL, FAIL!!,
# !! or "not ok"; an expected failure, FAIL*, is left out), so that the tail of a
# long CI log names the failed check.  Exit status non-zero if any lab failed.
set -u
cd "$(dirname "$0")/.." || exit 2
RESULTS=${RESULTS_DIR:-build/results}
logs=$RESULTS/log
mkdir -p "$logs"
st=0
failed_labs=
for l in "$@"; do
	echo "== $l"
	log=$logs/$(echo "$l" | sed 's|^tests/lab/||; s|/|-|g').log
	rcf=$log.rc
	{ "$l" 2>&1; echo $? >"$rcf"; } | tee "$log"
	rc=$(cat "$rcf" 2>/dev/null || echo 1)
	rm -f "$rcf"
	if [ "$rc" != 0 ]; then
		st=1
		failed_labs="$failed_labs $l"
	fi
done
for l in $failed_labs; do
	log=$logs/$(echo "$l" | sed 's|^tests/lab/||; s|/|-|g').log
	echo "== failed: $l (whole output: $log)"
	grep -E '(^|[[:space:]])(FAIL([[:space:]!]|$)|FAIL!!|[^ ]*!!|not ok)' "$log" |
		grep -v -E 'FAIL\* =|!! = NOT as expected' | head -n 30
done
exit $st
