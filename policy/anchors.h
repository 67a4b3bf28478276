/* anchors.h — two other memory managers' balloon rules, ported verbatim as
 * pure functions: the anchors of the balloon comparison benchmark
 * (bench/balloon_anchor.c drives them against real QEMU guests).
 *
 * Nothing here is ksmd's own policy (that is policy.h). Each rule is a port
 * of one upstream file, line by line, with its constants, branches and
 * roundings, including the parts that look odd; every block of the ports
 * (anchor_proxmox.c, anchor_mom.c) cites the file, the commit it was read
 * at and the lines it ports:
 *
 *   Proxmox VE auto-ballooning
 *     proxmox/pve-manager @ 14a22df35955d97dfc1af21e117dc894a29df0c9
 *       PVE/AutoBalloon.pm          compute_alg1, lines 6-151
 *       PVE/Service/pvestatd.pm     auto_ballooning, lines 296-326 (host
 *                                   inputs, 80% target, 100 MiB maxchange,
 *                                   apply); run, lines 880-896 (every 10 s,
 *                                   the first cycle skipped)
 *     proxmox/pve-common @ f665029eac78022e81810ab2e44eace57ade13fb
 *       src/PVE/ProcFSTools.pm      read_meminfo, lines 381-440
 *                                   (memused = MemTotal - MemAvailable)
 *     proxmox/qemu-server @ e6352be67f70042a7433a3a3c712b36d02f9f7cb
 *       src/PVE/QemuServer.pm       vmstatus: lines 2575-2583 (maxmem,
 *                                   balloon_min, shares), 2679-2697
 *                                   (balloon = query-balloon actual,
 *                                   freemem = guest MemFree); shares
 *                                   default 1000, lines 325-335
 *     proxmox/pve-qemu @ b43212837ac35b81a338aa9c21fb5b936a3cfe96
 *       debian/patches/pve/0013-PVE-virtio-balloon-improve-query-balloon.patch
 *                                   (free_mem = VIRTIO_BALLOON_S_MEMFREE,
 *                                   max_mem = the RAM size, in bytes)
 *
 *   oVirt MOM balloon policy as vdsm ships it
 *     oVirt/vdsm @ fd4b0df20b9bc79864ba0d11c3c1140fb1de194a
 *       static/etc/vdsm/mom.d/00-defines.policy   lines 6-14 (balloonEnabled)
 *       static/etc/vdsm/mom.d/02-balloon.policy   lines 6-136 (the rules)
 *       static/etc/vdsm/mom.conf.in               lines 7-35 (15 s, history 10)
 *       lib/vdsm/virt/vmstats.py    balloon(), lines 142-169; memory(),
 *                                   lines 455-477 (KiB fields)
 *       lib/vdsm/virt/vm.py         lines 604-611 (guaranteed memory, default
 *                                   0), 863 (balloon_min = it * 1024 KiB)
 *     oVirt/mom @ 3de1c8e6bcb9da716b0aec96f8c38df6e79ef55a
 *       mom/Collectors/HostMemory.py     lines 44-77 (mem_available =
 *                                        MemTotal, mem_free = MemFree +
 *                                        Buffers + Cached, KiB)
 *       mom/Entity.py                    lines 51-60, 90-121 (latest value,
 *                                        Stat, StatAvg), 139-143 (Control)
 *       mom/Monitor.py                   lines 111-123 (history, None for
 *                                        missing optional fields)
 *       mom/Policy/Parser.py             lines 307-342 (dynamic scopes),
 *                                        443-523 (if, arithmetic, max)
 *       mom/Policy/Policy.py             lines 81-99 (an exception aborts
 *                                        the whole evaluation)
 *       mom/PolicyEngine.py              lines 117-131 (controllers run only
 *                                        after a successful evaluation)
 *       mom/Controllers/Balloon.py       lines 29-38 (int(target), KiB)
 *
 * Units. ksmd's structs carry bytes (uint64_t), like the rest of ksmd.
 * Proxmox works in bytes too (read_meminfo multiplies kB by 1024; the
 * config's MiB are multiplied by 1024*1024 in vmstatus; QMP speaks bytes),
 * so its port needs no conversion. MOM works in KiB (vdsm's balloonInfo and
 * memoryStats, libvirt's dommemstat, /proc/meminfo kB): anchor_mom_round()
 * converts every byte input to KiB at entry with a floor division by 1024
 * (what libvirt does to QMP's bytes), computes in KiB with Python's float
 * semantics (IEEE double), truncates the target with int() as MOM's
 * controller does, and converts back (KiB * 1024, what libvirt sends to
 * QMP) at exit.
 *
 * Determinism: no I/O, no clock, no allocation; the same inputs give the
 * same outputs. Perl's hash order (keys %$vmstatus) does not matter to
 * compute_alg1: within one pass every VM's new value depends only on sums
 * taken before the pass and on its own previous value. */
#ifndef KSMD_POLICY_ANCHORS_H
#define KSMD_POLICY_ANCHORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define ANCHOR_MAX_VMS    64
#define ANCHOR_REASON_LEN 192

/* ======================================================================
 * Proxmox VE: PVE::AutoBalloon::compute_alg1, as pvestatd calls it.
 * ====================================================================== */

#define ANCHOR_PVE_INTERVAL_USEC   (10 * USEC_PER_SEC) /* pvestatd $updatetime */
#define ANCHOR_PVE_TARGET_PERCENT  80          /* ballooning-target default */
#define ANCHOR_PVE_MAXCHANGE_BYTES (100 * MIB) /* per VM per round */
#define ANCHOR_PVE_MIN_GOAL_BYTES  (10 * MIB)  /* |goal| at or below: nothing */
#define ANCHOR_PVE_DEFAULT_SHARES  1000        /* qemu-server `shares` default */
#define ANCHOR_PVE_MAX_SHARES      50000       /* qemu-server `shares` maximum */
/* Guard the port adds: compute_alg1's inner loop has no bound of its own. */
#define ANCHOR_PVE_MAX_PASSES      10000

/* The host, as pvestatd reads it (read_meminfo). */
struct anchor_pve_host {
	uint64_t mem_total_bytes;   /* memtotal: MemTotal */
	uint64_t mem_used_bytes;    /* memused: MemTotal - MemAvailable */
	unsigned target_percent;    /* node config `ballooning-target`, 0..100
	                             * (ANCHOR_PVE_TARGET_PERCENT by default;
	                             * 0 is a valid setting, not "default") */
};

/* One VM, as PVE::QemuServer::vmstatus(undef, 1) builds it. Zero means
 * "undefined or false" exactly where Perl tests truthiness. */
struct anchor_pve_vm {
	uint64_t balloon_bytes;     /* $d->{balloon}: query-balloon `actual`;
	                             * 0 = no answer (VM skipped) */
	uint64_t maxmem_bytes;      /* $d->{maxmem}: query-balloon `max_mem`
	                             * (the RAM size) */
	uint64_t balloon_min_bytes; /* $d->{balloon_min}: config `balloon` MiB *
	                             * 1 MiB; 0 = unset (VM skipped) */
	unsigned shares;            /* $d->{shares}: config `shares`, default
	                             * ANCHOR_PVE_DEFAULT_SHARES; 0 = VM skipped */
	uint64_t freemem_bytes;     /* $d->{freemem}: guest MemFree from the
	                             * balloon stats; 0 = no stats */
	bool migrating;             /* config lock 'migrate' (VM skipped) */
};

/* Which of compute_alg1's lists a VM landed in. */
enum anchor_pve_list {
	ANCHOR_PVE_SKIPPED,         /* in no list */
	ANCHOR_PVE_PRESSURE,        /* $idlist1: grown first */
	ANCHOR_PVE_FREE,            /* $idlist2: shrunk first */
};

enum anchor_pve_reason {
	ANCHOR_PVE_R_NO_BALLOON,    /* !$d->{balloon}: no balloon answer */
	ANCHOR_PVE_R_NO_MIN,        /* !$d->{balloon_min}: `balloon` unset */
	ANCHOR_PVE_R_MIGRATING,     /* lock 'migrate' */
	ANCHOR_PVE_R_SHARES_ZERO,   /* shares: 0 */
	ANCHOR_PVE_R_GOAL_SMALL,    /* |goal| <= 10 MiB: "do nothing" */
	ANCHOR_PVE_R_UNCHANGED,     /* in a list, no new value (or the same) */
	ANCHOR_PVE_R_GROW,          /* new value above balloon */
	ANCHOR_PVE_R_SHRINK,        /* new value below balloon */
};
const char *anchor_pve_reason_name(enum anchor_pve_reason r);

struct anchor_pve_vm_out {
	bool set;                   /* send `balloon value => target_bytes` */
	uint64_t target_bytes;      /* int($res->{$vmid}) when set */
	enum anchor_pve_list list;
	enum anchor_pve_reason reason;
	int64_t desired_bytes;      /* $desired of the last pass that saw the
	                             * VM (0 if none) */
	bool capped;                /* the last move was cut to +-maxchange */
	char reason_text[ANCHOR_REASON_LEN];
};

enum anchor_pve_phase {
	ANCHOR_PVE_NOTHING,         /* |goal| <= 10 MiB */
	ANCHOR_PVE_GROW,            /* goal > 10 MiB */
	ANCHOR_PVE_SHRINK,          /* goal < -10 MiB */
};

struct anchor_pve_round {
	int64_t goal_bytes;         /* int(total * target / 100 - used) */
	enum anchor_pve_phase phase;
	bool all_pass;              /* the priority list made no progress, so
	                             * $change_func ran again over every VM */
	int64_t rest_bytes;         /* what could not be placed */
	unsigned passes;            /* inner passes run, over both calls */
	bool pass_cap_hit;          /* ANCHOR_PVE_MAX_PASSES reached (guard) */
	size_t n_vms;
	struct anchor_pve_vm_out vm[ANCHOR_MAX_VMS];
};

/* One pvestatd auto-ballooning round: the goal from the host, then
 * compute_alg1 over vms[0..n_vms), then pvestatd's "no need to change"
 * filter. out->vm[i] answers vms[i]. Returns 0, or -EINVAL (NULL pointer,
 * n_vms > ANCHOR_MAX_VMS, target_percent > 100, shares > 50000). */
int anchor_proxmox_round(const struct anchor_pve_host *host,
			 const struct anchor_pve_vm *vms, size_t n_vms,
			 struct anchor_pve_round *out);

/* ======================================================================
 * oVirt MOM: vdsm's mom.d/02-balloon.policy, evaluated by MOM.
 * ====================================================================== */

/* vdsm's mom.conf.in: policy-engine-interval, host-monitor-interval and
 * guest-monitor-interval are all 15 s. MOM's own defaults
 * (mom/__init__.py:101-106) are 10 s with 5 s sampling. */
#define ANCHOR_MOM_INTERVAL_USEC   (15 * USEC_PER_SEC)
#define ANCHOR_MOM_HISTORY         10     /* sample-history-length */
#define ANCHOR_MOM_PRESSURE_THRESHOLD    0.20   /* host free fraction */
#define ANCHOR_MOM_PRESSURE_CRITICAL     0.05   /* host free fraction */
#define ANCHOR_MOM_MIN_GUEST_FREE        0.20   /* min_guest_free_percent */
#define ANCHOR_MOM_MAX_BALLOON_CHANGE    0.05   /* max_balloon_change_percent */
#define ANCHOR_MOM_MIN_BALLOON_CHANGE    0.0025 /* min_balloon_change_percent */

/* The host monitor: HostMemory samples, oldest first. MOM keeps the last
 * ANCHOR_MOM_HISTORY; Host.StatAvg averages them, Host.<field> is the
 * latest. Use anchor_mom_host_push() to append. */
struct anchor_mom_host {
	uint64_t mem_free_bytes[ANCHOR_MOM_HISTORY]; /* MemFree + Buffers +
	                             * Cached, one per sample */
	unsigned n_samples;         /* 0 = monitor not ready: no round */
	uint64_t mem_total_bytes;   /* latest MemTotal ("mem_available") */
	bool balloon_enabled;       /* balloonEnabled: 0 in 00-defines.policy,
	                             * set by the engine per cluster; when
	                             * false the rule only ever grows */
};

/* One guest monitor sample. A field MOM would see as None is !valid. */
struct anchor_mom_sample {
	bool balloon_valid;         /* vdsm's balloonInfo was present (it gives
	                             * balloon_cur, _min, _max together) */
	uint64_t balloon_cur_bytes; /* balloon_cur: the balloon's actual */
	bool mem_unused_valid;      /* vdsm's memoryStats were present */
	uint64_t mem_unused_bytes;  /* mem_unused: guest MemFree */
};

/* One guest, as the GuestMonitor holds it. */
struct anchor_mom_guest {
	struct anchor_mom_sample samples[ANCHOR_MOM_HISTORY]; /* oldest first */
	unsigned n_samples;         /* 0 = not monitored yet: not in Guests */
	uint64_t balloon_min_bytes; /* latest balloon_min: guaranteed memory
	                             * (vdsm default 0) */
	uint64_t balloon_max_bytes; /* latest balloon_max: configured memory */
};

/* Append a sample, dropping the oldest beyond ANCHOR_MOM_HISTORY
 * (Monitor.py:120-123). */
void anchor_mom_host_push(struct anchor_mom_host *h, uint64_t mem_free_bytes,
			  uint64_t mem_total_bytes);
void anchor_mom_guest_push(struct anchor_mom_guest *g,
			   const struct anchor_mom_sample *s);

enum anchor_mom_reason {
	ANCHOR_MOM_R_NOT_MONITORED, /* no sample yet: not in Guests */
	ANCHOR_MOM_R_NO_INFO,       /* "Memory information is missing" */
	ANCHOR_MOM_R_SHRINK,        /* shrink_guest set a target */
	ANCHOR_MOM_R_SHRINK_NONE,   /* shrink_guest: size above cur or change
	                             * not big enough */
	ANCHOR_MOM_R_GROW,          /* grow_guest set a target */
	ANCHOR_MOM_R_GROW_FULL,     /* grow_guest: balloon_cur >= balloon_max */
	ANCHOR_MOM_R_GROW_NONE,     /* grow_guest: change not big enough */
	ANCHOR_MOM_R_QOS_MIN,       /* guest_qos: below balloon_min, raised */
	ANCHOR_MOM_R_ABORTED,       /* another guest's missing balloon info
	                             * made guest_qos raise: no controls */
};
const char *anchor_mom_reason_name(enum anchor_mom_reason r);

struct anchor_mom_guest_out {
	bool set;                   /* balloon_target was controlled */
	uint64_t target_bytes;      /* int(target KiB) * 1024 */
	enum anchor_mom_reason reason;
	/* The policy's intermediate values, KiB (for the log): */
	double guest_free_percent;  /* a fraction, as in the policy */
	double used_kib;            /* StatAvg balloon_cur - StatAvg mem_unused */
	double floor_kib;           /* the policy's local balloon_min */
	double size_kib;            /* balloon_size before int() */
	char reason_text[ANCHOR_REASON_LEN];
};

struct anchor_mom_round {
	double host_free_avg_kib;   /* Host.StatAvg "mem_free" */
	double host_free_percent;   /* that / Host.mem_available (a fraction) */
	bool pressure;              /* < 0.20 and balloonEnabled: shrink */
	bool critical;              /* <= 0.05 */
	bool aborted;               /* the evaluation raised: nothing set */
	size_t n_guests;
	struct anchor_mom_guest_out guest[ANCHOR_MAX_VMS];
};

/* One MOM policy evaluation of 02-balloon.policy over guests[0..n) and the
 * Balloon controller's reading of it. out->guest[i] answers guests[i].
 * Returns 0; -ENODATA when the host has no sample (MOM skips the round);
 * -EDOM when mem_total is under 1 KiB (the policy would divide by zero and
 * abort); -EINVAL on a NULL pointer or n_guests > ANCHOR_MAX_VMS. */
int anchor_mom_round(const struct anchor_mom_host *host,
		     const struct anchor_mom_guest *guests, size_t n_guests,
		     struct anchor_mom_round *out);

#endif
