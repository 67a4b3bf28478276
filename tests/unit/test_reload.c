/* test_reload.c — daemon_reload's contract with systemd and with the
 * running configuration, with config_copy failing on demand (linked with
 * -Wl,--wrap=config_copy, mk/reload.mk): out of memory after RELOADING=1
 * must still send READY=1 and keep the running configuration. And the
 * guests a reload adds, with allocations failing on demand
 * (tests/unit/alloc_fail.h): a guest that cannot be added is reported. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "conf/config.h"
#include "daemon/daemon.h"
#include "daemon/guests.h"
#include "tests/unit/alloc_fail.h"
#include "tests/unit/harness.h"
#include "tests/unit/log_capture.h"

static int fail_copy;
int __real_config_copy(struct ksmd_config *dst, const struct ksmd_config *src);
int __wrap_config_copy(struct ksmd_config *dst, const struct ksmd_config *src)
{
	if (fail_copy)
		return -ENOMEM;
	return __real_config_copy(dst, src);
}

static void test_reload_enomem_sends_ready(void)
{
	log_set_level(LOG_CRIT);
	char dir[] = "/tmp/ksmd-test-reload.XXXXXX";
	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	char conf[256], sock[256];
	snprintf(conf, sizeof conf, "%s/ksmd.conf", dir);
	snprintf(sock, sizeof sock, "%s/notify", dir);
	FILE *f = fopen(conf, "w");
	CU_ASSERT_FATAL(f != NULL);
	fprintf(f, "[daemon]\ncontrol_socket = %s/ctl\ntick = 2s\n", dir);
	fclose(f);

	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	setenv("NOTIFY_SOCKET", sock, 1);

	static struct daemon d;
	memset(&d, 0, sizeof d);
	d.opts.config_path = conf;
	d.opts.config_paths[0] = conf;
	d.opts.n_configs = 1;
	CU_ASSERT_FATAL(config_load_files(d.opts.config_paths, 1, &d.cfg, NULL) == 0);
	/* the file changes, and there is no memory to take it */
	f = fopen(conf, "w");
	fprintf(f, "[daemon]\ncontrol_socket = %s/ctl\ntick = 1234567us\n", dir);
	fclose(f);
	fail_copy = 1;
	CU_ASSERT_EQUAL(daemon_reload(&d, NULL), -ENOMEM);
	fail_copy = 0;
	CU_ASSERT_EQUAL(d.cfg.tick_usec, 2 * USEC_PER_SEC); /* the running one stays */

	char msg[2][300];
	ssize_t n0 = recv(fd, msg[0], sizeof msg[0] - 1, 0);
	ssize_t n1 = recv(fd, msg[1], sizeof msg[1] - 1, 0);
	CU_ASSERT_FATAL(n0 > 0 && n1 > 0);
	msg[0][n0] = msg[1][n1] = 0;
	CU_ASSERT_STRING_EQUAL(msg[0], "RELOADING=1");
	CU_ASSERT_EQUAL(strncmp(msg[1], "READY=1\n", 8), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg[1], "out of memory"));

	config_free(&d.cfg);
	unsetenv("NOTIFY_SOCKET");
	close(fd);
	unlink(sock);
	unlink(conf);
	rmdir(dir);
}

/* A reload adds the guests new in the file; one that cannot be added
 * for want of memory is logged as an error, never dropped in silence.
 * Each allocation of the reload fails in turn, alone or with every later
 * one: after each, the guest is managed or the failure was logged. */
static void test_reload_guest_add_failure_reported(void)
{
	static struct daemon d;
	memset(&d, 0, sizeof d);
	char text[256];
	snprintf(text, sizeof text, "[balloon]\nenabled = no\n[scanner]\nenabled = no\n[guest g1]\npid = %d\n",
		 (int)getpid());
	CU_ASSERT_FATAL(config_parse("t.conf", text, &d.cfg, NULL) == 0);
	d.mod = calloc(1, sizeof *d.mod);
	CU_ASSERT_FATAL(d.mod != NULL);
	log_set_level(LOG_ERR);
	long runs = 0;
	for (int sticky = 0; sticky < 2; sticky++) {
		for (long n = 0; n < 1000; n++) {
			capture();
			alloc_fail_at(n, sticky);
			modules_reload_guests(&d);
			unsigned injected = alloc_fail_off();
			int lines;
			char *log = captured(&lines);
			bool added = d.mod->n == 1;
			bool reported = log && strstr(log, "guest g1: cannot be managed: Cannot allocate memory");
			CU_ASSERT(added != reported);
			if (!added && !reported)
				fprintf(stderr, "allocation %ld failing%s: guest g1 neither managed nor reported\n", n,
					sticky ? " (and every later one)" : "");
			free(log);
			if (added)
				guest_remove(&d, 0);
			runs += injected > 0;
			if (!injected)
				break;
		}
	}
	CU_ASSERT(runs >= 2); /* at least the guest's own allocation failed, alone and sticky */
	log_set_level(LOG_CRIT);
	free(d.mod->g);
	free(d.mod);
	config_free(&d.cfg);
}

static const struct ksmd_test tests[] = {
	{ "reload out of memory: READY=1 sent, configuration kept", test_reload_enomem_sends_ready },
	{ "reload: a guest that cannot be added is reported", test_reload_guest_add_failure_reported },
	{ NULL, NULL },
};

int main(void)
{
	KSMD_TEST_INIT();
	ksmd_add_suite("reload", tests);
	return ksmd_run_tests();
}
