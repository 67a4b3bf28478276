/* virtloop.h — libvirt's event loop driven from the daemon's own loop.
 *
 * libvirt delivers domain events and keepalives through an event loop the
 * application provides (virEventRegisterImpl). This is that loop, on top of
 * daemon/loop.h: a libvirt handle is an fd registered in the daemon's epoll
 * set, a libvirt timeout is a timerfd. No thread of its own, no polling.
 *
 * Call virtloop_register() once, before the first virConnectOpen. Everything
 * runs on the daemon's main thread; libvirt API calls from other threads
 * are not supported. */
#ifndef KSMD_VIRTLOOP_H
#define KSMD_VIRTLOOP_H

struct loop;

/* Install the implementation (process-wide, once). Returns 0, -EALREADY
 * when already registered with another loop. */
int virtloop_register(struct loop *l);
/* Run the free callbacks of handles and timeouts removed since the last
 * call. libvirt may remove a handle while it holds its own locks, so the
 * user data is released later, from the loop (after every dispatch, and
 * from the daemon's timer). */
void virtloop_run_deferred(void);
/* Handles and timeouts currently registered (for tests and the snapshot). */
unsigned virtloop_active(void);

#endif
