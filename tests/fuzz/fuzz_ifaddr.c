/*
 * fuzz_ifaddr.c - libFuzzer target over the rtnetlink address parser
 * (engine/ifaddr_parse.c): the input is a buffer as recv() would return it
 * from a NETLINK_ROUTE socket.
 *
 * The parser is compiled into the target (#include below) rather than
 * linked: it is pure, and the fuzz and replay builds link only alg/ and
 * tools/, not engine/ with its libmnl dependency.
 *
 * Besides the sanitizers it checks the parser's promises: every reported
 * address has the message's family and a plausible prefix length, and the
 * address list stays within IFADDR_MAX with only the events' addresses in it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/ifaddr_parse.c"

struct fz_ctx {
	struct ifaddr_list list;
	unsigned events;
};

static void
fz_on_event(void *ctx, const struct ifaddr_event *ev)
{
	struct fz_ctx *c = ctx;

	if (ev->family == AF_INET && ev->addr.family != ALG_AF_INET)
		abort();
	if (ev->family == AF_INET6 && ev->addr.family != ALG_AF_INET6)
		abort();
	if (ev->type != RTM_NEWADDR && ev->type != RTM_DELADDR)
		abort();
	ifaddr_apply(&c->list, ev);
	if (c->list.n > IFADDR_MAX)
		abort();
	c->events++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_ctx c;
	const struct ifaddr_event *e4, *e6;
	int r;

	memset(&c, 0, sizeof(c));
	r = ifaddr_parse(data, size, fz_on_event, &c);
	if (r < -1 || r > 1)
		abort();
	e4 = ifaddr_pick(&c.list, AF_INET);
	e6 = ifaddr_pick(&c.list, AF_INET6);
	if ((e4 != NULL && e4->family != AF_INET) || (e6 != NULL && e6->family != AF_INET6))
		abort();
	if (e4 != NULL && e4->scope != 0)
		abort();
	return 0;
}
