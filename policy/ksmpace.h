/* ksmpace.h — decide: how hard KSM should run. ksm_pace() is a pure
 * function from (predicted pages, merged pages, kthread CPU, current knobs,
 * carried state) to the next knobs and a reason; the KSM executor
 * (act/ksm.h) calls it once per tick and applies the result. The essay is
 * in ksmpace.c. Counts are pages of 4 KiB, CPU in percent of one core. */
#ifndef KSMD_POLICY_KSMPACE_H
#define KSMD_POLICY_KSMPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

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
 *  5. Converged: gap <= converged_ratio x predicted for converged_hold_usec,
 *     merged not beyond predicted by more than that (the prediction would
 *     lag: only rule 6 ends converging) -> TRICKLE (or run=0 when
 *     trickle_pages_to_scan is 0).
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

#endif
