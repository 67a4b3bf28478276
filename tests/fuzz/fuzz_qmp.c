/* fuzz_qmp.c — libFuzzer target of the QMP client's wire side
 * (balloon/qmp_wire.c): the stream framing (lines cut anywhere, the line
 * cap), the greeting, capabilities, replies and events, and the in-place
 * rewrite of integers above INT64_MAX. The input is what QEMU sends, fed
 * through a socketpair in chunks of 1 to 128 bytes (the first byte picks
 * the size); whenever the client is READY it sends commands (ids 1, 2, ...)
 * that the input may answer. Every command's callback runs exactly once. */
#include "balloon/qmp.h"
#include "tests/fuzz/fuzz_quiet.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned sent, completed;

static void on_reply(struct qmp_client *c, const struct qmp_reply *r, void *data)
{
	(void)c;
	(void)data;
	if (r->err == 0 && !r->ret)
		abort(); /* success without a return value */
	completed++;
}

static void drain(int fd)
{
	char buf[4096];
	while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	int buf = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
	struct qmp_config cfg = { .max_line_bytes = 4096 };
	struct qmp_callbacks cbs = { 0 };
	sent = completed = 0;
	usec_t now = 1;
	struct qmp_client *c = qmp_new_fd("fuzz", sv[0], &cfg, &cbs, NULL, now);
	size_t chunk = 1 + data[0] % 128;
	for (size_t off = 1; off < size && qmp_get_state(c) != QMP_CLOSED; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		if (send(sv[1], data + off, n, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)n)
			break;
		qmp_on_readable(c, ++now);
		drain(sv[1]);
		if (qmp_get_state(c) == QMP_READY && sent < 4 &&
		    qmp_send(c, sent & 1 ? "query-balloon" : "qom-get", NULL, on_reply, NULL, now) > 0)
			sent++;
	}
	shutdown(sv[1], SHUT_WR);
	qmp_on_readable(c, ++now);
	qmp_free(c);
	close(sv[1]);
	if (completed != sent)
		abort(); /* a callback lost or run twice */
	return 0;
}
