/* fields.h — the snapshot's fields, named once.
 *
 * Every key of the JSON snapshot (docs/STATS.md, schema version 1) is one
 * row of snap_fields[], a const array indexed by enum snap_id (designated
 * initializers: -Woverride-init catches a row given twice, test_fields a
 * missing one; the order of the enum is the order of the rows). A row
 * holds the object the key is a member of, the key, its JSON type and
 * unit, where it appears (J the daemon writes it, V a ksmdctl view reads
 * it by name, P /metrics shows it), and for P its metric: kind, name,
 * help, scale to base units, labels. daemon/snapshot.c sets each key as snap_key(SF_...) (the owners
 * object, built by daemon/managers.c, is named here too),
 * stats/prometheus.c renders /metrics from the rows alone, cli/view.c
 * reads through the same ids: a key renamed here is renamed for all three.
 * tests/unit/test_fields.c holds the daemon (types included) and /metrics
 * to the rows, and docs/STATS.md's list of metrics (name, type, unit,
 * labels) to the table; tests/unit/test_view.c the views to the V flags.
 *
 * Rows follow the document: an object's members in the order the daemon
 * writes them, a nested object's rows right after the row that holds it.
 * Rows with a metric are also in the order /metrics writes its families,
 * which moves two rows (uptime_seconds, a guest's shares). What the metric
 * kinds mean and how families are ordered is stats/prometheus.c's essay.
 *
 * Header only, the table static: ksmdctl links ctl/ and nothing of the
 * daemon, and the stats and view tests, the stats fuzzer and benchmark
 * link stats/ or cli/view.c without ctl/ (mk/stats.mk). A file that reads
 * rows by a variable id holds a copy of the table (14 KiB and its strings);
 * snap_key() of a constant id compiles to the string itself.
 *
 * One piece, over 600 lines: the table is one array with one row per key,
 * and the point is that every key is in this one place; split in two, the
 * enum, the designated initializers and test_fields' one walk over it
 * would be split too. */
#ifndef KSMD_CTL_FIELDS_H
#define KSMD_CTL_FIELDS_H

#include <jansson.h>
#include <stdbool.h>
#include <string.h>

/* The objects of the snapshot. */
enum snap_obj {
	SO_ROOT, SO_HOST, SO_CGROUP, SO_KSM, SO_OWNERS, SO_MANAGER, SO_SCANNER, SO_GUEST,
	SO_GUEST_LIBVIRT, SO_SCAN, SO_LIBVIRT, SO_PAIR, SO_POLICY, SO_POLICY_DECISIONS, SO_DECISION,
	SO_CONTROL_REQUEST, SO_HTTP_REQUEST, SO_HTTP,
	SO_N
};

enum snap_id {
	SF_NONE,
	/* the root */
	SF_VERSION, SF_KSMD_VERSION, SF_UPTIME_SECONDS, SF_TIME, SF_TICK, SF_HOST,
	/* host */
	SF_HOST_MEM_TOTAL_BYTES, SF_HOST_MEM_AVAILABLE_BYTES, SF_HOST_SWAP_IN_PAGES_PER_SEC,
	SF_HOST_SWAP_OUT_PAGES_PER_SEC, SF_HOST_SWAP_IN_PAGES_TOTAL, SF_HOST_SWAP_OUT_PAGES_TOTAL,
	SF_HOST_PSI_SOME_AVG10, SF_HOST_PSI_FULL_AVG10,
	SF_HOST_BUDGET_BYTES, SF_HOST_CGROUP,
	/* host.cgroup */
	SF_CGROUP_PATH, SF_CGROUP_READABLE, SF_CGROUP_LIMIT_BYTES, SF_CGROUP_USAGE_BYTES,
	SF_CGROUP_SWAP_BYTES, SF_CGROUP_SWAP_OUT_BYTES_PER_SEC, SF_CGROUP_SWAP_OUT_BYTES_TOTAL,
	SF_HOST_GUESTS_TOTAL_BYTES,
	SF_KSM,
	/* ksm */
	SF_KSM_AVAILABLE, SF_KSM_MANAGED, SF_KSM_RUN, SF_KSM_PAGES_TO_SCAN, SF_KSM_SLEEP_MILLISECS,
	SF_KSM_PAGES_SHARED, SF_KSM_PAGES_SHARING, SF_KSM_PAGES_UNSHARED, SF_KSM_PAGES_VOLATILE,
	SF_KSM_FULL_SCANS, SF_KSM_KSM_ZERO_PAGES, SF_KSM_GENERAL_PROFIT, SF_KSM_PAGES_SCANNED,
	SF_KSM_PAGES_SKIPPED, SF_KSM_KTHREAD_CPU_PERCENT, SF_KSM_PACING_PHASE, SF_KSM_PACING_REASON,
	SF_OWNERS,
	/* owners (daemon/managers.c) */
	SF_OWNERS_KSM, SF_OWNERS_BALLOON, SF_OWNERS_MANAGERS,
	/* owners.managers[] */
	SF_MANAGER_NAME, SF_MANAGER_PID, SF_MANAGER_DRIVES,
	SF_OWNERS_KSM_OUTSIDE_CHANGE, SF_OWNERS_KSM_OUTSIDE_CHANGES,
	SF_SCANNER,
	/* scanner */
	SF_SCANNER_STATE, SF_SCANNER_THREADS, SF_SCANNER_PAGES_PER_SEC_LIMIT,
	SF_SCANNER_CPU_PERCENT_LIMIT, SF_SCANNER_PASSES, SF_SCANNER_LAST_PASS_SECONDS,
	SF_SCANNER_LAST_PASS_CPU_SECONDS, SF_SCANNER_PAGES_SCANNED, SF_SCANNER_PAGES_SCANNED_TOTAL,
	SF_SCANNER_PAGES_SKIPPED, SF_SCANNER_PAGES_SCANNED_PER_SEC,
	SF_SCANNER_PREDICTED_MERGEABLE_PAGES, SF_SCANNER_UNMERGED_DUPLICATE_PAGES,
	SF_SCANNER_ZERO_FILLED_PAGES, SF_SCANNER_DUPLICATE_PAGES, SF_SCANNER_VOLATILE_PAGES,
	SF_SCANNER_HASH_COLLISIONS, SF_SCANNER_TRACKED_PAGES, SF_SCANNER_BYTES_PER_TRACKED_PAGE,
	SF_SCANNER_INCREMENTAL, SF_SCANNER_PAGES_VM_READV, SF_SCANNER_VM_READV_CHANGED,
	SF_SCANNER_KSM_PAGES_READ, SF_SCANNER_KSM_PAGES_KNOWN,
	SF_SCANNER_BACKOFF_PAGES, SF_SCANNER_PAGES_BEYOND_INDEX_LIMIT, SF_SCANNER_QUIET_PASSES,
	SF_SCANNER_NEXT_PAUSE_SECONDS,
	SF_GUESTS,
	/* guests[] */
	SF_GUEST_NAME, SF_GUEST_PID, SF_GUEST_BACKEND, SF_GUEST_STATE, SF_GUEST_REASON,
	SF_GUEST_DISCOVERED, SF_GUEST_LIBVIRT,
	/* guests[].libvirt */
	SF_GUEST_LV_UUID, SF_GUEST_LV_ID, SF_GUEST_LV_BALLOON_DEVICE, SF_GUEST_LV_NOSHAREPAGES,
	SF_GUEST_LV_SETTINGS, SF_GUEST_LV_PID_ERROR, SF_GUEST_LV_METADATA_ERROR,
	SF_GUEST_QMP_MODE, SF_GUEST_MEM_MAX_BYTES, SF_GUEST_MEM_MIN_BYTES, SF_GUEST_SHARES,
	SF_GUEST_BALLOON_TARGET_BYTES, SF_GUEST_BALLOON_ACTUAL_BYTES, SF_GUEST_BALLOON_TARGETS_TOTAL,
	SF_GUEST_OVERRIDE_BYTES,
	SF_GUEST_OVERRIDE_BY, SF_GUEST_BALLOON_DRIVER, SF_GUEST_STATS_AGE_SECONDS,
	SF_GUEST_AVAILABLE_BYTES, SF_GUEST_FREE_BYTES, SF_GUEST_MAJOR_FAULTS, SF_GUEST_SWAP_IN,
	SF_GUEST_SWAP_OUT, SF_GUEST_FREE_PAGE_REPORTING, SF_GUEST_DEFLATE_ON_OOM, SF_GUEST_STUCK,
	SF_GUEST_UNCOOPERATIVE, SF_GUEST_FREE_PAGE_REPORTED_BYTES, SF_GUEST_RSS_BYTES, SF_GUEST_SWAP_BYTES, SF_GUEST_HOST_ACTIVE_BYTES,
	SF_GUEST_HOST_ACTIVE_AGE_SECONDS, SF_GUEST_HOST_ACTIVE_PERIOD_SECONDS, SF_GUEST_HOST_WSS_CPU_SECONDS,
	SF_GUEST_KSM_MERGEABLE, SF_GUEST_KSM_MERGING_PAGES,
	SF_GUEST_KSM_ZERO_PAGES, SF_GUEST_KSM_FIX, SF_GUEST_UNBACKED_BYTES, SF_GUEST_SCAN,
	/* guests[].scan */
	SF_SCAN_PRESENT_PAGES, SF_SCAN_ZERO_PAGE_PAGES, SF_SCAN_ZERO_FILLED_PAGES,
	SF_SCAN_MERGED_PAGES, SF_SCAN_UNIQUE_PAGES, SF_SCAN_DUPLICATE_PAGES,
	SF_SCAN_DUPLICATE_CROSS_PAGES, SF_SCAN_VOLATILE_PAGES, SF_SCAN_MERGEABLE_PAGES,
	SF_SCAN_REGIONS, SF_SCAN_REGION_PAGES, SF_SCAN_SWAPPED_PAGES, SF_SCAN_UNREAD_PAGES,
	SF_SCAN_ERROR, SF_SCAN_OLDEST_UNSCANNED_SECONDS,
	SF_LIBVIRT,
	/* libvirt */
	SF_LIBVIRT_URI, SF_LIBVIRT_CONNECTED, SF_LIBVIRT_ERROR, SF_LIBVIRT_DOMAINS,
	SF_SHARING,
	/* sharing[] */
	SF_PAIR_A, SF_PAIR_B, SF_PAIR_PAGES,
	SF_POLICY,
	/* policy */
	SF_POLICY_STATE, SF_POLICY_DRY_RUN, SF_POLICY_TICK, SF_POLICY_HOST_LEVEL,
	SF_POLICY_MERGE_URGENCY, SF_POLICY_GUEST_USED_BYTES, SF_POLICY_GUEST_SWAP_BYTES,
	SF_POLICY_RECLAIM_WANTED_BYTES, SF_POLICY_HOST_REASON, SF_POLICY_MERGE_REASON,
	SF_POLICY_DECISIONS_TOTAL,
	/* policy.decisions_total */
	SF_POLICY_DECISIONS_SHRINK, SF_POLICY_DECISIONS_GROW, SF_POLICY_DECISIONS_NOTE,
	SF_DECISIONS,
	/* decisions[] */
	SF_DECISION_TIME, SF_DECISION_TICK, SF_DECISION_TARGET, SF_DECISION_ACTION,
	SF_DECISION_TARGET_BYTES, SF_DECISION_DELTA_BYTES, SF_DECISION_DRY_RUN,
	SF_DECISION_REASON,
	SF_CONTROL_REQUESTS,
	/* control_requests[] */
	SF_CONTROL_REQUEST_VERB, SF_CONTROL_REQUEST_RESULT, SF_CONTROL_REQUEST_COUNT,
	SF_HTTP_REQUESTS,
	/* http_requests[] */
	SF_HTTP_REQUEST_PATH, SF_HTTP_REQUEST_CODE, SF_HTTP_REQUEST_COUNT,
	SF_HTTP,
	/* http (daemon/http_sep.c) */
	SF_HTTP_LISTEN, SF_HTTP_SERVING, SF_HTTP_PID, SF_HTTP_USER, SF_HTTP_UID, SF_HTTP_DOWN_SECONDS,
	SF_HTTP_LOSSES_TOTAL,
	SF_N
};

/* Where a field appears. */
#define SNAP_JSON 0x1u /* the daemon writes it (snapshot.c; owners: managers.c) */
#define SNAP_VIEW 0x2u /* a ksmdctl view reads it by name (every guest field is
			* also printed by `ksmdctl guest`, whatever its name) */
#define SNAP_PROM 0x4u /* /metrics shows it: a metric, or a label of one */

/* What /metrics makes of a field (stats/prometheus.c). */
enum snap_mkind {
	SNAP_M_NONE,
	SNAP_M_GAUGE,   /* the value (a boolean as 0/1) times scale */
	SNAP_M_COUNTER, /* the same, a counter (its name ends in _total) */
	SNAP_M_INFO,    /* always 1; the value (a string) is the label `label` */
	SNAP_M_RUNNING, /* 1 if the value is "running", else 0 */
	SNAP_M_FLAG,    /* a boolean as 0/1; any other value gives no sample */
	SNAP_M_COUNT,   /* the number of elements of an array */
	SNAP_M_STATES,  /* one sample per value of `values`: 1 for the one it has */
	SNAP_M_LABEL,   /* no metric: the label `label` of its object's samples */
};

struct snap_metric {
	enum snap_mkind kind;
	const char *name;
	const char *help;
	double scale;              /* GAUGE: times the value to base units; 0 = 1 */
	const char *label;         /* INFO, STATES, LABEL: the label of the value;
				    * GAUGE: a label of fixed value label_value */
	const char *label_value;
	const char *const *values; /* STATES: every value, NULL-terminated */
	enum snap_id with;         /* INFO: a row whose value is one more label
				    * (named by that row's metric label) */
};

/* The JSON type of a field's value (any field may also be null: unknown). */
enum snap_type {
	SNAP_T_OBJ,  /* an object: its members are the rows of the object it holds */
	SNAP_T_ARR,  /* an array (of the element object that names it as `in`) */
	SNAP_T_STR,
	SNAP_T_INT,  /* an integer */
	SNAP_T_NUM,  /* a number, integral or not */
	SNAP_T_BOOL,
};

struct snap_field {
	enum snap_obj obj;   /* the object it is a member of */
	const char *key;
	enum snap_type type;
	const char *unit;    /* of the JSON value: "bytes", "pages", "seconds",
			      * "milliseconds", "percent" (0-100), a rate "pages/s",
			      * "bytes/s"; "" none (a count, a state, a name) */
	unsigned where;      /* SNAP_JSON | SNAP_VIEW | SNAP_PROM */
	struct snap_metric m;
};

/* An object and the row that holds it: the object itself, or with element
 * set, each element of that array. */
struct snap_object {
	enum snap_id in;
	bool element;
};

/* A guest's states as the views count them and ksmd_guest_state enumerates
 * them (the daemon may also write "busy" and "error"). */
static const char *const snap_guest_states[] = {
	"ok", "distress", "stuck", "uncooperative", "gone", "no-balloon", "connecting", NULL,
};

static const struct snap_object snap_objects[SO_N] = {
	[SO_ROOT] = { SF_NONE, false },
	[SO_HOST] = { SF_HOST, false },
	[SO_CGROUP] = { SF_HOST_CGROUP, false },
	[SO_KSM] = { SF_KSM, false },
	[SO_OWNERS] = { SF_OWNERS, false },
	[SO_MANAGER] = { SF_OWNERS_MANAGERS, true },
	[SO_SCANNER] = { SF_SCANNER, false },
	[SO_GUEST] = { SF_GUESTS, true },
	[SO_GUEST_LIBVIRT] = { SF_GUEST_LIBVIRT, false },
	[SO_SCAN] = { SF_GUEST_SCAN, false },
	[SO_LIBVIRT] = { SF_LIBVIRT, false },
	[SO_PAIR] = { SF_SHARING, true },
	[SO_POLICY] = { SF_POLICY, false },
	[SO_POLICY_DECISIONS] = { SF_POLICY_DECISIONS_TOTAL, false },
	[SO_DECISION] = { SF_DECISIONS, true },
	[SO_CONTROL_REQUEST] = { SF_CONTROL_REQUESTS, true },
	[SO_HTTP_REQUEST] = { SF_HTTP_REQUESTS, true },
	[SO_HTTP] = { SF_HTTP, false },
};

/* The table's shorthands, undefined again below. */
#define J SNAP_JSON
#define V SNAP_VIEW
#define P SNAP_PROM
#define F(o, k, t, u, w) { .obj = SO_##o, .key = (k), .type = SNAP_T_##t, .unit = (u), .where = (w) }
#define M(o, k, t, u, w, metric) { .obj = SO_##o, .key = (k), .type = SNAP_T_##t, .unit = (u), .where = (w), \
	.m = { metric } }
#define GAUGE(n, h) .kind = SNAP_M_GAUGE, .name = (n), .help = (h)
#define COUNTER(n, h) .kind = SNAP_M_COUNTER, .name = (n), .help = (h)
#define SCALED(n, s, h) .kind = SNAP_M_GAUGE, .name = (n), .scale = (s), .help = (h)
#define INFO(n, l, h) .kind = SNAP_M_INFO, .name = (n), .label = (l), .help = (h)
#define INFO_WITH(n, l, w, h) .kind = SNAP_M_INFO, .name = (n), .label = (l), .with = (w), .help = (h)
#define RUNNING(n, h) .kind = SNAP_M_RUNNING, .name = (n), .help = (h)
#define FLAG(n, h) .kind = SNAP_M_FLAG, .name = (n), .help = (h)
#define COUNT(n, h) .kind = SNAP_M_COUNT, .name = (n), .help = (h)
#define STATES(n, l, v, h) .kind = SNAP_M_STATES, .name = (n), .label = (l), .values = (v), .help = (h)
#define LABEL(l) .kind = SNAP_M_LABEL, .label = (l)
/* one family, ksmd_guest_scan_pages{kind=...}, over several rows */
/* one family, ksmd_policy_decisions_total{kind=...}, over the rows of
 * policy.decisions_total */
#define DECISIONS(k) .kind = SNAP_M_COUNTER, .name = "ksmd_policy_decisions_total", .label = "kind", \
	.label_value = (k), .help = "Decisions the policy recorded, by kind (the action of decisions[])."
#define SCAN_PAGES(k) .kind = SNAP_M_GAUGE, .name = "ksmd_guest_scan_pages", .label = "kind", \
	.label_value = (k), .help = "Guest pages by what the scanner found in them (kind)."

static const struct snap_field snap_fields[SF_N] = {
	[SF_VERSION] = F(ROOT, "version", INT, "", J | V),
	[SF_KSMD_VERSION] = M(ROOT, "ksmd_version", STR, "", J | V | P, INFO("ksmd_build_info", "version",
		"Always 1; the version label names the ksmd release.")),
	/* before time: /metrics writes it first */
	[SF_UPTIME_SECONDS] = M(ROOT, "uptime_seconds", NUM, "seconds", J | V | P,
		GAUGE("ksmd_uptime_seconds", "Seconds since ksmd started.")),
	[SF_TIME] = M(ROOT, "time", NUM, "seconds", J | P, GAUGE("ksmd_snapshot_timestamp_seconds",
		"Unix time at which this snapshot was taken.")),
	[SF_TICK] = F(ROOT, "tick", INT, "", J),

	[SF_HOST] = F(ROOT, "host", OBJ, "", J | V),
	[SF_HOST_MEM_TOTAL_BYTES] = M(HOST, "mem_total_bytes", INT, "bytes", J | V | P,
		GAUGE("ksmd_host_memory_total_bytes", "Host MemTotal.")),
	[SF_HOST_MEM_AVAILABLE_BYTES] = M(HOST, "mem_available_bytes", INT, "bytes", J | V | P,
		GAUGE("ksmd_host_memory_available_bytes", "Host MemAvailable.")),
	/* rates: in the JSON (the policy's view), left to PromQL in /metrics */
	[SF_HOST_SWAP_IN_PAGES_PER_SEC] = F(HOST, "swap_in_pages_per_sec", NUM, "pages/s", J | V),
	[SF_HOST_SWAP_OUT_PAGES_PER_SEC] = F(HOST, "swap_out_pages_per_sec", NUM, "pages/s", J | V),
	[SF_HOST_SWAP_IN_PAGES_TOTAL] = M(HOST, "swap_in_pages_total", INT, "pages", J | P,
		COUNTER("ksmd_host_swap_in_pages_total", "Host pages swapped in since boot (pswpin of /proc/vmstat).")),
	[SF_HOST_SWAP_OUT_PAGES_TOTAL] = M(HOST, "swap_out_pages_total", INT, "pages", J | P,
		COUNTER("ksmd_host_swap_out_pages_total", "Host pages swapped out since boot (pswpout of /proc/vmstat).")),
	[SF_HOST_PSI_SOME_AVG10] = M(HOST, "psi_some_avg10", NUM, "percent", J | V | P,
		SCALED("ksmd_host_memory_pressure_some_avg10_ratio", 0.01,
		       "Share of time some task stalled on memory, 10 s average (PSI).")),
	[SF_HOST_PSI_FULL_AVG10] = M(HOST, "psi_full_avg10", NUM, "percent", J | V | P,
		SCALED("ksmd_host_memory_pressure_full_avg10_ratio", 0.01,
		       "Share of time all tasks stalled on memory, 10 s average (PSI).")),
	[SF_HOST_BUDGET_BYTES] = M(HOST, "budget_bytes", INT, "bytes", J | V | P,
		GAUGE("ksmd_host_budget_bytes", "Memory ksmd may give to guests in total.")),
	[SF_HOST_CGROUP] = F(HOST, "cgroup", OBJ, "", J),
	[SF_CGROUP_PATH] = F(CGROUP, "path", STR, "", J),
	[SF_CGROUP_READABLE] = F(CGROUP, "readable", BOOL, "", J),
	[SF_CGROUP_LIMIT_BYTES] = F(CGROUP, "limit_bytes", INT, "bytes", J),
	[SF_CGROUP_USAGE_BYTES] = F(CGROUP, "usage_bytes", INT, "bytes", J),
	[SF_CGROUP_SWAP_BYTES] = F(CGROUP, "swap_bytes", INT, "bytes", J),
	[SF_CGROUP_SWAP_OUT_BYTES_PER_SEC] = F(CGROUP, "swap_out_bytes_per_sec", NUM, "bytes/s", J),
	[SF_CGROUP_SWAP_OUT_BYTES_TOTAL] = M(CGROUP, "swap_out_bytes_total", INT, "bytes", J | P,
		COUNTER("ksmd_host_cgroup_swap_out_bytes_total",
			"Growth of the budget cgroup's memory in swap, summed tick by tick since ksmd started (falls left out).")),
	[SF_HOST_GUESTS_TOTAL_BYTES] = M(HOST, "guests_total_bytes", INT, "bytes", J | V | P,
		GAUGE("ksmd_host_guests_memory_bytes", "Memory the guests currently hold in total.")),

	[SF_KSM] = F(ROOT, "ksm", OBJ, "", J | V),
	[SF_KSM_AVAILABLE] = F(KSM, "available", BOOL, "", J),
	[SF_KSM_MANAGED] = F(KSM, "managed", BOOL, "", J),
	[SF_KSM_RUN] = M(KSM, "run", INT, "", J | V | P,
		GAUGE("ksmd_ksm_run", "Kernel KSM run mode (0 stopped, 1 running, 2 unmerge).")),
	[SF_KSM_PAGES_TO_SCAN] = M(KSM, "pages_to_scan", INT, "pages", J | V | P,
		GAUGE("ksmd_ksm_pages_to_scan", "Kernel KSM pages scanned per wake-up.")),
	[SF_KSM_SLEEP_MILLISECS] = M(KSM, "sleep_millisecs", INT, "milliseconds", J | V | P,
		SCALED("ksmd_ksm_sleep_seconds", 0.001, "Kernel KSM sleep between wake-ups.")),
	[SF_KSM_PAGES_SHARED] = M(KSM, "pages_shared", INT, "pages", J | V | P,
		GAUGE("ksmd_ksm_pages_shared", "KSM pages in use (stable tree nodes).")),
	[SF_KSM_PAGES_SHARING] = M(KSM, "pages_sharing", INT, "pages", J | V | P,
		GAUGE("ksmd_ksm_pages_sharing", "Pages mapped onto a KSM page (pages saved).")),
	[SF_KSM_PAGES_UNSHARED] = M(KSM, "pages_unshared", INT, "pages", J | V | P,
		GAUGE("ksmd_ksm_pages_unshared", "Pages KSM checked but found unique.")),
	[SF_KSM_PAGES_VOLATILE] = M(KSM, "pages_volatile", INT, "pages", J | V | P,
		GAUGE("ksmd_ksm_pages_volatile", "Pages changing too fast to merge.")),
	[SF_KSM_FULL_SCANS] = M(KSM, "full_scans", INT, "", J | V | P,
		COUNTER("ksmd_ksm_full_scans_total", "Completed full KSM scans.")),
	[SF_KSM_KSM_ZERO_PAGES] = M(KSM, "ksm_zero_pages", INT, "pages", J | V | P,
		GAUGE("ksmd_ksm_zero_pages", "Empty pages merged with the kernel zero page.")),
	[SF_KSM_GENERAL_PROFIT] = M(KSM, "general_profit", INT, "bytes", J | V | P,
		GAUGE("ksmd_ksm_general_profit_bytes", "Memory saved by KSM minus its metadata.")),
	[SF_KSM_PAGES_SCANNED] = F(KSM, "pages_scanned", INT, "pages", J),
	[SF_KSM_PAGES_SKIPPED] = M(KSM, "pages_skipped", INT, "pages", J | P,
		COUNTER("ksmd_ksm_pages_skipped_total", "Pages KSM's smart scan skipped as unlikely to merge.")),
	[SF_KSM_KTHREAD_CPU_PERCENT] = M(KSM, "kthread_cpu_percent", NUM, "percent", J | V | P,
		SCALED("ksmd_ksm_kthread_cpu_ratio", 0.01, "CPU share used by the kernel ksmd thread.")),
	[SF_KSM_PACING_PHASE] = F(KSM, "pacing_phase", STR, "", J),
	[SF_KSM_PACING_REASON] = M(KSM, "pacing_reason", STR, "", J | V | P, INFO("ksmd_ksm_pacing_info", "reason",
		"Always 1; the reason label says why KSM is paced as it is.")),

	[SF_OWNERS] = F(ROOT, "owners", OBJ, "", J | V),
	[SF_OWNERS_KSM] = F(OWNERS, "ksm", STR, "", J | V),
	[SF_OWNERS_BALLOON] = F(OWNERS, "balloon", STR, "", J | V),
	[SF_OWNERS_MANAGERS] = F(OWNERS, "managers", ARR, "", J | V),
	[SF_MANAGER_NAME] = M(MANAGER, "name", STR, "", J | V | P, LABEL("manager")),
	[SF_MANAGER_PID] = F(MANAGER, "pid", INT, "", J | V),
	[SF_MANAGER_DRIVES] = M(MANAGER, "drives", STR, "", J | V | P, INFO("ksmd_manager_info", "drives",
		"Always 1 per other memory manager found running; drives: ksm, balloon, ksm+balloon or nothing.")),
	[SF_OWNERS_KSM_OUTSIDE_CHANGE] = F(OWNERS, "ksm_outside_change", STR, "", J | V),
	[SF_OWNERS_KSM_OUTSIDE_CHANGES] = M(OWNERS, "ksm_outside_changes", INT, "", J | P,
		COUNTER("ksmd_ksm_outside_changes_total", "Changes of KSM's settings by another program seen.")),

	[SF_SCANNER] = F(ROOT, "scanner", OBJ, "", J | V),
	[SF_SCANNER_STATE] = M(SCANNER, "state", STR, "", J | V | P,
		RUNNING("ksmd_scanner_running", "1 if the scanner is running, 0 if paused.")),
	[SF_SCANNER_THREADS] = M(SCANNER, "threads", INT, "", J | V | P, GAUGE("ksmd_scanner_threads", "Scanner threads.")),
	[SF_SCANNER_PAGES_PER_SEC_LIMIT] = M(SCANNER, "pages_per_sec_limit", INT, "pages/s", J | V | P,
		GAUGE("ksmd_scanner_pages_per_second_limit", "Scanner rate limit in pages per second (0 = none).")),
	[SF_SCANNER_CPU_PERCENT_LIMIT] = M(SCANNER, "cpu_percent_limit", NUM, "percent", J | V | P,
		SCALED("ksmd_scanner_cpu_limit_ratio", 0.01, "Scanner CPU limit as a share of one core.")),
	[SF_SCANNER_PASSES] = M(SCANNER, "passes", INT, "", J | V | P,
		COUNTER("ksmd_scanner_passes_total", "Completed scanner passes.")),
	[SF_SCANNER_LAST_PASS_SECONDS] = M(SCANNER, "last_pass_seconds", NUM, "seconds", J | V | P,
		GAUGE("ksmd_scanner_last_pass_duration_seconds", "Duration of the last scanner pass.")),
	[SF_SCANNER_LAST_PASS_CPU_SECONDS] = F(SCANNER, "last_pass_cpu_seconds", NUM, "seconds", J),
	[SF_SCANNER_PAGES_SCANNED] = F(SCANNER, "pages_scanned", INT, "pages", J),
	[SF_SCANNER_PAGES_SCANNED_TOTAL] = M(SCANNER, "pages_scanned_total", INT, "pages", J | P,
		COUNTER("ksmd_scanner_pages_scanned_total", "Pages read and hashed by the scanner.")),
	[SF_SCANNER_PAGES_SKIPPED] = F(SCANNER, "pages_skipped", INT, "pages", J),
	[SF_SCANNER_PAGES_SCANNED_PER_SEC] = F(SCANNER, "pages_scanned_per_sec", NUM, "pages/s", J),
	[SF_SCANNER_PREDICTED_MERGEABLE_PAGES] = M(SCANNER, "predicted_mergeable_pages", INT, "pages", J | V | P,
		GAUGE("ksmd_scanner_predicted_mergeable_pages",
		      "Non-zero duplicate pages KSM can merge, as predicted.")),
	[SF_SCANNER_UNMERGED_DUPLICATE_PAGES] = F(SCANNER, "unmerged_duplicate_pages", INT, "pages", J),
	[SF_SCANNER_ZERO_FILLED_PAGES] = M(SCANNER, "zero_filled_pages", INT, "pages", J | V | P,
		GAUGE("ksmd_scanner_zero_filled_pages", "Zero-filled pages found by the scanner.")),
	[SF_SCANNER_DUPLICATE_PAGES] = M(SCANNER, "duplicate_pages", INT, "pages", J | P,
		GAUGE("ksmd_scanner_duplicate_pages", "Pages whose content exists elsewhere too.")),
	[SF_SCANNER_VOLATILE_PAGES] = M(SCANNER, "volatile_pages", INT, "pages", J | V | P,
		GAUGE("ksmd_scanner_volatile_pages", "Pages whose content changed between passes.")),
	[SF_SCANNER_HASH_COLLISIONS] = F(SCANNER, "hash_collisions", INT, "", J),
	[SF_SCANNER_TRACKED_PAGES] = F(SCANNER, "tracked_pages", INT, "pages", J),
	[SF_SCANNER_BYTES_PER_TRACKED_PAGE] = M(SCANNER, "bytes_per_tracked_page", NUM, "bytes", J | P,
		GAUGE("ksmd_scanner_bytes_per_tracked_page", "Scanner memory overhead per tracked page.")),
	[SF_SCANNER_INCREMENTAL] = F(SCANNER, "incremental", BOOL, "", J),
	[SF_SCANNER_PAGES_VM_READV] = F(SCANNER, "pages_vm_readv", INT, "pages", J),
	[SF_SCANNER_VM_READV_CHANGED] = F(SCANNER, "vm_readv_changed", INT, "pages", J),
	[SF_SCANNER_KSM_PAGES_READ] = F(SCANNER, "ksm_pages_read", INT, "pages", J),
	[SF_SCANNER_KSM_PAGES_KNOWN] = F(SCANNER, "ksm_pages_known", INT, "pages", J),
	[SF_SCANNER_BACKOFF_PAGES] = M(SCANNER, "backoff_pages", INT, "pages", J | P, GAUGE("ksmd_scanner_backoff_pages",
		"Pages the last pass left unread by rescan backoff (counted as of their last read).")),
	[SF_SCANNER_QUIET_PASSES] = F(SCANNER, "quiet_passes", INT, "", J),
	[SF_SCANNER_NEXT_PAUSE_SECONDS] = M(SCANNER, "next_pause_seconds", NUM, "seconds", J | P,
		GAUGE("ksmd_scanner_next_pause_seconds",
		      "Pause after the last pass: scanner.pass_interval, longer after quiet passes.")),
	[SF_SCANNER_PAGES_BEYOND_INDEX_LIMIT] = M(SCANNER, "pages_beyond_index_limit", INT, "pages", J | P,
		GAUGE("ksmd_scanner_pages_beyond_index_limit",
		      "Pages the last pass hashed beyond its index limit (8 TiB of guest memory per pass): "
		      "neither unique nor duplicate, not predicted.")),

	[SF_GUESTS] = M(ROOT, "guests", ARR, "", J | V | P, COUNT("ksmd_guests", "Guests known to ksmd.")),
	[SF_GUEST_NAME] = M(GUEST, "name", STR, "", J | V | P, LABEL("guest")),
	[SF_GUEST_PID] = M(GUEST, "pid", INT, "", J | P, GAUGE("ksmd_guest_pid", "Process id of the guest.")),
	[SF_GUEST_BACKEND] = M(GUEST, "backend", STR, "", J | V | P, INFO_WITH("ksmd_guest_info", "backend", SF_GUEST_STATE,
		"Always 1; labels name the guest's backend and state.")),
	[SF_GUEST_STATE] = M(GUEST, "state", STR, "", J | V | P, STATES("ksmd_guest_state", "state", snap_guest_states,
		"1 for the state the guest is in, 0 for the others.")),
	[SF_GUEST_REASON] = F(GUEST, "reason", STR, "", J),
	[SF_GUEST_DISCOVERED] = F(GUEST, "discovered", BOOL, "", J),
	[SF_GUEST_LIBVIRT] = F(GUEST, "libvirt", OBJ, "", J),
	[SF_GUEST_LV_UUID] = F(GUEST_LIBVIRT, "uuid", STR, "", J),
	[SF_GUEST_LV_ID] = F(GUEST_LIBVIRT, "id", INT, "", J),
	[SF_GUEST_LV_BALLOON_DEVICE] = F(GUEST_LIBVIRT, "balloon_device", BOOL, "", J),
	[SF_GUEST_LV_NOSHAREPAGES] = F(GUEST_LIBVIRT, "nosharepages", BOOL, "", J),
	[SF_GUEST_LV_SETTINGS] = F(GUEST_LIBVIRT, "settings", STR, "", J),
	[SF_GUEST_LV_PID_ERROR] = F(GUEST_LIBVIRT, "pid_error", STR, "", J),
	[SF_GUEST_LV_METADATA_ERROR] = F(GUEST_LIBVIRT, "metadata_error", STR, "", J),
	[SF_GUEST_QMP_MODE] = F(GUEST, "qmp_mode", STR, "", J),
	[SF_GUEST_MEM_MAX_BYTES] = M(GUEST, "mem_max_bytes", INT, "bytes", J | V | P,
		GAUGE("ksmd_guest_memory_max_bytes", "Guest memory size (balloon fully deflated).")),
	[SF_GUEST_MEM_MIN_BYTES] = M(GUEST, "mem_min_bytes", INT, "bytes", J | P,
		GAUGE("ksmd_guest_memory_min_bytes", "Least memory ksmd leaves the guest.")),
	/* written before mem_max_bytes; here for the order of /metrics */
	[SF_GUEST_SHARES] = M(GUEST, "shares", INT, "", J | P,
		GAUGE("ksmd_guest_shares", "Relative weight of the guest when memory is divided.")),
	[SF_GUEST_BALLOON_TARGET_BYTES] = M(GUEST, "balloon_target_bytes", INT, "bytes", J | V | P,
		GAUGE("ksmd_guest_balloon_target_bytes", "Memory the guest is asked to keep.")),
	[SF_GUEST_BALLOON_ACTUAL_BYTES] = M(GUEST, "balloon_actual_bytes", INT, "bytes", J | V | P,
		GAUGE("ksmd_guest_balloon_actual_bytes", "Memory the guest actually has.")),
	[SF_GUEST_BALLOON_TARGETS_TOTAL] = M(GUEST, "balloon_targets_total", INT, "", J | P,
		COUNTER("ksmd_guest_balloon_targets_total",
			"Balloon targets ksmd sent the guest (the policy's and operators' overrides).")),
	[SF_GUEST_OVERRIDE_BYTES] = M(GUEST, "override_bytes", INT, "bytes", J | P,
		GAUGE("ksmd_guest_override_bytes", "Operator override of the target (0 = none).")),
	[SF_GUEST_OVERRIDE_BY] = F(GUEST, "override_by", STR, "", J),
	[SF_GUEST_BALLOON_DRIVER] = F(GUEST, "balloon_driver", STR, "", J),
	[SF_GUEST_STATS_AGE_SECONDS] = M(GUEST, "stats_age_seconds", NUM, "seconds", J | V | P,
		GAUGE("ksmd_guest_stats_age_seconds", "Age of the guest's last memory statistics.")),
	[SF_GUEST_AVAILABLE_BYTES] = M(GUEST, "available_bytes", INT, "bytes", J | P,
		GAUGE("ksmd_guest_available_bytes", "Memory available inside the guest.")),
	[SF_GUEST_FREE_BYTES] = M(GUEST, "free_bytes", INT, "bytes", J | P,
		GAUGE("ksmd_guest_free_bytes", "Free memory inside the guest.")),
	[SF_GUEST_MAJOR_FAULTS] = M(GUEST, "major_faults", INT, "", J | P,
		COUNTER("ksmd_guest_major_faults_total", "Major page faults inside the guest.")),
	[SF_GUEST_SWAP_IN] = M(GUEST, "swap_in", INT, "bytes", J | P,
		COUNTER("ksmd_guest_swap_in_bytes_total", "Memory the guest swapped in.")),
	[SF_GUEST_SWAP_OUT] = M(GUEST, "swap_out", INT, "bytes", J | P,
		COUNTER("ksmd_guest_swap_out_bytes_total", "Memory the guest swapped out.")),
	[SF_GUEST_FREE_PAGE_REPORTING] = F(GUEST, "free_page_reporting", BOOL, "", J),
	[SF_GUEST_DEFLATE_ON_OOM] = F(GUEST, "deflate_on_oom", BOOL, "", J),
	[SF_GUEST_STUCK] = F(GUEST, "stuck", BOOL, "", J),
	[SF_GUEST_UNCOOPERATIVE] = F(GUEST, "uncooperative", BOOL, "", J),
	[SF_GUEST_FREE_PAGE_REPORTED_BYTES] = M(GUEST, "free_page_reported_bytes", INT, "bytes", J | P,
		COUNTER("ksmd_guest_free_page_reported_bytes_total",
			"Memory the guest gave back by free page reporting, as the host saw it (a lower bound).")),
	[SF_GUEST_RSS_BYTES] = M(GUEST, "rss_bytes", INT, "bytes", J | V | P,
		GAUGE("ksmd_guest_resident_bytes", "Resident memory of the guest process on the host.")),
	[SF_GUEST_SWAP_BYTES] = M(GUEST, "swap_bytes", INT, "bytes", J | P,
		GAUGE("ksmd_guest_swapped_bytes", "Memory of the guest process the host swapped out.")),
	[SF_GUEST_HOST_ACTIVE_BYTES] = F(GUEST, "host_active_bytes", INT, "bytes", J),
	[SF_GUEST_HOST_ACTIVE_AGE_SECONDS] = F(GUEST, "host_active_age_seconds", NUM, "seconds", J),
	[SF_GUEST_HOST_ACTIVE_PERIOD_SECONDS] = F(GUEST, "host_active_period_seconds", NUM, "seconds", J),
	[SF_GUEST_HOST_WSS_CPU_SECONDS] = F(GUEST, "host_wss_cpu_seconds", NUM, "seconds", J),
	[SF_GUEST_KSM_MERGEABLE] = M(GUEST, "ksm_mergeable", BOOL, "", J | P,
		GAUGE("ksmd_guest_ksm_mergeable", "1 if the guest memory is marked mergeable.")),
	[SF_GUEST_KSM_MERGING_PAGES] = M(GUEST, "ksm_merging_pages", INT, "pages", J | V | P,
		GAUGE("ksmd_guest_ksm_merging_pages", "Pages of the guest currently merged by KSM.")),
	[SF_GUEST_KSM_ZERO_PAGES] = F(GUEST, "ksm_zero_pages", INT, "pages", J),
	[SF_GUEST_KSM_FIX] = F(GUEST, "ksm_fix", STR, "", J),
	[SF_GUEST_UNBACKED_BYTES] = F(GUEST, "unbacked_bytes", INT, "bytes", J),
	[SF_GUEST_SCAN] = F(GUEST, "scan", OBJ, "", J | V),
	[SF_SCAN_PRESENT_PAGES] = M(SCAN, "present_pages", INT, "pages", J | P, SCAN_PAGES("present")),
	[SF_SCAN_ZERO_PAGE_PAGES] = M(SCAN, "zero_page_pages", INT, "pages", J | P, SCAN_PAGES("zero_page")),
	[SF_SCAN_ZERO_FILLED_PAGES] = M(SCAN, "zero_filled_pages", INT, "pages", J | P, SCAN_PAGES("zero_filled")),
	[SF_SCAN_MERGED_PAGES] = M(SCAN, "merged_pages", INT, "pages", J | P, SCAN_PAGES("merged")),
	[SF_SCAN_UNIQUE_PAGES] = M(SCAN, "unique_pages", INT, "pages", J | P, SCAN_PAGES("unique")),
	[SF_SCAN_DUPLICATE_PAGES] = M(SCAN, "duplicate_pages", INT, "pages", J | V | P, SCAN_PAGES("duplicate")),
	[SF_SCAN_DUPLICATE_CROSS_PAGES] = F(SCAN, "duplicate_cross_pages", INT, "pages", J),
	[SF_SCAN_VOLATILE_PAGES] = M(SCAN, "volatile_pages", INT, "pages", J | P, SCAN_PAGES("volatile")),
	[SF_SCAN_MERGEABLE_PAGES] = F(SCAN, "mergeable_pages", INT, "pages", J),
	[SF_SCAN_REGIONS] = F(SCAN, "regions", INT, "", J),
	[SF_SCAN_REGION_PAGES] = F(SCAN, "region_pages", INT, "pages", J),
	[SF_SCAN_SWAPPED_PAGES] = F(SCAN, "swapped_pages", INT, "pages", J),
	[SF_SCAN_UNREAD_PAGES] = F(SCAN, "unread_pages", INT, "pages", J),
	[SF_SCAN_ERROR] = F(SCAN, "error", STR, "", J),
	[SF_SCAN_OLDEST_UNSCANNED_SECONDS] = M(SCAN, "oldest_unscanned_seconds", NUM, "seconds", J | P,
		GAUGE("ksmd_guest_scan_oldest_unscanned_seconds",
		      "Age of the oldest read the last pass relied on for pages it left unread (rescan backoff).")),

	[SF_LIBVIRT] = F(ROOT, "libvirt", OBJ, "", J),
	[SF_LIBVIRT_URI] = F(LIBVIRT, "uri", STR, "", J),
	[SF_LIBVIRT_CONNECTED] = F(LIBVIRT, "connected", BOOL, "", J),
	[SF_LIBVIRT_ERROR] = F(LIBVIRT, "error", STR, "", J),
	[SF_LIBVIRT_DOMAINS] = F(LIBVIRT, "domains", INT, "", J),

	[SF_SHARING] = F(ROOT, "sharing", ARR, "", J),
	[SF_PAIR_A] = M(PAIR, "a", STR, "", J | P, LABEL("a")),
	[SF_PAIR_B] = M(PAIR, "b", STR, "", J | P, LABEL("b")),
	[SF_PAIR_PAGES] = M(PAIR, "pages", INT, "pages", J | P,
		GAUGE("ksmd_sharing_pages", "Duplicate pages the scanner found between guests a and b.")),

	[SF_POLICY] = F(ROOT, "policy", OBJ, "", J | V),
	[SF_POLICY_STATE] = M(POLICY, "state", STR, "", J | V | P,
		RUNNING("ksmd_policy_running", "1 if the policy loop acts, 0 if paused.")),
	[SF_POLICY_DRY_RUN] = M(POLICY, "dry_run", BOOL, "", J | V | P,
		FLAG("ksmd_policy_dry_run", "1 if the policy decides without acting.")),
	[SF_POLICY_TICK] = M(POLICY, "tick", INT, "", J | V | P, COUNTER("ksmd_policy_ticks_total", "Policy loop ticks.")),
	[SF_POLICY_HOST_LEVEL] = F(POLICY, "host_level", STR, "", J),
	[SF_POLICY_MERGE_URGENCY] = F(POLICY, "merge_urgency", STR, "", J),
	[SF_POLICY_GUEST_USED_BYTES] = F(POLICY, "guest_used_bytes", INT, "bytes", J),
	[SF_POLICY_GUEST_SWAP_BYTES] = F(POLICY, "guest_swap_bytes", INT, "bytes", J),
	[SF_POLICY_RECLAIM_WANTED_BYTES] = F(POLICY, "reclaim_wanted_bytes", INT, "bytes", J),
	[SF_POLICY_HOST_REASON] = F(POLICY, "host_reason", STR, "", J),
	[SF_POLICY_MERGE_REASON] = F(POLICY, "merge_reason", STR, "", J),
	[SF_POLICY_DECISIONS_TOTAL] = F(POLICY, "decisions_total", OBJ, "", J),
	[SF_POLICY_DECISIONS_SHRINK] = M(POLICY_DECISIONS, "shrink", INT, "", J | P, DECISIONS("shrink")),
	[SF_POLICY_DECISIONS_GROW] = M(POLICY_DECISIONS, "grow", INT, "", J | P, DECISIONS("grow")),
	[SF_POLICY_DECISIONS_NOTE] = M(POLICY_DECISIONS, "note", INT, "", J | P, DECISIONS("note")),

	[SF_DECISIONS] = M(ROOT, "decisions", ARR, "", J | V | P,
		COUNT("ksmd_policy_recent_decisions", "Decisions listed in the current snapshot.")),
	[SF_DECISION_TIME] = F(DECISION, "time", NUM, "seconds", J | V),
	/* read by `ksmdctl decisions` (its TICK column), never written: "-" */
	[SF_DECISION_TICK] = F(DECISION, "tick", INT, "", V),
	[SF_DECISION_TARGET] = F(DECISION, "target", STR, "", J | V),
	[SF_DECISION_ACTION] = F(DECISION, "action", STR, "", J | V),
	[SF_DECISION_TARGET_BYTES] = F(DECISION, "target_bytes", INT, "bytes", J),
	[SF_DECISION_DELTA_BYTES] = F(DECISION, "delta_bytes", INT, "bytes", J | V),
	[SF_DECISION_DRY_RUN] = F(DECISION, "dry_run", BOOL, "", J),
	[SF_DECISION_REASON] = F(DECISION, "reason", STR, "", J | V),

	/* the requests answered, one element per pair of labels seen */
	[SF_CONTROL_REQUESTS] = F(ROOT, "control_requests", ARR, "", J),
	[SF_CONTROL_REQUEST_VERB] = M(CONTROL_REQUEST, "verb", STR, "", J | P, LABEL("verb")),
	[SF_CONTROL_REQUEST_RESULT] = M(CONTROL_REQUEST, "result", STR, "", J | P, LABEL("result")),
	[SF_CONTROL_REQUEST_COUNT] = M(CONTROL_REQUEST, "count", INT, "", J | P,
		COUNTER("ksmd_control_requests_total",
			"Control socket requests answered, by verb (unknown: no such verb) and result (ok, error).")),
	[SF_HTTP_REQUESTS] = F(ROOT, "http_requests", ARR, "", J),
	[SF_HTTP_REQUEST_PATH] = M(HTTP_REQUEST, "path", STR, "", J | P, LABEL("path")),
	[SF_HTTP_REQUEST_CODE] = M(HTTP_REQUEST, "code", STR, "", J | P, LABEL("code")),
	[SF_HTTP_REQUEST_COUNT] = M(HTTP_REQUEST, "count", INT, "", J | P,
		COUNTER("ksmd_http_requests_total",
			"HTTP requests the stats endpoint answered, by path (other: not one it serves) and status code.")),
	/* the process that serves the endpoint (absent: stats.enabled = no) */
	[SF_HTTP] = F(ROOT, "http", OBJ, "", J | V),
	[SF_HTTP_LISTEN] = F(HTTP, "listen", STR, "", J | V),
	[SF_HTTP_SERVING] = F(HTTP, "serving", BOOL, "", J | V),
	[SF_HTTP_PID] = F(HTTP, "pid", INT, "", J | V),
	[SF_HTTP_USER] = F(HTTP, "user", STR, "", J | V),
	[SF_HTTP_UID] = F(HTTP, "uid", INT, "", J | V),
	[SF_HTTP_DOWN_SECONDS] = F(HTTP, "down_seconds", NUM, "seconds", J | V),
	[SF_HTTP_LOSSES_TOTAL] = M(HTTP, "losses_total", INT, "", J | V | P,
		COUNTER("ksmd_http_process_losses_total",
			"Times the process serving the endpoint died, broke its protocol or hung, and was restarted.")),
};

#undef J
#undef V
#undef P
#undef F
#undef M
#undef GAUGE
#undef COUNTER
#undef SCALED
#undef INFO
#undef INFO_WITH
#undef RUNNING
#undef FLAG
#undef COUNT
#undef STATES
#undef LABEL
#undef SCAN_PAGES
#undef DECISIONS

/* The unit of a row's metric: its unit in base units (a percent scaled by
 * 0.01 is a "ratio", milliseconds by 0.001 "seconds"); "" for a metric
 * that is not the value itself (info, running, flag, count, states). */
static inline const char *snap_metric_unit(enum snap_id id)
{
	const struct snap_field *r = &snap_fields[id];
	if (r->m.kind != SNAP_M_GAUGE && r->m.kind != SNAP_M_COUNTER)
		return "";
	if (!strcmp(r->unit, "percent") && r->m.scale == 0.01)
		return "ratio";
	if (!strcmp(r->unit, "milliseconds") && r->m.scale == 0.001)
		return "seconds";
	return r->unit;
}

/* The name of a JSON type, as docs/STATS.md writes it. */
static inline const char *snap_type_name(enum snap_type t)
{
	static const char *const names[] = {
		[SNAP_T_OBJ] = "object", [SNAP_T_ARR] = "array", [SNAP_T_STR] = "string",
		[SNAP_T_INT] = "int", [SNAP_T_NUM] = "number", [SNAP_T_BOOL] = "bool",
	};
	return names[t];
}

/* The key of a field. */
static inline const char *snap_key(enum snap_id id)
{
	return snap_fields[id].key;
}

/* The member id of o, NULL when o is not an object or has no such member. */
static inline json_t *snap_get(const json_t *o, enum snap_id id)
{
	return json_is_object(o) ? json_object_get(o, snap_key(id)) : NULL;
}

/* Object obj inside base, an object of kind base_obj: base itself, or
 * reached through the rows that hold it. NULL when a step is missing or not
 * an object, or when the way passes through an array (an element object is
 * reached only as a base). */
static inline const json_t *snap_object_in(const json_t *base, enum snap_obj base_obj, enum snap_obj obj)
{
	if (obj == base_obj)
		return json_is_object(base) ? base : NULL;
	const struct snap_object *so = &snap_objects[obj];
	if (so->element || so->in == SF_NONE)
		return NULL;
	const json_t *v = snap_get(snap_object_in(base, base_obj, snap_fields[so->in].obj), so->in);
	return json_is_object(v) ? v : NULL;
}

/* The element object of the array that obj is in (itself or an outer one),
 * or SO_ROOT when obj is in no array. */
static inline enum snap_obj snap_element_of(enum snap_obj obj)
{
	while (obj != SO_ROOT && !snap_objects[obj].element)
		obj = snap_fields[snap_objects[obj].in].obj;
	return obj;
}

#endif
