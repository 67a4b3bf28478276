/* tick.c — the tick's collect / decide / act (the guest registry is
 * registry.c, the snapshot snapshot.c).
 *
 * Each tick:
 *   collect  host memory, swap rates and PSI (collect_host), the
 *            scanner's last results, every guest's balloon state and stats,
 *            its KSM counters (/proc/PID/ksm_stat) and host-side RSS;
 *   decide   KSM pacing (ksm_pace, from the scanner's prediction and what
 *            KSM has merged) and balloon targets (policy_decide);
 *   act      unless dry-run: KSM knobs to sysfs, targets to the balloons;
 *   record   the plan's reasons in the decision ring.
 * Balloon backends are non-blocking state machines: their fds live in the
 * daemon's epoll loop, a 100 ms timer drives their timeouts and reconnects. */
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
#include "daemon/virtloop.h"

static void fast_timer(struct loop *l, int fd, uint32_t events, void *data)
{
	struct daemon *d = data;
	uint64_t exp;
	(void)l;
	(void)events;
	if (read(fd, &exp, sizeof exp) < 0)
		return;
	usec_t now = now_usec();
	if (d->mod->lv)
		lv_conn_tick(d->mod->lv, now); /* may add and remove guests */
	for (size_t i = 0; i < d->mod->n; i++) {
		struct guest *g = d->mod->g[i];
		if (!g->b)
			continue;
		balloon_tick(g->b, now);
		guest_sync_fd(d, g);
	}
	if (d->mod->lv)
		virtloop_run_deferred();
}

/* The host-side working set: set up a tracker for the guest's current pid
 * and RAM range, then advance its clear/read cycle each tick. */
static void wss_collect(struct daemon *d, struct guest *g, usec_t now)
{
	if (!d->cfg.policy.host_wss || g->pid <= 0 || (g->b && g->info.state != BALLOON_READY))
		return;
	if (!g->wss_on || g->wss_pid != g->pid) {
		uint64_t start = 0, end = 0;
		if ((g->conf.qmp[0] || g->conf.libvirt) &&
		    wss_qemu_ram_range(g->pid, g->info.limits.max_bytes, &start, &end) < 0)
			return; /* RAM not mapped yet (booting): try again next tick */
		wss_tracker_init(&g->wss, g->pid, start, end, d->cfg.policy.host_wss_interval_usec);
		g->wss_on = true;
		g->wss_pid = g->pid;
		g->wss_warned = false;
	}
	wss_tracker_set_interval(&g->wss, d->cfg.policy.host_wss_interval_usec);
	usec_t scanned = 0;  /* the scanner's reads mark pages accessed too */
	if (d->mod->scanner && g->in_scanner)
		(void)scanner_guest_last_read(d->mod->scanner, g->conf.name, &scanned);
	int r = wss_tracker_tick(&g->wss, now, scanned);
	if (r < 0 && !g->wss_warned && g->alive) {
		log_warn("guest %s: host-side working set: %s, ignoring", g->conf.name, strerror(-r));
		g->wss_warned = true;
	} else if (r > 0) {
		g->wss_warned = false;
	}
}

/* "Key:   123 kB" of /proc/PID/status, in bytes (0 when missing). */
static uint64_t status_kb(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	unsigned long long kb;
	if (!p || sscanf(p + strlen(key), " %llu kB", &kb) != 1)
		return 0;
	return (uint64_t)kb * 1024;
}

/* What the guest's process costs the host: resident memory and memory the
 * host swapped out (VmRSS, VmSwap of /proc/PID/status). */
static void read_mem(struct guest *g)
{
	char path[64], *buf;
	g->rss_bytes = g->swap_bytes = 0;
	if (g->pid <= 0)
		return;
	snprintf(path, sizeof path, "/proc/%d/status", (int)g->pid);
	if (read_file(path, &buf, NULL) < 0)
		return;
	g->rss_bytes = status_kb(buf, "\nVmRSS:");
	g->swap_bytes = status_kb(buf, "\nVmSwap:");
	free(buf);
}

static void guest_collect(struct daemon *d, struct guest *g, usec_t now)
{
	if (g->b) {
		balloon_get_info(g->b, &g->info);
		if (g->override_pending && g->info.state == BALLOON_READY) {
			char err[256] = "";
			g->override_pending = false;
			if (balloon_override(g->b, g->override_bytes, now, err, sizeof err) < 0) {
				log_warn("guest %s: carrying over the operator's balloon size failed: %s", g->conf.name,
					 err);
				g->override = false;
			} else {
				log_info("guest %s: carrying over the operator's balloon size, %" PRIu64 " MiB",
					 g->conf.name, g->override_bytes / MIB);
			}
			guest_sync_fd(d, g);
		}
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
	/* EPERM: the process exists but belongs to another user (libvirt's
	 * QEMU runs as libvirt-qemu, and the unit has no CAP_KILL) */
	g->alive = g->pid > 0 && (kill(g->pid, 0) == 0 || errno == EPERM);
	if (g->b && g->info.state == BALLOON_GONE)
		g->alive = false;
	if (was_alive && !g->alive)
		log_warn("guest %s: its process is gone; ksmd keeps watching for it", g->conf.name);
	g->ksm_valid = g->alive && ksm_proc_stat(g->pid, &g->ksm) == 0;
	bool mergeable = !g->ksm_valid || g->ksm.mergeable != 0 || g->ksm.merge_any == 1;
	if (mergeable) {
		g->ksm_fix[0] = 0;
	} else if (!g->ksm_fix[0]) { /* found once, logged once, shown in every snapshot */
		bool mg = true;
		if (ksm_proc_check_mergeable(g->pid, &mg, g->ksm_fix, sizeof g->ksm_fix) == 0 && !mg)
			log_warn("guest %s: its memory is not mergeable, KSM cannot merge it: %s",
				 g->conf.name, g->ksm_fix);
		else
			g->ksm_fix[0] = 0;
		if (g->conf.libvirt && g->lvd.nosharepages)
			snprintf(g->ksm_fix, sizeof g->ksm_fix,
				 "remove <nosharepages/> from the domain's <memoryBacking> (virsh edit %s) and "
				 "restart the domain", g->conf.name);
	}
	read_mem(g);
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
		if (m->g[i]->ksm_valid && m->g[i]->ksm.merging_pages >= 0)
			ours += (uint64_t)m->g[i]->ksm.merging_pages;
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
		struct policy_guest *pg = &snap.guests[snap.n_guests];
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
		pg->stats_valid = (s->valid_mask & (1u << BALLOON_STAT_AVAILABLE)) != 0;
		pg->stat_total_bytes = s->value[BALLOON_STAT_TOTAL];
		pg->stat_available_bytes = s->value[BALLOON_STAT_AVAILABLE];
		pg->stat_free_bytes = s->value[BALLOON_STAT_FREE];
		pg->major_faults_per_sec = g->major_per_sec;
		pg->swap_in_pages_per_sec = g->swap_in_per_sec;
		pg->swap_out_pages_per_sec = g->swap_out_per_sec;
		pg->stats_age_usec = s->updated_usec && now > s->updated_usec ? now - s->updated_usec
					: s->updated_usec ? 0 : 3600 * USEC_PER_SEC;
		pg->rss_bytes = g->rss_bytes;
		pg->swap_bytes = g->swap_bytes;
		pg->free_page_reporting = (g->info.caps & BALLOON_CAP_FREE_PAGE_REPORTING) != 0;
		pg->ksm_merging_pages = g->ksm_valid && g->ksm.merging_pages > 0 ? (uint64_t)g->ksm.merging_pages : 0;
		if (g->wss_on && d->cfg.policy.host_wss)
			wss_tracker_fill(&g->wss, now, pg);
		idx[snap.n_guests++] = i;
	}
	policy_decide(&snap, &m->pstate, &m->plan);
	m->plan_valid = true;
	m->plan.dry_run |= d->cfg.policy.dry_run;
	policy_ring_push_plan(&m->ring, &m->plan);
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
		if (r < 0)
			log_warn("guest %s: balloon target %" PRIu64 " MiB: %s, ignoring", g->conf.name,
				 act->target_bytes / MIB, strerror(-r));
		else
			log_info("guest %s: target %" PRIu64 " MiB: %s", g->conf.name, sent / MIB, act->reason);
		guest_sync_fd(d, g);
	}
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

void modules_tick(struct daemon *d)
{
	struct daemon_modules *m = d->mod;
	usec_t now = now_usec();
	m->last_tick_usec = now;

	m->host_prev = m->host;
	if (collect_host(&m->host) == 0) {
		budget_cgroup_collect(d);
		if (m->host_valid)
			collect_host_rates(&m->host_prev, &m->host);
		m->host_valid = true;
	}
	if (m->scanner) {
		struct scanner_results r;
		if (scanner_get_results(m->scanner, &r) == 0) {
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
	}
	if (d->cfg.balloon_discover && d->ticks % 10 == 1)
		discover(d);
	for (size_t i = 0; i < m->n; i++)
		guest_collect(d, m->g[i], now);
	m->merged_pages = guests_merged_pages(d); /* once: the policy and the executor share it */
	if (d->cfg.policy_enabled && !d->policy_paused)
		policy_run(d, now);
	ksm_drive(d, now);
}

static void scanner_configure(struct daemon *d)
{
	struct scanner *s = d->mod->scanner;
	if (!s)
		return;
	scanner_set_pages_per_sec(s, d->cfg.scanner_pages_per_sec);
	scanner_set_cpu_percent(s, (unsigned)d->cfg.scanner_cpu_percent);
	scanner_set_pass_interval(s, d->cfg.scanner_pass_interval_usec);
}

void modules_apply_config(struct daemon *d)
{
	scanner_configure(d);
}

int modules_init(struct daemon *d)
{
	struct daemon_modules *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	d->mod = m;
	modules_daemon = d;
	m->fast_fd = -1;
	policy_state_init(&m->pstate);
	policy_ring_init(&m->ring);

	if (d->cfg.stats_enabled) {
		int r = stats_server_start(d->cfg.stats_listen, &m->http);
		if (r < 0) {
			log_err("stats: cannot listen on %s: %s", d->cfg.stats_listen, strerror(-r));
			return r;
		}
		log_info("stats: serving http on %s", d->cfg.stats_listen);
	}
	if (d->cfg.scanner_enabled) {
		struct scanner_conf sc;
		scanner_conf_defaults(&sc);
		sc.threads = (unsigned)d->cfg.scanner_threads;
		sc.pages_per_sec = d->cfg.scanner_pages_per_sec;
		sc.cpu_percent = (unsigned)d->cfg.scanner_cpu_percent;
		sc.pass_interval_usec = d->cfg.scanner_pass_interval_usec;
		sc.pread_only = !d->cfg.scanner_vm_readv;
		m->scanner = scanner_new(&sc);
		if (!m->scanner) {
			int e = errno ? errno : ENOMEM;
			log_err("scanner: cannot start: %s", strerror(e));
			return -e;
		}
		int r = scanner_start(m->scanner);
		if (r < 0) {
			log_err("scanner: cannot start its threads: %s", strerror(-r));
			return r;
		}
	}
	for (size_t i = 0; i < d->cfg.n_guests; i++) {
		if (settings_only(&d->cfg.guests[i]))
			continue; /* a libvirt domain's settings */
		int r = guest_add(d, &d->cfg.guests[i], false);
		if (r < 0)
			return r;
	}
	if (d->cfg.libvirt_enabled) {
		int r = virtloop_register(d->loop);
		struct lv_conf lc = {
			.uri = d->cfg.libvirt_uri,
			.domains = d->cfg.libvirt_domains,
			.exclude = d->cfg.libvirt_exclude,
			.pid_dir = d->cfg.libvirt_pid_dir,
			.reconnect_max_usec = d->cfg.libvirt_reconnect_usec,
		};
		if (r == 0)
			m->lv = lv_conn_new(&lc, libvirt_event, d);
		if (r < 0 || !m->lv) {
			log_err("libvirt: cannot set up: %s", strerror(r < 0 ? -r : ENOMEM));
			return r < 0 ? r : -ENOMEM;
		}
		lv_conn_tick(m->lv, now_usec()); /* the domains running now, before the first tick */
	}
	m->fast_fd = loop_add_timer(d->loop, FAST_TIMER_USEC, fast_timer, d);
	if (m->fast_fd < 0)
		return m->fast_fd;
	if (d->cfg.balloon_discover)
		discover(d);
	return 0;
}

void modules_fini(struct daemon *d)
{
	struct daemon_modules *m = d->mod;
	if (!m)
		return;
	if (m->http)
		stats_server_stop(m->http);
	if (m->scanner) {
		scanner_stop(m->scanner);
		scanner_free(m->scanner);
		m->scanner = NULL; /* guest_remove below must not reach into it */
	}
	/* balloons: leave them, or give every guest its maximum back */
	enum balloon_on_exit mode = BALLOON_EXIT_KEEP;
	balloon_parse_on_exit(d->cfg.balloon_on_exit, &mode);
	struct balloon **bs = calloc(m->n ? m->n : 1, sizeof *bs);
	size_t nb = 0;
	for (size_t i = 0; i < m->n; i++)
		if (m->g[i]->b && bs)
			bs[nb++] = m->g[i]->b;
	if (bs && nb && mode == BALLOON_EXIT_RESTORE) {
		int r = balloon_exit_all(bs, nb, mode, 3 * USEC_PER_SEC);
		if (r < 0)
			log_warn("balloon: restoring guests to their maximum: %s", strerror(-r));
		else
			log_info("balloon: every guest restored to its maximum");
	}
	free(bs);
	for (size_t i = m->n; i-- > 0;)
		guest_remove(d, i);
	free(m->g);
	lv_conn_free(m->lv);
	if (m->lv)
		virtloop_run_deferred();
	if (m->fast_fd >= 0) {
		loop_del(d->loop, m->fast_fd);
		close(m->fast_fd);
	}
	if (m->sres_valid)
		scanner_results_free(&m->sres);
	free(m);
	d->mod = NULL;
}

json_t *modules_pause(struct daemon *d, const char *what, bool pause)
{
	if (!strcmp(what, "scanner")) {
		if (!d->mod->scanner)
			return control_error("the scanner is disabled (scanner.enabled = no)");
		if (pause)
			scanner_pause(d->mod->scanner);
		else
			scanner_resume(d->mod->scanner);
		d->scanner_paused = pause;
	} else if (!strcmp(what, "policy")) {
		d->policy_paused = pause;
	} else {
		return control_error("cannot %s '%s': say scanner or policy", pause ? "pause" : "resume", what);
	}
	log_info("%s %s (ksmdctl)", what, pause ? "paused" : "resumed");
	return control_ok(json_string(pause ? "paused" : "resumed"));
}
