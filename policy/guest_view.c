/* guest_view.c — each guest's view of a tick: activity, burst, distress, floor, shrink capacity.
 *
 * What policy.c's opening essay says about a guest, computed here: its
 * active memory (stats, and the host's working set while fresh), a burst
 * seen in its host RSS before its stats show it, distress and the memory of
 * it, stats that predate the last step, the free memory the host still
 * backs, the lowest target every rule allows, and what it may give this tick. */
#include "policy/internal.h"

#include <string.h>

static struct policy_guest_state *state_slot(struct policy_state *st, uint64_t id)
{
	struct policy_guest_state *free_slot = NULL;
	for (size_t i = 0; i < POLICY_MAX_GUESTS; i++) {
		if (st->guests[i].id == id)
			return &st->guests[i];
		if (!st->guests[i].id && !free_slot)
			free_slot = &st->guests[i];
	}
	if (free_slot) {
		memset(free_slot, 0, sizeof(*free_slot));
		free_slot->id = id;
	}
	return free_slot;
}

/* What guest_view learns on the way that its later steps need. */
struct gsigns {
	bool faulting;          /* major faults above their threshold */
	bool swapping;          /* swap-in above its threshold */
	bool short_free;        /* available below guest_distress_free_percent */
	uint64_t stats_active;  /* the active estimate from the stats alone */
	uint64_t host_active;   /* the host-side working set while fresh, else 0 */
};

/* Starts v: slot, size, eligibility, stats, available and active memory; distress signals to sg. */
static void view_activity(const struct policy_snapshot *snap, struct policy_state *st,
			  size_t i, struct gview *v, struct gsigns *sg)
{
	const struct policy_conf *c = &snap->conf;
	const struct policy_guest *g = &snap->guests[i];
	memset(v, 0, sizeof(*v));
	memset(sg, 0, sizeof(*sg));
	v->g = g;
	v->s = state_slot(st, g->id ? g->id : i + 1);
	v->cur = g->balloon_actual_bytes ? g->balloon_actual_bytes : g->max_bytes;
	v->eligible = g->has_balloon && !g->stuck && g->max_bytes && v->s;
	v->fresh = g->stats_valid && g->stats_age_usec <= c->stats_max_age_usec;
	v->avail = v->fresh ? MIN(g->stat_available_bytes, v->cur) : 0;
	sg->faulting = v->fresh && g->major_faults_per_sec > c->guest_distress_major_faults_per_sec;
	sg->swapping = v->fresh && g->swap_in_pages_per_sec > c->guest_distress_swap_in_pages_per_sec;
	sg->short_free = v->fresh && v->avail < pct(v->cur, c->guest_distress_free_percent);
	v->active = (v->fresh && !sg->faulting && !sg->swapping) ? v->cur - v->avail : v->cur;
	sg->stats_active = v->active;
	/* The host's view: what the guest touched over the last interval. */
	/* a sample is fresh for three intervals: one to the next due sample,
	 * one more when the interval in between was dropped because ksmd's
	 * scanner read the guest (collect/wss.c), and the pass itself */
	v->host_fresh = c->host_wss && g->host_active_valid &&
			g->host_active_age_usec <= 3 * MAX(c->host_wss_interval_usec, g->host_active_period_usec);
	if (v->host_fresh) {
		sg->host_active = MIN(g->host_active_bytes, v->cur);
		if (sg->host_active > v->active) {
			v->active = sg->host_active;
			v->host_bound = true;
		}
	}
}

/* Sets v's RSS growth rate (keeping this tick's RSS), and bursting if it runs out before an answer. */
static void view_burst(const struct policy_snapshot *snap, struct gview *v, struct gsigns *sg)
{
	const struct policy_conf *c = &snap->conf;
	const struct policy_guest *g = v->g;
	/* A burst outruns the guest's stats (sampled every few seconds): the
	 * host sees it first, as RSS growth. What the guest touched since its
	 * stats were taken is gone from its available memory, and at that
	 * rate it runs out within the lookahead: distress, before the guest's
	 * OOM killer sees it. */
	bool bursting = false;
	double grow_rate = 0;
	if (v->s && g->rss_bytes && v->s->prev_rss_bytes && snap->now_usec > v->s->prev_rss_usec &&
	    g->rss_bytes > v->s->prev_rss_bytes)
		grow_rate = (double)(g->rss_bytes - v->s->prev_rss_bytes) * USEC_PER_SEC /
			    (double)(snap->now_usec - v->s->prev_rss_usec);
	if (v->s) {
		v->s->prev_rss_bytes = g->rss_bytes;
		v->s->prev_rss_usec = snap->now_usec;
	}
	if (v->fresh && grow_rate > 0) {
		/* horizon: the stats' age plus two ticks, the time the next
		 * decision takes to show in the guest */
		usec_t horizon = g->stats_age_usec + 2 * c->tick_usec;
		double ahead = grow_rate * (double)horizon / USEC_PER_SEC;
		bursting = (double)v->avail - ahead < (double)pct(v->cur, c->guest_distress_free_percent) &&
			   ahead >= (double)pct(v->cur, c->deadband_percent * 4);
		if (bursting) {
			v->burst_short_bytes = (uint64_t)(ahead - (double)v->avail) +
					       pct(v->g->max_bytes, c->guest_min_free_percent);
			sg->short_free = false;
		}
	}
	v->bursting = bursting;
	v->grow_rate = grow_rate;
}

/* Sets v->distress from the signals, and distress_why from the first of them that holds. */
static void view_distress(const struct policy_conf *c, struct gview *v, const struct gsigns *sg)
{
	const struct policy_guest *g = v->g;
	if (v->bursting)
		say(v->distress_why, sizeof v->distress_why,
		    "allocating fast: host RSS +%.0f MiB/s, available %.0f%% runs out within %.0f s",
		    v->grow_rate / MIB, pc(v->avail, v->cur),
		    (double)(g->stats_age_usec + 2 * c->tick_usec) / USEC_PER_SEC);
	else if (sg->faulting)
		say(v->distress_why, sizeof v->distress_why, "major faults %.0f/s > %.0f/s",
			 g->major_faults_per_sec, c->guest_distress_major_faults_per_sec);
	else if (sg->swapping)
		say(v->distress_why, sizeof v->distress_why, "swap-in %.0f pages/s > %.0f/s",
			 g->swap_in_pages_per_sec, c->guest_distress_swap_in_pages_per_sec);
	else if (sg->short_free && !v->grown_lately)
		say(v->distress_why, sizeof v->distress_why, "available %.1f%% < %.1f%%",
			 pc(v->avail, v->cur), c->guest_distress_free_percent);
	/* Short of free memory in stats that predate the grow just given is
	 * the shortage that grow answered, not a new one: no distress (and so
	 * no learned floor) until a sample shows the grow. */
	v->distress = sg->faulting || sg->swapping || (sg->short_free && !v->grown_lately) || v->bursting;
}

/* Keeps v's distress memory (v->s needed): when and at what size, until distress_memory_usec. */
static void remember_distress(const struct policy_snapshot *snap, struct gview *v)
{
	const struct policy_conf *c = &snap->conf;
	if (v->distress)
		v->s->distress_seen_usec = snap->now_usec ? snap->now_usec : 1;
	/* A burst is answered at once but leaves no learned floor: the guest
	 * may well free it again (its stats will tell). */
	if (v->distress && !v->bursting) {
		if (!v->s->distress_usec)
			v->s->distress_episodes++;
		v->s->distress_usec = snap->now_usec ? snap->now_usec : 1;
		v->s->distress_level_bytes = MAX(v->s->distress_level_bytes, v->cur);
	} else if (!v->distress && v->s->distress_usec &&
		   snap->now_usec - v->s->distress_usec >
		   c->distress_memory_usec << MIN(v->s->distress_episodes - 1, 8u)) {
		v->s->distress_usec = 0;
		v->s->distress_level_bytes = 0;
	}
}

/* Sets stats_behind; returns the active bytes v's floor counts, what was taken unseen as gone. */
static uint64_t view_stats_lag(const struct policy_snapshot *snap, struct gview *v,
			       const struct gsigns *sg)
{
	const struct policy_conf *c = &snap->conf;
	const struct policy_guest *g = v->g;
	/* Stats that may predate the last shrinks: count their memory as gone. */
	struct policy_guest_state *s = v->s;
	uint64_t db = deadband(c, g);
	if (!s->reached_usec && ((s->last_sign < 0 && v->cur <= s->last_target_bytes + db) ||
				 (s->last_sign > 0 && v->cur + db >= s->last_target_bytes)))
		s->reached_usec = snap->now_usec ? snap->now_usec : 1;
	bool current = v->fresh && (!s->last_sign || (s->reached_usec &&
			snap->now_usec - MIN(snap->now_usec, g->stats_age_usec) >= s->reached_usec));
	if (s->unseen_from_bytes && current)
		s->unseen_from_bytes = 0;
	/* After a grow, stats that do not show it yet must not earn a second one. */
	v->stats_behind = s->last_sign > 0 && !current;
	v->grown_lately = v->stats_behind && s->last_grow_usec &&
			  snap->now_usec - s->last_grow_usec < c->settle_usec + c->stats_max_age_usec;
	uint64_t floor_active = sg->stats_active;
	if (s->unseen_from_bytes > v->cur)
		floor_active = MIN(v->cur, sg->stats_active + (s->unseen_from_bytes - v->cur));
	return MAX(floor_active, sg->host_active);
}

/* Sets v->backed_free: the guest's free memory the host still backs (0 = unknown). */
static void view_backed_free(const struct policy_snapshot *snap, struct gview *v)
{
	const struct policy_guest *g = v->g;
	const struct policy_guest_state *s = v->s;
	/* Free memory the guest once touched stays backed by the host until
	 * the guest reuses it (or reports it, with free page reporting): of
	 * its memory, cur - resident is unbacked, and the rest of its free
	 * memory is backed. Same read as the host-side working set. */
	if (v->fresh && v->host_fresh && g->ram_resident_bytes && !g->free_page_reporting &&
	    (!s->release_usec || snap->now_usec - MIN(snap->now_usec, g->host_active_age_usec) > s->release_usec)) {
		uint64_t unbacked = v->cur > g->ram_resident_bytes ? v->cur - g->ram_resident_bytes : 0;
		v->backed_free = g->stat_free_bytes > unbacked ? g->stat_free_bytes - unbacked : 0;
	}
}

/* Sets v->lo, the lowest target every rule allows, and hold_why when v may not shrink at all. */
static void view_floor(const struct policy_snapshot *snap, struct gview *v, uint64_t floor_active)
{
	const struct policy_conf *c = &snap->conf;
	const struct policy_guest *g = v->g;
	/* Lowest allowed target. */
	uint64_t lo = MAX(g->min_bytes, floor_active + pct(v->cur, c->guest_min_free_percent));
	if (v->s->distress_usec)
		lo = MAX(lo, v->s->distress_level_bytes);
	v->lo = MIN(lo, g->max_bytes);
	if (!v->eligible)
		say(v->hold_why, sizeof v->hold_why, "%s", !g->has_balloon ? "no balloon" : "stuck");
	else if (!v->fresh)
		say(v->hold_why, sizeof v->hold_why, "stats %s", g->stats_valid ? "stale" : "missing");
	else if (v->distress)
		say(v->hold_why, sizeof v->hold_why, "in distress");
}

/* Builds v, guest i's view this tick; updates its state (RSS, distress memory, stats lag). */
void guest_view(const struct policy_snapshot *snap, struct policy_state *st,
		       size_t i, struct gview *v)
{
	struct gsigns sg;
	view_activity(snap, st, i, v, &sg);
	view_burst(snap, v, &sg);
	v->idle = MIN(v->avail, v->cur - v->active);
	/* A guest's cold page cache is idle too, but dropping it costs the
	 * guest a read from disk the next time (it counts in MemAvailable, not
	 * in MemFree): the idle trim, which runs while the host is ok, takes
	 * free memory only; under pressure the cache goes with the rest. */
	v->idle_free = v->g->stat_free_valid ? MIN(v->idle, v->g->stat_free_bytes) : v->idle;
	/* the stats' lag first: distress is judged on stats that show the last step */
	uint64_t floor_active = v->s ? view_stats_lag(snap, v, &sg) : 0;
	view_distress(&snap->conf, v, &sg);
	if (!v->s)
		return;
	remember_distress(snap, v);
	view_backed_free(snap, v);
	view_floor(snap, v, floor_active);
}

/* May v be shrunk this tick, and by how much at most? */
void shrink_capacity(const struct policy_snapshot *snap, struct gview *v, bool critical,
			    bool at_limit)
{
	const struct policy_conf *c = &snap->conf;
	if (!v->eligible || !v->fresh || v->distress || v->cur <= v->lo)
		return;
	const struct policy_guest_state *s = v->s;
	/* Allocating now (its host RSS grows by 1% of its maximum a second or
	 * more): it is using memory, not holding it idle; take from others. */
	if (v->grow_rate >= (double)pct(v->g->max_bytes, 1)) {
		say(v->hold_why, sizeof v->hold_why, "allocating, RSS +%.0f MiB/s", v->grow_rate / MIB);
		return;
	}
	/* Grown lately for a shortage its stats do not show yet: taking it
	 * back now would undo the answer before the guest used it. */
	if (v->grown_lately) {
		say(v->hold_why, sizeof v->hold_why, "grown, stats not caught up");
		return;
	}
	uint64_t db = deadband(c, v->g);
	/* Wait for the effect: the last target not yet reached. */
	if (shrink_pending(snap, v)) {
		say(v->hold_why, sizeof v->hold_why, "waiting for balloon");
		return;
	}
	if (!critical && s->last_shrink_usec && snap->now_usec - s->last_shrink_usec < c->settle_usec) {
		say(v->hold_why, sizeof v->hold_why, "settling");
		return;
	}
	uint64_t cap = at_limit ? v->cur - v->lo
		     : pct(v->g->max_bytes, critical ? c->max_shrink_percent_per_tick_critical
						      : c->max_shrink_percent_per_tick);
	/* no more than the balloon moves in one step: the rest falls to others */
	if (v->g->max_step_bytes)
		cap = MIN(cap, v->g->max_step_bytes);
	v->cap_down = MIN(cap, v->cur - v->lo);
	if (v->cap_down < MAX(db, 1)) {
		v->cap_down = 0;
		return;
	}
	v->may_shrink = true;
}

/* A shrink of ksmd's own that the balloon has not reached yet, and not given
 * up on (5 settles and a tick); not in a dry run, where nothing moves. */
bool shrink_pending(const struct policy_snapshot *snap, const struct gview *v)
{
	const struct policy_conf *c = &snap->conf;
	const struct policy_guest_state *s = v->s;
	uint64_t db = deadband(c, v->g);
	return s && !c->dry_run && s->last_sign < 0 && v->cur > s->last_target_bytes + db &&
	       snap->now_usec - s->last_shrink_usec < 5 * c->settle_usec + c->tick_usec;
}

/* A grow of ksmd's own that the balloon has not reached yet, and not given
 * up on (5 settles and a tick, as a shrink is waited for). */
bool grow_pending(const struct decision *t, const struct gview *v)
{
	const struct policy_guest_state *s = v->s;
	uint64_t db = deadband(t->c, v->g);
	return s && s->last_sign > 0 && !s->reached_usec && s->last_target_bytes > v->cur + db &&
	       t->snap->now_usec - s->last_grow_usec < 5 * t->c->settle_usec + t->c->tick_usec;
}
