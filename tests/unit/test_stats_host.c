/* Unit tests of stats/host.c: the Host headers a loopback endpoint
 * answers (DNS rebinding), and that any other endpoint answers all. */
#include "stats/host.h"
#include "tests/unit/harness.h"

#include <string.h>

static void test_loopback(void)
{
	static const char *const ok[] = {
		"localhost", "localhost:9110", "LocalHost:1", "localhost.", "localhost.:9110",
		"127.0.0.1", "127.0.0.1:9110", "10.1.2.3:80", "[::1]", "[::1]:9110",
		"[fe80::1]:9110", NULL,
	};
	static const char *const refused[] = {
		"evil.example", "evil.example:9110", "localhost.evil.example", "127.0.0.1.nip.io:9110",
		"", ":9110", "[::1", "[::1]x", "::1", "::1:9110", "[]:9110", "localhost:9110:1",
		"1.2.3", NULL,
	};
	for (const char *const *h = ok; *h; h++) {
		CU_ASSERT_TRUE(stats_host_allowed(*h, true));
		if (!stats_host_allowed(*h, true))
			fprintf(stderr, "refused: '%s'\n", *h);
	}
	for (const char *const *h = refused; *h; h++) {
		CU_ASSERT_FALSE(stats_host_allowed(*h, true));
		if (stats_host_allowed(*h, true))
			fprintf(stderr, "answered: '%s'\n", *h);
	}
	CU_ASSERT_TRUE(stats_host_allowed(NULL, true)); /* HTTP/1.0: no Host */
	char lng[400];
	memset(lng, 'a', sizeof lng - 1);
	lng[sizeof lng - 1] = 0;
	CU_ASSERT_FALSE(stats_host_allowed(lng, true));
}

static void test_exposed(void)
{
	CU_ASSERT_TRUE(stats_host_allowed("ksmd.example:9110", false));
	CU_ASSERT_TRUE(stats_host_allowed("", false));
	CU_ASSERT_TRUE(stats_host_allowed(NULL, false));
}

int main(void)
{
	static const struct ksmd_test host[] = {
		{ "a loopback endpoint answers localhost and IP addresses only", test_loopback },
		{ "an exposed endpoint answers every Host", test_exposed },
		{ NULL, NULL },
	};
	KSMD_TEST_INIT();
	ksmd_add_suite("host", host);
	return ksmd_run_tests();
}
