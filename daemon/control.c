/* control.c — the control socket server, in the daemon's loop (see
 * control.h); the protocol's client side and the verb table are ctl/. */
#include "daemon/control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"

/* How often the clients' timeouts are checked; at most this many
 * connections are accepted, and this many bytes read from one client, per
 * callback, so that one busy client cannot starve the others. */
#define CONTROL_SWEEP_USEC USEC_PER_SEC
#define CONTROL_ACCEPT_BATCH 8
#define CONTROL_READ_CHUNK 16384
#define CONTROL_READ_CHUNKS 4

struct client {
	int fd;
	char *in;             /* bytes read, not taken yet: requests, then a partial one */
	size_t in_len;
	char *out;            /* answers: out_off sent, out_len queued */
	size_t out_len, out_off;
	usec_t active_usec;   /* accept, last whole request, or last answer bytes taken */
	usec_t over_usec;     /* since when over CONTROL_OUT_MAX_BYTES without taking a byte, or 0 */
	bool eof;             /* the client shut its side: no more requests */
	bool closing;         /* close once the answers are sent (a request too long) */
	struct control *c;
};

struct control {
	struct loop *l;
	int fd, lock_fd, sweep_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	control_fn fn;
	void *data;
	usec_t warned_usec;   /* last warning about a client dropped for not reading */
	struct client *clients[CONTROL_MAX_CLIENTS];
};

static void client_free(struct client *cl)
{
	struct control *c = cl->c;
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (c->clients[i] == cl)
			c->clients[i] = NULL;
	loop_del(c->l, cl->fd);
	close(cl->fd);
	free(cl->in);
	free(cl->out);
	free(cl);
}

static size_t out_pending(const struct client *cl)
{
	return cl->out_len - cl->out_off;
}

static void queue_answer(struct client *cl, json_t *answer)
{
	char *s = json_dumps(answer, JSON_COMPACT);
	json_decref(answer);
	if (!s)
		return;
	if (cl->out_off) { /* what was sent is dropped: the buffer holds only what is not */
		memmove(cl->out, cl->out + cl->out_off, out_pending(cl));
		cl->out_len -= cl->out_off;
		cl->out_off = 0;
	}
	size_t n = strlen(s);
	char *o = realloc(cl->out, cl->out_len + n + 1);
	if (!o) {
		free(s);
		return;
	}
	memcpy(o + cl->out_len, s, n);
	o[cl->out_len + n] = '\n';
	cl->out = o;
	cl->out_len += n + 1;
	free(s);
}

json_t *control_dispatch(const char *line, control_fn fn, void *data)
{
	json_error_t jerr;
	json_t *req = json_loads(line, 0, &jerr);
	if (!req)
		return control_error("malformed request: %s", jerr.text);
	json_t *cmd = json_object_get(req, "cmd");
	json_t *args = json_object_get(req, "args");
	json_t *ans;
	if (!json_is_string(cmd))
		ans = control_error("malformed request: no \"cmd\" string");
	else if (args && !json_is_array(args))
		ans = control_error("malformed request: \"args\" must be an array");
	else {
		json_t *a = args ? json_incref(args) : json_array();
		ans = fn(json_string_value(cmd), a, data);
		json_decref(a);
		if (!ans)
			ans = control_error("internal error");
	}
	json_decref(req);
	return ans;
}

/* Answer one request line (NUL-terminated, len bytes, no newline). */
static void take_line(struct client *cl, char *line, size_t len)
{
	if (len) /* an empty line is no request: it keeps no connection alive */
		cl->active_usec = now_usec();
	if (len > CONTROL_MAX_LINE)
		queue_answer(cl, control_error("request longer than %d bytes", CONTROL_MAX_LINE));
	else if (len)
		queue_answer(cl, control_dispatch(line, cl->c->fn, cl->c->data));
}

/* Answer the whole requests buffered, as long as the answers queued stay
 * within CONTROL_OUT_MAX_BYTES (the rest wait until the client reads). At
 * EOF a last line without its newline is a request too. A partial line
 * longer than CONTROL_MAX_LINE is refused and the client closing. Returns
 * the number of requests taken. */
static unsigned take_requests(struct client *cl)
{
	size_t off = 0;
	unsigned n = 0;
	char *nl;
	while (off < cl->in_len && !cl->closing && out_pending(cl) <= CONTROL_OUT_MAX_BYTES &&
	       (nl = memchr(cl->in + off, '\n', cl->in_len - off))) {
		*nl = 0;
		take_line(cl, cl->in + off, (size_t)(nl - (cl->in + off)));
		off = (size_t)(nl - cl->in) + 1;
		n++;
	}
	if (off) {
		memmove(cl->in, cl->in + off, cl->in_len - off);
		cl->in_len -= off;
		cl->in[cl->in_len] = 0;
	}
	bool partial = cl->in_len && !memchr(cl->in, '\n', cl->in_len);
	if (partial && cl->eof && !cl->closing && out_pending(cl) <= CONTROL_OUT_MAX_BYTES) {
		take_line(cl, cl->in, cl->in_len);
		cl->in_len = 0;
		n++;
	} else if (partial && cl->in_len > CONTROL_MAX_LINE && !cl->closing) {
		log_warn("control: request longer than %d bytes, closing the connection", CONTROL_MAX_LINE);
		queue_answer(cl, control_error("request longer than %d bytes", CONTROL_MAX_LINE));
		cl->closing = true;
		cl->in_len = 0;
	}
	return n;
}

static bool may_read(const struct client *cl)
{
	return !cl->eof && !cl->closing && out_pending(cl) <= CONTROL_OUT_MAX_BYTES;
}

/* Read what the client sent (a few chunks at most), taking its requests
 * after each chunk. Returns 0, or a negative errno: drop the client. */
static int client_read(struct client *cl)
{
	char buf[CONTROL_READ_CHUNK];
	for (int i = 0; i < CONTROL_READ_CHUNKS && may_read(cl); i++) {
		ssize_t r = read(cl->fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			break;
		if (r < 0)
			return -errno;
		if (r == 0) {
			cl->eof = true;
			take_requests(cl);
			break;
		}
		char *n = realloc(cl->in, cl->in_len + (size_t)r + 1);
		if (!n)
			return -ENOMEM;
		cl->in = n;
		memcpy(cl->in + cl->in_len, buf, (size_t)r);
		cl->in_len += (size_t)r;
		cl->in[cl->in_len] = 0;
		take_requests(cl);
	}
	return 0;
}

/* Send what the socket takes. Returns 0, or a negative errno. */
static int client_flush(struct client *cl)
{
	while (out_pending(cl)) {
		ssize_t w = send(cl->fd, cl->out + cl->out_off, out_pending(cl), MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w < 0)
			return -errno;
		cl->out_off += (size_t)w;
		cl->active_usec = now_usec();
		cl->over_usec = 0; /* it reads: not stalled (set again below if still over) */
	}
	if (!out_pending(cl))
		cl->out_off = cl->out_len = 0;
	return 0;
}

static void client_io(struct loop *l, int fd, uint32_t events, void *data)
{
	struct client *cl = data;
	(void)l; (void)fd;
	if (events & EPOLLERR) {
		client_free(cl);
		return;
	}
	if ((events & EPOLLIN) && client_read(cl) < 0) {
		client_free(cl);
		return;
	}
	/* Send; as answers drain, requests held back by the bound are taken. */
	do {
		if (client_flush(cl) < 0) {
			client_free(cl);
			return;
		}
	} while (take_requests(cl) > 0);
	if ((cl->eof || cl->closing) && !out_pending(cl)) {
		client_free(cl);
		return;
	}
	if (out_pending(cl) <= CONTROL_OUT_MAX_BYTES)
		cl->over_usec = 0;
	else if (!cl->over_usec) /* over the bound, and took nothing this time */
		cl->over_usec = now_usec();
	/* After EOF the socket is not polled for input (it would be readable
	 * for ever); past the bound, it is not read until answers drain. */
	loop_mod(cl->c->l, cl->fd, (may_read(cl) ? EPOLLIN : 0) | (out_pending(cl) ? EPOLLOUT : 0));
}

/* Every CONTROL_SWEEP_USEC: drop the clients idle too long, and those that
 * hold answers over the bound too long. */
static void sweep_cb(struct loop *l, int fd, uint32_t events, void *data)
{
	struct control *c = data;
	uint64_t expirations;
	(void)l; (void)events;
	if (read(fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
		log_debug("control: timer: %s, ignoring", strerror(errno));
	usec_t now = now_usec();
	unsigned stalled = 0;
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct client *cl = c->clients[i];
		if (!cl)
			continue;
		if (cl->over_usec && now - cl->over_usec > CONTROL_OUT_STALL_USEC) {
			stalled++;
			client_free(cl);
		} else if (now - cl->active_usec > CONTROL_IDLE_USEC) {
			log_debug("control: client idle for %llu s, closing",
				  (unsigned long long)(CONTROL_IDLE_USEC / USEC_PER_SEC));
			client_free(cl);
		}
	}
	if (stalled && (!c->warned_usec || now - c->warned_usec > 60 * USEC_PER_SEC)) {
		log_warn("control: dropped %u client(s) that did not read %zu bytes of answers for %llu s",
			 stalled, CONTROL_OUT_MAX_BYTES,
			 (unsigned long long)(CONTROL_OUT_STALL_USEC / USEC_PER_SEC));
		c->warned_usec = now;
	}
}

/* A free slot for a new client: an empty one, or the one of the client
 * idle for longest, evicted. */
static size_t client_slot(struct control *c)
{
	size_t slot = 0;
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		if (!c->clients[i])
			return i;
		if (c->clients[i]->active_usec < c->clients[slot]->active_usec)
			slot = i;
	}
	log_debug("control: %d clients, evicting the one idle for longest", CONTROL_MAX_CLIENTS);
	client_free(c->clients[slot]);
	return slot;
}

static void accept_cb(struct loop *l, int fd, uint32_t events, void *data)
{
	struct control *c = data;
	(void)events;
	for (int i = 0; i < CONTROL_ACCEPT_BATCH; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("control: accept: %s, ignoring", strerror(errno));
			return;
		}
		struct client *cl = calloc(1, sizeof *cl);
		if (!cl) {
			close(cfd);
			continue;
		}
		cl->fd = cfd;
		cl->c = c;
		cl->active_usec = now_usec();
		if (loop_add(l, cfd, EPOLLIN, client_io, cl) < 0) {
			close(cfd);
			free(cl);
			continue;
		}
		c->clients[client_slot(c)] = cl;
	}
}

static int mkdir_parent(const char *path)
{
	char dir[256];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int control_open(struct loop *l, const char *path, control_fn fn, void *data, struct control **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int r = mkdir_parent(path);
	if (r < 0)
		return r;
	struct control *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->l = l;
	c->fn = fn;
	c->data = data;
	c->fd = -1;
	c->sweep_fd = -1;
	strcpy(c->path, path);

	char lock[300];
	snprintf(lock, sizeof lock, "%s.lock", path);
	c->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (c->lock_fd < 0) {
		r = -errno;
		goto fail;
	}
	if (flock(c->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
		goto fail;
	}
	/* Is a daemon (maybe without the lock: an older one) answering there? */
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		if (connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
			close(probe);
			r = -EADDRINUSE;
			goto fail;
		}
		close(probe);
	}
	unlink(path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    chmod(path, 0600) < 0 || listen(c->fd, 16) < 0) {
		r = -errno;
		goto fail;
	}
	r = loop_add(l, c->fd, EPOLLIN, accept_cb, c);
	if (r < 0)
		goto fail;
	c->sweep_fd = loop_add_timer(l, CONTROL_SWEEP_USEC, sweep_cb, c);
	if (c->sweep_fd < 0) {
		r = c->sweep_fd;
		loop_del(l, c->fd);
		goto fail;
	}
	*out = c;
	return 0;
fail:
	if (c->fd >= 0) {
		close(c->fd);
		unlink(path);
	}
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	free(c);
	return r;
}

void control_close(struct control *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (c->clients[i])
			client_free(c->clients[i]);
	loop_del(c->l, c->sweep_fd);
	close(c->sweep_fd);
	loop_del(c->l, c->fd);
	close(c->fd);
	unlink(c->path);
	close(c->lock_fd); /* the lock file stays: removing it would race a starting daemon */
	free(c);
}
