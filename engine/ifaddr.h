/*
 * ifaddr.h - follows the public address of one interface (dynamic WAN,
 * PPPoE, DHCP) through rtnetlink: RTM_NEWADDR / RTM_DELADDR, with a full
 * dump at start and after a netlink overrun.
 *
 * Two layers: ifaddr_parse() and ifaddr_pick() are pure (no system calls:
 * unit-tested and fuzzed, tests/fuzz/fuzz_ifaddr.c); ifaddr_open() owns the
 * NETLINK_ROUTE socket (libmnl) and reports the chosen address of each
 * family whenever it changes.
 */
#ifndef FTPALG_IFADDR_H
#define FTPALG_IFADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alg/alg.h"

/* One address message, as far as ftpalgd cares. */
struct ifaddr_event {
	uint16_t type;		/* RTM_NEWADDR or RTM_DELADDR */
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t prefixlen;
	uint8_t scope;		/* RT_SCOPE_* */
	uint32_t flags;		/* IFA_F_*, from IFA_FLAGS when present */
	uint32_t ifindex;
	struct alg_endpoint addr;	/* port 0 */
};

/*
 * Walks a buffer of netlink messages (as recv() returns them) and calls fn
 * for each well-formed address message.  Returns 1 when the buffer held the
 * end of a dump (NLMSG_DONE), 0 otherwise, or -1 when it is malformed or
 * holds an error message (the caller re-dumps).  Never reads beyond len.
 */
int ifaddr_parse(const void *buf, size_t len,
    void (*fn)(void *ctx, const struct ifaddr_event *ev), void *ctx);

/* The addresses known for the interface, per family, in arrival order. */
#define IFADDR_MAX 8

struct ifaddr_list {
	unsigned n;
	struct ifaddr_event a[IFADDR_MAX];
};

/* Applies one event (NEW adds or refreshes, DEL removes).  Full: the oldest goes. */
void ifaddr_apply(struct ifaddr_list *l, const struct ifaddr_event *ev);

/*
 * The address to publish: global scope, usable (IPv4: a primary address;
 * IPv6: not tentative, deprecated, DAD-failed or temporary), the first such
 * in the list.  NULL when there is none.
 */
const struct ifaddr_event *ifaddr_pick(const struct ifaddr_list *l, uint8_t family);

struct ifaddr_watch;

/* Called with the new address of a family, or with family ALG_AF_NONE in addr->family when it is gone. */
typedef void (*ifaddr_cb)(void *ctx, int af, const struct alg_endpoint *addr);

/* Registers with the daemon's epoll set.  NULL with errno on failure. */
struct ifaddr_watch *ifaddr_open(const char *ifname, int epfd, ifaddr_cb cb, void *ctx);
void ifaddr_close(struct ifaddr_watch *w);

#endif
