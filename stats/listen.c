/* listen.c — the stats endpoint's listening socket, apart from its server
 * (stats/http.c): "HOST:PORT" (IPv4, IPv6 in brackets, a name resolved
 * once) or "unix:PATH" (mode 0660, removed at close). The daemon opens it
 * as root, before the unprivileged process that serves it exists
 * (daemon/http_sep.c), so a busy port or a bad address fails the start
 * with its reason. A listen address that is not loopback is logged as a
 * warning: the endpoint has no authentication (stats_listen_warning). */
#include "stats/stats.h"
#include "stats/host.h"
#include "common/log.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define STATS_HTTP_BACKLOG 64 /* connections the kernel queues before MHD accepts */

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

static int listen_tcp(const char *listen_s, struct stats_listener *srv)
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

static int listen_unix(const char *path, struct stats_listener *srv)
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

bool stats_addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24 == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

int stats_listen_warning(const char *listen_s, char *buf, size_t len)
{
	if (!listen_s)
		return -EINVAL;
	if (strncmp(listen_s, "unix:", 5) == 0)
		return 0;
	char host[256], port[8];
	if (split_hostport(listen_s, host, sizeof host, port, sizeof port) < 0)
		return -EINVAL;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *res;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -EINVAL;
	bool exposed = false;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
		exposed |= !stats_addr_is_loopback(ai->ai_addr);
	freeaddrinfo(res);
	if (!exposed)
		return 0;
	snprintf(buf, len, "listen = %s is not a loopback address, and the stats endpoint has no "
		 "authentication: whoever reaches the port reads the guests' names and memory "
		 "figures (listen on 127.0.0.1 or unix:PATH, or firewall the port)", listen_s);
	return 1;
}

int stats_listener_open(const char *listen_s, struct stats_listener *l)
{
	*l = (struct stats_listener){ .fd = -1 };
	if (!listen_s) {
		log_err("stats: no listen address");
		return -EINVAL;
	}
	int r = strncmp(listen_s, "unix:", 5) == 0 ? listen_unix(listen_s + 5, l)
						    : listen_tcp(listen_s, l);
	if (r < 0)
		return r;
	char warning[512];
	if (stats_listen_warning(listen_s, warning, sizeof warning) > 0)
		log_warn("stats: %s", warning);
	return 0;
}

void stats_listener_close(struct stats_listener *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	if (l->unix_path) {
		unlink(l->unix_path);
		free(l->unix_path);
		l->unix_path = NULL;
	}
}
