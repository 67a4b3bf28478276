/* fuzz_proc.c — libFuzzer target of the /proc, /sys and cgroup parsers:
 * /proc/PID/ksm_stat (act/ksm.c, and the scanner's quick check), stat,
 * statm, maps and smaps (collect/regions.c, collect/wss.c), cgroup,
 * /proc/meminfo, vmstat, pressure/memory, mountinfo (collect/host.c), a
 * cgroup's limits, memory.stat and memory.pressure (balloon/cgroup.c).
 * Every parser reads the same text; the first byte picks the size hints.
 * What they return must hold together (ranges ordered, strings ended). */
#include "act/ksm.h"
#include "balloon/balloon.h"
#include "balloon/internal.h"
#include "collect/host.h"
#include "collect/regions.h"
#include "collect/wss.h"
#include "policy/policy.h"
#include "tests/fuzz/fuzz_quiet.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_ranges(const char *text, enum scanner_guest_kind kind, uint64_t hint)
{
	struct scan_range *r = NULL;
	size_t n = 0;
	if (scan_regions_parse(text, kind, hint, &r, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			if (r[i].start >= r[i].end)
				abort(); /* empty or reversed range */
			if (i && r[i].start < r[i - 1].end)
				abort(); /* not in address order, or overlapping */
		}
	}
	free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint64_t hint = (uint64_t)(data[0] & 0x7f) << 20; /* 0 .. 127 MiB */
	char *text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = 0;

	struct ksm_proc_stat ps;
	ksm_proc_stat_parse(text, &ps);
	pid_t ppid;
	usec_t cpu;
	ksm_parse_pid_stat(text, 100, &ppid, &cpu);
	char fix[256];
	const char *f = ksm_mergeable_fix(text, text, fix, sizeof fix);
	if (f && !memchr(f, 0, f == fix ? sizeof fix : strlen(f) + 1))
		abort();
	uint64_t res;
	scan_parse_statm(text, &res);
	scan_ksm_stat_none_merging(text);

	check_ranges(text, SCANNER_GUEST_QEMU, hint);
	check_ranges(text, SCANNER_GUEST_QEMU, 0);
	check_ranges(text, SCANNER_GUEST_PROCESS, 0);
	uint64_t refd, rss, start, end;
	wss_parse_smaps(text, 0, UINT64_MAX, &refd, &rss);
	if (wss_find_qemu_ram(text, hint, &start, &end) == 0)
		wss_parse_smaps(text, start, end, &refd, &rss);

	struct policy_host h;
	memset(&h, 0, sizeof h);
	collect_parse_meminfo(text, &h);
	collect_parse_vmstat(text, &h);
	collect_parse_psi(text, &h);
	char mnt[512];
	bool v2;
	if (collect_parse_cgroup_mount(text, mnt, sizeof mnt, &v2) == 0 && !memchr(mnt, 0, sizeof mnt))
		abort();

	uint64_t lim;
	balloon_cgroup_parse_limit(text, &lim);
	struct balloon_stats st;
	memset(&st, 0, sizeof st);
	balloon_cgroup_parse_pressure(text, &st);
	struct cg_kv kv[] = { { "file", 0, 0 }, { "anon", 0, 0 }, { "total_cache", 0, 0 },
			      { "pgfault", 0, 0 } };
	balloon_cgroup_parse_stat(text, kv, sizeof kv / sizeof kv[0]); /* cuts text: last */
	free(text);
	return 0;
}
