/* publish.c — immutable snapshots behind an RCU pointer (routes.c answers
 * the HTTP routes from them).
 *
 * The loop publishes; many threads read. A published entry holds the
 * jansson document and every body the HTTP endpoint serves, rendered once
 * at publish time: the whole snapshot, the guest list, each guest (sorted
 * by name for a binary search), the decisions, and the Prometheus text;
 * and a reference to the hour of history (history.c), rendered again only
 * when the ring took a point and shared by the entries until then. The
 * page's own files (page.c) are static and need no entry.
 * Nothing in an entry changes after it is published, so a reader needs no
 * lock: inside rcu_read_lock() it dereferences the pointer and takes a
 * reference to the body it wants (one atomic increment; bodies are
 * reference counted). The publisher swaps the pointer (rcu_xchg_pointer)
 * and hands the old entry to call_rcu(), which frees it once every reader
 * that could have seen it has left its read-side section; the entry drops
 * its references then, and a body goes when its last response is sent. A
 * slow client holds one body, never the entry, so it can delay nothing,
 * and no request copies a body.
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

#include "stats/entry.h"
#include "stats/page.h"
#include "stats/sbuf.h"
#include "ctl/fields.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define STATS_SCHEMA_VERSION_STR STR(STATS_SCHEMA_VERSION)

static struct stats_entry *current; /* RCU-protected */
static bool render_bodies = true;   /* false: keep the document only */
static struct stats_body *history;  /* the ring's body; the publisher's */

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

/* ---- bodies ----------------------------------------------------------- */

/* A body owning the finished buffer sb (one reference), or NULL. */
static struct stats_body *body_new(struct sbuf *sb)
{
	struct stats_body *b = NULL;
	if (sbuf_finish(sb) == 0 && (b = malloc(sizeof *b))) {
		b->refs = 1;
		b->len = sb->len;
		b->s = sb->s;
		*sb = (struct sbuf){ 0 };
	}
	free(sb->s);
	*sb = (struct sbuf){ 0 };
	return b;
}

struct stats_body *stats_body_ref(struct stats_body *b)
{
	__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
	return b;
}

void stats_body_release(struct stats_body *b)
{
	if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		free(b->s);
		free(b);
	}
}

/* ---- entries --------------------------------------------------------- */

static void entry_free(struct stats_entry *e)
{
	if (!e)
		return;
	stats_body_release(e->all);
	stats_body_release(e->guests);
	stats_body_release(e->decisions);
	stats_body_release(e->metrics);
	stats_body_release(e->history);
	for (size_t i = 0; i < e->n_guests; i++)
		stats_body_release(e->guest[i].b);
	free(e->guest);
	json_decref(e->snap);
	free(e);
}

static void entry_free_rcu(struct rcu_head *head)
{
	entry_free(caa_container_of(head, struct stats_entry, rcu));
}

/* ---- rendering ---------------------------------------------------------
 *
 * Every body is compact JSON as json_dumps(JSON_COMPACT) writes it, plus a
 * newline. Rather than serializing the snapshot once per body (the whole
 * document, then the guest list, then each guest: every guest three
 * times), each top-level value and each guest is serialized once, by
 * jansson, into one scratch buffer, and the bodies are assembled from
 * those pieces. Keys are written in the document's order, as json_dumps
 * does, so the bytes are the same (the unit tests compare them). */

/* A piece of the scratch buffer: an offset, not a pointer (it moves). */
struct span {
	size_t off, len;
	bool set;
};

static int sbuf_dump_cb(const char *buf, size_t size, void *data)
{
	struct sbuf *sb = data;
	sbuf_add(sb, buf, size);
	return sb->failed ? -1 : 0;
}

/* Append the compact serialization of v; its span in *sp. */
static int dump_into(const json_t *v, struct sbuf *sb, struct span *sp)
{
	size_t off = sb->len;
	if (json_dump_callback(v, sbuf_dump_cb, sb, JSON_COMPACT | JSON_ENCODE_ANY) < 0)
		return sb->failed ? -ENOMEM : -EINVAL;
	if (sp)
		*sp = (struct span){ off, sb->len - off, true };
	return 0;
}

static void add_span(struct sbuf *dst, const struct sbuf *src, const struct span *sp)
{
	sbuf_add(dst, src->s + sp->off, sp->len);
}

/* The pieces the bodies are made of. */
struct pieces {
	struct sbuf scratch;      /* guests, version, time, policy, decisions */
	struct span version, time, policy, decisions;
	struct span *guest;       /* per element of "guests" */
	size_t n_guest;
	bool guests_is_array, policy_is_object, decisions_is_array;
};

/* "[g0,g1,...]" from the guest pieces ("[]" when there are none). */
static void add_guest_list(struct sbuf *dst, const struct pieces *pc)
{
	sbuf_putc(dst, '[');
	for (size_t i = 0; i < pc->n_guest; i++) {
		if (i)
			sbuf_putc(dst, ',');
		add_span(dst, &pc->scratch, &pc->guest[i]);
	}
	sbuf_putc(dst, ']');
}

/* The whole snapshot: {"key":value,...} in document order; every value
 * but the guest list goes through the scratch buffer, so that the
 * envelope of the partial bodies can reuse version, time, policy and
 * decisions. */

/* The key of length klen at key is the snapshot's field id (ctl/fields.h). */
static bool key_is(const char *key, size_t klen, enum snap_id id)
{
	const char *k = snap_key(id);
	return strlen(k) == klen && !memcmp(key, k, klen);
}
static int render_all(const json_t *snap, struct pieces *pc, struct sbuf *all)
{
	const char *key;
	json_t *v;
	int r;
	bool first = true;
	sbuf_putc(all, '{');
	for (void *it = json_object_iter((json_t *)snap); it;
	     it = json_object_iter_next((json_t *)snap, it)) {
		key = json_object_iter_key(it);
		v = json_object_iter_value(it);
		size_t klen = json_object_iter_key_len(it);
		if (!first)
			sbuf_putc(all, ',');
		first = false;
		json_t *k = json_stringn_nocheck(key, klen);
		if (!k)
			return -ENOMEM;
		r = json_dump_callback(k, sbuf_dump_cb, all, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(k);
		if (r < 0)
			return -ENOMEM;
		sbuf_putc(all, ':');
		struct span *sp = NULL, tmp;
		if (key_is(key, klen, SF_GUESTS) && json_is_array(v)) {
			size_t n = json_array_size(v), i;
			json_t *g;
			pc->guests_is_array = true;
			pc->guest = calloc(n ? n : 1, sizeof *pc->guest);
			if (!pc->guest)
				return -ENOMEM;
			json_array_foreach(v, i, g) {
				if ((r = dump_into(g, &pc->scratch, &pc->guest[i])) < 0)
					return r;
				pc->n_guest++;
			}
			add_guest_list(all, pc);
			continue;
		}
		if (key_is(key, klen, SF_VERSION))
			sp = &pc->version;
		else if (key_is(key, klen, SF_TIME))
			sp = &pc->time;
		else if (key_is(key, klen, SF_POLICY) && json_is_object(v))
			sp = &pc->policy, pc->policy_is_object = true;
		else if (key_is(key, klen, SF_DECISIONS) && json_is_array(v))
			sp = &pc->decisions, pc->decisions_is_array = true;
		if (sp) {
			if ((r = dump_into(v, &pc->scratch, sp)) < 0)
				return r;
			add_span(all, &pc->scratch, sp);
		} else if ((r = dump_into(v, all, &tmp)) < 0) {
			return r;
		}
	}
	sbuf_puts(all, "}\n");
	return all->failed ? -ENOMEM : 0;
}

/* {"version":V,"time":T, — the envelope of the partial bodies (version 1
 * when the snapshot has none, no time when it has none). */
static void add_envelope(struct sbuf *dst, const struct pieces *pc)
{
	sbuf_puts(dst, "{\"version\":");
	if (pc->version.set)
		add_span(dst, &pc->scratch, &pc->version);
	else
		sbuf_puts(dst, STATS_SCHEMA_VERSION_STR);
	if (pc->time.set) {
		sbuf_puts(dst, ",\"time\":");
		add_span(dst, &pc->scratch, &pc->time);
	}
}

static int cmp_guest(const void *a, const void *b)
{
	return strcmp(((const struct guest_body *)a)->name, ((const struct guest_body *)b)->name);
}

static int entry_render(struct stats_entry *e)
{
	const json_t *snap = e->snap;
	struct pieces pc = { 0 };
	struct sbuf sb = { 0 };
	int r = render_all(snap, &pc, &sb);
	if (r < 0)
		goto out;
	r = -ENOMEM;
	if (!(e->all = body_new(&sb)))
		goto out;

	add_envelope(&sb, &pc);
	sbuf_puts(&sb, ",\"guests\":");
	add_guest_list(&sb, &pc);
	sbuf_puts(&sb, "}\n");
	if (!(e->guests = body_new(&sb)))
		goto out;

	add_envelope(&sb, &pc);
	if (pc.policy_is_object) {
		sbuf_puts(&sb, ",\"policy\":");
		add_span(&sb, &pc.scratch, &pc.policy);
	}
	sbuf_puts(&sb, ",\"decisions\":");
	if (pc.decisions_is_array)
		add_span(&sb, &pc.scratch, &pc.decisions);
	else
		sbuf_puts(&sb, "[]");
	sbuf_puts(&sb, "}\n");
	if (!(e->decisions = body_new(&sb)))
		goto out;

	char *text;
	size_t len;
	if ((r = stats_render_prometheus(snap, &text, &len)) < 0)
		goto out;
	sb = (struct sbuf){ .s = text, .len = len, .cap = len + 1 };
	r = -ENOMEM;
	if (!(e->metrics = body_new(&sb)))
		goto out;

	r = 0;
	if (!pc.guests_is_array)
		goto out;
	json_t *guests = json_object_get(snap, snap_key(SF_GUESTS)), *g;
	size_t i;
	e->guest = calloc(pc.n_guest ? pc.n_guest : 1, sizeof *e->guest);
	if (!e->guest) {
		r = -ENOMEM;
		goto out;
	}
	json_array_foreach(guests, i, g) {
		const char *name = json_is_object(g) ? json_string_value(json_object_get(g, snap_key(SF_GUEST_NAME))) : NULL;
		if (!name)
			continue;
		add_envelope(&sb, &pc);
		sbuf_puts(&sb, ",\"guest\":");
		add_span(&sb, &pc.scratch, &pc.guest[i]);
		sbuf_puts(&sb, "}\n");
		struct guest_body *gb = &e->guest[e->n_guests];
		if (!(gb->b = body_new(&sb))) {
			r = -ENOMEM;
			goto out;
		}
		gb->name = name;
		e->n_guests++;
	}
	qsort(e->guest, e->n_guests, sizeof *e->guest, cmp_guest);
out:
	free(sb.s);
	free(pc.scratch.s);
	free(pc.guest);
	return r;
}

void stats_publish_bodies(bool on)
{
	render_bodies = on;
	if (!on) {
		stats_body_release(history);
		history = NULL;
	}
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
	int r = render_bodies ? entry_render(e) : 0;
	if (r < 0) {
		entry_free(e);
		return r;
	}
	/* The history's body is rendered again only when the ring took a
	 * point; until then every entry shares it. */
	if (stats_history_add(snap) > 0 || (!history && render_bodies)) {
		struct sbuf sb = { 0 };
		stats_history_render(&sb);
		struct stats_body *b = body_new(&sb);
		if (b) {
			stats_body_release(history);
			history = b;
		}
	}
	if (!history && render_bodies) {
		entry_free(e);
		return -ENOMEM;
	}
	e->history = history ? stats_body_ref(history) : NULL;
	stats_rcu_register_thread();
	struct stats_entry *old = rcu_xchg_pointer(&current, e);
	if (old)
		urcu_memb_call_rcu(&old->rcu, entry_free_rcu);
	return 0;
}

const struct stats_entry *stats_entry_current(void)
{
	return rcu_dereference(current);
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

int stats_copy_bytes(const char *s, size_t n, char **out, size_t *len)
{
	char *t = malloc(n + 1);
	if (!t)
		return -ENOMEM;
	memcpy(t, s, n);
	t[n] = '\0';
	*out = t;
	if (len)
		*len = n;
	return 0;
}

int stats_current_json(char **out, size_t *len)
{
	stats_rcu_register_thread();
	urcu_memb_read_lock();
	struct stats_entry *e = rcu_dereference(current);
	struct stats_body *b = e && e->all ? stats_body_ref(e->all) : NULL;
	json_t *snap = e && !e->all ? json_incref(e->snap) : NULL;
	urcu_memb_read_unlock();
	if (snap) { /* published without bodies: serialize it now */
		char *s = json_dumps(snap, JSON_COMPACT);
		json_decref(snap);
		if (!s)
			return -ENOMEM;
		size_t n = strlen(s);
		char *t = realloc(s, n + 2); /* the body's newline */
		if (!t) {
			free(s);
			return -ENOMEM;
		}
		t[n] = '\n';
		t[n + 1] = '\0';
		*out = t;
		if (len)
			*len = n + 1;
		return 0;
	}
	if (!b)
		return -ENOENT;
	int r = stats_copy_bytes(b->s, b->len, out, len);
	stats_body_release(b);
	return r;
}

void stats_shutdown(void)
{
	stats_rcu_register_thread();
	struct stats_entry *old = rcu_xchg_pointer(&current, NULL);
	urcu_memb_synchronize_rcu();
	entry_free(old);
	urcu_memb_barrier(); /* wait for pending call_rcu frees */
	stats_body_release(history);
	history = NULL;
	stats_history_reset();
}
