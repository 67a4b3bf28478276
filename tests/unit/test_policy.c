/* Unit tests for policy/: one made-up snapshot per rule, the parsers on
 * made-up /proc text, the knob table and the decision ring. */
#include "collect/host.h"
#include "policy/policy.h"
#include "tests/unit/harness.h"
#include "tests/unit/policy_fixture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void mk(struct policy_snapshot *s, size_t n)
{
	policy_fixture(s, n);
	s->conf.idle_trim_percent = 0;   /* its own test below */
}


static void check_invariants(const struct policy_snapshot *s, const struct policy_plan *p)
{
	for (size_t i = 0; i < p->n_actions; i++) {
		const struct policy_action *a = &p->actions[i];
		const struct policy_guest *g = &s->guests[a->guest_index];
		CU_ASSERT(a->target_bytes >= g->min_bytes);
		CU_ASSERT(a->target_bytes <= g->max_bytes);
		CU_ASSERT(g->has_balloon && !g->stuck);
		CU_ASSERT(strlen(a->reason) > 10);
	}
}

static void test_ok_host_no_action(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 3);  /* 6 GiB used of 12 */
	policy_state_init(&st);
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 0);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_OK);
	CU_ASSERT_EQUAL(p.guest_used_bytes, 6 * GIB);
	CU_ASSERT_EQUAL(p.budget_bytes, 12 * GIB);
}

static void test_budget_default(void)
{
	struct policy_snapshot s;
	mk(&s, 1);
	s.conf.budget_bytes = 0;
	CU_ASSERT_EQUAL(policy_budget_bytes(&s), 15 * GIB);
}

static void test_over_budget_idle_first(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 3);
	s.conf.budget_bytes = 5 * GIB + 512 * MIB;  /* 6 GiB used: over by 512 MiB */
	s.guests[1].stat_available_bytes = 1800 * MIB;  /* g1 mostly idle */
	s.guests[1].stat_free_bytes = 1700 * MIB;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_CRITICAL);
	const struct policy_action *a = policy_find_action(&p, "g1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->kind, POLICY_ACT_SHRINK);
	CU_ASSERT_EQUAL(a->why, POLICY_WHY_HOST_PRESSURE);
	/* at the limit the whole overshoot (plus the 2% low water) goes in one
	 * tick, not max_shrink_percent_per_tick_critical (5% of 4 GiB) a tick */
	int64_t taken = 0;
	for (size_t i = 0; i < p.n_actions; i++)
		taken -= p.actions[i].delta_bytes;
	int64_t want = 512 * MIB + (int64_t)(5 * GIB + 512 * MIB) / 50;
	CU_ASSERT(taken >= want - (int64_t)MIB && taken <= want + (int64_t)MIB);
	CU_ASSERT(-a->delta_bytes > (int64_t)(4 * GIB / 20));
	CU_ASSERT(strstr(a->reason, "budget") != NULL);
	CU_ASSERT(strstr(a->reason, "lowest shares per active page") != NULL);
	/* g1 took the largest step */
	for (size_t i = 0; i < p.n_actions; i++)
		CU_ASSERT(p.actions[i].delta_bytes >= a->delta_bytes);
	check_invariants(&s, &p);
}

static void test_shares_order(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 2);
	s.conf.budget_bytes = 4 * GIB - 64 * MIB;  /* over by 64 MiB + low water */
	s.guests[0].shares = 4000;
	s.guests[1].shares = 500;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	const struct policy_action *a0 = policy_find_action(&p, "g0"), *a1 = policy_find_action(&p, "g1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a1);
	CU_ASSERT(!a0 || a0->delta_bytes > a1->delta_bytes);
}

static void test_idle_tax(void)
{
	/* g0 has twice the shares but is idle; with the 75% tax it pays first.
	 * With no tax, g1 (fewer shares) pays first. */
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 2);
	s.conf.budget_bytes = 4 * GIB - 64 * MIB;
	s.guests[0].shares = 2000;
	s.guests[0].stat_available_bytes = 1900 * MIB;
	s.guests[1].stat_available_bytes = 300 * MIB;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	const struct policy_action *a0 = policy_find_action(&p, "g0"), *a1 = policy_find_action(&p, "g1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a0);
	CU_ASSERT(!a1 || a1->delta_bytes > a0->delta_bytes);

	s.conf.idle_tax_percent = 0;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	a0 = policy_find_action(&p, "g0"); a1 = policy_find_action(&p, "g1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a1);
	CU_ASSERT(!a0 || a0->delta_bytes > a1->delta_bytes);
}

static void test_soft_pressure_slow_step(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 2);
	s.host.psi_available = true;
	s.host.psi_some_avg10_percent = 12;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_PRESSURE);
	CU_ASSERT(p.n_actions > 0);
	for (size_t i = 0; i < p.n_actions; i++) {
		CU_ASSERT(-p.actions[i].delta_bytes <= (int64_t)(4 * GIB / 100) + 1);
		CU_ASSERT(strstr(p.actions[i].reason, "PSI some avg10 12.0% > 10.0%") != NULL);
	}
	check_invariants(&s, &p);
}

static void test_settle_and_effect(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 1);
	s.host.psi_available = true;
	s.host.psi_some_avg10_percent = 30;
	policy_state_init(&st);
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 1);
	uint64_t t1 = p.actions[0].target_bytes;
	/* Next tick, balloon not there yet: wait for the effect. */
	s.now_usec += 2 * USEC_PER_SEC;
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 0);
	/* Balloon reached it, but settle (4 s) has not passed. */
	s.guests[0].balloon_actual_bytes = s.guests[0].rss_bytes = t1;
	s.guests[0].stat_available_bytes -= 2 * GIB - t1;
	s.now_usec += 1 * USEC_PER_SEC;
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 0);
	s.now_usec += 2 * USEC_PER_SEC;
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 1);
	CU_ASSERT(p.actions[0].target_bytes < t1);
}

static void test_floor_and_min_free(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 1);
	s.conf.budget_bytes = 1 * GIB;           /* far over */
	s.guests[0].min_bytes = 1990 * MIB;      /* but the floor is close */
	s.guests[0].stat_available_bytes = 2000 * MIB;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	CU_ASSERT_EQUAL(p.actions[0].target_bytes, 2 * GIB - 58 * MIB);
	CU_ASSERT(p.actions[0].target_bytes >= 1990 * MIB);
	/* Active memory + 10% keeps a busy guest where it is. */
	mk(&s, 1);
	s.conf.budget_bytes = 1 * GIB;
	s.guests[0].stat_available_bytes = 210 * MIB;  /* 10.25% available */
	policy_state_init(&st);
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 0);
}

static void test_stuck_and_no_balloon(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 3);
	s.conf.budget_bytes = 3 * GIB;
	s.guests[0].stuck = true;
	s.guests[1].has_balloon = false;
	for (int i = 0; i < 2; i++)
		s.guests[i].stat_available_bytes = 1900 * MIB;   /* most attractive, yet excluded */
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.n_actions, 1);
	CU_ASSERT_PTR_NOT_NULL(policy_find_action(&p, "g2"));
	CU_ASSERT_PTR_NULL(policy_find_action(&p, "g0"));
	CU_ASSERT_PTR_NULL(policy_find_action(&p, "g1"));
	check_invariants(&s, &p);
}

static void test_distress_grows_fast(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 2);
	s.guests[0].stat_available_bytes = 50 * MIB;   /* 2.4% */
	s.guests[1].major_faults_per_sec = 5000;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_OK);
	const struct policy_action *a0 = policy_find_action(&p, "g0"), *a1 = policy_find_action(&p, "g1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a1);
	CU_ASSERT_EQUAL(a0->why, POLICY_WHY_GUEST_DISTRESS);
	CU_ASSERT(a0->delta_bytes >= (int64_t)(4 * GIB / 10));  /* far more than a shrink step */
	CU_ASSERT(strstr(a0->reason, "available 2.4% < 5.0%") != NULL);
	CU_ASSERT(strstr(a1->reason, "major faults 5000/s > 200/s") != NULL);
	/* Grown again on the very next tick if still in distress (no settle). */
	s.now_usec += 2 * USEC_PER_SEC;
	s.guests[0].balloon_actual_bytes = a0->target_bytes;
	s.guests[0].stat_available_bytes = 60 * MIB;
	policy_decide(&s, &st, &p);
	CU_ASSERT_PTR_NOT_NULL(policy_find_action(&p, "g0"));
	check_invariants(&s, &p);
}

static void test_distress_funded_by_others(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 2);
	s.conf.budget_bytes = 4 * GIB;                 /* exactly at budget */
	s.conf.reserve_bytes = 0;                      /* nothing to borrow */
	s.guests[0].stat_available_bytes = 20 * MIB;   /* distress */
	s.guests[1].stat_available_bytes = 1900 * MIB; /* idle */
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	const struct policy_action *a0 = policy_find_action(&p, "g0"), *a1 = policy_find_action(&p, "g1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a1);
	CU_ASSERT(a0->delta_bytes > 0);
	CU_ASSERT(a1->delta_bytes < 0);
	CU_ASSERT(a0->delta_bytes <= -a1->delta_bytes + (int64_t)MIB);
}

static void test_learned_floor(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 1);
	s.guests[0].major_faults_per_sec = 1000;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.n_actions, 1);
	/* Later the guest claims to be idle and the host is over budget: it is
	 * not taken below the level where it was in distress. */
	s.now_usec += 60 * USEC_PER_SEC;
	s.guests[0].major_faults_per_sec = 0;
	s.guests[0].stat_available_bytes = 1900 * MIB;
	s.conf.budget_bytes = 1 * GIB;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.n_actions, 0);
	/* After distress_memory it may be. */
	s.now_usec += 400 * USEC_PER_SEC;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.n_actions, 1);
}

static void test_stale_stats_not_shrunk(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 2);
	s.conf.budget_bytes = 3 * GIB;
	s.guests[0].stats_age_usec = 60 * USEC_PER_SEC;
	s.guests[0].stat_available_bytes = 1900 * MIB;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_PTR_NULL(policy_find_action(&p, "g0"));
	CU_ASSERT_PTR_NOT_NULL(policy_find_action(&p, "g1"));
}

/* Critical steps do not wait to settle; stats come every few seconds. Steps
 * taken on one old sample must not each count the same free memory. */
static void test_steps_on_one_sample(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 1);
	s.conf.budget_bytes = 512 * MIB;        /* far over: critical */
	s.conf.tick_usec = 1 * USEC_PER_SEC;
	s.guests[0].stat_available_bytes = 1 * GIB;   /* active 1 GiB */
	policy_state_init(&st);
	uint64_t cur = 2 * GIB;
	for (int t = 0; t < 12; t++) {
		policy_decide(&s, &st, &p);
		CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_CRITICAL);
		check_invariants(&s, &p);
		if (t == 0)
			CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
		if (p.n_actions)
			cur = p.actions[0].target_bytes;
		/* the balloon gets there by the next tick; the stats do not move */
		s.now_usec += USEC_PER_SEC;
		s.guests[0].stats_age_usec += USEC_PER_SEC;
		s.guests[0].balloon_actual_bytes = s.guests[0].rss_bytes = cur;
	}
	CU_ASSERT(cur < 2 * GIB);
	/* never below the true working set + 10% of what is left */
	CU_ASSERT(cur >= 1 * GIB + cur / 10);
	/* a sample taken after the balloon got there counts again */
	s.guests[0].stats_age_usec = 0;
	s.guests[0].stat_available_bytes = cur - 1 * GIB;
	policy_decide(&s, &st, &p);
	CU_ASSERT(p.n_actions == 0 || p.actions[0].target_bytes >= 1 * GIB + cur / 10 - 4 * MIB);
}

/* A grow the guest's stats do not show yet earns no second grow. */
static void test_grow_waits_for_stats(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 1);
	s.guests[0].stat_available_bytes = 50 * MIB;   /* distress */
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	CU_ASSERT_EQUAL(p.actions[0].why, POLICY_WHY_GUEST_DISTRESS);
	uint64_t t1 = p.actions[0].target_bytes;
	/* the balloon got there, the stats are from before */
	s.now_usec += 1 * USEC_PER_SEC;
	s.guests[0].balloon_actual_bytes = t1;
	s.guests[0].stats_age_usec = 2 * USEC_PER_SEC;
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 0);
	/* a newer sample still in distress: grown again */
	s.now_usec += 1 * USEC_PER_SEC;
	s.guests[0].stats_age_usec = 0;
	s.guests[0].stat_available_bytes = 60 * MIB;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	CU_ASSERT(p.actions[0].target_bytes > t1);
}

static void test_deadband(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 1);
	s.conf.budget_bytes = 1 * GIB;
	s.guests[0].stat_available_bytes = 215 * MIB;  /* room to the min-free line: ~10 MiB */
	policy_state_init(&st);
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 0);  /* 10 MiB < 0.25% of 4 GiB */
}

static void test_merge_first(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 2);
	s.host.psi_available = true;
	s.host.psi_some_avg10_percent = 20;
	s.merge.available = true;
	s.merge.potential_pages = 300000;      /* ~1.1 GiB */
	s.merge.merged_pages = 1000;
	policy_state_init(&st);
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 0);
	CU_ASSERT_EQUAL(p.merge_urgency, POLICY_MERGE_URGENT);
	CU_ASSERT(strstr(p.host_reason, "merging") != NULL);
	/* Grace over, pressure persists: balloon too. */
	s.now_usec += 30 * USEC_PER_SEC;
	CU_ASSERT(policy_decide(&s, &st, &p) > 0);
	/* No pressure, gap left: normal; nothing left: idle. */
	s.host.psi_some_avg10_percent = 0;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.merge_urgency, POLICY_MERGE_NORMAL);
	s.merge.merged_pages = s.merge.potential_pages;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.merge_urgency, POLICY_MERGE_IDLE);
	/* Merged pages lower the guests' cost. */
	CU_ASSERT_EQUAL(p.guest_used_bytes, 4 * GIB - 300000ULL * 4096);
}

/* One merge threshold with the KSM executor: [ksm] min_savings when the
 * daemon gives it, else POLICY_MERGE_MIN_BYTES. */
static void test_merge_threshold(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 2);
	s.merge.available = true;
	s.merge.potential_pages = 1000 + 10 * MIB / 4096;   /* 10 MiB left to merge */
	s.merge.merged_pages = 1000;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.merge_urgency, POLICY_MERGE_NORMAL);   /* 10 MiB >= 4 MiB */
	s.merge.min_savings_bytes = 16 * MIB;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.merge_urgency, POLICY_MERGE_IDLE);     /* 10 MiB < 16 MiB */
}

/* Distress has one definition, the policy's: the snapshot asks it. */
static void test_distress_judged_once(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 2);
	s.guests[1].major_faults_per_sec = 5000;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT(!policy_guest_in_distress(&st, &p, 1));
	CU_ASSERT(policy_guest_in_distress(&st, &p, 2));
	CU_ASSERT(!policy_guest_in_distress(&st, &p, 99));
	s.now_usec += 2 * USEC_PER_SEC;
	s.guests[1].major_faults_per_sec = 0;
	policy_decide(&s, &st, &p);
	CU_ASSERT(!policy_guest_in_distress(&st, &p, 2));  /* judged at this tick, not remembered */
}

static void test_host_levels(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 1);
	policy_state_init(&st);
	s.host.swap_out_pages_per_sec = 1000;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_CRITICAL);
	CU_ASSERT(strstr(p.host_reason, "swap-out 1000") != NULL);
	s.host.swap_out_pages_per_sec = 0;
	/* Other host users leave 700 MiB: the budget shrinks to what the host
	 * can give after its reserve (2 GiB + 700 MiB - 1 GiB). */
	s.host.mem_available_bytes = 700 * MIB;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_CRITICAL);
	CU_ASSERT_EQUAL(p.budget_bytes, 2 * GIB + 700 * MIB - 1 * GIB);
	CU_ASSERT(strstr(p.host_reason, "MemAvailable 700 MiB < reserve") != NULL);
	s.host.mem_available_bytes = 8 * GIB;
	s.host.psi_available = true;
	s.host.psi_full_avg10_percent = 9;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_CRITICAL);
	s.host.psi_full_avg10_percent = 0;
	s.host.psi_trigger_fired = true;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_PRESSURE);
}

static void test_relax_and_dry_run(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 1);
	s.conf.dry_run = true;
	s.guests[0].stat_available_bytes = 300 * MIB;  /* 15%: would use more */
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_TRUE(p.dry_run);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	CU_ASSERT_EQUAL(p.actions[0].why, POLICY_WHY_RELAX);
	CU_ASSERT(p.actions[0].target_bytes <= 4 * GIB);
}

static void test_idle_trim(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 2);
	s.conf.idle_trim_percent = 30;
	s.guests[1].stat_available_bytes = 560 * MIB;  /* 27%: kept */
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_OK);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	const struct policy_action *a = policy_find_action(&p, "g0");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->why, POLICY_WHY_IDLE_TRIM);
	CU_ASSERT(-a->delta_bytes <= (int64_t)(4 * GIB / 100) + 1);  /* slow */
	CU_ASSERT(strstr(a->reason, "idle memory, g0 available 50% > 30%") != NULL);
	/* A guest in distress lately is not probed again. */
	mk(&s, 1);
	s.conf.idle_trim_percent = 30;
	s.guests[0].major_faults_per_sec = 900;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.actions[0].why, POLICY_WHY_GUEST_DISTRESS);
	s.guests[0].balloon_actual_bytes = p.actions[0].target_bytes;
	s.guests[0].major_faults_per_sec = 0;
	s.guests[0].stat_available_bytes = 2 * GIB;
	s.now_usec += 30 * USEC_PER_SEC;
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 0);
}

static void test_projection(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 2);
	s.conf.budget_bytes = 5 * GIB;
	policy_state_init(&st);
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 0);   /* 4 GiB of 5 */
	/* +400 MiB in 2 s: heading past the budget within the 4 s lookahead. */
	s.now_usec += 2 * USEC_PER_SEC;
	s.guests[0].rss_bytes += 400 * MIB;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_CRITICAL);
	CU_ASSERT(strstr(p.host_reason, "heading for") != NULL);
	CU_ASSERT(p.n_actions > 0);
}

static void test_dry_run_keeps_proposing(void)
{
	/* In dry run nothing moves the balloon: the policy does not wait for
	 * an effect that cannot come, it proposes again after settle. */
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 1);
	s.conf.dry_run = true;
	s.conf.budget_bytes = 1 * GIB;
	policy_state_init(&st);
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 1);
	CU_ASSERT_TRUE(p.dry_run);
	s.now_usec += 4 * USEC_PER_SEC;
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 1);
}

static void test_deterministic(void)
{
	struct policy_snapshot s; struct policy_state a, b; struct policy_plan p, q;
	mk(&s, 4);
	s.conf.budget_bytes = 7 * GIB;
	s.guests[2].stat_available_bytes = 10 * MIB;
	policy_state_init(&a);
	policy_state_init(&b);
	policy_decide(&s, &a, &p);
	policy_decide(&s, &b, &q);
	CU_ASSERT_EQUAL(memcmp(&p, &q, sizeof p), 0);
	CU_ASSERT_EQUAL(memcmp(&a, &b, sizeof a), 0);
}

static void test_target_outside_limits(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 1);
	s.guests[0].balloon_target_bytes = 100 * MIB;   /* below min */
	s.guests[0].stat_available_bytes = 700 * MIB;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	CU_ASSERT_EQUAL(p.actions[0].target_bytes, 512 * MIB);
	CU_ASSERT_EQUAL(p.actions[0].why, POLICY_WHY_LIMIT);
}

static void test_conf_knobs(void)
{
	struct policy_conf c;
	char err[256];
	policy_conf_defaults(&c);
	CU_ASSERT_EQUAL(policy_conf_validate(&c, err, sizeof err), 0);
	CU_ASSERT(policy_n_knobs >= 20);
	for (size_t i = 0; i < policy_n_knobs; i++) {
		CU_ASSERT_PTR_NOT_NULL(policy_knobs[i].help);
		CU_ASSERT(policy_knobs[i].offset < sizeof c);
	}
	c.idle_tax_percent = 100;
	CU_ASSERT_EQUAL(policy_conf_validate(&c, err, sizeof err), -EINVAL);
	CU_ASSERT(strstr(err, "idle_tax_percent") != NULL);
	policy_conf_defaults(&c);
	c.guest_distress_free_percent = 50;
	CU_ASSERT_EQUAL(policy_conf_validate(&c, err, sizeof err), -EINVAL);
}

static void test_ring(void)
{
	static struct policy_ring r;
	struct policy_ring_entry e;
	policy_ring_init(&r);
	CU_ASSERT_PTR_NULL(policy_ring_get(&r, 0));
	for (int i = 0; i < POLICY_RING_LEN + 5; i++) {
		memset(&e, 0, sizeof e);
		e.when_usec = (usec_t)i;
		policy_ring_push(&r, &e);
	}
	CU_ASSERT_EQUAL(r.count, POLICY_RING_LEN);
	CU_ASSERT_EQUAL(r.total, POLICY_RING_LEN + 5);
	CU_ASSERT_EQUAL(policy_ring_get(&r, 0)->when_usec, POLICY_RING_LEN + 4);
	CU_ASSERT_EQUAL(policy_ring_get(&r, POLICY_RING_LEN - 1)->when_usec, 5);
	CU_ASSERT_PTR_NULL(policy_ring_get(&r, POLICY_RING_LEN));

	struct policy_snapshot s; struct policy_state st; static struct policy_plan p;
	mk(&s, 2);
	s.guests[0].major_faults_per_sec = 1000;
	policy_state_init(&st);
	policy_ring_init(&r);
	policy_decide(&s, &st, &p);
	policy_ring_push_plan(&r, &p);
	CU_ASSERT_EQUAL(r.count, p.n_actions);
	CU_ASSERT_STRING_EQUAL(policy_ring_get(&r, 0)->reason, p.actions[p.n_actions - 1].reason);
}

static const char MEMINFO[] =
	"MemTotal:       24563244 kB\n"
	"MemFree:         1000000 kB\n"
	"MemAvailable:   20000000 kB\n"
	"Buffers:          123 kB\n"
	"SwapTotal:       2097148 kB\n"
	"SwapFree:        2097000 kB\n";

static void test_parse_meminfo(void)
{
	struct policy_host h;
	memset(&h, 0, sizeof h);
	CU_ASSERT_EQUAL(collect_parse_meminfo(MEMINFO, &h), 0);
	CU_ASSERT_EQUAL(h.mem_total_bytes, 24563244ULL * 1024);
	CU_ASSERT_EQUAL(h.mem_available_bytes, 20000000ULL * 1024);
	CU_ASSERT_EQUAL(h.mem_free_bytes, 1000000ULL * 1024);
	CU_ASSERT_EQUAL(h.swap_total_bytes, 2097148ULL * 1024);
	CU_ASSERT_EQUAL(collect_parse_meminfo("MemTotal: 5 kB\nMemFree: 3 kB\n", &h), -EINVAL);
	CU_ASSERT_EQUAL(collect_parse_meminfo("", &h), -EINVAL);
	/* A key that is a prefix of another does not match it. */
	CU_ASSERT_EQUAL(collect_parse_meminfo("MemTotalX: 1 kB\nMemAvailable: 1 kB\n", &h), -EINVAL);
}

static void test_parse_vmstat(void)
{
	struct policy_host h, prev;
	memset(&h, 0, sizeof h);
	CU_ASSERT_EQUAL(collect_parse_vmstat("nr_free_pages 5\npswpin 100\npswpout 2000\npswpinx 9\n", &h), 0);
	CU_ASSERT_EQUAL(h.pswpin_pages, 100);
	CU_ASSERT_EQUAL(h.pswpout_pages, 2000);
	CU_ASSERT_EQUAL(collect_parse_vmstat("pswpin 1\n", &h), -EINVAL);
	prev = h;
	prev.pswpin_pages = 100;
	prev.sampled_usec = 10 * USEC_PER_SEC;
	h.sampled_usec = 12 * USEC_PER_SEC;
	h.pswpin_pages = 300;
	h.pswpout_pages = 2100;
	collect_host_rates(&prev, &h);
	CU_ASSERT_DOUBLE_EQUAL(h.swap_in_pages_per_sec, 100.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(h.swap_out_pages_per_sec, 50.0, 1e-9);
	h.pswpout_pages = 1;   /* counter went back */
	collect_host_rates(&prev, &h);
	CU_ASSERT_DOUBLE_EQUAL(h.swap_out_pages_per_sec, 0.0, 1e-9);
	collect_host_rates(NULL, &h);
	CU_ASSERT_DOUBLE_EQUAL(h.swap_in_pages_per_sec, 0.0, 1e-9);
}

static void test_parse_psi(void)
{
	struct policy_host h;
	memset(&h, 0, sizeof h);
	CU_ASSERT_EQUAL(collect_parse_psi("some avg10=12.50 avg60=3.00 avg300=1.00 total=123456\n"
					 "full avg10=4.25 avg60=1.00 avg300=0.00 total=789\n", &h), 0);
	CU_ASSERT_TRUE(h.psi_available);
	CU_ASSERT_DOUBLE_EQUAL(h.psi_some_avg10_percent, 12.5, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(h.psi_full_avg10_percent, 4.25, 1e-9);
	CU_ASSERT_EQUAL(h.psi_some_total_usec, 123456);
	CU_ASSERT_EQUAL(h.psi_full_total_usec, 789);
	CU_ASSERT_EQUAL(collect_parse_psi("some avg10=1.00 avg60=0.00 avg300=0.00 total=1\n", &h), 0);
	CU_ASSERT_DOUBLE_EQUAL(h.psi_full_avg10_percent, 0, 1e-9);
	CU_ASSERT_EQUAL(collect_parse_psi("some avg10=x\n", &h), -EINVAL);
	CU_ASSERT_EQUAL(collect_parse_psi("bogus\n", &h), -EINVAL);
	CU_ASSERT_EQUAL(collect_parse_psi("", &h), -EINVAL);
	CU_ASSERT_EQUAL(collect_parse_psi("some avg10=150.0 avg60=0 avg300=0 total=1\n", &h), -EINVAL);
}

static void write_at(const char *dir, const char *rel, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s%s", dir, rel);
	FILE *f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

static void test_collect_at(void)
{
	char dir[] = "/tmp/policy-collect-XXXXXX";
	char sub[600];
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(sub, sizeof sub, "%s/proc", dir); mkdir(sub, 0755);
	snprintf(sub, sizeof sub, "%s/proc/pressure", dir); mkdir(sub, 0755);
	write_at(dir, "/proc/meminfo", MEMINFO);
	write_at(dir, "/proc/vmstat", "pswpin 7\npswpout 8\n");
	struct policy_host h;
	memset(&h, 0, sizeof h);
	CU_ASSERT_EQUAL(collect_host_at(dir, &h), 0);   /* PSI missing is fine */
	CU_ASSERT_FALSE(h.psi_available);
	CU_ASSERT_EQUAL(h.pswpout_pages, 8);
	write_at(dir, "/proc/pressure/memory", "some avg10=2.00 avg60=0 avg300=0 total=5\n");
	CU_ASSERT_EQUAL(collect_host_at(dir, &h), 0);
	CU_ASSERT_TRUE(h.psi_available);
	CU_ASSERT(h.sampled_usec > 0);
	snprintf(sub, sizeof sub, "%s/proc/pressure/memory", dir); unlink(sub);
	snprintf(sub, sizeof sub, "%s/proc/pressure", dir); rmdir(sub);
	snprintf(sub, sizeof sub, "%s/proc/meminfo", dir); unlink(sub);
	snprintf(sub, sizeof sub, "%s/proc/vmstat", dir); unlink(sub);
	snprintf(sub, sizeof sub, "%s/proc", dir); rmdir(sub);
	CU_ASSERT_EQUAL(rmdir(dir), 0);

	/* The real files of this machine. */
	memset(&h, 0, sizeof h);
	CU_ASSERT_EQUAL(collect_host(&h), 0);
	CU_ASSERT(h.mem_total_bytes > 0);
	CU_ASSERT(h.mem_available_bytes <= h.mem_total_bytes);
}

/* Swapped-out guest memory is part of what the guests cost: a host that
 * swaps must never look as if it had more room. */
static void test_swap_counts_in_cost(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 2);
	s.conf.budget_bytes = 5 * GIB;          /* RSS alone (4 GiB) fits */
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_OK);
	CU_ASSERT_EQUAL(p.guest_used_bytes, 4 * GIB);
	/* the host swapped 768 MiB of each out: RSS fell by as much */
	for (size_t i = 0; i < 2; i++) {
		s.guests[i].rss_bytes = 2 * GIB - 768 * MIB;
		s.guests[i].swap_bytes = 768 * MIB;
	}
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.guest_used_bytes, 4 * GIB);
	CU_ASSERT_EQUAL(p.guest_swap_bytes, 1536 * MIB);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_OK);
	/* more in swap than the budget leaves: over budget, and the reason says so */
	s.guests[0].swap_bytes = 2 * GIB;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.guest_used_bytes, 4 * GIB + 1280 * MIB);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_CRITICAL);
	CU_ASSERT(strstr(p.host_reason, "swapped out") != NULL);
	CU_ASSERT(p.n_actions > 0);
	/* a guest that has room is never grown back while the cost includes swap */
	for (size_t i = 0; i < p.n_actions; i++)
		CU_ASSERT_EQUAL(p.actions[i].kind, POLICY_ACT_SHRINK);
	check_invariants(&s, &p);
}

/* policy.budget = cgroup:PATH: the cgroup's limit is the budget, its swap
 * growth is critical, and a guest in distress borrows no host reserve. */
static void test_cgroup_budget(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 2);
	s.conf.budget_bytes = 0;
	snprintf(s.conf.budget_cgroup, sizeof s.conf.budget_cgroup, "/machine.slice");
	/* not read (yet): MemTotal - reserve */
	CU_ASSERT_EQUAL(policy_budget_bytes(&s), 15 * GIB);
	s.host.cg_valid = true;
	s.host.cg_limited = false;
	CU_ASSERT_EQUAL(policy_budget_bytes(&s), 15 * GIB);
	s.host.cg_limited = true;
	s.host.cg_limit_bytes = 5 * GIB;
	s.host.cg_usage_bytes = 4 * GIB;
	s.conf.limit_headroom_percent = 0;
	CU_ASSERT_EQUAL(policy_budget_bytes(&s), 5 * GIB);
	s.conf.limit_headroom_percent = 10;     /* the default */
	CU_ASSERT_EQUAL(policy_budget_bytes(&s), 5 * GIB - 512 * MIB);
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_OK);
	CU_ASSERT_EQUAL(p.budget_bytes, 5 * GIB - 512 * MIB);
	/* the cost inside the headroom: over budget, shed before the limit */
	s.host.cg_limit_bytes = 4 * GIB + 256 * MIB;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_CRITICAL);
	CU_ASSERT(p.n_actions > 0);
	s.conf.limit_headroom_percent = 0;
	/* the limit follows: lowered below the cost, the whole overshoot goes at once */
	s.host.cg_limit_bytes = 3 * GIB;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_CRITICAL);
	CU_ASSERT(strstr(p.host_reason, "cgroup limit") != NULL);
	int64_t taken = 0;
	for (size_t i = 0; i < p.n_actions; i++)
		taken -= p.actions[i].delta_bytes;
	CU_ASSERT(taken >= (int64_t)(1 * GIB));
	check_invariants(&s, &p);
	/* the cgroup swapping out: critical even within the limit */
	policy_state_init(&st);
	s.host.cg_limit_bytes = 5 * GIB;
	s.host.cg_swap_out_bytes_per_sec = 8 * MIB;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_CRITICAL);
	CU_ASSERT(strstr(p.host_reason, "cgroup swap-out 2048 pages/s") != NULL);
	/* unmerged duplicates near the limit: merge at full speed, before the
	 * kernel swaps them out */
	s.host.cg_swap_out_bytes_per_sec = 0;
	s.conf.budget_cgroup[0] = 0;
	s.conf.budget_bytes = 0;
	s.merge.available = true;
	s.merge.potential_pages = 64 * MIB / 4096;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.merge_urgency, POLICY_MERGE_NORMAL);
	snprintf(s.conf.budget_cgroup, sizeof s.conf.budget_cgroup, "/machine.slice");
	s.host.cg_limit_bytes = 4 * GIB + 512 * MIB;   /* cost 4 GiB: above 80% */
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_OK);
	CU_ASSERT_EQUAL(p.merge_urgency, POLICY_MERGE_URGENT);
	s.merge.available = false;
	/* distress at the limit: funded by the others, not by the host reserve */
	s.conf.limit_headroom_percent = 0;      /* and no headroom to use either */
	s.host.cg_limit_bytes = 4 * GIB;
	s.guests[0].stat_available_bytes = 20 * MIB;    /* 1%: distress */
	s.guests[1].stat_available_bytes = 100 * MIB;   /* nothing to give either */
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_PTR_NULL(policy_find_action(&p, "g0"));
	/* with the default headroom, the guest in distress may use it */
	s.conf.limit_headroom_percent = 10;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	const struct policy_action *a = policy_find_action(&p, "g0");
	CU_ASSERT_PTR_NOT_NULL(a);
	if (a) {
		CU_ASSERT_EQUAL(a->kind, POLICY_ACT_GROW);
		CU_ASSERT(a->delta_bytes <= (int64_t)(4 * GIB / 10) + (int64_t)MIB);
	}
	/* the same with a plain budget borrows a quarter of the reserve */
	s.conf.budget_cgroup[0] = 0;
	s.conf.budget_bytes = 4 * GIB;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	a = policy_find_action(&p, "g0");
	CU_ASSERT_PTR_NOT_NULL(a);
	if (a)
		CU_ASSERT_EQUAL(a->kind, POLICY_ACT_GROW);
}

static void test_cgroup_mount_and_read(void)
{
	char mnt[256];
	bool v2 = true;
	static const char v1[] =
		"25 1 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
		"30 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n"
		"31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
		"33 25 0:29 / /sys/fs/cgroup/memory rw,nosuid shared:9 - cgroup cgroup rw,memory\n";
	CU_ASSERT_EQUAL(collect_parse_cgroup_mount(v1, mnt, sizeof mnt, &v2), 0);
	CU_ASSERT_STRING_EQUAL(mnt, "/sys/fs/cgroup/memory");
	CU_ASSERT_FALSE(v2);
	static const char only2[] = "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
	CU_ASSERT_EQUAL(collect_parse_cgroup_mount(only2, mnt, sizeof mnt, &v2), 0);
	CU_ASSERT_STRING_EQUAL(mnt, "/sys/fs/cgroup");
	CU_ASSERT_TRUE(v2);
	CU_ASSERT_EQUAL(collect_parse_cgroup_mount("1 0 0:1 / / rw - ext4 /dev/sda rw\n", mnt, sizeof mnt, &v2),
			-ENOENT);
	char dir[512];
	CU_ASSERT_EQUAL(collect_cgroup_resolve("machine.slice", dir, sizeof dir), -EINVAL);
	CU_ASSERT_EQUAL(collect_cgroup_resolve("/a/../../etc", dir, sizeof dir), -EINVAL);

	/* a v1 directory and a v2 one, made up */
	char d1[] = "/tmp/ksmd-cg-XXXXXX";
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(d1));
	write_at(d1, "/memory.limit_in_bytes", "1073741824\n");
	write_at(d1, "/memory.usage_in_bytes", "536870912\n");
	write_at(d1, "/memory.stat", "cache 0\nswap 4096\ntotal_cache 0\ntotal_swap 8192\n");
	struct policy_host h, prev;
	memset(&h, 0, sizeof h);
	CU_ASSERT_EQUAL(collect_cgroup(d1, &h), 0);
	CU_ASSERT_TRUE(h.cg_valid && h.cg_limited);
	CU_ASSERT_EQUAL(h.cg_limit_bytes, 1 * GIB);
	CU_ASSERT_EQUAL(h.cg_usage_bytes, 512 * MIB);
	CU_ASSERT_EQUAL(h.cg_swap_bytes, 8192);
	prev = h;
	h.sampled_usec = prev.sampled_usec + 2 * USEC_PER_SEC;
	write_at(d1, "/memory.stat", "swap 4096\ntotal_swap 4202496\n");
	CU_ASSERT_EQUAL(collect_cgroup(d1, &h), 0);
	collect_host_rates(&prev, &h);
	CU_ASSERT_DOUBLE_EQUAL(h.cg_swap_out_bytes_per_sec, 2 * MIB, 1);
	write_at(d1, "/memory.limit_in_bytes", "9223372036854771712\n");  /* v1's "no limit" */
	CU_ASSERT_EQUAL(collect_cgroup(d1, &h), 0);
	CU_ASSERT_FALSE(h.cg_limited);
	char f[600];
	const char *v1files[] = { "memory.limit_in_bytes", "memory.usage_in_bytes", "memory.stat" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(f, sizeof f, "%s/%s", d1, v1files[i]);
		unlink(f);
	}
	CU_ASSERT_EQUAL(collect_cgroup(d1, &h), -ENOENT);
	CU_ASSERT_FALSE(h.cg_valid);
	write_at(d1, "/memory.max", "max\n");
	write_at(d1, "/memory.current", "1000\n");
	write_at(d1, "/memory.swap.current", "4096\n");
	CU_ASSERT_EQUAL(collect_cgroup(d1, &h), 0);
	CU_ASSERT_FALSE(h.cg_limited);
	CU_ASSERT_EQUAL(h.cg_swap_bytes, 4096);
	write_at(d1, "/memory.max", "2147483648\n");
	CU_ASSERT_EQUAL(collect_cgroup(d1, &h), 0);
	CU_ASSERT_TRUE(h.cg_limited);
	CU_ASSERT_EQUAL(h.cg_limit_bytes, 2 * GIB);
	const char *v2files[] = { "memory.max", "memory.current", "memory.swap.current" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(f, sizeof f, "%s/%s", d1, v2files[i]);
		unlink(f);
	}
	CU_ASSERT_EQUAL(rmdir(d1), 0);
}

/* A burst: the host sees a guest's RSS grow before its stats show it. The
 * guest that allocates is not shrunk (and if it would run out before its
 * stats catch up, it is given memory at once, with no learned floor); the
 * cost two ticks ahead is shed from the others in one step, no more. */
static void test_burst_seen_by_the_host(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 2);
	s.conf.tick_usec = USEC_PER_SEC;
	s.conf.budget_bytes = 4 * GIB + 400 * MIB;      /* 4 GiB used: ok */
	s.guests[1].stat_available_bytes = 1800 * MIB;  /* g1 idle */
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_OK);
	/* one second later g0's RSS grew by 150 MiB; its stats are 1 s old */
	s.now_usec += USEC_PER_SEC;
	s.guests[0].rss_bytes += 150 * MIB;
	s.guests[0].stats_age_usec = USEC_PER_SEC;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_CRITICAL);
	CU_ASSERT_PTR_NULL(policy_find_action(&p, "g0"));
	const struct policy_action *a = policy_find_action(&p, "g1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->kind, POLICY_ACT_SHRINK);
	/* two ticks at 150 MiB/s: 4150 + 300 - 4400 = 50 MiB over, plus 2% low
	 * water: more than the 5%-of-max critical cap (205 MiB) is not taken,
	 * and what two ticks bring is */
	int64_t want = 50 * MIB + (int64_t)(4 * GIB + 400 * MIB) / 50;
	CU_ASSERT(-a->delta_bytes >= want - (int64_t)MIB && -a->delta_bytes <= want + 4 * (int64_t)MIB);
	/* the burst goes on and g0's 1 GiB available runs out within its
	 * stats' age plus two ticks: memory back at once, no learned floor */
	s.now_usec += USEC_PER_SEC;
	s.guests[0].rss_bytes += 400 * MIB;
	s.guests[0].stats_age_usec = 2 * USEC_PER_SEC;
	s.guests[1].balloon_actual_bytes = s.guests[1].balloon_target_bytes = a->target_bytes;
	s.conf.budget_bytes = 8 * GIB;
	policy_decide(&s, &st, &p);
	a = policy_find_action(&p, "g0");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->kind, POLICY_ACT_GROW);
	CU_ASSERT_EQUAL(a->why, POLICY_WHY_GUEST_DISTRESS);
	CU_ASSERT(strstr(a->reason, "allocating fast") != NULL);
	CU_ASSERT_EQUAL(st.guests[0].distress_usec, 0);
	CU_ASSERT_EQUAL(st.guests[0].distress_level_bytes, 0);
	check_invariants(&s, &p);
}

/* Release: free memory the host still backs is taken by the balloon for a
 * moment and given back: the guest keeps its size, the host drops the
 * pages. Not for guests with free page reporting, not twice a minute. */
static void test_release_backed_free(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 1);
	struct policy_guest *g = &s.guests[0];
	g->host_active_valid = true;
	g->host_active_bytes = 256 * MIB;
	g->host_active_age_usec = USEC_PER_SEC;
	g->stat_free_bytes = 1 * GIB;          /* 1 GiB free ... */
	g->ram_resident_bytes = 2 * GIB;       /* ... all of it backed */
	g->free_page_reporting = true;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.n_actions, 0);       /* it reports its free pages itself */
	g->free_page_reporting = false;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	const struct policy_action *a = &p.actions[0];
	CU_ASSERT_EQUAL(a->why, POLICY_WHY_RELEASE);
	CU_ASSERT_EQUAL(a->kind, POLICY_ACT_SHRINK);
	CU_ASSERT(strstr(a->reason, "release") != NULL);
	/* the backed free memory less the guest's free margin, above its floor */
	CU_ASSERT(a->target_bytes >= 1 * GIB + 204 * MIB && a->target_bytes <= 1 * GIB + 206 * MIB);
	CU_ASSERT(a->target_bytes >= s.guests[0].min_bytes);
	/* the balloon reaches it: the guest gets its size back */
	s.now_usec += 2 * USEC_PER_SEC;
	g->balloon_actual_bytes = g->balloon_target_bytes = a->target_bytes;
	g->rss_bytes = a->target_bytes;
	g->ram_resident_bytes = a->target_bytes;
	g->stat_free_bytes = 200 * MIB;
	g->host_active_age_usec = 5 * USEC_PER_SEC;   /* read before the release */
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	CU_ASSERT_EQUAL(p.actions[0].why, POLICY_WHY_RELEASE);
	CU_ASSERT_EQUAL(p.actions[0].kind, POLICY_ACT_GROW);
	CU_ASSERT_EQUAL(p.actions[0].target_bytes, 2 * GIB);
	/* back at 2 GiB, its new free memory unbacked: nothing more to release,
	 * and not again within a minute even if a stale read says otherwise */
	s.now_usec += 2 * USEC_PER_SEC;
	g->balloon_actual_bytes = g->balloon_target_bytes = 2 * GIB;
	g->stat_free_bytes = 1 * GIB;
	g->stats_age_usec = 0;
	g->host_active_age_usec = 0;
	policy_decide(&s, &st, &p);
	CU_ASSERT_PTR_NULL(policy_find_action(&p, "g0"));
	g->ram_resident_bytes = 2 * GIB;
	s.now_usec += 30 * USEC_PER_SEC;
	policy_decide(&s, &st, &p);
	CU_ASSERT_PTR_NULL(policy_find_action(&p, "g0"));
	s.now_usec += 40 * USEC_PER_SEC;
	policy_decide(&s, &st, &p);
	a = policy_find_action(&p, "g0");
	CU_ASSERT_PTR_NOT_NULL(a);
	if (a)
		CU_ASSERT_EQUAL(a->why, POLICY_WHY_RELEASE);
	/* off with release_min = 0 */
	s.conf.release_min_bytes = 0;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.n_actions, 0);
}

/* Under a cgroup's limit, idle memory is trimmed only when the guests' cost
 * is above limit_trim_percent of the budget. */
static void test_limit_trim(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture(&s, 1);                  /* idle trim on, as shipped */
	s.guests[0].stat_available_bytes = 1800 * MIB;   /* 88% available: idle */
	s.conf.budget_bytes = 0;
	snprintf(s.conf.budget_cgroup, sizeof s.conf.budget_cgroup, "/vms");
	s.host.cg_valid = s.host.cg_limited = true;
	s.host.cg_limit_bytes = 4 * GIB;        /* budget 3.6 GiB; cost 2 GiB = 56% */
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.n_actions, 0);
	s.host.cg_limit_bytes = 2 * GIB + 700 * MIB;   /* budget 2.43 GiB: 82% */
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	CU_ASSERT_EQUAL(p.actions[0].why, POLICY_WHY_IDLE_TRIM);
	/* a plain budget trims as before */
	s.conf.budget_cgroup[0] = 0;
	s.conf.budget_bytes = 12 * GIB;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	CU_ASSERT_EQUAL(p.actions[0].why, POLICY_WHY_IDLE_TRIM);
}

/* A burst is answered with no learned floor; the stats that follow, taken
 * before the answer reached the guest, show the shortage it answered: that
 * is no distress either, and the guest may give the memory back once a
 * newer sample shows it free again. */
static void test_burst_answer_no_floor(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	mk(&s, 1);
	struct policy_guest *g = &s.guests[0];
	s.conf.tick_usec = USEC_PER_SEC;
	s.conf.budget_bytes = 8 * GIB;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.n_actions, 0);
	/* 800 MiB in a second, stats 1 s old: a burst, answered at once */
	s.now_usec += USEC_PER_SEC;
	g->rss_bytes += 800 * MIB;
	g->stats_age_usec = USEC_PER_SEC;
	policy_decide(&s, &st, &p);
	const struct policy_action *a = policy_find_action(&p, "g0");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->why, POLICY_WHY_GUEST_DISTRESS);
	CU_ASSERT(strstr(a->reason, "allocating fast") != NULL);
	uint64_t grown = a->target_bytes;
	CU_ASSERT(grown > 3 * GIB);
	/* the balloon got there; a sample taken half a second before it did
	 * shows the guest short (50 MiB available) */
	s.now_usec += USEC_PER_SEC;
	g->balloon_actual_bytes = g->balloon_target_bytes = grown;
	g->stats_age_usec = USEC_PER_SEC / 2;
	g->stat_available_bytes = 50 * MIB;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.n_actions, 0);
	CU_ASSERT_EQUAL(st.guests[0].distress_usec, 0);
	CU_ASSERT_EQUAL(st.guests[0].distress_level_bytes, 0);
	CU_ASSERT(!policy_guest_in_distress(&st, &p, g->id));
	/* a sample after the grow: the burst is freed; over budget, the guest
	 * gives memory back below the size the burst was given */
	s.now_usec += 8 * USEC_PER_SEC;
	g->stats_age_usec = 0;
	g->stat_available_bytes = 3 * GIB;
	s.conf.budget_bytes = 2 * GIB + 512 * MIB;
	policy_decide(&s, &st, &p);
	a = policy_find_action(&p, "g0");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->kind, POLICY_ACT_SHRINK);
	CU_ASSERT(a->target_bytes < grown);
	/* a sample after the grow that still shows the guest short is distress */
	policy_state_init(&st);
	g->balloon_actual_bytes = g->balloon_target_bytes = 2 * GIB;
	g->stat_available_bytes = 50 * MIB;
	s.conf.budget_bytes = 8 * GIB;
	policy_decide(&s, &st, &p);
	a = policy_find_action(&p, "g0");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->why, POLICY_WHY_GUEST_DISTRESS);
	CU_ASSERT(st.guests[0].distress_level_bytes > 0);
	check_invariants(&s, &p);
}

/* Under a cgroup's limit, what ksmd took is given back once the cost is
 * below limit_trim_percent of the budget: after the settle, with its
 * reason; never under a plain budget. */
static void test_size_back_under_limit(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture(&s, 1);                  /* idle trim on, as shipped */
	struct policy_guest *g = &s.guests[0];
	g->stat_available_bytes = 1800 * MIB;   /* 88% available: idle */
	s.conf.budget_bytes = 0;
	snprintf(s.conf.budget_cgroup, sizeof s.conf.budget_cgroup, "/vms");
	s.host.cg_valid = s.host.cg_limited = true;
	s.host.cg_limit_bytes = 2 * GIB + 700 * MIB;   /* budget 2.43 GiB: cost 82% of it */
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	CU_ASSERT_EQUAL(p.actions[0].why, POLICY_WHY_IDLE_TRIM);
	uint64_t taken = (uint64_t)-p.actions[0].delta_bytes;
	CU_ASSERT(taken > 0);
	CU_ASSERT_EQUAL(st.guests[0].size_owed_bytes, taken);
	uint64_t small = p.actions[0].target_bytes;
	/* the limit is raised (cost 56% of the budget): not while it settles */
	s.now_usec += USEC_PER_SEC;
	g->balloon_actual_bytes = g->balloon_target_bytes = small;
	g->rss_bytes = small;
	g->stat_available_bytes = small - 250 * MIB;
	s.host.cg_limit_bytes = 4 * GIB;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.n_actions, 0);
	/* after it: the size it had, with the reason */
	s.now_usec += 10 * USEC_PER_SEC;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	CU_ASSERT_EQUAL(p.actions[0].kind, POLICY_ACT_GROW);
	CU_ASSERT_EQUAL(p.actions[0].target_bytes, 2 * GIB);
	CU_ASSERT(strstr(p.actions[0].reason, "its size back") != NULL);
	CU_ASSERT(strstr(p.actions[0].reason, "cgroup limit") != NULL);
	CU_ASSERT_EQUAL(st.guests[0].size_owed_bytes, 0);
	/* given: nothing more */
	s.now_usec += 10 * USEC_PER_SEC;
	g->balloon_actual_bytes = g->balloon_target_bytes = 2 * GIB;
	g->stat_available_bytes = 1800 * MIB;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.n_actions, 0);
	/* under a plain budget nothing is given back */
	s.conf.budget_cgroup[0] = 0;
	s.conf.budget_bytes = 12 * GIB;
	s.conf.idle_trim_percent = 0;
	st.guests[0].size_owed_bytes = 512 * MIB;
	s.now_usec += 10 * USEC_PER_SEC;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.n_actions, 0);
	check_invariants(&s, &p);
}

int main(void)
{
	KSMD_TEST_INIT();
	static const struct ksmd_test rules[] = {
		{ "ok host: no action", test_ok_host_no_action },
		{ "budget defaults to MemTotal - reserve", test_budget_default },
		{ "over budget: the overshoot in one tick, idle guest first", test_over_budget_idle_first },
		{ "fewer shares give first", test_shares_order },
		{ "idle-memory tax", test_idle_tax },
		{ "soft pressure: 1% steps with reason", test_soft_pressure_slow_step },
		{ "wait for effect, then settle", test_settle_and_effect },
		{ "floor and min free never crossed", test_floor_and_min_free },
		{ "stuck and balloon-less guests excluded", test_stuck_and_no_balloon },
		{ "distress: give back fast, host ok", test_distress_grows_fast },
		{ "distress funded by idle guests", test_distress_funded_by_others },
		{ "learned floor after distress", test_learned_floor },
		{ "stale stats: not shrunk", test_stale_stats_not_shrunk },
		{ "critical steps on one stats sample keep the floor", test_steps_on_one_sample },
		{ "a grow waits for stats that show it", test_grow_waits_for_stats },
		{ "deadband", test_deadband },
		{ "merge first", test_merge_first },
		{ "host levels", test_host_levels },
		{ "relax and dry run", test_relax_and_dry_run },
		{ "idle trim, not after distress", test_idle_trim },
		{ "projection of the cost", test_projection },
		{ "dry run keeps proposing", test_dry_run_keeps_proposing },
		{ "deterministic", test_deterministic },
		{ "target outside [min, max] corrected", test_target_outside_limits },
		{ "swapped-out guest memory counts in the cost", test_swap_counts_in_cost },
		{ "budget from a cgroup's limit", test_cgroup_budget },
		{ "a burst seen by the host first", test_burst_seen_by_the_host },
		{ "release backed free memory, keep the size", test_release_backed_free },
		{ "under a cgroup limit, trim only near it", test_limit_trim },
		{ "a burst's answer teaches no floor", test_burst_answer_no_floor },
		{ "under a cgroup limit, the size ksmd took given back", test_size_back_under_limit },
		{ NULL, NULL },
	};
	static const struct ksmd_test data[] = {
		{ "knobs and validation", test_conf_knobs },
		{ "decision ring", test_ring },
		{ "parse meminfo", test_parse_meminfo },
		{ "parse vmstat and rates", test_parse_vmstat },
		{ "merge threshold is the executor's", test_merge_threshold },
		{ "distress judged once, by the policy", test_distress_judged_once },
		{ "parse psi", test_parse_psi },
		{ "collect from a root and from /proc", test_collect_at },
		{ "memory cgroup: mount, resolve, read", test_cgroup_mount_and_read },
		{ NULL, NULL },
	};
	ksmd_add_suite("policy rules", rules);
	ksmd_add_suite("policy data", data);
	return ksmd_run_tests();
}
