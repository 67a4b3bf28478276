/* libvirt_internal.h — what libvirt.c and libvirt_conn.c share; not for other modules. */
#ifndef KSMD_BALLOON_LIBVIRT_INTERNAL_H
#define KSMD_BALLOON_LIBVIRT_INTERNAL_H

#include <libvirt/libvirt.h>

#include "balloon/internal.h"
#include "balloon/libvirt.h"

struct lv_conn {
	char *uri, *domains, *exclude, *pid_dir;
	usec_t reconnect_max_usec;
	lv_event_fn cb;
	void *ud;
	virConnectPtr conn;
	bool closed;                 /* the close callback fired */
	char close_why[96];
	int cb_lifecycle, cb_balloon;
	bool need_resync;            /* a listing failed: list again */
	usec_t next_resync_usec;
	usec_t next_try_usec, backoff_usec;
	bool ever_up, down_logged;
	char error[256];
	struct balloon *balloons;    /* every libvirt balloon on this connection */
	char (*known)[LV_NAME_MAX];  /* domains reported up, not yet down */
	size_t n_known;
};

/* the connection (libvirt_conn.c) */
/* libvirt's last error message, never NULL. */
const char *lv_err(void);
/* A connection libvirt no longer answers on is marked closed (the next
 * lv_conn_tick drops it). */
void lv_check_alive(struct lv_conn *c);

/* the balloon backend (libvirt.c) */
/* Returns 0, or -EIO when the domain's XML or maximum cannot be read (a
 * transient failure: not a domain without a balloon). */
int lv_read_domain(const struct lv_conn *c, virDomainPtr dom, struct lv_domain *d);
void lv_detach_dom(struct balloon *b);
/* A new actual size from libvirt (ksmd's own request or an outside change). */
void lv_actual(struct balloon *b, uint64_t a, usec_t now);
/* Attach b to its running domain by name; CONNECTING while it is not. */
void lv_attach(struct balloon *b, usec_t now);

#endif
