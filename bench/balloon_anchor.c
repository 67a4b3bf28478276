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
 * Host inputs. By default /proc/meminfo, read as each original reads it:
 *   Proxmox (pve-common ProcFSTools.pm:381-440): total = MemTotal,
 *     used = MemTotal - MemAvailable.
 *   MOM (mom Collectors/HostMemory.py:44-77): mem_available = MemTotal,
 *     mem_free = MemFree + Buffers + Cached.
 * With --cgroup PATH the host the rule sees is that memory cgroup (v2:
 * memory.max, memory.current, memory.stat; v1: memory.limit_in_bytes,
 * memory.usage_in_bytes, memory.stat), mapped term by term:
 *   MemTotal     -> the limit (no limit, or one above the host's RAM: the
 *                   host's MemTotal, which is what bounds the cgroup then);
 *   MemFree      -> limit - usage (the cgroup's headroom; 0 when over);
 *   Buffers + Cached -> the cgroup's page cache: v2 `file`, v1 `total_cache`
 *                   (both include tmpfs/shmem, as Cached does);
 *   MemAvailable -> MemFree + the file LRU (v2 active_file + inactive_file,
 *                   v1 total_active_file + total_inactive_file) + v2
 *                   slab_reclaimable: the kernel's si_mem_available() sum
 *                   without its watermark terms, which a cgroup has not
 *                   (its limit is the edge), capped at the limit.
 * So Proxmox's used = limit - available and MOM's mem_free = headroom +
 * page cache, exactly as each computes them from meminfo.
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

enum rule { RULE_PROXMOX, RULE_MOM };

struct vm {
	char name[64];
	const char *qmp_path;
	struct balloon *b;
	uint64_t min_bytes;         /* --min; 0 = the rule's default */
	bool min_set;
	unsigned shares;            /* --shares (Proxmox) */
	struct anchor_mom_guest mom; /* MOM's GuestMonitor history */
};

static struct vm vms[ANCHOR_MAX_VMS];
static size_t n_vms;
static FILE *out;
static usec_t t0;

/* ------------------------------------------------------------ host input */

/* Value of "Key: 123 kB" (meminfo) or "key 123" (memory.stat) in text:
 * a line that starts with key followed by ':' or ' '. kB becomes bytes. */
static bool kv_u64(const char *text, const char *key, uint64_t *v)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, kl) || (p[kl] != ':' && p[kl] != ' '))
			continue;
		const char *s = p + kl + 1;
		char *end;
		errno = 0;
		unsigned long long x = strtoull(s, &end, 10);
		if (end == s || errno)
			return false;
		while (*end == ' ')
			end++;
		*v = strncmp(end, "kB", 2) == 0 ? x * KIB : x;
		return true;
	}
	return false;
}

struct host_in {
	char source[64];            /* "meminfo", "cgroup-v2", "cgroup-v1" */
	uint64_t total_bytes;       /* MemTotal or its cgroup analogue */
	uint64_t free_bytes;        /* MemFree analogue */
	uint64_t cache_bytes;       /* Buffers + Cached analogue */
	uint64_t available_bytes;   /* MemAvailable analogue */
	uint64_t usage_bytes;       /* cgroup usage (0 for meminfo) */
};

static int read_meminfo(struct host_in *h)
{
	char *text = NULL;
	int r = read_file("/proc/meminfo", &text, NULL);
	if (r < 0)
		return r;
	uint64_t buffers, cached;
	if (!kv_u64(text, "MemTotal", &h->total_bytes) ||
	    !kv_u64(text, "MemFree", &h->free_bytes) ||
	    !kv_u64(text, "MemAvailable", &h->available_bytes) ||
	    !kv_u64(text, "Buffers", &buffers) || !kv_u64(text, "Cached", &cached))
		r = -EINVAL;
	else
		h->cache_bytes = buffers + cached;
	free(text);
	snprintf(h->source, sizeof h->source, "meminfo");
	h->usage_bytes = 0;
	return r;
}

/* A cgroup as a host; see the header comment for the mapping. */
static int read_cgroup(const char *dir, struct host_in *h)
{
	struct host_in host;
	int r = read_meminfo(&host);
	if (r < 0)
		return r;
	char path[4096], *text = NULL;
	bool v2;
	uint64_t limit, usage;
	snprintf(path, sizeof path, "%s/memory.max", dir);
	if (access(path, R_OK) == 0) {
		v2 = true;
		if ((r = read_file(path, &text, NULL)) < 0)
			return r;
		char *end;
		errno = 0;
		if (strncmp(text, "max", 3) == 0) {
			limit = UINT64_MAX;
		} else {
			limit = strtoull(text, &end, 10);
			if (end == text || errno)
				r = -EINVAL;
		}
		free(text);
		if (r < 0)
			return r;
		snprintf(path, sizeof path, "%s/memory.current", dir);
	} else {
		v2 = false;
		snprintf(path, sizeof path, "%s/memory.limit_in_bytes", dir);
		if ((r = read_u64_file(path, &limit)) < 0)
			return r;
		snprintf(path, sizeof path, "%s/memory.usage_in_bytes", dir);
	}
	if ((r = read_u64_file(path, &usage)) < 0)
		return r;
	snprintf(path, sizeof path, "%s/memory.stat", dir);
	if ((r = read_file(path, &text, NULL)) < 0)
		return r;
	uint64_t cache = 0, afile = 0, ifile = 0, slab = 0;
	bool ok = v2 ? kv_u64(text, "file", &cache) && kv_u64(text, "active_file", &afile) &&
		       kv_u64(text, "inactive_file", &ifile)
		     : kv_u64(text, "total_cache", &cache) &&
		       kv_u64(text, "total_active_file", &afile) &&
		       kv_u64(text, "total_inactive_file", &ifile);
	if (v2)
		(void)kv_u64(text, "slab_reclaimable", &slab); /* absent before 5.9 */
	free(text);
	if (!ok)
		return -EINVAL;

	memset(h, 0, sizeof *h);
	snprintf(h->source, sizeof h->source, "cgroup-v%d", v2 ? 2 : 1);
	h->total_bytes = MIN(limit, host.total_bytes);
	h->usage_bytes = usage;
	h->free_bytes = h->total_bytes > usage ? h->total_bytes - usage : 0;
	h->cache_bytes = cache;
	h->available_bytes = MIN(h->free_bytes + afile + ifile + slab, h->total_bytes);
	return 0;
}

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

static const char usage_text[] =
"usage: balloon_anchor --rule proxmox|mom [options] NAME=QMP_SOCKET ...\n"
"\n"
"Run another memory manager's balloon rule, ported verbatim (policy/anchor_*.c),\n"
"against QEMU guests through ksmd's QMP balloon backend. One log line per\n"
"round for the host and one per VM: inputs, target, reason, what was sent.\n"
"\n"
"  --rule proxmox|mom   proxmox: pve-manager PVE/AutoBalloon.pm as pvestatd runs it\n"
"                       mom: vdsm mom.d/02-balloon.policy as MOM evaluates it\n"
"  --interval S         seconds between rounds [proxmox 10, mom 15: the originals']\n"
"  --cgroup PATH        the host is this memory cgroup directory (v1 or v2):\n"
"                       total = its limit, used/free from its usage [/proc/meminfo]\n"
"  --min NAME=MIB       the VM's floor: Proxmox `balloon`, oVirt guaranteed memory\n"
"                       [proxmox: unset, the VM is not auto-ballooned; mom: 0]\n"
"  --shares NAME=N      Proxmox `shares`, 0..50000 [1000; 0 = not auto-ballooned]\n"
"  --target-percent P   Proxmox `ballooning-target`, 0..100 [80]\n"
"  --balloon-enabled 0|1  MOM balloonEnabled [1; vdsm's 00-defines.policy says 0\n"
"                       until the engine turns cluster ballooning on; 0 = grow only]\n"
"  --duration S         stop after S seconds [until SIGINT/SIGTERM]\n"
"  --log FILE           append the log to FILE [stdout]\n"
"  --dry-run            decide and log, set nothing\n"
"  -v, --verbose        debug messages of the balloon backend on stderr\n"
"  -h, --help           this text\n"
"\n"
"Targets are clamped to [min, the guest's RAM size]. On exit (SIGINT, SIGTERM,\n"
"--duration) every balloon stays where it is.\n";

static struct vm *find_vm(const char *name, size_t len)
{
	for (size_t k = 0; k < n_vms; k++)
		if (strlen(vms[k].name) == len && !strncmp(vms[k].name, name, len))
			return &vms[k];
	return NULL;
}

struct named_opt { const char *arg; int kind; }; /* kind 0 = --min, 1 = --shares */

static int parse_named(const struct named_opt *o, enum rule rule)
{
	const char *eq = strchr(o->arg, '=');
	struct vm *v = eq ? find_vm(o->arg, (size_t)(eq - o->arg)) : NULL;
	int64_t n;
	if (!v) {
		fprintf(stderr, "balloon_anchor: %s: no VM of that name\n", o->arg);
		return -EINVAL;
	}
	if (parse_int64(eq + 1, &n) < 0 || n < 0 ||
	    (o->kind == 1 && n > ANCHOR_PVE_MAX_SHARES) || (o->kind == 0 && n > (1 << 24))) {
		fprintf(stderr, "balloon_anchor: %s: bad value\n", o->arg);
		return -EINVAL;
	}
	if (o->kind == 0) {
		v->min_bytes = (uint64_t)n * MIB;
		v->min_set = true;
	} else {
		if (rule != RULE_PROXMOX)
			fprintf(stderr, "balloon_anchor: --shares is a Proxmox setting, ignored by mom\n");
		v->shares = (unsigned)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rule", required_argument, NULL, 'r' },
		{ "interval", required_argument, NULL, 'i' },
		{ "cgroup", required_argument, NULL, 'c' },
		{ "min", required_argument, NULL, 'm' },
		{ "shares", required_argument, NULL, 's' },
		{ "target-percent", required_argument, NULL, 'T' },
		{ "balloon-enabled", required_argument, NULL, 'E' },
		{ "duration", required_argument, NULL, 'd' },
		{ "log", required_argument, NULL, 'l' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int rule = -1;
	double interval_s = 0, duration_s = 0;
	const char *cgroup = NULL, *log_path = NULL;
	struct named_opt named[2 * ANCHOR_MAX_VMS];
	size_t n_named = 0;
	int64_t target_percent = ANCHOR_PVE_TARGET_PERCENT;
	bool balloon_enabled = true, dry_run = false, verbose = false;
	int o;
	while ((o = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (o) {
		case 'r':
			if (!strcmp(optarg, "proxmox"))
				rule = RULE_PROXMOX;
			else if (!strcmp(optarg, "mom"))
				rule = RULE_MOM;
			else
				goto usage;
			break;
		case 'i':
			if (parse_double(optarg, &interval_s) < 0 || interval_s < 0.1)
				goto usage;
			break;
		case 'd':
			if (parse_double(optarg, &duration_s) < 0 || duration_s <= 0)
				goto usage;
			break;
		case 'c': cgroup = optarg; break;
		case 'l': log_path = optarg; break;
		case 'm':
		case 's':
			if (n_named == ARRAY_SIZE(named))
				goto usage;
			named[n_named++] = (struct named_opt){ optarg, o == 's' };
			break;
		case 'T':
			if (parse_int64(optarg, &target_percent) < 0 || target_percent < 0 ||
			    target_percent > 100)
				goto usage;
			break;
		case 'E':
			if (parse_bool(optarg, &balloon_enabled) < 0)
				goto usage;
			break;
		case 'n': dry_run = true; break;
		case 'v': verbose = true; break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			goto usage;
		}
	}
	if (rule < 0 || optind >= argc)
		goto usage;
	for (int k = optind; k < argc; k++) {
		const char *eq = strchr(argv[k], '=');
		if (!eq || eq == argv[k] || !eq[1] || (size_t)(eq - argv[k]) >= sizeof vms[0].name ||
		    n_vms == ANCHOR_MAX_VMS)
			goto usage;
		struct vm *v = &vms[n_vms];
		memcpy(v->name, argv[k], (size_t)(eq - argv[k]));
		if (find_vm(v->name, strlen(v->name))) {
			fprintf(stderr, "balloon_anchor: %s: duplicate VM name\n", v->name);
			return 2;
		}
		v->qmp_path = eq + 1;
		v->shares = ANCHOR_PVE_DEFAULT_SHARES;
		n_vms++;
	}
	for (size_t k = 0; k < n_named; k++)
		if (parse_named(&named[k], rule) < 0)
			return 2;
	if (interval_s == 0)
		interval_s = (double)(rule == RULE_PROXMOX ? ANCHOR_PVE_INTERVAL_USEC
							   : ANCHOR_MOM_INTERVAL_USEC) / 1e6;

	out = stdout;
	if (log_path && !(out = fopen(log_path, "ae"))) {
		fprintf(stderr, "balloon_anchor: %s: %s\n", log_path, strerror(errno));
		return 1;
	}
	log_open(LOG_TO_STDERR, verbose ? LOG_DEBUG : LOG_WARNING);

	/* Check the host source once before starting. */
	struct host_in h;
	int r = cgroup ? read_cgroup(cgroup, &h) : read_meminfo(&h);
	if (r < 0) {
		fprintf(stderr, "balloon_anchor: %s: %s\n", cgroup ? cgroup : "/proc/meminfo",
			strerror(-r));
		return 1;
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	static int sig_tag;
	struct epoll_event sev = { .events = EPOLLIN, .data.ptr = &sig_tag };
	if (sfd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &sev) < 0) {
		fprintf(stderr, "balloon_anchor: signalfd/epoll: %s\n", strerror(errno));
		return 1;
	}

	t0 = now_usec();
	for (size_t k = 0; k < n_vms; k++) {
		struct vm *v = &vms[k];
		/* The backend's own floor is ours: min, or 1 byte for "none"
		 * (0 would mean its default of 50% of max). No step bound: the
		 * rules have their own. */
		struct balloon_config cfg = { .min_bytes = v->min_bytes ? v->min_bytes : 1 };
		v->b = balloon_new_qmp(v->name, v->qmp_path, &cfg, NULL, NULL);
		if (!v->b) {
			fprintf(stderr, "balloon_anchor: %s: cannot create balloon\n", v->name);
			return 1;
		}
		balloon_tick(v->b, t0);
	}
	mom_host.balloon_enabled = balloon_enabled;

	usec_t interval = (usec_t)(interval_s * 1e6);
	usec_t end = duration_s > 0 ? t0 + (usec_t)(duration_s * 1e6) : 0;
	usec_t next_round = t0 + interval;   /* pvestatd.pm:896, PolicyEngine.py:139 */
	logf_("# balloon_anchor rule=%s interval=%.3fs host=%s%s%s dry_run=%d vms=%zu",
	      rule == RULE_PROXMOX ? "proxmox" : "mom", interval_s, cgroup ? h.source : "meminfo",
	      cgroup ? ":" : "", cgroup ? cgroup : "", dry_run, n_vms);
	if (rule == RULE_PROXMOX)
		logf_(" source=proxmox/pve-manager@14a22df35955d97dfc1af21e117dc894a29df0c9:"
		      "PVE/AutoBalloon.pm target_percent=%lld maxchange=%llu min_goal=%llu\n",
		      (long long)target_percent, (unsigned long long)ANCHOR_PVE_MAXCHANGE_BYTES,
		      (unsigned long long)ANCHOR_PVE_MIN_GOAL_BYTES);
	else
		logf_(" source=oVirt/vdsm@fd4b0df20b9bc79864ba0d11c3c1140fb1de194a:"
		      "static/etc/vdsm/mom.d/02-balloon.policy balloon_enabled=%d history=%d\n",
		      balloon_enabled, ANCHOR_MOM_HISTORY);
	for (size_t k = 0; k < n_vms; k++)
		logf_("# vm=%s qmp=%s min=%llu%s shares=%u\n", vms[k].name, vms[k].qmp_path,
		      (unsigned long long)vms[k].min_bytes,
		      vms[k].min_set ? "" : (rule == RULE_PROXMOX ? " (unset: skipped)" : " (default 0)"),
		      vms[k].shares);

	unsigned round = 0;
	const char *why = "duration";
	for (;;) {
		usec_t now = now_usec();
		if (end && now >= end)
			break;
		if (now >= next_round) {
			round++;
			r = cgroup ? read_cgroup(cgroup, &h) : read_meminfo(&h);
			if (r < 0)
				logf_("round=%u t=%.3f error=\"host: %s\": round skipped\n", round,
				      secs(now), strerror(-r));
			else if (rule == RULE_PROXMOX)
				round_proxmox(round, &h, (unsigned)target_percent, dry_run, now);
			else
				round_mom(round, &h, dry_run, now);
			/* Fixed period from the start, like pvestatd's
			 * $next_update (a slow round does not shift the rest). */
			while (next_round <= now)
				next_round += interval;
		}
		usec_t d = next_round;
		if (end)
			d = MIN(d, end);
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
			why = "error";
			break;
		}
		now = now_usec();
		bool stop = false;
		for (int k = 0; k < n; k++) {
			if (ev[k].data.ptr == &sig_tag) {
				struct signalfd_siginfo si;
				if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
					why = si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM";
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
			break;
		for (size_t k = 0; k < n_vms; k++)
			balloon_tick(vms[k].b, now);
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
usage:
	fputs(usage_text, stderr);
	return 2;
}
