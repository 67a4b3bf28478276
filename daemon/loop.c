/* loop.c — epoll loop with a registration table indexed by fd. */
#include "daemon/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

struct watch {
	loop_fn fn;
	void *data;
	uint64_t gen;     /* bumped on every add, so stale events are dropped */
	bool active;
};

struct loop {
	int epfd;
	bool quit;
	struct watch *w;
	size_t n_w;
};

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	close(l->epfd);
	free(l->w);
	free(l);
}

static int grow(struct loop *l, int fd)
{
	if ((size_t)fd < l->n_w)
		return 0;
	size_t n = MAX((size_t)fd + 1, l->n_w * 2);
	struct watch *w = realloc(l->w, n * sizeof *w);
	if (!w)
		return -ENOMEM;
	memset(w + l->n_w, 0, (n - l->n_w) * sizeof *w);
	l->w = w;
	l->n_w = n;
	return 0;
}

int loop_add(struct loop *l, int fd, uint32_t events, loop_fn fn, void *data)
{
	if (fd < 0)
		return -EBADF;
	int r = grow(l, fd);
	if (r < 0)
		return r;
	struct watch *w = &l->w[fd];
	if (w->active)
		return -EEXIST;
	w->gen++;
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)fd | (w->gen << 32) };
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	w->fn = fn;
	w->data = data;
	w->active = true;
	return 0;
}

int loop_mod(struct loop *l, int fd, uint32_t events)
{
	if (fd < 0 || (size_t)fd >= l->n_w || !l->w[fd].active)
		return -ENOENT;
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)fd | (l->w[fd].gen << 32) };
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void loop_del(struct loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->n_w || !l->w[fd].active)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->w[fd].active = false;
}

void loop_quit(struct loop *l) { l->quit = true; }

int loop_run(struct loop *l)
{
	struct epoll_event ev[32];
	l->quit = false;
	while (!l->quit) {
		int n = epoll_wait(l->epfd, ev, ARRAY_SIZE(ev), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !l->quit; i++) {
			int fd = (int)(ev[i].data.u64 & 0xffffffffu);
			uint64_t gen = ev[i].data.u64 >> 32;
			if ((size_t)fd >= l->n_w)
				continue;
			struct watch *w = &l->w[fd];
			if (!w->active || (w->gen & 0xffffffffu) != gen)
				continue; /* removed (or replaced) by an earlier callback */
			w->fn(l, fd, ev[i].events, w->data);
		}
	}
	return 0;
}

int loop_set_timer(int tfd, usec_t period)
{
	struct itimerspec its = {
		.it_interval = { (time_t)(period / USEC_PER_SEC), (long)(period % USEC_PER_SEC) * 1000 },
		.it_value = { (time_t)(period / USEC_PER_SEC), (long)(period % USEC_PER_SEC) * 1000 },
	};
	return timerfd_settime(tfd, 0, &its, NULL) < 0 ? -errno : 0;
}

bool loop_timer_fired(int tfd)
{
	uint64_t expirations;
	return read(tfd, &expirations, sizeof expirations) == (ssize_t)sizeof expirations;
}

int loop_add_timer(struct loop *l, usec_t period, loop_fn fn, void *data)
{
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (tfd < 0)
		return -errno;
	int r = loop_set_timer(tfd, period);
	if (r >= 0)
		r = loop_add(l, tfd, EPOLLIN, fn, data);
	if (r < 0) {
		close(tfd);
		return r;
	}
	return tfd;
}
