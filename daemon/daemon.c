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
}

/* KSM: the executor saves what it finds, so that exit restores it. It
 * touches KSM only while ksm.manage = yes: it starts when that is set (at
 * start or later), and gives KSM its settings back when it is unset. */
static void ksm_probe(struct daemon *d)
{
	d->ksm_available = access(KSM_SYSFS_ROOT "/run", W_OK) == 0;
	if (!d->ksm_available)
		log_warn("KSM: %s/run is not writable (%s); ksmd will not drive KSM, ignoring",
			 KSM_SYSFS_ROOT, strerror(errno));
}

/* Start driving KSM if ksm.manage = yes and it is not driven yet. */
static void daemon_ksm_start(struct daemon *d)
{
	if (!d->ksm_available || d->ksm_driving || !d->cfg.ksm_manage)
		return;
	int r = ksm_driver_init(&d->ksm, KSM_SYSFS_ROOT, NULL);
	if (r < 0) {
		log_warn("KSM: cannot read its settings: %s; ksmd will not drive KSM, ignoring", strerror(-r));
		return;
	}
	d->ksm_driving = true;
	if (d->state.ksm_saved_valid) {
		/* A ksmd before us did not exit cleanly: what is in sysfs now is its
		 * pacing; the operator's settings are the ones it found. */
		d->ksm.saved = d->state.ksm_saved;
		log_warn("KSM: the previous ksmd did not exit cleanly; carrying on, and at exit restoring the "
			 "settings it found (run=%" PRId64 " pages_to_scan=%" PRId64 " sleep_millisecs=%" PRId64 ")",
			 d->ksm.saved.run, d->ksm.saved.pages_to_scan, d->ksm.saved.sleep_millisecs);
	} else {
		d->state.ksm_saved = d->ksm.saved;
		d->state.ksm_saved_valid = true;
		log_info("KSM found at run=%" PRId64 " pages_to_scan=%" PRId64 " sleep_millisecs=%" PRId64,
			 d->ksm.saved.run, d->ksm.saved.pages_to_scan, d->ksm.saved.sleep_millisecs);
	}
	daemon_save_state(d);
}

void daemon_save_state(struct daemon *d)
{
	if (!d->state_owned)
		return;
	int r = state_save(d->state_path, &d->state);
	if (r < 0)
		log_warn("state file %s: %s, ignoring", d->state_path, strerror(-r));
}

/* Stop driving KSM; at_exit honours daemon.restore_ksm. */
static void ksm_stop(struct daemon *d, bool at_exit)
{
	if (!d->ksm_driving)
		return;
	d->ksm_driving = false;
	if (at_exit && !d->cfg.restore_ksm) {
		log_info("KSM: leaving its settings as they are (daemon.restore_ksm = no)");
		return;
	}
	d->state.ksm_saved_valid = false;
	daemon_save_state(d);
	int r = ksm_driver_restore(&d->ksm);
	if (r < 0)
		log_err("KSM: restoring its settings failed: %s", strerror(-r));
	else
		log_info("KSM: settings restored (run=%" PRId64 " pages_to_scan=%" PRId64
			 " sleep_millisecs=%" PRId64 ")",
			 d->ksm.saved.run, d->ksm.saved.pages_to_scan, d->ksm.saved.sleep_millisecs);
}

static void ksm_collect(struct daemon *d)
{
	if (access(KSM_SYSFS_ROOT, R_OK) == 0)
		ksm_read(KSM_SYSFS_ROOT, &d->ksm_now);
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
	ksm_collect(d);
	modules_tick(d);
	json_t *snap = daemon_snapshot(d);
	if (snap && stats_publish(snap) < 0)
		log_warn("stats: publishing the snapshot failed, ignoring");
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
		if (k->live || !strcmp(k->section, "guest"))
			continue;
		config_format(&d->cfg, k, a, sizeof a);
		config_format(&next, k, b, sizeof b);
		if (strcmp(a, b))
			log_warn("reload: %s.%s changed from %s to %s; it takes effect at restart, ignoring",
				 k->section, k->name, a, b);
	}
	/* Copy the live keys into the running configuration; guests are taken whole. */
	struct ksmd_config merged;
	if (config_copy(&merged, &d->cfg) < 0) {
		config_free(&next);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nk; i++) {
		const struct conf_key *k = &keys[i];
		if (!k->live || !strcmp(k->section, "guest"))
			continue;
		config_format(&next, k, b, sizeof b);
		char dotted[128], err[256];
		snprintf(dotted, sizeof dotted, "%s.%s", k->section, k->name);
		config_set(&merged, dotted, b, err, sizeof err);
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
	if (d->cfg.ksm_manage)
		daemon_ksm_start(d);
	else if (d->ksm_driving) {
		log_info("KSM: ksm.manage = no: giving KSM back its settings");
		ksm_stop(d, false);
	}
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
	if (d->signal_fd < 0 || loop_add(d->loop, d->signal_fd, EPOLLIN, signal_cb, d) < 0) {
		log_err("signalfd: %s", strerror(errno));
		return -errno;
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

	d->state_owned = true;
	state_path(d->cfg.control_socket, d->state_path, sizeof d->state_path);
	r = state_load(d->state_path, &d->state);
	if (r == -EBADMSG)
		log_warn("state file %s is unreadable, ignoring it", d->state_path);
	if (!d->state.overrides)
		d->state.overrides = json_object();
	ksm_probe(d);
	daemon_ksm_start(d);
	r = modules_init(d);
	if (r < 0)
		return r;

	d->tick_fd = loop_add_timer(d->loop, d->cfg.tick_usec, tick_cb, d);
	if (d->tick_fd < 0) {
		log_err("timerfd: %s", strerror(-d->tick_fd));
		return d->tick_fd;
	}
	/* A first snapshot right away, so readers never see nothing. */
	ksm_collect(d);
	modules_tick(d);
	json_t *snap = daemon_snapshot(d);
	if (snap)
		stats_publish(snap);
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

void daemon_fini(struct daemon *d)
{
	modules_fini(d);
	ksm_stop(d, true);
	if (d->state_owned)
		unlink(d->state_path); /* a clean exit: nothing to carry over */
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
