/* control.h — the control socket server of the daemon, in its loop.
 *
 * The protocol, the answers' builders, the client and the verb table are
 * ctl/ctl.h, shared with ksmdctl. */
#ifndef KSMD_CONTROL_H
#define KSMD_CONTROL_H

#include <jansson.h>

#include "common/util.h"
#include "ctl/ctl.h"
#include "daemon/loop.h"

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

#endif
