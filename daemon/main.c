/*
 * main.c - ftpalgd: configuration, set-up, the event loop, clean stop.
 *
 * Set-up order matters: the nftables table comes first (a stale one of a
 * crashed predecessor is replaced in the same batch), then the listeners,
 * then privileges are dropped, and only then is the service reported ready.
 * On SIGTERM/SIGINT sessions are closed, their pinholes removed, and the
 * table deleted, so nothing of ftpalgd stays in the kernel.
 */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>
#include <netinet/in.h>

#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/limits.h"
#include "daemon/log.h"
#include "daemon/reload_run.h"
#include "engine/event.h"
#include "engine/gateway.h"
#include "engine/inline.h"
#include "engine/pinhole.h"
#include "engine/proxy.h"
#include "engine/relay.h"
#include "engine/sockaddr.h"
#include "nat/nat.h"

#define DEFAULT_CONFIG "/etc/ftpalg/ftpalgd.conf"
#define MAX_OVERRIDES 64

struct sig_source {
	struct ev_handler h;
	int fd;
	volatile int stop;
	int reload;
};

/* What the command line asked for. */
struct options {
	const char *file;
	const char *overrides[MAX_OVERRIDES];
	unsigned n_over;
	bool foreground, check, verbose, cleanup;
};

/* What runs: the shared layer under the engines, the engines, the loop's sources. */
struct daemon_state {
	int epfd;
	struct nat_table *nat;
	struct ph_table *ph;		/* THE pinhole table, both engines' */
	struct relay_table *rl;
	struct gateway *gw;
	struct ctl_server *ctl;
	struct sig_source sigs;
};

static struct ftpalg_config cfg;
static struct proxy *proxy;
static struct inline_engine *inl;	/* engine = inline */
static struct reload_ctx reload_ctx;	/* SIGHUP */

static void __attribute__((noreturn))
usage(int code)
{
	fprintf(code ? stderr : stdout,
	    "usage: ftpalgd [-dhnvV] [-f file] [-o key=value]... [--cleanup]\n"
	    "  -d             stay in the foreground and log to stderr\n"
	    "  -f file        configuration file (default " DEFAULT_CONFIG ")\n"
	    "  -o key=val     set a configuration key (after the file; repeatable)\n"
	    "  -n             check the configuration and exit (with -v: print it)\n"
	    "  -v             verbose: debug logging\n"
	    "  -V, --version  print the version and exit\n"
	    "  -h, --help     print this help and exit\n"
	    "  --cleanup      remove what a crashed ftpalgd left in nftables, then exit\n"
	    "See ftpalgd(8) and ftpalgd.conf(5).\n");
	exit(code);
}

static void
sig_event(struct ev_handler *h, uint32_t events)
{
	struct sig_source *s = ev_container_of(h, struct sig_source, h);
	struct signalfd_siginfo si;

	while (read(s->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_info("signal %s: stopping", si.ssi_signo == SIGTERM ? "TERM" : "INT");
			s->stop = 1;
			break;
		case SIGHUP:
			s->reload = 1;	/* after this batch of events: nothing of it in flight */
			break;
		case SIGUSR1:
			log_info("%u sessions, %u pinholes", proxy_nsessions(proxy),
			    proxy_npinholes(proxy));
			if (inl != NULL)
				log_info("inline: %u connections, %u pinholes", inline_nflows(inl),
				    inline_npinholes(inl));
			break;
		default:
			break;
		}
	}
}

/* "[::]:P" means every address of both families: proxy_listen opens both. */
static void
listen_or_die(const struct sockaddr_storage *addr, bool tproxy, const struct sockaddr_storage *server)
{
	char a[64];

	if (proxy_listen(proxy, addr, tproxy, server) < 0)
		fatal("listen on %s", sa_str(addr, a, sizeof(a)));
	log_info("listening on %s%s%s", sa_str(addr, a, sizeof(a)), sa_is_any6(addr) ?
	    " (IPv4 and IPv6)" : "", server != NULL ? " (inbound)" : tproxy ? " (tproxy)" : "");
}

/* Runtime directories ftpalgd made itself: handed to `user` before the drop,
 * so that the unprivileged daemon can remove its socket and pidfile. */
static char made_dirs[2][CFG_PATH_MAX];
static unsigned n_made_dirs;

/* /run/ftpalgd exists under systemd (RuntimeDirectory=); by hand, make it. */
static void
make_parent_dir(const char *path)
{
	char dir[CFG_PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return;
	*slash = '\0';
	if (mkdir(dir, 0755) == 0) {
		if (n_made_dirs < 2)
			snprintf(made_dirs[n_made_dirs++], CFG_PATH_MAX, "%s", dir);
	} else if (errno != EEXIST) {
		log_warn("mkdir %s", dir);
	}
}

static void
give_dirs(const char *user)
{
	struct passwd *pw;

	if (user[0] == '\0' || (pw = getpwnam(user)) == NULL)
		return;
	for (unsigned i = 0; i < n_made_dirs; i++)
		if (chown(made_dirs[i], pw->pw_uid, pw->pw_gid) < 0)
			log_warn("chown %s", made_dirs[i]);
	/* Not the control socket: it stays root's (control.c), `user` may be nobody. */
}

static void
write_pidfile(const char *path)
{
	FILE *f;

	if (path[0] == '\0')
		return;
	make_parent_dir(path);
	if ((f = fopen(path, "w")) == NULL) {
		log_warn("pidfile %s", path);
		return;
	}
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
}

static void
parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "cleanup", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt_long(argc, argv, "df:hno:vV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': o->foreground = true; break;
		case 'f': o->file = optarg; break;
		case 'n': o->check = true; break;
		case 'o':
			if (o->n_over == MAX_OVERRIDES)
				usage(1);
			o->overrides[o->n_over++] = optarg;
			break;
		case 'v': o->verbose = true; break;
		case 'V': printf("ftpalgd %s\n", FTPALG_VERSION); exit(0);
		case 'C': o->cleanup = true; break;
		case 'h': usage(0);
		default: usage(1);
		}
	}
	if (optind != argc)
		usage(1);
}

/*
 * Defaults, the file, the -o overrides, then --cleanup or the cross-checks
 * and -n.  Returns -1 to go on, else the exit status.
 */
static int
load_config(const struct options *o)
{
	char err[512];

	cfg_defaults(&cfg);
	if (o->file != NULL || access(DEFAULT_CONFIG, F_OK) == 0) {
		if (cfg_load_file(&cfg, o->file != NULL ? o->file : DEFAULT_CONFIG, err,
		    sizeof(err)) < 0) {
			fprintf(stderr, "ftpalgd: %s\n", err);
			return 1;
		}
	}
	for (unsigned i = 0; i < o->n_over; i++)
		if (cfg_set(&cfg, o->overrides[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "ftpalgd: %s\n", err);
			return 1;
		}
	if (o->cleanup) {
		if (nat_cleanup(cfg.nft_table) < 0) {
			fprintf(stderr, "ftpalgd: cleanup of table %s: %s\n", cfg.nft_table,
			    strerror(errno));
			return 1;
		}
		printf("ftpalgd: table inet %s removed (if it was there)\n", cfg.nft_table);
		return 0;
	}
	if (cfg_validate(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "ftpalgd: %s\n", err);
		return 1;
	}
	if (o->check) {
		printf("ftpalgd: configuration OK\n");
		if (lim_nofile(&cfg, 0, err, sizeof(err)) < 0)
			printf("ftpalgd: warning: %s\n", err);
		if (o->verbose)
			cfg_dump(&cfg, stdout);
		return 0;
	}
	return -1;
}

/* The nftables table, unless only relay mappings need nothing of netfilter. */
static struct nat_table *
open_nat(void)
{
	struct nat_config nc;
	struct nat_table *nat;
	bool need_nat;

	memset(&nc, 0, sizeof(nc));
	nc.table = cfg.nft_table;
	nc.mark = cfg.pinhole_mark;
	nc.max_elements = cfg.max_pinholes;
	if (cfg.intercept_iif[0] != '\0' && cfg.n_listen > 0) {
		nc.intercept_iif = cfg.intercept_iif;
		for (unsigned i = 0; i < cfg.n_control_ports && i < NAT_MAX_INTERCEPT_PORTS; i++)
			nc.intercept_ports[nc.n_intercept_ports++] = cfg.control_ports[i];
		nc.listen_port = sa_port(&cfg.listen[0]);
	}
	/* Only relay mappings and no transparent listener: no netfilter rights needed. */
	need_nat = cfg.n_listen > 0 || cfg.engine == CFG_ENGINE_INLINE;
	for (unsigned i = 0; i < cfg.n_mappings; i++)
		need_nat |= !cfg.mappings[i].relay;
	if (!need_nat) {
		log_info("relay mappings only: no nftables table");
		return NULL;
	}
	if ((nat = nat_open(&nc)) == NULL)
		fatalx("cannot create nftables table inet %s: %s (ftpalgd needs CAP_NET_ADMIN)",
		    cfg.nft_table, strerror(errno));
	log_info("nftables table inet %s ready (pinhole mark 0x%08x)%s%s", cfg.nft_table,
	    cfg.pinhole_mark, nc.intercept_iif ? ", intercepting control ports on " : "",
	    nc.intercept_iif ? nc.intercept_iif : "");
	return nat;
}

/* The shared layer (one pinhole table, the relays), then the engines on it. */
static void
start_engines(struct daemon_state *d)
{
	struct relay_limits rlim;
	struct proxy_params pp;
	struct inline_params ip;
	char a[64];

	if ((d->ph = ph_new(d->nat, cfg.max_pinholes, cfg.data_port_min,
	    cfg.data_port_max)) == NULL)
		fatal("pinhole table");
	params_relay(&cfg, &rlim);
	if ((d->rl = relay_new(d->epfd, &rlim, d->ph)) == NULL)
		fatal("relay table");
	if ((d->gw = gw_new(d->ph, d->rl)) == NULL)
		fatal("gateway");
	params_proxy(&cfg, &pp);
	if ((proxy = proxy_new(&pp, d->gw, d->epfd)) == NULL)
		fatal("proxy_new");
	for (unsigned i = 0; i < cfg.n_listen; i++)
		listen_or_die(&cfg.listen[i], cfg.mode == CFG_MODE_TPROXY, NULL);
	for (unsigned i = 0; i < cfg.n_mappings; i++) {
		struct proxy_mapping pm;

		params_mapping(&cfg.mappings[i], &pm);
		if (proxy_listen_mapping(proxy, &pm) < 0)
			fatal("listen on %s", sa_str(&cfg.mappings[i].listen, a, sizeof(a)));
	}
	if (proxy_public_start(proxy) < 0)
		fatal("public interface %s", cfg.public_iif);
	if (cfg.engine != CFG_ENGINE_INLINE)
		return;
	params_inline(&cfg, &ip);
	if ((inl = inline_new(&ip, d->gw, d->epfd)) == NULL)
		fatal("inline engine: NFQUEUE queue %u%s", cfg.queue_num, errno == EBUSY ?
		    " is held by another program" : "");
	log_info("inline engine on NFQUEUE queue %u, fail-open %s: control connections "
	    "are rewritten in flight", cfg.queue_num, cfg.fail_open ? "yes" : "no");
}

/* Signals through a signalfd in the epoll set: handled between events, never inside. */
static void
open_signals(struct daemon_state *d, const sigset_t *mask)
{
	struct epoll_event ev = { .events = EPOLLIN };

	d->sigs.h.fn = sig_event;
	if ((d->sigs.fd = signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		fatal("signalfd");
	ev.data.ptr = &d->sigs.h;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->sigs.fd, &ev) < 0)
		fatal("epoll_ctl");
}

/* A reload reads what start read: the same file, the same -o overrides. */
static void
set_up_reload(const struct options *o, const struct daemon_state *d)
{
	reload_ctx.cfg = &cfg;
	reload_ctx.src.file = o->file;
	reload_ctx.src.default_file = DEFAULT_CONFIG;
	reload_ctx.src.overrides = o->overrides;
	reload_ctx.src.n_overrides = o->n_over;
	reload_ctx.caps.table_size = d->nat != NULL ? cfg.max_pinholes : 0;	/* open_nat()'s */
	reload_ctx.px = proxy;
	reload_ctx.ie = inl;
	reload_ctx.nat = d->nat;
	reload_ctx.ph = d->ph;
	reload_ctx.rl = d->rl;
	reload_ctx.verbose = o->verbose;
	ctl_set_reload(d->ctl, &reload_ctx.st);
}

/* Detach, pidfile, privileges, then tell the service manager. */
static void
go_live(const struct options *o)
{
	bool bind_low = false;

	if (!o->foreground && daemon(0, 0) < 0)
		fatal("daemon");
	write_pidfile(cfg.pidfile);
	give_dirs(cfg.user);
	/* public:PORT listeners below 1024 are bound again when the address changes. */
	for (unsigned i = 0; i < cfg.n_mappings; i++)
		bind_low |= cfg.mappings[i].on_public && sa_port(&cfg.mappings[i].listen) < 1024;
	if (priv_drop_keep(cfg.user, bind_low) < 0)
		fatal("cannot drop privileges to %s", cfg.user);
	notify_service("READY=1");
	log_info("ftpalgd %s ready: %u sessions max, data ports %u-%u, pinhole timeout %us",
	    FTPALG_VERSION, cfg.max_sessions, cfg.data_port_min, cfg.data_port_max,
	    cfg.pinhole_timeout_ms / 1000);
}

/* The earliest deadline of anything below (EV_NEVER: none). */
static uint64_t
next_due(const struct daemon_state *d, uint64_t now)
{
	uint64_t due = gw_next_due(d->gw, now);

	ev_due(&due, proxy_next_due(proxy, now));
	if (inl != NULL)
		ev_due(&due, inline_next_due(inl));
	return due;
}

/* epoll_wait's timeout for a deadline: -1 (none), 0 (due), or the ms to it. */
static int
wait_ms(uint64_t due, uint64_t now)
{
	if (due == EV_NEVER)
		return -1;
	if (due <= now)
		return 0;
	return due - now > INT_MAX ? INT_MAX : (int)(due - now);
}

/*
 * The event loop: sleeps until the next event or the next deadline
 * (OpenBSD ntpd's nextaction), dispatches, and ticks what is due.
 */
static void
run_loop(struct daemon_state *d)
{
	while (!d->sigs.stop) {
		struct epoll_event evs[64];
		uint64_t now = ev_now_ms(), due = next_due(d, now);
		int n = epoll_wait(d->epfd, evs, 64, wait_ms(due, now));

		if (n < 0 && errno != EINTR)
			fatal("epoll_wait");
		for (int i = 0; i < n; i++) {
			struct ev_handler *h = evs[i].data.ptr;

			h->fn(h, evs[i].events);
		}
		if (d->sigs.reload) {
			d->sigs.reload = 0;
			reload_run(&reload_ctx);
		}
		now = ev_now_ms();
		if (now < due)
			continue;
		gw_tick(d->gw, now);
		proxy_tick(proxy, now);
		if (inl != NULL)
			inline_tick(inl, now);
	}
}

/* Sessions closed, pinholes removed, the table deleted: nothing stays in the kernel. */
static void
shut_down(struct daemon_state *d)
{
	notify_service("STOPPING=1");
	ctl_close(d->ctl);
	proxy_free(proxy);
	inline_free(inl);	/* closing the queue: the rule's bypass flag decides from here */
	gw_free(d->gw);
	relay_free(d->rl);	/* detached transfers still running are cut (reset) */
	ph_free(d->ph);		/* the pinholes left go from the kernel */
	nat_close(d->nat);
	if (cfg.pidfile[0] != '\0')
		unlink(cfg.pidfile);
	log_info("stopped; nftables table inet %s removed", cfg.nft_table);
	close(d->sigs.fd);
	close(d->epfd);
}

int
main(int argc, char **argv)
{
	struct options o;
	struct daemon_state d;
	sigset_t mask;
	int rc;

	parse_args(argc, argv, &o);
	if ((rc = load_config(&o)) >= 0)
		return rc;

	log_init(o.foreground ? LOG_TO_STDERR : (int)cfg.log_target,
	    o.verbose ? LOG_DEBUG : cfg.log_level, "ftpalgd");
	{
		char lim[512];

		if (lim_nofile(&cfg, 1, lim, sizeof(lim)) < 0)
			log_warnx("%s", lim);
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		fatal("sigprocmask");
	memset(&d, 0, sizeof(d));
	if ((d.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		fatal("epoll_create1");
	d.nat = open_nat();
	start_engines(&d);
	open_signals(&d, &mask);
	if (cfg.control_socket[0] != '\0')
		make_parent_dir(cfg.control_socket);
	if ((d.ctl = ctl_open(cfg.control_socket, d.epfd, &cfg, proxy, ev_now_ms())) == NULL &&
	    cfg.control_socket[0] != '\0')
		log_warn("control socket %s", cfg.control_socket);
	ctl_set_inline(d.ctl, inl);
	set_up_reload(&o, &d);
	go_live(&o);
	run_loop(&d);
	shut_down(&d);
	return 0;
}
