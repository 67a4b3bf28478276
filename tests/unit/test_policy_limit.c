/* Unit tests for policy/ under a real limit: what the guests cost (swap
 * counts), the budget from a memory cgroup's limit, bursts the host sees
 * before the guest's stats, free memory released, and the size ksmd took
 * given back. Made-up snapshots, as in test_policy.c. */
#include <inttypes.h>
#include "policy/policy.h"
#include "tests/unit/harness.h"
#include "tests/unit/policy_fixture.h"

#include <stdio.h>
#include <string.h>

/* Swapped-out guest memory is part of what the guests cost: a host that
 * swaps must never look as if it had more room. */
static void test_swap_counts_in_cost(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture_no_trim(&s, 2);
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
	policy_check_invariants(&s, &p);
}

/* policy.budget = cgroup:PATH: the cgroup's limit is the budget, less its
 * headroom, and its swap growth is critical. */
static void test_cgroup_budget(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture_no_trim(&s, 2);
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
	policy_check_invariants(&s, &p);
	/* the cgroup swapping out: critical even within the limit */
	policy_state_init(&st);
	s.host.cg_limit_bytes = 5 * GIB;
	s.host.cg_swap_out_bytes_per_sec = 8 * MIB;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_CRITICAL);
	CU_ASSERT(strstr(p.host_reason, "cgroup swap-out 2048 pages/s") != NULL);
}

/* Under a cgroup's limit: unmerged duplicates near it are merged at full
 * speed, and a guest in distress borrows the headroom, never the host
 * reserve (the cgroup as test_cgroup_budget leaves it: 5 GiB, 4 GiB used,
 * no headroom, not swapping). */
static void test_cgroup_merge_and_distress(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture_no_trim(&s, 2);
	s.conf.budget_bytes = 0;
	s.conf.limit_headroom_percent = 0;
	s.host.cg_valid = s.host.cg_limited = true;
	s.host.cg_limit_bytes = 5 * GIB;
	s.host.cg_usage_bytes = 4 * GIB;
	/* unmerged duplicates near the limit: merge at full speed, before the
	 * kernel swaps them out */
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

/* A burst: the host sees a guest's RSS grow before its stats show it. The
 * guest that allocates is not shrunk (and if it would run out before its
 * stats catch up, it is given memory at once, with no learned floor); the
 * cost two ticks ahead is shed from the others in one step, no more. */
static void test_burst_seen_by_the_host(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture_no_trim(&s, 2);
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
	policy_check_invariants(&s, &p);
}

/* One guest of 2 GiB, its host-side working set fresh (256 MiB), holding
 * free_mib of free memory of which the host backs backed_mib: what a
 * release starts from. */
static struct policy_guest *release_fixture(struct policy_snapshot *s, uint64_t free_mib, uint64_t backed_mib)
{
	policy_fixture_no_trim(s, 1);
	struct policy_guest *g = &s->guests[0];
	g->host_active_valid = true;
	g->host_active_bytes = 256 * MIB;
	g->host_active_age_usec = USEC_PER_SEC;
	g->stat_free_bytes = free_mib * MIB;
	g->ram_resident_bytes = 2 * GIB - (free_mib - backed_mib) * MIB;
	return g;
}

/* Release: free memory the host still backs is taken by the balloon for a
 * moment and given back: the guest keeps its size, the host drops the
 * pages. Not for guests with free page reporting, not twice a minute. */
static void test_release_backed_free(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	struct policy_guest *g = release_fixture(&s, 1024, 1024);  /* 1 GiB free, all of it backed */
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

/* The balloon moves at most max_step from its last target: the policy
 * records the target the balloon is sent, so a guest that reached it is
 * seen to have reached it; a release further than one step goes down in
 * steps to where it was meant to go, and comes back in steps to the size
 * the guest had. */
static void test_release_in_balloon_steps(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	struct policy_guest *g = release_fixture(&s, 1024, 1024);  /* a release to 1228.8 MiB */
	g->max_step_bytes = 300 * MIB;
	g->balloon_target_bytes = 1948 * MIB;  /* a step still on its way */
	policy_state_init(&st);
	/* the balloon's steps from 1948: down to 1228.8, back to 2048 */
	const uint64_t want[] = { 1648, 1348, 1228, 1528, 1828, 2048 };
	for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
		policy_decide(&s, &st, &p);
		if (p.n_actions != 1)
			printf("\n  step %zu: %zu actions\n", k, p.n_actions);
		CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
		const struct policy_action *a = &p.actions[0];
		CU_ASSERT_EQUAL(a->why, POLICY_WHY_RELEASE);
		CU_ASSERT_EQUAL(a->kind, k < 3 ? POLICY_ACT_SHRINK : POLICY_ACT_GROW);
		CU_ASSERT(a->target_bytes / MIB == want[k]);
		if (a->target_bytes / MIB != want[k])
			printf("\n  step %zu: %" PRIu64 " MiB, want %" PRIu64 "\n", k, a->target_bytes / MIB, want[k]);
		CU_ASSERT_EQUAL(st.guests[0].last_target_bytes, a->target_bytes);   /* what was sent */
		if (k == 1)
			CU_ASSERT(strstr(a->reason, "on in the balloon's steps to 1229 MiB") != NULL);
		if (k == 3)
			CU_ASSERT(strstr(a->reason, "in the balloon's steps") != NULL);
		CU_ASSERT_EQUAL(st.guests[0].release_from_bytes, k < 5 ? 2 * GIB : 0);
		uint64_t sent = a->target_bytes;
		/* not reached yet: nothing */
		s.now_usec += 2 * USEC_PER_SEC;
		g->balloon_target_bytes = sent;
		g->stat_free_bytes = 200 * MIB;
		g->host_active_age_usec = 5 * USEC_PER_SEC;   /* read before the release */
		policy_decide(&s, &st, &p);
		CU_ASSERT_PTR_NULL(policy_find_action(&p, "g0"));
		/* reached */
		s.now_usec += 2 * USEC_PER_SEC;
		g->balloon_actual_bytes = sent;
		if (k < 3)
			g->rss_bytes = g->ram_resident_bytes = sent;
	}
	/* at its size, with stats that show it: it may be shrunk again at
	 * once under pressure (never held as "not caught up" on a target
	 * the balloon was never sent), within a step */
	s.now_usec += 2 * USEC_PER_SEC;
	g->stats_age_usec = 0;                  /* RSS stays: the pages are unbacked */
	s.conf.budget_bytes = 512 * MIB;       /* 716 MiB over it: a step of 300 */
	policy_decide(&s, &st, &p);
	const struct policy_action *a = policy_find_action(&p, "g0");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->why, POLICY_WHY_HOST_PRESSURE);
	CU_ASSERT_EQUAL(a->target_bytes, 2 * GIB - 300 * MIB);
	policy_check_invariants(&s, &p);
}

/* The balloon takes free pages backed or not: a release takes the guest's
 * free memory less its margin, not only the part the host backs. */
static void test_release_takes_free(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	release_fixture(&s, 1024, 424);
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	CU_ASSERT_EQUAL(p.actions[0].why, POLICY_WHY_RELEASE);
	CU_ASSERT(strstr(p.actions[0].reason, "holds 424 MiB of free memory the host still backs") != NULL);
	/* down by the free memory less the margin (10% of 2 GiB), as far as with all of it backed */
	CU_ASSERT(p.actions[0].target_bytes >= 1 * GIB + 204 * MIB && p.actions[0].target_bytes <= 1 * GIB + 206 * MIB);
}

/* A fresh state in which g0 was sent 1.7 GiB a second ago, and a decision. */
static void decide_g0_on_its_way(struct policy_snapshot *s, struct policy_state *st, struct policy_plan *p)
{
	policy_state_init(st);
	st->guests[0].id = 1;
	st->guests[0].last_sign = -1;
	st->guests[0].last_target_bytes = 1700 * MIB;
	st->guests[0].last_shrink_usec = s->now_usec - USEC_PER_SEC;
	policy_decide(s, st, p);
}

/* release_fixture(1 GiB free, all backed) with a 300 MiB balloon step, and
 * the decision that starts its release (its first step). */
static struct policy_guest *start_release(struct policy_snapshot *s, struct policy_state *st,
					  struct policy_plan *p)
{
	struct policy_guest *g = release_fixture(s, 1024, 1024);
	g->max_step_bytes = 300 * MIB;
	policy_state_init(st);
	policy_decide(s, st, p);
	CU_ASSERT_EQUAL(p->n_actions, 1);
	return g;
}

/* A release ends however the guest gets back to its size: a last step
 * that lands within the deadband of it, or a give in between (distress),
 * never shrinks it back; and a release step down stops at today's floor. */
static void test_release_ends(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	struct policy_guest *g = release_fixture(&s, 1024, 1024);
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	CU_ASSERT(st.guests[0].release_from_bytes == 2 * GIB);
	/* reached, then a give lifted it 1 MiB short of its size: over */
	s.now_usec += 2 * USEC_PER_SEC;
	g->balloon_actual_bytes = g->balloon_target_bytes = p.actions[0].target_bytes;
	st.guests[0].last_sign = 1;
	st.guests[0].last_target_bytes = 2 * GIB - 1 * MIB;
	g->balloon_actual_bytes = g->balloon_target_bytes = 2 * GIB - 1 * MIB;
	g->stat_free_bytes = 200 * MIB;
	g->host_active_age_usec = 5 * USEC_PER_SEC;
	policy_decide(&s, &st, &p);
	CU_ASSERT_PTR_NULL(policy_find_action(&p, "g0"));
	CU_ASSERT_EQUAL(st.guests[0].release_from_bytes, 0);
	CU_ASSERT_EQUAL(st.guests[0].release_to_bytes, 0);
	/* a give above its size while a release is on: over, and no shrink back */
	g = start_release(&s, &st, &p);
	s.now_usec += 2 * USEC_PER_SEC;
	st.guests[0].last_sign = 1;
	st.guests[0].last_target_bytes = 2 * GIB + 200 * MIB;
	g->balloon_actual_bytes = g->balloon_target_bytes = 2 * GIB + 200 * MIB;
	policy_decide(&s, &st, &p);
	const struct policy_action *a = policy_find_action(&p, "g0");
	CU_ASSERT(a == NULL || a->why != POLICY_WHY_RELEASE);
	CU_ASSERT_EQUAL(st.guests[0].release_from_bytes, 0);
	/* a step down stops at today's floor: the guest now uses more */
	g = start_release(&s, &st, &p);
	CU_ASSERT_EQUAL(p.actions[0].target_bytes, 2 * GIB - 300 * MIB);
	s.now_usec += 2 * USEC_PER_SEC;
	g->balloon_actual_bytes = g->balloon_target_bytes = 2 * GIB - 300 * MIB;
	g->stat_available_bytes = 200 * MIB;    /* active 1548 MiB: floor about 1720 MiB */
	g->stat_free_bytes = 200 * MIB;
	g->host_active_age_usec = 5 * USEC_PER_SEC;
	policy_decide(&s, &st, &p);
	a = policy_find_action(&p, "g0");
	CU_ASSERT(a == NULL || a->target_bytes >= 1720 * MIB);
	CU_ASSERT(st.guests[0].last_target_bytes >= 1720 * MIB);
}

/* A take while the balloon still heads for an old, higher target: the
 * step from that target lands above the actual; the action and the state
 * keep its intent (a shrink, nothing owed back). */
static void test_step_from_an_unreached_target(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture_no_trim(&s, 1);
	struct policy_guest *g = &s.guests[0];
	g->max_step_bytes = 256 * MIB;
	g->balloon_target_bytes = 2560 * MIB;  /* a grow long given up on */
	s.conf.budget_bytes = 1 * GIB;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	const struct policy_action *a = &p.actions[0];
	CU_ASSERT_EQUAL(a->why, POLICY_WHY_HOST_PRESSURE);
	CU_ASSERT_EQUAL(a->target_bytes, 2304 * MIB);
	CU_ASSERT_EQUAL(a->kind, POLICY_ACT_SHRINK);
	CU_ASSERT(strstr(a->reason, "[a step of the balloon from its target 2.5 GiB]") != NULL);
	CU_ASSERT_EQUAL(st.guests[0].last_sign, -1);
	CU_ASSERT_EQUAL(st.guests[0].size_owed_bytes, 0);
}

/* Within a cgroup limit's headroom, a shrink already sent that the balloon
 * has not reached counts against the want: the next tick does not take the
 * same memory a second time from another guest. Over the limit, or
 * swapping, it does not wait. */
static void test_shrink_on_the_way(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture_no_trim(&s, 2);          /* 2 x 2 GiB resident: cost 4 GiB */
	s.conf.budget_bytes = 0;
	snprintf(s.conf.budget_cgroup, sizeof s.conf.budget_cgroup, "/machine.slice");
	s.host.cg_valid = s.host.cg_limited = true;
	s.host.cg_limit_bytes = 4 * GIB + 256 * MIB;    /* budget 3.8 GiB: over it, under the limit */
	/* nothing on the way: a guest is shrunk */
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_CRITICAL);
	CU_ASSERT(p.n_actions >= 1 && p.actions[0].why == POLICY_WHY_HOST_PRESSURE);
	/* g0 was sent 1.7 GiB a second ago and is not there yet */
	decide_g0_on_its_way(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_CRITICAL);
	CU_ASSERT_EQUAL(p.n_actions, 0);
	CU_ASSERT(strstr(p.host_reason, "348 MiB on its way") != NULL);
	/* a release on its way, or a guest with free page reporting: its
	 * balloon takes unbacked pages, so it does not count */
	st.guests[0].release_from_bytes = 2 * GIB;
	policy_decide(&s, &st, &p);     /* (the state as decide_g0_on_its_way left it) */
	policy_state_init(&st);
	st.guests[0].id = 1;
	st.guests[0].last_sign = -1;
	st.guests[0].last_target_bytes = 1700 * MIB;
	st.guests[0].last_shrink_usec = s.now_usec - USEC_PER_SEC;
	st.guests[0].release_from_bytes = 2 * GIB;
	policy_decide(&s, &st, &p);
	CU_ASSERT_PTR_NOT_NULL(policy_find_action(&p, "g1"));
	s.guests[0].free_page_reporting = true;
	decide_g0_on_its_way(&s, &st, &p);
	CU_ASSERT_PTR_NOT_NULL(policy_find_action(&p, "g1"));
	s.guests[0].free_page_reporting = false;
	/* no more than its resident memory above the target */
	s.guests[0].rss_bytes = 1750 * MIB;
	s.guests[1].rss_bytes = 2 * GIB + 300 * MIB;    /* cost 3.9 GiB: still over the budget */
	decide_g0_on_its_way(&s, &st, &p);
	CU_ASSERT(strstr(p.host_reason, "50 MiB on its way") != NULL);
	s.guests[0].rss_bytes = s.guests[1].rss_bytes = 2 * GIB;
	/* swapping: no waiting, g1 gives */
	s.host.cg_swap_out_bytes_per_sec = 64 * MIB;
	decide_g0_on_its_way(&s, &st, &p);
	const struct policy_action *a = policy_find_action(&p, "g1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->why, POLICY_WHY_HOST_PRESSURE);
	/* over the limit itself: no waiting either */
	s.host.cg_swap_out_bytes_per_sec = 0;
	s.host.cg_limit_bytes = 4 * GIB - 64 * MIB;
	decide_g0_on_its_way(&s, &st, &p);
	CU_ASSERT_PTR_NOT_NULL(policy_find_action(&p, "g1"));
	policy_check_invariants(&s, &p);
}

/* The idle trim takes a guest's free memory, not its page cache: while the
 * host is ok, a tenant's cold cache stays; under pressure it goes. */
static void test_idle_trim_keeps_page_cache(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture(&s, 1);                  /* idle trim on, as shipped */
	struct policy_guest *g = &s.guests[0];
	g->stat_available_bytes = 1800 * MIB;   /* 88% available ... */
	g->stat_free_valid = true;
	g->stat_free_bytes = 100 * MIB;         /* ... nearly all of it page cache */
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_OK);
	CU_ASSERT_EQUAL(p.n_actions, 0);
	/* the same guest with its idle memory free: trimmed */
	g->stat_free_bytes = 1200 * MIB;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	CU_ASSERT_EQUAL(p.actions[0].why, POLICY_WHY_IDLE_TRIM);
	CU_ASSERT(strstr(p.actions[0].reason, "free 59%") != NULL);
	/* a guest that does not report free memory: all idle memory counts */
	g->stat_free_valid = false;
	g->stat_free_bytes = 0;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	CU_ASSERT_EQUAL(p.actions[0].why, POLICY_WHY_IDLE_TRIM);
	/* over budget: the cache is taken like any idle memory */
	g->stat_free_valid = true;
	g->stat_free_bytes = 100 * MIB;
	s.conf.budget_bytes = 1536 * MIB;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	CU_ASSERT_EQUAL(p.actions[0].why, POLICY_WHY_HOST_PRESSURE);
	policy_check_invariants(&s, &p);
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
	policy_fixture_no_trim(&s, 1);
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
	policy_check_invariants(&s, &p);
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
	policy_check_invariants(&s, &p);
}

/* Above limit_trim_percent of the budget, with the host ok, a guest owed
 * memory gets back what keeps its free memory below the idle trim's line,
 * within the headroom left below the budget: a tenant whose page cache the
 * pressure took may refill it (in a 2x run the tenant stayed at its floor
 * with the cost at 85% of the budget, and re-read its cache from disk). */
static struct policy_guest *owed_fixture(struct policy_snapshot *s, struct policy_state *st,
					 struct policy_plan *p, uint64_t free_mib)
{
	policy_fixture(s, 1);                  /* idle trim on, as shipped */
	struct policy_guest *g = &s->guests[0];
	g->stat_free_bytes = free_mib * MIB;   /* 1 GiB available, the rest page cache */
	g->stat_free_valid = true;
	s->conf.budget_bytes = 0;
	snprintf(s->conf.budget_cgroup, sizeof s->conf.budget_cgroup, "/vms");
	s->host.cg_valid = s->host.cg_limited = true;
	s->host.cg_limit_bytes = 2 * GIB + 700 * MIB;  /* cost 2 GiB: 82% of the budget */
	policy_state_init(st);
	policy_decide(s, st, p);
	st->guests[0].size_owed_bytes = 1 * GIB;
	s->now_usec += 11 * USEC_PER_SEC;
	return g;
}

static void test_size_back_in_part(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	/* free 100 MiB of 2 GiB: far below the line; a third of the headroom
	 * (tick 2 s / (tick + lookahead 4 s)) bounds it */
	struct policy_guest *g = owed_fixture(&s, &st, &p, 100);
	policy_decide(&s, &st, &p);
	uint64_t headroom = p.budget_bytes - 2 * GIB - p.budget_bytes * 2 / 100;
	CU_ASSERT(p.budget_bytes > 2 * GIB && 2 * GIB >= p.budget_bytes * 75 / 100);
	const struct policy_action *a = policy_find_action(&p, "g0");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->kind, POLICY_ACT_GROW);
	CU_ASSERT_EQUAL(a->why, POLICY_WHY_RELAX);
	CU_ASSERT(strstr(a->reason, "its size back in part") != NULL);
	CU_ASSERT(strstr(a->reason, "where the idle trim starts") != NULL);
	CU_ASSERT((uint64_t)a->delta_bytes <= headroom / 3 + 1 * MIB);
	CU_ASSERT((uint64_t)a->delta_bytes >= headroom / 3 - 2 * MIB);
	CU_ASSERT_EQUAL(st.guests[0].size_owed_bytes, 1 * GIB - (uint64_t)a->delta_bytes);
	CU_ASSERT_EQUAL(st.guests[0].part_given_bytes, (uint64_t)a->delta_bytes);
	policy_check_invariants(&s, &p);
	/* the balloon got there and the guest has not used it: it still
	 * counts against the headroom, so the next give is smaller */
	uint64_t first = (uint64_t)a->delta_bytes;
	s.now_usec += 11 * USEC_PER_SEC;
	g->balloon_actual_bytes = g->balloon_target_bytes = a->target_bytes;
	g->stat_total_bytes = a->target_bytes;
	g->stat_free_bytes += first;
	g->stat_available_bytes += first;
	policy_decide(&s, &st, &p);
	a = policy_find_action(&p, "g0");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT((uint64_t)a->delta_bytes <= (headroom - first) / 3 + 1 * MIB);
	/* free 500 MiB: the trim's line bounds it, (30% of 2 GiB - 500 MiB) / 0.7
	 * less the margin, half the guest's free margin (102 MiB) */
	g = owed_fixture(&s, &st, &p, 500);
	policy_decide(&s, &st, &p);
	a = policy_find_action(&p, "g0");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->why, POLICY_WHY_RELAX);
	uint64_t x = (uint64_t)(((0.3 * 2048 - 500) / 0.7 - 0.05 * 2048) * MIB);
	CU_ASSERT((uint64_t)a->delta_bytes >= x - 1 * MIB && (uint64_t)a->delta_bytes <= x + 1 * MIB);
	/* the balloon got there and the guest shows it free: the trim leaves
	 * it, and nothing more is given */
	uint64_t to = a->target_bytes;
	s.now_usec += 11 * USEC_PER_SEC;
	g->balloon_actual_bytes = g->balloon_target_bytes = to;
	g->stat_total_bytes = to;
	g->stat_free_bytes += (uint64_t)a->delta_bytes;
	g->stat_available_bytes += (uint64_t)a->delta_bytes;
	policy_decide(&s, &st, &p);
	CU_ASSERT_PTR_NULL(policy_find_action(&p, "g0"));
	/* free above the line (700 MiB, 34%): nothing is given */
	owed_fixture(&s, &st, &p, 700);
	policy_decide(&s, &st, &p);
	a = policy_find_action(&p, "g0");
	CU_ASSERT(a == NULL || a->kind != POLICY_ACT_GROW);
	/* the cost grows (20 MiB since the last tick): nothing */
	g = owed_fixture(&s, &st, &p, 100);
	g->rss_bytes += 20 * MIB;
	policy_decide(&s, &st, &p);
	a = policy_find_action(&p, "g0");
	CU_ASSERT(a == NULL || a->kind != POLICY_ACT_GROW);
	/* no headroom left (cost above the budget's low water): nothing */
	g = owed_fixture(&s, &st, &p, 100);
	s.host.cg_limit_bytes = 2 * GIB + 250 * MIB;
	policy_decide(&s, &st, &p);
	a = policy_find_action(&p, "g0");
	CU_ASSERT(a == NULL || a->kind != POLICY_ACT_GROW);
	/* a plain budget: nothing given back */
	g = owed_fixture(&s, &st, &p, 100);
	s.conf.budget_cgroup[0] = 0;
	s.conf.budget_bytes = 2 * GIB + 400 * MIB;
	policy_decide(&s, &st, &p);
	CU_ASSERT_PTR_NULL(policy_find_action(&p, "g0"));
	/* the idle trim off: the line is twice the guest's free margin (20%) */
	g = owed_fixture(&s, &st, &p, 100);
	s.conf.idle_trim_percent = 0;
	policy_decide(&s, &st, &p);
	a = policy_find_action(&p, "g0");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT(strstr(a->reason, "up to 20% of it free (the idle trim is off)") != NULL);
}

/* A release that the host's pressure keeps is owed back like a shrink,
 * from the target the balloon was sent: once the pressure is over, the
 * guest gets its size back. */
static void test_release_kept_is_owed(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	struct policy_guest *g = release_fixture(&s, 1024, 1024);
	s.conf.budget_bytes = 0;
	snprintf(s.conf.budget_cgroup, sizeof s.conf.budget_cgroup, "/vms");
	s.host.cg_valid = s.host.cg_limited = true;
	s.host.cg_limit_bytes = 8 * GIB;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	CU_ASSERT_EQUAL(p.actions[0].why, POLICY_WHY_RELEASE);
	uint64_t to = p.actions[0].target_bytes;
	CU_ASSERT_EQUAL(st.guests[0].size_owed_bytes, 0);
	/* late and not there yet (64 MiB above); the host is now short: it
	 * stays taken, owed from the target the balloon heads for */
	s.now_usec += 30 * USEC_PER_SEC;
	g->balloon_target_bytes = to;
	g->balloon_actual_bytes = to + 64 * MIB;
	g->rss_bytes = g->ram_resident_bytes = to + 64 * MIB;
	g->stat_free_bytes = 200 * MIB;
	g->stat_available_bytes = 300 * MIB;
	s.host.cg_limit_bytes = to;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(st.guests[0].release_from_bytes, 0);
	CU_ASSERT_EQUAL(st.guests[0].size_owed_bytes, 2 * GIB - to);
	/* the pressure is over, the cost well below the limit: its size back */
	s.now_usec += 30 * USEC_PER_SEC;
	g->balloon_actual_bytes = g->balloon_target_bytes = st.guests[0].last_target_bytes;
	g->rss_bytes = g->ram_resident_bytes = g->balloon_actual_bytes - 200 * MIB;  /* its free memory unbacked */
	s.host.cg_limit_bytes = 8 * GIB;
	policy_decide(&s, &st, &p);
	const struct policy_action *a = policy_find_action(&p, "g0");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->kind, POLICY_ACT_GROW);
	CU_ASSERT(strstr(a->reason, "its size back") != NULL);
}

/* A balloon step (balloon.max_step) below the deadband would have every
 * step skipped: the deadband is at most half a step. */
static void test_step_below_deadband(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture_no_trim(&s, 1);
	struct policy_guest *g = &s.guests[0];
	g->max_bytes = 16 * GIB;                /* deadband 0.25%: 41 MiB */
	g->max_step_bytes = 16 * MIB;
	s.conf.budget_bytes = 2 * GIB - 200 * MIB;   /* over budget: a shrink is wanted */
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	const struct policy_action *a = policy_find_action(&p, "g0");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->kind, POLICY_ACT_SHRINK);
	CU_ASSERT_EQUAL(a->delta_bytes, -16 * (int64_t)MIB);
	/* reached: the next step follows */
	s.now_usec += 1 * USEC_PER_SEC;
	g->balloon_actual_bytes = g->balloon_target_bytes = a->target_bytes;
	g->rss_bytes = a->target_bytes;
	policy_decide(&s, &st, &p);
	a = policy_find_action(&p, "g0");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->kind, POLICY_ACT_SHRINK);
	policy_check_invariants(&s, &p);
}

/* A grow the balloon has not reached yet is never lowered by the next
 * tick's give, computed from an actual that has not moved (in a 1.5x
 * overcommit run a size-back to 768 MiB became 598 MiB a second later, and
 * the guest's burst was killed by its OOM killer). */
static void test_pending_grow_not_lowered(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture(&s, 1);
	struct policy_guest *g = &s.guests[0];
	g->stat_available_bytes = 1800 * MIB;
	s.conf.budget_bytes = 0;
	snprintf(s.conf.budget_cgroup, sizeof s.conf.budget_cgroup, "/vms");
	s.host.cg_valid = s.host.cg_limited = true;
	s.host.cg_limit_bytes = 2 * GIB + 700 * MIB;
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	uint64_t small = p.actions[0].target_bytes;
	/* owed more than the way back to max (a shrink since given back in part) */
	st.guests[0].size_owed_bytes = (g->max_bytes - small) + 100 * MIB;
	s.conf.max_grow_percent_per_tick = 100;
	s.now_usec += 11 * USEC_PER_SEC;
	g->balloon_actual_bytes = g->balloon_target_bytes = small;
	g->rss_bytes = small;
	g->stat_available_bytes = small - 250 * MIB;
	s.host.cg_limit_bytes = 4 * GIB;
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL_FATAL(p.n_actions, 1);
	CU_ASSERT_EQUAL(p.actions[0].kind, POLICY_ACT_GROW);
	uint64_t given = p.actions[0].target_bytes;
	CU_ASSERT_EQUAL(given, g->max_bytes);
	CU_ASSERT(st.guests[0].size_owed_bytes > 0);
	/* a second later the balloon has not moved yet: the target stays */
	s.now_usec += USEC_PER_SEC;
	g->balloon_target_bytes = given;
	policy_decide(&s, &st, &p);
	for (size_t i = 0; i < p.n_actions; i++)
		CU_ASSERT(p.actions[i].target_bytes >= given);
	policy_check_invariants(&s, &p);
}

int main(void)
{
	KSMD_TEST_INIT();
	static const struct ksmd_test rules[] = {
		{ "swapped-out guest memory counts in the cost", test_swap_counts_in_cost },
		{ "budget from a cgroup's limit", test_cgroup_budget },
		{ "under a cgroup's limit: merge first, distress borrows no reserve", test_cgroup_merge_and_distress },
		{ "a burst seen by the host first", test_burst_seen_by_the_host },
		{ "release backed free memory, keep the size", test_release_backed_free },
		{ "under a cgroup limit, trim only near it", test_limit_trim },
		{ "a release given back in the balloon's steps", test_release_in_balloon_steps },
		{ "a release takes free memory, backed or not", test_release_takes_free },
		{ "the idle trim keeps page cache", test_idle_trim_keeps_page_cache },
		{ "a shrink on its way counts within the headroom", test_shrink_on_the_way },
		{ "a release ends when the guest is back at its size", test_release_ends },
		{ "a step from a target not reached keeps its intent", test_step_from_an_unreached_target },
		{ "a burst's answer teaches no floor", test_burst_answer_no_floor },
		{ "under a cgroup limit, the size ksmd took given back", test_size_back_under_limit },
		{ "a pending grow is never lowered", test_pending_grow_not_lowered },
		{ "above the trim's start, the size given back in part", test_size_back_in_part },
		{ "a release the host keeps is owed back", test_release_kept_is_owed },
		{ "a balloon step below the deadband", test_step_below_deadband },
		{ NULL, NULL },
	};
	ksmd_add_suite("policy under a limit", rules);
	return ksmd_run_tests();
}
