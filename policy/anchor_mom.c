/* anchor_mom.c — oVirt MOM's balloon rule (vdsm's 02-balloon.policy),
 * ported verbatim. (Proxmox VE's auto-ballooning rule is anchor_proxmox.c.)
 *
 * Read anchors.h first: it lists the upstream files and commits. Every
 * block below names the lines it ports as FILE:LINES; the short names are
 *
 *   02-balloon       oVirt/vdsm static/etc/vdsm/mom.d/02-balloon.policy
 *   00-defines       oVirt/vdsm static/etc/vdsm/mom.d/00-defines.policy
 *                    (both @ fd4b0df20b9bc79864ba0d11c3c1140fb1de194a)
 *   Entity.py, Monitor.py, Parser.py, Policy.py, PolicyEngine.py, Balloon.py
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
