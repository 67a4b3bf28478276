/* log.h — the one logging call of ksmd.
 *
 * Messages go to stderr in the foreground (-f) and to syslog otherwise.
 * Convention (see docs/ARCHITECTURE.md): functions return negative errno;
 * a failure is logged once, where a logging caller meets a non-logging
 * callee. Non-fatal failures end in ", ignoring". */
#ifndef KSMD_LOG_H
#define KSMD_LOG_H

#include <stdarg.h>
#include <syslog.h>

enum log_target { LOG_TO_STDERR, LOG_TO_SYSLOG };

void log_open(enum log_target target, int max_level);
void log_set_level(int max_level);
int log_get_level(void);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
