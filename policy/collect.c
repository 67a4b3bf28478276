/* collect.c — the I/O half of the policy: parse /proc/meminfo, /proc/vmstat
 * and /proc/pressure/memory, and read them from the real files.
 *
 * The parsers are pure (text in, fields out) so that tests feed them made-up
 * text; policy_collect_host() is the only function here that touches files.
 * Swap rates need two samples: the collector stores the cumulative counters
 * and policy_host_rates() turns two samples into pages per second. */
#include "policy/policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Value of "Key:   123 kB" lines; returns true if key was found. */
static bool meminfo_kb(const char *text, const char *key, uint64_t *bytes)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, kl) || p[kl] != ':')
			continue;
		char *end;
		unsigned long long v = strtoull(p + kl + 1, &end, 10);
		if (end == p + kl + 1)
			return false;
		while (*end == ' ')
			end++;
		*bytes = strncmp(end, "kB", 2) == 0 ? v * 1024ULL : v;
		return true;
	}
	return false;
}

int policy_parse_meminfo(const char *text, struct policy_host *h)
{
	uint64_t v;
	if (!meminfo_kb(text, "MemTotal", &h->mem_total_bytes) ||
	    !meminfo_kb(text, "MemAvailable", &h->mem_available_bytes))
		return -EINVAL;
	h->mem_free_bytes = meminfo_kb(text, "MemFree", &v) ? v : 0;
	h->swap_total_bytes = meminfo_kb(text, "SwapTotal", &v) ? v : 0;
	h->swap_free_bytes = meminfo_kb(text, "SwapFree", &v) ? v : 0;
	return 0;
}

/* Value of "key 123" lines of /proc/vmstat. */
static bool vmstat_value(const char *text, const char *key, uint64_t *out)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, kl) || p[kl] != ' ')
			continue;
		char *end;
		*out = strtoull(p + kl + 1, &end, 10);
		return end != p + kl + 1;
	}
	return false;
}

int policy_parse_vmstat(const char *text, struct policy_host *h)
{
	if (!vmstat_value(text, "pswpin", &h->pswpin_pages) ||
	    !vmstat_value(text, "pswpout", &h->pswpout_pages))
		return -EINVAL;
	return 0;
}

/* One PSI line after its "some"/"full" word: avg10=X avg60=Y avg300=Z total=T */
static int psi_line(const char *p, double *avg10, uint64_t *total)
{
	double a10, a60, a300;
	unsigned long long t;
	if (sscanf(p, " avg10=%lf avg60=%lf avg300=%lf total=%llu", &a10, &a60, &a300, &t) != 4)
		return -EINVAL;
	if (a10 < 0 || a10 > 100)
		return -EINVAL;
	*avg10 = a10;
	*total = t;
	return 0;
}

int policy_parse_psi(const char *text, struct policy_host *h)
{
	bool some = false, full = false;
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, "some", 4)) {
			if (psi_line(p + 4, &h->psi_some_avg10_percent, &h->psi_some_total_usec) < 0)
				return -EINVAL;
			some = true;
		} else if (!strncmp(p, "full", 4)) {
			if (psi_line(p + 4, &h->psi_full_avg10_percent, &h->psi_full_total_usec) < 0)
				return -EINVAL;
			full = true;
		} else if (*p != '\n' && *p) {
			return -EINVAL;
		}
	}
	if (!some)
		return -EINVAL;
	if (!full) {
		h->psi_full_avg10_percent = 0;
		h->psi_full_total_usec = 0;
	}
	h->psi_available = true;
	return 0;
}

void policy_host_rates(const struct policy_host *prev, struct policy_host *cur)
{
	cur->swap_in_pages_per_sec = 0;
	cur->swap_out_pages_per_sec = 0;
	if (!prev || cur->sampled_usec <= prev->sampled_usec)
		return;
	double secs = (double)(cur->sampled_usec - prev->sampled_usec) / USEC_PER_SEC;
	if (cur->pswpin_pages >= prev->pswpin_pages)
		cur->swap_in_pages_per_sec = (double)(cur->pswpin_pages - prev->pswpin_pages) / secs;
	if (cur->pswpout_pages >= prev->pswpout_pages)
		cur->swap_out_pages_per_sec = (double)(cur->pswpout_pages - prev->pswpout_pages) / secs;
}

static int read_at(const char *root, const char *rel, char **buf)
{
	char path[512];
	snprintf(path, sizeof path, "%s%s", root, rel);
	return read_file(path, buf, NULL);
}

int policy_collect_host_at(const char *root, struct policy_host *h)
{
	char *buf = NULL;
	int r = read_at(root, "/proc/meminfo", &buf);
	if (r < 0)
		return r;
	r = policy_parse_meminfo(buf, h);
	free(buf);
	if (r < 0)
		return r;
	r = read_at(root, "/proc/vmstat", &buf);
	if (r < 0)
		return r;
	r = policy_parse_vmstat(buf, h);
	free(buf);
	if (r < 0)
		return r;
	/* PSI is optional: a kernel without it leaves psi_available false. */
	h->psi_available = false;
	if (read_at(root, "/proc/pressure/memory", &buf) >= 0) {
		if (policy_parse_psi(buf, h) < 0)
			h->psi_available = false;
		free(buf);
	}
	h->sampled_usec = now_usec();
	return 0;
}

int policy_collect_host(struct policy_host *h)
{
	return policy_collect_host_at("", h);
}
