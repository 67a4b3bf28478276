/* policy.h — the decision: a pure function from one snapshot of measurements
 * to a plan of actions, each with a reason.
 *
 * Each tick the daemon fills a struct policy_snapshot (host meminfo, vmstat
 * swap rates, PSI, per-guest balloon and guest stats, merge counters, and
 * the struct policy_conf in force), calls policy_decide(), and applies the
 * plan: per guest a new balloon target or nothing, and a merge-urgency hint
 * it passes to the KSM executor. policy_decide() does no I/O, reads no
 * clock and is deterministic: the same snapshot and state give the same
 * plan, so a recorded trace replays exactly (tests/sim does just that).
 *
 * The I/O half lives apart (collect/host.c): pure parsers of
 * /proc/meminfo, /proc/vmstat and /proc/pressure/memory text, and
 * collect_host() that reads the real files.
 *
 * Sizes are uint64_t bytes, times usec_t microseconds, rates per second,
 * percentages double 0..100; every field says its unit in its name.
 *
 * Use from the daemon:
 *   start:    policy_conf_defaults(&conf), then the [policy] keys onto it
 *             (policy_knobs[] has name, type, unit, bounds, default, help);
 *             policy_conf_validate(); policy_state_init(&st);
 *             policy_ring_init(&ring).
 *   each tick (conf.tick_usec):
 *             collect_host(&cur); collect_host_rates(&prev, &cur);
 *             cur.psi_trigger_fired = <the PSI poll() trigger fired>;
 *             snap.now_usec = now_usec(); snap.conf = conf; snap.host = cur;
 *             snap.guests[] from the balloon module (actual, target, stats,
 *             stuck, min/max/shares from the config, RSS of the process);
 *             snap.merge from the scanner (potential) and KSM (pages_sharing);
 *             when conf.host_wss: wss_tracker_tick() then wss_tracker_fill()
 *             per guest (collect/wss.h) for host_active_*;
 *             policy_decide(&snap, &st, &plan);
 *             unless plan.dry_run: set each plan.actions[i].target_bytes on
 *             guest plan.actions[i].guest_index / guest_id;
 *             pass plan.merge_urgency to the KSM executor;
 *             policy_ring_push_plan(&ring, &plan); publish plan + ring;
 *             prev = cur.
 *   reload:   a new conf takes effect at the next tick; the state is kept. */
#ifndef KSMD_POLICY_H
#define KSMD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define POLICY_MAX_GUESTS 64
#define POLICY_NAME_LEN   64
#define POLICY_REASON_LEN 256
#define POLICY_RING_LEN   128
#define POLICY_CGROUP_LEN 240   /* cgroup:PATH of the budget, NUL included */

/* ---------------------------------------------------------------- knobs */

/* Every tunable of the policy. Defaults from policy_conf_defaults(); the
 * daemon maps its [policy] keys onto these fields (see policy_knobs[]). */
struct policy_conf {
	bool dry_run;                       /* decide and report, act on nothing */
	uint64_t budget_bytes;              /* guest memory the host may hold; 0 = MemTotal - reserve */
	char budget_cgroup[POLICY_CGROUP_LEN]; /* "" or the memory cgroup whose limit is the budget
					     * ("cgroup:PATH" in ksmd.conf; follows the limit live) */
	uint64_t reserve_bytes;             /* host memory kept out of the budget; also the MemAvailable floor */
	usec_t tick_usec;                   /* interval between decisions */
	double idle_tax_percent;            /* ESX idle-memory tax: idle pages cost this much more (0..99) */
	double max_shrink_percent_per_tick; /* cap of one step down, % of guest max, under soft pressure */
	double max_shrink_percent_per_tick_critical; /* cap when over budget, swapping or critical */
	double max_grow_percent_per_tick;   /* cap of one step up, % of guest max (loosen fast) */
	double deadband_percent;            /* a change smaller than this % of guest max is skipped */
	usec_t settle_usec;                 /* after a shrink, wait this long before shrinking that guest again */
	double psi_some_threshold_percent;  /* host PSI memory some avg10 above this = pressure */
	double psi_full_threshold_percent;  /* host PSI memory full avg10 above this = critical */
	double swap_out_threshold_pages_per_sec; /* host pswpout rate above this = critical */
	double guest_min_free_percent;      /* a guest keeps at least this % of its memory available when shrunk */
	double guest_distress_free_percent; /* available below this % of actual = distress */
	double guest_distress_major_faults_per_sec; /* major faults above this = distress */
	double guest_distress_swap_in_pages_per_sec; /* guest swap-in above this = distress */
	usec_t stats_max_age_usec;          /* older guest stats are not trusted for shrinking */
	usec_t distress_memory_usec;        /* after distress, do not shrink below the level it happened at for this long (doubled per episode) */
	double budget_low_water_percent;    /* reclaim until guest use <= budget - this % of budget */
	double limit_headroom_percent;      /* budget = cgroup limit: keep the cost this % of the limit below it */
	double limit_trim_percent;          /* budget = cgroup limit: idle trim only above this % of the budget */
	usec_t merge_grace_usec;            /* under soft pressure, let merging cover the want this long before ballooning */
	double idle_trim_percent;           /* no pressure: trim guests with more than this % available, slowly (0 = off) */
	usec_t lookahead_usec;              /* act on the guest cost projected this far ahead at its current growth */
	bool host_wss;                      /* use the host-side working set (collect/wss.c) as a lower bound of active */
	uint64_t release_min_bytes;         /* release a guest's backed free memory when it holds more than this (0 = off) */
	usec_t host_wss_interval_usec;      /* clear -> read interval of that signal; older than 3x this = stale */
	double host_wss_cpu_percent;        /* longer intervals when the cycles would take more CPU (0 = no bound) */
};

/* Fill c with every default. */
void policy_conf_defaults(struct policy_conf *c);

enum policy_knob_type {
	POLICY_KNOB_BOOL,     /* bool */
	POLICY_KNOB_SIZE,     /* uint64_t bytes */
	POLICY_KNOB_DURATION, /* usec_t */
	POLICY_KNOB_PERCENT,  /* double 0..100 */
	POLICY_KNOB_DOUBLE,   /* double, plain rate */
	POLICY_KNOB_BUDGET,   /* uint64_t bytes followed by char[POLICY_CGROUP_LEN]: a size or cgroup:PATH */
};

/* One row per knob, for the daemon's declarative configuration table. */
struct policy_knob {
	const char *name;       /* key within [policy], e.g. "idle_tax_percent" */
	enum policy_knob_type type;
	size_t offset;          /* of the field in struct policy_conf */
	const char *unit;       /* "bytes", "usec", "percent", "pages/s", ... */
	double min, max;        /* bounds, in the field's unit */
	const char *def;        /* default as written in ksmd.conf */
	bool live;              /* changeable while running */
	const char *help;
};
extern const struct policy_knob policy_knobs[];
extern const size_t policy_n_knobs;

/* Check c against the knobs' bounds and cross-field rules. Returns 0, or
 * -EINVAL with a message in err. */
int policy_conf_validate(const struct policy_conf *c, char *err, size_t errlen);

/* ----------------------------------------------------------- the inputs */

struct policy_host {
	uint64_t mem_total_bytes;
	uint64_t mem_free_bytes;
	uint64_t mem_available_bytes;
	uint64_t swap_total_bytes;
	uint64_t swap_free_bytes;
	uint64_t pswpin_pages;              /* /proc/vmstat counters (cumulative) */
	uint64_t pswpout_pages;
	double swap_in_pages_per_sec;       /* from two samples: collect_host_rates() */
	double swap_out_pages_per_sec;
	bool psi_available;                 /* /proc/pressure/memory was readable */
	double psi_some_avg10_percent;
	double psi_full_avg10_percent;
	uint64_t psi_some_total_usec;
	uint64_t psi_full_total_usec;
	bool psi_trigger_fired;             /* a poll() trigger fired since the last tick */
	usec_t sampled_usec;                /* monotonic time of the sample */
	/* The memory cgroup of policy.budget = cgroup:PATH (collect_cgroup). */
	bool cg_valid;                      /* the cgroup was read this tick */
	bool cg_limited;                    /* it has a limit (not "max") */
	uint64_t cg_limit_bytes;            /* memory.limit_in_bytes (v1) or memory.max (v2) */
	uint64_t cg_usage_bytes;            /* memory charged to it now, page cache included */
	uint64_t cg_swap_bytes;             /* its memory in swap now */
	double cg_swap_out_bytes_per_sec;   /* growth of cg_swap_bytes (0 when it shrinks) */
	uint64_t cg_swap_out_bytes_total;   /* that growth summed (a counter) */
};

struct policy_guest {
	char name[POLICY_NAME_LEN];
	uint64_t id;                        /* stable identity across ticks (never 0) */
	bool has_balloon;                   /* no balloon: accounted, never targeted */
	bool stuck;                         /* the balloon module saw no progress: excluded */
	uint64_t min_bytes;                 /* floor, never crossed */
	uint64_t max_bytes;                 /* maximum (usually the guest's size), never crossed */
	uint64_t shares;                    /* relative weight (ESX), 0 = 1000 */
	uint64_t balloon_actual_bytes;      /* memory the guest has now */
	uint64_t balloon_target_bytes;      /* last target requested */
	uint64_t max_step_bytes;            /* the balloon moves at most this far from its last target
	                                     * in one step (balloon/safety.c; 0 = no bound) */
	bool stats_valid;                   /* guest stats present at all */
	uint64_t stat_total_bytes;          /* guest's MemTotal as it reports it */
	uint64_t stat_available_bytes;
	uint64_t stat_free_bytes;
	bool stat_free_valid;               /* stat_free_bytes is reported (else the idle trim counts
	                                     * all idle memory as free, page cache included) */
	double major_faults_per_sec;
	double swap_in_pages_per_sec;
	double swap_out_pages_per_sec;
	usec_t stats_age_usec;              /* how old the stats are */
	uint64_t rss_bytes;                 /* host-side RSS of its process, 0 = unknown */
	uint64_t swap_bytes;                /* its process's memory in host swap (VmSwap): the host pays for it too */
	uint64_t ksm_merging_pages;         /* /proc/PID/ksm_stat */
	bool host_active_valid;             /* host_active_bytes holds a sample (wss_tracker_fill) */
	uint64_t host_active_bytes;         /* guest RAM the host saw touched over the last interval */
	usec_t host_active_age_usec;        /* time since that sample was read */
	usec_t host_active_period_usec;     /* its cycle starts this often (>= conf's interval: the CPU bound) */
	uint64_t ram_resident_bytes;        /* of its RAM, what the host backs (smaps Rss, same read and age) */
	bool free_page_reporting;           /* the guest returns its free pages itself (virtio free page reporting) */
};

struct policy_merge {
	bool available;                     /* scanner/KSM numbers present */
	uint64_t potential_pages;           /* scanner-predicted mergeable (non-zero duplicate) pages */
	uint64_t merged_pages;              /* KSM pages_sharing (saved pages) */
	double ksmd_cpu_percent;            /* kernel ksmd thread CPU, % of one core */
	uint64_t min_savings_bytes;         /* less left to merge is not worth merging:
	                                     * the KSM executor's own threshold ([ksm]
	                                     * min_savings); 0 = POLICY_MERGE_MIN_BYTES */
};

#define POLICY_MERGE_MIN_BYTES (4ull << 20)

struct policy_snapshot {
	usec_t now_usec;                    /* monotonic time of the tick */
	struct policy_conf conf;            /* configuration in force (makes a trace self-contained) */
	struct policy_host host;
	struct policy_merge merge;
	size_t n_guests;
	struct policy_guest guests[POLICY_MAX_GUESTS];
};

/* ----------------------------------------------------------- the output */

enum policy_host_level {
	POLICY_HOST_OK = 0,       /* nothing to reclaim */
	POLICY_HOST_PRESSURE,     /* soft: PSI some, MemAvailable low: reclaim slowly */
	POLICY_HOST_CRITICAL,     /* over budget, swapping, PSI full: reclaim at the critical cap */
};

/* Hint for the KSM executor: how hard to merge. */
enum policy_merge_urgency {
	POLICY_MERGE_IDLE = 0,    /* nothing (left) to merge: trickle */
	POLICY_MERGE_NORMAL,      /* duplicates left, no pressure: merge within the CPU budget */
	POLICY_MERGE_URGENT,      /* host under pressure and duplicates left: full speed */
};

enum policy_action_kind {
	POLICY_ACT_SHRINK = 1,    /* lower the balloon target (inflate) */
	POLICY_ACT_GROW,          /* raise the balloon target (deflate) */
};

enum policy_reason_code {
	POLICY_WHY_HOST_PRESSURE = 1,   /* reclaim for the host */
	POLICY_WHY_GUEST_DISTRESS,      /* give back to a guest in distress */
	POLICY_WHY_RELAX,               /* host has room: give back toward max */
	POLICY_WHY_LIMIT,               /* bring a target inside [min, max] */
	POLICY_WHY_IDLE_TRIM,           /* no pressure: slowly trim idle memory (senpai-like probing) */
	POLICY_WHY_RELEASE,             /* inflate over free pages the host backs, then give them back unbacked */
};

struct policy_action {
	size_t guest_index;                 /* into snapshot->guests */
	uint64_t guest_id;
	char guest[POLICY_NAME_LEN];
	enum policy_action_kind kind;
	enum policy_reason_code why;
	uint64_t target_bytes;              /* new balloon target */
	int64_t delta_bytes;                /* target - current actual */
	char reason[POLICY_REASON_LEN];     /* words and numbers */
};

struct policy_plan {
	usec_t now_usec;
	bool dry_run;                       /* the daemon must not act */
	enum policy_host_level host_level;
	uint64_t budget_bytes;              /* effective budget: min(conf budget or cgroup limit, cost + MemAvailable - reserve) */
	uint64_t guest_used_bytes;          /* what guests cost the host now (RSS + swapped out - merged) */
	uint64_t guest_swap_bytes;          /* of which in host swap */
	int64_t reclaim_wanted_bytes;       /* > 0: host wants this much back */
	enum policy_merge_urgency merge_urgency;
	char host_reason[POLICY_REASON_LEN];
	char merge_reason[POLICY_REASON_LEN];
	size_t n_actions;
	struct policy_action actions[POLICY_MAX_GUESTS];
};

/* ------------------------------------------------------------ the state */

/* What the policy remembers between ticks, per guest (matched by id). */
struct policy_guest_state {
	uint64_t id;                        /* 0 = slot free */
	usec_t last_shrink_usec;
	usec_t last_grow_usec;
	uint64_t last_target_bytes;
	int last_sign;                      /* -1 shrink, +1 grow, 0 none yet */
	uint64_t sign_changes;              /* direction reversals seen (oscillation meter) */
	usec_t distress_usec;               /* last time distress was seen (0 = never) */
	usec_t distress_seen_usec;          /* tick at which distress (a burst too) was last judged */
	uint64_t distress_level_bytes;      /* actual when distress was seen: a learned floor */
	uint32_t distress_episodes;         /* times distress began; each doubles how long the floor holds */
	usec_t reached_usec;                /* tick that first saw actual at the last shrink's target (0 = not yet) */
	uint64_t unseen_from_bytes;         /* actual before the first shrink the guest's stats may not show yet (0 = none) */
	uint64_t release_from_bytes;        /* a release shrank it from this size: give it back once reached (0 = none) */
	uint64_t release_to_bytes;          /* the size that release takes it down to, in the balloon's steps (0 = none) */
	usec_t release_usec;                /* when the last release began (0 = never) */
	uint64_t prev_rss_bytes;            /* host RSS at the last tick (0 = none yet) */
	usec_t prev_rss_usec;
	uint64_t size_owed_bytes;           /* what ksmd's shrinks took (releases aside) and no grow gave back yet */
	uint64_t part_given_bytes;          /* given back in part above limit_trim_percent since its last shrink:
	                                     * counted against the headroom while it is still free in the guest */
};

struct policy_state {
	uint64_t ticks;
	usec_t last_tick_usec;
	usec_t pressure_since_usec;         /* 0 = host not under pressure */
	uint64_t prev_used_bytes;           /* guest cost at the last tick (for the projection) */
	uint64_t prev_guest_ids;            /* sum of the guests' ids then: the projection needs the same guests */
	struct policy_guest_state guests[POLICY_MAX_GUESTS];
};

/* Zero the state (first tick). */
void policy_state_init(struct policy_state *st);

/* The decision. Pure and deterministic: reads snap and *st, writes the plan
 * into *out and the next state into *st. No I/O, no clock, no allocation.
 * Guarantees: no target below a guest's min or above its max; stuck guests
 * and guests without a balloon get no action; at most one action per guest;
 * every action has a non-empty reason. Returns the number of actions. */
size_t policy_decide(const struct policy_snapshot *snap, struct policy_state *st,
		     struct policy_plan *out);

/* Effective budget: the cgroup's limit less limit_headroom_percent when
 * the budget is a limited cgroup that was read, else conf budget, else
 * MemTotal - reserve. */
uint64_t policy_budget_bytes(const struct policy_snapshot *snap);

const char *policy_host_level_name(enum policy_host_level l);
const char *policy_merge_urgency_name(enum policy_merge_urgency u);

/* ---------------------------------------------------- the decision ring */

/* The last POLICY_RING_LEN actions (and plans that changed host level), for
 * the stats endpoint. Plain data, no locking: the owner copies it out. */
struct policy_ring_entry {
	usec_t when_usec;
	bool dry_run;
	char guest[POLICY_NAME_LEN];        /* "" for a host-level entry */
	enum policy_action_kind kind;       /* 0 for a host-level entry */
	uint64_t target_bytes;
	int64_t delta_bytes;
	char reason[POLICY_REASON_LEN];
};

struct policy_ring {
	struct policy_ring_entry e[POLICY_RING_LEN];
	size_t next;                        /* slot written next */
	size_t count;                       /* valid entries (<= POLICY_RING_LEN) */
	uint64_t total;                     /* entries ever pushed */
	uint64_t by_kind[POLICY_ACT_GROW + 1]; /* of which of each kind (0: a note) */
};

void policy_ring_init(struct policy_ring *r);
/* Whether the policy judged the guest of this id in distress at the tick of
 * plan (its one definition of distress: available memory, major faults,
 * swap-in, a fast allocation); false when the policy has not seen it. */
bool policy_guest_in_distress(const struct policy_state *st, const struct policy_plan *plan, uint64_t id);

/* Push every action of plan (nothing for an empty plan). */
void policy_ring_push_plan(struct policy_ring *r, const struct policy_plan *plan);
void policy_ring_push(struct policy_ring *r, const struct policy_ring_entry *e);
/* i-th newest entry (0 = newest), NULL past count. */
const struct policy_ring_entry *policy_ring_get(const struct policy_ring *r, size_t i);

#endif
