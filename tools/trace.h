/*
 * trace.h - the pcap doctor behind `ftpalg trace`.
 *
 * Reads a capture (file or live interface), finds FTP control sessions,
 * reassembles both directions, pairs commands with replies, follows every
 * data-channel announcement to the data connection that should follow it,
 * and says in plain words what went wrong and what to change.
 *
 * Layers, each a file:
 *   trace_decode.c  link layer, IPv4/IPv6, TCP, ICMP -> struct trace_pkt;
 *                   libpcap input (files, FILE *, live)
 *   trace_flow.c    TCP connection table, reassembly, line framing -> events
 *   trace_ftp.c     second pass: pairing, announcements, data connections,
 *                   diagnosis
 *   trace_out.c     terminal, JSON and HTML reports
 *
 * The FTP syntax itself (framing, verbs, PORT/EPRT/LPRT/227/228/229) comes
 * from alg/: the doctor reads the wire exactly as the gateway does.
 *
 * Everything is bounded (connections, sessions, events, out-of-order bytes)
 * because the input may be hostile or huge; a limit reached is reported,
 * never a crash.
 */
#ifndef FTPALG_TRACE_H
#define FTPALG_TRACE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "alg/alg.h"

/* ---------------------------------------------------------------- limits */

#define TRACE_MAX_CONNS 65536		/* TCP connections tracked per capture */
#define TRACE_MAX_SESSIONS 256		/* FTP control sessions per capture */
#define TRACE_MAX_EVENTS 4096		/* lines kept (shown) per session */
/* Past TRACE_MAX_EVENTS, commands and replies are still kept without being
 * shown, so that pairing, announcements and outcomes stay counted (a
 * session with thousands of PASVs is normal); these bound that. */
#define TRACE_MAX_EVENTS_HARD 65536	/* events per session */
#define TRACE_MAX_EVENTS_TOTAL 262144	/* events per capture (~45 MB) */
#define TRACE_MAX_ANN 16384		/* announcements followed per session */
#define TRACE_MAX_DIAG 24		/* distinct findings per session */
#define TRACE_MAX_ORPHANS 64		/* orphan data connections reported */
#define TRACE_MAX_PORTS 8		/* extra control ports (-p) */
#define TRACE_SEG_MAX 256		/* out-of-order segments held per direction */
#define TRACE_PEND_MAX (256u * 1024)	/* out-of-order bytes held per direction */
#define TRACE_PEND_TOTAL (16u * 1024 * 1024)	/* ... and per capture */
#define TRACE_TEXT_MAX 120		/* command/reply text kept for the report */
#define TRACE_DIAG_TEXT 400
#define TRACE_DIAG_FIX 600

/* TCP flags as on the wire. */
#define TRACE_FIN 0x01
#define TRACE_SYN 0x02
#define TRACE_RST 0x04
#define TRACE_PSH 0x08
#define TRACE_ACK 0x10

/* ---------------------------------------------------------------- packets */

/* A decoded TCP segment, or an ICMP error quoting one (icmp != 0). */
struct trace_pkt {
	uint64_t ts_us;			/* capture time, microseconds */
	uint32_t index;			/* packet number in the capture, from 1 */
	uint32_t copy_id;		/* capture point (cooked captures), 0 = unknown */
	struct alg_endpoint src, dst;	/* with ports */
	uint32_t seq, ack;
	uint8_t flags;			/* TRACE_SYN, ... */
	uint8_t icmp;			/* 0, or an enum trace_icmp */
	const uint8_t *payload;
	uint32_t caplen;		/* payload bytes captured */
	uint32_t len;			/* payload bytes on the wire (>= caplen) */
};

enum trace_icmp {
	TRACE_ICMP_NONE = 0,
	TRACE_ICMP_UNREACH_NET,		/* network or host unreachable */
	TRACE_ICMP_UNREACH_PORT,
	TRACE_ICMP_PROHIBITED,		/* administratively prohibited (reject) */
	TRACE_ICMP_OTHER,
};

/* ---------------------------------------------------------------- connections */

/* One TCP connection; a is the initiator when the SYN was seen. */
struct trace_conn {
	struct trace_conn *hnext;	/* hash chain */
	uint32_t id;			/* from 1, in order of appearance */
	struct alg_endpoint a, b;
	bool syn_known;			/* a sent the SYN we saw */
	bool isn_known[2];
	uint32_t isn[2];
	uint64_t first_us, last_us, syn_us, synack_us, reset_us;
	uint32_t first_pkt;
	uint32_t syns;			/* SYNs from a (retransmissions included) */
	uint32_t synacks;
	uint32_t pkts[2];		/* a->b, b->a */
	uint64_t bytes[2];		/* payload bytes on the wire */
	bool rst[2], fin[2];
	bool refused;			/* RST from b before any answer */
	bool b_spoke;			/* b sent something that is not a RST */
	bool a_acked;			/* a acknowledged after its SYN */
	uint8_t icmp;			/* enum trace_icmp about a->b */
	bool first_checked[2];		/* first payload looked at for FTP */
	bool nonftp;
	int claimed;			/* announcement index that owns it, or -1 */
	struct trace_session *session;	/* when this is an FTP control connection */
	/* The last packet, to drop the second copy a cooked capture makes of a
	 * forwarded packet (seen once per interface). */
	uint64_t last_sig_us;
	uint32_t last_sig_seq, last_sig_ack, last_sig_len, last_sig_copy;
	uint8_t last_sig_flags, last_sig_dir;
};

/* ---------------------------------------------------------------- sessions */

enum trace_ev_kind {
	TRACE_EV_CMD,		/* a command line from the client */
	TRACE_EV_REPLY,		/* a complete reply (multi-line folded into one) */
	TRACE_EV_JUNK,		/* a server line that is not a reply */
	TRACE_EV_GAP,		/* bytes the capture missed */
	TRACE_EV_TLS,		/* encrypted bytes start in this direction */
	TRACE_EV_LONG,		/* a line over the reader's limit (or with a NUL): not parsed */
	TRACE_EV_CLEAR,		/* TLS ended (close_notify, CCC): clear text again */
};

struct trace_event {
	uint64_t ts_us;		/* when the receiver could have read it */
	uint32_t order;		/* delivery order, breaks ties */
	uint32_t pkt;		/* packet that completed it */
	uint8_t side;		/* enum alg_side: who sent it */
	uint8_t kind;		/* enum trace_ev_kind */
	uint8_t cmd;		/* commands: enum alg_cmd */
	bool ep_ok;		/* ep parsed (PORT/EPRT/LPRT/227/228/229) */
	bool hidden;		/* past the kept-lines limit: counted, not shown */
	bool prot;		/* RFC 2228 protected: ENC/MIC/CONF, 631/632/633 */
	int16_t code;		/* replies */
	uint16_t lines;		/* replies: lines folded in */
	int32_t pair;		/* command <-> its final reply (index), or -1 */
	uint32_t bytes;		/* GAP: bytes missed; LONG: length of the line */
	struct alg_endpoint ep;	/* 229: port only, address filled in later */
	char text[TRACE_TEXT_MAX];	/* printable ASCII only */
};

/* One direction of a control connection being reassembled and framed. */
struct trace_seg;
struct trace_stream {
	bool started;			/* nxt is valid */
	uint32_t seq0;			/* first sequence number of the stream seen */
	uint32_t nxt;			/* next sequence number expected */
	struct trace_seg *pend;		/* out-of-order segments, sorted */
	uint32_t npend, pend_bytes;
	uint64_t ts_us;			/* delivery time of the last byte */
	uint32_t pkt;
	uint64_t delivered, gap_bytes, enc_bytes;
	uint32_t retrans, reordered, overlaps, gaps;
	bool acked_known;		/* the peer acknowledged up to acked */
	uint32_t acked;
	/* framing */
	struct alg_linebuf lb;
	bool skip_to_lf, encrypted, at_gap;
	/* a line over the limit being skipped: its length so far, its start */
	bool long_line;
	uint8_t long_why;		/* enum alg_err: ALG_E_TOOLONG or ALG_E_NUL */
	uint64_t long_len;
	char long_head[TRACE_TEXT_MAX];
	/* TLS record layer while encrypted, to see where TLS ends (CCC) */
	uint8_t tls_hdr[5];
	uint8_t tls_hlen;		/* header bytes held */
	uint8_t tls_last;		/* content type of the last record */
	uint32_t tls_left;		/* bytes of the current record still to come */
	uint32_t tls_records;
	bool tls_lost;			/* a gap or junk: record boundaries unknown */
	struct alg_rframe rf;		/* reply framing (alg/reply.c) */
	char ml_first[ALG_LINE_MAX];	/* first line of an open multi-line reply, clean */
};

enum trace_ann_kind {
	TRACE_ANN_PORT, TRACE_ANN_EPRT, TRACE_ANN_LPRT,
	TRACE_ANN_227, TRACE_ANN_228, TRACE_ANN_229,
};

/* What became of the data connection an announcement asked for. */
enum trace_outcome {
	TRACE_OUT_ANSWERED,	/* SYN answered (or the connection carried data) */
	TRACE_OUT_REFUSED,	/* RST or ICMP error in answer to the SYN */
	TRACE_OUT_UNANSWERED,	/* SYN(s), nothing back */
	TRACE_OUT_NOT_ATTEMPTED,	/* a transfer command followed, no SYN seen */
	TRACE_OUT_UNUSED,	/* no transfer command followed */
	TRACE_OUT_DECLINED,	/* PORT/EPRT/LPRT refused by the server (5xx) */
	TRACE_OUT_NOT_CAPTURED,	/* no SYN here, but the transfer succeeded (226/250) */
	TRACE_OUT_SERVER_REFUSED,	/* the server refused the transfer command (550, 530, 45x) */
};

enum trace_match {
	TRACE_MATCH_NONE,
	TRACE_MATCH_EXACT,	/* SYN to the announced endpoint */
	TRACE_MATCH_PEER,	/* 227/228: to the control peer's address, same port */
	TRACE_MATCH_PORT,	/* same port, another address (NAT on the way) */
};

struct trace_ann {
	uint8_t kind;			/* enum trace_ann_kind */
	bool active;			/* PORT/EPRT/LPRT: the server connects */
	uint8_t outcome;		/* enum trace_outcome */
	uint8_t match;			/* enum trace_match */
	int32_t ev;			/* announcing event */
	int32_t xfer_ev;		/* transfer command that used it, or -1 */
	int16_t xfer_code;		/* its final reply, or 0 */
	int16_t reply_code;		/* PORT/EPRT/LPRT: the server's answer */
	uint64_t ts_us;
	struct alg_endpoint ep;		/* where the data connection should go */
	struct trace_conn *conn;	/* the data connection found, or NULL */
	int32_t peer;			/* NAT pair: the other view's announcement, or -1 */
};

enum trace_diag_code {
	TRACE_D_OK,
	TRACE_D_DATA_UNANSWERED,
	TRACE_D_DATA_REFUSED,
	TRACE_D_DATA_NOT_ATTEMPTED,
	TRACE_D_PASV_PRIVATE,		/* 227/228 names a private address, server public */
	TRACE_D_PORT_PRIVATE,		/* PORT names a private address, client public */
	TRACE_D_PASV_MISMATCH,		/* 227/228 names another (public) host */
	TRACE_D_PORT_MISMATCH,		/* PORT names another host: NAT or bounce */
	TRACE_D_PORT_REFUSED,		/* server answered PORT/EPRT with 5xx */
	TRACE_D_TLS,			/* AUTH TLS accepted: control channel encrypted */
	TRACE_D_EPSV_REFUSED,		/* EPSV/EPRT refused; fallback or not */
	TRACE_D_REPLY_425,
	TRACE_D_REPLY_426,
	TRACE_D_ONE_SIDED,		/* only one direction of the control stream */
	TRACE_D_GAP,			/* the capture missed control bytes */
	TRACE_D_MIDSTREAM,		/* capture began after the session started */
	TRACE_D_CTL_FAILED,		/* the control connection itself got no answer */
	TRACE_D_DATA_NOT_CAPTURED,	/* transfers worked, data not in the capture */
	TRACE_D_SERVER_REFUSED,		/* 550/530/45x to a transfer: the server said no */
	TRACE_D_NO_PORT_PASV,		/* 425 without PORT/PASV first: client mistake */
	TRACE_D_AF_MISMATCH,		/* EPRT family is not the control connection's */
	TRACE_D_LONG_LINE,		/* a line over the limit, not parsed */
	TRACE_D_PARTIAL,		/* per-session event limit reached */
	TRACE_D_CCC,			/* TLS ended, clear text again (CCC) */
	TRACE_D_RFC2228,		/* ENC/MIC/CONF: protected like TLS */
	TRACE_D_ORPHAN,			/* data connection without control session */
	TRACE_D_NAT_PAIRED,		/* both sides of a NAT seen: the two tuples */
	TRACE_D_NAT_PORT_INSIDE,	/* PORT/EPRT still names the inside address */
	TRACE_D_NAT_PASV_PRIVATE,	/* 227 names a private address, on both sides */
	TRACE_D_NAT_DROPPED,		/* data SYN on one side of the NAT only */
	TRACE_D_NAT_BEYOND,		/* data SYN crossed the NAT, unanswered beyond */
	TRACE_D__COUNT
};

enum trace_severity { TRACE_SEV_INFO, TRACE_SEV_WARN, TRACE_SEV_ERROR };

struct trace_diag {
	uint8_t code;			/* enum trace_diag_code */
	uint8_t severity;		/* enum trace_severity */
	uint16_t count;			/* how many times it was found */
	uint64_t ts_us;			/* first time */
	char text[TRACE_DIAG_TEXT];
	char fix[TRACE_DIAG_FIX];
};

struct trace_session {
	uint32_t id;			/* from 1 */
	struct trace_conn *conn;
	struct alg_endpoint client, server;
	bool by_content;		/* found by its content, not by port */
	struct trace_stream st[2];	/* [ALG_CLIENT] commands, [ALG_SERVER] replies */
	struct trace_event *ev;
	uint32_t nev, evcap, ev_dropped;
	/* second pass */
	struct trace_ann *ann;
	uint32_t nann, ann_dropped;
	struct trace_diag diag[TRACE_MAX_DIAG];
	uint32_t ndiag;
	bool tls;			/* AUTH accepted */
	uint64_t tls_us;
	bool ccc;			/* clear text again after TLS */
	uint64_t ccc_us;
	bool gss;			/* AUTH GSSAPI (or other RFC 2228 mechanism) */
	uint32_t prot_lines;		/* ENC/MIC/CONF commands, 631-633 replies */
	uint64_t prot_us;
	uint32_t long_lines;		/* lines over the limit */
	uint32_t ev_hidden;		/* events kept past TRACE_MAX_EVENTS, not shown */
	/* NAT: the same control connection seen on the other side of a NAT */
	struct trace_session *peer;
	struct trace_ctx *peer_ctx;
	bool outside;			/* this is the view from the server's side */
	uint32_t tls_conns[3];		/* data connections after TLS: ok, refused, unanswered */
	uint64_t start_us, end_us;
};

/* ---------------------------------------------------------------- a capture */

struct trace_opts {
	uint16_t ports[TRACE_MAX_PORTS];	/* control ports besides 21 */
	unsigned nports;
};

struct trace_ctx {
	struct trace_opts opts;
	char name[256];			/* file or interface, for the report */
	int dlt;			/* link type, -1 when fed decoded packets */
	uint64_t first_us, last_us;
	bool have_first;
	uint32_t npkts;			/* frames read */
	uint32_t ntcp, nicmp, nskipped;	/* not IP/TCP, fragments, ... */
	uint32_t nmalformed;		/* too short or inconsistent headers */
	uint32_t ncopies;		/* second copies dropped (cooked captures) */
	/* connections */
	struct trace_conn **hash;	/* TRACE_HASH buckets */
	struct trace_conn **conns;	/* all of them, in order of appearance */
	uint32_t nconns, conncap;
	uint32_t conns_dropped;
	/* sessions */
	struct trace_session **sessions;
	uint32_t nsessions;
	uint32_t sessions_dropped;
	uint32_t events_total;
	uint64_t pend_total;		/* out-of-order bytes held, all streams */
	uint32_t order;			/* event delivery counter */
	struct trace_portref *portidx;	/* connections by port, for the second pass */
	uint32_t nportidx;
	/* data connections with no control session (port 20, ...) */
	struct trace_conn *orphan[TRACE_MAX_ORPHANS];
	uint32_t norphans, orphans_more;
	struct trace_diag diag[TRACE_MAX_DIAG];	/* capture-level findings */
	uint32_t ndiag;
	unsigned index;			/* position among the captures of one run */
	char warning[256];		/* a read error after some packets, say */
	bool finished;
	bool oom;			/* an allocation failed: the report is partial */
};

/* Returns NULL when out of memory. */
struct trace_ctx *trace_new(const struct trace_opts *opts, const char *name);
void trace_free(struct trace_ctx *t);

/* Feeds one decoded packet (tests and the decoder use it). */
void trace_packet(struct trace_ctx *t, const struct trace_pkt *p);
/*
 * Feeds one link-layer frame of type dlt (DLT_*).  caplen bytes are present,
 * wirelen were on the wire.  Frames that are not TCP/ICMP over IP are counted
 * and skipped.
 */
void trace_frame(struct trace_ctx *t, int dlt, uint64_t ts_us, const uint8_t *data,
    uint32_t caplen, uint32_t wirelen);
/* Flushes reassembly and runs the analysis; idempotent. */
void trace_finish(struct trace_ctx *t);

/*
 * libpcap input.  Each returns 0, or -1 with a message in err.  The FILE *
 * variant takes ownership of f (pcap_close closes it, also on error).
 * max_pkts 0 = no limit; max_secs 0 = no limit (live only).
 */
int trace_read_file(struct trace_ctx *t, const char *path, char *err, size_t errlen);
int trace_read_fp(struct trace_ctx *t, FILE *f, char *err, size_t errlen);
int trace_read_live(struct trace_ctx *t, const char *iface, uint32_t max_pkts,
    unsigned max_secs, char *err, size_t errlen);
/* Set from a signal handler to end a live capture early. */
extern volatile int trace_stop;

/* Reports for one or several captures. */
void trace_report_text(struct trace_ctx *const *t, unsigned n, bool verbose, FILE *out);
void trace_report_json(struct trace_ctx *const *t, unsigned n, FILE *out);
void trace_report_html(struct trace_ctx *const *t, unsigned n, FILE *out);

/*
 * Pairs the two views of each control connection seen on both sides of a
 * NAT, in one capture ("-i any" on the router) or across several (LAN side
 * and WAN side), and diagnoses across each pair.  Call after trace_finish
 * on every capture, before the reports.
 */
void trace_pair_nat(struct trace_ctx *const *t, unsigned n);

/* `ftpalg trace` usage. */
void trace_usage(FILE *out);

/* Names, stable: they are the JSON vocabulary. */
const char *trace_diag_name(enum trace_diag_code c);
const char *trace_severity_name(enum trace_severity s);
const char *trace_outcome_name(enum trace_outcome o);
const char *trace_ann_name(enum trace_ann_kind k);

/* Internal, shared between the trace_*.c files. */
void trace_flow_finish(struct trace_ctx *t);
void trace_conn_swap(struct trace_conn *c);
void trace_analyze(struct trace_ctx *t, struct trace_session *s);
const struct trace_diag *trace_worst(const struct trace_session *s);
bool trace_partial(const struct trace_ctx *t);
double trace_rel(const struct trace_session *s, uint64_t ts);
void trace_diag(struct trace_session *s, enum trace_diag_code code, enum trace_severity sev,
    uint64_t ts, const char *fix, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void trace_diag_va(struct trace_diag *list, uint32_t *n, enum trace_diag_code code,
    enum trace_severity sev, uint64_t ts, const char *fix, const char *fmt, va_list ap)
    __attribute__((format(printf, 7, 0)));
void trace_diag_sort(struct trace_diag *list, uint32_t n);
void trace_orphan_outcome(const struct trace_conn *c, char *buf, size_t len);

#endif
