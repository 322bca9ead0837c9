/*
 * proxy.h - the proxy engine: terminates FTP control connections (redirected
 * or TPROXYed outbound ones, and inbound ones in front of an intranet
 * server), runs both byte streams through alg/, and turns the core's
 * mappings into nat/ pinholes.  Data connections never pass through it.
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

/* Timeouts: connect, idle control sessions, closing ones, pinhole expiry. */
void proxy_tick(struct proxy *px, uint64_t now_ms);

unsigned proxy_nsessions(const struct proxy *px);
unsigned proxy_npinholes(const struct proxy *px);
/* The control socket's answers: what = "sessions", "pinholes" or "stats". */
void proxy_json(const struct proxy *px, const char *what, FILE *out);

#endif
