/* qmp.c — non-blocking QMP client: a state machine fed by the event loop.
 *
 * QMP is line-oriented JSON over a UNIX stream socket. QEMU opens with a
 * greeting ({"QMP": {"version": ..., "capabilities": [...]}}), waits for
 * `qmp_capabilities`, and then answers each command with one line carrying
 * either "return" or "error" and the "id" the command was sent with.
 * Asynchronous events ({"event": ...}) may arrive between any two replies.
 *
 * Why no thread and no blocking call: ksmd has one event loop; a QEMU that
 * stops answering (paused, dying, its monitor held by someone else) must
 * never stall the loop or the other guests. So the client only reacts:
 * bytes arrive (qmp_on_readable), the socket can take more (qmp_on_writable),
 * time passes (qmp_tick). Every command gets a numeric id and a deadline;
 * a reply is matched by id, anything unmatched is logged and dropped.
 *
 * Losing the connection (EOF, reset, protocol error) fails every pending
 * command with -ECONNRESET, then reconnects after a backoff that doubles
 * from reconnect_min to reconnect_max and resets only once a connection
 * has stayed READY for reconnect_max (a peer that greets and hangs up over
 * and over is not reconnected to ten times a second).
 * QEMU serves one monitor client per socket: a second client's connect()
 * succeeds (the kernel's backlog) but no greeting ever comes. The greeting
 * timeout detects that: the state becomes BUSY and the client backs off the
 * longest delay instead of hammering the socket.
 *
 * An on_demand client (a connection per operation, for a monitor that other
 * clients use too) connects only on qmp_start() and is closed with
 * qmp_close() when its owner is done; it never reconnects by itself, and its
 * routine connects and busy monitors are logged at debug level (its owner
 * reports the state).
 *
 * Everything a peer can make the client say goes through qmp_log(), within
 * the client's rate limit, so a hostile or broken QEMU cannot flood the log
 * (at any log_level).
 *
 * The client is two files over one struct (qmp_internal.h): this one holds
 * its life and its connection (create, connect, the state machine, timers,
 * commands sent, epoll registration, free); qmp_wire.c holds the bytes
 * (input framed into lines and parsed, greeting, replies and events
 * dispatched; output queued and written). */
#include "balloon/qmp.h"
#include "balloon/qmp_internal.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void set_defaults(struct qmp_config *c)
{
	if (!c->request_timeout_usec) c->request_timeout_usec = 5 * USEC_PER_SEC;
	if (!c->greeting_timeout_usec) c->greeting_timeout_usec = 2 * USEC_PER_SEC;
	if (!c->reconnect_min_usec) c->reconnect_min_usec = 100 * USEC_PER_MSEC;
	if (!c->reconnect_max_usec) c->reconnect_max_usec = 5 * USEC_PER_SEC;
	if (c->reconnect_max_usec < c->reconnect_min_usec)
		c->reconnect_max_usec = c->reconnect_min_usec;
	if (!c->max_line_bytes) c->max_line_bytes = 1024 * 1024;
}

const char *qmp_state_name(enum qmp_state s)
{
	switch (s) {
	case QMP_DISCONNECTED: return "disconnected";
	case QMP_CONNECTING: return "connecting";
	case QMP_GREETING: return "greeting";
	case QMP_NEGOTIATING: return "negotiating";
	case QMP_READY: return "ready";
	case QMP_BUSY: return "busy";
	case QMP_CLOSED: return "closed";
	}
	return "?";
}

void qmp_log(struct qmp_client *c, usec_t now, int level, const char *fmt, ...)
{
	char source[96];
	va_list ap;
	if (level > log_get_level())
		return;
	snprintf(source, sizeof source, "qmp %s", c->name);
	va_start(ap, fmt);
	log_limitedv(&c->log_limit, source, now, level, fmt, ap);
	va_end(ap);
}

void qmp_set_state(struct qmp_client *c, enum qmp_state s, usec_t now)
{
	enum qmp_state old = c->state;
	if (old == s)
		return;
	c->state = s;
	c->state_since_usec = now;
	if (s == QMP_READY)
		c->ready_since_usec = now;
	qmp_log(c, now, LOG_DEBUG, "qmp %s: %s -> %s", c->name, qmp_state_name(old),
		qmp_state_name(s));
	if (c->cb.on_state)
		c->cb.on_state(c, old, s, now, c->userdata);
}

static struct qmp_client *alloc_client(const char *name, const struct qmp_config *cfg,
				       const struct qmp_callbacks *cb, void *userdata)
{
	struct qmp_client *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->name = strdup(name ? name : "?");
	if (!c->name) {
		free(c);
		return NULL;
	}
	if (cfg)
		c->cfg = *cfg;
	set_defaults(&c->cfg);
	if (cb)
		c->cb = *cb;
	c->userdata = userdata;
	c->fd = -1;
	c->ep_fd = -1;
	c->next_id = 1;
	c->backoff_usec = c->cfg.reconnect_min_usec;
	c->state = QMP_DISCONNECTED;
	return c;
}

struct qmp_client *qmp_new(const char *name, const char *path,
			   const struct qmp_config *cfg,
			   const struct qmp_callbacks *cb, void *userdata)
{
	if (!path || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return NULL;
	struct qmp_client *c = alloc_client(name, cfg, cb, userdata);
	if (!c)
		return NULL;
	c->path = strdup(path);
	if (!c->path) {
		qmp_free(c);
		return NULL;
	}
	return c;
}

struct qmp_client *qmp_new_fd(const char *name, int fd, const struct qmp_config *cfg,
			      const struct qmp_callbacks *cb, void *userdata, usec_t now)
{
	struct qmp_client *c = alloc_client(name, cfg, cb, userdata);
	if (!c) {
		close(fd);
		return NULL;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	c->fd = fd;
	struct ucred uc;
	socklen_t ul = sizeof uc;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0)
		c->peer_pid = uc.pid;
	c->state = QMP_GREETING;
	c->state_since_usec = now;
	return c;
}

/* Complete one command: unlink must already be done. */
void qmp_complete(struct qmp_client *c, struct qmp_cmd *cmd, int err, json_t *ret,
		  const char *cls, const char *desc, usec_t now)
{
	struct qmp_reply r = {
		.err = err, .ret = ret, .err_class = cls, .err_desc = desc,
		.latency_usec = now > cmd->sent_usec ? now - cmd->sent_usec : 0,
		.now_usec = now,
	};
	if (cmd->cb)
		cmd->cb(c, &r, cmd->userdata);
	free(cmd);
}

static void fail_all(struct qmp_client *c, int err, usec_t now)
{
	/* Detach the list first: callbacks may queue new commands (they get
	 * -ENOTCONN as the state is no longer READY, but be safe anyway). */
	struct qmp_cmd *list = c->pending;
	c->pending = NULL;
	while (list) {
		struct qmp_cmd *n = list->next;
		qmp_complete(c, list, err, NULL, NULL, NULL, now);
		list = n;
	}
}

static void close_socket(struct qmp_client *c)
{
	if (c->fd >= 0) {
		if (c->ep_fd >= 0 && c->ep_events)
			(void)epoll_ctl(c->ep_fd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->ep_events = 0;
	c->in_len = 0;
	c->out_len = c->out_off = 0;
}

/* Drop the connection; reconnect later (or CLOSED for fd clients). */
void qmp_disconnect(struct qmp_client *c, usec_t now, enum qmp_state next,
		    int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->last_error, sizeof c->last_error, fmt, ap);
	va_end(ap);
	close_socket(c);
	if (c->state == QMP_READY && now >= c->ready_since_usec + c->cfg.reconnect_max_usec)
		c->backoff_usec = c->cfg.reconnect_min_usec; /* it lasted: a fresh start */
	if (!c->path) {
		next = QMP_CLOSED;
	} else if (next == QMP_BUSY) {
		c->reconnect_at_usec = now + c->cfg.reconnect_max_usec;
	} else {
		c->reconnect_at_usec = now + c->backoff_usec;
		c->backoff_usec = MIN(c->backoff_usec * 2, c->cfg.reconnect_max_usec);
	}
	qmp_set_state(c, next, now);
	fail_all(c, err, now);
}

void qmp_free(struct qmp_client *c)
{
	if (!c)
		return;
	close_socket(c);
	fail_all(c, -ECANCELED, 0);
	free(c->in);
	free(c->out);
	free(c->path);
	free(c->name);
	free(c);
}

/* What is at path when it exists and is not a socket ("a regular file",
 * "a FIFO", ...), else NULL. */
static const char *not_a_socket(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0 || S_ISSOCK(st.st_mode))
		return NULL;
	return S_ISREG(st.st_mode) ? "a regular file" : S_ISFIFO(st.st_mode) ? "a FIFO"
	     : S_ISDIR(st.st_mode) ? "a folder" : "a device";
}

static void start_connect(struct qmp_client *c, usec_t now)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		qmp_disconnect(c, now, QMP_DISCONNECTED, -ECONNRESET, "socket: %s", strerror(errno));
		return;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strncpy(sa.sun_path, c->path, sizeof sa.sun_path - 1);
	c->fd = fd;
	c->in_len = 0;
	c->out_len = c->out_off = 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
		qmp_set_state(c, QMP_GREETING, now);
	} else if (errno == EAGAIN && c->cfg.on_demand) {
		/* a UNIX socket's backlog is full: clients wait for the monitor */
		qmp_log(c, now, LOG_DEBUG, "qmp %s: connect %s: %s", c->name, c->path, strerror(errno));
		qmp_disconnect(c, now, QMP_BUSY, -ECONNRESET,
			       "monitor busy: connect %s: backlog full (other clients wait for it)",
			   c->path);
		return;
	} else if (errno == EINPROGRESS || errno == EAGAIN) {
		qmp_set_state(c, QMP_CONNECTING, now);
		return;
	} else {
		int e = errno;
		const char *kind = not_a_socket(c->path);
		if (kind) {
			/* no QEMU will ever listen there: a wrong path, said once */
			if (!c->warned_not_socket)
				log_warn("qmp %s: %s is %s, not a socket: no QEMU listens there "
					 "(a wrong path?); retrying", c->name, c->path, kind);
			c->warned_not_socket = true;
			qmp_disconnect(c, now, QMP_DISCONNECTED, -ECONNRESET, "%s is %s, not a socket",
				       c->path, kind);
			return;
		}
		/* QEMU not (yet/again) there: quiet at debug, the state says it. */
		qmp_log(c, now, LOG_DEBUG, "qmp %s: connect %s: %s", c->name, c->path, strerror(e));
		qmp_disconnect(c, now, QMP_DISCONNECTED, -ECONNRESET, "connect %s: %s",
			       c->path, strerror(e));
		return;
	}
	c->warned_not_socket = false;
	struct ucred uc;
	socklen_t ul = sizeof uc;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0)
		c->peer_pid = uc.pid;
}

void qmp_start(struct qmp_client *c, usec_t now)
{
	if (c->path && c->fd < 0 && (c->state == QMP_DISCONNECTED || c->state == QMP_BUSY))
		start_connect(c, now);
}

void qmp_close(struct qmp_client *c, int err, usec_t now)
{
	if (c->fd < 0)
		return;
	log_debug("qmp %s: closing the connection", c->name);
	qmp_disconnect(c, now, QMP_DISCONNECTED, err, "closed by the client");
}

void qmp_on_writable(struct qmp_client *c, usec_t now)
{
	if (c->fd < 0)
		return;
	if (c->state == QMP_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof err;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
			err = errno;
		if (err == EINPROGRESS || err == EALREADY)
			return;
		if (err) {
			qmp_disconnect(c, now, QMP_DISCONNECTED, -ECONNRESET, "connect %s: %s",
				       c->path, strerror(err));
			return;
		}
		struct ucred uc;
		socklen_t ul = sizeof uc;
		if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0)
			c->peer_pid = uc.pid;
		qmp_set_state(c, QMP_GREETING, now);
	}
	qmp_flush_out(c, now);
}

void qmp_tick(struct qmp_client *c, usec_t now)
{
	if (c->log_limit.suppressed) {
		char source[96];
		snprintf(source, sizeof source, "qmp %s", c->name);
		log_limit_flush(&c->log_limit, source, now);
	}
	switch (c->state) {
	case QMP_DISCONNECTED:
	case QMP_BUSY:
		if (c->path && !c->cfg.on_demand && now >= c->reconnect_at_usec)
			start_connect(c, now);
		return;
	case QMP_CONNECTING:
	case QMP_GREETING:
		if (now >= c->state_since_usec + c->cfg.greeting_timeout_usec) {
			qmp_log(c, now, c->cfg.on_demand ? LOG_DEBUG : LOG_WARNING,
				"qmp %s: %s accepted the connection but sent no greeting "
				"within %llu ms: the monitor is busy (another client holds it); "
				"not fighting over it, retrying later", c->name,
				c->path ? c->path : "socket",
				(unsigned long long)(c->cfg.greeting_timeout_usec / USEC_PER_MSEC));
			qmp_disconnect(c, now, QMP_BUSY, -ECONNRESET,
				       "monitor busy: no greeting (another client holds it)");
		}
		return;
	case QMP_NEGOTIATING:
		if (now >= c->caps_deadline_usec) {
			qmp_log(c, now, LOG_ERR, "qmp %s: no reply to qmp_capabilities, reconnecting",
				c->name);
			qmp_disconnect(c, now, QMP_DISCONNECTED, -ECONNRESET,
				       "no reply to qmp_capabilities");
		}
		return;
	case QMP_READY:
		/* pending is in send order and deadlines grow with it */
		while (c->pending && now >= c->pending->deadline_usec) {
			struct qmp_cmd *cmd = c->pending;
			c->pending = cmd->next;
			qmp_log(c, now, LOG_WARNING, "qmp %s: %s timed out after %llu ms", c->name,
				cmd->command, (unsigned long long)((now - cmd->sent_usec) / USEC_PER_MSEC));
			snprintf(c->last_error, sizeof c->last_error, "%s timed out", cmd->command);
			qmp_complete(c, cmd, -ETIMEDOUT, NULL, NULL, NULL, now);
		}
		return;
	case QMP_CLOSED:
		return;
	}
}

usec_t qmp_next_deadline(const struct qmp_client *c)
{
	switch (c->state) {
	case QMP_DISCONNECTED:
	case QMP_BUSY:
		return c->path && !c->cfg.on_demand ? c->reconnect_at_usec : UINT64_MAX;
	case QMP_CONNECTING:
	case QMP_GREETING:
		return c->state_since_usec + c->cfg.greeting_timeout_usec;
	case QMP_NEGOTIATING:
		return c->caps_deadline_usec;
	case QMP_READY:
		return c->pending ? c->pending->deadline_usec : UINT64_MAX;
	case QMP_CLOSED:
		break;
	}
	return UINT64_MAX;
}

int64_t qmp_send(struct qmp_client *c, const char *command, json_t *args,
		 qmp_reply_fn cb, void *cmd_userdata, usec_t now)
{
	if (c->state != QMP_READY) {
		json_decref(args);
		return -ENOTCONN;
	}
	struct qmp_cmd *cmd = calloc(1, sizeof *cmd);
	if (!cmd) {
		json_decref(args);
		return -ENOMEM;
	}
	cmd->id = c->next_id++;
	cmd->sent_usec = now;
	cmd->deadline_usec = now + c->cfg.request_timeout_usec;
	cmd->cb = cb;
	cmd->userdata = cmd_userdata;
	snprintf(cmd->command, sizeof cmd->command, "%s", command);
	int r = qmp_write_command(c, command, args, cmd->id);
	if (r < 0) {
		free(cmd);
		return r;
	}
	struct qmp_cmd **pp = &c->pending;
	while (*pp)
		pp = &(*pp)->next;
	*pp = cmd;
	/* No write here: a write error would disconnect and run callbacks
	 * from inside qmp_send. The bytes go out on EPOLLOUT, which
	 * qmp_epoll_events() now asks for. */
	return cmd->id;
}

enum qmp_state qmp_get_state(const struct qmp_client *c) { return c->state; }
pid_t qmp_peer_pid(const struct qmp_client *c) { return c->peer_pid; }
const char *qmp_qemu_version(const struct qmp_client *c) { return c->version; }
const char *qmp_last_error(const struct qmp_client *c) { return c->last_error; }
uint64_t qmp_protocol_errors(const struct qmp_client *c) { return c->protocol_errors; }
uint64_t qmp_connects(const struct qmp_client *c) { return c->connects; }

size_t qmp_pending(const struct qmp_client *c)
{
	size_t n = 0;
	for (const struct qmp_cmd *p = c->pending; p; p = p->next)
		n++;
	return n;
}

int qmp_fd(const struct qmp_client *c) { return c->fd; }

uint32_t qmp_epoll_events(const struct qmp_client *c)
{
	if (c->fd < 0)
		return 0;
	uint32_t ev = EPOLLIN;
	if (c->state == QMP_CONNECTING || c->out_off < c->out_len)
		ev |= EPOLLOUT;
	return ev;
}

int qmp_epoll_sync(struct qmp_client *c, int epfd, void *ptr)
{
	uint32_t want = qmp_epoll_events(c);
	if (c->ep_fd != epfd) {
		c->ep_fd = epfd;
		c->ep_events = 0;
	}
	if (c->fd < 0) {
		c->ep_events = 0; /* closing the fd removed it */
		return 0;
	}
	if (want == c->ep_events)
		return 0;
	struct epoll_event ev = { .events = want, .data.ptr = ptr };
	int op = c->ep_events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(epfd, op, c->fd, &ev) < 0) {
		/* A new socket may reuse the old number (MOD hits ENOENT) or
		 * a registration may survive (ADD hits EEXIST): try the other. */
		op = op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
		if (epoll_ctl(epfd, op, c->fd, &ev) < 0)
			return -errno;
	}
	c->ep_events = want;
	return 0;
}
