/* Unit tests for common/util.c: sizes, durations, booleans. */
#include "common/util.h"
#include "tests/unit/harness.h"

#include <errno.h>
#include <string.h>

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

static void test_utf8(void)
{
	CU_ASSERT_TRUE(text_utf8_valid("plain \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 15));
	CU_ASSERT_TRUE(text_utf8_valid("", 0));
	CU_ASSERT_FALSE(text_utf8_valid("\xff", 1));
	CU_ASSERT_FALSE(text_utf8_valid("\xc3", 1));                 /* cut */
	CU_ASSERT_FALSE(text_utf8_valid("\xc0\xaf", 2));             /* overlong '/' */
	CU_ASSERT_FALSE(text_utf8_valid("\xe0\x80\xaf", 3));         /* overlong */
	CU_ASSERT_FALSE(text_utf8_valid("\xed\xa0\x80", 3));         /* surrogate */
	CU_ASSERT_FALSE(text_utf8_valid("\xf4\x90\x80\x80", 4));     /* above U+10FFFF */
	CU_ASSERT_FALSE(text_utf8_valid("a\x80", 2));
	/* a cut never falls inside a character */
	const char *s = "ab\xe2\x82\xac";
	CU_ASSERT_EQUAL(text_utf8_cut(s, 5), 5);
	CU_ASSERT_EQUAL(text_utf8_cut(s, 4), 2);
	CU_ASSERT_EQUAL(text_utf8_cut(s, 3), 2);
	CU_ASSERT_EQUAL(text_utf8_cut(s, 2), 2);
	CU_ASSERT_EQUAL(text_utf8_cut("a\x80\x80", 3), 3); /* invalid, not a cut */
}

static void test_escape(void)
{
	char out[64];
	const char in[] = "a\nb\x01\x7f\xff \xc3\xa9\xc2\x85\\x";
	CU_ASSERT_EQUAL(text_escape(out, sizeof out, in, sizeof in - 1, false), strlen(out));
	CU_ASSERT_STRING_EQUAL(out, "a\\x0ab\\x01\\x7f\\xff \xc3\xa9\\xc2\\x85\\x");
	text_escape(out, sizeof out, in, sizeof in - 1, true);
	CU_ASSERT_STRING_EQUAL(out, "a\nb\x01\x7f\\xff \xc3\xa9\xc2\x85\\x");
	/* full: stops before an escape or a character would be cut */
	CU_ASSERT_EQUAL(text_escape(out, 4, "ab\n", 3, false), 2);
	CU_ASSERT_STRING_EQUAL(out, "ab");
	CU_ASSERT_EQUAL(text_escape(out, 3, "a\xc3\xa9", 3, false), 1);
	CU_ASSERT_STRING_EQUAL(out, "a");
	CU_ASSERT_EQUAL(text_escape(out, 1, "abc", 3, false), 0);
}

static const char *nearest(const char *word, const char *const *names)
{
	struct text_nearest n = { 0 };
	for (; *names; names++)
		text_nearest_add(&n, word, *names);
	return n.best ? n.best : "(none)";
}

static void test_nearest(void)
{
	CU_ASSERT_EQUAL(text_distance("", ""), 0);
	CU_ASSERT_EQUAL(text_distance("status", "stauts"), 1); /* a swap */
	CU_ASSERT_EQUAL(text_distance("kitten", "sitting"), 3);
	CU_ASSERT_EQUAL(text_distance("abc", ""), 3);
	static const char *const verbs[] = { "status", "guests", "guest", "get", "set", "reload", NULL };
	CU_ASSERT_STRING_EQUAL(nearest("stauts", verbs), "status");
	CU_ASSERT_STRING_EQUAL(nearest("guset", verbs), "guest");
	CU_ASSERT_STRING_EQUAL(nearest("relaod", verbs), "reload");
	CU_ASSERT_STRING_EQUAL(nearest("frobnicate", verbs), "(none)");
	CU_ASSERT_STRING_EQUAL(nearest("status", verbs), "(none)"); /* itself is no suggestion */
	static const char *const keys[] = { "scanner.enabled", "scanner.pages_per_sec", "policy.budget", NULL };
	CU_ASSERT_STRING_EQUAL(nearest("scanner.page_per_sec", keys), "scanner.pages_per_sec");
	CU_ASSERT_STRING_EQUAL(nearest("pages_per_sec", keys), "scanner.pages_per_sec");
	CU_ASSERT_STRING_EQUAL(nearest("policy.budgte", keys), "policy.budget");
	CU_ASSERT_STRING_EQUAL(nearest("scanner.pages", keys), "scanner.pages_per_sec");
	CU_ASSERT_STRING_EQUAL(nearest("ksm.frobnicate", keys), "(none)");
	char longw[300];
	memset(longw, 'a', sizeof longw - 1);
	longw[sizeof longw - 1] = 0;
	CU_ASSERT_EQUAL(text_distance(longw, "a"), 255);
	CU_ASSERT_STRING_EQUAL(nearest(longw, keys), "(none)");
}

int main(void)
{
	static const struct ksmd_test tests[] = {
		{ "parse_size", test_size },
		{ "parse_duration", test_duration },
		{ "parse_bool_int", test_bool_int },
		{ "format", test_format },
		{ "UTF-8: valid, cut at a character", test_utf8 },
		{ "escape of what is not printable", test_escape },
		{ "did you mean: the nearest name", test_nearest },
		{ NULL, NULL },
	};
	KSMD_TEST_INIT();
	ksmd_add_suite("util", tests);
	return ksmd_run_tests();
}
