/* ksm.h — the KSM executor: ksmd's scanner finds duplicates, the kernel's
 * KSM merges them, and this module paces KSM from what the scanner found.
 *
 * Four parts, I/O apart from logic:
 *
 *  - sysfs: read, save, apply and restore the files of /sys/kernel/mm/ksm (the root
 *    directory is a parameter, so tests point it at a temp directory; NULL
 *    means KSM_SYSFS_ROOT).
 *  - per process: parse /proc/PID/ksm_stat and say how to make a process
 *    that is not mergeable take part (QEMU mem-merge=on, systemd
 *    MemoryKSM=yes, `ksmdctl run -- CMD`).
 *  - the kernel's "ksmd" kthread: find it, read its CPU time.
 *  - pacing: ksm_pace(), a pure function from (predicted pages, merged
 *    pages, kthread CPU, current knobs, carried state) to the next knobs and
 *    a reason. The daemon calls it once per tick and applies the result with
 *    ksm_apply_knobs().
 *
 * Counts are pages of 4 KiB, times usec_t microseconds, CPU in percent of
 * one core. Functions return 0 (or a count) or a negative errno and log
 * nothing, except where stated. */
#ifndef KSMD_KSM_H
#define KSMD_KSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/util.h"

#define KSM_SYSFS_ROOT "/sys/kernel/mm/ksm"

/* ------------------------------------------------------------- sysfs */

/* advisor_mode values (the file shows "[none] scan-time"). */
enum ksm_advisor {
	KSM_ADVISOR_NONE = 0,
	KSM_ADVISOR_SCAN_TIME = 1,
};

/* The writable settings ksmd saves, drives and restores. A field that is
 * -1 is absent (file missing on this kernel) or, when applying, "leave as
 * it is". */
struct ksm_settings {
	int64_t run;               /* 0 stop (merges persist), 1 run, 2 unmerge all */
	int64_t pages_to_scan;     /* pages per batch */
	int64_t sleep_millisecs;   /* msec between batches */
	int64_t use_zero_pages;    /* 0/1: merge zero pages with the zero page */
	int64_t max_page_sharing;  /* max sharers per KSM page (EBUSY while pages are shared) */
	int64_t smart_scan;        /* 0/1: skip pages that failed to merge */
	int64_t advisor_mode;      /* enum ksm_advisor */
};

/* Read-only counters. -1 = absent. Refreshed by the kernel only while
 * run=1: with run=0 they are stale (the merges themselves persist). */
struct ksm_counters {
	int64_t pages_shared;      /* KSM pages in use */
	int64_t pages_sharing;     /* extra mappings of them = pages saved */
	int64_t pages_unshared;    /* unique pages checked repeatedly */
	int64_t pages_volatile;    /* pages changing too fast to merge */
	int64_t full_scans;        /* complete passes over mergeable memory */
	int64_t ksm_zero_pages;    /* pages merged with the zero page (use_zero_pages) */
	int64_t general_profit;    /* bytes saved minus rmap_item overhead (may be < 0) */
	int64_t pages_scanned;     /* pages scanned since KSM started */
};

struct ksm_sysfs {
	struct ksm_settings set;
	struct ksm_counters cnt;
};

/* Set every field of *s to -1 ("absent / leave"). */
void ksm_settings_clear(struct ksm_settings *s);

/* Read every setting and counter under root (NULL = KSM_SYSFS_ROOT).
 * Missing files read as -1. Returns -ENOENT when root itself is missing,
 * another negative errno on an unreadable/garbled file, else 0. */
int ksm_read(const char *root, struct ksm_sysfs *out);

/* Read only the settings (what ksm_save keeps). */
int ksm_read_settings(const char *root, struct ksm_settings *out);

/* Save the settings found now, to be restored with ksm_restore(). */
int ksm_save(const char *root, struct ksm_settings *saved);

/* Write every field of *s that is not -1 and differs from the value in the
 * file now. Order: advisor_mode (the kernel resets pages_to_scan when it
 * changes), then the rest, then run last. A write that fails does not stop
 * the others; returns the first error (e.g. -EBUSY for max_page_sharing
 * while pages are shared), else 0. */
int ksm_apply(const char *root, const struct ksm_settings *s);

/* Restore saved settings: ksm_apply() of what ksm_save() returned. The
 * daemon calls it at exit (a crash cannot restore; keep it simple). Logs a
 * warning for each setting it could not restore. */
int ksm_restore(const char *root, const struct ksm_settings *saved);

/* ------------------------------------------------------ per process */

/* /proc/PID/ksm_stat. -1 = line absent (older kernel). */
struct ksm_proc_stat {
	int64_t rmap_items;        /* ksm_rmap_items: pages KSM tracks */
	int64_t zero_pages;        /* ksm_zero_pages */
	int64_t merging_pages;     /* ksm_merging_pages: pages mapped to KSM pages */
	int64_t process_profit;    /* ksm_process_profit, bytes (may be < 0) */
	int merge_any;             /* ksm_merge_any: 1 yes (PR_SET_MEMORY_MERGE), 0 no, -1 absent */
	int mergeable;             /* ksm_mergeable: 1 yes (some VMA mergeable), 0 no, -1 absent */
};

/* Parse the text of a ksm_stat file (pure). Unknown lines are ignored.
 * Returns -EINVAL when no known line is found. */
int ksm_proc_stat_parse(const char *text, struct ksm_proc_stat *out);

/* Read and parse a ksm_stat file at path (tests pass a made-up file). */
int ksm_proc_stat_file(const char *path, struct ksm_proc_stat *out);

/* Read /proc/PID/ksm_stat. -ENOENT: no such process or no ksm_stat. */
int ksm_proc_stat(pid_t pid, struct ksm_proc_stat *out);

/* The fix for a process that is not mergeable, as one sentence, from its
 * comm (/proc/PID/comm) and the text of /proc/PID/cgroup (may be NULL).
 * Pure. A QEMU process gets "-machine mem-merge=on", one in a systemd
 * service "MemoryKSM=yes in UNIT", anything else "ksmdctl run -- CMD".
 * Writes into buf and returns it. */
const char *ksm_mergeable_fix(const char *comm, const char *cgroup_text,
			      char *buf, size_t len);

/* For pid: *mergeable = ksm_stat says mergeable (or merge_any); when it is
 * not, buf holds the fix (ksm_mergeable_fix). Returns negative errno when
 * the process cannot be read. */
int ksm_proc_check_mergeable(pid_t pid, bool *mergeable, char *buf, size_t len);

/* ---------------------------------------------- the kernel's ksmd thread */

/* Parse the text of /proc/PID/stat (pure): ppid and utime+stime in usec,
 * given clock ticks per second. Copes with spaces/parens in comm. */
int ksm_parse_pid_stat(const char *text, long ticks_per_sec, pid_t *ppid, usec_t *cpu_usec);

/* Find the kthread named "ksmd" (comm "ksmd", ppid 2) under proc_root
 * (NULL = "/proc"). -ENOENT when there is none (kernel without KSM). */
int ksm_kthread_find(const char *proc_root, pid_t *out);

/* utime+stime of a process in usec, from /proc/PID/stat. */
int ksm_pid_cpu_usec(pid_t pid, usec_t *out);

/* CPU time the kernel's ksmd thread has used so far (finds it once and
 * remembers its PID). Difference two samples for a percentage. */
int ksm_kthread_cpu_usec(usec_t *out);

/* ------------------------------------------------------------ pacing */

enum ksm_pace_phase {
	KSM_PHASE_OFF = 0,     /* run=0: nothing worth merging (merges persist) */
	KSM_PHASE_CONVERGE,    /* gap large: scan as fast as the CPU budget allows */
	KSM_PHASE_TRICKLE,     /* converged (or stalled): slow, so new duplicates still merge */
};

/* Urgency from the policy (same order as policy's merge urgency). */
enum ksm_pace_urgency {
	KSM_URGENCY_IDLE = 0,   /* the policy sees nothing to merge (pacing decides from the gap) */
	KSM_URGENCY_NORMAL,     /* merge within the CPU budget */
	KSM_URGENCY_URGENT,     /* host under pressure: full speed, budget ignored */
};

/* Tunables of ksm_pace(); ksm_pace_config_default() fills them. */
struct ksm_pace_config {
	uint64_t min_savings_pages;      /* KSM runs only when the prediction reaches this ([ksm] min_savings) */
	double cpu_budget_percent;       /* kernel ksmd thread while converging, % of one core (>= 95: full speed) */
	uint32_t max_pages_to_scan;      /* ceiling of pages_to_scan (full speed) */
	uint32_t min_pages_to_scan;      /* floor of pages_to_scan while converging */
	uint32_t converge_sleep_msecs;   /* sleep_millisecs while converging under a budget < 95% */
	uint32_t trickle_pages_to_scan;  /* after convergence; 0 = stop (run=0) instead */
	uint32_t trickle_sleep_msecs;    /* sleep_millisecs while trickling */
	double converged_ratio;          /* gap <= this x prediction counts as converged (0.05) */
	usec_t converged_hold_usec;      /* ...held this long before trickling */
	usec_t settle_usec;              /* after a change, wait this long before the next (damping) */
	uint32_t stall_full_scans;       /* full passes without progress while converging -> trickle */
	double assumed_pages_per_cpu_sec;/* first guess of KSM's scan rate per CPU-second */
};

void ksm_pace_config_default(struct ksm_pace_config *c);

/* The three knobs pacing drives. */
struct ksm_knobs {
	uint32_t run;               /* 0 or 1 */
	uint32_t pages_to_scan;
	uint32_t sleep_millisecs;
};

/* What ksm_pace() remembers between calls: zero it at start, then pass
 * out.state of one call as in.state of the next. */
struct ksm_pace_state {
	enum ksm_pace_phase phase;
	usec_t since_change_usec;     /* time since knobs last changed */
	usec_t converged_for_usec;    /* how long the gap has been small */
	uint64_t best_merged_pages;   /* highest merged count seen while converging */
	int64_t full_scans_at_best;   /* full_scans when best_merged_pages last grew */
	uint64_t trickle_gap_pages;   /* gap when trickling began (restart above it) */
	bool started;                 /* false until the first call */
};

/* predicted_pages value meaning "the scanner has not finished its first
 * pass yet": there is no gap to pace from. */
#define KSM_PREDICTION_PENDING UINT64_MAX

struct ksm_pace_input {
	uint64_t predicted_pages;     /* scanner: mergeable non-zero duplicate pages (pages saved when
	                               * all merged), or KSM_PREDICTION_PENDING */
	uint64_t merged_pages;        /* KSM: pages_sharing (or the guests' share of it) */
	bool merged_stale;            /* KSM was off: merged_pages may be stale (the
	                               * kernel refreshes it only while run=1) */
	int64_t full_scans;           /* KSM full_scans counter, -1 unknown */
	double kthread_cpu_percent;   /* kernel ksmd thread over the last interval, < 0 unknown */
	usec_t interval_usec;         /* since the previous call */
	enum ksm_pace_urgency urgency;
	struct ksm_knobs cur;         /* knobs in force now */
	struct ksm_pace_state state;  /* out.state of the previous call */
};

#define KSM_REASON_LEN 192

struct ksm_pace_output {
	struct ksm_knobs next;        /* knobs to apply (== cur when !changed) */
	bool changed;
	struct ksm_pace_state state;  /* feed back as the next in.state */
	char reason[KSM_REASON_LEN];  /* why, in words and numbers */
};

/* The pacing decision. Pure: no I/O, no clock. gap = predicted - merged.
 * Rules, first match wins (see the essay in ksmpace.c):
 *  0. Prediction pending (the scanner's first pass is running): converge
 *     within the budget (KSM's own first pass only records checksums, so
 *     it overlaps usefully with the scanner's); only the damping and
 *     stall rules apply.
 *  1. Damping: within settle_usec of the last change, hold, unless the
 *     kthread uses more than twice the budget.
 *  2. predicted < min_savings_pages: OFF, run=0 (merges persist).
 *  3. From OFF (where merged_stale counts merged as 0: start, let fresh
 *     counters show what is left) or from TRICKLE when the gap grew past the gap at which trickling
 *     began by max(converged_ratio x predicted, min_savings): hysteresis):
 *     CONVERGE if the gap is above converged_ratio x predicted, else TRICKLE.
 *  4. In TRICKLE: stay (trickle knobs).
 *  5. Converged: gap <= converged_ratio x predicted for converged_hold_usec
 *     -> TRICKLE (or run=0 when trickle_pages_to_scan is 0).
 *  6. Stalled: stall_full_scans full passes without progress -> TRICKLE.
 *  7. CONVERGE: URGENT or budget >= 95% -> full speed; otherwise fit
 *     pages_to_scan to the budget from the measured kthread CPU
 *     (down in proportion when > 1.15 x budget, up at most x4 when
 *     < 0.75 x budget, hold in between or when the CPU is unknown).
 * out->reason always says which rule fired. */
void ksm_pace(const struct ksm_pace_config *cfg, const struct ksm_pace_input *in,
	      struct ksm_pace_output *out);

const char *ksm_pace_phase_name(enum ksm_pace_phase p);

/* Apply knobs: ksm_apply() of run, pages_to_scan, sleep_millisecs. */
int ksm_apply_knobs(const char *root, const struct ksm_knobs *k);

/* ------------------------------------------------------------ driver */

/* The executor loop's state: what the daemon keeps to drive KSM each tick.
 * ksm_driver_init() saves the settings found (and turns the kernel's own
 * advisor off, since two pacers would fight); ksm_driver_tick() reads the
 * counters and the kthread CPU, calls ksm_pace() and applies the result;
 * ksm_driver_restore() puts the saved settings back at exit. */
struct ksm_driver {
	const char *root;               /* sysfs root, NULL = KSM_SYSFS_ROOT */
	struct ksm_pace_config cfg;     /* may be changed between ticks (reload) */
	bool dry_run;                   /* decide and log, never write */
	struct ksm_settings saved;      /* found at init, restored at exit */
	bool saved_valid;
	struct ksm_pace_state state;
	struct ksm_sysfs sysfs;         /* as read at the last tick */
	struct ksm_pace_output last;    /* the last decision (reason for stats) */
	usec_t last_tick_usec;          /* 0 before the first tick */
	usec_t last_cpu_usec;           /* kthread CPU at the last tick */
	bool have_cpu;
	double kthread_cpu_percent;     /* over the last interval, < 0 unknown */
	bool was_running;               /* run was 1 at the last tick (counters fresh) */
	struct ksm_knobs expect;        /* knobs in force after the last tick */
	bool have_expect;
	uint64_t foreign_changes;       /* ticks that found the knobs changed by someone
	                                 * else (ksmtuned, a second ksmd, an operator) */
};

/* Save the settings (ksm_save) and prepare to drive. cfg NULL = defaults.
 * Returns a negative errno when sysfs cannot be read (no KSM). */
int ksm_driver_init(struct ksm_driver *d, const char *root, const struct ksm_pace_config *cfg);

/* One tick: read KSM's counters and knobs and the kthread CPU since the last
 * tick, pace from predicted_pages (the scanner's predicted_sharing_pages,
 * or KSM_PREDICTION_PENDING before its first pass has ended)
 * against merged_pages, apply the knobs when they change (logged at info
 * with the reason). merged_pages < 0 means KSM's global pages_sharing; a
 * caller that knows its guests' own share (from their ksm_stat) passes it,
 * so that other KSM users on the host do not count as progress.
 * Returns 1 when the knobs changed, 0 when not, or a negative errno. */
int ksm_driver_tick(struct ksm_driver *d, uint64_t predicted_pages, int64_t merged_pages,
		    enum ksm_pace_urgency urgency, usec_t now_usec);

/* Restore the settings saved at init (logs what it could not restore). */
int ksm_driver_restore(struct ksm_driver *d);

#endif
