/* hint.h — what ksmdctl says when it cannot reach ksmd: what is wrong,
 * and the fix (start ksmd, another socket, root or a group). */
#ifndef KSMD_CLI_HINT_H
#define KSMD_CLI_HINT_H

#include <stdio.h>

/* Where the socket path came from, for the message. */
enum hint_source {
	HINT_DEFAULT,   /* the built-in default */
	HINT_OPTION,    /* -s / --socket */
	HINT_ENV,       /* $KSMD_SOCKET */
};

/* Explain on f why the control socket at path could not be reached (r: the
 * negative errno of control_call) and what to do: the first line names the
 * path and the error, the next ones the fix. Reads /proc, /proc/net/unix
 * and the socket's owner; changes nothing. */
void hint_unreachable(FILE *f, const char *path, enum hint_source src, int r);

/* The ksmd processes running (not the kernel's KSM thread, also named
 * ksmd): up to n pids in pids; returns how many were found (may be > n). */
size_t hint_find_ksmd(int *pids, size_t n);

/* The control socket a ksmd process listens on (a listening UNIX socket of
 * pid with its PATH.lock beside it), written to buf: 0, or a negative errno
 * (-EACCES: its fds are not ours to read; -ENOENT: none found). */
int hint_ksmd_socket(int pid, char *buf, size_t len);

#endif
