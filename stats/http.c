/* http.c — the read-only stats endpoint on libmicrohttpd.
 *
 * libmicrohttpd runs its own polling threads (epoll, a pool of two), so the
 * daemon loop never sees a connection. A request is answered by
 * stats_route_view(): a reference to a body rendered at publish time, sent
 * as is (no copy), so the work per request is bounded and independent of
 * what the client sends. Hostile
 * clients are bounded by MHD's limits: request line + headers must fit in
 * the per-connection memory pool (oversized: 414/431 and close), a cap on
 * connections in total and per IP, and an idle timeout that ends
 * slowloris-style partial requests.
 *
 * The listen socket is created here, not by MHD, so that one code path
 * serves "HOST:PORT" and "unix:PATH" (MHD_OPTION_LISTEN_SOCKET). */
#include "stats/stats.h"
#include "common/log.h"

#include <errno.h>
#include <stdbool.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Tunables of the endpoint. */
#define STATS_HTTP_THREADS          2     /* MHD worker threads */
#define STATS_HTTP_CONN_LIMIT       64    /* connections in total */
#define STATS_HTTP_PER_IP_LIMIT     16    /* connections per client address */
#define STATS_HTTP_TIMEOUT_SEC      10    /* idle connection timeout, seconds */
#define STATS_HTTP_CONN_MEM_BYTES   16384 /* request line + headers, per connection */
#define STATS_HTTP_BACKLOG          64

struct stats_server {
	struct MHD_Daemon *mhd;
	int fd;
	uint16_t port;
	char *unix_path; /* to unlink at stop, NULL for TCP */
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
	(void)cls; (void)version; (void)upload;
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
	/* The query string is already split off url by MHD, and ignored. */
	stats_route_view(method, url, &v);
	/* The body is sent from the published buffer itself, no copy: the
	 * response holds a reference to it, dropped by MHD when the last
	 * byte is sent or the connection goes away. Static texts need none. */
	struct MHD_Response *resp = v.ref ?
		MHD_create_response_from_buffer_with_free_callback_cls(
			v.body_len, (void *)v.body, release_body, v.ref) :
		MHD_create_response_from_buffer(v.body_len, (void *)v.body, MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		stats_body_release(v.ref);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, v.content_type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (v.allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, v.allow);
	enum MHD_Result ret = MHD_queue_response(conn, v.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Split "HOST:PORT" / "[V6]:PORT" into host and port. */
static int split_hostport(const char *s, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon;
	const char *h = s;
	size_t n;
	if (*s == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		h = s + 1;
		n = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL;
		n = (size_t)(colon - s);
	}
	if (n == 0 || n >= hlen)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	const char *p = colon + 1;
	if (!*p || strlen(p) >= plen || strspn(p, "0123456789") != strlen(p) || atol(p) > 65535)
		return -EINVAL;
	strcpy(port, p);
	return 0;
}

static int listen_tcp(const char *listen_s, struct stats_server *srv)
{
	char host[256], port[8];
	if (split_hostport(listen_s, host, sizeof host, port, sizeof port) < 0) {
		log_err("stats: bad listen address '%s' (want HOST:PORT, [IPV6]:PORT or unix:PATH)",
			listen_s);
		return -EINVAL;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *res, *ai;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0) {
		log_err("stats: cannot resolve listen address '%s': %s", listen_s, gai_strerror(gai));
		return -EINVAL;
	}
	int err = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, STATS_HTTP_BACKLOG) < 0) {
			err = -errno;
			close(fd);
			continue;
		}
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
			srv->port = ntohs(ss.ss_family == AF_INET6 ?
					  ((struct sockaddr_in6 *)&ss)->sin6_port :
					  ((struct sockaddr_in *)&ss)->sin_port);
		srv->fd = fd;
		freeaddrinfo(res);
		return 0;
	}
	freeaddrinfo(res);
	log_err("stats: cannot listen on '%s': %s", listen_s, strerror(-err));
	return err;
}

static int listen_unix(const char *path, struct stats_server *srv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (!*path || strlen(path) >= sizeof sa.sun_path) {
		log_err("stats: bad unix socket path '%s' (empty or longer than %zu bytes)",
			path, sizeof sa.sun_path - 1);
		return -EINVAL;
	}
	strcpy(sa.sun_path, path);
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path); /* stale socket of a previous run */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(path, 0660) < 0 ||
	    listen(fd, STATS_HTTP_BACKLOG) < 0) {
		int err = -errno;
		log_err("stats: cannot listen on unix:%s: %s", path, strerror(errno));
		close(fd);
		return err;
	}
	srv->unix_path = strdup(path);
	if (!srv->unix_path) {
		close(fd);
		unlink(path);
		return -ENOMEM;
	}
	srv->fd = fd;
	return 0;
}

int stats_server_start(const char *listen_s, struct stats_server **out)
{
	if (!listen_s || !out) {
		log_err("stats: no listen address");
		return -EINVAL;
	}
	struct stats_server *srv = calloc(1, sizeof *srv);
	if (!srv)
		return -ENOMEM;
	srv->fd = -1;
	int r = strncmp(listen_s, "unix:", 5) == 0 ? listen_unix(listen_s + 5, srv)
						    : listen_tcp(listen_s, srv);
	if (r < 0) {
		free(srv);
		return r;
	}
	srv->mhd = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
		0, NULL, NULL, handler, srv,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)srv->fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)STATS_HTTP_THREADS,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)STATS_HTTP_CONN_LIMIT,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)STATS_HTTP_PER_IP_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)STATS_HTTP_TIMEOUT_SEC,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)STATS_HTTP_CONN_MEM_BYTES,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_END);
	if (!srv->mhd) {
		log_err("stats: cannot start the HTTP server on '%s'", listen_s);
		stats_server_stop(srv);
		return -EIO;
	}
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
	if (srv->mhd)
		MHD_stop_daemon(srv->mhd);
	else if (srv->fd >= 0)
		close(srv->fd);
	if (srv->unix_path) {
		unlink(srv->unix_path);
		free(srv->unix_path);
	}
	free(srv);
}
