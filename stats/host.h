/* host.h — which Host headers the stats endpoint answers (DNS rebinding).
 *
 * A web page the operator opens can make the browser send requests to a
 * name its own DNS server first resolves to the attacker and then to
 * 127.0.0.1 ("DNS rebinding"): the browser then treats the answers of the
 * loopback endpoint as the page's own and hands them to the page. The
 * request still carries the attacker's name in its Host header. So an
 * endpoint that listens on loopback only answers requests addressed to
 * "localhost" or to an IP address (any port); others get 403. An endpoint
 * listening on another address (the operator exposed it on purpose, and the
 * names it is reached by are theirs) or on a UNIX socket (no browser reaches
 * it) answers every Host. A request without Host (HTTP/1.0) is answered:
 * browsers always send one. */
#ifndef KSMD_STATS_HOST_H
#define KSMD_STATS_HOST_H

#include <stdbool.h>

/* The text of the 403 answer. */
#define STATS_HOST_REFUSED \
	"403 the stats endpoint listens on loopback and answers only requests addressed to " \
	"localhost or an IP address (a defence against DNS rebinding)\n"

/* Is a request with this Host header (NULL: none) answered by an endpoint
 * that listens on loopback only (loopback_only) or elsewhere? */
bool stats_host_allowed(const char *host, bool loopback_only);

struct sockaddr;
/* Is the socket address a loopback one (127.0.0.0/8, ::1, ::ffff:127.x)?
 * (stats/listen.c: what decides loopback_only and the warning.) */
bool stats_addr_is_loopback(const struct sockaddr *sa);

#endif
