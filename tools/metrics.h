/*
 * metrics.h - `ftpalg metrics`: the daemon's counters and gauges in the
 * Prometheus text exposition format (version 0.0.4), for node_exporter's
 * textfile collector or any scraper that runs a command.
 *
 * The input is what the control socket already answers: the "status" JSON
 * (version, mode, uptime) and one "stats" JSON per engine (proxy, inline).
 * Nothing is computed in the daemon for this; the conversion is here, so a
 * new counter in the stats JSON shows up (as untyped, until it is named in
 * metrics.c) without a change to the daemon's protocol.
 */
#ifndef FTPALG_METRICS_H
#define FTPALG_METRICS_H

#include <stddef.h>
#include <stdio.h>

#define METRICS_MAX_ENGINES 4

/* Limits from the configuration (0: unknown, not exported). */
struct metrics_limits {
	unsigned max_sessions, max_sessions_per_client, max_pinholes;
};

struct metrics_input {
	const char *status;		/* "status" reply, or NULL */
	size_t status_len;
	struct {
		const char *engine;	/* label value; NULL: the reply's "engine" or "proxy" */
		const char *json;	/* a "stats" reply */
		size_t len;
	} stats[METRICS_MAX_ENGINES];
	unsigned nstats;
	struct metrics_limits lim;
};

/*
 * Writes the exposition to out.  Returns 0, or -1 with a message in err when
 * a reply is not a JSON object or is an {"error": ...}; nothing is written
 * then (a scraper keeps its last good file).
 */
int metrics_render(const struct metrics_input *in, FILE *out, char *err, size_t errlen);

/*
 * Asks the daemon at sock (status, stats, and the inline engine's stats
 * when it runs beside the proxy) and renders, with the limits main() read
 * from the configuration (the daemon's JSON wins where it has them).
 * The exit status for main().
 */
int metrics_command(const char *sock, const struct metrics_limits *lim, FILE *out,
    FILE *errout);

#endif
