/* wss_reset.c — act: /proc/PID/clear_refs, the working-set estimate's
 * reset (act/wss_reset.h; the method and its side effects are in the
 * essay of collect/wss.c). */
#include "act/wss_reset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int wss_clear(pid_t pid, const struct proc_files *found)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)pid);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* opened for the process found, or closed unwritten */
	int r = found && proc_files_check(found) < 0 ? -ESRCH : write_fd(fd, "1");
	close(fd);
	return r;
}

int wss_tracker_reset(struct wss_tracker *t, usec_t now)
{
	if (!t->reset_due)
		return 0;
	t->reset_due = false;
	usec_t cpu0 = wss_thread_cpu_usec();
	int r = wss_clear(t->pid, t->found);
	t->clear_cpu_usec = wss_thread_cpu_usec() - cpu0;
	t->last_error = r;
	t->cleared_usec = r < 0 ? 0 : now ? now : 1;
	return r;
}
