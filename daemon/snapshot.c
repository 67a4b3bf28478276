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
#include "ctl/fields.h"

/* JSET(o, HOST_MEM_TOTAL_BYTES, v): set the key of that row of ctl/fields.h */
#define JSET(o, id, v) json_object_set_new(o, snap_key(SF_##id), v)
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
	JSET(lv, GUEST_LV_UUID, json_string(g->lvd.uuid));
	JSET(lv, GUEST_LV_ID, json_integer(g->lvd.id));
	JSET(lv, GUEST_LV_BALLOON_DEVICE, json_boolean(g->lvd.has_balloon));
	JSET(lv, GUEST_LV_NOSHAREPAGES, json_boolean(g->lvd.nosharepages));
	JSET(lv, GUEST_LV_SETTINGS, json_string(config_guest(&d->cfg, g->conf.name) ? "section"
					 : g->lvd.meta_min_bytes || g->lvd.meta_max_bytes ||
							   g->lvd.meta_shares ? "metadata" : "defaults"));
	if (g->lvd.pid_error[0])
		JSET(lv, GUEST_LV_PID_ERROR, json_string(g->lvd.pid_error));
	if (g->lvd.meta_error[0])
		JSET(lv, GUEST_LV_METADATA_ERROR, json_string(g->lvd.meta_error));
	return lv;
}

/* A guest's balloon: limits, target, actual, override, its statistics. */
static void guest_balloon_json(const struct daemon *d, const struct guest *g, json_t *o, usec_t now)
{
	const struct balloon_info *in = &g->info;
	const struct balloon_stats *s = &in->stats;
	JSET(o, GUEST_MEM_MAX_BYTES, JU(in->limits.max_bytes));
	JSET(o, GUEST_MEM_MIN_BYTES, JU(in->limits.min_bytes));
	JSET(o, GUEST_BALLOON_TARGET_BYTES, JU(in->target_bytes));
	JSET(o, GUEST_BALLOON_ACTUAL_BYTES, JU(in->actual_bytes));
	JSET(o, GUEST_BALLOON_TARGETS_TOTAL, JU(in->targets_sent));
	JSET(o, GUEST_OVERRIDE_BYTES, JU(g->override ? g->override_bytes : 0));
	if (g->override)
		JSET(o, GUEST_OVERRIDE_BY, json_string(g->override_outside ? "outside" : "ksmdctl"));
	char who[128];
	balloon_driven(d, g, who, sizeof who);
	JSET(o, GUEST_BALLOON_DRIVER, json_string(who));
	JSET(o, GUEST_STATS_AGE_SECONDS, s->updated_usec ? json_real((double)(now - MIN(now, s->updated_usec)) / 1e6)
						    : json_null());
	if (s->valid_mask & (1u << BALLOON_STAT_AVAILABLE))
		JSET(o, GUEST_AVAILABLE_BYTES, JU(s->value[BALLOON_STAT_AVAILABLE]));
	if (s->valid_mask & (1u << BALLOON_STAT_FREE))
		JSET(o, GUEST_FREE_BYTES, JU(s->value[BALLOON_STAT_FREE]));
	if (s->valid_mask & (1u << BALLOON_STAT_MAJOR_FAULTS))
		JSET(o, GUEST_MAJOR_FAULTS, JU(s->value[BALLOON_STAT_MAJOR_FAULTS]));
	if (s->valid_mask & (1u << BALLOON_STAT_SWAP_IN))
		JSET(o, GUEST_SWAP_IN, JU(s->value[BALLOON_STAT_SWAP_IN]));
	if (s->valid_mask & (1u << BALLOON_STAT_SWAP_OUT))
		JSET(o, GUEST_SWAP_OUT, JU(s->value[BALLOON_STAT_SWAP_OUT]));
	JSET(o, GUEST_FREE_PAGE_REPORTING, json_boolean(in->caps & BALLOON_CAP_FREE_PAGE_REPORTING));
	JSET(o, GUEST_DEFLATE_ON_OOM, json_boolean(in->caps & BALLOON_CAP_DEFLATE_ON_OOM));
	JSET(o, GUEST_STUCK, json_boolean(in->progress.stuck));
	JSET(o, GUEST_UNCOOPERATIVE, json_boolean(in->progress.uncooperative));
	if (in->caps & BALLOON_CAP_FREE_PAGE_REPORTING)
		JSET(o, GUEST_FREE_PAGE_REPORTED_BYTES, JU(g->fpr.returned_bytes));
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
			JSET(sc, SCAN_PRESENT_PAGES, JU(sg->present_pages));
			/* guest memory the host does not back: never touched, or
			 * given back by free page reporting (as of the last pass) */
			if (g->b && g->info.actual_bytes)
				JSET(o, GUEST_UNBACKED_BYTES, JU(g->info.actual_bytes > sg->present_pages * 4096
							      ? g->info.actual_bytes - sg->present_pages * 4096 : 0));
			JSET(sc, SCAN_ZERO_PAGE_PAGES, JU(sg->zero_page_pages));
			JSET(sc, SCAN_ZERO_FILLED_PAGES, JU(sg->zero_filled_pages));
			JSET(sc, SCAN_MERGED_PAGES, JU(sg->ksm_merged_pages));
			JSET(sc, SCAN_UNIQUE_PAGES, JU(sg->unique_pages));
			JSET(sc, SCAN_DUPLICATE_PAGES, JU(sg->dup_intra_pages + sg->dup_cross_pages));
			JSET(sc, SCAN_DUPLICATE_CROSS_PAGES, JU(sg->dup_cross_pages));
			JSET(sc, SCAN_VOLATILE_PAGES, JU(sg->volatile_pages));
			JSET(sc, SCAN_MERGEABLE_PAGES, JU(sg->mergeable_pages));
			JSET(sc, SCAN_REGIONS, JU(sg->regions));
			JSET(sc, SCAN_REGION_PAGES, JU(sg->region_pages));
			JSET(sc, SCAN_SWAPPED_PAGES, JU(sg->swapped_pages));
			JSET(sc, SCAN_UNREAD_PAGES, JU(sg->unread_pages));
			if (sg->last_error)
				JSET(sc, SCAN_ERROR, json_string(strerror(-sg->last_error)));
			JSET(sc, SCAN_OLDEST_UNSCANNED_SECONDS, json_real((double)sg->oldest_unscanned_usec / 1e6));
			JSET(o, GUEST_SCAN, sc);
		}
	}
}

static json_t *guest_json(const struct daemon *d, const struct guest *g)
{
	json_t *o = json_object();
	usec_t now = now_usec();
	JSET(o, GUEST_NAME, json_string(g->conf.name));
	JSET(o, GUEST_PID, JU(g->pid));
	JSET(o, GUEST_BACKEND, json_string(g->conf.libvirt ? "libvirt" : g->conf.qmp[0] ? "qmp"
				       : g->conf.cgroup[0] ? "cgroup" : "pid"));
	JSET(o, GUEST_STATE, json_string(guest_state(d, g)));
	if (g->b && g->info.reason[0])
		JSET(o, GUEST_REASON, json_string(g->info.reason));
	JSET(o, GUEST_DISCOVERED, json_boolean(g->discovered));
	if (g->conf.libvirt)
		JSET(o, GUEST_LIBVIRT, guest_libvirt_json(d, g));
	if (g->conf.qmp[0])
		JSET(o, GUEST_QMP_MODE, json_string(g->conf.qmp_mode[0] ? g->conf.qmp_mode : "own"));
	JSET(o, GUEST_SHARES, JU(g->conf.shares));
	if (g->b)
		guest_balloon_json(d, g, o, now);
	JSET(o, GUEST_RSS_BYTES, JU(g->sample.rss_bytes));
	JSET(o, GUEST_SWAP_BYTES, JU(g->sample.swap_bytes));
	if (g->wss_on && d->cfg.policy.host_wss) {
		struct policy_guest pg;
		memset(&pg, 0, sizeof pg);
		wss_tracker_fill(&g->wss, now, &pg);
		if (pg.host_active_valid) {
			JSET(o, GUEST_HOST_ACTIVE_BYTES, JU(pg.host_active_bytes));
			JSET(o, GUEST_HOST_ACTIVE_AGE_SECONDS, json_real((double)pg.host_active_age_usec / 1e6));
		}
		JSET(o, GUEST_HOST_ACTIVE_PERIOD_SECONDS, json_real((double)pg.host_active_period_usec / 1e6));
		JSET(o, GUEST_HOST_WSS_CPU_SECONDS, json_real((double)wss_tracker_cycle_cpu(&g->wss) / 1e6));
	}
	if (g->ksm_valid) {
		const struct ksm_proc_stat *ks = &g->sample.ksm;
		JSET(o, GUEST_KSM_MERGEABLE, json_boolean(ks->mergeable == 1 || ks->merge_any == 1));
		JSET(o, GUEST_KSM_MERGING_PAGES, JU(ks->merging_pages));
		JSET(o, GUEST_KSM_ZERO_PAGES, JU(ks->zero_pages));
		if (g->ksm_fix[0])
			JSET(o, GUEST_KSM_FIX, json_string(g->ksm_fix));
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
		guests_total += m->g[i]->b ? m->g[i]->info.actual_bytes : m->g[i]->sample.rss_bytes;
	json_t *h = json_object();
	if (m->host_valid) {
		JSET(h, HOST_MEM_TOTAL_BYTES, JU(m->host.mem_total_bytes));
		JSET(h, HOST_MEM_AVAILABLE_BYTES, JU(m->host.mem_available_bytes));
		JSET(h, HOST_SWAP_IN_PAGES_PER_SEC, json_real(m->host.swap_in_pages_per_sec));
		JSET(h, HOST_SWAP_OUT_PAGES_PER_SEC, json_real(m->host.swap_out_pages_per_sec));
		JSET(h, HOST_SWAP_IN_PAGES_TOTAL, JU(m->host.pswpin_pages));
		JSET(h, HOST_SWAP_OUT_PAGES_TOTAL, JU(m->host.pswpout_pages));
		if (m->host.psi_available) {
			JSET(h, HOST_PSI_SOME_AVG10, json_real(m->host.psi_some_avg10_percent));
			JSET(h, HOST_PSI_FULL_AVG10, json_real(m->host.psi_full_avg10_percent));
		}
		struct policy_snapshot tmp;
		tmp.conf = d->cfg.policy;
		tmp.host = m->host;
		JSET(h, HOST_BUDGET_BYTES, JU(policy_budget_bytes(&tmp)));
		if (d->cfg.policy.budget_cgroup[0]) {
			json_t *cg = json_object();
			JSET(cg, CGROUP_PATH, json_string(d->cfg.policy.budget_cgroup));
			JSET(cg, CGROUP_READABLE, json_boolean(m->host.cg_valid));
			if (m->host.cg_valid) {
				JSET(cg, CGROUP_LIMIT_BYTES,
				     m->host.cg_limited ? JU(m->host.cg_limit_bytes) : json_null());
				JSET(cg, CGROUP_USAGE_BYTES, JU(m->host.cg_usage_bytes));
				JSET(cg, CGROUP_SWAP_BYTES, JU(m->host.cg_swap_bytes));
				JSET(cg, CGROUP_SWAP_OUT_BYTES_PER_SEC, json_real(m->host.cg_swap_out_bytes_per_sec));
				JSET(cg, CGROUP_SWAP_OUT_BYTES_TOTAL, JU(m->host.cg_swap_out_bytes_total));
			}
			JSET(h, HOST_CGROUP, cg);
		}
	}
	JSET(h, HOST_GUESTS_TOTAL_BYTES, JU(guests_total));
	return h;
}

/* ksm: the kernel's knobs and counters, ksmd's pacing */
static json_t *ksm_json(const struct daemon *d)
{
	json_t *k = json_object();
	JSET(k, KSM_AVAILABLE, json_boolean(d->ksm_available));
	JSET(k, KSM_MANAGED, json_boolean(d->ksm_driving && daemon_ksm_wanted(d)));
	JSET(k, KSM_RUN, JU(d->ksm_now.set.run));
	JSET(k, KSM_PAGES_TO_SCAN, JU(d->ksm_now.set.pages_to_scan));
	JSET(k, KSM_SLEEP_MILLISECS, JU(d->ksm_now.set.sleep_millisecs));
	JSET(k, KSM_PAGES_SHARED, JU(d->ksm_now.cnt.pages_shared));
	JSET(k, KSM_PAGES_SHARING, JU(d->ksm_now.cnt.pages_sharing));
	JSET(k, KSM_PAGES_UNSHARED, JU(d->ksm_now.cnt.pages_unshared));
	JSET(k, KSM_PAGES_VOLATILE, JU(d->ksm_now.cnt.pages_volatile));
	JSET(k, KSM_FULL_SCANS, JU(d->ksm_now.cnt.full_scans));
	JSET(k, KSM_KSM_ZERO_PAGES, JU(d->ksm_now.cnt.ksm_zero_pages));
	JSET(k, KSM_GENERAL_PROFIT, JU(d->ksm_now.cnt.general_profit));
	JSET(k, KSM_PAGES_SCANNED, JU(d->ksm_now.cnt.pages_scanned));
	if (d->ksm_now.cnt.pages_skipped >= 0) /* no smart_scan before kernel 6.7 */
		JSET(k, KSM_PAGES_SKIPPED, JU(d->ksm_now.cnt.pages_skipped));
	if (d->ksm_driving) {
		if (d->ksm.kthread_cpu_percent >= 0)
			JSET(k, KSM_KTHREAD_CPU_PERCENT, json_real(d->ksm.kthread_cpu_percent));
		JSET(k, KSM_PACING_PHASE, json_string(ksm_pace_phase_name(d->ksm.state.phase)));
		JSET(k, KSM_PACING_REASON, json_string(d->ksm.last.reason));
	}
	return k;
}

/* scanner: its limits and its last pass */
static json_t *scanner_json(const struct daemon *d)
{
	const struct daemon_modules *m = d->mod;
	json_t *sc = json_object();
	JSET(sc, SCANNER_STATE, json_string(!m->scanner ? "disabled" : d->scanner_paused ? "paused" : "running"));
	JSET(sc, SCANNER_THREADS, JU(d->cfg.scanner_threads));
	JSET(sc, SCANNER_PAGES_PER_SEC_LIMIT, JU(d->cfg.scanner_pages_per_sec));
	JSET(sc, SCANNER_CPU_PERCENT_LIMIT, json_real(d->cfg.scanner_cpu_percent));
	if (m->sres_valid) {
		const struct scanner_results *r = &m->sres;
		uint64_t dups = 0, vol = 0;
		for (unsigned i = 0; i < r->n_guests; i++) {
			dups += r->guests[i].dup_intra_pages + r->guests[i].dup_cross_pages;
			vol += r->guests[i].volatile_pages;
		}
		JSET(sc, SCANNER_PASSES, JU(r->passes));
		JSET(sc, SCANNER_LAST_PASS_SECONDS, json_real((double)r->last_pass_usec / 1e6));
		JSET(sc, SCANNER_LAST_PASS_CPU_SECONDS, json_real(r->last_pass_cpu_sec));
		JSET(sc, SCANNER_PAGES_SCANNED, JU(r->pages_scanned));
		JSET(sc, SCANNER_PAGES_SCANNED_TOTAL, JU(m->pages_scanned_total));
		JSET(sc, SCANNER_PAGES_SKIPPED, JU(r->pages_skipped));
		JSET(sc, SCANNER_PAGES_SCANNED_PER_SEC, json_real(r->pages_scanned_per_sec));
		JSET(sc, SCANNER_PREDICTED_MERGEABLE_PAGES, JU(r->predicted_sharing_pages));
		JSET(sc, SCANNER_UNMERGED_DUPLICATE_PAGES, JU(r->dup_saveable_pages));
		JSET(sc, SCANNER_ZERO_FILLED_PAGES, JU(r->zero_filled_pages));
		JSET(sc, SCANNER_DUPLICATE_PAGES, JU(dups));
		JSET(sc, SCANNER_VOLATILE_PAGES, JU(vol));
		JSET(sc, SCANNER_HASH_COLLISIONS, JU(r->hash_collisions));
		JSET(sc, SCANNER_TRACKED_PAGES, JU(r->tracked_pages));
		JSET(sc, SCANNER_BYTES_PER_TRACKED_PAGE, json_real(r->bytes_per_tracked_page));
		JSET(sc, SCANNER_INCREMENTAL, json_boolean(r->incremental));
		JSET(sc, SCANNER_PAGES_VM_READV, JU(r->pages_vm_readv));
		JSET(sc, SCANNER_VM_READV_CHANGED, JU(r->vm_readv_changed));
		JSET(sc, SCANNER_KSM_PAGES_READ, JU(r->ksm_pages_read));
		JSET(sc, SCANNER_KSM_PAGES_KNOWN, JU(r->ksm_pages_known));
		JSET(sc, SCANNER_BACKOFF_PAGES, JU(r->pages_backoff));
		JSET(sc, SCANNER_PAGES_BEYOND_INDEX_LIMIT, JU(r->pages_beyond_index_limit));
		JSET(sc, SCANNER_QUIET_PASSES, JU(r->quiet_passes));
		JSET(sc, SCANNER_NEXT_PAUSE_SECONDS, json_real((double)r->next_pause_usec / 1e6));
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
	JSET(lv, LIBVIRT_URI, json_string(d->cfg.libvirt_uri));
	JSET(lv, LIBVIRT_CONNECTED, json_boolean(lv_conn_is_up(m->lv)));
	JSET(lv, LIBVIRT_ERROR, lv_conn_error(m->lv)[0] ? json_string(lv_conn_error(m->lv)) : json_null());
	JSET(lv, LIBVIRT_DOMAINS, JU(n));
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
			JSET(o, PAIR_A, json_string(m->sres.guests[p->a].name));
			JSET(o, PAIR_B, json_string(m->sres.guests[p->b].name));
			JSET(o, PAIR_PAGES, JU(p->shared_pages));
			json_array_append_new(sh, o);
		}
	return sh;
}

/* policy: its state and the last plan's summary */
static json_t *policy_json(const struct daemon *d)
{
	const struct daemon_modules *m = d->mod;
	json_t *po = json_object();
	JSET(po, POLICY_STATE, json_string(!d->cfg.policy_enabled ? "disabled"
					   : d->policy_paused ? "paused" : "running"));
	JSET(po, POLICY_DRY_RUN, json_boolean(d->cfg.policy.dry_run));
	JSET(po, POLICY_TICK, JU(m->pstate.ticks));
	if (m->plan_valid) {
		JSET(po, POLICY_HOST_LEVEL, json_string(policy_host_level_name(m->plan.host_level)));
		JSET(po, POLICY_MERGE_URGENCY, json_string(policy_merge_urgency_name(m->plan.merge_urgency)));
		JSET(po, POLICY_GUEST_USED_BYTES, JU(m->plan.guest_used_bytes));
		JSET(po, POLICY_GUEST_SWAP_BYTES, JU(m->plan.guest_swap_bytes));
		JSET(po, POLICY_RECLAIM_WANTED_BYTES, json_integer(m->plan.reclaim_wanted_bytes));
		JSET(po, POLICY_HOST_REASON, json_string(m->plan.host_reason));
		JSET(po, POLICY_MERGE_REASON, json_string(m->plan.merge_reason));
	}
	json_t *dt = json_object();
	JSET(dt, POLICY_DECISIONS_SHRINK, JU(m->ring.by_kind[POLICY_ACT_SHRINK]));
	JSET(dt, POLICY_DECISIONS_GROW, JU(m->ring.by_kind[POLICY_ACT_GROW]));
	JSET(dt, POLICY_DECISIONS_NOTE, JU(m->ring.by_kind[0]));
	JSET(po, POLICY_DECISIONS_TOTAL, dt);
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
		JSET(o, DECISION_TIME, json_real((double)(rt - (now - MIN(now, e->when_usec))) / 1e6));
		JSET(o, DECISION_TARGET, json_string(e->guest[0] ? e->guest : "host"));
		JSET(o, DECISION_ACTION, json_string(e->kind == POLICY_ACT_SHRINK ? "shrink"
					      : e->kind == POLICY_ACT_GROW ? "grow" : "note"));
		if (e->kind) {
			JSET(o, DECISION_TARGET_BYTES, JU(e->target_bytes));
			JSET(o, DECISION_DELTA_BYTES, json_integer(e->delta_bytes));
		}
		JSET(o, DECISION_DRY_RUN, json_boolean(e->dry_run));
		JSET(o, DECISION_REASON, json_string(e->reason));
		json_array_append_new(da, o);
	}
	return da;
}

/* control_requests: the control socket's requests, by verb and result */
static json_t *control_requests_json(const struct daemon *d)
{
	json_t *a = json_array();
	for (size_t v = 0; v <= CTL_N_VERBS; v++)
		for (size_t res = 0; res < 2; res++) {
			if (!d->ctl_requests[v][res])
				continue;
			json_t *o = json_object();
			JSET(o, CONTROL_REQUEST_VERB, json_string(v < CTL_N_VERBS ? ctl_verbs[v].name : "unknown"));
			JSET(o, CONTROL_REQUEST_RESULT, json_string(res ? "error" : "ok"));
			JSET(o, CONTROL_REQUEST_COUNT, JU(d->ctl_requests[v][res]));
			json_array_append_new(a, o);
		}
	return a;
}

/* http_requests: the stats endpoint's requests, by path and status */
static json_t *http_requests_json(void)
{
	struct stats_http_count c[STATS_HTTP_COUNTS_MAX];
	size_t n = stats_http_requests(c, STATS_HTTP_COUNTS_MAX);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		char code[16];
		snprintf(code, sizeof code, "%u", c[i].code);
		json_t *o = json_object();
		JSET(o, HTTP_REQUEST_PATH, json_string(c[i].path));
		JSET(o, HTTP_REQUEST_CODE, json_string(code));
		JSET(o, HTTP_REQUEST_COUNT, JU(c[i].count));
		json_array_append_new(a, o);
	}
	return a;
}

/* http: the process serving the endpoint (daemon/http_sep.c) */
static json_t *http_json(struct daemon *d, usec_t now)
{
	struct http_sep_status st;
	http_sep_status(d->mod->http, now, &st);
	json_t *o = json_object();
	JSET(o, HTTP_LISTEN, json_string(d->cfg.stats_listen));
	JSET(o, HTTP_SERVING, json_boolean(st.serving));
	JSET(o, HTTP_PID, st.pid > 0 ? json_integer(st.pid) : json_null());
	JSET(o, HTTP_USER, st.user[0] ? json_string(st.user) : json_null());
	JSET(o, HTTP_UID, st.user[0] ? JU(st.uid) : json_null());
	JSET(o, HTTP_DOWN_SECONDS, json_real(st.down_seconds));
	JSET(o, HTTP_LOSSES_TOTAL, JU(st.losses));
	return o;
}

json_t *daemon_snapshot(struct daemon *d)
{
	struct daemon_modules *m = d->mod;
	json_t *s = json_object();
	usec_t now = now_usec();
	JSET(s, VERSION, json_integer(STATS_SCHEMA_VERSION));
	JSET(s, KSMD_VERSION, json_string(KSMD_VERSION));
	JSET(s, TIME, json_real((double)now_realtime_usec() / 1e6));
	JSET(s, UPTIME_SECONDS, json_real((double)(now - d->started_usec) / 1e6));
	JSET(s, TICK, JU(d->ticks));
	JSET(s, HOST, host_json(d));
	JSET(s, KSM, ksm_json(d));
	JSET(s, OWNERS, daemon_owners_json(d));
	JSET(s, SCANNER, scanner_json(d));
	json_t *ga = json_array();
	for (size_t i = 0; i < m->n; i++)
		json_array_append_new(ga, guest_json(d, m->g[i]));
	JSET(s, GUESTS, ga);
	if (m->lv)
		JSET(s, LIBVIRT, libvirt_json(d));
	JSET(s, SHARING, sharing_json(d));
	JSET(s, POLICY, policy_json(d));
	JSET(s, DECISIONS, decisions_json(d, now));
	JSET(s, CONTROL_REQUESTS, control_requests_json(d));
	JSET(s, HTTP_REQUESTS, http_requests_json());
	if (d->cfg.stats_enabled)
		JSET(s, HTTP, http_json(d, now));
	return s;
}
