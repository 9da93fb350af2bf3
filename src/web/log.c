/*-------------------------------------------------------------------------
 *
 * log.c
 *		Log lines on stderr (journald under systemd), one write(2) each:
 *		"2026-12-02 12:44:30.749 UTC [1234] LOG:  message".
 *
 * Messages never carry secrets; whatever came from a request is escaped by
 * the caller (gbnw_escape_for_log).  gbnw_log_limited() is for what a
 * client can trigger at will (bad signatures, oversized bodies, ...): at
 * most 50 such lines a second, then one line saying how many were left out.
 *
 * src/web/log.c
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gbnw.h"

bool		gbnw_log_debug = false;

#define LIMIT_PER_SECOND 50

static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;
static time_t limit_second = 0;
static int	limit_count = 0;
static long limit_suppressed = 0;

static const char *
level_name(GbnwLogLevel level)
{
	switch (level)
	{
		case GBNW_DEBUG:
			return "DEBUG";
		case GBNW_LOG:
			return "LOG";
		case GBNW_WARNING:
			return "WARNING";
		case GBNW_ERROR:
			return "ERROR";
		case GBNW_FATAL:
			return "FATAL";
	}
	return "LOG";
}

static void
vlog(GbnwLogLevel level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void
vlog(GbnwLogLevel level, const char *fmt, va_list ap)
{
	char		line[2048];
	struct timespec ts;
	struct tm	tm;
	size_t		n;
	int			m;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
	m = snprintf(line + n, sizeof(line) - n, ".%03ld UTC [%ld] %s:  ",
				 ts.tv_nsec / 1000000, (long) getpid(), level_name(level));
	if (m > 0)
		n += (size_t) m;
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += (size_t) m;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
	{
		/* nowhere else to report it */
	}
}

void
gbnw_log(GbnwLogLevel level, const char *fmt,...)
{
	va_list		ap;

	if (level == GBNW_DEBUG && !gbnw_log_debug)
		return;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

void
gbnw_log_limited(GbnwLogLevel level, const char *fmt,...)
{
	va_list		ap;
	time_t		now = time(NULL);
	long		suppressed = 0;
	bool		emit;

	pthread_mutex_lock(&limit_lock);
	if (now != limit_second)
	{
		suppressed = limit_suppressed;
		limit_suppressed = 0;
		limit_second = now;
		limit_count = 0;
	}
	emit = limit_count < LIMIT_PER_SECOND;
	if (emit)
		limit_count++;
	else
		limit_suppressed++;
	pthread_mutex_unlock(&limit_lock);

	if (suppressed > 0)
		gbnw_log(GBNW_LOG, "%ld similar messages were not logged (at most %d a second)",
				 suppressed, LIMIT_PER_SECOND);
	if (!emit)
		return;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}
