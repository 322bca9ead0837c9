/*
 * alg.h - ftpalg's FTP protocol core.
 *
 * Pure code over buffers: no sockets, no system calls, no logging, no netfilter
 * headers.  The engines (proxy, inline) feed it the bytes of a control
 * connection and carry out what it decides.  Everything here is unit-tested
 * and fuzzed on its own (tests/unit, tests/fuzz).
 *
 * Errors follow the libmnl convention where a function can fail: -1 and a
 * reason code (enum alg_err) in an out parameter or the session, never errno
 * (the core makes no system calls that would set it).
 */
#ifndef FTPALG_ALG_H
#define FTPALG_ALG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- addresses */

/* Address families as the core knows them; the numbers are EPRT's. */
enum alg_family {
	ALG_AF_NONE = 0,
	ALG_AF_INET = 1,
	ALG_AF_INET6 = 2,
};

/* An address and a port.  IPv4 lives in a[0..3]; the rest stays zero. */
struct alg_endpoint {
	uint8_t family;		/* enum alg_family */
	uint8_t a[16];		/* network byte order */
	uint16_t port;		/* host byte order; 0 = unspecified */
};

/* Longest text alg_ep_str() writes, with the NUL: "[v6]:port". */
#define ALG_EP_STRLEN 56

bool alg_ep_same_addr(const struct alg_endpoint *x, const struct alg_endpoint *y);
bool alg_ep_equal(const struct alg_endpoint *x, const struct alg_endpoint *y);
/* Writes "1.2.3.4:21" or "[2001:db8::1]:21" (port omitted when 0). */
const char *alg_ep_str(const struct alg_endpoint *ep, char *buf, size_t len);
/* Writes the address only; RFC 5952 form for IPv6. Returns bytes written or -1. */
int alg_addr_fmt(const struct alg_endpoint *ep, char *buf, size_t len);
/* Parses a dotted quad or an IPv6 text address (no brackets, no zone). */
int alg_addr_parse(const char *s, size_t len, struct alg_endpoint *out);
/* Parses "1.2.3.4:21", "[::1]:21" or a bare address (port 0). */
int alg_ep_parse(const char *s, struct alg_endpoint *out);

/* What kind of address this is, for the 227 policy and the pcap doctor. */
enum alg_addr_class {
	ALG_ADDR_UNSPEC,	/* 0.0.0.0, :: */
	ALG_ADDR_LOOPBACK,
	ALG_ADDR_LINKLOCAL,
	ALG_ADDR_PRIVATE,	/* RFC 1918, RFC 6598 shared, fc00::/7 ULA */
	ALG_ADDR_MULTICAST,	/* also broadcast and other unusable ranges */
	ALG_ADDR_PUBLIC,	/* anything else: global unicast */
};
enum alg_addr_class alg_addr_class(const struct alg_endpoint *ep);
const char *alg_addr_class_name(enum alg_addr_class c);

/* ---------------------------------------------------------------- framing */

/*
 * Longest control line the core accepts, CRLF included.  RFC 959 sets no
 * limit; 1024 holds any real path name and keeps two of them per session
 * cheap on a router (OpenBSD's ftp-proxy uses 500).
 */
#define ALG_LINE_MAX 1024

enum alg_err {
	ALG_OK = 0,
	ALG_E_TOOLONG,		/* line longer than ALG_LINE_MAX */
	ALG_E_NUL,		/* NUL byte in a line */
	ALG_E_SYNTAX,		/* malformed argument */
	ALG_E_RANGE,		/* number out of range (octet > 255, port > 65535) */
	ALG_E_FAMILY,		/* address family not supported here */
	ALG_E_REPLY,		/* malformed reply line */
	ALG_E_QUEUE,		/* too many pipelined commands */
	ALG_E_STATE,		/* input after the session ended */
};
const char *alg_err_str(enum alg_err e);

/*
 * A bounded line assembler.  Feed it bytes; it hands back complete lines
 * (raw bytes, terminator included) either in place, pointing into the
 * caller's buffer, or from its own buffer when a line was split across
 * feeds.  Telnet IAC sequences stay in the raw line untouched.
 */
struct alg_linebuf {
	uint16_t len;		/* bytes held of an incomplete line */
	uint8_t err;		/* enum alg_err once broken; sticky */
	char buf[ALG_LINE_MAX];
};

void alg_line_init(struct alg_linebuf *lb);
/*
 * Takes bytes from data[0..len).  Returns how many were consumed (>= 1 while
 * len > 0 and no error).  When a line completed, *line and *line_len point at it
 * (valid until the next call) and the call stops right after it; otherwise
 * *line is NULL.  On error returns -1 with lb->err set.
 */
long alg_line_next(struct alg_linebuf *lb, const char *data, size_t len,
    const char **line, size_t *line_len);

/*
 * Copies a raw line into out with Telnet IAC sequences removed (IAC IAC
 * becomes one 0xFF byte) and the line terminator stripped.  out must hold
 * ALG_LINE_MAX bytes; it is NUL-terminated.  Returns the clean length.
 */
size_t alg_line_clean(const char *raw, size_t len, char *out);

/* ---------------------------------------------------------------- commands */

enum alg_cmd {
	ALG_CMD_OTHER = 0,	/* anything the core does not act on */
	ALG_CMD_USER, ALG_CMD_PASS, ALG_CMD_ACCT,
	ALG_CMD_PORT, ALG_CMD_EPRT, ALG_CMD_LPRT,
	ALG_CMD_PASV, ALG_CMD_EPSV, ALG_CMD_LPSV,
	ALG_CMD_RETR, ALG_CMD_STOR, ALG_CMD_STOU, ALG_CMD_APPE,
	ALG_CMD_LIST, ALG_CMD_NLST, ALG_CMD_MLSD,
	ALG_CMD_AUTH, ALG_CMD_CCC, ALG_CMD_REIN, ALG_CMD_QUIT, ALG_CMD_ABOR,
	ALG_CMD_REST,
	ALG_CMD__COUNT
};

/*
 * The command table (alg/cmd.c): one row per known command.  enum alg_cmd
 * names the commands some code must tell apart; every other row has the id
 * ALG_CMD_OTHER and is still known (it makes the connection look like FTP).
 */
enum alg_cmd_flag {
	ALG_CF_TRANSFER = 0x0001,	/* uses the data channel (RETR, LIST, MLSD...) */
	ALG_CF_SETUP = 0x0002,		/* sets the data channel up (PORT, PASV...) */
	ALG_CF_ACTIVE = 0x0004,		/* ... with the server connecting (PORT, EPRT, LPRT) */
	ALG_CF_PASSIVE = 0x0008,	/* ... with the client connecting (PASV, EPSV, LPSV) */
	ALG_CF_LOGIN = 0x0010,		/* only after login under require-login */
	ALG_CF_BLOCKS = 0x0020,		/* taken alone; the client waits for its reply */
	ALG_CF_SECRET = 0x0040,		/* the argument is a secret: never logged */
	ALG_CF_NOARG = 0x0080,		/* takes no argument: one makes the line malformed */
};

struct alg_session;
struct alg_cmd_req;
struct alg_cmd_rep;

struct alg_cmd_def {
	const char *verb;	/* upper case */
	uint8_t id;		/* enum alg_cmd */
	uint16_t flags;		/* enum alg_cmd_flag */
	const char *ref;	/* where it is defined ("RFC 959") */
	/* Core internals (alg/cmd.h); NULL = queue and forward / forward. */
	void (*req)(struct alg_session *s, const struct alg_cmd_req *r);
	bool (*rep)(struct alg_session *s, const struct alg_cmd_rep *r);
};

/* The row of a clean command line's verb (case-insensitive), or NULL when the
 * verb is not known.  *arg points past the verb and its spaces. */
const struct alg_cmd_def *alg_cmd_lookup(const char *line, size_t len, const char **arg,
    size_t *arg_len);
/*
 * Whether a clean client line is a well-formed command of the known set: a
 * known verb followed by a space or nothing, no control characters, no
 * argument where the command takes none.  Returns its row (the "unknown"
 * row, id ALG_CMD_OTHER and verb "", for an empty line) or NULL with *why
 * set to a short reason ("unknown command", "no command verb", ...).
 */
const struct alg_cmd_def *alg_cmd_check(const char *line, size_t len, const char **arg,
    size_t *arg_len, const char **why);
/* The known commands: i in [0, alg_cmd_count()). */
size_t alg_cmd_count(void);
const struct alg_cmd_def *alg_cmd_at(size_t i);

/* Classifies a clean command line: its id, ALG_CMD_OTHER for the rest.
 * *arg points past the verb and spaces (empty for ALG_CMD_OTHER). */
enum alg_cmd alg_cmd_parse(const char *line, size_t len, const char **arg, size_t *arg_len);
const char *alg_cmd_name(enum alg_cmd c);
unsigned alg_cmd_flags(enum alg_cmd c);
bool alg_cmd_is_transfer(enum alg_cmd c);

/*
 * Parsers take the argument text (after the verb) or the reply text; they
 * return 0 or -1 with *err set.  Formatters write a canonical line ending in
 * CRLF and return its length, or -1 when it does not fit.
 */
int alg_parse_port(const char *arg, size_t len, struct alg_endpoint *out, enum alg_err *err);
int alg_parse_eprt(const char *arg, size_t len, struct alg_endpoint *out, enum alg_err *err);
int alg_parse_lprt(const char *arg, size_t len, struct alg_endpoint *out, enum alg_err *err);

/* EPSV's argument: none, "ALL", or a family number. */
enum alg_epsv_arg { ALG_EPSV_PLAIN, ALG_EPSV_ALL, ALG_EPSV_AF1, ALG_EPSV_AF2, ALG_EPSV_BAD };
enum alg_epsv_arg alg_parse_epsv(const char *arg, size_t len);

/* 227: scans for the first digit and reads six comma-separated numbers. */
int alg_parse_227(const char *text, size_t len, struct alg_endpoint *out, enum alg_err *err);
/* 228 (LPSV): "(4,4,a,b,c,d,2,p1,p2)" or the 6,16 form, found by scanning. */
int alg_parse_228(const char *text, size_t len, struct alg_endpoint *out, enum alg_err *err);
/* 229: "(<d><d><d>port<d>)"; port only, the family is the control connection's. */
int alg_parse_229(const char *text, size_t len, uint16_t *port, enum alg_err *err);

int alg_fmt_port(char *buf, size_t len, const struct alg_endpoint *ep);
int alg_fmt_eprt(char *buf, size_t len, const struct alg_endpoint *ep);
int alg_fmt_lprt(char *buf, size_t len, const struct alg_endpoint *ep);
int alg_fmt_227(char *buf, size_t len, const struct alg_endpoint *ep);
int alg_fmt_228(char *buf, size_t len, const struct alg_endpoint *ep);
int alg_fmt_229(char *buf, size_t len, uint16_t port);
/* A reply line "ddd text\r\n"; 0xFF in text is doubled (Telnet IAC). */
int alg_fmt_reply(char *buf, size_t len, int code, const char *text);

/*
 * Reply line: "ddd " (final) or "ddd-" (opens a multi-line reply).  Returns
 * the code (100..599) or -1 when the line does not start like a reply.
 */
int alg_reply_code(const char *line, size_t len, bool *more);

/*
 * Reply framing (RFC 959 4.2): where a reply ends.  "ddd-" opens a
 * multi-line reply; only a line starting with the same code and a space (or
 * the bare code) closes it; lines in between may start with anything,
 * digits included.  Feed every clean line of the server direction, in order.
 * The one implementation shared by the core, the inline engine and the pcap
 * doctor.
 */
struct alg_rframe {
	int16_t code;		/* code of the open multi-line reply; 0 = none open */
	uint16_t lines;		/* lines of the current reply so far, this one included */
};

enum alg_rframe_kind {
	ALG_RF_NONE,		/* not a reply line, and no reply open (junk, empty) */
	ALG_RF_SINGLE,		/* "ddd text": a whole reply on one line */
	ALG_RF_OPEN,		/* "ddd-text": opens a multi-line reply */
	ALG_RF_INSIDE,		/* a line inside a multi-line reply */
	ALG_RF_CLOSE,		/* "ddd text" with the open code: ends it */
};

void alg_rframe_init(struct alg_rframe *f);
/* Classifies the next line; *code is the reply's code (the open one for
 * INSIDE and CLOSE), or -1 for NONE. */
enum alg_rframe_kind alg_rframe_line(struct alg_rframe *f, const char *line, size_t len,
    int *code);
/* SINGLE or CLOSE: the reply is complete with this line. */
bool alg_rframe_final(enum alg_rframe_kind k);
/* A multi-line reply is open (its closing line has not come yet). */
bool alg_rframe_inside(const struct alg_rframe *f);
const char *alg_rframe_kind_name(enum alg_rframe_kind k);

/* ---------------------------------------------------------------- policy */

enum alg_pasv_policy {
	/* The client is always sent to the control peer; a 227 naming any other
	 * host is rewritten (and logged).  Safe default. */
	ALG_PASV_STRICT = 0,
	/* A 227 naming another public host is followed (load balancers); private,
	 * loopback, link-local, unspecified and the gateway's own addresses are
	 * still replaced by the control peer. */
	ALG_PASV_RELAXED,
};

enum alg_port_policy {
	ALG_PORTADDR_REFUSE = 0,	/* PORT/EPRT naming another host: 501 */
	ALG_PORTADDR_CLIENT,		/* ignore the address, use the client's */
};

enum alg_tls_policy {
	ALG_TLS_PASS = 0,	/* let AUTH through; the session goes blind (logged) */
	ALG_TLS_REFUSE,		/* answer AUTH TLS/SSL locally with 534 */
};

enum alg_long_policy {
	ALG_LONG_TRANSLATE = 0,	/* LPRT/LPSV/228 rewritten like PORT/PASV/227 */
	ALG_LONG_REFUSE,	/* answered locally with 502 */
};

struct alg_policy {
	uint8_t pasv;		/* enum alg_pasv_policy */
	uint8_t port_addr;	/* enum alg_port_policy */
	uint8_t tls;		/* enum alg_tls_policy */
	uint8_t long_cmds;	/* enum alg_long_policy */
	bool allow_low_ports;	/* data ports < 1024 (off by default) */
	bool require_login;	/* data commands only after a 230 */
	uint32_t map_timeout_ms;	/* how long an unused data mapping lives */
};

void alg_policy_default(struct alg_policy *p);

/* ---------------------------------------------------------------- session */

enum alg_side { ALG_CLIENT = 0, ALG_SERVER = 1 };

/*
 * How the data channel crosses the gateway.
 * - Active (PORT/EPRT/LPRT): always through a gateway port: the server is
 *   told gw_server:Q and Q is mapped onto the client's endpoint.
 * - Passive: with passive_via_gw unset (transparent outbound), the client is
 *   sent straight to the server's data endpoint and a pinhole lets it pass;
 *   with it set (inbound, in front of an intranet server), the client is told
 *   gw_client:Q and Q is mapped onto the server's endpoint.
 */
struct alg_session_addrs {
	struct alg_endpoint client;	/* the client, as the gateway sees it */
	struct alg_endpoint gw_client;	/* the gateway's address the client dialled */
	struct alg_endpoint gw_server;	/* the gateway's address the server sees */
	struct alg_endpoint server;	/* the server (control connection peer) */
	bool passive_via_gw;
};

enum alg_map_kind {
	ALG_MAP_ACTIVE,		/* server connects to gateway port, delivered to client */
	ALG_MAP_PASSIVE,	/* client connects toward the server's data port */
};

/*
 * A data mapping the engine opens: a connection from peer (address only)
 * to dst (address and port) is let through and delivered to to; when dst
 * and to are equal nothing is translated.  One-shot: one connection.
 */
struct alg_mapping {
	uint32_t id;		/* per session, increasing */
	uint8_t kind;		/* enum alg_map_kind */
	struct alg_endpoint peer;
	struct alg_endpoint dst;
	struct alg_endpoint to;
	uint32_t timeout_ms;
};

enum alg_event_type {
	ALG_EV_MAP_OPEN,	/* open ev->map; return -1 if that fails */
	ALG_EV_MAP_USED,	/* a transfer started (1xx) on ev->map */
	ALG_EV_MAP_CLOSE,	/* ev->map is finished or replaced: remove it */
	ALG_EV_REWRITE,		/* ev->before -> ev->after, for the log */
	ALG_EV_REFUSED,		/* a command refused locally: ev->reason, ev->before */
	ALG_EV_NOTICE,		/* something worth a log line: ev->reason */
	ALG_EV_TLS,		/* the control channel is now encrypted: pass bytes blindly */
	ALG_EV_CLOSE,		/* the session is over (QUIT answered, or fatal error) */
};

/* Reasons, for counters and logs; stable names in alg_reason_name(). */
enum alg_reason {
	ALG_R_NONE = 0,
	ALG_R_BOUNCE,		/* PORT/EPRT naming another host */
	ALG_R_LOWPORT,		/* data port < 1024 */
	ALG_R_SYNTAX,		/* malformed PORT/EPRT/LPRT, 227, 228, 229 */
	ALG_R_EPSV_ALL,		/* PORT/PASV after EPSV ALL */
	ALG_R_NOT_LOGGED_IN,	/* data command before login */
	ALG_R_FAMILY,		/* address family not usable */
	ALG_R_NOPORT,		/* no gateway port available */
	ALG_R_MAPFAIL,		/* the engine could not open the mapping */
	ALG_R_LONG_REFUSED,	/* LPRT/LPSV refused by policy */
	ALG_R_TLS_REFUSED,	/* AUTH refused by policy */
	ALG_R_PASV_ADDR,	/* 227/228 named another host: replaced */
	ALG_R_UNSOLICITED,	/* a data reply nothing asked for: ignored */
	ALG_R_LINE,		/* overlong line or NUL: session ended */
	ALG_R_QUEUE,		/* pipelining too deep */
	ALG_R_TLS,		/* session went blind (AUTH accepted) */
	ALG_R_NOT_FTP,		/* the connection is not FTP: no pinholes for its lifetime */
	ALG_R__COUNT
};
const char *alg_reason_name(enum alg_reason r);

/*
 * What an ALG_EV_REWRITE wrote, so that the engines count rewrites by kind
 * without reading the text (the names are the stats' "rewrites" keys).
 */
enum alg_rewrite {
	ALG_RW_NONE = 0,	/* not counted: PASV for an IPv6 client's EPSV */
	ALG_RW_PORT, ALG_RW_EPRT, ALG_RW_LPRT,	/* commands toward the server */
	ALG_RW_227, ALG_RW_228, ALG_RW_229,	/* replies toward the client */
	ALG_RW_EPSV,				/* EPSV toward the server */
	ALG_RW__COUNT
};

struct alg_event {
	uint8_t type;		/* enum alg_event_type */
	uint8_t reason;		/* enum alg_reason */
	uint8_t rewrite;	/* enum alg_rewrite, ALG_EV_REWRITE only */
	const struct alg_mapping *map;
	const char *before;	/* NUL-terminated clean text, or NULL */
	const char *after;
};

struct alg_session_ops {
	/* Bytes to send to a side.  The engine queues them in order. */
	void (*send)(void *ctx, enum alg_side to, const char *buf, size_t len);
	/* An event; only ALG_EV_MAP_OPEN looks at the return value. */
	int (*event)(void *ctx, const struct alg_event *ev);
	/*
	 * A free gateway port for an active mapping toward the server (family
	 * of gw_server).  Returns 0 with *port set, or -1.  May be NULL when
	 * the gateway has no port pool: then active mode is refused.
	 */
	int (*alloc_port)(void *ctx, uint8_t family, uint16_t *port);
};

struct alg_session;

/* The session's fixed size, for the memory figure in docs/design.md. */
size_t alg_session_size(void);

/* Returns NULL only when out of memory. */
struct alg_session *alg_session_new(const struct alg_policy *pol,
    const struct alg_session_addrs *addrs,
    const struct alg_session_ops *ops, void *ctx);
void alg_session_free(struct alg_session *s);

/* Lets the engine follow a WAN address change (dynamic WAN). */
void alg_session_set_addrs(struct alg_session *s, const struct alg_session_addrs *addrs);

/*
 * Feeds bytes that arrived from side `from`.  Returns how many were consumed;
 * fewer than len means the session is waiting for the other side (a data
 * command's reply must come first, or too many commands are pipelined): feed
 * the rest again after bytes from the other side.  -1 means the session is
 * over (ALG_EV_CLOSE was sent; alg_session_error() says why).
 */
long alg_session_input(struct alg_session *s, enum alg_side from, const char *data, size_t len);

/* A side hung up: drop its unterminated line (never forwarded unchecked), close mappings. */
void alg_session_eof(struct alg_session *s, enum alg_side from);

enum alg_state {
	ALG_ST_GREETING,	/* waiting for the server's 220 */
	ALG_ST_LOGIN,		/* before 230 */
	ALG_ST_READY,		/* logged in */
	ALG_ST_TLS,		/* encrypted: bytes pass blindly */
	ALG_ST_CLOSED,
	ALG_ST_NOTFTP,		/* not FTP (HTTP, junk, client first): bytes pass blindly,
				 * never a pinhole */
};
enum alg_state alg_session_state(const struct alg_session *s);
const char *alg_state_name(enum alg_state st);
enum alg_err alg_session_error(const struct alg_session *s);
/* The data-channel mode last set up: "PORT", "EPSV", ... or "-". */
const char *alg_session_mode(const struct alg_session *s);
/* True while a transfer runs (between a data command's 1xx and its final reply). */
bool alg_session_transferring(const struct alg_session *s);
/* The open mapping, if any. */
const struct alg_mapping *alg_session_mapping(const struct alg_session *s);

/* ---------------------------------------------------------------- packet engines */

/*
 * What a packet engine (which only forwards, and cannot answer the client
 * itself) sends for one line fed from `from`, given what the core wrote
 * toward each side for it (alg/subst.c).
 */
struct alg_subst {
	const char *fwd;	/* replaces the line, in the line's own direction */
	size_t fwd_len;
	bool hold_answer;	/* the core's client bytes wait: they replace the
				 * server's reply to fwd (NOOP, QUIT) */
	bool misdirected;	/* the core wrote to the server on server input: ignored */
};
void alg_subst_line(enum alg_side from, bool fatal, const char *to_server, size_t to_server_len,
    const char *to_client, size_t to_client_len, struct alg_subst *out);

#endif
