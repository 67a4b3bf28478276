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

/* The state file's path: "ksmd.state" in the control socket's folder. */
void state_path(const char *control_socket, char *buf, size_t len);
/* 0, -ENOENT (no file: a clean start), or -EBADMSG (unreadable). */
int state_load(const char *path, struct daemon_state *st);
/* Write atomically. 0 or negative errno. */
int state_save(const char *path, const struct daemon_state *st);
void state_free(struct daemon_state *st);

#endif
