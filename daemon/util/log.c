/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * log.c - see log.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/escape.h"
#include "util/log.h"

static int max_level = LOG_INFO;
static int journal_stream = -1;         /* -1: not checked yet */

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

int log_level_from_string(const char *s) {
        static const struct {
                const char *name;
                int level;
        } levels[] = {
                { "debug", LOG_DEBUG }, { "info", LOG_INFO }, { "notice", LOG_NOTICE },
                { "warning", LOG_WARNING }, { "err", LOG_ERR }, { "error", LOG_ERR },
        };

        for (size_t i = 0; i < ELEMENTSOF(levels); i++)
                if (strcmp(levels[i].name, s) == 0)
                        return levels[i].level;
        return -EINVAL;
}

/* journald sets JOURNAL_STREAM=dev:ino of the stream it gave us as stderr. */
static bool stderr_is_journal(void) {
        if (journal_stream < 0) {
                const char *e = getenv("JOURNAL_STREAM");
                unsigned long long dev, ino;
                struct stat st;

                journal_stream = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 &&
                                 fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
        }
        return journal_stream > 0;
}

int log_internal(int level, int err, const char *file, int line, const char *func, const char *fmt, ...) {
        int saved = errno;
        char msg[LOG_LINE_MAX], line_out[LOG_LINE_MAX * 4 + 1];
        va_list ap;
        int n;

        if (err < 0)
                err = -err;
        if (level <= max_level) {
                errno = err;
                va_start(ap, fmt);
                n = vsnprintf(msg, sizeof(msg), fmt, ap);
                va_end(ap);
                (void) escape_control(msg, line_out, sizeof(line_out));
                if (stderr_is_journal())
                        fprintf(stderr, "<%d>", level);
                else
                        fputs("iommu-brokerd: ", stderr);
                if (max_level >= LOG_DEBUG)
                        fprintf(stderr, "(%s:%d) ", func, line);
                /* one record per line, whatever a client put into the strings it carries (see escape.h) */
                fputs(line_out, stderr);
                if (n >= (int) sizeof(msg))
                        fputs("...", stderr);
                fputc('\n', stderr);
        }
        errno = saved;
        return err > 0 ? -err : -EIO;
}
