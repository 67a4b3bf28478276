/* Unit tests for scanner/scan_backoff.h, the rescan backoff rule, with
 * made-up passes: which passes read a page that stays unique and
 * unchanged, that a change starts it again, that the bound holds in passes
 * and in time, and that backed-off memory is read a slice per pass. */
#include "scanner/scan_backoff.h"
#include "tests/unit/harness.h"

#include <string.h>

#define SEC 1000000ULL

/* A made-up run: passes start every period_usec (or at starts given by
 * the caller), the bound is max_usec. */
struct run {
	usec_t starts[BACKOFF_MAX_PASSES];
	usec_t period_usec, max_usec;
	struct backoff_pass bp;
};

static void run_pass(struct run *r, uint64_t pass, usec_t start)
{
	r->starts[pass & BACKOFF_STAMP_MASK] = start;
	backoff_plan(&r->bp, pass, r->starts, r->period_usec, r->max_usec);
}

/* One page read whenever the rule says, steady (unique, unchanged) at
 * every read but the first and those in change[] (a pass number after
 * which the content changed: the next read sees it). Fills read[p] for
 * passes 1..n, returns the reads. */
static unsigned simulate(struct run *r, uint32_t phase, unsigned n, bool *read,
			 const unsigned *change, unsigned n_change)
{
	uint8_t b = 0;
	bool seen = false, changed = false;
	unsigned reads = 0;
	for (unsigned p = 1; p <= n; p++) {
		run_pass(r, p, (usec_t)p * r->period_usec);
		read[p] = !seen || !backoff_skip(&r->bp, b, phase);
		if (read[p]) {
			b = backoff_after_read(b, p, seen && !changed);
			seen = true;
			changed = false;
			reads++;
		}
		for (unsigned k = 0; k < n_change; k++)
			if (change[k] == p)
				changed = true;
	}
	return reads;
}

/* Unique and unchanged: read on passes 1-4 (three steady reads make level
 * 3), then every 2nd, 4th, 8th, 16th and 32nd pass, on the passes the
 * phase picks. */
static void test_steady_schedule(void)
{
	struct run r = { .period_usec = 1 * SEC, .max_usec = 3600 * SEC };
	bool read[200];
	memset(read, 0, sizeof(read));
	unsigned reads = simulate(&r, 0, 160, read, NULL, 0);
	static const unsigned want[] = { 1, 2, 3, 4, 6, 8, 16, 32, 64, 96, 128, 160 };
	unsigned k = 0;
	for (unsigned p = 1; p <= 160; p++) {
		bool expect = k < sizeof(want) / sizeof(want[0]) && want[k] == p;
		CU_ASSERT_EQUAL(read[p], expect);
		if (read[p] != expect)
			printf("pass %u: read %d, expected %d\n", p, read[p], expect);
		k += expect;
	}
	CU_ASSERT_EQUAL(reads, sizeof(want) / sizeof(want[0]));
	/* another phase: the same intervals, on other passes */
	memset(read, 0, sizeof(read));
	simulate(&r, 5, 160, read, NULL, 0);
	unsigned last = 0, gaps[16], n = 0;
	for (unsigned p = 1; p <= 160; p++)
		if (read[p]) {
			if (last && n < 16)
				gaps[n++] = p - last;
			last = p;
		}
	CU_ASSERT(n >= 8);
	CU_ASSERT_EQUAL(gaps[0], 1);
	CU_ASSERT_EQUAL(gaps[1], 1);
	CU_ASSERT_EQUAL(gaps[2], 1);
	for (unsigned i = 3; i < n; i++) {
		CU_ASSERT(gaps[i] >= gaps[i - 1] || gaps[i] == 32);
		CU_ASSERT(gaps[i] <= 32);
	}
	CU_ASSERT_EQUAL(gaps[n - 1], 32);
}

/* A page whose content changed is read again on every pass, until it has
 * been found unchanged three times; then it backs off again. */
static void test_change_resets(void)
{
	struct run r = { .period_usec = 1 * SEC, .max_usec = 3600 * SEC };
	bool read[200];
	memset(read, 0, sizeof(read));
	static const unsigned change[] = { 40 };
	simulate(&r, 0, 160, read, change, 1);
	/* before the change: as steady; the change at 40 is seen at 64 */
	CU_ASSERT_TRUE(read[32]);
	for (unsigned p = 33; p < 64; p++)
		CU_ASSERT_FALSE(read[p]);
	CU_ASSERT_TRUE(read[64]);
	for (unsigned p = 65; p <= 67; p++)
		CU_ASSERT_TRUE(read[p]);  /* levels 0, 1, 2 read every pass */
	CU_ASSERT_TRUE(read[68]);         /* level 3: every 2nd pass (on its phase) */
	for (unsigned p = 69; p <= 71; p++)
		CU_ASSERT_FALSE(read[p]); /* level 4: every 4th */
	CU_ASSERT_TRUE(read[72]);
	/* a page changing on every read never backs off */
	unsigned every[160];
	for (unsigned i = 0; i < 160; i++)
		every[i] = i + 1;
	memset(read, 0, sizeof(read));
	CU_ASSERT_EQUAL(simulate(&r, 0, 160, read, every, 160), 160);
	/* a dropped level (duplicate found) keeps the stamp, reads every pass */
	uint8_t b = backoff_after_read(0, 7, true);
	for (unsigned i = 0; i < 5; i++)
		b = backoff_after_read(b, 8 + i, true);
	CU_ASSERT_EQUAL(backoff_level(b), 6);
	b = backoff_drop(b);
	CU_ASSERT_EQUAL(backoff_level(b), 0);
	CU_ASSERT_EQUAL(backoff_since(b, 14), 2);
	run_pass(&r, 14, 14 * SEC);
	CU_ASSERT_FALSE(backoff_skip(&r.bp, b, 0));
	CU_ASSERT_FALSE(backoff_skip(&r.bp, b, 1));
}

/* The bound: never more than max_usec (time between the starts of the
 * passes that read the page) nor BACKOFF_MAX_PASSES passes unread, for
 * every phase, also when the passes slow down. */
static void test_bound(void)
{
	static const struct { usec_t period, max; unsigned want_passes; } cases[] = {
		{ 1 * SEC, 10 * SEC, 10 },
		{ 30 * SEC, 600 * SEC, 20 },
		{ 1 * SEC, 3600 * SEC, BACKOFF_MAX_PASSES },
		{ 5 * SEC, 16 * SEC, 3 },
	};
	for (unsigned c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (uint32_t phase = 0; phase < 40; phase++) {
			struct run r = { .period_usec = cases[c].period, .max_usec = cases[c].max };
			bool read[400];
			memset(read, 0, sizeof(read));
			simulate(&r, phase, 300, read, NULL, 0);
			CU_ASSERT_EQUAL(r.bp.max_passes, cases[c].want_passes);
			unsigned last = 0, longest = 0;
			for (unsigned p = 1; p <= 300; p++)
				if (read[p]) {
					longest = MAX(longest, p - last);
					last = p;
				}
			CU_ASSERT(longest <= cases[c].want_passes);
			CU_ASSERT((usec_t)longest * cases[c].period <= cases[c].max);
			CU_ASSERT(longest >= cases[c].want_passes / 2);  /* it does back off */
		}
	}
	/* passes that slow down (1 s apart, then 3 s): a page read at pass 10
	 * at the top level is read again within the bound, whatever its phase */
	for (uint32_t phase = 0; phase < 40; phase++) {
		struct run r = { .period_usec = 1 * SEC, .max_usec = 20 * SEC };
		uint8_t b = 0;
		for (unsigned p = 1; p <= 10; p++) {
			run_pass(&r, p, p * SEC);
			b = backoff_after_read(b, p, p > 1);
		}
		CU_ASSERT_EQUAL(backoff_level(b), BACKOFF_LEVEL_MAX);
		usec_t t = 10 * SEC;
		for (unsigned p = 11; p < 60; p++) {
			t += 3 * SEC;
			r.period_usec = 3 * SEC;
			run_pass(&r, p, t);
			if (!backoff_skip(&r.bp, b, phase))
				break;
		}
		CU_ASSERT(t - 10 * SEC <= 20 * SEC);
	}
	/* no bound, no backoff; a bound shorter than a pass, none either */
	struct run off = { .period_usec = 1 * SEC, .max_usec = 0 };
	run_pass(&off, 50, 50 * SEC);
	CU_ASSERT_EQUAL(off.bp.max_since, 0);
	CU_ASSERT_FALSE(backoff_skip(&off.bp, (uint8_t)(7 << BACKOFF_LEVEL_SHIFT | 49), 1));
	off.max_usec = SEC / 2;
	run_pass(&off, 51, 51 * SEC);
	CU_ASSERT_EQUAL(off.bp.max_passes, 1);
	CU_ASSERT_FALSE(backoff_skip(&off.bp, (uint8_t)(7 << BACKOFF_LEVEL_SHIFT | 50), 1));
	/* a stamp 32 passes old reads as this pass: read, never skipped */
	struct run on = { .period_usec = 1 * SEC, .max_usec = 3600 * SEC };
	for (unsigned q = 1; q <= 40; q++)
		run_pass(&on, q, q * SEC);
	CU_ASSERT_FALSE(backoff_skip(&on.bp, (uint8_t)(7 << BACKOFF_LEVEL_SHIFT | (40 & 31)), 1));
}

/* Backed-off memory is read a slice per pass: 64 chunks (phases 0..63) at
 * the top level, 16 passes apart, read 4 a pass, never all at once. */
static void test_slices(void)
{
	struct run r = { .period_usec = 30 * SEC, .max_usec = 16 * 30 * SEC };
	uint8_t b[64];
	memset(b, 0, sizeof(b));
	for (unsigned p = 1; p <= 200; p++) {
		run_pass(&r, p, (usec_t)p * r.period_usec);
		unsigned n = 0;
		for (unsigned c = 0; c < 64; c++)
			if (p == 1 || !backoff_skip(&r.bp, b[c], c)) {
				b[c] = backoff_after_read(b[c], p, p > 1);
				n++;
			}
		if (p > 100)
			CU_ASSERT_EQUAL(n, 4);
	}
}

int main(void)
{
	KSMD_TEST_INIT();
	static const struct ksmd_test tests[] = {
		{ "unique and unchanged: reads back off 2, 4, ... 32", test_steady_schedule },
		{ "a changed page is read every pass again", test_change_resets },
		{ "the bound holds, in passes and in time", test_bound },
		{ "backed-off memory is read a slice per pass", test_slices },
		{ NULL, NULL },
	};
	ksmd_add_suite("scan_backoff", tests);
	return ksmd_run_tests();
}
