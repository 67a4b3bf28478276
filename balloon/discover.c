/* discover.c — finding local QEMU guests and their QMP sockets.
 *
 * A QEMU process's command line (/proc/PID/cmdline, NUL-separated) says
 * where its monitor listens. Two spellings exist and both are accepted
 * (options may start with one dash or two):
 *
 *   -qmp unix:PATH[,server=on,wait=off]       (also -qmp-pretty)
 *   -chardev socket,id=ID,path=PATH,server=on,wait=off
 *   -mon chardev=ID,mode=control               (the chardev must be used by
 *                                               a control-mode monitor; a
 *                                               readline -mon is the HMP)
 *
 * QEMU escapes a comma inside a value as ",,"; values are unescaped. Only
 * UNIX sockets are taken: a TCP monitor is not ours to drive. The guest's
 * name comes from `-name NAME` or `-name guest=NAME,...`, its RAM from
 * `-m SIZE` or `-m size=SIZE,...` (no suffix = MiB, QEMU's default unit).
 *
 * Discovery runs as root and what it reads is written by whoever started the
 * process, so it trusts only what that user cannot fake: a process counts
 * as QEMU when its executable (/proc/PID/exe) is a regular file named
 * qemu-system-* (or qemu-kvm) owned by root and writable by nobody else
 * (a user can name a process or a copied binary "qemu", not give root a
 * file); its QMP path must be absolute and, without following a symbolic
 * link, a socket owned by the process's user or root (not a path of the
 * user's choosing that leads to another's socket or file). Its -name must
 * be printable UTF-8 of at most 63 bytes, else the guest is named qemu-PID.
 *
 * Discovery only finds sockets; it does not connect. QEMU serves one client
 * per QMP socket, so a socket libvirt (or anyone) already holds shows up as
 * BUSY once the QMP client tries it, and is reported, not fought over. */
#include "balloon/balloon.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEVS 16

/* Copy src into dst[n]; false (dst untouched) if it does not fit. */
static bool copy_str(char *dst, size_t n, const char *src)
{
	size_t l = strlen(src);
	if (l >= n)
		return false;
	memcpy(dst, src, l + 1);
	return true;
}

/* Find key=VALUE in a QEMU option list; the first element may be a bare
 * value (returned for key == NULL). Copies the unescaped value to out. */
static bool opt_get(const char *opts, const char *key, char *out, size_t len)
{
	size_t kl = key ? strlen(key) : 0;
	const char *p = opts;
	bool first = true;
	while (*p) {
		/* element [p, end) with ",," escapes */
		const char *e = p;
		while (*e && !(*e == ',' && e[1] != ',')) {
			if (*e == ',' && e[1] == ',')
				e++;
			e++;
		}
		const char *v = NULL;
		if (!key) {
			if (first && !memchr(p, '=', (size_t)(e - p)))
				v = p;
		} else if ((size_t)(e - p) > kl && !strncmp(p, key, kl) && p[kl] == '=') {
			v = p + kl + 1;
		}
		if (v) {
			size_t o = 0;
			for (const char *q = v; q < e && o + 1 < len; q++) {
				out[o++] = *q;
				if (*q == ',' && q[1] == ',')
					q++;
			}
			out[o] = '\0';
			return true;
		}
		first = false;
		p = *e ? e + 1 : e;
	}
	return false;
}

/* A name fit to be shown and logged: printable UTF-8 (no control
 * character, no newline), 1 to n - 1 bytes: text_escape has nothing to
 * escape in it. */
static bool printable_name(const char *s, size_t n)
{
	char esc[512];
	size_t l = strlen(s);
	return l && l < n && text_escape(esc, sizeof esc, s, l, false) == l;
}

static uint64_t parse_mem(const char *s)
{
	char tmp[64];
	if (!copy_str(tmp, sizeof tmp, s))
		return 0;
	size_t l = strlen(tmp);
	if (!l)
		return 0;
	uint64_t v;
	if (isdigit((unsigned char)tmp[l - 1])) {
		if (parse_size(tmp, &v) < 0)
			return 0;
		return v * MIB; /* QEMU: no suffix means MiB */
	}
	return parse_size(tmp, &v) < 0 ? 0 : v;
}

/* buf[len - 1] is a NUL: every argument is a C string. */
static int parse_args(const char *buf, size_t len, struct qemu_guest *out)
{
	memset(out, 0, sizeof *out);
	struct { char id[64]; char path[108]; } socks[MAX_DEVS];
	char mons[MAX_DEVS][64];
	size_t ns = 0, nm = 0;
	char val[512];

	const char *end = buf + len;
	const char *arg = buf, *prev = NULL;
	while (arg < end) {
		const char *nul = memchr(arg, '\0', (size_t)(end - arg));
		if (!nul)
			nul = end;
		if (prev) {
			const char *o = prev[0] == '-' && prev[1] == '-' ? prev + 1 : prev;
			if (!strcmp(o, "-qmp") || !strcmp(o, "-qmp-pretty")) {
				if (!out->qmp_path[0] && !strncmp(arg, "unix:", 5) &&
				    opt_get(arg + 5, NULL, val, sizeof val))
					(void)copy_str(out->qmp_path, sizeof out->qmp_path, val);
			} else if (!strcmp(o, "-chardev")) {
				char id[64], path[108];
				if (opt_get(arg, NULL, val, sizeof val) && !strcmp(val, "socket") &&
				    opt_get(arg, "id", id, sizeof id) &&
				    opt_get(arg, "path", path, sizeof path) && ns < MAX_DEVS) {
					memcpy(socks[ns].id, id, sizeof id);
					memcpy(socks[ns].path, path, sizeof path);
					ns++;
				}
			} else if (!strcmp(o, "-mon")) {
				char id[64];
				if (opt_get(arg, "chardev", id, sizeof id) &&
				    opt_get(arg, "mode", val, sizeof val) && !strcmp(val, "control") &&
				    nm < MAX_DEVS)
					memcpy(mons[nm++], id, sizeof id);
			} else if (!strcmp(o, "-name")) {
				if ((opt_get(arg, "guest", val, sizeof val) ||
				     opt_get(arg, NULL, val, sizeof val)) &&
				    printable_name(val, sizeof out->name))
					(void)copy_str(out->name, sizeof out->name, val);
			} else if (!strcmp(o, "-m")) {
				if (opt_get(arg, "size", val, sizeof val) ||
				    opt_get(arg, NULL, val, sizeof val))
					out->mem_bytes = parse_mem(val);
			} else if (!strcmp(o, "-device")) {
				if (strstr(arg, "virtio-balloon"))
					out->has_balloon = true;
			}
		}
		prev = arg;
		arg = nul + 1;
	}
	for (size_t m = 0; !out->qmp_path[0] && m < nm; m++)
		for (size_t s = 0; s < ns; s++)
			if (!strcmp(mons[m], socks[s].id)) {
				snprintf(out->qmp_path, sizeof out->qmp_path, "%s", socks[s].path);
				break;
			}
	return out->qmp_path[0] ? 0 : -ENOENT;
}

/* Whether PID's executable is a QEMU system emulator root installed. */
static bool is_qemu_binary(const char *proc, long pid)
{
	char path[300], target[PATH_MAX];
	snprintf(path, sizeof path, "%s/%ld/exe", proc, pid);
	ssize_t n = readlink(path, target, sizeof target - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	static const char deleted[] = " (deleted)"; /* upgraded while running */
	size_t dl = sizeof deleted - 1;
	if ((size_t)n > dl && !strcmp(target + n - dl, deleted))
		target[n - dl] = '\0';
	const char *base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strncmp(base, "qemu-system-", 12) && strcmp(base, "qemu-kvm"))
		return false;
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 &&
	       !(st.st_mode & (S_IWGRP | S_IWOTH));
}

/* The effective uid of PID (its status file), or -1. */
static long proc_uid(const char *proc, long pid)
{
	char path[300], *text = NULL;
	snprintf(path, sizeof path, "%s/%ld/status", proc, pid);
	if (read_file(path, &text, NULL) < 0)
		return -1;
	long uid = -1;
	const char *u = strstr(text, "\nUid:");
	unsigned long real, eff;
	if (u && sscanf(u + 5, "%lu %lu", &real, &eff) == 2)
		uid = (long)eff;
	free(text);
	return uid;
}

/* Whether path is, itself (no symbolic link followed), a socket owned by
 * uid or root. */
static bool socket_of(const char *path, long uid)
{
	struct stat st;
	return path[0] == '/' && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	       (st.st_uid == 0 || (long)st.st_uid == uid);
}

int balloon_parse_qemu_cmdline(const char *buf, size_t len, struct qemu_guest *out)
{
	if (!buf || !len)
		return -EINVAL;
	if (buf[len - 1] == '\0')
		return parse_args(buf, len, out);
	/* a process may rewrite its arguments: the last one need not end
	 * with a NUL, and must not be read past the buffer */
	char *copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, buf, len);
	copy[len] = '\0';
	int r = parse_args(copy, len + 1, out);
	free(copy);
	return r;
}

int balloon_discover_qemu(const char *proc, struct qemu_guest **out)
{
	*out = NULL;
	DIR *d = opendir(proc);
	if (!d)
		return -errno;
	size_t n = 0, cap = 0;
	struct qemu_guest *v = NULL;
	struct dirent *de;
	int ret = 0;
	while ((de = readdir(d))) {
		char *endp;
		long pid = strtol(de->d_name, &endp, 10);
		if (*endp || pid <= 0)
			continue;
		char path[300], *cmd = NULL;
		size_t clen = 0;
		if (!is_qemu_binary(proc, pid))
			continue;
		snprintf(path, sizeof path, "%s/%ld/cmdline", proc, pid);
		if (read_file(path, &cmd, &clen) < 0)
			continue;
		struct qemu_guest g;
		int r = balloon_parse_qemu_cmdline(cmd, clen, &g);
		free(cmd);
		if (r < 0 || !socket_of(g.qmp_path, proc_uid(proc, pid)))
			continue;
		g.pid = (pid_t)pid;
		if (!g.name[0])
			snprintf(g.name, sizeof g.name, "qemu-%ld", pid);
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			struct qemu_guest *nv = realloc(v, cap * sizeof *v);
			if (!nv) {
				ret = -ENOMEM;
				break;
			}
			v = nv;
		}
		v[n++] = g;
	}
	closedir(d);
	if (ret < 0) {
		free(v);
		return ret;
	}
	*out = v;
	return (int)n;
}
