/*
 * tcpstream.h - packet-level TCP for the inline engine: one direction's
 * sequence map between what the sender sent and what the receiver gets,
 * the bounded queue of segments waiting for a gap to fill, and the header
 * surgery (seq, ack, SACK, checksums) on IPv4 and IPv6 packets.
 *
 * Pure code over buffers, like alg/: no system calls, no netfilter headers,
 * no allocation.  Unit-tested (tests/unit/test_tcpstream.c) and fuzzed
 * (tests/fuzz/fuzz_tcpstream.c) on its own.
 *
 * The model.  A direction's bytes are "input" in the sender's sequence space
 * and "output" in the receiver's.  The engine feeds input, in order, to the
 * FTP core and records what came out as a list of records, each covering a
 * contiguous input range:
 *   IDENT  output == input byte for byte (only the sequence numbers shift);
 *          a retransmission may cut it anywhere;
 *   REPL   the input range became other bytes (a rewritten PORT, a line
 *          assembled from several segments, nothing at all); those bytes are
 *          kept until the receiver acknowledges them, and a packet carries
 *          them whole, when the packet holds the record's last input byte.
 * So a retransmission is always rewritten to the same bytes at the same
 * output position, whatever its segmentation, and the receiver's ack and SACK
 * edges map back exactly to input bytes whose output it holds.
 */
#ifndef FTPALG_TCPSTREAM_H
#define FTPALG_TCPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Serial-number arithmetic (RFC 1982) on 32-bit sequence numbers. */
static inline bool ts_before(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool ts_after(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }

/* ---------------------------------------------------------------- the map */

/* Records kept until acknowledged.  A control connection rarely has more
 * than a few lines in flight; when full, the engine stops feeding and the
 * sender retransmits the rest later (backpressure, no growth). */
#define TS_MAX_RECS 48
/* Rewritten bytes kept until acknowledged. */
#define TS_REPL_MAX 3072

enum ts_kind { TS_IDENT = 0, TS_REPL = 1 };

struct ts_rec {
	uint32_t i_end, o_end;	/* end of this record's input and output */
	uint16_t roff;		/* REPL: offset of its bytes in repl[] */
	uint8_t kind;		/* enum ts_kind */
};

struct ts_dir {
	uint32_t i_base, o_base;	/* start of the first record kept */
	uint32_t i_next, o_next;	/* end of the last record */
	uint32_t o_acked;		/* receiver's highest cumulative ack */
	bool acked_valid;
	bool have_last;
	uint8_t last_out;		/* the output byte at o_next - 1 */
	uint16_t nrec;
	uint16_t rlen;			/* bytes used in repl[] */
	struct ts_rec rec[TS_MAX_RECS];
	uint8_t repl[TS_REPL_MAX];
};

/* Starts a direction whose next data byte is `next` (ISN + 1). */
void ts_init(struct ts_dir *d, uint32_t next);

/*
 * Starts a direction in mid-stream (a connection resumed from what conntrack
 * carried): input byte `next` goes out at next + offset, and so does every
 * later one until the next rewrite.
 */
void ts_init_at(struct ts_dir *d, uint32_t next, int32_t offset);

/* Whether no rewritten record waits for its ack: from here on the map is one
 * constant offset, ts_offset(), which is all a successor needs to know. */
bool ts_settled(const struct ts_dir *d);

/* Whether a record with up to olen output bytes fits now. */
bool ts_room(const struct ts_dir *d, size_t olen);

/*
 * Records that the next ilen input bytes (at i_next) became out[0..olen).
 * in may be NULL when ilen is 0.  IDENT when out equals in.  Returns 0, or
 * -1 when it does not fit (ts_room() says beforehand).
 */
int ts_push(struct ts_dir *d, uint32_t ilen, const uint8_t *in, const uint8_t *out, size_t olen);

/* Output sequence number for an input one (seq <= i_next; beyond: shifted
 * by the last offset, which is what a FIN needs). */
uint32_t ts_out_seq(const struct ts_dir *d, uint32_t seq);

/* Input sequence number for a receiver's cumulative ack (output space):
 * the end of the input whose output it holds entirely. */
uint32_t ts_in_ack(const struct ts_dir *d, uint32_t ack);

/* A SACK block [l, r) of output mapped to input; -1 when no whole input
 * byte is covered by it. */
int ts_in_sack(const struct ts_dir *d, uint32_t l, uint32_t r, uint32_t *il, uint32_t *ir);

/* The receiver acknowledged output up to ack: drops what it no longer needs. */
void ts_acked(struct ts_dir *d, uint32_t ack);

/*
 * Builds the payload of a packet that carried input [seq, seq + len), data
 * being its bytes; only input below i_next is used (the caller feeds first).
 * Writes at most cap bytes to out, except that a rewritten record that comes
 * first goes whole even when longer (out must hold max(cap, TS_REPL_MAX)
 * bytes): it could never be carried otherwise.  *oseq is the output sequence
 * number and
 * *covered the input position up to which the output is complete (a FIN
 * may only follow when it reaches seq + len).  Returns the output length.
 */
size_t ts_emit(const struct ts_dir *d, uint32_t seq, const uint8_t *data, size_t len,
    uint8_t *out, size_t cap, uint32_t *oseq, uint32_t *covered);

/*
 * Whether the receiver has acknowledged all output; then *last is the last
 * byte it holds (when known) for an ack probe: input the core took without
 * output yet reaches the receiver as nothing, so the receiver would never
 * acknowledge it and the sender's window would stall.  A one-byte duplicate
 * of the receiver's last byte at o_next - 1 makes it answer at once (an old
 * data segment, RFC 793; Linux does not rate-limit that answer), and its
 * ack maps back over the taken input.
 */
bool ts_idle(const struct ts_dir *d, uint8_t *last, bool *have_last);

/* Total shift (output minus input) at the end of the stream, for logs. */
int32_t ts_offset(const struct ts_dir *d);

/* ---------------------------------------------------------------- waiting segments */

/*
 * Segments that arrived before the bytes in front of them (reordering, a
 * loss), or while the core held the sender.  Sorted by sequence; bounded.
 * The engine owns what `ptr` points at (the queued packet).
 */
#define TS_PEND_MAX 8

struct ts_pend_ent {
	uint32_t seq, len;
	uint64_t since_ms;
	void *ptr;
};

struct ts_pend {
	uint8_t n;
	struct ts_pend_ent e[TS_PEND_MAX];
};

/*
 * Adds a segment.  Returns 0, 1 when an entry of the same sequence and at
 * least the same length is there already (a duplicate: the caller drops
 * the new one), or -1 when full.
 */
int ts_pend_add(struct ts_pend *q, uint32_t seq, uint32_t len, uint64_t now_ms, void *ptr);
/* The first entry that starts at or before `next` (ready to process), or NULL;
 * it is removed from the queue. */
void *ts_pend_take_ready(struct ts_pend *q, uint32_t next);
/* The oldest entry waiting since before `deadline_ms`, removed; or NULL. */
void *ts_pend_take_expired(struct ts_pend *q, uint64_t deadline_ms);
/* The oldest entry's since_ms, or UINT64_MAX when empty (not removed). */
uint64_t ts_pend_oldest(const struct ts_pend *q);
/* Any entry, removed (for teardown); NULL when empty. */
void *ts_pend_take_any(struct ts_pend *q);

/* ---------------------------------------------------------------- packets */

#define TS_TH_FIN 0x01
#define TS_TH_SYN 0x02
#define TS_TH_RST 0x04
#define TS_TH_PSH 0x08
#define TS_TH_ACK 0x10

#define TS_MAX_SACK 4

/* A parsed IPv4 or IPv6 TCP packet; offsets point into the caller's buffer. */
struct ts_pkt {
	uint8_t family;		/* 4 or 6 */
	uint8_t flags;		/* TS_TH_* */
	uint8_t nsack;
	uint16_t l4off;		/* TCP header offset (IP header and v6 extensions before) */
	uint16_t thlen;		/* TCP header length with options */
	uint16_t plen;		/* payload length */
	uint16_t mss;		/* MSS option (SYN), 0 if none */
	uint16_t sack_off[TS_MAX_SACK];	/* offsets of SACK blocks in the packet */
	uint32_t sack[2 * TS_MAX_SACK];	/* their edges: left, right, left, ... */
	uint8_t saddr[16], daddr[16];	/* IPv4 in the first 4 bytes */
	uint16_t sport, dport;
	uint32_t seq, ack;
	const uint8_t *payload;
};

/*
 * Parses a packet as NFQUEUE hands it over (starting at the IP header).
 * -1 when it is not a whole, unfragmented TCP packet (it is then passed on
 * untouched).
 */
int ts_parse(const uint8_t *buf, size_t len, struct ts_pkt *p);

/*
 * Writes the packet with new seq, ack, flags, SACK blocks and payload into
 * out, fixing the IP length and both checksums.  sack holds nsack pairs
 * (left, right) already translated, in the order of p->sack_off.  Returns
 * the length, or -1 when it does not fit in cap or in an IP packet.
 */
long ts_rewrite(const uint8_t *orig, const struct ts_pkt *p, uint32_t seq, uint32_t ack,
    uint8_t flags, const uint32_t *sack, const uint8_t *payload, size_t plen,
    uint8_t *out, size_t cap);

/* ---------------------------------------------------------------- one segment */

/*
 * The arithmetic of forwarding one segment of a direction d (sender's
 * map) whose receiver's map is rd, as the inline engine does it.
 */

/*
 * Payload room for the rewritten segment: the receiver's MSS (536 when it
 * announced none) less the options the segment carries, never less than
 * the segment had (it was let through already), never more than max.
 */
size_t ts_seg_cap(uint16_t rcv_mss, uint16_t thlen, uint16_t plen, size_t max);

/* A RST's output sequence number: at most the receiver's next byte, or it
 * answers with a challenge ACK instead of resetting (RFC 5961). */
uint32_t ts_rst_seq(const struct ts_dir *d, uint32_t seq);

/*
 * A segment whose bytes produced no output (taken into a line, or old):
 * when the receiver holds everything (ts_idle), an ack probe instead -
 * one duplicate byte at o_next - 1 into out[0], or, without a known last
 * byte and no FIN, an empty segment out of window.  Returns true with *n
 * and *oseq set when there is one.
 */
bool ts_probe(const struct ts_dir *d, bool fin, uint8_t *out, size_t *n, uint32_t *oseq);

/* Whether a FIN at input position end may pass: every byte before it is
 * in (i_next) and the output carried covers it. */
bool ts_fin_ok(const struct ts_dir *d, uint32_t end, uint32_t covered);

/*
 * The packet's SACK blocks (output space of rd, the map of the direction
 * they acknowledge) in input space, into sack[2 * p->nsack]; a block that
 * covers no whole byte becomes an empty one at ack.  True when any changed.
 */
bool ts_in_sacks(const struct ts_dir *rd, const struct ts_pkt *p, uint32_t ack, uint32_t *sack);

/* The TCP checksum a packet should carry (for tests). */
uint16_t ts_tcp_csum(const uint8_t *pkt, const struct ts_pkt *p, size_t total);

#endif
