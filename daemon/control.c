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

struct client {
	int fd;
	char *in;
	size_t in_len;
	char *out;
	size_t out_len, out_off;
	struct control *c;
};

struct control {
	struct loop *l;
	int fd, lock_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	control_fn fn;
	void *data;
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

static void queue_answer(struct client *cl, json_t *answer)
{
	char *s = json_dumps(answer, JSON_COMPACT);
	json_decref(answer);
	if (!s)
		return;
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

static void client_io(struct loop *l, int fd, uint32_t events, void *data)
{
	struct client *cl = data;
	(void)l;
	if (events & EPOLLIN) {
		char buf[16384];
		for (;;) {
			ssize_t r = read(fd, buf, sizeof buf);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && errno == EAGAIN)
				break;
			if (r <= 0) {
				if (cl->out_len == cl->out_off) {
					client_free(cl);
					return;
				}
				break;
			}
			if (cl->in_len + (size_t)r > CONTROL_MAX_LINE + sizeof buf) {
				log_warn("control: request longer than %d bytes, closing the connection",
					 CONTROL_MAX_LINE);
				client_free(cl);
				return;
			}
			char *n = realloc(cl->in, cl->in_len + (size_t)r + 1);
			if (!n) {
				client_free(cl);
				return;
			}
			cl->in = n;
			memcpy(cl->in + cl->in_len, buf, (size_t)r);
			cl->in_len += (size_t)r;
			cl->in[cl->in_len] = 0;
		}
		char *nl;
		while (cl->in && (nl = memchr(cl->in, '\n', cl->in_len))) {
			*nl = 0;
			size_t used = (size_t)(nl - cl->in) + 1;
			if (used - 1 > CONTROL_MAX_LINE)
				queue_answer(cl, control_error("request longer than %d bytes", CONTROL_MAX_LINE));
			else if (nl > cl->in)
				queue_answer(cl, control_dispatch(cl->in, cl->c->fn, cl->c->data));
			memmove(cl->in, cl->in + used, cl->in_len - used);
			cl->in_len -= used;
		}
		if (cl->in_len > CONTROL_MAX_LINE) {
			log_warn("control: request longer than %d bytes, closing the connection", CONTROL_MAX_LINE);
			client_free(cl);
			return;
		}
	}
	if (events & (EPOLLHUP | EPOLLERR) && cl->out_len == cl->out_off && !(events & EPOLLIN)) {
		client_free(cl);
		return;
	}
	while (cl->out_off < cl->out_len) {
		ssize_t w = send(fd, cl->out + cl->out_off, cl->out_len - cl->out_off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w < 0) {
			client_free(cl);
			return;
		}
		cl->out_off += (size_t)w;
	}
	if (cl->out_off == cl->out_len) {
		cl->out_off = cl->out_len = 0;
		loop_mod(cl->c->l, fd, EPOLLIN);
	} else {
		loop_mod(cl->c->l, fd, EPOLLIN | EPOLLOUT);
	}
}

static void accept_cb(struct loop *l, int fd, uint32_t events, void *data)
{
	struct control *c = data;
	(void)events;
	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("control: accept: %s, ignoring", strerror(errno));
			return;
		}
		size_t slot;
		for (slot = 0; slot < CONTROL_MAX_CLIENTS && c->clients[slot]; slot++)
			;
		struct client *cl = slot < CONTROL_MAX_CLIENTS ? calloc(1, sizeof *cl) : NULL;
		if (!cl) {
			static const char busy[] = "{\"ok\":false,\"error\":\"too many control clients\"}\n";
			ssize_t w = send(cfd, busy, sizeof busy - 1, MSG_NOSIGNAL);
			(void)w;
			close(cfd);
			continue;
		}
		cl->fd = cfd;
		cl->c = c;
		if (loop_add(l, cfd, EPOLLIN, client_io, cl) < 0) {
			close(cfd);
			free(cl);
			continue;
		}
		c->clients[slot] = cl;
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
	strcpy(c->path, path);

	char lock[300];
	snprintf(lock, sizeof lock, "%s.lock", path);
	c->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
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
	loop_del(c->l, c->fd);
	close(c->fd);
	unlink(c->path);
	close(c->lock_fd); /* the lock file stays: removing it would race a starting daemon */
	free(c);
}
