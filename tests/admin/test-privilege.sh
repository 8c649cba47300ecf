#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-privilege.sh - what iommu-brokerd keeps of root after start-up (TAP).
#
# Starts the real daemon (sim backend, no admin bus) in the ways it is run:
# as root, as root with the bounding set its unit gives it, with --user, and
# unprivileged; reads /proc/PID/status once it serves and checks every
# capability set against the documented list (daemon/host/privilege.c:
# CAP_IPC_LOCK effective, CAP_SYS_RESOURCE permitted only), no_new_privs, and
# the uid.  Where this machine's own bounding set lacks CAP_SYS_RESOURCE (some
# containers), the daemon cannot hold it and keeps CAP_IPC_LOCK alone.
# Needs root.
set -u
. "$IB_TOP_SRCDIR/tests/admin/lib.sh"
need setpriv
[ "$(id -u)" -eq 0 ] || skip_all "needs root"

# CAP_KILL is capability 5, CAP_IPC_LOCK 14, CAP_SYS_RESOURCE 24.
EFF=0000000000004000            # CAP_IPC_LOCK
bnd=$(awk '$1 == "CapBnd:" { print $2 }' /proc/self/status)
if [ $(( 0x$bnd >> 24 & 1 )) = 1 ]; then
        # and CAP_KILL, CAP_SYS_RESOURCE, permitted only (delegated devices)
        KEPT=0000000001004020
        KEPT_NAMES="cap_kill cap_ipc_lock cap_sys_resource"
        UNIT_BOUNDING=-all,+kill,+ipc_lock,+sys_resource
else
        KEPT=0000000000004020
        KEPT_NAMES="cap_kill cap_ipc_lock"
        UNIT_BOUNDING=-all,+kill,+ipc_lock
fi
NONE=0000000000000000

plan 12

# start_daemon LOG [PREFIX...] -- [ARGS...]: the daemon on $ib_tmp/vmm.sock, run
# under PREFIX (e.g. setpriv ...); waits until it accepts.  Sets $pid.
start_daemon() {
        log=$1
        shift
        rm -f "$ib_tmp/vmm.sock"
        prefix=
        while [ $# -gt 0 ] && [ "$1" != -- ]; do
                prefix="$prefix $1"
                shift
        done
        [ $# -gt 0 ] && shift
        # shellcheck disable=SC2086
        $prefix "$IB_DAEMON" --backend=sim --admin-bus=none --socket "$ib_tmp/vmm.sock" --log-level=info "$@" \
                > "$log" 2>&1 &
        pid=$!
        ib_pids="$ib_pids $pid"
        if ! wait_for 10 "$IB_CLIENT" --socket "$ib_tmp/vmm.sock" hello > /dev/null; then
                diag < "$log"
                return 1
        fi
}

stop_daemon() {
        kill -TERM "$pid" 2>/dev/null
        wait "$pid"
}

# status_of PID FIELD: the value of FIELD: in /proc/PID/status.
status_of() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# caps_are PID EFF PRM BND INH AMB
caps_are() {
        got="CapEff=$(status_of "$1" CapEff) CapPrm=$(status_of "$1" CapPrm) CapBnd=$(status_of "$1" CapBnd)"
        got="$got CapInh=$(status_of "$1" CapInh) CapAmb=$(status_of "$1" CapAmb)"
        want="CapEff=$2 CapPrm=$3 CapBnd=$4 CapInh=$5 CapAmb=$6"
        echo "got  $got" | diag
        [ "$got" = "$want" ] || { echo "want $want" | diag; return 1; }
}

# ---- as root
if start_daemon "$ib_tmp/root.log"; then
        check "as root: CapEff is exactly CAP_IPC_LOCK, CapPrm and CapBnd are $KEPT_NAMES; CapInh and CapAmb empty" \
                caps_are "$pid" $EFF $KEPT $KEPT $NONE $NONE
        check "as root: no_new_privs is set" [ "$(status_of "$pid" NoNewPrivs)" = 1 ]
        check "as root: the daemon logs what it kept" grep -q "capabilities: cap_ipc_lock, permitted $KEPT_NAMES (bounding set: $KEPT_NAMES)" \
                "$ib_tmp/root.log"
        stop_daemon
        check "as root: it still stops cleanly" [ $? -eq 0 ]
else
        for _ in 1 2 3 4; do notok "as root: the daemon starts"; done
fi

# ---- as root under the unit's CapabilityBoundingSet=CAP_IPC_LOCK CAP_SYS_RESOURCE
if start_daemon "$ib_tmp/unit.log" setpriv --bounding-set=$UNIT_BOUNDING --inh-caps=-all --; then
        check "with the unit's bounding set: the same sets" \
                caps_are "$pid" $EFF $KEPT $KEPT $NONE $NONE
        stop_daemon
else
        notok "with the unit's bounding set: the daemon starts"
fi

# ---- --user
if start_daemon "$ib_tmp/user.log" -- --user=nobody; then
        check "--user=nobody: runs as nobody" \
                [ "$(status_of "$pid" Uid | cut -f1)" = "$nobody_uid" ]
        check "--user=nobody: the uid is set everywhere (real, effective, saved, fs)" \
                sh -c "grep -Eq '^Uid:[[:space:]]+${nobody_uid}[[:space:]]+${nobody_uid}[[:space:]]+${nobody_uid}[[:space:]]+${nobody_uid}\$' /proc/$pid/status"
        check "--user=nobody: CapEff is exactly CAP_IPC_LOCK, CapPrm and CapBnd are $KEPT_NAMES" \
                caps_are "$pid" $EFF $KEPT $KEPT $NONE $NONE
        check "--user=nobody: the daemon says whom it runs as" grep -q "running as user 'nobody'" "$ib_tmp/user.log"
        stop_daemon
else
        for _ in 1 2 3 4; do notok "--user=nobody: the daemon starts"; done
fi

# ---- started unprivileged
chmod 0777 "$ib_tmp"
if start_daemon "$ib_tmp/nobody.log" setpriv --reuid="$nobody_uid" --regid="$nobody_gid" --clear-groups --; then
        check "started unprivileged: runs with no capabilities and serves" \
                sh -c "[ \"\$(awk '\$1 == \"CapEff:\" { print \$2 }' /proc/$pid/status)\" = $NONE ]"
        stop_daemon
else
        notok "started unprivileged: the daemon starts"
fi
as_nobody "$IB_DAEMON" --backend=sim --admin-bus=none --socket "$ib_tmp/x.sock" --user=nobody > "$ib_tmp/out" 2>&1
rc=$?
diag < "$ib_tmp/out"
check "--user without root is refused, saying to start as root" \
        sh -c "[ $rc -ne 0 ] && grep -q 'start it as root' '$ib_tmp/out'"
chmod 0755 "$ib_tmp"

# ---- refusals
"$IB_DAEMON" --backend=sim --admin-bus=none --socket "$ib_tmp/x.sock" --user=no-such-user-ib > "$ib_tmp/out" 2>&1
rc=$?
diag < "$ib_tmp/out"
check "--user with an unknown user is refused" \
        sh -c "[ $rc -ne 0 ] && grep -q \"cannot switch to user 'no-such-user-ib'\" '$ib_tmp/out'"

finish
