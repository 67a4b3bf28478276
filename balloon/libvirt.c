/* libvirt.c — the libvirt connection and the libvirt balloon backend.
 *
 * See balloon/libvirt.h for the contract. How it holds together:
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
 * are reported down.
 *
 * A balloon attaches to its domain by name (virDomainLookupByName) when it
 * is created, after a reconnect, and at each refresh while it is not
 * attached. Attaching reads the domain: maximum, XML (balloon device,
 * nosharepages, free page reporting, autodeflate, stats period), the pid
 * file. A domain without a balloon device is NO_DEVICE: merged, never
 * ballooned. */
#include "balloon/libvirt.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "balloon/internal.h"
#include "common/log.h"

#define LV_BACKOFF_MIN_USEC (500 * USEC_PER_MSEC)
#define LV_EXTERNAL_TOLERANCE (8ull << 20)
#define LV_SETTLE_USEC USEC_PER_SEC

struct lv_conn {
	char *uri, *domains, *exclude, *pid_dir;
	usec_t reconnect_max_usec;
	lv_event_fn cb;
	void *ud;
	virConnectPtr conn;
	bool closed;                 /* the close callback fired */
	char close_why[96];
	int cb_lifecycle, cb_balloon;
	bool need_resync;            /* a listing failed: list again */
	usec_t next_resync_usec;
	usec_t next_try_usec, backoff_usec;
	bool ever_up, down_logged;
	char error[256];
	struct balloon *balloons;    /* every libvirt balloon on this connection */
	char (*known)[LV_NAME_MAX];  /* domains reported up, not yet down */
	size_t n_known;
};

static const char *lv_err(void)
{
	const char *m = virGetLastErrorMessage();
	return m && *m ? m : "unknown libvirt error";
}

static void lv_quiet(void *ud, virErrorPtr e)
{
	(void)ud;
	(void)e; /* every failure is reported by the caller, once */
}

/* ---- reading a domain ---- */

/* QEMU's pid from the file libvirt writes, checked against the process's
 * command line (-name guest=NAME), so a stale file is not believed. */
static void read_pid(const struct lv_conn *c, struct lv_domain *d)
{
	char path[512], *text = NULL;
	d->pid = 0;
	d->pid_error[0] = 0;
	snprintf(path, sizeof path, "%s/%s.pid", c->pid_dir, d->name);
	int r = read_file(path, &text, NULL);
	if (r < 0) {
		snprintf(d->pid_error, sizeof d->pid_error, "cannot read %.200s: %s", path, strerror(-r));
		return;
	}
	long pid = strtol(text, NULL, 10);
	free(text);
	if (pid <= 0) {
		snprintf(d->pid_error, sizeof d->pid_error, "%.200s holds no pid", path);
		return;
	}
	char cpath[64], *cmd = NULL;
	size_t len = 0;
	snprintf(cpath, sizeof cpath, "/proc/%ld/cmdline", pid);
	if (read_file(cpath, &cmd, &len) < 0) {
		snprintf(d->pid_error, sizeof d->pid_error, "pid %ld from %.200s is not running", pid, path);
		return;
	}
	bool ok = false;
	char want[LV_NAME_MAX + 8];
	snprintf(want, sizeof want, "guest=%s", d->name);
	for (size_t i = 0; i < len && !ok; i += strlen(cmd + i) + 1) {
		const char *a = cmd + i;
		if (!strcmp(a, "-name") && i + 6 < len) {
			const char *v = a + 6;
			size_t wl = strlen(want);
			ok = !strcmp(v, d->name) || (!strncmp(v, want, wl) && (v[wl] == ',' || !v[wl]));
		}
	}
	free(cmd);
	if (!ok) {
		snprintf(d->pid_error, sizeof d->pid_error, "pid %ld from %.200s is not %s's QEMU", pid, path,
			 d->name);
		return;
	}
	d->pid = (pid_t)pid;
}

/* Returns 0, or -EIO when the domain's XML or maximum cannot be read (a
 * transient failure: not a domain without a balloon). */
static int read_domain(const struct lv_conn *c, virDomainPtr dom, struct lv_domain *d)
{
	memset(d, 0, sizeof *d);
	const char *n = virDomainGetName(dom);
	snprintf(d->name, sizeof d->name, "%s", n ? n : "?");
	if (virDomainGetUUIDString(dom, d->uuid) < 0)
		d->uuid[0] = 0;
	unsigned int id = virDomainGetID(dom);
	d->id = id == (unsigned int)-1 ? -1 : (int)id;
	unsigned long max_kib = virDomainGetMaxMemory(dom);
	d->max_bytes = (uint64_t)max_kib * 1024;
	char *xml = virDomainGetXMLDesc(dom, 0);
	if (!xml || !max_kib) {
		free(xml);
		return -EIO;
	}
	lv_parse_domain_xml(xml, d);
	free(xml);
	char *meta = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, LV_METADATA_URI, 0);
	if (meta) {
		lv_parse_metadata(meta, d);
		free(meta);
	}
	virResetLastError();
	read_pid(c, d);
	return 0;
}

/* ---- the balloon backend ---- */

static uint64_t absdiff(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

static void detach_dom(struct balloon *b)
{
	if (b->lv_dom)
		virDomainFree(b->lv_dom);
	b->lv_dom = NULL;
}

/* A new actual size from libvirt: tell apart ksmd's own requests from
 * changes made outside it (libvirt.h). */
static void lv_actual(struct balloon *b, uint64_t a, usec_t now)
{
	bool settled = !b->lv_sent_usec || now - b->lv_sent_usec > LV_SETTLE_USEC;
	bool ext = false;
	if (b->external_bytes && !b->target_bytes) {
		ext = a != b->external_bytes; /* an outside change still moving */
	} else if (b->target_bytes) {
		uint64_t gap = absdiff(a, b->target_bytes);
		if (gap < b->lv_best_gap)
			b->lv_best_gap = gap;
		ext = settled && gap > b->lv_best_gap + LV_EXTERNAL_TOLERANCE;
	} else if (b->lv_prev_actual) {
		ext = settled && absdiff(a, b->lv_prev_actual) > LV_EXTERNAL_TOLERANCE;
	} else {
		b->lv_prev_actual = a; /* the first size seen: the baseline */
	}
	log_debug("balloon %s: actual %llu MiB (target %llu MiB, best gap %llu MiB, %s)%s", b->name,
		  (unsigned long long)(a >> 20), (unsigned long long)(b->target_bytes >> 20),
		  (unsigned long long)(b->lv_best_gap >> 20), settled ? "settled" : "just asked",
		  ext ? ": changed outside ksmd" : "");
	balloon_set_actual(b, a, now);
	if (ext) {
		if (!b->external_bytes || b->target_bytes)
			log_info("balloon %s: size changed outside ksmd (now %llu MiB, ksmd's target %llu MiB)",
				 b->name, (unsigned long long)(a >> 20),
				 (unsigned long long)(b->target_bytes >> 20));
		b->target_bytes = 0; /* ksmd's target is void: someone else set one */
		memset(&b->progress, 0, sizeof b->progress);
		b->external_bytes = a;
		b->external_usec = now;
		b->lv_prev_actual = a;
		balloon_notify(b, BALLOON_EV_EXTERNAL);
	}
}

static bool dom_gone_error(void)
{
	virErrorPtr e = virGetLastError();
	return e && (e->code == VIR_ERR_NO_DOMAIN || e->code == VIR_ERR_OPERATION_INVALID);
}

static void lv_check_alive(struct lv_conn *c)
{
	if (c->conn && !c->closed && virConnectIsAlive(c->conn) != 1) {
		c->closed = true;
		snprintf(c->close_why, sizeof c->close_why, "%s", lv_err());
	}
}

static void attach(struct balloon *b, usec_t now);

void balloon_libvirt_refresh(struct balloon *b, usec_t now)
{
	struct lv_conn *c = b->lv;
	if (!c || !c->conn || c->closed)
		return;
	if (!b->lv_dom) {
		attach(b, now);
		return;
	}
	if (!b->pid) { /* the pid file could not be read at attach: try again */
		struct lv_domain d;
		memset(&d, 0, sizeof d);
		snprintf(d.name, sizeof d.name, "%s", b->name);
		read_pid(c, &d);
		if (d.pid)
			log_info("balloon %s: QEMU pid %d (from the pid file, now readable)", b->name, (int)d.pid);
		b->pid = d.pid;
	}
	virDomainMemoryStatStruct st[VIR_DOMAIN_MEMORY_STAT_NR];
	int n = virDomainMemoryStats(b->lv_dom, st, VIR_DOMAIN_MEMORY_STAT_NR, 0);
	if (n < 0) {
		if (dom_gone_error()) {
			detach_dom(b);
			balloon_set_state(b, BALLOON_CONNECTING, "domain %s is not running", b->name);
		} else {
			lv_check_alive(c);
			if (!c->closed)
				log_warn("balloon %s: virDomainMemoryStats: %s, ignoring", b->name, lv_err());
		}
		return;
	}
	struct balloon_stats s;
	memset(&s, 0, sizeof s);
	uint64_t actual = 0, last = 0;
	static const struct { int tag; enum balloon_stat s; uint64_t mul; } map[] = {
		{ VIR_DOMAIN_MEMORY_STAT_UNUSED, BALLOON_STAT_FREE, 1024 },
		{ VIR_DOMAIN_MEMORY_STAT_USABLE, BALLOON_STAT_AVAILABLE, 1024 },
		{ VIR_DOMAIN_MEMORY_STAT_AVAILABLE, BALLOON_STAT_TOTAL, 1024 },
		{ VIR_DOMAIN_MEMORY_STAT_DISK_CACHES, BALLOON_STAT_DISK_CACHES, 1024 },
		{ VIR_DOMAIN_MEMORY_STAT_MAJOR_FAULT, BALLOON_STAT_MAJOR_FAULTS, 1 },
		{ VIR_DOMAIN_MEMORY_STAT_MINOR_FAULT, BALLOON_STAT_MINOR_FAULTS, 1 },
		{ VIR_DOMAIN_MEMORY_STAT_SWAP_IN, BALLOON_STAT_SWAP_IN, 1024 },
		{ VIR_DOMAIN_MEMORY_STAT_SWAP_OUT, BALLOON_STAT_SWAP_OUT, 1024 },
		{ VIR_DOMAIN_MEMORY_STAT_HUGETLB_PGALLOC, BALLOON_STAT_HTLB_PGALLOC, 1 },
		{ VIR_DOMAIN_MEMORY_STAT_HUGETLB_PGFAIL, BALLOON_STAT_HTLB_PGFAIL, 1 },
	};
	for (int i = 0; i < n; i++) {
		if (st[i].tag == VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON)
			actual = st[i].val * 1024;
		else if (st[i].tag == VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE)
			last = st[i].val;
		else if (st[i].tag == VIR_DOMAIN_MEMORY_STAT_RSS && s.n_extra < BALLOON_STATS_EXTRA) {
			snprintf(s.extra[s.n_extra].name, sizeof s.extra[0].name, "rss");
			s.extra[s.n_extra++].value = st[i].val * 1024;
		}
		for (size_t k = 0; k < ARRAY_SIZE(map); k++)
			if (st[i].tag == map[k].tag) {
				s.value[map[k].s] = st[i].val * map[k].mul;
				s.valid_mask |= 1u << map[k].s;
			}
	}
	if (actual)
		lv_actual(b, actual, now);
	if (last) {
		usec_t real = now_realtime_usec(), lr = (usec_t)last * USEC_PER_SEC;
		usec_t age = real > lr ? real - lr : 0;
		s.updated_usec = now > age ? now - age : 1;
		b->caps |= BALLOON_CAP_STATS;
		b->stats = s;
		balloon_notify(b, BALLOON_EV_STATS);
	}
	if (b->state == BALLOON_CONNECTING && actual)
		balloon_set_state(b, BALLOON_READY, NULL);
}

static void attach(struct balloon *b, usec_t now)
{
	struct lv_conn *c = b->lv;
	virDomainPtr dom = virDomainLookupByName(c->conn, b->name);
	if (!dom || virDomainIsActive(dom) != 1) {
		if (dom)
			virDomainFree(dom);
		else
			lv_check_alive(c);
		virResetLastError();
		if (!c->closed)
			balloon_set_state(b, BALLOON_CONNECTING, "domain %s is not running", b->name);
		return;
	}
	struct lv_domain d;
	if (read_domain(c, dom, &d) < 0) {
		balloon_set_state(b, BALLOON_CONNECTING, "cannot read domain %s: %s; retrying", b->name,
				  lv_err());
		virResetLastError();
		virDomainFree(dom);
		lv_check_alive(c);
		return;
	}
	if (b->pid && d.pid && d.pid != b->pid) {
		/* the domain was restarted: a new QEMU starts with an empty balloon */
		log_info("balloon %s: QEMU restarted (pid %d, was %d)", b->name, (int)d.pid, (int)b->pid);
		b->target_bytes = b->actual_bytes = 0;
		b->actual_usec = 0;
		bool had_external = b->external_bytes;
		b->external_bytes = 0;
		b->lv_prev_actual = 0;
		memset(&b->progress, 0, sizeof b->progress);
		b->caps = 0;
		if (had_external) /* an outside size was that QEMU's: it died with it */
			balloon_notify(b, BALLOON_EV_EXTERNAL);
	}
	if (d.pid)
		b->pid = d.pid;
	b->lv_dom = dom;
	uint64_t max = d.max_bytes;
	if (b->cfg.max_bytes && (!max || b->cfg.max_bytes < max))
		max = b->cfg.max_bytes;
	if (max)
		balloon_learn_max(b, max);
	if (d.free_page_reporting)
		b->caps |= BALLOON_CAP_FREE_PAGE_REPORTING;
	if (d.deflate_on_oom)
		b->caps |= BALLOON_CAP_DEFLATE_ON_OOM;
	if (!d.has_balloon) {
		balloon_set_state(b, BALLOON_NO_DEVICE,
				  "the domain has <memballoon model='none'/>: merged, never ballooned");
		return;
	}
	unsigned secs = (unsigned)((b->cfg.stats_interval_usec + USEC_PER_SEC - 1) / USEC_PER_SEC);
	if (!secs)
		secs = 1;
	if (d.stats_period != secs &&
	    virDomainSetMemoryStatsPeriod(dom, (int)secs, VIR_DOMAIN_AFFECT_LIVE) < 0)
		log_warn("balloon %s: cannot set the balloon's stats period to %u s: %s, ignoring", b->name,
			 secs, lv_err());
	b->next_refresh_usec = now + b->cfg.stats_interval_usec;
	balloon_libvirt_refresh(b, now);
}

int balloon_libvirt_set(struct balloon *b, uint64_t t, usec_t now)
{
	if (!b->lv_dom)
		return -EAGAIN;
	if (virDomainSetMemoryFlags(b->lv_dom, (unsigned long)(t / 1024), VIR_DOMAIN_AFFECT_LIVE) < 0) {
		snprintf(b->reason, sizeof b->reason, "virDomainSetMemoryFlags: %s", lv_err());
		log_warn("balloon %s: %s", b->name, b->reason);
		lv_check_alive(b->lv);
		b->target_bytes = 0;
		/* not an outside change either: the size now is the baseline */
		b->lv_prev_actual = b->actual_bytes;
		b->lv_sent_usec = now;
		balloon_notify(b, BALLOON_EV_TARGET);
		return -EIO;
	}
	b->target_bytes = t;
	b->lv_prev_actual = t; /* if ksmd's target is dropped later, its size is the baseline */
	b->lv_sent_usec = now;
	b->lv_best_gap = absdiff(b->actual_bytes, t);
	b->external_bytes = 0;
	balloon_track_progress(b, now);
	balloon_notify(b, BALLOON_EV_TARGET);
	return 0;
}

void balloon_libvirt_detach(struct balloon *b)
{
	detach_dom(b);
	if (!b->lv)
		return;
	for (struct balloon **p = &b->lv->balloons; *p; p = &(*p)->lv_next)
		if (*p == b) {
			*p = b->lv_next;
			break;
		}
	b->lv = NULL;
}

struct balloon *balloon_new_libvirt(const char *name, struct lv_conn *c,
				    const struct balloon_config *cfg, balloon_event_fn cb, void *ud)
{
	struct balloon *b = balloon_alloc(name, BALLOON_BACKEND_LIBVIRT, cfg, cb, ud);
	if (!b)
		return NULL;
	b->lv = c;
	b->lv_next = c->balloons;
	c->balloons = b;
	if (c->conn && !c->closed)
		attach(b, now_usec());
	else
		balloon_set_state(b, BALLOON_CONNECTING, "libvirt unreachable: %s",
				  c->error[0] ? c->error : "not connected yet");
	return b;
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
	if (read_domain(c, dom, &d) < 0) {
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
		detach_dom(b);
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
			attach(b, now);
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
		detach_dom(b);
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
		detach_dom(b);
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
