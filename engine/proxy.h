/*
 * proxy.h - the proxy engine: terminates FTP control connections (redirected
 * or TPROXYed outbound ones, and inbound ones in front of an intranet
 * server), runs both byte streams through alg/, and turns the core's
 * mappings into nat/ pinholes, or into userspace relays (relay.h) where a
 * pinhole cannot serve: across address families, for mappings configured
 * `relay`, and without nftables.  Only relayed data passes through it.
 */
#ifndef FTPALG_PROXY_H
#define FTPALG_PROXY_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "daemon/config.h"
#include "nat/nat.h"

struct proxy;

struct proxy *proxy_new(const struct ftpalg_config *cfg, struct nat_table *nat, int epfd);
void proxy_free(struct proxy *px);

/*
 * A transparent listener (redirect or TPROXY): the server is the connection's
 * original destination.  With `server` set, an inbound listener in front of
 * that server instead.  Returns 0 or -1 with errno.
 */
int proxy_listen(struct proxy *px, const struct sockaddr_storage *addr, bool tproxy,
    const struct sockaddr_storage *server);

/*
 * The listener(s) of an inbound mapping: "[::]:P" takes both families; a
 * public:PORT mapping is bound on the public address once it is known
 * (proxy_public_start) and re-bound whenever it changes.  0 or -1 with errno.
 */
int proxy_listen_mapping(struct proxy *px, const struct cfg_mapping *m);

/*
 * Starts following the public address: the fixed public-address values, or
 * the public-interface's addresses through rtnetlink.  Call after the
 * mappings are listening.  0 or -1 with errno.
 */
int proxy_public_start(struct proxy *px);

/* Timeouts: connect, idle control sessions, closing ones, pinhole expiry. */
void proxy_tick(struct proxy *px, uint64_t now_ms);

unsigned proxy_nsessions(const struct proxy *px);
unsigned proxy_npinholes(const struct proxy *px);
/* The control socket's answers: what = "sessions", "pinholes", "relays" or "stats". */
void proxy_json(const struct proxy *px, const char *what, FILE *out);

#endif
