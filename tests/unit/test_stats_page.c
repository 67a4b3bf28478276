/* Unit tests of stats/, the live page: its files as they are in
 * stats/page/, the chart library from its installed file (or a 404 that
 * names the package), files served as they are, and the hour of history
 * (/v1/history). */
#include "stats/stats.h"
#include "stats/page.h"
#include "common/util.h"
#include "tests/unit/harness.h"
#include "tests/unit/test_stats_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* A whole file, or NULL. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	size_t r;
	while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0)
		if ((n += r) == cap)
			buf = realloc(buf, cap *= 2);
	fclose(f);
	*len = n;
	return buf;
}

/* The page's files are the ones in stats/page/, byte for byte, served
 * before any snapshot; the chart library is the installed file, or a 404
 * that names the package. */
static void test_page(void)
{
	static const struct { const char *path, *file, *type; } files[] = {
		{ "/", "stats/page/index.html", "text/html; charset=utf-8" },
		{ "/ksmd.js", "stats/page/ksmd.js", "text/javascript; charset=utf-8" },
		{ "/ksmd.css", "stats/page/ksmd.css", "text/css; charset=utf-8" },
	};
	struct stats_reply r;
	stats_shutdown(); /* no snapshot: the page is there all the same */
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		size_t len;
		char *want = slurp(files[i].file, &len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(want);
		CU_ASSERT_EQUAL_FATAL(stats_route("GET", files[i].path, &r), 0);
		CU_ASSERT_EQUAL(r.status, 200);
		CU_ASSERT_STRING_EQUAL(r.content_type, files[i].type);
		CU_ASSERT_EQUAL(r.body_len, len);
		CU_ASSERT_TRUE(r.body_len == len && memcmp(r.body, want, len) == 0);
		free(r.body);
		free(want);
		CU_ASSERT_EQUAL(stats_route("POST", files[i].path, &r), 0);
		CU_ASSERT_EQUAL(r.status, 405);
		free(r.body);
	}
	/* No inline script or style: the policy would refuse them. */
	CU_ASSERT_EQUAL_FATAL(stats_route("GET", "/", &r), 0);
	CU_ASSERT_PTR_NULL(strstr(r.body, "<script>"));
	CU_ASSERT_PTR_NULL(strstr(r.body, "<style"));
	CU_ASSERT_PTR_NULL(strstr(r.body, "style=\""));
	CU_ASSERT_PTR_NULL(strcasestr(r.body, "<form"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "src=\"js/chart.min.js\""));
	free(r.body);

	CU_ASSERT_EQUAL(stats_route("GET", "/v1/history", &r), 0);
	CU_ASSERT_EQUAL(r.status, 503);
	free(r.body);

	size_t len;
	char *lib = slurp(KSMD_CHART_JS, &len);
	CU_ASSERT_EQUAL_FATAL(stats_route("GET", STATS_PAGE_LIBRARY_URL, &r), 0);
	if (lib) {
		CU_ASSERT_EQUAL(r.status, 200);
		CU_ASSERT_STRING_EQUAL(r.content_type, "text/javascript; charset=utf-8");
		CU_ASSERT_TRUE(r.body_len == len && memcmp(r.body, lib, len) == 0);
	} else {
		printf("%s is not installed: checking its 404\n", KSMD_CHART_JS);
		CU_ASSERT_EQUAL(r.status, 404);
		CU_ASSERT_STRING_EQUAL(r.body, STATS_PAGE_NO_LIBRARY);
	}
	free(r.body);
	free(lib);
	CU_ASSERT_EQUAL(stats_route("DELETE", STATS_PAGE_LIBRARY_URL, &r), 0);
	CU_ASSERT_EQUAL(r.status, 405);
	free(r.body);
}

/* Files served as they are: regular, bounded, else refused. */
static void test_page_file(void)
{
	char dir[] = "/tmp/ksmd-page-XXXXXX", path[64];
	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	uint64_t size = 7;
	snprintf(path, sizeof path, "%s/none", dir);
	CU_ASSERT_EQUAL(stats_page_file_open(path, &size), -ENOENT);
	CU_ASSERT_EQUAL(stats_page_file_open(dir, &size), -EINVAL);
	snprintf(path, sizeof path, "%s/big", dir);
	int fd = open(path, O_CREAT | O_WRONLY, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ftruncate(fd, STATS_PAGE_FILE_MAX_BYTES + 1), 0);
	CU_ASSERT_EQUAL(stats_page_file_open(path, &size), -EFBIG);
	CU_ASSERT_EQUAL(ftruncate(fd, STATS_PAGE_FILE_MAX_BYTES), 0);
	close(fd);
	fd = stats_page_file_open(path, &size);
	CU_ASSERT(fd >= 0);
	CU_ASSERT_EQUAL(size, STATS_PAGE_FILE_MAX_BYTES);
	CU_ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	unlink(path);
	rmdir(dir);
}

/* GET /v1/history, parsed. */
static json_t *get_history(void)
{
	struct stats_reply r;
	if (stats_route("GET", "/v1/history", &r) < 0 || r.status != 200) {
		free(r.body);
		return NULL;
	}
	CU_ASSERT_STRING_EQUAL(r.content_type, "application/json");
	CU_ASSERT_EQUAL(r.body[r.body_len - 1], '\n');
	json_error_t err;
	json_t *h = json_loadb(r.body, r.body_len, 0, &err);
	if (!h)
		fprintf(stderr, "history: %s: %s\n", err.text, r.body);
	free(r.body);
	return h;
}

static json_t *fixture_at(int guests, double t)
{
	json_t *s = stats_fixture(guests, false);
	json_object_set_new(s, "time", json_real(t));
	return s;
}

static double point_time(const json_t *h, size_t i)
{
	return json_number_value(json_object_get(json_array_get(json_object_get(h, "points"), i), "time"));
}

/* An hour and more of snapshots from t0: the ring keeps the last hour,
 * oldest first. */
static void history_hour(double t0)
{
	json_t *h, *points;
	int n = STATS_HISTORY_POINTS + 40;
	for (int i = 2; i < n; i++)
		CU_ASSERT_EQUAL(stats_publish(fixture_at(50, t0 + i * STATS_HISTORY_STEP_SECONDS)), 0);
	struct stats_reply r;
	CU_ASSERT_EQUAL(stats_route("GET", "/v1/history", &r), 0);
	printf("history of %d points, 50 guests: %zu bytes\n", STATS_HISTORY_POINTS, r.body_len);
	CU_ASSERT(r.body_len < 80 * 1024);
	free(r.body);
	h = get_history();
	points = json_object_get(h, "points");
	CU_ASSERT_EQUAL_FATAL(json_array_size(points), STATS_HISTORY_POINTS);
	CU_ASSERT_DOUBLE_EQUAL(point_time(h, 0), t0 + (n - STATS_HISTORY_POINTS) * STATS_HISTORY_STEP_SECONDS, 1e-6);
	CU_ASSERT_DOUBLE_EQUAL(point_time(h, STATS_HISTORY_POINTS - 1), t0 + (n - 1) * STATS_HISTORY_STEP_SECONDS, 1e-6);
	bool ordered = true;
	for (size_t i = 1; i < STATS_HISTORY_POINTS; i++)
		ordered &= point_time(h, i) > point_time(h, i - 1);
	CU_ASSERT_TRUE(ordered);
	json_decref(h);
}

/* A point every step of the snapshots' time, an hour of them, oldest
 * first; what a snapshot lacks is absent, never zero. */
static void test_history(void)
{
	const double t0 = 1764063000.0;
	stats_shutdown();
	CU_ASSERT_EQUAL_FATAL(stats_publish(fixture_at(3, t0)), 0);
	json_t *h = get_history();
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(h, "version")), 1);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(h, "step_seconds")), STATS_HISTORY_STEP_SECONDS);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(h, "span_seconds")),
			STATS_HISTORY_STEP_SECONDS * STATS_HISTORY_POINTS);
	CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(h, "time")), t0, 1e-6);
	json_t *points = json_object_get(h, "points");
	CU_ASSERT_EQUAL_FATAL(json_array_size(points), 1);
	json_t *p = json_array_get(points, 0);
	/* the fixture: 20 GiB budget, guests hold 18 GiB, 6 GiB available,
	 * KSM's profit 1.9 GB; 3 guests of 4 GiB at 3 GiB + 2i MiB */
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(p, "budget_bytes")), 20 * FIX_GIB);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(p, "guests_total_bytes")), 18 * FIX_GIB);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(p, "mem_available_bytes")), 6 * FIX_GIB);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(p, "merged_bytes")), 1900000000LL);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(p, "ballooned_bytes")),
			3 * FIX_GIB - (0 + 2 + 4) * FIX_MIB);
	CU_ASSERT_PTR_NULL(json_object_get(p, "guest_used_bytes")); /* not in the fixture */
	json_decref(h);

	/* Sooner than a step: skipped; a step later: taken. */
	CU_ASSERT_EQUAL(stats_publish(fixture_at(3, t0 + STATS_HISTORY_STEP_SECONDS - 0.5)), 0);
	h = get_history();
	CU_ASSERT_EQUAL(json_array_size(json_object_get(h, "points")), 1);
	json_decref(h);
	json_t *s = fixture_at(0, t0 + STATS_HISTORY_STEP_SECONDS);
	json_object_del(s, "host");
	json_object_set_new(json_object_get(s, "policy"), "guest_used_bytes", json_integer(5 * FIX_GIB));
	CU_ASSERT_EQUAL(stats_publish(s), 0);
	h = get_history();
	CU_ASSERT_EQUAL_FATAL(json_array_size(json_object_get(h, "points")), 2);
	p = json_array_get(json_object_get(h, "points"), 1);
	CU_ASSERT_PTR_NULL(json_object_get(p, "budget_bytes"));
	CU_ASSERT_PTR_NULL(json_object_get(p, "guests_total_bytes"));
	CU_ASSERT_PTR_NULL(json_object_get(p, "ballooned_bytes")); /* no guest */
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(p, "guest_used_bytes")), 5 * FIX_GIB);
	CU_ASSERT_DOUBLE_EQUAL(point_time(h, 1), t0 + STATS_HISTORY_STEP_SECONDS, 1e-6);
	json_decref(h);

	history_hour(t0);

	/* The clock set back: the hour starts over, in order. */
	CU_ASSERT_EQUAL(stats_publish(fixture_at(2, t0)), 0);
	h = get_history();
	CU_ASSERT_EQUAL(json_array_size(json_object_get(h, "points")), 1);
	CU_ASSERT_DOUBLE_EQUAL(point_time(h, 0), t0, 1e-6);
	json_decref(h);

	/* No time: nothing to place the snapshot at. */
	s = stats_fixture(2, false);
	json_object_del(s, "time");
	CU_ASSERT_EQUAL(stats_publish(s), 0);
	h = get_history();
	CU_ASSERT_EQUAL(json_array_size(json_object_get(h, "points")), 1);
	json_decref(h);
	stats_shutdown();
}

int main(void)
{
	static const struct ksmd_test page[] = {
		{ "the page", test_page },
		{ "files served as they are", test_page_file },
		{ "history", test_history },
		{ NULL, NULL },
	};
	KSMD_TEST_INIT();
	ksmd_add_suite("page", page);
	int r = ksmd_run_tests();
	stats_shutdown();
	return r;
}
