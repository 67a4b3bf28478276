/* Unit tests of stats/, the Prometheus text: rendering a full and a
 * partial snapshot, checked by a strict format checker (and promtool when
 * available), and the checker itself (the routes are
 * test_stats_publish.c, the page and its history test_stats_page.c, the
 * HTTP server test_stats_http.c). */
#include "stats/stats.h"
#include "common/util.h"
#include "tests/unit/harness.h"
#include "tests/unit/test_stats_expo.h"
#include "tests/unit/test_stats_fixture.h"

#include <errno.h>

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static void test_prom_full(void)
{
	json_t *snap = stats_fixture(50, true);
	char *out;
	size_t len;
	CU_ASSERT_FATAL(snap != NULL);
	CU_ASSERT_EQUAL_FATAL(stats_render_prometheus(snap, &out, &len), 0);
	CU_ASSERT_EQUAL(strlen(out), len);
	const char *err = expo_check(out, len);
	if (err)
		fprintf(stderr, "exposition error: %s\n", err);
	CU_ASSERT_PTR_NULL(err);
	static const char *const lines[] = {
		"ksmd_build_info{version=\"0.1.0\"} 1",
		"ksmd_uptime_seconds 3600",
		"ksmd_snapshot_timestamp_seconds 1764063123.5",
		"ksmd_host_memory_total_bytes 25769803776",
		"ksmd_host_memory_available_bytes 6442450944",
		"ksmd_host_swap_in_pages_total 1200",
		"ksmd_host_swap_out_pages_total 345678",
		"ksmd_host_memory_pressure_some_avg10_ratio 0.0325",
		"ksmd_host_memory_pressure_full_avg10_ratio 0.005",
		"ksmd_host_budget_bytes 21474836480",
		"ksmd_ksm_sleep_seconds 0.02",
		"ksmd_ksm_pages_sharing 480000",
		"ksmd_ksm_full_scans_total 42",
		"ksmd_ksm_kthread_cpu_ratio 0.125",
		"ksmd_ksm_general_profit_bytes 1900000000",
		"ksmd_ksm_pacing_info{reason=\"converging: 210000 pages left\"} 1",
		"ksmd_scanner_running 1",
		"ksmd_scanner_cpu_limit_ratio 0.5",
		"ksmd_scanner_pages_scanned_total 90000000",
		"ksmd_scanner_last_pass_duration_seconds 4.25",
		"ksmd_policy_ticks_total 104",
		"ksmd_policy_dry_run 0",
		"ksmd_policy_recent_decisions 5",
		"ksmd_guests 50",
		"ksmd_guest_pid{guest=\"we\\\"ird\\\\vm\\nname\"} 1000",
		"ksmd_guest_info{guest=\"vm04\",backend=\"cgroup\",state=\"uncooperative\"} 1",
		"ksmd_guest_state{guest=\"vm02\",state=\"stuck\"} 1",
		"ksmd_guest_state{guest=\"vm02\",state=\"ok\"} 0",
		"ksmd_guest_memory_max_bytes{guest=\"vm01\"} 4294967296",
		"ksmd_guest_balloon_target_bytes{guest=\"vm03\"} 3224371200",
		"ksmd_guest_stats_age_seconds{guest=\"vm02\"} 3.5",
		"ksmd_guest_major_faults_total{guest=\"vm05\"} 50",
		"ksmd_guest_ksm_mergeable{guest=\"vm06\"} 0",
		"ksmd_guest_ksm_mergeable{guest=\"vm07\"} 1",
		"ksmd_guest_scan_pages{guest=\"vm01\",kind=\"duplicate\"} 90001",
		"ksmd_guest_scan_pages{guest=\"vm49\",kind=\"present\"} 524288",
		"ksmd_sharing_pages{a=\"vm01\",b=\"vm03\"} 2000",
		"ksmd_ksm_outside_changes_total 3",
		"ksmd_manager_info{manager=\"ksmtuned\",drives=\"ksm\"} 1",
	};
	for (size_t i = 0; i < ARRAY_SIZE(lines); i++)
		if (!has_line(out, lines[i])) {
			fprintf(stderr, "missing line: %s\n", lines[i]);
			CU_FAIL("expected sample line missing");
		}
	/* One family per name: exactly one TYPE line for a per-guest family. */
	int types = 0;
	for (const char *p = out; (p = strstr(p, "# TYPE ksmd_guest_pid ")); p++)
		types++;
	CU_ASSERT_EQUAL(types, 1);

	/* promtool, if present (PROMTOOL=path, or in PATH). */
	int rc = expo_promtool(out, len);
	if (rc == -1)
		printf("skip promtool check: promtool not installed (make promtool-stats fetches it)\n");
	else
		CU_ASSERT_EQUAL(rc, 0);
	free(out);
	json_decref(snap);
}

static void test_prom_partial(void)
{
	char *out;
	size_t len;
	json_t *s = json_object();
	CU_ASSERT_EQUAL(stats_render_prometheus(s, &out, &len), 0);
	CU_ASSERT_EQUAL(len, 0);
	CU_ASSERT_PTR_NULL(expo_check(out, len));
	free(out);
	json_decref(s);

	/* Wrong types and nameless guests are skipped, never invented. */
	s = json_loads("{\"host\":{\"mem_total_bytes\":\"lots\",\"budget_bytes\":1.5e3},"
		       "\"ksm\":[1,2],\"guests\":[{\"name\":\"a\",\"pid\":null,\"scan\":7},"
		       "{\"pid\":3},5,{\"name\":\"b\",\"pid\":4,\"stats_age_seconds\":1e300}],"
		       "\"sharing\":[{\"a\":\"a\"},{\"a\":\"a\",\"b\":\"b\",\"pages\":true}]}", 0, NULL);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(stats_render_prometheus(s, &out, &len), 0);
	CU_ASSERT_PTR_NULL(expo_check(out, len));
	CU_ASSERT_TRUE(has_line(out, "ksmd_host_budget_bytes 1500"));
	CU_ASSERT_PTR_NULL(strstr(out, "ksmd_host_memory_total_bytes"));
	CU_ASSERT_TRUE(has_line(out, "ksmd_guests 4"));
	CU_ASSERT_TRUE(has_line(out, "ksmd_guest_pid{guest=\"b\"} 4"));
	CU_ASSERT_TRUE(has_line(out, "ksmd_guest_stats_age_seconds{guest=\"b\"} 1.0000000000000001e+300") ||
		       has_line(out, "ksmd_guest_stats_age_seconds{guest=\"b\"} 1e+300"));
	CU_ASSERT_TRUE(has_line(out, "ksmd_sharing_pages{a=\"a\",b=\"b\"} 1"));
	CU_ASSERT_PTR_NULL(strstr(out, "guest=\"a\"} "));
	free(out);
	json_decref(s);

	/* Two guests of one name, a repeated pair: each series written once. */
	s = json_loads("{\"guests\":[{\"name\":\"a\",\"pid\":1},{\"name\":\"a\",\"pid\":2}],"
		       "\"sharing\":[{\"a\":\"a\",\"b\":\"b\",\"pages\":1},"
		       "{\"a\":\"a\",\"b\":\"b\",\"pages\":2}]}", 0, NULL);
	CU_ASSERT_EQUAL(stats_render_prometheus(s, &out, &len), 0);
	CU_ASSERT_PTR_NULL(expo_check(out, len));
	CU_ASSERT_TRUE(has_line(out, "ksmd_guest_pid{guest=\"a\"} 1"));
	CU_ASSERT_TRUE(has_line(out, "ksmd_sharing_pages{a=\"a\",b=\"b\"} 1"));
	free(out);
	json_decref(s);

	s = json_array();
	CU_ASSERT_EQUAL(stats_render_prometheus(s, &out, &len), -EINVAL);
	json_decref(s);
	CU_ASSERT_EQUAL(stats_render_prometheus(NULL, &out, &len), -EINVAL);
}

/* The checker itself must reject what the format forbids. */
static void test_expo_checker(void)
{
	static const char *const bad[] = {
		"m 1\n",                                                    /* no HELP/TYPE */
		"# HELP m h\n# TYPE m gauge\nm{a=\"x} 1\n",                  /* unterminated */
		"# HELP m h\n# TYPE m gauge\nm{a=\"\\q\"} 1\n",              /* bad escape */
		"# HELP m h\n# TYPE m gauge\nm 1x\n",                        /* bad value */
		"# HELP m h\n# TYPE m counter\nm 1\n",                       /* counter w/o _total */
		"# HELP m h\n# TYPE m gauge\nm 1\nm 2\n",                    /* duplicate series */
		"# HELP m h\n# TYPE m gauge\nm 1\n# HELP n h\n# TYPE n gauge\nn 1\nm{a=\"b\"} 1\n",
		"# HELP 1m h\n",
		"# HELP m h\n# TYPE m gauge\nm 1",                           /* no newline */
		"# HELP m h\n# TYPE m gauge\nm{1a=\"b\"} 1\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (!expo_check(bad[i], strlen(bad[i]))) {
			fprintf(stderr, "checker accepted: %s\n", bad[i]);
			CU_FAIL("checker accepted invalid text");
		}
	const char *good = "# HELP m h \\\\ \\n\n# TYPE m gauge\nm{a=\"\\\"\",b=\"\\n\"} -Inf\nm NaN 1234\n";
	CU_ASSERT_PTR_NULL(expo_check(good, strlen(good)));
}

int main(void)
{
	static const struct ksmd_test prom[] = {
		{ "full snapshot", test_prom_full },
		{ "partial and wrong fields", test_prom_partial },
		{ "strict checker rejects", test_expo_checker },
		{ NULL, NULL },
	};
	KSMD_TEST_INIT();
	ksmd_add_suite("prometheus", prom);
	int r = ksmd_run_tests();
	stats_shutdown();
	return r;
}
