/* policy_sim.c — a trace simulator for the policy: ksmd's policy_decide()
 * and KSM pacing, against the memory managers it is measured against,
 * each by its ported original rule, on made-up guest workloads.
 *
 * Every scenario is replayed under five policies: ksmd (its real
 * policy_decide() and its real KSM pacing, ksm_pace() of policy/ksmpace.c,
 * at the shipped configuration), ksmd-notrim (the same with
 * policy.idle_trim_percent = 0), and three anchors, each run by its own
 * original rule, ported: oVirt MOM, Proxmox VE and Xen squeezed. Nothing in
 * the model knows which policy runs, except what each policy can see.
 *
 * The host and the guests (assumptions of the model). A 16 GiB host, 1 GiB
 * used by the host itself, a 1 GiB reserve, a guest budget of 13 GiB, four
 * guests of up to 4 GiB (min 512 MiB): they could ask for 16 GiB. Each
 * guest has a working set (anonymous memory it needs; it moves toward a
 * goal at a given rate) and a page cache that fills the room the working
 * set leaves. What the host pays for a guest is its RSS, min(actual,
 * working set + cache), less what KSM merged. A balloon target takes
 * effect after 1 s and then moves at 512 MiB/s (DESIGN.md: under TCG a
 * 256 MiB step took under a second); a stuck guest's balloon never moves.
 * A guest whose balloon is below its working set swaps inside itself
 * (distress, with major faults its stats report); past 512 MiB of
 * shortfall the model's OOM killer fires. Guest stats are refreshed every
 * 2 s (ksmd.conf balloon.stats_interval); a lying guest reports at least
 * 60% of its memory as available and 50% as free (its faults stay true).
 * The host swaps when its free memory falls under 256 MiB; PSI some rises
 * below 0.8 GiB free (5% of the 16 GiB host, held absolute on the larger
 * host: reclaim starts near the kernel's watermarks, which grow with the
 * square root of memory) and full while the host swaps, averaged as avg10.
 *
 * Page cache costs something to drop. A cache page pushed out of a guest -
 * by its balloon, by its own working set, by a read-back with no room - is
 * read again later with probability REFAULT_FRACTION (0.2; assumed, not
 * measured: --refault changes it), after REFAULT_PERIOD_S (60 s) on
 * average. Each such read is a refault: a 4 KiB read from the guest's disk
 * that stalls it MAJOR_FAULT_S (0.25 ms, assumed: an SSD-backed virtio
 * disk). Refaults are counted per policy; they do not show in the guest's
 * balloon stats, whose major faults are the kernel's pgmajfault: page cache
 * read back through read() faults nothing. Cache that churns while the
 * guest has room (LRU turnover) is the same under every policy and is not
 * modelled.
 *
 * Duplicates. 25% of each guest's resident working set duplicates another
 * guest's: that is the most KSM can save (potential). The kernel's KSM
 * walks all the guests' resident pages; a duplicate merges over two passes
 * (the first records its checksum, the next merges it: mm/ksm.c), so each
 * second it closes scanned / (2 x pages) of the gap. Its rate follows its
 * knobs: pages_to_scan per batch, sleep_millisecs between batches, each
 * page costing the kernel thread CPU by what it holds (DESIGN.md, "Kernel
 * KSM measured on 1 GiB": 0.8 M pages per CPU-second on duplicate-heavy
 * memory, 0.22 M on unique memory; bench/results/scanner.md: 7.36 M over
 * pages it already merged); the guests here are mostly unique (75% of the
 * working set and all the cache), so a page costs about 4 us, not the
 * 1.25 us of duplicate-heavy memory (--ksm-flat charges every page at
 * 0.8 M). With sleep 0 the thread runs a whole core. Its CPU is counted
 * for every policy. The kernel starts with KSM off (mm/ksm.c: ksm_run =
 * KSM_RUN_STOP) at 100 pages / 20 ms.
 *
 * ksmd, as shipped (ksmd.conf, daemon/config.c). The daemon's tick is 1 s
 * and drives the policy (snap.conf.tick_usec = 1 s) and the KSM executor,
 * in the daemon's order (daemon/tick.c): host-side working set, then
 * policy_decide(), then ksm_pace() with the policy's urgency, the kernel
 * thread's CPU over the last second, KSM's counters and the scanner's
 * prediction, at ksm.cpu_percent = 50 and ksm.min_savings = 16M; its
 * knobs are the kernel's for the next second: converging within 50% of a
 * core, full speed when the policy says urgent, then the trickle (100
 * pages / 200 ms) once converged.
 * - The scanner passes over every guest in turn (scanner/scanner.c) at
 *   0.6 M pages/s: 1.2 M pages per CPU-second (pread on /proc/PID/mem,
 *   DESIGN.md and bench/results/scanner.md: 1.0-1.5 M) within
 *   scanner.cpu_percent = 50; it reads the pages that are resident and not
 *   merged (pagemap skips the rest) and costs 1 CPU-second per 1.2 M
 *   pages, counted. The next pass starts scanner.pass_interval (30 s)
 *   after one ends. The prediction (duplicates seen) is published when a
 *   pass ends: a new duplicate is seen up to a pass and an interval later.
 *   KSM is counted as merging only what the scanner predicted: the merged
 *   memory grows toward min(potential, prediction); before the first pass
 *   ends it grows not at all, and the policy's merge figures are absent
 *   (snap.merge.available false), as in the daemon.
 * - The host-side working set (collect/wss.c) has no oracle: the model runs
 *   wss_tracker_tick()'s cycle per guest, with the scanner's last read
 *   standing for scanner_guest_last_read(): clear, read after
 *   host_wss_interval (10 s), clear again; an interval in which the scanner
 *   read the guest is dropped and started again 0.5 s after the read
 *   (WSS_READ_QUIET_USEC). What a sample counts is what was touched in its
 *   interval: the hot part of the resident working set, of its idle part
 *   (WS_IDLE_FRACTION = 25% of it, needed but touched only every
 *   WS_IDLE_PERIOD_S = 60 s; assumed) only the share touched within the
 *   interval, and the cache read in; it lags by one interval and ages until
 *   the next sample. So it is low by about a fifth of the working set, the
 *   lying guest included.
 * - ksmd's balloon module marks a guest stuck after 5 s without progress
 *   toward a target more than 1% of its maximum away.
 *
 * The anchors.
 * - oVirt MOM as vdsm ships it (static/etc/vdsm/mom.conf.in: every monitor
 *   and the policy engine at 15 s, history 10): 02-balloon.policy through
 *   anchor_mom_round() (policy/anchor_mom.c, ported verbatim and cited
 *   there), with mem_unused = the guest's MemFree, host mem_free =
 *   MemFree + Buffers + Cached (here the host's free memory: it caches
 *   nothing), averaged over the last 10 samples; balloon_min = the guest's
 *   min; balloonEnabled set (00-defines.policy has 0 until the engine
 *   enables ballooning for the cluster, and then the rule only grows).
 *   KSM by 03-ksm.policy with its ksm_committed term (mom_ksm_round() in
 *   tests/sim/sim_rules.c, cited there): KSM runs unless the QEMU
 *   processes' VSZ plus 20% of MemTotal is below MemTotal and the average
 *   free memory above 20%. VSZ is at least the guest's RAM size (taken
 *   as exactly that), so here the 4 x 4 GiB guests keep MOM's KSM always
 *   on: pages_to_scan +300 while free < 20%, -50 otherwise, within
 *   [64, 1250], sleep max(10, 10 ms x 16 GiB / MemTotal).
 * - Proxmox VE: pvestatd's auto-ballooning every 10 s, the first cycle
 *   skipped, through anchor_proxmox_round() (policy/anchor_proxmox.c): target 80%
 *   of the host's memory used (MemTotal - MemAvailable), each VM's
 *   `balloon` minimum the guest's min, shares 1000, freemem the guest's
 *   MemFree. KSM by ksmtuned as pve's ksm-control-daemon ships it, every
 *   60 s (ksmtuned_adjust(), tests/sim/sim_rules.c): committed = the kvm
 *   processes' PSS (here the guests' cost), free = MemFree + Buffers +
 *   Cached, on when committed + 20% of MemTotal >= MemTotal or free <=
 *   20%; npages from 0, +300 / -50 within [64, 1250]; sleep 100 ms x
 *   16 GiB / MemTotal, at least 10.
 * - Xen squeezed (xen-api ocaml/squeezed, sq_* in tests/sim/sim_rules.c):
 *   every 10 s (balance-check-interval) it checks whether the host is
 *   unbalanced (one_iteration on a fresh stuckness monitor); if so it runs
 *   change_host_free_memory's loop, one iteration a second until Success
 *   or Failed: targets = dynamic_min + gamma x (dynamic_max - dynamic_min)
 *   over the domains not declared stuck, gamma from the free memory plus
 *   what each could free (actual - min - 2 x 4 KiB inaccuracy) less a host
 *   target of 72 MiB; freeing targets are set before growing ones (two
 *   phases); a domain with a request and no progress toward it for over
 *   5 s is stuck and excluded. Xen's free memory is read as the budget less
 *   every guest's balloon actual (Xen backs all of a domain's actual, so
 *   squeezed never overcommits). No KSM: nothing in xapi starts it, and
 *   the kernel's default is off.
 *   What the simulator used to run for squeezed differed: every 2 s, no
 *   two phases, no 72 MiB host target or inaccuracy, ksmd's own stuck
 *   flag, and KSM always on at the kernel defaults.
 * MOM and Proxmox take no budget: their own rules decide how full the host
 * gets (MOM: 20% free, Proxmox: 80% used). Over-budget time is measured
 * against the same budget for every policy all the same: it is the memory
 * the operator gave the guests.
 *
 * Scenarios (each 600 s): boot storm, working set doubling, host pressure
 * spike, budget cut by 30%, stuck guest, lying guest; burst: working sets
 * of 2.4, 2.4, 2.0 and 2.4 GiB, and db1 allocates 40% of its size (1.6
 * GiB) within 3 s at t = 15 s, while every policy still holds the host
 * within 5% of its budget (the warm start is at the budget);
 * many_guests_64: 100 guests of 2 GiB on a 128 GiB host, run as the 64
 * guests POLICY_MAX_GUESTS (and ANCHOR_MAX_VMS) allows on a host scaled by
 * 0.64 (82 GiB, 2 GiB for the host, 79 GiB budget), guests of 256 MiB to
 * 2 GiB with working sets of 0.6-1.2 GiB, a quarter of them needing 0.5
 * GiB more from t = 100 s to 350 s. Every scenario but the boot storm
 * (guests at their maximum, 256 MiB in use, reading 80 MiB/s for 120 s)
 * starts warm: the guests at the budget, caches full; every one with KSM
 * off and nothing merged.
 *
 * Measured per run: over-budget seconds (guest cost above the budget, or
 * above what the host can give after its reserve, whichever is smaller),
 * guest distress seconds (guest-seconds below the working set), refaults
 * and the guest time they cost, reclaimed memory (mean of sum of max -
 * guest cost), merged memory, CPU-seconds of the kernel's KSM thread and
 * of ksmd's scanner, host swap seconds, OOM kills, target direction
 * reversals. With --check, ksmd's runs must hold these properties at every
 * step: no guest below its floor, no OOM, no over-budget stretch longer
 * than OVER_BUDGET_BOUND_S, at most REVERSALS_BOUND direction reversals per
 * guest, and distress that the guest's stats show answered by a grow
 * action within DISTRESS_ANSWER_S (two 2 s stats periods and a step: the
 * bound the simulator always had, in seconds). --check also runs the ports
 * of sim_rules.c on cases worked by hand from the originals' text. */
#include "policy/anchors.h"
#include "collect/host.h"
#include "policy/policy.h"
#include "act/ksm.h"
#include "tests/sim/sim_rules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ constants */

#define T_END 600                 /* seconds per scenario */
#define DT 1.0                    /* model step, seconds */
#define NGMAX POLICY_MAX_GUESTS   /* 64; anchors.h ANCHOR_MAX_VMS is 64 too */
#define MB (1024.0 * 1024.0)
#define GB (1024.0 * MB)
#define PAGE 4096.0

/* The guest and host model (assumptions of this model, unchanged). */
#define BALLOON_DELAY_S 1.0       /* a target takes effect after this */
#define BALLOON_RATE (512 * MB)   /* bytes/s (DESIGN.md: 256 MiB within a second under TCG) */
#define STATS_INTERVAL_S 2        /* ksmd.conf balloon.stats_interval */
#define OOM_SHORT (512 * MB)      /* shortfall at which the guest's OOM killer fires */
#define HOST_SWAP_FREE (256 * MB) /* host free below this: the host swaps */
#define PSI_ONSET_FREE (0.8 * GB) /* host free below this: PSI some rises (5% of the 16 GiB host,
				   * held absolute: the kernel's reclaim watermarks grow with the
				   * square root of memory, not in proportion) */

/* ksmd as shipped (ksmd.conf; daemon/config.c defaults). */
#define KSMD_TICK_S 1             /* [daemon] tick = 1s: drives policy and KSM pacing */
#define SCAN_PASS_INTERVAL_S 30.0 /* [scanner] pass_interval = 30s (end of a pass to the next) */
#define SCAN_PAGES_PER_CPU_S 1.2e6 /* measured, DESIGN.md and bench/results/scanner.md */
#define SCAN_CPU_PERCENT 50.0     /* [scanner] cpu_percent = 50 */
#define SCAN_PAGES_PER_S (SCAN_PAGES_PER_CPU_S * SCAN_CPU_PERCENT / 100)
#define KSM_CPU_PERCENT 50.0      /* [ksm] cpu_percent = 50 */
#define KSM_MIN_SAVINGS (16 * MB) /* [ksm] min_savings = 16M */

/* The kernel's KSM thread, pages scanned per CPU-second (DESIGN.md
 * "Kernel KSM measured on 1 GiB": 0.8 M duplicate-heavy, 0.22 M unique;
 * bench/results/scanner.md: 7.36 M over memory it has merged). */
#define KSM_DUP_PAGES_PER_CPU_S 0.8e6
#define KSM_UNIQUE_PAGES_PER_CPU_S 0.22e6
#define KSM_MERGED_PAGES_PER_CPU_S 7.36e6
#define KSM_PASSES_TO_MERGE 2.0   /* checksum pass, then the merging pass (mm/ksm.c) */

/* The workload (assumed). */
#define DUP_FRACTION 0.25         /* of a guest's resident working set: duplicates another guest's */
#define WS_IDLE_FRACTION 0.25     /* of the working set: needed, but touched only every ... */
#define WS_IDLE_PERIOD_S 60.0     /* ... this often (so a 10 s interval misses most of it) */
#define REFAULT_FRACTION 0.20     /* of dropped page cache: read again later (--refault) */
#define REFAULT_PERIOD_S 60.0     /* mean time until such a page is read again */
#define MAJOR_FAULT_S 0.25e-3     /* guest time lost per refault (a 4 KiB read from disk) */

#define OVER_BUDGET_BOUND_S 30
#define REVERSALS_BOUND 8
#define DISTRESS_ANSWER_S (2 * 2 + DT) /* two 2 s stats periods and a step */

enum pol { P_KSMD, P_KSMD_NOTRIM, P_MOM, P_PROXMOX, P_SQUEEZED, P_N };
static const char *pol_name[P_N] = { "ksmd", "ksmd-notrim", "mom", "proxmox", "squeezed" };
static bool is_ksmd(enum pol p) { return p == P_KSMD || p == P_KSMD_NOTRIM; }

static double refault_fraction = REFAULT_FRACTION;
static bool ksm_flat_rate;        /* --ksm-flat: every page at the duplicate-heavy rate */

struct sguest {
	char name[16];
	double max, min, shares;
	bool stuck_balloon, liar;
	double ws, ws_goal, ws_rate;     /* bytes, bytes/s */
	double cache, fill_rate;
	double actual, target;
	double pending, pending_at;      /* target arriving after the delay */
	bool has_pending;
	double refault_debt;             /* dropped cache the guest will read again, bytes */
	double refault_rate;             /* pages/s read back this step */
	/* reported stats */
	double st_avail, st_free, st_faults, st_t;
	double faults;
	double last_actual, last_progress_t;
	bool stuck_flag;
	int last_sign, reversals;
	double distress_seen_t;          /* when its stats first showed distress, <0 none */
	int oom;
	/* ksmd's host-side working set (collect/wss.c, wss_tracker_tick) */
	usec_t hw_cleared;               /* 0 = not cleared */
	double hw_ws, hw_cache;          /* touched since the clear */
	bool hw_valid;
	double hw_bytes;
	usec_t hw_sampled;
	int hw_samples, hw_discarded;
	/* ksmd's scanner: this pass's read window, seconds */
	double rd_a, rd_b, last_read, pot_seen, pages_seen;
	bool rd_done;
	/* MOM's GuestMonitor */
	struct anchor_mom_guest mom;
};

struct sim {
	enum pol pol;
	int ng;
	double t;
	double total, other, budget, reserve;
	double psi_some, psi_full, swap_out_rate;
	struct sguest g[NGMAX];
	/* the kernel's KSM */
	unsigned k_run, k_pts, k_sleep;  /* knobs in force */
	double merged;                   /* bytes saved (pages_sharing) */
	double full_scans;
	double k_cpu_pct;                /* kthread over the last step */
	double ksm_cpu_s;
	/* ksmd */
	struct policy_state st;
	struct policy_plan plan;
	bool plan_valid;
	struct ksm_pace_config pace_cfg;
	struct ksm_pace_state pace;
	bool was_running, have_cpu;
	char pace_reason[KSM_REASON_LEN];
	bool scan_active, have_prediction;
	double scan_end, scan_next, prediction;
	int passes;
	double scan_cpu_s;
	/* MOM */
	struct anchor_mom_host mom;
	/* Proxmox */
	struct ksmtuned tuned;
	/* squeezed */
	bool sq_balancing;
	double sq_next_check;
	struct sq_squeezer sq;
	/* metrics */
	double over_s, distress_s, reclaimed_sum, swap_s, merged_sum, ballooned_sum;
	double refault_pages, pred_lag_sum;
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

static double guest_cost(const struct sim *s)
{
	return fmax(0, guest_rss(s) - s->merged);
}

static double budget_eff(const struct sim *s)
{
	return fmin(s->budget, s->total - s->other - s->reserve);
}

static double potential(const struct sim *s)
{
	double p = 0;
	for (int i = 0; i < s->ng; i++)
		p += DUP_FRACTION * ws_resident(&s->g[i]);
	return p;
}

/* A guest's share of the merged pages (ksm_merging_pages, PSS). */
static double merged_share(const struct sim *s, int i)
{
	double pot = potential(s);
	return pot > 0 ? s->merged * DUP_FRACTION * ws_resident(&s->g[i]) / pot : 0;
}

static bool in_distress(const struct sguest *g) { return g->actual < g->ws - 1; }

static usec_t usec_at(double t) { return (usec_t)((t + 1) * USEC_PER_SEC); } /* never 0 */

/* ------------------------------------------------------------- scenarios */

enum scen { S_BOOT, S_DOUBLE, S_SPIKE, S_CUT, S_STUCK, S_LIAR, S_BURST, S_MANY, S_N };
static const char *scen_name[S_N] = {
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

static void setup(struct sim *s, enum pol p, enum scen sc)
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

static void events(struct sim *s, enum scen sc)
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

/* wss_tracker_tick() (collect/wss.c) for one guest, the scanner's last
 * read standing for scanner_guest_last_read(). */
static void wss_tick(struct sim *s, struct sguest *g, usec_t interval)
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

static void step_model(struct sim *s)
{
	for (int i = 0; i < s->ng; i++)
		step_guest(s, &s->g[i]);
	step_ksm(s);
	step_host(s);
	if (is_ksmd(s->pol))
		step_scanner(s);
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
	g->pending_at = s->t + BALLOON_DELAY_S;
	g->has_pending = true;
	if (sign > 0)
		g->distress_seen_t = -1;   /* answered */
}

static double target_of(const struct sguest *g)
{
	return g->has_pending ? g->pending : g->target;
}

/* ------------------------------------------------------------ the policies */

static void run_ksmd(struct sim *s)
{
	static struct policy_snapshot snap;
	memset(&snap, 0, sizeof snap);
	snap.now_usec = usec_at(s->t);
	policy_conf_defaults(&snap.conf);
	snap.conf.tick_usec = KSMD_TICK_S * USEC_PER_SEC; /* the daemon's tick drives the policy */
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
	snap.merge.available = s->have_prediction;
	snap.merge.potential_pages = (uint64_t)(s->prediction / PAGE);
	snap.merge.merged_pages = (uint64_t)(s->merged / PAGE);
	snap.merge.ksmd_cpu_percent = s->have_cpu ? s->k_cpu_pct : -1;
	snap.n_guests = (size_t)s->ng;
	for (int i = 0; i < s->ng; i++)
		wss_tick(s, &s->g[i], snap.conf.host_wss_interval_usec);
	for (int i = 0; i < s->ng; i++) {
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
		pg->balloon_target_bytes = (uint64_t)target_of(g);
		pg->stats_valid = true;
		pg->stat_total_bytes = (uint64_t)g->actual;
		pg->stat_available_bytes = (uint64_t)g->st_avail;
		pg->stat_free_bytes = (uint64_t)g->st_free;
		pg->major_faults_per_sec = g->st_faults;
		pg->swap_in_pages_per_sec = g->st_faults;
		pg->stats_age_usec = (usec_t)((s->t - g->st_t) * USEC_PER_SEC);
		pg->rss_bytes = (uint64_t)rss_of(g);
		pg->ksm_merging_pages = (uint64_t)(merged_share(s, i) / PAGE);
		/* wss_tracker_fill() */
		pg->host_active_valid = g->hw_valid;
		pg->host_active_bytes = g->hw_valid ? (uint64_t)g->hw_bytes : 0;
		pg->host_active_age_usec = g->hw_valid ? snap.now_usec - g->hw_sampled : 0;
	}
	policy_decide(&snap, &s->st, &s->plan);
	s->plan_valid = true;
	for (size_t i = 0; i < s->plan.n_actions; i++) {
		const struct policy_action *a = &s->plan.actions[i];
		set_target(s, &s->g[a->guest_index], (double)a->target_bytes);
	}

	/* the KSM executor (daemon/tick.c ksm_drive -> ksm_driver_tick ->
	 * ksm_pace), at the daemon's tick */
	struct ksm_pace_input in;
	memset(&in, 0, sizeof in);
	in.predicted_pages = s->have_prediction ? (uint64_t)(s->prediction / PAGE)
						: KSM_PREDICTION_PENDING;
	in.merged_pages = (uint64_t)(s->merged / PAGE);
	in.merged_stale = !s->was_running;
	in.full_scans = (int64_t)s->full_scans;
	in.kthread_cpu_percent = s->have_cpu ? s->k_cpu_pct : -1;
	in.interval_usec = KSMD_TICK_S * USEC_PER_SEC;
	in.urgency = s->plan.merge_urgency == POLICY_MERGE_URGENT ? KSM_URGENCY_URGENT
		   : s->plan.merge_urgency == POLICY_MERGE_IDLE ? KSM_URGENCY_IDLE
								 : KSM_URGENCY_NORMAL;
	in.cur = (struct ksm_knobs){ s->k_run, s->k_pts, s->k_sleep };
	in.state = s->pace;
	struct ksm_pace_output out;
	ksm_pace(&s->pace_cfg, &in, &out);
	s->pace = out.state;
	s->was_running = s->k_run == 1;
	s->have_cpu = true;
	if (out.changed)
		snprintf(s->pace_reason, sizeof s->pace_reason, "%s", out.reason);
	s->k_run = out.next.run;
	s->k_pts = out.next.pages_to_scan;
	s->k_sleep = out.next.sleep_millisecs;
}

/* oVirt MOM as vdsm runs it: the host and guest monitors sample every
 * 15 s (history 10), the policy engine evaluates 02-balloon.policy
 * (anchor_mom_round) and 03-ksm.policy (mom_ksm_round) every 15 s. */
static void mom_sample(struct sim *s)
{
	double hostfree = fmax(0, s->total - s->other - guest_cost(s));
	anchor_mom_host_push(&s->mom, (uint64_t)hostfree, (uint64_t)s->total);
	s->mom.balloon_enabled = true; /* the cluster's "enable ballooning" (00-defines: 0 until set) */
	for (int i = 0; i < s->ng; i++) {
		struct sguest *g = &s->g[i];
		struct anchor_mom_sample sm = {
			.balloon_valid = true,
			.balloon_cur_bytes = (uint64_t)g->actual,
			.mem_unused_valid = true,
			.mem_unused_bytes = (uint64_t)g->st_free,
		};
		anchor_mom_guest_push(&g->mom, &sm);
		g->mom.balloon_min_bytes = (uint64_t)g->min;
		g->mom.balloon_max_bytes = (uint64_t)g->max;
	}
}

static void run_mom(struct sim *s)
{
	static struct anchor_mom_guest guests[NGMAX];
	static struct anchor_mom_round r;
	for (int i = 0; i < s->ng; i++)
		guests[i] = s->g[i].mom;
	if (anchor_mom_round(&s->mom, guests, (size_t)s->ng, &r) == 0)
		for (int i = 0; i < s->ng; i++)
			if (r.guest[i].set)
				set_target(s, &s->g[i], (double)r.guest[i].target_bytes);

	struct mom_ksm_host h;
	memset(&h, 0, sizeof h);
	h.mem_available_kib = (int64_t)(s->total / 1024);
	uint64_t sum = 0;
	for (unsigned k = 0; k < s->mom.n_samples; k++)
		sum += s->mom.mem_free_bytes[k] / 1024;
	h.mem_free_avg_kib = (double)sum / (double)s->mom.n_samples; /* Entity.py:121 */
	for (int i = 0; i < s->ng; i++)
		h.ksm_shareable_kib += (int64_t)(s->g[i].max / 1024); /* VSZ >= the guest's RAM */
	h.ksm_run = s->k_run;
	h.ksm_pages_to_scan = s->k_pts;
	h.ksm_sleep_millisecs = s->k_sleep;
	h.ksm_pages_shared = s->merged > 0 ? 1 : 0;
	h.ksm_merge_across_nodes = 1;
	h.ksm_enabled = 1;
	h.ksm_merge_across_nodes_req = 1;
	struct mom_ksm_out o;
	mom_ksm_round(&h, &o);
	if (o.set_run)
		s->k_run = (unsigned)o.run;
	if (o.set_pages_to_scan)
		s->k_pts = (unsigned)o.pages_to_scan;
	if (o.set_sleep)
		s->k_sleep = (unsigned)o.sleep_millisecs;
	if (o.set_run || o.set_pages_to_scan || o.set_sleep)
		snprintf(s->pace_reason, sizeof s->pace_reason, "%s", o.reason);
}

/* Proxmox VE: pvestatd's auto-ballooning every 10 s (anchor_proxmox_round),
 * ksmtuned every 60 s. */
static void run_proxmox(struct sim *s)
{
	struct anchor_pve_host h = {
		.mem_total_bytes = (uint64_t)s->total,
		.mem_used_bytes = (uint64_t)fmin(s->total, s->other + guest_cost(s)),
		.target_percent = ANCHOR_PVE_TARGET_PERCENT,
	};
	static struct anchor_pve_vm vms[NGMAX];
	static struct anchor_pve_round r;
	for (int i = 0; i < s->ng; i++) {
		struct sguest *g = &s->g[i];
		vms[i] = (struct anchor_pve_vm){
			.balloon_bytes = (uint64_t)g->actual,
			.maxmem_bytes = (uint64_t)g->max,
			.balloon_min_bytes = (uint64_t)g->min,
			.shares = ANCHOR_PVE_DEFAULT_SHARES,
			.freemem_bytes = (uint64_t)g->st_free,
		};
	}
	if (anchor_proxmox_round(&h, vms, (size_t)s->ng, &r) == 0)
		for (int i = 0; i < s->ng; i++)
			if (r.vm[i].set)
				set_target(s, &s->g[i], (double)r.vm[i].target_bytes);
}

static void run_ksmtuned(struct sim *s)
{
	double used = guest_cost(s);   /* sum of the kvm processes' PSS */
	struct ksmtuned_out o;
	ksmtuned_adjust(&s->tuned, (int64_t)(fmax(0, s->total - s->other - used) / 1024),
			(int64_t)(used / 1024), &o);
	if (o.stop) {
		s->k_run = 0;
	} else {
		s->k_pts = (unsigned)o.pages_to_scan;
		s->k_sleep = (unsigned)o.sleep_millisecs;
		s->k_run = 1;
	}
	snprintf(s->pace_reason, sizeof s->pace_reason, "%s", o.reason);
}

/* Xen squeezed: every balance-check-interval (10 s), if the host is
 * unbalanced, change_host_free_memory: one_iteration every second until
 * Success or Failed. Xen's free memory is read as the memory the budget
 * leaves after every guest's balloon actual (Xen backs all of a domain's
 * actual; on a cut budget it goes negative). */
static size_t sq_domains(const struct sim *s, struct sq_domain *d, int64_t *free_kib)
{
	double free_b = budget_eff(s);
	for (int i = 0; i < s->ng; i++) {
		const struct sguest *g = &s->g[i];
		d[i] = (struct sq_domain){
			.domid = i,
			.can_balloon = true,
			.dynamic_min_kib = (int64_t)(g->min / 1024),
			.dynamic_max_kib = (int64_t)(g->max / 1024),
			.target_kib = (int64_t)(target_of(g) / 1024),
			.memory_actual_kib = (int64_t)(g->actual / 1024),
			.inaccuracy_kib = SQ_INACCURACY_KIB,
		};
		free_b -= g->actual;
	}
	*free_kib = (int64_t)(free_b / 1024);
	return (size_t)s->ng;
}

static void run_squeezed(struct sim *s)
{
	static struct sq_domain d[NGMAX];
	int64_t free_kib;
	size_t n = sq_domains(s, d, &free_kib);
	if (!s->sq_balancing) {
		if (s->t < s->sq_next_check)
			return;
		if (!sq_is_host_memory_unbalanced(d, n, free_kib, s->t)) {
			s->sq_next_check = s->t + SQ_BALANCE_CHECK_INTERVAL_S;
			return;
		}
		s->sq_balancing = true;
		sq_squeezer_make(&s->sq);
	}
	struct sq_iteration it;
	sq_one_iteration(&s->sq, d, n, free_kib, SQ_TARGET_HOST_FREE_KIB, s->t, &it);
	if (it.result != SQ_ADJUST_TARGETS) {
		s->sq_balancing = false;
		s->sq_next_check = s->t + SQ_BALANCE_CHECK_INTERVAL_S;
		return;
	}
	for (size_t a = 0; a < it.n_actions; a++)
		set_target(s, &s->g[it.action_domid[a]], (double)it.new_target_kib[a] * 1024);
}

/* ------------------------------------------------------------------ runs */

struct result {
	double over_s, distress_s, reclaimed_gib, swap_s, merged_gib, ballooned_gib;
	double refault_k, refault_stall_s, ksm_cpu_s, scan_cpu_s, pred_lag_gib;
	int ooms, reversals_max, over_streak_max, violations, passes, wss_samples, wss_discarded;
	char first_violation[256];
};

static void controllers(struct sim *s)
{
	int t = (int)s->t;
	switch (s->pol) {
	case P_KSMD:
	case P_KSMD_NOTRIM:
		if (t % KSMD_TICK_S == 0)
			run_ksmd(s);
		break;
	case P_MOM:
		if (t % 15 == 0) {                 /* ANCHOR_MOM_INTERVAL_USEC */
			mom_sample(s);
			if (t > 0)
				run_mom(s);
		}
		break;
	case P_PROXMOX:
		if (t > 0 && t % 10 == 0)          /* ANCHOR_PVE_INTERVAL_USEC, first cycle skipped */
			run_proxmox(s);
		if (t > 0 && t % KSMTUNED_MONITOR_INTERVAL_S == 0)
			run_ksmtuned(s);
		break;
	case P_SQUEEZED:
		run_squeezed(s);
		break;
	default:
		break;
	}
}

static void run(enum pol p, enum scen sc, bool check, bool trace, struct result *r)
{
	static struct sim s;
	setup(&s, p, sc);
	for (int k = 0; k < T_END; k++) {
		s.t = k * DT;
		events(&s, sc);
		step_model(&s);
		controllers(&s);
		metrics(&s, check && is_ksmd(p));
		if (!trace)
			continue;
		printf("%s %s t=%3.0f cost=%6.0fM budget=%6.0fM merged=%5.0fM/%5.0fM ksm=%u/%u/%u "
		       "cpu=%3.0f%% psi=%4.1f/%4.1f", pol_name[p], scen_name[sc], s.t, guest_cost(&s) / MB,
		       budget_eff(&s) / MB, s.merged / MB, potential(&s) / MB, s.k_run, s.k_pts, s.k_sleep,
		       s.k_cpu_pct, s.psi_some, s.psi_full);
		if (is_ksmd(p))
			printf(" pred=%.0fM", s.prediction / MB);
		for (int i = 0; i < s.ng && i < 8; i++)
			printf(" %s=%.0f/%.0f/%.0f%s", s.g[i].name, s.g[i].actual / MB, s.g[i].ws / MB,
			       s.g[i].cache / MB, in_distress(&s.g[i]) ? "!" : "");
		printf("\n");
		if (s.pace_reason[0]) {
			printf("    ksm: %s\n", s.pace_reason);
			s.pace_reason[0] = 0;
		}
		if (is_ksmd(p)) {
			for (int i = 0; i < s.ng && i < 8; i++)
				if (s.g[i].hw_valid && s.g[i].hw_sampled == usec_at(s.t))
					printf("    wss %s: %.0f MiB (true working set %.0f MiB)\n", s.g[i].name,
					       s.g[i].hw_bytes / MB, s.g[i].ws / MB);
			for (size_t i = 0; i < s.plan.n_actions; i++)
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
	r->refault_k = s.refault_pages / 1000;
	r->refault_stall_s = s.refault_pages * MAJOR_FAULT_S;
	r->ksm_cpu_s = s.ksm_cpu_s;
	r->scan_cpu_s = s.scan_cpu_s;
	r->pred_lag_gib = s.pred_lag_sum / T_END / GB;
	r->passes = s.passes;
	for (int i = 0; i < s.ng; i++) {
		r->wss_samples += s.g[i].hw_samples;
		r->wss_discarded += s.g[i].hw_discarded;
	}
	r->ooms = s.ooms;
	r->reversals_max = s.reversals_max;
	r->over_streak_max = s.over_streak_max;
	r->violations = s.violations;
	memcpy(r->first_violation, s.first_violation, sizeof r->first_violation);
}

/* Hand-worked cases of the ports in sim_rules.c, from the originals' text
 * (run with --check). Returns the number of failures, printed. */
static int selftest_rules(void)
{
	int bad = 0;
#define EXPECT(c) do { if (!(c)) { printf("FAIL ports: %s (line %d)\n", #c, __LINE__); bad++; } } while (0)
	/* 03-ksm: 16 GiB host (16777216 KiB), threshold 3355443.2 KiB */
	struct mom_ksm_host h = { .mem_available_kib = 16777216, .mem_free_avg_kib = 1048576,
				  .ksm_shareable_kib = 0, .ksm_run = 0, .ksm_pages_to_scan = 100,
				  .ksm_sleep_millisecs = 20, .ksm_pages_shared = 0,
				  .ksm_merge_across_nodes = 1, .ksm_enabled = 1,
				  .ksm_merge_across_nodes_req = 1 };
	struct mom_ksm_out o;
	mom_ksm_round(&h, &o);   /* free < threshold: run, boost 100 -> 400, sleep 10 */
	EXPECT(o.ksm_on && o.set_run && o.run == 1 && o.set_pages_to_scan && o.pages_to_scan == 400 &&
	       o.set_sleep && o.sleep_millisecs == 10 && !o.set_merge_across_nodes);
	h.mem_free_avg_kib = 8388608;
	h.ksm_shareable_kib = 4194304;
	h.ksm_run = 1;
	mom_ksm_round(&h, &o);   /* 4 GiB committed + threshold < 16 GiB, free > threshold: ksm_run 0 */
	EXPECT(!o.ksm_on && o.set_run && o.run == 0);
	h.ksm_shareable_kib = 16777216;
	mom_ksm_round(&h, &o);   /* ksm_committed alone keeps it on: decay 100 - 50 -> 64 */
	EXPECT(o.ksm_on && !o.set_run && o.set_pages_to_scan && o.pages_to_scan == 64);
	h.mem_available_kib = 134217728;
	h.ksm_shareable_kib = 134217728;
	mom_ksm_round(&h, &o);   /* 128 GiB: sleep max(10, 1.25) = 10 */
	EXPECT(o.ksm_on && o.set_sleep && o.sleep_millisecs == 10);

	/* ksmtuned on 16 GiB: sleep 100 ms, thres 3355443 KiB, npages from 0 */
	struct ksmtuned k;
	struct ksmtuned_out ko;
	ksmtuned_init(&k, 16777216);
	EXPECT(k.sleep_ms == 100 && k.thres_kib == 3355443 && k.npages == 0);
	ksmtuned_adjust(&k, 8388608, 4194304, &ko);
	EXPECT(ko.stop);
	ksmtuned_adjust(&k, 1048576, 4194304, &ko);
	EXPECT(!ko.stop && ko.pages_to_scan == 300 && ko.sleep_millisecs == 100);
	ksmtuned_adjust(&k, 8388608, 16000000, &ko);
	EXPECT(!ko.stop && ko.pages_to_scan == 250);
	ksmtuned_init(&k, 134217728);
	EXPECT(k.sleep_ms == 12);

	/* squeezed: two domains of 512 MiB..4 GiB at 3 GiB, no free memory:
	 * gamma = (2 x (3 GiB - 512 MiB - 8 KiB) - 72 MiB) / (2 x 3.5 GiB) */
	struct sq_domain d[2] = {
		{ 0, true, 524288, 3145728, 4194304, 3145728, SQ_INACCURACY_KIB },
		{ 1, true, 524288, 3145728, 4194304, 3145728, SQ_INACCURACY_KIB },
	};
	struct sq_squeezer x;
	struct sq_iteration it;
	sq_squeezer_make(&x);
	sq_one_iteration(&x, d, 2, 0, SQ_TARGET_HOST_FREE_KIB, 0, &it);
	double gamma = (2.0 * (3145728 - 524288 - 8) - 73728) / (2.0 * 3670016);
	int64_t want = 524288 + (int64_t)(gamma * 3670016);
	EXPECT(it.result == SQ_ADJUST_TARGETS && it.n_actions == 2 && !it.allocation_phase &&
	       it.new_target_kib[0] == want && it.new_target_kib[1] == want);
	/* two phases: domain 1 far below its share grows only after domain 0 frees */
	d[1].memory_actual_kib = d[1].target_kib = 1048576;
	sq_squeezer_make(&x);
	sq_one_iteration(&x, d, 2, 0, SQ_TARGET_HOST_FREE_KIB, 0, &it);
	EXPECT(it.result == SQ_ADJUST_TARGETS && it.n_actions == 1 && it.action_domid[0] == 0);
	/* stuck: a request and no progress for more than 5 s */
	d[0].target_kib = it.new_target_kib[0];
	sq_one_iteration(&x, d, 2, 0, SQ_TARGET_HOST_FREE_KIB, 5, &it);
	EXPECT(it.active[0]);
	sq_one_iteration(&x, d, 2, 0, SQ_TARGET_HOST_FREE_KIB, 5.5, &it);
	EXPECT(!it.active[0] && it.active[1]);
#undef EXPECT
	if (!bad)
		printf("PASS ports: 03-ksm.policy, ksmtuned, squeeze.ml on hand-worked cases\n");
	return bad;
}

static void usage(void)
{
	fprintf(stderr, "usage: policy_sim [--check] [--trace POLICY SCENARIO] [--json FILE] [--md FILE]\n"
			"                  [--refault FRACTION] [--ksm-flat]\n");
	exit(2);
}

static const char md_head[] =
	"# Policy simulator: ksmd vs oVirt MOM vs Proxmox VE vs Xen squeezed\n\n"
	"Produced by `make bench-policy` (tests/sim/policy_sim.c; the model, every\n"
	"constant's source, and the ported rules are described at the top of that file\n"
	"and in docs/PERFORMANCE.md). 600 s per scenario. Each anchor runs its original\n"
	"rule, ported: MOM = vdsm's 02-balloon.policy (policy/anchor_mom.c) and\n"
	"03-ksm.policy with its ksm_committed term, every 15 s; Proxmox = pvestatd's\n"
	"auto-ballooning (policy/anchor_proxmox.c) every 10 s and ksmtuned every 60 s;\n"
	"squeezed = xen-api's squeeze.ml balancer, no KSM (nothing in xapi starts it).\n"
	"ksmd runs policy_decide() and ksm_pace() every 1 s, its scanner passes every\n"
	"30 s at 0.6 M pages/s, and sees each guest's working set only through its\n"
	"clear_refs/Referenced sample (lagging, blind to idle-but-needed pages, dropped\n"
	"when the scanner read the guest); KSM merges only what its scanner predicted.\n\n"
	"- over_s: seconds the guests cost more than the budget (or than the host can give\n"
	"  after its reserve); lower is better.\n"
	"- distress_s: guest-seconds with a guest below its working set; lower is better.\n"
	"- refaults: thousands of dropped page-cache pages the guests read back from disk\n"
	"  (the refault fraction below of what was dropped, assumed; not in their balloon\n"
	"  stats); stall_s: guest-seconds lost to them at 0.25 ms each; lower is better.\n"
	"- reclaimed: mean GiB the host got back (sum of maxima - guest cost), of which\n"
	"  merged by KSM; higher is better (the total's mean includes the 82 GiB host).\n"
	"- MOM and Proxmox take no budget (their own rules decide how full the host gets);\n"
	"  over_s is measured against the same budget for every policy.\n"
	"- ksm_cpu_s: CPU-seconds of the kernel's KSM thread; scan_cpu_s: of ksmd's own\n"
	"  scanner (ksmd only); lower is better.\n"
	"- swap_s: seconds the host swapped; oom: OOM kills in the guests; rev: most target\n"
	"  direction reversals of one guest.\n\n";

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
		else if (!strcmp(argv[i], "--refault") && i + 1 < argc)
			refault_fraction = clampd(atof(argv[++i]), 0, 1);
		else if (!strcmp(argv[i], "--ksm-flat"))
			ksm_flat_rate = true;
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
	if (check) {
		int bad = selftest_rules();
		failed += bad;
		passed += !bad;
	}
	struct total { double over_s, distress_s, reclaimed, refault_k, stall_s, cpu_s; int ooms; } tot[P_N];
	memset(tot, 0, sizeof tot);
	for (int sc = 0; sc < S_N; sc++)
		for (int p = 0; p < P_N; p++) {
			struct result *r = &res[sc][p];
			run((enum pol)p, (enum scen)sc, check, false, r);
			tot[p].over_s += r->over_s;
			tot[p].distress_s += r->distress_s;
			tot[p].reclaimed += r->reclaimed_gib / S_N;
			tot[p].refault_k += r->refault_k;
			tot[p].stall_s += r->refault_stall_s;
			tot[p].cpu_s += r->ksm_cpu_s + r->scan_cpu_s;
			tot[p].ooms += r->ooms;
			if (is_ksmd((enum pol)p) && check) {
				if (r->violations) {
					failed++;
					printf("FAIL %s %s: %d violations, first: %s\n", pol_name[p], scen_name[sc],
					       r->violations, r->first_violation);
				} else {
					passed++;
					printf("PASS %s %s: floors, no OOM, over budget <= %d s (max %d s), "
					       "reversals <= %d (max %d), distress answered within %.0f s\n",
					       pol_name[p], scen_name[sc], OVER_BUDGET_BOUND_S, r->over_streak_max,
					       REVERSALS_BOUND, r->reversals_max, DISTRESS_ANSWER_S);
				}
			}
		}

	printf("\n%-15s %-12s %7s %7s %8s %7s %8s %8s %8s %8s %6s %4s %4s\n", "scenario", "policy",
	       "over_s", "distr_s", "refault_k", "stall_s", "recl_GiB", "merg_GiB", "ksm_cpu", "scan_cpu",
	       "swap_s", "oom", "rev");
	for (int sc = 0; sc < S_N; sc++)
		for (int p = 0; p < P_N; p++) {
			struct result *r = &res[sc][p];
			printf("%-15s %-12s %7.0f %7.0f %9.1f %7.1f %8.2f %8.2f %8.1f %8.1f %6.0f %4d %4d\n",
			       scen_name[sc], pol_name[p], r->over_s, r->distress_s, r->refault_k,
			       r->refault_stall_s, r->reclaimed_gib, r->merged_gib, r->ksm_cpu_s, r->scan_cpu_s,
			       r->swap_s, r->ooms, r->reversals_max);
		}
	for (int p = 0; p < P_N; p++)
		printf("%-15s %-12s %7.0f %7.0f %9.1f %7.1f %8.2f %17.1f %6s %4d\n", "TOTAL", pol_name[p],
		       tot[p].over_s, tot[p].distress_s, tot[p].refault_k, tot[p].stall_s, tot[p].reclaimed,
		       tot[p].cpu_s, "", tot[p].ooms);

	if (md) {
		FILE *f = fopen(md, "w");
		if (!f) { perror(md); return 2; }
		fputs(md_head, f);
		fprintf(f, "Refault fraction %.2f; kernel KSM cost %s.\n\n", refault_fraction,
			ksm_flat_rate ? "flat (0.8 M pages/CPU-s)"
				      : "by content (0.8 M dup, 0.22 M unique, 7.36 M merged pages/CPU-s)");
		fprintf(f, "| scenario | policy | over_s | distress_s | refaults k | stall_s | reclaimed GiB "
			   "| merged GiB | ksm_cpu_s | scan_cpu_s | swap_s | oom | rev |\n"
			   "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
		for (int sc = 0; sc < S_N; sc++)
			for (int p = 0; p < P_N; p++) {
				struct result *r = &res[sc][p];
				fprintf(f, "| %s | %s | %.0f | %.0f | %.1f | %.1f | %.2f | %.2f | %.1f | %.1f | "
					   "%.0f | %d | %d |\n", scen_name[sc], pol_name[p], r->over_s,
					r->distress_s, r->refault_k, r->refault_stall_s, r->reclaimed_gib,
					r->merged_gib, r->ksm_cpu_s, r->scan_cpu_s, r->swap_s, r->ooms,
					r->reversals_max);
			}
		fprintf(f, "\n| total | over_s | distress_s | refaults k | stall_s | mean reclaimed GiB | "
			   "CPU-s (KSM + scanner) | oom |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
		for (int p = 0; p < P_N; p++)
			fprintf(f, "| %s | %.0f | %.0f | %.1f | %.1f | %.2f | %.1f | %d |\n", pol_name[p],
				tot[p].over_s, tot[p].distress_s, tot[p].refault_k, tot[p].stall_s,
				tot[p].reclaimed, tot[p].cpu_s, tot[p].ooms);
		fprintf(f, "\nksmd's signals in these runs (ksmd row): scanner passes, host-side working-set "
			   "samples taken / intervals dropped because the scanner read the guest, and the "
			   "mean gap between the scanner's prediction and the duplicates there are:\n\n"
			   "| scenario | passes | wss samples | wss dropped | prediction lag GiB |\n"
			   "|---|---:|---:|---:|---:|\n");
		for (int sc = 0; sc < S_N; sc++) {
			struct result *r = &res[sc][P_KSMD];
			fprintf(f, "| %s | %d | %d | %d | %.3f |\n", scen_name[sc], r->passes, r->wss_samples,
				r->wss_discarded, r->pred_lag_gib);
		}
		fclose(f);
	}
	if (json) {
		FILE *f = fopen(json, "w");
		if (!f) { perror(json); return 2; }
		fprintf(f, "{\n  \"seconds_per_scenario\": %d,\n  \"refault_fraction\": %.3f,\n"
			   "  \"ksm_cost\": \"%s\",\n  \"results\": [\n", T_END, refault_fraction,
			ksm_flat_rate ? "flat" : "by_content");
		for (int sc = 0; sc < S_N; sc++)
			for (int p = 0; p < P_N; p++) {
				struct result *r = &res[sc][p];
				fprintf(f, "    {\"scenario\": \"%s\", \"policy\": \"%s\", \"over_budget_s\": %.0f, "
					"\"distress_s\": %.0f, \"refaults_k\": %.1f, \"refault_stall_s\": %.2f, "
					"\"reclaimed_gib\": %.3f, \"merged_gib\": %.3f, \"ksm_cpu_s\": %.2f, "
					"\"scanner_cpu_s\": %.2f, \"host_swap_s\": %.0f, \"oom_kills\": %d, "
					"\"max_reversals\": %d, \"over_budget_streak_max_s\": %d}%s\n",
					scen_name[sc], pol_name[p], r->over_s, r->distress_s, r->refault_k,
					r->refault_stall_s, r->reclaimed_gib, r->merged_gib, r->ksm_cpu_s,
					r->scan_cpu_s, r->swap_s, r->ooms, r->reversals_max, r->over_streak_max,
					sc == S_N - 1 && p == P_N - 1 ? "" : ",");
			}
		fprintf(f, "  ],\n  \"totals\": {");
		for (int p = 0; p < P_N; p++)
			fprintf(f, "%s\"%s\": {\"over_budget_s\": %.0f, \"distress_s\": %.0f, "
				"\"refaults_k\": %.1f, \"refault_stall_s\": %.2f, \"reclaimed_gib\": %.3f, "
				"\"cpu_s\": %.2f, \"oom_kills\": %d}", p ? ", " : "", pol_name[p], tot[p].over_s,
				tot[p].distress_s, tot[p].refault_k, tot[p].stall_s, tot[p].reclaimed, tot[p].cpu_s,
				tot[p].ooms);
		fprintf(f, "}\n}\n");
		fclose(f);
	}
	if (check) {
		printf("policy_sim: %d passed, %d failed\n", passed, failed);
		return failed ? 1 : 0;
	}
	return 0;
}
