/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * log.h - the daemon's log.
 *
 * Owns: the log level, the target (stderr; with a "<N>" priority prefix that
 * journald reads when stderr is a journal stream), and log_*_errno() helpers
 * that return -abs(err) so that "return log_error_errno(r, ...)" reads well.
 * %m in a format is the message of the errno passed.
 * Rooms below core/ (object/, backend/, wire/) log at debug level only.
 */
#pragma once

#include <syslog.h>

#include "common/macro.h"

/* A message longer than this is cut ("..."); control characters in it are written as \xNN. */
#define LOG_LINE_MAX 2048

void log_set_max_level(int level);
int log_get_max_level(void);
/* "debug", "info", "notice", "warning", "err": -EINVAL otherwise. */
int log_level_from_string(const char *s);

int log_internal(int level, int err, const char *file, int line, const char *func,
                 const char *fmt, ...) _printf_(6, 7);

#define log_full_errno(level, err, ...) \
        log_internal((level), (err), __FILE__, __LINE__, __func__, __VA_ARGS__)

#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)

#define log_debug_errno(err, ...) log_full_errno(LOG_DEBUG, (err), __VA_ARGS__)
#define log_warning_errno(err, ...) log_full_errno(LOG_WARNING, (err), __VA_ARGS__)
#define log_error_errno(err, ...) log_full_errno(LOG_ERR, (err), __VA_ARGS__)
