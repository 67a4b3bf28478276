/* Unit tests for ksm_pace(): every rule, on made-up inputs, and a
 * simulated run from start to trickle. */
#include "act/ksm.h"
#include "tests/unit/harness.h"

#include <string.h>

#define SEC USEC_PER_SEC

static struct ksm_pace_config cfg;

static void setup_cfg(void)
{
	ksm_pace_config_default(&cfg);
}

/* An input past any settling, KSM converging at cur. */
static struct ksm_pace_input input(uint64_t predicted, uint64_t merged, struct ksm_knobs cur)
{
	struct ksm_pace_input in = {
		.predicted_pages = predicted, .merged_pages = merged, .full_scans = 10,
		.kthread_cpu_percent = -1, .interval_usec = SEC, .urgency = KSM_URGENCY_NORMAL,
		.cur = cur,
	};
	in.state.started = true;
	in.state.phase = cur.run ? KSM_PHASE_CONVERGE : KSM_PHASE_OFF;
	in.state.since_change_usec = 10 * SEC;
	in.state.best_merged_pages = merged;
	in.state.full_scans_at_best = 10;
	return in;
}

static const struct ksm_knobs OFF = { 0, 100, 20 };

static void test_defaults(void)
{
	setup_cfg();
	CU_ASSERT_EQUAL(cfg.min_savings_pages, 4096);
	CU_ASSERT_EQUAL(cfg.trickle_pages_to_scan, 100);
	CU_ASSERT_TRUE(cfg.cpu_budget_percent > 0 && cfg.cpu_budget_percent <= 100);
	CU_ASSERT_STRING_EQUAL(ksm_pace_phase_name(KSM_PHASE_TRICKLE), "trickle");
}

/* Rule 2: below min_savings KSM stays off, or is turned off. */
static void test_off_below_min_savings(void)
{
	setup_cfg();
	struct ksm_pace_output out;
	struct ksm_pace_input in = input(1000, 0, OFF);
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_FALSE(out.changed);
	CU_ASSERT_EQUAL(out.next.run, 0);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_OFF);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reason, "min_savings"));

	in = input(1000, 0, (struct ksm_knobs){ 1, 5000, 20 });
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_TRUE(out.changed);
	CU_ASSERT_EQUAL(out.next.run, 0);
	CU_ASSERT_EQUAL(out.state.since_change_usec, 0);
}

/* Rule 3: a large gap starts converging; full speed at a budget >= 95%. */
static void test_start_converge(void)
{
	setup_cfg();
	struct ksm_pace_output out;
	struct ksm_pace_input in = input(300000, 0, OFF);
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_TRUE(out.changed);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_CONVERGE);
	CU_ASSERT_EQUAL(out.next.run, 1);
	CU_ASSERT_EQUAL(out.next.sleep_millisecs, cfg.converge_sleep_msecs);
	/* 80% budget, 20 ms sleep: 80 ms busy at 400k pages/s = 32000 pages. */
	CU_ASSERT_EQUAL(out.next.pages_to_scan, 32000);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reason, "start"));

	cfg.cpu_budget_percent = 100;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.next.pages_to_scan, cfg.max_pages_to_scan);
	CU_ASSERT_EQUAL(out.next.sleep_millisecs, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reason, "full speed"));
}

/* Urgency URGENT: full speed whatever the budget. */
static void test_urgent_full_speed(void)
{
	setup_cfg();
	cfg.cpu_budget_percent = 20;
	struct ksm_pace_output out;
	struct ksm_pace_input in = input(300000, 1000, (struct ksm_knobs){ 1, 2000, 20 });
	in.urgency = KSM_URGENCY_URGENT;
	in.kthread_cpu_percent = 20;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.next.pages_to_scan, cfg.max_pages_to_scan);
	CU_ASSERT_EQUAL(out.next.sleep_millisecs, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reason, "pressure"));
}

/* Already merged when starting: straight to trickle. */
static void test_start_already_merged(void)
{
	setup_cfg();
	struct ksm_pace_output out;
	struct ksm_pace_input in = input(100000, 99000, OFF);
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_TRICKLE);
	CU_ASSERT_EQUAL(out.next.run, 1);
	CU_ASSERT_EQUAL(out.next.pages_to_scan, 100);
	CU_ASSERT_EQUAL(out.next.sleep_millisecs, 200);
}

/* Off with stale counters: start converging whatever they say; with
 * fresh ones, trust them. */
static void test_stale_counters(void)
{
	setup_cfg();
	struct ksm_pace_output out;
	struct ksm_pace_input in = input(100000, 100000, OFF);
	in.merged_stale = true;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_CONVERGE);
	CU_ASSERT_EQUAL(out.next.run, 1);
	in.merged_stale = false;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_TRICKLE);
	/* Stale only matters when leaving OFF. */
	in = input(100000, 99000, (struct ksm_knobs){ 1, 100, 200 });
	in.state.phase = KSM_PHASE_TRICKLE;
	in.merged_stale = true;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_TRICKLE);
}

/* Rule 0: no prediction yet: converge within budget, never "converged". */
static void test_prediction_pending(void)
{
	setup_cfg();
	struct ksm_pace_output out;
	struct ksm_pace_input in = input(KSM_PREDICTION_PENDING, 0, OFF);
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_CONVERGE);
	CU_ASSERT_EQUAL(out.next.run, 1);
	CU_ASSERT_EQUAL(out.next.pages_to_scan, 32000);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reason, "no prediction yet"));
	/* Still pending, long after: budget fitting goes on, no convergence. */
	in = input(KSM_PREDICTION_PENDING, 0, (struct ksm_knobs){ 1, 32000, 20 });
	in.state.converged_for_usec = 100 * SEC;
	in.kthread_cpu_percent = 20;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_CONVERGE);
	CU_ASSERT_EQUAL(out.next.pages_to_scan, 100000);
	CU_ASSERT_EQUAL(out.state.converged_for_usec, 0);
	/* Nothing merges for stall_full_scans passes: trickle, and stay. */
	in.full_scans = 13;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_TRICKLE);
	CU_ASSERT_EQUAL(out.next.pages_to_scan, 100);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reason, "stalled"));
	in.state = out.state;
	in.state.since_change_usec = 10 * SEC;
	in.cur = out.next;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_FALSE(out.changed);
	/* The prediction arrives: the gap decides. */
	in.predicted_pages = 300000;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_CONVERGE);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reason, "restart"));
}

/* Rule 1: damping holds everything for settle_usec after a change. */
static void test_damping(void)
{
	setup_cfg();
	struct ksm_pace_output out;
	struct ksm_pace_input in = input(300000, 0, (struct ksm_knobs){ 1, 32000, 20 });
	in.state.since_change_usec = 0;
	in.interval_usec = SEC / 2;
	in.kthread_cpu_percent = 10; /* far under budget: would step up */
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_FALSE(out.changed);
	CU_ASSERT_EQUAL(out.state.since_change_usec, SEC / 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reason, "settling"));
	/* Even dropping below min_savings waits. */
	in.predicted_pages = 10;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_FALSE(out.changed);
	/* Settled: acts. */
	in.predicted_pages = 300000;
	in.state.since_change_usec = 3 * SEC / 2;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_TRUE(out.changed);
	CU_ASSERT_EQUAL(out.state.since_change_usec, 0);
}

/* The exception to damping: more than twice the budget acts at once. */
static void test_damping_way_over_budget(void)
{
	setup_cfg();
	cfg.cpu_budget_percent = 30;
	struct ksm_pace_output out;
	struct ksm_pace_input in = input(300000, 0, (struct ksm_knobs){ 1, 32000, 20 });
	in.state.since_change_usec = 0;
	in.kthread_cpu_percent = 90;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_TRUE(out.changed);
	CU_ASSERT_EQUAL(out.next.pages_to_scan, 10667); /* 32000 x 30 / 90 */
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reason, "over budget"));
}

/* Rule 7: budget fitting, down in proportion, up at most x4, hold between. */
static void test_budget_fit(void)
{
	setup_cfg();
	cfg.cpu_budget_percent = 50;
	struct ksm_pace_output out;
	struct ksm_pace_input in = input(300000, 1000, (struct ksm_knobs){ 1, 10000, 20 });
	in.kthread_cpu_percent = 80;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.next.pages_to_scan, 6250);

	in.kthread_cpu_percent = 5;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.next.pages_to_scan, 40000); /* capped at x4 */
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reason, "under budget"));

	in.kthread_cpu_percent = 30;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.next.pages_to_scan, 16667);

	in.kthread_cpu_percent = 48;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_FALSE(out.changed);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reason, "on budget"));

	in.kthread_cpu_percent = -1;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_FALSE(out.changed);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reason, "unknown"));

	/* Bounds: never above max, never below min. */
	in.cur.pages_to_scan = 90000;
	in.kthread_cpu_percent = 10;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.next.pages_to_scan, cfg.max_pages_to_scan);
	in.cur.pages_to_scan = 120;
	in.kthread_cpu_percent = 100;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.next.pages_to_scan, cfg.min_pages_to_scan);
	/* Knobs not in converge mode (someone else set them): reset to the guess. */
	in.cur = (struct ksm_knobs){ 1, 100, 200 };
	in.kthread_cpu_percent = 1;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.next.sleep_millisecs, 20);
	CU_ASSERT_EQUAL(out.next.pages_to_scan, 8000);
}

/* Rule 5: converged only after the gap stayed small for the hold time. */
static void test_converged_hold(void)
{
	setup_cfg();
	cfg.cpu_budget_percent = 100; /* knobs below are full speed */
	struct ksm_pace_output out;
	struct ksm_pace_input in = input(300000, 290000, (struct ksm_knobs){ 1, 100000, 0 });
	in.interval_usec = SEC / 2;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_CONVERGE);
	CU_ASSERT_EQUAL(out.state.converged_for_usec, SEC / 2);
	in.state = out.state;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_TRICKLE);
	CU_ASSERT_EQUAL(out.next.run, 1);
	CU_ASSERT_EQUAL(out.next.pages_to_scan, 100);
	CU_ASSERT_EQUAL(out.next.sleep_millisecs, 200);
	CU_ASSERT_EQUAL(out.state.trickle_gap_pages, 10000);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reason, "converged"));

	/* A gap that grows again resets the hold. */
	in = input(300000, 290000, (struct ksm_knobs){ 1, 100000, 0 });
	in.state.converged_for_usec = SEC / 2;
	in.merged_pages = 200000;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.state.converged_for_usec, 0);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_CONVERGE);

	/* trickle_pages_to_scan = 0: stop instead. */
	cfg.trickle_pages_to_scan = 0;
	in = input(300000, 299000, (struct ksm_knobs){ 1, 100000, 0 });
	in.state.converged_for_usec = SEC;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.next.run, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reason, "stop"));
}

/* Rule 6: no progress for stall_full_scans passes -> trickle. */
static void test_stall(void)
{
	setup_cfg();
	cfg.cpu_budget_percent = 100; /* knobs below are full speed */
	struct ksm_pace_output out;
	struct ksm_pace_input in = input(300000, 150000, (struct ksm_knobs){ 1, 100000, 0 });
	in.state.best_merged_pages = 150000;
	in.state.full_scans_at_best = 10;
	in.full_scans = 12;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_CONVERGE);
	/* Progress moves the mark. */
	in.merged_pages = 160000;
	in.full_scans = 13;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_CONVERGE);
	CU_ASSERT_EQUAL(out.state.full_scans_at_best, 13);
	CU_ASSERT_EQUAL(out.state.best_merged_pages, 160000);
	/* Three passes with less than 0.1% more: stalled. */
	in.state = out.state;
	in.merged_pages = 160100;
	in.full_scans = 16;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_TRICKLE);
	CU_ASSERT_EQUAL(out.state.trickle_gap_pages, 300000 - 160100);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reason, "stalled"));
	/* full_scans unknown: no stall rule. */
	in.full_scans = -1;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_CONVERGE);
}

/* Merged beyond the prediction: the prediction lags (a first pass that
 * read the pages while KSM merged them predicted 32,739 of 81,833 pages,
 * and KSM trickled for 30 s); converging goes on until KSM stalls. */
static void test_merged_beyond_prediction(void)
{
	setup_cfg();
	cfg.cpu_budget_percent = 100;
	struct ksm_pace_output out;
	struct ksm_pace_input in = input(32739, 50000, (struct ksm_knobs){ 1, 100000, 0 });
	in.state.best_merged_pages = 40000;
	in.full_scans = 11;
	for (int i = 0; i < 4; i++) {
		ksm_pace(&cfg, &in, &out);
		CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_CONVERGE);
		CU_ASSERT_EQUAL(out.state.converged_for_usec, 0);
		in.state = out.state;
		in.merged_pages += 5000;
		in.full_scans++;
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reason, "beyond the 32739 predicted"));
	/* no more progress for stall_full_scans passes: trickle */
	in.merged_pages -= 5000;
	in.full_scans += cfg.stall_full_scans;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_TRICKLE);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reason, "stalled"));
	/* within converged_ratio beyond it: converged as before */
	in = input(32739, 33000, (struct ksm_knobs){ 1, 100000, 0 });
	in.state.converged_for_usec = 2 * SEC;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_TRICKLE);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reason, "converged"));
}

/* Rules 3 and 4: trickle holds until the gap grows past the hysteresis. */
static void test_trickle_restart(void)
{
	setup_cfg();
	struct ksm_pace_output out;
	struct ksm_pace_input in = input(300000, 160000, (struct ksm_knobs){ 1, 100, 200 });
	in.state.phase = KSM_PHASE_TRICKLE;
	in.state.trickle_gap_pages = 140000;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_FALSE(out.changed);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_TRICKLE);
	/* Restart above 140000 + max(5% of predicted, 4096). */
	in.predicted_pages = 310000; /* gap 150000 <= 155500 */
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_TRICKLE);
	in.predicted_pages = 330000;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_CONVERGE);
	CU_ASSERT_TRUE(out.changed);
	CU_ASSERT_EQUAL(out.state.best_merged_pages, 160000);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reason, "restart"));
	/* Trickle with knobs changed behind our back: put them back. */
	in = input(300000, 299000, (struct ksm_knobs){ 1, 5000, 20 });
	in.state.phase = KSM_PHASE_TRICKLE;
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_TRUE(out.changed);
	CU_ASSERT_EQUAL(out.next.pages_to_scan, 100);
}

/* First call: no settling, KSM found running counts as converging. */
static void test_first_call(void)
{
	setup_cfg();
	struct ksm_pace_output out;
	struct ksm_pace_input in = input(300000, 0, (struct ksm_knobs){ 1, 100, 20 });
	memset(&in.state, 0, sizeof in.state);
	ksm_pace(&cfg, &in, &out);
	CU_ASSERT_TRUE(out.state.started);
	CU_ASSERT_EQUAL(out.state.phase, KSM_PHASE_CONVERGE);
	CU_ASSERT_TRUE(out.changed);
	CU_ASSERT_EQUAL(out.next.pages_to_scan, 32000);
}

/* A made-up KSM: merges a fixed share of the gap per second of full-speed
 * scanning after a first pass, and the loop must converge then trickle. */
static void test_simulated_run(void)
{
	setup_cfg();
	cfg.cpu_budget_percent = 100;
	struct ksm_pace_state st = { 0 };
	struct ksm_knobs cur = OFF;
	uint64_t predicted = 327168, merged = 0;
	int64_t scans = 0;
	int trickle_at = -1, changes = 0;
	for (int tick = 0; tick < 60; tick++) {
		struct ksm_pace_input in = {
			.predicted_pages = predicted, .merged_pages = merged, .full_scans = scans,
			.kthread_cpu_percent = cur.run ? (cur.sleep_millisecs ? 1 : 100) : 0,
			.interval_usec = SEC / 2, .urgency = KSM_URGENCY_NORMAL,
			.cur = cur, .state = st,
		};
		struct ksm_pace_output out;
		ksm_pace(&cfg, &in, &out);
		CU_ASSERT(out.reason[0] != 0);
		changes += out.changed;
		cur = out.next;
		st = out.state;
		if (cur.run && cur.sleep_millisecs == 0) {
			scans++;
			if (scans >= 2)
				merged += (predicted - merged) * 6 / 10;
		}
		if (st.phase == KSM_PHASE_TRICKLE && trickle_at < 0)
			trickle_at = tick;
	}
	CU_ASSERT(trickle_at > 0 && trickle_at < 12);
	CU_ASSERT_EQUAL(cur.pages_to_scan, 100);
	CU_ASSERT_EQUAL(changes, 2); /* on at full speed, then trickle: no flapping */
}

int main(void)
{
	static const struct ksmd_test tests[] = {
		{ "defaults", test_defaults },
		{ "off_below_min_savings", test_off_below_min_savings },
		{ "start_converge", test_start_converge },
		{ "urgent_full_speed", test_urgent_full_speed },
		{ "start_already_merged", test_start_already_merged },
		{ "stale_counters", test_stale_counters },
		{ "prediction_pending", test_prediction_pending },
		{ "damping", test_damping },
		{ "damping_way_over_budget", test_damping_way_over_budget },
		{ "budget_fit", test_budget_fit },
		{ "converged_hold", test_converged_hold },
		{ "stall", test_stall },
		{ "merged_beyond_prediction", test_merged_beyond_prediction },
		{ "trickle_restart", test_trickle_restart },
		{ "first_call", test_first_call },
		{ "simulated_run", test_simulated_run },
		{ NULL, NULL },
	};
	KSMD_TEST_INIT();
	ksmd_add_suite("ksmpace", tests);
	return ksmd_run_tests();
}
