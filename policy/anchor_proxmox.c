/* anchor_proxmox.c — Proxmox VE's auto-ballooning rule, ported verbatim.
 * (oVirt MOM's balloon rule is anchor_mom.c.)
 *
 * Read anchors.h first: it lists the upstream files and commits. Every
 * block below names the lines it ports as FILE:LINES; the short names are
 *
 *   AutoBalloon.pm   proxmox/pve-manager PVE/AutoBalloon.pm
 *   pvestatd.pm      proxmox/pve-manager PVE/Service/pvestatd.pm
 *                    (both @ 14a22df35955d97dfc1af21e117dc894a29df0c9)
 *   QemuServer.pm    proxmox/qemu-server src/PVE/QemuServer.pm
 *                    (@ e6352be67f70042a7433a3a3c712b36d02f9f7cb)
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

/* Same results as Perl also means no fused multiply-add: a product and
 * the sum it feeds must round separately, as in Perl (anchor_mom.c has
 * the same guard). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

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
