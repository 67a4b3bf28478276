/* plan.c — policy_decide's host-wide steps: level, merge, reclaim, distress funding, releases, trim, relax.
 *
 * Each step reads what the ones before it set in struct decision
 * (internal.h) and sets its own figures there, or the take and give of the
 * guests' views; policy.c's opening essay gives the rules. */
#include "policy/internal.h"

#include <string.h>

/* Hand out `want` bytes of reclaim, chunk by chunk, to the lowest rho. */
static uint64_t distribute_reclaim(struct gview *v, size_t n, uint64_t want, double tax)
{
	uint64_t got = 0;
	while (got < want) {
		struct gview *best = NULL;
		double best_r = 0;
		for (size_t i = 0; i < n; i++) {
			if (!v[i].may_shrink || v[i].take >= v[i].cap_down)
				continue;
			double r = rho(&v[i], v[i].cur - v[i].take, tax);
			if (!best || r < best_r) {
				best = &v[i];
				best_r = r;
			}
		}
		if (!best)
			break;
		uint64_t chunk = MAX(best->g->max_bytes / 400, 1 * MIB);
		chunk = MIN(chunk, best->cap_down - best->take);
		chunk = MIN(chunk, want - got);
		best->take += chunk;
		got += chunk;
	}
	return got;
}

/* Sets swapped, used, budget, real_limit, by_avail and their texts; reports the cost in the plan. */
void host_cost(struct decision *t)
{
	const struct policy_snapshot *snap = t->snap;
	const struct policy_conf *c = t->c;
	const struct policy_host *h = t->h;
	uint64_t rss = 0, swapped = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct policy_guest *g = &snap->guests[i];
		rss += g->rss_bytes ? g->rss_bytes
				    : (g->balloon_actual_bytes ? g->balloon_actual_bytes : g->max_bytes);
		swapped += g->rss_bytes ? g->swap_bytes : 0;
	}
	/* Swapped-out guest memory is paid for too (in swap, and in the
	 * double paging that follows): it counts in the cost, so the cost
	 * never looks better because the host swapped. */
	rss += swapped;
	uint64_t merged = snap->merge.available ? snap->merge.merged_pages * 4096 : 0;
	uint64_t used = rss > merged ? rss - merged : 0;
	uint64_t budget = policy_budget_bytes(snap);
	/* A budget that is a cgroup's limit is the real limit: going over it
	 * swaps the guests, and no host reserve can be borrowed against it. */
	t->real_limit = c->budget_cgroup[0] && h->cg_valid && h->cg_limited;
	/* What the host can give now: other users of host memory shrink it. */
	t->by_avail = false;
	if (h->mem_total_bytes && used + h->mem_available_bytes < budget + c->reserve_bytes) {
		uint64_t b = used + h->mem_available_bytes;
		budget = b > c->reserve_bytes ? b - c->reserve_bytes : 0;
		t->by_avail = true;
	}
	t->swapped = swapped;
	t->used = used;
	t->budget = budget;
	t->out->budget_bytes = budget;
	t->out->guest_used_bytes = used;
	t->out->guest_swap_bytes = swapped;
	t->st->prev_used_bytes = used;
	fmt_size(used, t->used_s, sizeof t->used_s);
	fmt_size(budget, t->budget_s, sizeof t->budget_s);
}

/* Sets projected and near from the cost's growth since the previous tick, over the same guests only. */
void cost_trend(struct decision *t, usec_t prev_tick_usec, uint64_t prev_used)
{
	const struct policy_snapshot *snap = t->snap;
	const struct policy_conf *c = t->c;
	struct policy_state *st = t->st;
	uint64_t used = t->used;
	uint64_t ids = 0;
	for (size_t i = 0; i < t->n; i++)
		ids += snap->guests[i].id ? snap->guests[i].id : i + 1;
	bool same_guests = ids == st->prev_guest_ids;
	st->prev_guest_ids = ids;
	/* Where the cost is heading: last tick's growth, projected lookahead
	 * ahead (only over the same guests: one that just joined is no growth). */
	uint64_t projected = used, near = used;
	if (st->ticks > 1 && same_guests && prev_tick_usec && snap->now_usec > prev_tick_usec &&
	    used > prev_used) {
		double rate = (double)(used - prev_used) / (double)(snap->now_usec - prev_tick_usec);
		projected += (uint64_t)(rate * (double)c->lookahead_usec);
		/* where it is before the balloons can answer: two ticks */
		near += (uint64_t)(rate * 2 * (double)c->tick_usec);
	}
	t->projected = projected;
	t->near = near;
}

/* Writes the host's reason when the guests use more than the budget. */
static void say_over_budget(const struct decision *t)
{
	char *hr = t->out->host_reason;
	size_t hrl = sizeof t->out->host_reason;
	char b3[32];
	fmt_size(t->h->mem_available_bytes, b3, sizeof b3);
	char sw[48] = "";
	if (t->swapped) {
		char b4[32];
		fmt_size(t->swapped, b4, sizeof b4);
		say(sw, sizeof sw, " (%s of it swapped out)", b4);
	}
	if (t->by_avail)
		say(hr, hrl, "guests use %s%s > budget %s (host MemAvailable %s < reserve)",
		    t->used_s, sw, t->budget_s, b3);
	else
		say(hr, hrl, "guests use %s%s > budget %s%s", t->used_s, sw, t->budget_s,
		    t->real_limit ? " (cgroup limit)" : "");
}

/* Sets lvl and want and writes the host's reason, first signal first; keeps when pressure began. */
void host_level(struct decision *t)
{
	const struct policy_conf *c = t->c;
	const struct policy_host *h = t->h;
	uint64_t used = t->used, budget = t->budget, projected = t->projected;
	const char *b1 = t->used_s, *b2 = t->budget_s;
	char b3[32];
	int64_t want = 0;
	enum policy_host_level lvl = POLICY_HOST_OK;
	char *hr = t->out->host_reason;
	size_t hrl = sizeof t->out->host_reason;
	if (used > budget) {
		lvl = POLICY_HOST_CRITICAL;
		want = (int64_t)(used - budget + pct(budget, c->budget_low_water_percent));
		say_over_budget(t);
	} else if (projected > budget) {
		lvl = POLICY_HOST_CRITICAL;
		want = (int64_t)(projected - budget + pct(budget, c->budget_low_water_percent));
		fmt_size(projected, b3, sizeof b3);
		say(hr, hrl, "guests use %s, heading for %s > budget %s", b1, b3, b2);
	} else if (h->swap_out_pages_per_sec > c->swap_out_threshold_pages_per_sec) {
		lvl = POLICY_HOST_CRITICAL;
		want = (int64_t)MAX(pct(budget, c->max_shrink_percent_per_tick_critical),
				    (uint64_t)(h->swap_out_pages_per_sec * 4096.0 *
					       (double)c->tick_usec / USEC_PER_SEC));
		say(hr, hrl, "host swap-out %.0f pages/s > %.0f/s", h->swap_out_pages_per_sec,
			 c->swap_out_threshold_pages_per_sec);
	} else if (t->real_limit && h->cg_swap_out_bytes_per_sec > c->swap_out_threshold_pages_per_sec * 4096.0) {
		lvl = POLICY_HOST_CRITICAL;
		want = (int64_t)MAX(pct(budget, c->max_shrink_percent_per_tick_critical),
				    (uint64_t)(h->cg_swap_out_bytes_per_sec *
					       (double)c->tick_usec / USEC_PER_SEC));
		say(hr, hrl, "cgroup swap-out %.0f pages/s > %.0f/s",
		    h->cg_swap_out_bytes_per_sec / 4096.0, c->swap_out_threshold_pages_per_sec);
	} else if (h->psi_available && h->psi_full_avg10_percent > c->psi_full_threshold_percent) {
		lvl = POLICY_HOST_CRITICAL;
		want = (int64_t)pct(budget, c->max_shrink_percent_per_tick_critical);
		say(hr, hrl, "host PSI full avg10 %.1f%% > %.1f%%", h->psi_full_avg10_percent,
			 c->psi_full_threshold_percent);
	} else if (h->psi_available && (h->psi_some_avg10_percent > c->psi_some_threshold_percent ||
					h->psi_trigger_fired)) {
		lvl = POLICY_HOST_PRESSURE;
		want = (int64_t)pct(budget, c->max_shrink_percent_per_tick);
		if (h->psi_some_avg10_percent > c->psi_some_threshold_percent)
			say(hr, hrl, "host PSI some avg10 %.1f%% > %.1f%%",
				 h->psi_some_avg10_percent, c->psi_some_threshold_percent);
		else
			say(hr, hrl, "host PSI trigger fired");
	} else {
		say(hr, hrl, "guests use %s of budget %s", b1, b2);
	}
	t->lvl = lvl;
	t->want = want;
	t->out->host_level = lvl;
	if (lvl == POLICY_HOST_OK)
		t->st->pressure_since_usec = 0;
	else if (!t->st->pressure_since_usec)
		t->st->pressure_since_usec = t->snap->now_usec ? t->snap->now_usec : 1;
}

/* Sets gap and its text, and the merge urgency and its reason: merge first. */
void merge_urgency(struct decision *t)
{
	const struct policy_snapshot *snap = t->snap;
	struct policy_plan *out = t->out;
	enum policy_host_level lvl = t->lvl;
	uint64_t gap = 0;
	if (snap->merge.available && snap->merge.potential_pages > snap->merge.merged_pages)
		gap = (snap->merge.potential_pages - snap->merge.merged_pages) * 4096;
	t->gap = gap;
	fmt_size(gap, t->gap_s, sizeof t->gap_s);
	const char *b3 = t->gap_s;
	uint64_t min = snap->merge.min_savings_bytes ? snap->merge.min_savings_bytes : POLICY_MERGE_MIN_BYTES;
	if (gap < min) {
		out->merge_urgency = POLICY_MERGE_IDLE;
		say(out->merge_reason, sizeof out->merge_reason, "unmerged duplicates %s: trickle", b3);
	} else if (lvl == POLICY_HOST_OK && !(t->real_limit && t->used > pct(t->budget, 80))) {
		out->merge_urgency = POLICY_MERGE_NORMAL;
		say(out->merge_reason, sizeof out->merge_reason,
			 "unmerged duplicates %s, host %s: merge within budget", b3, policy_host_level_name(lvl));
	} else {
		out->merge_urgency = POLICY_MERGE_URGENT;
		/* KSM merges only present pages: near a hard limit, merge before
		 * the kernel swaps the duplicates out. */
		say(out->merge_reason, sizeof out->merge_reason,
			 "unmerged duplicates %s, host %s%s: merge at full speed", b3, policy_host_level_name(lvl),
			 lvl == POLICY_HOST_OK ? " but above 80% of its cgroup limit" : "");
	}
}

/* Sets balloon_want: want less what the gap covers (all of it in the grace, half in CRITICAL). */
void merge_cover(struct decision *t)
{
	const struct policy_conf *c = t->c;
	struct policy_plan *out = t->out;
	int64_t want = t->want;
	uint64_t gap = t->gap;
	int64_t balloon_want = want;
	bool merge_covers = false;
	if (want > 0 && gap > 0) {
		bool grace = t->lvl == POLICY_HOST_PRESSURE &&
			     t->snap->now_usec - t->st->pressure_since_usec < c->merge_grace_usec;
		if (grace && gap >= (uint64_t)want) {
			balloon_want = 0;
			merge_covers = true;
		} else if (t->lvl == POLICY_HOST_CRITICAL) {
			balloon_want = want - (int64_t)MIN(gap, (uint64_t)want) / 2;
		}
	}
	out->reclaim_wanted_bytes = want;
	if (merge_covers) {
		size_t l = strlen(out->host_reason);
		say(out->host_reason + l, sizeof out->host_reason - l, "; merging %s covers it", t->gap_s);
	}
	t->balloon_want = balloon_want;
}

/* Sets critical, swapping, at_limit, balloon_want's cap near the limit, and each shrink capacity. */
void shrink_limits(struct decision *t)
{
	const struct policy_conf *c = t->c;
	const struct policy_host *h = t->h;
	uint64_t used = t->used, budget = t->budget, near = t->near;
	t->critical = t->lvl == POLICY_HOST_CRITICAL;
	/* At the limit (over budget, or swapping), shed as fast as the
	 * balloons allow: the step is capped by each guest's floor and by the
	 * want, not by a percentage per tick. Heading for it within two ticks
	 * (before the balloons could answer) counts as at it, for the
	 * overshoot those two ticks bring; further ahead (the lookahead) takes
	 * the critical cap per tick: a burst is finite, and taking all of it
	 * at once starves the guests. */
	t->swapping = h->swap_out_pages_per_sec > c->swap_out_threshold_pages_per_sec ||
		      (t->real_limit && h->cg_swap_out_bytes_per_sec >
					c->swap_out_threshold_pages_per_sec * 4096.0);
	t->at_limit = t->critical && (used > budget || near > budget || t->swapping);
	if (t->at_limit && used <= budget && !t->swapping)
		t->balloon_want = MIN(t->balloon_want,
				      (int64_t)(near - budget + pct(budget, c->budget_low_water_percent)));
	/* Shrinks already sent that the balloons have not reached: their
	 * pages are still in the cost. Within the cgroup limit's headroom
	 * (below the limit itself, nothing swapping) they count against the
	 * want, or the next tick takes the same memory a second time from
	 * another guest - a tenant's page cache, when the guest on its way
	 * down had free memory to give. Over the limit, or swapping, no
	 * waiting: shed as before. */
	t->on_the_way = 0;
	if (t->real_limit && t->balloon_want > 0 && !t->swapping && used < h->cg_limit_bytes) {
		for (size_t i = 0; i < t->n; i++) {
			const struct gview *v = &t->views[i];
			const struct policy_guest *g = v->g;
			/* what the shrink can take off the cost: the guest's
			 * resident memory above the target at most; none for
			 * a release or a guest that reports its free pages
			 * (the balloon takes memory the host does not back) */
			if (!v->eligible || !shrink_pending(t->snap, v) || v->s->release_from_bytes ||
			    g->free_page_reporting)
				continue;
			uint64_t to = v->s->last_target_bytes;
			uint64_t cut = v->cur - to;
			if (g->rss_bytes)
				cut = MIN(cut, g->rss_bytes > to ? g->rss_bytes - to : 0);
			t->on_the_way += cut;
		}
		t->balloon_want -= (int64_t)MIN(t->on_the_way, (uint64_t)t->balloon_want);
		if (t->on_the_way) {
			char b[32];
			fmt_size(t->on_the_way, b, sizeof b);
			size_t l = strlen(t->out->host_reason);
			say(t->out->host_reason + l, sizeof t->out->host_reason - l,
			    "; %s on its way (balloons not there yet)", b);
		}
	}
	for (size_t i = 0; i < t->n; i++)
		shrink_capacity(t->snap, &t->views[i], t->critical, t->at_limit);
}

/* Sets give to what each eligible guest in distress needs, before funding; returns their sum. */
static uint64_t distress_needs(const struct decision *t)
{
	const struct policy_conf *c = t->c;
	uint64_t growth = 0;
	for (size_t i = 0; i < t->n; i++) {
		struct gview *v = &t->views[i];
		if (!v->eligible || !v->distress || v->cur >= v->g->max_bytes || v->stats_behind)
			continue;
		uint64_t need = pct(v->cur, c->guest_min_free_percent);
		if (v->avail < need)
			need = need - v->avail + pct(v->g->max_bytes, c->guest_min_free_percent);
		need = MAX(need, pct(v->g->max_bytes, c->max_grow_percent_per_tick) / 2);
		/* a burst: what it will have used before the next answer lands,
		 * beyond what it has, plus the guest's free margin */
		if (v->bursting && v->burst_short_bytes > need)
			need = v->burst_short_bytes;
		need = MIN(need, pct(v->g->max_bytes, c->max_grow_percent_per_tick));
		need = MIN(need, v->g->max_bytes - v->cur);
		v->give = need;
		growth += need;
	}
	return growth;
}

/* Distress first: sets headroom, growth, fundable and granted (gives cut to fit), then got. */
void fund_distress(struct decision *t)
{
	const struct policy_conf *c = t->c;
	const struct policy_host *h = t->h;
	struct gview *views = t->views;
	size_t n = t->n;
	uint64_t used = t->used, budget = t->budget;
	uint64_t capacity = 0;
	for (size_t i = 0; i < n; i++)
		if (views[i].may_shrink)
			capacity += views[i].cap_down;
	int64_t headroom = (int64_t)budget - (int64_t)used - (int64_t)pct(budget, c->budget_low_water_percent);
	if (t->lvl != POLICY_HOST_OK && headroom > 0)
		headroom = 0;
	uint64_t growth = distress_needs(t);
	/* The reserve lies below the budget: a guest in distress may borrow a
	 * quarter of it unless the host itself is already short or swapping;
	 * under a cgroup's limit, it may use the headroom instead (below). */
	bool host_short = t->real_limit ||
			  h->swap_out_pages_per_sec > c->swap_out_threshold_pages_per_sec ||
			  (h->psi_available && h->psi_full_avg10_percent > c->psi_full_threshold_percent) ||
			  (h->mem_total_bytes && h->mem_available_bytes < c->reserve_bytes / 2);
	uint64_t lend = host_short ? 0 : c->reserve_bytes / 4;
	/* Under a cgroup's limit the headroom kept below it is there for
	 * exactly this: a guest in distress may use it, unless it swaps. */
	if (t->real_limit)
		lend = t->swapping || h->cg_limit_bytes <= budget ? 0 : h->cg_limit_bytes - budget;
	uint64_t fundable = (uint64_t)MAX(headroom, 0) + capacity + lend;
	if (growth > fundable && growth) {
		for (size_t i = 0; i < n; i++)
			views[i].give = (uint64_t)((double)views[i].give * (double)fundable / (double)growth);
	}
	uint64_t granted = 0;
	for (size_t i = 0; i < n; i++)
		granted += views[i].give;
	uint64_t funded_by_others = granted > (uint64_t)MAX(headroom, 0) ? granted - (uint64_t)MAX(headroom, 0) : 0;
	funded_by_others = MIN(funded_by_others, capacity);
	if (t->balloon_want < 0)
		t->balloon_want = 0;
	t->got = distribute_reclaim(views, n, (uint64_t)t->balloon_want + funded_by_others, c->idle_tax_percent);
	t->headroom = headroom;
	t->growth = growth;
	t->fundable = fundable;
	t->granted = granted;
}

/* Sets release_take on guests with backed free memory, release_back when a release is done. */
void plan_releases(struct decision *t)
{
	const struct policy_snapshot *snap = t->snap;
	const struct policy_conf *c = t->c;
	/* Release: a guest that holds free memory the host still backs is
	 * ballooned over its free memory (less its margin) for a moment, in
	 * the balloon's steps, and then given its size back: the
	 * host drops the pages the balloon took, the guest keeps what it had
	 * (it can still map as much as before), now unbacked. Once per guest
	 * a minute at most; not for guests that report their free pages.
	 * Before the idle trim: a release costs the guest nothing it keeps. */
	for (size_t i = 0; i < t->n; i++) {
		struct gview *v = &t->views[i];
		struct policy_guest_state *s = v->s;
		if (!v->eligible || !s)
			continue;
		if (s->release_from_bytes) {
			uint64_t db = deadband(c, v->g);
			/* the release's shrink, or a step of its way back */
			bool reached = (s->last_sign < 0 && v->cur <= s->last_target_bytes + db) ||
				       (s->last_sign > 0 && v->cur + db >= s->last_target_bytes);
			bool late = snap->now_usec - s->release_usec > 5 * c->settle_usec + c->tick_usec;
			if (!reached && !late)
				continue;
			if (t->lvl == POLICY_HOST_CRITICAL || v->take) {
				/* the host needs it: it stays taken, and is owed
				 * back as a shrink's would be (size_back) */
				uint64_t at = s->last_sign < 0 ? MIN(v->cur, s->last_target_bytes) : v->cur;
				if (s->release_from_bytes > at)
					s->size_owed_bytes += s->release_from_bytes - at;
				s->release_from_bytes = 0;
				s->release_to_bytes = 0;
				continue;
			}
			if (v->give)
				continue;
			/* back at (or above) its size, by its last step or by a
			 * give in between: the release is over */
			if (v->cur + db >= s->release_from_bytes) {
				s->release_from_bytes = 0;
				s->release_to_bytes = 0;
				continue;
			}
			/* down in the balloon's steps to where it was meant to go
			 * (never below today's floor; not for a guest that now
			 * allocates or is in distress), then back */
			uint64_t to = MAX(s->release_to_bytes, v->lo);
			if (s->last_sign < 0 && s->release_to_bytes && reached && !late && v->fresh &&
			    !v->distress && v->grow_rate < (double)pct(v->g->max_bytes, 1) && v->cur > to + db)
				v->release_take = v->cur - to;
			else
				v->release_back = true;
			continue;
		}
		if (!c->release_min_bytes || v->take || v->give || v->distress || !v->fresh || v->stats_behind ||
		    v->grow_rate >= (double)pct(v->g->max_bytes, 1) || v->backed_free < c->release_min_bytes ||
		    (s->release_usec && snap->now_usec - s->release_usec < 60 * USEC_PER_SEC))
			continue;
		/* The balloon takes free pages as the guest's allocator hands
		 * them out, backed or not: the host gets back only the backed
		 * share of what it takes. So the release takes the guest's free
		 * memory less its margin (floors permitting), not just the
		 * backed part of it, or backed pages stay behind (measured: a
		 * release of 262 MiB freed 215 of the 364 MiB a guest held backed). */
		uint64_t keep = pct(v->cur, c->guest_min_free_percent);
		uint64_t freeb = v->g->stat_free_bytes;   /* >= backed_free, of which it is part */
		uint64_t target = v->cur - MIN(v->cur, freeb - MIN(freeb, keep));
		target = MAX(target, MAX(v->lo, v->g->min_bytes));
		if (target + c->release_min_bytes / 2 <= v->cur)
			v->release_take = v->cur - target;
	}
}

/* The bytes of v's idle free memory beyond the share line (0..1) of its size
 * that it keeps once trimmed: what the idle trim takes when positive; when
 * negative, what may be given to v before the trim would take it again. */
static double free_beyond_line(const struct gview *v, double line)
{
	return ((double)v->idle_free - line * (double)v->cur) / (1 - line);
}

/* Host ok and nothing reclaimed: sets take (a trim) on guests idle above idle_trim_percent. */
void idle_trim(struct decision *t)
{
	const struct policy_conf *c = t->c;
	/* Idle trim (senpai-like probing): no pressure, take idle memory
	 * slowly from guests that hold much more than they use. Idle is
	 * what the stats call available and the host did not see touched;
	 * the trim takes the part of it that is free, never page cache. */
	/* Under a cgroup's limit, idle memory well below the limit costs
	 * nothing, and trimming it costs the guest what it can map (a
	 * ballooned guest's MemTotal shrinks): trim only above
	 * limit_trim_percent of the budget. */
	bool trim_room = !t->real_limit || t->used >= pct(t->budget, c->limit_trim_percent);
	if (t->lvl == POLICY_HOST_OK && t->got == 0 && c->idle_trim_percent > 0 && trim_room) {
		double idle = c->idle_trim_percent / 100.0;
		for (size_t i = 0; i < t->n; i++) {
			struct gview *v = &t->views[i];
			/* A guest seen in distress lately is not probed again. */
			if (!v->may_shrink || v->give || v->release_take || v->release_back || v->s->distress_usec ||
			    v->s->release_from_bytes || free_beyond_line(v, idle) <= 0)
				continue;
			double x = free_beyond_line(v, idle);
			v->take = MIN(v->cap_down, (uint64_t)x);
			v->trim = true;
		}
	}
}

/* Under a cgroup limit, host ok: sets give (size_back) to what ksmd took from a guest. */
void size_back(struct decision *t)
{
	const struct policy_snapshot *snap = t->snap;
	const struct policy_conf *c = t->c;
	/* Under a cgroup's limit, a guest's size costs the host nothing until
	 * the guest uses it (the limit counts what is resident, not what the
	 * balloon allows): once the cost is below limit_trim_percent of the
	 * budget, where the idle trim stops, what ksmd's shrinks took is given
	 * back, so the next burst finds its memory where it left it instead of
	 * waiting for a grow. Not while anything is reclaimed or the guest
	 * settles after a shrink; at most max_grow_percent_per_tick a tick. */
	if (!t->real_limit || t->lvl != POLICY_HOST_OK || t->got || t->swapping)
		return;
	bool in_part = t->used >= pct(t->budget, c->limit_trim_percent);
	/* Above limit_trim_percent, a guest owed memory gets back only what
	 * leaves its free memory below the trim's line by a margin (so the
	 * trim does not take it again), within the headroom below the budget:
	 * a tenant whose page cache the pressure took refills it once the
	 * pressure is over, instead of staying at its floor while the host has
	 * room. The headroom counts what earlier such gives left free in the
	 * guests (it costs once used); a give is at most the share of it that
	 * filling it within a tick would not project over the budget
	 * (tick / (tick + lookahead)); none while the cost grows. */
	uint64_t room = 0;
	if (in_part) {
		uint64_t out = 0;
		for (size_t i = 0; i < t->n; i++)
			if (t->views[i].s)
				out += MIN(t->views[i].s->part_given_bytes, t->views[i].fresh ? t->views[i].idle_free
											       : UINT64_MAX);
		if (t->projected > t->used || t->headroom <= 0 || (uint64_t)t->headroom <= t->granted + out)
			return;
		room = (uint64_t)t->headroom - t->granted - out;
		room = (uint64_t)((double)room * (double)c->tick_usec / (double)(c->tick_usec + c->lookahead_usec));
	} else {
		for (size_t i = 0; i < t->n; i++)
			if (t->views[i].s)
				t->views[i].s->part_given_bytes = 0;
	}
	double line = trim_line_percent(c) / 100.0;
	for (size_t i = 0; i < t->n; i++) {
		struct gview *v = &t->views[i];
		struct policy_guest_state *s = v->s;
		if (!v->eligible || !s || !s->size_owed_bytes || v->give || v->take || v->release_take ||
		    v->release_back || s->release_from_bytes || v->cur >= v->g->max_bytes || grow_pending(t, v) ||
		    (s->last_shrink_usec && snap->now_usec - s->last_shrink_usec < c->settle_usec))
			continue;
		uint64_t give = MIN(s->size_owed_bytes, v->g->max_bytes - v->cur);
		if (in_part) {
			/* stats that show the guest as it is, and free memory
			 * below the line by more than the margin: the deadband,
			 * or half the guest's free margin if larger */
			uint64_t db = deadband(c, v->g);
			uint64_t margin = MAX(db, pct(v->cur, c->guest_min_free_percent) / 2);
			if (!v->fresh || v->stats_behind || v->distress || line >= 1)
				continue;
			double x = -free_beyond_line(v, line) - (double)margin;
			if (x < (double)MAX(db, 1))
				continue;
			give = MIN(give, MIN((uint64_t)x, room));
			if (give < MAX(db, 1))
				continue;
		}
		v->give = MIN(give, pct(v->g->max_bytes, c->max_grow_percent_per_tick));
		v->size_back = true;
		v->size_back_part = in_part;
		if (in_part) {
			room -= v->give;
			t->granted += v->give;
		}
	}
}

/* Relax: host room left, nothing reclaimed: adds to give of guests short of free memory. */
void relax(struct decision *t)
{
	const struct policy_conf *c = t->c;
	int64_t headroom = t->headroom;
	uint64_t granted = t->granted;
	if (!(t->lvl == POLICY_HOST_OK && headroom > 0 && t->got == 0))
		return;
	uint64_t room = (uint64_t)headroom - granted;
	if (granted > (uint64_t)headroom)
		room = 0;
	while (room > 0) {
		struct gview *best = NULL;
		double best_r = 0;
		for (size_t i = 0; i < t->n; i++) {
			struct gview *v = &t->views[i];
			uint64_t top = MIN(v->g->max_bytes,
					   v->cur + pct(v->g->max_bytes, c->max_grow_percent_per_tick));
			if (!v->eligible || !v->fresh || v->distress || v->stats_behind || v->size_back ||
			    v->release_take || v->release_back || v->cur + v->give >= top)
				continue;
			/* Only guests that would use it: available below twice the min. */
			if (v->avail + v->give >= pct(v->cur + v->give, 2 * c->guest_min_free_percent))
				continue;
			double r = rho(v, v->cur + v->give, c->idle_tax_percent);
			if (!best || r > best_r) {
				best = v;
				best_r = r;
			}
		}
		if (!best)
			break;
		uint64_t chunk = MIN(MAX(best->g->max_bytes / 100, 1 * MIB), room);
		chunk = MIN(chunk, best->g->max_bytes - best->cur - best->give);
		best->give += chunk;
		room -= chunk;
	}
}
