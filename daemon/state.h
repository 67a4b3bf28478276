/* state.h — ksmd's crash-surviving state file (see state.c). */
#ifndef KSMD_STATE_H
#define KSMD_STATE_H

#include <jansson.h>
#include <stdbool.h>

#include "act/ksm.h"

struct daemon_state {
	bool ksm_saved_valid;
	struct ksm_settings ksm_saved;  /* KSM as the first ksmd found it */
	json_t *overrides;              /* guest name -> balloon size in bytes */
};

/* The state file's path: beside the control socket, named after it with
 * ".sock" replaced by ".state" (/run/ksmd/ksmd.sock: /run/ksmd/ksmd.state;
 * a socket not ending in ".sock" gets ".state" appended). */
void state_path(const char *control_socket, char *buf, size_t len);
/* Before ksmd creates anything beside its control socket: the socket's
 * folder (created 0755 when missing) and every folder above it must be
 * private to root (dir_check_private), and the lock file (SOCKET.lock) is
 * created here, mode 0600, refused when it is a symbolic link or not a
 * regular file of its own. 0, or a negative errno with why naming the
 * path and what is wrong. */
int state_dir_check(const char *control_socket, char *why, size_t len);
/* 0, -ENOENT (no file: a clean start), -EBADMSG (unreadable JSON), -ELOOP
 * (a symbolic link: not followed), -EINVAL (not a regular file) or another
 * negative errno. */
int state_load(const char *path, struct daemon_state *st);
/* The same from the file's bytes (pure; tests/fuzz/fuzz_state.c): 0 or
 * -EBADMSG. */
int state_parse(const char *text, size_t len, struct daemon_state *st);
/* Write atomically, mode 0600: a temporary beside path, created anew
 * (O_EXCL|O_NOFOLLOW), renamed over path. 0 or negative errno. */
int state_save(const char *path, const struct daemon_state *st);
void state_free(struct daemon_state *st);

#endif
