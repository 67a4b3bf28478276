/* Unit tests for scanner/scanner.c on real processes of known content
 * (forked children): exact counts, zero pages, volatility, cross-guest
 * pairs, collisions forced with a tiny hash, the index limit lowered.
 * Needs root (pagemap PFNs). */
#include "scanner/scanner.h"
#include "scanner/scanner_internal.h"  /* scan_ksm_distinct */
#include "tests/scanner_memhog.h"
#include "tests/unit/harness.h"
#include "tests/unit/log_capture.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xxhash.h>

struct child { pid_t pid; int cmd, ack; struct memhog_layout l; };

static const struct memhog_layout base = {
	.absent = 100, .zero_mapped = 100, .zero_filled = 100, .unique = 300,
	.classes = 20, .per_class = 10, .pairs = 100, .seed = 1, .mergeable = true,
};

static void child_main(const struct memhog_layout *l, int cmd, int ack)
{
	unsigned char *m = memhog_build(l);
	char c = m ? 'r' : 'e';
	if (write(ack, &c, 1) != 1)
		_exit(1);
	while (read(cmd, &c, 1) == 1) {
		if (c == 'v') {  /* change 5 unique pages */
			size_t first = (size_t)l->absent + l->zero_mapped + l->zero_filled;
			for (unsigned i = 0; i < 5; i++)
				memhog_fill(m + (first + i) * 4096, 777777 + i);
		}
		if (c == 'q')
			_exit(0);
		if (write(ack, &c, 1) != 1)
			_exit(1);
	}
	_exit(0);
}

static int child_start(struct child *ch, const struct memhog_layout *l)
{
	int a[2], b[2];
	if (pipe(a) || pipe(b))
		return -1;
	ch->l = *l;
	ch->pid = fork();
	if (ch->pid == 0) {
		close(a[1]);
		close(b[0]);
		child_main(l, a[0], b[1]);
	}
	close(a[0]);
	close(b[1]);
	ch->cmd = a[1];
	ch->ack = b[0];
	char c = 0;
	return read(ch->ack, &c, 1) == 1 && c == 'r' ? 0 : -1;
}

static void child_cmd(struct child *ch, char c)
{
	char r;
	CU_ASSERT_EQUAL(write(ch->cmd, &c, 1), 1);
	CU_ASSERT_EQUAL(read(ch->ack, &r, 1), 1);
}

static void child_stop(struct child *ch)
{
	kill(ch->pid, SIGKILL);
	waitpid(ch->pid, NULL, 0);
	close(ch->cmd);
	close(ch->ack);
}

/* Does this kernel map read faults to the shared zero page? (Some hosts
 * boot with pvm_no_zero_page=1: read faults get fresh zeroed pages.) */
static bool host_has_zero_page(void)
{
	uint64_t e[2] = { 0, 0 };
	volatile char *p = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	(void)p[0];
	(void)p[4096];
	int fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd >= 0 && pread(fd, e, 16, (off_t)((uintptr_t)p / 4096 * 8)) != 16)
		e[0] = e[1] = 0;
	if (fd >= 0)
		close(fd);
	munmap((void *)p, 8192);
	uint64_t mask = (1ULL << 55) - 1;
	return (e[0] & mask) && (e[0] & mask) == (e[1] & mask);
}

/* The most passes a page is left unread (scanner/scan_backoff.h). */
#define BACKOFF_PASSES_FOR_TEST 32u
/* The unit of per-page state and of the index limit: 32 MiB of address
 * space (scanner/scanner_internal.h, CHUNK_PAGES). */
#define CHUNK_PAGES_FOR_TEST 8192u

static uint64_t tiny_hash(const void *p, size_t len)
{
	return XXH3_64bits(p, len) & 7;
}

static struct scanner *new_scanner(unsigned threads, scanner_hash_fn h)
{
	struct scanner_conf c;
	scanner_conf_defaults(&c);
	c.threads = threads;
	c.hash = h;
	c.read_batch_bytes = 256 * 1024;
	return scanner_new(&c);
}

static const struct scanner_guest_stats *find(const struct scanner_results *r, const char *n)
{
	for (unsigned i = 0; i < r->n_guests; i++)
		if (!strcmp(r->guests[i].name, n))
			return &r->guests[i];
	return NULL;
}

/* One more pass over g1 after its 5 changed pages: stable again, nothing
 * volatile, 300 unique; then free the scanner and stop the child. */
static void stable_then_free(struct scanner *s, struct child *ch)
{
	struct scanner_results r;
	CU_ASSERT_EQUAL(scanner_scan_once(s), 0);
	CU_ASSERT_EQUAL_FATAL(scanner_get_results(s, &r), 0);
	CU_ASSERT_EQUAL(find(&r, "g1")->volatile_pages, 0);
	CU_ASSERT_EQUAL(find(&r, "g1")->unique_pages, 300);
	scanner_results_free(&r);
	scanner_free(s);
	child_stop(ch);
}

/* One guest: every count is what the layout made. */
static void check_single(scanner_hash_fn h, unsigned threads)
{
	struct child ch;
	CU_ASSERT_FATAL(child_start(&ch, &base) == 0);
	struct scanner *s = new_scanner(threads, h);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(scanner_add_guest(s, "g1", ch.pid, SCANNER_GUEST_QEMU,
					  memhog_pages(&base) * 4096), 0);
	CU_ASSERT_EQUAL(scanner_add_guest(s, "g1", ch.pid, SCANNER_GUEST_QEMU, 0), -EEXIST);
	CU_ASSERT_EQUAL(scanner_scan_once(s), 0);
	struct scanner_results r;
	CU_ASSERT_EQUAL_FATAL(scanner_get_results(s, &r), 0);
	const struct scanner_guest_stats *g = find(&r, "g1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	CU_ASSERT_EQUAL(r.passes, 1);
	CU_ASSERT_TRUE(g->alive);
	CU_ASSERT_EQUAL(g->regions, 1);
	CU_ASSERT_EQUAL(g->region_pages, memhog_pages(&base));
	CU_ASSERT_EQUAL(g->present_pages, 100 + 100 + 300 + 200 + 200);
	/* a read fault maps the zero page, or a fresh zero-filled page */
	unsigned zp = host_has_zero_page() ? 100 : 0;
	CU_ASSERT_EQUAL(g->unique_pages, 300);
	CU_ASSERT_EQUAL(g->volatile_pages, 0);
	CU_ASSERT_EQUAL(g->unread_pages, 0);
	/* per-page state comes in 32 MiB chunks: the figure is measured on
	 * large memory by bench/scan_bench, here it only has to exist */
	CU_ASSERT(r.bytes_per_tracked_page > 8.0);
	if (g->ksm_merged_pages) {
		/* KSM, run by another user of this host, merged some of the
		 * child's (mergeable) pages meanwhile: only the sums are known */
		printf("note: KSM merged %llu pages meanwhile\n",
		       (unsigned long long)g->ksm_merged_pages);
		CU_ASSERT_EQUAL(g->zero_page_pages + g->zero_filled_pages + g->dup_intra_pages +
				g->ksm_merged_pages, 600);
	} else {
		CU_ASSERT_EQUAL(g->zero_page_pages, zp);
		CU_ASSERT_EQUAL(g->zero_filled_pages, 200 - zp);
		CU_ASSERT_EQUAL(g->dup_intra_pages, 400);
		CU_ASSERT_EQUAL(g->dup_cross_pages, 0);
		CU_ASSERT_EQUAL(g->mergeable_pages, 180 + 100);
		CU_ASSERT_EQUAL(r.dup_saveable_pages, 280);
		CU_ASSERT_EQUAL(r.predicted_sharing_pages, 280);
		CU_ASSERT_EQUAL(r.dup_classes, 120);
		CU_ASSERT_EQUAL(r.pages_scanned, 300 + 400 + 200 - zp);
		CU_ASSERT_EQUAL(r.pages_skipped, 100 + zp);
	}
	if (h == tiny_hash)
		CU_ASSERT(r.hash_collisions > 0);
	scanner_results_free(&r);

	/* Volatility: 5 unique pages change between passes. */
	child_cmd(&ch, 'v');
	CU_ASSERT_EQUAL(scanner_scan_once(s), 0);
	CU_ASSERT_EQUAL_FATAL(scanner_get_results(s, &r), 0);
	g = find(&r, "g1");
	CU_ASSERT_EQUAL(r.passes, 2);
	CU_ASSERT_EQUAL(g->volatile_pages, 5);
	CU_ASSERT_EQUAL(g->unique_pages, 295);
	if (!g->ksm_merged_pages)
		CU_ASSERT_EQUAL(g->dup_intra_pages, 400);
	scanner_results_free(&r);
	/* Stable again: not volatile any more. */
	stable_then_free(s, &ch);
}

static void test_single_xxh3(void) { check_single(NULL, 1); }
static void test_single_tiny_hash(void) { check_single(tiny_hash, 2); }

/* Two children of the base layout, a of seed 1 and b of seed 2: their
 * unique pages differ, their class and pair contents are the same. */
static void start_pair(struct child *a, struct child *b)
{
	struct memhog_layout lb = base;
	lb.seed = 2;
	CU_ASSERT_FATAL(child_start(a, &base) == 0);
	CU_ASSERT_FATAL(child_start(b, &lb) == 0);
}

/* Two guests share the class and pair contents; a third is gone. */
static void test_cross_and_gone(void)
{
	struct child a, b;
	start_pair(&a, &b);
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	struct scanner *s = new_scanner(2, NULL);
	uint64_t size = memhog_pages(&base) * 4096;
	CU_ASSERT_EQUAL(scanner_add_guest(s, "a", a.pid, SCANNER_GUEST_QEMU, size), 0);
	CU_ASSERT_EQUAL(scanner_add_guest(s, "gone", dead, SCANNER_GUEST_PROCESS, 0), 0);
	CU_ASSERT_EQUAL(scanner_add_guest(s, "b", b.pid, SCANNER_GUEST_QEMU, size), 0);
	struct scanner_results r;
	CU_ASSERT_EQUAL(scanner_get_results(s, &r), 0);
	CU_ASSERT_EQUAL(r.passes, 0);
	CU_ASSERT_EQUAL(r.n_guests, 3);
	scanner_results_free(&r);
	CU_ASSERT_EQUAL(scanner_scan_once(s), 0);
	CU_ASSERT_EQUAL_FATAL(scanner_get_results(s, &r), 0);
	const struct scanner_guest_stats *ga = find(&r, "a"), *gb = find(&r, "b"), *gg = find(&r, "gone");
	CU_ASSERT_FATAL(ga && gb && gg);
	CU_ASSERT_FALSE(gg->alive);
	CU_ASSERT_EQUAL(ga->unique_pages, 300);
	CU_ASSERT_EQUAL(gb->unique_pages, 300);
	if (!ga->ksm_merged_pages && !gb->ksm_merged_pages) {
		CU_ASSERT_EQUAL(ga->dup_cross_pages, 400);
		CU_ASSERT_EQUAL(gb->dup_cross_pages, 400);
		CU_ASSERT_EQUAL(ga->dup_intra_pages, 0);
		CU_ASSERT_EQUAL(r.dup_saveable_pages, 800 - 120);
		CU_ASSERT_EQUAL(ga->mergeable_pages + gb->mergeable_pages, 800 - 120);
		CU_ASSERT_EQUAL(r.n_pairs, 1);
		if (r.n_pairs == 1)
			CU_ASSERT_EQUAL(r.pairs[0].shared_pages, 120);
	} else {
		printf("note: KSM merged pages meanwhile, sums only\n");
		CU_ASSERT_EQUAL(ga->dup_cross_pages + ga->dup_intra_pages + ga->ksm_merged_pages +
				ga->zero_filled_pages + ga->zero_page_pages, 600);
	}
	scanner_results_free(&r);
	/* Removing a guest takes effect at the next pass. */
	CU_ASSERT_EQUAL(scanner_remove_guest(s, "b"), 0);
	CU_ASSERT_EQUAL(scanner_remove_guest(s, "b"), -ENOENT);
	CU_ASSERT_EQUAL(scanner_scan_once(s), 0);
	CU_ASSERT_EQUAL_FATAL(scanner_get_results(s, &r), 0);
	CU_ASSERT_EQUAL(r.n_guests, 2);
	if (!find(&r, "a")->ksm_merged_pages)
		CU_ASSERT_EQUAL(find(&r, "a")->dup_intra_pages, 400);
	CU_ASSERT_EQUAL(r.n_pairs, 0);
	scanner_results_free(&r);
	scanner_free(s);
	child_stop(&a);
	child_stop(&b);
}

/* Rescan backoff on real memory: the counts stay exact on every pass while
 * unique pages are left unread, and a change to backed-off pages is seen
 * within the bound (BACKOFF_MAX_PASSES passes here: passes back to back). */
static void check_backoff(scanner_hash_fn h)
{
	struct child ch;
	CU_ASSERT_FATAL(child_start(&ch, &base) == 0);
	struct scanner_conf c;
	scanner_conf_defaults(&c);
	c.hash = h;
	c.backoff_max_usec = 3600 * USEC_PER_SEC;
	struct scanner *s = scanner_new(&c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(scanner_add_guest(s, "g1", ch.pid, SCANNER_GUEST_QEMU,
					  memhog_pages(&base) * 4096), 0);
	uint64_t backoff = 0, least_scanned = UINT64_MAX;
	struct scanner_results r;
	for (unsigned pass = 1; pass <= 40; pass++) {
		CU_ASSERT_EQUAL_FATAL(scanner_scan_once(s), 0);
		CU_ASSERT_EQUAL_FATAL(scanner_get_results(s, &r), 0);
		const struct scanner_guest_stats *g = find(&r, "g1");
		CU_ASSERT_EQUAL(g->unique_pages, 300);
		CU_ASSERT_EQUAL(g->volatile_pages, 0);
		CU_ASSERT_EQUAL(g->unread_pages, 0);
		if (!g->ksm_merged_pages)
			CU_ASSERT_EQUAL(g->dup_intra_pages, 400);
		CU_ASSERT(g->backoff_pages <= 300);  /* duplicates are read every pass */
		CU_ASSERT_EQUAL(g->backoff_pages, r.pages_backoff);
		CU_ASSERT_EQUAL(!!g->backoff_pages, !!g->oldest_unscanned_usec);
		if (pass <= 4)
			CU_ASSERT_EQUAL(r.pages_backoff, 0);
		backoff += r.pages_backoff;
		least_scanned = MIN(least_scanned, r.pages_scanned);
		scanner_results_free(&r);
	}
	/* With a tiny hash every page's hash meets another content's: the
	 * index makes a class of it (a collision), and a page in a class is
	 * read every pass, so nothing backs off; the counts stay exact. */
	if (!h)
		CU_ASSERT(backoff > 0 && least_scanned <= 900 - 300);
	/* 5 unique pages change: seen volatile within 32 passes, then unique */
	child_cmd(&ch, 'v');
	unsigned seen_at = 0;
	for (unsigned pass = 1; pass <= BACKOFF_PASSES_FOR_TEST + 1 && !seen_at; pass++) {
		CU_ASSERT_EQUAL_FATAL(scanner_scan_once(s), 0);
		CU_ASSERT_EQUAL_FATAL(scanner_get_results(s, &r), 0);
		if (find(&r, "g1")->volatile_pages == 5)
			seen_at = pass;
		scanner_results_free(&r);
	}
	CU_ASSERT(seen_at >= 1 && seen_at <= BACKOFF_PASSES_FOR_TEST);
	stable_then_free(s, &ch);
}

static void test_backoff_xxh3(void) { check_backoff(NULL); }
static void test_backoff_tiny_hash(void) { check_backoff(tiny_hash); }

/* Every present page of g falls in exactly one of the categories. */
static void check_partition(const struct scanner_guest_stats *g)
{
	CU_ASSERT_EQUAL(g->zero_page_pages + g->zero_filled_pages + g->ksm_merged_pages +
			g->unique_pages + g->dup_intra_pages + g->dup_cross_pages +
			g->volatile_pages + g->unread_pages + g->beyond_index_limit_pages,
			g->present_pages);
}

/* How many times needle occurs in text. */
static unsigned occurrences(const char *text, const char *needle)
{
	unsigned n = 0;
	for (const char *p = text; p && (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* A scanner of conf c with guests "a" and "b", in that order. */
static struct scanner *scanner_with_pair(const struct scanner_conf *c, const struct child *a,
					 const struct child *b)
{
	struct scanner *s = scanner_new(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	uint64_t size = memhog_pages(&base) * 4096;
	CU_ASSERT_EQUAL(scanner_add_guest(s, "a", a->pid, SCANNER_GUEST_QEMU, size), 0);
	CU_ASSERT_EQUAL(scanner_add_guest(s, "b", b->pid, SCANNER_GUEST_QEMU, size), 0);
	return s;
}

/* The first pass over a and b with the index limit lowered to one chunk:
 * a (the first guest, one thread) has the refs, b is read beyond them. */
static void check_limit_first_pass(struct scanner *s)
{
	unsigned zp = host_has_zero_page() ? 100 : 0;
	int lines = 0;
	capture();
	CU_ASSERT_EQUAL(scanner_scan_once(s), 0);
	char *log = captured(&lines);
	struct scanner_results r;
	CU_ASSERT_EQUAL_FATAL(scanner_get_results(s, &r), 0);
	const struct scanner_guest_stats *ga = find(&r, "a"), *gb = find(&r, "b");
	CU_ASSERT_FATAL(ga && gb);
	CU_ASSERT_EQUAL(r.index_limit_pages, CHUNK_PAGES_FOR_TEST);
	check_partition(ga);
	check_partition(gb);
	/* within the limit: exact, as if b were not there */
	CU_ASSERT_EQUAL(ga->beyond_index_limit_pages, 0);
	CU_ASSERT_EQUAL(ga->unique_pages, 300);
	CU_ASSERT_EQUAL(ga->dup_cross_pages, 0);
	CU_ASSERT_EQUAL(ga->volatile_pages, 0);
	CU_ASSERT_EQUAL(ga->unread_pages, 0);
	/* beyond it: read and hashed, neither unique nor duplicate, and
	 * shared with a by none of its contents */
	CU_ASSERT_EQUAL(gb->unique_pages, 0);
	CU_ASSERT_EQUAL(gb->dup_intra_pages + gb->dup_cross_pages, 0);
	CU_ASSERT_EQUAL(gb->mergeable_pages, 0);
	CU_ASSERT_EQUAL(gb->volatile_pages, 0);
	CU_ASSERT_EQUAL(gb->unread_pages, 0);
	CU_ASSERT_EQUAL(r.n_pairs, 0);
	CU_ASSERT_EQUAL(r.pages_beyond_index_limit, gb->beyond_index_limit_pages);
	if (!ga->ksm_merged_pages && !gb->ksm_merged_pages) {
		CU_ASSERT_EQUAL(gb->beyond_index_limit_pages, 300 + 400);
		CU_ASSERT_EQUAL(gb->zero_filled_pages, 200 - zp);
		CU_ASSERT_EQUAL(ga->dup_intra_pages, 400);
		CU_ASSERT_EQUAL(r.dup_classes, 120);
		CU_ASSERT_EQUAL(r.dup_saveable_pages, 280);
		CU_ASSERT_EQUAL(r.predicted_sharing_pages, 280);
		CU_ASSERT_EQUAL(r.pages_scanned, 2 * (300 + 400 + 200 - zp));
		/* once, with the count and the limit */
		CU_ASSERT_EQUAL(occurrences(log, "beyond the index limit"), 1);
		CU_ASSERT_PTR_NOT_NULL(strstr(log, "700 pages (2.7 MiB) of guest memory beyond "
					      "the index limit of 32 MiB per pass"));
		CU_ASSERT_PTR_NOT_NULL(strstr(log, "neither unique nor duplicate"));
	} else {
		printf("note: KSM merged pages meanwhile, sums only\n");
		CU_ASSERT(gb->beyond_index_limit_pages > 0);
		CU_ASSERT_EQUAL(occurrences(log, "beyond the index limit"), 1);
	}
	if (!log || !strstr(log, "beyond the index limit"))
		printf("logged: %s\n", log ? log : "(nothing)");
	free(log);
	scanner_results_free(&r);
}

/* The index limit, lowered to one chunk (32 MiB: a value is rounded down
 * to whole chunks): the pages beyond it are counted apart, left out of the
 * unique and duplicate counts and of the prediction, and the counts within
 * it stay exact; the pass warns once. At the default limit the same guests
 * are all indexed. */
static void test_index_limit(void)
{
	struct child a, b;
	start_pair(&a, &b);
	struct scanner_conf c;
	scanner_conf_defaults(&c);
	CU_ASSERT_EQUAL(c.index_limit_pages, SCANNER_INDEX_LIMIT_PAGES);
	c.index_limit_pages = SCANNER_INDEX_LIMIT_PAGES + 1;
	errno = 0;
	CU_ASSERT_PTR_NULL(scanner_new(&c));
	CU_ASSERT_EQUAL(errno, EINVAL);
	c.threads = 1;  /* the chunks get their refs in the guests' order */
	c.read_batch_bytes = 256 * 1024;
	c.index_limit_pages = CHUNK_PAGES_FOR_TEST + 100;
	struct scanner *s = scanner_with_pair(&c, &a, &b);
	check_limit_first_pass(s);

	/* 5 of b's unique pages change: beyond the limit, a change is still
	 * seen (volatile), and the rest stays beyond */
	child_cmd(&b, 'v');
	CU_ASSERT_EQUAL(scanner_scan_once(s), 0);
	struct scanner_results r;
	CU_ASSERT_EQUAL_FATAL(scanner_get_results(s, &r), 0);
	const struct scanner_guest_stats *ga = find(&r, "a"), *gb = find(&r, "b");
	CU_ASSERT_FATAL(ga && gb);
	check_partition(ga);
	check_partition(gb);
	CU_ASSERT_EQUAL(ga->unique_pages, 300);
	CU_ASSERT_EQUAL(gb->volatile_pages, 5);
	CU_ASSERT_EQUAL(gb->unique_pages, 0);
	if (!gb->ksm_merged_pages)
		CU_ASSERT_EQUAL(gb->beyond_index_limit_pages, 300 + 400 - 5);
	scanner_results_free(&r);
	scanner_free(s);

	/* the default limit: nothing beyond it, b's contents shared with a */
	scanner_conf_defaults(&c);
	c.threads = 1;
	s = scanner_with_pair(&c, &a, &b);
	CU_ASSERT_EQUAL(scanner_scan_once(s), 0);
	CU_ASSERT_EQUAL_FATAL(scanner_get_results(s, &r), 0);
	ga = find(&r, "a");
	gb = find(&r, "b");
	CU_ASSERT_FATAL(ga && gb);
	CU_ASSERT_EQUAL(r.pages_beyond_index_limit, 0);
	CU_ASSERT_EQUAL(r.index_limit_pages,
			SCANNER_INDEX_LIMIT_PAGES / CHUNK_PAGES_FOR_TEST * CHUNK_PAGES_FOR_TEST);
	CU_ASSERT_EQUAL(gb->beyond_index_limit_pages, 0);
	CU_ASSERT_EQUAL(gb->unique_pages, 300);
	check_partition(ga);
	check_partition(gb);
	if (!ga->ksm_merged_pages && !gb->ksm_merged_pages) {
		CU_ASSERT_EQUAL(ga->dup_cross_pages, 400);
		CU_ASSERT_EQUAL(gb->dup_cross_pages, 400);
	}
	scanner_results_free(&r);
	scanner_free(s);
	child_stop(&a);
	child_stop(&b);
}

/* Poll s's results every 10 ms, up to tries times, until it has made at
 * least passes passes; r holds the last results read. */
static void wait_passes(struct scanner *s, struct scanner_results *r, uint64_t passes, int tries)
{
	for (int i = 0; i < tries && r->passes < passes; i++) {
		usleep(10000);
		scanner_results_free(r);
		CU_ASSERT_EQUAL(scanner_get_results(s, r), 0);
	}
}

/* Background mode with pause, rate and CPU limits set live. */
static void test_background(void)
{
	struct child a;
	CU_ASSERT_FATAL(child_start(&a, &base) == 0);
	struct scanner *s = new_scanner(2, NULL);
	scanner_set_pass_interval(s, 10 * USEC_PER_MSEC);
	scanner_set_pages_per_sec(s, 100000);
	scanner_set_cpu_percent(s, 50);
	CU_ASSERT_EQUAL(scanner_add_guest(s, "a", a.pid, SCANNER_GUEST_QEMU,
					  memhog_pages(&base) * 4096), 0);
	CU_ASSERT_EQUAL(scanner_start(s), 0);
	CU_ASSERT_EQUAL(scanner_scan_once(s), -EBUSY);
	struct scanner_results r = { 0 };
	wait_passes(s, &r, 3, 300);
	CU_ASSERT(r.passes >= 3);
	CU_ASSERT_EQUAL(find(&r, "a")->unique_pages, 300);
	scanner_results_free(&r);
	scanner_pause(s);
	CU_ASSERT_TRUE(scanner_is_paused(s));
	scanner_resume(s);
	scanner_stop(s);
	scanner_stop(s);
	CU_ASSERT_EQUAL(scanner_scan_once(s), 0);
	scanner_free(s);
	child_stop(&a);
}

/* A guest added while the scanner waits out a long pass_interval is read
 * at once: at start the first pass may run before the first tick adds any
 * guest, and its prediction of nothing held KSM off for the interval (the
 * converge benchmark's ksmd took 37 s to 90%, 4.6 s before). */
static void test_new_guest_pass(void)
{
	struct child a;
	CU_ASSERT_FATAL(child_start(&a, &base) == 0);
	struct scanner *s = new_scanner(1, NULL);
	scanner_set_pass_interval(s, 60 * USEC_PER_SEC);
	scanner_set_pages_per_sec(s, 1000000);
	CU_ASSERT_EQUAL(scanner_start(s), 0);
	struct scanner_results r = { 0 };
	wait_passes(s, &r, 1, 500);
	CU_ASSERT_EQUAL_FATAL(r.passes, 1); /* the first pass, over no guest */
	CU_ASSERT_EQUAL(r.predicted_sharing_pages, 0);
	CU_ASSERT_EQUAL(scanner_add_guest(s, "a", a.pid, SCANNER_GUEST_QEMU,
					  memhog_pages(&base) * 4096), 0);
	wait_passes(s, &r, 2, 500); /* 5 s, not 60 */
	CU_ASSERT_EQUAL(r.passes, 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(find(&r, "a"));
	CU_ASSERT_EQUAL(find(&r, "a")->unique_pages, 300);
	scanner_results_free(&r);
	scanner_stop(s);
	scanner_free(s);
	child_stop(&a);
}

/* One mapping per KSM page, in the order met, one with a ref preferred;
 * the same by the hash set and, for a large input, against a brute count. */
static void test_ksm_distinct(void)
{
	struct ksm_seen v[] = {
		{ 7, UINT32_MAX }, { 3, 10 }, { 7, 11 }, { 3, 12 }, { 9, UINT32_MAX }, { 7, 13 },
		{ 9, UINT32_MAX }, { 1ULL << 40, 14 },
	};
	size_t n = scan_ksm_distinct(v, sizeof v / sizeof v[0]);
	CU_ASSERT_EQUAL_FATAL(n, 4);
	CU_ASSERT(v[0].pfn == 7 && v[0].ref == 11);
	CU_ASSERT(v[1].pfn == 3 && v[1].ref == 10);
	CU_ASSERT(v[2].pfn == 9 && v[2].ref == UINT32_MAX);
	CU_ASSERT(v[3].pfn == 1ULL << 40 && v[3].ref == 14);
	CU_ASSERT_EQUAL(scan_ksm_distinct(v, 0), 0);
	size_t big = 300000;
	struct ksm_seen *w = malloc(big * sizeof(*w));
	unsigned char *seen = calloc(65536, 1);
	CU_ASSERT_FATAL(w && seen);
	size_t want = 0;
	uint64_t x = 88172645463325252ULL;
	for (size_t i = 0; i < big; i++) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		uint64_t pfn = (x % 65536) * 4096 + 5;  /* strided, like scattered KSM pages */
		w[i] = (struct ksm_seen){ pfn, (uint32_t)i };
		if (!seen[x % 65536]++)
			want++;
	}
	n = scan_ksm_distinct(w, big);
	CU_ASSERT_EQUAL(n, want);
	for (size_t i = 1; i < n; i++)
		CU_ASSERT_FATAL(w[i].ref > w[i - 1].ref);  /* the first of each, in order */
	free(w);
	free(seen);
}

/* The KSM pages' hashes kept for the next pass: what is put is got back,
 * nothing else; each PFN's turn to be read again comes once in 8 passes. */
static void test_ksm_hashes(void)
{
	struct ksm_hashes t = { 0 };
	uint64_t h = 0;
	CU_ASSERT_FALSE(scan_ksm_hashes_get(&t, 5, &h));  /* none: every page is read */
	size_t n = 100000;
	CU_ASSERT_EQUAL_FATAL(scan_ksm_hashes_init(&t, n), 0);
	CU_ASSERT(t.cap >= n + n / 3);
	for (size_t i = 0; i < n; i++)
		scan_ksm_hashes_put(&t, i * 4096 + 7, i * 31 + 1);
	scan_ksm_hashes_put(&t, 7, 99);  /* again: replaced */
	size_t ok = 0;
	for (size_t i = 1; i < n; i++)
		ok += scan_ksm_hashes_get(&t, i * 4096 + 7, &h) && h == i * 31 + 1;
	CU_ASSERT_EQUAL(ok, n - 1);
	CU_ASSERT_TRUE(scan_ksm_hashes_get(&t, 7, &h));
	CU_ASSERT_EQUAL(h, 99);
	CU_ASSERT_FALSE(scan_ksm_hashes_get(&t, 8, &h));
	CU_ASSERT_FALSE(scan_ksm_hashes_get(&t, 0, &h));
	scan_ksm_hashes_free(&t);
	CU_ASSERT_FALSE(scan_ksm_hashes_get(&t, 7, &h));
	unsigned turns[KSM_REVERIFY_PASSES] = { 0 };
	for (uint64_t pfn = 1000; pfn < 1000 + 8000; pfn++) {
		unsigned k = 0;
		for (uint64_t pass = 1; pass <= KSM_REVERIFY_PASSES; pass++)
			if (scan_ksm_reverify(pfn, pass)) {
				k++;
				turns[pass - 1]++;
			}
		CU_ASSERT_EQUAL_FATAL(k, 1);
	}
	for (unsigned i = 0; i < KSM_REVERIFY_PASSES; i++)
		CU_ASSERT(turns[i] > 500 && turns[i] < 1500);  /* spread over the passes */
}

/* The quiet backoff's pause, by the rule: pass_interval until 3 quiet
 * passes in a row, then doubled per quiet pass up to the maximum; a
 * maximum of 0 or not above the interval never lengthens it. */
static void test_quiet_pause(void)
{
	const usec_t s1 = USEC_PER_SEC;
	static const struct { usec_t interval, max; unsigned quiet; usec_t want; } t[] = {
		{ 1, 8, 0, 1 }, { 1, 8, 2, 1 }, { 1, 8, 3, 2 }, { 1, 8, 4, 4 }, { 1, 8, 5, 8 },
		{ 1, 8, 6, 8 }, { 1, 8, 200, 8 }, { 1, 6, 5, 6 }, { 1, 0, 9, 1 }, { 8, 8, 9, 8 },
		{ 8, 2, 9, 8 }, { 0, 8, 9, 0 }, { 30, 300, 4, 120 }, { 30, 300, 6, 300 },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		CU_ASSERT_EQUAL(scanner_quiet_pause(t[i].interval * s1, t[i].max * s1, t[i].quiet),
				t[i].want * s1);
}

/* Quiet backoff on a real process whose memory does not change: the
 * pause grows to the maximum; a guest whose resident size moves is read at
 * once and the pause is back to pass_interval; a maximum set to 0 live
 * ends the backoff. */
static void test_quiet_backoff(void)
{
	static const struct memhog_layout quiet = {
		.unique = 300, .zero_filled = 20, .seed = 5, .mergeable = true,
	};
	struct child a;
	CU_ASSERT_FATAL(child_start(&a, &quiet) == 0);
	struct scanner *s = new_scanner(1, NULL);
	const usec_t interval = 50 * USEC_PER_MSEC, max = 2 * USEC_PER_SEC;
	scanner_set_pass_interval(s, interval);
	scanner_set_pass_interval_max(s, max);
	CU_ASSERT_EQUAL(scanner_add_guest(s, "a", a.pid, SCANNER_GUEST_QEMU,
					  memhog_pages(&quiet) * 4096), 0);
	CU_ASSERT_EQUAL(scanner_start(s), 0);
	struct scanner_results r = { 0 };
	/* 50 ms x 3, then 100, 200, 400, 800, 1600 ms: the pause reaches 2 s
	 * after about 3.3 s */
	for (int i = 0; i < 1000 && r.next_pause_usec < max; i++) {
		usleep(10000);
		scanner_results_free(&r);
		CU_ASSERT_EQUAL(scanner_get_results(s, &r), 0);
	}
	CU_ASSERT_EQUAL(r.next_pause_usec, max);
	CU_ASSERT_TRUE(r.quiet);
	CU_ASSERT(r.quiet_passes >= 3);
	CU_ASSERT_EQUAL(find(&r, "a")->unique_pages, 300);
	uint64_t p0 = r.passes;
	/* a quiet pass's pause of 2 s: none within 1 s */
	usleep(1000000);
	scanner_results_free(&r);
	CU_ASSERT_EQUAL(scanner_get_results(s, &r), 0);
	uint64_t p1 = r.passes;
	CU_ASSERT(p1 <= p0 + 1);
	/* the resident size moves (the tick tells 1000 pages where the pass saw
	 * none told): read within a slice of 50 ms, not after the 2 s pause */
	usec_t t0 = now_usec();
	CU_ASSERT_EQUAL(scanner_guest_set_resident(s, "a", 1000), 0);
	wait_passes(s, &r, p1 + 1, 100);
	CU_ASSERT(r.passes >= p1 + 1);
	CU_ASSERT(now_usec() - t0 < 800 * USEC_PER_MSEC);
	CU_ASSERT_EQUAL(r.next_pause_usec, interval);
	CU_ASSERT_EQUAL(r.quiet_passes, 1);
	/* backoff off, live: passes every 50 ms whatever the quiet run */
	scanner_set_pass_interval_max(s, 0);
	uint64_t p2 = r.passes;
	wait_passes(s, &r, p2 + 8, 300);
	CU_ASSERT(r.passes >= p2 + 8);
	CU_ASSERT_EQUAL(r.next_pause_usec, interval);
	CU_ASSERT(r.quiet_passes >= 8);
	scanner_results_free(&r);
	scanner_stop(s);
	scanner_free(s);
	child_stop(&a);
}

int main(void)
{
	KSMD_TEST_INIT();
	if (geteuid() != 0) {
		printf("skip: the scanner reads pagemap PFNs, which needs root\n");
		return 77;
	}
	static const struct ksmd_test tests[] = {
		{ "exact counts, volatility (XXH3)", test_single_xxh3 },
		{ "exact counts, volatility (tiny hash, 2 threads)", test_single_tiny_hash },
		{ "cross-guest pairs, gone guest, removal", test_cross_and_gone },
		{ "rescan backoff: exact counts, a change seen within the bound", test_backoff_xxh3 },
		{ "rescan backoff with a tiny hash: exact counts", test_backoff_tiny_hash },
		{ "the index limit lowered: pages beyond it counted apart, exact within", test_index_limit },
		{ "background passes, live tunables, pause", test_background },
		{ "a guest added is read at once, not after pass_interval", test_new_guest_pass },
		{ "quiet backoff: the pause by the rule", test_quiet_pause },
		{ "KSM pages: one mapping each, in the order met", test_ksm_distinct },
		{ "KSM pages: hashes kept for the next pass, read again in turn", test_ksm_hashes },
		{ "quiet backoff: a real process, a moved resident size, off live", test_quiet_backoff },
		{ NULL, NULL },
	};
	ksmd_add_suite("scanner", tests);
	return ksmd_run_tests();
}
