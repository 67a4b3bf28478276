/* balloon.c — the balloon object: state, clamp wiring, loop wiring, exit.
 *
 * A balloon keeps the last known truth about one guest — state, target,
 * actual size, statistics with their age, capabilities — and turns
 * set_target requests into backend actions after the safety clamp.
 *
 * The backends: QMP (qmp_backend.c, its shared mode qmp_shared.c),
 * libvirt (libvirt.c, its connection libvirt_conn.c), cgroup (cgroup.c).
 * Each is a row of backend_ops[] (struct balloon_ops, internal.h): this
 * file calls a balloon's backend through its row and never names one, so
 * a step only one backend has (libvirt's read of the size before a
 * policy target) is a hook of that backend's row, not a branch here. */
#include "balloon/internal.h"
#include "common/log.h"

#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const stat_names[BALLOON_STAT_COUNT] = {
	[BALLOON_STAT_FREE] = "free",
	[BALLOON_STAT_AVAILABLE] = "available",
	[BALLOON_STAT_TOTAL] = "total",
	[BALLOON_STAT_DISK_CACHES] = "disk_caches",
	[BALLOON_STAT_MAJOR_FAULTS] = "major_faults",
	[BALLOON_STAT_MINOR_FAULTS] = "minor_faults",
	[BALLOON_STAT_SWAP_IN] = "swap_in",
	[BALLOON_STAT_SWAP_OUT] = "swap_out",
	[BALLOON_STAT_HTLB_PGALLOC] = "htlb_pgalloc",
	[BALLOON_STAT_HTLB_PGFAIL] = "htlb_pgfail",
	[BALLOON_STAT_OOM_KILLS] = "oom_kills",
	[BALLOON_STAT_ALLOC_STALLS] = "alloc_stalls",
	[BALLOON_STAT_USAGE] = "usage",
};

const char *balloon_stat_name(enum balloon_stat s)
{
	return (unsigned)s < BALLOON_STAT_COUNT ? stat_names[s] : "?";
}

const char *balloon_state_name(enum balloon_state s)
{
	switch (s) {
	case BALLOON_CONNECTING: return "connecting";
	case BALLOON_READY: return "ready";
	case BALLOON_NO_DEVICE: return "no-device";
	case BALLOON_BUSY: return "busy";
	case BALLOON_GONE: return "gone";
	case BALLOON_ERROR: return "error";
	}
	return "?";
}

void balloon_notify(struct balloon *b, enum balloon_event ev)
{
	if (b->cb)
		b->cb(b, ev, b->userdata);
}

void balloon_set_state(struct balloon *b, enum balloon_state s, const char *fmt, ...)
{
	char r[sizeof b->reason] = "";
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r, sizeof r, fmt, ap);
		va_end(ap);
	}
	memcpy(b->reason, r, sizeof r);
	if (b->state == s)
		return;
	log_info("balloon %s: %s -> %s%s%s", b->name, balloon_state_name(b->state),
		 balloon_state_name(s), r[0] ? ": " : "", r);
	b->state = s;
	balloon_notify(b, BALLOON_EV_STATE);
}

void balloon_track_progress(struct balloon *b, usec_t now)
{
	if (b->target_bytes && b->actual_bytes)
		balloon_progress_update(&b->progress, &b->cfg.progress, b->target_bytes,
					b->actual_bytes, now);
}

void balloon_set_actual(struct balloon *b, uint64_t actual, usec_t now)
{
	b->actual_bytes = actual;
	b->actual_usec = now;
	balloon_track_progress(b, now);
	balloon_notify(b, BALLOON_EV_ACTUAL);
}

void balloon_learn_max(struct balloon *b, uint64_t max_bytes)
{
	b->limits.max_bytes = max_bytes;
	b->limits.min_bytes = b->cfg.min_bytes;
	balloon_limits_default(&b->limits, b->cfg.min_percent);
	b->max_known = true;
}

/* ---- construction ---- */

static const struct balloon_ops *const backend_ops[] = {
	[BALLOON_BACKEND_QMP] = &balloon_qmp_ops,
	[BALLOON_BACKEND_CGROUP] = &balloon_cgroup_ops,
	[BALLOON_BACKEND_LIBVIRT] = &balloon_libvirt_ops,
};

static const struct balloon_ops *ops_of(const struct balloon *b)
{
	return backend_ops[b->backend];
}

struct balloon *balloon_alloc(const char *name, enum balloon_backend be,
				     const struct balloon_config *cfg,
				     balloon_event_fn cb, void *userdata)
{
	struct balloon *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->name = strdup(name ? name : "?");
	if (!b->name) {
		free(b);
		return NULL;
	}
	if (cfg)
		b->cfg = *cfg;
	if (!b->cfg.stats_interval_usec)
		b->cfg.stats_interval_usec = 2 * USEC_PER_SEC;
	balloon_progress_config_default(&b->cfg.progress);
	b->backend = be;
	b->cb = cb;
	b->userdata = userdata;
	b->state = BALLOON_CONNECTING;
	b->limits.max_bytes = b->cfg.max_bytes;
	b->limits.min_bytes = b->cfg.min_bytes;
	b->limits.max_step_bytes = b->cfg.max_step_bytes;
	if (b->cfg.max_bytes) {
		balloon_limits_default(&b->limits, b->cfg.min_percent);
		b->max_known = true;
	}
	return b;
}

struct balloon *balloon_new_cgroup(const char *name, const char *path,
				   const struct balloon_config *cfg, balloon_event_fn cb, void *ud)
{
	struct balloon *b = balloon_alloc(name, BALLOON_BACKEND_CGROUP, cfg, cb, ud);
	if (!b)
		return NULL;
	int r = balloon_cgroup_open(b, path);
	if (r < 0)
		balloon_set_state(b, BALLOON_ERROR, "cgroup %s: %s", path, strerror(-r));
	return b;
}

void balloon_free(struct balloon *b)
{
	if (!b)
		return;
	if (ops_of(b)->detach)
		ops_of(b)->detach(b);
	qmp_free(b->qmp);
	free(b->cg_dir);
	free(b->cg_rel);
	free(b->name);
	free(b);
}

/* ---- loop wiring ---- */

int balloon_fd(const struct balloon *b) { return b->qmp ? qmp_fd(b->qmp) : -1; }
uint32_t balloon_epoll_events(const struct balloon *b) { return b->qmp ? qmp_epoll_events(b->qmp) : 0; }
int balloon_epoll_sync(struct balloon *b, int epfd, void *ptr)
{
	return b->qmp ? qmp_epoll_sync(b->qmp, epfd, ptr) : 0;
}
void balloon_on_readable(struct balloon *b, usec_t now)
{
	if (!b->qmp)
		return;
	balloon_sh_enter(b);
	qmp_on_readable(b->qmp, now);
	balloon_sh_leave(b, now); /* shared mode: closes a finished operation */
}
void balloon_on_writable(struct balloon *b, usec_t now)
{
	if (!b->qmp)
		return;
	balloon_sh_enter(b);
	qmp_on_writable(b->qmp, now);
	balloon_sh_leave(b, now);
}

void balloon_tick(struct balloon *b, usec_t now)
{
	if (b->qmp && b->cfg.qmp_shared) {
		balloon_sh_tick(b, now);
		return;
	}
	if (b->qmp)
		qmp_tick(b->qmp, now);
	if (now >= b->next_refresh_usec) {
		b->next_refresh_usec = now + b->cfg.stats_interval_usec;
		balloon_refresh(b, now);
	}
	balloon_track_progress(b, now);
}

usec_t balloon_next_deadline(const struct balloon *b)
{
	usec_t d = b->next_refresh_usec;
	if (b->qmp)
		d = MIN(d, qmp_next_deadline(b->qmp));
	if (b->sh_open)
		d = MIN(d, b->sh_deadline_usec);
	else if (b->sh_want_refresh || b->sh_want_target)
		d = 0; /* shared mode: an operation waits for the next tick */
	return d;
}

void balloon_refresh(struct balloon *b, usec_t now)
{
	ops_of(b)->refresh(b, now);
}

/* A target to the backend, counted when the backend took it. */
static int send_target(struct balloon *b, uint64_t t, usec_t now)
{
	int r = ops_of(b)->set(b, t, now);
	if (r >= 0)
		b->targets_sent++;
	return r;
}

int balloon_set_target(struct balloon *b, uint64_t target_bytes, usec_t now, uint64_t *sent)
{
	if (b->state != BALLOON_READY)
		return -EAGAIN;
	if (!b->max_known)
		return -ERANGE;
	uint64_t from = b->target_bytes ? b->target_bytes : b->actual_bytes;
	if (!from)
		from = b->limits.max_bytes;
	uint64_t t = balloon_clamp_target(target_bytes, from, &b->limits);
	if (sent)
		*sent = t;
	if (t == b->target_bytes)
		return 0; /* already asked for */
	if (ops_of(b)->before_target) {
		int r = ops_of(b)->before_target(b, now);
		if (r < 0)
			return r;
		if (b->state != BALLOON_READY) /* the hook found it gone or busy */
			return -EAGAIN;
	}
	return send_target(b, t, now);
}

int balloon_override(struct balloon *b, uint64_t size, usec_t now, char *err, size_t err_len)
{
	if (b->state != BALLOON_READY || !b->max_known) {
		snprintf(err, err_len, "guest %s: balloon not ready (%s%s%s)", b->name,
			 balloon_state_name(b->state), b->reason[0] ? ": " : "", b->reason);
		return -EAGAIN;
	}
	int r = balloon_validate_override(b->name, size, &b->limits, err, err_len);
	if (r < 0)
		return r;
	r = send_target(b, size, now);
	if (r < 0) /* the backend's own words when it has them (libvirt's) */
		snprintf(err, err_len, "guest %s: %s", b->name, b->reason[0] ? b->reason : strerror(-r));
	return r;
}

void balloon_get_info(const struct balloon *b, struct balloon_info *o)
{
	memset(o, 0, sizeof *o);
	o->name = b->name;
	o->backend = b->backend;
	o->state = b->state;
	memcpy(o->reason, b->reason, sizeof o->reason);
	o->caps = b->caps;
	o->pid = b->pid;
	o->limits = b->limits;
	if (!b->max_known)
		o->limits.max_bytes = o->limits.min_bytes = 0;
	o->target_bytes = b->target_bytes;
	o->targets_sent = b->targets_sent;
	o->actual_bytes = b->actual_bytes;
	o->actual_usec = b->actual_usec;
	o->stats = b->stats;
	o->progress = b->progress;
	o->pending = b->qmp ? qmp_pending(b->qmp) : 0;
	o->external_bytes = b->external_bytes;
	o->external_usec = b->external_usec;
}

const char *balloon_name(const struct balloon *b) { return b->name; }

/* ---- exit ---- */

int balloon_parse_on_exit(const char *s, enum balloon_on_exit *out)
{
	if (!strcmp(s, "keep"))
		*out = BALLOON_EXIT_KEEP;
	else if (!strcmp(s, "restore"))
		*out = BALLOON_EXIT_RESTORE;
	else
		return -EINVAL;
	return 0;
}

int balloon_exit_all(struct balloon *const *bs, size_t n, enum balloon_on_exit mode,
		     usec_t timeout_usec)
{
	if (mode == BALLOON_EXIT_KEEP)
		return 0;
	int failed = 0;
	usec_t now = now_usec();
	for (size_t i = 0; i < n; i++) {
		struct balloon *b = bs[i];
		if (b->state != BALLOON_READY || !b->max_known) {
			log_warn("balloon %s: not restored to its maximum: %s", b->name,
				 balloon_state_name(b->state));
			failed++;
			continue;
		}
		int r = send_target(b, b->limits.max_bytes, now);
		if (r < 0) {
			log_warn("balloon %s: restore: %s", b->name, strerror(-r));
			failed++;
		}
	}
	/* Drive the QMP clients until their commands completed: this runs
	 * after the event loop stopped, so it polls on its own. */
	usec_t end = now + timeout_usec;
	struct pollfd *p = calloc(n ? n : 1, sizeof *p);
	if (!p)
		return failed + (int)n;
	for (;;) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			if (!bs[i]->qmp || !(qmp_pending(bs[i]->qmp) || bs[i]->sh_open) ||
			    qmp_fd(bs[i]->qmp) < 0)
				continue;
			uint32_t ev = qmp_epoll_events(bs[i]->qmp);
			p[k].fd = qmp_fd(bs[i]->qmp);
			p[k].events = (short)((ev & EPOLLIN ? POLLIN : 0) |
					      (ev & EPOLLOUT ? POLLOUT : 0));
			p[k].revents = 0;
			k++;
		}
		now = now_usec();
		if (!k || now >= end)
			break;
		(void)poll(p, k, (int)MIN((end - now) / USEC_PER_MSEC + 1, 100u));
		now = now_usec();
		for (size_t i = 0; i < n; i++) {
			if (!bs[i]->qmp || qmp_fd(bs[i]->qmp) < 0)
				continue;
			balloon_sh_enter(bs[i]);
			qmp_on_writable(bs[i]->qmp, now);
			qmp_on_readable(bs[i]->qmp, now);
			qmp_tick(bs[i]->qmp, now);
			balloon_sh_leave(bs[i], now); /* shared mode: closes what is done */
		}
	}
	free(p);
	for (size_t i = 0; i < n; i++)
		if (bs[i]->qmp && (qmp_pending(bs[i]->qmp) || bs[i]->sh_open)) {
			log_warn("balloon %s: restore not confirmed in time", bs[i]->name);
			failed++;
		}
	return failed;
}
