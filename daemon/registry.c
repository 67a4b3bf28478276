/* registry.c — the guests ksmd manages: configured ones, QEMU processes
 * found by balloon.discover, libvirt domains as libvirt reports them; each
 * with its balloon backend, whose fd lives in the daemon's loop. Add,
 * remove, reload, and the operator's `ksmdctl balloon`. */
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

struct daemon *modules_daemon;

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

void guest_sync_fd(struct daemon *d, struct guest *g)
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

void balloon_event(struct balloon *b, enum balloon_event ev, void *userdata)
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
		char who[128];
		if (!info.external_bytes) { /* its QEMU restarted: that size died with it */
			if (g->override_outside)
				g->override = g->override_outside = false;
			return;
		}
		if (!balloon_driven(d, g, who, sizeof who))
			return; /* another manager (or nobody) drives it: its changes are not overrides */
		if (g->override && !g->override_outside)
			return; /* the operator's ksmdctl override stands */
		bool first = !(g->override && g->override_outside);
		/* not saved in the state file: it holds for this QEMU, while ksmd runs */
		g->override = true;
		g->override_outside = true;
		g->override_bytes = info.external_bytes;
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

struct guest *guest_find(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->mod->n; i++)
		if (!strcmp(d->mod->g[i]->conf.name, name))
			return d->mod->g[i];
	return NULL;
}

int guest_add(struct daemon *d, const struct guest_conf *gc, bool discovered)
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
	g->files = (struct proc_files)PROC_FILES_INIT;
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
	char pid[24];
	snprintf(pid, sizeof pid, "%ld", (long)gc->pid);
	log_info("guest %s: managed (%s%s)", gc->name,
		 gc->libvirt ? "libvirt domain" : gc->qmp[0] ? "qmp " : gc->cgroup[0] ? "cgroup " : "pid ",
		 gc->libvirt ? "" : gc->qmp[0] ? gc->qmp : gc->cgroup[0] ? gc->cgroup : pid);
	return 0;
}

void guest_remove(struct daemon *d, size_t i)
{
	struct daemon_modules *m = d->mod;
	struct guest *g = m->g[i];
	if (g->in_scanner && m->scanner)
		scanner_remove_guest(m->scanner, g->conf.name);
	if (g->reg_fd >= 0)
		loop_del(d->loop, g->reg_fd);
	if (g->b)
		balloon_free(g->b);
	proc_files_close(&g->files);
	log_info("guest %s: no longer managed", g->conf.name);
	free(g);
	memmove(&m->g[i], &m->g[i + 1], (m->n - i - 1) * sizeof *m->g);
	m->n--;
}

void discover(struct daemon *d)
{
	struct qemu_guest *found = NULL;
	int n = balloon_discover_qemu("/proc", &found);
	if (n < 0) {
		free(found);
		return;
	}
	/* a discovered guest whose QEMU (or its socket) is gone goes too */
	for (size_t j = d->mod->n; j-- > 0;) {
		const struct guest *g = d->mod->g[j];
		bool here = false;
		for (int i = 0; i < n && !here; i++)
			here = !strcmp(g->conf.qmp, found[i].qmp_path);
		if (g->discovered && !here) {
			log_info("guest %s: its QEMU is gone (no process serves %s)", g->conf.name,
				 g->conf.qmp);
			guest_remove(d, j);
		}
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
void scanner_sync(struct daemon *d, struct guest *g)
{
	struct daemon_modules *m = d->mod;
	pid_t pid = g->pid;
	if (g->b) {
		pid = g->info.pid;
		if (g->info.state == BALLOON_GONE)
			pid = 0;
	}
	/* A new pid from the guest's source (its balloon backend, libvirt, the
	 * configuration) is a process found: its identity and files are taken
	 * now. The same pid keeps the process found first: once that one has
	 * exited, nothing of the guest reads or writes another process that
	 * got the pid (collect/sample.h). */
	if (pid != g->files.pid) {
		proc_files_close(&g->files);
		if (pid > 0 && proc_files_open(&g->files, pid) == 0) /* none yet: again next tick */
			g->found_seq++;
	}
	bool found = pid > 0 && g->files.pid == pid && proc_files_check(&g->files) == 0;
	if (!m->scanner) {
		/* the PID is needed without a scanner too: liveness, RSS, ksm_stat */
		if (pid > 0)
			g->pid = pid;
		return;
	}
	if (g->in_scanner && (pid != g->pid || !found)) {
		scanner_remove_guest(m->scanner, g->conf.name);
		g->in_scanner = false;
	}
	if (pid > 0)
		g->pid = pid;
	if (!g->in_scanner && found) {
		bool qemu = g->conf.qmp[0] || g->conf.libvirt;
		uint64_t hint = qemu ? g->info.limits.max_bytes : 0;
		int r = scanner_add_guest_files(m->scanner, g->conf.name, pid, &g->files,
						qemu ? SCANNER_GUEST_QEMU : SCANNER_GUEST_PROCESS, hint);
		if (r < 0)
			log_warn("guest %s: the scanner cannot take pid %d: %s, ignoring", g->conf.name, (int)pid,
				 strerror(-r));
		else
			g->in_scanner = true;
	}
}

/* A [guest NAME] section with no qmp, pid or cgroup: the settings of the
 * libvirt domain of that name, not a guest of its own. */
bool settings_only(const struct guest_conf *gc)
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

void libvirt_event(struct lv_conn *c, enum lv_event ev, const struct lv_domain *ld, const char *why,
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
		if (!g->b && ld->pid) {
			/* no balloon to say it: a restart's new pid; libvirt names the
			 * domain's process anew, even under the same pid */
			if (ld->pid != g->pid || proc_files_check(&g->files) < 0)
				proc_files_close(&g->files);
			g->pid = ld->pid;
		}
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
			    now.shares != g->conf.shares || strcmp(now.balloon, g->conf.balloon)) {
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

json_t *modules_balloon(struct daemon *d, const char *name, const char *size)
{
	struct guest *g = guest_find(d, name);
	if (!g)
		return control_error("unknown guest '%s'", name);
	if (!g->b)
		return control_error("guest '%s' has no balloon (a plain process)", name);
	g->override_outside = false; /* whatever the operator says now is theirs */
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
