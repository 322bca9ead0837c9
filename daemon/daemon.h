/*
 * daemon.h - pieces of ftpalgd around the engine: the control socket,
 * privilege dropping, service-manager notification.
 */
#ifndef FTPALG_DAEMON_H
#define FTPALG_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/event.h"

#include "daemon/version.h"

struct proxy;
struct ftpalg_config;

/* The control socket: one request line, one JSON answer, then close. */
struct ctl_server;
struct ctl_server *ctl_open(const char *path, int epfd, const struct ftpalg_config *cfg,
    const struct proxy *px, uint64_t started_ms);
void ctl_close(struct ctl_server *c);
/* With engine = inline: its sessions, pinholes and stats are answered too. */
struct inline_engine;
void ctl_set_inline(struct ctl_server *c, const struct inline_engine *ie);

/* Keeps only CAP_NET_ADMIN and runs as `user` from here on.  -1 on error. */
int priv_drop(const char *user);
/*
 * The same, keeping CAP_NET_BIND_SERVICE too when bind_low: listeners on the
 * public address (public:PORT mappings) are bound again, on a port below
 * 1024, whenever that address changes.
 */
int priv_drop_keep(const char *user, bool bind_low);

/*
 * ftpalgd.conf -> the engines' parameter structs (params.c): the engines
 * never see struct ftpalg_config.
 */
struct cfg_mapping;
struct proxy_params;
struct proxy_mapping;
struct inline_params;
struct relay_limits;
void params_proxy(const struct ftpalg_config *c, struct proxy_params *p);
void params_mapping(const struct cfg_mapping *m, struct proxy_mapping *pm);
void params_inline(const struct ftpalg_config *c, struct inline_params *p);
void params_relay(const struct ftpalg_config *c, struct relay_limits *l);

/* sd_notify(3) without libsystemd: "READY=1", "STOPPING=1"; no-op without NOTIFY_SOCKET. */
void notify_service(const char *state);

#endif
