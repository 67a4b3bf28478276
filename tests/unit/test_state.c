/* Unit tests for daemon/state.c: the state file's name per control socket,
 * its mode, and that it never follows a symlink planted beside it. */
#include "daemon/state.h"
#include "tests/unit/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void tmpdir_make(void)
{
	snprintf(dir, sizeof dir, "/tmp/ksmd-test-state.XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
}

static void tmpdir_remove(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CU_ASSERT_EQUAL(system(cmd), 0);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	chmod(path, mode);
}

static bool file_is(const char *path, const char *text)
{
	char buf[256] = "";
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	return n >= 0 && !strcmp(buf, text);
}

static void a_state(struct daemon_state *st)
{
	memset(st, 0, sizeof *st);
	ksm_settings_clear(&st->ksm_saved);
	st->ksm_saved_valid = true;
	st->ksm_saved.run = 1;
	st->ksm_saved.pages_to_scan = 111;
	st->ksm_saved.sleep_millisecs = 77;
	st->overrides = json_pack("{s:I}", "g", (json_int_t)209715200);
}

/* Named after the control socket: two daemons in one folder, two files;
 * the default socket keeps the documented /run/ksmd/ksmd.state. */
static void test_path(void)
{
	char a[128], b[128];
	state_path("/run/ksmd/ksmd.sock", a, sizeof a);
	CU_ASSERT_STRING_EQUAL(a, "/run/ksmd/ksmd.state");
	state_path("/tmp/x/a.sock", a, sizeof a);
	state_path("/tmp/x/b.sock", b, sizeof b);
	CU_ASSERT_STRING_EQUAL(a, "/tmp/x/a.state");
	CU_ASSERT_STRING_EQUAL(b, "/tmp/x/b.state");
	state_path("/tmp/x/control", a, sizeof a);
	CU_ASSERT_STRING_EQUAL(a, "/tmp/x/control.state");
	state_path("ksmd.sock", a, sizeof a);
	CU_ASSERT_STRING_EQUAL(a, "ksmd.state");
}

static void test_mode_and_round_trip(void)
{
	tmpdir_make();
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/ksmd.state", dir);
	struct daemon_state st, back;
	a_state(&st);
	mode_t old = umask(0);  /* the file's mode must not depend on the umask */
	CU_ASSERT_EQUAL(state_save(path, &st), 0);
	umask(old);
	struct stat sb;
	CU_ASSERT_EQUAL_FATAL(lstat(path, &sb), 0);
	CU_ASSERT(S_ISREG(sb.st_mode));
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
	CU_ASSERT_EQUAL(state_load(path, &back), 0);
	CU_ASSERT(back.ksm_saved_valid);
	CU_ASSERT_EQUAL(back.ksm_saved.pages_to_scan, 111);
	CU_ASSERT_EQUAL(back.ksm_saved.sleep_millisecs, 77);
	CU_ASSERT_EQUAL(back.ksm_saved.advisor_mode, -1);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(back.overrides, "g")), 209715200);
	state_free(&back);
	state_free(&st);
	tmpdir_remove();
}

/* A symlink (or a stale file) at the temporary's name: the target is never
 * written, the state lands in a regular file of its own. */
static void test_tmp_symlink(void)
{
	tmpdir_make();
	char path[PATH_MAX], tmp[PATH_MAX + 8], victim[PATH_MAX], dangling[PATH_MAX];
	snprintf(path, sizeof path, "%s/ksmd.state", dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	snprintf(victim, sizeof victim, "%s/victim", dir);
	snprintf(dangling, sizeof dangling, "%s/created", dir);
	write_text(victim, "precious\n", 0600);
	CU_ASSERT_EQUAL_FATAL(symlink(victim, tmp), 0);
	struct daemon_state st;
	a_state(&st);
	CU_ASSERT_EQUAL(state_save(path, &st), 0);
	CU_ASSERT(file_is(victim, "precious\n"));
	struct stat sb;
	CU_ASSERT_EQUAL(lstat(path, &sb), 0);
	CU_ASSERT(S_ISREG(sb.st_mode));
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
	/* a dangling one: nothing is created at its target */
	unlink(tmp);
	CU_ASSERT_EQUAL_FATAL(symlink(dangling, tmp), 0);
	CU_ASSERT_EQUAL(state_save(path, &st), 0);
	CU_ASSERT_EQUAL(access(dangling, F_OK), -1);
	/* a stale temporary of a crashed save */
	unlink(tmp);
	write_text(tmp, "{ half a state", 0644);
	CU_ASSERT_EQUAL(state_save(path, &st), 0);
	CU_ASSERT_EQUAL(access(tmp, F_OK), -1);
	state_free(&st);
	tmpdir_remove();
}

/* The state file itself a symlink: not read (its target could be anything). */
static void test_load_symlink(void)
{
	tmpdir_make();
	char path[PATH_MAX], target[PATH_MAX];
	snprintf(path, sizeof path, "%s/ksmd.state", dir);
	snprintf(target, sizeof target, "%s/elsewhere", dir);
	write_text(target, "{\"ksm_saved\": {\"run\": 1}, \"overrides\": {}}", 0600);
	CU_ASSERT_EQUAL_FATAL(symlink(target, path), 0);
	struct daemon_state st;
	CU_ASSERT(state_load(path, &st) < 0);
	CU_ASSERT(!st.ksm_saved_valid);
	state_free(&st);
	unlink(path);
	CU_ASSERT_EQUAL(state_load(path, &st), -ENOENT);
	state_free(&st);
	tmpdir_remove();
}

/* The socket's folder must be root's alone; the lock file is created 0600
 * and never through a symbolic link. */
static void test_dir_check(void)
{
	tmpdir_make();
	char sub[128], sock[256], lock[272], victim[128], why[512];
	snprintf(sub, sizeof sub, "%s/run", dir);
	snprintf(sock, sizeof sock, "%s/ksmd.sock", sub);
	snprintf(lock, sizeof lock, "%s.lock", sock);
	snprintf(victim, sizeof victim, "%s/victim", dir);
	CU_ASSERT_EQUAL(state_dir_check(sock, why, sizeof why), 0); /* creates run/ */
	struct stat sb;
	CU_ASSERT_EQUAL(lstat(lock, &sb), 0);
	CU_ASSERT(S_ISREG(sb.st_mode) && (sb.st_mode & 07777) == 0600);
	CU_ASSERT_EQUAL(state_dir_check(sock, why, sizeof why), 0); /* again: the same lock file */
	chmod(sub, 0777);
	CU_ASSERT_EQUAL(state_dir_check(sock, why, sizeof why), -EPERM);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "is writable by others (mode 0777)"));
	chmod(sub, 01777);  /* sticky is no excuse for the folder itself */
	CU_ASSERT_EQUAL(state_dir_check(sock, why, sizeof why), -EPERM);
	chmod(sub, 0775);
	CU_ASSERT_EQUAL(state_dir_check(sock, why, sizeof why), -EPERM);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "writable by its group"));
	chmod(sub, 0755);
	chmod(dir, 0777);  /* a folder above, writable and not sticky */
	CU_ASSERT_EQUAL(state_dir_check(sock, why, sizeof why), -EPERM);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, dir));
	chmod(dir, 01777);  /* above, sticky: fine (/tmp) */
	CU_ASSERT_EQUAL(state_dir_check(sock, why, sizeof why), 0);
	chmod(dir, 0700);
	if (geteuid() == 0) {
		CU_ASSERT_EQUAL(chown(sub, 65534, 65534), 0);
		CU_ASSERT_EQUAL(state_dir_check(sock, why, sizeof why), -EPERM);
		CU_ASSERT_PTR_NOT_NULL(strstr(why, "is owned by uid 65534"));
		CU_ASSERT_EQUAL(chown(sub, 0, 0), 0);
	}
	write_text(victim, "precious\n", 0600);
	unlink(lock);
	CU_ASSERT_EQUAL_FATAL(symlink(victim, lock), 0);
	CU_ASSERT_EQUAL(state_dir_check(sock, why, sizeof why), -ELOOP);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "symbolic link"));
	CU_ASSERT(file_is(victim, "precious\n"));
	unlink(lock);
	CU_ASSERT_EQUAL(link(victim, lock), 0);  /* a hard link to someone's file */
	CU_ASSERT_EQUAL(state_dir_check(sock, why, sizeof why), -EPERM);
	tmpdir_remove();
}

/* state_parse: what state_load reads, from bytes (tests/fuzz/fuzz_state.c). */
static void test_parse(void)
{
	struct daemon_state st;
	static const char full[] = "{\"ksm_saved\": {\"run\": 1, \"pages_to_scan\": 100}, "
				   "\"overrides\": {\"web1\": 1073741824}}";
	CU_ASSERT_EQUAL_FATAL(state_parse(full, sizeof full - 1, &st), 0);
	CU_ASSERT_TRUE(st.ksm_saved_valid);
	CU_ASSERT_EQUAL(st.ksm_saved.run, 1);
	CU_ASSERT_EQUAL(st.ksm_saved.pages_to_scan, 100);
	CU_ASSERT_EQUAL(st.ksm_saved.sleep_millisecs, -1);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(st.overrides, "web1")), 1073741824);
	state_free(&st);
	CU_ASSERT_EQUAL_FATAL(state_parse("{\"overrides\": []}", 17, &st), 0);
	CU_ASSERT_FALSE(st.ksm_saved_valid);
	CU_ASSERT_TRUE(json_is_object(st.overrides));
	state_free(&st);
	CU_ASSERT_EQUAL(state_parse("{\"overrides\"", 12, &st), -EBADMSG);
	CU_ASSERT_EQUAL(state_parse("{}\0{}", 5, &st), -EBADMSG);
}

int main(void)
{
	KSMD_TEST_INIT();
	static const struct ksmd_test tests[] = {
		{ "state file named after the control socket", test_path },
		{ "mode 0600 and a round trip", test_mode_and_round_trip },
		{ "a symlink at the temporary is not followed", test_tmp_symlink },
		{ "a symlinked state file is not read", test_load_symlink },
		{ "the socket's folder is root's alone, the lock no link", test_dir_check },
		{ "the state file's bytes parsed", test_parse },
		{ NULL, NULL },
	};
	ksmd_add_suite("state", tests);
	return ksmd_run_tests();
}
