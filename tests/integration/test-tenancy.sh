#!/bin/bash
# test-tenancy.sh - two tenants as two real uids against one broker (sim backend), TAP.
#
# Policy: tenant vm1 (uid 1001) may map 64 MiB and open 0000:00:02.0; tenant
# vm2 (uid 1002) has nothing granted; uid 1003 matches no tenant.  Clients run
# as those uids with setpriv.  Checks what each gets: limits counted across a
# tenant's sessions and refused with EDQUOT naming the limit, device grants,
# refusal at connect, counters back to zero after disconnect, a reload with a
# broken file keeping the old policy (its FILE:LINE logged), a good reload,
# and the audit records; then, on a second broker started without a policy
# file, that a first policy with [Global] RevokeOnReload=yes closes the local
# admin's session.  Needs root (setpriv), $IB_DAEMON and $IB_CLIENT.
set -u
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else notok "$what"; fi; }

if [ "$(id -u)" != 0 ]; then
        echo "1..0 # SKIP needs root to run clients as other uids"
        exit 0
fi

tmp=$(mktemp -d /tmp/ib-tenancy.XXXXXX)
chmod 755 "$tmp"
sock=$tmp/vmm.sock
pol=$tmp/policy.conf
mkdir -p "$tmp/policy.d"
cat > "$pol" <<EOP
[Global]
AuditFile=$tmp/audit.jsonl

[Tenant vm1]
User=1001
Device=0000:00:02.0
PinnedMemoryMax=64M

[Tenant vm2]
User=1002

[Tenant vm4]
User=1004
Device=0000:00:03.0
IOASMax=1
MappingsMax=1
HWPTMax=1
RevokeOnReload=yes

[Tenant vm7]
User=1007
Device=0000:00:03.0
ObjectsMax=3

[Tenant vm6]
User=1006
Device=0000:00:03.0
ConfinedDeviceFds=yes

# the test itself reads the broker's counters as root
[Tenant admin]
User=0
EOP

"$IB_CLIENT" --version >/dev/null 2>&1   # a libtool wrapper relinks on first use: do it as root
"$IB_DAEMON" --backend=sim --socket "$sock" --socket-mode 0666 --policy "$pol" 2> "$tmp/daemon.log" &
dpid=$!
cleanup() {
        [ -n "${vm1_pid:-}" ] && kill "$vm1_pid" 2>/dev/null
        kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
        [ -n "${d2pid:-}" ] && kill "$d2pid" 2>/dev/null && wait "$d2pid" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done

as() { local uid=$1; shift; setpriv --reuid="$uid" --regid="$uid" --clear-groups "$IB_CLIENT" --socket "$sock" "$@"; }
field() { jq -r "$1" 2>/dev/null; }

echo "1..30"

# vm1, session A, stays connected holding 40 MiB
coproc VM1 { exec setpriv --reuid=1001 --regid=1001 --clear-groups "$IB_CLIENT" --socket "$sock"; }
vm1_pid=$VM1_PID
req() { printf '%s\n' "$1" >&"${VM1[1]}"; IFS= read -r -t 5 line <&"${VM1[0]}"; echo "$line"; }

out=$(req "ioas-alloc as=a")
check "vm1 (uid 1001) is admitted and allocates an IOAS" test "$(echo "$out" | field .ok)" = true
out=$(req "map ioas=@a memfd=ram size=40M iova=0x10000000")
check "vm1 maps 40 MiB" test "$(echo "$out" | field .ok)" = true

# vm1, session B: 32 MiB more would pass the tenant's 64 MiB
out=$(as 1001 'ioas-alloc as=b' 'map ioas=@b memfd=ram size=32M iova=0x10000000' 'map ioas=@b memfd=ram2 size=24M iova=0x40000000' | sed -n 2,3p)
m2=$(echo "$out" | sed -n 1p)
check "a second vm1 session is refused past 64 MiB with EDQUOT" test "$(echo "$m2" | field .errno)" = EDQUOT
names_limit() { echo "$m2" | grep -q "tenant 'vm1' limit PinnedMemoryMax"; }
check "the refusal names the tenant and PinnedMemoryMax" names_limit
check "24 MiB more still fit (64 MiB in all)" test "$(echo "$out" | sed -n 2p | field .ok)" = true

out=$(req "device-open dev=0000:00:02.0 as=d")
check "vm1 opens its granted device" test "$(echo "$out" | field .ok)" = true

out=$(as 1002 'device-list' 'device-open dev=0000:00:02.0')
check "vm2 sees no device" test "$(echo "$out" | sed -n 1p | field '.devices | length')" = 0
check "vm2 cannot open vm1's device: EPERM, not granted" \
        sh -c "echo '$(echo "$out" | sed -n 2p)' | grep -q '\"errno\":\"EPERM\".*not granted'"

out=$(as 1003 'hello' 2>/dev/null)
rc=$?
check "uid 1003 (no tenant) is refused at connect" test $rc -ne 0
says_no_tenant() { echo "$out" | grep -q '"errno":"EACCES".*no tenant of the policy matches uid 1003'; }
check "the refusal says EACCES: no tenant matches" says_no_tenant

# a reload with a broken drop-in keeps the old policy and logs FILE:LINE
printf '[Tenant vm3]\nUser=1003\nPinnedMemoryMaks=1G\n' > "$tmp/policy.d/50-vm3.conf"
kill -HUP "$dpid"; sleep 0.3
check "a broken reload is logged with its file and line" grep -q "50-vm3.conf:3:" "$tmp/daemon.log"
out=$(as 1003 'hello' 2>/dev/null); rc=$?
check "after the broken reload uid 1003 is still refused" test $rc -ne 0

printf '[Tenant vm3]\nUser=1003\nPinnedMemoryMax=1G\n' > "$tmp/policy.d/50-vm3.conf"
kill -HUP "$dpid"; sleep 0.3
out=$(as 1003 'hello' 2>/dev/null); rc=$?
check "after a good reload uid 1003 is tenant vm3" test $rc -eq 0

# vm1 hangs up: its pinned memory returns
exec {VM1[1]}>&-
wait "$vm1_pid" 2>/dev/null; vm1_pid=
sleep 0.3
out=$("$IB_CLIENT" --socket "$sock" caps)
check "after vm1 disconnects nothing stays mapped" test "$(echo "$out" | field .mapped_bytes)" = 0x0

grep -q '"verb":"connect".*"result":"denied"' "$tmp/audit.jsonl" &&
grep -q '"verb":"device-open".*"result":"denied"' "$tmp/audit.jsonl" &&
grep -q '"verb":"limit".*"result":"denied"' "$tmp/audit.jsonl" &&
grep -q '"verb":"reload".*"result":"denied"' "$tmp/audit.jsonl" &&
grep -q '"tenant":"vm1".*"verb":"device-open".*"result":"granted"' "$tmp/audit.jsonl" &&
grep -q '"tenant":"vm1".*"verb":"teardown".*"result":"emptied"' "$tmp/audit.jsonl"
check "the audit file records connects, device opens, limits, reloads and emptied contexts" test $? -eq 0

# every other limit: refused with EDQUOT naming it, and the session goes on
out=$(as 1004 'ioas-alloc as=a' 'ioas-alloc' 'map ioas=@a memfd=r size=4K iova=0x1000' \
        'map ioas=@a memfd=r size=4K iova=0x2000' 'device-open dev=0000:00:03.0 as=d' \
        'hwpt-alloc dev=@d pt=@a' 'hwpt-alloc dev=@d pt=@a' 'iova-ranges ioas=@a')
limit_refused() { echo "$out" | sed -n "$1p" | grep -q "\"errno\":\"EDQUOT\".*limit $2 reached"; }
check "IOASMax: the second IOAS is refused" limit_refused 2 IOASMax
check "MappingsMax: the second mapping is refused" limit_refused 4 MappingsMax
check "HWPTMax: the second HWPT is refused" limit_refused 7 HWPTMax
check "after the refusals the session still works" test "$(echo "$out" | sed -n 8p | field .ok)" = true

# ObjectsMax: kernel objects of every kind count against one limit
sleep 0.3       # vm4's client has exited: its device goes back
out=$(as 1007 'ioas-alloc as=a' 'device-open dev=0000:00:03.0 as=d' 'hwpt-alloc dev=@d pt=@a as=h' 'ioas-alloc' \
        'hwpt-alloc dev=@d pt=@a' 'hwpt-free hwpt=@h' 'ioas-alloc')
check "ObjectsMax: an IOAS, a device and a HWPT fit 3" test "$(echo "$out" | sed -n 1,3p | field .ok | sort -u)" = true
check "ObjectsMax: a fourth IOAS or HWPT is refused with EDQUOT naming it" \
        sh -c "echo '$(echo "$out" | sed -n 4,5p)' | grep -c '\"errno\":\"EDQUOT\".*limit ObjectsMax reached: 3 of 3' | grep -qx 2"
check "ObjectsMax: once the HWPT is freed, an IOAS fits" \
        test "$(echo "$out" | sed -n 6,7p | field .ok | tr '\n' ' ')" = "true true "

# ConfinedDeviceFds=yes: a device only for a process under a seccomp filter
sleep 0.3       # vm4's client above has exited: its device goes back
out=$(as 1006 'device-open dev=0000:00:03.0')
check "vm6 (ConfinedDeviceFds=yes) cannot open its device unconfined: EPERM" \
        sh -c "echo '$out' | grep -q '\"errno\":\"EPERM\".*ConfinedDeviceFds=yes'"
out=$(as 1006 --confine-device-fds 'device-open dev=0000:00:03.0')
check "vm6 opens it with --confine-device-fds" test "$(echo "$out" | field .ok)" = true
check "the refusal is audited" grep -q '"tenant":"vm6".*"verb":"device-open".*"result":"denied".*ConfinedDeviceFds' \
        "$tmp/audit.jsonl"

# a tenant the policy revokes on reload is cut off when a reload drops it
coproc VM4 { exec setpriv --reuid=1004 --regid=1004 --clear-groups "$IB_CLIENT" --socket "$sock"; }
vm4_pid=$VM4_PID
printf 'ioas-alloc\n' >&"${VM4[1]}"; IFS= read -r -t 5 line <&"${VM4[0]}"
sed -i 's/^User=1004$/User=1005/' "$pol"
kill -HUP "$dpid"; sleep 0.3
revoked() {
        grep -q "tenant 'vm4'.*the policy revokes it: closing" "$tmp/daemon.log" || return 1
        printf 'caps\n' >&"${VM4[1]}"
        IFS= read -r -t 5 line <&"${VM4[0]}"
        echo "# vm4 after the reload: $line"
        [ "$(echo "$line" | field .ok)" = false ]
}
check "a reload that drops a RevokeOnReload tenant closes its session" revoked
exec {VM4[1]}>&-
wait "$vm4_pid" 2>/dev/null     # one coproc at a time

check "the broker is still running" kill -0 "$dpid"

# From no policy to one: [Global] RevokeOnReload=yes applies to the local
# admin's session, whose tenant the new policy does not have.
sock2=$tmp/nopol.sock
mkdir "$tmp/nopol"
"$IB_DAEMON" --backend=sim --socket "$sock2" --socket-mode 0666 --policy "$tmp/nopol/policy.conf" \
        2> "$tmp/daemon2.log" &
d2pid=$!
for _ in $(seq 100); do [ -S "$sock2" ] && break; sleep 0.05; done
coproc ROOT { exec "$IB_CLIENT" --socket "$sock2"; }
root_pid=$ROOT_PID
printf 'ioas-alloc\n' >&"${ROOT[1]}"; IFS= read -r -t 5 line <&"${ROOT[0]}"
check "without a policy file root is admitted as the local admin" test "$(echo "$line" | field .ok)" = true
printf '[Global]\nRevokeOnReload=yes\n\n[Tenant vm1]\nUser=1001\n' > "$tmp/nopol/policy.conf"
kill -HUP "$d2pid"; sleep 0.3
local_admin_revoked() {
        grep -q "tenant 'local-admin'.*the policy revokes it: closing" "$tmp/daemon2.log" || return 1
        printf 'caps\n' >&"${ROOT[1]}"
        IFS= read -r -t 5 line <&"${ROOT[0]}"
        echo "# the local admin after the reload: $line"
        [ "$(echo "$line" | field .ok)" = false ]
}
check "a first policy with [Global] RevokeOnReload=yes closes the local admin's session" local_admin_revoked
exec {ROOT[1]}>&-
wait "$root_pid" 2>/dev/null

# A tenant dropped by a reload leaves its sessions orphaned (RevokeOnReload=no): when a later
# reload brings it back, even with RevokeOnReload=yes, they lost nothing then and run on.
printf '[Tenant admin]\nUser=0\n' > "$tmp/nopol/policy.conf"
kill -HUP "$d2pid"; sleep 0.3
coproc ROOT2 { exec "$IB_CLIENT" --socket "$sock2"; }
root2_pid=$ROOT2_PID
printf 'ioas-alloc\n' >&"${ROOT2[1]}"; IFS= read -r -t 5 line <&"${ROOT2[0]}"
printf '[Tenant other]\nUser=4242\n' > "$tmp/nopol/policy.conf"
kill -HUP "$d2pid"; sleep 0.3
printf '[Tenant admin]\nUser=0\nRevokeOnReload=yes\n' > "$tmp/nopol/policy.conf"
kill -HUP "$d2pid"; sleep 0.3
returned_tenant_runs_on() {
        printf 'caps\n' >&"${ROOT2[1]}"
        IFS= read -r -t 5 line <&"${ROOT2[0]}"
        echo "# the session after its tenant came back: $line"
        [ "$(echo "$line" | field .ok)" = true ]
}
check "a session whose tenant comes back in a reload (RevokeOnReload=yes) runs on" returned_tenant_runs_on
exec {ROOT2[1]}>&-
wait "$root2_pid" 2>/dev/null

[ $failed -eq 0 ] || { sed 's/^/# daemon: /' "$tmp/daemon.log"; sed 's/^/# daemon 2: /' "$tmp/daemon2.log";
                       sed 's/^/# audit: /' "$tmp/audit.jsonl" 2>/dev/null | head -20; }
exit $failed
