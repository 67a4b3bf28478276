/* sample.h — collect: what the tick reads of a guest's process, read once
 * a tick into a plain struct held with the guest.
 *
 * A guest's /proc/PID/status (VmRSS, VmSwap) and /proc/PID/ksm_stat are
 * opened once, when its process is found (proc_files_open), and read again
 * from offset 0 every tick (proc_sample_read): the kernel makes their text
 * anew at each read. The rest of the tick takes these numbers from the
 * sample and reads no /proc file of its own for them:
 *   - the policy: the guest's cost (VmRSS, VmSwap, ksm_merging_pages);
 *   - the KSM executor: whether the guest is mergeable (the sample's
 *     ksm_stat, ksm_proc_check_mergeable);
 *   - the scanner: the guest's resident pages, which size a pass's index
 *     (statm's second field and VmRSS count the same pages: anon, file and
 *     shmem), and its ksm_stat, through a copy of the same open file, for
 *     the check right before each process_vm_readv, which must say what
 *     KSM counts at that moment, not at the tick (scanner/scanner.c);
 *   - the snapshot (publish).
 * An open /proc/PID file stays tied to the process it was opened for: once
 * that process is gone its reads fail (ESRCH) or are empty, even if another
 * process gets the same pid.
 *
 * The identity of a guest's process. A pid is only a number: when the
 * guest's process exits, the kernel gives the pid to the next process that
 * needs one, and a path /proc/PID/... then names that unrelated process.
 * So the process is pinned when it is found: a pidfd (pidfd_open, since
 * Linux 5.3), and its start time (field 22 of /proc/PID/stat) for a kernel
 * without pidfds. Every later read or write of a /proc/PID path (the
 * scanner's pagemap and mem, the working set's clear_refs and smaps, the
 * mergeable check's comm and cgroup) opens the file, then asks
 * proc_files_check(): the pidfd has not exited (so the pid has named the
 * found process all along, the open included), or, without a pidfd, the
 * start time is the one found. Anything else is the guest's process having
 * exited: what was opened is closed unused, and the pid is never adopted;
 * only the guest's own source (its QMP monitor, libvirt) can name a new
 * process, which is then found anew.
 */
#ifndef KSMD_COLLECT_SAMPLE_H
#define KSMD_COLLECT_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/util.h"

/* /proc/PID/ksm_stat. -1 = line absent (older kernel). */
struct ksm_proc_stat {
	int64_t rmap_items;        /* ksm_rmap_items: pages KSM tracks */
	int64_t zero_pages;        /* ksm_zero_pages */
	int64_t merging_pages;     /* ksm_merging_pages: pages mapped to KSM pages */
	int64_t process_profit;    /* ksm_process_profit, bytes (may be < 0) */
	int merge_any;             /* ksm_merge_any: 1 yes (PR_SET_MEMORY_MERGE), 0 no, -1 absent */
	int mergeable;             /* ksm_mergeable: 1 yes (some VMA mergeable), 0 no, -1 absent */
};

/* Parse the text of a ksm_stat file (pure). Unknown lines are ignored.
 * Returns -EINVAL when no known line is found. */
int ksm_proc_stat_parse(const char *text, struct ksm_proc_stat *out);

/* Read and parse a ksm_stat file at path (tests pass a made-up file). */
int ksm_proc_stat_file(const char *path, struct ksm_proc_stat *out);

/* Read /proc/PID/ksm_stat (tools; the daemon reads the sample). -ENOENT:
 * no such process or no ksm_stat. */
int ksm_proc_stat(pid_t pid, struct ksm_proc_stat *out);

/* Parse /proc/PID/stat text: ppid (field 4), flags (9), starttime (22);
 * any output may be NULL. Copes with spaces and parentheses in comm. 0 or
 * -EINVAL. Pure. */
int proc_stat_parse(const char *text, pid_t *ppid, unsigned long *flags, uint64_t *start_ticks);

/* Read PROC_ROOT/PID/stat (proc_root NULL: /proc) and parse it as above.
 * 0 or -errno. */
int proc_stat_read(const char *proc_root, pid_t pid, pid_t *ppid, unsigned long *flags, uint64_t *start_ticks);

/* Whether stat_text (/proc/PID/stat read now) is of the process that
 * started at start_ticks, the one found. Unreadable text is not. Pure. */
bool proc_same_start(uint64_t start_ticks, const char *stat_text);

/* A guest process's identity and files, from the moment it is found. */
struct proc_files {
	pid_t pid;                 /* 0: none */
	int pidfd;                 /* pidfd_open(pid); -1: kernel without pidfds */
	uint64_t start_ticks;      /* its start time, field 22 of /proc/PID/stat */
	int status_fd;             /* /proc/PID/status */
	int ksm_stat_fd;           /* /proc/PID/ksm_stat; -1: kernel without it */
};
#define PROC_FILES_INIT { 0, -1, 0, -1, -1 }

/* Find pid's process: its identity, then its files. Returns 0, or -errno
 * (-ENOENT, -ESRCH: no such process, or it exited meanwhile); f is then
 * empty. A missing ksm_stat is no error. */
int proc_files_open(struct proc_files *f, pid_t pid);
/* Close them; f is empty after (closing an empty one does nothing). */
void proc_files_close(struct proc_files *f);

/* Is the process found still there, under its pid? 0, or -ESRCH: it has
 * exited (a zombie too), f is empty or names another process now. Call it
 * after opening a /proc/PID file and before using what was opened. */
int proc_files_check(const struct proc_files *f);
/* The same for an identity kept elsewhere (the scanner's copy). */
int proc_identity_check(pid_t pid, int pidfd, uint64_t start_ticks);

/* One tick's reading of a guest process. */
struct proc_sample {
	bool valid;                /* status was read */
	uint64_t rss_bytes;        /* VmRSS: its resident memory */
	uint64_t swap_bytes;       /* VmSwap: its memory the host swapped out */
	uint64_t resident_pages;   /* VmRSS in 4 KiB pages (statm's resident) */
	bool ksm_valid;            /* ksm_stat was read */
	struct ksm_proc_stat ksm;
};

/* Parse /proc/PID/status text into out's memory fields (VmRSS, VmSwap, 0
 * when missing, as in a kernel thread or a zombie). Pure. */
void proc_sample_parse_status(const char *text, struct proc_sample *out);

/* Read f's files into out (cleared first). Returns 0 when status was read
 * and the process found is still there, else -errno (-ESRCH: it is gone;
 * out is then empty). */
int proc_sample_read(const struct proc_files *f, struct proc_sample *out);

#endif
