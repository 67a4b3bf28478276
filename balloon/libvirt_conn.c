/* libvirt_conn.c — the libvirt connection: connect, events, resync, reconnect.
 *
 * See balloon/libvirt.h for the contract; the balloon backend is libvirt.c.
 *
 * The connection is opened from lv_conn_tick() (never from a callback), with
 * a keepalive, a close callback and two domain event callbacks (lifecycle,
 * balloon change). libvirt reports a lost connection through the close
 * callback, inside its event dispatch, where no libvirt call may be made:
 * the callback only records it, and the next tick tears the connection down
 * and schedules the reconnect. While disconnected every balloon keeps its
 * pid, size, target and limits, and is CONNECTING with the reason; nothing
 * is forgotten and nothing is re-ballooned. On reconnect the running domains
 * are listed again: the ones still there are attached again (a new QEMU pid
 * means a restarted domain, whose old target is forgotten), the ones gone
 * are reported down. */
#include "balloon/libvirt_internal.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "common/log.h"

#define LV_BACKOFF_MIN_USEC (500 * USEC_PER_MSEC)

const char *lv_err(void)
{
	const char *m = virGetLastErrorMessage();
	return m && *m ? m : "unknown libvirt error";
}

static void lv_quiet(void *ud, virErrorPtr e)
{
	(void)ud;
	(void)e; /* every failure is reported by the caller, once */
}

void lv_check_alive(struct lv_conn *c)
{
	if (c->conn && !c->closed && virConnectIsAlive(c->conn) != 1) {
		c->closed = true;
		snprintf(c->close_why, sizeof c->close_why, "%s", lv_err());
	}
}

/* ---- the connection ---- */

static struct balloon *find_balloon(struct lv_conn *c, const char *name)
{
	for (struct balloon *b = c->balloons; b; b = b->lv_next)
		if (!strcmp(b->name, name))
			return b;
	return NULL;
}

static bool known_has(const struct lv_conn *c, const char *name, size_t *at)
{
	for (size_t i = 0; i < c->n_known; i++)
		if (!strcmp(c->known[i], name)) {
			if (at)
				*at = i;
			return true;
		}
	return false;
}

static void known_add(struct lv_conn *c, const char *name)
{
	if (known_has(c, name, NULL))
		return;
	char (*k)[LV_NAME_MAX] = realloc(c->known, (c->n_known + 1) * sizeof *k);
	if (!k)
		return; /* only the "gone while away" check loses it */
	c->known = k;
	snprintf(c->known[c->n_known++], LV_NAME_MAX, "%s", name);
}

static void known_del(struct lv_conn *c, const char *name)
{
	size_t i;
	if (!known_has(c, name, &i))
		return;
	memmove(c->known[i], c->known[i + 1], (c->n_known - i - 1) * sizeof *c->known);
	c->n_known--;
}

static void domain_up(struct lv_conn *c, virDomainPtr dom, const char *why)
{
	const char *name = virDomainGetName(dom);
	if (!name || strlen(name) >= LV_NAME_MAX) {
		if (name)
			log_warn("libvirt: domain '%.40s...': name longer than %d characters, not managed", name,
				 LV_NAME_MAX - 1);
		return;
	}
	if (!lv_name_selected(name, c->domains, c->exclude))
		return;
	struct lv_domain d;
	if (lv_read_domain(c, dom, &d) < 0) {
		log_warn("libvirt: cannot read domain %s: %s; trying again", name, lv_err());
		virResetLastError();
		c->need_resync = true;
		c->next_resync_usec = now_usec() + c->backoff_usec;
		return;
	}
	known_add(c, d.name);
	c->cb(c, LV_DOMAIN_UP, &d, why, c->ud);
}

static void domain_down(struct lv_conn *c, const char *name, const char *why)
{
	if (!known_has(c, name, NULL))
		return;
	known_del(c, name);
	struct balloon *b = find_balloon(c, name);
	if (b)
		lv_detach_dom(b);
	struct lv_domain d;
	memset(&d, 0, sizeof d);
	snprintf(d.name, sizeof d.name, "%s", name);
	c->cb(c, LV_DOMAIN_DOWN, &d, why, c->ud);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	struct lv_conn *c = opaque;
	(void)conn;
	const char *name = virDomainGetName(dom);
	if (!name)
		return 0;
	static const char *const stopped[] = { "shut down", "destroyed", "crashed", "migrated away",
					       "saved", "failed", "stopped from a snapshot" };
	switch (event) {
	case VIR_DOMAIN_EVENT_STARTED:
		domain_up(c, dom, detail == VIR_DOMAIN_EVENT_STARTED_MIGRATED ? "migrated in" : "started");
		break;
	case VIR_DOMAIN_EVENT_RESUMED:
		if (detail == VIR_DOMAIN_EVENT_RESUMED_MIGRATED && !known_has(c, name, NULL))
			domain_up(c, dom, "migrated in");
		break;
	case VIR_DOMAIN_EVENT_STOPPED:
		domain_down(c, name,
			    detail >= 0 && (size_t)detail < ARRAY_SIZE(stopped) ? stopped[detail] : "stopped");
		break;
	case VIR_DOMAIN_EVENT_CRASHED:
		if (known_has(c, name, NULL))
			log_warn("libvirt: domain %s crashed", name);
		break;
	default:
		break;
	}
	return 0;
}

static int on_balloon_change(virConnectPtr conn, virDomainPtr dom, unsigned long long actual_kib,
			     void *opaque)
{
	struct lv_conn *c = opaque;
	(void)conn;
	const char *name = virDomainGetName(dom);
	struct balloon *b = name ? find_balloon(c, name) : NULL;
	log_debug("libvirt: balloon change event of %s: %llu KiB", name ? name : "?", actual_kib);
	if (b && b->lv_dom && actual_kib)
		lv_actual(b, actual_kib * 1024, now_usec());
	return 0;
}

static void on_close(virConnectPtr conn, int reason, void *opaque)
{
	struct lv_conn *c = opaque;
	static const char *const why[] = { "I/O error", "libvirtd closed the connection",
					   "keepalive timeout", "closed" };
	(void)conn;
	c->closed = true;
	snprintf(c->close_why, sizeof c->close_why, "%s",
		 reason >= 0 && (size_t)reason < ARRAY_SIZE(why) ? why[reason] : "closed");
}

struct pat_check {
	virDomainPtr *doms;
	int n;
};

static int warn_unmatched(const char *p, void *ud)
{
	struct pat_check *pc = ud;
	for (int i = 0; i < pc->n; i++) {
		const char *name = virDomainGetName(pc->doms[i]);
		if (name && fnmatch(p, name, 0) == 0)
			return 0;
	}
	log_warn("libvirt.domains: pattern '%s' matches none of the %d running domains", p, pc->n);
	return 0;
}

/* Domains running now: up for each selected one, down for those gone. */
static void resync(struct lv_conn *c)
{
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(c->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	if (n < 0) {
		if (!c->need_resync)
			log_warn("libvirt: cannot list the running domains: %s; trying again", lv_err());
		lv_check_alive(c);
		c->need_resync = true;
		c->next_resync_usec = now_usec() + c->backoff_usec;
		return;
	}
	c->need_resync = false;
	struct pat_check pc = { doms, n };
	lv_each_pattern(c->domains, warn_unmatched, &pc);
	for (size_t i = c->n_known; i-- > 0;) {
		bool running = false;
		for (int j = 0; j < n && !running; j++) {
			const char *name = virDomainGetName(doms[j]);
			running = name && !strcmp(name, c->known[i]);
		}
		if (!running) {
			char name[LV_NAME_MAX];
			snprintf(name, sizeof name, "%s", c->known[i]);
			domain_down(c, name, "no longer running");
		}
	}
	for (int i = 0; i < n; i++) {
		domain_up(c, doms[i], "running");
		virDomainFree(doms[i]);
	}
	free(doms);
	usec_t now = now_usec();
	for (struct balloon *b = c->balloons; b; b = b->lv_next)
		if (!b->lv_dom && !c->closed)
			lv_attach(b, now);
}

static void drop(struct lv_conn *c, usec_t now, const char *why)
{
	if (c->cb_lifecycle >= 0)
		virConnectDomainEventDeregisterAny(c->conn, c->cb_lifecycle);
	if (c->cb_balloon >= 0)
		virConnectDomainEventDeregisterAny(c->conn, c->cb_balloon);
	c->cb_lifecycle = c->cb_balloon = -1;
	virConnectUnregisterCloseCallback(c->conn, on_close);
	for (struct balloon *b = c->balloons; b; b = b->lv_next) {
		lv_detach_dom(b);
		balloon_set_state(b, BALLOON_CONNECTING, "libvirt unreachable (%s); retrying", why);
	}
	virConnectClose(c->conn);
	virResetLastError();
	c->conn = NULL;
	c->closed = false;
	snprintf(c->error, sizeof c->error, "%s", why);
	log_warn("libvirt: lost the connection to %s: %s; guests kept as they are, reconnecting", c->uri,
		 why);
	c->down_logged = true;
	c->backoff_usec = LV_BACKOFF_MIN_USEC;
	c->next_try_usec = now + c->backoff_usec;
	c->cb(c, LV_DISCONNECTED, NULL, why, c->ud);
}

static void fail(struct lv_conn *c, usec_t now, const char *what)
{
	snprintf(c->error, sizeof c->error, "%s %s: %s", what, c->uri, lv_err());
	virResetLastError();
	if (!c->down_logged)
		log_warn("libvirt: %s; retrying every %s at most", c->error,
			 format_duration(c->reconnect_max_usec, (char[32]){ 0 }, 32));
	else
		log_debug("libvirt: %s", c->error);
	c->down_logged = true;
	c->next_try_usec = now + c->backoff_usec;
	c->backoff_usec = MIN(c->backoff_usec * 2, c->reconnect_max_usec);
}

static void lv_connect(struct lv_conn *c, usec_t now)
{
	virConnectPtr conn = virConnectOpen(c->uri);
	if (!conn) {
		fail(c, now, "cannot connect to");
		return;
	}
	c->conn = conn;
	c->closed = false;
	if (virConnectSetKeepAlive(conn, 5, 3) < 0)
		log_debug("libvirt: no keepalive: %s", lv_err());
	if (virConnectRegisterCloseCallback(conn, on_close, c, NULL) < 0)
		log_debug("libvirt: no close callback: %s", lv_err());
	c->cb_lifecycle = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
							   VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), c, NULL);
	c->cb_balloon = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE,
							 VIR_DOMAIN_EVENT_CALLBACK(on_balloon_change), c, NULL);
	if (c->cb_lifecycle < 0 || c->cb_balloon < 0) {
		fail(c, now, "cannot follow the domain events of");
		if (c->cb_lifecycle >= 0)
			virConnectDomainEventDeregisterAny(conn, c->cb_lifecycle);
		if (c->cb_balloon >= 0)
			virConnectDomainEventDeregisterAny(conn, c->cb_balloon);
		c->cb_lifecycle = c->cb_balloon = -1;
		virConnectUnregisterCloseCallback(conn, on_close);
		virConnectClose(conn);
		c->conn = NULL;
		return;
	}
	virResetLastError();
	log_info("libvirt: connected to %s%s", c->uri, c->ever_up ? " again" : "");
	c->ever_up = true;
	c->down_logged = false;
	c->error[0] = 0;
	c->backoff_usec = LV_BACKOFF_MIN_USEC;
	c->cb(c, LV_CONNECTED, NULL, NULL, c->ud);
	resync(c);
}

void lv_conn_tick(struct lv_conn *c, usec_t now)
{
	if (c->conn && c->closed)
		drop(c, now, c->close_why[0] ? c->close_why : "closed");
	if (!c->conn && now >= c->next_try_usec)
		lv_connect(c, now);
	else if (c->conn && c->need_resync && now >= c->next_resync_usec)
		resync(c);
}

bool lv_conn_is_up(const struct lv_conn *c) { return c->conn && !c->closed; }
const char *lv_conn_error(const struct lv_conn *c) { return c->error; }

struct lv_conn *lv_conn_new(const struct lv_conf *conf, lv_event_fn cb, void *ud)
{
	struct lv_conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->uri = strdup(conf->uri && *conf->uri ? conf->uri : "qemu:///system");
	c->domains = strdup(conf->domains ? conf->domains : "");
	c->exclude = strdup(conf->exclude ? conf->exclude : "");
	c->pid_dir = strdup(conf->pid_dir && *conf->pid_dir ? conf->pid_dir : "/run/libvirt/qemu");
	if (!c->uri || !c->domains || !c->exclude || !c->pid_dir) {
		lv_conn_free(c);
		return NULL;
	}
	c->reconnect_max_usec = conf->reconnect_max_usec ? conf->reconnect_max_usec : 5 * USEC_PER_SEC;
	if (c->reconnect_max_usec < LV_BACKOFF_MIN_USEC)
		c->reconnect_max_usec = LV_BACKOFF_MIN_USEC;
	c->backoff_usec = LV_BACKOFF_MIN_USEC;
	c->cb = cb;
	c->ud = ud;
	c->cb_lifecycle = c->cb_balloon = -1;
	virSetErrorFunc(NULL, lv_quiet);
	return c;
}

void lv_conn_free(struct lv_conn *c)
{
	if (!c)
		return;
	while (c->balloons) {
		struct balloon *b = c->balloons;
		lv_detach_dom(b);
		b->lv = NULL;
		c->balloons = b->lv_next;
		b->lv_next = NULL;
	}
	if (c->conn) {
		if (c->cb_lifecycle >= 0)
			virConnectDomainEventDeregisterAny(c->conn, c->cb_lifecycle);
		if (c->cb_balloon >= 0)
			virConnectDomainEventDeregisterAny(c->conn, c->cb_balloon);
		virConnectUnregisterCloseCallback(c->conn, on_close);
		virConnectClose(c->conn);
	}
	free(c->known);
	free(c->uri);
	free(c->domains);
	free(c->exclude);
	free(c->pid_dir);
	free(c);
}
