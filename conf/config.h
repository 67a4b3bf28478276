/* config.h — conf/: ksmd.conf: one declarative table of every key.
 *
 * Every configuration key is one row of base_keys[] (keys.c): section,
 * name, type, unit, bounds, default, whether it can change while ksmd runs,
 * and a one-line help. The file parser, `ksmdctl get/set`, `ksmd
 * --dump-config` and ksmd.conf(5) all follow from that table.
 *
 * Reload is "defaults, then parse, then validate": config_load() fills a new
 * struct ksmd_config and either returns it whole or returns every error
 * found (FILE:LINE: message); the caller swaps only on success. */
#ifndef KSMD_CONFIG_H
#define KSMD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "common/util.h"
#include "policy/policy.h"

#define CONF_NAME_MAX 64
#define CONF_PATH_MAX 108   /* sun_path */
#define CONF_STR_MAX  256

enum conf_type {
	CONF_BOOL,      /* bool */
	CONF_UINT,      /* uint64_t, plain number */
	CONF_SIZE,      /* uint64_t bytes, accepts 512M, 2G */
	CONF_DURATION,  /* usec_t, accepts 500ms, 10s */
	CONF_PERCENT,   /* double, 0..max, accepts "75" or "75%" */
	CONF_DOUBLE,    /* double, plain number (a rate) */
	CONF_STRING,    /* char[CONF_STR_MAX] */
	CONF_ENUM,      /* char[CONF_NAME_MAX], one of enum_values */
	CONF_BUDGET,    /* uint64_t bytes then char[POLICY_CGROUP_LEN]: "SIZE" or "cgroup:PATH" */
};

struct guest_conf {
	char name[CONF_NAME_MAX];
	char qmp[CONF_PATH_MAX];      /* QMP UNIX socket of a QEMU guest */
	char qmp_mode[CONF_NAME_MAX]; /* own|shared: a monitor of ksmd's own, held;
	                               * or one others use too, a connection per
	                               * operation (balloon_config.qmp_shared) */
	char cgroup[CONF_STR_MAX];    /* memory cgroup path of a container */
	uint64_t pid;                 /* plain process (0 = none) */
	uint64_t min_bytes;           /* floor; 0 = balloon.default_min_percent of max */
	uint64_t max_bytes;           /* maximum; 0 = the guest's own size */
	uint64_t shares;              /* relative weight, ESX-style */
	char balloon[CONF_NAME_MAX];  /* yes|force|no: who drives its balloon
	                               * beside another balloon manager */
	unsigned line;                /* line of the [guest] header, for messages */
	char file[CONF_STR_MAX];      /* file of the [guest] header, for messages */
	bool libvirt;                 /* a libvirt domain (not a section of the
	                               * file: built by the daemon) */
};

struct ksmd_config {
	/* [daemon] */
	char control_socket[CONF_PATH_MAX];
	char log_level[CONF_NAME_MAX];
	usec_t tick_usec;
	bool restore_ksm;             /* restore KSM sysfs at exit */
	/* [scanner] */
	bool scanner_enabled;
	uint64_t scanner_threads;
	uint64_t scanner_pages_per_sec;
	double scanner_cpu_percent;
	usec_t scanner_pass_interval_usec;
	usec_t scanner_backoff_max_usec;
	usec_t scanner_pass_interval_max_usec;
	bool scanner_vm_readv;
	/* [ksm] */
	char ksm_manage[CONF_NAME_MAX]; /* yes|force|no: config_ksm_manage() */
	uint64_t ksm_min_savings_bytes;
	double ksm_cpu_percent;
	/* [balloon] */
	bool balloon_enabled;
	char balloon_on_exit[CONF_NAME_MAX];
	uint64_t balloon_max_step_bytes;
	double balloon_default_min_percent;
	usec_t balloon_stats_interval_usec;
	usec_t balloon_stuck_timeout_usec;
	usec_t balloon_uncooperative_timeout_usec;
	bool balloon_discover;
	/* [libvirt]: on when the section is present (enabled = no turns it off) */
	bool libvirt_enabled;
	char libvirt_uri[CONF_STR_MAX];
	char libvirt_domains[CONF_STR_MAX];
	char libvirt_exclude[CONF_STR_MAX];
	char libvirt_pid_dir[CONF_STR_MAX];
	usec_t libvirt_reconnect_usec;
	/* [policy] */
	bool policy_enabled;
	struct policy_conf policy;      /* every other [policy] key: policy/policy.h */
	/* [stats] */
	bool stats_enabled;
	char stats_listen[CONF_STR_MAX];
	char stats_user[CONF_STR_MAX];  /* "": ksmd, else nobody (config_stats_user) */

	struct guest_conf *guests;
	size_t n_guests;
	char path[CONF_STR_MAX];        /* file it was read from */
};

struct conf_key {
	const char *section;           /* "scanner", or "guest" for [guest NAME] keys */
	const char *name;
	enum conf_type type;
	size_t offset;                 /* into struct ksmd_config, or guest_conf */
	double min, max;               /* bounds, in the key's base unit */
	const char *def;               /* default, as it would be written in the file */
	bool live;                     /* changeable with `ksmdctl set` */
	const char *unit;
	const char *help;
	const char *const *enum_values;
};

/* The whole table: the daemon's own keys, then the policy module's knobs
 * (policy_knobs[]) under [policy]. Built once, never freed. */
const struct conf_key *config_keys(size_t *n);

/* Error list: each entry "FILE:LINE: message" (or "FILE: message"). */
struct conf_errors {
	char **msg;
	size_t n;
	size_t total;   /* errors found, stored in msg or not (no memory for
	                 * the message): what decides that a file is refused */
};
void conf_errors_free(struct conf_errors *e);

/* Fill cfg with every default. Never fails. */
void config_defaults(struct ksmd_config *cfg);
/* Parse FILE into a fresh cfg (defaults first). Returns 0, or -EINVAL with
 * every error in errs (and cfg freed), or -errno if the file can't be read
 * (also reported in errs). */
int config_load(const char *path, struct ksmd_config *cfg, struct conf_errors *errs);
/* Load several files, each on top of the ones before (an overlay): later
 * files override keys of earlier ones; a guest may be defined in one file
 * only. Same contract as config_load. */
int config_load_files(const char *const *paths, size_t n, struct ksmd_config *cfg,
		      struct conf_errors *errs);
/* Parse a buffer; name is used in messages. Same contract as config_load. */
int config_parse(const char *name, const char *text, struct ksmd_config *cfg,
		 struct conf_errors *errs);
/* The same from len raw bytes (a file's): a NUL byte among them is an
 * error (-EINVAL, its line in errs), not the end of the text. */
int config_parse_buf(const char *name, const char *buf, size_t len, struct ksmd_config *cfg,
		     struct conf_errors *errs);
void config_free(struct ksmd_config *cfg);
/* Deep copy (guests array duplicated). */
int config_copy(struct ksmd_config *dst, const struct ksmd_config *src);

/* Look a key up by "section.name" (guest keys excluded). */
const struct conf_key *config_find(const char *dotted);
/* The key ("section.name", guest keys excluded) nearest to a mistyped
 * dotted name, written to buf; NULL when none is near (text_nearest). */
const char *config_nearest(const char *dotted, char *buf, size_t len);
/* The message for an unknown key: "unknown key 'x'", and "; did you mean
 * 'y'?" when a key is near. */
void config_unknown_key(const char *dotted, char *err, size_t errlen);
/* Format a key's current value into buf, in the file's syntax. */
const char *config_format(const struct ksmd_config *cfg, const struct conf_key *k,
			  char *buf, size_t len);
/* Copy one key's value from src to dst (no text involved); compare it. */
void config_copy_key(struct ksmd_config *dst, const struct ksmd_config *src, const struct conf_key *k);
bool config_key_equal(const struct ksmd_config *a, const struct ksmd_config *b, const struct conf_key *k);
/* Set "section.name" = value on a live config. Refuses non-live keys and
 * bad values with a message in err. Returns 0 or -EINVAL/-ENOENT/-EPERM. */
int config_set(struct ksmd_config *cfg, const char *dotted, const char *value,
	       char *err, size_t errlen);
/* Parse and validate one value for k into the location p. */
int config_parse_value(const struct conf_key *k, const char *value, void *p,
		       char *err, size_t errlen);
/* Write every key with its value (the effective configuration) to f. */
void config_dump(const struct ksmd_config *cfg, FILE *f);
/* Every key `ksmdctl get` knows, one a line: "section.name live" or
 * "section.name fixed" (ksmd --list-keys: ksmdctl's key list is built
 * from it, cli/keys.h). */
void config_list(FILE *f);
/* The key reference of ksmd.conf(5), in mdoc, from the table. */
void config_man(FILE *f);

const struct guest_conf *config_guest(const struct ksmd_config *cfg, const char *name);

/* ksm.manage: drive KSM unless another program does (yes), drive it all the
 * same (force), or never touch it (no). */
enum ksm_manage_mode {
	KSM_MANAGE_NO = 0,
	KSM_MANAGE_YES,
	KSM_MANAGE_FORCE,
};
enum ksm_manage_mode config_ksm_manage(const struct ksmd_config *cfg);

/* stats.user: the uid and gid the HTTP endpoint's process becomes, and the
 * user's name in shown. name "" is the default: the `ksmd` system user,
 * else `nobody`, else uid and gid 65534. A named user must exist and must
 * not have uid or gid 0. 0, or -ENOENT / -EPERM with err "stats.user: why". */
int config_stats_user(const char *name, uid_t *uid, gid_t *gid, char *shown, size_t shown_len,
		      char *err, size_t errlen);

#endif
