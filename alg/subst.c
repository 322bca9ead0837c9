/*
 * subst.c - what a packet engine sends where the core answered itself.
 *
 * The proxy engine writes the core's local answers (501 for a bounce PORT,
 * 421 on a protocol error) straight to the client.  A packet engine cannot:
 * it only forwards each direction's bytes, and a segment of its own would
 * need sequence space the client never sent.  So the command travels on in
 * a harmless form and the server's reply to it is replaced by the answer:
 *   - a locally answered command reaches the server as NOOP (unless the
 *     core sent something of its own), its reply becomes the answer; the
 *     order of replies holds because the core answers only when nothing
 *     is pending;
 *   - a protocol error of the client: the server hears QUIT, its 221
 *     becomes the core's 421;
 *   - a protocol error of the server: the client gets the core's output
 *     in place of the server's line.
 * Pure decision over what the core wrote; the engine carries it out.
 */
#include "alg/alg.h"

static const char alg_subst_noop[] = "NOOP\r\n";
static const char alg_subst_quit[] = "QUIT\r\n";

void
alg_subst_line(enum alg_side from, bool fatal, const char *to_server, size_t to_server_len,
    const char *to_client, size_t to_client_len, struct alg_subst *out)
{
	out->misdirected = false;
	out->hold_answer = false;
	if (from == ALG_SERVER) {
		/* A server line only ever becomes bytes for the client. */
		out->fwd = to_client;
		out->fwd_len = to_client_len;
		out->misdirected = !fatal && to_server_len > 0;
		return;
	}
	if (fatal) {
		out->fwd = alg_subst_quit;
		out->fwd_len = sizeof(alg_subst_quit) - 1;
		out->hold_answer = true;
		return;
	}
	out->fwd = to_server;
	out->fwd_len = to_server_len;
	if (to_client_len == 0)
		return;
	out->hold_answer = true;
	if (to_server_len == 0) {
		out->fwd = alg_subst_noop;
		out->fwd_len = sizeof(alg_subst_noop) - 1;
	}
}
