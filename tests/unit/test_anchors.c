/* Unit tests for policy/anchor_proxmox.c and policy/anchor_mom.c: the
 * Proxmox VE and oVirt MOM balloon rules, ported verbatim.
 *
 * Every row's expected values were computed by hand from the original code
 * (the comment names the lines each row pins; AutoBalloon.pm, pvestatd.pm
 * and 02-balloon as in anchor_mom.c), and checked against the originals run
 * in their own interpreters: AutoBalloon.pm's compute_alg1 under perl 5.36
 * and 02-balloon.policy under MOM's own evaluator (mom/Policy) with
 * Entities built as MOM's Monitor builds them. Sizes are chosen so that the
 * originals' floating-point steps are exact or far from an integer edge. */
#include "policy/anchors.h"
#include "tests/unit/harness.h"

#include <errno.h>
#include <string.h>

#define MB(x) ((uint64_t)(x) * MIB)
#define KB(x) ((uint64_t)(x) * KIB)

/* ================================================================ Proxmox */

struct pve_want {
	bool set;
	uint64_t target_bytes;
	enum anchor_pve_list list;
	enum anchor_pve_reason reason;
	bool capped;
};

struct pve_case {
	const char *name;
	struct anchor_pve_host host;
	size_t n;
	struct anchor_pve_vm vm[5];
	int64_t goal_bytes;
	enum anchor_pve_phase phase;
	bool all_pass;
	int64_t rest_bytes;
	unsigned passes;
	struct pve_want want[5];
};

/* VM shorthands: balloon, min, max, shares, freemem (MiB). */
#define PVM(b, mn, mx, sh, fr) \
	{ .balloon_bytes = MB(b), .balloon_min_bytes = MB(mn), .maxmem_bytes = MB(mx), \
	  .shares = (sh), .freemem_bytes = MB(fr) }
#define HOST(total_mib, used_mib) \
	{ .mem_total_bytes = MB(total_mib), .mem_used_bytes = MB(used_mib), \
	  .target_percent = ANCHOR_PVE_TARGET_PERCENT }

static const struct pve_case pve_cases[] = {
	{
		/* pvestatd.pm:310 goal = 4000*0.8 - 3195 = 5 MiB; AutoBalloon.pm:119,
		 * :129 neither > 10 MiB nor < -10 MiB -> :138-141 do nothing. */
		"goal 5 MiB: nothing",
		HOST(4000, 3195), 1, { PVM(512, 256, 1024, 1000, 200) },
		MB(5), ANCHOR_PVE_NOTHING, false, 0, 0,
		{ { false, 0, ANCHOR_PVE_FREE, ANCHOR_PVE_R_GOAL_SMALL, false } },
	},
	{
		/* AutoBalloon.pm:119 `$goal > 10 * 1024 * 1024` is strict: exactly
		 * 10 MiB does nothing. */
		"goal exactly 10 MiB: nothing",
		HOST(4000, 3190), 1, { PVM(512, 256, 1024, 1000, 0) },
		MB(10), ANCHOR_PVE_NOTHING, false, 0, 0,
		{ { false, 0, ANCHOR_PVE_PRESSURE, ANCHOR_PVE_R_GOAL_SMALL, false } },
	},
	{
		/* AutoBalloon.pm:129 strict too: -10 MiB does nothing. */
		"goal exactly -10 MiB: nothing",
		HOST(4000, 3210), 1, { PVM(512, 256, 1024, 1000, 300) },
		-(int64_t)MB(10), ANCHOR_PVE_NOTHING, false, 0, 0,
		{ { false, 0, ANCHOR_PVE_FREE, ANCHOR_PVE_R_GOAL_SMALL, false } },
	},
	{
		/* Grow 1200 MiB. A (freemem 50 <= 25% of min 512: :104-114 ->
		 * idlist1) first (:122): desired 512+1712 clamped to max 1024
		 * (:46-48), moved +100 MiB only (:55-57 maxchange); pass 2 finds
		 * the same value (:70-71 change 0) -> no progress. rest 1100 < goal
		 * (:123): no all-VM pass, so B (idlist2) is left alone. */
		"grow: pressure list first, capped at 100 MiB",
		HOST(4000, 2000), 2,
		{ PVM(512, 512, 1024, 1000, 50), PVM(512, 256, 1024, 1000, 300) },
		MB(1200), ANCHOR_PVE_GROW, false, MB(1100), 2,
		{ { true, MB(612), ANCHOR_PVE_PRESSURE, ANCHOR_PVE_R_GROW, true },
		  { false, 0, ANCHOR_PVE_FREE, ANCHOR_PVE_R_UNCHANGED, false } },
	},
	{
		/* Grow 400 MiB, idlist1 empty: one empty pass, rest = goal, so
		 * :123-125 runs $change_func over every VM. alloc_new = 256+256+400
		 * = 912 MiB split 1024:3072 shares (:44): B 256+228 = 484 MiB,
		 * below its balloon 512 -> shrink branch (:58-60) even in a grow;
		 * C 256+684 = 940 MiB -> +100 MiB (:55-57). rest 400-(100-28). */
		"grow: no pressure VM, all VMs by shares, one shrinks",
		HOST(4000, 2800), 2,
		{ PVM(512, 256, 1024, 1024, 300), PVM(512, 256, 1024, 3072, 300) },
		MB(400), ANCHOR_PVE_GROW, true, MB(328), 3,
		{ { true, MB(484), ANCHOR_PVE_FREE, ANCHOR_PVE_R_SHRINK, false },
		  { true, MB(612), ANCHOR_PVE_FREE, ANCHOR_PVE_R_GROW, true } },
	},
	{
		/* Grow 50 MiB, one VM: desired 480 + (20+50) = 550 MiB, within
		 * maxchange (:57 min(new, desired)); rest 0 ends :19. */
		"grow: reaches desired, not capped",
		HOST(4000, 3150), 1, { PVM(500, 480, 1024, 1024, 0) },
		MB(50), ANCHOR_PVE_GROW, false, 0, 1,
		{ { true, MB(550), ANCHOR_PVE_PRESSURE, ANCHOR_PVE_R_GROW, false } },
	},
	{
		/* Grow 1200 MiB: desired clamped to maxmem 1024 (:46-48), 1000+100
		 * capped by desired -> 1024 MiB: never above max. */
		"grow: maxmem ceiling",
		HOST(4000, 2000), 1, { PVM(1000, 512, 1024, 1000, 0) },
		MB(1200), ANCHOR_PVE_GROW, false, MB(1176), 2,
		{ { true, MB(1024), ANCHOR_PVE_PRESSURE, ANCHOR_PVE_R_GROW, false } },
	},
	{
		/* Shrink 200 MiB: idlist2 first (:132). B: alloc_new 544-200 = 344
		 * MiB -> desired 600 MiB, moved -100 MiB only (:58-60); rest -100 >
		 * goal (:133) so A (idlist1) is not touched. */
		"shrink: free list first, capped at 100 MiB",
		HOST(4000, 3400), 2,
		{ PVM(512, 512, 1024, 1000, 50), PVM(800, 256, 1024, 1024, 300) },
		-(int64_t)MB(200), ANCHOR_PVE_SHRINK, false, -(int64_t)MB(100), 2,
		{ { false, 0, ANCHOR_PVE_PRESSURE, ANCHOR_PVE_R_UNCHANGED, false },
		  { true, MB(700), ANCHOR_PVE_FREE, ANCHOR_PVE_R_SHRINK, true } },
	},
	{
		/* Shrink 200 MiB, idlist2 empty -> every VM (:133-135). A sits at
		 * its min: desired clamped up to min (:49-51), equal to balloon ->
		 * done (:61-63). D: desired 550-75 clamped to min 550 -> 550 MiB,
		 * not the -100 MiB step: the floor wins. */
		"shrink: no free VM, all VMs, min floor",
		HOST(4000, 3400), 2,
		{ PVM(512, 512, 1024, 1024, 0), PVM(600, 550, 1024, 1024, 100) },
		-(int64_t)MB(200), ANCHOR_PVE_SHRINK, true, -(int64_t)MB(150), 3,
		{ { false, 0, ANCHOR_PVE_PRESSURE, ANCHOR_PVE_R_UNCHANGED, false },
		  { true, MB(550), ANCHOR_PVE_PRESSURE, ANCHOR_PVE_R_SHRINK, false } },
	},
	{
		/* A VM below its min goes to idlist1 whatever its freemem
		 * (:107). In a shrink it is not raised: the grow branch needs
		 * $bytes > 0 (:55), so desired (min) above balloon -> done. */
		"shrink: VM below its min is left below it",
		HOST(4000, 3400), 1, { PVM(400, 512, 1024, 1000, 300) },
		-(int64_t)MB(200), ANCHOR_PVE_SHRINK, true, -(int64_t)MB(200), 2,
		{ { false, 0, ANCHOR_PVE_PRESSURE, ANCHOR_PVE_R_UNCHANGED, false } },
	},
	{
		/* :95-100 skips: no balloon answer, no `balloon` in config, lock
		 * migrate, shares 0; the one VM left grows (clamped desired, +100). */
		"skips: no balloon, no min, migrating, shares 0",
		HOST(4000, 2000), 5,
		{ PVM(0, 256, 1024, 1000, 0), PVM(512, 0, 1024, 1000, 0),
		  { .balloon_bytes = MB(512), .balloon_min_bytes = MB(256),
		    .maxmem_bytes = MB(1024), .shares = 1000, .migrating = true },
		  PVM(512, 256, 1024, 0, 0), PVM(512, 256, 1024, 1000, 0) },
		MB(1200), ANCHOR_PVE_GROW, false, MB(1100), 2,
		{ { false, 0, ANCHOR_PVE_SKIPPED, ANCHOR_PVE_R_NO_BALLOON, false },
		  { false, 0, ANCHOR_PVE_SKIPPED, ANCHOR_PVE_R_NO_MIN, false },
		  { false, 0, ANCHOR_PVE_SKIPPED, ANCHOR_PVE_R_MIGRATING, false },
		  { false, 0, ANCHOR_PVE_SKIPPED, ANCHOR_PVE_R_SHARES_ZERO, false },
		  { true, MB(612), ANCHOR_PVE_PRESSURE, ANCHOR_PVE_R_GROW, true } },
	},
	{
		/* :104-106: freemem must be > 25% of min: exactly 25% (64 of 256)
		 * is the pressure list. Grow 50 MiB: desired 256+256+50 -> 562. */
		"freemem exactly 25% of min: pressure list",
		HOST(4000, 3150), 1, { PVM(512, 256, 1024, 1024, 64) },
		MB(50), ANCHOR_PVE_GROW, false, 0, 1,
		{ { true, MB(562), ANCHOR_PVE_PRESSURE, ANCHOR_PVE_R_GROW, false } },
	},
};

static void check_pve_case(const struct pve_case *c)
{
	struct anchor_pve_round r;
	int rc = anchor_proxmox_round(&c->host, c->vm, c->n, &r);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	if (r.goal_bytes != c->goal_bytes || r.phase != c->phase ||
	    r.all_pass != c->all_pass || r.rest_bytes != c->rest_bytes ||
	    r.passes != c->passes)
		fprintf(stderr, "\n  [%s] goal %lld phase %d all %d rest %lld passes %u\n",
			c->name, (long long)r.goal_bytes, r.phase, r.all_pass,
			(long long)r.rest_bytes, r.passes);
	CU_ASSERT_EQUAL(r.goal_bytes, c->goal_bytes);
	CU_ASSERT_EQUAL(r.phase, c->phase);
	CU_ASSERT_EQUAL(r.all_pass, c->all_pass);
	CU_ASSERT_EQUAL(r.rest_bytes, c->rest_bytes);
	CU_ASSERT_EQUAL(r.passes, c->passes);
	CU_ASSERT_FALSE(r.pass_cap_hit);
	CU_ASSERT_EQUAL(r.n_vms, c->n);
	for (size_t i = 0; i < c->n; i++) {
		const struct anchor_pve_vm_out *o = &r.vm[i];
		const struct pve_want *w = &c->want[i];
		if (o->set != w->set || o->target_bytes != w->target_bytes ||
		    o->list != w->list || o->reason != w->reason || o->capped != w->capped)
			fprintf(stderr, "\n  [%s] vm %zu: set %d target %llu (%llu MiB) list %d "
				"reason %s capped %d: %s\n", c->name, i, o->set,
				(unsigned long long)o->target_bytes,
				(unsigned long long)(o->target_bytes / MIB), o->list,
				anchor_pve_reason_name(o->reason), o->capped, o->reason_text);
		CU_ASSERT_EQUAL(o->set, w->set);
		CU_ASSERT_EQUAL(o->target_bytes, w->target_bytes);
		CU_ASSERT_EQUAL(o->list, w->list);
		CU_ASSERT_EQUAL(o->reason, w->reason);
		CU_ASSERT_EQUAL(o->capped, w->capped);
		CU_ASSERT(o->reason_text[0] != '\0');
		/* Never above max; never below min unless it started below. */
		if (o->set) {
			CU_ASSERT(o->target_bytes <= c->vm[i].maxmem_bytes);
			CU_ASSERT(o->target_bytes >= c->vm[i].balloon_min_bytes);
		}
	}
}

static void test_pve_table(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(pve_cases); i++)
		check_pve_case(&pve_cases[i]);
}

/* pvestatd.pm:310 int(memtotal * target / 100 - memused): Perl's int()
 * truncates toward zero, both ways. */
static void test_pve_goal_rounding(void)
{
	struct anchor_pve_round r;
	/* 4096 MiB * 80 / 100 = 3435973836.8; - 2048 MiB = 1288490188.8 -> ...188 */
	struct anchor_pve_host h = HOST(4096, 2048);
	CU_ASSERT_EQUAL(anchor_proxmox_round(&h, NULL, 0, &r), 0);
	CU_ASSERT_EQUAL(r.goal_bytes, 1288490188);
	CU_ASSERT_EQUAL(r.phase, ANCHOR_PVE_GROW);
	/* 3435973836.8 - 4000 MiB = -758330163.2 -> -758330163 (not floor) */
	h.mem_used_bytes = MB(4000);
	CU_ASSERT_EQUAL(anchor_proxmox_round(&h, NULL, 0, &r), 0);
	CU_ASSERT_EQUAL(r.goal_bytes, -758330163);
	CU_ASSERT_EQUAL(r.phase, ANCHOR_PVE_SHRINK);
	/* ballooning-target 0 is a valid setting (NodeConfig.pm:103-110):
	 * the goal is -memused. */
	h.target_percent = 0;
	CU_ASSERT_EQUAL(anchor_proxmox_round(&h, NULL, 0, &r), 0);
	CU_ASSERT_EQUAL(r.goal_bytes, -(int64_t)MB(4000));
}

static void test_pve_errors(void)
{
	struct anchor_pve_round r;
	struct anchor_pve_host h = HOST(4000, 2000);
	struct anchor_pve_vm vm[ANCHOR_MAX_VMS + 1];
	memset(vm, 0, sizeof vm);
	CU_ASSERT_EQUAL(anchor_proxmox_round(NULL, vm, 1, &r), -EINVAL);
	CU_ASSERT_EQUAL(anchor_proxmox_round(&h, vm, 1, NULL), -EINVAL);
	CU_ASSERT_EQUAL(anchor_proxmox_round(&h, NULL, 1, &r), -EINVAL);
	CU_ASSERT_EQUAL(anchor_proxmox_round(&h, vm, ANCHOR_MAX_VMS + 1, &r), -EINVAL);
	h.target_percent = 101;   /* NodeConfig.pm: maximum 100 */
	CU_ASSERT_EQUAL(anchor_proxmox_round(&h, vm, 1, &r), -EINVAL);
	h.target_percent = 80;
	vm[0].shares = ANCHOR_PVE_MAX_SHARES + 1;  /* QemuServer.pm:333 */
	CU_ASSERT_EQUAL(anchor_proxmox_round(&h, vm, 1, &r), -EINVAL);
}

/* The same inputs in another order give the same targets (Perl's hash
 * order is random; compute_alg1 must not depend on it). */
static void test_pve_order(void)
{
	const struct pve_case *c = &pve_cases[4];
	struct anchor_pve_vm rev[2] = { c->vm[1], c->vm[0] };
	struct anchor_pve_round a, b;
	CU_ASSERT_EQUAL(anchor_proxmox_round(&c->host, c->vm, 2, &a), 0);
	CU_ASSERT_EQUAL(anchor_proxmox_round(&c->host, rev, 2, &b), 0);
	CU_ASSERT_EQUAL(a.vm[0].target_bytes, b.vm[1].target_bytes);
	CU_ASSERT_EQUAL(a.vm[1].target_bytes, b.vm[0].target_bytes);
	CU_ASSERT_EQUAL(a.rest_bytes, b.rest_bytes);
}

/* ==================================================================== MOM */

struct mom_want {
	bool set;
	uint64_t target_kib;
	enum anchor_mom_reason reason;
};

/* One guest: up to 3 samples (cur KiB, unused KiB; -1 = None), min, max. */
struct mom_guest_in {
	unsigned n;
	long long cur[3], unused[3];
	uint64_t min_kib, max_kib;
};

struct mom_case {
	const char *name;
	uint64_t total_kib;
	unsigned n_host;
	uint64_t host_free_kib[3];
	bool balloon_enabled;
	size_t n;
	struct mom_guest_in g[3];
	bool pressure, critical, aborted;
	struct mom_want want[3];
};

#define G1(c, u, mn, mx) { 1, { c }, { u }, mn, mx }

static const struct mom_case mom_cases[] = {
	{
		/* hfp 0.5 >= 0.20 (:116) -> grow_guest. gfp 0.2*(0.5/0.2) = 0.5
		 * (:77-78). used 524288-262144; floor max(0, 262144+0.5*524288 =
		 * 524288); size 524288*1.05 = 550502.4 (:88-89) wins; |26214.4| >
		 * 0.0025*524288 (:30-35) -> Control, int() -> 550502 KiB. */
		"no pressure: grow 5%",
		8388608, 1, { 4194304 }, true, 1,
		{ G1(524288, 262144, 0, 1048576) },
		false, false, false,
		{ { true, 550502, ANCHOR_MOM_R_GROW } },
	},
	{
		/* Same, guest nearly full: used 498074 + 0.5*524288 = 760218 >
		 * 550502.4 -> size = floor (:93-94): grow to keep gfp free. */
		"no pressure: grow to the free floor",
		8388608, 1, { 4194304 }, true, 1,
		{ G1(524288, 26214, 0, 1048576) },
		false, false, false,
		{ { true, 760218, ANCHOR_MOM_R_GROW } },
	},
	{
		/* floor 500000+0.5*1000000 = 1e6; size 1050000 > max -> max
		 * (:95-96). */
		"no pressure: grow capped at balloon_max",
		8388608, 1, { 4194304 }, true, 1,
		{ G1(1000000, 500000, 0, 1048576) },
		false, false, false,
		{ { true, 1048576, ANCHOR_MOM_R_GROW } },
	},
	{
		/* (:81) balloon_cur < balloon_max is false: nothing. */
		"no pressure: at max, nothing",
		8388608, 1, { 4194304 }, true, 1,
		{ G1(1048576, 100000, 0, 1048576) },
		false, false, false,
		{ { false, 0, ANCHOR_MOM_R_GROW_FULL } },
	},
	{
		/* size capped to max 1048576; |576| <= 0.0025*1048000 = 2620
		 * (:97 change_big_enough) -> nothing. */
		"no pressure: change under 0.25%, skipped",
		8388608, 1, { 4194304 }, true, 1,
		{ G1(1048000, 500000, 0, 1048576) },
		false, false, false,
		{ { false, 0, ANCHOR_MOM_R_GROW_NONE } },
	},
	{
		/* hfp 100000/1e6 = 0.1 < 0.20 (:116) -> shrink_guest. gfp
		 * 0.2*(0.1/0.2) = 0.1 (:46-47). Guest A: floor 262144+52428.8;
		 * size 524288*0.95 = 498073.6 (:55-56) -> int 498073: the 5% cap.
		 * Guest B: floor 464288+52428.8 = 516716.8 > size -> 516716 (:57-58).
		 * Guest C: floor 471860+52428.8 = 524288.8 > cur -> (:62) nothing. */
		"pressure: shrink 5%, free floor, floor above cur",
		1000000, 1, { 100000 }, true, 3,
		{ G1(524288, 262144, 0, 1048576), G1(524288, 60000, 0, 1048576),
		  G1(524288, 52428, 0, 1048576) },
		true, false, false,
		{ { true, 498073, ANCHOR_MOM_R_SHRINK }, { true, 516716, ANCHOR_MOM_R_SHRINK },
		  { false, 0, ANCHOR_MOM_R_SHRINK_NONE } },
	},
	{
		/* balloon_min floor (:52-53): max(510000, 314572.8) = 510000 >
		 * 498073.6 -> 510000. With min 523500: |788| <= 1310.72 -> (:63)
		 * not big enough. */
		"pressure: balloon_min floor; change under 0.25%",
		1000000, 1, { 100000 }, true, 2,
		{ G1(524288, 262144, 510000, 1048576), G1(524288, 262144, 523500, 1048576) },
		true, false, false,
		{ { true, 510000, ANCHOR_MOM_R_SHRINK }, { false, 0, ANCHOR_MOM_R_SHRINK_NONE } },
	},
	{
		/* hfp 0.04 <= 0.05 (:40): gfp = -0.05 + 0.04 = -0.01 (:43), not 0.
		 * A: floor 424288 - 5242.88 < 498073.6 -> 498073 (5% cap).
		 * B: floor 514288 - 5242.88 = 509045.12 -> 509045, below its
		 * used memory (514288): the guest is forced to swap. */
		"critical: host_free - 0.05 makes guest free negative",
		1000000, 1, { 40000 }, true, 2,
		{ G1(524288, 100000, 0, 1048576), G1(524288, 10000, 0, 1048576) },
		true, true, false,
		{ { true, 498073, ANCHOR_MOM_R_SHRINK }, { true, 509045, ANCHOR_MOM_R_SHRINK } },
	},
	{
		/* balloonEnabled 0 (00-defines:12): pressure but (:116) takes
		 * grow_guest with gfp 0.1: floor 314572.8, size 550502.4. */
		"pressure, balloonEnabled 0: grow only",
		1000000, 1, { 100000 }, false, 1,
		{ G1(524288, 262144, 0, 1048576) },
		false, false, false,
		{ { true, 550502, ANCHOR_MOM_R_GROW } },
	},
	{
		/* StatAvg (Entity.py:103-121): host (400000+600000)/2 -> hfp 0.5.
		 * cur avg (600000+550000+524288)/3 = 558096; unused avg skips the
		 * None: (100000+300000)/2 = 200000; used 358096; floor
		 * 358096 + 0.5*524288 (latest cur) = 620240 > 550502.4. */
		"averages over the history, None skipped",
		1000000, 2, { 400000, 600000 }, true, 1,
		{ { 3, { 600000, 550000, 524288 }, { 100000, -1, 300000 }, 0, 1048576 } },
		false, false, false,
		{ { true, 620240, ANCHOR_MOM_R_GROW } },
	},
	{
		/* A: mem_unused None in the latest sample -> (:122-124) debug, no
		 * balloon_logic; cur 400000 < min 450000 -> guest_qos (:130-134)
		 * raises it to min. B: shrink under pressure, floor min 450000 >
		 * cur (:62) -> nothing from shrink_guest, guest_qos raises it. */
		"guest_qos raises a guest below balloon_min",
		1000000, 1, { 100000 }, true, 2,
		{ G1(400000, -1, 450000, 1048576), G1(400000, 200000, 450000, 1048576) },
		true, false, false,
		{ { true, 450000, ANCHOR_MOM_R_QOS_MIN }, { true, 450000, ANCHOR_MOM_R_QOS_MIN } },
	},
	{
		/* B has no balloon info (balloon_cur None): the first loop skips
		 * it (:122-124), but guest_qos compares None < None, raises
		 * TypeError, and nothing is applied to anyone (Policy.py:96-98,
		 * PolicyEngine.py:127-129). A would have grown. */
		"a guest without balloon info aborts the round",
		8388608, 1, { 4194304 }, true, 2,
		{ G1(524288, 262144, 0, 1048576), G1(-1, 262144, 0, 1048576) },
		false, false, true,
		{ { false, 0, ANCHOR_MOM_R_ABORTED }, { false, 0, ANCHOR_MOM_R_ABORTED } },
	},
	{
		/* A guest with no sample is not in Guests (Monitor.py:138-139). */
		"a guest not monitored yet is not in Guests",
		8388608, 1, { 4194304 }, true, 2,
		{ G1(524288, 262144, 0, 1048576), { 0, { 0 }, { 0 }, 0, 1048576 } },
		false, false, false,
		{ { true, 550502, ANCHOR_MOM_R_GROW }, { false, 0, ANCHOR_MOM_R_NOT_MONITORED } },
	},
};

static void fill_mom_guest(const struct mom_guest_in *in, struct anchor_mom_guest *g)
{
	memset(g, 0, sizeof *g);
	for (unsigned k = 0; k < in->n; k++) {
		struct anchor_mom_sample s = {
			.balloon_valid = in->cur[k] >= 0,
			.balloon_cur_bytes = in->cur[k] >= 0 ? KB(in->cur[k]) : 0,
			.mem_unused_valid = in->unused[k] >= 0,
			.mem_unused_bytes = in->unused[k] >= 0 ? KB(in->unused[k]) : 0,
		};
		anchor_mom_guest_push(g, &s);
	}
	g->balloon_min_bytes = KB(in->min_kib);
	g->balloon_max_bytes = KB(in->max_kib);
}

static void check_mom_case(const struct mom_case *c)
{
	struct anchor_mom_host h;
	memset(&h, 0, sizeof h);
	for (unsigned k = 0; k < c->n_host; k++)
		anchor_mom_host_push(&h, KB(c->host_free_kib[k]), KB(c->total_kib));
	h.balloon_enabled = c->balloon_enabled;
	struct anchor_mom_guest g[3];
	for (size_t i = 0; i < c->n; i++)
		fill_mom_guest(&c->g[i], &g[i]);
	struct anchor_mom_round r;
	CU_ASSERT_EQUAL_FATAL(anchor_mom_round(&h, g, c->n, &r), 0);
	if (r.pressure != c->pressure || r.critical != c->critical || r.aborted != c->aborted)
		fprintf(stderr, "\n  [%s] hfp %.6f pressure %d critical %d aborted %d\n",
			c->name, r.host_free_percent, r.pressure, r.critical, r.aborted);
	CU_ASSERT_EQUAL(r.pressure, c->pressure);
	CU_ASSERT_EQUAL(r.critical, c->critical);
	CU_ASSERT_EQUAL(r.aborted, c->aborted);
	CU_ASSERT_EQUAL(r.n_guests, c->n);
	for (size_t i = 0; i < c->n; i++) {
		const struct anchor_mom_guest_out *o = &r.guest[i];
		const struct mom_want *w = &c->want[i];
		if (o->set != w->set || o->target_bytes != KB(w->target_kib) || o->reason != w->reason)
			fprintf(stderr, "\n  [%s] guest %zu: set %d target %llu KiB reason %s "
				"(gfp %.6f used %.2f floor %.2f size %.2f): %s\n", c->name, i,
				o->set, (unsigned long long)(o->target_bytes / KIB),
				anchor_mom_reason_name(o->reason), o->guest_free_percent,
				o->used_kib, o->floor_kib, o->size_kib, o->reason_text);
		CU_ASSERT_EQUAL(o->set, w->set);
		CU_ASSERT_EQUAL(o->target_bytes, KB(w->target_kib));
		CU_ASSERT_EQUAL(o->reason, w->reason);
		CU_ASSERT(o->reason_text[0] != '\0');
		if (o->set)
			CU_ASSERT(o->target_bytes <= KB(c->g[i].max_kib));
	}
}

static void test_mom_table(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(mom_cases); i++)
		check_mom_case(&mom_cases[i]);
}

/* The KiB boundary: bytes are floored to KiB on the way in (libvirt's
 * bytes / 1024), targets are whole KiB * 1024 on the way out. */
static void test_mom_units(void)
{
	struct anchor_mom_host h;
	memset(&h, 0, sizeof h);
	anchor_mom_host_push(&h, KB(4194304) + 1023, KB(8388608) + 1023);
	h.balloon_enabled = true;
	struct anchor_mom_guest g;
	memset(&g, 0, sizeof g);
	struct anchor_mom_sample s = { true, KB(524288) + 1023, true, KB(262144) + 1023 };
	anchor_mom_guest_push(&g, &s);
	g.balloon_max_bytes = KB(1048576) + 1023;
	struct anchor_mom_round r;
	CU_ASSERT_EQUAL(anchor_mom_round(&h, &g, 1, &r), 0);
	CU_ASSERT_TRUE(r.guest[0].set);
	CU_ASSERT_EQUAL(r.guest[0].target_bytes, KB(550502));  /* as in row 1 */
	CU_ASSERT_EQUAL(r.guest[0].target_bytes % KIB, 0);
	CU_ASSERT_DOUBLE_EQUAL(r.host_free_percent, 0.5, 1e-12);
}

/* Monitor.py:120-123 keeps sample-history-length = 10 samples. */
static void test_mom_history(void)
{
	struct anchor_mom_host h;
	memset(&h, 0, sizeof h);
	struct anchor_mom_guest g;
	memset(&g, 0, sizeof g);
	for (unsigned k = 1; k <= 12; k++) {
		anchor_mom_host_push(&h, KB(k), KB(100));
		struct anchor_mom_sample s = { true, KB(k), true, KB(k) };
		anchor_mom_guest_push(&g, &s);
	}
	CU_ASSERT_EQUAL(h.n_samples, ANCHOR_MOM_HISTORY);
	CU_ASSERT_EQUAL(h.mem_free_bytes[0], KB(3));
	CU_ASSERT_EQUAL(h.mem_free_bytes[9], KB(12));
	CU_ASSERT_EQUAL(g.n_samples, ANCHOR_MOM_HISTORY);
	CU_ASSERT_EQUAL(g.samples[0].balloon_cur_bytes, KB(3));
	CU_ASSERT_EQUAL(g.samples[9].balloon_cur_bytes, KB(12));
	/* StatAvg of 3..12 KiB = 7.5 KiB: hfp = 7.5/100 */
	struct anchor_mom_round r;
	CU_ASSERT_EQUAL(anchor_mom_round(&h, NULL, 0, &r), 0);
	CU_ASSERT_DOUBLE_EQUAL(r.host_free_avg_kib, 7.5, 1e-12);
	CU_ASSERT_DOUBLE_EQUAL(r.host_free_percent, 0.075, 1e-12);
}

static void test_mom_errors(void)
{
	struct anchor_mom_host h;
	memset(&h, 0, sizeof h);
	struct anchor_mom_round r;
	struct anchor_mom_guest g[ANCHOR_MAX_VMS + 1];
	memset(g, 0, sizeof g);
	/* PolicyEngine.py:122-124: no host sample, no round. */
	CU_ASSERT_EQUAL(anchor_mom_round(&h, g, 1, &r), -ENODATA);
	/* 02-balloon:113 would divide by zero. */
	anchor_mom_host_push(&h, 0, 0);
	CU_ASSERT_EQUAL(anchor_mom_round(&h, g, 1, &r), -EDOM);
	anchor_mom_host_push(&h, KB(1), KB(100));
	CU_ASSERT_EQUAL(anchor_mom_round(NULL, g, 1, &r), -EINVAL);
	CU_ASSERT_EQUAL(anchor_mom_round(&h, g, 1, NULL), -EINVAL);
	CU_ASSERT_EQUAL(anchor_mom_round(&h, NULL, 1, &r), -EINVAL);
	CU_ASSERT_EQUAL(anchor_mom_round(&h, g, ANCHOR_MAX_VMS + 1, &r), -EINVAL);
}

static void test_reason_names(void)
{
	for (int k = ANCHOR_PVE_R_NO_BALLOON; k <= ANCHOR_PVE_R_SHRINK; k++)
		CU_ASSERT_STRING_NOT_EQUAL(anchor_pve_reason_name(k), "?");
	for (int k = ANCHOR_MOM_R_NOT_MONITORED; k <= ANCHOR_MOM_R_ABORTED; k++)
		CU_ASSERT_STRING_NOT_EQUAL(anchor_mom_reason_name(k), "?");
}

int main(void)
{
	KSMD_TEST_INIT();
	static const struct ksmd_test pve[] = {
		{ "table: every branch of compute_alg1", test_pve_table },
		{ "goal rounding (int toward zero)", test_pve_goal_rounding },
		{ "invalid inputs", test_pve_errors },
		{ "VM order does not matter", test_pve_order },
		{ NULL, NULL },
	};
	static const struct ksmd_test mom[] = {
		{ "table: every branch of 02-balloon.policy", test_mom_table },
		{ "KiB boundary", test_mom_units },
		{ "history of 10 samples, StatAvg", test_mom_history },
		{ "invalid inputs", test_mom_errors },
		{ "reason names", test_reason_names },
		{ NULL, NULL },
	};
	ksmd_add_suite("anchor_proxmox", pve);
	ksmd_add_suite("anchor_mom", mom);
	return ksmd_run_tests();
}
