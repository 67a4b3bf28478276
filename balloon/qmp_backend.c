/* qmp_backend.c — the balloon's QMP (QEMU virtio-balloon) backend: setup, replies, refresh.
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
 * Shared mode, a connection per operation, is in qmp_shared.c. */
#include "balloon/internal.h"
#include "common/log.h"

#include <errno.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
			qmp_log(c, now, LOG_WARNING, "balloon %s: query-balloon: %s, ignoring", b->name,
				r->err == -EREMOTEIO ? r->err_desc : strerror(-r->err));
		return;
	}
	json_t *a = json_object_get(r->ret, "actual");
	if (!json_is_integer(a) || json_integer_value(a) <= 0) {
		qmp_log(c, now, LOG_WARNING, "balloon %s: query-balloon without a usable actual, ignoring",
			b->name);
		return;
	}
	balloon_set_actual(b, (uint64_t)json_integer_value(a), now);
	if (b->state == BALLOON_CONNECTING)
		balloon_set_state(b, BALLOON_READY, NULL);
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
			qmp_log(c, r->now_usec, LOG_WARNING, "balloon %s: guest-stats: %s, not polling stats",
				b->name, r->err_desc);
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
		qmp_log(c, now, LOG_WARNING, "balloon %s: unexpected guest-stats reply, ignoring", b->name);
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
		qmp_log(c, r->now_usec, LOG_WARNING, "balloon %s: %s, ignoring", b->name, r->err_desc);
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

void balloon_qmp_refresh(struct balloon *b, usec_t now)
{
	if (b->cfg.qmp_shared && !(b->sh_open && qmp_get_state(b->qmp) == QMP_READY)) {
		balloon_sh_request_refresh(b, now); /* no connection to send on yet */
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
void balloon_qmp_setup(struct balloon *b, struct qmp_client *c, usec_t now)
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
void balloon_qmp_forget(struct balloon *b)
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
		balloon_sh_on_state(b, c, s, now);
		return;
	}
	switch (s) {
	case QMP_READY:
		balloon_qmp_setup(b, c, now);
		break;
	case QMP_BUSY:
		balloon_set_state(b, BALLOON_BUSY, "%s", qmp_last_error(c));
		break;
	case QMP_DISCONNECTED:
	case QMP_CLOSED:
		balloon_qmp_forget(b);
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
		qmp_log(c, now, LOG_INFO, "balloon %s: guest is shutting down", b->name);
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

/* set_target on QMP: `balloon` now, or queued for a shared-mode connection. */
int balloon_qmp_set(struct balloon *b, uint64_t t, usec_t now)
{
	if (b->cfg.qmp_shared && !(b->sh_open && qmp_get_state(b->qmp) == QMP_READY))
		return balloon_sh_queue_target(b, t, now);
	int64_t id = qmp_send(b->qmp, "balloon", json_pack("{s:I}", "value", (json_int_t)t),
			      on_set_target, b, now);
	if (id < 0)
		return (int)id;
	b->target_bytes = t;
	balloon_track_progress(b, now);
	return 0;
}

const struct balloon_ops balloon_qmp_ops = {
	.refresh = balloon_qmp_refresh,
	.set = balloon_qmp_set,
};

/* ---- construction ---- */

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
