/* entry.h — what publish.c and routes.c share (internal to stats/): a
 * published entry and its bodies. publish.c renders an entry once and
 * publishes it through an RCU pointer; routes.c answers from it. */
#ifndef KSMD_STATS_ENTRY_H
#define KSMD_STATS_ENTRY_H

#include <jansson.h>
#include <stddef.h>
#include <urcu/urcu-memb.h>

/* A rendered body, shared by reference: the entry holds one reference,
 * and each HTTP response being sent holds one more, so a response never
 * copies the body and a slow client never keeps an entry (or the
 * snapshot) alive, only the bytes it is sending. */
struct stats_body {
	unsigned long refs; /* atomic */
	size_t len;
	char *s;            /* NUL-terminated, len bytes */
};

struct guest_body {
	const char *name; /* points into the snapshot */
	struct stats_body *b;
};

struct stats_entry {
	struct rcu_head rcu;
	json_t *snap;
	struct stats_body *all, *guests, *decisions, *metrics;
	struct stats_body *history; /* shared with the entries before it */
	size_t n_guests;
	struct guest_body *guest; /* sorted by name */
};

/* The entry published last, or NULL; only inside urcu_memb_read_lock(),
 * after stats_rcu_register_thread(). */
const struct stats_entry *stats_entry_current(void);
/* One more reference to b (stats_body_release drops it). */
struct stats_body *stats_body_ref(struct stats_body *b);
/* n bytes of s in a new NUL-terminated buffer *out (its length in *len if
 * not NULL); 0 or -ENOMEM. */
int stats_copy_bytes(const char *s, size_t n, char **out, size_t *len);

#endif
