/* Unit tests for scanner/scanner.c on real processes of known content
 * (forked children): exact counts, zero pages, volatility, cross-guest
 * pairs, collisions forced with a tiny hash. Needs root (pagemap PFNs). */
#include "scanner/scanner.h"
#include "tests/scanner_memhog.h"
#include "tests/unit/harness.h"

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
	CU_ASSERT_EQUAL(scanner_scan_once(s), 0);
	CU_ASSERT_EQUAL_FATAL(scanner_get_results(s, &r), 0);
	CU_ASSERT_EQUAL(find(&r, "g1")->volatile_pages, 0);
	CU_ASSERT_EQUAL(find(&r, "g1")->unique_pages, 300);
	scanner_results_free(&r);
	scanner_free(s);
	child_stop(&ch);
}

static void test_single_xxh3(void) { check_single(NULL, 1); }
static void test_single_tiny_hash(void) { check_single(tiny_hash, 2); }

/* Two guests share the class and pair contents; a third is gone. */
static void test_cross_and_gone(void)
{
	struct child a, b;
	struct memhog_layout lb = base;
	lb.seed = 2;
	CU_ASSERT_FATAL(child_start(&a, &base) == 0);
	CU_ASSERT_FATAL(child_start(&b, &lb) == 0);
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
	for (int i = 0; i < 300 && r.passes < 3; i++) {
		usleep(10000);
		scanner_results_free(&r);
		CU_ASSERT_EQUAL(scanner_get_results(s, &r), 0);
	}
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
		{ "background passes, live tunables, pause", test_background },
		{ NULL, NULL },
	};
	ksmd_add_suite("scanner", tests);
	return ksmd_run_tests();
}
