/* routes.c — the HTTP endpoint's routes, answered from the last published
 * entry (publish.c): every path to its body, by reference and without a
 * copy; the page's files (page.c) and the chart library's file; the
 * requests answered, counted by path class and status. Called from the
 * server's threads (http.c) inside an RCU read-side section. */
#include "stats/stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <urcu/urcu-memb.h>

#include "stats/entry.h"
#include "stats/host.h"
#include "stats/page.h"

static const char CT_JSON[] = "application/json";
static const char CT_TEXT[] = "text/plain; charset=utf-8";
static const char CT_PROM[] = "text/plain; version=0.0.4; charset=utf-8";
static const char CT_JS[] = "text/javascript; charset=utf-8";

static void view_text(struct stats_view *v, unsigned status, const char *text)
{
	v->status = status;
	v->content_type = CT_TEXT;
	v->body = text;
	v->body_len = strlen(text);
}


static struct stats_body *find_guest(const struct stats_entry *e, const char *name)
{
	size_t lo = 0, hi = e->n_guests;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, e->guest[mid].name);
		if (c == 0)
			return e->guest[mid].b;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

enum route { R_NONE, R_STATS, R_GUESTS, R_GUEST, R_DECISIONS, R_METRICS, R_HEALTH,
	     R_HISTORY, R_PAGE, R_LIBRARY, R_N };

/* Requests answered, by route and status (the statuses routing gives):
 * counters the server's threads add to with relaxed atomics, the loop
 * reads with stats_http_requests(). The page's files are one class. */
static const char *const route_path[R_N] = {
	[R_NONE] = "other", [R_STATS] = "/v1/stats", [R_GUESTS] = "/v1/guests",
	[R_GUEST] = "/v1/guests/NAME", [R_DECISIONS] = "/v1/decisions", [R_METRICS] = "/metrics",
	[R_HEALTH] = "/healthz", [R_HISTORY] = "/v1/history", [R_PAGE] = "page",
	[R_LIBRARY] = STATS_PAGE_LIBRARY_URL,
};
static const unsigned route_codes[] = { 200, 403, 404, 405, 503 };
#define N_CODES (sizeof route_codes / sizeof route_codes[0])
static uint64_t route_count[R_N][N_CODES];
_Static_assert(R_N * N_CODES <= STATS_HTTP_COUNTS_MAX, "STATS_HTTP_COUNTS_MAX holds every pair");

static void count_request(enum route rt, unsigned status)
{
	for (size_t c = 0; c < N_CODES; c++)
		if (route_codes[c] == status)
			__atomic_fetch_add(&route_count[rt][c], 1, __ATOMIC_RELAXED);
}

void stats_view_no_file(struct stats_view *v)
{
	/* routed (and counted) as a 200: it is a 404 after all */
	__atomic_fetch_sub(&route_count[R_LIBRARY][0], 1, __ATOMIC_RELAXED);
	count_request(R_LIBRARY, 404);
	v->file = NULL;
	view_text(v, 404, STATS_PAGE_NO_LIBRARY);
}

size_t stats_http_requests(struct stats_http_count *out, size_t max)
{
	size_t n = 0;
	for (size_t r = 0; r < R_N; r++)
		for (size_t c = 0; c < N_CODES; c++) {
			uint64_t v = __atomic_load_n(&route_count[r][c], __ATOMIC_RELAXED);
			if (v && n < max)
				out[n++] = (struct stats_http_count){ route_path[r], route_codes[c], v };
		}
	return n;
}

void stats_http_counters_get(uint64_t out[STATS_HTTP_COUNTS_MAX])
{
	memset(out, 0, STATS_HTTP_COUNTS_MAX * sizeof *out);
	for (size_t r = 0; r < R_N; r++)
		for (size_t c = 0; c < N_CODES; c++)
			out[r * N_CODES + c] = __atomic_load_n(&route_count[r][c], __ATOMIC_RELAXED);
}

void stats_http_counters_set(const uint64_t in[STATS_HTTP_COUNTS_MAX])
{
	for (size_t r = 0; r < R_N; r++)
		for (size_t c = 0; c < N_CODES; c++)
			__atomic_store_n(&route_count[r][c], in[r * N_CODES + c], __ATOMIC_RELAXED);
}

static enum route match(const char *path, const char **arg, struct stats_asset *asset)
{
	static const struct { const char *path; enum route r; } table[] = {
		{ "/v1/stats", R_STATS }, { "/v1/guests", R_GUESTS },
		{ "/v1/decisions", R_DECISIONS }, { "/metrics", R_METRICS },
		{ "/healthz", R_HEALTH }, { "/v1/history", R_HISTORY },
		{ STATS_PAGE_LIBRARY_URL, R_LIBRARY },
	};
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (strcmp(path, table[i].path) == 0)
			return table[i].r;
	if (stats_page_asset(path, asset))
		return R_PAGE;
	if (strncmp(path, "/v1/guests/", 11) == 0 && path[11] && !strchr(path + 11, '/')) {
		*arg = path + 11;
		return R_GUEST;
	}
	return R_NONE;
}

static void route_view(const char *method, enum route rt, const char *arg,
		       const struct stats_asset *asset, struct stats_view *v)
{
	if (rt == R_NONE) {
		view_text(v, 404, "not found\n");
		return;
	}
	if (!method || (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)) {
		v->allow = "GET, HEAD";
		view_text(v, 405, "method not allowed\n");
		return;
	}
	/* The page's files need no snapshot. */
	if (rt == R_PAGE) {
		v->status = 200;
		v->content_type = asset->content_type;
		v->body = asset->body;
		v->body_len = asset->len;
		return;
	}
	if (rt == R_LIBRARY) {
		v->status = 200;
		v->content_type = CT_JS;
		v->file = stats_page_library();
		return;
	}
	stats_rcu_register_thread();
	urcu_memb_read_lock();
	const struct stats_entry *e = stats_entry_current();
	struct stats_body *b = NULL;
	if (rt == R_HEALTH) {
		view_text(v, e ? 200 : 503, e ? "ok\n" : "no snapshot yet\n");
		goto out;
	}
	if (!e || !e->all) { /* none, or published without bodies (a daemon that does not serve) */
		view_text(v, 503, "no snapshot yet\n");
		goto out;
	}
	switch (rt) {
	case R_STATS: b = e->all; break;
	case R_GUESTS: b = e->guests; break;
	case R_DECISIONS: b = e->decisions; break;
	case R_METRICS: b = e->metrics; break;
	case R_HISTORY: b = e->history; break;
	case R_GUEST: b = find_guest(e, arg); break;
	default: break;
	}
	if (!b) {
		view_text(v, 404, "no such guest\n");
		goto out;
	}
	v->status = 200;
	v->content_type = rt == R_METRICS ? CT_PROM : CT_JSON;
	v->ref = stats_body_ref(b);
	v->body = b->s;
	v->body_len = b->len;
out:
	urcu_memb_read_unlock();
}

/* One request: its path classified once, answered (or refused: a 403
 * whatever the route, counted under the route it asked for), counted. */
static void answer(const char *method, const char *path, bool refused, struct stats_view *v)
{
	memset(v, 0, sizeof *v);
	const char *arg = NULL;
	struct stats_asset asset;
	enum route rt = path ? match(path, &arg, &asset) : R_NONE;
	if (refused)
		view_text(v, 403, STATS_HOST_REFUSED);
	else
		route_view(method, rt, arg, &asset, v);
	count_request(rt, v->status);
}

void stats_route_refused(const char *path, struct stats_view *v)
{
	answer(NULL, path, true, v);
}

void stats_route_view(const char *method, const char *path, struct stats_view *v)
{
	answer(method, path, false, v);
}

/* The file of a view, whole, in *out (NUL-terminated); -errno, or -EIO
 * when it shrank while read. */
static int read_file(const char *path, char **out, size_t *len)
{
	uint64_t size;
	int fd = stats_page_file_open(path, &size);
	if (fd < 0)
		return fd;
	char *t = malloc((size_t)size + 1);
	size_t got = 0;
	int r = t ? 0 : -ENOMEM;
	while (r == 0 && got < size) {
		ssize_t n = read(fd, t + got, (size_t)size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			r = n < 0 ? -errno : -EIO;
		else
			got += (size_t)n;
	}
	close(fd);
	if (r < 0) {
		free(t);
		return r;
	}
	t[got] = '\0';
	*out = t;
	*len = got;
	return 0;
}

int stats_route(const char *method, const char *path, struct stats_reply *r)
{
	struct stats_view v;
	stats_route_view(method, path, &v);
	memset(r, 0, sizeof *r);
	r->status = v.status;
	r->content_type = v.content_type;
	r->allow = v.allow;
	if (v.file) {
		int ret = read_file(v.file, &r->body, &r->body_len);
		if (ret == 0 || ret == -ENOMEM)
			return ret;
		stats_view_no_file(&v); /* as the server answers */
		r->status = v.status;
		r->content_type = v.content_type;
	}
	int ret = stats_copy_bytes(v.body, v.body_len, &r->body, &r->body_len);
	stats_body_release(v.ref);
	return ret;
}
