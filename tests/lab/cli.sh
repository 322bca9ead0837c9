#!/bin/bash
# tests/lab/cli.sh - ftpalg's command line conventions, its bash completion,
# `ftpalg metrics` through promtool, and the alert rules of docs/monitoring.md.
#
#  * every command and subcommand answers --help (usage on stdout, exit 0)
#    and --version; errors go to stderr with a non-zero exit, nothing on stdout;
#  * the completion file (bash) completes the commands `ftpalg --help` lists,
#    and their options;
#  * `ftpalg metrics` against a fake daemon on a unix socket in a temporary
#    directory (canned status and stats replies in the shapes engine/proxy.c
#    and engine/inline.c write) passes `promtool check metrics`, carries the
#    limits of -f CONFIG, and prints nothing when the daemon answers an error;
#  * the alert rules of docs/monitoring.md pass `promtool check rules` and
#    `promtool test rules` (tests/lab/monitoring.test.yml).
# The live daemon's metrics are checked in tests/lab/status.py.
# Writes build/results/cli.txt ("passed=N failed=M").  Needs no root.
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
RESULTS=${RESULTS_DIR:-$ROOT/build/results}
CLI=$ROOT/build/ftpalg
PY=/usr/bin/python3
mkdir -p "$RESULTS"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
tmp=$(mktemp -d /tmp/ftpalg-cli.XXXXXX)
fake=""
cleanup() {
	[ -n "$fake" ] && kill "$fake" 2>/dev/null && wait "$fake" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
finish() {
	echo "cli: passed=$passed failed=$failed"
	echo "passed=$passed failed=$failed" >"$RESULTS/cli.txt"
	[ "$failed" -eq 0 ]
	exit
}
[ -x "$CLI" ] || { bad "build/ftpalg missing: run make"; finish; }
ver=$(sed -n 's/^#define FTPALG_VERSION "\(.*\)"/\1/p' daemon/version.h)

# run ARGS...: sets rc, out, err
run() {
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}

# ---------------------------------------------------------------- --help, --version
cmds="status sessions pinholes relays stats metrics rules trace help version"
for c in "" $cmds; do
	for h in --help -h; do
		run "$CLI" $c $h
		if [ "$rc" -eq 0 ] && [ -z "$err" ] && echo "$out" | grep -qi '^usage:'; then
			ok "ftpalg $c $h: usage on stdout, exit 0"
		else
			bad "ftpalg $c $h: exit $rc, stdout \"${out:0:80}\", stderr \"${err:0:200}\""
		fi
	done
	run "$CLI" $c --version
	if [ "$rc" -eq 0 ] && [ -z "$err" ] && echo "$out" | grep -q "$ver"; then
		ok "ftpalg $c --version: $out"
	else
		bad "ftpalg $c --version: exit $rc, stdout \"$out\", stderr \"$err\""
	fi
done
run "$CLI" help metrics
[ "$rc" -eq 0 ] && echo "$out" | grep -q 'usage: ftpalg .*metrics' && ok "ftpalg help metrics" ||
	bad "ftpalg help metrics: $rc $out $err"

# errors: stderr, non-zero, nothing on stdout
sock=$tmp/none.sock
while IFS='|' read -r what args; do
	# shellcheck disable=SC2086
	run "$CLI" $args
	if [ "$rc" -ne 0 ] && [ -z "$out" ] && [ -n "$err" ]; then
		ok "error ($what): exit $rc, stderr: $(echo "$err" | head -n 1)"
	else
		bad "error ($what): exit $rc, stdout \"$out\", stderr \"$err\""
	fi
done <<EOF
no command|
unknown command|frobnicate
unknown option|--frobnicate status
a daemon command with an argument|-s $sock status extra
rules with a bad flavor|rules -t pf
rules -f missing|rules -f $tmp/missing.conf
metrics with an unknown argument|metrics --frobnicate
metrics -f without a file|metrics -f
help of an unknown command|help frobnicate
trace without input|trace
status without a daemon|-s $sock status
stats without a daemon|-s $sock --json stats
metrics without a daemon|-s $sock metrics
EOF

# ---------------------------------------------------------------- completion
comp=$ROOT/completion/ftpalg.bash
# complete WORDS...: the completions of the last word
complete_words() {
	bash --norc --noprofile -c '
		shopt -s extglob
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		case ${COMP_WORDS[0]} in ftpalgd) _ftpalgd ;; *) _ftpalg ;; esac
		printf "%s\n" "${COMPREPLY[@]}"' _ "$comp" "$@" 2>&1 | sort | tr '\n' ' ' | sed 's/ $//'
}
if shellcheck -s bash "$comp" >"$tmp/sc" 2>&1; then ok "shellcheck completion/ftpalg.bash"
else sed 's/^/  | /' "$tmp/sc"; bad "shellcheck completion/ftpalg.bash"; fi
listed=$("$CLI" --help | sed -n 's/^  \([a-z][a-z]*\).*/\1/p' | sort | tr '\n' ' ' | sed 's/ $//')
got=$(complete_words ftpalg "")
[ "$got" = "$listed" ] && ok "completion: the commands ftpalg --help lists: $got" ||
	bad "completion: commands \"$got\", ftpalg --help lists \"$listed\""
while IFS='|' read -r words want; do
	# shellcheck disable=SC2086
	got=$(complete_words $words "")	# an empty word being completed
	case " $got " in
	*" $want "*) ok "completion: ftpalg ${words#ftpalg} _ offers $want" ;;
	*) bad "completion: ftpalg ${words#ftpalg} _: \"$got\", want $want" ;;
	esac
done <<EOF
ftpalg rules -t|fw4
ftpalg -s /x|metrics
ftpalg help|trace
ftpalg metrics|-f
ftpalg stats|--json
ftpalg status|--help
ftpalgd|--cleanup
EOF
got=$(complete_words ftpalg trace -p 21 --h)
[ "$got" = "--help --html" ] && ok "completion: ftpalg trace -p 21 --h -> $got" ||
	bad "completion: ftpalg trace -p 21 --h -> $got"
got=$(complete_words ftpalg st)
[ "$got" = "stats status" ] && ok "completion: ftpalg st -> $got" || bad "completion: ftpalg st -> $got"
got=$(complete_words ftpalg rules -o max-s)
case "$got" in *max-sessions=*) ok "completion: rules -o max-s -> $got" ;; *) bad "completion: rules -o max-s -> $got" ;; esac

# ---------------------------------------------------------------- metrics via a fake daemon
command -v promtool >/dev/null 2>&1 || { bad "promtool missing (Debian package prometheus: scripts/install-deps.sh)"; finish; }
cat >"$tmp/fake.py" <<'EOF'
# A stand-in for ftpalgd's control socket: one canned JSON reply per request.
import json, os, socket, sys
path, replies = sys.argv[1], json.load(open(sys.argv[2]))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(8)
s.settimeout(60)
for _ in range(200):
    try:
        c, _ = s.accept()
    except socket.timeout:
        break
    req = c.recv(64).decode().strip()
    c.sendall(replies.get(req, '{"error":"unknown request"}').encode() + b"\n")
    c.close()
EOF
cat >"$tmp/replies.json" <<'EOF'
{"status": "{\"version\":\"0.1.0\",\"pid\":42,\"uptime_s\":99,\"mode\":\"redirect\",\"listen\":[\"[::]:2121\"],\"mappings\":1,\"sessions\":1,\"pinholes\":1,\"nft_table\":\"ftpalg\",\"pinhole_mark\":\"0x20000000\",\"engine\":\"inline\",\"queue\":0,\"fail_open\":true,\"inline_sessions\":0,\"inline_pinholes\":0}",
 "stats": "{\"sessions_total\":10,\"sessions_active\":1,\"sessions_refused\":0,\"rewrites\":{\"PORT\":3,\"EPRT\":1,\"LPRT\":0,\"227\":4,\"228\":0,\"229\":2,\"EPSV\":0},\"pinholes\":{\"opened\":9,\"used\":8,\"expired\":1,\"closed\":8,\"refused\":0,\"failed\":0,\"open\":1},\"relays\":{\"opened\":0,\"accepted\":0,\"foreign\":0,\"expired\":0,\"closed\":0,\"refused\":0,\"failed\":0,\"bytes_in\":0,\"bytes_out\":0,\"open\":0},\"refusals\":{\"bounce\":1,\"low-port\":0},\"errors\":0}",
 "inline": "{\"engine\":\"inline\",\"queue\":0,\"fail_open\":true,\"sessions_total\":2,\"sessions_active\":0,\"sessions_refused\":0,\"passed_through\":0,\"packets\":40,\"verdicts\":{\"unchanged\":30,\"rewritten\":10,\"dropped\":0},\"held\":0,\"released\":0,\"expired\":0,\"truncated\":0,\"retransmits\":0,\"local_answers\":0,\"ack_probes\":0,\"carried_by_ack\":0,\"busy_ns\":2000,\"ns_per_packet\":50,\"queue_overruns\":0,\"rewrites\":{\"PORT\":1},\"pinholes\":{\"opened\":1,\"used\":1,\"expired\":0,\"closed\":1,\"refused\":0,\"failed\":0,\"open\":0},\"refusals\":{\"bounce\":0},\"errors\":0}"}
EOF
printf 'listen = 2121\nmax-sessions = 77\nmax-pinholes = 500\n' >"$tmp/ftpalgd.conf"
sock=$tmp/ftpalgd.sock
"$PY" "$tmp/fake.py" "$sock" "$tmp/replies.json" &
fake=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
run "$CLI" -s "$sock" metrics -f "$tmp/ftpalgd.conf"
if [ "$rc" -eq 0 ] && [ -z "$err" ]; then ok "ftpalg metrics against the fake daemon"
else bad "ftpalg metrics: exit $rc: $err"; fi
echo "$out" >"$tmp/metrics.prom"
if promtool check metrics <"$tmp/metrics.prom" >"$tmp/lint" 2>&1; then
	ok "ftpalg metrics | promtool check metrics: clean ($(grep -c '^ftpalg_' "$tmp/metrics.prom") samples)"
else
	sed 's/^/  | /' "$tmp/lint"; bad "promtool check metrics"
fi
for l in 'ftpalg_sessions_limit 77' 'ftpalg_pinholes_limit 500' \
    'ftpalg_rewrites_total{engine="proxy",kind="PORT"} 3' \
    'ftpalg_rewrites_total{engine="inline",kind="PORT"} 1' \
    'ftpalg_inline_verdicts_total{engine="inline",verdict="rewritten"} 10' \
    'ftpalg_info{version="0.1.0",mode="redirect",nft_table="ftpalg"} 1'; do
	grep -qxF "$l" "$tmp/metrics.prom" && ok "metrics: $l" || bad "metrics: no line $l"
done
n=$(grep -c '^# TYPE ftpalg_rewrites_total ' "$tmp/metrics.prom")
[ "$n" -eq 1 ] && ok "metrics: one TYPE line for both engines' rewrites" || bad "metrics: $n TYPE lines"
# an error reply: nothing on stdout (a textfile keeps its last good state)
cat >"$tmp/replies.json" <<'EOF'
{"status": "{\"version\":\"0.1.0\",\"pid\":42}", "stats": "{\"error\":\"busy\"}"}
EOF
kill "$fake" 2>/dev/null; wait "$fake" 2>/dev/null; rm -f "$sock"
"$PY" "$tmp/fake.py" "$sock" "$tmp/replies.json" &
fake=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
run "$CLI" -s "$sock" metrics -f "$tmp/ftpalgd.conf"
[ "$rc" -ne 0 ] && [ -z "$out" ] && echo "$err" | grep -q 'ftpalgd: busy' &&
	ok "metrics: an error reply prints nothing, exit $rc: $err" ||
	bad "metrics with an error reply: exit $rc, stdout \"$out\", stderr \"$err\""

# ---------------------------------------------------------------- alert rules
awk '/^```yaml$/ { f = 1; next } /^```$/ { f = 0 } f' docs/monitoring.md >"$tmp/rules.yml"
if promtool check rules "$tmp/rules.yml" >"$tmp/r" 2>&1 && grep -q '2 rules found' "$tmp/r"; then
	ok "promtool check rules: the 2 alert rules of docs/monitoring.md"
else
	sed 's/^/  | /' "$tmp/r"; bad "promtool check rules docs/monitoring.md"
fi
cp tests/lab/monitoring.test.yml "$tmp/"
if (cd "$tmp" && promtool test rules monitoring.test.yml) >"$tmp/r" 2>&1; then
	ok "promtool test rules: the alerts fire on failing pinholes and sessions at the limit, not before"
else
	sed 's/^/  | /' "$tmp/r"; bad "promtool test rules"
fi
finish
