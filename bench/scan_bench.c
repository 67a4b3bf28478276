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
 *           median of RUNS windows of WINDOW seconds (sysfs saved and
 *           restored, also on SIGINT/SIGTERM); on the duplicate-heavy
 *           memory first from the start until it has merged it all (the
 *           same work as our pass: finding the duplicates), then, merged,
 *           in windows (beside our pass over the merged memory);
 *   skip    pages decided from pagemap alone per wall-second: on a region
 *           never touched (absent) and on the duplicate-heavy memory once
 *           the kernel merged it (already merged);
 *   memory  daemon bytes per tracked page: counted allocations (steady and
 *           peak of a pass) and the process's RSS growth (VmRSS, VmHWM).
 *
 * Writes JSON (-o) and a markdown table (-M). The machine is shared and
 * noisy: medians, and ratios taken within one run. */
#include "act/ksm.h"
#include "scanner/scanner.h"
#include "tests/scanner_memhog.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_RUNS 32
#define NKINDS 3   /* unique, duplicate, unique on THP */

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

struct ours {
	double hashed_per_cpu_sec;    /* 1 thread */
	double wall_1t, wall_2t;      /* pages per second */
	double pread_per_cpu_sec;     /* pread only, 1 thread */
	double pread_wall_2t;         /* pread only, 2 threads */
	double skipped_per_sec;
	double decided_per_cpu_sec;   /* (read + skipped) pages per CPU-second */
	double bytes_per_page, peak_bytes_per_page;
	double rss_bytes_per_page, hwm_bytes_per_page;
	uint64_t pages_scanned, pages_skipped, saveable;
};

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
	double cpu[MAX_RUNS], wall[MAX_RUNS], skip[MAX_RUNS], dec[MAX_RUNS];
	for (int i = 0; i < runs; i++) {
		if (scanner_scan_once(s) < 0 || scanner_get_results(s, &r) < 0)
			return -1;
		cpu[i] = r.last_pass_cpu_sec > 0 ? (double)r.pages_scanned / r.last_pass_cpu_sec : 0;
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

/* The kernel's KSM thread at full speed over whatever is mergeable now
 * (our child): pages_scanned per ksmd CPU-second, median of windows. */
static int run_kernel(int runs, double window_sec, double *per_cpu_sec, double *per_wall_sec,
		      int *n_valid, int *disturbed)
{
	if (ksm_full_speed(1) < 0)
		return -1;
	double cpu[MAX_RUNS], wall[MAX_RUNS];
	int valid = 0;
	/* Another process may drive KSM on a shared host: a window in which
	 * the settings changed is discarded (and the settings applied again). */
	for (int tries = 0; valid < runs && tries < 3 * runs; tries++) {
		struct ksm_sysfs a, b;
		usec_t c0, c1, t0, t1;
		if (ksm_read(NULL, &a) < 0 || ksm_kthread_cpu_usec(&c0) < 0)
			return -1;
		t0 = now_usec();
		usleep((useconds_t)(window_sec * 1e6));
		if (ksm_read(NULL, &b) < 0 || ksm_kthread_cpu_usec(&c1) < 0)
			return -1;
		t1 = now_usec();
		if (!ksm_full_speed_held(&a) || !ksm_full_speed_held(&b)) {
			(*disturbed)++;
			ksm_full_speed(1);
			continue;
		}
		double dp = (double)(b.cnt.pages_scanned - a.cnt.pages_scanned);
		cpu[valid] = c1 > c0 ? dp * 1e6 / (double)(c1 - c0) : 0;
		wall[valid] = dp * 1e6 / (double)(t1 - t0);
		valid++;
	}
	*n_valid = valid;
	ksm_stop();
	*per_cpu_sec = median(cpu, valid);
	*per_wall_sec = median(wall, valid);
	return 0;
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

struct kind_result {
	const char *name;
	struct ours o;
	double kernel_cpu, kernel_wall;
	int kernel_windows, kernel_disturbed;
	double skip_merged;
	double merged_decided_per_cpu_sec;
	double kernel_merge_cpu, kernel_merge_sec;   /* while merging (duplicate) */
	int64_t kernel_merge_sharing, kernel_merge_scans;
};

int main(int argc, char **argv)
{
	unsigned mib = 1024;
	int runs = 5, o;
	double window = 2.0;
	const char *json = NULL, *md = NULL;
	while ((o = getopt(argc, argv, "m:r:w:o:M:")) != -1) {
		switch (o) {
		case 'm': mib = (unsigned)atoi(optarg); break;
		case 'r': runs = MIN(atoi(optarg), MAX_RUNS); break;
		case 'w': window = atof(optarg); break;
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
	bool have_ksm = ksm_save(NULL, &saved) == 0;
	saved_valid = have_ksm;
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	unsigned pages = mib * 256;
	struct kind_result kr[NKINDS] = { { .name = "unique" }, { .name = "duplicate" },
					  { .name = "unique_thp" } };
	for (int k = 0; k < NKINDS; k++) {
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
			return 1;
		}
		fprintf(stderr, "%s: ours, 1 thread...\n", kr[k].name);
		if (run_ours(pid, size, 1, runs, &kr[k].o, k == 0, false) < 0)
			return 1;
		fprintf(stderr, "%s: ours, 2 threads...\n", kr[k].name);
		if (run_ours(pid, size, 2, runs, &kr[k].o, false, false) < 0)
			return 1;
		fprintf(stderr, "%s: ours, pread only, 1 and 2 threads...\n", kr[k].name);
		if (run_ours(pid, size, 1, runs, &kr[k].o, false, true) < 0 ||
		    run_ours(pid, size, 2, runs, &kr[k].o, false, true) < 0)
			return 1;
		if (have_ksm) {
			if (k == 1) {
				fprintf(stderr, "%s: kernel KSM thread while it merges...\n", kr[k].name);
				if (run_kernel_merge(300, &kr[k].kernel_merge_cpu, &kr[k].kernel_merge_sec,
						     &kr[k].kernel_merge_sharing, &kr[k].kernel_merge_scans) < 0)
					fprintf(stderr, "kernel merge measurement failed (disturbed or too slow)\n");
			}
			fprintf(stderr, "%s: kernel KSM thread...\n", kr[k].name);
			if (run_kernel(runs, window, &kr[k].kernel_cpu, &kr[k].kernel_wall,
				       &kr[k].kernel_windows, &kr[k].kernel_disturbed) < 0)
				fprintf(stderr, "kernel measurement failed\n");
			if (k == 1) {
				struct ours m = { 0 };
				fprintf(stderr, "%s: ours over merged memory...\n", kr[k].name);
				if (run_ours(pid, size, 1, runs, &m, false, false) == 0) {
					kr[k].skip_merged = m.skipped_per_sec;
					kr[k].merged_decided_per_cpu_sec = m.decided_per_cpu_sec;
				}
				fprintf(stderr, "%s: %llu pages skipped (merged), %llu read\n", kr[k].name,
					(unsigned long long)m.pages_skipped,
					(unsigned long long)m.pages_scanned);
			}
		}
		reap(pid);
	}
	/* absent: a mapping 4x as large, never touched */
	struct memhog_layout la = { .absent = pages * 4, .unique = 1, .mergeable = true };
	pid_t pid = spawn(&la);
	struct ours abs = { 0 };
	if (pid < 0 || run_ours(pid, memhog_pages(&la) * 4096, 1, runs, &abs, false, false) < 0)
		return 1;
	reap(pid);
	cleanup();

	char *load = NULL;
	if (read_file("/proc/loadavg", &load, NULL) < 0)
		load = NULL;
	double load1 = load ? atof(load) : -1;
	free(load);

	FILE *out = json ? fopen(json, "w") : stdout;
	if (!out)
		return 1;
	fprintf(out, "{\n  \"memory_mib\": %u, \"runs\": %d, \"kernel_window_sec\": %.1f, \"loadavg_1min_at_end\": %.2f,\n",
		mib, runs, window, load1);
	for (int k = 0; k < NKINDS; k++) {
		struct kind_result *x = &kr[k];
		fprintf(out, "  \"%s\": {\"ours_hashed_per_cpu_sec\": %.0f, \"ours_wall_pages_per_sec_1t\": %.0f, "
			"\"ours_wall_pages_per_sec_2t\": %.0f, \"ours_pread_only_per_cpu_sec\": %.0f, "
			"\"ours_pread_only_wall_pages_per_sec_2t\": %.0f, \"kernel_pages_per_cpu_sec\": %.0f, "
			"\"kernel_pages_per_wall_sec\": %.0f, \"ratio_per_cpu_sec\": %.2f, "
			"\"kernel_windows\": %d, \"kernel_windows_disturbed\": %d, "
			"\"pages_scanned\": %llu, \"saveable_pages\": %llu, \"skipped_merged_per_sec\": %.0f, "
			"\"ours_merged_pages_per_cpu_sec\": %.0f, \"kernel_merging_pages_per_cpu_sec\": %.0f, "
			"\"kernel_merging_sec\": %.1f, \"kernel_merging_pages_sharing\": %lld, "
			"\"kernel_merging_full_scans\": %lld},\n",
			x->name, x->o.hashed_per_cpu_sec, x->o.wall_1t, x->o.wall_2t,
			x->o.pread_per_cpu_sec, x->o.pread_wall_2t, x->kernel_cpu,
			x->kernel_wall, x->kernel_cpu > 0 ? x->o.hashed_per_cpu_sec / x->kernel_cpu : 0,
			x->kernel_windows, x->kernel_disturbed, (unsigned long long)x->o.pages_scanned, (unsigned long long)x->o.saveable,
			x->skip_merged, x->merged_decided_per_cpu_sec, x->kernel_merge_cpu,
			x->kernel_merge_sec, (long long)x->kernel_merge_sharing,
			(long long)x->kernel_merge_scans);
	}
	fprintf(out, "  \"skipped_absent_per_sec\": %.0f,\n", abs.skipped_per_sec);
	fprintf(out, "  \"bytes_per_tracked_page\": {\"counted_steady\": %.2f, \"counted_peak\": %.2f, "
		"\"rss_steady\": %.2f, \"rss_peak\": %.2f}\n}\n",
		kr[0].o.bytes_per_page, kr[0].o.peak_bytes_per_page,
		kr[0].o.rss_bytes_per_page, kr[0].o.hwm_bytes_per_page);
	if (json)
		fclose(out);

	out = md ? fopen(md, "w") : stdout;
	if (!out)
		return 1;
	fprintf(out, "# Scanner benchmark\n\n%u MiB per kind of memory, medians of %d runs "
		"(kernel: %d windows of %.1f s at pages_to_scan=100000 sleep_millisecs=0). "
		"1-minute load average at the end: %.2f on %ld CPUs (a shared machine: the kernel "
		"thread also scans other processes' mergeable memory, and both sides lose CPU to "
		"other work).\n\n", mib, runs, runs, window, load1, sysconf(_SC_NPROCESSORS_ONLN));
	fprintf(out, "| memory | ours pages/CPU-s (1 thr) | ours pages/s wall 1 thr | ours pages/s wall 2 thr "
		"| pread only: pages/CPU-s (1 thr) | pread only: pages/s wall 2 thr "
		"| kernel ksmd pages/CPU-s | ratio per CPU-s | kernel windows valid / disturbed |\n"
		"|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
	for (int k = 0; k < NKINDS; k++) {
		/* duplicate: beside the kernel while it merges the same memory */
		double kern = k == 1 ? kr[k].kernel_merge_cpu : kr[k].kernel_cpu;
		fprintf(out, "| %s | %.2f M | %.2f M | %.2f M | %.2f M | %.2f M | %.2f M | %.1fx | %d / %d |\n",
			k == 2 ? "unique, transparent huge pages" :
			k == 1 ? "duplicate, not merged yet (kernel: from the start until it has merged it)" :
			kr[k].name,
			kr[k].o.hashed_per_cpu_sec / 1e6, kr[k].o.wall_1t / 1e6, kr[k].o.wall_2t / 1e6,
			kr[k].o.pread_per_cpu_sec / 1e6, kr[k].o.pread_wall_2t / 1e6,
			kern / 1e6, kern > 0 ? kr[k].o.hashed_per_cpu_sec / kern : 0,
			k == 1 ? (kern > 0) : kr[k].kernel_windows, k == 1 ? 0 : kr[k].kernel_disturbed);
	}
	if (kr[1].merged_decided_per_cpu_sec > 0)
		fprintf(out, "| duplicate, once KSM merged it (ours skips merged pages, the kernel "
			"scans them again) | %.2f M | | | | | %.2f M | %.1fx | %d / %d |\n",
			kr[1].merged_decided_per_cpu_sec / 1e6, kr[1].kernel_cpu / 1e6,
			kr[1].kernel_cpu > 0 ? kr[1].merged_decided_per_cpu_sec / kr[1].kernel_cpu : 0,
			kr[1].kernel_windows, kr[1].kernel_disturbed);
	if (kr[1].kernel_merge_cpu > 0)
		fprintf(out, "\nThe kernel merged the duplicate memory (pages_sharing +%lld) in %.1f s, "
			"%lld full scans done by then; its rate is taken over that span; the last row is after it.\n",
			(long long)kr[1].kernel_merge_sharing, kr[1].kernel_merge_sec,
			(long long)kr[1].kernel_merge_scans);
	fprintf(out, "\n| pages skipped through pagemap | pages/s (pagemap stage) |\n|---|---:|\n"
		"| absent (never touched) | %.1f M |\n| already merged by KSM | %.1f M |\n",
		abs.skipped_per_sec / 1e6, kr[1].skip_merged / 1e6);
	fprintf(out, "\n| daemon bytes per tracked page | steady | peak (during a pass) |\n|---|---:|---:|\n"
		"| counted allocations | %.2f | %.2f |\n| process RSS growth | %.2f | %.2f |\n",
		kr[0].o.bytes_per_page, kr[0].o.peak_bytes_per_page,
		kr[0].o.rss_bytes_per_page, kr[0].o.hwm_bytes_per_page);
	if (md)
		fclose(out);
	return 0;
}
