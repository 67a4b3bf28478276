/* balloon_anchor_host.c — the host as bench/balloon_anchor.c's rules see
 * it (bench/balloon_anchor.h).
 *
 * By default /proc/meminfo, read as each original reads it:
 *   Proxmox (pve-common ProcFSTools.pm:381-440): total = MemTotal,
 *     used = MemTotal - MemAvailable.
 *   MOM (mom Collectors/HostMemory.py:44-77): mem_available = MemTotal,
 *     mem_free = MemFree + Buffers + Cached.
 * With --cgroup PATH the host the rule sees is that memory cgroup (v2:
 * memory.max, memory.current, memory.stat; v1: memory.limit_in_bytes,
 * memory.usage_in_bytes, memory.stat), mapped term by term:
 *   MemTotal     -> the limit (no limit, or one above the host's RAM: the
 *                   host's MemTotal, which is what bounds the cgroup then);
 *   MemFree      -> limit - usage (the cgroup's headroom; 0 when over);
 *   Buffers + Cached -> the cgroup's page cache: v2 `file`, v1 `total_cache`
 *                   (both include tmpfs/shmem, as Cached does);
 *   MemAvailable -> MemFree + the file LRU (v2 active_file + inactive_file,
 *                   v1 total_active_file + total_inactive_file) + v2
 *                   slab_reclaimable: the kernel's si_mem_available() sum
 *                   without its watermark terms, which a cgroup has not
 *                   (its limit is the edge), capped at the limit.
 * So Proxmox's used = limit - available and MOM's mem_free = headroom +
 * page cache, exactly as each computes them from meminfo. */
#include "bench/balloon_anchor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

/* Value of "Key: 123 kB" (meminfo) or "key 123" (memory.stat) in text:
 * a line that starts with key followed by ':' or ' '. kB becomes bytes. */
static bool kv_u64(const char *text, const char *key, uint64_t *v)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, kl) || (p[kl] != ':' && p[kl] != ' '))
			continue;
		const char *s = p + kl + 1;
		char *end;
		errno = 0;
		unsigned long long x = strtoull(s, &end, 10);
		if (end == s || errno)
			return false;
		while (*end == ' ')
			end++;
		*v = strncmp(end, "kB", 2) == 0 ? x * KIB : x;
		return true;
	}
	return false;
}


int read_meminfo(struct host_in *h)
{
	char *text = NULL;
	int r = read_file("/proc/meminfo", &text, NULL);
	if (r < 0)
		return r;
	uint64_t buffers, cached;
	if (!kv_u64(text, "MemTotal", &h->total_bytes) ||
	    !kv_u64(text, "MemFree", &h->free_bytes) ||
	    !kv_u64(text, "MemAvailable", &h->available_bytes) ||
	    !kv_u64(text, "Buffers", &buffers) || !kv_u64(text, "Cached", &cached))
		r = -EINVAL;
	else
		h->cache_bytes = buffers + cached;
	free(text);
	snprintf(h->source, sizeof h->source, "meminfo");
	h->usage_bytes = 0;
	return r;
}

/* A cgroup as a host; the mapping is in the comment at the top. */
int read_cgroup(const char *dir, struct host_in *h)
{
	struct host_in host;
	int r = read_meminfo(&host);
	if (r < 0)
		return r;
	char path[4096], *text = NULL;
	bool v2;
	uint64_t limit, usage;
	snprintf(path, sizeof path, "%s/memory.max", dir);
	if (access(path, R_OK) == 0) {
		v2 = true;
		if ((r = read_file(path, &text, NULL)) < 0)
			return r;
		char *end;
		errno = 0;
		if (strncmp(text, "max", 3) == 0) {
			limit = UINT64_MAX;
		} else {
			limit = strtoull(text, &end, 10);
			if (end == text || errno)
				r = -EINVAL;
		}
		free(text);
		if (r < 0)
			return r;
		snprintf(path, sizeof path, "%s/memory.current", dir);
	} else {
		v2 = false;
		snprintf(path, sizeof path, "%s/memory.limit_in_bytes", dir);
		if ((r = read_u64_file(path, &limit)) < 0)
			return r;
		snprintf(path, sizeof path, "%s/memory.usage_in_bytes", dir);
	}
	if ((r = read_u64_file(path, &usage)) < 0)
		return r;
	snprintf(path, sizeof path, "%s/memory.stat", dir);
	if ((r = read_file(path, &text, NULL)) < 0)
		return r;
	uint64_t cache = 0, afile = 0, ifile = 0, slab = 0;
	bool ok = v2 ? kv_u64(text, "file", &cache) && kv_u64(text, "active_file", &afile) &&
		       kv_u64(text, "inactive_file", &ifile)
		     : kv_u64(text, "total_cache", &cache) &&
		       kv_u64(text, "total_active_file", &afile) &&
		       kv_u64(text, "total_inactive_file", &ifile);
	if (v2)
		(void)kv_u64(text, "slab_reclaimable", &slab); /* absent before 5.9 */
	free(text);
	if (!ok)
		return -EINVAL;

	memset(h, 0, sizeof *h);
	snprintf(h->source, sizeof h->source, "cgroup-v%d", v2 ? 2 : 1);
	h->total_bytes = MIN(limit, host.total_bytes);
	h->usage_bytes = usage;
	h->free_bytes = h->total_bytes > usage ? h->total_bytes - usage : 0;
	h->cache_bytes = cache;
	h->available_bytes = MIN(h->free_bytes + afile + ifile + slab, h->total_bytes);
	return 0;
}
