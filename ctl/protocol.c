/* protocol.c — the control protocol's messages and its client (ctl.h). */
#include "ctl/ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

json_t *control_ok(json_t *result)
{
	json_t *o = json_object();
	json_object_set_new(o, "ok", json_true());
	if (result)
		json_object_set_new(o, "result", result);
	return o;
}

json_t *control_error(const char *fmt, ...)
{
	char buf[1024], text[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	/* a JSON string is UTF-8: a text cut inside a character, or quoting
	 * bytes that are not UTF-8, would leave the answer without its error */
	size_t len = n < 0 ? 0 : (size_t)n < sizeof buf ? (size_t)n : text_utf8_cut(buf, sizeof buf - 1);
	if (!text_utf8_valid(buf, len))
		len = text_escape(text, sizeof text, buf, len, true);
	else
		memcpy(text, buf, len);
	json_t *o = json_object();
	json_object_set_new(o, "ok", json_false());
	json_object_set_new(o, "error", json_stringn(text, len));
	return o;
}

static int wait_fd(int fd, short ev, usec_t deadline)
{
	for (;;) {
		usec_t now = now_usec();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = ev };
		int r = poll(&p, 1, (int)((deadline - now + 999) / 1000));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r > 0)
			return 0;
	}
}

/* Connect to the control socket at path: the fd, or a negative errno. */
static int control_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

/* The request line {"cmd": cmd, "args": args or []} with its '\n', to
 * free(); NULL when out of memory. */
static char *request_line(const char *cmd, json_t *args)
{
	json_t *req = json_object();
	json_object_set_new(req, "cmd", json_string(cmd));
	json_object_set_new(req, "args", args ? json_incref(args) : json_array());
	char *s = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!s)
		return NULL;
	char *msg;
	if (asprintf(&msg, "%s\n", s) < 0) {
		free(s);
		return NULL;
	}
	free(s);
	return msg;
}

/* Write all of msg: 0 or a negative errno. */
static int send_all(int fd, const char *msg)
{
	int r = 0;
	size_t off = 0, len = strlen(msg);
	while (off < len) {
		ssize_t w = send(fd, msg + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = -errno;
			break;
		}
		off += (size_t)w;
	}
	return r;
}

/* Read until a read brings a line end: 0, or a negative errno (the
 * deadline passed: -ETIMEDOUT; end of file first: -ECONNRESET). *in_out is
 * what was read, NUL-terminated, to free() (NULL when nothing was). */
static int read_answer(int fd, usec_t deadline, char **in_out)
{
	int r = 0;
	char *in = NULL;
	size_t in_len = 0;
	while (r == 0) {
		if ((r = wait_fd(fd, POLLIN, deadline)) < 0)
			break;
		char buf[65536];
		ssize_t got = read(fd, buf, sizeof buf);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			r = got < 0 ? -errno : -ECONNRESET;
			break;
		}
		char *ni = realloc(in, in_len + (size_t)got + 1);
		if (!ni) {
			r = -ENOMEM;
			break;
		}
		in = ni;
		memcpy(in + in_len, buf, (size_t)got);
		in_len += (size_t)got;
		in[in_len] = 0;
		if (memchr(buf, '\n', (size_t)got))
			break;
	}
	*in_out = in;
	return r;
}

int control_call(const char *path, const char *cmd, json_t *args, usec_t timeout, json_t **answer)
{
	int fd = control_connect(path);
	if (fd < 0)
		return fd;
	char *msg = request_line(cmd, args);
	if (!msg) {
		close(fd);
		return -ENOMEM;
	}
	usec_t deadline = now_usec() + timeout;
	int r = send_all(fd, msg);
	free(msg);
	char *in = NULL;
	if (r == 0)
		r = read_answer(fd, deadline, &in);
	close(fd);
	if (r == 0) {
		json_error_t jerr;
		*answer = json_loads(in, JSON_DISABLE_EOF_CHECK, &jerr);
		if (!*answer || !json_is_object(*answer)) {
			json_decref(*answer);
			r = -EBADMSG;
		}
	}
	free(in);
	return r;
}
