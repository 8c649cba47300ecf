# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/admin/lib.sh - sourced by the admin tests (POSIX sh + TAP).
#
# Owns: TAP output (plan, ok/notok, diag, check, skip_all), a private
# temporary directory removed at exit with every process started through
# spawn(), a private dbus-daemon (a real bus) whose policy is the shipped
# units/iommu-broker-dbus.conf plus a default deny-all base like the system
# bus's, starting and stopping a sim-backend broker on that bus, and running
# a command as an unprivileged user.
#
# Needs $IB_DAEMON, $IB_CTL, $IB_CLIENT, $IB_TOP_SRCDIR (make check sets them).

n=0
failed=0
ib_pids=

plan() { echo "1..$1"; }
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
diag() { sed 's/^/# /'; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
# check DESCRIPTION COMMAND...: ok if COMMAND succeeds.
check() {
        desc=$1
        shift
        if "$@"; then ok "$desc"; else notok "$desc"; fi
}
finish() { exit $failed; }
# jqe ARGS...: jq -e, quietly (for check).
jqe() { jq -e "$@" >/dev/null; }
# has_line FILE [JQ-ARGS...] FILTER: some JSON line of FILE makes FILTER true
# (jq 1.6's -e looks at the last input only, so slurp).
has_line() {
        hl_file=$1
        shift
        hl_n=$#
        hl_i=1
        for hl_a in "$@"; do
                if [ $hl_i -eq $hl_n ]; then
                        set -- "$@" "any(.[]; $hl_a)"
                else
                        set -- "$@" "$hl_a"
                fi
                hl_i=$((hl_i + 1))
        done
        shift $hl_n
        jq -e -s "$@" "$hl_file" >/dev/null
}

need() {
        for p in "$@"; do
                command -v "$p" >/dev/null 2>&1 || skip_all "$p is not installed"
        done
}

ib_cleanup() {
        for p in $ib_pids; do
                kill -TERM "$p" 2>/dev/null
        done
        for p in $ib_pids; do
                wait "$p" 2>/dev/null
        done
        [ -n "${ib_tmp:-}" ] && rm -rf "$ib_tmp"
}
trap ib_cleanup EXIT

ib_tmp=$(mktemp -d /tmp/ib-admin.XXXXXX) || exit 1
# The unprivileged caller must reach the bus socket in here.
chmod 0755 "$ib_tmp"

# spawn COMMAND...: start in the background, remembered for the cleanup; sets $spawned.
spawn() {
        "$@" &
        spawned=$!
        ib_pids="$ib_pids $spawned"
}

# stop_pid PID: SIGTERM, SIGKILL after 5 s; returns its exit status.
stop_pid() {
        kill -TERM "$1" 2>/dev/null
        sp_i=0
        while kill -0 "$1" 2>/dev/null && [ $sp_i -lt 100 ]; do
                sleep 0.05
                sp_i=$((sp_i + 1))
        done
        kill -KILL "$1" 2>/dev/null
        wait "$1"
}

# wait_for TIMEOUT_S COMMAND...: retry every 50 ms until COMMAND succeeds.
wait_for() {
        limit=$(($1 * 20))
        shift
        i=0
        while ! "$@" 2>/dev/null; do
                i=$((i + 1))
                [ $i -le $limit ] || return 1
                sleep 0.05
        done
        return 0
}

nobody_uid=$(id -u nobody 2>/dev/null || echo 65534)
nobody_gid=$(getent group nogroup 2>/dev/null | cut -d: -f3)
[ -n "$nobody_gid" ] || nobody_gid=65534
# as_nobody COMMAND...: run as uid nobody, gid nogroup, no supplementary groups.
as_nobody() {
        setpriv --reuid="$nobody_uid" --regid="$nobody_gid" --clear-groups -- "$@"
}

# bus_start: a private system-bus-like dbus-daemon; sets $BUS (its address).
bus_start() {
        cat > "$ib_tmp/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$ib_tmp/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <include>$IB_TOP_SRCDIR/units/iommu-broker-dbus.conf</include>
</busconfig>
EOF
        spawn dbus-daemon --config-file="$ib_tmp/bus.conf" --nofork --nopidfile 2> "$ib_tmp/bus.log"
        BUS="unix:path=$ib_tmp/bus"
        wait_for 10 test -S "$ib_tmp/bus"
}

ctl() { "$IB_CTL" --bus="$BUS" "$@"; }

# broker_start [ARGS...]: the sim broker on $ib_tmp/vmm.sock serving the admin
# API on $BUS; waits until it owns the name.  Its stderr: $ib_tmp/broker.log.
broker_start() {
        rm -f "$ib_tmp/vmm.sock"
        spawn "$IB_DAEMON" --backend=sim --socket "$ib_tmp/vmm.sock" --admin-bus="$BUS" "$@" \
                2>> "$ib_tmp/broker.log"
        broker_pid=$spawned
        wait_for 10 ctl status >/dev/null
}

# broker_stop: SIGTERM, wait; returns its exit status.
broker_stop() {
        kill -TERM "$broker_pid" 2>/dev/null
        wait "$broker_pid"
}

# client_start: an iommu-broker-client session that holds one IOAS with a 2 MiB
# mapping until client_stop; sets $client_pid.
client_start() {
        rm -f "$ib_tmp/fifo"
        mkfifo "$ib_tmp/fifo"
        # Not through spawn(): a redirection on a function call would block this
        # shell in open() of the fifo.
        "$IB_CLIENT" --socket "$ib_tmp/vmm.sock" < "$ib_tmp/fifo" > "$ib_tmp/client.out" 2>&1 &
        client_pid=$!
        ib_pids="$ib_pids $client_pid"
        exec 7> "$ib_tmp/fifo"
        echo 'ioas-alloc as=a' >&7
        echo 'map ioas=@a memfd=ram size=2M' >&7
}

client_stop() {
        exec 7>&-
        wait "$client_pid" 2>/dev/null
}
