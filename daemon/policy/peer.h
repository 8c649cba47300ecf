/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * peer.h - who is on the other end of a connection, as the kernel says.
 *
 * Owns: PeerIdentity, the facts policy matching is allowed to use: uid, gid
 * and pid from SO_PEERCRED, the supplementary groups from /proc/PID/status,
 * and the systemd unit, slice and cgroup of that pid (sd-login).  Where the
 * session has a pidfd (SO_PEERPIDFD) the facts read through the pid are
 * confirmed afterwards through the pidfd, so a pid recycled between accept
 * and the read cannot lend its identity.
 * Must never: take anything the client says about itself, log above debug,
 * or decide anything (policy.c matches).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "common/macro.h"

typedef struct PeerIdentity {
        pid_t pid;
        uid_t uid;
        gid_t gid;                      /* primary, from SO_PEERCRED */
        gid_t *groups;                  /* supplementary ("Groups:" of /proc/PID/status) */
        size_t n_groups;
        char *unit;                     /* system unit ("qemu-vm1.service"); NULL: none or unknown */
        char *slice;                    /* innermost slice ("machine.slice"); NULL: unknown */
        char *cgroup;                   /* cgroup path ("/machine.slice/vm1.scope"); NULL: unknown */
} PeerIdentity;

#define PEER_IDENTITY_NULL { .pid = 0, .uid = (uid_t) -1, .gid = (gid_t) -1 }

/**
 * peer_identity_get() - capture a connected peer's identity
 * @ret: filled on success (release with peer_identity_done()); untouched on failure
 * @cred: the peer's credentials from SO_PEERCRED at accept
 * @pidfd: the peer's pidfd from SO_PEERPIDFD, or -1 where the kernel has none
 *
 * Reads the supplementary groups and asks sd-login for the unit, slice and
 * cgroup of @cred->pid.  A fact sd-login cannot tell (not in a unit, no
 * systemd on the host) is left NULL; such a peer simply does not match keys
 * that need it.  With @pidfd >= 0 the process is checked to be still alive
 * after every read, so all facts belong to the process that connected; with
 * @pidfd < 0 the pid is trusted as is (kernels before 6.5).
 *
 * Return: 0, -ESRCH if the peer is gone (or its pid is not visible to us),
 * -ENOMEM, or another -errno from reading /proc.
 */
int peer_identity_get(PeerIdentity *ret, const struct ucred *cred, int pidfd);

/**
 * peer_seccomp_confined() - whether a peer runs under a seccomp filter
 * @pid: the peer's pid (SO_PEERCRED)
 * @pidfd: its pidfd, or -1
 * @ret: true if /proc/PID/status shows a seccomp filter and no_new_privs
 *
 * Which calls the filter denies cannot be seen from outside: this tells only
 * that the process confined itself somehow (ib_confine_device_fds() is the
 * filter meant).  With @pidfd >= 0 the process is checked to be alive after
 * the read, as for peer_identity_get().
 *
 * Return: 0, -ESRCH if the peer is gone, or another -errno from /proc.
 */
int peer_seccomp_confined(pid_t pid, int pidfd, bool *ret);

typedef enum PeerCapability {
        PEER_CAPABILITY_NONE,           /* not held, and no exec can give it (no_new_privs, or not in the bounding set) */
        PEER_CAPABILITY_HELD,           /* in its effective, permitted or ambient set */
        PEER_CAPABILITY_GAINABLE,       /* in its bounding set without no_new_privs: an exec could give it */
} PeerCapability;

/**
 * peer_capability() - whether a peer holds, or could gain, a capability
 * @pid: the peer's pid
 * @pidfd: its pidfd, or -1 (then checked to be alive after the read)
 * @cap: CAP_*
 * @ret: what /proc/PID/status says
 *
 * Return: 0, -ESRCH if the peer is gone, or another -errno from /proc.
 */
int peer_capability(pid_t pid, int pidfd, unsigned cap, PeerCapability *ret);
/*
 * The pid and real uid of the process behind a pidfd someone sent: -EBADF if
 * it is no pidfd, -ESRCH if the process is gone or in a pid namespace we
 * cannot see.
 */
int peer_from_pidfd(int pidfd, pid_t *ret_pid, uid_t *ret_uid);
/* 0 if the process behind pidfd is still there (zombies count), -ESRCH if it is gone. */
int peer_alive(int pidfd);

/**
 * peer_identity_done() - free what an identity holds and reset it
 * @id: an identity filled by peer_identity_get() or initialized to
 *      PEER_IDENTITY_NULL; may be NULL
 */
void peer_identity_done(PeerIdentity *id);

/**
 * peer_identity_copy() - a deep copy of an identity captured earlier
 * @ret: filled on success (release with peer_identity_done())
 * @src: the identity (a restarted broker's: the one captured at accept)
 *
 * Returns 0 or -ENOMEM.
 */
int peer_identity_copy(PeerIdentity *ret, const PeerIdentity *src);
