/* scan_index.c — finding identical pages, at ≤ 16 bytes per tracked page.
 *
 * The problem. A pass hashes every readable page of every guest. Most pages
 * are unique; a few contents appear many times. The index must say, for
 * each content seen twice or more, how many pages hold it and in which
 * guests, without spending memory on the unique majority, and without ever
 * calling two pages equal because their hashes are (a 64-bit hash makes a
 * collision rare; a test hash makes it certain, and the answer must not
 * change).
 *
 * Two stages.
 *
 * 1. First stage: an open-addressing table of 32-bit slots, one slot per
 *    hashed page at ≤ 77% load (about 5.2 bytes per page, for this pass
 *    only). A slot holds a page number ("ref") + 1, not a hash: the hash of
 *    a ref lives in the owner's per-region hash array, which it keeps anyway
 *    to detect volatile pages (8 bytes per page). So the table costs no
 *    second copy of the hashes. A page whose hash meets an empty slot is
 *    unique so far and costs nothing more. Slots are claimed with a CAS, so
 *    scanner threads add concurrently without a lock.
 *
 * 2. When a page's hash meets a slot whose ref has the same full 64-bit
 *    hash, that content is seen for the second time: the page enters the
 *    class index, a liburcu lock-free hash table (rculfhash) keyed by the
 *    hash. The thread that first flips the slot's "promoted" bit also reads
 *    the first page back (through ops->read_page: pread on /proc/PID/mem)
 *    and enters it, after checking that it still hashes the same. A class
 *    keeps one copy of its content for the pass, within a budget of 2
 *    bytes per tracked page; every page that joins is byte-compared with
 *    it (memcmp in memory, no extra read). Classes beyond the budget
 *    compare with their first page read back; each thread keeps the last
 *    page it read back, so a run of pages of one class costs one read. Pages with an
 *    equal hash and different bytes form another class under the same key
 *    (rculfhash allows duplicate keys) and count as a collision: they never
 *    make a false duplicate.
 *
 * Lookups in the class table are lock-free; creating a class or joining
 * one takes one of 64 stripe mutexes chosen by the hash, so two threads never
 * create two classes for one content. Only pages seen at least twice get
 * here, so the stripes are rarely contended.
 *
 * Cost per tracked page: unique pages 5.2 transient bytes here (the hash
 * array is the owner's); pages in classes add a class (64 bytes, from
 * slabs, guests inline up to two) shared by all its pages and, within the
 * budget, a 4 KiB content copy per class for the pass. Allocations are counted (bytes, peak) so
 * the figure is measured, not estimated. */
#include "scanner/scan_index.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#include <urcu.h>
#include <urcu/rculfhash.h>

#define PROMOTED 0x80000000u
#define N_STRIPES 64
/* Content copies kept per pass: 2 bytes per tracked page (a copy per 2048
 * pages), at least 256 KiB; beyond it a class compares against its first
 * page read back (and each thread keeps the last page it read back). */
#define CONTENT_BUDGET_PER_PAGE 2u
#define CONTENT_BUDGET_MIN (256u << 10)

static _Atomic uint64_t index_generation;

/* The last class representative this thread read back, so that runs of
 * pages of one class cost one read, not one each. */
static __thread struct {
	uint64_t gen;     /* index generation + 1, 0 = empty */
	uint32_t ref;
	unsigned char buf[SCAN_PAGE_SIZE] __attribute__((aligned(64)));
} last_read;

/* 64 bytes; most classes are held by one or two guests (inline). */
struct scan_class {
	struct cds_lfht_node node;
	uint64_t hash;
	uint32_t pages;              /* pages not merged yet */
	uint16_t n_guests;
	uint8_t cap_log2;            /* 0: guests inline, else 1 << cap_log2 */
	uint8_t merged;              /* a KSM page with this content exists */
	unsigned char *content;      /* SCAN_PAGE_SIZE bytes or NULL */
	union {
		struct scan_class_guest inl[2];
		struct scan_class_guest *ext;
	} g;
};

/* Classes come from slabs: no malloc header per class, and the walk and the
 * teardown iterate the slabs. */
#define SLAB_CLASSES 1024
struct class_slab {
	struct class_slab *next;
	unsigned used;
	struct scan_class c[SLAB_CLASSES];
};

static struct scan_class_guest *class_guests(struct scan_class *c)
{
	return c->cap_log2 ? c->g.ext : c->g.inl;
}

struct scan_index {
	_Atomic uint32_t *slots;
	uint64_t n_slots;
	scanner_hash_fn hash;
	const struct scan_index_ops *ops;
	void *ctx;
	struct cds_lfht *ht;
	pthread_mutex_t stripe[N_STRIPES];
	pthread_mutex_t list_lock;   /* slabs */
	struct class_slab *slabs;
	_Atomic uint64_t collisions;
	_Atomic uint64_t filled, overflow;
	_Atomic uint64_t content_bytes;
	uint64_t content_budget;
	uint64_t generation;         /* distinguishes refs of different passes */
	_Atomic uint64_t bytes, peak_bytes;
};

static void account(struct scan_index *ix, int64_t delta)
{
	uint64_t now = atomic_fetch_add(&ix->bytes, (uint64_t)delta) + (uint64_t)delta;
	uint64_t peak = atomic_load(&ix->peak_bytes);
	while (now > peak && !atomic_compare_exchange_weak(&ix->peak_bytes, &peak, now))
		;
}

/* Spread the hash over the table even when a test hash is tiny. */
static uint64_t mix64(uint64_t h)
{
	h ^= h >> 33; h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33; h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

struct scan_index *scan_index_new(uint64_t capacity_pages, scanner_hash_fn hash,
				  const struct scan_index_ops *ops, void *ctx)
{
	struct scan_index *ix = calloc(1, sizeof(*ix));
	if (!ix)
		return NULL;
	ix->n_slots = capacity_pages + capacity_pages * 3 / 10 + 64;
	ix->slots = calloc(ix->n_slots, sizeof(*ix->slots));
	/* The class table starts at one bucket per 16 pages (a pow2): its
	 * resizes run later, on liburcu's worker, and a pass that creates
	 * classes faster meanwhile walks long chains (on the convergence
	 * workload, 65,600 classes, a pass took 13% longer from 1024). */
	unsigned long buckets = 1024;
	while (buckets < capacity_pages / 16)
		buckets <<= 1;
	ix->ht = cds_lfht_new(buckets, 1024, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	if (!ix->slots || !ix->ht) {
		free(ix->slots);
		if (ix->ht)
			cds_lfht_destroy(ix->ht, NULL);
		free(ix);
		return NULL;
	}
	ix->hash = hash;
	ix->content_budget = MAX((uint64_t)CONTENT_BUDGET_MIN, capacity_pages * CONTENT_BUDGET_PER_PAGE);
	ix->generation = atomic_fetch_add(&index_generation, 1) + 1;
	ix->ops = ops;
	ix->ctx = ctx;
	for (int i = 0; i < N_STRIPES; i++)
		pthread_mutex_init(&ix->stripe[i], NULL);
	pthread_mutex_init(&ix->list_lock, NULL);
	account(ix, (int64_t)(sizeof(*ix) + ix->n_slots * sizeof(*ix->slots) +
			      buckets * sizeof(struct cds_lfht_node)));
	return ix;
}

static int match_hash(struct cds_lfht_node *node, const void *key)
{
	const struct scan_class *c = caa_container_of(node, struct scan_class, node);
	return c->hash == *(const uint64_t *)key;
}

static int class_add_guest(struct scan_index *ix, struct scan_class *c,
			   unsigned guest, uint32_t ref)
{
	struct scan_class_guest *g = class_guests(c);
	for (uint32_t i = 0; i < c->n_guests; i++)
		if (g[i].guest == guest) {
			g[i].pages++;
			c->pages++;
			return 0;
		}
	uint32_t cap = c->cap_log2 ? 1u << c->cap_log2 : 2;
	if (c->n_guests == cap) {
		if (cap * 2 > UINT16_MAX)
			return -E2BIG;
		struct scan_class_guest *n = malloc(cap * 2 * sizeof(*n));
		if (!n)
			return -ENOMEM;
		memcpy(n, g, c->n_guests * sizeof(*n));
		if (c->cap_log2) {
			free(c->g.ext);
			account(ix, -(int64_t)(cap * sizeof(*n)));
		}
		account(ix, (int64_t)(cap * 2 * sizeof(*n)));
		c->g.ext = g = n;
		c->cap_log2 = (uint8_t)(__builtin_ctz(cap) + 1);
	}
	g[c->n_guests++] = (struct scan_class_guest){ guest, 1, ref };
	c->pages++;
	return 0;
}

static struct scan_class *class_alloc(struct scan_index *ix)
{
	struct scan_class *c = NULL;
	pthread_mutex_lock(&ix->list_lock);
	if (!ix->slabs || ix->slabs->used == SLAB_CLASSES) {
		struct class_slab *sl = malloc(sizeof(*sl));
		if (sl) {
			account(ix, sizeof(*sl));
			sl->used = 0;
			sl->next = ix->slabs;
			ix->slabs = sl;
		}
	}
	if (ix->slabs && ix->slabs->used < SLAB_CLASSES) {
		c = &ix->slabs->c[ix->slabs->used++];
		memset(c, 0, sizeof(*c));
	}
	pthread_mutex_unlock(&ix->list_lock);
	return c;
}

/* Do the bytes of class k equal content? From its copy, or else from its
 * first page read back (a page changed since makes the answer "no": a
 * missed duplicate, never a false one). */
static bool class_equal(struct scan_index *ix, const struct scan_class *k, const void *content)
{
	if (k->content)
		return memcmp(k->content, content, SCAN_PAGE_SIZE) == 0;
	uint32_t ref = (k->cap_log2 ? k->g.ext : k->g.inl)[0].ref;
	if (last_read.gen != ix->generation || last_read.ref != ref) {
		last_read.gen = 0;
		if (ix->ops->read_page(ix->ctx, ref, last_read.buf) < 0)
			return false;
		last_read.gen = ix->generation;
		last_read.ref = ref;
	}
	return memcmp(last_read.buf, content, SCAN_PAGE_SIZE) == 0;
}

/* Enter one page into the class index: join the class with equal bytes or
 * create one. */
static int class_insert(struct scan_index *ix, uint32_t ref, unsigned guest,
			uint64_t h, const void *content, bool merged)
{
	pthread_mutex_t *m = &ix->stripe[mix64(h) % N_STRIPES];
	struct cds_lfht_iter it;
	struct scan_class *c = NULL;
	bool same_hash = false;
	int r;

	pthread_mutex_lock(m);
	rcu_read_lock();
	cds_lfht_lookup(ix->ht, h, match_hash, &h, &it);
	for (struct cds_lfht_node *n = cds_lfht_iter_get_node(&it); n;
	     cds_lfht_next_duplicate(ix->ht, match_hash, &h, &it),
	     n = cds_lfht_iter_get_node(&it)) {
		struct scan_class *k = caa_container_of(n, struct scan_class, node);
		same_hash = true;
		if (class_equal(ix, k, content)) {
			c = k;
			break;
		}
	}
	if (c) {
		r = class_add_guest(ix, c, guest, ref);
		if (merged && r == 0) {
			/* the guest holds the content (merged): no page to count */
			struct scan_class_guest *g = class_guests(c);
			for (uint32_t i = 0; i < c->n_guests; i++)
				if (g[i].guest == guest)
					g[i].pages--;
			c->pages--;
			c->merged = 1;
		}
		rcu_read_unlock();
		pthread_mutex_unlock(m);
		return r;
	}
	rcu_read_unlock();
	c = class_alloc(ix);
	if (!c) {
		pthread_mutex_unlock(m);
		return -ENOMEM;
	}
	if (atomic_fetch_add(&ix->content_bytes, SCAN_PAGE_SIZE) < ix->content_budget &&
	    (c->content = malloc(SCAN_PAGE_SIZE))) {
		account(ix, SCAN_PAGE_SIZE);
		memcpy(c->content, content, SCAN_PAGE_SIZE);
	}
	c->hash = h;
	(void)class_add_guest(ix, c, guest, ref);  /* inline: cannot fail */
	if (merged) {
		/* the KSM page: a location for compares, not a page to merge */
		c->merged = 1;
		c->g.inl[0].pages = 0;
		c->pages = 0;
	}
	if (same_hash)
		atomic_fetch_add(&ix->collisions, 1);
	cds_lfht_node_init(&c->node);
	rcu_read_lock();
	cds_lfht_add(ix->ht, h, &c->node);
	rcu_read_unlock();
	pthread_mutex_unlock(m);
	return 0;
}

/* The first page of a content, seen again: read it back, check that it
 * still has the hash it had, and enter it. */
static void promote_first(struct scan_index *ix, uint32_t first, uint64_t h)
{
	unsigned char buf[SCAN_PAGE_SIZE] __attribute__((aligned(64)));
	if (ix->ops->read_page(ix->ctx, first, buf) < 0)
		return;
	if (ix->hash(buf, SCAN_PAGE_SIZE) != h)
		return;  /* changed since it was hashed: leave it unique */
	(void)class_insert(ix, first, ix->ops->ref_guest(ix->ctx, first), h, buf, false);
}

static inline uint64_t slot_of(const struct scan_index *ix, uint64_t h)
{
	return (uint64_t)(((unsigned __int128)mix64(h) * ix->n_slots) >> 64);
}

void scan_index_prefetch(const struct scan_index *ix, uint64_t h)
{
	__builtin_prefetch(&ix->slots[slot_of(ix, h)], 1, 1);
}

/* Add ref (content NULL: a page not read this pass, see
 * scan_index_add_unread). */
static int index_add(struct scan_index *ix, uint32_t ref, unsigned guest,
		     uint64_t h, const void *content, bool merged)
{
	unsigned char buf[SCAN_PAGE_SIZE] __attribute__((aligned(64)));
	if (ref > SCAN_REF_MAX)
		return -ERANGE;
	uint64_t slot = slot_of(ix, h);
	for (uint64_t probes = 0; probes < ix->n_slots; probes++) {
		_Atomic uint32_t *sp = &ix->slots[slot];
		uint32_t v = atomic_load_explicit(sp, memory_order_acquire);
		if (v == 0 && merged)
			return 0;  /* no page of this content waits to be merged */
		if (v == 0) {
			/* keep probing short: past 90% load, count the page as
			 * unique (a missed duplicate, never a false one) */
			if (atomic_load_explicit(&ix->filled, memory_order_relaxed) * 10 > ix->n_slots * 9) {
				atomic_fetch_add(&ix->overflow, 1);
				return 0;
			}
			if (atomic_compare_exchange_strong(sp, &v, ref + 1)) {
				atomic_fetch_add_explicit(&ix->filled, 1, memory_order_relaxed);
				return 0;
			}
			/* lost the race: v holds the winner, look at it */
		}
		uint32_t other = (v & ~PROMOTED) - 1;
		if (ix->ops->ref_hash(ix->ctx, other) == h) {
			if (!content) {
				/* a page not read this pass, by the hash it had:
				 * read it now, as the first page of a class is */
				if (ix->ops->read_page(ix->ctx, ref, buf) < 0)
					return -EIO;
				if (ix->hash(buf, SCAN_PAGE_SIZE) != h)
					return -ESTALE;
				content = buf;
			}
			if (!(v & PROMOTED) &&
			    atomic_compare_exchange_strong(sp, &v, v | PROMOTED))
				promote_first(ix, other, h);
			int r = class_insert(ix, ref, guest, h, content, merged);
			return r < 0 ? r : 1;
		}
		if (++slot == ix->n_slots)
			slot = 0;
	}
	return -ENOSPC;
}

int scan_index_add(struct scan_index *ix, uint32_t ref, unsigned guest,
		   uint64_t h, const void *content)
{
	return index_add(ix, ref, guest, h, content, false);
}

int scan_index_add_unread(struct scan_index *ix, uint32_t ref, unsigned guest, uint64_t h)
{
	return index_add(ix, ref, guest, h, NULL, false);
}

int scan_index_add_merged(struct scan_index *ix, uint32_t ref, unsigned guest,
			  uint64_t h, const void *content)
{
	return index_add(ix, ref, guest, h, content, true);
}

void scan_index_walk(struct scan_index *ix,
		     void (*fn)(const struct scan_class_info *c, void *arg), void *arg)
{
	for (struct class_slab *sl = ix->slabs; sl; sl = sl->next)
		for (unsigned i = 0; i < sl->used; i++) {
			struct scan_class *c = &sl->c[i];
			if (!c->pages)
				continue;
			struct scan_class_info info = {
				.hash = c->hash, .pages = c->pages, .merged = c->merged,
				.n_guests = c->n_guests, .guests = class_guests(c),
			};
			fn(&info, arg);
		}
}

void scan_index_set_content_budget(struct scan_index *ix, uint64_t bytes)
{
	ix->content_budget = bytes;
}

uint64_t scan_index_overflow(const struct scan_index *ix)
{
	return atomic_load(&((struct scan_index *)ix)->overflow);
}

uint64_t scan_index_collisions(const struct scan_index *ix)
{
	return atomic_load(&((struct scan_index *)ix)->collisions);
}

uint64_t scan_index_bytes(const struct scan_index *ix)
{
	return atomic_load(&((struct scan_index *)ix)->bytes);
}

uint64_t scan_index_peak_bytes(const struct scan_index *ix)
{
	return atomic_load(&((struct scan_index *)ix)->peak_bytes);
}

void scan_index_drop_contents(struct scan_index *ix)
{
	for (struct class_slab *sl = ix->slabs; sl; sl = sl->next)
		for (unsigned i = 0; i < sl->used; i++)
			if (sl->c[i].content) {
				free(sl->c[i].content);
				sl->c[i].content = NULL;
				account(ix, -(int64_t)SCAN_PAGE_SIZE);
			}
	if (ix->slots) {
		free(ix->slots);
		ix->slots = NULL;
		account(ix, -(int64_t)(ix->n_slots * sizeof(uint32_t)));
	}
}

void scan_index_free(struct scan_index *ix)
{
	if (!ix)
		return;
	/* The caller is a registered RCU thread and no adder runs any more:
	 * unlink every class, then free them with their slabs. */
	rcu_read_lock();
	for (struct class_slab *sl = ix->slabs; sl; sl = sl->next)
		for (unsigned i = 0; i < sl->used; i++)
			cds_lfht_del(ix->ht, &sl->c[i].node);
	rcu_read_unlock();
	while (ix->slabs) {
		struct class_slab *sl = ix->slabs;
		ix->slabs = sl->next;
		for (unsigned i = 0; i < sl->used; i++) {
			free(sl->c[i].content);
			if (sl->c[i].cap_log2)
				free(sl->c[i].g.ext);
		}
		free(sl);
	}
	cds_lfht_destroy(ix->ht, NULL);
	free(ix->slots);
	for (int i = 0; i < N_STRIPES; i++)
		pthread_mutex_destroy(&ix->stripe[i]);
	pthread_mutex_destroy(&ix->list_lock);
	free(ix);
}
