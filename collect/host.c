/* host.c — collect: parse /proc/meminfo, /proc/vmstat and
 * /proc/pressure/memory and a memory cgroup's files, and read them (host.h).
 *
 * The parsers are pure (text in, fields out) so that tests feed them made-up
 * text; collect_host() is the only function here that touches files.
 * Swap rates need two samples: the collector stores the cumulative counters
 * and collect_host_rates() turns two samples into pages per second. */
#include "collect/host.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int collect_parse_meminfo(const char *text, struct policy_host *h)
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

int collect_parse_vmstat(const char *text, struct policy_host *h)
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

int collect_parse_psi(const char *text, struct policy_host *h)
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

void collect_host_rates(const struct policy_host *prev, struct policy_host *cur)
{
	cur->swap_in_pages_per_sec = 0;
	cur->swap_out_pages_per_sec = 0;
	cur->cg_swap_out_bytes_per_sec = 0;
	cur->cg_swap_out_bytes_total = prev ? prev->cg_swap_out_bytes_total : 0;
	if (!prev || cur->sampled_usec <= prev->sampled_usec)
		return;
	double secs = (double)(cur->sampled_usec - prev->sampled_usec) / USEC_PER_SEC;
	if (cur->pswpin_pages >= prev->pswpin_pages)
		cur->swap_in_pages_per_sec = (double)(cur->pswpin_pages - prev->pswpin_pages) / secs;
	if (cur->pswpout_pages >= prev->pswpout_pages)
		cur->swap_out_pages_per_sec = (double)(cur->pswpout_pages - prev->pswpout_pages) / secs;
	cur->cg_swap_out_bytes_per_sec = 0;
	if (cur->cg_valid && prev->cg_valid && cur->cg_swap_bytes > prev->cg_swap_bytes) {
		cur->cg_swap_out_bytes_per_sec = (double)(cur->cg_swap_bytes - prev->cg_swap_bytes) / secs;
		cur->cg_swap_out_bytes_total += cur->cg_swap_bytes - prev->cg_swap_bytes;
	}
}

static int read_at(const char *root, const char *rel, char **buf)
{
	char path[512];
	snprintf(path, sizeof path, "%s%s", root, rel);
	return read_file(path, buf, NULL);
}

int collect_host_at(const char *root, struct policy_host *h)
{
	char *buf = NULL;
	int r = read_at(root, "/proc/meminfo", &buf);
	if (r < 0)
		return r;
	r = collect_parse_meminfo(buf, h);
	free(buf);
	if (r < 0)
		return r;
	r = read_at(root, "/proc/vmstat", &buf);
	if (r < 0)
		return r;
	r = collect_parse_vmstat(buf, h);
	free(buf);
	if (r < 0)
		return r;
	/* PSI is optional: a kernel without it leaves psi_available false. */
	h->psi_available = false;
	if (read_at(root, "/proc/pressure/memory", &buf) >= 0) {
		if (collect_parse_psi(buf, h) < 0)
			h->psi_available = false;
		free(buf);
	}
	h->sampled_usec = now_usec();
	return 0;
}

int collect_host(struct policy_host *h)
{
	return collect_host_at("", h);
}

/* ------------------------------------------------------- memory cgroup */

/* Field `idx` (0-based, space separated) of a mountinfo line into out. */
static bool mi_field(const char *line, int idx, char *out, size_t len)
{
	const char *p = line;
	for (int i = 0; i < idx; i++) {
		p = strchr(p, ' ');
		if (!p)
			return false;
		p++;
	}
	size_t n = strcspn(p, " \n");
	if (n >= len)
		return false;
	memcpy(out, p, n);
	out[n] = 0;
	return true;
}

int collect_parse_cgroup_mount(const char *mountinfo, char *mnt, size_t len, bool *v2)
{
	char v2mnt[512] = "";
	for (const char *p = mountinfo; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		/* ID PARENT MAJ:MIN ROOT MOUNT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS */
		const char *dash = strstr(p, " - ");
		const char *eol = strchr(p, '\n');
		if (!dash || (eol && dash > eol))
			continue;
		char point[512], fstype[32], super[512];
		if (!mi_field(p, 4, point, sizeof point) || !mi_field(dash + 3, 0, fstype, sizeof fstype) ||
		    !mi_field(dash + 3, 2, super, sizeof super))
			continue;
		if (!strcmp(fstype, "cgroup")) {
			/* v1: one controller list per mount, "rw,memory" */
			bool mem = false;
			for (char *t = strtok(super, ","); t; t = strtok(NULL, ","))
				mem |= !strcmp(t, "memory");
			if (mem && strlen(point) < len) {
				strcpy(mnt, point);
				*v2 = false;
				return 0;
			}
		} else if (!strcmp(fstype, "cgroup2") && !v2mnt[0]) {
			snprintf(v2mnt, sizeof v2mnt, "%s", point);
		}
	}
	if (!v2mnt[0] || strlen(v2mnt) >= len)
		return -ENOENT;
	strcpy(mnt, v2mnt);
	*v2 = true;
	return 0;
}

/* Does path have a ".." component? */
static bool has_dotdot(const char *path)
{
	for (const char *p = strstr(path, ".."); p; p = strstr(p + 2, ".."))
		if ((p == path || p[-1] == '/') && (p[2] == '/' || !p[2]))
			return true;
	return false;
}

int collect_cgroup_resolve(const char *path, char *dir, size_t len)
{
	if (path[0] != '/' || has_dotdot(path))
		return -EINVAL;
	char *mi = NULL, mnt[512];
	bool v2 = false;
	int r = read_file("/proc/self/mountinfo", &mi, NULL);
	if (r < 0)
		return r;
	r = collect_parse_cgroup_mount(mi, mnt, sizeof mnt, &v2);
	free(mi);
	if (r < 0)
		return r;
	size_t ml = strlen(mnt);
	int n;
	if (!strncmp(path, mnt, ml) && (path[ml] == '/' || !path[ml]))
		n = snprintf(dir, len, "%s", path);          /* a full path under the mount */
	else
		n = snprintf(dir, len, "%s%s", mnt, strcmp(path, "/") ? path : "");
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	char probe[600];
	snprintf(probe, sizeof probe, "%s/%s", dir, v2 ? "memory.max" : "memory.limit_in_bytes");
	if (access(probe, R_OK) < 0)
		return -errno;
	return 0;
}

/* A whole file of one number (common/util's read_u64_file), or cgroup v2's
 * "max" = UINT64_MAX. */
static int read_u64_at(const char *dir, const char *name, uint64_t *v)
{
	char path[600], *buf = NULL;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int r = read_u64_file(path, v);
	if (r != -EINVAL || read_file(path, &buf, NULL) < 0)
		return r;
	bool max = !strncmp(buf, "max", 3);
	free(buf);
	if (!max)
		return -EINVAL;
	*v = UINT64_MAX;
	return 0;
}

int collect_cgroup(const char *dir, struct policy_host *h)
{
	char path[600];
	uint64_t limit, usage, swap = 0;
	int r;
	h->cg_valid = false;
	snprintf(path, sizeof path, "%s/memory.max", dir);
	bool v2 = access(path, F_OK) == 0;
	if (v2) {
		if ((r = read_u64_at(dir, "memory.max", &limit)) < 0 ||
		    (r = read_u64_at(dir, "memory.current", &usage)) < 0)
			return r;
		(void)read_u64_at(dir, "memory.swap.current", &swap); /* absent without swap accounting */
	} else {
		if ((r = read_u64_at(dir, "memory.limit_in_bytes", &limit)) < 0 ||
		    (r = read_u64_at(dir, "memory.usage_in_bytes", &usage)) < 0)
			return r;
		char *st = NULL;
		snprintf(path, sizeof path, "%s/memory.stat", dir);
		if (read_file(path, &st, NULL) >= 0) {
			/* hierarchical first: guests may sit in child cgroups */
			if (!vmstat_value(st, "total_swap", &swap))
				(void)vmstat_value(st, "swap", &swap);
			free(st);
		}
	}
	/* v1 reports "no limit" as a huge page-aligned number */
	h->cg_limited = limit < (UINT64_C(1) << 60);
	h->cg_limit_bytes = h->cg_limited ? limit : 0;
	h->cg_usage_bytes = usage;
	h->cg_swap_bytes = swap;
	h->cg_valid = true;
	return 0;
}
