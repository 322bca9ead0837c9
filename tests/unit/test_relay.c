/*
 * test_relay.c - engine/relay.c: the userspace data relay, over loopback.
 *
 * The relay runs in the test's own epoll loop (as in the daemon); the two
 * ends of each data connection are threads with blocking sockets.  Needs
 * no privileges; uses 127.0.0.1, 127.0.0.2 (the loopback /8) and ::1.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "alg/alg.h"
#include "daemon/log.h"
#include "engine/event.h"
#include "engine/relay.h"
#include "engine/sockaddr.h"

static int epfd = -1;

static void
setup(void)
{
	log_init(LOG_TO_STDERR, getenv("RELAY_DEBUG") ? 7 : 3 /* LOG_ERR: quiet */, "test_relay");
	epfd = epoll_create1(EPOLL_CLOEXEC);
	ck_assert_int_ge(epfd, 0);
}

static void
teardown(void)
{
	close(epfd);
}

/* Runs the relay's events until cond() or ms pass; ticks like the daemon does. */
static bool
loop_until(struct relay_table *t, bool (*cond)(void *), void *arg, int ms)
{
	uint64_t end = ev_now_ms() + (uint64_t)ms;

	while (!cond(arg)) {
		struct epoll_event evs[16];
		int n;

		if (ev_now_ms() > end)
			return false;
		n = epoll_wait(epfd, evs, 16, 10);
		for (int i = 0; i < n; i++) {
			struct ev_handler *h = evs[i].data.ptr;

			h->fn(h, evs[i].events);
		}
		relay_tick(t, ev_now_ms());
	}
	return true;
}

static struct alg_endpoint
ep(const char *s)
{
	struct alg_endpoint e;

	ck_assert_int_eq(alg_ep_parse(s, &e), 0);
	return e;
}

/* A free port on addr (bound, then let go). */
static uint16_t
free_port(const char *addr)
{
	struct alg_endpoint e = ep(addr);
	struct sockaddr_storage ss;
	socklen_t sl = ep_to_sa(&e, &ss);
	int fd = socket(ss.ss_family, SOCK_STREAM, 0);
	uint16_t p;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&ss, sl), 0);
	sl = sizeof(ss);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
	ck_assert_int_eq(sa_to_ep(&ss, &e), 0);
	p = e.port;
	close(fd);
	return p;
}

static int
listener(const char *addr, uint16_t *port)
{
	struct alg_endpoint e = ep(addr);
	struct sockaddr_storage ss;
	socklen_t sl = ep_to_sa(&e, &ss);
	int fd = socket(ss.ss_family, SOCK_STREAM, 0), one = 1;

	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&ss, sl), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	sl = sizeof(ss);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
	ck_assert_int_eq(sa_to_ep(&ss, &e), 0);
	*port = e.port;
	return fd;
}

/* Connects to dst from src's address (port chosen by the kernel); -1 with errno. */
static int
dial(const char *src, const struct alg_endpoint *dst)
{
	struct alg_endpoint s = ep(src);
	struct sockaddr_storage a, b;
	socklen_t al = ep_to_sa(&s, &a), bl = ep_to_sa(dst, &b);
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(b.ss_family, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (bind(fd, (struct sockaddr *)&a, al) < 0 || connect(fd, (struct sockaddr *)&b, bl) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* A byte stream anyone can check without storing it: byte i of stream `seed`. */
static uint8_t
pattern(uint32_t seed, uint64_t i)
{
	uint64_t x = (i >> 3) * 0x9E3779B97F4A7C15ull + seed;

	x ^= x >> 29;
	x *= 0xBF58476D1CE4E5B9ull;
	return (uint8_t)(x >> (8 * (i & 7)));
}

/* One end of a relayed connection: sends `send` bytes of pattern seed_out, then FIN; reads to EOF checking seed_in. */
struct end {
	int fd;			/* connected (or -1: accept on lfd first) */
	int lfd;
	const char *src;	/* dial from here ... */
	struct alg_endpoint dst;	/* ... to here, when fd < 0 and lfd < 0 */
	uint64_t send, want;
	uint32_t seed_out, seed_in;
	bool rst_after;		/* reset after sending instead of FIN */
	uint64_t got;
	bool bad, eof;
	int rd_err;		/* errno of a failed read */
	atomic_bool done;
};

static void *
end_run(void *arg)
{
	struct end *e = arg;
	static __thread uint8_t buf[65536];
	uint64_t sent = 0;

	if (e->fd < 0 && e->lfd >= 0)
		e->fd = accept(e->lfd, NULL, NULL);
	else if (e->fd < 0)
		e->fd = dial(e->src, &e->dst);
	if (e->fd < 0) {
		e->bad = true;
		atomic_store(&e->done, true);
		return NULL;
	}
	while (sent < e->send) {
		size_t n = e->send - sent < sizeof(buf) ? (size_t)(e->send - sent) : sizeof(buf);
		ssize_t w;

		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(e->seed_out, sent + i);
		w = write(e->fd, buf, n);
		if (w <= 0) {
			e->bad = true;
			break;
		}
		sent += (uint64_t)w;
	}
	if (e->rst_after) {
		struct linger lg = { 1, 0 };

		setsockopt(e->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(e->fd);
		e->fd = -1;
		atomic_store(&e->done, true);
		return NULL;
	}
	shutdown(e->fd, SHUT_WR);
	for (;;) {
		ssize_t r = read(e->fd, buf, sizeof(buf));

		if (r == 0) {
			e->eof = true;
			break;
		}
		if (r < 0) {
			e->rd_err = errno;
			break;
		}
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != pattern(e->seed_in, e->got + (uint64_t)i))
				e->bad = true;
		e->got += (uint64_t)r;
	}
	close(e->fd);
	e->fd = -1;
	atomic_store(&e->done, true);
	return NULL;
}

struct pair {
	struct end *a, *b;
};

static bool
both_done(void *arg)
{
	struct pair *p = arg;

	return atomic_load(&p->a->done) && atomic_load(&p->b->done);
}

static struct alg_mapping
mapping(const char *peer, const char *dst, const char *to, uint32_t timeout_ms)
{
	struct alg_mapping m;

	memset(&m, 0, sizeof(m));
	m.id = 1;
	m.kind = ALG_MAP_PASSIVE;
	m.peer = ep(peer);
	m.dst = ep(dst);
	m.to = ep(to);
	m.timeout_ms = timeout_ms;
	return m;
}

static bool
is_carrying_or_gone(void *arg)
{
	return strcmp(relay_state(arg), "listening") != 0 &&
	    strcmp(relay_state(arg), "connecting") != 0;
}

static bool
is_done(void *arg)
{
	return strcmp(relay_state(arg), "done") == 0;
}

static const struct relay_limits LIM = {
	.max_total = 8, .max_per_session = 4, .pipe_size = 65536,
	.connect_timeout_ms = 2000, .idle_timeout_ms = 5000,
};

/*
 * A full relay in both directions, with src the address the target should
 * see.  peer_addr/dst_addr/to_addr: addresses; returns through the ends.
 */
static void
run_pair(const char *peer_addr, const char *dst_addr, const char *to_addr,
    uint64_t up, uint64_t down, bool release_early)
{
	struct relay_table *t = relay_new(epfd, &LIM, NULL);
	struct alg_mapping m;
	struct relay *r;
	struct end a, b;
	struct pair p = { &a, &b };
	pthread_t ta, tb;
	uint16_t to_port, dst_port = free_port(dst_addr);
	int lfd = listener(to_addr, &to_port);
	char dst[80], to[80], why[160];
	const struct relay_stats *st;

	snprintf(dst, sizeof(dst), strchr(dst_addr, ':') ? "[%s]:%u" : "%s:%u", dst_addr, dst_port);
	snprintf(to, sizeof(to), strchr(to_addr, ':') ? "[%s]:%u" : "%s:%u", to_addr, to_port);
	ck_assert_ptr_nonnull(t);
	m = mapping(peer_addr, dst, to, 5000);
	r = relay_open(t, 's', 7, &m, NULL, why, sizeof(why));
	ck_assert_msg(r != NULL, "%s", why);
	ck_assert_str_eq(relay_state(r), "listening");
	ck_assert_uint_eq(relay_count_session(t, 's', 7), 1);

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.fd = -1;
	a.lfd = -1;
	a.src = peer_addr;
	a.dst = m.dst;
	a.send = up;
	a.seed_out = 1;
	a.seed_in = 2;
	b.fd = -1;
	b.lfd = lfd;
	b.send = down;
	b.seed_out = 2;
	b.seed_in = 1;
	ck_assert_int_eq(pthread_create(&ta, NULL, end_run, &a), 0);
	ck_assert_int_eq(pthread_create(&tb, NULL, end_run, &b), 0);
	if (release_early) {
		/* the session lets go as soon as the data flows: it must run on */
		ck_assert(loop_until(t, is_carrying_or_gone, r, 5000));
		relay_release(t, r);
		r = NULL;
	}
	ck_assert_msg(loop_until(t, both_done, &p, 20000), "transfer did not finish");
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	ck_assert(!a.bad && !b.bad);
	ck_assert_msg(a.eof && b.eof, "eof %d %d err %d %d got %llu %llu", a.eof, b.eof, a.rd_err, b.rd_err, (unsigned long long)a.got, (unsigned long long)b.got);
	ck_assert_uint_eq(a.got, down);
	ck_assert_uint_eq(b.got, up);
	if (r != NULL) {
		/* done, still held by the session: nothing counts as open */
		ck_assert(loop_until(t, is_done, r, 2000));
		ck_assert_uint_eq(relay_count_session(t, 's', 7), 0);
		relay_release(t, r);
	}
	relay_tick(t, ev_now_ms());
	st = relay_stats(t);
	ck_assert_uint_eq(st->opened, 1);
	ck_assert_uint_eq(st->accepted, 1);
	ck_assert_uint_eq(st->failed, 0);
	ck_assert_uint_eq(st->bytes_in, up);
	ck_assert_uint_eq(st->bytes_out, down);
	ck_assert_uint_eq(relay_count(t), 0);
	close(lfd);
	relay_free(t);
}

START_TEST(t_relay_v4)
{
	run_pair("127.0.0.1", "127.0.0.1", "127.0.0.1", 3u << 20, 9u << 20, false);
}
END_TEST

START_TEST(t_relay_v6_to_v4)
{
	/* RFC 6384: an IPv6 client's data connection to an IPv4 server */
	run_pair("::1", "::1", "127.0.0.1", 1u << 20, 5u << 20, false);
}
END_TEST

START_TEST(t_relay_released_runs_on)
{
	run_pair("127.0.0.1", "127.0.0.1", "127.0.0.1", 0, 16u << 20, true);
}
END_TEST

START_TEST(t_relay_empty)
{
	run_pair("127.0.0.1", "127.0.0.1", "127.0.0.1", 0, 0, false);
}
END_TEST

START_TEST(t_relay_foreign_peer)
{
	struct relay_table *t = relay_new(epfd, &LIM, NULL);
	struct alg_mapping m;
	struct relay *r;
	uint16_t to_port, dst_port = free_port("127.0.0.1");
	int lfd = listener("127.0.0.1", &to_port), c1, c2, s2;
	char dst[40], to[40], why[160], ch;
	struct pollfd pfd;

	snprintf(dst, sizeof(dst), "127.0.0.1:%u", dst_port);
	snprintf(to, sizeof(to), "127.0.0.1:%u", to_port);
	/* only 127.0.0.2 may use it */
	m = mapping("127.0.0.2", dst, to, 5000);
	r = relay_open(t, 's', 1, &m, NULL, why, sizeof(why));
	ck_assert_msg(r != NULL, "%s", why);
	c1 = dial("127.0.0.1", &m.dst);
	ck_assert_int_ge(c1, 0);	/* the kernel accepts; the relay resets it */
	loop_until(t, is_carrying_or_gone, r, 300);
	ck_assert_str_eq(relay_state(r), "listening");
	ck_assert_uint_eq(relay_stats(t)->foreign, 1);
	pfd.fd = c1;
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
	ck_assert_int_lt(read(c1, &ch, 1), 0);
	ck_assert_int_eq(errno, ECONNRESET);
	close(c1);
	/* the expected peer gets through */
	c2 = dial("127.0.0.2", &m.dst);
	ck_assert_int_ge(c2, 0);
	ck_assert(loop_until(t, is_carrying_or_gone, r, 2000));
	s2 = accept(lfd, NULL, NULL);
	ck_assert_int_ge(s2, 0);
	ck_assert_uint_eq(relay_stats(t)->accepted, 1);
	/* one-shot: the listening socket is gone */
	ck_assert_int_lt(dial("127.0.0.2", &m.dst), 0);
	ck_assert_int_eq(errno, ECONNREFUSED);
	close(c2);
	close(s2);
	relay_release(t, r);
	close(lfd);
	relay_free(t);
}
END_TEST

static bool
expired(void *arg)
{
	return strcmp(relay_state(arg), "expired") == 0;
}

START_TEST(t_relay_expires)
{
	struct relay_table *t = relay_new(epfd, &LIM, NULL);
	struct alg_mapping m;
	struct relay *r;
	char dst[40], why[160];

	snprintf(dst, sizeof(dst), "127.0.0.1:%u", free_port("127.0.0.1"));
	m = mapping("127.0.0.1", dst, "127.0.0.1:9", 150);
	r = relay_open(t, 's', 1, &m, NULL, why, sizeof(why));
	ck_assert_ptr_nonnull(r);
	ck_assert(loop_until(t, expired, r, 2000));
	ck_assert_uint_eq(relay_stats(t)->expired, 1);
	ck_assert_int_lt(dial("127.0.0.1", &m.dst), 0);
	ck_assert_int_eq(errno, ECONNREFUSED);
	ck_assert_uint_eq(relay_count_session(t, 's', 1), 0);
	relay_release(t, r);
	relay_tick(t, ev_now_ms());
	ck_assert_uint_eq(relay_count(t), 0);
	relay_free(t);
}
END_TEST

START_TEST(t_relay_limits)
{
	struct relay_limits lim = LIM;
	struct relay_table *t;
	struct alg_mapping m;
	struct relay *r[4];
	char dst[40], why[160];

	lim.max_total = 3;
	lim.max_per_session = 2;
	t = relay_new(epfd, &lim, NULL);
	for (int i = 0; i < 4; i++) {
		snprintf(dst, sizeof(dst), "127.0.0.1:%u", free_port("127.0.0.1"));
		m = mapping("127.0.0.1", dst, "127.0.0.1:9", 5000);
		r[i] = relay_open(t, 's', i < 3 ? 1 : 2, &m, NULL, why, sizeof(why));
		if (i == 2) {
			ck_assert_ptr_null(r[i]);
			ck_assert_msg(strstr(why, "max-relays-per-session") != NULL, "%s", why);
			r[i] = relay_open(t, 's', 3, &m, NULL, why, sizeof(why));
			ck_assert_ptr_nonnull(r[i]);
		}
	}
	ck_assert_ptr_null(r[3]);
	ck_assert_msg(strstr(why, "max-relays)") != NULL, "%s", why);
	/* Session 1 of the other engine is another session: not at its limit. */
	ck_assert_uint_eq(relay_count_session(t, 's', 1), 2);
	ck_assert_uint_eq(relay_count_session(t, 'i', 1), 0);
	ck_assert_uint_eq(relay_stats(t)->refused, 2);
	/* a port in use cannot be relayed on: refused with the reason */
	{
		uint16_t p;
		int lfd = listener("127.0.0.1", &p);

		relay_release(t, r[0]);
		snprintf(dst, sizeof(dst), "127.0.0.1:%u", p);
		m = mapping("127.0.0.1", dst, "127.0.0.1:9", 5000);
		ck_assert_ptr_null(relay_open(t, 's', 4, &m, NULL, why, sizeof(why)));
		ck_assert_msg(strstr(why, "Address already in use") != NULL, "%s", why);
		close(lfd);
	}
	relay_free(t);	/* with relays still open: no leak (valgrind) */
}
END_TEST

/* The target resets mid-transfer: the peer must see a reset, never a clean EOF. */
START_TEST(t_relay_reset_propagates)
{
	struct relay_table *t = relay_new(epfd, &LIM, NULL);
	struct alg_mapping m;
	struct relay *r;
	struct end a, b;
	struct pair p = { &a, &b };
	pthread_t ta, tb;
	uint16_t to_port;
	int lfd = listener("127.0.0.1", &to_port);
	char dst[40], to[40], why[160];

	snprintf(dst, sizeof(dst), "127.0.0.1:%u", free_port("127.0.0.1"));
	snprintf(to, sizeof(to), "127.0.0.1:%u", to_port);
	m = mapping("127.0.0.1", dst, to, 5000);
	r = relay_open(t, 's', 1, &m, NULL, why, sizeof(why));
	ck_assert_ptr_nonnull(r);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.fd = a.lfd = -1;
	a.src = "127.0.0.1";
	a.dst = m.dst;
	b.fd = -1;
	b.lfd = lfd;
	b.send = 1 << 20;
	b.seed_out = 3;
	b.seed_in = 4;
	b.rst_after = true;
	a.seed_in = 3;
	ck_assert_int_eq(pthread_create(&ta, NULL, end_run, &a), 0);
	ck_assert_int_eq(pthread_create(&tb, NULL, end_run, &b), 0);
	ck_assert(loop_until(t, both_done, &p, 10000));
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	ck_assert_msg(!a.eof, "the peer saw a clean end after %llu bytes",
	    (unsigned long long)a.got);
	ck_assert_int_eq(a.rd_err, ECONNRESET);
	relay_release(t, r);
	close(lfd);
	relay_free(t);
}
END_TEST

/*
 * Backpressure: a peer that does not read.  The target's writes must stop
 * after what the sockets and the one pipe hold, not grow without bound.
 */
struct stall {
	int fd;
	uint64_t written;
	atomic_bool blocked;
};

static void *
stall_writer(void *arg)
{
	struct stall *st = arg;
	static uint8_t buf[65536];

	for (;;) {
		struct pollfd pfd = { .fd = st->fd, .events = POLLOUT };
		ssize_t w;

		if (poll(&pfd, 1, 1000) == 0) {
			atomic_store(&st->blocked, true);	/* a full second without room */
			return NULL;
		}
		w = send(st->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (w < 0 && errno != EAGAIN)
			return NULL;
		if (w > 0)
			st->written += (uint64_t)w;
		if (st->written > (512ull << 20))
			return NULL;	/* unbounded: the assertion below fails */
	}
}

static bool
stalled(void *arg)
{
	return atomic_load(&((struct stall *)arg)->blocked);
}

START_TEST(t_relay_bounded)
{
	struct relay_table *t = relay_new(epfd, &LIM, NULL);
	struct alg_mapping m;
	struct relay *r;
	struct stall st = { .fd = -1 };
	pthread_t tw;
	uint16_t to_port;
	int lfd = listener("127.0.0.1", &to_port), c, rcv = 65536;
	char dst[40], to[40], why[160];

	snprintf(dst, sizeof(dst), "127.0.0.1:%u", free_port("127.0.0.1"));
	snprintf(to, sizeof(to), "127.0.0.1:%u", to_port);
	m = mapping("127.0.0.1", dst, to, 5000);
	r = relay_open(t, 's', 1, &m, NULL, why, sizeof(why));
	ck_assert_ptr_nonnull(r);
	c = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(c, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));	/* a slow reader */
	close(c);
	c = dial("127.0.0.1", &m.dst);
	ck_assert_int_ge(c, 0);
	ck_assert(loop_until(t, is_carrying_or_gone, r, 2000));
	st.fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(st.fd, 0);
	ck_assert_int_eq(pthread_create(&tw, NULL, stall_writer, &st), 0);
	ck_assert(loop_until(t, stalled, &st, 30000));
	pthread_join(tw, NULL);
	if (getenv("RELAY_DEBUG") != NULL)
		fprintf(stderr, "t_relay_bounded: %llu bytes taken from a stalled sender\n",
		    (unsigned long long)st.written);
	/* socket buffers of both legs (autotuned, a few MiB each) plus one pipe */
	ck_assert_msg(st.written < (64ull << 20), "%llu bytes taken from a stalled sender",
	    (unsigned long long)st.written);
	ck_assert_str_eq(relay_state(r), "carrying");
	close(c);
	close(st.fd);
	relay_release(t, r);
	close(lfd);
	relay_free(t);
}
END_TEST

static Suite *
relay_suite(void)
{
	Suite *s = suite_create("relay");
	TCase *tc = tcase_create("loopback");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_relay_v4);
	tcase_add_test(tc, t_relay_v6_to_v4);
	tcase_add_test(tc, t_relay_released_runs_on);
	tcase_add_test(tc, t_relay_empty);
	tcase_add_test(tc, t_relay_foreign_peer);
	tcase_add_test(tc, t_relay_expires);
	tcase_add_test(tc, t_relay_limits);
	tcase_add_test(tc, t_relay_reset_propagates);
	tcase_add_test(tc, t_relay_bounded);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(relay_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
