/* sim.h — what the parts of the policy simulator share: the model's
 * constants and assumptions, the simulated host and guests (struct sim),
 * the scenarios, and the calls between the model (sim_model.c), the
 * controllers (sim_policies.c) and the runs (policy_sim.c, which opens
 * with the essay on what is modelled and why). */
#ifndef KSMD_TESTS_SIM_H
#define KSMD_TESTS_SIM_H

#include "policy/anchors.h"
#include "collect/host.h"
#include "policy/policy.h"
#include "act/ksm.h"
#include "tests/sim/sim_rules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>

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

/* ksmd as shipped (ksmd.conf; conf/keys.c defaults). */
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
extern const char *const pol_name[P_N];
static inline bool is_ksmd(enum pol p) { return p == P_KSMD || p == P_KSMD_NOTRIM; }

extern double refault_fraction;   /* --refault */
extern bool ksm_flat_rate;        /* --ksm-flat: every page at the duplicate-heavy rate */

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
	/* ksmd's host-side working set (collect/wss.c and act/wss_reset.c) */
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

static inline double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }
static inline bool in_distress(const struct sguest *g) { return g->actual < g->ws - 1; }
static inline usec_t usec_at(double t) { return (usec_t)((t + 1) * USEC_PER_SEC); } /* never 0 */

enum scen { S_BOOT, S_DOUBLE, S_SPIKE, S_CUT, S_STUCK, S_LIAR, S_BURST, S_MANY, S_N };
extern const char *const scen_name[S_N];

/* ------------------------------------------------------------ the model
 * (sim_model.c) */

double rss_of(const struct sguest *g);
double guest_cost(const struct sim *s);
double budget_eff(const struct sim *s);
double potential(const struct sim *s);
double merged_share(const struct sim *s, int i);
void setup(struct sim *s, enum pol p, enum scen sc);
void events(struct sim *s, enum scen sc);
void wss_tick(struct sim *s, struct sguest *g, usec_t interval);
void step_model(struct sim *s);
void metrics(struct sim *s, bool check);
void set_target(struct sim *s, struct sguest *g, double target);
double target_of(const struct sguest *g);

/* ------------------------------------------------------ the controllers
 * (sim_policies.c) */

/* Run the policy of s->pol for the second s->t, at its own period. */
void controllers(struct sim *s);

#endif
