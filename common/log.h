/* log.h — the one logging call of ksmd.
 *
 * Messages go to stderr in the foreground (-f) and to syslog otherwise.
 * Convention (see docs/ARCHITECTURE.md): functions return negative errno;
 * a failure is logged once, where a logging caller meets a non-logging
 * callee. Non-fatal failures end in ", ignoring".
 *
 * A message is one line whatever it quotes: every byte that is not part of
 * a printable UTF-8 character (control characters, newline, invalid UTF-8)
 * is written as \xNN, so text from outside (a QMP peer, a command line)
 * cannot forge a line. What an outside source can make ksmd say as often
 * as it likes goes through log_limited(), which bounds each source. */
#ifndef KSMD_LOG_H
#define KSMD_LOG_H

#include <stdarg.h>
#include <syslog.h>

#include "common/util.h"

enum log_target { LOG_TO_STDERR, LOG_TO_SYSLOG };

void log_open(enum log_target target, int max_level);
void log_set_level(int max_level);
int log_get_level(void);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* The rate limit of one source (a QMP connection, ...), kept by its owner
 * (zeroed to start): at most LOG_LIMIT_LINES lines per LOG_LIMIT_WINDOW,
 * whatever log_level is. What a window drops is counted and said in one
 * line, "SOURCE: N messages suppressed", at the first line of a later
 * window or at log_limit_flush(), at the level of the most severe one. A
 * message above log_level neither counts nor is suppressed. */
#define LOG_LIMIT_LINES 10
#define LOG_LIMIT_WINDOW_USEC (10 * USEC_PER_SEC)

struct log_limit {
	usec_t window_start;         /* when the current window began */
	unsigned lines;              /* lines logged in it */
	unsigned long suppressed;    /* lines dropped in it */
	int worst;                   /* the most severe level dropped */
};

/* Log (level, fmt) for source at time now (CLOCK_MONOTONIC, usec), within
 * l's limit. source names it in the "suppressed" line. */
void log_limited(struct log_limit *l, const char *source, usec_t now, int level,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void log_limitedv(struct log_limit *l, const char *source, usec_t now, int level,
		  const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
/* Say what the window dropped once it is over (from a timer, so a source
 * that stops talking still has its count told). */
void log_limit_flush(struct log_limit *l, const char *source, usec_t now);

#endif
