/* balloon_qmp_probe.c — qmp-probe: drive one QEMU guest's balloon through
 * ksmd's QMP backend from the command line, in a real epoll loop wired the
 * way the daemon wires it.
 *
 *   qmp-probe [-t SIZE] [-m MIN_PERCENT] [-w SECONDS] [-W SECONDS] [-r] SOCKET
 *
 *   -t SIZE     set the target (operator override: floor/max checked, no step)
 *   -m PCT      floor as a percent of max (default 50)
 *   -w SECONDS  wait this long for actual to reach the target (default 10)
 *   -W SECONDS  then watch this long, printing every stats update
 *   -i SECONDS  guest-stats polling interval (default 2)
 *   -r          on exit, restore the balloon to max (on_exit = restore)
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

static void print_info(const char *tag, struct balloon *b)
{
	struct balloon_info i;
	balloon_get_info(b, &i);
	printf("%s t=%.3f state=%s pid=%d actual=%llu target=%llu max=%llu min=%llu caps=0x%x",
	       tag, (double)(now_usec() - t0) / 1e6, balloon_state_name(i.state), (int)i.pid,
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

/* Run the loop until done() or the deadline. */
static void run(int ep, struct balloon *b, usec_t until, bool (*done)(struct balloon *, void *),
		void *arg)
{
	for (;;) {
		usec_t now = now_usec();
		if (now >= until || (done && done(b, arg)))
			return;
		balloon_epoll_sync(b, ep, b);
		usec_t d = MIN(balloon_next_deadline(b), until);
		int ms = d > now ? (int)((d - now + 999) / 1000) : 0;
		struct epoll_event ev[4];
		int n = epoll_wait(ep, ev, 4, MIN(ms, 200));
		now = now_usec();
		for (int k = 0; k < n; k++) {
			if (ev[k].events & EPOLLOUT)
				balloon_on_writable(b, now);
			if (ev[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				balloon_on_readable(b, now);
		}
		balloon_tick(b, now);
	}
}

static bool is_ready(struct balloon *b, void *arg)
{
	(void)arg;
	struct balloon_info i;
	balloon_get_info(b, &i);
	return i.state == BALLOON_READY && i.limits.max_bytes;
}

static bool reached(struct balloon *b, void *arg)
{
	uint64_t t = *(uint64_t *)arg;
	struct balloon_info i;
	balloon_get_info(b, &i);
	uint64_t gap = i.actual_bytes > t ? i.actual_bytes - t : t - i.actual_bytes;
	return i.actual_bytes && gap <= MIB;
}

int main(int argc, char **argv)
{
	uint64_t target = 0;
	double wait_s = 10, watch_s = 0, interval_s = 2;
	unsigned min_pct = 50;
	bool restore = false;
	int o;
	while ((o = getopt(argc, argv, "t:m:w:W:i:rv")) != -1) {
		switch (o) {
		case 't': if (parse_size(optarg, &target) < 0) goto usage; break;
		case 'm': min_pct = (unsigned)atoi(optarg); break;
		case 'w': wait_s = atof(optarg); break;
		case 'W': watch_s = atof(optarg); break;
		case 'i': interval_s = atof(optarg); break;
		case 'r': restore = true; break;
		case 'v': log_set_level(LOG_DEBUG); break;
		default: goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	log_open(LOG_TO_STDERR, log_get_level());
	t0 = now_usec();
	struct balloon_config cfg = {
		.min_percent = min_pct,
		.stats_interval_usec = (usec_t)(interval_s * 1e6),
	};
	struct balloon *b = balloon_new_qmp("probe", argv[optind], &cfg, on_event, NULL);
	if (!b)
		return 2;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	balloon_tick(b, now_usec());
	run(ep, b, now_usec() + 5 * USEC_PER_SEC, is_ready, NULL);
	if (!is_ready(b, NULL)) {
		print_info("notready", b);
		balloon_free(b);
		return 1;
	}
	print_info("ready", b);
	int rc = 0;
	if (target) {
		char err[200];
		int r = balloon_override(b, target, now_usec(), err, sizeof err);
		if (r < 0) {
			printf("refused error=\"%s\"\n", err);
			rc = 1;
		} else {
			print_info("target", b);
			run(ep, b, now_usec() + (usec_t)(wait_s * 1e6), reached, &target);
			if (!reached(b, &target))
				rc = 1;
		}
	}
	if (watch_s > 0)
		run(ep, b, now_usec() + (usec_t)(watch_s * 1e6), NULL, NULL);
	print_info("final", b);
	if (restore) {
		struct balloon *list[1] = { b };
		int f = balloon_exit_all(list, 1, BALLOON_EXIT_RESTORE, 5 * USEC_PER_SEC);
		printf("restore failed=%d\n", f);
		if (f)
			rc = 1;
	}
	balloon_free(b);
	close(ep);
	return rc;
usage:
	fprintf(stderr, "usage: qmp-probe [-t SIZE] [-m MIN_PERCENT] [-w S] [-W S] [-i S] [-r] [-v] SOCKET\n");
	return 2;
}
