/*
 * ftpfast.c - a small FTP server for the session-rate benchmark
 * (tests/lab/bench-rate.py): one thread per control connection instead of
 * vsftpd's fork (and re-exec'd helper) per session, so that the server is not
 * what limits the sessions per second.  Anonymous, read-only, one directory.
 *
 *   ftpfast -a ADDR [-p 21] -r ROOT
 *
 * Commands: USER PASS TYPE MODE STRU SYST PWD NOOP FEAT PASV EPSV PORT EPRT
 * RETR QUIT.  Active data connections come from an ephemeral port (not 20), as
 * many servers do, so that back-to-back sessions never reuse a 4-tuple that is
 * still in TIME_WAIT.  Test traffic only: the lab runs it in its server
 * namespace.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int rootfd = -1;

struct sess {
	int fd, pasv_fd;
	struct sockaddr_storage self, peer, port_to;
	int have_port;
	char buf[1024];
	size_t len;
};

static void say(struct sess *s, const char *fmt, ...)
{
	char b[300];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b, sizeof(b) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || n > (int)sizeof(b) - 3)
		n = (int)sizeof(b) - 3;
	memcpy(b + n, "\r\n", 2);
	(void)!send(s->fd, b, (size_t)n + 2, MSG_NOSIGNAL);
}

static void tmo(int fd)
{
	struct timeval tv = { 10, 0 };
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int get_line(struct sess *s, char *out, size_t outlen)
{
	for (;;) {
		char *nl = memchr(s->buf, '\n', s->len);

		if (nl) {
			size_t n = (size_t)(nl - s->buf) + 1, k = n - 1;

			if (k && s->buf[k - 1] == '\r')
				k--;
			if (k >= outlen)
				k = outlen - 1;
			memcpy(out, s->buf, k);
			out[k] = 0;
			memmove(s->buf, s->buf + n, s->len - n);
			s->len -= n;
			return 0;
		}
		if (s->len == sizeof(s->buf))
			return -1;
		ssize_t r = recv(s->fd, s->buf + s->len, sizeof(s->buf) - s->len, 0);
		if (r <= 0)
			return -1;
		s->len += (size_t)r;
	}
}

static void close_pasv(struct sess *s)
{
	if (s->pasv_fd >= 0)
		close(s->pasv_fd);
	s->pasv_fd = -1;
}

static int open_pasv(struct sess *s)
{
	struct sockaddr_storage a = s->self;
	socklen_t l = sizeof(a);
	int fd;

	close_pasv(s);
	s->have_port = 0;
	if (a.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a)->sin6_port = 0;
	else
		((struct sockaddr_in *)&a)->sin_port = 0;
	fd = socket(a.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/*
	 * The server closes each data connection first, so its passive ports
	 * pile up in TIME_WAIT (60 s): without SO_REUSEADDR, bind() to port 0
	 * searches ever longer for a free one, and a long run slows to a crawl.
	 */
	if (fd >= 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	s->pasv_fd = fd;
	return a.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&a)->sin6_port)
				       : ntohs(((struct sockaddr_in *)&a)->sin_port);
}

static int data_conn(struct sess *s)
{
	int fd;

	if (s->pasv_fd >= 0) {
		struct pollfd pf = { s->pasv_fd, POLLIN, 0 };

		fd = poll(&pf, 1, 10000) == 1 ? accept4(s->pasv_fd, NULL, NULL, SOCK_CLOEXEC) : -1;
		close_pasv(s);
		if (fd >= 0)
			tmo(fd);
		return fd;
	}
	if (!s->have_port)
		return -1;
	s->have_port = 0;
	fd = socket(s->port_to.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	tmo(fd);
	/* From the control connection's own address, as vsftpd and pyftpdlib do: on
	 * a host with several addresses the kernel would pick another (IPv6 source
	 * selection), and no pinhole names that one. */
	if (s->self.ss_family == s->port_to.ss_family) {
		struct sockaddr_storage me = s->self;

		if (me.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&me)->sin6_port = 0;
		else
			((struct sockaddr_in *)&me)->sin_port = 0;
		if (bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
			close(fd);
			return -1;
		}
	}
	if (connect(fd, (struct sockaddr *)&s->port_to, sizeof(s->port_to)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void retr(struct sess *s, const char *name)
{
	struct stat st;
	int f, d;

	if (strchr(name, '/') || name[0] == '.' ||
	    (f = openat(rootfd, name, O_RDONLY | O_CLOEXEC)) < 0) {
		say(s, "550 No such file.");
		close_pasv(s);
		s->have_port = 0;
		return;
	}
	fstat(f, &st);
	if (s->pasv_fd < 0 && !s->have_port) {
		say(s, "425 Use PORT or PASV first.");
		close(f);
		return;
	}
	/* Like vsftpd: 150 first, then the connection (active: connect after 150). */
	say(s, "150 Opening BINARY mode data connection for %s (%lld bytes).", name,
	    (long long)st.st_size);
	d = data_conn(s);
	if (d < 0) {
		say(s, "425 Failed to establish connection.");
		close(f);
		return;
	}
	off_t off = 0;
	while (off < st.st_size)
		if (sendfile(d, f, &off, (size_t)(st.st_size - off)) <= 0)
			break;
	close(f);
	close(d);
	if (off == st.st_size)
		say(s, "226 Transfer complete.");
	else
		say(s, "426 Failure writing network stream.");
}

static int parse_port(struct sess *s, const char *arg, int ext)
{
	struct sockaddr_storage a;

	memset(&a, 0, sizeof(a));
	if (!ext) {
		unsigned h[6];
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a;

		if (sscanf(arg, "%u,%u,%u,%u,%u,%u", &h[0], &h[1], &h[2], &h[3], &h[4], &h[5]) != 6)
			return -1;
		for (int i = 0; i < 6; i++)
			if (h[i] > 255)
				return -1;
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3]);
		s4->sin_port = htons((uint16_t)(h[4] << 8 | h[5]));
	} else {
		char d = arg[0], host[64];
		unsigned proto, port;
		char fmt[40];

		if (!d)
			return -1;
		snprintf(fmt, sizeof(fmt), "%c%%u%c%%63[^%c]%c%%u%c", d, d, d, d, d);
		if (sscanf(arg, fmt, &proto, host, &port) != 3 || port > 65535)
			return -1;
		if (proto == 1) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&a;
			s4->sin_family = AF_INET;
			s4->sin_port = htons((uint16_t)port);
			if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
				return -1;
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a;
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons((uint16_t)port);
			if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
				return -1;
		}
	}
	if (a.ss_family != s->self.ss_family)
		return -1;
	close_pasv(s);
	s->port_to = a;
	s->have_port = 1;
	return 0;
}

static void *serve(void *arg)
{
	struct sess *s = arg;
	socklen_t l = sizeof(s->self);
	char line[600];

	getsockname(s->fd, (struct sockaddr *)&s->self, &l);
	tmo(s->fd);
	say(s, "220 ftpfast ready");
	while (get_line(s, line, sizeof(line)) == 0) {
		char *sp = strchr(line, ' '), *a = sp ? sp + 1 : line + strlen(line);

		if (sp)
			*sp = 0;
		if (!strcasecmp(line, "USER"))
			say(s, "331 Please specify the password.");
		else if (!strcasecmp(line, "PASS"))
			say(s, "230 Login successful.");
		else if (!strcasecmp(line, "TYPE") || !strcasecmp(line, "MODE") ||
			 !strcasecmp(line, "STRU") || !strcasecmp(line, "NOOP"))
			say(s, "200 OK.");
		else if (!strcasecmp(line, "SYST"))
			say(s, "215 UNIX Type: L8");
		else if (!strcasecmp(line, "PWD"))
			say(s, "257 \"/\" is the current directory");
		else if (!strcasecmp(line, "FEAT"))
			say(s, "211 No features.");
		else if (!strcasecmp(line, "PASV")) {
			int p = s->self.ss_family == AF_INET ? open_pasv(s) : -1;
			unsigned char *b = (unsigned char *)&((struct sockaddr_in *)&s->self)->sin_addr;

			if (p < 0)
				say(s, "425 Cannot open passive connection.");
			else
				say(s, "227 Entering Passive Mode (%u,%u,%u,%u,%u,%u).", b[0], b[1], b[2],
				    b[3], p >> 8, p & 255);
		} else if (!strcasecmp(line, "EPSV")) {
			int p = open_pasv(s);

			if (p < 0)
				say(s, "425 Cannot open passive connection.");
			else
				say(s, "229 Entering Extended Passive Mode (|||%d|)", p);
		} else if (!strcasecmp(line, "PORT") || !strcasecmp(line, "EPRT")) {
			if (parse_port(s, a, line[0] == 'E' || line[0] == 'e') < 0)
				say(s, "501 Illegal PORT command.");
			else
				say(s, "200 PORT command successful.");
		} else if (!strcasecmp(line, "RETR"))
			retr(s, a);
		else if (!strcasecmp(line, "QUIT")) {
			say(s, "221 Goodbye.");
			break;
		} else
			say(s, "502 Command not implemented.");
	}
	close_pasv(s);
	close(s->fd);
	free(s);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *addr = NULL, *port = "21", *root = NULL;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
	struct rlimit rl = { 65536, 65536 };
	pthread_attr_t attr;
	int o, lfd, one = 1;

	while ((o = getopt(argc, argv, "a:p:r:")) != -1) {
		switch (o) {
		case 'a': addr = optarg; break;
		case 'p': port = optarg; break;
		case 'r': root = optarg; break;
		default:
			fprintf(stderr, "usage: ftpfast -a ADDR [-p PORT] -r ROOT\n");
			return 2;
		}
	}
	if (!addr || !root) {
		fprintf(stderr, "usage: ftpfast -a ADDR [-p PORT] -r ROOT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	setrlimit(RLIMIT_NOFILE, &rl);
	if ((rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		perror(root);
		return 2;
	}
	if (getaddrinfo(addr, port, &hints, &ai) != 0) {
		fprintf(stderr, "ftpfast: bad address %s\n", addr);
		return 2;
	}
	lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(lfd, 4096) < 0) {
		perror("ftpfast: listen");
		return 2;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 128 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		struct sess *s;
		pthread_t t;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				usleep(10000);
			continue;
		}
		s = calloc(1, sizeof(*s));
		if (!s) {
			close(fd);
			continue;
		}
		s->fd = fd;
		s->pasv_fd = -1;
		if (pthread_create(&t, &attr, serve, s) != 0) {
			close(fd);
			free(s);
		}
	}
}
