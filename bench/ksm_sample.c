/* ksm_sample — the convergence benchmark's sampler: one CSV line every
 * INTERVAL (default 100 ms) with what the fillers merged and what it cost.
 *
 * usage: ksm_sample [-i MS] [-T SECONDS] [-k KTHREAD_PID] [-o FILE] [-r RUN]
 *                   [-g PID]... [-s PID]...
 *
 *   -g PID  a filler: its ksm_merging_pages (/proc/PID/ksm_stat) is summed
 *   -s PID  a process of the strategy (ksmd, ksmtuned, a driver script): its
 *           utime+stime from /proc/PID/stat, which covers all its threads,
 *           plus cutime+cstime (the children it waited for: ksmtuned's and
 *           the drivers' pgrep, awk, sleep), counted from the process's
 *           start; the last value read is kept once it has exited
 *   -k PID  the kernel's ksmd thread (default: found by comm "ksmd" and
 *           PPID 2), counted from the sampler's start
 *   -T S    stop after S seconds (default: at SIGINT/SIGTERM)
 *   -r RUN  a run id, written as the first column of every line (so that
 *           lines of different runs never mix)
 *
 * Output (stdout or -o FILE, one line flushed per sample):
 *   [run,]seconds,fillers_merging_pages,pages_sharing,strategy_cpu_sec,kthread_cpu_sec
 * seconds from the sampler's start (CLOCK_MONOTONIC); CPU at the kernel's
 * clock tick resolution (getconf CLK_TCK, usually 10 ms). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXP 64

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int read_text(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = 0;
	return (int)n;
}

/* utime+stime (+ cutime+cstime when tree) in ticks; -1 when unreadable. */
static long long ticks(int pid, int tree)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	if (read_text(path, buf, sizeof buf) <= 0)
		return -1;
	char *p = strrchr(buf, ')'); /* comm may hold spaces */
	if (!p)
		return -1;
	/* after ") ": field 3 (state) onwards; utime is field 14 */
	unsigned long long v[17] = { 0 };
	int field = 3;
	p += 2;
	while (*p && field <= 17) {
		char *end;
		if (field >= 14)
			v[field - 14] = strtoull(p, &end, 10);
		else
			end = strchr(p, ' ');
		if (!end)
			break;
		p = end;
		while (*p == ' ')
			p++;
		field++;
	}
	long long t = (long long)(v[0] + v[1]);
	if (tree)
		t += (long long)(v[2] + v[3]);
	return t;
}

static long long merging_pages(int pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/ksm_stat", pid);
	if (read_text(path, buf, sizeof buf) <= 0)
		return 0;
	char *p = strstr(buf, "ksm_merging_pages ");
	return p ? strtoll(p + strlen("ksm_merging_pages "), NULL, 10) : 0;
}

static long long sysfs_num(const char *path)
{
	char buf[64];
	return read_text(path, buf, sizeof buf) > 0 ? strtoll(buf, NULL, 10) : -1;
}

static int find_kthread(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int found = 0;
	while (d && (e = readdir(d)) && !found) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		char path[64], buf[512];
		snprintf(path, sizeof path, "/proc/%ld/stat", pid);
		if (read_text(path, buf, sizeof buf) <= 0)
			continue;
		char *c = strchr(buf, '('), *r = strrchr(buf, ')');
		if (!c || !r || r - c - 1 != 4 || strncmp(c + 1, "ksmd", 4))
			continue;
		int ppid = 0;
		if (sscanf(r + 2, "%*c %d", &ppid) == 1 && ppid == 2)
			found = (int)pid;
	}
	if (d)
		closedir(d);
	return found;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleep until the next sample's time, interval_ms after *next (the
 * schedule, not the last wake-up: samples do not drift). */
static void sleep_next(struct timespec *next, long interval_ms)
{
	next->tv_nsec += interval_ms % 1000 * 1000000L;
	next->tv_sec += interval_ms / 1000 + next->tv_nsec / 1000000000L;
	next->tv_nsec %= 1000000000L;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, next, NULL) == EINTR && !stop)
		;
}

int main(int argc, char **argv)
{
	int fillers[MAXP], nf = 0, strat[MAXP], ns = 0, kthread = 0, c;
	long interval_ms = 100;
	double duration = 0;
	const char *out = NULL, *run = NULL;
	while ((c = getopt(argc, argv, "i:T:k:o:r:g:s:")) != -1) {
		switch (c) {
		case 'i': interval_ms = strtol(optarg, NULL, 10); break;
		case 'T': duration = strtod(optarg, NULL); break;
		case 'k': kthread = atoi(optarg); break;
		case 'o': out = optarg; break;
		case 'r': run = optarg; break;
		case 'g':
			if (nf < MAXP)
				fillers[nf++] = atoi(optarg);
			break;
		case 's':
			if (ns < MAXP)
				strat[ns++] = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-i MS] [-T SECONDS] [-k KTHREAD_PID] [-o FILE] [-r RUN] "
					"[-g PID]... [-s PID]...\n", argv[0]);
			return 2;
		}
	}
	if (interval_ms < 1) {
		fprintf(stderr, "ksm_sample: -i must be at least 1 ms\n");
		return 2;
	}
	if (!kthread && !(kthread = find_kthread())) {
		fprintf(stderr, "ksm_sample: kernel ksmd thread not found\n");
		return 1;
	}
	FILE *f = out ? fopen(out, "w") : stdout;
	if (!f) {
		fprintf(stderr, "ksm_sample: %s: %s\n", out, strerror(errno));
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	double hz = (double)sysconf(_SC_CLK_TCK);
	long long k0 = ticks(kthread, 0), last_s[MAXP];
	for (int i = 0; i < ns; i++)
		last_s[i] = 0;
	fprintf(f, "%sseconds,fillers_merging_pages,pages_sharing,strategy_cpu_sec,kthread_cpu_sec\n", run ? "run," : "");
	double t0 = mono();
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		double t = mono() - t0;
		long long mg = 0, st = 0, kt = ticks(kthread, 0);
		for (int i = 0; i < nf; i++)
			mg += merging_pages(fillers[i]);
		for (int i = 0; i < ns; i++) {
			long long v = ticks(strat[i], 1);
			if (v >= 0)
				last_s[i] = v; /* exited: its last value stays */
			st += last_s[i];
		}
		if (run)
			fprintf(f, "%s,", run);
		fprintf(f, "%.3f,%lld,%lld,%.2f,%.2f\n", t, mg,
			sysfs_num("/sys/kernel/mm/ksm/pages_sharing"), (double)st / hz,
			kt >= 0 && k0 >= 0 ? (double)(kt - k0) / hz : 0.0);
		fflush(f);
		if (stop || (duration > 0 && t >= duration))
			break;
		sleep_next(&next, interval_ms);
	}
	if (out)
		fclose(f);
	return 0;
}
