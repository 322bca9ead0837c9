#!/bin/sh
# run-replay.sh BIN... - replays the fuzz corpus through each fuzz target linked
# with the replay main: BIN tests/fuzz/corpus/<basename of BIN>/*.
# Counts files replayed; writes build/results/replay.txt as "passed=N failed=M".
# A missing or empty corpus directory is a failure.  When a batch fails, its files
# are replayed one by one to name (and count) the ones that fail.
set -u
cd "$(dirname "$0")/.." || exit 2
RESULTS=${RESULTS_DIR:-build/results}
CORPUS=${CORPUS_DIR:-tests/fuzz/corpus}
mkdir -p "$RESULTS"
TIMEOUT=${REPLAY_TIMEOUT:-600}

passed=0
failed=0
if [ $# -eq 0 ]; then
	echo "replay: no replay binaries given" >&2
	failed=1
fi
list=$(mktemp) || exit 2
log=$(mktemp) || exit 2
trap 'rm -f "$list" "$log"' EXIT INT TERM

for bin in "$@"; do
	name=$(basename "$bin")
	dir="$CORPUS/$name"
	if [ ! -x "$bin" ]; then
		echo "replay: $name: not an executable ($bin)" >&2
		failed=$((failed + 1))
		continue
	fi
	if [ ! -d "$dir" ]; then
		echo "replay: $name: corpus directory $dir missing" >&2
		failed=$((failed + 1))
		continue
	fi
	find "$dir" -maxdepth 1 -type f ! -name '.*' | LC_ALL=C sort >"$list"
	n=$(wc -l <"$list")
	if [ "$n" -eq 0 ]; then
		echo "replay: $name: corpus directory $dir is empty" >&2
		failed=$((failed + 1))
		continue
	fi
	if tr '\n' '\0' <"$list" | timeout --kill-after=10 "$TIMEOUT" xargs -0 "$bin" >"$log" 2>&1; then
		passed=$((passed + n))
		echo "replay: $name: $n files ok"
		continue
	fi
	echo "replay: $name: batch failed, replaying $n files one by one" >&2
	tail -n 20 "$log" | sed 's/^/  | /' >&2
	bad=0
	while IFS= read -r f; do
		if timeout --kill-after=5 60 "$bin" "$f" >"$log" 2>&1; then
			passed=$((passed + 1))
		else
			bad=$((bad + 1))
			echo "replay: $name: FAILED on $f" >&2
		fi
	done <"$list"
	if [ "$bad" -eq 0 ]; then
		# every file passes alone, yet the batch failed: count the batch
		echo "replay: $name: batch failed although each file passes alone" >&2
		bad=1
	fi
	failed=$((failed + bad))
done

echo "passed=$passed failed=$failed" >"$RESULTS/replay.txt"
echo "replay: passed=$passed failed=$failed"
[ "$failed" -eq 0 ]
