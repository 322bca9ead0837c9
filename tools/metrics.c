/*
 * metrics.c - `ftpalg metrics`: ftpalgd's stats JSON as Prometheus text.
 *
 * The JSON is walked, not pattern-matched: every number in a stats reply
 * becomes a sample.  The members the project knows are named here with
 * their type and meaning (the tables below); a member added to the daemon
 * later still comes out, as an untyped metric named after it, so a scraper
 * never silently loses a counter.  Objects of numbers ("rewrites",
 * "refusals", "pinholes", ...) become one metric family with a label
 * (kind, reason, event).  Every stats sample carries engine="proxy" or
 * engine="inline", but those of the pinhole table and the relays, which the
 * engines share.
 *
 * Samples are collected first and printed family by family at the end:
 * the exposition format wants one HELP/TYPE header and all samples of a
 * family together, and the proxy and inline engines feed the same
 * families.  A bad reply leaves the output empty.
 */
#include <math.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ctl.h"
#include "tools/json.h"
#include "tools/metrics.h"

#define M_MAX_FAMILIES 160
#define M_MAX_SAMPLES 2048
#define M_NAME 96
#define M_LABELS 256

/* A known member of the stats JSON. */
struct m_known {
	const char *key;	/* top-level member, or member of obj */
	const char *obj;	/* NULL: top level; else the object it is in */
	const char *family;
	const char *type;	/* counter, gauge */
	const char *label;	/* NULL: no label of its own */
	const char *lvalue;	/* the label's value; NULL: the member's key */
	double scale;		/* 0: 1 */
	const char *help;
};

/* An object of numbers whose members are label values of one family. */
static const struct m_known m_objects[] = {
	{ "rewrites", NULL, "ftpalg_rewrites_total", "counter", "kind", NULL, 0,
	  "FTP commands and replies rewritten, by kind (PORT, EPRT, LPRT, 227, 228, 229, EPSV)" },
	{ "refusals", NULL, "ftpalg_refusals_total", "counter", "reason", NULL, 0,
	  "Commands or replies refused or corrected by policy, by reason" },
	{ "pinholes", NULL, "ftpalg_pinholes_total", "counter", "event", NULL, 0,
	  "Pinhole events: opened, used (its data connection came), expired (unused), closed, "
	  "refused (max-pinholes or no port), failed (nftables error)" },
	{ "relays", NULL, "ftpalg_relays_total", "counter", "event", NULL, 0,
	  "Userspace relay events: opened, accepted, foreign (a connection from another peer), "
	  "expired, closed, refused, failed" },
	{ "verdicts", NULL, "ftpalg_inline_verdicts_total", "counter", "verdict", NULL, 0,
	  "Inline engine verdicts on control packets: unchanged, rewritten, dropped" },
};

/* Members with a meaning of their own (top level, or a special member of an object). */
static const struct m_known m_members[] = {
	{ "sessions_total", NULL, "ftpalg_sessions_total", "counter", NULL, NULL, 0,
	  "FTP control sessions (proxy) or followed flows (inline) since ftpalgd started" },
	{ "sessions_active", NULL, "ftpalg_sessions_active", "gauge", NULL, NULL, 0,
	  "FTP control sessions open now" },
	{ "sessions_refused", NULL, "ftpalg_sessions_refused_total", "counter", NULL, NULL, 0,
	  "Control connections refused: max-sessions, max-sessions-per-client, or not a "
	  "redirected connection" },
	{ "errors", NULL, "ftpalg_errors_total", "counter", NULL, NULL, 0,
	  "Errors that ended a session or a data connection (system calls, nftables)" },
	{ "open", "pinholes", "ftpalg_pinholes_open", "gauge", NULL, NULL, 0,
	  "Pinholes open now" },
	{ "kept", "pinholes", "ftpalg_pinholes_kept", "gauge", NULL, NULL, 0,
	  "Gateway ports kept at start-up for pinholes announced before it (inline restart)" },
	{ "open", "relays", "ftpalg_relays_open", "gauge", NULL, NULL, 0,
	  "Userspace relays open now" },
	{ "bytes_in", "relays", "ftpalg_relay_bytes_total", "counter", "direction", "in", 0,
	  "Bytes carried by userspace relays: in (peer to server) and out" },
	{ "bytes_out", "relays", "ftpalg_relay_bytes_total", "counter", "direction", "out", 0,
	  "Bytes carried by userspace relays: in (peer to server) and out" },
	{ "passed_through", NULL, "ftpalg_inline_passed_through_total", "counter", NULL, NULL, 0,
	  "Flows the inline engine let through without following them (limits, fail-open)" },
	{ "packets", NULL, "ftpalg_inline_packets_total", "counter", NULL, NULL, 0,
	  "Control packets the inline engine received from NFQUEUE" },
	{ "held", NULL, "ftpalg_inline_held_total", "counter", NULL, NULL, 0,
	  "Packets held back until the rest of a line arrived" },
	{ "released", NULL, "ftpalg_inline_released_total", "counter", NULL, NULL, 0,
	  "Held packets released" },
	{ "expired", NULL, "ftpalg_inline_expired_total", "counter", NULL, NULL, 0,
	  "Followed flows that ended by timeout" },
	{ "truncated", NULL, "ftpalg_inline_truncated_total", "counter", NULL, NULL, 0,
	  "Packets that NFQUEUE delivered cut short" },
	{ "retransmits", NULL, "ftpalg_inline_retransmits_total", "counter", NULL, NULL, 0,
	  "Retransmitted control packets seen" },
	{ "local_answers", NULL, "ftpalg_inline_local_answers_total", "counter", NULL, NULL, 0,
	  "Commands the inline engine answered or substituted itself" },
	{ "ack_probes", NULL, "ftpalg_inline_ack_probes_total", "counter", NULL, NULL, 0,
	  "ACK probes sent to learn the peer's state" },
	{ "carried_by_ack", NULL, "ftpalg_inline_carried_by_ack_total", "counter", NULL, NULL, 0,
	  "Bytes of rewritten data acknowledged by a pure ACK" },
	{ "busy_ns", NULL, "ftpalg_inline_busy_seconds_total", "counter", NULL, NULL, 1e-9,
	  "CPU time the inline engine spent on packets" },
	{ "queue_overruns", NULL, "ftpalg_inline_queue_overruns_total", "counter", NULL, NULL, 0,
	  "Packets the kernel could not queue to ftpalgd (socket buffer full)" },
};

/* Members that are settings or derived values, not metrics. */
static const char *const m_skip[] = { "engine", "queue", "fail_open", "ns_per_packet", NULL };

struct m_family {
	char name[M_NAME];
	const char *type;
	char help[200];
};

struct m_sample {
	unsigned fam;
	char labels[M_LABELS];
	double v;
};

struct m_set {
	struct m_family fam[M_MAX_FAMILIES];
	unsigned nfam;
	struct m_sample *s;
	unsigned ns, dropped;
};

/* A metric name from a JSON key: [a-zA-Z0-9_] only, prefixed. */
static void
m_name(char *dst, size_t len, const char *prefix, const char *key)
{
	size_t o = (size_t)snprintf(dst, len, "%s", prefix);

	for (; *key != '\0' && o + 1 < len; key++) {
		unsigned char c = (unsigned char)*key;

		dst[o++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') ? (char)c : '_';
	}
	dst[o] = '\0';
}

/* A label value, escaped as the exposition format wants; printable ASCII only. */
static size_t
m_escape(char *dst, size_t len, const char *v)
{
	size_t o = 0;

	for (; *v != '\0' && o + 3 < len; v++) {
		unsigned char c = (unsigned char)*v;

		if (c == '\\' || c == '"') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else if (c == '\n') {
			dst[o++] = '\\';
			dst[o++] = 'n';
		} else {
			dst[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
	}
	dst[o] = '\0';
	return o;
}

/* Appends name="value" to a label list. */
static void
m_label(char *labels, const char *name, const char *value)
{
	size_t o = strlen(labels);
	char esc[M_LABELS];

	if (name == NULL || value == NULL)
		return;
	m_escape(esc, sizeof(esc), value);
	snprintf(labels + o, M_LABELS - o, "%s%s=\"%s\"", o > 0 ? "," : "", name, esc);
}

static unsigned
m_family(struct m_set *m, const char *name, const char *type, const char *help)
{
	for (unsigned i = 0; i < m->nfam; i++)
		if (strcmp(m->fam[i].name, name) == 0)
			return i;
	if (m->nfam == M_MAX_FAMILIES)
		return UINT32_MAX;
	snprintf(m->fam[m->nfam].name, M_NAME, "%s", name);
	m->fam[m->nfam].type = type;
	m_escape(m->fam[m->nfam].help, sizeof(m->fam[m->nfam].help), help);
	return m->nfam++;
}

/* One sample; a repeated family+labels keeps the first (an engine asked twice). */
static void
m_add(struct m_set *m, const char *name, const char *type, const char *help,
    const char *labels, double v)
{
	unsigned f = m_family(m, name, type, help);

	if (f == UINT32_MAX || m->ns == M_MAX_SAMPLES) {
		m->dropped++;
		return;
	}
	for (unsigned i = 0; i < m->ns; i++)
		if (m->s[i].fam == f && strcmp(m->s[i].labels, labels) == 0)
			return;
	m->s[m->ns].fam = f;
	snprintf(m->s[m->ns].labels, M_LABELS, "%s", labels);
	m->s[m->ns].v = v;
	m->ns++;
}

static const struct m_known *
m_lookup(const struct m_known *t, size_t n, const char *obj, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].key, key) == 0 &&
		    (t[i].obj == NULL ? obj == NULL : obj != NULL && strcmp(t[i].obj, obj) == 0))
			return &t[i];
	return NULL;
}

static bool
m_skipped(const char *key)
{
	for (int i = 0; m_skip[i] != NULL; i++)
		if (strcmp(m_skip[i], key) == 0)
			return true;
	return false;
}

/* A number member: known (its own family) or from an object (label) or unknown. */
static void
m_number(struct m_set *m, const char *engine, const char *obj, const struct m_known *objk,
    const char *key, double v)
{
	const struct m_known *k = m_lookup(m_members, sizeof(m_members) / sizeof(m_members[0]),
	    obj, key);
	char labels[M_LABELS] = "", name[M_NAME], help[200];

	/*
	 * The pinhole table and the relays are the gateway's, shared by both
	 * engines (each engine's reply shows the same table): no engine label,
	 * so that the second reply's copy is a duplicate and dropped.
	 */
	if (obj == NULL || (strcmp(obj, "pinholes") != 0 && strcmp(obj, "relays") != 0))
		m_label(labels, "engine", engine);
	if (k != NULL) {
		m_label(labels, k->label, k->lvalue != NULL ? k->lvalue : key);
		m_add(m, k->family, k->type, k->help, labels, k->scale != 0 ? v * k->scale : v);
	} else if (objk != NULL) {
		m_label(labels, objk->label, key);
		m_add(m, objk->family, objk->type, objk->help, labels, v);
	} else if (obj != NULL) {
		/* An object the project does not know yet: its keys as labels. */
		m_name(name, sizeof(name), "ftpalg_", obj);
		snprintf(help, sizeof(help), "ftpalgd stats member \"%s\" (not described yet)", obj);
		m_label(labels, "key", key);
		m_add(m, name, "untyped", help, labels, v);
	} else {
		m_name(name, sizeof(name), "ftpalg_", key);
		snprintf(help, sizeof(help), "ftpalgd stats member \"%s\" (not described yet)", key);
		m_add(m, name, "untyped", help, labels, v);
	}
}

/* Parses a reply; the root object, or NULL with err set. */
static const struct json_val *
m_parse(struct json_doc *d, const char *what, const char *text, size_t len, char *err,
    size_t errlen)
{
	const struct json_val *root;
	const char *e;

	if (text == NULL || len == 0) {
		snprintf(err, errlen, "empty %s reply from ftpalgd", what);
		return NULL;
	}
	if (json_parse(d, text, len) < 0) {
		snprintf(err, errlen, "malformed %s reply from ftpalgd: %s", what, d->err);
		return NULL;
	}
	root = json_root(d);
	if (root == NULL || root->type != JSON_OBJECT) {
		snprintf(err, errlen, "malformed %s reply from ftpalgd: not a JSON object", what);
		return NULL;
	}
	if ((e = json_get_str(d, root, "error", NULL)) != NULL) {
		char msg[128];

		m_escape(msg, sizeof(msg), e);
		snprintf(err, errlen, "ftpalgd: %s", msg);
		return NULL;
	}
	return root;
}

static void
m_stats(struct m_set *m, const struct json_doc *d, const struct json_val *root,
    const char *engine)
{
	for (const struct json_val *v = json_first(d, root); v != NULL; v = json_next(d, v)) {
		const char *key = json_key(d, v);

		if (m_skipped(key))
			continue;
		if (v->type == JSON_NUMBER) {
			m_number(m, engine, NULL, NULL, key, v->num);
		} else if (v->type == JSON_OBJECT) {
			const struct m_known *objk = m_lookup(m_objects,
			    sizeof(m_objects) / sizeof(m_objects[0]), NULL, key);

			for (const struct json_val *c = json_first(d, v); c != NULL;
			    c = json_next(d, c))
				if (c->type == JSON_NUMBER)
					m_number(m, engine, key, objk, json_key(d, c), c->num);
		}
		/* strings, booleans, arrays: settings or listings, not metrics */
	}
}

static void
m_limit(struct m_set *m, const struct json_doc *d, const struct json_val *status,
    const char *key, unsigned cfg, const char *name, const char *help)
{
	double v = status != NULL ? json_get_num(d, status, key, NAN) : NAN;

	if (isnan(v) && cfg > 0)
		v = cfg;
	if (!isnan(v))
		m_add(m, name, "gauge", help, "", v);
}

/* The reloads (SIGHUP) the status reply counts, when it does. */
static void
m_status_reloads(struct m_set *m, const struct json_doc *d, const struct json_val *st)
{
	double v;
	int ok;

	if (!isnan(v = json_get_num(d, st, "reloads", NAN)))
		m_add(m, "ftpalg_reloads_total", "counter", "Configuration reloads done (SIGHUP, "
		    "systemctl reload, procd reload)", "", v);
	if (!isnan(v = json_get_num(d, st, "reloads_refused", NAN)))
		m_add(m, "ftpalg_reloads_refused_total", "counter", "Reloads refused: the new file "
		    "did not pass the check, the running configuration stayed", "", v);
	if (!isnan(v = json_get_num(d, st, "last_reload_unix", NAN)))
		m_add(m, "ftpalg_last_reload_timestamp_seconds", "gauge", "When the last reload "
		    "was tried (Unix time)", "", v);
	if ((ok = json_get_bool(d, st, "last_reload_ok")) >= 0)
		m_add(m, "ftpalg_last_reload_success", "gauge", "1 if the last reload was "
		    "applied, 0 if it was refused", "", ok);
}

static void
m_print_value(FILE *out, double v)
{
	/* integers as integers (counters up to 2^53 are exact in a double) */
	if (v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(int64_t)v)
		fprintf(out, "%.0f\n", v);
	else
		fprintf(out, "%.15g\n", v);
}

int
metrics_render(const struct metrics_input *in, FILE *out, char *err, size_t errlen)
{
	struct m_set *m = calloc(1, sizeof(*m));
	struct json_doc sd;
	const struct json_val *st = NULL;
	int rc = -1;

	memset(&sd, 0, sizeof(sd));
	if (m == NULL || (m->s = calloc(M_MAX_SAMPLES, sizeof(*m->s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	if (in->status != NULL) {
		char labels[M_LABELS] = "";
		const struct json_val *l;

		if ((st = m_parse(&sd, "status", in->status, in->status_len, err, errlen)) == NULL)
			goto done;
		m_label(labels, "version", json_get_str(&sd, st, "version", "unknown"));
		m_label(labels, "mode", json_get_str(&sd, st, "mode", "unknown"));
		m_label(labels, "nft_table", json_get_str(&sd, st, "nft_table", ""));
		m_add(m, "ftpalg_info", "gauge", "ftpalgd's version, mode and nftables table "
		    "(always 1)", labels, 1);
		if (!isnan(json_get_num(&sd, st, "uptime_s", NAN)))
			m_add(m, "ftpalg_uptime_seconds", "gauge", "Seconds since ftpalgd started", "",
			    json_get_num(&sd, st, "uptime_s", 0));
		l = json_get(&sd, st, "listen");
		if (l != NULL && l->type == JSON_ARRAY)
			m_add(m, "ftpalg_listeners", "gauge", "Addresses ftpalgd listens on for "
			    "redirected control connections", "", l->count);
		if (!isnan(json_get_num(&sd, st, "mappings", NAN)))
			m_add(m, "ftpalg_mappings", "gauge", "Inbound mappings configured", "",
			    json_get_num(&sd, st, "mappings", 0));
		m_status_reloads(m, &sd, st);
	}
	m_limit(m, &sd, st, "max_sessions", in->lim.max_sessions, "ftpalg_sessions_limit",
	    "max-sessions: control sessions ftpalgd accepts at once");
	m_limit(m, &sd, st, "max_sessions_per_client", in->lim.max_sessions_per_client,
	    "ftpalg_sessions_per_client_limit", "max-sessions-per-client");
	m_limit(m, &sd, st, "max_pinholes", in->lim.max_pinholes, "ftpalg_pinholes_limit",
	    "max-pinholes: pinholes open at once, over all sessions");
	for (unsigned i = 0; i < in->nstats && i < METRICS_MAX_ENGINES; i++) {
		struct json_doc d;
		const struct json_val *root;
		const char *engine;

		memset(&d, 0, sizeof(d));
		root = m_parse(&d, "stats", in->stats[i].json, in->stats[i].len, err, errlen);
		if (root == NULL) {
			json_free(&d);
			goto done;
		}
		if (json_get(&d, root, "sessions_total") == NULL &&
		    json_get(&d, root, "rewrites") == NULL) {
			snprintf(err, errlen, "malformed stats reply: no sessions_total or rewrites");
			json_free(&d);
			goto done;
		}
		engine = in->stats[i].engine != NULL ? in->stats[i].engine :
		    json_get_str(&d, root, "engine", "proxy");
		m_stats(m, &d, root, engine);
		json_free(&d);
	}
	if (m->dropped > 0) {
		snprintf(err, errlen, "more than %u metrics: %u not converted", M_MAX_SAMPLES,
		    m->dropped);
		goto done;
	}
	for (unsigned f = 0; f < m->nfam; f++) {
		fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", m->fam[f].name, m->fam[f].help,
		    m->fam[f].name, m->fam[f].type);
		for (unsigned i = 0; i < m->ns; i++) {
			if (m->s[i].fam != f)
				continue;
			if (m->s[i].labels[0] != '\0')
				fprintf(out, "%s{%s} ", m->fam[f].name, m->s[i].labels);
			else
				fprintf(out, "%s ", m->fam[f].name);
			m_print_value(out, m->s[i].v);
		}
	}
	rc = 0;
done:
	json_free(&sd);
	if (m != NULL)
		free(m->s);
	free(m);
	return rc;
}

/* Whether a reply names engine as its "engine". */
static bool
m_engine_is(const char *text, size_t len, const char *engine)
{
	struct json_doc d;
	const struct json_val *root;
	bool yes = false;

	if (json_parse(&d, text, len) == 0 && (root = json_root(&d)) != NULL &&
	    root->type == JSON_OBJECT)
		yes = strcmp(json_get_str(&d, root, "engine", ""), engine) == 0;
	json_free(&d);
	return yes;
}

int
metrics_command(const char *sock, const struct metrics_limits *lim, FILE *out, FILE *errout)
{
	struct metrics_input in;
	char err[512], *status = NULL, *stats = NULL, *inl = NULL;
	size_t status_len = 0, stats_len = 0, inl_len = 0;
	int rc = 1;

	memset(&in, 0, sizeof(in));
	if (lim != NULL)
		in.lim = *lim;
	if (ctl_query(sock, "status", &status, &status_len, err, sizeof(err)) < 0 ||
	    ctl_query(sock, "stats", &stats, &stats_len, err, sizeof(err)) < 0)
		goto done;
	in.status = status;
	in.status_len = status_len;
	in.stats[in.nstats].json = stats;
	in.stats[in.nstats++].len = stats_len;
	/*
	 * The inline engine beside listeners or mappings answers "inline"; alone
	 * it answers "stats" itself (its reply then says "engine":"inline").
	 */
	if (m_engine_is(status, status_len, "inline") && !m_engine_is(stats, stats_len, "inline")) {
		if (ctl_query(sock, "inline", &inl, &inl_len, err, sizeof(err)) < 0)
			goto done;
		in.stats[in.nstats].engine = "inline";
		in.stats[in.nstats].json = inl;
		in.stats[in.nstats++].len = inl_len;
	}
	if (metrics_render(&in, out, err, sizeof(err)) < 0)
		goto done;
	rc = fflush(out) == 0 ? 0 : 1;
	if (rc != 0)
		snprintf(err, sizeof(err), "cannot write the metrics");
done:
	if (rc != 0)
		fprintf(errout, "ftpalg: %s\n", err);
	free(status);
	free(stats);
	free(inl);
	return rc;
}
