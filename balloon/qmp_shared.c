/* qmp_shared.c — the QMP backend's shared mode: a connection per operation.
 *
 * Shared mode (cfg.qmp_shared: a monitor other clients use too, such as
 * Proxmox's VMID.qmp) holds no connection: the qmp_client is on_demand and
 * every operation is a connection of its own - the refresh every stats
 * interval, a set_target, the setup (qmp_backend.c) the first time - closed
 * as soon as its replies are in, or failed at request_timeout. The setup's
 * facts (QOM path, max, caps) are kept until a connection finds another
 * QEMU pid. A monitor that does not greet in time or whose backlog is full
 * is BUSY, as is a refusal while the known QEMU lives (else GONE); the last
 * values stay and the next refresh tries again. A connection is never
 * closed and another opened within one call: the loop must see fd -1 in
 * between, so an operation asked for right after a close starts at the next
 * balloon_tick. */
#include "balloon/internal.h"
#include "common/log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static bool pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* An operation's bound, connect to close: the request timeout. */
static usec_t sh_timeout(const struct balloon *b)
{
	return b->cfg.request_timeout_usec ? b->cfg.request_timeout_usec : 5 * USEC_PER_SEC;
}

/* Calls that drive the client nest (callbacks may call set_target): only
 * the outermost one clears sh_closed_now and closes a finished operation. */
void balloon_sh_enter(struct balloon *b)
{
	if (!b->sh_depth++)
		b->sh_closed_now = false;
}

static void sh_close(struct balloon *b, int err, usec_t now)
{
	b->sh_open = false;
	b->sh_closed_now = true;
	b->sh_closing = true;
	qmp_close(b->qmp, err, now); /* commands still pending fail with err */
	b->sh_closing = false;
	b->refresh_inflight = 0;
}

/* The operation failed (its socket is closed or closed here): keep the last
 * known values unless QEMU is gone; the next refresh tries again. */
static void sh_failed(struct balloon *b, usec_t now, bool busy, const char *why)
{
	if (!b->sh_open)
		return;
	char r[sizeof b->reason];
	snprintf(r, sizeof r, "%s", why); /* why may be the client's last error */
	sh_close(b, -ETIMEDOUT, now);
	bool target = b->sh_want_target;
	b->sh_want_refresh = b->sh_want_target = false;
	b->next_refresh_usec = now + b->cfg.stats_interval_usec; /* the next try */
	if (busy || pid_alive(b->pid)) {
		balloon_set_state(b, BALLOON_BUSY, "%s", r);
	} else {
		balloon_qmp_forget(b);
		b->sh_learned = false;
		balloon_set_state(b, BALLOON_GONE, "%s", r);
	}
	if (target) {
		b->target_bytes = 0; /* not applied: the next request is sent again */
		balloon_notify(b, BALLOON_EV_TARGET);
	}
}

/* Open a connection for the work asked for (sh_want_*), unless one is open
 * or one was closed earlier in this same call: then balloon_tick opens it. */
static void sh_open_op(struct balloon *b, usec_t now)
{
	if (b->sh_open || (b->sh_depth && b->sh_closed_now))
		return;
	balloon_sh_enter(b);
	b->sh_open = true;
	b->sh_setup_op = false;
	b->sh_deadline_usec = now + sh_timeout(b);
	qmp_start(b->qmp, now);
	if (qmp_fd(b->qmp) < 0) /* refused, or the backlog full, at once */
		sh_failed(b, now, qmp_get_state(b->qmp) == QMP_BUSY, qmp_last_error(b->qmp));
	b->sh_depth--;
}

/* An operation past its bound fails: the monitor is held or QEMU hangs. */
static void sh_check_deadline(struct balloon *b, usec_t now)
{
	if (!b->sh_open || now < b->sh_deadline_usec)
		return;
	char why[96];
	snprintf(why, sizeof why, "monitor busy: the operation did not finish within %llu ms",
		 (unsigned long long)(sh_timeout(b) / USEC_PER_MSEC));
	sh_failed(b, now, true, why);
}

/* Leave a call that drove the client: the outermost one closes a finished
 * operation, and fails one past its deadline. */
void balloon_sh_leave(struct balloon *b, usec_t now)
{
	if (b->sh_depth == 1 && b->sh_open) {
		sh_check_deadline(b, now);
		if (b->sh_open && qmp_get_state(b->qmp) == QMP_READY && !qmp_pending(b->qmp) &&
		    !b->sh_want_refresh && !b->sh_want_target) {
			if (b->sh_setup_op)
				b->sh_learned = true;
			b->sh_setup_op = false;
			if (b->state == BALLOON_BUSY) /* callbacks may ask for more */
				balloon_set_state(b, BALLOON_READY, NULL);
			if (!qmp_pending(b->qmp) && !b->sh_want_refresh && !b->sh_want_target)
				sh_close(b, -ECONNRESET, now);
		}
	}
	b->sh_depth--;
}

void balloon_sh_request_refresh(struct balloon *b, usec_t now)
{
	if (b->state == BALLOON_NO_DEVICE) {
		/* nothing to read; notice only a QEMU that went away */
		if (!pid_alive(b->pid)) {
			balloon_qmp_forget(b);
			b->sh_learned = false;
			balloon_set_state(b, BALLOON_GONE, "QEMU (pid %d) exited", (int)b->pid);
		}
		return;
	}
	b->sh_want_refresh = true;
	sh_open_op(b, now);
}

/* set_target without a READY connection: queue it and open one. */
int balloon_sh_queue_target(struct balloon *b, uint64_t t, usec_t now)
{
	b->sh_target_bytes = t;
	b->sh_want_target = true;
	b->target_bytes = t;
	balloon_track_progress(b, now);
	sh_open_op(b, now); /* a failure right away is reported by BALLOON_EV_TARGET */
	return 0;
}

static void sh_ready(struct balloon *b, struct qmp_client *c, usec_t now)
{
	pid_t pid = qmp_peer_pid(c);
	if (b->sh_learned && pid == b->pid) {
		if (b->sh_want_refresh) {
			b->sh_want_refresh = false;
			balloon_qmp_refresh(b, now);
		}
		if (b->sh_want_target) {
			b->sh_want_target = false;
			if (balloon_qmp_set(b, b->sh_target_bytes, now) < 0) {
				b->target_bytes = 0;
				balloon_notify(b, BALLOON_EV_TARGET);
			}
		}
		return;
	}
	if (b->sh_learned) {
		log_info("balloon %s: another QEMU (pid %d, was %d) behind the monitor: learning it",
			 b->name, (int)pid, (int)b->pid);
		balloon_qmp_forget(b);
	}
	b->sh_learned = false;
	b->sh_setup_op = true;
	b->sh_want_refresh = false; /* the setup reads actual and stats */
	if (b->sh_want_target) {    /* asked of the QEMU that was there */
		b->sh_want_target = false;
		b->target_bytes = 0;
		balloon_notify(b, BALLOON_EV_TARGET);
	}
	balloon_qmp_setup(b, c, now);
}

void balloon_sh_on_state(struct balloon *b, struct qmp_client *c, enum qmp_state s, usec_t now)
{
	switch (s) {
	case QMP_READY:
		sh_ready(b, c, now);
		break;
	case QMP_BUSY:
		sh_failed(b, now, true, qmp_last_error(c));
		break;
	case QMP_DISCONNECTED:
	case QMP_CLOSED:
		if (!b->sh_closing)
			sh_failed(b, now, false, qmp_last_error(c));
		break;
	case QMP_CONNECTING:
	case QMP_GREETING:
	case QMP_NEGOTIATING:
		break;
	}
}

void balloon_sh_tick(struct balloon *b, usec_t now)
{
	balloon_sh_enter(b);
	qmp_tick(b->qmp, now);
	sh_check_deadline(b, now);
	if (now >= b->next_refresh_usec) {
		b->next_refresh_usec = now + b->cfg.stats_interval_usec;
		balloon_qmp_refresh(b, now);
	}
	if (!b->sh_open && (b->sh_want_refresh || b->sh_want_target))
		sh_open_op(b, now); /* asked for right after a close */
	balloon_sh_leave(b, now);
	balloon_track_progress(b, now);
}

