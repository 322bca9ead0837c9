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

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "alg/alg.h"

struct proxy;
struct gateway;

/* What the proxy engine is told (daemon/: from ftpalgd.conf). */
struct proxy_params {
	struct alg_policy policy;
	uint32_t max_sessions;
	uint32_t max_sessions_per_client;
	uint8_t client_prefix6;		/* an IPv6 client is its prefix (engine/clientkey.h) */
	uint32_t connect_timeout_ms;	/* to the server */
	uint32_t idle_timeout_ms;	/* control idle, not counted during transfers */
	/* The public address for public:PORT mappings: followed on public_iif,
	 * or fixed (one per family). */
	char public_iif[32];		/* "" = none */
	struct sockaddr_storage public_addr[2];
	unsigned n_public_addr;
};

/* An inbound mapping: a public port in front of an intranet server. */
struct proxy_mapping {
	struct sockaddr_storage listen;	/* address:port accepted on ([::]:P: both families) */
	struct sockaddr_storage server;	/* the intranet server */
	bool relay;			/* data through the userspace relay */
	bool on_public;			/* listen on the public address, re-bound on change */
};

/*
 * gw: the shared layer (engine/gateway.h) holding the one pinhole table
 * and the relays.  epfd: the daemon's epoll set.  NULL with errno.
 */
struct proxy *proxy_new(const struct proxy_params *p, struct gateway *gw, int epfd);
void proxy_free(struct proxy *px);

/*
 * A transparent listener (redirect or TPROXY): the server is the connection's
 * original destination.  With `server` set, an inbound listener in front of
 * that server instead.  "[::]:P" listens on both families.  0 or -1 with errno.
 */
int proxy_listen(struct proxy *px, const struct sockaddr_storage *addr, bool tproxy,
    const struct sockaddr_storage *server);

/*
 * The listener(s) of an inbound mapping: "[::]:P" takes both families; a
 * public:PORT mapping is bound on the public address once it is known
 * (proxy_public_start) and re-bound whenever it changes.  0 or -1 with errno.
 */
int proxy_listen_mapping(struct proxy *px, const struct proxy_mapping *m);

/*
 * Starts following the public address: the fixed public-address values, or
 * the public-interface's addresses through rtnetlink.  Call after the
 * mappings are listening.  0 or -1 with errno.
 */
int proxy_public_start(struct proxy *px);

/* Timeouts: connect, idle control sessions, closing ones (pinholes: gw_tick). */
void proxy_tick(struct proxy *px, uint64_t now_ms);
/* When proxy_tick next has something to do (EV_NEVER: nothing). */
uint64_t proxy_next_due(const struct proxy *px, uint64_t now_ms);

/* What a reload hands the proxy: its listeners and mappings, as at start. */
struct proxy_listeners {
	const struct sockaddr_storage *listen;	/* transparent; "[::]:P" takes both families */
	unsigned n_listen;
	bool tproxy;
	const struct proxy_mapping *maps;
	unsigned n_maps;
};

/*
 * Reload, in two steps so that nothing changes unless everything can.
 * proxy_reload_prepare() opens the listening sockets that next adds (the
 * old ones keep accepting; one whose port a new one needs is closed first);
 * -1 with a reason in why if one cannot be opened, and then nothing
 * changed.  proxy_reload_commit() then closes the sockets next drops (their
 * live sessions go on), updates kept ones in place (server, relay, tproxy)
 * and takes p for the sessions accepted from then on; a new public address
 * (or interface) is taken as if the WAN address had changed.  Call it
 * between epoll batches.  proxy_reload_abort() undoes a prepare instead.
 */
int proxy_reload_prepare(struct proxy *px, const struct proxy_listeners *next, char *why,
    size_t whylen);
void proxy_reload_commit(struct proxy *px, const struct proxy_listeners *next,
    const struct proxy_params *p);
void proxy_reload_abort(struct proxy *px);

unsigned proxy_nsessions(const struct proxy *px);
/* The pinholes this engine's sessions hold. */
unsigned proxy_npinholes(const struct proxy *px);
/* The control socket's answers: what = "sessions", "pinholes", "relays" or "stats". */
void proxy_json(const struct proxy *px, const char *what, FILE *out);

#endif
