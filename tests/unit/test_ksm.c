/* Unit tests for act/ksm.c: sysfs save/apply/restore against a temp
 * directory, the /proc/PID/stat parser on made-up text, the
 * "how to make it mergeable" hint, the kthread finder on a made-up /proc,
 * and ctl_exec_mergeable in a child. */
#include "act/ksm.h"
#include "tests/unit/harness.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PR_GET_MEMORY_MERGE
#define PR_GET_MEMORY_MERGE 68
#endif

static char root[64];

static void put(const char *dir, const char *name, const char *text)
{
	char *path;
	CU_ASSERT_FATAL(asprintf(&path, "%s/%s", dir, name) > 0);
	FILE *f = fopen(path, "w");
	free(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

static char *get(const char *dir, const char *name)
{
	static char buf[256];
	char *path;
	CU_ASSERT_FATAL(asprintf(&path, "%s/%s", dir, name) > 0);
	FILE *f = fopen(path, "r");
	free(path);
	buf[0] = 0;
	if (f) {
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		buf[n] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = 0;
	return buf;
}

/* A made-up sysfs directory like the one of kernel 6.18. */
static void make_sysfs(void)
{
	snprintf(root, sizeof root, "/tmp/ksmd-test-ksm.XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(root));
	put(root, "run", "0\n");
	put(root, "pages_to_scan", "100\n");
	put(root, "sleep_millisecs", "20\n");
	put(root, "use_zero_pages", "0\n");
	put(root, "max_page_sharing", "256\n");
	put(root, "smart_scan", "1\n");
	put(root, "advisor_mode", "[none] scan-time\n");
	put(root, "pages_shared", "12\n");
	put(root, "pages_sharing", "345\n");
	put(root, "pages_unshared", "6\n");
	put(root, "pages_volatile", "7\n");
	put(root, "full_scans", "8\n");
	put(root, "ksm_zero_pages", "9\n");
	put(root, "general_profit", "-4096\n");
	put(root, "pages_scanned", "123456\n");
	put(root, "pages_skipped", "7890\n");
}

static void rm_sysfs(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	CU_ASSERT_EQUAL(system(cmd), 0);
}

static void test_read(void)
{
	make_sysfs();
	struct ksm_sysfs s;
	CU_ASSERT_EQUAL(ksm_read(root, &s), 0);
	CU_ASSERT_EQUAL(s.set.run, 0);
	CU_ASSERT_EQUAL(s.set.pages_to_scan, 100);
	CU_ASSERT_EQUAL(s.set.sleep_millisecs, 20);
	CU_ASSERT_EQUAL(s.set.max_page_sharing, 256);
	CU_ASSERT_EQUAL(s.set.smart_scan, 1);
	CU_ASSERT_EQUAL(s.set.advisor_mode, KSM_ADVISOR_NONE);
	CU_ASSERT_EQUAL(s.cnt.pages_shared, 12);
	CU_ASSERT_EQUAL(s.cnt.pages_sharing, 345);
	CU_ASSERT_EQUAL(s.cnt.full_scans, 8);
	CU_ASSERT_EQUAL(s.cnt.general_profit, -4096);
	CU_ASSERT_EQUAL(s.cnt.pages_scanned, 123456);
	CU_ASSERT_EQUAL(s.cnt.pages_skipped, 7890);

	/* Older kernel: a file missing reads as -1. */
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/advisor_mode", root);
	unlink(path);
	snprintf(path, sizeof path, "%s/smart_scan", root);
	unlink(path);
	snprintf(path, sizeof path, "%s/pages_skipped", root);
	unlink(path);
	CU_ASSERT_EQUAL(ksm_read(root, &s), 0);
	CU_ASSERT_EQUAL(s.set.advisor_mode, -1);
	CU_ASSERT_EQUAL(s.set.smart_scan, -1);
	CU_ASSERT_EQUAL(s.cnt.pages_skipped, -1);
	CU_ASSERT_EQUAL(s.cnt.pages_scanned, 123456);
	/* Garbage is an error. */
	put(root, "pages_to_scan", "lots\n");
	CU_ASSERT_EQUAL(ksm_read(root, &s), -EINVAL);
	rm_sysfs();
	CU_ASSERT_EQUAL(ksm_read("/nonexistent/ksm", &s), -ENOENT);
}

static void test_save_apply_restore(void)
{
	make_sysfs();
	put(root, "advisor_mode", "none [scan-time]\n");
	struct ksm_settings saved, s;
	CU_ASSERT_EQUAL(ksm_save(root, &saved), 0);
	CU_ASSERT_EQUAL(saved.advisor_mode, KSM_ADVISOR_SCAN_TIME);

	/* Apply: only given fields; advisor written as a word. */
	ksm_settings_clear(&s);
	s.run = 1;
	s.pages_to_scan = 5000;
	s.sleep_millisecs = 0;
	s.advisor_mode = KSM_ADVISOR_NONE;
	CU_ASSERT_EQUAL(ksm_apply(root, &s), 0);
	CU_ASSERT_STRING_EQUAL(get(root, "run"), "1");
	CU_ASSERT_STRING_EQUAL(get(root, "pages_to_scan"), "5000");
	CU_ASSERT_STRING_EQUAL(get(root, "sleep_millisecs"), "0");
	CU_ASSERT_STRING_EQUAL(get(root, "advisor_mode"), "none");
	CU_ASSERT_STRING_EQUAL(get(root, "max_page_sharing"), "256");

	/* Knobs. */
	struct ksm_knobs k = { 1, 100, 200 };
	CU_ASSERT_EQUAL(ksm_apply_knobs(root, &k), 0);
	CU_ASSERT_STRING_EQUAL(get(root, "sleep_millisecs"), "200");

	/* A value that is already right is not written (the kernel refuses
	 * some writes, e.g. max_page_sharing while pages are shared): its
	 * modification time stays. */
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/max_page_sharing", root);
	struct timeval old[2] = { { 946684800, 0 }, { 946684800, 0 } };
	CU_ASSERT_EQUAL(utimes(path, old), 0);
	ksm_settings_clear(&s);
	s.max_page_sharing = 256;
	CU_ASSERT_EQUAL(ksm_apply(root, &s), 0);
	struct stat st;
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mtime, 946684800);

	/* Restore puts back exactly what was saved. */
	CU_ASSERT_EQUAL(ksm_restore(root, &saved), 0);
	struct ksm_settings now;
	CU_ASSERT_EQUAL(ksm_read_settings(root, &now), 0);
	CU_ASSERT_EQUAL(memcmp(&now, &saved, sizeof now), 0);
	CU_ASSERT_STRING_EQUAL(get(root, "run"), "0");
	CU_ASSERT_STRING_EQUAL(get(root, "pages_to_scan"), "100");
	CU_ASSERT_STRING_EQUAL(get(root, "advisor_mode"), "scan-time");

	/* A file that this kernel lacks cannot be set; the others still are. */
	snprintf(path, sizeof path, "%s/smart_scan", root);
	unlink(path);
	ksm_settings_clear(&s);
	s.smart_scan = 0;
	s.pages_to_scan = 777;
	CU_ASSERT_EQUAL(ksm_apply(root, &s), -ENOENT);
	CU_ASSERT_STRING_EQUAL(get(root, "pages_to_scan"), "777");
	rm_sysfs();
}

static void test_pid_stat_parse(void)
{
	pid_t ppid = 0;
	usec_t cpu = 0;
	const char *kthread = "77 (ksmd) S 2 0 0 0 -1 2097216 0 0 0 0 150 250 0 0 25 5 1 0 "
			      "30 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 1\n";
	CU_ASSERT_EQUAL(ksm_parse_pid_stat(kthread, 100, &ppid, &cpu), 0);
	CU_ASSERT_EQUAL(ppid, 2);
	CU_ASSERT_EQUAL(cpu, 4 * USEC_PER_SEC);
	/* A comm with spaces and a parenthesis. */
	const char *odd = "123 (a b) c) R 1 0 0 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5\n";
	CU_ASSERT_EQUAL(ksm_parse_pid_stat(odd, 100, &ppid, &cpu), 0);
	CU_ASSERT_EQUAL(ppid, 1);
	CU_ASSERT_EQUAL(cpu, 100000);
	CU_ASSERT_EQUAL(ksm_parse_pid_stat("123 (x) R 1 2\n", 100, &ppid, &cpu), -EINVAL);
	CU_ASSERT_EQUAL(ksm_parse_pid_stat("garbage", 100, &ppid, &cpu), -EINVAL);
	/* Our own process. */
	CU_ASSERT_EQUAL(ksm_pid_cpu_usec(getpid(), &cpu), 0);
}

static void test_kthread_find(void)
{
	char dir[] = "/tmp/ksmd-test-proc.XXXXXX", sub[PATH_MAX];
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	/* A user process named ksmd (ppid 1) must not be taken for the kthread. */
	snprintf(sub, sizeof sub, "%s/40", dir);
	mkdir(sub, 0755);
	put(sub, "comm", "ksmd\n");
	put(sub, "stat", "40 (ksmd) S 1 0 0 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5\n");
	pid_t pid = 0;
	CU_ASSERT_EQUAL(ksm_kthread_find(dir, &pid), -ENOENT);
	snprintf(sub, sizeof sub, "%s/57", dir);
	mkdir(sub, 0755);
	put(sub, "comm", "ksmd\n");
	put(sub, "stat", "57 (ksmd) S 2 0 0 0 -1 0 0 0 0 0 1 1 0 0 25 5 1 0 5\n");
	snprintf(sub, sizeof sub, "%s/self", dir);
	mkdir(sub, 0755);
	CU_ASSERT_EQUAL(ksm_kthread_find(dir, &pid), 0);
	CU_ASSERT_EQUAL(pid, 57);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CU_ASSERT_EQUAL(system(cmd), 0);

	/* The real one, when this kernel has KSM. */
	if (access("/sys/kernel/mm/ksm/run", F_OK) == 0) {
		usec_t cpu;
		CU_ASSERT_EQUAL(ksm_kthread_find(NULL, &pid), 0);
		CU_ASSERT_EQUAL(ksm_kthread_cpu_usec(&cpu), 0);
	}
}

static void test_mergeable_fix(void)
{
	char buf[200];
	CU_ASSERT_PTR_NOT_NULL(strstr(ksm_mergeable_fix("qemu-system-x86", NULL, buf, sizeof buf),
				      "mem-merge=on"));
	const char *cg = "12:memory:/system.slice/postgresql@15-main.service\n"
			 "0::/system.slice/postgresql@15-main.service\n";
	ksm_mergeable_fix("postgres", cg, buf, sizeof buf);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "MemoryKSM=yes"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "postgresql@15-main.service"));
	const char *user = "0::/user.slice/user-1000.slice/session-3.scope\n";
	ksm_mergeable_fix("redis-server", user, buf, sizeof buf);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "ksmdctl run -- redis-server"));
	ksm_mergeable_fix(NULL, NULL, buf, sizeof buf);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "ksmdctl run -- CMD"));

	/* Our own process is not mergeable: a hint comes back. */
	bool m = true;
	if (access("/proc/self/ksm_stat", R_OK) == 0 && prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0) == 0) {
		struct ksm_proc_stat ps;
		CU_ASSERT_EQUAL_FATAL(ksm_proc_stat(getpid(), &ps), 0);
		CU_ASSERT_EQUAL(ksm_proc_check_mergeable(getpid(), &ps, &m, buf, sizeof buf), 0);
		CU_ASSERT_FALSE(m);
		CU_ASSERT(buf[0] != 0);
	}
}

/* The child runs `grep merge_any /proc/self/ksm_stat`-like check through
 * the shell: exit 0 when ksm_merge_any says yes after exec. */

/* The driver against a made-up sysfs: starts KSM for a large gap, turns
 * the kernel advisor off, restores everything exactly. */
static void test_driver(void)
{
	make_sysfs();
	put(root, "advisor_mode", "none [scan-time]\n");
	struct ksm_settings before, after;
	CU_ASSERT_EQUAL(ksm_read_settings(root, &before), 0);
	struct ksm_driver d;
	CU_ASSERT_EQUAL(ksm_driver_init(&d, root, NULL), 0);
	CU_ASSERT_STRING_EQUAL(get(root, "advisor_mode"), "none");
	CU_ASSERT_EQUAL(ksm_driver_tick(&d, 300000, -1, KSM_URGENCY_NORMAL, 1000000), 1);
	CU_ASSERT_STRING_EQUAL(get(root, "run"), "1");
	CU_ASSERT_STRING_EQUAL(get(root, "pages_to_scan"), "32000");
	CU_ASSERT_EQUAL(d.state.phase, KSM_PHASE_CONVERGE);
	/* Settling: no change half a second later. */
	CU_ASSERT_EQUAL(ksm_driver_tick(&d, 300000, -1, KSM_URGENCY_NORMAL, 1500000), 0);
	CU_ASSERT_EQUAL(d.foreign_changes, 0);
	/* Someone else writes the knobs: counted. */
	put(root, "pages_to_scan", "1250\n");
	CU_ASSERT(ksm_driver_tick(&d, 300000, -1, KSM_URGENCY_NORMAL, 2000000) >= 0);
	CU_ASSERT_EQUAL(d.foreign_changes, 1);
	put(root, "pages_to_scan", "32000\n");
	/* Dry run decides but never writes. */
	d.dry_run = true;
	CU_ASSERT_EQUAL(ksm_driver_tick(&d, 10, -1, KSM_URGENCY_NORMAL, 9000000), 1);
	CU_ASSERT_EQUAL(d.last.next.run, 0);
	CU_ASSERT_STRING_EQUAL(get(root, "run"), "1");
	d.dry_run = false;
	/* The caller's own merged count replaces pages_sharing (345 here). */
	CU_ASSERT_EQUAL(ksm_driver_tick(&d, 300000, 250000, KSM_URGENCY_NORMAL, 12000000), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.last.reason, "gap 50000"));
	CU_ASSERT(ksm_driver_tick(&d, 300000, -1, KSM_URGENCY_NORMAL, 13000000) >= 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.last.reason, "gap 299655"));
	CU_ASSERT_EQUAL(ksm_driver_restore(&d), 0);
	CU_ASSERT_EQUAL(ksm_read_settings(root, &after), 0);
	CU_ASSERT_EQUAL(memcmp(&before, &after, sizeof after), 0);
	rm_sysfs();
	CU_ASSERT(ksm_driver_init(&d, "/nonexistent/ksm", NULL) < 0);
}

int main(void)
{
	static const struct ksmd_test tests[] = {
		{ "read", test_read },
		{ "save_apply_restore", test_save_apply_restore },
		{ "pid_stat_parse", test_pid_stat_parse },
		{ "kthread_find", test_kthread_find },
		{ "mergeable_fix", test_mergeable_fix },
		{ "driver", test_driver },
		{ NULL, NULL },
	};
	KSMD_TEST_INIT();
	ksmd_add_suite("ksm", tests);
	return ksmd_run_tests();
}
