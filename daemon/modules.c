/* modules.c — the guest registry and the tick's collect / decide / act.
 *
 * Each tick:
 *   collect  host memory, swap rates and PSI (policy_collect_host), the
 *            scanner's last results, every guest's balloon state and stats,
 *            its KSM counters (/proc/PID/ksm_stat) and host-side RSS;
 *   decide   KSM pacing (ksm_pace, from the scanner's prediction and what
 *            KSM has merged) and balloon targets (policy_decide);
 *   act      unless dry-run: KSM knobs to sysfs, targets to the balloons;
 *   record   the plan's reasons in the decision ring.
 * Balloon backends are non-blocking state machines: their fds live in the
 * daemon's epoll loop, a 100 ms timer drives their timeouts and reconnects. */
#include "daemon/modules.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "balloon/balloon.h"
#include "balloon/libvirt.h"
#include "common/log.h"
#include "daemon/daemon.h"
#include "daemon/virtloop.h"
#include "policy/policy.h"
#include "policy/wss.h"
#include "scanner/scanner.h"
#include "stats/stats.h"

#define FAST_TIMER_USEC (100 * USEC_PER_MSEC)

struct guest {
	struct guest_conf conf;
	uint64_t id;                 /* stable across reloads, never 0 */
	bool discovered;             /* found by balloon.discover, not configured */
	struct lv_domain lvd;        /* conf.libvirt: what libvirt said of the domain */
	bool override_outside;       /* the override was set outside ksmd (virsh setmem) */
	bool balloon_yielded;        /* left to another balloon manager (logged once) */
	struct balloon *b;           /* NULL for plain processes */
	int reg_fd;                  /* fd registered in the loop, -1 none */
	uint32_t reg_events;
	pid_t pid;                   /* process whose memory is scanned, 0 unknown */
	bool in_scanner;
	bool alive;
	bool override;               /* ksmdctl balloon: the policy leaves it alone */
	bool override_pending;       /* from the state file: send once READY */
	uint64_t override_bytes;
	struct balloon_info info;
	struct ksm_proc_stat ksm;
	bool ksm_valid;
	uint64_t rss_bytes;
	uint64_t swap_bytes;         /* VmSwap: its memory the host swapped out */
	/* rates from two samples of the guest's stats */
	usec_t rate_sample_usec;
	uint64_t prev_major, prev_swap_in, prev_swap_out;
	double major_per_sec, swap_in_per_sec, swap_out_per_sec;
	char gone_reason[128];
	char ksm_fix[256];           /* how to make it mergeable, "" when it is */
	struct wss_tracker wss;      /* host-side working set of its RAM (policy/wss.h) */
	bool wss_on;                 /* tracker set up for the current pid */
	pid_t wss_pid;
	bool wss_warned;
};

struct daemon_modules {
	struct scanner *scanner;
	struct scanner_results sres;
	bool sres_valid;
	struct guest **g;
	size_t n;
	uint64_t next_id;
	int fast_fd;
	struct policy_host host, host_prev;
	bool host_valid;
	struct policy_state pstate;
	struct policy_plan plan;
	bool plan_valid;
	struct policy_ring ring;
	struct stats_server *http;
	struct lv_conn *lv;           /* [libvirt]: the connection, NULL without */
	usec_t last_tick_usec;
	uint64_t pages_scanned_total; /* over every pass since start */
	/* policy.budget = cgroup:PATH: the spec last resolved, its directory */
	char cg_spec[POLICY_CGROUP_LEN];
	char cg_dir[512];
	int cg_err;                   /* last failure (logged once per change), 0 ok */
	uint64_t passes_counted;
};

static struct balloon_config balloon_cfg(const struct ksmd_config *c, const struct guest_conf *gc)
{
	struct balloon_config bc;
	memset(&bc, 0, sizeof bc);
	bc.max_bytes = gc->max_bytes;
	bc.min_bytes = gc->min_bytes;
	bc.qmp_shared = !strcmp(gc->qmp_mode, "shared");
	bc.min_percent = (unsigned)c->balloon_default_min_percent;
	bc.max_step_bytes = c->balloon_max_step_bytes;
	bc.stats_interval_usec = c->balloon_stats_interval_usec;
	bc.request_timeout_usec = 5 * USEC_PER_SEC;
	bc.greeting_timeout_usec = 2 * USEC_PER_SEC;
	bc.reconnect_min_usec = 100 * USEC_PER_MSEC;
	bc.reconnect_max_usec = 5 * USEC_PER_SEC;
	bc.cg_v1_mode = BALLOON_CG_V1_HARD;
	balloon_progress_config_default(&bc.progress);
	bc.progress.stuck_usec = c->balloon_stuck_timeout_usec;
	bc.progress.uncooperative_usec = c->balloon_uncooperative_timeout_usec;
	return bc;
}

/* ---- event loop glue for balloon fds ---- */

static void guest_sync_fd(struct daemon *d, struct guest *g);

/* The one daemon, for callbacks whose data pointer is the guest. */
static struct daemon *modules_daemon;

static void balloon_io(struct loop *l, int fd, uint32_t events, void *data)
{
	struct guest *g = data;
	(void)l;
	(void)fd;
	usec_t now = now_usec();
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		balloon_on_readable(g->b, now);
	if (events & EPOLLOUT)
		balloon_on_writable(g->b, now);
	guest_sync_fd(modules_daemon, g);
}

static void guest_sync_fd(struct daemon *d, struct guest *g)
{
	if (!g->b)
		return;
	int fd = balloon_fd(g->b);
	uint32_t ev = balloon_epoll_events(g->b);
	if (fd != g->reg_fd) {
		if (g->reg_fd >= 0)
			loop_del(d->loop, g->reg_fd);
		g->reg_fd = -1;
		if (fd >= 0 && loop_add(d->loop, fd, ev, balloon_io, g) == 0) {
			g->reg_fd = fd;
			g->reg_events = ev;
		}
	} else if (fd >= 0 && ev != g->reg_events) {
		loop_mod(d->loop, fd, ev);
		g->reg_events = ev;
	}
}

static void balloon_event(struct balloon *b, enum balloon_event ev, void *userdata)
{
	struct guest *g = userdata;
	if (ev == BALLOON_EV_STATE) {
		struct balloon_info info;
		balloon_get_info(b, &info);
		if (info.state == BALLOON_READY)
			log_info("guest %s: balloon ready (pid %d)", g->conf.name, (int)info.pid);
		else
			log_warn("guest %s: balloon %s%s%s", g->conf.name, balloon_state_name(info.state),
				 info.reason[0] ? ": " : "", info.reason);
	} else if (ev == BALLOON_EV_TARGET) {
		struct balloon_info info;
		balloon_get_info(b, &info);
		if (info.reason[0] && info.state != BALLOON_READY)
			log_warn("guest %s: setting the balloon target failed: %s", g->conf.name, info.reason);
	} else if (ev == BALLOON_EV_EXTERNAL) {
		/* someone else sized the guest (virsh setmem): that size is the
		 * operator's, until `ksmdctl balloon NAME auto` */
		struct daemon *d = modules_daemon;
		struct balloon_info info;
		balloon_get_info(b, &info);
		bool first = !(g->override && g->override_outside);
		g->override = true;
		g->override_outside = true;
		g->override_bytes = info.external_bytes;
		json_object_set_new(d->state.overrides, g->conf.name, json_integer((json_int_t)info.external_bytes));
		daemon_save_state(d);
		if (first) {
			log_info("guest %s: balloon changed outside ksmd (virsh setmem, or the guest deflated on OOM): "
				 "kept as an override until `ksmdctl balloon %s auto`", g->conf.name, g->conf.name);
			struct policy_ring_entry e;
			memset(&e, 0, sizeof e);
			e.when_usec = now_usec();
			snprintf(e.guest, sizeof e.guest, "%s", g->conf.name);
			e.kind = info.external_bytes < g->info.actual_bytes ? POLICY_ACT_SHRINK : POLICY_ACT_GROW;
			e.target_bytes = info.external_bytes;
			e.delta_bytes = (int64_t)info.external_bytes - (int64_t)g->info.actual_bytes;
			snprintf(e.reason, sizeof e.reason,
				 "%s changed outside ksmd (virsh setmem?): an override until 'ksmdctl balloon %s auto'",
				 g->conf.name, g->conf.name);
			policy_ring_push(&d->mod->ring, &e);
		}
	}
}

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

/* ---- the guest registry ---- */

static struct guest *guest_find(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->mod->n; i++)
		if (!strcmp(d->mod->g[i]->conf.name, name))
			return d->mod->g[i];
	return NULL;
}

static int guest_add(struct daemon *d, const struct guest_conf *gc, bool discovered)
{
	struct daemon_modules *m = d->mod;
	struct guest *g = calloc(1, sizeof *g);
	if (!g)
		return -ENOMEM;
	g->conf = *gc;
	if (!g->conf.balloon[0]) /* discovered and libvirt guests: the default */
		snprintf(g->conf.balloon, sizeof g->conf.balloon, "yes");
	g->id = ++m->next_id;
	g->discovered = discovered;
	g->reg_fd = -1;
	g->alive = true;
	if (d->cfg.balloon_enabled && (gc->qmp[0] || gc->cgroup[0] || (gc->libvirt && m->lv))) {
		struct balloon_config bc = balloon_cfg(&d->cfg, gc);
		g->b = gc->libvirt ? balloon_new_libvirt(gc->name, m->lv, &bc, balloon_event, g)
		       : gc->qmp[0] ? balloon_new_qmp(gc->name, gc->qmp, &bc, balloon_event, g)
				    : balloon_new_cgroup(gc->name, gc->cgroup, &bc, balloon_event, g);
		if (!g->b) {
			int e = errno ? errno : EINVAL; /* before log_err and free can change it */
			log_err("guest %s: cannot create its balloon backend: %s", gc->name, strerror(e));
			free(g);
			return -e;
		}
	}
	if (gc->pid)
		g->pid = (pid_t)gc->pid;
	json_t *ov = json_object_get(d->state.overrides, gc->name);
	if (g->b && json_is_integer(ov)) {
		g->override = g->override_pending = true;
		g->override_bytes = (uint64_t)json_integer_value(ov);
	}
	struct guest **ng = realloc(m->g, (m->n + 1) * sizeof *ng);
	if (!ng) {
		if (g->b)
			balloon_free(g->b);
		free(g);
		return -ENOMEM;
	}
	m->g = ng;
	m->g[m->n++] = g;
	guest_sync_fd(d, g);
	log_info("guest %s: managed (%s%s)", gc->name,
		 gc->libvirt ? "libvirt domain" : gc->qmp[0] ? "qmp " : gc->cgroup[0] ? "cgroup " : "pid ",
		 gc->libvirt ? "" : gc->qmp[0] ? gc->qmp : gc->cgroup[0] ? gc->cgroup : "");
	return 0;
}

static void guest_remove(struct daemon *d, size_t i)
{
	struct daemon_modules *m = d->mod;
	struct guest *g = m->g[i];
	if (g->in_scanner && m->scanner)
		scanner_remove_guest(m->scanner, g->conf.name);
	if (g->reg_fd >= 0)
		loop_del(d->loop, g->reg_fd);
	if (g->b)
		balloon_free(g->b);
	log_info("guest %s: no longer managed", g->conf.name);
	free(g);
	memmove(&m->g[i], &m->g[i + 1], (m->n - i - 1) * sizeof *m->g);
	m->n--;
}

static void discover(struct daemon *d)
{
	struct qemu_guest *found = NULL;
	int n = balloon_discover_qemu("/proc", &found);
	if (n <= 0) {
		free(found);
		return;
	}
	for (int i = 0; i < n; i++) {
		bool known = false;
		for (size_t j = 0; j < d->mod->n; j++)
			known |= d->mod->g[j]->conf.qmp[0] &&
				 !strcmp(d->mod->g[j]->conf.qmp, found[i].qmp_path);
		if (known || !found[i].qmp_path[0])
			continue;
		struct guest_conf gc;
		memset(&gc, 0, sizeof gc);
		if (found[i].name[0])
			snprintf(gc.name, sizeof gc.name, "%s", found[i].name);
		else
			snprintf(gc.name, sizeof gc.name, "qemu-%d", (int)found[i].pid);
		if (guest_find(d, gc.name))
			snprintf(gc.name, sizeof gc.name, "qemu-%d", (int)found[i].pid);
		snprintf(gc.qmp, sizeof gc.qmp, "%s", found[i].qmp_path);
		/* not ksmd's own monitor: others (Proxmox's qm, pvestatd, backups)
		 * use it too, so a connection per operation, never held */
		snprintf(gc.qmp_mode, sizeof gc.qmp_mode, "shared");
		gc.shares = 1000;
		gc.max_bytes = found[i].mem_bytes;
		log_info("discovered QEMU pid %d with QMP socket %s as guest %s", (int)found[i].pid,
			 gc.qmp, gc.name);
		int r = guest_add(d, &gc, true);
		if (r < 0)
			log_warn("guest %s: cannot be managed: %s; trying again at the next discovery", gc.name,
				 strerror(-r));
	}
	free(found);
}

/* Keep the scanner's guest list in step with the processes we know. */
static void scanner_sync(struct daemon *d, struct guest *g)
{
	struct daemon_modules *m = d->mod;
	pid_t pid = g->pid;
	if (g->b) {
		pid = g->info.pid;
		if (g->info.state == BALLOON_GONE)
			pid = 0;
	}
	if (!m->scanner) {
		/* the PID is needed without a scanner too: liveness, RSS, ksm_stat */
		if (pid > 0)
			g->pid = pid;
		return;
	}
	if (g->in_scanner && pid != g->pid) {
		scanner_remove_guest(m->scanner, g->conf.name);
		g->in_scanner = false;
	}
	if (pid > 0)
		g->pid = pid;
	if (!g->in_scanner && pid > 0) {
		bool qemu = g->conf.qmp[0] || g->conf.libvirt;
		uint64_t hint = qemu ? g->info.limits.max_bytes : 0;
		int r = scanner_add_guest(m->scanner, g->conf.name, pid,
					  qemu ? SCANNER_GUEST_QEMU : SCANNER_GUEST_PROCESS, hint);
		if (r < 0)
			log_warn("guest %s: the scanner cannot take pid %d: %s, ignoring", g->conf.name, (int)pid,
				 strerror(-r));
		else
			g->in_scanner = true;
	}
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

/* ---- KSM pacing: the executor, from the scanner's prediction ---- */

/* What KSM merged for our guests, or -1 when unknown. The global
 * pages_sharing counts other KSM users too; the guests' ksm_merging_pages
 * count each KSM page's first mapping as well. Neither is below our share:
 * take the smaller. */
static int64_t guests_merged_pages(const struct daemon *d)
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
	int64_t merged = guests_merged_pages(d);
	int r = ksm_driver_tick(&d->ksm, predicted, merged, urgency, now);
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

/* ---- the policy ---- */

/* Whether ksmd drives g's balloon now: `balloon = no` never, `force`
 * always, `yes` unless another balloon manager runs on the host (then
 * who names it). */
static bool balloon_driven(const struct daemon *d, const struct guest *g, char *who, size_t len)
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
	}
	int64_t merged = guests_merged_pages(d);
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
		r = policy_cgroup_resolve(spec, m->cg_dir, sizeof m->cg_dir);
	if (r == 0)
		r = policy_collect_cgroup(m->cg_dir, &m->host);
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
	if (policy_collect_host(&m->host) == 0) {
		budget_cgroup_collect(d);
		if (m->host_valid)
			policy_host_rates(&m->host_prev, &m->host);
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

/* A [guest NAME] section with no qmp, pid or cgroup: the settings of the
 * libvirt domain of that name, not a guest of its own. */
static bool settings_only(const struct guest_conf *gc)
{
	return !gc->qmp[0] && !gc->cgroup[0] && !gc->pid;
}

/* The guest for a libvirt domain: its [guest NAME] section's settings when
 * there is one, else those of the domain's <metadata>, else the defaults. */
static void libvirt_guest_conf(const struct daemon *d, const struct lv_domain *ld, struct guest_conf *gc)
{
	memset(gc, 0, sizeof *gc);
	snprintf(gc->name, sizeof gc->name, "%s", ld->name);
	gc->libvirt = true;
	gc->pid = (uint64_t)ld->pid;
	gc->shares = 1000;
	snprintf(gc->balloon, sizeof gc->balloon, "yes");
	const struct guest_conf *sec = config_guest(&d->cfg, ld->name);
	if (sec && settings_only(sec)) {
		gc->min_bytes = sec->min_bytes;
		gc->max_bytes = sec->max_bytes;
		gc->shares = sec->shares;
		memcpy(gc->balloon, sec->balloon, sizeof gc->balloon);
		gc->line = sec->line;
	} else if (!ld->meta_error[0]) {
		gc->min_bytes = ld->meta_min_bytes;
		gc->max_bytes = ld->meta_max_bytes;
		if (ld->meta_shares)
			gc->shares = ld->meta_shares;
	}
}

static void libvirt_event(struct lv_conn *c, enum lv_event ev, const struct lv_domain *ld, const char *why,
			  void *ud)
{
	struct daemon *d = ud;
	struct daemon_modules *m = d->mod;
	(void)c;
	if (ev == LV_CONNECTED || ev == LV_DISCONNECTED)
		return; /* logged by the connection; the balloons' states say it */
	size_t at = m->n;
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->g[i]->conf.name, ld->name))
			at = i;
	struct guest *g = at < m->n ? m->g[at] : NULL;
	if (ev == LV_DOMAIN_DOWN) {
		if (!g || !g->conf.libvirt)
			return;
		log_info("guest %s: the domain %s: forgotten", ld->name, why ? why : "stopped");
		if (g->override_outside) { /* set live on that QEMU: it died with it */
			json_object_del(d->state.overrides, ld->name);
			daemon_save_state(d);
		}
		guest_remove(d, at);
		return;
	}
	if (g && !g->conf.libvirt) {
		if (!g->lvd.name[0])
			log_warn("libvirt: domain %s has the name of a guest configured with qmp, pid or cgroup: "
				 "managed as configured, not through libvirt", ld->name);
		g->lvd = *ld;
		return;
	}
	if (g) {
		g->lvd = *ld; /* known: found again after a reconnect */
		return;
	}
	if (ld->meta_error[0])
		log_warn("guest %s: the domain's ksmd %s, ignoring its metadata", ld->name, ld->meta_error);
	if (ld->pid_error[0])
		log_warn("guest %s: %s: its memory is not scanned until the pid is known", ld->name,
			 ld->pid_error);
	if (ld->nosharepages)
		log_warn("guest %s: the domain has <memoryBacking><nosharepages/>: KSM cannot merge it; remove "
			 "it (virsh edit %s) and restart the domain", ld->name, ld->name);
	if (!ld->has_balloon)
		log_info("guest %s: the domain has no balloon device (<memballoon model='none'/>): merged, "
			 "never ballooned", ld->name);
	struct guest_conf gc;
	libvirt_guest_conf(d, ld, &gc);
	log_info("guest %s: libvirt domain %s, pid %d", ld->name, why ? why : "found", (int)ld->pid);
	int r = guest_add(d, &gc, false);
	if (r == 0)
		m->g[m->n - 1]->lvd = *ld;
	else
		log_err("guest %s: cannot be managed: %s; found again at the next reconnect", ld->name,
			 strerror(-r));
}

void modules_reload_guests(struct daemon *d)
{
	struct daemon_modules *m = d->mod;
	/* drop configured guests that are no longer in the file, or changed */
	for (size_t i = m->n; i-- > 0;) {
		struct guest *g = m->g[i];
		if (g->discovered)
			continue;
		if (g->conf.libvirt) {
			/* its settings may come from a section that changed */
			struct guest_conf now;
			libvirt_guest_conf(d, &g->lvd, &now);
			if (now.min_bytes != g->conf.min_bytes || now.max_bytes != g->conf.max_bytes ||
			    now.shares != g->conf.shares) {
				struct lv_domain ld = g->lvd;
				log_info("guest %s: its settings changed, taking them", g->conf.name);
				guest_remove(d, i);
				int r = guest_add(d, &now, false);
				if (r == 0)
					m->g[m->n - 1]->lvd = ld;
				else
					log_err("guest %s: cannot be managed: %s", now.name, strerror(-r));
			}
			continue;
		}
		const struct guest_conf *gc = config_guest(&d->cfg, g->conf.name);
		struct guest_conf a = g->conf, b;
		if (gc) {
			b = *gc;
			a.line = b.line = 0;
		}
		if (!gc || memcmp(&a, &b, sizeof a))
			guest_remove(d, i);
	}
	for (size_t i = 0; i < d->cfg.n_guests; i++) {
		if (settings_only(&d->cfg.guests[i]) || guest_find(d, d->cfg.guests[i].name))
			continue;
		int r = guest_add(d, &d->cfg.guests[i], false);
		if (r < 0)
			log_err("guest %s: cannot be managed: %s; reload to try again", d->cfg.guests[i].name,
				 strerror(-r));
	}
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

/* ---- control commands ---- */

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

json_t *modules_balloon(struct daemon *d, const char *name, const char *size)
{
	struct guest *g = guest_find(d, name);
	if (!g)
		return control_error("unknown guest '%s'", name);
	if (!g->b)
		return control_error("guest '%s' has no balloon (a plain process)", name);
	if (!strcmp(size, "auto")) {
		g->override = false;
		g->override_bytes = 0;
		json_object_del(d->state.overrides, name);
		daemon_save_state(d);
		log_info("guest %s: balloon back under the policy (ksmdctl)", name);
		return control_ok(json_string("auto"));
	}
	uint64_t bytes;
	if (parse_size(size, &bytes) < 0)
		return control_error("'%s' is not a size (e.g. 512M, 2G) or 'auto'", size);
	char err[256] = "";
	int r = balloon_override(g->b, bytes, now_usec(), err, sizeof err);
	guest_sync_fd(d, g);
	if (r < 0)
		return control_error("%s", err[0] ? err : strerror(-r));
	g->override = true;
	g->override_bytes = bytes;
	json_object_set_new(d->state.overrides, name, json_integer((json_int_t)bytes));
	daemon_save_state(d);
	char buf[32];
	log_info("guest %s: balloon set to %s by the operator (ksmdctl)", name, format_size(bytes, buf, sizeof buf));
	struct policy_ring_entry e;
	memset(&e, 0, sizeof e);
	e.when_usec = now_usec();
	snprintf(e.guest, sizeof e.guest, "%s", name);
	e.kind = bytes < g->info.actual_bytes ? POLICY_ACT_SHRINK : POLICY_ACT_GROW;
	e.target_bytes = bytes;
	e.delta_bytes = (int64_t)bytes - (int64_t)g->info.actual_bytes;
	snprintf(e.reason, sizeof e.reason, "%s set to %s by the operator (ksmdctl balloon)", name, buf);
	policy_ring_push(&d->mod->ring, &e);
	return control_ok(json_integer((json_int_t)bytes));
}

/* ---- the snapshot ---- */

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
	const struct balloon_stats *s = &g->info.stats;
	if ((s->valid_mask & (1u << BALLOON_STAT_AVAILABLE)) && g->info.actual_bytes &&
	    (double)s->value[BALLOON_STAT_AVAILABLE] <
		    d->cfg.policy.guest_distress_free_percent / 100.0 * (double)g->info.actual_bytes)
		return "distress";
	return "ok";
}

static json_t *guest_json(const struct daemon *d, const struct guest *g)
{
	const struct daemon_modules *m = d->mod;
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
	if (g->conf.libvirt) {
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
		JSET(o, "libvirt", lv);
	}
	if (g->conf.qmp[0])
		JSET(o, "qmp_mode", json_string(g->conf.qmp_mode[0] ? g->conf.qmp_mode : "own"));
	JSET(o, "shares", JU(g->conf.shares));
	if (g->b) {
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
	if (m->sres_valid) {
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
	return o;
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
	JSET(s, "host", h);

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
	JSET(s, "ksm", k);
	JSET(s, "owners", daemon_owners_json(d));

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
	JSET(s, "scanner", sc);

	json_t *ga = json_array();
	for (size_t i = 0; i < m->n; i++)
		json_array_append_new(ga, guest_json(d, m->g[i]));
	JSET(s, "guests", ga);
	if (m->lv) {
		json_t *lv = json_object();
		unsigned n = 0;
		for (size_t i = 0; i < m->n; i++)
			n += m->g[i]->conf.libvirt;
		JSET(lv, "uri", json_string(d->cfg.libvirt_uri));
		JSET(lv, "connected", json_boolean(lv_conn_is_up(m->lv)));
		JSET(lv, "error", lv_conn_error(m->lv)[0] ? json_string(lv_conn_error(m->lv)) : json_null());
		JSET(lv, "domains", JU(n));
		JSET(s, "libvirt", lv);
	}

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
	JSET(s, "sharing", sh);

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
	JSET(s, "policy", po);

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
	JSET(s, "decisions", da);
	return s;
}
