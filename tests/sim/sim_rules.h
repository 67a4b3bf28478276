/* sim_rules.h — the anchors' rules that policy/anchor_*.c do not port,
 * ported here for the policy simulator (tests/sim/policy_sim.c):
 *
 *   - oVirt MOM's KSM rule as vdsm ships it (03-ksm.policy, with its
 *     ksm_committed term) and MOM's KSM controller;
 *   - Proxmox VE's KSM rule: ksmtuned as pve's ksm-control-daemon ships it
 *     (PSS as the committed metric, 100 ms sleep baseline);
 *   - Xen squeezed's balancer (xenopsd's squeezed, now in xen-api):
 *     Squeezer.one_iteration with its stuckness monitor, the two-phase
 *     target sets, and the balance loop around it.
 *
 * Each is a port of one upstream file, block by block, in the original's
 * units (KiB) and arithmetic (Python float, bash and OCaml integers); every
 * block in sim_rules.c names the lines it ports. The upstream files and
 * the commits they were read at:
 *
 *   oVirt/vdsm @ fd4b0df20b9bc79864ba0d11c3c1140fb1de194a
 *     static/etc/vdsm/mom.d/03-ksm.policy   lines 8-26 (constants), 29-35
 *                          (change_npages), 59-77 (apply_NUMA_policy),
 *                          86-117 (the rule; ksm_committed at line 87)
 *                          (last changed by de1b5811568680a2bcf82b89a63e6f4a058aec43)
 *     static/etc/vdsm/mom.d/00-defines.policy  lines 10-11 (ksmMergeAcrossNodes 1,
 *                          ksmEnabled 1)
 *     static/etc/vdsm/mom.conf.in  lines 8-35 (every interval 15 s, history
 *                          10; controllers Balloon, KSM), 83 (host collectors
 *                          HostMemory, HostKSM, HostCpu)
 *     lib/vdsm/supervdsm_api/ksm.py  lines 8-26 (ksmTune writes the values
 *                          to /sys/kernel/mm/ksm as given)
 *   oVirt/mom @ 3de1c8e6bcb9da716b0aec96f8c38df6e79ef55a
 *     mom/Collectors/HostKSM.py   lines 91-108 (ksm_shareable: sum of `ps -o
 *                          vsz` of every qemu process, KiB), 110-117
 *     mom/Collectors/HostMemory.py lines 44-77 (mem_available = MemTotal,
 *                          mem_free = MemFree + Buffers + Cached, KiB)
 *     mom/Entity.py               lines 103-121 (StatAvg: float(total / n))
 *     mom/Controllers/KSM.py      lines 43-59 (int() of each control, written
 *                          only when it differs from the sampled value)
 *   proxmox/ksm-control-daemon @ 23493367096149c17219da76c035c127cd7e19f1
 *     ksm-control-scripts.org.tar.gz: ksm-control-scripts.org/ksmtuned
 *                          (line numbers of that original, before the
 *                          package's patches below are applied)
 *                          lines 32-56 (settings, sleep, thres), 71-81
 *                          (committed, free), 83-93 (increase_npages),
 *                          96-117 (adjust), 123-131 (loop: sleep, then adjust)
 *     debian/patches/series: ksmtuned.diff (progname kvm; plain sleep),
 *                          adjust-ksm-slepp.diff (KSM_SLEEP_MSEC 10 -> 100),
 *                          awk-printf.diff (printf %.0f sums),
 *                          use-pss-instead-of-rsz.diff (KSM_PS_METRIC=pss)
 *   xapi-project/xen-api @ e2ee48d6883e0b98c4d219d3f0778a10c6655607
 *     ocaml/squeezed/lib/squeeze.ml   (last changed by
 *                          eb801de661df21e5f4837db12e9c4a90198f7136)
 *                          lines 118-143 (direction, has_hit_target),
 *                          160-261 (Stuckness_monitor, 5 s), 271-283
 *                          (min_freeable, range), 292-352 (Proportional),
 *                          368-509 (Squeezer.one_iteration), 616-752
 *                          (change_host_free_memory), 794-824
 *                          (balance_memory, is_host_memory_unbalanced)
 *     ocaml/squeezed/src/squeeze_xen.ml  lines 63-65 (low_mem_emergency_pool
 *                          64 MiB), 698 (inaccuracy_kib 4), 845-851
 *                          (extra_mem_to_keep 8 MiB, target_host_free_mem_kib,
 *                          free_memory_tolerance_kib 512), 883-884 (is_balanced)
 *     ocaml/squeezed/src/memory_server.ml lines 69-79 (balance thread: delay,
 *                          then balance if unbalanced)
 *     ocaml/squeezed/src/squeezed.ml     line 20 (balance_check_interval 10 s)
 *
 * Pure: no I/O, no clock, no allocation. */
#ifndef KSMD_TESTS_SIM_RULES_H
#define KSMD_TESTS_SIM_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_RULES_MAX 64

/* ====================================================================
 * oVirt MOM: 03-ksm.policy and the KSM controller
 * ==================================================================== */

/* What the policy reads, in MOM's units (KiB). */
struct mom_ksm_host {
	int64_t mem_available_kib;       /* Host.mem_available: MemTotal */
	double mem_free_avg_kib;         /* Host.StatAvg "mem_free": mean of the
	                                  * samples' MemFree + Buffers + Cached */
	int64_t ksm_shareable_kib;       /* Host.ksm_shareable: sum of qemu VSZ */
	int64_t ksm_run;                 /* Host.ksm_run (sysfs, latest sample) */
	int64_t ksm_pages_to_scan;       /* Host.ksm_pages_to_scan */
	int64_t ksm_sleep_millisecs;     /* Host.ksm_sleep_millisecs */
	int64_t ksm_pages_shared;        /* Host.ksm_pages_shared */
	int64_t ksm_merge_across_nodes;  /* Host.ksm_merge_across_nodes */
	int ksm_enabled;                 /* ksmEnabled (00-defines: 1) */
	int ksm_merge_across_nodes_req;  /* ksmMergeAcrossNodes (00-defines: 1) */
};

/* What the KSM controller writes (KSM.py: only values that changed). */
struct mom_ksm_out {
	bool set_run, set_pages_to_scan, set_sleep, set_merge_across_nodes;
	int64_t run, pages_to_scan, sleep_millisecs, merge_across_nodes;
	bool ksm_on;                     /* the rule took its "run KSM" branch */
	double pressure_threshold_kib;   /* ksm_pressure_threshold */
	char reason[160];
};

/* One evaluation of 03-ksm.policy, then KSM.process(). */
void mom_ksm_round(const struct mom_ksm_host *h, struct mom_ksm_out *out);

/* ====================================================================
 * Proxmox VE: ksmtuned (ksm-control-daemon)
 * ==================================================================== */

#define KSMTUNED_MONITOR_INTERVAL_S 60

struct ksmtuned {
	int64_t total_kib;               /* MemTotal at start */
	int64_t sleep_ms;                /* computed once at start */
	int64_t thres_kib;
	int64_t npages;                  /* the script's npages, 0 at start */
};

struct ksmtuned_out {
	bool stop;                       /* KSMCTL stop: run = 0 */
	int64_t pages_to_scan, sleep_millisecs; /* KSMCTL start: these, run = 1 */
	char reason[160];
};

/* The script's start (lines 45-56), for a host of mem_total_kib. */
void ksmtuned_init(struct ksmtuned *k, int64_t mem_total_kib);
/* One adjust (lines 96-117). free_kib: MemFree + Buffers + Cached;
 * committed_kib: the sum of the kvm processes' PSS. */
void ksmtuned_adjust(struct ksmtuned *k, int64_t free_kib, int64_t committed_kib,
		     struct ksmtuned_out *out);

/* ====================================================================
 * Xen squeezed
 * ==================================================================== */

#define SQ_ASSUME_STUCK_AFTER_S 5.0      /* squeeze.ml:166 */
#define SQ_INACCURACY_KIB 4              /* squeeze_xen.ml:698 */
#define SQ_TARGET_HOST_FREE_KIB ((64 + 8) * 1024) /* squeeze_xen.ml:65, 846-848 */
#define SQ_FREE_TOLERANCE_KIB 512        /* squeeze_xen.ml:851 */
#define SQ_BALANCE_CHECK_INTERVAL_S 10.0 /* squeezed.ml:20 */

struct sq_domain {
	int domid;
	bool can_balloon;
	int64_t dynamic_min_kib, target_kib, dynamic_max_kib, memory_actual_kib;
	int64_t inaccuracy_kib;
};

/* Stuckness_monitor.per_domain_state, by domid (index). */
struct sq_stuck {
	bool known;
	int64_t last_actual_kib;
	double last_makingprogress_time;
	bool stuck;
};

/* Squeezer.t */
struct sq_squeezer {
	struct sq_stuck per[SIM_RULES_MAX];
	bool non_active[SIM_RULES_MAX];
};

enum sq_result { SQ_SUCCESS, SQ_FAILED, SQ_ADJUST_TARGETS };

struct sq_iteration {
	enum sq_result result;
	size_t n_actions;
	int action_domid[SIM_RULES_MAX];
	int64_t new_target_kib[SIM_RULES_MAX];
	bool allocation_phase;
	bool active[SIM_RULES_MAX];      /* by position in the domain list */
	double gamma;
	int64_t surplus_kib;
};

void sq_squeezer_make(struct sq_squeezer *x);

/* Squeezer.one_iteration with success_condition = is_balanced (the only
 * condition balance_memory uses). Domains are given sorted by domid
 * (DomainSet order), domid < SIM_RULES_MAX. */
void sq_one_iteration(struct sq_squeezer *x, const struct sq_domain *d, size_t n,
		      int64_t free_mem_kib, int64_t host_target_kib, double now,
		      struct sq_iteration *out);

/* is_host_memory_unbalanced: one_iteration on a fresh squeezer; true when
 * it wants to set a target different from a domain's current one. */
bool sq_is_host_memory_unbalanced(const struct sq_domain *d, size_t n,
				  int64_t free_mem_kib, double now);

#endif
