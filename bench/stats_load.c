/* stats_load.c — an open-loop HTTP load generator at a fixed request rate.
 *
 * Debian's wrk has no fixed-rate mode, and a closed-loop generator hides
 * slow responses (it simply sends less: coordinated omission). This one
 * schedules request i of each path at start + i / rate, sends it on an idle
 * keep-alive connection of that path (or queues it until one is free), and
 * measures latency from the scheduled time to the last byte of the
 * response. Any non-200 status, short read or connection failure is an
 * error. One thread, epoll, HTTP/1.1 with Content-Length responses. It
 * sleeps until the next scheduled request with a nanosecond timeout
 * (epoll_pwait2) rather than spinning, so that it takes little of the CPU
 * the server under test and the scanner share with it.
 *
 * usage: stats_load HOST PORT RATE_PER_PATH SECONDS CONNS_PER_PATH PATH...
 *        stats_load --jitter SECONDS   (wake-up lateness of a 1 ms sleep)
 * Prints one JSON object with per-path counts and latency percentiles. */
#include "bench/cpu.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PATHS 8
#define MAX_CONNS 64

struct conn {
	int fd;
	int path;
	bool busy;
	double sched;       /* scheduled send time of the request in flight */
	char *buf;
	size_t len, cap;
	size_t sent, reqlen;
};

struct path_stats {
	const char *path;
	char req[256];
	size_t reqlen;
	uint64_t next;      /* index of the next request to schedule */
	uint64_t queued;    /* scheduled but not yet sent */
	double *queue;      /* scheduled times waiting for a connection (ring) */
	size_t qhead, qcap;
	double *lat;        /* latencies in seconds */
	size_t nlat, caplat;
	uint64_t errors, sent, bytes;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct sockaddr_in addr;
static int ep;

static int open_conn(struct conn *c)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	/* EPOLLOUT only while a request is partly sent (want_out): an idle
	 * socket is always writable, and asking for it would make every
	 * epoll_wait return at once — a busy loop. */
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	c->busy = false;
	c->len = 0;
	return 0;
}

static void close_conn(struct conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->busy = false;
}

static void record(struct path_stats *p, double lat)
{
	if (p->nlat == p->caplat) {
		p->caplat = p->caplat ? p->caplat * 2 : 4096;
		p->lat = realloc(p->lat, p->caplat * sizeof *p->lat);
	}
	p->lat[p->nlat++] = lat;
}

static void want_out(struct conn *c, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c };
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void send_req(struct conn *c, struct path_stats *p, double sched)
{
	if (c->fd < 0 && open_conn(c) < 0) {
		p->errors++;
		return;
	}
	c->busy = true;
	c->sched = sched;
	c->sent = 0;
	c->reqlen = p->reqlen;
	c->len = 0;
	ssize_t w = send(c->fd, p->req, p->reqlen, MSG_NOSIGNAL);
	if (w > 0)
		c->sent = (size_t)w;
	else if (w < 0 && errno != EAGAIN) {
		p->errors++;
		close_conn(c);
		return;
	}
	if (c->sent < c->reqlen)
		want_out(c, true);
	p->sent++;
}

/* A complete response in c->buf? Returns its total length, 0 if not yet,
 * -1 if malformed. */
static long complete(struct conn *c, int *status)
{
	char *hdr_end = memmem(c->buf, c->len, "\r\n\r\n", 4);
	if (!hdr_end)
		return c->len > 65536 ? -1 : 0;
	*hdr_end = '\0';
	*status = 0;
	sscanf(c->buf, "HTTP/1.%*d %d", status);
	char *cl = strcasestr(c->buf, "\r\nContent-Length:");
	*hdr_end = '\r';
	if (!cl)
		return -1;
	long body = atol(cl + 17);
	long total = (hdr_end - c->buf) + 4 + body;
	return (long)c->len >= total ? total : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
	if (!n)
		return NAN;
	size_t i = (size_t)ceil(p / 100.0 * (double)n);
	return v[i ? i - 1 : 0];
}

/* --jitter SECONDS: how late a 1 ms sleep wakes up on this machine, the
 * floor under any latency measured here (a response needs at least one
 * wake-up of the server and one of this generator). */
static int jitter(double secs)
{
	size_t n = (size_t)(secs * 1000), m = 0;
	double *v = malloc(n * sizeof *v);
	if (!v)
		return 1;
	prctl(PR_SET_TIMERSLACK, 1000UL);
	double end = now() + secs;
	while (m < n && now() < end) {
		double t = now();
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
		v[m++] = now() - t - 0.001;
	}
	qsort(v, m, sizeof *v, cmp_double);
	printf("{\"sleep_1ms_late_ms\":{\"samples\":%zu,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
	       "\"p999\":%.3f,\"max\":%.3f}}\n", m, pct(v, m, 50) * 1e3, pct(v, m, 90) * 1e3,
	       pct(v, m, 99) * 1e3, pct(v, m, 99.9) * 1e3, m ? v[m - 1] * 1e3 : NAN);
	free(v);
	return 0;
}

/* The run: its parameters, the paths and their connections. */
static struct path_stats ps[MAX_PATHS];
static struct conn conns[MAX_CONNS];
static int np, cpp;                     /* paths; connections per path */
static double rate, start;              /* requests/s per path; when the schedule starts */
static uint64_t total_per_path;

/* At time t: queue every request whose time has come and hand queued
 * ones to idle connections. Returns true once every request is answered. */
static bool schedule(double t)
{
	bool all_done = true;
	for (int i = 0; i < np; i++) {
		struct path_stats *p = &ps[i];
		/* Schedule every request whose time has come. */
		while (p->next < total_per_path && start + p->next / rate <= t) {
			p->queue[(p->qhead + p->queued) % p->qcap] = start + p->next / rate;
			p->queued++;
			p->next++;
		}
		/* Hand queued requests to idle connections. */
		for (int k = 0; k < cpp && p->queued; k++) {
			struct conn *c = &conns[i * cpp + k];
			if (c->busy)
				continue;
			double sched = p->queue[p->qhead];
			p->qhead = (p->qhead + 1) % p->qcap;
			p->queued--;
			send_req(c, p, sched);
		}
		bool busy = false;
		for (int k = 0; k < cpp; k++)
			busy |= conns[i * cpp + k].busy;
		if (p->next < total_per_path || p->queued || busy)
			all_done = false;
	}
	return all_done;
}

/* One epoll event of connection c: an idle connection closed or drained;
 * the request's bytes sent; the response read, and recorded once whole. */
static void on_event(struct conn *c, uint32_t events)
{
	struct path_stats *p = &ps[c->path];
	if (!c->busy) {
		if (events & (EPOLLHUP | EPOLLERR))
			close_conn(c); /* idle connection closed by the server */
		else if (events & EPOLLIN) {
			char junk[256];
			if (recv(c->fd, junk, sizeof junk, 0) <= 0)
				close_conn(c);
		}
		return;
	}
	if ((events & EPOLLOUT) && c->sent < c->reqlen) {
		ssize_t w = send(c->fd, p->req + c->sent, c->reqlen - c->sent, MSG_NOSIGNAL);
		if (w > 0)
			c->sent += (size_t)w;
		if (c->sent == c->reqlen)
			want_out(c, false);
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		for (;;) {
			if (c->len + 65536 > c->cap)
				c->buf = realloc(c->buf, c->cap *= 2);
			ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
			if (r > 0) {
				c->len += (size_t)r;
				continue;
			}
			if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
				int st;
				if (complete(c, &st) <= 0) {
					p->errors++;
					close_conn(c);
				}
			}
			break;
		}
		if (c->fd < 0)
			return;
		int st;
		long tot = complete(c, &st);
		if (tot < 0) {
			p->errors++;
			close_conn(c);
		} else if (tot > 0) {
			record(p, now() - c->sched);
			p->bytes += (uint64_t)tot;
			if (st != 200)
				p->errors++;
			c->busy = false;
			c->len = 0;
		}
	}
}

/* The results as one JSON line on stdout. Returns 0, or 1 when a request
 * failed or went unanswered. */
static int report(double secs)
{
	double elapsed = now() - start;
	printf("{\"rate_per_path\":%.0f,\"seconds\":%.0f,\"connections_per_path\":%d,\"elapsed_seconds\":%.2f,"
	       "\"generator_cpu_seconds\":%.3f,\"paths\":[",
	       rate, secs, cpp, elapsed, bench_cpu_sec(BENCH_CPU_SELF));
	int rc = 0;
	for (int i = 0; i < np; i++) {
		struct path_stats *p = &ps[i];
		qsort(p->lat, p->nlat, sizeof *p->lat, cmp_double);
		uint64_t missing = total_per_path - p->nlat;
		printf("%s{\"path\":\"%s\",\"requests\":%llu,\"responses\":%zu,\"errors\":%llu,\"unanswered\":%llu,"
		       "\"mean_response_bytes\":%.0f,\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
		       "\"p999\":%.3f,\"max\":%.3f}}",
		       i ? "," : "", p->path, (unsigned long long)total_per_path, p->nlat,
		       (unsigned long long)p->errors, (unsigned long long)missing,
		       p->nlat ? (double)p->bytes / p->nlat : 0.0,
		       pct(p->lat, p->nlat, 50) * 1e3, pct(p->lat, p->nlat, 90) * 1e3,
		       pct(p->lat, p->nlat, 99) * 1e3, pct(p->lat, p->nlat, 99.9) * 1e3,
		       p->nlat ? p->lat[p->nlat - 1] * 1e3 : NAN);
		if (p->errors || missing)
			rc = 1;
	}
	printf("]}\n");
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--jitter") == 0)
		return jitter(atof(argv[2]));
	if (argc < 7) {
		fprintf(stderr, "usage: %s HOST PORT RATE_PER_PATH SECONDS CONNS_PER_PATH PATH...\n", argv[0]);
		return 2;
	}
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
		fprintf(stderr, "bad IPv4 address %s\n", argv[1]);
		return 2;
	}
	rate = atof(argv[3]);
	double secs = atof(argv[4]);
	cpp = atoi(argv[5]);
	np = argc - 6;
	if (np > MAX_PATHS || cpp < 1 || cpp * np > MAX_CONNS || rate <= 0 || secs <= 0) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	prctl(PR_SET_TIMERSLACK, 1000UL); /* wake within ~1 us of the schedule, not 50 */
	ep = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; i < np; i++) {
		ps[i].path = argv[6 + i];
		ps[i].reqlen = (size_t)snprintf(ps[i].req, sizeof ps[i].req,
			"GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ksmd-stats-load\r\n\r\n", argv[6 + i], argv[1]);
		ps[i].qcap = 1 << 20;
		ps[i].queue = malloc(ps[i].qcap * sizeof(double));
	}
	for (int i = 0; i < np * cpp; i++) {
		conns[i].path = i / cpp;
		conns[i].cap = 1 << 20;
		conns[i].buf = malloc(conns[i].cap);
		if (open_conn(&conns[i]) < 0) {
			fprintf(stderr, "cannot connect\n");
			return 1;
		}
	}
	start = now() + 0.05;
	double end = start + secs;
	total_per_path = (uint64_t)(rate * secs);
	for (;;) {
		double t = now();
		if (schedule(t) || t > end + 10)
			break;
		/* Sleep until the next scheduled request or an event. */
		double next_t = 1e18;
		for (int i = 0; i < np; i++)
			if (ps[i].next < total_per_path)
				next_t = fmin(next_t, start + ps[i].next / rate);
		/* A nanosecond timeout (epoll_pwait2): with epoll_wait's
		 * milliseconds the wait to a request less than 1 ms away rounds
		 * to 0 and the generator spins, burning a core the server and
		 * the scanner under test need. */
		double wait_s = next_t > 1e17 ? 0.01 : fmax(0, next_t - now());
		struct timespec to = { (time_t)wait_s, (long)((wait_s - floor(wait_s)) * 1e9) };
		struct epoll_event evs[MAX_CONNS];
		int n = epoll_pwait2(ep, evs, MAX_CONNS, &to, NULL);
		for (int e = 0; e < n; e++)
			on_event(evs[e].data.ptr, evs[e].events);
	}
	return report(secs);
}
