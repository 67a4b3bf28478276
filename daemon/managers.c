/* managers.c — other programs that drive KSM or guests' balloons (see
 * managers.h): who they are, from /proc, and outside changes of KSM's knobs.
 *
 * How each is told from its comm and cmdline (argv[0], or the script an
 * interpreter runs, "prog" below):
 *   ksmtuned      comm or prog "ksmtuned" (a bash script; its daemon is a
 *                 subshell of the script, its $(...) are subshells of that)
 *   MOM           an argument whose basename is "momd"; or vdsm (prog or
 *                 comm "vdsm"/"vdsmd") with an argument naming mom
 *   pvestatd      comm, argv[0] or prog "pvestatd": Proxmox's auto-ballooning
 *   virt-handler  comm or prog "virt-handler": KubeVirt turns KSM on and off
 *   ksmd          comm or prog "ksmd", not a one-shot (-n, --dump-config...)
 * A kernel thread (PF_KTHREAD) or a process without a cmdline never counts:
 * the kernel's KSM thread is called "ksmd" too. */
#include "daemon/managers.h"
#include "collect/sample.h"
#include "ctl/fields.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 64

/* ---- pure ---- */

static const char *base_of(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static bool interpreter(const char *b)
{
	static const char *const shells[] = { "bash", "sh", "dash", "ksh", "zsh", "busybox" };
	for (size_t i = 0; i < ARRAY_SIZE(shells); i++)
		if (!strcmp(b, shells[i]))
			return true;
	return !strncmp(b, "python", 6) || !strncmp(b, "perl", 4);
}

static const char *const known_names[] = { "ksmtuned", "momd", "vdsm", "vdsmd", "pvestatd",
					   "virt-handler", "ksmd" };

bool managers_comm_candidate(const char *comm)
{
	if (!comm)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(known_names); i++)
		if (!strcmp(comm, known_names[i]))
			return true;
	return interpreter(comm);
}

static size_t split_args(const char *cmdline, size_t len, const char **argv, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; cmdline && i < len && n < max;) {
		argv[n++] = cmdline + i;
		i += strnlen(cmdline + i, len - i) + 1;
	}
	return n;
}

/* ksmd -n, --check, --dump-config, --man-keys, -h, -V...: a one-shot, no daemon. */
static bool ksmd_one_shot(const char **argv, size_t argc)
{
	static const char *const longs[] = { "--check", "--dump-config", "--man-keys", "--list-keys", "--help",
					    "--version" };
	for (size_t i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-')
			continue;
		if (a[1] == '-') {
			for (size_t j = 0; j < ARRAY_SIZE(longs); j++)
				if (!strcmp(a, longs[j]))
					return true;
			continue;
		}
		for (const char *c = a + 1; *c && *c != 'c'; c++) /* -c takes the rest */
			if (*c == 'n' || *c == 'h' || *c == 'V')
				return true;
	}
	return false;
}

unsigned managers_classify(const struct manager_proc *p, char *name, size_t len)
{
	const char *argv[MAX_ARGS];
	size_t argc = split_args(p->cmdline, p->cmdline_len, argv, MAX_ARGS);
	if ((p->flags & MANAGER_PF_KTHREAD) || argc == 0 || !argv[0][0])
		return 0; /* a kernel thread (the kernel's "ksmd" among them) or a zombie */
	const char *comm = p->comm ? p->comm : "";
	const char *prog = base_of(argv[0]);
	if (interpreter(prog))
		for (size_t i = 1; i < argc; i++)
			if (argv[i][0] && argv[i][0] != '-') {
				prog = base_of(argv[i]);
				break;
			}
	bool momd = !strcmp(comm, "momd"), mom_arg = false;
	for (size_t i = 0; i < argc; i++) {
		momd |= !strcmp(base_of(argv[i]), "momd");
		mom_arg |= strstr(argv[i], "mom") != NULL;
	}
	const char *n = NULL;
	unsigned drives = 0;
	if (!strcmp(comm, "ksmtuned") || !strcmp(prog, "ksmtuned")) {
		n = "ksmtuned";
		drives = MANAGER_KSM;
	} else if (momd) {
		n = "momd";
		drives = MANAGER_KSM | MANAGER_BALLOON;
	} else if ((!strcmp(comm, "vdsm") || !strcmp(comm, "vdsmd") || !strcmp(prog, "vdsm") ||
		    !strcmp(prog, "vdsmd")) && mom_arg) {
		n = "vdsm";
		drives = MANAGER_KSM | MANAGER_BALLOON;
	} else if (!strcmp(comm, "pvestatd") || !strcmp(prog, "pvestatd") || !strcmp(argv[0], "pvestatd")) {
		n = "pvestatd";
		drives = MANAGER_BALLOON;
	} else if (!strcmp(comm, "virt-handler") || !strcmp(prog, "virt-handler")) {
		n = "virt-handler";
		drives = MANAGER_KSM;
	} else if ((!strcmp(comm, "ksmd") || !strcmp(prog, "ksmd")) && !ksmd_one_shot(argv, argc)) {
		n = "ksmd";
		drives = MANAGER_KSM | MANAGER_BALLOON;
	}
	if (n && name && len)
		snprintf(name, len, "%s", n);
	return drives;
}

const char *managers_drives_name(unsigned drives)
{
	switch (drives & (MANAGER_KSM | MANAGER_BALLOON)) {
	case MANAGER_KSM: return "ksm";
	case MANAGER_BALLOON: return "balloon";
	case MANAGER_KSM | MANAGER_BALLOON: return "ksm+balloon";
	}
	return "nothing";
}

const char *managers_describe(const struct manager *x, char *buf, size_t len)
{
	snprintf(buf, len, "%s (pid %d)", x->name, (int)x->pid);
	return buf;
}

/* The first manager driving what (a MANAGER_* bit) that ksmd yields to. */
static const struct manager *first_driving(const struct managers *m, unsigned what)
{
	for (size_t i = 0; m && i < m->n; i++)
		if ((m->m[i].drives & what) && !m->m[i].younger)
			return &m->m[i];
	return NULL;
}

const struct manager *managers_ksm_manager(const struct managers *m)
{
	return first_driving(m, MANAGER_KSM);
}

bool managers_balloon_owner(const struct managers *m, char *who, size_t len)
{
	const struct manager *x = first_driving(m, MANAGER_BALLOON);
	if (len)
		who[0] = 0;
	if (x && len)
		managers_describe(x, who, len);
	return x != NULL;
}

/* ---- the walk ---- */

static int by_pid(const void *a, const void *b)
{
	const struct manager *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

int managers_scan(const char *proc_root, pid_t self, struct managers *out)
{
	DIR *d = opendir(proc_root);
	if (!d)
		return -errno;
	struct managers found;
	memset(&found, 0, sizeof found);
	uint64_t self_start = 0;
	bool self_known = proc_stat_read(proc_root, self, NULL, NULL, &self_start) == 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end, path[PATH_MAX], *comm = NULL, *cmd = NULL;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid == (long)self || found.n == MANAGERS_MAX)
			continue;
		snprintf(path, sizeof path, "%s/%ld/comm", proc_root, pid);
		if (read_file(path, &comm, NULL) < 0)
			continue;
		comm[strcspn(comm, "\n")] = 0;
		struct manager_proc p = { .pid = (pid_t)pid, .comm = comm };
		size_t clen = 0;
		snprintf(path, sizeof path, "%s/%ld/cmdline", proc_root, pid);
		if (managers_comm_candidate(comm) &&
		    proc_stat_read(proc_root, (pid_t)pid, &p.ppid, &p.flags, &p.start_ticks) == 0 &&
		    read_file(path, &cmd, &clen) == 0) {
			p.cmdline = cmd;
			p.cmdline_len = clen;
			struct manager *x = &found.m[found.n];
			memset(x, 0, sizeof *x);
			x->drives = managers_classify(&p, x->name, sizeof x->name);
			if (x->drives) {
				x->pid = p.pid;
				x->ppid = p.ppid;
				x->start_ticks = p.start_ticks;
				x->younger = !strcmp(x->name, "ksmd") && self_known &&
					     (p.start_ticks > self_start ||
					      (p.start_ticks == self_start && p.pid > self));
				found.n++;
			}
		}
		free(comm);
		free(cmd);
	}
	closedir(d);
	/* a manager's subshells (bash's $(...), a forked loop) are not others */
	size_t kept = 0;
	for (size_t i = 0; i < found.n; i++) {
		bool child = false;
		for (size_t j = 0; j < found.n; j++)
			child |= j != i && found.m[j].pid == found.m[i].ppid &&
				 !strcmp(found.m[j].name, found.m[i].name);
		if (!child)
			found.m[kept++] = found.m[i];
	}
	found.n = kept;
	qsort(found.m, found.n, sizeof found.m[0], by_pid);
	found.scanned_usec = out->scanned_usec;
	*out = found;
	return (int)found.n;
}

/* ---- outside changes of KSM's knobs ---- */

struct ksm_knobs ksm_watch_knobs(const struct ksm_settings *s)
{
	return (struct ksm_knobs){
		.run = s->run > 0 ? (uint32_t)s->run : 0,
		.pages_to_scan = s->pages_to_scan > 0 ? (uint32_t)s->pages_to_scan : 0,
		.sleep_millisecs = s->sleep_millisecs > 0 ? (uint32_t)s->sleep_millisecs : 0,
	};
}

int ksm_watch_tick(struct ksm_watch *w, const struct ksm_knobs *now, usec_t now_usec, bool attributed)
{
	if (!w->valid) {
		w->last = *now;
		w->valid = true;
		return 0;
	}
	const struct { const char *name; uint32_t was, is; } k[] = {
		{ "run", w->last.run, now->run },
		{ "pages_to_scan", w->last.pages_to_scan, now->pages_to_scan },
		{ "sleep_millisecs", w->last.sleep_millisecs, now->sleep_millisecs },
	};
	size_t n = 0;
	char what[sizeof w->what] = "";
	for (size_t i = 0; i < ARRAY_SIZE(k); i++)
		if (k[i].was != k[i].is && n < sizeof what)
			n += (size_t)snprintf(what + n, sizeof what - n, "%s%s %" PRIu32 " -> %" PRIu32,
					      n ? ", " : "", k[i].name, k[i].was, k[i].is);
	if (!what[0])
		return 0;
	snprintf(w->what, sizeof w->what, "%s", what);
	w->last = *now;
	w->changes++;
	w->changed_usec = now_usec ? now_usec : 1;
	w->attributed = attributed;
	return 1;
}

void ksm_watch_wrote(struct ksm_watch *w, const struct ksm_knobs *k)
{
	w->last = *k;
	w->valid = true;
}

bool ksm_watch_unexplained(const struct ksm_watch *w, usec_t now_usec)
{
	return w->changed_usec && !w->attributed &&
	       (now_usec < w->changed_usec || now_usec - w->changed_usec < KSM_WATCH_WINDOW_USEC);
}

bool managers_ksm_yield(const struct managers *m, const struct ksm_watch *w, usec_t now_usec,
			pid_t *pid, char *who, size_t len)
{
	const struct manager *x = managers_ksm_manager(m);
	*pid = 0;
	if (x) {
		*pid = x->pid;
		managers_describe(x, who, len);
		return true;
	}
	if (w && ksm_watch_unexplained(w, now_usec)) {
		snprintf(who, len, "another program (%s)", w->what);
		return true;
	}
	if (len)
		who[0] = 0;
	return false;
}

json_t *managers_owners_json(const struct managers *m, const struct ksm_watch *w, const char *ksm_owner,
			     const char *balloon_owner, usec_t now_usec)
{
	json_t *o = json_object(), *a = json_array();
	json_object_set_new(o, snap_key(SF_OWNERS_KSM), json_string(ksm_owner));
	json_object_set_new(o, snap_key(SF_OWNERS_BALLOON), json_string(balloon_owner));
	for (size_t i = 0; m && i < m->n; i++) {
		json_t *x = json_object();
		json_object_set_new(x, snap_key(SF_MANAGER_NAME), json_string(m->m[i].name));
		json_object_set_new(x, snap_key(SF_MANAGER_PID), json_integer(m->m[i].pid));
		json_object_set_new(x, snap_key(SF_MANAGER_DRIVES), json_string(managers_drives_name(m->m[i].drives)));
		json_array_append_new(a, x);
	}
	json_object_set_new(o, snap_key(SF_OWNERS_MANAGERS), a);
	if (w && w->changed_usec) {
		char buf[sizeof w->what + 48];
		double ago = now_usec > w->changed_usec ? (double)(now_usec - w->changed_usec) / 1e6 : 0;
		snprintf(buf, sizeof buf, "%s (%.0f s ago)", w->what, ago);
		json_object_set_new(o, snap_key(SF_OWNERS_KSM_OUTSIDE_CHANGE), json_string(buf));
	} else {
		json_object_set_new(o, snap_key(SF_OWNERS_KSM_OUTSIDE_CHANGE), json_null());
	}
	json_object_set_new(o, snap_key(SF_OWNERS_KSM_OUTSIDE_CHANGES), json_integer(w ? (json_int_t)w->changes : 0));
	return o;
}
