/*
 * ifaddr_parse.c - the pure half of ifaddr.h: rtnetlink address messages
 * into ifaddr_event, and the choice of the address to publish.
 *
 * No system calls and no library beyond libc and the kernel's UAPI headers
 * (the RTA_* and NLMSG_* macros are arithmetic), so the fuzz target links it
 * alone.  Every length is checked against the buffer before it is used:
 * the buffer comes from the kernel, but a bug here must not become a read
 * out of bounds in a daemon that runs as root.
 */
#include <string.h>
#include <sys/socket.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "engine/ifaddr.h"

#ifndef IFA_F_TEMPORARY
#define IFA_F_TEMPORARY IFA_F_SECONDARY
#endif

/*
 * One RTM_NEWADDR/RTM_DELADDR message of msglen bytes at msg (its header
 * included).  Headers are copied out with memcpy: the buffer need not be
 * aligned (the fuzzer's is not).  Returns 1 with *ev filled, 0 for a family
 * that is not ours, -1 when malformed.
 */
static int
ifaddr_one(const unsigned char *msg, size_t msglen, uint16_t type, struct ifaddr_event *ev)
{
	struct ifaddrmsg ifa;
	const unsigned char *local = NULL, *address = NULL;
	size_t alen, off;

	if (msglen < NLMSG_HDRLEN + sizeof(ifa))
		return -1;
	memcpy(&ifa, msg + NLMSG_HDRLEN, sizeof(ifa));
	if (ifa.ifa_family == AF_INET)
		alen = 4;
	else if (ifa.ifa_family == AF_INET6)
		alen = 16;
	else
		return 0;
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->family = ifa.ifa_family;
	ev->prefixlen = ifa.ifa_prefixlen;
	ev->scope = ifa.ifa_scope;
	ev->flags = ifa.ifa_flags;
	ev->ifindex = ifa.ifa_index;
	/* Attributes: rta_len covers its header, the next one starts aligned. */
	for (off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(ifa)); off < msglen &&
	    msglen - off >= sizeof(struct rtattr);) {
		struct rtattr rta;
		size_t plen;

		memcpy(&rta, msg + off, sizeof(rta));
		if (rta.rta_len < sizeof(rta) || rta.rta_len > msglen - off)
			return -1;
		plen = rta.rta_len - sizeof(rta);
		switch (rta.rta_type) {
		case IFA_LOCAL:
			if (plen == alen)
				local = msg + off + sizeof(rta);
			break;
		case IFA_ADDRESS:
			if (plen == alen)
				address = msg + off + sizeof(rta);
			break;
		case IFA_FLAGS:
			if (plen == sizeof(uint32_t))
				memcpy(&ev->flags, msg + off + sizeof(rta), sizeof(uint32_t));
			break;
		default:
			break;
		}
		off += RTA_ALIGN(rta.rta_len);
	}
	/*
	 * IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on
	 * a point-to-point link (PPPoE) and the own address everywhere else.
	 */
	if (local == NULL)
		local = address;
	if (local == NULL)
		return -1;
	ev->addr.family = (uint8_t)(alen == 4 ? ALG_AF_INET : ALG_AF_INET6);
	memcpy(ev->addr.a, local, alen);
	return 1;
}

int
ifaddr_parse(const void *buf, size_t len,
    void (*fn)(void *ctx, const struct ifaddr_event *ev), void *ctx)
{
	const unsigned char *p = buf;
	size_t off = 0;
	int done = 0;

	if (buf == NULL)
		return -1;
	while (len - off >= sizeof(struct nlmsghdr)) {
		struct nlmsghdr nh;
		struct ifaddr_event ev;
		size_t step;
		int r;

		memcpy(&nh, p + off, sizeof(nh));
		if (nh.nlmsg_len < sizeof(nh) || nh.nlmsg_len > len - off)
			return -1;
		switch (nh.nlmsg_type) {
		case NLMSG_DONE:
			done = 1;
			break;
		case NLMSG_ERROR:
			return -1;
		case RTM_NEWADDR:
		case RTM_DELADDR:
			r = ifaddr_one(p + off, nh.nlmsg_len, nh.nlmsg_type, &ev);
			if (r < 0)
				return -1;
			if (r > 0)
				fn(ctx, &ev);
			break;
		default:
			break;	/* NLMSG_NOOP, other rtnetlink messages */
		}
		step = NLMSG_ALIGN(nh.nlmsg_len);
		off += step < len - off ? step : len - off;
	}
	return off == len ? done : -1;	/* a piece shorter than a header: truncated */
}

static bool
ifaddr_same(const struct ifaddr_event *x, const struct ifaddr_event *y)
{
	return x->ifindex == y->ifindex && x->family == y->family &&
	    alg_ep_same_addr(&x->addr, &y->addr);
}

void
ifaddr_apply(struct ifaddr_list *l, const struct ifaddr_event *ev)
{
	unsigned i;

	for (i = 0; i < l->n; i++)
		if (ifaddr_same(&l->a[i], ev))
			break;
	if (ev->type == RTM_DELADDR) {
		if (i < l->n) {
			memmove(&l->a[i], &l->a[i + 1], (l->n - i - 1) * sizeof(l->a[0]));
			l->n--;
		}
		return;
	}
	if (i < l->n) {
		l->a[i] = *ev;	/* flags change: DAD done, deprecated */
		return;
	}
	if (l->n == IFADDR_MAX) {
		memmove(&l->a[0], &l->a[1], (IFADDR_MAX - 1) * sizeof(l->a[0]));
		l->n--;
	}
	l->a[l->n++] = *ev;
}

const struct ifaddr_event *
ifaddr_pick(const struct ifaddr_list *l, uint8_t family)
{
	const uint32_t v6_unusable = IFA_F_TENTATIVE | IFA_F_DEPRECATED | IFA_F_DADFAILED |
	    IFA_F_TEMPORARY;

	for (unsigned i = 0; i < l->n; i++) {
		const struct ifaddr_event *e = &l->a[i];

		if (e->family != family || e->scope != RT_SCOPE_UNIVERSE)
			continue;
		if (family == AF_INET && (e->flags & IFA_F_SECONDARY))
			continue;
		if (family == AF_INET6 && (e->flags & v6_unusable))
			continue;
		return e;
	}
	return NULL;
}
