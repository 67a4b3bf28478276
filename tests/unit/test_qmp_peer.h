/* test_qmp_peer.h — a scripted QMP peer for unit tests of balloon/qmp.c.
 *
 * The test plays QEMU on the other end of a UNIX socket (a listening
 * socket in a temporary directory, or a socketpair), in the same thread:
 * it writes lines, then calls the client's on_readable/on_writable/tick by
 * hand with made-up times. Nothing here sleeps except a bounded poll()
 * while waiting for bytes the client has already been told to write. */
#ifndef KSMD_TEST_QMP_PEER_H
#define KSMD_TEST_QMP_PEER_H

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "balloon/qmp.h"

#define PEER_GREETING \
	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, " \
	"\"package\": \"\"}, \"capabilities\": [\"oob\"]}}\r\n"

static inline int peer_listen(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path) exit(2);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4) < 0) {
		perror("peer_listen");
		exit(2);
	}
	return fd;
}

/* Accept a pending connection, or -1 if none within 1 s. */
static inline int peer_accept(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	if (poll(&p, 1, 1000) <= 0)
		return -1;
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

static inline void peer_send(int fd, const char *s)
{
	size_t n = strlen(s), off = 0;
	while (off < n) {
		ssize_t w = send(fd, s + off, n - off, MSG_NOSIGNAL);
		if (w <= 0) {
			perror("peer_send");
			return;
		}
		off += (size_t)w;
	}
}

/* Read one line the client sent (waits up to 1 s); returns malloc'd JSON
 * object or NULL. */
static inline json_t *peer_recv(int fd)
{
	char buf[65536];
	size_t n = 0;
	while (n + 1 < sizeof buf) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 1000) <= 0)
			return NULL;
		ssize_t r = recv(fd, buf + n, 1, 0);
		if (r <= 0)
			return NULL;
		if (buf[n] == '\n')
			break;
		n++;
	}
	return json_loadb(buf, n, 0, NULL);
}

/* Drive the client once: write queued output, read input, run timers. */
static inline void peer_pump(struct qmp_client *c, usec_t now)
{
	qmp_on_writable(c, now);
	qmp_on_readable(c, now);
	qmp_tick(c, now);
}

/* Receive one command; returns its id (and name in *cmd if not NULL). */
static inline int64_t peer_expect(int fd, struct qmp_client *c, usec_t now, char *cmd, size_t len)
{
	qmp_on_writable(c, now);
	json_t *m = peer_recv(fd);
	if (!m)
		return -1;
	int64_t id = json_integer_value(json_object_get(m, "id"));
	if (cmd)
		snprintf(cmd, len, "%s", json_string_value(json_object_get(m, "execute")) ?: "");
	json_decref(m);
	return id;
}

/* Greeting + qmp_capabilities; the client ends READY. Returns 0 or -1. */
static inline int peer_handshake(int fd, struct qmp_client *c, usec_t now)
{
	peer_send(fd, PEER_GREETING);
	qmp_on_readable(c, now);
	char cmd[64];
	int64_t id = peer_expect(fd, c, now, cmd, sizeof cmd);
	if (id < 0 || strcmp(cmd, "qmp_capabilities"))
		return -1;
	char r[64];
	snprintf(r, sizeof r, "{\"return\": {}, \"id\": %lld}\r\n", (long long)id);
	peer_send(fd, r);
	qmp_on_readable(c, now);
	return qmp_get_state(c) == QMP_READY ? 0 : -1;
}

#endif
