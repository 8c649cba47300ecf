#!/bin/bash
# test-restart.sh - sessions outlive a crash of the broker (sim backend, TAP).
#
# The broker runs under tests/lib/ib-svcmgr, which plays systemd's service
# manager (socket unit, notify socket, fd store, Restart=on-failure).  One
# client connection (iommu-broker-client reading requests from a pipe) lives
# through every restart:
#   - kill -9 between requests: the same connection goes on, its IOAS,
#     registered memory and mappings are there with the same ids, an unmap
#     returns the recorded length and a second one ENOENT, the counters
#     (caps: mapped bytes) are exact, the restart is audited with what it
#     restored, and the client library counted the ResumedEvent;
#   - a crash at each step of a Map by handle and of an Unmap (IB_CRASH_AT:
#     after the datagram was peeked, after it was read, after the kernel
#     call, after its record, after the reply): the request gets exactly one
#     outcome, the real one (the library sends a not_applied one again), and
#     the mapped bytes afterwards are exactly what the requests say;
#   - a Map by fd interrupted after its kernel call is answered ECANCELED
#     (its fd is gone with the process) and nothing stays mapped;
#   - SIGTERM: with a restart job queued at the service manager (systemctl
#     restart; a stand-in for systemd's D-Bus API on a private bus says so)
#     the sessions stay; with a stop job they end, emptied, and the client's
#     connection closes; SIGUSR2 exits with 75 and keeps them.
# Needs $IB_DAEMON, $IB_CLIENT, $IB_BUILDDIR and jq.
set -u
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else notok "$what"; fi; }
diag() { sed 's/^/# /'; }

if [ -z "${IB_DAEMON:-}" ] || [ -z "${IB_CLIENT:-}" ] || [ -z "${IB_BUILDDIR:-}" ] || ! command -v jq >/dev/null; then
        echo "1..0 # SKIP needs IB_DAEMON, IB_CLIENT, IB_BUILDDIR and jq"
        exit 0
fi
svcmgr=${IB_SVCMGR:-$IB_BUILDDIR/tests/lib/ib-svcmgr}
tmp=$(mktemp -d /tmp/ib-restart.XXXXXX)
pol=$tmp/policy.conf
audit=$tmp/audit.jsonl
cat > "$pol" <<EOF
[Global]
AuditFile=$audit

[Tenant local]
User=$(id -u)
Device=0000:00:03.0
Device=0000:00:02.0
EOF

mgr=
cleanup() {
        exec 3>&- 2>/dev/null
        [ -n "$mgr" ] && kill "$mgr" 2>/dev/null && wait "$mgr" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT

wait_for() {
        local i
        for ((i = 0; i < 200; i++)); do
                "$@" && return 0
                sleep 0.05
        done
        return 1
}
ready_count() { grep -c '^ready ' "$tmp/status" 2>/dev/null || echo 0; }
# lines of the client's output so far
out_lines() { wc -l < "$tmp/out"; }
more_than() { [ "$(out_lines)" -gt "$1" ]; }
# sends one request and waits for its line of output
req() {
        local before
        before=$(out_lines)
        echo "$1" >&3
        wait_for more_than "$before" || { echo "# no answer to: $1"; return 1; }
        tail -n 1 "$tmp/out"
}

# start_broker [ENV=VALUE...]: a fresh harness, broker and client connection
start_broker() {
        rm -f "$tmp/status" "$tmp/out" "$tmp/in" "$tmp/ctl" "$tmp/vmm.sock"
        env "$@" "$svcmgr" --socket "$tmp/vmm.sock" --control "$tmp/ctl" --status "$tmp/status" \
                --start-limit-burst 0 -- "$IB_DAEMON" --backend=sim --admin-bus=none --policy="$pol" \
                >> "$tmp/daemon.log" 2>&1 &
        mgr=$!
        wait_for grep -qs '^ready .*start=1' "$tmp/status" || { echo "# the broker did not start"; diag < "$tmp/daemon.log"; return 1; }
        mkfifo "$tmp/in"
        # the output file exists before the client opens it (it opens the pipe first, which waits for us)
        : > "$tmp/out"
        IOMMU_BROKER_SOCKET=$tmp/vmm.sock "$IB_CLIENT" < "$tmp/in" >> "$tmp/out" 2>&1 &
        exec 3> "$tmp/in"
        req hello > /dev/null || { diag < "$tmp/daemon.log"; diag < "$tmp/out"; return 1; }
}

stop_broker() {
        exec 3>&-
        echo stop > "$tmp/ctl"
        wait "$mgr" 2>/dev/null
        mgr=
}

# ------------------------------------------------------------------ kill -9 between requests
start_broker || exit 1
req "ioas-alloc" > /dev/null
req "mem-register memfd=m size=1M" > /dev/null
a=$(req "map ioas=1 mem=1 size=64K iova=0x100000 prot=rw")
b=$(req "map ioas=1 memfd=f size=32K iova=0x200000 prot=rw")
check "maps before the crash" test "$(jq -r .ok <<< "$a$b" | sort -u)" = true
echo kill > "$tmp/ctl"
wait_for grep -q '^ready .*start=2' "$tmp/status"
check "the service manager restarted the broker with the stored fds" grep -q '^ready .*start=2 fds=[1-9]' "$tmp/status"
c=$(req caps)
check "the same connection is served after kill -9" test "$(jq -r .ok <<< "$c")" = true
check "the restored mapped bytes are exact (96 KiB)" test "$(jq -r .mapped_bytes <<< "$c")" = 0x18000
u=$(req "unmap ioas=1 iova=0x100000 length=64K")
check "an unmap of a mapping made before the crash returns its length" \
        test "$(jq -r '.ok, .length' <<< "$u" | tr '\n' ' ')" = "true 0x10000 "
u=$(req "unmap ioas=1 iova=0x100000 length=64K")
check "a second unmap of it is ENOENT" test "$(jq -r .errno <<< "$u")" = ENOENT
u=$(req "map ioas=1 mem=1 size=64K iova=0x100000 prot=rw")
check "registered memory from before the crash maps again" test "$(jq -r .ok <<< "$u")" = true
c=$(req caps)
check "mapped bytes follow (96 KiB)" test "$(jq -r .mapped_bytes <<< "$c")" = 0x18000
audited_restart() {
        jq -s -e 'map(select(.verb == "restart" and (.reason | test("1 sessions restored.*2 mappings, 98304 bytes"))))|length>0' \
                "$audit" > /dev/null
}
check "the restart is audited with what it restored" audited_restart
# the same open memfd registered a second time (the store keeps one copy of an open file: the broker opens its own)
req "mem-register memfd=m size=1M" > /dev/null
req "map ioas=1 mem=2 size=16K offset=128K iova=0x400000 prot=r" > /dev/null
echo kill > "$tmp/ctl"
wait_for grep -q '^ready .*start=3' "$tmp/status"
c=$(req caps)
check "a second restart in a row restores it all again (112 KiB)" test "$(jq -r .mapped_bytes <<< "$c")" = 0x1c000
u=$(req "map ioas=1 mem=2 size=16K offset=192K iova=0x500000 prot=r")
check "a memfd registered twice survives two restarts under both handles" test "$(jq -r .ok <<< "$u")" = true
second_restart() {
        jq -s -e 'map(select(.verb == "restart")) | last | .reason | test("1 sessions restored \\(0 ended\\), 3 objects, 3 mappings")' \
                "$audit" > /dev/null
}
check "the second restart restored every object (no session ended)" second_restart
stop_broker

# ------------------------------------------------------------------ objects recorded one request at a time
# A request that makes, changes or frees an object records only that object
# (an OBJECTS_DELTA record); a restart rebuilds the objects from the last
# whole record and every one after it, frees included.
start_broker || exit 1
for i in 1 2 3 4; do req "ioas-alloc as=i$i" > /dev/null; done
req "allow-iovas ioas=@i2 ranges=0x100000-0x1fffff" > /dev/null
req "ioas-free ioas=@i3" > /dev/null
req "mem-register memfd=m size=1M as=m1" > /dev/null
req "mem-register memfd=n size=1M as=m2" > /dev/null
req "mem-unregister mem=@m1" > /dev/null
req "device-open dev=0000:00:03.0 as=d" > /dev/null
a=$(req "attach dev=@d pt=@i4")
check "objects one at a time: made, changed and freed before the crash" test "$(jq -r .ok <<< "$a")" = true
echo kill > "$tmp/ctl"
wait_for grep -q '^ready .*start=2' "$tmp/status"
u=$(req "ioas-free ioas=@i3")
check "objects one at a time: an IOAS freed before the crash stays freed (ENOENT)" test "$(jq -r .errno <<< "$u")" = ENOENT
u=$(req "map ioas=@i2 mem=@m2 size=4K")
check "objects one at a time: the IOVAs an IOAS allowed come back (a map lands inside them)" \
        test "$(jq -r '.ok, .iova' <<< "$u" | tr '\n' ' ')" = "true 0x100000 "
u=$(req "map ioas=@i1 mem=@m1 size=4K")
check "objects one at a time: registered memory unregistered before the crash stays gone (ENOENT)" \
        test "$(jq -r .errno <<< "$u")" = ENOENT
u=$(req "detach dev=@d")
check "objects one at a time: the device comes back attached (its detach succeeds)" test "$(jq -r .ok <<< "$u")" = true
delta_restart() {
        jq -s -e 'map(select(.verb == "restart")) | last | .reason | test("1 sessions restored \\(0 ended\\), 5 objects, 0 mappings")' \
                "$audit" > /dev/null
}
jq -s -r 'map(select(.verb == "restart")) | last | .reason' "$audit" | diag
check "objects one at a time: the restart restored 3 IOASes, a registration and the device" delta_restart
req "attach dev=@d pt=@i1" > /dev/null
req "ioas-free ioas=@i4" > /dev/null
echo kill > "$tmp/ctl"
wait_for grep -q '^ready .*start=3' "$tmp/status"
u=$(req "ioas-free ioas=@i4")
v=$(req "detach dev=@d")
check "objects one at a time: after a second restart the records since the first are there too" \
        test "$(jq -r .errno <<< "$u") $(jq -r .ok <<< "$v")" = "ENOENT true"
stop_broker

# ------------------------------------------------------------------ a crash in every window
for point in peeked received recording read mapped map-recorded replied; do
        rm -f "$tmp/fired"
        # requests: hello, ioas-alloc, mem-register, map, then the map the crash hits (its 5th pass, or 2nd map)
        pass=5
        [ "$point" = mapped ] || [ "$point" = map-recorded ] && pass=2
        [ "$point" = recording ] && pass=4      # the slot is the session's from Hello on: Hello is not recorded
        start_broker IB_CRASH_AT="$point:$pass:$tmp/fired" || exit 1
        req "ioas-alloc" > /dev/null
        req "mem-register memfd=m size=1M" > /dev/null
        req "map ioas=1 mem=1 size=64K iova=0x100000 prot=rw" > /dev/null
        m=$(req "map ioas=1 mem=1 size=16K offset=64K iova=0x300000 prot=rw")
        check "map by handle, crash at '$point': one outcome, the real one" \
                test "$(jq -r '.ok, .iova' <<< "$m" | tr '\n' ' ')" = "true 0x300000 "
        check "map by handle, crash at '$point': the broker did die there" test -e "$tmp/fired"
        c=$(req caps)
        check "map by handle, crash at '$point': mapped bytes exact (80 KiB)" \
                test "$(jq -r .mapped_bytes <<< "$c")" = 0x14000
        u=$(req "unmap ioas=1 iova=0x300000 length=16K")
        check "map by handle, crash at '$point': the mapping is there once" \
                test "$(jq -r '.ok, .length' <<< "$u" | tr '\n' ' ')" = "true 0x4000 "
        stop_broker
done

for point in read unmapped unmap-recorded replied; do
        rm -f "$tmp/fired"
        # requests: hello, ioas-alloc, mem-register, map, map, then the unmap the crash hits
        n_pass=6
        [ "$point" = unmapped ] || [ "$point" = unmap-recorded ] && n_pass=1
        start_broker IB_CRASH_AT="$point:$n_pass:$tmp/fired" || exit 1
        req "ioas-alloc" > /dev/null
        req "mem-register memfd=m size=1M" > /dev/null
        req "map ioas=1 mem=1 size=64K iova=0x100000 prot=rw" > /dev/null
        req "map ioas=1 mem=1 size=16K offset=64K iova=0x300000 prot=rw" > /dev/null
        u=$(req "unmap ioas=1 iova=0x300000 length=16K")
        check "unmap, crash at '$point': one outcome, the real one" \
                test "$(jq -r '.ok, .length' <<< "$u" | tr '\n' ' ')" = "true 0x4000 "
        check "unmap, crash at '$point': the broker did die there" test -e "$tmp/fired"
        c=$(req caps)
        check "unmap, crash at '$point': mapped bytes exact (64 KiB)" test "$(jq -r .mapped_bytes <<< "$c")" = 0x10000
        u=$(req "unmap ioas=1 iova=0x300000 length=16K")
        check "unmap, crash at '$point': a second unmap is ENOENT" test "$(jq -r .errno <<< "$u")" = ENOENT
        stop_broker
done

# ------------------------------------------------------------------ object verbs in every window
# ioas-alloc (request 2): read but not run, its iommufd opened (and kept) but no IOAS made yet,
# or run and recorded with its reply but not sent
for spec in read:2 opened:1 handled:2; do
        point=${spec%%:*}
        rm -f "$tmp/fired"
        start_broker IB_CRASH_AT="$spec:$tmp/fired" || exit 1
        a=$(req "ioas-alloc")
        check "ioas-alloc, crash at '$point': one outcome, IOAS 1" test "$(jq -r '.ok, .ioas' <<< "$a" | tr '\n' ' ')" = "true 1 "
        check "ioas-alloc, crash at '$point': the broker did die there" test -e "$tmp/fired"
        a=$(req "ioas-alloc")
        check "ioas-alloc, crash at '$point': the next IOAS is 2 (none made twice)" test "$(jq -r .ioas <<< "$a")" = 2
        c=$(req caps)
        check "ioas-alloc, crash at '$point': 2 objects counted" test "$(jq -r .objects <<< "$c")" = 2
        stop_broker
done

# device-open (request 3), attach (4), detach (5), device-close (6), ioas-free (7): a crash in each
for spec in "read:3" "handled:3" "read:4" "handled:4" "read:5" "read:6" "released:1" "handled:6" "read:7"; do
        point=${spec%%:*}
        pass=${spec#*:}
        rm -f "$tmp/fired"
        start_broker IB_CRASH_AT="$point:$pass:$tmp/fired" || exit 1
        req "ioas-alloc" > /dev/null
        o=$(req "device-open dev=0000:00:03.0")
        check "device verbs, crash at '$point' of request $pass: device-open answered once" \
                test "$(jq -r .ok <<< "$o")" = true
        dev=$(jq -r .dev <<< "$o")
        l=$(req "attach dev=$dev pt=1")
        check "device verbs, crash at '$point' of request $pass: attach answered once" test "$(jq -r .ok <<< "$l")" = true
        l=$(req "detach dev=$dev")
        check "device verbs, crash at '$point' of request $pass: detach answered once" test "$(jq -r .ok <<< "$l")" = true
        l=$(req "device-close dev=$dev")
        check "device verbs, crash at '$point' of request $pass: device-close answered once" \
                test "$(jq -r .ok <<< "$l")" = true
        l=$(req "ioas-free ioas=1")
        check "device verbs, crash at '$point' of request $pass: ioas-free answered once" test "$(jq -r .ok <<< "$l")" = true
        check "device verbs, crash at '$point' of request $pass: the broker did die there" test -e "$tmp/fired"
        c=$(req caps)
        check "device verbs, crash at '$point' of request $pass: nothing left counted" \
                test "$(jq -r .objects <<< "$c")" = 0
        o=$(req "device-open dev=0000:00:03.0")
        check "device verbs, crash at '$point' of request $pass: the device opens again" test "$(jq -r .ok <<< "$o")" = true
        stop_broker
done

# ------------------------------------------------------------------ HWPTs, PASIDs, fault queues
# requests: hello(1) ioas-alloc(2) device-open(3) hwpt-alloc(4) attach(5) hwpt-alloc(6) pasid-attach(7) fault-alloc(8)
#           hwpt-dirty(9) kill; then pasid-lookup, pasid-detach, hwpt-free, fault-free, detach, hwpt-free, device-close
# A crash in the request named (pasid-attached: the first time it passes, in request 7), or (none) a kill between
# requests.
for spec in "none:0" "read:6" "handled:6" "read:7" "pasid-attached:1" "handled:7" "read:9" "read:10" "read:11" \
            "handled:12"; do
        point=${spec%%:*}
        pass=${spec#*:}
        rm -f "$tmp/fired"
        if [ "$point" = none ]; then
                start_broker || exit 1
        else
                start_broker IB_CRASH_AT="$point:$pass:$tmp/fired" || exit 1
        fi
        what="HWPTs and PASIDs, crash at '$point' of request $pass"
        req "ioas-alloc" > /dev/null
        req "device-open dev=0000:00:02.0" > /dev/null
        h=$(req "hwpt-alloc dev=2 pt=1 pasid=yes")
        l=$(req "attach dev=2 pt=3")
        h2=$(req "hwpt-alloc dev=2 pt=1 pasid=yes dirty=yes")
        p=$(req "pasid-attach dev=2 vpasid=5 pt=4")
        f=$(req "fault-alloc")
        d=$(req "hwpt-dirty hwpt=4 enable=yes")
        check "$what: each answered once, for real" \
                test "$(jq -s -r 'map(.ok) | unique | join(",")' <<< "$h$l$h2$p$f$d")" = true
        check "$what: the ids are the ones a run without a crash gives" \
                test "$(jq -s -r 'map(.hwpt // .fault // empty) | join(",")' <<< "$h$l$h2$f")" = "3,3,4,5"
        if [ "$point" = none ]; then
                echo kill > "$tmp/ctl"
                wait_for grep -q '^ready .*start=2' "$tmp/status"
        fi
        c=$(req caps)
        check "$what: restored, 5 objects counted" test "$(jq -r .objects <<< "$c")" = 5
        l=$(req "pasid-lookup dev=2 vpasid=5")
        check "$what: the PASID is attached after the restart" test "$(jq -r .ok <<< "$l")" = true
        for r in "pasid-detach dev=2 vpasid=5" "hwpt-free hwpt=4" "fault-free fault=5" "detach dev=2" "hwpt-free hwpt=3" \
                 "device-close dev=2" "ioas-free ioas=1"; do
                l=$(req "$r")
                check "$what: $r after the restart" test "$(jq -r .ok <<< "$l")" = true
        done
        [ "$point" = none ] || check "$what: the broker did die there" test -e "$tmp/fired"
        c=$(req caps)
        check "$what: nothing left counted" test "$(jq -r .objects <<< "$c")" = 0
        stop_broker
done

# A Batch with stop_on_error whose first op failed, caught after it ran and before its reply: the
# op after the failure is answered as the verb answers it (not run), not as one to send again
rm -f "$tmp/fired"
start_broker IB_CRASH_AT="handled:4:$tmp/fired" || exit 1
req "ioas-alloc" > /dev/null
req "mem-register memfd=m size=1M" > /dev/null
b=$(req "batch stop-on-error=yes op=unmap,ioas=1,iova=0x900000,length=4K op=map,ioas=1,mem=1,size=4K,iova=0x900000,prot=rw")
echo "# $b"
check "batch stopped on error, crash before its reply: the failed op is ENOENT" \
        test "$(jq -r '.results[0].errno' <<< "$b")" = ENOENT
check "batch stopped on error, crash before its reply: the op after it was not run, and is not sent again" \
        test "$(jq -r '.results[1].errno + " " + .results[1].error' <<< "$b")" = "ECANCELED not run: an earlier operation failed"
check "batch stopped on error, crash before its reply: the broker did die there" test -e "$tmp/fired"
c=$(req caps)
check "batch stopped on error, crash before its reply: nothing mapped" test "$(jq -r .mapped_bytes <<< "$c")" = 0x0
stop_broker

# DeviceDetach of a device that is not attached, read and lost in a crash: its real answer, ENOENT
rm -f "$tmp/fired"
start_broker IB_CRASH_AT="read:3:$tmp/fired" || exit 1
req "device-open dev=0000:00:03.0" > /dev/null
l=$(req "detach dev=1")
check "detach of a detached device, crash after it was read: ENOENT, as without the crash" \
        test "$(jq -r .errno <<< "$l")" = ENOENT
check "detach of a detached device, crash after it was read: the broker did die there" test -e "$tmp/fired"
stop_broker

# MemUnregister caught after its fd left the store and before its record: done, the memory no longer registered
rm -f "$tmp/fired"
start_broker IB_CRASH_AT="released:1:$tmp/fired" || exit 1
req "ioas-alloc" > /dev/null
req "mem-register memfd=m size=1M" > /dev/null
u=$(req "mem-unregister mem=1")
check "mem-unregister, crash after its fd left the store: answered done" test "$(jq -r .ok <<< "$u")" = true
check "mem-unregister, crash after its fd left the store: the broker did die there" test -e "$tmp/fired"
m=$(req "map ioas=1 mem=1 size=16K iova=0x300000 prot=rw")
check "mem-unregister, crash after its fd left the store: the handle is gone (ENOENT)" \
        test "$(jq -r .errno <<< "$m")" = ENOENT
stop_broker

# ------------------------------------------------------------------ the policy in force at restart
# A tenant gone from the policy: its session runs on with what it holds (nothing new), unless
# RevokeOnReload= closed its sessions (as a reload does).
for revoke in no yes; do
        cp "$pol" "$tmp/policy.saved"
        cat >> "$pol" <<EOF
RevokeOnReload=$revoke
EOF
        start_broker || exit 1
        req "ioas-alloc" > /dev/null
        req "mem-register memfd=m size=1M" > /dev/null
        req "map ioas=1 mem=1 size=64K iova=0x100000 prot=rw" > /dev/null
        printf '[Global]\nAuditFile=%s\n\n[Tenant other]\nUser=4242\n' "$audit" > "$pol"
        echo kill > "$tmp/ctl"
        wait_for grep -q '^ready .*start=2' "$tmp/status"
        c=$(req caps)
        if [ "$revoke" = no ]; then
                check "tenant gone at restart, RevokeOnReload=no: the session runs on with its mapping" \
                        test "$(jq -r .mapped_bytes <<< "$c")" = 0x10000
                a=$(req "ioas-alloc")
                echo "# ioas-alloc of the orphaned session: $a"
                check "tenant gone at restart, RevokeOnReload=no: nothing new is granted" test "$(jq -r .ok <<< "$a")" = false
                u=$(req "unmap ioas=1 iova=0x100000 length=64K")
                check "tenant gone at restart, RevokeOnReload=no: it may still let go of what it holds" \
                        test "$(jq -r .ok <<< "$u")" = true
        else
                check "tenant gone at restart, RevokeOnReload=yes: the session is closed" test "$(jq -r .ok <<< "$c")" = false
                check "tenant gone at restart, RevokeOnReload=yes: its context was emptied" \
                        grep -q 'the kernel confirmed its context empty' "$tmp/daemon.log"
        fi
        cp "$tmp/policy.saved" "$pol"
        stop_broker
done

# A request that changes nothing, read and then lost with the process: not_applied, sent again by the library.
rm -f "$tmp/fired"
start_broker IB_CRASH_AT="read:3:$tmp/fired" || exit 1
req "ioas-alloc" > /dev/null
c=$(req "iova-ranges ioas=1")
check "iova-ranges read and lost in a crash: answered once, for real" test "$(jq -r .ok <<< "$c")" = true
check "iova-ranges read and lost in a crash: the broker did die there" test -e "$tmp/fired"
stop_broker

# A Map by fd interrupted after its kernel call: the fd died with the process.
rm -f "$tmp/fired"
start_broker IB_CRASH_AT="mapped:1:$tmp/fired" || exit 1
req "ioas-alloc" > /dev/null
m=$(req "map ioas=1 memfd=f size=16K iova=0x300000 prot=rw")
check "map by fd, crash after the kernel call: ECANCELED, not applied" test "$(jq -r .errno <<< "$m")" = ECANCELED
c=$(req caps)
check "map by fd, crash after the kernel call: nothing stays mapped" test "$(jq -r .mapped_bytes <<< "$c")" = 0x0
m=$(req "map ioas=1 memfd=f size=16K iova=0x300000 prot=rw")
check "map by fd, crash after the kernel call: the IOVA is free again" test "$(jq -r .ok <<< "$m")" = true
stop_broker

# The same at an IOVA the broker chose, into an IOAS with no mapping yet: every gap is swept, and the
# one gap is the whole space (2^64 bytes, the kernel's "everything").
rm -f "$tmp/fired"
start_broker IB_CRASH_AT="mapped:1:$tmp/fired" || exit 1
req "ioas-alloc" > /dev/null
m=$(req "map ioas=1 memfd=f size=16K prot=rw")
check "map at a chosen IOVA, crash after the kernel call: ECANCELED, not applied" \
        test "$(jq -r .errno <<< "$m")" = ECANCELED
c=$(req caps)
check "map at a chosen IOVA, crash after the kernel call: nothing recorded" test "$(jq -r .mapped_bytes <<< "$c")" = 0x0
m=$(req "unmap ioas=1 all")
check "map at a chosen IOVA, crash after the kernel call: nothing stays mapped in the kernel either" \
        test "$(jq -r .length <<< "$m")" = 0x0
stop_broker

# ------------------------------------------------------------------ SIGTERM: restart or stop
fake=$IB_BUILDDIR/tests/lib/ib-fake-systemd1
if command -v dbus-daemon > /dev/null && [ -x "$fake" ]; then
        cat > "$tmp/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$tmp/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
        dbus-daemon --config-file="$tmp/bus.conf" --nofork --nopidfile > "$tmp/bus.log" 2>&1 &
        bus_pid=$!
        wait_for test -S "$tmp/bus"
        export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$tmp/bus
        : > "$tmp/job"
        "$fake" "$tmp/job" > "$tmp/fake.out" 2>&1 &
        fake_pid=$!
        wait_for grep -q ready "$tmp/fake.out"

        start_broker || exit 1
        req "ioas-alloc" > /dev/null
        req "mem-register memfd=m size=1M" > /dev/null
        req "map ioas=1 mem=1 size=64K iova=0x100000 prot=rw" > /dev/null
        echo restart > "$tmp/job"
        echo restart > "$tmp/ctl"
        wait_for grep -q '^ready .*start=2' "$tmp/status"
        check "systemctl restart (SIGTERM, restart job): the broker exits cleanly" grep -q 'status=exited/0' "$tmp/status"
        c=$(req caps)
        check "systemctl restart: the session goes on with its mappings" test "$(jq -r .mapped_bytes <<< "$c")" = 0x10000
        : > "$tmp/job"
        kill -USR2 "$(sed -n 's/^ready pid=\([0-9]*\) start=2 .*/\1/p' "$tmp/status")"
        wait_for grep -q '^ready .*start=3' "$tmp/status"
        check "SIGUSR2: the broker exits with 75 for a restart" grep -q 'status=exited/75' "$tmp/status"
        c=$(req caps)
        check "SIGUSR2: the session goes on with its mappings" test "$(jq -r .mapped_bytes <<< "$c")" = 0x10000
        echo stop > "$tmp/job"
        echo restart > "$tmp/ctl"
        wait_for grep -q '^ready .*start=4' "$tmp/status"
        c=$(req caps)
        check "systemctl stop (SIGTERM, stop job): the session ended, its connection closed" \
                test "$(jq -r .ok <<< "$c")" = false
        check "systemctl stop: the teardown emptied the context" \
                sh -c "sed -n '/Terminated received, stopping/,\$p' '$tmp/daemon.log' | grep -q 'the kernel confirmed its context empty'"
        last_restart() { jq -s -r 'map(select(.verb == "restart")) | last | .reason' "$audit"; }
        check "systemctl stop: nothing was restored at the next start" \
                sh -c "echo '$(last_restart)' | grep -q ': 0 sessions restored'"
        stop_broker
        kill "$fake_pid" "$bus_pid" 2>/dev/null
        wait "$fake_pid" "$bus_pid" 2>/dev/null
        unset DBUS_SYSTEM_BUS_ADDRESS
else
        echo "# no dbus-daemon: SIGTERM with a restart or a stop job not tested"
fi

if [ "$failed" != 0 ]; then
        echo "# daemon log (tail):"
        tail -n 60 "$tmp/daemon.log" | diag
fi
echo "1..$n"
exit 0
