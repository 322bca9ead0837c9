#!/bin/sh
# run-unit.sh BIN... - runs each check(3) unit-test binary, adds up check's
# "NN%: Checks: N, Failures: F, Errors: E" lines and writes
# build/results/unit.txt as "passed=N failed=M".  A binary that crashes, exits
# non-zero or prints no check summary counts as one more failure.
# Exit status non-zero on any failure (or when no binary was given).
set -u
cd "$(dirname "$0")/.." || exit 2
RESULTS=${RESULTS_DIR:-build/results}
mkdir -p "$RESULTS"
TIMEOUT=${UNIT_TIMEOUT:-600}

passed=0
failed=0
if [ $# -eq 0 ]; then
	echo "unit: no unit-test binaries given" >&2
	failed=1
fi
out=$(mktemp) || exit 2
trap 'rm -f "$out"' EXIT INT TERM

for bin in "$@"; do
	name=$(basename "$bin")
	if [ ! -x "$bin" ]; then
		echo "unit: $name: not an executable ($bin)" >&2
		failed=$((failed + 1))
		continue
	fi
	timeout --kill-after=10 "$TIMEOUT" "$bin" >"$out" 2>&1
	rc=$?
	# every "NN%: Checks: N, Failures: F, Errors: E" line (one per srunner)
	read -r n f seen <<-EOT
	$(awk '{
		if (match($0, /[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+/)) {
			split(substr($0, RSTART, RLENGTH), w, /[^0-9]+/)
			n += w[2]; f += w[3] + w[4]; seen = 1
		}
	} END { print n + 0, f + 0, seen + 0 }' "$out")
	EOT
	if [ "$seen" -eq 0 ]; then
		echo "unit: $name: no check summary line (exit status $rc)" >&2
		tail -n 20 "$out" | sed 's/^/  | /' >&2
		failed=$((failed + 1))
		continue
	fi
	passed=$((passed + n - f))
	failed=$((failed + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# crashed or exited non-zero although check reported no failure
		echo "unit: $name: exit status $rc with no failure reported" >&2
		tail -n 20 "$out" | sed 's/^/  | /' >&2
		failed=$((failed + 1))
		continue
	fi
	if [ "$f" -gt 0 ]; then
		echo "unit: $name: $f of $n checks failed" >&2
		grep -E ':[EF]:' "$out" | sed 's/^/  | /' >&2
	else
		echo "unit: $name: $n checks ok"
	fi
done

echo "passed=$passed failed=$failed" >"$RESULTS/unit.txt"
echo "unit: passed=$passed failed=$failed"
[ "$failed" -eq 0 ]
