/* publish.c — immutable snapshots behind an RCU pointer, and the routes.
 *
 * The loop publishes; many threads read. A published entry holds the
 * jansson document and every body the HTTP endpoint serves, rendered once
 * at publish time: the whole snapshot, the guest list, each guest (sorted
 * by name for a binary search), the decisions, and the Prometheus text.
 * Nothing in an entry changes after it is published, so a reader needs no
 * lock: inside rcu_read_lock() it dereferences the pointer and copies the
 * body it wants. The publisher swaps the pointer (rcu_xchg_pointer) and
 * hands the old entry to call_rcu(), which frees it once every reader that
 * could have seen it has left its read-side section. A slow client holds a
 * copy, never the entry, so it can delay nothing.
 *
 * Flavour: urcu-memb (liburcu's default; readers are a per-thread counter
 * and a compiler barrier, writers use membarrier). Each thread that enters
 * this module registers itself once (thread-local flag) and a pthread key
 * destructor unregisters it when the thread exits — that covers the
 * libmicrohttpd worker threads, which have no start hook. */
#include "stats/stats.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/urcu-memb.h>

struct body {
	char *s;
	size_t len;
};

struct guest_body {
	const char *name; /* points into the snapshot */
	struct body b;
};

struct stats_entry {
	struct rcu_head rcu;
	json_t *snap;
	struct body all, guests, decisions, metrics;
	size_t n_guests;
	struct guest_body *guest; /* sorted by name */
};

static struct stats_entry *current; /* RCU-protected */

/* ---- thread registration ------------------------------------------------ */

static pthread_key_t reg_key;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static __thread bool reg_done;

static void reg_destructor(void *p)
{
	(void)p;
	if (reg_done) {
		urcu_memb_unregister_thread();
		reg_done = false;
	}
}

static void reg_init(void)
{
	pthread_key_create(&reg_key, reg_destructor);
}

void stats_rcu_register_thread(void)
{
	if (reg_done)
		return;
	pthread_once(&reg_once, reg_init);
	urcu_memb_register_thread();
	reg_done = true;
	pthread_setspecific(reg_key, (void *)1);
}

/* ---- entries --------------------------------------------------------- */

static void entry_free(struct stats_entry *e)
{
	if (!e)
		return;
	free(e->all.s);
	free(e->guests.s);
	free(e->decisions.s);
	free(e->metrics.s);
	for (size_t i = 0; i < e->n_guests; i++)
		free(e->guest[i].b.s);
	free(e->guest);
	json_decref(e->snap);
	free(e);
}

static void entry_free_rcu(struct rcu_head *head)
{
	entry_free(caa_container_of(head, struct stats_entry, rcu));
}

/* Serialize obj (compact, newline-terminated) into b. */
static int dump(const json_t *obj, struct body *b)
{
	char *s = json_dumps(obj, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	size_t n = strlen(s);
	char *t = realloc(s, n + 2);
	if (!t) {
		free(s);
		return -ENOMEM;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	b->s = t;
	b->len = n + 1;
	return 0;
}

/* {"version":V,"time":T} — the envelope of the partial bodies. */
static json_t *envelope(const json_t *snap)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_t *v = json_object_get(snap, "version"), *t = json_object_get(snap, "time");
	json_object_set_new(o, "version", v ? json_incref(v) : json_integer(STATS_SCHEMA_VERSION));
	if (t)
		json_object_set(o, "time", t);
	return o;
}

/* The envelope plus key: value (value may be NULL), serialized into b. */
static int dump_part(const json_t *snap, const char *key, json_t *value,
		     const char *key2, json_t *value2, struct body *b)
{
	json_t *o = envelope(snap);
	if (!o)
		return -ENOMEM;
	if (value)
		json_object_set(o, key, value);
	if (value2)
		json_object_set(o, key2, value2);
	int r = dump(o, b);
	json_decref(o);
	return r;
}

static int cmp_guest(const void *a, const void *b)
{
	return strcmp(((const struct guest_body *)a)->name, ((const struct guest_body *)b)->name);
}

static int entry_render(struct stats_entry *e)
{
	const json_t *snap = e->snap;
	int r;
	if ((r = dump(snap, &e->all)) < 0)
		return r;
	json_t *guests = json_object_get(snap, "guests");
	json_t *empty = json_array();
	if (!empty)
		return -ENOMEM;
	json_t *dec = json_object_get(snap, "decisions");
	json_t *pol = json_object_get(snap, "policy");
	r = dump_part(snap, "guests", json_is_array(guests) ? guests : empty, NULL, NULL, &e->guests);
	if (r == 0)
		r = dump_part(snap, "policy", json_is_object(pol) ? pol : NULL,
			      "decisions", json_is_array(dec) ? dec : empty, &e->decisions);
	json_decref(empty);
	if (r < 0)
		return r;
	if ((r = stats_render_prometheus(snap, &e->metrics.s, &e->metrics.len)) < 0)
		return r;
	if (!json_is_array(guests))
		return 0;
	size_t n = json_array_size(guests), i;
	json_t *g;
	e->guest = calloc(n ? n : 1, sizeof *e->guest);
	if (!e->guest)
		return -ENOMEM;
	json_array_foreach(guests, i, g) {
		const char *name = json_is_object(g) ? json_string_value(json_object_get(g, "name")) : NULL;
		if (!name)
			continue;
		struct guest_body *gb = &e->guest[e->n_guests];
		gb->name = name;
		if ((r = dump_part(snap, "guest", g, NULL, NULL, &gb->b)) < 0)
			return r;
		e->n_guests++;
	}
	qsort(e->guest, e->n_guests, sizeof *e->guest, cmp_guest);
	return 0;
}

int stats_publish(json_t *snap)
{
	if (!json_is_object(snap)) {
		json_decref(snap);
		return -EINVAL;
	}
	struct stats_entry *e = calloc(1, sizeof *e);
	if (!e) {
		json_decref(snap);
		return -ENOMEM;
	}
	e->snap = snap;
	int r = entry_render(e);
	if (r < 0) {
		entry_free(e);
		return r;
	}
	stats_rcu_register_thread();
	struct stats_entry *old = rcu_xchg_pointer(&current, e);
	if (old)
		urcu_memb_call_rcu(&old->rcu, entry_free_rcu);
	return 0;
}

json_t *stats_current(void)
{
	stats_rcu_register_thread();
	urcu_memb_read_lock();
	struct stats_entry *e = rcu_dereference(current);
	json_t *snap = e ? json_incref(e->snap) : NULL;
	urcu_memb_read_unlock();
	return snap;
}

static int copy_body(const struct body *b, char **out, size_t *len)
{
	char *s = malloc(b->len + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, b->s, b->len + 1);
	*out = s;
	if (len)
		*len = b->len;
	return 0;
}

int stats_current_json(char **out, size_t *len)
{
	stats_rcu_register_thread();
	urcu_memb_read_lock();
	struct stats_entry *e = rcu_dereference(current);
	int r = e ? copy_body(&e->all, out, len) : -ENOENT;
	urcu_memb_read_unlock();
	return r;
}

void stats_shutdown(void)
{
	stats_rcu_register_thread();
	struct stats_entry *old = rcu_xchg_pointer(&current, NULL);
	urcu_memb_synchronize_rcu();
	entry_free(old);
	urcu_memb_barrier(); /* wait for pending call_rcu frees */
}

/* ---- routes ---------------------------------------------------------- */

static const char CT_JSON[] = "application/json";
static const char CT_TEXT[] = "text/plain; charset=utf-8";
static const char CT_PROM[] = "text/plain; version=0.0.4; charset=utf-8";

static int reply_text(struct stats_reply *r, unsigned status, const char *text)
{
	r->status = status;
	r->content_type = CT_TEXT;
	r->body = strdup(text);
	r->body_len = r->body ? strlen(text) : 0;
	return r->body ? 0 : -ENOMEM;
}

static const struct body *find_guest(const struct stats_entry *e, const char *name)
{
	size_t lo = 0, hi = e->n_guests;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, e->guest[mid].name);
		if (c == 0)
			return &e->guest[mid].b;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

enum route { R_NONE, R_STATS, R_GUESTS, R_GUEST, R_DECISIONS, R_METRICS, R_HEALTH };

static enum route match(const char *path, const char **arg)
{
	static const struct { const char *path; enum route r; } table[] = {
		{ "/v1/stats", R_STATS }, { "/v1/guests", R_GUESTS },
		{ "/v1/decisions", R_DECISIONS }, { "/metrics", R_METRICS },
		{ "/healthz", R_HEALTH },
	};
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (strcmp(path, table[i].path) == 0)
			return table[i].r;
	if (strncmp(path, "/v1/guests/", 11) == 0 && path[11] && !strchr(path + 11, '/')) {
		*arg = path + 11;
		return R_GUEST;
	}
	return R_NONE;
}

int stats_route(const char *method, const char *path, struct stats_reply *r)
{
	memset(r, 0, sizeof *r);
	const char *arg = NULL;
	enum route rt = path ? match(path, &arg) : R_NONE;
	if (rt == R_NONE)
		return reply_text(r, 404, "not found\n");
	if (!method || (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)) {
		r->allow = "GET, HEAD";
		return reply_text(r, 405, "method not allowed\n");
	}
	stats_rcu_register_thread();
	urcu_memb_read_lock();
	const struct stats_entry *e = rcu_dereference(current);
	const struct body *b = NULL;
	int ret = 0;
	if (rt == R_HEALTH) {
		ret = e ? reply_text(r, 200, "ok\n") : reply_text(r, 503, "no snapshot yet\n");
		goto out;
	}
	if (!e) {
		ret = reply_text(r, 503, "no snapshot yet\n");
		goto out;
	}
	switch (rt) {
	case R_STATS: b = &e->all; break;
	case R_GUESTS: b = &e->guests; break;
	case R_DECISIONS: b = &e->decisions; break;
	case R_METRICS: b = &e->metrics; break;
	case R_GUEST: b = find_guest(e, arg); break;
	default: break;
	}
	if (!b) {
		ret = reply_text(r, 404, "no such guest\n");
		goto out;
	}
	r->status = 200;
	r->content_type = rt == R_METRICS ? CT_PROM : CT_JSON;
	ret = copy_body(b, &r->body, &r->body_len);
out:
	urcu_memb_read_unlock();
	return ret;
}
