/* Unit tests for policy/'s data and what it shares with the daemon: the
 * knob table and its validation, the decision ring, the one merge
 * threshold (the KSM executor's) and the one judgement of distress (the
 * rules are test_policy.c). */
#include "policy/policy.h"
#include "tests/unit/harness.h"
#include "tests/unit/policy_fixture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	CU_ASSERT_EQUAL(r.by_kind[0], POLICY_RING_LEN + 5); /* notes */
	CU_ASSERT_EQUAL(r.by_kind[POLICY_ACT_SHRINK] + r.by_kind[POLICY_ACT_GROW], 0);
	CU_ASSERT_EQUAL(policy_ring_get(&r, 0)->when_usec, POLICY_RING_LEN + 4);
	CU_ASSERT_EQUAL(policy_ring_get(&r, POLICY_RING_LEN - 1)->when_usec, 5);
	CU_ASSERT_PTR_NULL(policy_ring_get(&r, POLICY_RING_LEN));

	struct policy_snapshot s; struct policy_state st; static struct policy_plan p;
	policy_fixture_no_trim(&s, 2);
	s.guests[0].major_faults_per_sec = 1000;
	policy_state_init(&st);
	policy_ring_init(&r);
	policy_decide(&s, &st, &p);
	policy_ring_push_plan(&r, &p);
	CU_ASSERT_EQUAL(r.count, p.n_actions);
	/* counted by kind, as the plan has them */
	uint64_t kinds[POLICY_ACT_GROW + 1] = { 0 };
	for (size_t i = 0; i < p.n_actions; i++)
		kinds[p.actions[i].kind]++;
	CU_ASSERT_TRUE(p.n_actions > 0);
	CU_ASSERT_EQUAL(memcmp(kinds, r.by_kind, sizeof kinds), 0);
	CU_ASSERT_STRING_EQUAL(policy_ring_get(&r, 0)->reason, p.actions[p.n_actions - 1].reason);
}

/* One merge threshold with the KSM executor: [ksm] min_savings when the
 * daemon gives it, else POLICY_MERGE_MIN_BYTES. */
static void test_merge_threshold(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture_no_trim(&s, 2);
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
	policy_fixture_no_trim(&s, 2);
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

int main(void)
{
	KSMD_TEST_INIT();
	static const struct ksmd_test data[] = {
		{ "knobs and validation", test_conf_knobs },
		{ "decision ring", test_ring },
		{ "merge threshold is the executor's", test_merge_threshold },
		{ "distress judged once, by the policy", test_distress_judged_once },
		{ NULL, NULL },
	};
	ksmd_add_suite("policy data", data);
	return ksmd_run_tests();
}
