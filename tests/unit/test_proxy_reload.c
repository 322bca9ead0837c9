/*
 * test_proxy_reload.c - the proxy engine's listeners across a reload
 * (proxy_reload_prepare / commit / abort in engine/proxy.c): sockets kept,
 * opened, closed, undone when one cannot be opened, changed in place.
 *
 * Needs root: the test runs in a network namespace of its own (unshare in
 * main), so its listeners ([::]:P among them) exist nowhere else.  Traffic:
 * connect() to loopback only.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/reload.h"
#include "engine/gateway.h"
#include "engine/proxy.h"

#define P_LISTEN 12121
#define P_MAP 12101
#define P_MAP2 12102
#define P_TAKEN 12199

/* ---------------------------------------------------------------- helpers */

static struct ftpalg_config *
conf(const char *text)
{
	static struct ftpalg_config pool[4];
	static unsigned next;
	struct ftpalg_config *c = &pool[next++ % 4];
	struct reload_source src = { 0 };
	char path[64], err[512];
	int fd;

	snprintf(path, sizeof(path), "/tmp/ftpalg-test-preload-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	src.file = path;
	ck_assert_msg(reload_read(&src, c, err, sizeof(err)) == 0, "%s", err);
	unlink(path);
	return c;
}

/* 1 connected, 0 refused, -1 other. */
static int
try_connect(int af, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, rc;

	memset(&ss, 0, sizeof(ss));
	if (af == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		inet_pton(AF_INET, addr, &s4->sin_addr);
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
		len = sizeof(*s6);
	}
	fd = socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	rc = connect(fd, (struct sockaddr *)&ss, len) == 0 ? 1 : errno == ECONNREFUSED ? 0 : -1;
	close(fd);
	return rc;
}

static struct gateway *gw;	/* dry: no kernel pinholes, no relays */

/* What the daemon does at start: listeners and mappings of c. */
static struct proxy *
start(const struct ftpalg_config *c, int epfd)
{
	struct proxy_params pp;
	struct proxy *px;

	if (gw == NULL)
		gw = gw_new_dry(40000, 40999);
	ck_assert_ptr_nonnull(gw);
	params_proxy(c, &pp);
	px = proxy_new(&pp, gw, epfd);
	ck_assert_ptr_nonnull(px);
	for (unsigned i = 0; i < c->n_listen; i++)
		ck_assert_int_eq(proxy_listen(px, &c->listen[i], c->mode == CFG_MODE_TPROXY, NULL),
		    0);
	for (unsigned i = 0; i < c->n_mappings; i++) {
		struct proxy_mapping pm;

		params_mapping(&c->mappings[i], &pm);
		ck_assert_int_eq(proxy_listen_mapping(px, &pm), 0);
	}
	return px;
}

/* The daemon's side of a whole reload (daemon/reload_run.c): prepare, commit. */
static int
reload(struct proxy *px, struct ftpalg_config *running, const struct ftpalg_config *next,
    char *why)
{
	struct proxy_mapping maps[CFG_MAX_MAPPINGS];
	struct proxy_listeners pl = {
		.listen = next->listen, .n_listen = next->n_listen,
		.tproxy = next->mode == CFG_MODE_TPROXY, .maps = maps, .n_maps = next->n_mappings,
	};
	struct proxy_params pp;

	for (unsigned i = 0; i < next->n_mappings; i++)
		params_mapping(&next->mappings[i], &maps[i]);
	why[0] = '\0';
	if (proxy_reload_prepare(px, &pl, why, 256) < 0)
		return -1;
	params_proxy(next, &pp);
	proxy_reload_commit(px, &pl, &pp);
	memcpy(running, next, sizeof(*running));
	proxy_tick(px, 0);	/* frees closed listeners, as the next tick does */
	return 0;
}

static const char base[] =
    "listen = 12121\n"
    "mapping = 127.0.0.1:12101 -> 127.0.0.1:21 relay\n";

/* ---------------------------------------------------------------- tests */

START_TEST(kept_sockets_keep_accepting)
{
	static struct ftpalg_config run;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct proxy *px;
	char why[256];

	memcpy(&run, conf(base), sizeof(run));
	px = start(&run, ep);
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.1", P_LISTEN), 1);
	ck_assert_int_eq(try_connect(AF_INET6, "::1", P_LISTEN), 1);
	ck_assert_int_eq(reload(px, &run, conf("listen = 12121\ncontrol-ports = 21, 2021\n"
	    "pasv-policy = relaxed\nmapping = 127.0.0.1:12101 -> 127.0.0.1:21 relay\n"), why), 0);
	/* both sockets of [::]:P stay */
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.1", P_LISTEN), 1);
	ck_assert_int_eq(try_connect(AF_INET6, "::1", P_LISTEN), 1);
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.1", P_MAP), 1);
	proxy_free(px);
	close(ep);
}
END_TEST

START_TEST(added_then_abort_or_commit)
{
	static struct ftpalg_config run;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	const struct ftpalg_config *next;
	struct proxy *px;
	char why[256];

	memcpy(&run, conf(base), sizeof(run));
	px = start(&run, ep);
	next = conf("listen = 12121\nmapping = 127.0.0.1:12101 -> 127.0.0.1:21 relay\n"
	    "mapping = 127.0.0.1:12102 -> 127.0.0.1:21\n");
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.1", P_MAP2), 0);
	{
		struct proxy_mapping maps[CFG_MAX_MAPPINGS];
		struct proxy_listeners pl = {
			.listen = next->listen, .n_listen = next->n_listen,
			.maps = maps, .n_maps = next->n_mappings,
		};

		for (unsigned i = 0; i < next->n_mappings; i++)
			params_mapping(&next->mappings[i], &maps[i]);
		ck_assert_int_eq(proxy_reload_prepare(px, &pl, why, sizeof(why)), 0);
	}
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.1", P_MAP2), 1);	/* open already */
	proxy_reload_abort(px);
	proxy_tick(px, 0);
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.1", P_MAP2), 0);	/* undone */
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.1", P_MAP), 1);
	ck_assert_int_eq(reload(px, &run, next, why), 0);
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.1", P_MAP2), 1);
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.1", P_MAP), 1);
	proxy_free(px);
	close(ep);
}
END_TEST

START_TEST(removed_stop_accepting)
{
	static struct ftpalg_config run;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct proxy *px;
	char why[256];

	memcpy(&run, conf(base), sizeof(run));
	px = start(&run, ep);
	/* the mapping goes, and [::]:P becomes 127.0.0.1:P: the IPv6 socket goes */
	ck_assert_int_eq(reload(px, &run, conf("listen = 127.0.0.1:12121\n"), why), 0);
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.1", P_MAP), 0);
	ck_assert_int_eq(try_connect(AF_INET6, "::1", P_LISTEN), 0);
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.1", P_LISTEN), 1);
	/* and back */
	ck_assert_int_eq(reload(px, &run, conf(base), why), 0);
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.1", P_MAP), 1);
	ck_assert_int_eq(try_connect(AF_INET6, "::1", P_LISTEN), 1);
	proxy_free(px);
	close(ep);
}
END_TEST

/* A port someone else holds: the reload fails whole, nothing changes. */
START_TEST(cannot_open_changes_nothing)
{
	static struct ftpalg_config run;
	int ep = epoll_create1(EPOLL_CLOEXEC), hog, one = 1;
	struct sockaddr_in s4;
	struct proxy *px;
	char why[256];

	memcpy(&run, conf(base), sizeof(run));
	px = start(&run, ep);
	hog = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_port = htons(P_TAKEN);
	inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
	setsockopt(hog, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(hog, (struct sockaddr *)&s4, sizeof(s4)), 0);
	ck_assert_int_eq(listen(hog, 1), 0);
	ck_assert_int_eq(reload(px, &run, conf("listen = 12121\n"
	    "mapping = 127.0.0.1:12102 -> 127.0.0.1:21\n"
	    "mapping = 127.0.0.1:12199 -> 127.0.0.1:21\n"), why), -1);
	ck_assert_msg(strstr(why, "listen on 127.0.0.1:12199") != NULL &&
	    strstr(why, "in use") != NULL, "%s", why);
	proxy_tick(px, 0);
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.1", P_MAP2), 0);	/* opened, then undone */
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.1", P_MAP), 1);	/* not closed */
	ck_assert_int_eq(try_connect(AF_INET6, "::1", P_LISTEN), 1);
	/* The same with [::]:P becoming 127.0.0.1:P: 0.0.0.0:P is closed for
	 * its port, then the hog fails the reload, and 0.0.0.0:P is back. */
	ck_assert_int_eq(reload(px, &run, conf("listen = 127.0.0.1:12121\n"
	    "mapping = 127.0.0.1:12199 -> 127.0.0.1:21\n"), why), -1);
	proxy_tick(px, 0);
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.2", P_LISTEN), 1);	/* 0.0.0.0 again */
	ck_assert_int_eq(try_connect(AF_INET6, "::1", P_LISTEN), 1);
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.1", P_MAP), 1);
	close(hog);
	/* and without the hog it goes through */
	ck_assert_int_eq(reload(px, &run, conf("listen = 127.0.0.1:12121\n"
	    "mapping = 127.0.0.1:12199 -> 127.0.0.1:21\n"), why), 0);
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.2", P_LISTEN), 0);
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.1", P_LISTEN), 1);
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.1", P_TAKEN), 1);
	proxy_free(px);
	close(ep);
}
END_TEST

/* redirect -> tproxy: the same sockets, made transparent in place. */
START_TEST(mode_changes_in_place)
{
	static struct ftpalg_config run;
	int ep = epoll_create1(EPOLL_CLOEXEC), fd, v = 0;
	socklen_t len = sizeof(v);
	struct proxy *px;
	char why[256];

	memcpy(&run, conf("listen = 127.0.0.1:12121\n"), sizeof(run));
	px = start(&run, ep);
	ck_assert_int_eq(reload(px, &run, conf("listen = 127.0.0.1:12121\nmode = tproxy\n"),
	    why), 0);
	ck_assert_int_eq(try_connect(AF_INET, "127.0.0.1", P_LISTEN), 1);
	/* find the listening socket among our fds and ask it */
	for (fd = 3; fd < 64; fd++) {
		struct sockaddr_in a;
		socklen_t al = sizeof(a);
		int acc = 0;
		socklen_t accl = sizeof(acc);

		if (getsockname(fd, (struct sockaddr *)&a, &al) < 0 || a.sin_family != AF_INET ||
		    ntohs(a.sin_port) != P_LISTEN ||
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &accl) < 0 || !acc)
			continue;
		ck_assert_int_eq(getsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &v, &len), 0);
		break;
	}
	ck_assert_int_lt(fd, 64);
	ck_assert_int_eq(v, 1);
	proxy_free(px);
	close(ep);
}
END_TEST

static void
lo_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	if (fd >= 0)
		close(fd);
}

int
main(void)
{
	SRunner *sr;
	Suite *s;
	TCase *tc;
	int failed;

	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test_proxy_reload: unshare(CLONE_NEWNET): %s: run as root\n",
		    strerror(errno));
		return EXIT_FAILURE;
	}
	lo_up();
	log_init(LOG_TO_STDERR, LOG_WARNING, "test_proxy_reload");
	s = suite_create("proxy_reload");
	tc = tcase_create("listeners");
	tcase_add_test(tc, kept_sockets_keep_accepting);
	tcase_add_test(tc, added_then_abort_or_commit);
	tcase_add_test(tc, removed_stop_accepting);
	tcase_add_test(tc, cannot_open_changes_nothing);
	tcase_add_test(tc, mode_changes_in_place);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
