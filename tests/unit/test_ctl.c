/* test_ctl.c — the control verbs, named once: the table ksmdctl parses
 * and prints its help from, and the daemon's handlers, agree both ways;
 * and `ksmdctl run`'s exec with KSM. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "daemon/daemon.h"
#include "tests/unit/harness.h"

static void test_verbs_agree(void)
{
	for (size_t i = 0; i < ctl_n_verbs; i++) {
		const struct ctl_verb *v = &ctl_verbs[i];
		/* every id has its row, at its place */
		CU_ASSERT_PTR_NOT_NULL_FATAL(v->name);
		CU_ASSERT_EQUAL(v->id, i);
		bool served = daemon_command_known(v->name);
		if (served != (v->where == CTL_DAEMON))
			fprintf(stderr, "verb %s: table says %s, daemon %s\n", v->name,
				v->where == CTL_DAEMON ? "daemon" : "client", served ? "serves it" : "does not");
		CU_ASSERT_EQUAL(served, v->where == CTL_DAEMON);
		CU_ASSERT_PTR_EQUAL(ctl_verb_find(v->name), v);
		CU_ASSERT_EQUAL(strncmp(v->usage, v->name, strlen(v->name)), 0);
	}
	CU_ASSERT_PTR_NULL(ctl_verb_find("explode"));
	/* the daemon refuses what the table does not have, and client verbs */
	json_t *args = json_array();
	json_t *a = daemon_command("explode", args, NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(a, "error")), "unknown command"));
	json_decref(a);
	a = daemon_command("top", args, NULL);
	CU_ASSERT(json_is_false(json_object_get(a, "ok")));
	json_decref(a);
	/* argument counts come from the table */
	a = daemon_command("balloon", args, NULL);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a, "error")), "usage: balloon GUEST SIZE|auto");
	json_decref(a);
	/* each answer is counted by verb (an unknown name as one more) and result */
	static struct daemon d;
	json_decref(daemon_command("explode", args, &d));
	json_decref(daemon_command("balloon", args, &d));
	json_decref(daemon_command("balloon", args, &d));
	CU_ASSERT_EQUAL(d.ctl_requests[CTL_N_VERBS][1], 1);
	CU_ASSERT_EQUAL(d.ctl_requests[CTL_BALLOON][1], 2);
	CU_ASSERT_EQUAL(d.ctl_requests[CTL_BALLOON][0], 0);
	json_decref(args);
}

static void test_exec_mergeable(void)
{
	char *none[] = { NULL };
	CU_ASSERT_EQUAL(ctl_exec_mergeable(none), -EINVAL);
	if (access("/proc/self/ksm_stat", R_OK) != 0)
		return;
	pid_t pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		char *argv[] = { "sh", "-c", "grep -q '^ksm_merge_any: yes' /proc/self/ksm_stat", NULL };
		int r = ctl_exec_mergeable(argv);
		_exit(r == -EINVAL ? 77 : 3);
	}
	int status = 0;
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(status));
	if (WEXITSTATUS(status) != 77) /* 77: kernel without PR_SET_MEMORY_MERGE */
		CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
	/* A missing program: negative errno, not a crash. */
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		char *argv[] = { "/nonexistent/ksmd-test-program", NULL };
		_exit(ctl_exec_mergeable(argv) == -ENOENT ? 0 : 1);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static const struct ksmd_test tests[] = {
	{ "verb table and daemon handlers agree", test_verbs_agree },
	{ "exec_mergeable", test_exec_mergeable },
	{ NULL, NULL },
};

int main(void)
{
	KSMD_TEST_INIT();
	ksmd_add_suite("ctl", tests);
	return ksmd_run_tests();
}
