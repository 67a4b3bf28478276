/* Unit tests for policy/: one made-up snapshot per rule (the knob table,
 * the decision ring and what the policy shares with the daemon are
 * test_policy_data.c; the rules under a real limit test_policy_limit.c;
 * the host's parsers, collect/host.c, test_collect_host.c). */
#include "policy/policy.h"
#include "tests/unit/harness.h"
#include "tests/unit/policy_fixture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static void test_ok_host_no_action(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture_no_trim(&s, 3);  /* 6 GiB used of 12 */
	policy_state_init(&st);
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 0);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_OK);
	CU_ASSERT_EQUAL(p.guest_used_bytes, 6 * GIB);
	CU_ASSERT_EQUAL(p.budget_bytes, 12 * GIB);
}

static void test_budget_default(void)
{
	struct policy_snapshot s;
	policy_fixture_no_trim(&s, 1);
	s.conf.budget_bytes = 0;
	CU_ASSERT_EQUAL(policy_budget_bytes(&s), 15 * GIB);
}

static void test_over_budget_idle_first(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture_no_trim(&s, 3);
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
	policy_check_invariants(&s, &p);
}

static void test_shares_order(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture_no_trim(&s, 2);
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
	policy_fixture_no_trim(&s, 2);
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
	policy_fixture_no_trim(&s, 2);
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
	policy_check_invariants(&s, &p);
}

static void test_settle_and_effect(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture_no_trim(&s, 1);
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
	policy_fixture_no_trim(&s, 1);
	s.conf.budget_bytes = 1 * GIB;           /* far over */
	s.guests[0].min_bytes = 1990 * MIB;      /* but the floor is close */
	s.guests[0].stat_available_bytes = 2000 * MIB;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	CU_ASSERT_EQUAL(p.actions[0].target_bytes, 2 * GIB - 58 * MIB);
	CU_ASSERT(p.actions[0].target_bytes >= 1990 * MIB);
	/* Active memory + 10% keeps a busy guest where it is. */
	policy_fixture_no_trim(&s, 1);
	s.conf.budget_bytes = 1 * GIB;
	s.guests[0].stat_available_bytes = 210 * MIB;  /* 10.25% available */
	policy_state_init(&st);
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 0);
}

static void test_stuck_and_no_balloon(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture_no_trim(&s, 3);
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
	policy_check_invariants(&s, &p);
}

static void test_distress_grows_fast(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture_no_trim(&s, 2);
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
	policy_check_invariants(&s, &p);
}

static void test_distress_funded_by_others(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture_no_trim(&s, 2);
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
	policy_fixture_no_trim(&s, 1);
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
	policy_fixture_no_trim(&s, 2);
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
	policy_fixture_no_trim(&s, 1);
	s.conf.budget_bytes = 512 * MIB;        /* far over: critical */
	s.conf.tick_usec = 1 * USEC_PER_SEC;
	s.guests[0].stat_available_bytes = 1 * GIB;   /* active 1 GiB */
	policy_state_init(&st);
	uint64_t cur = 2 * GIB;
	for (int t = 0; t < 12; t++) {
		policy_decide(&s, &st, &p);
		CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_CRITICAL);
		policy_check_invariants(&s, &p);
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
	policy_fixture_no_trim(&s, 1);
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
	policy_fixture_no_trim(&s, 1);
	s.conf.budget_bytes = 1 * GIB;
	s.guests[0].stat_available_bytes = 215 * MIB;  /* room to the min-free line: ~10 MiB */
	policy_state_init(&st);
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 0);  /* 10 MiB < 0.25% of 4 GiB */
}

static void test_merge_first(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture_no_trim(&s, 2);
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

static void test_host_levels(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture_no_trim(&s, 1);
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
	policy_fixture_no_trim(&s, 1);
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
	policy_fixture_no_trim(&s, 2);
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
	CU_ASSERT(strstr(a->reason, "idle memory, g0 idle and free 50% > 30% (available 50%)") != NULL);
	/* A guest in distress lately is not probed again. */
	policy_fixture_no_trim(&s, 1);
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
	policy_fixture_no_trim(&s, 2);
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
	policy_fixture_no_trim(&s, 1);
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
	policy_fixture_no_trim(&s, 4);
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
	policy_fixture_no_trim(&s, 1);
	s.guests[0].balloon_target_bytes = 100 * MIB;   /* below min */
	s.guests[0].stat_available_bytes = 700 * MIB;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	CU_ASSERT_EQUAL(p.actions[0].target_bytes, 512 * MIB);
	CU_ASSERT_EQUAL(p.actions[0].why, POLICY_WHY_LIMIT);
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
		{ NULL, NULL },
	};
	ksmd_add_suite("policy rules", rules);
	return ksmd_run_tests();
}
