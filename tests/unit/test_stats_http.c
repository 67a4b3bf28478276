/* Unit tests of stats/, the HTTP server over TCP (ephemeral port) and a
 * unix socket, including hostile clients: oversized URL and header,
 * garbage, partial requests held open; and the listen strings refused. */
#include "stats/stats.h"
#include "stats/page.h"
#include "common/util.h"
#include "tests/unit/harness.h"
#include "tests/unit/test_stats_expo.h"
#include "tests/unit/test_stats_fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

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
	int n = snprintf(req, sizeof req,
			 "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", method, path);
	return http_raw(fd, req, (size_t)n, resp);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The page, with its policy; the chart library from its file. */
static void http_tcp_page(uint16_t port)
{
	char *resp, *body;
	CU_ASSERT_EQUAL(http_get(connect_tcp(port), "GET", "/", &resp), 200);
	CU_ASSERT_PTR_NOT_NULL(strcasestr(resp, "\r\nContent-Security-Policy: default-src 'none'; "
					   "script-src 'self'; style-src 'self';"));
	CU_ASSERT_PTR_NOT_NULL(strcasestr(resp, "Content-Type: text/html; charset=utf-8"));
	CU_ASSERT_PTR_NOT_NULL(strstr(resp, "<canvas id=\"chart-memory\""));
	free(resp);
	CU_ASSERT_EQUAL(http_get(connect_tcp(port), "GET", "/v1/history", NULL), 200);
	struct stat lib;
	int want = stat(KSMD_CHART_JS, &lib) == 0 ? 200 : 404;
	CU_ASSERT_EQUAL(http_get(connect_tcp(port), "GET", STATS_PAGE_LIBRARY_URL, &resp), want);
	if (want == 200) {
		char cl[64];
		snprintf(cl, sizeof cl, "\r\nContent-Length: %lld\r\n", (long long)lib.st_size);
		CU_ASSERT_PTR_NOT_NULL(strcasestr(resp, cl));
		body = strstr(resp, "\r\n\r\n");
		CU_ASSERT_TRUE(body && strlen(body + 4) == (size_t)lib.st_size);
	}
	free(resp);
	CU_ASSERT_EQUAL(http_get(connect_tcp(port), "HEAD", STATS_PAGE_LIBRARY_URL, NULL), want);
}

/* Hostile requests: each refused or its connection closed, no crash. */
static void http_tcp_hostile(uint16_t port)
{
	/* Oversized URL: refused (414) or the connection closed, no crash. */
	size_t big = 64 * 1024;
	char *req = malloc(big + 64);
	memcpy(req, "GET /", 5);
	memset(req + 5, 'a', big);
	strcpy(req + 5 + big, " HTTP/1.1\r\nHost: localhost\r\n\r\n");
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
	const char nul[] = "GET /v1/st\0ats HTTP/1.1\r\nHost: localhost\r\n\r\n";
	st = http_raw(connect_tcp(port), nul, sizeof nul - 1, NULL);
	CU_ASSERT_TRUE(st == 400 || st == 404 || st == 0);
}

/* Partial requests held open, and a connection kept alive. */
static void http_tcp_slow(uint16_t port)
{
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
	const char one[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
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
}

/* DNS rebinding: the loopback endpoint refuses a request addressed to
 * another name (403, counted under its path), answers an address. */
static void http_tcp_rebinding(uint16_t port)
{
	uint64_t before = 0, after = 0;
	struct stats_http_count c[STATS_HTTP_COUNTS_MAX];
	size_t n = stats_http_requests(c, STATS_HTTP_COUNTS_MAX);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(c[i].path, "/v1/stats") && c[i].code == 403)
			before = c[i].count;
	char req[256], *resp;
	int len = snprintf(req, sizeof req,
			   "GET /v1/stats HTTP/1.1\r\nHost: rebind.example:%u\r\nConnection: close\r\n\r\n", port);
	CU_ASSERT_EQUAL(http_raw(connect_tcp(port), req, (size_t)len, &resp), 403);
	CU_ASSERT_PTR_NOT_NULL(strstr(resp, "DNS rebinding"));
	CU_ASSERT_PTR_NULL(strstr(resp, "\"guests\""));
	free(resp);
	n = stats_http_requests(c, STATS_HTTP_COUNTS_MAX);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(c[i].path, "/v1/stats") && c[i].code == 403)
			after = c[i].count;
	CU_ASSERT_EQUAL(after, before + 1);
	len = snprintf(req, sizeof req,
		       "GET /v1/stats HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n\r\n", port);
	CU_ASSERT_EQUAL(http_raw(connect_tcp(port), req, (size_t)len, NULL), 200);
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
	CU_ASSERT_PTR_NOT_NULL(strcasestr(resp, "\r\nX-Content-Type-Options: nosniff\r\n"));
	free(resp);

	http_tcp_page(port);

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
	const char post[] = "POST /v1/stats HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
			    "Connection: close\r\n\r\nhello";
	CU_ASSERT_EQUAL(http_raw(connect_tcp(port), post, sizeof post - 1, NULL), 405);

	http_tcp_hostile(port);

	http_tcp_slow(port);

	http_tcp_rebinding(port);

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

int main(void)
{
	static const struct ksmd_test http[] = {
		{ "tcp, hostile clients", test_http_tcp },
		{ "unix socket", test_http_unix },
		{ "listen strings", test_listen_strings },
		{ NULL, NULL },
	};
	KSMD_TEST_INIT();
	ksmd_add_suite("http", http);
	int r = ksmd_run_tests();
	stats_shutdown();
	return r;
}
