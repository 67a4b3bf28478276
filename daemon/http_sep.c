/* http_sep.c — the daemon's side of the unprivileged stats endpoint
 * (http_sep.h; the protocol is stats/sep_wire.h, the child
 * stats/http_child.c).
 *
 * The child is the daemon's own binary, started with fork and exec (not a
 * bare fork: the daemon has threads, and a child of a threaded process may
 * call nothing but async-signal-safe functions until it execs), so it
 * starts clean and single-threaded, drops its privileges first thing, and
 * gets the hour of history and the current snapshot by message. Between
 * fork and exec the child only moves its two sockets to 3 and 4 and
 * unblocks the signals the daemon takes by signalfd.
 *
 * The child is hostile from the daemon's side: a packet is read into a
 * buffer of the one size allowed (a bigger one is cut and refused), never
 * with a descriptor, and anything out of protocol kills the child. */
#include "daemon/http_sep.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "conf/config.h"
#include "stats/sep_wire.h"
#include "stats/sbuf.h"

#define SEP_RESTART_MIN_USEC (1 * USEC_PER_SEC)     /* first restart after a death */
#define SEP_RESTART_MAX_USEC (60 * USEC_PER_SEC)    /* the backoff's ceiling */
#define SEP_HEALTHY_USEC     (60 * USEC_PER_SEC)    /* alive this long: backoff starts over */
#define SEP_ANSWER_USEC      (30 * USEC_PER_SEC)    /* a snapshot unanswered this long: hung */
#define SEP_SUPERVISE_USEC   (1 * USEC_PER_SEC)     /* the timer's period */

struct http_sep {
	struct loop *loop;
	struct stats_listener lis;
	int timer_fd;
	int sock;                 /* our end of the socketpair, -1: no child */
	pid_t pid;                /* the child, 0: none */
	pid_t last_pid;           /* the last child started */
	usec_t started_usec;      /* when the child was started */
	usec_t restart_usec;      /* when to start one again (no child) */
	usec_t backoff_usec;      /* the wait after the next death */
	uint64_t seq;             /* snapshots sent */
	bool waiting;             /* the last one sent is not answered yet */
	usec_t sent_usec;         /* when it was sent */
	json_t *pending;          /* the newest snapshot not sent yet */
	bool down_logged;         /* "cannot start" said once per outage */
	unsigned losses;          /* children lost so far */
	usec_t down_usec;         /* since when no child serves, 0: one does */
	char user_conf[CONF_STR_MAX]; /* stats.user as configured */
	char user[64];            /* as resolved for the last start */
	uid_t uid;
	gid_t gid;
	uint64_t base[STATS_HTTP_COUNTS_MAX]; /* the counters of dead children */
	uint64_t last[STATS_HTTP_COUNTS_MAX]; /* the running child's, as last told */
};

unsigned http_sep_losses(const struct http_sep *s)
{
	return s ? s->losses : 0;
}

void http_sep_status(const struct http_sep *s, usec_t now, struct http_sep_status *st)
{
	memset(st, 0, sizeof *st);
	if (!s)
		return;
	st->serving = s->pid > 0;
	st->pid = s->last_pid;
	st->losses = s->losses;
	st->down_seconds = s->pid > 0 || now < s->down_usec ? 0 : (double)(now - s->down_usec) / 1e6;
	snprintf(st->user, sizeof st->user, "%s", s->user);
	st->uid = s->uid;
	st->gid = s->gid;
}

uint16_t http_sep_port(const struct http_sep *s)
{
	return s ? s->lis.port : 0;
}

/* A memfd holding len bytes of p; -errno. */
static int memfd_of(const char *name, const void *p, size_t len)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, (const char *)p + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? -errno : -EIO;
			close(fd);
			return e;
		}
		off += (size_t)n;
	}
	return fd;
}

static int send_memfd(struct http_sep *s, uint32_t type, const void *p, size_t len)
{
	if (len > SEP_SNAPSHOT_MAX_BYTES)
		return -EFBIG;
	int fd = memfd_of(type == SEP_SNAPSHOT ? "ksmd-snapshot" : "ksmd-history", p, len);
	if (fd < 0)
		return fd;
	struct sep_hdr h = { .type = type, .len = (uint32_t)len, .seq = s->seq };
	int r = sep_send(s->sock, &h, sizeof h, fd);
	close(fd);
	return r;
}

static int sbuf_cb(const char *buf, size_t size, void *data)
{
	struct sbuf *sb = data;
	sbuf_add(sb, buf, size);
	return sb->failed ? -1 : 0;
}

static void child_lost(struct http_sep *s, const char *why);

/* Send the pending snapshot if the child is ready for one. */
static void flush(struct http_sep *s)
{
	if (s->sock < 0 || s->waiting || !s->pending)
		return;
	json_t *snap = s->pending;
	s->pending = NULL;
	struct sbuf sb = { 0 };
	int r = json_dump_callback(snap, sbuf_cb, &sb, JSON_COMPACT) < 0 ? -ENOMEM : 0;
	json_decref(snap);
	s->seq++;
	if (r == 0)
		r = send_memfd(s, SEP_SNAPSHOT, sb.s, sb.len);
	free(sb.s);
	if (r == -EAGAIN || r == -ENOMEM || r == -EMFILE || r == -EFBIG) {
		log_warn("stats: cannot hand the snapshot to the HTTP process: %s, ignoring",
			 strerror(-r));
		return;
	}
	if (r < 0) {
		child_lost(s, strerror(-r));
		return;
	}
	s->waiting = true;
	s->sent_usec = now_usec();
}

void http_sep_publish(struct http_sep *s, json_t *snap)
{
	if (!s || !snap)
		return;
	json_decref(s->pending);
	s->pending = json_incref(snap);
	flush(s);
}

/* The child's answer: exactly one sep_counters, counters that only grow. */
static int take_counters(struct http_sep *s)
{
	struct sep_counters c;
	struct iovec iov = { .iov_base = &c, .iov_len = sizeof c };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 }; /* no control: descriptors are dropped */
	ssize_t n = recvmsg(s->sock, &mh, MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n == 0 || (n < 0 && errno == ECONNRESET))
		return -EPIPE;
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof c || c.h.type != SEP_COUNTERS || c.h.len != 0 ||
	    !s->waiting || c.h.seq != s->seq)
		return -EPROTO;
	for (size_t i = 0; i < STATS_HTTP_COUNTS_MAX; i++)
		if (c.count[i] < s->last[i] || c.count[i] - s->last[i] > SEP_COUNT_STEP_MAX)
			return -EPROTO;
	uint64_t sum[STATS_HTTP_COUNTS_MAX];
	for (size_t i = 0; i < STATS_HTTP_COUNTS_MAX; i++) {
		s->last[i] = c.count[i];
		sum[i] = s->base[i] + s->last[i];
	}
	stats_http_counters_set(sum);
	s->waiting = false;
	return 1;
}

static void on_sock(struct loop *l, int fd, uint32_t events, void *data)
{
	struct http_sep *s = data;
	(void)l;
	(void)fd;
	int r = 0;
	/* a few answers at most: one per snapshot sent */
	for (int i = 0; i < 4 && (r = take_counters(s)) > 0; i++)
		;
	if (r < 0) {
		child_lost(s, r == -EPIPE ? "died" : r == -EPROTO ? "broke the protocol" : strerror(-r));
		return;
	}
	if (events & (EPOLLHUP | EPOLLERR)) {
		child_lost(s, "died");
		return;
	}
	flush(s);
}

/* Fork and exec the child. Between fork and exec only async-signal-safe
 * calls. */
static int spawn(struct http_sep *s)
{
	char err[200], ids[48];
	int r = config_stats_user(s->user_conf, &s->uid, &s->gid, s->user, sizeof s->user, err,
				  sizeof err);
	if (r < 0) {
		if (!s->down_logged) /* once per outage, as on_timer's own message */
			log_err("stats: %s; the HTTP process is not started", err);
		return r;
	}
	snprintf(ids, sizeof ids, "%u:%u", (unsigned)s->uid, (unsigned)s->gid);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	char level[16];
	snprintf(level, sizeof level, "%d", log_get_level());
	char *argv[] = { (char *)"ksmd", (char *)SEP_CHILD_ARG, level, ids, NULL };
	pid_t pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(sv[0]);
		close(sv[1]);
		return e;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		int a = fcntl(s->lis.fd, F_DUPFD, 10), b = fcntl(sv[1], F_DUPFD, 10);
		if (a < 0 || b < 0 || dup2(a, SEP_LISTEN_FD) < 0 || dup2(b, SEP_SOCK_FD) < 0)
			_exit(127);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(sv[1]);
	r = loop_add(s->loop, sv[0], EPOLLIN, on_sock, s);
	if (r < 0) {
		close(sv[0]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return r;
	}
	s->sock = sv[0];
	s->pid = s->last_pid = pid;
	s->started_usec = now_usec();
	s->down_usec = 0;
	s->waiting = false;
	memset(s->last, 0, sizeof s->last);
	/* the hour of history first, then the current snapshot */
	struct stats_history_point pts[STATS_HISTORY_MAX];
	size_t n = stats_history_export(pts, STATS_HISTORY_MAX);
	r = send_memfd(s, SEP_HISTORY, pts, n * sizeof pts[0]);
	if (r < 0)
		log_warn("stats: cannot hand the history to the HTTP process: %s, ignoring", strerror(-r));
	json_t *cur = stats_current();
	if (cur && !s->pending)
		s->pending = cur;
	else
		json_decref(cur);
	flush(s);
	return 0;
}

static void describe_status(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "status 0x%x", st);
}

/* Kill and reap the child; 0 or its wait status in *st. */
static void reap(struct http_sep *s, int *st)
{
	*st = 0;
	if (s->sock >= 0) {
		loop_del(s->loop, s->sock);
		close(s->sock);
		s->sock = -1;
	}
	if (s->pid > 0) {
		kill(s->pid, SIGKILL); /* gone already, or hung: either way */
		while (waitpid(s->pid, st, 0) < 0 && errno == EINTR)
			;
	}
	s->pid = 0;
	s->waiting = false;
	for (size_t i = 0; i < STATS_HTTP_COUNTS_MAX; i++) {
		s->base[i] += s->last[i];
		s->last[i] = 0;
	}
}

/* The child is gone or must go: reap it, say so once, plan the restart. */
static void child_lost(struct http_sep *s, const char *why)
{
	pid_t pid = s->pid;
	usec_t now = now_usec();
	int st;
	reap(s, &st);
	s->losses++;
	s->down_usec = now;
	if (now - s->started_usec >= SEP_HEALTHY_USEC)
		s->backoff_usec = SEP_RESTART_MIN_USEC;
	char how[96];
	describe_status(st, how, sizeof how);
	log_warn("stats: the HTTP process (pid %d) %s (%s); the endpoint is down, restarting it in %llu s",
		 (int)pid, why, how, (unsigned long long)(s->backoff_usec / USEC_PER_SEC));
	s->restart_usec = now + s->backoff_usec;
	s->backoff_usec = s->backoff_usec * 2 > SEP_RESTART_MAX_USEC ? SEP_RESTART_MAX_USEC
								     : s->backoff_usec * 2;
}

static void on_timer(struct loop *l, int fd, uint32_t events, void *data)
{
	(void)l, (void)events;
	if (!loop_timer_fired(fd))
		return;
	struct http_sep *s = data;
	usec_t now = now_usec();
	if (s->pid > 0) {
		if (s->waiting && now - s->sent_usec > SEP_ANSWER_USEC)
			child_lost(s, "stopped answering");
		return;
	}
	if (now < s->restart_usec)
		return;
	int r = spawn(s);
	if (r < 0) {
		if (!s->down_logged)
			log_err("stats: cannot start the HTTP process: %s; the endpoint is down, "
				"retrying", strerror(-r));
		s->down_logged = true;
		s->restart_usec = now + s->backoff_usec;
		s->backoff_usec = s->backoff_usec * 2 > SEP_RESTART_MAX_USEC ? SEP_RESTART_MAX_USEC
									     : s->backoff_usec * 2;
		return;
	}
	s->down_logged = false;
	log_info("stats: the HTTP process started again (pid %d)", (int)s->pid);
}

int http_sep_start(struct loop *l, const char *listen, const char *user, struct http_sep **out)
{
	struct http_sep *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	snprintf(s->user_conf, sizeof s->user_conf, "%s", user ? user : "");
	s->loop = l;
	s->sock = -1;
	s->timer_fd = -1;
	s->backoff_usec = SEP_RESTART_MIN_USEC;
	int r = stats_listener_open(listen, &s->lis);
	if (r < 0) {
		free(s);
		return r;
	}
	stats_publish_bodies(false); /* the child renders them */
	s->timer_fd = loop_add_timer(l, SEP_SUPERVISE_USEC, on_timer, s);
	if (s->timer_fd < 0) {
		r = s->timer_fd;
		http_sep_stop(s);
		return r;
	}
	r = spawn(s);
	if (r < 0) {
		log_err("stats: cannot start the HTTP process: %s", strerror(-r));
		http_sep_stop(s);
		return r;
	}
	if (s->lis.port)
		log_info("stats: serving on %s (port %u) from pid %d as %s", listen, s->lis.port,
			 (int)s->pid, s->user);
	else
		log_info("stats: serving on %s from pid %d as %s", listen, (int)s->pid, s->user);
	*out = s;
	return 0;
}

void http_sep_stop(struct http_sep *s)
{
	if (!s)
		return;
	int st;
	reap(s, &st);
	if (s->timer_fd >= 0) {
		loop_del(s->loop, s->timer_fd);
		close(s->timer_fd);
	}
	json_decref(s->pending);
	stats_listener_close(&s->lis);
	stats_publish_bodies(true);
	free(s);
}
