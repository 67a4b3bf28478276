/* libvirt.c — the libvirt balloon backend: attach, refresh, set, outside changes.
 *
 * See balloon/libvirt.h for the contract; the connection is libvirt_conn.c.
 *
 * A balloon attaches to its domain by name (virDomainLookupByName) when it
 * is created, after a reconnect, and at each refresh while it is not
 * attached. Attaching reads the domain: maximum, XML (balloon device,
 * nosharepages, free page reporting, autodeflate, stats period), the pid
 * file. A domain without a balloon device is NO_DEVICE: merged, never
 * ballooned. */
#include "balloon/libvirt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "common/log.h"

/* A guest's balloon driver moves 1 MiB (256 pages) per step and reports
 * each step; QEMU forwards at most one size change per second. A move of
 * more than 2 MiB that ksmd's requests cannot explain is someone else's. */
#define LV_EXTERNAL_TOLERANCE (2ull << 20)
#define LV_SETTLE_USEC USEC_PER_SEC

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
int lv_read_domain(const struct lv_conn *c, virDomainPtr dom, struct lv_domain *d)
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

void lv_detach_dom(struct balloon *b)
{
	if (b->lv_dom)
		virDomainFree(b->lv_dom);
	b->lv_dom = NULL;
}

/* A new actual size from libvirt: tell apart ksmd's own requests from
 * changes made outside it (libvirt.h). */
void lv_actual(struct balloon *b, uint64_t a, usec_t now)
{
	bool settled = !b->lv_sent_usec || now - b->lv_sent_usec > LV_SETTLE_USEC;
	bool ext = false;
	if (b->external_bytes && !b->target_bytes) {
		ext = a != b->external_bytes; /* an outside change still moving */
	} else if (b->target_bytes) {
		uint64_t gap = absdiff(a, b->target_bytes);
		if (gap < b->lv_best_gap)
			b->lv_best_gap = gap;
		/* beyond where ksmd's requests can take it: someone else's, even
		 * while ksmd asks every tick; within, once settled, moving away
		 * from ksmd's target */
		bool beyond = a + LV_EXTERNAL_TOLERANCE < b->lv_lo || a > b->lv_hi + LV_EXTERNAL_TOLERANCE;
		ext = beyond || (settled && gap > b->lv_best_gap + LV_EXTERNAL_TOLERANCE);
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
		b->lv_external_seen++;
		balloon_notify(b, BALLOON_EV_EXTERNAL);
	}
}

static bool dom_gone_error(void)
{
	virErrorPtr e = virGetLastError();
	return e && (e->code == VIR_ERR_NO_DOMAIN || e->code == VIR_ERR_OPERATION_INVALID);
}

static void balloon_libvirt_refresh(struct balloon *b, usec_t now)
{
	struct lv_conn *c = b->lv;
	if (!c || !c->conn || c->closed)
		return;
	if (!b->lv_dom) {
		lv_attach(b, now);
		return;
	}
	if (!b->pid) { /* the pid file could not be read at lv_attach: try again */
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
			lv_detach_dom(b);
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

void lv_attach(struct balloon *b, usec_t now)
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
	if (lv_read_domain(c, dom, &d) < 0) {
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

static int balloon_libvirt_set(struct balloon *b, uint64_t t, usec_t now)
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
	/* the range ksmd's requests can take the size through: an earlier
	 * target not yet reached still pulls it its way */
	uint64_t a = b->actual_bytes;
	bool reached = !b->target_bytes || absdiff(a, b->target_bytes) <= LV_EXTERNAL_TOLERANCE;
	uint64_t lo = a < t ? a : t, hi = a > t ? a : t;
	if (!reached) {
		lo = b->lv_lo < lo ? b->lv_lo : lo;
		hi = b->lv_hi > hi ? b->lv_hi : hi;
	}
	b->lv_lo = lo;
	b->lv_hi = hi;
	b->target_bytes = t;
	b->lv_prev_actual = t; /* if ksmd's target is dropped later, its size is the baseline */
	b->lv_sent_usec = now;
	b->lv_best_gap = absdiff(a, t);
	b->external_bytes = 0;
	balloon_track_progress(b, now);
	balloon_notify(b, BALLOON_EV_TARGET);
	return 0;
}

/* Before a policy target, the size as QEMU has it now: libvirt's size
 * events come at most once a second, and a target sent on an older size
 * would undo a `virsh setmem` made in between unseen. An outside change
 * found here cancels the target (the daemon makes it an override); the
 * operator's own size (balloon_override) is sent without this read. */
static int balloon_libvirt_before_target(struct balloon *b, usec_t now)
{
	unsigned seen = b->lv_external_seen;
	balloon_libvirt_refresh(b, now);
	return b->lv_external_seen != seen ? -ECANCELED : 0;
}

static void balloon_libvirt_detach(struct balloon *b)
{
	lv_detach_dom(b);
	if (!b->lv)
		return;
	for (struct balloon **p = &b->lv->balloons; *p; p = &(*p)->lv_next)
		if (*p == b) {
			*p = b->lv_next;
			break;
		}
	b->lv = NULL;
}

const struct balloon_ops balloon_libvirt_ops = {
	.refresh = balloon_libvirt_refresh,
	.set = balloon_libvirt_set,
	.before_target = balloon_libvirt_before_target,
	.detach = balloon_libvirt_detach,
};

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
		lv_attach(b, now_usec());
	else
		balloon_set_state(b, BALLOON_CONNECTING, "libvirt unreachable: %s",
				  c->error[0] ? c->error : "not connected yet");
	return b;
}
