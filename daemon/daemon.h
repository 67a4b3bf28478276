/* daemon.h — the one state struct of ksmd and its lifecycle.
 *
 * main.c parses arguments and calls daemon_init/daemon_run/daemon_fini.
 * Everything else happens in callbacks of the event loop (loop.h) on the
 * main thread: signals, the tick, the control socket, QMP sockets. The tick
 * collects measurements into a snapshot, lets the policy decide, applies the
 * plan, and publishes the snapshot for readers (stats.h). */
#ifndef KSMD_DAEMON_H
#define KSMD_DAEMON_H

#include <jansson.h>
#include <stdbool.h>

#include "conf/config.h"
#include "ctl/ctl.h"
#include "daemon/control.h"
#include "daemon/loop.h"
#include "daemon/managers.h"
#include "daemon/state.h"
#include "act/ksm.h"

#define DAEMON_MAX_CONFIGS 8

struct daemon_opts {
	const char *config_path;        /* the first file, for messages */
	const char *config_paths[DAEMON_MAX_CONFIGS]; /* -c FILE, each an overlay of the ones before */
	size_t n_configs;
	bool foreground;
	bool dry_run;          /* --dry-run: policy decides, nothing acts */
	int log_level;
};

struct daemon {
	struct daemon_opts opts;
	struct ksmd_config cfg;
	struct loop *loop;
	struct control *control;
	int signal_fd;
	int tick_fd;
	usec_t started_usec;
	uint64_t ticks;
	int exit_code;

	/* KSM: the executor (act/ksm.h) saves the settings found at start,
	 * paces KSM each tick, and restores the settings at exit. */
	bool ksm_available;       /* /sys/kernel/mm/ksm exists and is writable */
	bool ksm_driving;         /* ksm_driver_init succeeded */
	struct ksm_driver ksm;
	struct ksm_sysfs ksm_now; /* read this tick (also when not driving) */

	/* Other managers of KSM and balloons (managers.h): found at start and
	 * every MANAGERS_SCAN_USEC; ksmd yields KSM's knobs to them under
	 * ksm.manage = yes. */
	struct managers managers;
	struct ksm_watch ksm_watch;      /* outside changes of KSM's knobs */
	bool ksm_yielding;               /* ksm.manage = yes and another program drives KSM */
	pid_t ksm_yield_pid;             /* the manager yielded to, 0 for an outside change */
	char ksm_owner[160];             /* who drives KSM, for the snapshot */
	char balloon_other[64];          /* another balloon manager ("" none), logged once */

	/* survives a crash: KSM as first found, operator overrides */
	struct daemon_state state;
	char state_path[CONF_STR_MAX + 16];
	bool state_owned;         /* we hold the control socket: the file is ours */
	bool ksm_saved_settled;   /* the saved KSM settings were restored (or tried),
	                           * dropped or kept while not driving KSM: once */
	bool started;             /* daemon_init succeeded: an exit is a clean one */

	bool scanner_paused;
	bool policy_paused;

	/* control requests answered, by verb id (CTL_N_VERBS: a name that is
	 * no verb) and result (0 ok, 1 error): counters for the snapshot */
	uint64_t ctl_requests[CTL_N_VERBS + 1][2];

	struct daemon_modules *mod;      /* scanner, balloons, policy, stats (daemon.c) */
};

int daemon_init(struct daemon *d, const struct daemon_opts *opts);
/* Runs the loop until SIGTERM/SIGINT; returns the exit code. */
int daemon_run(struct daemon *d);
/* Restores what ksmd changed (KSM settings, balloons per on_exit) and frees. */
void daemon_fini(struct daemon *d);

/* Control commands (commands.c). */
json_t *daemon_command(const char *cmd, json_t *args, void *data);
/* Whether the daemon has a handler for the verb (commands.c). */
bool daemon_command_known(const char *name);
/* Reload the configuration file: parse, validate, swap. 0 or -EINVAL with
 * every error logged (and, when errs is given, returned). */
int daemon_reload(struct daemon *d, struct conf_errors *errs);
/* Apply the live keys of d->cfg to the modules (after set or reload). */
void daemon_apply_config(struct daemon *d);

/* Write the state file (logs a failure). */
void daemon_save_state(struct daemon *d);

/* Build the current snapshot (stats schema version 1). */
json_t *daemon_snapshot(struct daemon *d);
/* The snapshot's "owners": who drives KSM and the balloons, the other
 * managers found, the last outside change of KSM's knobs. */
json_t *daemon_owners_json(const struct daemon *d);
/* Whether ksmd writes KSM's knobs now: ksm.manage = force, or yes while
 * no other program drives them. */
bool daemon_ksm_wanted(const struct daemon *d);

/* systemd notification ("READY=1", "RELOADING=1", "STOPPING=1"); no-op
 * outside systemd. */
void sd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
