/* control.h — the control socket protocol between ksmd and ksmdctl.
 *
 * A UNIX stream socket; each request is one line of JSON
 *   {"cmd": "set", "args": ["scanner.pages_per_sec", "2000"]}
 * and each answer one line of JSON
 *   {"ok": true, "result": ...}   or   {"ok": false, "error": "message"}.
 * A client may send several requests on one connection. Requests longer than
 * CONTROL_MAX_LINE bytes are refused and the connection closed. */
#ifndef KSMD_CONTROL_H
#define KSMD_CONTROL_H

#include <jansson.h>

#include "common/util.h"
#include "daemon/loop.h"

#define CONTROL_MAX_LINE (64 * 1024)
#define CONTROL_MAX_CLIENTS 32

/* Handles one request; returns a new reference to the answer object. */
typedef json_t *(*control_fn)(const char *cmd, json_t *args, void *data);

struct control;

/* Bind and listen on path (its directory is created, mode 0755), refusing
 * to start when another daemon answers there (-EADDRINUSE). A stale socket
 * file is replaced. A lock file "path.lock" guards the check. */
int control_open(struct loop *l, const char *path, control_fn fn, void *data, struct control **out);
/* Close every client and the socket, and remove the socket file. */
void control_close(struct control *c);

/* Parse one request line and call fn; returns the answer (never NULL).
 * Malformed requests get an error answer; fn is not called for them. */
json_t *control_dispatch(const char *line, control_fn fn, void *data);

/* Build answers. */
json_t *control_ok(json_t *result);   /* steals result (may be NULL) */
json_t *control_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Client side: one request, one answer. Returns 0 with *answer set, or
 * -errno when the daemon cannot be reached or the answer is not JSON. */
int control_call(const char *path, const char *cmd, json_t *args, usec_t timeout_usec,
		 json_t **answer);

#endif
