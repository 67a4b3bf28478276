/* libvirt_parse.c — the pure parts of the libvirt backend (libvirt.h):
 * domain name patterns, the domain XML's memory flags, the <ksmd:guest>
 * metadata element. No libvirt call, so the configuration checks and the
 * fuzzers use them without libvirt. */
#include "balloon/libvirt.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names and patterns (pure) ---- */

/* Call fn for each pattern of a space/comma separated list; stops at a
 * non-zero return. */
int lv_each_pattern(const char *list, int (*fn)(const char *p, void *ud), void *ud)
{
	char buf[2 * LV_NAME_MAX];
	for (const char *s = list ? list : ""; *s;) {
		while (*s == ',' || isspace((unsigned char)*s))
			s++;
		size_t n = strcspn(s, ", \t");
		if (!n)
			break;
		if (n >= sizeof buf)
			n = sizeof buf - 1;
		memcpy(buf, s, n);
		buf[n] = 0;
		s += strcspn(s, ", \t");
		int r = fn(buf, ud);
		if (r)
			return r;
	}
	return 0;
}

static int match_one(const char *p, void *ud)
{
	return fnmatch(p, (const char *)ud, 0) == 0;
}

static int count_one(const char *p, void *ud)
{
	(void)p;
	(*(unsigned *)ud)++;
	return 0;
}

bool lv_name_selected(const char *name, const char *include, const char *exclude)
{
	unsigned n = 0;
	lv_each_pattern(include, count_one, &n);
	if (n && !lv_each_pattern(include, match_one, (void *)name))
		return false;
	return !lv_each_pattern(exclude, match_one, (void *)name);
}

struct vctx {
	char *err;
	size_t len;
};

static int check_one(const char *p, void *ud)
{
	struct vctx *v = ud;
	for (const char *c = p; *c; c++)
		if (!isprint((unsigned char)*c)) {
			snprintf(v->err, v->len, "pattern '%s' has a control character", p);
			return -EINVAL;
		}
	if (strlen(p) >= LV_NAME_MAX) {
		snprintf(v->err, v->len, "pattern '%.20s...' is longer than a domain name can be", p);
		return -EINVAL;
	}
	int open = 0;
	for (const char *c = p; *c; c++) {
		if (*c == '\\' && c[1])
			c++;
		else if (*c == '[')
			open = 1;
		else if (*c == ']')
			open = 0;
	}
	if (open) {
		snprintf(v->err, v->len, "pattern '%s' has an unclosed '['", p);
		return -EINVAL;
	}
	return 0;
}

int lv_patterns_validate(const char *patterns, char *err, size_t len)
{
	struct vctx v = { err, len };
	return lv_each_pattern(patterns, check_one, &v);
}

/* ---- domain XML (pure) ---- */

/* The value of attr in the tag [tag, end) into out; true when present. */
static bool xml_attr(const char *tag, const char *end, const char *attr, char *out, size_t len)
{
	size_t al = strlen(attr);
	for (const char *p = tag; p && p < end; p++) {
		p = strstr(p, attr);
		if (!p || p >= end)
			return false;
		if (p > tag && (isspace((unsigned char)p[-1])) && p[al] == '=' &&
		    (p[al + 1] == '\'' || p[al + 1] == '"')) {
			char q = p[al + 1];
			const char *v = p + al + 2, *e = strchr(v, q);
			if (!e || e > end)
				return false;
			size_t n = (size_t)(e - v) < len - 1 ? (size_t)(e - v) : len - 1;
			memcpy(out, v, n);
			out[n] = 0;
			return true;
		}
	}
	return false;
}

static bool attr_is(const char *tag, const char *end, const char *attr, const char *value)
{
	char v[64];
	return xml_attr(tag, end, attr, v, sizeof v) && !strcmp(v, value);
}

void lv_parse_domain_xml(const char *xml, struct lv_domain *d)
{
	d->has_balloon = false;
	d->nosharepages = false;
	d->free_page_reporting = d->deflate_on_oom = false;
	d->stats_period = 0;
	if (!xml)
		return;
	const char *mb = strstr(xml, "<memballoon");
	if (mb) {
		const char *te = strchr(mb, '>');
		if (te) {
			d->has_balloon = !attr_is(mb, te, "model", "none");
			d->free_page_reporting = attr_is(mb, te, "freePageReporting", "on");
			d->deflate_on_oom = attr_is(mb, te, "autodeflate", "on");
			const char *close = te[-1] == '/' ? te : strstr(te, "</memballoon>");
			const char *st = strstr(te, "<stats");
			if (st && close && st < close) {
				const char *se = strchr(st, '>');
				char v[16];
				if (se && xml_attr(st, se, "period", v, sizeof v))
					d->stats_period = (unsigned)strtoul(v, NULL, 10);
			}
		}
	}
	const char *mbk = strstr(xml, "<memoryBacking");
	if (mbk) {
		const char *e = strstr(mbk, "</memoryBacking>");
		const char *ns = strstr(mbk, "<nosharepages");
		d->nosharepages = ns && e && ns < e;
	}
}

int lv_parse_metadata(const char *xml, struct lv_domain *d)
{
	d->meta_min_bytes = d->meta_max_bytes = d->meta_shares = 0;
	d->meta_error[0] = 0;
	const char *t = xml ? strchr(xml, '<') : NULL;
	const char *e = t ? strchr(t, '>') : NULL;
	if (!t || !e) {
		snprintf(d->meta_error, sizeof d->meta_error, "metadata: not an element");
		return -EINVAL;
	}
	char v[64];
	if (xml_attr(t, e, "min", v, sizeof v) && parse_size(v, &d->meta_min_bytes) < 0) {
		snprintf(d->meta_error, sizeof d->meta_error, "metadata: min '%s' is not a size", v);
		return -EINVAL;
	}
	if (xml_attr(t, e, "max", v, sizeof v) && parse_size(v, &d->meta_max_bytes) < 0) {
		snprintf(d->meta_error, sizeof d->meta_error, "metadata: max '%s' is not a size", v);
		return -EINVAL;
	}
	if (xml_attr(t, e, "shares", v, sizeof v)) {
		char *end;
		unsigned long long s = strtoull(v, &end, 10);
		if (*end || !s || s > 1000000) {
			snprintf(d->meta_error, sizeof d->meta_error,
				 "metadata: shares '%s' is not a number in [1, 1000000]", v);
			return -EINVAL;
		}
		d->meta_shares = s;
	}
	if (d->meta_max_bytes && d->meta_min_bytes > d->meta_max_bytes) {
		snprintf(d->meta_error, sizeof d->meta_error, "metadata: min is above max");
		d->meta_min_bytes = d->meta_max_bytes = 0;
		return -EINVAL;
	}
	return 0;
}

