#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-ctl.sh - iommu-brokerctl against the real admin API on a private bus (TAP).
#
# A private dbus-daemon with the shipped bus policy, the real iommu-brokerd on
# the sim backend serving its admin API there under a tenancy policy with an
# audit file, a real client session holding a 2 MiB mapping.  Checks every
# verb's output for people and as JSON, that kill-session really ends the
# session and frees its objects, reload (good and bad files), that an
# unprivileged caller may list but not kill or reload (and is audited), the
# admin group, and the errors when the broker or the bus are not there.
# Restarts: without a service manager no session survives one (FdStore false,
# Restarts 0); under tests/lib/ib-svcmgr (systemd's part: socket, fd store,
# Restart=on-failure) a broker killed with SIGKILL comes back with Restarts 1
# and LastRestart naming the session it restored, which lives on.
set -u
. "$IB_TOP_SRCDIR/tests/admin/lib.sh"
need dbus-daemon jq setpriv busctl

plan 79

cat > "$ib_tmp/policy.conf" <<EOF
[Global]
AuditFile=$ib_tmp/audit.jsonl

[Tenant admins]
User=$(id -un)
PinnedMemoryMax=1G
IOASMax=4
HWPTMax=8
MappingsMax=16
PASIDMax=2
ObjectsMax=10
Device=0000:00:02.0

[Tenant idle]
User=nobody
Device=0000:00:03.0 group:7
DelegateDevices=yes
EOF
cp "$ib_tmp/policy.conf" "$ib_tmp/policy.good"
# audited VERB RESULT UID: the audit file has such a record.
audited() {
        has_line "$ib_tmp/audit.jsonl" --arg verb "$1" --arg result "$2" --argjson uid "$3" \
                '.verb == $verb and .result == $result and .uid == $uid'
}

check "a private bus starts with the shipped policy" bus_start
# nobody's VMM connects too (delegations)
chmod 0755 "$ib_tmp"
if ! broker_start --policy="$ib_tmp/policy.conf" --socket-mode=0666; then
        diag < "$ib_tmp/broker.log"
        notok "the broker owns org.iommubroker.Broker1 on the private bus"
        finish
fi
ok "the broker owns org.iommubroker.Broker1 on the private bus"

# ---- status, introspection
ctl status > "$ib_tmp/out" 2>&1
check "status for people names the version and the sim backend" \
        sh -c "grep -q 'Version: .*(protocol 1)' '$ib_tmp/out' && grep -q 'Backend: sim' '$ib_tmp/out'"
ctl --json status > "$ib_tmp/status.json"
check "status --json parses; backend sim, 0 sessions, protocol 1" \
        jqe '.backend == "sim" and .sessions == 0 and .protocol == 1 and (.version | length > 0)' \
        "$ib_tmp/status.json"
check "status --json without a service manager: no fd store, 0 restarts, no last_restart" \
        jqe '.fd_store == false and .restarts == 0 and (has("last_restart") | not)' "$ib_tmp/status.json"
check "status for people: 0 restarts, and sessions do not survive one" sh -c "
        grep -q '^ *Restarts: 0\$' '$ib_tmp/out' &&
        grep -q '^ *sessions survive a restart: no (no service manager fd store: a restart ends every session)\$' \
                '$ib_tmp/out'"
busctl --address="$BUS" get-property org.iommubroker.Broker1 /org/iommubroker/Broker1 \
        org.iommubroker.Broker1.Manager FdStore Restarts LastRestart > "$ib_tmp/props" 2>&1
diag < "$ib_tmp/props"
check "the properties: FdStore false, Restarts 0, LastRestart empty" \
        [ "$(cat "$ib_tmp/props")" = "$(printf 'b false\nt 0\na{sv} 0')" ]

busctl --address="$BUS" introspect org.iommubroker.Broker1 /org/iommubroker/Broker1 > "$ib_tmp/introspect" 2>&1
check "the object is introspectable: interface, methods, signals, properties" sh -c "
        grep -q '^org.iommubroker.Broker1.Manager *interface' '$ib_tmp/introspect' &&
        grep -q '^.ListSessions *method' '$ib_tmp/introspect' &&
        grep -q '^.ListTenants *method *- *aa{sv}' '$ib_tmp/introspect' &&
        grep -q '^.ListDevices *method *- *aa{sv}' '$ib_tmp/introspect' &&
        grep -q '^.ListPasids *method *- *aa{sv}' '$ib_tmp/introspect' &&
        grep -q '^.KillSession *method *t' '$ib_tmp/introspect' &&
        grep -q '^.SessionOpened *signal *tuus' '$ib_tmp/introspect' &&
        grep -q '^.SessionClosed *signal *tuus' '$ib_tmp/introspect' &&
        grep -q '^.MappedBytes *property *t' '$ib_tmp/introspect' &&
        grep -q '^.NSessions *property *u .*emits-change' '$ib_tmp/introspect'"
check "the restart properties are introspectable and const" sh -c "
        grep -q '^.FdStore *property *b .*const' '$ib_tmp/introspect' &&
        grep -q '^.Restarts *property *t .*const' '$ib_tmp/introspect' &&
        grep -q '^.LastRestart *property *a{sv} .*const' '$ib_tmp/introspect'"

# ---- sessions, empty
ctl sessions > "$ib_tmp/out" 2>&1
check "sessions without any says so" grep -q '^No sessions.' "$ib_tmp/out"
check "sessions --json without any is []" [ "$(ctl --json sessions)" = '[]' ]

# ---- a monitor, then a live session
spawn "$IB_CTL" --bus="$BUS" --json monitor > "$ib_tmp/monitor.out" 2> "$ib_tmp/monitor.err"
monitor_pid=$spawned
check "monitor subscribes and says so on stderr" wait_for 10 grep -q '^Monitoring org.iommubroker.Broker1' \
        "$ib_tmp/monitor.err"

client_start
has_mapping() { ctl --json sessions | jq -en 'input | .[0].mapped_bytes == 2097152' >/dev/null; }
if wait_for 10 has_mapping; then ok "a live session with a 2 MiB mapping shows up"; else notok "a live session with a 2 MiB mapping shows up"; fi

ctl --json sessions > "$ib_tmp/sessions.json"
diag < "$ib_tmp/sessions.json"
check "sessions --json: the client's tenant, uid, pid, objects and mapped bytes" \
        jqe --argjson pid "$client_pid" --argjson uid "$(id -u)" \
        'length == 1 and .[0].tenant == "admins" and .[0].uid == $uid and .[0].pid == $pid
         and .[0].objects == 1 and .[0].mappings == 1
         and .[0].ioases == 1 and .[0].mapped_bytes == 2097152 and .[0].client == "iommu-broker-client"
         and (.[0].id | type == "number")' "$ib_tmp/sessions.json"
sid=$(jq -r '.[0].id' "$ib_tmp/sessions.json")

ctl sessions > "$ib_tmp/out"
diag < "$ib_tmp/out"
check "sessions for people: a header and the session's id, tenant, pid and 2.0M" sh -c "
        grep -q '^ *ID  *TENANT  *UID  *PID  *UNIT  *CLIENT  *IOAS  *OBJECTS  *MAPPINGS  *MAPPED' '$ib_tmp/out' &&
        grep -Eq '^ *$sid +admins +[0-9]+ +$client_pid .* 2\.0M\$' '$ib_tmp/out' &&
        grep -q '^1 session listed.' '$ib_tmp/out'"

ctl --json status > "$ib_tmp/status.json"
check "status counts the session, its object and its bytes" \
        jqe '.sessions == 1 and .total_sessions == 1 and .objects == 1 and .mappings == 1 and .mapped_bytes == 2097152' \
        "$ib_tmp/status.json"

check "monitor reported SessionOpened with the client's pid" wait_for 10 \
        has_line "$ib_tmp/monitor.out" --argjson pid "$client_pid" --argjson id "$sid" \
        '.event == "SessionOpened" and .id == $id and .pid == $pid'

# ---- an unprivileged caller
as_nobody "$IB_CTL" --bus="$BUS" --json sessions > "$ib_tmp/nobody.json" 2>&1
check "an unprivileged caller may list sessions" jqe --argjson id "$sid" '.[0].id == $id' "$ib_tmp/nobody.json"

as_nobody "$IB_CTL" --bus="$BUS" kill-session "$sid" > "$ib_tmp/out" 2>&1
rc=$?
diag < "$ib_tmp/out"
check "an unprivileged kill-session is refused: exit 4, 'permission denied'" \
        sh -c "[ $rc -eq 4 ] && grep -q 'permission denied: KillSession needs root' '$ib_tmp/out'"
check "the refused session lives on" sh -c "'$IB_CTL' --bus='$BUS' --json sessions | jq -en 'input | length == 1' >/dev/null"
check "the refusal is audited with the caller's uid" audited kill-session denied "$nobody_uid"
as_nobody "$IB_CTL" --bus="$BUS" reload > "$ib_tmp/out" 2>&1
rc=$?
diag < "$ib_tmp/out"
check "an unprivileged reload is refused: exit 4" \
        sh -c "[ $rc -eq 4 ] && grep -q 'permission denied: Reload needs root' '$ib_tmp/out'"
check "the refused reload is audited with the caller's uid" audited reload denied "$nobody_uid"

# ---- kill-session
ctl --json kill-session "$sid" > "$ib_tmp/out" 2>&1
rc=$?
diag < "$ib_tmp/out"
check "kill-session as root: exit 0, JSON says killed" \
        sh -c "[ $rc -eq 0 ] && jq -en --argjson id $sid 'input | .id == \$id and .killed == true' '$ib_tmp/out' >/dev/null"
ctl --json status > "$ib_tmp/status.json"
check "after kill-session the session and all its objects are gone" sh -c "
        '$IB_CTL' --bus='$BUS' --json sessions | jq -en 'input | length == 0' >/dev/null &&
        jq -en 'input | .sessions == 0 and .objects == 0 and .mappings == 0 and .mapped_bytes == 0' '$ib_tmp/status.json' >/dev/null"
check "the kill is audited with the caller's uid" audited kill-session granted "$(id -u)"
check "the broker released the session's object, mapping and bytes" \
        grep -q "session $sid closed (uid $(id -u) pid $client_pid): released 1 objects, 1 mappings, 2097152 bytes" \
        "$ib_tmp/broker.log"
check "monitor reported SessionClosed, reason killed" wait_for 10 \
        has_line "$ib_tmp/monitor.out" --argjson id "$sid" '.event == "SessionClosed" and .id == $id and .reason == "killed"'
client_stop

ctl kill-session 999 > "$ib_tmp/out" 2>&1
rc=$?
check "kill-session of an unknown id: exit 1, 'no session 999'" sh -c "[ $rc -eq 1 ] && grep -q 'no session 999' '$ib_tmp/out'"
ctl kill-session abc > /dev/null 2>&1
check "kill-session of a malformed id: exit 2" [ $? -eq 2 ]

# ---- client names are data: a name the broker would cut inside a character, control characters
q63=$(printf '%063d' 0 | tr 0 q)
hello_done() { [ "$(wc -l < "$ib_tmp/named.out")" -ge 1 ]; }
named_client_start "$ib_tmp/vmm.sock" "$q63$(printf '\303\251')"
echo 'ioas-alloc as=a' >&5
check "a client named 63 'q' and an 'e' acute (65 bytes) is served" wait_for 10 hello_done
ctl --json sessions > "$ib_tmp/out" 2>&1
rc=$?
diag < "$ib_tmp/out"
check "sessions --json exits 0 and lists it, its name cut before the 'e' acute, not inside it" \
        sh -c "[ $rc -eq 0 ] && jq -en --argjson pid $named_pid --arg name '$q63' \
                'input | length == 1 and .[0].pid == \$pid and .[0].client == \$name' '$ib_tmp/out' >/dev/null"
ctl sessions > "$ib_tmp/out" 2>&1
rc=$?
diag < "$ib_tmp/out"
check "sessions for people exits 0 and lists it" \
        sh -c "[ $rc -eq 0 ] && grep -Eq ' $named_pid .* $q63 ' '$ib_tmp/out'"
named_client_stop

named_client_start "$ib_tmp/vmm.sock" "$(printf 'qemu\n 99  a  0  1  fake.service x\r\033[31mRED\302\233\377')"
echo 'ioas-alloc as=a' >&5
wait_for 10 hello_done
ctl --json sessions > "$ib_tmp/out" 2>&1
rc=$?
diag < "$ib_tmp/out"
check "a name with control characters and a byte that is not UTF-8: the broker keeps them as \\xNN" \
        sh -c "[ $rc -eq 0 ] && jq -en --arg name 'qemu\\x0a 99  a  0  1  fake.service x\\x0d\\x1b[31mRED\\xc2\\x9b\\xff' \
                'input | length == 1 and .[0].client == \$name' '$ib_tmp/out' >/dev/null"
ctl sessions > "$ib_tmp/out" 2>&1
rc=$?
diag < "$ib_tmp/out"
# only printable ASCII and the newlines of the table's 4 lines (header, row, blank, count)
check "sessions for people: one row, no control character" sh -c "[ $rc -eq 0 ] &&
        [ \$(wc -l < '$ib_tmp/out') -eq 4 ] && [ \$(tr -d '\\n -~' < '$ib_tmp/out' | wc -c) -eq 0 ]"
named_client_stop

"$IB_CTL" --help > "$ib_tmp/help" 2>&1
rc=$?
documented=yes
for c in status sessions tenants devices pasids delegations kill-session end-delegation reload monitor; do
        grep -q "^  $c" "$ib_tmp/help" || documented="no: $c not in --help"
        grep -q "^\`\`$c" "$IB_TOP_SRCDIR/docs/man/iommu-brokerctl.1.rst" || documented="no: $c not in the man page"
done
echo "documented: $documented" | diag
check "--help exits 0 and lists every command, each in the man page" [ $rc -eq 0 -a "$documented" = yes ]

# ---- delegations: listed, ended by an admin (the VMM is killed), audited
setpriv --reuid="$nobody_uid" --regid="$nobody_gid" --clear-groups -- \
        "$IB_CLIENT" --socket "$ib_tmp/vmm.sock" delegate dev=0000:00:03.0 -- sleep 120 > "$ib_tmp/vmm.out" 2>&1 &
vmm_pid=$!
listed() { ctl --json delegations > "$ib_tmp/del.json" 2>/dev/null && jqe 'length == 1' "$ib_tmp/del.json"; }
if wait_for 10 listed; then
        diag < "$ib_tmp/del.json"
        check "delegations --json: the VMM's pid and uid, the tenant, its device" \
                jqe --argjson pid "$vmm_pid" --argjson uid "$nobody_uid" \
                '.[0].id > 0 and .[0].pid == $pid and .[0].uid == $uid and .[0].tenant == "idle"
                 and .[0].devices == ["0000:00:03.0"]' "$ib_tmp/del.json"
else
        diag < "$ib_tmp/vmm.out"
        notok "delegations --json: the VMM's pid and uid, the tenant, its device"
fi
did=$(jq -r '.[0].id' "$ib_tmp/del.json" 2>/dev/null)
check "devices --json shows the device delegated to that pid, not free" \
        sh -c "'$IB_CTL' --bus='$BUS' --json devices | jq -en --argjson pid $vmm_pid 'input |
                .[] | select(.name == \"0000:00:03.0\") | .free == false and .delegated_to_pid == \$pid' >/dev/null"
as_nobody "$IB_CTL" --bus="$BUS" end-delegation "$did" > "$ib_tmp/out" 2>&1
rc=$?
check "an unprivileged end-delegation is refused: exit 4, and the VMM lives" \
        sh -c "[ $rc -eq 4 ] && kill -0 $vmm_pid"
ctl end-delegation "$did" > "$ib_tmp/out" 2>&1
rc=$?
diag < "$ib_tmp/out"
wait "$vmm_pid"
vmm_rc=$?
check "end-delegation as root: exit 0, and the VMM was killed (SIGKILL)" [ $rc -eq 0 -a $vmm_rc -eq 137 ]
ended() { has_line "$ib_tmp/audit.jsonl" '.verb == "delegation-end" and .result == "released"
                                          and (.reason | test("ended by an admin"))'; }
check "the end of the delegation is audited as an admin's, the device released" wait_for 10 ended
check "the admin's end-delegation is audited with the caller's uid" audited end-delegation granted "$(id -u)"
ctl end-delegation "$did" > "$ib_tmp/out" 2>&1
rc=$?
check "end-delegation of an ended delegation: exit 1, 'no delegation'" \
        sh -c "[ $rc -eq 1 ] && grep -q 'no delegation $did' '$ib_tmp/out'"

# ---- reload
ctl --json reload > "$ib_tmp/out" 2>&1
rc=$?
diag < "$ib_tmp/out"
check "reload as root: exit 0, JSON says reloaded" sh -c "[ $rc -eq 0 ] && jq -en 'input | .reloaded == true' '$ib_tmp/out' >/dev/null"
check "monitor reported PolicyReloaded ok" wait_for 10 \
        has_line "$ib_tmp/monitor.out" '.event == "PolicyReloaded" and .ok == true'
printf '[Global]\nNoSuchKey=1\n' >> "$ib_tmp/policy.conf"
ctl reload > "$ib_tmp/out" 2>&1
rc=$?
diag < "$ib_tmp/out"
check "reload of a broken policy: exit 1, the error names file and line, the old policy stays" sh -c "
        [ $rc -eq 1 ] && grep -q 'policy.conf:[0-9]*:' '$ib_tmp/out' && grep -q 'old one stays' '$ib_tmp/out'"
check "monitor reported PolicyReloaded refused, with the error" wait_for 10 \
        has_line "$ib_tmp/monitor.out" '.event == "PolicyReloaded" and .ok == false and (.error | test("policy.conf:[0-9]+:"))'
cp "$ib_tmp/policy.good" "$ib_tmp/policy.conf"
sighup_signalled() { [ "$(jq -c 'select(.event == "PolicyReloaded" and .ok == true)' "$ib_tmp/monitor.out" 2>/dev/null | wc -l)" -ge 2 ]; }
kill -HUP "$broker_pid"
check "a SIGHUP reload is signalled as PolicyReloaded too" wait_for 10 sighup_signalled

# ---- tenants, devices, pasids
ctl --json tenants > "$ib_tmp/tenants.json"
diag < "$ib_tmp/tenants.json"
check "tenants --json without sessions: every tenant of the policy, usage 0, limits, devices" \
        jqe '[.[].name] == ["admins", "idle"]
             and .[0].sessions == 0 and .[0].in_policy == true
             and .[0].pinned_bytes == {"used": 0, "limit": 1073741824}
             and .[0].ioas == {"used": 0, "limit": 4} and .[0].hwpt == {"used": 0, "limit": 8}
             and .[0].mappings == {"used": 0, "limit": 16} and .[0].pasids == {"used": 0, "limit": 2}
             and .[0].objects == {"used": 0, "limit": 10}
             and .[0].devices == ["0000:00:02.0"]
             and .[1].sessions == 0 and .[1].pinned_bytes == {"used": 0} and .[1].pasids == {"used": 0}
             and .[1].objects == {"used": 0, "limit": 16384}
             and .[1].devices == ["0000:00:03.0", "group:7"]' "$ib_tmp/tenants.json"
check "devices --json without sessions: the sim's two devices, both free" \
        sh -c "'$IB_CTL' --bus='$BUS' --json devices | jq -en 'input |
                [.[].name] == [\"0000:00:02.0\", \"0000:00:03.0\"] and all(.[]; .free == true and .session == null)
                and .[0].vendor == \"0x1234\" and .[0].device == \"0x11e8\" and .[0].iommu_group == 1
                and .[0].pasid_width == 20 and .[1].pasid_width == 0' >/dev/null"
check "pasids --json without any is []" [ "$(ctl --json pasids)" = '[]' ]
ctl pasids > "$ib_tmp/out" 2>&1
check "pasids without any says so" grep -q '^No PASIDs attached.' "$ib_tmp/out"

# A client of tenant admins holding the PASID-capable sim device with vPASID 5 attached.
rm -f "$ib_tmp/fifo.pasid"
mkfifo "$ib_tmp/fifo.pasid"
"$IB_CLIENT" --socket "$ib_tmp/vmm.sock" < "$ib_tmp/fifo.pasid" > "$ib_tmp/pasid.out" 2>&1 &
pasid_pid=$!
ib_pids="$ib_pids $pasid_pid"
exec 8> "$ib_tmp/fifo.pasid"
printf '%s\n' 'device-open dev=0000:00:02.0 as=d' 'ioas-alloc as=a' 'map ioas=@a memfd=ram size=2M' \
        'hwpt-alloc dev=@d pt=@a pasid=yes as=p' 'pasid-attach dev=@d vpasid=5 pt=@p' >&8
attached() { [ "$(wc -l < "$ib_tmp/pasid.out")" -ge 5 ]; }
wait_for 10 attached
diag < "$ib_tmp/pasid.out"
check "the client opened 0000:00:02.0, mapped 2 MiB and attached vPASID 5" \
        sh -c "jq -e -s 'length == 5 and all(.[]; .ok == true) and .[4].pasid == 5' '$ib_tmp/pasid.out' >/dev/null"
psid=$(ctl --json sessions | jq -r --argjson pid "$pasid_pid" '.[] | select(.pid == $pid) | .id')
echo "session $psid" | diag

ctl --json tenants > "$ib_tmp/tenants.json"
diag < "$ib_tmp/tenants.json"
check "tenants --json: admins has the session and its usage against its limits" \
        jqe '.[0].name == "admins" and .[0].sessions == 1
             and .[0].pinned_bytes == {"used": 2097152, "limit": 1073741824}
             and .[0].ioas == {"used": 1, "limit": 4} and .[0].hwpt == {"used": 1, "limit": 8}
             and .[0].mappings == {"used": 1, "limit": 16} and .[0].pasids == {"used": 1, "limit": 2}
             and .[0].objects == {"used": 3, "limit": 10}
             and .[1].name == "idle" and .[1].sessions == 0 and .[1].pinned_bytes.used == 0' \
        "$ib_tmp/tenants.json"
ctl tenants > "$ib_tmp/out"
diag < "$ib_tmp/out"
check "tenants for people: usage/limit per resource, infinity where none, the devices" sh -c "
        grep -q '^TENANT  *SESSIONS  *PINNED  *IOAS  *HWPT  *MAPPINGS  *PASIDS  *OBJECTS  *DEVICES' '$ib_tmp/out' &&
        grep -Eq '^admins +1 +2\.0M/1\.0G +1/4 +1/8 +1/16 +1/2 +3/10 +0000:00:02\.0\$' '$ib_tmp/out' &&
        grep -Eq '^idle +0 +0B/infinity +0/infinity .* 0000:00:03\.0 group:7\$' '$ib_tmp/out' &&
        grep -q '^2 tenants listed.' '$ib_tmp/out'"

ctl --json devices > "$ib_tmp/devices.json"
diag < "$ib_tmp/devices.json"
check "devices --json: 0000:00:02.0 held by the client's session, tenant and uid; 0000:00:03.0 free" \
        jqe --argjson sid "$psid" --argjson uid "$(id -u)" --argjson pid "$pasid_pid" '
             (.[] | select(.name == "0000:00:02.0")) as $d | (.[] | select(.name == "0000:00:03.0")) as $f
             | $d.free == false and $d.session == $sid and $d.tenant == "admins" and $d.uid == $uid
               and $d.pid == $pid and $f.free == true and $f.session == null' "$ib_tmp/devices.json"
ctl devices > "$ib_tmp/out"
diag < "$ib_tmp/out"
check "devices for people: the holder's session and tenant, or free" sh -c "
        grep -q '^DEVICE  *VENDOR:DEVICE  *GROUP  *PASID-BITS  *SESSION  *TENANT  *UID  *PID' '$ib_tmp/out' &&
        grep -Eq '^0000:00:02\.0 +1234:11e8 +1 +20 +$psid +admins +$(id -u) +$pasid_pid\$' '$ib_tmp/out' &&
        grep -Eq '^0000:00:03\.0 +1234:11e8 +2 +- +free ' '$ib_tmp/out' &&
        grep -q '^2 devices listed.' '$ib_tmp/out'"

ctl --json pasids > "$ib_tmp/pasids.json"
diag < "$ib_tmp/pasids.json"
pt_p=$(jq -s -r '.[3].hwpt' "$ib_tmp/pasid.out")
check "pasids --json: vPASID 5 -> PASID 5 on 0000:00:02.0, its HWPT, per-device, the session and tenant" \
        jqe --argjson sid "$psid" --argjson pt "$pt_p" '
             length == 1 and .[0].session == $sid and .[0].tenant == "admins" and .[0].device == "0000:00:02.0"
             and .[0].vpasid == 5 and .[0].pasid == 5 and .[0].pt == $pt and .[0].mode == "per-device"' \
        "$ib_tmp/pasids.json"
ctl pasids > "$ib_tmp/out"
diag < "$ib_tmp/out"
check "pasids for people: one row with session, tenant, device, vPASID, PASID, HWPT, mode" sh -c "
        grep -q '^SESSION  *TENANT  *DEVICE  *VPASID  *PASID  *PT  *MODE' '$ib_tmp/out' &&
        grep -Eq '^ *$psid +admins +0000:00:02\.0 +5 +5 +$pt_p +per-device\$' '$ib_tmp/out' &&
        grep -q '^1 PASID listed.' '$ib_tmp/out'"
as_nobody "$IB_CTL" --bus="$BUS" --json pasids > "$ib_tmp/nobody.json" 2>&1
as_nobody "$IB_CTL" --bus="$BUS" --json devices >> "$ib_tmp/nobody.json" 2>&1
as_nobody "$IB_CTL" --bus="$BUS" --json tenants >> "$ib_tmp/nobody.json" 2>&1
check "an unprivileged caller may list tenants, devices and PASIDs" \
        jqe -s 'length == 3 and (.[0] | length) == 1 and (.[1] | length) == 2 and (.[2] | length) == 2' \
        "$ib_tmp/nobody.json"

exec 8>&-
wait "$pasid_pid" 2>/dev/null
gone() { ctl --json sessions | jq -en 'input | length == 0' >/dev/null; }
wait_for 10 gone
check "after the client hung up: devices free, no PASIDs, the tenant's usage back to 0" sh -c "
        '$IB_CTL' --bus='$BUS' --json devices | jq -en 'input | all(.[]; .free == true and .session == null)' >/dev/null &&
        [ \"\$('$IB_CTL' --bus='$BUS' --json pasids)\" = '[]' ] &&
        '$IB_CTL' --bus='$BUS' --json tenants | jq -en 'input | .[0].sessions == 0 and
                all(.[0] | .pinned_bytes, .ioas, .hwpt, .mappings, .pasids; .used == 0)' >/dev/null"
ctl devices > "$ib_tmp/out"
check "devices for people after it: both free" sh -c "[ \$(grep -Ec ' free( |\$)' '$ib_tmp/out') -eq 2 ]"

# ---- the admin group
broker_stop
: > "$ib_tmp/broker.log"
broker_start --policy="$ib_tmp/policy.conf" --admin-group="$(getent group "$nobody_gid" | cut -d: -f1)"
client_start
wait_for 10 has_mapping
sid=$(ctl --json sessions | jq -r '.[0].id')
as_nobody "$IB_CTL" --bus="$BUS" kill-session "$sid" > "$ib_tmp/out" 2>&1
rc=$?
diag < "$ib_tmp/out"
check "a member of --admin-group may kill a session" sh -c "[ $rc -eq 0 ] &&
        '$IB_CTL' --bus='$BUS' --json sessions | jq -en 'input | length == 0' >/dev/null"
client_stop

restarted() {
        has_line "$ib_tmp/monitor.out" '.event == "BrokerStopped"' &&
                has_line "$ib_tmp/monitor.out" '.event == "BrokerStarted"'
}
check "monitor followed the broker's restart (BrokerStopped, BrokerStarted)" wait_for 10 restarted
kill "$monitor_pid"

# ---- errors
rm -f "$ib_tmp/vmm2.sock"
"$IB_DAEMON" --backend=sim --socket "$ib_tmp/vmm2.sock" --policy="$ib_tmp/policy.conf" --admin-bus="$BUS" \
        > "$ib_tmp/out" 2>&1
rc=$?
diag < "$ib_tmp/out"
check "a second broker on the same bus refuses to start: the name is taken" \
        sh -c "[ $rc -ne 0 ] && grep -q \"cannot own 'org.iommubroker.Broker1' .*another iommu-brokerd owns it\" '$ib_tmp/out'"

broker_stop
check "the broker stops cleanly (exit 0) after all this" [ $? -eq 0 ]
ctl status > "$ib_tmp/out" 2>&1
rc=$?
diag < "$ib_tmp/out"
check "without a broker: exit 3, 'iommu-brokerd is not running'" \
        sh -c "[ $rc -eq 3 ] && grep -q 'iommu-brokerd is not running' '$ib_tmp/out'"

"$IB_CTL" --bus="unix:path=$ib_tmp/no-bus" sessions > "$ib_tmp/out" 2>&1
rc=$?
diag < "$ib_tmp/out"
check "without a bus: exit 3, 'cannot connect'" sh -c "[ $rc -eq 3 ] && grep -q 'cannot connect to the unix:path=' '$ib_tmp/out'"

# ---- a bus not to be trusted: a stand-in broker lists a client name raw
if command -v python3 >/dev/null 2>&1; then
        if fake_broker_start "$(printf 'qemu\n 99  a  0  1  fake.service  x\r\033[31mRED\302\233')"; then
                ok "a stand-in broker owns the name, its session's client name raw"
        else
                diag < "$ib_tmp/fake.log"
                notok "a stand-in broker owns the name, its session's client name raw"
        fi
        ctl sessions > "$ib_tmp/out" 2>&1
        rc=$?
        diag < "$ib_tmp/out"
        check "sessions for people prints the raw name as one row with \\xNN, no control character" sh -c "
                [ $rc -eq 0 ] && [ \$(wc -l < '$ib_tmp/out') -eq 4 ] &&
                [ \$(tr -d '\\n -~' < '$ib_tmp/out' | wc -c) -eq 0 ] &&
                grep -Fq ' qemu\\x0a 99  a  0  1  fake.service  x\\x0d\\x1b[31mRED\\xc2\\x9b ' '$ib_tmp/out'"
        check "the header and the row are as wide: the columns count the escapes" \
                [ "$(head -n 1 "$ib_tmp/out" | wc -c)" -eq "$(sed -n 2p "$ib_tmp/out" | wc -c)" ]
        stop_pid "$fake_pid"
else
        skip "a stand-in broker owns the name, its session's client name raw" "python3 is not installed"
        skip "sessions for people prints the raw name as one row with \\xNN, no control character" "no python3"
        skip "the header and the row are as wide: the columns count the escapes" "no python3"
fi

# ---- a restart under a service manager with an fd store
# ib-svcmgr owns the VMM socket and the fd store; its control fifo takes "kill"
# (SIGKILL, then Restart=on-failure after RestartSec=, systemd's 100 ms default,
# by which time the bus has seen the old owner go).
svcmgr=$IB_BUILDDIR/tests/lib/ib-svcmgr
rm -f "$ib_tmp/svc.sock"
: > "$ib_tmp/broker.log"
spawn "$svcmgr" --socket "$ib_tmp/svc.sock" --control "$ib_tmp/svc.ctl" --status "$ib_tmp/svc.status" \
        --restart-sec 0.1 --start-limit-burst 0 -- \
        "$IB_DAEMON" --backend=sim --admin-bus="$BUS" --policy="$ib_tmp/policy.conf" 2>> "$ib_tmp/broker.log"
svcmgr_pid=$spawned
fd_store_on() { ctl --json status | jq -en 'input | .fd_store == true and .restarts == 0' >/dev/null; }
check "under a service manager: FdStore true, Restarts 0" wait_for 10 fd_store_on
ctl status > "$ib_tmp/out" 2>&1
diag < "$ib_tmp/out"
check "status for people: sessions survive a restart: yes (fd store)" \
        grep -q '^ *sessions survive a restart: yes (fd store)$' "$ib_tmp/out"

rm -f "$ib_tmp/fifo.svc"
mkfifo "$ib_tmp/fifo.svc"
"$IB_CLIENT" --socket "$ib_tmp/svc.sock" < "$ib_tmp/fifo.svc" > "$ib_tmp/svc-client.out" 2>&1 &
svc_client_pid=$!
ib_pids="$ib_pids $svc_client_pid"
exec 6> "$ib_tmp/fifo.svc"
printf '%s\n' 'ioas-alloc as=a' 'map ioas=@a memfd=ram size=2M' >&6
wait_for 10 has_mapping
echo kill > "$ib_tmp/svc.ctl"
restored() {
        grep -q '^ready .*start=2' "$ib_tmp/svc.status" &&
                ctl --json status > "$ib_tmp/status.json" && jqe '.restarts == 1' "$ib_tmp/status.json"
}
wait_for 10 restored
diag < "$ib_tmp/svc.status"
diag < "$ib_tmp/status.json"
check "after kill -9 and the restart: Restarts 1, the session and its 2 MiB restored" \
        jqe '.fd_store == true and .restarts == 1 and .sessions == 1 and .total_sessions == 1
             and .mapped_bytes == 2097152
             and .last_restart == {"sessions": 1, "ended": 0, "objects": 1, "mappings": 1,
                                   "mapped_bytes": 2097152, "settled": 0, "usec": .last_restart.usec}
             and .last_restart.usec > 0' "$ib_tmp/status.json"
ctl status > "$ib_tmp/out" 2>&1
diag < "$ib_tmp/out"
check "status for people after the restart: what it restored, and sessions survive" sh -c "
        grep -Eq '^ *Restarts: 1 \(last: 1 session restored, 0 ended, 1 object, 1 mapping, 2\.0M mapped, 0 interrupted requests settled, in [0-9.]+ (us|ms|s)\)\$' '$ib_tmp/out' &&
        grep -q '^ *sessions survive a restart: yes (fd store)\$' '$ib_tmp/out'"
busctl --address="$BUS" get-property org.iommubroker.Broker1 /org/iommubroker/Broker1 \
        org.iommubroker.Broker1.Manager LastRestart > "$ib_tmp/props" 2>&1
diag < "$ib_tmp/props"
check "LastRestart on the bus: seven counters, Sessions 1" \
        grep -q '^a{sv} 7 .*"Sessions" t 1 ' "$ib_tmp/props"
echo 'ioas-alloc as=b' >&6
served() { ctl --json status | jq -en 'input | .sessions == 1 and .objects == 2' >/dev/null; }
check "the restored session is served: a new IOAS in it counts" wait_for 10 served

# A name the restart record (63 bytes and a NUL) would cut inside its last
# character: the broker keeps only what the record keeps, cut before that
# character, and lists it the same after a restart.
q62=$(printf '%062d' 0 | tr 0 q)
named_client_start "$ib_tmp/svc.sock" "$q62$(printf '\303\251')"
echo 'ioas-alloc as=a' >&5
wait_for 10 hello_done
echo kill > "$ib_tmp/svc.ctl"
restarted_twice() {
        ctl --json status > "$ib_tmp/status.json" && jqe '.restarts == 2 and .sessions == 2' "$ib_tmp/status.json"
}
wait_for 10 restarted_twice
ctl --json sessions > "$ib_tmp/out" 2>&1
rc=$?
diag < "$ib_tmp/out"
check "after a restart, a name cut before a character the record could not keep: sessions exits 0, listed" \
        sh -c "[ $rc -eq 0 ] && jq -en --argjson pid $named_pid --arg name '$q62' \
                'input | any(.[]; .pid == \$pid and .client == \$name)' '$ib_tmp/out' >/dev/null"
named_client_stop
exec 6>&-
wait "$svc_client_pid" 2>/dev/null
echo stop > "$ib_tmp/svc.ctl"
wait "$svcmgr_pid"
check "the service manager stops the broker cleanly" [ $? -eq 0 ]

finish
