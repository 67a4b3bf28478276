/* libvirt.h — guests that libvirt owns: one connection, a balloon per domain.
 *
 * On a libvirt host QEMU's monitor belongs to libvirt, so ksmd talks to
 * libvirt instead, through its C API:
 *
 *   struct lv_conn   one connection (uri). It finds the running domains at
 *                    connect, follows them through lifecycle events, and
 *                    reports each one the daemon should manage (the
 *                    include/exclude name patterns) with LV_DOMAIN_UP and
 *                    LV_DOMAIN_DOWN. When libvirtd goes away it says so
 *                    (LV_DISCONNECTED, logged once), keeps every balloon as
 *                    it was, and reconnects with backoff; on reconnect a
 *                    domain that is gone is reported down, a new one up.
 *   balloon_new_libvirt()  the balloon of one domain (balloon/balloon.h):
 *                    stats from virDomainMemoryStats (period set with
 *                    virDomainSetMemoryStatsPeriod), size changes from
 *                    VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE, targets through
 *                    virDomainSetMemoryFlags(VIR_DOMAIN_AFFECT_LIVE), the
 *                    maximum from virDomainGetMaxMemory (never exceeded).
 *
 * libvirt's event loop must be the daemon's (daemon/virtloop.h) before
 * lv_conn_tick() first connects. libvirt calls are synchronous RPCs to the
 * local libvirtd; they run on the daemon's thread.
 *
 * A size change that ksmd did not ask for (`virsh setmem`, or a guest that
 * deflated on OOM) is detected from the balloon's movement: the actual size
 * goes beyond where ksmd's requests can take it, or moves away from ksmd's
 * last target more than a second after ksmd's last request (or moves at
 * all while ksmd set none), by more than 2 MiB. The size is also read
 * before each policy target (balloon_set_target). The balloon then reports
 * BALLOON_EV_EXTERNAL with info.external_bytes. */
#ifndef KSMD_BALLOON_LIBVIRT_H
#define KSMD_BALLOON_LIBVIRT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "balloon/balloon.h"

#define LV_NAME_MAX 64

struct lv_conf {
	const char *uri;            /* e.g. "qemu:///system" */
	const char *domains;        /* name patterns (fnmatch), space/comma separated; "" = all */
	const char *exclude;        /* name patterns never managed */
	const char *pid_dir;        /* where libvirt writes NAME.pid ["/run/libvirt/qemu"] */
	usec_t reconnect_max_usec;  /* backoff ceiling [5 s]; starts at 500 ms */
};

/* What ksmd learns of a running domain. */
struct lv_domain {
	char name[LV_NAME_MAX];
	char uuid[40];
	int id;
	pid_t pid;                  /* QEMU's pid from the pid file, 0 unknown */
	char pid_error[400];        /* why pid is 0 */
	uint64_t max_bytes;         /* virDomainGetMaxMemory */
	bool has_balloon;           /* not <memballoon model='none'/> */
	bool nosharepages;          /* <memoryBacking><nosharepages/> */
	bool free_page_reporting;   /* <memballoon ... freePageReporting='on'> */
	bool deflate_on_oom;        /* <memballoon ... autodeflate='on'> */
	unsigned stats_period;      /* <stats period='N'/>, 0 none */
	/* per-guest settings from the domain's <metadata> (0 = not set):
	 * <ksmd:guest xmlns:ksmd="LV_METADATA_URI" min="512M" max="2G" shares="2000"/> */
	uint64_t meta_min_bytes, meta_max_bytes, meta_shares;
	char meta_error[160];       /* a malformed metadata element, "" ok */
};

#define LV_METADATA_URI "urn:ksmd:guest:1"

enum lv_event {
	LV_CONNECTED,     /* d = NULL */
	LV_DISCONNECTED,  /* d = NULL, why = libvirt's message */
	LV_DOMAIN_UP,     /* a managed domain runs (found at connect, started,
	                   * migrated in); may repeat for a known one */
	LV_DOMAIN_DOWN,   /* stopped, crashed and destroyed, migrated away, or
	                   * gone while ksmd was disconnected; why says which */
};

struct lv_conn;
typedef void (*lv_event_fn)(struct lv_conn *c, enum lv_event ev, const struct lv_domain *d,
			    const char *why, void *userdata);

/* Nothing is done until the first lv_conn_tick(). */
struct lv_conn *lv_conn_new(const struct lv_conf *conf, lv_event_fn cb, void *userdata);
/* Connect, reconnect after a loss (backoff 500 ms doubling to
 * reconnect_max_usec), apply a loss reported by libvirt's close callback. */
void lv_conn_tick(struct lv_conn *c, usec_t now);
bool lv_conn_is_up(const struct lv_conn *c);
/* The last connection error, "" when none. */
const char *lv_conn_error(const struct lv_conn *c);
/* Frees the connection; balloons still attached are detached first. */
void lv_conn_free(struct lv_conn *c);

/* Call fn for each pattern of a space/comma separated list; stops at and
 * returns the first non-zero return. */
int lv_each_pattern(const char *list, int (*fn)(const char *p, void *ud), void *ud);
/* Does `name` match the include patterns and none of the exclude ones? */
bool lv_name_selected(const char *name, const char *include, const char *exclude);
/* Check a pattern list; 0 or -EINVAL with the offending pattern in err. */
int lv_patterns_validate(const char *patterns, char *err, size_t len);
/* Parse the domain XML for the flags of struct lv_domain (pure: tests). */
void lv_parse_domain_xml(const char *xml, struct lv_domain *d);
/* Parse a <ksmd:guest .../> metadata element into d->meta_* (pure). */
int lv_parse_metadata(const char *xml, struct lv_domain *d);

/* The balloon of the running domain `name` on connection c. */
struct balloon *balloon_new_libvirt(const char *name, struct lv_conn *c,
				    const struct balloon_config *cfg, balloon_event_fn cb,
				    void *userdata);

#endif
