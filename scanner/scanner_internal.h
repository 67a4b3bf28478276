/* scanner_internal.h — the scanner's shared structures (guests, regions,
 * per-page state, a pass, a worker) and the functions its files share
 * (scanner.c, scan_guests.c, scan_pass.c, scan_read.c, scan_publish.c). */
#ifndef KSMD_SCANNER_INTERNAL_H
#define KSMD_SCANNER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "scanner/scanner.h"
#include "scanner/scan_backoff.h"
#include "scanner/scan_index.h"

#define CHUNK_PAGES 8192u            /* work unit and unit of per-page state:
                                      * 32 MiB of address space */
#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_EXCLUSIVE (1ULL << 56)
#define PM_SOFT_DIRTY (1ULL << 55)
#define PM_PFN_MASK ((1ULL << 55) - 1)
#define KPF_KSM (1ULL << 21)
#define KPF_ZERO_PAGE (1ULL << 24)
/* kpageflags entries cached per thread, and read per miss. The kernel
 * works out the flags of every entry read, and KSM pages lie scattered: on
 * 4 x 512 MiB converged (66,048 KSM pages, 3 passes, whole-process CPU,
 * medians of 3), 64 per miss into 512 slots took 1.08 s, 16 into 4,096
 * 0.86 s, 8 into 16,384 0.85 s. Either can be set at build time. */
#ifndef KPF_CACHE
#define KPF_CACHE 4096u
#endif
#ifndef KPF_READ
#define KPF_READ 16u
#endif
#define RA_PAGES 32u                 /* read-back read-ahead per worker */

enum gcount {
	GC_PRESENT, GC_SWAPPED, GC_ZERO_PAGE, GC_ZERO_FILLED, GC_KSM, GC_HASHED,
	GC_VOLATILE, GC_UNREAD,
	GC_BACKOFF,  /* of GC_HASHED: left unread by the backoff, indexed by
	              * the hash of their last read */
	GC_BEYOND,   /* read and hashed in a chunk without refs (beyond the
	              * index limit): not indexed, not in GC_HASHED */
	GC_N,
};

struct scan_guest;

/* Per-page state of one chunk (CHUNK_PAGES pages), allocated the first
 * time the chunk holds a page to read: sparse regions (a large guest that
 * touched little, reservations) cost 8 bytes per chunk, not per page. */
struct chunk_state {
	uint64_t hash[CHUNK_PAGES];        /* the hash at the last read */
	uint64_t seen[CHUNK_PAGES / 64];   /* bitmap: hash[] is valid */
	uint8_t bo[CHUNK_PAGES];           /* rescan backoff (scan_backoff.h) */
	uint64_t ref_pass;                 /* pass in which ref_base is valid */
	uint64_t visit_pass;               /* last pass that visited the chunk */
	uint32_t ref_base;                 /* ref of its first page in that pass */
};

struct scan_region {
	uint64_t start, end;    /* bytes, page aligned */
	uint64_t npages;
	uint64_t nchunks;
	struct chunk_state **chunk;  /* nchunks, NULL until needed */
	uint64_t chunks_allocated;
	struct scan_guest *g;
};

struct scan_guest {
	char name[64];
	pid_t pid;
	enum scanner_guest_kind kind;
	uint64_t hint_bytes;
	bool removed;           /* dropped at the next pass boundary */
	bool alive;
	int last_error;
	unsigned idx;           /* index in this pass */
	struct scan_region *regions;
	size_t n_regions;
	int mem_fd, pagemap_fd;
	int pidfd;              /* the process found (collect/sample.h), from
	                         * the guest's adding to its removal; -1: none */
	uint64_t start_ticks;   /* its start time, when there is no pidfd */
	bool vmr;               /* process_vm_readv this pass (needs the pidfd) */
	int ksm_stat_fd;        /* /proc/PID/ksm_stat, open from the guest's
	                         * adding to its removal; -1: none */
	_Atomic uint64_t resident_pages;  /* the tick's sample; 0: not told */
	_Atomic uint64_t resident_at_pass;  /* resident_pages when the last pass
	                                   * opened the guest (quiet backoff) */
	_Atomic bool no_vmr;    /* process_vm_readv refused this pass (EPERM &
	                         * co): pread only for the rest of it */
	_Atomic int failed;     /* negative errno that ended its pass */
	_Atomic usec_t last_read_usec;  /* pages last read (marks them accessed) */
	uint64_t maps_hash;     /* XXH3 of /proc/PID/maps when regions were read */
	bool maps_valid;        /* regions match maps_hash */
	_Atomic uint64_t c[GC_N];
	_Atomic unsigned bo_since_max;  /* passes since the oldest read among
	                                 * the pages this pass left unread */
	struct scan_guest *next;
};

/* The content hashes of the KSM pages one pass read back, by PFN, for the
 * next (scan_publish.c, scan_index_ksm_pages). Open addressing; pfn + 1,
 * 0 = empty. */
struct ksm_hash {
	uint64_t pfn1;
	uint64_t hash;
};
struct ksm_hashes {
	struct ksm_hash *v;
	size_t cap;                /* a power of two, or 0 */
};
#define KSM_REVERIFY_PASSES 8u  /* a known KSM page is read again every 8 passes */

struct scanner {
	struct scanner_conf conf;
	scanner_hash_fn hash;
	uint64_t zero_hash;
	uint64_t zero_pfn;      /* 0: unknown (not root) */
	bool incremental;

	uint64_t pass_seq;      /* passes started (only the pass thread) */
	pthread_mutex_t lock;   /* guests list, in_pass, bg state */
	struct scan_guest *guests;
	bool in_pass;

	_Atomic uint64_t pages_per_sec;
	_Atomic unsigned cpu_percent;
	_Atomic usec_t interval_usec;
	_Atomic usec_t backoff_max_usec;  /* 0: read every page every pass */
	_Atomic usec_t interval_max_usec; /* quiet backoff's longest pause */
	unsigned quiet_passes;     /* quiet passes in a row (the pass thread) */
	uint64_t quiet_sig;        /* the last pass's guests and sizes, hashed */
	usec_t pass_start_usec[BACKOFF_MAX_PASSES];  /* by pass number mod 32 */
	usec_t last_pass_wall_usec;
	struct ksm_hashes ksm_known; /* the last pass's KSM pages (the pass thread) */

	pthread_mutex_t run_lock;
	pthread_cond_t run_cond;
	bool paused, stopping, bg_running;
	bool pass_wanted;          /* a guest was added: the next pass starts
	                            * now, not after the interval (run_lock) */
	pthread_t bg;

	pthread_mutex_t rate_lock;
	usec_t rate_next_usec;

	pthread_mutex_t res_lock;
	struct scanner_results res;
};

/* A mapping of a KSM page: its PFN and where (ref) it was seen. */
struct ksm_seen {
	uint64_t pfn;
	uint32_t ref;   /* UINT32_MAX: no ref this pass */
};

struct work_item {
	struct scan_region *r;
	uint64_t first, count;  /* pages */
};

/* A block of CHUNK_PAGES refs: which chunk of which region they name. */
struct ref_block {
	struct scan_region *r;
	struct chunk_state *c;
	uint64_t first;            /* page index of the chunk in r */
};

#define QUIET_PASSES 3u  /* quiet passes before the pause grows (scanner.c) */

struct scan_pass {
	struct scanner *s;
	uint64_t id;               /* pass number, for chunk_state.ref_pass */
	struct scan_guest **g;
	unsigned ng;
	struct ref_block *blocks;  /* ref / CHUNK_PAGES -> chunk */
	size_t n_blocks;           /* the index limit in chunks: the chunks
	                            * reached after the first n_blocks get no
	                            * refs (their pages: GC_BEYOND) */
	_Atomic size_t next_block;
	struct work_item *work;
	size_t nwork;
	_Atomic size_t next;
	struct scan_index *ix;
	struct backoff_pass bo;    /* what this pass may leave unread */
	_Atomic uint64_t scanned, skipped;
	_Atomic uint64_t vmr, vmr_changed;  /* pages read with process_vm_readv */
	_Atomic uint64_t pagemap_usec;  /* stage-1 time, summed over threads */
	_Atomic uint64_t cpu_nsec;
	_Atomic bool cancelled;
	unsigned nthreads;
	pthread_mutex_t ksm_lock;
	struct ksm_seen *ksm_pfns;  /* one entry per KSM mapping met */
	size_t n_ksm, cap_ksm;      /* after the pass: n_ksm = distinct PFNs */
	uint64_t ksm_read, ksm_known;  /* of those: read back, entered by a known hash */
};

struct thread_pace {
	usec_t win_wall_usec;
	uint64_t win_cpu_nsec;
};

struct worker {
	struct scan_pass *p;
	uint64_t *pm;              /* CHUNK_PAGES pagemap entries */
	uint64_t *pm2;             /* pagemap entries of one read batch */
	unsigned char *buf;        /* read_batch_bytes */
	uint64_t *hs;              /* hashes of one read batch */
	unsigned char rd[CHUNK_PAGES];  /* stage 1 verdict: RD_* */
	usec_t pagemap_usec;       /* time spent in stage 1 */
	int kpf_fd;
	uint64_t kpf_pfn[KPF_CACHE], kpf_flags[KPF_CACHE];  /* pfn + 1, flags */
	uint64_t kpf_last_pfn, kpf_last;                    /* the last lookup */
	struct thread_pace tp;
	uint64_t c[GC_N];
	unsigned bo_since_max;     /* of the pages left unread, for this guest */
	uint64_t scanned, skipped;
	uint64_t vmr, vmr_changed;
	struct ksm_seen *ksm;      /* KSM mappings seen, deduplicated later */
	size_t n_ksm, cap_ksm;
	unsigned char *ra;         /* read-back read-ahead: RA_PAGES pages */
	const struct ref_block *ra_blk;  /* whose refs ra holds; NULL: none */
	uint32_t ra_ref, ra_n;     /* ra holds refs [ra_ref, ra_ref + ra_n) */
	uint64_t ra_reads, ra_hits;
};

/* The ref block that names ref. */
static inline struct ref_block *ref_block(struct scan_pass *p, uint32_t ref)
{
	return &p->blocks[ref / CHUNK_PAGES];
}

/* scan_guests.c */
void scan_guest_free(struct scan_guest *g);
void scan_guest_drop_regions(struct scan_guest *g);
int scan_guest_refresh_regions(struct scan_guest *g);

/* scan_pass.c */
int scan_pace(struct scan_pass *p, struct thread_pace *tp, uint64_t pages);
int scan_run_pass(struct scanner *s);

/* scan_read.c */
extern __thread struct worker *scan_tls_worker;  /* this thread's worker */
void scan_mark_read(struct scan_guest *g);
int scan_cb_read_page(void *ctx, uint32_t ref, void *buf);
int scan_chunk(struct worker *w, struct work_item *it);

/* scan_publish.c */
void scan_index_ksm_pages(struct scan_pass *p);
size_t scan_ksm_distinct(struct ksm_seen *v, size_t n);
bool scan_ksm_hashes_get(const struct ksm_hashes *t, uint64_t pfn, uint64_t *hash);
void scan_ksm_hashes_put(struct ksm_hashes *t, uint64_t pfn, uint64_t hash);
int scan_ksm_hashes_init(struct ksm_hashes *t, size_t n);
void scan_ksm_hashes_free(struct ksm_hashes *t);
bool scan_ksm_reverify(uint64_t pfn, uint64_t pass);
void scan_backoff_drop_classes(struct scan_pass *p);
int scan_publish(struct scan_pass *p, usec_t start, usec_t wall);
/* Set r's quiet fields (scanner.c, quiet backoff); before r is published. */
void scan_quiet_update(struct scanner *s, struct scanner_results *r, uint64_t passes);

#endif
