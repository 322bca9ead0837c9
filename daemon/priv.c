/*
 * priv.c - privilege dropping and service notification.
 *
 * ftpalgd needs root only to bind, to open its nftables table and, for the
 * rest of its life, CAP_NET_ADMIN to add and remove pinholes.  It is started
 * one of two ways, and ends up the same in both: a user other than root,
 * holding CAP_NET_ADMIN (and CAP_NET_BIND_SERVICE when it binds low ports
 * again later) and nothing else, with no_new_privs.
 *
 *  - As root with `user =` (by hand, OpenWrt's procd): it changes user
 *    itself, keeping exactly those capabilities.  That needs setgroups,
 *    setresuid and capset, which a seccomp filter like the systemd unit's
 *    ~@privileged forbids; there the failure is reported as such.
 *  - Unprivileged already, with ambient capabilities (the systemd unit:
 *    User=, AmbientCapabilities=CAP_NET_ADMIN): nothing to change but to
 *    check what it holds, clear the ambient set and drop any capability it
 *    does not need, if the filter lets it (capset).  `user =` is then only
 *    compared with who it is.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/log.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

int
priv_drop(const char *user)
{
	return priv_drop_keep(user, false);
}

/* The capability names of mask, for the log: "CAP_NET_ADMIN and CAP_...". */
static const char *
priv_caps_str(uint64_t mask, char *buf, size_t len)
{
	static const struct { unsigned bit; const char *name; } known[] = {
		{ CAP_NET_ADMIN, "CAP_NET_ADMIN" },
		{ CAP_NET_BIND_SERVICE, "CAP_NET_BIND_SERVICE" },
		{ CAP_NET_RAW, "CAP_NET_RAW" },
		{ CAP_SYS_ADMIN, "CAP_SYS_ADMIN" },
	};
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]) && off < len; i++)
		if (mask & (1ull << known[i].bit)) {
			int n = snprintf(buf + off, len - off, "%s%s", off ? " and " : "",
			    known[i].name);

			off = n < 0 ? len : off + (size_t)n;
			mask &= ~(1ull << known[i].bit);
		}
	if (mask != 0 && off < len)
		snprintf(buf + off, len - off, "%s0x%llx", off ? " and " : "",
		    (unsigned long long)mask);
	if (buf[0] == '\0')
		snprintf(buf, len, "no capabilities");
	return buf;
}

static int
priv_capget(uint64_t *eff, uint64_t *perm)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	*eff = (uint64_t)data[1].effective << 32 | data[0].effective;
	*perm = (uint64_t)data[1].permitted << 32 | data[0].permitted;
	return 0;
}

/* Effective = permitted = keep, inheritable empty. */
static int
priv_capset(uint64_t keep)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = (uint32_t)keep;
	data[1].effective = data[1].permitted = (uint32_t)(keep >> 32);
	return (int)syscall(SYS_capset, &hdr, data);
}

/* Started unprivileged: check, narrow if allowed, and report what holds. */
static int
priv_already(const char *user, uint64_t keep)
{
	struct passwd *pw = getpwuid(geteuid());
	uint64_t eff, perm;
	char name[32], caps[160];

	snprintf(name, sizeof(name), "%s", pw != NULL ? pw->pw_name : "?");
	if (user != NULL && user[0] != '\0' && strcmp(user, name) != 0)
		log_warnx("user = %s: already started as %s (uid %ld) by the service manager; "
		    "staying %s", user, name, (long)geteuid(), name);
	/* Children (there are none) would get nothing; and it costs nothing. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		log_debug("clearing the ambient capabilities: %s", strerror(errno));
	if (priv_capget(&eff, &perm) < 0)
		return -1;
	if ((perm & ~keep) != 0 && priv_capset(perm & keep) == 0)
		(void)priv_capget(&eff, &perm);
	if ((perm & ~keep) != 0)
		log_warnx("cannot drop %s (capset: %s): the service manager's bounding set "
		    "is what limits them", priv_caps_str(perm & ~keep, caps, sizeof(caps)),
		    strerror(errno));
	if ((keep & ~eff & (1ull << CAP_NET_ADMIN)) != 0)
		log_warnx("started without CAP_NET_ADMIN: pinholes cannot be added");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	log_info("running as %s (uid %ld, started unprivileged) with %s only", name,
	    (long)geteuid(), priv_caps_str(eff, caps, sizeof(caps)));
	return 0;
}

int
priv_drop_keep(const char *user, bool bind_low)
{
	struct passwd *pw;
	uint64_t keep = 1ull << CAP_NET_ADMIN | (bind_low ? 1ull << CAP_NET_BIND_SERVICE : 0);
	char caps[160];

	if (geteuid() != 0)
		return priv_already(user, keep);
	if (user == NULL || user[0] == '\0')
		return 0;
	if ((pw = getpwnam(user)) == NULL) {
		log_warnx("user %s does not exist", user);
		errno = ENOENT;
		return -1;
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 ||
	    setgroups(1, &pw->pw_gid) < 0 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0 ||
	    priv_capset(keep) < 0) {
		/* A seccomp filter answers EPERM where root never would. */
		if (errno == EPERM)
			log_warnx("changing to user %s was refused (EPERM) although running as "
			    "root: a seccomp filter (systemd's SystemCallFilter=~@privileged?) "
			    "forbids it; under systemd use the shipped unit (User=, "
			    "AmbientCapabilities=) instead of user =", user);
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	log_info("running as %s with %s only", user, priv_caps_str(keep, caps, sizeof(caps)));
	return 0;
}

void
notify_service(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sun.sun_path))
		return;
	memcpy(sun.sun_path, path, strlen(path));
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';	/* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	/* Never wait: a service manager that does not read must not stall the loop. */
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
	    (struct sockaddr *)&sun, len) < 0)
		log_debug("sd_notify: %s", strerror(errno));
	close(fd);
}
