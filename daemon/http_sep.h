/* http_sep.h — the stats endpoint served by a process without privileges.
 *
 * The daemon binds the endpoint's socket (as root: a busy port fails the
 * start, a unix socket gets its mode), then runs the HTTP server in a child
 * process that drops every privilege (stats/http_child.c) and hands it
 * each published snapshot over a socketpair (stats/sep_wire.h). The child
 * answers with its request counters, which become the daemon's own
 * (stats_http_counters_set), so the http_requests metric stays whole
 * across restarts of the child. A child that dies, breaks the protocol or
 * stops answering is killed, reaped and logged once, and started again
 * after a backoff (SEP_RESTART_MIN_USEC doubling to SEP_RESTART_MAX_USEC);
 * meanwhile the endpoint is down and the daemon goes on. */
#ifndef KSMD_DAEMON_HTTP_SEP_H
#define KSMD_DAEMON_HTTP_SEP_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/loop.h"

struct http_sep;

/* Bind listen (stats_listener_open: its errors and logs) and start the
 * child as user (stats.user: "" the default, conf/config.h
 * config_stats_user; resolved again at each start, so a user removed since
 * the configuration was read keeps the endpoint down, logged, rather than
 * serving as another). Registers its socket and a 1 s supervision timer
 * with l. Returns 0, or a negative errno of the bind or of the first
 * start (later failures are not an error here: the child is restarted). */
int http_sep_start(struct loop *l, const char *listen, const char *user, struct http_sep **out);

/* Hand the child the snapshot (a reference is taken; the caller keeps
 * its own). Never blocks: while the child has not answered the last one,
 * only the newest is kept for it. */
void http_sep_publish(struct http_sep *s, json_t *snap);

/* The TCP port bound (listen with port 0), 0 for unix:PATH. */
uint16_t http_sep_port(const struct http_sep *s);

/* How many children were lost (died, broke the protocol, hung) so far. */
unsigned http_sep_losses(const struct http_sep *s);

/* What the snapshot shows of the endpoint's process (its stats object). */
struct http_sep_status {
	bool serving;         /* a child serves; false: the endpoint is down */
	pid_t pid;            /* the child serving, or the last one lost; 0: none yet */
	unsigned losses;      /* http_sep_losses */
	double down_seconds;  /* since when it is down, 0 while serving */
	char user[64];        /* the user it runs as, "" until one was resolved */
	uid_t uid;
	gid_t gid;
};
void http_sep_status(const struct http_sep *s, usec_t now, struct http_sep_status *st);

/* Stop: close the socketpair, kill and reap the child, close the socket
 * (a unix socket's file is removed), free. NULL is fine. */
void http_sep_stop(struct http_sep *s);

#endif
