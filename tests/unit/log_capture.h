/* log_capture.h — what ksmd logged during a unit test: stderr is sent to
 * a file between capture() and captured(). */
#ifndef KSMD_TEST_LOG_CAPTURE_H
#define KSMD_TEST_LOG_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/unit/harness.h"

static char out_path[] = "/tmp/ksmd-log-test-XXXXXX";
static int saved_err = -1;

/* Send stderr to a fresh file. */
static inline void capture(void)
{
	int fd = mkstemp(out_path);
	CU_ASSERT_FATAL(fd >= 0);
	fflush(stderr);
	saved_err = dup(2);
	dup2(fd, 2);
	close(fd);
}

/* Restore stderr; the captured text (malloc'd), its line count in *lines. */
static inline char *captured(int *lines)
{
	fflush(stderr);
	dup2(saved_err, 2);
	close(saved_err);
	char *text = NULL;
	size_t len = 0;
	CU_ASSERT_EQUAL(read_file(out_path, &text, &len), 0);
	unlink(out_path);
	strcpy(out_path, "/tmp/ksmd-log-test-XXXXXX");
	*lines = 0;
	for (size_t i = 0; text && i < len; i++)
		*lines += text[i] == '\n';
	return text;
}

#endif
