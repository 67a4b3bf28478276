/* wss_reset.h — act: the reset of the host-side working-set estimate
 * (collect/wss.h reads it; the essay is in collect/wss.c).
 *
 * Writing /proc/PID/clear_refs changes the host: the guest's pages look
 * idle to the host's reclaim until touched again. So it is an action, done
 * in the tick's act stage and from this file only; collect/ only reads
 * (smaps) and says when a clear is due (wss_tracker.reset_due). */
#ifndef KSMD_ACT_WSS_RESET_H
#define KSMD_ACT_WSS_RESET_H

#include <sys/types.h>

#include "collect/sample.h"
#include "collect/wss.h"
#include "common/util.h"

/* Clear the referenced/accessed bits of every page of process pid:
 * write "1" to /proc/PID/clear_refs. Needs the right to ptrace it (root).
 * Does not unshare KSM pages and does not write-protect anything; it does
 * make the pages look idle to the host's reclaim (see the essay). found:
 * the process found as the guest (collect/sample.h), checked between the
 * open and the write, so that another process that got the pid is never
 * written (NULL: whatever pid names, for tools). Returns 0 or -errno
 * (-ESRCH when the process is gone). */
int wss_clear(pid_t pid, const struct proc_files *found);

/* The clear the collect stage found due (t->reset_due), at time now: the
 * interval starts (t->cleared_usec = now). Nothing due: nothing written,
 * 0. Returns 0 or -errno of the clear, also kept in t->last_error (the
 * collect stage asks again at its next call). */
int wss_tracker_reset(struct wss_tracker *t, usec_t now);

#endif
