/* snapshot.c — publish: everything ksmd knows, as one JSON document
 * (daemon_snapshot): the control socket's status, the HTTP stats and the
 * Prometheus text are made from it. */
#include "daemon/guests.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/log.h"

#define JSET(o, k, v) json_object_set_new(o, k, v)
#define JU(v) json_integer((json_int_t)(v))

static const char *guest_state(const struct daemon *d, const struct guest *g)
{
	if (!g->b)
		return g->alive ? "ok" : "gone";
	switch (g->info.state) {
	case BALLOON_CONNECTING: return "connecting";
	case BALLOON_NO_DEVICE: return "no-balloon";
	case BALLOON_BUSY: return "busy";
	case BALLOON_GONE: return "gone";
	case BALLOON_ERROR: return "error";
	case BALLOON_READY: break;
	}
	if (g->info.progress.uncooperative)
		return "uncooperative";
	if (g->info.progress.stuck)
		return "stuck";
	/* the policy's own judgment at its last tick: one definition of distress */
	if (d->mod->plan_valid && policy_guest_in_distress(&d->mod->pstate, &d->mod->plan, g->id))
		return "distress";
	return "ok";
}

/* A libvirt domain's view: uuid, id, devices, where its settings came from. */
static json_t *guest_libvirt_json(const struct daemon *d, const struct guest *g)
{
	json_t *lv = json_object();
	JSET(lv, "uuid", json_string(g->lvd.uuid));
	JSET(lv, "id", json_integer(g->lvd.id));
	JSET(lv, "balloon_device", json_boolean(g->lvd.has_balloon));
	JSET(lv, "nosharepages", json_boolean(g->lvd.nosharepages));
	JSET(lv, "settings", json_string(config_guest(&d->cfg, g->conf.name) ? "section"
					 : g->lvd.meta_min_bytes || g->lvd.meta_max_bytes ||
							   g->lvd.meta_shares ? "metadata" : "defaults"));
	if (g->lvd.pid_error[0])
		JSET(lv, "pid_error", json_string(g->lvd.pid_error));
	if (g->lvd.meta_error[0])
		JSET(lv, "metadata_error", json_string(g->lvd.meta_error));
	return lv;
}

/* A guest's balloon: limits, target, actual, override, its statistics. */
static void guest_balloon_json(const struct daemon *d, const struct guest *g, json_t *o, usec_t now)
{
	const struct balloon_info *in = &g->info;
	const struct balloon_stats *s = &in->stats;
	JSET(o, "mem_max_bytes", JU(in->limits.max_bytes));
	JSET(o, "mem_min_bytes", JU(in->limits.min_bytes));
	JSET(o, "balloon_target_bytes", JU(in->target_bytes));
	JSET(o, "balloon_actual_bytes", JU(in->actual_bytes));
	JSET(o, "override_bytes", JU(g->override ? g->override_bytes : 0));
	if (g->override)
		JSET(o, "override_by", json_string(g->override_outside ? "outside" : "ksmdctl"));
	char who[128];
	balloon_driven(d, g, who, sizeof who);
	JSET(o, "balloon_driver", json_string(who));
	JSET(o, "stats_age_seconds", s->updated_usec ? json_real((double)(now - MIN(now, s->updated_usec)) / 1e6)
						    : json_null());
	if (s->valid_mask & (1u << BALLOON_STAT_AVAILABLE))
		JSET(o, "available_bytes", JU(s->value[BALLOON_STAT_AVAILABLE]));
	if (s->valid_mask & (1u << BALLOON_STAT_FREE))
		JSET(o, "free_bytes", JU(s->value[BALLOON_STAT_FREE]));
	if (s->valid_mask & (1u << BALLOON_STAT_MAJOR_FAULTS))
		JSET(o, "major_faults", JU(s->value[BALLOON_STAT_MAJOR_FAULTS]));
	if (s->valid_mask & (1u << BALLOON_STAT_SWAP_IN))
		JSET(o, "swap_in", JU(s->value[BALLOON_STAT_SWAP_IN]));
	if (s->valid_mask & (1u << BALLOON_STAT_SWAP_OUT))
		JSET(o, "swap_out", JU(s->value[BALLOON_STAT_SWAP_OUT]));
	JSET(o, "free_page_reporting", json_boolean(in->caps & BALLOON_CAP_FREE_PAGE_REPORTING));
	JSET(o, "deflate_on_oom", json_boolean(in->caps & BALLOON_CAP_DEFLATE_ON_OOM));
	JSET(o, "stuck", json_boolean(in->progress.stuck));
	JSET(o, "uncooperative", json_boolean(in->progress.uncooperative));
}

/* The scanner's figures of a guest (as of its last pass). */
static void guest_scan_json(const struct daemon *d, const struct guest *g, json_t *o)
{
	const struct daemon_modules *m = d->mod;
	if (!m->sres_valid)
		return;
	{
		for (unsigned i = 0; i < m->sres.n_guests; i++) {
			const struct scanner_guest_stats *sg = &m->sres.guests[i];
			if (strcmp(sg->name, g->conf.name))
				continue;
			json_t *sc = json_object();
			JSET(sc, "present_pages", JU(sg->present_pages));
			/* guest memory the host does not back: never touched, or
			 * given back by free page reporting (as of the last pass) */
			if (g->b && g->info.actual_bytes)
				JSET(o, "unbacked_bytes", JU(g->info.actual_bytes > sg->present_pages * 4096
							      ? g->info.actual_bytes - sg->present_pages * 4096 : 0));
			JSET(sc, "zero_page_pages", JU(sg->zero_page_pages));
			JSET(sc, "zero_filled_pages", JU(sg->zero_filled_pages));
			JSET(sc, "merged_pages", JU(sg->ksm_merged_pages));
			JSET(sc, "unique_pages", JU(sg->unique_pages));
			JSET(sc, "duplicate_pages", JU(sg->dup_intra_pages + sg->dup_cross_pages));
			JSET(sc, "duplicate_cross_pages", JU(sg->dup_cross_pages));
			JSET(sc, "volatile_pages", JU(sg->volatile_pages));
			JSET(sc, "mergeable_pages", JU(sg->mergeable_pages));
			JSET(sc, "regions", JU(sg->regions));
			JSET(sc, "region_pages", JU(sg->region_pages));
			JSET(sc, "swapped_pages", JU(sg->swapped_pages));
			JSET(sc, "unread_pages", JU(sg->unread_pages));
			if (sg->last_error)
				JSET(sc, "error", json_string(strerror(-sg->last_error)));
			JSET(o, "scan", sc);
		}
	}
}

static json_t *guest_json(const struct daemon *d, const struct guest *g)
{
	json_t *o = json_object();
	usec_t now = now_usec();
	JSET(o, "name", json_string(g->conf.name));
	JSET(o, "pid", JU(g->pid));
	JSET(o, "backend", json_string(g->conf.libvirt ? "libvirt" : g->conf.qmp[0] ? "qmp"
				       : g->conf.cgroup[0] ? "cgroup" : "pid"));
	JSET(o, "state", json_string(guest_state(d, g)));
	if (g->b && g->info.reason[0])
		JSET(o, "reason", json_string(g->info.reason));
	JSET(o, "discovered", json_boolean(g->discovered));
	if (g->conf.libvirt)
		JSET(o, "libvirt", guest_libvirt_json(d, g));
	if (g->conf.qmp[0])
		JSET(o, "qmp_mode", json_string(g->conf.qmp_mode[0] ? g->conf.qmp_mode : "own"));
	JSET(o, "shares", JU(g->conf.shares));
	if (g->b)
		guest_balloon_json(d, g, o, now);
	JSET(o, "rss_bytes", JU(g->rss_bytes));
	JSET(o, "swap_bytes", JU(g->swap_bytes));
	if (g->wss_on && d->cfg.policy.host_wss) {
		struct policy_guest pg;
		memset(&pg, 0, sizeof pg);
		wss_tracker_fill(&g->wss, now, &pg);
		if (pg.host_active_valid) {
			JSET(o, "host_active_bytes", JU(pg.host_active_bytes));
			JSET(o, "host_active_age_seconds", json_real((double)pg.host_active_age_usec / 1e6));
		}
	}
	if (g->ksm_valid) {
		JSET(o, "ksm_mergeable", json_boolean(g->ksm.mergeable == 1 || g->ksm.merge_any == 1));
		JSET(o, "ksm_merging_pages", JU(g->ksm.merging_pages));
		JSET(o, "ksm_zero_pages", JU(g->ksm.zero_pages));
		if (g->ksm_fix[0])
			JSET(o, "ksm_fix", json_string(g->ksm_fix));
	}
	guest_scan_json(d, g, o);
	return o;
}

/* host: memory, swap and PSI, the budget, its cgroup */
static json_t *host_json(const struct daemon *d)
{
	const struct daemon_modules *m = d->mod;
	uint64_t guests_total = 0;
	for (size_t i = 0; i < m->n; i++)
		guests_total += m->g[i]->b ? m->g[i]->info.actual_bytes : m->g[i]->rss_bytes;
	json_t *h = json_object();
	if (m->host_valid) {
		JSET(h, "mem_total_bytes", JU(m->host.mem_total_bytes));
		JSET(h, "mem_available_bytes", JU(m->host.mem_available_bytes));
		JSET(h, "swap_in_pages_per_sec", json_real(m->host.swap_in_pages_per_sec));
		JSET(h, "swap_out_pages_per_sec", json_real(m->host.swap_out_pages_per_sec));
		if (m->host.psi_available) {
			JSET(h, "psi_some_avg10", json_real(m->host.psi_some_avg10_percent));
			JSET(h, "psi_full_avg10", json_real(m->host.psi_full_avg10_percent));
		}
		struct policy_snapshot tmp;
		tmp.conf = d->cfg.policy;
		tmp.host = m->host;
		JSET(h, "budget_bytes", JU(policy_budget_bytes(&tmp)));
		if (d->cfg.policy.budget_cgroup[0]) {
			json_t *cg = json_object();
			JSET(cg, "path", json_string(d->cfg.policy.budget_cgroup));
			JSET(cg, "readable", json_boolean(m->host.cg_valid));
			if (m->host.cg_valid) {
				JSET(cg, "limit_bytes", m->host.cg_limited ? JU(m->host.cg_limit_bytes) : json_null());
				JSET(cg, "usage_bytes", JU(m->host.cg_usage_bytes));
				JSET(cg, "swap_bytes", JU(m->host.cg_swap_bytes));
				JSET(cg, "swap_out_bytes_per_sec", json_real(m->host.cg_swap_out_bytes_per_sec));
			}
			JSET(h, "cgroup", cg);
		}
	}
	JSET(h, "guests_total_bytes", JU(guests_total));
	return h;
}

/* ksm: the kernel's knobs and counters, ksmd's pacing */
static json_t *ksm_json(const struct daemon *d)
{
	json_t *k = json_object();
	JSET(k, "available", json_boolean(d->ksm_available));
	JSET(k, "managed", json_boolean(d->ksm_driving && daemon_ksm_wanted(d)));
	JSET(k, "run", JU(d->ksm_now.set.run));
	JSET(k, "pages_to_scan", JU(d->ksm_now.set.pages_to_scan));
	JSET(k, "sleep_millisecs", JU(d->ksm_now.set.sleep_millisecs));
	JSET(k, "pages_shared", JU(d->ksm_now.cnt.pages_shared));
	JSET(k, "pages_sharing", JU(d->ksm_now.cnt.pages_sharing));
	JSET(k, "pages_unshared", JU(d->ksm_now.cnt.pages_unshared));
	JSET(k, "pages_volatile", JU(d->ksm_now.cnt.pages_volatile));
	JSET(k, "full_scans", JU(d->ksm_now.cnt.full_scans));
	JSET(k, "ksm_zero_pages", JU(d->ksm_now.cnt.ksm_zero_pages));
	JSET(k, "general_profit", JU(d->ksm_now.cnt.general_profit));
	JSET(k, "pages_scanned", JU(d->ksm_now.cnt.pages_scanned));
	if (d->ksm_driving) {
		if (d->ksm.kthread_cpu_percent >= 0)
			JSET(k, "kthread_cpu_percent", json_real(d->ksm.kthread_cpu_percent));
		JSET(k, "pacing_phase", json_string(ksm_pace_phase_name(d->ksm.state.phase)));
		JSET(k, "pacing_reason", json_string(d->ksm.last.reason));
	}
	return k;
}

/* scanner: its limits and its last pass */
static json_t *scanner_json(const struct daemon *d)
{
	const struct daemon_modules *m = d->mod;
	json_t *sc = json_object();
	JSET(sc, "state", json_string(!m->scanner ? "disabled" : d->scanner_paused ? "paused" : "running"));
	JSET(sc, "threads", JU(d->cfg.scanner_threads));
	JSET(sc, "pages_per_sec_limit", JU(d->cfg.scanner_pages_per_sec));
	JSET(sc, "cpu_percent_limit", json_real(d->cfg.scanner_cpu_percent));
	if (m->sres_valid) {
		const struct scanner_results *r = &m->sres;
		uint64_t dups = 0, vol = 0;
		for (unsigned i = 0; i < r->n_guests; i++) {
			dups += r->guests[i].dup_intra_pages + r->guests[i].dup_cross_pages;
			vol += r->guests[i].volatile_pages;
		}
		JSET(sc, "passes", JU(r->passes));
		JSET(sc, "last_pass_seconds", json_real((double)r->last_pass_usec / 1e6));
		JSET(sc, "last_pass_cpu_seconds", json_real(r->last_pass_cpu_sec));
		JSET(sc, "pages_scanned", JU(r->pages_scanned));
		JSET(sc, "pages_scanned_total", JU(m->pages_scanned_total));
		JSET(sc, "pages_skipped", JU(r->pages_skipped));
		JSET(sc, "pages_scanned_per_sec", json_real(r->pages_scanned_per_sec));
		JSET(sc, "predicted_mergeable_pages", JU(r->predicted_sharing_pages));
		JSET(sc, "unmerged_duplicate_pages", JU(r->dup_saveable_pages));
		JSET(sc, "zero_filled_pages", JU(r->zero_filled_pages));
		JSET(sc, "duplicate_pages", JU(dups));
		JSET(sc, "volatile_pages", JU(vol));
		JSET(sc, "hash_collisions", JU(r->hash_collisions));
		JSET(sc, "tracked_pages", JU(r->tracked_pages));
		JSET(sc, "bytes_per_tracked_page", json_real(r->bytes_per_tracked_page));
		JSET(sc, "incremental", json_boolean(r->incremental));
		JSET(sc, "pages_vm_readv", JU(r->pages_vm_readv));
		JSET(sc, "vm_readv_changed", JU(r->vm_readv_changed));
	}
	return sc;
}

/* libvirt: the connection ([libvirt] only) */
static json_t *libvirt_json(const struct daemon *d)
{
	const struct daemon_modules *m = d->mod;
	json_t *lv = json_object();
	unsigned n = 0;
	for (size_t i = 0; i < m->n; i++)
		n += m->g[i]->conf.libvirt;
	JSET(lv, "uri", json_string(d->cfg.libvirt_uri));
	JSET(lv, "connected", json_boolean(lv_conn_is_up(m->lv)));
	JSET(lv, "error", lv_conn_error(m->lv)[0] ? json_string(lv_conn_error(m->lv)) : json_null());
	JSET(lv, "domains", JU(n));
	return lv;
}

/* sharing: pages each pair of guests shares */
static json_t *sharing_json(const struct daemon *d)
{
	const struct daemon_modules *m = d->mod;
	json_t *sh = json_array();
	if (m->sres_valid)
		for (unsigned i = 0; i < m->sres.n_pairs; i++) {
			const struct scanner_pair_stats *p = &m->sres.pairs[i];
			if (p->a >= m->sres.n_guests || p->b >= m->sres.n_guests)
				continue;
			json_t *o = json_object();
			JSET(o, "a", json_string(m->sres.guests[p->a].name));
			JSET(o, "b", json_string(m->sres.guests[p->b].name));
			JSET(o, "pages", JU(p->shared_pages));
			json_array_append_new(sh, o);
		}
	return sh;
}

/* policy: its state and the last plan's summary */
static json_t *policy_json(const struct daemon *d)
{
	const struct daemon_modules *m = d->mod;
	json_t *po = json_object();
	JSET(po, "state", json_string(!d->cfg.policy_enabled ? "disabled" : d->policy_paused ? "paused" : "running"));
	JSET(po, "dry_run", json_boolean(d->cfg.policy.dry_run));
	JSET(po, "tick", JU(m->pstate.ticks));
	if (m->plan_valid) {
		JSET(po, "host_level", json_string(policy_host_level_name(m->plan.host_level)));
		JSET(po, "merge_urgency", json_string(policy_merge_urgency_name(m->plan.merge_urgency)));
		JSET(po, "guest_used_bytes", JU(m->plan.guest_used_bytes));
		JSET(po, "guest_swap_bytes", JU(m->plan.guest_swap_bytes));
		JSET(po, "reclaim_wanted_bytes", json_integer(m->plan.reclaim_wanted_bytes));
		JSET(po, "host_reason", json_string(m->plan.host_reason));
		JSET(po, "merge_reason", json_string(m->plan.merge_reason));
	}
	return po;
}

/* decisions: the ring, oldest first */
static json_t *decisions_json(const struct daemon *d, usec_t now)
{
	const struct daemon_modules *m = d->mod;
	json_t *da = json_array();
	usec_t rt = now_realtime_usec();
	for (size_t i = m->ring.count; i-- > 0;) { /* oldest first */
		const struct policy_ring_entry *e = policy_ring_get(&m->ring, i);
		if (!e)
			continue;
		json_t *o = json_object();
		JSET(o, "time", json_real((double)(rt - (now - MIN(now, e->when_usec))) / 1e6));
		JSET(o, "target", json_string(e->guest[0] ? e->guest : "host"));
		JSET(o, "action", json_string(e->kind == POLICY_ACT_SHRINK ? "shrink"
					      : e->kind == POLICY_ACT_GROW ? "grow" : "note"));
		if (e->kind) {
			JSET(o, "target_bytes", JU(e->target_bytes));
			JSET(o, "delta_bytes", json_integer(e->delta_bytes));
		}
		JSET(o, "dry_run", json_boolean(e->dry_run));
		JSET(o, "reason", json_string(e->reason));
		json_array_append_new(da, o);
	}
	return da;
}

json_t *daemon_snapshot(struct daemon *d)
{
	struct daemon_modules *m = d->mod;
	json_t *s = json_object();
	usec_t now = now_usec();
	JSET(s, "version", json_integer(STATS_SCHEMA_VERSION));
	JSET(s, "ksmd_version", json_string(KSMD_VERSION));
	JSET(s, "time", json_real((double)now_realtime_usec() / 1e6));
	JSET(s, "uptime_seconds", json_real((double)(now - d->started_usec) / 1e6));
	JSET(s, "tick", JU(d->ticks));
	JSET(s, "host", host_json(d));
	JSET(s, "ksm", ksm_json(d));
	JSET(s, "owners", daemon_owners_json(d));
	JSET(s, "scanner", scanner_json(d));
	json_t *ga = json_array();
	for (size_t i = 0; i < m->n; i++)
		json_array_append_new(ga, guest_json(d, m->g[i]));
	JSET(s, "guests", ga);
	if (m->lv)
		JSET(s, "libvirt", libvirt_json(d));
	JSET(s, "sharing", sharing_json(d));
	JSET(s, "policy", policy_json(d));
	JSET(s, "decisions", decisions_json(d, now));
	return s;
}
