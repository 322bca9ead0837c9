/*
 * sockaddr.h - the one place for conversions between the kernel's socket
 * addresses, packets' raw addresses, the core's endpoints (alg/) and the
 * netfilter layer's addresses (nat/).
 */
#ifndef FTPALG_SOCKADDR_H
#define FTPALG_SOCKADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "alg/alg.h"
#include "nat/nat.h"

/* IPv4-mapped IPv6 addresses become plain IPv4. */
int sa_to_ep(const struct sockaddr_storage *ss, struct alg_endpoint *ep);
socklen_t ep_to_sa(const struct alg_endpoint *ep, struct sockaddr_storage *ss);
void ep_to_nat(const struct alg_endpoint *ep, struct nat_addr *na);
void nat_to_ep(const struct nat_addr *na, uint16_t port, struct alg_endpoint *ep);
/* From a packet's raw address: ipver 4 (a[0..3]) or 6 (a[0..15]). */
void ep_from_ip(struct alg_endpoint *ep, uint8_t ipver, const uint8_t *a, uint16_t port);
socklen_t sa_len(const struct sockaddr_storage *ss);
const char *sa_str(const struct sockaddr_storage *ss, char *buf, size_t len);
/* The port, host order (0 for a family other than IPv4/IPv6). */
uint16_t sa_port(const struct sockaddr_storage *ss);
/* [::]: with a listener, every address of both families. */
bool sa_is_any6(const struct sockaddr_storage *ss);
/* 0.0.0.0:port, the IPv4 twin of a [::]:port listener. */
void sa_any4(struct sockaddr_storage *ss, uint16_t port);

#endif
