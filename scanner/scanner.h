/* scanner.h — the page scanner: the "find" half of same-page merging.
 *
 * The scanner reads the RAM of registered guests (QEMU processes or plain
 * processes) through pread() on /proc/PID/mem, after consulting
 * /proc/PID/pagemap and /proc/kpageflags so that it never reads pages that
 * are absent, mapped to the kernel's zero page, or already merged by KSM;
 * runs of pages that pagemap shows exclusively mapped and kpageflags shows
 * are not KSM pages are read with process_vm_readv, which is cheaper on
 * transparent huge pages (see scanner.c).
 * It hashes every page it reads (XXH3-64), finds identical content within
 * and across guests (a byte compare confirms every duplicate), and reports
 * per guest what KSM would merge. It never writes guest memory and pins
 * only pages that are exclusively mapped (so it does not undo KSM merges).
 *
 * Threading: every function here is called from one control thread (the
 * daemon's event loop); the scanner's own threads run the passes.
 * scanner_get_results() may be called from any thread. */
#ifndef KSMD_SCANNER_H
#define KSMD_SCANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "collect/sample.h"
#include "common/util.h"

struct scanner;

/* A page hash function: returns a 64-bit digest of len bytes at data.
 * The default is XXH3-64. Tests inject a weak one to force collisions; the
 * scanner never trusts a hash alone (a byte compare decides). */
typedef uint64_t (*scanner_hash_fn)(const void *data, size_t len);

/* How a guest's RAM regions are found in /proc/PID/maps (re-read each pass). */
enum scanner_guest_kind {
	/* QEMU: the mappings with `mg` (mergeable) in smaps VmFlags; if a size
	 * hint is given, only those of exactly that size (the RAM block). */
	SCANNER_GUEST_QEMU = 0,
	/* Any process: all private anonymous writable mappings. */
	SCANNER_GUEST_PROCESS = 1,
};

struct scanner_conf {
	unsigned threads;          /* scanner threads, >= 1 (default 1) */
	uint64_t pages_per_sec;    /* rate limit over all threads, 0 = unlimited */
	unsigned cpu_percent;      /* CPU budget over all threads, percent of one
	                            * core (1..100*threads), 0 = unlimited */
	usec_t pass_interval_usec; /* background mode: pause between the end of
	                            * one pass and the start of the next */
	usec_t pass_interval_max_usec; /* quiet backoff: after QUIET_PASSES
	                            * quiet passes in a row (scanner.c) the
	                            * pause doubles per quiet pass up to this;
	                            * a pass that is not quiet, a guest added
	                            * or one whose resident size moved brings
	                            * it back to pass_interval_usec. 0 or not
	                            * above pass_interval_usec (default): the
	                            * pause never grows */
	size_t read_batch_bytes;   /* largest single read, default 1 MiB */
	bool pread_only;           /* read every page with pread on
	                            * /proc/PID/mem; false (default): runs of
	                            * exclusively mapped, non-KSM pages are read
	                            * with process_vm_readv (see scanner.c) */
	scanner_hash_fn hash;      /* NULL = XXH3-64 */
	usec_t backoff_max_usec;   /* rescan backoff: a page unique and unchanged
	                            * over several reads is read at longer
	                            * intervals, never longer than this
	                            * (scan_backoff.h); 0 (default): every page
	                            * every pass */
	uint64_t index_limit_pages; /* pages one pass can enter into its
	                            * content index, counted in whole 32 MiB
	                            * chunks (8192 pages) of guest address space
	                            * that hold a page to read; the pages of the
	                            * chunks beyond are hashed but neither unique
	                            * nor duplicate (pages_beyond_index_limit).
	                            * Default and most: SCANNER_INDEX_LIMIT_PAGES
	                            * (8 TiB of guest memory per pass); tests
	                            * lower it. Not a ksmd.conf key. */
};

/* The most pages a pass can index: a page's index reference is 31 bits
 * (scanner/scan_index.h, SCAN_REF_MAX), 8 TiB of guest memory. */
#define SCANNER_INDEX_LIMIT_PAGES 0x7ffffffeu

/* Fill *conf with defaults: 1 thread, unlimited rate and CPU, 10 s between
 * passes, 1 MiB reads, XXH3-64, no rescan backoff, the index's full limit. */
void scanner_conf_defaults(struct scanner_conf *conf);

/* Create a scanner (no threads yet). Returns NULL with errno set on failure
 * (EINVAL for a bad conf, index_limit_pages above SCANNER_INDEX_LIMIT_PAGES
 * included; ENOMEM). */
struct scanner *scanner_new(const struct scanner_conf *conf);

/* Stop (if started) and free the scanner and everything it tracks. NULL ok. */
void scanner_free(struct scanner *s);

/* Start the background threads: they run a pass over all guests, wait
 * pass_interval_usec, and repeat. Returns 0 or negative errno. */
int scanner_start(struct scanner *s);

/* Stop the background threads; waits for the running pass to end (it
 * notices the stop request between read batches). Idempotent. */
void scanner_stop(struct scanner *s);

/* Run one full pass over all guests synchronously in the calling thread,
 * using conf.threads worker threads, then publish the results. Must not be
 * called while the background threads run (returns -EBUSY). For tests,
 * benchmarks and one-shot use. Returns 0 or negative errno. */
int scanner_scan_once(struct scanner *s);

/* Register a guest. name is unique (max 63 bytes); ram_size_hint_bytes is
 * the expected RAM block size (QEMU, from QMP) or 0 for "any". Takes effect
 * from the next pass. The process that pid names now is the guest: each
 * pass checks, once its files are open, that the pid still names it, and
 * reads nothing of another process that got the pid (none now: nothing is
 * ever read). Returns 0, -EEXIST, -EINVAL or -ENOMEM. */
int scanner_add_guest(struct scanner *s, const char *name, pid_t pid,
		      enum scanner_guest_kind kind, uint64_t ram_size_hint_bytes);

/* The same with the process the daemon found (collect/sample.h: its
 * identity and files; NULL, or another pid's: none, nothing is read): the
 * scanner keeps copies of its pidfd and ksm_stat. */
int scanner_add_guest_files(struct scanner *s, const char *name, pid_t pid, const struct proc_files *f,
			    enum scanner_guest_kind kind, uint64_t ram_size_hint_bytes);

/* The guest's resident pages, as the tick's sample read them: what a pass
 * can read of it at most, which sizes the pass's index (until told, its
 * RAM regions' size). Returns 0 or -ENOENT. */
int scanner_guest_set_resident(struct scanner *s, const char *name, uint64_t pages);

/* Unregister a guest by name; its state is dropped at the next pass
 * boundary. Returns 0 or -ENOENT. */
int scanner_remove_guest(struct scanner *s, const char *name);

/* When the scanner last read pages of the guest (now_usec() time, 0 =
 * never). Reading a page marks it accessed for the kernel (the reads go
 * through get_user_pages with FOLL_TOUCH: PG_referenced, the LRU), so a
 * working-set sample from accessed bits (collect/wss.h) whose interval
 * contains such a read measures the scanner, not the guest. Returns 0 or
 * -ENOENT. */
int scanner_guest_last_read(struct scanner *s, const char *name, usec_t *last_read_usec);

/* Live tunables; they take effect within one read batch. */
void scanner_set_pages_per_sec(struct scanner *s, uint64_t pages_per_sec);
void scanner_set_cpu_percent(struct scanner *s, unsigned cpu_percent);
void scanner_set_pass_interval(struct scanner *s, usec_t interval_usec);
void scanner_set_backoff_max(struct scanner *s, usec_t max_usec);
/* Quiet backoff's longest pause (scanner_conf.pass_interval_max_usec). */
void scanner_set_pass_interval_max(struct scanner *s, usec_t max_usec);
/* The pause after a pass that ends quiet_passes quiet passes in a row
 * (pure: the quiet backoff's rule, scanner.c). */
usec_t scanner_quiet_pause(usec_t interval, usec_t max, unsigned quiet_passes);

/* Pause: threads park between read batches until resumed. Idempotent. */
void scanner_pause(struct scanner *s);
void scanner_resume(struct scanner *s);
bool scanner_is_paused(struct scanner *s);

/* Per-guest result of the last completed pass. Page counts are 4 KiB pages.
 * Every present page falls in exactly one of: zero_page, zero_filled,
 * ksm_merged, unique, dup_intra, dup_cross, volatile, unread,
 * beyond_index_limit. */
struct scanner_guest_stats {
	char name[64];
	pid_t pid;
	bool alive;                   /* false: the process was gone at the last pass */
	int last_error;               /* negative errno of the last failure, 0 = none */
	uint64_t regions;             /* RAM regions found */
	uint64_t region_pages;        /* their total size */
	uint64_t present_pages;       /* present in RAM (pagemap bit 63) */
	uint64_t swapped_pages;       /* swapped out (not read) */
	uint64_t zero_page_pages;     /* mapped to the kernel's shared zero page */
	uint64_t zero_filled_pages;   /* own page, content all zero */
	uint64_t ksm_merged_pages;    /* mapped to a KSM page already */
	uint64_t unique_pages;        /* content seen nowhere else */
	uint64_t dup_intra_pages;     /* in a duplicate class held by this guest only */
	uint64_t dup_cross_pages;     /* in a duplicate class shared with other guests */
	uint64_t volatile_pages;      /* hash changed since the last pass */
	uint64_t unread_pages;        /* present but not read (error, vanished) */
	uint64_t beyond_index_limit_pages; /* read and hashed, but in chunks
	                               * beyond the pass's index limit
	                               * (scanner_conf.index_limit_pages): not
	                               * compared with any page, so neither
	                               * unique nor duplicate, and no part of the
	                               * prediction (zero-filled and volatile
	                               * pages there count as such) */
	uint64_t backoff_pages;       /* left unread by the rescan backoff this
	                               * pass (counted unique or duplicate by the
	                               * hash of their last read) */
	usec_t oldest_unscanned_usec; /* age, at the end of the pass, of the
	                               * oldest read among those pages (from the
	                               * start of the pass that made it); 0: none */
	uint64_t mergeable_pages;     /* this guest's share of the pages KSM would
	                               * free: its duplicate pages minus one per
	                               * class whose kept copy is attributed to it
	                               * (none when a KSM page already holds the
	                               * content: then every such page merges) */
};

/* Cross-guest sharing of one pair of guests (indexes into guests[]). */
struct scanner_pair_stats {
	unsigned a, b;                /* a < b */
	uint64_t shared_pages;        /* distinct non-zero contents held by both */
};

struct scanner_results {
	uint64_t passes;              /* completed passes */
	usec_t last_pass_start_usec;  /* CLOCK_MONOTONIC */
	usec_t last_pass_usec;        /* wall duration of the last pass */
	double last_pass_cpu_sec;     /* CPU time of the last pass, all threads */
	double pages_scanned_per_sec; /* pages read+hashed / pass wall time */
	double pages_skipped_per_sec; /* pages decided from pagemap alone per
	                               * second of the pagemap stage (pagemap
	                               * and kpageflags reads, summed over threads) */
	uint64_t pages_scanned;       /* read and hashed in the last pass */
	uint64_t pages_skipped;       /* not read in the last pass (pagemap said) */
	uint64_t pages_backoff;       /* not read in the last pass (rescan backoff):
	                               * counted as of their last read */
	uint64_t pages_beyond_index_limit; /* of pages_scanned: beyond the
	                               * index limit, the guests'
	                               * beyond_index_limit_pages summed (not
	                               * predicted: neither unique nor duplicate) */
	uint64_t index_limit_pages;   /* the limit the last pass had, in pages
	                               * (whole chunks) */
	bool quiet;                   /* the last pass was quiet: nothing to merge
	                               * that KSM has not merged, no page changed,
	                               * the same guests as the pass before */
	unsigned quiet_passes;        /* quiet passes in a row, up to the last */
	usec_t next_pause_usec;       /* the pause after the last pass (quiet
	                               * backoff: pass_interval, or longer) */
	unsigned backoff_max_passes;  /* most passes from one read of a page to
	                               * the next, as the last pass bounded them
	                               * (1: no backoff) */
	uint64_t pages_vm_readv;      /* of pages_scanned: read with
	                               * process_vm_readv (exclusive, not KSM) */
	uint64_t vm_readv_changed;    /* of those: pages whose pagemap entry
	                               * changed during the read (PFN or
	                               * exclusivity; expected 0) */
	uint64_t ksm_pages_read;      /* KSM pages read back (one mapping each) */
	uint64_t ksm_pages_known;     /* KSM pages entered by the hash the pass
	                               * before read, unread */
	/* Prediction: pages KSM would free among non-zero duplicates not yet
	 * merged (sum over duplicate classes of pages - 1, or of pages when a
	 * KSM page already holds the content; volatile and zero-filled pages
	 * excluded) ... */
	uint64_t dup_saveable_pages;
	/* ... plus pages KSM already saves (merged mappings minus the distinct
	 * KSM pages backing them) ... */
	uint64_t ksm_saved_pages;
	/* ... = the prediction of pages_sharing once KSM has converged. */
	uint64_t predicted_sharing_pages;
	uint64_t zero_filled_pages;   /* reported apart: KSM use_zero_pages / THP
	                               * split reclaim them, not pages_sharing */
	uint64_t dup_classes;         /* distinct duplicated contents */
	uint64_t hash_collisions;     /* equal hash, different bytes (so far) */
	uint64_t tracked_pages;       /* pages with per-page state (all regions) */
	uint64_t state_bytes;         /* daemon memory for them (counted allocations) */
	uint64_t peak_state_bytes;    /* the same including per-pass transients */
	double bytes_per_tracked_page;      /* state_bytes / tracked_pages */
	double peak_bytes_per_tracked_page; /* peak_state_bytes / tracked_pages */
	bool incremental;             /* the kernel lets passes skip unchanged
	                               * pages (soft-dirty); false = full passes */
	unsigned n_guests;
	struct scanner_guest_stats *guests;  /* malloc'd, n_guests */
	unsigned n_pairs;
	struct scanner_pair_stats *pairs;    /* malloc'd, only pairs with sharing */
};

/* Copy the results of the last completed pass into *out (thread-safe).
 * Free with scanner_results_free(). Before the first pass, passes == 0 and
 * guests lists the registered guests with zero counts. Returns 0 or -ENOMEM. */
int scanner_get_results(struct scanner *s, struct scanner_results *out);

/* Free the arrays of a results copy (not the struct itself). NULL ok. */
void scanner_results_free(struct scanner_results *r);

#endif
