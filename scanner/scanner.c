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
 *    process_vm_readv names the process by pid, so the pidfd of the
 *    process found as the guest (collect/sample.h) is polled after every
 *    call: if the guest exited (its pid may now name another process) the
 *    data is dropped and the guest's pass ends. A guest without a pidfd
 *    (a kernel before 5.3) is read with pread only. If the call is refused (EPERM,
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
 *    time (scan_cb_read_page; those pagemap shows present right before) and
 *    serves the next read-backs from them. On 4 processes of 512 MiB, half
 *    of each the same in all (bench/ksm_fill, 65,600 classes), a pass took
 *    1.45 CPU-s with one pread per read-back and 0.55 with read-ahead
 *    (build/tests/scanner_probe -n 3 over the four), the same counts.
 *
 * Rescan backoff (scan_backoff.h, scanner.backoff_max_interval). A page
 * whose content stayed unique and unchanged over three reads is read every
 * 2nd pass, then every 4th, 8th, 16th and 32nd, as KSM's smart_scan skips
 * pages that keep failing to merge; a changed hash, a duplicate found, a
 * zero-filled or an absent page brings it back to every pass, and no page
 * is left unread longer than the bound (in time, against the passes'
 * start times) nor 32 passes. Stage 1 decides it from the page's backoff
 * byte. A page left unread is not forgotten: it enters the index by the
 * hash of its last read (scan_index_add_unread), costing a first-stage
 * slot and no read, so a page read in the pass that has its content still
 * meets it; only then is it read back, and byte-compared, like any first
 * page of a class (changed since: not entered, counted volatile, read
 * again next pass). So what is lost is the change of a backed-off page
 * itself, seen on its next read, within the bound; its new content counts
 * from the pass after (a changed page is volatile for one pass). It counts
 * as its last read found it, and the results say how many pages a pass
 * left unread and how old the oldest read they count by is, per guest.
 * The phase of each chunk spreads the reads of backed-off memory over the
 * passes (a slice of it per pass). Measured on 1 GiB, 90% unique, bound
 * at 8 to 10 passes (docs/PERFORMANCE.md): 0.19 CPU-s per pass once
 * converged against 0.46 reading every page; what a pass still spends on a
 * page left unread is its pagemap entry and its index slot, about 0.5 us.
 *
 * Quiet backoff (scanner.pass_interval_max). The rescan backoff still
 * walks every page's pagemap entry, kpageflags for the merged ones and one
 * read of each KSM page every pass: once converged, a pass costs in
 * proportion to the memory, changed or not. So the pause between passes
 * grows while there is nothing to find. A pass is quiet when it leaves
 * nothing for KSM to merge (dup_saveable_pages at most one page in 1024 of
 * those present, or 64), saw no more pages change than that (volatile),
 * failed on no guest, and read the same guests with the same RAM regions
 * as the pass before. After QUIET_PASSES quiet passes in a row the pause
 * doubles per quiet pass, up to pass_interval_max; any pass that is not
 * quiet brings it back to pass_interval. Waiting is done a pass_interval
 * at a time, and a wait ends early, for a pass at once, when a guest is
 * added (pass_wanted) or when the resident size the tick last told for a
 * guest (scanner_guest_set_resident) moved by more than 1/64 (and 64
 * pages) from what the last pass saw: a guest booting or filling memory
 * is read at pass_interval. What waits longer is a change that moves no
 * resident size: a guest that rewrites memory it holds into content other
 * guests have is found within pass_interval_max instead of pass_interval.
 *
 * Per tracked page the scanner keeps 8 bytes of hash, 1 bit "hashed
 * before" and 1 byte of backoff state between passes, in chunks of 32 MiB
 * of address space allocated when a chunk first holds a page to read (a
 * sparse guest costs 8 bytes per untouched chunk); the index adds about
 * 5.2 bytes per page during a pass, 1 byte of class-table buckets and a
 * 64-byte class per duplicated content, all freed at the end of the pass.
 * So the peak depends on how many contents repeat: 14.3 bytes per page on
 * unique memory before the backoff byte (15.3 with it), 30.5 on the four
 * processes above (one class per 8 pages).
 *
 * The index's limit: 8 TiB of guest memory per pass. The index names a
 * page by a 31-bit reference (the top bit of a first-stage slot is a flag,
 * scan_index.h), so a pass indexes at most SCAN_REF_MAX pages. References
 * are given a chunk at a time (8192 for any chunk that holds, or once
 * held, a page to read, or holds a KSM page: a sparse chunk spends them
 * all) in the order the pass reaches the chunks: the guests in the order
 * they were added, each guest's RAM regions in address order. The chunks
 * reached after the limit are still read and hashed, and their
 * zero-filled and volatile pages count as such; their other pages are
 * compared with no page, and count neither unique nor duplicate but as
 * pages beyond the index limit (per guest and
 * results.pages_beyond_index_limit): the prediction misses whatever
 * duplicates they hold, and a KSM page met only there is not entered
 * either. Nor does the backoff leave them unread (it lives on refs). Each
 * pass that meets the limit logs one warning with the count. Lifting the
 * limit would take 64-bit slots, 5.2 more bytes per page on every host for
 * hosts beyond 8 TiB of guest memory. Tests lower the limit
 * (scanner_conf.index_limit_pages, whole chunks; not a ksmd.conf key) to
 * run it on a few MiB.
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
 * pass is a full pass, and the pagemap stage is what keeps it cheap.
 *
 * Where it lives: this file holds the main entry points of scanner.h
 * (new, scan once, start, stop, free, tunables, results), the probes at
 * start and the pass threads; scanner_internal.h the structures the other
 * files share; scan_guests.c the guests (scanner_add_guest & co) and their
 * regions; scan_pass.c a pass's planning, pacing and worker threads;
 * scan_read.c steps 1 to 3 (pagemap, pread, process_vm_readv, classifying
 * and hashing pages); scan_publish.c step 4 and the results (per guest,
 * per pair of guests). */
#include "scanner/scanner_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <urcu.h>

#include "common/log.h"
#include "scanner/scan_hash.h"

static uint64_t xxh3_page(const void *data, size_t len)
{
	return scan_hash_xxh3(data, len);
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
		.index_limit_pages = SCAN_REF_MAX,
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
	    (conf->read_batch_bytes && conf->read_batch_bytes < PAGE_SIZE_4K) ||
	    conf->index_limit_pages > SCAN_REF_MAX) {
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
	atomic_store(&s->backoff_max_usec, conf->backoff_max_usec);
	atomic_store(&s->interval_max_usec, conf->pass_interval_max_usec);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->run_lock, NULL);
	pthread_cond_init(&s->run_cond, NULL);
	pthread_mutex_init(&s->rate_lock, NULL);
	pthread_mutex_init(&s->res_lock, NULL);
	return s;
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
	a->ret = scan_run_pass(a->s);
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


/* Is the pass whose results r are about to be published quiet (see the
 * essay)? Sets r's quiet fields, the run of quiet passes and the guests'
 * signature; called by the pass's publish (the pass thread), before r
 * is published, so a reader never sees r without them. */
void scan_quiet_update(struct scanner *s, struct scanner_results *r, uint64_t passes)
{
	uint64_t present = 0, changed = 0, sig = r->n_guests;
	bool failed = false;
	for (unsigned i = 0; i < r->n_guests; i++) {
		const struct scanner_guest_stats *g = &r->guests[i];
		present += g->present_pages;
		changed += g->volatile_pages;
		failed |= g->last_error != 0 || !g->alive;
		sig = (sig ^ (uint64_t)g->pid ^ g->region_pages ^ (g->regions << 40)) * 0x100000001b3ULL;
	}
	uint64_t slack = MAX(present / 1024, 64);
	bool quiet = passes > 1 && !failed && sig == s->quiet_sig &&
		     r->dup_saveable_pages <= slack && changed <= slack;
	s->quiet_sig = sig;
	s->quiet_passes = quiet ? s->quiet_passes + 1 : 0;
	r->quiet = quiet;
	r->quiet_passes = s->quiet_passes;
	r->next_pause_usec = scanner_quiet_pause(atomic_load(&s->interval_usec),
						 atomic_load(&s->interval_max_usec), s->quiet_passes);
}

/* The pause after a pass with quiet_passes quiet passes in a row, from the
 * pass interval and its maximum (pure, for unit tests). */
usec_t scanner_quiet_pause(usec_t interval, usec_t max, unsigned quiet_passes)
{
	if (max <= interval || quiet_passes < QUIET_PASSES)
		return interval;
	unsigned k = quiet_passes - QUIET_PASSES + 1;
	if (interval == 0)
		return 0;  /* back to back: never a pause */
	if (k >= 32 || interval << k >= max)
		return MAX(max, interval);
	return interval << k;
}

/* Has a guest's resident size moved far enough from what the last pass
 * saw to read it now? */
static bool resident_moved(struct scanner *s)
{
	bool moved = false;
	pthread_mutex_lock(&s->lock);
	for (struct scan_guest *g = s->guests; g && !moved; g = g->next) {
		if (g->removed)
			continue;
		uint64_t now = atomic_load(&g->resident_pages), then = atomic_load(&g->resident_at_pass);
		uint64_t d = now > then ? now - then : then - now;
		moved = d > MAX(then / 64, 64);
	}
	pthread_mutex_unlock(&s->lock);
	return moved;
}

static void deadline_after(struct timespec *ts, usec_t wait)
{
	clock_gettime(CLOCK_REALTIME, ts);
	uint64_t ns = (uint64_t)ts->tv_nsec + (wait % USEC_PER_SEC) * 1000;
	ts->tv_sec += (time_t)(wait / USEC_PER_SEC + ns / 1000000000ULL);
	ts->tv_nsec = (long)(ns % 1000000000ULL);
}

/* Wait the pause after a pass (run_lock held): a pass_interval at a time,
 * until the pause is over (from the interval and its maximum as they are
 * now: a live change takes effect in the wait), the scanner stops, a pass
 * is wanted, or a guest's resident size moved. */
static void wait_pause(struct scanner *s)
{
	usec_t start = now_usec();
	for (;;) {
		usec_t interval = atomic_load(&s->interval_usec);
		usec_t pause = scanner_quiet_pause(interval, atomic_load(&s->interval_max_usec),
						   s->quiet_passes);
		usec_t waited = now_usec() - start;
		if (waited >= pause)
			return;
		struct timespec ts;
		deadline_after(&ts, MIN(pause - waited, MAX(interval, 10 * USEC_PER_MSEC)));
		int r = 0;
		while (!s->stopping && !s->pass_wanted && r != ETIMEDOUT)
			r = pthread_cond_timedwait(&s->run_cond, &s->run_lock, &ts);
		if (s->stopping || s->pass_wanted)
			return;
		pthread_mutex_unlock(&s->run_lock);
		bool moved = resident_moved(s);
		pthread_mutex_lock(&s->run_lock);
		if (moved) {
			s->quiet_passes = 0;
			return;
		}
	}
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
			int r = scan_run_pass(s);
			end_pass(s);
			if (r < 0 && r != -ECANCELED)
				log_warn("scanner: pass failed: %s, ignoring", strerror(-r));
			if (r < 0)
				s->quiet_passes = 0;
		}
		pthread_mutex_lock(&s->run_lock);
		if (!s->pass_wanted)
			wait_pause(s);
		s->pass_wanted = false; /* the pass about to start reads every guest */
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
		scan_guest_free(g);
	}
	scanner_results_free(&s->res);
	scan_ksm_hashes_free(&s->ksm_known);
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

void scanner_set_backoff_max(struct scanner *s, usec_t max_usec)
{
	atomic_store(&s->backoff_max_usec, max_usec);
}

void scanner_set_pass_interval_max(struct scanner *s, usec_t max_usec)
{
	atomic_store(&s->interval_max_usec, max_usec);
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
