/*
 * config.h - ftpalgd's configuration: a file of "key = value" lines and
 * "-o key=value" overrides on the command line, one table of keys for both.
 */
#ifndef FTPALG_CONFIG_H
#define FTPALG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "alg/alg.h"

#define CFG_MAX_LISTEN 8
#define CFG_MAX_PORTS 8
#define CFG_MAX_MAPPINGS 16
#define CFG_PATH_MAX 256

enum cfg_log_target { CFG_LOG_STDERR, CFG_LOG_SYSLOG };
enum cfg_mode { CFG_MODE_REDIRECT, CFG_MODE_TPROXY };
/* How outbound control connections are followed: terminated (proxy) or
 * rewritten packet by packet on NFQUEUE (inline). */
enum cfg_engine { CFG_ENGINE_PROXY, CFG_ENGINE_INLINE };

/* An inbound mapping (reverse mode): a public port in front of an intranet server. */
struct cfg_mapping {
	struct sockaddr_storage listen;	/* public address:port we accept on */
	struct sockaddr_storage server;	/* the intranet server */
	bool relay;			/* carry data in userspace instead of pinholes */
	/* "public:PORT": listen on the public address (public-address or
	 * public-interface), re-bound when it changes; listen then holds
	 * [::]:PORT for the overlap checks. */
	bool on_public;
};

#define CFG_MAX_PUBLIC 2		/* one public address per family */

struct ftpalg_config {
	/* Transparent (outbound) listeners: where redirected/TPROXYed
	 * control connections arrive. */
	struct sockaddr_storage listen[CFG_MAX_LISTEN];
	unsigned n_listen;
	enum cfg_mode mode;

	/* Optional interception done by the daemon's own table. */
	char intercept_iif[32];		/* "" = the admin redirects */
	uint16_t control_ports[CFG_MAX_PORTS];
	unsigned n_control_ports;

	/* Inbound mappings. */
	struct cfg_mapping mappings[CFG_MAX_MAPPINGS];
	unsigned n_mappings;

	/* The router's public address for "public:PORT" mappings: fixed, or
	 * followed on an interface (dynamic WAN, PPPoE). */
	struct sockaddr_storage public_addr[CFG_MAX_PUBLIC];
	unsigned n_public_addr;
	char public_iif[32];		/* "" = none */

	/* Userspace data relay. */
	uint32_t max_relays;		/* in total */
	uint32_t max_relays_per_session;
	uint32_t relay_buffer;		/* bytes per direction (pipe size) */

	/* Gateway ports for active-mode (and inbound passive) pinholes. */
	uint16_t data_port_min, data_port_max;

	/* nftables. */
	char nft_table[32];
	uint32_t pinhole_mark;
	uint32_t pinhole_timeout_ms;
	uint32_t max_pinholes;		/* in total */

	/* The inline engine (engine = inline): the NFQUEUE queue the admin's
	 * rule sends control packets to, and what the kernel does with them
	 * when the queue is full (fail-open: accept untouched). */
	enum cfg_engine engine;
	uint16_t queue_num;
	bool fail_open;

	/* Limits. */
	uint32_t max_sessions;
	uint32_t max_sessions_per_client;
	uint32_t idle_timeout_ms;	/* control idle, not counted during transfers */
	uint32_t connect_timeout_ms;	/* to the server */

	/* FTP policy, handed to alg/. */
	struct alg_policy policy;

	/* Process. */
	enum cfg_log_target log_target;
	int log_level;			/* LOG_ERR .. LOG_DEBUG (syslog numbers) */
	char user[32];			/* drop privileges to this user ("" = stay) */
	char pidfile[CFG_PATH_MAX];
	char control_socket[CFG_PATH_MAX];

	/* Hardening (issue 11): the group allowed to read the control socket
	 * ("" = root only), and how much of an IPv6 client address is one
	 * client for the per-client limits (a /64 is one subscriber). */
	char control_group[32];
	uint8_t client_prefix6;
};

/* Fills the defaults (documented in ftpalgd.conf(5)). */
void cfg_defaults(struct ftpalg_config *c);

/*
 * Reads a config file into c (on top of what is there).  On error returns -1
 * and writes "FILE:LINE: message" into err.
 */
int cfg_load_file(struct ftpalg_config *c, const char *path, char *err, size_t errlen);

/* Applies one "key=value" (from -o).  -1 and a message in err on error. */
int cfg_set(struct ftpalg_config *c, const char *kv, char *err, size_t errlen);

/* Cross-checks after everything is loaded (ranges, mark non-zero, listeners). */
int cfg_validate(const struct ftpalg_config *c, char *err, size_t errlen);

/* Writes the effective configuration as a config file (for `ftpalgd -n -v`). */
void cfg_dump(const struct ftpalg_config *c, FILE *out);

/*
 * An inline engine on c's settings with a netfilter stand-in and no kernel
 * pinholes, for the engine's unit tests (daemon/params.c; the engine itself
 * takes struct inline_params, see engine/inline.h).
 */
struct inline_engine;
struct inline_io;
struct inline_engine *inline_new_io(const struct ftpalg_config *c, const struct inline_io *io);

/* The keys' names, in the order of the key table (for reload.c and its tests). */
size_t cfg_key_count(void);
const char *cfg_key_name(size_t i);	/* NULL past the end */
/* "1.2.3.4:21", "[2001:db8::1]:21"; a mapping as in the file ("A:P -> S:P relay"). */
const char *cfg_endpoint_str(const struct sockaddr_storage *ss, char *buf, size_t len);
const char *cfg_mapping_str(const struct cfg_mapping *m, char *buf, size_t len);

#endif
