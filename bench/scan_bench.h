/* scan_bench.h — what bench/scan_bench.c (the measurements) hands to
 * bench/scan_bench_report.c (the JSON and the markdown table). */
#ifndef KSMD_BENCH_SCAN_BENCH_H
#define KSMD_BENCH_SCAN_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#define NKINDS 3   /* unique, duplicate, unique on THP */

struct ours {
	double hashed_per_cpu_sec;    /* 1 thread */
	double process_per_cpu_sec;   /* 1 thread, the whole process's CPU */
	double process_decided_per_cpu_sec; /* (read + skipped) over the whole process's CPU */
	double wall_1t, wall_2t;      /* pages per second */
	double pread_per_cpu_sec;     /* pread only, 1 thread */
	double pread_wall_2t;         /* pread only, 2 threads */
	double skipped_per_sec;
	double decided_per_cpu_sec;   /* (read + skipped) pages per CPU-second */
	double bytes_per_page, peak_bytes_per_page;
	double rss_bytes_per_page, hwm_bytes_per_page;
	uint64_t pages_scanned, pages_skipped, saveable;
};

struct kind_result {
	const char *name;
	struct ours o;
	double kernel_cpu, kernel_wall, kernel_decided;
	double kernel_bytes_per_page;
	int kernel_windows, kernel_disturbed;
	double skip_merged;
	double merged_decided_per_cpu_sec, merged_process_decided_per_cpu_sec;
	double kernel_merge_cpu, kernel_merge_sec;   /* while merging (duplicate) */
	int64_t kernel_merge_sharing, kernel_merge_scans;
	/* the kernel's windows (run_kernel) begin once it has ended its first
	 * two full scans of this memory (the first only takes checksums) */
	double kernel_first_scan_cpu;     /* first scan: pages_scanned per CPU-s (fresh memory; 0 not measured) */
	double kernel_first_scan_sec;     /* from start until the first scan gave every page its rmap_item */
	double kernel_warmup_sec;         /* from start until the windows began */
	bool kernel_warmup_capped;        /* the two scans did not end within the time limit */
	int64_t kernel_scans_before_windows, kernel_scans_during_windows;  /* full_scans advanced */
};

/* The run's parameters and what it found. */
struct bench {
	unsigned mib;
	int runs;
	double window;
	bool have_ksm;
	double load1;                       /* 1-minute load average at the end */
	struct kind_result kr[NKINDS];
	struct ours absent;                 /* a mapping never touched */
	double xxh3;                        /* XXH3 alone, pages per CPU-second */
};

/* The results in JSON at path (NULL: stdout). Returns 0 or -1. */
int write_json(const struct bench *bn, const char *json);
/* The results as a markdown table at path (NULL: stdout). Returns 0 or -1. */
int write_md(const struct bench *bn, const char *md);

#endif
