/* Unit tests for daemon/control.c: request parsing, answers, and a real
 * socket round trip (server in the event loop of a child process). */
#include "daemon/control.h"
#include "tests/unit/harness.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int calls;

static json_t *echo(const char *cmd, json_t *args, void *data)
{
	(void)data;
	calls++;
	if (!strcmp(cmd, "fail"))
		return control_error("no: %zu args", json_array_size(args));
	json_t *o = json_object();
	json_object_set_new(o, "cmd", json_string(cmd));
	json_object_set(o, "args", args);
	return control_ok(o);
}

static const char *err_of(json_t *a) { return json_string_value(json_object_get(a, "error")); }

static void test_dispatch(void)
{
	json_t *a;
	calls = 0;
	a = control_dispatch("{\"cmd\":\"get\",\"args\":[\"x\"]}", echo, NULL);
	CU_ASSERT_TRUE(json_is_true(json_object_get(a, "ok")));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(a, "result"), "cmd")), "get");
	json_decref(a);
	a = control_dispatch("{\"cmd\":\"status\"}", echo, NULL); /* args optional */
	CU_ASSERT_TRUE(json_is_true(json_object_get(a, "ok")));
	json_decref(a);
	a = control_dispatch("{\"cmd\":\"fail\",\"args\":[\"a\",\"b\"]}", echo, NULL);
	CU_ASSERT_TRUE(json_is_false(json_object_get(a, "ok")));
	CU_ASSERT_STRING_EQUAL(err_of(a), "no: 2 args");
	json_decref(a);
	CU_ASSERT_EQUAL(calls, 3);

	static const struct { const char *line, *msg; } bad[] = {
		{ "not json", "malformed request: " },
		{ "[1,2]", "malformed request: no \"cmd\" string" },
		{ "{\"cmd\":5}", "malformed request: no \"cmd\" string" },
		{ "{\"cmd\":\"get\",\"args\":\"x\"}", "malformed request: \"args\" must be an array" },
		{ "", "malformed request: " },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		a = control_dispatch(bad[i].line, echo, NULL);
		CU_ASSERT_TRUE(json_is_false(json_object_get(a, "ok")));
		CU_ASSERT_TRUE(err_of(a) && !strncmp(err_of(a), bad[i].msg, strlen(bad[i].msg)));
		json_decref(a);
	}
	CU_ASSERT_EQUAL(calls, 3); /* the handler never saw a malformed request */
}

/* An error text is always in the answer: cut at a character when too long,
 * bytes that are not UTF-8 escaped. */
static void test_error_text_utf8(void)
{
	char msg[1100];
	for (size_t i = 0; i + 2 < sizeof msg; i += 2)
		memcpy(msg + i, "\xc3\xa9", 2);
	msg[sizeof msg - 2] = '\0';
	for (int shift = 0; shift < 2; shift++) {
		json_t *a = control_error("%s%s", shift ? "x" : "", msg);
		const char *e = err_of(a);
		CU_ASSERT_PTR_NOT_NULL(e);
		CU_ASSERT_TRUE(e && strlen(e) >= 1020 && strlen(e) < 1024);
		json_decref(a);
	}
	json_t *a = control_error("bad: %s\nnext line", "caf\xe9");
	CU_ASSERT_STRING_EQUAL(err_of(a), "bad: caf\\xe9\nnext line");
	json_decref(a);
}

static void test_socket_roundtrip(void)
{
	char dir[] = "/tmp/ksmd-ctl-test.XXXXXX", path[128];
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/sub/ctl.sock", dir);
	int ready[2];
	CU_ASSERT_EQUAL_FATAL(pipe(ready), 0);
	pid_t child = fork();
	if (child == 0) {
		struct loop *l = loop_new();
		struct control *c;
		if (!l || control_open(l, path, echo, NULL, &c) < 0)
			_exit(1);
		char x = 1;
		if (write(ready[1], &x, 1) != 1)
			_exit(1);
		loop_run(l); /* until killed */
		_exit(0);
	}
	char x;
	CU_ASSERT_EQUAL_FATAL(read(ready[0], &x, 1), 1);

	json_t *ans = NULL, *args = json_pack("[ss]", "scanner.pages_per_sec", "2000");
	CU_ASSERT_EQUAL(control_call(path, "set", args, 2 * USEC_PER_SEC, &ans), 0);
	json_decref(args);
	CU_ASSERT_TRUE(json_is_true(json_object_get(ans, "ok")));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(
		json_object_get(json_object_get(ans, "result"), "args"), 1)), "2000");
	json_decref(ans);

	/* a second server on the same path refuses */
	struct loop *l2 = loop_new();
	struct control *c2 = NULL;
	CU_ASSERT_EQUAL(control_open(l2, path, echo, NULL, &c2), -EADDRINUSE);
	loop_free(l2);

	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	/* nobody listening: the client says so */
	CU_ASSERT_EQUAL(control_call(path, "status", NULL, USEC_PER_SEC, &ans), -ECONNREFUSED);
	/* a stale socket file is replaced by a new server */
	struct loop *l3 = loop_new();
	struct control *c3 = NULL;
	CU_ASSERT_EQUAL(control_open(l3, path, echo, NULL, &c3), 0);
	control_close(c3);
	loop_free(l3);
	CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0); /* removed at close */
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CU_ASSERT_EQUAL(system(cmd), 0);
	close(ready[0]);
	close(ready[1]);
}

int main(void)
{
	static const struct ksmd_test tests[] = {
		{ "dispatch", test_dispatch },
		{ "error text cut at a character, never lost", test_error_text_utf8 },
		{ "socket_roundtrip", test_socket_roundtrip },
		{ NULL, NULL },
	};
	KSMD_TEST_INIT();
	ksmd_add_suite("control", tests);
	return ksmd_run_tests();
}
