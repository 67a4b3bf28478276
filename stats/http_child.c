/* http_child.c — the stats endpoint's process without privileges.
 *
 * The HTTP server parses what any local user sends, so it does not run in
 * the root daemon that reads guest memory: daemon/http_sep.c binds the
 * socket as root, then starts this process (the daemon's own binary,
 * argv[1] SEP_CHILD_ARG) with the listening socket on SEP_LISTEN_FD and
 * its end of a socketpair on SEP_SOCK_FD. Here, before the first byte from
 * a client is read:
 *   1. every other descriptor is closed; the name is SEP_CHILD_NAME;
 *      the root becomes the chart library's folder (stats_page_chroot:
 *      public files only; the time zone is read before, for the log);
 *   2. the capability bounding set is emptied (needs CAP_SETPCAP, which
 *      the daemon holds), supplementary groups cleared, and uid and gid
 *      become the ones on the command line: stats.user's, which the
 *      daemon resolved (by default the `ksmd` system user, or `nobody`
 *      where there is none; conf/keys.c config_stats_user), so this
 *      process reads no user database; setresuid to a user that is not
 *      root clears the permitted and effective sets, and capset() clears
 *      what could be left;
 *   3. no_new_privs, and the parent's death kills this process;
 *   4. a seccomp filter (libseccomp) allows what libmicrohttpd's threads,
 *      liburcu, jansson and the message loop below use, and kills the
 *      process on anything else (SIGSYS).
 * Any step that fails ends the process (exit 70 + step): it never serves
 * with privileges. Then it serves as the daemon used to (stats/http.c):
 * the daemon sends each snapshot (sep_wire.h), which is rendered here
 * (stats_publish: the bodies, the history), and is answered with the
 * request counters. EOF on the socketpair (the daemon stopped) ends it
 * with _exit (no exit handlers: nothing to clean up, and a sanitizer's
 * leak check would need ptrace). */
#include "stats/page.h"
#include "stats/sep_wire.h"
#include "stats/stats.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <linux/capability.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum child_exit { EXIT_FDS = 71, EXIT_DROP, EXIT_SECCOMP, EXIT_SERVE, EXIT_PROTOCOL, EXIT_CHROOT };

/* "UID:GID", both above 0: 0, else -EINVAL. */
static int parse_ids(const char *s, uid_t *uid, gid_t *gid)
{
	char *end;
	errno = 0;
	unsigned long u = strtoul(s, &end, 10);
	if (errno || end == s || *end != ':' || !u || u >= (uid_t)-1)
		return -EINVAL;
	const char *g = end + 1;
	unsigned long v = strtoul(g, &end, 10);
	if (errno || end == g || *end || !v || v >= (gid_t)-1)
		return -EINVAL;
	*uid = (uid_t)u;
	*gid = (gid_t)v;
	return 0;
}

/* Step 2: no capability, no group, an unprivileged uid and gid. */
static int drop_privileges(uid_t uid, gid_t gid)
{
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			log_err("stats http: cannot drop capability %d from the bounding set: %s "
				"(ksmd needs CAP_SETPCAP)", cap, strerror(errno));
			return -errno;
		}
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
		log_err("stats http: cannot become uid %u gid %u: %s (ksmd needs CAP_SETUID and "
			"CAP_SETGID)", (unsigned)uid, (unsigned)gid, strerror(errno));
		return -errno;
	}
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { { 0 } };
	if (syscall(SYS_capset, &h, d) < 0) {
		log_err("stats http: capset: %s", strerror(errno));
		return -errno;
	}
	if (setresuid(0, 0, 0) == 0 || geteuid() == 0) {
		log_err("stats http: could become root again; not serving");
		return -EPERM;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
		log_err("stats http: prctl: %s", strerror(errno));
		return -errno;
	}
	if (getppid() == 1) /* the daemon died before PDEATHSIG was set */
		return -ESRCH;
	return 0;
}

/* Step 4: the system calls the server may make. */
static int install_seccomp(void)
{
	static const int allowed[] = {
		/* memory, threads, time */
		SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap),
		SCMP_SYS(mprotect), SCMP_SYS(madvise), SCMP_SYS(futex), SCMP_SYS(membarrier),
		SCMP_SYS(clone), SCMP_SYS(clone3), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
		SCMP_SYS(sched_yield), SCMP_SYS(sched_getaffinity), SCMP_SYS(getpid),
		SCMP_SYS(gettid), SCMP_SYS(getuid), SCMP_SYS(getgid), SCMP_SYS(getrandom),
		SCMP_SYS(clock_gettime),
		SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep), SCMP_SYS(rt_sigprocmask),
		SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigreturn), SCMP_SYS(sigaltstack),
		SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(restart_syscall),
		SCMP_SYS(sysinfo), /* glibc's qsort asks the memory size */ SCMP_SYS(uname),
		/* descriptors: the messages, libmicrohttpd's epoll and its
		 * inter-thread channel, the chart library's file */
		SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(writev), SCMP_SYS(pread64),
		SCMP_SYS(close), SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(lseek),
		SCMP_SYS(fcntl), SCMP_SYS(dup), SCMP_SYS(eventfd2), SCMP_SYS(pipe2),
		SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait),
		SCMP_SYS(epoll_pwait), SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(select),
		SCMP_SYS(pselect6), SCMP_SYS(sendfile),
		/* sockets: accepted connections only, never a new one */
		SCMP_SYS(accept4), SCMP_SYS(accept), SCMP_SYS(recvfrom), SCMP_SYS(recvmsg),
		SCMP_SYS(sendto), SCMP_SYS(sendmsg), SCMP_SYS(shutdown), SCMP_SYS(setsockopt),
		SCMP_SYS(getsockopt), SCMP_SYS(getsockname), SCMP_SYS(getpeername),
	};
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return -ENOMEM;
	int r = 0;
	for (size_t i = 0; i < sizeof allowed / sizeof allowed[0] && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
	/* files: read only (the chart library, /usr/share/javascript) */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY));
	/* libmicrohttpd names its threads */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				     SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		log_err("stats http: cannot install the seccomp filter: %s", strerror(-r));
	return r;
}

/* A memfd of len bytes, sent with h: mapped, handed to fn, unmapped. */
static int with_memfd(int fd, const struct sep_hdr *h, size_t max,
		      int (*fn)(const void *p, size_t len))
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || h->len > max ||
	    (uint64_t)st.st_size < h->len)
		return -EINVAL;
	if (h->len == 0)
		return fn("", 0);
	void *p = mmap(NULL, h->len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	int r = fn(p, h->len);
	munmap(p, h->len);
	return r;
}

static int take_snapshot(const void *p, size_t len)
{
	json_error_t err;
	json_t *snap = json_loadb(p, len, 0, &err);
	if (!snap) {
		log_warn("stats http: a snapshot that is not JSON (%s), ignoring", err.text);
		return -EINVAL;
	}
	return stats_publish(snap);
}

static int take_history(const void *p, size_t len)
{
	if (len % sizeof(struct stats_history_point))
		return -EINVAL;
	struct stats_history_point pts[STATS_HISTORY_MAX];
	size_t n = len / sizeof pts[0];
	if (n > STATS_HISTORY_MAX)
		return -EINVAL;
	memcpy(pts, p, len);
	return stats_history_import(pts, n);
}

/* The message loop: until EOF. Returns an exit code. */
static int serve_messages(int sock)
{
	bool published = false;
	for (;;) {
		struct sep_hdr h;
		union {
			char buf[CMSG_SPACE(sizeof(int) * 4)];
			struct cmsghdr align;
		} u;
		struct iovec iov = { .iov_base = &h, .iov_len = sizeof h };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
				     .msg_controllen = sizeof u.buf };
		ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return 0; /* the daemon closed its end */
		if (n < 0) {
			log_err("stats http: reading from the daemon: %s", strerror(errno));
			return EXIT_PROTOCOL;
		}
		int fd = -1, extra = 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int f;
				memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
				if (fd < 0)
					fd = f;
				else {
					close(f);
					extra++;
				}
			}
		}
		bool ok = (size_t)n == sizeof h && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
			  !extra && fd >= 0;
		int r = -EINVAL;
		if (ok && h.type == SEP_HISTORY && !published)
			r = with_memfd(fd, &h, sizeof(struct stats_history_point) * STATS_HISTORY_MAX,
				       take_history);
		else if (ok && h.type == SEP_SNAPSHOT)
			r = with_memfd(fd, &h, SEP_SNAPSHOT_MAX_BYTES, take_snapshot);
		if (fd >= 0)
			close(fd);
		if (!ok || (h.type != SEP_SNAPSHOT && h.type != SEP_HISTORY)) {
			log_err("stats http: a message from the daemon out of protocol");
			return EXIT_PROTOCOL;
		}
		if (r < 0)
			log_warn("stats http: message %u (seq %llu): %s, ignoring", h.type,
				 (unsigned long long)h.seq, strerror(-r));
		if (h.type != SEP_SNAPSHOT)
			continue;
		published = true;
		struct sep_counters c = { .h = { .type = SEP_COUNTERS, .seq = h.seq } };
		stats_http_counters_get(c.count);
		/* blocking: the daemon reads every answer, or closes */
		ssize_t w;
		do
			w = send(sock, &c, sizeof c, MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
		if (w != (ssize_t)sizeof c)
			return w < 0 && errno == EPIPE ? 0 : EXIT_PROTOCOL;
	}
}

_Noreturn int stats_http_child_main(int argc, char **argv)
{
	prctl(PR_SET_NAME, SEP_CHILD_NAME, 0, 0, 0);
	log_open(LOG_TO_STDERR, argc > 2 ? atoi(argv[2]) : LOG_INFO);
	uid_t uid;
	gid_t gid;
	if (argc != 4 || parse_ids(argv[3], &uid, &gid) < 0) {
		log_err("stats http: started without the user to become (%s LEVEL UID:GID, uid and "
			"gid not 0)", SEP_CHILD_ARG);
		_exit(EXIT_DROP);
	}
	struct stat st;
	if (fstat(SEP_LISTEN_FD, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    fstat(SEP_SOCK_FD, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		log_err("stats http: started without its sockets (this is ksmd's own process)");
		_exit(EXIT_FDS);
	}
	/* 0-2 stay (the log), the two sockets, nothing else */
	if (syscall(SYS_close_range, SEP_SOCK_FD + 1, ~0u, 0) < 0) {
		for (int fd = SEP_SOCK_FD + 1; fd < 1024; fd++)
			close(fd);
	}
	fcntl(SEP_LISTEN_FD, F_SETFD, FD_CLOEXEC);
	fcntl(SEP_SOCK_FD, F_SETFD, FD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);
	json_object_seed(0); /* jansson's hash seed, before getrandom's file fallback is gone */
	tzset();             /* /etc/localtime, for the log's time, before it is out of reach */
	char root[256];
	int r = stats_page_chroot(root, sizeof root);
	if (r < 0) {
		log_err("stats http: cannot change its root to the chart library's folder: %s "
			"(ksmd needs CAP_SYS_CHROOT)", strerror(-r));
		_exit(EXIT_CHROOT);
	}
	if (drop_privileges(uid, gid) < 0)
		_exit(EXIT_DROP);
	if (install_seccomp() < 0)
		_exit(EXIT_SECCOMP);
	struct stats_server *srv;
	if (stats_server_serve(SEP_LISTEN_FD, &srv) < 0)
		_exit(EXIT_SERVE);
	log_debug("stats http: serving as uid %u, pid %d, root %s", (unsigned)getuid(), (int)getpid(),
		  root);
	_exit(serve_messages(SEP_SOCK_FD));
}
