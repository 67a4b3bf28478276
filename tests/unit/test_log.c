/* Unit tests for common/log.c: one line per message whatever it quotes
 * (control characters, newlines and invalid UTF-8 escaped as \xNN), and
 * the per-source rate limit with its count of what was suppressed. */
#include "common/log.h"
#include "tests/unit/harness.h"
#include "tests/unit/log_capture.h"

#include <string.h>

static void test_escaped(void)
{
	int lines;
	log_open(LOG_TO_STDERR, LOG_INFO);
	capture();
	log_info("qmp g1: malformed JSON: %s", "{\"a\"\n12:00:00.000 ksmd[error]: forged\r\x01\xff\xc3\xa9");
	char *t = captured(&lines);
	CU_ASSERT_EQUAL(lines, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "{\"a\"\\x0a12:00:00.000 ksmd[error]: forged\\x0d\\x01\\xff\xc3\xa9\n"));
	free(t);

	/* a message longer than the buffer is cut at a character, not inside one */
	char big[2100];
	memset(big, 'a', sizeof big);
	for (size_t i = 2030; i + 1 < sizeof big; i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	big[sizeof big - 1] = '\0';
	capture();
	log_info("%s", big);
	t = captured(&lines);
	CU_ASSERT_EQUAL(lines, 1);
	CU_ASSERT_PTR_NULL(strstr(t, "\\x"));
	free(t);
}

static void test_rate_limit(void)
{
	int lines;
	struct log_limit l = { 0 }, other = { 0 };
	usec_t t = 100 * USEC_PER_SEC;
	log_open(LOG_TO_STDERR, LOG_DEBUG);
	capture();
	/* a flood, at debug level too: 10 lines */
	for (int i = 0; i < 1000; i++)
		log_limited(&l, "qmp g1", t + (usec_t)i * 1000, i == 500 ? LOG_ERR : LOG_DEBUG,
			    "message %d", i);
	/* another source has its own limit */
	log_limited(&other, "qmp g2", t, LOG_INFO, "other");
	free(captured(&lines));
	CU_ASSERT_EQUAL(lines, 11);

	/* the next window: the count first, at the most severe level dropped */
	capture();
	log_limited(&l, "qmp g1", t + LOG_LIMIT_WINDOW_USEC, LOG_INFO, "later");
	char *text = captured(&lines);
	CU_ASSERT_EQUAL(lines, 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "ksmd[error]: qmp g1: 990 messages suppressed"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "ksmd[info]: later\n"));
	free(text);

	/* a source that stops talking: the count comes from the timer */
	struct log_limit q = { 0 };
	t = 200 * USEC_PER_SEC;
	capture();
	for (int i = 0; i < 15; i++)
		log_limited(&q, "qmp g3", t, LOG_WARNING, "warn %d", i);
	log_limit_flush(&q, "qmp g3", t + LOG_LIMIT_WINDOW_USEC / 2);
	text = captured(&lines);
	CU_ASSERT_EQUAL(lines, 10);
	free(text);
	capture();
	log_limit_flush(&q, "qmp g3", t + LOG_LIMIT_WINDOW_USEC);
	log_limit_flush(&q, "qmp g3", t + 2 * LOG_LIMIT_WINDOW_USEC);
	text = captured(&lines);
	CU_ASSERT_EQUAL(lines, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "ksmd[warning]: qmp g3: 5 messages suppressed"));
	free(text);

	/* above log_level: neither logged nor counted */
	struct log_limit r = { 0 };
	log_set_level(LOG_INFO);
	capture();
	for (int i = 0; i < 100; i++)
		log_limited(&r, "qmp g4", t, LOG_DEBUG, "quiet %d", i);
	log_limited(&r, "qmp g4", t, LOG_INFO, "heard");
	log_limited(&r, "qmp g4", t + LOG_LIMIT_WINDOW_USEC, LOG_INFO, "heard");
	text = captured(&lines);
	CU_ASSERT_EQUAL(lines, 2);
	CU_ASSERT_PTR_NULL(strstr(text, "suppressed"));
	free(text);
}

int main(void)
{
	static const struct ksmd_test tests[] = {
		{ "one line whatever the message quotes", test_escaped },
		{ "per-source rate limit, suppressed count", test_rate_limit },
		{ NULL, NULL },
	};
	KSMD_TEST_INIT();
	ksmd_add_suite("log", tests);
	return ksmd_run_tests();
}
