/* regions.c — collect: a process's memory regions from /proc/PID/maps and
 * smaps (which mappings of a guest are its RAM), for the scanner and the
 * working set.
 *
 * QEMU allocates each RAM block as one anonymous mapping and marks it
 * MADV_MERGEABLE (mem-merge=on, the default), which smaps shows as `mg` in
 * VmFlags; the mapping has exactly the block's size, so a size hint from
 * QMP picks guest RAM out of the ROM and VGA blocks. Plain processes have
 * no such mark: their private anonymous writable mappings (heap, anonymous
 * mmaps, named anonymous ones) are what KSM could merge for them. File
 * mappings, shared mappings and read-only ones are never candidates. The
 * regions are re-read every pass, so hotplug and restarts are followed. */
#include "collect/regions.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

struct parse_state {
	struct scan_range *v;
	size_t n, cap;
	int err;
};

static void push(struct parse_state *ps, uint64_t start, uint64_t end)
{
	if (ps->err)
		return;
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 8;
		struct scan_range *v = realloc(ps->v, cap * sizeof(*v));
		if (!v) {
			ps->err = -ENOMEM;
			return;
		}
		ps->v = v;
		ps->cap = cap;
	}
	ps->v[ps->n++] = (struct scan_range){ start, end };
}

static bool is_anon_name(const char *path)
{
	return path[0] == '\0' || strcmp(path, "[heap]") == 0 ||
	       strncmp(path, "[anon:", 6) == 0;
}

static bool has_flag(const char *vmflags, const char *flag)
{
	size_t fl = strlen(flag);
	for (const char *p = vmflags; (p = strstr(p, flag)); p += fl)
		if ((p == vmflags || p[-1] == ' ') && (p[fl] == ' ' || p[fl] == '\0' || p[fl] == '\n'))
			return true;
	return false;
}

int scan_regions_parse(const char *text, enum scanner_guest_kind kind,
		       uint64_t size_hint_bytes, struct scan_range **out, size_t *n)
{
	struct parse_state ps = { 0 };
	bool have = false, cand = false;
	uint64_t cur_start = 0, cur_end = 0;

	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char buf[512];
		if (len >= sizeof(buf))
			len = sizeof(buf) - 1;
		memcpy(buf, line, len);
		buf[len] = '\0';
		line = nl ? nl + 1 : NULL;

		unsigned long long s, e, off, ino;
		char perms[8];
		unsigned maj, min;
		int pos = 0;
		if (sscanf(buf, "%llx-%llx %7s %llx %x:%x %llu %n", &s, &e, perms, &off,
			   &maj, &min, &ino, &pos) >= 7 && strlen(perms) == 4) {
			const char *path = pos ? buf + pos : "";
			while (*path == ' ')
				path++;
			/* the kernel lists mappings in address order, apart: what
			 * does not is no maps file (the ranges are promised in order) */
			if (e <= s || (s | e) % PAGE_SIZE_4K || (have && s < cur_end)) {
				ps.err = -EINVAL;
				break;
			}
			have = true;
			cur_start = s;
			cur_end = e;
			if (kind == SCANNER_GUEST_PROCESS) {
				if (perms[1] == 'w' && perms[3] == 'p' && ino == 0 && is_anon_name(path))
					push(&ps, s, e);
			} else {
				cand = perms[1] == 'w' && ino == 0 &&
				       (size_hint_bytes == 0 || e - s == size_hint_bytes);
			}
			continue;
		}
		if (kind == SCANNER_GUEST_QEMU && have && strncmp(buf, "VmFlags:", 8) == 0) {
			if (cand && has_flag(buf + 8, "mg"))
				push(&ps, cur_start, cur_end);
			cand = false;
		}
	}
	if (ps.err) {
		free(ps.v);
		return ps.err;
	}
	*out = ps.v;
	*n = ps.n;
	return 0;
}

int scan_regions_read(pid_t pid, enum scanner_guest_kind kind,
		      uint64_t size_hint_bytes, struct scan_range **out, size_t *n)
{
	char path[64], *text;
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid,
		 kind == SCANNER_GUEST_QEMU ? "smaps" : "maps");
	int r = read_file(path, &text, NULL);
	if (r < 0)
		return r;
	if (text[0] == '\0') {
		/* a zombie (or kernel thread) has no mm: treat as gone */
		free(text);
		return -ESRCH;
	}
	r = scan_regions_parse(text, kind, size_hint_bytes, out, n);
	free(text);
	return r;
}

int scan_parse_statm(const char *text, uint64_t *resident_pages)
{
	unsigned long long size, res;
	if (sscanf(text, "%llu %llu", &size, &res) != 2)
		return -EINVAL;
	*resident_pages = res;
	return 0;
}

bool scan_ksm_stat_none_merging(const char *text)
{
	const char *f = strstr(text, "ksm_merging_pages ");
	if (!f)
		return false;
	f += strlen("ksm_merging_pages ");
	return f[0] == '0' && (f[1] == '\n' || f[1] == 0);
}
