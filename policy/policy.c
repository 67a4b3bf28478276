/* policy.c — the decision: snapshot in, plan out.
 *
 * The policy answers two questions every tick: does the host need memory
 * back, and which guest should give it (or get it back)?
 *
 * Host level. The guests cost the host their resident memory plus what the
 * host swapped out of them, minus what KSM saved (sum of RSS + VmSwap -
 * pages_sharing): swapped-out guest memory is the worst memory there is, so
 * the cost never improves because the host swaps. That cost is compared
 * with the budget: policy.budget; or, with policy.budget = cgroup:PATH, the
 * limit of the memory cgroup the guests run in (the real limit: going over
 * it swaps them), less limit_headroom_percent so that a burst lands in the
 * headroom; or MemTotal - reserve. The host is CRITICAL when the cost is
 * over budget, the host or the cgroup swaps out, PSI "full" is above its
 * threshold or MemAvailable is below half the reserve; it is under
 * PRESSURE when PSI "some" is above its threshold, a PSI trigger fired, or
 * MemAvailable is below the reserve. The wanted reclaim is the largest of:
 * the overshoot plus a low-water margin, the MemAvailable shortfall, and
 * under PSI alone one small step. Over budget or swapping, the whole want
 * is shed in one step (each guest down to its floor at most): the balloon
 * inflates hundreds of MiB a second, and a hard limit does not wait.
 *
 * Reclaim order: merge, balloon, never host swap. The scanner knows how many
 * duplicate pages KSM has not merged yet; that gap is the cheapest memory
 * there is. Under soft pressure the policy raises the merge urgency and lets
 * the gap cover the want for merge_grace_usec before it balloons anyone; in
 * CRITICAL it balloons for whatever the gap does not cover, at once.
 *
 * Whom to shrink. ESX's share-based allocation with an idle-memory tax
 * (Waldspurger, OSDI 2002): a guest's claim is its shares per "adjusted"
 * page, rho = S / (P * (f + k * (1 - f))), with P its pages, f the active
 * fraction and k = 1 / (1 - tax). Idle pages cost k times as much, so an idle
 * guest loses memory first even with many shares. Active memory is estimated
 * from the guest's own stats: total - available; a guest whose stats are
 * missing or too old is taken as fully active (nothing is taken from a guest
 * we cannot see), and a guest with major faults is taken as fully active too.
 * The guest's stats can be wrong about its activity (a guest that reports
 * memory available that it is in fact using), so the host adds its own
 * view when it has one (policy.host_wss, collect/wss.c): the bytes of the
 * guest's RAM the host saw touched over the last host_wss_interval. While
 * that sample is fresh (younger than three intervals) the active
 * estimate is max(stats-based active, host-side active): the host's figure
 * is a lower bound (it lags by one interval and under KVM it sees only
 * QEMU's own accesses), never a reason to count less.
 * The reclaim is handed out in small chunks, each to the guest with the
 * lowest rho at that moment, so it spreads like water-filling.
 *
 * Asymmetric control (senpai, systemd-oomd). Taking is slow: at most
 * max_shrink_percent_per_tick of the guest's maximum per step (a larger cap in
 * CRITICAL), no step smaller than the deadband (deadband_percent of the
 * guest's maximum, at most half the balloon's step: a guest over 51 GiB at
 * the default 256 MiB step was otherwise never shrunk, and every step was
 * "reached" as it was sent), and no next step before the
 * previous one took effect (actual reached target) and settle_usec passed:
 * pressure counters lag, and acting again too soon acts twice. A guest is
 * never taken below max(min, active + guest_min_free_percent of its
 * memory) - active including the host-side working set, so no shrink goes
 * below what the host saw the guest touch plus that margin - nor, for
 * distress_memory_usec after it was in distress, below the level where that
 * happened. The guest's stats are sampled on their own
 * clock (every few seconds), so after a shrink they may still describe the
 * guest as it was before the balloon took its pages: until a sample taken
 * after the balloon reached its target arrives, the available memory used
 * for that floor is lowered by what was taken since (a lower bound), or
 * back-to-back critical steps - which do not wait to settle - would each
 * count the same free memory and overshoot the floor into distress.
 * Likewise after a grow: until the stats show it, the guest gets no second
 * grow (distress or relax) for the same shortage, and is not shrunk either.
 * The stats lag a burst: a guest whose host RSS grows fast enough to use up
 * its available memory within the stats' age plus two ticks is in distress
 * at once (bursting), without the learned floor of a real distress; and
 * stats that show it short of free memory but predate the grow that
 * answered (within settle + stats_max_age of it) are that same shortage,
 * not a new distress: no floor from them either, or a guest that frees
 * its burst would be held at the burst's size for distress_memory.
 * Giving is fast: a guest in distress (available
 * below guest_distress_free_percent, major faults or swap-in above their
 * thresholds) gets up to max_grow_percent_per_tick back at once, with no
 * settle wait, when the budget allows or other guests can fund it this tick.
 * When the host has room to spare, guests that run short of free memory get
 * memory back toward their maximum, the highest claim first. Under a
 * cgroup's limit, a guest's size costs nothing until it is used (the limit
 * counts resident memory): once the cost is below limit_trim_percent of the
 * budget, where the idle trim stops, each guest gets back what ksmd's
 * shrinks took (size_owed; a release is not counted, unless pressure kept
 * it), after the settle and at most max_grow_percent_per_tick a tick, so
 * the next burst finds its memory in place instead of waiting for a grow.
 * Above that line, with the host ok and the cost not growing, a guest owed
 * memory gets back only what leaves its free memory below the idle trim's
 * line (twice guest_min_free_percent with the trim off) by a margin, within
 * the headroom below the budget less what earlier such gives left free in
 * the guests, and at most tick / (tick + lookahead) of it at once (filled
 * within a tick, it does not project the cost over the budget): a tenant
 * whose page cache the pressure took refills it, and the trim does not
 * take the memory again. A grow the balloon has
 * not reached yet is where the next give starts: a give is never computed
 * from an actual that has not moved, which would lower the grow's target.
 *
 * Idle trim: while the host is ok, a guest whose idle memory (available
 * and not seen touched) that is also free (MemFree) exceeds
 * idle_trim_percent is trimmed at the slow rate. Page cache is idle memory
 * too, but a tenant pays for dropping it with reads from disk later, and
 * the host gains nothing it needs now: the trim leaves it, and only
 * pressure takes it (there it is idle memory like any other, taxed first).
 *
 * Shrinks already sent that a balloon has not reached are still in the
 * cost: under a cgroup limit, while the cost is below the limit itself and
 * nothing swaps (the headroom), they count against the want, by the
 * guest's resident memory above the target at most (none for a release or
 * a guest with free page reporting: their balloons take unbacked pages).
 *
 * Stuck guests (the balloon module saw no progress) and guests without a
 * balloon are counted in the cost but never targeted: their share is simply
 * left to the others. Floors and maxima are clamped last, always: after
 * the balloon's own step bound (balloon.max_step, from its last target),
 * so that the target a guest's state records is the one the balloon was
 * sent; a release given back further than a step comes back in steps.
 *
 * policy_decide() runs these as steps, one function each, in this order:
 * the host's cost, trend and level; merge first; the per-guest views
 * (guest_view) and shrink capacities; distress; release (free memory the
 * host still backs is ballooned away for a moment, then given back
 * unbacked); idle trim; size back under a cgroup limit; relax; and last
 * the actions with their reasons.
 * The steps live in their own files, sharing policy/internal.h:
 * guest_view.c (the per-guest view: activity, burst, distress, floor,
 * shrink capacity), plan.c (host level, merge, reclaim distribution,
 * distress funding, releases, idle trim, size back, relax) and actions.c (the
 * actions, their reasons, and what each leaves in the guest's state).
 * This file holds the knobs, the state, policy_decide and the ring.
 *
 * Every action carries its reason as a sentence with the numbers that made
 * it, and the plan carries the host's. Nothing here reads a file or a clock. */
#include "policy/internal.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* ----------------------------------------------------------------- knobs */

void policy_conf_defaults(struct policy_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->dry_run = false;
	c->budget_bytes = 0;
	c->reserve_bytes = 1 * GIB;
	c->tick_usec = 2 * USEC_PER_SEC;
	c->idle_tax_percent = 75;
	c->max_shrink_percent_per_tick = 1;
	c->max_shrink_percent_per_tick_critical = 5;
	c->max_grow_percent_per_tick = 50;
	c->deadband_percent = 0.25;
	c->settle_usec = 4 * USEC_PER_SEC;
	c->psi_some_threshold_percent = 10;
	c->psi_full_threshold_percent = 5;
	c->swap_out_threshold_pages_per_sec = 64;
	c->guest_min_free_percent = 10;
	c->guest_distress_free_percent = 5;
	c->guest_distress_major_faults_per_sec = 200;
	c->guest_distress_swap_in_pages_per_sec = 64;
	c->stats_max_age_usec = 10 * USEC_PER_SEC;
	c->distress_memory_usec = 300 * USEC_PER_SEC;
	c->budget_low_water_percent = 2;
	c->limit_headroom_percent = 10;
	c->limit_trim_percent = 75;
	c->merge_grace_usec = 20 * USEC_PER_SEC;
	c->idle_trim_percent = 30;
	c->lookahead_usec = 4 * USEC_PER_SEC;
	c->host_wss = true;
	c->host_wss_interval_usec = 10 * USEC_PER_SEC;
	c->host_wss_cpu_percent = 1;
	c->release_min_bytes = 64 * MIB;
}

#define K(n, t, f, u, lo, hi, d, h) \
	{ n, POLICY_KNOB_##t, offsetof(struct policy_conf, f), u, lo, hi, d, true, h }

const struct policy_knob policy_knobs[] = {
	K("dry_run", BOOL, dry_run, "bool", 0, 1, "no",
	  "decide and report, act on nothing"),
	K("budget", BUDGET, budget_bytes, "bytes or cgroup:PATH", 0, 1e18, "0",
	  "guest memory the host may hold (RSS plus swapped out, minus merged); 0 = MemTotal minus "
	  "reserve; cgroup:PATH = the limit of that memory cgroup (PATH as /proc/PID/cgroup names it, "
	  "or a full path under the memory controller's mount), followed live"),
	K("reserve", SIZE, reserve_bytes, "bytes", 0, 1e18, "1G",
	  "host memory kept out of the budget; MemAvailable below it is pressure"),
	K("tick", DURATION, tick_usec, "usec", 1e5, 3.6e9, "2s",
	  "interval between decisions"),
	K("idle_tax_percent", PERCENT, idle_tax_percent, "percent", 0, 99, "75",
	  "ESX idle-memory tax: idle memory is reclaimed first"),
	K("max_shrink_percent_per_tick", PERCENT, max_shrink_percent_per_tick, "percent", 0.01, 100, "1",
	  "largest step down, percent of the guest's maximum, under soft pressure"),
	K("max_shrink_percent_per_tick_critical", PERCENT, max_shrink_percent_per_tick_critical, "percent",
	  0.01, 100, "5", "largest step down when over budget, swapping or PSI full"),
	K("max_grow_percent_per_tick", PERCENT, max_grow_percent_per_tick, "percent", 0.01, 100, "50",
	  "largest step up, percent of the guest's maximum"),
	K("deadband_percent", PERCENT, deadband_percent, "percent", 0, 10, "0.25",
	  "changes smaller than this percent of the guest's maximum (at most half of balloon.max_step) are skipped"),
	K("settle", DURATION, settle_usec, "usec", 0, 3.6e9, "4s",
	  "after shrinking a guest, wait this long before shrinking it again"),
	K("psi_some_threshold", PERCENT, psi_some_threshold_percent, "percent", 0, 100, "10",
	  "host PSI memory some avg10 above this is pressure"),
	K("psi_full_threshold", PERCENT, psi_full_threshold_percent, "percent", 0, 100, "5",
	  "host PSI memory full avg10 above this is critical"),
	K("swap_out_threshold", DOUBLE, swap_out_threshold_pages_per_sec, "pages/s", 0, 1e9, "64",
	  "host swap-out rate above this is critical"),
	K("guest_min_free_percent", PERCENT, guest_min_free_percent, "percent", 0, 90, "10",
	  "a guest keeps at least this percent of its memory available when shrunk"),
	K("guest_distress_free_percent", PERCENT, guest_distress_free_percent, "percent", 0, 90, "5",
	  "guest available below this percent of its memory is distress"),
	K("guest_distress_major_faults", DOUBLE, guest_distress_major_faults_per_sec, "faults/s", 0, 1e9,
	  "200", "guest major faults per second above this is distress"),
	K("guest_distress_swap_in", DOUBLE, guest_distress_swap_in_pages_per_sec, "pages/s", 0, 1e9, "64",
	  "guest swap-in pages per second above this is distress"),
	K("stats_max_age", DURATION, stats_max_age_usec, "usec", 0, 3.6e9, "10s",
	  "guest stats older than this are not trusted: the guest is not shrunk"),
	K("distress_memory", DURATION, distress_memory_usec, "usec", 0, 8.64e10, "5m",
	  "after distress, do not shrink the guest below that level for this long"),
	K("budget_low_water_percent", PERCENT, budget_low_water_percent, "percent", 0, 50, "2",
	  "reclaim until guest cost is this percent of the budget below it"),
	K("limit_headroom_percent", PERCENT, limit_headroom_percent, "percent", 0, 50, "10",
	  "when the budget is a cgroup's limit, keep the guests' cost this percent of the limit below it: "
	  "a burst lands in that headroom while the balloons shed, not in swap"),
	K("limit_trim_percent", PERCENT, limit_trim_percent, "percent", 0, 100, "75",
	  "when the budget is a cgroup's limit, trim idle memory only while the guests' cost is above "
	  "this percent of the budget: below it, idle memory costs nothing, a trimmed guest can map "
	  "less, and what ksmd took is given back"),
	K("merge_grace", DURATION, merge_grace_usec, "usec", 0, 3.6e9, "20s",
	  "under soft pressure, let unmerged duplicates cover the want this long before ballooning"),
	K("idle_trim_percent", PERCENT, idle_trim_percent, "percent", 0, 90, "30",
	  "without pressure, trim a guest with more than this percent of its memory idle and free (page "
	  "cache is left to it), at the slow rate; 0 = off"),
	K("lookahead", DURATION, lookahead_usec, "usec", 0, 6e7, "4s",
	  "reclaim when the guest cost, growing as in the last tick, would pass the budget this soon"),
	K("host_wss", BOOL, host_wss, "bool", 0, 1, "yes",
	  "estimate each guest's working set from the host (clear_refs + smaps Referenced) and never "
	  "count less than it as active; clearing makes the guest's pages look idle to host reclaim"),
	K("release_min", SIZE, release_min_bytes, "bytes", 0, 1e15, "64M",
	  "a guest holding more free memory than this that the host still backs (pages it touched once, "
	  "then freed) is ballooned over its free memory for a moment and given its size back: the host "
	  "drops those pages, the guest keeps its size; not done for guests with free page reporting; "
	  "0 = off"),
	K("host_wss_interval", DURATION, host_wss_interval_usec, "usec", 1e6, 6e8, "10s",
	  "interval of the host-side working-set sample (clear, wait, read); a sample older than three "
	  "times this is not used, and an interval in which the scanner read the guest (its reads mark "
	  "pages accessed) is dropped and started again after the scanner is done with it, so keep it "
	  "shorter than scanner.pass_interval"),
	K("host_wss_cpu_percent", DOUBLE, host_wss_cpu_percent, "percent", 0, 100, "1",
	  "at most this percent of a core for the host-side working set of all guests together: its "
	  "clear and its read walk every page table of a guest's RAM, so on a host with more memory "
	  "than that allows, every guest's cycle (clear, host_wss_interval, read) starts less often, "
	  "once a period that fits (at most 10 minutes), and a sample stays in use for three periods; "
	  "0 = no bound"),
};
const size_t policy_n_knobs = sizeof(policy_knobs) / sizeof(policy_knobs[0]);

static double knob_value(const struct policy_conf *c, const struct policy_knob *k)
{
	const char *p = (const char *)c + k->offset;
	switch (k->type) {
	case POLICY_KNOB_BOOL: return *(const bool *)p;
	case POLICY_KNOB_SIZE:
	case POLICY_KNOB_BUDGET: return (double)*(const uint64_t *)p;
	case POLICY_KNOB_DURATION: return (double)*(const usec_t *)p;
	case POLICY_KNOB_PERCENT:
	case POLICY_KNOB_DOUBLE: return *(const double *)p;
	}
	return 0;
}

int policy_conf_validate(const struct policy_conf *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < policy_n_knobs; i++) {
		const struct policy_knob *k = &policy_knobs[i];
		double v = knob_value(c, k);
		if (!(v >= k->min && v <= k->max)) {
			say(err, errlen, "policy.%s = %g is outside [%g, %g]", k->name, v, k->min, k->max);
			return -EINVAL;
		}
	}
	if (c->guest_distress_free_percent > c->guest_min_free_percent) {
		say(err, errlen, "policy.guest_distress_free_percent (%g) must not exceed "
			 "policy.guest_min_free_percent (%g)", c->guest_distress_free_percent,
			 c->guest_min_free_percent);
		return -EINVAL;
	}
	if (c->idle_trim_percent > 0 && c->idle_trim_percent <= 2 * c->guest_min_free_percent) {
		say(err, errlen, "policy.idle_trim_percent (%g) must be 0 or above twice "
		    "policy.guest_min_free_percent (%g)", c->idle_trim_percent, c->guest_min_free_percent);
		return -EINVAL;
	}
	return 0;
}

const char *policy_host_level_name(enum policy_host_level l)
{
	switch (l) {
	case POLICY_HOST_OK: return "ok";
	case POLICY_HOST_PRESSURE: return "pressure";
	case POLICY_HOST_CRITICAL: return "critical";
	}
	return "?";
}

const char *policy_merge_urgency_name(enum policy_merge_urgency u)
{
	switch (u) {
	case POLICY_MERGE_IDLE: return "idle";
	case POLICY_MERGE_NORMAL: return "normal";
	case POLICY_MERGE_URGENT: return "urgent";
	}
	return "?";
}

void policy_state_init(struct policy_state *st)
{
	memset(st, 0, sizeof(*st));
}

uint64_t policy_budget_bytes(const struct policy_snapshot *snap)
{
	if (snap->conf.budget_cgroup[0] && snap->host.cg_valid && snap->host.cg_limited)
		return snap->host.cg_limit_bytes - pct(snap->host.cg_limit_bytes, snap->conf.limit_headroom_percent);
	if (snap->conf.budget_bytes)
		return snap->conf.budget_bytes;
	uint64_t t = snap->host.mem_total_bytes, r = snap->conf.reserve_bytes;
	return t > r ? t - r : 0;
}

bool policy_guest_in_distress(const struct policy_state *st, const struct policy_plan *plan, uint64_t id)
{
	for (size_t i = 0; id && i < POLICY_MAX_GUESTS; i++)
		if (st->guests[i].id == id)
			return st->guests[i].distress_seen_usec &&
			       st->guests[i].distress_seen_usec == (plan->now_usec ? plan->now_usec : 1);
	return false;
}

/* Frees the state slot of every guest that is not in the snapshot. */
static void forget_departed(const struct policy_snapshot *snap, struct policy_state *st, size_t n)
{
	for (size_t j = 0; j < POLICY_MAX_GUESTS; j++) {
		bool present = false;
		for (size_t i = 0; i < n && st->guests[j].id; i++)
			present |= (snap->guests[i].id ? snap->guests[i].id : i + 1) == st->guests[j].id;
		if (!present)
			st->guests[j].id = 0;
	}
}

size_t policy_decide(const struct policy_snapshot *snap, struct policy_state *st,
		     struct policy_plan *out)
{
	struct gview views[POLICY_MAX_GUESTS];
	struct decision t = {
		.snap = snap, .c = &snap->conf, .h = &snap->host, .st = st, .out = out,
		.views = views, .n = MIN(snap->n_guests, (size_t)POLICY_MAX_GUESTS),
	};

	memset(out, 0, sizeof(*out));
	out->now_usec = snap->now_usec;
	out->dry_run = snap->conf.dry_run;
	usec_t prev_tick_usec = st->last_tick_usec;
	uint64_t prev_used = st->prev_used_bytes;
	st->ticks++;
	st->last_tick_usec = snap->now_usec;
	forget_departed(snap, st, t.n);

	/* The host: its cost, where it is heading, and its level. */
	host_cost(&t);
	cost_trend(&t, prev_tick_usec, prev_used);
	host_level(&t);

	/* Merge first: what KSM can still merge covers some of the want. */
	merge_urgency(&t);
	merge_cover(&t);

	/* The guests: their views, and how much each may give. */
	for (size_t i = 0; i < t.n; i++)
		guest_view(snap, st, i, &views[i]);
	shrink_limits(&t);

	/* Who gives and who gets: distress first, then releases, idle trim
	 * and relax, each only where the ones before left room. */
	fund_distress(&t);
	plan_releases(&t);
	idle_trim(&t);
	size_back(&t);
	relax(&t);

	/* The actions, floors and maxima clamped last. */
	for (size_t i = 0; i < t.n; i++)
		emit_action(&t, i);
	return out->n_actions;
}

/* ----------------------------------------------------------------- ring */

void policy_ring_init(struct policy_ring *r)
{
	memset(r, 0, sizeof(*r));
}

void policy_ring_push(struct policy_ring *r, const struct policy_ring_entry *e)
{
	r->e[r->next] = *e;
	r->next = (r->next + 1) % POLICY_RING_LEN;
	if (r->count < POLICY_RING_LEN)
		r->count++;
	r->total++;
	if ((size_t)e->kind < sizeof r->by_kind / sizeof r->by_kind[0])
		r->by_kind[e->kind]++;
}

void policy_ring_push_plan(struct policy_ring *r, const struct policy_plan *plan)
{
	for (size_t i = 0; i < plan->n_actions; i++) {
		const struct policy_action *a = &plan->actions[i];
		struct policy_ring_entry e;
		memset(&e, 0, sizeof e);
		e.when_usec = plan->now_usec;
		e.dry_run = plan->dry_run;
		memcpy(e.guest, a->guest, sizeof e.guest);
		e.kind = a->kind;
		e.target_bytes = a->target_bytes;
		e.delta_bytes = a->delta_bytes;
		memcpy(e.reason, a->reason, sizeof e.reason);
		policy_ring_push(r, &e);
	}
}

const struct policy_ring_entry *policy_ring_get(const struct policy_ring *r, size_t i)
{
	if (i >= r->count)
		return NULL;
	size_t idx = (r->next + POLICY_RING_LEN - 1 - i) % POLICY_RING_LEN;
	return &r->e[idx];
}
