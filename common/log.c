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

static void log_write(int level, const char *fmt, va_list ap)
{
	static const char *const names[] = {
		"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
	};
	char raw[2048], buf[4096];

	int n = vsnprintf(raw, sizeof raw, fmt, ap);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof raw ? (size_t)n : text_utf8_cut(raw, sizeof raw - 1);
	text_escape(buf, sizeof buf, raw, len, false);
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

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	log_write(level, fmt, ap);
	va_end(ap);
}

static void say_suppressed(struct log_limit *l, const char *source)
{
	if (l->suppressed)
		log_msg(l->worst, "%s: %lu messages suppressed (more than %d in %llu s)", source,
			l->suppressed, LOG_LIMIT_LINES,
			(unsigned long long)(LOG_LIMIT_WINDOW_USEC / USEC_PER_SEC));
	l->suppressed = 0;
	l->worst = LOG_DEBUG;
}

void log_limit_flush(struct log_limit *l, const char *source, usec_t now)
{
	if (now < l->window_start + LOG_LIMIT_WINDOW_USEC && l->lines)
		return;
	say_suppressed(l, source);
	l->window_start = now;
	l->lines = 0;
}

void log_limitedv(struct log_limit *l, const char *source, usec_t now, int level,
		  const char *fmt, va_list ap)
{
	if (level > max_level)
		return;
	if (!l->lines || now >= l->window_start + LOG_LIMIT_WINDOW_USEC) {
		say_suppressed(l, source);
		l->window_start = now;
		l->lines = 0;
	}
	if (l->lines >= LOG_LIMIT_LINES) {
		if (!l->suppressed || level < l->worst)
			l->worst = level;
		l->suppressed++;
		return;
	}
	l->lines++;
	log_write(level, fmt, ap);
}

void log_limited(struct log_limit *l, const char *source, usec_t now, int level,
		 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_limitedv(l, source, now, level, fmt, ap);
	va_end(ap);
}
