/* ksm.c — the I/O half of the KSM executor: /sys/kernel/mm/ksm, the
 * advice for a process that is not mergeable, the kernel's ksmd thread's
 * CPU time, and starting a command with PR_SET_MEMORY_MERGE. The pacing decision itself
 * is pure and lives in ksmpace.c.
 *
 * Saving and restoring: ksm_save() reads the settings found at start and
 * ksm_restore() writes back those that differ. Writes go only where the
 * value differs because some files refuse a write in some states
 * (max_page_sharing: EBUSY while KSM pages exist), and advisor_mode goes
 * first because the kernel resets pages_to_scan whenever the advisor
 * changes. run goes last, so KSM never runs with half-applied settings. */
#include "act/ksm.h"

#include "common/log.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static const char *root_or_default(const char *root)
{
	return root ? root : KSM_SYSFS_ROOT;
}

/* One row per file: where it lives in the structs. */
struct ksm_file {
	const char *name;
	size_t offset;
};

/* Settings in the order they are written (advisor first, run last). */
static const struct ksm_file setting_files[] = {
	{ "advisor_mode", offsetof(struct ksm_settings, advisor_mode) },
	{ "pages_to_scan", offsetof(struct ksm_settings, pages_to_scan) },
	{ "sleep_millisecs", offsetof(struct ksm_settings, sleep_millisecs) },
	{ "use_zero_pages", offsetof(struct ksm_settings, use_zero_pages) },
	{ "max_page_sharing", offsetof(struct ksm_settings, max_page_sharing) },
	{ "smart_scan", offsetof(struct ksm_settings, smart_scan) },
	{ "run", offsetof(struct ksm_settings, run) },
};

static const struct ksm_file counter_files[] = {
	{ "pages_shared", offsetof(struct ksm_counters, pages_shared) },
	{ "pages_sharing", offsetof(struct ksm_counters, pages_sharing) },
	{ "pages_unshared", offsetof(struct ksm_counters, pages_unshared) },
	{ "pages_volatile", offsetof(struct ksm_counters, pages_volatile) },
	{ "full_scans", offsetof(struct ksm_counters, full_scans) },
	{ "ksm_zero_pages", offsetof(struct ksm_counters, ksm_zero_pages) },
	{ "general_profit", offsetof(struct ksm_counters, general_profit) },
	{ "pages_scanned", offsetof(struct ksm_counters, pages_scanned) },
	{ "pages_skipped", offsetof(struct ksm_counters, pages_skipped) },
};

static int64_t *field(void *base, const struct ksm_file *f)
{
	return (int64_t *)((char *)base + f->offset);
}

/* "[none] scan-time" -> KSM_ADVISOR_NONE; a bare word also works. */
static int parse_advisor(const char *text, int64_t *out)
{
	const char *open = strchr(text, '['), *word = open ? open + 1 : text;
	while (isspace((unsigned char)*word))
		word++;
	if (!strncmp(word, "none", 4))
		*out = KSM_ADVISOR_NONE;
	else if (!strncmp(word, "scan-time", 9))
		*out = KSM_ADVISOR_SCAN_TIME;
	else
		return -EINVAL;
	return 0;
}

/* Read one file as a signed number (general_profit can be negative) or,
 * for advisor_mode, the bracketed word. Missing file: -1, returns 0. */
static int read_one(const char *root, const char *name, int64_t *out)
{
	char path[PATH_MAX], *text = NULL;
	snprintf(path, sizeof path, "%s/%s", root, name);
	int r = read_file(path, &text, NULL);
	if (r == -ENOENT) {
		*out = -1;
		return 0;
	}
	if (r < 0)
		return r;
	if (!strcmp(name, "advisor_mode")) {
		r = parse_advisor(text, out);
	} else {
		char *end;
		errno = 0;
		long long v = strtoll(text, &end, 10);
		while (isspace((unsigned char)*end))
			end++;
		r = (errno || end == text || *end) ? -EINVAL : 0;
		*out = v;
	}
	free(text);
	return r;
}

/* Write a value whole. O_TRUNC is a no-op on sysfs and keeps a regular
 * file (a test's made-up sysfs) holding exactly the value. */
static int write_value(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t n = strlen(val);
	ssize_t w = write(fd, val, n);
	int r = w < 0 ? -errno : (size_t)w != n ? -EIO : 0;
	close(fd);
	return r;
}

static int read_table(const char *root, const struct ksm_file *t, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++) {
		int r = read_one(root, t[i].name, field(base, &t[i]));
		if (r < 0)
			return r;
	}
	return 0;
}

static int root_exists(const char *root)
{
	struct stat st;
	if (stat(root, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

void ksm_settings_clear(struct ksm_settings *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(setting_files); i++)
		*field(s, &setting_files[i]) = -1;
}

int ksm_read_settings(const char *root, struct ksm_settings *out)
{
	root = root_or_default(root);
	int r = root_exists(root);
	if (r < 0)
		return r;
	ksm_settings_clear(out);
	return read_table(root, setting_files, ARRAY_SIZE(setting_files), out);
}

int ksm_read(const char *root, struct ksm_sysfs *out)
{
	int r = ksm_read_settings(root, &out->set);
	if (r < 0)
		return r;
	return read_table(root_or_default(root), counter_files, ARRAY_SIZE(counter_files),
			  &out->cnt);
}

int ksm_save(const char *root, struct ksm_settings *saved)
{
	return ksm_read_settings(root, saved);
}

static int apply(const char *root, const struct ksm_settings *s, bool log_failures)
{
	root = root_or_default(root);
	int first = 0;
	for (size_t i = 0; i < ARRAY_SIZE(setting_files); i++) {
		const struct ksm_file *f = &setting_files[i];
		int64_t want = *field((void *)s, f), now;
		if (want < 0)
			continue;
		int r = read_one(root, f->name, &now);
		if (r == 0 && now == want)
			continue;
		if (r == 0 && now < 0)
			r = -ENOENT;  /* asked to set a file this kernel lacks */
		if (r == 0) {
			char path[PATH_MAX], val[32];
			snprintf(path, sizeof path, "%s/%s", root, f->name);
			if (!strcmp(f->name, "advisor_mode"))
				snprintf(val, sizeof val, "%s",
					 want == KSM_ADVISOR_SCAN_TIME ? "scan-time" : "none");
			else
				snprintf(val, sizeof val, "%lld", (long long)want);
			r = write_value(path, val);
		}
		if (r < 0) {
			if (log_failures)
				log_warn("ksm: cannot restore %s to %lld: %s, ignoring", f->name,
					 (long long)want, strerror(-r));
			if (!first)
				first = r;
		}
	}
	return first;
}

int ksm_apply(const char *root, const struct ksm_settings *s)
{
	return apply(root, s, false);
}

int ksm_restore(const char *root, const struct ksm_settings *saved)
{
	return apply(root, saved, true);
}

int ksm_apply_knobs(const char *root, const struct ksm_knobs *k)
{
	struct ksm_settings s;
	ksm_settings_clear(&s);
	s.run = k->run;
	s.pages_to_scan = k->pages_to_scan;
	s.sleep_millisecs = k->sleep_millisecs;
	return ksm_apply(root, &s);
}

/* ---------------------------------------------------------- per process */

/* The systemd unit a process runs in, from /proc/PID/cgroup text: the last
 * path component ending in ".service" or ".scope". */
static bool cgroup_unit(const char *cgroup_text, char *unit, size_t len)
{
	bool found = false;
	for (const char *p = cgroup_text; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		for (size_t i = 0; i < n;) {
			size_t j = i;
			while (j < n && p[j] != '/' && p[j] != ':')
				j++;
			size_t w = j - i;
			if ((w > 8 && !memcmp(p + j - 8, ".service", 8)) ||
			    (w > 6 && !memcmp(p + j - 6, ".scope", 6))) {
				snprintf(unit, len, "%.*s", (int)w, p + i);
				found = true;
			}
			i = j + 1;
		}
		p = eol ? eol + 1 : NULL;
	}
	return found;
}

const char *ksm_mergeable_fix(const char *comm, const char *cgroup_text, char *buf, size_t len)
{
	char unit[128];
	if (comm && (!strncmp(comm, "qemu", 4) || strstr(comm, "qemu-system")))
		snprintf(buf, len, "start QEMU with -machine mem-merge=on (its guest RAM is "
			 "not marked mergeable)");
	else if (cgroup_text && cgroup_unit(cgroup_text, unit, sizeof unit) &&
		 strstr(unit, ".service"))
		snprintf(buf, len, "set MemoryKSM=yes in the [Service] section of %s", unit);
	else
		snprintf(buf, len, "start it with `ksmdctl run -- %s`", comm ? comm : "CMD");
	return buf;
}

int ksm_proc_check_mergeable(pid_t pid, const struct ksm_proc_stat *ps, bool *mergeable, char *buf,
			     size_t len)
{
	*mergeable = ps->mergeable == 1 || ps->merge_any == 1;
	if (len)
		buf[0] = 0;
	if (*mergeable)
		return 0;
	char path[64], *comm = NULL, *cg = NULL;
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	if (read_file(path, &comm, NULL) == 0)
		comm[strcspn(comm, "\n")] = 0;
	snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
	(void)read_file(path, &cg, NULL);
	ksm_mergeable_fix(comm, cg, buf, len);
	free(comm);
	free(cg);
	return 0;
}

/* ------------------------------------------------ the kernel ksmd thread */

int ksm_parse_pid_stat(const char *text, long ticks_per_sec, pid_t *ppid, usec_t *cpu_usec)
{
	/* "pid (comm) state ppid ..." — comm may hold spaces and ')': the
	 * fields resume after the last ')'. utime, stime are fields 14, 15. */
	const char *p = strrchr(text, ')');
	if (!p || ticks_per_sec <= 0)
		return -EINVAL;
	p++;
	unsigned long long f[13];
	char state;
	int n = sscanf(p, " %c %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
		       &state, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8],
		       &f[9], &f[10], &f[11]);
	if (n < 13)
		return -EINVAL;
	/* f[0] = ppid (field 4) ... f[10] = utime (14), f[11] = stime (15). */
	if (ppid)
		*ppid = (pid_t)f[0];
	if (cpu_usec)
		*cpu_usec = (f[10] + f[11]) * USEC_PER_SEC / (unsigned long long)ticks_per_sec;
	return 0;
}

int ksm_kthread_find(const char *proc_root, pid_t *out)
{
	proc_root = proc_root ? proc_root : "/proc";
	DIR *d = opendir(proc_root);
	if (!d)
		return -errno;
	int r = -ENOENT;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end, path[PATH_MAX], *text = NULL;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		snprintf(path, sizeof path, "%s/%ld/comm", proc_root, pid);
		if (read_file(path, &text, NULL) < 0)
			continue;
		bool named = !strcmp(text, "ksmd\n") || !strcmp(text, "ksmd");
		free(text);
		if (!named)
			continue;
		snprintf(path, sizeof path, "%s/%ld/stat", proc_root, pid);
		pid_t ppid = 0;
		if (read_file(path, &text, NULL) < 0)
			continue;
		int pr = ksm_parse_pid_stat(text, 100, &ppid, NULL);
		free(text);
		if (pr == 0 && ppid == 2) {
			*out = (pid_t)pid;
			r = 0;
			break;
		}
	}
	closedir(d);
	return r;
}

int ksm_pid_cpu_usec(pid_t pid, usec_t *out)
{
	char path[64], *text = NULL;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int r = read_file(path, &text, NULL);
	if (r < 0)
		return r;
	r = ksm_parse_pid_stat(text, sysconf(_SC_CLK_TCK), NULL, out);
	free(text);
	return r;
}

int ksm_kthread_cpu_usec(usec_t *out)
{
	static pid_t kthread;
	if (kthread <= 0) {
		int r = ksm_kthread_find(NULL, &kthread);
		if (r < 0)
			return r;
	}
	return ksm_pid_cpu_usec(kthread, out);
}

/* ------------------------------------------------------------ driver */

int ksm_driver_init(struct ksm_driver *d, const char *root, const struct ksm_pace_config *cfg)
{
	memset(d, 0, sizeof *d);
	d->root = root;
	if (cfg)
		d->cfg = *cfg;
	else
		ksm_pace_config_default(&d->cfg);
	d->kthread_cpu_percent = -1;
	int r = ksm_save(root, &d->saved);
	if (r < 0)
		return r;
	d->saved_valid = true;
	d->was_running = d->saved.run == 1;
	if (d->saved.advisor_mode == KSM_ADVISOR_SCAN_TIME) {
		struct ksm_settings s;
		ksm_settings_clear(&s);
		s.advisor_mode = KSM_ADVISOR_NONE;
		log_info("ksm: turning the kernel's scan-time advisor off while ksmd paces KSM");
		r = ksm_apply(root, &s);
		if (r < 0)
			log_warn("ksm: cannot turn advisor_mode off: %s, ignoring", strerror(-r));
	}
	return 0;
}

int ksm_driver_tick(struct ksm_driver *d, uint64_t predicted_pages, int64_t merged_pages,
		    enum ksm_pace_urgency urgency, usec_t now_usec)
{
	int r = ksm_read(d->root, &d->sysfs);
	if (r < 0)
		return r;
	const struct ksm_settings *set = &d->sysfs.set;
	const struct ksm_counters *cnt = &d->sysfs.cnt;

	usec_t interval = d->last_tick_usec && now_usec > d->last_tick_usec ?
			  now_usec - d->last_tick_usec : 0;
	usec_t cpu;
	d->kthread_cpu_percent = -1;
	if (ksm_kthread_cpu_usec(&cpu) == 0) {
		if (d->have_cpu && interval > 0 && cpu >= d->last_cpu_usec)
			d->kthread_cpu_percent = 100.0 * (double)(cpu - d->last_cpu_usec) / (double)interval;
		d->last_cpu_usec = cpu;
		d->have_cpu = true;
	}
	d->last_tick_usec = now_usec;

	struct ksm_pace_input in = {
		.predicted_pages = predicted_pages,
		.merged_pages = merged_pages >= 0 ? (uint64_t)merged_pages :
				cnt->pages_sharing > 0 ? (uint64_t)cnt->pages_sharing : 0,
		.merged_stale = !(set->run == 1 && d->was_running),
		.full_scans = cnt->full_scans,
		.kthread_cpu_percent = d->kthread_cpu_percent,
		.interval_usec = interval,
		.urgency = urgency,
		.cur = {
			.run = set->run == 1 ? 1 : 0,
			.pages_to_scan = set->pages_to_scan > 0 ? (uint32_t)set->pages_to_scan : 0,
			.sleep_millisecs = set->sleep_millisecs > 0 ? (uint32_t)set->sleep_millisecs : 0,
		},
		.state = d->state,
	};
	if (d->have_expect && memcmp(&in.cur, &d->expect, sizeof in.cur)) {
		/* Another tuner writes the same files: say so (at powers of two
		 * of the count, not every tick), then pace from what is there. */
		d->foreign_changes++;
		if ((d->foreign_changes & (d->foreign_changes - 1)) == 0)
			log_warn("ksm: knobs changed behind ksmd's back (%llu times): run=%u "
				 "pages_to_scan=%u sleep_millisecs=%u, expected %u/%u/%u; is "
				 "ksmtuned or another ksmd running?",
				 (unsigned long long)d->foreign_changes, in.cur.run,
				 in.cur.pages_to_scan, in.cur.sleep_millisecs, d->expect.run,
				 d->expect.pages_to_scan, d->expect.sleep_millisecs);
	}
	ksm_pace(&d->cfg, &in, &d->last);
	d->state = d->last.state;
	d->was_running = set->run == 1;
	d->expect = d->dry_run ? in.cur : d->last.next;
	d->have_expect = true;
	if (!d->last.changed)
		return 0;
	log_info("ksm: run=%u pages_to_scan=%u sleep_millisecs=%u: %s%s", d->last.next.run,
		 d->last.next.pages_to_scan, d->last.next.sleep_millisecs, d->last.reason,
		 d->dry_run ? " (dry run)" : "");
	if (d->dry_run)
		return 1;
	r = ksm_apply_knobs(d->root, &d->last.next);
	if (r < 0)
		d->expect = in.cur;
	return r < 0 ? r : 1;
}

int ksm_driver_restore(struct ksm_driver *d)
{
	if (!d->saved_valid || d->dry_run)
		return 0;
	return ksm_restore(d->root, &d->saved);
}
