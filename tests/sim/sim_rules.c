/* sim_rules.c — MOM's KSM rule, Proxmox's ksmtuned and Xen squeezed's
 * balancer, ported for the policy simulator. Read sim_rules.h first: it
 * lists the upstream files and the commits they were read at. Every block
 * below names the lines it ports as FILE:LINES; the short names are
 *
 *   03-ksm       oVirt/vdsm static/etc/vdsm/mom.d/03-ksm.policy
 *   KSM.py       oVirt/mom mom/Controllers/KSM.py
 *   ksmtuned     proxmox/ksm-control-daemon, ksm-control-scripts.org/ksmtuned
 *                with the package's debian/patches applied
 *   squeeze.ml   xapi-project/xen-api ocaml/squeezed/lib/squeeze.ml
 *
 * Arithmetic. MOM's policy language evaluates in Python 3: `/` is true
 * division (Parser.py:463-465), so the sleep is a float until the
 * controller's int(); comparisons mix int and float as Python does (exact
 * for these magnitudes in doubles). ksmtuned is bash: $[...] is 64-bit
 * integer arithmetic, division truncates. squeezed is OCaml Int64 with
 * Int64.of_float truncating toward zero, as a C cast does. */
#include "tests/sim/sim_rules.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ====================================================================== */
/* oVirt MOM: 03-ksm.policy                                               */
/* ====================================================================== */

#define MOM_KSM_PAGES_BOOST 300        /* 03-ksm:8 */
#define MOM_KSM_PAGES_DECAY (-50)      /* 03-ksm:11 */
#define MOM_KSM_NPAGES_MIN 64          /* 03-ksm:14 */
#define MOM_KSM_NPAGES_MAX 1250        /* 03-ksm:15 */
#define MOM_KSM_SLEEP_MS_BASELINE 10   /* 03-ksm:19 */
#define MOM_KSM_FREE_PERCENT 0.20      /* 03-ksm:26 */

/* change_npages (03-ksm:29-35) */
static int64_t mom_change_npages(const struct mom_ksm_host *h, int64_t delta)
{
	int64_t newval = h->ksm_pages_to_scan + delta;      /* :31 */
	if (newval > MOM_KSM_NPAGES_MAX)                   /* :32 */
		newval = MOM_KSM_NPAGES_MAX;
	if (newval < MOM_KSM_NPAGES_MIN)                   /* :33 */
		newval = MOM_KSM_NPAGES_MIN;
	return newval;                                     /* :34 Control */
}

/* apply_NUMA_policy (03-ksm:59-77): 2 = unmerge everything, else 0. */
static int64_t mom_apply_numa_policy(const struct mom_ksm_host *h)
{
	if (h->ksm_pages_shared > 0 &&
	    (h->ksm_merge_across_nodes != h->ksm_merge_across_nodes_req || !h->ksm_enabled))
		return 2;
	return 0;
}

void mom_ksm_round(const struct mom_ksm_host *h, struct mom_ksm_out *out)
{
	memset(out, 0, sizeof *out);
	bool c_run = false, c_npages = false, c_sleep = false, c_man = false;
	double run = 0, npages = 0, sleep = 0, man = 0;

	/* :86 (defvar ksm_pressure_threshold (* Host.mem_available ksm_free_percent)) */
	double thr = (double)h->mem_available_kib * MOM_KSM_FREE_PERCENT;
	/* :87 (defvar ksm_committed Host.ksm_shareable) */
	double committed = (double)h->ksm_shareable_kib;
	out->pressure_threshold_kib = thr;

	/* :90-96 no shared pages: set merge_across_nodes as required */
	if (h->ksm_pages_shared == 0) {
		c_man = true;
		man = h->ksm_merge_across_nodes_req;
	}
	/* :99 */
	int64_t action = mom_apply_numa_policy(h);

	/* :104-107 */
	bool off = ((thr + committed < (double)h->mem_available_kib) &&
		    (h->mem_free_avg_kib > thr)) ||
		   (!h->ksm_enabled || action != 0);
	if (off) {
		c_run = true;                                   /* :108 */
		run = (double)action;
		snprintf(out->reason, sizeof out->reason,
			 "03-ksm:104-108: committed %.0f + threshold %.0f < MemTotal %lld KiB and "
			 "free avg %.0f > threshold: ksm_run %lld",
			 committed, thr, (long long)h->mem_available_kib, h->mem_free_avg_kib,
			 (long long)action);
	} else {
		out->ksm_on = true;
		c_run = true;                                   /* :110 */
		run = 1;
		/* :111-113 (max 10 (/ (* 10 16777216) Host.mem_available)) */
		double s = (double)(MOM_KSM_SLEEP_MS_BASELINE * 16777216LL) /
			   (double)h->mem_available_kib;
		c_sleep = true;
		sleep = s > 10 ? s : 10;
		c_npages = true;
		bool boost = h->mem_free_avg_kib < thr;         /* :114-116 */
		npages = (double)mom_change_npages(h, boost ? MOM_KSM_PAGES_BOOST : MOM_KSM_PAGES_DECAY);
		snprintf(out->reason, sizeof out->reason,
			 "03-ksm:109-116: committed %.0f + threshold %.0f %s MemTotal, free avg %.0f "
			 "%s threshold %.0f KiB: run, npages %s -> %.0f",
			 committed, thr, thr + committed < (double)h->mem_available_kib ? "<" : ">=",
			 h->mem_free_avg_kib, boost ? "<" : ">=", thr, boost ? "+300" : "-50", npages);
	}

	/* KSM.py:43-59: int() each control, write those that differ from the
	 * host's sampled value. */
	if (c_run && (int64_t)run != h->ksm_run) {
		out->set_run = true;
		out->run = (int64_t)run;
	}
	if (c_npages && (int64_t)npages != h->ksm_pages_to_scan) {
		out->set_pages_to_scan = true;
		out->pages_to_scan = (int64_t)npages;
	}
	if (c_sleep && (int64_t)sleep != h->ksm_sleep_millisecs) {
		out->set_sleep = true;
		out->sleep_millisecs = (int64_t)sleep;
	}
	if (c_man && (int64_t)man != h->ksm_merge_across_nodes) {
		out->set_merge_across_nodes = true;
		out->merge_across_nodes = (int64_t)man;
	}
}

/* ====================================================================== */
/* Proxmox VE: ksmtuned                                                   */
/* ====================================================================== */

#define KSM_NPAGES_BOOST 300     /* ksmtuned:33 */
#define KSM_NPAGES_DECAY (-50)   /* ksmtuned:34 */
#define KSM_NPAGES_MIN 64        /* ksmtuned:36 */
#define KSM_NPAGES_MAX 1250      /* ksmtuned:37 */
#define KSM_SLEEP_MSEC 100       /* ksmtuned:40, 10 -> 100 by adjust-ksm-slepp.diff */
#define KSM_THRES_COEF 20        /* ksmtuned:42 */
#define KSM_THRES_CONST 2048     /* ksmtuned:43 */

void ksmtuned_init(struct ksmtuned *k, int64_t mem_total_kib)
{
	memset(k, 0, sizeof *k);
	k->total_kib = mem_total_kib;                                   /* :45 */
	k->npages = 0;                                                  /* :48 */
	k->sleep_ms = mem_total_kib ? KSM_SLEEP_MSEC * 16 * 1024 * 1024 / mem_total_kib : 0; /* :49 */
	if (k->sleep_ms <= 10)                                          /* :50 */
		k->sleep_ms = 10;
	k->thres_kib = mem_total_kib * KSM_THRES_COEF / 100;            /* :52 */
	if (KSM_THRES_CONST > k->thres_kib)                             /* :53-55 */
		k->thres_kib = KSM_THRES_CONST;
}

/* increase_npages (ksmtuned:83-93) */
static int64_t ksmtuned_increase_npages(int64_t npages, int64_t delta)
{
	npages += delta;
	if (npages < KSM_NPAGES_MIN)
		npages = KSM_NPAGES_MIN;
	else if (npages > KSM_NPAGES_MAX)
		npages = KSM_NPAGES_MAX;
	return npages;
}

void ksmtuned_adjust(struct ksmtuned *k, int64_t free_kib, int64_t committed_kib,
		     struct ksmtuned_out *out)
{
	memset(out, 0, sizeof *out);
	/* :101-105 */
	if (committed_kib + k->thres_kib < k->total_kib && free_kib > k->thres_kib) {
		out->stop = true;
		snprintf(out->reason, sizeof out->reason,
			 "ksmtuned:101-104: committed %lld + thres %lld < total %lld and free %lld > thres: stop",
			 (long long)committed_kib, (long long)k->thres_kib, (long long)k->total_kib,
			 (long long)free_kib);
		return;
	}
	/* :107-113 */
	bool boost = free_kib < k->thres_kib;
	k->npages = ksmtuned_increase_npages(k->npages, boost ? KSM_NPAGES_BOOST : KSM_NPAGES_DECAY);
	/* :114 KSMCTL start $npages $sleep (:63-66) */
	out->pages_to_scan = k->npages;
	out->sleep_millisecs = k->sleep_ms;
	snprintf(out->reason, sizeof out->reason,
		 "ksmtuned:106-114: committed %lld + thres %lld >= total or free %lld <= thres: "
		 "start %lld pages / %lld ms (%s)",
		 (long long)committed_kib, (long long)k->thres_kib, (long long)free_kib,
		 (long long)k->npages, (long long)k->sleep_ms, boost ? "boost" : "decay");
}

/* ====================================================================== */
/* Xen squeezed                                                           */
/* ====================================================================== */

enum sq_dir { SQ_NONE, SQ_UP, SQ_DOWN };

/* direction_of_actual (squeeze.ml:118-131). Down = the target is above
 * memory_actual (the balloon goes down), Up = below. */
static enum sq_dir sq_direction_of_actual(int64_t inaccuracy_kib, int64_t actual_kib,
					  int64_t target_kib)
{
	int64_t delta = actual_kib - target_kib;
	int64_t a = delta < 0 ? -delta : delta;
	if (a <= inaccuracy_kib)
		return SQ_NONE;
	return target_kib > actual_kib ? SQ_DOWN : SQ_UP;
}

/* has_hit_target (squeeze.ml:142-143) */
static bool sq_has_hit_target(int64_t inaccuracy_kib, int64_t actual_kib, int64_t target_kib)
{
	return sq_direction_of_actual(inaccuracy_kib, actual_kib, target_kib) == SQ_NONE;
}

void sq_squeezer_make(struct sq_squeezer *x)
{
	memset(x, 0, sizeof *x);                    /* squeeze.ml:363-364 */
}

/* Stuckness_monitor.update (squeeze.ml:181-231; dead domains are never
 * removed here: the simulator's guests live for the whole run). */
static void sq_stuckness_update(struct sq_squeezer *x, const struct sq_domain *d, size_t n,
				double now)
{
	for (size_t i = 0; i < n; i++) {
		const struct sq_domain *dom = &d[i];
		enum sq_dir dir = sq_direction_of_actual(dom->inaccuracy_kib, dom->memory_actual_kib,
							 dom->target_kib);
		struct sq_stuck *st = &x->per[dom->domid];
		if (!st->known) {                               /* :192-203 */
			st->known = true;
			st->last_actual_kib = dom->memory_actual_kib;
			st->last_makingprogress_time = now;
			st->stuck = false;
		}
		int64_t delta = dom->memory_actual_kib - st->last_actual_kib;  /* :205 */
		st->last_actual_kib = dom->memory_actual_kib;
		bool progress = (delta > 0 && dir == SQ_DOWN) || (delta < 0 && dir == SQ_UP); /* :209-211 */
		if (progress) {                                 /* :215-218 */
			st->last_makingprogress_time = now;
			st->stuck = false;
		}
		bool request = dir != SQ_NONE;                  /* :222 */
		if (request && now - st->last_makingprogress_time > SQ_ASSUME_STUCK_AFTER_S)
			st->stuck = true;                       /* :224-229 */
	}
}

/* min_freeable (squeeze.ml:271-279, no fistpoints) */
static int64_t sq_min_freeable(const struct sq_domain *d)
{
	int64_t v = d->memory_actual_kib - d->dynamic_min_kib - 2 * d->inaccuracy_kib;
	return v > 0 ? v : 0;
}

/* range (squeeze.ml:283) */
static int64_t sq_range(const struct sq_domain *d)
{
	int64_t v = d->dynamic_max_kib - d->dynamic_min_kib;
	return v > 0 ? v : 0;
}

/* Proportional.constrain (squeeze.ml:294-303) */
static double sq_constrain(double minimum, double maximum, double value)
{
	if (value < minimum)
		return minimum;
	if (value > maximum)
		return maximum;
	if (isnan(value))
		return minimum;
	return value;
}

void sq_one_iteration(struct sq_squeezer *x, const struct sq_domain *d, size_t n,
		      int64_t free_mem_kib, int64_t host_target_kib, double now,
		      struct sq_iteration *out)
{
	memset(out, 0, sizeof *out);
	/* 1. active domains (squeeze.ml:371-379) */
	sq_stuckness_update(x, d, n, now);
	for (size_t i = 0; i < n; i++) {
		out->active[i] = d[i].can_balloon && x->per[d[i].domid].known &&
				 !x->per[d[i].domid].stuck;
		x->non_active[d[i].domid] = !out->active[i];     /* :380-395 */
	}

	/* 2. Policy.compute_target_adjustments over the active domains
	 * (squeeze.ml:342-351, allocate_memory_in_proportion :309-338) */
	int64_t maximum_free_mem_kib = free_mem_kib;
	int64_t total_range = 0;
	for (size_t i = 0; i < n; i++)
		if (out->active[i]) {
			maximum_free_mem_kib += sq_min_freeable(&d[i]);
			total_range += sq_range(&d[i]);
		}
	int64_t surplus = maximum_free_mem_kib - host_target_kib;
	if (surplus < 0)
		surplus = 0;
	double gamma_ = (double)surplus / (double)total_range;   /* 0/0 = NaN, x/0 = inf */
	double gamma = sq_constrain(0., 1., gamma_);
	out->gamma = gamma;
	out->surplus_kib = surplus;
	int64_t new_target[SIM_RULES_MAX];
	for (size_t i = 0; i < n; i++)
		if (out->active[i])
			new_target[i] = d[i].dynamic_min_kib + (int64_t)(gamma * (double)sq_range(&d[i]));

	/* (maximum_possible_free_memory_kib, :402-406, feeds only the log and
	 * target_too_big, which decides nothing but the log line) */

	/* Two-phase target sets (squeeze.ml:413-430): while any domain must
	 * give memory back, only the freeing targets are set. */
	bool any_freeing = false;
	bool freeing[SIM_RULES_MAX] = { false };
	for (size_t i = 0; i < n; i++)
		if (out->active[i]) {
			freeing[i] = !sq_has_hit_target(d[i].inaccuracy_kib, d[i].memory_actual_kib,
							new_target[i]) &&
				     new_target[i] < d[i].memory_actual_kib;
			any_freeing |= freeing[i];
		}
	out->allocation_phase = !any_freeing;

	/* :432-437 all_targets_reached over the active domains */
	bool all_targets_reached = true;
	for (size_t i = 0; i < n; i++)
		if (out->active[i] && !sq_has_hit_target(d[i].inaccuracy_kib, d[i].memory_actual_kib,
							 d[i].target_kib))
			all_targets_reached = false;
	/* :446 success_condition = is_balanced (squeeze_xen.ml:883-884) */
	bool success = free_mem_kib - SQ_TARGET_HOST_FREE_KIB < SQ_FREE_TOLERANCE_KIB;
	/* :448-452 no_target_changes over the phase's targets */
	bool no_target_changes = true;
	for (size_t i = 0; i < n; i++)
		if (out->active[i] && freeing[i] == any_freeing && d[i].target_kib != new_target[i])
			no_target_changes = false;

	/* :497-508 */
	if (!all_targets_reached || !no_target_changes) {
		out->result = SQ_ADJUST_TARGETS;
		for (size_t i = 0; i < n; i++)
			if (out->active[i] && freeing[i] == any_freeing) {
				out->action_domid[out->n_actions] = d[i].domid;
				out->new_target_kib[out->n_actions] = new_target[i];
				out->n_actions++;
			}
	} else if (success) {
		out->result = SQ_SUCCESS;
	} else {
		out->result = SQ_FAILED;
	}
}

bool sq_is_host_memory_unbalanced(const struct sq_domain *d, size_t n, int64_t free_mem_kib,
				  double now)
{
	/* squeeze.ml:801-824 */
	static struct sq_squeezer fresh;
	sq_squeezer_make(&fresh);
	struct sq_iteration it;
	sq_one_iteration(&fresh, d, n, free_mem_kib, SQ_TARGET_HOST_FREE_KIB, now, &it);
	if (it.result != SQ_ADJUST_TARGETS)
		return false;
	for (size_t a = 0; a < it.n_actions; a++)
		for (size_t i = 0; i < n; i++)
			if (d[i].domid == it.action_domid[a] && d[i].target_kib != it.new_target_kib[a])
				return true;
	return false;
}
