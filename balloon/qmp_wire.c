/* qmp_wire.c — the QMP client's bytes: input framed into lines, parsed and
 * dispatched (greeting, replies, events); output queued and written. The
 * client's life and state machine are qmp.c's; both share qmp_internal.h.
 *
 * Input is framed by '\n' into a buffer capped at max_line_bytes: a peer
 * that sends more than that without a newline is broken or hostile, and the
 * connection is closed and re-established rather than grown without bound.
 * A line that is not valid JSON, a reply without id, or a reply to an id we
 * never sent is logged (within the client's rate limit) and dropped: the connection survives, and a
 * command whose reply was lost that way fails on its timeout. */
#include "balloon/qmp.h"
#include "balloon/qmp_internal.h"
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int queue_out(struct qmp_client *c, const char *s, size_t n)
{
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + n > c->out_cap) {
		size_t cap = MAX(c->out_cap * 2, c->out_len + n + 256);
		char *p = realloc(c->out, cap);
		if (!p)
			return -ENOMEM;
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
	return 0;
}

void qmp_flush_out(struct qmp_client *c, usec_t now)
{
	while (c->fd >= 0 && c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			c->out_off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		int e = errno;
		qmp_log(c, now, LOG_WARNING, "qmp %s: write: %s", c->name, strerror(e));
		qmp_disconnect(c, now, QMP_DISCONNECTED, -ECONNRESET, "write: %s", strerror(e));
		return;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
}

/* Serialize and queue one command line. */
int qmp_write_command(struct qmp_client *c, const char *command, json_t *args, int64_t id)
{
	json_t *msg = json_pack("{s:s, s:I}", "execute", command, "id", (json_int_t)id);
	if (!msg) {
		json_decref(args);
		return -ENOMEM;
	}
	if (args && json_object_set_new(msg, "arguments", args) < 0) {
		json_decref(msg);
		return -ENOMEM;
	}
	char *s = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (!s)
		return -ENOMEM;
	int r = queue_out(c, s, strlen(s));
	if (r == 0)
		r = queue_out(c, "\n", 1);
	free(s);
	return r;
}

static struct qmp_cmd *take_pending(struct qmp_client *c, int64_t id)
{
	for (struct qmp_cmd **pp = &c->pending; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			struct qmp_cmd *cmd = *pp;
			*pp = cmd->next;
			return cmd;
		}
	return NULL;
}

static void protocol_error(struct qmp_client *c, usec_t now, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void protocol_error(struct qmp_client *c, usec_t now, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->last_error, sizeof c->last_error, fmt, ap);
	va_end(ap);
	c->protocol_errors++;
	qmp_log(c, now, LOG_ERR, "qmp %s: %s, ignoring", c->name, c->last_error);
}

static void handle_greeting(struct qmp_client *c, json_t *qmp, usec_t now)
{
	if (c->state != QMP_GREETING) {
		protocol_error(c, now, "unexpected greeting in state %s", qmp_state_name(c->state));
		return;
	}
	json_int_t ma = 0, mi = 0, mc = 0;
	json_t *v = json_object_get(json_object_get(qmp, "version"), "qemu");
	if (json_unpack(v, "{s:I, s:I, s:I}", "major", &ma, "minor", &mi, "micro", &mc) == 0)
		snprintf(c->version, sizeof c->version, "%lld.%lld.%lld",
			 (long long)ma, (long long)mi, (long long)mc);
	if (qmp_write_command(c, "qmp_capabilities", NULL, QMP_CAPS_ID) < 0) {
		qmp_disconnect(c, now, QMP_DISCONNECTED, -ECONNRESET, "out of memory");
		return;
	}
	c->caps_deadline_usec = now + c->cfg.request_timeout_usec;
	qmp_set_state(c, QMP_NEGOTIATING, now);
	qmp_flush_out(c, now);
}

static void handle_reply(struct qmp_client *c, json_t *msg, usec_t now)
{
	json_t *idv = json_object_get(msg, "id");
	json_t *err = json_object_get(msg, "error");
	if (!idv || !json_is_integer(idv)) {
		protocol_error(c, now, "reply without a usable id: %.80s",
			       err ? json_string_value(json_object_get(err, "desc")) ?: "error"
				   : "return");
		return;
	}
	int64_t id = json_integer_value(idv);
	if (id == QMP_CAPS_ID && c->state == QMP_NEGOTIATING) {
		if (err) {
			const char *d = json_string_value(json_object_get(err, "desc"));
			qmp_log(c, now, LOG_ERR, "qmp %s: qmp_capabilities refused: %s", c->name, d ?: "?");
			qmp_disconnect(c, now, QMP_DISCONNECTED, -ECONNRESET,
				       "qmp_capabilities refused: %s", d ?: "?");
			return;
		}
		c->connects++;
		c->last_error[0] = '\0';
		/* on_demand: once per QEMU, not once per operation */
		qmp_log(c, now, !c->cfg.on_demand || c->peer_pid != c->logged_pid ? LOG_INFO : LOG_DEBUG,
			"qmp %s: connected to QEMU %s (pid %d)", c->name,
			c->version[0] ? c->version : "?", (int)c->peer_pid);
		c->logged_pid = c->peer_pid;
		qmp_set_state(c, QMP_READY, now);
		return;
	}
	struct qmp_cmd *cmd = take_pending(c, id);
	if (!cmd) {
		protocol_error(c, now, "reply to a command never sent (id %lld)", (long long)id);
		return;
	}
	if (err) {
		const char *cls = json_string_value(json_object_get(err, "class"));
		const char *desc = json_string_value(json_object_get(err, "desc"));
		qmp_log(c, now, LOG_DEBUG, "qmp %s: %s failed: %s: %s", c->name, cmd->command,
			cls ?: "?", desc ?: "?");
		qmp_complete(c, cmd, -EREMOTEIO, NULL, cls ? cls : "GenericError", desc ? desc : "", now);
	} else {
		qmp_complete(c, cmd, 0, json_object_get(msg, "return"), NULL, NULL, now);
	}
}

/* QEMU prints an unsigned 64-bit -1 ("no value" in guest-stats) as
 * 18446744073709551615, which jansson refuses (it keeps integers in
 * int64). Rewrite, outside strings, every integer literal above INT64_MAX
 * as -1, padded with blanks. Returns true if something was rewritten. */
static bool fix_big_integers(char *s, size_t len)
{
	bool in_str = false, changed = false;
	for (size_t i = 0; i < len; i++) {
		if (in_str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_str = false;
			continue;
		}
		if (s[i] == '"') {
			in_str = true;
			continue;
		}
		if (s[i] < '0' || s[i] > '9' || (i && s[i - 1] == '-'))
			continue;
		size_t j = i;
		while (j < len && s[j] >= '0' && s[j] <= '9')
			j++;
		size_t n = j - i;
		if (n > 19 || (n == 19 && memcmp(s + i, "9223372036854775807", 19) > 0)) {
			s[i] = '-';
			s[i + 1] = '1';
			memset(s + i + 2, ' ', n - 2);
			changed = true;
		}
		i = j - 1;
	}
	return changed;
}

static void handle_line(struct qmp_client *c, char *line, size_t len, usec_t now)
{
	while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (!len)
		return;
	json_error_t je;
	json_t *msg = json_loadb(line, len, 0, &je);
	if (!msg && fix_big_integers(line, len))
		msg = json_loadb(line, len, 0, &je);
	if (!msg || !json_is_object(msg)) {
		protocol_error(c, now, "malformed JSON (%s): %.*s", msg ? "not an object" : je.text,
			       (int)MIN(len, 60), line);
		json_decref(msg);
		return;
	}
	json_t *v;
	if ((v = json_object_get(msg, "QMP")))
		handle_greeting(c, v, now);
	else if ((v = json_object_get(msg, "event")) && json_is_string(v)) {
		if (c->cb.on_event)
			c->cb.on_event(c, json_string_value(v), json_object_get(msg, "data"),
				       now, c->userdata);
	} else if (json_object_get(msg, "return") || json_object_get(msg, "error"))
		handle_reply(c, msg, now);
	else
		protocol_error(c, now, "unknown message: %.*s", (int)MIN(len, 60), line);
	json_decref(msg);
}

void qmp_on_readable(struct qmp_client *c, usec_t now)
{
	if (c->state == QMP_CONNECTING) {
		qmp_on_writable(c, now);
		if (c->state == QMP_CONNECTING)
			return;
	}
	for (int rounds = 0; c->fd >= 0 && rounds < 64; rounds++) {
		if (c->in_cap - c->in_len < 4096) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
			/* never hold more than the line cap plus one read */
			if (cap > c->cfg.max_line_bytes + 65536)
				cap = c->cfg.max_line_bytes + 65536;
			if (cap <= c->in_cap) {
				cap = c->in_cap; /* full: cap checked below */
			} else {
				char *p = realloc(c->in, cap);
				if (!p) {
					qmp_disconnect(c, now, QMP_DISCONNECTED, -ECONNRESET, "out of memory");
					return;
				}
				c->in = p;
				c->in_cap = cap;
			}
		}
		ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			int e = r < 0 ? errno : 0;
			size_t np = qmp_pending(c);
			if (np || c->state == QMP_READY)
				qmp_log(c, now, LOG_WARNING, "qmp %s: QEMU closed the connection (%s)%s", c->name,
					 e ? strerror(e) : "end of file",
					 np ? ", failing pending commands" : "");
			qmp_disconnect(c, now, QMP_DISCONNECTED, -ECONNRESET, "connection lost: %s",
				       e ? strerror(e) : "end of file");
			return;
		}
		c->in_len += (size_t)r;
		/* dispatch complete lines */
		size_t start = 0;
		for (;;) {
			char *nl = memchr(c->in + start, '\n', c->in_len - start);
			if (!nl)
				break;
			size_t ll = (size_t)(nl - (c->in + start));
			if (ll > c->cfg.max_line_bytes) {
				c->protocol_errors++;
				qmp_log(c, now, LOG_ERR,
					"qmp %s: message of %zu bytes exceeds the %zu-byte cap, reconnecting",
					c->name, ll, c->cfg.max_line_bytes);
				qmp_disconnect(c, now, QMP_DISCONNECTED, -ECONNRESET,
					       "message exceeds the %zu-byte cap", c->cfg.max_line_bytes);
				return;
			}
			handle_line(c, c->in + start, ll, now);
			if (c->fd < 0)
				return; /* a handler disconnected */
			start += ll + 1;
		}
		if (start) {
			memmove(c->in, c->in + start, c->in_len - start);
			c->in_len -= start;
		}
		if (c->in_len > c->cfg.max_line_bytes) {
			c->protocol_errors++;
			qmp_log(c, now, LOG_ERR, "qmp %s: over %zu bytes without a line end, reconnecting",
				c->name, c->cfg.max_line_bytes);
			qmp_disconnect(c, now, QMP_DISCONNECTED, -ECONNRESET,
				       "message exceeds the %zu-byte cap", c->cfg.max_line_bytes);
			return;
		}
	}
}
