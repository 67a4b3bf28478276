/* ksm_drive — the KSM executor alone, in a loop, as the daemon runs it: for
 * the convergence benchmark and the KSM integration test.
 *
 * usage: ksm_drive [-p PAGES [-d KEPT]] [-g PID...] [-t TICK_MS]
 *                  [-b BUDGET_PERCENT] [-T SECONDS] [-q]
 *
 * The prediction comes from -p, or from one pass of ksmd's scanner over the
 * processes given with -g (scanner_scan_once in a thread, its cost counted
 * as this process's CPU; until it ends the executor ticks with
 * KSM_PREDICTION_PENDING, as the daemon does at start); with -g, progress is those processes' own merged pages (from
 * their ksm_stat), not KSM's global pages_sharing. With -p and -g both, no
 * scan: the processes' merged pages count, less KEPT (-d: the kept copy of
 * each duplicated content, which ksm_merging_pages counts and pages_sharing
 * does not). Then every TICK_MS (default 500) it calls ksm_driver_tick() and
 * prints each change with its reason. On SIGINT/SIGTERM or after SECONDS it
 * restores the KSM settings found at start and prints
 * "cpu_sec X" (this process's own user+system CPU, scanner included). */
#include "common/log.h"
#include "act/ksm.h"
#include "bench/cpu.h"
#include "scanner/scanner.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* The guests' own merged pages, in pages_sharing units: their
 * ksm_merging_pages (every page mapped to a KSM page) minus one kept copy per
 * duplicated content the scanner found (clamped at 0: early in a merge that
 * undercounts, which only keeps KSM converging a little longer). Other KSM
 * users on the host do not count. -1 when a ksm_stat cannot be read. */
static int64_t guests_merged(const pid_t *pids, int n, uint64_t dup_classes)
{
	int64_t sum = 0;
	for (int i = 0; i < n; i++) {
		struct ksm_proc_stat ps;
		if (ksm_proc_stat(pids[i], &ps) < 0 || ps.merging_pages < 0)
			return -1;
		sum += ps.merging_pages;
	}
	return sum > (int64_t)dup_classes ? sum - (int64_t)dup_classes : 0;
}

/* One scanner pass over pids: the predicted pages_sharing. */
static int predict(pid_t *pids, int n, uint64_t *out, uint64_t *dup_classes)
{
	struct scanner_conf conf;
	scanner_conf_defaults(&conf);
	struct scanner *s = scanner_new(&conf);
	if (!s)
		return -errno;
	int r = 0;
	for (int i = 0; i < n && r == 0; i++) {
		char name[32];
		snprintf(name, sizeof name, "pid%d", (int)pids[i]);
		r = scanner_add_guest(s, name, pids[i], SCANNER_GUEST_PROCESS, 0);
	}
	usec_t t0 = now_usec();
	if (r == 0)
		r = scanner_scan_once(s);
	struct scanner_results res;
	if (r == 0)
		r = scanner_get_results(s, &res);
	if (r == 0) {
		*out = res.predicted_sharing_pages;
		*dup_classes = res.dup_classes;
		printf("predicted %llu pages (scanner: %llu duplicated contents, %llu pages read, "
		       "%.2f s, %.2f CPU-s)\n", (unsigned long long)res.predicted_sharing_pages,
		       (unsigned long long)res.dup_classes,
		       (unsigned long long)res.pages_scanned, (now_usec() - t0) / 1e6,
		       res.last_pass_cpu_sec);
		scanner_results_free(&res);
	}
	scanner_free(s);
	return r;
}

struct predict_job {
	pid_t *pids;
	int npids;
	uint64_t predicted, dup_classes;
	int result;
	volatile int done;  /* set last, read by the loop */
};

static void *predict_thread(void *arg)
{
	struct predict_job *j = arg;
	j->result = predict(j->pids, j->npids, &j->predicted, &j->dup_classes);
	__atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

struct args {
	uint64_t predicted, dup_classes;
	bool have_prediction, quiet;
	pid_t pids[64];
	int npids;
	long tick_ms;
	double budget, limit_sec;
};

/* The command line into a; 0, or 2 (the exit status) after a usage line. */
static int parse_args(int argc, char **argv, struct args *a)
{
	int c;
	*a = (struct args){ .tick_ms = 500, .budget = -1 };
	while ((c = getopt(argc, argv, "p:d:g:t:b:T:q")) != -1) {
		switch (c) {
		case 'd': a->dup_classes = strtoull(optarg, NULL, 10); break;
		case 'p': a->predicted = strtoull(optarg, NULL, 10); a->have_prediction = true; break;
		case 'g':
			if (a->npids < 64)
				a->pids[a->npids++] = (pid_t)atoi(optarg);
			break;
		case 't': a->tick_ms = atol(optarg); break;
		case 'b': a->budget = atof(optarg); break;
		case 'T': a->limit_sec = atof(optarg); break;
		case 'q': a->quiet = true; break;
		default:
			fprintf(stderr, "usage: %s [-p PAGES [-d KEPT]] [-g PID...] [-t TICK_MS] "
				"[-b BUDGET_PERCENT] [-T SECONDS] [-q]\n", argv[0]);
			return 2;
		}
	}
	log_open(LOG_TO_STDERR, a->quiet ? LOG_WARNING : LOG_INFO);
	if (!a->have_prediction && a->npids == 0) {
		fprintf(stderr, "ksm_drive: give -p PAGES or -g PID\n");
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct args a;
	if (parse_args(argc, argv, &a))
		return 2;
	uint64_t predicted = a.predicted, dup_classes = a.dup_classes;
	bool have_prediction = a.have_prediction;
	pid_t *pids = a.pids;
	int npids = a.npids;
	long tick_ms = a.tick_ms;
	double budget = a.budget, limit_sec = a.limit_sec;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);

	struct predict_job job = { .pids = pids, .npids = npids };
	pthread_t th;
	bool scanning = !have_prediction;
	if (scanning && pthread_create(&th, NULL, predict_thread, &job) != 0) {
		fprintf(stderr, "ksm_drive: cannot start the scanner thread\n");
		return 1;
	}
	struct ksm_pace_config cfg;
	ksm_pace_config_default(&cfg);
	if (budget >= 0)
		cfg.cpu_budget_percent = budget;
	struct ksm_driver d;
	int r = ksm_driver_init(&d, NULL, &cfg);
	if (r < 0) {
		fprintf(stderr, "ksm_drive: cannot read KSM sysfs: %s\n", strerror(-r));
		return 1;
	}
	usec_t start = now_usec();
	while (!stop) {
		usec_t now = now_usec();
		if (limit_sec > 0 && now - start >= (usec_t)(limit_sec * 1e6))
			break;
		if (scanning && __atomic_load_n(&job.done, __ATOMIC_ACQUIRE)) {
			pthread_join(th, NULL);
			scanning = false;
			if (job.result < 0) {
				fprintf(stderr, "ksm_drive: scanner pass failed: %s\n", strerror(-job.result));
				break;
			}
			predicted = job.predicted;
			dup_classes = job.dup_classes;
			have_prediction = true;
		}
		int64_t merged = npids && have_prediction ? guests_merged(pids, npids, dup_classes) : -1;
		r = ksm_driver_tick(&d, have_prediction ? predicted : KSM_PREDICTION_PENDING, merged,
				    KSM_URGENCY_NORMAL, now);
		if (r < 0)
			fprintf(stderr, "ksm_drive: tick: %s, ignoring\n", strerror(-r));
		else if (r > 0)
			printf("%.1f s: %s %u/%u run=%u: %s\n", (now - start) / 1e6,
			       ksm_pace_phase_name(d.state.phase), d.last.next.pages_to_scan,
			       d.last.next.sleep_millisecs, d.last.next.run, d.last.reason);
		struct timespec ts = { tick_ms / 1000, (tick_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (scanning)
		pthread_join(th, NULL);
	r = ksm_driver_restore(&d);
	printf("foreign_changes %llu\n", (unsigned long long)d.foreign_changes);
	printf("cpu_sec %.3f\n", bench_cpu_sec(BENCH_CPU_SELF));
	return r < 0 ? 1 : 0;
}
