/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmm-script.c - see vmm-script.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/macro.h"
#include "tests/lib/util-broker.h"
#include "tests/soak/vmm-script.h"

#define RW (IB_MAP_READABLE | IB_MAP_WRITEABLE)

_printf_(3, 4)
static int vmm_fail(Vmm *v, int r, const char *fmt, ...) {
        va_list ap;

        if (v->mode == VMM_MODE_STRICT && !v->failed) {
                va_start(ap, fmt);
                (void) vsnprintf(v->error, sizeof(v->error), fmt, ap);
                va_end(ap);
                v->failed = true;
        }
        return r < 0 ? r : -EPROTO;
}

/*
 * Strict mode, after a reply: nothing more on the socket, since this VMM has
 * no other request outstanding: a second reply to the same request, or a
 * hang-up, would be there now.  0, or the failure.
 */
static int vmm_check_quiet(Vmm *v, const char *what) {
        char byte;
        ssize_t n;

        if (v->mode != VMM_MODE_STRICT)
                return 0;
        n = recv(ib_client_get_fd(v->c), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0)
                return vmm_fail(v, -EPROTO, "%s: a second message arrived after its reply", what);
        if (n == 0)
                return vmm_fail(v, -ECONNRESET, "%s: the broker hung up after replying", what);
        if (errno != EAGAIN && errno != EWOULDBLOCK)
                return vmm_fail(v, -errno, "%s: %s on the socket", what, strerror(errno));
        return 0;
}

/*
 * Whether a request that returned r is sent once more: strict mode, the
 * injected ENOMEM, the first one of the run, and nothing else came with it.
 */
static bool vmm_retry(Vmm *v, const char *what, int r) {
        if (v->mode != VMM_MODE_STRICT || r != -ENOMEM)
                return false;
        v->n_enomem++;
        return v->n_enomem == 1 && vmm_check_quiet(v, what) == 0;
}

/* After each request: the count, the progress hooks; strict mode wants success and a quiet socket. */
static int vmm_check(Vmm *v, const char *what, int r) {
        v->n_requests++;
        if (v->progress)
                *v->progress = (uint32_t) v->stage << 16 | (v->n_requests & 0xffff);
        if (v->on_reply)
                v->on_reply(v);
        if (r < 0)
                return vmm_fail(v, r, "%s: %s (%s)%s", what, strerror(-r), ib_client_error(v->c),
                                v->n_enomem > 1 ? ", the second ENOMEM of this run" : "");
        return vmm_check_quiet(v, what) < 0 ? -EPROTO : r;
}

/* One request: its result; in strict mode the injected ENOMEM is counted and the request sent again. */
#define REQUEST(v, expr)                                                \
        ({                                                              \
                int _r = (expr);                                        \
                if (vmm_retry((v), #expr, _r))                          \
                        _r = (expr);                                    \
                vmm_check((v), #expr, _r);                              \
        })

#define DO(v, expr)                                                     \
        do {                                                            \
                if (REQUEST(v, expr) < 0)                               \
                        return -1;                                      \
        } while (0)

int vmm_init(Vmm *v, VmmMode mode) {
        *v = (Vmm) {
                .mode = mode,
                .dev_fd = { -1, -1 },
                .fault_fd = -1,
        };
        v->memfd = test_memfd("vmm-ram", VMM_MEMFD_SIZE);
        return v->memfd < 0 ? v->memfd : 0;
}

void vmm_close_fds(Vmm *v) {
        for (size_t i = 0; i < 2; i++)
                if (v->dev_fd[i] >= 0) {
                        close(v->dev_fd[i]);
                        v->dev_fd[i] = -1;
                }
        if (v->fault_fd >= 0) {
                close(v->fault_fd);
                v->fault_fd = -1;
        }
}

void vmm_hangup(Vmm *v) {
        v->c = ib_client_free(v->c);
}

void vmm_done(Vmm *v) {
        vmm_hangup(v);
        vmm_close_fds(v);
        if (v->memfd >= 0)
                close(v->memfd);
        v->memfd = -1;
}

int vmm_connect(Vmm *v, const char *socket_path) {
        int r;

        r = ib_client_connect(socket_path, "vmm-script", &v->c);
        if (r < 0 && v->mode == VMM_MODE_STRICT) {
                /* the injected failure at session start (ctx_new): the broker hangs up unanswered */
                v->n_enomem++;
                v->refused = true;
                r = ib_client_connect(socket_path, "vmm-script", &v->c);
        }
        if (r < 0)
                return vmm_fail(v, r, "connect: %s", strerror(-r));
        return 0;
}

static void vmm_note_map(Vmm *v, uint32_t ioas, uint64_t iova, uint64_t length) {
        if (v->n_maps < VMM_MAX_MAPS)
                v->maps[v->n_maps++] = (VmmMap) { ioas, iova, length };
}

int vmm_ioas_window(Vmm *v) {
        ib_ioas_alloc_args a = { .window = IB_IOVA_WINDOW_32BIT };
        ib_iova_range allow = { 0x100000, 0xefffffff }, ranges[16];
        size_t n = 16;
        uint64_t align = 0;

        DO(v, ib_ioas_alloc(v->c, &a, &v->ioas));
        DO(v, ib_iova_ranges(v->c, v->ioas, ranges, &n, &align));
        DO(v, ib_allow_iovas(v->c, v->ioas, &allow, 1));
        n = 16;
        DO(v, ib_iova_ranges(v->c, v->ioas, ranges, &n, &align));
        return 0;
}

int vmm_maps(Vmm *v) {
        uint64_t iova = 0x100000;

        DO(v, ib_map(v->c, v->ioas, v->memfd, 0, 1 << 20, RW | IB_MAP_FIXED_IOVA, &iova));
        vmm_note_map(v, v->ioas, iova, 1 << 20);
        iova = 0;
        DO(v, ib_map(v->c, v->ioas, v->memfd, 1 << 20, 2 << 20, RW, &iova));
        vmm_note_map(v, v->ioas, iova, 2 << 20);
        iova = 0;
        DO(v, ib_map(v->c, v->ioas, v->memfd, 3 << 20, 64 << 10, RW, &iova));
        vmm_note_map(v, v->ioas, iova, 64 << 10);
        return 0;
}

/* Runs batch b; strict: an operation that failed with the injected ENOMEM is done once more on its own. */
static int vmm_batch_run(Vmm *v, ib_batch *b, const VmmMap *ops, const bool *is_map) {
        size_t n = ib_batch_size(b);

        if (REQUEST(v, ib_batch_run(v->c, b, /* stop_on_error= */ false)) < 0)
                return -1;
        for (size_t i = 0; i < n; i++) {
                const char *error = NULL;
                uint64_t value = 0, iova = ops[i].iova;
                int r = ib_batch_result(b, i, &value, &error);

                if (r == -ENOMEM && v->mode == VMM_MODE_STRICT) {
                        v->n_enomem++;
                        if (v->n_enomem > 1)
                                return vmm_fail(v, r, "batch operation %zu: the second ENOMEM of this run (%s)",
                                                i, error ?: "");
                        if (is_map[i])
                                r = REQUEST(v, ib_map(v->c, ops[i].ioas, v->memfd, (4 << 20) + i * (64 << 10),
                                                      ops[i].length, RW | IB_MAP_FIXED_IOVA, &iova));
                        else
                                r = REQUEST(v, ib_unmap(v->c, ops[i].ioas, ops[i].iova, ops[i].length, NULL));
                        if (r < 0)
                                return -1;
                } else if (r < 0) {
                        (void) vmm_fail(v, r, "batch operation %zu: %s (%s)", i, strerror(-r), error ?: "");
                        if (v->mode == VMM_MODE_STRICT)
                                return -1;
                        continue;
                }
                if (is_map[i])
                        vmm_note_map(v, ops[i].ioas, ops[i].iova, ops[i].length);
        }
        return 0;
}

int vmm_batch(Vmm *v) {
        VmmMap ops[6];
        bool is_map[6];
        ib_batch *b = NULL;
        int r;

        if (ib_batch_new(&b) < 0)
                return vmm_fail(v, -ENOMEM, "ib_batch_new");
        for (size_t i = 0; i < 6; i++) {
                ops[i] = (VmmMap) { v->ioas, 0x10000000 + i * 0x100000, 64 << 10 };
                is_map[i] = true;
                (void) ib_batch_add_map(b, v->ioas, v->memfd, (4 << 20) + i * (64 << 10), 64 << 10,
                                        RW | IB_MAP_FIXED_IOVA, ops[i].iova);
        }
        r = vmm_batch_run(v, b, ops, is_map);
        b = ib_batch_free(b);
        if (r < 0)
                return r;

        if (ib_batch_new(&b) < 0)
                return vmm_fail(v, -ENOMEM, "ib_batch_new");
        for (size_t i = 0; i < 3; i++) {
                ops[i] = (VmmMap) { v->ioas, 0x10000000 + 2 * i * 0x100000, 64 << 10 };
                is_map[i] = false;
                (void) ib_batch_add_unmap(b, v->ioas, ops[i].iova, ops[i].length);
        }
        /* memfd offset 4 MiB + i * 64 KiB for operation i, as vmm_batch_run's retry maps it */
        ops[3] = (VmmMap) { v->ioas, 0x20000000, 64 << 10 };
        is_map[3] = true;
        (void) ib_batch_add_map(b, v->ioas, v->memfd, (4 << 20) + 3 * (64 << 10), 64 << 10,
                                RW | IB_MAP_FIXED_IOVA, ops[3].iova);
        r = vmm_batch_run(v, b, ops, is_map);
        ib_batch_free(b);
        return r;
}

int vmm_copy(Vmm *v) {
        uint64_t dst = 0;

        DO(v, ib_ioas_alloc(v->c, NULL, &v->ioas2));
        /* the fixed map of vmm_maps(), whole */
        DO(v, ib_copy(v->c, v->ioas2, v->ioas, 0x100000, 1 << 20, RW, &dst));
        vmm_note_map(v, v->ioas2, dst, 1 << 20);
        dst = 0x40000000;
        DO(v, ib_copy(v->c, v->ioas2, v->ioas, 0x100000, 1 << 20, IB_MAP_READABLE | IB_MAP_FIXED_IOVA, &dst));
        return 0;
}

int vmm_devices(Vmm *v, bool both) {
        static const char *const names[2] = { VMM_DEVICE_RICH, VMM_DEVICE_PLAIN };
        ib_hw_info hw;

        for (size_t i = 0; i < (both ? 2U : 1U); i++) {
                DO(v, ib_device_open(v->c, names[i], &v->dev[i], &v->dev_fd[i]));
                DO(v, ib_hw_info_get(v->c, v->dev[i], &hw));
                DO(v, ib_device_attach(v->c, v->dev[i], v->ioas, NULL));
        }
        return 0;
}

int vmm_hwpts(Vmm *v) {
        /* struct iommu_hwpt_vtd_s1 and struct iommu_hwpt_vtd_s1_invalidate */
        static const struct {
                uint64_t flags, pgtbl_addr;
                uint32_t addr_width, reserved;
        } s1 = { .pgtbl_addr = 0x1000000, .addr_width = 48 };
        static const struct {
                uint64_t addr, npages;
                uint32_t flags, reserved;
        } inv = { .addr = 0x1000, .npages = 1 };
        uint32_t handled = 0, hwpt = 0;

        if (v->dev[0] == 0)
                return -1;
        DO(v, ib_hwpt_alloc(v->c, v->dev[0], v->ioas, 0, IB_HWPT_DATA_NONE, NULL, 0, &v->hwpt_paging));
        DO(v, ib_device_attach(v->c, v->dev[0], v->hwpt_paging, &hwpt));
        DO(v, ib_hwpt_alloc(v->c, v->dev[0], v->ioas, IB_HWPT_NEST_PARENT, IB_HWPT_DATA_NONE, NULL, 0,
                            &v->hwpt_parent));
        DO(v, ib_hwpt_alloc(v->c, v->dev[0], v->hwpt_parent, 0, IB_HWPT_DATA_VTD_S1, &s1, sizeof(s1),
                            &v->hwpt_nested));
        DO(v, ib_device_attach(v->c, v->dev[0], v->hwpt_nested, &hwpt));
        DO(v, ib_hwpt_invalidate(v->c, v->hwpt_nested, IB_HWPT_INVALIDATE_DATA_VTD_S1, &inv, sizeof(inv), 1,
                                 &handled));
        DO(v, ib_device_attach(v->c, v->dev[0], v->ioas, &hwpt));
        return 0;
}

int vmm_dirty(Vmm *v) {
        uint64_t size = 0, dirty = 0;
        int fd = -1;

        if (v->dev[0] == 0)
                return -1;
        DO(v, ib_hwpt_alloc(v->c, v->dev[0], v->ioas, IB_HWPT_DIRTY_TRACKING, IB_HWPT_DATA_NONE, NULL, 0,
                            &v->hwpt_dirty));
        DO(v, ib_device_attach(v->c, v->dev[0], v->hwpt_dirty, NULL));
        DO(v, ib_hwpt_set_dirty_tracking(v->c, v->hwpt_dirty, true));
        DO(v, ib_hwpt_get_dirty_bitmap(v->c, v->hwpt_dirty, 0x100000, 1 << 20, 0, IB_DIRTY_NO_CLEAR, &fd, &size,
                                       &dirty));
        close(fd);
        fd = -1;
        DO(v, ib_hwpt_get_dirty_bitmap(v->c, v->hwpt_dirty, 0x100000, 1 << 20, 8192, 0, &fd, &size, &dirty));
        close(fd);
        DO(v, ib_hwpt_set_dirty_tracking(v->c, v->hwpt_dirty, false));
        DO(v, ib_hwpt_set_dirty_tracking(v->c, v->hwpt_dirty, true));        /* left on for the teardown */
        return 0;
}

int vmm_fault_queue(Vmm *v) {
        if (v->dev[0] == 0)
                return -1;
        DO(v, ib_fault_queue_alloc(v->c, &v->fault, &v->fault_fd));
        /*
         * The scripts read no faults.  An open copy of the queue's fd holds
         * the queue (eventq.c iommufd_eventq_init), in the kernel as in the
         * sim: a session that ended with it still open would find the queue
         * busy at teardown, which these scripts do not test.
         */
        v->fault_fd = safe_close(v->fault_fd);
        DO(v, ib_hwpt_alloc_with_fault(v->c, v->dev[0], v->ioas, 0, IB_HWPT_DATA_NONE, NULL, 0, v->fault,
                                       &v->hwpt_fault));
        /* no attach: the sim's devices cannot report I/O page faults (ENODEV, as without IOPF) */
        return 0;
}

int vmm_pasid(Vmm *v) {
        uint32_t pasid = 0, pt = 0, pt2 = 0;

        if (v->dev[0] == 0)
                return -1;
        DO(v, ib_hwpt_alloc(v->c, v->dev[0], v->ioas, IB_HWPT_PASID, IB_HWPT_DATA_NONE, NULL, 0,
                            &v->hwpt_pasid));
        DO(v, ib_hwpt_alloc(v->c, v->dev[0], v->ioas, IB_HWPT_PASID, IB_HWPT_DATA_NONE, NULL, 0, &pt2));
        /* the RID's page table must take PASIDs too */
        DO(v, ib_device_attach(v->c, v->dev[0], v->hwpt_pasid, NULL));
        DO(v, ib_pasid_attach(v->c, v->dev[0], 5, pt2, &v->pasid));
        DO(v, ib_pasid_lookup(v->c, v->dev[0], 5, &pasid, &pt));
        DO(v, ib_pasid_attach(v->c, v->dev[0], 5, v->hwpt_pasid, &pasid));
        DO(v, ib_pasid_detach(v->c, v->dev[0], 5));
        DO(v, ib_hwpt_free(v->c, pt2));
        DO(v, ib_pasid_attach(v->c, v->dev[0], 7, v->hwpt_pasid, &v->pasid));   /* held at the end */
        return 0;
}

int vmm_unmap_all(Vmm *v) {
        uint64_t n = 0;

        if (v->ioas)
                DO(v, ib_unmap(v->c, v->ioas, 0, UINT64_MAX, &n));
        if (v->ioas2)
                DO(v, ib_unmap(v->c, v->ioas2, 0, UINT64_MAX, &n));
        v->n_maps = 0;
        return 0;
}

int vmm_device_close(Vmm *v, bool keep_fd) {
        for (size_t i = 0; i < 2; i++) {
                if (v->dev[i] == 0)
                        continue;
                /* a VMM lets go of its fd, then tells the broker */
                if (!keep_fd && v->dev_fd[i] >= 0) {
                        close(v->dev_fd[i]);
                        v->dev_fd[i] = -1;
                }
                DO(v, ib_device_close(v->c, v->dev[i]));
                v->dev[i] = 0;
        }
        return 0;
}

int vmm_free_all(Vmm *v) {
        uint32_t *hwpts[] = { &v->hwpt_nested, &v->hwpt_parent, &v->hwpt_paging, &v->hwpt_dirty,
                              &v->hwpt_pasid, &v->hwpt_fault };

        for (size_t i = 0; i < sizeof(hwpts) / sizeof(hwpts[0]); i++) {
                if (*hwpts[i] == 0)
                        continue;
                DO(v, ib_hwpt_free(v->c, *hwpts[i]));
                *hwpts[i] = 0;
        }
        if (v->ioas2)
                DO(v, ib_ioas_free(v->c, v->ioas2));
        v->ioas2 = 0;
        if (v->ioas)
                DO(v, ib_ioas_free(v->c, v->ioas));
        v->ioas = 0;
        return 0;
}

const char *vmm_stage_name(VmmStage s) {
        static const char *const names[_VMM_STAGE_MAX] = {
                [VMM_STAGE_CONNECT] = "connect",
                [VMM_STAGE_IOAS] = "ioas",
                [VMM_STAGE_MAPS] = "maps",
                [VMM_STAGE_BATCH] = "batch",
                [VMM_STAGE_COPY] = "copy",
                [VMM_STAGE_DEVICES] = "devices",
                [VMM_STAGE_HWPTS] = "hwpts",
                [VMM_STAGE_DIRTY] = "dirty",
                [VMM_STAGE_FAULT_QUEUE] = "fault-queue",
                [VMM_STAGE_PASID] = "pasid",
                [VMM_STAGE_UNMAP_ALL] = "unmap-all",
                [VMM_STAGE_DEVICE_CLOSE] = "device-close",
                [VMM_STAGE_FREE_ALL] = "free-all",
                [VMM_STAGE_DONE] = "done",
        };

        return s < _VMM_STAGE_MAX ? names[s] : "?";
}

/* Enters stage s; the parent watching progress sees it at once. */
static void vmm_stage(Vmm *v, VmmStage s) {
        v->stage = s;
        if (v->progress)
                *v->progress = (uint32_t) v->stage << 16 | (v->n_requests & 0xffff);
}

int vmm_full_script(Vmm *v, bool clean_end) {
        vmm_stage(v, VMM_STAGE_IOAS);
        if (vmm_ioas_window(v) < 0)
                return -1;
        vmm_stage(v, VMM_STAGE_MAPS);
        if (vmm_maps(v) < 0)
                return -1;
        vmm_stage(v, VMM_STAGE_BATCH);
        (void) vmm_batch(v);
        vmm_stage(v, VMM_STAGE_COPY);
        (void) vmm_copy(v);
        vmm_stage(v, VMM_STAGE_DEVICES);
        /* a device open in another session is EBUSY: go on without it */
        if (vmm_devices(v, true) >= 0 || v->dev[0] != 0) {
                vmm_stage(v, VMM_STAGE_HWPTS);
                (void) vmm_hwpts(v);
                vmm_stage(v, VMM_STAGE_DIRTY);
                (void) vmm_dirty(v);
                vmm_stage(v, VMM_STAGE_FAULT_QUEUE);
                (void) vmm_fault_queue(v);
                vmm_stage(v, VMM_STAGE_PASID);
                (void) vmm_pasid(v);
        }
        if (clean_end) {
                vmm_stage(v, VMM_STAGE_UNMAP_ALL);
                (void) vmm_unmap_all(v);
                vmm_stage(v, VMM_STAGE_DEVICE_CLOSE);
                (void) vmm_device_close(v, false);
                vmm_close_fds(v);
                vmm_stage(v, VMM_STAGE_FREE_ALL);
                if (vmm_free_all(v) < 0)
                        return -1;
        }
        vmm_stage(v, VMM_STAGE_DONE);
        return 0;
}
