/*
 * ifaddr.c - the rtnetlink half of ifaddr.h: a NETLINK_ROUTE socket (libmnl)
 * subscribed to address changes, a dump at start, and the interface's
 * addresses kept in an ifaddr_list.
 *
 * The interface is followed by name, not by index: a PPPoE interface is
 * created anew (with a new index) on every reconnect.  An address message
 * is ours when its index names our interface now; a deletion is matched on
 * what we stored, so it is recognised even after the interface is gone.
 *
 * Subscribing before dumping means an event can overtake the dump's view
 * of the same address; applying both is harmless (add is idempotent).  On
 * ENOBUFS (events were lost) the list is thrown away and dumped afresh.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include "engine/elog.h"
#include "engine/event.h"
#include "engine/ifaddr.h"

/* Dump datagrams are at most a page; 16 KiB holds any page size in use. */
#define IFADDR_BUF 16384

struct ifaddr_watch {
	struct ev_handler h;
	struct mnl_socket *nl;
	uint32_t portid, seq;
	char ifname[IF_NAMESIZE];
	ifaddr_cb cb;
	void *ctx;
	struct ifaddr_list list;
	struct alg_endpoint cur[2];	/* [0] IPv4, [1] IPv6: last reported */
	bool dumping;
};

static int
ifaddr_dump(struct ifaddr_watch *w)
{
	char buf[IFADDR_BUF];
	struct nlmsghdr *nh = mnl_nlmsg_put_header(buf);
	struct ifaddrmsg *ifa;

	nh->nlmsg_type = RTM_GETADDR;
	nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nh->nlmsg_seq = w->seq = (uint32_t)time(NULL);
	ifa = mnl_nlmsg_put_extra_header(nh, sizeof(*ifa));
	ifa->ifa_family = AF_UNSPEC;
	if (mnl_socket_sendto(w->nl, nh, nh->nlmsg_len) < 0)
		return -1;
	w->dumping = true;
	return 0;
}

/* Whether an event is about our interface (by name now, or by what we hold). */
static bool
ifaddr_ours(const struct ifaddr_watch *w, const struct ifaddr_event *ev)
{
	char name[IF_NAMESIZE];

	if (if_indextoname(ev->ifindex, name) != NULL && strcmp(name, w->ifname) == 0)
		return true;
	if (ev->type != RTM_DELADDR)
		return false;
	for (unsigned i = 0; i < w->list.n; i++)
		if (w->list.a[i].ifindex == ev->ifindex)
			return true;
	return false;
}

static void
ifaddr_on_event(void *ctx, const struct ifaddr_event *ev)
{
	struct ifaddr_watch *w = ctx;
	char a[ALG_EP_STRLEN];

	if (!ifaddr_ours(w, ev))
		return;
	elog_debug("%s: %s %s/%u scope %u flags 0x%x", w->ifname,
	    ev->type == RTM_NEWADDR ? "new" : "deleted",
	    alg_ep_str(&ev->addr, a, sizeof(a)), ev->prefixlen, ev->scope, ev->flags);
	ifaddr_apply(&w->list, ev);
}

/* Reports each family whose chosen address differs from the last report. */
static void
ifaddr_report(struct ifaddr_watch *w)
{
	static const int afs[2] = { AF_INET, AF_INET6 };

	for (int i = 0; i < 2; i++) {
		const struct ifaddr_event *e = ifaddr_pick(&w->list, (uint8_t)afs[i]);
		struct alg_endpoint now;
		char a[ALG_EP_STRLEN], b[ALG_EP_STRLEN];

		memset(&now, 0, sizeof(now));
		if (e != NULL)
			now = e->addr;
		if (now.family == w->cur[i].family &&
		    (now.family == ALG_AF_NONE || alg_ep_equal(&now, &w->cur[i])))
			continue;
		if (now.family == ALG_AF_NONE)
			elog_info("public interface %s: no IPv%d address any more (was %s)",
			    w->ifname, i == 0 ? 4 : 6, alg_ep_str(&w->cur[i], a, sizeof(a)));
		else if (w->cur[i].family == ALG_AF_NONE)
			elog_info("public interface %s: IPv%d address %s", w->ifname,
			    i == 0 ? 4 : 6, alg_ep_str(&now, a, sizeof(a)));
		else
			elog_info("public interface %s: IPv%d address changed from %s to %s",
			    w->ifname, i == 0 ? 4 : 6, alg_ep_str(&w->cur[i], a, sizeof(a)),
			    alg_ep_str(&now, b, sizeof(b)));
		w->cur[i] = now;
		w->cb(w->ctx, afs[i], &now);
	}
}

static void
ifaddr_event_fn(struct ev_handler *h, uint32_t events)
{
	struct ifaddr_watch *w = ev_container_of(h, struct ifaddr_watch, h);
	char buf[IFADDR_BUF];

	/* Bounded: at most this many datagrams per readiness event. */
	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(mnl_socket_get_fd(w->nl), buf, sizeof(buf), MSG_DONTWAIT);
		int r;

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			if (errno == ENOBUFS) {
				/* Events were lost: start over from a dump. */
				elog_warnx("public interface %s: netlink overrun, re-reading "
				    "addresses", w->ifname);
				memset(&w->list, 0, sizeof(w->list));
				if (ifaddr_dump(w) < 0)
					elog_warn("rtnetlink dump");
				continue;
			}
			elog_warn("rtnetlink receive");
			break;
		}
		r = ifaddr_parse(buf, (size_t)n, ifaddr_on_event, w);
		if (r < 0) {
			elog_warnx("public interface %s: unreadable rtnetlink message", w->ifname);
			continue;
		}
		if (r == 1)
			w->dumping = false;
	}
	if (!w->dumping)
		ifaddr_report(w);
}

struct ifaddr_watch *
ifaddr_open(const char *ifname, int epfd, ifaddr_cb cb, void *ctx)
{
	struct ifaddr_watch *w;
	struct epoll_event ev;
	int saved, rcvbuf = 1 << 20;

	if (strlen(ifname) >= IF_NAMESIZE) {
		errno = EINVAL;
		return NULL;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	snprintf(w->ifname, sizeof(w->ifname), "%s", ifname);
	w->cb = cb;
	w->ctx = ctx;
	w->h.fn = ifaddr_event_fn;
	w->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (w->nl == NULL)
		goto fail;
	/* Bursts of address events (a PPPoE reconnect) must not overrun. */
	setsockopt(mnl_socket_get_fd(w->nl), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (mnl_socket_bind(w->nl, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	w->portid = mnl_socket_get_portid(w->nl);
	if (ifaddr_dump(w) < 0)
		goto fail;
	ev.events = EPOLLIN;
	ev.data.ptr = &w->h;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, mnl_socket_get_fd(w->nl), &ev) < 0)
		goto fail;
	return w;
fail:
	saved = errno;
	if (w->nl != NULL)
		mnl_socket_close(w->nl);
	free(w);
	errno = saved;
	return NULL;
}

void
ifaddr_close(struct ifaddr_watch *w)
{
	if (w == NULL)
		return;
	mnl_socket_close(w->nl);
	free(w);
}
