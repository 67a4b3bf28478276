/* policy_sim.c — a trace simulator for the policy, and the same scenarios
 * under oVirt MOM's balloon rules and Xen squeezed's proportional rule.
 *
 * The model. One host (16 GiB, 1 GiB used by the host itself, a 1 GiB
 * reserve, a guest budget of 13 GiB) runs four guests of up to 4 GiB each,
 * so the guests could ask for 16 GiB: overcommitted. Each guest has a
 * working set (anonymous memory it needs; it moves toward a goal at a given
 * rate) and a page cache that fills whatever the balloon leaves it at a
 * fill rate and is dropped at once when the balloon takes the room. What
 * the host pays for a guest is its RSS, min(actual, working set + cache),
 * minus what KSM merged. A balloon target takes effect after a 1 s delay
 * and then moves at 512 MiB/s (measured under TCG: 256 MiB within a
 * second); a stuck guest's balloon never moves. A guest whose balloon is
 * below its working set swaps inside itself: that is distress, with major
 * faults and swap-in that its stats report; past 512 MiB of shortfall the
 * model's OOM killer fires. Guest stats are refreshed every 2 s; a lying
 * guest reports at least 60% of its memory as available (its faults, which
 * its kernel counts, stay true). The host swaps when its free memory falls
 * under 256 MiB; PSI some/full are derived from the host's free memory and
 * swapping, averaged over 10 s like avg10.
 *
 * Merging. Each guest's working set holds 25% pages that duplicate another
 * guest's (the scanner's "potential"). KSM merges the gap at a rate set by
 * the scan speed: a fraction scan_rate / (2 x all pages) of the gap per
 * second (two passes find a duplicate). ksmd's executor runs KSM at
 * 800 k pages/s (measured full speed) when the policy says urgent, 400 k
 * when normal, 5 k (kernel default) when idle. MOM's ksm.policy runs KSM
 * only while host free < 20%, pages_to_scan 64 +300/-50 within [64, 1250]
 * every 10 s with sleep 10 ms. Squeezed has no KSM control: kernel
 * defaults (5 k pages/s) always on.
 *
 * The host-side working set (policy/wss.c, ksmd only). The daemon clears
 * the accessed bits of a guest's RAM and reads back, host_wss_interval
 * (10 s) later, how much of it was touched. The model gives ksmd exactly
 * that, with its lag: over each interval it records the most of the
 * guest's working set resident at once (min(working set, actual)) plus the
 * page cache filled during the interval (filling touches it), capped at
 * actual; at the end of the interval that figure becomes the guest's
 * host_active_bytes, ageing until the next one. The lying guest cannot lie
 * to it: its lie is in its stats, not in its page tables. MOM and
 * squeezed have no such signal (MOM reads only the guest's stats,
 * squeezed nothing of the guest), so they run as before.
 *
 * The policies. ksmd: policy_decide() every 2 s with the default knobs.
 * MOM: balloon.rules every 10 s (its default interval): host pressure when
 * free < 20% of MemTotal, critical at 5%; under pressure each guest is
 * shrunk by at most 5% of its size toward used + free target (20% scaled by
 * host free / 20%, 0 when critical); without pressure each guest grows by
 * 5%; changes < 0.25% are skipped. Squeezed: every 2 s, each guest not
 * stuck gets min + gamma x (max - min), gamma chosen so that the targets
 * fill the memory the host can give (its budget) less the stuck guests'
 * actual; a guest with no progress for 5 s is stuck and excluded.
 *
 * Scenarios (each 600 s): boot storm, working set doubling, host pressure
 * spike, budget cut by 30%, stuck guest, lying guest.
 *
 * Measured per run: over-budget seconds (guest cost above the budget, or
 * above what the host can give after its reserve, whichever is smaller),
 * guest distress seconds (guest-seconds below the working set), reclaimed
 * memory (mean of sum of max - guest cost: what the host got back from
 * merging and ballooning), host swap seconds, OOM kills, target direction
 * reversals. With --check, ksmd's run must hold these properties at every
 * step: no guest below its floor, no OOM, no over-budget stretch longer
 * than OVER_BUDGET_BOUND_S, at most REVERSALS_BOUND direction reversals per
 * guest, and distress that the guest's stats show answered by a grow
 * action within 2 ticks. */
#include "policy/policy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NG 4
#define T_END 600
#define DT 1.0
#define MB (1024.0 * 1024.0)
#define GB (1024.0 * MB)
#define PAGE 4096.0

#define OVER_BUDGET_BOUND_S 30
#define REVERSALS_BOUND 8

enum pol { P_KSMD, P_KSMD_NOTRIM, P_MOM, P_SQUEEZED, P_N };
static const char *pol_name[P_N] = { "ksmd", "ksmd-notrim", "mom", "squeezed" };
static bool is_ksmd(enum pol p) { return p == P_KSMD || p == P_KSMD_NOTRIM; }

struct sguest {
	char name[16];
	double max, min, shares;
	bool stuck_balloon, liar;
	double ws, ws_goal, ws_rate;     /* bytes, bytes/s */
	double cache, fill_rate;
	double actual, target;
	double pending, pending_at;      /* target arriving after the delay */
	bool has_pending;
	/* reported stats */
	double st_avail, st_free, st_faults, st_t;
	double faults;
	double last_actual, last_progress_t;
	bool stuck_flag;
	int last_sign, reversals;
	double distress_seen_t;          /* when its stats first showed distress, <0 none */
	int oom;
	/* host-side working set (ksmd): one clear/read cycle */
	double hw_cleared_t;             /* <0: not cleared yet */
	double hw_ws, hw_fill;           /* touched since the clear: resident working set, cache filled */
	double hw_bytes, hw_t;           /* last sample and when it was read */
	bool hw_valid;
};

struct sim {
	enum pol pol;
	double t;
	double total, other, budget, reserve;
	double merged;                   /* bytes saved */
	double psi_some, psi_full, swap_out_rate;
	double mom_npages; bool mom_ksm_on;
	struct sguest g[NG];
	struct policy_state st;
	struct policy_plan plan;
	enum policy_merge_urgency urgency;
	/* metrics */
	double over_s, distress_s, reclaimed_sum, swap_s, merged_sum, ballooned_sum;
	int over_streak, over_streak_max, ooms, reversals_max;
	int violations;
	char first_violation[256];
};

/* ---------------------------------------------------------------- helpers */

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

static void violation(struct sim *s, const char *fmt, const char *name, double a, double b)
{
	if (!s->violations++)
		snprintf(s->first_violation, sizeof s->first_violation, fmt, s->t, name, a, b);
}

static double rss_of(const struct sguest *g)
{
	return fmin(g->actual, g->ws + g->cache);
}

static double guest_cost(const struct sim *s)
{
	double r = 0;
	for (int i = 0; i < NG; i++)
		r += rss_of(&s->g[i]);
	return fmax(0, r - s->merged);
}

static double budget_eff(const struct sim *s)
{
	return fmin(s->budget, s->total - s->other - s->reserve);
}

static double potential(const struct sim *s)
{
	double p = 0;
	for (int i = 0; i < NG; i++)
		p += 0.25 * fmin(s->g[i].ws, s->g[i].actual);
	return p;
}

static bool in_distress(const struct sguest *g) { return g->actual < g->ws - 1; }

/* ------------------------------------------------------------- scenarios */

enum scen { S_BOOT, S_DOUBLE, S_SPIKE, S_CUT, S_STUCK, S_LIAR, S_N };
static const char *scen_name[S_N] = {
	"boot_storm", "ws_doubling", "pressure_spike", "budget_cut_30", "stuck_guest", "lying_guest",
};

static void setup(struct sim *s, enum pol p, enum scen sc)
{
	memset(s, 0, sizeof *s);
	s->pol = p;
	s->total = 16 * GB;
	s->other = 1 * GB;
	s->reserve = 1 * GB;
	s->budget = 13 * GB;
	s->mom_npages = 64;
	static const char *names[NG] = { "web1", "web2", "db1", "batch1" };
	static const double ws[NG] = { 1.5, 1.5, 2.0, 1.0 };
	static const double shares[NG] = { 1000, 1000, 2000, 500 };
	for (int i = 0; i < NG; i++) {
		struct sguest *g = &s->g[i];
		snprintf(g->name, sizeof g->name, "%s", names[i]);
		g->max = 4 * GB;
		g->min = 512 * MB;
		g->shares = shares[i];
		g->ws = g->ws_goal = ws[i] * GB;
		g->ws_rate = 50 * MB;
		g->fill_rate = 20 * MB;
		/* warm start: the host at its budget, caches full */
		g->actual = g->target = 3.25 * GB;
		g->cache = g->actual - g->ws - 64 * MB;
		g->last_actual = g->actual;
		g->distress_seen_t = -1;
		g->st_t = -100;
		g->hw_cleared_t = -1;
	}
	policy_state_init(&s->st);
	if (sc == S_BOOT) {
		for (int i = 0; i < NG; i++) {
			struct sguest *g = &s->g[i];
			g->actual = g->target = g->max;
			g->last_actual = g->actual;
			g->ws = 256 * MB;       /* kernel + init */
			g->cache = 0;
			g->fill_rate = 80 * MB; /* boot reads */
			g->ws_rate = 40 * MB;
		}
	}
	if (sc == S_STUCK)
		s->g[3].stuck_balloon = true;
	if (sc == S_LIAR)
		s->g[2].liar = true;
}

static void events(struct sim *s, enum scen sc)
{
	double t = s->t;
	switch (sc) {
	case S_BOOT:
		if (t == 120)
			for (int i = 0; i < NG; i++)
				s->g[i].fill_rate = 20 * MB;
		break;
	case S_DOUBLE:
		if (t == 60)
			s->g[0].ws_goal = 3.0 * GB;
		break;
	case S_SPIKE:
		if (t == 100)
			s->other += 3 * GB;
		if (t == 160)
			s->other -= 3 * GB;
		break;
	case S_CUT:
		if (t == 100) {
			s->other += 0.3 * s->budget;
			s->budget *= 0.7;
		}
		break;
	case S_STUCK:
		if (t == 60)
			s->g[0].ws_goal = 3.0 * GB;
		if (t == 100) {
			s->other += 0.15 * s->budget;
			s->budget *= 0.85;
		}
		break;
	case S_LIAR:
		if (t == 60)
			s->g[2].ws_goal = 2.6 * GB;
		if (t == 100) {
			s->other += 0.15 * s->budget;
			s->budget *= 0.85;
		}
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------- the model */

static void step_model(struct sim *s)
{
	for (int i = 0; i < NG; i++) {
		struct sguest *g = &s->g[i];
		if (g->has_pending && s->t >= g->pending_at) {
			g->target = g->pending;
			g->has_pending = false;
		}
		if (!g->stuck_balloon) {
			double d = g->target - g->actual;
			double mv = clampd(d, -512 * MB * DT, 512 * MB * DT);
			g->actual += mv;
		}
		if (fabs(g->ws_goal - g->ws) > 0)
			g->ws += clampd(g->ws_goal - g->ws, -g->ws_rate * DT, g->ws_rate * DT);
		double cache_was = g->cache;
		g->cache += g->fill_rate * DT;
		g->cache = fmax(0, fmin(g->cache, g->actual - g->ws));
		/* what the host's accessed bits see being touched */
		if (g->hw_cleared_t >= 0) {
			g->hw_ws = fmax(g->hw_ws, fmin(g->ws, g->actual));
			g->hw_fill += fmax(0, g->cache - cache_was);
		}
		double short_b = fmax(0, g->ws - g->actual);
		if (short_b > 512 * MB) {
			g->oom++;
			s->ooms++;
			g->ws = g->actual - 256 * MB;   /* a process killed */
			g->ws_goal = fmin(g->ws_goal, g->ws);
			short_b = 0;
		}
		g->faults = short_b > 0 ? 500 + short_b / PAGE * 0.1 : 0;
		/* the balloon module's progress watch: 5 s without progress */
		if (fabs(g->actual - g->last_actual) > 1 * MB) {
			g->last_actual = g->actual;
			g->last_progress_t = s->t;
		}
		g->stuck_flag = fabs(g->target - g->actual) > 0.01 * g->max &&
				s->t - g->last_progress_t >= 5;
		/* stats every 2 s */
		if (s->t - g->st_t >= 2) {
			double avail = fmax(0, g->actual - g->ws);
			if (g->liar)
				avail = fmax(avail, 0.6 * g->actual);
			g->st_avail = avail;
			g->st_free = fmax(0, g->actual - g->ws - g->cache);
			if (g->liar)
				g->st_free = fmax(g->st_free, 0.5 * g->actual);
			g->st_faults = g->faults;
			g->st_t = s->t;
			bool shows = g->st_faults > 200 || g->st_avail < 0.05 * g->actual;
			if (shows && g->distress_seen_t < 0)
				g->distress_seen_t = s->t;
			if (!shows)
				g->distress_seen_t = -1;
		}
	}
	/* merging */
	double pot = potential(s), pages = 0;
	for (int i = 0; i < NG; i++)
		pages += rss_of(&s->g[i]) / PAGE;
	double rate;   /* pages scanned per second */
	switch (s->pol) {
	case P_KSMD:
	case P_KSMD_NOTRIM:
		rate = s->urgency == POLICY_MERGE_URGENT ? 800000 :
		       s->urgency == POLICY_MERGE_NORMAL ? 400000 : 5000;
		break;
	case P_MOM:
		rate = s->mom_ksm_on ? s->mom_npages / 0.010 : 0;
		break;
	default:
		rate = 5000;
	}
	if (s->merged > pot)
		s->merged = pot;
	s->merged += (pot - s->merged) * fmin(1, rate * DT / (2 * fmax(pages, 1)));
	/* host */
	double used = guest_cost(s);
	double hostfree = s->total - s->other - used;
	s->swap_out_rate = hostfree < 256 * MB ? (256 * MB - hostfree) / PAGE : 0;
	double lim = 0.05 * s->total;
	double some = hostfree < lim ? fmin(100, (lim - hostfree) / lim * 60) : 0;
	double full = 0;
	if (s->swap_out_rate > 0) {
		some = fmax(some, 80);
		full = 40;
	}
	double a = 1 - exp(-DT / 10);
	s->psi_some += (some - s->psi_some) * a;
	s->psi_full += (full - s->psi_full) * a;
}

static void metrics(struct sim *s, bool check)
{
	double used = guest_cost(s);
	bool over = used > budget_eff(s) + 1 * MB;
	if (over) {
		s->over_s += DT;
		s->over_streak++;
		if (s->over_streak > s->over_streak_max)
			s->over_streak_max = s->over_streak;
	} else {
		s->over_streak = 0;
	}
	if (s->swap_out_rate > 0)
		s->swap_s += DT;
	double maxsum = 0, rss = 0;
	for (int i = 0; i < NG; i++) {
		struct sguest *g = &s->g[i];
		maxsum += g->max;
		rss += rss_of(g);
		if (in_distress(g))
			s->distress_s += DT;
		if (g->reversals > s->reversals_max)
			s->reversals_max = g->reversals;
		if (!check)
			continue;
		if (g->actual < g->min - 1 || g->target < g->min - 1)
			violation(s, "t=%.0f %s below its floor (%.0f < %.0f)", g->name, g->actual, g->min);
		if (g->oom)
			violation(s, "t=%.0f %s OOM (%.0f kills, %.0f)", g->name, g->oom, 0);
		if (g->reversals > REVERSALS_BOUND)
			violation(s, "t=%.0f %s oscillates: %.0f reversals > %.0f", g->name, g->reversals,
				  REVERSALS_BOUND);
		if (g->distress_seen_t >= 0 && !g->stuck_balloon && !g->stuck_flag &&
		    s->t - g->distress_seen_t > 2 * 2 + DT)
			violation(s, "t=%.0f %s distress unanswered since t=%.0f%.0f", g->name,
				  g->distress_seen_t, 0);
	}
	if (check && s->over_streak > OVER_BUDGET_BOUND_S)
		violation(s, "t=%.0f %s over budget for %.0f s > %.0f s", "host", s->over_streak,
			  OVER_BUDGET_BOUND_S);
	s->reclaimed_sum += (maxsum - used) * DT;
	s->merged_sum += s->merged * DT;
	s->ballooned_sum += (maxsum - rss) * DT;
}

static void set_target(struct sim *s, struct sguest *g, double target)
{
	target = clampd(target, g->min, g->max);
	double cur = g->has_pending ? g->pending : g->target;
	if (fabs(target - cur) < 1)
		return;
	int sign = target < cur ? -1 : 1;
	if (g->last_sign && sign != g->last_sign)
		g->reversals++;
	g->last_sign = sign;
	g->pending = target;
	g->pending_at = s->t + 1;
	g->has_pending = true;
	if (sign > 0)
		g->distress_seen_t = -1;   /* answered */
}

/* ------------------------------------------------------------ the policies */

static void run_ksmd(struct sim *s)
{
	static struct policy_snapshot snap;
	memset(&snap, 0, sizeof snap);
	snap.now_usec = (usec_t)(s->t * USEC_PER_SEC) + USEC_PER_SEC;
	policy_conf_defaults(&snap.conf);
	snap.conf.budget_bytes = (uint64_t)s->budget;
	snap.conf.reserve_bytes = (uint64_t)s->reserve;
	if (s->pol == P_KSMD_NOTRIM)
		snap.conf.idle_trim_percent = 0;
	double used = guest_cost(s);
	snap.host.mem_total_bytes = (uint64_t)s->total;
	snap.host.mem_available_bytes = (uint64_t)fmax(0, s->total - s->other - used);
	snap.host.swap_out_pages_per_sec = s->swap_out_rate;
	snap.host.psi_available = true;
	snap.host.psi_some_avg10_percent = s->psi_some;
	snap.host.psi_full_avg10_percent = s->psi_full;
	snap.merge.available = true;
	snap.merge.potential_pages = (uint64_t)(potential(s) / PAGE);
	snap.merge.merged_pages = (uint64_t)(s->merged / PAGE);
	snap.n_guests = NG;
	double hw_interval = (double)snap.conf.host_wss_interval_usec / USEC_PER_SEC;
	for (int i = 0; i < NG; i++) {
		struct sguest *g = &s->g[i];
		/* the daemon's wss_tracker_tick(): clear, read after the interval, clear */
		if (g->hw_cleared_t >= 0 && s->t - g->hw_cleared_t >= hw_interval) {
			g->hw_bytes = fmin(g->actual, g->hw_ws + g->hw_fill);
			g->hw_t = s->t;
			g->hw_valid = true;
			g->hw_cleared_t = -1;
		}
		if (g->hw_cleared_t < 0) {
			g->hw_cleared_t = s->t;
			g->hw_ws = g->hw_fill = 0;
		}
	}
	for (int i = 0; i < NG; i++) {
		struct sguest *g = &s->g[i];
		struct policy_guest *pg = &snap.guests[i];
		snprintf(pg->name, sizeof pg->name, "%s", g->name);
		pg->id = (uint64_t)i + 1;
		pg->has_balloon = true;
		pg->stuck = g->stuck_flag;
		pg->min_bytes = (uint64_t)g->min;
		pg->max_bytes = (uint64_t)g->max;
		pg->shares = (uint64_t)g->shares;
		pg->balloon_actual_bytes = (uint64_t)g->actual;
		pg->balloon_target_bytes = (uint64_t)(g->has_pending ? g->pending : g->target);
		pg->stats_valid = true;
		pg->stat_total_bytes = (uint64_t)g->actual;
		pg->stat_available_bytes = (uint64_t)g->st_avail;
		pg->stat_free_bytes = (uint64_t)g->st_free;
		pg->major_faults_per_sec = g->st_faults;
		pg->swap_in_pages_per_sec = g->st_faults;
		pg->stats_age_usec = (usec_t)((s->t - g->st_t) * USEC_PER_SEC);
		pg->rss_bytes = (uint64_t)rss_of(g);
		pg->host_active_valid = g->hw_valid;
		pg->host_active_bytes = (uint64_t)g->hw_bytes;
		pg->host_active_age_usec = (usec_t)((s->t - g->hw_t) * USEC_PER_SEC);
	}
	policy_decide(&snap, &s->st, &s->plan);
	s->urgency = s->plan.merge_urgency;
	for (size_t i = 0; i < s->plan.n_actions; i++) {
		const struct policy_action *a = &s->plan.actions[i];
		set_target(s, &s->g[a->guest_index], (double)a->target_bytes);
	}
}

static void run_mom(struct sim *s)
{
	const double thr = 0.20, crit = 0.05, min_free = 0.20, max_chg = 0.05, min_chg = 0.0025;
	double hostfree = fmax(0, s->total - s->other - guest_cost(s));
	double hfp = hostfree / s->total;
	/* ksm.policy */
	if (hfp < thr) {
		s->mom_ksm_on = true;
		s->mom_npages = fmin(1250, s->mom_npages + 300);
	} else {
		s->mom_npages = fmax(64, s->mom_npages - 50);
		s->mom_ksm_on = false;
	}
	/* balloon.policy */
	for (int i = 0; i < NG; i++) {
		struct sguest *g = &s->g[i];
		double cur = g->actual, nv;
		if (hfp < thr) {
			double gfp = hfp <= crit ? 0 : min_free * (hfp / thr);
			double used = cur - g->st_avail;
			double bmin = used + gfp * cur;
			nv = cur * (1 - max_chg);
			if (nv < bmin)
				nv = bmin;
		} else {
			nv = fmin(g->max, cur * (1 + max_chg));
		}
		if (nv <= g->max && fabs(nv - cur) > min_chg * cur)
			set_target(s, g, nv);
	}
}

static void run_squeezed(struct sim *s)
{
	double avail = budget_eff(s), summin = 0, span = 0;
	for (int i = 0; i < NG; i++) {
		struct sguest *g = &s->g[i];
		if (g->stuck_flag)
			avail -= g->actual;
		else {
			summin += g->min;
			span += g->max - g->min;
		}
	}
	double gamma = span > 0 ? clampd((avail - summin) / span, 0, 1) : 0;
	for (int i = 0; i < NG; i++) {
		struct sguest *g = &s->g[i];
		if (!g->stuck_flag)
			set_target(s, g, g->min + gamma * (g->max - g->min));
	}
}

/* ------------------------------------------------------------------ runs */

struct result {
	double over_s, distress_s, reclaimed_gib, swap_s, merged_gib, ballooned_gib;
	int ooms, reversals_max, over_streak_max, violations;
	char first_violation[256];
};

static void run(enum pol p, enum scen sc, bool check, bool trace, struct result *r)
{
	static struct sim s;
	setup(&s, p, sc);
	double interval = p == P_MOM ? 10 : 2;
	for (s.t = 0; s.t < T_END; s.t += DT) {
		events(&s, sc);
		step_model(&s);
		if (fmod(s.t, interval) == 0) {
			if (is_ksmd(p))
				run_ksmd(&s);
			else if (p == P_MOM)
				run_mom(&s);
			else
				run_squeezed(&s);
		}
		metrics(&s, check && is_ksmd(p));
		if (trace) {
			printf("%s %s t=%3.0f cost=%6.0fM budget=%6.0fM merged=%5.0fM psi=%4.1f/%4.1f",
			       pol_name[p], scen_name[sc], s.t, guest_cost(&s) / MB, budget_eff(&s) / MB,
			       s.merged / MB, s.psi_some, s.psi_full);
			for (int i = 0; i < NG; i++)
				printf(" %s=%.0f/%.0f/%.0f%s", s.g[i].name, s.g[i].actual / MB, s.g[i].ws / MB,
				       s.g[i].cache / MB, in_distress(&s.g[i]) ? "!" : "");
			printf("\n");
			if (is_ksmd(p))
				for (size_t i = 0; i < s.plan.n_actions && fmod(s.t, interval) == 0; i++)
					printf("    %s\n", s.plan.actions[i].reason);
		}
	}
	memset(r, 0, sizeof *r);
	r->over_s = s.over_s;
	r->distress_s = s.distress_s;
	r->reclaimed_gib = s.reclaimed_sum / T_END / GB;
	r->merged_gib = s.merged_sum / T_END / GB;
	r->ballooned_gib = s.ballooned_sum / T_END / GB;
	r->swap_s = s.swap_s;
	r->ooms = s.ooms;
	r->reversals_max = s.reversals_max;
	r->over_streak_max = s.over_streak_max;
	r->violations = s.violations;
	memcpy(r->first_violation, s.first_violation, sizeof r->first_violation);
}

static void usage(void)
{
	fprintf(stderr, "usage: policy_sim [--check] [--trace POLICY SCENARIO] [--json FILE] [--md FILE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	bool check = false;
	const char *json = NULL, *md = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--check"))
			check = true;
		else if (!strcmp(argv[i], "--json") && i + 1 < argc)
			json = argv[++i];
		else if (!strcmp(argv[i], "--md") && i + 1 < argc)
			md = argv[++i];
		else if (!strcmp(argv[i], "--trace") && i + 2 < argc) {
			struct result r;
			int p = -1, sc = -1;
			for (int k = 0; k < P_N; k++)
				if (!strcmp(argv[i + 1], pol_name[k]))
					p = k;
			for (int k = 0; k < S_N; k++)
				if (!strcmp(argv[i + 2], scen_name[k]))
					sc = k;
			if (p < 0 || sc < 0)
				usage();
			run((enum pol)p, (enum scen)sc, true, true, &r);
			printf("violations %d %s\n", r.violations, r.first_violation);
			return r.violations ? 1 : 0;
		} else
			usage();
	}

	static struct result res[S_N][P_N];
	int failed = 0, passed = 0;
	double tot[P_N][3] = { { 0 } };
	for (int sc = 0; sc < S_N; sc++)
		for (int p = 0; p < P_N; p++) {
			struct result *r = &res[sc][p];
			run((enum pol)p, (enum scen)sc, check, false, r);
			tot[p][0] += r->over_s;
			tot[p][1] += r->distress_s;
			tot[p][2] += r->reclaimed_gib / S_N;
			if (is_ksmd((enum pol)p) && check) {
				if (r->violations) {
					failed++;
					printf("FAIL %s %s: %d violations, first: %s\n", pol_name[p], scen_name[sc],
					       r->violations, r->first_violation);
				} else {
					passed++;
					printf("PASS %s %s: floors, no OOM, over budget <= %d s (max %d s), "
					       "reversals <= %d (max %d), distress answered within 2 ticks\n",
					       pol_name[p], scen_name[sc], OVER_BUDGET_BOUND_S, r->over_streak_max,
					       REVERSALS_BOUND, r->reversals_max);
				}
			}
		}

	printf("\n%-15s %-12s %9s %9s %10s %8s %8s %8s %5s %5s\n", "scenario", "policy", "over_s",
	       "distr_s", "recl_GiB", "merg_GiB", "ball_GiB", "swap_s", "oom", "rev");
	for (int sc = 0; sc < S_N; sc++)
		for (int p = 0; p < P_N; p++) {
			struct result *r = &res[sc][p];
			printf("%-15s %-12s %9.0f %9.0f %10.2f %8.2f %8.2f %8.0f %5d %5d\n", scen_name[sc],
			       pol_name[p], r->over_s, r->distress_s, r->reclaimed_gib, r->merged_gib,
			       r->ballooned_gib, r->swap_s, r->ooms, r->reversals_max);
		}
	for (int p = 0; p < P_N; p++)
		printf("%-15s %-12s %9.0f %9.0f %10.2f\n", "TOTAL", pol_name[p], tot[p][0], tot[p][1], tot[p][2]);

	if (md) {
		FILE *f = fopen(md, "w");
		if (!f) { perror(md); return 2; }
		fprintf(f, "# Policy simulator: ksmd vs oVirt MOM vs Xen squeezed\n\n"
			"Produced by `make bench-policy` (tests/sim/policy_sim.c; the model and the\n"
			"re-expressed rules are described at the top of that file). 600 s per scenario,\n"
			"a 16 GiB host, 4 guests of up to 4 GiB, a 13 GiB guest budget. ksmd (both\n"
			"rows) also sees each guest's host-side working set (policy.host_wss: the RAM\n"
			"it touched over the last 10 s, clear_refs + smaps Referenced); MOM and\n"
			"squeezed have no such signal.\n\n"
			"- over_s: seconds the guests cost more than the budget (or than the host can give\n"
			"  after its reserve); lower is better.\n"
			"- distress_s: guest-seconds with a guest below its working set; lower is better.\n"
			"- reclaimed: mean GiB the host got back (sum of maxima - guest cost), of which\n"
			"  merged by KSM; higher is better.\n"
			"- swap_s: seconds the host swapped; oom: OOM kills in the guests; rev: most target\n"
			"  direction reversals of one guest.\n\n"
			"| scenario | policy | over_s | distress_s | reclaimed GiB | merged GiB | swap_s | oom | rev |\n"
			"|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
		for (int sc = 0; sc < S_N; sc++)
			for (int p = 0; p < P_N; p++) {
				struct result *r = &res[sc][p];
				fprintf(f, "| %s | %s | %.0f | %.0f | %.2f | %.2f | %.0f | %d | %d |\n", scen_name[sc],
					pol_name[p], r->over_s, r->distress_s, r->reclaimed_gib, r->merged_gib,
					r->swap_s, r->ooms, r->reversals_max);
			}
		fprintf(f, "\n| total | over_s | distress_s | mean reclaimed GiB |\n|---|---:|---:|---:|\n");
		for (int p = 0; p < P_N; p++)
			fprintf(f, "| %s | %.0f | %.0f | %.2f |\n", pol_name[p], tot[p][0], tot[p][1], tot[p][2]);
		fclose(f);
	}
	if (json) {
		FILE *f = fopen(json, "w");
		if (!f) { perror(json); return 2; }
		fprintf(f, "{\n  \"seconds_per_scenario\": %d,\n  \"results\": [\n", T_END);
		for (int sc = 0; sc < S_N; sc++)
			for (int p = 0; p < P_N; p++) {
				struct result *r = &res[sc][p];
				fprintf(f, "    {\"scenario\": \"%s\", \"policy\": \"%s\", \"over_budget_s\": %.0f, "
					"\"distress_s\": %.0f, \"reclaimed_gib\": %.3f, \"merged_gib\": %.3f, "
					"\"host_swap_s\": %.0f, \"oom_kills\": %d, \"max_reversals\": %d}%s\n",
					scen_name[sc], pol_name[p], r->over_s, r->distress_s, r->reclaimed_gib,
					r->merged_gib, r->swap_s, r->ooms, r->reversals_max,
					sc == S_N - 1 && p == P_N - 1 ? "" : ",");
			}
		fprintf(f, "  ],\n  \"totals\": {");
		for (int p = 0; p < P_N; p++)
			fprintf(f, "%s\"%s\": {\"over_budget_s\": %.0f, \"distress_s\": %.0f, "
				"\"reclaimed_gib\": %.3f}", p ? ", " : "", pol_name[p], tot[p][0], tot[p][1], tot[p][2]);
		fprintf(f, "}\n}\n");
		fclose(f);
	}
	if (check) {
		printf("policy_sim: %d passed, %d failed\n", passed, failed);
		return failed ? 1 : 0;
	}
	return 0;
}
