/* Unit tests of the host-side working set: its use by the policy (made-up
 * snapshots), the smaps parser (made-up text), and the tracker's cycle on
 * this test's own process. */
#include "policy/policy.h"
#include "act/wss_reset.h"
#include "collect/wss.h"
#include "tests/unit/harness.h"
#include "tests/unit/policy_fixture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void host_active(struct policy_guest *g, uint64_t bytes, usec_t age)
{
	g->host_active_valid = true;
	g->host_active_bytes = bytes;
	g->host_active_age_usec = age;
}


/* The lying guest: its stats say 50% available, the host saw 90% touched.
 * No idle trim while the signal is fresh; without it (off, stale, absent)
 * the trim goes on as before. */
static void test_trim_respects_host_active(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture(&s, 1);
	host_active(&s.guests[0], 1843 * MIB, 3 * USEC_PER_SEC);
	policy_state_init(&st);
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 0);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_OK);

	s.conf.host_wss = false;
	policy_state_init(&st);
	CU_ASSERT_EQUAL_FATAL(policy_decide(&s, &st, &p), 1);
	CU_ASSERT_EQUAL(p.actions[0].why, POLICY_WHY_IDLE_TRIM);

	s.conf.host_wss = true;
	s.guests[0].host_active_age_usec = 3 * s.conf.host_wss_interval_usec + 1;  /* stale */
	policy_state_init(&st);
	CU_ASSERT_EQUAL_FATAL(policy_decide(&s, &st, &p), 1);
	CU_ASSERT_EQUAL(p.actions[0].why, POLICY_WHY_IDLE_TRIM);

	s.guests[0].host_active_valid = false;
	policy_state_init(&st);
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 1);

	/* A host figure below the stats' changes nothing; the reason says both. */
	host_active(&s.guests[0], 300 * MIB, 0);
	policy_state_init(&st);
	CU_ASSERT_EQUAL_FATAL(policy_decide(&s, &st, &p), 1);
	CU_ASSERT_EQUAL(p.actions[0].why, POLICY_WHY_IDLE_TRIM);
	CU_ASSERT(strstr(p.actions[0].reason, "host saw 15% touched") != NULL);
}

/* The trim takes only what lies above host active + the min-free margin. */
static void test_trim_floor_is_host_active(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture(&s, 1);
	s.guests[0].stat_available_bytes = 1600 * MIB;  /* 78% available */
	s.conf.max_shrink_percent_per_tick = 50;        /* a big step, so the floor binds */
	uint64_t ha = 1000 * MIB;                       /* 49% touched: idle 51% > 30% */
	host_active(&s.guests[0], ha, 0);
	policy_state_init(&st);
	CU_ASSERT_EQUAL_FATAL(policy_decide(&s, &st, &p), 1);
	CU_ASSERT_EQUAL(p.actions[0].why, POLICY_WHY_IDLE_TRIM);
	uint64_t floor = ha + 2 * GIB / 10;
	CU_ASSERT(p.actions[0].target_bytes >= floor);
	/* without the signal the same step goes lower */
	s.conf.host_wss = false;
	struct policy_plan q;
	policy_state_init(&st);
	CU_ASSERT_EQUAL_FATAL(policy_decide(&s, &st, &q), 1);
	CU_ASSERT(q.actions[0].target_bytes < p.actions[0].target_bytes);
}

/* Host pressure: never below host active + margin either. */
static void test_pressure_floor_is_host_active(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture(&s, 1);
	s.conf.budget_bytes = 1 * GIB;                  /* far over: critical */
	host_active(&s.guests[0], 1750 * MIB, 0);
	policy_state_init(&st);
	CU_ASSERT_EQUAL_FATAL(policy_decide(&s, &st, &p), 1);
	CU_ASSERT_EQUAL(p.host_level, POLICY_HOST_CRITICAL);
	CU_ASSERT_EQUAL(p.actions[0].why, POLICY_WHY_HOST_PRESSURE);
	CU_ASSERT(p.actions[0].target_bytes >= 1750 * MIB + 2 * GIB / 10);
	CU_ASSERT(strstr(p.actions[0].reason, "active 85%") != NULL);
	/* touched almost all: nothing can be taken */
	host_active(&s.guests[0], 1900 * MIB, 0);
	policy_state_init(&st);
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 0);
}

/* Shares per active page use the host figure: of two guests alike in their
 * stats, the one the host saw busy keeps its memory. */
static void test_rho_uses_host_active(void)
{
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture(&s, 2);
	s.conf.idle_trim_percent = 0;
	s.conf.budget_bytes = 4 * GIB - 50 * MIB;       /* a little over */
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_EQUAL(p.n_actions, 2);                /* alike: both give */
	host_active(&s.guests[1], 1900 * MIB, 0);
	policy_state_init(&st);
	policy_decide(&s, &st, &p);
	CU_ASSERT_PTR_NOT_NULL(policy_find_action(&p, "g0"));
	CU_ASSERT_PTR_NULL(policy_find_action(&p, "g1"));
}

static void test_knobs(void)
{
	struct policy_conf c;
	char err[256];
	policy_conf_defaults(&c);
	CU_ASSERT_TRUE(c.host_wss);
	CU_ASSERT_EQUAL(c.host_wss_interval_usec, 10 * USEC_PER_SEC);
	bool found = false;
	for (size_t i = 0; i < policy_n_knobs; i++)
		if (!strcmp(policy_knobs[i].name, "host_wss_interval")) {
			found = true;
			CU_ASSERT_STRING_EQUAL(policy_knobs[i].def, "10s");
			CU_ASSERT_TRUE(policy_knobs[i].live);
		}
	CU_ASSERT_TRUE(found);
	c.host_wss_interval_usec = USEC_PER_SEC / 2;
	CU_ASSERT_EQUAL(policy_conf_validate(&c, err, sizeof err), -EINVAL);
	CU_ASSERT(strstr(err, "host_wss_interval") != NULL);
	c.host_wss_interval_usec = 600 * USEC_PER_SEC;
	CU_ASSERT_EQUAL(policy_conf_validate(&c, err, sizeof err), 0);
}

static const char SMAPS[] =
	"55d0c0000000-55d0c0021000 r-xp 00000000 08:01 1234    /usr/bin/qemu\n"
	"Size:                132 kB\n"
	"Rss:                 100 kB\n"
	"Referenced:          100 kB\n"
	"AnonHugePages:         0 kB\n"
	"VmFlags: rd ex mr mw me\n"
	"7f0000000000-7f0100000000 rw-p 00000000 00:00 0 \n"
	"Size:            4194304 kB\n"
	"KernelPageSize:        4 kB\n"
	"Rss:             2097152 kB\n"
	"Pss:             2097152 kB\n"
	"Referenced:       524288 kB\n"
	"Anonymous:       2097152 kB\n"
	"FilePmdMapped:         0 kB\n"
	"VmFlags: rd wr mr mw me ac sd mg\n"
	"7f0100000000-7f0100200000 rw-p 00000000 00:00 0 \n"
	"Rss:                2048 kB\n"
	"Referenced:         2048 kB\n"
	"VmFlags: rd wr mr mw me ac\n";

static void test_parse_smaps(void)
{
	uint64_t ref = 1, rss = 1;
	/* the guest RAM mapping alone */
	CU_ASSERT_EQUAL(wss_parse_smaps(SMAPS, 0x7f0000000000ULL, 0x7f0100000000ULL, &ref, &rss), 1);
	CU_ASSERT_EQUAL(ref, 512 * MIB);
	CU_ASSERT_EQUAL(rss, 2 * GIB);
	/* a range over two mappings sums them */
	CU_ASSERT_EQUAL(wss_parse_smaps(SMAPS, 0x7f0000000000ULL, 0x7f0100100000ULL, &ref, NULL), 2);
	CU_ASSERT_EQUAL(ref, 514 * MIB);
	/* end 0 = everything from start on */
	CU_ASSERT_EQUAL(wss_parse_smaps(SMAPS, 0, 0, &ref, NULL), 3);
	CU_ASSERT_EQUAL(ref, 514 * MIB + 100 * 1024);
	/* no mapping there */
	CU_ASSERT_EQUAL(wss_parse_smaps(SMAPS, 0x1000, 0x2000, &ref, NULL), 0);
	CU_ASSERT_EQUAL(ref, 0);
	/* a mapping in range without Referenced is junk */
	CU_ASSERT_EQUAL(wss_parse_smaps("1000-2000 rw-p 0 00:00 0\nRss: 4 kB\n", 0, 0, &ref, NULL), -EINVAL);
	CU_ASSERT_EQUAL(wss_parse_smaps("", 0, 0, &ref, NULL), 0);
}

static void test_find_qemu_ram(void)
{
	uint64_t a = 0, e = 0;
	CU_ASSERT_EQUAL(wss_find_qemu_ram(SMAPS, 4 * GIB, &a, &e), 0);
	CU_ASSERT_EQUAL(a, 0x7f0000000000ULL);
	CU_ASSERT_EQUAL(e, 0x7f0100000000ULL);
	CU_ASSERT_EQUAL(wss_find_qemu_ram(SMAPS, 0, &a, &e), 0);       /* the largest */
	CU_ASSERT_EQUAL(e - a, 4 * GIB);
	CU_ASSERT_EQUAL(wss_find_qemu_ram(SMAPS, 2 * MIB, &a, &e), -ENOENT);  /* not mergeable */
	CU_ASSERT_EQUAL(wss_find_qemu_ram("1000-2000 rw-p 0 00:00 0\nVmFlags: rd wr mgx\n", 0, &a, &e),
			-ENOENT);
}

static void test_fill(void)
{
	struct wss_tracker t;
	struct policy_guest g;
	memset(&g, 0, sizeof g);
	wss_tracker_init(&t, 1, NULL, 0x1000, 0x2000, 0);
	CU_ASSERT_EQUAL(t.interval_usec, 10 * USEC_PER_SEC);
	wss_tracker_fill(&t, 5 * USEC_PER_SEC, &g);
	CU_ASSERT_FALSE(g.host_active_valid);
	t.valid = true;
	t.host_active_bytes = 64 * MIB;
	t.sampled_usec = 2 * USEC_PER_SEC;
	wss_tracker_fill(&t, 5 * USEC_PER_SEC, &g);
	CU_ASSERT_TRUE(g.host_active_valid);
	CU_ASSERT_EQUAL(g.host_active_bytes, 64 * MIB);
	CU_ASSERT_EQUAL(g.host_active_age_usec, 3 * USEC_PER_SEC);
}

/* One tick of the cycle as the daemon runs it: the collect stage reads,
 * the act stage clears what collect found due. Returns the collect's
 * result, or the clear's error when collect had nothing to say. */
static int cycle(struct wss_tracker *t, usec_t now, usec_t others_read_usec)
{
	int r = wss_tracker_collect(t, now, others_read_usec);
	int c = wss_tracker_reset(t, now);
	return r ? r : c;
}

/* The real cycle on this process: clear, touch 8 of 32 MiB, read. */
static void test_tracker_self(void)
{
	size_t len = 32 * MIB, hot = 8 * MIB;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(m != MAP_FAILED);
	memset(m, 1, len);
	struct wss_tracker t;
	uint64_t start = (uint64_t)(uintptr_t)m, end = start + len;
	wss_tracker_init(&t, getpid(), NULL, start, end, 20 * 1000);
	usec_t now = now_usec();
	CU_ASSERT_EQUAL(cycle(&t, now, 0), 0);      /* cleared */
	CU_ASSERT_EQUAL_FATAL(t.last_error, 0);
	/* clear_refs "1" flushes no TLB: translations this CPU still caches
	 * would set no accessed bit. A QEMU guest's RAM turns its TLB over
	 * within an interval; this test forces it (mprotect flushes). */
	CU_ASSERT_EQUAL(mprotect(m, len, PROT_READ), 0);
	CU_ASSERT_EQUAL(mprotect(m, len, PROT_READ | PROT_WRITE), 0);
	for (size_t i = 0; i < hot; i += 4096)
		((volatile char *)m)[i]++;
	CU_ASSERT_EQUAL(cycle(&t, now + 1000, 0), 0);  /* not due */
	CU_ASSERT_EQUAL(cycle(&t, now + 20 * 1000, 0), 1);
	CU_ASSERT_TRUE(t.valid);
	CU_ASSERT(t.host_active_bytes >= hot && t.host_active_bytes <= hot + 4 * MIB);
	/* nothing touched since the re-clear */
	uint64_t ref = 1;
	CU_ASSERT_EQUAL(wss_sample(getpid(), NULL, start, end, &ref, NULL), 0);
	CU_ASSERT(ref <= 4 * MIB);
	/* ksmd's scanner read the pages after the clear (it marks them all
	 * accessed): that interval is dropped and starts again; the last
	 * sample stays */
	uint64_t kept = t.host_active_bytes;
	for (size_t i = 0; i < len; i += 4096)
		((volatile char *)m)[i]++;  /* stands for the scanner's reads */
	usec_t read = now + 30 * 1000, quiet = read + WSS_READ_QUIET_USEC;
	CU_ASSERT_EQUAL(cycle(&t, now + 40 * 1000, read), 0);
	CU_ASSERT_EQUAL(t.discarded, 1);
	CU_ASSERT_EQUAL(t.cleared_usec, 0);  /* no clear while ksmd still reads */
	CU_ASSERT_TRUE(t.valid);
	CU_ASSERT_EQUAL(t.host_active_bytes, kept);
	CU_ASSERT_EQUAL(t.samples, 1);
	CU_ASSERT_EQUAL(cycle(&t, quiet - 1, read), 0);
	CU_ASSERT_EQUAL(t.cleared_usec, 0);
	/* quiet long enough: the interval starts again; reads before the
	 * clear do not count, and the next sample is clean */
	CU_ASSERT_EQUAL(cycle(&t, quiet, read), 0);
	CU_ASSERT_EQUAL(t.cleared_usec, quiet);
	CU_ASSERT_EQUAL(mprotect(m, len, PROT_READ), 0);
	CU_ASSERT_EQUAL(mprotect(m, len, PROT_READ | PROT_WRITE), 0);
	CU_ASSERT_EQUAL(cycle(&t, quiet + 10 * 1000, read), 0);  /* not due */
	CU_ASSERT_EQUAL(cycle(&t, quiet + 20 * 1000, read), 1);
	CU_ASSERT_EQUAL(t.discarded, 1);
	CU_ASSERT_EQUAL(t.samples, 2);
	CU_ASSERT(t.host_active_bytes <= 4 * MIB);
	/* a read at the very time of the clear counts as after it */
	CU_ASSERT_EQUAL(cycle(&t, quiet + 21 * 1000, quiet + 20 * 1000), 0);
	CU_ASSERT_EQUAL(t.discarded, 2);
	munmap(m, len);
	/* a range with no mapping, a process that is gone */
	CU_ASSERT_EQUAL(wss_sample(getpid(), NULL, 0x1000, 0x2000, &ref, NULL), -ENOENT);
	CU_ASSERT(wss_clear(0x3fffffff, NULL) < 0);
	wss_tracker_init(&t, 0x3fffffff, NULL, 0, 0, 0);
	CU_ASSERT(cycle(&t, now, 0) < 0);
	CU_ASSERT_FALSE(t.valid);
}

/* The CPU bound: the interval stays the configured one while one cycle of
 * every guest fits in host_wss_cpu_percent of a core at it, and grows to
 * fit when not, at most WSS_INTERVAL_MAX_USEC. */
static void test_bounded_interval(void)
{
	static const struct { usec_t interval, cpu; double pct; usec_t want; } t[] = {
		{ 10 * USEC_PER_SEC, 0, 1, 10 * USEC_PER_SEC },                 /* no cycle yet */
		{ 10 * USEC_PER_SEC, 80000, 1, 10 * USEC_PER_SEC },             /* 0.8%: fits */
		{ 10 * USEC_PER_SEC, 100000, 1, 10 * USEC_PER_SEC },            /* exactly 1% */
		{ 10 * USEC_PER_SEC, 430000, 1, 43 * USEC_PER_SEC },            /* 16 GiB-ish */
		{ 10 * USEC_PER_SEC, 430000, 0.5, 86 * USEC_PER_SEC },
		{ 10 * USEC_PER_SEC, 430000, 0, 10 * USEC_PER_SEC },            /* 0 = no bound */
		{ 10 * USEC_PER_SEC, 30 * USEC_PER_SEC, 1, WSS_INTERVAL_MAX_USEC }, /* capped */
		{ 700 * USEC_PER_SEC, 30 * USEC_PER_SEC, 1, 700 * USEC_PER_SEC },   /* the operator's is longer */
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		usec_t got = wss_bounded_period(t[i].interval, t[i].cpu, t[i].pct);
		if (got != t[i].want)
			fprintf(stderr, "row %zu: %llu, want %llu\n", i, (unsigned long long)got,
				(unsigned long long)t[i].want);
		CU_ASSERT_EQUAL(got, t[i].want);
	}
	/* the policy keeps a sample three times the interval it runs at */
	struct policy_snapshot s; struct policy_state st; struct policy_plan p;
	policy_fixture(&s, 1);
	host_active(&s.guests[0], 1843 * MIB, 3 * s.conf.host_wss_interval_usec + 1);
	policy_state_init(&st);
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 1);  /* stale at 10 s: trimmed */
	s.guests[0].host_active_period_usec = 43 * USEC_PER_SEC;
	policy_state_init(&st);
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 0);  /* fresh at 43 s */
	s.guests[0].host_active_age_usec = 3 * 43 * USEC_PER_SEC + 1;
	policy_state_init(&st);
	CU_ASSERT_EQUAL(policy_decide(&s, &st, &p), 1);
	/* the knob */
	struct policy_conf c;
	char err[256];
	policy_conf_defaults(&c);
	CU_ASSERT_EQUAL(c.host_wss_cpu_percent, 1);
	c.host_wss_cpu_percent = 101;
	CU_ASSERT_EQUAL(policy_conf_validate(&c, err, sizeof err), -EINVAL);
	CU_ASSERT(strstr(err, "host_wss_cpu_percent") != NULL);
}

/* The tracker measures what its cycle costs: a clear and a read of 256 MiB
 * touched take some CPU time, counted on this thread. */
static void test_cycle_cpu(void)
{
	size_t len = 256 * MIB;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(m != MAP_FAILED);
	memset(m, 1, len);
	struct wss_tracker t;
	uint64_t start = (uint64_t)(uintptr_t)m;
	wss_tracker_init(&t, getpid(), NULL, start, start + len, 1000);
	CU_ASSERT_EQUAL(wss_tracker_cycle_cpu(&t), 0);
	usec_t now = now_usec();
	CU_ASSERT_EQUAL(cycle(&t, now, 0), 0);
	CU_ASSERT(t.clear_cpu_usec > 0);
	CU_ASSERT_EQUAL(cycle(&t, now + 1000, 0), 1);
	CU_ASSERT(t.read_cpu_usec > 0);
	CU_ASSERT_EQUAL(wss_tracker_cycle_cpu(&t), t.clear_cpu_usec + t.read_cpu_usec);
	CU_ASSERT(wss_tracker_cycle_cpu(&t) < 5 * USEC_PER_SEC);
	/* a period longer than the interval: after a sample the next clear
	 * waits for it (the clear-to-read interval stays 1 ms) */
	wss_tracker_set_period(&t, 50 * 1000);
	CU_ASSERT_EQUAL(cycle(&t, now + 2000, 0), 1);      /* the cycle under way is read */
	CU_ASSERT_EQUAL(t.cleared_usec, 0);                /* and no clear: the pause */
	CU_ASSERT_EQUAL(cycle(&t, now + 50000, 0), 0);
	CU_ASSERT_EQUAL(t.cleared_usec, 0);
	CU_ASSERT_EQUAL(cycle(&t, now + 51000, 0), 0);     /* a period after its clear */
	CU_ASSERT_EQUAL(t.cleared_usec, now + 51000);
	CU_ASSERT_EQUAL(cycle(&t, now + 52000, 0), 1);     /* read an interval later */
	CU_ASSERT_EQUAL(t.cleared_usec, 0);
	wss_tracker_set_period(&t, 0);                     /* live: the pause ends at once */
	CU_ASSERT_EQUAL(cycle(&t, now + 53000, 0), 0);
	CU_ASSERT_EQUAL(t.cleared_usec, now + 53000);
	struct policy_guest g;
	memset(&g, 0, sizeof g);
	wss_tracker_set_period(&t, 50 * 1000);
	wss_tracker_fill(&t, now + 54000, &g);
	CU_ASSERT_EQUAL(g.host_active_period_usec, 50 * 1000);
	munmap(m, len);
}

/* collect only reads: it says a clear is due and writes nothing, even
 * for a process that is gone; the clear, and its error, are act's. */
static void test_collect_never_clears(void)
{
	struct wss_tracker t;
	wss_tracker_init(&t, 0x3fffffff, NULL, 0, 0, 0);
	CU_ASSERT_EQUAL(wss_tracker_collect(&t, 5 * USEC_PER_SEC, 0), 0);
	CU_ASSERT_TRUE(t.reset_due);
	CU_ASSERT_EQUAL(t.cleared_usec, 0);
	CU_ASSERT_EQUAL(t.last_error, 0);
	CU_ASSERT(wss_tracker_reset(&t, 5 * USEC_PER_SEC) < 0);   /* the write failed */
	CU_ASSERT(t.last_error < 0);
	CU_ASSERT_FALSE(t.reset_due);
	CU_ASSERT_EQUAL(t.cleared_usec, 0);
	/* nothing due: the reset writes nothing and succeeds */
	CU_ASSERT_EQUAL(wss_tracker_reset(&t, 6 * USEC_PER_SEC), 0);
	/* this process: the clear happens in act, and the interval starts then */
	wss_tracker_init(&t, getpid(), NULL, 0, 0, USEC_PER_SEC);
	CU_ASSERT_EQUAL(wss_tracker_collect(&t, 7 * USEC_PER_SEC, 0), 0);
	CU_ASSERT_EQUAL(t.cleared_usec, 0);
	CU_ASSERT_EQUAL(wss_tracker_reset(&t, 7 * USEC_PER_SEC), 0);
	CU_ASSERT_EQUAL(t.cleared_usec, 7 * USEC_PER_SEC);
	/* not due: collect asks for no clear */
	CU_ASSERT_EQUAL(wss_tracker_collect(&t, 7 * USEC_PER_SEC + 1, 0), 0);
	CU_ASSERT_FALSE(t.reset_due);
}

/* Free page reporting, seen from the host: a fall of the resident size
 * that neither the balloon nor swap explains, summed; rises count nothing. */
static void test_fpr_meter(void)
{
	struct fpr_meter m;
	fpr_meter_reset(&m);
	CU_ASSERT_EQUAL(fpr_meter_sample(&m, 600 * MIB, 1024 * MIB, 0), 0);     /* first: a baseline */
	CU_ASSERT_EQUAL(fpr_meter_sample(&m, 900 * MIB, 1024 * MIB, 0), 0);     /* touched 300 MiB */
	CU_ASSERT_EQUAL(fpr_meter_sample(&m, 700 * MIB, 1024 * MIB, 0), 200 * MIB); /* freed, reported */
	/* the balloon took 150 MiB and the resident size fell by 200: 50 reported */
	CU_ASSERT_EQUAL(fpr_meter_sample(&m, 500 * MIB, 874 * MIB, 0), 50 * MIB);
	/* the host swapped 100 MiB of it out: not reporting */
	CU_ASSERT_EQUAL(fpr_meter_sample(&m, 400 * MIB, 874 * MIB, 100 * MIB), 0);
	/* the balloon took more than the fall (pages never backed): nothing */
	CU_ASSERT_EQUAL(fpr_meter_sample(&m, 380 * MIB, 774 * MIB, 100 * MIB), 0);
	CU_ASSERT_EQUAL(m.returned_bytes, 250 * MIB);
	fpr_meter_reset(&m);
	CU_ASSERT_EQUAL(m.returned_bytes, 0);
	CU_ASSERT_EQUAL(fpr_meter_sample(&m, 100 * MIB, 774 * MIB, 0), 0);
}

int main(void)
{
	KSMD_TEST_INIT();
	static const struct ksmd_test rules[] = {
		{ "no idle trim below what the host saw touched", test_trim_respects_host_active },
		{ "idle trim floor is host active + margin", test_trim_floor_is_host_active },
		{ "pressure floor is host active + margin", test_pressure_floor_is_host_active },
		{ "shares per active page use host active", test_rho_uses_host_active },
		{ "knobs host_wss, host_wss_interval", test_knobs },
		{ "the CPU bound stretches the interval; freshness follows it", test_bounded_interval },
		{ NULL, NULL },
	};
	static const struct ksmd_test collector[] = {
		{ "parse smaps Referenced over a range", test_parse_smaps },
		{ "find the QEMU RAM mapping (mg, size)", test_find_qemu_ram },
		{ "tracker fills the policy's guest", test_fill },
		{ "clear/read cycle on this process", test_tracker_self },
		{ "collect reads, act clears", test_collect_never_clears },
		{ "free page reporting meter", test_fpr_meter },
		{ "a cycle's CPU time is measured", test_cycle_cpu },
		{ NULL, NULL },
	};
	ksmd_add_suite("policy host wss", rules);
	ksmd_add_suite("wss collector", collector);
	return ksmd_run_tests();
}
