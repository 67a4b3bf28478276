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

/* Whether only root (or this process's own user) can change what is in
 * the folder dir, so that a root daemon may create files there without
 * following a symbolic link someone planted: dir and every folder above it
 * (and above where its symbolic links lead) owned by root or the effective
 * user, dir writable by nobody else, a folder above it only when sticky
 * (/tmp). 0, else a negative errno (-EPERM: not private) with why naming
 * the path and what is wrong with it. */
int dir_check_private(const char *dir, char *why, size_t len);

#endif
