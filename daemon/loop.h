/* loop.h — the daemon's event loop: epoll, one callback per fd.
 *
 * Everything the daemon does on its main thread is a callback from here:
 * signals (signalfd), the tick (timerfd), the control socket, QMP sockets.
 * Callbacks may add and remove fds, including their own. */
#ifndef KSMD_LOOP_H
#define KSMD_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"

struct loop;
typedef void (*loop_fn)(struct loop *l, int fd, uint32_t events, void *data);

/* Returns NULL on failure (errno set). */
struct loop *loop_new(void);
void loop_free(struct loop *l);
/* Watch fd for events (EPOLLIN/EPOLLOUT). One registration per fd. */
int loop_add(struct loop *l, int fd, uint32_t events, loop_fn fn, void *data);
int loop_mod(struct loop *l, int fd, uint32_t events);
/* Stop watching fd (does not close it). Safe inside a callback. */
void loop_del(struct loop *l, int fd);
/* Run until loop_quit(); returns 0, or a negative errno from epoll_wait. */
int loop_run(struct loop *l);
void loop_quit(struct loop *l);

/* A periodic timer (timerfd, CLOCK_MONOTONIC). Returns its fd. */
int loop_add_timer(struct loop *l, usec_t period_usec, loop_fn fn, void *data);
int loop_set_timer(int tfd, usec_t period_usec);
/* In a timer's callback: consume its expirations; false when it had none
 * (a spurious wake-up). */
bool loop_timer_fired(int tfd);

#endif
