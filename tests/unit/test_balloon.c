/* Unit tests for balloon/: the safety clamp, override validation, the
 * stuck-guest state machine, guest-stats parsing (-1 sentinels, unknown
 * tags, stale last-update). The QMP backend end to end is
 * test_balloon_qmp.c; QEMU discovery is test_discover.c. */
#include "balloon/balloon.h"
#include "balloon/internal.h"
#include "tests/unit/harness.h"
#include "tests/unit/test_qmp_peer.h"

#include <sys/epoll.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/un.h>

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

static const struct ksmd_test tests[] = {
	{ "limits default and clamp", test_limits_and_clamp },
	{ "override validation, on_exit", test_override },
	{ "stuck and uncooperative", test_progress_stuck },
	{ "reached targets, flag clears", test_progress_reached },
	{ "guest-stats: -1, extra tags, age", test_guest_stats },
	{ NULL, NULL },
};

int main(void)
{
	KSMD_TEST_INIT();
	ksmd_add_suite("balloon", tests);
	return ksmd_run_tests();
}
