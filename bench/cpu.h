/* cpu.h — the benchmarks' CPU time, read one way.
 *
 * A benchmark here reports CPU seconds beside wall seconds, because the
 * machines it runs on are shared and a wall figure alone mixes the work
 * measured with the work of whoever else ran. Which CPU counts differs by
 * tool: the whole process (every thread, the scanner's and liburcu's
 * included), the children it has reaped (the HTTP endpoint's process), or
 * the calling thread alone (a loop timed without the threads beside it).
 * Each tool used to hold its own few lines for this; they agreed, but a
 * reader had to check that they did.
 *
 * Process and children come from getrusage(): user plus system time, at
 * the microsecond its struct timeval gives. The thread's comes from
 * CLOCK_THREAD_CPUTIME_ID, whose nanoseconds a short timed loop needs.
 * An error (none is expected for these arguments) reads as 0 s. */
#ifndef KSMD_BENCH_CPU_H
#define KSMD_BENCH_CPU_H

#include <sys/resource.h>
#include <time.h>

enum bench_cpu_of {
	BENCH_CPU_SELF,     /* this process, every thread */
	BENCH_CPU_CHILDREN, /* the children reaped so far (and theirs) */
	BENCH_CPU_THREAD,   /* the calling thread */
};

/* User plus system CPU time of who, in seconds. */
static inline double bench_cpu_sec(enum bench_cpu_of who)
{
	if (who == BENCH_CPU_THREAD) {
		struct timespec ts;
		if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
			return 0;
		return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	}
	struct rusage ru;
	if (getrusage(who == BENCH_CPU_CHILDREN ? RUSAGE_CHILDREN : RUSAGE_SELF, &ru))
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

#endif
