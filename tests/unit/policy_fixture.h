/* policy_fixture.h — the made-up snapshot the policy unit tests start
 * from, and what every plan must hold. */
#ifndef KSMD_TEST_POLICY_FIXTURE_H
#define KSMD_TEST_POLICY_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include "policy/policy.h"
#include "tests/unit/harness.h"

/* A host of 16 GiB with a 12 GiB budget and n guests of up to 4 GiB, each
 * holding 2 GiB (RSS = actual) and reporting half of it available. */
static inline void policy_fixture(struct policy_snapshot *s, size_t n)
{
	memset(s, 0, sizeof(*s));
	policy_conf_defaults(&s->conf);
	s->conf.budget_bytes = 12 * GIB;
	s->now_usec = 1000 * USEC_PER_SEC;
	s->host.mem_total_bytes = 16 * GIB;
	s->host.mem_available_bytes = 8 * GIB;
	s->n_guests = n;
	for (size_t i = 0; i < n; i++) {
		struct policy_guest *g = &s->guests[i];
		snprintf(g->name, sizeof g->name, "g%zu", i);
		g->id = i + 1;
		g->has_balloon = true;
		g->min_bytes = 512 * MIB;
		g->max_bytes = 4 * GIB;
		g->shares = 1000;
		g->balloon_actual_bytes = g->balloon_target_bytes = 2 * GIB;
		g->stats_valid = true;
		g->stat_total_bytes = 2 * GIB;
		g->stat_available_bytes = 1 * GIB;
		g->stat_free_bytes = 512 * MIB;
		g->rss_bytes = 2 * GIB;
	}
}

/* The same with the idle trim off (it has tests of its own). */
static inline void policy_fixture_no_trim(struct policy_snapshot *s, size_t n)
{
	policy_fixture(s, n);
	s->conf.idle_trim_percent = 0;
}

/* What every plan must hold: targets within [min, max], only for guests
 * with a balloon that is not stuck, each with a reason. */
static inline void policy_check_invariants(const struct policy_snapshot *s, const struct policy_plan *p)
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

/* The plan's action for guest name, or NULL. */
static inline const struct policy_action *policy_find_action(const struct policy_plan *p,
							     const char *name)
{
	for (size_t i = 0; i < p->n_actions; i++)
		if (!strcmp(p->actions[i].guest, name))
			return &p->actions[i];
	return NULL;
}

#endif
