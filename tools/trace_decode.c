/*
 * trace_decode.c - from captured frames to TCP segments, and libpcap input.
 *
 * Every length is checked against what was captured before it is read: a
 * capture file is untrusted input (it may be cut short, corrupted, or made
 * on purpose to crash a parser).  A frame we cannot use is counted, not
 * reported one by one.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include "tools/trace.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif

#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86dd
#define ETH_VLAN 0x8100
#define ETH_QINQ 0x88a8
#define ETH_QINQ_OLD 0x9100
#define ETH_PPPOE 0x8864	/* PPPoE session stage (RFC 2516) */
#define PPP_IPV4 0x0021
#define PPP_IPV6 0x0057
#ifndef DLT_PPP_SERIAL
#define DLT_PPP_SERIAL 50
#endif
#ifndef DLT_PPP_ETHER
#define DLT_PPP_ETHER 51
#endif
#ifndef DLT_C_HDLC
#define DLT_C_HDLC 104
#endif

#define IPPROTO_TCP_ 6
#define IPPROTO_ICMP_ 1
#define IPPROTO_ICMP6_ 58

volatile int trace_stop;

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
trace_ep4(struct alg_endpoint *ep, const uint8_t *a, uint16_t port)
{
	memset(ep, 0, sizeof(*ep));
	ep->family = ALG_AF_INET;
	memcpy(ep->a, a, 4);
	ep->port = port;
}

static void
trace_ep6(struct alg_endpoint *ep, const uint8_t *a, uint16_t port)
{
	memset(ep, 0, sizeof(*ep));
	ep->family = ALG_AF_INET6;
	memcpy(ep->a, a, 16);
	ep->port = port;
}

/*
 * A TCP header and payload: cap bytes captured, wire bytes in the IP
 * packet.  src/dst hold the addresses; the ports come from here.
 */
static void
trace_tcp(struct trace_ctx *t, struct trace_pkt *p, const uint8_t *b, uint32_t cap,
    uint32_t wire)
{
	uint32_t doff;

	if (cap < 20 || wire < 20) {
		t->nmalformed++;
		return;
	}
	doff = (uint32_t)(b[12] >> 4) * 4;
	if (doff < 20 || doff > wire) {
		t->nmalformed++;
		return;
	}
	p->src.port = be16(b);
	p->dst.port = be16(b + 2);
	p->seq = be32(b + 4);
	p->ack = be32(b + 8);
	p->flags = b[13];
	p->len = wire - doff;
	if (cap > doff) {
		p->payload = b + doff;
		p->caplen = cap - doff;
		if (p->caplen > p->len)
			p->caplen = p->len;	/* Ethernet padding */
	} else {
		p->payload = NULL;
		p->caplen = 0;
	}
	t->ntcp++;
	trace_packet(t, p);
}

/* The TCP header an ICMP error quotes: ports and sequence number only. */
static void
trace_icmp_quote(struct trace_ctx *t, struct trace_pkt *p, uint8_t kind, const uint8_t *b,
    uint32_t cap)
{
	if (cap < 8) {
		t->nmalformed++;
		return;
	}
	p->src.port = be16(b);
	p->dst.port = be16(b + 2);
	p->seq = be32(b + 4);
	p->icmp = kind;
	t->nicmp++;
	trace_packet(t, p);
}

static void
trace_icmp4(struct trace_ctx *t, struct trace_pkt *p, const uint8_t *b, uint32_t cap)
{
	uint32_t ihl;
	uint8_t kind;

	if (cap < 8 || b[0] != 3)	/* destination unreachable only */
		return;
	switch (b[1]) {
	case 0: case 1: case 6: case 7: kind = TRACE_ICMP_UNREACH_NET; break;
	case 3: kind = TRACE_ICMP_UNREACH_PORT; break;
	case 9: case 10: case 13: kind = TRACE_ICMP_PROHIBITED; break;
	default: kind = TRACE_ICMP_OTHER; break;
	}
	b += 8;
	cap -= 8;
	if (cap < 20 || (b[0] >> 4) != 4 || b[9] != IPPROTO_TCP_) {
		t->nskipped++;
		return;
	}
	ihl = (uint32_t)(b[0] & 0x0f) * 4;
	if (ihl < 20 || ihl > cap) {
		t->nmalformed++;
		return;
	}
	trace_ep4(&p->src, b + 12, 0);
	trace_ep4(&p->dst, b + 16, 0);
	trace_icmp_quote(t, p, kind, b + ihl, cap - ihl);
}

static void
trace_icmp6(struct trace_ctx *t, struct trace_pkt *p, const uint8_t *b, uint32_t cap)
{
	uint8_t kind;

	if (cap < 8 || b[0] != 1)	/* destination unreachable only */
		return;
	switch (b[1]) {
	case 0: case 3: kind = TRACE_ICMP_UNREACH_NET; break;
	case 4: kind = TRACE_ICMP_UNREACH_PORT; break;
	case 1: case 5: case 6: kind = TRACE_ICMP_PROHIBITED; break;
	default: kind = TRACE_ICMP_OTHER; break;
	}
	b += 8;
	cap -= 8;
	/* Extension headers in the quoted packet are rare enough to skip. */
	if (cap < 40 || (b[0] >> 4) != 6 || b[6] != IPPROTO_TCP_) {
		t->nskipped++;
		return;
	}
	trace_ep6(&p->src, b + 8, 0);
	trace_ep6(&p->dst, b + 24, 0);
	trace_icmp_quote(t, p, kind, b + 40, cap - 40);
}

static void
trace_ipv4(struct trace_ctx *t, struct trace_pkt *p, const uint8_t *b, uint32_t cap,
    uint32_t wire)
{
	uint32_t ihl, tot, frag;

	if (cap < 20 || (b[0] >> 4) != 4) {
		t->nmalformed++;
		return;
	}
	ihl = (uint32_t)(b[0] & 0x0f) * 4;
	tot = be16(b + 2);
	if (tot == 0)		/* TSO: the stack left it to the NIC */
		tot = wire;
	if (ihl < 20 || ihl > cap || tot < ihl) {
		t->nmalformed++;
		return;
	}
	frag = be16(b + 6);
	if ((frag & 0x3fff) != 0) {	/* a fragment: no reassembly of IP */
		t->nskipped++;
		return;
	}
	if (cap > tot)
		cap = tot;	/* link-layer padding */
	trace_ep4(&p->src, b + 12, 0);
	trace_ep4(&p->dst, b + 16, 0);
	switch (b[9]) {
	case IPPROTO_TCP_:
		trace_tcp(t, p, b + ihl, cap - ihl, tot - ihl);
		break;
	case IPPROTO_ICMP_:
		trace_icmp4(t, p, b + ihl, cap - ihl);
		break;
	default:
		t->nskipped++;
	}
}

static void
trace_ipv6(struct trace_ctx *t, struct trace_pkt *p, const uint8_t *b, uint32_t cap)
{
	uint32_t plen, off = 40;
	uint8_t nh;

	if (cap < 40 || (b[0] >> 4) != 6) {
		t->nmalformed++;
		return;
	}
	plen = be16(b + 4);
	nh = b[6];
	if (plen == 0) {	/* jumbogram or TSO: not FTP control traffic */
		t->nskipped++;
		return;
	}
	trace_ep6(&p->src, b + 8, 0);
	trace_ep6(&p->dst, b + 24, 0);
	if (cap > 40 + plen)
		cap = 40 + plen;
	/* A bounded walk over extension headers. */
	for (int i = 0; i < 8; i++) {
		uint32_t hl;

		if (nh == IPPROTO_TCP_) {
			if (off > 40 + plen) {
				t->nmalformed++;
				return;
			}
			trace_tcp(t, p, b + off, cap > off ? cap - off : 0, 40 + plen - off);
			return;
		}
		if (nh == IPPROTO_ICMP6_) {
			if (cap > off)
				trace_icmp6(t, p, b + off, cap - off);
			return;
		}
		if (off + 8 > cap) {
			t->nmalformed++;
			return;
		}
		switch (nh) {
		case 0: case 43: case 60:	/* hop-by-hop, routing, destination */
			hl = ((uint32_t)b[off + 1] + 1) * 8;
			break;
		case 51:			/* AH */
			hl = ((uint32_t)b[off + 1] + 2) * 4;
			break;
		case 44:			/* fragment: no reassembly of IP */
			t->nskipped++;
			return;
		default:
			t->nskipped++;
			return;
		}
		nh = b[off];
		off += hl;
	}
	t->nskipped++;
}

/* An IP packet whose version says what it is (raw captures, after a header). */
static void
trace_ip(struct trace_ctx *t, struct trace_pkt *p, const uint8_t *b, uint32_t cap,
    uint32_t wire)
{
	if (cap < 1) {
		t->nmalformed++;
		return;
	}
	if ((b[0] >> 4) == 4)
		trace_ipv4(t, p, b, cap, wire);
	else if ((b[0] >> 4) == 6)
		trace_ipv6(t, p, b, cap);
	else
		t->nskipped++;
}

static void trace_ethertype(struct trace_ctx *t, struct trace_pkt *p, uint16_t type,
    const uint8_t *b, uint32_t cap, uint32_t wire);

/*
 * A PPP frame (RFC 1661): the HDLC address and control bytes 0xff 0x03 if
 * they were kept, then the protocol, one byte when compressed (RFC 1661
 * 6.5: an odd first byte).  What captures of DSL links (ppp0, pppoe-wan, or
 * a PPPoE session on the Ethernet below) hold.
 */
static void
trace_ppp(struct trace_ctx *t, struct trace_pkt *p, const uint8_t *b, uint32_t cap,
    uint32_t wire)
{
	uint32_t hl = 0;
	uint16_t proto;

	if (cap >= 2 && b[0] == 0xff && b[1] == 0x03)
		hl = 2;
	if (cap < hl + 1) {
		t->nmalformed++;
		return;
	}
	if (b[hl] & 1) {
		proto = b[hl];
		hl += 1;
	} else {
		if (cap < hl + 2) {
			t->nmalformed++;
			return;
		}
		proto = be16(b + hl);
		hl += 2;
	}
	/* LCP, IPCP, ...: not IP, no ethertype, skipped */
	trace_ethertype(t, p, proto == PPP_IPV4 ? ETH_IPV4 : proto == PPP_IPV6 ? ETH_IPV6 : 0,
	    b + hl, cap - hl, wire - hl);
}

/* The PPPoE session header: version/type, code, session id, length. */
static void
trace_pppoe(struct trace_ctx *t, struct trace_pkt *p, const uint8_t *b, uint32_t cap,
    uint32_t wire)
{
	if (cap < 6) {
		t->nmalformed++;
		return;
	}
	if (b[0] != 0x11 || b[1] != 0x00) {	/* version 1, type 1, code 0: session data */
		t->nskipped++;
		return;
	}
	trace_ppp(t, p, b + 6, cap - 6, wire - 6);
}

static void
trace_ethertype(struct trace_ctx *t, struct trace_pkt *p, uint16_t type, const uint8_t *b,
    uint32_t cap, uint32_t wire)
{
	if (type == ETH_IPV4)
		trace_ipv4(t, p, b, cap, wire);
	else if (type == ETH_IPV6)
		trace_ipv6(t, p, b, cap);
	else if (type == ETH_PPPOE)
		trace_pppoe(t, p, b, cap, wire);
	else
		t->nskipped++;
}

void
trace_frame(struct trace_ctx *t, int dlt, uint64_t ts_us, const uint8_t *b,
    uint32_t cap, uint32_t wire)
{
	struct trace_pkt p;
	uint32_t hl;
	uint16_t type;

	memset(&p, 0, sizeof(p));
	p.ts_us = ts_us;
	p.index = ++t->npkts;
	if (wire < cap)
		wire = cap;
	switch (dlt) {
	case DLT_EN10MB:
		if (cap < 14) {
			t->nmalformed++;
			return;
		}
		type = be16(b + 12);
		hl = 14;
		/* 802.1Q and 802.1ad tags, at most two. */
		for (int i = 0; i < 2 && (type == ETH_VLAN || type == ETH_QINQ ||
		    type == ETH_QINQ_OLD); i++) {
			if (cap < hl + 4) {
				t->nmalformed++;
				return;
			}
			type = be16(b + hl + 2);
			hl += 4;
		}
		trace_ethertype(t, &p, type, b + hl, cap - hl, wire - hl);
		return;
	case DLT_LINUX_SLL:
		if (cap < 16) {
			t->nmalformed++;
			return;
		}
		/* The packet type tells the copy going in from the copy going
		 * out when a router forwards: both are in an "any" capture. */
		p.copy_id = 0x10000u | be16(b);
		trace_ethertype(t, &p, be16(b + 14), b + 16, cap - 16, wire - 16);
		return;
	case DLT_LINUX_SLL2:
		if (cap < 20) {
			t->nmalformed++;
			return;
		}
		p.copy_id = (be32(b + 4) << 8 | b[10]) + 1;
		trace_ethertype(t, &p, be16(b), b + 20, cap - 20, wire - 20);
		return;
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
#if DLT_RAW != 12
	case 12:
#endif
#if DLT_RAW != 14
	case 14:
#endif
		trace_ip(t, &p, b, cap, wire);
		return;
	case DLT_NULL:
	case DLT_LOOP:
		if (cap < 4) {
			t->nmalformed++;
			return;
		}
		trace_ip(t, &p, b + 4, cap - 4, wire - 4);
		return;
	case DLT_PPP:
	case DLT_PPP_SERIAL:
		trace_ppp(t, &p, b, cap, wire);
		return;
	case DLT_PPP_ETHER:
		trace_pppoe(t, &p, b, cap, wire);
		return;
	case DLT_C_HDLC:	/* Cisco HDLC: address, control, then an ethertype */
		if (cap < 4) {
			t->nmalformed++;
			return;
		}
		trace_ethertype(t, &p, be16(b + 2), b + 4, cap - 4, wire - 4);
		return;
	default:
		t->nskipped++;
	}
}

static bool
trace_dlt_ok(int dlt)
{
	switch (dlt) {
	case DLT_EN10MB: case DLT_LINUX_SLL: case DLT_LINUX_SLL2: case DLT_RAW:
	case DLT_IPV4: case DLT_IPV6: case DLT_NULL: case DLT_LOOP:
	case DLT_PPP: case DLT_PPP_SERIAL: case DLT_PPP_ETHER: case DLT_C_HDLC:
#if DLT_RAW != 12
	case 12:
#endif
#if DLT_RAW != 14
	case 14:
#endif
		return true;
	default:
		return false;
	}
}

static uint64_t
trace_tv_us(const struct timeval *tv)
{
	/* Unsigned arithmetic: a hostile file's time stamps wrap, never trap. */
	return (uint64_t)tv->tv_sec * 1000000u + (uint64_t)tv->tv_usec;
}

/* Reads every packet of an opened capture; closes it. */
static int
trace_read_pcap(struct trace_ctx *t, pcap_t *pc, char *err, size_t errlen)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	int dlt = pcap_datalink(pc), rc;

	if (!trace_dlt_ok(dlt)) {
		const char *n = pcap_datalink_val_to_name(dlt);

		snprintf(err, errlen, "%s: link type %s (%d) is not supported "
		    "(Ethernet with VLANs and PPPoE, Linux cooked, raw IP, loopback, PPP and "
		    "Cisco HDLC are)", t->name,
		    n != NULL ? n : "?", dlt);
		pcap_close(pc);
		return -1;
	}
	t->dlt = dlt;
	while ((rc = pcap_next_ex(pc, &h, &data)) == 1)
		trace_frame(t, dlt, trace_tv_us(&h->ts), data, h->caplen, h->len);
	if (rc == PCAP_ERROR) {
		/* A capture cut short (tcpdump killed, file truncated): report what
		 * is there and say the rest is missing. */
		snprintf(t->warning, sizeof(t->warning), "read error after %u packets: %s",
		    t->npkts, pcap_geterr(pc));
	}
	pcap_close(pc);
	return 0;
}

int
trace_read_file(struct trace_ctx *t, const char *path, char *err, size_t errlen)
{
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *pc;

	eb[0] = '\0';
	pc = pcap_open_offline(path, eb);
	if (pc == NULL) {
		snprintf(err, errlen, "%s: %s", path, eb);
		return -1;
	}
	return trace_read_pcap(t, pc, err, errlen);
}

int
trace_read_fp(struct trace_ctx *t, FILE *f, char *err, size_t errlen)
{
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *pc;

	eb[0] = '\0';
	pc = pcap_fopen_offline(f, eb);
	if (pc == NULL) {
		fclose(f);	/* libpcap closes it only once it took it */
		snprintf(err, errlen, "%s: %s", t->name, eb);
		return -1;
	}
	return trace_read_pcap(t, pc, err, errlen);
}

static void
trace_live_cb(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
	struct trace_ctx *t = (struct trace_ctx *)(void *)user;

	trace_frame(t, t->dlt, trace_tv_us(&h->ts), data, h->caplen, h->len);
}

static uint64_t
trace_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int
trace_read_live(struct trace_ctx *t, const char *iface, uint32_t max_pkts,
    unsigned max_secs, char *err, size_t errlen)
{
	char eb[PCAP_ERRBUF_SIZE];
	struct bpf_program prog;
	pcap_t *pc;
	uint64_t deadline;
	int rc, fd;

	eb[0] = '\0';
	pc = pcap_create(iface, eb);
	if (pc == NULL) {
		snprintf(err, errlen, "%s: %s", iface, eb);
		return -1;
	}
	/* Immediate mode: on Linux the buffer timeout only starts with the
	 * first packet, so a quiet interface would block a timed capture.
	 * Immediate mode rings hold whole snaplen-sized frames: the default
	 * 2 MB would be some 30 packets, and "-i any" sees each forwarded one
	 * twice, so a busy moment would drop the very packets that matter. */
	if (pcap_set_snaplen(pc, 65535) != 0 || pcap_set_promisc(pc, 0) != 0 ||
	    pcap_set_immediate_mode(pc, 1) != 0 || pcap_set_buffer_size(pc, 32 << 20) != 0) {
		snprintf(err, errlen, "%s: cannot set capture options", iface);
		pcap_close(pc);
		return -1;
	}
	rc = pcap_activate(pc);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", iface, pcap_geterr(pc));
		pcap_close(pc);
		return -1;
	}
	if (pcap_compile(pc, &prog, "tcp or icmp or icmp6", 1, PCAP_NETMASK_UNKNOWN) != 0) {
		snprintf(err, errlen, "%s: filter: %s", iface, pcap_geterr(pc));
		pcap_close(pc);
		return -1;
	}
	rc = pcap_setfilter(pc, &prog);
	pcap_freecode(&prog);
	if (rc != 0) {
		snprintf(err, errlen, "%s: filter: %s", iface, pcap_geterr(pc));
		pcap_close(pc);
		return -1;
	}
	t->dlt = pcap_datalink(pc);
	if (!trace_dlt_ok(t->dlt)) {
		snprintf(err, errlen, "%s: link type %d is not supported", iface, t->dlt);
		pcap_close(pc);
		return -1;
	}
	/* Non-blocking reads, and our own poll(): the loop looks at the clock
	 * and at trace_stop (set by SIGINT) at least every 200 ms. */
	if (pcap_setnonblock(pc, 1, eb) != 0 || (fd = pcap_get_selectable_fd(pc)) < 0) {
		snprintf(err, errlen, "%s: cannot read without blocking: %s", iface, eb);
		pcap_close(pc);
		return -1;
	}
	deadline = max_secs > 0 ? trace_mono_ms() + (uint64_t)max_secs * 1000u : 0;
	while (!trace_stop) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int want = -1, wait_ms = 200;
		uint64_t now = trace_mono_ms();

		if (max_pkts > 0) {
			if (t->npkts >= max_pkts)
				break;
			want = (int)(max_pkts - t->npkts);
		}
		if (deadline != 0) {
			if (now >= deadline)
				break;
			if (deadline - now < (uint64_t)wait_ms)
				wait_ms = (int)(deadline - now);
		}
		if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR) {
			snprintf(t->warning, sizeof(t->warning), "capture stopped: poll: %s",
			    strerror(errno));
			break;
		}
		rc = pcap_dispatch(pc, want, trace_live_cb, (u_char *)(void *)t);
		if (rc == PCAP_ERROR_BREAK)
			break;
		if (rc < 0) {
			snprintf(t->warning, sizeof(t->warning), "capture stopped: %s",
			    pcap_geterr(pc));
			break;
		}
	}
	{
		struct pcap_stat ps;

		/* Packets the kernel could not hand over: say so, since the
		 * report then has holes that are not the network's. */
		if (t->warning[0] == '\0' && pcap_stats(pc, &ps) == 0 && ps.ps_drop > 0)
			snprintf(t->warning, sizeof(t->warning), "%u packets dropped by the "
			    "kernel during the capture: the report may miss them", ps.ps_drop);
	}
	pcap_close(pc);
	return 0;
}
