/* wss.h — a host-side working-set estimate of a guest: which of its RAM
 * pages did it touch in the last interval? (the essay is in collect/wss.c)
 *
 * Use from the daemon, per guest with a known process and RAM range:
 *   start:    when conf.host_wss is on (nothing otherwise):
 *             wss_qemu_ram_range(pid, guest memory size, &ram_start, &ram_end)
 *             (a plain process: its range, or 0, 0 for all of it), then
 *             wss_tracker_init(&t, pid, &found, ram_start, ram_end, conf.host_wss_interval_usec);
 *   each tick, collect: wss_tracker_collect(&t, now, scanner's last read),
 *             then wss_tracker_fill(&t, now, &snap.guests[i]);
 *   each tick, act: wss_tracker_reset(&t, now) (act/wss_reset.h): the
 *             clear the collect stage found due, if any.
 *   reload:   wss_tracker_set_interval(&t, conf.host_wss_interval_usec);
 *             host_wss turned off: stop calling collect and reset, fill leaves the guest
 *             without the signal (host_active_valid = false).
 *   guest restarted (new PID or RAM range): wss_tracker_init() again. */
#ifndef KSMD_POLICY_WSS_H
#define KSMD_POLICY_WSS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "collect/sample.h"
#include "common/util.h"

struct policy_guest;

/* Sum `Referenced:` (and `Rss:`) over the mappings of /proc/PID/smaps text
 * that overlap [start, end) (end 0 = no upper bound). A mapping that only
 * partly overlaps counts whole: smaps has no finer grain. Either output may
 * be NULL. Returns the number of mappings counted (0 if none overlap), or
 * -EINVAL if the text has a mapping header in the range without a
 * Referenced line. Pure. */
int wss_parse_smaps(const char *text, uint64_t start, uint64_t end,
		    uint64_t *referenced_bytes, uint64_t *rss_bytes);

/* Find a QEMU guest's RAM in /proc/PID/smaps text: the first mapping with
 * `mg` (MADV_MERGEABLE, which QEMU sets on guest RAM) in its VmFlags and
 * exactly ram_bytes long (the guest's memory size, as the scanner looks for
 * it); ram_bytes 0 = the largest such mapping. Returns 0 with [*start,
 * *end), or -ENOENT. Pure. */
int wss_find_qemu_ram(const char *text, uint64_t ram_bytes, uint64_t *start, uint64_t *end);

/* The same on /proc/PID/smaps. Returns 0, -ENOENT (no such mapping) or
 * -errno of reading (-ESRCH/-ENOENT: the process is gone). */
int wss_qemu_ram_range(pid_t pid, uint64_t ram_bytes, uint64_t *start, uint64_t *end);

/* Read /proc/PID/smaps and give the referenced bytes of the mappings in
 * [start, end): the pages touched since the last wss_clear() (act/wss_reset.h); and, when
 * rss_bytes is not NULL, their resident bytes (Rss). found as above
 * (-ESRCH: what was read was not the guest's). Returns 0, -ENOENT if no
 * mapping overlaps the range, or -errno. */
int wss_sample(pid_t pid, const struct proc_files *found, uint64_t start, uint64_t end,
	       uint64_t *referenced_bytes, uint64_t *rss_bytes);

/* After ksmd's own reads of a guest, how long they must have stopped
 * before its interval starts again (a pass reads a guest in batches some
 * milliseconds apart). */
#define WSS_READ_QUIET_USEC (500 * 1000)

/* One guest's clear/read cycle: collect reads (wss_tracker_collect), act
 * clears (wss_tracker_reset, act/wss_reset.h). */
struct wss_tracker {
	pid_t pid;
	const struct proc_files *found;     /* the guest's process (not owned); NULL: none */
	uint64_t start, end;                /* guest RAM mapping, [start, end) */
	usec_t interval_usec;               /* clear -> read */
	usec_t period_usec;                 /* clear -> next clear, at least interval_usec
	                                     * (the CPU bound; 0: the interval) */
	usec_t last_start_usec;             /* the clear of the last cycle sampled (0: none):
	                                     * the next starts a period after it */
	usec_t cleared_usec;                /* when the bits were last cleared, 0 = not yet */
	bool reset_due;                     /* the collect stage asks act to clear them now */
	bool valid;                         /* host_active_bytes holds a sample */
	uint64_t host_active_bytes;         /* referenced bytes over the last full interval */
	uint64_t ram_resident_bytes;        /* Rss of the guest RAM mapping at that read */
	usec_t sampled_usec;                /* when that sample was read */
	usec_t sample_interval_usec;        /* the interval it covered (clear to read) */
	int last_error;                     /* 0 or -errno of the last clear/read */
	uint64_t samples;                   /* samples taken */
	uint64_t discarded;                 /* intervals dropped: ksmd read the pages */
	usec_t clear_cpu_usec;              /* CPU time of the last clear (this thread's) */
	usec_t read_cpu_usec;               /* CPU time of the last read */
};

/* CPU time of one cycle of t: its last clear plus its last read (both walk
 * every page table of the guest's RAM: in proportion to its size). */
usec_t wss_tracker_cycle_cpu(const struct wss_tracker *t);

/* The period every guest's cycle starts at (clear to next clear):
 * interval_usec, or longer when cycles costing cycle_cpu_sum_usec of CPU
 * in all (one cycle of each guest) would take more than cpu_percent of a
 * core at that period: then cycle_cpu_sum_usec * 100 / cpu_percent, at
 * most WSS_INTERVAL_MAX_USEC. cpu_percent 0 = no bound. Pure. */
usec_t wss_bounded_period(usec_t interval_usec, usec_t cycle_cpu_sum_usec, double cpu_percent);
#define WSS_INTERVAL_MAX_USEC (600 * USEC_PER_SEC)

/* This thread's CPU time now, in microseconds. */
usec_t wss_thread_cpu_usec(void);

/* Set up t for one guest (no I/O): its process pid as found (found, kept
 * by the caller for as long as t is used; NULL: pid as it is). interval_usec
 * 0 = 10 s. */
void wss_tracker_init(struct wss_tracker *t, pid_t pid, const struct proc_files *found, uint64_t start,
		      uint64_t end, usec_t interval_usec);

/* Change the interval; takes effect at the next read. */
void wss_tracker_set_interval(struct wss_tracker *t, usec_t interval_usec);

/* Change the period (clear to next clear; 0 or below the interval: the
 * interval); a pause under way follows it at once. */
void wss_tracker_set_period(struct wss_tracker *t, usec_t period_usec);

/* The reading half of the cycle at time now; it never writes. Once
 * interval_usec has passed since the last clear, read the referenced bytes
 * (a new sample); then, or when the bits were never cleared, ask for a
 * clear (t->reset_due: wss_tracker_reset() does it in the act stage, and
 * the interval starts then). At most one read per call. others_read_usec:
 * when ksmd itself last read the guest's pages (scanner_guest_last_read();
 * 0 = never): reading marks pages accessed, so once it falls after the
 * clear the interval measures that reader, not the guest; the interval is
 * dropped (counted in t->discarded), no clear is asked for until ksmd has
 * not read the guest for WSS_READ_QUIET_USEC, and the last good sample
 * stays, ageing. Returns 1 when a new sample was taken, 0 when nothing
 * was due or only a clear is, or -errno of the read (the cycle restarts
 * with a clear asked at the next call; the last good sample stays,
 * ageing). */
int wss_tracker_collect(struct wss_tracker *t, usec_t now, usec_t others_read_usec);

/* Put the signal into the policy's view of the guest: host_active_valid,
 * host_active_bytes, host_active_age_usec (now - sampled_usec),
 * host_active_period_usec (the period its cycle starts at now),
 * ram_resident_bytes (of the same read). No
 * sample yet: host_active_valid = false. Pure. */
void wss_tracker_fill(const struct wss_tracker *t, usec_t now, struct policy_guest *g);

/* Memory a guest gave back by free page reporting, seen from the host: the
 * fall of its RAM's resident size (ram_resident_bytes) between two samples
 * that neither the balloon (actual lowered) nor the host's swap (VmSwap
 * grown) explains. The balloon's and swap's share is counted whole even
 * where the pages they took were never backed, so this is a lower bound.
 * Rises in the resident size (the guest touching memory) change nothing. */
struct fpr_meter {
	bool primed;                        /* holds a first sample */
	uint64_t resident, actual, swap;    /* at the last sample */
	uint64_t returned_bytes;            /* given back since the meter started */
};

/* Start again (a new process, or the meter off): the next sample is the first. */
void fpr_meter_reset(struct fpr_meter *m);

/* One sample: the RAM's resident bytes, the balloon's actual size and the
 * process's swapped-out bytes. Returns what it adds to returned_bytes. Pure. */
uint64_t fpr_meter_sample(struct fpr_meter *m, uint64_t resident, uint64_t actual, uint64_t swap);

#endif
