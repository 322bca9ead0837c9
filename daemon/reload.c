/*
 * reload.c - what a reload changes, key by key (see reload.h).
 *
 * Every key of ftpalgd.conf is in rl_keys with the fields it sets and when a
 * new value takes effect.  reload_plan() compares those fields; as a guard
 * against a key added to config.c but not here, it also checks that copying
 * the listed fields makes the two configurations equal, and refuses the
 * reload otherwise (a test also checks that every key is listed).
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon/reload.h"

#define RL_SPANS 3

struct rl_span {
	size_t off, len;
};

struct rl_key {
	const char *name;
	uint8_t when;		/* enum reload_when */
	unsigned apply;		/* RELOAD_A_* when it changes */
	struct rl_span span[RL_SPANS];
};

#define F(field) { offsetof(struct ftpalg_config, field), \
	sizeof(((struct ftpalg_config *)0)->field) }

static const struct rl_key rl_keys[] = {
	{ "listen", RELOAD_LIVE, RELOAD_A_LISTEN, { F(listen), F(n_listen) } },
	{ "mode", RELOAD_LIVE, RELOAD_A_LISTEN, { F(mode) } },
	{ "engine", RELOAD_RESTART, 0, { F(engine) } },
	{ "queue-num", RELOAD_RESTART, 0, { F(queue_num) } },
	{ "fail-open", RELOAD_RESTART, 0, { F(fail_open) } },
	{ "intercept-interface", RELOAD_LIVE, RELOAD_A_INTERCEPT, { F(intercept_iif) } },
	{ "control-ports", RELOAD_LIVE, RELOAD_A_INTERCEPT,
	    { F(control_ports), F(n_control_ports) } },
	{ "mapping", RELOAD_LIVE, RELOAD_A_MAPPINGS, { F(mappings), F(n_mappings) } },
	{ "public-address", RELOAD_LIVE, RELOAD_A_PUBLIC, { F(public_addr), F(n_public_addr) } },
	{ "public-interface", RELOAD_LIVE, RELOAD_A_PUBLIC, { F(public_iif) } },
	{ "max-relays", RELOAD_NEXT, RELOAD_A_RELAY, { F(max_relays) } },
	{ "max-relays-per-session", RELOAD_NEXT, RELOAD_A_RELAY, { F(max_relays_per_session) } },
	{ "relay-buffer", RELOAD_NEXT, RELOAD_A_RELAY, { F(relay_buffer) } },
	{ "data-ports", RELOAD_LIVE, RELOAD_A_POOL, { F(data_port_min), F(data_port_max) } },
	{ "nft-table", RELOAD_RESTART, 0, { F(nft_table) } },
	{ "pinhole-mark", RELOAD_RESTART, 0, { F(pinhole_mark) } },
	{ "pinhole-timeout", RELOAD_NEXT, RELOAD_A_SESSIONS,
	    { F(pinhole_timeout_ms), F(policy.map_timeout_ms) } },
	{ "max-pinholes", RELOAD_NEXT, RELOAD_A_POOL, { F(max_pinholes) } },
	{ "max-sessions", RELOAD_NEXT, RELOAD_A_SESSIONS, { F(max_sessions) } },
	{ "max-sessions-per-client", RELOAD_NEXT, RELOAD_A_SESSIONS,
	    { F(max_sessions_per_client) } },
	/* Relays take both timeouts too (connecting, idle). */
	{ "idle-timeout", RELOAD_NEXT, RELOAD_A_SESSIONS | RELOAD_A_RELAY, { F(idle_timeout_ms) } },
	{ "connect-timeout", RELOAD_NEXT, RELOAD_A_SESSIONS | RELOAD_A_RELAY,
	    { F(connect_timeout_ms) } },
	{ "pasv-policy", RELOAD_NEXT, RELOAD_A_SESSIONS, { F(policy.pasv) } },
	{ "port-address-policy", RELOAD_NEXT, RELOAD_A_SESSIONS, { F(policy.port_addr) } },
	{ "tls", RELOAD_NEXT, RELOAD_A_SESSIONS, { F(policy.tls) } },
	{ "long-commands", RELOAD_NEXT, RELOAD_A_SESSIONS, { F(policy.long_cmds) } },
	{ "allow-low-ports", RELOAD_NEXT, RELOAD_A_SESSIONS, { F(policy.allow_low_ports) } },
	{ "require-login", RELOAD_NEXT, RELOAD_A_SESSIONS, { F(policy.require_login) } },
	{ "log", RELOAD_RESTART, 0, { F(log_target) } },
	{ "log-level", RELOAD_LIVE, RELOAD_A_LOG, { F(log_level) } },
	{ "user", RELOAD_RESTART, 0, { F(user) } },
	{ "pidfile", RELOAD_RESTART, 0, { F(pidfile) } },
	{ "control-socket", RELOAD_RESTART, 0, { F(control_socket) } },
	{ "control-group", RELOAD_RESTART, 0, { F(control_group) } },
	/* Who counts as one client is asked when a session is admitted. */
	{ "client-prefix6", RELOAD_NEXT, RELOAD_A_SESSIONS, { F(client_prefix6) } },
};
#undef F
#define RL_NKEYS (sizeof(rl_keys) / sizeof(rl_keys[0]))

/* Why a key needs a restart, for the refusal. */
static const struct {
	const char *key, *why;
} rl_why[] = {
	{ "engine", "the engine is chosen at start" },
	{ "queue-num", "the NFQUEUE queue is bound at start" },
	{ "fail-open", "a flag of the NFQUEUE queue bound at start" },
	{ "nft-table", "pinholes live in the table made at start" },
	{ "pinhole-mark", "the admin's filter and live pinholes use the mark" },
	{ "log", "the log target is opened at start" },
	{ "user", "privileges are dropped at start" },
	{ "pidfile", "written at start, before privileges are dropped" },
	{ "control-socket", "bound at start, before privileges are dropped" },
	{ "control-group", "the control socket's owner is set when it is bound" },
};

/* Appends ", text" (or text) to a list; cuts with "..." rather than overflow. */
static void rl_add(char *list, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
rl_add(char *list, size_t size, const char *fmt, ...)
{
	size_t len = strlen(list);
	va_list ap;
	int n;

	if (len + 4 >= size)
		return;
	if (len > 0) {
		memcpy(list + len, ", ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	n = vsnprintf(list + len, size - len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - len)
		memcpy(list + size - 4, "...", 4);
}

static bool
rl_differs(const struct rl_key *k, const struct ftpalg_config *a, const struct ftpalg_config *b)
{
	for (unsigned i = 0; i < RL_SPANS && k->span[i].len > 0; i++)
		if (memcmp((const char *)a + k->span[i].off, (const char *)b + k->span[i].off,
		    k->span[i].len) != 0)
			return true;
	return false;
}

int
reload_key_when(const char *key)
{
	for (size_t i = 0; i < RL_NKEYS; i++)
		if (strcmp(rl_keys[i].name, key) == 0)
			return rl_keys[i].when;
	return -1;
}

static const char *
rl_why_of(const char *key)
{
	for (size_t i = 0; i < sizeof(rl_why) / sizeof(rl_why[0]); i++)
		if (strcmp(rl_why[i].key, key) == 0)
			return rl_why[i].why;
	return "fixed at start";
}

static bool
rl_ss_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	/* Parsed endpoints are zeroed before they are filled: bytes compare. */
	return memcmp(a, b, sizeof(*a)) == 0;
}

static bool
rl_has_listen(const struct ftpalg_config *c, const struct sockaddr_storage *ss)
{
	for (unsigned i = 0; i < c->n_listen && i < CFG_MAX_LISTEN; i++)
		if (rl_ss_equal(&c->listen[i], ss))
			return true;
	return false;
}

/* The mapping of c on the same public endpoint as m, or NULL. */
static const struct cfg_mapping *
rl_find_mapping(const struct ftpalg_config *c, const struct cfg_mapping *m)
{
	for (unsigned i = 0; i < c->n_mappings && i < CFG_MAX_MAPPINGS; i++)
		if (c->mappings[i].on_public == m->on_public &&
		    rl_ss_equal(&c->mappings[i].listen, &m->listen))
			return &c->mappings[i];
	return NULL;
}

/* "listen +[::]:2122 -[::]:2121" */
static void
rl_detail_listen(const struct ftpalg_config *run, const struct ftpalg_config *next,
    struct reload_plan *p)
{
	char a[64], list[RELOAD_TEXT] = "";

	for (unsigned i = 0; i < next->n_listen && i < CFG_MAX_LISTEN; i++)
		if (!rl_has_listen(run, &next->listen[i]))
			rl_add(list, sizeof(list), "+%s",
			    cfg_endpoint_str(&next->listen[i], a, sizeof(a)));
	for (unsigned i = 0; i < run->n_listen && i < CFG_MAX_LISTEN; i++)
		if (!rl_has_listen(next, &run->listen[i]))
			rl_add(list, sizeof(list), "-%s",
			    cfg_endpoint_str(&run->listen[i], a, sizeof(a)));
	if (run->mode != next->mode)
		rl_add(list, sizeof(list), "mode %s", next->mode == CFG_MODE_TPROXY ?
		    "tproxy" : "redirect");
	if (list[0] != '\0')
		rl_add(p->detail, sizeof(p->detail), "listen %s", list);
}

/* "mapping +A -> S, ~B -> T (was U), -C -> V" */
static void
rl_detail_mappings(const struct ftpalg_config *run, const struct ftpalg_config *next,
    struct reload_plan *p)
{
	char a[160], b[160], list[RELOAD_TEXT] = "";

	for (unsigned i = 0; i < next->n_mappings && i < CFG_MAX_MAPPINGS; i++) {
		const struct cfg_mapping *m = &next->mappings[i], *old = rl_find_mapping(run, m);

		if (old == NULL)
			rl_add(list, sizeof(list), "+%s", cfg_mapping_str(m, a, sizeof(a)));
		else if (memcmp(old, m, sizeof(*m)) != 0)
			rl_add(list, sizeof(list), "~%s (was %s)", cfg_mapping_str(m, a, sizeof(a)),
			    cfg_mapping_str(old, b, sizeof(b)));
	}
	for (unsigned i = 0; i < run->n_mappings && i < CFG_MAX_MAPPINGS; i++)
		if (rl_find_mapping(next, &run->mappings[i]) == NULL)
			rl_add(list, sizeof(list), "-%s",
			    cfg_mapping_str(&run->mappings[i], a, sizeof(a)));
	if (list[0] != '\0')
		rl_add(p->detail, sizeof(p->detail), "mapping %s", list);
}

/* The intercept chain ftpalgd keeps for a configuration, as main.c sets it up. */
static bool
rl_intercepts(const struct ftpalg_config *c)
{
	return c->intercept_iif[0] != '\0' && c->n_listen > 0;
}

static uint16_t
rl_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)ss)->sin6_port);
	return 0;
}

/* Whether c needs the nftables table: as main.c decides at start. */
static bool
rl_needs_table(const struct ftpalg_config *c)
{
	bool need = c->n_listen > 0 || c->engine == CFG_ENGINE_INLINE;

	for (unsigned i = 0; i < c->n_mappings && i < CFG_MAX_MAPPINGS; i++)
		need |= !c->mappings[i].relay;
	return need;
}

int
reload_plan(const struct ftpalg_config *run, const struct ftpalg_config *next,
    const struct reload_caps *caps, struct reload_plan *p)
{
	struct ftpalg_config tmp;
	char why[160];

	memset(p, 0, sizeof(*p));
	memcpy(&tmp, run, sizeof(tmp));
	for (size_t i = 0; i < RL_NKEYS; i++) {
		const struct rl_key *k = &rl_keys[i];

		for (unsigned j = 0; j < RL_SPANS && k->span[j].len > 0; j++)
			memcpy((char *)&tmp + k->span[j].off, (const char *)next + k->span[j].off,
			    k->span[j].len);
		if (!rl_differs(k, run, next))
			continue;
		p->n_changed++;
		rl_add(p->changed, sizeof(p->changed), "%s", k->name);
		if (k->when == RELOAD_RESTART) {
			p->n_restart++;
			rl_add(p->restart, sizeof(p->restart), "%s (%s)", k->name,
			    rl_why_of(k->name));
			continue;
		}
		if (k->when == RELOAD_NEXT)
			rl_add(p->next, sizeof(p->next), "%s", k->name);
		p->apply |= k->apply;
	}
	/* A field no key above covers: this code does not know how to reload it. */
	if (memcmp(&tmp, next, sizeof(tmp)) != 0) {
		p->n_changed++;
		p->n_restart++;
		rl_add(p->changed, sizeof(p->changed), "(unlisted setting)");
		rl_add(p->restart, sizeof(p->restart), "a setting this ftpalgd cannot reload");
	}
	/* Capacities fixed at start. */
	if (caps != NULL && caps->table_size > 0 && next->max_pinholes > caps->table_size &&
	    next->max_pinholes != run->max_pinholes) {
		snprintf(why, sizeof(why), "max-pinholes (above %" PRIu32 ", the size of the "
		    "nftables sets made at start)", caps->table_size);
		p->n_restart++;
		rl_add(p->restart, sizeof(p->restart), "%s", why);
	}
	if (caps != NULL && caps->table_size == 0 && rl_needs_table(next)) {
		p->n_restart++;
		rl_add(p->restart, sizeof(p->restart), "%s (ftpalgd started with relay mappings "
		    "only, without an nftables table)", next->n_listen > 0 ? "listen" : "mapping");
	}
	/* The redirect target is the first listener's port. */
	p->intercept_on = rl_intercepts(next);
	if (rl_intercepts(run) != rl_intercepts(next) || (rl_intercepts(next) &&
	    rl_port(&run->listen[0]) != rl_port(&next->listen[0])))
		p->apply |= RELOAD_A_INTERCEPT;
	if (p->apply & RELOAD_A_LISTEN)
		rl_detail_listen(run, next, p);
	if (p->apply & RELOAD_A_MAPPINGS)
		rl_detail_mappings(run, next, p);
	return p->n_restart > 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- reading */

unsigned long
reload_key_line(const char *path, const char *key)
{
	char line[1100];
	unsigned long n = 0, found = 0;
	size_t klen = strlen(key);
	FILE *f;

	if (path == NULL || klen == 0 || (f = fopen(path, "re")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *s = line;

		/* A line longer than the buffer counts once (config.c refuses those). */
		if (strchr(line, '\n') != NULL || feof(f))
			n++;
		else
			continue;
		while (*s == ' ' || *s == '\t')
			s++;
		if (strncmp(s, key, klen) != 0)
			continue;
		s += klen;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '=')
			found = n;
	}
	fclose(f);
	return found;
}

/* The key a cfg_validate() message is about: its first word, if it is a key. */
static const char *
rl_message_key(const char *msg)
{
	size_t len = strcspn(msg, " :");

	for (size_t i = 0; i < RL_NKEYS; i++)
		if (strlen(rl_keys[i].name) == len && strncmp(rl_keys[i].name, msg, len) == 0)
			return rl_keys[i].name;
	return NULL;
}

int
reload_read(const struct reload_source *src, struct ftpalg_config *out, char *err,
    size_t errlen)
{
	const char *path = src->file;
	char msg[512];

	if (path == NULL && src->default_file != NULL && access(src->default_file, F_OK) == 0)
		path = src->default_file;
	cfg_defaults(out);
	if (path != NULL && cfg_load_file(out, path, err, errlen) < 0)
		return -1;	/* "FILE:LINE: message" already */
	for (unsigned i = 0; i < src->n_overrides; i++)
		if (cfg_set(out, src->overrides[i], err, errlen) < 0)
			return -1;
	if (cfg_validate(out, msg, sizeof(msg)) < 0) {
		const char *key = rl_message_key(msg);
		unsigned long line = key != NULL ? reload_key_line(path, key) : 0;

		if (path == NULL)
			snprintf(err, errlen, "%s", msg);
		else if (line > 0)
			snprintf(err, errlen, "%s:%lu: %s", path, line, msg);
		else
			snprintf(err, errlen, "%s: %s", path, msg);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- status */

/* JSON string contents: the error text may quote a file's bytes. */
static void
rl_json_str(FILE *out, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
}

void
reload_stats_json(const struct reload_stats *st, FILE *out)
{
	char when[32] = "";
	struct tm tm;

	fprintf(out, ",\"reloads\":%llu,\"reloads_refused\":%llu",
	    (unsigned long long)st->count, (unsigned long long)st->refused);
	if (st->last == 0 || gmtime_r(&st->last, &tm) == NULL) {
		fprintf(out, ",\"last_reload\":null");
		return;
	}
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(out, ",\"last_reload\":\"%s\",\"last_reload_unix\":%lld,\"last_reload_ok\":%s",
	    when, (long long)st->last, st->last_ok ? "true" : "false");
	if (!st->last_ok) {
		fprintf(out, ",\"last_reload_error\":\"");
		rl_json_str(out, st->last_error);
		fputc('"', out);
	}
}
