/* sep_wire.h — the messages between the daemon and its HTTP process.
 *
 * The daemon (root) binds the endpoint's socket and runs the HTTP server
 * in a process of its own without privileges (stats/http_child.c, started
 * and supervised by daemon/http_sep.c). They talk over a SOCK_SEQPACKET
 * socketpair, one message per packet, never more than these three:
 *
 *   daemon -> child  SEP_SNAPSHOT  a header, and one memfd (SCM_RIGHTS) of
 *                                  len bytes: the snapshot, compact JSON
 *                    SEP_HISTORY   a header, and one memfd of len bytes:
 *                                  the hour of history, len / sizeof
 *                                  (struct stats_history_point) points;
 *                                  sent once, before the first snapshot
 *   child -> daemon  SEP_COUNTERS  a header (seq: the snapshot taken) and
 *                                  the request counters (sep_counters);
 *                                  the answer to every snapshot
 *
 * Each side checks every packet: its size exactly, its type, the
 * descriptors it carries (one memfd, or none), and len against the memfd's
 * size and SEP_SNAPSHOT_MAX_BYTES. The daemon trusts nothing the child
 * says: it never reads a descriptor from it, a packet of another size or
 * type ends the child, and the counters must only grow, by a sane amount.
 * A snapshot travels in a memfd so that a packet stays small whatever the
 * number of guests, and the daemon never blocks on a child that does not
 * read: it sends the next snapshot only once the last one was answered. */
#ifndef KSMD_STATS_SEP_WIRE_H
#define KSMD_STATS_SEP_WIRE_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "stats/stats.h"

#define SEP_LISTEN_FD 3                      /* the child's listening socket */
#define SEP_SOCK_FD 4                        /* the child's end of the socketpair */
#define SEP_CHILD_ARG "--http-child"         /* argv[1] of the child */
#define SEP_CHILD_NAME "ksmd-http"           /* its name (comm) */
#define SEP_SNAPSHOT_MAX_BYTES (64u << 20)   /* a snapshot's JSON, at most */
#define SEP_COUNT_STEP_MAX (UINT64_C(1) << 40) /* one counter's growth per answer, at most */

enum sep_type { SEP_SNAPSHOT = 1, SEP_HISTORY = 2, SEP_COUNTERS = 3 };

struct sep_hdr {
	uint32_t type; /* enum sep_type */
	uint32_t len;  /* bytes in the memfd (SNAPSHOT, HISTORY), 0 for COUNTERS */
	uint64_t seq;  /* the snapshot's number; COUNTERS: the one answered */
};

struct sep_counters {
	struct sep_hdr h;
	uint64_t count[STATS_HTTP_COUNTS_MAX]; /* stats_http_counters_get() */
};

/* Send h with fd attached (fd < 0: none). Returns 0 or -errno (-EAGAIN:
 * the peer is not reading). */
static inline int sep_send(int sock, const void *msg, size_t len, int fd)
{
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		memset(&u, 0, sizeof u);
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof u.buf;
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	ssize_t n;
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

#endif
