/*
 * limits.h - the file descriptors ftpalgd's configuration needs, and the
 * RLIMIT_NOFILE soft limit raised to fit them.
 */
#ifndef FTPALG_LIMITS_H
#define FTPALG_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/config.h"

/* Descriptors held at most: per proxied session, per relay, and the daemon's own. */
#define LIM_FDS_PER_SESSION 2	/* client and server sockets */
#define LIM_FDS_PER_RELAY 7	/* listener, two legs, two pipes of two ends */
#define LIM_FDS_OVERHEAD 64	/* listeners, epoll, netlink, control socket, logs */

uint64_t lim_fds_needed(const struct ftpalg_config *c);

/*
 * Raises the soft limit (and the hard one, where allowed) to what c needs.
 * 0 if it fits; -1 if not, with what fits in msg (the daemon runs anyway:
 * sessions beyond the limit get a 421).  With apply false only checks
 * (ftpalgd -n).
 */
int lim_nofile(const struct ftpalg_config *c, int apply, char *msg, size_t msglen);

#endif
