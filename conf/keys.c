/* keys.c — the key table of ksmd.conf: defaults, lookup, get/set/format, dump and man page.
 *
 * Every key, its type, bounds, default and help live in one table (the
 * [policy] rows come from policy_knobs); the parser (parse.c), the
 * control socket's get/set, `ksmd --dump-config` and the man page all read
 * it, so they cannot disagree. */
#include "conf/config.h"
#include "conf/internal.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define C(f) offsetof(struct ksmd_config, f)
#define G(f) offsetof(struct guest_conf, f)

static const char *const log_levels[] = { "error", "warning", "info", "debug", NULL };
static const char *const on_exit_values[] = { "keep", "restore", NULL };
static const char *const qmp_mode_values[] = { "own", "shared", NULL };
static const char *const ksm_manage_values[] = { "yes", "force", "no", NULL };
static const char *const guest_balloon_values[] = { "yes", "force", "no", NULL };

#define USER_FALLBACK_ID 65534 /* nobody/nogroup where even nobody is unknown */

int config_stats_user(const char *name, uid_t *uid, gid_t *gid, char *shown, size_t shown_len,
		      char *err, size_t errlen)
{
	const struct passwd *pw;
	if (name[0]) {
		errno = 0;
		pw = getpwnam(name);
		if (!pw) {
			snprintf(err, errlen, "stats.user: no user '%s'%s%s", name, errno ? ": " : "",
				 errno ? strerror(errno) : "");
			return -ENOENT;
		}
	} else if (!(pw = getpwnam("ksmd")))
		pw = getpwnam("nobody");
	*uid = pw ? pw->pw_uid : USER_FALLBACK_ID;
	*gid = pw ? pw->pw_gid : USER_FALLBACK_ID;
	snprintf(shown, shown_len, "%s", pw ? pw->pw_name : "65534");
	if (*uid == 0 || *gid == 0) {
		snprintf(err, errlen, "stats.user: '%s' has uid %u and gid %u; the HTTP endpoint's "
			 "process must not run as root or in group root", shown, (unsigned)*uid,
			 (unsigned)*gid);
		return -EPERM;
	}
	return 0;
}

static int check_stats_user(const struct conf_key *k, const void *p, char *err, size_t errlen)
{
	(void)k;
	if (!((const char *)p)[0])
		return 0;  /* the default: ksmd or nobody, looked up and checked at start */
	uid_t uid;
	gid_t gid;
	char shown[64];
	return config_stats_user(p, &uid, &gid, shown, sizeof shown, err, errlen) < 0 ? -EINVAL : 0;
}

int config_key_check(const struct conf_key *k, const void *p, char *err, size_t errlen)
{
	static const struct {
		const char *section, *name;
		int (*check)(const struct conf_key *k, const void *p, char *err, size_t errlen);
	} checks[] = {
		{ "stats", "user", check_stats_user },
	};
	for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
		if (!strcmp(k->section, checks[i].section) && !strcmp(k->name, checks[i].name))
			return checks[i].check(k, p, err, errlen);
	return 0;
}

static const struct conf_key base_keys[] = {
	{ "daemon", "control_socket", CONF_STRING, C(control_socket), 0, 0, "/run/ksmd/ksmd.sock", false, "path",
	  "UNIX socket ksmdctl talks to", NULL },
	{ "daemon", "log_level", CONF_ENUM, C(log_level), 0, 0, "info", true, "",
	  "least important message logged", log_levels },
	{ "daemon", "tick", CONF_DURATION, C(tick_usec), 100e3, 3600e6, "1s", true, "duration",
	  "period of the control loop (collect, decide, act, publish)", NULL },
	{ "daemon", "restore_ksm", CONF_BOOL, C(restore_ksm), 0, 1, "yes", true, "",
	  "restore the KSM settings found at start when ksmd exits", NULL },

	{ "scanner", "enabled", CONF_BOOL, C(scanner_enabled), 0, 1, "yes", false, "",
	  "scan guest memory for duplicate pages", NULL },
	{ "scanner", "threads", CONF_UINT, C(scanner_threads), 1, 64, "2", false, "threads",
	  "scanner threads", NULL },
	{ "scanner", "pages_per_sec", CONF_UINT, C(scanner_pages_per_sec), 0, 1e9, "2000000", true, "pages/s",
	  "rate limit of the scanner (0 = unlimited)", NULL },
	{ "scanner", "cpu_percent", CONF_PERCENT, C(scanner_cpu_percent), 1, 6400, "50", true, "% of one core",
	  "CPU budget of the scanner, all threads together", NULL },
	{ "scanner", "pass_interval", CONF_DURATION, C(scanner_pass_interval_usec), 0, 86400e6, "30s", true, "duration",
	  "pause between two full passes", NULL },
	{ "scanner", "pass_interval_max", CONF_DURATION, C(scanner_pass_interval_max_usec), 0, 86400e6, "5m", true,
	  "duration",
	  "quiet backoff: after 3 passes in a row that found nothing for KSM to merge, no changed page and the "
	  "same guests, the pause between passes doubles per such pass up to this; a pass that finds "
	  "something, a guest added, or a guest whose resident size moves by more than 1/64 brings it back "
	  "to pass_interval at once. A guest that rewrites memory it holds into content other guests have "
	  "is found within this instead of pass_interval. 0 or not above pass_interval: the pause never "
	  "grows. The stats show the pause after the last pass (scanner.next_pause_seconds)", NULL },
	{ "scanner", "backoff_max_interval", CONF_DURATION, C(scanner_backoff_max_usec), 0, 86400e6, "10m", true, "duration",
	  "rescan backoff: a page whose content stayed unique and unchanged over 3 reads is read every 2nd "
	  "pass, then every 4th, 8th, 16th, 32nd (a changed, duplicate, zero-filled or absent page is read "
	  "every pass again), and never left unread longer than this (nor 32 passes); 0: every page every pass. "
	  "A page left unread counts as its last read found it, and is still compared with every page read "
	  "(a new duplicate of it is found the pass it appears); the stats show how many pages the last pass "
	  "left unread (scanner.backoff_pages) and, per guest, how old the oldest read it relied on is "
	  "(scan.oldest_unscanned_seconds)", NULL },
	{ "scanner", "vm_readv", CONF_BOOL, C(scanner_vm_readv), 0, 1, "yes", false, "",
	  "read runs of pages that are exclusively mapped and cannot be KSM pages (checked right before "
	  "the read: pagemap, and either KSM counts no merged page in the guest in /proc/PID/ksm_stat or "
	  "kpageflags shows each page is not one) with process_vm_readv, which is faster; every other page, "
	  "and everything when no, with pread on /proc/PID/mem, which never unshares a merged page", NULL },

	{ "ksm", "manage", CONF_ENUM, C(ksm_manage), 0, 0, "yes", true, "",
	  "drive /sys/kernel/mm/ksm from the scanner's findings: yes, except while another program drives "
	  "it (ksmtuned, oVirt MOM, KubeVirt's virt-handler, a ksmd started earlier) or changed its knobs "
	  "in the last minute; force: drive it all the same; no: never touch it", ksm_manage_values },
	{ "ksm", "min_savings", CONF_SIZE, C(ksm_min_savings_bytes), 0, 1e15, "16M", true, "bytes",
	  "turn KSM on only when the scanner predicts at least this much to merge", NULL },
	{ "ksm", "cpu_percent", CONF_PERCENT, C(ksm_cpu_percent), 1, 100, "50", true, "% of one core",
	  "CPU budget of the kernel's ksmd thread while converging", NULL },

	{ "balloon", "enabled", CONF_BOOL, C(balloon_enabled), 0, 1, "yes", false, "",
	  "drive guests' balloons", NULL },
	{ "balloon", "on_exit", CONF_ENUM, C(balloon_on_exit), 0, 0, "keep", true, "",
	  "keep balloons where they are at exit, or restore every guest to its maximum", on_exit_values },
	{ "balloon", "max_step", CONF_SIZE, C(balloon_max_step_bytes), 1 << 20, 1e15, "256M", true, "bytes",
	  "largest change of one guest's target in one step", NULL },
	{ "balloon", "default_min_percent", CONF_PERCENT, C(balloon_default_min_percent), 1, 100, "50", true, "% of max",
	  "floor of a guest that sets no min", NULL },
	{ "balloon", "stats_interval", CONF_DURATION, C(balloon_stats_interval_usec), 1e6, 3600e6, "2s", false, "duration",
	  "guest stats polling interval asked of QEMU", NULL },
	{ "balloon", "stuck_timeout", CONF_DURATION, C(balloon_stuck_timeout_usec), 1e6, 3600e6, "5s", true, "duration",
	  "no progress toward the target for this long: the guest is stuck", NULL },
	{ "balloon", "uncooperative_timeout", CONF_DURATION, C(balloon_uncooperative_timeout_usec), 1e6, 86400e6, "20s", true, "duration",
	  "stuck for this long: the guest is flagged uncooperative", NULL },
	{ "balloon", "discover", CONF_BOOL, C(balloon_discover), 0, 1, "no", false, "",
	  "also manage local QEMU processes that have a QMP UNIX socket, always with qmp_mode = shared "
	  "(a connection per operation: their monitors are not ksmd's own)", NULL },

	{ "libvirt", "enabled", CONF_BOOL, C(libvirt_enabled), 0, 1, "no", false, "",
	  "manage the domains of a libvirt daemon (yes as soon as the [libvirt] section is present)", NULL },
	{ "libvirt", "uri", CONF_STRING, C(libvirt_uri), 0, 0, "qemu:///system", false, "URI",
	  "libvirt connection URI", NULL },
	{ "libvirt", "domains", CONF_STRING, C(libvirt_domains), 0, 0, "*", false, "patterns",
	  "names of the running domains to manage: shell patterns separated by spaces or commas", NULL },
	{ "libvirt", "exclude", CONF_STRING, C(libvirt_exclude), 0, 0, "", false, "patterns",
	  "names of domains never managed, even when domains matches them", NULL },
	{ "libvirt", "pid_dir", CONF_STRING, C(libvirt_pid_dir), 0, 0, "/run/libvirt/qemu", false, "path",
	  "folder where libvirt writes each domain's QEMU pid file (NAME.pid)", NULL },
	{ "libvirt", "reconnect_interval", CONF_DURATION, C(libvirt_reconnect_usec), 500e3, 3600e6, "5s", false,
	  "duration", "longest wait between two attempts to reach libvirt (starts at 500ms, doubles)", NULL },

	{ "policy", "enabled", CONF_BOOL, C(policy_enabled), 0, 1, "yes", true, "",
	  "run the control policy (off: only manual balloon overrides)", NULL },

	{ "stats", "enabled", CONF_BOOL, C(stats_enabled), 0, 1, "yes", false, "",
	  "serve the HTTP stats endpoint", NULL },
	{ "stats", "listen", CONF_STRING, C(stats_listen), 0, 0, "127.0.0.1:9403", false, "host:port or unix:PATH",
	  "address of the HTTP stats endpoint, which also serves the read-only live page at /; "
	  "reach it from elsewhere through an SSH tunnel (ssh -L 9403:127.0.0.1:9403 HOST) "
	  "rather than by listening beyond loopback: the endpoint has no authentication", NULL },
	{ "stats", "user", CONF_STRING, C(stats_user), 0, 0, "", false, "name",
	  "system user the process serving the endpoint runs as (ksmd keeps no privilege in it: no "
	  "capability, a seccomp filter); empty: the ksmd user if there is one, else nobody; never "
	  "root (uid or gid 0)", NULL },

	{ "guest", "qmp", CONF_STRING, G(qmp), 0, 0, "", false, "path",
	  "QMP UNIX socket of a QEMU guest", NULL },
	{ "guest", "qmp_mode", CONF_ENUM, G(qmp_mode), 0, 0, "own", false, "",
	  "own: the QMP monitor is ksmd's alone and stays connected; shared: other clients use it too "
	  "(Proxmox's /var/run/qemu-server/VMID.qmp), so ksmd connects for each operation (the stats "
	  "refresh every balloon.stats_interval, a new target) and closes at once, and a monitor busy "
	  "with another client is tried again at the next refresh; guests found by balloon.discover "
	  "are always shared", qmp_mode_values },
	{ "guest", "balloon", CONF_ENUM, G(balloon), 0, 0, "yes", false, "",
	  "yes: ksmd drives the guest's balloon, unless another balloon manager runs on the host (Proxmox's "
	  "pvestatd, oVirt's MOM): then it leaves the balloon to it; force: drive it anyway; no: never "
	  "balloon it (merged only)", guest_balloon_values },
	{ "guest", "pid", CONF_UINT, G(pid), 1, 4194304, "0", false, "pid",
	  "process ID of a plain process", NULL },
	{ "guest", "cgroup", CONF_STRING, G(cgroup), 0, 0, "", false, "path",
	  "memory cgroup of a container", NULL },
	{ "guest", "min", CONF_SIZE, G(min_bytes), 0, 1e15, "0", false, "bytes",
	  "floor: the balloon never takes the guest below this", NULL },
	{ "guest", "max", CONF_SIZE, G(max_bytes), 0, 1e15, "0", false, "bytes",
	  "maximum (0 = the guest's own memory size)", NULL },
	{ "guest", "shares", CONF_UINT, G(shares), 1, 1000000, "1000", false, "",
	  "relative weight when memory is scarce", NULL },
};

static struct conf_key *all_keys;
static size_t n_all_keys;

const struct conf_key *config_keys(size_t *n)
{
	static const enum conf_type types[] = {
		[POLICY_KNOB_BOOL] = CONF_BOOL, [POLICY_KNOB_SIZE] = CONF_SIZE,
		[POLICY_KNOB_DURATION] = CONF_DURATION, [POLICY_KNOB_PERCENT] = CONF_PERCENT,
		[POLICY_KNOB_DOUBLE] = CONF_DOUBLE, [POLICY_KNOB_BUDGET] = CONF_BUDGET,
	};
	if (!all_keys) {
		size_t nb = ARRAY_SIZE(base_keys);
		struct conf_key *k = calloc(nb + policy_n_knobs, sizeof *k);
		if (!k)
			abort();
		size_t n_out = 0;
		/* [policy] rows go after "policy.enabled", in the table's order */
		for (size_t i = 0; i < nb; i++) {
			k[n_out++] = base_keys[i];
			if (strcmp(base_keys[i].section, "policy"))
				continue;
			for (size_t j = 0; j < policy_n_knobs; j++) {
				const struct policy_knob *p = &policy_knobs[j];
				if (!strcmp(p->name, "tick"))
					continue; /* the daemon's tick drives the policy */
				k[n_out++] = (struct conf_key){
					.section = "policy", .name = p->name, .type = types[p->type],
					.offset = offsetof(struct ksmd_config, policy) + p->offset,
					.min = p->min, .max = p->max, .def = p->def, .live = p->live,
					.unit = p->unit, .help = p->help,
				};
			}
		}
		n_all_keys = n_out;
		all_keys = k;
	}
	*n = n_all_keys;
	return all_keys;
}

void config_set_defaults(const char *section, void *base)
{
	char err[256];
	size_t nk;
	const struct conf_key *keys = config_keys(&nk);
	for (size_t i = 0; i < nk; i++) {
		const struct conf_key *k = &keys[i];
		bool guest = !strcmp(k->section, "guest");
		if (guest != !strcmp(section, "guest"))
			continue;
		if (k->type == CONF_UINT && !strcmp(k->def, "0") && k->min > 0) {
			*(uint64_t *)((char *)base + k->offset) = 0; /* "unset" */
			continue;
		}
		if (config_parse_value(k, k->def, (char *)base + k->offset, err, sizeof err) < 0) {
			fprintf(stderr, "internal error: bad default: %s\n", err);
			abort();
		}
	}
}

void config_defaults(struct ksmd_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	policy_conf_defaults(&cfg->policy);
	config_set_defaults("", cfg);
	cfg->policy.tick_usec = cfg->tick_usec;
}

void config_free(struct ksmd_config *cfg)
{
	free(cfg->guests);
	cfg->guests = NULL;
	cfg->n_guests = 0;
}

int config_copy(struct ksmd_config *dst, const struct ksmd_config *src)
{
	*dst = *src;
	dst->guests = NULL;
	if (src->n_guests) {
		dst->guests = calloc(src->n_guests, sizeof *dst->guests);
		if (!dst->guests)
			return -ENOMEM;
		memcpy(dst->guests, src->guests, src->n_guests * sizeof *dst->guests);
	}
	return 0;
}

const struct conf_key *config_find_key(const char *section, const char *name)
{
	size_t nk;
	const struct conf_key *keys = config_keys(&nk);
	for (size_t i = 0; i < nk; i++)
		if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

const struct conf_key *config_find(const char *dotted)
{
	const char *dot = strchr(dotted, '.');
	if (!dot || (size_t)(dot - dotted) >= 32)
		return NULL;
	char section[32];
	memcpy(section, dotted, (size_t)(dot - dotted));
	section[dot - dotted] = 0;
	if (!strcmp(section, "guest"))
		return NULL;
	return config_find_key(section, dot + 1);
}

static const char *format_at(const void *base, const struct conf_key *k, char *buf, size_t len)
{
	const char *p = (const char *)base + k->offset;
	switch (k->type) {
	case CONF_BOOL:
		snprintf(buf, len, "%s", *(const bool *)p ? "yes" : "no");
		break;
	case CONF_UINT:
		snprintf(buf, len, "%" PRIu64, *(const uint64_t *)p);
		break;
	case CONF_BUDGET:
		if (p[sizeof(uint64_t)]) {
			snprintf(buf, len, "cgroup:%s", p + sizeof(uint64_t));
			break;
		}
		/* fall through */
	case CONF_SIZE: {
		uint64_t v = *(const uint64_t *)p;
		if (v && v % GIB == 0)
			snprintf(buf, len, "%" PRIu64 "G", v / GIB);
		else if (v && v % MIB == 0)
			snprintf(buf, len, "%" PRIu64 "M", v / MIB);
		else if (v && v % KIB == 0)
			snprintf(buf, len, "%" PRIu64 "K", v / KIB);
		else
			snprintf(buf, len, "%" PRIu64, v);
		break;
	}
	case CONF_DURATION: {
		/* exact, in the largest unit that divides it: what is printed
		 * parses back to the same value */
		usec_t v = *(const usec_t *)p;
		static const struct { usec_t n; const char *u; } units[] = {
			{ 3600 * USEC_PER_SEC, "h" }, { 60 * USEC_PER_SEC, "m" }, { USEC_PER_SEC, "s" },
			{ USEC_PER_MSEC, "ms" }, { 1, "us" },
		};
		size_t i = 0;
		while (v && v % units[i].n)
			i++;
		snprintf(buf, len, "%" PRIu64 "%s", v ? v / units[i].n : 0, v ? units[i].u : "s");
		break;
	}
	case CONF_PERCENT:
	case CONF_DOUBLE: {
		/* the shortest text that parses back to the same double */
		double v = *(const double *)p;
		for (int prec = 6; prec <= 17; prec++) {
			snprintf(buf, len, "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
		break;
	}
	case CONF_STRING:
	case CONF_ENUM:
		snprintf(buf, len, "%s", p);
		break;
	}
	return buf;
}

/* Bytes a key's value takes at its offset. */
static size_t key_size(const struct conf_key *k)
{
	switch (k->type) {
	case CONF_BOOL: return sizeof(bool);
	case CONF_UINT:
	case CONF_SIZE: return sizeof(uint64_t);
	case CONF_DURATION: return sizeof(usec_t);
	case CONF_PERCENT:
	case CONF_DOUBLE: return sizeof(double);
	case CONF_STRING: return CONF_STR_MAX;
	case CONF_ENUM: return CONF_NAME_MAX;
	case CONF_BUDGET: return sizeof(uint64_t) + POLICY_CGROUP_LEN;
	}
	return 0;
}

void config_copy_key(struct ksmd_config *dst, const struct ksmd_config *src, const struct conf_key *k)
{
	memcpy((char *)dst + k->offset, (const char *)src + k->offset, key_size(k));
}

bool config_key_equal(const struct ksmd_config *a, const struct ksmd_config *b, const struct conf_key *k)
{
	const char *pa = (const char *)a + k->offset, *pb = (const char *)b + k->offset;
	switch (k->type) {
	case CONF_STRING:
	case CONF_ENUM:
		return !strcmp(pa, pb); /* bytes after the NUL do not count */
	case CONF_BUDGET:
		return !memcmp(pa, pb, sizeof(uint64_t)) && !strcmp(pa + sizeof(uint64_t), pb + sizeof(uint64_t));
	default:
		return !memcmp(pa, pb, key_size(k));
	}
}

const char *config_nearest(const char *dotted, char *buf, size_t len)
{
	size_t nk;
	const struct conf_key *keys = config_keys(&nk);
	struct text_nearest near = { 0 };
	for (size_t i = 0; i < nk; i++) {
		if (!strcmp(keys[i].section, "guest"))
			continue;
		char name[128];
		snprintf(name, sizeof name, "%s.%s", keys[i].section, keys[i].name);
		text_nearest_add(&near, dotted, name);
		if (near.best == name) {
			snprintf(buf, len, "%s", name);
			near.best = buf;
		}
	}
	return near.best;
}

void config_unknown_key(const char *dotted, char *err, size_t errlen)
{
	char near[128];
	if (config_nearest(dotted, near, sizeof near))
		snprintf(err, errlen, "unknown key '%s'; did you mean '%s'?", dotted, near);
	else
		snprintf(err, errlen, "unknown key '%s'", dotted);
}

const char *config_format(const struct ksmd_config *cfg, const struct conf_key *k, char *buf, size_t len)
{
	return format_at(cfg, k, buf, len);
}

int config_set(struct ksmd_config *cfg, const char *dotted, const char *value, char *err, size_t errlen)
{
	const struct conf_key *k = config_find(dotted);
	if (!k) {
		config_unknown_key(dotted, err, errlen);
		return -ENOENT;
	}
	if (!k->live) {
		snprintf(err, errlen, "%s cannot change while ksmd runs; edit the file and restart", dotted);
		return -EPERM;
	}
	_Static_assert(sizeof(uint64_t) + POLICY_CGROUP_LEN <= CONF_STR_MAX, "a budget fits the buffer");
	_Static_assert(offsetof(struct policy_conf, budget_cgroup) ==
		       offsetof(struct policy_conf, budget_bytes) + sizeof(uint64_t),
		       "the budget's cgroup follows its bytes");
	uint64_t tmp[CONF_STR_MAX / sizeof(uint64_t)];
	int r = config_parse_value(k, value, tmp, err, errlen);
	if (r < 0)
		return r;
	size_t sz = k->type == CONF_BOOL ? sizeof(bool)
		  : (k->type == CONF_PERCENT || k->type == CONF_DOUBLE) ? sizeof(double)
		  : (k->type == CONF_STRING || k->type == CONF_ENUM) ? config_field_size(k)
		  : k->type == CONF_BUDGET ? sizeof(uint64_t) + POLICY_CGROUP_LEN
		  : sizeof(uint64_t);
	memcpy((char *)cfg + k->offset, tmp, sz);
	cfg->policy.tick_usec = cfg->tick_usec;
	return 0;
}

void config_dump(const struct ksmd_config *cfg, FILE *f)
{
	const char *cur = "";
	char buf[CONF_STR_MAX];
	size_t nk;
	const struct conf_key *keys = config_keys(&nk);
	for (size_t i = 0; i < nk; i++) {
		const struct conf_key *k = &keys[i];
		if (!strcmp(k->section, "guest"))
			continue;
		if (strcmp(cur, k->section)) {
			fprintf(f, "%s[%s]\n", *cur ? "\n" : "", k->section);
			cur = k->section;
		}
		fprintf(f, "%s = %s\n", k->name, config_format(cfg, k, buf, sizeof buf));
	}
	for (size_t i = 0; i < cfg->n_guests; i++) {
		const struct guest_conf *g = &cfg->guests[i];
		fprintf(f, "\n[guest %s]\n", g->name);
		for (size_t j = 0; j < nk; j++) {
			const struct conf_key *k = &keys[j];
			if (strcmp(k->section, "guest"))
				continue;
			const char *p = (const char *)g + k->offset;
			if ((k->type == CONF_STRING && !*p) ||
			    (k->type != CONF_STRING && !strcmp(k->name, "pid") && !*(const uint64_t *)p) ||
			    (!strcmp(k->name, "qmp_mode") && !g->qmp[0]))
				continue;
			fprintf(f, "%s = %s\n", k->name, format_at(g, k, buf, sizeof buf));
		}
	}
}

const struct guest_conf *config_guest(const struct ksmd_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_guests; i++)
		if (!strcmp(cfg->guests[i].name, name))
			return &cfg->guests[i];
	return NULL;
}

enum ksm_manage_mode config_ksm_manage(const struct ksmd_config *cfg)
{
	return !strcmp(cfg->ksm_manage, "force") ? KSM_MANAGE_FORCE
	       : !strcmp(cfg->ksm_manage, "no") ? KSM_MANAGE_NO : KSM_MANAGE_YES;
}

/* mdoc text for one key's bounds, in its unit. */
static void man_bound(const struct conf_key *k, double v, char *buf, size_t len)
{
	if (k->type == CONF_SIZE || k->type == CONF_BUDGET)
		format_size((uint64_t)v, buf, len);
	else if (k->type == CONF_DURATION)
		format_duration((usec_t)v, buf, len);
	else
		snprintf(buf, len, "%g", v);
}

void config_list(FILE *f)
{
	size_t nk;
	const struct conf_key *keys = config_keys(&nk);
	for (size_t i = 0; i < nk; i++)
		if (strcmp(keys[i].section, "guest"))
			fprintf(f, "%s.%s %s\n", keys[i].section, keys[i].name, keys[i].live ? "live" : "fixed");
}

void config_man(FILE *f)
{
	size_t nk;
	const struct conf_key *keys = config_keys(&nk);
	const char *cur = "";
	for (size_t i = 0; i < nk; i++) {
		const struct conf_key *k = &keys[i];
		if (strcmp(cur, k->section)) {
			if (*cur)
				fprintf(f, ".El\n");
			fprintf(f, ".Ss [%s%s]\n.Bl -tag -width Ds\n", k->section,
				!strcmp(k->section, "guest") ? " NAME" : "");
			cur = k->section;
		}
		fprintf(f, ".It Ic %s No = Ar %s\n", k->name,
			k->type == CONF_BOOL ? "yes|no"
			: k->type == CONF_ENUM ? "word"
			: *k->unit ? k->unit : "value");
		fprintf(f, "%c%s.\n", toupper((unsigned char)k->help[0]), k->help + 1);
		if (k->type == CONF_ENUM) {
			fprintf(f, "One of:");
			for (const char *const *e = k->enum_values; *e; e++)
				fprintf(f, " %s%s", *e, e[1] ? "," : ".");
			fprintf(f, "\n");
		}
		fprintf(f, "Default: %s.\n", *k->def ? k->def : "none");
		if (k->type == CONF_UINT || k->type == CONF_SIZE || k->type == CONF_BUDGET ||
		    k->type == CONF_DURATION ||
		    k->type == CONF_PERCENT || k->type == CONF_DOUBLE) {
			char lo[32], hi[32];
			man_bound(k, k->min, lo, sizeof lo);
			man_bound(k, k->max, hi, sizeof hi);
			fprintf(f, "Range: %s to %s.\n", lo, hi);
		}
		if (k->live)
			fprintf(f, "Live: changeable with\n.Nm ksmdctl Cm set Ar %s.%s .\n", k->section, k->name);
	}
	if (*cur)
		fprintf(f, ".El\n");
}
