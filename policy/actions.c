/* actions.c — the plan's actions: each guest's clamped step, its reason, what it leaves in the state.
 *
 * Every action carries its reason as a sentence with the numbers that made
 * it (policy.c's opening essay). */
#include "policy/internal.h"

#include <inttypes.h>
#include <string.h>

static struct policy_action *add_action(struct policy_plan *out, const struct gview *v, size_t idx,
					uint64_t target, enum policy_reason_code why)
{
	struct policy_action *a = &out->actions[out->n_actions++];
	memset(a, 0, sizeof(*a));
	a->guest_index = idx;
	a->guest_id = v->g->id;
	say(a->guest, sizeof a->guest, "%s", v->g->name);
	a->target_bytes = target;
	a->delta_bytes = (int64_t)target - (int64_t)v->cur;
	a->kind = a->delta_bytes < 0 ? POLICY_ACT_SHRINK : POLICY_ACT_GROW;
	a->why = why;
	return a;
}

/* Record the step in the guest's state. */
static void remember(const struct policy_snapshot *snap, struct gview *v, uint64_t target, int sign)
{
	struct policy_guest_state *s = v->s;
	if (s->last_sign && s->last_sign != sign)
		s->sign_changes++;
	/* the stats catch up once a sample follows this step's effect */
	s->reached_usec = 0;
	if (sign < 0 && !s->unseen_from_bytes)
		s->unseen_from_bytes = v->cur;
	else if (sign > 0)
		s->unseen_from_bytes = 0;
	s->last_sign = sign;
	s->last_target_bytes = target;
	if (sign < 0)
		s->last_shrink_usec = snap->now_usec ? snap->now_usec : 1;
	else
		s->last_grow_usec = snap->now_usec ? snap->now_usec : 1;
}

/* Picks v's step, clamped to [min, max], into *target, *why and *sign (-1 a
 * take, +1 a give: the intent, which a step of the balloon from a target it
 * has not reached may land on the other side of the actual from); false
 * when it has none worth taking. */
static bool action_target(const struct decision *t, const struct gview *v, uint64_t *target_out,
			  enum policy_reason_code *why_out, int *sign_out)
{
	const struct policy_guest *g = v->g;
	uint64_t db = deadband(t->c, g);
	uint64_t target = v->cur;
	enum policy_reason_code why;
	int sign = -1;
	if (v->give > 0) {
		sign = 1;
		/* a grow the balloon has not reached yet is where this one starts:
		 * a give computed from the unmoved actual never lowers it */
		uint64_t base = grow_pending(t, v) ? MAX(v->cur, v->s->last_target_bytes) : v->cur;
		target = base + v->give;
		why = v->distress ? POLICY_WHY_GUEST_DISTRESS : POLICY_WHY_RELAX;
	} else if (v->take > 0) {
		target = v->cur - v->take;
		why = v->trim ? POLICY_WHY_IDLE_TRIM : POLICY_WHY_HOST_PRESSURE;
	} else if (v->release_back) {
		target = v->s->release_from_bytes;
		why = POLICY_WHY_RELEASE;
		sign = 1;
	} else if (v->release_take) {
		target = v->cur - v->release_take;
		why = POLICY_WHY_RELEASE;
	} else if (g->balloon_target_bytes && (g->balloon_target_bytes < g->min_bytes ||
					       g->balloon_target_bytes > g->max_bytes)) {
		target = g->balloon_target_bytes;
		why = POLICY_WHY_LIMIT;
	} else {
		return false;
	}
	/* The balloon's bounds, as balloon_clamp_target applies them: its
	 * step from its last target, then floors and maxima, always. The target
	 * recorded is the one the balloon is sent, or a guest would never be
	 * seen to reach it and would be held as "not caught up" long after. */
	target = clamp_step_range(target, g->balloon_target_bytes ? g->balloon_target_bytes : v->cur,
				  g->max_step_bytes, g->min_bytes, g->max_bytes);
	if (why == POLICY_WHY_LIMIT)
		sign = target < v->cur ? -1 : 1;
	uint64_t d = target > v->cur ? target - v->cur : v->cur - target;
	if (why != POLICY_WHY_LIMIT && why != POLICY_WHY_GUEST_DISTRESS && d < MAX(db, 1))
		return false;
	if (d == 0 && why != POLICY_WHY_LIMIT)
		return false;
	if (why == POLICY_WHY_LIMIT && target == g->balloon_target_bytes)
		return false;
	*target_out = target;
	*why_out = why;
	*sign_out = sign;
	return true;
}

/* Writes a host-pressure shrink's reason: the host's, and v's claim ranked among the shrinkable. */
static void explain_pressure(const struct decision *t, const struct gview *v, struct policy_action *a,
			     const char *ds, const char *ts)
{
	const struct policy_conf *c = t->c;
	const struct policy_guest *g = v->g;
	double r = rho(v, v->cur, c->idle_tax_percent);
	unsigned rank = 1, cands = 0;
	for (size_t j = 0; j < t->n; j++) {
		if (!t->views[j].may_shrink)
			continue;
		cands++;
		if (&t->views[j] != v && rho(&t->views[j], t->views[j].cur, c->idle_tax_percent) < r)
			rank++;
	}
	char rk[48] = "lowest";
	if (rank > 1)
		say(rk, sizeof rk, "rank %u of %u in", rank, cands);
	say(a->reason, sizeof a->reason,
	    "%s -%s to %s: %s; %s available %.0f%%, %s shares per active page "
	    "(%.3g, %" PRIu64 " shares, active %.0f%%)",
	    g->name, ds, ts, t->out->host_reason, g->name, pc(v->avail, v->cur), rk,
	    r * 1000.0, g->shares ? g->shares : DEFAULT_SHARES, pc(v->active, v->cur));
}

/* Writes action a's reason: the step, and the numbers that made it. */
static void explain_action(const struct decision *t, const struct gview *v, struct policy_action *a)
{
	const struct policy_conf *c = t->c;
	const struct policy_guest *g = v->g;
	const char *b1 = t->used_s, *b2 = t->budget_s;
	uint64_t target = a->target_bytes;
	uint64_t d = target > v->cur ? target - v->cur : v->cur - target;
	char ds[32], ts[32];
	fmt_size(d, ds, sizeof ds);
	fmt_size(target, ts, sizeof ts);
	switch (a->why) {
	case POLICY_WHY_HOST_PRESSURE:
		explain_pressure(t, v, a, ds, ts);
		break;
	case POLICY_WHY_GUEST_DISTRESS:
		say(a->reason, sizeof a->reason, "%s +%s to %s: %s in distress, %s%s",
			 g->name, ds, ts, g->name, v->distress_why,
			 t->growth > t->fundable ? " (partly funded)" : "");
		break;
	case POLICY_WHY_RELAX:
		if (v->size_back) {
			char ob[32], ub[32];
			fmt_size(v->s->size_owed_bytes, ob, sizeof ob);
			fmt_size(pct(t->budget, c->limit_trim_percent), ub, sizeof ub);
			if (v->size_back_part)
				say(a->reason, sizeof a->reason,
				    "%s +%s to %s: its size back in part (ksmd took %s): up to %.0f%% of it "
				    "free (%s), within the budget's headroom (guests use %s of budget %s, "
				    "above %.0f%% = %s)",
				    g->name, ds, ts, ob, trim_line_percent(c),
				    c->idle_trim_percent > 0 ? "where the idle trim starts" : "the idle trim is off",
				    b1, b2, c->limit_trim_percent, ub);
			else
				say(a->reason, sizeof a->reason,
				    "%s +%s to %s: its size back (ksmd took %s); under the cgroup limit it costs "
				    "the host nothing until used (guests use %s < %.0f%% of budget %s = %s)",
				    g->name, ds, ts, ob, b1, c->limit_trim_percent, b2, ub);
			break;
		}
		say(a->reason, sizeof a->reason,
			 "%s +%s to %s: host has room (%s of budget %s); %s available %.0f%% < %.0f%%",
			 g->name, ds, ts, b1, b2, g->name, pc(v->avail, v->cur), 2 * c->guest_min_free_percent);
		break;
	case POLICY_WHY_IDLE_TRIM: {
		char fr[24] = "";
		if (g->stat_free_valid)
			say(fr, sizeof fr, ", free %.0f%%", pc(g->stat_free_bytes, v->cur));
		if (v->host_fresh)
			say(a->reason, sizeof a->reason,
			    "%s -%s to %s: idle memory, %s idle and free %.0f%% > %.0f%% (available %.0f%%%s, "
			    "host saw %.0f%% touched); host ok (%s of budget %s)",
			    g->name, ds, ts, g->name, pc(v->idle_free, v->cur), c->idle_trim_percent,
			    pc(v->avail, v->cur), fr, pc(MIN(g->host_active_bytes, v->cur), v->cur), b1, b2);
		else
			say(a->reason, sizeof a->reason,
			    "%s -%s to %s: idle memory, %s idle and free %.0f%% > %.0f%% (available %.0f%%%s); "
			    "host ok (%s of budget %s)",
			    g->name, ds, ts, g->name, pc(v->idle_free, v->cur), c->idle_trim_percent,
			    pc(v->avail, v->cur), fr, b1, b2);
		break;
	}
	case POLICY_WHY_RELEASE:
		if (v->release_back && target < v->s->release_from_bytes)
			say(a->reason, sizeof a->reason,
			    "%s +%s to %s: release done, the guest gets its size back (%.0f MiB, in the "
			    "balloon's steps; the pages it took are no longer backed by the host)",
			    g->name, ds, ts, (double)v->s->release_from_bytes / MIB);
		else if (v->release_back)
			say(a->reason, sizeof a->reason,
			    "%s +%s to %s: release done, the guest gets its size back (the pages the balloon "
			    "took are no longer backed by the host)", g->name, ds, ts);
		else if (v->s->release_from_bytes)
			say(a->reason, sizeof a->reason,
			    "%s -%s to %s for a moment: release, on in the balloon's steps to %.0f MiB "
			    "(then back to %.0f MiB)", g->name, ds, ts,
			    (double)v->s->release_to_bytes / MIB, (double)v->s->release_from_bytes / MIB);
		else
			say(a->reason, sizeof a->reason,
			    "%s -%s to %s for a moment: release, %s holds %.0f MiB of free memory the host "
			    "still backs (free %.0f MiB, host backs %.0f of its %.0f MiB): its free memory "
			    "less its margin",
			    g->name, ds, ts, g->name, (double)v->backed_free / MIB,
			    (double)g->stat_free_bytes / MIB, (double)g->ram_resident_bytes / MIB,
			    (double)v->cur / MIB);
		break;
	case POLICY_WHY_LIMIT:
		say(a->reason, sizeof a->reason, "%s to %s: target kept within [min, max]",
			 g->name, ts);
		break;
	}
}

/* Records action a, meant as sign (-1 a take, +1 a give), in v's state: the
 * step, a release's start or end, a distress floor. */
static void record_action(const struct policy_snapshot *snap, struct gview *v, const struct policy_action *a,
			  int sign)
{
	uint64_t target = a->target_bytes;
	remember(snap, v, target, sign);
	if (a->why == POLICY_WHY_RELEASE) {
		if (v->release_back) {
			/* given back whole, or in the balloon's steps: the
			 * next step once this one is reached (plan_releases) */
			v->s->release_to_bytes = 0;
			if (target >= v->s->release_from_bytes)
				v->s->release_from_bytes = 0;
		} else if (!v->s->release_from_bytes) {
			/* a release begins: down to cur - release_take, in the
			 * balloon's steps when it is further than one */
			v->s->release_from_bytes = v->cur;
			v->s->release_to_bytes = v->cur - v->release_take;
			v->s->release_usec = snap->now_usec ? snap->now_usec : 1;
		}
	}
	/* What ksmd's shrinks take is owed back (under a cgroup limit, plan.c's
	 * size_back); a release gives back itself, a clamp is no choice. */
	if (a->why != POLICY_WHY_RELEASE && a->why != POLICY_WHY_LIMIT) {
		if (sign < 0 && a->delta_bytes < 0)
			v->s->size_owed_bytes += (uint64_t)-a->delta_bytes;
		else if (sign > 0 && a->delta_bytes > 0)
			v->s->size_owed_bytes -= MIN(v->s->size_owed_bytes, (uint64_t)a->delta_bytes);
	}
	/* A give in part is counted against the headroom while it stays free
	 * in the guest (size_back); a shrink ends that. */
	if (sign < 0)
		v->s->part_given_bytes = 0;
	else if (v->size_back_part && a->delta_bytes > 0)
		v->s->part_given_bytes += (uint64_t)a->delta_bytes;
	/* The answer to distress is the new learned floor. */
	if (a->why == POLICY_WHY_GUEST_DISTRESS && !v->bursting)
		v->s->distress_level_bytes = MAX(v->s->distress_level_bytes, target);
}

/* Adds guest i's action to the plan, if it has one, with its reason, and records it. */
void emit_action(struct decision *t, size_t i)
{
	struct gview *v = &t->views[i];
	uint64_t target;
	enum policy_reason_code why;
	int sign;
	if (!v->eligible || !action_target(t, v, &target, &why, &sign))
		return;
	struct policy_action *a = add_action(t->out, v, i, target, why);
	explain_action(t, v, a);
	/* a step from a target the balloon has not reached that lands on the
	 * other side of the actual: the kind and the state follow the intent */
	if ((sign < 0) != (a->delta_bytes < 0)) {
		a->kind = sign < 0 ? POLICY_ACT_SHRINK : POLICY_ACT_GROW;
		size_t l = strlen(a->reason);
		char fb[32];
		fmt_size(v->g->balloon_target_bytes, fb, sizeof fb);
		say(a->reason + l, sizeof a->reason - l, " [a step of the balloon from its target %s]", fb);
	}
	record_action(t->snap, v, a, sign);
}
