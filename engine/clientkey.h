/*
 * clientkey.h - what the per-client limits count as one client.
 *
 * An IPv4 address is one client.  An IPv6 client has a whole prefix (a /64
 * per subscriber is the norm, RFC 6177), and picks a new address of it at
 * will (privacy addresses): counting addresses would let one subscriber be
 * as many clients as it likes.  So an IPv6 address counts as its first
 * `prefix6` bits (client-prefix6, 64 by default).  An IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) is the IPv4 client it names.
 *
 * Pure code (alg/ types, no system headers) so that both engines, the proxy
 * (alg_endpoint) and the inline engine (raw packet bytes), share one rule and
 * the unit tests can check it without sockets.  It lives in engine/ and not
 * in alg/: it is a counting policy of the engines, not FTP.
 */
#ifndef FTPALG_CLIENTKEY_H
#define FTPALG_CLIENTKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alg/alg.h"

#define CLIENT_PREFIX6_DEFAULT 64

/* The key of addr: the address masked as above, port 0. */
void client_key(const struct alg_endpoint *addr, unsigned prefix6, struct alg_endpoint *key);

/* Whether a and b count as the same client (ports ignored). */
bool client_same(const struct alg_endpoint *a, const struct alg_endpoint *b, unsigned prefix6);

/* The client for log lines: "192.0.2.1" or "2001:db8:1:2::/64".  Returns buf. */
const char *client_str(const struct alg_endpoint *addr, unsigned prefix6, char *buf, size_t len);

#endif
