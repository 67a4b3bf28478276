/* balloon_anchor.h — what bench/balloon_anchor.c (the rounds, the loop)
 * takes from bench/balloon_anchor_host.c (the host input) and
 * bench/balloon_anchor_args.c (the command line, the VMs). */
#ifndef KSMD_BENCH_BALLOON_ANCHOR_H
#define KSMD_BENCH_BALLOON_ANCHOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "balloon/balloon.h"
#include "policy/anchors.h"

struct host_in {
	char source[64];            /* "meminfo", "cgroup-v2", "cgroup-v1" */
	uint64_t total_bytes;       /* MemTotal or its cgroup analogue */
	uint64_t free_bytes;        /* MemFree analogue */
	uint64_t cache_bytes;       /* Buffers + Cached analogue */
	uint64_t available_bytes;   /* MemAvailable analogue */
	uint64_t usage_bytes;       /* cgroup usage (0 for meminfo) */
};

/* /proc/meminfo as each original reads it. Returns 0 or -errno. */
int read_meminfo(struct host_in *h);
/* The memory cgroup directory dir (v1 or v2) as a host. Returns 0 or -errno. */
int read_cgroup(const char *dir, struct host_in *h);

enum rule { RULE_PROXMOX, RULE_MOM };

struct vm {
	char name[64];
	const char *qmp_path;
	struct balloon *b;
	uint64_t min_bytes;         /* --min; 0 = the rule's default */
	bool min_set;
	unsigned shares;            /* --shares (Proxmox) */
	struct anchor_mom_guest mom; /* MOM's GuestMonitor history */
};

/* The VMs of the run, in command-line order (balloon_anchor.c). */
extern struct vm vms[ANCHOR_MAX_VMS];
extern size_t n_vms;

/* The command line, parsed. */
struct args {
	enum rule rule;
	double interval_s, duration_s;
	const char *cgroup, *log_path;
	int64_t target_percent;
	bool balloon_enabled, dry_run, verbose;
};

/* Parse the options and the VMs (into vms[]). Returns 0, 1 after --help,
 * or 2 after a message (usage or a bad name). */
int parse_args(int argc, char **argv, struct args *a);

#endif
