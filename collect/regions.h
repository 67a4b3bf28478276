/* regions.h — which mappings of a guest are its RAM (collect/regions.c).
 *
 * Pure parsers over the text of /proc/PID/maps or /proc/PID/smaps, so unit
 * tests feed them made-up files; scan_regions_read() does the I/O. */
#ifndef KSMD_SCAN_REGIONS_H
#define KSMD_SCAN_REGIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "scanner/scanner.h"

struct scan_range {
	uint64_t start, end;  /* virtual addresses, page aligned, [start, end) */
};

/* Parse the text of /proc/PID/smaps (SCANNER_GUEST_QEMU: mappings with
 * `mg` in VmFlags, and of exactly size_hint_bytes when it is not 0) or of
 * /proc/PID/maps (SCANNER_GUEST_PROCESS: private anonymous writable
 * mappings; smaps text works too). On success *out is a malloc'd array of
 * *n ranges in address order (possibly empty, *out NULL). Returns 0,
 * -EINVAL on malformed text (mappings out of order or overlapping too),
 * -ENOMEM. */
int scan_regions_parse(const char *text, enum scanner_guest_kind kind,
		       uint64_t size_hint_bytes, struct scan_range **out, size_t *n);

/* Read and parse the file of process pid that kind needs. Returns as
 * scan_regions_parse, or the negative errno of reading (-ENOENT, -ESRCH:
 * the process is gone). */
int scan_regions_read(pid_t pid, enum scanner_guest_kind kind,
		      uint64_t size_hint_bytes, struct scan_range **out, size_t *n);

/* The scanner's other /proc parsers (pure). /proc/PID/statm: its second
 * field, the resident pages (of the kernel's page size): 0 or -EINVAL. */
int scan_parse_statm(const char *text, uint64_t *resident_pages);
/* /proc/PID/ksm_stat: true only when it says "ksm_merging_pages 0". */
bool scan_ksm_stat_none_merging(const char *text);

#endif
