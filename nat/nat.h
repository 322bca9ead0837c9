/*
 * nat.h - the only code of ftpalg that talks to the kernel's netfilter.
 *
 * Knows nothing of FTP: it owns one nftables table (family inet) holding
 * exact, one-shot, self-expiring pinholes, and reads a redirected socket's
 * original destination.  Built on libmnl + libnftnl; no `nft` subprocess.
 *
 * Errors: -1 with errno set (libmnl style).  nat_strerror-like text comes
 * from strerror(errno); nat_last_error() adds the netlink context.
 *
 * The table (names fixed; the table name is configurable):
 *
 *   table inet ftpalg {
 *     set pin4  { type ipv4_addr . ipv4_addr . inet_service; flags timeout; }
 *     set pin6  { type ipv6_addr . ipv6_addr . inet_service; flags timeout; }
 *     map dnat4 { type ipv4_addr . ipv4_addr . inet_service :
 *                 ipv4_addr . inet_service; flags timeout; }
 *     map dnat6 { same for IPv6 }
 *     map snat4 { type ipv4_addr . ipv4_addr . inet_service : ipv4_addr; flags timeout; }
 *     map snat6 { same for IPv6 }
 *     chain pinhole { type nat hook prerouting priority dstnat - 5; policy accept;
 *       ip  saddr . ip  daddr . tcp dport @pin4 delete @pin4 { ... }
 *             ct mark set ct mark | MARK dnat ip to ip saddr . ip daddr . tcp dport map @dnat4
 *       (the same for ip6)
 *     }
 *     chain snat { type nat hook postrouting priority srcnat - 5; policy accept;
 *       snat ip to ct original ip saddr . ct original ip daddr . ct original proto-dst
 *             map @snat4
 *       (the same for ip6)
 *     }
 *     chain intercept { type nat hook prerouting priority dstnat; policy accept;
 *       iifname "lan" tcp dport { 21, 2121 } redirect to :LISTEN }     (optional)
 *   }
 *
 * Every set has `flags timeout`, `gc-interval 250ms` and a size of 16 x
 * max_elements (at least 65535): room for elements the kernel has not
 * garbage-collected yet (see nft.c, nat_put_set).
 *
 * A pinhole is an element (saddr . daddr . dport) in pin4/pin6 and, when it
 * translates, an element of dnat4/dnat6 with the new destination.  The first
 * matching packet (nat chains see only a connection's first packet) deletes
 * the pin element, so a pinhole serves one connection; the conntrack entry
 * gets MARK so that the admin's own filter can accept it ("ct mark & MARK ==
 * MARK accept"), and DNATed flows also carry "ct status dnat".  A pinhole
 * with `snat` set also has an element in snat4/snat6 under the same key: the
 * connection it lets in leaves with that source address (a full proxy's view
 * for both ends: servers that compare the data connection's source with the
 * control connection's, and hairpin clients on the server's own LAN).
 */
#ifndef FTPALG_NAT_H
#define FTPALG_NAT_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct nat_addr {
	int family;		/* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} u;
};

struct nat_pinhole {
	struct nat_addr saddr;	/* who may connect */
	struct nat_addr daddr;	/* the address the connection is sent to */
	uint16_t dport;		/* host byte order */
	bool dnat;		/* deliver to to_addr:to_port instead */
	struct nat_addr to_addr;
	uint16_t to_port;
	uint32_t timeout_ms;	/* element timeout; the kernel removes it after */
	bool snat;		/* rewrite the source to snat_addr (inbound mappings) */
	struct nat_addr snat_addr;
};

#define NAT_MAX_INTERCEPT_PORTS 8

struct nat_config {
	const char *table;	/* nftables table name, e.g. "ftpalg" */
	uint32_t mark;		/* ct mark bits set on pinholed connections (non-zero) */
	uint32_t max_elements;	/* live pinholes; the sets are sized for more (see nft.c) */
	uint32_t set_size;	/* 0, or the exact kernel set size (tests) */
	/* Optional interception: redirect control connections to our listener. */
	const char *intercept_iif;	/* NULL or "" = no intercept chain */
	uint16_t intercept_ports[NAT_MAX_INTERCEPT_PORTS];
	unsigned n_intercept_ports;
	uint16_t listen_port;	/* redirect target */
};

struct nat_table;

/*
 * Creates the table in one atomic batch; a table of the same name left by a
 * crashed predecessor is deleted in the same batch.  NULL with errno on error.
 */
struct nat_table *nat_open(const struct nat_config *cfg);
/* Deletes the table and frees everything. */
void nat_close(struct nat_table *t);
/* Deletes a stale table of that name, if any (for `ftpalgd --cleanup`). */
int nat_cleanup(const char *table);

/*
 * Element changes are queued and committed together, one nftables
 * transaction for all of them (a transaction costs far more than an
 * element, and every commit makes the kernel's set garbage collector start
 * over).  Nothing on this path makes the kernel roll a transaction back:
 * adds replace whatever stale element has their key (no NLM_F_EXCL, the
 * key is destroyed first in the same transaction), and deletes are DESTROYs,
 * which do not fail when the element is gone.  Should the kernel still
 * refuse an element, that element's pinhole fails alone: the rest of the
 * transaction is sent again without it.
 *
 * Adds the pinhole and commits at once, with whatever else is queued: the
 * caller announces the pinhole to a peer as soon as this returns.
 */
int nat_pinhole_add(struct nat_table *t, const struct nat_pinhole *p);
/*
 * Queues the removal of a pinhole's elements (pin, dnat, snat); it reaches
 * the kernel with the next nat_pinhole_add() or nat_flush().  Removing one
 * that was used or expired is not an error.
 */
int nat_pinhole_del(struct nat_table *t, const struct nat_pinhole *p);
/* Commits what is queued: 0, or -1 if an element was refused (nat_last_error). */
int nat_flush(struct nat_table *t);
unsigned nat_queued(const struct nat_table *t);
/*
 * Whether the pinhole's pin element is still in the kernel: 1 yes (no
 * connection used it yet), 0 no (a connection consumed it, or it expired),
 * -1 on error.  A lookup, not a transaction.
 */
int nat_pinhole_state(struct nat_table *t, const struct nat_pinhole *p);

struct nat_stats {
	uint64_t transactions;	/* element transactions committed or tried */
	uint64_t aborts;	/* of them, rolled back by the kernel (then retried) */
	uint64_t refused;	/* elements the kernel refused */
	uint64_t rebuilds;	/* sets rebuilt after the kernel said they were full */
};
const struct nat_stats *nat_stats(const struct nat_table *t);

/* Last netlink error text, for log lines ("add element pin4: File exists"). */
const char *nat_last_error(const struct nat_table *t);

/*
 * The original destination of a connection that nftables `redirect`ed to
 * our listener (SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST), or for a TPROXY
 * socket simply its local address.  Returns 0 or -1 with errno.
 */
int nat_original_dst(int fd, struct sockaddr_storage *dst, bool tproxy);

/*
 * Reload: makes the intercept chain what cfg says (its intercept_* fields
 * and listen_port; no interface = no chain) in one transaction, leaving the
 * rest of the table and its pinholes alone.  cfg->table is not used (the
 * table stays the one of nat_open).  0, or -1 with errno and
 * nat_last_error().
 */
int nat_intercept_update(struct nat_table *t, const struct nat_config *cfg);

#endif
