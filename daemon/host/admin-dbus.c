/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * admin-dbus.c - see admin-dbus.h; the interface is docs/admin-api.md.
 *
 * Who may do what: every caller the bus lets through (its policy file allows
 * everyone to talk to us) may read the properties, introspect and list;
 * only root, the broker's own uid and, with --admin-group, members of that
 * group may call a mutating method (KillSession, EndDelegation, Reload).  The caller's uid
 * is the one the bus daemon recorded when the caller connected
 * (GetConnectionCredentials via sd_bus_query_sender_creds() without
 * augmentation, so nothing is read from /proc); group membership is the
 * uid's NSS entry (primary and supplementary groups), as dbus-daemon's own
 * policy checks do.  Every denial, and every session ended by an
 * administrator, is an audit record (policy/audit.h: the journal with the
 * catalog's MESSAGE_IDs, the AuditFile=, else the log); a reload is audited
 * by the broker itself.
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "broker.h"
#include "common/protocol.h"
#include "common/text-escape.h"
#include "host/admin-dbus.h"
#include "host/sdbus-event.h"
#include "policy/audit.h"
#include "util/log.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

/* Audit verbs of the admin API (policy/audit.h records them). */
#define ADMIN_AUDIT_KILL_SESSION "kill-session"
#define ADMIN_AUDIT_END_DELEGATION "end-delegation"
#define ADMIN_AUDIT_RELOAD AUDIT_VERB_RELOAD

struct AdminBus {
        Broker *broker;
        sd_bus *bus;
        sd_bus_slot *vtable_slot;
        SdBusEvent *event;
        /* Read by the vtable's default getters through offsetof(). */
        const char *version;
        const char *backend;
        const char *admin_group;        /* "" if none */
        uint32_t protocol;
        uint64_t total_sessions;        /* served by this process: restored at its start, then opened */
        gid_t admin_gid;
        uint64_t killing;               /* the session KillSession is ending, 0 otherwise */
        bool observing;                 /* installed as the broker's observer */
};

/* ---------------------------------------------------------------- helpers */

/* Is uid in group gid, as primary or supplementary group of its NSS entry? */
static bool uid_in_group(uid_t uid, gid_t gid) {
        _cleanup_free_ gid_t *groups = NULL;
        _cleanup_free_ char *buf = NULL;
        struct passwd pw, *res = NULL;
        long size = sysconf(_SC_GETPW_R_SIZE_MAX);
        int n = 32;

        if (size <= 0)
                size = 16384;
        buf = malloc((size_t) size);
        if (!buf || getpwuid_r(uid, &pw, buf, (size_t) size, &res) != 0 || !res)
                return false;
        if (pw.pw_gid == gid)
                return true;
        for (int attempt = 0; attempt < 4; attempt++) {
                int got = n;

                free(groups);
                groups = calloc((size_t) n, sizeof(gid_t));
                if (!groups)
                        return false;
                if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &got) >= 0) {
                        for (int i = 0; i < got; i++)
                                if (groups[i] == gid)
                                        return true;
                        return false;
                }
                n = got > n ? got : n * 2;
        }
        return false;
}

/*
 * May the sender of m call a mutating method?  0 (and the caller's uid and
 * pid, for the records) if so; otherwise an AccessDenied error in error
 * (audited) and its -errno.
 */
static int admin_check_caller(AdminBus *a, sd_bus_message *m, const char *method, const char *verb,
                              const char *object, uid_t *ret_uid, pid_t *ret_pid, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        AuditRecord record;
        char reason[256];
        uid_t uid;
        pid_t pid = 0;
        int r;

        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_PID, &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;
        (void) sd_bus_creds_get_pid(creds, &pid);

        if (uid == 0 || uid == geteuid() || (a->admin_group[0] && uid_in_group(uid, a->admin_gid))) {
                *ret_uid = uid;
                *ret_pid = pid;
                return 0;
        }

        (void) snprintf(reason, sizeof(reason), "%s through the admin API needs root%s%s%s (caller %s)", method,
                        a->admin_group[0] ? " or membership in group '" : "", a->admin_group,
                        a->admin_group[0] ? "'" : "", sd_bus_message_get_sender(m) ?: "?");
        record = (AuditRecord) { .uid = uid, .pid = pid, .verb = verb, .object = object, .result = AUDIT_DENIED,
                                 .reason = reason };
        audit_log(&record);
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "%s needs root%s%s%s.", method,
                                 a->admin_group[0] ? " or membership in group '" : "", a->admin_group,
                                 a->admin_group[0] ? "'" : "");
}

/* ---------------------------------------------------------------- properties */

static int property_get_n_sessions(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        AdminBus *a = userdata;

        return sd_bus_message_append(reply, "u", (uint32_t) broker_n_sessions(a->broker));
}

static int property_get_usage(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        AdminBus *a = userdata;
        UsageView u;

        broker_usage(a->broker, &u);
        if (strcmp(property, "Objects") == 0)
                return sd_bus_message_append(reply, "t", u.objects);
        if (strcmp(property, "Mappings") == 0)
                return sd_bus_message_append(reply, "t", u.mappings);
        if (strcmp(property, "MappedBytes") == 0)
                return sd_bus_message_append(reply, "t", u.mapped_bytes);
        return -ENOENT;
}

/*
 * Restarts: FdStore, Restarts and LastRestart.  They are fixed for the life of
 * the process (the broker restores what a previous process left before the
 * admin API starts), hence const.  LastRestart is empty when this start was no
 * restart (Restarts is 0); otherwise every key is there, zeros included, so
 * that "restarted and restored nothing" reads apart from "never restarted".
 */
static int property_get_restart(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        AdminBus *a = userdata;
        RestartView v;
        int r;

        broker_restart_view(a->broker, &v);
        if (strcmp(property, "FdStore") == 0)
                return sd_bus_message_append(reply, "b", v.fd_store);
        if (strcmp(property, "Restarts") == 0)
                return sd_bus_message_append(reply, "t", v.restarts);
        if (strcmp(property, "LastRestart") != 0)
                return -ENOENT;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0 && v.restarts > 0)
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}{sv}{sv}{sv}", "Sessions", "t", v.sessions,
                                          "Ended", "t", v.ended, "Objects", "t", v.objects,
                                          "Mappings", "t", v.mappings, "MappedBytes", "t", v.mapped_bytes,
                                          "Settled", "t", v.settled, "Usec", "t", v.usec);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

/* ---------------------------------------------------------------- methods */

/* The reply to m, with its "aa{sv}" opened: each listed item appends one "a{sv}". */
static int list_open(sd_bus_message *m, sd_bus_message **ret) {
        int r;

        r = sd_bus_message_new_method_return(m, ret);
        if (r < 0)
                return r;
        return sd_bus_message_open_container(*ret, 'a', "a{sv}");
}

/* Closes the list and sends the reply, unless r (of the listing) failed. */
static int list_send(sd_bus_message *reply, int r) {
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* "key": an "as" of strv[0..n) as one dictionary entry. */
static int append_strv_entry(sd_bus_message *reply, const char *key, const char *const *strv, size_t n) {
        int r;

        r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", key);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', "as");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "s");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append(reply, "s", strv[i]);
        for (unsigned k = 0; r >= 0 && k < 3; k++)
                r = sd_bus_message_close_container(reply);      /* as, v, e */
        return r;
}

/*
 * "key": the string s as one dictionary entry.  The strings of a session are
 * escaped text already (verb-hello.c keeps the client name so), but one that
 * is not (say, a client name that persist.c's restart record cut inside a
 * character) must not fail a whole listing: sd-bus refuses a string that is
 * not valid UTF-8, and with it the message.  Such a string goes escaped
 * (common/text-escape.h).
 */
static int append_string_entry(sd_bus_message *reply, const char *key, const char *s) {
        _cleanup_free_ char *escaped = NULL;

        if (text_needs_escape(s)) {
                escaped = text_escaped(s);
                if (!escaped)
                        return -ENOMEM;
        }
        return sd_bus_message_append(reply, "{sv}", key, "s", escaped ?: s);
}

static int append_session(const SessionView *s, void *userdata) {
        sd_bus_message *reply = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}", "Id", "t", s->id, "Uid", "u", (uint32_t) s->uid,
                                  "Gid", "u", (uint32_t) s->gid, "Pid", "u", (uint32_t) s->pid);
        /* The unit as peer_identity_get() captured it at accept, checked through the pidfd. */
        if (r >= 0 && s->unit)
                r = append_string_entry(reply, "Unit", s->unit);
        if (r >= 0 && s->tenant)
                r = append_string_entry(reply, "Tenant", s->tenant);
        if (r >= 0 && s->client)
                r = append_string_entry(reply, "Client", s->client);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}{sv}", "IoAddressSpaces", "u", s->n_ioas,
                                          "Objects", "t", s->usage.objects,
                                          "Mappings", "t", s->usage.mappings,
                                          "MappedBytes", "t", s->usage.mapped_bytes,
                                          "Requests", "t", s->requests);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

static int method_list_sessions(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        AdminBus *a = userdata;
        int r;

        r = list_open(m, &reply);
        if (r >= 0)
                r = broker_foreach_session(a->broker, append_session, reply);
        return list_send(reply, r);
}

/*
 * One tenant of ListTenants: each resource with the key of its usage and the
 * key of its limit, which is the policy's key (iommu-broker-policy(5)); its
 * devices, the Device= values ("group:N" for a group).
 */
static int append_tenant(const TenantView *t, void *userdata) {
        sd_bus_message *reply = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "{sv}{sv}{sv}", "Name", "s", t->name, "Sessions", "u", t->n_sessions,
                                  "InPolicy", "b", t->in_policy);
        for (size_t i = 0; r >= 0 && i < t->n_counters; i++)
                r = sd_bus_message_append(reply, "{sv}{sv}", t->counters[i].usage_key, "t", t->counters[i].used,
                                          t->counters[i].limit_key, "t", t->counters[i].limit);
        if (r >= 0)
                r = append_strv_entry(reply, "Devices", t->devices, t->n_devices);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

static int method_list_tenants(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        AdminBus *a = userdata;
        int r;

        r = list_open(m, &reply);
        if (r >= 0)
                r = broker_foreach_tenant(a->broker, append_tenant, reply);
        return list_send(reply, r);
}

/* The session's tenant and uid as dictionary entries, or nothing while the connection is refused. */
static int append_holder(sd_bus_message *reply, const SessionView *s) {
        int r;

        r = sd_bus_message_append(reply, "{sv}{sv}{sv}", "Session", "t", s->id, "Uid", "u", (uint32_t) s->uid,
                                  "Pid", "u", (uint32_t) s->pid);
        if (r >= 0 && s->tenant)
                r = sd_bus_message_append(reply, "{sv}", "Tenant", "s", s->tenant);
        return r;
}

static int append_device(const DeviceView *d, void *userdata) {
        sd_bus_message *reply = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}", "Name", "s", d->name,
                                          "VendorId", "q", d->vendor_id,
                                          "DeviceId", "q", d->device_id,
                                          "PasidWidth", "u", (uint32_t) d->pasid_width);
        if (r >= 0 && d->iommu_group >= 0)
                r = sd_bus_message_append(reply, "{sv}", "IommuGroup", "i", (int32_t) d->iommu_group);
        if (r >= 0 && d->holder)
                r = append_holder(reply, d->holder);
        else if (r >= 0 && d->session)
                r = sd_bus_message_append(reply, "{sv}", "Session", "t", d->session);
        if (r >= 0 && d->delegation)
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}", "Delegation", "t", d->delegation,
                                          "DelegatedToPid", "u", (uint32_t) d->delegated_to,
                                          "DelegatedToUid", "u", (uint32_t) d->delegated_uid);
        if (r >= 0 && d->quarantined)
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}", "HeldByPid", "u", (uint32_t) d->held_by,
                                          "HeldByUid", "u", (uint32_t) d->held_uid, "HeldBySession", "t",
                                          d->held_session);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

static int method_list_devices(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        AdminBus *a = userdata;
        int r;

        /* the inventory afresh; a quarantined device is probed again soon, off the loop */
        (void) broker_refresh_devices(a->broker);
        r = list_open(m, &reply);
        if (r >= 0)
                r = broker_foreach_device(a->broker, append_device, reply);
        return list_send(reply, r);
}

static int append_pasid(const PasidView *p, void *userdata) {
        sd_bus_message *reply = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = append_holder(reply, p->holder);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}{sv}", "Device", "s", p->device,
                                          "VPasid", "u", p->vpasid, "Pasid", "u", p->pasid,
                                          "PageTable", "u", p->pt_id, "Mode", "s", p->mode);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

static int method_list_pasids(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        AdminBus *a = userdata;
        int r;

        r = list_open(m, &reply);
        if (r >= 0)
                r = broker_foreach_pasid(a->broker, append_pasid, reply);
        return list_send(reply, r);
}

static int append_delegation(const DelegationView *d, void *userdata) {
        sd_bus_message *reply = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}{sv}{sv}", "Id", "t", d->id,
                                          "Tenant", "s", d->tenant, "Pid", "u", (uint32_t) d->pid,
                                          "Uid", "u", (uint32_t) d->uid, "MemlockLimit", "t",
                                          d->memlock_limit, "Started", "t", d->started_usec);
        if (r >= 0)
                r = append_strv_entry(reply, "Devices", d->devices, d->n_devices);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

static int method_list_delegations(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        AdminBus *a = userdata;
        int r;

        r = list_open(m, &reply);
        if (r >= 0)
                r = broker_foreach_delegation(a->broker, append_delegation, reply);
        return list_send(reply, r);
}

static int method_end_delegation(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        AdminBus *a = userdata;
        AuditRecord record;
        DelegationView d;
        char object[160];
        uid_t uid;
        pid_t pid;
        uint64_t id;
        int r;

        r = sd_bus_message_read(m, "t", &id);
        if (r < 0)
                return r;
        (void) snprintf(object, sizeof(object), "delegation %" PRIu64, id);
        r = admin_check_caller(a, m, "EndDelegation", ADMIN_AUDIT_END_DELEGATION, object, &uid, &pid, error);
        if (r < 0)
                return r;
        if (broker_delegation_view(a->broker, id, &d) < 0)
                return sd_bus_error_setf(error, ADMIN_ERROR_NO_SUCH_DELEGATION, "No delegation %" PRIu64 ".", id);
        (void) snprintf(object, sizeof(object), "delegation %" PRIu64 " (tenant '%s', uid %u, pid %d)", id,
                        d.tenant, (unsigned) d.uid, (int) d.pid);
        r = broker_end_delegation(a->broker, id);
        if (r == -EPERM)
                return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "The broker cannot kill pid %d: it lacks "
                                         "CAP_KILL (its unit's CapabilityBoundingSet=).", (int) d.pid);
        if (r == -EALREADY)
                return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "Delegation %" PRIu64 " is ending already: "
                                         "pid %d exited and the broker is checking its devices.", id, (int) d.pid);
        if (r < 0)
                return r;
        record = (AuditRecord) { .uid = uid, .pid = pid, .verb = ADMIN_AUDIT_END_DELEGATION, .object = object,
                                 .result = AUDIT_GRANTED };
        audit_log(&record);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_kill_session(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        AdminBus *a = userdata;
        AuditRecord record;
        char object[160];
        SessionView s;
        uid_t uid;
        pid_t pid;
        uint64_t id;
        int r;

        r = sd_bus_message_read(m, "t", &id);
        if (r < 0)
                return r;
        (void) snprintf(object, sizeof(object), "session %" PRIu64, id);
        r = admin_check_caller(a, m, "KillSession", ADMIN_AUDIT_KILL_SESSION, object, &uid, &pid, error);
        if (r < 0)
                return r;

        if (broker_session_view(a->broker, id, &s) < 0)
                return sd_bus_error_setf(error, ADMIN_ERROR_NO_SUCH_SESSION, "No session %" PRIu64 ".", id);
        (void) snprintf(object, sizeof(object), "session %" PRIu64 " (tenant '%s', uid %u, pid %d)", id,
                        s.tenant ?: "-", (unsigned) s.uid, (int) s.pid);

        a->killing = id;
        r = broker_kill_session(a->broker, id);
        a->killing = 0;
        if (r < 0)
                return r;

        record = (AuditRecord) { .uid = uid, .pid = pid, .verb = ADMIN_AUDIT_KILL_SESSION, .object = object,
                                 .result = AUDIT_GRANTED };
        audit_log(&record);
        return sd_bus_reply_method_return(m, NULL);
}

static void admin_emit_policy_reloaded(AdminBus *a, bool ok, const char *error) {
        int r;

        if (!a->event)
                return;
        r = sd_bus_emit_signal(a->bus, ADMIN_OBJECT_PATH, ADMIN_INTERFACE, "PolicyReloaded", "bs", ok,
                               error ?: "");
        if (r < 0)
                log_debug_errno(r, "cannot send PolicyReloaded, ignoring: %m");
        sdbus_event_kick(a->event);
}

static int method_reload(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        AdminBus *a = userdata;
        char err[512] = "";
        uid_t uid;
        pid_t pid;
        int r;

        r = admin_check_caller(a, m, "Reload", ADMIN_AUDIT_RELOAD, /* object= */ NULL, &uid, &pid, error);
        if (r < 0)
                return r;

        log_info("policy reload requested through the admin API by uid %u pid %d", (unsigned) uid, (int) pid);
        /* Audits the outcome itself (verb reload, the policy file). */
        r = broker_reload_policy(a->broker, err, sizeof(err));      /* PolicyReloaded comes through the observer */
        if (r < 0)
                return sd_bus_error_setf(error, ADMIN_ERROR_POLICY_REFUSED,
                                         "The policy was not reloaded, the old one stays: %s",
                                         err[0] ? err : strerror(-r));
        return sd_bus_reply_method_return(m, NULL);
}

static const sd_bus_vtable admin_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", NULL, offsetof(AdminBus, version), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("ProtocolVersion", "u", NULL, offsetof(AdminBus, protocol), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Backend", "s", NULL, offsetof(AdminBus, backend), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("AdminGroup", "s", NULL, offsetof(AdminBus, admin_group), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("NSessions", "u", property_get_n_sessions, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("TotalSessions", "t", NULL, offsetof(AdminBus, total_sessions),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Objects", "t", property_get_usage, 0, 0),
        SD_BUS_PROPERTY("Mappings", "t", property_get_usage, 0, 0),
        SD_BUS_PROPERTY("MappedBytes", "t", property_get_usage, 0, 0),
        SD_BUS_PROPERTY("FdStore", "b", property_get_restart, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Restarts", "t", property_get_restart, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("LastRestart", "a{sv}", property_get_restart, 0, SD_BUS_VTABLE_PROPERTY_CONST),

        SD_BUS_METHOD_WITH_ARGS("ListSessions", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", sessions),
                                method_list_sessions, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListTenants", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", tenants),
                                method_list_tenants, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListDevices", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", devices),
                                method_list_devices, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListPasids", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", pasids),
                                method_list_pasids, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListDelegations", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", delegations),
                                method_list_delegations, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("KillSession", SD_BUS_ARGS("t", id), SD_BUS_NO_RESULT, method_kill_session,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("EndDelegation", SD_BUS_ARGS("t", id), SD_BUS_NO_RESULT, method_end_delegation,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reload,
                                SD_BUS_VTABLE_UNPRIVILEGED),

        SD_BUS_SIGNAL_WITH_ARGS("SessionOpened", SD_BUS_ARGS("t", id, "u", uid, "u", pid, "s", unit), 0),
        SD_BUS_SIGNAL_WITH_ARGS("SessionClosed", SD_BUS_ARGS("t", id, "u", uid, "u", pid, "s", reason), 0),
        SD_BUS_SIGNAL_WITH_ARGS("PolicyReloaded", SD_BUS_ARGS("b", ok, "s", error), 0),
        SD_BUS_VTABLE_END
};

/* ---------------------------------------------------------------- observer */

static void admin_emit_sessions_changed(AdminBus *a) {
        (void) sd_bus_emit_properties_changed(a->bus, ADMIN_OBJECT_PATH, ADMIN_INTERFACE, "NSessions",
                                              "TotalSessions", NULL);
        sdbus_event_kick(a->event);
}

static void admin_on_session_opened(const SessionView *s, void *userdata) {
        AdminBus *a = userdata;
        int r;

        a->total_sessions++;
        if (!a->event)
                return;         /* the bus is gone */
        r = sd_bus_emit_signal(a->bus, ADMIN_OBJECT_PATH, ADMIN_INTERFACE, "SessionOpened", "tuus", s->id,
                               (uint32_t) s->uid, (uint32_t) s->pid, s->unit ?: "");
        if (r < 0)
                log_debug_errno(r, "cannot send SessionOpened for %s, ignoring: %m", s->name);
        admin_emit_sessions_changed(a);
}

static void admin_on_session_closed(const SessionView *s, void *userdata) {
        AdminBus *a = userdata;
        int r;

        if (!a->event)
                return;
        r = sd_bus_emit_signal(a->bus, ADMIN_OBJECT_PATH, ADMIN_INTERFACE, "SessionClosed", "tuus", s->id,
                               (uint32_t) s->uid, (uint32_t) s->pid,
                               a->killing == s->id ? "killed" : "closed");
        if (r < 0)
                log_debug_errno(r, "cannot send SessionClosed for %s, ignoring: %m", s->name);
        admin_emit_sessions_changed(a);
}

static void admin_on_policy_reloaded(int r, const char *error, void *userdata) {
        admin_emit_policy_reloaded(userdata, r >= 0, r < 0 ? error : NULL);
}

static const BrokerObserver admin_observer = {
        .session_opened = admin_on_session_opened,
        .session_closed = admin_on_session_closed,
        .policy_reloaded = admin_on_policy_reloaded,
};

static void admin_on_bus_lost(int err, void *userdata) {
        AdminBus *a = userdata;

        log_error_errno(err, "lost the admin bus connection: %m; the admin API is gone, VMM sessions go on");
        a->event = sdbus_event_free(a->event);
}

/* ---------------------------------------------------------------- set-up */

static int admin_connect(sd_bus **ret, const char *where) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (strcmp(where, "auto") == 0 || strcmp(where, "system") == 0)
                r = sd_bus_open_system_with_description(&bus, "admin");
        else if (strcmp(where, "session") == 0)
                r = sd_bus_open_user_with_description(&bus, "admin");
        else {
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, where);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, true);
                if (r >= 0)
                        r = sd_bus_set_trusted(bus, false);
                if (r >= 0)
                        r = sd_bus_set_description(bus, "admin");
                if (r >= 0)
                        r = sd_bus_start(bus);
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

int admin_bus_new(AdminBus **ret, Broker *b, const AdminBusConfig *config) {
        _cleanup_(admin_bus_freep) AdminBus *a = NULL;
        const char *where = config->bus ?: "auto";
        bool optional = strcmp(where, "auto") == 0;
        int r;

        *ret = NULL;
        if (strcmp(where, "none") == 0) {
                log_debug("admin API off (--admin-bus=none)");
                return 0;
        }

        a = calloc(1, sizeof(*a));
        if (!a)
                return log_error_errno(ENOMEM, "out of memory");
        a->broker = b;
        a->version = PACKAGE_VERSION;
        a->backend = broker_backend_name(b);
        a->protocol = IB_PROTOCOL_VERSION;
        a->admin_group = config->admin_group ?: "";
        a->admin_gid = config->admin_gid;
        /* the sessions a restart restored are served by this process too */
        a->total_sessions = broker_n_sessions(b);

        r = admin_connect(&a->bus, where);
        if (r < 0 && optional) {
                log_notice("no system bus (%s): the admin API is off", strerror(-r));
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "cannot connect to the admin bus '%s': %m", where);

        r = sd_bus_add_object_vtable(a->bus, &a->vtable_slot, ADMIN_OBJECT_PATH, ADMIN_INTERFACE, admin_vtable,
                                     a);
        if (r < 0)
                return log_error_errno(r, "cannot register the admin object: %m");

        r = sd_bus_request_name(a->bus, ADMIN_BUS_NAME, 0);
        if (r == -EEXIST) {
                log_full_errno(optional ? LOG_WARNING : LOG_ERR, r, "cannot own '%s' on the admin bus '%s': another "
                               "iommu-brokerd owns it%s", ADMIN_BUS_NAME, where,
                               optional ? "; the admin API is off" : "");
                return optional ? 0 : r;
        }
        if (r < 0 && optional) {
                log_warning_errno(r, "cannot own '%s' on the system bus: %m; the admin API is off (is the D-Bus "
                                  "policy installed, or does another broker run?)", ADMIN_BUS_NAME);
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "cannot own '%s' on the admin bus '%s': %m", ADMIN_BUS_NAME, where);

        r = sdbus_event_attach(&a->event, a->bus, broker_get_event_base(b), admin_on_bus_lost, a);
        if (r < 0)
                return log_error_errno(r, "cannot watch the admin bus: %m");

        broker_set_observer(b, &admin_observer, a);
        a->observing = true;
        log_info("admin API on the %s bus as %s%s%s%s", optional ? "system" : where, ADMIN_BUS_NAME,
                 a->admin_group[0] ? " (admin group '" : "", a->admin_group, a->admin_group[0] ? "')" : "");
        *ret = TAKE_PTR(a);
        return 0;
}

AdminBus *admin_bus_free(AdminBus *a) {
        if (!a)
                return NULL;
        if (a->observing)
                broker_set_observer(a->broker, NULL, NULL);
        a->event = sdbus_event_free(a->event);
        a->vtable_slot = sd_bus_slot_unref(a->vtable_slot);
        a->bus = sd_bus_flush_close_unref(a->bus);
        free(a);
        return NULL;
}
