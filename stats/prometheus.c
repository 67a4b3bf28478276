/* prometheus.c — a snapshot as Prometheus text exposition format 0.0.4.
 *
 * The renderer is table driven. Each metric family is one row: where its
 * value sits in the snapshot (section, key), its name (ksmd_ prefix, base
 * units per Prometheus conventions: _bytes, _seconds, ratios instead of
 * percents, _total for counters), its type, its help text, and a scale
 * that converts the snapshot's unit into the base unit (milliseconds ×
 * 0.001 → seconds, percent × 0.01 → ratio). One family is written as one
 * block: HELP, TYPE, then its samples (for per-guest families one sample
 * per guest with the label guest="NAME"), so every name appears once.
 *
 * Missing or non-numeric fields produce no sample; a guest (or sharing
 * pair) that repeats an earlier one's name is skipped, so no series is
 * ever written twice; a family with no sample
 * at all is left out entirely (no orphan HELP/TYPE). Label values are
 * escaped as the format requires (backslash, double quote, newline).
 * Numbers: JSON integers print as integers, reals with the fewest of 15
 * or 17 significant digits that read back exactly, booleans as 0/1.
 *
 * Cost. The text is rendered once per published snapshot, on the loop's
 * thread, so it is written into a plain growable buffer (stats/sbuf.h)
 * rather than a stdio stream, and integers (nearly every sample) are
 * formatted by hand; only non-integral reals go through snprintf. */
#include "stats/stats.h"
#include "stats/sbuf.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum mtype { GAUGE, COUNTER };

struct family {
	const char *section; /* top-level object, NULL = the root */
	const char *key;
	const char *name;
	enum mtype type;
	double scale;        /* multiply the snapshot value by this; 0 = 1 */
	const char *help;
};

static const struct family scalar_families[] = {
	{ NULL, "uptime_seconds", "ksmd_uptime_seconds", GAUGE, 0, "Seconds since ksmd started." },
	{ NULL, "time", "ksmd_snapshot_timestamp_seconds", GAUGE, 0, "Unix time at which this snapshot was taken." },
	{ "host", "mem_total_bytes", "ksmd_host_memory_total_bytes", GAUGE, 0, "Host MemTotal." },
	{ "host", "mem_available_bytes", "ksmd_host_memory_available_bytes", GAUGE, 0, "Host MemAvailable." },
	{ "host", "swap_in_pages_per_sec", "ksmd_host_swap_in_pages_per_second", GAUGE, 0, "Host pages swapped in per second (pswpin rate)." },
	{ "host", "swap_out_pages_per_sec", "ksmd_host_swap_out_pages_per_second", GAUGE, 0, "Host pages swapped out per second (pswpout rate)." },
	{ "host", "psi_some_avg10", "ksmd_host_memory_pressure_some_avg10_ratio", GAUGE, 0.01, "Share of time some task stalled on memory, 10 s average (PSI)." },
	{ "host", "psi_full_avg10", "ksmd_host_memory_pressure_full_avg10_ratio", GAUGE, 0.01, "Share of time all tasks stalled on memory, 10 s average (PSI)." },
	{ "host", "budget_bytes", "ksmd_host_budget_bytes", GAUGE, 0, "Memory ksmd may give to guests in total." },
	{ "host", "guests_total_bytes", "ksmd_host_guests_memory_bytes", GAUGE, 0, "Memory the guests currently hold in total." },
	{ "ksm", "run", "ksmd_ksm_run", GAUGE, 0, "Kernel KSM run mode (0 stopped, 1 running, 2 unmerge)." },
	{ "ksm", "pages_to_scan", "ksmd_ksm_pages_to_scan", GAUGE, 0, "Kernel KSM pages scanned per wake-up." },
	{ "ksm", "sleep_millisecs", "ksmd_ksm_sleep_seconds", GAUGE, 0.001, "Kernel KSM sleep between wake-ups." },
	{ "ksm", "pages_shared", "ksmd_ksm_pages_shared", GAUGE, 0, "KSM pages in use (stable tree nodes)." },
	{ "ksm", "pages_sharing", "ksmd_ksm_pages_sharing", GAUGE, 0, "Pages mapped onto a KSM page (pages saved)." },
	{ "ksm", "pages_unshared", "ksmd_ksm_pages_unshared", GAUGE, 0, "Pages KSM checked but found unique." },
	{ "ksm", "pages_volatile", "ksmd_ksm_pages_volatile", GAUGE, 0, "Pages changing too fast to merge." },
	{ "ksm", "full_scans", "ksmd_ksm_full_scans_total", COUNTER, 0, "Completed full KSM scans." },
	{ "ksm", "ksm_zero_pages", "ksmd_ksm_zero_pages", GAUGE, 0, "Empty pages merged with the kernel zero page." },
	{ "ksm", "general_profit", "ksmd_ksm_general_profit_bytes", GAUGE, 0, "Memory saved by KSM minus its metadata." },
	{ "ksm", "kthread_cpu_percent", "ksmd_ksm_kthread_cpu_ratio", GAUGE, 0.01, "CPU share used by the kernel ksmd thread." },
	{ "scanner", "threads", "ksmd_scanner_threads", GAUGE, 0, "Scanner threads." },
	{ "scanner", "pages_per_sec_limit", "ksmd_scanner_pages_per_second_limit", GAUGE, 0, "Scanner rate limit in pages per second (0 = none)." },
	{ "scanner", "cpu_percent_limit", "ksmd_scanner_cpu_limit_ratio", GAUGE, 0.01, "Scanner CPU limit as a share of one core." },
	{ "scanner", "passes", "ksmd_scanner_passes_total", COUNTER, 0, "Completed scanner passes." },
	{ "scanner", "last_pass_seconds", "ksmd_scanner_last_pass_duration_seconds", GAUGE, 0, "Duration of the last scanner pass." },
	{ "scanner", "pages_scanned_total", "ksmd_scanner_pages_scanned_total", COUNTER, 0, "Pages read and hashed by the scanner." },
	{ "scanner", "predicted_mergeable_pages", "ksmd_scanner_predicted_mergeable_pages", GAUGE, 0, "Non-zero duplicate pages KSM can merge, as predicted." },
	{ "scanner", "zero_filled_pages", "ksmd_scanner_zero_filled_pages", GAUGE, 0, "Zero-filled pages found by the scanner." },
	{ "scanner", "duplicate_pages", "ksmd_scanner_duplicate_pages", GAUGE, 0, "Pages whose content exists elsewhere too." },
	{ "scanner", "volatile_pages", "ksmd_scanner_volatile_pages", GAUGE, 0, "Pages whose content changed between passes." },
	{ "scanner", "bytes_per_tracked_page", "ksmd_scanner_bytes_per_tracked_page", GAUGE, 0, "Scanner memory overhead per tracked page." },
	{ "policy", "tick", "ksmd_policy_ticks_total", COUNTER, 0, "Policy loop ticks." },
};

static const struct family guest_families[] = {
	{ NULL, "pid", "ksmd_guest_pid", GAUGE, 0, "Process id of the guest." },
	{ NULL, "mem_max_bytes", "ksmd_guest_memory_max_bytes", GAUGE, 0, "Guest memory size (balloon fully deflated)." },
	{ NULL, "mem_min_bytes", "ksmd_guest_memory_min_bytes", GAUGE, 0, "Least memory ksmd leaves the guest." },
	{ NULL, "shares", "ksmd_guest_shares", GAUGE, 0, "Relative weight of the guest when memory is divided." },
	{ NULL, "balloon_target_bytes", "ksmd_guest_balloon_target_bytes", GAUGE, 0, "Memory the guest is asked to keep." },
	{ NULL, "balloon_actual_bytes", "ksmd_guest_balloon_actual_bytes", GAUGE, 0, "Memory the guest actually has." },
	{ NULL, "override_bytes", "ksmd_guest_override_bytes", GAUGE, 0, "Operator override of the target (0 = none)." },
	{ NULL, "stats_age_seconds", "ksmd_guest_stats_age_seconds", GAUGE, 0, "Age of the guest's last memory statistics." },
	{ NULL, "available_bytes", "ksmd_guest_available_bytes", GAUGE, 0, "Memory available inside the guest." },
	{ NULL, "free_bytes", "ksmd_guest_free_bytes", GAUGE, 0, "Free memory inside the guest." },
	{ NULL, "major_faults", "ksmd_guest_major_faults_total", COUNTER, 0, "Major page faults inside the guest." },
	{ NULL, "swap_in", "ksmd_guest_swap_in_bytes_total", COUNTER, 0, "Memory the guest swapped in." },
	{ NULL, "swap_out", "ksmd_guest_swap_out_bytes_total", COUNTER, 0, "Memory the guest swapped out." },
	{ NULL, "rss_bytes", "ksmd_guest_resident_bytes", GAUGE, 0, "Resident memory of the guest process on the host." },
	{ NULL, "swap_bytes", "ksmd_guest_swapped_bytes", GAUGE, 0, "Memory of the guest process the host swapped out." },
	{ NULL, "ksm_mergeable", "ksmd_guest_ksm_mergeable", GAUGE, 0, "1 if the guest memory is marked mergeable." },
	{ NULL, "ksm_merging_pages", "ksmd_guest_ksm_merging_pages", GAUGE, 0, "Pages of the guest currently merged by KSM." },
};

/* scan.KEY of each guest, written as ksmd_guest_scan_pages{kind=...}. */
static const struct { const char *key, *kind; } scan_kinds[] = {
	{ "present_pages", "present" },
	{ "zero_page_pages", "zero_page" },
	{ "zero_filled_pages", "zero_filled" },
	{ "merged_pages", "merged" },
	{ "unique_pages", "unique" },
	{ "duplicate_pages", "duplicate" },
	{ "volatile_pages", "volatile" },
};

static const char *const guest_states[] = {
	"ok", "distress", "stuck", "uncooperative", "gone", "no-balloon", "connecting",
};

/* Decimal digits of v into buf (at least 21 bytes), NUL-terminated, as
 * printf's %lld would write them. */
static void put_int(char *buf, long long v)
{
	char tmp[24];
	size_t n = 0;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	char *p = buf;
	if (v < 0)
		*p++ = '-';
	while (n)
		*p++ = tmp[--n];
	*p = '\0';
}

/* Write a JSON number (or boolean) scaled by scale. Returns false when the
 * value is not numeric, so no sample is written. */
static bool value_str(const json_t *v, double scale, char *buf, size_t len)
{
	if (json_is_integer(v) && (scale == 0 || scale == 1)) {
		put_int(buf, (long long)json_integer_value(v));
		return true;
	}
	double d;
	if (json_is_number(v))
		d = json_number_value(v);
	else if (json_is_boolean(v))
		d = json_is_true(v) ? 1 : 0;
	else
		return false;
	if (scale != 0)
		d *= scale;
	if (isnan(d))
		snprintf(buf, len, "NaN");
	else if (isinf(d))
		snprintf(buf, len, d > 0 ? "+Inf" : "-Inf");
	else if (d == floor(d) && fabs(d) < 1e15) {
		if (d == 0 && signbit(d))
			snprintf(buf, len, "-0"); /* as %.0f writes it */
		else
			put_int(buf, (long long)d);
	} else {
		/* Shortest of 15 or 17 digits that reads back exactly. */
		snprintf(buf, len, "%.15g", d);
		if (strtod(buf, NULL) != d)
			snprintf(buf, len, "%.17g", d);
	}
	return true;
}

/* Label value escaping of the exposition format: runs of plain bytes are
 * copied at once. */
static void put_label(struct sbuf *f, const char *s)
{
	for (;;) {
		size_t n = strcspn(s, "\\\"\n");
		sbuf_add(f, s, n);
		s += n;
		switch (*s) {
		case '\\': sbuf_add(f, "\\\\", 2); break;
		case '"': sbuf_add(f, "\\\"", 2); break;
		case '\n': sbuf_add(f, "\\n", 2); break;
		default: return; /* NUL */
		}
		s++;
	}
}

/* HELP text escaping: backslash and newline. */
static void header(struct sbuf *f, const char *name, enum mtype type, const char *help)
{
	sbuf_puts(f, "# HELP ");
	sbuf_puts(f, name);
	sbuf_putc(f, ' ');
	for (;;) {
		size_t n = strcspn(help, "\\\n");
		sbuf_add(f, help, n);
		help += n;
		if (*help == '\\')
			sbuf_add(f, "\\\\", 2);
		else if (*help == '\n')
			sbuf_add(f, "\\n", 2);
		else
			break;
		help++;
	}
	sbuf_puts(f, "\n# TYPE ");
	sbuf_puts(f, name);
	sbuf_puts(f, type == COUNTER ? " counter\n" : " gauge\n");
}

/* "NAME VALUE\n" */
static void sample(struct sbuf *f, const char *name, const char *val)
{
	sbuf_puts(f, name);
	sbuf_putc(f, ' ');
	sbuf_puts(f, val);
	sbuf_putc(f, '\n');
}

static const char *str_field(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A guest usable for per-guest samples: an object with a string name. */
static const char *guest_name(const json_t *g)
{
	return json_is_object(g) ? str_field(g, "name") : NULL;
}

static void render_scalars(const json_t *snap, struct sbuf *f)
{
	char val[64];
	for (size_t i = 0; i < sizeof scalar_families / sizeof scalar_families[0]; i++) {
		const struct family *fa = &scalar_families[i];
		const json_t *o = fa->section ? json_object_get(snap, fa->section) : snap;
		if (!json_is_object(o) || !value_str(json_object_get(o, fa->key), fa->scale, val, sizeof val))
			continue;
		header(f, fa->name, fa->type, fa->help);
		sample(f, fa->name, val);
	}
}

static void render_info(const json_t *snap, struct sbuf *f)
{
	const char *ver = str_field(snap, "ksmd_version");
	if (ver) {
		header(f, "ksmd_build_info", GAUGE, "Always 1; the version label names the ksmd release.");
		sbuf_puts(f, "ksmd_build_info{version=\"");
		put_label(f, ver);
		sbuf_puts(f, "\"} 1\n");
	}
	const json_t *ksm = json_object_get(snap, "ksm");
	const char *reason = json_is_object(ksm) ? str_field(ksm, "pacing_reason") : NULL;
	if (reason) {
		header(f, "ksmd_ksm_pacing_info", GAUGE, "Always 1; the reason label says why KSM is paced as it is.");
		sbuf_puts(f, "ksmd_ksm_pacing_info{reason=\"");
		put_label(f, reason);
		sbuf_puts(f, "\"} 1\n");
	}
	static const char *const sections[] = { "scanner", "policy" };
	static const char *const names[] = { "ksmd_scanner_running", "ksmd_policy_running" };
	static const char *const helps[] = { "1 if the scanner is running, 0 if paused.",
					     "1 if the policy loop acts, 0 if paused." };
	for (int i = 0; i < 2; i++) {
		const json_t *o = json_object_get(snap, sections[i]);
		const char *st = json_is_object(o) ? str_field(o, "state") : NULL;
		if (!st)
			continue;
		header(f, names[i], GAUGE, helps[i]);
		sample(f, names[i], strcmp(st, "running") == 0 ? "1" : "0");
	}
	const json_t *pol = json_object_get(snap, "policy");
	const json_t *dry = json_is_object(pol) ? json_object_get(pol, "dry_run") : NULL;
	if (json_is_boolean(dry)) {
		header(f, "ksmd_policy_dry_run", GAUGE, "1 if the policy decides without acting.");
		sample(f, "ksmd_policy_dry_run", json_is_true(dry) ? "1" : "0");
	}
	const json_t *dec = json_object_get(snap, "decisions");
	if (json_is_array(dec)) {
		header(f, "ksmd_policy_recent_decisions", GAUGE, "Decisions listed in the current snapshot.");
		char val[24];
		put_int(val, (long long)json_array_size(dec));
		sample(f, "ksmd_policy_recent_decisions", val);
	}
}

/* Entries of arr whose key (or key pair) repeats an earlier entry's are
 * marked in skip[] so that no series is written twice: a snapshot with two
 * guests of one name still renders valid text (the first one wins). */
struct keyed { size_t idx; const char *a, *b; };

static int cmp_keyed(const void *x, const void *y)
{
	const struct keyed *p = x, *q = y;
	int c = strcmp(p->a, q->a);
	if (!c)
		c = strcmp(p->b, q->b);
	if (!c)
		c = p->idx < q->idx ? -1 : p->idx > q->idx;
	return c;
}

static bool *mark_duplicates(const json_t *arr, const char *ka, const char *kb)
{
	size_t n = json_array_size(arr), m = 0, i;
	const json_t *e;
	bool *skip = calloc(n ? n : 1, sizeof *skip);
	struct keyed *k = calloc(n ? n : 1, sizeof *k);
	if (!skip || !k) {
		free(skip);
		free(k);
		return NULL;
	}
	json_array_foreach(arr, i, e) {
		const char *a = json_is_object(e) ? str_field(e, ka) : NULL;
		const char *b = kb ? (json_is_object(e) ? str_field(e, kb) : NULL) : "";
		if (a && b)
			k[m++] = (struct keyed){ i, a, b };
	}
	qsort(k, m, sizeof *k, cmp_keyed);
	for (i = 1; i < m; i++)
		if (!strcmp(k[i].a, k[i - 1].a) && !strcmp(k[i].b, k[i - 1].b))
			skip[k[i].idx] = true;
	free(k);
	return skip;
}

/* ksmd_guest_info and ksmd_guest_state: backend and state as labels, and
 * the state as a set of 0/1 samples (the enum idiom of Prometheus). */
static void render_guest_states(const json_t *guests, const bool *skip, struct sbuf *f)
{
	size_t i;
	const json_t *g;
	bool any = false;
	json_array_foreach(guests, i, g) {
		const char *name = skip[i] ? NULL : guest_name(g);
		if (!name)
			continue;
		if (!any)
			header(f, "ksmd_guest_info", GAUGE, "Always 1; labels name the guest's backend and state.");
		any = true;
		sbuf_puts(f, "ksmd_guest_info{guest=\"");
		put_label(f, name);
		const char *b = str_field(g, "backend"), *st = str_field(g, "state");
		sbuf_puts(f, "\",backend=\"");
		put_label(f, b ? b : "");
		sbuf_puts(f, "\",state=\"");
		put_label(f, st ? st : "");
		sbuf_puts(f, "\"} 1\n");
	}
	any = false;
	json_array_foreach(guests, i, g) {
		const char *name = skip[i] ? NULL : guest_name(g), *st = name ? str_field(g, "state") : NULL;
		if (!st)
			continue;
		if (!any)
			header(f, "ksmd_guest_state", GAUGE, "1 for the state the guest is in, 0 for the others.");
		any = true;
		for (size_t s = 0; s < sizeof guest_states / sizeof guest_states[0]; s++) {
			sbuf_puts(f, "ksmd_guest_state{guest=\"");
			put_label(f, name);
			sbuf_puts(f, "\",state=\"");
			sbuf_puts(f, guest_states[s]);
			sbuf_puts(f, strcmp(st, guest_states[s]) == 0 ? "\"} 1\n" : "\"} 0\n");
		}
	}
}

/* One block per per-guest family of the table, one sample per guest. */
static void render_guest_families(const json_t *guests, const bool *skip, struct sbuf *f)
{
	size_t i;
	const json_t *g;
	char val[64];
	for (size_t k = 0; k < sizeof guest_families / sizeof guest_families[0]; k++) {
		const struct family *fa = &guest_families[k];
		bool any = false;
		json_array_foreach(guests, i, g) {
			const char *name = skip[i] ? NULL : guest_name(g);
			if (!name || !value_str(json_object_get(g, fa->key), fa->scale, val, sizeof val))
				continue;
			if (!any)
				header(f, fa->name, fa->type, fa->help);
			any = true;
			sbuf_puts(f, fa->name);
			sbuf_puts(f, "{guest=\"");
			put_label(f, name);
			sbuf_puts(f, "\"} ");
			sbuf_puts(f, val);
			sbuf_putc(f, '\n');
		}
	}
}

/* ksmd_guest_scan_pages: what the scanner found, by kind. */
static void render_guest_scan(const json_t *guests, const bool *skip, struct sbuf *f)
{
	size_t i;
	const json_t *g;
	char val[64];
	bool any = false;
	json_array_foreach(guests, i, g) {
		const char *name = skip[i] ? NULL : guest_name(g);
		const json_t *scan = name ? json_object_get(g, "scan") : NULL;
		if (!json_is_object(scan))
			continue;
		for (size_t k = 0; k < sizeof scan_kinds / sizeof scan_kinds[0]; k++) {
			if (!value_str(json_object_get(scan, scan_kinds[k].key), 1, val, sizeof val))
				continue;
			if (!any)
				header(f, "ksmd_guest_scan_pages", GAUGE,
				       "Guest pages by what the scanner found in them (kind).");
			any = true;
			sbuf_puts(f, "ksmd_guest_scan_pages{guest=\"");
			put_label(f, name);
			sbuf_puts(f, "\",kind=\"");
			sbuf_puts(f, scan_kinds[k].kind);
			sbuf_puts(f, "\"} ");
			sbuf_puts(f, val);
			sbuf_putc(f, '\n');
		}
	}
}

static void render_guests(const json_t *snap, struct sbuf *f)
{
	const json_t *guests = json_object_get(snap, "guests");
	if (!json_is_array(guests))
		return;
	char val[64];
	bool *skip = mark_duplicates(guests, "name", NULL);
	if (!skip) {
		f->failed = true; /* ENOMEM: fail the render, not a partial text */
		return;
	}
	header(f, "ksmd_guests", GAUGE, "Guests known to ksmd.");
	put_int(val, (long long)json_array_size(guests));
	sample(f, "ksmd_guests", val);
	render_guest_states(guests, skip, f);
	render_guest_families(guests, skip, f);
	render_guest_scan(guests, skip, f);
	free(skip);
}

static void render_sharing(const json_t *snap, struct sbuf *f)
{
	const json_t *sh = json_object_get(snap, "sharing"), *p;
	size_t i;
	bool any = false;
	char val[64];
	if (!json_is_array(sh))
		return;
	bool *skip = mark_duplicates(sh, "a", "b");
	if (!skip) {
		f->failed = true; /* ENOMEM: fail the render, not a partial text */
		return;
	}
	json_array_foreach(sh, i, p) {
		const char *a = json_is_object(p) && !skip[i] ? str_field(p, "a") : NULL;
		const char *b = json_is_object(p) ? str_field(p, "b") : NULL;
		if (!a || !b || !value_str(json_object_get(p, "pages"), 1, val, sizeof val))
			continue;
		if (!any)
			header(f, "ksmd_sharing_pages", GAUGE,
			       "Duplicate pages the scanner found between guests a and b.");
		any = true;
		sbuf_puts(f, "ksmd_sharing_pages{a=\"");
		put_label(f, a);
		sbuf_puts(f, "\",b=\"");
		put_label(f, b);
		sbuf_puts(f, "\"} ");
		sbuf_puts(f, val);
		sbuf_putc(f, '\n');
	}
	free(skip);
}

int stats_render_prometheus(const json_t *snap, char **out, size_t *len)
{
	if (!json_is_object(snap))
		return -EINVAL;
	struct sbuf f = { 0 };
	render_info(snap, &f);
	render_scalars(snap, &f);
	render_guests(snap, &f);
	render_sharing(snap, &f);
	if (sbuf_finish(&f) < 0)
		return -ENOMEM;
	*out = f.s;
	*len = f.len;
	return 0;
}
