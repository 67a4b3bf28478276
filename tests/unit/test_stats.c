/* Unit tests of stats/: Prometheus rendering (strict format checker, and
 * promtool when available), publishing and routes, concurrent readers, and
 * the HTTP server over TCP (ephemeral port) and a unix socket, including
 * hostile clients: oversized URL, garbage, partial requests. */
#include "stats/stats.h"
#include "common/util.h"
#include "tests/unit/harness.h"
#include "tests/unit/test_stats_expo.h"
#include "tests/unit/test_stats_fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
		"ksmd_host_swap_out_pages_per_second 12.5",
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
	const char *pt = getenv("PROMTOOL");
	char cmd[512];
	if (!pt && system("command -v promtool >/dev/null 2>&1") == 0)
		pt = "promtool";
	if (pt) {
		char path[] = "/tmp/ksmd-test-prom-XXXXXX";
		int fd = mkstemp(path);
		CU_ASSERT_FATAL(fd >= 0);
		CU_ASSERT_EQUAL(write(fd, out, len), (ssize_t)len);
		close(fd);
		snprintf(cmd, sizeof cmd, "%s check metrics < %s", pt, path);
		int rc = system(cmd);
		CU_ASSERT_EQUAL(rc, 0);
		unlink(path);
	} else {
		printf("skip promtool check: promtool not installed (make promtool-stats fetches it)\n");
	}
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

static void test_routes(void)
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
	static const char *const missing[] = { "/v1/guests/vm50", "/v1/guests/", "/v1/guests/vm01/x",
					       "/", "", "/v1", "/v1/stats/", "/metrics2", "/V1/STATS" };
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
	json_decref(copy);
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

/* ---- HTTP ---------------------------------------------------------------- */

static int connect_tcp(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int connect_unix(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send raw bytes, read the whole answer (until close); returns the status
 * code (0 if none), the response in *resp if not NULL (free it). */
static int http_raw(int fd, const char *req, size_t reqlen, char **resp)
{
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off < reqlen) {
		ssize_t w = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (n + 4096 > cap)
			buf = realloc(buf, cap *= 2);
		ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	close(fd);
	int status = 0;
	sscanf(buf, "HTTP/1.%*d %d", &status);
	if (resp)
		*resp = buf;
	else
		free(buf);
	return status;
}

static int http_get(int fd, const char *method, const char *path, char **resp)
{
	char req[512];
	int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			 method, path);
	return http_raw(fd, req, (size_t)n, resp);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_http_tcp(void)
{
	struct stats_server *srv = NULL;
	CU_ASSERT_EQUAL(stats_publish(stats_fixture(50, true)), 0);
	CU_ASSERT_EQUAL_FATAL(stats_server_start("127.0.0.1:0", &srv), 0);
	uint16_t port = stats_server_port(srv);
	CU_ASSERT_FATAL(port != 0);
	char *resp;

	CU_ASSERT_EQUAL(http_get(connect_tcp(port), "GET", "/v1/stats", &resp), 200);
	char *body = strstr(resp, "\r\n\r\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	json_t *p = json_loads(body + 4, 0, NULL);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(p, "guests")), 50);
	json_decref(p);
	CU_ASSERT_PTR_NOT_NULL(strcasestr(resp, "Content-Type: application/json"));
	free(resp);

	CU_ASSERT_EQUAL(http_get(connect_tcp(port), "GET", "/metrics", &resp), 200);
	body = strstr(resp, "\r\n\r\n");
	CU_ASSERT_PTR_NULL(expo_check(body + 4, strlen(body + 4)));
	CU_ASSERT_PTR_NOT_NULL(strcasestr(resp, "version=0.0.4"));
	free(resp);

	CU_ASSERT_EQUAL(http_get(connect_tcp(port), "GET", "/v1/guests", NULL), 200);
	CU_ASSERT_EQUAL(http_get(connect_tcp(port), "GET", "/v1/guests/vm07", NULL), 200);
	CU_ASSERT_EQUAL(http_get(connect_tcp(port), "GET", "/v1/guests/we%22ird%5Cvm%0Aname", NULL), 200);
	CU_ASSERT_EQUAL(http_get(connect_tcp(port), "GET", "/v1/guests/vm07?pretty=1", NULL), 200);
	CU_ASSERT_EQUAL(http_get(connect_tcp(port), "GET", "/v1/guests/nosuch", NULL), 404);
	CU_ASSERT_EQUAL(http_get(connect_tcp(port), "GET", "/v1/decisions", NULL), 200);
	CU_ASSERT_EQUAL(http_get(connect_tcp(port), "GET", "/healthz", NULL), 200);
	CU_ASSERT_EQUAL(http_get(connect_tcp(port), "GET", "/nope", NULL), 404);
	CU_ASSERT_EQUAL(http_get(connect_tcp(port), "HEAD", "/v1/stats", NULL), 200);
	CU_ASSERT_EQUAL(http_get(connect_tcp(port), "DELETE", "/v1/stats", &resp), 405);
	CU_ASSERT_PTR_NOT_NULL(strcasestr(resp, "Allow: GET, HEAD"));
	free(resp);
	const char post[] = "POST /v1/stats HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
			    "Connection: close\r\n\r\nhello";
	CU_ASSERT_EQUAL(http_raw(connect_tcp(port), post, sizeof post - 1, NULL), 405);

	/* Oversized URL: refused (414) or the connection closed, no crash. */
	size_t big = 64 * 1024;
	char *req = malloc(big + 64);
	memcpy(req, "GET /", 5);
	memset(req + 5, 'a', big);
	strcpy(req + 5 + big, " HTTP/1.1\r\nHost: x\r\n\r\n");
	int st = http_raw(connect_tcp(port), req, strlen(req), NULL);
	CU_ASSERT_TRUE(st == 414 || st == 431 || st == 0);
	/* Oversized header. */
	memcpy(req, "GET /v1/stats HTTP/1.1\r\nX-Big: ", 31);
	memset(req + 31, 'b', big);
	strcpy(req + 31 + big, "\r\n\r\n");
	st = http_raw(connect_tcp(port), req, strlen(req), NULL);
	CU_ASSERT_TRUE(st == 431 || st == 413 || st == 414 || st == 0);
	free(req);

	/* Garbage. */
	char junk[4096];
	srand(7);
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (char)(rand() & 0xff);
	st = http_raw(connect_tcp(port), junk, sizeof junk, NULL);
	CU_ASSERT_TRUE(st == 400 || st == 0);
	const char bad[] = "GET /v1/stats HTTP/9.9\r\n\r\n";
	st = http_raw(connect_tcp(port), bad, sizeof bad - 1, NULL);
	CU_ASSERT_TRUE(st >= 400 || st == 0);
	const char nul[] = "GET /v1/st\0ats HTTP/1.1\r\nHost: x\r\n\r\n";
	st = http_raw(connect_tcp(port), nul, sizeof nul - 1, NULL);
	CU_ASSERT_TRUE(st == 400 || st == 404 || st == 0);

	/* Slowloris: partial requests held open do not stop the service. */
	int slow[6];
	for (int i = 0; i < 6; i++) {
		slow[i] = connect_tcp(port);
		CU_ASSERT(slow[i] >= 0);
		send(slow[i], "GET /v1/st", 10, MSG_NOSIGNAL);
	}
	double t0 = now_s();
	for (int i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(http_get(connect_tcp(port), "GET", "/v1/stats", NULL), 200);
	double dt = now_s() - t0;
	printf("20 requests with 6 partial requests open: %.1f ms\n", dt * 1e3);
	CU_ASSERT_TRUE(dt < 2.0);
	for (int i = 0; i < 6; i++)
		close(slow[i]);

	/* Keep-alive: a second request on the same connection. */
	int fd = connect_tcp(port);
	const char one[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	CU_ASSERT_EQUAL(send(fd, one, sizeof one - 1, MSG_NOSIGNAL), (ssize_t)(sizeof one - 1));
	char first[1024];
	size_t got = 0;
	while (got < sizeof first - 1 && !memmem(first, got, "\r\n\r\nok\n", 7)) {
		ssize_t r = recv(fd, first + got, sizeof first - 1 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	CU_ASSERT_PTR_NOT_NULL(memmem(first, got, "HTTP/1.1 200", 12));
	CU_ASSERT_PTR_NULL(memmem(first, got, "Connection: close", 17));
	CU_ASSERT_EQUAL(http_get(fd, "GET", "/v1/guests/vm01", NULL), 200);

	/* Same port twice: refused. */
	char addr[32];
	struct stats_server *srv2 = NULL;
	snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
	CU_ASSERT_EQUAL(stats_server_start(addr, &srv2), -EADDRINUSE);

	/* Still alive after all that. */
	CU_ASSERT_EQUAL(http_get(connect_tcp(port), "GET", "/healthz", NULL), 200);
	stats_server_stop(srv);
	CU_ASSERT_EQUAL(connect_tcp(port), -1);
}

static void test_http_unix(void)
{
	char dir[] = "/tmp/ksmd-stats-XXXXXX";
	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	char path[64], listen_s[80];
	snprintf(path, sizeof path, "%s/stats.sock", dir);
	snprintf(listen_s, sizeof listen_s, "unix:%s", path);
	struct stats_server *srv = NULL;
	CU_ASSERT_EQUAL_FATAL(stats_server_start(listen_s, &srv), 0);
	CU_ASSERT_EQUAL(stats_server_port(srv), 0);
	struct stat st;
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0660);
	CU_ASSERT_EQUAL(http_get(connect_unix(path), "GET", "/healthz", NULL), 200);
	CU_ASSERT_EQUAL(http_get(connect_unix(path), "GET", "/metrics", NULL), 200);
	CU_ASSERT_EQUAL(http_get(connect_unix(path), "GET", "/v1/guests/nosuch", NULL), 404);
	CU_ASSERT_EQUAL(http_get(connect_unix(path), "PUT", "/metrics", NULL), 405);
	stats_server_stop(srv);
	CU_ASSERT_NOT_EQUAL(stat(path, &st), 0);
	/* A stale socket file is replaced. */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	CU_ASSERT_EQUAL(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	close(fd);
	CU_ASSERT_EQUAL_FATAL(stats_server_start(listen_s, &srv), 0);
	CU_ASSERT_EQUAL(http_get(connect_unix(path), "GET", "/v1/stats", NULL), 200);
	stats_server_stop(srv);
	rmdir(dir);
}

static void test_listen_strings(void)
{
	static const char *const bad[] = {
		"nonsense", "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:80x",
		":9100", "[::1]9100", "unix:", "::1:9100", "no.such.host.invalid:9100",
		"unix:/tmp/0123456789012345678901234567890123456789012345678901234567890123456789"
		"0123456789012345678901234567890123456789/s",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct stats_server *srv = NULL;
		int r = stats_server_start(bad[i], &srv);
		if (r != -EINVAL)
			fprintf(stderr, "listen '%s' gave %d\n", bad[i], r);
		CU_ASSERT_EQUAL(r, -EINVAL);
		CU_ASSERT_PTR_NULL(srv);
	}
	struct stats_server *srv = NULL;
	CU_ASSERT_EQUAL(stats_server_start("localhost:0", &srv), 0);
	CU_ASSERT_NOT_EQUAL(stats_server_port(srv), 0);
	stats_server_stop(srv);
	stats_server_stop(NULL);
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

int main(void)
{
	static const struct ksmd_test prom[] = {
		{ "full snapshot", test_prom_full },
		{ "partial and wrong fields", test_prom_partial },
		{ "strict checker rejects", test_expo_checker },
		{ NULL, NULL },
	};
	static const struct ksmd_test pub[] = {
		{ "routes", test_routes },
		{ "bodies are json_dumps bytes", test_bodies_bytes },
		{ "concurrent readers", test_concurrent },
		{ NULL, NULL },
	};
	static const struct ksmd_test http[] = {
		{ "tcp, hostile clients", test_http_tcp },
		{ "unix socket", test_http_unix },
		{ "listen strings", test_listen_strings },
		{ NULL, NULL },
	};
	KSMD_TEST_INIT();
	ksmd_add_suite("prometheus", prom);
	ksmd_add_suite("publish", pub);
	ksmd_add_suite("http", http);
	int r = ksmd_run_tests();
	stats_shutdown();
	return r;
}
