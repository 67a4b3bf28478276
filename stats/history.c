/* history.c — the last hour of the host's memory, for the page's charts.
 *
 * A page opened now must draw the past hour, not only what it has seen
 * since it opened, so the daemon keeps that hour: every published
 * snapshot is offered to a ring of STATS_HISTORY_POINTS points, and one is
 * taken every STATS_HISTORY_STEP_SECONDS of the snapshots' own time (a
 * snapshot sooner than that after the newest point is skipped). A point
 * holds the few figures the page charts, copied out of the snapshot:
 *
 *   budget_bytes, guests_total_bytes, mem_available_bytes   host.*
 *   guest_used_bytes                                         policy.*
 *   merged_bytes       ksm.general_profit: saved by merging
 *   ballooned_bytes    the sum over guests of mem_max_bytes -
 *                      balloon_actual_bytes: saved by ballooning
 *
 * A figure the snapshot lacks is absent from the point, never zero. The
 * ring is the publisher's alone (stats_publish() is called by one thread
 * at a time), so it takes no lock; readers get a body rendered from it,
 * which publish.c renders anew only when a point was added: every
 * STATS_HISTORY_STEP_SECONDS, 360 points, at most about 70 KiB. Points
 * stay in time order: a snapshot older than the newest point (the wall
 * clock was set back) starts the ring over. The ring lives in memory only;
 * a restarted ksmd starts a new hour. */
#include "stats/page.h"
#include "stats/stats.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>

#include "ctl/fields.h"

enum hfield { H_BUDGET, H_GUESTS_TOTAL, H_AVAILABLE, H_GUEST_USED, H_MERGED, H_BALLOONED, H_N };

static const char *const hfield_name[H_N] = {
	[H_BUDGET] = "budget_bytes",
	[H_GUESTS_TOTAL] = "guests_total_bytes",
	[H_AVAILABLE] = "mem_available_bytes",
	[H_GUEST_USED] = "guest_used_bytes",
	[H_MERGED] = "merged_bytes",
	[H_BALLOONED] = "ballooned_bytes",
};

#define point stats_history_point
_Static_assert(H_N == STATS_HISTORY_FIELDS, "a point holds every figure");
_Static_assert(STATS_HISTORY_POINTS == STATS_HISTORY_MAX, "the ring holds STATS_HISTORY_MAX points");

static struct point ring[STATS_HISTORY_POINTS];
static size_t oldest, count; /* ring[oldest] is the oldest of count points */

/* An integral number of bytes at id in o (a real is truncated). */
static bool get_bytes(const json_t *o, enum snap_id id, json_int_t *out)
{
	const json_t *v = snap_get(o, id);
	if (json_is_integer(v))
		*out = json_integer_value(v);
	else if (json_is_real(v))
		*out = (json_int_t)json_real_value(v);
	else
		return false;
	return true;
}

static void point_set(struct point *p, enum hfield f, const json_t *o, enum snap_id id)
{
	if (get_bytes(o, id, &p->v[f]))
		p->present |= 1u << f;
}

/* Saved by ballooning: what the guests' balloons hold, over every guest
 * that reports both its maximum and its balloon's actual size. */
static void point_ballooned(struct point *p, const json_t *snap)
{
	const json_t *guests = snap_get(snap, SF_GUESTS), *g;
	size_t i;
	json_int_t sum = 0;
	bool any = false;
	json_array_foreach(json_is_array(guests) ? guests : NULL, i, g) {
		json_int_t max, actual;
		if (get_bytes(g, SF_GUEST_MEM_MAX_BYTES, &max) &&
		    get_bytes(g, SF_GUEST_BALLOON_ACTUAL_BYTES, &actual)) {
			sum += max - actual;
			any = true;
		}
	}
	if (any) {
		p->v[H_BALLOONED] = sum;
		p->present |= 1u << H_BALLOONED;
	}
}

int stats_history_add(const json_t *snap)
{
	const json_t *t = snap_get(snap, SF_TIME);
	if (!json_is_number(t))
		return 0;
	double now = json_number_value(t);
	if (count) {
		double newest = ring[(oldest + count - 1) % STATS_HISTORY_POINTS].time;
		if (now < newest)
			stats_history_reset();
		else if (now - newest < STATS_HISTORY_STEP_SECONDS)
			return 0;
	}
	struct point p = { .time = now };
	const json_t *host = snap_get(snap, SF_HOST);
	point_set(&p, H_BUDGET, host, SF_HOST_BUDGET_BYTES);
	point_set(&p, H_GUESTS_TOTAL, host, SF_HOST_GUESTS_TOTAL_BYTES);
	point_set(&p, H_AVAILABLE, host, SF_HOST_MEM_AVAILABLE_BYTES);
	point_set(&p, H_GUEST_USED, snap_get(snap, SF_POLICY), SF_POLICY_GUEST_USED_BYTES);
	point_set(&p, H_MERGED, snap_get(snap, SF_KSM), SF_KSM_GENERAL_PROFIT);
	point_ballooned(&p, snap);
	if (count == STATS_HISTORY_POINTS) {
		ring[oldest] = p;
		oldest = (oldest + 1) % STATS_HISTORY_POINTS;
	} else {
		ring[(oldest + count++) % STATS_HISTORY_POINTS] = p;
	}
	return 1;
}

/* A time as JSON: milliseconds are enough, and a time no clock gives
 * (a fuzzed snapshot) keeps %g's bounded length. */
static void put_time(struct sbuf *sb, const char *before, double t)
{
	char num[64];
	snprintf(num, sizeof num, t > -1e12 && t < 1e12 ? "%s%.3f" : "%s%.17g", before, t);
	sbuf_puts(sb, num);
}

void stats_history_render(struct sbuf *sb)
{
	char num[96];
	snprintf(num, sizeof num, "{\"version\":%d", STATS_SCHEMA_VERSION);
	sbuf_puts(sb, num);
	if (count)
		put_time(sb, ",\"time\":", ring[(oldest + count - 1) % STATS_HISTORY_POINTS].time);
	snprintf(num, sizeof num, ",\"step_seconds\":%d,\"span_seconds\":%d,\"points\":[",
		 STATS_HISTORY_STEP_SECONDS, STATS_HISTORY_STEP_SECONDS * STATS_HISTORY_POINTS);
	sbuf_puts(sb, num);
	for (size_t i = 0; i < count; i++) {
		const struct point *p = &ring[(oldest + i) % STATS_HISTORY_POINTS];
		put_time(sb, i ? ",{\"time\":" : "{\"time\":", p->time);
		for (int f = 0; f < H_N; f++) {
			if (!(p->present & (1u << f)))
				continue;
			snprintf(num, sizeof num, ",\"%s\":%" JSON_INTEGER_FORMAT, hfield_name[f], p->v[f]);
			sbuf_puts(sb, num);
		}
		sbuf_putc(sb, '}');
	}
	sbuf_puts(sb, "]}\n");
}

size_t stats_history_export(struct stats_history_point *out, size_t max)
{
	size_t n = count < max ? count : max;
	for (size_t i = 0; i < n; i++)
		out[i] = ring[(oldest + count - n + i) % STATS_HISTORY_POINTS];
	return n;
}

int stats_history_import(const struct stats_history_point *p, size_t n)
{
	if (n > STATS_HISTORY_POINTS)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(p[i].time) || (i && p[i].time < p[i - 1].time) ||
		    p[i].present >= 1u << H_N)
			return -EINVAL;
	for (size_t i = 0; i < n; i++)
		ring[i] = p[i];
	oldest = 0;
	count = n;
	return 0;
}

void stats_history_reset(void)
{
	oldest = count = 0;
}
