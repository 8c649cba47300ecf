#!/bin/bash
# test-delegate.sh - delegated devices on the sim backend, end to end, TAP.
#
# What an operator and a VMM launcher see of DeviceDelegate through
# "iommu-broker-client delegate": refused without DelegateDevices=yes (EPERM,
# the key named, audited); granted, the fds placed at 3 and 4 and substituted
# into the command, RLIMIT_MEMLOCK set to PinnedMemoryMax (soft and hard);
# (PinnedMemoryMax=, for which the broker needs CAP_SYS_RESOURCE: where the
# test runs without it, the refusal that says so is checked instead); the
# device exclusive while the process lives (another tenant's DeviceOpen
# and delegate, the same tenant's second delegate: EBUSY), listed as
# delegated; returned when the process exits (also by kill -9), after which
# a brokered DeviceOpen succeeds; a peer holding CAP_IPC_LOCK is refused;
# usage errors exit 2 before anything is asked; every grant and end is in
# the audit file.  On the sim the fds are stand-ins (memfds); the guest suite
# proves that stock QEMU accepts the real ones.
# Needs root (setpriv), $IB_DAEMON, $IB_CLIENT and jq.
set -u
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else notok "$what"; fi; }
diag() { sed 's/^/# /'; }

if [ "$(id -u)" != 0 ]; then
        echo "1..0 # SKIP needs root to run clients as other uids"
        exit 0
fi
if [ -z "${IB_DAEMON:-}" ] || [ -z "${IB_CLIENT:-}" ] || ! command -v jq >/dev/null; then
        echo "1..0 # SKIP needs IB_DAEMON, IB_CLIENT and jq"
        exit 0
fi

DEV=0000:00:02.0
tmp=$(mktemp -d /tmp/ib-delegate.XXXXXX)
chmod 755 "$tmp"
sock=$tmp/vmm.sock
pol=$tmp/policy.conf
audit=$tmp/audit.jsonl
cat > "$pol" <<EOP
[Global]
AuditFile=$audit

[Tenant vm1]
User=1001
Device=$DEV
DelegateDevices=yes

[Tenant vm5]
User=1005
Device=$DEV
PinnedMemoryMax=32M
DelegateDevices=yes

[Tenant vm2]
User=1002
Device=$DEV

[Tenant root]
User=0
Device=$DEV
DelegateDevices=yes
EOP

"$IB_CLIENT" --version >/dev/null 2>&1   # a libtool wrapper relinks on first use: do it as root
"$IB_DAEMON" --backend=sim --socket "$sock" --socket-mode 0666 --policy "$pol" 2> "$tmp/daemon.log" &
dpid=$!
vmm_pid=
cleanup() {
        [ -n "$vmm_pid" ] && kill -9 "$vmm_pid" 2>/dev/null
        kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
        [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done

as() { local uid=$1; shift; setpriv --reuid="$uid" --regid="$uid" --clear-groups "$IB_CLIENT" --socket "$sock" "$@"; }
# as_vmm UID OUT COMMAND...: a delegate launcher in the background; its pid in vmm_pid
as_vmm() {
        local uid=$1 out=$2; shift 2
        setpriv --reuid="$uid" --regid="$uid" --clear-groups "$IB_CLIENT" --socket "$sock" "$@" > "$out" 2>&1 &
        vmm_pid=$!
}
audited() { jq -s -e --arg v "$1" --arg o "$2" --arg r "$3" \
        'map(select(.verb == $v and .object == $o and .result == $r)) | length > 0' "$audit" >/dev/null 2>&1; }
# wait_for SECONDS COMMAND...
wait_for() { local t=$(( $1 * 10 )); shift; while [ $t -gt 0 ]; do "$@" && return 0; sleep 0.1; t=$((t - 1)); done; return 1; }
device_free_for() { as "$1" "device-open dev=$DEV" | jq -en 'input | .ok' >/dev/null; }

# whether the broker (root, as this script) can hold CAP_SYS_RESOURCE: bit 24 of the bounding set
bnd=$(awk '$1 == "CapBnd:" { print $2 }' /proc/self/status)
if [ $(( 0x$bnd >> 24 & 1 )) = 1 ]; then sys_resource=yes; else sys_resource=no; fi

echo "1..18"

# ---- refused without the policy key
as 1002 delegate dev=$DEV -- true > "$tmp/out" 2>&1
rc=$?
diag < "$tmp/out"
check "a tenant without DelegateDevices=yes is refused: exit 1" [ $rc -eq 1 ]
check "the refusal says EPERM and names the key" grep -q "delegate: EPERM: .*DelegateDevices=yes" "$tmp/out"
check "the refusal is audited" audited device-delegate "$DEV" denied

# ---- usage errors: nothing asked
as 1001 delegate dev=$DEV true > "$tmp/out" 2>&1
rc1=$?
as 1001 delegate dev=$DEV -- echo '{dev1}' > "$tmp/out2" 2>&1
rc2=$?
cat "$tmp/out" "$tmp/out2" | diag
check "usage errors (no '--', a placeholder past the devices) exit 2" [ $rc1 -eq 2 -a $rc2 -eq 2 ]

# ---- granted
mkfifo "$tmp/go"
chmod 666 "$tmp/go"
as_vmm 1001 "$tmp/vmm.out" delegate dev=$DEV -- sh -c \
        'echo "args iommufd={iommufd} dev={dev0}"; echo "id $IOMMU_BROKER_DELEGATION";
         grep "locked memory" /proc/self/limits; ls -l /proc/self/fd/ ; read x < '"$tmp/go"
check "the launcher runs the command" wait_for 5 grep -q "^args" "$tmp/vmm.out"
diag < "$tmp/vmm.out"
check "{iommufd} and {dev0} become 3 and 4, where the fds are" \
        sh -c "grep -q '^args iommufd=3 dev=4\$' '$tmp/vmm.out' && grep -q ' 3 -> /memfd:' '$tmp/vmm.out' &&
               grep -q ' 4 -> /memfd:' '$tmp/vmm.out'"
memlock_before=$(awk '/locked memory/ { print $4 " +" $5 }' /proc/self/limits)
check "without PinnedMemoryMax= the process keeps its RLIMIT_MEMLOCK" \
        grep -Eq "^Max locked memory +$memlock_before" "$tmp/vmm.out"
check "the delegation is granted and audited" audited device-delegate "$DEV" granted

# ---- exclusive while the process lives
out=$(as 1002 "device-open dev=$DEV")
echo "$out" | diag
check "another tenant's DeviceOpen: EBUSY, delegated" \
        sh -c "echo '$out' | jq -en 'input | .errno == \"EBUSY\" and (.error | test(\"delegated\"))' >/dev/null"
as 1001 delegate dev=$DEV -- true > "$tmp/out" 2>&1
rc=$?
diag < "$tmp/out"
check "a second delegation of the device: EBUSY" sh -c "[ $rc -eq 1 ] && grep -q 'delegate: EBUSY' '$tmp/out'"
out=$(as 1001 "device-list")
echo "$out" | diag
check "DeviceList shows it delegated to the launcher's pid (same uid)" \
        sh -c "echo '$out' | jq -en --arg d $DEV --argjson p $vmm_pid \
               'input | .devices[] | select(.name == \$d) | .delegated and .delegated_to_pid == \$p and .in_use' >/dev/null"

# ---- returned at exit
echo go > "$tmp/go"
wait "$vmm_pid"
vmm_pid=
check "after the process exits the device is free again" wait_for 6 device_free_for 1002
check "the end of the delegation is audited" audited delegation-end "$DEV" released

# ---- kill -9 returns it too
as_vmm 1001 "$tmp/vmm2.out" delegate dev=$DEV -- sleep 60
wait_for 5 audited device-delegate "$DEV" granted
sleep 0.5
kill -9 "$vmm_pid"
wait "$vmm_pid" 2>/dev/null
vmm_pid=
check "after kill -9 of the VMM the device is free again" wait_for 6 device_free_for 1002
check "two delegation ends in the audit" \
        sh -c "[ \$(jq -c 'select(.verb == \"delegation-end\")' '$audit' | wc -l) -eq 2 ]"

# ---- CAP_IPC_LOCK: the kernel would not count the pins
"$IB_CLIENT" --socket "$sock" delegate dev=$DEV -- true > "$tmp/out" 2>&1
rc=$?
diag < "$tmp/out"
check "a peer holding CAP_IPC_LOCK is refused with EPERM naming it" \
        sh -c "[ $rc -eq 1 ] && grep -q 'delegate: EPERM: .*CAP_IPC_LOCK' '$tmp/out'"
serves() { as 1002 "device-list" | jq -en 'input | .ok' >/dev/null; }
check "the daemon still serves" serves

# ---- PinnedMemoryMax= becomes the VMM's RLIMIT_MEMLOCK, soft and hard
setpriv --reuid=1005 --regid=1005 --clear-groups "$IB_CLIENT" --socket "$sock" delegate dev=$DEV -- \
        grep "locked memory" /proc/self/limits > "$tmp/out" 2>&1
rc=$?
diag < "$tmp/out"
if [ $sys_resource = yes ]; then
        check "RLIMIT_MEMLOCK is PinnedMemoryMax, soft and hard (32 MiB)" \
                sh -c "[ $rc -eq 0 ] && grep -Eq '^Max locked memory +33554432 +33554432 +bytes' '$tmp/out'"
else
        check "without CAP_SYS_RESOURCE (not in this machine's bounding set) the broker refuses, saying so" \
                sh -c "[ $rc -eq 1 ] && grep -q 'delegate: EPERM: .*CAP_SYS_RESOURCE' '$tmp/out'"
fi

exit $failed
