/* host.c — the Host header check (stats/host.h). */
#include "stats/host.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The name part of a Host header: "[v6]" without brackets, or what comes
 * before the port. Returns false when it does not fit or is malformed. */
static bool host_name(const char *host, char *out, size_t len)
{
	const char *end;
	if (host[0] == '[') {
		host++;
		end = strchr(host, ']');
		if (!end || (end[1] && end[1] != ':'))
			return false;
	} else {
		end = strchr(host, ':');
		if (!end)
			end = host + strlen(host);
		else if (strchr(end + 1, ':'))
			return false; /* an IPv6 address without brackets is not a Host */
	}
	size_t n = (size_t)(end - host);
	if (n == 0 || n >= len)
		return false;
	memcpy(out, host, n);
	out[n] = 0;
	return true;
}

bool stats_host_allowed(const char *host, bool loopback_only)
{
	if (!loopback_only || !host)
		return true;
	char name[256];
	if (!host_name(host, name, sizeof name))
		return false;
	size_t n = strlen(name);
	if (name[n - 1] == '.') /* "localhost." is the same name */
		name[--n] = 0;
	if (!strcasecmp(name, "localhost"))
		return true;
	unsigned char addr[16];
	return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
}
