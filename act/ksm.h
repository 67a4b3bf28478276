/* ksm.h — act: the KSM executor. ksmd's scanner finds duplicates, the
 * kernel's KSM merges them, and this module drives KSM's knobs as the pure
 * pacing decision (policy/ksmpace.h) says.
 *
 * Its parts:
 *
 *  - sysfs: read, save, apply and restore the files of /sys/kernel/mm/ksm (the root
 *    directory is a parameter, so tests point it at a temp directory; NULL
 *    means KSM_SYSFS_ROOT).
 *  - per process: parse /proc/PID/ksm_stat and say how to make a process
 *    that is not mergeable take part (QEMU mem-merge=on, systemd
 *    MemoryKSM=yes, `ksmdctl run -- CMD`).
 *  - the kernel's "ksmd" kthread: find it, read its CPU time.
 *  - the driver: once per tick, reads KSM's counters and the kthread's
 *    CPU, asks ksm_pace() (policy/ksmpace.h: decide, pure) for the next
 *    knobs and applies them with ksm_apply_knobs().
 *
 * Counts are pages of 4 KiB, times usec_t microseconds, CPU in percent of
 * one core. Functions return 0 (or a count) or a negative errno and log
 * nothing, except where stated. */
#ifndef KSMD_ACT_KSM_H
#define KSMD_ACT_KSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "collect/sample.h"
#include "common/util.h"
#include "policy/ksmpace.h"

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
	int64_t pages_skipped;     /* pages smart_scan skipped since KSM started
	                            * (kernel 6.7 on, with smart_scan) */
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

/* A process's ksm_stat (struct ksm_proc_stat) is read with the tick's
 * sample: collect/sample.h. */

/* The fix for a process that is not mergeable, as one sentence, from its
 * comm (/proc/PID/comm) and the text of /proc/PID/cgroup (may be NULL).
 * Pure. A QEMU process gets "-machine mem-merge=on", one in a systemd
 * service "MemoryKSM=yes in UNIT", anything else "ksmdctl run -- CMD".
 * Writes into buf and returns it. */
const char *ksm_mergeable_fix(const char *comm, const char *cgroup_text,
			      char *buf, size_t len);

/* For pid, whose ksm_stat the tick read into *ps: *mergeable = it says
 * mergeable (or merge_any); when it is not, buf holds the fix
 * (ksm_mergeable_fix, from pid's comm and cgroup). Returns 0. */
int ksm_proc_check_mergeable(pid_t pid, const struct ksm_proc_stat *ps, bool *mergeable, char *buf,
			     size_t len);

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
