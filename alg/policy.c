/*
 * policy.c - safe defaults and the names used in logs and counters.
 */
#include "alg/alg.h"

void
alg_policy_default(struct alg_policy *p)
{
	p->pasv = ALG_PASV_STRICT;
	p->port_addr = ALG_PORTADDR_REFUSE;
	p->tls = ALG_TLS_PASS;
	p->long_cmds = ALG_LONG_TRANSLATE;
	p->allow_low_ports = false;
	p->require_login = true;
	p->map_timeout_ms = 30000;
}

const char *
alg_reason_name(enum alg_reason r)
{
	static const char *const names[ALG_R__COUNT] = {
		[ALG_R_NONE] = "none",
		[ALG_R_BOUNCE] = "bounce",
		[ALG_R_LOWPORT] = "low-port",
		[ALG_R_SYNTAX] = "syntax",
		[ALG_R_EPSV_ALL] = "epsv-all",
		[ALG_R_NOT_LOGGED_IN] = "not-logged-in",
		[ALG_R_FAMILY] = "family",
		[ALG_R_NOPORT] = "no-port",
		[ALG_R_MAPFAIL] = "pinhole-failed",
		[ALG_R_LONG_REFUSED] = "long-refused",
		[ALG_R_TLS_REFUSED] = "tls-refused",
		[ALG_R_PASV_ADDR] = "pasv-address",
		[ALG_R_UNSOLICITED] = "unsolicited",
		[ALG_R_LINE] = "bad-line",
		[ALG_R_QUEUE] = "queue",
		[ALG_R_TLS] = "tls",
		[ALG_R_NOT_FTP] = "not-ftp",
	};

	return (unsigned)r < ALG_R__COUNT && names[r] != NULL ? names[r] : "?";
}

const char *
alg_err_str(enum alg_err e)
{
	switch (e) {
	case ALG_OK: return "no error";
	case ALG_E_TOOLONG: return "line too long";
	case ALG_E_NUL: return "NUL byte in line";
	case ALG_E_SYNTAX: return "syntax error";
	case ALG_E_RANGE: return "number out of range";
	case ALG_E_FAMILY: return "address family not supported";
	case ALG_E_REPLY: return "malformed reply";
	case ALG_E_QUEUE: return "too many pipelined commands";
	case ALG_E_STATE: return "session closed";
	}
	return "?";
}

const char *
alg_state_name(enum alg_state st)
{
	switch (st) {
	case ALG_ST_GREETING: return "greeting";
	case ALG_ST_LOGIN: return "login";
	case ALG_ST_READY: return "ready";
	case ALG_ST_TLS: return "tls";
	case ALG_ST_CLOSED: return "closed";
	case ALG_ST_NOTFTP: return "not-ftp";
	}
	return "?";
}
