/* scan_guests.c — the scanner's guests: registering and removing them,
 * their RAM regions and the per-page state kept between passes. */
#include "scanner/scanner_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "collect/regions.h"

static void region_free(struct scan_region *r)
{
	if (r->chunk)
		for (uint64_t i = 0; i < r->nchunks; i++)
			free(r->chunk[i]);
	free(r->chunk);
	r->chunk = NULL;
	r->chunks_allocated = 0;
}

void scan_guest_drop_regions(struct scan_guest *g)
{
	g->maps_valid = false;
	for (size_t i = 0; i < g->n_regions; i++)
		region_free(&g->regions[i]);
	free(g->regions);
	g->regions = NULL;
	g->n_regions = 0;
}

void scan_guest_free(struct scan_guest *g)
{
	scan_guest_drop_regions(g);
	if (g->ksm_stat_fd >= 0)
		close(g->ksm_stat_fd);
	if (g->pidfd >= 0)
		close(g->pidfd);
	free(g);
}

int scanner_add_guest(struct scanner *s, const char *name, pid_t pid,
		      enum scanner_guest_kind kind, uint64_t ram_size_hint_bytes)
{
	struct proc_files f = PROC_FILES_INIT;
	if (pid > 0)
		(void)proc_files_open(&f, pid); /* none: the pass finds the process gone */
	int r = scanner_add_guest_files(s, name, pid, &f, kind, ram_size_hint_bytes);
	proc_files_close(&f);
	return r;
}

int scanner_add_guest_files(struct scanner *s, const char *name, pid_t pid, const struct proc_files *f,
			    enum scanner_guest_kind kind, uint64_t ram_size_hint_bytes)
{
	if (!name || !*name || strlen(name) >= sizeof(((struct scan_guest *)0)->name) ||
	    pid <= 0 || (kind != SCANNER_GUEST_QEMU && kind != SCANNER_GUEST_PROCESS) ||
	    ram_size_hint_bytes % PAGE_SIZE_4K)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	struct scan_guest **tail = &s->guests;
	for (; *tail; tail = &(*tail)->next)
		if (!(*tail)->removed && strcmp((*tail)->name, name) == 0) {
			pthread_mutex_unlock(&s->lock);
			return -EEXIST;
		}
	struct scan_guest *g = calloc(1, sizeof(*g));
	if (!g) {
		pthread_mutex_unlock(&s->lock);
		return -ENOMEM;
	}
	strcpy(g->name, name);
	g->pid = pid;
	g->kind = kind;
	g->hint_bytes = ram_size_hint_bytes;
	g->alive = true;
	g->mem_fd = g->pagemap_fd = g->pidfd = g->ksm_stat_fd = -1;
	if (f && f->pid == pid) {
		/* the process found: copies of its identity and its ksm_stat */
		if (f->pidfd >= 0)
			g->pidfd = fcntl(f->pidfd, F_DUPFD_CLOEXEC, 0);
		g->start_ticks = f->start_ticks;
		if (f->ksm_stat_fd >= 0)
			g->ksm_stat_fd = fcntl(f->ksm_stat_fd, F_DUPFD_CLOEXEC, 0); /* -1: the kpageflags check */
		if (f->pidfd >= 0 && g->pidfd < 0) {
			int e = errno;
			pthread_mutex_unlock(&s->lock);
			scan_guest_free(g);
			return -e;
		}
	}
	*tail = g;
	pthread_mutex_unlock(&s->lock);
	/* A guest no pass has read has no prediction: the next pass starts at
	 * once rather than after pass_interval (at start the first pass may
	 * have run before the first tick found any guest, and KSM would wait
	 * for the interval on a prediction of nothing). */
	pthread_mutex_lock(&s->run_lock);
	s->pass_wanted = true;
	pthread_cond_broadcast(&s->run_cond);
	pthread_mutex_unlock(&s->run_lock);
	return 0;
}

int scanner_guest_last_read(struct scanner *s, const char *name, usec_t *last_read_usec)
{
	int r = -ENOENT;
	pthread_mutex_lock(&s->lock);
	for (struct scan_guest *g = s->guests; g; g = g->next)
		if (!g->removed && strcmp(g->name, name) == 0) {
			*last_read_usec = atomic_load(&g->last_read_usec);
			r = 0;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int scanner_guest_set_resident(struct scanner *s, const char *name, uint64_t pages)
{
	int r = -ENOENT;
	pthread_mutex_lock(&s->lock);
	for (struct scan_guest *g = s->guests; g; g = g->next)
		if (!g->removed && strcmp(g->name, name) == 0) {
			atomic_store(&g->resident_pages, pages);
			r = 0;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int scanner_remove_guest(struct scanner *s, const char *name)
{
	int r = -ENOENT;
	pthread_mutex_lock(&s->lock);
	for (struct scan_guest *g = s->guests; g; g = g->next)
		if (!g->removed && strcmp(g->name, name) == 0) {
			g->removed = true;
			r = 0;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Re-read a guest's regions; keep the per-page state of every region whose
 * bounds did not change. Returns 0 or negative errno (guest gone). */
int scan_guest_refresh_regions(struct scan_guest *g)
{
	struct scan_range *rv;
	size_t n;
	int r;
	if (g->kind == SCANNER_GUEST_QEMU) {
		/* smaps walks every page of the process: read it only when
		 * the cheap maps text changed since the last pass */
		char path[64], *text;
		snprintf(path, sizeof(path), "/proc/%d/maps", (int)g->pid);
		if ((r = read_file(path, &text, NULL)) < 0)
			return r;
		uint64_t mh = XXH3_64bits(text, strlen(text));
		bool empty = text[0] == '\0';
		free(text);
		if (empty)
			return -ESRCH;
		if (g->maps_valid && mh == g->maps_hash)
			return 0;
		g->maps_hash = mh;
		g->maps_valid = false;
	}
	r = scan_regions_read(g->pid, g->kind, g->hint_bytes, &rv, &n);
	if (r < 0)
		return r;
	struct scan_region *nr = calloc(n ? n : 1, sizeof(*nr));
	if (!nr) {
		free(rv);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct scan_region *x = &nr[i];
		x->start = rv[i].start;
		x->end = rv[i].end;
		x->npages = (x->end - x->start) / PAGE_SIZE_4K;
		x->nchunks = (x->npages + CHUNK_PAGES - 1) / CHUNK_PAGES;
		x->g = g;
		for (size_t j = 0; j < g->n_regions; j++) {
			struct scan_region *o = &g->regions[j];
			if (o->chunk && o->start == x->start && o->end == x->end) {
				x->chunk = o->chunk;
				x->chunks_allocated = o->chunks_allocated;
				o->chunk = NULL;
				o->chunks_allocated = 0;
				break;
			}
		}
		if (!x->chunk) {
			x->chunk = calloc(x->nchunks ? x->nchunks : 1, sizeof(*x->chunk));
			if (!x->chunk) {
				for (size_t k = 0; k <= i; k++)
					region_free(&nr[k]);
				free(nr);
				free(rv);
				return -ENOMEM;
			}
		}
	}
	free(rv);
	scan_guest_drop_regions(g);
	g->maps_valid = g->kind == SCANNER_GUEST_QEMU;
	g->regions = nr;
	g->n_regions = n;
	return 0;
}
