/* Unit tests of stats/, publishing and the routes: every path, method and
 * status, the request counters, the bodies as the very bytes of
 * json_dumps, and readers that copy bodies while snapshots are swapped
 * under them. */
#include "stats/stats.h"
#include "common/util.h"
#include "tests/unit/harness.h"
#include "tests/unit/test_stats_expo.h"
#include "tests/unit/test_stats_fixture.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

/* The count stats_http_requests() gives for path and code, 0 if none. */
static uint64_t http_count(const char *path, unsigned code)
{
	struct stats_http_count c[STATS_HTTP_COUNTS_MAX];
	size_t n = stats_http_requests(c, STATS_HTTP_COUNTS_MAX);
	CU_ASSERT_TRUE(n <= STATS_HTTP_COUNTS_MAX);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(c[i].path, path) && c[i].code == code)
			return c[i].count;
	return 0;
}

/* Nothing published yet: 503, and what cannot be published refused. */
static void routes_unpublished(void)
{
	struct stats_reply r;
	stats_shutdown(); /* start from nothing */
	CU_ASSERT_PTR_NULL(stats_current());
	CU_ASSERT_EQUAL(stats_route("GET", "/v1/stats", &r), 0);
	CU_ASSERT_EQUAL(r.status, 503);
	free(r.body);
	CU_ASSERT_EQUAL(stats_route("GET", "/healthz", &r), 0);
	CU_ASSERT_EQUAL(r.status, 503);
	free(r.body);
	char *js;
	CU_ASSERT_EQUAL(stats_current_json(&js, NULL), -ENOENT);
	CU_ASSERT_EQUAL(stats_publish(NULL), -EINVAL);
	CU_ASSERT_EQUAL(stats_publish(json_array()), -EINVAL);
}

/* Past the guests: paths that are not there (404), the decisions, the
 * metrics, methods refused (405) and health, against copy, the published
 * document. */
static void routes_others(const json_t *copy)
{
	struct stats_reply r;
	json_t *parsed;
	static const char *const missing[] = { "/v1/guests/vm50", "/v1/guests/", "/v1/guests/vm01/x",
					       "/index.html", "", "/v1", "/v1/stats/", "/metrics2", "/V1/STATS",
					       "/ksmd.js/", "/js/", "/js/chart.js", "/v1/history/" };
	for (size_t i = 0; i < ARRAY_SIZE(missing); i++) {
		CU_ASSERT_EQUAL(stats_route("GET", missing[i], &r), 0);
		CU_ASSERT_EQUAL(r.status, 404);
		free(r.body);
	}
	CU_ASSERT_EQUAL(stats_route("GET", "/v1/decisions", &r), 0);
	parsed = json_loadb(r.body, r.body_len, 0, NULL);
	CU_ASSERT_TRUE(json_equal(json_object_get(parsed, "decisions"), json_object_get(copy, "decisions")));
	CU_ASSERT_TRUE(json_equal(json_object_get(parsed, "policy"), json_object_get(copy, "policy")));
	json_decref(parsed);
	free(r.body);

	CU_ASSERT_EQUAL(stats_route("GET", "/metrics", &r), 0);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
	CU_ASSERT_PTR_NULL(expo_check(r.body, r.body_len));
	free(r.body);

	static const char *const methods[] = { "POST", "PUT", "DELETE", "get", "", "OPTIONS" };
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
		CU_ASSERT_EQUAL(stats_route(methods[i], "/v1/stats", &r), 0);
		CU_ASSERT_EQUAL(r.status, 405);
		CU_ASSERT_STRING_EQUAL(r.allow, "GET, HEAD");
		free(r.body);
	}
	CU_ASSERT_EQUAL(stats_route("GET", "/healthz", &r), 0);
	CU_ASSERT_EQUAL(r.status, 200);
	free(r.body);
}

/* Every answer is counted by path class and status. */
static void routes_counted(void)
{
	struct stats_reply r;
	uint64_t before[4] = { http_count("/metrics", 200), http_count("/v1/guests/NAME", 404),
			       http_count("other", 404), http_count("/v1/stats", 405) };
	static const char *const paths[] = { "/metrics", "/metrics", "/v1/guests/no-such", "/nowhere", "/v1/statsx" };
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		CU_ASSERT_EQUAL(stats_route("GET", paths[i], &r), 0);
		free(r.body);
	}
	CU_ASSERT_EQUAL(stats_route("POST", "/v1/stats", &r), 0);
	free(r.body);
	CU_ASSERT_EQUAL(http_count("/metrics", 200), before[0] + 2);
	CU_ASSERT_EQUAL(http_count("/v1/guests/NAME", 404), before[1] + 1);
	CU_ASSERT_EQUAL(http_count("other", 404), before[2] + 2);
	CU_ASSERT_EQUAL(http_count("/v1/stats", 405), before[3] + 1);
}

/* Published: the snapshot whole, the guest list and guests by name; then
 * the other routes and the counters. */
static void test_routes(void)
{
	struct stats_reply r;
	char *js;
	routes_unpublished();
	json_t *snap = stats_fixture(50, true);
	json_t *copy = json_deep_copy(snap);
	CU_ASSERT_EQUAL_FATAL(stats_publish(snap), 0);

	json_t *cur = stats_current();
	CU_ASSERT_TRUE(json_equal(cur, copy));
	json_decref(cur);
	size_t jl;
	CU_ASSERT_EQUAL_FATAL(stats_current_json(&js, &jl), 0);
	json_t *parsed = json_loadb(js, jl, 0, NULL);
	CU_ASSERT_TRUE(json_equal(parsed, copy));
	json_decref(parsed);
	free(js);

	CU_ASSERT_EQUAL(stats_route("GET", "/v1/stats", &r), 0);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(r.content_type, "application/json");
	CU_ASSERT_EQUAL(strlen(r.body), r.body_len);
	parsed = json_loadb(r.body, r.body_len, 0, NULL);
	CU_ASSERT_TRUE(json_equal(parsed, copy));
	json_decref(parsed);
	free(r.body);

	CU_ASSERT_EQUAL(stats_route("HEAD", "/v1/guests", &r), 0);
	CU_ASSERT_EQUAL(r.status, 200);
	parsed = json_loadb(r.body, r.body_len, 0, NULL);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(parsed, "version")), 1);
	CU_ASSERT_TRUE(json_equal(json_object_get(parsed, "guests"), json_object_get(copy, "guests")));
	CU_ASSERT_TRUE(json_equal(json_object_get(parsed, "time"), json_object_get(copy, "time")));
	json_decref(parsed);
	free(r.body);

	static const char *const names[] = { "vm01", "vm49", "vm25", "we\"ird\\vm\nname" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char path[128];
		snprintf(path, sizeof path, "/v1/guests/%s", names[i]);
		CU_ASSERT_EQUAL(stats_route("GET", path, &r), 0);
		CU_ASSERT_EQUAL(r.status, 200);
		parsed = json_loadb(r.body, r.body_len, 0, NULL);
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(parsed, "guest"), "name")), names[i]);
		json_decref(parsed);
		free(r.body);
	}
	routes_others(copy);
	json_decref(copy);
	routes_counted();
}

/* The bodies are assembled from pieces at publish time; each must be the
 * very bytes json_dumps(JSON_COMPACT) writes for the document it stands
 * for, plus a newline. */
static void expect_body(const char *path, const json_t *doc)
{
	struct stats_reply r;
	char *want = json_dumps(doc, JSON_COMPACT);
	CU_ASSERT_EQUAL_FATAL(stats_route("GET", path, &r), 0);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(want);
	CU_ASSERT_EQUAL(r.body_len, strlen(want) + 1);
	if (r.body_len == strlen(want) + 1) {
		CU_ASSERT_EQUAL(memcmp(r.body, want, r.body_len - 1), 0);
		CU_ASSERT_EQUAL(r.body[r.body_len - 1], '\n');
	}
	free(want);
	free(r.body);
}

static void check_bodies(json_t *snap)
{
	json_t *copy = json_deep_copy(snap);
	CU_ASSERT_EQUAL_FATAL(stats_publish(snap), 0);
	expect_body("/v1/stats", copy);
	json_t *v = json_object_get(copy, "version"), *t = json_object_get(copy, "time");
	json_t *env = json_pack("{s:O}", "version", v ? v : json_integer(STATS_SCHEMA_VERSION));
	if (!v)
		json_decref(json_object_get(env, "version"));
	if (t)
		json_object_set(env, "time", t);
	json_t *g = json_deep_copy(env), *gs = json_object_get(copy, "guests");
	json_object_set_new(g, "guests", json_is_array(gs) ? json_incref(gs) : json_array());
	expect_body("/v1/guests", g);
	json_decref(g);
	json_t *d = json_deep_copy(env), *pol = json_object_get(copy, "policy"),
	       *dec = json_object_get(copy, "decisions");
	if (json_is_object(pol))
		json_object_set(d, "policy", pol);
	json_object_set_new(d, "decisions", json_is_array(dec) ? json_incref(dec) : json_array());
	expect_body("/v1/decisions", d);
	json_decref(d);
	size_t i;
	json_t *one;
	json_array_foreach(json_is_array(gs) ? gs : NULL, i, one) {
		const char *name = json_string_value(json_object_get(one, "name"));
		if (!name || strchr(name, '/') || strchr(name, '?') || strchr(name, '%'))
			continue;
		char path[300];
		snprintf(path, sizeof path, "/v1/guests/%s", name);
		json_t *x = json_deep_copy(env);
		json_object_set(x, "guest", one);
		expect_body(path, x);
		json_decref(x);
	}
	json_decref(env);
	json_decref(copy);
}

static void test_bodies_bytes(void)
{
	check_bodies(stats_fixture(50, true));
	check_bodies(stats_fixture(0, false));
	json_t *s = stats_fixture(3, false);
	json_object_del(s, "version");
	json_object_del(s, "time");
	json_object_set_new(s, "policy", json_string("odd"));
	json_object_set_new(s, "guests", json_object());
	json_object_set_new(s, "k\"e\\y/\xc3\xa9\x01", json_real(-1.5e-300));
	check_bodies(s);
	s = stats_fixture(4, false);
	json_t *gs = json_object_get(s, "guests");
	json_array_append_new(gs, json_integer(7));
	json_array_append_new(gs, json_pack("{s:s,s:f,s:n,s:[]}", "name", "t\u00e9\"st\n", "x", 0.1,
					    "nil", "arr"));
	json_object_del(s, "decisions");
	check_bodies(s);
}

/* Readers copy bodies while the publisher swaps snapshots under them. */
static atomic_bool stop_readers;
static atomic_long reads_ok;

static void *reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_readers)) {
		struct stats_reply r;
		if (stats_route("GET", "/v1/guests/vm03", &r) == 0 && r.status == 200) {
			json_t *p = json_loadb(r.body, r.body_len, 0, NULL);
			if (p && json_object_get(p, "guest"))
				atomic_fetch_add(&reads_ok, 1);
			json_decref(p);
		}
		free(r.body);
		json_t *c = stats_current();
		json_decref(c);
	}
	return NULL;
}

static void test_concurrent(void)
{
	pthread_t t[2];
	atomic_store(&stop_readers, false);
	atomic_store(&reads_ok, 0);
	CU_ASSERT_EQUAL(stats_publish(stats_fixture(10, false)), 0);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, reader, NULL);
	for (int i = 0; i < 300; i++)
		CU_ASSERT_EQUAL(stats_publish(stats_fixture(5 + i % 20, false)), 0);
	atomic_store(&stop_readers, true);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CU_ASSERT_TRUE(atomic_load(&reads_ok) > 0);
}

/* What the daemon hands its HTTP process (daemon/http_sep.c): a document
 * published without bodies is read as one with them (stats_current,
 * stats_current_json), and its compact JSON, parsed and published again
 * with bodies, as in the child, gives the very same bytes. */
static void test_sep_round_trip(void)
{
	stats_shutdown();
	stats_publish_bodies(false);
	CU_ASSERT_EQUAL(stats_publish(stats_fixture(7, true)), 0);
	json_t *cur = stats_current();
	CU_ASSERT_PTR_NOT_NULL_FATAL(cur);
	json_decref(cur);
	struct stats_reply r;
	CU_ASSERT_EQUAL(stats_route("GET", "/v1/stats", &r), 0);
	CU_ASSERT_EQUAL(r.status, 503); /* a daemon that does not serve has no bodies */
	free(r.body);
	char *parent, *child;
	size_t plen, clen;
	CU_ASSERT_EQUAL_FATAL(stats_current_json(&parent, &plen), 0);
	CU_ASSERT_TRUE(plen > 2 && parent[plen - 1] == '\n');
	stats_publish_bodies(true);
	json_error_t err;
	json_t *again = json_loadb(parent, plen, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(again);
	CU_ASSERT_EQUAL(stats_publish(again), 0);
	CU_ASSERT_EQUAL_FATAL(stats_current_json(&child, &clen), 0);
	CU_ASSERT_EQUAL(plen, clen);
	CU_ASSERT_TRUE(plen == clen && !memcmp(parent, child, plen));
	free(parent);
	free(child);
}

/* The history handed to a restarted HTTP process: exported as it is,
 * imported only when it is a ring (in order, finite, known figures). */
static void test_history_transfer(void)
{
	stats_shutdown();
	for (int i = 0; i < 5; i++) {
		json_t *s = stats_fixture(3, false);
		json_object_set_new(s, "time", json_real(1.7e9 + 10.0 * i));
		CU_ASSERT_EQUAL(stats_publish(s), 0);
	}
	struct stats_history_point p[STATS_HISTORY_MAX], q[STATS_HISTORY_MAX];
	size_t n = stats_history_export(p, STATS_HISTORY_MAX);
	CU_ASSERT_EQUAL_FATAL(n, 5);
	CU_ASSERT_EQUAL(stats_history_export(q, 2), 2);
	CU_ASSERT_EQUAL(q[1].time, p[4].time); /* the newest */
	stats_shutdown();
	CU_ASSERT_EQUAL(stats_history_export(q, STATS_HISTORY_MAX), 0);
	CU_ASSERT_EQUAL(stats_history_import(p, n), 0);
	CU_ASSERT_EQUAL(stats_history_export(q, STATS_HISTORY_MAX), n);
	CU_ASSERT_TRUE(!memcmp(p, q, n * sizeof p[0]));
	struct stats_history_point bad[2] = { p[1], p[0] };
	CU_ASSERT_EQUAL(stats_history_import(bad, 2), -EINVAL);
	bad[0] = p[0];
	bad[1] = p[1];
	bad[1].present = 1u << STATS_HISTORY_FIELDS;
	CU_ASSERT_EQUAL(stats_history_import(bad, 2), -EINVAL);
	bad[1] = p[1];
	bad[1].time = 1.0 / 0.0;
	CU_ASSERT_EQUAL(stats_history_import(bad, 2), -EINVAL);
	CU_ASSERT_EQUAL(stats_history_import(p, STATS_HISTORY_MAX + 1), -EINVAL);
	CU_ASSERT_EQUAL(stats_history_export(q, STATS_HISTORY_MAX), n); /* unchanged */
	stats_shutdown();
}

/* The counters the HTTP process reports become the daemon's own. */
static void test_counters_transfer(void)
{
	uint64_t c[STATS_HTTP_COUNTS_MAX], d[STATS_HTTP_COUNTS_MAX];
	stats_http_counters_get(c);
	for (size_t i = 0; i < STATS_HTTP_COUNTS_MAX; i++)
		c[i] = 0;
	c[0] = 3; /* "other", 200: never routed, still carried */
	stats_http_counters_set(c);
	stats_http_counters_get(d);
	CU_ASSERT_TRUE(!memcmp(c, d, sizeof c));
	c[0] = 0;
	stats_http_counters_set(c);
	struct stats_reply r;
	CU_ASSERT_EQUAL(stats_route("GET", "/metrics", &r), 0);
	free(r.body);
	CU_ASSERT_EQUAL(http_count("/metrics", r.status), 1);
}

int main(void)
{
	static const struct ksmd_test pub[] = {
		{ "routes", test_routes },
		{ "bodies are json_dumps bytes", test_bodies_bytes },
		{ "concurrent readers", test_concurrent },
		{ "the HTTP process's snapshot round trip", test_sep_round_trip },
		{ "the history handed over", test_history_transfer },
		{ "the counters handed over", test_counters_transfer },
		{ NULL, NULL },
	};
	KSMD_TEST_INIT();
	ksmd_add_suite("publish", pub);
	int r = ksmd_run_tests();
	stats_shutdown();
	return r;
}
