/*
 * sockaddr.c - address conversions for the engines.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/event.h"
#include "engine/sockaddr.h"

uint64_t
ev_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
sa_to_ep(const struct sockaddr_storage *ss, struct alg_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)ss;

		ep->family = ALG_AF_INET;
		memcpy(ep->a, &s4->sin_addr, 4);
		ep->port = ntohs(s4->sin_port);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)ss;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			ep->family = ALG_AF_INET;
			memcpy(ep->a, s6->sin6_addr.s6_addr + 12, 4);
		} else {
			ep->family = ALG_AF_INET6;
			memcpy(ep->a, &s6->sin6_addr, 16);
		}
		ep->port = ntohs(s6->sin6_port);
		return 0;
	}
	return -1;
}

socklen_t
ep_to_sa(const struct alg_endpoint *ep, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (ep->family == ALG_AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, ep->a, 4);
		s4->sin_port = htons(ep->port);
		return sizeof(*s4);
	}
	if (ep->family == ALG_AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, ep->a, 16);
		s6->sin6_port = htons(ep->port);
		return sizeof(*s6);
	}
	return 0;
}

void
ep_to_nat(const struct alg_endpoint *ep, struct nat_addr *na)
{
	memset(na, 0, sizeof(*na));
	if (ep->family == ALG_AF_INET) {
		na->family = AF_INET;
		memcpy(&na->u.v4, ep->a, 4);
	} else {
		na->family = AF_INET6;
		memcpy(&na->u.v6, ep->a, 16);
	}
}

socklen_t
sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
	    ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : 0;
}

const char *
sa_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	struct alg_endpoint ep;

	if (sa_to_ep(ss, &ep) < 0) {
		snprintf(buf, len, "?");
		return buf;
	}
	return alg_ep_str(&ep, buf, len);
}

uint16_t
sa_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)ss)->sin6_port);
	return 0;
}

bool
sa_is_any6(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)ss;

	return ss->ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);
}

void
sa_any4(struct sockaddr_storage *ss, uint16_t port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)ss;

	memset(ss, 0, sizeof(*ss));
	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	s4->sin_addr.s_addr = htonl(INADDR_ANY);
}

void
ep_from_ip(struct alg_endpoint *ep, uint8_t ipver, const uint8_t *a, uint16_t port)
{
	memset(ep, 0, sizeof(*ep));
	ep->family = ipver == 4 ? ALG_AF_INET : ALG_AF_INET6;
	memcpy(ep->a, a, ipver == 4 ? 4 : 16);
	ep->port = port;
}

void
nat_to_ep(const struct nat_addr *na, uint16_t port, struct alg_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (na->family == AF_INET) {
		ep->family = ALG_AF_INET;
		memcpy(ep->a, &na->u.v4, 4);
	} else {
		ep->family = ALG_AF_INET6;
		memcpy(ep->a, &na->u.v6, 16);
	}
	ep->port = port;
}
