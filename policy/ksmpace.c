/* ksmpace.c — how hard to make the kernel's KSM work: a pure function.
 *
 * The kernel's KSM knows nothing of where duplicates are: it walks every
 * mergeable page, and needs about two passes to merge a page (the first
 * records a checksum, the next merges the page if it did not change). Its
 * speed is two knobs, pages_to_scan per batch and sleep_millisecs between
 * batches. At the defaults (100 pages / 20 ms) a 16 GiB guest takes a
 * quarter of an hour per pass; at full speed (100000 / 0) a few GiB merge
 * in seconds but the thread then burns a whole core for as long as it is
 * left on. Neither is right for long.
 *
 * ksmd's scanner predicts how many pages KSM will save ("predicted"); KSM's
 * counters say how many it has saved ("merged", pages_sharing). The gap is
 * what is left to do, and it decides the phase:
 *
 *   OFF       the prediction is below min_savings: nothing worth the CPU.
 *             run=0; merges already made persist, but KSM's counters go
 *             stale, so leaving OFF ignores them and starts converging:
 *             once fresh, they say within seconds whether to trickle.
 *   CONVERGE  a gap: scan as fast as the CPU budget of the kernel thread
 *             allows. With a budget of 95% or more (or when the policy says
 *             the host is under pressure) that is full speed; below it,
 *             pages_to_scan is fitted to the budget from the thread's
 *             measured CPU: first from an assumed scan rate, then scaled
 *             down in proportion when over budget and up (at most x4 a
 *             step) when well under it.
 *   TRICKLE   converged: the gap stayed within converged_ratio of the
 *             prediction for converged_hold_usec (and KSM has not merged
 *             more than that beyond it: then the prediction lags, its pass
 *             having read pages while KSM merged them, and only the stall
 *             rule ends converging), or KSM made
 *             stall_full_scans full passes without merging more (the rest
 *             is volatile or unmergeable, and scanning faster will not
 *             help). Slow scanning (100 pages / 200 ms by default) keeps
 *             KSM's counters fresh and merges new duplicates, at a tenth
 *             of the cost of the kernel defaults. Back to CONVERGE only
 *             when the gap grows past the gap at which trickling began by
 *             the converge threshold (hysteresis: a stalled gap must not
 *             restart full speed every tick).
 *
 * Before the scanner's first pass has ended there is no prediction. KSM
 * then converges within the budget at once rather than wait: its own first
 * pass only records checksums, which it must do anyway, so the two passes
 * overlap instead of following each other; when the prediction arrives the
 * gap decides as above (and if nothing is mergeable, the stall rule stops
 * it after a few passes).
 *
 * Damping: after any change the knobs are held for settle_usec, because the
 * thread's CPU and the counters lag the knobs; acting on the old numbers
 * would act twice. The one exception is a thread using more than twice its
 * budget.
 *
 * The function keeps no hidden state: what it remembers (phase, time since
 * the last change, how long the gap has been small, progress marks) is in
 * struct ksm_pace_state, returned in the output and passed back in. */
#include "policy/ksmpace.h"

#include <stdio.h>
#include <string.h>

#define FULL_SPEED_BUDGET_PERCENT 95.0
#define OVER_BUDGET_FACTOR 1.15
#define UNDER_BUDGET_FACTOR 0.75
#define MAX_STEP_UP 4.0

void ksm_pace_config_default(struct ksm_pace_config *c)
{
	*c = (struct ksm_pace_config){
		.min_savings_pages = 16 * MIB / PAGE_SIZE_4K,
		.cpu_budget_percent = 80.0,
		.max_pages_to_scan = 100000,
		.min_pages_to_scan = 100,
		.converge_sleep_msecs = 20,
		.trickle_pages_to_scan = 100,
		.trickle_sleep_msecs = 200,
		.converged_ratio = 0.05,
		.converged_hold_usec = 1 * USEC_PER_SEC,
		.settle_usec = 2 * USEC_PER_SEC,
		.stall_full_scans = 3,
		.assumed_pages_per_cpu_sec = 400000.0,
	};
}

const char *ksm_pace_phase_name(enum ksm_pace_phase p)
{
	switch (p) {
	case KSM_PHASE_OFF: return "off";
	case KSM_PHASE_CONVERGE: return "converge";
	case KSM_PHASE_TRICKLE: return "trickle";
	}
	return "?";
}

static uint32_t clamp_pages(const struct ksm_pace_config *cfg, double p)
{
	uint32_t lo = cfg->min_pages_to_scan ? cfg->min_pages_to_scan : 1;
	uint32_t hi = cfg->max_pages_to_scan >= lo ? cfg->max_pages_to_scan : lo;
	if (!(p >= lo)) /* also NaN */
		return lo;
	if (p >= hi)
		return hi;
	return (uint32_t)(p + 0.5);
}

/* pages_to_scan that should take the budget's share of one core with
 * sleep_millisecs = s between batches, at the assumed scan rate:
 * busy / (busy + sleep) = f  =>  busy = s * f / (1 - f). */
static uint32_t budget_pages(const struct ksm_pace_config *cfg)
{
	double f = cfg->cpu_budget_percent / 100.0;
	if (f <= 0.0)
		return clamp_pages(cfg, 0);
	double busy_sec = cfg->converge_sleep_msecs / 1000.0 * f / (1.0 - f);
	return clamp_pages(cfg, busy_sec * cfg->assumed_pages_per_cpu_sec);
}

static struct ksm_knobs trickle_knobs(const struct ksm_pace_config *cfg,
				      const struct ksm_knobs *cur)
{
	if (cfg->trickle_pages_to_scan == 0)
		return (struct ksm_knobs){ 0, cur->pages_to_scan, cur->sleep_millisecs };
	return (struct ksm_knobs){ 1, cfg->trickle_pages_to_scan, cfg->trickle_sleep_msecs };
}

static bool full_speed(const struct ksm_pace_config *cfg, const struct ksm_pace_input *in)
{
	return in->urgency == KSM_URGENCY_URGENT ||
	       cfg->cpu_budget_percent >= FULL_SPEED_BUDGET_PERCENT;
}

/* Start (or restart) converging: reset the progress marks. */
static void enter_converge(struct ksm_pace_state *st, const struct ksm_pace_input *in)
{
	st->phase = KSM_PHASE_CONVERGE;
	st->best_merged_pages = in->merged_pages;
	st->full_scans_at_best = in->full_scans;
	st->converged_for_usec = 0;
}

/* Knobs for the CONVERGE phase; writes the reason. */
static struct ksm_knobs converge_knobs(const struct ksm_pace_config *cfg,
				       const struct ksm_pace_input *in, bool entering,
				       uint64_t gap, char *why, size_t len)
{
	const struct ksm_knobs *cur = &in->cur;
	double budget = cfg->cpu_budget_percent, cpu = in->kthread_cpu_percent;

	if (full_speed(cfg, in)) {
		snprintf(why, len, "converge at full speed (%s): gap %llu pages",
			 in->urgency == KSM_URGENCY_URGENT ? "host under pressure" : "budget >= 95%",
			 (unsigned long long)gap);
		return (struct ksm_knobs){ 1, cfg->max_pages_to_scan, 0 };
	}
	bool our_mode = cur->run == 1 && cur->sleep_millisecs == cfg->converge_sleep_msecs;
	if (entering || !our_mode) {
		snprintf(why, len, "converge within %.0f%% CPU: gap %llu pages, first guess "
			 "from %.0f pages per CPU-second", budget, (unsigned long long)gap,
			 cfg->assumed_pages_per_cpu_sec);
		return (struct ksm_knobs){ 1, budget_pages(cfg), cfg->converge_sleep_msecs };
	}
	struct ksm_knobs k = *cur;
	if (cpu < 0) {
		snprintf(why, len, "converge: gap %llu pages, kthread CPU unknown, hold",
			 (unsigned long long)gap);
	} else if (cpu > budget * OVER_BUDGET_FACTOR) {
		k.pages_to_scan = clamp_pages(cfg, (double)cur->pages_to_scan * budget / cpu);
		snprintf(why, len, "converge: gap %llu pages, kthread CPU %.1f%% over budget %.0f%%, "
			 "pages_to_scan %u -> %u", (unsigned long long)gap, cpu, budget,
			 cur->pages_to_scan, k.pages_to_scan);
	} else if (cpu < budget * UNDER_BUDGET_FACTOR && cur->pages_to_scan < cfg->max_pages_to_scan) {
		double step = cpu > 0 ? budget / cpu : MAX_STEP_UP;
		if (step > MAX_STEP_UP)
			step = MAX_STEP_UP;
		k.pages_to_scan = clamp_pages(cfg, (double)cur->pages_to_scan * step);
		snprintf(why, len, "converge: gap %llu pages, kthread CPU %.1f%% under budget %.0f%%, "
			 "pages_to_scan %u -> %u", (unsigned long long)gap, cpu, budget,
			 cur->pages_to_scan, k.pages_to_scan);
	} else {
		snprintf(why, len, "converge: gap %llu pages, kthread CPU %.1f%% on budget %.0f%%",
			 (unsigned long long)gap, cpu, budget);
	}
	return k;
}

/* What a tick sees: the prediction, KSM's progress, and the gap between them. */
struct pace_view {
	bool first;           /* the first call */
	bool pending;         /* no prediction yet */
	uint64_t predicted;   /* 0 while pending */
	uint64_t merged;      /* 0 while OFF with stale counters */
	uint64_t gap;         /* predicted - merged, at least 0 */
	uint64_t conv_gap;    /* the gap that counts as converged */
	bool ahead;           /* merged beyond the prediction by more than conv_gap */
};

/* Advance the clock, starting the state on the first call; true on the first call. */
static bool pace_clock(const struct ksm_pace_config *cfg, const struct ksm_pace_input *in,
		       struct ksm_pace_state *st)
{
	if (st->started) {
		st->since_change_usec += in->interval_usec;
		return false;
	}
	/* First call: free to act at once; KSM found running counts as
	 * converging from here. */
	st->started = true;
	st->since_change_usec = cfg->settle_usec;
	st->phase = KSM_PHASE_OFF;
	if (in->cur.run == 1)
		enter_converge(st, in);
	return true;
}

/* Measure the gap; advance the converged timer and the progress marks. */
static struct pace_view pace_measure(const struct ksm_pace_config *cfg,
				     const struct ksm_pace_input *in, struct ksm_pace_state *st,
				     bool first)
{
	struct pace_view v = { .first = first };
	v.pending = in->predicted_pages == KSM_PREDICTION_PENDING;
	v.predicted = v.pending ? 0 : in->predicted_pages;
	v.merged = in->merged_pages;
	/* Off, KSM's counters may be stale (processes gone, or merged long
	 * ago): start as if nothing were merged; fresh counters will tell. */
	if (st->phase == KSM_PHASE_OFF && in->merged_stale)
		v.merged = 0;
	v.gap = v.predicted > v.merged ? v.predicted - v.merged : 0;
	v.conv_gap = (uint64_t)(cfg->converged_ratio * (double)v.predicted);
	/* KSM merged more than the scanner predicted: the prediction lags
	 * (its pass read pages while KSM was merging them, or new duplicates
	 * came), so reaching it says nothing; converge until KSM stalls. */
	v.ahead = !v.pending && v.merged > v.predicted + v.conv_gap;

	if (v.gap <= v.conv_gap && !v.pending && !v.ahead)
		st->converged_for_usec += in->interval_usec;
	else
		st->converged_for_usec = 0;
	if (st->phase == KSM_PHASE_CONVERGE) {
		uint64_t progress = v.predicted / 1000 > 16 ? v.predicted / 1000 : 16;
		if (v.merged >= st->best_merged_pages + progress) {
			st->best_merged_pages = v.merged;
			st->full_scans_at_best = in->full_scans;
		}
	}
	return v;
}

/* Rule 2, damping: true (reason written) while the last change settles, unless way over budget. */
static bool pace_settling(const struct ksm_pace_config *cfg, const struct ksm_pace_input *in,
			  const struct ksm_pace_state *st, char *why, size_t wlen)
{
	double budget = cfg->cpu_budget_percent, cpu = in->kthread_cpu_percent;
	bool way_over = in->cur.run == 1 && cpu >= 0 && !full_speed(cfg, in) && cpu > 2 * budget;
	if (st->since_change_usec >= cfg->settle_usec || way_over)
		return false;
	snprintf(why, wlen, "%s: settling, %.1fs since the last change (wait %.1fs)",
		 ksm_pace_phase_name(st->phase), st->since_change_usec / 1e6,
		 cfg->settle_usec / 1e6);
	return true;
}

/* Whether KSM made stall_full_scans full passes since it last made progress. */
static bool stalled(const struct ksm_pace_config *cfg, const struct ksm_pace_input *in,
		    const struct ksm_pace_state *st)
{
	return cfg->stall_full_scans && in->full_scans >= 0 && st->full_scans_at_best >= 0 &&
	       in->full_scans - st->full_scans_at_best >= (int64_t)cfg->stall_full_scans;
}

/* Enter (or stay in) TRICKLE from a gap of gap pages: the knobs to trickle with. */
static struct ksm_knobs begin_trickle(const struct ksm_pace_config *cfg,
				      const struct ksm_pace_input *in, struct ksm_pace_state *st,
				      uint64_t gap, enum ksm_pace_phase *phase)
{
	*phase = KSM_PHASE_TRICKLE;
	st->trickle_gap_pages = gap;
	return trickle_knobs(cfg, &in->cur);
}

/* Rule 0, no prediction yet: converge within the budget until stalled, then trickle. */
static struct ksm_knobs pace_pending(const struct ksm_pace_config *cfg,
				     const struct ksm_pace_input *in, struct ksm_pace_state *st,
				     const struct pace_view *v, enum ksm_pace_phase *phase,
				     char *why, size_t wlen)
{
	bool stall = st->phase == KSM_PHASE_CONVERGE && stalled(cfg, in, st);
	if (stall || st->phase == KSM_PHASE_TRICKLE) {
		if (st->phase != KSM_PHASE_TRICKLE)
			st->trickle_gap_pages = 0;
		*phase = KSM_PHASE_TRICKLE;
		snprintf(why, wlen, "no prediction yet, %s: %llu merged",
			 stall ? "stalled" : "trickle", (unsigned long long)v->merged);
		return trickle_knobs(cfg, &in->cur);
	}
	bool entering = st->phase != KSM_PHASE_CONVERGE || v->first;
	if (entering)
		enter_converge(st, in);
	*phase = KSM_PHASE_CONVERGE;
	struct ksm_knobs next = converge_knobs(cfg, in, entering, 0, why, wlen);
	size_t n = strlen(why);
	snprintf(why + n, wlen - n, " (no prediction yet: first scanner pass running)");
	return next;
}

/* Rule 5's test: the gap grew past where trickling began by the converge threshold. */
static bool gap_regrew(const struct ksm_pace_config *cfg, const struct ksm_pace_state *st,
		       const struct pace_view *v)
{
	return v->gap > st->trickle_gap_pages +
		(v->conv_gap > cfg->min_savings_pages ? v->conv_gap : cfg->min_savings_pages);
}

/* Start from OFF, or rule 5: restart after trickling; trickle if already converged. */
static struct ksm_knobs pace_start(const struct ksm_pace_config *cfg,
				   const struct ksm_pace_input *in, struct ksm_pace_state *st,
				   const struct pace_view *v, enum ksm_pace_phase *phase,
				   char *why, size_t wlen)
{
	if (v->gap <= v->conv_gap) {
		snprintf(why, wlen, "trickle: already merged %llu of %llu predicted pages",
			 (unsigned long long)v->merged, (unsigned long long)v->predicted);
		return begin_trickle(cfg, in, st, v->gap, phase);
	}
	const char *from = *phase == KSM_PHASE_OFF ? "start" : "restart";
	enter_converge(st, in);
	*phase = KSM_PHASE_CONVERGE;
	struct ksm_knobs next = converge_knobs(cfg, in, true, v->gap, why, wlen);
	size_t n = strlen(why);
	snprintf(why + n, wlen - n, " (%s: %llu predicted, %llu merged)", from,
		 (unsigned long long)v->predicted, (unsigned long long)v->merged);
	return next;
}

/* Rules 0, 1 and 3-6 in order: the knobs, with the phase into *phase and the reason into why. */
static struct ksm_knobs pace_decide(const struct ksm_pace_config *cfg,
				    const struct ksm_pace_input *in, struct ksm_pace_state *st,
				    const struct pace_view *v, enum ksm_pace_phase *phase,
				    char *why, size_t wlen)
{
	if (v->pending)
		return pace_pending(cfg, in, st, v, phase, why, wlen);
	if (v->predicted < cfg->min_savings_pages) {
		/* Rule 1: nothing worth merging. */
		struct ksm_knobs next = in->cur;
		*phase = KSM_PHASE_OFF;
		next.run = 0;
		snprintf(why, wlen, "off: predicted %llu pages < min_savings %llu pages",
			 (unsigned long long)v->predicted, (unsigned long long)cfg->min_savings_pages);
		return next;
	}
	if (*phase == KSM_PHASE_OFF || (*phase == KSM_PHASE_TRICKLE && gap_regrew(cfg, st, v)))
		return pace_start(cfg, in, st, v, phase, why, wlen);
	if (*phase == KSM_PHASE_TRICKLE) {
		snprintf(why, wlen, "trickle: gap %llu pages (%llu when trickling began)",
			 (unsigned long long)v->gap, (unsigned long long)st->trickle_gap_pages);
		return trickle_knobs(cfg, &in->cur);
	}
	if (st->converged_for_usec >= cfg->converged_hold_usec) {
		/* Rule 3: converged. */
		struct ksm_knobs next = begin_trickle(cfg, in, st, v->gap, phase);
		snprintf(why, wlen, "converged: gap %llu <= %.0f%% of %llu predicted for %.1fs, %s",
			 (unsigned long long)v->gap, cfg->converged_ratio * 100,
			 (unsigned long long)v->predicted, st->converged_for_usec / 1e6,
			 next.run ? "trickle" : "stop");
		return next;
	}
	if (stalled(cfg, in, st)) {
		/* Rule 4: stalled. */
		struct ksm_knobs next = begin_trickle(cfg, in, st, v->gap, phase);
		snprintf(why, wlen, "stalled: %lld full passes without progress at %llu of %llu "
			 "predicted pages, %s", (long long)(in->full_scans - st->full_scans_at_best),
			 (unsigned long long)v->merged, (unsigned long long)v->predicted,
			 next.run ? "trickle" : "stop");
		return next;
	}
	/* Rule 6: converging, fit the speed to the budget. */
	struct ksm_knobs next = converge_knobs(cfg, in, v->first, v->gap, why, wlen);
	if (v->ahead) {
		size_t n = strlen(why);
		snprintf(why + n, wlen - n, " (merged %llu beyond the %llu predicted: until KSM stalls)",
			 (unsigned long long)v->merged, (unsigned long long)v->predicted);
	}
	return next;
}

/* One tick: the knobs, phase and reason from in and the state passed back (see above). */
void ksm_pace(const struct ksm_pace_config *cfg, const struct ksm_pace_input *in,
	      struct ksm_pace_output *out)
{
	memset(out, 0, sizeof *out);
	out->next = in->cur;
	out->state = in->state;
	struct ksm_pace_state *st = &out->state;
	char *why = out->reason;
	size_t wlen = sizeof out->reason;

	bool first = pace_clock(cfg, in, st);
	struct pace_view v = pace_measure(cfg, in, st, first);
	/* damping first, so that no rule can flap */
	if (pace_settling(cfg, in, st, why, wlen))
		return;

	enum ksm_pace_phase phase = st->phase;
	struct ksm_knobs next = pace_decide(cfg, in, st, &v, &phase, why, wlen);

	st->phase = phase;
	out->next = next;
	out->changed = memcmp(&next, &in->cur, sizeof next) != 0;
	if (out->changed)
		st->since_change_usec = 0;
}
