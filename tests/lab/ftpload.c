/*
 * ftpload.c - the session-rate benchmark's load generator (tests/lab/bench-rate.py).
 *
 * N threads, each running short FTP sessions back to back until the time is
 * up: connect, USER, PASS, PASV/EPSV or PORT/EPRT, RETR of one small file,
 * QUIT.  Blocking sockets with timeouts: a thread is one client, so a stall
 * shows as latency and a failure as an error, never as a generator queue.
 *
 *   ftpload -h HOST [-p 21] [-m pasv|port] [-c 50] [-t 30] [-f small.bin]
 *           [-s SIZE] [-i SECS] [-u USER] [-w PASS] [-T TIMEOUT_MS] [-n SESSIONS]
 *
 * -n stops after that many sessions were started (a correctness run, not a
 * timed one); -t still bounds it.
 * Prints one "interval ..." line every -i seconds (soak) and at the end
 *   result sessions=N errors=E secs=S rate=R p50_ms=A p99_ms=B cpu_s=C
 *   error COUNT TEXT        (one line per distinct error, most frequent first)
 * cpu_s is the generator's own CPU time, to show it is not the bottleneck.
 * Test traffic only: the lab runs it inside its client namespace.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_ERRS 32
#define LAT_MAX 4000000

static const char *host = NULL, *port = "21", *file = "small.bin", *user = "anonymous",
		  *pass = "load@";
static int active, nthreads = 50, timeout_ms = 5000, interval;
static long expect_size = -1, max_sessions = -1;
static atomic_long started;
static double secs = 30;
static struct addrinfo *srv;
static volatile int stop;
static atomic_ulong n_ok, n_err;
static uint32_t *lat_us;	/* latency of each finished session, in µs */
static atomic_ulong n_lat;
static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;
static struct { char text[120]; unsigned long n; } errs[MAX_ERRS];
static unsigned n_errs;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void record_err(const char *fmt, ...)
{
	char buf[120];
	va_list ap;
	unsigned i;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* Digits vary (ports, addresses): errors are grouped by their text as is. */
	pthread_mutex_lock(&err_mu);
	for (i = 0; i < n_errs; i++)
		if (!strcmp(errs[i].text, buf))
			break;
	if (i == n_errs && n_errs < MAX_ERRS)
		snprintf(errs[n_errs++].text, sizeof(errs[0].text), "%s", buf);
	if (i < n_errs)
		errs[i].n++;
	pthread_mutex_unlock(&err_mu);
	atomic_fetch_add(&n_err, 1);
}

struct conn {
	int fd;
	char buf[2048];
	size_t len;
	char line[512];
};

static void set_timeouts(int fd)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Reads one complete (final line of a) reply; returns its code, -1 on error. */
static int reply(struct conn *c)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);

		if (nl) {
			size_t n = (size_t)(nl - c->buf) + 1;
			size_t k = n < sizeof(c->line) ? n : sizeof(c->line) - 1;

			memcpy(c->line, c->buf, k);
			c->line[k] = 0;
			while (k && (c->line[k - 1] == '\n' || c->line[k - 1] == '\r'))
				c->line[--k] = 0;
			memmove(c->buf, c->buf + n, c->len - n);
			c->len -= n;
			if (k >= 4 && c->line[0] >= '1' && c->line[0] <= '5' && c->line[3] == ' ')
				return atoi(c->line);
			continue;
		}
		if (c->len == sizeof(c->buf))
			return -1;
		ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (r <= 0) {
			snprintf(c->line, sizeof(c->line), "%s",
				 r == 0 ? "control connection closed" : strerror(errno));
			return -1;
		}
		c->len += (size_t)r;
	}
}

static int cmd(struct conn *c, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	memcpy(buf + n, "\r\n", 2);
	if (send(c->fd, buf, (size_t)n + 2, MSG_NOSIGNAL) != n + 2) {
		snprintf(c->line, sizeof(c->line), "send: %s", strerror(errno));
		return -1;
	}
	return reply(c);
}

static int tcp_connect(const struct sockaddr *sa, socklen_t len)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	set_timeouts(fd);
	if (connect(fd, sa, len) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static long drain(int fd)
{
	char buf[16384];
	long total = 0;
	ssize_t r;

	while ((r = recv(fd, buf, sizeof(buf), 0)) > 0)
		total += r;
	return r < 0 ? -1 : total;
}

/* One session; 0 if it went through, else -1 with the error recorded. */
static int session(void)
{
	struct conn c = { .fd = -1 };
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int lfd = -1, dfd = -1, code, ret = -1, v6 = srv->ai_family == AF_INET6;
	const char *step = "connect";
	long got;

	c.fd = tcp_connect(srv->ai_addr, srv->ai_addrlen);
	if (c.fd < 0) {
		record_err("connect: %s", strerror(errno));
		return -1;
	}
	step = "greeting";
	if ((code = reply(&c)) != 220)
		goto bad;
	step = "USER";
	if ((code = cmd(&c, "USER %s", user)) != 331 && code != 230)
		goto bad;
	if (code == 331) {
		step = "PASS";
		if ((code = cmd(&c, "PASS %s", pass)) != 230)
			goto bad;
	}
	if (active) {
		char a[INET6_ADDRSTRLEN];
		uint16_t p;

		getsockname(c.fd, (struct sockaddr *)&ss, &sl);
		if (v6)
			((struct sockaddr_in6 *)&ss)->sin6_port = 0;
		else
			((struct sockaddr_in *)&ss)->sin_port = 0;
		lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&ss, sl) < 0 || listen(lfd, 1) < 0) {
			record_err("data listen: %s", strerror(errno));
			goto out;
		}
		sl = sizeof(ss);
		getsockname(lfd, (struct sockaddr *)&ss, &sl);
		if (v6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
			p = ntohs(s6->sin6_port);
			step = "EPRT";
			code = cmd(&c, "EPRT |2|%s|%u|", a, p);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			unsigned char *b = (unsigned char *)&s4->sin_addr;
			p = ntohs(s4->sin_port);
			step = "PORT";
			code = cmd(&c, "PORT %u,%u,%u,%u,%u,%u", b[0], b[1], b[2], b[3], p >> 8, p & 255);
		}
		if (code != 200)
			goto bad;
	} else {
		unsigned h[6], dport;
		char *q;

		memcpy(&ss, srv->ai_addr, srv->ai_addrlen);
		if (v6) {
			step = "EPSV";
			if ((code = cmd(&c, "EPSV")) != 229)
				goto bad;
			q = strstr(c.line, "|||");
			if (!q || sscanf(q, "|||%u|", &dport) != 1)
				goto bad;
			((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)dport);
		} else {
			step = "PASV";
			if ((code = cmd(&c, "PASV")) != 227)
				goto bad;
			q = strchr(c.line, '(');
			if (!q || sscanf(q, "(%u,%u,%u,%u,%u,%u)", &h[0], &h[1], &h[2], &h[3], &h[4],
					 &h[5]) != 6)
				goto bad;
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			s4->sin_addr.s_addr = htonl(h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3]);
			s4->sin_port = htons((uint16_t)(h[4] << 8 | h[5]));
		}
		dfd = tcp_connect((struct sockaddr *)&ss, srv->ai_addrlen);
		if (dfd < 0) {
			record_err("data connect: %s", strerror(errno));
			goto out;
		}
	}
	step = "RETR";
	if ((code = cmd(&c, "RETR %s", file)) != 150 && code != 125)
		goto bad;
	if (active) {
		struct pollfd pf = { lfd, POLLIN, 0 };

		if (poll(&pf, 1, timeout_ms) != 1 ||
		    (dfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
			record_err("data accept: no connection from the server");
			goto out;
		}
		set_timeouts(dfd);
	}
	got = drain(dfd);
	close(dfd);
	dfd = -1;
	if (got < 0 || (expect_size >= 0 && got != expect_size)) {
		record_err("data: got %ld bytes", got);
		goto out;
	}
	step = "226";
	if ((code = reply(&c)) != 226)
		goto bad;
	step = "QUIT";
	if ((code = cmd(&c, "QUIT")) != 221)
		goto bad;
	ret = 0;
	goto out;
bad:
	record_err("%s: %.100s", step, c.line[0] ? c.line : "malformed reply");
out:
	if (dfd >= 0)
		close(dfd);
	if (lfd >= 0)
		close(lfd);
	close(c.fd);
	return ret;
}

static void *worker(void *arg)
{
	(void)arg;
	while (!stop) {
		double t0 = now_s();

		if (max_sessions >= 0 && atomic_fetch_add(&started, 1) >= max_sessions)
			break;
		if (session() == 0) {
			unsigned long i = atomic_fetch_add(&n_lat, 1);

			atomic_fetch_add(&n_ok, 1);
			if (i < LAT_MAX)
				lat_us[i] = (uint32_t)((now_s() - t0) * 1e6);
		}
	}
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct rlimit rl = { 65536, 65536 };
	pthread_attr_t attr;
	pthread_t *th;
	int o, err;

	while ((o = getopt(argc, argv, "h:p:m:c:t:f:s:i:u:w:T:n:")) != -1) {
		switch (o) {
		case 'h': host = optarg; break;
		case 'p': port = optarg; break;
		case 'm': active = !strcmp(optarg, "port"); break;
		case 'c': nthreads = atoi(optarg); break;
		case 't': secs = atof(optarg); break;
		case 'f': file = optarg; break;
		case 's': expect_size = atol(optarg); break;
		case 'i': interval = atoi(optarg); break;
		case 'u': user = optarg; break;
		case 'w': pass = optarg; break;
		case 'T': timeout_ms = atoi(optarg); break;
		case 'n': max_sessions = atol(optarg); break;
		default:
			fprintf(stderr, "usage: ftpload -h HOST [-p PORT] [-m pasv|port] [-c N] "
				"[-t SECS] [-f FILE] [-s SIZE] [-i SECS]\n");
			return 2;
		}
	}
	if (!host || nthreads < 1 || nthreads > 4096 || secs <= 0) {
		fprintf(stderr, "ftpload: -h HOST required; 1 <= -c <= 4096; -t > 0\n");
		return 2;
	}
	/* Each thread holds up to three sockets. */
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((err = getaddrinfo(host, port, &hints, &srv)) != 0) {
		fprintf(stderr, "ftpload: %s: %s\n", host, gai_strerror(err));
		return 2;
	}
	lat_us = calloc(LAT_MAX, sizeof(*lat_us));
	th = calloc((size_t)nthreads, sizeof(*th));
	if (!lat_us || !th)
		return 2;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	double t0 = now_s(), c0 = cpu_s();
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], &attr, worker, NULL) != 0) {
			fprintf(stderr, "ftpload: pthread_create failed\n");
			return 2;
		}
	double next = t0 + (interval > 0 ? interval : secs + 1);
	unsigned long last_ok = 0, last_err = 0;
	while (now_s() - t0 < secs &&
	       (max_sessions < 0 || (long)(atomic_load(&n_ok) + atomic_load(&n_err)) < max_sessions)) {
		usleep(20000);
		if (interval > 0 && now_s() >= next) {
			unsigned long ok = atomic_load(&n_ok), er = atomic_load(&n_err);
			printf("interval t=%.0f ok=%lu errors=%lu rate=%.0f\n", now_s() - t0, ok, er,
			       (double)(ok - last_ok) / interval);
			fflush(stdout);
			last_ok = ok;
			last_err = er;
			next += interval;
		}
	}
	(void)last_err;
	stop = 1;
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	double el = now_s() - t0;
	unsigned long nl = atomic_load(&n_lat);
	if (nl > LAT_MAX)
		nl = LAT_MAX;
	qsort(lat_us, nl, sizeof(*lat_us), cmp_u32);
	printf("result sessions=%lu errors=%lu secs=%.2f rate=%.1f p50_ms=%.2f p99_ms=%.2f "
	       "cpu_s=%.2f\n", atomic_load(&n_ok), atomic_load(&n_err), el, atomic_load(&n_ok) / el,
	       nl ? lat_us[nl / 2] / 1000.0 : 0, nl ? lat_us[nl * 99 / 100] / 1000.0 : 0,
	       cpu_s() - c0);
	for (unsigned i = 0; i < n_errs; i++)
		printf("error %lu %s\n", errs[i].n, errs[i].text);
	return 0;
}
