#!/bin/bash
# tests/lab/trace/crafted.sh - the pcap doctor on crafted captures (issue 12).
#
# tests/lab/trace/make-captures.py writes one capture per class of
# real-world capture the doctor used to get wrong (a capture filtered to
# port 21, servers refusing commands, a client without PASV, an EPRT of the
# wrong family, a 128 KiB reply line, 1000 PASVs, FTPS with CCC, RFC 2228,
# data connections without a control session, PPPoE and PPP links).  For each, `ftpalg trace
# --json` must give the finding and not the false one, and the terminal
# report must say the same as the JSON (check.py text=).  `ftpalg trace
# --help` must print its usage on stdout and exit 0.
#
# Needs no root and no network.  Writes build/results/trace-crafted.txt
# ("passed=N failed=M") and leaves the captures and reports in
# build/results/trace-crafted/.
set -u
cd "$(dirname "$0")/../../.." || exit 2
ROOT=$PWD
FTPALG=$ROOT/build/ftpalg
HERE=$ROOT/tests/lab/trace
RESULTS=${RESULTS_DIR:-$ROOT/build/results}
OUT=$RESULTS/trace-crafted
PY=/usr/bin/python3
mkdir -p "$RESULTS"
rm -rf "$OUT"
mkdir -p "$OUT"

passed=0
failed=0
report() { echo "passed=$passed failed=$failed" >"$RESULTS/trace-crafted.txt"; }
trap report EXIT
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }

if [ ! -x "$FTPALG" ]; then
	bad "build/ftpalg is not built (make)"
	exit 1
fi
if ! "$PY" "$HERE/make-captures.py" "$OUT" >"$OUT/make.log" 2>&1; then
	bad "make-captures.py failed: $(tail -c 300 "$OUT/make.log")"
	exit 1
fi

# check LABEL FILE... -- CONDITION...
check() {
	local label=$1 files=() line
	shift
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do files+=("$1"); shift; done
	shift
	if ! "$FTPALG" trace --json "${files[@]}" >"$OUT/$label.json" 2>"$OUT/$label.err"; then
		bad "$label: ftpalg trace failed: $(head -c 300 "$OUT/$label.err")"
		return
	fi
	"$FTPALG" trace "${files[@]}" >"$OUT/$label.txt" 2>&1
	while IFS= read -r line; do
		case $line in
		ok*) passed=$((passed + 1)); echo "$line" ;;
		FAIL*) failed=$((failed + 1)); echo "$line" ;;
		*) echo "$line" ;;
		esac
	done < <("$PY" "$HERE/check.py" "$label" "$OUT/$label.json" "$@" "text=$OUT/$label.txt")
}

C=$OUT
check control-only "$C/control-only.pcap" -- sessions=1 code=data-not-in-capture \
    allworst=data-not-in-capture nocode=data-not-attempted nocode=reply-425 ann=3
if [ "$(grep -c 'not in this capture' "$OUT/control-only.txt")" = 1 ]; then
	ok "control-only: said once per session, not once per announcement"
else
	bad "control-only: the not-in-capture finding is not there exactly once"
fi
check refused "$C/refused.pcap" -- sessions=2 code=server-refused allworst=server-refused \
    nocode=data-not-attempted nocode=data-unanswered nocode=reply-425 noword=firewall
check no-port "$C/no-port.pcap" -- sessions=1 code=no-port-or-pasv nocode=reply-425 \
    nocode=data-not-attempted noword=firewall
check eprt-family "$C/eprt-family.pcap" -- sessions=1 code=address-family-mismatch \
    nocode=port-other-address nocode=port-private-address nocode=port-refused \
    nocode=epsv-refused noword=bounce
check long-line "$C/long-line.pcap" -- sessions=1 code=line-too-long pair=PASV:227 \
    pair=LIST:226 pair=QUIT:221 outcome=answered
check many-pasv "$C/many-pasv.pcap" -- sessions=1 partial code=partial ann=1000 \
    pair=PASV:227 pair=RETR:226 nocode=data-not-attempted
check ccc "$C/ccc.pcap" -- sessions=1 code=ccc nocode=tls ann=1 outcome=answered pair=RETR:226
check gssapi "$C/gssapi.pcap" -- sessions=1 code=rfc2228-protected nocode=ok
check orphan "$C/orphan.pcap" -- sessions=0 orphans=2 ccode=orphan-data-connection
# DSL links: PPPoE in a VLAN on the Ethernet below, and ppp0 itself (DLT_PPP)
for link in pppoe ppp; do
	check "$link" "$C/$link.pcap" -- sessions=1 ann=2 outcome=answered pair=RETR:226 \
	    nocode=data-not-attempted nocode=data-not-in-capture
done
if grep -q 'reset by 192.168.1.2' "$OUT/orphan.txt" && grep -q '4000 bytes from the server' \
    "$OUT/orphan.txt"; then
	ok "orphan: who reset it and the bytes each way are reported"
else
	bad "orphan: reset side or byte counts missing from the report"
fi

# trace --help: usage on stdout, exit 0, nothing on stderr
if "$FTPALG" trace --help >"$OUT/help.out" 2>"$OUT/help.err" && grep -q '^usage: ftpalg trace' \
    "$OUT/help.out" && [ ! -s "$OUT/help.err" ]; then
	ok "ftpalg trace --help: usage on stdout, exit 0"
else
	bad "ftpalg trace --help: no usage on stdout or a non-zero exit"
fi

echo "trace crafted: passed=$passed failed=$failed"
[ "$failed" -eq 0 ]
