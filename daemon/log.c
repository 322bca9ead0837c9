/*
 * log.c - OpenBSD-style logging: one line per event, to stderr (foreground,
 * the lab) or syslog (LOG_DAEMON).
 *
 * Every message is formatted into a fixed buffer: a hostile client's command
 * line or path may end up in a message, so a message is cut at LOG_MSG_MAX
 * bytes and every byte outside printable ASCII is escaped, which keeps one
 * event on one line, stops anyone from forging log lines with an embedded
 * newline, and keeps terminal controls and bidi overrides out of the log.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"
#include "engine/elog.h"

#define LOG_MSG_MAX 1024	/* one message, after formatting */
#define LOG_IDENT_MAX 32

/* Before log_init() (option parsing, early fatal()) messages go to stderr. */
static int log_to = LOG_TO_STDERR;
static int log_level = LOG_INFO;
static char log_ident[LOG_IDENT_MAX] = "ftpalgd";

static void log_vwrite(int pri, const char *fmt, va_list ap, int errnum)
    __attribute__((format(printf, 2, 0)));

/* The engines' log sink (engine/elog.h): this logger. */
static void log_engine_write(void *ctx, int pri, int errnum, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void
log_engine_write(void *ctx, int pri, int errnum, const char *fmt, va_list ap)
{
	log_vwrite(pri, fmt, ap, errnum);
}

static int
log_engine_level(void *ctx)
{
	return log_level;
}

static const struct elog_sink log_engine_sink = {
	.write = log_engine_write, .level = log_engine_level,
};

void
log_init(int to, int level, const char *ident)
{
	if (log_to == LOG_TO_SYSLOG)
		closelog();	/* re-initialised: the ident or the target may change */
	if (ident != NULL && *ident != '\0')
		snprintf(log_ident, sizeof(log_ident), "%s", ident);
	log_to = to == LOG_TO_SYSLOG ? LOG_TO_SYSLOG : LOG_TO_STDERR;
	log_setlevel(level);
	/* Load the zone now: localtime_r() does not, and after a chroot
	 * /etc/localtime may no longer be readable. */
	tzset();
	/* openlog() keeps the pointer, so it gets our static copy; LOG_NDELAY
	 * connects now, before a chroot hides /dev/log. */
	if (log_to == LOG_TO_SYSLOG)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	elog_set_sink(&log_engine_sink);	/* the engines log here too */
}

void
log_setlevel(int level)
{
	if (level < LOG_ERR)
		level = LOG_ERR;	/* fatal() must always get through */
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	log_level = level;
}

int
log_getlevel(void)
{
	return log_level;
}

/*
 * Copies src into dst (size dstlen > 0) with every byte outside printable
 * ASCII escaped: \n, \r, \t or \xNN, and a backslash doubled so that the
 * escaping reads back unambiguously.  Messages carry text that came from a
 * peer (command lines, path names, server replies): raw, UTF-8 C1 controls
 * (U+009B CSI is c2 9b) drive terminals and bidi overrides (U+202E) make a
 * line read differently from what it says.  A UTF-8 path name therefore
 * shows as \xc3\xa9; plain ASCII is unchanged.  Stops, NUL-terminated and
 * ending in "...", when the next escape would not fit.
 */
static void
log_escape(char *dst, size_t dstlen, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (; *src != '\0'; src++) {
		unsigned char ch = (unsigned char)*src;
		char esc[4];
		size_t n;

		if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
			esc[0] = (char)ch;
			n = 1;
		} else if (ch == '\n' || ch == '\r' || ch == '\t' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = ch == '\n' ? 'n' : ch == '\r' ? 'r' : ch == '\t' ? 't' : '\\';
			n = 2;
		} else {
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[ch >> 4];
			esc[3] = hex[ch & 0xf];
			n = 4;
		}
		if (o + n >= dstlen) {
			/* Escapes made it longer than the buffer: mark the cut. */
			if (dstlen >= 4) {
				o = o < dstlen - 4 ? o : dstlen - 4;
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(dst + o, esc, n);
		o += n;
	}
	dst[o] = '\0';
}

/* "2024-05-01 13:02:03.123 " into buf, or "" if the clock fails. */
static void
log_timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	buf[0] = '\0';
	if (clock_gettime(CLOCK_REALTIME, &ts) == -1 ||
	    localtime_r(&ts.tv_sec, &tm) == NULL ||
	    (n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm)) == 0)
		return;
	snprintf(buf + n, len - n, ".%03u ", (unsigned)(ts.tv_nsec / 1000000) % 1000u);
}

/*
 * Formats and writes one message.  errnum >= 0 appends ": strerror(errnum)".
 * errno is the caller's again on return: log_warn() is often called between
 * a failing system call and code that still looks at errno.
 */
static void
log_vwrite(int pri, const char *fmt, va_list ap, int errnum)
{
	char raw[LOG_MSG_MAX], msg[LOG_MSG_MAX], ts[40];
	char line[LOG_MSG_MAX + sizeof(ts) + LOG_IDENT_MAX + 8];
	int saved_errno = errno;
	bool cut = false;
	size_t used = 0;
	int n;

	if (pri > log_level)
		return;

	raw[0] = '\0';
	if (fmt != NULL && *fmt != '\0') {
		n = vsnprintf(raw, sizeof(raw), fmt, ap);
		if (n < 0)
			n = snprintf(raw, sizeof(raw), "(bad format: %s)", fmt);
		if (n >= (int)sizeof(raw))
			cut = true;
		used = strlen(raw);
	}
	if (errnum >= 0 && !cut) {
		n = snprintf(raw + used, sizeof(raw) - used, "%s%s",
		    used > 0 ? ": " : "", strerror(errnum));
		if (n >= (int)(sizeof(raw) - used))
			cut = true;
	}
	/* Mark a cut message so that nobody takes it for the whole one. */
	if (cut)
		memcpy(raw + sizeof(raw) - 4, "...", 4);
	log_escape(msg, sizeof(msg), raw);

	if (log_to == LOG_TO_SYSLOG) {
		syslog(pri, "%s", msg);
	} else {
		log_timestamp(ts, sizeof(ts));
		n = snprintf(line, sizeof(line), "%s%s: %s\n", ts, log_ident, msg);
		if (n > 0) {
			size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;

			/* One write per line: lines of several processes do not mix. */
			if (write(STDERR_FILENO, line, len) == -1) {
				/* nowhere left to complain to */
			}
		}
	}
	errno = saved_errno;
}

/* The same, for a message built here rather than by a caller. */
static void log_msg(int pri, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
log_msg(int pri, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(pri, fmt, ap, errnum);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	int errnum = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_ERR, fmt, ap, errnum);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERR, fmt, ap, -1);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_INFO, fmt, ap, -1);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, fmt, ap, -1);
	va_end(ap);
}

/*
 * fatal and fatalx: the message at LOG_CRIT, prefixed "fatal: " so that it
 * stands out in the journal, then exit(1).  The message is formatted first
 * and logged through "%s": the prefix must not change the caller's format.
 */
static void log_vfatal(const char *fmt, va_list ap, int errnum)
    __attribute__((format(printf, 1, 0)));

static void
log_vfatal(const char *fmt, va_list ap, int errnum)
{
	char msg[LOG_MSG_MAX];

	msg[0] = '\0';
	if (fmt != NULL && *fmt != '\0' && vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		snprintf(msg, sizeof(msg), "(bad format: %s)", fmt);
	if (errnum >= 0)
		log_msg(LOG_CRIT, errnum, "fatal%s%s", msg[0] != '\0' ? ": " : "", msg);
	else
		log_msg(LOG_CRIT, -1, "fatal: %s", msg);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int errnum = errno;

	va_start(ap, fmt);
	log_vfatal(fmt, ap, errnum);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vfatal(fmt, ap, -1);
	va_end(ap);
	exit(1);
}
