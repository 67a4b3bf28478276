/* managers.h — living beside other managers of KSM and of guests' balloons.
 *
 * Two ways to find that another program drives what ksmd drives:
 *
 *  - by name: a walk of a proc root ("/proc", a made-up tree in tests)
 *    finds Debian's and Proxmox's ksmtuned, oVirt's MOM (momd, or vdsm
 *    running it), Proxmox's pvestatd (auto-ballooning), KubeVirt's
 *    virt-handler (KSM on/off) and another ksmd daemon. The kernel's own
 *    KSM thread is also called "ksmd": a kernel thread (PF_KTHREAD in
 *    /proc/PID/stat, an empty cmdline) never counts, nor does ksmd itself.
 *    Of two ksmd daemons the one started later yields to the older one.
 *  - by effect: ksmd remembers KSM's run, pages_to_scan and
 *    sleep_millisecs as it last read or wrote them; values that differ at
 *    the next tick, with no write of ksmd's in between, were changed by
 *    another program (struct ksm_watch).
 *
 * The parsing and the decisions are pure functions; managers_scan() is the
 * only one that reads files. Nothing here logs. */
#ifndef KSMD_MANAGERS_H
#define KSMD_MANAGERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/util.h"
#include "act/ksm.h"

#define MANAGERS_MAX 16
#define MANAGER_NAME_LEN 32
/* How often the daemon walks /proc for other managers. */
#define MANAGERS_SCAN_USEC (60 * USEC_PER_SEC)
/* An outside change of KSM's knobs keeps ksmd off them this long. */
#define KSM_WATCH_WINDOW_USEC (60 * USEC_PER_SEC)

/* What another manager drives (a mask). */
#define MANAGER_KSM     1u
#define MANAGER_BALLOON 2u

/* PF_KTHREAD of the flags field (9) of /proc/PID/stat. */
#define MANAGER_PF_KTHREAD 0x00200000UL

struct manager {
	char name[MANAGER_NAME_LEN];  /* "ksmtuned", "momd", "vdsm", "pvestatd", "virt-handler", "ksmd" */
	pid_t pid;
	pid_t ppid;
	unsigned drives;              /* MANAGER_KSM | MANAGER_BALLOON */
	uint64_t start_ticks;         /* field 22 of /proc/PID/stat */
	bool younger;                 /* a ksmd started after us: it yields to us */
};

struct managers {
	struct manager m[MANAGERS_MAX];
	size_t n;
	usec_t scanned_usec;          /* when the list was made (0 never) */
};

/* One process as the walk reads it. cmdline is NUL-separated, as in
 * /proc/PID/cmdline; flags and start_ticks come from /proc/PID/stat. */
struct manager_proc {
	pid_t pid;
	pid_t ppid;
	const char *comm;             /* without its newline */
	const char *cmdline;
	size_t cmdline_len;
	unsigned long flags;
	uint64_t start_ticks;
};

/* ---- pure ---- */

/* Whether a process of this comm may be a manager: its cmdline is worth
 * reading (a known name, or an interpreter that may run one). */
bool managers_comm_candidate(const char *comm);

/* What the process drives (MANAGER_* mask), 0 when it is no manager: a
 * kernel thread or a process without a cmdline (a zombie) never is. Its
 * name goes to name. */
unsigned managers_classify(const struct manager_proc *p, char *name, size_t len);

/* "ksm", "balloon" or "ksm+balloon". */
const char *managers_drives_name(unsigned drives);

/* "ksmtuned (pid 123)". Returns buf. */
const char *managers_describe(const struct manager *x, char *buf, size_t len);

/* The first manager of KSM that ksmd yields to (a younger ksmd yields to
 * us instead), or NULL. */
const struct manager *managers_ksm_manager(const struct managers *m);

/* Whether another program drives guests' balloons; who names the first
 * one ("pvestatd (pid 812)", "" when none). */
bool managers_balloon_owner(const struct managers *m, char *who, size_t len);

/* ---- the walk ---- */

/* Walk proc_root for other managers, leaving out self (ksmd's pid) and the
 * subshells of a manager (same name as its parent). Fills *out (sorted by
 * pid) and returns how many were found, or a negative errno when proc_root
 * cannot be read. out->scanned_usec is left to the caller. */
int managers_scan(const char *proc_root, pid_t self, struct managers *out);

/* ---- outside changes of KSM's knobs ---- */

struct ksm_watch {
	bool valid;                   /* last holds a reading */
	struct ksm_knobs last;        /* as ksmd last read or wrote them */
	uint64_t changes;             /* outside changes seen since start */
	usec_t changed_usec;          /* when the last was seen (0 never) */
	bool attributed;              /* seen while a detected manager of KSM ran */
	char what[160];               /* "pages_to_scan 100 -> 5000" */
};

/* The knobs of a settings reading (absent files read as 0). */
struct ksm_knobs ksm_watch_knobs(const struct ksm_settings *s);

/* The knobs read at this tick. Returns 1 when they differ from the last
 * reading or write (an outside change: what, changed_usec, attributed are
 * set), 0 otherwise (also for the first reading). attributed says that a
 * detected manager of KSM runs and explains the change. */
int ksm_watch_tick(struct ksm_watch *w, const struct ksm_knobs *now, usec_t now_usec, bool attributed);

/* ksmd wrote (or found, after its own writes) these knobs. */
void ksm_watch_wrote(struct ksm_watch *w, const struct ksm_knobs *k);

/* An outside change that no detected manager explains, seen within
 * KSM_WATCH_WINDOW_USEC. */
bool ksm_watch_unexplained(const struct ksm_watch *w, usec_t now_usec);

/* Whether ksmd (with ksm.manage = yes) yields KSM's knobs: to a detected
 * manager of KSM, or for a minute after an unexplained outside change.
 * who names it ("ksmtuned (pid 123)", "another program (run 0 -> 1)"),
 * *pid is the manager's pid (0 for an outside change). */
bool managers_ksm_yield(const struct managers *m, const struct ksm_watch *w, usec_t now_usec,
			pid_t *pid, char *who, size_t len);

/* The snapshot's "owners" object: "ksm" and "balloon" (who drives them,
 * as the daemon says), "managers" (the list), "ksm_outside_change" (the
 * last outside change with its age, or null) and "ksm_outside_changes". */
json_t *managers_owners_json(const struct managers *m, const struct ksm_watch *w, const char *ksm_owner,
			     const char *balloon_owner, usec_t now_usec);

#endif
