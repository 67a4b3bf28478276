/* stats_server.c — the stats endpoint under a realistic snapshot, for
 * bench-stats: publishes a snapshot of N guests (the unit-test fixture)
 * and republishes a fresh one every tick, as the daemon loop does, while
 * serving HTTP. Prints "port N" once listening; exits after SECONDS.
 * On exit (SECONDS or SIGTERM) it reports the cost of a publish (render
 * of all bodies) and its own CPU time (publishing and serving).
 *
 * usage: stats_server LISTEN GUESTS SECONDS [TICK_MS] */
#include "stats/stats.h"
#include "tests/unit/test_stats_fixture.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s LISTEN GUESTS SECONDS [TICK_MS]\n", argv[0]);
		return 2;
	}
	int guests = atoi(argv[2]);
	double secs = atof(argv[3]);
	int tick_ms = argc > 4 ? atoi(argv[4]) : 1000;
	struct stats_server *srv;
	if (stats_publish(stats_fixture(guests, false)) < 0)
		return 1;
	if (stats_server_start(argv[1], &srv) < 0)
		return 1;
	printf("port %u\n", stats_server_port(srv));
	fflush(stdout);
	double end = now() + secs, worst = 0, sum = 0;
	int n = 0;
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	while (now() < end && !stop) {
		usleep((useconds_t)tick_ms * 1000);
		json_t *s = stats_fixture(guests, false);
		double t0 = now();
		stats_publish(s);
		double dt = now() - t0;
		sum += dt;
		worst = dt > worst ? dt : worst;
		n++;
	}
	stats_server_stop(srv);
	stats_shutdown();
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("publish_ms mean %.3f max %.3f over %d publishes\n", n ? sum / n * 1e3 : 0, worst * 1e3, n);
	printf("cpu_seconds %.3f\n", ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	return 0;
}
