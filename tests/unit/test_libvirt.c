/* test_libvirt.c — the libvirt backend: name patterns, domain XML and
 * metadata parsing (pure), then the connection, the balloon and the event
 * loop bridge against libvirt's in-process test driver (test:///default,
 * the driver libvirt ships for exactly this; no libvirtd involved). The
 * real libvirtd path is tests/e2e/libvirt.sh. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libvirt/libvirt.h>

#include "balloon/libvirt.h"
#include "common/log.h"
#include "daemon/loop.h"
#include "daemon/virtloop.h"
#include "tests/unit/harness.h"

static void test_patterns(void)
{
	CU_ASSERT(lv_name_selected("web1", "", ""));
	CU_ASSERT(lv_name_selected("web1", "*", ""));
	CU_ASSERT(lv_name_selected("web1", "db* web*", ""));
	CU_ASSERT(lv_name_selected("web1", "db*,web?", ""));
	CU_ASSERT(!lv_name_selected("web1", "db*", ""));
	CU_ASSERT(!lv_name_selected("web1", "*", "web*"));
	CU_ASSERT(!lv_name_selected("web1", "", "x, web1"));
	CU_ASSERT(lv_name_selected("web10", "", "web1"));
	char err[128];
	CU_ASSERT_EQUAL(lv_patterns_validate("a* b?, c[0-9]", err, sizeof err), 0);
	CU_ASSERT_EQUAL(lv_patterns_validate("", err, sizeof err), 0);
	CU_ASSERT_EQUAL(lv_patterns_validate("web[12", err, sizeof err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "unclosed"));
}

static void test_domain_xml(void)
{
	struct lv_domain d;
	memset(&d, 0, sizeof d);
	lv_parse_domain_xml("<domain><devices><memballoon model='virtio' autodeflate='on' "
			    "freePageReporting='on'>\n<stats period='5'/>\n</memballoon></devices></domain>", &d);
	CU_ASSERT(d.has_balloon);
	CU_ASSERT(d.deflate_on_oom);
	CU_ASSERT(d.free_page_reporting);
	CU_ASSERT_EQUAL(d.stats_period, 5);
	CU_ASSERT(!d.nosharepages);
	lv_parse_domain_xml("<domain><memoryBacking>\n<nosharepages/>\n</memoryBacking><devices>"
			    "<memballoon model=\"none\"/></devices></domain>", &d);
	CU_ASSERT(!d.has_balloon);
	CU_ASSERT(d.nosharepages);
	CU_ASSERT(!d.free_page_reporting);
	CU_ASSERT_EQUAL(d.stats_period, 0);
	/* a stats element after a self-closed memballoon is not its period */
	lv_parse_domain_xml("<memballoon model='virtio'/><x><stats period='9'/></x>", &d);
	CU_ASSERT(d.has_balloon);
	CU_ASSERT_EQUAL(d.stats_period, 0);
	lv_parse_domain_xml("<domain><devices></devices></domain>", &d);
	CU_ASSERT(!d.has_balloon);
}

static void test_metadata(void)
{
	struct lv_domain d;
	memset(&d, 0, sizeof d);
	CU_ASSERT_EQUAL(lv_parse_metadata("<ksmd:guest xmlns:ksmd=\"urn:ksmd:guest:1\" min=\"512M\" "
					  "max='2G' shares=\"2000\"/>", &d), 0);
	CU_ASSERT_EQUAL(d.meta_min_bytes, 512ull << 20);
	CU_ASSERT_EQUAL(d.meta_max_bytes, 2ull << 30);
	CU_ASSERT_EQUAL(d.meta_shares, 2000);
	CU_ASSERT_EQUAL(lv_parse_metadata("<guest min='lots'/>", &d), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.meta_error, "min 'lots'"));
	CU_ASSERT_EQUAL(lv_parse_metadata("<guest shares='0'/>", &d), -EINVAL);
	CU_ASSERT_EQUAL(lv_parse_metadata("<guest min='2G' max='1G'/>", &d), -EINVAL);
	CU_ASSERT_EQUAL(d.meta_min_bytes, 0);
	CU_ASSERT_EQUAL(lv_parse_metadata("<guest/>", &d), 0);
	CU_ASSERT_EQUAL(d.meta_shares, 0);
	/* "min" inside another attribute's name is not min */
	CU_ASSERT_EQUAL(lv_parse_metadata("<guest xmin='1' admin='x'/>", &d), 0);
	CU_ASSERT_EQUAL(d.meta_min_bytes, 0);
}

/* ---- against libvirt's test driver ---- */

struct seen {
	int up, down, connected;
	char last_up[64], last_down[64], why[64];
	struct lv_domain dom;
	int external;
	uint64_t external_bytes;
};

static void on_lv(struct lv_conn *c, enum lv_event ev, const struct lv_domain *d, const char *why, void *ud)
{
	struct seen *s = ud;
	(void)c;
	if (ev == LV_CONNECTED)
		s->connected++;
	if (ev == LV_DOMAIN_UP) {
		s->up++;
		snprintf(s->last_up, sizeof s->last_up, "%s", d->name);
		s->dom = *d;
	}
	if (ev == LV_DOMAIN_DOWN) {
		s->down++;
		snprintf(s->last_down, sizeof s->last_down, "%s", d->name);
		snprintf(s->why, sizeof s->why, "%s", why ? why : "");
	}
}

static void on_balloon(struct balloon *b, enum balloon_event ev, void *ud)
{
	struct seen *s = ud;
	if (ev == BALLOON_EV_EXTERNAL) {
		struct balloon_info in;
		balloon_get_info(b, &in);
		s->external++;
		s->external_bytes = in.external_bytes;
	}
}

static void quit_timer(struct loop *l, int fd, uint32_t ev, void *data)
{
	(void)fd;
	(void)ev;
	(void)data;
	loop_quit(l);
}

/* Run the daemon's loop (and so libvirt's events) for ms milliseconds. */
static void spin(struct loop *l, unsigned ms)
{
	int t = loop_add_timer(l, (usec_t)ms * USEC_PER_MSEC, quit_timer, NULL);
	CU_ASSERT_FATAL(t >= 0);
	loop_run(l);
	loop_del(l, t);
	close(t);
	virtloop_run_deferred();
}

/* One connection to libvirt's test driver, its domain "test" run by a
 * process of ours, another client, and the daemon's loop: the phases of
 * test_test_driver run on it in order. */
struct lv_run {
	struct loop *l;
	char dir[64], path[256];
	pid_t child;
	struct seen s;
	struct lv_conn *c;
	struct balloon_config bc;
	struct balloon *b;
	virConnectPtr other;                /* another client */
	virDomainPtr od;                    /* "test", as the other client sees it */
	usec_t now;                         /* when lv_balloon set its targets */
};

/* The connection finds the domain and the process the pid file names. */
static void lv_start(struct lv_run *r)
{
	/* a pid file naming a process whose command line says -name guest=test */
	snprintf(r->dir, sizeof r->dir, "/tmp/ksmd-test-lv.XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(r->dir) != NULL);
	r->child = fork();
	if (r->child == 0) {
		execl("/bin/sh", "sh", "-c", "sleep 60", "-name", "guest=test,debug-threads=on", (char *)NULL);
		_exit(127);
	}
	char buf[32];
	snprintf(r->path, sizeof r->path, "%s/test.pid", r->dir);
	snprintf(buf, sizeof buf, "%d\n", (int)r->child);
	FILE *f = fopen(r->path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs(buf, f);
	fclose(f);
	usleep(100000); /* the exec has happened */

	struct lv_conf cf = { .uri = "test:///default", .domains = "te*", .exclude = "", .pid_dir = r->dir };
	r->c = lv_conn_new(&cf, on_lv, &r->s);
	CU_ASSERT_FATAL(r->c != NULL);
	lv_conn_tick(r->c, now_usec());
	CU_ASSERT(lv_conn_is_up(r->c));
	CU_ASSERT_EQUAL(r->s.connected, 1);
	CU_ASSERT_EQUAL(r->s.up, 1);
	CU_ASSERT_STRING_EQUAL(r->s.last_up, "test");
	CU_ASSERT_EQUAL(r->s.dom.pid, r->child);
	CU_ASSERT_STRING_EQUAL(r->s.dom.pid_error, "");
	CU_ASSERT(r->s.dom.has_balloon);
	CU_ASSERT_EQUAL(r->s.dom.max_bytes, 8ull << 30);
}

/* The balloon: the domain's size and stats; targets through
 * virDomainSetMemoryFlags, clamped by the floor. */
static void lv_balloon(struct lv_run *r)
{
	r->bc.stats_interval_usec = USEC_PER_SEC;
	r->b = balloon_new_libvirt("test", r->c, &r->bc, on_balloon, &r->s);
	CU_ASSERT_FATAL(r->b != NULL);
	struct balloon_info in;
	balloon_get_info(r->b, &in);
	CU_ASSERT_EQUAL(in.state, BALLOON_READY);
	CU_ASSERT_EQUAL(in.backend, BALLOON_BACKEND_LIBVIRT);
	CU_ASSERT_EQUAL(in.pid, r->child);
	CU_ASSERT_EQUAL(in.actual_bytes, 2ull << 30);
	CU_ASSERT_EQUAL(in.limits.max_bytes, 8ull << 30);
	CU_ASSERT_EQUAL(in.limits.min_bytes, 4ull << 30); /* 50% of max */
	CU_ASSERT(in.caps & BALLOON_CAP_STATS);
	CU_ASSERT(in.stats.valid_mask & (1u << BALLOON_STAT_AVAILABLE));

	/* targets go through virDomainSetMemoryFlags, clamped by the floor */
	usec_t now = r->now = now_usec();
	uint64_t sent = 0;
	CU_ASSERT_EQUAL(balloon_set_target(r->b, 5ull << 30, now, &sent), 0);
	CU_ASSERT_EQUAL(sent, 5ull << 30);
	CU_ASSERT_EQUAL(balloon_set_target(r->b, 1ull << 30, now, &sent), 0);
	CU_ASSERT_EQUAL(sent, 4ull << 30);
	balloon_refresh(r->b, now);
	balloon_get_info(r->b, &in);
	CU_ASSERT_EQUAL(in.actual_bytes, 4ull << 30);
	CU_ASSERT_EQUAL(r->s.external, 0);
}

/* Sizes set by another client are seen as outside ksmd. */
static void lv_outside(struct lv_run *r)
{
	struct balloon_info in;
	usec_t now = r->now;
	/* a change made by another client is seen as outside ksmd */
	r->other = virConnectOpen("test:///default");
	CU_ASSERT_FATAL(r->other != NULL);
	r->od = virDomainLookupByName(r->other, "test");
	CU_ASSERT_FATAL(r->od != NULL);
	CU_ASSERT_EQUAL(virDomainSetMemoryFlags(r->od, 6ul << 20, VIR_DOMAIN_AFFECT_LIVE), 0);
	spin(r->l, 50);
	balloon_refresh(r->b, now + 2 * USEC_PER_SEC);
	CU_ASSERT_EQUAL(r->s.external, 1);
	CU_ASSERT_EQUAL(r->s.external_bytes, 6ull << 30);
	balloon_get_info(r->b, &in);
	CU_ASSERT_EQUAL(in.external_bytes, 6ull << 30);
	CU_ASSERT_EQUAL(in.target_bytes, 0); /* ksmd's target is void */

	/* ksmd asking every tick (never settled) still sees an outside size
	 * beyond where its own requests could take the balloon */
	now = now_usec();
	CU_ASSERT_EQUAL(balloon_set_target(r->b, 5ull << 30, now, NULL), 0);
	balloon_refresh(r->b, now + USEC_PER_SEC / 10);
	CU_ASSERT_EQUAL(balloon_set_target(r->b, (5ull << 30) - (8ull << 20), now + USEC_PER_SEC / 5, NULL), 0);
	balloon_refresh(r->b, now + USEC_PER_SEC / 4);
	CU_ASSERT_EQUAL(r->s.external, 1); /* its own moves are not outside ones */
	CU_ASSERT_EQUAL(virDomainSetMemoryFlags(r->od, 7ul << 20, VIR_DOMAIN_AFFECT_LIVE), 0);
	spin(r->l, 50);
	balloon_refresh(r->b, now + USEC_PER_SEC / 2);
	CU_ASSERT_EQUAL(r->s.external, 2);
	CU_ASSERT_EQUAL(r->s.external_bytes, 7ull << 30);

	/* a size set by another client whose event has not arrived yet (the
	 * loop is not run): the policy's next target reads the size first and
	 * is not sent over it */
	now = now_usec();
	CU_ASSERT_EQUAL(balloon_set_target(r->b, 6ull << 30, now, NULL), 0);
	balloon_refresh(r->b, now + 2 * USEC_PER_SEC);
	CU_ASSERT_EQUAL(r->s.external, 2);
	CU_ASSERT_EQUAL(virDomainSetMemoryFlags(r->od, 5ul << 20, VIR_DOMAIN_AFFECT_LIVE), 0);
	CU_ASSERT_EQUAL(balloon_set_target(r->b, (6ull << 30) - (16ull << 20), now + 3 * USEC_PER_SEC, NULL),
			-ECANCELED);
	CU_ASSERT_EQUAL(r->s.external, 3);
	CU_ASSERT_EQUAL(r->s.external_bytes, 5ull << 30);
	virDomainInfo di;
	CU_ASSERT_EQUAL(virDomainGetInfo(r->od, &di), 0);
	CU_ASSERT_EQUAL(di.memory, 5ul << 20); /* the other client's size stands */
}

/* Lifecycle events through the daemon's loop; a domain without a
 * balloon and with <nosharepages/>. */
static void lv_lifecycle(struct lv_run *r)
{
	struct balloon_info in;
	/* lifecycle events through the daemon's loop: destroyed, started */
	CU_ASSERT_EQUAL(virDomainDestroy(r->od), 0);
	spin(r->l, 100);
	CU_ASSERT_EQUAL(r->s.down, 1);
	CU_ASSERT_STRING_EQUAL(r->s.last_down, "test");
	CU_ASSERT_STRING_EQUAL(r->s.why, "destroyed");
	CU_ASSERT_EQUAL(virDomainCreate(r->od), 0);
	spin(r->l, 100);
	CU_ASSERT_EQUAL(r->s.up, 2);
	balloon_refresh(r->b, now_usec());
	balloon_get_info(r->b, &in);
	CU_ASSERT_EQUAL(in.state, BALLOON_READY);
	/* a domain started with <nosharepages/>, without a balloon */
	virDomainPtr ns = virDomainCreateXML(r->other,
		"<domain type='test'><name>test-ns</name><memory>262144</memory>"
		"<memoryBacking><nosharepages/></memoryBacking><os><type>hvm</type></os>"
		"<devices><memballoon model='none'/></devices></domain>", 0);
	CU_ASSERT_FATAL(ns != NULL);
	spin(r->l, 100);
	CU_ASSERT_EQUAL(r->s.up, 3);
	CU_ASSERT_STRING_EQUAL(r->s.last_up, "test-ns");
	CU_ASSERT(r->s.dom.nosharepages);
	CU_ASSERT(!r->s.dom.has_balloon);
	CU_ASSERT_PTR_NOT_NULL(strstr(r->s.dom.pid_error, "test-ns.pid"));
	struct balloon *nb = balloon_new_libvirt("test-ns", r->c, &r->bc, NULL, NULL);
	balloon_get_info(nb, &in);
	CU_ASSERT_EQUAL(in.state, BALLOON_NO_DEVICE);
	CU_ASSERT_EQUAL(balloon_set_target(nb, 128 << 20, now_usec(), NULL), -EAGAIN);
	balloon_free(nb);
	virDomainDestroy(ns);
	virDomainFree(ns);
	spin(r->l, 50);
	CU_ASSERT_EQUAL(r->s.down, 2);
	virDomainFree(r->od);
	virConnectClose(r->other);
}

static void test_test_driver(void)
{
	log_set_level(LOG_ERR);
	static struct lv_run r;
	memset(&r, 0, sizeof r);
	r.l = loop_new();
	CU_ASSERT_FATAL(r.l != NULL);
	CU_ASSERT_EQUAL(virtloop_register(r.l), 0);
	lv_start(&r);
	lv_balloon(&r);
	lv_outside(&r);
	lv_lifecycle(&r);
	balloon_free(r.b);
	lv_conn_free(r.c);
	virtloop_run_deferred();
	kill(r.child, SIGKILL);
	waitpid(r.child, NULL, 0);
	unlink(r.path);
	rmdir(r.dir);
	loop_free(r.l);
}

static void test_unreachable(void)
{
	struct seen s;
	memset(&s, 0, sizeof s);
	struct lv_conf cf = { .uri = "qemu+unix:///system?socket=/nonexistent/libvirt-sock",
			      .reconnect_max_usec = 2 * USEC_PER_SEC };
	struct lv_conn *c = lv_conn_new(&cf, on_lv, &s);
	CU_ASSERT_FATAL(c != NULL);
	usec_t now = now_usec();
	lv_conn_tick(c, now);
	CU_ASSERT(!lv_conn_is_up(c));
	CU_ASSERT_PTR_NOT_NULL(strstr(lv_conn_error(c), "cannot connect to qemu+unix:///system"));
	struct balloon_config bc;
	memset(&bc, 0, sizeof bc);
	struct balloon *b = balloon_new_libvirt("web1", c, &bc, NULL, NULL);
	struct balloon_info in;
	balloon_get_info(b, &in);
	CU_ASSERT_EQUAL(in.state, BALLOON_CONNECTING);
	CU_ASSERT_PTR_NOT_NULL(strstr(in.reason, "libvirt unreachable"));
	CU_ASSERT_EQUAL(balloon_set_target(b, 1 << 30, now, NULL), -EAGAIN);
	balloon_free(b);
	lv_conn_free(c);
	CU_ASSERT_EQUAL(s.connected, 0);
}

static const struct ksmd_test tests[] = {
	{ "name patterns", test_patterns },
	{ "domain XML", test_domain_xml },
	{ "metadata", test_metadata },
	{ "test driver: found, ballooned, outside change, lifecycle", test_test_driver },
	{ "unreachable URI", test_unreachable },
	{ NULL, NULL },
};

int main(void)
{
	KSMD_TEST_INIT();
	ksmd_add_suite("libvirt", tests);
	return ksmd_run_tests();
}
