/* view.c — ksmdctl's human-readable views of a stats snapshot.
 *
 * Every view is a pure function from a jansson document (docs/STATS.md,
 * version 1) to text on a FILE*: easy to test with made-up snapshots and
 * indifferent to where the snapshot came from. A field that is missing or
 * of the wrong type prints as "-", never as a made-up 0. Sizes print as
 * KiB/MiB/GiB unless view_set_raw() asked for bytes.
 *
 * `top` is a frame renderer (pure, one call per refresh) plus a small loop
 * that fetches through a callback, clears the screen with ANSI codes only
 * when stdout is a terminal, and reads 'q' from a terminal in
 * non-canonical mode; SIGINT and SIGTERM end it too, and the terminal is
 * restored on the way out. */
#include "cli/view.h"
#include "common/util.h"
#include "ctl/fields.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define PAGE_BYTES 4096.0

static bool raw_sizes;

void view_set_raw(bool raw)
{
	raw_sizes = raw;
}

/* ---- field access and formatting --------------------------------------- */

/* Fields are named by their row of the snapshot's field table
 * (ctl/fields.h), never by a key of their own. */

static const json_t *obj(const json_t *o, enum snap_id id)
{
	const json_t *v = snap_get(o, id);
	return json_is_object(v) ? v : NULL;
}

static bool num_v(const json_t *v, double *out)
{
	if (!json_is_number(v))
		return false;
	*out = json_number_value(v);
	return true;
}

static bool num(const json_t *o, enum snap_id id, double *out)
{
	return num_v(snap_get(o, id), out);
}

static const char *str(const json_t *o, enum snap_id id)
{
	return json_string_value(snap_get(o, id));
}

struct fmt { char s[48]; };

/* A number of the answer as an unsigned integer: a double out of range
 * (a hostile or broken answer: 1e300) saturates instead of being
 * undefined behaviour. */
static uint64_t sat_u64(double d)
{
	if (!(d > 0))
		return 0;
	return d >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)d;
}

static struct fmt fsize_d(double bytes)
{
	struct fmt r;
	if (raw_sizes)
		snprintf(r.s, sizeof r.s, "%.0f", bytes);
	else if (bytes < 0) {
		char b[40];
		snprintf(r.s, sizeof r.s, "-%s", format_size(sat_u64(-bytes), b, sizeof b));
	} else
		format_size(sat_u64(bytes), r.s, sizeof r.s);
	return r;
}

/* A size, "-" if missing. */
static struct fmt fsize_v(const json_t *v)
{
	double d;
	struct fmt r = { "-" };
	return num_v(v, &d) ? fsize_d(d) : r;
}

static struct fmt fsize(const json_t *o, enum snap_id id)
{
	return fsize_v(snap_get(o, id));
}

/* A page count shown as a size, "-" if missing. */
static struct fmt fpages_v(const json_t *v)
{
	double d;
	struct fmt r = { "-" };
	return num_v(v, &d) ? fsize_d(d * PAGE_BYTES) : r;
}

static struct fmt fpages(const json_t *o, enum snap_id id)
{
	return fpages_v(snap_get(o, id));
}

/* A plain number: integers without decimals, reals with prec decimals. */
static struct fmt fnum_v(const json_t *v, int prec)
{
	struct fmt r = { "-" };
	if (json_is_integer(v))
		snprintf(r.s, sizeof r.s, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(r.s, sizeof r.s, "%.*f", prec, json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(r.s, sizeof r.s, "%s", json_is_true(v) ? "yes" : "no");
	return r;
}

static struct fmt fnum(const json_t *o, enum snap_id id, int prec)
{
	return fnum_v(snap_get(o, id), prec);
}

static struct fmt fstr(const json_t *o, enum snap_id id)
{
	struct fmt r = { "-" };
	const char *s = str(o, id);
	if (s)
		snprintf(r.s, sizeof r.s, "%s", s);
	return r;
}

static struct fmt fdur(const json_t *o, enum snap_id id)
{
	double v;
	struct fmt r = { "-" };
	if (num(o, id, &v) && v >= 0) {
		if (v < 60)
			snprintf(r.s, sizeof r.s, v < 10 && v != floor(v) ? "%.1fs" : "%.0fs", v);
		else
			format_duration(sat_u64(v * 1e6), r.s, sizeof r.s);
	}
	return r;
}

/* Copy a guest name for a table cell: control characters become '?'. */
static void cell_name(const char *name, char *buf, size_t len, size_t max)
{
	size_t i = 0;
	if (!name)
		name = "-";
	for (; name[i] && i + 1 < len && i < max; i++)
		buf[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
	buf[i] = '\0';
}

static const json_t *guests_of(const json_t *snap)
{
	const json_t *g = snap_get(snap, SF_GUESTS);
	return json_is_array(g) ? g : NULL;
}

/* ---- views ----------------------------------------------------------------- */

/* Who drives KSM and the balloons, the other managers found on the host,
 * the last change of KSM's knobs made by another program. */
static void view_owners(const json_t *snap, FILE *f)
{
	const json_t *o = obj(snap, SF_OWNERS), *ms = snap_get(o, SF_OWNERS_MANAGERS), *m;
	size_t i;
	fprintf(f, "owners    KSM: %s; balloons: %s\n", str(o, SF_OWNERS_KSM) ? str(o, SF_OWNERS_KSM) : "-",
		str(o, SF_OWNERS_BALLOON) ? str(o, SF_OWNERS_BALLOON) : "-");
	if (json_is_array(ms) && json_array_size(ms)) {
		fprintf(f, "          other managers:");
		json_array_foreach(ms, i, m) {
			char name[33];
			cell_name(str(m, SF_MANAGER_NAME), name, sizeof name, 32);
			fprintf(f, "%s %s (pid %s, %s)", i ? "," : "", name, fnum(m, SF_MANAGER_PID, 0).s,
				fstr(m, SF_MANAGER_DRIVES).s);
		}
		fputc('\n', f);
	}
	if (str(o, SF_OWNERS_KSM_OUTSIDE_CHANGE))
		fprintf(f, "          KSM knobs changed by another program: %s\n",
			str(o, SF_OWNERS_KSM_OUTSIDE_CHANGE));
}

/* The stats endpoint: who serves it, or since when it is down. Nothing
 * when it is off (no http object). */
static void view_http(const json_t *snap, FILE *f)
{
	const json_t *h = obj(snap, SF_HTTP);
	if (!h)
		return;
	char listen[65];
	cell_name(str(h, SF_HTTP_LISTEN), listen, sizeof listen, 64);
	const json_t *serving = snap_get(h, SF_HTTP_SERVING);
	if (!json_is_boolean(serving))
		fprintf(f, "stats     %s, state unknown", listen);
	else if (json_is_true(serving))
		fprintf(f, "stats     %s, served by pid %s as %s (uid %s)", listen, fnum(h, SF_HTTP_PID, 0).s,
			fstr(h, SF_HTTP_USER).s, fnum(h, SF_HTTP_UID, 0).s);
	else
		fprintf(f, "stats     %s DOWN for %s: its process (pid %s, as %s, uid %s) was lost and is "
			"being restarted (see the log)", listen, fdur(h, SF_HTTP_DOWN_SECONDS).s,
			fnum(h, SF_HTTP_PID, 0).s, fstr(h, SF_HTTP_USER).s, fnum(h, SF_HTTP_UID, 0).s);
	double lost = 0;
	if (num(h, SF_HTTP_LOSSES_TOTAL, &lost) && lost > 0)
		fprintf(f, "; lost %s times", fnum(h, SF_HTTP_LOSSES_TOTAL, 0).s);
	fputc('\n', f);
}

int view_status(const json_t *snap, FILE *f)
{
	if (!json_is_object(snap))
		return -EINVAL;
	const json_t *host = obj(snap, SF_HOST), *ksm = obj(snap, SF_KSM),
		     *sc = obj(snap, SF_SCANNER), *pol = obj(snap, SF_POLICY);
	fprintf(f, "ksmd %s, up %s, schema version %s\n", fstr(snap, SF_KSMD_VERSION).s,
		fdur(snap, SF_UPTIME_SECONDS).s, fnum(snap, SF_VERSION, 0).s);
	fprintf(f, "host      memory %s, available %s, budget %s, guests hold %s\n",
		fsize(host, SF_HOST_MEM_TOTAL_BYTES).s, fsize(host, SF_HOST_MEM_AVAILABLE_BYTES).s,
		fsize(host, SF_HOST_BUDGET_BYTES).s, fsize(host, SF_HOST_GUESTS_TOTAL_BYTES).s);
	fprintf(f, "          pressure some %s%% full %s%% (avg10), swap in %s out %s pages/s\n",
		fnum(host, SF_HOST_PSI_SOME_AVG10, 2).s, fnum(host, SF_HOST_PSI_FULL_AVG10, 2).s,
		fnum(host, SF_HOST_SWAP_IN_PAGES_PER_SEC, 1).s, fnum(host, SF_HOST_SWAP_OUT_PAGES_PER_SEC, 1).s);
	fprintf(f, "ksm       run %s, saving %s (%s pages sharing), zero pages %s, kthread cpu %s%%\n",
		fnum(ksm, SF_KSM_RUN, 0).s, fpages(ksm, SF_KSM_PAGES_SHARING).s, fnum(ksm, SF_KSM_PAGES_SHARING, 0).s,
		fnum(ksm, SF_KSM_KSM_ZERO_PAGES, 0).s, fnum(ksm, SF_KSM_KTHREAD_CPU_PERCENT, 1).s);
	if (str(ksm, SF_KSM_PACING_REASON))
		fprintf(f, "          pacing: %s\n", str(ksm, SF_KSM_PACING_REASON));
	view_owners(snap, f);
	fprintf(f, "scanner   %s, %s passes, last pass %s, predicted mergeable %s, zero-filled %s\n",
		fstr(sc, SF_SCANNER_STATE).s, fnum(sc, SF_SCANNER_PASSES, 0).s,
		fdur(sc, SF_SCANNER_LAST_PASS_SECONDS).s,
		fpages(sc, SF_SCANNER_PREDICTED_MERGEABLE_PAGES).s, fpages(sc, SF_SCANNER_ZERO_FILLED_PAGES).s);
	fprintf(f, "policy    %s, tick %s, dry run %s\n", fstr(pol, SF_POLICY_STATE).s,
		fnum(pol, SF_POLICY_TICK, 0).s, fnum(pol, SF_POLICY_DRY_RUN, 0).s);
	view_http(snap, f);
	const json_t *gs = guests_of(snap), *g;
	size_t i;
	fprintf(f, "guests    %zu", gs ? json_array_size(gs) : 0);
	const char *const *states = snap_guest_states;
	const char *sep = ": ";
	for (size_t s = 0; states[s]; s++) {
		unsigned n = 0;
		json_array_foreach(gs, i, g) {
			const char *st = str(g, SF_GUEST_STATE);
			n += st && strcmp(st, states[s]) == 0;
		}
		if (n) {
			fprintf(f, "%s%u %s", sep, n, states[s]);
			sep = ", ";
		}
	}
	fputc('\n', f);
	return 0;
}

int view_guests(const json_t *snap, FILE *f)
{
	if (!json_is_object(snap))
		return -EINVAL;
	const json_t *gs = guests_of(snap), *g;
	size_t i;
	fprintf(f, "%-20s %-7s %-13s %10s %10s %10s %10s %6s\n", "NAME", "BACKEND", "STATE",
		"SIZE", "TARGET", "ACTUAL", "MERGED", "AGE");
	json_array_foreach(gs, i, g) {
		char name[21];
		cell_name(str(g, SF_GUEST_NAME), name, sizeof name, 20);
		fprintf(f, "%-20s %-7s %-13s %10s %10s %10s %10s %6s\n", name, fstr(g, SF_GUEST_BACKEND).s,
			fstr(g, SF_GUEST_STATE).s, fsize(g, SF_GUEST_MEM_MAX_BYTES).s,
			fsize(g, SF_GUEST_BALLOON_TARGET_BYTES).s, fsize(g, SF_GUEST_BALLOON_ACTUAL_BYTES).s,
			fpages(g, SF_GUEST_KSM_MERGING_PAGES).s, fdur(g, SF_GUEST_STATS_AGE_SECONDS).s);
	}
	return 0;
}

/* Print every member of a guest object: sizes for *_bytes, pages also as
 * sizes, nested objects indented. */
static void dump_fields(const json_t *o, FILE *f, int indent)
{
	const char *key;
	const json_t *v;
	json_object_foreach((json_t *)o, key, v) {
		size_t kl = strlen(key);
		if (json_is_object(v)) {
			fprintf(f, "%*s%s:\n", indent, "", key);
			dump_fields(v, f, indent + 2);
			continue;
		}
		fprintf(f, "%*s%-*s ", indent, "", 24 - indent, key);
		if (json_is_number(v) && kl > 6 && !strcmp(key + kl - 6, "_bytes"))
			fprintf(f, "%s\n", fsize_v(v).s);
		else if (json_is_number(v) && kl > 6 && !strcmp(key + kl - 6, "_pages"))
			fprintf(f, "%s (%s)\n", fnum_v(v, 0).s, fpages_v(v).s);
		else if (json_is_string(v))
			fprintf(f, "%s\n", json_string_value(v));
		else if (json_is_number(v) || json_is_boolean(v))
			fprintf(f, "%s\n", fnum_v(v, 2).s);
		else {
			char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			fprintf(f, "%s\n", s ? s : "-");
			free(s);
		}
	}
}

int view_guest(const json_t *snap, const char *name, FILE *f)
{
	if (!json_is_object(snap) || !name)
		return -EINVAL;
	const json_t *gs = guests_of(snap), *g;
	size_t i;
	json_array_foreach(gs, i, g) {
		const char *n = str(g, SF_GUEST_NAME);
		if (n && strcmp(n, name) == 0) {
			dump_fields(g, f, 0);
			return 0;
		}
	}
	return -ENOENT;
}

int view_ksm(const json_t *snap, FILE *f)
{
	if (!json_is_object(snap))
		return -EINVAL;
	const json_t *ksm = obj(snap, SF_KSM), *sc = obj(snap, SF_SCANNER);
	double pts, sleep_ms;
	fprintf(f, "run               %s\n", fnum(ksm, SF_KSM_RUN, 0).s);
	fprintf(f, "pages_to_scan     %s\n", fnum(ksm, SF_KSM_PAGES_TO_SCAN, 0).s);
	fprintf(f, "sleep_millisecs   %s\n", fnum(ksm, SF_KSM_SLEEP_MILLISECS, 0).s);
	if (num(ksm, SF_KSM_PAGES_TO_SCAN, &pts) && num(ksm, SF_KSM_SLEEP_MILLISECS, &sleep_ms))
		fprintf(f, "scan rate         at most %.0f pages/s (%s/s)\n",
			pts * 1000.0 / MAX(sleep_ms, 1.0),
			fsize_d(pts * 1000.0 / MAX(sleep_ms, 1.0) * PAGE_BYTES).s);
	static const enum snap_id pages[] = { SF_KSM_PAGES_SHARED, SF_KSM_PAGES_SHARING, SF_KSM_PAGES_UNSHARED,
					      SF_KSM_PAGES_VOLATILE, SF_KSM_KSM_ZERO_PAGES };
	for (size_t i = 0; i < ARRAY_SIZE(pages); i++)
		fprintf(f, "%-17s %s (%s)\n", snap_key(pages[i]), fnum(ksm, pages[i], 0).s, fpages(ksm, pages[i]).s);
	fprintf(f, "full_scans        %s\n", fnum(ksm, SF_KSM_FULL_SCANS, 0).s);
	fprintf(f, "general_profit    %s\n", fsize(ksm, SF_KSM_GENERAL_PROFIT).s);
	fprintf(f, "kthread cpu       %s%%\n", fnum(ksm, SF_KSM_KTHREAD_CPU_PERCENT, 1).s);
	fprintf(f, "pacing            %s\n", fstr(ksm, SF_KSM_PACING_REASON).s);
	const json_t *own = obj(snap, SF_OWNERS);
	fprintf(f, "driven by         %s\n", str(own, SF_OWNERS_KSM) ? str(own, SF_OWNERS_KSM) : "-");
	fprintf(f, "scanner           %s, %s threads, limit %s pages/s, %s%% cpu\n",
		fstr(sc, SF_SCANNER_STATE).s, fnum(sc, SF_SCANNER_THREADS, 0).s,
		fnum(sc, SF_SCANNER_PAGES_PER_SEC_LIMIT, 0).s, fnum(sc, SF_SCANNER_CPU_PERCENT_LIMIT, 0).s);
	fprintf(f, "predicted         %s mergeable (%s pages), %s zero-filled, %s volatile\n",
		fpages(sc, SF_SCANNER_PREDICTED_MERGEABLE_PAGES).s,
		fnum(sc, SF_SCANNER_PREDICTED_MERGEABLE_PAGES, 0).s,
		fpages(sc, SF_SCANNER_ZERO_FILLED_PAGES).s, fpages(sc, SF_SCANNER_VOLATILE_PAGES).s);
	double pred, sharing;
	if (num(sc, SF_SCANNER_PREDICTED_MERGEABLE_PAGES, &pred) && num(ksm, SF_KSM_PAGES_SHARING, &sharing) &&
	    pred > 0)
		fprintf(f, "merged so far     %.1f%% of predicted, %s left\n",
			100.0 * sharing / pred, fsize_d(MAX(pred - sharing, 0) * PAGE_BYTES).s);
	return 0;
}

static struct fmt ftime(const json_t *o, enum snap_id id)
{
	double t;
	struct fmt r = { "-" };
	if (num(o, id, &t) && t >= 0 && t < 1e15) {
		time_t s = (time_t)t;
		struct tm tm;
		if (localtime_r(&s, &tm))
			strftime(r.s, sizeof r.s, "%H:%M:%S", &tm);
	}
	return r;
}

int view_decisions(const json_t *snap, FILE *f)
{
	if (!json_is_object(snap))
		return -EINVAL;
	const json_t *d = snap_get(snap, SF_DECISIONS), *e;
	size_t i;
	fprintf(f, "%-8s %6s %-16s %-10s %10s  %s\n", "TIME", "TICK", "TARGET", "ACTION", "DELTA", "REASON");
	if (!json_is_array(d))
		return 0;
	json_array_foreach(d, i, e) {
		char target[17];
		double delta;
		struct fmt ds = { "-" };
		if (num(e, SF_DECISION_DELTA_BYTES, &delta))
			snprintf(ds.s, sizeof ds.s, "%s%.40s", delta > 0 ? "+" : "", fsize_d(delta).s);
		cell_name(str(e, SF_DECISION_TARGET), target, sizeof target, 16);
		const char *reason = str(e, SF_DECISION_REASON);
		fprintf(f, "%-8s %6s %-16s %-10s %10s  %s\n", ftime(e, SF_DECISION_TIME).s,
			fnum(e, SF_DECISION_TICK, 0).s, target, fstr(e, SF_DECISION_ACTION).s, ds.s,
			reason ? reason : "-");
	}
	return 0;
}

/* ---- top --------------------------------------------------------------------- */

/* Print one line cut to width columns (bytes; the views print ASCII). */
static void put_cut(FILE *f, int width, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put_cut(FILE *f, int width, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if ((int)strlen(line) > width)
		line[width] = '\0';
	fprintf(f, "%s\n", line);
}

static int cmp_size_desc(const void *a, const void *b)
{
	double x = 0, y = 0;
	num(*(const json_t *const *)a, SF_GUEST_MEM_MAX_BYTES, &x);
	num(*(const json_t *const *)b, SF_GUEST_MEM_MAX_BYTES, &y);
	if (x != y)
		return x < y ? 1 : -1;
	const char *na = str(*(const json_t *const *)a, SF_GUEST_NAME);
	const char *nb = str(*(const json_t *const *)b, SF_GUEST_NAME);
	return strcmp(na ? na : "", nb ? nb : "");
}

int view_top_frame(const json_t *snap, FILE *f, int width)
{
	if (!json_is_object(snap))
		return -EINVAL;
	if (width < 40)
		width = 40;
	const json_t *host = obj(snap, SF_HOST), *ksm = obj(snap, SF_KSM),
		     *sc = obj(snap, SF_SCANNER), *pol = obj(snap, SF_POLICY);
	put_cut(f, width, "ksmd %s  up %s  tick %s  policy %s%s  scanner %s",
		fstr(snap, SF_KSMD_VERSION).s, fdur(snap, SF_UPTIME_SECONDS).s, fnum(pol, SF_POLICY_TICK, 0).s,
		fstr(pol, SF_POLICY_STATE).s, json_is_true(snap_get(pol, SF_POLICY_DRY_RUN)) ? " (dry run)" : "",
		fstr(sc, SF_SCANNER_STATE).s);
	put_cut(f, width, "host  avail %s of %s  budget %s  guests %s  psi some %s%% full %s%%  swap in %s out %s/s",
		fsize(host, SF_HOST_MEM_AVAILABLE_BYTES).s, fsize(host, SF_HOST_MEM_TOTAL_BYTES).s,
		fsize(host, SF_HOST_BUDGET_BYTES).s, fsize(host, SF_HOST_GUESTS_TOTAL_BYTES).s,
		fnum(host, SF_HOST_PSI_SOME_AVG10, 1).s, fnum(host, SF_HOST_PSI_FULL_AVG10, 1).s,
		fnum(host, SF_HOST_SWAP_IN_PAGES_PER_SEC, 0).s, fnum(host, SF_HOST_SWAP_OUT_PAGES_PER_SEC, 0).s);
	double pts, sl;
	struct fmt rate = { "-" };
	if (num(ksm, SF_KSM_PAGES_TO_SCAN, &pts) && num(ksm, SF_KSM_SLEEP_MILLISECS, &sl))
		snprintf(rate.s, sizeof rate.s, "%.0f pages/s", pts * 1000.0 / MAX(sl, 1.0));
	put_cut(f, width, "ksm   run %s  rate %s  saved %s  predicted %s  cpu %s%%  %s",
		fnum(ksm, SF_KSM_RUN, 0).s, rate.s, fpages(ksm, SF_KSM_PAGES_SHARING).s,
		fpages(sc, SF_SCANNER_PREDICTED_MERGEABLE_PAGES).s, fnum(ksm, SF_KSM_KTHREAD_CPU_PERCENT, 1).s,
		fstr(ksm, SF_KSM_PACING_REASON).s);
	fputc('\n', f);

	/* Guest table: the name column takes what the numbers leave. */
	const int fixed = 1 + 13 + 6 * 10 + 7; /* state, six sizes, age, separators */
	int namew = width - fixed;
	if (namew < 8)
		namew = 8;
	if (namew > 32)
		namew = 32;
	put_cut(f, width, "%-*s %-13s %9s %9s %9s %9s %9s %9s %6s", namew, "GUEST", "STATE", "SIZE",
		"TARGET", "ACTUAL", "RSS", "MERGED", "MERGEABLE", "AGE");
	const json_t *gs = guests_of(snap);
	size_t n = gs ? json_array_size(gs) : 0;
	const json_t **v = n ? malloc(n * sizeof *v) : NULL;
	if (n && !v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(gs, i);
	if (n)
		qsort(v, n, sizeof *v, cmp_size_desc);
	for (size_t i = 0; i < n; i++) {
		char name[40];
		const json_t *g = v[i];
		cell_name(str(g, SF_GUEST_NAME), name, sizeof name, (size_t)namew);
		put_cut(f, width, "%-*s %-13s %9s %9s %9s %9s %9s %9s %6s", namew, name, fstr(g, SF_GUEST_STATE).s,
			fsize(g, SF_GUEST_MEM_MAX_BYTES).s, fsize(g, SF_GUEST_BALLOON_TARGET_BYTES).s,
			fsize(g, SF_GUEST_BALLOON_ACTUAL_BYTES).s, fsize(g, SF_GUEST_RSS_BYTES).s,
			fpages(g, SF_GUEST_KSM_MERGING_PAGES).s,
			fpages(obj(g, SF_GUEST_SCAN), SF_SCAN_DUPLICATE_PAGES).s,
			fdur(g, SF_GUEST_STATS_AGE_SECONDS).s);
	}
	free(v);
	return 0;
}

static volatile sig_atomic_t top_stop;

static void top_signal(int sig)
{
	(void)sig;
	top_stop = 1;
}

static int term_width(void)
{
	struct winsize ws;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	const char *c = getenv("COLUMNS");
	int w = c ? atoi(c) : 0;
	return w > 0 ? w : 80;
}

int view_top_loop(view_fetch_fn fetch, void *ctx, int interval_ms, int iterations)
{
	bool tty_out = isatty(STDOUT_FILENO), tty_in = isatty(STDIN_FILENO);
	struct termios saved, t;
	bool raw = false;
	struct sigaction sa = { .sa_handler = top_signal }, old_int, old_term;
	sigemptyset(&sa.sa_mask); /* no SA_RESTART: poll() returns on a signal */
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	top_stop = 0;
	if (tty_in && tty_out && tcgetattr(STDIN_FILENO, &saved) == 0) {
		t = saved;
		t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		t.c_cc[VMIN] = 0;
		t.c_cc[VTIME] = 0;
		raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
	}
	if (interval_ms < 100)
		interval_ms = 100;
	for (int frame = 0; !top_stop && (iterations <= 0 || frame < iterations); frame++) {
		json_t *snap = fetch(ctx);
		if (tty_out)
			fputs("\033[H\033[2J", stdout);
		if (snap)
			view_top_frame(snap, stdout, term_width()); /* a pipe: $COLUMNS, else 80 */
		else
			printf("ksmdctl top: no snapshot from the daemon, retrying every %d ms\n", interval_ms);
		json_decref(snap);
		if (tty_out && raw)
			printf("\n(q to quit)");
		fflush(stdout);
		if (iterations > 0 && frame + 1 >= iterations)
			break;
		/* Wait for the interval, or a key, or a signal. */
		struct timespec start, now;
		clock_gettime(CLOCK_MONOTONIC, &start);
		for (;;) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			long left = interval_ms - ((now.tv_sec - start.tv_sec) * 1000 +
						  (now.tv_nsec - start.tv_nsec) / 1000000);
			if (left <= 0 || top_stop)
				break;
			struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
			int r = poll(&p, raw ? 1 : 0, (int)left);
			if (r > 0) {
				char c;
				if (read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q'))
					top_stop = 1;
				else if (r > 0 && !(p.revents & POLLIN))
					break;
			}
		}
	}
	if (raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
		fputc('\n', stdout);
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	return 0;
}
