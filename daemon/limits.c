/*
 * limits.c - fit RLIMIT_NOFILE to max-sessions and max-relays.
 *
 * A proxied session holds two sockets, a relay up to seven descriptors.
 * With the usual soft limit of 1024 and the default max-sessions 1024,
 * only about 500 proxied sessions fit and the rest fail in accept() with
 * EMFILE; so the daemon raises its soft limit itself, up to the hard limit
 * (and the hard limit too, when it may: CAP_SYS_RESOURCE), and says so when
 * the configuration cannot fit.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "daemon/limits.h"

uint64_t
lim_fds_needed(const struct ftpalg_config *c)
{
	uint64_t n = LIM_FDS_OVERHEAD + 2u * (c->n_listen + c->n_mappings);

	/* The inline engine holds no descriptor per session: packets, not sockets. */
	if (c->engine == CFG_ENGINE_PROXY || c->n_mappings > 0)
		n += (uint64_t)LIM_FDS_PER_SESSION * c->max_sessions;
	n += (uint64_t)LIM_FDS_PER_RELAY * c->max_relays;
	return n;
}

/* The system-wide ceiling on open files a process may ask for (fs.nr_open). */
static uint64_t
lim_nr_open(void)
{
	unsigned long long v = 1048576;
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");

	if (f != NULL) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 1048576;
		fclose(f);
	}
	return v;
}

int
lim_nofile(const struct ftpalg_config *c, int apply, char *msg, size_t msglen)
{
	uint64_t need = lim_fds_needed(c), fit;
	struct rlimit rl;

	msg[0] = '\0';
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		snprintf(msg, msglen, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return -1;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) {
		if (!apply)
			return 0;
		rl.rlim_cur = need;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			return 0;
	} else if (apply && need <= lim_nr_open()) {
		struct rlimit up = { need, need };

		/* Raising the hard limit needs CAP_SYS_RESOURCE; try, then make do. */
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return 0;
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	fit = rl.rlim_max == RLIM_INFINITY ? need : rl.rlim_max;
	if (fit > LIM_FDS_OVERHEAD)
		fit -= LIM_FDS_OVERHEAD;
	else
		fit = 0;
	snprintf(msg, msglen, "max-sessions %u and max-relays %u need %llu file descriptors, "
	    "but the limit is %llu (about %llu proxied sessions fit): raise LimitNOFILE= "
	    "(systemd) or ulimit -n, or lower max-sessions", c->max_sessions, c->max_relays,
	    (unsigned long long)need, (unsigned long long)rl.rlim_max,
	    (unsigned long long)(fit / LIM_FDS_PER_SESSION));
	return -1;
}
