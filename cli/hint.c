/* hint.c — see hint.h.
 *
 * The usual reasons ksmdctl cannot reach ksmd, each with its fix:
 *   no socket (ENOENT), or one nobody listens on (ECONNREFUSED): is a ksmd
 *     running at all? If one is, which socket does it listen on (root can
 *     see it: its fds and /proc/net/unix)? Else: start it, or choose the
 *     socket with -s PATH or KSMD_SOCKET=PATH.
 *   permission denied (EACCES): the socket (or a folder on its way) and
 *     who may use it; root always may, the group only when its mode lets
 *     the group write (and the group is not root's). */
#include "cli/hint.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define SO_ACCEPTCON_FLAG 0x10000   /* __SO_ACCEPTCON in /proc/net/unix: listening */

static const char *const source_names[] = {
	[HINT_DEFAULT] = "the default",
	[HINT_OPTION] = "from -s",
	[HINT_ENV] = "from KSMD_SOCKET",
};

/* A process's argv[0] is "ksmd" or ".../ksmd" (kernel threads, the KSM
 * thread among them, have no command line). */
static bool pid_is_ksmd(const char *pid)
{
	char p[64], arg0[PATH_MAX];
	snprintf(p, sizeof p, "/proc/%s/cmdline", pid);
	FILE *f = fopen(p, "re");
	if (!f)
		return false;
	size_t n = fread(arg0, 1, sizeof arg0 - 1, f);
	fclose(f);
	arg0[n] = 0; /* the first argument ends at its NUL */
	const char *base = strrchr(arg0, '/');
	return n > 0 && !strcmp(base ? base + 1 : arg0, "ksmd");
}

size_t hint_find_ksmd(int *pids, size_t n)
{
	DIR *d = opendir("/proc");
	if (!d)
		return 0;
	size_t found = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]) || !pid_is_ksmd(e->d_name))
			continue;
		if (found < n)
			pids[found] = atoi(e->d_name);
		found++;
	}
	closedir(d);
	return found;
}

/* The path of the listening UNIX socket with this inode, from
 * /proc/net/unix, into buf: true when found. */
static bool listening_path(unsigned long inode, char *buf, size_t len)
{
	FILE *f = fopen("/proc/net/unix", "re");
	if (!f)
		return false;
	char line[PATH_MAX + 128];
	bool found = false;
	while (!found && fgets(line, sizeof line, f)) {
		unsigned long flags, ino;
		int off = 0;
		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %lu %n", &flags, &ino, &off) < 2 || !off ||
		    ino != inode || !(flags & SO_ACCEPTCON_FLAG) || line[off] != '/')
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(buf, len, "%s", line + off);
		found = true;
	}
	fclose(f);
	return found;
}

int hint_ksmd_socket(int pid, char *buf, size_t len)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/%d/fd", pid);
	DIR *d = opendir(p);
	if (!d)
		return -errno;
	int r = -ENOENT;
	struct dirent *e;
	while (r < 0 && (e = readdir(d))) {
		char fd[PATH_MAX], target[64], path[PATH_MAX], lock[PATH_MAX + 8];
		unsigned long inode;
		snprintf(fd, sizeof fd, "%s/%s", p, e->d_name);
		ssize_t l = readlink(fd, target, sizeof target - 1);
		if (l <= 0)
			continue;
		target[l] = 0;
		if (sscanf(target, "socket:[%lu]", &inode) != 1 || !listening_path(inode, path, sizeof path))
			continue;
		/* the control socket has its lock beside it (the stats
		 * endpoint on unix:PATH has none) */
		snprintf(lock, sizeof lock, "%s.lock", path);
		if (access(lock, F_OK) == 0) {
			snprintf(buf, len, "%s", path);
			r = 0;
		}
	}
	closedir(d);
	return r;
}

/* No socket, or nobody listening: is a ksmd running, and where? */
static void hint_not_listening(FILE *f, const char *path)
{
	int pids[4];
	size_t n = hint_find_ksmd(pids, 4);
	if (n == 0) {
		fprintf(f, "ksmdctl: ksmd is not running: start it (systemctl start ksmd), or, for a ksmd "
			"listening elsewhere, give its socket with -s PATH or KSMD_SOCKET=PATH\n");
		return;
	}
	for (size_t i = 0; i < n && i < 4; i++) {
		char sock[PATH_MAX];
		int r = hint_ksmd_socket(pids[i], sock, sizeof sock);
		if (r == 0 && strcmp(sock, path)) {
			fprintf(f, "ksmdctl: ksmd is running (pid %d) and listens at %s: use ksmdctl -s %s, "
				"or KSMD_SOCKET=%s\n", pids[i], sock, sock, sock);
			continue;
		}
		if (r == 0) {
			fprintf(f, "ksmdctl: ksmd is running (pid %d) and listens at %s, but that file was "
				"removed: restart ksmd (systemctl restart ksmd)\n", pids[i], sock);
			continue;
		}
		fprintf(f, "ksmdctl: ksmd is running (pid %d), not at this path: its socket is daemon.control_socket "
			"in its ksmd.conf; give it with -s PATH or KSMD_SOCKET=PATH\n", pids[i]);
	}
}

/* Who may connect to (or search) what st describes, and the fix. need_grp
 * is the group's permission that would let a member in (write for the
 * socket, search for a folder). */
static void hint_access(FILE *f, const char *what, const char *path, const struct stat *st, mode_t need_grp)
{
	char owner[64], group[64];
	const struct passwd *pw = getpwuid(st->st_uid);
	const struct group *gr = getgrgid(st->st_gid);
	if (pw)
		snprintf(owner, sizeof owner, "%s", pw->pw_name);
	else
		snprintf(owner, sizeof owner, "uid %u", (unsigned)st->st_uid);
	if (gr)
		snprintf(group, sizeof group, "%s", gr->gr_name);
	else
		snprintf(group, sizeof group, "gid %u", (unsigned)st->st_gid);
	unsigned mode = (unsigned)(st->st_mode & 07777);
	fprintf(f, "ksmdctl: permission denied: %s %s belongs to %s, group %s, mode %04o\n", what, path, owner,
		group, mode);
	if ((st->st_mode & need_grp) && st->st_gid != 0) {
		const struct passwd *me = getpwuid(geteuid());
		fprintf(f, "ksmdctl: run ksmdctl as root (sudo ksmdctl ...), or join the group %s "
			"(sudo usermod -aG %s %s, then log in again)\n", group, group, me ? me->pw_name : "USER");
	} else if (st->st_mode & need_grp) {
		fprintf(f, "ksmdctl: run ksmdctl as root (sudo ksmdctl ...)%s%s\n", st->st_uid ? " or as " : "",
			st->st_uid ? owner : "");
	} else {
		fprintf(f, "ksmdctl: run ksmdctl as root (sudo ksmdctl ...)%s%s: joining its group %s would not "
			"help, mode %04o gives the group no access\n", st->st_uid ? " or as " : "",
			st->st_uid ? owner : "", group, mode);
	}
}

/* EACCES: the socket, or the first folder on its way we may not search. */
static void hint_denied(FILE *f, const char *path)
{
	struct stat st;
	if (stat(path, &st) == 0) {
		hint_access(f, "the socket", path, &st, S_IWGRP);
		return;
	}
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	for (char *slash = strchr(dir + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = 0;
		if (access(dir, X_OK) < 0 && stat(dir, &st) == 0) {
			hint_access(f, "the folder", dir, &st, S_IXGRP);
			return;
		}
		*slash = '/';
	}
	fprintf(f, "ksmdctl: run ksmdctl as root (sudo ksmdctl ...)\n");
}

void hint_unreachable(FILE *f, const char *path, enum hint_source src, int r)
{
	fprintf(f, "ksmdctl: cannot reach ksmd at %s (%s): %s\n", path, source_names[src], strerror(-r));
	switch (r) {
	case -ENOENT:
	case -ENOTDIR:
	case -ECONNREFUSED:
		if (r == -ECONNREFUSED) {
			struct stat st;
			if (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
				fprintf(f, "ksmdctl: %s is not a socket: give ksmd's control socket with -s PATH "
					"or KSMD_SOCKET=PATH\n", path);
				break;
			}
			fprintf(f, "ksmdctl: the socket is there but nobody listens: the ksmd that made it has "
				"stopped\n");
		}
		hint_not_listening(f, path);
		break;
	case -EACCES:
	case -EPERM:
		hint_denied(f, path);
		break;
	case -ENAMETOOLONG:
		fprintf(f, "ksmdctl: a UNIX socket path has at most 107 bytes: choose a shorter one with -s PATH "
			"or KSMD_SOCKET=PATH\n");
		break;
	case -ETIMEDOUT:
		fprintf(f, "ksmdctl: ksmd accepted but did not answer in time: it may be stuck "
			"(journalctl -u ksmd)\n");
		break;
	default:
		break;
	}
}
