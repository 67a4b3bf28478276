/* verbs.c — the control verbs, named once (ctl.h). */
#include "ctl/ctl.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#endif

const struct ctl_verb ctl_verbs[CTL_N_VERBS] = {
	[CTL_STATUS] = { CTL_STATUS, "status", 0, 0, CTL_DAEMON, true, "status", "overview: host, KSM, scanner, policy, stats endpoint, guests" },
	[CTL_GUESTS] = { CTL_GUESTS, "guests", 0, 0, CTL_DAEMON, true, "guests", "one line per guest" },
	[CTL_GUEST] = { CTL_GUEST, "guest", 1, 1, CTL_DAEMON, true, "guest NAME", "everything about one guest" },
	[CTL_KSM] = { CTL_KSM, "ksm", 0, 0, CTL_DAEMON, true, "ksm", "KSM counters, pacing and the scanner's prediction" },
	[CTL_DECISIONS] = { CTL_DECISIONS, "decisions", 0, 0, CTL_DAEMON, true, "decisions", "the policy's recent decisions and their reasons" },
	[CTL_TOP] = { CTL_TOP, "top", 0, 4, CTL_CLIENT, false, "top [-n N] [-d SECONDS]",
	  "live view, refreshed every SECONDS (default 2)" },
	[CTL_GET] = { CTL_GET, "get", 0, 1, CTL_DAEMON, false, "get [KEY]", "a configuration key's value (all keys without KEY)" },
	[CTL_SET] = { CTL_SET, "set", 2, 2, CTL_DAEMON, false, "set KEY VALUE",
	  "change a live key, e.g. set scanner.pages_per_sec 2000" },
	[CTL_CONFIG] = { CTL_CONFIG, "config", 0, 0, CTL_DAEMON, false, "config", "the running configuration, in ksmd.conf syntax" },
	[CTL_PAUSE] = { CTL_PAUSE, "pause", 1, 1, CTL_DAEMON, false, "pause scanner|policy", "pause the scanner or the policy" },
	[CTL_RESUME] = { CTL_RESUME, "resume", 1, 1, CTL_DAEMON, false, "resume scanner|policy", "resume it" },
	[CTL_BALLOON] = { CTL_BALLOON, "balloon", 2, 2, CTL_DAEMON, false, "balloon GUEST SIZE|auto",
	  "set a guest's balloon by hand (auto: back to the policy)" },
	[CTL_RELOAD] = { CTL_RELOAD, "reload", 0, 0, CTL_DAEMON, false, "reload", "re-read the configuration file (as SIGHUP)" },
	[CTL_RUN] = { CTL_RUN, "run", 1, -1, CTL_CLIENT, false, "run -- CMD [ARGS]", "run CMD with its memory mergeable by KSM" },
};
const size_t ctl_n_verbs = CTL_N_VERBS;

const struct ctl_verb *ctl_verb_find(const char *name)
{
	for (size_t i = 0; i < ctl_n_verbs; i++)
		if (!strcmp(ctl_verbs[i].name, name))
			return &ctl_verbs[i];
	return NULL;
}

void ctl_print_verbs(FILE *f)
{
	for (size_t i = 0; i < ctl_n_verbs; i++)
		fprintf(f, "  %-24s %s\n", ctl_verbs[i].usage, ctl_verbs[i].help);
}

/* prctl, then execvp; -EINVAL from prctl: a kernel without per-process KSM. */
int ctl_exec_mergeable(char *const argv[])
{
	if (!argv || !argv[0])
		return -EINVAL;
	if (prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) < 0)
		return -errno;
	execvp(argv[0], argv);
	return -errno;
}
