/*
 * fuzz_session.c - libFuzzer target over the session core, fed from both sides.
 *
 * Input: byte 0 = policy and topology bits, byte 1 = failure injection, then
 * chunks of (header, bytes): header bit 7 = from the server, bits 0..6 + 1 =
 * chunk length.  The harness behaves like an engine: client bytes the core
 * does not take yet are kept and fed again after server bytes.
 *
 * Besides the sanitizers, it checks the core's promises: a PORT/EPRT/LPRT
 * never reaches the server with any address but the gateway's, every
 * mapping is exact and well-formed, the server side is never held, and
 * the client backlog stays bounded.  A session found not to be FTP (NAT
 * slipstreaming) passes bytes untouched but never opens a mapping again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alg/alg.h"

#define FZ_BACKLOG 8192

struct fz_engine {
	struct alg_session_addrs addrs;
	bool tls;
	bool notftp;		/* the core said: not FTP */
	bool fail_alloc, fail_map;
	uint16_t next_port;
	unsigned open_maps;
};

static void
fz_check_active(const struct fz_engine *e, const char *buf, size_t len)
{
	char clean[ALG_LINE_MAX];
	struct alg_endpoint ep;
	enum alg_err err;
	const char *arg;
	size_t arglen, cl;
	enum alg_cmd cmd;
	int rc;

	if (len >= ALG_LINE_MAX)
		return;
	cl = alg_line_clean(buf, len, clean);
	cmd = alg_cmd_parse(clean, cl, &arg, &arglen);
	if (cmd == ALG_CMD_PORT)
		rc = alg_parse_port(arg, arglen, &ep, &err);
	else if (cmd == ALG_CMD_EPRT)
		rc = alg_parse_eprt(arg, arglen, &ep, &err);
	else if (cmd == ALG_CMD_LPRT)
		rc = alg_parse_lprt(arg, arglen, &ep, &err);
	else
		return;
	/* Whatever reaches the server must be our own, well-formed rewrite. */
	if (rc < 0 || !alg_ep_same_addr(&ep, &e->addrs.gw_server))
		abort();
}

static void
fz_send(void *ctx, enum alg_side to, const char *buf, size_t len)
{
	struct fz_engine *e = ctx;

	if (len == 0)
		abort();	/* the core never sends empty chunks */
	if (to == ALG_SERVER && !e->tls && !e->notftp)
		fz_check_active(e, buf, len);
}

static int
fz_event(void *ctx, const struct alg_event *ev)
{
	struct fz_engine *e = ctx;
	const struct alg_mapping *m = ev->map;

	switch (ev->type) {
	case ALG_EV_MAP_OPEN:
		if (e->notftp)
			abort();	/* not FTP: no pinhole for its lifetime */
		if (m == NULL || m->dst.port == 0 || m->to.port == 0 || m->timeout_ms == 0)
			abort();
		if (m->kind == ALG_MAP_ACTIVE &&
		    (!alg_ep_same_addr(&m->dst, &e->addrs.gw_server) ||
		    !alg_ep_same_addr(&m->peer, &e->addrs.server) ||
		    !alg_ep_same_addr(&m->to, &e->addrs.client)))
			abort();
		if (m->kind == ALG_MAP_PASSIVE && !alg_ep_same_addr(&m->peer, &e->addrs.client))
			abort();
		if (e->fail_map)
			return -1;
		if (++e->open_maps > 1)
			abort();	/* at most one mapping per session */
		return 0;
	case ALG_EV_MAP_CLOSE:
		if (e->open_maps == 0)
			abort();
		e->open_maps--;
		return 0;
	case ALG_EV_TLS:
		e->tls = true;
		return 0;
	case ALG_EV_NOTICE:
		if (ev->reason == ALG_R_NOT_FTP) {
			if (e->notftp || e->open_maps != 0)
				abort();	/* said once; the open mapping closed first */
			e->notftp = true;
		}
		return 0;
	default:
		return 0;
	}
}

static int
fz_alloc(void *ctx, uint8_t family, uint16_t *port)
{
	struct fz_engine *e = ctx;

	if (e->fail_alloc)
		return -1;
	*port = e->next_port++;
	if (e->next_port < 40000)
		e->next_port = 40000;
	return 0;
}

static const struct alg_session_ops fz_ops = {
	.send = fz_send, .event = fz_event, .alloc_port = fz_alloc,
};

static void
fz_addr(struct alg_endpoint *ep, bool v6, uint8_t last, uint8_t net)
{
	memset(ep, 0, sizeof(*ep));
	if (v6) {
		ep->family = ALG_AF_INET6;
		ep->a[0] = 0x20; ep->a[1] = 0x01; ep->a[2] = 0x0d; ep->a[3] = 0xb8;
		ep->a[5] = net;
		ep->a[15] = last;
	} else {
		ep->family = ALG_AF_INET;
		ep->a[0] = net == 1 ? 192 : 203;
		ep->a[1] = net == 1 ? 168 : 0;
		ep->a[2] = net == 1 ? 1 : 113;
		ep->a[3] = last;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char backlog[FZ_BACKLOG];
	struct fz_engine e;
	struct alg_policy pol;
	struct alg_session *s;
	size_t blen = 0, i;
	bool cv6, sv6, closed = false;

	if (size < 2)
		return 0;
	memset(&e, 0, sizeof(e));
	alg_policy_default(&pol);
	pol.pasv = data[0] & 1 ? ALG_PASV_RELAXED : ALG_PASV_STRICT;
	pol.port_addr = data[0] & 2 ? ALG_PORTADDR_CLIENT : ALG_PORTADDR_REFUSE;
	pol.tls = data[0] & 4 ? ALG_TLS_REFUSE : ALG_TLS_PASS;
	pol.long_cmds = data[0] & 8 ? ALG_LONG_REFUSE : ALG_LONG_TRANSLATE;
	pol.allow_low_ports = data[0] & 16;
	pol.require_login = !(data[0] & 32);
	e.addrs.passive_via_gw = data[0] & 64;
	sv6 = data[0] & 128;
	cv6 = data[1] & 4;
	e.fail_alloc = data[1] & 1;
	e.fail_map = data[1] & 2;
	e.next_port = 40000;
	fz_addr(&e.addrs.client, cv6, 2, 1);
	fz_addr(&e.addrs.gw_client, cv6, 1, 1);
	fz_addr(&e.addrs.gw_server, sv6, 1, 2);
	fz_addr(&e.addrs.server, sv6, 2, 2);
	if (!e.addrs.passive_via_gw && cv6 == sv6)
		e.addrs.gw_client = e.addrs.server;	/* transparent: the client dialled the server */

	s = alg_session_new(&pol, &e.addrs, &fz_ops, &e);
	if (s == NULL)
		return 0;
	for (i = 2; i < size && !closed;) {
		bool from_server = data[i] & 0x80;
		size_t n = (size_t)(data[i] & 0x7f) + 1;
		long r;

		i++;
		if (n > size - i)
			n = size - i;
		if (from_server) {
			r = alg_session_input(s, ALG_SERVER, (const char *)data + i, n);
			if (r < 0)
				closed = true;
			else if ((size_t)r != n && alg_session_state(s) != ALG_ST_CLOSED)
				abort();	/* the server side is never held */
		} else if (blen + n <= sizeof(backlog)) {
			memcpy(backlog + blen, data + i, n);
			blen += n;
		}
		i += n;
		/* Feed the client backlog, as an engine would after any event. */
		if (!closed && blen > 0) {
			r = alg_session_input(s, ALG_CLIENT, backlog, blen);
			if (r < 0)
				closed = true;
			else {
				if ((size_t)r > blen)
					abort();
				memmove(backlog, backlog + r, blen - (size_t)r);
				blen -= (size_t)r;
			}
		}
		if (alg_session_state(s) == ALG_ST_CLOSED)
			closed = true;
	}
	alg_session_eof(s, ALG_CLIENT);
	if (e.open_maps != 0)
		abort();	/* closing the session closes its mapping */
	alg_session_free(s);
	return 0;
}
