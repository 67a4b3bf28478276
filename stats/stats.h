/* stats.h — published snapshots, the HTTP stats endpoint, Prometheus text.
 *
 * The daemon loop builds one snapshot per tick: a jansson document in the
 * schema of docs/STATS.md (version 1). stats_publish() takes it over, renders
 * every HTTP body once (JSON of the whole, of guests, of decisions, of each
 * guest, and the Prometheus text; the hour of history when it took a point,
 * stats/page.h) and swaps it in with an RCU pointer
 * (liburcu, flavour urcu-memb). From then on the document is immutable.
 * Readers (the HTTP threads, the control socket) never take a lock the loop
 * holds: serving a request is an rcu_read_lock, taking a reference to a
 * pre-rendered body (one atomic increment), an rcu_read_unlock; the HTTP
 * server sends the body from there without copying it. Old snapshots are freed after a grace period
 * (call_rcu), never by the loop while a reader holds them.
 *
 * RCU threads. Every thread that calls into this module is registered with
 * urcu-memb by the module itself, once, on first use (and unregistered at
 * thread exit). A module that also uses urcu-memb on a thread that may call
 * into stats must register that thread with stats_rcu_register_thread()
 * (idempotent) rather than urcu_memb_register_thread() directly, so that
 * the thread is never registered twice.
 *
 * Errors are negative errno. Functions here log only where stated. */
#ifndef KSMD_STATS_H
#define KSMD_STATS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Schema version of the published JSON (the "version" field). */
#define STATS_SCHEMA_VERSION 1

struct stats_server;

/* ---- publishing (daemon loop) ---------------------------------------- */

/* Publish a new snapshot. Takes ownership of snap (one reference) in every
 * case, also on failure. The document must not be modified afterwards by
 * anyone. Renders the bodies (0.3-0.6 ms for 50 guests, see
 * bench/results/stats.md),
 * swaps the pointer, and schedules the previous snapshot for freeing after
 * a grace period. Call from one thread at a time (the loop).
 * Returns 0, -EINVAL (snap is NULL or not an object), -ENOMEM. */
int stats_publish(json_t *snap);

/* Whether stats_publish() renders the HTTP bodies (the default) or keeps
 * the document only (and the history's points, not its body): the daemon
 * whose endpoint is served by another process (daemon/http_sep.c), where
 * only the control socket reads the snapshot. Call before publishing. */
void stats_publish_bodies(bool on);

/* The current snapshot for the control socket: a new reference
 * (json_incref) to the published, immutable document, or NULL when nothing
 * was published yet. The caller must json_decref() it and must not modify
 * it. Safe from any thread, never blocks on the loop. */
json_t *stats_current(void);

/* The current snapshot already serialized (compact JSON, as served by
 * GET /v1/stats): a malloc'd NUL-terminated copy in *out (free() it), its
 * length in *len (may be NULL). Returns 0, -ENOENT (nothing published
 * yet), -ENOMEM. */
int stats_current_json(char **out, size_t *len);

/* Free the published snapshot and wait for pending frees (rcu_barrier).
 * Call at shutdown, after stats_server_stop(). */
void stats_shutdown(void);

/* Register the calling thread with urcu-memb if this module has not done
 * so already on this thread (idempotent). It is unregistered automatically
 * when the thread exits. */
void stats_rcu_register_thread(void);

/* ---- the hour of history (GET /v1/history) ---------------------------- */

/* One point of the history (stats/history.c says which figures): the
 * snapshot's time in Unix seconds, a bit per figure present, the figures
 * in bytes. Plain data: the daemon hands the ring to a restarted HTTP
 * process as an array of these. */
#define STATS_HISTORY_FIELDS 6
#define STATS_HISTORY_MAX 360
struct stats_history_point {
	double time;
	uint32_t present;
	uint32_t pad_;
	json_int_t v[STATS_HISTORY_FIELDS];
};

/* The newest max points of the ring, oldest first, into out; how many. */
size_t stats_history_export(struct stats_history_point *out, size_t max);

/* Replace the ring with the n points p (the receiving side of export).
 * Returns 0, or -EINVAL (more than STATS_HISTORY_MAX points, a time not
 * finite or out of order, an unknown figure bit) leaving the ring as it
 * was. Publisher only, before the first publish. */
int stats_history_import(const struct stats_history_point *p, size_t n);

/* ---- HTTP server -------------------------------------------------------- */

/* Start the HTTP endpoint (libmicrohttpd, its own internal polling thread;
 * the loop is never involved). listen is "HOST:PORT" (IPv4 address or
 * "localhost", or "[IPv6]:PORT"; port 0 = ephemeral) or "unix:PATH" (a
 * stale socket file at PATH is replaced; mode 0660). Serves GET (and HEAD):
 *   /v1/stats /v1/guests /v1/guests/NAME /v1/decisions /v1/history
 *   /metrics /healthz, and the live page: / /ksmd.js /ksmd.css
 *   /js/chart.min.js (stats/page.h)
 * 404 unknown path or guest, 405 other methods (with Allow), 503 for data
 * endpoints before the first publish. Every answer carries a
 * Content-Security-Policy that allows scripts, styles and requests to the
 * endpoint itself only, and nosniff. Limits (stats/http.c): 16 KiB per
 * connection for request line and headers; a whole request within 5 s of
 * the accept (or of the previous answer), its answer sent within 30 s,
 * however often bytes trickle; past 64 connections a new one evicts the
 * one waiting longest for its request, so a newcomer is never refused;
 * no per-address cap. Logs a warning when listen is not a loopback
 * address (stats_listen_warning()).
 * Logs the reason of a failure (log_err) and returns -EINVAL (bad listen
 * string), -EADDRINUSE, -ENOMEM, or another negative errno. */
int stats_server_start(const char *listen, struct stats_server **out);

/* The endpoint's socket, bound and listening, apart from the server: the
 * daemon binds it as root and serves it from an unprivileged process. */
struct stats_listener {
	int fd;          /* listening, non-blocking, close-on-exec; -1: none */
	uint16_t port;   /* the TCP port bound (port 0 asked), 0 for unix */
	char *unix_path; /* the socket file of unix:PATH, NULL for TCP */
};

/* Bind and listen on listen as stats_server_start() does (the same
 * strings, errors and logs, the warning of a non-loopback address). */
int stats_listener_open(const char *listen, struct stats_listener *l);

/* Close l's socket and remove its socket file. Idempotent. */
void stats_listener_close(struct stats_listener *l);

/* Serve the routes on fd, a socket already listening (the server owns fd
 * from here, also on failure, and closes it at stop). Logs a failure.
 * Returns 0, -ENOMEM, -EIO. */
int stats_server_serve(int fd, struct stats_server **out);

/* Whether listen exposes the endpoint beyond the host: a "HOST:PORT" whose
 * host resolves to any address outside 127.0.0.0/8 and ::1 (0.0.0.0 and
 * [::] included). Returns 1 with a one-line warning in buf (naming that
 * there is no authentication), 0 (loopback or unix:PATH), or -EINVAL (a
 * bad or unresolvable listen string). Logged by stats_server_start();
 * pure of the server, so `ksmd -n` can print it too. */
int stats_listen_warning(const char *listen, char *buf, size_t len);

/* The TCP port the server is bound to (useful with port 0), 0 for unix. */
uint16_t stats_server_port(const struct stats_server *srv);

/* Stop the server, close its socket, remove a unix socket file, free. NULL
 * is fine. Waits for in-flight requests (bounded by the 10 s idle timeout). */
void stats_server_stop(struct stats_server *srv);

/* The main of the endpoint's unprivileged process (stats/http_child.c):
 * ksmd started as `ksmd --http-child LEVEL UID:GID` by daemon/http_sep.c
 * (the log level, the user to become: stats.user, resolved by the daemon),
 * with its sockets on descriptors 3 and 4 (stats/sep_wire.h). Drops every
 * privilege, then serves until the daemon closes the socketpair. Never
 * returns. */
_Noreturn int stats_http_child_main(int argc, char **argv);

/* ---- pure rendering ----------------------------------------------------- */

/* Render a snapshot as Prometheus text exposition format 0.0.4. Pure: reads
 * snap only. Missing fields are omitted, never invented. *out is a malloc'd
 * NUL-terminated string (free() it), *len its length. Returns 0, -EINVAL
 * (snap not an object), -ENOMEM. */
int stats_render_prometheus(const json_t *snap, char **out, size_t *len);

/* One HTTP answer as computed by stats_route(). */
struct stats_reply {
	unsigned status;          /* HTTP status code */
	const char *content_type; /* static string */
	const char *allow;        /* value of Allow (405 only), else NULL */
	char *body;               /* malloc'd, NUL-terminated; free() it */
	size_t body_len;
};

/* Answer one request (method, path without query string) from the current
 * snapshot. Pure routing + a copy of a pre-rendered body (the HTTP server
 * uses stats_route_view(), which does not copy). Returns 0 with *reply
 * filled (any status), or -ENOMEM. */
int stats_route(const char *method, const char *path, struct stats_reply *reply);

/* ---- zero-copy serving (the HTTP server) ------------------------------ */

/* A pre-rendered body, reference counted: it outlives the snapshot it
 * belongs to for as long as someone holds a reference. */
struct stats_body;

/* One HTTP answer by reference: body points into a pre-rendered body
 * (ref holds it) or to a static string (ref is NULL). */
struct stats_view {
	unsigned status;          /* HTTP status code */
	const char *content_type; /* static string */
	const char *allow;        /* value of Allow (405 only), else NULL */
	const char *body;         /* valid until stats_body_release(ref) */
	size_t body_len;
	struct stats_body *ref;   /* release with stats_body_release(); may be NULL */
	const char *file;         /* not NULL: the body is this file (static path),
				     sent as it is; see stats_view_no_file() */
};

/* stats_route() without the copy: never allocates, never fails, never
 * blocks (an rcu read section and one atomic increment). The caller must
 * pass v->ref to stats_body_release() when done with v->body; any thread
 * may do that, at any time later (after a newer publish, after
 * stats_shutdown). With v->file set (the page's chart library) the body
 * is that file's content: the caller opens it, and when it cannot, calls
 * stats_view_no_file(v). */
void stats_route_view(const char *method, const char *path, struct stats_view *v);

/* The requests stats_route_view() answered since the start, by path class
 * ("/metrics", "/v1/guests/NAME", ..., "other": no such path) and status:
 * the pairs counted at least once, up to max of them, into out. Returns
 * how many. Lock-free; STATS_HTTP_COUNTS_MAX holds every pair. */
struct stats_http_count {
	const char *path; /* static */
	unsigned code;
	uint64_t count;
};
#define STATS_HTTP_COUNTS_MAX 50
size_t stats_http_requests(struct stats_http_count *out, size_t max);

/* The same counters as one flat array (path class by status, in a fixed
 * order, unused slots 0): what the unprivileged HTTP process reports to
 * the daemon (get), and what the daemon, which serves nothing itself,
 * sets as its own so that stats_http_requests() reports them (set). */
void stats_http_counters_get(uint64_t out[STATS_HTTP_COUNTS_MAX]);
void stats_http_counters_set(const uint64_t in[STATS_HTTP_COUNTS_MAX]);

/* The 403 answer to a request whose Host header the endpoint does not
 * answer (stats/host.h), counted under the path's class. */
void stats_route_refused(const char *path, struct stats_view *v);

/* Turn a view of a file that cannot be served (missing, not a regular
 * file, too big) into its 404 answer, as every server of the routes
 * does. */
void stats_view_no_file(struct stats_view *v);

/* Drop one reference to a body; frees it when it was the last. NULL is
 * fine. Never blocks. */
void stats_body_release(struct stats_body *b);

#endif
