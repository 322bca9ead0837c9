/*
 * elog.h - how the engines log: through a sink the program sets (ftpalgd's
 * logger, daemon/log.c, installs itself in log_init()), so that engine/
 * depends on nothing of the daemon.  Without a sink, warnings go to stderr
 * and the rest is dropped: a program or test that links only, say, the
 * pinhole manager needs no logger of its own.
 *
 * Levels are syslog's: warnings are LOG_ERR (as OpenBSD's log_warn), then
 * LOG_INFO, LOG_DEBUG.  elog_warn appends strerror(errno), elog_warnx does not.
 */
#ifndef FTPALG_ELOG_H
#define FTPALG_ELOG_H

#include <stdarg.h>

struct elog_sink {
	/* One message; errnum >= 0: append ": strerror(errnum)". */
	void (*write)(void *ctx, int prio, int errnum, const char *fmt, va_list ap)
	    __attribute__((format(printf, 4, 0)));
	/* Messages above this level are not even formatted (NULL: all are). */
	int (*level)(void *ctx);
	void *ctx;
};

/* NULL: back to the default (stderr, warnings only).  The sink is not copied. */
void elog_set_sink(const struct elog_sink *sink);

void elog_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void elog_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void elog_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void elog_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
