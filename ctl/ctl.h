/* ctl.h — what ksmd and ksmdctl share: the control protocol and its verbs.
 *
 * The protocol: a UNIX stream socket; each request is one line of JSON
 *   {"cmd": "set", "args": ["scanner.pages_per_sec", "2000"]}
 * and each answer one line of JSON
 *   {"ok": true, "result": ...}   or   {"ok": false, "error": "message"}.
 * A client may send several requests on one connection. Requests longer than
 * CONTROL_MAX_LINE bytes are refused and the connection closed.
 *
 * The verbs: one table (ctl_verbs[], verbs.c) with each verb's arguments,
 * usage and help. The daemon serves the verbs it answers
 * (daemon/commands.c refuses a verb outside the table, checks the argument
 * count from it, and holds a handler for each CTL_DAEMON verb, indexed by
 * its id: a unit test checks both ways); ksmdctl parses, dispatches by id
 * and prints its --help from it.
 *
 * ksmdctl links this folder, cli/ and common/util.c only: never the
 * daemon's loop, scanner, policy or KSM executor. */
#ifndef KSMD_CTL_H
#define KSMD_CTL_H

#include <jansson.h>
#include <stdio.h>

#include "common/util.h"

#define CONTROL_MAX_LINE (64 * 1024)

enum ctl_where {
	CTL_DAEMON,   /* a request the daemon answers */
	CTL_CLIENT,   /* ksmdctl alone (top, run): the daemon never sees it */
};

/* Each verb's place in ctl_verbs[]: the daemon's handlers and ksmdctl's
 * renderers are indexed by it, so a verb's name is written once. */
enum ctl_verb_id {
	CTL_STATUS, CTL_GUESTS, CTL_GUEST, CTL_KSM, CTL_DECISIONS, CTL_TOP, CTL_GET, CTL_SET,
	CTL_CONFIG, CTL_PAUSE, CTL_RESUME, CTL_BALLOON, CTL_RELOAD, CTL_RUN,
	CTL_N_VERBS
};

struct ctl_verb {
	enum ctl_verb_id id;     /* its index in ctl_verbs[] */
	const char *name;
	int min_args, max_args;  /* max -1: any */
	enum ctl_where where;
	bool view;               /* ksmdctl renders a part of the status snapshot */
	const char *usage;       /* "balloon GUEST SIZE|auto" */
	const char *help;
};

extern const struct ctl_verb ctl_verbs[CTL_N_VERBS];
extern const size_t ctl_n_verbs;
/* The verb named name, NULL when there is none. */
const struct ctl_verb *ctl_verb_find(const char *name);
/* The "Commands:" lines of ksmdctl --help. */
void ctl_print_verbs(FILE *f);

/* Build answers. */
json_t *control_ok(json_t *result);   /* steals result (may be NULL) */
json_t *control_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Client side: one request, one answer. Returns 0 with *answer set, or
 * a negative errno (-ETIMEDOUT, -ECONNREFUSED, -EBADMSG, ...). */
int control_call(const char *path, const char *cmd, json_t *args, usec_t timeout_usec,
		 json_t **answer);

/* `ksmdctl run`: exec argv with its memory mergeable by KSM
 * (PR_SET_MEMORY_MERGE, inherited by its children). Returns only on
 * failure, a negative errno. */
int ctl_exec_mergeable(char *const argv[]);

#endif
