/* Unit tests of daemon/http_sep.c against a hostile HTTP process: this
 * binary, started by http_sep as its child (argv[1] SEP_CHILD_ARG), plays
 * the child the way HOSTILE (environment) says, and the daemon's side must
 * end it, keep nothing it sent, and never block:
 *   ok      answers each snapshot with growing counters (the control case)
 *   big     answers with a packet longer than the counters
 *   shrink  answers once, then with a counter smaller than before
 *   fd      answers with a descriptor attached (dropped: the daemon reads
 *           no control data), otherwise correctly
 *   mute    never answers (the daemon must not wait for it) */
#include "daemon/http_sep.h"
#include "stats/sep_wire.h"
#include "stats/stats.h"
#include "tests/unit/harness.h"
#include "tests/unit/test_stats_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static void hostile_child(const char *mode)
{
	uint64_t n = 0;
	for (;;) {
		struct sep_hdr h;
		char cbuf[CMSG_SPACE(sizeof(int) * 4)];
		struct iovec iov = { .iov_base = &h, .iov_len = sizeof h };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof cbuf };
		ssize_t r = recvmsg(SEP_SOCK_FD, &mh, 0);
		if (r <= 0)
			_exit(0);
		if (h.type != SEP_SNAPSHOT || !strcmp(mode, "mute"))
			continue;
		struct {
			struct sep_counters c;
			char more[64];
		} m = { .c = { .h = { .type = SEP_COUNTERS, .seq = h.seq } } };
		n++;
		m.c.count[0] = !strcmp(mode, "shrink") && n > 1 ? 0 : n * 5;
		size_t len = !strcmp(mode, "big") ? sizeof m : sizeof m.c;
		int fd = !strcmp(mode, "fd") ? open("/dev/null", O_RDONLY) : -1;
		if (sep_send(SEP_SOCK_FD, &m, len, fd) < 0)
			_exit(0);
	}
}

static unsigned open_fds(void)
{
	unsigned n = 0;
	DIR *d = opendir("/proc/self/fd");
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static struct http_sep *sep;

static void tick(struct loop *l, int fd, uint32_t events, void *data)
{
	(void)l, (void)events, (void)data;
	if (!loop_timer_fired(fd))
		return;
	json_t *s = stats_fixture(2, false);
	http_sep_publish(sep, s);
	json_decref(s);
}

static void quit(struct loop *l, int fd, uint32_t events, void *data)
{
	(void)events, (void)data;
	if (loop_timer_fired(fd))
		loop_quit(l);
}

/* Run a child playing mode for seconds, publishing every 100 ms; the
 * children lost, and the daemon's /v1/stats counter. */
static unsigned run(const char *mode, double seconds, uint64_t *count)
{
	setenv("HOSTILE", mode, 1);
	struct loop *l = loop_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_EQUAL_FATAL(http_sep_start(l, "127.0.0.1:0", "", &sep), 0);
	int t1 = loop_add_timer(l, 100 * USEC_PER_MSEC, tick, NULL);
	int t2 = loop_add_timer(l, (usec_t)(seconds * USEC_PER_SEC), quit, NULL);
	loop_run(l);
	unsigned lost = http_sep_losses(sep);
	uint64_t c[STATS_HTTP_COUNTS_MAX];
	stats_http_counters_get(c);
	*count = c[0];
	http_sep_stop(sep);
	sep = NULL;
	loop_del(l, t1);
	loop_del(l, t2);
	close(t1);
	close(t2);
	loop_free(l);
	memset(c, 0, sizeof c);
	stats_http_counters_set(c);
	return lost;
}

static void test_ok(void)
{
	uint64_t count;
	CU_ASSERT_EQUAL(run("ok", 0.8, &count), 0);
	CU_ASSERT_TRUE(count >= 5 && count % 5 == 0); /* its counters became ours */
}

static void test_big(void)
{
	uint64_t count;
	CU_ASSERT_TRUE(run("big", 0.5, &count) >= 1);
	CU_ASSERT_EQUAL(count, 0);
}

static void test_shrink(void)
{
	uint64_t count;
	CU_ASSERT_TRUE(run("shrink", 0.5, &count) >= 1);
	CU_ASSERT_EQUAL(count, 5); /* the first answer, not the shrunk one */
}

static void test_fd(void)
{
	unsigned before = open_fds();
	uint64_t count;
	CU_ASSERT_EQUAL(run("fd", 0.6, &count), 0);
	CU_ASSERT_TRUE(count >= 5);
	CU_ASSERT_EQUAL(open_fds(), before); /* no descriptor came in */
}

static void test_mute(void)
{
	uint64_t count;
	CU_ASSERT_EQUAL(run("mute", 0.6, &count), 0); /* not hung yet (30 s) */
	CU_ASSERT_EQUAL(count, 0);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], SEP_CHILD_ARG)) {
		const char *mode = getenv("HOSTILE");
		hostile_child(mode ? mode : "ok");
	}
	signal(SIGPIPE, SIG_IGN);
	static const struct ksmd_test tests[] = {
		{ "a well-behaved child's counters become the daemon's", test_ok },
		{ "a packet longer than the counters ends the child", test_big },
		{ "counters that shrink end the child", test_shrink },
		{ "a descriptor the child sends is never received", test_fd },
		{ "a child that never answers does not block the daemon", test_mute },
		{ NULL, NULL },
	};
	KSMD_TEST_INIT();
	ksmd_add_suite("http_sep", tests);
	int r = ksmd_run_tests();
	stats_shutdown();
	return r;
}
