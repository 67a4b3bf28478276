/* sim_model.c — the policy simulator's host and guests (tests/sim/sim.h;
 * the assumptions are in the essay of policy_sim.c): the scenarios, one
 * step of the guests, the kernel's KSM, the host and ksmd's scanner, and
 * the metrics of a run. */
#include "tests/sim/sim.h"

const char *const pol_name[P_N] = { "ksmd", "ksmd-notrim", "mom", "proxmox", "squeezed" };
double refault_fraction = REFAULT_FRACTION;
bool ksm_flat_rate;

/* ---------------------------------------------------------------- helpers */

static void violation(struct sim *s, const char *fmt, const char *name, double a, double b)
{
	if (!s->violations++)
		snprintf(s->first_violation, sizeof s->first_violation, fmt, s->t, name, a, b);
}

double rss_of(const struct sguest *g)
{
	return fmin(g->actual, g->ws + g->cache);
}

static double ws_resident(const struct sguest *g)
{
	return fmin(g->ws, g->actual);
}

static double guest_rss(const struct sim *s)
{
	double r = 0;
	for (int i = 0; i < s->ng; i++)
		r += rss_of(&s->g[i]);
	return r;
}

double guest_cost(const struct sim *s)
{
	return fmax(0, guest_rss(s) - s->merged);
}

double budget_eff(const struct sim *s)
{
	return fmin(s->budget, s->total - s->other - s->reserve);
}

double potential(const struct sim *s)
{
	double p = 0;
	for (int i = 0; i < s->ng; i++)
		p += DUP_FRACTION * ws_resident(&s->g[i]);
	return p;
}

/* A guest's share of the merged pages (ksm_merging_pages, PSS). */
double merged_share(const struct sim *s, int i)
{
	double pot = potential(s);
	return pot > 0 ? s->merged * DUP_FRACTION * ws_resident(&s->g[i]) / pot : 0;
}

/* ------------------------------------------------------------- scenarios */

const char *const scen_name[S_N] = {
	"boot_storm", "ws_doubling", "pressure_spike", "budget_cut_30", "stuck_guest", "lying_guest",
	"burst", "many_guests_64",
};

static void guest_init(struct sguest *g, const char *name, double max, double min, double shares,
		       double ws, double actual)
{
	snprintf(g->name, sizeof g->name, "%s", name);
	g->max = max;
	g->min = min;
	g->shares = shares;
	g->ws = g->ws_goal = ws;
	g->ws_rate = 50 * MB;
	g->fill_rate = 20 * MB;
	/* warm start: the host at its budget, caches full */
	g->actual = g->target = actual;
	g->cache = fmax(0, g->actual - g->ws - 64 * MB);
	g->last_actual = g->actual;
	g->distress_seen_t = -1;
	g->st_t = -100;
	g->last_read = -1;
}

void setup(struct sim *s, enum pol p, enum scen sc)
{
	memset(s, 0, sizeof *s);
	s->pol = p;
	s->total = 16 * GB;
	s->other = 1 * GB;
	s->reserve = 1 * GB;
	s->budget = 13 * GB;
	s->ng = 4;
	static const char *names[4] = { "web1", "web2", "db1", "batch1" };
	static const double ws[4] = { 1.5, 1.5, 2.0, 1.0 };
	static const double ws_burst[4] = { 2.4, 2.4, 2.0, 2.4 };
	static const double shares[4] = { 1000, 1000, 2000, 500 };
	if (sc == S_MANY) {
		/* 100 guests of 2 GiB on a 128 GiB host, scaled by 0.64 to the
		 * 64 guests policy.h allows (POLICY_MAX_GUESTS): 64 x 2 GiB on
		 * 82 GiB, the same overcommit per guest. */
		static const double ws64[4] = { 0.6, 0.8, 1.0, 1.2 };
		s->total = 82 * GB;
		s->other = 2 * GB;
		s->budget = 79 * GB;
		s->ng = 64;
		for (int i = 0; i < s->ng; i++) {
			char n[16];
			snprintf(n, sizeof n, "vm%02d", i);
			guest_init(&s->g[i], n, 2 * GB, 256 * MB, 1000, ws64[i % 4] * GB,
				   s->budget / s->ng);
			s->g[i].ws_rate = 20 * MB;
			s->g[i].fill_rate = 10 * MB;
		}
	} else {
		for (int i = 0; i < s->ng; i++)
			guest_init(&s->g[i], names[i], 4 * GB, 512 * MB, shares[i],
				   (sc == S_BURST ? ws_burst[i] : ws[i]) * GB, 3.25 * GB);
	}
	policy_state_init(&s->st);
	/* the kernel's KSM at its defaults: off (mm/ksm.c ksm_run = KSM_RUN_STOP),
	 * 100 pages per 20 ms */
	s->k_run = 0;
	s->k_pts = 100;
	s->k_sleep = 20;
	ksm_pace_config_default(&s->pace_cfg);
	s->pace_cfg.cpu_budget_percent = KSM_CPU_PERCENT;
	s->pace_cfg.min_savings_pages = (uint64_t)(KSM_MIN_SAVINGS / PAGE);
	ksmtuned_init(&s->tuned, (int64_t)(s->total / 1024));
	sq_squeezer_make(&s->sq);
	s->sq_next_check = SQ_BALANCE_CHECK_INTERVAL_S;
	if (sc == S_BOOT) {
		for (int i = 0; i < s->ng; i++) {
			struct sguest *g = &s->g[i];
			g->actual = g->target = g->max;
			g->last_actual = g->actual;
			g->ws = g->ws_goal = 256 * MB; /* kernel + init */
			g->cache = 0;
			g->fill_rate = 80 * MB;        /* boot reads */
			g->ws_rate = 40 * MB;
		}
	}
	if (sc == S_STUCK)
		s->g[3].stuck_balloon = true;
	if (sc == S_LIAR)
		s->g[2].liar = true;
}

void events(struct sim *s, enum scen sc)
{
	int t = (int)s->t;
	switch (sc) {
	case S_BOOT:
		if (t == 120)
			for (int i = 0; i < s->ng; i++)
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
	case S_BURST:
		/* db1 allocates 40% of its size within 3 s and keeps it, while
		 * every policy still holds the host within 5% of its budget
		 * (the warm start is at the budget; merging and trimming have
		 * not had the time to move it) */
		if (t == 15) {
			s->g[2].ws_goal = s->g[2].ws + 0.4 * s->g[2].max;
			s->g[2].ws_rate = 0.4 * s->g[2].max / 3;
		}
		break;
	case S_MANY:
		/* a load wave: a quarter of the guests need 0.5 GiB more, then
		 * give it back */
		for (int i = 1; i < s->ng; i += 4) {
			if (t == 100)
				s->g[i].ws_goal += 0.5 * GB;
			if (t == 350)
				s->g[i].ws_goal -= 0.5 * GB;
		}
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------- the model */

/* The guest's memory over one step: balloon, working set, page cache and
 * its refaults, faults, stats, and what the host's accessed bits see. */
static void step_guest(struct sim *s, struct sguest *g)
{
	if (g->has_pending && s->t >= g->pending_at) {
		g->target = g->pending;
		g->has_pending = false;
	}
	if (!g->stuck_balloon)
		g->actual += clampd(g->target - g->actual, -BALLOON_RATE * DT, BALLOON_RATE * DT);
	if (g->ws_goal != g->ws)
		g->ws += clampd(g->ws_goal - g->ws, -g->ws_rate * DT, g->ws_rate * DT);

	/* Page cache. It fills the room the working set leaves (up to
	 * actual); pages read back after a drop come in on top and push
	 * others out when there is no room. A page pushed out - by the
	 * balloon, by the working set, by a read-back - is read again later
	 * with probability refault_fraction: that read is a major fault. */
	double room = fmax(0, g->actual - ws_resident(g));
	double need = g->refault_debt * fmin(1, DT / REFAULT_PERIOD_S);
	g->refault_debt -= need;
	g->refault_rate = need / PAGE / DT;
	s->refault_pages += need / PAGE;
	double was = g->cache;
	g->cache = fmin(g->cache + g->fill_rate * DT, fmax(g->cache, room)) + need;
	double touched = fmax(0, g->cache - was);
	if (g->cache > room) {
		g->refault_debt += refault_fraction * (g->cache - room);
		g->cache = room;
	}

	/* what the host's accessed bits see since the last clear: the
	 * working set's hot part, the part of its idle-but-needed part
	 * touched so far, and the cache read in */
	if (g->hw_cleared) {
		double e = (double)(usec_at(s->t) - g->hw_cleared) / USEC_PER_SEC;
		double seen = ws_resident(g) * (1 - WS_IDLE_FRACTION +
						WS_IDLE_FRACTION * fmin(1, e / WS_IDLE_PERIOD_S));
		g->hw_ws = fmax(g->hw_ws, seen);
		g->hw_cache += touched;
	}

	double short_b = fmax(0, g->ws - g->actual);
	if (short_b > OOM_SHORT) {
		g->oom++;
		s->ooms++;
		g->ws = g->actual - 256 * MB;   /* a process killed */
		g->ws_goal = fmin(g->ws_goal, g->ws);
		short_b = 0;
	}
	/* Major faults as the guest's balloon stats count them (the kernel's
	 * pgmajfault, VIRTIO_BALLOON_S_MAJFLT): faults that needed I/O. Page
	 * cache read back through read() faults nothing, so refaults are a
	 * cost (counted in the results) that the guest's stats do not show. */
	g->faults = short_b > 0 ? 500 + short_b / PAGE * 0.1 : 0;
	/* the balloon module's progress watch: 5 s without progress */
	if (fabs(g->actual - g->last_actual) > 1 * MB) {
		g->last_actual = g->actual;
		g->last_progress_t = s->t;
	}
	g->stuck_flag = fabs(g->target - g->actual) > 0.01 * g->max &&
			s->t - g->last_progress_t >= 5;
	/* stats every 2 s */
	if (s->t - g->st_t >= STATS_INTERVAL_S) {
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

/* Seconds of the kernel thread's CPU per page scanned, from what the
 * mergeable memory holds now. */
static double ksm_cost_per_page(const struct sim *s, double pages)
{
	if (ksm_flat_rate)
		return 1 / KSM_DUP_PAGES_PER_CPU_S;
	double m = s->merged / PAGE;
	double d = fmin(fmax(0, pages - m), 2 * fmax(0, potential(s) - s->merged) / PAGE);
	double u = fmax(0, pages - m - d);
	return (m / KSM_MERGED_PAGES_PER_CPU_S + d / KSM_DUP_PAGES_PER_CPU_S +
		u / KSM_UNIQUE_PAGES_PER_CPU_S) / fmax(pages, 1);
}

/* The kernel's KSM over one step, at the knobs in force. */
static void step_ksm(struct sim *s)
{
	double pot = potential(s), pages = fmax(1, guest_rss(s) / PAGE);
	if (s->merged > pot)
		s->merged = pot;   /* unmapped or written: the sharing is gone */
	s->k_cpu_pct = 0;
	if (!s->k_run)
		return;
	double c = ksm_cost_per_page(s, pages);
	double busy = s->k_pts * c, rate, cpu;
	if (s->k_sleep == 0) {
		rate = 1 / c;
		cpu = 1;
	} else {
		rate = s->k_pts / (busy + s->k_sleep / 1000.0);
		cpu = busy / (busy + s->k_sleep / 1000.0);
	}
	/* ksmd's executor paces KSM from its scanner's prediction, and what
	 * KSM merges is counted only up to it: a duplicate the scanner has
	 * not seen yet is not driven (the kernel would merge it if it
	 * happened to scan it while converging for others: the model leaves
	 * that out, against ksmd). The anchors' KSM finds whatever it scans. */
	double target = pot;
	if (is_ksmd(s->pol))
		target = s->have_prediction ? fmin(pot, s->prediction) : 0;
	if (target > s->merged)
		s->merged += (target - s->merged) * fmin(1, rate * DT / (KSM_PASSES_TO_MERGE * pages));
	s->full_scans += rate * DT / pages;
	s->k_cpu_pct = 100 * cpu;
	s->ksm_cpu_s += cpu * DT;
}

static void step_host(struct sim *s)
{
	double used = guest_cost(s);
	double hostfree = s->total - s->other - used;
	s->swap_out_rate = hostfree < HOST_SWAP_FREE ? (HOST_SWAP_FREE - hostfree) / PAGE : 0;
	double lim = PSI_ONSET_FREE;
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

/* ksmd's scanner: passes over every guest in turn at SCAN_PAGES_PER_S,
 * reading the pages pagemap shows present and not merged; the prediction
 * (duplicates seen) is published when the pass ends, and the next pass
 * starts pass_interval later. */
static void step_scanner(struct sim *s)
{
	if (!s->scan_active && s->t >= s->scan_next) {
		double at = s->scan_next;
		for (int i = 0; i < s->ng; i++) {
			struct sguest *g = &s->g[i];
			g->pages_seen = fmax(0, rss_of(g) - merged_share(s, i)) / PAGE;
			g->rd_a = at;
			at += g->pages_seen / SCAN_PAGES_PER_S;
			g->rd_b = at;
			g->rd_done = false;
		}
		s->scan_active = true;
		s->scan_end = at;
	}
	if (!s->scan_active)
		return;
	for (int i = 0; i < s->ng; i++) {
		struct sguest *g = &s->g[i];
		if (s->t >= g->rd_a)
			g->last_read = fmin(s->t, g->rd_b);
		if (!g->rd_done && s->t >= g->rd_b) {
			g->rd_done = true;
			g->pot_seen = DUP_FRACTION * ws_resident(g);
			s->scan_cpu_s += g->pages_seen / SCAN_PAGES_PER_CPU_S;
		}
	}
	if (s->t >= s->scan_end) {
		double p = 0;
		for (int i = 0; i < s->ng; i++)
			p += s->g[i].pot_seen;
		s->prediction = p;
		s->have_prediction = true;
		s->passes++;
		s->scan_active = false;
		s->scan_next = s->scan_end + SCAN_PASS_INTERVAL_S;
	}
}

/* wss_tracker_collect() then wss_tracker_reset() (collect/wss.c,
 * act/wss_reset.c) for one guest, the scanner's last read standing for
 * scanner_guest_last_read(). */
void wss_tick(struct sim *s, struct sguest *g, usec_t interval)
{
	usec_t now = usec_at(s->t);
	usec_t others = g->last_read >= 0 ? usec_at(g->last_read) : 0;
	if (g->hw_cleared && others >= g->hw_cleared) {
		g->hw_discarded++;
		g->hw_cleared = 0;
	}
	if (!g->hw_cleared && others && now < others + 500 * 1000) /* WSS_READ_QUIET_USEC */
		return;
	if (!g->hw_cleared) {
		g->hw_cleared = now;
		g->hw_ws = g->hw_cache = 0;
		return;
	}
	if (now - g->hw_cleared < interval)
		return;
	g->hw_bytes = fmin(rss_of(g), g->hw_ws + fmin(g->hw_cache, g->cache));
	g->hw_sampled = now;
	g->hw_valid = true;
	g->hw_samples++;
	g->hw_cleared = now;
	g->hw_ws = g->hw_cache = 0;
}

void step_model(struct sim *s)
{
	for (int i = 0; i < s->ng; i++)
		step_guest(s, &s->g[i]);
	step_ksm(s);
	step_host(s);
	if (is_ksmd(s->pol))
		step_scanner(s);
}

void metrics(struct sim *s, bool check)
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
	for (int i = 0; i < s->ng; i++) {
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
		    s->t - g->distress_seen_t > DISTRESS_ANSWER_S)
			violation(s, "t=%.0f %s distress unanswered since t=%.0f%.0f", g->name,
				  g->distress_seen_t, 0);
	}
	if (check && s->over_streak > OVER_BUDGET_BOUND_S)
		violation(s, "t=%.0f %s over budget for %.0f s > %.0f s", "host", s->over_streak,
			  OVER_BUDGET_BOUND_S);
	s->reclaimed_sum += (maxsum - used) * DT;
	s->merged_sum += s->merged * DT;
	s->ballooned_sum += (maxsum - rss) * DT;
	if (is_ksmd(s->pol) && s->have_prediction)
		s->pred_lag_sum += fabs(potential(s) - s->prediction) * DT;
}

void set_target(struct sim *s, struct sguest *g, double target)
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
	g->pending_at = s->t + BALLOON_DELAY_S;
	g->has_pending = true;
	if (sign > 0)
		g->distress_seen_t = -1;   /* answered */
}

double target_of(const struct sguest *g)
{
	return g->has_pending ? g->pending : g->target;
}
