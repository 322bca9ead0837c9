/*
 * pinhole.h - the engines' pinhole manager: turns the core's data mappings
 * into nat/ pinholes, draws gateway ports, enforces the global limit, and
 * follows each pinhole through opened -> used -> closed, or expired.
 * One table per daemon, shared by both engines (engine/gateway.h): one port
 * pool, one max-pinholes budget.
 */
#ifndef FTPALG_PINHOLE_H
#define FTPALG_PINHOLE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "alg/alg.h"
#include "nat/nat.h"

struct ph_stats {
	uint64_t opened, used, expired, closed, refused, failed;
};

struct pinhole;		/* one open pinhole: the accessors below */
struct ph_table;

struct ph_table *ph_new(struct nat_table *nat, uint32_t max, uint16_t port_min, uint16_t port_max);
void ph_free(struct ph_table *t);
/* Reload: the limit and the port range for pinholes opened from now on. */
void ph_set_limits(struct ph_table *t, uint32_t max, uint16_t port_min, uint16_t port_max);

/*
 * A random gateway port in the range, not held by an open pinhole.  With
 * listen, also one no local socket holds (a relay will listen on it).
 */
int ph_alloc_port(struct ph_table *t, uint16_t *port, bool listen);
/* Holds (or frees) a port of the pool for a user other than a pinhole: the relay. */
void ph_port_hold(struct ph_table *t, uint16_t port, bool on);
/*
 * Keeps port from being drawn for for_ms: a predecessor announced an active
 * pinhole on it to server peer, and a resumed connection will open it again
 * (ph_open of a translated mapping to that peer and port takes it over).
 * -1: EEXIST (held already), ENOSPC (as many kept as max-pinholes).
 */
int ph_reserve(struct ph_table *t, const struct alg_endpoint *peer, uint16_t port,
    uint32_t for_ms, uint64_t now_ms);
unsigned ph_reserved(const struct ph_table *t);

/*
 * For session number session of the engine whose log tag is tag ("[i12]").
 * NULL on failure, with a reason in why (limit reached, netlink error, a
 * translated mapping's gateway port held by another pinhole or a relay).
 */
struct pinhole *ph_open(struct ph_table *t, char tag, uint64_t session, const struct alg_mapping *m,
    char *why, size_t whylen);
/*
 * The same, and the connection it lets in leaves with source address snat
 * (inbound mappings: the gateway's own address on the side of m->to).
 */
struct pinhole *ph_open_snat(struct ph_table *t, char tag, uint64_t session, const struct alg_mapping *m,
    const struct alg_endpoint *snat, char *why, size_t whylen);
/*
 * A 1xx started the transfer: asks the kernel whether the connection came;
 * if so the pinhole stops counting against max-pinholes and its port is
 * free.  "Used" means the kernel saw the connection, not the 150.
 */
void ph_mark_used(struct ph_table *t, struct pinhole *p);
const struct alg_mapping *ph_map(const struct pinhole *p);
bool ph_used(const struct pinhole *p);
/* Its kernel element timed out unused (ph_tick). */
bool ph_expired(const struct pinhole *p);
/* False for a table without nftables (relay-only): ph_open always refuses. */
bool ph_has_kernel(const struct ph_table *t);
/*
 * Removes it from the kernel (if not consumed, committed before this
 * returns: a pinhole never outlives what it was opened for) and frees it.
 */
void ph_close(struct ph_table *t, struct pinhole *p);
/*
 * Commits queued kernel changes; notices pinholes consumed since their 1xx
 * and pinholes whose kernel element timed out; logs them.
 */
void ph_tick(struct ph_table *t, uint64_t now_ms);
/* When ph_tick next has something to do (EV_NEVER: nothing). */
uint64_t ph_next_due(const struct ph_table *t, uint64_t now_ms);

const struct ph_stats *ph_stats(const struct ph_table *t);
/* Pinholes open and not used: what max-pinholes bounds, what the kernel holds. */
unsigned ph_count(const struct ph_table *t);
void ph_json(const struct ph_table *t, FILE *out, uint64_t now_ms);
/* "active 203.0.113.2 -> 203.0.113.1:40000 => 192.168.1.2:1025" */
const char *ph_describe(const struct alg_mapping *m, char *buf, size_t len);

#endif
