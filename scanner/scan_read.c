/* scan_read.c — reading pages (pagemap, pread, process_vm_readv) and
 * classifying, hashing and indexing them: stages 1 to 3 of the essay. */
#include "scanner/scanner_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "collect/regions.h"

static ssize_t pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return done ? (ssize_t)done : -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

/* ---- the worker -------------------------------------------------------------- */

/* Note that pages of g were just read: the read marked them accessed
 * (scanner_guest_last_read). Called after every read, whatever it returned. */
void scan_mark_read(struct scan_guest *g)
{
	atomic_store_explicit(&g->last_read_usec, now_usec(), memory_order_relaxed);
}

/* The worker running on this thread (NULL outside a pass's workers). */
__thread struct worker *scan_tls_worker;

/* Read page ref back into buf (pread: never unshares) for the index's
 * byte compares. A class beyond the content budget compares each joining
 * page with its first page read back, and identical guests join classes in
 * the order of their first pages (page i of one guest equals page i of the
 * other): so a worker reads back RA_PAGES pages at a time, those that
 * pagemap shows present right before (reading an absent page would map one
 * into the guest), and serves the next read-backs from them. Measured on
 * the convergence workload (4 x 512 MiB, half the same in every process,
 * 65,600 classes): see the essay. */
int scan_cb_read_page(void *ctx, uint32_t ref, void *buf)
{
	struct ref_block *b = ref_block(ctx, ref);
	struct scan_guest *g = b->r->g;
	uint64_t page = b->first + ref % CHUNK_PAGES;  /* in the region */
	off_t addr = (off_t)(b->r->start + page * PAGE_SIZE_4K);
	struct worker *w = scan_tls_worker;
	if (w && w->ra) {
		if (w->ra_blk == b && ref >= w->ra_ref && ref - w->ra_ref < w->ra_n) {
			memcpy(buf, w->ra + (size_t)(ref - w->ra_ref) * PAGE_SIZE_4K, PAGE_SIZE_4K);
			w->ra_hits++;
			return 0;
		}
		w->ra_blk = NULL;
		uint64_t k = MIN(MIN((uint64_t)RA_PAGES, b->r->npages - page),
				 CHUNK_PAGES - ref % CHUNK_PAGES);
		uint64_t pm[RA_PAGES];
		ssize_t got = pread_full(g->pagemap_fd, pm, k * 8,
					 (off_t)((b->r->start / PAGE_SIZE_4K + page) * 8));
		uint64_t n = 0;
		while (got > 0 && n < (uint64_t)got / 8 && (pm[n] & PM_PRESENT))
			n++;
		if (n > 1) {
			got = pread_full(g->mem_fd, w->ra, n * PAGE_SIZE_4K, addr);
			scan_mark_read(g);
			if (got >= (ssize_t)PAGE_SIZE_4K) {
				w->ra_blk = b;
				w->ra_ref = ref;
				w->ra_n = (uint32_t)((uint64_t)got / PAGE_SIZE_4K);
				w->ra_reads++;
				memcpy(buf, w->ra, PAGE_SIZE_4K);
				return 0;
			}
		}
	}
	ssize_t n = pread_full(g->mem_fd, buf, PAGE_SIZE_4K, addr);
	scan_mark_read(g);
	if (n < 0)
		return (int)n;
	return n == (ssize_t)PAGE_SIZE_4K ? 0 : -EIO;
}

static bool page_is_zero(const unsigned char *p)
{
	static const unsigned char zero[SCAN_PAGE_SIZE];
	return memcmp(p, zero, SCAN_PAGE_SIZE) == 0;
}

/* kpageflags of pfn (cached); all ones when unknown. */
static uint64_t kpf_get(struct worker *w, uint64_t pfn)
{
	if (pfn + 1 == w->kpf_last_pfn)
		return w->kpf_last;  /* runs of mappings of one KSM page */
	unsigned slot = (unsigned)(pfn % KPF_CACHE);
	if (w->kpf_pfn[slot] == pfn + 1) {
		w->kpf_last_pfn = pfn + 1;
		return w->kpf_last = w->kpf_flags[slot];
	}
	uint64_t v[KPF_READ];
	ssize_t n = w->kpf_fd >= 0 ? pread_full(w->kpf_fd, v, sizeof(v), (off_t)(pfn * 8)) : -EBADF;
	if (n < 8)
		return ~0ULL;
	for (ssize_t i = 0; i < n / 8; i++) {
		unsigned sl = (unsigned)((pfn + (uint64_t)i) % KPF_CACHE);
		w->kpf_pfn[sl] = pfn + (uint64_t)i + 1;
		w->kpf_flags[sl] = v[i];
	}
	w->kpf_last_pfn = pfn + 1;
	return w->kpf_last = v[0];
}

static void note_ksm_pfn(struct worker *w, uint64_t pfn, uint32_t ref)
{
	if (w->n_ksm && w->ksm[w->n_ksm - 1].pfn == pfn)
		return;
	if (w->n_ksm == w->cap_ksm) {
		size_t cap = w->cap_ksm ? w->cap_ksm * 2 : 1024;
		struct ksm_seen *v = realloc(w->ksm, cap * sizeof(*v));
		if (!v)
			return;
		w->ksm = v;
		w->cap_ksm = cap;
	}
	w->ksm[w->n_ksm++] = (struct ksm_seen){ pfn, ref };
}

/* Classify and index one page (page i of chunk c) whose hash is h. */
static void account_page(struct worker *w, struct scan_region *r, struct chunk_state *c,
			 unsigned i, const unsigned char *page, uint64_t h)
{
	struct scanner *s = w->p->s;
	uint64_t bit = 1ULL << (i % 64);
	bool seen = c->seen[i / 64] & bit;
	uint64_t old = c->hash[i];
	__atomic_store_n(&c->hash[i], h, __ATOMIC_RELEASE);
	c->seen[i / 64] |= bit;
	w->scanned++;
	bool steady = false;
	if (h == s->zero_hash && page_is_zero(page)) {
		w->c[GC_ZERO_FILLED]++;
	} else if (seen && old != h) {
		w->c[GC_VOLATILE]++;
	} else if (c->ref_pass == w->p->id) {
		w->c[GC_HASHED]++;
		steady = scan_index_add(w->p->ix, c->ref_base + i, r->g->idx, h, page) == 0 && seen;
	} else {
		/* the chunk got no refs: the pass reached the index limit
		 * (scanner_conf.index_limit_pages) */
		w->c[GC_BEYOND]++;
	}
	/* unique so far and unchanged: one step further from the next read
	 * (a page that joins a class later in the pass is dropped after it) */
	c->bo[i] = backoff_after_read(c->bo[i], w->p->id, steady);
}

/* Hash a batch of pages (from page idx of region r, all in chunk c),
 * prefetch their index slots, then account them. */
static void hash_pages(struct worker *w, struct scan_region *r, struct chunk_state *c,
		       uint64_t idx, const unsigned char *buf, uint64_t pages)
{
	struct scanner *s = w->p->s;
	for (uint64_t i = 0; i < pages; i++) {
		w->hs[i] = s->hash(buf + i * PAGE_SIZE_4K, PAGE_SIZE_4K);
		scan_index_prefetch(w->p->ix, w->hs[i]);
	}
	for (uint64_t i = 0; i < pages; i++)
		account_page(w, r, c, (unsigned)((idx + i) % CHUNK_PAGES),
			     buf + i * PAGE_SIZE_4K, w->hs[i]);
}

/* The chunk state of a work item, allocated on first need, with a ref
 * block for this pass. NULL on ENOMEM. */
static struct chunk_state *chunk_get(struct scan_pass *p, struct scan_region *r, uint64_t first)
{
	uint64_t ci = first / CHUNK_PAGES;
	struct chunk_state *c = r->chunk[ci];
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return NULL;
		c->visit_pass = p->id;
		r->chunk[ci] = c;
		atomic_fetch_add((_Atomic uint64_t *)&r->chunks_allocated, 1);
	}
	if (c->visit_pass != p->id) {
		/* a pass that did not visit the chunk leaves its stamps
		 * unknown: every page is read again */
		if (c->visit_pass + 1 != p->id)
			memset(c->bo, 0, sizeof(c->bo));
		c->visit_pass = p->id;
	}
	if (c->ref_pass != p->id) {
		size_t b = atomic_fetch_add(&p->next_block, 1);
		if (b < p->n_blocks) {
			p->blocks[b] = (struct ref_block){ r, c, first };
			c->ref_base = (uint32_t)(b * CHUNK_PAGES);
			c->ref_pass = p->id;
		}
	}
	return c;
}

/* Stage 1 verdicts: not read, read with pread, read with
 * process_vm_readv (if still exclusive), left unread by the backoff. */
enum { RD_SKIP = 0, RD_PREAD = 1, RD_EXCL = 2, RD_BACKOFF = 3 };

static inline bool rd_reads(unsigned char v)
{
	return v == RD_PREAD || v == RD_EXCL;
}

/* How many of the m pages whose fresh pagemap entries are in pm are still
 * present and exclusively mapped, from the first on. */
static uint64_t exclusive_prefix(const uint64_t *pm, uint64_t m)
{
	uint64_t k = 0;
	while (k < m && (pm[k] & (PM_PRESENT | PM_EXCLUSIVE)) == (PM_PRESENT | PM_EXCLUSIVE) &&
	       (pm[k] & PM_PFN_MASK))
		k++;
	return k;
}

#define KPF_FRESH_READS 8u   /* most kpageflags reads per batch (runs of PFNs) */

/* Of the k pages (fresh pagemap entries pm), how many from the first are
 * not KSM pages, by /proc/kpageflags read now (not from the cache: a page
 * KSM made stable keeps its PFN). A page mapped once is exclusive even if
 * it is a KSM page (its other mappings were unmapped or written to), and a
 * pin would unshare it. Reads one run of consecutive PFNs at a time; after
 * KPF_FRESH_READS reads (scattered PFNs: checking costs more than pread
 * saves) it gives up: *scattered is set and 0 returned. */
static uint64_t not_ksm_prefix(struct worker *w, const uint64_t *pm, uint64_t k, bool *scattered)
{
	uint64_t i = 0, flags[256];
	for (unsigned reads = 0; i < k; reads++) {
		if (reads == KPF_FRESH_READS) {
			*scattered = true;
			return 0;
		}
		uint64_t pfn = pm[i] & PM_PFN_MASK, run = 1;
		while (i + run < k && run < 256 && (pm[i + run] & PM_PFN_MASK) == pfn + run)
			run++;
		ssize_t got = w->kpf_fd >= 0 ?
			pread_full(w->kpf_fd, flags, run * 8, (off_t)(pfn * 8)) : -EBADF;
		if (got < (ssize_t)(run * 8))
			return i;
		for (uint64_t j = 0; j < run; j++, i++)
			if (flags[j] & (KPF_KSM | KPF_ZERO_PAGE))
				return i;
	}
	return i;
}

/* Does KSM count no mapping of a KSM page in the guest, by
 * /proc/PID/ksm_stat read now (ksm_merging_pages 0)? Then the kpageflags
 * check is skipped; what the count can miss, and why that is safe, is in
 * the essay at the top. Any doubt (no file, no field, a short read)
 * answers no. */
static bool ksm_counts_no_mapping(struct scan_guest *g)
{
	char buf[512];
	if (g->ksm_stat_fd < 0)
		return false;
	ssize_t n = pread(g->ksm_stat_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return false;
	buf[n] = 0;
	return scan_ksm_stat_none_merging(buf);
}

/* Count the pages of a process_vm_readv batch whose pagemap entry (PFN or
 * exclusivity) differs now from the one in pm (read before the call). */
static int count_changed(struct worker *w, struct scan_guest *g, off_t pmoff,
			 const uint64_t *pm, uint64_t pages)
{
	uint64_t now[256];
	for (uint64_t done = 0; done < pages; done += 256) {
		uint64_t q = MIN(256, pages - done);
		ssize_t got = pread_full(g->pagemap_fd, now, q * 8, pmoff + (off_t)(done * 8));
		if (got <= 0)
			return got < 0 ? (int)got : -ESRCH;
		for (uint64_t i = 0; i < (uint64_t)got / 8; i++)
			w->vmr_changed += (pm[done + i] & (PM_PFN_MASK | PM_EXCLUSIVE)) !=
					  (now[i] & (PM_PFN_MASK | PM_EXCLUSIVE));
	}
	return 0;
}

/* Read up to m exclusively mapped pages at addr with process_vm_readv into
 * w->buf (see the essay): pagemap is read again just before, so only pages
 * still present and exclusive are pinned, and checked in kpageflags unless
 * the guest maps no KSM page (ksm_stat, read now); and again just after,
 * to count any that changed. Returns bytes read (a page multiple, possibly
 * 0: then the caller falls back to pread for this batch; *scattered set:
 * for the rest of the run) or a negative errno that ends the guest's pass. */
static ssize_t read_exclusive(struct worker *w, struct scan_guest *g, uint64_t addr, uint64_t m,
			      bool *scattered)
{
	off_t pmoff = (off_t)(addr / PAGE_SIZE_4K * 8);
	ssize_t got = pread_full(g->pagemap_fd, w->pm2, m * 8, pmoff);
	if (got <= 0)
		return got < 0 ? got : -ESRCH;
	uint64_t k = exclusive_prefix(w->pm2, (uint64_t)got / 8);
	if (k && !ksm_counts_no_mapping(g))
		k = not_ksm_prefix(w, w->pm2, k, scattered);
	if (!k)
		return 0;
	struct iovec local = { w->buf, k * PAGE_SIZE_4K };
	struct iovec remote = { (void *)(uintptr_t)addr, k * PAGE_SIZE_4K };
	ssize_t n = process_vm_readv(g->pid, &local, 1, &remote, 1, 0);
	if (n < 0) {
		if (errno == ESRCH)
			return -ESRCH;
		if (errno != EFAULT && errno != ENOMEM && errno != EINTR)
			atomic_store(&g->no_vmr, true);  /* EPERM, ENOSYS: not this pass */
		return 0;  /* pread decides */
	}
	if (proc_identity_check(g->pid, g->pidfd, g->start_ticks) < 0)
		return -ESRCH;  /* the pid may have named another process */
	uint64_t pages = (uint64_t)n / PAGE_SIZE_4K;
	if (!pages)
		return 0;
	int e = count_changed(w, g, pmoff, w->pm2, pages);
	if (e < 0)
		return e;
	w->vmr += pages;
	return (ssize_t)(pages * PAGE_SIZE_4K);
}

/* Read and hash pages [idx, idx+n) of r; excl: stage 1 found them all
 * exclusively mapped. Returns 0, -ECANCELED, or the negative errno that
 * ends this guest's pass. */
static int read_run(struct worker *w, struct scan_region *r, struct chunk_state *c,
		    uint64_t idx, uint64_t n, bool excl)
{
	struct scan_guest *g = r->g;
	uint64_t batch = w->p->s->conf.read_batch_bytes / PAGE_SIZE_4K;
	while (n > 0) {
		excl = excl && g->vmr && !atomic_load(&g->no_vmr) && w->kpf_fd >= 0;
		uint64_t m = MIN(n, batch);
		int e = scan_pace(w->p, &w->tp, m);
		if (e < 0)
			return e;
		off_t addr = (off_t)(r->start + idx * PAGE_SIZE_4K);
		ssize_t got = 0;
		if (excl) {
			bool scattered = false;
			got = read_exclusive(w, g, (uint64_t)addr, m, &scattered);
			scan_mark_read(g);
			if (got < 0)
				return (int)got;
			if (scattered)
				excl = false;
		}
		if (got == 0) {
			got = pread_full(g->mem_fd, w->buf, m * PAGE_SIZE_4K, addr);
			scan_mark_read(g);
			if (got < 0 && got != -EIO && got != -EFAULT)
				return (int)got;          /* ESRCH & co: the guest is gone */
			if (got == 0)
				return -ESRCH;            /* the mm is gone */
		} else {
			m = (uint64_t)got / PAGE_SIZE_4K;  /* the exclusive prefix */
		}
		uint64_t pages = got > 0 ? (uint64_t)got / PAGE_SIZE_4K : 0;
		hash_pages(w, r, c, idx, w->buf, pages);
		if (pages < m) {
			/* stopped at a page that is gone since the pagemap read */
			w->c[GC_UNREAD]++;
			pages++;
		}
		idx += pages;
		n -= pages;
	}
	return 0;
}

/* Stage 1 for page i (pagemap entry e): count it, note a KSM mapping, return its RD_* verdict
 * (not the backoff's: classify_chunk's). */
static unsigned char classify_page(struct worker *w, struct work_item *it, uint64_t i,
				   uint64_t e, struct chunk_state **c)
{
	struct scanner *s = w->p->s;
	if (!(e & PM_PRESENT)) {
		if (e & PM_SWAPPED)
			w->c[GC_SWAPPED]++;
		w->skipped++;
		return RD_SKIP;
	}
	uint64_t pfn = e & PM_PFN_MASK;
	w->c[GC_PRESENT]++;
	if (e & PM_EXCLUSIVE && pfn)
		return RD_EXCL;
	if (e & PM_EXCLUSIVE || !pfn)
		return RD_PREAD;
	if (pfn == s->zero_pfn) {
		w->c[GC_ZERO_PAGE]++;
		w->skipped++;
		return RD_SKIP;
	}
	uint64_t f = kpf_get(w, pfn);
	if (f != ~0ULL && (f & KPF_ZERO_PAGE)) {
		w->c[GC_ZERO_PAGE]++;
		w->skipped++;
		return RD_SKIP;
	}
	if (f != ~0ULL && (f & KPF_KSM)) {
		w->c[GC_KSM]++;
		w->skipped++;
		if (!*c)
			*c = chunk_get(w->p, it->r, it->first);
		note_ksm_pfn(w, pfn, *c && (*c)->ref_pass == w->p->id ?
			     (*c)->ref_base + (uint32_t)i : UINT32_MAX);
		return RD_SKIP;
	}
	return RD_PREAD;
}

/* Stage 1: decide the chunk's first n pages into w->rd (*c: chunk state,
 * fetched if needed). A page that pagemap would have read is left unread
 * when the backoff says so; one that it would not (absent, swapped, zero
 * page, merged) starts its backoff again. */
static void classify_chunk(struct worker *w, struct work_item *it, uint64_t n,
			   struct chunk_state **c)
{
	struct scan_pass *p = w->p;
	usec_t t0 = now_usec();
	if (it->r->chunk[it->first / CHUNK_PAGES])
		*c = chunk_get(p, it->r, it->first);  /* its state: visited */
	struct chunk_state *cs = *c && (*c)->ref_pass == p->id ? *c : NULL;
	bool backoff = cs && p->bo.max_since > 0;
	uint32_t phase = (uint32_t)((it->r->start / PAGE_SIZE_4K + it->first) / CHUNK_PAGES);
	for (uint64_t i = 0; i < n; i++) {
		unsigned char v = classify_page(w, it, i, w->pm[i], c);
		if (cs && !rd_reads(v))
			cs->bo[i] = 0;
		else if (backoff && backoff_skip(&p->bo, cs->bo[i], phase))
			v = RD_BACKOFF;
		w->rd[i] = v;
	}
	w->pagemap_usec += now_usec() - t0;
}

/* Stage 2b: the pages the backoff left unread enter the index by the hash
 * of their last read (a page read this pass that has it reads them back
 * and compares, so new duplicates of backed-off content are found). */
static void index_unread(struct worker *w, struct work_item *it, uint64_t n, struct chunk_state *c)
{
	struct scan_pass *p = w->p;
	unsigned g = it->r->g->idx;
	for (uint64_t base = 0; base < n; base += 64) {
		uint64_t end = MIN(n, base + 64);
		for (uint64_t i = base; i < end; i++)
			if (w->rd[i] == RD_BACKOFF)
				scan_index_prefetch(p->ix, c->hash[i]);
		for (uint64_t i = base; i < end; i++) {
			if (w->rd[i] != RD_BACKOFF)
				continue;
			unsigned since = backoff_since(c->bo[i], p->id);
			int r = scan_index_add_unread(p->ix, c->ref_base + (uint32_t)i, g, c->hash[i]);
			if (r < 0 || r == 1)
				c->bo[i] = backoff_drop(c->bo[i]);  /* read again next pass */
			if (r == -ESTALE)
				w->c[GC_VOLATILE]++;  /* changed since its last read */
			if (r < 0)
				continue;  /* not entered (-EIO: gone since the
				            * pagemap read): counts as unread */
			w->c[GC_HASHED]++;
			if (r == 0) {
				w->c[GC_BACKOFF]++;
				w->bo_since_max = MAX(w->bo_since_max, since);
			}
		}
	}
}

/* Stage 2: read the runs of readable pages; 0, or a negative errno from read_run (or -ENOMEM). */
static int read_runs(struct worker *w, struct work_item *it, uint64_t n, struct chunk_state *c)
{
	uint64_t run_start = 0, run_len = 0;
	unsigned char run_kind = RD_SKIP;
	for (uint64_t i = 0; i <= n; i++) {
		if (i < n && rd_reads(w->rd[i]) && (!run_len || w->rd[i] == run_kind)) {
			if (!run_len) {
				run_start = it->first + i;
				run_kind = w->rd[i];
			}
			run_len++;
			continue;
		}
		if (run_len) {
			if (!c && !(c = chunk_get(w->p, it->r, it->first)))
				return -ENOMEM;
			int e = read_run(w, it->r, c, run_start, run_len, run_kind == RD_EXCL);
			if (e < 0)
				return e;
			run_len = 0;
			if (i < n && rd_reads(w->rd[i])) {  /* a run of the other kind starts here */
				run_start = it->first + i;
				run_kind = w->rd[i];
				run_len = 1;
			}
		}
	}
	return 0;
}

/* One work item: pagemap, stage 1, stage 2; 0, -ECANCELED or an errno ending the guest's pass. */
int scan_chunk(struct worker *w, struct work_item *it)
{
	struct scan_region *r = it->r;
	struct scan_guest *g = r->g;
	if (atomic_load(&g->failed))
		return 0;
	uint64_t vpn = r->start / PAGE_SIZE_4K + it->first;
	usec_t tp = now_usec();
	ssize_t got = pread_full(g->pagemap_fd, w->pm, it->count * 8, (off_t)(vpn * 8));
	w->pagemap_usec += now_usec() - tp;
	if (got <= 0)
		return got < 0 ? (int)got : -ESRCH;
	uint64_t n = (uint64_t)got / 8;
	struct chunk_state *c = NULL;
	classify_chunk(w, it, n, &c);
	int e = read_runs(w, it, n, c);
	if (e == 0 && c)
		index_unread(w, it, n, c);
	return e;
}
