/*
 * ctl.h - the client side of ftpalgd's control socket.
 *
 * Protocol: connect to the unix stream socket, write one request line
 * ("status", "sessions", "pinholes", "stats"), read one JSON document until
 * the daemon closes the connection.
 */
#ifndef FTPALG_CTL_H
#define FTPALG_CTL_H

#include <stddef.h>
#include <stdio.h>

#define CTL_DEFAULT_SOCKET "/run/ftpalgd/ftpalgd.sock"
#define CTL_MAX_REPLY (1024u * 1024)	/* a reply larger than this is refused */
#define CTL_TIMEOUT_MS 5000

/*
 * Sends request, reads the reply into a malloc'ed NUL-terminated buffer.
 * Returns 0, or -1 with a message in err ("cannot connect to ...: ... (is
 * ftpalgd running?)").
 */
int ctl_query(const char *path, const char *request, char **reply, size_t *len,
    char *err, size_t errlen);

/*
 * Renders a reply for humans (json false) or checks it and prints it as is
 * (json true).  Returns 0, or -1 with a message in err when the reply is not
 * the JSON expected or is an {"error": ...} from the daemon.
 */
int ctl_render(const char *request, const char *reply, size_t len, int json, FILE *out,
    char *err, size_t errlen);

/* Both: query and render; the exit status for main(). */
int ctl_command(const char *path, const char *request, int json, FILE *out, FILE *errout);

#endif
