/* stats_server.c — the stats endpoint under a realistic snapshot, for
 * bench-stats: publishes a snapshot of N guests (the unit-test fixture)
 * and republishes a fresh one every tick, as the daemon loop does, while
 * serving HTTP. Prints "port N" once listening; exits after SECONDS.
 *
 * MODE sep (the default, as root; what ksmd does): the daemon's
 * privilege separation (daemon/http_sep.c), the endpoint served by an
 * unprivileged child (this binary again, --http-child) that gets each
 * snapshot over the socketpair and renders it. MODE inproc: the server's
 * threads in this process, as ksmd did before the separation.
 *
 * On exit (SECONDS or SIGTERM) it reports the cost of a publish in this
 * process (sep: the snapshot handed over; inproc: every body rendered)
 * and the CPU time of this process and of its child (publishing,
 * rendering and serving).
 *
 * usage: stats_server LISTEN GUESTS SECONDS [TICK_MS [sep|inproc]] */
#include "bench/cpu.h"
#include "daemon/http_sep.h"
#include "stats/sep_wire.h"
#include "stats/stats.h"
#include "tests/unit/test_stats_fixture.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
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

struct bench {
	struct http_sep *sep;
	int guests;
	double end, worst, sum;
	int n;
};

static void publish(struct bench *b)
{
	json_t *s = stats_fixture(b->guests, false);
	double t0 = now();
	http_sep_publish(b->sep, s); /* NULL sep (inproc): nothing */
	stats_publish(s);
	double dt = now() - t0;
	b->sum += dt;
	b->worst = dt > b->worst ? dt : b->worst;
	b->n++;
}

static void on_tick(struct loop *l, int fd, uint32_t events, void *data)
{
	(void)events;
	if (loop_timer_fired(fd))
		publish(data);
	(void)l;
}

static void on_check(struct loop *l, int fd, uint32_t events, void *data)
{
	struct bench *b = data;
	(void)events;
	if (loop_timer_fired(fd) && (stop || now() >= b->end))
		loop_quit(l);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], SEP_CHILD_ARG))
		stats_http_child_main(argc, argv);
	if (argc < 4) {
		fprintf(stderr, "usage: %s LISTEN GUESTS SECONDS [TICK_MS [sep|inproc]]\n", argv[0]);
		return 2;
	}
	struct bench b = { .guests = atoi(argv[2]) };
	double secs = atof(argv[3]);
	int tick_ms = argc > 4 ? atoi(argv[4]) : 1000;
	bool sep = argc > 5 ? !strcmp(argv[5], "sep") : geteuid() == 0;
	struct stats_server *srv = NULL;
	struct loop *l = loop_new();
	if (!l)
		return 1;
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);
	if (sep) {
		if (http_sep_start(l, argv[1], "", &b.sep) < 0)
			return 1;
	} else if (stats_server_start(argv[1], &srv) < 0) {
		return 1;
	}
	stats_publish(stats_fixture(b.guests, false));
	if (b.sep) {
		json_t *s = stats_current();
		http_sep_publish(b.sep, s);
		json_decref(s);
	}
	printf("port %u\nmode %s\n", sep ? http_sep_port(b.sep) : stats_server_port(srv),
	       sep ? "sep" : "inproc");
	fflush(stdout);
	b.end = now() + secs;
	if (loop_add_timer(l, (usec_t)tick_ms * USEC_PER_MSEC, on_tick, &b) < 0 ||
	    loop_add_timer(l, 100 * USEC_PER_MSEC, on_check, &b) < 0)
		return 1;
	loop_run(l);
	http_sep_stop(b.sep); /* reaps the child: its CPU is BENCH_CPU_CHILDREN's */
	stats_server_stop(srv);
	stats_shutdown();
	printf("publish_ms mean %.3f max %.3f over %d publishes\n", b.n ? b.sum / b.n * 1e3 : 0,
	       b.worst * 1e3, b.n);
	double self = bench_cpu_sec(BENCH_CPU_SELF), child = bench_cpu_sec(BENCH_CPU_CHILDREN);
	printf("cpu_seconds %.3f\n", self + child);
	printf("cpu_seconds_parent %.3f\n", self);
	printf("cpu_seconds_child %.3f\n", child);
	return 0;
}
