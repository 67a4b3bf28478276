/* Unit tests for balloon/: the safety clamp, override validation, the
 * stuck-guest state machine, guest-stats parsing (-1 sentinels, unknown
 * tags, stale last-update), QEMU command-line parsing and discovery over a
 * made-up /proc, and the QMP backend end to end against a scripted peer
 * (device lookup, target, BALLOON_CHANGE, no balloon device, QEMU gone). */
#include "balloon/balloon.h"
#include "balloon/internal.h"
#include "tests/unit/harness.h"
#include "tests/unit/test_qmp_peer.h"

#include <sys/epoll.h>
#include <sys/stat.h>

/* ---- clamp, limits, override ---- */

static void test_limits_and_clamp(void)
{
	struct balloon_limits l = { .max_bytes = 1 * GIB };
	balloon_limits_default(&l, 0);
	CU_ASSERT_EQUAL(l.min_bytes, 512 * MIB);
	struct balloon_limits l2 = { .max_bytes = 1 * GIB };
	balloon_limits_default(&l2, 25);
	CU_ASSERT_EQUAL(l2.min_bytes, 256 * MIB);
	struct balloon_limits l3 = { .max_bytes = 1 * GIB, .min_bytes = 2 * GIB };
	balloon_limits_default(&l3, 0);
	CU_ASSERT_EQUAL(l3.min_bytes, 1 * GIB);

	l.max_step_bytes = 64 * MIB;
	/* step bound both ways */
	CU_ASSERT_EQUAL(balloon_clamp_target(600 * MIB, 1 * GIB, &l), 1 * GIB - 64 * MIB);
	CU_ASSERT_EQUAL(balloon_clamp_target(1 * GIB, 700 * MIB, &l), 764 * MIB);
	CU_ASSERT_EQUAL(balloon_clamp_target(990 * MIB, 1 * GIB, &l), 990 * MIB);
	/* floor and max win */
	CU_ASSERT_EQUAL(balloon_clamp_target(100 * MIB, 540 * MIB, &l), 512 * MIB);
	CU_ASSERT_EQUAL(balloon_clamp_target(2 * GIB, 1 * GIB, &l), 1 * GIB);
	CU_ASSERT_EQUAL(balloon_clamp_target(300 * MIB, 300 * MIB, &l), 512 * MIB);
	l.max_step_bytes = 0;
	CU_ASSERT_EQUAL(balloon_clamp_target(600 * MIB, 1 * GIB, &l), 600 * MIB);
	CU_ASSERT_EQUAL(balloon_clamp_target(0, 1 * GIB, &l), 512 * MIB);
	CU_ASSERT_EQUAL(balloon_clamp_target(UINT64_MAX, 1 * GIB, &l), 1 * GIB);
}

static void test_override(void)
{
	struct balloon_limits l = { .min_bytes = 256 * MIB, .max_bytes = 1 * GIB };
	char err[160];
	CU_ASSERT_EQUAL(balloon_validate_override("web1", 100 * MIB, &l, err, sizeof err), -ERANGE);
	CU_ASSERT_STRING_EQUAL(err, "guest web1: 100 MiB is below its floor (min 256 MiB)");
	CU_ASSERT_EQUAL(balloon_validate_override("web1", 2 * GIB, &l, err, sizeof err), -ERANGE);
	CU_ASSERT_STRING_EQUAL(err, "guest web1: 2 GiB is above its maximum (max 1 GiB)");
	CU_ASSERT_EQUAL(balloon_validate_override("web1", 512 * MIB, &l, err, sizeof err), 0);
	CU_ASSERT_EQUAL(balloon_validate_override("web1", 256 * MIB, &l, err, sizeof err), 0);
	CU_ASSERT_EQUAL(balloon_validate_override("web1", 1 * GIB, &l, err, sizeof err), 0);
	enum balloon_on_exit m;
	CU_ASSERT_EQUAL(balloon_parse_on_exit("keep", &m), 0); CU_ASSERT_EQUAL(m, BALLOON_EXIT_KEEP);
	CU_ASSERT_EQUAL(balloon_parse_on_exit("restore", &m), 0); CU_ASSERT_EQUAL(m, BALLOON_EXIT_RESTORE);
	CU_ASSERT_EQUAL(balloon_parse_on_exit("maybe", &m), -EINVAL);
	CU_ASSERT_EQUAL(balloon_exit_all(NULL, 0, BALLOON_EXIT_KEEP, 0), 0);
}

/* ---- stuck-guest state machine ---- */

#define S(x) ((usec_t)(x) * USEC_PER_SEC)

static void test_progress_stuck(void)
{
	struct balloon_progress_config cfg = { 0 };
	balloon_progress_config_default(&cfg);
	struct balloon_progress p = { 0 };
	uint64_t tgt = 512 * MIB;
	balloon_progress_update(&p, &cfg, tgt, 1024 * MIB, S(100));
	CU_ASSERT_FALSE(p.stuck); CU_ASSERT_FALSE(p.reached);
	/* moves for a while */
	balloon_progress_update(&p, &cfg, tgt, 900 * MIB, S(101));
	balloon_progress_update(&p, &cfg, tgt, 800 * MIB, S(102));
	/* then sits; less than min_progress is no progress */
	balloon_progress_update(&p, &cfg, tgt, 800 * MIB - 1000, S(105));
	CU_ASSERT_FALSE(p.stuck);
	balloon_progress_update(&p, &cfg, tgt, 800 * MIB, S(106) + 999999);
	CU_ASSERT_FALSE(p.stuck);
	balloon_progress_update(&p, &cfg, tgt, 800 * MIB, S(107));
	CU_ASSERT_TRUE(p.stuck); CU_ASSERT_FALSE(p.uncooperative);
	balloon_progress_update(&p, &cfg, tgt, 800 * MIB, S(121));
	CU_ASSERT_TRUE(p.stuck); CU_ASSERT_FALSE(p.uncooperative);
	balloon_progress_update(&p, &cfg, tgt, 800 * MIB, S(122));
	CU_ASSERT_TRUE(p.uncooperative);
	/* a new target clears stuck, not the flag */
	balloon_progress_update(&p, &cfg, 600 * MIB, 800 * MIB, S(123));
	CU_ASSERT_FALSE(p.stuck); CU_ASSERT_TRUE(p.uncooperative);
	/* one step of progress does not clear it */
	balloon_progress_update(&p, &cfg, 600 * MIB, 790 * MIB, S(124));
	CU_ASSERT_FALSE(p.stuck); CU_ASSERT_TRUE(p.uncooperative);
	/* a stall breaks the run */
	balloon_progress_update(&p, &cfg, 600 * MIB, 790 * MIB, S(130));
	CU_ASSERT_TRUE(p.stuck); CU_ASSERT_TRUE(p.uncooperative);
	CU_ASSERT_EQUAL(p.progress_run_usec, 0);
	/* sustained progress: 10 s without a 5 s stall */
	uint64_t a = 790 * MIB;
	for (int s = 131; s <= 141; s++) {
		a -= 10 * MIB;
		balloon_progress_update(&p, &cfg, 600 * MIB, a, S(s));
		CU_ASSERT_FALSE(p.stuck);
		if (s < 141)
			CU_ASSERT_TRUE(p.uncooperative);
	}
	CU_ASSERT_FALSE(p.uncooperative);
}

static void test_progress_reached(void)
{
	struct balloon_progress_config cfg = { 0 };
	balloon_progress_config_default(&cfg);
	struct balloon_progress p = { 0 };
	balloon_progress_update(&p, &cfg, 512 * MIB, 512 * MIB, S(1));
	CU_ASSERT_TRUE(p.reached);
	/* holding the target for a long time is not stuck */
	balloon_progress_update(&p, &cfg, 512 * MIB, 512 * MIB + 4096, S(60));
	CU_ASSERT_TRUE(p.reached); CU_ASSERT_FALSE(p.stuck); CU_ASSERT_FALSE(p.uncooperative);
	/* growing back (deflate) counts as progress toward a higher target */
	balloon_progress_update(&p, &cfg, 1 * GIB, 512 * MIB, S(61));
	balloon_progress_update(&p, &cfg, 1 * GIB, 700 * MIB, S(62));
	balloon_progress_update(&p, &cfg, 1 * GIB, 1 * GIB, S(63));
	CU_ASSERT_TRUE(p.reached); CU_ASSERT_FALSE(p.stuck);
	/* a flagged guest that keeps reaching small targets for 10 s clears */
	struct balloon_progress q = { 0 };
	balloon_progress_update(&q, &cfg, 512 * MIB, 1 * GIB, S(0) + 1);
	balloon_progress_update(&q, &cfg, 512 * MIB, 1 * GIB, S(21));
	CU_ASSERT_TRUE(q.uncooperative);
	uint64_t t = 1 * GIB;
	for (int s = 22; s <= 34; s += 2) {
		t -= 16 * MIB;
		balloon_progress_update(&q, &cfg, t, t + 16 * MIB, S(s));
		balloon_progress_update(&q, &cfg, t, t, S(s + 1));
		CU_ASSERT_TRUE(q.reached);
	}
	CU_ASSERT_FALSE(q.uncooperative);
}

/* ---- guest-stats parsing ---- */

static void test_guest_stats(void)
{
	const char *js = "{\"stats\": {\"stat-swap-out\": 0, \"stat-available-memory\": 300000000,"
			 " \"stat-free-memory\": 200000000, \"stat-minor-faults\": 5000,"
			 " \"stat-major-faults\": 12, \"stat-total-memory\": 500000000,"
			 " \"stat-swap-in\": -1, \"stat-disk-caches\": 50000000,"
			 " \"stat-htlb-pgalloc\": -1, \"stat-htlb-pgfail\": 0,"
			 " \"stat-direct-scans\": 77}, \"last-update\": 1000}";
	json_t *j = json_loads(js, 0, NULL);
	struct balloon_stats st;
	usec_t mono = S(5000), real = S(1004);
	CU_ASSERT_EQUAL(balloon_parse_guest_stats(j, mono, real, &st), 0);
	CU_ASSERT(st.valid_mask & (1u << BALLOON_STAT_FREE));
	CU_ASSERT_EQUAL(st.value[BALLOON_STAT_FREE], 200000000);
	CU_ASSERT_EQUAL(st.value[BALLOON_STAT_AVAILABLE], 300000000);
	CU_ASSERT_EQUAL(st.value[BALLOON_STAT_TOTAL], 500000000);
	CU_ASSERT_EQUAL(st.value[BALLOON_STAT_DISK_CACHES], 50000000);
	CU_ASSERT_EQUAL(st.value[BALLOON_STAT_MAJOR_FAULTS], 12);
	CU_ASSERT_FALSE(st.valid_mask & (1u << BALLOON_STAT_SWAP_IN));      /* -1 */
	CU_ASSERT_FALSE(st.valid_mask & (1u << BALLOON_STAT_HTLB_PGALLOC)); /* -1 */
	CU_ASSERT(st.valid_mask & (1u << BALLOON_STAT_SWAP_OUT));
	CU_ASSERT_EQUAL(st.n_extra, 1);
	CU_ASSERT_STRING_EQUAL(st.extra[0].name, "direct-scans");
	CU_ASSERT_EQUAL(st.extra[0].value, 77);
	CU_ASSERT_EQUAL(st.updated_usec, S(4996));   /* 4 s old */
	json_decref(j);
	/* never updated, malformed */
	j = json_loads("{\"stats\": {\"stat-free-memory\": -1}, \"last-update\": 0}", 0, NULL);
	CU_ASSERT_EQUAL(balloon_parse_guest_stats(j, mono, real, &st), -ENODATA);
	json_decref(j);
	j = json_loads("{\"nope\": 1}", 0, NULL);
	CU_ASSERT_EQUAL(balloon_parse_guest_stats(j, mono, real, &st), -EINVAL);
	json_decref(j);
	/* last-update in the future (clock step): age 0, not negative */
	j = json_loads("{\"stats\": {}, \"last-update\": 2000}", 0, NULL);
	CU_ASSERT_EQUAL(balloon_parse_guest_stats(j, mono, real, &st), 0);
	CU_ASSERT_EQUAL(st.updated_usec, mono);
	json_decref(j);
	CU_ASSERT_STRING_EQUAL(balloon_stat_name(BALLOON_STAT_DISK_CACHES), "disk_caches");
}

/* ---- command line and discovery ---- */

static int parse(const char *const *argv, struct qemu_guest *g)
{
	char buf[2048];
	size_t n = 0;
	for (; *argv; argv++) {
		size_t l = strlen(*argv) + 1;
		memcpy(buf + n, *argv, l);
		n += l;
	}
	return balloon_parse_qemu_cmdline(buf, n, g);
}

static void test_cmdline(void)
{
	struct qemu_guest g;
	const char *a1[] = { "qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-name", "web1",
			     "-device", "virtio-balloon-pci,id=balloon0",
			     "-qmp", "unix:/run/q/web1.sock,server=on,wait=off", NULL };
	CU_ASSERT_EQUAL(parse(a1, &g), 0);
	CU_ASSERT_STRING_EQUAL(g.qmp_path, "/run/q/web1.sock");
	CU_ASSERT_STRING_EQUAL(g.name, "web1");
	CU_ASSERT_EQUAL(g.mem_bytes, 512 * MIB);
	CU_ASSERT_TRUE(g.has_balloon);

	const char *a2[] = { "qemu", "--name", "guest=db,debug-threads=on", "-m", "size=2G,slots=2,maxmem=8G",
			     "-chardev", "socket,id=hmp,path=/tmp/hmp.sock,server=on,wait=off",
			     "-mon", "chardev=hmp,mode=readline",
			     "-chardev", "socket,id=charmonitor,path=/var/lib/x,,y/mon.sock,server=on,wait=off",
			     "-mon", "chardev=charmonitor,id=monitor,mode=control", NULL };
	CU_ASSERT_EQUAL(parse(a2, &g), 0);
	CU_ASSERT_STRING_EQUAL(g.qmp_path, "/var/lib/x,y/mon.sock");
	CU_ASSERT_STRING_EQUAL(g.name, "db");
	CU_ASSERT_EQUAL(g.mem_bytes, 2 * GIB);
	CU_ASSERT_FALSE(g.has_balloon);

	const char *a3[] = { "qemu", "-qmp", "tcp:localhost:4444,server=on", "-mon",
			     "chardev=x,mode=control", "-m", "1G", NULL };
	CU_ASSERT_EQUAL(parse(a3, &g), -ENOENT);
	CU_ASSERT_EQUAL(g.mem_bytes, 1 * GIB);
	CU_ASSERT_EQUAL(balloon_parse_qemu_cmdline("", 0, &g), -EINVAL);
	/* truncated final argument without NUL */
	const char trunc[] = "qemu\0-qmp\0unix:/tmp/a.sock";
	CU_ASSERT_EQUAL(balloon_parse_qemu_cmdline(trunc, sizeof trunc - 1, &g), 0);
	CU_ASSERT_STRING_EQUAL(g.qmp_path, "/tmp/a.sock");
}

static void write_at(const char *dir, const char *name, const char *data, size_t len)
{
	char p[256];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fwrite(data, 1, len, f);
	fclose(f);
}

static void test_discover(void)
{
	char root[] = "/tmp/ksmd-proc-XXXXXX";
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(root));
	char d[128];
	snprintf(d, sizeof d, "%s/4242", root); mkdir(d, 0755);
	write_at(d, "comm", "qemu-system-x86\n", 16);
	const char c1[] = "qemu-system-x86_64\0-qmp\0unix:/tmp/g1.sock,server=on,wait=off\0-name\0g1\0";
	write_at(d, "cmdline", c1, sizeof c1 - 1);
	snprintf(d, sizeof d, "%s/4243", root); mkdir(d, 0755);
	write_at(d, "comm", "bash\n", 5);
	write_at(d, "cmdline", c1, sizeof c1 - 1);
	snprintf(d, sizeof d, "%s/4244", root); mkdir(d, 0755);
	write_at(d, "comm", "qemu-system-x86\n", 16);
	const char c2[] = "qemu-system-x86_64\0-m\0256\0";  /* no QMP socket */
	write_at(d, "cmdline", c2, sizeof c2 - 1);
	snprintf(d, sizeof d, "%s/4245", root); mkdir(d, 0755);
	write_at(d, "comm", "qemu-kvm\n", 9);
	const char c3[] = "qemu-kvm\0-qmp\0unix:/tmp/g3.sock\0";
	write_at(d, "cmdline", c3, sizeof c3 - 1);
	snprintf(d, sizeof d, "%s/self", root); mkdir(d, 0755);

	struct qemu_guest *gs = NULL;
	int n = balloon_discover_qemu(root, &gs);
	CU_ASSERT_EQUAL(n, 2);
	int seen = 0;
	for (int i = 0; i < n; i++) {
		if (gs[i].pid == 4242) { seen |= 1; CU_ASSERT_STRING_EQUAL(gs[i].name, "g1"); }
		if (gs[i].pid == 4245) { seen |= 2; CU_ASSERT_STRING_EQUAL(gs[i].name, "qemu-4245");
					 CU_ASSERT_STRING_EQUAL(gs[i].qmp_path, "/tmp/g3.sock"); }
	}
	CU_ASSERT_EQUAL(seen, 3);
	free(gs);
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	CU_ASSERT_EQUAL(system(cmd), 0);
	CU_ASSERT_EQUAL(balloon_discover_qemu("/nonexistent-proc", &gs), -ENOENT);
}

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

	/* clamp: 100 MiB asked, one step of 256 MiB taken */
	uint64_t sent = 0;
	CU_ASSERT_EQUAL(balloon_set_target(b, 100 * MIB, t, &sent), 0);
	CU_ASSERT_EQUAL(sent, 768 * MIB);
	serve(pfd, b, &s, t);
	CU_ASSERT_EQUAL(s.n_balloon, 1);
	CU_ASSERT_EQUAL(s.last_value, 768 * (json_int_t)MIB);
	CU_ASSERT_EQUAL(n_ev[BALLOON_EV_TARGET], 1);
	/* next step stops at the floor */
	CU_ASSERT_EQUAL(balloon_set_target(b, 100 * MIB, t, &sent), 0);
	CU_ASSERT_EQUAL(sent, 512 * MIB);
	serve(pfd, b, &s, t);
	CU_ASSERT_EQUAL(s.n_balloon, 2);
	/* the same target again sends nothing */
	CU_ASSERT_EQUAL(balloon_set_target(b, 100 * MIB, t, &sent), 0);
	CU_ASSERT_EQUAL(sent, 512 * MIB);
	CU_ASSERT_EQUAL(balloon_epoll_events(b) & EPOLLOUT, 0);
	serve(pfd, b, &s, t);
	CU_ASSERT_EQUAL(s.n_balloon, 2);
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

static void test_qmp_shared(void)
{
	char dir[] = "/tmp/ksmd-shared-XXXXXX", path[128];
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/qmp.sock", dir);
	int lfd = peer_listen(path);
	struct peer_script s = { .actual = 1073741824 };
	struct balloon_config cfg = { .qmp_shared = true, .stats_interval_usec = S(2),
				      .request_timeout_usec = S(5), .greeting_timeout_usec = S(2) };
	memset(n_ev, 0, sizeof n_ev);
	struct balloon *b = balloon_new_qmp("vm1", path, &cfg, on_bev, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	struct balloon_info info;
	usec_t t = S(100);

	/* the first refresh: one connection learns the guest, then closes */
	CU_ASSERT_EQUAL(balloon_fd(b), -1);
	balloon_tick(b, t);
	CU_ASSERT_EQUAL(shared_op(b, lfd, &s, t), 0);
	balloon_get_info(b, &info);
	CU_ASSERT_EQUAL(info.state, BALLOON_READY);
	CU_ASSERT_EQUAL(info.actual_bytes, 1 * GIB);
	CU_ASSERT_EQUAL(info.limits.max_bytes, 1 * GIB);
	CU_ASSERT_EQUAL(info.pid, getpid());
	CU_ASSERT(info.caps & BALLOON_CAP_DEFLATE_ON_OOM);
	CU_ASSERT_EQUAL(info.stats.value[BALLOON_STAT_FREE], 123456789);
	CU_ASSERT_STRING_EQUAL(s.polling_path, "/machine/peripheral/device[0]");
	CU_ASSERT_EQUAL(s.n_setup, 2);
	CU_ASSERT_EQUAL(s.n_stats, 1);
	CU_ASSERT_EQUAL(info.pending, 0);

	/* nothing held and nothing opened before the next interval */
	balloon_tick(b, t + S(1));
	CU_ASSERT_EQUAL(balloon_fd(b), -1);
	CU_ASSERT_FALSE(connection_waits(lfd));

	/* the next refresh: a fresh connection, actual and stats only */
	s.actual = 900 * (json_int_t)MIB;
	t += S(2);
	balloon_tick(b, t);
	CU_ASSERT_EQUAL(shared_op(b, lfd, &s, t), 0);
	balloon_get_info(b, &info);
	CU_ASSERT_EQUAL(info.actual_bytes, 900 * MIB);
	CU_ASSERT_EQUAL(s.n_setup, 2);  /* QOM path, max, caps: kept */
	CU_ASSERT_EQUAL(s.n_stats, 2);
	CU_ASSERT_EQUAL(info.limits.max_bytes, 1 * GIB);
	CU_ASSERT(info.caps & BALLOON_CAP_DEFLATE_ON_OOM);

	/* set_target while nothing is open opens a connection for it */
	uint64_t sent = 0;
	CU_ASSERT_EQUAL(balloon_set_target(b, 768 * MIB, t + S(1), &sent), 0);
	CU_ASSERT_EQUAL(sent, 768 * MIB);
	CU_ASSERT(balloon_fd(b) >= 0);
	CU_ASSERT_EQUAL(shared_op(b, lfd, &s, t + S(1)), 0);
	CU_ASSERT_EQUAL(s.n_balloon, 1);
	CU_ASSERT_EQUAL(s.last_value, 768 * (json_int_t)MIB);
	CU_ASSERT_EQUAL(n_ev[BALLOON_EV_TARGET], 1);
	CU_ASSERT_EQUAL(s.n_stats, 2);  /* only the `balloon` command on it */
	balloon_get_info(b, &info);
	CU_ASSERT_EQUAL(info.target_bytes, 768 * MIB);
	CU_ASSERT_EQUAL(s.n_setup, 2);

	/* a set_target while a refresh connection waits for its greeting goes
	 * on the same connection */
	t += S(2);
	balloon_tick(b, t);
	CU_ASSERT(balloon_fd(b) >= 0);
	CU_ASSERT_EQUAL(balloon_set_target(b, 700 * MIB, t, NULL), 0);
	CU_ASSERT_EQUAL(shared_op(b, lfd, &s, t), 0);
	CU_ASSERT_EQUAL(s.n_balloon, 2);
	CU_ASSERT_EQUAL(s.last_value, 700 * (json_int_t)MIB);
	CU_ASSERT_EQUAL(s.n_stats, 3);
	CU_ASSERT_FALSE(connection_waits(lfd));  /* one connection for both */

	/* busy: another client holds the monitor, no greeting comes */
	int state_events = n_ev[BALLOON_EV_STATE];
	t += S(2);
	balloon_tick(b, t);
	int pfd = peer_accept(lfd);
	CU_ASSERT_FATAL(pfd >= 0);
	balloon_tick(b, t + S(1));
	CU_ASSERT(balloon_fd(b) >= 0);
	expect_busy(b, t + S(2), "no greeting", &info);
	char x;
	CU_ASSERT_EQUAL(recv(pfd, &x, 1, 0), 0);  /* nothing held */
	close(pfd);
	CU_ASSERT_EQUAL(info.actual_bytes, 900 * MIB);  /* last known values kept */
	CU_ASSERT_EQUAL(info.target_bytes, 700 * MIB);
	CU_ASSERT(info.stats.valid_mask & (1u << BALLOON_STAT_FREE));
	CU_ASSERT_EQUAL(info.limits.max_bytes, 1 * GIB);
	CU_ASSERT_EQUAL(n_ev[BALLOON_EV_STATE], state_events + 1);
	CU_ASSERT_EQUAL(balloon_set_target(b, 600 * MIB, t + S(2), NULL), -EAGAIN);
	/* no retry before the next interval */
	balloon_tick(b, t + S(3));
	CU_ASSERT_EQUAL(balloon_fd(b), -1);
	CU_ASSERT_FALSE(connection_waits(lfd));
	/* the next interval: ready again, nothing learned again */
	t += S(4);
	balloon_tick(b, t);
	CU_ASSERT_EQUAL(shared_op(b, lfd, &s, t), 0);
	balloon_get_info(b, &info);
	CU_ASSERT_EQUAL(info.state, BALLOON_READY);
	CU_ASSERT_STRING_EQUAL(info.reason, "");
	CU_ASSERT_EQUAL(s.n_setup, 2);
	CU_ASSERT_EQUAL(n_ev[BALLOON_EV_STATE], state_events + 2);

	/* refused while its QEMU lives (our pid here): busy, values kept */
	close(lfd);
	unlink(path);
	t += S(2);
	expect_busy(b, t, "connect", &info);
	CU_ASSERT_EQUAL(info.actual_bytes, 900 * MIB);
	lfd = peer_listen(path);
	t += S(2);
	balloon_tick(b, t);
	CU_ASSERT_EQUAL(shared_op(b, lfd, &s, t), 0);
	balloon_get_info(b, &info);
	CU_ASSERT_EQUAL(info.state, BALLOON_READY);

	/* a monitor that greets but does not answer: closed at the request
	 * timeout, busy */
	s.mute = true;
	t += S(2);
	balloon_tick(b, t);
	CU_ASSERT_EQUAL(shared_op(b, lfd, &s, t), -1);  /* still open */
	CU_ASSERT(balloon_fd(b) >= 0);
	expect_busy(b, t + S(5), "did not finish", &info);
	s.mute = false;

	balloon_free(b);
	close(lfd);
	unlink(path);
	rmdir(dir);
}

static const struct ksmd_test tests[] = {
	{ "limits default and clamp", test_limits_and_clamp },
	{ "override validation, on_exit", test_override },
	{ "stuck and uncooperative", test_progress_stuck },
	{ "reached targets, flag clears", test_progress_reached },
	{ "guest-stats: -1, extra tags, age", test_guest_stats },
	{ "QEMU command lines", test_cmdline },
	{ "discovery over a made-up /proc", test_discover },
	{ "QMP backend: setup, clamp, events, stats, gone", test_qmp_backend },
	{ "QMP backend: no device, peripheral-anon", test_qmp_no_device_and_anon },
	{ "QMP shared mode: a connection per operation, busy, kept facts", test_qmp_shared },
	{ NULL, NULL },
};

int main(void)
{
	KSMD_TEST_INIT();
	ksmd_add_suite("balloon", tests);
	return ksmd_run_tests();
}
