# tests/openwrt/functions.sh - OpenWrt's /lib/functions.sh for tests, on the real uci.
#
# config_load, config_get, config_get_bool, config_foreach, config_list_foreach
# and the callbacks are OpenWrt's own shell code: the sh/uci.sh of the uci
# snapshot in ../shared/openwrt (installed by build-uci.sh as
# UCI_ROOT/share/uci/uci.sh; the same functions as OpenWrt's
# /lib/functions.sh).  It calls uci_load, which on OpenWrt lives in
# /lib/config/uci.sh; here it is reimplemented as OpenWrt's: run the real
# `uci export` and eval its output ("config", "option", "list" lines).
# Needs UCI_ROOT (the build-uci.sh prefix) and LD_LIBRARY_PATH to its lib/;
# UCI_CONFIG_DIR is the directory standing in for /etc/config.
# shellcheck shell=dash

# shellcheck disable=SC1091
. "$UCI_ROOT/share/uci/uci.sh"

uci() {
	"$UCI_ROOT/bin/uci" "$@"
}

uci_load() {
	local PACKAGE="$1" DATA RET VAR

	_C=0
	if [ -z "$CONFIG_APPEND" ]; then
		for VAR in $CONFIG_LIST_STATE; do
			export ${NO_EXPORT:+-n} "CONFIG_${VAR}="
			export ${NO_EXPORT:+-n} "CONFIG_${VAR}_LENGTH="
		done
		export ${NO_EXPORT:+-n} CONFIG_LIST_STATE=
		export ${NO_EXPORT:+-n} CONFIG_SECTIONS=
		export ${NO_EXPORT:+-n} CONFIG_NUM_SECTIONS=0
		export ${NO_EXPORT:+-n} CONFIG_SECTION=
	fi
	DATA="$(uci ${UCI_CONFIG_DIR:+-c "$UCI_CONFIG_DIR"} -S -n export "$PACKAGE" 2>/dev/null)"
	RET="$?"
	[ "$RET" != 0 ] || [ -z "$DATA" ] || eval "$DATA"
	unset DATA
	${CONFIG_LOAD_DONE:+config_load_done}
	return "$RET"
}
