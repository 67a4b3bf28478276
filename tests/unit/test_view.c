/* Unit tests of cli/view.c: every view over a full made-up snapshot and
 * over a sparse one (missing fields print "-"), top frames at several
 * widths, the top loop with a scripted fetch callback, and the fields the
 * views read against the rows of ctl/fields.h flagged V. */
#include "cli/view.h"
#include "common/util.h"
#include "ctl/fields.h"
#include "tests/unit/harness.h"
#include "tests/unit/test_stats_fixture.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Run a view into a string (free() it). */
#define RENDER(call, out) do { \
	size_t n_; FILE *f_ = open_memstream(&(out), &n_); \
	CU_ASSERT_EQUAL(call, 0); fclose(f_); } while (0)

static int render(int (*fn)(const json_t *, FILE *), const json_t *s, char **out)
{
	size_t n;
	*out = NULL;
	FILE *f = open_memstream(out, &n);
	int rc = fn(s, f);
	fclose(f);
	return rc;
}

static void test_status(void)
{
	json_t *s = stats_fixture(50, true);
	int rc;
	char *out;
	rc = render(view_status, s, &out);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ksmd 0.1.0, up 60m, schema version 1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "memory 24 GiB, available 6 GiB, budget 20 GiB, guests hold 18 GiB"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "pressure some 3.25% full 0.50%"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "saving 1.8 GiB (480000 pages sharing)")); /* 480000*4096 */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "pacing: converging: 210000 pages left"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "scanner   running, 17 passes, last pass 4.2s"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "policy    running, tick 104, dry run no"));
	/* 50 guests cycling through 8 states (ok twice). */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "guests    50: 13 ok, 7 distress, 6 stuck, 6 uncooperative, 6 gone, 6 no-balloon, 6 connecting"));
	free(out);
	view_set_raw(true);
	rc = render(view_status, s, &out);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "memory 25769803776, available 6442450944"));
	free(out);
	view_set_raw(false);
	json_decref(s);

	/* the stats endpoint: none (stats.enabled = no), served, then down */
	static const struct { const char *listen; int serving; double down; int lost; const char *line; } h[] = {
		{ NULL, 0, 0, 0, NULL },
		{ "127.0.0.1:9403", 1, 0.0, 0,
		  "stats     127.0.0.1:9403, served by pid 4242 as nobody (uid 65534)\n" },
		{ "unix:/run/ksmd/http.sock", 0, 12.0, 3,
		  "stats     unix:/run/ksmd/http.sock DOWN for 12s: its process (pid 4242, as nobody, uid "
		  "65534) was lost and is being restarted (see the log); lost 3 times\n" },
	};
	s = stats_fixture(1, false);
	for (size_t i = 0; i < sizeof h / sizeof h[0]; i++) {
		if (h[i].listen)
			json_object_set_new(s, "http", json_pack("{s:s, s:b, s:i, s:s, s:i, s:f, s:i}",
				"listen", h[i].listen, "serving", h[i].serving, "pid", 4242, "user", "nobody",
				"uid", 65534, "down_seconds", h[i].down, "losses_total", h[i].lost));
		rc = render(view_status, s, &out);
		if (h[i].line) {
			CU_ASSERT_PTR_NOT_NULL(strstr(out, h[i].line));
		} else {
			CU_ASSERT_PTR_NULL(strstr(out, "stats "));
		}
		free(out);
	}
	json_decref(s);

	s = json_object();
	rc = render(view_status, s, &out);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ksmd -, up -"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "memory -, available -"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "guests    0\n"));
	free(out);
	json_decref(s);
	s = json_array();
	rc = render(view_status, s, &out);
	CU_ASSERT_EQUAL(rc, -EINVAL);
	free(out);
	json_decref(s);
}

/* Numbers out of any size's range (a broken or hostile answer) saturate:
 * the conversion was undefined behaviour (found by tests/fuzz/fuzz_view.c). */
static void test_huge_numbers(void)
{
	json_t *s = json_pack("{s:{s:f, s:f}, s:f}", "host", "mem_total_bytes", 2.4e198,
			      "mem_available_bytes", -1e300, "uptime_seconds", 1e300);
	char *out, max[40], want[100];
	CU_ASSERT_EQUAL(render(view_status, s, &out), 0);
	format_size(UINT64_MAX, max, sizeof max);
	snprintf(want, sizeof want, "memory %s, available -%s", max, max);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	free(out);
	json_decref(s);
}

static void test_guests(void)
{
	json_t *s = stats_fixture(12, true);
	int rc;
	char *out;
	rc = render(view_guests, s, &out);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "NAME"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "we\"ird\\vm?name")); /* newline sanitized */
	/* vm03: target 3 GiB + 3 MiB, actual 3 GiB + 6 MiB, merged 20003 pages. */
	const char *l = strstr(out, "vm03 ");
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_PTR_NOT_NULL(strstr(l, "qmp     ok"));
	CU_ASSERT_PTR_NOT_NULL(strstr(l, "4 GiB"));
	CU_ASSERT_PTR_NOT_NULL(strstr(l, "78.1 MiB")); /* 20003 * 4096 */
	CU_ASSERT_PTR_NOT_NULL(strstr(l, "4.5s"));
	int lines = 0;
	for (char *p = out; *p; p++)
		lines += *p == '\n';
	CU_ASSERT_EQUAL(lines, 13);
	free(out);
	json_decref(s);
}

static void test_guest(void)
{
	json_t *s = stats_fixture(5, false);
	char *out = NULL;
	RENDER(view_guest(s, "vm02", f_), out);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "name                     vm02\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "state                    stuck\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "mem_max_bytes            4 GiB\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ksm_mergeable            yes\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ksm_merging_pages        20002 (78.1 MiB)\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "scan:\n  present_pages          524288 (2 GiB)\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "stats_age_seconds        3.50\n"));
	free(out);
	size_t n;
	FILE *f = open_memstream(&out, &n);
	CU_ASSERT_EQUAL(view_guest(s, "nosuch", f), -ENOENT);
	fclose(f);
	free(out);
	json_decref(s);
}

static void test_ksm(void)
{
	json_t *s = stats_fixture(3, false);
	int rc;
	char *out;
	rc = render(view_ksm, s, &out);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "scan rate         at most 250000 pages/s (976.6 MiB/s)"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "pages_sharing     480000 (1.8 GiB)"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "general_profit    1.8 GiB"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "merged so far     69.6% of predicted, 820.3 MiB left"));
	free(out);
	json_decref(s);
}

/* "owners": who drives KSM and the balloons, the other managers, the last
 * outside change of KSM's knobs; "-" when an older ksmd sent none. */
static void test_owners(void)
{
	json_t *s = stats_fixture(3, false);
	json_t *o = json_pack("{s:s, s:s, s:[{s:s, s:i, s:s}, {s:s, s:i, s:s}], s:s}",
			      "ksm", "ksmtuned (pid 812)", "balloon", "ksmd and pvestatd (pid 900)",
			      "managers", "name", "ksmtuned", "pid", 812, "drives", "ksm",
			      "name", "pvestatd", "pid", 900, "drives", "balloon",
			      "ksm_outside_change", "pages_to_scan 100 -> 300 (3 s ago)");
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	json_object_set_new(s, "owners", o);
	char *out;
	CU_ASSERT_EQUAL(render(view_status, s, &out), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "owners    KSM: ksmtuned (pid 812); balloons: ksmd and pvestatd (pid 900)\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "          other managers: ksmtuned (pid 812, ksm), pvestatd (pid 900, balloon)\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "          KSM knobs changed by another program: pages_to_scan 100 -> 300 (3 s ago)\n"));
	free(out);
	CU_ASSERT_EQUAL(render(view_ksm, s, &out), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "driven by         ksmtuned (pid 812)\n"));
	free(out);
	json_object_set_new(s, "owners", json_pack("{s:s, s:s, s:[], s:n}", "ksm", "ksmd", "balloon", "ksmd",
						    "managers", "ksm_outside_change"));
	CU_ASSERT_EQUAL(render(view_status, s, &out), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "owners    KSM: ksmd; balloons: ksmd\nscanner "));
	free(out);
	json_object_del(s, "owners");
	CU_ASSERT_EQUAL(render(view_status, s, &out), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "owners    KSM: -; balloons: -\n"));
	free(out);
	json_decref(s);
}

static void test_decisions(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	json_t *s = stats_fixture(3, false);
	int rc;
	char *out;
	rc = render(view_decisions, s, &out);
	CU_ASSERT_EQUAL(rc, 0);
	/* 1764063000.25 = 2025-11-25 09:30:00 UTC */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "09:30:00    100 vm01             ksm_pace"));
	const char *l = strstr(out, "09:30:01    101 vm01             inflate ");
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_PTR_NOT_NULL(strstr(l, " -64 MiB  host available 8% < 10% pressure threshold\n"));
	free(out);
	json_decref(s);
}

static void test_top_frame(void)
{
	json_t *s = stats_fixture(50, true);
	static const int widths[] = { 10, 40, 80, 132, 250 };
	for (size_t w = 0; w < ARRAY_SIZE(widths); w++) {
		char *out = NULL;
		RENDER(view_top_frame(s, f_, widths[w]), out);
		int maxw = widths[w] < 40 ? 40 : widths[w];
		int lines = 0;
		for (char *p = out, *nl; *p; p = nl + 1) {
			nl = strchr(p, '\n');
			CU_ASSERT_PTR_NOT_NULL_FATAL(nl);
			CU_ASSERT_TRUE(nl - p <= maxw);
			lines++;
		}
		CU_ASSERT_EQUAL(lines, 3 + 1 + 1 + 50);
		CU_ASSERT_PTR_NULL(strchr(out, '\033'));
		if (widths[w] >= 132) {
			CU_ASSERT_PTR_NOT_NULL(strstr(out, "host  avail 6 GiB of 24 GiB  budget 20 GiB"));
			CU_ASSERT_PTR_NOT_NULL(strstr(out, "rate 250000 pages/s"));
			CU_ASSERT_PTR_NOT_NULL(strstr(out, "MERGEABLE"));
			const char *l = strstr(out, "\nvm02 ");
			CU_ASSERT_PTR_NOT_NULL(l);
			if (l)
				CU_ASSERT_PTR_NOT_NULL(strstr(l, "stuck"));
		}
		free(out);
	}
	json_decref(s);
	/* Sorted by size: the biggest guest comes first. */
	s = json_pack("{s:[{s:s,s:I},{s:s,s:I},{s:s}]}", "guests", "name", "small",
		      "mem_max_bytes", (json_int_t)MIB, "name", "big", "mem_max_bytes", (json_int_t)GIB,
		      "name", "nosize");
	char *out = NULL;
	RENDER(view_top_frame(s, f_, 100), out);
	char *big = strstr(out, "big"), *small = strstr(out, "small"), *ns = strstr(out, "nosize");
	CU_ASSERT_TRUE(big && small && ns && big < small && small < ns);
	free(out);
	json_decref(s);
}

static int fetches;

static json_t *fake_fetch(void *ctx)
{
	fetches++;
	return fetches == 2 ? NULL : stats_fixture(*(int *)ctx, false);
}

static void test_top_loop(void)
{
	/* stdout of the test is not a tty: no escape codes, 3 frames. */
	int n = 4;
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	char path[] = "/tmp/ksmd-view-XXXXXX";
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	dup2(fd, STDOUT_FILENO);
	fetches = 0;
	CU_ASSERT_EQUAL(view_top_loop(fake_fetch, &n, 100, 3), 0);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	CU_ASSERT_EQUAL(fetches, 3);
	char buf[16384];
	lseek(fd, 0, SEEK_SET);
	ssize_t r = read(fd, buf, sizeof buf - 1);
	close(fd);
	unlink(path);
	CU_ASSERT_TRUE(r > 0);
	buf[r > 0 ? r : 0] = '\0';
	CU_ASSERT_PTR_NULL(strchr(buf, '\033'));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "no snapshot from the daemon"));
	int frames = 0;
	for (char *p = buf; (p = strstr(p, "\nGUEST")); p++)
		frames++;
	CU_ASSERT_EQUAL(frames, 2);
}

/* ---- the views read the rows flagged V, and only them ------------------- */

/* Every instance of object obj in snap (each element of an array,
 * recursively) appended to out (borrowed references). */
static void instances(json_t *snap, enum snap_obj obj, json_t *out)
{
	if (obj == SO_ROOT) {
		json_array_append(out, snap);
		return;
	}
	enum snap_id in = snap_objects[obj].in;
	json_t *parents = json_array(), *p, *e;
	size_t i, k;
	instances(snap, snap_fields[in].obj, parents);
	json_array_foreach(parents, i, p) {
		json_t *v = json_object_get(p, snap_key(in));
		if (!snap_objects[obj].element && json_is_object(v))
			json_array_append(out, v);
		else if (snap_objects[obj].element && json_is_array(v))
			json_array_foreach(v, k, e)
				if (json_is_object(e))
					json_array_append(out, e);
	}
	json_decref(parents);
}

/* Every view but `guest` (which prints each field of a guest, whatever
 * its name), into one string (free() it). */
static char *render_views(const json_t *s)
{
	char *out = NULL;
	size_t n;
	FILE *f = open_memstream(&out, &n);
	view_status(s, f);
	view_guests(s, f);
	view_ksm(s, f);
	view_decisions(s, f);
	view_top_frame(s, f, 250);
	fclose(f);
	return out;
}

/* A snapshot with every field a view reads: the fixture, owners added. */
static json_t *view_fixture(void)
{
	json_t *s = stats_fixture(3, false);
	json_object_set_new(s, "owners", json_pack("{s:s, s:s, s:[{s:s, s:i, s:s}], s:s, s:i}",
		"ksm", "ksmtuned (pid 812)", "balloon", "ksmd", "managers", "name", "ksmtuned", "pid", 812,
		"drives", "ksm", "ksm_outside_change", "run 1 -> 0 (3 s ago)", "ksm_outside_changes", 1));
	/* down: every field of http is read */
	json_object_set_new(s, "http", json_pack("{s:s, s:b, s:i, s:s, s:i, s:f, s:i}", "listen",
		"127.0.0.1:9403", "serving", 0, "pid", 4242, "user", "ksmd", "uid", 998, "down_seconds", 3.0,
		"losses_total", 2));
	return s;
}

/* Take each field out of the snapshot: the views' text changes if and only
 * if its row is flagged V. A view reading a key under another name than
 * the table's, or a row flagged V that no view reads, fails here. */
static void test_fields_read(void)
{
	json_t *s = view_fixture();
	char *base = render_views(s);
	for (enum snap_id id = SF_NONE + 1; id < SF_N; id++) {
		json_t *c = json_deep_copy(s), *objs = json_array(), *o;
		size_t i, found = 0;
		instances(c, snap_fields[id].obj, objs);
		json_array_foreach(objs, i, o)
			found += json_object_del(o, snap_key(id)) == 0;
		json_decref(objs);
		bool v = snap_fields[id].where & SNAP_VIEW;
		if (found) {
			char *out = render_views(c);
			if (v != (strcmp(base, out) != 0)) {
				fprintf(stderr, "%s: flagged %s, but the views %s\n", snap_key(id),
					v ? "V" : "not V", v ? "never read it" : "read it");
				CU_FAIL("a field read by the views and its V flag disagree");
			}
			free(out);
		} else if (v) {
			fprintf(stderr, "%s: flagged V, missing from the view fixture\n", snap_key(id));
			CU_FAIL("view fixture incomplete");
		}
		json_decref(c);
	}
	free(base);
	/* `guest` prints every field of a guest */
	char *out = NULL;
	RENDER(view_guest(s, "vm01", f_), out);
	const char *key;
	json_t *val;
	json_object_foreach(json_array_get(json_object_get(s, "guests"), 1), key, val)
		CU_ASSERT_PTR_NOT_NULL(strstr(out, key));
	free(out);
	json_decref(s);
}

int main(void)
{
	static const struct ksmd_test tests[] = {
		{ "status", test_status },
		{ "guests", test_guests },
		{ "numbers out of range", test_huge_numbers },
		{ "guest", test_guest },
		{ "ksm", test_ksm },
		{ "owners", test_owners },
		{ "decisions", test_decisions },
		{ "top frame", test_top_frame },
		{ "top loop", test_top_loop },
		{ "fields read are the rows flagged V", test_fields_read },
		{ NULL, NULL },
	};
	KSMD_TEST_INIT();
	ksmd_add_suite("view", tests);
	return ksmd_run_tests();
}
