/* scan_publish.c — after a pass: the KSM pages met entered into the index,
 * then the results (per guest, per pair of guests, totals) published. */
#include "scanner/scanner_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* ---- results -------------------------------------------------------------- */

struct tally {
	unsigned ng;
	uint64_t *intra, *cross, *mergeable;
	uint64_t *pair;           /* ng * ng, upper triangle used */
	uint64_t saveable, classes;
};

static void tally_class(const struct scan_class_info *c, void *arg)
{
	struct tally *t = arg;
	/* pages KSM would free: all but one, or all when a KSM page holds the
	 * content already */
	uint32_t kept = c->merged ? 0 : 1;
	if (c->pages < 1 + kept)
		return;
	t->saveable += c->pages - kept;
	t->classes++;
	for (unsigned i = 0; i < c->n_guests; i++) {
		unsigned gi = c->guests[i].guest;
		if (c->n_guests > 1)
			t->cross[gi] += c->guests[i].pages;
		else
			t->intra[gi] += c->guests[i].pages;
		t->mergeable[gi] += c->guests[i].pages - (i == 0 ? kept : 0);
		if (t->pair)
			for (unsigned j = i + 1; j < c->n_guests; j++) {
				unsigned a = MIN(gi, c->guests[j].guest), b = MAX(gi, c->guests[j].guest);
				t->pair[(size_t)a * t->ng + b]++;
			}
	}
}


static uint64_t state_bytes_of(struct scan_pass *p, uint64_t *tracked)
{
	uint64_t bytes = 0;
	*tracked = 0;
	for (unsigned i = 0; i < p->ng; i++) {
		struct scan_guest *g = p->g[i];
		bytes += sizeof(*g) + g->n_regions * sizeof(struct scan_region);
		for (size_t j = 0; j < g->n_regions; j++) {
			struct scan_region *r = &g->regions[j];
			*tracked += MIN(r->npages, r->chunks_allocated * CHUNK_PAGES);
			bytes += r->nchunks * sizeof(struct chunk_state *) +
				 r->chunks_allocated * sizeof(struct chunk_state);
		}
	}
	return bytes;
}

/* A PFN spread over 64 bits (Fibonacci hashing): its high bits pick a hash
 * table's slot, or the pass that reads a KSM page again. */
static inline uint64_t pfn_mix(uint64_t pfn)
{
	return pfn * 0x9E3779B97F4A7C15ULL;
}

static int cmp_ksm_seen(const void *a, const void *b)
{
	const struct ksm_seen *x = a, *y = b;
	return x->pfn < y->pfn ? -1 : x->pfn > y->pfn;
}

/* Keep one mapping per KSM page of the n in v, in the order met (one
 * with a ref when any has one); returns how many are left. A hash set of
 * PFNs (8 bytes per mapping, for the pass's end only): linear, where a
 * sort was n log n (5% of a converged pass's CPU at 2 GiB); falls back to
 * the sort without memory. */
size_t scan_ksm_distinct(struct ksm_seen *v, size_t n)
{
	size_t cap = 16;
	while (cap < 2 * n)
		cap *= 2;
	uint32_t *tab = n < UINT32_MAX / 2 ? calloc(cap, sizeof(*tab)) : NULL;
	size_t out = 0;
	if (!tab) {
		qsort(v, n, sizeof(*v), cmp_ksm_seen);
		for (size_t i = 0; i < n; i++) {
			if (out && v[out - 1].pfn == v[i].pfn) {
				if (v[out - 1].ref == UINT32_MAX)
					v[out - 1].ref = v[i].ref;
				continue;
			}
			v[out++] = v[i];
		}
		return out;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t pfn = v[i].pfn;
		size_t slot = (size_t)(pfn_mix(pfn) >> 20) & (cap - 1);
		for (;; slot = (slot + 1) & (cap - 1)) {
			uint32_t t = tab[slot];
			if (!t) {
				tab[slot] = (uint32_t)out + 1;
				v[out++] = v[i];
				break;
			}
			if (v[t - 1].pfn == pfn) {
				if (v[t - 1].ref == UINT32_MAX)
					v[t - 1].ref = v[i].ref;
				break;
			}
		}
	}
	free(tab);
	return out;
}

static size_t kh_slot(uint64_t pfn, size_t cap)
{
	return (size_t)(pfn_mix(pfn) >> 17) & (cap - 1);
}

int scan_ksm_hashes_init(struct ksm_hashes *t, size_t n)
{
	size_t cap = 16;
	while (cap < n + n / 3 + 1)
		cap *= 2;
	t->v = calloc(cap, sizeof(*t->v));
	t->cap = t->v ? cap : 0;
	return t->v ? 0 : -ENOMEM;
}

void scan_ksm_hashes_free(struct ksm_hashes *t)
{
	free(t->v);
	t->v = NULL;
	t->cap = 0;
}

bool scan_ksm_hashes_get(const struct ksm_hashes *t, uint64_t pfn, uint64_t *hash)
{
	if (!t->cap)
		return false;
	for (size_t s = kh_slot(pfn, t->cap);; s = (s + 1) & (t->cap - 1)) {
		if (!t->v[s].pfn1)
			return false;
		if (t->v[s].pfn1 == pfn + 1) {
			*hash = t->v[s].hash;
			return true;
		}
	}
}

/* At most n puts after scan_ksm_hashes_init(t, n): the table never fills. */
void scan_ksm_hashes_put(struct ksm_hashes *t, uint64_t pfn, uint64_t hash)
{
	if (!t->cap)
		return;
	for (size_t s = kh_slot(pfn, t->cap);; s = (s + 1) & (t->cap - 1))
		if (!t->v[s].pfn1 || t->v[s].pfn1 == pfn + 1) {
			t->v[s] = (struct ksm_hash){ pfn + 1, hash };
			return;
		}
}

/* Is pass the one in KSM_REVERIFY_PASSES that reads pfn's page again, known
 * or not? Spread by PFN, so each pass reads about 1/8 of them. */
bool scan_ksm_reverify(uint64_t pfn, uint64_t pass)
{
	return ((pfn_mix(pfn) >> 40) + pass) % KSM_REVERIFY_PASSES == 0;
}

/* KSM pages met in this pass: count the distinct ones, and enter one
 * mapping of each into the index, so that pages not merged yet whose
 * content a KSM page already holds count as mergeable.
 * A KSM page is write-protected: while its PFN stays a KSM page, its
 * content is the one it had. So a page the last pass read back enters by
 * the hash it had then, unread (scan_index_add_merged with no content): it
 * is read only when an unmerged page shows the same hash, and checked
 * against it (a mismatch reads it as new). A PFN freed and given to
 * another KSM page between passes would keep a wrong hash, and so would a
 * mapping unshared between the pagemap read and the read back (its copy's
 * hash is kept under the KSM page's frame): every page is read again every
 * KSM_REVERIFY_PASSES passes (scan_ksm_reverify), which bounds both. Read like any page (pread does not unshare); measured at
 * 2 GiB converged: reading one mapping of each was 10% of a pass's CPU. */
void scan_index_ksm_pages(struct scan_pass *p)
{
	unsigned char buf[SCAN_PAGE_SIZE] __attribute__((aligned(64)));
	struct scanner *s = p->s;
	size_t distinct = p->n_ksm ? scan_ksm_distinct(p->ksm_pfns, p->n_ksm) : 0;
	struct ksm_hashes next = { 0 };
	if (distinct)
		(void)scan_ksm_hashes_init(&next, distinct);  /* none: read them all next pass */
	bool read_any = false;
	for (size_t i = 0; i < distinct; i++) {
		uint32_t ref = p->ksm_pfns[i].ref;
		uint64_t pfn = p->ksm_pfns[i].pfn, h;
		if (ref == UINT32_MAX)
			continue;
		struct ref_block *b = ref_block(p, ref);
		if (!scan_ksm_reverify(pfn, p->id) && scan_ksm_hashes_get(&s->ksm_known, pfn, &h)) {
			if (h == s->zero_hash) {
				scan_ksm_hashes_put(&next, pfn, h);
				p->ksm_known++;
				continue;
			}
			__atomic_store_n(&b->c->hash[ref % CHUNK_PAGES], h, __ATOMIC_RELEASE);
			int r = scan_index_add_merged(p->ix, ref, b->r->g->idx, h, NULL);
			if (r == 0 || r == 1) {
				scan_ksm_hashes_put(&next, pfn, h);  /* unread, or read and equal */
				if (r == 1) {
					read_any = true;  /* a page of its hash: read to compare */
					p->ksm_read++;
				} else {
					p->ksm_known++;
				}
				continue;
			}
			read_any = true;  /* -ESTALE, -EIO: read it as new */
		}
		if (scan_cb_read_page(p, ref, buf) < 0)
			continue;
		read_any = true;
		p->ksm_read++;
		h = s->hash(buf, SCAN_PAGE_SIZE);
		scan_ksm_hashes_put(&next, pfn, h);
		if (h == s->zero_hash)
			continue;  /* zero-filled: reported apart */
		__atomic_store_n(&b->c->hash[ref % CHUNK_PAGES], h, __ATOMIC_RELEASE);
		(void)scan_index_add_merged(p->ix, ref, b->r->g->idx, h, buf);
	}
	scan_ksm_hashes_free(&s->ksm_known);
	s->ksm_known = next;
	p->n_ksm = distinct;
	/* a KSM page read through one guest is marked accessed for every guest
	 * that maps it */
	if (read_any)
		for (unsigned i = 0; i < p->ng; i++)
			scan_mark_read(p->g[i]);
}

static void drop_class(const struct scan_class_info *c, void *arg)
{
	struct scan_pass *p = arg;
	for (unsigned i = 0; i < c->n_guests; i++) {
		uint32_t ref = c->guests[i].ref;
		struct ref_block *b = ref_block(p, ref);
		b->c->bo[ref % CHUNK_PAGES] = backoff_drop(b->c->bo[ref % CHUNK_PAGES]);
	}
}

/* The pages found duplicate keep being read every pass: the pages that
 * joined a class were dropped when they did, the first page of each class
 * (and each guest's first, the same or dropped already) here. */
void scan_backoff_drop_classes(struct scan_pass *p)
{
	scan_index_walk(p->ix, drop_class, p);
}

/* Allocate t's counters (pairs for 2 to 4096 guests); -ENOMEM leaves the rest to tally_free. */
static int tally_init(struct tally *t, unsigned ng)
{
	t->ng = ng;
	t->intra = calloc(ng + 1, sizeof(uint64_t));
	t->cross = calloc(ng + 1, sizeof(uint64_t));
	t->mergeable = calloc(ng + 1, sizeof(uint64_t));
	if (ng >= 2 && ng <= 4096)
		t->pair = calloc((size_t)ng * ng, sizeof(uint64_t));
	if (!t->intra || !t->cross || !t->mergeable || (ng >= 2 && ng <= 4096 && !t->pair))
		return -ENOMEM;
	return 0;
}

/* Free what tally_init allocated. */
static void tally_free(struct tally *t)
{
	free(t->intra);
	free(t->cross);
	free(t->mergeable);
	free(t->pair);
}

/* Note how guest g's pass ended, then fill o with its counts (i: its index
 * in t; end: when the pass ended). */
static void guest_stats(struct scan_pass *p, struct scan_guest *g, const struct tally *t, unsigned i,
			usec_t end, struct scanner_guest_stats *o)
{
	const struct scanner *s = p->s;
	uint64_t id = p->id;
	int failed = atomic_load(&g->failed);
	if (failed) {
		g->last_error = failed;
		if (failed == -ESRCH || failed == -ENOENT)
			g->alive = false;
	}
	snprintf(o->name, sizeof(o->name), "%s", g->name);
	o->pid = g->pid;
	o->alive = g->alive;
	o->last_error = g->last_error;
	o->regions = g->n_regions;
	for (size_t j = 0; j < g->n_regions; j++)
		o->region_pages += g->regions[j].npages;
	o->present_pages = g->c[GC_PRESENT];
	o->swapped_pages = g->c[GC_SWAPPED];
	o->zero_page_pages = g->c[GC_ZERO_PAGE];
	o->zero_filled_pages = g->c[GC_ZERO_FILLED];
	o->ksm_merged_pages = g->c[GC_KSM];
	o->volatile_pages = g->c[GC_VOLATILE];
	o->dup_intra_pages = t->intra[i];
	o->dup_cross_pages = t->cross[i];
	o->mergeable_pages = t->mergeable[i];
	o->unique_pages = g->c[GC_HASHED] - t->intra[i] - t->cross[i];
	o->beyond_index_limit_pages = g->c[GC_BEYOND];
	uint64_t accounted = o->zero_page_pages + o->zero_filled_pages + o->ksm_merged_pages +
			     g->c[GC_HASHED] + o->volatile_pages + o->beyond_index_limit_pages;
	o->unread_pages = o->present_pages > accounted ? o->present_pages - accounted : 0;
	o->backoff_pages = g->c[GC_BACKOFF];
	unsigned since = atomic_load(&g->bo_since_max);
	if (since && o->backoff_pages)
		o->oldest_unscanned_usec = end - s->pass_start_usec[(id - since) & BACKOFF_STAMP_MASK];
}

/* The pairs of guests sharing contents, from t's pair counts if kept, into r; 0 or -ENOMEM. */
static int pair_stats(const struct tally *t, struct scanner_results *r)
{
	if (!t->pair)
		return 0;
	unsigned n = 0;
	for (size_t k = 0; k < (size_t)t->ng * t->ng; k++)
		n += t->pair[k] != 0;
	r->pairs = calloc(n + 1, sizeof(*r->pairs));
	if (!r->pairs)
		return -ENOMEM;
	for (unsigned a = 0; a < t->ng; a++)
		for (unsigned b = a + 1; b < t->ng; b++)
			if (t->pair[(size_t)a * t->ng + b])
				r->pairs[r->n_pairs++] = (struct scanner_pair_stats){
					a, b, t->pair[(size_t)a * t->ng + b] };
	return 0;
}

/* The pass's totals into r: times, rates, the prediction and the scanner's memory. */
static void pass_totals(struct scan_pass *p, const struct tally *t, uint64_t ksm_pages,
			usec_t start, usec_t wall, struct scanner_results *r)
{
	r->last_pass_start_usec = start;
	r->last_pass_usec = wall;
	r->last_pass_cpu_sec = (double)atomic_load(&p->cpu_nsec) / 1e9;
	r->pages_scanned = p->scanned;
	r->pages_skipped = p->skipped;
	r->pages_vm_readv = p->vmr;
	r->vm_readv_changed = p->vmr_changed;
	r->ksm_pages_read = p->ksm_read;
	r->ksm_pages_known = p->ksm_known;
	r->pages_scanned_per_sec = wall ? (double)r->pages_scanned * 1e6 / (double)wall : 0;
	uint64_t pm_usec = atomic_load(&p->pagemap_usec);
	r->pages_skipped_per_sec = pm_usec ? (double)r->pages_skipped * 1e6 / (double)pm_usec : 0;
	r->dup_saveable_pages = t->saveable;
	r->ksm_saved_pages = ksm_pages > p->n_ksm ? ksm_pages - p->n_ksm : 0;
	r->predicted_sharing_pages = r->dup_saveable_pages + r->ksm_saved_pages;
	r->dup_classes = t->classes;
	r->hash_collisions = scan_index_collisions(p->ix);
	/* the index lives for the pass only: it counts in the peak */
	r->state_bytes = state_bytes_of(p, &r->tracked_pages);
	r->peak_state_bytes = r->state_bytes + scan_index_peak_bytes(p->ix);
	if (r->tracked_pages) {
		r->bytes_per_tracked_page = (double)r->state_bytes / (double)r->tracked_pages;
		r->peak_bytes_per_tracked_page = (double)r->peak_state_bytes / (double)r->tracked_pages;
	}
	r->index_limit_pages = p->s->conf.index_limit_pages / CHUNK_PAGES * CHUNK_PAGES;
	r->incremental = p->s->incremental;
	r->backoff_max_passes = p->bo.max_passes;
}

/* Once per pass that met the index limit: how many pages it left out of
 * the index, and what they count as. */
static void warn_index_limit(const struct scanner_results *r)
{
	char n[32], lim[32];
	if (!r->pages_beyond_index_limit)
		return;
	log_warn("scanner: %" PRIu64 " pages (%s) of guest memory beyond the index limit of "
		 "%s per pass: hashed but compared with no page, counted neither unique nor "
		 "duplicate, left out of the prediction (scanner.pages_beyond_index_limit)",
		 r->pages_beyond_index_limit,
		 format_size(r->pages_beyond_index_limit * PAGE_SIZE_4K, n, sizeof(n)),
		 format_size(r->index_limit_pages * PAGE_SIZE_4K, lim, sizeof(lim)));
}

/* Build the results of a finished pass and publish them. */
int scan_publish(struct scan_pass *p, usec_t start, usec_t wall)
{
	struct scanner *s = p->s;
	struct scanner_results r = { 0 };
	struct tally t = { .ng = p->ng };
	int ret = -ENOMEM;

	int tr = tally_init(&t, p->ng);
	r.guests = calloc(p->ng + 1, sizeof(*r.guests));
	if (tr < 0 || !r.guests)
		goto out;
	scan_index_walk(p->ix, tally_class, &t);

	uint64_t ksm_pages = 0;
	r.n_guests = p->ng;
	for (unsigned i = 0; i < p->ng; i++) {
		guest_stats(p, p->g[i], &t, i, start + wall, &r.guests[i]);
		ksm_pages += r.guests[i].ksm_merged_pages;
		r.pages_backoff += r.guests[i].backoff_pages;
		r.pages_beyond_index_limit += r.guests[i].beyond_index_limit_pages;
		r.zero_filled_pages += r.guests[i].zero_filled_pages;
	}
	if (pair_stats(&t, &r) < 0)
		goto out;
	pass_totals(p, &t, ksm_pages, start, wall, &r);
	warn_index_limit(&r);

	scan_quiet_update(s, &r, s->res.passes + 1);
	pthread_mutex_lock(&s->res_lock);
	r.passes = s->res.passes + 1;
	scanner_results_free(&s->res);
	s->res = r;
	pthread_mutex_unlock(&s->res_lock);
	r.guests = NULL;
	r.pairs = NULL;
	ret = 0;
out:
	free(r.guests);
	free(r.pairs);
	tally_free(&t);
	return ret;
}
