/*
 * origdst.c - where a redirected (or TPROXYed) connection was going.
 */
#include "nat/nat.h"

#include <errno.h>
#include <string.h>

#include <linux/netfilter_ipv4.h>		/* SO_ORIGINAL_DST */
#include <linux/netfilter_ipv6/ip6_tables.h>	/* IP6T_SO_ORIGINAL_DST */

/*
 * An IPv4 connection accepted on a dual-stack IPv6 socket shows v4-mapped
 * addresses; callers get plain AF_INET, whichever socket they listen on.
 */
static void nat_unmap(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;

	memcpy(&s6, ss, sizeof(s6));
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_port = s6.sin6_port;
	memcpy(&s4.sin_addr, &s6.sin6_addr.s6_addr[12], sizeof(s4.sin_addr));
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &s4, sizeof(s4));
}

int nat_original_dst(int fd, struct sockaddr_storage *dst, bool tproxy)
{
	socklen_t len = sizeof(*dst);
	struct sockaddr_in6 s6;
	bool mapped = false;
	int family;

	if (!dst) {
		errno = EINVAL;
		return -1;
	}
	memset(dst, 0, sizeof(*dst));
	/* TPROXY keeps the original destination as the socket's own address. */
	if (getsockname(fd, (struct sockaddr *)dst, &len) < 0)
		return -1;
	family = dst->ss_family;
	if (family != AF_INET && family != AF_INET6) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	if (family == AF_INET6) {
		memcpy(&s6, dst, sizeof(s6));
		mapped = IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr);
	}
	if (tproxy) {
		if (mapped)
			nat_unmap(dst);
		return 0;
	}

	/* Otherwise conntrack knows it: the reply tuple's inverse. */
	memset(dst, 0, sizeof(*dst));
	if (family == AF_INET6 && !mapped) {
		len = sizeof(struct sockaddr_in6);
		return getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, dst, &len);
	}
	len = sizeof(struct sockaddr_in);
	return getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, dst, &len);
}
