/* balloon.c — the balloon object and its QMP (QEMU virtio-balloon) backend.
 *
 * A balloon keeps the last known truth about one guest — state, target,
 * actual size, statistics with their age, capabilities — and turns
 * set_target requests into backend actions after the safety clamp.
 *
 * QMP backend life cycle. When the client reaches READY the balloon asks,
 * all at once (QMP answers in order, nothing waits on anything):
 *   query-balloon                  actual size; an error of class
 *                                  DeviceNotActive or CommandNotFound means
 *                                  there is no balloon device: NO_DEVICE
 *   query-memory-size-summary      base-memory = the boot size = max (unless
 *                                  configured); older QEMUs: query-memdev
 *   qom-list /machine/peripheral   the balloon's QOM path is found, not
 *                                  assumed: a child whose type starts with
 *                                  "child<virtio-balloon"; else the same in
 *                                  /machine/peripheral-anon
 * and then, on the found path, sets guest-stats-polling-interval and reads
 * deflate-on-oom and free-page-reporting for the capabilities.
 * Every stats interval it reads query-balloon and guest-stats again;
 * BALLOON_CHANGE events update actual in between.
 *
 * guest-stats carries "last-update" (host wall-clock seconds when the
 * guest last reported; 0 = never) and -1 for any statistic the guest does
 * not report. -1 values are left out; the sample's age is computed from
 * last-update so a guest whose driver stopped reporting shows old stats as
 * old instead of fresh.
 *
 * When QEMU dies its socket closes: pending commands fail (-ECONNRESET) and
 * the guest is GONE; the client reconnects with backoff and the setup above
 * runs again. A restarted QEMU starts with an empty balloon, so the old
 * target is forgotten.
 *
 * Shared mode (cfg.qmp_shared: a monitor other clients use too, such as
 * Proxmox's VMID.qmp) holds no connection: the qmp_client is on_demand and
 * every operation is a connection of its own - the refresh every stats
 * interval, a set_target, the setup above the first time - closed as soon
 * as its replies are in, or failed at request_timeout. The setup's facts
 * (QOM path, max, caps) are kept until a connection finds another QEMU pid.
 * A monitor that does not greet in time or whose backlog is full is BUSY,
 * as is a refusal while the known QEMU lives (else GONE); the last values
 * stay and the next refresh tries again. A connection is never closed and
 * another opened within one call: the loop must see fd -1 in between, so an
 * operation asked for right after a close starts at the next balloon_tick. */
#include "balloon/internal.h"
#include "common/log.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>
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

/* QEMU's names (qapi/machine.json, hw/virtio/virtio-balloon.c). */
static const struct { const char *qmp; enum balloon_stat s; } qmp_stat_map[] = {
	{ "stat-free-memory", BALLOON_STAT_FREE },
	{ "stat-available-memory", BALLOON_STAT_AVAILABLE },
	{ "stat-total-memory", BALLOON_STAT_TOTAL },
	{ "stat-disk-caches", BALLOON_STAT_DISK_CACHES },
	{ "stat-major-faults", BALLOON_STAT_MAJOR_FAULTS },
	{ "stat-minor-faults", BALLOON_STAT_MINOR_FAULTS },
	{ "stat-swap-in", BALLOON_STAT_SWAP_IN },
	{ "stat-swap-out", BALLOON_STAT_SWAP_OUT },
	{ "stat-htlb-pgalloc", BALLOON_STAT_HTLB_PGALLOC },
	{ "stat-htlb-pgfail", BALLOON_STAT_HTLB_PGFAIL },
	{ "stat-oom-kills", BALLOON_STAT_OOM_KILLS },
	{ "stat-alloc-stalls", BALLOON_STAT_ALLOC_STALLS },
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

int balloon_parse_guest_stats(json_t *ret, usec_t now_mono, usec_t now_real,
			      struct balloon_stats *out)
{
	json_t *stats = json_object_get(ret, "stats");
	json_t *lu = json_object_get(ret, "last-update");
	if (!json_is_object(stats) || !json_is_integer(lu))
		return -EINVAL;
	json_int_t last = json_integer_value(lu);
	if (last <= 0)
		return -ENODATA;
	memset(out, 0, sizeof *out);
	const char *key;
	json_t *v;
	json_object_foreach(stats, key, v) {
		if (!json_is_integer(v))
			continue;
		json_int_t x = json_integer_value(v);
		if (x < 0)
			continue; /* -1: the guest does not report it */
		bool known = false;
		for (size_t i = 0; i < ARRAY_SIZE(qmp_stat_map); i++)
			if (!strcmp(key, qmp_stat_map[i].qmp)) {
				out->value[qmp_stat_map[i].s] = (uint64_t)x;
				out->valid_mask |= 1u << qmp_stat_map[i].s;
				known = true;
				break;
			}
		if (!known && out->n_extra < BALLOON_STATS_EXTRA) {
			const char *n = strncmp(key, "stat-", 5) ? key : key + 5;
			snprintf(out->extra[out->n_extra].name, sizeof out->extra[0].name, "%s", n);
			out->extra[out->n_extra].value = (uint64_t)x;
			out->n_extra++;
		}
	}
	usec_t last_real = (usec_t)last * USEC_PER_SEC;
	usec_t age = now_real > last_real ? now_real - last_real : 0;
	out->updated_usec = now_mono > age ? now_mono - age : 1;
	return 0;
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

static bool no_device_error(const struct qmp_reply *r)
{
	return r->err == -EREMOTEIO && r->err_class &&
	       (!strcmp(r->err_class, "DeviceNotActive") ||
		!strcmp(r->err_class, "CommandNotFound"));
}

/* ---- QMP replies ---- */

static void on_query_balloon(struct qmp_client *c, const struct qmp_reply *r, void *ud)
{
	struct balloon *b = ud;
	(void)c;
	if (r->err == -ECANCELED)
		return;
	if (b->refresh_inflight)
		b->refresh_inflight--;
	usec_t now = r->now_usec;
	if (no_device_error(r)) {
		balloon_set_state(b, BALLOON_NO_DEVICE, "no balloon device: %s: %s",
				  r->err_class, r->err_desc);
		return;
	}
	if (r->err) {
		if (r->err != -ECONNRESET)
			log_warn("balloon %s: query-balloon: %s, ignoring", b->name,
				 r->err == -EREMOTEIO ? r->err_desc : strerror(-r->err));
		return;
	}
	json_t *a = json_object_get(r->ret, "actual");
	if (!json_is_integer(a) || json_integer_value(a) <= 0) {
		log_warn("balloon %s: query-balloon without a usable actual, ignoring", b->name);
		return;
	}
	balloon_set_actual(b, (uint64_t)json_integer_value(a), now);
	if (b->state == BALLOON_CONNECTING)
		balloon_set_state(b, BALLOON_READY, NULL);
}

void balloon_learn_max(struct balloon *b, uint64_t max_bytes)
{
	b->limits.max_bytes = max_bytes;
	b->limits.min_bytes = b->cfg.min_bytes;
	balloon_limits_default(&b->limits, b->cfg.min_percent);
	b->max_known = true;
}

static void on_memory_size(struct qmp_client *c, const struct qmp_reply *r, void *ud)
{
	struct balloon *b = ud;
	(void)c;
	if (r->err || b->max_known)
		return;
	json_t *bm = json_object_get(r->ret, "base-memory");
	if (json_is_integer(bm) && json_integer_value(bm) > 0)
		balloon_learn_max(b, (uint64_t)json_integer_value(bm));
}

static void on_query_memdev(struct qmp_client *c, const struct qmp_reply *r, void *ud)
{
	struct balloon *b = ud;
	(void)c;
	if (r->err || b->max_known || !json_is_array(r->ret))
		return;
	uint64_t sum = 0;
	size_t i;
	json_t *m;
	json_array_foreach(r->ret, i, m) {
		json_t *s = json_object_get(m, "size");
		if (json_is_integer(s) && json_integer_value(s) > 0)
			sum += (uint64_t)json_integer_value(s);
	}
	if (sum)
		balloon_learn_max(b, sum);
}

static void on_guest_stats(struct qmp_client *c, const struct qmp_reply *r, void *ud)
{
	struct balloon *b = ud;
	(void)c;
	if (r->err == -ECANCELED)
		return;
	if (b->refresh_inflight)
		b->refresh_inflight--;
	if (r->err) {
		if (r->err == -EREMOTEIO) {
			log_warn("balloon %s: guest-stats: %s, not polling stats", b->name, r->err_desc);
			b->stats_supported = false;
		}
		return;
	}
	struct balloon_stats st;
	usec_t now = r->now_usec;
	int e = balloon_parse_guest_stats(r->ret, now, now_realtime_usec(), &st);
	if (e == -ENODATA)
		return; /* the guest has not reported yet */
	if (e < 0) {
		log_warn("balloon %s: unexpected guest-stats reply, ignoring", b->name);
		return;
	}
	b->caps |= BALLOON_CAP_STATS;
	usec_t stale = 3 * b->cfg.stats_interval_usec + 2 * USEC_PER_SEC;
	if (now - st.updated_usec > stale) {
		if (!b->stale_logged)
			log_info("balloon %s: guest stats are %llu s old (driver not reporting?)",
				 b->name, (unsigned long long)((now - st.updated_usec) / USEC_PER_SEC));
		b->stale_logged = true;
	} else {
		b->stale_logged = false;
	}
	b->stats = st;
	balloon_notify(b, BALLOON_EV_STATS);
}

static void on_bool_prop(struct qmp_client *c, const struct qmp_reply *r, void *ud, uint32_t cap)
{
	struct balloon *b = ud;
	(void)c;
	if (!r->err && json_is_true(r->ret))
		b->caps |= cap;
}
static void on_deflate(struct qmp_client *c, const struct qmp_reply *r, void *ud)
{
	on_bool_prop(c, r, ud, BALLOON_CAP_DEFLATE_ON_OOM);
}
static void on_fpr(struct qmp_client *c, const struct qmp_reply *r, void *ud)
{
	on_bool_prop(c, r, ud, BALLOON_CAP_FREE_PAGE_REPORTING);
}

static void on_ignore(struct qmp_client *c, const struct qmp_reply *r, void *ud)
{
	struct balloon *b = ud;
	(void)c;
	if (r->err == -EREMOTEIO)
		log_warn("balloon %s: %s, ignoring", b->name, r->err_desc);
}

static void qom_get(struct balloon *b, const char *prop, qmp_reply_fn fn, usec_t now)
{
	(void)qmp_send(b->qmp, "qom-get", json_pack("{s:s, s:s}", "path", b->qom_path,
						      "property", prop), fn, b, now);
}

static void balloon_found(struct balloon *b, usec_t now)
{
	log_debug("balloon %s: balloon device at %s", b->name, b->qom_path);
	unsigned secs = (unsigned)((b->cfg.stats_interval_usec + USEC_PER_SEC - 1) / USEC_PER_SEC);
	(void)qmp_send(b->qmp, "qom-set",
		       json_pack("{s:s, s:s, s:i}", "path", b->qom_path, "property",
				 "guest-stats-polling-interval", "value", (int)MAX(secs, 1u)),
		       on_ignore, b, now);
	qom_get(b, "deflate-on-oom", on_deflate, now);
	qom_get(b, "free-page-reporting", on_fpr, now);
	b->stats_supported = true;
	b->refresh_inflight++;
	qom_get(b, "guest-stats", on_guest_stats, now);
}

/* Find a child<virtio-balloon...> in a qom-list reply; 1 if found. */
static int find_balloon_child(struct balloon *b, json_t *list, const char *parent)
{
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		const char *type = json_string_value(json_object_get(e, "type"));
		if (name && type && !strncmp(type, "child<virtio-balloon", 20)) {
			snprintf(b->qom_path, sizeof b->qom_path, "%s/%s", parent, name);
			return 1;
		}
	}
	return 0;
}

static void on_list_anon(struct qmp_client *c, const struct qmp_reply *r, void *ud)
{
	struct balloon *b = ud;
	(void)c;
	if (r->err)
		return;
	if (find_balloon_child(b, r->ret, "/machine/peripheral-anon"))
		balloon_found(b, r->now_usec);
	else
		log_info("balloon %s: no virtio-balloon device in the QOM tree: no guest stats",
			 b->name);
}

static void on_list_peripheral(struct qmp_client *c, const struct qmp_reply *r, void *ud)
{
	struct balloon *b = ud;
	if (r->err)
		return;
	usec_t now = r->now_usec;
	if (find_balloon_child(b, r->ret, "/machine/peripheral"))
		balloon_found(b, now);
	else
		(void)qmp_send(c, "qom-list", json_pack("{s:s}", "path", "/machine/peripheral-anon"),
			       on_list_anon, b, now);
}

/* QMP shared mode, below */
static void sh_request_refresh(struct balloon *b, usec_t now);
static void sh_on_state(struct balloon *b, struct qmp_client *c, enum qmp_state s, usec_t now);

static void qmp_refresh(struct balloon *b, usec_t now)
{
	if (b->cfg.qmp_shared && !(b->sh_open && qmp_get_state(b->qmp) == QMP_READY)) {
		sh_request_refresh(b, now); /* no connection to send on yet */
		return;
	}
	if (qmp_get_state(b->qmp) != QMP_READY || b->state == BALLOON_NO_DEVICE)
		return;
	if (b->refresh_inflight)
		return; /* the previous one has not answered: do not pile up */
	b->refresh_inflight++;
	(void)qmp_send(b->qmp, "query-balloon", NULL, on_query_balloon, b, now);
	if (b->qom_path[0] && b->stats_supported) {
		b->refresh_inflight++;
		qom_get(b, "guest-stats", on_guest_stats, now);
	}
}

/* A QEMU to learn on a connection that just became READY: its pid, max,
 * balloon and first actual and stats (all queued at once). */
static void qmp_setup(struct balloon *b, struct qmp_client *c, usec_t now)
{
	b->pid = qmp_peer_pid(c);
	b->qom_path[0] = '\0';
	b->refresh_inflight = 0;
	b->stale_logged = false;
	if (!b->cfg.max_bytes) {
		(void)qmp_send(c, "query-memory-size-summary", NULL, on_memory_size, b, now);
		(void)qmp_send(c, "query-memdev", NULL, on_query_memdev, b, now);
	}
	b->refresh_inflight++;
	(void)qmp_send(c, "query-balloon", NULL, on_query_balloon, b, now);
	(void)qmp_send(c, "qom-list", json_pack("{s:s}", "path", "/machine/peripheral"),
		       on_list_peripheral, b, now);
	b->next_refresh_usec = now + b->cfg.stats_interval_usec;
	balloon_set_state(b, BALLOON_CONNECTING, "negotiated, querying");
}

/* QEMU went away: a restarted QEMU starts with an empty balloon. */
static void qmp_forget(struct balloon *b)
{
	b->target_bytes = 0;
	b->actual_bytes = 0;
	b->actual_usec = 0;
	memset(&b->progress, 0, sizeof b->progress);
	b->caps = 0;
	if (!b->cfg.max_bytes)
		b->max_known = false;
}

static void on_qmp_state(struct qmp_client *c, enum qmp_state old, enum qmp_state s,
			 usec_t now, void *ud)
{
	struct balloon *b = ud;
	(void)old;
	if (b->cfg.qmp_shared) {
		sh_on_state(b, c, s, now);
		return;
	}
	switch (s) {
	case QMP_READY:
		qmp_setup(b, c, now);
		break;
	case QMP_BUSY:
		balloon_set_state(b, BALLOON_BUSY, "%s", qmp_last_error(c));
		break;
	case QMP_DISCONNECTED:
	case QMP_CLOSED:
		qmp_forget(b);
		balloon_set_state(b, BALLOON_GONE, "%s", qmp_last_error(c));
		break;
	case QMP_CONNECTING:
	case QMP_GREETING:
	case QMP_NEGOTIATING:
		break;
	}
}

static void on_qmp_event(struct qmp_client *c, const char *ev, json_t *data, usec_t now,
			 void *ud)
{
	struct balloon *b = ud;
	(void)c;
	if (!strcmp(ev, "BALLOON_CHANGE")) {
		json_t *a = json_object_get(data, "actual");
		if (json_is_integer(a) && json_integer_value(a) > 0)
			balloon_set_actual(b, (uint64_t)json_integer_value(a), now);
	} else if (!strcmp(ev, "SHUTDOWN")) {
		log_info("balloon %s: guest is shutting down", b->name);
	}
}

static void on_set_target(struct qmp_client *c, const struct qmp_reply *r, void *ud)
{
	struct balloon *b = ud;
	(void)c;
	if (r->err == -ECANCELED)
		return;
	if (no_device_error(r)) {
		balloon_set_state(b, BALLOON_NO_DEVICE, "no balloon device: %s: %s",
				  r->err_class, r->err_desc);
	} else if (r->err) {
		snprintf(b->reason, sizeof b->reason, "balloon: %s",
			 r->err == -EREMOTEIO ? r->err_desc : strerror(-r->err));
		log_warn("balloon %s: %s", b->name, b->reason);
	}
	if (r->err)
		b->target_bytes = 0; /* not applied: the next request is sent again */
	balloon_notify(b, BALLOON_EV_TARGET);
}

/* ---- QMP shared mode: a connection per operation ---- */

static int send_target(struct balloon *b, uint64_t t, usec_t now);

static bool pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* An operation's bound, connect to close: the request timeout. */
static usec_t sh_timeout(const struct balloon *b)
{
	return b->cfg.request_timeout_usec ? b->cfg.request_timeout_usec : 5 * USEC_PER_SEC;
}

/* Calls that drive the client nest (callbacks may call set_target): only
 * the outermost one clears sh_closed_now and closes a finished operation. */
static void sh_enter(struct balloon *b)
{
	if (!b->sh_depth++)
		b->sh_closed_now = false;
}

static void sh_close(struct balloon *b, int err, usec_t now)
{
	b->sh_open = false;
	b->sh_closed_now = true;
	b->sh_closing = true;
	qmp_close(b->qmp, err, now); /* commands still pending fail with err */
	b->sh_closing = false;
	b->refresh_inflight = 0;
}

/* The operation failed (its socket is closed or closed here): keep the last
 * known values unless QEMU is gone; the next refresh tries again. */
static void sh_failed(struct balloon *b, usec_t now, bool busy, const char *why)
{
	if (!b->sh_open)
		return;
	char r[sizeof b->reason];
	snprintf(r, sizeof r, "%s", why); /* why may be the client's last error */
	sh_close(b, -ETIMEDOUT, now);
	bool target = b->sh_want_target;
	b->sh_want_refresh = b->sh_want_target = false;
	b->next_refresh_usec = now + b->cfg.stats_interval_usec; /* the next try */
	if (busy || pid_alive(b->pid)) {
		balloon_set_state(b, BALLOON_BUSY, "%s", r);
	} else {
		qmp_forget(b);
		b->sh_learned = false;
		balloon_set_state(b, BALLOON_GONE, "%s", r);
	}
	if (target) {
		b->target_bytes = 0; /* not applied: the next request is sent again */
		balloon_notify(b, BALLOON_EV_TARGET);
	}
}

/* Open a connection for the work asked for (sh_want_*), unless one is open
 * or one was closed earlier in this same call: then balloon_tick opens it. */
static void sh_open_op(struct balloon *b, usec_t now)
{
	if (b->sh_open || (b->sh_depth && b->sh_closed_now))
		return;
	sh_enter(b);
	b->sh_open = true;
	b->sh_setup_op = false;
	b->sh_deadline_usec = now + sh_timeout(b);
	qmp_start(b->qmp, now);
	if (qmp_fd(b->qmp) < 0) /* refused, or the backlog full, at once */
		sh_failed(b, now, qmp_get_state(b->qmp) == QMP_BUSY, qmp_last_error(b->qmp));
	b->sh_depth--;
}

/* An operation past its bound fails: the monitor is held or QEMU hangs. */
static void sh_check_deadline(struct balloon *b, usec_t now)
{
	if (!b->sh_open || now < b->sh_deadline_usec)
		return;
	char why[96];
	snprintf(why, sizeof why, "monitor busy: the operation did not finish within %llu ms",
		 (unsigned long long)(sh_timeout(b) / USEC_PER_MSEC));
	sh_failed(b, now, true, why);
}

/* Leave a call that drove the client: the outermost one closes a finished
 * operation, and fails one past its deadline. */
static void sh_leave(struct balloon *b, usec_t now)
{
	if (b->sh_depth == 1 && b->sh_open) {
		sh_check_deadline(b, now);
		if (b->sh_open && qmp_get_state(b->qmp) == QMP_READY && !qmp_pending(b->qmp) &&
		    !b->sh_want_refresh && !b->sh_want_target) {
			if (b->sh_setup_op)
				b->sh_learned = true;
			b->sh_setup_op = false;
			if (b->state == BALLOON_BUSY) /* callbacks may ask for more */
				balloon_set_state(b, BALLOON_READY, NULL);
			if (!qmp_pending(b->qmp) && !b->sh_want_refresh && !b->sh_want_target)
				sh_close(b, -ECONNRESET, now);
		}
	}
	b->sh_depth--;
}

static void sh_request_refresh(struct balloon *b, usec_t now)
{
	if (b->state == BALLOON_NO_DEVICE) {
		/* nothing to read; notice only a QEMU that went away */
		if (!pid_alive(b->pid)) {
			qmp_forget(b);
			b->sh_learned = false;
			balloon_set_state(b, BALLOON_GONE, "QEMU (pid %d) exited", (int)b->pid);
		}
		return;
	}
	b->sh_want_refresh = true;
	sh_open_op(b, now);
}

/* set_target without a READY connection: queue it and open one. */
static int sh_queue_target(struct balloon *b, uint64_t t, usec_t now)
{
	b->sh_target_bytes = t;
	b->sh_want_target = true;
	b->target_bytes = t;
	balloon_track_progress(b, now);
	sh_open_op(b, now); /* a failure right away is reported by BALLOON_EV_TARGET */
	return 0;
}

static void sh_ready(struct balloon *b, struct qmp_client *c, usec_t now)
{
	pid_t pid = qmp_peer_pid(c);
	if (b->sh_learned && pid == b->pid) {
		if (b->sh_want_refresh) {
			b->sh_want_refresh = false;
			qmp_refresh(b, now);
		}
		if (b->sh_want_target) {
			b->sh_want_target = false;
			if (send_target(b, b->sh_target_bytes, now) < 0) {
				b->target_bytes = 0;
				balloon_notify(b, BALLOON_EV_TARGET);
			}
		}
		return;
	}
	if (b->sh_learned) {
		log_info("balloon %s: another QEMU (pid %d, was %d) behind the monitor: learning it",
			 b->name, (int)pid, (int)b->pid);
		qmp_forget(b);
	}
	b->sh_learned = false;
	b->sh_setup_op = true;
	b->sh_want_refresh = false; /* the setup reads actual and stats */
	if (b->sh_want_target) {    /* asked of the QEMU that was there */
		b->sh_want_target = false;
		b->target_bytes = 0;
		balloon_notify(b, BALLOON_EV_TARGET);
	}
	qmp_setup(b, c, now);
}

static void sh_on_state(struct balloon *b, struct qmp_client *c, enum qmp_state s, usec_t now)
{
	switch (s) {
	case QMP_READY:
		sh_ready(b, c, now);
		break;
	case QMP_BUSY:
		sh_failed(b, now, true, qmp_last_error(c));
		break;
	case QMP_DISCONNECTED:
	case QMP_CLOSED:
		if (!b->sh_closing)
			sh_failed(b, now, false, qmp_last_error(c));
		break;
	case QMP_CONNECTING:
	case QMP_GREETING:
	case QMP_NEGOTIATING:
		break;
	}
}

static void sh_tick(struct balloon *b, usec_t now)
{
	sh_enter(b);
	qmp_tick(b->qmp, now);
	sh_check_deadline(b, now);
	if (now >= b->next_refresh_usec) {
		b->next_refresh_usec = now + b->cfg.stats_interval_usec;
		qmp_refresh(b, now);
	}
	if (!b->sh_open && (b->sh_want_refresh || b->sh_want_target))
		sh_open_op(b, now); /* asked for right after a close */
	sh_leave(b, now);
	balloon_track_progress(b, now);
}

/* ---- construction ---- */

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

static struct qmp_config qmp_cfg_of(const struct balloon_config *c)
{
	return (struct qmp_config){
		.request_timeout_usec = c->request_timeout_usec,
		.greeting_timeout_usec = c->greeting_timeout_usec,
		.reconnect_min_usec = c->reconnect_min_usec,
		.reconnect_max_usec = c->reconnect_max_usec,
		.on_demand = c->qmp_shared,
	};
}

static const struct qmp_callbacks qmp_cbs = { .on_event = on_qmp_event, .on_state = on_qmp_state };

struct balloon *balloon_new_qmp(const char *name, const char *qmp_path,
				const struct balloon_config *cfg, balloon_event_fn cb, void *ud)
{
	struct balloon *b = balloon_alloc(name, BALLOON_BACKEND_QMP, cfg, cb, ud);
	if (!b)
		return NULL;
	struct qmp_config qc = qmp_cfg_of(&b->cfg);
	b->qmp = qmp_new(b->name, qmp_path, &qc, &qmp_cbs, b);
	if (!b->qmp) {
		balloon_free(b);
		return NULL;
	}
	return b;
}

struct balloon *balloon_new_qmp_fd(const char *name, int fd, const struct balloon_config *cfg,
				   balloon_event_fn cb, void *ud, usec_t now)
{
	struct balloon *b = balloon_alloc(name, BALLOON_BACKEND_QMP, cfg, cb, ud);
	if (!b) {
		close(fd);
		return NULL;
	}
	b->cfg.qmp_shared = false; /* a connection given, none to open */
	struct qmp_config qc = qmp_cfg_of(&b->cfg);
	b->qmp = qmp_new_fd(b->name, fd, &qc, &qmp_cbs, b, now);
	if (!b->qmp) {
		balloon_free(b);
		return NULL;
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
	if (b->backend == BALLOON_BACKEND_LIBVIRT)
		balloon_libvirt_detach(b);
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
	sh_enter(b);
	qmp_on_readable(b->qmp, now);
	sh_leave(b, now); /* shared mode: closes a finished operation */
}
void balloon_on_writable(struct balloon *b, usec_t now)
{
	if (!b->qmp)
		return;
	sh_enter(b);
	qmp_on_writable(b->qmp, now);
	sh_leave(b, now);
}

void balloon_tick(struct balloon *b, usec_t now)
{
	if (b->qmp && b->cfg.qmp_shared) {
		sh_tick(b, now);
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
	if (b->backend == BALLOON_BACKEND_QMP)
		qmp_refresh(b, now);
	else if (b->backend == BALLOON_BACKEND_LIBVIRT)
		balloon_libvirt_refresh(b, now);
	else if (b->state != BALLOON_ERROR)
		balloon_cgroup_refresh(b, now);
}

static int send_target(struct balloon *b, uint64_t t, usec_t now)
{
	if (b->backend == BALLOON_BACKEND_CGROUP) {
		int r = balloon_cgroup_set(b, t);
		if (r < 0)
			return r;
		b->target_bytes = t;
		balloon_cgroup_refresh(b, now);
		balloon_track_progress(b, now);
		balloon_notify(b, BALLOON_EV_TARGET);
		return 0;
	}
	if (b->backend == BALLOON_BACKEND_LIBVIRT)
		return balloon_libvirt_set(b, t, now);
	if (b->cfg.qmp_shared && !(b->sh_open && qmp_get_state(b->qmp) == QMP_READY))
		return sh_queue_target(b, t, now);
	int64_t id = qmp_send(b->qmp, "balloon", json_pack("{s:I}", "value", (json_int_t)t),
			      on_set_target, b, now);
	if (id < 0)
		return (int)id;
	b->target_bytes = t;
	balloon_track_progress(b, now);
	return 0;
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
			sh_enter(bs[i]);
			qmp_on_writable(bs[i]->qmp, now);
			qmp_on_readable(bs[i]->qmp, now);
			qmp_tick(bs[i]->qmp, now);
			sh_leave(bs[i], now); /* shared mode: closes what is done */
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
