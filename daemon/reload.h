/*
 * reload.h - re-reading ftpalgd.conf while the daemon runs (SIGHUP,
 * `systemctl reload`, procd's reload_service).
 *
 * A reload reads the configuration exactly as `ftpalgd -n` does (the file
 * and the command line's -o overrides, then the cross-checks).  What fails
 * there, or changes a key that cannot change at run time, is refused with
 * one log line and the running configuration stays.  Otherwise the plan
 * says what to change: listeners, mappings, the intercept chain and the
 * gateway port pool at once; policies and limits for the sessions opened
 * from then on.  Live sessions, their pinholes and relays are never touched.
 *
 * reload_read() and reload_plan() are pure apart from reading the file, and
 * unit-tested (tests/unit/test_reload.c).
 */
#ifndef FTPALG_RELOAD_H
#define FTPALG_RELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "daemon/config.h"

/* When a changed key takes effect. */
enum reload_when {
	RELOAD_LIVE,	/* at once, in the running daemon (listeners, interception) */
	RELOAD_NEXT,	/* for sessions (and their data connections) opened from now on */
	RELOAD_RESTART,	/* cannot change while ftpalgd runs: the reload is refused */
};

/* What the running daemon has to change (bits of reload_plan.apply). */
#define RELOAD_A_LISTEN		0x01u	/* transparent listeners: listen, mode */
#define RELOAD_A_MAPPINGS	0x02u	/* inbound mappings' listeners */
#define RELOAD_A_INTERCEPT	0x04u	/* the intercept chain: interface, ports, target */
#define RELOAD_A_POOL		0x08u	/* gateway ports (data-ports), max-pinholes */
#define RELOAD_A_RELAY		0x10u	/* relay limits */
#define RELOAD_A_LOG		0x20u	/* log-level */
#define RELOAD_A_SESSIONS	0x40u	/* policies and session limits (new sessions) */
#define RELOAD_A_PUBLIC		0x80u	/* public-address, public-interface: re-bind public:PORT */

/* What was fixed when ftpalgd started and bounds what a reload may ask. */
struct reload_caps {
	/* Size of each set of the nftables table (max-pinholes at start); 0 when
	 * ftpalgd made no table (relay mappings only). */
	uint32_t table_size;
};

#define RELOAD_TEXT 768

struct reload_plan {
	unsigned n_changed;		/* keys whose value differs */
	unsigned n_restart;		/* of those, keys that cannot change now */
	unsigned apply;			/* RELOAD_A_* */
	bool intercept_on;		/* the new config intercepts (chain wanted) */
	char changed[RELOAD_TEXT];	/* "listen, mapping, pasv-policy" */
	char next[RELOAD_TEXT];		/* the RELOAD_NEXT keys among them */
	char restart[RELOAD_TEXT];	/* the RELOAD_RESTART keys, with why */
	char detail[RELOAD_TEXT];	/* "mapping +A -> S, -B -> T; listen +[::]:2122" */
};

/*
 * Compares the running configuration with the next one.  Returns 0 when the
 * reload can go on (n_changed may be 0: nothing to do), -1 when keys that
 * cannot change at run time differ (named in p->restart).
 */
int reload_plan(const struct ftpalg_config *run, const struct ftpalg_config *next,
    const struct reload_caps *caps, struct reload_plan *p);

/* When a key takes effect; -1 for a name that is no key. */
int reload_key_when(const char *key);

/* Where the configuration comes from: the same at start and at every reload. */
struct reload_source {
	const char *file;		/* -f; NULL: default_file if it exists */
	const char *default_file;
	const char *const *overrides;	/* -o key=value, applied after the file */
	unsigned n_overrides;
};

/*
 * Reads the configuration as `ftpalgd -n` does: defaults, the file, the
 * overrides, cfg_validate().  On error -1 and one line in err that names
 * the file and, where it can be told, the line ("FILE:LINE: message").
 */
int reload_read(const struct reload_source *src, struct ftpalg_config *out, char *err,
    size_t errlen);

/*
 * The last line of path that sets key ("key = ..."), 0 if none.  For
 * messages about a key that only the whole configuration can judge.
 */
unsigned long reload_key_line(const char *path, const char *key);

/* The daemon's record of reloads, for `ftpalg status`. */
struct reload_stats {
	uint64_t count;		/* reloads applied */
	uint64_t refused;	/* refused or failed: the old configuration stayed */
	time_t last;		/* wall clock of the last attempt, 0 = none */
	bool last_ok;
	char last_error[256];
};

/* ,"reloads":N,"reloads_refused":M,"last_reload":"2026-...Z","last_reload_ok":true,... */
void reload_stats_json(const struct reload_stats *st, FILE *out);

/* The control socket's status answer carries st (daemon/control.c). */
struct ctl_server;
void ctl_set_reload(struct ctl_server *c, const struct reload_stats *st);

#endif
