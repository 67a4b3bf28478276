/* harness.h — shared main() for the CUnit test binaries.
 *
 * A test file defines its suites with KSMD_SUITE / KSMD_TEST and ends with
 * KSMD_TEST_MAIN(); the binary exits 0 when every test passed, 1 otherwise. */
#ifndef KSMD_TEST_HARNESS_H
#define KSMD_TEST_HARNESS_H

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>

typedef void (*ksmd_test_fn)(void);
struct ksmd_test { const char *name; ksmd_test_fn fn; };

/* Register one suite of tests; returns 0 or exits on a CUnit error. */
static inline void ksmd_add_suite(const char *name, const struct ksmd_test *tests)
{
	CU_pSuite s = CU_add_suite(name, NULL, NULL);
	if (!s) { fprintf(stderr, "CU_add_suite: %s\n", CU_get_error_msg()); exit(2); }
	for (; tests->name; tests++)
		if (!CU_add_test(s, tests->name, tests->fn)) {
			fprintf(stderr, "CU_add_test: %s\n", CU_get_error_msg());
			exit(2);
		}
}

/* Run every registered suite verbosely; exit status is the verdict. */
static inline int ksmd_run_tests(void)
{
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	unsigned run = CU_get_number_of_tests_run();
	CU_cleanup_registry();
	if (run == 0) { fprintf(stderr, "no test ran\n"); return 1; }
	return failed ? 1 : 0;
}

#define KSMD_TEST_INIT() do { if (CU_initialize_registry() != CUE_SUCCESS) return 2; } while (0)

#endif
