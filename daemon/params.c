/*
 * params.c - ftpalgd.conf made into what each engine is told: the engines
 * take parameter structs, never struct ftpalg_config (engine/ includes
 * nothing of daemon/).
 */
#include <stdio.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/daemon.h"
#include "engine/inline.h"
#include "engine/proxy.h"
#include "engine/relay.h"

void
params_proxy(const struct ftpalg_config *c, struct proxy_params *p)
{
	memset(p, 0, sizeof(*p));
	p->policy = c->policy;
	p->max_sessions = c->max_sessions;
	p->max_sessions_per_client = c->max_sessions_per_client;
	p->client_prefix6 = c->client_prefix6;
	p->connect_timeout_ms = c->connect_timeout_ms;
	p->idle_timeout_ms = c->idle_timeout_ms;
	snprintf(p->public_iif, sizeof(p->public_iif), "%s", c->public_iif);
	for (unsigned i = 0; i < c->n_public_addr && i < 2; i++)
		p->public_addr[p->n_public_addr++] = c->public_addr[i];
}

void
params_mapping(const struct cfg_mapping *m, struct proxy_mapping *pm)
{
	memset(pm, 0, sizeof(*pm));
	pm->listen = m->listen;
	pm->server = m->server;
	pm->relay = m->relay;
	pm->on_public = m->on_public;
}

void
params_inline(const struct ftpalg_config *c, struct inline_params *p)
{
	memset(p, 0, sizeof(*p));
	p->policy = c->policy;
	p->max_sessions = c->max_sessions;
	p->max_sessions_per_client = c->max_sessions_per_client;
	p->client_prefix6 = c->client_prefix6;
	p->idle_timeout_ms = c->idle_timeout_ms;
	p->queue_num = c->queue_num;
	p->fail_open = c->fail_open;
}

void
params_relay(const struct ftpalg_config *c, struct relay_limits *l)
{
	memset(l, 0, sizeof(*l));
	l->max_total = c->max_relays;
	l->max_per_session = c->max_relays_per_session;
	l->pipe_size = c->relay_buffer;
	l->connect_timeout_ms = c->connect_timeout_ms;
	l->idle_timeout_ms = c->idle_timeout_ms;
}

struct inline_engine *
inline_new_io(const struct ftpalg_config *cfg, const struct inline_io *io)
{
	struct inline_params p;

	params_inline(cfg, &p);
	return inline_new_test(&p, io, cfg->data_port_min, cfg->data_port_max);
}
