/* stats_scan.c — scanner throughput, for the "scanner under HTTP load"
 * half of bench-stats. Forks a child that holds MIB MiB of anonymous memory
 * (half of it one repeated 64-page pattern, half unique), registers it with
 * the scanner as a plain process, runs PASSES full passes with
 * scanner_scan_once() and prints the median pages_scanned_per_sec as JSON.
 * The script runs it once idle and once while the HTTP load runs.
 *
 * usage: stats_scan MIB PASSES */
#include "scanner/scanner.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s MIB PASSES\n", argv[0]);
		return 2;
	}
	size_t bytes = (size_t)atol(argv[1]) << 20;
	int passes = atoi(argv[2]);
	int pfd[2];
	if (pipe(pfd) < 0)
		return 1;
	pid_t child = fork();
	if (child == 0) {
		unsigned char *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			_exit(1);
		size_t pages = bytes / 4096;
		for (size_t p = 0; p < pages; p++) {
			uint64_t *w = (uint64_t *)(m + p * 4096);
			uint64_t seed = p < pages / 2 ? p % 64 + 1 : p * 0x9e3779b97f4a7c15ULL + 7;
			for (size_t i = 0; i < 512; i++)
				w[i] = seed * (i + 1);
		}
		(void)!write(pfd[1], "r", 1);
		pause();
		_exit(0);
	}
	char c;
	if (read(pfd[0], &c, 1) != 1)
		return 1;
	struct scanner_conf conf;
	scanner_conf_defaults(&conf);
	struct scanner *s = scanner_new(&conf);
	int rc = 1;
	if (!s || scanner_add_guest(s, "bench", child, SCANNER_GUEST_PROCESS, 0) < 0)
		goto out;
	double *rate = calloc((size_t)passes, sizeof *rate);
	uint64_t scanned = 0;
	for (int i = 0; i < passes; i++) {
		struct scanner_results r;
		if (scanner_scan_once(s) < 0 || scanner_get_results(s, &r) < 0)
			goto out;
		rate[i] = r.pages_scanned_per_sec;
		scanned = r.pages_scanned;
		scanner_results_free(&r);
	}
	qsort(rate, (size_t)passes, sizeof *rate, cmp);
	printf("{\"mib\":%zu,\"passes\":%d,\"pages_scanned_per_pass\":%llu,"
	       "\"pages_per_sec_median\":%.0f,\"pages_per_sec_min\":%.0f,\"pages_per_sec_max\":%.0f}\n",
	       bytes >> 20, passes, (unsigned long long)scanned, rate[passes / 2], rate[0],
	       rate[passes - 1]);
	free(rate);
	rc = 0;
out:
	scanner_free(s);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return rc;
}
