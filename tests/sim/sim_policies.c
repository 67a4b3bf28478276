/* sim_policies.c — the controllers the policy simulator compares
 * (tests/sim/sim.h): ksmd (policy_decide and ksm_pace, as the daemon's
 * tick runs them), oVirt MOM, Proxmox VE with ksmtuned, and Xen's
 * squeezed, each at its own period. */
#include "tests/sim/sim.h"

/* ------------------------------------------------------------ the policies */

/* A guest as the daemon's tick shows it to policy_decide()
 * (daemon/tick.c policy_guest_view). */
static void ksmd_guest_view(const struct sim *s, int i, usec_t now, struct policy_guest *pg)
{
	const struct sguest *g = &s->g[i];
	snprintf(pg->name, sizeof pg->name, "%s", g->name);
	pg->id = (uint64_t)i + 1;
	pg->has_balloon = true;
	pg->stuck = g->stuck_flag;
	pg->min_bytes = (uint64_t)g->min;
	pg->max_bytes = (uint64_t)g->max;
	pg->shares = (uint64_t)g->shares;
	pg->balloon_actual_bytes = (uint64_t)g->actual;
	pg->balloon_target_bytes = (uint64_t)target_of(g);
	pg->stats_valid = true;
	pg->stat_total_bytes = (uint64_t)g->actual;
	pg->stat_available_bytes = (uint64_t)g->st_avail;
	pg->stat_free_bytes = (uint64_t)g->st_free;
	pg->stat_free_valid = true;
	pg->major_faults_per_sec = g->st_faults;
	pg->swap_in_pages_per_sec = g->st_faults;
	pg->stats_age_usec = (usec_t)((s->t - g->st_t) * USEC_PER_SEC);
	pg->rss_bytes = (uint64_t)rss_of(g);
	pg->ksm_merging_pages = (uint64_t)(merged_share(s, i) / PAGE);
	/* wss_tracker_fill() */
	pg->host_active_valid = g->hw_valid;
	pg->host_active_bytes = g->hw_valid ? (uint64_t)g->hw_bytes : 0;
	pg->host_active_age_usec = g->hw_valid ? now - g->hw_sampled : 0;
}

/* The KSM executor (daemon/tick.c ksm_drive -> ksm_driver_tick ->
 * ksm_pace), at the daemon's tick. */
static void ksmd_pace(struct sim *s)
{
	struct ksm_pace_input in;
	memset(&in, 0, sizeof in);
	in.predicted_pages = s->have_prediction ? (uint64_t)(s->prediction / PAGE)
						: KSM_PREDICTION_PENDING;
	in.merged_pages = (uint64_t)(s->merged / PAGE);
	in.merged_stale = !s->was_running;
	in.full_scans = (int64_t)s->full_scans;
	in.kthread_cpu_percent = s->have_cpu ? s->k_cpu_pct : -1;
	in.interval_usec = KSMD_TICK_S * USEC_PER_SEC;
	in.urgency = s->plan.merge_urgency == POLICY_MERGE_URGENT ? KSM_URGENCY_URGENT
		   : s->plan.merge_urgency == POLICY_MERGE_IDLE ? KSM_URGENCY_IDLE
								 : KSM_URGENCY_NORMAL;
	in.cur = (struct ksm_knobs){ s->k_run, s->k_pts, s->k_sleep };
	in.state = s->pace;
	struct ksm_pace_output out;
	ksm_pace(&s->pace_cfg, &in, &out);
	s->pace = out.state;
	s->was_running = s->k_run == 1;
	s->have_cpu = true;
	if (out.changed)
		snprintf(s->pace_reason, sizeof s->pace_reason, "%s", out.reason);
	s->k_run = out.next.run;
	s->k_pts = out.next.pages_to_scan;
	s->k_sleep = out.next.sleep_millisecs;
}

static void run_ksmd(struct sim *s)
{
	static struct policy_snapshot snap;
	memset(&snap, 0, sizeof snap);
	snap.now_usec = usec_at(s->t);
	policy_conf_defaults(&snap.conf);
	snap.conf.tick_usec = KSMD_TICK_S * USEC_PER_SEC; /* the daemon's tick drives the policy */
	snap.conf.budget_bytes = (uint64_t)s->budget;
	snap.conf.reserve_bytes = (uint64_t)s->reserve;
	if (s->pol == P_KSMD_NOTRIM)
		snap.conf.idle_trim_percent = 0;
	double used = guest_cost(s);
	snap.host.mem_total_bytes = (uint64_t)s->total;
	snap.host.mem_available_bytes = (uint64_t)fmax(0, s->total - s->other - used);
	snap.host.swap_out_pages_per_sec = s->swap_out_rate;
	snap.host.psi_available = true;
	snap.host.psi_some_avg10_percent = s->psi_some;
	snap.host.psi_full_avg10_percent = s->psi_full;
	snap.merge.available = s->have_prediction;
	snap.merge.potential_pages = (uint64_t)(s->prediction / PAGE);
	snap.merge.merged_pages = (uint64_t)(s->merged / PAGE);
	snap.merge.ksmd_cpu_percent = s->have_cpu ? s->k_cpu_pct : -1;
	snap.n_guests = (size_t)s->ng;
	for (int i = 0; i < s->ng; i++)
		wss_tick(s, &s->g[i], snap.conf.host_wss_interval_usec);
	for (int i = 0; i < s->ng; i++)
		ksmd_guest_view(s, i, snap.now_usec, &snap.guests[i]);
	policy_decide(&snap, &s->st, &s->plan);
	s->plan_valid = true;
	for (size_t i = 0; i < s->plan.n_actions; i++) {
		const struct policy_action *a = &s->plan.actions[i];
		set_target(s, &s->g[a->guest_index], (double)a->target_bytes);
	}
	ksmd_pace(s);
}

/* oVirt MOM as vdsm runs it: the host and guest monitors sample every
 * 15 s (history 10), the policy engine evaluates 02-balloon.policy
 * (anchor_mom_round) and 03-ksm.policy (mom_ksm_round) every 15 s. */
static void mom_sample(struct sim *s)
{
	double hostfree = fmax(0, s->total - s->other - guest_cost(s));
	anchor_mom_host_push(&s->mom, (uint64_t)hostfree, (uint64_t)s->total);
	s->mom.balloon_enabled = true; /* the cluster's "enable ballooning" (00-defines: 0 until set) */
	for (int i = 0; i < s->ng; i++) {
		struct sguest *g = &s->g[i];
		struct anchor_mom_sample sm = {
			.balloon_valid = true,
			.balloon_cur_bytes = (uint64_t)g->actual,
			.mem_unused_valid = true,
			.mem_unused_bytes = (uint64_t)g->st_free,
		};
		anchor_mom_guest_push(&g->mom, &sm);
		g->mom.balloon_min_bytes = (uint64_t)g->min;
		g->mom.balloon_max_bytes = (uint64_t)g->max;
	}
}

static void run_mom(struct sim *s)
{
	static struct anchor_mom_guest guests[NGMAX];
	static struct anchor_mom_round r;
	for (int i = 0; i < s->ng; i++)
		guests[i] = s->g[i].mom;
	if (anchor_mom_round(&s->mom, guests, (size_t)s->ng, &r) == 0)
		for (int i = 0; i < s->ng; i++)
			if (r.guest[i].set)
				set_target(s, &s->g[i], (double)r.guest[i].target_bytes);

	struct mom_ksm_host h;
	memset(&h, 0, sizeof h);
	h.mem_available_kib = (int64_t)(s->total / 1024);
	uint64_t sum = 0;
	for (unsigned k = 0; k < s->mom.n_samples; k++)
		sum += s->mom.mem_free_bytes[k] / 1024;
	h.mem_free_avg_kib = (double)sum / (double)s->mom.n_samples; /* Entity.py:121 */
	for (int i = 0; i < s->ng; i++)
		h.ksm_shareable_kib += (int64_t)(s->g[i].max / 1024); /* VSZ >= the guest's RAM */
	h.ksm_run = s->k_run;
	h.ksm_pages_to_scan = s->k_pts;
	h.ksm_sleep_millisecs = s->k_sleep;
	h.ksm_pages_shared = s->merged > 0 ? 1 : 0;
	h.ksm_merge_across_nodes = 1;
	h.ksm_enabled = 1;
	h.ksm_merge_across_nodes_req = 1;
	struct mom_ksm_out o;
	mom_ksm_round(&h, &o);
	if (o.set_run)
		s->k_run = (unsigned)o.run;
	if (o.set_pages_to_scan)
		s->k_pts = (unsigned)o.pages_to_scan;
	if (o.set_sleep)
		s->k_sleep = (unsigned)o.sleep_millisecs;
	if (o.set_run || o.set_pages_to_scan || o.set_sleep)
		snprintf(s->pace_reason, sizeof s->pace_reason, "%s", o.reason);
}

/* Proxmox VE: pvestatd's auto-ballooning every 10 s (anchor_proxmox_round),
 * ksmtuned every 60 s. */
static void run_proxmox(struct sim *s)
{
	struct anchor_pve_host h = {
		.mem_total_bytes = (uint64_t)s->total,
		.mem_used_bytes = (uint64_t)fmin(s->total, s->other + guest_cost(s)),
		.target_percent = ANCHOR_PVE_TARGET_PERCENT,
	};
	static struct anchor_pve_vm vms[NGMAX];
	static struct anchor_pve_round r;
	for (int i = 0; i < s->ng; i++) {
		struct sguest *g = &s->g[i];
		vms[i] = (struct anchor_pve_vm){
			.balloon_bytes = (uint64_t)g->actual,
			.maxmem_bytes = (uint64_t)g->max,
			.balloon_min_bytes = (uint64_t)g->min,
			.shares = ANCHOR_PVE_DEFAULT_SHARES,
			.freemem_bytes = (uint64_t)g->st_free,
		};
	}
	if (anchor_proxmox_round(&h, vms, (size_t)s->ng, &r) == 0)
		for (int i = 0; i < s->ng; i++)
			if (r.vm[i].set)
				set_target(s, &s->g[i], (double)r.vm[i].target_bytes);
}

static void run_ksmtuned(struct sim *s)
{
	double used = guest_cost(s);   /* sum of the kvm processes' PSS */
	struct ksmtuned_out o;
	ksmtuned_adjust(&s->tuned, (int64_t)(fmax(0, s->total - s->other - used) / 1024),
			(int64_t)(used / 1024), &o);
	if (o.stop) {
		s->k_run = 0;
	} else {
		s->k_pts = (unsigned)o.pages_to_scan;
		s->k_sleep = (unsigned)o.sleep_millisecs;
		s->k_run = 1;
	}
	snprintf(s->pace_reason, sizeof s->pace_reason, "%s", o.reason);
}

/* Xen squeezed: every balance-check-interval (10 s), if the host is
 * unbalanced, change_host_free_memory: one_iteration every second until
 * Success or Failed. Xen's free memory is read as the memory the budget
 * leaves after every guest's balloon actual (Xen backs all of a domain's
 * actual; on a cut budget it goes negative). */
static size_t sq_domains(const struct sim *s, struct sq_domain *d, int64_t *free_kib)
{
	double free_b = budget_eff(s);
	for (int i = 0; i < s->ng; i++) {
		const struct sguest *g = &s->g[i];
		d[i] = (struct sq_domain){
			.domid = i,
			.can_balloon = true,
			.dynamic_min_kib = (int64_t)(g->min / 1024),
			.dynamic_max_kib = (int64_t)(g->max / 1024),
			.target_kib = (int64_t)(target_of(g) / 1024),
			.memory_actual_kib = (int64_t)(g->actual / 1024),
			.inaccuracy_kib = SQ_INACCURACY_KIB,
		};
		free_b -= g->actual;
	}
	*free_kib = (int64_t)(free_b / 1024);
	return (size_t)s->ng;
}

static void run_squeezed(struct sim *s)
{
	static struct sq_domain d[NGMAX];
	int64_t free_kib;
	size_t n = sq_domains(s, d, &free_kib);
	if (!s->sq_balancing) {
		if (s->t < s->sq_next_check)
			return;
		if (!sq_is_host_memory_unbalanced(d, n, free_kib, s->t)) {
			s->sq_next_check = s->t + SQ_BALANCE_CHECK_INTERVAL_S;
			return;
		}
		s->sq_balancing = true;
		sq_squeezer_make(&s->sq);
	}
	struct sq_iteration it;
	sq_one_iteration(&s->sq, d, n, free_kib, SQ_TARGET_HOST_FREE_KIB, s->t, &it);
	if (it.result != SQ_ADJUST_TARGETS) {
		s->sq_balancing = false;
		s->sq_next_check = s->t + SQ_BALANCE_CHECK_INTERVAL_S;
		return;
	}
	for (size_t a = 0; a < it.n_actions; a++)
		set_target(s, &s->g[it.action_domid[a]], (double)it.new_target_kib[a] * 1024);
}

void controllers(struct sim *s)
{
	int t = (int)s->t;
	switch (s->pol) {
	case P_KSMD:
	case P_KSMD_NOTRIM:
		if (t % KSMD_TICK_S == 0)
			run_ksmd(s);
		break;
	case P_MOM:
		if (t % 15 == 0) {                 /* ANCHOR_MOM_INTERVAL_USEC */
			mom_sample(s);
			if (t > 0)
				run_mom(s);
		}
		break;
	case P_PROXMOX:
		if (t > 0 && t % 10 == 0)          /* ANCHOR_PVE_INTERVAL_USEC, first cycle skipped */
			run_proxmox(s);
		if (t > 0 && t % KSMTUNED_MONITOR_INTERVAL_S == 0)
			run_ksmtuned(s);
		break;
	case P_SQUEEZED:
		run_squeezed(s);
		break;
	default:
		break;
	}
}
