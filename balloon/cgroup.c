/* cgroup.c — the cgroup backend: a container's or process's "balloon" is its
 * memory limit.
 *
 * The target is the limit the host enforces: cgroup v2 `memory.high`
 * (reclaim and throttle above it, never OOM-kill), cgroup v1
 * `memory.limit_in_bytes` (reclaim, OOM as a last resort) with the soft
 * limit set to the same value, or in soft mode `memory.soft_limit_in_bytes`
 * alone (acts only under global pressure). `actual` is the limit read back
 * from the kernel, or the usage when that is higher (memory.high and the
 * soft limit can be exceeded), so stuck tracking sees a workload that does
 * not shrink; an unlimited cgroup's actual is its max.
 *
 * Writing goes through libcgroup (cgroup_modify_cgroup), which locates the
 * memory hierarchy for us on v1, v2 and hybrid hosts. Reading uses
 * libcgroup's memory.stat iterator; the one-value files (usage, limits) and
 * `memory.pressure` are read directly, because libcgroup offers no typed
 * reader for a single value without loading every file of the controller
 * (cgroup_get_cgroup reads them all, including slow ones) and knows nothing
 * of PSI files. If libcgroup cannot initialise (no memory hierarchy listed
 * in /proc/mounts it understands) the backend writes the files directly.
 *
 * Statistics map onto the guest-stats vocabulary as closely as honest:
 * total = the limit, free = limit - usage, disk caches = page cache,
 * available = free + page cache - shmem, faults from pgfault/pgmajfault.
 * The host side's usage is reported as BALLOON_STAT_USAGE; swap usage and
 * other cgroup-only numbers go into the extra tags. */
#include "balloon/internal.h"
#include "common/log.h"

#include <errno.h>
#include <libcgroup.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UNLIMITED_BYTES (1ULL << 60)  /* v1 "unlimited" is ~2^63 rounded to a page */

static int lcg_state; /* 0 not tried, 1 ok, -1 unusable */

static bool lcg_ready(void)
{
	if (!lcg_state) {
		int r = cgroup_init();
		lcg_state = r == 0 ? 1 : -1;
		if (r)
			log_info("cgroup: libcgroup unavailable (%s): writing cgroup files directly",
				 cgroup_strerror(r));
	}
	return lcg_state > 0;
}

static char *memory_root(void)
{
	char *mnt = NULL;
	if (lcg_ready() && cgroup_get_subsys_mount_point("memory", &mnt) == 0 && mnt)
		return mnt;
	free(mnt);
	if (access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0)
		return strdup("/sys/fs/cgroup/memory");
	return strdup("/sys/fs/cgroup");
}

static int cg_file(const struct balloon *b, const char *file, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", b->cg_dir, file);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Read a limit file: "max" / huge = unlimited -> UINT64_MAX. */
static int read_limit(const struct balloon *b, const char *file, uint64_t *out)
{
	char p[PATH_MAX], *s = NULL;
	int r = cg_file(b, file, p, sizeof p);
	if (r < 0 || (r = read_file(p, &s, NULL)) < 0)
		return r;
	if (!strncmp(s, "max", 3)) {
		*out = UINT64_MAX;
	} else {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(s, &end, 10);
		r = errno || end == s ? -EINVAL : 0;
		*out = v >= UNLIMITED_BYTES ? UINT64_MAX : v;
	}
	free(s);
	return r;
}

static uint64_t host_memtotal(void)
{
	char *s = NULL;
	uint64_t kb = 0;
	if (read_file("/proc/meminfo", &s, NULL) == 0) {
		char *m = strstr(s, "MemTotal:");
		if (m)
			kb = strtoull(m + 9, NULL, 10);
		free(s);
	}
	return kb * KIB;
}

static const char *limit_file(const struct balloon *b)
{
	if (b->cg_version == 2)
		return "memory.high";
	return b->cfg.cg_v1_mode == BALLOON_CG_V1_SOFT ? "memory.soft_limit_in_bytes"
						      : "memory.limit_in_bytes";
}

int balloon_cgroup_open(struct balloon *b, const char *path)
{
	char *root = memory_root();
	if (!root)
		return -ENOMEM;
	size_t rl = strlen(root);
	if (path[0] == '/') {
		b->cg_dir = strdup(path);
		if (!strncmp(path, root, rl) && (path[rl] == '/' || !path[rl]))
			b->cg_rel = strdup(path[rl] ? path + rl + 1 : "");
	} else {
		if (asprintf(&b->cg_dir, "%s/%s", root, path) < 0)
			b->cg_dir = NULL;
		b->cg_rel = strdup(path);
	}
	free(root);
	if (!b->cg_dir)
		return -ENOMEM;
	char p[PATH_MAX];
	if (cg_file(b, "memory.limit_in_bytes", p, sizeof p) == 0 && access(p, F_OK) == 0)
		b->cg_version = 1;
	else if (cg_file(b, "memory.high", p, sizeof p) == 0 && access(p, F_OK) == 0)
		b->cg_version = 2;
	else
		return access(b->cg_dir, F_OK) == 0 ? -ENOTSUP : -ENOENT;

	if (!b->max_known) {
		uint64_t lim = UINT64_MAX;
		(void)read_limit(b, b->cg_version == 2 ? "memory.max" : "memory.limit_in_bytes", &lim);
		b->limits.max_bytes = lim != UINT64_MAX ? lim : host_memtotal();
		b->limits.min_bytes = b->cfg.min_bytes;
		balloon_limits_default(&b->limits, b->cfg.min_percent);
		b->max_known = b->limits.max_bytes != 0;
	}
	balloon_set_state(b, BALLOON_READY, NULL);
	balloon_cgroup_refresh(b, now_usec());
	return 0;
}

static int write_direct(const struct balloon *b, const char *file, uint64_t v)
{
	char p[PATH_MAX];
	int r = cg_file(b, file, p, sizeof p);
	return r < 0 ? r : write_u64_file(p, v);
}

static int set_values(const struct balloon *b, const char *const *files, size_t n, uint64_t v)
{
	if (lcg_ready() && b->cg_rel) {
		struct cgroup *cg = cgroup_new_cgroup(b->cg_rel);
		struct cgroup_controller *ctl = cg ? cgroup_add_controller(cg, "memory") : NULL;
		int r = ctl ? 0 : ECGFAIL;
		for (size_t i = 0; i < n && !r; i++)
			r = cgroup_set_value_uint64(ctl, files[i], v);
		if (!r)
			r = cgroup_modify_cgroup(cg);
		cgroup_free(&cg);
		if (!r)
			return 0;
		if (r == ECGOTHER || r == ECGROUPVALUENOTEXIST || r == ECGROUPNOTALLOWED) {
			int e = cgroup_get_last_errno();
			return e ? -e : -EIO;
		}
		log_debug("cgroup %s: libcgroup: %s, writing directly", b->cg_dir, cgroup_strerror(r));
	}
	for (size_t i = 0; i < n; i++) {
		int r = write_direct(b, files[i], v);
		if (r < 0)
			return r;
	}
	return 0;
}

int balloon_cgroup_set(struct balloon *b, uint64_t t)
{
	const char *files[2];
	size_t n = 0;
	if (b->cg_version == 2) {
		files[n++] = "memory.high";
	} else {
		files[n++] = "memory.soft_limit_in_bytes";
		if (b->cfg.cg_v1_mode == BALLOON_CG_V1_HARD)
			files[n++] = "memory.limit_in_bytes";
	}
	int r = set_values(b, files, n, t);
	if (r < 0) {
		snprintf(b->reason, sizeof b->reason, "setting %s to %llu: %s", limit_file(b),
			 (unsigned long long)t, strerror(-r));
		log_warn("balloon %s: cgroup %s: %s", b->name, b->cg_dir, b->reason);
	}
	return r;
}

static void put_extra(struct balloon_stats *st, const char *name, uint64_t v)
{
	if (st->n_extra >= BALLOON_STATS_EXTRA)
		return;
	snprintf(st->extra[st->n_extra].name, sizeof st->extra[0].name, "%s", name);
	st->extra[st->n_extra++].value = v;
}

static void set_stat(struct balloon_stats *st, enum balloon_stat s, uint64_t v)
{
	st->value[s] = v;
	st->valid_mask |= 1u << s;
}

/* memory.stat key -> value, through libcgroup's iterator when it can. */
struct kv { const char *key; uint64_t v; bool found; };

static void stat_match(struct kv *kv, size_t n, const char *name, const char *value)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i].key, name)) {
			kv[i].v = strtoull(value, NULL, 10);
			kv[i].found = true;
		}
}

static int read_memory_stat(const struct balloon *b, struct kv *kv, size_t n)
{
	if (lcg_ready() && b->cg_rel && b->cg_version == 1) {
		void *h = NULL;
		struct cgroup_stat st;
		int r = cgroup_read_stats_begin("memory", b->cg_rel, &h, &st);
		while (r == 0) {
			stat_match(kv, n, st.name, st.value);
			r = cgroup_read_stats_next(&h, &st);
		}
		if (h)
			cgroup_read_stats_end(&h);
		if (r == ECGEOF)
			return 0;
	}
	char p[PATH_MAX], *s = NULL;
	int r = cg_file(b, "memory.stat", p, sizeof p);
	if (r < 0 || (r = read_file(p, &s, NULL)) < 0)
		return r;
	char *save = NULL;
	for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		stat_match(kv, n, line, sp + 1);
	}
	free(s);
	return 0;
}

static void read_pressure(const struct balloon *b, struct balloon_stats *st)
{
	char p[PATH_MAX], *s = NULL;
	if (cg_file(b, "memory.pressure", p, sizeof p) < 0 || read_file(p, &s, NULL) < 0)
		return;
	char *some = strstr(s, "some avg10="), *full = strstr(s, "full avg10=");
	if (some) {
		st->pressure_some_avg10 = strtod(some + 11, NULL);
		st->has_pressure = true;
	}
	if (full)
		st->pressure_full_avg10 = strtod(full + 11, NULL);
	free(s);
}

void balloon_cgroup_refresh(struct balloon *b, usec_t now)
{
	uint64_t lim = UINT64_MAX, usage = 0;
	if (read_limit(b, limit_file(b), &lim) < 0 ||
	    read_limit(b, b->cg_version == 2 ? "memory.current" : "memory.usage_in_bytes",
		       &usage) < 0) {
		if (access(b->cg_dir, F_OK) < 0)
			balloon_set_state(b, BALLOON_GONE, "cgroup %s removed", b->cg_dir);
		return;
	}
	if (b->state == BALLOON_GONE)
		balloon_set_state(b, BALLOON_READY, NULL);
	/* memory.high and the soft limit can be exceeded: then the usage is
	 * what the workload really holds, and progress is measured on it */
	uint64_t actual = lim == UINT64_MAX ? b->limits.max_bytes : MAX(lim, usage);

	/* the same numbers under v1's and v2's names */
	bool v1 = b->cg_version == 1;
	struct kv kv[] = { { v1 ? "total_cache" : "file", 0, 0 },
			   { v1 ? "total_shmem" : "shmem", 0, 0 },
			   { v1 ? "total_pgfault" : "pgfault", 0, 0 },
			   { v1 ? "total_pgmajfault" : "pgmajfault", 0, 0 },
			   { v1 ? "total_rss" : "anon", 0, 0 },
			   { "total_swap", 0, 0 } };
	struct balloon_stats st;
	memset(&st, 0, sizeof st);
	if (read_memory_stat(b, kv, ARRAY_SIZE(kv)) == 0) {
		uint64_t free_b = actual > usage ? actual - usage : 0;
		set_stat(&st, BALLOON_STAT_TOTAL, actual);
		set_stat(&st, BALLOON_STAT_FREE, free_b);
		set_stat(&st, BALLOON_STAT_DISK_CACHES, kv[0].v);
		set_stat(&st, BALLOON_STAT_AVAILABLE,
			 free_b + (kv[0].v > kv[1].v ? kv[0].v - kv[1].v : 0));
		if (kv[2].found)
			set_stat(&st, BALLOON_STAT_MINOR_FAULTS, kv[2].v - kv[3].v);
		if (kv[3].found)
			set_stat(&st, BALLOON_STAT_MAJOR_FAULTS, kv[3].v);
		put_extra(&st, v1 ? "rss" : "anon", kv[4].v);
		put_extra(&st, "shmem", kv[1].v);
		uint64_t sw;
		if (v1 && kv[5].found)
			put_extra(&st, "swap", kv[5].v);
		else if (!v1 && read_limit(b, "memory.swap.current", &sw) == 0)
			put_extra(&st, "swap", sw);
	}
	if (!v1)
		read_pressure(b, &st);
	set_stat(&st, BALLOON_STAT_USAGE, usage);
	st.updated_usec = now;
	b->stats = st;
	b->caps |= BALLOON_CAP_STATS;
	bool changed = actual != b->actual_bytes;
	b->actual_bytes = actual;
	b->actual_usec = now;
	balloon_track_progress(b, now);
	if (changed)
		balloon_notify(b, BALLOON_EV_ACTUAL);
	balloon_notify(b, BALLOON_EV_STATS);
}
