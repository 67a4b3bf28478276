/* anchors.c — Proxmox VE's and oVirt MOM's balloon rules, ported verbatim.
 *
 * Read anchors.h first: it lists the upstream files and commits. Every
 * block below names the lines it ports as FILE:LINES; the short names are
 *
 *   AutoBalloon.pm   proxmox/pve-manager PVE/AutoBalloon.pm
 *   pvestatd.pm      proxmox/pve-manager PVE/Service/pvestatd.pm
 *                    (both @ 14a22df35955d97dfc1af21e117dc894a29df0c9)
 *   QemuServer.pm    proxmox/qemu-server src/PVE/QemuServer.pm
 *                    (@ e6352be67f70042a7433a3a3c712b36d02f9f7cb)
 *   02-balloon       oVirt/vdsm static/etc/vdsm/mom.d/02-balloon.policy
 *   00-defines       oVirt/vdsm static/etc/vdsm/mom.d/00-defines.policy
 *                    (both @ fd4b0df20b9bc79864ba0d11c3c1140fb1de194a)
 *   Entity.py, Parser.py, Policy.py, PolicyEngine.py, Balloon.py
 *                    oVirt/mom mom/... (@ 3de1c8e6bcb9da716b0aec96f8c38df6e79ef55a)
 *
 * Arithmetic. Perl and Python both compute in IEEE doubles where the
 * originals divide or multiply by a fraction; the ports do the same
 * operations in the same order on doubles, and keep integer quantities
 * (bytes, all below 2^53) in int64_t, where Perl's integer and floating
 * arithmetic give the same exact results. Perl's and Python's int()
 * truncate toward zero, as a C cast does. */
#include "policy/anchors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Same results as Perl and Python also means no fused multiply-add:
 * `used + gfp * cur` must round twice, as Python does. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* ====================================================================== */
/* Proxmox VE                                                             */
/* ====================================================================== */

const char *anchor_pve_reason_name(enum anchor_pve_reason r)
{
	switch (r) {
	case ANCHOR_PVE_R_NO_BALLOON:   return "no-balloon";
	case ANCHOR_PVE_R_NO_MIN:       return "no-min";
	case ANCHOR_PVE_R_MIGRATING:    return "migrating";
	case ANCHOR_PVE_R_SHARES_ZERO:  return "shares-0";
	case ANCHOR_PVE_R_GOAL_SMALL:   return "goal-small";
	case ANCHOR_PVE_R_UNCHANGED:    return "unchanged";
	case ANCHOR_PVE_R_GROW:         return "grow";
	case ANCHOR_PVE_R_SHRINK:       return "shrink";
	}
	return "?";
}

/* Working state of one compute_alg1 call: $res (per VM: defined or not,
 * and its value) and what the log wants to know. */
struct pve_work {
	const struct anchor_pve_vm *vms;
	bool res_defined[ANCHOR_MAX_VMS];
	int64_t res[ANCHOR_MAX_VMS];        /* $res->{$vmid}, bytes */
	int64_t desired[ANCHOR_MAX_VMS];    /* last $desired */
	bool capped[ANCHOR_MAX_VMS];        /* last move cut to maxchange */
	unsigned passes;
	bool pass_cap_hit;
};

/* `$d->{shares} || 1000` (AutoBalloon.pm:31, :43). */
static int64_t pve_shares(const struct anchor_pve_vm *d)
{
	return d->shares ? (int64_t)d->shares : ANCHOR_PVE_DEFAULT_SHARES;
}

/* One pass's $shares_total and $alloc_old over idlist's VMs not done (AutoBalloon.pm:23-32). */
static void pve_pass_totals(const struct pve_work *w, const size_t *idlist, size_t n_id,
			    const bool *done, int64_t *shares_total, int64_t *alloc_old)
{
	*shares_total = 0;                            /* :23 */
	*alloc_old = 0;                               /* :24 */
	for (size_t k = 0; k < n_id; k++) {           /* :26-32 */
		size_t id = idlist[k];
		if (done[id])
			continue;
		const struct anchor_pve_vm *d = &w->vms[id];
		int64_t balloon = w->res_defined[id] ? w->res[id]
						     : (int64_t)d->balloon_bytes;
		*alloc_old += balloon - (int64_t)d->balloon_min_bytes;
		*shares_total += pve_shares(d);
	}
}

/* VM d's $desired in [balloon_min, maxmem] (AutoBalloon.pm:43-51); *repeat set if clamped. */
static int64_t pve_desired(const struct anchor_pve_vm *d, int64_t alloc_new,
			   int64_t shares_total, bool *repeat)
{
	int64_t d_min = (int64_t)d->balloon_min_bytes;
	int64_t d_max = (int64_t)d->maxmem_bytes;
	int64_t shares = pve_shares(d);               /* :43 */
	/* :44 $d->{balloon_min} + int(($alloc_new / $shares_total) * $shares) */
	int64_t desired = d_min + (int64_t)(((double)alloc_new /
					     (double)shares_total) *
					    (double)shares);
	if (desired > d_max) {                        /* :46-48 */
		desired = d_max;
		*repeat = true;
	} else if (desired < d_min) {                 /* :49-51 */
		desired = d_min;
		*repeat = true;
	}
	return desired;
}

/* $change_func (AutoBalloon.pm:11-87): move the VMs of idlist toward their
 * share of (their current allocation above balloon_min + bytes), each at
 * most maxchange away from its balloon, until the bytes are placed, no VM
 * moves, or no VM hit a bound. Returns $rest. */
static int64_t pve_change(struct pve_work *w, const size_t *idlist,
			  size_t n_id, int64_t bytes, int64_t maxchange)
{
	int64_t rest = bytes;                         /* :14 */
	bool repeat = true;                           /* :15 */
	bool done[ANCHOR_MAX_VMS] = { false };        /* :16 $done_hash */
	int64_t progress = 1;                         /* :17 */

	while (rest && repeat && progress) {          /* :19 */
		if (w->passes >= ANCHOR_PVE_MAX_PASSES) { /* guard, not upstream */
			w->pass_cap_hit = true;
			break;
		}
		w->passes++;
		repeat = false;                           /* :20 */
		progress = 0;                             /* :21 */

		int64_t shares_total, alloc_old;          /* :23-32 */
		pve_pass_totals(w, idlist, n_id, done, &shares_total, &alloc_old);

		int64_t changes = 0;                      /* :34 */
		int64_t alloc_new = alloc_old + rest;     /* :36 */

		for (size_t k = 0; k < n_id; k++) {       /* :40-81 */
			size_t id = idlist[k];
			if (done[id])                         /* :41 */
				continue;
			const struct anchor_pve_vm *d = &w->vms[id];
			int64_t d_balloon = (int64_t)d->balloon_bytes;
			int64_t desired = pve_desired(d, alloc_new, shares_total, &repeat); /* :43-51 */
			w->desired[id] = desired;

			int64_t nw, balloon;                  /* :54 */
			if (bytes > 0 && desired - d_balloon > 0) {   /* :55-57 grow */
				nw = d_balloon + maxchange;
				balloon = nw > desired ? desired : nw;
			} else if (desired - d_balloon < 0) {         /* :58-60 shrink */
				nw = d_balloon - maxchange;
				balloon = nw > desired ? nw : desired;
			} else {                                      /* :61-63 */
				done[id] = true;
				continue;
			}
			w->capped[id] = balloon == nw && balloon != desired;

			int64_t diff = balloon - d_balloon;   /* :66 */
			if (diff != 0) {                      /* :67-80 */
				int64_t oldballoon = w->res_defined[id] ? w->res[id] : d_balloon;
				w->res[id] = balloon;
				w->res_defined[id] = true;
				int64_t change = balloon - oldballoon;
				if (change != 0) {
					changes += change;
					progress += diff > 0 ? diff : -diff;
					repeat = true;
				}
			}
		}
		rest -= changes;                          /* :83 */
	}
	return rest;                                      /* :86 */
}

/* compute_alg1's three lists (AutoBalloon.pm:89-115), as indices into vms. */
struct pve_lists {
	size_t idlist[ANCHOR_MAX_VMS];      /* every VM ballooned */
	size_t idlist1[ANCHOR_MAX_VMS];     /* of them, those under pressure */
	size_t idlist2[ANCHOR_MAX_VMS];     /* and those with free memory */
	size_t n_all, n1, n2;
};

/* Whether VM d is left out of compute_alg1 (AutoBalloon.pm:95-100); if so, o says why. */
static bool pve_skipped(const struct anchor_pve_vm *d, struct anchor_pve_vm_out *o)
{
	if (!d->balloon_bytes) {                      /* :95 */
		o->reason = ANCHOR_PVE_R_NO_BALLOON;
		snprintf(o->reason_text, sizeof o->reason_text,
			 "skipped: balloon driver not running (AutoBalloon.pm:95)");
		return true;
	}
	if (!d->balloon_min_bytes) {                  /* :96 */
		o->reason = ANCHOR_PVE_R_NO_MIN;
		snprintf(o->reason_text, sizeof o->reason_text,
			 "skipped: balloon value not set in config (AutoBalloon.pm:96)");
		return true;
	}
	if (d->migrating) {                           /* :97 */
		o->reason = ANCHOR_PVE_R_MIGRATING;
		snprintf(o->reason_text, sizeof o->reason_text,
			 "skipped: lock migrate (AutoBalloon.pm:97)");
		return true;
	}
	if (d->shares == 0) {                         /* :98-100 */
		o->reason = ANCHOR_PVE_R_SHARES_ZERO;
		snprintf(o->reason_text, sizeof o->reason_text,
			 "skipped: shares 0 (AutoBalloon.pm:98-100)");
		return true;
	}
	return false;
}

/* Sorts vms into the lists (AutoBalloon.pm:89-115) and sets each VM's list and first reason in out. */
static void pve_sort(const struct anchor_pve_vm *vms, size_t n_vms, struct pve_lists *l,
		     struct anchor_pve_round *out)
{
	l->n_all = l->n1 = l->n2 = 0;
	for (size_t i = 0; i < n_vms; i++) {
		const struct anchor_pve_vm *d = &vms[i];
		struct anchor_pve_vm_out *o = &out->vm[i];
		o->list = ANCHOR_PVE_SKIPPED;
		if (pve_skipped(d, o))                    /* :95-100 */
			continue;
		l->idlist[l->n_all++] = i;                /* :102 */
		/* :104-114 freemem > 25% of balloon_min and balloon >= balloon_min */
		if (d->freemem_bytes &&
		    (double)d->freemem_bytes > (double)d->balloon_min_bytes * 0.25 &&
		    d->balloon_bytes >= d->balloon_min_bytes) {
			l->idlist2[l->n2++] = i;
			o->list = ANCHOR_PVE_FREE;
		} else {
			l->idlist1[l->n1++] = i;
			o->list = ANCHOR_PVE_PRESSURE;
		}
		o->reason = ANCHOR_PVE_R_UNCHANGED;
	}
}

/* Places goal, then on all VMs if need be (AutoBalloon.pm:117-141); sets the phase, returns $rest. */
static int64_t pve_compute(struct pve_work *w, const struct pve_lists *l, int64_t goal,
			   int64_t maxchange, struct anchor_pve_round *out)
{
	int64_t rest = 0;
	int64_t small = (int64_t)ANCHOR_PVE_MIN_GOAL_BYTES; /* 10 * 1024 * 1024 */
	if (goal > small) {                                   /* :119 */
		out->phase = ANCHOR_PVE_GROW;
		rest = pve_change(w, l->idlist1, l->n1, goal, maxchange);      /* :122 */
		if (rest >= goal) {                               /* :123 */
			out->all_pass = true;
			rest = pve_change(w, l->idlist, l->n_all, rest, maxchange); /* :125 */
		}
	} else if (goal < -small) {                           /* :129 */
		out->phase = ANCHOR_PVE_SHRINK;
		rest = pve_change(w, l->idlist2, l->n2, goal, maxchange);      /* :132 */
		if (rest <= goal) {                               /* :133 */
			out->all_pass = true;
			rest = pve_change(w, l->idlist, l->n_all, rest, maxchange); /* :135 */
		}
	} else {                                              /* :138-141 */
		out->phase = ANCHOR_PVE_NOTHING;
	}
	return rest;
}

/* pvestatd.pm:317-325 for VM i: sets its target unless int(target) == int(current), and says why. */
static void pve_apply(const struct pve_work *w, size_t i, const struct anchor_pve_vm *d,
		      int64_t goal, struct anchor_pve_round *out)
{
	struct anchor_pve_vm_out *o = &out->vm[i];
	o->desired_bytes = w->desired[i];
	o->capped = w->capped[i];
	const char *list = o->list == ANCHOR_PVE_FREE ? "free list (idlist2)"
						      : "pressure list (idlist1)";
	if (out->phase == ANCHOR_PVE_NOTHING) {
		o->reason = ANCHOR_PVE_R_GOAL_SMALL;
		snprintf(o->reason_text, sizeof o->reason_text,
			 "%s; |goal| %lld <= 10 MiB: do nothing (AutoBalloon.pm:138-141)",
			 list, (long long)goal);
		return;
	}
	if (!w->res_defined[i] || w->res[i] == (int64_t)d->balloon_bytes) {
		o->reason = ANCHOR_PVE_R_UNCHANGED;
		snprintf(o->reason_text, sizeof o->reason_text,
			 "%s; %s goal %lld: no new value%s (pvestatd.pm:320)",
			 list, out->phase == ANCHOR_PVE_GROW ? "grow" : "shrink",
			 (long long)goal,
			 out->all_pass ? " (all-VM pass too)" : "");
		return;
	}
	o->set = true;
	o->target_bytes = (uint64_t)w->res[i];
	o->reason = w->res[i] > (int64_t)d->balloon_bytes ? ANCHOR_PVE_R_GROW
							  : ANCHOR_PVE_R_SHRINK;
	snprintf(o->reason_text, sizeof o->reason_text,
		 "%s; %s goal %lld: desired %lld%s%s (AutoBalloon.pm:44-60)",
		 list, o->reason == ANCHOR_PVE_R_GROW ? "grow" : "shrink",
		 (long long)goal, (long long)w->desired[i],
		 w->capped[i] ? ", capped at 100 MiB per round" : "",
		 out->all_pass ? ", all-VM pass" : "");
}

int anchor_proxmox_round(const struct anchor_pve_host *host,
			 const struct anchor_pve_vm *vms, size_t n_vms,
			 struct anchor_pve_round *out)
{
	if (!host || !out || (n_vms && !vms) || n_vms > ANCHOR_MAX_VMS ||
	    host->target_percent > 100)
		return -EINVAL;
	for (size_t i = 0; i < n_vms; i++)
		if (vms[i].shares > ANCHOR_PVE_MAX_SHARES) /* QemuServer.pm:333 */
			return -EINVAL;

	memset(out, 0, sizeof *out);
	out->n_vms = n_vms;

	/* pvestatd.pm:310 int(memtotal * target / 100 - memused) */
	double goal_d = (double)host->mem_total_bytes * (double)host->target_percent /
			100.0 - (double)host->mem_used_bytes;
	int64_t goal = (int64_t)goal_d;
	int64_t maxchange = (int64_t)ANCHOR_PVE_MAXCHANGE_BYTES; /* pvestatd.pm:314 */
	out->goal_bytes = goal;

	struct pve_work w;
	memset(&w, 0, sizeof w);
	w.vms = vms;

	/* AutoBalloon.pm:89-115: the three lists. */
	struct pve_lists l;
	pve_sort(vms, n_vms, &l, out);

	/* AutoBalloon.pm:117-141 */
	out->rest_bytes = pve_compute(&w, &l, goal, maxchange, out);
	out->passes = w.passes;
	out->pass_cap_hit = w.pass_cap_hit;

	/* pvestatd.pm:317-325: apply each $res unless int(target) == int(current). */
	for (size_t k = 0; k < l.n_all; k++)
		pve_apply(&w, l.idlist[k], &vms[l.idlist[k]], goal, out);
	return 0;
}

/* ====================================================================== */
/* oVirt MOM                                                              */
/* ====================================================================== */

const char *anchor_mom_reason_name(enum anchor_mom_reason r)
{
	switch (r) {
	case ANCHOR_MOM_R_NOT_MONITORED: return "not-monitored";
	case ANCHOR_MOM_R_NO_INFO:       return "no-info";
	case ANCHOR_MOM_R_SHRINK:        return "shrink";
	case ANCHOR_MOM_R_SHRINK_NONE:   return "shrink-none";
	case ANCHOR_MOM_R_GROW:          return "grow";
	case ANCHOR_MOM_R_GROW_FULL:     return "grow-full";
	case ANCHOR_MOM_R_GROW_NONE:     return "grow-none";
	case ANCHOR_MOM_R_QOS_MIN:       return "qos-min";
	case ANCHOR_MOM_R_ABORTED:       return "aborted";
	}
	return "?";
}

void anchor_mom_host_push(struct anchor_mom_host *h, uint64_t mem_free_bytes,
			  uint64_t mem_total_bytes)
{
	/* Monitor.py:120-123: append, then drop the oldest past the length. */
	if (h->n_samples == ANCHOR_MOM_HISTORY) {
		memmove(h->mem_free_bytes, h->mem_free_bytes + 1,
			(ANCHOR_MOM_HISTORY - 1) * sizeof h->mem_free_bytes[0]);
		h->n_samples--;
	}
	h->mem_free_bytes[h->n_samples++] = mem_free_bytes;
	h->mem_total_bytes = mem_total_bytes;
}

void anchor_mom_guest_push(struct anchor_mom_guest *g,
			   const struct anchor_mom_sample *s)
{
	if (g->n_samples == ANCHOR_MOM_HISTORY) {
		memmove(g->samples, g->samples + 1,
			(ANCHOR_MOM_HISTORY - 1) * sizeof g->samples[0]);
		g->n_samples--;
	}
	g->samples[g->n_samples++] = *s;
}

/* The boundary: bytes to KiB, floor (libvirt divides QMP's bytes by 1024;
 * vdsm and MOM pass KiB on as ints). */
static uint64_t kib(uint64_t bytes)
{
	return bytes / KIB;
}

/* Entity.StatAvg (Entity.py:103-121) of balloon_cur (which = 0) or
 * mem_unused (which = 1): sum of the non-None values over the history,
 * divided by their count (Python 3 true division), 0.0 when none. */
static double mom_stat_avg(const struct anchor_mom_guest *g, int which)
{
	uint64_t total = 0;
	unsigned n = 0;
	for (unsigned k = 0; k < g->n_samples; k++) {
		const struct anchor_mom_sample *s = &g->samples[k];
		if (which == 0 && s->balloon_valid) {
			total += kib(s->balloon_cur_bytes);
			n++;
		} else if (which == 1 && s->mem_unused_valid) {
			total += kib(s->mem_unused_bytes);
			n++;
		}
	}
	return n ? (double)total / (double)n : 0.0;
}

/* The guest as the policy sees it, in KiB (Entity._finalize, Entity.py:55-60:
 * guest.<field> is the latest sample's value). */
struct mom_view {
	int64_t balloon_cur;        /* guest.balloon_cur */
	int64_t balloon_min;        /* guest.balloon_min */
	int64_t balloon_max;        /* guest.balloon_max */
	double cur_avg;             /* guest.StatAvg "balloon_cur" */
	double unused_avg;          /* guest.StatAvg "mem_unused" */
};

/* change_big_enough (02-balloon:30-35). */
static bool mom_change_big_enough(const struct mom_view *v, double new_val)
{
	double d = new_val - (double)v->balloon_cur;
	if (d < 0)
		d = -d;                                   /* (abs ...) */
	return d > ANCHOR_MOM_MIN_BALLOON_CHANGE * (double)v->balloon_cur;
}

/* The guest_free_percent block shared by shrink_guest (02-balloon:40-47)
 * and grow_guest (:71-78). */
static double mom_guest_free_percent(double host_free_percent)
{
	if (host_free_percent <= ANCHOR_MOM_PRESSURE_CRITICAL)
		return -0.05 + host_free_percent;     /* (+ -0.05 host_free_percent) */
	return ANCHOR_MOM_MIN_GUEST_FREE *
	       (host_free_percent / ANCHOR_MOM_PRESSURE_THRESHOLD);
}

/* Python's max(a, b) (Parser.py:521-523): the first of the largest. */
static double py_max(double a, double b)
{
	return b > a ? b : a;
}

/* guest.Control "balloon_target" X, then Balloon.process_guest's int(X)
 * (Balloon.py:30-32) and libvirt's KiB -> bytes. */
static void mom_control(struct anchor_mom_guest_out *o, double target_kib)
{
	o->set = true;
	o->target_bytes = (uint64_t)(int64_t)target_kib * KIB;
}

/* shrink_guest (02-balloon:37-66). */
static void mom_shrink(const struct mom_view *v, double hfp,
		       struct anchor_mom_guest_out *o)
{
	double gfp = mom_guest_free_percent(hfp);                 /* :40-47 */
	double used = v->cur_avg - v->unused_avg;                 /* :50-51 */
	double floor = py_max((double)v->balloon_min,             /* :52-53 */
			      used + gfp * (double)v->balloon_cur);
	double size = (double)v->balloon_cur *                    /* :55-56 */
		      (1 - ANCHOR_MOM_MAX_BALLOON_CHANGE);
	if (size < floor)                                         /* :57-59 */
		size = floor;
	o->guest_free_percent = gfp;
	o->used_kib = used;
	o->floor_kib = floor;
	o->size_kib = size;
	if (size <= (double)v->balloon_cur &&                     /* :62-65 */
	    mom_change_big_enough(v, size)) {
		mom_control(o, size);
		o->reason = ANCHOR_MOM_R_SHRINK;
		snprintf(o->reason_text, sizeof o->reason_text,
			 "shrink: host free %s; size max(cur*0.95, min, used + %.4f*cur) "
			 "(02-balloon:37-66)",
			 hfp <= ANCHOR_MOM_PRESSURE_CRITICAL ? "critical" : "under pressure",
			 gfp);
	} else {
		o->reason = ANCHOR_MOM_R_SHRINK_NONE;
		snprintf(o->reason_text, sizeof o->reason_text,
			 "shrink: no change, %s (02-balloon:62-65)",
			 size > (double)v->balloon_cur ? "size above cur"
						       : "change under 0.25% of cur");
	}
}

/* grow_guest (02-balloon:68-100). */
static void mom_grow(const struct mom_view *v, double hfp,
		     struct anchor_mom_guest_out *o)
{
	double gfp = mom_guest_free_percent(hfp);                 /* :71-78 */
	o->guest_free_percent = gfp;
	if (!(v->balloon_cur < v->balloon_max)) {                 /* :81 */
		o->reason = ANCHOR_MOM_R_GROW_FULL;
		snprintf(o->reason_text, sizeof o->reason_text,
			 "grow: balloon_cur >= balloon_max, nothing to do (02-balloon:81)");
		return;
	}
	double used = v->cur_avg - v->unused_avg;                 /* :83-84 */
	double floor = py_max((double)v->balloon_min,             /* :85-86 */
			      used + gfp * (double)v->balloon_cur);
	double size = (double)v->balloon_cur *                    /* :88-89 */
		      (1 + ANCHOR_MOM_MAX_BALLOON_CHANGE);
	if (size < floor)                                         /* :93-94 */
		size = floor;
	if (size > (double)v->balloon_max)                        /* :95-96 */
		size = (double)v->balloon_max;
	o->used_kib = used;
	o->floor_kib = floor;
	o->size_kib = size;
	if (mom_change_big_enough(v, size)) {                     /* :97-98 */
		mom_control(o, size);
		o->reason = ANCHOR_MOM_R_GROW;
		snprintf(o->reason_text, sizeof o->reason_text,
			 "grow: %s; size min(max, max(cur*1.05, min, used + %.4f*cur)) "
			 "(02-balloon:68-100)",
			 hfp < ANCHOR_MOM_PRESSURE_THRESHOLD ? "ballooning disabled"
							     : "no host pressure",
			 gfp);
	} else {
		o->reason = ANCHOR_MOM_R_GROW_NONE;
		snprintf(o->reason_text, sizeof o->reason_text,
			 "grow: change under 0.25%% of cur (02-balloon:97-98)");
	}
}

/* host_free_percent (02-balloon:113), returned and, with its average, set in out. */
static double mom_host_free_percent(const struct anchor_mom_host *host, uint64_t mem_available,
				    struct anchor_mom_round *out)
{
	/* 02-balloon:113 (defvar host_free_percent
	 *                  (/ (Host.StatAvg "mem_free") Host.mem_available)) */
	uint64_t total = 0;
	for (unsigned k = 0; k < host->n_samples; k++)
		total += kib(host->mem_free_bytes[k]);
	double free_avg = (double)total / (double)host->n_samples;  /* Entity.py:121 */
	double hfp = free_avg / (double)mem_available;
	out->host_free_avg_kib = free_avg;
	out->host_free_percent = hfp;
	return hfp;
}

/* balloon_logic for guest g, or why it is skipped (02-balloon:115-124). */
static void mom_balloon_logic(const struct anchor_mom_guest *g, double hfp, bool pressure,
			      struct anchor_mom_guest_out *o)
{
	if (g->n_samples == 0) {
		o->reason = ANCHOR_MOM_R_NOT_MONITORED;
		snprintf(o->reason_text, sizeof o->reason_text,
			 "not in Guests: no sample yet (Monitor.py:138-139)");
		return;
	}
	const struct anchor_mom_sample *last = &g->samples[g->n_samples - 1];
	if (!last->balloon_valid || !last->mem_unused_valid) {   /* :122, :124 */
		o->reason = ANCHOR_MOM_R_NO_INFO;
		snprintf(o->reason_text, sizeof o->reason_text,
			 "Memory information is missing, ballooning disabled "
			 "(02-balloon:124)");
		return;
	}
	struct mom_view v = {
		.balloon_cur = (int64_t)kib(last->balloon_cur_bytes),
		.balloon_min = (int64_t)kib(g->balloon_min_bytes),
		.balloon_max = (int64_t)kib(g->balloon_max_bytes),
		.cur_avg = mom_stat_avg(g, 0),
		.unused_avg = mom_stat_avg(g, 1),
	};
	if (pressure)                                        /* :115-119 */
		mom_shrink(&v, hfp, o);
	else
		mom_grow(&v, hfp, o);
}

/* guest_qos for guest g (02-balloon:130-136); false when it raises (no balloon info): abort. */
static bool mom_guest_qos(const struct anchor_mom_guest *g, struct anchor_mom_guest_out *o)
{
	if (g->n_samples == 0)
		return true;
	const struct anchor_mom_sample *last = &g->samples[g->n_samples - 1];
	if (!last->balloon_valid) {
		/* (< None None): Python raises TypeError; Policy.evaluate
		 * returns False (Policy.py:96-98) and do_controls returns
		 * before any controller runs (PolicyEngine.py:127-129). */
		return false;
	}
	uint64_t cur = kib(last->balloon_cur_bytes), min = kib(g->balloon_min_bytes);
	if (cur < min) {                                     /* :132-133 */
		mom_control(o, (double)min);
		o->reason = ANCHOR_MOM_R_QOS_MIN;
		snprintf(o->reason_text, sizeof o->reason_text,
			 "guest_qos: balloon_cur below balloon_min, raised to it "
			 "(02-balloon:130-134)");
	}
	return true;
}

/* An aborted evaluation (Policy.py:96-98): no guest's Control is applied; each says why. */
static void mom_abort(struct anchor_mom_round *out, size_t n_guests)
{
	for (size_t i = 0; i < n_guests; i++) {
		struct anchor_mom_guest_out *o = &out->guest[i];
		o->set = false;
		o->target_bytes = 0;
		o->reason = ANCHOR_MOM_R_ABORTED;
		snprintf(o->reason_text, sizeof o->reason_text,
			 "evaluation aborted: a guest without balloon info makes "
			 "guest_qos raise TypeError (02-balloon:132, Policy.py:96-98)");
	}
}

int anchor_mom_round(const struct anchor_mom_host *host,
		     const struct anchor_mom_guest *guests, size_t n_guests,
		     struct anchor_mom_round *out)
{
	if (!host || !out || (n_guests && !guests) || n_guests > ANCHOR_MAX_VMS ||
	    host->n_samples > ANCHOR_MOM_HISTORY)
		return -EINVAL;
	for (size_t i = 0; i < n_guests; i++)
		if (guests[i].n_samples > ANCHOR_MOM_HISTORY)
			return -EINVAL;
	memset(out, 0, sizeof *out);
	out->n_guests = n_guests;
	/* PolicyEngine.py:122-124: no host entity (monitor not ready), no round. */
	if (host->n_samples == 0)
		return -ENODATA;
	/* 02-balloon:113 divides by Host.mem_available (MemTotal, KiB): 0 would
	 * raise ZeroDivisionError and abort the evaluation (Policy.py:96-98). */
	uint64_t mem_available = kib(host->mem_total_bytes);
	if (!mem_available)
		return -EDOM;

	double hfp = mom_host_free_percent(host, mem_available, out);   /* :113 */
	out->critical = hfp <= ANCHOR_MOM_PRESSURE_CRITICAL;
	/* 02-balloon:116 (and (< host_free_percent pressure_threshold) balloonEnabled) */
	out->pressure = hfp < ANCHOR_MOM_PRESSURE_THRESHOLD && host->balloon_enabled;

	/* 02-balloon:121-124 (with Guests guest (if (valid ...) (balloon_logic guest) (debug ...))) */
	for (size_t i = 0; i < n_guests; i++)
		mom_balloon_logic(&guests[i], hfp, out->pressure, &out->guest[i]);

	/* 02-balloon:130-136 guest_qos. Its parameter is spelled `quest`, but
	 * MOM's scopes are dynamic (Parser.py:307-330), so `guest` is the
	 * (with Guests guest ...) binding: the rule works on every guest. It
	 * comes after balloon_logic, so its Control wins (Entity.py:139-143). */
	for (size_t i = 0; i < n_guests; i++)
		if (!mom_guest_qos(&guests[i], &out->guest[i]))
			out->aborted = true;

	if (out->aborted)
		mom_abort(out, n_guests);
	return 0;
}
