/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-device.c - the device, HWPT and PASID verbs of iommu-broker-client:
 * device-list, device-open, attach, detach, device-close, hw-info,
 * hwpt-alloc, hwpt-free, hwpt-dirty, hwpt-dirty-bitmap, hwpt-invalidate,
 * fault-alloc, fault-read, fault-free, viommu-alloc, viommu-free,
 * vdevice-alloc, vdevice-free, pasid-attach, pasid-detach, pasid-lookup.
 *
 * Owns: turning their keys into library calls and their results into reply
 * members; the device fds device-open receives, kept open (as a VMM keeps
 * them to reach BARs) until device-close or the end of the run, and the
 * fault queue fds fault-alloc receives, kept for fault-read until fault-free
 * or the end of the run; building the VT-d stage-1 data of a nested HWPT
 * from its fields, and data=HEX; reading fault records.
 * Must never: print a line itself (the request loop does); include kernel
 * headers (the stage-1 and fault record layouts are written out below);
 * block on a fault queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client/tool/verbs.h"

/* ------------------------------------------------------------------ kept fds */

static KeptFd *kept_fd_find(KeptFdTable *t, uint32_t id) {
        for (size_t i = 0; i < t->n_entries; i++)
                if (t->entries[i].id == id)
                        return &t->entries[i];
        return NULL;
}

/* Takes fd in any case; 0 or -ENOMEM (fd closed). */
static int kept_fd_add(KeptFdTable *t, uint32_t id, int fd) {
        KeptFd *e = kept_fd_find(t, id), *a;

        if (e) {
                /* the broker reuses an id only after its object ended, which dropped our entry */
                (void) safe_close(e->fd);
                e->fd = fd;
                return 0;
        }
        a = realloc(t->entries, (t->n_entries + 1) * sizeof(*a));
        if (!a) {
                (void) safe_close(fd);
                return -ENOMEM;
        }
        t->entries = a;
        t->entries[t->n_entries++] = (KeptFd) { .id = id, .fd = fd };
        return 0;
}

static void kept_fd_close(KeptFdTable *t, uint32_t id) {
        KeptFd *e = kept_fd_find(t, id);

        if (!e)
                return;
        (void) safe_close(e->fd);
        *e = t->entries[--t->n_entries];
}

static void kept_fd_table_done(KeptFdTable *t) {
        for (size_t i = 0; i < t->n_entries; i++)
                (void) safe_close(t->entries[i].fd);
        free(t->entries);
        *t = (KeptFdTable) KEPT_FD_TABLE_INIT;
}

void tool_close_kept_fds(Tool *tool) {
        kept_fd_table_done(&tool->device_fds);
        kept_fd_table_done(&tool->fault_fds);
}

/* ------------------------------------------------------------------ argument helpers */

/* A number that must fit 32 bits but is no object id (vpasid=, addr-width=); returns as tool_get_u64(). */
static int get_u32_value(Tool *tool, const Request *req, const char *key, bool required, uint32_t *ret) {
        uint64_t v = 0;
        int r;

        r = tool_get_u64(tool, req, key, required, &v);
        if (r <= 0)
                return r;
        if (v > UINT32_MAX)
                return tool_error(tool, -EINVAL, "key '%s': 0x%llx does not fit 32 bits", key,
                                  (unsigned long long) v);
        *ret = (uint32_t) v;
        return 1;
}

static int hex_digit(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* data=HEX: pairs of hex digits, byte by byte in memory order, optionally after "0x". */
static int parse_hex_bytes(Tool *tool, const char *text, uint8_t **ret, size_t *ret_len) {
        _cleanup_free_ uint8_t *bytes = NULL;
        size_t n;

        if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
                text += 2;
        n = strlen(text);
        if (n == 0)
                return tool_error(tool, -EINVAL, "key 'data': no bytes (give pairs of hex digits)");
        if (n % 2 != 0)
                return tool_error(tool, -EINVAL, "key 'data': an odd number of hex digits");
        bytes = malloc(n / 2);
        if (!bytes)
                return tool_error(tool, -ENOMEM, "out of memory");
        for (size_t i = 0; i < n / 2; i++) {
                int hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);

                if (hi < 0 || lo < 0)
                        return tool_error(tool, -EINVAL, "key 'data': '%c%c' is not a hex byte", text[2 * i],
                                          text[2 * i + 1]);
                bytes[i] = (uint8_t) (hi << 4 | lo);
        }
        *ret = TAKE_PTR(bytes);
        *ret_len = n / 2;
        return 0;
}

/* ------------------------------------------------------------------ devices */

int cmd_device_list_exec(Tool *tool, const Request *req, Json *result) {
        _cleanup_free_ ib_device_info *devices = NULL;
        size_t n_alloc = 16, n = 0;
        int r = 0;

        /* -ENOBUFS tells the count; devices may come and go in between, so retry a few times */
        for (unsigned attempt = 0; attempt < 4; attempt++) {
                ib_device_info *p = realloc(devices, n_alloc * sizeof(*devices));

                if (!p)
                        return tool_error(tool, -ENOMEM, "out of memory");
                devices = p;
                n = n_alloc;
                r = ib_device_list(tool->client, devices, &n);
                if (r != -ENOBUFS)
                        break;
                n_alloc = n > n_alloc ? n : n_alloc * 2;
        }
        if (r < 0)
                return r;

        json_begin_array(result, "devices");
        for (size_t i = 0; i < n; i++) {
                const ib_device_info *d = &devices[i];
                char id[8];

                json_begin_object(result, NULL);
                json_string(result, "name", d->name);
                (void) snprintf(id, sizeof(id), "0x%04x", d->vendor_id);
                json_string(result, "vendor", id);
                (void) snprintf(id, sizeof(id), "0x%04x", d->device_id);
                json_string(result, "device", id);
                if (d->iommu_group >= 0)
                        json_int(result, "iommu_group", d->iommu_group);
                json_uint(result, "pasid_width", d->pasid_width);
                json_bool(result, "open_here", d->open_here);
                json_bool(result, "in_use", d->in_use);
                json_bool(result, "quarantined", d->quarantined);
                if (d->held_by_pid > 0)
                        json_int(result, "held_by_pid", d->held_by_pid);
                json_bool(result, "delegated", d->delegated);
                if (d->delegated_to_pid > 0)
                        json_int(result, "delegated_to_pid", d->delegated_to_pid);
                json_end_object(result);
        }
        json_end_array(result);
        return 0;
}

int cmd_device_open_exec(Tool *tool, const Request *req, Json *result) {
        const char *name = NULL, *as = NULL;
        uint32_t dev_id = 0;
        int fd = -1, r;

        r = tool_get_string(tool, req, "dev", /* required= */ true, &name);
        if (r < 0)
                return r;
        if (name[0] == '\0')
                return tool_error(tool, -EINVAL, "key 'dev': the device name is empty");
        r = tool_get_as(tool, req, &as);
        if (r < 0)
                return r;

        r = ib_device_open(tool->client, name, &dev_id, &fd);
        if (r < 0)
                return r;

        /* kept until device-close or exit, as a VMM keeps it for regions and interrupts */
        r = kept_fd_add(&tool->device_fds, dev_id, fd);
        if (r < 0)
                return tool_error(tool, r, "device %u was opened, but its fd could not be kept", dev_id);
        r = tool_set_name(tool, as, dev_id);
        if (r < 0)
                return tool_error(tool, r, "device %u was opened, but as=%s could not be stored", dev_id, as);
        json_uint(result, "dev", dev_id);
        json_bool(result, "fd", true);
        return 0;
}

int cmd_device_attach_exec(Tool *tool, const Request *req, Json *result) {
        uint32_t dev_id = 0, pt_id = 0, hwpt = 0;
        int r;

        r = tool_get_u32(tool, req, "dev", /* required= */ true, &dev_id);
        if (r < 0)
                return r;
        r = tool_get_u32(tool, req, "pt", /* required= */ true, &pt_id);
        if (r < 0)
                return r;

        r = ib_device_attach(tool->client, dev_id, pt_id, &hwpt);
        if (r < 0)
                return r;

        json_uint(result, "hwpt", hwpt);
        return 0;
}

int cmd_device_detach_exec(Tool *tool, const Request *req, Json *result) {
        uint32_t dev_id = 0;
        int r;

        r = tool_get_u32(tool, req, "dev", /* required= */ true, &dev_id);
        if (r < 0)
                return r;

        return ib_device_detach(tool->client, dev_id);
}

int cmd_device_close_exec(Tool *tool, const Request *req, Json *result) {
        uint32_t dev_id = 0;
        int r;

        r = tool_get_u32(tool, req, "dev", /* required= */ true, &dev_id);
        if (r < 0)
                return r;

        r = ib_device_close(tool->client, dev_id);
        if (r < 0)
                return r;

        /* the device is unbound once our copy of its fd is gone too */
        kept_fd_close(&tool->device_fds, dev_id);
        return 0;
}

static const char *iommu_type_name(uint32_t type, char *buf, size_t size) {
        switch (type) {
        case IB_IOMMU_TYPE_NONE:
                return "none";
        case IB_IOMMU_TYPE_INTEL_VTD:
                return "intel-vtd";
        case IB_IOMMU_TYPE_ARM_SMMUV3:
                return "arm-smmuv3";
        case IB_IOMMU_TYPE_AMD:
                return "amd";
        default:
                (void) snprintf(buf, size, "%u", type);
                return buf;
        }
}

int cmd_hw_info_exec(Tool *tool, const Request *req, Json *result) {
        ib_hw_info info = {};
        char type[16], hex[2 * sizeof(info.vendor_data) + 1];
        uint32_t dev_id = 0;
        int r;

        r = tool_get_u32(tool, req, "dev", /* required= */ true, &dev_id);
        if (r < 0)
                return r;

        r = ib_hw_info_get(tool->client, dev_id, &info);
        if (r < 0)
                return r;

        if (info.vendor_data_len > sizeof(info.vendor_data))
                info.vendor_data_len = sizeof(info.vendor_data);
        for (size_t i = 0; i < info.vendor_data_len; i++)
                (void) snprintf(hex + 2 * i, 3, "%02x", info.vendor_data[i]);
        hex[2 * info.vendor_data_len] = '\0';

        json_string(result, "iommu_type", iommu_type_name(info.iommu_type, type, sizeof(type)));
        json_bool(result, "dirty_tracking", info.dirty_tracking);
        json_bool(result, "pasid_exec", info.pasid_exec);
        json_bool(result, "pasid_priv", info.pasid_priv);
        json_bool(result, "ats_not_supported", info.ats_not_supported);
        json_bool(result, "enforce_snoop", info.enforce_snoop);
        json_bool(result, "nesting", info.nesting);
        json_uint(result, "max_pasid_log2", info.max_pasid_log2);
        json_string(result, "vendor_data", hex);
        return 0;
}

/* ------------------------------------------------------------------ HWPTs */

/*
 * struct iommu_hwpt_vtd_s1 of <linux/iommufd.h>, in the host's byte order as
 * the kernel reads it: u64 flags; u64 pgtbl_addr; u32 addr_width; u32 __reserved.
 */
#define VTD_S1_SIZE 24
#define VTD_S1_FLAGS_OFFSET 0
#define VTD_S1_PGTBL_ADDR_OFFSET 8
#define VTD_S1_ADDR_WIDTH_OFFSET 16
#define VTD_S1_RESERVED_OFFSET 20

static void vtd_s1_build(uint8_t buf[VTD_S1_SIZE], uint64_t flags, uint64_t pgtbl_addr, uint32_t addr_width) {
        const uint32_t reserved = 0;

        memcpy(buf + VTD_S1_FLAGS_OFFSET, &flags, sizeof(flags));
        memcpy(buf + VTD_S1_PGTBL_ADDR_OFFSET, &pgtbl_addr, sizeof(pgtbl_addr));
        memcpy(buf + VTD_S1_ADDR_WIDTH_OFFSET, &addr_width, sizeof(addr_width));
        memcpy(buf + VTD_S1_RESERVED_OFFSET, &reserved, sizeof(reserved));
}

/* data-type=vtd-s1|smmuv3|N: 1 if given, 0 if absent (*ret untouched), -EINVAL. */
static int get_data_type(Tool *tool, const Request *req, uint32_t *ret) {
        const char *value = NULL;
        uint64_t v = 0;
        int r;

        r = tool_get_string(tool, req, "data-type", /* required= */ false, &value);
        if (r <= 0)
                return r;
        if (strcmp(value, "vtd-s1") == 0)
                *ret = IB_HWPT_DATA_VTD_S1;
        else if (strcmp(value, "smmuv3") == 0)
                *ret = IB_HWPT_DATA_ARM_SMMUV3;
        else {
                r = tool_parse_u64(value, /* allow_max= */ false, &v);
                if (r < 0 || v > UINT32_MAX)
                        return tool_error(tool, -EINVAL,
                                          "key 'data-type': '%s' is not vtd-s1, smmuv3 or a number", value);
                *ret = (uint32_t) v;
        }
        return 1;
}

int cmd_hwpt_alloc_exec(Tool *tool, const Request *req, Json *result) {
        static const struct {
                const char *key;
                unsigned flag;
        } flag_keys[] = {
                { "nest-parent", IB_HWPT_NEST_PARENT },
                { "dirty", IB_HWPT_DIRTY_TRACKING },
                { "pasid", IB_HWPT_PASID },
                { "enforce-snoop", IB_HWPT_ENFORCE_SNOOP },
        };
        _cleanup_free_ uint8_t *data = NULL;
        uint8_t vtd_s1[VTD_S1_SIZE];
        const uint8_t *send = NULL;
        size_t data_len = 0, send_len = 0;
        uint32_t dev_id = 0, pt_id = 0, data_type = IB_HWPT_DATA_NONE, addr_width = 0, hwpt = 0, fault_id = 0;
        uint64_t pgtbl = 0, s1_flags = 0;
        const char *hex = NULL, *as = NULL;
        bool has_fields, has_fault;
        unsigned flags = 0;
        int r;

        r = tool_get_u32(tool, req, "dev", /* required= */ true, &dev_id);
        if (r < 0)
                return r;
        r = tool_get_u32(tool, req, "pt", /* required= */ true, &pt_id);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(flag_keys); i++) {
                bool on = false;

                r = tool_get_bool(tool, req, flag_keys[i].key, &on);
                if (r < 0)
                        return r;
                if (on)
                        flags |= flag_keys[i].flag;
        }

        r = get_data_type(tool, req, &data_type);
        if (r < 0)
                return r;
        r = tool_get_string(tool, req, "data", /* required= */ false, &hex);
        if (r < 0)
                return r;
        if (hex) {
                if (!request_find(req, "data-type"))
                        return tool_error(tool, -EINVAL,
                                          "key 'data' needs data-type= (the stage-1 data's type)");
                r = parse_hex_bytes(tool, hex, &data, &data_len);
                if (r < 0)
                        return r;
        }

        has_fields = request_find(req, "pgtbl") || request_find(req, "addr-width") ||
                     request_find(req, "s1-flags");
        if (has_fields && data_type != IB_HWPT_DATA_VTD_S1)
                return tool_error(tool, -EINVAL,
                                  "keys 'pgtbl', 'addr-width' and 's1-flags' need data-type=vtd-s1");
        if (has_fields && hex)
                return tool_error(tool, -EINVAL,
                                  "key 'data' excludes the keys 'pgtbl', 'addr-width' and 's1-flags'");

        if (hex) {
                send = data;
                send_len = data_len;
        } else if (data_type == IB_HWPT_DATA_VTD_S1) {
                r = tool_get_u64(tool, req, "pgtbl", /* required= */ true, &pgtbl);
                if (r < 0)
                        return r;
                r = get_u32_value(tool, req, "addr-width", /* required= */ true, &addr_width);
                if (r < 0)
                        return r;
                r = tool_get_u64(tool, req, "s1-flags", /* required= */ false, &s1_flags);
                if (r < 0)
                        return r;
                vtd_s1_build(vtd_s1, s1_flags, pgtbl, addr_width);
                send = vtd_s1;
                send_len = sizeof(vtd_s1);
        } else if (data_type == IB_HWPT_DATA_ARM_SMMUV3)
                return tool_error(tool, -EINVAL,
                                  "data-type=smmuv3 needs data= (struct iommu_hwpt_arm_smmuv3)");

        r = tool_get_u32(tool, req, "fault", /* required= */ false, &fault_id);
        if (r < 0)
                return r;
        has_fault = r > 0;
        r = tool_get_as(tool, req, &as);
        if (r < 0)
                return r;

        if (has_fault)
                r = ib_hwpt_alloc_with_fault(tool->client, dev_id, pt_id, flags, data_type, send, send_len, fault_id,
                                             &hwpt);
        else
                r = ib_hwpt_alloc(tool->client, dev_id, pt_id, flags, data_type, send, send_len, &hwpt);
        if (r < 0)
                return r;

        r = tool_set_name(tool, as, hwpt);
        if (r < 0)
                return tool_error(tool, r, "HWPT %u was allocated, but as=%s could not be stored", hwpt, as);
        json_uint(result, "hwpt", hwpt);
        return 0;
}

int cmd_hwpt_free_exec(Tool *tool, const Request *req, Json *result) {
        uint32_t hwpt = 0;
        int r;

        r = tool_get_u32(tool, req, "hwpt", /* required= */ true, &hwpt);
        if (r < 0)
                return r;

        return ib_hwpt_free(tool->client, hwpt);
}

/* ------------------------------------------------------------------ dirty tracking */

int cmd_hwpt_dirty_exec(Tool *tool, const Request *req, Json *result) {
        uint32_t hwpt = 0;
        bool enable = false;
        int r;

        r = tool_get_u32(tool, req, "hwpt", /* required= */ true, &hwpt);
        if (r < 0)
                return r;
        r = tool_get_bool(tool, req, "enable", &enable);
        if (r < 0)
                return r;
        if (r == 0)
                return tool_error(tool, -EINVAL, "key 'enable' is required (yes or no)");
        return ib_hwpt_set_dirty_tracking(tool->client, hwpt, enable);
}

/* The bytes of the bitmap shown as hex by default. */
#define DIRTY_SHOW_DEFAULT 64

int cmd_hwpt_dirty_bitmap_exec(Tool *tool, const Request *req, Json *result) {
        static const char hexdigits[] = "0123456789abcdef";
        uint64_t iova = 0, length = 0, page_size = 4096, show = DIRTY_SHOW_DEFAULT, size = 0, dirty = 0;
        _cleanup_free_ char *hex = NULL;
        _cleanup_close_ int fd = -1;
        const uint8_t *bits;
        uint32_t hwpt = 0;
        bool no_clear = false;
        int r;

        r = tool_get_u32(tool, req, "hwpt", /* required= */ true, &hwpt);
        if (r < 0)
                return r;
        r = tool_get_u64(tool, req, "iova", /* required= */ true, &iova);
        if (r < 0)
                return r;
        r = tool_get_u64(tool, req, "length", /* required= */ true, &length);
        if (r < 0)
                return r;
        r = tool_get_u64(tool, req, "page-size", /* required= */ false, &page_size);
        if (r < 0)
                return r;
        if (page_size == 0)
                return tool_error(tool, -EINVAL, "key 'page-size': 0 is no page size");
        r = tool_get_bool(tool, req, "no-clear", &no_clear);
        if (r < 0)
                return r;
        r = tool_get_u64(tool, req, "show", /* required= */ false, &show);
        if (r < 0)
                return r;

        r = ib_hwpt_get_dirty_bitmap(tool->client, hwpt, iova, length, page_size, no_clear ? IB_DIRTY_NO_CLEAR : 0,
                                     &fd, &size, &dirty);
        if (r < 0)
                return r;

        if (show > size)
                show = size;
        hex = malloc(show * 2 + 1);
        if (!hex)
                return tool_error(tool, -ENOMEM, "out of memory");
        hex[0] = '\0';
        if (show > 0) {
                bits = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
                if (bits == MAP_FAILED)
                        return tool_error(tool, -errno, "cannot map the bitmap memfd: %m");
                for (uint64_t i = 0; i < show; i++) {
                        hex[2 * i] = hexdigits[bits[i] >> 4];
                        hex[2 * i + 1] = hexdigits[bits[i] & 0xf];
                }
                hex[2 * show] = '\0';
                (void) munmap((void *) bits, size);
        }
        json_uint(result, "dirty", dirty);
        json_uint(result, "pages", length / page_size);
        json_uint(result, "size", size);
        json_string(result, "bitmap", hex);
        return 0;
}

/* ------------------------------------------------------------------ invalidation */

/* struct iommu_hwpt_vtd_s1_invalidate, written out (no kernel headers here) */
#define VTD_S1_INV_SIZE 24

int cmd_hwpt_invalidate_exec(Tool *tool, const Request *req, Json *result) {
        _cleanup_free_ uint8_t *data = NULL;
        uint8_t entry[VTD_S1_INV_SIZE] = { 0 };
        const uint8_t *send = entry;
        uint64_t addr = 0, npages = 0, entry_len = VTD_S1_INV_SIZE;
        uint32_t pt = 0, handled = 0, n = 1, flags = 0;
        size_t data_len = 0;
        const char *hex = NULL, *type = NULL;
        uint32_t data_type = IB_HWPT_INVALIDATE_DATA_VTD_S1;
        bool leaf = false;
        int r;

        r = tool_get_u32(tool, req, "pt", /* required= */ true, &pt);
        if (r < 0)
                return r;
        r = tool_get_string(tool, req, "data-type", /* required= */ false, &type);
        if (r < 0)
                return r;
        if (type && strcmp(type, "vtd-s1") == 0)
                data_type = IB_HWPT_INVALIDATE_DATA_VTD_S1;
        else if (type && strcmp(type, "smmuv3") == 0)
                data_type = IB_HWPT_INVALIDATE_DATA_ARM_SMMUV3;
        else if (type)
                return tool_error(tool, -EINVAL, "key 'data-type': '%s' is not vtd-s1 or smmuv3", type);
        r = tool_get_string(tool, req, "data", /* required= */ false, &hex);
        if (r < 0)
                return r;
        if (hex) {
                if (request_find(req, "addr") || request_find(req, "npages") || request_find(req, "leaf"))
                        return tool_error(tool, -EINVAL, "key 'data' excludes the keys 'addr', 'npages' and 'leaf'");
                r = tool_get_u64(tool, req, "entry-len", /* required= */ true, &entry_len);
                if (r < 0)
                        return r;
                r = parse_hex_bytes(tool, hex, &data, &data_len);
                if (r < 0)
                        return r;
                if (entry_len == 0 || entry_len > UINT32_MAX || data_len % entry_len != 0)
                        return tool_error(tool, -EINVAL, "key 'data': %zu bytes are no whole number of %" PRIu64
                                          "-byte entries", data_len, entry_len);
                send = data;
                n = (uint32_t) (data_len / entry_len);
        } else {
                if (data_type != IB_HWPT_INVALIDATE_DATA_VTD_S1)
                        return tool_error(tool, -EINVAL, "data-type=smmuv3 needs data= and entry-len=");
                if (request_find(req, "entry-len"))
                        return tool_error(tool, -EINVAL, "key 'entry-len' needs the key 'data'");
                r = tool_get_u64(tool, req, "addr", /* required= */ true, &addr);
                if (r < 0)
                        return r;
                r = tool_get_u64(tool, req, "npages", /* required= */ true, &npages);
                if (r < 0)
                        return r;
                r = tool_get_bool(tool, req, "leaf", &leaf);
                if (r < 0)
                        return r;
                flags = leaf ? 1 : 0;   /* IOMMU_VTD_INV_FLAGS_LEAF */
                memcpy(entry, &addr, 8);
                memcpy(entry + 8, &npages, 8);
                memcpy(entry + 16, &flags, 4);
        }

        r = ib_hwpt_invalidate(tool->client, pt, data_type, send, (uint32_t) entry_len, n, &handled);
        if (r < 0)
                return r;
        json_uint(result, "handled", handled);
        return 0;
}

/* ------------------------------------------------------------------ fault queues, vIOMMUs */

int cmd_fault_alloc_exec(Tool *tool, const Request *req, Json *result) {
        const char *as = NULL;
        uint32_t fault = 0;
        int fd = -1, r;

        r = tool_get_as(tool, req, &as);
        if (r < 0)
                return r;
        r = ib_fault_queue_alloc(tool->client, &fault, &fd);
        if (r < 0)
                return r;
        /* kept for fault-read until fault-free or exit */
        r = kept_fd_add(&tool->fault_fds, fault, fd);
        if (r < 0)
                return tool_error(tool, r, "fault queue %u was allocated, but its fd could not be kept", fault);
        r = tool_set_name(tool, as, fault);
        if (r < 0)
                return tool_error(tool, r, "fault queue %u was allocated, but as=%s could not be stored", fault, as);
        json_uint(result, "fault", fault);
        json_bool(result, "fd", true);
        return 0;
}

/*
 * struct iommu_hwpt_pgfault of linux/iommufd.h, 40 bytes in the host's byte
 * order: u32 flags, dev_id, pasid, grpid, perm, __reserved; u64 addr; u32
 * length, cookie.  A read takes whole records only (eventq.c
 * iommufd_fault_fops_read: ESPIPE otherwise).
 */
#define PGFAULT_SIZE 40
#define PGFAULT_PER_READ 64

static uint32_t pgfault_u32(const uint8_t *rec, size_t offset) {
        uint32_t v;

        memcpy(&v, rec + offset, sizeof(v));
        return v;
}

static void pgfault_json(Json *j, const uint8_t *rec) {
        uint64_t addr;

        memcpy(&addr, rec + 24, sizeof(addr));
        json_begin_object(j, NULL);
        json_uint(j, "flags", pgfault_u32(rec, 0));
        json_uint(j, "dev_id", pgfault_u32(rec, 4));
        json_uint(j, "pasid", pgfault_u32(rec, 8));
        json_uint(j, "grpid", pgfault_u32(rec, 12));
        json_uint(j, "perm", pgfault_u32(rec, 16));
        json_hex(j, "addr", addr);
        json_uint(j, "length", pgfault_u32(rec, 32));
        json_uint(j, "cookie", pgfault_u32(rec, 36));
        json_end_object(j);
}

int cmd_fault_read_exec(Tool *tool, const Request *req, Json *result) {
        uint8_t buf[PGFAULT_SIZE * PGFAULT_PER_READ];
        uint32_t fault = 0;
        KeptFd *e;
        int flags, r;

        r = tool_get_u32(tool, req, "fault", /* required= */ true, &fault);
        if (r < 0)
                return r;
        e = kept_fd_find(&tool->fault_fds, fault);
        if (!e)
                return tool_error(tool, -ENOENT, "this run holds no fd of fault queue %u (fault-alloc keeps it)",
                                  fault);
        /* the kernel's queue never blocks a read; the sim's (a pipe) would */
        flags = fcntl(e->fd, F_GETFL);
        if (flags < 0 || fcntl(e->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
                r = -errno;
                return tool_error(tool, r, "fault queue %u: cannot make its fd non-blocking: %s", fault,
                                  strerror(-r));
        }

        json_begin_array(result, "faults");
        for (;;) {
                ssize_t n = read(e->fd, buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n < 0) {
                        r = -errno;
                        return tool_error(tool, r, "fault queue %u: read failed: %s", fault, strerror(-r));
                }
                if (n == 0)
                        break;
                if (n % PGFAULT_SIZE != 0)
                        return tool_error(tool, -EIO, "fault queue %u: a read of %zd bytes is no whole number of "
                                          "%d-byte records", fault, n, PGFAULT_SIZE);
                for (ssize_t i = 0; i < n; i += PGFAULT_SIZE)
                        pgfault_json(result, buf + i);
        }
        json_end_array(result);
        return 0;
}

int cmd_fault_free_exec(Tool *tool, const Request *req, Json *result) {
        uint32_t fault = 0;
        int r;

        r = tool_get_u32(tool, req, "fault", /* required= */ true, &fault);
        if (r < 0)
                return r;
        /* an open copy of the queue's fd holds it (EBUSY): ours goes first, whatever the broker answers */
        kept_fd_close(&tool->fault_fds, fault);
        return ib_fault_queue_free(tool->client, fault);
}

int cmd_viommu_alloc_exec(Tool *tool, const Request *req, Json *result) {
        const char *type = NULL, *as = NULL;
        uint32_t dev_id = 0, hwpt = 0, viommu = 0, t = IB_VIOMMU_TYPE_ARM_SMMUV3;
        uint64_t v = 0;
        int r;

        r = tool_get_u32(tool, req, "dev", /* required= */ true, &dev_id);
        if (r < 0)
                return r;
        r = tool_get_u32(tool, req, "hwpt", /* required= */ true, &hwpt);
        if (r < 0)
                return r;
        r = tool_get_string(tool, req, "type", /* required= */ true, &type);
        if (r < 0)
                return r;
        if (strcmp(type, "smmuv3") == 0)
                t = IB_VIOMMU_TYPE_ARM_SMMUV3;
        else if (strcmp(type, "tegra241-cmdqv") == 0)
                t = IB_VIOMMU_TYPE_TEGRA241_CMDQV;
        else if (tool_parse_u64(type, /* allow_max= */ false, &v) >= 0 && v <= UINT32_MAX)
                t = (uint32_t) v;
        else
                return tool_error(tool, -EINVAL, "key 'type': '%s' is not smmuv3, tegra241-cmdqv or a number", type);
        r = tool_get_as(tool, req, &as);
        if (r < 0)
                return r;

        r = ib_viommu_alloc(tool->client, dev_id, hwpt, t, &viommu);
        if (r < 0)
                return r;
        r = tool_set_name(tool, as, viommu);
        if (r < 0)
                return tool_error(tool, r, "vIOMMU %u was allocated, but as=%s could not be stored", viommu, as);
        json_uint(result, "viommu", viommu);
        return 0;
}

int cmd_vdevice_alloc_exec(Tool *tool, const Request *req, Json *result) {
        const char *as = NULL;
        uint32_t viommu = 0, dev_id = 0, vdev = 0;
        uint64_t virt_id = 0;
        int r;

        r = tool_get_u32(tool, req, "viommu", /* required= */ true, &viommu);
        if (r < 0)
                return r;
        r = tool_get_u32(tool, req, "dev", /* required= */ true, &dev_id);
        if (r < 0)
                return r;
        r = tool_get_u64(tool, req, "virt-id", /* required= */ true, &virt_id);
        if (r < 0)
                return r;
        r = tool_get_as(tool, req, &as);
        if (r < 0)
                return r;

        r = ib_vdevice_alloc(tool->client, viommu, dev_id, virt_id, &vdev);
        if (r < 0)
                return r;
        r = tool_set_name(tool, as, vdev);
        if (r < 0)
                return tool_error(tool, r, "vDEVICE %u was allocated, but as=%s could not be stored", vdev, as);
        json_uint(result, "vdevice", vdev);
        return 0;
}

int cmd_viommu_free_exec(Tool *tool, const Request *req, Json *result) {
        uint32_t viommu = 0;
        int r;

        r = tool_get_u32(tool, req, "viommu", /* required= */ true, &viommu);
        if (r < 0)
                return r;
        return ib_viommu_free(tool->client, viommu);
}

int cmd_vdevice_free_exec(Tool *tool, const Request *req, Json *result) {
        uint32_t vdevice = 0;
        int r;

        r = tool_get_u32(tool, req, "vdevice", /* required= */ true, &vdevice);
        if (r < 0)
                return r;
        return ib_vdevice_free(tool->client, vdevice);
}

/* ------------------------------------------------------------------ PASIDs */

int cmd_pasid_attach_exec(Tool *tool, const Request *req, Json *result) {
        uint32_t dev_id = 0, vpasid = 0, pt_id = 0, pasid = 0;
        int r;

        r = tool_get_u32(tool, req, "dev", /* required= */ true, &dev_id);
        if (r < 0)
                return r;
        r = get_u32_value(tool, req, "vpasid", /* required= */ true, &vpasid);
        if (r < 0)
                return r;
        r = tool_get_u32(tool, req, "pt", /* required= */ true, &pt_id);
        if (r < 0)
                return r;

        r = ib_pasid_attach(tool->client, dev_id, vpasid, pt_id, &pasid);
        if (r < 0)
                return r;

        json_uint(result, "pasid", pasid);
        return 0;
}

int cmd_pasid_detach_exec(Tool *tool, const Request *req, Json *result) {
        uint32_t dev_id = 0, vpasid = 0;
        int r;

        r = tool_get_u32(tool, req, "dev", /* required= */ true, &dev_id);
        if (r < 0)
                return r;
        r = get_u32_value(tool, req, "vpasid", /* required= */ true, &vpasid);
        if (r < 0)
                return r;

        return ib_pasid_detach(tool->client, dev_id, vpasid);
}

int cmd_pasid_lookup_exec(Tool *tool, const Request *req, Json *result) {
        uint32_t dev_id = 0, vpasid = 0, pasid = 0, pt_id = 0;
        int r;

        r = tool_get_u32(tool, req, "dev", /* required= */ true, &dev_id);
        if (r < 0)
                return r;
        r = get_u32_value(tool, req, "vpasid", /* required= */ true, &vpasid);
        if (r < 0)
                return r;

        r = ib_pasid_lookup(tool->client, dev_id, vpasid, &pasid, &pt_id);
        if (r < 0)
                return r;

        json_uint(result, "pasid", pasid);
        json_uint(result, "pt", pt_id);
        return 0;
}
