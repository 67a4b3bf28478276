/* Unit tests for scanner/scan_index.c: the content index decides duplicates
 * by bytes, never by hash alone; for collect/regions.c: which mappings
 * are guest RAM. */
#include "scanner/scan_hash.h"
#include "scanner/scan_index.h"
#include "collect/regions.h"
#include "tests/unit/harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <urcu.h>
#include <xxhash.h>

/* A made-up guest memory: NPAGES pages, page i belongs to guest i % 2
 * (or to guest_of[] when set). */
#define NPAGES 4096
static unsigned char *mem;
static uint64_t hashes[NPAGES];
static unsigned guest_of[NPAGES];
static unsigned reads;

static uint64_t ref_hash(void *ctx, uint32_t ref) { (void)ctx; return hashes[ref]; }
static unsigned ref_guest(void *ctx, uint32_t ref) { (void)ctx; return guest_of[ref]; }
static int read_page(void *ctx, uint32_t ref, void *buf)
{
	(void)ctx;
	__atomic_add_fetch(&reads, 1, __ATOMIC_RELAXED);
	memcpy(buf, mem + (size_t)ref * SCAN_PAGE_SIZE, SCAN_PAGE_SIZE);
	return 0;
}
static const struct scan_index_ops ops = { ref_hash, ref_guest, read_page };

/* A hash with 4 values: almost every pair of pages collides. */
static uint64_t tiny_hash(const void *p, size_t len)
{
	return XXH3_64bits(p, len) & 3;
}
static uint64_t full_hash(const void *p, size_t len)
{
	return XXH3_64bits(p, len);
}

/* Fill page i with content number c (c distinct => bytes distinct). */
static void fill(unsigned i, unsigned c)
{
	unsigned char *p = mem + (size_t)i * SCAN_PAGE_SIZE;
	memset(p, 0, SCAN_PAGE_SIZE);
	memcpy(p, &c, sizeof(c));
	p[SCAN_PAGE_SIZE - 1] = 0x5a;
}

struct sums { uint64_t classes, dup_pages, saveable, cross_classes; };
static void sum_class(const struct scan_class_info *c, void *arg)
{
	struct sums *s = arg;
	if (c->pages < 2)
		return;
	s->classes++;
	s->dup_pages += c->pages;
	s->saveable += c->pages - 1;
	s->cross_classes += c->n_guests > 1;
	uint32_t sum = 0;
	for (unsigned i = 0; i < c->n_guests; i++)
		sum += c->guests[i].pages;
	CU_ASSERT_EQUAL(sum, c->pages);
}

/* Content layout: pages 0..999 unique; 1000..1999: 100 contents x 10 pages;
 * 2000..4095: 1048 contents x 2 pages (pairs). */
static unsigned layout(void)
{
	for (unsigned i = 0; i < NPAGES; i++) {
		unsigned c = i < 1000 ? i : i < 2000 ? 100000 + (i - 1000) % 100
						     : 200000 + (i - 2000) / 2;
		fill(i, c);
		guest_of[i] = i % 2;
	}
	return 100 + 1048;
}

struct thr { struct scan_index *ix; unsigned from, to; scanner_hash_fn h; };
static void *adder(void *arg)
{
	struct thr *t = arg;
	rcu_register_thread();
	for (unsigned i = t->from; i < t->to; i++) {
		unsigned char *p = mem + (size_t)i * SCAN_PAGE_SIZE;
		hashes[i] = t->h(p, SCAN_PAGE_SIZE);
		CU_ASSERT(scan_index_add(t->ix, i, guest_of[i], hashes[i], p) >= 0);
	}
	rcu_unregister_thread();
	return NULL;
}

static uint64_t last_collisions;

static uint64_t budget = 8u << 20;

static struct sums run(scanner_hash_fn h, unsigned threads)
{
	struct sums s = { 0 };
	struct scan_index *ix = scan_index_new(NPAGES, h, &ops, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ix);
	scan_index_set_content_budget(ix, budget);
	pthread_t tid[4];
	struct thr t[4];
	for (unsigned k = 0; k < threads; k++) {
		t[k] = (struct thr){ ix, k * NPAGES / threads, (k + 1) * NPAGES / threads, h };
		pthread_create(&tid[k], NULL, adder, &t[k]);
	}
	for (unsigned k = 0; k < threads; k++)
		pthread_join(tid[k], NULL);
	scan_index_walk(ix, sum_class, &s);
	last_collisions = scan_index_collisions(ix);
	CU_ASSERT(scan_index_peak_bytes(ix) >= scan_index_bytes(ix));
	rcu_register_thread();
	scan_index_free(ix);
	rcu_unregister_thread();
	return s;
}

static void test_full_hash(void)
{
	unsigned classes = layout();
	struct sums s = run(full_hash, 1);
	CU_ASSERT_EQUAL(s.classes, classes);
	CU_ASSERT_EQUAL(s.dup_pages, 1000 + 2096);
	CU_ASSERT_EQUAL(s.saveable, 1000 - 100 + 1048);
	CU_ASSERT_EQUAL(last_collisions, 0);
}

/* With 4 hash values every content collides with thousands of others: the
 * byte compare alone must keep the answer exact. */
static void test_tiny_hash_collisions(void)
{
	unsigned classes = layout();
	struct sums s = run(tiny_hash, 1);
	CU_ASSERT_EQUAL(s.classes, classes);
	CU_ASSERT_EQUAL(s.dup_pages, 1000 + 2096);
	CU_ASSERT_EQUAL(s.saveable, 1000 - 100 + 1048);
	CU_ASSERT(last_collisions > 0);
}

static void test_threads(void)
{
	unsigned classes = layout();
	struct sums s = run(full_hash, 4);
	CU_ASSERT_EQUAL(s.classes, classes);
	CU_ASSERT_EQUAL(s.saveable, 1000 - 100 + 1048);
	s = run(tiny_hash, 3);
	CU_ASSERT_EQUAL(s.classes, classes);
	CU_ASSERT_EQUAL(s.saveable, 1000 - 100 + 1048);
}

/* With no room for content copies, classes compare against their first
 * page read back: same answer, even with the tiny hash. */
static void test_no_content_budget(void)
{
	unsigned classes = layout();
	budget = 0;
	reads = 0;
	struct sums s = run(tiny_hash, 2);
	budget = 8u << 20;
	CU_ASSERT_EQUAL(s.classes, classes);
	CU_ASSERT_EQUAL(s.saveable, 1000 - 100 + 1048);
	CU_ASSERT(reads > NPAGES / 2);
}

/* Unique pages never reach the class index and are never read back. */
static void test_unique_costs_nothing(void)
{
	for (unsigned i = 0; i < NPAGES; i++) {
		fill(i, i);
		guest_of[i] = 0;
	}
	reads = 0;
	struct sums s = run(full_hash, 1);
	CU_ASSERT_EQUAL(s.classes, 0);
	CU_ASSERT_EQUAL(reads, 0);
}

/* Cross-guest: a content in both guests is one class with two guests. */
static void test_cross_guest(void)
{
	for (unsigned i = 0; i < NPAGES; i++) {
		fill(i, i < 64 ? 7 : i);
		guest_of[i] = i < 32 ? 0 : 1;
	}
	struct sums s = run(full_hash, 1);
	CU_ASSERT_EQUAL(s.classes, 1);
	CU_ASSERT_EQUAL(s.cross_classes, 1);
	CU_ASSERT_EQUAL(s.saveable, 63);
}

/* The compiled-in (AVX2 or baseline) XXH3 gives the library's digest. */
static void test_hash_same_digest(void)
{
	for (unsigned i = 0; i < 64; i++) {
		fill(i, i * 7919);
		const unsigned char *p = mem + (size_t)i * SCAN_PAGE_SIZE;
		CU_ASSERT_EQUAL(scan_hash_xxh3(p, SCAN_PAGE_SIZE), XXH3_64bits(p, SCAN_PAGE_SIZE));
		CU_ASSERT_EQUAL(scan_hash_xxh3(p, 100 + i), XXH3_64bits(p, 100 + i));
	}
}

struct merged_seen { unsigned classes, merged, pages, guests; };
static void see_merged(const struct scan_class_info *c, void *arg)
{
	struct merged_seen *m = arg;
	m->classes++;
	m->merged += c->merged;
	m->pages += c->pages;
	m->guests += c->n_guests;
}

/* A KSM page's content, entered after the pass: the 10 unmerged pages of
 * that content all become mergeable (none is the kept copy), and the
 * guest holding the KSM page shares the class without adding pages. */
static void test_merged(void)
{
	for (unsigned i = 0; i < 20; i++) {
		fill(i, i < 10 ? 5 : 6);
		guest_of[i] = i < 10 ? 1 : 0;
	}
	struct scan_index *ix = scan_index_new(64, full_hash, &ops, NULL);
	rcu_register_thread();
	for (unsigned i = 0; i < 10; i++) {
		hashes[i] = full_hash(mem + (size_t)i * SCAN_PAGE_SIZE, SCAN_PAGE_SIZE);
		scan_index_add(ix, i, guest_of[i], hashes[i], mem + (size_t)i * SCAN_PAGE_SIZE);
	}
	/* page 10 (guest 0) stands for a KSM page of content 5; page 11 for
	 * one of content 6, which no unmerged page has */
	fill(10, 5);
	hashes[10] = full_hash(mem + 10 * SCAN_PAGE_SIZE, SCAN_PAGE_SIZE);
	hashes[11] = full_hash(mem + 11 * SCAN_PAGE_SIZE, SCAN_PAGE_SIZE);
	CU_ASSERT_EQUAL(scan_index_add_merged(ix, 10, 0, hashes[10], mem + 10 * SCAN_PAGE_SIZE), 1);
	CU_ASSERT_EQUAL(scan_index_add_merged(ix, 11, 0, hashes[11], mem + 11 * SCAN_PAGE_SIZE), 0);
	struct merged_seen m = { 0 };
	scan_index_walk(ix, see_merged, &m);
	CU_ASSERT_EQUAL(m.classes, 1);
	CU_ASSERT_EQUAL(m.merged, 1);
	CU_ASSERT_EQUAL(m.pages, 10);
	CU_ASSERT_EQUAL(m.guests, 2);
	scan_index_free(ix);
	rcu_unregister_thread();
}

/* Pages left unread (rescan backoff) enter by the hash of their last
 * read: they cost no read while their hash is alone; a read page of equal
 * content, before or after, makes a class of both (read back and
 * compared); one that changed since is refused, never counted. */
static void test_unread(void)
{
	for (unsigned i = 0; i < 8; i++) {
		fill(i, 300 + i % 4);  /* 0..3, and 4..7 the same contents */
		guest_of[i] = 0;
		hashes[i] = full_hash(mem + (size_t)i * SCAN_PAGE_SIZE, SCAN_PAGE_SIZE);
	}
	struct scan_index *ix = scan_index_new(64, full_hash, &ops, NULL);
	scan_index_set_content_budget(ix, 0);
	rcu_register_thread();
	reads = 0;
	/* 0 and 1 unread and alone: no read */
	CU_ASSERT_EQUAL(scan_index_add_unread(ix, 0, 0, hashes[0]), 0);
	CU_ASSERT_EQUAL(scan_index_add_unread(ix, 1, 0, hashes[1]), 0);
	CU_ASSERT_EQUAL(reads, 0);
	/* 4 read, equal to unread 0: a class of two */
	CU_ASSERT_EQUAL(scan_index_add(ix, 4, 0, hashes[4], mem + 4 * SCAN_PAGE_SIZE), 1);
	/* 2 read first, then unread 6 of the same content joins it */
	CU_ASSERT_EQUAL(scan_index_add(ix, 2, 0, hashes[2], mem + 2 * SCAN_PAGE_SIZE), 0);
	CU_ASSERT_EQUAL(scan_index_add_unread(ix, 6, 0, hashes[6]), 1);
	/* 7 changed since its last read (content of 3 then, 399 now): refused */
	fill(7, 399);
	CU_ASSERT_EQUAL(scan_index_add(ix, 3, 0, hashes[3], mem + 3 * SCAN_PAGE_SIZE), 0);
	CU_ASSERT_EQUAL(scan_index_add_unread(ix, 7, 0, hashes[7]), -ESTALE);
	/* 5 unread, equal to unread 1: a class too (5 read back, then 1) */
	CU_ASSERT_EQUAL(scan_index_add_unread(ix, 5, 0, hashes[5]), 1);
	struct sums sm = { 0 };
	scan_index_walk(ix, sum_class, &sm);
	CU_ASSERT_EQUAL(sm.classes, 3);
	CU_ASSERT_EQUAL(sm.dup_pages, 6);
	CU_ASSERT_EQUAL(scan_index_collisions(ix), 0);
	scan_index_free(ix);
	rcu_unregister_thread();
}

static const char smaps[] =
"55d0c0000000-55d0c0a00000 r-xp 00000000 08:01 1234 /usr/bin/qemu-system-x86_64\n"
"Size:              10240 kB\n"
"VmFlags: rd ex mr mw me sd \n"
"7f0000000000-7f0020000000 rw-p 00000000 00:00 0 \n"
"Size:             524288 kB\n"
"AnonHugePages:    0 kB\n"
"VmFlags: rd wr mr mw me ac sd hg mg \n"
"7f0030000000-7f0030040000 rw-p 00000000 00:00 0 \n"
"Size:                256 kB\n"
"VmFlags: rd wr mr mw me ac sd mg \n"
"7f0040000000-7f0040100000 rw-p 00000000 00:00 0 \n"
"Size:               1024 kB\n"
"VmFlags: rd wr mr mw me ac sd \n"
"7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]\n"
"VmFlags: rd wr mr mw me gd ac \n";

static void test_regions(void)
{
	struct scan_range *r;
	size_t n;
	CU_ASSERT_EQUAL(scan_regions_parse(smaps, SCANNER_GUEST_QEMU, 512 * MIB, &r, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(r[0].start, 0x7f0000000000ULL);
	CU_ASSERT_EQUAL(r[0].end, 0x7f0020000000ULL);
	free(r);
	CU_ASSERT_EQUAL(scan_regions_parse(smaps, SCANNER_GUEST_QEMU, 0, &r, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	free(r);
	CU_ASSERT_EQUAL(scan_regions_parse(smaps, SCANNER_GUEST_PROCESS, 0, &r, &n), 0);
	CU_ASSERT_EQUAL(n, 3);  /* anonymous rw private, not the binary, not [stack] */
	free(r);
	CU_ASSERT_EQUAL(scan_regions_parse("1000-0800 rw-p 0 00:00 0\n", SCANNER_GUEST_PROCESS,
					   0, &r, &n), -EINVAL);
	/* mappings out of order or overlapping are no maps file: the ranges
	 * are promised in address order (found by tests/fuzz/fuzz_proc.c) */
	CU_ASSERT_EQUAL(scan_regions_parse("3000-4000 rw-p 0 00:00 0\n1000-2000 rw-p 0 00:00 0\n",
					   SCANNER_GUEST_PROCESS, 0, &r, &n), -EINVAL);
	CU_ASSERT_EQUAL(scan_regions_parse("1000-3000 rw-p 0 00:00 0\n2000-4000 rw-p 0 00:00 0\n",
					   SCANNER_GUEST_PROCESS, 0, &r, &n), -EINVAL);
	CU_ASSERT_EQUAL(scan_regions_parse("1000-2000 rw-p 0 00:00 0\n2000-4000 rw-p 0 00:00 0\n",
					   SCANNER_GUEST_PROCESS, 0, &r, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	free(r);
	CU_ASSERT_EQUAL(scan_regions_parse("", SCANNER_GUEST_PROCESS, 0, &r, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	free(r);
}

int main(void)
{
	KSMD_TEST_INIT();
	mem = aligned_alloc(4096, (size_t)NPAGES * SCAN_PAGE_SIZE);
	static const struct ksmd_test index_tests[] = {
		{ "full hash: exact classes", test_full_hash },
		{ "tiny hash: byte compare decides", test_tiny_hash_collisions },
		{ "concurrent adders", test_threads },
		{ "no content copies: read back", test_no_content_budget },
		{ "unique pages stay out", test_unique_costs_nothing },
		{ "cross-guest class", test_cross_guest },
		{ "KSM page joins its class", test_merged },
		{ "unread pages: by their last hash, read back to join", test_unread },
		{ NULL, NULL },
	};
	static const struct ksmd_test region_tests[] = {
		{ "maps and smaps parsing", test_regions },
		{ "compiled-in XXH3 = libxxhash", test_hash_same_digest },
		{ NULL, NULL },
	};
	ksmd_add_suite("scan_index", index_tests);
	ksmd_add_suite("scan_regions", region_tests);
	int r = ksmd_run_tests();
	free(mem);
	return r;
}
