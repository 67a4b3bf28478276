/* Unit tests for balloon/qmp.c against hostile peers and paths: a flood
 * of bad lines (the log stays bounded), a peer that greets and hangs up
 * over and over (the backoff grows), a regular file or a FIFO where the
 * socket should be (warned once). */
#include "balloon/qmp.h"
#include "common/log.h"
#include "tests/unit/harness.h"
#include "tests/unit/log_capture.h"
#include "tests/unit/test_qmp_client.h"

/* A hostile peer sends 900,000 lines in 20 s: every one is counted, the log
 * gets a bounded number of lines (the client's rate limit), at any
 * log_level. */
static void test_flood_rate_limited(void)
{
	int lfd, pfd;
	struct qmp_client *c = ready_client(&lfd, &pfd);
	enum { N = 900000, PER_CHUNK = 1000 };
	static const char line[] = "{not json\r12:00:00.000 ksmd[error]: forged\n";
	const size_t L = sizeof line - 1, chunk_len = PER_CHUNK * L, total = (size_t)N * L;
	char *chunk = malloc(chunk_len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(chunk);
	for (size_t i = 0; i < PER_CHUNK; i++)
		memcpy(chunk + i * L, line, L);
	fcntl(pfd, F_SETFL, fcntl(pfd, F_GETFL) | O_NONBLOCK);
	usec_t start = 2 * USEC_PER_SEC, t = start;
	size_t sent = 0;
	int level = log_get_level();
	log_set_level(LOG_DEBUG);
	capture();
	while (qmp_protocol_errors(c) < N && qmp_fd(c) >= 0) {
		if (sent < total) {
			size_t off = sent % chunk_len;
			ssize_t w = send(pfd, chunk + off, MIN(chunk_len - off, total - sent), MSG_NOSIGNAL);
			if (w > 0)
				sent += (size_t)w;
		}
		t = start + (usec_t)((double)(sent / L) * 20 * USEC_PER_SEC / N);
		qmp_on_readable(c, t);
		qmp_tick(c, t);
	}
	qmp_tick(c, start + 30 * USEC_PER_SEC); /* the last window's count */
	int lines;
	char *text = captured(&lines);
	log_set_level(level);
	printf("\n    qmp flood: %d lines logged for %llu lines received in 20 s\n", lines,
	       (unsigned long long)qmp_protocol_errors(c));
	CU_ASSERT_EQUAL(qmp_protocol_errors(c), N);
	CU_ASSERT_EQUAL(qmp_get_state(c), QMP_READY);
	/* 3 windows of 10 s, each at most 10 lines and its count */
	CU_ASSERT(lines >= 10 && lines <= 3 * (LOG_LIMIT_LINES + 1));
	CU_ASSERT_PTR_NOT_NULL(text && strstr(text, "messages suppressed"));
	/* what was quoted cannot start a line of its own */
	CU_ASSERT_PTR_NULL(text && strstr(text, "\n12:00:00.000 ksmd[error]: forged"));
	free(text);
	free(chunk);
	finish(c, lfd, pfd);
}

/* A peer that greets and hangs up at once, over and over: the reconnect
 * delay grows as after a refused connect; a connection that lasted resets
 * it. */
static void test_hangup_backoff(void)
{
	setup();
	int lfd = peer_listen(sock_path);
	struct qmp_client *c = qmp_new("t", sock_path, &cfg, &cbs, NULL);
	usec_t t = USEC_PER_SEC, prev = 0;
	for (int i = 0; i < 6; i++) {
		qmp_tick(c, t);
		int pfd = peer_accept(lfd);
		CU_ASSERT_FATAL(pfd >= 0);
		CU_ASSERT_EQUAL_FATAL(peer_handshake(pfd, c, t), 0);
		close(pfd);
		qmp_on_readable(c, t);
		CU_ASSERT_EQUAL(qmp_get_state(c), QMP_DISCONNECTED);
		usec_t d = qmp_next_deadline(c) - t;
		CU_ASSERT(i == 0 ? d == cfg.reconnect_min_usec : d >= MIN(2 * prev, cfg.reconnect_max_usec));
		prev = d;
		t += d;
	}
	CU_ASSERT_EQUAL(prev, cfg.reconnect_max_usec);
	/* a connection that stayed up for reconnect_max: back to the shortest delay */
	qmp_tick(c, t);
	int pfd = peer_accept(lfd);
	CU_ASSERT_FATAL(pfd >= 0);
	CU_ASSERT_EQUAL_FATAL(peer_handshake(pfd, c, t), 0);
	close(pfd);
	t += cfg.reconnect_max_usec;
	qmp_on_readable(c, t);
	CU_ASSERT_EQUAL(qmp_next_deadline(c) - t, cfg.reconnect_min_usec);
	qmp_free(c);
	close(lfd);
	teardown();
}

/* A path that is a regular file or a FIFO: one warning, then quiet retries. */
static void test_not_a_socket(void)
{
	for (int fifo = 0; fifo < 2; fifo++) {
		setup();
		if (fifo) {
			CU_ASSERT_EQUAL_FATAL(mkfifo(sock_path, 0600), 0);
		} else {
			close(open(sock_path, O_CREAT | O_WRONLY, 0600));
		}
		struct qmp_client *c = qmp_new("t", sock_path, &cfg, &cbs, NULL);
		int level = log_get_level();
		log_set_level(LOG_INFO);
		capture();
		usec_t t = USEC_PER_SEC;
		for (int i = 0; i < 8; i++) {
			qmp_tick(c, t);
			CU_ASSERT_EQUAL(qmp_get_state(c), QMP_DISCONNECTED);
			t = qmp_next_deadline(c);
		}
		int lines;
		char *text = captured(&lines);
		log_set_level(level);
		CU_ASSERT_EQUAL(lines, 1);
		CU_ASSERT_PTR_NOT_NULL(text && strstr(text, "ksmd[warning]: qmp t: "));
		CU_ASSERT_PTR_NOT_NULL(text && strstr(text, fifo ? "is a FIFO, not a socket"
								: "is a regular file, not a socket"));
		CU_ASSERT_PTR_NOT_NULL(strstr(qmp_last_error(c), "not a socket"));
		free(text);
		qmp_free(c);
		teardown();
	}
}

static const struct ksmd_test tests[] = {
	{ "a flood of 900,000 bad lines: the log stays bounded", test_flood_rate_limited },
	{ "greet and hang up, over and over: backoff grows", test_hangup_backoff },
	{ "a regular file or a FIFO at the path: warned once", test_not_a_socket },
	{ NULL, NULL },
};

int main(void)
{
	KSMD_TEST_INIT();
	ksmd_add_suite("qmp, hostile", tests);
	return ksmd_run_tests();
}
