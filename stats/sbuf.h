/* sbuf.h — a growable byte buffer for the stats renderers (private).
 *
 * Rendering appends many short pieces; stdio (open_memstream, fprintf)
 * spends more time in its locking and format parsing than in the bytes.
 * An sbuf is a malloc'd array that doubles when full. Appends never fail
 * visibly: on allocation failure the buffer is marked failed, further
 * appends do nothing, and the owner checks sb->failed once at the end. */
#ifndef KSMD_STATS_SBUF_H
#define KSMD_STATS_SBUF_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct sbuf {
	char *s;       /* NUL-terminated when not failed (after sbuf_finish) */
	size_t len;    /* bytes used, excluding the NUL */
	size_t cap;    /* bytes allocated */
	bool failed;   /* an allocation failed; contents are incomplete */
};

/* Make room for n more bytes plus a NUL. False (and failed set) on ENOMEM. */
static inline bool sbuf_reserve(struct sbuf *sb, size_t n)
{
	if (sb->failed)
		return false;
	if (sb->len + n + 1 <= sb->cap)
		return true;
	size_t cap = sb->cap ? sb->cap : 256;
	while (cap < sb->len + n + 1)
		cap *= 2;
	char *t = realloc(sb->s, cap);
	if (!t) {
		sb->failed = true;
		return false;
	}
	sb->s = t;
	sb->cap = cap;
	return true;
}

/* Append n bytes of p. */
static inline void sbuf_add(struct sbuf *sb, const void *p, size_t n)
{
	if (!sbuf_reserve(sb, n))
		return;
	memcpy(sb->s + sb->len, p, n);
	sb->len += n;
}

static inline void sbuf_puts(struct sbuf *sb, const char *s)
{
	sbuf_add(sb, s, strlen(s));
}

static inline void sbuf_putc(struct sbuf *sb, char c)
{
	if (!sbuf_reserve(sb, 1))
		return;
	sb->s[sb->len++] = c;
}

/* NUL-terminate. Returns 0, or -1 if any append failed (the buffer is
 * then freed and zeroed). */
static inline int sbuf_finish(struct sbuf *sb)
{
	if (!sbuf_reserve(sb, 0)) {
		free(sb->s);
		*sb = (struct sbuf){ 0 };
		return -1;
	}
	sb->s[sb->len] = '\0';
	return 0;
}

#endif
