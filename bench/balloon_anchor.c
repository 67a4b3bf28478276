/* balloon_anchor.c — run another memory manager's balloon rule (Proxmox VE
 * auto-ballooning or oVirt MOM's balloon policy, ported verbatim in
 * policy/anchor_proxmox.c and policy/anchor_mom.c) against real QEMU guests,
 * through ksmd's own QMP balloon backend: the anchors of the balloon comparison benchmark.
 *
 *   balloon_anchor --rule proxmox|mom [options] NAME=QMP_SOCKET ...
 *
 * One epoll loop drives every guest's balloon (as the daemon and
 * tests/lab/balloon_qmp_probe.c wire it). Every --interval (the original's
 * own period: pvestatd 10 s, vdsm's MOM 15 s; the first round comes one
 * interval after start, as in both) it reads the host, fills the rule's
 * inputs from each balloon's last known state, runs the rule, logs one line
 * for the host and one per VM (inputs, the rule's target and its reason,
 * what was sent), and sets the targets. A target is never set below the
 * VM's minimum (--min, else the rule's own default) nor above its maximum
 * (the guest's RAM size, learned over QMP); the clamp is logged when it
 * bites. SIGINT/SIGTERM (or --duration) end the run and leave every balloon
 * where it is.
 *
 * Host inputs: /proc/meminfo, or a memory cgroup read as a host
 * (bench/balloon_anchor_host.c says how each original reads them).
 *
 * Guest inputs, from the balloon backend (balloon/balloon.h):
 *   Proxmox (qemu-server vmstatus): balloon = query-balloon actual (0 =
 *     not ready: skipped, AutoBalloon.pm:95); maxmem = the RAM size;
 *     balloon_min = --min (unset: the VM is skipped, AutoBalloon.pm:96, as
 *     in Proxmox without a `balloon` setting); shares = --shares (default
 *     1000); freemem = the guest's stat-free-memory (Proxmox's patched
 *     query-balloon free_mem), 0 when not reported.
 *   MOM (vdsm vmstats.py): balloon_cur = actual (balloonInfo is missing
 *     while the balloon is not ready: as in MOM, that aborts the whole
 *     round); balloon_max = the RAM size; balloon_min = --min (default 0,
 *     vdsm's default guaranteed memory); mem_unused = stat-free-memory,
 *     present when the guest reports its total (vmstats.py:463-467). One
 *     sample of host and guests per round, the last 10 averaged (vdsm's
 *     mom.conf: every monitor at 15 s, sample-history-length 10). */
#include "balloon/balloon.h"
#include "bench/balloon_anchor.h"
#include "common/log.h"
#include "common/util.h"
#include "policy/anchors.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct vm vms[ANCHOR_MAX_VMS];
size_t n_vms;
static FILE *out;
static usec_t t0;

/* ---------------------------------------------------------------- output */

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fflush(out);
}

static double secs(usec_t now)
{
	return (double)(now - t0) / 1e6;
}

/* Clamp the rule's target to [floor, max] and send it. Writes what
 * happened into note/sent for the log line. */
static void apply(struct vm *v, const struct balloon_info *i, uint64_t want,
		  bool dry_run, usec_t now, char *note, size_t note_len, uint64_t *sent)
{
	uint64_t t = want;
	*sent = 0;
	note[0] = '\0';
	if (v->min_bytes && t < v->min_bytes) {
		t = v->min_bytes;
		snprintf(note, note_len, "raised to min");
	}
	if (i->limits.max_bytes && t > i->limits.max_bytes) {
		t = i->limits.max_bytes;
		snprintf(note, note_len, "lowered to max");
	}
	if (dry_run) {
		*sent = t;
		snprintf(note + strlen(note), note_len - strlen(note), "%sdry run",
			 note[0] ? ", " : "");
		return;
	}
	int r = balloon_set_target(v->b, t, now, sent);
	if (r < 0) {
		*sent = 0;
		snprintf(note + strlen(note), note_len - strlen(note), "%snot sent: %s",
			 note[0] ? ", " : "", strerror(-r));
	}
}

static const char *state_of(const struct balloon_info *i)
{
	return balloon_state_name(i->state);
}

static uint64_t stat_or_0(const struct balloon_info *i, enum balloon_stat s)
{
	return (i->stats.valid_mask & (1u << s)) ? i->stats.value[s] : 0;
}

/* ------------------------------------------------------------ the rounds */

static void round_proxmox(unsigned round, const struct host_in *h, unsigned target_percent,
			  bool dry_run, usec_t now)
{
	struct anchor_pve_host host = {
		.mem_total_bytes = h->total_bytes,
		/* ProcFSTools.pm:414 memused = memtotal - memavailable */
		.mem_used_bytes = h->total_bytes - MIN(h->available_bytes, h->total_bytes),
		.target_percent = target_percent,
	};
	struct anchor_pve_vm in[ANCHOR_MAX_VMS];
	struct balloon_info info[ANCHOR_MAX_VMS];
	for (size_t k = 0; k < n_vms; k++) {
		struct balloon_info *i = &info[k];
		balloon_get_info(vms[k].b, i);
		bool ok = i->state == BALLOON_READY && i->actual_bytes && i->limits.max_bytes;
		in[k] = (struct anchor_pve_vm){
			.balloon_bytes = ok ? i->actual_bytes : 0,
			.maxmem_bytes = i->limits.max_bytes,
			.balloon_min_bytes = vms[k].min_bytes,
			.shares = vms[k].shares,
			.freemem_bytes = stat_or_0(i, BALLOON_STAT_FREE),
		};
	}
	static struct anchor_pve_round r;
	int rc = anchor_proxmox_round(&host, in, n_vms, &r);
	if (rc < 0) {
		logf_("round=%u t=%.3f rule=proxmox error=\"%s\"\n", round, secs(now), strerror(-rc));
		return;
	}
	static const char *phase[] = { "nothing", "grow", "shrink" };
	logf_("round=%u t=%.3f rule=proxmox host=%s total=%llu used=%llu usage=%llu "
	      "target_percent=%u goal=%lld phase=%s all_pass=%d rest=%lld passes=%u%s\n",
	      round, secs(now), h->source, (unsigned long long)host.mem_total_bytes,
	      (unsigned long long)host.mem_used_bytes, (unsigned long long)h->usage_bytes,
	      target_percent, (long long)r.goal_bytes, phase[r.phase], r.all_pass,
	      (long long)r.rest_bytes, r.passes, r.pass_cap_hit ? " pass_cap_hit=1" : "");
	static const char *list[] = { "none", "pressure", "free" };
	for (size_t k = 0; k < n_vms; k++) {
		const struct anchor_pve_vm_out *o = &r.vm[k];
		char note[128] = "";
		uint64_t sent = 0;
		if (o->set)
			apply(&vms[k], &info[k], o->target_bytes, dry_run, now, note, sizeof note, &sent);
		logf_("round=%u t=%.3f vm=%s state=%s actual=%llu max=%llu min=%llu shares=%u "
		      "free=%llu list=%s reason=%s desired=%lld target=%llu sent=%llu "
		      "why=\"%s\"%s%s%s\n",
		      round, secs(now), vms[k].name, state_of(&info[k]),
		      (unsigned long long)info[k].actual_bytes,
		      (unsigned long long)info[k].limits.max_bytes,
		      (unsigned long long)vms[k].min_bytes, vms[k].shares,
		      (unsigned long long)in[k].freemem_bytes, list[o->list],
		      anchor_pve_reason_name(o->reason), (long long)o->desired_bytes,
		      (unsigned long long)(o->set ? o->target_bytes : 0),
		      (unsigned long long)sent, o->reason_text,
		      note[0] ? " note=\"" : "", note, note[0] ? "\"" : "");
	}
}

static struct anchor_mom_host mom_host;

static void round_mom(unsigned round, const struct host_in *h, bool dry_run, usec_t now)
{
	/* HostMemory.py:73-76: one sample per round. */
	anchor_mom_host_push(&mom_host, h->free_bytes + h->cache_bytes, h->total_bytes);
	struct balloon_info info[ANCHOR_MAX_VMS];
	static struct anchor_mom_guest in[ANCHOR_MAX_VMS];
	for (size_t k = 0; k < n_vms; k++) {
		struct balloon_info *i = &info[k];
		balloon_get_info(vms[k].b, i);
		bool ok = i->state == BALLOON_READY && i->actual_bytes && i->limits.max_bytes;
		bool mem = ok && (i->stats.valid_mask & (1u << BALLOON_STAT_TOTAL));
		struct anchor_mom_sample s = {
			.balloon_valid = ok,
			.balloon_cur_bytes = ok ? i->actual_bytes : 0,
			.mem_unused_valid = mem,
			.mem_unused_bytes = mem ? stat_or_0(i, BALLOON_STAT_FREE) : 0,
		};
		anchor_mom_guest_push(&vms[k].mom, &s);
		vms[k].mom.balloon_min_bytes = vms[k].min_bytes;
		vms[k].mom.balloon_max_bytes = i->limits.max_bytes;
		in[k] = vms[k].mom;
	}
	static struct anchor_mom_round r;
	int rc = anchor_mom_round(&mom_host, in, n_vms, &r);
	if (rc < 0) {
		logf_("round=%u t=%.3f rule=mom error=\"%s\"\n", round, secs(now), strerror(-rc));
		return;
	}
	logf_("round=%u t=%.3f rule=mom host=%s total=%llu free=%llu usage=%llu samples=%u "
	      "free_avg_kib=%.1f host_free=%.4f pressure=%d critical=%d balloon_enabled=%d "
	      "aborted=%d\n",
	      round, secs(now), h->source, (unsigned long long)h->total_bytes,
	      (unsigned long long)(h->free_bytes + h->cache_bytes),
	      (unsigned long long)h->usage_bytes, mom_host.n_samples, r.host_free_avg_kib,
	      r.host_free_percent, r.pressure, r.critical, mom_host.balloon_enabled, r.aborted);
	for (size_t k = 0; k < n_vms; k++) {
		const struct anchor_mom_guest_out *o = &r.guest[k];
		const struct anchor_mom_sample *s = &in[k].samples[in[k].n_samples - 1];
		char note[128] = "";
		uint64_t sent = 0;
		if (o->set)
			apply(&vms[k], &info[k], o->target_bytes, dry_run, now, note, sizeof note, &sent);
		logf_("round=%u t=%.3f vm=%s state=%s cur=%llu unused=%s%llu samples=%u min=%llu "
		      "max=%llu guest_free=%.4f used_kib=%.1f floor_kib=%.1f size_kib=%.1f "
		      "reason=%s target=%llu sent=%llu why=\"%s\"%s%s%s\n",
		      round, secs(now), vms[k].name, state_of(&info[k]),
		      (unsigned long long)s->balloon_cur_bytes, s->mem_unused_valid ? "" : "none:",
		      (unsigned long long)s->mem_unused_bytes, in[k].n_samples,
		      (unsigned long long)in[k].balloon_min_bytes,
		      (unsigned long long)in[k].balloon_max_bytes, o->guest_free_percent,
		      o->used_kib, o->floor_kib, o->size_kib, anchor_mom_reason_name(o->reason),
		      (unsigned long long)(o->set ? o->target_bytes : 0),
		      (unsigned long long)sent, o->reason_text,
		      note[0] ? " note=\"" : "", note, note[0] ? "\"" : "");
	}
}

/* ------------------------------------------------------------------ main */

/* The run's first lines: the rule, its source and settings, the VMs. */
static void log_header(const struct args *a, const struct host_in *h)
{
	logf_("# balloon_anchor rule=%s interval=%.3fs host=%s%s%s dry_run=%d vms=%zu",
	      a->rule == RULE_PROXMOX ? "proxmox" : "mom", a->interval_s, a->cgroup ? h->source : "meminfo",
	      a->cgroup ? ":" : "", a->cgroup ? a->cgroup : "", a->dry_run, n_vms);
	if (a->rule == RULE_PROXMOX)
		logf_(" source=proxmox/pve-manager@14a22df35955d97dfc1af21e117dc894a29df0c9:"
		      "PVE/AutoBalloon.pm target_percent=%lld maxchange=%llu min_goal=%llu\n",
		      (long long)a->target_percent, (unsigned long long)ANCHOR_PVE_MAXCHANGE_BYTES,
		      (unsigned long long)ANCHOR_PVE_MIN_GOAL_BYTES);
	else
		logf_(" source=oVirt/vdsm@fd4b0df20b9bc79864ba0d11c3c1140fb1de194a:"
		      "static/etc/vdsm/mom.d/02-balloon.policy balloon_enabled=%d history=%d\n",
		      a->balloon_enabled, ANCHOR_MOM_HISTORY);
	for (size_t k = 0; k < n_vms; k++)
		logf_("# vm=%s qmp=%s min=%llu%s shares=%u\n", vms[k].name, vms[k].qmp_path,
		      (unsigned long long)vms[k].min_bytes,
		      vms[k].min_set ? "" : (a->rule == RULE_PROXMOX ? " (unset: skipped)" : " (default 0)"),
		      vms[k].shares);
}

static int sig_tag; /* the signalfd's epoll tag; balloons are tagged by their struct */

/* SIGINT and SIGTERM into a signalfd, in a new epoll set with it. Returns
 * 0, or -errno (a message printed). */
static int open_loop(int *sfd, int *ep)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	*sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	*ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event sev = { .events = EPOLLIN, .data.ptr = &sig_tag };
	if (*sfd < 0 || *ep < 0 || epoll_ctl(*ep, EPOLL_CTL_ADD, *sfd, &sev) < 0) {
		int e = errno;
		fprintf(stderr, "balloon_anchor: signalfd/epoll: %s\n", strerror(e));
		return -e;
	}
	return 0;
}

/* One QMP balloon backend per VM. Returns 0, or -1 (a message printed). */
static int start_balloons(usec_t now)
{
	for (size_t k = 0; k < n_vms; k++) {
		struct vm *v = &vms[k];
		/* The backend's own floor is ours: min, or 1 byte for "none"
		 * (0 would mean its default of 50% of max). No step bound: the
		 * rules have their own. */
		struct balloon_config cfg = { .min_bytes = v->min_bytes ? v->min_bytes : 1 };
		v->b = balloon_new_qmp(v->name, v->qmp_path, &cfg, NULL, NULL);
		if (!v->b) {
			fprintf(stderr, "balloon_anchor: %s: cannot create balloon\n", v->name);
			return -1;
		}
		balloon_tick(v->b, now);
	}
	return 0;
}

/* One round at now: read the host and run the rule. */
static void run_round(const struct args *a, unsigned round, usec_t now)
{
	struct host_in h;
	int r = a->cgroup ? read_cgroup(a->cgroup, &h) : read_meminfo(&h);
	if (r < 0)
		logf_("round=%u t=%.3f error=\"host: %s\": round skipped\n", round, secs(now), strerror(-r));
	else if (a->rule == RULE_PROXMOX)
		round_proxmox(round, &h, (unsigned)a->target_percent, a->dry_run, now);
	else
		round_mom(round, &h, a->dry_run, now);
}

/* Wait for the next event (a round, the end, a balloon's deadline or fd,
 * a signal) and handle the fds. Returns true when a signal asks to stop
 * (*why says which) or epoll fails. */
static bool wait_and_dispatch(int ep, int sfd, usec_t until, const char **why)
{
	usec_t d = until, now;
	for (size_t k = 0; k < n_vms; k++) {
		balloon_epoll_sync(vms[k].b, ep, vms[k].b);
		d = MIN(d, balloon_next_deadline(vms[k].b));
	}
	now = now_usec();
	int ms = d > now ? (int)MIN((d - now + 999) / 1000, 1000) : 0;
	struct epoll_event ev[ANCHOR_MAX_VMS + 1];
	int n = epoll_wait(ep, ev, ARRAY_SIZE(ev), ms);
	if (n < 0 && errno != EINTR) {
		fprintf(stderr, "balloon_anchor: epoll_wait: %s\n", strerror(errno));
		*why = "error";
		return true;
	}
	now = now_usec();
	bool stop = false;
	for (int k = 0; k < n; k++) {
		if (ev[k].data.ptr == &sig_tag) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
				*why = si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM";
				stop = true;
			}
			continue;
		}
		struct balloon *b = ev[k].data.ptr;
		if (ev[k].events & EPOLLOUT)
			balloon_on_writable(b, now);
		if (ev[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			balloon_on_readable(b, now);
	}
	if (stop)
		return true;
	for (size_t k = 0; k < n_vms; k++)
		balloon_tick(vms[k].b, now);
	return false;
}

int main(int argc, char **argv)
{
	struct args a;
	int r = parse_args(argc, argv, &a);
	if (r)
		return r == 1 ? 0 : 2;
	out = stdout;
	if (a.log_path && !(out = fopen(a.log_path, "ae"))) {
		fprintf(stderr, "balloon_anchor: %s: %s\n", a.log_path, strerror(errno));
		return 1;
	}
	log_open(LOG_TO_STDERR, a.verbose ? LOG_DEBUG : LOG_WARNING);

	/* Check the host source once before starting. */
	struct host_in h;
	r = a.cgroup ? read_cgroup(a.cgroup, &h) : read_meminfo(&h);
	if (r < 0) {
		fprintf(stderr, "balloon_anchor: %s: %s\n", a.cgroup ? a.cgroup : "/proc/meminfo",
			strerror(-r));
		return 1;
	}
	int sfd, ep;
	if (open_loop(&sfd, &ep) < 0)
		return 1;
	t0 = now_usec();
	if (start_balloons(t0) < 0)
		return 1;
	mom_host.balloon_enabled = a.balloon_enabled;

	usec_t interval = (usec_t)(a.interval_s * 1e6);
	usec_t end = a.duration_s > 0 ? t0 + (usec_t)(a.duration_s * 1e6) : 0;
	usec_t next_round = t0 + interval;   /* pvestatd.pm:896, PolicyEngine.py:139 */
	log_header(&a, &h);
	unsigned round = 0;
	const char *why = "duration";
	for (;;) {
		usec_t now = now_usec();
		if (end && now >= end)
			break;
		if (now >= next_round) {
			run_round(&a, ++round, now);
			/* Fixed period from the start, like pvestatd's
			 * $next_update (a slow round does not shift the rest). */
			while (next_round <= now)
				next_round += interval;
		}
		if (wait_and_dispatch(ep, sfd, end ? MIN(next_round, end) : next_round, &why))
			break;
	}

	/* Leave the balloons where they are: no restore, pending commands
	 * are dropped with the connection. */
	logf_("# exit reason=%s rounds=%u t=%.3f\n", why, round, secs(now_usec()));
	for (size_t k = 0; k < n_vms; k++)
		balloon_free(vms[k].b);
	close(ep);
	close(sfd);
	if (out != stdout)
		fclose(out);
	return 0;
}
