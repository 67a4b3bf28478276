/* state.c — what must survive a crash of ksmd: the KSM settings found when
 * the first ksmd started (so that a restarted ksmd still restores the
 * operator's, not its predecessor's pacing) and the operator's balloon
 * overrides. One small JSON file beside the control socket and named after
 * it (ksmd.sock: ksmd.state), so that two daemons whose sockets share a
 * folder keep one each; written atomically (temp file + rename).
 *
 * ksmd runs as root and its folder is written by nobody else
 * (state_dir_check refuses to start otherwise), yet nothing here follows a
 * symbolic link found in it: the temporary is created O_EXCL|O_NOFOLLOW
 * (a file found at its name is removed, never written through), the state
 * file is read O_NOFOLLOW, the lock file is created O_NOFOLLOW. */
#include "daemon/state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const ksm_fields[] = {
	"run", "pages_to_scan", "sleep_millisecs", "use_zero_pages",
	"max_page_sharing", "smart_scan", "advisor_mode",
};

static int64_t *ksm_field(struct ksm_settings *s, size_t i)
{
	int64_t *f[] = { &s->run, &s->pages_to_scan, &s->sleep_millisecs, &s->use_zero_pages,
			 &s->max_page_sharing, &s->smart_scan, &s->advisor_mode };
	return f[i];
}

void state_path(const char *control_socket, char *buf, size_t len)
{
	const char *slash = strrchr(control_socket, '/');
	const char *base = slash ? slash + 1 : control_socket;
	size_t n = strlen(base);
	if (n > 5 && !strcmp(base + n - 5, ".sock"))
		n -= 5;
	snprintf(buf, len, "%.*s%.*s.state", (int)(base - control_socket), control_socket, (int)n, base);
}

int state_dir_check(const char *control_socket, char *why, size_t len)
{
	char dir[PATH_MAX], lock[PATH_MAX + 8];
	const char *slash = strrchr(control_socket, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else
		snprintf(dir, sizeof dir, "%.*s", slash == control_socket ? 1 : (int)(slash - control_socket),
			 control_socket);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		int e = errno;
		snprintf(why, len, "cannot create %s: %s", dir, strerror(e));
		return -e;
	}
	int r = dir_check_private(dir, why, len);
	if (r < 0)
		return r;
	/* the lock file (control.c takes it): created here, never through a link */
	snprintf(lock, sizeof lock, "%s.lock", control_socket);
	int fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(why, len, "lock file %s: %s", lock,
			 r == -ELOOP ? "is a symbolic link, not followed" : strerror(-r));
	} else if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		r = -EPERM;
		snprintf(why, len, "lock file %s: not a regular file of its own (%s)", lock,
			 S_ISREG(st.st_mode) ? "more than one hard link" : "a special file");
	}
	if (fd >= 0)
		close(fd);
	return r;
}

/* Read the state file, which must be a regular file (not a link, not a
 * FIFO that would block). */
static json_t *load_json(const char *path, int *err)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		*err = -errno;
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	json_error_t jerr;
	json_t *j = S_ISREG(st.st_mode) ? json_loadfd(fd, 0, &jerr) : NULL;
	*err = !S_ISREG(st.st_mode) ? -EINVAL : j ? 0 : -EBADMSG;
	close(fd);
	return j;
}

/* What a parsed state file holds; takes j. */
static void state_fill(json_t *j, struct daemon_state *st)
{
	json_t *k = json_object_get(j, "ksm_saved");
	if (json_is_object(k)) {
		ksm_settings_clear(&st->ksm_saved);
		for (size_t i = 0; i < ARRAY_SIZE(ksm_fields); i++) {
			json_t *v = json_object_get(k, ksm_fields[i]);
			if (json_is_integer(v))
				*ksm_field(&st->ksm_saved, i) = json_integer_value(v);
		}
		st->ksm_saved_valid = true;
	}
	json_t *o = json_object_get(j, "overrides");
	st->overrides = json_is_object(o) ? json_incref(o) : json_object();
	json_decref(j);
}

int state_load(const char *path, struct daemon_state *st)
{
	memset(st, 0, sizeof *st);
	int r;
	json_t *j = load_json(path, &r);
	if (!j)
		return r;
	state_fill(j, st);
	return 0;
}

int state_parse(const char *text, size_t len, struct daemon_state *st)
{
	memset(st, 0, sizeof *st);
	json_error_t jerr;
	json_t *j = json_loadb(text, len, 0, &jerr);
	if (!j)
		return -EBADMSG;
	state_fill(j, st);
	return 0;
}

/* A new file at tmp, mode 0600, holding j. A file already there (a crash's
 * leftover, or planted) is removed first: unlink removes a link, never its
 * target. */
static int write_tmp(const char *tmp, const json_t *j)
{
	const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	int fd = open(tmp, flags, 0600);
	if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
		fd = open(tmp, flags, 0600);
	if (fd < 0)
		return -errno;
	int r = fchmod(fd, 0600) < 0 ? -errno : 0;  /* whatever the umask */
	if (!r && json_dumpfd(j, fd, JSON_INDENT(2)) < 0)
		r = errno ? -errno : -EIO;
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	return r;
}

int state_save(const char *path, const struct daemon_state *st)
{
	json_t *j = json_object();
	if (st->ksm_saved_valid) {
		json_t *k = json_object();
		struct ksm_settings s = st->ksm_saved;
		for (size_t i = 0; i < ARRAY_SIZE(ksm_fields); i++)
			if (*ksm_field(&s, i) >= 0)
				json_object_set_new(k, ksm_fields[i], json_integer(*ksm_field(&s, i)));
		json_object_set_new(j, "ksm_saved", k);
	}
	json_object_set_new(j, "overrides", st->overrides ? json_incref(st->overrides) : json_object());
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	errno = 0;
	int r = write_tmp(tmp, j);
	if (!r && rename(tmp, path) < 0)  /* replaces a link at path, not its target */
		r = -errno;
	json_decref(j);
	if (r < 0)
		unlink(tmp);
	return r;
}

void state_free(struct daemon_state *st)
{
	json_decref(st->overrides);
	st->overrides = NULL;
}
