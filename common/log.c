/* log.c — stderr or syslog, one line per message, thread-safe. */
#include "common/log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_target target = LOG_TO_STDERR;
static int max_level = LOG_INFO;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void log_open(enum log_target t, int level)
{
	target = t;
	max_level = level;
	if (t == LOG_TO_SYSLOG)
		openlog("ksmd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(int level) { max_level = level; }
int log_get_level(void) { return max_level; }

void log_msg(int level, const char *fmt, ...)
{
	static const char *const names[] = {
		"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
	};
	char buf[2048];
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (target == LOG_TO_SYSLOG) {
		syslog(level, "%s", buf);
		return;
	}
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	pthread_mutex_lock(&lock);
	fprintf(stderr, "%02d:%02d:%02d.%03ld ksmd[%s]: %s\n", tm.tm_hour, tm.tm_min,
		tm.tm_sec, ts.tv_nsec / 1000000, names[level & 7], buf);
	pthread_mutex_unlock(&lock);
}
