/* tick.c — the tick's collect / decide / act (the guest registry is
 * registry.c, the modules' start and stop modules.c, the snapshot
 * snapshot.c).
 *
 * Each tick:
 *   collect  host memory, swap rates and PSI (collect_host), the
 *            scanner's last results, every guest's balloon state and stats,
 *            and its process's sample (collect/sample.h: VmRSS, VmSwap,
 *            ksm_stat, read once here and nowhere else in the tick);
 *   decide   KSM pacing (ksm_pace, from the scanner's prediction and what
 *            KSM has merged) and balloon targets (policy_decide);
 *   act      unless dry-run: KSM knobs to sysfs, targets to the balloons;
 *            the operator's balloon sizes the state file carried over a
 *            restart, once their balloon is ready (dry run or not); the
 *            working-set clears collect found due (act/wss_reset.h);
 *   record   the plan's reasons in the decision ring.
 * Collect only reads; everything the tick changes is in act.
 * Balloon backends are non-blocking state machines: their fds live in the
 * daemon's epoll loop, a 100 ms timer (modules.c) drives their timeouts and
 * reconnects. */
#include "daemon/guests.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "act/wss_reset.h"
#include "common/log.h"
#include "daemon/virtloop.h"

/* The host-side working set, collect: set up a tracker for the guest's
 * current pid and RAM range, then read its sample when one is due (the
 * clear is wss_act's, in the act stage). */
static void wss_collect(struct daemon *d, struct guest *g, usec_t now)
{
	if (!d->cfg.policy.host_wss || g->pid <= 0 || (g->b && g->info.state != BALLOON_READY))
		return;
	/* only the process found as the guest: never one that got its pid */
	if (g->files.pid != g->pid || proc_files_check(&g->files) < 0)
		return;
	if (!g->wss_on || g->wss_pid != g->pid || g->wss_found != g->found_seq) {
		uint64_t start = 0, end = 0;
		if ((g->conf.qmp[0] || g->conf.libvirt) &&
		    (wss_qemu_ram_range(g->pid, g->info.limits.max_bytes, &start, &end) < 0 ||
		     proc_files_check(&g->files) < 0))
			return; /* RAM not mapped yet (booting): try again next tick */
		wss_tracker_init(&g->wss, g->pid, &g->files, start, end, d->cfg.policy.host_wss_interval_usec);
		fpr_meter_reset(&g->fpr);
		g->wss_on = true;
		g->wss_pid = g->pid;
		g->wss_found = g->found_seq;
		g->wss_warned = false;
	}
	wss_tracker_set_interval(&g->wss, d->cfg.policy.host_wss_interval_usec);
	wss_tracker_set_period(&g->wss, d->mod->wss_period_usec);
	usec_t scanned = 0;  /* the scanner's reads mark pages accessed too */
	if (d->mod->scanner && g->in_scanner)
		(void)scanner_guest_last_read(d->mod->scanner, g->conf.name, &scanned);
	int r = wss_tracker_collect(&g->wss, now, scanned);
	if (r < 0 && !g->wss_warned && g->alive) {
		log_warn("guest %s: host-side working set: %s, ignoring", g->conf.name, strerror(-r));
		g->wss_warned = true;
	} else if (r > 0) {
		g->wss_warned = false;
		/* each new resident size: what free page reporting gave back since */
		if (g->b && (g->info.caps & BALLOON_CAP_FREE_PAGE_REPORTING))
			fpr_meter_sample(&g->fpr, g->wss.ram_resident_bytes, g->info.actual_bytes,
					 g->sample.swap_bytes);
	}
}

/* The period of every guest's working-set cycle this tick: the configured
 * interval, or longer when the last cycles of the guests that run one
 * (alive, sampled) would take more than policy.host_wss_cpu_percent of a
 * core at it. */
static void wss_bound(struct daemon *d)
{
	usec_t sum = 0;
	for (size_t i = 0; i < d->mod->n; i++) {
		const struct guest *g = d->mod->g[i];
		if (g->wss_on && g->alive && g->wss_pid == g->pid)
			sum += wss_tracker_cycle_cpu(&g->wss);
	}
	d->mod->wss_cycle_cpu_usec = sum;
	d->mod->wss_period_usec = wss_bounded_period(d->cfg.policy.host_wss_interval_usec, sum,
						     d->cfg.policy.host_wss_cpu_percent);
}

/* The host-side working set, act: clear the accessed bits of the guests
 * whose collect stage asked for it (dry run or not: the clear is how the
 * signal is measured, not a decision). */
static void wss_act(struct daemon *d, usec_t now)
{
	for (size_t i = 0; i < d->mod->n; i++) {
		struct guest *g = d->mod->g[i];
		if (!g->wss_on)
			continue;
		int r = wss_tracker_reset(&g->wss, now);
		if (r < 0 && !g->wss_warned && g->alive) {
			log_warn("guest %s: host-side working set: %s, ignoring", g->conf.name, strerror(-r));
			g->wss_warned = true;
		}
	}
}

static void guest_collect(struct daemon *d, struct guest *g, usec_t now)
{
	if (g->b) {
		balloon_get_info(g->b, &g->info);
		const struct balloon_stats *s = &g->info.stats;
		if (s->updated_usec && s->updated_usec != g->rate_sample_usec) {
			uint64_t maj = s->value[BALLOON_STAT_MAJOR_FAULTS];
			uint64_t sin = s->value[BALLOON_STAT_SWAP_IN], sout = s->value[BALLOON_STAT_SWAP_OUT];
			if (g->rate_sample_usec && s->updated_usec > g->rate_sample_usec) {
				double dt = (double)(s->updated_usec - g->rate_sample_usec) / USEC_PER_SEC;
				g->major_per_sec = maj >= g->prev_major ? (double)(maj - g->prev_major) / dt : 0;
				g->swap_in_per_sec =
					sin >= g->prev_swap_in ? (double)(sin - g->prev_swap_in) / 4096 / dt : 0;
				g->swap_out_per_sec =
					sout >= g->prev_swap_out ? (double)(sout - g->prev_swap_out) / 4096 / dt : 0;
			}
			g->prev_major = maj;
			g->prev_swap_in = sin;
			g->prev_swap_out = sout;
			g->rate_sample_usec = s->updated_usec;
		}
	}
	scanner_sync(d, g);
	wss_collect(d, g, now);
	bool was_alive = g->alive;
	/* the tick's one reading of the process found: status, ksm_stat; it
	 * fails once that process has exited, whoever has its pid now */
	int sr = proc_sample_read(&g->files, &g->sample);
	g->alive = g->pid > 0 && g->files.pid == g->pid && sr == 0;
	if (g->b && g->info.state == BALLOON_GONE)
		g->alive = false;
	if (was_alive && !g->alive)
		log_warn("guest %s: its process (pid %d) is gone; %s", g->conf.name, (int)g->pid,
			 g->b || g->conf.libvirt ? "ksmd keeps watching for a new one"
						 : "another process that gets its pid is never taken for it");
	if (!g->alive && g->in_scanner && d->mod->scanner) {
		scanner_remove_guest(d->mod->scanner, g->conf.name);
		g->in_scanner = false;
	}
	g->ksm_valid = g->alive && g->sample.ksm_valid;
	if (g->in_scanner && g->sample.valid)
		(void)scanner_guest_set_resident(d->mod->scanner, g->conf.name, g->sample.resident_pages);
	const struct ksm_proc_stat *ks = &g->sample.ksm;
	bool mergeable = !g->ksm_valid || ks->mergeable != 0 || ks->merge_any == 1;
	if (mergeable) {
		g->ksm_fix[0] = 0;
	} else if (!g->ksm_fix[0]) { /* found once, logged once, shown in every snapshot */
		bool mg = true;
		if (ksm_proc_check_mergeable(g->pid, ks, &mg, g->ksm_fix, sizeof g->ksm_fix) == 0 && !mg &&
		    proc_files_check(&g->files) == 0) /* its comm and cgroup were the guest's */
			log_warn("guest %s: its memory is not mergeable, KSM cannot merge it: %s",
				 g->conf.name, g->ksm_fix);
		else
			g->ksm_fix[0] = 0;
		if (g->conf.libvirt && g->lvd.nosharepages)
			snprintf(g->ksm_fix, sizeof g->ksm_fix,
				 "remove <nosharepages/> from the domain's <memoryBacking> (virsh edit %s) and "
				 "restart the domain", g->conf.name);
	}
	(void)now;
}

/* What KSM merged for our guests, or -1 when unknown. The global
 * pages_sharing counts other KSM users too; the guests' ksm_merging_pages
 * count each KSM page's first mapping as well. Neither is below our share:
 * take the smaller. */
int64_t guests_merged_pages(const struct daemon *d)
{
	const struct daemon_modules *m = d->mod;
	int64_t global = d->ksm_now.cnt.pages_sharing;
	uint64_t ours = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (m->g[i]->ksm_valid && m->g[i]->sample.ksm.merging_pages >= 0)
			ours += (uint64_t)m->g[i]->sample.ksm.merging_pages;
		else if (m->g[i]->alive)
			return global; /* a guest we cannot read: the global count is all we have */
	}
	if (global < 0 || ours < (uint64_t)global)
		return (int64_t)ours;
	return global;
}

static void ksm_drive(struct daemon *d, usec_t now)
{
	struct daemon_modules *m = d->mod;
	if (!d->ksm_driving || !daemon_ksm_wanted(d) || !m->scanner || m->n == 0)
		return;
	/* Before the scanner's first pass, KSM starts within its CPU budget. */
	uint64_t predicted = m->sres_valid && m->sres.passes > 0 ? m->sres.predicted_sharing_pages
								 : KSM_PREDICTION_PENDING;
	d->ksm.cfg.min_savings_pages = d->cfg.ksm_min_savings_bytes / 4096;
	d->ksm.cfg.cpu_budget_percent = d->cfg.ksm_cpu_percent;
	d->ksm.dry_run = d->cfg.policy.dry_run;
	enum ksm_pace_urgency urgency = !m->plan_valid ? KSM_URGENCY_NORMAL
		: m->plan.merge_urgency == POLICY_MERGE_URGENT ? KSM_URGENCY_URGENT
		: m->plan.merge_urgency == POLICY_MERGE_IDLE ? KSM_URGENCY_IDLE
		: KSM_URGENCY_NORMAL;
	int r = ksm_driver_tick(&d->ksm, predicted, m->merged_pages, urgency, now);
	if (r < 0) {
		log_warn("KSM: pacing failed: %s, ignoring", strerror(-r));
		return;
	}
	d->ksm_now = d->ksm.sysfs;
	if (r == 0)
		return;
	const struct ksm_knobs *k = &d->ksm.last.next;
	struct policy_ring_entry e;
	memset(&e, 0, sizeof e);
	e.when_usec = now;
	e.dry_run = d->ksm.dry_run;
	snprintf(e.guest, sizeof e.guest, "ksm");
	snprintf(e.reason, sizeof e.reason, "run=%u pages_to_scan=%u sleep_millisecs=%u: %s", k->run,
		 k->pages_to_scan, k->sleep_millisecs, d->ksm.last.reason);
	policy_ring_push(&m->ring, &e);
}

/* Whether ksmd drives g's balloon now: `balloon = no` never, `force`
 * always, `yes` unless another balloon manager runs on the host (then
 * who names it). */
bool balloon_driven(const struct daemon *d, const struct guest *g, char *who, size_t len)
{
	who[0] = 0;
	if (!strcmp(g->conf.balloon, "no")) {
		snprintf(who, len, "nobody (balloon = no)");
		return false;
	}
	if (!strcmp(g->conf.balloon, "force") || !managers_balloon_owner(&d->managers, who, len)) {
		snprintf(who, len, "ksmd");
		return true;
	}
	return false;
}

/* decide, one guest's input: its policy_guest from what collect read. */
static void policy_guest_view(struct daemon *d, struct guest *g, struct policy_guest *pg, usec_t now)
{
	const struct balloon_stats *s = &g->info.stats;
	snprintf(pg->name, sizeof pg->name, "%s", g->conf.name);
	pg->id = g->id;
	char who[128];
	bool driven = balloon_driven(d, g, who, sizeof who);
	if (!driven && !strcmp(g->conf.balloon, "yes") && !g->balloon_yielded)
		log_warn("guest %s: its balloon is driven by %s: ksmd leaves it alone (balloon = force in "
			 "its [guest] section takes it)", g->conf.name, who);
	else if (driven && g->balloon_yielded)
		log_info("guest %s: no other balloon manager now: ksmd drives its balloon again", g->conf.name);
	g->balloon_yielded = !driven && !strcmp(g->conf.balloon, "yes");
	pg->has_balloon = !g->override && driven;
	pg->stuck = g->info.progress.stuck;
	pg->min_bytes = g->info.limits.min_bytes;
	pg->max_bytes = g->info.limits.max_bytes;
	pg->shares = g->conf.shares;
	pg->balloon_actual_bytes = g->info.actual_bytes;
	pg->balloon_target_bytes = g->info.target_bytes ? g->info.target_bytes : g->info.actual_bytes;
	pg->max_step_bytes = g->info.limits.max_step_bytes;
	pg->stats_valid = (s->valid_mask & (1u << BALLOON_STAT_AVAILABLE)) != 0;
	pg->stat_total_bytes = s->value[BALLOON_STAT_TOTAL];
	pg->stat_available_bytes = s->value[BALLOON_STAT_AVAILABLE];
	pg->stat_free_bytes = s->value[BALLOON_STAT_FREE];
	pg->stat_free_valid = (s->valid_mask & (1u << BALLOON_STAT_FREE)) != 0;
	pg->major_faults_per_sec = g->major_per_sec;
	pg->swap_in_pages_per_sec = g->swap_in_per_sec;
	pg->swap_out_pages_per_sec = g->swap_out_per_sec;
	pg->stats_age_usec = s->updated_usec && now > s->updated_usec ? now - s->updated_usec
				: s->updated_usec ? 0 : 3600 * USEC_PER_SEC;
	pg->rss_bytes = g->sample.rss_bytes;
	pg->swap_bytes = g->sample.swap_bytes;
	pg->free_page_reporting = (g->info.caps & BALLOON_CAP_FREE_PAGE_REPORTING) != 0;
	pg->ksm_merging_pages = g->ksm_valid && g->sample.ksm.merging_pages > 0
					? (uint64_t)g->sample.ksm.merging_pages : 0;
	if (g->wss_on && d->cfg.policy.host_wss)
		wss_tracker_fill(&g->wss, now, pg);
}

/* act, the balloons: send the plan's targets (a dry run logs them). idx
 * maps the plan's guest indexes to the registry's. */
static void balloon_act(struct daemon *d, const size_t *idx, usec_t now)
{
	struct daemon_modules *m = d->mod;
	for (size_t a = 0; a < m->plan.n_actions; a++) {
		const struct policy_action *act = &m->plan.actions[a];
		struct guest *g = m->g[idx[act->guest_index]];
		if (m->plan.dry_run) {
			log_info("dry run: would set %s to %" PRIu64 " MiB: %s", g->conf.name,
				 act->target_bytes / MIB, act->reason);
			continue;
		}
		uint64_t sent = 0;
		int r = balloon_set_target(g->b, act->target_bytes, now, &sent);
		if (r == -ECANCELED)
			log_info("guest %s: target %" PRIu64 " MiB not sent: its size was just changed outside ksmd",
				 g->conf.name, act->target_bytes / MIB);
		else if (r < 0)
			log_warn("guest %s: balloon target %" PRIu64 " MiB: %s, ignoring", g->conf.name,
				 act->target_bytes / MIB, strerror(-r));
		else
			log_info("guest %s: target %" PRIu64 " MiB: %s", g->conf.name, sent / MIB, act->reason);
		guest_sync_fd(d, g);
	}
}

/* act, the operator's saved balloon sizes: a size the state file carried
 * over a restart (registry.c) is sent once the guest's balloon is ready,
 * as collect saw it this tick, so it reaches the balloon in this tick's
 * act stage. The policy has left the guest alone meanwhile (an override
 * is the operator's); if the send fails, the override is dropped and the
 * policy takes the guest from the next tick on. Sent in a dry run too: it
 * is the operator's command, not a decision. */
static void override_act(struct daemon *d, usec_t now)
{
	for (size_t i = 0; i < d->mod->n; i++) {
		struct guest *g = d->mod->g[i];
		if (!g->b || !g->override_pending || g->info.state != BALLOON_READY)
			continue;
		char err[256] = "";
		g->override_pending = false;
		if (balloon_override(g->b, g->override_bytes, now, err, sizeof err) < 0) {
			log_warn("guest %s: carrying over the operator's balloon size failed: %s", g->conf.name, err);
			g->override = false;
		} else {
			log_info("guest %s: carrying over the operator's balloon size, %" PRIu64 " MiB", g->conf.name,
				 g->override_bytes / MIB);
		}
		guest_sync_fd(d, g);
	}
}

/* decide the balloon targets (policy_decide, from a snapshot of what
 * collect read), record the plan, then act on it. */
static void policy_run(struct daemon *d, usec_t now)
{
	struct daemon_modules *m = d->mod;
	static struct policy_snapshot snap;
	memset(&snap, 0, sizeof snap);
	snap.now_usec = now;
	snap.conf = d->cfg.policy;
	snap.conf.tick_usec = d->cfg.tick_usec;
	snap.host = m->host;
	if (m->sres_valid) {
		snap.merge.available = true;
		snap.merge.potential_pages = m->sres.predicted_sharing_pages;
		snap.merge.min_savings_bytes = d->cfg.ksm_min_savings_bytes; /* one threshold with the executor */
	}
	int64_t merged = m->merged_pages;
	snap.merge.merged_pages = merged > 0 ? (uint64_t)merged : 0;
	snap.merge.ksmd_cpu_percent = d->ksm_driving ? d->ksm.kthread_cpu_percent : -1;
	size_t idx[POLICY_MAX_GUESTS];
	for (size_t i = 0; i < m->n && snap.n_guests < POLICY_MAX_GUESTS; i++) {
		struct guest *g = m->g[i];
		if (!g->b || g->info.state != BALLOON_READY || !g->alive)
			continue;
		policy_guest_view(d, g, &snap.guests[snap.n_guests], now);
		idx[snap.n_guests++] = i;
	}
	policy_decide(&snap, &m->pstate, &m->plan);
	m->plan_valid = true;
	m->plan.dry_run |= d->cfg.policy.dry_run;
	policy_ring_push_plan(&m->ring, &m->plan);
	balloon_act(d, idx, now);
}

/* policy.budget = cgroup:PATH: find the cgroup when the key changes, read
 * its limit, usage and swap every tick. A failure is logged once per
 * change of outcome; the policy then falls back to MemTotal - reserve. */
static void budget_cgroup_collect(struct daemon *d)
{
	struct daemon_modules *m = d->mod;
	const char *spec = d->cfg.policy.budget_cgroup;
	m->host.cg_valid = false;
	if (!spec[0]) {
		m->cg_spec[0] = 0;
		return;
	}
	int r = 0;
	if (strcmp(spec, m->cg_spec)) {
		snprintf(m->cg_spec, sizeof m->cg_spec, "%s", spec);
		m->cg_dir[0] = 0;
		m->cg_err = 0;
	}
	if (!m->cg_dir[0])
		r = collect_cgroup_resolve(spec, m->cg_dir, sizeof m->cg_dir);
	if (r == 0)
		r = collect_cgroup(m->cg_dir, &m->host);
	if (r < 0) {
		m->cg_dir[0] = 0; /* find it again: it may be created later */
		if (r != m->cg_err)
			log_warn("policy.budget = cgroup:%s: %s; the budget is MemTotal - reserve until it can be "
				 "read", spec, strerror(-r));
	} else if (m->cg_err || !m->host_prev.cg_valid ||
		   m->host_prev.cg_limit_bytes != m->host.cg_limit_bytes) {
		char lim[32];
		format_size(m->host.cg_limit_bytes, lim, sizeof lim);
		log_info("policy.budget = cgroup:%s (%s): %s", spec, m->cg_dir,
			 m->host.cg_limited ? lim : "no limit; the budget is MemTotal - reserve");
	}
	m->cg_err = r < 0 ? r : 0;
}

/* collect, the scanner: its last results (threads publish them). */
static void scanner_collect(struct daemon *d)
{
	struct daemon_modules *m = d->mod;
	struct scanner_results r;
	if (!m->scanner || scanner_get_results(m->scanner, &r) < 0)
		return;
	if (m->sres_valid)
		scanner_results_free(&m->sres);
	m->sres = r;
	m->sres_valid = true;
	if (r.passes > m->passes_counted) {
		if (r.vm_readv_changed)
			log_warn("scanner: %" PRIu64 " pages changed while read with process_vm_readv in the "
				 "last pass (a merge may have been undone; scanner.vm_readv = no avoids it)",
				 r.vm_readv_changed);
		m->pages_scanned_total += r.pages_scanned;
		m->passes_counted = r.passes;
	}
}

/* The tick: collect, decide, act (publish is daemon/snapshot.c's, after). */
void modules_tick(struct daemon *d)
{
	struct daemon_modules *m = d->mod;
	usec_t now = now_usec();
	m->last_tick_usec = now;

	/* collect */
	m->host_prev = m->host;
	if (collect_host(&m->host) == 0) {
		budget_cgroup_collect(d);
		if (m->host_valid)
			collect_host_rates(&m->host_prev, &m->host);
		m->host_valid = true;
	}
	scanner_collect(d);
	wss_bound(d);
	if (d->cfg.balloon_discover && d->ticks % 10 == 1)
		discover(d);
	for (size_t i = 0; i < m->n; i++)
		guest_collect(d, m->g[i], now);
	m->merged_pages = guests_merged_pages(d); /* once: the policy and the executor share it */
	/* decide and act: balloon targets, the operator's saved sizes, KSM's
	 * pacing, the working-set clears */
	if (d->cfg.policy_enabled && !d->policy_paused)
		policy_run(d, now);
	override_act(d, now);
	ksm_drive(d, now);
	wss_act(d, now);
}
