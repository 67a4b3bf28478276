/* host.h — collect: the host's memory, swap and pressure, and a memory
 * cgroup's limit and usage, read from /proc and the cgroup files into a
 * struct policy_host (policy/policy.h), the decide stage's input. The
 * parsers are pure (text in, numbers out) for unit tests; the collectors
 * read the files. Nothing here decides. */
#ifndef KSMD_COLLECT_HOST_H
#define KSMD_COLLECT_HOST_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/policy.h"

/* Parse /proc/meminfo text into h (mem_*, swap_*). -EINVAL if MemTotal or
 * MemAvailable is missing. */
int collect_parse_meminfo(const char *text, struct policy_host *h);
/* Parse /proc/vmstat text: pswpin, pswpout. -EINVAL if either is missing. */
int collect_parse_vmstat(const char *text, struct policy_host *h);
/* Parse /proc/pressure/memory text ("some avg10=.. total=..", "full ...");
 * sets psi_available. -EINVAL on junk. */
int collect_parse_psi(const char *text, struct policy_host *h);
/* Rates from two samples: cur->swap_*_pages_per_sec from the counters'
 * difference over the sampled_usec difference (0 if prev is NULL, time did
 * not advance or a counter went back); cur->cg_swap_out_bytes_total is
 * prev's plus the growth of cg_swap_bytes (0 without prev). */
void collect_host_rates(const struct policy_host *prev, struct policy_host *cur);

/* The directory of a memory cgroup named as in policy.budget: PATH as
 * /proc/PID/cgroup names it (relative to the memory controller's mount,
 * v1 or v2, found in /proc/self/mountinfo) or a full path under that
 * mount. Writes it to dir; -ENOENT if no memory controller is mounted or
 * the directory does not exist, -EINVAL if PATH is not absolute or
 * leaves the mount (".."). */
int collect_cgroup_resolve(const char *path, char *dir, size_t len);
/* Parse a /proc/self/mountinfo text: the memory controller's mount point
 * (a v1 "cgroup" mount with the memory option, else a cgroup2 mount) into
 * mnt. -ENOENT when there is none. */
int collect_parse_cgroup_mount(const char *mountinfo, char *mnt, size_t len, bool *v2);
/* Read a resolved memory cgroup directory into h->cg_* (v1:
 * memory.limit_in_bytes, memory.usage_in_bytes, memory.stat total_swap or
 * swap; v2: memory.max, memory.current, memory.swap.current), stamping
 * cg_valid. cg_swap_out_bytes_per_sec is left for collect_host_rates().
 * Returns 0 or -errno (cg_valid false). */
int collect_cgroup(const char *dir, struct policy_host *h);

/* Read /proc/meminfo, /proc/vmstat, /proc/pressure/memory (PSI optional)
 * into h, stamping sampled_usec; rates are left for collect_host_rates().
 * psi_trigger_fired is left as it was (the daemon owns the trigger fd).
 * Returns 0 or -errno. */
int collect_host(struct policy_host *h);
/* Same, from another root (tests): reads ROOT/proc/meminfo etc. */
int collect_host_at(const char *root, struct policy_host *h);

#endif
