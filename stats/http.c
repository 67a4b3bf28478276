/* http.c — the read-only stats endpoint on libmicrohttpd.
 *
 * libmicrohttpd runs its own polling threads (epoll, a pool of two), so the
 * daemon loop never sees a connection. A request is answered by
 * stats_route_view(): a reference to a body rendered at publish time, sent
 * as is (no copy), so the work per request is bounded and independent of
 * what the client sends.
 *
 * Hostile clients. The endpoint has no authentication, and on the host any
 * local user can open connections to it from any of 127.0.0.0/8; it must
 * stay reachable for the scraper all the same. MHD bounds what one request
 * may cost: request line + headers fit in the per-connection memory pool
 * (oversized: 414/431 and close). What MHD 0.9.75 does not bound is time:
 * its connection timeout is an idle timeout, reset by every byte, so a
 * client dripping a byte every few seconds holds its connection for ever,
 * and its caps (connections in total and per IP) then refuse everyone
 * else, the scraper first (it shares 127.0.0.1 with every local user). So
 * the guard here keeps its own table of the connections (MHD's connection
 * notifications) and
 *   - gives each request a deadline that bytes do not reset: a whole
 *     request within STATS_HTTP_REQUEST_DEADLINE_USEC of the accept (or of
 *     the end of the previous answer on a kept-alive connection), its
 *     answer sent within STATS_HTTP_ANSWER_DEADLINE_USEC; a thread checks
 *     every STATS_HTTP_GUARD_TICK_USEC and shuts the late ones down;
 *   - past STATS_HTTP_CONN_LIMIT connections, evicts the one that has
 *     waited longest for its request (the oldest if every one is being
 *     answered), so a newcomer is always served: an attacker's connections
 *     are older than the scraper's, and the scraper's request arrives with
 *     its connection. MHD's own cap, STATS_HTTP_CONN_HARD_LIMIT, is only a
 *     backstop, and there is no per-IP cap (on loopback it is a lockout).
 * Shutting a connection down is shutdown(2) on its socket, under the
 * guard's lock: MHD notifies the close before it closes the socket, so the
 * number is still the connection's own; MHD then reads EOF and closes it.
 *
 * The listen socket is not MHD's: stats/listen.c creates it, so that one
 * code path serves "HOST:PORT" and "unix:PATH" (MHD_OPTION_LISTEN_SOCKET),
 * and apart from the server (stats_listener_open, stats_server_serve): the
 * daemon binds as root and serves from an unprivileged process
 * (daemon/http_sep.c). */
#include "stats/stats.h"
#include "stats/page.h"
#include "stats/host.h"
#include "common/log.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Tunables of the endpoint. */
#define STATS_HTTP_THREADS          2     /* MHD worker threads */
#define STATS_HTTP_CONN_LIMIT       64    /* connections; a new one past it evicts the longest waiting */
#define STATS_HTTP_CONN_HARD_LIMIT  256   /* MHD's cap: reached only if evictions lag */
#define STATS_HTTP_REQUEST_DEADLINE_USEC (5 * USEC_PER_SEC)  /* a whole request, from accept */
#define STATS_HTTP_ANSWER_DEADLINE_USEC (30 * USEC_PER_SEC)  /* one answer sent */
#define STATS_HTTP_GUARD_TICK_USEC  (250 * USEC_PER_MSEC)    /* deadline checks */
#define STATS_HTTP_TIMEOUT_SEC      10    /* MHD's idle timeout, seconds */
#define STATS_HTTP_CONN_MEM_BYTES   16384 /* request line + headers, per connection */

/* Every answer: the page may run scripts, apply styles and make requests
 * from this endpoint only (no inline script or style, nothing from
 * elsewhere, no frames, no forms), and no answer is sniffed into another
 * type. */
#define STATS_HTTP_CSP "default-src 'none'; script-src 'self'; style-src 'self'; " \
	"img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; " \
	"frame-ancestors 'none'"

/* One connection, as the guard sees it. */
struct guard_conn {
	struct guard_conn *prev, *next;
	int fd;
	usec_t since_usec;  /* start of its deadline: accept, end of an answer, answer queued */
	bool answering;     /* an answer is queued: the answer's deadline applies */
	bool shut;          /* shut down by the guard, MHD has yet to close it */
};

/* The connections, oldest deadline first; counts under lock. */
struct guard {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool started, stop;
	struct guard_conn list;  /* sentinel of a circular list */
	unsigned live;           /* connections not shut down */
};

struct stats_server {
	struct MHD_Daemon *mhd;
	struct guard guard;
	int fd;
	uint16_t port;
	char *unix_path; /* to unlink at stop, NULL for TCP */
	bool loopback_only; /* bound to a loopback address: Host is checked */
};

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char buf[256];
	vsnprintf(buf, sizeof buf, fmt, ap);
	size_t n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	log_debug("stats http: %s", buf);
}

static void release_body(void *cls)
{
	stats_body_release(cls);
}

/* ---- the guard: deadlines and eviction ---------------------------------- */

static void guard_unlink(struct guard_conn *gc)
{
	gc->prev->next = gc->next;
	gc->next->prev = gc->prev;
}

/* Put gc at the end of the list (the newest deadline), from now. */
static void guard_restart(struct guard *g, struct guard_conn *gc, bool answering)
{
	guard_unlink(gc);
	gc->prev = g->list.prev;
	gc->next = &g->list;
	g->list.prev->next = gc;
	g->list.prev = gc;
	gc->since_usec = now_usec();
	gc->answering = answering;
}

/* Under the lock: the socket is the connection's until MHD notifies its
 * close, and that waits for the lock. */
static void guard_shut(struct guard *g, struct guard_conn *gc)
{
	shutdown(gc->fd, SHUT_RDWR);
	gc->shut = true;
	g->live--;
}

/* Past the limit: the connection waiting longest for its request, or the
 * oldest one if all are being answered. */
static void guard_evict(struct guard *g)
{
	struct guard_conn *victim = NULL;
	for (struct guard_conn *gc = g->list.next; gc != &g->list; gc = gc->next) {
		if (gc->shut)
			continue;
		if (!gc->answering) {
			victim = gc;
			break;
		}
		if (!victim)
			victim = gc;
	}
	if (victim) {
		log_debug("stats http: %d connections, evicting the one waiting longest",
			  STATS_HTTP_CONN_LIMIT);
		guard_shut(g, victim);
	}
}

static struct guard_conn *guard_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/* MHD_OPTION_NOTIFY_CONNECTION: a connection opened or closed. MHD
 * notifies the close before it closes the socket. */
static void guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			 enum MHD_ConnectionNotificationCode toe)
{
	struct guard *g = &((struct stats_server *)cls)->guard;
	struct guard_conn *gc = *socket_context;
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (!gc)
			return;
		pthread_mutex_lock(&g->lock);
		guard_unlink(gc);
		if (!gc->shut)
			g->live--;
		pthread_mutex_unlock(&g->lock);
		free(gc);
		*socket_context = NULL;
		return;
	}
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return;
	gc = calloc(1, sizeof *gc);
	if (!gc) {
		shutdown(ci->connect_fd, SHUT_RDWR); /* not guarded: not served */
		return;
	}
	gc->fd = ci->connect_fd;
	pthread_mutex_lock(&g->lock);
	gc->prev = gc->next = gc;
	guard_restart(g, gc, false);
	g->live++;
	if (g->live > STATS_HTTP_CONN_LIMIT)
		guard_evict(g);
	pthread_mutex_unlock(&g->lock);
	*socket_context = gc;
}

/* The handler queues an answer: the answer's deadline starts. */
static void guard_answering(struct stats_server *srv, struct MHD_Connection *conn)
{
	struct guard_conn *gc = guard_of(conn);
	if (!gc)
		return;
	pthread_mutex_lock(&srv->guard.lock);
	guard_restart(&srv->guard, gc, true);
	pthread_mutex_unlock(&srv->guard.lock);
}

/* MHD_OPTION_NOTIFY_COMPLETED: a request ended (answered, or the
 * connection failed); a kept-alive connection waits for its next one. */
static void guard_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			    enum MHD_RequestTerminationCode toe)
{
	struct stats_server *srv = cls;
	(void)con_cls; (void)toe;
	struct guard_conn *gc = guard_of(conn);
	if (!gc)
		return;
	pthread_mutex_lock(&srv->guard.lock);
	guard_restart(&srv->guard, gc, false);
	pthread_mutex_unlock(&srv->guard.lock);
}

/* The guard's thread: every tick, shut down the connections past their
 * deadline. */
static void *guard_main(void *arg)
{
	struct guard *g = arg;
	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		usec_t now = now_usec();
		for (struct guard_conn *gc = g->list.next; gc != &g->list; gc = gc->next) {
			usec_t deadline = gc->answering ? STATS_HTTP_ANSWER_DEADLINE_USEC
							: STATS_HTTP_REQUEST_DEADLINE_USEC;
			if (!gc->shut && now - gc->since_usec > deadline) {
				log_debug("stats http: %s past its deadline of %llu s, closing",
					  gc->answering ? "an answer" : "a request",
					  (unsigned long long)(deadline / USEC_PER_SEC));
				guard_shut(g, gc);
			}
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		usec_t at = (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000 +
			    STATS_HTTP_GUARD_TICK_USEC;
		ts.tv_sec = (time_t)(at / USEC_PER_SEC);
		ts.tv_nsec = (long)(at % USEC_PER_SEC) * 1000;
		pthread_cond_timedwait(&g->wake, &g->lock, &ts);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

static int guard_start(struct guard *g)
{
	pthread_condattr_t ca;
	g->list.prev = g->list.next = &g->list;
	if (pthread_condattr_init(&ca) != 0)
		return -ENOMEM;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int r = pthread_cond_init(&g->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (r != 0)
		return -r;
	pthread_mutex_init(&g->lock, NULL);
	r = pthread_create(&g->thread, NULL, guard_main, g);
	if (r != 0) {
		pthread_cond_destroy(&g->wake);
		pthread_mutex_destroy(&g->lock);
		return -r;
	}
	g->started = true;
	return 0;
}

/* Stop the thread; the table stays usable (MHD still notifies closes). */
static void guard_stop_thread(struct guard *g)
{
	pthread_mutex_lock(&g->lock);
	g->stop = true;
	pthread_cond_signal(&g->wake);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
}

/* MHD calls this at least twice per request: once when the headers are
 * in, then for each piece of body, then once more with no data. A response
 * queued on the first call makes MHD close the connection (it cannot know
 * whether a body follows), so GET and HEAD answer on the last call and keep
 * the connection alive; other methods get their 405 at once, and the
 * connection is closed rather than reading a body we do not want. */
static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	static int seen; /* marker: headers of this request already handled */
	(void)version; (void)upload;
	bool readonly = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	if (readonly && *con_cls == NULL) {
		*con_cls = &seen;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* a body on GET: ignore it */
		return MHD_YES;
	}
	struct stats_view v;
	struct stats_server *srv = cls;
	/* The query string is already split off url by MHD, and ignored. A
	 * loopback endpoint answers only requests addressed to it by
	 * localhost or an address (DNS rebinding: stats/host.h). */
	if (srv->loopback_only &&
	    !stats_host_allowed(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST), true))
		stats_route_refused(url, &v);
	else
		stats_route_view(method, url, &v);
	/* A file (the chart library) is sent from its descriptor, which MHD
	 * closes with the response. */
	uint64_t size = 0;
	int fd = v.file ? stats_page_file_open(v.file, &size) : -1;
	if (v.file && fd < 0)
		stats_view_no_file(&v);
	/* The body is sent from the published buffer itself, no copy: the
	 * response holds a reference to it, dropped by MHD when the last
	 * byte is sent or the connection goes away. Static texts need none. */
	struct MHD_Response *resp = fd >= 0 ? MHD_create_response_from_fd64(size, fd) :
		v.ref ? MHD_create_response_from_buffer_with_free_callback_cls(
			v.body_len, (void *)v.body, release_body, v.ref) :
		MHD_create_response_from_buffer(v.body_len, (void *)v.body, MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		if (fd >= 0)
			close(fd);
		stats_body_release(v.ref);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, v.content_type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "Content-Security-Policy", STATS_HTTP_CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	if (v.allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, v.allow);
	guard_answering(cls, conn);
	enum MHD_Result ret = MHD_queue_response(conn, v.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

int stats_server_serve(int fd, struct stats_server **out)
{
	struct stats_server *srv = calloc(1, sizeof *srv);
	if (!srv) {
		close(fd);
		return -ENOMEM;
	}
	srv->fd = fd;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	srv->loopback_only = getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
			     stats_addr_is_loopback((const struct sockaddr *)&ss);
	int r = guard_start(&srv->guard);
	if (r < 0) {
		log_err("stats: cannot start the connection guard: %s", strerror(-r));
		stats_server_stop(srv);
		return r;
	}
	srv->mhd = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
		0, NULL, NULL, handler, srv,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)srv->fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)STATS_HTTP_THREADS,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)STATS_HTTP_CONN_HARD_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)STATS_HTTP_TIMEOUT_SEC,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)STATS_HTTP_CONN_MEM_BYTES,
		MHD_OPTION_NOTIFY_CONNECTION, guard_notify, srv,
		MHD_OPTION_NOTIFY_COMPLETED, guard_completed, srv,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_END);
	if (!srv->mhd) {
		log_err("stats: cannot start the HTTP server");
		stats_server_stop(srv);
		return -EIO;
	}
	*out = srv;
	return 0;
}

int stats_server_start(const char *listen_s, struct stats_server **out)
{
	if (!out) {
		log_err("stats: no listen address");
		return -EINVAL;
	}
	struct stats_listener l;
	int r = stats_listener_open(listen_s, &l);
	if (r < 0)
		return r;
	struct stats_server *srv;
	r = stats_server_serve(l.fd, &srv);
	l.fd = -1; /* the server's, closed by it */
	if (r < 0) {
		stats_listener_close(&l);
		return r;
	}
	srv->port = l.port;
	srv->unix_path = l.unix_path;
	if (srv->port)
		log_info("stats: serving on %s (port %u)", listen_s, srv->port);
	else
		log_info("stats: serving on %s", listen_s);
	*out = srv;
	return 0;
}

uint16_t stats_server_port(const struct stats_server *srv)
{
	return srv ? srv->port : 0;
}

void stats_server_stop(struct stats_server *srv)
{
	if (!srv)
		return;
	/* MHD_stop_daemon() closes the listen socket, also one handed to it
	 * with MHD_OPTION_LISTEN_SOCKET: close it here only if MHD never got it,
	 * never twice (the number may already belong to another thread). */
	if (srv->guard.started)
		guard_stop_thread(&srv->guard);
	if (srv->mhd)
		MHD_stop_daemon(srv->mhd); /* notifies every close to the guard */
	else if (srv->fd >= 0)
		close(srv->fd);
	if (srv->guard.started) {
		pthread_cond_destroy(&srv->guard.wake);
		pthread_mutex_destroy(&srv->guard.lock);
	}
	if (srv->unix_path) {
		unlink(srv->unix_path);
		free(srv->unix_path);
	}
	free(srv);
}
