/* internal.h — what the policy's files share: struct gview, struct decision, the steps, small helpers. */
#ifndef KSMD_POLICY_INTERNAL_H
#define KSMD_POLICY_INTERNAL_H

#include "policy/policy.h"

#include <stdarg.h>
#include <stdio.h>

#define DEFAULT_SHARES 1000

/* snprintf that may truncate: reasons are cut at their fixed size. */
__attribute__((format(printf, 3, 4)))
static inline void say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static inline uint64_t pct(uint64_t v, double percent)
{
	double r = (double)v * percent / 100.0;
	return r <= 0 ? 0 : (uint64_t)r;
}

static inline double pc(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

static inline void fmt_size(uint64_t b, char *buf, size_t len)
{
	format_size(b, buf, len);
}

/* A guest's deadband: deadband_percent of its maximum, never more than half
 * the balloon's step (balloon.max_step), or every step would fall inside
 * it and none would be taken. */
static inline uint64_t deadband(const struct policy_conf *c, const struct policy_guest *g)
{
	uint64_t db = pct(g->max_bytes, c->deadband_percent);
	if (g->max_step_bytes && db > g->max_step_bytes / 2)
		db = g->max_step_bytes / 2;
	return db;
}

/* The share of a guest's size that may be free before the idle trim takes
 * it (percent): idle_trim_percent, or with the trim off twice
 * guest_min_free_percent, where relax stops giving. */
static inline double trim_line_percent(const struct policy_conf *c)
{
	return c->idle_trim_percent > 0 ? c->idle_trim_percent : 2 * c->guest_min_free_percent;
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
	uint64_t idle_free;     /* of idle, what is free memory, not page cache: what the idle trim takes */
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
	bool grown_lately;      /* stats_behind within settle + stats_max_age of the last grow */
	uint64_t backed_free;   /* free memory in the guest that the host still backs (0 = unknown) */
	uint64_t release_take;  /* a release this tick: bytes the balloon takes for a moment */
	bool release_back;      /* a release is done: give the guest its size back */
	bool size_back;         /* the give is what ksmd took, given back under a cgroup limit */
	bool size_back_part;    /* ... in part: up to the idle trim's line, within the headroom */
};

/* Shares per adjusted page (ESX), with P = pages now. */
static inline double rho(const struct gview *v, uint64_t bytes, double tax)
{
	double shares = v->g->shares ? (double)v->g->shares : DEFAULT_SHARES;
	double pages = (double)bytes / 4096.0;
	if (pages < 1)
		pages = 1;
	double f = bytes ? (double)MIN(v->active, bytes) / (double)bytes : 1;
	double k = 1.0 / (1.0 - tax / 100.0);
	return shares / (pages * (f + k * (1 - f)));
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
	uint64_t on_the_way;    /* shrinks sent that the balloons have not reached yet, counted
	                         * against the want within the cgroup limit's headroom */
	int64_t headroom;       /* budget above used and the low water (0 under pressure) */
	uint64_t growth;        /* what the guests in distress need */
	uint64_t fundable;      /* what headroom, others and the reserve can fund */
	uint64_t granted;       /* what the guests are given */
	uint64_t got;           /* the reclaim handed to the balloons */
};

/* guest_view.c */
/* Builds v, guest i's view this tick; updates its state (RSS, distress memory, stats lag). */
void guest_view(const struct policy_snapshot *snap, struct policy_state *st, size_t i, struct gview *v);
/* A shrink of ksmd's own that the balloon has not reached yet. */
bool shrink_pending(const struct policy_snapshot *snap, const struct gview *v);
/* A grow of ksmd's own that the balloon has not reached yet. */
bool grow_pending(const struct decision *t, const struct gview *v);
/* May v be shrunk this tick, and by how much at most? */
void shrink_capacity(const struct policy_snapshot *snap, struct gview *v, bool critical, bool at_limit);

/* plan.c: the steps of policy_decide, in its order */
/* Sets swapped, used, budget, real_limit, by_avail and their texts; reports the cost in the plan. */
void host_cost(struct decision *t);
/* Sets projected and near from the cost's growth since the previous tick, over the same guests only. */
void cost_trend(struct decision *t, usec_t prev_tick_usec, uint64_t prev_used);
/* Sets lvl and want and writes the host's reason, first signal first; keeps when pressure began. */
void host_level(struct decision *t);
/* Sets gap and its text, and the merge urgency and its reason: merge first. */
void merge_urgency(struct decision *t);
/* Sets balloon_want: want less what the gap covers (all of it in the grace, half in CRITICAL). */
void merge_cover(struct decision *t);
/* Sets critical, swapping, at_limit, balloon_want's cap near the limit, and each shrink capacity. */
void shrink_limits(struct decision *t);
/* Distress first: sets headroom, growth, fundable and granted (gives cut to fit), then got. */
void fund_distress(struct decision *t);
/* Sets release_take on guests with backed free memory, release_back when a release is done. */
void plan_releases(struct decision *t);
/* Host ok and nothing reclaimed: sets take (a trim) on guests idle above idle_trim_percent. */
void idle_trim(struct decision *t);
/* Under a cgroup limit, host ok: sets give (size_back) to what ksmd took from a guest. */
void size_back(struct decision *t);
/* Relax: host room left, nothing reclaimed: adds to give of guests short of free memory. */
void relax(struct decision *t);

/* actions.c */
/* Adds guest i's action to the plan, if it has one, with its reason, and records it. */
void emit_action(struct decision *t, size_t i);

#endif
