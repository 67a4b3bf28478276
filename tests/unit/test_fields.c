/* test_fields.c — the snapshot's field table (ctl/fields.h) holds its
 * promise: each field is named once, there, and its users agree with it.
 *   - the rows are sound: no hole, keys unique in their object, flags and
 *     metrics consistent, Prometheus names and labels valid, families whole;
 *   - a snapshot the daemon builds (daemon_snapshot, every optional part
 *     on) has exactly the rows flagged J, each in the object the table puts
 *     it in, and nothing else: a key written under another name than the
 *     table's fails here;
 *     and each value of the JSON type of its row;
 *   - its /metrics has a family for every metric row, every label and
 *     fixed label value of the table, and no family the table lacks; the
 *     HELP and TYPE of each family of the stats fixture are its row's;
 *   - a metric's name says its unit (_bytes, _seconds, _ratio, _pages),
 *     and no metric is a rate (rates are PromQL's) but a configured limit;
 *   - docs/STATS.md lists every metric with its type, unit and labels, and
 *     none the table lacks; a renamed or removed metric is listed under its
 *     old name, with what replaces it, and is no longer in the table.
 * The views' side (the rows flagged V) is tests/unit/test_view.c. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/fields.h"
#include "conf/config.h"
#include "daemon/guests.h"
#include "stats/stats.h"
#include "tests/unit/harness.h"
#include "tests/unit/test_stats_expo.h"
#include "tests/unit/test_stats_fixture.h"

static bool name_ok(const char *s, bool colon)
{
	if (!s || !(isalpha((unsigned char)*s) || *s == '_' || (colon && *s == ':')))
		return false;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_' || (colon && *s == ':')))
			return false;
	return true;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n >= t && !strcmp(s + n - t, tail);
}

static bool is_value(const struct snap_metric *m)
{
	return m->kind == SNAP_M_GAUGE || m->kind == SNAP_M_COUNTER;
}

#define ROW_CHECK(cond, id) do { \
	if (!(cond)) { \
		fprintf(stderr, "row %d (%s): %s\n", (int)(id), \
			snap_fields[id].key ? snap_fields[id].key : "(hole)", #cond); \
		CU_FAIL(#cond); \
	} } while (0)

/* One row's metric, against its flags and its place. */
static void check_metric(enum snap_id id)
{
	const struct snap_field *r = &snap_fields[id];
	const struct snap_metric *m = &r->m;
	bool in_element = snap_element_of(r->obj) != SO_ROOT;
	ROW_CHECK(((r->where & SNAP_PROM) != 0) == (m->kind != SNAP_M_NONE), id);
	if (m->kind == SNAP_M_NONE)
		return;
	if (m->kind == SNAP_M_LABEL) {
		ROW_CHECK(name_ok(m->label, false) && strncmp(m->label, "__", 2), id);
		ROW_CHECK(!m->name && snap_objects[r->obj].element, id); /* a member of the element itself */
		return;
	}
	ROW_CHECK(name_ok(m->name, true) && !strncmp(m->name, "ksmd_", 5), id);
	ROW_CHECK(m->help && *m->help && !strchr(m->help, '\n'), id);
	ROW_CHECK((m->kind == SNAP_M_COUNTER) == ends_with(m->name, "_total"), id);
	ROW_CHECK(m->scale >= 0, id);
	/* the unit in the name; a rate only as a configured limit */
	const char *u = snap_metric_unit(id);
	char part[64];
	snprintf(part, sizeof part, "_%s", !strcmp(u, "pages/s") ? "pages_per_second" : u);
	ROW_CHECK(!*u || strstr(m->name, part) || (!strcmp(u, "pages") && !strncmp(m->name, "ksmd_ksm_pages_", 15)), id);
	ROW_CHECK(!strchr(u, '/') || (m->kind == SNAP_M_GAUGE && ends_with(r->key, "_limit")), id);
	ROW_CHECK(!strstr(m->name, "per_second") || ends_with(m->name, "_limit"), id);
	ROW_CHECK(strcmp(u, "percent") && strcmp(u, "milliseconds"), id); /* scaled to base units */
	ROW_CHECK(!m->label || (name_ok(m->label, false) && strncmp(m->label, "__", 2)), id);
	ROW_CHECK(!m->label_value || (is_value(m) && m->label), id);
	if (is_value(m))
		ROW_CHECK(!m->label || m->label_value, id);
	if (m->kind == SNAP_M_INFO || m->kind == SNAP_M_STATES)
		ROW_CHECK(m->label, id);
	if (m->kind == SNAP_M_STATES)
		ROW_CHECK(m->values && m->values[0] && in_element, id);
	if (m->kind == SNAP_M_RUNNING || m->kind == SNAP_M_FLAG)
		ROW_CHECK(!in_element, id);
	if (m->with != SF_NONE)
		ROW_CHECK(m->kind == SNAP_M_INFO && in_element && snap_fields[m->with].obj == r->obj &&
			  snap_fields[m->with].m.label, id);
	if (m->kind == SNAP_M_COUNT) { /* an array row: it holds an element object */
		bool array = false;
		for (enum snap_obj o = 0; o < SO_N; o++)
			array |= snap_objects[o].element && snap_objects[o].in == id;
		ROW_CHECK(array && !in_element, id);
	}
}

/* Rows that share a metric name are one family: value rows of one element
 * scope, one kind, one help, told apart by a fixed label value. */
static void check_family(enum snap_id id)
{
	const struct snap_field *r = &snap_fields[id];
	if (r->m.kind == SNAP_M_NONE || r->m.kind == SNAP_M_LABEL)
		return;
	for (enum snap_id e = id + 1; e < SF_N; e++) {
		const struct snap_field *o = &snap_fields[e];
		if (!o->m.name || strcmp(o->m.name, r->m.name))
			continue;
		ROW_CHECK(is_value(&r->m) && o->m.kind == r->m.kind && !strcmp(o->m.help, r->m.help), e);
		ROW_CHECK(snap_element_of(o->obj) == snap_element_of(r->obj) && o->m.scale == r->m.scale, e);
		ROW_CHECK(r->m.label && o->m.label && !strcmp(r->m.label, o->m.label) &&
			  strcmp(r->m.label_value, o->m.label_value), e);
	}
}

static void test_rows(void)
{
	for (enum snap_id id = SF_NONE + 1; id < SF_N; id++) {
		const struct snap_field *r = &snap_fields[id];
		ROW_CHECK(r->key && *r->key, id); /* an id without its row */
		if (!r->key)
			continue;
		ROW_CHECK(r->obj < SO_N && r->where && !(r->where & ~(SNAP_JSON | SNAP_VIEW | SNAP_PROM)), id);
		ROW_CHECK(r->unit && (!*r->unit || r->type == SNAP_T_INT || r->type == SNAP_T_NUM), id);
		/* an object row holds an object of the table, an array row its
		 * elements' object, and no other row holds one */
		enum snap_type holds = SNAP_T_STR;
		for (enum snap_obj o = SO_ROOT + 1; o < SO_N; o++)
			if (snap_objects[o].in == id)
				holds = snap_objects[o].element ? SNAP_T_ARR : SNAP_T_OBJ;
		ROW_CHECK((holds != SNAP_T_STR) == (r->type == SNAP_T_OBJ || r->type == SNAP_T_ARR), id);
		ROW_CHECK(holds == SNAP_T_STR || holds == r->type, id);
		for (enum snap_id e = SF_NONE + 1; e < id; e++)
			ROW_CHECK(snap_fields[e].obj != r->obj || strcmp(snap_fields[e].key, r->key), id);
		check_metric(id);
		check_family(id);
	}
	/* every object is held by a row of another object; an element object
	 * with metrics has one or two label rows */
	for (enum snap_obj o = SO_ROOT + 1; o < SO_N; o++) {
		enum snap_id in = snap_objects[o].in;
		CU_ASSERT_TRUE(in > SF_NONE && in < SF_N && snap_fields[in].obj != o);
		size_t labels = 0, metrics = 0;
		for (enum snap_id id = SF_NONE + 1; id < SF_N; id++) {
			labels += snap_fields[id].obj == o && snap_fields[id].m.kind == SNAP_M_LABEL;
			metrics += snap_element_of(snap_fields[id].obj) == o &&
				   snap_fields[id].m.kind != SNAP_M_NONE && snap_fields[id].m.kind != SNAP_M_LABEL;
		}
		if (snap_objects[o].element && metrics)
			CU_ASSERT_TRUE(labels >= 1 && labels <= 2);
		CU_ASSERT_TRUE(snap_objects[o].element || !labels);
	}
	CU_ASSERT_STRING_EQUAL(snap_key(SF_HOST_MEM_TOTAL_BYTES), "mem_total_bytes");
}

/* ---- a snapshot the daemon builds, every optional part on --------------- */

static struct daemon d;
static struct daemon_modules mods;
static struct guest guest, *guests[1] = { &guest };
static struct scanner_guest_stats sg[2];
static struct scanner_pair_stats pair = { 0, 1, 77 };

/* A daemon whose snapshot has every field daemon_snapshot() can write. */
static json_t *full_snapshot(void)
{
	memset(&d, 0, sizeof d);
	memset(&mods, 0, sizeof mods);
	memset(&guest, 0, sizeof guest);
	config_defaults(&d.cfg);
	d.mod = &mods;
	d.started_usec = now_usec();
	d.ticks = 3;
	d.ksm_available = d.ksm_driving = true;
	d.ksm.kthread_cpu_percent = 12.5;
	d.ksm.state.phase = KSM_PHASE_CONVERGE;
	snprintf(d.ksm.last.reason, sizeof d.ksm.last.reason, "converging");
	snprintf(d.ksm_owner, sizeof d.ksm_owner, "ksmd");
	d.managers.n = 1;
	snprintf(d.managers.m[0].name, sizeof d.managers.m[0].name, "ksmtuned");
	d.managers.m[0].pid = 812;
	d.managers.m[0].drives = MANAGER_KSM;
	d.ksm_watch.changed_usec = now_usec();
	d.ksm_watch.changes = 1;
	snprintf(d.ksm_watch.what, sizeof d.ksm_watch.what, "run 1 -> 0");
	snprintf(d.cfg.policy.budget_cgroup, sizeof d.cfg.policy.budget_cgroup, "/sys/fs/cgroup/machine.slice");
	d.cfg.policy.host_wss = true;

	mods.g = guests;
	mods.n = 1;
	mods.scanner = (struct scanner *)&mods; /* only compared with NULL */
	mods.host_valid = mods.host.psi_available = mods.host.cg_valid = mods.host.cg_limited = true;
	mods.host.mem_total_bytes = 8ULL << 30;
	mods.sres_valid = true;
	mods.sres.n_guests = 2;
	mods.sres.guests = sg;
	mods.sres.n_pairs = 1;
	mods.sres.pairs = &pair;
	snprintf(sg[0].name, sizeof sg[0].name, "vm1");
	snprintf(sg[1].name, sizeof sg[1].name, "vm2");
	sg[0].last_error = -EIO;
	sg[0].present_pages = 1000;
	mods.plan_valid = true;
	policy_ring_init(&mods.ring);
	struct policy_ring_entry e = { .when_usec = now_usec(), .kind = POLICY_ACT_SHRINK,
				       .target_bytes = 1ULL << 30, .delta_bytes = -(1LL << 20) };
	snprintf(e.guest, sizeof e.guest, "vm1");
	snprintf(e.reason, sizeof e.reason, "host low");
	policy_ring_push(&mods.ring, &e);
	struct lv_conf lc = { .uri = "test:///default" };
	mods.lv = lv_conn_new(&lc, NULL, NULL);

	snprintf(guest.conf.name, sizeof guest.conf.name, "vm1");
	snprintf(guest.conf.qmp, sizeof guest.conf.qmp, "/run/vm1.qmp");
	guest.conf.libvirt = true;
	snprintf(guest.lvd.pid_error, sizeof guest.lvd.pid_error, "no pid file");
	snprintf(guest.lvd.meta_error, sizeof guest.lvd.meta_error, "bad max");
	guest.id = 1;
	guest.b = (struct balloon *)&guest; /* only compared with NULL */
	guest.alive = true;
	guest.override = true;
	guest.info.state = BALLOON_READY;
	snprintf(guest.info.reason, sizeof guest.info.reason, "slow");
	guest.info.actual_bytes = 2ULL << 30;
	guest.info.caps = BALLOON_CAP_FREE_PAGE_REPORTING;
	guest.fpr.returned_bytes = 96ULL << 20;
	guest.info.stats.updated_usec = now_usec();
	guest.info.stats.valid_mask = ~0u;
	guest.wss_on = true;
	guest.wss.valid = true;
	guest.ksm_valid = true;
	snprintf(guest.ksm_fix, sizeof guest.ksm_fix, "start it with ksmdctl run");
	d.ctl_requests[CTL_STATUS][0] = 2;
	d.ctl_requests[CTL_N_VERBS][1] = 1;
	struct stats_reply reply;
	if (stats_route("GET", "/metrics", &reply) == 0)
		free(reply.body);
	json_t *s = daemon_snapshot(&d);
	lv_conn_free(mods.lv);
	config_free(&d.cfg);
	return s;
}

/* The row of object obj with this key, SF_NONE if none. */
static enum snap_id row_of(enum snap_obj obj, const char *key)
{
	for (enum snap_id id = SF_NONE + 1; id < SF_N; id++)
		if (snap_fields[id].obj == obj && !strcmp(snap_fields[id].key, key))
			return id;
	return SF_NONE;
}

/* o, an object of kind obj at path, has exactly the rows flagged J; the
 * objects it holds, recursively. */
static bool type_ok(const json_t *v, enum snap_type t)
{
	switch (t) {
	case SNAP_T_OBJ: return json_is_object(v);
	case SNAP_T_ARR: return json_is_array(v);
	case SNAP_T_STR: return json_is_string(v);
	case SNAP_T_INT: return json_is_integer(v);
	case SNAP_T_NUM: return json_is_number(v);
	case SNAP_T_BOOL: return json_is_boolean(v);
	}
	return false;
}

static void check_object(const json_t *o, enum snap_obj obj, const char *path)
{
	const char *key;
	json_t *v;
	CU_ASSERT_TRUE_FATAL(json_is_object(o));
	for (enum snap_id id = SF_NONE + 1; id < SF_N; id++)
		if (snap_fields[id].obj == obj &&
		    !json_object_get(o, snap_key(id)) != !(snap_fields[id].where & SNAP_JSON)) {
			fprintf(stderr, "%s.%s: table says %s, the daemon %s\n", path, snap_key(id),
				snap_fields[id].where & SNAP_JSON ? "written" : "not written",
				json_object_get(o, snap_key(id)) ? "writes it" : "does not");
			CU_FAIL("snapshot and table disagree");
		}
	json_object_foreach((json_t *)o, key, v) {
		char sub[256];
		snprintf(sub, sizeof sub, "%s.%s", path, key);
		if (row_of(obj, key) == SF_NONE) {
			fprintf(stderr, "%s: written, not in the table\n", sub);
			CU_FAIL("a key outside the table");
		} else if (!json_is_null(v) && !type_ok(v, snap_fields[row_of(obj, key)].type)) {
			fprintf(stderr, "%s: written as JSON type %d, the table says %d\n", sub, (int)json_typeof(v),
				(int)snap_fields[row_of(obj, key)].type);
			CU_FAIL("a value of another type than its row's");
		}
		for (enum snap_obj in = 0; in < SO_N; in++) {
			if (in == SO_ROOT || snap_objects[in].in != row_of(obj, key))
				continue;
			if (!snap_objects[in].element) {
				check_object(v, in, sub);
				continue;
			}
			CU_ASSERT_TRUE(json_is_array(v) && json_array_size(v) > 0);
			size_t i;
			json_t *el;
			json_array_foreach(v, i, el)
				check_object(el, in, sub);
		}
	}
}

static void test_snapshot_has_json_rows(void)
{
	json_t *s = full_snapshot();
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	check_object(s, SO_ROOT, "");
	json_decref(s);
}

/* ---- /metrics of it ------------------------------------------------------ */

static bool has_text(const char *out, const char *a, const char *b, const char *c)
{
	char line[512];
	snprintf(line, sizeof line, "%s%s%s", a, b, c);
	return strstr(out, line) != NULL;
}

static void test_metrics_have_prom_rows(void)
{
	json_t *s = full_snapshot();
	char *out;
	size_t len;
	CU_ASSERT_EQUAL_FATAL(stats_render_prometheus(s, &out, &len), 0);
	CU_ASSERT_PTR_NULL(expo_check(out, len));
	int rc = expo_promtool(out, len); /* every family, promtool's lints too */
	if (rc == -1)
		printf("skip promtool check: promtool not installed\n");
	else
		CU_ASSERT_EQUAL(rc, 0);
	for (enum snap_id id = SF_NONE + 1; id < SF_N; id++) {
		const struct snap_metric *m = &snap_fields[id].m;
		bool ok = true;
		if (m->kind == SNAP_M_LABEL) {
			ok = has_text(out, "{", m->label, "=\"") || has_text(out, ",", m->label, "=\"");
		} else if (m->kind != SNAP_M_NONE) {
			ok = has_text(out, "# HELP ", m->name, " ") && has_text(out, "# TYPE ", m->name, " ") &&
			     (has_text(out, "\n", m->name, " ") || has_text(out, "\n", m->name, "{"));
			if (m->label_value) {
				char lv[128];
				snprintf(lv, sizeof lv, "%s=\"%s\"", m->label, m->label_value);
				ok = ok && strstr(out, lv);
			}
			for (const char *const *v = m->values; v && *v; v++)
				ok = ok && has_text(out, "\",state=\"", *v, "\"");
		}
		if (!ok) {
			fprintf(stderr, "row %s: its metric or label is missing from /metrics\n", snap_key(id));
			CU_FAIL("a metric row without its family");
		}
	}
	/* and no family the table does not name */
	for (const char *p = out; (p = strstr(p, "# TYPE ")); p++) {
		char name[128];
		CU_ASSERT_EQUAL_FATAL(sscanf(p + 7, "%127s", name), 1);
		bool found = false;
		for (enum snap_id id = SF_NONE + 1; id < SF_N && !found; id++)
			found = snap_fields[id].m.name && !strcmp(snap_fields[id].m.name, name);
		if (!found)
			fprintf(stderr, "family %s is in no row of the table\n", name);
		CU_ASSERT_TRUE(found);
	}
	free(out);
	json_decref(s);
}

/* Every family of /metrics is a row of ctl/fields.h: its HELP text and its
 * TYPE are the row's, word for word. */
static void test_prom_from_table(void)
{
	json_t *snap = stats_fixture(50, true);
	char *out;
	size_t len;
	int families = 0;
	CU_ASSERT_EQUAL_FATAL(stats_render_prometheus(snap, &out, &len), 0);
	for (const char *p = out; (p = strstr(p, "# HELP ")); p++) {
		const char *name = p + 7, *sp = strchr(name, ' '), *nl = strchr(name, '\n');
		CU_ASSERT_TRUE_FATAL(sp && nl && sp < nl);
		const struct snap_metric *m = NULL;
		for (enum snap_id id = SF_NONE + 1; id < SF_N && !m; id++)
			if (snap_fields[id].m.name && strlen(snap_fields[id].m.name) == (size_t)(sp - name) &&
			    !strncmp(snap_fields[id].m.name, name, (size_t)(sp - name)))
				m = &snap_fields[id].m;
		if (!m) {
			fprintf(stderr, "family %.*s: no row\n", (int)(sp - name), name);
			CU_FAIL("a family outside the table");
			continue;
		}
		families++;
		CU_ASSERT_EQUAL(strlen(m->help), (size_t)(nl - sp - 1));
		CU_ASSERT_EQUAL(strncmp(m->help, sp + 1, (size_t)(nl - sp - 1)), 0);
		char type[160];
		snprintf(type, sizeof type, "\n# TYPE %s %s\n", m->name,
			 m->kind == SNAP_M_COUNTER ? "counter" : "gauge");
		CU_ASSERT_EQUAL(strncmp(nl, type, strlen(type)), 0); /* TYPE right after HELP */
	}
	CU_ASSERT_TRUE(families > 40);
	free(out);
	json_decref(snap);
}

/* ---- docs/STATS.md ------------------------------------------------------ */

/* The row a metric family is documented by: its first row. */
static bool family_first(enum snap_id id)
{
	const struct snap_metric *m = &snap_fields[id].m;
	if (m->kind == SNAP_M_NONE || m->kind == SNAP_M_LABEL)
		return false;
	for (enum snap_id e = SF_NONE + 1; e < id; e++)
		if (snap_fields[e].m.name && !strcmp(snap_fields[e].m.name, m->name))
			return false;
	return true;
}

/* STATS.md's line of family id, up to its last column:
 * "| `NAME` | TYPE | UNIT | LABELS |", a missing unit or label "-". */
static void doc_line(enum snap_id id, char *buf, size_t len)
{
	const struct snap_field *r = &snap_fields[id];
	const char *labels[4];
	size_t n = 0;
	enum snap_obj el = snap_element_of(r->obj);
	for (enum snap_id e = SF_NONE + 1; e < SF_N && el != SO_ROOT; e++)
		if (snap_fields[e].obj == el && snap_fields[e].m.kind == SNAP_M_LABEL)
			labels[n++] = snap_fields[e].m.label;
	if (r->m.label)
		labels[n++] = r->m.label;
	if (r->m.with != SF_NONE)
		labels[n++] = snap_fields[r->m.with].m.label;
	char lab[128] = "-";
	for (size_t i = 0, o = 0; i < n; i++)
		o += (size_t)snprintf(lab + o, sizeof lab - o, "%s`%s`", i ? ", " : "", labels[i]);
	const char *u = snap_metric_unit(id);
	snprintf(buf, len, "| `%s` | %s | %s | %s |", r->m.name, r->m.kind == SNAP_M_COUNTER ? "counter" : "gauge",
		 *u ? u : "-", lab);
}

static bool is_family(const char *name)
{
	for (enum snap_id id = SF_NONE + 1; id < SF_N; id++)
		if (family_first(id) && !strcmp(snap_fields[id].m.name, name))
			return true;
	return false;
}

/* Every family has its line in the metric table of docs/STATS.md, word for
 * word up to the last column, and the table has no other metric; each
 * metric of the list of renamed ones is gone from the table, and the
 * metrics named as its replacement are in it. */
static void test_stats_md(void)
{
	FILE *f = fopen("docs/STATS.md", "r");
	if (!f)
		fprintf(stderr, "docs/STATS.md: cannot open (the tests run from the top of the tree)\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	static char *lines[1024];
	size_t n = 0, renamed = 0;
	char line[1024];
	enum { BEFORE, TABLE, RENAMED, AFTER } part = BEFORE;
	while (fgets(line, sizeof line, f) && n < 1024) {
		if (!strncmp(line, "## Prometheus metrics", 21))
			part = TABLE;
		else if (part == TABLE && !strncmp(line, "### Renamed", 11))
			part = RENAMED;
		else if (part != BEFORE && !strncmp(line, "## ", 3))
			part = AFTER;
		if (strncmp(line, "| `ksmd_", 8))
			continue;
		if (part == TABLE) {
			lines[n++] = strdup(line);
		} else if (part == RENAMED) {
			renamed++;
			char old[128];
			CU_ASSERT_EQUAL_FATAL(sscanf(line + 3, "%127[^`]", old), 1);
			if (is_family(old))
				fprintf(stderr, "STATS.md: %s is listed as renamed but is still a metric\n", old);
			CU_ASSERT_FALSE(is_family(old));
			const char *p = strchr(line + 3 + strlen(old) + 1, '|');
			bool some = false;
			for (; p && (p = strstr(p, "`ksmd_")); ) {
				char name[128];
				CU_ASSERT_EQUAL_FATAL(sscanf(p + 1, "%127[a-z0-9_]", name), 1);
				p += 1 + strlen(name);
				some = true;
				if (!is_family(name))
					fprintf(stderr, "STATS.md: %s replaces %s but is no metric\n", name, old);
				CU_ASSERT_TRUE(is_family(name));
			}
			CU_ASSERT_TRUE(some);
		}
	}
	fclose(f);
	CU_ASSERT_TRUE(n > 40);
	CU_ASSERT_TRUE(renamed > 0);
	bool *used = calloc(n ? n : 1, sizeof *used);
	CU_ASSERT_PTR_NOT_NULL_FATAL(used);
	for (enum snap_id id = SF_NONE + 1; id < SF_N; id++) {
		if (!family_first(id))
			continue;
		char want[512];
		doc_line(id, want, sizeof want);
		bool found = false;
		for (size_t i = 0; i < n && !found; i++)
			if (!strncmp(lines[i], want, strlen(want)))
				found = used[i] = true;
		if (!found)
			fprintf(stderr, "STATS.md lacks the line (or has it otherwise): %s ... |\n", want);
		CU_ASSERT_TRUE(found);
	}
	for (size_t i = 0; i < n; i++) {
		if (!used[i])
			fprintf(stderr, "STATS.md lists a metric the table lacks: %s", lines[i]);
		CU_ASSERT_TRUE(used[i]);
		free(lines[i]);
	}
	free(used);
}

int main(void)
{
	static const struct ksmd_test tests[] = {
		{ "rows are sound", test_rows },
		{ "the daemon writes the rows flagged J, only them", test_snapshot_has_json_rows },
		{ "/metrics has every metric row", test_metrics_have_prom_rows },
		{ "families are the table's rows", test_prom_from_table },
		{ "docs/STATS.md lists the metrics of the table", test_stats_md },
		{ NULL, NULL },
	};
	KSMD_TEST_INIT();
	ksmd_add_suite("fields", tests);
	return ksmd_run_tests();
}
