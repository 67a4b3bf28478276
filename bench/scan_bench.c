/* scan_bench — the page scanner against the kernel's KSM thread, on the
 * same memory in one run.
 *
 * For three kinds of memory of MIB each (unique: every page different;
 * duplicate-heavy: 1024 contents repeated; unique on transparent huge
 * pages, as QEMU guest RAM usually is), held by a child process whose
 * mapping is MADV_MERGEABLE (like QEMU guest RAM):
 *
 *   ours    pages hashed per CPU-second (1 thread: pages_scanned over the
 *           pass's CPU time) and pages per wall-second (1 and 2 threads),
 *           median of RUNS passes after one warm-up pass; the same with
 *           pread only (conf.pread_only: no process_vm_readv for
 *           exclusive pages), for the comparison within one run;
 *   kernel  the KSM thread at pages_to_scan=100000 sleep_millisecs=0:
 *           pages_scanned delta over the ksmd kthread's utime+stime delta,
 *           median of RUNS windows of WINDOW seconds, taken once it
 *           has ended its first two full scans of the memory (the first
 *           only takes checksums, the second builds the unstable tree):
 *           its steady state, as our figure is a pass over memory that
 *           does not change (the first scan's rate is recorded apart;
 *           see run_kernel); sysfs saved and restored, also on
 *           SIGINT/SIGTERM; on the duplicate-heavy
 *           memory first from the start until it has merged it all (the
 *           same work as our pass: finding the duplicates), then, merged,
 *           in windows (beside our pass over the merged memory);
 *   skip    pages decided from pagemap alone per wall-second: on a region
 *           never touched (absent) and on the duplicate-heavy memory once
 *           the kernel merged it (already merged);
 *   memory  daemon bytes per tracked page: counted allocations (steady and
 *           peak of a pass) and the process's RSS growth (VmRSS, VmHWM);
 *           beside it the kernel's, measured on the same memory: its
 *           rmap_item per tracked page, from the child's ksm_stat
 *           (profit = (merging + zero pages) x 4096 - rmap_items x item);
 *   anchors XXH3-64 alone (the scanner's own dispatch) over resident
 *           pages per CPU-second, measured in the run.
 *
 * Our CPU is counted twice: the scanner threads' own (last_pass_cpu_sec)
 * and the whole process's (getrusage: the main thread and liburcu's
 * workers included), the honest figure for the ratios. The kernel's
 * smart_scan skips (pages_skipped) are counted on its side as our pagemap
 * skips are on ours: pages decided per CPU-second = (scanned + skipped) /
 * CPU for both.
 *
 * Writes JSON (-o) and a markdown table (-M). The machine is shared and
 * noisy: medians, and ratios taken within one run. */
#include "act/ksm.h"
#include "bench/cpu.h"
#include "bench/scan_bench.h"
#include "collect/sample.h"
#include "scanner/scan_hash.h"
#include "scanner/scanner.h"
#include "tests/scanner_memhog.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 32

static struct ksm_settings saved;
static bool saved_valid;
static pid_t children[8];
static int n_children;

static void cleanup(void)
{
	if (saved_valid) {
		ksm_restore(NULL, &saved);
		saved_valid = false;
	}
	for (int i = 0; i < n_children; i++)
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static pid_t spawn(const struct memhog_layout *l)
{
	int p[2];
	if (pipe(p))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		char c = memhog_build(l) ? 'r' : 'e';
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	char c = 0;
	if (pid < 0 || read(p[0], &c, 1) != 1 || c != 'r') {
		close(p[0]);
		if (pid > 0) { /* a child that could not build its memory waits: end it */
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		return -1;
	}
	close(p[0]);
	children[n_children++] = pid;
	return pid;
}

static void reap(pid_t pid)
{
	for (int i = 0; i < n_children; i++)
		if (children[i] == pid) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			children[i] = 0;
		}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	if (n <= 0)
		return 0;
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long status_kib(const char *key)
{
	char *text, *p;
	long v = -1;
	if (read_file("/proc/self/status", &text, NULL) < 0)
		return -1;
	if ((p = strstr(text, key)))
		v = strtol(p + strlen(key) + 1, NULL, 10);
	free(text);
	return v;
}

/* XXH3-64 alone (the scanner's dispatch) over 64 MiB of resident, distinct
 * pages: pages per CPU-second of this thread, median of runs. */
static double xxh3_alone(int runs)
{
	const size_t n = 16384;
	unsigned char *buf = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return 0;
	for (size_t i = 0; i < n * 4096 / 8; i++)
		((uint64_t *)buf)[i] = i * 0x9E3779B97F4A7C15ull;
	double v[MAX_RUNS];
	uint64_t sink = 0;
	for (int r = 0; r < runs; r++) {
		double a = bench_cpu_sec(BENCH_CPU_THREAD);
		for (int rep = 0; rep < 8; rep++)
			for (size_t i = 0; i < n; i++)
				sink ^= scan_hash_xxh3(buf + i * 4096, 4096);
		double sec = bench_cpu_sec(BENCH_CPU_THREAD) - a;
		v[r] = sec > 0 ? 8.0 * (double)n / sec : 0;
	}
	munmap(buf, n * 4096);
	if (sink == 42) /* keep the hashing from being optimised away */
		fprintf(stderr, "\n");
	return median(v, runs);
}

/* The kernel's bytes per page it tracks, from pid's ksm_stat after KSM
 * scanned it: the rmap_item size the profit line implies. 0 unknown. */
static double kernel_bytes_per_page(pid_t pid)
{
	struct ksm_proc_stat st;
	if (ksm_proc_stat(pid, &st) < 0 || st.rmap_items <= 0 || st.process_profit == -1)
		return 0;
	int64_t merged = (st.merging_pages > 0 ? st.merging_pages : 0) + (st.zero_pages > 0 ? st.zero_pages : 0);
	return ((double)merged * 4096 - (double)st.process_profit) / (double)st.rmap_items;
}

/* Passes of a fresh scanner with `threads` over pid; medians of runs after
 * one warm-up pass. */
static int run_ours(pid_t pid, uint64_t size, unsigned threads, int runs, struct ours *o,
		    bool memory, bool pread_only)
{
	struct scanner_conf c;
	scanner_conf_defaults(&c);
	c.threads = threads;
	c.pread_only = pread_only;
	struct scanner *s = scanner_new(&c);
	if (!s || scanner_add_guest(s, "bench", pid, SCANNER_GUEST_QEMU, size) < 0)
		return -1;
	long rss0 = status_kib("VmRSS:");
	write_file("/proc/self/clear_refs", "5");  /* reset VmHWM */
	long hwm_base = status_kib("VmHWM:");
	if (scanner_scan_once(s) < 0)
		return -1;
	struct scanner_results r;
	if (scanner_get_results(s, &r) < 0)
		return -1;
	if (memory && r.tracked_pages) {
		long rss1 = status_kib("VmRSS:"), hwm = status_kib("VmHWM:");
		o->bytes_per_page = r.bytes_per_tracked_page;
		o->peak_bytes_per_page = r.peak_bytes_per_tracked_page;
		o->rss_bytes_per_page = (double)(rss1 - rss0) * 1024 / (double)r.tracked_pages;
		o->hwm_bytes_per_page = (double)(hwm - MIN(hwm_base, rss0)) * 1024 / (double)r.tracked_pages;
	}
	scanner_results_free(&r);
	double cpu[MAX_RUNS], wall[MAX_RUNS], skip[MAX_RUNS], dec[MAX_RUNS], pcpu[MAX_RUNS], pdec[MAX_RUNS];
	for (int i = 0; i < runs; i++) {
		double p0 = bench_cpu_sec(BENCH_CPU_SELF); /* every thread */
		if (scanner_scan_once(s) < 0)
			return -1;
		double p1 = bench_cpu_sec(BENCH_CPU_SELF);
		if (scanner_get_results(s, &r) < 0)
			return -1;
		cpu[i] = r.last_pass_cpu_sec > 0 ? (double)r.pages_scanned / r.last_pass_cpu_sec : 0;
		pcpu[i] = p1 > p0 ? (double)r.pages_scanned / (p1 - p0) : 0;
		pdec[i] = p1 > p0 ? (double)(r.pages_scanned + r.pages_skipped) / (p1 - p0) : 0;
		wall[i] = r.pages_scanned_per_sec;
		skip[i] = r.pages_skipped_per_sec;
		dec[i] = r.last_pass_cpu_sec > 0 ?
			(double)(r.pages_scanned + r.pages_skipped) / r.last_pass_cpu_sec : 0;
		o->pages_scanned = r.pages_scanned;
		o->pages_skipped = r.pages_skipped;
		o->saveable = r.dup_saveable_pages;
		scanner_results_free(&r);
	}
	if (pread_only) {
		if (threads == 1)
			o->pread_per_cpu_sec = median(cpu, runs);
		else
			o->pread_wall_2t = median(wall, runs);
		scanner_free(s);
		return 0;
	}
	if (threads == 1) {
		o->hashed_per_cpu_sec = median(cpu, runs);
		o->process_per_cpu_sec = median(pcpu, runs);
		o->process_decided_per_cpu_sec = median(pdec, runs);
		o->wall_1t = median(wall, runs);
	} else {
		o->wall_2t = median(wall, runs);
	}
	o->skipped_per_sec = median(skip, runs);
	o->decided_per_cpu_sec = median(dec, runs);
	scanner_free(s);
	return 0;
}

/* KSM at full speed (pages_to_scan=100000, sleep_millisecs=0); run as
 * given, -1 = leave it. */
static int ksm_full_speed(int run)
{
	struct ksm_settings fast;
	ksm_settings_clear(&fast);
	fast.pages_to_scan = 100000;
	fast.sleep_millisecs = 0;
	fast.run = run;
	return ksm_apply(NULL, &fast);
}

/* Are those settings still in force (nobody else drives KSM meanwhile)? */
static bool ksm_full_speed_held(const struct ksm_sysfs *s)
{
	return s->set.pages_to_scan == 100000 && s->set.sleep_millisecs == 0 && s->set.run == 1;
}

/* Stop KSM's thread; what it merged stays merged (run=0). */
static void ksm_stop(void)
{
	struct ksm_settings stop;
	ksm_settings_clear(&stop);
	stop.run = 0;
	ksm_apply(NULL, &stop);
}

/* The longest the kernel's thread is given to finish its first two full
 * scans of a kind of memory before the windows (at 16 GiB of unique
 * memory the second, the first with unstable-tree work, takes about a
 * minute). */
#define KERNEL_WARMUP_LIMIT_SEC 300.0

/* The kernel's KSM thread at full speed over whatever is mergeable now
 * (our child, pid, pages pages): pages_scanned per ksmd CPU-second,
 * median of windows, in its steady state.
 *
 * The kernel's scans of the same memory are not alike (mm/ksm.c): in the
 * first a page only gets its checksum; from the second, a page whose
 * checksum did not change is looked up in the stable tree and searched
 * for (memcmp down the tree) and inserted in the unstable tree; once a
 * page stayed unmerged for three scans, smart_scan starts skipping it on
 * some scans. Windows taken from the start measure whichever phase the
 * size puts them in: at 16 GiB of unique memory, 3 windows of 2 s fell
 * wholly inside the checksum-only first scan (about 0.65 M pages per
 * CPU-second), at 1 GiB in the later scans (about 0.07 M). So the windows
 * begin only once the kernel has ended the full scan in which it reached
 * our memory first and the next one (KERNEL_WARMUP_LIMIT_SEC at most,
 * reported), as our figure is a pass over memory that does not change. On
 * fresh memory the first scan's own rate (checksum only) is recorded
 * apart: from the start until every page has its rmap_item. What the
 * windows cover is reported: full scans before and during them. */
/* run_kernel's warm-up, from t0 (KSM at full speed since then; s0 and c0
 * its counters and CPU at t0): 0 once the windows may begin (or the time
 * limit passed: kr->kernel_warmup_capped), -1 when KSM cannot be read. */
static int kernel_warmup(pid_t pid, size_t pages, bool fresh, const struct ksm_sysfs *s0_,
			 usec_t c0, usec_t t0, struct kind_result *kr)
{
	const struct ksm_sysfs s0 = *s0_;
	struct ksm_sysfs b;
	usec_t c;
	/* Warm-up until the full scan in which our memory got its first
	 * rmap_item (full_scans F then: the counter moves when a scan wraps
	 * round, before it reaches our memory) and the next one have ended,
	 * F + 2; memory scanned before, from the next full scan on, F + 1. */
	int64_t anchor = fresh ? -1 : s0.cnt.full_scans + 1;
	bool capped = true, first_done = !fresh, warned = false;
	while ((double)(now_usec() - t0) < KERNEL_WARMUP_LIMIT_SEC * 1e6) {
		struct ksm_proc_stat st = { 0 };
		usleep(10000);
		if (!first_done && ksm_proc_stat(pid, &st) < 0)
			return -1;
		if (ksm_read(NULL, &b) < 0 || ksm_kthread_cpu_usec(&c) < 0)
			return -1;
		if (!ksm_full_speed_held(&b)) {
			if (!warned)
				kr->kernel_disturbed++;
			warned = true;
			ksm_full_speed(1);
			continue;
		}
		if (anchor < 0 && st.rmap_items > 0)
			anchor = b.cnt.full_scans;
		if (!first_done && st.rmap_items >= (int64_t)pages) {
			/* the first scan gave the last page its rmap_item */
			first_done = true;
			kr->kernel_first_scan_sec = (double)(now_usec() - t0) / 1e6;
			if (c > c0)
				kr->kernel_first_scan_cpu = (double)(b.cnt.pages_scanned - s0.cnt.pages_scanned) *
							    1e6 / (double)(c - c0);
		}
		if (anchor >= 0 && b.cnt.full_scans >= anchor + 2) {
			capped = false;
			break;
		}
	}
	kr->kernel_warmup_capped = capped;
	kr->kernel_warmup_sec = (double)(now_usec() - t0) / 1e6;
	fprintf(stderr, "%s: kernel first scan %.1f s (%.2f M pages/CPU-s), windows from %.1f s%s\n", kr->name,
		kr->kernel_first_scan_sec, kr->kernel_first_scan_cpu / 1e6, kr->kernel_warmup_sec,
		capped ? " (time limit)" : "");
	return 0;
}

static int run_kernel(pid_t pid, size_t pages, bool fresh, int runs, double window_sec,
		      struct kind_result *kr)
{
	struct ksm_sysfs s0, b;
	usec_t c0, c, t0;
	if (ksm_full_speed(-1) < 0 || ksm_read(NULL, &s0) < 0 || ksm_kthread_cpu_usec(&c0) < 0)
		return -1;
	t0 = now_usec();
	if (ksm_full_speed(1) < 0)
		return -1;
	if (kernel_warmup(pid, pages, fresh, &s0, c0, t0, kr) < 0)
		goto fail;
	double cpu[MAX_RUNS], wall[MAX_RUNS], dec[MAX_RUNS];
	int valid = 0;
	int64_t scans_before = -1, scans_during = 0;
	/* Another process may drive KSM on a shared host: a window in which
	 * the settings changed is discarded (and the settings applied again). */
	for (int tries = 0; valid < runs && tries < 3 * runs; tries++) {
		struct ksm_sysfs a;
		usec_t c1, t1, ta;
		if (ksm_read(NULL, &a) < 0 || ksm_kthread_cpu_usec(&c) < 0)
			goto fail;
		ta = now_usec();
		usleep((useconds_t)(window_sec * 1e6));
		if (ksm_read(NULL, &b) < 0 || ksm_kthread_cpu_usec(&c1) < 0)
			goto fail;
		t1 = now_usec();
		if (!ksm_full_speed_held(&a) || !ksm_full_speed_held(&b)) {
			kr->kernel_disturbed++;
			ksm_full_speed(1);
			continue;
		}
		if (scans_before < 0)
			scans_before = a.cnt.full_scans - s0.cnt.full_scans;
		scans_during += b.cnt.full_scans - a.cnt.full_scans;
		double dp = (double)(b.cnt.pages_scanned - a.cnt.pages_scanned);
		cpu[valid] = c1 > c ? dp * 1e6 / (double)(c1 - c) : 0;
		int64_t sk0 = a.cnt.pages_skipped, sk1 = b.cnt.pages_skipped; /* -1 before 6.7 */
		double ds = sk0 >= 0 && sk1 >= sk0 ? (double)(sk1 - sk0) : 0;
		dec[valid] = c1 > c ? (dp + ds) * 1e6 / (double)(c1 - c) : 0;
		wall[valid] = dp * 1e6 / (double)(t1 - ta);
		valid++;
	}
	kr->kernel_windows = valid;
	kr->kernel_scans_before_windows = scans_before;
	kr->kernel_scans_during_windows = scans_during;
	ksm_stop();
	kr->kernel_cpu = median(cpu, valid);
	kr->kernel_wall = median(wall, valid);
	kr->kernel_decided = median(dec, valid);
	return 0;
fail:
	ksm_stop();
	return -1;
}

/* The kernel's KSM thread at full speed on memory nothing of which is
 * merged yet, until it has merged what it will: pages_scanned per ksmd
 * CPU-second from the start until pages_sharing last grew. That is the
 * kernel's rate while it does the work our pass does, finding the
 * duplicates (its first full scan, which only takes checksums, included),
 * to be set beside ours on the same unmerged memory; the scans after it,
 * over memory already merged, are measured apart (run_kernel). It is over
 * once a full scan, from the third on, ends with pages_sharing where the
 * previous one left it. Returns -1 when another process changed the
 * settings meanwhile or limit_sec passed. */
static int run_kernel_merge(double limit_sec, double *per_cpu_sec, double *secs,
			    int64_t *sharing, int64_t *full_scans)
{
	struct ksm_sysfs a, b, grew;
	usec_t c0, c, c_grew, t0, t_grew;
	if (ksm_full_speed(-1) < 0 || ksm_read(NULL, &a) < 0 || ksm_kthread_cpu_usec(&c0) < 0)
		return -1;
	t0 = t_grew = now_usec();
	if (ksm_full_speed(1) < 0)
		return -1;
	grew = a;
	c_grew = c0;
	int64_t f_last = a.cnt.full_scans, sharing_last = a.cnt.pages_sharing;
	int rc = -1;
	while ((double)(now_usec() - t0) < limit_sec * 1e6) {
		usleep(10000);
		if (ksm_read(NULL, &b) < 0 || ksm_kthread_cpu_usec(&c) < 0)
			break;
		if (!ksm_full_speed_held(&b))
			break;  /* disturbed */
		if (b.cnt.pages_sharing > grew.cnt.pages_sharing) {
			grew = b;
			c_grew = c;
			t_grew = now_usec();
		}
		if (b.cnt.full_scans == f_last)
			continue;
		if (b.cnt.full_scans >= a.cnt.full_scans + 3 && b.cnt.pages_sharing == sharing_last) {
			rc = 0;
			break;
		}
		f_last = b.cnt.full_scans;
		sharing_last = b.cnt.pages_sharing;
	}
	ksm_stop();
	if (rc == 0 && c_grew > c0) {
		*per_cpu_sec = (double)(grew.cnt.pages_scanned - a.cnt.pages_scanned) * 1e6 /
			       (double)(c_grew - c0);
		*secs = (double)(t_grew - t0) / 1e6;
		*sharing = grew.cnt.pages_sharing - a.cnt.pages_sharing;
		*full_scans = grew.cnt.full_scans - a.cnt.full_scans;
	} else {
		rc = -1;
	}
	return rc;
}

/* Kind k of memory (0 unique, 1 duplicate, 2 unique on THP) of pages
 * pages, in a child: ours, then the kernel's KSM thread. Returns 0 or -1. */
static int measure_kind(struct bench *bn, int k, unsigned pages)
{
	struct kind_result *kr = &bn->kr[k];
	int runs = bn->runs;
	double window = bn->window;
	bool have_ksm = bn->have_ksm;
	struct memhog_layout l = { .seed = 7, .mergeable = true, .thp = k == 2 };
	if (k != 1) {
		l.unique = pages;
	} else {
		l.classes = 1024;
		l.per_class = pages / 1024;
	}
	uint64_t size = memhog_pages(&l) * 4096;
	pid_t pid = spawn(&l);
	if (pid < 0) {
		fprintf(stderr, "spawn failed\n");
		return -1;
	}
	fprintf(stderr, "%s: ours, 1 thread...\n", kr->name);
	if (run_ours(pid, size, 1, runs, &kr->o, k == 0, false) < 0)
		return -1;
	fprintf(stderr, "%s: ours, 2 threads...\n", kr->name);
	if (run_ours(pid, size, 2, runs, &kr->o, false, false) < 0)
		return -1;
	fprintf(stderr, "%s: ours, pread only, 1 and 2 threads...\n", kr->name);
	if (run_ours(pid, size, 1, runs, &kr->o, false, true) < 0 ||
	    run_ours(pid, size, 2, runs, &kr->o, false, true) < 0)
		return -1;
	if (have_ksm) {
		if (k == 1) {
			fprintf(stderr, "%s: kernel KSM thread while it merges...\n", kr->name);
			if (run_kernel_merge(300, &kr->kernel_merge_cpu, &kr->kernel_merge_sec,
					     &kr->kernel_merge_sharing, &kr->kernel_merge_scans) < 0)
				fprintf(stderr, "kernel merge measurement failed (disturbed or too slow)\n");
		}
		fprintf(stderr, "%s: kernel KSM thread...\n", kr->name);
		if (run_kernel(pid, memhog_pages(&l), k != 1, runs, window, kr) < 0)
			fprintf(stderr, "kernel measurement failed\n");
		kr->kernel_bytes_per_page = kernel_bytes_per_page(pid);
		if (k == 1) {
			struct ours m = { 0 };
			fprintf(stderr, "%s: ours over merged memory...\n", kr->name);
			if (run_ours(pid, size, 1, runs, &m, false, false) == 0) {
				kr->skip_merged = m.skipped_per_sec;
				kr->merged_decided_per_cpu_sec = m.decided_per_cpu_sec;
				kr->merged_process_decided_per_cpu_sec = m.process_decided_per_cpu_sec;
			}
			fprintf(stderr, "%s: %llu pages skipped (merged), %llu read\n", kr->name,
				(unsigned long long)m.pages_skipped,
				(unsigned long long)m.pages_scanned);
		}
	}
	reap(pid);
	return 0;
}

int main(int argc, char **argv)
{
	static struct bench bn = { .mib = 1024, .runs = 5, .window = 2.0,
				   .kr = { { .name = "unique" }, { .name = "duplicate" }, { .name = "unique_thp" } } };
	int o;
	const char *json = NULL, *md = NULL;
	while ((o = getopt(argc, argv, "m:r:w:o:M:")) != -1) {
		switch (o) {
		case 'm': bn.mib = (unsigned)atoi(optarg); break;
		case 'r': bn.runs = MIN(atoi(optarg), MAX_RUNS); break;
		case 'w': bn.window = atof(optarg); break;
		case 'o': json = optarg; break;
		case 'M': md = optarg; break;
		default:
			fprintf(stderr, "usage: %s [-m MIB] [-r RUNS] [-w WINDOW_SEC] [-o JSON] [-M MD]\n", argv[0]);
			return 2;
		}
	}
	if (geteuid() != 0) {
		printf("skip: needs root (pagemap PFNs, /sys/kernel/mm/ksm)\n");
		return 77;
	}
	bn.have_ksm = ksm_save(NULL, &saved) == 0;
	saved_valid = bn.have_ksm;
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	unsigned pages = bn.mib * 256;
	for (int k = 0; k < NKINDS; k++)
		if (measure_kind(&bn, k, pages) < 0)
			return 1;
	fprintf(stderr, "XXH3 alone...\n");
	bn.xxh3 = xxh3_alone(bn.runs);
	/* absent: a mapping 4x as large (at most 16 GiB: beyond, the kernel's
	 * overcommit heuristic refuses it on a small machine), never touched */
	struct memhog_layout la = { .absent = MIN(pages * 4, 16u << 18), .unique = 1, .mergeable = true };
	pid_t pid = spawn(&la);
	if (pid < 0 || run_ours(pid, memhog_pages(&la) * 4096, 1, bn.runs, &bn.absent, false, false) < 0)
		return 1;
	reap(pid);
	cleanup();

	char *load = NULL;
	if (read_file("/proc/loadavg", &load, NULL) < 0)
		load = NULL;
	bn.load1 = load ? atof(load) : -1;
	free(load);
	if (write_json(&bn, json) < 0 || write_md(&bn, md) < 0)
		return 1;
	return 0;
}
