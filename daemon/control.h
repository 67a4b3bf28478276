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

/* Bounds of the control socket. The socket is root's alone (mode 0600),
 * but a client can still be buggy or stuck (a forgotten `nc -U`, a script
 * that never reads), and ksmd runs with OOMScoreAdjust=-900: it must not
 * grow for any client, nor let one lock the others out.
 *
 * - Requests may be pipelined: CONTROL_MAX_LINE (ctl/ctl.h) bounds one
 *   request line, not the input buffered; a longer line gets an error
 *   answer and the connection closes once the answers before it are sent.
 * - Answers queue per client up to CONTROL_OUT_MAX_BYTES; past it the
 *   client's input is not read (no request is taken) until it reads its
 *   answers; over the bound without taking a byte of them for
 *   CONTROL_OUT_STALL_USEC, it is dropped. A client therefore holds at
 *   most that bound plus one answer, one read of input and one request
 *   line: all clients together, some 35 MiB at worst.
 * - An empty line is no request (it answers nothing, keeps nothing alive).
 * - A client that shuts its side (EOF, half-close) has its requests
 *   answered, then is closed: the socket is no longer polled for input.
 * - A client is dropped after CONTROL_IDLE_USEC without a complete
 *   request or a byte of its answers taken (bytes of a request that never
 *   ends do not count).
 * - At most CONTROL_MAX_CLIENTS at once: a new client evicts the one
 *   idle for longest, it is never refused. */
#define CONTROL_MAX_CLIENTS 32
#define CONTROL_OUT_MAX_BYTES ((size_t)1 << 20)
#define CONTROL_OUT_STALL_USEC (10 * USEC_PER_SEC)
#define CONTROL_IDLE_USEC (30 * USEC_PER_SEC)

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
