/* Unit tests for balloon/discover.c: QEMU command-line parsing (the QMP
 * socket, the name, the memory size, the balloon device) and discovery of
 * QEMU processes over a made-up /proc. */
#include "balloon/balloon.h"
#include "balloon/internal.h"
#include "tests/unit/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int parse(const char *const *argv, struct qemu_guest *g)
{
	char buf[2048];
	size_t n = 0;
	for (; *argv; argv++) {
		size_t l = strlen(*argv) + 1;
		memcpy(buf + n, *argv, l);
		n += l;
	}
	return balloon_parse_qemu_cmdline(buf, n, g);
}

static void test_cmdline(void)
{
	struct qemu_guest g;
	const char *a1[] = { "qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-name", "web1",
			     "-device", "virtio-balloon-pci,id=balloon0",
			     "-qmp", "unix:/run/q/web1.sock,server=on,wait=off", NULL };
	CU_ASSERT_EQUAL(parse(a1, &g), 0);
	CU_ASSERT_STRING_EQUAL(g.qmp_path, "/run/q/web1.sock");
	CU_ASSERT_STRING_EQUAL(g.name, "web1");
	CU_ASSERT_EQUAL(g.mem_bytes, 512 * MIB);
	CU_ASSERT_TRUE(g.has_balloon);

	const char *a2[] = { "qemu", "--name", "guest=db,debug-threads=on", "-m", "size=2G,slots=2,maxmem=8G",
			     "-chardev", "socket,id=hmp,path=/tmp/hmp.sock,server=on,wait=off",
			     "-mon", "chardev=hmp,mode=readline",
			     "-chardev", "socket,id=charmonitor,path=/var/lib/x,,y/mon.sock,server=on,wait=off",
			     "-mon", "chardev=charmonitor,id=monitor,mode=control", NULL };
	CU_ASSERT_EQUAL(parse(a2, &g), 0);
	CU_ASSERT_STRING_EQUAL(g.qmp_path, "/var/lib/x,y/mon.sock");
	CU_ASSERT_STRING_EQUAL(g.name, "db");
	CU_ASSERT_EQUAL(g.mem_bytes, 2 * GIB);
	CU_ASSERT_FALSE(g.has_balloon);

	const char *a3[] = { "qemu", "-qmp", "tcp:localhost:4444,server=on", "-mon",
			     "chardev=x,mode=control", "-m", "1G", NULL };
	CU_ASSERT_EQUAL(parse(a3, &g), -ENOENT);
	CU_ASSERT_EQUAL(g.mem_bytes, 1 * GIB);
	CU_ASSERT_EQUAL(balloon_parse_qemu_cmdline("", 0, &g), -EINVAL);
	/* truncated final argument without NUL */
	const char trunc[] = "qemu\0-qmp\0unix:/tmp/a.sock";
	CU_ASSERT_EQUAL(balloon_parse_qemu_cmdline(trunc, sizeof trunc - 1, &g), 0);
	CU_ASSERT_STRING_EQUAL(g.qmp_path, "/tmp/a.sock");
	/* -name: printable UTF-8 of at most 63 bytes, or none */
	const char *n1[] = { "qemu", "-qmp", "unix:/q", "-name", "caf\xc3\xa9", NULL };
	CU_ASSERT_EQUAL(parse(n1, &g), 0);
	CU_ASSERT_STRING_EQUAL(g.name, "caf\xc3\xa9");
	const char *n2[] = { "qemu", "-qmp", "unix:/q", "-name", "a\nb", NULL };
	CU_ASSERT_EQUAL(parse(n2, &g), 0);
	CU_ASSERT_STRING_EQUAL(g.name, "");
	const char *n3[] = { "qemu", "-qmp", "unix:/q", "-name", "guest=caf\xe9", NULL };
	CU_ASSERT_EQUAL(parse(n3, &g), 0);
	CU_ASSERT_STRING_EQUAL(g.name, "");
	char longname[80];
	memset(longname, 'n', 64);
	longname[64] = '\0';
	const char *n4[] = { "qemu", "-qmp", "unix:/q", "-name", longname, NULL };
	CU_ASSERT_EQUAL(parse(n4, &g), 0);
	CU_ASSERT_STRING_EQUAL(g.name, "");
	longname[63] = '\0';
	CU_ASSERT_EQUAL(parse(n4, &g), 0);
	CU_ASSERT_STRING_EQUAL(g.name, longname);
	/* ... and nothing past it is read (heap overflow found by
	 * tests/fuzz/fuzz_cmdline.c): the bytes after len are not the path's */
	const char past[] = "qemu\0-qmp\0unix:/tmp/b.sockPAST";
	CU_ASSERT_EQUAL(balloon_parse_qemu_cmdline(past, sizeof past - 5, &g), 0);
	CU_ASSERT_STRING_EQUAL(g.qmp_path, "/tmp/b.sock");
	char *exact = malloc(sizeof past - 5);
	CU_ASSERT_PTR_NOT_NULL_FATAL(exact);
	memcpy(exact, past, sizeof past - 5);
	CU_ASSERT_EQUAL(balloon_parse_qemu_cmdline(exact, sizeof past - 5, &g), 0);
	CU_ASSERT_STRING_EQUAL(g.qmp_path, "/tmp/b.sock");
	free(exact);
}

static void write_at(const char *dir, const char *name, const char *data, size_t len)
{
	char p[256];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fwrite(data, 1, len, f);
	fclose(f);
}

/* A file at dir/name: a symbolic link to target, else a file with mode. */
static void make_at(const char *dir, const char *name, const char *target, mode_t mode, uid_t uid)
{
	char p[256];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	if (target) {
		CU_ASSERT_EQUAL(symlink(target, p), 0);
		return;
	}
	int fd = open(p, O_CREAT | O_WRONLY, mode);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(fchmod(fd, mode), 0);
	CU_ASSERT_EQUAL(fchown(fd, uid, 0), 0);
	close(fd);
}

/* A listening UNIX socket at dir/name owned by uid (its fd: close it). */
static int socket_at(const char *dir, const char *name, uid_t uid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s", dir, name);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	CU_ASSERT_EQUAL(chown(sa.sun_path, uid, 0), 0);
	return fd;
}

/* A made-up /proc/PID: exe a link to bin/EXE, status with uid, cmdline args
 * (NUL-separated, "%s" in them is the test's folder). */
static void fake_proc(const char *root, int pid, const char *exe, unsigned uid,
		      const char *const *args)
{
	char d[128], target[200], st[64], cmd[1024];
	snprintf(d, sizeof d, "%s/%d", root, pid);
	mkdir(d, 0755);
	snprintf(target, sizeof target, "%s/bin/%s", root, exe);
	make_at(d, "exe", target, 0, 0);
	snprintf(st, sizeof st, "Name:\tx\nUmask:\t0022\nUid:\t%u\t%u\t%u\t%u\n", uid, uid, uid, uid);
	write_at(d, "status", st, strlen(st));
	size_t n = 0;
	for (; *args; args++)
		n += (size_t)snprintf(cmd + n, sizeof cmd - n, *args, root) + 1;
	write_at(d, "cmdline", cmd, n);
}

static void test_discover(void)
{
	char root[] = "/tmp/ksmd-proc-XXXXXX";
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(root));
	char bin[64];
	snprintf(bin, sizeof bin, "%s/bin", root);
	mkdir(bin, 0755);
	make_at(bin, "qemu-system-x86_64", NULL, 0755, 0);
	make_at(bin, "qemu-kvm", NULL, 0755, 0);
	make_at(bin, "python3", NULL, 0755, 0);
	make_at(bin, "qemu-system-aarch64", NULL, 0755, 1000);  /* a user's own build */
	make_at(bin, "qemu-system-riscv64", NULL, 0757, 0);     /* anyone may replace it */
	int s1 = socket_at(root, "g1.sock", 0), s3 = socket_at(root, "g3.sock", 1000),
	    s5 = socket_at(root, "g5.sock", 65534);
	make_at(root, "g6.sock", "g1.sock", 0, 0);
	make_at(root, "g7.sock", NULL, 0600, 0);

	const char *qmp1[] = { "qemu-system-x86_64", "-qmp", "unix:%s/g1.sock,server=on,wait=off",
			       "-name", "g1", NULL };
	fake_proc(root, 4242, "qemu-system-x86_64", 0, qmp1);
	/* a process named qemu that is not: a script, a user's binary, one anyone may write */
	char d[128];
	snprintf(d, sizeof d, "%s/4243", root);
	fake_proc(root, 4243, "python3", 0, qmp1);
	write_at(d, "comm", "qemu-evil\n", 10);
	fake_proc(root, 4246, "qemu-system-aarch64", 1000, qmp1);
	fake_proc(root, 4253, "qemu-system-riscv64", 0, qmp1);
	const char *none[] = { "qemu-system-x86_64", "-m", "256", NULL };  /* no QMP socket */
	fake_proc(root, 4244, "qemu-system-x86_64", 0, none);
	const char *kvm[] = { "qemu-kvm", "-qmp", "unix:%s/g3.sock", NULL };
	fake_proc(root, 4245, "qemu-kvm", 1000, kvm);
	/* sockets not the process's: another user's, a link, a file, a relative path */
	const char *other[] = { "qemu-system-x86_64", "-qmp", "unix:%s/g5.sock", NULL };
	fake_proc(root, 4247, "qemu-system-x86_64", 1000, other);
	const char *link[] = { "qemu-system-x86_64", "-qmp", "unix:%s/g6.sock", NULL };
	fake_proc(root, 4248, "qemu-system-x86_64", 0, link);
	const char *file[] = { "qemu-system-x86_64", "-qmp", "unix:%s/g7.sock", NULL };
	fake_proc(root, 4249, "qemu-system-x86_64", 0, file);
	const char *rel[] = { "qemu-system-x86_64", "-qmp", "unix:g1.sock", NULL };
	fake_proc(root, 4251, "qemu-system-x86_64", 0, rel);
	/* a name that would forge a log line is not taken */
	const char *forge[] = { "qemu-system-x86_64", "-qmp", "unix:%s/g1.sock", "-name",
				"guest=x\n12:00:00.000 ksmd[error]: forged,debug-threads=on", NULL };
	fake_proc(root, 4252, "qemu-system-x86_64", 0, forge);
	snprintf(d, sizeof d, "%s/self", root); mkdir(d, 0755);

	struct qemu_guest *gs = NULL;
	int n = balloon_discover_qemu(root, &gs);
	CU_ASSERT_EQUAL(n, 3);
	int seen = 0;
	for (int i = 0; i < n; i++) {
		if (gs[i].pid == 4242) { seen |= 1; CU_ASSERT_STRING_EQUAL(gs[i].name, "g1"); }
		if (gs[i].pid == 4245) { seen |= 2; CU_ASSERT_STRING_EQUAL(gs[i].name, "qemu-4245");
					 CU_ASSERT(strstr(gs[i].qmp_path, "/g3.sock") != NULL); }
		if (gs[i].pid == 4252) { seen |= 4; CU_ASSERT_STRING_EQUAL(gs[i].name, "qemu-4252"); }
	}
	CU_ASSERT_EQUAL(seen, 7);
	free(gs);
	close(s1); close(s3); close(s5);
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	CU_ASSERT_EQUAL(system(cmd), 0);
	CU_ASSERT_EQUAL(balloon_discover_qemu("/nonexistent-proc", &gs), -ENOENT);
}

static const struct ksmd_test tests[] = {
	{ "QEMU command lines", test_cmdline },
	{ "discovery over a made-up /proc", test_discover },
	{ NULL, NULL },
};

int main(void)
{
	KSMD_TEST_INIT();
	ksmd_add_suite("QEMU discovery", tests);
	return ksmd_run_tests();
}
