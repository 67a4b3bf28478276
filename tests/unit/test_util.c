/* Unit tests for common/util.c: sizes, durations, booleans. */
#include "common/util.h"
#include "tests/unit/harness.h"

#include <errno.h>

static void test_size(void)
{
	uint64_t v;
	CU_ASSERT_EQUAL(parse_size("4096", &v), 0); CU_ASSERT_EQUAL(v, 4096);
	CU_ASSERT_EQUAL(parse_size("512M", &v), 0); CU_ASSERT_EQUAL(v, 512 * MIB);
	CU_ASSERT_EQUAL(parse_size("2G", &v), 0); CU_ASSERT_EQUAL(v, 2 * GIB);
	CU_ASSERT_EQUAL(parse_size("1.5GiB", &v), 0); CU_ASSERT_EQUAL(v, 3 * GIB / 2);
	CU_ASSERT_EQUAL(parse_size("64k", &v), 0); CU_ASSERT_EQUAL(v, 64 * KIB);
	CU_ASSERT_EQUAL(parse_size("1 MB", &v), 0); CU_ASSERT_EQUAL(v, MIB);
	CU_ASSERT_EQUAL(parse_size("", &v), -EINVAL);
	CU_ASSERT_EQUAL(parse_size("12Q", &v), -EINVAL);
	CU_ASSERT_EQUAL(parse_size("-1G", &v), -EINVAL);
	CU_ASSERT_EQUAL(parse_size("1.5", &v), -EINVAL);
	CU_ASSERT_EQUAL(parse_size("99999999999T", &v), -ERANGE);
}

static void test_duration(void)
{
	usec_t v;
	CU_ASSERT_EQUAL(parse_duration("500ms", &v), 0); CU_ASSERT_EQUAL(v, 500000);
	CU_ASSERT_EQUAL(parse_duration("10s", &v), 0); CU_ASSERT_EQUAL(v, 10000000);
	CU_ASSERT_EQUAL(parse_duration("2", &v), 0); CU_ASSERT_EQUAL(v, 2000000);
	CU_ASSERT_EQUAL(parse_duration("1.5s", &v), 0); CU_ASSERT_EQUAL(v, 1500000);
	CU_ASSERT_EQUAL(parse_duration("2m", &v), 0); CU_ASSERT_EQUAL(v, 120000000);
	CU_ASSERT_EQUAL(parse_duration("250us", &v), 0); CU_ASSERT_EQUAL(v, 250);
	CU_ASSERT_EQUAL(parse_duration("5x", &v), -EINVAL);
	CU_ASSERT_EQUAL(parse_duration("ms", &v), -EINVAL);
}

static void test_bool_int(void)
{
	bool b;
	int64_t i;
	double d;
	CU_ASSERT_EQUAL(parse_bool("yes", &b), 0); CU_ASSERT_TRUE(b);
	CU_ASSERT_EQUAL(parse_bool("Off", &b), 0); CU_ASSERT_FALSE(b);
	CU_ASSERT_EQUAL(parse_bool("maybe", &b), -EINVAL);
	CU_ASSERT_EQUAL(parse_int64("-42", &i), 0); CU_ASSERT_EQUAL(i, -42);
	CU_ASSERT_EQUAL(parse_int64("4x", &i), -EINVAL);
	CU_ASSERT_EQUAL(parse_double("0.75", &d), 0); CU_ASSERT_DOUBLE_EQUAL(d, 0.75, 1e-9);
}

static void test_format(void)
{
	char buf[32];
	CU_ASSERT_STRING_EQUAL(format_size(512 * MIB, buf, sizeof buf), "512 MiB");
	CU_ASSERT_STRING_EQUAL(format_size(3 * GIB / 2, buf, sizeof buf), "1.5 GiB");
	CU_ASSERT_STRING_EQUAL(format_size(100, buf, sizeof buf), "100 B");
	CU_ASSERT_STRING_EQUAL(format_duration(500000, buf, sizeof buf), "500ms");
	CU_ASSERT_STRING_EQUAL(format_duration(150 * USEC_PER_SEC, buf, sizeof buf), "2m30s");
}

int main(void)
{
	static const struct ksmd_test tests[] = {
		{ "parse_size", test_size },
		{ "parse_duration", test_duration },
		{ "parse_bool_int", test_bool_int },
		{ "format", test_format },
		{ NULL, NULL },
	};
	KSMD_TEST_INIT();
	ksmd_add_suite("util", tests);
	return ksmd_run_tests();
}
