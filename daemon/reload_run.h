/*
 * reload_run.h - applying a reload to the running daemon (reload_run.c);
 * the decisions themselves are reload.h's.
 */
#ifndef FTPALG_RELOAD_RUN_H
#define FTPALG_RELOAD_RUN_H

#include <stdbool.h>

#include "daemon/config.h"
#include "daemon/reload.h"

struct proxy;
struct inline_engine;
struct nat_table;
struct ph_table;
struct relay_table;

struct reload_ctx {
	struct ftpalg_config *cfg;	/* the running configuration, replaced in place */
	struct reload_source src;	/* the same file and -o overrides as at start */
	struct reload_caps caps;	/* what start fixed */
	struct proxy *px;
	struct inline_engine *ie;	/* NULL unless engine = inline */
	struct nat_table *nat;		/* NULL: no table (relay mappings only) */
	struct ph_table *ph;		/* the one pinhole table, shared by the engines */
	struct relay_table *rl;
	bool verbose;			/* -v: the log level stays debug */
	struct reload_stats st;		/* for `ftpalg status` */
};

/* One reload (on SIGHUP): applied whole, or refused with one log line. */
void reload_run(struct reload_ctx *r);

#endif
