# bash completion for ftpalg(8) and ftpalgd(8)
# Installed as /usr/share/bash-completion/completions/ftpalg (ftpalgd: a link to it).

# COMPREPLY from compgen ARGS... for the current word.
_ftpalg_reply()
{
	mapfile -t COMPREPLY < <(compgen "$@" -- "${COMP_WORDS[COMP_CWORD]}")
}

_ftpalg()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local cmds="status sessions pinholes relays stats metrics rules trace help version"
	local cmd="" i
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-s|--socket) ((i++)) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done

	case $prev in
	-s|--socket|-f)
		_ftpalg_reply -f; return ;;
	--html)
		_ftpalg_reply -o plusdirs -f -X '!*.html'; return ;;
	-i)
		_ftpalg_reply -W "$(ls /sys/class/net 2>/dev/null)"; return ;;
	-o)
		_ftpalg_reply -S = -W "listen mode engine queue-num fail-open intercept-interface
		    control-ports mapping public-address public-interface data-ports nft-table
		    pinhole-mark pinhole-timeout max-pinholes max-sessions max-sessions-per-client"
		compopt -o nospace 2>/dev/null
		return ;;
	-t)
		[ "$cmd" = rules ] && _ftpalg_reply -W "nft iptables fw4 all"
		return ;;
	-c|-p)
		return ;;
	esac

	case $cmd in
	"")
		if [[ $cur == -* ]]; then
			_ftpalg_reply -W "-s --socket --json -h --help -V --version"
		else
			_ftpalg_reply -W "$cmds"
		fi ;;
	status|sessions|pinholes|relays|stats)
		_ftpalg_reply -W "--json -s --socket --help --version" ;;
	metrics)
		_ftpalg_reply -W "-f -s --socket --help --version" ;;
	rules)
		_ftpalg_reply -W "-f -o -t --help --version" ;;
	trace)
		if [[ $cur == -* ]]; then
			_ftpalg_reply -W "--json --html -v --verbose -p -i -c -t --help --version"
		else
			_ftpalg_reply -o plusdirs -f -X '!*.@(pcap|pcapng|cap)'
		fi ;;
	help)
		_ftpalg_reply -W "$cmds" ;;
	esac
}
complete -F _ftpalg ftpalg

_ftpalgd()
{
	case ${COMP_WORDS[COMP_CWORD-1]} in
	-f) _ftpalg_reply -f; return ;;
	-o) _ftpalg_reply -S = -W "listen mode engine intercept-interface control-ports mapping
	        data-ports nft-table user log log-level"
	    compopt -o nospace 2>/dev/null
	    return ;;
	esac
	_ftpalg_reply -W "-d -f -o -n -v -V --cleanup --help --version"
}
complete -F _ftpalgd ftpalgd
