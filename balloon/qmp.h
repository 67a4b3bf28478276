/* qmp.h — a non-blocking QMP (QEMU Machine Protocol) client.
 *
 * The client is a state machine driven from the outside: it never polls,
 * sleeps or reads the clock. The daemon's event loop owns the waiting:
 *
 *   fd = qmp_fd(c)                    -1 while there is no socket
 *   ev = qmp_epoll_events(c)          EPOLLIN, plus EPOLLOUT while it has
 *                                     bytes to write or a connect in flight
 *   qmp_on_readable(c, now)           on EPOLLIN / EPOLLHUP / EPOLLERR
 *   qmp_on_writable(c, now)           on EPOLLOUT
 *   qmp_tick(c, now)                  on every loop tick (timeouts, reconnect)
 *
 * The fd changes on every reconnect and EPOLLOUT interest changes as the
 * output buffer fills and drains, so after any of the calls above the loop
 * calls qmp_epoll_sync(c, epfd, ptr), which adds, modifies or deletes the
 * client's registration to match (ptr becomes epoll_event.data.ptr).
 * A loop that keeps its own registration may instead compare qmp_fd() and
 * qmp_epoll_events() with what it registered after every call: the client
 * never closes its socket and opens a new one within one call, so between
 * an old fd and a new one (which may reuse the same number) there is always
 * a call after which qmp_fd() is -1.
 *
 * Connection life: DISCONNECTED -(tick, backoff elapsed)-> CONNECTING ->
 * GREETING (waiting for QEMU's {"QMP":...}) -> NEGOTIATING (qmp_capabilities
 * sent) -> READY. No greeting within greeting_timeout_usec means another
 * client holds the monitor: state BUSY, the socket is closed, and the client
 * retries after the longest backoff (it never fights for the monitor).
 * End of file, a reset, or a protocol error (line over the cap) closes the
 * socket, fails every pending command with -ECONNRESET, and reconnects with
 * exponential backoff, which starts again from reconnect_min_usec only after
 * a connection stayed READY for reconnect_max_usec: a peer that greets and
 * hangs up at once is retried ever more slowly, not ten times a second. A
 * path that exists but is no socket (a regular file, a FIFO) is warned about
 * once, and retried with the same backoff. A client made with qmp_new_fd() has no path and so
 * never reconnects: it goes to CLOSED instead. An on_demand client
 * (qmp_config.on_demand) connects only when told to (qmp_start) and never
 * reconnects by itself: a connection per operation, closed with qmp_close,
 * for monitors that other clients use too.
 *
 * Callbacks run from inside qmp_on_readable/qmp_on_writable/qmp_tick; they may
 * call qmp_send() but must not call qmp_free() on the same client. */
#ifndef KSMD_BALLOON_QMP_H
#define KSMD_BALLOON_QMP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/util.h"

struct qmp_client;

enum qmp_state {
	QMP_DISCONNECTED,  /* no socket; reconnect attempt at the next deadline */
	QMP_CONNECTING,    /* non-blocking connect() in flight */
	QMP_GREETING,      /* connected, waiting for the QMP greeting */
	QMP_NEGOTIATING,   /* qmp_capabilities sent, waiting for its reply */
	QMP_READY,         /* commands may be sent */
	QMP_BUSY,          /* no greeting: monitor held by another client; retrying */
	QMP_CLOSED,        /* qmp_new_fd() client whose peer went away; final */
};

/* Tunables; zero fields take the defaults in brackets. */
struct qmp_config {
	usec_t request_timeout_usec;   /* per command, from send to reply [5 s] */
	usec_t greeting_timeout_usec;  /* connect to greeting, else BUSY [2 s] */
	usec_t reconnect_min_usec;     /* first reconnect delay [100 ms] */
	usec_t reconnect_max_usec;     /* backoff doubles up to this [5 s]; a
	                                * connection READY this long resets it */
	size_t max_line_bytes;         /* longest accepted message [1 MiB] */
	bool on_demand;                /* connect only on qmp_start(): never
	                                * reconnect on its own (after a close, an
	                                * error or BUSY the client stays
	                                * DISCONNECTED/BUSY until the next
	                                * qmp_start), and a connect() that finds
	                                * the socket's backlog full (EAGAIN) is
	                                * BUSY at once [no] */
};

/* Outcome of one command, passed to its callback exactly once. */
struct qmp_reply {
	int err;                /* 0: ok; -EREMOTEIO: QMP error reply;
	                         * -ETIMEDOUT: no reply in time; -ECONNRESET:
	                         * connection lost; -ECANCELED: client freed */
	json_t *ret;            /* "return" value when err == 0 (borrowed) */
	const char *err_class;  /* QMP error class (e.g. "DeviceNotActive",
	                         * "CommandNotFound") when err == -EREMOTEIO */
	const char *err_desc;   /* QMP error description, idem */
	usec_t latency_usec;    /* send to completion */
	usec_t now_usec;        /* completion time (the `now` of the driving call) */
};

typedef void (*qmp_reply_fn)(struct qmp_client *c, const struct qmp_reply *r,
			     void *cmd_userdata);
/* An asynchronous event ({"event": NAME, "data": {...}}); data may be NULL. */
typedef void (*qmp_event_fn)(struct qmp_client *c, const char *event,
			     json_t *data, usec_t now, void *userdata);
/* The connection state changed (old != new). */
typedef void (*qmp_state_fn)(struct qmp_client *c, enum qmp_state old,
			     enum qmp_state new_state, usec_t now, void *userdata);

struct qmp_callbacks {
	qmp_event_fn on_event;  /* may be NULL */
	qmp_state_fn on_state;  /* may be NULL */
};

/* A client for the QMP UNIX socket at path. Nothing happens until
 * qmp_tick() (or qmp_start()) is called. `name` labels log lines (the
 * guest's name). Returns NULL on allocation failure. */
struct qmp_client *qmp_new(const char *name, const char *path,
			   const struct qmp_config *cfg,
			   const struct qmp_callbacks *cb, void *userdata);

/* A client over an already connected socket (a socketpair in tests, an fd
 * handed over by a supervisor). Takes ownership of fd; starts in GREETING
 * with the greeting deadline counted from now. Never reconnects. */
struct qmp_client *qmp_new_fd(const char *name, int fd,
			      const struct qmp_config *cfg,
			      const struct qmp_callbacks *cb, void *userdata,
			      usec_t now);

/* Fail every pending command with -ECANCELED (callbacks run), close the
 * socket (an epoll registration made by qmp_epoll_sync goes with it) and
 * free. NULL is fine. */
void qmp_free(struct qmp_client *c);

/* Start connecting now instead of at the next tick (an on_demand client:
 * the only way it connects). Nothing when a socket is open already. */
void qmp_start(struct qmp_client *c, usec_t now);
/* Close the connection now: pending commands fail with err (e.g.
 * -ETIMEDOUT; callbacks run), the state becomes DISCONNECTED (CLOSED for a
 * qmp_new_fd client). A client that is not on_demand reconnects after its
 * backoff. Nothing when there is no socket. Not from inside a callback. */
void qmp_close(struct qmp_client *c, int err, usec_t now);

/* The socket to watch, or -1 while there is none. */
int qmp_fd(const struct qmp_client *c);
/* EPOLLIN, | EPOLLOUT while output is queued or connect() is in flight;
 * 0 when there is no socket. */
uint32_t qmp_epoll_events(const struct qmp_client *c);
/* Make epfd's registration match qmp_fd()/qmp_epoll_events(): ADD, MOD or
 * DEL as needed, data.ptr = ptr. Returns 0 or a negative errno. */
int qmp_epoll_sync(struct qmp_client *c, int epfd, void *ptr);

/* Socket readable (or hung up): read, parse, dispatch replies and events. */
void qmp_on_readable(struct qmp_client *c, usec_t now);
/* Socket writable: finish connect(), flush queued output. */
void qmp_on_writable(struct qmp_client *c, usec_t now);
/* Timers: request and greeting timeouts, reconnect after backoff. */
void qmp_tick(struct qmp_client *c, usec_t now);
/* The earliest time qmp_tick() has something to do (UINT64_MAX: nothing),
 * so the loop can size its epoll_wait timeout. */
usec_t qmp_next_deadline(const struct qmp_client *c);

/* Queue a command; its reply deadline is now + request_timeout_usec.
 * args (may be NULL) is a JSON object and is always consumed (its
 * reference is stolen, also on failure). cb (may be NULL) is called exactly
 * once, later, never from inside qmp_send. The bytes are written on the
 * next qmp_on_writable (qmp_epoll_events() now includes EPOLLOUT). Returns
 * the command id (> 0) or -ENOTCONN when the client is not READY, -ENOMEM. */
int64_t qmp_send(struct qmp_client *c, const char *command, json_t *args,
		 qmp_reply_fn cb, void *cmd_userdata, usec_t now);

/* Log a line about what the peer did (or made us do), within the client's
 * rate limit (common/log.h: LOG_LIMIT_LINES per LOG_LIMIT_WINDOW_USEC, at
 * any log_level, the rest counted and said as suppressed): whatever a QMP
 * peer can trigger is logged through here. */
void qmp_log(struct qmp_client *c, usec_t now, int level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

enum qmp_state qmp_get_state(const struct qmp_client *c);
const char *qmp_state_name(enum qmp_state s);
/* Commands sent and not yet completed. */
size_t qmp_pending(const struct qmp_client *c);
/* The QEMU process at the other end (SO_PEERCRED at connect), 0 if unknown. */
pid_t qmp_peer_pid(const struct qmp_client *c);
/* QEMU's version from the greeting, "" before it arrived. */
const char *qmp_qemu_version(const struct qmp_client *c);
/* The last error, human-readable ("" if none): why it closed, what failed. */
const char *qmp_last_error(const struct qmp_client *c);
/* Protocol anomalies seen so far (malformed JSON, unknown ids, ...). */
uint64_t qmp_protocol_errors(const struct qmp_client *c);
/* Connections established (greeting received) so far. */
uint64_t qmp_connects(const struct qmp_client *c);

#endif
