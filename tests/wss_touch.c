/* wss_touch — helper of tests/integration/wss.sh: a process with a known
 * working set, and the collector's clear/read cycle run against it.
 *
 *   wss_touch touch TOTAL_MIB HOT_MIB [--mergeable]
 *       maps TOTAL_MIB of anonymous memory, writes all of it once (every
 *       page the same content with --mergeable, which also madvises it
 *       MADV_MERGEABLE for KSM; distinct pages otherwise), prints
 *       "START END" (hex, the mapping) on stdout, then reads one byte of
 *       every page of the first HOT_MIB every 50 ms until killed. Reads,
 *       not writes: a read sets the accessed bit without unsharing a KSM
 *       page. HOT_MIB 0 = touch nothing after the fill.
 *   wss_touch sample PID START END SECONDS
 *       wss_clear(PID) (act/wss_reset.h), sleep SECONDS, wss_sample(PID, START, END) and
 *       print the referenced bytes. Exit 1 on error.
 *   wss_touch sample-ran PID START END SECONDS
 *       as sample, and print after the bytes how many times PID went to
 *       sleep between the clear and the read (its voluntary context
 *       switches): a `touch` process sleeps once per pass over its hot
 *       pages, so this says whether it ran at all in the window. A host
 *       that starves it for the whole window (a shared, loaded machine)
 *       gives a sample that measures the host, not the collector.
 *   wss_touch ram PID SIZE_MIB
 *       print "START END" (hex) of the QEMU guest RAM mapping of PID as
 *       wss_qemu_ram_range() finds it (`mg` in VmFlags, SIZE_MIB long). */
#include "act/wss_reset.h"
#include "collect/wss.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int touch(size_t total_mib, size_t hot_mib, bool mergeable)
{
	size_t len = total_mib << 20, hot = hot_mib << 20;
	if (hot > len)
		return 2;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if (mergeable && madvise(m, len, MADV_MERGEABLE) < 0) {
		perror("madvise(MADV_MERGEABLE)");
		return 1;
	}
	for (size_t i = 0; i < len; i += 4096) {
		memset(m + i, 0x5a, 4096);
		if (!mergeable)
			memcpy(m + i, &i, sizeof i);
	}
	printf("%" PRIx64 " %" PRIx64 "\n", (uint64_t)(uintptr_t)m, (uint64_t)(uintptr_t)m + len);
	fflush(stdout);
	volatile unsigned long sink = 0;
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	for (;;) {
		for (size_t i = 0; i < hot; i += 4096)
			sink += ((volatile char *)m)[i];
		nanosleep(&pause, NULL);
	}
}

/* PID's voluntary_ctxt_switches from /proc/PID/status; -1 on error. */
static long long sleeps(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	long long n = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "voluntary_ctxt_switches: %lld", &n) == 1)
			break;
	fclose(f);
	return n;
}

static int sample(pid_t pid, uint64_t start, uint64_t end, double secs, bool ran)
{
	int r = wss_clear(pid, NULL);
	long long before = ran ? sleeps(pid) : 0;
	if (r < 0) {
		fprintf(stderr, "wss_clear(%d): %s\n", (int)pid, strerror(-r));
		return 1;
	}
	usleep((useconds_t)(secs * 1e6));
	long long after = ran ? sleeps(pid) : 0;
	uint64_t ref = 0;
	r = wss_sample(pid, NULL, start, end, &ref, NULL);
	if (r < 0) {
		fprintf(stderr, "wss_sample(%d): %s\n", (int)pid, strerror(-r));
		return 1;
	}
	if (ran && (before < 0 || after < 0)) {
		fprintf(stderr, "cannot read voluntary_ctxt_switches of %d\n", (int)pid);
		return 1;
	}
	if (ran)
		printf("%" PRIu64 " %lld\n", ref, after - before);
	else
		printf("%" PRIu64 "\n", ref);
	return 0;
}

static int ram(pid_t pid, uint64_t size_mib)
{
	uint64_t start, end;
	int r = wss_qemu_ram_range(pid, size_mib << 20, &start, &end);
	if (r < 0) {
		fprintf(stderr, "wss_qemu_ram_range(%d): %s\n", (int)pid, strerror(-r));
		return 1;
	}
	printf("%" PRIx64 " %" PRIx64 "\n", start, end);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "ram"))
		return ram((pid_t)atoi(argv[2]), strtoull(argv[3], NULL, 10));
	if (argc >= 4 && !strcmp(argv[1], "touch"))
		return touch(strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10),
			     argc > 4 && !strcmp(argv[4], "--mergeable"));
	if (argc == 6 && (!strcmp(argv[1], "sample") || !strcmp(argv[1], "sample-ran")))
		return sample((pid_t)atoi(argv[2]), strtoull(argv[3], NULL, 16),
			      strtoull(argv[4], NULL, 16), atof(argv[5]), !strcmp(argv[1], "sample-ran"));
	fprintf(stderr, "usage: wss_touch touch TOTAL_MIB HOT_MIB [--mergeable] | "
		"sample[-ran] PID START END SECONDS | ram PID SIZE_MIB\n");
	return 2;
}
