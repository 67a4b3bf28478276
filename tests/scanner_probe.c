/* scanner_probe — run the scanner over given processes and print what it
 * found, one "key=value" line per guest and pass, for integration tests.
 *
 * usage: scanner_probe [-t THREADS] [-r PAGES_PER_SEC] [-c CPU_PERCENT]
 *                      [-n PASSES] [-b READ_BATCH_BYTES] [-P]
 *                      [-i INTERVAL_MS] [-k BACKOFF_MAX_MS]
 *                      NAME:PID:qemu|process[:SIZE_BYTES]...
 * -P: pread only (no process_vm_readv for exclusive pages).
 * -i: sleep this long between passes (the pass interval); -k: rescan
 * backoff bounded by this (default 0: off). Passes are numbered from 1. 
 * Exit status 0 when every pass completed. */
#include "scanner/scanner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void print_results(const struct scanner_results *r)
{
	printf("pass=%llu scanned=%llu skipped=%llu saveable=%llu predicted=%llu "
	       "ksm_saved=%llu classes=%llu collisions=%llu zero_filled=%llu "
	       "bytes_per_page=%.2f peak_bytes_per_page=%.2f cpu_sec=%.3f wall_usec=%llu "
	       "vm_readv=%llu vm_readv_changed=%llu backoff=%llu backoff_max_passes=%u "
	       "beyond_index_limit=%llu ksm_read=%llu ksm_known=%llu\n",
	       (unsigned long long)r->passes, (unsigned long long)r->pages_scanned,
	       (unsigned long long)r->pages_skipped, (unsigned long long)r->dup_saveable_pages,
	       (unsigned long long)r->predicted_sharing_pages,
	       (unsigned long long)r->ksm_saved_pages, (unsigned long long)r->dup_classes,
	       (unsigned long long)r->hash_collisions, (unsigned long long)r->zero_filled_pages,
	       r->bytes_per_tracked_page, r->peak_bytes_per_tracked_page,
	       r->last_pass_cpu_sec, (unsigned long long)r->last_pass_usec,
	       (unsigned long long)r->pages_vm_readv, (unsigned long long)r->vm_readv_changed,
	       (unsigned long long)r->pages_backoff, r->backoff_max_passes,
	       (unsigned long long)r->pages_beyond_index_limit,
	       (unsigned long long)r->ksm_pages_read, (unsigned long long)r->ksm_pages_known);
	for (unsigned i = 0; i < r->n_guests; i++) {
		const struct scanner_guest_stats *g = &r->guests[i];
		printf("guest=%s alive=%d error=%d regions=%llu region_pages=%llu present=%llu "
		       "zero_page=%llu zero_filled=%llu ksm=%llu unique=%llu dup_intra=%llu "
		       "dup_cross=%llu volatile=%llu unread=%llu mergeable=%llu backoff=%llu "
		       "oldest_unscanned_ms=%llu beyond_index_limit=%llu\n",
		       g->name, g->alive, g->last_error, (unsigned long long)g->regions,
		       (unsigned long long)g->region_pages, (unsigned long long)g->present_pages,
		       (unsigned long long)g->zero_page_pages, (unsigned long long)g->zero_filled_pages,
		       (unsigned long long)g->ksm_merged_pages, (unsigned long long)g->unique_pages,
		       (unsigned long long)g->dup_intra_pages, (unsigned long long)g->dup_cross_pages,
		       (unsigned long long)g->volatile_pages, (unsigned long long)g->unread_pages,
		       (unsigned long long)g->mergeable_pages, (unsigned long long)g->backoff_pages,
		       (unsigned long long)(g->oldest_unscanned_usec / 1000),
		       (unsigned long long)g->beyond_index_limit_pages);
	}
	for (unsigned i = 0; i < r->n_pairs; i++)
		printf("pair=%s,%s shared=%llu\n", r->guests[r->pairs[i].a].name,
		       r->guests[r->pairs[i].b].name, (unsigned long long)r->pairs[i].shared_pages);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct scanner_conf conf;
	unsigned passes = 1, interval_ms = 0;
	int o;
	scanner_conf_defaults(&conf);
	while ((o = getopt(argc, argv, "t:r:c:n:b:Pi:k:")) != -1) {
		switch (o) {
		case 't': conf.threads = (unsigned)atoi(optarg); break;
		case 'r': conf.pages_per_sec = strtoull(optarg, NULL, 0); break;
		case 'c': conf.cpu_percent = (unsigned)atoi(optarg); break;
		case 'n': passes = (unsigned)atoi(optarg); break;
		case 'b': conf.read_batch_bytes = strtoull(optarg, NULL, 0); break;
		case 'P': conf.pread_only = true; break;
		case 'i': interval_ms = (unsigned)atoi(optarg); break;
		case 'k': conf.backoff_max_usec = strtoull(optarg, NULL, 0) * 1000; break;
		default: return 2;
		}
	}
	conf.pass_interval_usec = (usec_t)interval_ms * 1000;
	struct scanner *s = scanner_new(&conf);
	if (!s) {
		perror("scanner_new");
		return 1;
	}
	for (int i = optind; i < argc; i++) {
		char name[64], kind[16];
		int pid;
		unsigned long long size = 0;
		if (sscanf(argv[i], "%63[^:]:%d:%15[^:]:%llu", name, &pid, kind, &size) < 3) {
			fprintf(stderr, "bad guest %s\n", argv[i]);
			return 2;
		}
		int r = scanner_add_guest(s, name, pid, strcmp(kind, "qemu") == 0 ?
					  SCANNER_GUEST_QEMU : SCANNER_GUEST_PROCESS, size);
		if (r < 0) {
			fprintf(stderr, "add %s: %s\n", name, strerror(-r));
			return 1;
		}
	}
	int ret = 0;
	for (unsigned p = 0; p < passes; p++) {
		if (p && interval_ms)
			usleep(interval_ms * 1000);
		int r = scanner_scan_once(s);
		if (r < 0) {
			fprintf(stderr, "pass: %s\n", strerror(-r));
			ret = 1;
			continue;
		}
		struct scanner_results res;
		if (scanner_get_results(s, &res) == 0) {
			print_results(&res);
			scanner_results_free(&res);
		}
	}
	scanner_free(s);
	return ret;
}
