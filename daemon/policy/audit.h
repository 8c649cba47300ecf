/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * audit.h - the audit trail of policy decisions.
 *
 * Owns: one structured record per grant or denial (connect, device open,
 * limit refusal, reload): a journal entry with IOMMU_BROKER_* fields and a
 * stable MESSAGE_ID per result (see iommu-broker.catalog), and optionally one
 * JSON line per record appended to a file (AuditFile=, for hosts without
 * journald).  Without either (journal unreachable, no file) the record's
 * message goes to the log so that no decision goes unrecorded.
 * Must never: decide anything, or fail its caller: a record that cannot be
 * written is reported once in the log, not returned.
 *
 * Journal fields: MESSAGE, MESSAGE_ID, PRIORITY (info for granted, notice
 * for denied), SYSLOG_IDENTIFIER, IOMMU_BROKER_TENANT, IOMMU_BROKER_PEER_UID,
 * IOMMU_BROKER_PEER_PID, IOMMU_BROKER_UNIT, IOMMU_BROKER_VERB,
 * IOMMU_BROKER_OBJECT, IOMMU_BROKER_RESULT, IOMMU_BROKER_REASON, and
 * OBJECT_PID (journald then adds trusted OBJECT_UID=, OBJECT_SYSTEMD_UNIT=,
 * ... of the peer itself).  Fields whose value is unknown are left out.
 *
 * JSON line: {"time":"2025-01-31T12:00:00.000000Z","message_id":"...",
 * "tenant":"vm1","uid":1000,"pid":4242,"unit":"qemu-vm1.service",
 * "verb":"device-open","object":"0000:03:00.0","result":"denied",
 * "reason":"..."}, unknown values as null, strings valid UTF-8.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* Results of a decision. */
#define AUDIT_GRANTED "granted"
#define AUDIT_DENIED "denied"
/* Results of a release (teardown, device-release): what the kernel was left with. */
#define AUDIT_EMPTIED "emptied"                 /* the kernel confirmed every object and mapping gone */
#define AUDIT_INCOMPLETE "incomplete"           /* objects remain in a context a device fd keeps alive */
#define AUDIT_QUARANTINED "quarantined"         /* a device stays bound: a copy of its fd is open outside */
#define AUDIT_RELEASED "released"               /* a quarantined device can be bound again */

/* Generated once with systemd-id128 new; never change them. */
#define AUDIT_MESSAGE_ID_GRANTED "c4dcbaadf8c646178a29ad5b81ec82d8"
#define AUDIT_MESSAGE_ID_DENIED "c6e975591b734b9193f056cb7c44e4d5"
#define AUDIT_MESSAGE_ID_RELEASE "1327f3bd33d24153863d094882ed39b0"

/* Verbs the broker records (others are allowed). */
#define AUDIT_VERB_CONNECT "connect"
#define AUDIT_VERB_DEVICE_OPEN "device-open"
#define AUDIT_VERB_LIMIT "limit"
#define AUDIT_VERB_RELOAD "reload"
#define AUDIT_VERB_TEARDOWN "teardown"          /* a session's end: its kernel context emptied */
#define AUDIT_VERB_RESTART "restart"            /* the broker started again and restored what it kept */
#define AUDIT_VERB_RESTORE "restore"            /* one session restored after a restart (or ended: denied) */
#define AUDIT_VERB_DEVICE_RELEASE "device-release"      /* a device the broker let go of */
#define AUDIT_VERB_DEVICE_DELEGATE "device-delegate"    /* a device handed to a VMM that binds it itself */
#define AUDIT_VERB_DELEGATION_END "delegation-end"      /* its process exited (or was ended by an admin) */

typedef struct AuditRecord {
        const char *tenant;             /* NULL: no tenant (e.g. a refused connect) */
        uid_t uid;                      /* (uid_t) -1: none (e.g. a reload by SIGHUP) */
        pid_t pid;                      /* 0: none */
        const char *unit;               /* the peer's unit; NULL: none */
        const char *verb;               /* AUDIT_VERB_* */
        const char *object;             /* "0000:03:00.0", "pinned-memory", the policy file; NULL: none */
        const char *result;             /* AUDIT_GRANTED, AUDIT_DENIED, or a release's AUDIT_EMPTIED ... */
        const char *reason;             /* why, for denials; NULL: none */
} AuditRecord;

/**
 * audit_open() - choose the audit file
 * @file_or_null: a path to append JSON lines to (created 0640), or NULL for
 *                the journal only
 *
 * May be called again (on reload): the new file is opened before the old one
 * is closed, so on failure the old one stays in use.
 *
 * Return: 0 or -errno from open().
 */
int audit_open(const char *file_or_null);

/* Closes the audit file, if any. */
void audit_close(void);

/* Whether records go to the journal (default: yes); tests and --no-journal turn it off. */
void audit_set_journal(bool enabled);

/**
 * audit_log() - record one decision
 * @r: the record; verb and result are required
 */
void audit_log(const AuditRecord *r);
