/*
 * elog.c - the engines' log calls, handed to the sink the program set.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "engine/elog.h"

static const struct elog_sink *elog_sink;

void
elog_set_sink(const struct elog_sink *sink)
{
	elog_sink = sink;
}

static void __attribute__((format(printf, 2, 0)))
elog_vwrite(int prio, const char *fmt, va_list ap, int errnum)
{
	const struct elog_sink *s = elog_sink;
	int saved = errno;

	if (s != NULL) {
		if (s->level == NULL || prio <= s->level(s->ctx))
			s->write(s->ctx, prio, errnum, fmt, ap);
	} else if (prio <= LOG_ERR) {
		/* No sink: the warnings, plainly, so that nothing bad goes unsaid. */
		vfprintf(stderr, fmt, ap);
		if (errnum >= 0)
			fprintf(stderr, ": %s", strerror(errnum));
		fputc('\n', stderr);
	}
	errno = saved;	/* callers often look at errno after logging it */
}

void
elog_warn(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	elog_vwrite(LOG_ERR, fmt, ap, errnum);
	va_end(ap);
}

void
elog_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	elog_vwrite(LOG_ERR, fmt, ap, -1);
	va_end(ap);
}

void
elog_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	elog_vwrite(LOG_INFO, fmt, ap, -1);
	va_end(ap);
}

void
elog_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	elog_vwrite(LOG_DEBUG, fmt, ap, -1);
	va_end(ap);
}
