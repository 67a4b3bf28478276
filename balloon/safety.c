/* safety.c — the pure rules every balloon change obeys.
 *
 * Ballooning a guest below its working set makes it thrash or OOM, and a
 * single large squeeze is the quickest way there. So whatever the policy
 * asks, the actuator applies three bounds, in this order:
 *
 *   1. step:  move at most max_step away from where the guest was told to
 *             be (the current target, or its actual size before any target)
 *   2. floor: never below min (default 50% of max: a guest keeps at least
 *             half its configured memory unless the operator says otherwise)
 *   3. max:   never above the configured/boot size (a balloon cannot give
 *             a guest more than it was started with)
 *
 * The range wins over the step: a guest found below its floor is raised
 * to it at once, because more memory is always the safe direction.
 *
 * Stuck guests (after Xen's squeezed): some guests never answer a balloon
 * request (no driver, driver wedged, memory pinned). Squeezing them harder
 * achieves nothing and starves the policy's view of what is reclaimable. So
 * the distance |target - actual| is watched: if it does not shrink by at
 * least min_progress within stuck_usec (5 s), the guest is `stuck` and the
 * policy should leave it out of further squeezing; after uncooperative_usec
 * (20 s) it is flagged `uncooperative`. `stuck` clears on any progress or a
 * new target; `uncooperative` is sticky and clears only after progress has
 * continued, without a stall of stuck_usec, for clear_usec — one lucky step
 * does not rehabilitate a guest that ignored us for 20 s. */
#include "balloon/balloon.h"

#include <errno.h>
#include <stdio.h>

void balloon_limits_default(struct balloon_limits *l, unsigned min_percent)
{
	if (!min_percent || min_percent > 100)
		min_percent = BALLOON_DEFAULT_MIN_PERCENT;
	if (!l->min_bytes)
		l->min_bytes = l->max_bytes / 100 * min_percent +
			       l->max_bytes % 100 * min_percent / 100;
	if (l->min_bytes > l->max_bytes)
		l->min_bytes = l->max_bytes;
}

uint64_t balloon_clamp_target(uint64_t requested, uint64_t from, const struct balloon_limits *l)
{
	return clamp_step_range(requested, from, l->max_step_bytes, l->min_bytes, l->max_bytes);
}

int balloon_validate_override(const char *guest, uint64_t size, const struct balloon_limits *l,
			      char *err, size_t err_len)
{
	char a[32], b[32];
	if (size < l->min_bytes) {
		snprintf(err, err_len, "guest %s: %s is below its floor (min %s)", guest,
			 format_size(size, a, sizeof a), format_size(l->min_bytes, b, sizeof b));
		return -ERANGE;
	}
	if (size > l->max_bytes) {
		snprintf(err, err_len, "guest %s: %s is above its maximum (max %s)", guest,
			 format_size(size, a, sizeof a), format_size(l->max_bytes, b, sizeof b));
		return -ERANGE;
	}
	if (err_len)
		err[0] = '\0';
	return 0;
}

void balloon_progress_config_default(struct balloon_progress_config *c)
{
	if (!c->stuck_usec) c->stuck_usec = 5 * USEC_PER_SEC;
	if (!c->uncooperative_usec) c->uncooperative_usec = 20 * USEC_PER_SEC;
	if (!c->clear_usec) c->clear_usec = 10 * USEC_PER_SEC;
	if (!c->tolerance_bytes) c->tolerance_bytes = MIB;
	if (!c->min_progress_bytes) c->min_progress_bytes = MIB;
}

/* A run of progress counts from the previous progress point when that was
 * recent (no stall in between), else from now. */
static usec_t run_start(const struct balloon_progress *p, const struct balloon_progress_config *cfg,
			usec_t now)
{
	return now - p->last_progress_usec < cfg->stuck_usec ? p->last_progress_usec : now;
}

void balloon_progress_update(struct balloon_progress *p, const struct balloon_progress_config *cfg,
			     uint64_t target, uint64_t actual, usec_t now)
{
	uint64_t gap = target > actual ? target - actual : actual - target;

	if (target != p->target_bytes) {
		/* new request: the clock starts now; the sticky flag stays */
		p->target_bytes = target;
		p->best_gap_bytes = gap;
		p->last_progress_usec = now;
		p->stuck = false;
		p->reached = gap <= cfg->tolerance_bytes;
		return;
	}
	if (gap <= cfg->tolerance_bytes) {
		if (!p->reached && p->best_gap_bytes > gap && !p->progress_run_usec)
			p->progress_run_usec = run_start(p, cfg, now); /* arrived */
		/* holding a target is no stall: a run of progress goes on */
		if (p->uncooperative && p->progress_run_usec &&
		    now - p->progress_run_usec >= cfg->clear_usec)
			p->uncooperative = false;
		p->reached = true;
		p->stuck = false;
		p->best_gap_bytes = gap;
		p->last_progress_usec = now;
		return;
	}
	p->reached = false;
	if (gap + cfg->min_progress_bytes <= p->best_gap_bytes) {
		/* progress; a run started at the previous progress point */
		if (!p->progress_run_usec)
			p->progress_run_usec = run_start(p, cfg, now);
		p->best_gap_bytes = gap;
		p->last_progress_usec = now;
		p->stuck = false;
		if (p->uncooperative && now - p->progress_run_usec >= cfg->clear_usec)
			p->uncooperative = false;
		return;
	}
	usec_t idle = now - p->last_progress_usec;
	if (idle >= cfg->stuck_usec) {
		p->stuck = true;
		p->progress_run_usec = 0;
	}
	if (idle >= cfg->uncooperative_usec)
		p->uncooperative = true;
}
