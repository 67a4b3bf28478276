/* config.c — the key table and the INI parser of ksmd.conf.
 *
 * File syntax: `[section]` or `[guest NAME]` headers, `key = value` lines,
 * comments from `#` or `;` at the start of a line. Every error is collected
 * with its line number; a file with any error is refused whole. */
#include "daemon/config.h"
#include "balloon/libvirt.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
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
	  "address of the HTTP stats endpoint", NULL },

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


static const char *const sections[] = { "daemon", "scanner", "ksm", "balloon", "libvirt", "policy", "stats" };

void conf_errors_free(struct conf_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->msg[i]);
	free(e->msg);
	e->msg = NULL;
	e->n = 0;
	e->total = 0;
}

static void add_error(struct conf_errors *e, const char *file, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void add_error(struct conf_errors *e, const char *file, unsigned line, const char *fmt, ...)
{
	char msg[512], *full;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!e)
		return;
	e->total++; /* counted even if the message cannot be kept */
	int r = line ? asprintf(&full, "%s:%u: %s", file, line, msg) : asprintf(&full, "%s: %s", file, msg);
	if (r < 0)
		return;
	char **n = realloc(e->msg, (e->n + 1) * sizeof *n);
	if (!n) {
		free(full);
		return;
	}
	e->msg = n;
	e->msg[e->n++] = full;
}

static size_t field_size(const struct conf_key *k)
{
	if (k->type == CONF_ENUM)
		return CONF_NAME_MAX;
	if (!strcmp(k->section, "guest"))
		return !strcmp(k->name, "qmp") ? CONF_PATH_MAX : CONF_STR_MAX;
	return !strcmp(k->name, "control_socket") ? CONF_PATH_MAX : CONF_STR_MAX;
}

/* The out-of-range message of k, bounds in the key's own unit. */
static int range_error(const struct conf_key *k, const char *v, char *err, size_t errlen)
{
	char lo[64], hi[64];
	if (k->type == CONF_SIZE || k->type == CONF_BUDGET) {
		format_size((uint64_t)k->min, lo, sizeof lo);
		format_size((uint64_t)k->max, hi, sizeof hi);
	} else if (k->type == CONF_DURATION) {
		format_duration((usec_t)k->min, lo, sizeof lo);
		format_duration((usec_t)k->max, hi, sizeof hi);
	} else {
		snprintf(lo, sizeof lo, "%g", k->min);
		snprintf(hi, sizeof hi, "%g", k->max);
	}
	snprintf(err, errlen, "%s.%s: '%s' is out of range [%s, %s]", k->section, k->name, v, lo, hi);
	return -ERANGE;
}

/* A numeric key's text into *num (and the exact integer into *u for the
 * integer types); the message names what was expected. */
static int parse_number(const struct conf_key *k, const char *v, double *num, uint64_t *u, char *err,
			size_t errlen)
{
	const char *want = NULL;
	char buf[64];
	int64_t i;
	switch (k->type) {
	case CONF_UINT:
		if (parse_int64(v, &i) < 0 || i < 0)
			want = "a non-negative integer";
		*u = (uint64_t)i;
		break;
	case CONF_SIZE:
		if (parse_size(v, u) < 0)
			want = "a size (e.g. 4096, 512M, 2G)";
		break;
	case CONF_DURATION:
		if (parse_duration(v, u) < 0)
			want = "a duration (e.g. 500ms, 10s, 2m)";
		break;
	case CONF_PERCENT: /* "75" or "75%" */
		snprintf(buf, sizeof buf, "%s", v);
		if (*buf && buf[strlen(buf) - 1] == '%')
			buf[strlen(buf) - 1] = 0;
		if (parse_double(buf, num) < 0)
			want = "a percentage";
		break;
	default:
		if (parse_double(v, num) < 0)
			want = "a number";
		break;
	}
	if (want) {
		snprintf(err, errlen, "%s.%s: '%s' is not %s", k->section, k->name, v, want);
		return -EINVAL;
	}
	if (k->type == CONF_UINT || k->type == CONF_SIZE || k->type == CONF_DURATION)
		*num = (double)*u;
	return 0;
}

/* policy.budget: bytes, then the cgroup path right after them (policy_conf). */
static int parse_budget(const struct conf_key *k, const char *v, void *p, char *err, size_t errlen)
{
	uint64_t s = 0;
	char *cg = (char *)p + sizeof(uint64_t);
	if (!strncmp(v, "cgroup:", 7)) {
		const char *path = v + 7;
		if (path[0] != '/') {
			snprintf(err, errlen, "%s.%s: '%s': the cgroup path must start with / "
				 "(as /proc/PID/cgroup names it, e.g. cgroup:/machine.slice)",
				 k->section, k->name, v);
			return -EINVAL;
		}
		if (strlen(path) >= POLICY_CGROUP_LEN) {
			snprintf(err, errlen, "%s.%s: cgroup path longer than %d characters", k->section, k->name,
				 POLICY_CGROUP_LEN - 1);
			return -EINVAL;
		}
		*(uint64_t *)p = 0;
		memset(cg, 0, POLICY_CGROUP_LEN);
		strcpy(cg, path);
		return 0;
	}
	if (parse_size(v, &s) < 0) {
		snprintf(err, errlen, "%s.%s: '%s' is not a size (e.g. 512M, 2G) or cgroup:PATH", k->section,
			 k->name, v);
		return -EINVAL;
	}
	if ((double)s < k->min || (double)s > k->max)
		return range_error(k, v, err, errlen);
	*(uint64_t *)p = s;
	memset(cg, 0, POLICY_CGROUP_LEN);
	return 0;
}

/* A string or enum key: its length, and for an enum one of its values. */
static int parse_text(const struct conf_key *k, const char *v, void *p, char *err, size_t errlen)
{
	if (strlen(v) >= field_size(k)) {
		snprintf(err, errlen, "%s.%s: value longer than %zu characters", k->section, k->name,
			 field_size(k) - 1);
		return -EINVAL;
	}
	if (k->type == CONF_ENUM) {
		bool ok = false;
		for (const char *const *e = k->enum_values; *e; e++)
			ok |= !strcmp(*e, v);
		if (!ok) {
			char all[256] = "";
			for (const char *const *e = k->enum_values; *e; e++)
				snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s",
					 e == k->enum_values ? "" : ", ", *e);
			snprintf(err, errlen, "%s.%s: '%s' is not one of: %s", k->section, k->name, v, all);
			return -EINVAL;
		}
	}
	strcpy((char *)p, v);
	return 0;
}

int config_parse_value(const struct conf_key *k, const char *v, void *p, char *err, size_t errlen)
{
	switch (k->type) {
	case CONF_BOOL: {
		bool b;
		if (parse_bool(v, &b) < 0) {
			snprintf(err, errlen, "%s.%s: '%s' is not a boolean (yes/no)", k->section, k->name, v);
			return -EINVAL;
		}
		*(bool *)p = b;
		return 0;
	}
	case CONF_BUDGET:
		return parse_budget(k, v, p, err, errlen);
	case CONF_STRING:
	case CONF_ENUM:
		return parse_text(k, v, p, err, errlen);
	case CONF_UINT:
	case CONF_SIZE:
	case CONF_DURATION:
	case CONF_PERCENT:
	case CONF_DOUBLE: {
		double num = 0;
		uint64_t u = 0;
		int r = parse_number(k, v, &num, &u, err, errlen);
		if (r < 0)
			return r;
		if (num < k->min || num > k->max)
			return range_error(k, v, err, errlen);
		if (k->type == CONF_PERCENT || k->type == CONF_DOUBLE)
			*(double *)p = num;
		else
			*(uint64_t *)p = u; /* usec_t is a uint64_t too */
		return 0;
	}
	}
	return -EINVAL;
}

static void set_defaults(const char *section, void *base)
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
	set_defaults("", cfg);
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

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

static const struct conf_key *find_key(const char *section, const char *name)
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
	return find_key(section, dot + 1);
}

static bool valid_guest_name(const char *s)
{
	if (!*s || strlen(s) >= CONF_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-_.", *s))
			return false;
	return true;
}

/* Checks of the guests a file defined (from index first): complete and
 * consistent. */
static void validate_guests(const char *file, struct ksmd_config *cfg, size_t first,
			    struct conf_errors *errs)
{
	for (size_t i = first; i < cfg->n_guests; i++) {
		struct guest_conf *g = &cfg->guests[i];
		int kinds = !!g->qmp[0] + !!g->cgroup[0] + !!g->pid;
		if (kinds > 1)
			add_error(errs, file, g->line, "guest '%s' has more than one of qmp, pid and cgroup",
				  g->name);
		if (g->max_bytes && g->min_bytes > g->max_bytes) {
			char a[32], b[32];
			add_error(errs, file, g->line, "guest '%s': min %s is above max %s", g->name,
				  format_size(g->min_bytes, a, sizeof a), format_size(g->max_bytes, b, sizeof b));
		}
		for (size_t j = 0; j < i; j++)
			if (g->qmp[0] && !strcmp(g->qmp, cfg->guests[j].qmp))
				add_error(errs, file, g->line, "guest '%s' uses the QMP socket of guest '%s'",
					  g->name, cfg->guests[j].name);
	}
}

/* Checks that need the whole configuration. */
static void validate(const char *file, struct ksmd_config *cfg, struct conf_errors *errs)
{
	char perr[256];
	cfg->policy.tick_usec = cfg->tick_usec; /* the daemon's tick drives the policy */
	if (policy_conf_validate(&cfg->policy, perr, sizeof perr) < 0)
		add_error(errs, file, 0, "[policy]: %s", perr);
	if (!cfg->control_socket[0])
		add_error(errs, file, 0, "daemon.control_socket must not be empty");
	if (cfg->stats_enabled && !cfg->stats_listen[0])
		add_error(errs, file, 0, "stats.listen must not be empty while stats.enabled = yes");
	for (size_t i = 0; i < cfg->n_guests; i++) {
		const struct guest_conf *g = &cfg->guests[i];
		if (!g->qmp[0] && !g->cgroup[0] && !g->pid && !cfg->libvirt_enabled)
			add_error(errs, g->file[0] ? g->file : file, g->line,
				  "guest '%s' needs one of qmp, pid or cgroup (or a [libvirt] section, "
				  "to hold the settings of the libvirt domain of that name)", g->name);
	}
	if (cfg->libvirt_enabled) {
		const char *u = cfg->libvirt_uri, *p = u;
		while (isalnum((unsigned char)*p) || (p > u && *p && strchr("+.-", *p)))
			p++;
		if (p == u || !isalpha((unsigned char)*u) || *p != ':' || !p[1])
			add_error(errs, file, 0, "libvirt.uri: '%s' is not a libvirt URI (e.g. qemu:///system)", u);
		char perr[200];
		if (lv_patterns_validate(cfg->libvirt_domains, perr, sizeof perr) < 0)
			add_error(errs, file, 0, "libvirt.domains: %s", perr);
		if (lv_patterns_validate(cfg->libvirt_exclude, perr, sizeof perr) < 0)
			add_error(errs, file, 0, "libvirt.exclude: %s", perr);
		if (!cfg->libvirt_pid_dir[0] || cfg->libvirt_pid_dir[0] != '/')
			add_error(errs, file, 0, "libvirt.pid_dir: '%s' is not an absolute path",
				  cfg->libvirt_pid_dir);
	}
}

/* Where parse_into is in a file: the line, the section and the keys set in it. */
struct parse_state {
	const char *file;
	struct ksmd_config *cfg;
	struct conf_errors *errs;
	size_t before;                   /* errs->total when the file began */
	unsigned lineno;
	char section[CONF_NAME_MAX];     /* "": none (or an invalid header) */
	struct guest_conf *guest;        /* the guest of a [guest NAME] section */
	bool seen[ARRAY_SIZE(sections)];
	/* keys set in the current section, to find duplicates */
	const struct conf_key *set_keys[64];
	size_t n_set;
};

/* [guest NAME]: add the guest with its defaults, or report and leave no section; 0 or -ENOMEM. */
static int parse_guest_header(struct parse_state *ps, char *gname)
{
	struct ksmd_config *cfg = ps->cfg;
	strcpy(ps->section, "guest");
	if (!valid_guest_name(gname)) {
		add_error(ps->errs, ps->file, ps->lineno,
			  "guest name '%s' must be 1-63 letters, digits, '-', '_' or '.'", gname);
		ps->section[0] = 0;
		return 0;
	}
	for (size_t j = 0; j < cfg->n_guests; j++)
		if (!strcmp(cfg->guests[j].name, gname)) {
			add_error(ps->errs, ps->file, ps->lineno, "duplicate section [guest %s] (first at line %u)",
				  gname, cfg->guests[j].line);
			ps->section[0] = 0;
		}
	if (!ps->section[0])
		return 0;
	struct guest_conf *ng = realloc(cfg->guests, (cfg->n_guests + 1) * sizeof *ng);
	if (!ng)
		return -ENOMEM;
	cfg->guests = ng;
	struct guest_conf *guest = &cfg->guests[cfg->n_guests++];
	memset(guest, 0, sizeof *guest);
	set_defaults("guest", guest);
	snprintf(guest->name, sizeof guest->name, "%s", gname);
	guest->line = ps->lineno;
	snprintf(guest->file, sizeof guest->file, "%s", ps->file);
	ps->guest = guest;
	return 0;
}

/* A '[' line: enter the section it names, or report and leave no section; 0 or -ENOMEM. */
static int parse_header(struct parse_state *ps, char *s)
{
	char *end = strchr(s, ']');
	if (!end || *trim(end + 1)) {
		add_error(ps->errs, ps->file, ps->lineno, "malformed section header '%s'", s);
		ps->section[0] = 0;
		return 0;
	}
	*end = 0;
	char *name = trim(s + 1);
	ps->guest = NULL;
	ps->n_set = 0;
	if (!strncmp(name, "guest", 5) && (isspace((unsigned char)name[5]) || !name[5]))
		return parse_guest_header(ps, trim(name + 5));
	size_t i;
	for (i = 0; i < ARRAY_SIZE(sections); i++)
		if (!strcmp(sections[i], name))
			break;
	if (i == ARRAY_SIZE(sections)) {
		add_error(ps->errs, ps->file, ps->lineno, "unknown section [%s]", name);
		ps->section[0] = 0;
		return 0;
	}
	if (ps->seen[i]) {
		add_error(ps->errs, ps->file, ps->lineno, "duplicate section [%s]", name);
		ps->section[0] = 0;
		return 0;
	}
	ps->seen[i] = true;
	if (!strcmp(name, "libvirt"))
		ps->cfg->libvirt_enabled = true; /* the section turns it on */
	snprintf(ps->section, sizeof ps->section, "%s", name);
	return 0;
}

/* A `key = value` line: set the key in the current section (or guest), or report why not. */
static void parse_key_line(struct parse_state *ps, char *s)
{
	const char *file = ps->file;
	char *eq = strchr(s, '=');
	if (!eq) {
		add_error(ps->errs, file, ps->lineno, "expected 'key = value', got '%s'", s);
		return;
	}
	*eq = 0;
	char *key = trim(s), *value = trim(eq + 1);
	/* strip a trailing comment introduced by " #" */
	char *hash = strstr(value, " #");
	if (hash) {
		*hash = 0;
		value = trim(value);
	}
	if (!ps->section[0]) {
		/* a key outside any (valid) section: report only if no section error was
		 * already given for it */
		if (!ps->errs || ps->errs->total == ps->before)
			add_error(ps->errs, file, ps->lineno, "key '%s' outside of a section", key);
		return;
	}
	const struct conf_key *k = find_key(ps->section, key);
	if (!k) {
		add_error(ps->errs, file, ps->lineno, "unknown key '%s' in [%s]", key,
			  ps->guest ? "guest" : ps->section);
		return;
	}
	bool dup = false;
	for (size_t j = 0; j < ps->n_set; j++)
		dup |= ps->set_keys[j] == k;
	if (dup) {
		add_error(ps->errs, file, ps->lineno, "duplicate key '%s' in [%s]", key, ps->section);
		return;
	}
	if (ps->n_set < ARRAY_SIZE(ps->set_keys))
		ps->set_keys[ps->n_set++] = k;
	void *base = ps->guest ? (void *)ps->guest : (void *)ps->cfg;
	char err[300];
	if (config_parse_value(k, value, (char *)base + k->offset, err, sizeof err) < 0)
		add_error(ps->errs, file, ps->lineno, "%s", err);
}

/* Parse text on top of cfg (which holds defaults, or earlier files). */
static int parse_into(const char *file, const char *text, struct ksmd_config *cfg, struct conf_errors *errs)
{
	struct parse_state ps = { .file = file, .cfg = cfg, .errs = errs,
				  .before = errs ? errs->total : 0 };
	char *copy = strdup(text);
	if (!copy)
		return -ENOMEM;

	size_t first_guest = cfg->n_guests;
	snprintf(cfg->path, sizeof cfg->path, "%s", file);
	for (char *line = copy, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		ps.lineno++;
		char *s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s != '[') {
			parse_key_line(&ps, s);
		} else if (parse_header(&ps, s) < 0) {
			free(copy);
			config_free(cfg);
			return -ENOMEM;
		}
	}
	free(copy);
	validate_guests(file, cfg, first_guest, errs);
	return errs && errs->total > ps.before ? -EINVAL : 0;
}


int config_parse(const char *file, const char *text, struct ksmd_config *cfg, struct conf_errors *errs)
{
	struct conf_errors local = { 0 }; /* errors count even when nobody wants them */
	if (!errs)
		errs = &local;
	size_t before = errs->total;
	config_defaults(cfg);
	int r = parse_into(file, text, cfg, errs);
	if (r != -ENOMEM)
		validate(file, cfg, errs);
	bool bad = errs->total > before;
	conf_errors_free(&local);
	if (r == -ENOMEM || bad) {
		config_free(cfg);
		return r == -ENOMEM ? r : -EINVAL;
	}
	return 0;
}

int config_load_files(const char *const *paths, size_t n, struct ksmd_config *cfg, struct conf_errors *errs)
{
	struct conf_errors local = { 0 };
	if (!errs)
		errs = &local;
	size_t before = errs->total;
	int first_err = 0;
	config_defaults(cfg);
	for (size_t i = 0; i < n; i++) {
		char *text;
		int r = read_file(paths[i], &text, NULL);
		if (r < 0) {
			add_error(errs, paths[i], 0, "cannot read: %s", strerror(-r));
			if (!first_err)
				first_err = r;
			continue;
		}
		r = parse_into(paths[i], text, cfg, errs);
		free(text);
		if (r == -ENOMEM) {
			config_free(cfg);
			conf_errors_free(&local);
			return r;
		}
	}
	validate(paths[n ? n - 1 : 0], cfg, errs);
	bool bad = errs->total > before;
	conf_errors_free(&local);
	if (first_err || bad) {
		config_free(cfg);
		return first_err ? first_err : -EINVAL;
	}
	if (n)
		snprintf(cfg->path, sizeof cfg->path, "%s", paths[0]);
	return 0;
}

int config_load(const char *path, struct ksmd_config *cfg, struct conf_errors *errs)
{
	return config_load_files(&path, 1, cfg, errs);
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

const char *config_format(const struct ksmd_config *cfg, const struct conf_key *k, char *buf, size_t len)
{
	return format_at(cfg, k, buf, len);
}

int config_set(struct ksmd_config *cfg, const char *dotted, const char *value, char *err, size_t errlen)
{
	const struct conf_key *k = config_find(dotted);
	if (!k) {
		snprintf(err, errlen, "unknown key '%s'", dotted);
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
		  : (k->type == CONF_STRING || k->type == CONF_ENUM) ? field_size(k)
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
