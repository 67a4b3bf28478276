/* virtloop.c — libvirt's event loop implementation over daemon/loop.c.
 *
 * Handles: libvirt asks to watch an fd for READABLE/WRITABLE; the fd goes
 * into the daemon's epoll set (removed from it while libvirt asks for no
 * events, so a hung-up socket cannot spin the loop). Timeouts: one timerfd
 * each; a frequency of 0 means "as soon as possible" and is re-armed after
 * each dispatch for as long as it stays 0; -1 disarms.
 *
 * Entries are found by their id (the loop's callback data), never by a
 * pointer into the table, which moves when it grows. A removed entry stops
 * being dispatched at once; its free callback runs later, from
 * virtloop_run_deferred(), because libvirt may remove an entry while it
 * holds a lock that the free callback takes. */
#include "daemon/virtloop.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <libvirt/libvirt.h>

#include "common/log.h"
#include "daemon/loop.h"

struct ventry {
	int id;
	bool timer;
	int fd;              /* the watched fd, or the timerfd */
	int events;          /* handle: libvirt's VIR_EVENT_HANDLE_* bits */
	int freq_ms;         /* timer: -1 off, 0 asap, else the period */
	bool in_loop;        /* registered in the daemon's loop */
	bool removed;        /* waiting for its free callback */
	virEventHandleCallback hcb;
	virEventTimeoutCallback tcb;
	void *opaque;
	virFreeCallback ff;
};

static struct loop *vl_loop;
static struct ventry *vl;
static size_t vl_n, vl_cap;
static int vl_next_id = 1;

static struct ventry *find(int id, bool timer)
{
	for (size_t i = 0; i < vl_n; i++)
		if (vl[i].id == id && vl[i].timer == timer && !vl[i].removed)
			return &vl[i];
	return NULL;
}

static struct ventry *add_entry(void)
{
	if (vl_n == vl_cap) {
		size_t n = vl_cap ? vl_cap * 2 : 16;
		struct ventry *e = realloc(vl, n * sizeof *e);
		if (!e)
			return NULL;
		vl = e;
		vl_cap = n;
	}
	struct ventry *e = &vl[vl_n++];
	memset(e, 0, sizeof *e);
	e->id = vl_next_id++;
	e->fd = -1;
	return e;
}

static uint32_t to_epoll(int ev)
{
	return (ev & VIR_EVENT_HANDLE_READABLE ? EPOLLIN : 0u) |
	       (ev & VIR_EVENT_HANDLE_WRITABLE ? EPOLLOUT : 0u);
}

static int from_epoll(uint32_t ev)
{
	return (ev & EPOLLIN ? VIR_EVENT_HANDLE_READABLE : 0) |
	       (ev & EPOLLOUT ? VIR_EVENT_HANDLE_WRITABLE : 0) |
	       (ev & EPOLLERR ? VIR_EVENT_HANDLE_ERROR : 0) |
	       (ev & EPOLLHUP ? VIR_EVENT_HANDLE_HANGUP : 0);
}

void virtloop_run_deferred(void)
{
	for (size_t i = 0; i < vl_n;) {
		if (!vl[i].removed) {
			i++;
			continue;
		}
		virFreeCallback ff = vl[i].ff;
		void *opaque = vl[i].opaque;
		vl[i] = vl[--vl_n];
		if (ff)
			ff(opaque); /* may add or remove entries: the table is consistent */
		i = 0;
	}
}

unsigned virtloop_active(void)
{
	unsigned n = 0;
	for (size_t i = 0; i < vl_n; i++)
		n += !vl[i].removed;
	return n;
}

/* ---- handles ---- */

static void handle_io(struct loop *l, int fd, uint32_t events, void *data)
{
	int id = (int)(intptr_t)data;
	(void)l;
	struct ventry *e = find(id, false);
	if (e && e->hcb) {
		int ev = from_epoll(events) & (e->events | VIR_EVENT_HANDLE_ERROR | VIR_EVENT_HANDLE_HANGUP);
		virEventHandleCallback cb = e->hcb;
		void *opaque = e->opaque;
		if (ev)
			cb(id, fd, ev, opaque);
	}
	virtloop_run_deferred();
}

static void handle_sync(struct ventry *e)
{
	uint32_t want = to_epoll(e->events);
	if (!want) {
		if (e->in_loop)
			loop_del(vl_loop, e->fd);
		e->in_loop = false;
		return;
	}
	if (e->in_loop) {
		if (loop_mod(vl_loop, e->fd, want) < 0)
			log_warn("libvirt event loop: cannot change the events of fd %d, ignoring", e->fd);
		return;
	}
	int r = loop_add(vl_loop, e->fd, want, handle_io, (void *)(intptr_t)e->id);
	if (r < 0)
		log_warn("libvirt event loop: cannot watch fd %d: %s, ignoring", e->fd, strerror(-r));
	else
		e->in_loop = true;
}

static int add_handle(int fd, int events, virEventHandleCallback cb, void *opaque, virFreeCallback ff)
{
	struct ventry *e = add_entry();
	if (!e)
		return -1;
	e->fd = fd;
	e->events = events;
	e->hcb = cb;
	e->opaque = opaque;
	e->ff = ff;
	handle_sync(e);
	if (to_epoll(events) && !e->in_loop) {
		vl_n--;
		return -1;
	}
	return e->id;
}

static void update_handle(int watch, int events)
{
	struct ventry *e = find(watch, false);
	if (!e)
		return;
	e->events = events;
	handle_sync(e);
}

static int remove_handle(int watch)
{
	struct ventry *e = find(watch, false);
	if (!e)
		return -1;
	if (e->in_loop)
		loop_del(vl_loop, e->fd);
	e->in_loop = false;
	e->removed = true;
	return 0;
}

/* ---- timeouts ---- */

static void timer_arm(struct ventry *e)
{
	struct itimerspec its;
	memset(&its, 0, sizeof its);
	if (e->freq_ms == 0) {
		its.it_value.tv_nsec = 1; /* as soon as possible, once */
	} else if (e->freq_ms > 0) {
		its.it_value.tv_sec = e->freq_ms / 1000;
		its.it_value.tv_nsec = (long)(e->freq_ms % 1000) * 1000000L;
		its.it_interval = its.it_value;
	}
	if (timerfd_settime(e->fd, 0, &its, NULL) < 0)
		log_warn("libvirt event loop: timerfd_settime: %s, ignoring", strerror(errno));
}

static void timer_io(struct loop *l, int fd, uint32_t events, void *data)
{
	int id = (int)(intptr_t)data;
	uint64_t exp;
	(void)l;
	(void)events;
	if (read(fd, &exp, sizeof exp) < 0 && errno != EAGAIN)
		log_debug("libvirt event loop: timer read: %s", strerror(errno));
	struct ventry *e = find(id, true);
	if (e && e->freq_ms >= 0) {
		virEventTimeoutCallback cb = e->tcb;
		void *opaque = e->opaque;
		cb(id, opaque);
		e = find(id, true); /* the callback may have changed or removed it */
		if (e && e->freq_ms == 0)
			timer_arm(e);
	}
	virtloop_run_deferred();
}

static int add_timeout(int freq_ms, virEventTimeoutCallback cb, void *opaque, virFreeCallback ff)
{
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (tfd < 0)
		return -1;
	struct ventry *e = add_entry();
	if (!e) {
		close(tfd);
		return -1;
	}
	e->timer = true;
	e->fd = tfd;
	e->freq_ms = freq_ms;
	e->tcb = cb;
	e->opaque = opaque;
	e->ff = ff;
	if (loop_add(vl_loop, tfd, EPOLLIN, timer_io, (void *)(intptr_t)e->id) < 0) {
		vl_n--;
		close(tfd);
		return -1;
	}
	e->in_loop = true;
	timer_arm(e);
	return e->id;
}

static void update_timeout(int timer, int freq_ms)
{
	struct ventry *e = find(timer, true);
	if (!e)
		return;
	e->freq_ms = freq_ms;
	timer_arm(e);
}

static int remove_timeout(int timer)
{
	struct ventry *e = find(timer, true);
	if (!e)
		return -1;
	loop_del(vl_loop, e->fd);
	close(e->fd);
	e->fd = -1;
	e->in_loop = false;
	e->removed = true;
	return 0;
}

int virtloop_register(struct loop *l)
{
	if (vl_loop)
		return vl_loop == l ? 0 : -EALREADY;
	vl_loop = l;
	virEventRegisterImpl(add_handle, update_handle, remove_handle, add_timeout, update_timeout,
			     remove_timeout);
	return 0;
}
