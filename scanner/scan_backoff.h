/* scan_backoff.h — rescan backoff: which pages a pass may leave unread
 * (internal to scanner/). Pure functions of a page's state byte and the
 * pass, so that unit tests drive them with made-up passes.
 *
 * A page whose content stayed unique and unchanged over several reads is
 * read at exponentially longer intervals, as KSM's smart_scan skips pages
 * that keep failing to merge; a changed hash, a duplicate, a zero-filled or
 * an absent page drops it back to every pass. Bounded: no page stays unread
 * longer than the configured maximum (scanner.backoff_max_interval), nor
 * more than BACKOFF_MAX_PASSES passes.
 *
 * One byte per tracked page (chunk_state.bo[]):
 *   bits 0-4  the number (mod 32) of the pass that last read the page
 *   bits 5-7  its level: how many reads in a row found it unchanged and
 *             unique (saturating at 7)
 * Levels 0-2 read the page every pass; level 3 every 2nd, then 4, 8, 16,
 * 32 passes, capped by the bound. Which pass reads it is the pass whose
 * number plus its chunk's phase is a multiple of the interval, so backed-off
 * memory is read a slice at a time (1/interval of it per pass, not all of it
 * every interval-th pass) and a chunk's pages at one level stay in one run
 * of reads. The bound is checked against the passes' start times: a page is
 * left unread only if the pass after this one starts within the bound of
 * the start of the pass that last read it.
 *
 * The stamp is exact while the page's chunk is visited every pass; a pass
 * that leaves a chunk unvisited (a guest that failed, a cancelled pass)
 * makes the next visit drop the chunk's bytes (every page read again). */
#ifndef KSMD_SCAN_BACKOFF_H
#define KSMD_SCAN_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"

#define BACKOFF_STAMP_MASK 31u        /* bits of the last read's pass number */
#define BACKOFF_LEVEL_SHIFT 5
#define BACKOFF_LEVEL_MAX 7u
#define BACKOFF_FIRST_LEVEL 3u        /* unchanged unique reads before the first skip */
#define BACKOFF_MAX_PASSES 32u        /* most passes from one read to the next */

/* What one pass may skip. */
struct backoff_pass {
	uint64_t pass;          /* this pass's number (from 1) */
	unsigned max_passes;    /* most passes from one read to the next (1: none skipped) */
	unsigned max_since;     /* skip only pages read at most this many passes ago (0: none) */
};

static inline unsigned backoff_level(uint8_t b)
{
	return b >> BACKOFF_LEVEL_SHIFT;
}

/* Passes from one read of a page at this level to the next, before the bound. */
static inline unsigned backoff_interval(unsigned level)
{
	return level < BACKOFF_FIRST_LEVEL ? 1u : 2u << (level - BACKOFF_FIRST_LEVEL);
}

/* Passes since the page was last read (mod 32; 0: this pass, or unknown). */
static inline unsigned backoff_since(uint8_t b, uint64_t pass)
{
	return (unsigned)((pass - (b & BACKOFF_STAMP_MASK)) & BACKOFF_STAMP_MASK);
}

/* The byte after pass `pass` read the page: steady (its hash equals the
 * last read's, it is not zero-filled and unique so far) raises the level,
 * anything else drops it to 0. */
static inline uint8_t backoff_after_read(uint8_t b, uint64_t pass, bool steady)
{
	unsigned l = steady ? MIN(backoff_level(b) + 1, BACKOFF_LEVEL_MAX) : 0;
	return (uint8_t)(l << BACKOFF_LEVEL_SHIFT | (pass & BACKOFF_STAMP_MASK));
}

/* The byte of a page found duplicate (or changed) without a read: level 0. */
static inline uint8_t backoff_drop(uint8_t b)
{
	return (uint8_t)(b & BACKOFF_STAMP_MASK);
}

/* May pass bp leave the page (state b, its chunk's phase) unread? */
static inline bool backoff_skip(const struct backoff_pass *bp, uint8_t b, uint32_t phase)
{
	unsigned e = MIN(backoff_interval(backoff_level(b)), bp->max_passes);
	if (e <= 1)
		return false;
	unsigned since = backoff_since(b, bp->pass);
	if (since == 0 || since > bp->max_since)
		return false;
	return (bp->pass + phase) % e != 0;
}

/* The limits of pass `pass`: starts[] holds the start times of the last
 * BACKOFF_MAX_PASSES passes by number mod 32 (this one's included),
 * period_usec the expected time from this pass's start to the next one's,
 * max_usec the bound (0: no backoff). */
static inline void backoff_plan(struct backoff_pass *bp, uint64_t pass,
				const usec_t starts[BACKOFF_MAX_PASSES], usec_t period_usec,
				usec_t max_usec)
{
	bp->pass = pass;
	bp->max_passes = 1;
	bp->max_since = 0;
	if (!max_usec || !period_usec || period_usec >= max_usec)
		return;
	bp->max_passes = (unsigned)MIN((uint64_t)BACKOFF_MAX_PASSES, max_usec / period_usec);
	usec_t now = starts[pass & BACKOFF_STAMP_MASK];
	for (unsigned d = 1; d < bp->max_passes && d < pass; d++) {
		usec_t then = starts[(pass - d) & BACKOFF_STAMP_MASK];
		if (then > now || now - then + period_usec > max_usec)
			break;
		bp->max_since = d;
	}
}

#endif
