#!/bin/bash
# tests/lab/trace/run.sh - the pcap doctor against real captures.
#
# Builds its own three network namespaces,
#
#   client 192.168.1.2 --- router (NAT, forward policy drop) --- server 203.0.113.2
#                          192.168.1.1 | 203.0.113.1
#
# runs real FTP sessions (pyftpdlib server, Python ftplib and curl clients,
# short timeouts) while tcpdump records on both sides of the router, and
# makes each failure on purpose: working passive and active sessions, a data
# SYN dropped, a data SYN rejected with a reset, active mode through a NAT
# without FTP gateway, a server behind a port forward announcing its private
# address (on port 2121), AUTH TLS, and a capture that saw only one side.
# For each capture, `build/ftpalg trace --json` must give the expected
# finding; the HTML report is rendered in headless Chromium and the
# screenshot must not be blank.
#
# The NAT seen from both sides (issue 12): the router also captures on both
# of its interfaces (and with -i any); given together, `ftpalg trace
# lan.pcap wan.pcap` must pair the two views of each control connection
# (client 192.168.1.2:P seen by the server as 203.0.113.1:Q, with
# masquerade's random source ports in the active-mode case) and diagnose
# across them: the PORT still naming the inside address, the data SYN seen
# on one side only, or crossing the router and dropped beyond it (by the
# server's own firewall).  The terminal report must say the same as the JSON, and
# the HTML report must show the two views side by side.
#
# Traffic stays inside the namespaces.  Everything is torn down on exit, also
# on failure or Ctrl-C.  Writes build/results/trace.txt ("passed=N failed=M")
# and leaves the captures, the HTML report and its screenshot in
# build/results/trace/.  Needs root; build/ftpalg must be built.
set -u
cd "$(dirname "$0")/../../.." || exit 2
ROOT=$PWD
FTPALG=$ROOT/build/ftpalg
HERE=$ROOT/tests/lab/trace
RESULTS=${RESULTS_DIR:-$ROOT/build/results}
PY=/usr/bin/python3
mkdir -p "$RESULTS"
rm -rf "$RESULTS/trace"
mkdir -p "$RESULTS/trace"

passed=0
failed=0
report() {
	echo "passed=$passed failed=$failed" >"$RESULTS/trace.txt"
}
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }

if [ "$(id -u)" != 0 ]; then
	echo "trace lab: needs root (network namespaces)" >&2
	bad "run as root"
	report
	exit 1
fi
for c in ip nft tcpdump curl openssl "$PY"; do
	command -v "$c" >/dev/null 2>&1 || { bad "missing tool: $c"; report; exit 1; }
done
if [ ! -x "$FTPALG" ]; then
	bad "build/ftpalg is not built (make)"
	report
	exit 1
fi
"$PY" -c 'import pyftpdlib' 2>/dev/null || { bad "python3-pyftpdlib missing"; report; exit 1; }

P=$$
NS_C=ftc$P
NS_R=ftr$P
NS_S=fts$P
IF_C=tc$P	# client's side      (interface names stay <= 15 characters)
IF_L=tl$P	# router, LAN side
IF_W=tw$P	# router, WAN side
IF_S=ts$P	# server's side
TMP=$(mktemp -d /tmp/ftpalg-trace.XXXXXX)
PIDS=""

cleanup() {
	for p in $PIDS; do
		kill "$p" 2>/dev/null
	done
	for _ in $(seq 20); do	# up to 2 s for them to end by themselves
		alive=""
		for p in $PIDS; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ -z "$alive" ] && break
		sleep 0.1
	done
	for ns in "$NS_C" "$NS_R" "$NS_S"; do
		if ip netns list | grep -qw "$ns"; then
			# Only what runs inside our own namespaces: what this script started.
			for p in $(ip netns pids "$ns" 2>/dev/null); do
				kill -9 "$p" 2>/dev/null
			done
			ip netns del "$ns" 2>/dev/null
		fi
	done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
	report
}
trap cleanup EXIT
trap 'exit 1' INT TERM

inc() { ip netns exec "$NS_C" "$@"; }
inr() { ip netns exec "$NS_R" "$@"; }
ins() { ip netns exec "$NS_S" "$@"; }

# ---------------------------------------------------------------- topology

setup() {
	ip netns add "$NS_C" && ip netns add "$NS_R" && ip netns add "$NS_S" || return 1
	ip link add "$IF_C" netns "$NS_C" type veth peer name "$IF_L" netns "$NS_R" || return 1
	ip link add "$IF_W" netns "$NS_R" type veth peer name "$IF_S" netns "$NS_S" || return 1
	for ns in "$NS_C" "$NS_R" "$NS_S"; do ip -n "$ns" link set lo up; done
	ip -n "$NS_C" addr add 192.168.1.2/24 dev "$IF_C"
	ip -n "$NS_C" link set "$IF_C" up
	ip -n "$NS_C" route add default via 192.168.1.1
	ip -n "$NS_R" addr add 192.168.1.1/24 dev "$IF_L"
	ip -n "$NS_R" addr add 203.0.113.1/24 dev "$IF_W"
	ip -n "$NS_R" link set "$IF_L" up
	ip -n "$NS_R" link set "$IF_W" up
	ip -n "$NS_S" addr add 203.0.113.2/24 dev "$IF_S"
	ip -n "$NS_S" link set "$IF_S" up
	ip -n "$NS_S" route add default via 203.0.113.1
	inr sysctl -qw net.ipv4.ip_forward=1
	# no segmentation offload: the captures show the segments as sent
	for x in "$NS_C:$IF_C" "$NS_R:$IF_L" "$NS_R:$IF_W" "$NS_S:$IF_S"; do
		ip netns exec "${x%%:*}" ethtool -K "${x#*:}" tso off gso off gro off \
		    >/dev/null 2>&1 || true
	done
}

# rules LAN_RULES [HELPER] [DNAT_RULES]: the router's whole ruleset.
rules() {
	local lan=$1 helper=${2:-} dnat=${3:-}
	{
		echo "flush ruleset"
		echo "table inet lab {"
		if [ -n "$helper" ]; then
			echo '  ct helper ftp-std { type "ftp" protocol tcp; }'
			echo '  chain lab_pre { type filter hook prerouting priority filter; policy accept;'
			echo '    tcp dport 21 ct helper set "ftp-std"; }'
		fi
		echo "  chain lab_fwd { type filter hook forward priority filter; policy drop;"
		echo "    ct state established,related accept"
		echo "    $lan"
		echo "  }"
		echo "  chain lab_dnat { type nat hook prerouting priority dstnat; policy accept;"
		echo "    $dnat"
		echo "  }"
		echo "  chain lab_post { type nat hook postrouting priority srcnat; policy accept;"
		echo "    oifname \"$IF_W\" masquerade${MASQ_OPTS:-}"
		echo "  }"
		echo "}"
	} | inr nft -f -
}

wait_port() {	# NS ADDR PORT
	for _ in $(seq 50); do
		ip netns exec "$1" ss -Hltn "src $2" 2>/dev/null | grep -q ":$3\b" && return 0
		sleep 0.1
	done
	return 1
}

# server NS ADDR [--tls CERT]: (re)starts the lab FTP server there.
SRV_PID=""
server() {
	local ns=$1 addr=$2
	shift 2
	ip netns exec "$ns" "$PY" "$HERE/labftpd.py" --addr "$addr" --port 21 \
	    --root "$TMP/root" "$@" >"$TMP/server-$addr.log" 2>&1 &
	SRV_PID=$!
	PIDS="$PIDS $SRV_PID"
	wait_port "$ns" "$addr" 21
}

stop_pid() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# capture NAME NS IFACE: tcpdump in the background until stop_captures.
CAP_PIDS=""
capture() {
	local name=$1 ns=$2 ifc=$3
	ip netns exec "$ns" tcpdump -i "$ifc" -s 2048 -B 16384 -U --immediate-mode -Z root -w "$TMP/$name.pcap" \
	    'tcp or icmp' >"$TMP/$name.tcpdump" 2>&1 &
	CAP_PIDS="$CAP_PIDS $!"
	PIDS="$PIDS $!"
	for _ in $(seq 50); do
		grep -q "listening on" "$TMP/$name.tcpdump" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

stop_captures() {
	sleep 0.5	# the last FINs and resets
	for p in $CAP_PIDS; do kill -INT "$p" 2>/dev/null; done
	for p in $CAP_PIDS; do wait "$p" 2>/dev/null; done
	CAP_PIDS=""
	cp "$TMP"/*.tcpdump "$RESULTS/trace/" 2>/dev/null
}

# check NAME CONDITION...: trace NAME.pcap, assert on the JSON report.
check() {
	local name=$1 line
	shift
	cp "$TMP/$name.pcap" "$RESULTS/trace/" 2>/dev/null
	if ! "$FTPALG" trace --json "$TMP/$name.pcap" >"$TMP/$name.json" 2>"$TMP/$name.err"; then
		bad "$name: ftpalg trace failed: $(head -c 300 "$TMP/$name.err")"
		return
	fi
	"$FTPALG" trace -v "$TMP/$name.pcap" >"$RESULTS/trace/$name.txt" 2>&1
	while IFS= read -r line; do
		case $line in
		ok*) passed=$((passed + 1)); echo "$line" ;;
		FAIL*) failed=$((failed + 1)); echo "$line" ;;
		*) echo "$line" ;;
		esac
	done < <("$PY" "$HERE/check.py" "$name" "$TMP/$name.json" "$@" \
	    "text=$RESULTS/trace/$name.txt")
}

# checkn LABEL "NAME..." CONDITION...: trace several captures together (the two
# sides of the NAT), assert on the JSON, and that the text says the same.
checkn() {
	local name=$1 files=() n line
	shift
	for n in $1; do files+=("$TMP/$n.pcap"); cp "$TMP/$n.pcap" "$RESULTS/trace/" 2>/dev/null; done
	shift
	if ! "$FTPALG" trace --json "${files[@]}" >"$TMP/$name.json" 2>"$TMP/$name.err"; then
		bad "$name: ftpalg trace failed: $(head -c 300 "$TMP/$name.err")"
		return
	fi
	"$FTPALG" trace "${files[@]}" >"$RESULTS/trace/$name.txt" 2>&1
	while IFS= read -r line; do
		case $line in
		ok*) passed=$((passed + 1)); echo "$line" ;;
		FAIL*) failed=$((failed + 1)); echo "$line" ;;
		*) echo "$line" ;;
		esac
	done < <("$PY" "$HERE/check.py" "$name" "$TMP/$name.json" "$@" \
	    "text=$RESULTS/trace/$name.txt")
}

ftpcli() {	# MODE OP...: Python ftplib client in the client namespace
	local mode=$1
	shift
	inc timeout 20 "$PY" "$ROOT/tests/lab/ftpcli.py" --host 203.0.113.2 --user lab \
	    --password lab --dmode "$mode" --timeout 4 "$@" >>"$TMP/client.log" 2>&1
}

# ---------------------------------------------------------------- scenarios

setup || { bad "namespace setup failed"; exit 1; }
mkdir -p "$TMP/root" "$TMP/dl"
head -c 20000 /dev/urandom >"$TMP/root/f.bin"
server "$NS_S" 203.0.113.2 || { bad "server did not start: $(cat "$TMP"/server-*.log)"; exit 1; }
MAIN_SRV=$SRV_PID

echo "== passive and extended passive, LAN clients allowed out"
rules "iifname \"$IF_L\" accept"
capture pasv-lan "$NS_C" "$IF_C" && capture pasv-wan "$NS_S" "$IF_S" &&
    capture pasv-any "$NS_R" any || bad "tcpdump did not start"
ftpcli PASV get:f.bin:"$TMP/dl/a" list && ok "passive session transferred" ||
    bad "passive session failed"
ftpcli EPSV get:f.bin:"$TMP/dl/b" && ok "extended passive session transferred" ||
    bad "extended passive session failed"
stop_captures
check pasv-lan sessions=2 allworst=ok outcome=answered nocode=data-unanswered
check pasv-wan sessions=2 allworst=ok outcome=answered
# the router's "-i any" view: each session twice (before and after the NAT), paired
checkn pasv-any pasv-any paired=2 nat=192.168.1.2/203.0.113.1 outcome=answered \
    nocode=nat-data-dropped nocode=data-unanswered nocode=data-not-attempted
checkn pasv-pair "pasv-lan pasv-wan" paired=2 nocode=nat-data-dropped nocode=data-unanswered

echo "== active through the NAT, kernel FTP helper attached"
rules "iifname \"$IF_L\" tcp dport 21 accept" helper
capture port-lan "$NS_C" "$IF_C" && capture port-wan "$NS_S" "$IF_S" || bad "tcpdump did not start"
ftpcli PORT get:f.bin:"$TMP/dl/c" && ok "active session transferred (helper)" ||
    bad "active session failed with the helper"
stop_captures
check port-lan sessions=1 allworst=ok outcome=answered
check port-wan sessions=1 allworst=ok outcome=answered nocode=port-private-address

echo "== passive data SYN dropped by the router"
rules "iifname \"$IF_L\" tcp dport 21 accept"
capture drop-lan "$NS_C" "$IF_C" && capture drop-any "$NS_R" any &&
    capture drop-rl "$NS_R" "$IF_L" && capture drop-rw "$NS_R" "$IF_W" || bad "tcpdump did not start"
ftpcli PASV list && bad "passive session worked through a drop" ||
    ok "passive session failed as it should (SYN dropped)"
stop_captures
check drop-lan sessions=1 code=data-unanswered outcome=unanswered
check drop-any sessions=2 code=data-unanswered
checkn drop-any-pair drop-any paired=1 nat=192.168.1.2/203.0.113.1 code=nat-data-dropped
checkn drop-pair "drop-rl drop-rw" paired=1 code=nat-data-dropped code=data-unanswered \
    nocode=nat-port-inside-address

echo "== passive data SYN dropped beyond the router (the server's own firewall)"
rules "iifname \"$IF_L\" accept"
ins nft -f - <<NFT || bad "server firewall not set"
table inet srvfw {
  chain input { type filter hook input priority filter; policy accept;
    tcp dport 50100-50199 drop; }
}
NFT
capture beyond-rl "$NS_R" "$IF_L" && capture beyond-rw "$NS_R" "$IF_W" ||
    bad "tcpdump did not start"
ftpcli PASV list && bad "passive session worked through the server's drop" ||
    ok "passive session failed as it should (server drops the data SYN)"
stop_captures
ins nft delete table inet srvfw
# the SYN crossed the router: not the router's fault, say so
checkn beyond-pair "beyond-rl beyond-rw" paired=1 code=nat-data-unanswered-beyond \
    nocode=nat-data-dropped

echo "== passive data SYN rejected with a TCP reset"
rules "iifname \"$IF_L\" tcp dport 21 accept
    tcp dport 50100-50199 reject with tcp reset"
capture reject-lan "$NS_C" "$IF_C" || bad "tcpdump did not start"
ftpcli PASV list && bad "passive session worked through a reject" ||
    ok "passive session failed as it should (reset)"
stop_captures
check reject-lan sessions=1 code=data-refused outcome=refused

echo "== active mode through a NAT without FTP gateway (source ports randomised)"
MASQ_OPTS=" random" rules "iifname \"$IF_L\" tcp dport 21 accept"
capture natport-lan "$NS_C" "$IF_C" && capture natport-wan "$NS_S" "$IF_S" &&
    capture natport-rl "$NS_R" "$IF_L" && capture natport-rw "$NS_R" "$IF_W" ||
    bad "tcpdump did not start"
ftpcli PORT get:f.bin:"$TMP/dl/d" && bad "active session worked through NAT without helper" ||
    ok "active session failed as it should (no gateway)"
stop_captures
check natport-wan sessions=1 code=port-private-address code=data-unanswered \
    nocode=port-refused
check natport-lan sessions=1 code=data-not-attempted nocode=port-refused
# both router interfaces together: one session, both tuples, diagnosed across
checkn natport-pair "natport-rl natport-rw" paired=1 nat=192.168.1.2/203.0.113.1 \
    code=nat-port-inside-address code=nat-data-dropped nocode=data-not-attempted
checkn natport-pair-rev "natport-rw natport-rl" paired=1 nat=192.168.1.2/203.0.113.1 \
    code=nat-port-inside-address code=nat-data-dropped

echo "== server behind a port forward (2121) announcing its private address"
server "$NS_C" 192.168.1.2 || bad "LAN server did not start"
NAT_SRV=$SRV_PID
rules "ct status dnat accept" "" "iifname \"$IF_W\" tcp dport 2121 dnat ip to 192.168.1.2:21"
capture natsrv-wan "$NS_S" "$IF_S" && capture natsrv-rl "$NS_R" "$IF_L" &&
    capture natsrv-rw "$NS_R" "$IF_W" || bad "tcpdump did not start"
ins timeout 15 curl -s --max-time 8 --connect-timeout 3 -o /dev/null \
    "ftp://lab:lab@203.0.113.1:2121/f.bin" && bad "curl worked through an unforwarded passive range" ||
    ok "curl failed as it should (passive ports not forwarded)"
stop_captures
stop_pid "$NAT_SRV"
check natsrv-wan sessions=1 code=pasv-private-address found_by=content
# the port forward seen from both sides: 21 inside, 2121 outside, one session
checkn natsrv-pair "natsrv-rl natsrv-rw" paired=1 code=nat-pasv-private-address \
    nocode=nat-port-inside-address

echo "== explicit FTPS (AUTH TLS)"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=lab -keyout "$TMP/cert.pem" \
    -out "$TMP/cert.pem" >/dev/null 2>&1 || bad "openssl could not make a certificate"
stop_pid "$MAIN_SRV"
server "$NS_S" 203.0.113.2 --tls "$TMP/cert.pem" || bad "FTPS server did not start"
rules "iifname \"$IF_L\" accept"
capture tls-lan "$NS_C" "$IF_C" || bad "tcpdump did not start"
# Python's FTP_TLS: curl 7.88 and pyftpdlib's TLS data channels do not get
# along (the data handshake is reset and curl loses track of the replies).
inc timeout 15 "$PY" -c '
import ftplib, ssl, sys
f = ftplib.FTP_TLS(context=ssl._create_unverified_context(), timeout=5)
f.connect("203.0.113.2", 21)
f.login("lab", "lab")
f.prot_p()
with open(sys.argv[1], "wb") as out:
    f.retrbinary("RETR f.bin", out.write)
f.quit()' "$TMP/dl/e" 2>"$TMP/tls-client.log" && ok "FTPS transfer (AUTH TLS, PROT P)" ||
    bad "FTPS transfer failed: $(tail -c 300 "$TMP/tls-client.log")"
stop_captures
check tls-lan sessions=1 code=tls tls

echo "== a capture that saw only one direction"
if tcpdump -r "$TMP/pasv-lan.pcap" -w "$TMP/oneway.pcap" 'src host 192.168.1.2' \
    >/dev/null 2>&1; then
	check oneway sessions=2 code=one-sided-capture
else
	bad "tcpdump -r could not filter pasv-lan.pcap"
fi

echo "== HTML report in headless Chromium"
HTML=$RESULTS/trace/report.html
PNG=$RESULTS/trace/report.png
if "$FTPALG" trace --html "$HTML" "$TMP/drop-lan.pcap" "$TMP/natport-rl.pcap" \
    "$TMP/natport-rw.pcap" >/dev/null 2>&1 && grep -q '<svg class="ladder"' "$HTML"; then
	ok "HTML report has the ladder SVG"
else
	bad "HTML report missing or without <svg class=\"ladder\">"
fi
# the paired NAT views side by side: one pair block holding two ladders
if [ "$(grep -c '<div class="pair">' "$HTML" 2>/dev/null)" = 1 ] &&
    [ "$(sed -n '/<div class="pair">/,/<\/section>/p' "$HTML" | grep -c '<svg class="ladder"')" = 2 ]; then
	ok "HTML report shows the two NAT views side by side"
else
	bad "HTML report has no side-by-side pair of ladders"
fi
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ]; then
	bad "chromium is not installed (scripts/install-deps.sh)"
else
	PROFILE=$(mktemp -d "$TMP/chrome.XXXXXX")
	timeout 90 "$CHROME" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	    --disable-background-networking --disable-component-update --disable-sync \
	    --user-data-dir="$PROFILE" --screenshot="$PNG" --window-size=1200,900 \
	    "file://$HTML" >"$TMP/chrome.log" 2>&1
	if [ -s "$PNG" ]; then
		while IFS= read -r line; do
			case $line in
			ok*) passed=$((passed + 1)); echo "$line" ;;
			*) failed=$((failed + 1)); echo "$line" ;;
			esac
		done < <("$PY" "$HERE/check.py" html --png "$PNG")
	else
		bad "no screenshot from chromium: $(tail -n 3 "$TMP/chrome.log")"
	fi
fi

echo "trace lab: passed=$passed failed=$failed"
[ "$failed" -eq 0 ]
