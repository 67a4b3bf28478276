/* guests.h — the daemon's guest registry and tick state, shared by the
 * files of the tick (internal to daemon/):
 *   registry.c   the guests: configured, discovered, libvirt domains; their
 *                balloons in the loop; add, remove, reload; ksmdctl balloon
 *   tick.c       each tick's collect, decide, act (modules_tick)
 *   modules.c    the daemon's start and stop of the modules, the balloons'
 *                100 ms timer, pause and resume
 *   snapshot.c   publish: the JSON snapshot of everything (daemon_snapshot) */
#ifndef KSMD_DAEMON_GUESTS_H
#define KSMD_DAEMON_GUESTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "balloon/balloon.h"
#include "balloon/libvirt.h"
#include "daemon/daemon.h"
#include "daemon/http_sep.h"
#include "daemon/modules.h"
#include "collect/host.h"
#include "collect/sample.h"
#include "policy/policy.h"
#include "collect/wss.h"
#include "scanner/scanner.h"
#include "stats/stats.h"

#define FAST_TIMER_USEC (100 * USEC_PER_MSEC)

struct guest {
	struct guest_conf conf;
	uint64_t id;                 /* stable across reloads, never 0 */
	bool discovered;             /* found by balloon.discover, not configured */
	struct lv_domain lvd;        /* conf.libvirt: what libvirt said of the domain */
	bool override_outside;       /* the override was set outside ksmd (virsh setmem) */
	bool balloon_yielded;        /* left to another balloon manager (logged once) */
	struct balloon *b;           /* NULL for plain processes */
	int reg_fd;                  /* fd registered in the loop, -1 none */
	uint32_t reg_events;
	pid_t pid;                   /* process whose memory is scanned, 0 unknown */
	bool in_scanner;
	bool alive;
	bool override;               /* ksmdctl balloon: the policy leaves it alone */
	bool override_pending;       /* from the state file: send once READY */
	uint64_t override_bytes;
	struct balloon_info info;
	struct proc_files files;     /* its process's identity and /proc files, since it was found */
	uint64_t found_seq;          /* processes found for it so far */
	struct proc_sample sample;   /* this tick's reading of them (collect/sample.h) */
	bool ksm_valid;              /* alive and sample.ksm read */
	/* rates from two samples of the guest's stats */
	usec_t rate_sample_usec;
	uint64_t prev_major, prev_swap_in, prev_swap_out;
	double major_per_sec, swap_in_per_sec, swap_out_per_sec;
	char gone_reason[128];
	char ksm_fix[256];           /* how to make it mergeable, "" when it is */
	struct wss_tracker wss;      /* host-side working set of its RAM (collect/wss.h) */
	bool wss_on;                 /* tracker set up for the current pid */
	pid_t wss_pid;
	uint64_t wss_found;          /* found_seq of the process it tracks */
	bool wss_warned;
	struct fpr_meter fpr;        /* memory given back by free page reporting (collect/wss.h) */
};

struct daemon_modules {
	struct scanner *scanner;
	struct scanner_results sres;
	bool sres_valid;
	struct guest **g;
	size_t n;
	uint64_t next_id;
	int fast_fd;
	struct policy_host host, host_prev;
	bool host_valid;
	struct policy_state pstate;
	struct policy_plan plan;
	bool plan_valid;
	struct policy_ring ring;
	struct http_sep *http;       /* the stats endpoint's process (http_sep.h) */
	int64_t merged_pages;         /* this tick's guests_merged_pages() (-1 unknown) */
	struct lv_conn *lv;           /* [libvirt]: the connection, NULL without */
	usec_t last_tick_usec;
	usec_t wss_period_usec;       /* every guest's working-set cycle starts this often (wss_bound, tick.c) */
	usec_t wss_cycle_cpu_usec;    /* CPU of the last cycle of every guest together */
	uint64_t pages_scanned_total; /* over every pass since start */
	/* policy.budget = cgroup:PATH: the spec last resolved, its directory */
	char cg_spec[POLICY_CGROUP_LEN];
	char cg_dir[512];
	int cg_err;                   /* last failure (logged once per change), 0 ok */
	uint64_t passes_counted;
};

/* The one daemon, for callbacks whose data pointer is a guest. */
extern struct daemon *modules_daemon;

/* registry.c */
struct guest *guest_find(struct daemon *d, const char *name);
int guest_add(struct daemon *d, const struct guest_conf *gc, bool discovered);
void guest_remove(struct daemon *d, size_t i);
/* Register the guest's balloon fd in the loop again after any balloon call. */
void guest_sync_fd(struct daemon *d, struct guest *g);
/* Local QEMU processes with a QMP socket (balloon.discover). */
void discover(struct daemon *d);
/* Keep the scanner's guest list in step with the guest's process. */
void scanner_sync(struct daemon *d, struct guest *g);
/* A [guest NAME] section without qmp, pid or cgroup: a libvirt domain's settings. */
bool settings_only(const struct guest_conf *gc);
/* The libvirt connection's events: domains up and down. */
void libvirt_event(struct lv_conn *c, enum lv_event ev, const struct lv_domain *ld, const char *why,
		   void *ud);

/* tick.c */
/* What KSM merged for the guests, or -1 when unknown. */
int64_t guests_merged_pages(const struct daemon *d);
/* Whether ksmd drives g's balloon now; who names the driver. */
bool balloon_driven(const struct daemon *d, const struct guest *g, char *who, size_t len);

#endif
