/*
 * daemon.h - pieces of ftpalgd around the engine: the control socket,
 * privilege dropping, service-manager notification.
 */
#ifndef FTPALG_DAEMON_H
#define FTPALG_DAEMON_H

#include <stdint.h>

#include "engine/event.h"

#define FTPALG_VERSION "0.1.0"

struct proxy;
struct ftpalg_config;

/* The control socket: one request line, one JSON answer, then close. */
struct ctl_server;
struct ctl_server *ctl_open(const char *path, int epfd, const struct ftpalg_config *cfg,
    const struct proxy *px, uint64_t started_ms);
void ctl_close(struct ctl_server *c);

/* Keeps only CAP_NET_ADMIN and runs as `user` from here on.  -1 on error. */
int priv_drop(const char *user);

/* sd_notify(3) without libsystemd: "READY=1", "STOPPING=1"; no-op without NOTIFY_SOCKET. */
void notify_service(const char *state);

#endif
