/* balloon_qmp_probe.c — qmp-probe: drive one QEMU guest's balloon through
 * ksmd's QMP backend from the command line, in a real epoll loop wired the
 * way the daemon wires it.
 *
 *   qmp-probe [-t SIZE] [-m MIN_PERCENT] [-w S] [-W S] [-i S] [-R S] [-r] SOCKET...
 *
 * One balloon per socket (named p0, p1, ... in the output), one loop.
 *   -t SIZE     set the target (operator override: floor/max checked, no step)
 *   -m PCT      floor as a percent of max (default 50)
 *   -w SECONDS  wait this long for actual to reach the target (default 10)
 *   -W SECONDS  then watch this long, printing every stats update
 *   -i SECONDS  guest-stats polling interval (default 2)
 *   -R SECONDS  how long to wait for every guest to be ready (default 5)
 *   -r          on exit, restore the balloons to max (on_exit = restore)
 *   -c          the arguments are memory cgroups (cgroup backend), not sockets
 *
 * Prints key=value lines: one "ready ..." line, "target ..." when set,
 * "actual ..." on each change, "stats ..." on each stats sample, and a
 * final "final ..." line. Exit 0 on success, 1 on failure (not ready, or
 * target not reached in time), 2 on usage errors. */
#include "balloon/balloon.h"
#include "common/log.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static usec_t t0;
#define MAXB 8
static struct balloon *bs[MAXB];
static int nb;

static void print_info(const char *tag, struct balloon *b)
{
	struct balloon_info i;
	balloon_get_info(b, &i);
	printf("%s name=%s t=%.3f state=%s pid=%d actual=%llu target=%llu max=%llu min=%llu caps=0x%x",
	       tag, i.name, (double)(now_usec() - t0) / 1e6, balloon_state_name(i.state), (int)i.pid,
	       (unsigned long long)i.actual_bytes, (unsigned long long)i.target_bytes,
	       (unsigned long long)i.limits.max_bytes, (unsigned long long)i.limits.min_bytes,
	       i.caps);
	if (!strcmp(tag, "stats")) {
		for (int s = 0; s < BALLOON_STAT_COUNT; s++)
			if (i.stats.valid_mask & (1u << s))
				printf(" %s=%llu", balloon_stat_name(s),
				       (unsigned long long)i.stats.value[s]);
		printf(" age_ms=%llu", (unsigned long long)((now_usec() - i.stats.updated_usec) / 1000));
	}
	if (i.reason[0])
		printf(" reason=\"%s\"", i.reason);
	printf("\n");
	fflush(stdout);
}

static void on_event(struct balloon *b, enum balloon_event ev, void *ud)
{
	(void)ud;
	if (ev == BALLOON_EV_ACTUAL)
		print_info("actual", b);
	else if (ev == BALLOON_EV_STATS)
		print_info("stats", b);
	else if (ev == BALLOON_EV_STATE)
		print_info("state", b);
}

/* Run the loop, the way the daemon wires it, until done() or the deadline. */
static void run(int ep, usec_t until, bool (*done)(void *), void *arg)
{
	for (;;) {
		usec_t now = now_usec();
		if (now >= until || (done && done(arg)))
			return;
		usec_t d = until;
		for (int k = 0; k < nb; k++) {
			balloon_epoll_sync(bs[k], ep, bs[k]);
			d = MIN(d, balloon_next_deadline(bs[k]));
		}
		int ms = d > now ? (int)((d - now + 999) / 1000) : 0;
		struct epoll_event ev[MAXB];
		int n = epoll_wait(ep, ev, MAXB, MIN(ms, 200));
		now = now_usec();
		for (int k = 0; k < n; k++) {
			struct balloon *b = ev[k].data.ptr;
			if (ev[k].events & EPOLLOUT)
				balloon_on_writable(b, now);
			if (ev[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				balloon_on_readable(b, now);
		}
		for (int k = 0; k < nb; k++)
			balloon_tick(bs[k], now);
	}
}

static bool one_ready(struct balloon *b)
{
	struct balloon_info i;
	balloon_get_info(b, &i);
	return i.state == BALLOON_READY && i.limits.max_bytes;
}

static bool all_ready(void *arg)
{
	(void)arg;
	for (int k = 0; k < nb; k++)
		if (!one_ready(bs[k]))
			return false;
	return true;
}

static bool all_reached(void *arg)
{
	uint64_t t = *(uint64_t *)arg;
	for (int k = 0; k < nb; k++) {
		struct balloon_info i;
		balloon_get_info(bs[k], &i);
		uint64_t gap = i.actual_bytes > t ? i.actual_bytes - t : t - i.actual_bytes;
		if (!i.actual_bytes || gap > MIB)
			return false;
	}
	return true;
}

/* Set every balloon to target and wait up to wait_s for all to reach it;
 * 0 when they did, 1 when one refused or fell short. */
static int set_targets(int ep, uint64_t target, double wait_s)
{
	char err[200];
	int rc = 0;
	for (int k = 0; k < nb; k++) {
		int r = balloon_override(bs[k], target, now_usec(), err, sizeof err);
		if (r < 0) {
			printf("refused error=\"%s\"\n", err);
			rc = 1;
		} else {
			print_info("target", bs[k]);
		}
	}
	if (!rc) {
		run(ep, now_usec() + (usec_t)(wait_s * 1e6), all_reached, &target);
		if (!all_reached(&target))
			rc = 1;
	}
	return rc;
}

int main(int argc, char **argv)
{
	uint64_t target = 0;
	double wait_s = 10, watch_s = 0, interval_s = 2, ready_s = 5;
	unsigned min_pct = 50;
	bool restore = false, cgroup = false;
	int o;
	while ((o = getopt(argc, argv, "t:m:w:W:i:R:rvc")) != -1) {
		switch (o) {
		case 'c': cgroup = true; break;
		case 't': if (parse_size(optarg, &target) < 0) goto usage; break;
		case 'm': min_pct = (unsigned)atoi(optarg); break;
		case 'w': wait_s = atof(optarg); break;
		case 'W': watch_s = atof(optarg); break;
		case 'i': interval_s = atof(optarg); break;
		case 'R': ready_s = atof(optarg); break;
		case 'r': restore = true; break;
		case 'v': log_set_level(LOG_DEBUG); break;
		default: goto usage;
		}
	}
	if (optind >= argc || argc - optind > MAXB)
		goto usage;
	log_open(LOG_TO_STDERR, log_get_level());
	t0 = now_usec();
	struct balloon_config cfg = {
		.min_percent = min_pct,
		.stats_interval_usec = (usec_t)(interval_s * 1e6),
	};
	for (int k = optind; k < argc; k++) {
		char name[16];
		snprintf(name, sizeof name, "p%d", nb);
		bs[nb] = cgroup ? balloon_new_cgroup(name, argv[k], &cfg, on_event, NULL)
				: balloon_new_qmp(name, argv[k], &cfg, on_event, NULL);
		if (!bs[nb])
			return 2;
		balloon_tick(bs[nb], now_usec());
		nb++;
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int rc = 0;
	run(ep, now_usec() + (usec_t)(ready_s * 1e6), all_ready, NULL);
	for (int k = 0; k < nb; k++) {
		print_info(one_ready(bs[k]) ? "ready" : "notready", bs[k]);
		if (!one_ready(bs[k]))
			rc = 1;
	}
	if (target && !rc)
		rc = set_targets(ep, target, wait_s);
	if (watch_s > 0)
		run(ep, now_usec() + (usec_t)(watch_s * 1e6), NULL, NULL);
	for (int k = 0; k < nb; k++)
		print_info("final", bs[k]);
	if (restore) {
		int f = balloon_exit_all(bs, (size_t)nb, BALLOON_EXIT_RESTORE, 5 * USEC_PER_SEC);
		printf("restore failed=%d\n", f);
		for (int k = 0; k < nb; k++)
			print_info("restored", bs[k]);
		if (f)
			rc = 1;
	}
	for (int k = 0; k < nb; k++)
		balloon_free(bs[k]);
	close(ep);
	return rc;
usage:
	fprintf(stderr, "usage: qmp-probe [-t SIZE] [-m MIN_PERCENT] [-w S] [-W S] [-i S] [-R S] [-r] [-v] [-c] SOCKET|CGROUP...\n");
	return 2;
}
