/* alloc_fail.h — allocation failure on demand, for the unit tests that
 * prove an out-of-memory path is reported and never taken for success.
 *
 * A test binary that includes this header is linked with
 * $(ALLOC_FAIL_WRAP) (mk/alloc_fail.mk): the linker sends every malloc,
 * calloc, realloc and asprintf call made by the project's objects (not
 * libc's own, not other libraries') to the __wrap_ functions below, which
 * pass it on to the real one unless a failure is armed:
 *
 *   alloc_fail_at(n, sticky)  the n-th next allocation (0 = the next one)
 *                             fails, and every later one too when sticky
 *   alloc_fail_off()          no more failures; returns how many were
 *                             injected since the last alloc_fail_at()
 *
 * A sweep over n (0, 1, 2, ... until a run injects nothing) fails each
 * allocation of a call in turn. Not thread-safe: arm it only around code
 * that allocates on the test's own thread. */
#ifndef KSMD_TEST_ALLOC_FAIL_H
#define KSMD_TEST_ALLOC_FAIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

static long alloc_fail_n = -1;   /* allocations left before the failure; -1 = off */
static bool alloc_fail_sticky;
static unsigned alloc_fail_injected;

static inline void alloc_fail_at(long n, bool sticky)
{
	alloc_fail_n = n;
	alloc_fail_sticky = sticky;
	alloc_fail_injected = 0;
}

static inline unsigned alloc_fail_off(void)
{
	alloc_fail_n = -1;
	return alloc_fail_injected;
}

/* Whether this allocation fails (and counts it). */
static inline bool alloc_fail_now(void)
{
	if (alloc_fail_n < 0)
		return false;
	if (alloc_fail_n > 0) {
		alloc_fail_n--;
		return false;
	}
	if (!alloc_fail_sticky)
		alloc_fail_n = -1;
	alloc_fail_injected++;
	errno = ENOMEM;
	return true;
}

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
int __wrap_asprintf(char **out, const char *fmt, ...);
int __wrap___asprintf_chk(char **out, int flag, const char *fmt, ...);

void *__wrap_malloc(size_t size)
{
	return alloc_fail_now() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return alloc_fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	return alloc_fail_now() ? NULL : __real_realloc(p, size);
}

/* asprintf, and what _FORTIFY_SOURCE turns it into */
static inline int alloc_fail_vasprintf(char **out, const char *fmt, va_list ap)
{
	if (alloc_fail_now())
		return -1;
	return vasprintf(out, fmt, ap);
}

int __wrap_asprintf(char **out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = alloc_fail_vasprintf(out, fmt, ap);
	va_end(ap);
	return r;
}

int __wrap___asprintf_chk(char **out, int flag, const char *fmt, ...)
{
	(void)flag;
	va_list ap;
	va_start(ap, fmt);
	int r = alloc_fail_vasprintf(out, fmt, ap);
	va_end(ap);
	return r;
}

#endif
