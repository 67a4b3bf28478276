/* sample.c — collect: a guest process's identity and files, taken once
 * when it is found, and the tick's reading of them (sample.h). */
#include "collect/sample.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int ksm_proc_stat_parse(const char *text, struct ksm_proc_stat *out)
{
	static const struct { const char *key; size_t off; } nums[] = {
		{ "ksm_rmap_items", offsetof(struct ksm_proc_stat, rmap_items) },
		{ "ksm_zero_pages", offsetof(struct ksm_proc_stat, zero_pages) },
		{ "ksm_merging_pages", offsetof(struct ksm_proc_stat, merging_pages) },
		{ "ksm_process_profit", offsetof(struct ksm_proc_stat, process_profit) },
	};
	*out = (struct ksm_proc_stat){ -1, -1, -1, -1, -1, -1 };
	int found = 0;
	for (const char *line = text; line && *line;) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char buf[128];
		if (len < sizeof buf) {
			memcpy(buf, line, len);
			buf[len] = 0;
			/* "ksm_rmap_items 42" (numbers) or "ksm_mergeable: yes". */
			size_t klen = strcspn(buf, ": \t");
			char *val = buf + klen;
			if (klen && *val) {
				*val++ = 0;
				while (*val == ':' || isspace((unsigned char)*val))
					val++;
				for (size_t i = 0; i < ARRAY_SIZE(nums); i++) {
					if (strcmp(buf, nums[i].key))
						continue;
					char *end;
					long long v = strtoll(val, &end, 10);
					if (end != val) {
						*(int64_t *)((char *)out + nums[i].off) = v;
						found++;
					}
				}
				int *flag = !strcmp(buf, "ksm_merge_any") ? &out->merge_any :
					    !strcmp(buf, "ksm_mergeable") ? &out->mergeable : NULL;
				if (flag) {
					*flag = !strncmp(val, "yes", 3) ? 1 : 0;
					found++;
				}
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	return found ? 0 : -EINVAL;
}

int ksm_proc_stat_file(const char *path, struct ksm_proc_stat *out)
{
	char *text = NULL;
	int r = read_file(path, &text, NULL);
	if (r < 0)
		return r;
	r = ksm_proc_stat_parse(text, out);
	free(text);
	return r;
}

int ksm_proc_stat(pid_t pid, struct ksm_proc_stat *out)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/ksm_stat", (int)pid);
	return ksm_proc_stat_file(path, out);
}

int proc_stat_parse(const char *text, pid_t *ppid, unsigned long *flags, uint64_t *start_ticks)
{
	/* "pid (comm) state ppid ..." — the fields resume after the last ')';
	 * after the state come fields 4 (ppid) to 22 (starttime). */
	const char *p = text ? strrchr(text, ')') : NULL;
	if (!p)
		return -EINVAL;
	p++;
	char state;
	long long f[19];
	int n = sscanf(p, " %c %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld",
		       &state, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9], &f[10],
		       &f[11], &f[12], &f[13], &f[14], &f[15], &f[16], &f[17], &f[18]);
	if (n < 20)
		return -EINVAL;
	if (ppid)
		*ppid = (pid_t)f[0];
	if (flags)
		*flags = (unsigned long)f[5];
	if (start_ticks)
		*start_ticks = (uint64_t)f[18];
	return 0;
}

bool proc_same_start(uint64_t start_ticks, const char *stat_text)
{
	uint64_t now;
	return proc_stat_parse(stat_text, NULL, NULL, &now) == 0 && now == start_ticks;
}

/* Has the process of a pidfd exited (or can it not be told)? */
static bool pidfd_exited(int pidfd)
{
	struct pollfd pf = { .fd = pidfd, .events = POLLIN };
	int r;
	while ((r = poll(&pf, 1, 0)) < 0 && errno == EINTR)
		;
	return r != 0;  /* exited, or cannot tell: treat as gone */
}

int proc_stat_read(const char *proc_root, pid_t pid, pid_t *ppid, unsigned long *flags, uint64_t *start_ticks)
{
	char path[PATH_MAX], *text = NULL;
	snprintf(path, sizeof path, "%s/%d/stat", proc_root ? proc_root : "/proc", (int)pid);
	int r = read_file(path, &text, NULL);
	if (r < 0)
		return r;
	r = proc_stat_parse(text, ppid, flags, start_ticks);
	free(text);
	return r;
}

int proc_identity_check(pid_t pid, int pidfd, uint64_t start_ticks)
{
	if (pid <= 0)
		return -ESRCH;
	if (pidfd >= 0)
		return pidfd_exited(pidfd) ? -ESRCH : 0;
	char path[64], *text = NULL;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (read_file(path, &text, NULL) < 0)
		return -ESRCH;
	bool same = proc_same_start(start_ticks, text);
	free(text);
	return same ? 0 : -ESRCH;
}

int proc_files_check(const struct proc_files *f)
{
	return proc_identity_check(f->pid, f->pidfd, f->start_ticks);
}

static int open_proc(pid_t pid, const char *what)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int proc_files_open(struct proc_files *f, pid_t pid)
{
	*f = (struct proc_files)PROC_FILES_INIT;
	if (pid <= 0)
		return -ESRCH;
	/* the identity first: what is opened after belongs to it if it is
	 * still there once everything is open */
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0 && (errno == ESRCH || errno == ENOENT))
		return -ESRCH;
	f->pid = pid;
	f->pidfd = pidfd;
	int r = proc_stat_read(NULL, pid, NULL, NULL, &f->start_ticks);
	if (r < 0) {
		proc_files_close(f);
		return r;
	}
	r = open_proc(pid, "status");
	if (r < 0) {
		proc_files_close(f);
		return r;
	}
	f->status_fd = r;
	r = open_proc(pid, "ksm_stat");
	f->ksm_stat_fd = r >= 0 ? r : -1;
	if (proc_files_check(f) < 0) {
		proc_files_close(f);
		return -ESRCH;
	}
	return 0;
}

void proc_files_close(struct proc_files *f)
{
	if (f->pidfd >= 0)
		close(f->pidfd);
	if (f->status_fd >= 0)
		close(f->status_fd);
	if (f->ksm_stat_fd >= 0)
		close(f->ksm_stat_fd);
	*f = (struct proc_files)PROC_FILES_INIT;
}

/* "Key:   123 kB" of /proc/PID/status, in bytes (0 when missing). */
static uint64_t status_kb(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	unsigned long long kb;
	if (!p || sscanf(p + strlen(key), " %llu kB", &kb) != 1)
		return 0;
	return (uint64_t)kb * 1024;
}

void proc_sample_parse_status(const char *text, struct proc_sample *out)
{
	out->rss_bytes = status_kb(text, "\nVmRSS:");
	out->swap_bytes = status_kb(text, "\nVmSwap:");
	out->resident_pages = out->rss_bytes / PAGE_SIZE_4K;
}

/* The whole text of an open /proc file, from offset 0, in one read when it
 * fits: into *buf (malloc'd, NUL-terminated). 0 or -errno; an empty read
 * (the process has gone) is -ESRCH. */
static int pread_text(int fd, char **buf)
{
	size_t cap = 4096;
	for (;;) {
		char *b = malloc(cap);
		if (!b)
			return -ENOMEM;
		ssize_t n = pread(fd, b, cap - 1, 0);
		if (n <= 0) {
			int e = n < 0 ? -errno : -ESRCH;
			free(b);
			return e;
		}
		if ((size_t)n < cap - 1) {
			b[n] = 0;
			*buf = b;
			return 0;
		}
		free(b);
		cap *= 2;
	}
}

int proc_sample_read(const struct proc_files *f, struct proc_sample *out)
{
	memset(out, 0, sizeof *out);
	if (f->status_fd < 0)
		return -ESRCH;
	char *text;
	int r = pread_text(f->status_fd, &text);
	if (r < 0)
		return r;
	proc_sample_parse_status(text, out);
	free(text);
	out->valid = true;
	if (f->ksm_stat_fd >= 0 && pread_text(f->ksm_stat_fd, &text) == 0) {
		out->ksm_valid = ksm_proc_stat_parse(text, &out->ksm) == 0;
		free(text);
	}
	/* a zombie still has its status: an exited process is gone all the same */
	if (proc_files_check(f) < 0) {
		memset(out, 0, sizeof *out);
		return -ESRCH;
	}
	return 0;
}
