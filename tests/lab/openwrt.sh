#!/bin/sh
# tests/lab/openwrt.sh - the OpenWrt package (openwrt/) as far as it runs here.
#
# What runs: OpenWrt's real uci (sources in ../shared/openwrt, built once into
# build/uci-root by its build-uci.sh) reads sample /etc/config/ftpalgd files,
# good and bad; the init script's ftpalgd_uci_translate turns them into
# ftpalgd.conf under OpenWrt's functions.sh code (config_load, config_get,
# config_list_foreach: the snapshot's sh/uci.sh, with uci_load as OpenWrt's
# on the real uci binary, tests/openwrt/functions.sh), run by busybox sh
# (OpenWrt's shell: functions.sh needs `export -n`, which dash lacks); each
# output must pass `build/ftpalgd -n -f`, each bad file must be refused with
# the UCI option named.  The uci-defaults script adds the fw4 include once, on
# the real uci.  The init and uci-defaults scripts pass `sh -n` under dash and
# busybox sh, and shellcheck.  The package Makefile's fields are checked, and
# the Makefile is run on a stand-in for OpenWrt's SDK (tests/openwrt/sdk:
# host compiler and libraries, OpenWrt's variable names): it builds with
# gc-sections and installs both packages; the daemon and the small CLI do not
# link libpcap.
#
# What cannot run here: OpenWrt itself, procd (respawn, triggers, signals),
# netifd (the WAN device lookup), fw4 (the include at work), the package
# build in a real OpenWrt SDK (cross compiler, musl, ipk).
#
# As root, the command start_service hands procd runs a real ftpalgd in a
# network namespace of the test's own, and reload_service makes it re-read
# its file (SIGHUP) without a restart.
# Writes build/results/openwrt.txt ("passed=N failed=M").  Root only for that
# last part.
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
RESULTS=${RESULTS_DIR:-$ROOT/build/results}
SHARED=${OPENWRT_SHARED:-$ROOT/../shared/openwrt}
# a git worktree elsewhere: ../shared beside the main checkout
if [ ! -d "$SHARED" ] && common=$(git rev-parse --git-common-dir 2>/dev/null); then
	[ -d "$common/../../shared/openwrt" ] && SHARED=$(cd "$common/../../shared/openwrt" && pwd)
fi
UCI_ROOT=$ROOT/build/uci-root
INIT=$ROOT/openwrt/files/ftpalgd.init
DEFAULTS=$ROOT/openwrt/files/ftpalgd.uci-defaults
mkdir -p "$RESULTS"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
tmp=$(mktemp -d /tmp/ftpalg-owrt.XXXXXX)
dpid="" ns=""
cleanup() {
	# the real daemon and its namespace (below), also when the test fails
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null && sleep 0.5
	[ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
finish() {
	echo "openwrt: passed=$passed failed=$failed"
	echo "passed=$passed failed=$failed" >"$RESULTS/openwrt.txt"
	[ "$failed" -eq 0 ]
	exit
}

# ---------------------------------------------------------------- static
for f in "$INIT" "$DEFAULTS"; do
	n=$(basename "$f")
	if dash -n "$f" 2>"$tmp/e"; then ok "dash -n $n"; else bad "dash -n $n: $(cat "$tmp/e")"; fi
	if command -v busybox >/dev/null 2>&1; then
		if busybox sh -n "$f" 2>"$tmp/e"; then ok "busybox sh -n $n"
		else bad "busybox sh -n $n: $(cat "$tmp/e")"; fi
	else
		bad "busybox missing (scripts/install-deps.sh installs it): no busybox sh -n $n"
	fi
	if shellcheck -s dash "$f" >"$tmp/e" 2>&1; then ok "shellcheck $n"
	else sed 's/^/  | /' "$tmp/e" | head -n 20; bad "shellcheck $n"; fi
done
if shellcheck "$ROOT/tests/openwrt/functions.sh" >"$tmp/e" 2>&1; then ok "shellcheck tests/openwrt/functions.sh"
else sed 's/^/  | /' "$tmp/e" | head -n 20; bad "shellcheck tests/openwrt/functions.sh"; fi

mk=$ROOT/openwrt/Makefile
ver=$(sed -n 's/^#define FTPALG_VERSION "\(.*\)"/\1/p' daemon/version.h)
for want in "PKG_NAME:=ftpalg" "PKG_VERSION:=$ver" "PKG_RELEASE:=" "PKG_LICENSE:=" \
    "procd" ; do
	case $want in
	procd) grep -q 'USE_PROCD=1' "$INIT" && ok "the init script uses procd" ||
		bad "the init script does not use procd" ;;
	*) grep -q "^$want" "$mk" && ok "Makefile: $want" || bad "Makefile: no $want" ;;
	esac
done
d=$(sed -n '/^define Package\/ftpalgd$/,/^endef/s/^ *DEPENDS:=//p' "$mk")
case " $d " in
*libpcap*) bad "ftpalgd DEPENDS on libpcap: $d" ;;
*+libmnl*+libnftnl*+libnetfilter-queue*) ok "ftpalgd DEPENDS: $d" ;;
*) bad "ftpalgd DEPENDS: $d" ;;
esac
d=$(sed -n '/^define Package\/ftpalg-trace$/,/^endef/s/^ *DEPENDS:=//p' "$mk")
case " $d " in *+libpcap*) ok "ftpalg-trace DEPENDS: $d" ;; *) bad "ftpalg-trace DEPENDS: $d" ;; esac
for f in $(sed -n 's|.*\./files/\([^ ]*\).*|\1|p' "$mk"); do
	[ -f "$ROOT/openwrt/files/$f" ] && ok "Makefile installs files/$f, which exists" ||
		bad "Makefile installs files/$f, which is missing"
done
for f in $(sed -n 's|.*$(PKG_BUILD_DIR)/\([^ ]*\) .*|\1|p' "$mk" | grep -v '^build/'); do
	[ -f "$ROOT/$f" ] && ok "Makefile installs $f, which exists" || bad "Makefile installs $f, missing"
done
for t in procd_add_reload_trigger procd_add_interface_trigger 'respawn' reload_service \
    config_load config_get config_list_foreach; do
	grep -q "$t" "$INIT" && ok "init: $t" || bad "init: no $t"
done
# the init's option table covers every key the daemon has (ftpalgd -n -v lists them)
printf 'listen = 2121\n' >"$tmp/min.conf"
# (an empty list is printed as "# mapping: none")
keys=$(build/ftpalgd -n -v -f "$tmp/min.conf" 2>/dev/null |
	sed -n 's/^\([a-z0-9-]*\) =.*/\1/p; s/^# \([a-z0-9-]*\): none$/\1/p' | tr - _ | sort -u)
table=$(sed -n '/^FTPALGD_OPTS=/,/^FTPALGD_OWN=/p' "$INIT" | grep -v '^FTPALGD_OWN' |
	grep -v '^#' | sed 's/^FTPALGD_[A-Z]*="//; s/"$//' | tr ' \t' '\n\n' | grep . | sort -u)
missing=$(echo "$keys" | grep -vxF "$table" | tr '\n' ' ')
extra=$(echo "$table" | grep -vxF "$keys" | tr '\n' ' ')
if [ -n "$keys" ] && [ -z "$missing" ] && [ -z "$extra" ]; then
	ok "init: its UCI options are the daemon's $(echo "$keys" | wc -l) keys"
else
	bad "init: options missing: ${missing:-none}; unknown to the daemon: ${extra:-none}"
fi
# the daemon and the CLI of the ftpalgd package never load libpcap
make -s build/ftpalgd build/ftpalg-notrace >"$tmp/e" 2>&1 || { cat "$tmp/e"; bad "make build/ftpalgd build/ftpalg-notrace"; }
for b in ftpalgd ftpalg-notrace; do
	n=$(readelf -d "build/$b" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
	case "$n" in
	*libpcap*|"") bad "build/$b NEEDED: ${n:-nothing read}" ;;
	*) ok "build/$b NEEDED: $n(no libpcap)" ;;
	esac
done
out=$(build/ftpalg-notrace trace x.pcap 2>&1); rc=$?
case "$rc:$out" in
1:*ftpalg-trace*) ok "the small CLI's trace names the ftpalg-trace package" ;;
*) bad "the small CLI's trace: exit $rc: $out" ;;
esac

# ---------------------------------------------------------------- package build, stand-in SDK
# openwrt/Makefile run by GNU make with tests/openwrt/sdk standing in for
# OpenWrt's rules.mk and package.mk (host compiler and libraries): its
# Build/Prepare, Build/Compile (gc-sections) and Package/*/install recipes.
sdk=$tmp/sdk
mkdir -p "$sdk/staging/usr/lib" "$sdk/staging-host/bin"
ln -s "/usr/lib/$(cc -dumpmachine)/pkgconfig" "$sdk/staging/usr/lib/pkgconfig"
ln -s "$(command -v pkg-config)" "$sdk/staging-host/bin/pkg-config"
if make -C openwrt TOPDIR="$ROOT/tests/openwrt/sdk" TMP_DIR="$sdk" OUT="$sdk/out" \
    CONFIG_PACKAGE_ftpalg-trace=y install-ftpalgd install-ftpalg-trace >"$sdk/log" 2>&1; then
	ok "openwrt/Makefile builds and installs ftpalgd and ftpalg-trace (stand-in SDK)"
else
	tail -n 20 "$sdk/log" | sed 's/^/  | /'
	bad "openwrt/Makefile on the stand-in SDK"
fi
grep -q -- '-Os .*-ffunction-sections -fdata-sections' "$sdk/log" && grep -q -- '-Wl,--gc-sections' "$sdk/log" &&
	ok "the package compiles with -Os and gc-sections (PKG_BUILD_FLAGS)" || bad "no -Os/gc-sections in the build"
p=$sdk/out/ftpalgd
for f in usr/sbin/ftpalgd usr/sbin/ftpalg etc/init.d/ftpalgd etc/uci-defaults/90-ftpalgd \
    etc/ftpalg/ftpalgd-forward.nft usr/share/bash-completion/completions/ftpalg; do
	[ -x "$p/$f" ] || [ -f "$p/$f" ] && ok "ftpalgd package: /$f" || bad "ftpalgd package: no /$f"
done
[ -x "$p/etc/init.d/ftpalgd" ] && [ -x "$p/etc/uci-defaults/90-ftpalgd" ] &&
	ok "init and uci-defaults are executable" || bad "init or uci-defaults not executable"
cmp -s "$p/etc/config/ftpalgd" openwrt/files/ftpalgd.config &&
	ok "ftpalgd package: /etc/config/ftpalgd" || bad "ftpalgd package: /etc/config/ftpalgd differs or is missing"
for c in /etc/config/ftpalgd /etc/ftpalg/ftpalgd-forward.nft; do
	grep -qx "$c" "$sdk/out/ftpalgd.conffiles" && [ -f "$p$c" ] && ok "conffile $c, installed" ||
		bad "conffile $c: $(cat "$sdk/out/ftpalgd.conffiles" 2>/dev/null)"
done
for b in "$p/usr/sbin/ftpalgd" "$p/usr/sbin/ftpalg" "$sdk/out/ftpalg-trace/usr/sbin/ftpalg-trace"; do
	n=$(readelf -d "$b" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
	case "$b:$n" in
	*ftpalg-trace:*libpcap*) ok "ftpalg-trace package: $(basename "$b") NEEDED $n" ;;
	*ftpalg-trace:*) bad "ftpalg-trace: NEEDED $n" ;;
	*:*libpcap*|*:) bad "ftpalgd package: $(basename "$b") NEEDED ${n:-?}" ;;
	*) ok "ftpalgd package: $(basename "$b") NEEDED $n(no libpcap)" ;;
	esac
done
grep -q /usr/sbin/ftpalg-trace "$p/usr/sbin/ftpalg" && ok "the small ftpalg runs /usr/sbin/ftpalg-trace for trace" ||
	bad "the small ftpalg does not name /usr/sbin/ftpalg-trace"

# ---------------------------------------------------------------- real uci
if [ ! -x "$SHARED/build-uci.sh" ]; then
	echo "openwrt: SKIPPED the UCI translation tests: $SHARED (OpenWrt's uci sources) is absent"
	finish
fi
for t in cmake pkg-config; do
	command -v "$t" >/dev/null 2>&1 || { bad "$t missing: run scripts/install-deps.sh"; finish; }
done
if ! sh "$SHARED/build-uci.sh" "$UCI_ROOT" >"$tmp/uci-build" 2>&1; then
	sed 's/^/  | /' "$tmp/uci-build" | tail -n 20
	bad "build-uci.sh (cmake, libjson-c-dev, liblua5.1-0-dev: scripts/install-deps.sh)"
	finish
fi
ok "OpenWrt's uci built in build/uci-root"
command -v busybox >/dev/null 2>&1 || { bad "busybox missing: the translation runs under busybox sh"; finish; }
export UCI_ROOT LD_LIBRARY_PATH="$UCI_ROOT/lib"
CONF=$tmp/etc-config
mkdir -p "$CONF"

# translate NAME [WAN_DEVICE]: $CONF/ftpalgd -> $tmp/NAME.conf; sets rc, err, vars
translate() {
	cat >"$tmp/run.sh" <<-EOF
	. "$ROOT/tests/openwrt/functions.sh"
	. "$INIT"
	FTPALGD_WAN_DEVICE="${2:-}"
	ftpalgd_uci_translate "$tmp/$1.conf"
	rc=\$?
	echo "enabled=\$ftpalgd_enabled conf=\$ftpalgd_conf wan=\$ftpalgd_wan" >"$tmp/vars"
	exit \$rc
	EOF
	UCI_CONFIG_DIR=$CONF busybox sh "$tmp/run.sh" 2>"$tmp/err"
	rc=$?
	err=$(cat "$tmp/err")
	vars=$(cat "$tmp/vars" 2>/dev/null)
}

# good NAME WANT_LINES...: translates, -n passes, the lines are in the output
good() {
	name=$1; shift
	translate "$name" "${WANDEV:-}"
	if [ "$rc" -ne 0 ]; then bad "$name: translation failed: $err"; return; fi
	if nout=$(build/ftpalgd -n -f "$tmp/$name.conf" 2>&1); then
		ok "$name: translated, ftpalgd -n accepts it"
	else
		sed 's/^/  | /' "$tmp/$name.conf"
		bad "$name: ftpalgd -n refuses the translation: $nout"
	fi
	for l in "$@"; do
		grep -qxF "$l" "$tmp/$name.conf" && ok "$name: \"$l\"" || {
			sed 's/^/  | /' "$tmp/$name.conf"; bad "$name: no line \"$l\""; }
	done
}

# refused NAME PATTERN: the translation fails, the message matches, OUT untouched
refused() {
	echo "previous" >"$tmp/$1.conf"
	translate "$1"
	if [ "$rc" -ne 0 ] && echo "$err" | grep -q -- "$2" && [ "$(cat "$tmp/$1.conf")" = previous ]; then
		ok "$1: refused: $(echo "$err" | head -n 1)"
	else
		bad "$1: exit $rc, message \"$err\", want \"$2\""
	fi
}

# the file the package ships: disabled, and what it says passes -n
cp openwrt/files/ftpalgd.config "$CONF/ftpalgd"
good shipped "listen = 2121" "intercept-interface = br-lan" "control-ports = 21"
case "$vars" in *enabled=0*wan=wan*) ok "shipped: disabled until enabled=1, wan=wan" ;;
*) bad "shipped: $vars" ;; esac

cat >"$CONF/ftpalgd" <<'EOF'
config ftpalgd 'main'
	option enabled '1'
	option wan 'wan wan6'
	list listen '2121'
	list listen '[::1]:2122'
	option intercept_interface 'br-lan'
	option control_ports '21, 2121'
	list mapping 'public:21 -> 192.168.1.10:21'
	list mapping '0.0.0.0:2100 -> 192.168.1.11:21 relay'
	option data_ports '50000-50999'
	option max_sessions '100'
	option pinhole_timeout '20s'
	option pasv_policy 'relaxed'
	option allow_low_ports 'off'
	option require_login '1'
	option log_level 'debug'
EOF
WANDEV=pppoe-wan good full "listen = 2121" "listen = [::1]:2122" \
	"mapping = public:21 -> 192.168.1.10:21" "mapping = 0.0.0.0:2100 -> 192.168.1.11:21 relay" \
	"control-ports = 21, 2121" "data-ports = 50000-50999" "max-sessions = 100" \
	"pinhole-timeout = 20s" "pasv-policy = relaxed" "allow-low-ports = no" \
	"require-login = yes" "log-level = debug" "public-interface = pppoe-wan"
case "$vars" in *enabled=1*"wan=wan wan6"*) ok "full: enabled, wan interfaces to follow" ;;
*) bad "full: $vars" ;; esac
v=$(build/ftpalgd -n -v -f "$tmp/full.conf" 2>&1)
echo "$v" | grep -q 'max-sessions = 100' && ok "full: the daemon reads max-sessions = 100" ||
	bad "full: ftpalgd -n -v: $v"

# an "option" where a list is usual, an anonymous section, inline engine with booleans
# (an empty value cannot be said in UCI: uci drops it, and the daemon's default holds)
cat >"$CONF/ftpalgd" <<'EOF'
config ftpalgd
	option enabled 'yes'
	option engine 'inline'
	option queue_num '3'
	option fail_open 'false'
	option listen '2121'
	option intercept_interface ''
	option public_interface 'eth1'
	option mapping 'public:2100 -> 192.168.1.10:21'
EOF
WANDEV=pppoe-wan good anonymous "engine = inline" "queue-num = 3" "fail-open = no" "listen = 2121" \
	"public-interface = eth1" "mapping = public:2100 -> 192.168.1.10:21"
grep -q 'intercept-interface' "$tmp/anonymous.conf" &&
	bad "anonymous: an empty option was emitted" || ok "anonymous: an empty option is not emitted"
grep -q 'pppoe-wan' "$tmp/anonymous.conf" && bad "anonymous: WAN device used though public_interface is set" ||
	ok "anonymous: public_interface wins over the WAN device"

# a hand-written file instead
cat >"$CONF/ftpalgd" <<'EOF'
config ftpalgd 'main'
	option enabled '1'
	option config_file '/etc/ftpalg/ftpalgd.conf'
EOF
translate handwritten
case "$rc:$vars" in 0:*conf=/etc/ftpalg/ftpalgd.conf*) ok "config_file: ftpalgd reads /etc/ftpalg/ftpalgd.conf" ;;
*) bad "config_file: exit $rc $vars $err" ;; esac

# a value that passes UCI but not the daemon: -n names the generated file's line
cat >"$CONF/ftpalgd" <<'EOF'
config ftpalgd 'main'
	option enabled '1'
	list listen '2121'
	option max_sessions 'lots'
EOF
translate daemonbad
if [ "$rc" -eq 0 ] && ! nout=$(build/ftpalgd -n -f "$tmp/daemonbad.conf" 2>&1) &&
    echo "$nout" | grep -q "daemonbad.conf:[0-9]"; then
	ok "max_sessions 'lots': ftpalgd -n refuses it: $nout"
else
	bad "max_sessions 'lots': translation exit $rc, -n: ${nout:-accepted}"
fi

# bad files: refused by the translation, naming what is wrong
printf "config ftpalgd 'main'\n\toption enabled '1'\n\tbogus line\n" >"$CONF/ftpalgd"
refused syntax "line 3"
printf "config ftpalgd 'main'\n\toption enabled '1'\n\toption max_session '10'\n" >"$CONF/ftpalgd"
refused typo "main.max_session: unknown option"
printf "config ftpalgd 'main'\n\toption fail_open 'maybe'\n" >"$CONF/ftpalgd"
refused boolean "main.fail_open: \"maybe\" is not a boolean"
printf "config ftpalgd 'main'\n\toption user 'a\nlisten = 9999'\n" >"$CONF/ftpalgd"
refused newline "main.user: the value has a line break"
printf "config ftpalgd 'main'\n\tlist mapping 'public:21 -> 192.168.1.10:21 #x'\n" >"$CONF/ftpalgd"
refused comment "main.mapping: \" #\""
printf "config ftpalgd 'a'\nconfig ftpalgd 'b'\n" >"$CONF/ftpalgd"
refused twosections "more than one"
printf "config ftpalgd 'main'\nconfig listener 'x'\n\toption port '21'\n" >"$CONF/ftpalgd"
refused sectiontype "unknown type \"listener\""
printf "\n" >"$CONF/ftpalgd"
refused empty "no \"config ftpalgd\" section"
rm -f "$CONF/ftpalgd"
refused missing "ftpalgd"

# ---------------------------------------------------------------- init, procd stubbed
# procd's functions record what they are given (procd itself cannot run here):
# start, reload (good, broken, disabled) and the triggers, on the real uci.
procd_run() { # UCI-FILE-CONTENT-IN-$CONF/ftpalgd; FUNCTION
	cat >"$tmp/procd.sh" <<-EOF
	. "$ROOT/tests/openwrt/functions.sh"
	. "$INIT"
	FTPALGD_BIN="$ROOT/build/ftpalgd"
	FTPALGD_GEN="$tmp/var-etc/ftpalgd.conf"
	procd_open_instance() { echo "open_instance"; }
	procd_set_param() { echo "set_param \$*"; }
	procd_close_instance() { echo "close_instance"; }
	procd_send_signal() { echo "send_signal \$*"; [ -z "\${HUP_PID:-}" ] || kill -HUP "\$HUP_PID"; }
	procd_add_reload_trigger() { echo "reload_trigger \$*"; }
	procd_add_interface_trigger() { echo "interface_trigger \$*"; }
	start() { echo "start"; }
	stop() { echo "stop"; }
	$1
	echo "rc=\$?"
	EOF
	UCI_CONFIG_DIR=$CONF busybox sh "$tmp/procd.sh" 2>"$tmp/procd.err"
}
printf "config ftpalgd 'main'\n\toption enabled '1'\n\toption wan 'wan wan6'\n\tlist listen '2121'\n" >"$CONF/ftpalgd"
p=$(procd_run start_service)
case "$p" in *"set_param command $ROOT/build/ftpalgd -d -f $tmp/var-etc/ftpalgd.conf"*"set_param respawn"*"close_instance"*"rc=0"*)
	ok "start_service: checks with -n, starts ftpalgd -d -f /var/etc/ftpalgd.conf with respawn" ;;
*) bad "start_service: $p $(cat "$tmp/procd.err")" ;; esac
p=$(procd_run reload_service)
case "$p" in *"send_signal ftpalgd * HUP"*"rc=0"*) ok "reload_service: SIGHUP to the running ftpalgd" ;;
*) bad "reload_service: $p $(cat "$tmp/procd.err")" ;; esac
p=$(procd_run service_triggers)
case "$p" in *"reload_trigger ftpalgd"*"interface_trigger interface.* wan /etc/init.d/ftpalgd reload"*"interface_trigger interface.* wan6 /etc/init.d/ftpalgd reload"*)
	ok "service_triggers: config reload trigger, interface triggers for wan and wan6" ;;
*) bad "service_triggers: $p" ;; esac
printf "config ftpalgd 'main'\n\toption enabled '1'\n\tlist listen '2121'\n\toption max_sessions 'lots'\n" >"$CONF/ftpalgd"
p=$(procd_run reload_service)
case "$p" in *send_signal*|*start*) bad "reload_service with a broken file: $p" ;;
*"rc=1"*) grep -q "max-sessions" "$tmp/procd.err" &&
	ok "reload_service: a file ftpalgd -n refuses is not signalled: $(grep max-sessions "$tmp/procd.err")" ||
	bad "reload_service: no message: $(cat "$tmp/procd.err")" ;;
*) bad "reload_service with a broken file: $p" ;; esac
p=$(procd_run start_service)
case "$p" in *open_instance*) bad "start_service with a broken file starts: $p" ;;
*"rc=1"*) ok "start_service: a file ftpalgd -n refuses is not started" ;; *) bad "start_service: $p" ;; esac
printf "config ftpalgd 'main'\n\toption enabled '0'\n\tlist listen '2121'\n" >"$CONF/ftpalgd"
p=$(procd_run start_service)
case "$p" in *open_instance*) bad "start_service when disabled: $p" ;;
*"rc=1"*) grep -q "enabled=1" "$tmp/procd.err" && ok "start_service: disabled, says how to enable" ||
	bad "start_service disabled: $(cat "$tmp/procd.err")" ;;
*) bad "start_service disabled: $p" ;; esac
p=$(procd_run reload_service)
case "$p" in *stop*"rc=0"*) ok "reload_service: enabled=0 stops it" ;; *) bad "reload_service disabled: $p" ;; esac

# ---------------------------------------------------------------- init + a real ftpalgd
# The command start_service gives procd runs for real (in a network namespace
# of its own); reload_service, with procd's signal standing in as kill -HUP,
# makes it re-read the translated file: its reload count goes up, its pid
# stays; a file ftpalgd -n refuses is never signalled.
if [ "$(id -u)" != 0 ]; then
	echo "openwrt: SKIPPED the init against a real ftpalgd: needs root (network namespace, nftables)"
else
	ns=ftpalg-owrt-$$
	dpid=""
	cat >"$CONF/ftpalgd" <<-EOF
	config ftpalgd 'main'
		option enabled '1'
		list listen '2121'
		option control_socket '$tmp/run/ftpalgd.sock'
		option pidfile '$tmp/run/ftpalgd.pid'
	EOF
	mkdir -p "$tmp/run"
	cmd=$(procd_run start_service | sed -n 's/^set_param command //p')
	if ip netns add "$ns" 2>/dev/null && ip netns exec "$ns" ip link set lo up; then
		# shellcheck disable=SC2086  # the argv procd would run
		ip netns exec "$ns" $cmd >"$tmp/daemon.log" 2>&1 &
		for _ in $(seq 50); do [ -S "$tmp/run/ftpalgd.sock" ] && break; sleep 0.1; done
		dpid=$(cat "$tmp/run/ftpalgd.pid" 2>/dev/null)
	fi
	st() { build/ftpalg -s "$tmp/run/ftpalgd.sock" --json status 2>/dev/null |
		/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["pid"], d.get("reloads"), d.get("reloads_refused"))' 2>/dev/null; }
	s0=$(st)
	case "$s0" in "$dpid 0 0") ok "start_service's command runs ftpalgd (pid $dpid, no reload yet)" ;;
	*) bad "start_service's command \"$cmd\": status \"$s0\": $(cat "$tmp/daemon.log")" ;; esac
	printf "\toption max_sessions '100'\n" >>"$CONF/ftpalgd"
	p=$(HUP_PID=$dpid procd_run reload_service)
	sleep 0.5
	s1=$(st)
	if [ "$s1" = "$dpid 1 0" ] && grep -q 'SIGHUP: reloading' "$tmp/daemon.log" &&
	    grep -qx 'max-sessions = 100' "$tmp/var-etc/ftpalgd.conf"; then
		ok "reload_service: the running ftpalgd re-read the new file (pid $dpid kept, 1 reload)"
	else
		bad "reload_service: $p; status \"$s1\"; $(tail -n 3 "$tmp/daemon.log")"
	fi
	mt=$(build/ftpalg -s "$tmp/run/ftpalgd.sock" metrics -f "$tmp/var-etc/ftpalgd.conf" 2>&1)
	if echo "$mt" | grep -qx 'ftpalg_reloads_total 1' && echo "$mt" | grep -qx 'ftpalg_last_reload_success 1' &&
	    echo "$mt" | grep -qx 'ftpalg_sessions_limit 100'; then
		ok "ftpalg metrics: 1 reload, applied; the new max-sessions 100"
	else
		bad "ftpalg metrics after the reload: $(echo "$mt" | grep -E 'reload|limit')"
	fi
	printf "\toption pinhole_timeout 'soon'\n" >>"$CONF/ftpalgd"
	p=$(HUP_PID=$dpid procd_run reload_service)
	sleep 0.3
	s2=$(st)
	case "$p:$s2" in
	*send_signal*) bad "reload_service signalled a file ftpalgd -n refuses" ;;
	*"rc=1:$dpid 1 0") ok "reload_service: a bad file is refused before the daemon, which runs on unchanged" ;;
	*) bad "reload_service with a bad file: $p; status \"$s2\"" ;;
	esac
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null
	for _ in $(seq 50); do [ -n "$dpid" ] && kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
	ip netns del "$ns" 2>/dev/null
	dpid="" ns=""
fi

# ---------------------------------------------------------------- uci-defaults
mkdir -p "$tmp/bin" "$tmp/fw"
printf '#!/bin/sh\nexec "%s/bin/uci" -c "%s" "$@"\n' "$UCI_ROOT" "$tmp/fw" >"$tmp/bin/uci"
chmod +x "$tmp/bin/uci"
printf "config defaults\n\toption input 'REJECT'\n\nconfig zone\n\toption name 'lan'\n" >"$tmp/fw/firewall"
PATH=$tmp/bin:$PATH sh "$DEFAULTS" && PATH=$tmp/bin:$PATH sh "$DEFAULTS"
rc=$?
inc=$(PATH=$tmp/bin:$PATH uci show firewall 2>&1)
n=$(echo "$inc" | grep -c "=include$")
if [ "$rc" -eq 0 ] && [ "$n" -eq 1 ] &&
    echo "$inc" | grep -qx "firewall.ftpalgd.path='/etc/ftpalg/ftpalgd-forward.nft'" &&
    echo "$inc" | grep -qx "firewall.ftpalgd.position='chain-pre'" &&
    echo "$inc" | grep -qx "firewall.ftpalgd.chain='forward'" &&
    echo "$inc" | grep -qx "firewall.@zone\[0\].name='lan'"; then
	ok "uci-defaults: one fw4 include (chain-pre, forward) after two runs, the rest kept"
else
	echo "$inc" | sed 's/^/  | /'
	bad "uci-defaults: exit $rc, $n includes"
fi
finish
