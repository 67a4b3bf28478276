/* Unit tests for the QMP balloon backend (balloon/qmp_backend.c,
 * qmp_shared.c) end to end against a scripted peer: device lookup,
 * target, BALLOON_CHANGE, no balloon device, QEMU gone, and shared mode
 * (a connection per operation, busy, facts kept). */
#include "balloon/balloon.h"
#include "balloon/internal.h"
#include "tests/unit/harness.h"
#include "tests/unit/test_qmp_peer.h"

#include <sys/epoll.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/un.h>

#define S(x) ((usec_t)(x) * USEC_PER_SEC)

/* ---- QMP backend against a scripted QEMU ---- */

struct peer_script {
	bool no_device;          /* query-balloon / balloon -> DeviceNotActive */
	bool anon;               /* balloon under /machine/peripheral-anon */
	json_int_t actual;
	int n_balloon;           /* `balloon` commands seen */
	json_int_t last_value;
	int n_stats;
	char polling_path[128];
	int n_setup;             /* qom-list and query-memory-size-summary seen */
	bool mute;               /* answer qmp_capabilities only */
};

/* Answer every command the client has written. */
static void serve(int fd, struct balloon *b, struct peer_script *s, usec_t now)
{
	balloon_on_writable(b, now);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 0) <= 0)
			break;
		json_t *m = peer_recv(fd);
		if (!m)
			break;
		const char *ex = json_string_value(json_object_get(m, "execute"));
		json_t *args = json_object_get(m, "arguments");
		json_int_t id = json_integer_value(json_object_get(m, "id"));
		char *ret = NULL;
		const char *path = json_string_value(json_object_get(args, "path"));
		const char *prop = json_string_value(json_object_get(args, "property"));
		if (!strcmp(ex, "qom-list") || !strcmp(ex, "query-memory-size-summary"))
			s->n_setup++;
		if (!strcmp(ex, "qmp_capabilities")) {
			ret = strdup("\"return\": {}");
		} else if (s->mute) {
			json_decref(m);
			continue;
		} else if (!strcmp(ex, "query-balloon") || !strcmp(ex, "balloon")) {
			if (s->no_device) {
				ret = strdup("\"error\": {\"class\": \"DeviceNotActive\", "
					     "\"desc\": \"No balloon device has been activated\"}");
			} else if (!strcmp(ex, "balloon")) {
				s->n_balloon++;
				s->last_value = json_integer_value(json_object_get(args, "value"));
				ret = strdup("\"return\": {}");
			} else {
				(void)!asprintf(&ret, "\"return\": {\"actual\": %lld}", (long long)s->actual);
			}
		} else if (!strcmp(ex, "query-memory-size-summary")) {
			ret = strdup("\"return\": {\"base-memory\": 1073741824, \"plugged-memory\": 0}");
		} else if (!strcmp(ex, "query-memdev")) {
			ret = strdup("\"return\": []");
		} else if (!strcmp(ex, "qom-list")) {
			bool anon = !strcmp(path, "/machine/peripheral-anon");
			if (anon == s->anon)
				ret = strdup("\"return\": [{\"name\": \"type\", \"type\": \"string\"}, "
					     "{\"name\": \"device[0]\", \"type\": \"child<virtio-balloon-pci>\"}, "
					     "{\"name\": \"net0\", \"type\": \"child<virtio-net-pci>\"}]");
			else
				ret = strdup("\"return\": [{\"name\": \"type\", \"type\": \"string\"}]");
		} else if (!strcmp(ex, "qom-set")) {
			snprintf(s->polling_path, sizeof s->polling_path, "%s", path);
			ret = strdup("\"return\": {}");
		} else if (!strcmp(ex, "qom-get") && !strcmp(prop, "guest-stats")) {
			s->n_stats++;
			(void)!asprintf(&ret, "\"return\": {\"stats\": {\"stat-free-memory\": 123456789, "
				 "\"stat-total-memory\": -1}, \"last-update\": %lld}",
				 (long long)(now_realtime_usec() / USEC_PER_SEC));
		} else if (!strcmp(ex, "qom-get") && !strcmp(prop, "deflate-on-oom")) {
			ret = strdup("\"return\": true");
		} else if (!strcmp(ex, "qom-get")) {
			ret = strdup("\"return\": false");
		} else {
			ret = strdup("\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"no\"}");
		}
		char line[1024];
		snprintf(line, sizeof line, "{%s, \"id\": %lld}\r\n", ret, (long long)id);
		free(ret);
		json_decref(m);
		peer_send(fd, line);
	}
	balloon_on_readable(b, now);
}

static int n_ev[4];
static void on_bev(struct balloon *b, enum balloon_event ev, void *ud)
{
	(void)b; (void)ud;
	n_ev[ev]++;
}

static struct balloon *scripted(int *pfd, usec_t now, const struct balloon_config *cfg)
{
	int sv[2];
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	memset(n_ev, 0, sizeof n_ev);
	struct balloon *b = balloon_new_qmp_fd("vm1", sv[0], cfg, on_bev, NULL, now);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	*pfd = sv[1];
	peer_send(sv[1], PEER_GREETING);
	balloon_on_readable(b, now);
	return b;
}

/* Targets in steps: max_step_bytes at a time, down to the floor, the same
 * target never sent twice. */
static void backend_steps(struct balloon *b, int pfd, struct peer_script *s, usec_t t)
{
	struct balloon_info info;
	/* clamp: 100 MiB asked, one step of 256 MiB taken */
	uint64_t sent = 0;
	CU_ASSERT_EQUAL(balloon_set_target(b, 100 * MIB, t, &sent), 0);
	CU_ASSERT_EQUAL(sent, 768 * MIB);
	serve(pfd, b, s, t);
	CU_ASSERT_EQUAL(s->n_balloon, 1);
	CU_ASSERT_EQUAL(s->last_value, 768 * (json_int_t)MIB);
	CU_ASSERT_EQUAL(n_ev[BALLOON_EV_TARGET], 1);
	/* next step stops at the floor */
	CU_ASSERT_EQUAL(balloon_set_target(b, 100 * MIB, t, &sent), 0);
	CU_ASSERT_EQUAL(sent, 512 * MIB);
	serve(pfd, b, s, t);
	CU_ASSERT_EQUAL(s->n_balloon, 2);
	/* the same target again sends nothing */
	CU_ASSERT_EQUAL(balloon_set_target(b, 100 * MIB, t, &sent), 0);
	CU_ASSERT_EQUAL(sent, 512 * MIB);
	CU_ASSERT_EQUAL(balloon_epoll_events(b) & EPOLLOUT, 0);
	serve(pfd, b, s, t);
	CU_ASSERT_EQUAL(s->n_balloon, 2);
	balloon_get_info(b, &info);
	CU_ASSERT_EQUAL(info.targets_sent, 2); /* counted as sent, not as asked */
}

static void test_qmp_backend(void)
{
	struct peer_script s = { .actual = 1073741824 };
	struct balloon_config cfg = { .max_step_bytes = 256 * MIB };
	int pfd;
	usec_t t = S(10);
	struct balloon *b = scripted(&pfd, t, &cfg);
	struct balloon_info info;
	balloon_get_info(b, &info);
	CU_ASSERT_EQUAL(info.state, BALLOON_CONNECTING);
	CU_ASSERT_EQUAL(balloon_set_target(b, 512 * MIB, t, NULL), -EAGAIN);
	for (int i = 0; i < 4; i++)   /* setup takes a few round trips */
		serve(pfd, b, &s, t);
	balloon_get_info(b, &info);
	CU_ASSERT_EQUAL(info.state, BALLOON_READY);
	CU_ASSERT_EQUAL(info.actual_bytes, 1 * GIB);
	CU_ASSERT_EQUAL(info.limits.max_bytes, 1 * GIB);
	CU_ASSERT_EQUAL(info.limits.min_bytes, 512 * MIB);
	CU_ASSERT_EQUAL(info.pid, getpid());
	CU_ASSERT_STRING_EQUAL(s.polling_path, "/machine/peripheral/device[0]");
	CU_ASSERT(info.caps & BALLOON_CAP_STATS);
	CU_ASSERT(info.caps & BALLOON_CAP_DEFLATE_ON_OOM);
	CU_ASSERT_FALSE(info.caps & BALLOON_CAP_FREE_PAGE_REPORTING);
	CU_ASSERT(info.stats.valid_mask & (1u << BALLOON_STAT_FREE));
	CU_ASSERT_FALSE(info.stats.valid_mask & (1u << BALLOON_STAT_TOTAL));
	CU_ASSERT_EQUAL(info.stats.value[BALLOON_STAT_FREE], 123456789);
	CU_ASSERT(n_ev[BALLOON_EV_STATS] >= 1);

	backend_steps(b, pfd, &s, t);
	/* BALLOON_CHANGE moves actual */
	peer_send(pfd, "{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 536870912}, "
		       "\"timestamp\": {\"seconds\": 1, \"microseconds\": 0}}\r\n");
	balloon_on_readable(b, t + S(1));
	balloon_get_info(b, &info);
	CU_ASSERT_EQUAL(info.actual_bytes, 512 * MIB);
	CU_ASSERT_TRUE(info.progress.reached);
	/* override: refused below the floor, taken as is otherwise */
	char err[160];
	CU_ASSERT_EQUAL(balloon_override(b, 300 * MIB, t, err, sizeof err), -ERANGE);
	CU_ASSERT(strstr(err, "floor") != NULL);
	CU_ASSERT_EQUAL(balloon_override(b, 1 * GIB, t, err, sizeof err), 0);
	serve(pfd, b, &s, t);
	CU_ASSERT_EQUAL(s.last_value, 1 * (json_int_t)GIB);
	balloon_get_info(b, &info);
	CU_ASSERT_EQUAL(info.targets_sent, 3); /* the refused override is not counted */
	/* periodic refresh polls stats every interval */
	int before = s.n_stats;
	balloon_tick(b, t + S(3));
	serve(pfd, b, &s, t + S(3));
	balloon_tick(b, t + S(6));
	serve(pfd, b, &s, t + S(6));
	CU_ASSERT_EQUAL(s.n_stats, before + 2);
	/* QEMU dies with a command in flight */
	CU_ASSERT_EQUAL(balloon_set_target(b, 900 * MIB, t + S(7), NULL), 0);
	close(pfd);
	balloon_on_writable(b, t + S(7));
	balloon_on_readable(b, t + S(7));
	balloon_get_info(b, &info);
	CU_ASSERT_EQUAL(info.state, BALLOON_GONE);
	CU_ASSERT_EQUAL(info.pending, 0);
	CU_ASSERT_EQUAL(info.actual_bytes, 0);
	CU_ASSERT_EQUAL(balloon_set_target(b, 900 * MIB, t + S(8), NULL), -EAGAIN);
	balloon_free(b);
}

static void test_qmp_no_device_and_anon(void)
{
	struct peer_script s = { .actual = 1073741824, .no_device = true };
	int pfd;
	struct balloon *b = scripted(&pfd, S(1), NULL);
	for (int i = 0; i < 3; i++)
		serve(pfd, b, &s, S(1));
	struct balloon_info info;
	balloon_get_info(b, &info);
	CU_ASSERT_EQUAL(info.state, BALLOON_NO_DEVICE);
	CU_ASSERT(strstr(info.reason, "DeviceNotActive") != NULL);
	CU_ASSERT_EQUAL(balloon_set_target(b, 600 * MIB, S(2), NULL), -EAGAIN);
	balloon_free(b);
	close(pfd);

	struct peer_script s2 = { .actual = 1073741824, .anon = true };
	b = scripted(&pfd, S(1), NULL);
	for (int i = 0; i < 4; i++)
		serve(pfd, b, &s2, S(1));
	balloon_get_info(b, &info);
	CU_ASSERT_EQUAL(info.state, BALLOON_READY);
	CU_ASSERT_STRING_EQUAL(s2.polling_path, "/machine/peripheral-anon/device[0]");
	/* a pending command is cancelled cleanly on free */
	CU_ASSERT_EQUAL(balloon_set_target(b, 600 * MIB, S(2), NULL), 0);
	balloon_free(b);
	close(pfd);
}

/* ---- QMP shared mode: a connection per operation ---- */

/* Is a connection waiting to be accepted? (a UNIX connect is immediate) */
static bool connection_waits(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	return poll(&p, 1, 0) > 0;
}

/* Serve the connection the balloon just opened: accept it, greet, answer
 * until the balloon closes it. Returns the commands' count seen on it by
 * kind in *s, 0 when the balloon closed it and the peer saw the close. */
static int shared_op(struct balloon *b, int lfd, struct peer_script *s, usec_t now)
{
	if (balloon_fd(b) < 0)
		return -1;
	int pfd = peer_accept(lfd);
	if (pfd < 0)
		return -1;
	peer_send(pfd, PEER_GREETING);
	balloon_on_readable(b, now);
	for (int i = 0; i < 8 && balloon_fd(b) >= 0; i++)
		serve(pfd, b, s, now);
	char x;
	int r = balloon_fd(b) < 0 && recv(pfd, &x, 1, 0) == 0 ? 0 : -1;
	close(pfd);
	return r;
}

/* A tick at now leaves the balloon busy for `why`, holding nothing. */
static void expect_busy(struct balloon *b, usec_t now, const char *why, struct balloon_info *info)
{
	balloon_tick(b, now);
	balloon_get_info(b, info);
	CU_ASSERT_EQUAL(info->state, BALLOON_BUSY);
	CU_ASSERT(strstr(info->reason, why) != NULL);
	CU_ASSERT_EQUAL(balloon_fd(b), -1);
	CU_ASSERT_EQUAL(info->pending, 0);
}

/* One balloon in shared mode against a listening peer, and the time the
 * test has reached: test_qmp_shared's phases run on it in order. */
struct shared_run {
	int lfd;
	char path[128];
	struct peer_script s;
	struct balloon *b;
	struct balloon_info info;
	usec_t t;
};

/* The stats refresh: a connection per interval, closed at once; what is
 * learned once (QOM path, max, caps) is kept. */
static void shared_refresh(struct shared_run *r)
{
	/* the first refresh: one connection learns the guest, then closes */
	CU_ASSERT_EQUAL(balloon_fd(r->b), -1);
	balloon_tick(r->b, r->t);
	CU_ASSERT_EQUAL(shared_op(r->b, r->lfd, &r->s, r->t), 0);
	balloon_get_info(r->b, &r->info);
	CU_ASSERT_EQUAL(r->info.state, BALLOON_READY);
	CU_ASSERT_EQUAL(r->info.actual_bytes, 1 * GIB);
	CU_ASSERT_EQUAL(r->info.limits.max_bytes, 1 * GIB);
	CU_ASSERT_EQUAL(r->info.pid, getpid());
	CU_ASSERT(r->info.caps & BALLOON_CAP_DEFLATE_ON_OOM);
	CU_ASSERT_EQUAL(r->info.stats.value[BALLOON_STAT_FREE], 123456789);
	CU_ASSERT_STRING_EQUAL(r->s.polling_path, "/machine/peripheral/device[0]");
	CU_ASSERT_EQUAL(r->s.n_setup, 2);
	CU_ASSERT_EQUAL(r->s.n_stats, 1);
	CU_ASSERT_EQUAL(r->info.pending, 0);

	/* nothing held and nothing opened before the next interval */
	balloon_tick(r->b, r->t + S(1));
	CU_ASSERT_EQUAL(balloon_fd(r->b), -1);
	CU_ASSERT_FALSE(connection_waits(r->lfd));

	/* the next refresh: a fresh connection, actual and stats only */
	r->s.actual = 900 * (json_int_t)MIB;
	r->t += S(2);
	balloon_tick(r->b, r->t);
	CU_ASSERT_EQUAL(shared_op(r->b, r->lfd, &r->s, r->t), 0);
	balloon_get_info(r->b, &r->info);
	CU_ASSERT_EQUAL(r->info.actual_bytes, 900 * MIB);
	CU_ASSERT_EQUAL(r->s.n_setup, 2);  /* QOM path, max, caps: kept */
	CU_ASSERT_EQUAL(r->s.n_stats, 2);
	CU_ASSERT_EQUAL(r->info.limits.max_bytes, 1 * GIB);
	CU_ASSERT(r->info.caps & BALLOON_CAP_DEFLATE_ON_OOM);
}

/* A target opens a connection of its own, or rides on the refresh's. */
static void shared_targets(struct shared_run *r)
{
	/* set_target while nothing is open opens a connection for it */
	uint64_t sent = 0;
	CU_ASSERT_EQUAL(balloon_set_target(r->b, 768 * MIB, r->t + S(1), &sent), 0);
	CU_ASSERT_EQUAL(sent, 768 * MIB);
	CU_ASSERT(balloon_fd(r->b) >= 0);
	CU_ASSERT_EQUAL(shared_op(r->b, r->lfd, &r->s, r->t + S(1)), 0);
	CU_ASSERT_EQUAL(r->s.n_balloon, 1);
	CU_ASSERT_EQUAL(r->s.last_value, 768 * (json_int_t)MIB);
	CU_ASSERT_EQUAL(n_ev[BALLOON_EV_TARGET], 1);
	CU_ASSERT_EQUAL(r->s.n_stats, 2);  /* only the `balloon` command on it */
	balloon_get_info(r->b, &r->info);
	CU_ASSERT_EQUAL(r->info.target_bytes, 768 * MIB);
	CU_ASSERT_EQUAL(r->s.n_setup, 2);

	/* a set_target while a refresh connection waits for its greeting goes
	 * on the same connection */
	r->t += S(2);
	balloon_tick(r->b, r->t);
	CU_ASSERT(balloon_fd(r->b) >= 0);
	CU_ASSERT_EQUAL(balloon_set_target(r->b, 700 * MIB, r->t, NULL), 0);
	CU_ASSERT_EQUAL(shared_op(r->b, r->lfd, &r->s, r->t), 0);
	CU_ASSERT_EQUAL(r->s.n_balloon, 2);
	CU_ASSERT_EQUAL(r->s.last_value, 700 * (json_int_t)MIB);
	CU_ASSERT_EQUAL(r->s.n_stats, 3);
	CU_ASSERT_FALSE(connection_waits(r->lfd));  /* one connection for both */
}

/* Another client holds the monitor: busy, last known values kept, no
 * retry before the next interval. */
static void shared_busy(struct shared_run *r)
{
	/* busy: another client holds the monitor, no greeting comes */
	int state_events = n_ev[BALLOON_EV_STATE];
	r->t += S(2);
	balloon_tick(r->b, r->t);
	int pfd = peer_accept(r->lfd);
	CU_ASSERT_FATAL(pfd >= 0);
	balloon_tick(r->b, r->t + S(1));
	CU_ASSERT(balloon_fd(r->b) >= 0);
	expect_busy(r->b, r->t + S(2), "no greeting", &r->info);
	char x;
	CU_ASSERT_EQUAL(recv(pfd, &x, 1, 0), 0);  /* nothing held */
	close(pfd);
	CU_ASSERT_EQUAL(r->info.actual_bytes, 900 * MIB);  /* last known values kept */
	CU_ASSERT_EQUAL(r->info.target_bytes, 700 * MIB);
	CU_ASSERT(r->info.stats.valid_mask & (1u << BALLOON_STAT_FREE));
	CU_ASSERT_EQUAL(r->info.limits.max_bytes, 1 * GIB);
	CU_ASSERT_EQUAL(n_ev[BALLOON_EV_STATE], state_events + 1);
	CU_ASSERT_EQUAL(balloon_set_target(r->b, 600 * MIB, r->t + S(2), NULL), -EAGAIN);
	/* no retry before the next interval */
	balloon_tick(r->b, r->t + S(3));
	CU_ASSERT_EQUAL(balloon_fd(r->b), -1);
	CU_ASSERT_FALSE(connection_waits(r->lfd));
	/* the next interval: ready again, nothing learned again */
	r->t += S(4);
	balloon_tick(r->b, r->t);
	CU_ASSERT_EQUAL(shared_op(r->b, r->lfd, &r->s, r->t), 0);
	balloon_get_info(r->b, &r->info);
	CU_ASSERT_EQUAL(r->info.state, BALLOON_READY);
	CU_ASSERT_STRING_EQUAL(r->info.reason, "");
	CU_ASSERT_EQUAL(r->s.n_setup, 2);
	CU_ASSERT_EQUAL(n_ev[BALLOON_EV_STATE], state_events + 2);
}

/* A refused connect, then a monitor that greets but never answers. */
static void shared_refused_and_mute(struct shared_run *r)
{
	/* refused while its QEMU lives (our pid here): busy, values kept */
	close(r->lfd);
	unlink(r->path);
	r->t += S(2);
	expect_busy(r->b, r->t, "connect", &r->info);
	CU_ASSERT_EQUAL(r->info.actual_bytes, 900 * MIB);
	r->lfd = peer_listen(r->path);
	r->t += S(2);
	balloon_tick(r->b, r->t);
	CU_ASSERT_EQUAL(shared_op(r->b, r->lfd, &r->s, r->t), 0);
	balloon_get_info(r->b, &r->info);
	CU_ASSERT_EQUAL(r->info.state, BALLOON_READY);

	/* a monitor that greets but does not answer: closed at the request
	 * timeout, busy */
	r->s.mute = true;
	r->t += S(2);
	balloon_tick(r->b, r->t);
	CU_ASSERT_EQUAL(shared_op(r->b, r->lfd, &r->s, r->t), -1);  /* still open */
	CU_ASSERT(balloon_fd(r->b) >= 0);
	expect_busy(r->b, r->t + S(5), "did not finish", &r->info);
	r->s.mute = false;
}

static void test_qmp_shared(void)
{
	char dir[] = "/tmp/ksmd-shared-XXXXXX";
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	static struct shared_run r;
	memset(&r, 0, sizeof r);
	snprintf(r.path, sizeof r.path, "%s/qmp.sock", dir);
	r.lfd = peer_listen(r.path);
	r.s.actual = 1073741824;
	struct balloon_config cfg = { .qmp_shared = true, .stats_interval_usec = S(2),
				      .request_timeout_usec = S(5), .greeting_timeout_usec = S(2) };
	memset(n_ev, 0, sizeof n_ev);
	r.b = balloon_new_qmp("vm1", r.path, &cfg, on_bev, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r.b);
	r.t = S(100);
	shared_refresh(&r);
	shared_targets(&r);
	shared_busy(&r);
	shared_refused_and_mute(&r);
	balloon_free(r.b);
	close(r.lfd);
	unlink(r.path);
	rmdir(dir);
}

static const struct ksmd_test tests[] = {
	{ "QMP backend: setup, clamp, events, stats, gone", test_qmp_backend },
	{ "QMP backend: no device, peripheral-anon", test_qmp_no_device_and_anon },
	{ "QMP shared mode: a connection per operation, busy, kept facts", test_qmp_shared },
	{ NULL, NULL },
};

int main(void)
{
	KSMD_TEST_INIT();
	ksmd_add_suite("balloon QMP backend", tests);
	return ksmd_run_tests();
}
