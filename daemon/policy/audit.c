/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * audit.c - audit records to the journal and an optional JSON-lines file; see audit.h.
 *
 * Owns: the audit file descriptor and the formatting of both record forms.
 * Must never: block on anything but the write of one line, or return an
 * error to the decision it records.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "common/json-escape.h"
#include "common/macro.h"
#include "policy/audit.h"
#include "util/escape.h"
#include "util/log.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static int audit_fd = -1;
static bool audit_journal = true;
static bool audit_write_failed;         /* reported once until a write works again */

int audit_open(const char *file_or_null) {
        int fd = -1;

        if (file_or_null) {
                fd = open(file_or_null, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
                if (fd < 0)
                        return negative_errno();
        }
        safe_close(audit_fd);
        audit_fd = fd;
        audit_write_failed = false;
        return 0;
}

void audit_close(void) {
        audit_fd = safe_close(audit_fd);
}

void audit_set_journal(bool enabled) {
        audit_journal = enabled;
}

static bool record_is(const AuditRecord *r, const char *result) {
        return r->result && strcmp(r->result, result) == 0;
}

/* A decision (granted, denied) or a release of what a session held. */
static const char *message_id(const AuditRecord *r) {
        if (record_is(r, AUDIT_GRANTED))
                return AUDIT_MESSAGE_ID_GRANTED;
        if (record_is(r, AUDIT_DENIED))
                return AUDIT_MESSAGE_ID_DENIED;
        return AUDIT_MESSAGE_ID_RELEASE;
}

/* Something left behind in the kernel needs an operator: warning; a denial: notice. */
static int record_priority(const AuditRecord *r) {
        if (record_is(r, AUDIT_QUARANTINED) || record_is(r, AUDIT_INCOMPLETE))
                return LOG_WARNING;
        if (record_is(r, AUDIT_DENIED))
                return LOG_NOTICE;
        return LOG_INFO;
}

/* "device-open '0000:03:00.0' denied for tenant 'vm1' (uid 1000, pid 42, unit 'x.service'): why" */
static char *format_message(const AuditRecord *r) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        fputs(r->verb ? r->verb : "(unknown)", f);
        if (r->object)
                fprintf(f, " '%s'", r->object);
        fprintf(f, " %s", r->result ? r->result : "(unknown)");
        if (r->tenant)
                fprintf(f, " for tenant '%s'", r->tenant);
        if (r->uid != (uid_t) -1 || r->pid > 0 || r->unit) {
                const char *sep = "";

                fputs(" (", f);
                if (r->uid != (uid_t) -1) {
                        fprintf(f, "uid %u", (unsigned) r->uid);
                        sep = ", ";
                }
                if (r->pid > 0) {
                        fprintf(f, "%spid %d", sep, (int) r->pid);
                        sep = ", ";
                }
                if (r->unit)
                        fprintf(f, "%sunit '%s'", sep, r->unit);
                fputc(')', f);
        }
        if (r->reason)
                fprintf(f, ": %s", r->reason);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

typedef struct JournalFields {
        char *field[16];
        size_t n;
        bool oom;
} JournalFields;

static void journal_fields_done(JournalFields *f) {
        for (size_t i = 0; i < f->n; i++)
                free(f->field[i]);
}

/* Adds "NAME=value"; a failure is remembered in f->oom. */
_printf_(2, 3) static void journal_field(JournalFields *f, const char *fmt, ...) {
        char *raw = NULL;
        va_list ap;
        int k;

        if (f->oom || f->n >= ELEMENTSOF(f->field)) {
                f->oom = true;
                return;
        }
        va_start(ap, fmt);
        k = vasprintf(&raw, fmt, ap);
        va_end(ap);
        /* values are data: a client's string never carries a control character into the journal */
        f->field[f->n] = k < 0 ? NULL : escape_control_dup(raw);
        free(raw);
        if (!f->field[f->n])
                f->oom = true;
        else
                f->n++;
}

static int journal_send(const AuditRecord *r, const char *message) {
        _cleanup_(journal_fields_done) JournalFields f = { .n = 0 };
        struct iovec iov[ELEMENTSOF(f.field)];

        journal_field(&f, "MESSAGE=%s", message);
        journal_field(&f, "MESSAGE_ID=%s", message_id(r));
        journal_field(&f, "PRIORITY=%d", record_priority(r));
        journal_field(&f, "SYSLOG_IDENTIFIER=%s", program_invocation_short_name);
        if (r->tenant)
                journal_field(&f, "IOMMU_BROKER_TENANT=%s", r->tenant);
        if (r->uid != (uid_t) -1)
                journal_field(&f, "IOMMU_BROKER_PEER_UID=%u", (unsigned) r->uid);
        if (r->pid > 0) {
                journal_field(&f, "IOMMU_BROKER_PEER_PID=%d", (int) r->pid);
                journal_field(&f, "OBJECT_PID=%d", (int) r->pid);
        }
        if (r->unit)
                journal_field(&f, "IOMMU_BROKER_UNIT=%s", r->unit);
        if (r->verb)
                journal_field(&f, "IOMMU_BROKER_VERB=%s", r->verb);
        if (r->object)
                journal_field(&f, "IOMMU_BROKER_OBJECT=%s", r->object);
        if (r->result)
                journal_field(&f, "IOMMU_BROKER_RESULT=%s", r->result);
        if (r->reason)
                journal_field(&f, "IOMMU_BROKER_REASON=%s", r->reason);
        if (f.oom)
                return -ENOMEM;

        for (size_t i = 0; i < f.n; i++)
                iov[i] = (struct iovec) { .iov_base = f.field[i], .iov_len = strlen(f.field[i]) };
        return sd_journal_sendv(iov, (int) f.n);
}

static char *format_json(const AuditRecord *r) {
        char *buf = NULL, stamp[32];
        size_t size = 0;
        struct timespec ts;
        struct tm tm;
        FILE *f;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        if (!gmtime_r(&ts.tv_sec, &tm) || strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
                stamp[0] = '\0';

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        fprintf(f, "{\"time\":\"%s.%06ldZ\",\"message_id\":\"%s\",\"tenant\":", stamp, ts.tv_nsec / 1000,
                message_id(r));
        json_escape_to_file(f, r->tenant);
        if (r->uid != (uid_t) -1)
                fprintf(f, ",\"uid\":%u", (unsigned) r->uid);
        else
                fputs(",\"uid\":null", f);
        if (r->pid > 0)
                fprintf(f, ",\"pid\":%d", (int) r->pid);
        else
                fputs(",\"pid\":null", f);
        fputs(",\"unit\":", f);
        json_escape_to_file(f, r->unit);
        fputs(",\"verb\":", f);
        json_escape_to_file(f, r->verb);
        fputs(",\"object\":", f);
        json_escape_to_file(f, r->object);
        fputs(",\"result\":", f);
        json_escape_to_file(f, r->result);
        fputs(",\"reason\":", f);
        json_escape_to_file(f, r->reason);
        fputs("}\n", f);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

static int write_all(int fd, const char *s, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, s, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                s += k;
                n -= (size_t) k;
        }
        return 0;
}

void audit_log(const AuditRecord *r) {
        _cleanup_free_ char *message = NULL, *json = NULL;
        bool recorded = false;
        int k;

        if (!r)
                return;
        message = format_message(r);
        if (!message) {
                (void) log_error_errno(ENOMEM, "Cannot format audit record: %m");
                return;
        }

        /* sd_journal_sendv() succeeds silently when journald is not there: look first. */
        if (audit_journal && access(JOURNAL_SOCKET, W_OK) >= 0 && journal_send(r, message) >= 0)
                recorded = true;

        if (audit_fd >= 0) {
                json = format_json(r);
                k = json ? write_all(audit_fd, json, strlen(json)) : -ENOMEM;
                if (k < 0) {
                        if (!audit_write_failed)
                                (void) log_warning_errno(k, "Cannot write audit file: %m");
                        audit_write_failed = true;
                } else {
                        audit_write_failed = false;
                        recorded = true;
                }
        }

        if (!recorded)
                (void) log_full_errno(record_priority(r), 0, "audit: %s", message);
}
