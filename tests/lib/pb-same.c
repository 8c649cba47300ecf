/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pb-same.c - see pb-same.h.
 */
#include <stdint.h>
#include <string.h>

#include "tests/lib/pb-same.h"

static size_t value_size(const ProtobufCFieldDescriptor *f) {
        switch (f->type) {
        case PROTOBUF_C_TYPE_MESSAGE:
        case PROTOBUF_C_TYPE_STRING:
                return sizeof(void *);
        case PROTOBUF_C_TYPE_BYTES:
                return sizeof(ProtobufCBinaryData);
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_FIXED64:
        case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_DOUBLE:
                return 8;
        default:
                return 4;       /* uint32, int32, bool, enum, float and the rest of 32 bits */
        }
}

static bool same_value(const ProtobufCFieldDescriptor *f, const void *a, const void *b) {
        switch (f->type) {
        case PROTOBUF_C_TYPE_MESSAGE: {
                const ProtobufCMessage *ma = *(ProtobufCMessage * const *) a, *mb = *(ProtobufCMessage * const *) b;

                if (!ma || !mb)
                        return ma == mb;
                return pb_same_message(ma, mb);
        }
        case PROTOBUF_C_TYPE_STRING: {
                const char *sa = *(char * const *) a, *sb = *(char * const *) b;

                if (!sa || !sb)
                        return sa == sb;
                return strcmp(sa, sb) == 0;
        }
        case PROTOBUF_C_TYPE_BYTES: {
                const ProtobufCBinaryData *da = a, *db = b;

                return da->len == db->len && (da->len == 0 || memcmp(da->data, db->data, da->len) == 0);
        }
        default:
                return memcmp(a, b, value_size(f)) == 0;
        }
}

bool pb_same_message(const ProtobufCMessage *a, const ProtobufCMessage *b) {
        const ProtobufCMessageDescriptor *d = a->descriptor;

        if (a->descriptor != b->descriptor || a->n_unknown_fields != b->n_unknown_fields)
                return false;
        for (unsigned i = 0; i < a->n_unknown_fields; i++)
                if (a->unknown_fields[i].tag != b->unknown_fields[i].tag)
                        return false;
        for (unsigned i = 0; i < d->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &d->fields[i];
                const uint8_t *pa = (const uint8_t *) a, *pb = (const uint8_t *) b;

                if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t na = *(const size_t *) (pa + f->quantifier_offset);
                        size_t nb = *(const size_t *) (pb + f->quantifier_offset);
                        const uint8_t *va = *(uint8_t * const *) (pa + f->offset);
                        const uint8_t *vb = *(uint8_t * const *) (pb + f->offset);

                        if (na != nb)
                                return false;
                        for (size_t k = 0; k < na; k++)
                                if (!same_value(f, va + k * value_size(f), vb + k * value_size(f)))
                                        return false;
                        continue;
                }
                if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                        uint32_t ca = *(const uint32_t *) (pa + f->quantifier_offset);
                        uint32_t cb = *(const uint32_t *) (pb + f->quantifier_offset);

                        if (ca != cb)
                                return false;
                        if (ca == f->id && !same_value(f, pa + f->offset, pb + f->offset))
                                return false;
                        continue;
                }
                if (f->quantifier_offset &&
                    memcmp(pa + f->quantifier_offset, pb + f->quantifier_offset, sizeof(protobuf_c_boolean)) != 0)
                        return false;
                if (!same_value(f, pa + f->offset, pb + f->offset))
                        return false;
        }
        return true;
}
