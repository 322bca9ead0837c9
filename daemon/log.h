/*
 * log.h - OpenBSD-style logging for ftpalgd: to stderr (foreground) or
 * syslog, one line per event.  log_warn/fatal append strerror(errno);
 * the *x variants do not.
 */
#ifndef FTPALG_LOG_H
#define FTPALG_LOG_H

#include <stdarg.h>

enum log_target_kind { LOG_TO_STDERR, LOG_TO_SYSLOG };

void log_init(int to, int level, const char *ident);	/* level: LOG_ERR..LOG_DEBUG */
void log_setlevel(int level);
int log_getlevel(void);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
