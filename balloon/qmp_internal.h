/* qmp_internal.h — what the QMP client's two files share: the client's
 * struct and the steps each calls in the other. qmp.c holds the client's
 * life and state machine, qmp_wire.c its bytes (parse, dispatch, write).
 * Only those two include it: everyone else uses qmp.h. */
#ifndef KSMD_BALLOON_QMP_INTERNAL_H
#define KSMD_BALLOON_QMP_INTERNAL_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "balloon/qmp.h"
#include "common/log.h"
#include "common/util.h"

#define QMP_CAPS_ID 0  /* the id of qmp_capabilities (user ids start at 1) */

struct qmp_cmd {
	struct qmp_cmd *next;
	int64_t id;
	usec_t sent_usec;
	usec_t deadline_usec;
	qmp_reply_fn cb;
	void *userdata;
	char command[48];
};

struct qmp_client {
	char *name;
	char *path;          /* NULL for qmp_new_fd clients */
	struct qmp_config cfg;
	struct qmp_callbacks cb;
	void *userdata;

	enum qmp_state state;
	int fd;
	usec_t state_since_usec;     /* when the current state was entered */
	usec_t reconnect_at_usec;    /* DISCONNECTED/BUSY: next attempt */
	usec_t backoff_usec;         /* current reconnect delay */
	usec_t caps_deadline_usec;   /* NEGOTIATING: qmp_capabilities deadline */
	usec_t ready_since_usec;     /* READY: since when (the backoff resets
	                              * once a connection has lasted) */
	bool warned_not_socket;      /* the path is no socket: warned once */
	struct log_limit log_limit;  /* what the peer can make us log */

	char *in;                    /* partial input line(s) */
	size_t in_len, in_cap;
	char *out;                   /* queued output */
	size_t out_len, out_off, out_cap;

	struct qmp_cmd *pending;     /* in send order */
	int64_t next_id;

	/* registration made by qmp_epoll_sync */
	int ep_fd;
	uint32_t ep_events;

	pid_t peer_pid;
	pid_t logged_pid;            /* on_demand: pid of the last "connected" info line */
	char version[32];
	char last_error[200];
	uint64_t protocol_errors;
	uint64_t connects;
};

/* qmp.c */

/* Enter state s (nothing if already in it); on_state runs. */
void qmp_set_state(struct qmp_client *c, enum qmp_state s, usec_t now);
/* Complete one command: unlink must already be done. Runs its callback
 * and frees it. */
void qmp_complete(struct qmp_client *c, struct qmp_cmd *cmd, int err, json_t *ret,
		  const char *cls, const char *desc, usec_t now);
/* Drop the connection; reconnect later (or CLOSED for fd clients). The
 * message becomes last_error; pending commands fail with err. */
void qmp_disconnect(struct qmp_client *c, usec_t now, enum qmp_state next,
		    int err, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* qmp_wire.c */

/* Write queued output until the socket would block; a write error
 * disconnects. */
void qmp_flush_out(struct qmp_client *c, usec_t now);
/* Serialize and queue one command line (args, may be NULL, is consumed).
 * Returns 0 or -ENOMEM. */
int qmp_write_command(struct qmp_client *c, const char *command, json_t *args, int64_t id);

#endif
