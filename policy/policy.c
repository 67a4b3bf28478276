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
 * CRITICAL), no step smaller than the deadband, and no next step before the
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
 * at once (bursting), without the learned floor of a real distress.
 * Giving is fast: a guest in distress (available
 * below guest_distress_free_percent, major faults or swap-in above their
 * thresholds) gets up to max_grow_percent_per_tick back at once, with no
 * settle wait, when the budget allows or other guests can fund it this tick.
 * When the host has room to spare, guests that run short of free memory get
 * memory back toward their maximum, the highest claim first.
 *
 * Stuck guests (the balloon module saw no progress) and guests without a
 * balloon are counted in the cost but never targeted: their share is simply
 * left to the others. Floors and maxima are clamped last, always.
 *
 * policy_decide() runs these as steps, one static function each, in this
 * order: the host's cost, trend and level; merge first; the per-guest views
 * (guest_view) and shrink capacities; distress; release (free memory the
 * host still backs is ballooned away for a moment, then given back
 * unbacked); idle trim; relax; and last the actions with their reasons.
 *
 * Every action carries its reason as a sentence with the numbers that made
 * it, and the plan carries the host's. Nothing here reads a file or a clock. */
#include "policy/policy.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_SHARES 1000

/* snprintf that may truncate: reasons are cut at their fixed size. */
__attribute__((format(printf, 3, 4)))
static void say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

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
	  "changes smaller than this percent of the guest's maximum are skipped"),
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
	  "this percent of the budget: below it, idle memory costs nothing, and a trimmed guest can "
	  "map less"),
	K("merge_grace", DURATION, merge_grace_usec, "usec", 0, 3.6e9, "20s",
	  "under soft pressure, let unmerged duplicates cover the want this long before ballooning"),
	K("idle_trim_percent", PERCENT, idle_trim_percent, "percent", 0, 90, "30",
	  "without pressure, trim a guest with more than this percent available, at the slow rate; 0 = off"),
	K("lookahead", DURATION, lookahead_usec, "usec", 0, 6e7, "4s",
	  "reclaim when the guest cost, growing as in the last tick, would pass the budget this soon"),
	K("host_wss", BOOL, host_wss, "bool", 0, 1, "yes",
	  "estimate each guest's working set from the host (clear_refs + smaps Referenced) and never "
	  "count less than it as active; clearing makes the guest's pages look idle to host reclaim"),
	K("release_min", SIZE, release_min_bytes, "bytes", 0, 1e15, "64M",
	  "a guest holding more free memory than this that the host still backs (pages it touched once, "
	  "then freed) is ballooned over it for a moment and given its size back: the host drops those "
	  "pages, the guest keeps its size; not done for guests with free page reporting; 0 = off"),
	K("host_wss_interval", DURATION, host_wss_interval_usec, "usec", 1e6, 6e8, "10s",
	  "interval of the host-side working-set sample (clear, wait, read); a sample older than three "
	  "times this is not used, and an interval in which the scanner read the guest (its reads mark "
	  "pages accessed) is dropped and started again after the scanner is done with it, so keep it "
	  "shorter than scanner.pass_interval"),
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

static uint64_t pct(uint64_t v, double percent);

uint64_t policy_budget_bytes(const struct policy_snapshot *snap)
{
	if (snap->conf.budget_cgroup[0] && snap->host.cg_valid && snap->host.cg_limited)
		return snap->host.cg_limit_bytes - pct(snap->host.cg_limit_bytes, snap->conf.limit_headroom_percent);
	if (snap->conf.budget_bytes)
		return snap->conf.budget_bytes;
	uint64_t t = snap->host.mem_total_bytes, r = snap->conf.reserve_bytes;
	return t > r ? t - r : 0;
}

/* --------------------------------------------------------- per-guest view */

struct gview {
	const struct policy_guest *g;
	struct policy_guest_state *s;
	bool eligible;          /* may be targeted at all */
	bool fresh;             /* stats trusted */
	bool distress;
	bool bursting;          /* distress foreseen from the host's RSS growth, not (yet) in its stats */
	double grow_rate;       /* host RSS growth since the last tick, bytes/s */
	uint64_t burst_short_bytes; /* bursting: what it lacks before an answer lands, plus its free margin */
	uint64_t cur;           /* actual bytes */
	uint64_t avail;         /* available bytes (clamped to cur; 0 if unknown) */
	uint64_t active;        /* estimated active bytes */
	uint64_t idle;          /* bytes neither the stats nor the host saw in use: cur - active, at most avail */
	bool host_fresh;        /* host-side working set present and fresh */
	bool host_bound;        /* it raised the active estimate above the stats' */
	uint64_t lo;            /* lowest target allowed by every rule */
	uint64_t cap_down;      /* bytes it may give this tick */
	bool may_shrink;
	uint64_t take;          /* bytes assigned to give this tick */
	bool trim;              /* the take is an idle trim, not host pressure */
	uint64_t give;          /* bytes assigned to receive this tick */
	char distress_why[96];
	char hold_why[64];      /* why it may not shrink, for the summary */
	bool stats_behind;      /* grown lately; its stats predate the grow's effect */
	uint64_t backed_free;   /* free memory in the guest that the host still backs (0 = unknown) */
	uint64_t release_take;  /* a release this tick: bytes the balloon takes for a moment */
	bool release_back;      /* a release is done: give the guest its size back */
};

static uint64_t pct(uint64_t v, double percent)
{
	double r = (double)v * percent / 100.0;
	return r <= 0 ? 0 : (uint64_t)r;
}

static double pc(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

bool policy_guest_in_distress(const struct policy_state *st, const struct policy_plan *plan, uint64_t id)
{
	for (size_t i = 0; id && i < POLICY_MAX_GUESTS; i++)
		if (st->guests[i].id == id)
			return st->guests[i].distress_seen_usec &&
			       st->guests[i].distress_seen_usec == (plan->now_usec ? plan->now_usec : 1);
	return false;
}

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

/* Shares per adjusted page (ESX), with P = pages now. */
static double rho(const struct gview *v, uint64_t bytes, double tax)
{
	double shares = v->g->shares ? (double)v->g->shares : DEFAULT_SHARES;
	double pages = (double)bytes / 4096.0;
	if (pages < 1)
		pages = 1;
	double f = bytes ? (double)MIN(v->active, bytes) / (double)bytes : 1;
	double k = 1.0 / (1.0 - tax / 100.0);
	return shares / (pages * (f + k * (1 - f)));
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
			g->host_active_age_usec <= 3 * c->host_wss_interval_usec;
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
	else if (sg->short_free)
		say(v->distress_why, sizeof v->distress_why, "available %.1f%% < %.1f%%",
			 pc(v->avail, v->cur), c->guest_distress_free_percent);
	v->distress = sg->faulting || sg->swapping || sg->short_free || v->bursting;
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
	uint64_t db = pct(g->max_bytes, c->deadband_percent);
	if (!s->reached_usec && ((s->last_sign < 0 && v->cur <= s->last_target_bytes + db) ||
				 (s->last_sign > 0 && v->cur + db >= s->last_target_bytes)))
		s->reached_usec = snap->now_usec ? snap->now_usec : 1;
	bool current = v->fresh && (!s->last_sign || (s->reached_usec &&
			snap->now_usec - MIN(snap->now_usec, g->stats_age_usec) >= s->reached_usec));
	if (s->unseen_from_bytes && current)
		s->unseen_from_bytes = 0;
	/* After a grow, stats that do not show it yet must not earn a second one. */
	v->stats_behind = s->last_sign > 0 && !current;
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
static void guest_view(const struct policy_snapshot *snap, struct policy_state *st,
		       size_t i, struct gview *v)
{
	struct gsigns sg;
	view_activity(snap, st, i, v, &sg);
	view_burst(snap, v, &sg);
	v->idle = MIN(v->avail, v->cur - v->active);
	view_distress(&snap->conf, v, &sg);
	if (!v->s)
		return;
	remember_distress(snap, v);
	uint64_t floor_active = view_stats_lag(snap, v, &sg);
	view_backed_free(snap, v);
	view_floor(snap, v, floor_active);
}

/* May v be shrunk this tick, and by how much at most? */
static void shrink_capacity(const struct policy_snapshot *snap, struct gview *v, bool critical,
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
	if (v->stats_behind && s->last_grow_usec &&
	    snap->now_usec - s->last_grow_usec < c->settle_usec + c->stats_max_age_usec) {
		say(v->hold_why, sizeof v->hold_why, "grown, stats not caught up");
		return;
	}
	uint64_t db = pct(v->g->max_bytes, c->deadband_percent);
	/* Wait for the effect: the last target not yet reached. */
	if (!c->dry_run && s->last_sign < 0 && v->cur > s->last_target_bytes + db &&
	    snap->now_usec - s->last_shrink_usec < 5 * c->settle_usec + c->tick_usec) {
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
	v->cap_down = MIN(cap, v->cur - v->lo);
	if (v->cap_down < MAX(db, 1)) {
		v->cap_down = 0;
		return;
	}
	v->may_shrink = true;
}

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

static void fmt_size(uint64_t b, char *buf, size_t len)
{
	format_size(b, buf, len);
}

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

/* ------------------------------------------------------------- decision */

/* One call of policy_decide: its inputs, and the host-wide figures its
 * steps set in turn (each step's comment names them) for the later ones. */
struct decision {
	const struct policy_snapshot *snap;
	const struct policy_conf *c;
	const struct policy_host *h;
	struct policy_state *st;
	struct policy_plan *out;
	struct gview *views;
	size_t n;               /* guests in views */
	uint64_t swapped;       /* guest memory the host swapped out */
	uint64_t used;          /* the guests' cost: RSS + swapped - merged */
	uint64_t budget;        /* lowered to what the host can give now */
	bool real_limit;        /* the budget is a cgroup's limit */
	bool by_avail;          /* the budget was lowered by MemAvailable */
	uint64_t projected;     /* the cost lookahead_usec ahead, at last tick's growth */
	uint64_t near;          /* the cost two ticks ahead, at that growth */
	char used_s[32];        /* used, formatted */
	char budget_s[32];      /* budget, formatted */
	enum policy_host_level lvl;
	int64_t want;           /* the reclaim the host wants */
	uint64_t gap;           /* duplicates KSM has not merged yet, bytes */
	char gap_s[32];         /* gap, formatted */
	int64_t balloon_want;   /* the part of want left to the balloons */
	bool critical;          /* lvl is CRITICAL */
	bool swapping;          /* the host, or the guests' cgroup, swaps out */
	bool at_limit;          /* shed as fast as the balloons allow */
	int64_t headroom;       /* budget above used and the low water (0 under pressure) */
	uint64_t growth;        /* what the guests in distress need */
	uint64_t fundable;      /* what headroom, others and the reserve can fund */
	uint64_t granted;       /* what the guests are given */
	uint64_t got;           /* the reclaim handed to the balloons */
};

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

/* Sets swapped, used, budget, real_limit, by_avail and their texts; reports the cost in the plan. */
static void host_cost(struct decision *t)
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
static void cost_trend(struct decision *t, usec_t prev_tick_usec, uint64_t prev_used)
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
static void host_level(struct decision *t)
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
static void merge_urgency(struct decision *t)
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
static void merge_cover(struct decision *t)
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
static void shrink_limits(struct decision *t)
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
static void fund_distress(struct decision *t)
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
static void plan_releases(struct decision *t)
{
	const struct policy_snapshot *snap = t->snap;
	const struct policy_conf *c = t->c;
	/* Release: a guest that holds free memory the host still backs is
	 * ballooned over it for a moment and then given its size back: the
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
			uint64_t db = pct(v->g->max_bytes, c->deadband_percent);
			bool reached = s->last_sign < 0 && v->cur <= s->last_target_bytes + db;
			bool late = snap->now_usec - s->release_usec > 5 * c->settle_usec + c->tick_usec;
			if (!reached && !late)
				continue;
			if (t->lvl == POLICY_HOST_CRITICAL || v->take) {
				s->release_from_bytes = 0; /* the host needs it: it stays taken */
				continue;
			}
			if (!v->give)
				v->release_back = true;
			continue;
		}
		if (!c->release_min_bytes || v->take || v->give || v->distress || !v->fresh || v->stats_behind ||
		    v->grow_rate >= (double)pct(v->g->max_bytes, 1) || v->backed_free < c->release_min_bytes ||
		    (s->release_usec && snap->now_usec - s->release_usec < 60 * USEC_PER_SEC))
			continue;
		uint64_t keep = pct(v->cur, c->guest_min_free_percent);
		uint64_t target = v->cur - MIN(v->cur, v->backed_free - MIN(v->backed_free, keep));
		target = MAX(target, MAX(v->lo, v->g->min_bytes));
		if (target + c->release_min_bytes / 2 <= v->cur)
			v->release_take = v->cur - target;
	}
}

/* Host ok and nothing reclaimed: sets take (a trim) on guests idle above idle_trim_percent. */
static void idle_trim(struct decision *t)
{
	const struct policy_conf *c = t->c;
	/* Idle trim (senpai-like probing): no pressure, take idle memory
	 * slowly from guests that hold much more than they use. Idle is
	 * what the stats call available and the host did not see touched. */
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
			    (double)v->idle <= idle * (double)v->cur)
				continue;
			double x = ((double)v->idle - idle * (double)v->cur) / (1 - idle);
			v->take = MIN(v->cap_down, (uint64_t)x);
			v->trim = true;
		}
	}
}

/* Relax: host room left, nothing reclaimed: adds to give of guests short of free memory. */
static void relax(struct decision *t)
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
			if (!v->eligible || !v->fresh || v->distress || v->stats_behind ||
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

/* Picks v's step, clamped to [min, max], into *target and *why; false when it has none worth taking. */
static bool action_target(const struct decision *t, const struct gview *v, uint64_t *target_out,
			  enum policy_reason_code *why_out)
{
	const struct policy_guest *g = v->g;
	uint64_t db = pct(g->max_bytes, t->c->deadband_percent);
	uint64_t target = v->cur;
	enum policy_reason_code why;
	if (v->give > 0) {
		target = v->cur + v->give;
		why = v->distress ? POLICY_WHY_GUEST_DISTRESS : POLICY_WHY_RELAX;
	} else if (v->take > 0) {
		target = v->cur - v->take;
		why = v->trim ? POLICY_WHY_IDLE_TRIM : POLICY_WHY_HOST_PRESSURE;
	} else if (v->release_back) {
		target = v->s->release_from_bytes;
		why = POLICY_WHY_RELEASE;
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
	/* Floors and maxima, always. */
	if (target < g->min_bytes)
		target = g->min_bytes;
	if (target > g->max_bytes)
		target = g->max_bytes;
	uint64_t d = target > v->cur ? target - v->cur : v->cur - target;
	if (why != POLICY_WHY_LIMIT && why != POLICY_WHY_GUEST_DISTRESS && d < MAX(db, 1))
		return false;
	if (d == 0 && why != POLICY_WHY_LIMIT)
		return false;
	if (why == POLICY_WHY_LIMIT && target == g->balloon_target_bytes)
		return false;
	*target_out = target;
	*why_out = why;
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
		say(a->reason, sizeof a->reason,
			 "%s +%s to %s: host has room (%s of budget %s); %s available %.0f%% < %.0f%%",
			 g->name, ds, ts, b1, b2, g->name, pc(v->avail, v->cur), 2 * c->guest_min_free_percent);
		break;
	case POLICY_WHY_IDLE_TRIM:
		if (v->host_fresh)
			say(a->reason, sizeof a->reason,
			    "%s -%s to %s: idle memory, %s idle %.0f%% > %.0f%% (available %.0f%%, "
			    "host saw %.0f%% touched); host ok (%s of budget %s)",
			    g->name, ds, ts, g->name, pc(v->idle, v->cur), c->idle_trim_percent,
			    pc(v->avail, v->cur), pc(MIN(g->host_active_bytes, v->cur), v->cur), b1, b2);
		else
			say(a->reason, sizeof a->reason,
			    "%s -%s to %s: idle memory, %s available %.0f%% > %.0f%%; host ok (%s of budget %s)",
			    g->name, ds, ts, g->name, pc(v->avail, v->cur), c->idle_trim_percent, b1, b2);
		break;
	case POLICY_WHY_RELEASE:
		if (v->release_back)
			say(a->reason, sizeof a->reason,
			    "%s +%s to %s: release done, the guest gets its size back (the pages the balloon "
			    "took are no longer backed by the host)", g->name, ds, ts);
		else
			say(a->reason, sizeof a->reason,
			    "%s -%s to %s for a moment: release, %s holds %.0f MiB of free memory the host "
			    "still backs (free %.0f MiB, host backs %.0f of its %.0f MiB)",
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

/* Records action a in v's state: the step, a release's start or end, a distress floor. */
static void record_action(const struct policy_snapshot *snap, struct gview *v, const struct policy_action *a)
{
	uint64_t target = a->target_bytes;
	remember(snap, v, target, a->delta_bytes < 0 ? -1 : 1);
	if (a->why == POLICY_WHY_RELEASE) {
		if (v->release_back) {
			v->s->release_from_bytes = 0;
		} else {
			v->s->release_from_bytes = v->cur;
			v->s->release_usec = snap->now_usec ? snap->now_usec : 1;
		}
	}
	/* The answer to distress is the new learned floor. */
	if (a->why == POLICY_WHY_GUEST_DISTRESS && !v->bursting)
		v->s->distress_level_bytes = MAX(v->s->distress_level_bytes, target);
}

/* Adds guest i's action to the plan, if it has one, with its reason, and records it. */
static void emit_action(struct decision *t, size_t i)
{
	struct gview *v = &t->views[i];
	uint64_t target;
	enum policy_reason_code why;
	if (!v->eligible || !action_target(t, v, &target, &why))
		return;
	struct policy_action *a = add_action(t->out, v, i, target, why);
	explain_action(t, v, a);
	record_action(t->snap, v, a);
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
