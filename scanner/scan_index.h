/* scan_index.h — the scanner's content index (internal to scanner/).
 *
 * Pure logic: it is given page numbers ("refs"), hashes and page contents,
 * and asks its owner, through scan_index_ops, for the hash and the bytes of
 * a page it saw earlier. No /proc access here, so unit tests drive it with
 * made-up pages and a deliberately weak hash. See scan_index.c for the
 * algorithm. */
#ifndef KSMD_SCAN_INDEX_H
#define KSMD_SCAN_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scanner/scanner.h"

#define SCAN_PAGE_SIZE 4096u
/* refs are below 2^31: the top bit of a first-stage slot is a flag. So a
 * pass indexes at most SCAN_REF_MAX pages (8 TiB of guest memory): the
 * pass (scan_pass.c) gives refs to that many pages' worth of chunks, and
 * the pages of the chunks beyond are counted apart (pages beyond the index
 * limit), never added here. */
#define SCAN_REF_MAX SCANNER_INDEX_LIMIT_PAGES

struct scan_index_ops {
	/* The hash recorded for ref in this pass (it was added before). */
	uint64_t (*ref_hash)(void *ctx, uint32_t ref);
	/* The guest (index into the pass's guest array) that holds ref. */
	unsigned (*ref_guest)(void *ctx, uint32_t ref);
	/* Read the current bytes of ref into buf (SCAN_PAGE_SIZE bytes).
	 * Returns 0 or negative errno. */
	int (*read_page)(void *ctx, uint32_t ref, void *buf);
};

/* One distinct content seen at least twice by the first stage (or once,
 * when its hash collided with another content). */
struct scan_class_guest {
	uint32_t guest;            /* index into the pass's guests */
	uint32_t pages;            /* pages of this content it holds */
	uint32_t ref;              /* one location: its first such page */
};

struct scan_class_info {
	uint64_t hash;
	uint32_t pages;            /* pages with this exact content, not merged yet */
	bool merged;               /* a KSM page holds it already: every one of
	                            * the pages would merge into it */
	unsigned n_guests;         /* guests holding it */
	const struct scan_class_guest *guests; /* n_guests, in order of first sight */
};

struct scan_index;

/* A new, empty index for up to capacity_pages adds. hash is the page hash
 * (used to re-verify a page read back). Returns NULL on ENOMEM. */
struct scan_index *scan_index_new(uint64_t capacity_pages, scanner_hash_fn hash,
				  const struct scan_index_ops *ops, void *ctx);
/* Free the index. Like scan_index_add(), call it from a thread registered
 * with liburcu (rcu_register_thread), after every adder has finished. */
void scan_index_free(struct scan_index *ix);

/* Add page ref of guest with hash h and content (the caller has already set
 * what ops->ref_hash(ref) returns to h). Thread-safe. Returns 0 when the
 * page is unique so far, 1 when it joined or created a class, negative errno
 * on failure (the page then counts as unique). */
int scan_index_add(struct scan_index *ix, uint32_t ref, unsigned guest,
		   uint64_t h, const void *content);

/* Add page ref of guest without its content: a page the pass left unread
 * (rescan backoff), by the hash h of its last read (what ops->ref_hash(ref)
 * returns). It costs what an added page costs until another page shows the
 * same hash; then it is read back (ops->read_page) and entered like a read
 * page if it still hashes to h. Thread-safe. Returns as scan_index_add(),
 * or -ESTALE when it changed since (not entered), -EIO when it could not
 * be read back. */
int scan_index_add_unread(struct scan_index *ix, uint32_t ref, unsigned guest, uint64_t h);

/* Hint that a page with hash h will be added soon (prefetches its slot:
 * adding a batch after prefetching all of it hides the cache misses). */
void scan_index_prefetch(const struct scan_index *ix, uint64_t h);

/* Add a page already merged by KSM (one mapping of a KSM page, read like
 * any other): it makes the pages of equal content that are not merged yet
 * all mergeable, and is itself not counted in the class's pages. Call after
 * the pass's ordinary adds. Returns as scan_index_add(). */
int scan_index_add_merged(struct scan_index *ix, uint32_t ref, unsigned guest,
			  uint64_t h, const void *content);

/* Call fn for every class (not thread-safe against concurrent adds). */
void scan_index_walk(struct scan_index *ix,
		     void (*fn)(const struct scan_class_info *c, void *arg), void *arg);

/* Bytes of content copies the index may keep (default 2 per page of
 * capacity, at least 256 KiB); classes beyond compare against their first
 * page read back. Call before any add. */
void scan_index_set_content_budget(struct scan_index *ix, uint64_t bytes);

/* Classes whose hash equalled another class's with different bytes. */
uint64_t scan_index_collisions(const struct scan_index *ix);
/* Pages not entered because the first stage was 90% full (the pass then
 * misses duplicates among them; the owner sizes the next index larger). */
uint64_t scan_index_overflow(const struct scan_index *ix);
/* Bytes the index holds now and at its peak (counted allocations). */
uint64_t scan_index_bytes(const struct scan_index *ix);
uint64_t scan_index_peak_bytes(const struct scan_index *ix);
/* Drop the per-class content copies (after the pass: only the counts and
 * locations stay). */
void scan_index_drop_contents(struct scan_index *ix);

#endif
