/* scan_bench_report.c — scan_bench's results (scan_bench.c measures them,
 * scan_bench.h) as JSON, for bench/report.py, and as a markdown table. */
#include "bench/scan_bench.h"

#include <stdio.h>
#include <unistd.h>

/* The results in JSON at path (NULL: stdout). Returns 0 or -1. */
int write_json(const struct bench *bn, const char *json)
{
	FILE *out = json ? fopen(json, "w") : stdout;
	if (!out)
		return -1;
	fprintf(out, "{\n  \"memory_mib\": %u, \"runs\": %d, \"kernel_window_sec\": %.1f, \"loadavg_1min_at_end\": %.2f,\n",
		bn->mib, bn->runs, bn->window, bn->load1);
	for (int k = 0; k < NKINDS; k++) {
		const struct kind_result *x = &bn->kr[k];
		fprintf(out, "  \"%s\": {\"ours_hashed_per_cpu_sec\": %.0f, \"ours_wall_pages_per_sec_1t\": %.0f, "
			"\"ours_wall_pages_per_sec_2t\": %.0f, \"ours_pread_only_per_cpu_sec\": %.0f, "
			"\"ours_pread_only_wall_pages_per_sec_2t\": %.0f, \"kernel_pages_per_cpu_sec\": %.0f, "
			"\"kernel_pages_per_wall_sec\": %.0f, \"ratio_per_cpu_sec\": %.2f, "
			"\"kernel_windows\": %d, \"kernel_windows_disturbed\": %d, "
			"\"pages_scanned\": %llu, \"saveable_pages\": %llu, \"skipped_merged_per_sec\": %.0f, "
			"\"ours_merged_pages_per_cpu_sec\": %.0f, \"ours_process_merged_pages_per_cpu_sec\": %.0f, \"kernel_merging_pages_per_cpu_sec\": %.0f, "
			"\"kernel_merging_sec\": %.1f, \"kernel_merging_pages_sharing\": %lld, "
			"\"kernel_merging_full_scans\": %lld, \"ours_process_hashed_per_cpu_sec\": %.0f, "
			"\"ours_process_decided_per_cpu_sec\": %.0f, \"kernel_decided_per_cpu_sec\": %.0f, "
			"\"kernel_bytes_per_tracked_page\": %.1f, "
			"\"kernel_first_scan_pages_per_cpu_sec\": %.0f, \"kernel_first_scan_sec\": %.1f, "
			"\"kernel_warmup_sec\": %.1f, \"kernel_warmup_capped\": %s, "
			"\"kernel_full_scans_before_windows\": %lld, \"kernel_full_scans_during_windows\": %lld},\n",
			x->name, x->o.hashed_per_cpu_sec, x->o.wall_1t, x->o.wall_2t,
			x->o.pread_per_cpu_sec, x->o.pread_wall_2t, x->kernel_cpu,
			x->kernel_wall, x->kernel_cpu > 0 ? x->o.hashed_per_cpu_sec / x->kernel_cpu : 0,
			x->kernel_windows, x->kernel_disturbed, (unsigned long long)x->o.pages_scanned, (unsigned long long)x->o.saveable,
			x->skip_merged, x->merged_decided_per_cpu_sec, x->merged_process_decided_per_cpu_sec,
			x->kernel_merge_cpu,
			x->kernel_merge_sec, (long long)x->kernel_merge_sharing,
			(long long)x->kernel_merge_scans, x->o.process_per_cpu_sec,
			x->o.process_decided_per_cpu_sec, x->kernel_decided, x->kernel_bytes_per_page,
			x->kernel_first_scan_cpu, x->kernel_first_scan_sec, x->kernel_warmup_sec,
			x->kernel_warmup_capped ? "true" : "false",
			(long long)x->kernel_scans_before_windows, (long long)x->kernel_scans_during_windows);
	}
	fprintf(out, "  \"skipped_absent_per_sec\": %.0f,\n", bn->absent.skipped_per_sec);
	fprintf(out, "  \"xxh3_alone_pages_per_cpu_sec\": %.0f,\n", bn->xxh3);
	fprintf(out, "  \"bytes_per_tracked_page\": {\"counted_steady\": %.2f, \"counted_peak\": %.2f, "
		"\"rss_steady\": %.2f, \"rss_peak\": %.2f, \"kernel\": %.1f}\n}\n",
		bn->kr[0].o.bytes_per_page, bn->kr[0].o.peak_bytes_per_page,
		bn->kr[0].o.rss_bytes_per_page, bn->kr[0].o.hwm_bytes_per_page, bn->kr[0].kernel_bytes_per_page);
	if (json)
		fclose(out);
	return 0;
}

/* v in millions ("%.2f M") into buf, or "" when v is 0 (not measured). */
static const char *mega(double v, char *buf, size_t len)
{
	if (v > 0)
		snprintf(buf, len, "%.2f M", v / 1e6);
	else
		snprintf(buf, len, "%s", "");
	return buf;
}

/* The results as a markdown table at path (NULL: stdout). Returns 0 or -1. */
int write_md(const struct bench *bn, const char *md)
{
	FILE *out = md ? fopen(md, "w") : stdout;
	if (!out)
		return -1;
	char dbuf[32];
	fprintf(out, "# Scanner benchmark\n\n%u MiB per kind of memory, medians of %d runs "
		"(kernel: %d windows of %.1f s at pages_to_scan=100000 sleep_millisecs=0, taken once "
		"it has ended its first two full scans of the memory, the first of which only takes "
		"checksums: its steady state, as ours is a pass over memory that does not change). "
		"1-minute load average at the end: %.2f on %ld CPUs (a shared machine: the kernel "
		"thread also scans other processes' mergeable memory, and both sides lose CPU to "
		"other work).\n\n", bn->mib, bn->runs, bn->runs, bn->window, bn->load1, sysconf(_SC_NPROCESSORS_ONLN));
	fprintf(out, "| memory | ours pages/CPU-s, whole process (1 thr) | ours pages/CPU-s, scanner threads "
		"| ours pages/s wall 1 thr | ours pages/s wall 2 thr "
		"| pread only: pages/CPU-s (1 thr) | pread only: pages/s wall 2 thr "
		"| kernel ksmd pages/CPU-s | ratio per CPU-s (whole process) | kernel windows valid / disturbed "
		"| kernel pages decided/CPU-s (scanned + smart_scan skipped) |\n"
		"|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n");
	for (int k = 0; k < NKINDS; k++) {
		/* duplicate: beside the kernel while it merges the same memory */
		const struct kind_result *x = &bn->kr[k];
		double kern = k == 1 ? x->kernel_merge_cpu : x->kernel_cpu;
		fprintf(out, "| %s | %.2f M | %.2f M | %.2f M | %.2f M | %.2f M | %.2f M | %.2f M | %.1fx | %d / %d | %s |\n",
			k == 2 ? "unique, transparent huge pages" :
			k == 1 ? "duplicate, not merged yet (kernel: from the start until it has merged it)" :
			x->name,
			x->o.process_per_cpu_sec / 1e6, x->o.hashed_per_cpu_sec / 1e6,
			x->o.wall_1t / 1e6, x->o.wall_2t / 1e6,
			x->o.pread_per_cpu_sec / 1e6, x->o.pread_wall_2t / 1e6,
			kern / 1e6, kern > 0 ? x->o.process_per_cpu_sec / kern : 0,
			k == 1 ? (kern > 0) : x->kernel_windows, k == 1 ? 0 : x->kernel_disturbed,
			k == 1 ? "" : mega(x->kernel_decided, dbuf, sizeof dbuf));
	}
	const struct kind_result *d = &bn->kr[1];
	if (d->merged_decided_per_cpu_sec > 0)
		fprintf(out, "| duplicate, once KSM merged it (pages decided: ours read + skipped through "
			"pagemap, the kernel's scanned + skipped by smart_scan) | %.2f M | %.2f M | | | | | %.2f M | "
			"%.1fx | %d / %d | %.2f M |\n",
			d->merged_process_decided_per_cpu_sec / 1e6, d->merged_decided_per_cpu_sec / 1e6,
			d->kernel_decided / 1e6,
			d->kernel_decided > 0 ? d->merged_process_decided_per_cpu_sec / d->kernel_decided : 0,
			d->kernel_windows, d->kernel_disturbed, d->kernel_decided / 1e6);
	if (d->kernel_merge_cpu > 0)
		fprintf(out, "\nThe kernel merged the duplicate memory (pages_sharing +%lld) in %.1f s, "
			"%lld full scans done by then; its rate is taken over that span; the last row is after it.\n",
			(long long)bn->kr[1].kernel_merge_sharing, bn->kr[1].kernel_merge_sec,
			(long long)bn->kr[1].kernel_merge_scans);
	fprintf(out, "\nWhat the kernel's windows cover (full_scans counts passes over all mergeable "
		"memory, ours and any other process's):\n\n"
		"| memory | first scan, checksum only: pages/CPU-s | first scan ended at s | "
		"windows began at s | full scans before the windows | full scans during the windows |\n"
		"|---|---:|---:|---:|---:|---:|\n");
	for (int k = 0; k < NKINDS; k++) {
		/* duplicate: windows after the merge above, no first scan of its own */
		const struct kind_result *x = &bn->kr[k];
		char fbuf[32] = "";
		if (x->kernel_first_scan_sec > 0)
			snprintf(fbuf, sizeof fbuf, "%.1f", x->kernel_first_scan_sec);
		fprintf(out, "| %s | %s | %s | %.1f%s | %lld | %lld |\n",
			k == 2 ? "unique, transparent huge pages" :
			k == 1 ? "duplicate, once merged (after the merge above)" : x->name,
			mega(x->kernel_first_scan_cpu, dbuf, sizeof dbuf), fbuf,
			x->kernel_warmup_sec, x->kernel_warmup_capped ? " (time limit: fewer scans)" : "",
			(long long)x->kernel_scans_before_windows, (long long)x->kernel_scans_during_windows);
	}
	fprintf(out, "\n| pages skipped through pagemap | pages/s (pagemap stage) |\n|---|---:|\n"
		"| absent (never touched) | %.1f M |\n| already merged by KSM | %.1f M |\n",
		bn->absent.skipped_per_sec / 1e6, bn->kr[1].skip_merged / 1e6);
	fprintf(out, "\n| daemon bytes per tracked page | steady | peak (during a pass) |\n|---|---:|---:|\n"
		"| counted allocations | %.2f | %.2f |\n| process RSS growth | %.2f | %.2f |\n"
		"| the kernel's KSM, on the same memory (rmap_item per tracked page) | %.1f | |\n",
		bn->kr[0].o.bytes_per_page, bn->kr[0].o.peak_bytes_per_page,
		bn->kr[0].o.rss_bytes_per_page, bn->kr[0].o.hwm_bytes_per_page, bn->kr[0].kernel_bytes_per_page);
	fprintf(out, "\nXXH3-64 alone (the scanner's dispatch) over resident pages: %.2f M pages per CPU-second.\n",
		bn->xxh3 / 1e6);
	if (md)
		fclose(out);
	return 0;
}
