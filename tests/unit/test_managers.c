/* Unit tests of daemon/managers.c: other managers of KSM and balloons found
 * in a made-up proc tree (ksmtuned, MOM, pvestatd, virt-handler, another
 * ksmd; never the kernel's ksmd thread, a one-shot ksmd, nor ourselves),
 * the pure parsers, and the detection of outside changes of KSM's knobs. */
#include "daemon/managers.h"
#include "act/ksm.h"
#include "tests/unit/harness.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KTHREAD_FLAGS 0x00208040UL /* PF_KTHREAD | PF_NOFREEZE | PF_FORKNOEXEC */

static void put(const char *dir, const char *name, const char *text, size_t len)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(fwrite(text, 1, len, f), len);
	fclose(f);
}

/* One process of the made-up tree: comm, cmdline (NUL-separated, len
 * bytes), and a stat line with ppid, flags and starttime. */
static void proc_add(const char *root, int pid, const char *comm, const char *cmdline, size_t len,
		     int ppid, unsigned long flags, unsigned long long start)
{
	char dir[PATH_MAX], text[512];
	snprintf(dir, sizeof dir, "%s/%d", root, pid);
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0755), 0);
	snprintf(text, sizeof text, "%s\n", comm);
	put(dir, "comm", text, strlen(text));
	put(dir, "cmdline", cmdline, len);
	snprintf(text, sizeof text, "%d (%s) S %d %d %d 0 -1 %lu 0 0 0 0 1 1 0 0 20 0 1 0 %llu 0 0\n", pid, comm,
		 ppid, pid, pid, flags, start);
	put(dir, "stat", text, strlen(text));
}
#define ADD(root, pid, comm, cmd, ppid, flags, start) \
	proc_add(root, pid, comm, cmd, sizeof(cmd) - 1, ppid, flags, start)

static void rm_tree(const char *dir)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CU_ASSERT_EQUAL(system(cmd), 0);
}

static unsigned classify(const char *comm, const char *cmd, size_t len, unsigned long flags, char *name)
{
	struct manager_proc p = { .pid = 10, .ppid = 1, .comm = comm, .cmdline = cmd, .cmdline_len = len,
				  .flags = flags };
	name[0] = 0;
	return managers_classify(&p, name, MANAGER_NAME_LEN);
}
#define CLASSIFY(comm, cmd, flags, name) classify(comm, cmd, sizeof(cmd) - 1, flags, name)

static void test_classify(void)
{
	char n[MANAGER_NAME_LEN];
	/* ksmtuned: by comm (run from its shebang), or as bash's script argument */
	CU_ASSERT_EQUAL(CLASSIFY("ksmtuned", "/bin/bash\0/usr/sbin/ksmtuned\0", 0, n), MANAGER_KSM);
	CU_ASSERT_STRING_EQUAL(n, "ksmtuned");
	CU_ASSERT_EQUAL(CLASSIFY("bash", "bash\0-x\0/opt/build/tools/ksmtuned\0", 0, n), MANAGER_KSM);
	CU_ASSERT_STRING_EQUAL(n, "ksmtuned");
	CU_ASSERT_EQUAL(CLASSIFY("bash", "bash\0/usr/local/bin/backup.sh\0ksmtuned\0", 0, n), 0);
	CU_ASSERT_EQUAL(CLASSIFY("bash", "bash\0-c\0echo ksmtuned\0", 0, n), 0);
	/* MOM: momd, or vdsm running it */
	CU_ASSERT_EQUAL(CLASSIFY("momd", "/usr/bin/python3\0/usr/sbin/momd\0-c\0/etc/vdsm/mom.conf\0", 0, n),
			MANAGER_KSM | MANAGER_BALLOON);
	CU_ASSERT_STRING_EQUAL(n, "momd");
	CU_ASSERT_EQUAL(CLASSIFY("python3", "python3\0/usr/sbin/momd\0", 0, n), MANAGER_KSM | MANAGER_BALLOON);
	CU_ASSERT_EQUAL(CLASSIFY("vdsmd", "/usr/bin/python3\0/usr/share/vdsm/vdsmd\0--mom-conf\0/etc/vdsm/mom.conf\0",
				 0, n), MANAGER_KSM | MANAGER_BALLOON);
	CU_ASSERT_STRING_EQUAL(n, "vdsm");
	CU_ASSERT_EQUAL(CLASSIFY("vdsmd", "/usr/bin/python3\0/usr/share/vdsm/vdsmd\0", 0, n), 0);
	/* pvestatd: balloons only (Proxmox's auto-ballooning) */
	CU_ASSERT_EQUAL(CLASSIFY("pvestatd", "pvestatd\0", 0, n), MANAGER_BALLOON);
	CU_ASSERT_STRING_EQUAL(n, "pvestatd");
	CU_ASSERT_EQUAL(CLASSIFY("perl", "/usr/bin/perl\0-T\0/usr/bin/pvestatd\0start\0", 0, n), MANAGER_BALLOON);
	/* KubeVirt's virt-handler: KSM */
	CU_ASSERT_EQUAL(CLASSIFY("virt-handler", "virt-handler\0--port\08443\0--hostname-override\0n1\0", 0, n),
			MANAGER_KSM);
	CU_ASSERT_STRING_EQUAL(n, "virt-handler");
	/* another ksmd daemon */
	CU_ASSERT_EQUAL(CLASSIFY("ksmd", "/usr/sbin/ksmd\0-f\0-c\0/etc/ksmd.conf\0", 0, n),
			MANAGER_KSM | MANAGER_BALLOON);
	CU_ASSERT_STRING_EQUAL(n, "ksmd");
	CU_ASSERT_EQUAL(CLASSIFY("ksmd", "build/ksmd\0-fc/etc/nonsense.conf\0", 0, n), MANAGER_KSM | MANAGER_BALLOON);
	/* ...but not a one-shot of it */
	CU_ASSERT_EQUAL(CLASSIFY("ksmd", "ksmd\0-n\0-c\0x.conf\0", 0, n), 0);
	CU_ASSERT_EQUAL(CLASSIFY("ksmd", "ksmd\0-fn\0", 0, n), 0);
	CU_ASSERT_EQUAL(CLASSIFY("ksmd", "ksmd\0--dump-config\0", 0, n), 0);
	CU_ASSERT_EQUAL(CLASSIFY("ksmd", "ksmd\0--man-keys\0", 0, n), 0);
	CU_ASSERT_EQUAL(CLASSIFY("ksmd", "build/ksmd\0--list-keys\0", 0, n), 0); /* ksmdctl's build runs it */
	/* the kernel's KSM thread: a kernel thread, no cmdline */
	CU_ASSERT_EQUAL(CLASSIFY("ksmd", "", KTHREAD_FLAGS, n), 0);
	CU_ASSERT_EQUAL(CLASSIFY("ksmd", "", 0, n), 0);
	CU_ASSERT_EQUAL(CLASSIFY("ksmd", "ksmd\0", KTHREAD_FLAGS, n), 0);
	CU_ASSERT_STRING_EQUAL(n, "");
	/* not managers */
	CU_ASSERT_EQUAL(CLASSIFY("ksmdctl", "ksmdctl\0status\0", 0, n), 0);
	CU_ASSERT_EQUAL(CLASSIFY("sleep", "sleep\0" "60\0", 0, n), 0);
	CU_ASSERT_EQUAL(CLASSIFY("bash", "-bash\0", 0, n), 0);

	CU_ASSERT_TRUE(managers_comm_candidate("ksmtuned"));
	CU_ASSERT_TRUE(managers_comm_candidate("bash"));
	CU_ASSERT_TRUE(managers_comm_candidate("python3.11"));
	CU_ASSERT_TRUE(managers_comm_candidate("ksmd"));
	CU_ASSERT_FALSE(managers_comm_candidate("qemu-system-x86"));
	CU_ASSERT_FALSE(managers_comm_candidate("sleep"));
	CU_ASSERT_FALSE(managers_comm_candidate(NULL));

	CU_ASSERT_STRING_EQUAL(managers_drives_name(MANAGER_KSM), "ksm");
	CU_ASSERT_STRING_EQUAL(managers_drives_name(MANAGER_BALLOON), "balloon");
	CU_ASSERT_STRING_EQUAL(managers_drives_name(MANAGER_KSM | MANAGER_BALLOON), "ksm+balloon");
}

/* A host with every kind of manager, the kernel's ksmd thread, ourselves
 * and a few bystanders. */
static void test_scan(void)
{
	char root[] = "/tmp/ksmd-test-managers.XXXXXX", dir[PATH_MAX];
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(root));
	ADD(root, 1, "systemd", "/sbin/init\0", 0, 0x400100, 1);
	ADD(root, 2, "kthreadd", "", 0, KTHREAD_FLAGS, 1);
	ADD(root, 57, "ksmd", "", 2, KTHREAD_FLAGS, 40);               /* the kernel's KSM thread */
	ADD(root, 100, "ksmd", "/usr/sbin/ksmd\0-f\0", 1, 0x400100, 5000); /* ourselves */
	ADD(root, 200, "ksmtuned", "/bin/bash\0/usr/sbin/ksmtuned\0", 1, 0x400040, 3000);
	ADD(root, 201, "ksmtuned", "/bin/bash\0/usr/sbin/ksmtuned\0", 200, 0x400040, 9000); /* $(...) */
	ADD(root, 202, "sleep", "sleep\0" "60\0", 200, 0x400000, 9001);
	ADD(root, 300, "momd", "/usr/bin/python3\0/usr/sbin/momd\0-c\0/etc/vdsm/mom.conf\0", 1, 0x400100, 3100);
	ADD(root, 400, "pvestatd", "pvestatd\0", 1, 0x400140, 3200);
	ADD(root, 500, "virt-handler", "virt-handler\0--port\08443\0", 1, 0x400100, 3300);
	ADD(root, 600, "ksmd", "/usr/local/sbin/ksmd\0-f\0-c\0/etc/ksmd-b.conf\0", 1, 0x400100, 4000);
	ADD(root, 601, "ksmd", "build/ksmd\0-f\0-c\0/tmp/t.conf\0", 1, 0x400100, 6000);
	ADD(root, 602, "ksmd", "build/ksmd\0-n\0-c\0/tmp/t.conf\0", 1, 0x400100, 6100);
	ADD(root, 700, "bash", "-bash\0", 1, 0x400100, 7000);
	ADD(root, 701, "python3", "python3\0-m\0http.server\0", 1, 0x400100, 7100);
	ADD(root, 800, "vdsmd", "/usr/bin/python3\0/usr/share/vdsm/vdsmd\0", 1, 0x400100, 7200);
	snprintf(dir, sizeof dir, "%s/self", root);
	CU_ASSERT_EQUAL(mkdir(dir, 0755), 0);
	snprintf(dir, sizeof dir, "%s/900", root); /* a process that went away: empty dir */
	CU_ASSERT_EQUAL(mkdir(dir, 0755), 0);

	struct managers m;
	memset(&m, 0, sizeof m);
	m.scanned_usec = 42;
	int n = managers_scan(root, 100, &m);
	CU_ASSERT_EQUAL_FATAL(n, 6);
	CU_ASSERT_EQUAL(m.n, 6);
	CU_ASSERT_EQUAL(m.scanned_usec, 42); /* the caller's */
	static const struct { pid_t pid; const char *name; unsigned drives; bool younger; } want[] = {
		{ 200, "ksmtuned", MANAGER_KSM, false },
		{ 300, "momd", MANAGER_KSM | MANAGER_BALLOON, false },
		{ 400, "pvestatd", MANAGER_BALLOON, false },
		{ 500, "virt-handler", MANAGER_KSM, false },
		{ 600, "ksmd", MANAGER_KSM | MANAGER_BALLOON, false }, /* started before us */
		{ 601, "ksmd", MANAGER_KSM | MANAGER_BALLOON, true },  /* started after us */
	};
	for (size_t i = 0; i < ARRAY_SIZE(want) && i < m.n; i++) {
		CU_ASSERT_EQUAL(m.m[i].pid, want[i].pid);
		CU_ASSERT_STRING_EQUAL(m.m[i].name, want[i].name);
		CU_ASSERT_EQUAL(m.m[i].drives, want[i].drives);
		CU_ASSERT_EQUAL(m.m[i].younger, want[i].younger);
	}
	for (size_t i = 0; i < m.n; i++) {
		CU_ASSERT_NOT_EQUAL(m.m[i].pid, 57);  /* never the kernel thread */
		CU_ASSERT_NOT_EQUAL(m.m[i].pid, 100); /* never ourselves */
		CU_ASSERT_NOT_EQUAL(m.m[i].pid, 201); /* nor ksmtuned's subshell */
	}
	const struct manager *k = managers_ksm_manager(&m);
	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	CU_ASSERT_EQUAL(k->pid, 200);
	char who[64];
	CU_ASSERT_TRUE(managers_balloon_owner(&m, who, sizeof who));
	CU_ASSERT_STRING_EQUAL(who, "momd (pid 300)");
	CU_ASSERT_STRING_EQUAL(managers_describe(k, who, sizeof who), "ksmtuned (pid 200)");
	rm_tree(root);
}

/* One kind at a time: who ksmd yields KSM to, who drives the balloons. */
static void test_scan_each(void)
{
	static const struct { const char *comm, *cmd; size_t len; const char *ksm, *balloon; } cases[] = {
#define C(comm, cmd, ksm, balloon) { comm, cmd, sizeof(cmd) - 1, ksm, balloon }
		C("ksmtuned", "/bin/bash\0/usr/sbin/ksmtuned\0", "ksmtuned (pid 300)", ""),
		C("momd", "/usr/bin/python3\0/usr/sbin/momd\0", "momd (pid 300)", "momd (pid 300)"),
		C("pvestatd", "pvestatd\0", "", "pvestatd (pid 300)"),
		C("virt-handler", "virt-handler\0", "virt-handler (pid 300)", ""),
		C("ksmd", "/usr/sbin/ksmd\0", "ksmd (pid 300)", "ksmd (pid 300)"), /* older than us */
#undef C
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char root[] = "/tmp/ksmd-test-managers.XXXXXX";
		CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(root));
		ADD(root, 57, "ksmd", "", 2, KTHREAD_FLAGS, 40);
		ADD(root, 100, "ksmd", "ksmd\0-f\0", 1, 0x400100, 5000);
		proc_add(root, 300, cases[i].comm, cases[i].cmd, cases[i].len, 1, 0x400100, 4000);
		struct managers m;
		memset(&m, 0, sizeof m);
		CU_ASSERT_EQUAL(managers_scan(root, 100, &m), 1);
		const struct manager *k = managers_ksm_manager(&m);
		char who[64] = "";
		if (k)
			managers_describe(k, who, sizeof who);
		CU_ASSERT_STRING_EQUAL(who, cases[i].ksm);
		CU_ASSERT_EQUAL(managers_balloon_owner(&m, who, sizeof who), cases[i].balloon[0] != 0);
		CU_ASSERT_STRING_EQUAL(who, cases[i].balloon);
		rm_tree(root);
	}
}

/* Only the kernel's thread, ourselves and a ksmd started after us: nobody
 * to yield to. */
static void test_scan_nobody(void)
{
	char root[] = "/tmp/ksmd-test-managers.XXXXXX";
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(root));
	ADD(root, 57, "ksmd", "", 2, KTHREAD_FLAGS, 40);
	ADD(root, 100, "ksmd", "ksmd\0-f\0", 1, 0x400100, 5000);
	ADD(root, 101, "ksmd", "ksmd\0-f\0-c\0b.conf\0", 1, 0x400100, 5000); /* same tick, higher pid */
	struct managers m;
	memset(&m, 0, sizeof m);
	CU_ASSERT_EQUAL(managers_scan(root, 100, &m), 1);
	CU_ASSERT_TRUE(m.m[0].younger);
	CU_ASSERT_PTR_NULL(managers_ksm_manager(&m));
	char who[64];
	CU_ASSERT_FALSE(managers_balloon_owner(&m, who, sizeof who));
	CU_ASSERT_STRING_EQUAL(who, "");
	/* seen from the other one, we are the older: it yields to us */
	CU_ASSERT_EQUAL(managers_scan(root, 101, &m), 1);
	CU_ASSERT_EQUAL(m.m[0].pid, 100);
	CU_ASSERT_FALSE(m.m[0].younger);
	CU_ASSERT_PTR_NOT_NULL(managers_ksm_manager(&m));
	rm_tree(root);

	CU_ASSERT_EQUAL(managers_scan("/nonexistent/proc", 1, &m), -ENOENT);

	/* The real /proc: never ourselves, never the kernel's KSM thread. */
	CU_ASSERT_TRUE(managers_scan("/proc", getpid(), &m) >= 0);
	pid_t kthread = 0;
	bool have_kthread = ksm_kthread_find(NULL, &kthread) == 0;
	for (size_t i = 0; i < m.n; i++) {
		CU_ASSERT_NOT_EQUAL(m.m[i].pid, getpid());
		if (have_kthread)
			CU_ASSERT_NOT_EQUAL(m.m[i].pid, kthread);
	}
}

static void test_watch(void)
{
	struct ksm_watch w;
	memset(&w, 0, sizeof w);
	usec_t t = 1000 * USEC_PER_SEC;
	struct ksm_knobs a = { 0, 100, 20 }, b;
	CU_ASSERT_EQUAL(ksm_watch_tick(&w, &a, t, false), 0); /* the first reading */
	CU_ASSERT_EQUAL(ksm_watch_tick(&w, &a, t + 1, false), 0);
	/* ksmd writes: the next reading is its own */
	b = (struct ksm_knobs){ 1, 500, 20 };
	ksm_watch_wrote(&w, &b);
	CU_ASSERT_EQUAL(ksm_watch_tick(&w, &b, t + 2, false), 0);
	CU_ASSERT_EQUAL(w.changes, 0);
	CU_ASSERT_FALSE(ksm_watch_unexplained(&w, t + 2));
	/* someone writes pages_to_scan behind ksmd's back */
	b.pages_to_scan = 1234;
	CU_ASSERT_EQUAL(ksm_watch_tick(&w, &b, t + 3 * USEC_PER_SEC, false), 1);
	CU_ASSERT_STRING_EQUAL(w.what, "pages_to_scan 500 -> 1234");
	CU_ASSERT_EQUAL(w.changes, 1);
	CU_ASSERT_TRUE(ksm_watch_unexplained(&w, t + 3 * USEC_PER_SEC));
	CU_ASSERT_TRUE(ksm_watch_unexplained(&w, t + 62 * USEC_PER_SEC));
	CU_ASSERT_FALSE(ksm_watch_unexplained(&w, t + 63 * USEC_PER_SEC)); /* a minute later */
	/* ...once: the same values again are no new change */
	CU_ASSERT_EQUAL(ksm_watch_tick(&w, &b, t + 4 * USEC_PER_SEC, false), 0);
	CU_ASSERT_EQUAL(w.changes, 1);

	struct managers none;
	memset(&none, 0, sizeof none);
	char who[200];
	pid_t pid = -1;
	CU_ASSERT_TRUE(managers_ksm_yield(&none, &w, t + 10 * USEC_PER_SEC, &pid, who, sizeof who));
	CU_ASSERT_STRING_EQUAL(who, "another program (pages_to_scan 500 -> 1234)");
	CU_ASSERT_EQUAL(pid, 0);
	CU_ASSERT_FALSE(managers_ksm_yield(&none, &w, t + 70 * USEC_PER_SEC, &pid, who, sizeof who));
	CU_ASSERT_STRING_EQUAL(who, "");

	/* several knobs at once, while a detected manager runs: explained */
	struct ksm_knobs c = { 0, 1234, 10 };
	CU_ASSERT_EQUAL(ksm_watch_tick(&w, &c, t + 80 * USEC_PER_SEC, true), 1);
	CU_ASSERT_STRING_EQUAL(w.what, "run 1 -> 0, sleep_millisecs 20 -> 10");
	CU_ASSERT_EQUAL(w.changes, 2);
	CU_ASSERT_FALSE(ksm_watch_unexplained(&w, t + 80 * USEC_PER_SEC));
	struct managers one;
	memset(&one, 0, sizeof one);
	one.n = 1;
	one.m[0] = (struct manager){ .name = "ksmtuned", .pid = 4321, .drives = MANAGER_KSM };
	CU_ASSERT_TRUE(managers_ksm_yield(&one, &w, t + 80 * USEC_PER_SEC, &pid, who, sizeof who));
	CU_ASSERT_STRING_EQUAL(who, "ksmtuned (pid 4321)");
	CU_ASSERT_EQUAL(pid, 4321);
	one.m[0].drives = MANAGER_BALLOON; /* pvestatd-like: no KSM */
	CU_ASSERT_FALSE(managers_ksm_yield(&one, &w, t + 80 * USEC_PER_SEC, &pid, who, sizeof who));

	/* settings with absent files read as 0 */
	struct ksm_settings s;
	ksm_settings_clear(&s);
	s.pages_to_scan = 300;
	struct ksm_knobs k = ksm_watch_knobs(&s);
	CU_ASSERT_EQUAL(k.run, 0);
	CU_ASSERT_EQUAL(k.pages_to_scan, 300);
	CU_ASSERT_EQUAL(k.sleep_millisecs, 0);
}

static void test_owners_json(void)
{
	struct managers m;
	memset(&m, 0, sizeof m);
	m.n = 2;
	m.m[0] = (struct manager){ .name = "ksmtuned", .pid = 200, .drives = MANAGER_KSM };
	m.m[1] = (struct manager){ .name = "pvestatd", .pid = 400, .drives = MANAGER_BALLOON };
	struct ksm_watch w;
	memset(&w, 0, sizeof w);
	json_t *o = managers_owners_json(&m, &w, "ksmtuned (pid 200)", "ksmd and pvestatd (pid 400)", 5);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "ksm")), "ksmtuned (pid 200)");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "balloon")), "ksmd and pvestatd (pid 400)");
	json_t *a = json_object_get(o, "managers");
	CU_ASSERT_EQUAL_FATAL(json_array_size(a), 2);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(a, 1), "name")), "pvestatd");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(a, 1), "pid")), 400);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(a, 1), "drives")), "balloon");
	CU_ASSERT_TRUE(json_is_null(json_object_get(o, "ksm_outside_change")));
	json_decref(o);

	struct ksm_knobs k = { 1, 100, 20 };
	ksm_watch_tick(&w, &k, 1, false);
	k.pages_to_scan = 5000;
	ksm_watch_tick(&w, &k, 10 * USEC_PER_SEC, false);
	o = managers_owners_json(NULL, &w, "another program (pages_to_scan 100 -> 5000)", "ksmd",
				 22 * USEC_PER_SEC);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "ksm_outside_change")),
			       "pages_to_scan 100 -> 5000 (12 s ago)");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "ksm_outside_changes")), 1);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(o, "managers")), 0);
	json_decref(o);
}

int main(void)
{
	static const struct ksmd_test tests[] = {
		{ "classify", test_classify },
		{ "scan", test_scan },
		{ "scan_each", test_scan_each },
		{ "scan_nobody", test_scan_nobody },
		{ "watch", test_watch },
		{ "owners_json", test_owners_json },
		{ NULL, NULL },
	};
	KSMD_TEST_INIT();
	ksmd_add_suite("managers", tests);
	return ksmd_run_tests();
}
