/* util.c — see util.h. */
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static usec_t clock_usec(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

usec_t now_usec(void) { return clock_usec(CLOCK_MONOTONIC); }
usec_t now_realtime_usec(void) { return clock_usec(CLOCK_REALTIME); }

/* Parse a non-negative decimal number with optional fraction; returns the
 * pointer past it, or NULL. */
static const char *parse_number(const char *s, double *out)
{
	char *end;
	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s) && *s != '.')
		return NULL;
	errno = 0;
	*out = strtod(s, &end);
	if (errno || end == s || !isfinite(*out) || *out < 0)
		return NULL;
	return end;
}

int parse_size(const char *s, uint64_t *out)
{
	static const struct { const char *suffix; uint64_t mult; } units[] = {
		{ "", 1 }, { "B", 1 },
		{ "K", KIB }, { "KB", KIB }, { "KIB", KIB },
		{ "M", MIB }, { "MB", MIB }, { "MIB", MIB },
		{ "G", GIB }, { "GB", GIB }, { "GIB", GIB },
		{ "T", GIB * 1024 }, { "TB", GIB * 1024 }, { "TIB", GIB * 1024 },
	};
	double v;
	const char *p;

	if (!s || !(p = parse_number(s, &v)))
		return -EINVAL;
	while (isspace((unsigned char)*p))
		p++;
	char suf[8];
	size_t n = strlen(p);
	while (n && isspace((unsigned char)p[n - 1]))
		n--;
	if (n >= sizeof suf)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		suf[i] = (char)toupper((unsigned char)p[i]);
	suf[n] = 0;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(suf, units[i].suffix))
			continue;
		double bytes = v * (double)units[i].mult;
		if (bytes >= 18446744073709551615.0)
			return -ERANGE;
		if (units[i].mult == 1 && v != floor(v))
			return -EINVAL;
		*out = (uint64_t)bytes;
		return 0;
	}
	return -EINVAL;
}

int parse_duration(const char *s, usec_t *out)
{
	static const struct { const char *suffix; double mult; } units[] = {
		{ "", 1e6 }, { "s", 1e6 }, { "sec", 1e6 }, { "ms", 1e3 }, { "us", 1 },
		{ "m", 60e6 }, { "min", 60e6 }, { "h", 3600e6 },
	};
	double v;
	const char *p;

	if (!s || !(p = parse_number(s, &v)))
		return -EINVAL;
	while (isspace((unsigned char)*p))
		p++;
	size_t n = strlen(p);
	while (n && isspace((unsigned char)p[n - 1]))
		n--;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strlen(units[i].suffix) != n || strncasecmp(p, units[i].suffix, n))
			continue;
		double us = v * units[i].mult;
		if (us >= 1.8e19)
			return -ERANGE;
		*out = (usec_t)llround(us);
		return 0;
	}
	return -EINVAL;
}

int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(s, yes[i])) { *out = true; return 0; }
		if (!strcasecmp(s, no[i])) { *out = false; return 0; }
	}
	return -EINVAL;
}

int parse_int64(const char *s, int64_t *out)
{
	char *end;
	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	while (isspace((unsigned char)*end))
		end++;
	if (end == s || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int parse_double(const char *s, double *out)
{
	char *end;
	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno == ERANGE || !isfinite(v))
		return -ERANGE;
	while (isspace((unsigned char)*end))
		end++;
	if (end == s || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

const char *format_size(uint64_t b, char *buf, size_t len)
{
	static const char *const names[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	size_t u = 0;
	while (v >= 1024 && u + 1 < ARRAY_SIZE(names)) {
		v /= 1024;
		u++;
	}
	if (u == 0 || v == floor(v))
		snprintf(buf, len, "%.0f %s", v, names[u]);
	else
		snprintf(buf, len, "%.1f %s", v, names[u]);
	return buf;
}

const char *format_duration(usec_t us, char *buf, size_t len)
{
	if (us < USEC_PER_MSEC)
		snprintf(buf, len, "%" PRIu64 "us", us);
	else if (us < USEC_PER_SEC)
		snprintf(buf, len, "%" PRIu64 "ms", us / USEC_PER_MSEC);
	else if (us < 60 * USEC_PER_SEC && us % USEC_PER_SEC)
		snprintf(buf, len, "%.1fs", (double)us / USEC_PER_SEC);
	else if (us < 60 * USEC_PER_SEC)
		snprintf(buf, len, "%" PRIu64 "s", us / USEC_PER_SEC);
	else if ((us / USEC_PER_SEC) % 60)
		snprintf(buf, len, "%" PRIu64 "m%" PRIu64 "s", us / (60 * USEC_PER_SEC),
			 (us / USEC_PER_SEC) % 60);
	else
		snprintf(buf, len, "%" PRIu64 "m", us / (60 * USEC_PER_SEC));
	return buf;
}

int read_fd(int fd, char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			free(buf);
			return e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = 0;
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

int read_file(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = read_fd(fd, out, len);
	close(fd);
	return r;
}

int read_u64_file(const char *path, uint64_t *out)
{
	char *buf;
	int r = read_file(path, &buf, NULL);
	if (r < 0)
		return r;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	if (errno || end == buf) {
		free(buf);
		return -EINVAL;
	}
	free(buf);
	*out = v;
	return 0;
}

int write_fd(int fd, const char *s)
{
	size_t n = strlen(s);
	ssize_t w = write(fd, s, n);
	return w < 0 ? -errno : (size_t)w != n ? -EIO : 0;
}

int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int e = write_fd(fd, s);
	if (close(fd) < 0 && !e)
		e = -errno;
	return e;
}

int write_u64_file(const char *path, uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%" PRIu64, v);
	return write_file(path, buf);
}

/* ---- folders only root may write ---- */

static bool uid_trusted(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* One folder of the chain: p itself (last) or one above it. */
static int check_folder(const char *p, bool last, char *why, size_t len)
{
	struct stat st;
	if (lstat(p, &st) < 0 || (S_ISLNK(st.st_mode) && uid_trusted(st.st_uid) && stat(p, &st) < 0)) {
		int e = errno;
		snprintf(why, len, "%s: %s", p, strerror(e));
		return -e;
	}
	if (S_ISLNK(st.st_mode)) {
		snprintf(why, len, "%s is a symbolic link owned by uid %u, not root", p, (unsigned)st.st_uid);
		return -EPERM;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, len, "%s is not a folder", p);
		return -ENOTDIR;
	}
	if (!uid_trusted(st.st_uid)) {
		snprintf(why, len, "%s is owned by uid %u, not root", p, (unsigned)st.st_uid);
		return -EPERM;
	}
	/* above it a sticky folder (/tmp) is fine: nobody else can rename
	 * or remove what root owns in it */
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && (last || !(st.st_mode & S_ISVTX))) {
		snprintf(why, len, "%s is writable by %s (mode %04o)", p,
			 st.st_mode & S_IWOTH ? "others" : "its group", (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* The absolute path abs and each folder above it, up to "/". */
static int check_chain(const char *abs, char *why, size_t len)
{
	char p[PATH_MAX];
	size_t n = strlen(abs);
	if (n >= sizeof p)
		return -ENAMETOOLONG;
	memcpy(p, abs, n + 1);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = 0;
	for (bool last = true;; last = false) {
		int r = check_folder(p, last, why, len);
		if (r < 0)
			return r;
		char *slash = strrchr(p, '/');
		if (!slash || (slash == p && !p[1]))
			return 0;
		slash[slash == p] = 0;  /* "/a" -> "/", "/a/b" -> "/a" */
	}
}

int dir_check_private(const char *dir, char *why, size_t len)
{
	char abs[PATH_MAX], real[PATH_MAX], cwd[PATH_MAX];
	int n = dir[0] == '/' ? snprintf(abs, sizeof abs, "%s", dir)
		: getcwd(cwd, sizeof cwd) ? snprintf(abs, sizeof abs, "%s/%s", cwd, dir) : -1;
	if (n < 0 || (size_t)n >= sizeof abs) {
		snprintf(why, len, "%s: cannot make the path absolute", dir);
		return -ENAMETOOLONG;
	}
	int r = check_chain(abs, why, len);
	if (r < 0)
		return r;
	if (!realpath(abs, real)) {
		r = -errno;
		snprintf(why, len, "%s: %s", abs, strerror(-r));
		return r;
	}
	/* the folders the symbolic links on the way lead to */
	return strcmp(real, abs) ? check_chain(real, why, len) : 0;
}

size_t text_utf8_char(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	if (!n)
		return 0;
	if (u[0] < 0x80)
		return 1;
	size_t len;
	uint32_t cp;
	if (u[0] >= 0xc2 && u[0] <= 0xdf) {
		len = 2;
		cp = u[0] & 0x1f;
	} else if (u[0] >= 0xe0 && u[0] <= 0xef) {
		len = 3;
		cp = u[0] & 0x0f;
	} else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
		len = 4;
		cp = u[0] & 0x07;
	} else {
		return 0; /* a continuation byte, an overlong lead (c0, c1) or f5-ff */
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (u[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool text_utf8_valid(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t l = text_utf8_char(s + i, n - i);
		if (!l)
			return false;
		i += l;
	}
	return true;
}

size_t text_utf8_cut(const char *s, size_t n)
{
	/* back over at most three continuation bytes to a lead byte */
	size_t i = n;
	while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0 || ((unsigned char)s[i - 1] & 0xc0) != 0xc0)
		return n; /* no lead byte just before: nothing is cut there */
	i--;          /* the lead byte of the last character */
	size_t l = text_utf8_char(s + i, n - i);
	return l && i + l == n ? n : i;
}

size_t text_escape(char *dst, size_t dstlen, const char *src, size_t n, bool keep_controls)
{
	size_t o = 0;
	if (!dstlen)
		return 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)src[i];
		size_t l = text_utf8_char(src + i, n - i);
		bool plain = l > 1 || (l == 1 && (keep_controls || (c >= 0x20 && c != 0x7f)));
		if (plain && l == 2 && !keep_controls && c == 0xc2 &&
		    (unsigned char)src[i + 1] < 0xa0)
			plain = false; /* U+0080-U+009F: C1 control characters */
		if (plain) {
			if (o + l >= dstlen)
				break;
			memcpy(dst + o, src + i, l);
			o += l;
			i += l;
			continue;
		}
		size_t esc = l > 1 ? l : 1; /* a C1 character: both bytes */
		if (o + 4 * esc >= dstlen)
			break;
		for (size_t k = 0; k < esc; k++, i++)
			o += (size_t)snprintf(dst + o, dstlen - o, "\\x%02x", (unsigned char)src[i]);
	}
	dst[o] = '\0';
	return o;
}

unsigned text_distance(const char *a, const char *b)
{
	enum { MAXLEN = 64 };
	size_t la = strlen(a), lb = strlen(b);
	if (la > MAXLEN || lb > MAXLEN)
		return 255;
	/* rows i-2, i-1 and i of the table (optimal string alignment) */
	unsigned d[3][MAXLEN + 1];
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned *cur = d[i % 3], *prev = d[(i - 1) % 3], *prev2 = d[(i + 1) % 3];
		cur[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned cost = a[i - 1] != b[j - 1];
			unsigned v = prev[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (prev[j - 1] + cost < v)
				v = prev[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < v)
				v = prev2[j - 2] + 1;
			cur[j] = v;
		}
	}
	return d[la % 3][lb];
}

void text_nearest_add(struct text_nearest *n, const char *word, const char *name)
{
	size_t lw = strlen(word);
	if (!lw || !strcmp(word, name))
		return;
	unsigned reach = (unsigned)(lw / 3);
	reach = reach < 1 ? 1 : reach > 3 ? 3 : reach;
	const char *dot = strchr(name, '.');
	unsigned d = text_distance(word, name);
	if (dot && text_distance(word, dot + 1) < d)
		d = text_distance(word, dot + 1); /* the key without its section */
	if (d > reach && lw >= 3 && !strncmp(word, name, lw))
		d = reach; /* the start of the name */
	if (d <= reach && (!n->best || d < n->distance)) {
		n->best = name;
		n->distance = d;
	}
}
