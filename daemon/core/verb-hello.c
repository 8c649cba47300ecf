/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-hello.c - Hello and GetCapabilities.
 *
 * Owns: version negotiation, the advertised limits and feature flags (the
 * same constants the codec and dispatch enforce), and the report of what the
 * IOMMU side can do.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/protocol.h"
#include "common/text-escape.h"
#include "core/persist.h"
#include "core/session.h"
#include "core/verbs.h"
#include "util/log.h"

/* What this broker's protocol offers: Hello says it, and so does a ResumedEvent after a restart (recover.c). */
static const Ib__V1__Feature features[] = {
        IB__V1__FEATURE__FEATURE_IOAS_RANGE_HINTS,
        IB__V1__FEATURE__FEATURE_MAP_MEMFD,
        IB__V1__FEATURE__FEATURE_COPY,
        IB__V1__FEATURE__FEATURE_BATCH,
        IB__V1__FEATURE__FEATURE_MEM_REGISTER,
        IB__V1__FEATURE__FEATURE_BATCH_PACKED,
};

size_t protocol_features(const Ib__V1__Feature **ret) {
        *ret = features;
        return ELEMENTSOF(features);
}

/* The most bytes of a Hello client_name the broker keeps (docs/protocol.md, HelloRequest): what a restart keeps. */
#define CLIENT_NAME_MAX (sizeof(((PersistSessionRec *) NULL)->client_name) - 1)

/*
 * The client name as the broker keeps it, logs it and lists it on the admin
 * bus: at most CLIENT_NAME_MAX bytes, escaped by common/text-escape.h (valid
 * UTF-8, control characters and stray bytes as \xNN), cut between
 * characters.  The name is informational: it is never refused.  NULL on
 * ENOMEM.
 */
static char *client_name_sanitize(const char *name) {
        char buf[CLIENT_NAME_MAX + 1];

        (void) text_escape(name, buf, sizeof(buf));
        return strdup(buf);
}

static const struct {
        uint64_t backend_feature;
        Ib__V1__KernelFeature wire;
} kernel_features[] = {
        { BACKEND_FEATURE_MAP_FILE, IB__V1__KERNEL_FEATURE__KERNEL_FEATURE_MAP_FILE },
        { BACKEND_FEATURE_HWPT_ALLOC, IB__V1__KERNEL_FEATURE__KERNEL_FEATURE_HWPT_ALLOC },
        { BACKEND_FEATURE_DIRTY_TRACKING, IB__V1__KERNEL_FEATURE__KERNEL_FEATURE_DIRTY_TRACKING },
        { BACKEND_FEATURE_HWPT_INVALIDATE, IB__V1__KERNEL_FEATURE__KERNEL_FEATURE_HWPT_INVALIDATE },
        { BACKEND_FEATURE_FAULT_QUEUE, IB__V1__KERNEL_FEATURE__KERNEL_FEATURE_FAULT_QUEUE },
        { BACKEND_FEATURE_VIOMMU, IB__V1__KERNEL_FEATURE__KERNEL_FEATURE_VIOMMU },
        { BACKEND_FEATURE_CHANGE_PROCESS, IB__V1__KERNEL_FEATURE__KERNEL_FEATURE_CHANGE_PROCESS },
};

int verb_hello(Call *c) {
        const Ib__V1__HelloRequest *req = c->request->hello;
        Session *s = c->session;
        Ib__V1__HelloReply *h;
        Ib__V1__Limits *l;

        if (req->protocol_version != IB_PROTOCOL_VERSION)
                return call_fail(c, EPROTONOSUPPORT, "protocol version %u is not supported: this broker speaks %u",
                                 req->protocol_version, IB_PROTOCOL_VERSION);

        h = call_alloc(c, sizeof(*h));
        l = call_alloc(c, sizeof(*l));
        if (!h || !l)
                return -ENOMEM;
        ib__v1__hello_reply__init(h);
        ib__v1__limits__init(l);
        l->max_message_size = IB_MAX_MESSAGE_SIZE;
        l->max_fds_per_message = IB_MAX_FDS_PER_MESSAGE;
        l->max_requests_in_flight = IB_MAX_REQUESTS_IN_FLIGHT;
        l->max_batch_ops = IB_MAX_BATCH_OPS;
        l->max_iova_ranges = IB_MAX_IOVA_RANGES;
        h->protocol_version = IB_PROTOCOL_VERSION;
        h->server_version = (char *) PACKAGE_VERSION;
        h->limits = l;
        h->n_features = ELEMENTSOF(features);
        h->features = (Ib__V1__Feature *) features;
        h->session = s->id;

        if (!s->hello) {
                if (req->client_name && *req->client_name) {
                        char *name = client_name_sanitize(req->client_name);

                        if (!name)
                                return -ENOMEM;
                        free(s->client_name);
                        s->client_name = name;
                }
                log_info("%s: hello from uid %u pid %d%s%s%s", s->name, (unsigned) s->cred.uid,
                         (int) s->cred.pid, s->client_name ? " ('" : "", s->client_name ?: "",
                         s->client_name ? "')" : "");
        }
        session_hello_done(s);
        c->reply->result_case = IB__V1__REPLY__RESULT_HELLO;
        c->reply->hello = h;
        return 0;
}

int verb_caps(Call *c) {
        Session *s = c->session;
        Backend *b = s->host->backend;
        Ib__V1__CapsReply *caps;
        Ib__V1__KernelFeature *kf;
        size_t n = 0;

        caps = call_alloc(c, sizeof(*caps));
        kf = call_alloc(c, sizeof(*kf) * ELEMENTSOF(kernel_features));
        if (!caps || !kf)
                return -ENOMEM;
        ib__v1__caps_reply__init(caps);
        caps->backend = (char *) backend_name(b);
        for (size_t i = 0; i < ELEMENTSOF(kernel_features); i++)
                if (backend_has(b, kernel_features[i].backend_feature))
                        kf[n++] = kernel_features[i].wire;
        caps->n_kernel_features = n;
        caps->kernel_features = kf;
        caps->page_size = (uint64_t) sysconf(_SC_PAGESIZE);

        /* Broker-wide counters are for root and the broker's own uid only. */
        if (s->cred.uid == 0 || s->cred.uid == s->host->uid) {
                caps->has_sessions = caps->has_mapped_bytes = caps->has_objects = true;
                caps->sessions = s->host->n_sessions;
                caps->mapped_bytes = s->host->account->used[ACCOUNT_MAPPED_BYTES];
                caps->objects = s->host->account->used[ACCOUNT_OBJECTS];
        }
        c->reply->result_case = IB__V1__REPLY__RESULT_CAPS;
        c->reply->caps = caps;
        return 0;
}
