/*
 * trace_out.c - the pcap doctor's reports: terminal, JSON, HTML.
 *
 * All text taken from a capture was reduced to printable ASCII when it was
 * stored (trace_flow.c); here it is still escaped for JSON and HTML, since
 * '<', '&' and '"' are printable.  The HTML page is self-contained: inline
 * CSS and SVG, no script, no external resource.
 */
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/trace.h"

#define OUT_WIDTH 78		/* terminal report: wrap findings here */
#define HTML_MAX_ROWS 400	/* ladder rows per session */

/* ---------------------------------------------------------------- helpers */

static void
out_json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void
out_html(FILE *out, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '&': fputs("&amp;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default:
			if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
				fputc('.', out);
			else
				fputc(*s, out);
		}
	}
}

/* HTML-escaped, cut to max characters (SVG text does not wrap). */
static void
out_html_cut(FILE *out, const char *s, size_t max)
{
	char buf[TRACE_TEXT_MAX + 4];
	size_t n = strlen(s);

	if (n <= max || max < 4 || max >= TRACE_TEXT_MAX) {
		out_html(out, s);
		return;
	}
	memcpy(buf, s, max - 3);
	memcpy(buf + max - 3, "...", 4);
	out_html(out, buf);
}

static double
out_rel(const struct trace_session *s, uint64_t ts)
{
	return ts >= s->start_us ? (double)(ts - s->start_us) / 1e6 : 0.0;
}

static const char *
out_link_name(const struct trace_ctx *t)
{
	const char *n;

	if (t->dlt < 0)
		return "decoded";
	n = pcap_datalink_val_to_name(t->dlt);
	return n != NULL ? n : "?";
}

static void
out_iso_time(uint64_t us, char *buf, size_t len)
{
	time_t sec = (time_t)(us / 1000000u);
	struct tm tm;

	if (gmtime_r(&sec, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "?");
}

/* Writes text wrapped at OUT_WIDTH, the first line after `first`. */
static void
out_wrap(FILE *out, const char *first, const char *indent, const char *text)
{
	size_t col = strlen(first);
	bool empty = true;

	fputs(first, out);
	for (;;) {
		size_t w;

		while (*text == ' ')
			text++;
		if (*text == '\0')
			break;
		w = strcspn(text, " ");
		if (!empty && col + 1 + w > OUT_WIDTH) {
			fprintf(out, "\n%s", indent);
			col = strlen(indent);
			empty = true;
		}
		if (!empty) {
			fputc(' ', out);
			col++;
		}
		fwrite(text, 1, w, out);
		col += w;
		text += w;
		empty = false;
	}
	fputc('\n', out);
}

static const char *
out_side(uint8_t side)
{
	return side == ALG_CLIENT ? "client" : "server";
}

static const char *
out_match_name(uint8_t m)
{
	switch (m) {
	case TRACE_MATCH_EXACT: return "exact";
	case TRACE_MATCH_PEER: return "control-address";
	case TRACE_MATCH_PORT: return "port-only";
	default: return "none";
	}
}

/* One line of what became of an announcement's data connection. */
static void
out_data_line(const struct trace_session *s, const struct trace_ann *a, char *buf, size_t len)
{
	const struct trace_conn *c = a->conn;
	char x[ALG_EP_STRLEN], y[ALG_EP_STRLEN];

	alg_ep_str(&a->ep, y, sizeof(y));
	switch (a->outcome) {
	case TRACE_OUT_DECLINED:
		snprintf(buf, len, "no data connection: the server refused the command");
		return;
	case TRACE_OUT_UNUSED:
		snprintf(buf, len, "no transfer used %s", y);
		return;
	case TRACE_OUT_NOT_ATTEMPTED:
		snprintf(buf, len, "%s -> %s: never attempted (no SYN in the capture)",
		    a->active ? "server" : "client", y);
		return;
	case TRACE_OUT_NOT_CAPTURED:
		snprintf(buf, len, "%s -> %s: not in the capture; the transfer worked (%d)",
		    a->active ? "server" : "client", y, a->xfer_code);
		return;
	case TRACE_OUT_SERVER_REFUSED:
		snprintf(buf, len, "no data connection: the server refused the transfer (%d)",
		    a->xfer_code);
		return;
	default:
		break;
	}
	alg_ep_str(&c->a, x, sizeof(x));
	alg_ep_str(&c->b, y, sizeof(y));
	switch (a->outcome) {
	case TRACE_OUT_ANSWERED:
		if (c->syns > 0)
			snprintf(buf, len, "%s -> %s: answered (+%.3fs)", x, y, out_rel(s, c->syn_us));
		else
			snprintf(buf, len, "%s -> %s: carried data (handshake not captured)", x, y);
		break;
	case TRACE_OUT_REFUSED:
		snprintf(buf, len, "%s -> %s: refused (%s, +%.3fs)", x, y,
		    c->refused ? "TCP reset" : "ICMP error", out_rel(s, c->reset_us));
		break;
	case TRACE_OUT_UNANSWERED:
		snprintf(buf, len, "%s -> %s: never answered (%u SYN%s from +%.3fs)", x, y,
		    c->syns, c->syns == 1 ? "" : "s", out_rel(s, c->syn_us));
		break;
	default:
		snprintf(buf, len, "?");
	}
	/* Not where the announcement said: the client ignored a 227's address,
	 * or a NAT between changed it. */
	if (a->match == TRACE_MATCH_PEER || a->match == TRACE_MATCH_PORT) {
		size_t n = strlen(buf);

		snprintf(buf + n, len - n, a->match == TRACE_MATCH_PEER ?
		    "; to the control address, not the announced one" :
		    "; to another address than announced (NAT)");
	}
}

/* Lines worth a line in the terminal without -v. */
static bool
out_matters(const struct trace_session *s, const struct trace_event *e)
{
	if ((e->kind != TRACE_EV_CMD && e->kind != TRACE_EV_REPLY) || e->prot)
		return true;
	if (e->kind == TRACE_EV_REPLY) {
		if (e->code >= 400 || e->code == 220 || e->code == 230 || e->code == 234 ||
		    e->ep_ok || e->pair < 0)
			return true;
		e = &s->ev[e->pair];
	}
	switch (e->cmd) {
	case ALG_CMD_USER: case ALG_CMD_PORT: case ALG_CMD_EPRT: case ALG_CMD_LPRT:
	case ALG_CMD_PASV: case ALG_CMD_EPSV: case ALG_CMD_LPSV: case ALG_CMD_AUTH:
	case ALG_CMD_CCC: case ALG_CMD_QUIT: case ALG_CMD_ABOR:
		return true;
	default:
		return alg_cmd_is_transfer((enum alg_cmd)e->cmd);
	}
}

/*
 * The announcement event ev made, if any.  Announcements are in event
 * order, so a cursor walks them once per session.
 */
static const struct trace_ann *
out_ann_of(const struct trace_session *s, uint32_t ev, uint32_t *cursor)
{
	while (*cursor < s->nann && s->ann[*cursor].ev < (int32_t)ev)
		(*cursor)++;
	if (*cursor < s->nann && s->ann[*cursor].ev == (int32_t)ev)
		return &s->ann[*cursor];
	return NULL;
}

/* ---------------------------------------------------------------- terminal */

static void
out_text_diags(const struct trace_diag *diag, uint32_t n, FILE *out)
{
	for (uint32_t i = 0; i < n; i++) {
		const struct trace_diag *d = &diag[i];
		char head[64];

		snprintf(head, sizeof(head), "    %-7s ", d->severity == TRACE_SEV_ERROR ? "ERROR" :
		    d->severity == TRACE_SEV_WARN ? "WARNING" : "info");
		out_wrap(out, head, "            ", d->text);
		if (d->count > 1)
			fprintf(out, "            (seen %u times in this session)\n", d->count);
		if (d->fix[0] != '\0')
			out_wrap(out, "            fix: ", "                 ", d->fix);
	}
}

static void
out_text_session(const struct trace_session *s, bool verbose, FILE *out)
{
	char c[ALG_EP_STRLEN], v[ALG_EP_STRLEN], pc[ALG_EP_STRLEN], when[40], data[200];
	uint32_t ncmd = 0, nrep = 0, hidden = 0, cursor = 0;
	const struct trace_session *peer = s->peer;

	alg_ep_str(&s->client, c, sizeof(c));
	alg_ep_str(&s->server, v, sizeof(v));
	out_iso_time(s->start_us, when, sizeof(when));
	for (uint32_t i = 0; i < s->nev; i++) {
		ncmd += s->ev[i].kind == TRACE_EV_CMD;
		nrep += s->ev[i].kind == TRACE_EV_REPLY;
	}
	if (peer != NULL && s->outside) {
		/* Shown once, with the client's side. */
		fprintf(out, "\nsession %u: client %s -> server %s: the server's side of session "
		    "%u of %s (NAT), shown there with its findings\n", s->id, c, v, peer->id,
		    s->peer_ctx->name);
		return;
	}
	fprintf(out, "\nsession %u: client %s -> server %s%s\n", s->id, c, v,
	    s->by_content ? " (found by content)" : "");
	if (peer != NULL) {
		if (alg_ep_equal(&s->server, &peer->server)) {
			alg_ep_str(&peer->client, pc, sizeof(pc));
			fprintf(out, "  client %s, seen by the server as %s (NAT; the server's "
			    "side is session %u of %s)\n", c, pc, peer->id, s->peer_ctx->name);
		} else {
			alg_ep_str(&peer->server, pc, sizeof(pc));
			fprintf(out, "  server %s, which is %s behind the NAT (the server's side "
			    "is session %u of %s)\n", v, pc, peer->id, s->peer_ctx->name);
		}
	}
	fprintf(out, "  %s, %.3fs, %u commands, %u replies, %u data announcement%s\n", when,
	    out_rel(s, s->end_us), ncmd, nrep, s->nann, s->nann == 1 ? "" : "s");
	for (uint32_t i = 0; i < s->nev; i++) {
		const struct trace_event *e = &s->ev[i];
		const struct trace_ann *a;

		a = out_ann_of(s, i, &cursor);
		if (e->hidden)
			continue;
		if (!verbose && a == NULL && !out_matters(s, e)) {
			hidden++;
			continue;
		}
		fprintf(out, "  %+9.3f  %s  %s\n", out_rel(s, e->ts_us),
		    e->kind == TRACE_EV_CMD ? "C>" : e->side == ALG_CLIENT ? "C " : "<S",
		    e->text);
		if (a != NULL) {
			out_data_line(s, a, data, sizeof(data));
			fprintf(out, "             data: %s\n", data);
			if (peer != NULL && a->peer >= 0) {
				const struct trace_ann *q = &peer->ann[a->peer];

				out_data_line(peer, q, data, sizeof(data));
				fprintf(out, "             data, server's side: %s\n", data);
			}
		}
	}
	if (hidden > 0)
		fprintf(out, "  (%u routine lines not shown; -v shows them)\n", hidden);
	if (s->ev_hidden > 0)
		fprintf(out, "  (%u lines after the first %u not listed; still analysed)\n",
		    s->ev_hidden, (unsigned)TRACE_MAX_EVENTS);
	if (s->ev_dropped > 0)
		fprintf(out, "  (%u lines beyond the limit not kept)\n", s->ev_dropped);
	fprintf(out, "  diagnosis:\n");
	out_text_diags(s->diag, s->ndiag, out);
	if (peer != NULL) {
		fprintf(out, "  diagnosis of the server's side (session %u of %s):\n", peer->id,
		    s->peer_ctx->name);
		out_text_diags(peer->diag, peer->ndiag, out);
	}
}

/* An orphan data connection, one line. */
static void
out_orphan_line(const struct trace_conn *c, char *buf, size_t len)
{
	char a[ALG_EP_STRLEN], b[ALG_EP_STRLEN], how[200];

	alg_ep_str(&c->a, a, sizeof(a));
	alg_ep_str(&c->b, b, sizeof(b));
	trace_orphan_outcome(c, how, sizeof(how));
	snprintf(buf, len, "%s -> %s: %s", a, b, how);
}

static void
out_text_capture(const struct trace_ctx *t, bool verbose, FILE *out)
{
	fprintf(out, "capture %s: %u packets (%s), %u TCP connections, %u FTP session%s\n",
	    t->name, t->npkts, out_link_name(t), t->nconns, t->nsessions,
	    t->nsessions == 1 ? "" : "s");
	if (t->warning[0] != '\0')
		fprintf(out, "  warning: %s\n", t->warning);
	if (t->nmalformed > 0)
		fprintf(out, "  %u malformed packets skipped\n", t->nmalformed);
	if (t->conns_dropped + t->sessions_dropped > 0 || t->oom)
		fprintf(out, "  limits reached: the report is partial (%u connections, %u "
		    "sessions not followed)\n", t->conns_dropped, t->sessions_dropped);
	if (t->nsessions == 0)
		fprintf(out, "  no FTP control session found (port 21, or a 220 greeting / "
		    "USER at the start of a connection; -p adds a port)\n");
	for (uint32_t i = 0; i < t->nsessions; i++)
		out_text_session(t->sessions[i], verbose, out);
	if (t->norphans > 0) {
		char line[400];

		fprintf(out, "\ndata connections without a control session:\n");
		for (uint32_t i = 0; i < t->norphans; i++) {
			out_orphan_line(t->orphan[i], line, sizeof(line));
			fprintf(out, "  %s\n", line);
		}
		if (t->orphans_more > 0)
			fprintf(out, "  (%u more)\n", t->orphans_more);
	}
	if (t->ndiag > 0) {
		fprintf(out, "capture diagnosis:\n");
		out_text_diags(t->diag, t->ndiag, out);
	}
}

void
trace_report_text(struct trace_ctx *const *t, unsigned n, bool verbose, FILE *out)
{
	for (unsigned i = 0; i < n; i++) {
		if (i > 0)
			fputc('\n', out);
		out_text_capture(t[i], verbose, out);
	}
}

/* ---------------------------------------------------------------- JSON */

static void
out_json_ep(FILE *out, const char *key, const struct alg_endpoint *ep)
{
	char b[ALG_EP_STRLEN];

	fprintf(out, "\"%s\":", key);
	out_json_str(out, alg_ep_str(ep, b, sizeof(b)));
}

static void
out_json_verb(FILE *out, const struct trace_event *e)
{
	char verb[8];
	size_t i;

	for (i = 0; i < sizeof(verb) - 1 && e->text[i] != '\0' && e->text[i] != ' '; i++)
		verb[i] = e->text[i] >= 'a' && e->text[i] <= 'z' ? (char)(e->text[i] - 32) :
		    e->text[i];
	verb[i] = '\0';
	out_json_str(out, verb);
}

static void out_json_diags(const struct trace_diag *diag, uint32_t n, uint64_t base,
    FILE *out);

static void
out_json_session(const struct trace_session *s, FILE *out)
{
	const struct trace_diag *w = trace_worst(s);

	fprintf(out, "{\"id\":%u,", s->id);
	out_json_ep(out, "client", &s->client);
	fputc(',', out);
	out_json_ep(out, "server", &s->server);
	fprintf(out, ",\"found_by\":\"%s\",\"start\":%.6f,\"duration_s\":%.3f,\"tls\":%s,",
	    s->by_content ? "content" : "port", (double)s->start_us / 1e6,
	    out_rel(s, s->end_us), s->tls ? "true" : "false");
	fprintf(out, "\"diagnosis\":\"%s\",\"severity\":\"%s\",",
	    w != NULL ? trace_diag_name((enum trace_diag_code)w->code) : "ok",
	    w != NULL ? trace_severity_name((enum trace_severity)w->severity) : "info");
	fprintf(out, "\"lost_lines\":%u,\"hidden_lines\":%u,\"long_lines\":%u,",
	    s->ev_dropped, s->ev_hidden, s->long_lines);
	fprintf(out, "\"partial\":%s,\"ccc\":%s,\"rfc2228\":%s,",
	    s->ev_hidden + s->ev_dropped + s->ann_dropped > 0 ? "true" : "false",
	    s->ccc ? "true" : "false", s->prot_lines > 0 ? "true" : "false");
	if (s->peer != NULL) {
		const struct trace_session *cl = s->outside ? s->peer : s;
		const struct trace_session *sv = s->outside ? s : s->peer;

		fprintf(out, "\"nat\":{\"view\":\"%s\",\"peer_capture\":",
		    s->outside ? "server-side" : "client-side");
		out_json_str(out, s->peer_ctx->name);
		fprintf(out, ",\"peer_session\":%u,", s->peer->id);
		out_json_ep(out, "client", &cl->client);
		fputc(',', out);
		out_json_ep(out, "client_seen_by_server_as", &sv->client);
		fputc(',', out);
		out_json_ep(out, "server", &cl->server);
		fputc(',', out);
		out_json_ep(out, "server_behind_nat", &sv->server);
		fprintf(out, ",\"shown\":%s},", s->outside ? "false" : "true");
	}
	fputs("\"events\":[", out);
	for (uint32_t i = 0, k = 0; i < s->nev; i++) {
		const struct trace_event *e = &s->ev[i];
		static const char *const kinds[] = { "command", "reply", "junk", "gap", "tls",
		    "long", "clear" };

		if (e->hidden)
			continue;
		fprintf(out, "%s{\"i\":%u,\"t\":%.6f,\"from\":\"%s\",\"kind\":\"%s\"",
		    k++ > 0 ? "," : "", i, out_rel(s, e->ts_us), out_side(e->side),
		    e->kind < 7 ? kinds[e->kind] : "?");
		if (e->kind == TRACE_EV_CMD) {
			fputs(",\"verb\":", out);
			out_json_verb(out, e);
		}
		if (e->kind == TRACE_EV_REPLY || (e->kind == TRACE_EV_LONG && e->code > 0))
			fprintf(out, ",\"code\":%d", e->code);
		if (e->pair >= 0 && !s->ev[e->pair].hidden)	/* only to listed events */
			fprintf(out, ",\"pair\":%d", e->pair);
		if (e->kind == TRACE_EV_GAP || e->kind == TRACE_EV_LONG)
			fprintf(out, ",\"bytes\":%u", e->bytes);
		if (e->prot)
			fputs(",\"protected\":true", out);
		fputs(",\"text\":", out);
		out_json_str(out, e->text);
		fputc('}', out);
	}
	fputs("],\"announcements\":[", out);
	for (uint32_t i = 0; i < s->nann; i++) {
		const struct trace_ann *a = &s->ann[i];
		const struct trace_conn *c = a->conn;

		fprintf(out, "%s{\"t\":%.6f,\"kind\":\"%s\",\"mode\":\"%s\",", i > 0 ? "," : "",
		    out_rel(s, a->ts_us), trace_ann_name((enum trace_ann_kind)a->kind),
		    a->active ? "active" : "passive");
		out_json_ep(out, "endpoint", &a->ep);
		fprintf(out, ",\"event\":%d,\"outcome\":\"%s\",\"match\":\"%s\"", a->ev,
		    trace_outcome_name((enum trace_outcome)a->outcome), out_match_name(a->match));
		if (a->reply_code != 0)
			fprintf(out, ",\"reply\":%d", a->reply_code);
		if (a->peer >= 0)
			fprintf(out, ",\"peer\":%d", a->peer);
		if (a->xfer_ev >= 0) {
			fputs(",\"transfer\":", out);
			out_json_str(out, s->ev[a->xfer_ev].text);
			fprintf(out, ",\"transfer_reply\":%d", a->xfer_code);
		}
		if (c != NULL) {
			fputs(",\"connection\":{", out);
			out_json_ep(out, "from", &c->a);
			fputc(',', out);
			out_json_ep(out, "to", &c->b);
			fprintf(out, ",\"t\":%.6f,\"syns\":%u,\"synack\":%s,\"reset\":%s,"
			    "\"icmp\":%s,\"bytes\":[%" PRIu64 ",%" PRIu64 "]}",
			    out_rel(s, c->syns > 0 ? c->syn_us : c->first_us), c->syns,
			    c->synacks > 0 ? "true" : "false", c->refused ? "true" : "false",
			    c->icmp != TRACE_ICMP_NONE ? "true" : "false", c->bytes[0], c->bytes[1]);
		}
		fputc('}', out);
	}
	fputs("],\"diagnoses\":", out);
	out_json_diags(s->diag, s->ndiag, s->start_us, out);
	fputc('}', out);
}

/* Findings; their times relative to base (the session's start). */
static void
out_json_diags(const struct trace_diag *diag, uint32_t n, uint64_t base, FILE *out)
{
	fputc('[', out);
	for (uint32_t i = 0; i < n; i++) {
		const struct trace_diag *d = &diag[i];

		fprintf(out, "%s{\"code\":\"%s\",\"severity\":\"%s\",\"count\":%u,\"t\":%.6f,"
		    "\"text\":", i > 0 ? "," : "", trace_diag_name((enum trace_diag_code)d->code),
		    trace_severity_name((enum trace_severity)d->severity), d->count,
		    d->ts_us >= base ? (double)(d->ts_us - base) / 1e6 : 0.0);
		out_json_str(out, d->text);
		fputs(",\"fix\":", out);
		out_json_str(out, d->fix);
		fputc('}', out);
	}
	fputc(']', out);
}

void
trace_report_json(struct trace_ctx *const *t, unsigned n, FILE *out)
{
	fputs("{\"captures\":[", out);
	for (unsigned k = 0; k < n; k++) {
		const struct trace_ctx *c = t[k];

		fprintf(out, "%s{\"name\":", k > 0 ? "," : "");
		out_json_str(out, c->name);
		fputs(",\"link\":", out);
		out_json_str(out, out_link_name(c));
		fprintf(out, ",\"packets\":%u,\"tcp_connections\":%u,\"malformed\":%u,"
		    "\"duplicates_dropped\":%u,\"partial\":%s,\"warning\":", c->npkts, c->nconns,
		    c->nmalformed, c->ncopies, trace_partial(c) ? "true" : "false");
		out_json_str(out, c->warning);
		fputs(",\"orphans\":[", out);
		for (uint32_t i = 0; i < c->norphans; i++) {
			const struct trace_conn *o = c->orphan[i];
			char how[200];

			fprintf(out, "%s{", i > 0 ? "," : "");
			out_json_ep(out, "from", &o->a);
			fputc(',', out);
			out_json_ep(out, "to", &o->b);
			trace_orphan_outcome(o, how, sizeof(how));
			fprintf(out, ",\"t\":%.6f,\"syns\":%u,\"synack\":%s,\"reset_by\":\"%s\","
			    "\"bytes\":[%" PRIu64 ",%" PRIu64 "],\"outcome\":\"%s\",\"text\":",
			    (double)o->first_us / 1e6, o->syns, o->synacks > 0 ? "true" : "false",
			    o->rst[1] ? "responder" : o->rst[0] ? "initiator" : "",
			    o->bytes[0], o->bytes[1], o->rst[0] || o->rst[1] ? "reset" :
			    o->synacks > 0 || o->b_spoke ? "answered" : "unanswered");
			out_json_str(out, how);
			fputc('}', out);
		}
		fputs("],\"diagnoses\":", out);
		out_json_diags(c->diag, c->ndiag, c->first_us, out);
		fputs(",\"sessions\":[", out);
		for (uint32_t i = 0; i < c->nsessions; i++) {
			if (i > 0)
				fputc(',', out);
			out_json_session(c->sessions[i], out);
		}
		fputs("]}", out);
	}
	fputs("]}\n", out);
}

/* ---------------------------------------------------------------- HTML */

/* A ladder row: a line of the control connection, or a data connection. */
struct out_row {
	uint64_t ts;
	uint32_t key;		/* order among equal times */
	int32_t ev;		/* event index, or -1 */
	int32_t ann;		/* announcement index for a data row, or -1 */
};

static int
out_row_cmp(const void *x, const void *y)
{
	const struct out_row *a = x, *b = y;

	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	return a->key < b->key ? -1 : a->key > b->key;
}

#define LAD_W 1100
#define LAD_TIME_X 8
#define LAD_C_X 210
#define LAD_S_X 890
#define LAD_TOP 50
#define LAD_ROW 30

/* Colours, each with its own arrow head (SVG 1.1 markers cannot take the
 * line's colour). */
enum out_color { OC_BLUE, OC_GREEN, OC_RED, OC_ORANGE, OC_GRAY, OC__N };
static const char *const out_colors[OC__N] = {
	"#1565c0", "#2e7d32", "#c62828", "#ef6c00", "#546e7a"
};

static enum out_color
out_reply_color(int code)
{
	if (code >= 400)
		return OC_RED;
	if (code >= 200 && code < 300)
		return OC_GREEN;
	return OC_GRAY;
}

/* cross: end in a cross instead of an arrow head (a SYN that got nowhere). */
static void
out_svg_arrow(FILE *out, int x1, int y1, int x2, int y2, enum out_color c, bool dashed,
    bool cross)
{
	char marker[16];

	if (cross)
		snprintf(marker, sizeof(marker), "ahx");
	else
		snprintf(marker, sizeof(marker), "ah%d", (int)c);
	fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
	    "stroke-width=\"2\"%s marker-end=\"url(#%s)\"/>\n", x1, y1, x2, y2, out_colors[c],
	    dashed ? " stroke-dasharray=\"7,4\"" : "", marker);
}

static void
out_svg_label(FILE *out, int x, int y, const char *anchor, const char *cls, const char *text,
    size_t max)
{
	fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"%s\" class=\"%s\">", x, y, anchor, cls);
	out_html_cut(out, text, max);
	fputs("</text>\n", out);
}

static void
out_html_ladder(const struct trace_session *s, FILE *out)
{
	struct out_row *rows;
	uint32_t n = 0, cap = s->nev + s->nann + 1;
	char c[ALG_EP_STRLEN], v[ALG_EP_STRLEN], buf[200];
	int h;

	rows = calloc(cap, sizeof(*rows));
	if (rows == NULL) {
		fputs("<p>(out of memory drawing the ladder)</p>\n", out);
		return;
	}
	for (uint32_t i = 0; i < s->nev; i++)
		if (!s->ev[i].hidden)
			rows[n++] = (struct out_row){ s->ev[i].ts_us, i * 2, (int32_t)i, -1 };
	for (uint32_t i = 0; i < s->nann; i++) {
		const struct trace_ann *a = &s->ann[i];
		uint64_t ts = a->ts_us;
		uint32_t key = (uint32_t)a->ev * 2 + 1;

		if (a->outcome == TRACE_OUT_UNUSED || a->outcome == TRACE_OUT_DECLINED ||
		    s->ev[a->ev].hidden)
			continue;
		if (a->conn != NULL) {
			ts = a->conn->syns > 0 ? a->conn->syn_us : a->conn->first_us;
			key = UINT32_MAX;	/* after the lines of the same instant */
		} else if (a->xfer_ev >= 0) {
			ts = s->ev[a->xfer_ev].ts_us;
			key = (uint32_t)a->xfer_ev * 2 + 1;
		}
		if (ts < a->ts_us)	/* never above its announcement */
			ts = a->ts_us;
		rows[n++] = (struct out_row){ ts, key, -1, (int32_t)i };
	}
	qsort(rows, n, sizeof(*rows), out_row_cmp);
	if (n > HTML_MAX_ROWS)
		n = HTML_MAX_ROWS;

	alg_ep_str(&s->client, c, sizeof(c));
	alg_ep_str(&s->server, v, sizeof(v));
	h = LAD_TOP + (int)n * LAD_ROW + 30;
	fprintf(out, "<svg class=\"ladder\" id=\"ladder-%u\" xmlns=\"http://www.w3.org/2000/svg\" "
	    "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n", s->id, LAD_W, h,
	    LAD_W, h);
	fputs("<defs>", out);
	for (int k = 0; k < OC__N; k++)
		fprintf(out, "<marker id=\"ah%d\" markerWidth=\"10\" markerHeight=\"8\" "
		    "refX=\"9\" refY=\"4\" orient=\"auto\" markerUnits=\"userSpaceOnUse\">"
		    "<path d=\"M0,0 L10,4 L0,8 z\" fill=\"%s\"/></marker>", k, out_colors[k]);
	fputs("<marker id=\"ahx\" markerWidth=\"14\" markerHeight=\"14\" refX=\"7\" refY=\"7\" "
	    "orient=\"0\" markerUnits=\"userSpaceOnUse\"><path d=\"M2,2 L12,12 M12,2 L2,12\" stroke=\"#c62828\" "
	    "stroke-width=\"3\"/></marker>"
	    "</defs>\n", out);
	fprintf(out, "<text x=\"%d\" y=\"20\" text-anchor=\"middle\" class=\"host\">client ",
	    LAD_C_X);
	out_html(out, c);
	fprintf(out, "</text>\n<text x=\"%d\" y=\"20\" text-anchor=\"middle\" class=\"host\">"
	    "server ", LAD_S_X);
	out_html(out, v);
	fputs("</text>\n", out);
	fprintf(out, "<line x1=\"%d\" y1=\"30\" x2=\"%d\" y2=\"%d\" class=\"life\"/>\n", LAD_C_X,
	    LAD_C_X, h - 10);
	fprintf(out, "<line x1=\"%d\" y1=\"30\" x2=\"%d\" y2=\"%d\" class=\"life\"/>\n", LAD_S_X,
	    LAD_S_X, h - 10);

	for (uint32_t r = 0; r < n; r++) {
		int y = LAD_TOP + (int)r * LAD_ROW;

		fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"time\">+%.3fs</text>\n", LAD_TIME_X,
		    y + 10, out_rel(s, rows[r].ts));
		if (rows[r].ev >= 0) {
			const struct trace_event *e = &s->ev[rows[r].ev];
			int mid = (LAD_C_X + LAD_S_X) / 2;

			switch (e->kind) {
			case TRACE_EV_CMD:
				out_svg_arrow(out, LAD_C_X, y + 8, LAD_S_X - 2, y + 18, OC_BLUE,
				    false, false);
				out_svg_label(out, mid, y + 5, "middle", "cmd", e->text, 80);
				break;
			case TRACE_EV_REPLY:
				out_svg_arrow(out, LAD_S_X, y + 8, LAD_C_X + 2, y + 18,
				    out_reply_color(e->code), false, false);
				out_svg_label(out, mid, y + 5, "middle",
				    e->code >= 400 ? "rep bad" : "rep", e->text, 80);
				break;
			case TRACE_EV_TLS:
				fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"12\" "
				    "class=\"tls\"/>\n", LAD_C_X, y + 4, LAD_S_X - LAD_C_X);
				snprintf(buf, sizeof(buf), "%s: TLS handshake, encrypted from here",
				    out_side(e->side));
				out_svg_label(out, (LAD_C_X + LAD_S_X) / 2, y + 14, "middle", "tlst",
				    buf, 80);
				break;
			default:	/* gap, junk */
				out_svg_label(out, (LAD_C_X + LAD_S_X) / 2, y + 12, "middle", "note",
				    e->text, 80);
				break;
			}
		} else {
			const struct trace_ann *a = &s->ann[rows[r].ann];
			int from = a->active ? LAD_S_X : LAD_C_X, to = a->active ? LAD_C_X : LAD_S_X;
			int mid = (LAD_C_X + LAD_S_X) / 2;
			enum out_color color;

			out_data_line(s, a, buf, sizeof(buf));
			switch (a->outcome) {
			case TRACE_OUT_ANSWERED:
				color = OC_GREEN;
				out_svg_arrow(out, from, y + 14, to + (to > from ? -2 : 2), y + 14,
				    color, true, false);
				break;
			case TRACE_OUT_REFUSED:
				color = OC_ORANGE;
				out_svg_arrow(out, from, y + 11, to + (to > from ? -2 : 2), y + 11,
				    color, true, false);
				out_svg_arrow(out, to, y + 19, from + (to > from ? 2 : -2), y + 19,
				    color, false, false);
				break;
			case TRACE_OUT_UNANSWERED:
				color = OC_RED;
				out_svg_arrow(out, from, y + 14, (from + 2 * to) / 3, y + 14, color,
				    true, true);
				break;
			default:
				color = OC_GRAY;
				break;
			}
			fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" class=\"data\" "
			    "fill=\"%s\">data: ", mid, y + 6, out_colors[color]);
			out_html_cut(out, buf, 100);
			fputs("</text>\n", out);
		}
	}
	if (s->nev + s->nann > n)
		fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"note\">... up to %u more rows not "
		    "drawn</text>\n", LAD_C_X, LAD_TOP + (int)n * LAD_ROW + 12, s->nev + s->nann - n);
	fputs("</svg>\n", out);
	free(rows);
}

static void
out_html_diags(const struct trace_diag *diag, uint32_t n, FILE *out)
{
	fputs("<div class=\"diags\">\n", out);
	for (uint32_t i = 0; i < n; i++) {
		const struct trace_diag *d = &diag[i];

		fprintf(out, "<div class=\"diag %s\"><b>%s</b> <code>%s</code>",
		    trace_severity_name((enum trace_severity)d->severity),
		    d->severity == TRACE_SEV_ERROR ? "Error" : d->severity == TRACE_SEV_WARN ?
		    "Warning" : "Info", trace_diag_name((enum trace_diag_code)d->code));
		if (d->count > 1)
			fprintf(out, " (%u times)", d->count);
		fputs("<p>", out);
		out_html(out, d->text);
		fputs("</p>", out);
		if (d->fix[0] != '\0') {
			fputs("<p class=\"fix\"><b>Fix:</b> ", out);
			out_html(out, d->fix);
			fputs("</p>", out);
		}
		fputs("</div>\n", out);
	}
	fputs("</div>\n", out);
}

static void
out_html_session(const struct trace_ctx *t, const struct trace_session *s, FILE *out)
{
	char c[ALG_EP_STRLEN], v[ALG_EP_STRLEN], when[40];
	const struct trace_session *peer = s->peer;

	alg_ep_str(&s->client, c, sizeof(c));
	alg_ep_str(&s->server, v, sizeof(v));
	out_iso_time(s->start_us, when, sizeof(when));
	fprintf(out, "<section class=\"session\"><h2>Session %u: ", s->id);
	out_html(out, c);
	fputs(" &rarr; ", out);
	out_html(out, v);
	fputs("</h2>\n", out);
	if (peer != NULL && s->outside) {
		fprintf(out, "<p class=\"meta\">The server's side of session %u of ", peer->id);
		out_html(out, s->peer_ctx->name);
		fputs(" (NAT): shown there, side by side.</p></section>\n", out);
		return;
	}
	fprintf(out, "<p class=\"meta\">%s, %.3f s, %u lines, %u data announcement%s%s"
	    "</p>\n", when, out_rel(s, s->end_us), s->nev, s->nann, s->nann == 1 ? "" : "s",
	    s->by_content ? ", found by its content" : "");
	out_html_diags(s->diag, s->ndiag, out);
	if (peer == NULL) {
		fputs("<div class=\"scroll\">\n", out);
		out_html_ladder(s, out);
		fputs("</div></section>\n", out);
		return;
	}
	fprintf(out, "<h3>The server's side (session %u of ", peer->id);
	out_html(out, s->peer_ctx->name);
	fputs(")</h3>\n", out);
	out_html_diags(peer->diag, peer->ndiag, out);
	/* The two views of the NAT side by side, each its own ladder. */
	fputs("<div class=\"scroll\"><div class=\"pair\">\n<div class=\"view\"><h3>Client's "
	    "side (", out);
	out_html(out, t->name);
	fputs(")</h3>\n", out);
	out_html_ladder(s, out);
	fputs("</div>\n<div class=\"view\"><h3>Server's side (", out);
	out_html(out, s->peer_ctx->name);
	fputs(")</h3>\n", out);
	out_html_ladder(peer, out);
	fputs("</div>\n</div></div></section>\n", out);
}

void
trace_report_html(struct trace_ctx *const *t, unsigned n, FILE *out)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	    "<title>ftpalg trace</title>\n<style>\n"
	    "body{font-family:system-ui,sans-serif;margin:20px;color:#212121;background:#fff}\n"
	    "h1{font-size:22px;margin:0 0 6px}h2{font-size:18px;margin:18px 0 4px}\n"
	    ".meta{color:#616161;margin:2px 0 10px}\n"
	    ".diag{border-left:6px solid #90a4ae;background:#f5f7f8;padding:6px 10px;"
	    "margin:6px 0;max-width:1080px}\n"
	    ".diag.error{border-color:#c62828;background:#fdecea}\n"
	    ".diag.warning{border-color:#ef6c00;background:#fff4e5}\n"
	    ".diag.info{border-color:#2e7d32;background:#edf7ed}\n"
	    ".diag p{margin:4px 0}.fix{color:#37474f}\n"
	    ".scroll{overflow-x:auto}\n"
	    ".pair{display:flex;gap:12px;align-items:flex-start}\n"
	    ".view h3{font-size:15px;margin:8px 0 0}\n"
	    "svg.ladder{background:#fcfcfc;border:1px solid #e0e0e0;margin:8px 0}\n"
	    "svg .host{font:bold 14px sans-serif;fill:#263238}\n"
	    "svg .life{stroke:#90a4ae;stroke-width:2}\n"
	    "svg .time{font:12px monospace;fill:#757575}\n"
	    "svg .cmd{font:12px monospace;fill:#0d47a1}\n"
	    "svg .rep{font:12px monospace;fill:#1b5e20}\n"
	    "svg .rep.bad{fill:#b71c1c}\n"
	    "svg .data{font:bold 12px monospace}\n"
	    "svg .note{font:italic 12px sans-serif;fill:#616161}\n"
	    "svg .tls{fill:#7b1fa2;opacity:.35}svg .tlst{font:bold 12px sans-serif;fill:#4a148c}\n"
	    ".legend span{display:inline-block;margin-right:14px}\n"
	    "</style></head><body>\n<h1>ftpalg trace</h1>\n"
	    "<p class=\"legend\"><span style=\"color:#1565c0\">&#8594; command</span>"
	    "<span style=\"color:#2e7d32\">&#8592; reply</span>"
	    "<span style=\"color:#2e7d32\">- - data connection answered</span>"
	    "<span style=\"color:#ef6c00\">- - refused</span>"
	    "<span style=\"color:#c62828\">- - &#10005; never answered</span></p>\n", out);
	for (unsigned k = 0; k < n; k++) {
		const struct trace_ctx *c = t[k];

		fputs("<h2>Capture ", out);
		out_html(out, c->name);
		fprintf(out, "</h2>\n<p class=\"meta\">%u packets (%s), %u TCP connections, "
		    "%u FTP session%s", c->npkts, out_link_name(c), c->nconns, c->nsessions,
		    c->nsessions == 1 ? "" : "s");
		if (c->warning[0] != '\0') {
			fputs("; ", out);
			out_html(out, c->warning);
		}
		fputs("</p>\n", out);
		if (c->nsessions == 0)
			fputs("<p>No FTP control session found.</p>\n", out);
		for (uint32_t i = 0; i < c->nsessions; i++)
			out_html_session(c, c->sessions[i], out);
		if (c->norphans > 0) {
			char line[400];

			fputs("<h3>Data connections without a control session</h3>\n<ul>\n", out);
			for (uint32_t i = 0; i < c->norphans; i++) {
				out_orphan_line(c->orphan[i], line, sizeof(line));
				fputs("<li><code>", out);
				out_html(out, line);
				fputs("</code></li>\n", out);
			}
			fputs("</ul>\n", out);
		}
		if (c->ndiag > 0)
			out_html_diags(c->diag, c->ndiag, out);
	}
	fputs("</body></html>\n", out);
}

void
trace_usage(FILE *out)
{
	fputs("usage: ftpalg trace [--json] [--html FILE] [-v] [-p PORT]... FILE...\n"
	    "       ftpalg trace [--json] [--html FILE] [-v] [-p PORT]... -i IFACE [-c COUNT] "
	    "[-t SECONDS]\n"
	    "\n"
	    "The pcap doctor: reads captures (pcap or pcapng, \"-\" for stdin) or captures\n"
	    "live, finds the FTP sessions, follows every data connection and says why a\n"
	    "session failed and what to change.  Several files are read together: give\n"
	    "the LAN-side and the WAN-side capture of a NAT router (ftpalg trace lan.pcap\n"
	    "wan.pcap), or one \"-i any\" capture of the router, and each session is\n"
	    "shown once with both views paired.\n"
	    "\n"
	    "  --json          the report as JSON on stdout\n"
	    "  --html FILE     also write an HTML report with a ladder diagram\n"
	    "  -v, --verbose   list every line of each session\n"
	    "  -p PORT         another FTP control port (besides 21; up to 8)\n"
	    "  -i IFACE        capture live on IFACE (root), for up to -t SECONDS (60)\n"
	    "  -c COUNT        or until COUNT packets\n"
	    "  -h, --help      this text\n"
	    "\n"
	    "Findings and their fixes: docs/troubleshooting.md; see ftpalg(8).\n", out);
}
