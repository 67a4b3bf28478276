/* test_qmp_client.h — the client side of the QMP unit tests
 * (test_qmp.c, test_qmp_hostile.c): a client of balloon/qmp.c with
 * recording callbacks and short timeouts, on a socket in a temporary
 * directory, against the scripted peer of test_qmp_peer.h. */
#ifndef KSMD_TEST_QMP_CLIENT_H
#define KSMD_TEST_QMP_CLIENT_H

#include "balloon/qmp.h"
#include "tests/unit/harness.h"
#include "tests/unit/test_qmp_peer.h"

#include <sys/stat.h>

static char dir[64], sock_path[128];
static int events_seen;
static char last_event[64];
static enum qmp_state states[32];
static int n_states;

struct result { int called; int err; char cls[64]; json_int_t value; };

static inline void on_reply(struct qmp_client *c, const struct qmp_reply *r, void *ud)
{
	(void)c;
	struct result *res = ud;
	res->called++;
	res->err = r->err;
	snprintf(res->cls, sizeof res->cls, "%s", r->err_class ? r->err_class : "");
	json_t *a = json_object_get(r->ret, "actual");
	res->value = a ? json_integer_value(a) : -1;
}

static inline void on_event(struct qmp_client *c, const char *ev, json_t *data, usec_t now, void *ud)
{
	(void)c; (void)data; (void)now; (void)ud;
	events_seen++;
	snprintf(last_event, sizeof last_event, "%s", ev);
}

static inline void on_state(struct qmp_client *c, enum qmp_state o, enum qmp_state s, usec_t now, void *ud)
{
	(void)c; (void)o; (void)now; (void)ud;
	if (n_states < 32)
		states[n_states++] = s;
}

static const struct qmp_callbacks cbs = { .on_event = on_event, .on_state = on_state };
static const struct qmp_config cfg = {
	.request_timeout_usec = 3 * USEC_PER_SEC,
	.greeting_timeout_usec = 2 * USEC_PER_SEC,
	.reconnect_min_usec = 100 * USEC_PER_MSEC,
	.reconnect_max_usec = 1 * USEC_PER_SEC,
};

static inline void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/ksmd-qmp-test-XXXXXX");
	if (!mkdtemp(dir)) { perror("mkdtemp"); exit(2); }
	snprintf(sock_path, sizeof sock_path, "%s/qmp.sock", dir);
	events_seen = 0;
	n_states = 0;
}

static inline void teardown(void)
{
	unlink(sock_path);
	rmdir(dir);
}

/* A client connected to a fresh listening socket and READY at t=1 s. */
static inline struct qmp_client *ready_client(int *lfd, int *pfd)
{
	setup();
	*lfd = peer_listen(sock_path);
	struct qmp_client *c = qmp_new("t", sock_path, &cfg, &cbs, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(qmp_fd(c), -1);
	qmp_tick(c, USEC_PER_SEC);
	CU_ASSERT(qmp_fd(c) >= 0);
	*pfd = peer_accept(*lfd);
	CU_ASSERT_FATAL(*pfd >= 0);
	CU_ASSERT_EQUAL(qmp_get_state(c), QMP_GREETING);
	CU_ASSERT_EQUAL_FATAL(peer_handshake(*pfd, c, USEC_PER_SEC), 0);
	CU_ASSERT_STRING_EQUAL(qmp_qemu_version(c), "7.2.0");
	CU_ASSERT_EQUAL(qmp_peer_pid(c), getpid());
	return c;
}

static inline void finish(struct qmp_client *c, int lfd, int pfd)
{
	qmp_free(c);
	if (pfd >= 0) close(pfd);
	close(lfd);
	teardown();
}

static inline void reply(int pfd, int64_t id, const char *body)
{
	char buf[512];
	snprintf(buf, sizeof buf, "{%s, \"id\": %lld}\r\n", body, (long long)id);
	peer_send(pfd, buf);
}

/* Send a command and have the peer read it; returns its id. */
static inline int64_t sent(struct qmp_client *c, int pfd, const char *cmd, json_t *args,
		    struct result *res, usec_t t)
{
	int64_t id = qmp_send(c, cmd, args, on_reply, res, t);
	CU_ASSERT(id > 0);
	CU_ASSERT_EQUAL(peer_expect(pfd, c, t, NULL, 0), id);
	return id;
}

#endif
