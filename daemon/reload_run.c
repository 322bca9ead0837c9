/*
 * reload_run.c - a reload of the running ftpalgd (SIGHUP), step by step.
 *
 *   1. read the file as `ftpalgd -n` does        refused: one line, FILE:LINE
 *   2. plan it against the running configuration  restart-only keys: refused
 *   3. open the listening sockets it adds          cannot: failed, undone
 *   4. replace the intercept chain (one netlink transaction)  cannot: undone
 *   5. close the sockets it drops, set the limits, copy it in
 *
 * Nothing before step 5 changes what runs, so a refusal or a failure leaves
 * the old configuration in force; no step touches a live session, its
 * pinhole or its relay.  The service manager sees RELOADING=1 ... READY=1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/reload.h"
#include "daemon/reload_run.h"
#include "engine/event.h"
#include "engine/inline.h"
#include "engine/pinhole.h"
#include "engine/proxy.h"
#include "engine/relay.h"
#include "nat/nat.h"

static uint16_t
rr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)ss)->sin6_port);
	return 0;
}

/* The nat/ view of a configuration's interception, as main.c sets it up. */
static void
rr_nat_config(const struct ftpalg_config *c, struct nat_config *nc)
{
	memset(nc, 0, sizeof(*nc));
	nc->table = c->nft_table;
	nc->mark = c->pinhole_mark;
	nc->max_elements = c->max_pinholes;
	if (c->intercept_iif[0] != '\0' && c->n_listen > 0) {
		nc->intercept_iif = c->intercept_iif;
		for (unsigned i = 0; i < c->n_control_ports && i < NAT_MAX_INTERCEPT_PORTS; i++)
			nc->intercept_ports[nc->n_intercept_ports++] = c->control_ports[i];
		nc->listen_port = rr_port(&c->listen[0]);
	}
}

static const char *
rr_path(const struct reload_ctx *r)
{
	return r->src.file != NULL ? r->src.file : r->src.default_file != NULL ?
	    r->src.default_file : "(no file)";
}

/* Ends a reload that left the running configuration as it was. */
static void
rr_refuse(struct reload_ctx *r, const char *verb, const char *msg)
{
	r->st.refused++;
	r->st.last = time(NULL);
	r->st.last_ok = false;
	{
		/* Cut to the field: the full text is in the log line. */
		size_t n = strnlen(msg, sizeof(r->st.last_error) - 1);

		memcpy(r->st.last_error, msg, n);
		r->st.last_error[n] = '\0';
	}
	log_warnx("reload %s: %s; the running configuration stays", verb, msg);
	notify_service("READY=1\nSTATUS=reload refused, running the previous configuration");
}

/* The proxy's listeners and mappings of c, as main.c hands them at start. */
static void
rr_listeners(const struct ftpalg_config *c, struct proxy_listeners *pl,
    struct proxy_mapping maps[CFG_MAX_MAPPINGS])
{
	memset(pl, 0, sizeof(*pl));
	pl->listen = c->listen;
	pl->n_listen = c->n_listen;
	pl->tproxy = c->mode == CFG_MODE_TPROXY;
	for (unsigned i = 0; i < c->n_mappings && i < CFG_MAX_MAPPINGS; i++)
		params_mapping(&c->mappings[i], &maps[i]);
	pl->maps = maps;
	pl->n_maps = c->n_mappings;
}

void
reload_run(struct reload_ctx *r)
{
	static struct ftpalg_config next;	/* 40 KiB: not on the stack */
	struct proxy_mapping maps[CFG_MAX_MAPPINGS];
	struct proxy_listeners pl;
	struct proxy_params pp;
	struct relay_limits lim;
	struct reload_plan plan;
	char err[600], msg[1200], mono[64];

	snprintf(mono, sizeof(mono), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ev_now_ms() * 1000ull);
	notify_service(mono);
	log_info("SIGHUP: reloading %s", rr_path(r));

	if (reload_read(&r->src, &next, err, sizeof(err)) < 0) {
		rr_refuse(r, "refused", err);
		return;
	}
	if (reload_plan(r->cfg, &next, &r->caps, &plan) < 0) {
		const char *key = plan.restart;
		size_t klen = strcspn(key, " ,");
		char first[40];
		unsigned long line;

		snprintf(first, sizeof(first), "%.*s", (int)klen, key);
		line = reload_key_line(rr_path(r), first);
		if (line > 0)
			snprintf(msg, sizeof(msg), "%s:%lu: %s cannot change while ftpalgd runs; "
			    "restart ftpalgd to apply %s", rr_path(r), line, plan.restart,
			    plan.n_restart == 1 ? "it" : "them");
		else
			snprintf(msg, sizeof(msg), "%s: %s cannot change while ftpalgd runs; "
			    "restart ftpalgd to apply %s", rr_path(r), plan.restart,
			    plan.n_restart == 1 ? "it" : "them");
		rr_refuse(r, "refused", msg);
		return;
	}
	rr_listeners(&next, &pl, maps);
	if (plan.apply & (RELOAD_A_LISTEN | RELOAD_A_MAPPINGS)) {
		if (proxy_reload_prepare(r->px, &pl, err, sizeof(err)) < 0) {
			rr_refuse(r, "failed", err);
			return;
		}
	}
	if ((plan.apply & RELOAD_A_INTERCEPT) && r->nat != NULL) {
		struct nat_config nc;

		rr_nat_config(&next, &nc);
		if (nat_intercept_update(r->nat, &nc) < 0) {
			snprintf(msg, sizeof(msg), "intercept chain: %s", nat_last_error(r->nat));
			proxy_reload_abort(r->px);
			rr_refuse(r, "failed", msg);
			return;
		}
	}
	/* From here on nothing fails. */
	params_proxy(&next, &pp);
	proxy_reload_commit(r->px, &pl, &pp);
	if (r->ie != NULL) {
		struct inline_params ip;

		params_inline(&next, &ip);
		inline_set_params(r->ie, &ip);
	}
	/* The shared pinhole table and relays: for what opens from now on. */
	if (r->ph != NULL)
		ph_set_limits(r->ph, next.max_pinholes, next.data_port_min, next.data_port_max);
	if (r->rl != NULL) {
		params_relay(&next, &lim);
		relay_set_limits(r->rl, &lim);
	}
	if ((plan.apply & RELOAD_A_LOG) && !r->verbose)
		log_setlevel(next.log_level);
	memcpy(r->cfg, &next, sizeof(next));

	r->st.count++;
	r->st.last = time(NULL);
	r->st.last_ok = true;
	r->st.last_error[0] = '\0';
	if (plan.n_changed == 0) {
		log_info("reload #%llu of %s applied: nothing changed",
		    (unsigned long long)r->st.count, rr_path(r));
	} else {
		log_info("reload #%llu of %s applied: changed %s%s%s; live sessions, their "
		    "pinholes and relays are kept (%u sessions, %u pinholes)",
		    (unsigned long long)r->st.count, rr_path(r), plan.changed,
		    plan.detail[0] != '\0' ? "; " : "", plan.detail, proxy_nsessions(r->px) +
		    (r->ie != NULL ? inline_nflows(r->ie) : 0), proxy_npinholes(r->px) +
		    (r->ie != NULL ? inline_npinholes(r->ie) : 0));
		if ((plan.apply & RELOAD_A_INTERCEPT) && r->nat != NULL)
			log_info("reload: intercept chain %s", plan.intercept_on ?
			    "replaced in one transaction" : "removed");
		if (plan.next[0] != '\0')
			log_info("reload: new values of %s apply to sessions opened from now on; "
			    "live sessions keep the values they started with", plan.next);
	}
	notify_service("READY=1\nSTATUS=running; configuration reloaded");
}
