/* scanner.c — reading guest RAM without disturbing it, pass by pass.
 *
 * A pass walks every RAM region of every guest in chunks of CHUNK_PAGES
 * pages; scanner threads take chunks from a shared counter. For a chunk:
 *
 * 1. Read /proc/PID/pagemap for the whole chunk in one pread (8 bytes a
 *    page). Absent pages are skipped (reading them would map the zero page
 *    into the guest and grow its page tables). A present page that is
 *    mapped exclusively (bit 56) is an ordinary private page: read it. One
 *    that is not is either the kernel's zero page (its PFN is learnt at
 *    start, /proc/kpageflags bit 24 for the huge zero page), a KSM page
 *    (/proc/kpageflags bit 21: already merged, stable by construction,
 *    never read again), or a page shared after fork (read it). So merged
 *    and zero pages cost 8 bytes of pagemap and no data read.
 *
 * 2. Runs of readable pages are coalesced into reads of up to
 *    read_batch_bytes. Two ways to read, chosen per run:
 *
 *    pread on /proc/PID/mem, for every page that is not exclusively mapped
 *    (shared after fork, or pagemap without PFNs). pread takes page
 *    references, not pins, so it never breaks a KSM merge. Its price: the
 *    kernel copies page by page through a bounce page, taking the target's
 *    mmap_lock and walking its page tables once per page.
 *
 *    process_vm_readv, for runs of pages that pagemap shows present,
 *    exclusively mapped (bit 56) and with a PFN. It walks the page tables
 *    and takes mmap_lock once per 16 pages and copies once; on transparent
 *    huge pages (QEMU guest RAM mostly is) it also pins a huge page's
 *    subpages cheaply. Measured on 1 GiB of unique THP-backed memory
 *    (scanner_probe A/B, same run): 2.0 M pages per CPU-second against
 *    1.5 M with pread, and with two threads 3.2 M pages/s against 2.1 M
 *    (pread's per-page mmap_lock and page walk contend between threads;
 *    this path scales). It pins the pages (FOLL_PIN), and since 5.19 a
 *    read-only pin of a *shared* anonymous page unshares it first: pinning
 *    a KSM page would undo its merge. Pinning an exclusive page changes
 *    nothing (it is already the process's own). Bit 56 alone is not
 *    enough: a KSM page whose other mappings went away (written to,
 *    unmapped) is mapped once and so shows as exclusive, and pinning it
 *    would unshare it too.
 *
 *    Right before each call the batch's pagemap entries are read again,
 *    and only the prefix that is still present and exclusive is read this
 *    way (the rest falls back to pread); then one of two checks:
 *
 *    - The guest has no KSM mapping KSM knows of: /proc/PID/ksm_stat, read
 *      right before the call, shows ksm_merging_pages 0 (KSM counts there
 *      each mapping of a KSM page it made in the process). Then the prefix
 *      is read in one call. This is the usual case on a guest that KSM has
 *      not reached yet, and it makes 4 KiB memory as cheap to read as huge
 *      pages: on 1 GiB of unique 4 KiB pages (make bench-scanner) 1.64 M
 *      pages per CPU-second against 1.45 M with pread. What it can miss is
 *      a KSM page the process maps without KSM's count: KSM uncounts a
 *      mapping when its scan finds the page absent (swapped out, or under
 *      migration) and counts it again only at its next visit, so a page
 *      swapped back in from the swap cache or migrated meanwhile is
 *      uncounted until then; a process forked from one with KSM pages maps
 *      them uncounted too. Pinning such a page unshares it only if it is
 *      mapped once (exclusive, as required above), and a KSM page mapped
 *      once saves no memory: the copy replaces it, the KSM page is freed.
 *      A page KSM merges into a shared page in the window before the pin
 *      is counted (below).
 *
 *    - Otherwise /proc/kpageflags is read for their PFNs (one read per
 *      run of consecutive PFNs), and only the prefix that is not a KSM page
 *      is read this way (the rest falls back to pread). When the
 *      PFNs are scattered (more than 8 runs in a batch: 4 KiB pages of a
 *      fragmented guest) the check would cost more than pread saves, and
 *      the rest of the run is read with pread; transparent huge pages give
 *      runs of 512.
 *
 *    While the pin holds the page, KSM cannot merge it (its write-protect
 *    step bails on a page with references beyond its mappings). What is
 *    left is the window between the check and the pin (microseconds for
 *    the first pages of a batch, up to the batch's copy time, some hundred
 *    microseconds for 1 MiB, for the last ones): if KSM merged a page in
 *    exactly that window, the pin would unshare that one page (KSM merges
 *    it again on its next visit). The entries are read again after the
 *    call and any page whose PFN or exclusivity changed is counted
 *    (results.vm_readv_changed): 0 so far in every measurement, including
 *    passes run while KSM started merging the same memory at full speed
 *    (6 runs, KSM started 0.05 to 0.5 s into the passes).
 *    process_vm_readv names the process by pid, so a pidfd taken at the start of the pass is polled after every call: if
 *    the guest exited (its pid may now name another process) the data is
 *    dropped and the guest's pass ends. If the call is refused (EPERM,
 *    ENOSYS) the guest is read with pread for the rest of the pass; an
 *    EFAULT (a page gone) falls back to pread for that batch, which decides
 *    what is unread. conf.pread_only turns the path off.
 *
 *    A short read or EIO/EFAULT (a page unmapped since the pagemap read)
 *    costs the page it stopped at, which counts as unread; ESRCH or end of
 *    file (the process is gone) ends that guest's pass, not the pass.
 *
 * 3. Each page is hashed. A page whose hash differs from the one it had at
 *    the last pass is volatile (as in KSM: it would not enter the unstable
 *    tree) and is not counted as mergeable; a page seen for the first time
 *    is given the benefit of the doubt. Zero-filled pages (not the zero
 *    page, but all zero bytes) are counted apart: KSM's use_zero_pages and
 *    the THP split reclaim them, pages_sharing never shows them. All other
 *    pages go to the content index (scan_index.c), which byte-compares
 *    every duplicate it reports.
 *
 *    A content beyond the index's budget of copies is compared with its
 *    first page read back (pread). Identical guests meet their classes in
 *    the order of their first pages, so a worker reads back 32 pages at a
 *    time (cb_read_page; those pagemap shows present right before) and
 *    serves the next read-backs from them. On 4 processes of 512 MiB, half
 *    of each the same in all (bench/ksm_fill, 65,600 classes), a pass took
 *    1.45 CPU-s with one pread per read-back and 0.55 with read-ahead
 *    (build/tests/scanner_probe -n 3 over the four), the same counts.
 *
 * Per tracked page the scanner keeps 8 bytes of hash and 1 bit "hashed
 * before" between passes, in chunks of 32 MiB of address space allocated
 * when a chunk first holds a page to read (a sparse guest costs 8 bytes
 * per untouched chunk); the index adds about 5.2 bytes per page during a
 * pass, 1 byte of class-table buckets and a 64-byte class per duplicated
 * content, all freed at the end of the pass. So the peak depends on how
 * many contents repeat: 14.3 bytes per page on unique memory, 30.5 on the
 * four processes above (one class per 8 pages).
 *
 * 4. After the pass, one mapping of each distinct KSM page met is read
 *    (pread: no unsharing) and entered into the index as "merged", so that
 *    pages not merged yet whose content a KSM page already holds count as
 *    mergeable (KSM merges each of them into that page). The prediction
 *    of pages_sharing is then: per class, pages - 1 (or pages when merged),
 *    plus the KSM mappings met minus the distinct KSM pages.
 *
 * Pacing: before each read batch a thread waits while the scanner is
 * paused, takes its share from a token bucket (pages_per_sec over all
 * threads) and sleeps as long as its CPU time over the last second exceeds
 * its share of cpu_percent. Both are atomics, changed live.
 *
 * Incremental passes would need the kernel to tell which pages changed:
 * soft-dirty (pagemap bit 55, or PAGEMAP_SCAN's PAGE_IS_SOFT_DIRTY) is
 * probed at start; where it is compiled out (CONFIG_MEM_SOFT_DIRTY=n) every
 * pass is a full pass, and the pagemap stage is what keeps it cheap. */
#include "scanner/scanner.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <urcu.h>
#include <xxhash.h>

#include "common/log.h"
#include "scanner/scan_hash.h"
#include "scanner/scan_index.h"
#include "collect/regions.h"

#define CHUNK_PAGES 8192u            /* work unit and unit of per-page state:
                                      * 32 MiB of address space */
#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_EXCLUSIVE (1ULL << 56)
#define PM_SOFT_DIRTY (1ULL << 55)
#define PM_PFN_MASK ((1ULL << 55) - 1)
#define KPF_KSM (1ULL << 21)
#define KPF_ZERO_PAGE (1ULL << 24)
#define KPF_CACHE 512u               /* kpageflags entries cached per thread */
#define KPF_READ 64u                 /* entries read per kpageflags miss */
#define RA_PAGES 32u                 /* read-back read-ahead per worker */

enum gcount {
	GC_PRESENT, GC_SWAPPED, GC_ZERO_PAGE, GC_ZERO_FILLED, GC_KSM, GC_HASHED,
	GC_VOLATILE, GC_UNREAD, GC_N,
};

struct scan_guest;

/* Per-page state of one chunk (CHUNK_PAGES pages), allocated the first
 * time the chunk holds a page to read: sparse regions (a large guest that
 * touched little, reservations) cost 8 bytes per chunk, not per page. */
struct chunk_state {
	uint64_t hash[CHUNK_PAGES];        /* the hash at the last read */
	uint64_t seen[CHUNK_PAGES / 64];   /* bitmap: hash[] is valid */
	uint64_t ref_pass;                 /* pass in which ref_base is valid */
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
	int pidfd;              /* -1: no process_vm_readv for this guest */
	int ksm_stat_fd;        /* /proc/PID/ksm_stat; -1: none */
	_Atomic bool no_vmr;    /* process_vm_readv refused this pass (EPERM &
	                         * co): pread only for the rest of it */
	_Atomic int failed;     /* negative errno that ended its pass */
	_Atomic usec_t last_read_usec;  /* pages last read (marks them accessed) */
	uint64_t maps_hash;     /* XXH3 of /proc/PID/maps when regions were read */
	bool maps_valid;        /* regions match maps_hash */
	_Atomic uint64_t c[GC_N];
	struct scan_guest *next;
};

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

	pthread_mutex_t run_lock;
	pthread_cond_t run_cond;
	bool paused, stopping, bg_running;
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

struct scan_pass {
	struct scanner *s;
	uint64_t id;               /* pass number, for chunk_state.ref_pass */
	struct scan_guest **g;
	unsigned ng;
	struct ref_block *blocks;  /* ref / CHUNK_PAGES -> chunk */
	size_t n_blocks;
	_Atomic size_t next_block;
	struct work_item *work;
	size_t nwork;
	_Atomic size_t next;
	struct scan_index *ix;
	_Atomic uint64_t scanned, skipped;
	_Atomic uint64_t vmr, vmr_changed;  /* pages read with process_vm_readv */
	_Atomic uint64_t pagemap_usec;  /* stage-1 time, summed over threads */
	_Atomic uint64_t cpu_nsec;
	_Atomic bool cancelled;
	unsigned nthreads;
	pthread_mutex_t ksm_lock;
	struct ksm_seen *ksm_pfns;  /* one entry per KSM mapping met */
	size_t n_ksm, cap_ksm;      /* after the pass: n_ksm = distinct PFNs */
};

static uint64_t xxh3_page(const void *data, size_t len)
{
	return scan_hash_xxh3(data, len);
}

static uint64_t thread_cpu_nsec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void sleep_usec(usec_t u)
{
	struct timespec ts = { (time_t)(u / USEC_PER_SEC), (long)(u % USEC_PER_SEC) * 1000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static ssize_t pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return done ? (ssize_t)done : -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

/* ---- configuration, probing ------------------------------------------- */

void scanner_conf_defaults(struct scanner_conf *conf)
{
	*conf = (struct scanner_conf){
		.threads = 1,
		.pages_per_sec = 0,
		.cpu_percent = 0,
		.pass_interval_usec = 10 * USEC_PER_SEC,
		.read_batch_bytes = 1 * MIB,
		.hash = NULL,
	};
}

/* The PFN of the kernel's zero page: two pages of our own that were only
 * read map it, at the same PFN and not exclusively (root only). 0 when the
 * kernel gives read faults fresh pages instead (pvm_no_zero_page=1 and the
 * like) or pagemap hides PFNs. */
static uint64_t probe_zero_pfn(void)
{
	uint64_t pfn = 0, e[2];
	volatile char *p = mmap(NULL, 2 * PAGE_SIZE_4K, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 0;
	(void)p[0];
	(void)p[PAGE_SIZE_4K];
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (pread(fd, e, 16, (off_t)((uintptr_t)p / PAGE_SIZE_4K * 8)) == 16 &&
		    (e[0] & PM_PRESENT) && (e[0] & PM_PFN_MASK) == (e[1] & PM_PFN_MASK))
			pfn = e[0] & PM_PFN_MASK;
		close(fd);
	}
	munmap((void *)p, 2 * PAGE_SIZE_4K);
	return pfn;
}

/* PAGEMAP_SCAN (Linux 6.7): ask the kernel for page ranges by category.
 * Declared here because older uapi headers lack it. */
struct scan_pm_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
struct scan_pm_region {
	uint64_t start, end, categories;
};
#define SCAN_PAGEMAP_SCAN _IOWR('f', 16, struct scan_pm_arg)
#define SCAN_PAGE_IS_PRESENT (1ULL << 3)

/* Does the kernel have the PAGEMAP_SCAN ioctl? (With soft-dirty compiled
 * out it cannot say "written since", only present/swapped/zero-PFN.) */
static bool probe_pagemap_scan(void)
{
	bool ok = false;
	char *p = mmap(NULL, PAGE_SIZE_4K, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return false;
	p[0] = 1;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		struct scan_pm_region vec[1];
		struct scan_pm_arg a = {
			.size = sizeof(a), .start = (uintptr_t)p, .end = (uintptr_t)p + PAGE_SIZE_4K,
			.vec = (uintptr_t)vec, .vec_len = 1,
			.category_mask = SCAN_PAGE_IS_PRESENT, .return_mask = SCAN_PAGE_IS_PRESENT,
		};
		ok = ioctl(fd, SCAN_PAGEMAP_SCAN, &a) >= 0;
		close(fd);
	}
	munmap(p, PAGE_SIZE_4K);
	return ok;
}

/* Soft-dirty works when clearing it and writing a page sets bit 55 again. */
static bool probe_soft_dirty(void)
{
	bool ok = false;
	uint64_t e;
	char *p = mmap(NULL, PAGE_SIZE_4K, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return false;
	p[0] = 1;
	if (write_file("/proc/self/clear_refs", "4") == 0) {
		p[0] = 2;
		int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ok = pread(fd, &e, 8, (off_t)((uintptr_t)p / PAGE_SIZE_4K * 8)) == 8 &&
			     (e & PM_SOFT_DIRTY);
			close(fd);
		}
	}
	munmap(p, PAGE_SIZE_4K);
	return ok;
}

struct scanner *scanner_new(const struct scanner_conf *conf)
{
	struct scanner_conf def;
	if (!conf) {
		scanner_conf_defaults(&def);
		conf = &def;
	}
	if (conf->threads < 1 || conf->threads > 256 ||
	    conf->cpu_percent > 100 * conf->threads ||
	    (conf->read_batch_bytes && conf->read_batch_bytes < PAGE_SIZE_4K)) {
		errno = EINVAL;
		return NULL;
	}
	struct scanner *s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->conf = *conf;
	if (!s->conf.read_batch_bytes)
		s->conf.read_batch_bytes = MIB;
	s->conf.read_batch_bytes -= s->conf.read_batch_bytes % PAGE_SIZE_4K;
	s->hash = conf->hash ? conf->hash : xxh3_page;
	static const unsigned char zero[SCAN_PAGE_SIZE];
	s->zero_hash = s->hash(zero, sizeof(zero));
	s->zero_pfn = probe_zero_pfn();
	s->incremental = false;
	bool sd = probe_soft_dirty(), pms = probe_pagemap_scan();
	log_debug("scanner: soft-dirty %s, PAGEMAP_SCAN %s: every pass is a full pass "
		  "(pagemap skips absent, zero and merged pages)",
		  sd ? "available" : "compiled out", pms ? "present" : "absent");
	atomic_store(&s->pages_per_sec, conf->pages_per_sec);
	atomic_store(&s->cpu_percent, conf->cpu_percent);
	atomic_store(&s->interval_usec, conf->pass_interval_usec);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->run_lock, NULL);
	pthread_cond_init(&s->run_cond, NULL);
	pthread_mutex_init(&s->rate_lock, NULL);
	pthread_mutex_init(&s->res_lock, NULL);
	return s;
}

/* ---- guests -------------------------------------------------------------- */

static void region_free(struct scan_region *r)
{
	if (r->chunk)
		for (uint64_t i = 0; i < r->nchunks; i++)
			free(r->chunk[i]);
	free(r->chunk);
	r->chunk = NULL;
	r->chunks_allocated = 0;
}

static void guest_drop_regions(struct scan_guest *g)
{
	g->maps_valid = false;
	for (size_t i = 0; i < g->n_regions; i++)
		region_free(&g->regions[i]);
	free(g->regions);
	g->regions = NULL;
	g->n_regions = 0;
}

static void guest_free(struct scan_guest *g)
{
	guest_drop_regions(g);
	free(g);
}

int scanner_add_guest(struct scanner *s, const char *name, pid_t pid,
		      enum scanner_guest_kind kind, uint64_t ram_size_hint_bytes)
{
	if (!name || !*name || strlen(name) >= sizeof(((struct scan_guest *)0)->name) ||
	    pid <= 0 || (kind != SCANNER_GUEST_QEMU && kind != SCANNER_GUEST_PROCESS) ||
	    ram_size_hint_bytes % PAGE_SIZE_4K)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	struct scan_guest **tail = &s->guests;
	for (; *tail; tail = &(*tail)->next)
		if (!(*tail)->removed && strcmp((*tail)->name, name) == 0) {
			pthread_mutex_unlock(&s->lock);
			return -EEXIST;
		}
	struct scan_guest *g = calloc(1, sizeof(*g));
	if (!g) {
		pthread_mutex_unlock(&s->lock);
		return -ENOMEM;
	}
	strcpy(g->name, name);
	g->pid = pid;
	g->kind = kind;
	g->hint_bytes = ram_size_hint_bytes;
	g->alive = true;
	g->mem_fd = g->pagemap_fd = g->pidfd = g->ksm_stat_fd = -1;
	*tail = g;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int scanner_guest_last_read(struct scanner *s, const char *name, usec_t *last_read_usec)
{
	int r = -ENOENT;
	pthread_mutex_lock(&s->lock);
	for (struct scan_guest *g = s->guests; g; g = g->next)
		if (!g->removed && strcmp(g->name, name) == 0) {
			*last_read_usec = atomic_load(&g->last_read_usec);
			r = 0;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int scanner_remove_guest(struct scanner *s, const char *name)
{
	int r = -ENOENT;
	pthread_mutex_lock(&s->lock);
	for (struct scan_guest *g = s->guests; g; g = g->next)
		if (!g->removed && strcmp(g->name, name) == 0) {
			g->removed = true;
			r = 0;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Re-read a guest's regions; keep the per-page state of every region whose
 * bounds did not change. Returns 0 or negative errno (guest gone). */
static int guest_refresh_regions(struct scan_guest *g)
{
	struct scan_range *rv;
	size_t n;
	int r;
	if (g->kind == SCANNER_GUEST_QEMU) {
		/* smaps walks every page of the process: read it only when
		 * the cheap maps text changed since the last pass */
		char path[64], *text;
		snprintf(path, sizeof(path), "/proc/%d/maps", (int)g->pid);
		if ((r = read_file(path, &text, NULL)) < 0)
			return r;
		uint64_t mh = XXH3_64bits(text, strlen(text));
		bool empty = text[0] == '\0';
		free(text);
		if (empty)
			return -ESRCH;
		if (g->maps_valid && mh == g->maps_hash)
			return 0;
		g->maps_hash = mh;
		g->maps_valid = false;
	}
	r = scan_regions_read(g->pid, g->kind, g->hint_bytes, &rv, &n);
	if (r < 0)
		return r;
	struct scan_region *nr = calloc(n ? n : 1, sizeof(*nr));
	if (!nr) {
		free(rv);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct scan_region *x = &nr[i];
		x->start = rv[i].start;
		x->end = rv[i].end;
		x->npages = (x->end - x->start) / PAGE_SIZE_4K;
		x->nchunks = (x->npages + CHUNK_PAGES - 1) / CHUNK_PAGES;
		x->g = g;
		for (size_t j = 0; j < g->n_regions; j++) {
			struct scan_region *o = &g->regions[j];
			if (o->chunk && o->start == x->start && o->end == x->end) {
				x->chunk = o->chunk;
				x->chunks_allocated = o->chunks_allocated;
				o->chunk = NULL;
				o->chunks_allocated = 0;
				break;
			}
		}
		if (!x->chunk) {
			x->chunk = calloc(x->nchunks ? x->nchunks : 1, sizeof(*x->chunk));
			if (!x->chunk) {
				for (size_t k = 0; k <= i; k++)
					region_free(&nr[k]);
				free(nr);
				free(rv);
				return -ENOMEM;
			}
		}
	}
	free(rv);
	guest_drop_regions(g);
	g->maps_valid = g->kind == SCANNER_GUEST_QEMU;
	g->regions = nr;
	g->n_regions = n;
	return 0;
}

/* ---- pacing -------------------------------------------------------------- */

struct thread_pace {
	usec_t win_wall_usec;
	uint64_t win_cpu_nsec;
};

/* Wait while paused, then for rate and CPU budget. Returns -ECANCELED when
 * the scanner is stopping. */
static int pace(struct scan_pass *p, struct thread_pace *tp, uint64_t pages)
{
	struct scanner *s = p->s;
	pthread_mutex_lock(&s->run_lock);
	while (s->paused && !s->stopping)
		pthread_cond_wait(&s->run_cond, &s->run_lock);
	bool stop = s->stopping;
	pthread_mutex_unlock(&s->run_lock);
	if (stop || atomic_load(&p->cancelled))
		return -ECANCELED;

	uint64_t pps = atomic_load(&s->pages_per_sec);
	if (pps) {
		usec_t now = now_usec(), t;
		pthread_mutex_lock(&s->rate_lock);
		if (s->rate_next_usec + 100 * USEC_PER_MSEC < now)
			s->rate_next_usec = now;  /* no credit for idle time beyond 100 ms */
		t = s->rate_next_usec;
		s->rate_next_usec += pages * USEC_PER_SEC / pps;
		pthread_mutex_unlock(&s->rate_lock);
		if (t > now)
			sleep_usec(t - now);
	}

	unsigned pct = atomic_load(&s->cpu_percent);
	usec_t now = now_usec();
	uint64_t cpu = thread_cpu_nsec();
	if (pct) {
		double share = (double)pct / p->nthreads;  /* percent for this thread */
		double cpu_usec = (double)(cpu - tp->win_cpu_nsec) / 1000.0;
		double need_wall = cpu_usec * 100.0 / share;
		double wall = (double)(now - tp->win_wall_usec);
		if (need_wall > wall) {
			sleep_usec((usec_t)(need_wall - wall));
			now = now_usec();
		}
	}
	if (now - tp->win_wall_usec > USEC_PER_SEC) {
		tp->win_wall_usec = now;
		tp->win_cpu_nsec = cpu;
	}
	return 0;
}

/* ---- index callbacks -------------------------------------------------------- */

static struct ref_block *ref_block(struct scan_pass *p, uint32_t ref)
{
	return &p->blocks[ref / CHUNK_PAGES];
}

static uint64_t cb_ref_hash(void *ctx, uint32_t ref)
{
	struct ref_block *b = ref_block(ctx, ref);
	return __atomic_load_n(&b->c->hash[ref % CHUNK_PAGES], __ATOMIC_ACQUIRE);
}

static unsigned cb_ref_guest(void *ctx, uint32_t ref)
{
	return ref_block(ctx, ref)->r->g->idx;
}

static int cb_read_page(void *ctx, uint32_t ref, void *buf);

static const struct scan_index_ops index_ops = {
	.ref_hash = cb_ref_hash,
	.ref_guest = cb_ref_guest,
	.read_page = cb_read_page,
};

/* ---- the worker -------------------------------------------------------------- */

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
	uint64_t scanned, skipped;
	uint64_t vmr, vmr_changed;
	struct ksm_seen *ksm;      /* KSM mappings seen, deduplicated later */
	size_t n_ksm, cap_ksm;
	unsigned char *ra;         /* read-back read-ahead: RA_PAGES pages */
	const struct ref_block *ra_blk;  /* whose refs ra holds; NULL: none */
	uint32_t ra_ref, ra_n;     /* ra holds refs [ra_ref, ra_ref + ra_n) */
	uint64_t ra_reads, ra_hits;
};

/* Note that pages of g were just read: the read marked them accessed
 * (scanner_guest_last_read). Called after every read, whatever it returned. */
static void mark_read(struct scan_guest *g)
{
	atomic_store_explicit(&g->last_read_usec, now_usec(), memory_order_relaxed);
}

/* The worker running on this thread (NULL outside a pass's workers). */
static __thread struct worker *tls_worker;

/* Read page ref back into buf (pread: never unshares) for the index's
 * byte compares. A class beyond the content budget compares each joining
 * page with its first page read back, and identical guests join classes in
 * the order of their first pages (page i of one guest equals page i of the
 * other): so a worker reads back RA_PAGES pages at a time, those that
 * pagemap shows present right before (reading an absent page would map one
 * into the guest), and serves the next read-backs from them. Measured on
 * the convergence workload (4 x 512 MiB, half the same in every process,
 * 65,600 classes): see the essay. */
static int cb_read_page(void *ctx, uint32_t ref, void *buf)
{
	struct ref_block *b = ref_block(ctx, ref);
	struct scan_guest *g = b->r->g;
	uint64_t page = b->first + ref % CHUNK_PAGES;  /* in the region */
	off_t addr = (off_t)(b->r->start + page * PAGE_SIZE_4K);
	struct worker *w = tls_worker;
	if (w && w->ra) {
		if (w->ra_blk == b && ref >= w->ra_ref && ref - w->ra_ref < w->ra_n) {
			memcpy(buf, w->ra + (size_t)(ref - w->ra_ref) * PAGE_SIZE_4K, PAGE_SIZE_4K);
			w->ra_hits++;
			return 0;
		}
		w->ra_blk = NULL;
		uint64_t k = MIN(MIN((uint64_t)RA_PAGES, b->r->npages - page),
				 CHUNK_PAGES - ref % CHUNK_PAGES);
		uint64_t pm[RA_PAGES];
		ssize_t got = pread_full(g->pagemap_fd, pm, k * 8,
					 (off_t)((b->r->start / PAGE_SIZE_4K + page) * 8));
		uint64_t n = 0;
		while (got > 0 && n < (uint64_t)got / 8 && (pm[n] & PM_PRESENT))
			n++;
		if (n > 1) {
			got = pread_full(g->mem_fd, w->ra, n * PAGE_SIZE_4K, addr);
			mark_read(g);
			if (got >= (ssize_t)PAGE_SIZE_4K) {
				w->ra_blk = b;
				w->ra_ref = ref;
				w->ra_n = (uint32_t)((uint64_t)got / PAGE_SIZE_4K);
				w->ra_reads++;
				memcpy(buf, w->ra, PAGE_SIZE_4K);
				return 0;
			}
		}
	}
	ssize_t n = pread_full(g->mem_fd, buf, PAGE_SIZE_4K, addr);
	mark_read(g);
	if (n < 0)
		return (int)n;
	return n == (ssize_t)PAGE_SIZE_4K ? 0 : -EIO;
}

static bool page_is_zero(const unsigned char *p)
{
	static const unsigned char zero[SCAN_PAGE_SIZE];
	return memcmp(p, zero, SCAN_PAGE_SIZE) == 0;
}

/* kpageflags of pfn (cached); all ones when unknown. */
static uint64_t kpf_get(struct worker *w, uint64_t pfn)
{
	if (pfn + 1 == w->kpf_last_pfn)
		return w->kpf_last;  /* runs of mappings of one KSM page */
	unsigned slot = (unsigned)(pfn % KPF_CACHE);
	if (w->kpf_pfn[slot] == pfn + 1) {
		w->kpf_last_pfn = pfn + 1;
		return w->kpf_last = w->kpf_flags[slot];
	}
	uint64_t v[KPF_READ];
	ssize_t n = w->kpf_fd >= 0 ? pread_full(w->kpf_fd, v, sizeof(v), (off_t)(pfn * 8)) : -EBADF;
	if (n < 8)
		return ~0ULL;
	for (ssize_t i = 0; i < n / 8; i++) {
		unsigned sl = (unsigned)((pfn + (uint64_t)i) % KPF_CACHE);
		w->kpf_pfn[sl] = pfn + (uint64_t)i + 1;
		w->kpf_flags[sl] = v[i];
	}
	w->kpf_last_pfn = pfn + 1;
	return w->kpf_last = v[0];
}

static void note_ksm_pfn(struct worker *w, uint64_t pfn, uint32_t ref)
{
	if (w->n_ksm && w->ksm[w->n_ksm - 1].pfn == pfn)
		return;
	if (w->n_ksm == w->cap_ksm) {
		size_t cap = w->cap_ksm ? w->cap_ksm * 2 : 1024;
		struct ksm_seen *v = realloc(w->ksm, cap * sizeof(*v));
		if (!v)
			return;
		w->ksm = v;
		w->cap_ksm = cap;
	}
	w->ksm[w->n_ksm++] = (struct ksm_seen){ pfn, ref };
}

/* Classify and index one page (page i of chunk c) whose hash is h. */
static void account_page(struct worker *w, struct scan_region *r, struct chunk_state *c,
			 unsigned i, const unsigned char *page, uint64_t h)
{
	struct scanner *s = w->p->s;
	uint64_t bit = 1ULL << (i % 64);
	bool seen = c->seen[i / 64] & bit;
	uint64_t old = c->hash[i];
	__atomic_store_n(&c->hash[i], h, __ATOMIC_RELEASE);
	c->seen[i / 64] |= bit;
	w->scanned++;
	if (h == s->zero_hash && page_is_zero(page)) {
		w->c[GC_ZERO_FILLED]++;
		return;
	}
	if (seen && old != h) {
		w->c[GC_VOLATILE]++;
		return;
	}
	w->c[GC_HASHED]++;
	if (c->ref_pass == w->p->id)
		(void)scan_index_add(w->p->ix, c->ref_base + i, r->g->idx, h, page);
}

/* Hash a batch of pages (from page idx of region r, all in chunk c),
 * prefetch their index slots, then account them. */
static void hash_pages(struct worker *w, struct scan_region *r, struct chunk_state *c,
		       uint64_t idx, const unsigned char *buf, uint64_t pages)
{
	struct scanner *s = w->p->s;
	for (uint64_t i = 0; i < pages; i++) {
		w->hs[i] = s->hash(buf + i * PAGE_SIZE_4K, PAGE_SIZE_4K);
		scan_index_prefetch(w->p->ix, w->hs[i]);
	}
	for (uint64_t i = 0; i < pages; i++)
		account_page(w, r, c, (unsigned)((idx + i) % CHUNK_PAGES),
			     buf + i * PAGE_SIZE_4K, w->hs[i]);
}

/* The chunk state of a work item, allocated on first need, with a ref
 * block for this pass. NULL on ENOMEM. */
static struct chunk_state *chunk_get(struct scan_pass *p, struct scan_region *r, uint64_t first)
{
	uint64_t ci = first / CHUNK_PAGES;
	struct chunk_state *c = r->chunk[ci];
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return NULL;
		r->chunk[ci] = c;
		atomic_fetch_add((_Atomic uint64_t *)&r->chunks_allocated, 1);
	}
	if (c->ref_pass != p->id) {
		size_t b = atomic_fetch_add(&p->next_block, 1);
		if (b < p->n_blocks) {
			p->blocks[b] = (struct ref_block){ r, c, first };
			c->ref_base = (uint32_t)(b * CHUNK_PAGES);
			c->ref_pass = p->id;
		}
	}
	return c;
}

/* Stage 1 verdicts. */
enum { RD_SKIP = 0, RD_PREAD = 1, RD_EXCL = 2 };

/* How many of the m pages whose fresh pagemap entries are in pm are still
 * present and exclusively mapped, from the first on. */
static uint64_t exclusive_prefix(const uint64_t *pm, uint64_t m)
{
	uint64_t k = 0;
	while (k < m && (pm[k] & (PM_PRESENT | PM_EXCLUSIVE)) == (PM_PRESENT | PM_EXCLUSIVE) &&
	       (pm[k] & PM_PFN_MASK))
		k++;
	return k;
}

#define KPF_FRESH_READS 8u   /* most kpageflags reads per batch (runs of PFNs) */

/* Of the k pages (fresh pagemap entries pm), how many from the first are
 * not KSM pages, by /proc/kpageflags read now (not from the cache: a page
 * KSM made stable keeps its PFN). A page mapped once is exclusive even if
 * it is a KSM page (its other mappings were unmapped or written to), and a
 * pin would unshare it. Reads one run of consecutive PFNs at a time; after
 * KPF_FRESH_READS reads (scattered PFNs: checking costs more than pread
 * saves) it gives up: *scattered is set and 0 returned. */
static uint64_t not_ksm_prefix(struct worker *w, const uint64_t *pm, uint64_t k, bool *scattered)
{
	uint64_t i = 0, flags[256];
	for (unsigned reads = 0; i < k; reads++) {
		if (reads == KPF_FRESH_READS) {
			*scattered = true;
			return 0;
		}
		uint64_t pfn = pm[i] & PM_PFN_MASK, run = 1;
		while (i + run < k && run < 256 && (pm[i + run] & PM_PFN_MASK) == pfn + run)
			run++;
		ssize_t got = w->kpf_fd >= 0 ?
			pread_full(w->kpf_fd, flags, run * 8, (off_t)(pfn * 8)) : -EBADF;
		if (got < (ssize_t)(run * 8))
			return i;
		for (uint64_t j = 0; j < run; j++, i++)
			if (flags[j] & (KPF_KSM | KPF_ZERO_PAGE))
				return i;
	}
	return i;
}

/* Does KSM count no mapping of a KSM page in the guest, by
 * /proc/PID/ksm_stat read now (ksm_merging_pages 0)? Then the kpageflags
 * check is skipped; what the count can miss, and why that is safe, is in
 * the essay at the top. Any doubt (no file, no field, a short read)
 * answers no. */
static bool ksm_counts_no_mapping(struct scan_guest *g)
{
	char buf[512];
	if (g->ksm_stat_fd < 0)
		return false;
	ssize_t n = pread(g->ksm_stat_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return false;
	buf[n] = 0;
	const char *f = strstr(buf, "ksm_merging_pages ");
	if (!f)
		return false;
	f += strlen("ksm_merging_pages ");
	return f[0] == '0' && (f[1] == '\n' || f[1] == 0);
}

/* Has the guest's process exited (so that its pid may name another)? */
static bool pidfd_exited(int pidfd)
{
	struct pollfd pf = { .fd = pidfd, .events = POLLIN };
	int r;
	while ((r = poll(&pf, 1, 0)) < 0 && errno == EINTR)
		;
	return r != 0;  /* exited, or cannot tell: treat as gone */
}

/* Count the pages of a process_vm_readv batch whose pagemap entry (PFN or
 * exclusivity) differs now from the one in pm (read before the call). */
static int count_changed(struct worker *w, struct scan_guest *g, off_t pmoff,
			 const uint64_t *pm, uint64_t pages)
{
	uint64_t now[256];
	for (uint64_t done = 0; done < pages; done += 256) {
		uint64_t q = MIN(256, pages - done);
		ssize_t got = pread_full(g->pagemap_fd, now, q * 8, pmoff + (off_t)(done * 8));
		if (got <= 0)
			return got < 0 ? (int)got : -ESRCH;
		for (uint64_t i = 0; i < (uint64_t)got / 8; i++)
			w->vmr_changed += (pm[done + i] & (PM_PFN_MASK | PM_EXCLUSIVE)) !=
					  (now[i] & (PM_PFN_MASK | PM_EXCLUSIVE));
	}
	return 0;
}

/* Read up to m exclusively mapped pages at addr with process_vm_readv into
 * w->buf (see the essay): pagemap is read again just before, so only pages
 * still present and exclusive are pinned, and checked in kpageflags unless
 * the guest maps no KSM page (ksm_stat, read now); and again just after,
 * to count any that changed. Returns bytes read (a page multiple, possibly
 * 0: then the caller falls back to pread for this batch; *scattered set:
 * for the rest of the run) or a negative errno that ends the guest's pass. */
static ssize_t read_exclusive(struct worker *w, struct scan_guest *g, uint64_t addr, uint64_t m,
			      bool *scattered)
{
	off_t pmoff = (off_t)(addr / PAGE_SIZE_4K * 8);
	ssize_t got = pread_full(g->pagemap_fd, w->pm2, m * 8, pmoff);
	if (got <= 0)
		return got < 0 ? got : -ESRCH;
	uint64_t k = exclusive_prefix(w->pm2, (uint64_t)got / 8);
	if (k && !ksm_counts_no_mapping(g))
		k = not_ksm_prefix(w, w->pm2, k, scattered);
	if (!k)
		return 0;
	struct iovec local = { w->buf, k * PAGE_SIZE_4K };
	struct iovec remote = { (void *)(uintptr_t)addr, k * PAGE_SIZE_4K };
	ssize_t n = process_vm_readv(g->pid, &local, 1, &remote, 1, 0);
	if (n < 0) {
		if (errno == ESRCH)
			return -ESRCH;
		if (errno != EFAULT && errno != ENOMEM && errno != EINTR)
			atomic_store(&g->no_vmr, true);  /* EPERM, ENOSYS: not this pass */
		return 0;  /* pread decides */
	}
	if (pidfd_exited(g->pidfd))
		return -ESRCH;  /* the pid may have named another process */
	uint64_t pages = (uint64_t)n / PAGE_SIZE_4K;
	if (!pages)
		return 0;
	int e = count_changed(w, g, pmoff, w->pm2, pages);
	if (e < 0)
		return e;
	w->vmr += pages;
	return (ssize_t)(pages * PAGE_SIZE_4K);
}

/* Read and hash pages [idx, idx+n) of r; excl: stage 1 found them all
 * exclusively mapped. Returns 0, -ECANCELED, or the negative errno that
 * ends this guest's pass. */
static int read_run(struct worker *w, struct scan_region *r, struct chunk_state *c,
		    uint64_t idx, uint64_t n, bool excl)
{
	struct scan_guest *g = r->g;
	uint64_t batch = w->p->s->conf.read_batch_bytes / PAGE_SIZE_4K;
	while (n > 0) {
		excl = excl && g->pidfd >= 0 && !atomic_load(&g->no_vmr) && w->kpf_fd >= 0;
		uint64_t m = MIN(n, batch);
		int e = pace(w->p, &w->tp, m);
		if (e < 0)
			return e;
		off_t addr = (off_t)(r->start + idx * PAGE_SIZE_4K);
		ssize_t got = 0;
		if (excl) {
			bool scattered = false;
			got = read_exclusive(w, g, (uint64_t)addr, m, &scattered);
			mark_read(g);
			if (got < 0)
				return (int)got;
			if (scattered)
				excl = false;
		}
		if (got == 0) {
			got = pread_full(g->mem_fd, w->buf, m * PAGE_SIZE_4K, addr);
			mark_read(g);
			if (got < 0 && got != -EIO && got != -EFAULT)
				return (int)got;          /* ESRCH & co: the guest is gone */
			if (got == 0)
				return -ESRCH;            /* the mm is gone */
		} else {
			m = (uint64_t)got / PAGE_SIZE_4K;  /* the exclusive prefix */
		}
		uint64_t pages = got > 0 ? (uint64_t)got / PAGE_SIZE_4K : 0;
		hash_pages(w, r, c, idx, w->buf, pages);
		if (pages < m) {
			/* stopped at a page that is gone since the pagemap read */
			w->c[GC_UNREAD]++;
			pages++;
		}
		idx += pages;
		n -= pages;
	}
	return 0;
}

/* Stage 1 for page i (pagemap entry e): count it, note a KSM mapping, return its RD_* verdict. */
static unsigned char classify_page(struct worker *w, struct work_item *it, uint64_t i,
				   uint64_t e, struct chunk_state **c)
{
	struct scanner *s = w->p->s;
	if (!(e & PM_PRESENT)) {
		if (e & PM_SWAPPED)
			w->c[GC_SWAPPED]++;
		w->skipped++;
		return RD_SKIP;
	}
	uint64_t pfn = e & PM_PFN_MASK;
	w->c[GC_PRESENT]++;
	if (e & PM_EXCLUSIVE && pfn)
		return RD_EXCL;
	if (e & PM_EXCLUSIVE || !pfn)
		return RD_PREAD;
	if (pfn == s->zero_pfn) {
		w->c[GC_ZERO_PAGE]++;
		w->skipped++;
		return RD_SKIP;
	}
	uint64_t f = kpf_get(w, pfn);
	if (f != ~0ULL && (f & KPF_ZERO_PAGE)) {
		w->c[GC_ZERO_PAGE]++;
		w->skipped++;
		return RD_SKIP;
	}
	if (f != ~0ULL && (f & KPF_KSM)) {
		w->c[GC_KSM]++;
		w->skipped++;
		if (!*c)
			*c = chunk_get(w->p, it->r, it->first);
		note_ksm_pfn(w, pfn, *c && (*c)->ref_pass == w->p->id ?
			     (*c)->ref_base + (uint32_t)i : UINT32_MAX);
		return RD_SKIP;
	}
	return RD_PREAD;
}

/* Stage 1: decide the chunk's first n pages into w->rd (*c: chunk state, fetched if needed). */
static void classify_chunk(struct worker *w, struct work_item *it, uint64_t n,
			   struct chunk_state **c)
{
	usec_t t0 = now_usec();
	for (uint64_t i = 0; i < n; i++)
		w->rd[i] = classify_page(w, it, i, w->pm[i], c);
	w->pagemap_usec += now_usec() - t0;
}

/* Stage 2: read the runs of readable pages; 0, or a negative errno from read_run (or -ENOMEM). */
static int read_runs(struct worker *w, struct work_item *it, uint64_t n, struct chunk_state *c)
{
	uint64_t run_start = 0, run_len = 0;
	unsigned char run_kind = RD_SKIP;
	for (uint64_t i = 0; i <= n; i++) {
		if (i < n && w->rd[i] && (!run_len || w->rd[i] == run_kind)) {
			if (!run_len) {
				run_start = it->first + i;
				run_kind = w->rd[i];
			}
			run_len++;
			continue;
		}
		if (run_len) {
			if (!c && !(c = chunk_get(w->p, it->r, it->first)))
				return -ENOMEM;
			int e = read_run(w, it->r, c, run_start, run_len, run_kind == RD_EXCL);
			if (e < 0)
				return e;
			run_len = 0;
			if (i < n && w->rd[i]) {  /* a run of the other kind starts here */
				run_start = it->first + i;
				run_kind = w->rd[i];
				run_len = 1;
			}
		}
	}
	return 0;
}

/* One work item: pagemap, stage 1, stage 2; 0, -ECANCELED or an errno ending the guest's pass. */
static int scan_chunk(struct worker *w, struct work_item *it)
{
	struct scan_region *r = it->r;
	struct scan_guest *g = r->g;
	if (atomic_load(&g->failed))
		return 0;
	uint64_t vpn = r->start / PAGE_SIZE_4K + it->first;
	usec_t tp = now_usec();
	ssize_t got = pread_full(g->pagemap_fd, w->pm, it->count * 8, (off_t)(vpn * 8));
	w->pagemap_usec += now_usec() - tp;
	if (got <= 0)
		return got < 0 ? (int)got : -ESRCH;
	uint64_t n = (uint64_t)got / 8;
	struct chunk_state *c = NULL;
	classify_chunk(w, it, n, &c);
	return read_runs(w, it, n, c);
}

static void worker_flush(struct worker *w, struct scan_guest *g)
{
	for (int i = 0; i < GC_N; i++) {
		if (w->c[i])
			atomic_fetch_add(&g->c[i], w->c[i]);
		w->c[i] = 0;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct scan_pass *p = w->p;
	uint64_t cpu0 = thread_cpu_nsec();
	tls_worker = w;
	rcu_register_thread();
	w->tp.win_wall_usec = now_usec();
	w->tp.win_cpu_nsec = cpu0;
	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);
		if (i >= p->nwork)
			break;
		struct work_item *it = &p->work[i];
		int e = scan_chunk(w, it);
		worker_flush(w, it->r->g);
		if (e == -ECANCELED) {
			atomic_store(&p->cancelled, true);
			break;
		}
		if (e < 0) {
			int zero = 0;
			atomic_compare_exchange_strong(&it->r->g->failed, &zero, e);
		}
	}
	atomic_fetch_add(&p->scanned, w->scanned);
	atomic_fetch_add(&p->skipped, w->skipped);
	atomic_fetch_add(&p->vmr, w->vmr);
	atomic_fetch_add(&p->vmr_changed, w->vmr_changed);
	atomic_fetch_add(&p->pagemap_usec, w->pagemap_usec);
	if (w->n_ksm) {
		pthread_mutex_lock(&p->ksm_lock);
		if (p->n_ksm + w->n_ksm > p->cap_ksm) {
			size_t cap = p->n_ksm + w->n_ksm;
			struct ksm_seen *v = realloc(p->ksm_pfns, cap * sizeof(*v));
			if (v) {
				p->ksm_pfns = v;
				p->cap_ksm = cap;
			}
		}
		if (p->n_ksm + w->n_ksm <= p->cap_ksm) {
			memcpy(p->ksm_pfns + p->n_ksm, w->ksm, w->n_ksm * sizeof(*w->ksm));
			p->n_ksm += w->n_ksm;
		}
		pthread_mutex_unlock(&p->ksm_lock);
	}
	rcu_unregister_thread();
	tls_worker = NULL;
	atomic_fetch_add(&p->cpu_nsec, thread_cpu_nsec() - cpu0);
	return NULL;
}

/* ---- results -------------------------------------------------------------- */

struct tally {
	unsigned ng;
	uint64_t *intra, *cross, *mergeable;
	uint64_t *pair;           /* ng * ng, upper triangle used */
	uint64_t saveable, classes;
};

static void tally_class(const struct scan_class_info *c, void *arg)
{
	struct tally *t = arg;
	/* pages KSM would free: all but one, or all when a KSM page holds the
	 * content already */
	uint32_t kept = c->merged ? 0 : 1;
	if (c->pages < 1 + kept)
		return;
	t->saveable += c->pages - kept;
	t->classes++;
	for (unsigned i = 0; i < c->n_guests; i++) {
		unsigned gi = c->guests[i].guest;
		if (c->n_guests > 1)
			t->cross[gi] += c->guests[i].pages;
		else
			t->intra[gi] += c->guests[i].pages;
		t->mergeable[gi] += c->guests[i].pages - (i == 0 ? kept : 0);
		if (t->pair)
			for (unsigned j = i + 1; j < c->n_guests; j++) {
				unsigned a = MIN(gi, c->guests[j].guest), b = MAX(gi, c->guests[j].guest);
				t->pair[(size_t)a * t->ng + b]++;
			}
	}
}


static uint64_t state_bytes_of(struct scan_pass *p, uint64_t *tracked)
{
	uint64_t bytes = 0;
	*tracked = 0;
	for (unsigned i = 0; i < p->ng; i++) {
		struct scan_guest *g = p->g[i];
		bytes += sizeof(*g) + g->n_regions * sizeof(struct scan_region);
		for (size_t j = 0; j < g->n_regions; j++) {
			struct scan_region *r = &g->regions[j];
			*tracked += MIN(r->npages, r->chunks_allocated * CHUNK_PAGES);
			bytes += r->nchunks * sizeof(struct chunk_state *) +
				 r->chunks_allocated * sizeof(struct chunk_state);
		}
	}
	return bytes;
}

static int cmp_ksm_seen(const void *a, const void *b)
{
	const struct ksm_seen *x = a, *y = b;
	return x->pfn < y->pfn ? -1 : x->pfn > y->pfn;
}

/* KSM pages met in this pass: count the distinct ones, and enter one
 * mapping of each into the index (read like any page: pread does not
 * unshare), so that pages not merged yet whose content a KSM page already
 * holds count as mergeable. One read per distinct KSM page per pass. */
static void index_ksm_pages(struct scan_pass *p)
{
	unsigned char buf[SCAN_PAGE_SIZE] __attribute__((aligned(64)));
	if (!p->n_ksm)
		return;
	qsort(p->ksm_pfns, p->n_ksm, sizeof(*p->ksm_pfns), cmp_ksm_seen);
	size_t distinct = 0;
	for (size_t i = 0; i < p->n_ksm; i++) {
		if (i && p->ksm_pfns[i].pfn == p->ksm_pfns[i - 1].pfn)
			continue;
		distinct++;
		uint32_t ref = p->ksm_pfns[i].ref;
		if (ref == UINT32_MAX || cb_read_page(p, ref, buf) < 0)
			continue;
		uint64_t h = p->s->hash(buf, SCAN_PAGE_SIZE);
		if (h == p->s->zero_hash)
			continue;  /* zero-filled: reported apart */
		struct ref_block *b = ref_block(p, ref);
		__atomic_store_n(&b->c->hash[ref % CHUNK_PAGES], h, __ATOMIC_RELEASE);
		(void)scan_index_add_merged(p->ix, ref, b->r->g->idx, h, buf);
	}
	p->n_ksm = distinct;
	/* a KSM page read through one guest is marked accessed for every guest
	 * that maps it */
	for (unsigned i = 0; i < p->ng; i++)
		mark_read(p->g[i]);
}

/* Allocate t's counters (pairs for 2 to 4096 guests); -ENOMEM leaves the rest to tally_free. */
static int tally_init(struct tally *t, unsigned ng)
{
	t->ng = ng;
	t->intra = calloc(ng + 1, sizeof(uint64_t));
	t->cross = calloc(ng + 1, sizeof(uint64_t));
	t->mergeable = calloc(ng + 1, sizeof(uint64_t));
	if (ng >= 2 && ng <= 4096)
		t->pair = calloc((size_t)ng * ng, sizeof(uint64_t));
	if (!t->intra || !t->cross || !t->mergeable || (ng >= 2 && ng <= 4096 && !t->pair))
		return -ENOMEM;
	return 0;
}

/* Free what tally_init allocated. */
static void tally_free(struct tally *t)
{
	free(t->intra);
	free(t->cross);
	free(t->mergeable);
	free(t->pair);
}

/* Note how guest g's pass ended, then fill o with its counts (i: its index in t). */
static void guest_stats(struct scan_guest *g, const struct tally *t, unsigned i,
			struct scanner_guest_stats *o)
{
	int failed = atomic_load(&g->failed);
	if (failed) {
		g->last_error = failed;
		if (failed == -ESRCH || failed == -ENOENT)
			g->alive = false;
	}
	snprintf(o->name, sizeof(o->name), "%s", g->name);
	o->pid = g->pid;
	o->alive = g->alive;
	o->last_error = g->last_error;
	o->regions = g->n_regions;
	for (size_t j = 0; j < g->n_regions; j++)
		o->region_pages += g->regions[j].npages;
	o->present_pages = g->c[GC_PRESENT];
	o->swapped_pages = g->c[GC_SWAPPED];
	o->zero_page_pages = g->c[GC_ZERO_PAGE];
	o->zero_filled_pages = g->c[GC_ZERO_FILLED];
	o->ksm_merged_pages = g->c[GC_KSM];
	o->volatile_pages = g->c[GC_VOLATILE];
	o->dup_intra_pages = t->intra[i];
	o->dup_cross_pages = t->cross[i];
	o->mergeable_pages = t->mergeable[i];
	o->unique_pages = g->c[GC_HASHED] - t->intra[i] - t->cross[i];
	uint64_t accounted = o->zero_page_pages + o->zero_filled_pages + o->ksm_merged_pages +
			     g->c[GC_HASHED] + o->volatile_pages;
	o->unread_pages = o->present_pages > accounted ? o->present_pages - accounted : 0;
}

/* The pairs of guests sharing contents, from t's pair counts if kept, into r; 0 or -ENOMEM. */
static int pair_stats(const struct tally *t, struct scanner_results *r)
{
	if (!t->pair)
		return 0;
	unsigned n = 0;
	for (size_t k = 0; k < (size_t)t->ng * t->ng; k++)
		n += t->pair[k] != 0;
	r->pairs = calloc(n + 1, sizeof(*r->pairs));
	if (!r->pairs)
		return -ENOMEM;
	for (unsigned a = 0; a < t->ng; a++)
		for (unsigned b = a + 1; b < t->ng; b++)
			if (t->pair[(size_t)a * t->ng + b])
				r->pairs[r->n_pairs++] = (struct scanner_pair_stats){
					a, b, t->pair[(size_t)a * t->ng + b] };
	return 0;
}

/* The pass's totals into r: times, rates, the prediction and the scanner's memory. */
static void pass_totals(struct scan_pass *p, const struct tally *t, uint64_t ksm_pages,
			usec_t start, usec_t wall, struct scanner_results *r)
{
	r->last_pass_start_usec = start;
	r->last_pass_usec = wall;
	r->last_pass_cpu_sec = (double)atomic_load(&p->cpu_nsec) / 1e9;
	r->pages_scanned = p->scanned;
	r->pages_skipped = p->skipped;
	r->pages_vm_readv = p->vmr;
	r->vm_readv_changed = p->vmr_changed;
	r->pages_scanned_per_sec = wall ? (double)r->pages_scanned * 1e6 / (double)wall : 0;
	uint64_t pm_usec = atomic_load(&p->pagemap_usec);
	r->pages_skipped_per_sec = pm_usec ? (double)r->pages_skipped * 1e6 / (double)pm_usec : 0;
	r->dup_saveable_pages = t->saveable;
	r->ksm_saved_pages = ksm_pages > p->n_ksm ? ksm_pages - p->n_ksm : 0;
	r->predicted_sharing_pages = r->dup_saveable_pages + r->ksm_saved_pages;
	r->dup_classes = t->classes;
	r->hash_collisions = scan_index_collisions(p->ix);
	/* the index lives for the pass only: it counts in the peak */
	r->state_bytes = state_bytes_of(p, &r->tracked_pages);
	r->peak_state_bytes = r->state_bytes + scan_index_peak_bytes(p->ix);
	if (r->tracked_pages) {
		r->bytes_per_tracked_page = (double)r->state_bytes / (double)r->tracked_pages;
		r->peak_bytes_per_tracked_page = (double)r->peak_state_bytes / (double)r->tracked_pages;
	}
	r->incremental = p->s->incremental;
}

/* Build the results of a finished pass and publish them. */
static int publish(struct scan_pass *p, usec_t start, usec_t wall)
{
	struct scanner *s = p->s;
	struct scanner_results r = { 0 };
	struct tally t = { .ng = p->ng };
	int ret = -ENOMEM;

	int tr = tally_init(&t, p->ng);
	r.guests = calloc(p->ng + 1, sizeof(*r.guests));
	if (tr < 0 || !r.guests)
		goto out;
	scan_index_walk(p->ix, tally_class, &t);

	uint64_t ksm_pages = 0;
	r.n_guests = p->ng;
	for (unsigned i = 0; i < p->ng; i++) {
		guest_stats(p->g[i], &t, i, &r.guests[i]);
		ksm_pages += r.guests[i].ksm_merged_pages;
		r.zero_filled_pages += r.guests[i].zero_filled_pages;
	}
	if (pair_stats(&t, &r) < 0)
		goto out;
	pass_totals(p, &t, ksm_pages, start, wall, &r);

	pthread_mutex_lock(&s->res_lock);
	r.passes = s->res.passes + 1;
	scanner_results_free(&s->res);
	s->res = r;
	pthread_mutex_unlock(&s->res_lock);
	r.guests = NULL;
	r.pairs = NULL;
	ret = 0;
out:
	free(r.guests);
	free(r.pairs);
	tally_free(&t);
	return ret;
}

/* ---- a pass -------------------------------------------------------------- */

/* Resident pages of a process (/proc/PID/statm), or fallback. */
static uint64_t guest_resident_pages(pid_t pid, uint64_t fallback)
{
	char path[64], *text;
	unsigned long long size, res;
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	if (read_file(path, &text, NULL) < 0)
		return fallback;
	int n = sscanf(text, "%llu %llu", &size, &res);
	free(text);
	return n == 2 ? res * (uint64_t)(sysconf(_SC_PAGESIZE) / PAGE_SIZE_4K) : fallback;
}

static int open_proc(pid_t pid, const char *what)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void pass_close_guests(struct scan_pass *p)
{
	for (unsigned i = 0; i < p->ng; i++) {
		struct scan_guest *g = p->g[i];
		if (g->mem_fd >= 0)
			close(g->mem_fd);
		if (g->pagemap_fd >= 0)
			close(g->pagemap_fd);
		if (g->pidfd >= 0)
			close(g->pidfd);
		if (g->ksm_stat_fd >= 0)
			close(g->ksm_stat_fd);
		g->mem_fd = g->pagemap_fd = g->pidfd = g->ksm_stat_fd = -1;
	}
}

/* Prepare one guest for the pass: regions and file descriptors. */
static void pass_open_guest(struct scan_guest *g, bool pread_only)
{
	memset(g->c, 0, sizeof(g->c));
	atomic_store(&g->failed, 0);
	atomic_store(&g->no_vmr, false);
	int r = guest_refresh_regions(g);
	if (r >= 0 && (r = open_proc(g->pid, "mem")) >= 0) {
		g->mem_fd = r;
		r = open_proc(g->pid, "pagemap");
		if (r >= 0)
			g->pagemap_fd = r;
	}
	/* process_vm_readv names the process by pid: a pidfd tells whether
	 * that pid still names the guest (no pidfd, no process_vm_readv) */
	if (r >= 0 && !pread_only) {
		g->pidfd = (int)syscall(SYS_pidfd_open, g->pid, 0);
		int k = open_proc(g->pid, "ksm_stat");
		g->ksm_stat_fd = k >= 0 ? k : -1;
	}
	if (r < 0) {
		atomic_store(&g->failed, r);
		if (r == -ENOENT || r == -ESRCH) {
			guest_drop_regions(g);
			g->alive = false;
		}
		g->last_error = r;
		log_debug("scanner: guest %s (pid %d): %s", g->name, (int)g->pid, strerror(-r));
		return;
	}
	g->alive = true;
	g->last_error = 0;
}

/* Free the guests removed since the last pass, take the others into p->g; 0 or -ENOMEM. */
static int pass_take_guests(struct scan_pass *p)
{
	struct scanner *s = p->s;
	struct scan_guest **prev;
	pthread_mutex_lock(&s->lock);
	for (prev = &s->guests; *prev;) {
		struct scan_guest *g = *prev;
		if (g->removed) {
			*prev = g->next;
			guest_free(g);
		} else {
			p->ng++;
			prev = &g->next;
		}
	}
	p->g = calloc(p->ng + 1, sizeof(*p->g));
	if (!p->g) {
		pthread_mutex_unlock(&s->lock);
		return -ENOMEM;
	}
	p->ng = 0;
	for (struct scan_guest *g = s->guests; g; g = g->next) {
		g->idx = p->ng;
		p->g[p->ng++] = g;
	}
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Open every guest; returns the work items of those that opened, adds their pages to the sums. */
static size_t pass_open_guests(struct scan_pass *p, uint64_t *total, uint64_t *resident)
{
	size_t nwork = 0;
	for (unsigned i = 0; i < p->ng; i++) {
		struct scan_guest *g = p->g[i];
		pass_open_guest(g, p->s->conf.pread_only);
		if (atomic_load(&g->failed))
			continue;
		uint64_t gpages = 0;
		for (size_t j = 0; j < g->n_regions; j++) {
			gpages += g->regions[j].npages;
			nwork += g->regions[j].nchunks;
		}
		*total += gpages;
		*resident += MIN(gpages, guest_resident_pages(g->pid, gpages));
	}
	return nwork;
}

/* Open the guests, plan one work item per chunk, make the ref blocks and the index; 0 or -ENOMEM. */
static int pass_plan(struct scan_pass *p)
{
	/* Work items are chunks; the index is sized by what can be read at
	 * most: the guests' resident pages (statm), not their address space. */
	uint64_t total = 0, resident = 0;
	size_t nwork = pass_open_guests(p, &total, &resident);
	p->work = calloc(nwork + 1, sizeof(*p->work));
	p->n_blocks = MIN(nwork, (size_t)(SCAN_REF_MAX / CHUNK_PAGES));
	p->blocks = calloc(p->n_blocks + 1, sizeof(*p->blocks));
	if (!p->work || !p->blocks)
		return -ENOMEM;
	for (unsigned i = 0; i < p->ng; i++) {
		struct scan_guest *g = p->g[i];
		if (atomic_load(&g->failed))
			continue;
		for (size_t j = 0; j < g->n_regions; j++) {
			struct scan_region *r = &g->regions[j];
			for (uint64_t f = 0; f < r->npages; f += CHUNK_PAGES)
				p->work[p->nwork++] =
					(struct work_item){ r, f, MIN(CHUNK_PAGES, r->npages - f) };
		}
	}
	p->ix = scan_index_new(MIN(total, resident + CHUNK_PAGES), p->s->hash, &index_ops, p);
	return p->ix ? 0 : -ENOMEM;
}

/* Give w its buffers for pass p; false if one it needs is missing (ra is optional). */
static bool worker_init(struct worker *w, struct scan_pass *p, int kpf)
{
	size_t batch = p->s->conf.read_batch_bytes;
	w->p = p;
	w->kpf_fd = kpf;
	w->pm = malloc(CHUNK_PAGES * sizeof(uint64_t));
	w->pm2 = malloc(batch / PAGE_SIZE_4K * sizeof(uint64_t));
	w->hs = malloc(batch / PAGE_SIZE_4K * sizeof(uint64_t));
	if (posix_memalign((void **)&w->buf, 4096, batch))
		w->buf = NULL;
	if (posix_memalign((void **)&w->ra, 4096, RA_PAGES * PAGE_SIZE_4K))
		w->ra = NULL;  /* then one page per read-back */
	return w->pm && w->pm2 && w->buf && w->hs;
}

/* Free what worker_init and the worker's run allocated. */
static void worker_release(struct worker *w)
{
	free(w->pm);
	free(w->pm2);
	free(w->hs);
	free(w->buf);
	free(w->ra);
	free(w->ksm);
}

/* Run conf.threads workers until the work is done or cancelled; returns how many ran. */
static unsigned pass_run_workers(struct scan_pass *p)
{
	p->nthreads = p->s->conf.threads;
	struct worker *w = calloc(p->nthreads, sizeof(*w));
	pthread_t *tid = calloc(p->nthreads, sizeof(*tid));
	int kpf = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	unsigned started = 0;
	if (w && tid) {
		for (unsigned i = 0; i < p->nthreads; i++) {
			if (!worker_init(&w[i], p, kpf))
				break;
			if (pthread_create(&tid[i], NULL, worker_main, &w[i]) != 0)
				break;
			started++;
		}
		for (unsigned i = 0; i < started; i++)
			pthread_join(tid[i], NULL);
	}
	if (kpf >= 0)
		close(kpf);
	if (w)
		for (unsigned i = 0; i < p->nthreads; i++)
			worker_release(&w[i]);
	free(w);
	free(tid);
	return started;
}

/* Close the guests' files and free what the pass allocated. */
static void pass_release(struct scan_pass *p)
{
	if (p->g)
		pass_close_guests(p);
	scan_index_free(p->ix);
	free(p->blocks);
	free(p->work);
	free(p->g);
	free(p->ksm_pfns);
	pthread_mutex_destroy(&p->ksm_lock);
}

/* Run one pass over all guests with conf.threads workers; called from a
 * thread registered with RCU. Returns 0, -ECANCELED or -ENOMEM. */
static int run_pass(struct scanner *s)
{
	struct scan_pass p = { .s = s, .id = ++s->pass_seq };
	int ret = -ENOMEM;
	usec_t start = now_usec();

	pthread_mutex_init(&p.ksm_lock, NULL);
	if (pass_take_guests(&p) < 0 || pass_plan(&p) < 0 || !pass_run_workers(&p))
		goto out;
	if (atomic_load(&p.cancelled)) {
		ret = -ECANCELED;
		goto out;
	}
	index_ksm_pages(&p);
	ret = publish(&p, start, now_usec() - start);
	if (ret < 0)
		log_warn("scanner: publishing results: %s, ignoring", strerror(-ret));
out:
	pass_release(&p);
	return ret;
}

/* ---- threads -------------------------------------------------------------- */

static bool begin_pass(struct scanner *s)
{
	pthread_mutex_lock(&s->lock);
	bool ok = !s->in_pass;
	s->in_pass = true;
	pthread_mutex_unlock(&s->lock);
	return ok;
}

static void end_pass(struct scanner *s)
{
	pthread_mutex_lock(&s->lock);
	s->in_pass = false;
	pthread_mutex_unlock(&s->lock);
}

struct once_arg {
	struct scanner *s;
	int ret;
};

static void *once_main(void *arg)
{
	struct once_arg *a = arg;
	rcu_register_thread();
	a->ret = run_pass(a->s);
	rcu_unregister_thread();
	return NULL;
}

int scanner_scan_once(struct scanner *s)
{
	pthread_mutex_lock(&s->run_lock);
	bool bg = s->bg_running;
	pthread_mutex_unlock(&s->run_lock);
	if (bg || !begin_pass(s))
		return -EBUSY;
	struct once_arg a = { s, 0 };
	pthread_t t;
	int r = pthread_create(&t, NULL, once_main, &a);
	if (r == 0) {
		pthread_join(t, NULL);
		r = a.ret;
	} else {
		r = -r;
	}
	end_pass(s);
	return r;
}

static void *bg_main(void *arg)
{
	struct scanner *s = arg;
	rcu_register_thread();
	for (;;) {
		pthread_mutex_lock(&s->run_lock);
		bool stop = s->stopping;
		pthread_mutex_unlock(&s->run_lock);
		if (stop)
			break;
		if (begin_pass(s)) {
			int r = run_pass(s);
			end_pass(s);
			if (r < 0 && r != -ECANCELED)
				log_warn("scanner: pass failed: %s, ignoring", strerror(-r));
		}
		pthread_mutex_lock(&s->run_lock);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		usec_t wait = atomic_load(&s->interval_usec);
		uint64_t ns = (uint64_t)ts.tv_nsec + (wait % USEC_PER_SEC) * 1000;
		ts.tv_sec += (time_t)(wait / USEC_PER_SEC + ns / 1000000000ULL);
		ts.tv_nsec = (long)(ns % 1000000000ULL);
		while (!s->stopping &&
		       pthread_cond_timedwait(&s->run_cond, &s->run_lock, &ts) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&s->run_lock);
	}
	rcu_unregister_thread();
	return NULL;
}

int scanner_start(struct scanner *s)
{
	pthread_mutex_lock(&s->run_lock);
	if (s->bg_running) {
		pthread_mutex_unlock(&s->run_lock);
		return 0;
	}
	s->stopping = false;
	int r = pthread_create(&s->bg, NULL, bg_main, s);
	if (r == 0)
		s->bg_running = true;
	pthread_mutex_unlock(&s->run_lock);
	return -r;
}

void scanner_stop(struct scanner *s)
{
	pthread_mutex_lock(&s->run_lock);
	if (!s->bg_running) {
		pthread_mutex_unlock(&s->run_lock);
		return;
	}
	s->stopping = true;
	pthread_cond_broadcast(&s->run_cond);
	pthread_mutex_unlock(&s->run_lock);
	pthread_join(s->bg, NULL);
	pthread_mutex_lock(&s->run_lock);
	s->bg_running = false;
	s->stopping = false;
	pthread_mutex_unlock(&s->run_lock);
}

void scanner_free(struct scanner *s)
{
	if (!s)
		return;
	scanner_stop(s);
	while (s->guests) {
		struct scan_guest *g = s->guests;
		s->guests = g->next;
		guest_free(g);
	}
	scanner_results_free(&s->res);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->run_lock);
	pthread_cond_destroy(&s->run_cond);
	pthread_mutex_destroy(&s->rate_lock);
	pthread_mutex_destroy(&s->res_lock);
	free(s);
}

/* ---- tunables -------------------------------------------------------------- */

void scanner_set_pages_per_sec(struct scanner *s, uint64_t pages_per_sec)
{
	atomic_store(&s->pages_per_sec, pages_per_sec);
}

void scanner_set_cpu_percent(struct scanner *s, unsigned cpu_percent)
{
	atomic_store(&s->cpu_percent, MIN(cpu_percent, 100 * s->conf.threads));
}

void scanner_set_pass_interval(struct scanner *s, usec_t interval_usec)
{
	atomic_store(&s->interval_usec, interval_usec);
	pthread_mutex_lock(&s->run_lock);
	pthread_cond_broadcast(&s->run_cond);  /* re-arm the wait */
	pthread_mutex_unlock(&s->run_lock);
}

void scanner_pause(struct scanner *s)
{
	pthread_mutex_lock(&s->run_lock);
	s->paused = true;
	pthread_mutex_unlock(&s->run_lock);
}

void scanner_resume(struct scanner *s)
{
	pthread_mutex_lock(&s->run_lock);
	s->paused = false;
	pthread_cond_broadcast(&s->run_cond);
	pthread_mutex_unlock(&s->run_lock);
}

bool scanner_is_paused(struct scanner *s)
{
	pthread_mutex_lock(&s->run_lock);
	bool p = s->paused;
	pthread_mutex_unlock(&s->run_lock);
	return p;
}

/* ---- results copy ---------------------------------------------------------- */

int scanner_get_results(struct scanner *s, struct scanner_results *out)
{
	pthread_mutex_lock(&s->res_lock);
	*out = s->res;
	out->guests = NULL;
	out->pairs = NULL;
	if (s->res.passes) {
		out->guests = calloc(s->res.n_guests + 1, sizeof(*out->guests));
		out->pairs = calloc(s->res.n_pairs + 1, sizeof(*out->pairs));
		if (out->guests && out->pairs) {
			if (s->res.n_guests)
				memcpy(out->guests, s->res.guests, s->res.n_guests * sizeof(*out->guests));
			if (s->res.n_pairs)
				memcpy(out->pairs, s->res.pairs, s->res.n_pairs * sizeof(*out->pairs));
		}
	}
	pthread_mutex_unlock(&s->res_lock);
	if (out->passes == 0 || !out->guests) {
		/* before the first pass: the registered guests with zero counts */
		if (out->passes && !out->guests)
			goto nomem;
		free(out->pairs);
		out->pairs = NULL;
		out->n_pairs = 0;
		pthread_mutex_lock(&s->lock);
		unsigned n = 0;
		for (struct scan_guest *g = s->guests; g; g = g->next)
			n += !g->removed;
		out->guests = calloc(n + 1, sizeof(*out->guests));
		out->n_guests = 0;
		if (out->guests)
			for (struct scan_guest *g = s->guests; g; g = g->next)
				if (!g->removed) {
					struct scanner_guest_stats *o = &out->guests[out->n_guests++];
					snprintf(o->name, sizeof(o->name), "%s", g->name);
					o->pid = g->pid;
					o->alive = g->alive;
				}
		pthread_mutex_unlock(&s->lock);
		if (!out->guests)
			goto nomem;
	}
	return 0;
nomem:
	scanner_results_free(out);
	return -ENOMEM;
}

void scanner_results_free(struct scanner_results *r)
{
	if (!r)
		return;
	free(r->guests);
	free(r->pairs);
	r->guests = NULL;
	r->pairs = NULL;
	r->n_guests = r->n_pairs = 0;
}
