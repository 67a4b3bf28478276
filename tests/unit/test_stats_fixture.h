/* test_stats_fixture.h — a realistic made-up snapshot (schema version 1),
 * shared by the stats and view tests, the stats benchmark and the fuzz
 * corpus generator. stats_fixture(n) returns a new document with n guests;
 * guest 0 is named with characters that need escaping in Prometheus labels
 * when odd_name is true. */
#ifndef KSMD_TEST_STATS_FIXTURE_H
#define KSMD_TEST_STATS_FIXTURE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#define FIX_GIB 1073741824LL
#define FIX_MIB 1048576LL

/* Guest i of the fixture, named name (NULL and *err on a failure). */
static inline json_t *stats_fixture_guest(int i, const char *name, json_error_t *err)
{
	static const char *const states[] = { "ok", "distress", "stuck", "ok", "uncooperative",
					      "gone", "no-balloon", "connecting" };
	return json_pack_ex(err, 0,
		"{s:s, s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:I,"
		" s:I, s:I, s:I, s:I, s:b, s:I,"
		" s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
		"name", name, "pid", (json_int_t)(1000 + i),
		"backend", i % 5 == 4 ? "cgroup" : "qmp",
		"state", states[i % 8],
		"mem_max_bytes", (json_int_t)(4 * FIX_GIB),
		"mem_min_bytes", (json_int_t)(1 * FIX_GIB),
		"shares", (json_int_t)(100 + i),
		"balloon_target_bytes", (json_int_t)(3 * FIX_GIB + i * FIX_MIB),
		"balloon_actual_bytes", (json_int_t)(3 * FIX_GIB + 2 * i * FIX_MIB),
		"override_bytes", (json_int_t)0,
		"stats_age_seconds", 1.5 + i,
		"available_bytes", (json_int_t)(FIX_GIB + i),
		"free_bytes", (json_int_t)(512 * FIX_MIB),
		"major_faults", (json_int_t)(10 * i),
		"swap_in", (json_int_t)0,
		"swap_out", (json_int_t)(4096 * i),
		"rss_bytes", (json_int_t)(2 * FIX_GIB + i * FIX_MIB),
		"ksm_mergeable", i % 7 != 6,
		"ksm_merging_pages", (json_int_t)(20000 + i),
		"scan",
		"present_pages", (json_int_t)524288, "zero_page_pages", (json_int_t)1000,
		"zero_filled_pages", (json_int_t)(3000 + i), "merged_pages", (json_int_t)(20000 + i),
		"unique_pages", (json_int_t)400000, "duplicate_pages", (json_int_t)(90000 + i),
		"volatile_pages", (json_int_t)500);
}

static inline json_t *stats_fixture(int n, bool odd_name)
{
	json_t *guests = json_array();
	json_error_t fix_err;
	for (int i = 0; i < n; i++) {
		char name[64];
		if (i == 0 && odd_name)
			snprintf(name, sizeof name, "we\"ird\\vm\nname");
		else
			snprintf(name, sizeof name, "vm%02d", i);
		json_array_append_new(guests, stats_fixture_guest(i, name, &fix_err));
	}
	if (json_array_size(guests) != (size_t)n) fprintf(stderr, "fixture: %s\n", fix_err.text);
	json_t *sharing = json_array();
	for (int i = 1; i + 1 < n && i < 10; i++)
		json_array_append_new(sharing, json_pack("{s:s, s:s, s:I}", "a", "vm01", "b",
			json_string_value(json_object_get(json_array_get(guests, (size_t)(i + 1)), "name")),
			"pages", (json_int_t)(1000 * i)));
	json_t *decisions = json_array();
	for (int i = 0; i < 5; i++)
		json_array_append_new(decisions, json_pack("{s:f, s:I, s:s, s:s, s:I, s:s}",
			"time", 1764063000.25 + i, "tick", (json_int_t)(100 + i),
			"target", n > 1 ? "vm01" : "ksm", "action", i % 2 ? "inflate" : "ksm_pace",
			"delta_bytes", (json_int_t)(i % 2 ? -64 * FIX_MIB : 0),
			"reason", "host available 8% < 10% pressure threshold"));
	json_t *snap = json_pack(
		"{s:i, s:s, s:f, s:I,"
		" s:{s:I, s:I, s:f, s:f, s:I, s:I, s:f, s:f, s:I, s:I},"
		" s:{s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:s},"
		" s:{s:s, s:i, s:I, s:f, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:f},"
		" s:o, s:o, s:{s:s, s:b, s:I}, s:o}",
		"version", 1, "ksmd_version", "0.1.0", "time", 1764063123.5, "uptime_seconds", (json_int_t)3600,
		"host",
		"mem_total_bytes", (json_int_t)(24 * FIX_GIB), "mem_available_bytes", (json_int_t)(6 * FIX_GIB),
		"swap_in_pages_per_sec", 0.0, "swap_out_pages_per_sec", 12.5,
		"swap_in_pages_total", (json_int_t)1200, "swap_out_pages_total", (json_int_t)345678,
		"psi_some_avg10", 3.25, "psi_full_avg10", 0.5,
		"budget_bytes", (json_int_t)(20 * FIX_GIB), "guests_total_bytes", (json_int_t)(18 * FIX_GIB),
		"ksm",
		"run", 1, "pages_to_scan", 5000, "sleep_millisecs", 20,
		"pages_shared", (json_int_t)120000, "pages_sharing", (json_int_t)480000,
		"pages_unshared", (json_int_t)900000, "pages_volatile", (json_int_t)3000,
		"full_scans", (json_int_t)42, "ksm_zero_pages", (json_int_t)22200,
		"general_profit", (json_int_t)1900000000LL, "kthread_cpu_percent", 12.5,
		"pacing_reason", "converging: 210000 pages left",
		"scanner",
		"state", "running", "threads", 2, "pages_per_sec_limit", (json_int_t)1000000,
		"cpu_percent_limit", 50.0, "passes", (json_int_t)17, "last_pass_seconds", 4.25,
		"pages_scanned_total", (json_int_t)90000000, "predicted_mergeable_pages", (json_int_t)690000,
		"zero_filled_pages", (json_int_t)150000, "duplicate_pages", (json_int_t)700000,
		"volatile_pages", (json_int_t)25000, "bytes_per_tracked_page", 16.0,
		"guests", guests, "sharing", sharing,
		"policy", "state", "running", "dry_run", 0, "tick", (json_int_t)104,
		"decisions", decisions);
	if (snap)
		json_object_set_new(snap, "owners", json_pack("{s:s, s:s, s:[{s:s, s:i, s:s}], s:n, s:I}",
			"ksm", "ksmtuned (pid 200)", "balloon", "ksmd",
			"managers", "name", "ksmtuned", "pid", 200, "drives", "ksm",
			"ksm_outside_change", "ksm_outside_changes", (json_int_t)3));
	return snap;
}

#endif
