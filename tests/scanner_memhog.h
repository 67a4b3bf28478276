/* scanner_memhog.h — memory of known content, for the scanner's tests.
 *
 * One anonymous mapping, laid out in this order (4 KiB pages):
 *   absent       never touched
 *   zero_mapped  read only: mapped to the kernel's zero page
 *   zero_filled  written, then zeroed: own pages full of zeros
 *   unique       content depends on (seed, page): unique within and,
 *                with distinct seeds, across processes
 *   classes      `classes` contents, `per_class` pages each (content
 *                independent of the seed: shared across processes)
 *   pairs        `pairs` contents, 2 pages each (seed independent too)
 * THP is disabled on it so that a touched page does not bring 511 others,
 * unless thp is set (MADV_HUGEPAGE: backed like QEMU guest RAM usually is).
 * With mergeable set it is MADV_MERGEABLE (smaps VmFlags `mg`), like QEMU
 * guest RAM. */
#ifndef KSMD_TEST_SCANNER_MEMHOG_H
#define KSMD_TEST_SCANNER_MEMHOG_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

struct memhog_layout {
	unsigned absent, zero_mapped, zero_filled, unique, classes, per_class, pairs;
	unsigned seed;
	bool mergeable;
	bool thp;
};

static inline size_t memhog_pages(const struct memhog_layout *l)
{
	return (size_t)l->absent + l->zero_mapped + l->zero_filled + l->unique +
	       (size_t)l->classes * l->per_class + 2 * (size_t)l->pairs;
}

/* Fill one page with the pseudo-random content number `id`. */
static inline void memhog_fill(unsigned char *page, uint64_t id)
{
	uint64_t x = id * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL, *w = (uint64_t *)page;
	for (unsigned i = 0; i < 4096 / 8; i++) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		w[i] = x;
	}
}

/* Content id of unique page i for seed. */
static inline uint64_t memhog_unique_id(unsigned seed, unsigned i)
{
	return ((uint64_t)(seed + 1) << 40) | i;
}

/* Map and fill the layout; returns the mapping or NULL. */
static inline unsigned char *memhog_build(const struct memhog_layout *l)
{
	size_t n = memhog_pages(l);
	unsigned char *m = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	madvise(m, n * 4096, l->thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	if (l->mergeable)
		madvise(m, n * 4096, MADV_MERGEABLE);
	size_t p = l->absent;
	for (unsigned i = 0; i < l->zero_mapped; i++, p++)
		(void)*(volatile unsigned char *)(m + p * 4096);
	for (unsigned i = 0; i < l->zero_filled; i++, p++) {
		m[p * 4096] = 1;
		*(volatile unsigned char *)(m + p * 4096) = 0;
	}
	for (unsigned i = 0; i < l->unique; i++, p++)
		memhog_fill(m + p * 4096, memhog_unique_id(l->seed, i));
	for (unsigned c = 0; c < l->classes; c++)
		for (unsigned k = 0; k < l->per_class; k++, p++)
			memhog_fill(m + p * 4096, 1000000 + c);
	for (unsigned c = 0; c < l->pairs; c++)
		for (unsigned k = 0; k < 2; k++, p++)
			memhog_fill(m + p * 4096, 2000000 + c);
	return m;
}

#endif
