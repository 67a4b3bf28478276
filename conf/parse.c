/* parse.c — the INI parser of ksmd.conf: values, sections, keys, files, validation.
 *
 * File syntax: `[section]` or `[guest NAME]` headers, `key = value` lines,
 * comments from `#` or `;` at the start of a line. Every error is collected
 * with its line number; a file with any error is refused whole. */
#include "conf/config.h"
#include "conf/internal.h"
#include "balloon/libvirt.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

size_t config_field_size(const struct conf_key *k)
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
	if (strlen(v) >= config_field_size(k)) {
		snprintf(err, errlen, "%s.%s: value longer than %zu characters", k->section, k->name,
			 config_field_size(k) - 1);
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

static int parse_typed(const struct conf_key *k, const char *v, void *p, char *err, size_t errlen);

int config_parse_value(const struct conf_key *k, const char *v, void *p, char *err, size_t errlen)
{
	if (!text_utf8_valid(v, strlen(v))) {
		snprintf(err, errlen, "%s.%s: the value is not valid UTF-8", k->section, k->name);
		return -EINVAL;
	}
	int r = parse_typed(k, v, p, err, errlen);
	if (r == 0)
		r = config_key_check(k, p, err, errlen);
	return r;
}

/* config_parse_value's parse by type. */
static int parse_typed(const struct conf_key *k, const char *v, void *p, char *err, size_t errlen)
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

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
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
	config_set_defaults("guest", guest);
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
	const struct conf_key *k = config_find_key(ps->section, key);
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

/* Where text's first NUL byte is: its line (1-based), 0 if none. */
static unsigned nul_line(const char *text, size_t len)
{
	const char *nul = memchr(text, '\0', len);
	if (!nul)
		return 0;
	unsigned line = 1;
	for (const char *p = text; p < nul; p++)
		line += *p == '\n';
	return line;
}

/* Parse text[0, len) on top of cfg (which holds defaults, or earlier files). */
static int parse_into(const char *file, const char *text, size_t len, struct ksmd_config *cfg,
		      struct conf_errors *errs)
{
	struct parse_state ps = { .file = file, .cfg = cfg, .errs = errs,
				  .before = errs ? errs->total : 0 };
	unsigned nul = nul_line(text, len);
	if (nul) {
		/* it would end the text there: what follows would be lost unsaid */
		add_error(errs, file, nul, "a NUL byte: a configuration file is text");
		return -EINVAL;
	}
	char *copy = strndup(text, len);
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
		if (!text_utf8_valid(s, strlen(s))) {
			add_error(errs, file, ps.lineno, "not valid UTF-8");
			continue;
		}
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


int config_parse_buf(const char *file, const char *buf, size_t len, struct ksmd_config *cfg,
		     struct conf_errors *errs)
{
	struct conf_errors local = { 0 }; /* errors count even when nobody wants them */
	if (!errs)
		errs = &local;
	size_t before = errs->total;
	config_defaults(cfg);
	int r = parse_into(file, buf, len, cfg, errs);
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

int config_parse(const char *file, const char *text, struct ksmd_config *cfg, struct conf_errors *errs)
{
	return config_parse_buf(file, text, strlen(text), cfg, errs);
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
		size_t len;
		int r = read_file(paths[i], &text, &len);
		if (r < 0) {
			add_error(errs, paths[i], 0, "cannot read: %s", strerror(-r));
			if (!first_err)
				first_err = r;
			continue;
		}
		r = parse_into(paths[i], text, len, cfg, errs);
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
