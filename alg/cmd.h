/*
 * cmd.h - inside alg/ only: the command table's handler types and the
 * handlers session.c provides.  Engines and tools see the table through
 * alg.h (struct alg_cmd_def, alg_cmd_lookup()) and never call a handler.
 */
#ifndef FTPALG_ALG_CMD_H
#define FTPALG_ALG_CMD_H

#include "alg/alg.h"

struct alg_pending;

/* One client command line, as the request handler gets it. */
struct alg_cmd_req {
	const struct alg_cmd_def *def;
	const char *raw;	/* as received, IAC sequences and CRLF included */
	size_t rawlen;
	const char *clean;	/* NUL-terminated, IAC and CRLF removed */
	size_t cl;
	const char *arg;	/* past the verb and its spaces, inside clean */
	size_t arglen;
};

/* One line of the reply to a queued command. */
struct alg_cmd_rep {
	struct alg_pending *p;	/* the command it answers (head of the FIFO) */
	int code;		/* the reply's code (the open one inside a multi-line reply) */
	bool final;		/* the reply is complete with this line */
	const char *raw;
	size_t rawlen;
	const char *clean;
	size_t cl;
};

/*
 * Request handler: decides what becomes of the command (queue and forward,
 * rewrite, refuse).  NULL in a row: queued and forwarded as it is.
 * Reply handler: called for every line of the reply to the command; returns
 * true when it sent the line (or what replaces it) itself, false to have it
 * forwarded unchanged.  NULL in a row: forwarded.
 */
typedef void alg_req_fn(struct alg_session *s, const struct alg_cmd_req *r);
typedef bool alg_rep_fn(struct alg_session *s, const struct alg_cmd_rep *r);

/* Handlers (session.c) the table in cmd.c points at. */
alg_req_fn alg_req_active, alg_req_passive, alg_req_auth;
alg_rep_fn alg_rep_active, alg_rep_passive, alg_rep_login, alg_rep_auth,
    alg_rep_rein, alg_rep_quit;

/* The row at index i (the FIFO stores indexes); row 0 is the unknown command. */
const struct alg_cmd_def *alg_cmd_row(unsigned i);
unsigned alg_cmd_index(const struct alg_cmd_def *d);

#endif
