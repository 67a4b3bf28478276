/* internal.h — what the balloon backends share; not for other modules. */
#ifndef KSMD_BALLOON_INTERNAL_H
#define KSMD_BALLOON_INTERNAL_H

#include <jansson.h>

#include "balloon/balloon.h"
#include "balloon/qmp.h"

#define BALLOON_CG_FILES 2          /* v1 hard mode: the soft limit and the limit */

struct balloon {
	char *name;
	enum balloon_backend backend;
	struct balloon_config cfg;
	balloon_event_fn cb;
	void *userdata;

	enum balloon_state state;
	char reason[160];
	uint32_t caps;
	pid_t pid;
	struct balloon_limits limits;
	bool max_known;              /* limits.max_bytes is real */
	uint64_t target_bytes;       /* last requested, 0 = none */
	uint64_t targets_sent;       /* targets sent (or queued) to the backend */
	uint64_t actual_bytes;       /* 0 = unknown */
	usec_t actual_usec;
	struct balloon_stats stats;
	struct balloon_progress progress;
	usec_t next_refresh_usec;    /* periodic refresh of actual and stats */

	/* QMP backend */
	struct qmp_client *qmp;
	char qom_path[128];          /* balloon device, "" until found */
	unsigned refresh_inflight;   /* query-balloon / guest-stats outstanding */
	bool stats_supported;        /* guest-stats readable on qom_path */
	bool stale_logged;

	/* QMP shared mode (cfg.qmp_shared): a connection per operation */
	bool sh_open;                /* a connection of ours is open (an operation) */
	bool sh_closing;             /* we are closing it: not a failure */
	bool sh_closed_now;          /* one was closed in the current call: the
	                              * next opens at the next call (the loop
	                              * must see fd -1 in between) */
	bool sh_learned;             /* setup facts known for the QEMU at pid */
	bool sh_setup_op;            /* the open operation runs the setup */
	bool sh_want_refresh;        /* query-balloon + guest-stats to send */
	bool sh_want_target;         /* `balloon` sh_target_bytes to send */
	uint64_t sh_target_bytes;
	usec_t sh_deadline_usec;     /* the open operation ends by then */
	unsigned sh_depth;           /* nesting of calls that drive the client */

	/* libvirt backend (libvirt.c) */
	struct lv_conn *lv;          /* NULL once the connection is freed */
	void *lv_dom;                /* virDomainPtr, NULL while not attached */
	struct balloon *lv_next;     /* the connection's list of balloons */
	uint64_t lv_prev_actual;     /* size at the last outside change (or
	                              * the first seen): its baseline */
	uint64_t lv_best_gap;        /* smallest |actual - target| since ksmd's
	                              * last request */
	usec_t lv_sent_usec;         /* when ksmd last asked for a size */
	uint64_t lv_lo, lv_hi;       /* where ksmd's requests can take the size:
	                              * from where it was to where it was asked,
	                              * widened while an earlier request is still
	                              * on its way */
	uint64_t external_bytes;
	usec_t external_usec;
	unsigned lv_external_seen;   /* outside changes seen (lv_actual) */

	/* cgroup backend */
	char *cg_dir;                /* absolute directory */
	char *cg_rel;                /* relative to the memory hierarchy root */
	int cg_version;              /* 1 or 2 */
	bool cg_orig_read;           /* cg_orig was read (at the first attach) */
	char cg_orig[BALLOON_CG_FILES][32]; /* each file a target is written to
	                              * (cgroup.c's target_files): its text at
	                              * attach ("max", a limit), "" unknown */
	uint64_t cg_orig_bytes[BALLOON_CG_FILES]; /* the same, UINT64_MAX no limit */
};

/* Set state and reason (printf-style, may be NULL) and notify on change. */
void balloon_set_state(struct balloon *b, enum balloon_state s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void balloon_notify(struct balloon *b, enum balloon_event ev);
void balloon_track_progress(struct balloon *b, usec_t now);

/* Parse the `guest-stats` QOM property ({"stats": {...}, "last-update": S}).
 * now_mono/now_real: the monotonic and wall-clock time now (usec). QEMU's
 * -1 "no value" is left out of valid_mask; last-update 0 (never) gives
 * -ENODATA. Returns 0, -ENODATA or -EINVAL. */
int balloon_parse_guest_stats(json_t *ret, usec_t now_mono, usec_t now_real,
			      struct balloon_stats *out);

struct balloon *balloon_alloc(const char *name, enum balloon_backend be,
			      const struct balloon_config *cfg, balloon_event_fn cb, void *userdata);
void balloon_set_actual(struct balloon *b, uint64_t actual, usec_t now);
void balloon_learn_max(struct balloon *b, uint64_t max_bytes);

/* A backend's operations: balloon.c calls them for any balloon, whatever
 * its backend (backend_ops[] there picks the row). A NULL hook is a step
 * the backend does not have. */
struct balloon_ops {
	/* read the size and statistics again */
	void (*refresh)(struct balloon *b, usec_t now);
	/* send target t (bytes); 0 when the backend took it, else a negative
	 * errno (b->reason may say why in the backend's words) */
	int (*set)(struct balloon *b, uint64_t t, usec_t now);
	/* before a policy target only (balloon_set_target; neither the
	 * operator's override nor the restore at exit): 0 to send, or a
	 * negative errno not to, e.g. -ECANCELED when the size was just
	 * changed outside ksmd. May refresh b and change its state. */
	int (*before_target)(struct balloon *b, usec_t now);
	/* the balloon is freed: let go of what the backend holds for it */
	void (*detach)(struct balloon *b);
};

extern const struct balloon_ops balloon_qmp_ops, balloon_cgroup_ops, balloon_libvirt_ops;

/* QMP backend (qmp_backend.c) */
void balloon_qmp_refresh(struct balloon *b, usec_t now);
/* set_target on QMP: `balloon` now, or queued for a shared-mode connection. */
int balloon_qmp_set(struct balloon *b, uint64_t t, usec_t now);
/* A QEMU to learn on a connection that just became READY. */
void balloon_qmp_setup(struct balloon *b, struct qmp_client *c, usec_t now);
/* QEMU went away: a restarted QEMU starts with an empty balloon. */
void balloon_qmp_forget(struct balloon *b);

/* QMP shared mode (qmp_shared.c): a connection per operation. Calls that
 * drive the client are bracketed by balloon_sh_enter / balloon_sh_leave. */
void balloon_sh_enter(struct balloon *b);
void balloon_sh_leave(struct balloon *b, usec_t now);
void balloon_sh_tick(struct balloon *b, usec_t now);
void balloon_sh_request_refresh(struct balloon *b, usec_t now);
int balloon_sh_queue_target(struct balloon *b, uint64_t t, usec_t now);
void balloon_sh_on_state(struct balloon *b, struct qmp_client *c, enum qmp_state s, usec_t now);

/* cgroup backend (cgroup.c) */
int balloon_cgroup_open(struct balloon *b, const char *path);
int balloon_cgroup_set(struct balloon *b, uint64_t target_bytes);
void balloon_cgroup_refresh(struct balloon *b, usec_t now);
/* The cgroup files' parsers (pure; tests/fuzz/fuzz_proc.c). A limit's text
 * ("max", or a number at or above the unlimited mark: UINT64_MAX): 0 or
 * -EINVAL. */
int balloon_cgroup_parse_limit(const char *s, uint64_t *out);
/* memory.stat lines "key value": each kv whose key appears gets its value
 * and found (text is cut up). */
struct cg_kv { const char *key; uint64_t v; bool found; };
void balloon_cgroup_parse_stat(char *text, struct cg_kv *kv, size_t n);
/* memory.pressure: "some avg10=" and "full avg10=" into st. */
void balloon_cgroup_parse_pressure(const char *text, struct balloon_stats *st);

#endif
