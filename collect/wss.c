/* wss.c — a host-side working-set estimate of a guest.
 *
 * The guest's own stats say how much memory it has available; a guest can
 * be wrong about that (or lie), and then the idle trim probes below what it
 * really uses. The host has its own view: the page tables of the QEMU
 * process that holds the guest's RAM. The classic working-set-size method
 * (Brendan Gregg's wss tool, built on the kernel's clear_refs) is:
 *
 *   1. write "1" to /proc/PID/clear_refs: for every present page of the
 *      process the kernel test-and-clears the PTE's accessed ("young") bit
 *      and clears the page's referenced flag (fs/proc/task_mmu.c,
 *      clear_refs_pte_range(); a PMD-mapped huge page has its PMD's young
 *      bit cleared as a whole);
 *   2. wait an interval;
 *   3. read `Referenced:` of the guest RAM mapping in /proc/PID/smaps: the
 *      bytes of pages whose accessed bit or referenced flag is set again,
 *      that is, pages touched during the interval.
 *
 * That figure is the guest's working set over the interval as the host saw
 * it, and it lags: it describes the interval that ended when it was read.
 * The daemon runs one cycle per guest (struct wss_tracker): clear, read
 * after host_wss_interval (10 s by default), clear again at once. The
 * reading is collect's (here, wss_tracker_collect() in the tick's collect
 * stage); the clear changes the host, so it is act's
 * (act/wss_reset.c, wss_tracker_reset() in the tick's act stage, when
 * the collect stage said one is due).
 *
 * What it counts and what it misses.
 * - Transparent huge pages: Referenced counts a PMD-mapped huge page whole
 *   (2 MiB) when any of its bytes was touched, so with THP the estimate is
 *   rounded up to 2 MiB per touched huge page: an overestimate, never an
 *   underestimate.
 * - Everything the guest touches counts, its page cache included: the
 *   figure is "memory touched", which is what an idle trim must not take.
 * - Under hardware virtualization (KVM with EPT/NPT) the guest's own
 *   accesses set the accessed bits of KVM's page tables, not of QEMU's.
 *   clear_refs uses ptep_test_and_clear_young(), not the mmu-notifier
 *   variant, and smaps reads the PTE's young bit, so there the signal sees
 *   only what QEMU itself touches (device emulation) and under-reports.
 *   Under TCG (the lab of this project: no /dev/kvm) the guest's accesses
 *   are QEMU's own and are all seen. The policy uses the signal only as a
 *   lower bound (max with the stats-based estimate), so an under-report
 *   leaves the policy where it was without the signal, never worse. Idle
 *   page tracking (/sys/kernel/mm/page_idle) does consult KVM's bits but
 *   needs CONFIG_IDLE_PAGE_TRACKING (absent from this host's kernel) and a
 *   pagemap walk.
 * - clear_refs has no range: it clears the whole process; only the reading
 *   is limited to the RAM mapping.
 * - clear_refs "1" flushes no TLB (only "4", soft-dirty, does): a CPU that
 *   still caches a page's translation sets no accessed bit when it touches
 *   the page again. Measured here: a process that touched 8 MiB right
 *   after the clear, its translations warm, showed 0 referenced in most
 *   runs (tests/unit/test_policy_wss.c flushes them with mprotect to test
 *   the cycle). A guest whose working set is larger than the TLB's reach,
 *   over a 10 s interval with vCPU threads scheduled around, refills its
 *   TLB many times; what stays cached the whole interval is missed: again
 *   an underestimate, bounded by the TLB's reach (a few MiB with 4 KiB
 *   pages, more with huge pages). tests/integration/wss.sh (64 of 256 MiB
 *   read every 50 ms, 2 s interval) measured 64 MiB exactly.
 * - ksmd's own scanner reads every page of the guest, and both its read
 *   paths (pread on /proc/PID/mem, process_vm_readv) go through
 *   get_user_pages with FOLL_TOUCH, which marks each page accessed
 *   (PG_referenced, counted by Referenced:). Measured: 64 MiB of an idle
 *   process read 572 kB after the clear, 67,024 kB after one scanner pass.
 *   So an interval in which the scanner read the guest is dropped and
 *   started again once the scanner is done with it (wss_tracker_collect's
 *   others_read_usec); while a pass reads the guest there is no new
 *   sample and the last one ages.
 *
 * Side effects (why it is a knob, policy.host_wss).
 * - Reclaim: the host's page reclaim ages pages by the same accessed bits.
 *   Cleared bits make the guest's pages look idle until touched again, so
 *   under host memory pressure the guest's memory looks colder than it is
 *   for up to one interval. Hot pages get their bit back at their next
 *   touch; the pages that lose are those touched less often than the
 *   interval, which are the ones reclaim would pick anyway.
 * - Cost: the clear walks every page table of the process under its mmap
 *   lock and flushes its TLB; the read walks them again (smaps). For a
 *   4 GiB guest that is about a million PTEs twice per interval, a few
 *   milliseconds; the guest's vCPUs see a TLB refill. Measured here on
 *   a process of 512 MiB touched: about 6 ms of CPU for the clear and 7 ms
 *   for the read, so a cycle costs in proportion to memory (about 0.4 s
 *   per 10 s on 16 GiB of guests, 4% of a core, and 17% at 64 GiB). The
 *   tracker times both (this thread's CPU clock), and the daemon starts
 *   every guest's cycle once a period, the shortest at which one cycle of
 *   each fits in policy.host_wss_cpu_percent of a core (1%;
 *   wss_bounded_period): at once after the last while that fits, with a
 *   pause between cycles on a bigger host. The clear-to-read interval
 *   stays host_wss_interval (a longer one would outlast the scanner's
 *   pause between passes, and be dropped every time); the samples come
 *   less often instead, and the policy keeps one for three periods. The
 *   cost then stays flat with memory.
 * - Another user of clear_refs/Referenced on the same process (a wss tool,
 *   a profiler) sees our clears, and we see theirs.
 * - KSM: clearing the accessed bit does not unshare a merged page. The
 *   walk only test-and-clears the young bit and the referenced flag of the
 *   folio vm_normal_folio() returns; it neither writes to the page nor
 *   changes the PTE's write permission or PFN, so a KSM page stays mapped
 *   read-only to the same stable page and no copy-on-write happens (a
 *   break_ksm()-style unshare needs a write fault or an unmerge). Only
 *   clear_refs "4" (soft-dirty) write-protects PTEs, and even that breaks
 *   nothing until the guest writes; this collector never writes "4".
 *   tests/integration/wss.sh checks it on a merged process.
 *
 * Where the RAM is: QEMU marks guest RAM MADV_MERGEABLE, so it is the
 * mapping with `mg` in its smaps VmFlags, of the guest's memory size (the
 * scanner finds it the same way); wss_find_qemu_ram() picks it out.
 *
 * The parsers are pure (smaps text in, numbers out) for unit tests;
 * wss_sample() and wss_qemu_ram_range() are the only functions here that
 * touch files, and they only read them. */
#include "collect/wss.h"
#include "collect/regions.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/policy.h"

#define DEFAULT_INTERVAL_USEC (10 * USEC_PER_SEC)

/* A smaps mapping header: "start-end perms ..." in lowercase hex. */
static bool header(const char *p, uint64_t *start, uint64_t *end)
{
	char *e;
	if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
		return false;
	unsigned long long s = strtoull(p, &e, 16);
	if (*e != '-')
		return false;
	const char *q = e + 1;
	unsigned long long t = strtoull(q, &e, 16);
	if (e == q || *e != ' ')
		return false;
	*start = s;
	*end = t;
	return true;
}

/* "Key:   123 kB" at p -> bytes; false if p is not that key. */
static bool kb_field(const char *p, const char *key, uint64_t *bytes)
{
	size_t kl = strlen(key);
	if (strncmp(p, key, kl) || p[kl] != ':')
		return false;
	char *e;
	unsigned long long v = strtoull(p + kl + 1, &e, 10);
	if (e == p + kl + 1)
		return false;
	*bytes = v * 1024ULL;
	return true;
}

int wss_parse_smaps(const char *text, uint64_t start, uint64_t end,
		    uint64_t *referenced_bytes, uint64_t *rss_bytes)
{
	uint64_t ref = 0, rss = 0;
	int counted = 0;
	bool in = false, seen_ref = true;
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		uint64_t s, e, v;
		if (header(p, &s, &e)) {
			if (in && !seen_ref)
				return -EINVAL;
			in = e > start && (end == 0 || s < end);
			seen_ref = !in;
			counted += in;
			continue;
		}
		if (!in)
			continue;
		if (kb_field(p, "Referenced", &v)) {
			ref += v;
			seen_ref = true;
		} else if (kb_field(p, "Rss", &v)) {
			rss += v;
		}
	}
	if (in && !seen_ref)
		return -EINVAL;
	if (referenced_bytes)
		*referenced_bytes = ref;
	if (rss_bytes)
		*rss_bytes = rss;
	return counted;
}

/* The scanner's own finder (collect/regions.c: writable anonymous
 * mappings with `mg`, of exactly ram_bytes when given), so both agree on
 * what guest RAM is; with no size, the largest. */
int wss_find_qemu_ram(const char *text, uint64_t ram_bytes, uint64_t *start, uint64_t *end)
{
	struct scan_range *v = NULL;
	size_t n = 0;
	int r = scan_regions_parse(text, SCANNER_GUEST_QEMU, ram_bytes, &v, &n);
	if (r < 0)
		return r;
	if (!n) {
		free(v);
		return -ENOENT;
	}
	size_t best = 0;
	for (size_t i = 1; i < n && !ram_bytes; i++)
		if (v[i].end - v[i].start > v[best].end - v[best].start)
			best = i;
	*start = v[best].start;
	*end = v[best].end;
	free(v);
	return 0;
}

int wss_qemu_ram_range(pid_t pid, uint64_t ram_bytes, uint64_t *start, uint64_t *end)
{
	char path[64], *text = NULL;
	snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
	int r = read_file(path, &text, NULL);
	if (r < 0)
		return r;
	r = wss_find_qemu_ram(text, ram_bytes, start, end);
	free(text);
	return r;
}

int wss_sample(pid_t pid, const struct proc_files *found, uint64_t start, uint64_t end,
	       uint64_t *referenced_bytes, uint64_t *rss_bytes)
{
	char path[64], *text = NULL;
	snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
	int r = read_file(path, &text, NULL);
	if (r < 0)
		return r;
	if (found && proc_files_check(found) < 0) {
		free(text); /* another process's */
		return -ESRCH;
	}
	r = wss_parse_smaps(text, start, end, referenced_bytes, rss_bytes);
	free(text);
	if (r == 0)
		return -ENOENT;
	return r < 0 ? r : 0;
}

void wss_tracker_init(struct wss_tracker *t, pid_t pid, const struct proc_files *found, uint64_t start,
		      uint64_t end, usec_t interval_usec)
{
	memset(t, 0, sizeof *t);
	t->pid = pid;
	t->found = found;
	t->start = start;
	t->end = end;
	wss_tracker_set_interval(t, interval_usec);
}

void wss_tracker_set_interval(struct wss_tracker *t, usec_t interval_usec)
{
	t->interval_usec = interval_usec ? interval_usec : DEFAULT_INTERVAL_USEC;
}

void wss_tracker_set_period(struct wss_tracker *t, usec_t period_usec)
{
	t->period_usec = period_usec;
}

int wss_tracker_collect(struct wss_tracker *t, usec_t now, usec_t others_read_usec)
{
	t->reset_due = false;
	if (t->cleared_usec && others_read_usec >= t->cleared_usec) {
		/* ksmd read the pages since the clear: start the interval again */
		t->discarded++;
		t->cleared_usec = 0;
	}
	/* while ksmd is still reading them, clearing would only be undone:
	 * clear once it has been quiet for a while */
	if (!t->cleared_usec && others_read_usec &&
	    now < others_read_usec + WSS_READ_QUIET_USEC)
		return 0;
	if (!t->cleared_usec) {
		if (t->last_start_usec && now < t->last_start_usec + MAX(t->period_usec, t->interval_usec))
			return 0;  /* the CPU bound's pause between cycles (the period as it is now) */
		t->reset_due = true; /* never cleared, or the cycle restarts */
		return 0;
	}
	if (now < t->cleared_usec || now - t->cleared_usec < t->interval_usec)
		return 0;
	uint64_t ref = 0, rss = 0;
	usec_t cpu0 = wss_thread_cpu_usec();
	int r = wss_sample(t->pid, t->found, t->start, t->end, &ref, &rss);
	t->read_cpu_usec = wss_thread_cpu_usec() - cpu0;
	t->last_error = r;
	if (r < 0) {
		t->cleared_usec = 0; /* the next call starts the cycle again */
		return r;
	}
	t->host_active_bytes = ref;
	t->ram_resident_bytes = rss;
	t->sampled_usec = now;
	t->sample_interval_usec = now - t->cleared_usec;
	t->valid = true;
	t->samples++;
	/* the next cycle starts a period after this one did: at once while
	 * the period is the interval */
	t->last_start_usec = t->cleared_usec;
	t->cleared_usec = 0;
	t->reset_due = now >= t->last_start_usec + MAX(t->period_usec, t->interval_usec);
	return 1;
}

void wss_tracker_fill(const struct wss_tracker *t, usec_t now, struct policy_guest *g)
{
	g->host_active_valid = t->valid;
	g->host_active_bytes = t->valid ? t->host_active_bytes : 0;
	g->host_active_age_usec = t->valid && now > t->sampled_usec ? now - t->sampled_usec : 0;
	g->ram_resident_bytes = t->valid ? t->ram_resident_bytes : 0;
	g->host_active_period_usec = MAX(t->period_usec, t->interval_usec);
}

usec_t wss_tracker_cycle_cpu(const struct wss_tracker *t)
{
	return t->clear_cpu_usec + t->read_cpu_usec;
}

usec_t wss_bounded_period(usec_t interval_usec, usec_t cycle_cpu_sum_usec, double cpu_percent)
{
	if (!(cpu_percent > 0))
		return interval_usec;
	double need = (double)cycle_cpu_sum_usec * 100.0 / cpu_percent;
	if (need <= (double)interval_usec)
		return interval_usec;
	return need >= (double)WSS_INTERVAL_MAX_USEC ? MAX(interval_usec, WSS_INTERVAL_MAX_USEC)
						     : (usec_t)need;
}

usec_t wss_thread_cpu_usec(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

void fpr_meter_reset(struct fpr_meter *m)
{
	memset(m, 0, sizeof(*m));
}

uint64_t fpr_meter_sample(struct fpr_meter *m, uint64_t resident, uint64_t actual, uint64_t swap)
{
	uint64_t add = 0;
	if (m->primed && resident < m->resident) {
		uint64_t fell = m->resident - resident;
		uint64_t ballooned = actual < m->actual ? m->actual - actual : 0;
		uint64_t swapped = swap > m->swap ? swap - m->swap : 0;
		uint64_t explained = ballooned + swapped;
		add = fell > explained ? fell - explained : 0;
	}
	m->returned_bytes += add;
	m->primed = true;
	m->resident = resident;
	m->actual = actual;
	m->swap = swap;
	return add;
}
