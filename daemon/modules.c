/* modules.c — the daemon's start and stop of the tick's modules: the
 * stats server, the scanner and its threads, the configured guests, the
 * libvirt connection and the 100 ms timer that drives the balloons'
 * timeouts and reconnects; their live configuration and ksmdctl's pause
 * and resume. The tick itself is tick.c. */
#include "daemon/guests.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
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

static void scanner_configure(struct daemon *d)
{
	struct scanner *s = d->mod->scanner;
	if (!s)
		return;
	scanner_set_pages_per_sec(s, d->cfg.scanner_pages_per_sec);
	scanner_set_cpu_percent(s, (unsigned)d->cfg.scanner_cpu_percent);
	scanner_set_pass_interval(s, d->cfg.scanner_pass_interval_usec);
	scanner_set_backoff_max(s, d->cfg.scanner_backoff_max_usec);
	scanner_set_pass_interval_max(s, d->cfg.scanner_pass_interval_max_usec);
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

	/* The daemon serves no HTTP itself (http_sep.c): its snapshots are
	 * for ksmdctl, which reads the document, never a rendered body. */
	stats_publish_bodies(false);
	if (d->cfg.stats_enabled) {
		int r = http_sep_start(d->loop, d->cfg.stats_listen, d->cfg.stats_user, &m->http);
		if (r < 0) {
			log_err("stats: cannot listen on %s: %s", d->cfg.stats_listen, strerror(-r));
			return r;
		}
	}
	if (d->cfg.scanner_enabled) {
		struct scanner_conf sc;
		scanner_conf_defaults(&sc);
		sc.threads = (unsigned)d->cfg.scanner_threads;
		sc.pages_per_sec = d->cfg.scanner_pages_per_sec;
		sc.cpu_percent = (unsigned)d->cfg.scanner_cpu_percent;
		sc.pass_interval_usec = d->cfg.scanner_pass_interval_usec;
		sc.backoff_max_usec = d->cfg.scanner_backoff_max_usec;
		sc.pass_interval_max_usec = d->cfg.scanner_pass_interval_max_usec;
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

void modules_publish(struct daemon *d, json_t *snap)
{
	if (d->mod)
		http_sep_publish(d->mod->http, snap);
}

void modules_fini(struct daemon *d)
{
	struct daemon_modules *m = d->mod;
	if (!m)
		return;
	http_sep_stop(m->http);
	m->http = NULL;
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
