/* prometheus.c — a snapshot as Prometheus text exposition format 0.0.4.
 *
 * The renderer has no metric of its own: every family comes from a row of
 * the snapshot's field table (ctl/fields.h), which says where the value
 * sits (object, key), the name (ksmd_ prefix, base units per Prometheus
 * conventions: _bytes, _seconds, ratios instead of percents, _total for
 * counters), the kind (gauge, counter, info, ...), the help text, the scale
 * that converts the snapshot's unit into the base unit (milliseconds ×
 * 0.001 → seconds, percent × 0.01 → ratio) and the labels. One family is
 * written as one block: HELP, TYPE, then its samples, so every name
 * appears once.
 *
 * Order of the blocks, each in the order of the table's rows:
 *   1. the rows outside arrays that are not plain values: info (the value
 *      as a label, sample 1), running (1 if "running"), flag (a boolean),
 *      count (an array's length, when its elements carry no metric);
 *   2. the gauges and counters outside arrays;
 *   3. for each array whose elements carry metrics (guests, sharing): its
 *      count, then its elements' info and state-set rows, then their gauges
 *      and counters. Each sample of an element is labelled by the element's
 *      label rows (guest="NAME"; a="A",b="B").
 * Rows that share a metric name are one family, written where its first
 * row is: ksmd_guest_scan_pages{kind=...} spans the rows of a guest's scan
 * object, each with its fixed label value, written guest by guest, row by
 * row.
 *
 * Missing or non-numeric fields produce no sample; an element without its
 * labels, or one that repeats an earlier one's labels, is skipped, so no
 * series is ever written twice; a family with no sample at all is left out
 * entirely (no orphan HELP/TYPE). An element's info sample marks that it
 * exists: it is written for every element, a missing label value empty.
 * Label values are escaped as the format requires (backslash, double
 * quote, newline). Numbers: JSON integers print as integers, reals with the
 * fewest of 15 or 17 significant digits that read back exactly, booleans
 * as 0/1.
 *
 * Cost. The text is rendered once per published snapshot, on the loop's
 * thread, so it is written into a plain growable buffer (stats/sbuf.h)
 * rather than a stdio stream, and integers (nearly every sample) are
 * formatted by hand; only non-integral reals go through snprintf. */
#include "stats/stats.h"
#include "stats/sbuf.h"
#include "ctl/fields.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* SEP LABEL="VALUE" */
static void put_pair(struct sbuf *f, char sep, const char *label, const char *value)
{
	sbuf_putc(f, sep);
	sbuf_puts(f, label);
	sbuf_puts(f, "=\"");
	put_label(f, value);
	sbuf_putc(f, '"');
}

/* HELP text escaping: backslash and newline. */
static void header(struct sbuf *f, const struct snap_metric *m)
{
	sbuf_puts(f, "# HELP ");
	sbuf_puts(f, m->name);
	sbuf_putc(f, ' ');
	const char *help = m->help;
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
	sbuf_puts(f, m->name);
	sbuf_puts(f, m->kind == SNAP_M_COUNTER ? " counter\n" : " gauge\n");
}

/* "NAME VALUE\n" */
static void sample(struct sbuf *f, const char *name, const char *val)
{
	sbuf_puts(f, name);
	sbuf_putc(f, ' ');
	sbuf_puts(f, val);
	sbuf_putc(f, '\n');
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

static bool *mark_duplicates(const json_t *arr, enum snap_id ka, enum snap_id kb)
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
		const char *a = json_string_value(snap_get(e, ka));
		const char *b = kb != SF_NONE ? json_string_value(snap_get(e, kb)) : "";
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

static bool is_value(enum snap_id id)
{
	return snap_fields[id].m.kind == SNAP_M_GAUGE || snap_fields[id].m.kind == SNAP_M_COUNTER;
}

/* What the renderer derives from the table, once (the table is constant):
 * its families, the value rows that share a metric name, linked in row
 * order; and the arrays whose elements carry metrics (3. above). */
static struct {
	bool first[SF_N];          /* the first row of its family */
	enum snap_id next[SF_N];   /* the family's next row, SF_NONE after its last */
	enum snap_obj block[SF_N]; /* an array row's element object if that
				    * carries a metric, else SO_ROOT */
} plan;
static pthread_once_t plan_once = PTHREAD_ONCE_INIT;

static void plan_init(void)
{
	for (enum snap_id id = SF_NONE + 1; id < SF_N; id++) {
		const struct snap_field *r = &snap_fields[id];
		enum snap_obj el = snap_element_of(r->obj);
		if (el != SO_ROOT && r->m.kind != SNAP_M_NONE && r->m.kind != SNAP_M_LABEL)
			plan.block[snap_objects[el].in] = el;
		if (!is_value(id))
			continue;
		plan.first[id] = true;
		for (enum snap_id e = id - 1; e > SF_NONE; e--)
			if (is_value(e) && !strcmp(snap_fields[e].m.name, r->m.name)) {
				plan.first[id] = false;
				plan.next[e] = id;
				break;
			}
	}
}

/* `NAME{LABEL="VALUE"} 1` */
static void info_sample(struct sbuf *f, const struct snap_metric *m, const char *value)
{
	sbuf_puts(f, m->name);
	put_pair(f, '{', m->label, value);
	sbuf_puts(f, "} 1\n");
}

/* 1. info, running, flag and count rows outside arrays */
static void render_top_info(const json_t *snap, struct sbuf *f)
{
	for (enum snap_id id = SF_NONE + 1; id < SF_N; id++) {
		const struct snap_field *r = &snap_fields[id];
		if (snap_element_of(r->obj) != SO_ROOT)
			continue;
		const json_t *v = snap_get(snap_object_in(snap, SO_ROOT, r->obj), id);
		const char *s = json_string_value(v);
		char val[24];
		if (r->m.kind == SNAP_M_INFO && s) {
			header(f, &r->m);
			info_sample(f, &r->m, s);
		} else if (r->m.kind == SNAP_M_RUNNING && s) {
			header(f, &r->m);
			sample(f, r->m.name, strcmp(s, "running") == 0 ? "1" : "0");
		} else if (r->m.kind == SNAP_M_FLAG && json_is_boolean(v)) {
			header(f, &r->m);
			sample(f, r->m.name, json_is_true(v) ? "1" : "0");
		} else if (r->m.kind == SNAP_M_COUNT && json_is_array(v) && plan.block[id] == SO_ROOT) {
			header(f, &r->m);
			put_int(val, (long long)json_array_size(v));
			sample(f, r->m.name, val);
		}
	}
}

/* 2. gauges and counters outside arrays */
static void render_top_values(const json_t *snap, struct sbuf *f)
{
	char val[64];
	for (enum snap_id id = SF_NONE + 1; id < SF_N; id++) {
		if (!plan.first[id] || snap_element_of(snap_fields[id].obj) != SO_ROOT)
			continue;
		bool any = false;
		for (enum snap_id r = id; r != SF_NONE; r = plan.next[r]) {
			const struct snap_field *row = &snap_fields[r];
			const json_t *o = snap_object_in(snap, SO_ROOT, row->obj);
			if (!o || !value_str(json_object_get(o, row->key), row->m.scale, val, sizeof val))
				continue;
			if (!any)
				header(f, &row->m);
			any = true;
			sbuf_puts(f, row->m.name);
			if (row->m.label) {
				put_pair(f, '{', row->m.label, row->m.label_value);
				sbuf_putc(f, '}');
			}
			sbuf_putc(f, ' ');
			sbuf_puts(f, val);
			sbuf_putc(f, '\n');
		}
	}
}

/* An array's elements and the rows that label them (at most two). */
struct elements {
	const json_t *arr;
	enum snap_obj obj;     /* the element object */
	enum snap_id label[2];
	size_t n_labels;
	bool *skip;            /* repeats of an earlier element's labels */
};

/* The label values of element i in v[], or false when it has none to give:
 * not an object, a repeat, a label missing. */
static bool element_labels(const struct elements *es, size_t i, const json_t *el, const char *v[2])
{
	if (es->skip[i] || !json_is_object(el))
		return false;
	for (size_t k = 0; k < es->n_labels; k++)
		if (!(v[k] = json_string_value(snap_get(el, es->label[k]))))
			return false;
	return true;
}

/* NAME{L1="V1",L2="V2" (the caller closes it) */
static void open_sample(struct sbuf *f, const struct elements *es, const char *name, const char *const v[2])
{
	sbuf_puts(f, name);
	for (size_t k = 0; k < es->n_labels; k++)
		put_pair(f, k ? ',' : '{', snap_fields[es->label[k]].m.label, v[k]);
}

/* The string of row id in element el, NULL if there is none. */
static const char *element_str(const struct elements *es, const json_t *el, enum snap_id id)
{
	return json_string_value(snap_get(snap_object_in(el, es->obj, snap_fields[id].obj), id));
}

/* One info sample (labels: the element's, the row's, its `with` row's), or
 * one state set, of element el. */
static void element_info(struct sbuf *f, const struct elements *es, const json_t *el, const char *const v[2],
			 const struct snap_field *r, const char *s)
{
	const struct snap_metric *m = &r->m;
	if (m->kind == SNAP_M_INFO) {
		open_sample(f, es, m->name, v);
		put_pair(f, ',', m->label, s ? s : "");
		if (m->with != SF_NONE) {
			const char *w = element_str(es, el, m->with);
			put_pair(f, ',', snap_fields[m->with].m.label, w ? w : "");
		}
		sbuf_puts(f, "} 1\n");
		return;
	}
	for (const char *const *val = m->values; *val; val++) {
		open_sample(f, es, m->name, v);
		put_pair(f, ',', m->label, *val);
		sbuf_puts(f, strcmp(s, *val) == 0 ? "} 1\n" : "} 0\n");
	}
}

/* 3. the info and state-set rows of an array's elements */
static void render_element_info(const struct elements *es, struct sbuf *f)
{
	for (enum snap_id id = SF_NONE + 1; id < SF_N; id++) {
		const struct snap_field *r = &snap_fields[id];
		if (snap_element_of(r->obj) != es->obj || (r->m.kind != SNAP_M_INFO && r->m.kind != SNAP_M_STATES))
			continue;
		bool any = false;
		size_t i;
		const json_t *el;
		json_array_foreach(es->arr, i, el) {
			const char *v[2];
			if (!element_labels(es, i, el, v))
				continue;
			const char *s = element_str(es, el, id);
			if (r->m.kind == SNAP_M_STATES && !s)
				continue;
			if (!any)
				header(f, &r->m);
			any = true;
			element_info(f, es, el, v, r, s);
		}
	}
}

/* 3. the gauges and counters of an array's elements, family by family */
static void render_element_values(const struct elements *es, struct sbuf *f)
{
	char val[64];
	for (enum snap_id id = SF_NONE + 1; id < SF_N; id++) {
		if (!plan.first[id] || snap_element_of(snap_fields[id].obj) != es->obj)
			continue;
		bool any = false;
		size_t i;
		const json_t *el;
		json_array_foreach(es->arr, i, el) {
			const char *v[2];
			if (!element_labels(es, i, el, v))
				continue;
			for (enum snap_id r = id; r != SF_NONE; r = plan.next[r]) {
				const struct snap_field *row = &snap_fields[r];
				const json_t *o = snap_object_in(el, es->obj, row->obj);
				if (!o || !value_str(json_object_get(o, row->key), row->m.scale, val, sizeof val))
					continue;
				if (!any)
					header(f, &row->m);
				any = true;
				open_sample(f, es, row->m.name, v);
				if (row->m.label)
					put_pair(f, ',', row->m.label, row->m.label_value);
				sbuf_puts(f, "} ");
				sbuf_puts(f, val);
				sbuf_putc(f, '\n');
			}
		}
	}
}

/* 3. the block of array row arr, whose elements (obj) carry metrics. An
 * element object without a label row has no samples: they could not be
 * told apart. */
static void render_elements(const json_t *snap, enum snap_id arr, enum snap_obj obj, struct sbuf *f)
{
	const struct snap_field *a = &snap_fields[arr];
	struct elements es = { .arr = snap_get(snap_object_in(snap, SO_ROOT, a->obj), arr), .obj = obj };
	if (!json_is_array(es.arr))
		return;
	for (enum snap_id id = SF_NONE + 1; id < SF_N && es.n_labels < 2; id++)
		if (snap_fields[id].obj == obj && snap_fields[id].m.kind == SNAP_M_LABEL)
			es.label[es.n_labels++] = id;
	if (!es.n_labels)
		return;
	es.skip = mark_duplicates(es.arr, es.label[0], es.n_labels > 1 ? es.label[1] : SF_NONE);
	if (!es.skip) {
		f->failed = true; /* ENOMEM: fail the render, not a partial text */
		return;
	}
	if (a->m.kind == SNAP_M_COUNT) {
		char val[24];
		header(f, &a->m);
		put_int(val, (long long)json_array_size(es.arr));
		sample(f, a->m.name, val);
	}
	render_element_info(&es, f);
	render_element_values(&es, f);
	free(es.skip);
}

int stats_render_prometheus(const json_t *snap, char **out, size_t *len)
{
	if (!json_is_object(snap))
		return -EINVAL;
	pthread_once(&plan_once, plan_init);
	struct sbuf f = { 0 };
	render_top_info(snap, &f);
	render_top_values(snap, &f);
	for (enum snap_id id = SF_NONE + 1; id < SF_N; id++)
		if (plan.block[id] != SO_ROOT)
			render_elements(snap, id, plan.block[id], &f);
	if (sbuf_finish(&f) < 0)
		return -ENOMEM;
	*out = f.s;
	*len = f.len;
	return 0;
}
