/* util.h — small helpers shared by every module: time, units, files.
 *
 * Time is one type everywhere: usec_t, microseconds. Sizes are uint64_t
 * bytes. Every function returns 0 (or a count) on success and a negative
 * errno on failure, and logs nothing. */
#ifndef KSMD_UTIL_H
#define KSMD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t usec_t;
#define USEC_PER_MSEC ((usec_t)1000)
#define USEC_PER_SEC  ((usec_t)1000000)
#define PAGE_SIZE_4K  4096ULL
#define KIB ((uint64_t)1024)
#define MIB ((uint64_t)1024 * 1024)
#define GIB ((uint64_t)1024 * 1024 * 1024)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* A balloon target's bounds, in the balloon's order (balloon/safety.c):
 * requested moved at most step away from from (step 0: no bound), then
 * clamped to [lo, hi], the range winning over the step. The policy applies
 * the same so that the target it records is the one the balloon is sent. */
static inline uint64_t clamp_step_range(uint64_t requested, uint64_t from, uint64_t step,
					uint64_t lo, uint64_t hi)
{
	uint64_t t = requested;
	if (step && t > from && t - from > step)
		t = from + step;
	else if (step && t < from && from - t > step)
		t = from - step;
	if (t < lo)
		t = lo;
	if (t > hi)
		t = hi;
	return t;
}

usec_t now_usec(void);           /* CLOCK_MONOTONIC */
usec_t now_realtime_usec(void);  /* CLOCK_REALTIME */

/* "512M", "2G", "4096", "1.5G", "64k" -> bytes (binary units, optional
 * trailing "iB"/"B"). Returns -EINVAL on junk, -ERANGE on overflow. */
int parse_size(const char *s, uint64_t *out);
/* "500ms", "10s", "2m", "1h", "250us", bare number = seconds. */
int parse_duration(const char *s, usec_t *out);
/* yes/no/true/false/on/off/1/0 */
int parse_bool(const char *s, bool *out);
/* Decimal signed integer, whole string. */
int parse_int64(const char *s, int64_t *out);
/* Decimal floating point, whole string. */
int parse_double(const char *s, double *out);

/* Human-readable size: "512 MiB", "1.5 GiB", "4 KiB", "0 B". */
const char *format_size(uint64_t bytes, char *buf, size_t len);
/* Human-readable duration: "500ms", "10s", "2m30s". */
const char *format_duration(usec_t usec, char *buf, size_t len);

/* Read a whole (small, /proc or /sys) file into a malloc'd NUL-terminated
 * buffer. *len may be NULL. */
int read_file(const char *path, char **out, size_t *len);
/* Read what is left of an open file the same way (the caller closes it). */
int read_fd(int fd, char **out, size_t *len);
/* Read one unsigned decimal number from a file (e.g. /sys/kernel/mm/ksm/run). */
int read_u64_file(const char *path, uint64_t *out);
/* Write a string to an existing file (no O_CREAT), whole or error. */
int write_file(const char *path, const char *s);
int write_u64_file(const char *path, uint64_t v);
/* Write a string whole to an open file. */
int write_fd(int fd, const char *s);

/* Text from outside (a QMP peer, a process's command line, a file) before
 * it is logged, stored or answered. A valid character is well-formed
 * UTF-8: no overlong form, no surrogate, nothing above U+10FFFF. */
/* The length of the character at s (1 to 4 bytes, within n), 0 when the
 * bytes there are not one (invalid, or cut by n). */
size_t text_utf8_char(const char *s, size_t n);
/* Whether s[0, n) is all valid UTF-8 (a NUL byte is a valid character:
 * a caller that refuses it checks with memchr). */
bool text_utf8_valid(const char *s, size_t n);
/* The longest length <= n at which s is not cut inside a character. */
size_t text_utf8_cut(const char *s, size_t n);
/* Copy src[0, n) to dst (always NUL-terminated when dstlen > 0), every
 * byte that is not part of a printable character (control characters and
 * newline, DEL, invalid UTF-8) written as \xNN; with keep_controls, only
 * invalid UTF-8 is escaped. Stops, rather than cut an escape or a
 * character, when dst is full. Returns the length written. */
size_t text_escape(char *dst, size_t dstlen, const char *src, size_t n, bool keep_controls);

/* "Did you mean": the nearest of several names to a mistyped word. Start
 * with a zeroed struct, offer each name with text_nearest_add(); best is
 * then the closest name within reach of word, or NULL. Within reach: an
 * edit distance (Levenshtein; a swap of two letters counts one) of at most
 * a third of the word's length (at least 1, at most 3), or the word is the
 * part of a dotted name after its dot ("pages_per_sec" for
 * "scanner.pages_per_sec"), or its start. */
struct text_nearest {
	const char *best;
	unsigned distance;
};
void text_nearest_add(struct text_nearest *n, const char *word, const char *name);
/* The edit distance of a and b, counting at most 255 (longer texts: 255). */
unsigned text_distance(const char *a, const char *b);

/* Whether only root (or this process's own user) can change what is in
 * the folder dir, so that a root daemon may create files there without
 * following a symbolic link someone planted: dir and every folder above it
 * (and above where its symbolic links lead) owned by root or the effective
 * user, dir writable by nobody else, a folder above it only when sticky
 * (/tmp). 0, else a negative errno (-EPERM: not private) with why naming
 * the path and what is wrong with it. */
int dir_check_private(const char *dir, char *why, size_t len);

#endif
