/* scan_pass.c — one pass: taking and opening the guests, planning the
 * work, pacing, and the worker threads that run it. */
#include "scanner/scanner_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <urcu.h>

#include "collect/regions.h"
#include "common/log.h"

static uint64_t thread_cpu_nsec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void sleep_usec(usec_t u)
{
	struct timespec ts = { (time_t)(u / USEC_PER_SEC), (long)(u % USEC_PER_SEC) * 1000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- pacing -------------------------------------------------------------- */

/* Wait while paused, then for rate and CPU budget. Returns -ECANCELED when
 * the scanner is stopping. */
int scan_pace(struct scan_pass *p, struct thread_pace *tp, uint64_t pages)
{
	struct scanner *s = p->s;
	pthread_mutex_lock(&s->run_lock);
	while (s->paused && !s->stopping)
		pthread_cond_wait(&s->run_cond, &s->run_lock);
	bool stop = s->stopping;
	pthread_mutex_unlock(&s->run_lock);
	if (stop || atomic_load(&p->cancelled))
		return -ECANCELED;

	uint64_t pps = atomic_load(&s->pages_per_sec);
	if (pps) {
		usec_t now = now_usec(), t;
		pthread_mutex_lock(&s->rate_lock);
		if (s->rate_next_usec + 100 * USEC_PER_MSEC < now)
			s->rate_next_usec = now;  /* no credit for idle time beyond 100 ms */
		t = s->rate_next_usec;
		s->rate_next_usec += pages * USEC_PER_SEC / pps;
		pthread_mutex_unlock(&s->rate_lock);
		if (t > now)
			sleep_usec(t - now);
	}

	unsigned pct = atomic_load(&s->cpu_percent);
	usec_t now = now_usec();
	uint64_t cpu = thread_cpu_nsec();
	if (pct) {
		double share = (double)pct / p->nthreads;  /* percent for this thread */
		double cpu_usec = (double)(cpu - tp->win_cpu_nsec) / 1000.0;
		double need_wall = cpu_usec * 100.0 / share;
		double wall = (double)(now - tp->win_wall_usec);
		if (need_wall > wall) {
			sleep_usec((usec_t)(need_wall - wall));
			now = now_usec();
		}
	}
	if (now - tp->win_wall_usec > USEC_PER_SEC) {
		tp->win_wall_usec = now;
		tp->win_cpu_nsec = cpu;
	}
	return 0;
}

/* ---- index callbacks -------------------------------------------------------- */

static uint64_t cb_ref_hash(void *ctx, uint32_t ref)
{
	struct ref_block *b = ref_block(ctx, ref);
	return __atomic_load_n(&b->c->hash[ref % CHUNK_PAGES], __ATOMIC_ACQUIRE);
}

static unsigned cb_ref_guest(void *ctx, uint32_t ref)
{
	return ref_block(ctx, ref)->r->g->idx;
}

static const struct scan_index_ops index_ops = {
	.ref_hash = cb_ref_hash,
	.ref_guest = cb_ref_guest,
	.read_page = scan_cb_read_page,
};

/* ---- the worker threads ------------------------------------------------- */

static void worker_flush(struct worker *w, struct scan_guest *g)
{
	for (int i = 0; i < GC_N; i++) {
		if (w->c[i])
			atomic_fetch_add(&g->c[i], w->c[i]);
		w->c[i] = 0;
	}
	unsigned m = atomic_load(&g->bo_since_max);
	while (w->bo_since_max > m && !atomic_compare_exchange_weak(&g->bo_since_max, &m, w->bo_since_max))
		;
	w->bo_since_max = 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct scan_pass *p = w->p;
	uint64_t cpu0 = thread_cpu_nsec();
	scan_tls_worker = w;
	rcu_register_thread();
	w->tp.win_wall_usec = now_usec();
	w->tp.win_cpu_nsec = cpu0;
	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);
		if (i >= p->nwork)
			break;
		struct work_item *it = &p->work[i];
		int e = scan_chunk(w, it);
		worker_flush(w, it->r->g);
		if (e == -ECANCELED) {
			atomic_store(&p->cancelled, true);
			break;
		}
		if (e < 0) {
			int zero = 0;
			atomic_compare_exchange_strong(&it->r->g->failed, &zero, e);
		}
	}
	atomic_fetch_add(&p->scanned, w->scanned);
	atomic_fetch_add(&p->skipped, w->skipped);
	atomic_fetch_add(&p->vmr, w->vmr);
	atomic_fetch_add(&p->vmr_changed, w->vmr_changed);
	atomic_fetch_add(&p->pagemap_usec, w->pagemap_usec);
	if (w->n_ksm) {
		pthread_mutex_lock(&p->ksm_lock);
		if (p->n_ksm + w->n_ksm > p->cap_ksm) {
			size_t cap = p->n_ksm + w->n_ksm;
			struct ksm_seen *v = realloc(p->ksm_pfns, cap * sizeof(*v));
			if (v) {
				p->ksm_pfns = v;
				p->cap_ksm = cap;
			}
		}
		if (p->n_ksm + w->n_ksm <= p->cap_ksm) {
			memcpy(p->ksm_pfns + p->n_ksm, w->ksm, w->n_ksm * sizeof(*w->ksm));
			p->n_ksm += w->n_ksm;
		}
		pthread_mutex_unlock(&p->ksm_lock);
	}
	rcu_unregister_thread();
	scan_tls_worker = NULL;
	atomic_fetch_add(&p->cpu_nsec, thread_cpu_nsec() - cpu0);
	return NULL;
}

/* ---- a pass -------------------------------------------------------------- */

static int open_proc(pid_t pid, const char *what)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void pass_close_guests(struct scan_pass *p)
{
	for (unsigned i = 0; i < p->ng; i++) {
		struct scan_guest *g = p->g[i];
		if (g->mem_fd >= 0)
			close(g->mem_fd);
		if (g->pagemap_fd >= 0)
			close(g->pagemap_fd);
		g->mem_fd = g->pagemap_fd = -1;
	}
}

/* Prepare one guest for the pass: regions and file descriptors. */
static void pass_open_guest(struct scan_guest *g, bool pread_only)
{
	memset(g->c, 0, sizeof(g->c));
	atomic_store(&g->bo_since_max, 0);
	atomic_store(&g->failed, 0);
	atomic_store(&g->no_vmr, false);
	int r = scan_guest_refresh_regions(g);
	if (r >= 0 && (r = open_proc(g->pid, "mem")) >= 0) {
		g->mem_fd = r;
		r = open_proc(g->pid, "pagemap");
		if (r >= 0)
			g->pagemap_fd = r;
	}
	/* the pid still names the process found (collect/sample.h): else its
	 * maps, mem and pagemap may be another process's, and go unread */
	if (r >= 0)
		r = proc_identity_check(g->pid, g->pidfd, g->start_ticks);
	/* process_vm_readv names the process by pid: the pidfd tells after
	 * each call whether that pid still names the guest (no pidfd, no
	 * process_vm_readv) */
	g->vmr = !pread_only && g->pidfd >= 0;
	if (r < 0) {
		atomic_store(&g->failed, r);
		if (r == -ENOENT || r == -ESRCH) {
			scan_guest_drop_regions(g);
			g->alive = false;
		}
		g->last_error = r;
		log_debug("scanner: guest %s (pid %d): %s", g->name, (int)g->pid, strerror(-r));
		return;
	}
	g->alive = true;
	g->last_error = 0;
}

/* Free the guests removed since the last pass, take the others into p->g; 0 or -ENOMEM. */
static int pass_take_guests(struct scan_pass *p)
{
	struct scanner *s = p->s;
	struct scan_guest **prev;
	pthread_mutex_lock(&s->lock);
	for (prev = &s->guests; *prev;) {
		struct scan_guest *g = *prev;
		if (g->removed) {
			*prev = g->next;
			scan_guest_free(g);
		} else {
			p->ng++;
			prev = &g->next;
		}
	}
	p->g = calloc(p->ng + 1, sizeof(*p->g));
	if (!p->g) {
		pthread_mutex_unlock(&s->lock);
		return -ENOMEM;
	}
	p->ng = 0;
	for (struct scan_guest *g = s->guests; g; g = g->next) {
		g->idx = p->ng;
		p->g[p->ng++] = g;
	}
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Open every guest; returns the work items of those that opened, adds their pages to the sums. */
static size_t pass_open_guests(struct scan_pass *p, uint64_t *total, uint64_t *resident)
{
	size_t nwork = 0;
	for (unsigned i = 0; i < p->ng; i++) {
		struct scan_guest *g = p->g[i];
		pass_open_guest(g, p->s->conf.pread_only);
		if (atomic_load(&g->failed))
			continue;
		uint64_t gpages = 0;
		for (size_t j = 0; j < g->n_regions; j++) {
			gpages += g->regions[j].npages;
			nwork += g->regions[j].nchunks;
		}
		*total += gpages;
		uint64_t res = atomic_load(&g->resident_pages);
		atomic_store(&g->resident_at_pass, res);
		*resident += MIN(gpages, res ? res : gpages);
	}
	return nwork;
}

/* Open the guests, plan one work item per chunk, make the ref blocks and the index; 0 or -ENOMEM. */
static int pass_plan(struct scan_pass *p)
{
	/* Work items are chunks; the index is sized by what can be read at
	 * most: the guests' resident pages (the tick's sample), not their
	 * address space. */
	uint64_t total = 0, resident = 0;
	size_t nwork = pass_open_guests(p, &total, &resident);
	p->work = calloc(nwork + 1, sizeof(*p->work));
	p->n_blocks = MIN(nwork, (size_t)(p->s->conf.index_limit_pages / CHUNK_PAGES));
	p->blocks = calloc(p->n_blocks + 1, sizeof(*p->blocks));
	if (!p->work || !p->blocks)
		return -ENOMEM;
	for (unsigned i = 0; i < p->ng; i++) {
		struct scan_guest *g = p->g[i];
		if (atomic_load(&g->failed))
			continue;
		for (size_t j = 0; j < g->n_regions; j++) {
			struct scan_region *r = &g->regions[j];
			for (uint64_t f = 0; f < r->npages; f += CHUNK_PAGES)
				p->work[p->nwork++] =
					(struct work_item){ r, f, MIN(CHUNK_PAGES, r->npages - f) };
		}
	}
	p->ix = scan_index_new(MIN(total, resident + CHUNK_PAGES), p->s->hash, &index_ops, p);
	return p->ix ? 0 : -ENOMEM;
}

/* Give w its buffers for pass p; false if one it needs is missing (ra is optional). */
static bool worker_init(struct worker *w, struct scan_pass *p, int kpf)
{
	size_t batch = p->s->conf.read_batch_bytes;
	w->p = p;
	w->kpf_fd = kpf;
	w->pm = malloc(CHUNK_PAGES * sizeof(uint64_t));
	w->pm2 = malloc(batch / PAGE_SIZE_4K * sizeof(uint64_t));
	w->hs = malloc(batch / PAGE_SIZE_4K * sizeof(uint64_t));
	if (posix_memalign((void **)&w->buf, 4096, batch))
		w->buf = NULL;
	if (posix_memalign((void **)&w->ra, 4096, RA_PAGES * PAGE_SIZE_4K))
		w->ra = NULL;  /* then one page per read-back */
	return w->pm && w->pm2 && w->buf && w->hs;
}

/* Free what worker_init and the worker's run allocated. */
static void worker_release(struct worker *w)
{
	free(w->pm);
	free(w->pm2);
	free(w->hs);
	free(w->buf);
	free(w->ra);
	free(w->ksm);
}

/* Run conf.threads workers until the work is done or cancelled; returns how many ran. */
static unsigned pass_run_workers(struct scan_pass *p)
{
	p->nthreads = p->s->conf.threads;
	struct worker *w = calloc(p->nthreads, sizeof(*w));
	pthread_t *tid = calloc(p->nthreads, sizeof(*tid));
	int kpf = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	unsigned started = 0;
	if (w && tid) {
		for (unsigned i = 0; i < p->nthreads; i++) {
			if (!worker_init(&w[i], p, kpf))
				break;
			if (pthread_create(&tid[i], NULL, worker_main, &w[i]) != 0)
				break;
			started++;
		}
		for (unsigned i = 0; i < started; i++)
			pthread_join(tid[i], NULL);
	}
	if (kpf >= 0)
		close(kpf);
	if (w)
		for (unsigned i = 0; i < p->nthreads; i++)
			worker_release(&w[i]);
	free(w);
	free(tid);
	return started;
}

/* Close the guests' files and free what the pass allocated. */
static void pass_release(struct scan_pass *p)
{
	if (p->g)
		pass_close_guests(p);
	scan_index_free(p->ix);
	free(p->blocks);
	free(p->work);
	free(p->g);
	free(p->ksm_pfns);
	pthread_mutex_destroy(&p->ksm_lock);
}

/* What the pass may leave unread (scan_backoff.h): the bound over the
 * time from this pass's start to the next one's, the longer of the last
 * such time and the pause that may follow this pass plus the last pass's
 * duration (the quiet backoff's, as if this pass were quiet too: the
 * longest it can be). */
static void pass_plan_backoff(struct scan_pass *p, usec_t start)
{
	struct scanner *s = p->s;
	usec_t *starts = s->pass_start_usec;
	usec_t period = scanner_quiet_pause(atomic_load(&s->interval_usec),
					    atomic_load(&s->interval_max_usec), s->quiet_passes + 1) +
			s->last_pass_wall_usec;
	if (p->id > 1 && start > starts[(p->id - 1) & BACKOFF_STAMP_MASK])
		period = MAX(period, start - starts[(p->id - 1) & BACKOFF_STAMP_MASK]);
	starts[p->id & BACKOFF_STAMP_MASK] = start;
	backoff_plan(&p->bo, p->id, starts, period, atomic_load(&s->backoff_max_usec));
}

/* Run one pass over all guests with conf.threads workers; called from a
 * thread registered with RCU. Returns 0, -ECANCELED or -ENOMEM. */
int scan_run_pass(struct scanner *s)
{
	struct scan_pass p = { .s = s, .id = ++s->pass_seq };
	int ret = -ENOMEM;
	usec_t start = now_usec();

	pthread_mutex_init(&p.ksm_lock, NULL);
	pass_plan_backoff(&p, start);
	if (pass_take_guests(&p) < 0 || pass_plan(&p) < 0 || !pass_run_workers(&p))
		goto out;
	if (atomic_load(&p.cancelled)) {
		ret = -ECANCELED;
		goto out;
	}
	scan_index_ksm_pages(&p);
	scan_backoff_drop_classes(&p);
	s->last_pass_wall_usec = now_usec() - start;
	ret = scan_publish(&p, start, s->last_pass_wall_usec);
	if (ret < 0)
		log_warn("scanner: publishing results: %s, ignoring", strerror(-ret));
out:
	pass_release(&p);
	return ret;
}
