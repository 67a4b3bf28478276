/* Unit tests for balloon/qmp.c against a scripted QMP peer: the protocol
 * happy path, bad input (malformed JSON, missing/unknown ids, a huge line,
 * error replies, a close mid-reply, interleaved events), timeouts, the busy
 * monitor, reconnect with backoff, and epoll registration (hostile peers
 * and paths are test_qmp_hostile.c). */
#include "balloon/qmp.h"
#include "tests/unit/harness.h"
#include "tests/unit/test_qmp_client.h"

#include <sys/epoll.h>

static void test_happy_path_and_events(void)
{
	int lfd, pfd;
	struct qmp_client *c = ready_client(&lfd, &pfd);
	struct result r1 = { 0 }, r2 = { 0 };
	usec_t t = 2 * USEC_PER_SEC;
	int64_t id1 = qmp_send(c, "query-balloon", NULL, on_reply, &r1, t);
	int64_t id2 = qmp_send(c, "balloon", json_pack("{s:I}", "value", (json_int_t)256 * MIB),
			       on_reply, &r2, t);
	CU_ASSERT(id1 > 0 && id2 > id1);
	CU_ASSERT(qmp_epoll_events(c) & EPOLLOUT);
	CU_ASSERT_EQUAL(qmp_pending(c), 2);
	char cmd[64];
	CU_ASSERT_EQUAL(peer_expect(pfd, c, t, cmd, sizeof cmd), id1);
	CU_ASSERT_STRING_EQUAL(cmd, "query-balloon");
	CU_ASSERT_EQUAL(peer_expect(pfd, c, t, cmd, sizeof cmd), id2);
	CU_ASSERT_STRING_EQUAL(cmd, "balloon");
	CU_ASSERT_FALSE(qmp_epoll_events(c) & EPOLLOUT);
	/* an event between the replies, and two messages in one read */
	char buf[512];
	snprintf(buf, sizeof buf,
		 "{\"return\": {\"actual\": 536870912}, \"id\": %lld}\r\n"
		 "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"BALLOON_CHANGE\", "
		 "\"data\": {\"actual\": 268435456}}\r\n{\"return\": {}, \"id\": %lld}\r\n",
		 (long long)id1, (long long)id2);
	peer_send(pfd, buf);
	qmp_on_readable(c, t);
	CU_ASSERT_EQUAL(r1.called, 1); CU_ASSERT_EQUAL(r1.err, 0);
	CU_ASSERT_EQUAL(r1.value, 536870912);
	CU_ASSERT_EQUAL(r2.called, 1); CU_ASSERT_EQUAL(r2.err, 0);
	CU_ASSERT_EQUAL(events_seen, 1);
	CU_ASSERT_STRING_EQUAL(last_event, "BALLOON_CHANGE");
	CU_ASSERT_EQUAL(qmp_pending(c), 0);
	CU_ASSERT_EQUAL(qmp_protocol_errors(c), 0);
	/* a reply split across reads */
	struct result r3 = { 0 };
	int64_t id3 = sent(c, pfd, "query-balloon", NULL, &r3, t);
	peer_send(pfd, "{\"return\": {\"act");
	qmp_on_readable(c, t);
	CU_ASSERT_EQUAL(r3.called, 0);
	snprintf(buf, sizeof buf, "ual\": 7}, \"id\": %lld}\r\n", (long long)id3);
	peer_send(pfd, buf);
	qmp_on_readable(c, t);
	CU_ASSERT_EQUAL(r3.called, 1); CU_ASSERT_EQUAL(r3.value, 7);
	/* QEMU prints the -1 sentinel as an unsigned 64-bit number */
	struct result r4 = { 0 };
	int64_t id4 = sent(c, pfd, "qom-get", NULL, &r4, t);
	snprintf(buf, sizeof buf, "{\"return\": {\"actual\": 18446744073709551615, "
		 "\"s\": \"99999999999999999999\"}, \"id\": %lld}\r\n", (long long)id4);
	peer_send(pfd, buf);
	qmp_on_readable(c, t);
	CU_ASSERT_EQUAL(r4.called, 1); CU_ASSERT_EQUAL(r4.err, 0);
	CU_ASSERT_EQUAL(r4.value, -1);
	CU_ASSERT_EQUAL(qmp_protocol_errors(c), 0);
	finish(c, lfd, pfd);
}

static void test_bad_input_survives(void)
{
	int lfd, pfd;
	struct qmp_client *c = ready_client(&lfd, &pfd);
	usec_t t = 2 * USEC_PER_SEC;
	struct result r = { 0 };
	int64_t id = sent(c, pfd, "query-balloon", NULL, &r, t);
	peer_send(pfd, "{this is not json\r\n");                          /* malformed */
	peer_send(pfd, "[1, 2, 3]\r\n");                                  /* not an object */
	peer_send(pfd, "{\"return\": {\"actual\": 1}}\r\n");              /* no id */
	peer_send(pfd, "{\"return\": {}, \"id\": 99999}\r\n");            /* never sent */
	peer_send(pfd, "{\"what\": 1}\r\n");                              /* unknown message */
	qmp_on_readable(c, t);
	CU_ASSERT_EQUAL(qmp_protocol_errors(c), 5);
	CU_ASSERT_EQUAL(qmp_get_state(c), QMP_READY);
	CU_ASSERT_EQUAL(r.called, 0);
	CU_ASSERT_EQUAL(qmp_pending(c), 1);
	/* the real reply still matches */
	reply(pfd, id, "\"return\": {\"actual\": 42}");
	qmp_on_readable(c, t);
	CU_ASSERT_EQUAL(r.called, 1); CU_ASSERT_EQUAL(r.value, 42);
	/* error reply */
	struct result e = { 0 };
	id = sent(c, pfd, "balloon", json_pack("{s:i}", "value", 1), &e, t);
	reply(pfd, id, "\"error\": {\"class\": \"DeviceNotActive\", \"desc\": \"No balloon device has been activated\"}");
	qmp_on_readable(c, t);
	CU_ASSERT_EQUAL(e.called, 1);
	CU_ASSERT_EQUAL(e.err, -EREMOTEIO);
	CU_ASSERT_STRING_EQUAL(e.cls, "DeviceNotActive");
	CU_ASSERT_EQUAL(qmp_get_state(c), QMP_READY);
	finish(c, lfd, pfd);
}

static void test_timeout(void)
{
	int lfd, pfd;
	struct qmp_client *c = ready_client(&lfd, &pfd);
	usec_t t = 2 * USEC_PER_SEC;
	struct result r = { 0 };
	int64_t id = sent(c, pfd, "query-balloon", NULL, &r, t);
	CU_ASSERT_EQUAL(qmp_next_deadline(c), t + 3 * USEC_PER_SEC);
	qmp_tick(c, t + 2 * USEC_PER_SEC);
	CU_ASSERT_EQUAL(r.called, 0);
	qmp_tick(c, t + 3 * USEC_PER_SEC);
	CU_ASSERT_EQUAL(r.called, 1);
	CU_ASSERT_EQUAL(r.err, -ETIMEDOUT);
	/* the late reply is an anomaly, not a crash */
	reply(pfd, id, "\"return\": {}");
	qmp_on_readable(c, t + 4 * USEC_PER_SEC);
	CU_ASSERT_EQUAL(r.called, 1);
	CU_ASSERT_EQUAL(qmp_protocol_errors(c), 1);
	CU_ASSERT_EQUAL(qmp_get_state(c), QMP_READY);
	finish(c, lfd, pfd);
}

/* The peer goes away; pending commands fail; the client reconnects. */
static void check_reconnect(struct qmp_client *c, int lfd, usec_t t)
{
	CU_ASSERT_EQUAL(qmp_get_state(c), QMP_DISCONNECTED);
	CU_ASSERT_EQUAL(qmp_fd(c), -1);
	CU_ASSERT_EQUAL(qmp_send(c, "query-balloon", NULL, NULL, NULL, t), -ENOTCONN);
	usec_t when = qmp_next_deadline(c);
	CU_ASSERT(when > t && when <= t + USEC_PER_SEC);
	qmp_tick(c, when - 1);
	CU_ASSERT_EQUAL(qmp_fd(c), -1);
	qmp_tick(c, when);
	CU_ASSERT(qmp_fd(c) >= 0);
	int pfd = peer_accept(lfd);
	CU_ASSERT_FATAL(pfd >= 0);
	CU_ASSERT_EQUAL(peer_handshake(pfd, c, when), 0);
	CU_ASSERT_EQUAL(qmp_connects(c), 2);
	close(pfd);
}

static void test_close_mid_reply(void)
{
	int lfd, pfd;
	struct qmp_client *c = ready_client(&lfd, &pfd);
	usec_t t = 2 * USEC_PER_SEC;
	struct result r = { 0 }, r2 = { 0 };
	int64_t id = qmp_send(c, "query-balloon", NULL, on_reply, &r, t);
	(void)qmp_send(c, "query-balloon", NULL, on_reply, &r2, t);
	CU_ASSERT_EQUAL(peer_expect(pfd, c, t, NULL, 0), id);
	peer_send(pfd, "{\"return\": {\"actual\": 53");
	close(pfd);
	qmp_on_readable(c, t);
	CU_ASSERT_EQUAL(r.called, 1); CU_ASSERT_EQUAL(r.err, -ECONNRESET);
	CU_ASSERT_EQUAL(r2.called, 1); CU_ASSERT_EQUAL(r2.err, -ECONNRESET);
	CU_ASSERT_STRING_NOT_EQUAL(qmp_last_error(c), "");
	check_reconnect(c, lfd, t);
	finish(c, lfd, -1);
}

static void test_huge_line(void)
{
	int lfd, pfd;
	struct qmp_client *c = ready_client(&lfd, &pfd);
	usec_t t = 2 * USEC_PER_SEC;
	struct result r = { 0 };
	(void)qmp_send(c, "qom-get", NULL, on_reply, &r, t);
	(void)peer_expect(pfd, c, t, NULL, 0);
	/* 1.5 MiB without a newline, fed in chunks while the client reads */
	size_t chunk = 64 * 1024, total = 0;
	char *blob = malloc(chunk);
	memset(blob, 'x', chunk);
	blob[0] = '"';
	int fl = fcntl(pfd, F_GETFL);
	fcntl(pfd, F_SETFL, fl | O_NONBLOCK);
	while (total < 3 * MIB / 2 && qmp_fd(c) >= 0) {
		ssize_t w = send(pfd, blob, chunk, MSG_NOSIGNAL);
		if (w > 0)
			total += (size_t)w;
		qmp_on_readable(c, t);
	}
	free(blob);
	CU_ASSERT(total <= 1 * MIB + 2 * 65536 + 4096); /* stopped at the cap */
	CU_ASSERT_EQUAL(r.called, 1);
	CU_ASSERT_EQUAL(r.err, -ECONNRESET);
	CU_ASSERT(qmp_protocol_errors(c) >= 1);
	close(pfd);
	check_reconnect(c, lfd, t);
	finish(c, lfd, -1);
}

static void test_busy_monitor(void)
{
	setup();
	int lfd = peer_listen(sock_path);
	struct qmp_client *c = qmp_new("t", sock_path, &cfg, &cbs, NULL);
	qmp_tick(c, USEC_PER_SEC);
	int pfd = peer_accept(lfd);
	CU_ASSERT_FATAL(pfd >= 0);
	/* no greeting: another client holds the monitor */
	qmp_tick(c, 2 * USEC_PER_SEC);
	CU_ASSERT_EQUAL(qmp_get_state(c), QMP_GREETING);
	qmp_tick(c, 3 * USEC_PER_SEC);
	CU_ASSERT_EQUAL(qmp_get_state(c), QMP_BUSY);
	CU_ASSERT_EQUAL(qmp_fd(c), -1);
	CU_ASSERT(strstr(qmp_last_error(c), "busy") != NULL);
	/* retried after the longest backoff, not at once */
	CU_ASSERT_EQUAL(qmp_next_deadline(c), 3 * USEC_PER_SEC + cfg.reconnect_max_usec);
	close(pfd);
	qmp_tick(c, 3 * USEC_PER_SEC + cfg.reconnect_max_usec);
	pfd = peer_accept(lfd);
	CU_ASSERT_FATAL(pfd >= 0);
	CU_ASSERT_EQUAL(peer_handshake(pfd, c, 5 * USEC_PER_SEC), 0);
	close(pfd);
	finish(c, lfd, -1);
}

static void test_refused_backoff(void)
{
	setup();
	struct qmp_client *c = qmp_new("t", sock_path, &cfg, &cbs, NULL);
	usec_t t = USEC_PER_SEC, prev = 0;
	for (int i = 0; i < 6; i++) {
		qmp_tick(c, t);
		CU_ASSERT_EQUAL(qmp_get_state(c), QMP_DISCONNECTED);
		usec_t d = qmp_next_deadline(c) - t;
		CU_ASSERT(d >= prev);
		CU_ASSERT(d <= cfg.reconnect_max_usec);
		prev = d;
		t += d;
	}
	CU_ASSERT_EQUAL(prev, cfg.reconnect_max_usec);
	CU_ASSERT(strstr(qmp_last_error(c), "connect") != NULL);
	qmp_free(c);
	teardown();
}

static void test_socketpair_and_cancel(void)
{
	int sv[2];
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	n_states = 0;
	struct qmp_client *c = qmp_new_fd("sp", sv[0], &cfg, &cbs, NULL, 0);
	CU_ASSERT_EQUAL(qmp_get_state(c), QMP_GREETING);
	/* a greeting twice is a protocol error, not a crash */
	CU_ASSERT_EQUAL(peer_handshake(sv[1], c, 0), 0);
	peer_send(sv[1], PEER_GREETING);
	qmp_on_readable(c, 0);
	CU_ASSERT_EQUAL(qmp_protocol_errors(c), 1);
	struct result r = { 0 };
	(void)qmp_send(c, "query-balloon", NULL, on_reply, &r, 0);
	qmp_free(c);
	CU_ASSERT_EQUAL(r.called, 1);
	CU_ASSERT_EQUAL(r.err, -ECANCELED);

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv + 0) == 0);
	c = qmp_new_fd("sp", sv[0], &cfg, &cbs, NULL, 0);
	CU_ASSERT_EQUAL(peer_handshake(sv[1], c, 0), 0);
	close(sv[1]);
	qmp_on_readable(c, 0);
	CU_ASSERT_EQUAL(qmp_get_state(c), QMP_CLOSED);
	CU_ASSERT_EQUAL(qmp_next_deadline(c), UINT64_MAX);
	qmp_free(c);
}

static void test_epoll_sync(void)
{
	int lfd, pfd;
	struct qmp_client *c = ready_client(&lfd, &pfd);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CU_ASSERT_EQUAL(qmp_epoll_sync(c, ep, c), 0);
	struct epoll_event ev[4];
	CU_ASSERT_EQUAL(epoll_wait(ep, ev, 4, 0), 0);            /* nothing to read */
	(void)qmp_send(c, "query-balloon", NULL, NULL, NULL, 0);
	CU_ASSERT_EQUAL(qmp_epoll_sync(c, ep, c), 0);
	CU_ASSERT_EQUAL(epoll_wait(ep, ev, 4, 0), 1);            /* EPOLLOUT */
	CU_ASSERT(ev[0].events & EPOLLOUT);
	CU_ASSERT_PTR_EQUAL(ev[0].data.ptr, c);
	qmp_on_writable(c, 0);
	CU_ASSERT_EQUAL(qmp_epoll_sync(c, ep, c), 0);
	CU_ASSERT_EQUAL(epoll_wait(ep, ev, 4, 0), 0);
	json_t *m = peer_recv(pfd);
	CU_ASSERT_PTR_NOT_NULL(m);
	json_decref(m);
	peer_send(pfd, "{\"event\": \"RESUME\"}\r\n");
	CU_ASSERT_EQUAL(epoll_wait(ep, ev, 4, 100), 1);
	CU_ASSERT(ev[0].events & EPOLLIN);
	qmp_on_readable(c, 0);
	/* reconnect: the new fd is registered again */
	close(pfd);
	qmp_on_readable(c, 0);
	CU_ASSERT_EQUAL(qmp_epoll_sync(c, ep, c), 0);
	qmp_tick(c, qmp_next_deadline(c));
	CU_ASSERT_EQUAL(qmp_epoll_sync(c, ep, c), 0);
	pfd = peer_accept(lfd);
	peer_send(pfd, PEER_GREETING);
	CU_ASSERT_EQUAL(epoll_wait(ep, ev, 4, 1000), 1);
	close(ep);
	finish(c, lfd, pfd);
}

/* An on_demand client connects only on qmp_start, closes with qmp_close
 * (pending commands fail with the given error) and never reconnects by
 * itself; a full backlog is BUSY at once. */
static void test_on_demand(void)
{
	setup();
	int lfd = peer_listen(sock_path);
	struct qmp_config od = cfg;
	od.on_demand = true;
	struct qmp_client *c = qmp_new("t", sock_path, &od, &cbs, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	qmp_tick(c, 10 * USEC_PER_SEC);
	CU_ASSERT_EQUAL(qmp_fd(c), -1);
	CU_ASSERT_EQUAL(qmp_next_deadline(c), UINT64_MAX);
	for (int round = 0; round < 2; round++) {
		usec_t t = (usec_t)(11 + round) * USEC_PER_SEC;
		qmp_start(c, t);
		CU_ASSERT(qmp_fd(c) >= 0);
		int pfd = peer_accept(lfd);
		CU_ASSERT_FATAL(pfd >= 0);
		CU_ASSERT_EQUAL_FATAL(peer_handshake(pfd, c, t), 0);
		struct result r = { 0 };
		sent(c, pfd, "query-balloon", NULL, &r, t);
		qmp_close(c, -ETIMEDOUT, t);
		CU_ASSERT_EQUAL(r.called, 1);
		CU_ASSERT_EQUAL(r.err, -ETIMEDOUT);
		CU_ASSERT_EQUAL(qmp_get_state(c), QMP_DISCONNECTED);
		CU_ASSERT_EQUAL(qmp_fd(c), -1);
		char x;
		CU_ASSERT_EQUAL(recv(pfd, &x, 1, 0), 0);  /* the peer sees the close */
		close(pfd);
		qmp_tick(c, t + 60 * USEC_PER_SEC);       /* no reconnect of its own */
		CU_ASSERT_EQUAL(qmp_fd(c), -1);
		CU_ASSERT_EQUAL(qmp_next_deadline(c), UINT64_MAX);
		qmp_close(c, -ETIMEDOUT, t);              /* nothing open: nothing */
	}
	CU_ASSERT_EQUAL(qmp_connects(c), 2);
	close(lfd);
	unlink(sock_path);

	/* a listener with a full backlog (one connection waiting) */
	int l0 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	CU_ASSERT_FATAL(strlen(sock_path) < sizeof sa.sun_path);
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	CU_ASSERT_FATAL(bind(l0, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(l0, 0) == 0);
	int w = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(connect(w, (struct sockaddr *)&sa, sizeof sa) == 0);
	n_states = 0;
	qmp_start(c, 100 * USEC_PER_SEC);
	CU_ASSERT_EQUAL(qmp_get_state(c), QMP_BUSY);
	CU_ASSERT_EQUAL(qmp_fd(c), -1);
	CU_ASSERT(strstr(qmp_last_error(c), "busy") != NULL);
	CU_ASSERT_EQUAL(n_states, 1);
	qmp_tick(c, 200 * USEC_PER_SEC);
	CU_ASSERT_EQUAL(qmp_fd(c), -1);
	close(w);
	qmp_free(c);
	close(l0);
	teardown();
}

static const struct ksmd_test tests[] = {
	{ "happy path, events interleaved, split reply", test_happy_path_and_events },
	{ "malformed, no id, unknown id, error reply", test_bad_input_survives },
	{ "request timeout and late reply", test_timeout },
	{ "close mid-reply fails pending, reconnects", test_close_mid_reply },
	{ "line over 1 MiB cap: reconnect", test_huge_line },
	{ "busy monitor detected by greeting timeout", test_busy_monitor },
	{ "connect refused: exponential backoff", test_refused_backoff },
	{ "socketpair client: cancel on free, closed on EOF", test_socketpair_and_cancel },
	{ "epoll registration follows fd and EPOLLOUT", test_epoll_sync },
	{ "on demand: no reconnect, close, full backlog busy", test_on_demand },
	{ NULL, NULL },
};

int main(void)
{
	KSMD_TEST_INIT();
	ksmd_add_suite("qmp", tests);
	return ksmd_run_tests();
}
