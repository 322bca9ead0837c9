/*
 * tcppkt.h - test-side TCP/IP packets for the inline engine's unit tests
 * (tests/unit/test_tcpstream.c) and its fuzz target (tests/fuzz/fuzz_inline.c):
 * an independent checksum, a packet builder, and the reply a NATing conntrack
 * would give.  Written apart from engine/tcpstream.c on purpose: a test that
 * checked the engine with the engine's own checksum would prove nothing.
 */
#ifndef FTPALG_TESTS_TCPPKT_H
#define FTPALG_TESTS_TCPPKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "nat/ct.h"

/* Ones' complement sum of b[0..n) added to sum, and its fold to 16 bits. */
static inline uint32_t
tp_csum_add(uint32_t sum, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (n & 1)
		sum += (uint32_t)b[n - 1] << 8;
	return sum;
}

static inline uint16_t
tp_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static inline void
tp_put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
tp_put32(uint8_t *p, uint32_t v)
{
	tp_put16(p, v >> 16);
	tp_put16(p + 2, v);
}

/* True when the IPv4 header (if any) and TCP checksums of pkt are right. */
static inline bool
tp_csum_ok(const uint8_t *pkt, size_t len)
{
	uint32_t sum;
	size_t l4, tcplen;
	uint8_t ph[40];

	if (pkt[0] >> 4 == 4) {
		l4 = (size_t)(pkt[0] & 15) * 4;
		if (tp_csum_fold(tp_csum_add(0, pkt, l4)) != 0xffff)
			return false;
		memcpy(ph, pkt + 12, 8);
		ph[8] = 0;
		ph[9] = 6;
		tcplen = len - l4;
		ph[10] = (uint8_t)(tcplen >> 8);
		ph[11] = (uint8_t)tcplen;
		sum = tp_csum_add(0, ph, 12);
	} else {
		l4 = 40;
		tcplen = len - 40;
		memcpy(ph, pkt + 8, 32);
		memset(ph + 32, 0, 8);
		ph[34] = (uint8_t)(tcplen >> 8);
		ph[35] = (uint8_t)tcplen;
		ph[39] = 6;
		sum = tp_csum_add(0, ph, 40);
	}
	return tp_csum_fold(tp_csum_add(sum, pkt + l4, tcplen)) == 0xffff;
}

/*
 * An IPv4 (fam 4) or IPv6 TCP packet with right checksums into buf: options
 * opt[0..optlen), a multiple of 4, then the payload.  Its length.
 */
static inline size_t
tp_build(uint8_t *buf, int fam, const uint8_t *src, const uint8_t *dst, uint16_t sport,
    uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags, const uint8_t *opt,
    size_t optlen, const uint8_t *pay, size_t plen)
{
	size_t l4 = fam == 4 ? 20 : 40, thl = 20 + optlen, total = l4 + thl + plen;
	uint8_t *th = buf + l4, ph[40];
	uint32_t sum;

	memset(buf, 0, l4 + thl);
	if (fam == 4) {
		buf[0] = 0x45;
		tp_put16(buf + 2, (uint32_t)total);
		buf[6] = 0x40;	/* DF */
		buf[8] = 64;
		buf[9] = 6;
		memcpy(buf + 12, src, 4);
		memcpy(buf + 16, dst, 4);
		tp_put16(buf + 10, (uint16_t)~tp_csum_fold(tp_csum_add(0, buf, 20)));
	} else {
		buf[0] = 0x60;
		tp_put16(buf + 4, (uint32_t)(total - 40));
		buf[6] = 6;
		buf[7] = 64;
		memcpy(buf + 8, src, 16);
		memcpy(buf + 24, dst, 16);
	}
	tp_put16(th, sport);
	tp_put16(th + 2, dport);
	tp_put32(th + 4, seq);
	tp_put32(th + 8, ack);
	th[12] = (uint8_t)((thl / 4) << 4);
	th[13] = flags;
	tp_put16(th + 14, 0xffff);
	if (optlen > 0)
		memcpy(th + 20, opt, optlen);
	if (plen > 0)
		memcpy(th + thl, pay, plen);
	memset(ph, 0, sizeof(ph));
	if (fam == 4) {
		memcpy(ph, src, 4);
		memcpy(ph + 4, dst, 4);
		ph[9] = 6;
		tp_put16(ph + 10, (uint32_t)(thl + plen));
		sum = tp_csum_add(0, ph, 12);
	} else {
		memcpy(ph, src, 16);
		memcpy(ph + 16, dst, 16);
		tp_put16(ph + 34, (uint32_t)(thl + plen));
		ph[39] = 6;
		sum = tp_csum_add(0, ph, 40);
	}
	tp_put16(th + 16, (uint16_t)~tp_csum_fold(tp_csum_add(sum, th, thl + plen)));
	return total;
}

/*
 * What conntrack says of orig on a router that masquerades: the server
 * answers the router's address (g4 or g6), port 61000.
 */
static inline void
tp_nat_reply(const struct nat_ct_tuple *orig, struct nat_ct_info *info, const uint8_t *g4,
    const uint8_t *g6)
{
	memset(info, 0, sizeof(*info));
	info->orig = *orig;
	info->reply.src = orig->dst;
	info->reply.dst.family = orig->src.family;
	if (orig->src.family == AF_INET)
		memcpy(&info->reply.dst.u.v4, g4, 4);
	else
		memcpy(&info->reply.dst.u.v6, g6, 16);
	info->reply.sport = orig->dport;
	info->reply.dport = 61000;
}

#endif
