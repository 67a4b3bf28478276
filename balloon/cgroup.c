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
 * libcgroup locates the memory hierarchy for us on v1, v2 and hybrid hosts,
 * and reads v1's memory.stat with its iterator; the one-value files (usage,
 * limits) and `memory.pressure` are read directly, because libcgroup offers
 * no typed reader for a single value without loading every file of the
 * controller (cgroup_get_cgroup reads them all, including slow ones) and
 * knows nothing of PSI files.
 *
 * ksmd runs as root and the path is whatever the configuration (or a
 * discovered guest) says: the folder is taken only when statfs says it is
 * on cgroupfs (v1 or v2), and each limit file is opened relative to it with
 * O_NOFOLLOW and written only when it too is on cgroupfs (not a file
 * bind-mounted over it). So the backend writes the files itself, never
 * through libcgroup, whose writes follow whatever the path leads to.
 *
 * The limit files' text at attach ("max", v1's unlimited, an operator's
 * limit) is kept: a target at the maximum writes it back when the limit it
 * sets is above the target, so `on_exit = restore` leaves an unlimited
 * cgroup unlimited (not limited to MemTotal), and the maximum learned at
 * attach is never above the limit the operator had set in the file ksmd
 * drives. In v1 hard mode the soft limit goes back with the hard one; a
 * hard limit that is the maximum itself is written as the number, and so
 * is the soft limit beside it (the same thing under that hard limit).
 *
 * Statistics map onto the guest-stats vocabulary as closely as honest:
 * total = the limit, free = limit - usage, disk caches = page cache,
 * available = free + page cache - shmem, faults from pgfault/pgmajfault.
 * The host side's usage is reported as BALLOON_STAT_USAGE; swap usage and
 * other cgroup-only numbers go into the extra tags. */
#include "balloon/internal.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <libcgroup.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
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

/* fd is on cgroupfs (v1 or v2): -EMEDIUMTYPE when not, its type in *type. */
static int on_cgroupfs(int fd, long *type)
{
	struct statfs sf;
	if (fstatfs(fd, &sf) < 0)
		return -errno;
	if (type)
		*type = (long)sf.f_type;
	return sf.f_type == CGROUP_SUPER_MAGIC || sf.f_type == CGROUP2_SUPER_MAGIC ? 0 : -EMEDIUMTYPE;
}

/* Open the cgroup folder (O_PATH): -EMEDIUMTYPE when it is not on cgroupfs. */
static int cg_dir_open(const struct balloon *b, long *type)
{
	int dfd = open(b->cg_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	int r = on_cgroupfs(dfd, type);
	if (r < 0) {
		close(dfd);
		return r;
	}
	return dfd;
}

/* Open one file of the cgroup, never through a symbolic link, and only if
 * it is on cgroupfs too (not a file bind-mounted over it). */
static int cg_open(const struct balloon *b, const char *file, int flags)
{
	int dfd = cg_dir_open(b, NULL);
	if (dfd < 0)
		return dfd;
	int fd = openat(dfd, file, flags | O_NOFOLLOW | O_CLOEXEC);
	int r = fd < 0 ? -errno : on_cgroupfs(fd, NULL);
	close(dfd);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	return fd;
}

static int cg_read(const struct balloon *b, const char *file, char **out)
{
	int fd = cg_open(b, file, O_RDONLY);
	if (fd < 0)
		return fd;
	int r = read_fd(fd, out, NULL);
	close(fd);
	return r;
}

static int cg_write(const struct balloon *b, const char *file, const char *text)
{
	int fd = cg_open(b, file, O_WRONLY);
	if (fd < 0)
		return fd;
	int r = write_fd(fd, text);
	if (close(fd) < 0 && !r)
		r = -errno;
	return r;
}

int balloon_cgroup_parse_limit(const char *s, uint64_t *out)
{
	if (!strncmp(s, "max", 3)) {
		*out = UINT64_MAX;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	*out = v >= UNLIMITED_BYTES ? UINT64_MAX : v;
	return errno || end == s ? -EINVAL : 0;
}

static int read_limit(const struct balloon *b, const char *file, uint64_t *out)
{
	char *s = NULL;
	int r = cg_read(b, file, &s);
	if (r < 0)
		return r;
	r = balloon_cgroup_parse_limit(s, out);
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

/* The files a target is written to, in order; the last is limit_file(). */
static size_t target_files(const struct balloon *b, const char *files[BALLOON_CG_FILES])
{
	size_t n = 0;
	if (b->cg_version == 2) {
		files[n++] = "memory.high";
	} else {
		files[n++] = "memory.soft_limit_in_bytes";
		if (b->cfg.cg_v1_mode == BALLOON_CG_V1_HARD)
			files[n++] = "memory.limit_in_bytes";
	}
	return n;
}

/* Keep the target files' text as found (once: the first attach). */
static void read_originals(struct balloon *b)
{
	const char *files[BALLOON_CG_FILES];
	size_t n = target_files(b, files);
	for (size_t i = 0; i < n; i++) {
		char *s = NULL;
		b->cg_orig[i][0] = 0;
		if (cg_read(b, files[i], &s) < 0)
			continue;
		s[strcspn(s, "\n")] = 0;
		if (strlen(s) < sizeof b->cg_orig[i] && balloon_cgroup_parse_limit(s, &b->cg_orig_bytes[i]) == 0)
			memcpy(b->cg_orig[i], s, strlen(s) + 1);
		free(s);
	}
}

/* The largest target: the folder's hard limit (else host RAM), and never
 * above what the operator had in the file ksmd drives. */
static uint64_t learned_max(const struct balloon *b)
{
	const char *files[BALLOON_CG_FILES];
	size_t last = target_files(b, files) - 1;
	uint64_t lim = UINT64_MAX;
	(void)read_limit(b, b->cg_version == 2 ? "memory.max" : "memory.limit_in_bytes", &lim);
	if (b->cg_orig[last][0] && b->cg_orig_bytes[last] < lim)
		lim = b->cg_orig_bytes[last];
	return lim != UINT64_MAX ? lim : host_memtotal();
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
	long type = 0;
	int dfd = cg_dir_open(b, &type);
	if (dfd == -EMEDIUMTYPE)
		log_warn("balloon %s: %s is not on a cgroup file system (statfs type 0x%lx): refused", b->name,
			 b->cg_dir, type);
	if (dfd < 0)
		return dfd;
	if (faccessat(dfd, "memory.limit_in_bytes", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		b->cg_version = 1;
	else if (faccessat(dfd, "memory.high", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		b->cg_version = 2;
	close(dfd);
	if (!b->cg_version)
		return -ENOTSUP;
	if (!b->cg_orig_read) {
		read_originals(b);
		b->cg_orig_read = true;
	}
	if (!b->max_known) {
		b->limits.max_bytes = learned_max(b);
		b->limits.min_bytes = b->cfg.min_bytes;
		balloon_limits_default(&b->limits, b->cfg.min_percent);
		b->max_known = b->limits.max_bytes != 0;
	}
	balloon_set_state(b, BALLOON_READY, NULL);
	balloon_cgroup_refresh(b, now_usec());
	return 0;
}

/* At the maximum, the text found at attach goes back when the limit it
 * sets is above the target ("max", v1's unlimited): ksmd's limit is lifted
 * rather than replaced by a number of its own. */
static bool back_to_original(const struct balloon *b, size_t n, uint64_t t)
{
	return t >= b->limits.max_bytes && b->cg_orig[n - 1][0] && b->cg_orig_bytes[n - 1] > t;
}

static const char *cg_strerror(int r)
{
	return r == -EMEDIUMTYPE ? "not on a cgroup file system (a file mounted over it?)"
	       : r == -ELOOP ? "a symbolic link, not followed" : strerror(-r);
}

int balloon_cgroup_set(struct balloon *b, uint64_t t)
{
	const char *files[BALLOON_CG_FILES];
	size_t n = target_files(b, files), i;
	bool orig = back_to_original(b, n, t);
	char num[32];
	snprintf(num, sizeof num, "%llu", (unsigned long long)t);
	int r = 0;
	for (i = 0; i < n && !r; i++)
		r = cg_write(b, files[i], orig && b->cg_orig[i][0] ? b->cg_orig[i] : num);
	if (r < 0) {
		snprintf(b->reason, sizeof b->reason, "setting %s to %s: %s", files[i - 1],
			 orig && b->cg_orig[i - 1][0] ? b->cg_orig[i - 1] : num, cg_strerror(r));
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

static void stat_match(struct cg_kv *kv, size_t n, const char *name, const char *value)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i].key, name)) {
			kv[i].v = strtoull(value, NULL, 10);
			kv[i].found = true;
		}
}

void balloon_cgroup_parse_stat(char *text, struct cg_kv *kv, size_t n)
{
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		stat_match(kv, n, line, sp + 1);
	}
}

void balloon_cgroup_parse_pressure(const char *text, struct balloon_stats *st)
{
	const char *some = strstr(text, "some avg10="), *full = strstr(text, "full avg10=");
	if (some) {
		st->pressure_some_avg10 = strtod(some + 11, NULL);
		st->has_pressure = true;
	}
	if (full)
		st->pressure_full_avg10 = strtod(full + 11, NULL);
}

/* memory.stat key -> value, through libcgroup's iterator when it can. */
static int read_memory_stat(const struct balloon *b, struct cg_kv *kv, size_t n)
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
	char *s = NULL;
	int r = cg_read(b, "memory.stat", &s);
	if (r < 0)
		return r;
	balloon_cgroup_parse_stat(s, kv, n);
	free(s);
	return 0;
}

static void read_pressure(const struct balloon *b, struct balloon_stats *st)
{
	char *s = NULL;
	if (cg_read(b, "memory.pressure", &s) < 0)
		return;
	balloon_cgroup_parse_pressure(s, st);
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
	uint64_t actual = lim >= b->limits.max_bytes ? b->limits.max_bytes : MAX(lim, usage);

	/* the same numbers under v1's and v2's names */
	bool v1 = b->cg_version == 1;
	struct cg_kv kv[] = { { v1 ? "total_cache" : "file", 0, 0 },
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

/* A cgroup that could not be opened (ERROR) has nothing to read. */
static void cgroup_refresh(struct balloon *b, usec_t now)
{
	if (b->state != BALLOON_ERROR)
		balloon_cgroup_refresh(b, now);
}

/* The limit written is in force at once: the new usage is read now. */
static int cgroup_set(struct balloon *b, uint64_t t, usec_t now)
{
	int r = balloon_cgroup_set(b, t);
	if (r < 0)
		return r;
	b->target_bytes = t;
	balloon_cgroup_refresh(b, now);
	balloon_track_progress(b, now);
	balloon_notify(b, BALLOON_EV_TARGET);
	return 0;
}

const struct balloon_ops balloon_cgroup_ops = {
	.refresh = cgroup_refresh,
	.set = cgroup_set,
};
