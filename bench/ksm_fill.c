/* ksm_fill — a process with known duplicate content, for the convergence
 * benchmark and the KSM integration test.
 *
 * usage: ksm_fill [-m MIB] [-i INDEX] [-n]
 *
 * Maps MIB MiB (default 512) of anonymous memory, marks it MADV_MERGEABLE
 * (unless -n: then the caller is expected to run it under
 * `ksmdctl run --`, i.e. with PR_SET_MEMORY_MERGE inherited), and fills it:
 *
 *   first half     page p holds content C(p): the same in every process
 *   third quarter  16 patterns repeated, P(INDEX, p mod 16): per process
 *   last quarter   unique, U(INDEX, p)
 *
 * No page is zero-filled (KSM would treat those apart). With N processes of
 * n pages each, KSM can save (N-1) x n/2 pages across processes plus, per
 * process, n/4 minus the KSM pages the 16 patterns need: each pattern is
 * repeated n/64 times and one KSM page takes at most max_page_sharing (256)
 * sharers, so 16 x ceil(n/64 / 256) pages stay. For 4 x 512 MiB:
 * 3 x 65536 + 4 x (32768 - 128) = 327,168 pages.
 *
 * Prints "ready PID PAGES" on stdout when filled, then sleeps until killed. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096UL

static uint64_t mix(uint64_t x)
{
	/* splitmix64 finaliser: a cheap, well-spread 64-bit mix */
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void fill_page(uint64_t *w, uint64_t key)
{
	uint64_t k = mix(key) | 1; /* never all zero */
	for (size_t i = 0; i < PAGE / 8; i++)
		w[i] = k + i * 0x9e3779b97f4a7c15ULL;
}

int main(int argc, char **argv)
{
	unsigned long mib = 512, index = 0;
	int madv = 1, c;
	while ((c = getopt(argc, argv, "m:i:n")) != -1) {
		switch (c) {
		case 'm': mib = strtoul(optarg, NULL, 10); break;
		case 'i': index = strtoul(optarg, NULL, 10); break;
		case 'n': madv = 0; break;
		default:
			fprintf(stderr, "usage: %s [-m MIB] [-i INDEX] [-n]\n", argv[0]);
			return 2;
		}
	}
	size_t len = mib << 20, pages = len / PAGE;
	if (pages < 64) {
		fprintf(stderr, "ksm_fill: at least 1 MiB\n");
		return 2;
	}
	char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("ksm_fill: mmap");
		return 1;
	}
	if (madv && madvise(mem, len, MADV_MERGEABLE) < 0) {
		perror("ksm_fill: madvise(MADV_MERGEABLE)");
		return 1;
	}
	for (size_t p = 0; p < pages; p++) {
		uint64_t key;
		if (p < pages / 2)
			key = (1ULL << 60) | p;
		else if (p < pages / 4 * 3)
			key = (2ULL << 60) | (index << 32) | (p % 16);
		else
			key = (3ULL << 60) | (index << 32) | p;
		fill_page((uint64_t *)(mem + p * PAGE), key);
	}
	printf("ready %d %zu\n", (int)getpid(), pages);
	fflush(stdout);
	for (;;)
		pause();
}
