/* daemon.c — lifecycle and the tick of ksmd.
 *
 * The tick, every daemon.tick:
 *   1. collect: KSM sysfs and the kernel ksmd thread's CPU, (modules: host
 *      memory and pressure, scanner results, balloon states);
 *   2. decide and act (modules: policy, balloon targets, KSM pacing);
 *   3. publish one immutable snapshot for the stats endpoint and ksmdctl.
 * Signals arrive through a signalfd and are handled here, in the loop:
 * SIGHUP reloads (parse, validate, swap), SIGTERM/SIGINT stop the loop. */
#include "daemon/daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/modules.h"
#include "stats/stats.h"

static int level_of(const char *name)
{
	if (!strcmp(name, "error"))
		return LOG_ERR;
	if (!strcmp(name, "warning"))
		return LOG_WARNING;
	if (!strcmp(name, "debug"))
		return LOG_DEBUG;
	return LOG_INFO;
}

static void log_errors(const struct conf_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		log_err("%s", e->msg[i]);
	if (e->total > e->n)
		log_err("%zu more errors (no memory for their text)", e->total - e->n);
}

/* KSM: the executor saves what it finds, so that exit restores it. It
 * touches KSM only while daemon_ksm_wanted(): ksm.manage = force, or yes
 * while no other program drives KSM (managers.h). It starts when that
 * holds (at start or later); it gives KSM its settings back when
 * ksm.manage is set to no, and leaves them as they are when it yields to
 * another program (restoring them would write over that program's). */
static void ksm_probe(struct daemon *d)
{
	d->ksm_available = access(KSM_SYSFS_ROOT "/run", W_OK) == 0;
	if (!d->ksm_available)
		log_warn("KSM: %s/run is not writable (%s); ksmd will not drive KSM, ignoring",
			 KSM_SYSFS_ROOT, strerror(errno));
}

bool daemon_ksm_wanted(const struct daemon *d)
{
	enum ksm_manage_mode mode = config_ksm_manage(&d->cfg);
	return mode == KSM_MANAGE_FORCE || (mode == KSM_MANAGE_YES && !d->ksm_yielding);
}

/* ksmd wrote KSM's settings: what is there now is its own doing. */
static void ksm_watch_resync(struct daemon *d)
{
	struct ksm_settings s;
	if (ksm_read_settings(KSM_SYSFS_ROOT, &s) == 0) {
		struct ksm_knobs k = ksm_watch_knobs(&s);
		ksm_watch_wrote(&d->ksm_watch, &k);
	}
}

/* Start driving KSM if ksmd wants it and it is not driven yet. */
static void daemon_ksm_start(struct daemon *d)
{
	if (!d->ksm_available || d->ksm_driving || !daemon_ksm_wanted(d))
		return;
	int r = ksm_driver_init(&d->ksm, KSM_SYSFS_ROOT, NULL);
	if (r < 0) {
		log_warn("KSM: cannot read its settings: %s; ksmd will not drive KSM, ignoring", strerror(-r));
		return;
	}
	d->ksm_driving = true;
	d->ksm_saved_settled = false;
	if (d->state.ksm_saved_valid) {
		/* A ksmd before us did not restore KSM (a crash, or its restore
		 * failed): what is in sysfs now is its pacing; the operator's
		 * settings are the ones it found. */
		d->ksm.saved = d->state.ksm_saved;
		log_warn("KSM: a previous ksmd did not restore KSM's settings (a crash?); carrying on, and at exit "
			 "restoring the settings it found (run=%" PRId64 " pages_to_scan=%" PRId64
			 " sleep_millisecs=%" PRId64 ")",
			 d->ksm.saved.run, d->ksm.saved.pages_to_scan, d->ksm.saved.sleep_millisecs);
	} else {
		d->state.ksm_saved = d->ksm.saved;
		d->state.ksm_saved_valid = true;
		log_info("KSM found at run=%" PRId64 " pages_to_scan=%" PRId64 " sleep_millisecs=%" PRId64,
			 d->ksm.saved.run, d->ksm.saved.pages_to_scan, d->ksm.saved.sleep_millisecs);
	}
	daemon_save_state(d);
	ksm_watch_resync(d); /* the driver may have turned the advisor off */
}

void daemon_save_state(struct daemon *d)
{
	if (!d->state_owned)
		return;
	int r = state_save(d->state_path, &d->state);
	if (r < 0)
		log_warn("state file %s: %s, ignoring", d->state_path, strerror(-r));
}

/* The saved settings are restored, or need not be: the state file stops
 * carrying them. */
static void ksm_saved_drop(struct daemon *d)
{
	d->state.ksm_saved_valid = false;
	daemon_save_state(d);
}

/* Stop driving KSM; at_exit honours daemon.restore_ksm. The state file
 * keeps the saved settings until they are back in sysfs: a crash (or a
 * kill at the stop timeout) in between leaves them to the next ksmd. */
static void ksm_stop(struct daemon *d, bool at_exit)
{
	if (!d->ksm_driving)
		return;
	d->ksm_driving = false;
	if (at_exit && !d->cfg.restore_ksm) {
		log_info("KSM: leaving its settings as they are (daemon.restore_ksm = no)");
		ksm_saved_drop(d);
		return;
	}
	int r = ksm_driver_restore(&d->ksm);
	ksm_watch_resync(d);
	if (r < 0) {
		log_err("KSM: restoring its settings failed: %s; %s keeps them for the next ksmd", strerror(-r),
			d->state_path);
		d->ksm_saved_settled = true; /* not tried again by this ksmd */
		return;
	}
	log_info("KSM: settings restored (run=%" PRId64 " pages_to_scan=%" PRId64 " sleep_millisecs=%" PRId64 ")",
		 d->ksm.saved.run, d->ksm.saved.pages_to_scan, d->ksm.saved.sleep_millisecs);
	ksm_saved_drop(d);
}

/* Not driving KSM, yet holding the settings a ksmd before this one found
 * and did not restore (a crash): under ksm.manage = no they are given back
 * now, as when ksm.manage is set to no while ksmd drives KSM, because what
 * is in sysfs is a ksmd's pacing, not the operator's choice. Unless another
 * program drives KSM (its settings prevail: dropped) or daemon.restore_ksm
 * = no (left as they are: dropped); when KSM cannot be written (or in a
 * dry run) the state file keeps them for the next ksmd. Once. */
static void ksm_settle_saved(struct daemon *d, const char *other)
{
	if (d->ksm_driving || !d->state.ksm_saved_valid || d->ksm_saved_settled)
		return;
	d->ksm_saved_settled = true;
	const struct ksm_settings *s = &d->state.ksm_saved;
	char was[160];
	snprintf(was, sizeof was, "run=%" PRId64 " pages_to_scan=%" PRId64 " sleep_millisecs=%" PRId64, s->run,
		 s->pages_to_scan, s->sleep_millisecs);
	if (other) {
		log_info("KSM: a previous ksmd did not restore the settings it found (%s); %s drives KSM now: "
			 "leaving KSM to it", was, other);
	} else if (!d->cfg.restore_ksm) {
		log_info("KSM: a previous ksmd did not restore the settings it found (%s); leaving KSM as it is "
			 "(daemon.restore_ksm = no)", was);
	} else if (!d->ksm_available || d->cfg.policy.dry_run) {
		log_warn("KSM: a previous ksmd did not restore the settings it found (%s); %s keeps them for the "
			 "next ksmd (%s)", was, d->state_path, d->ksm_available ? "dry run" : "KSM is not writable");
		return;
	} else {
		int r = ksm_restore(KSM_SYSFS_ROOT, s);
		ksm_watch_resync(d);
		if (r < 0) {
			log_err("KSM: restoring the settings a previous ksmd found (%s) failed: %s; %s keeps them "
				"for the next ksmd", was, strerror(-r), d->state_path);
			return;
		}
		log_info("KSM: settings a previous ksmd found and did not restore are restored (%s; "
			 "ksm.manage = no)", was);
	}
	ksm_saved_drop(d);
}

/* Stop driving KSM and leave its knobs to another program, as they are. */
static void ksm_release(struct daemon *d)
{
	if (!d->ksm_driving)
		return;
	d->ksm_driving = false;
	d->state.ksm_saved_valid = false;
	daemon_save_state(d);
}

/* Read KSM's sysfs; false when it cannot be read. */
static bool ksm_collect(struct daemon *d)
{
	return access(KSM_SYSFS_ROOT, R_OK) == 0 && ksm_read(KSM_SYSFS_ROOT, &d->ksm_now) == 0;
}

/* ---- other managers of KSM and balloons (managers.h) ---- */

static bool pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* Look for other managers: at start, every MANAGERS_SCAN_USEC, and right
 * away when the one ksmd yields KSM to is gone. */
static void managers_collect(struct daemon *d, usec_t now)
{
	struct managers *m = &d->managers;
	if (m->scanned_usec && now - m->scanned_usec < MANAGERS_SCAN_USEC &&
	    !(d->ksm_yield_pid > 0 && !pid_alive(d->ksm_yield_pid)))
		return;
	int r = managers_scan("/proc", getpid(), m);
	if (r < 0 && !m->scanned_usec)
		log_warn("cannot look for other managers of KSM in /proc: %s, ignoring", strerror(-r));
	m->scanned_usec = now;
	/* balloons: reported, once per manager found; the balloons stay ksmd's */
	char who[sizeof d->balloon_other];
	bool other = r >= 0 && managers_balloon_owner(m, who, sizeof who);
	if (other && d->cfg.balloon_enabled && strcmp(who, d->balloon_other))
		log_warn("balloons: %s drives guests' balloons too; ksmd drives them as well", who);
	snprintf(d->balloon_other, sizeof d->balloon_other, "%s", other ? who : "");
}

/* Knobs read (or seen by the driver) that ksmd did not write. */
static void ksm_watch_note(struct daemon *d, const struct ksm_knobs *k, usec_t now)
{
	bool quiet = !ksm_watch_unexplained(&d->ksm_watch, now);
	bool attributed = managers_ksm_manager(&d->managers) != NULL;
	if (ksm_watch_tick(&d->ksm_watch, k, now, attributed) > 0 && !attributed && quiet)
		log_warn("KSM knobs changed by another program: %s", d->ksm_watch.what);
}

/* Who drives KSM: yield to another manager (ksm.manage = yes), take the
 * knobs back when it has gone, each logged once. */
static void ksm_owner_decide(struct daemon *d)
{
	usec_t now = now_usec();
	enum ksm_manage_mode mode = config_ksm_manage(&d->cfg);
	char who[sizeof d->ksm_owner];
	pid_t pid;
	bool other = managers_ksm_yield(&d->managers, &d->ksm_watch, now, &pid, who, sizeof who);
	bool yield = mode == KSM_MANAGE_YES && other;
	if (d->ksm_available) {
		if (yield && (!d->ksm_yielding || pid != d->ksm_yield_pid))
			log_info("KSM is driven by %s: ksmd yields it (ksm.manage = force takes it)", who);
		else if (!yield && d->ksm_yielding && mode == KSM_MANAGE_YES && d->ksm_yield_pid)
			log_info("KSM: %s is gone: ksmd takes the KSM knobs back", d->ksm_owner);
		else if (!yield && d->ksm_yielding && mode == KSM_MANAGE_YES)
			log_info("KSM: no outside change of its knobs for a minute: ksmd takes the KSM knobs back");
		else if (!yield && d->ksm_yielding && mode == KSM_MANAGE_FORCE)
			log_info("KSM: ksm.manage = force: ksmd drives KSM beside %s", who);
	}
	d->ksm_yielding = yield;
	d->ksm_yield_pid = yield ? pid : 0;
	if (mode == KSM_MANAGE_NO) {
		if (d->ksm_driving && other) {
			log_info("KSM: ksm.manage = no: leaving KSM to %s", who);
			ksm_release(d);
		} else if (d->ksm_driving) {
			log_info("KSM: ksm.manage = no: giving KSM back its settings");
			ksm_stop(d, false);
		}
		ksm_settle_saved(d, other ? who : NULL);
	} else if (yield) {
		ksm_release(d);
		ksm_settle_saved(d, who);
	} else {
		daemon_ksm_start(d);
	}
	if (d->ksm_driving)
		snprintf(d->ksm_owner, sizeof d->ksm_owner, "%s", other ? "ksmd (ksm.manage = force)" : "ksmd");
	else if (other)
		snprintf(d->ksm_owner, sizeof d->ksm_owner, "%s", who);
	else
		snprintf(d->ksm_owner, sizeof d->ksm_owner, "nobody (%s)",
			 mode == KSM_MANAGE_NO ? "ksm.manage = no" : !d->ksm_available ? "KSM is not writable"
			 : "ksmd cannot read KSM's settings");
}

/* Each tick, before the modules: other managers, outside changes, who drives. */
static void owners_tick(struct daemon *d, bool ksm_read_ok)
{
	usec_t now = now_usec();
	managers_collect(d, now);
	if (ksm_read_ok) {
		struct ksm_knobs k = ksm_watch_knobs(&d->ksm_now.set);
		ksm_watch_note(d, &k, now);
	}
	ksm_owner_decide(d);
}

/* After the modules: what the driver found and wrote. A change between
 * owners_tick's read and the driver's own is an outside change too. */
static void owners_after_drive(struct daemon *d, usec_t drove_usec, uint64_t foreign)
{
	if (!d->ksm_driving || d->ksm.last_tick_usec == drove_usec || !d->ksm.have_expect)
		return;
	if (d->ksm.foreign_changes != foreign) {
		struct ksm_knobs seen = ksm_watch_knobs(&d->ksm.sysfs.set);
		ksm_watch_note(d, &seen, now_usec());
	}
	ksm_watch_wrote(&d->ksm_watch, &d->ksm.expect);
}

json_t *daemon_owners_json(const struct daemon *d)
{
	char balloon[sizeof d->balloon_other + 64], who[sizeof d->balloon_other];
	if (!d->cfg.balloon_enabled)
		snprintf(balloon, sizeof balloon, "nobody (balloon.enabled = no)");
	else if (managers_balloon_owner(&d->managers, who, sizeof who))
		snprintf(balloon, sizeof balloon, "%s (ksmd yields but for guests with balloon = force)", who);
	else
		snprintf(balloon, sizeof balloon, "ksmd");
	return managers_owners_json(&d->managers, &d->ksm_watch, d->ksm_owner, balloon, now_usec());
}

/* The modules' tick, then what its KSM driver wrote is recorded as ksmd's
 * own (never mistaken for another program's change). */
static void modules_tick_owned(struct daemon *d)
{
	usec_t drove_usec = d->ksm.last_tick_usec;
	uint64_t foreign = d->ksm.foreign_changes;
	modules_tick(d);
	owners_after_drive(d, drove_usec, foreign);
}

/* Publish the snapshot for ksmdctl (stats_publish) and hand it to the
 * stats endpoint's process. Takes snap over. */
static void publish(struct daemon *d, json_t *snap)
{
	if (!snap)
		return;
	modules_publish(d, snap);
	if (stats_publish(snap) < 0)
		log_warn("stats: publishing the snapshot failed, ignoring");
}

static void tick_cb(struct loop *l, int fd, uint32_t events, void *data)
{
	struct daemon *d = data;
	uint64_t expirations;
	(void)l;
	(void)events;
	if (read(fd, &expirations, sizeof expirations) < 0)
		return;
	d->ticks++;
	owners_tick(d, ksm_collect(d));
	modules_tick_owned(d);
	publish(d, daemon_snapshot(d));
}

int daemon_reload(struct daemon *d, struct conf_errors *errs)
{
	struct conf_errors local = { 0 };
	struct conf_errors *e = errs ? errs : &local;
	struct ksmd_config next;
	sd_notifyf("RELOADING=1");
	int r = config_load_files(d->opts.config_paths, d->opts.n_configs, &next, e);
	if (r < 0) {
		log_errors(e);
		log_err("reload: %s has errors; keeping the running configuration", d->opts.config_path);
		conf_errors_free(&local);
		sd_notifyf("READY=1\nSTATUS=reload failed, running the previous configuration");
		return -EINVAL;
	}
	/* Keys that cannot change live keep their running value. */
	char a[CONF_STR_MAX], b[CONF_STR_MAX];
	size_t nk;
	const struct conf_key *keys = config_keys(&nk);
	for (size_t i = 0; i < nk; i++) {
		const struct conf_key *k = &keys[i];
		if (k->live || !strcmp(k->section, "guest") || config_key_equal(&d->cfg, &next, k))
			continue;
		log_warn("reload: %s.%s changed from %s to %s; it takes effect at restart, ignoring", k->section,
			 k->name, config_format(&d->cfg, k, a, sizeof a), config_format(&next, k, b, sizeof b));
	}
	/* Copy the live keys' values into the running configuration (never
	 * through text); guests are taken whole. */
	struct ksmd_config merged;
	if (config_copy(&merged, &d->cfg) < 0) {
		config_free(&next);
		conf_errors_free(&local);
		log_err("reload: out of memory; keeping the running configuration");
		sd_notifyf("READY=1\nSTATUS=reload failed (out of memory), running the previous configuration");
		return -ENOMEM;
	}
	for (size_t i = 0; i < nk; i++) {
		const struct conf_key *k = &keys[i];
		if (k->live && strcmp(k->section, "guest"))
			config_copy_key(&merged, &next, k);
	}
	free(merged.guests);
	merged.guests = next.guests;
	merged.n_guests = next.n_guests;
	next.guests = NULL;
	config_free(&d->cfg);
	d->cfg = merged;
	daemon_apply_config(d);
	modules_reload_guests(d);
	log_info("reload: %s loaded (%zu guests)", d->opts.config_path, d->cfg.n_guests);
	conf_errors_free(&local);
	sd_notifyf("READY=1\nSTATUS=running");
	return 0;
}

void daemon_apply_config(struct daemon *d)
{
	log_set_level(d->opts.log_level > level_of(d->cfg.log_level) ? d->opts.log_level
								      : level_of(d->cfg.log_level));
	if (d->tick_fd >= 0)
		loop_set_timer(d->tick_fd, d->cfg.tick_usec);
	ksm_owner_decide(d);
	modules_apply_config(d);
}

static void signal_cb(struct loop *l, int fd, uint32_t events, void *data)
{
	struct daemon *d = data;
	struct signalfd_siginfo si;
	(void)events;
	while (read(fd, &si, sizeof si) == sizeof si) {
		switch (si.ssi_signo) {
		case SIGHUP:
			log_info("SIGHUP: reloading %s", d->opts.config_path);
			daemon_reload(d, NULL);
			break;
		case SIGTERM:
		case SIGINT:
			log_info("%s: shutting down", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			loop_quit(l);
			break;
		}
	}
}

/* The state file, once the control socket (and so the file) is ours. */
static void state_init(struct daemon *d)
{
	d->state_owned = true;
	state_path(d->cfg.control_socket, d->state_path, sizeof d->state_path);
	int r = state_load(d->state_path, &d->state);
	if (r == -EBADMSG)
		log_warn("state file %s is unreadable, ignoring it", d->state_path);
	else if (r < 0 && r != -ENOENT)
		log_warn("state file %s: %s, ignoring it", d->state_path,
			 r == -ELOOP ? "a symbolic link (not followed)" : r == -EINVAL ? "not a regular file" : strerror(-r));
	if (!d->state.overrides)
		d->state.overrides = json_object();
}

int daemon_init(struct daemon *d, const struct daemon_opts *opts)
{
	struct conf_errors errs = { 0 };
	int r;

	memset(d, 0, sizeof *d);
	d->opts = *opts;
	d->signal_fd = d->tick_fd = -1;
	d->started_usec = now_usec();
	r = config_load_files(opts->config_paths, opts->n_configs, &d->cfg, &errs);
	if (r < 0) {
		log_errors(&errs);
		conf_errors_free(&errs);
		log_err("%s has errors; not starting", opts->config_path);
		return r;
	}
	if (opts->dry_run)
		d->cfg.policy.dry_run = true;
	log_set_level(opts->log_level > level_of(d->cfg.log_level) ? opts->log_level
								    : level_of(d->cfg.log_level));

	d->loop = loop_new();
	if (!d->loop)
		return -errno;

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	r = d->signal_fd < 0 ? -errno : loop_add(d->loop, d->signal_fd, EPOLLIN, signal_cb, d);
	if (r < 0) {
		log_err("signalfd: %s", strerror(-r));
		return r;
	}

	char why[CONF_STR_MAX + 160];
	r = state_dir_check(d->cfg.control_socket, why, sizeof why);
	if (r < 0) {
		log_err("control socket %s: %s; not starting", d->cfg.control_socket, why);
		return r;
	}
	r = control_open(d->loop, d->cfg.control_socket, daemon_command, d, &d->control);
	if (r == -EADDRINUSE) {
		log_err("another ksmd is running on %s; not starting", d->cfg.control_socket);
		return r;
	}
	if (r < 0) {
		log_err("control socket %s: %s", d->cfg.control_socket, strerror(-r));
		return r;
	}

	state_init(d);
	ksm_probe(d);
	owners_tick(d, ksm_collect(d)); /* looks for other managers before touching KSM */
	r = modules_init(d);
	if (r < 0)
		return r;

	d->tick_fd = loop_add_timer(d->loop, d->cfg.tick_usec, tick_cb, d);
	if (d->tick_fd < 0) {
		log_err("timerfd: %s", strerror(-d->tick_fd));
		return d->tick_fd;
	}
	/* A first tick and snapshot right away, so readers never see nothing. */
	ksm_collect(d);
	modules_tick_owned(d);
	publish(d, daemon_snapshot(d));
	d->started = true;
	return 0;
}

int daemon_run(struct daemon *d)
{
	log_info("ksmd %s running: %zu guests configured, control socket %s%s", KSMD_VERSION,
		 d->cfg.n_guests, d->cfg.control_socket, d->cfg.policy.dry_run ? ", dry run" : "");
	sd_notifyf("READY=1\nSTATUS=running\nMAINPID=%d", (int)getpid());
	int r = loop_run(d->loop);
	if (r < 0) {
		log_err("event loop: %s", strerror(-r));
		return 1;
	}
	sd_notifyf("STOPPING=1");
	return d->exit_code;
}

/* At exit, after KSM is restored: a clean exit drops the overrides (they
 * hold while ksmd runs) and removes the file, unless it still carries KSM
 * settings nobody restored (KSM not writable, a failed restore). A start
 * that failed leaves the file as it is: what a crashed ksmd left is still
 * there for the ksmd that starts next. */
static void state_fini(struct daemon *d)
{
	if (!d->state_owned || !d->started)
		return;
	if (!d->state.ksm_saved_valid) {
		unlink(d->state_path);
		return;
	}
	json_object_clear(d->state.overrides);
	daemon_save_state(d);
}

void daemon_fini(struct daemon *d)
{
	modules_fini(d);
	ksm_stop(d, true);
	state_fini(d);
	state_free(&d->state);
	stats_shutdown();
	if (d->control)
		control_close(d->control);
	if (d->tick_fd >= 0)
		close(d->tick_fd);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	loop_free(d->loop);
	config_free(&d->cfg);
}
