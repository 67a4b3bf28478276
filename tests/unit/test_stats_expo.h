/* test_stats_expo.h — a strict checker of the Prometheus text exposition
 * format 0.0.4, for tests and the fuzz target.
 *
 * Accepts only what the format allows and what ksmd promises on top of it:
 * metric and label names by their grammar; "# HELP" and "# TYPE" at most
 * once per family and both before its first sample; samples of one family
 * contiguous (a family never reappears after another began); no duplicate
 * series; label values with only the escapes \\ \" \n; values that are Go
 * floats (decimal, exponent, NaN, +Inf, -Inf); counters named *_total;
 * every line ends with a newline. Returns NULL when the text is valid,
 * otherwise a static message naming the first error and its line. */
#ifndef KSMD_TEST_STATS_EXPO_H
#define KSMD_TEST_STATS_EXPO_H

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXPO_MAX_FAMILIES 512
#define EXPO_MAX_SERIES   8192

struct expo_family { char name[128]; bool help, type, samples, counter, closed; };

static char expo_msg[256];

static const char *expo_fail(int line, const char *what, const char *s, size_t n)
{
	snprintf(expo_msg, sizeof expo_msg, "line %d: %s: %.*s", line, what,
		 (int)(n > 80 ? 80 : n), s);
	return expo_msg;
}

static size_t expo_name(const char *s, size_t n, bool metric)
{
	size_t i = 0;
	if (i < n && (isalpha((unsigned char)s[i]) || s[i] == '_' || (metric && s[i] == ':')))
		i++;
	else
		return 0;
	while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '_' || (metric && s[i] == ':')))
		i++;
	return i;
}

static bool expo_float(const char *s, size_t n)
{
	char buf[64];
	if (n == 0 || n >= sizeof buf)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (!strcmp(buf, "NaN") || !strcmp(buf, "+Inf") || !strcmp(buf, "-Inf"))
		return true;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789+-.eE", buf[i]))
			return false;
	char *end;
	strtod(buf, &end);
	return *end == '\0';
}

static struct expo_family *expo_get(struct expo_family *fam, int *nfam, const char *name, size_t n)
{
	for (int i = 0; i < *nfam; i++)
		if (strlen(fam[i].name) == n && !memcmp(fam[i].name, name, n))
			return &fam[i];
	if (*nfam >= EXPO_MAX_FAMILIES || n >= sizeof fam[0].name)
		return NULL;
	struct expo_family *f = &fam[(*nfam)++];
	memset(f, 0, sizeof *f);
	memcpy(f->name, name, n);
	return f;
}

/* A "# HELP" or "# TYPE" line s (n bytes) of family in fam[] (*nfam of
 * them, *cur the one whose lines came last); other comments pass. NULL =
 * valid. */
static const char *expo_meta(int line, const char *s, size_t n, struct expo_family *fam, int *nfam,
			     struct expo_family **cur)
{
	const char *err = NULL;
	bool help = n > 7 && !memcmp(s, "# HELP ", 7);
	bool type = n > 7 && !memcmp(s, "# TYPE ", 7);
	if (!help && !type) return NULL; /* plain comment */
	size_t k = expo_name(s + 7, n - 7, true);
	if (!k || (7 + k < n && s[7 + k] != ' ')) return expo_fail(line, "bad name in HELP/TYPE", s, n);
	struct expo_family *f = expo_get(fam, nfam, s + 7, k);
	if (!f) return expo_fail(line, "too many families", s, n);
	if (f->closed || f->samples) return expo_fail(line, "HELP/TYPE after samples or family reopened", s, n);
	if (*cur && *cur != f) (*cur)->closed = true;
	*cur = f;
	if (help) {
		if (f->help) return expo_fail(line, "second HELP", s, n);
		f->help = true;
		for (size_t i = 7 + k; i < n; i++)
			if (s[i] == '\\' && (i + 1 >= n || (s[i + 1] != '\\' && s[i + 1] != 'n'))) {
				err = expo_fail(line, "bad escape in HELP", s, n);
				break;
			} else if (s[i] == '\\') i++;
	} else {
		if (f->type) return expo_fail(line, "second TYPE", s, n);
		f->type = true;
		const char *t = s + 7 + k + 1;
		size_t tn = n - 7 - k - 1;
		if (7 + k >= n) return expo_fail(line, "TYPE without type", s, n);
		static const char *const types[] = { "counter", "gauge", "histogram", "summary", "untyped" };
		bool ok = false;
		for (int i = 0; i < 5; i++)
			if (strlen(types[i]) == tn && !memcmp(t, types[i], tn)) ok = true;
		if (!ok) return expo_fail(line, "unknown type", s, n);
		f->counter = tn == 7 && !memcmp(t, "counter", 7);
		if (f->counter && (k < 6 || memcmp(s + 7 + k - 6, "_total", 6)))
			return expo_fail(line, "counter not named *_total", s, n);
	}
	return err;
}

/* The label set of sample line s (n bytes) at *pi, its '{': names by
 * their grammar, none twice, values with only the allowed escapes; *pi
 * moves past its '}'. NULL = valid. */
static const char *expo_labels(int line, const char *s, size_t n, size_t *pi)
{
	const char *err = NULL;
	size_t i = *pi + 1;
	char seen[16][64];
	int nseen = 0;
	while (i < n && s[i] != '}') {
		size_t ln = expo_name(s + i, n - i, false);
		if (!ln) return expo_fail(line, "bad label name", s, n);
		if (nseen < 16 && ln < 64) {
			for (int j = 0; j < nseen; j++)
				if (strlen(seen[j]) == ln && !memcmp(seen[j], s + i, ln))
					err = expo_fail(line, "duplicate label", s, n);
			memcpy(seen[nseen], s + i, ln);
			seen[nseen++][ln] = '\0';
		}
		if (err)
			return err;
		i += ln;
		if (i + 1 >= n || s[i] != '=' || s[i + 1] != '"') return expo_fail(line, "label without =\"", s, n);
		i += 2;
		while (i < n && s[i] != '"') {
			if (s[i] == '\\') {
				if (i + 1 >= n || !strchr("\\\"n", s[i + 1])) return expo_fail(line, "bad escape in label value", s, n);
				i++;
			}
			i++;
		}
		if (i >= n) return expo_fail(line, "unterminated label value", s, n);
		i++;
		if (i < n && s[i] == ',') i++;
		else if (i < n && s[i] != '}') return expo_fail(line, "expected , or }", s, n);
	}
	if (i >= n)
		return expo_fail(line, "unterminated label set", s, n);
	*pi = i + 1;
	return err;
}

/* Check text (len bytes). NULL = valid. */
static const char *expo_check(const char *text, size_t len)
{
	static struct expo_family fam[EXPO_MAX_FAMILIES];
	static char *series[EXPO_MAX_SERIES];
	int nfam = 0, nser = 0, line = 0;
	struct expo_family *cur = NULL;
	const char *err = NULL;
	if (len && text[len - 1] != '\n')
		return "text does not end with a newline";
	for (size_t pos = 0; pos < len && !err; ) {
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = (size_t)(nl - s);
		pos += n + 1;
		line++;
		if (memchr(s, '\0', n)) { err = expo_fail(line, "NUL byte", s, n); break; }
		if (n == 0) continue;
		if (s[0] == '#') {
			err = expo_meta(line, s, n, fam, &nfam, &cur);
			continue;
		}
		/* Sample: name [{labels}] value [timestamp] */
		size_t k = expo_name(s, n, true);
		if (!k) { err = expo_fail(line, "bad metric name", s, n); break; }
		struct expo_family *f = expo_get(fam, &nfam, s, k);
		if (!f) { err = expo_fail(line, "too many families", s, n); break; }
		if (!f->type || !f->help) { err = expo_fail(line, "sample before HELP and TYPE (ksmd promises both)", s, n); break; }
		if (f->closed || (cur && cur != f)) { err = expo_fail(line, "family not contiguous", s, n); break; }
		cur = f;
		f->samples = true;
		size_t i = k;
		if (i < n && s[i] == '{' && (err = expo_labels(line, s, n, &i)))
			break;
		size_t series_len = i;
		if (i >= n || s[i] != ' ') { err = expo_fail(line, "expected space before value", s, n); break; }
		i++;
		const char *v = s + i;
		const char *sp = memchr(v, ' ', n - i);
		size_t vn = sp ? (size_t)(sp - v) : n - i;
		if (!expo_float(v, vn)) { err = expo_fail(line, "bad value", s, n); break; }
		if (sp) {
			size_t tn = n - i - vn - 1;
			for (size_t j = 0; j < tn; j++)
				if (!isdigit((unsigned char)sp[1 + j]) && !(j == 0 && sp[1] == '-'))
					err = expo_fail(line, "bad timestamp", s, n);
			if (tn == 0) err = expo_fail(line, "empty timestamp", s, n);
			if (err) break;
		}
		for (int j = 0; j < nser; j++)
			if (strlen(series[j]) == series_len && !memcmp(series[j], s, series_len)) {
				err = expo_fail(line, "duplicate series", s, n);
				break;
			}
		if (!err && nser < EXPO_MAX_SERIES)
			series[nser++] = strndup(s, series_len);
	}
	for (int j = 0; j < nser; j++)
		free(series[j]);
	return err;
}

/* `promtool check metrics` on text: its exit status (0 passed), or -1 when
 * promtool is not installed (PROMTOOL=path, or in PATH) or the text could
 * not be handed to it. */
static inline int expo_promtool(const char *text, size_t len)
{
	const char *pt = getenv("PROMTOOL");
	if (!pt && system("command -v promtool >/dev/null 2>&1") == 0)
		pt = "promtool";
	if (!pt)
		return -1;
	char path[] = "/tmp/ksmd-test-prom-XXXXXX", cmd[512];
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	bool whole = write(fd, text, len) == (ssize_t)len;
	close(fd);
	snprintf(cmd, sizeof cmd, "%s check metrics < %s", pt, path);
	int rc = whole ? system(cmd) : -1;
	unlink(path);
	return rc;
}

#endif
