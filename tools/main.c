/*
 * main.c - ftpalg, the admin's command line tool for ftpalgd.
 *
 *   ftpalg [-s SOCKET] [--json] status|sessions|pinholes|relays|stats
 *   ftpalg [-s SOCKET] metrics [-f CONFIG]
 *   ftpalg rules [-f CONFIG] [-o key=value]... [-t nft|iptables|fw4|all]
 *   ftpalg trace [--json] [--html FILE] [-v] [-p PORT]... FILE...
 *   ftpalg trace [--json] [--html FILE] [-v] [-p PORT]... -i IFACE [-c COUNT] [-t SECONDS]
 *
 * Only argument handling lives here; the work is in ctl.c, rules.c and
 * trace_*.c, which the tests link without this file.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/version.h"
#include "tools/ctl.h"
#include "tools/metrics.h"
#include "tools/rules.h"
#ifndef FTPALG_NO_TRACE
#include "tools/trace.h"
#endif

/* The configuration parser is the daemon's own (daemon/config.c). */
#define CLI_VERSION FTPALG_VERSION
#define CLI_DEFAULT_CONFIG "/etc/ftpalg/ftpalgd.conf"
#define CLI_MAX_FILES 64
#define CLI_MAX_OVERRIDES 32

/*
 * Where the daemon's control socket is: ftpalgd.conf's control-socket if the
 * configuration file is there and reads, else the built-in default.
 */
static const char *
cli_default_socket(void)
{
	static struct ftpalg_config cfg;
	char err[256];

	cfg_defaults(&cfg);
	if (access(CLI_DEFAULT_CONFIG, R_OK) == 0)
		(void)cfg_load_file(&cfg, CLI_DEFAULT_CONFIG, err, sizeof(err));
	return cfg.control_socket[0] != '\0' ? cfg.control_socket : CTL_DEFAULT_SOCKET;
}

/* One line of usage per command, for `ftpalg COMMAND --help` and the summary. */
struct cli_cmd {
	const char *name, *args, *what;
	bool daemon;	/* asks ftpalgd over the control socket */
	bool json;	/* takes --json */
};

static const struct cli_cmd cli_cmds[] = {
	{ "status", "", "version, mode, listeners, counts", true, true },
	{ "sessions", "", "the FTP control sessions being handled", true, true },
	{ "pinholes", "", "the data connections let through, and for how long", true, true },
	{ "relays", "", "the data connections ftpalgd carries itself (relay mode)", true, true },
	{ "stats", "", "counters: rewrites, pinholes, refusals", true, true },
	{ "metrics", "[-f CONFIG]", "the counters in Prometheus text format (limits from CONFIG)",
	  true, false },
	{ "rules", "[-f CONFIG] [-o KEY=VALUE]... [-t nft|iptables|fw4|all]",
	  "firewall rules the configuration needs", false, false },
	{ "trace", "[--json] [--html FILE] [-v] [-p PORT]... FILE... | -i IFACE [-c COUNT] "
	  "[-t SECONDS]", "the pcap doctor: why FTP sessions in a capture failed", false, false },
	{ "help", "[COMMAND]", "this text, or a command's", false, false },
	{ "version", "", "print the version", false, false },
};
#define CLI_NCMDS (sizeof(cli_cmds) / sizeof(cli_cmds[0]))

static const struct cli_cmd *
cli_find(const char *name)
{
	for (size_t i = 0; i < CLI_NCMDS; i++)
		if (strcmp(cli_cmds[i].name, name) == 0)
			return &cli_cmds[i];
	return NULL;
}

/* `ftpalg COMMAND --help`: to stdout, exit 0. */
static int
cli_cmd_usage(const struct cli_cmd *c)
{
	printf("usage: ftpalg %s%s%s%s%s\n\n%s.\n", c->daemon ? "[-s SOCKET] " : "",
	    c->json ? "[--json] " : "", c->name, c->args[0] != '\0' ? " " : "", c->args, c->what);
	if (c->daemon)
		printf("\nAsks ftpalgd over its control socket (default %s).\n",
		    cli_default_socket());
	printf("See ftpalg(8).\n");
	return 0;
}

static void
cli_usage(FILE *out)
{
	fprintf(out,
	    "usage: ftpalg [-s SOCKET] [--json] COMMAND [ARGS]\n"
	    "\n"
	    "Commands that ask ftpalgd (over its control socket, default %s):\n",
	    cli_default_socket());
	for (size_t i = 0; i < CLI_NCMDS; i++) {
		char head[160];

		if (i > 0 && cli_cmds[i - 1].daemon && !cli_cmds[i].daemon)
			fprintf(out, "\nCommands that work alone:\n");
		snprintf(head, sizeof(head), "%s%s%s", cli_cmds[i].name,
		    cli_cmds[i].args[0] != '\0' ? " " : "", cli_cmds[i].args);
		if (strlen(head) > 18)
			fprintf(out, "  %s\n  %-18s  %s\n", head, "", cli_cmds[i].what);
		else
			fprintf(out, "  %-18s  %s\n", head, cli_cmds[i].what);
	}
	fprintf(out,
	    "\n"
	    "Options:\n"
	    "  -s, --socket PATH   ftpalgd's control socket\n"
	    "  --json              machine-readable output\n"
	    "  -h, --help          this text; after a command: that command's\n"
	    "  -V, --version       print the version\n"
	    "\n"
	    "See ftpalg(8).\n");
}

static int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A usage message; returns the exit status for usage errors. */
static int
cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ftpalg: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(ftpalg help shows the usage)\n");
	return 2;
}

static bool
cli_is_help(const char *a)
{
	return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

static bool
cli_is_version(const char *a)
{
	return strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0;
}

static int
cli_version(void)
{
	printf("ftpalg %s\n", CLI_VERSION);
	return 0;
}

#ifndef FTPALG_NO_TRACE
/* A whole unsigned decimal in [lo, hi]. */
static int
cli_number(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}
#endif

/* ---------------------------------------------------------------- rules */

/*
 * The configuration of -f FILE, else of the default file when it exists,
 * else the defaults; *file is then the file read, or NULL.  -1 after
 * printing the error (FILE:LINE).
 */
static int
cli_load_config(struct ftpalg_config *cfg, const char **file)
{
	char err[512];

	cfg_defaults(cfg);
	if (*file == NULL && access(CLI_DEFAULT_CONFIG, F_OK) != 0)
		return 0;
	if (*file == NULL)
		*file = CLI_DEFAULT_CONFIG;
	if (cfg_load_file(cfg, *file, err, sizeof(err)) < 0) {
		fprintf(stderr, "ftpalg: %s\n", err);
		return -1;
	}
	return 0;
}

static int
cli_rules(int argc, char **argv)
{
	const char *file = NULL, *overrides[CLI_MAX_OVERRIDES];
	unsigned n_over = 0, mask = RULES_ALL;
	struct ftpalg_config cfg;
	char err[512];

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (cli_is_help(a))
			return cli_cmd_usage(cli_find("rules"));
		if (cli_is_version(a))
			return cli_version();
		if ((strcmp(a, "-f") == 0 || strcmp(a, "-o") == 0 || strcmp(a, "-t") == 0) &&
		    i + 1 >= argc)
			return cli_usage_error("rules: %s needs a value", a);
		if (strcmp(a, "-f") == 0) {
			file = argv[++i];
		} else if (strcmp(a, "-o") == 0) {
			if (n_over == CLI_MAX_OVERRIDES)
				return cli_usage_error("rules: more than %d -o", CLI_MAX_OVERRIDES);
			overrides[n_over++] = argv[++i];
		} else if (strcmp(a, "-t") == 0) {
			int m = rules_flavor_parse(argv[++i]);

			if (m < 0)
				return cli_usage_error("rules: -t takes nft, iptables, fw4 or all, "
				    "not \"%s\"", argv[i]);
			mask = (unsigned)m;
		} else {
			return cli_usage_error("rules: unknown argument \"%s\"", a);
		}
	}
	if (cli_load_config(&cfg, &file) < 0)
		return 1;
	for (unsigned i = 0; i < n_over; i++)
		if (cfg_set(&cfg, overrides[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "ftpalg: %s\n", err);
			return 1;
		}
	if (cfg_validate(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "ftpalg: %s: %s\n", file != NULL ? file : "default configuration",
		    err);
		return 1;
	}
	rules_print(&cfg, mask, file != NULL ? file : "the defaults and -o", stdout);
	return 0;
}

/* ---------------------------------------------------------------- metrics */

/*
 * The limits come from the configuration (the daemon's reply does not carry
 * them): -f, or the default file when it is there, else the defaults.
 */
static int
cli_metrics(const char *sock, int argc, char **argv)
{
	const char *file = NULL;
	struct metrics_limits lim = { 0, 0, 0 };
	struct ftpalg_config cfg;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (cli_is_help(a))
			return cli_cmd_usage(cli_find("metrics"));
		if (cli_is_version(a))
			return cli_version();
		if ((strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0) && i + 1 < argc) {
			sock = argv[++i];
		} else if (strcmp(a, "-f") == 0) {
			if (i + 1 >= argc)
				return cli_usage_error("metrics: -f needs a file");
			file = argv[++i];
		} else {
			return cli_usage_error("metrics: unknown argument \"%s\"", a);
		}
	}
	if (cli_load_config(&cfg, &file) < 0)
		return 1;
	lim.max_sessions = cfg.max_sessions;
	lim.max_sessions_per_client = cfg.max_sessions_per_client;
	lim.max_pinholes = cfg.max_pinholes;
	return metrics_command(sock, &lim, stdout, stderr);
}

/* ---------------------------------------------------------------- trace */

#ifndef FTPALG_NO_TRACE

static void
cli_on_signal(int sig)
{
	(void)sig;
	trace_stop = 1;
}

static int
cli_trace(int json, int argc, char **argv)
{
	const char *html = NULL, *iface = NULL, *files[CLI_MAX_FILES];
	struct trace_ctx *ctx[CLI_MAX_FILES];
	struct trace_opts opts;
	unsigned nfiles = 0, nctx = 0;
	unsigned long count = 0, secs = 60, v;
	bool verbose = false;
	char err[512];
	int rc = 0;

	memset(&opts, 0, sizeof(opts));
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		bool takes = strcmp(a, "--html") == 0 || strcmp(a, "-i") == 0 ||
		    strcmp(a, "-c") == 0 || strcmp(a, "-t") == 0 || strcmp(a, "-p") == 0;

		if (takes && i + 1 >= argc)
			return cli_usage_error("trace: %s needs a value", a);
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			trace_usage(stdout);
			return 0;
		} else if (cli_is_version(a)) {
			return cli_version();
		} else if (strcmp(a, "--json") == 0) {
			json = 1;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			verbose = true;
		} else if (strcmp(a, "--html") == 0) {
			html = argv[++i];
		} else if (strcmp(a, "-i") == 0) {
			iface = argv[++i];
		} else if (strcmp(a, "-c") == 0) {
			if (cli_number(argv[++i], 1, UINT32_MAX, &count) < 0)
				return cli_usage_error("trace: -c takes a packet count, not \"%s\"",
				    argv[i]);
		} else if (strcmp(a, "-t") == 0) {
			if (cli_number(argv[++i], 1, 86400, &secs) < 0)
				return cli_usage_error("trace: -t takes seconds (1-86400), not \"%s\"",
				    argv[i]);
		} else if (strcmp(a, "-p") == 0) {
			if (cli_number(argv[++i], 1, 65535, &v) < 0)
				return cli_usage_error("trace: -p takes a port, not \"%s\"", argv[i]);
			if (opts.nports == TRACE_MAX_PORTS)
				return cli_usage_error("trace: at most %d -p", TRACE_MAX_PORTS);
			opts.ports[opts.nports++] = (uint16_t)v;
		} else if (a[0] == '-' && a[1] != '\0') {
			return cli_usage_error("trace: unknown option \"%s\"", a);
		} else {
			if (nfiles == CLI_MAX_FILES)
				return cli_usage_error("trace: more than 64 files at %s", a);
			files[nfiles++] = a;
		}
	}
	if ((iface == NULL) == (nfiles == 0))
		return cli_usage_error("trace: give capture files or -i IFACE");

	if (iface != NULL) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = cli_on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		if ((ctx[0] = trace_new(&opts, iface)) == NULL) {
			fprintf(stderr, "ftpalg: out of memory\n");
			return 1;
		}
		nctx = 1;
		fprintf(stderr, "ftpalg: capturing on %s for up to %lus%s (Ctrl-C ends it)\n",
		    iface, secs, count > 0 ? " or the packet count" : "");
		if (trace_read_live(ctx[0], iface, (uint32_t)count, (unsigned)secs, err,
		    sizeof(err)) < 0) {
			fprintf(stderr, "ftpalg: %s\n", err);
			trace_free(ctx[0]);
			return 1;
		}
	} else {
		for (unsigned i = 0; i < nfiles; i++) {
			struct trace_ctx *t = trace_new(&opts, files[i]);
			int r;

			if (t == NULL) {
				fprintf(stderr, "ftpalg: out of memory\n");
				rc = 1;
				break;
			}
			if (strcmp(files[i], "-") == 0)
				r = trace_read_fp(t, stdin, err, sizeof(err));
			else
				r = trace_read_file(t, files[i], err, sizeof(err));
			if (r < 0) {
				fprintf(stderr, "ftpalg: %s\n", err);
				trace_free(t);
				rc = 1;
				continue;
			}
			ctx[nctx++] = t;
		}
	}
	for (unsigned i = 0; i < nctx; i++) {
		trace_finish(ctx[i]);
		if (ctx[i]->warning[0] != '\0')
			fprintf(stderr, "ftpalg: %s: %s\n", ctx[i]->name, ctx[i]->warning);
	}
	trace_pair_nat(ctx, nctx);	/* the two sides of a NAT, in one capture or two */
	if (nctx > 0) {
		if (json)
			trace_report_json(ctx, nctx, stdout);
		else
			trace_report_text(ctx, nctx, verbose, stdout);
		if (html != NULL) {
			FILE *f = fopen(html, "w");

			if (f == NULL) {
				fprintf(stderr, "ftpalg: %s: %s\n", html, strerror(errno));
				rc = 1;
			} else {
				trace_report_html(ctx, nctx, f);
				if (fclose(f) != 0) {
					fprintf(stderr, "ftpalg: %s: %s\n", html, strerror(errno));
					rc = 1;
				} else if (!json) {
					printf("\nHTML report: %s\n", html);
				}
			}
		}
	}
	for (unsigned i = 0; i < nctx; i++)
		trace_free(ctx[i]);
	if (fflush(stdout) != 0)
		rc = 1;
	return rc;
}
#else /* FTPALG_NO_TRACE */

#ifndef FTPALG_TRACE_HELPER
#define FTPALG_TRACE_HELPER "/usr/sbin/ftpalg-trace"
#endif

/*
 * Built without the pcap doctor, so that the CLI on a small router needs no
 * libpcap (make ftpalg-notrace): `ftpalg trace` runs the full CLI,
 * installed as ftpalg-trace by its own package, when it is there.
 */
static int
cli_trace(int json, int argc, char **argv)
{
	char *args[CLI_MAX_FILES + 16];
	int n = 0;

	if (argc > CLI_MAX_FILES + 12)
		return cli_usage_error("trace: too many arguments");
	args[n++] = (char *)"ftpalg-trace";
	if (json)
		args[n++] = (char *)"--json";
	args[n++] = (char *)"trace";
	for (int i = 0; i < argc; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	execv(FTPALG_TRACE_HELPER, args);
	for (int i = 0; i < argc; i++)
		if (cli_is_help(argv[i]) || cli_is_version(argv[i])) {
			(void)(cli_is_help(argv[i]) ? cli_cmd_usage(cli_find("trace")) : cli_version());
			printf("(the pcap doctor is not installed: %s)\n", FTPALG_TRACE_HELPER);
			return 0;
		}
	fprintf(stderr, "ftpalg: trace: this ftpalg is built without the pcap doctor, and %s: %s "
	    "(install the ftpalg-trace package)\n", FTPALG_TRACE_HELPER, strerror(errno));
	return 1;
}
#endif /* FTPALG_NO_TRACE */

/* ---------------------------------------------------------------- main */

int
main(int argc, char **argv)
{
	const char *sock = cli_default_socket(), *cmd;
	int json = 0, i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0) {
			if (i + 1 >= argc)
				return cli_usage_error("%s needs a path", a);
			sock = argv[++i];
		} else if (strncmp(a, "--socket=", 9) == 0) {
			sock = a + 9;
		} else if (strcmp(a, "--json") == 0) {
			json = 1;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			cli_usage(stdout);
			return 0;
		} else if (cli_is_version(a)) {
			return cli_version();
		} else if (a[0] == '-') {
			return cli_usage_error("unknown option \"%s\"", a);
		} else {
			break;
		}
	}
	if (i >= argc) {
		cli_usage(stderr);
		return 2;
	}
	cmd = argv[i++];
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "sessions") == 0 ||
	    strcmp(cmd, "pinholes") == 0 || strcmp(cmd, "relays") == 0 ||
	    strcmp(cmd, "stats") == 0) {
		/* Options are accepted after the command too. */
		for (; i < argc; i++) {
			if (cli_is_help(argv[i]))
				return cli_cmd_usage(cli_find(cmd));
			if (cli_is_version(argv[i]))
				return cli_version();
			if (strcmp(argv[i], "--json") == 0)
				json = 1;
			else if ((strcmp(argv[i], "-s") == 0 || strcmp(argv[i], "--socket") == 0) &&
			    i + 1 < argc)
				sock = argv[++i];
			else
				return cli_usage_error("%s takes no argument \"%s\"", cmd, argv[i]);
		}
		return ctl_command(sock, cmd, json, stdout, stderr);
	}
	if (strcmp(cmd, "metrics") == 0)
		return cli_metrics(sock, argc - i, argv + i);
	if (strcmp(cmd, "rules") == 0)
		return cli_rules(argc - i, argv + i);
	if (strcmp(cmd, "trace") == 0)
		return cli_trace(json, argc - i, argv + i);
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "version") == 0) {
		const struct cli_cmd *c = NULL;

		for (; i < argc; i++) {
			if (cli_is_help(argv[i]))
				return cli_cmd_usage(cli_find(cmd));
			if (cli_is_version(argv[i]))
				return cli_version();
			if (strcmp(cmd, "version") == 0 || c != NULL)
				return cli_usage_error("%s takes no argument \"%s\"", cmd, argv[i]);
			if ((c = cli_find(argv[i])) == NULL)
				return cli_usage_error("help: unknown command \"%s\"", argv[i]);
		}
		if (strcmp(cmd, "version") == 0)
			return cli_version();
#ifndef FTPALG_NO_TRACE
		if (c != NULL && strcmp(c->name, "trace") == 0) {
			trace_usage(stdout);	/* the same as ftpalg trace --help */
			return 0;
		}
#endif
		if (c != NULL)
			return cli_cmd_usage(c);
		cli_usage(stdout);
		return 0;
	}
	return cli_usage_error("unknown command \"%s\"", cmd);
}
