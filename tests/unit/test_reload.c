/* test_reload.c — daemon_reload's contract with systemd and with the
 * running configuration, with config_copy failing on demand (linked with
 * -Wl,--wrap=config_copy, mk/reload.mk): out of memory after RELOADING=1
 * must still send READY=1 and keep the running configuration. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "tests/unit/harness.h"

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

static const struct ksmd_test tests[] = {
	{ "reload out of memory: READY=1 sent, configuration kept", test_reload_enomem_sends_ready },
	{ NULL, NULL },
};

int main(void)
{
	KSMD_TEST_INIT();
	ksmd_add_suite("reload", tests);
	return ksmd_run_tests();
}
