/* Unit tests for collect/host.c: the parsers of /proc/meminfo, vmstat
 * and PSI on made-up text, the swap rates, the readers on a made-up root
 * and on this machine's /proc, and a memory cgroup's mount, path and
 * files (v1 and v2, made up). */
#include "collect/host.h"
#include "policy/policy.h"
#include "tests/unit/harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char MEMINFO[] =
	"MemTotal:       24563244 kB\n"
	"MemFree:         1000000 kB\n"
	"MemAvailable:   20000000 kB\n"
	"Buffers:          123 kB\n"
	"SwapTotal:       2097148 kB\n"
	"SwapFree:        2097000 kB\n";

static void test_parse_meminfo(void)
{
	struct policy_host h;
	memset(&h, 0, sizeof h);
	CU_ASSERT_EQUAL(collect_parse_meminfo(MEMINFO, &h), 0);
	CU_ASSERT_EQUAL(h.mem_total_bytes, 24563244ULL * 1024);
	CU_ASSERT_EQUAL(h.mem_available_bytes, 20000000ULL * 1024);
	CU_ASSERT_EQUAL(h.mem_free_bytes, 1000000ULL * 1024);
	CU_ASSERT_EQUAL(h.swap_total_bytes, 2097148ULL * 1024);
	CU_ASSERT_EQUAL(collect_parse_meminfo("MemTotal: 5 kB\nMemFree: 3 kB\n", &h), -EINVAL);
	CU_ASSERT_EQUAL(collect_parse_meminfo("", &h), -EINVAL);
	/* A key that is a prefix of another does not match it. */
	CU_ASSERT_EQUAL(collect_parse_meminfo("MemTotalX: 1 kB\nMemAvailable: 1 kB\n", &h), -EINVAL);
}

static void test_parse_vmstat(void)
{
	struct policy_host h, prev;
	memset(&h, 0, sizeof h);
	CU_ASSERT_EQUAL(collect_parse_vmstat("nr_free_pages 5\npswpin 100\npswpout 2000\npswpinx 9\n", &h), 0);
	CU_ASSERT_EQUAL(h.pswpin_pages, 100);
	CU_ASSERT_EQUAL(h.pswpout_pages, 2000);
	CU_ASSERT_EQUAL(collect_parse_vmstat("pswpin 1\n", &h), -EINVAL);
	prev = h;
	prev.pswpin_pages = 100;
	prev.sampled_usec = 10 * USEC_PER_SEC;
	h.sampled_usec = 12 * USEC_PER_SEC;
	h.pswpin_pages = 300;
	h.pswpout_pages = 2100;
	collect_host_rates(&prev, &h);
	CU_ASSERT_DOUBLE_EQUAL(h.swap_in_pages_per_sec, 100.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(h.swap_out_pages_per_sec, 50.0, 1e-9);
	h.pswpout_pages = 1;   /* counter went back */
	collect_host_rates(&prev, &h);
	CU_ASSERT_DOUBLE_EQUAL(h.swap_out_pages_per_sec, 0.0, 1e-9);
	collect_host_rates(NULL, &h);
	CU_ASSERT_DOUBLE_EQUAL(h.swap_in_pages_per_sec, 0.0, 1e-9);
}

static void test_parse_psi(void)
{
	struct policy_host h;
	memset(&h, 0, sizeof h);
	CU_ASSERT_EQUAL(collect_parse_psi("some avg10=12.50 avg60=3.00 avg300=1.00 total=123456\n"
					 "full avg10=4.25 avg60=1.00 avg300=0.00 total=789\n", &h), 0);
	CU_ASSERT_TRUE(h.psi_available);
	CU_ASSERT_DOUBLE_EQUAL(h.psi_some_avg10_percent, 12.5, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(h.psi_full_avg10_percent, 4.25, 1e-9);
	CU_ASSERT_EQUAL(h.psi_some_total_usec, 123456);
	CU_ASSERT_EQUAL(h.psi_full_total_usec, 789);
	CU_ASSERT_EQUAL(collect_parse_psi("some avg10=1.00 avg60=0.00 avg300=0.00 total=1\n", &h), 0);
	CU_ASSERT_DOUBLE_EQUAL(h.psi_full_avg10_percent, 0, 1e-9);
	CU_ASSERT_EQUAL(collect_parse_psi("some avg10=x\n", &h), -EINVAL);
	CU_ASSERT_EQUAL(collect_parse_psi("bogus\n", &h), -EINVAL);
	CU_ASSERT_EQUAL(collect_parse_psi("", &h), -EINVAL);
	CU_ASSERT_EQUAL(collect_parse_psi("some avg10=150.0 avg60=0 avg300=0 total=1\n", &h), -EINVAL);
}

static void write_at(const char *dir, const char *rel, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s%s", dir, rel);
	FILE *f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

static void test_collect_at(void)
{
	char dir[] = "/tmp/policy-collect-XXXXXX";
	char sub[600];
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(sub, sizeof sub, "%s/proc", dir); mkdir(sub, 0755);
	snprintf(sub, sizeof sub, "%s/proc/pressure", dir); mkdir(sub, 0755);
	write_at(dir, "/proc/meminfo", MEMINFO);
	write_at(dir, "/proc/vmstat", "pswpin 7\npswpout 8\n");
	struct policy_host h;
	memset(&h, 0, sizeof h);
	CU_ASSERT_EQUAL(collect_host_at(dir, &h), 0);   /* PSI missing is fine */
	CU_ASSERT_FALSE(h.psi_available);
	CU_ASSERT_EQUAL(h.pswpout_pages, 8);
	write_at(dir, "/proc/pressure/memory", "some avg10=2.00 avg60=0 avg300=0 total=5\n");
	CU_ASSERT_EQUAL(collect_host_at(dir, &h), 0);
	CU_ASSERT_TRUE(h.psi_available);
	CU_ASSERT(h.sampled_usec > 0);
	snprintf(sub, sizeof sub, "%s/proc/pressure/memory", dir); unlink(sub);
	snprintf(sub, sizeof sub, "%s/proc/pressure", dir); rmdir(sub);
	snprintf(sub, sizeof sub, "%s/proc/meminfo", dir); unlink(sub);
	snprintf(sub, sizeof sub, "%s/proc/vmstat", dir); unlink(sub);
	snprintf(sub, sizeof sub, "%s/proc", dir); rmdir(sub);
	CU_ASSERT_EQUAL(rmdir(dir), 0);

	/* The real files of this machine. */
	memset(&h, 0, sizeof h);
	CU_ASSERT_EQUAL(collect_host(&h), 0);
	CU_ASSERT(h.mem_total_bytes > 0);
	CU_ASSERT(h.mem_available_bytes <= h.mem_total_bytes);
}

static void test_cgroup_mount_and_read(void)
{
	char mnt[256];
	bool v2 = true;
	static const char v1[] =
		"25 1 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
		"30 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n"
		"31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
		"33 25 0:29 / /sys/fs/cgroup/memory rw,nosuid shared:9 - cgroup cgroup rw,memory\n";
	CU_ASSERT_EQUAL(collect_parse_cgroup_mount(v1, mnt, sizeof mnt, &v2), 0);
	CU_ASSERT_STRING_EQUAL(mnt, "/sys/fs/cgroup/memory");
	CU_ASSERT_FALSE(v2);
	static const char only2[] = "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
	CU_ASSERT_EQUAL(collect_parse_cgroup_mount(only2, mnt, sizeof mnt, &v2), 0);
	CU_ASSERT_STRING_EQUAL(mnt, "/sys/fs/cgroup");
	CU_ASSERT_TRUE(v2);
	CU_ASSERT_EQUAL(collect_parse_cgroup_mount("1 0 0:1 / / rw - ext4 /dev/sda rw\n", mnt, sizeof mnt, &v2),
			-ENOENT);
	char dir[512];
	CU_ASSERT_EQUAL(collect_cgroup_resolve("machine.slice", dir, sizeof dir), -EINVAL);
	CU_ASSERT_EQUAL(collect_cgroup_resolve("/a/../../etc", dir, sizeof dir), -EINVAL);

	/* a v1 directory and a v2 one, made up */
	char d1[] = "/tmp/ksmd-cg-XXXXXX";
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(d1));
	write_at(d1, "/memory.limit_in_bytes", "1073741824\n");
	write_at(d1, "/memory.usage_in_bytes", "536870912\n");
	write_at(d1, "/memory.stat", "cache 0\nswap 4096\ntotal_cache 0\ntotal_swap 8192\n");
	struct policy_host h, prev;
	memset(&h, 0, sizeof h);
	CU_ASSERT_EQUAL(collect_cgroup(d1, &h), 0);
	CU_ASSERT_TRUE(h.cg_valid && h.cg_limited);
	CU_ASSERT_EQUAL(h.cg_limit_bytes, 1 * GIB);
	CU_ASSERT_EQUAL(h.cg_usage_bytes, 512 * MIB);
	CU_ASSERT_EQUAL(h.cg_swap_bytes, 8192);
	prev = h;
	h.sampled_usec = prev.sampled_usec + 2 * USEC_PER_SEC;
	write_at(d1, "/memory.stat", "swap 4096\ntotal_swap 4202496\n");
	CU_ASSERT_EQUAL(collect_cgroup(d1, &h), 0);
	prev.cg_swap_out_bytes_total = 1000;
	collect_host_rates(&prev, &h);
	CU_ASSERT_DOUBLE_EQUAL(h.cg_swap_out_bytes_per_sec, 2 * MIB, 1);
	CU_ASSERT_EQUAL(h.cg_swap_out_bytes_total, 1000 + 4202496 - 8192); /* the counter grows by the growth */
	struct policy_host later = h;
	later.sampled_usec = h.sampled_usec + USEC_PER_SEC;
	later.cg_swap_bytes = 4096; /* swap given back: the counter stays */
	collect_host_rates(&h, &later);
	CU_ASSERT_EQUAL(later.cg_swap_out_bytes_total, h.cg_swap_out_bytes_total);
	collect_host_rates(NULL, &later);
	CU_ASSERT_EQUAL(later.cg_swap_out_bytes_total, 0);
	write_at(d1, "/memory.limit_in_bytes", "9223372036854771712\n");  /* v1's "no limit" */
	CU_ASSERT_EQUAL(collect_cgroup(d1, &h), 0);
	CU_ASSERT_FALSE(h.cg_limited);
	char f[600];
	const char *v1files[] = { "memory.limit_in_bytes", "memory.usage_in_bytes", "memory.stat" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(f, sizeof f, "%s/%s", d1, v1files[i]);
		unlink(f);
	}
	CU_ASSERT_EQUAL(collect_cgroup(d1, &h), -ENOENT);
	CU_ASSERT_FALSE(h.cg_valid);
	write_at(d1, "/memory.max", "max\n");
	write_at(d1, "/memory.current", "1000\n");
	write_at(d1, "/memory.swap.current", "4096\n");
	CU_ASSERT_EQUAL(collect_cgroup(d1, &h), 0);
	CU_ASSERT_FALSE(h.cg_limited);
	CU_ASSERT_EQUAL(h.cg_swap_bytes, 4096);
	write_at(d1, "/memory.max", "2147483648\n");
	CU_ASSERT_EQUAL(collect_cgroup(d1, &h), 0);
	CU_ASSERT_TRUE(h.cg_limited);
	CU_ASSERT_EQUAL(h.cg_limit_bytes, 2 * GIB);
	const char *v2files[] = { "memory.max", "memory.current", "memory.swap.current" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(f, sizeof f, "%s/%s", d1, v2files[i]);
		unlink(f);
	}
	CU_ASSERT_EQUAL(rmdir(d1), 0);
}

int main(void)
{
	KSMD_TEST_INIT();
	static const struct ksmd_test data[] = {
		{ "parse meminfo", test_parse_meminfo },
		{ "parse vmstat and rates", test_parse_vmstat },
		{ "parse psi", test_parse_psi },
		{ "collect from a root and from /proc", test_collect_at },
		{ "memory cgroup: mount, resolve, read", test_cgroup_mount_and_read },
		{ NULL, NULL },
	};
	ksmd_add_suite("collect host", data);
	return ksmd_run_tests();
}
