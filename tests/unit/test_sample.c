/* Unit tests for collect/sample.c: the ksm_stat and status parsers on
 * made-up text, and a child process's files opened once and read each
 * "tick": the numbers follow the process, and once it is gone the files
 * read nothing, even though its pid may name another process by then; the
 * /proc/PID/stat parser and the identity of a process found (its pidfd, or
 * its start time). */
#include "collect/sample.h"
#include "tests/unit/harness.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

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

static void test_proc_stat_parse(void)
{
	const char *text =
		/* as kernel 6.18 writes it: numbers without a colon */
		"ksm_rmap_items 131072\n"
		"ksm_zero_pages 17\n"
		"ksm_merging_pages 98304\n"
		"ksm_process_profit 394264576\n"
		"ksm_merge_any: no\n"
		"ksm_mergeable: yes\n"
		"something_new: 5\n";
	struct ksm_proc_stat ps;
	CU_ASSERT_EQUAL(ksm_proc_stat_parse(text, &ps), 0);
	CU_ASSERT_EQUAL(ps.rmap_items, 131072);
	CU_ASSERT_EQUAL(ps.zero_pages, 17);
	CU_ASSERT_EQUAL(ps.merging_pages, 98304);
	CU_ASSERT_EQUAL(ps.process_profit, 394264576);
	CU_ASSERT_EQUAL(ps.merge_any, 0);
	CU_ASSERT_EQUAL(ps.mergeable, 1);

	/* Older kernel: fewer lines, the rest -1; negative profit. */
	/* (a colon after the name is accepted too) */
	CU_ASSERT_EQUAL(ksm_proc_stat_parse("ksm_rmap_items: 5\nksm_process_profit -320\n", &ps), 0);
	CU_ASSERT_EQUAL(ps.rmap_items, 5);
	CU_ASSERT_EQUAL(ps.process_profit, -320);
	CU_ASSERT_EQUAL(ps.merging_pages, -1);
	CU_ASSERT_EQUAL(ps.mergeable, -1);
	CU_ASSERT_EQUAL(ksm_proc_stat_parse("", &ps), -EINVAL);
	CU_ASSERT_EQUAL(ksm_proc_stat_parse("hello: world\n", &ps), -EINVAL);

	/* From a made-up file. */
	char dir[] = "/tmp/ksmd-test-ksmstat.XXXXXX";
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	put(dir, "ksm_stat", text);
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/ksm_stat", dir);
	CU_ASSERT_EQUAL(ksm_proc_stat_file(path, &ps), 0);
	CU_ASSERT_EQUAL(ps.merging_pages, 98304);
	unlink(path);
	rmdir(dir);
	CU_ASSERT_EQUAL(ksm_proc_stat_file(path, &ps), -ENOENT);

	/* Our own process, when the kernel has ksm_stat. */
	if (access("/proc/self/ksm_stat", R_OK) == 0) {
		CU_ASSERT_EQUAL(ksm_proc_stat(getpid(), &ps), 0);
		CU_ASSERT(ps.rmap_items >= 0);
	}
}

static void test_status_parse(void)
{
	struct proc_sample s;
	memset(&s, 0, sizeof s);
	proc_sample_parse_status("Name:\tqemu\nVmPeak:\t 9000 kB\nVmRSS:\t    8192 kB\n"
				 "RssAnon:\t 4096 kB\nVmSwap:\t     512 kB\n", &s);
	CU_ASSERT_EQUAL(s.rss_bytes, 8192 * 1024);
	CU_ASSERT_EQUAL(s.swap_bytes, 512 * 1024);
	CU_ASSERT_EQUAL(s.resident_pages, 2048);
	/* a kernel thread or a zombie: no Vm lines */
	proc_sample_parse_status("Name:\tkthreadd\nState:\tS (sleeping)\n", &s);
	CU_ASSERT_EQUAL(s.rss_bytes, 0);
	CU_ASSERT_EQUAL(s.swap_bytes, 0);
	CU_ASSERT_EQUAL(s.resident_pages, 0);
}

/* A child that maps and touches MIB MiB after reading a byte from fd. */
static pid_t child_touching(int *wfd, size_t mib)
{
	int p[2];
	CU_ASSERT_FATAL(pipe(p) == 0);
	pid_t pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		close(p[1]);
		char c;
		if (read(p[0], &c, 1) != 1)
			_exit(1);
		char *m = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			_exit(1);
		memset(m, 1, mib << 20);
		pause();
		_exit(0);
	}
	close(p[0]);
	*wfd = p[1];
	return pid;
}

static void test_files_follow_the_process(void)
{
	int wfd;
	pid_t pid = child_touching(&wfd, 32);
	struct proc_files f;
	CU_ASSERT_EQUAL_FATAL(proc_files_open(&f, pid), 0);
	CU_ASSERT_EQUAL(f.pid, pid);
	CU_ASSERT(f.status_fd >= 0);
	struct proc_sample s1, s2;
	CU_ASSERT_EQUAL(proc_sample_read(&f, &s1), 0);
	CU_ASSERT(s1.valid);
	CU_ASSERT(s1.rss_bytes > 0);
	CU_ASSERT_EQUAL(s1.resident_pages, s1.rss_bytes / 4096);
	if (access("/proc/self/ksm_stat", R_OK) == 0) {
		CU_ASSERT(f.ksm_stat_fd >= 0);
		CU_ASSERT(s1.ksm_valid);
		CU_ASSERT(s1.ksm.rmap_items >= 0);
	}
	/* the same open files, read again, see the process grow by 32 MiB */
	CU_ASSERT_FATAL(write(wfd, "x", 1) == 1);
	for (int i = 0; i < 200; i++) {
		CU_ASSERT_EQUAL_FATAL(proc_sample_read(&f, &s2), 0);
		if (s2.rss_bytes >= s1.rss_bytes + (30 << 20))
			break;
		usleep(10000);
	}
	CU_ASSERT(s2.rss_bytes >= s1.rss_bytes + (30 << 20));
	/* gone (reaped): the files read nothing, whatever process has the pid now */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(wfd);
	CU_ASSERT(proc_sample_read(&f, &s2) < 0);
	CU_ASSERT_FALSE(s2.valid);
	CU_ASSERT_FALSE(s2.ksm_valid);
	CU_ASSERT_EQUAL(s2.rss_bytes, 0);
	proc_files_close(&f);
	CU_ASSERT_EQUAL(f.pid, 0);
	CU_ASSERT_EQUAL(f.status_fd, -1);
	CU_ASSERT_EQUAL(f.ksm_stat_fd, -1);
	CU_ASSERT(proc_sample_read(&f, &s2) < 0);
	/* no such process: nothing opened */
	CU_ASSERT(proc_files_open(&f, pid) < 0);
	CU_ASSERT_EQUAL(f.status_fd, -1);
	CU_ASSERT(proc_files_open(&f, 0) < 0);
}

static void test_parse_stat(void)
{
	pid_t ppid = 0;
	unsigned long flags = 0;
	uint64_t start = 0;
	CU_ASSERT_EQUAL(proc_stat_parse("57 (ksmd) S 2 0 0 0 -1 2129984 0 0 0 0 0 12 0 0 25 5 1 0 "
					"389 0 0 18446744073709551615\n", &ppid, &flags, &start), 0);
	CU_ASSERT_EQUAL(ppid, 2);
	CU_ASSERT_EQUAL(flags, 2129984UL);
	CU_ASSERT(flags & 0x00200000 /* PF_KTHREAD */);
	CU_ASSERT_EQUAL(start, 389);
	/* a comm with spaces and parentheses */
	CU_ASSERT_EQUAL(proc_stat_parse("900 (a) (b c) S 1 900 900 0 -1 4194560 5 0 0 0 1 2 0 0 20 0 1 0 "
					"77123 0\n", &ppid, &flags, &start), 0);
	CU_ASSERT_EQUAL(ppid, 1);
	CU_ASSERT_FALSE(flags & 0x00200000 /* PF_KTHREAD */);
	CU_ASSERT_EQUAL(start, 77123);
	CU_ASSERT_EQUAL(proc_stat_parse("12 (x) S 1 2 3", &ppid, &flags, &start), -EINVAL);
	CU_ASSERT_EQUAL(proc_stat_parse("garbage", &ppid, &flags, &start), -EINVAL);
	CU_ASSERT_EQUAL(proc_stat_parse(NULL, &ppid, &flags, &start), -EINVAL);
}

/* The identity comparison: the start time read now against the one found. */
static void test_same_start(void)
{
	const char *stat = "4242 (qemu-system-x86) S 1 4242 4242 0 -1 4194560 5 0 0 0 1 2 0 0 20 0 9 0 "
			   "123456 0\n";
	CU_ASSERT_TRUE(proc_same_start(123456, stat));
	/* the pid reused: another process, started later */
	CU_ASSERT_FALSE(proc_same_start(123455, stat));
	CU_ASSERT_FALSE(proc_same_start(0, stat));
	/* unreadable text, a truncated line, nothing: never the same */
	CU_ASSERT_FALSE(proc_same_start(123456, "4242 (qemu) S 1 2 3"));
	CU_ASSERT_FALSE(proc_same_start(123456, ""));
	CU_ASSERT_FALSE(proc_same_start(123456, NULL));
}

/* A process found stays itself: exited (a zombie, not yet reaped), it is
 * gone; without a pidfd, a start time that differs is another process. */
static void test_identity_check(void)
{
	int wfd;
	pid_t pid = child_touching(&wfd, 1);
	struct proc_files f;
	CU_ASSERT_EQUAL_FATAL(proc_files_open(&f, pid), 0);
	CU_ASSERT(f.start_ticks > 0);
	CU_ASSERT_EQUAL(proc_files_check(&f), 0);
	CU_ASSERT_EQUAL(proc_identity_check(pid, -1, f.start_ticks), 0);      /* no pidfd: by start time */
	CU_ASSERT_EQUAL(proc_identity_check(pid, -1, f.start_ticks + 1), -ESRCH);
	CU_ASSERT_EQUAL(proc_identity_check(0, -1, f.start_ticks), -ESRCH);
	if (f.pidfd >= 0) {
		/* the pidfd decides: a different start time recorded beside it does not matter */
		CU_ASSERT_EQUAL(proc_identity_check(pid, f.pidfd, f.start_ticks + 1), 0);
	}
	kill(pid, SIGKILL);
	/* exited: a zombie until reaped, its pid not yet free */
	siginfo_t si;
	CU_ASSERT_EQUAL(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	if (f.pidfd >= 0)
		CU_ASSERT_EQUAL(proc_files_check(&f), -ESRCH);
	struct proc_sample s;
	if (f.pidfd >= 0)
		CU_ASSERT_EQUAL(proc_sample_read(&f, &s), -ESRCH);
	waitpid(pid, NULL, 0);
	close(wfd);
	CU_ASSERT_EQUAL(proc_files_check(&f), -ESRCH);
	CU_ASSERT_EQUAL(proc_identity_check(pid, -1, f.start_ticks), -ESRCH);
	proc_files_close(&f);
	CU_ASSERT_EQUAL(f.pidfd, -1);
	CU_ASSERT_EQUAL(proc_files_check(&f), -ESRCH);
}

int main(void)
{
	static const struct ksmd_test tests[] = {
		{ "proc_stat_parse", test_proc_stat_parse },
		{ "status_parse", test_status_parse },
		{ "files_follow_the_process", test_files_follow_the_process },
		{ "parse_stat", test_parse_stat },
		{ "same_start", test_same_start },
		{ "identity_check", test_identity_check },
		{ NULL, NULL },
	};
	KSMD_TEST_INIT();
	ksmd_add_suite("sample", tests);
	return ksmd_run_tests();
}
