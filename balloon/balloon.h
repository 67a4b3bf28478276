/* balloon.h — one interface to drive a guest's memory size, several backends.
 *
 * A `struct balloon` is one guest's balloon. The target is always the
 * guest's logical memory size in bytes (what QMP `balloon` takes; for a
 * cgroup, the memory limit the host enforces). Backends:
 *
 *   QMP     QEMU's virtio-balloon over its QMP UNIX socket (asynchronous:
 *           see balloon/qmp.h; the balloon owns one qmp_client). Two modes
 *           (balloon_config.qmp_shared): "own" holds a monitor of ksmd's
 *           own; "shared" opens a connection per operation and closes it,
 *           for a monitor other clients use too (see balloon_config).
 *   cgroup  a memory cgroup (containers, plain processes): v2 memory.high,
 *           v1 memory.limit_in_bytes (+ soft limit); synchronous.
 *
 * Event-loop wiring is the same for every backend (the cgroup backend has
 * no fd and only works in balloon_tick). After every call below, and after
 * balloon_set_target/override/refresh (they queue output that wants
 * EPOLLOUT), re-sync the registration: balloon_epoll_sync(), or compare
 * balloon_fd()/balloon_epoll_events() with what is registered (the old fd
 * is always seen as -1 for at least one call before a new one appears):
 *
 *   balloon_epoll_sync(b, epfd, b)    after creating and after every call below
 *   balloon_on_readable(b, now)       EPOLLIN/EPOLLHUP/EPOLLERR on its fd
 *   balloon_on_writable(b, now)       EPOLLOUT on its fd
 *   balloon_tick(b, now)              every loop tick: timeouts, reconnect,
 *                                     periodic refresh of actual and stats,
 *                                     stuck-guest tracking
 *
 * Safety is enforced here, at the actuator, whatever the policy asks:
 * balloon_set_target() never goes below the floor (`min`, default 50% of
 * max) nor above max, and moves at most max_step per call
 * (balloon_clamp_target, a pure function). A guest that makes no progress
 * toward its target for 5 s is `stuck` (the policy should not squeeze it
 * further), after 20 s `uncooperative`; the flag clears only after sustained
 * progress (balloon_progress_update, a pure state machine). */
#ifndef KSMD_BALLOON_BALLOON_H
#define KSMD_BALLOON_BALLOON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/util.h"

/* ---- pure safety logic (no I/O) ---------------------------------------- */

/* A guest's limits, in bytes of logical memory size. */
struct balloon_limits {
	uint64_t min_bytes;       /* floor: never set a target below it */
	uint64_t max_bytes;       /* configured/boot memory size: never above */
	uint64_t max_step_bytes;  /* largest change per call; 0 = unbounded */
};

#define BALLOON_DEFAULT_MIN_PERCENT 50  /* floor = 50% of max unless set */

/* Fill in the floor when it is unset: min_bytes = 0 becomes
 * max_bytes * min_percent / 100 (min_percent 0 = the default 50). A floor
 * above max is lowered to max. */
void balloon_limits_default(struct balloon_limits *l, unsigned min_percent);

/* The target to actually request when `requested_bytes` is asked for and
 * the current target (or, if none was set yet, the current actual) is
 * `from_bytes`: first moved at most max_step_bytes away from from_bytes,
 * then clamped to [min_bytes, max_bytes] (the range wins over the step:
 * a guest found below its floor is raised to the floor at once). */
uint64_t balloon_clamp_target(uint64_t requested_bytes, uint64_t from_bytes,
			      const struct balloon_limits *l);

/* Validate an operator's `ksmdctl balloon GUEST SIZE`. Returns 0 when
 * min <= size <= max, else -ERANGE with a message in err naming the limit,
 * e.g. "guest web1: 100 MiB is below its floor (min 256 MiB)". */
int balloon_validate_override(const char *guest, uint64_t size_bytes,
			      const struct balloon_limits *l,
			      char *err, size_t err_len);

/* Stuck-guest tracking. Inputs: target, actual, now. */
struct balloon_progress_config {
	usec_t stuck_usec;          /* no progress this long -> stuck [5 s] */
	usec_t uncooperative_usec;  /* no progress this long -> flagged [20 s] */
	usec_t clear_usec;          /* progress sustained this long clears the
	                             * flag [10 s] */
	uint64_t tolerance_bytes;   /* |target - actual| within this = reached
	                             * [1 MiB] */
	uint64_t min_progress_bytes;/* the gap must shrink this much to count
	                             * as progress [1 MiB] */
};

struct balloon_progress {
	uint64_t target_bytes;      /* target being tracked (0 = none yet) */
	uint64_t best_gap_bytes;    /* smallest |target - actual| seen since the
	                             * last progress */
	usec_t last_progress_usec;  /* last time the gap shrank (or target set) */
	usec_t progress_run_usec;   /* start of the current unbroken run of
	                             * progress, 0 = none */
	bool reached;               /* gap within tolerance */
	bool stuck;                 /* no progress for stuck_usec: exclude from
	                             * further squeezing */
	bool uncooperative;         /* no progress for uncooperative_usec; sticky
	                             * until clear_usec of sustained progress */
};

/* Zero fields of cfg become the defaults above. */
void balloon_progress_config_default(struct balloon_progress_config *cfg);
/* Feed one observation. A new target restarts the no-progress clock and
 * clears `stuck` but not `uncooperative`. While the target is reached the
 * guest is neither stuck nor making progress. */
void balloon_progress_update(struct balloon_progress *p,
			     const struct balloon_progress_config *cfg,
			     uint64_t target_bytes, uint64_t actual_bytes,
			     usec_t now);

/* ---- guest statistics --------------------------------------------------- */

enum balloon_stat {
	BALLOON_STAT_FREE,          /* bytes: guest MemFree */
	BALLOON_STAT_AVAILABLE,     /* bytes: guest MemAvailable */
	BALLOON_STAT_TOTAL,         /* bytes: guest MemTotal */
	BALLOON_STAT_DISK_CACHES,   /* bytes: page cache that could be dropped */
	BALLOON_STAT_MAJOR_FAULTS,  /* count */
	BALLOON_STAT_MINOR_FAULTS,  /* count */
	BALLOON_STAT_SWAP_IN,       /* bytes swapped in (QMP only) */
	BALLOON_STAT_SWAP_OUT,      /* bytes swapped out (QMP only; cgroup swap
	                             * usage is the extra tag "swap") */
	BALLOON_STAT_HTLB_PGALLOC,  /* count */
	BALLOON_STAT_HTLB_PGFAIL,   /* count */
	BALLOON_STAT_OOM_KILLS,     /* count */
	BALLOON_STAT_ALLOC_STALLS,  /* count */
	BALLOON_STAT_USAGE,         /* bytes: host-side usage (cgroup only) */
	BALLOON_STAT_COUNT
};

#define BALLOON_STATS_EXTRA 16
struct balloon_stats {
	uint64_t value[BALLOON_STAT_COUNT];
	uint32_t valid_mask;        /* bit i set: value[i] was reported */
	struct {                    /* tags this version does not know */
		char name[40];
		uint64_t value;
	} extra[BALLOON_STATS_EXTRA];
	unsigned n_extra;
	bool has_pressure;          /* cgroup v2 memory.pressure was read */
	double pressure_some_avg10; /* percent */
	double pressure_full_avg10; /* percent */
	usec_t updated_usec;        /* monotonic time the guest produced the
	                             * sample (0 = never) */
};

/* Name of a statistic ("free", "available", ...) for JSON and logs. */
const char *balloon_stat_name(enum balloon_stat s);

/* ---- the balloon object ------------------------------------------------- */

enum balloon_backend { BALLOON_BACKEND_QMP, BALLOON_BACKEND_CGROUP, BALLOON_BACKEND_LIBVIRT };

enum balloon_state {
	BALLOON_CONNECTING,  /* backend not ready yet */
	BALLOON_READY,       /* targets can be set */
	BALLOON_NO_DEVICE,   /* QEMU has no (active) balloon device */
	BALLOON_BUSY,        /* QMP monitor held by another client */
	BALLOON_GONE,        /* process died / socket refused; reconnecting */
	BALLOON_ERROR,       /* unusable (cgroup missing, ...); see reason */
};
const char *balloon_state_name(enum balloon_state s);

enum balloon_cap {
	BALLOON_CAP_STATS = 1u << 0,               /* guest reports stats */
	BALLOON_CAP_FREE_PAGE_REPORTING = 1u << 1, /* virtio free page reporting */
	BALLOON_CAP_DEFLATE_ON_OOM = 1u << 2,      /* guest deflates on OOM */
};

enum balloon_cgroup_v1_mode {
	BALLOON_CG_V1_HARD,  /* memory.limit_in_bytes (and soft limit) = target */
	BALLOON_CG_V1_SOFT,  /* memory.soft_limit_in_bytes only */
};

/* Per-guest configuration; zero fields take the defaults in brackets. */
struct balloon_config {
	uint64_t max_bytes;          /* [learned: QMP base-memory; cgroup: the
	                              * limit found at attach, else host RAM] */
	uint64_t min_bytes;          /* floor [min_percent of max] */
	unsigned min_percent;        /* [50] */
	uint64_t max_step_bytes;     /* per set_target call [0 = unbounded] */
	usec_t stats_interval_usec;  /* guest-stats polling / refresh [2 s] */
	usec_t request_timeout_usec; /* QMP [5 s] */
	usec_t greeting_timeout_usec;/* QMP [2 s] */
	usec_t reconnect_min_usec;   /* QMP [100 ms] */
	usec_t reconnect_max_usec;   /* QMP [5 s] */
	enum balloon_cgroup_v1_mode cg_v1_mode; /* [HARD] */
	struct balloon_progress_config progress;
	/* QMP: false ("own") holds the monitor connected, events and all.
	 * true ("shared": a monitor other clients use too, e.g. Proxmox's
	 * VMID.qmp; QEMU serves one client at a time) holds nothing: every
	 * operation - the refresh of actual and stats every
	 * stats_interval_usec, a set_target, the first setup queries - is a
	 * connection of its own (connect, greeting, qmp_capabilities, the
	 * commands, close) closed within request_timeout_usec. A monitor that
	 * is busy (no greeting within greeting_timeout_usec, or its backlog
	 * full) or that refuses while the known QEMU pid lives makes the state
	 * BUSY with the reason, keeping the last known values, and is tried
	 * again at the next refresh; a refusal with no live QEMU is GONE.
	 * No events between operations: actual comes from query-balloon at each
	 * refresh. The balloon's QOM path, max and capabilities are learned
	 * once and kept until the QEMU pid (SO_PEERCRED) changes. A set_target
	 * while no connection is open opens one. balloon_new_qmp_fd ignores it.
	 * [false] */
	bool qmp_shared;
};

/* What the daemon reads each tick. */
struct balloon_info {
	const char *name;
	enum balloon_backend backend;
	enum balloon_state state;
	char reason[160];           /* why not READY (or last error), "" if none */
	uint32_t caps;              /* enum balloon_cap bits known so far */
	pid_t pid;                  /* QEMU pid (SO_PEERCRED) / 0 for cgroup */
	struct balloon_limits limits;
	uint64_t target_bytes;      /* last target requested, 0 = none */
	uint64_t targets_sent;      /* targets sent to the backend since it was
	                             * made (a counter: set_target, override) */
	uint64_t actual_bytes;      /* guest's current logical size, 0 = unknown */
	usec_t actual_usec;         /* monotonic time actual was read, 0 = never */
	struct balloon_stats stats;
	struct balloon_progress progress; /* stuck / uncooperative flags */
	size_t pending;             /* commands in flight */
	uint64_t external_bytes;    /* libvirt: size last set outside ksmd
	                             * (virsh setmem), 0 = none seen */
	usec_t external_usec;       /* when it was seen */
};

struct balloon;

enum balloon_event {
	BALLOON_EV_STATE,   /* state changed */
	BALLOON_EV_ACTUAL,  /* actual_bytes updated (BALLOON_CHANGE, query) */
	BALLOON_EV_STATS,   /* new guest statistics */
	BALLOON_EV_TARGET,  /* a set_target completed (ok or not: see reason) */
	BALLOON_EV_EXTERNAL,/* the size was changed outside ksmd (libvirt:
	                     * balloon/libvirt.h): info.external_bytes */
};
typedef void (*balloon_event_fn)(struct balloon *b, enum balloon_event ev,
				 void *userdata);

/* A QEMU guest behind the QMP UNIX socket at qmp_path. Nothing is done
 * until the first balloon_tick(). cb may be NULL. */
struct balloon *balloon_new_qmp(const char *name, const char *qmp_path,
				const struct balloon_config *cfg,
				balloon_event_fn cb, void *userdata);
/* Same over an already connected QMP socket (tests); never reconnects. */
struct balloon *balloon_new_qmp_fd(const char *name, int fd,
				   const struct balloon_config *cfg,
				   balloon_event_fn cb, void *userdata, usec_t now);
/* A memory cgroup, `path` relative to the memory controller's root
 * ("machine/ct1") or absolute under /sys/fs/cgroup. */
struct balloon *balloon_new_cgroup(const char *name, const char *path,
				   const struct balloon_config *cfg,
				   balloon_event_fn cb, void *userdata);
/* Free (pending QMP commands are cancelled). NULL is fine. */
void balloon_free(struct balloon *b);

int balloon_fd(const struct balloon *b);               /* -1: none */
uint32_t balloon_epoll_events(const struct balloon *b);
int balloon_epoll_sync(struct balloon *b, int epfd, void *ptr);
void balloon_on_readable(struct balloon *b, usec_t now);
void balloon_on_writable(struct balloon *b, usec_t now);
void balloon_tick(struct balloon *b, usec_t now);
usec_t balloon_next_deadline(const struct balloon *b);

/* Ask for `target_bytes`. The request is passed through
 * balloon_clamp_target (floor, max, max_step); the value actually
 * requested is stored in *sent_bytes (may be NULL). Asking again for the
 * target already requested sends nothing (a failed request is forgotten,
 * so it is sent again). Returns 0 when sent
 * (QMP: completion reported by BALLOON_EV_TARGET), -EAGAIN when the
 * backend is not READY, -ERANGE when limits are not known yet (QMP before
 * the RAM size is learned and no max configured), -ECANCELED when nothing
 * was sent because the size was just changed outside ksmd (libvirt: the
 * size is read from QEMU before each policy target, so an operator's
 * `virsh setmem` made a moment earlier is not overwritten; it is reported
 * as BALLOON_EV_EXTERNAL), or a negative errno. balloon_override() sends
 * the operator's size without that check. */
int balloon_set_target(struct balloon *b, uint64_t target_bytes, usec_t now,
		       uint64_t *sent_bytes);
/* Operator override: validated with balloon_validate_override (error text
 * in err), then sent as is, without the per-step bound. */
int balloon_override(struct balloon *b, uint64_t size_bytes, usec_t now,
		     char *err, size_t err_len);
/* Refresh actual and stats now instead of at the next interval. */
void balloon_refresh(struct balloon *b, usec_t now);
/* Copy out the current view. */
void balloon_get_info(const struct balloon *b, struct balloon_info *out);
const char *balloon_name(const struct balloon *b);

/* What to do with the balloons when ksmd exits ([balloon] on_exit). */
enum balloon_on_exit { BALLOON_EXIT_KEEP, BALLOON_EXIT_RESTORE };
/* Parse "keep" / "restore". */
int balloon_parse_on_exit(const char *s, enum balloon_on_exit *out);
/* KEEP: nothing. RESTORE: set every READY guest's target to its max and
 * wait (this one call blocks, in poll(), at shutdown only) until the
 * commands completed or timeout_usec passed. Returns the number of guests
 * that could not be restored. */
int balloon_exit_all(struct balloon *const *bs, size_t n,
		     enum balloon_on_exit mode, usec_t timeout_usec);

/* ---- discovery of local QEMU guests ------------------------------------ */

struct qemu_guest {
	pid_t pid;
	char name[64];        /* -name (guest=NAME or first field); "" if none
	                       * or not printable */
	char qmp_path[108];   /* control-mode UNIX socket */
	uint64_t mem_bytes;   /* -m size, 0 if absent */
	bool has_balloon;     /* a virtio-balloon device on the command line */
};

/* Parse a QEMU command line (/proc/PID/cmdline: NUL-separated) for its QMP
 * UNIX socket (`-qmp unix:PATH[,...]`, `-qmp unix=PATH`, or `-chardev
 * socket,id=ID,path=PATH,...` with `-mon chardev=ID,mode=control`), its
 * `-name` and its `-m`. The last argument need not end with a NUL. Returns
 * 0 when a QMP socket was found, -ENOENT when not, -EINVAL on junk. */
int balloon_parse_qemu_cmdline(const char *buf, size_t len,
			       struct qemu_guest *out);
/* Scan /proc for QEMU processes with a QMP UNIX socket; *out is malloc'd
 * (free() it). Returns the count or a negative errno. `proc` is the proc
 * root ("/proc"), so tests can point it elsewhere. Only a process whose
 * executable is a root-owned qemu-system-* (or qemu-kvm) binary counts,
 * and only with a QMP path that is an absolute path to a socket (not a
 * symbolic link) owned by the process's effective uid or root; a -name
 * that is not printable UTF-8 of at most 63 bytes is not taken. */
int balloon_discover_qemu(const char *proc, struct qemu_guest **out);

#endif
