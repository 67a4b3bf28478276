/* scanner_memhog — a process holding memory of known content, for the
 * scanner's integration tests and benchmarks.
 *
 * usage: scanner_memhog [-m] [-H] [-w] ABSENT ZERO_MAPPED ZERO_FILLED UNIQUE CLASSES PER_CLASS PAIRS SEED
 * (page counts; see tests/scanner_memhog.h for the layout; -m marks the
 * mapping MADV_MERGEABLE like QEMU guest RAM, -H backs it with transparent
 * huge pages like QEMU guest RAM usually is). Prints "PID ADDR BYTES" on
 * one line once the memory is filled, then sleeps until killed. With -w,
 * each SIGUSR1 copies the first half of the unique pages over the second
 * half (UNIQUE / 2 new pairs of duplicates) and prints "rewritten". */
#include "tests/scanner_memhog.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t rewrite_asked;

static void on_usr1(int sig)
{
	(void)sig;
	rewrite_asked = 1;
}

int main(int argc, char **argv)
{
	struct memhog_layout l = { 0 };
	bool rewrite = false;
	int a = 1;
	if (a < argc && strcmp(argv[a], "-m") == 0) {
		l.mergeable = true;
		a++;
	}
	if (a < argc && strcmp(argv[a], "-H") == 0) {
		l.thp = true;
		a++;
	}
	if (a < argc && strcmp(argv[a], "-w") == 0) {
		rewrite = true;
		a++;
	}
	if (argc - a != 8) {
		fprintf(stderr, "usage: %s [-m] [-H] [-w] ABSENT ZERO_MAPPED ZERO_FILLED UNIQUE CLASSES "
			"PER_CLASS PAIRS SEED\n", argv[0]);
		return 2;
	}
	unsigned v[8];
	for (int i = 0; i < 8; i++)
		v[i] = (unsigned)strtoul(argv[a + i], NULL, 0);
	l.absent = v[0]; l.zero_mapped = v[1]; l.zero_filled = v[2]; l.unique = v[3];
	l.classes = v[4]; l.per_class = v[5]; l.pairs = v[6]; l.seed = v[7];
	unsigned char *m = memhog_build(&l);
	if (!m) {
		perror("mmap");
		return 1;
	}
	sigset_t usr1, old;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	if (rewrite) {
		sigprocmask(SIG_BLOCK, &usr1, &old);
		signal(SIGUSR1, on_usr1);
	}
	printf("%d %p %zu\n", (int)getpid(), (void *)m, memhog_pages(&l) * 4096);
	fflush(stdout);
	for (;;) {
		if (!rewrite) {
			pause();
			continue;
		}
		sigsuspend(&old);
		if (!rewrite_asked)
			continue;
		rewrite_asked = 0;
		unsigned char *u = m + ((size_t)l.absent + l.zero_mapped + l.zero_filled) * 4096;
		size_t half = l.unique / 2;
		memcpy(u + half * 4096, u, half * 4096);
		printf("rewritten\n");
		fflush(stdout);
	}
}
