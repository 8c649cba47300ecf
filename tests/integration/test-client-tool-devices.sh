#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-client-tool-devices.sh - iommu-broker-client's device, HWPT and PASID
# verbs against a real iommu-brokerd.
#
# Owns: starting "$IB_DAEMON --backend=sim" on a socket in a temporary
# directory, driving "$IB_CLIENT" through the device scenarios (short runs, and
# long-lived clients fed through a fifo so that two sessions exist at once),
# checking their JSON lines with jq, and stopping the daemon and the clients it
# started (trap).  The sim backend's default devices are 0000:00:02.0 (PASID
# width 20, dirty tracking, nesting, snoop control) and 0000:00:03.0 (none of
# these).  Output is TAP, as in test-client-tool.sh.
# Must never: touch anything outside its temporary directory.
#
# Environment: IB_DAEMON  the iommu-brokerd binary
#              IB_CLIENT  the iommu-broker-client binary

set -u

if [ -z "${IB_DAEMON:-}" ] || [ -z "${IB_CLIENT:-}" ]; then
        echo "1..0 # SKIP IB_DAEMON and IB_CLIENT must name the binaries"
        exit 0
fi
if ! command -v jq >/dev/null; then
        echo "1..0 # SKIP jq is not installed"
        exit 0
fi

DEV2=0000:00:02.0
DEV3=0000:00:03.0

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-client-tool-devices.XXXXXX") || exit 99
sock="$tmp/s"
daemon_pid=
A_pid=
B_pid=

cleanup() {
        exec 3>&- 4>&-
        for pid in $A_pid $B_pid; do
                if kill -0 "$pid" 2>/dev/null; then
                        kill -TERM "$pid" 2>/dev/null
                        wait "$pid" 2>/dev/null
                fi
        done
        if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
                kill -TERM "$daemon_pid" 2>/dev/null
                wait "$daemon_pid" 2>/dev/null
        fi
        rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 99' INT TERM

"$IB_DAEMON" --backend=sim --socket "$sock" 2>"$tmp/daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do
        [ -S "$sock" ] && break
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.1
done
if [ ! -S "$sock" ]; then
        echo "Bail out! iommu-brokerd did not create $sock"
        sed 's/^/# /' "$tmp/daemon.log"
        exit 99
fi

# a long-lived client that died must fail its checks, not kill the script on the next write
trap '' PIPE

# ---------------------------------------------------------------- helpers

n=0
failures=0
rc=0
errfile="$tmp/err"

# Every client is started with fds 3 and 4 closed: a copy of a long-lived client's fifo would
# keep that client from seeing the end of its input.

# client ARGS...: one short run of the tool; output in $tmp/out, $tmp/err, status in $rc.
client() {
        "$IB_CLIENT" --socket "$sock" "$@" >"$tmp/out" 2>"$tmp/err" 3>&- 4>&-
        rc=$?
        errfile="$tmp/err"
}

# bg_start X FD: starts long-lived client X (A or B) reading requests from a fifo held open on FD.
bg_start() {
        mkfifo "$tmp/in.$1" || exit 99
        "$IB_CLIENT" --socket "$sock" <"$tmp/in.$1" >"$tmp/out.$1" 2>"$tmp/err.$1" 3>&- 4>&- &
        eval "${1}_pid=\$!; ${1}_fd=$2; ${1}_lines=0"
        eval "exec $2>\"\$tmp/in.$1\""
}

# bg X REQUEST...: sends the requests to client X and waits (10 s at most) for their lines,
# which then are the lines of $tmp/out (line 1: the first of these requests).
bg() {
        local x=$1 fd pid before want have i
        shift
        eval "fd=\$${x}_fd; pid=\$${x}_pid; before=\$${x}_lines"
        want=$before
        for req in "$@"; do
                { printf '%s\n' "$req" >&"$fd"; } 2>/dev/null
                want=$((want + 1))
        done
        eval "${x}_lines=$want"
        i=0
        while :; do
                have=$(wc -l <"$tmp/out.$x")
                [ "$have" -ge "$want" ] && break
                kill -0 "$pid" 2>/dev/null || break
                i=$((i + 1))
                [ "$i" -ge 200 ] && break
                sleep 0.05
        done
        sed -n "$((before + 1)),\$p" "$tmp/out.$x" >"$tmp/out"
        rc=0
        errfile="$tmp/err.$x"
}

# bg_stop X: closes client X's input (it exits at the end of it: its session ends); status in $rc.
bg_stop() {
        local fd pid
        eval "fd=\$${1}_fd; pid=\$${1}_pid"
        eval "exec $fd>&-"
        wait "$pid"
        rc=$?
        eval "${1}_pid="
}

# fds X: the number of fds client X holds.
fds() {
        local pid
        eval "pid=\$${1}_pid"
        ls "/proc/$pid/fd" | wc -l
}

# line N: the Nth line of the last output.
line() {
        sed -n "${1}p" "$tmp/out"
}

# has N EXPR: line N is one JSON object for which EXPR is true (jq 1.6 -e passes empty input).
has() {
        local l
        l=$(line "$1")
        [ -n "$l" ] || return 1
        [ "$(printf '%s\n' "$l" | jq -e "type == \"object\" and ($2)" 2>/dev/null)" = true ]
}

# val N EXPR: EXPR on line N, raw.
val() {
        line "$1" | jq -r "$2" 2>/dev/null
}

# fails N ERRNO [WORD]: line N failed with ERRNO (and an error mentioning WORD).
fails() {
        has "$1" ".ok == false and .errno == \"$2\" and (.error | type) == \"string\"
                  and (.error | length) > 0 and (.error | contains(\"${3:-}\"))"
}

# einval N WORD: line N is a local EINVAL failure whose error mentions WORD.
einval() {
        fails "$1" EINVAL "$2"
}

# check NAME COMMAND...: one TAP line for the result of COMMAND.
check() {
        local name=$1
        shift
        n=$((n + 1))
        if "$@"; then
                echo "ok $n - $name"
        else
                echo "not ok $n - $name"
                failures=$((failures + 1))
                echo "# failed: $*"
                echo "# exit status $rc; stdout:"
                sed 's/^/#   /' "$tmp/out"
                echo "# stderr:"
                sed 's/^/#   /' "$errfile"
        fi
}

status_is() {
        [ "$rc" -eq "$1" ]
}

lines_are() {
        [ "$(wc -l <"$tmp/out")" -eq "$1" ] && jq -e . "$tmp/out" >/dev/null 2>&1
}

same() {
        [ -n "$1" ] && [ "$1" = "$2" ]
}

daemon_alive() {
        kill -0 "$daemon_pid" 2>/dev/null
}

# the entry of device $2 in the device-list reply on line $1, as jq input
DEVICE_OF='(.devices[] | select(.name == $name))'
dev_has() {
        local l
        l=$(line "$1")
        [ -n "$l" ] || return 1
        [ "$(printf '%s\n' "$l" | jq -e --arg name "$2" "$DEVICE_OF | $3" 2>/dev/null)" = true ]
}

# ---------------------------------------------------------------- 1. acceptance, one connection

# The nested HWPT the device's RID is attached to is allocated with pasid=yes: the kernel
# (iommufd_hwpt_pasid_compat) attaches a PASID only while the RID's HWPT is PASID-capable too,
# and the sim models that; the "pasid" checks further down pin both directions of the rule.
bg_start A 3
bg A "device-open dev=$DEV2 as=d" \
     'ioas-alloc as=a' \
     'hwpt-alloc dev=@d pt=@a nest-parent=yes as=p' \
     'hwpt-alloc dev=@d pt=@p data-type=vtd-s1 pgtbl=0x1000 addr-width=48 pasid=yes as=n' \
     'attach dev=@d pt=@n' \
     'hwpt-alloc dev=@d pt=@a pasid=yes as=pp' \
     'pasid-attach dev=@d vpasid=5 pt=@pp' \
     'pasid-lookup dev=@d vpasid=5'
check "acceptance: eight JSON lines" lines_are 8
check "acceptance: device-open gives the dev id and keeps the fd, nothing else" \
        has 1 '.verb == "device-open" and .ok == true and (.dev | type) == "number" and .fd == true
               and (keys | sort) == ["dev", "fd", "ok", "verb"]'
check "acceptance: ioas-alloc" has 2 '.verb == "ioas-alloc" and .ok == true and (.ioas | type) == "number"'
check "acceptance: a nesting-parent HWPT on the IOAS" \
        has 3 '.verb == "hwpt-alloc" and .ok == true and (.hwpt | type) == "number"'
check "acceptance: a nested VT-d stage-1 HWPT on the parent" \
        has 4 '.verb == "hwpt-alloc" and .ok == true and (.hwpt | type) == "number"'
hwpt_p=$(val 3 .hwpt)
hwpt_n=$(val 4 .hwpt)
ioas_a=$(val 2 .ioas)
dev_d=$(val 1 .dev)
check "acceptance: the HWPTs and the IOAS have distinct ids" \
        eval '[ -n "$hwpt_p" ] && [ "$hwpt_p" != "$hwpt_n" ] &&
              [ "$hwpt_p" != "$ioas_a" ] && [ "$hwpt_n" != "$ioas_a" ]'
check "acceptance: attach to the nested HWPT uses that HWPT" \
        eval 'has 5 ".verb == \"attach\" and .ok == true" && same "$(val 5 .hwpt)" "$hwpt_n"'
check "acceptance: a PASID-capable HWPT" \
        has 6 '.verb == "hwpt-alloc" and .ok == true and (.hwpt | type) == "number"'
check "acceptance: pasid-attach gives a physical PASID" \
        has 7 '.verb == "pasid-attach" and .ok == true and (.pasid | type) == "number" and .pasid > 0'
pasid=$(val 7 .pasid)
hwpt_pp=$(val 6 .hwpt)
check "acceptance: pasid-lookup gives the same PASID and the HWPT" \
        eval 'has 8 ".verb == \"pasid-lookup\" and .ok == true" &&
              same "$(val 8 .pasid)" "$pasid" && same "$(val 8 .pt)" "$hwpt_pp"'

client "device-open dev=$DEV2"
check "acceptance: meanwhile a second session cannot open the device (EBUSY)" \
        eval 'status_is 1 && lines_are 1 && fails 1 EBUSY "another session"'

bg A 'hwpt-alloc dev=@d pt=@a pasid=yes as=pp2' 'pasid-attach dev=@d vpasid=5 pt=@pp2' \
     'pasid-lookup dev=@d vpasid=5'
check "pasid: attaching an attached vPASID again moves it, keeping the PASID" \
        eval 'has 2 ".ok == true" && same "$(val 2 .pasid)" "$pasid"'
check "pasid: the lookup follows the move" \
        eval 'same "$(val 3 .pasid)" "$pasid" && same "$(val 3 .pt)" "$(val 1 .hwpt)"'

bg A 'hwpt-alloc dev=@d pt=@p data-type=vtd-s1 pgtbl=0x1000 addr-width=48 pasid=no as=n0' \
     'attach dev=@d pt=@n0' 'attach dev=@d pt=@a' 'pasid-attach dev=@d vpasid=6 pt=@p' \
     'pasid-lookup dev=@d vpasid=5'
check "pasid: with PASIDs attached, the RID cannot move to a HWPT without pasid (EINVAL)" \
        eval 'has 1 ".ok == true" && fails 2 EINVAL'
check "pasid: nor to an IOAS (its automatic HWPT is not PASID-capable): EINVAL" fails 3 EINVAL
check "pasid: a PASID cannot attach to a HWPT without pasid (EINVAL)" fails 4 EINVAL
check "pasid: the failed attaches changed nothing" eval 'same "$(val 5 .pasid)" "$pasid"'

bg A 'hw-info dev=@d'
check "hw-info: $DEV2 is VT-d with dirty tracking, nesting, snoop control, 20 PASID bits" \
        has 1 '.verb == "hw-info" and .ok == true and .iommu_type == "intel-vtd" and .dirty_tracking == true
               and .nesting == true and .enforce_snoop == true and .max_pasid_log2 == 20
               and (.pasid_exec | type) == "boolean" and (.pasid_priv | type) == "boolean"
               and (.ats_not_supported | type) == "boolean"'
check "hw-info: vendor_data is a hex string" has 1 '.vendor_data | test("^([0-9a-f]{2})+$")'

if [ -d "/proc/$A_pid/fd" ]; then
        fds_before=$(fds A)
        bg A "device-open dev=$DEV3 as=d3"
        fds_open=$(fds A)
        check "device fd: device-open keeps one more fd open" \
                eval 'has 1 ".ok == true and .fd == true" && [ "$fds_open" -eq $((fds_before + 1)) ]'
        bg A 'device-close dev=@d3'
        fds_closed=$(fds A)
        check "device fd: device-close closes it" \
                eval 'has 1 ".verb == \"device-close\" and .ok == true" &&
                      [ "$fds_closed" -eq "$fds_before" ]'
else
        n=$((n + 1)); echo "ok $n # SKIP no /proc/PID/fd"
        n=$((n + 1)); echo "ok $n # SKIP no /proc/PID/fd"
fi

# ---------------------------------------------------------------- 2. device-list from both sides

bg_start B 4
bg B "device-open dev=$DEV3 as=d3"
check "device-list: the second client opens $DEV3" has 1 '.ok == true'

bg A 'device-list'
check "device-list: one line, both devices" \
        eval 'lines_are 1 && has 1 ".verb == \"device-list\" and .ok == true and (.devices | length) >= 2"'
check "device-list: each entry has name, vendor, device, pasid_width, open_here, in_use" \
        has 1 'all(.devices[]; (.name | type) == "string" and (.vendor | test("^0x[0-9a-f]{4}$"))
                              and (.device | test("^0x[0-9a-f]{4}$")) and (.pasid_width | type) == "number"
                              and (.open_here | type) == "boolean" and (.in_use | type) == "boolean"
                              and ((has("iommu_group") | not)
                                   or ((.iommu_group | type) == "number" and .iommu_group >= 0)))'
check "device-list: first client sees $DEV2 open here, PASID width 20" \
        dev_has 1 "$DEV2" '.open_here == true and .in_use == true and .pasid_width == 20'
check "device-list: first client sees $DEV3 in use elsewhere, no PASID" \
        dev_has 1 "$DEV3" '.open_here == false and .in_use == true and .pasid_width == 0'

bg B 'device-list'
check "device-list: second client sees $DEV2 in use elsewhere" \
        dev_has 1 "$DEV2" '.open_here == false and .in_use == true'
check "device-list: second client sees $DEV3 open here" \
        dev_has 1 "$DEV3" '.open_here == true and .in_use == true'

bg B 'device-close dev=@d3' 'device-list'
check "device-list: after device-close $DEV3 is free" \
        eval 'has 1 ".ok == true" && dev_has 2 "$DEV3" ".open_here == false and .in_use == false"'
bg_stop B

client 'device-list'
check "device-list: a third client sees $DEV2 in use, $DEV3 free" \
        eval 'status_is 0 && dev_has 1 "$DEV2" ".open_here == false and .in_use == true" &&
              dev_has 1 "$DEV3" ".open_here == false and .in_use == false"'

# ---------------------------------------------------------------- 3. bad input, from the broker

client 'ioas-alloc as=a' "attach dev=$dev_d pt=@a" "hw-info dev=$dev_d" "device-close dev=$dev_d"
check "bad input: another session's dev id is ENOENT (attach)" eval '[ -n "$dev_d" ] && fails 2 ENOENT'
check "bad input: another session's dev id is ENOENT (hw-info, device-close)" \
        eval 'fails 3 ENOENT && fails 4 ENOENT'

client 'ioas-alloc as=a' 'attach dev=99 pt=@a' 'detach dev=99' 'hwpt-alloc dev=99 pt=@a' \
       'pasid-attach dev=99 vpasid=1 pt=@a'
check "bad input: a device the session did not open is ENOENT" \
        eval 'fails 2 ENOENT && fails 3 ENOENT && fails 4 ENOENT && fails 5 ENOENT'

client 'device-open dev=0000:99:1f.7' 'device-open dev=bogus'
check "bad input: device-open of an unknown name is ENODEV" eval 'fails 1 ENODEV && fails 2 ENODEV'

bg A 'pasid-attach dev=@d vpasid=2000000 pt=@pp' 'pasid-attach dev=@d vpasid=0 pt=@pp' \
     'hwpt-alloc dev=@d pt=@a as=plain' \
     'hwpt-alloc dev=@d pt=@plain data-type=vtd-s1 pgtbl=0x1000 addr-width=48' \
     'hwpt-alloc dev=@d pt=@a data-type=vtd-s1 pgtbl=0x1000 addr-width=48' \
     "device-open dev=$DEV2" \
     'pasid-lookup dev=@d vpasid=6'
check "bad input: vPASID beyond the PASID width is ERANGE" fails 1 ERANGE
check "bad input: vPASID 0 is EINVAL" fails 2 EINVAL
check "bad input: a nested HWPT on a parent without nest-parent is EINVAL" \
        eval 'has 3 ".ok == true" && fails 4 EINVAL'
check "bad input: a nested HWPT on an IOAS is EINVAL" fails 5 EINVAL
check "bad input: opening a device twice in one session is EALREADY" fails 6 EALREADY
check "bad input: pasid-lookup of an unattached vPASID is ENOENT" fails 7 ENOENT

client "device-open dev=$DEV3 as=d" 'ioas-alloc as=a' \
       'hwpt-alloc dev=@d pt=@a nest-parent=yes' \
       'hwpt-alloc dev=@d pt=@a dirty=yes' \
       'pasid-attach dev=@d vpasid=1 pt=@a' \
       'hw-info dev=@d' \
       'attach dev=@d pt=@a'
check "bad input: $DEV3 opens" has 1 '.ok == true'
check "bad input: nest-parent on $DEV3 is EOPNOTSUPP" fails 3 EOPNOTSUPP
check "bad input: dirty tracking on $DEV3 is EOPNOTSUPP" fails 4 EOPNOTSUPP
check "bad input: a PASID on $DEV3 (no PASID capability) is ERANGE" fails 5 ERANGE
check "hw-info: $DEV3 has no dirty tracking, nesting, snoop control or PASID" \
        has 6 '.ok == true and .dirty_tracking == false and .nesting == false and .enforce_snoop == false
               and .max_pasid_log2 == 0 and (.vendor_data | test("^([0-9a-f]{2})*$"))'
check "bad input: $DEV3 still attaches to a plain IOAS" has 7 '.ok == true and (.hwpt | type) == "number"'

# ---------------------------------------------------------------- 4. free again after its session

bg_stop A
check "disconnect: the first client exits normally" eval '[ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]'

client 'device-list' "device-open dev=$DEV2 as=d" 'hw-info dev=@d'
check "disconnect: $DEV2 is no longer in use" dev_has 1 "$DEV2" '.in_use == false and .open_here == false'
check "disconnect: a new client opens $DEV2 again" has 2 '.ok == true and .fd == true'
check "disconnect: and it works" has 3 '.ok == true and .iommu_type == "intel-vtd"'

# ---------------------------------------------------------------- PASIDs need a PASID-capable RID HWPT

# the acceptance sequence with a nested HWPT allocated pasid=no: the PASID cannot attach while
# the RID is on it (iommufd_hwpt_pasid_compat); once the RID is detached it can, and then the
# RID cannot go back
client "device-open dev=$DEV2 as=d" 'ioas-alloc as=a' \
       'hwpt-alloc dev=@d pt=@a nest-parent=yes as=p' \
       'hwpt-alloc dev=@d pt=@p data-type=vtd-s1 pgtbl=0x1000 addr-width=48 pasid=no as=n' \
       'attach dev=@d pt=@n' \
       'hwpt-alloc dev=@d pt=@a pasid=yes as=pp' \
       'pasid-attach dev=@d vpasid=5 pt=@pp' \
       'detach dev=@d' \
       'pasid-attach dev=@d vpasid=5 pt=@pp' \
       'attach dev=@d pt=@n' \
       'pasid-lookup dev=@d vpasid=5'
check "pasid rule: the RID attaches to the nested HWPT without pasid" \
        eval 'has 4 ".ok == true" && has 5 ".ok == true"'
check "pasid rule: then a PASID cannot attach (EINVAL)" eval 'has 6 ".ok == true" && fails 7 EINVAL'
check "pasid rule: with the RID detached it can" \
        eval 'has 8 ".ok == true" && has 9 ".ok == true and .pasid > 0"'
check "pasid rule: and then the RID cannot attach to the HWPT without pasid (EINVAL)" fails 10 EINVAL
check "pasid rule: the PASID stayed" eval 'same "$(val 11 .pasid)" "$(val 9 .pasid)"'

# ---------------------------------------------------------------- enforce-snoop

client 'ioas-alloc enforce-snoop=yes as=s' \
       "device-open dev=$DEV3 as=d3" "device-open dev=$DEV2 as=d2" \
       'attach dev=@d3 pt=@s' \
       'attach dev=@d2 pt=@s' \
       'ioas-free ioas=@s' \
       'detach dev=@d2' \
       'ioas-free ioas=@s'
check "enforce-snoop: the IOAS is allocated" has 1 '.ok == true'
check "enforce-snoop: $DEV3 (no snoop control) cannot attach: EOPNOTSUPP" fails 4 EOPNOTSUPP
check "enforce-snoop: $DEV2 attaches fine" has 5 '.ok == true and (.hwpt | type) == "number"'
check "ioas-free: an IOAS with an attached device is EBUSY" fails 6 EBUSY
check "ioas-free: after detach it is freed" eval 'has 7 ".ok == true" && has 8 ".ok == true"'

client 'ioas-alloc as=a' "device-open dev=$DEV2 as=d" "device-open dev=$DEV3 as=d3" \
       'hwpt-alloc dev=@d pt=@a enforce-snoop=yes as=h' \
       'attach dev=@d3 pt=@h' 'attach dev=@d pt=@h'
check "enforce-snoop: a HWPT allocated with it refuses $DEV3 (EOPNOTSUPP), takes $DEV2" \
        eval 'has 4 ".ok == true" && fails 5 EOPNOTSUPP && has 6 ".ok == true"'

# ---------------------------------------------------------------- lifecycle of HWPTs, PASIDs and devices

client "device-open dev=$DEV2 as=d" 'ioas-alloc as=a' \
       'hwpt-alloc dev=@d pt=@a pasid=yes as=h' \
       'pasid-attach dev=@d vpasid=7 pt=@h' \
       'hwpt-free hwpt=@h' \
       'pasid-detach dev=@d vpasid=7' \
       'pasid-lookup dev=@d vpasid=7' \
       'pasid-detach dev=@d vpasid=7' \
       'hwpt-free hwpt=@h' \
       'hwpt-free hwpt=@h' \
       'attach dev=@d pt=@a' \
       'detach dev=@d' \
       'detach dev=@d' \
       'device-close dev=@d' \
       'device-close dev=@d' \
       "device-open dev=$DEV2"
check "lifecycle: one line per request" lines_are 16
check "lifecycle: a HWPT with an attached PASID is EBUSY to free" eval 'has 4 ".ok == true" && fails 5 EBUSY'
check "lifecycle: pasid-detach, then the vPASID is gone (ENOENT)" \
        eval 'has 6 ".ok == true" && fails 7 ENOENT && fails 8 ENOENT'
check "lifecycle: then the HWPT frees, once (ENOENT after)" eval 'has 9 ".ok == true" && fails 10 ENOENT'
check "lifecycle: attach to an IOAS gives the automatic HWPT" \
        has 11 '.ok == true and (.hwpt | type) == "number"'
check "lifecycle: detach, once (ENOENT after)" eval 'has 12 ".ok == true" && fails 13 ENOENT'
check "lifecycle: device-close, once (ENOENT after)" eval 'has 14 ".ok == true" && fails 15 ENOENT'
check "lifecycle: the session opens the device again after closing it" has 16 '.ok == true and .fd == true'

# ---------------------------------------------------------------- stage-1 data

# struct iommu_hwpt_vtd_s1 {flags 0, pgtbl_addr 0x1000, addr_width 48}, little-endian
VTD_S1=000000000000000000100000000000003000000000000000
client "device-open dev=$DEV2 as=d" 'ioas-alloc as=a' 'hwpt-alloc dev=@d pt=@a nest-parent=1 as=p' \
       "hwpt-alloc dev=@d pt=@p data-type=vtd-s1 data=$VTD_S1" \
       "hwpt-alloc dev=@d pt=@p data-type=1 data=0x$VTD_S1" \
       'hwpt-alloc dev=@d pt=@p data-type=1 pgtbl=4K addr-width=57 s1-flags=0' \
       'hwpt-alloc dev=@d pt=@a nest-parent=on dirty=TRUE pasid=0 enforce-snoop=off'
check "stage-1: exit 0" status_is 0
check "stage-1: raw data= for vtd-s1" has 4 '.ok == true and (.hwpt | type) == "number"'
check "stage-1: data-type as a number, with 0x data" has 5 '.ok == true'
check "stage-1: data-type=1 builds the VT-d struct from its fields" has 6 '.ok == true'
check "stage-1: booleans as 1/on/TRUE/0/off" has 7 '.ok == true'

# ---------------------------------------------------------------- dirty tracking, invalidation, faults, vIOMMU

# Nothing does DMA in the sim, so every bitmap read here is all zeros, of the right size.
client "device-open dev=$DEV2 as=d" 'ioas-alloc as=a' 'hwpt-alloc dev=@d pt=@a dirty=yes as=h' \
       'hwpt-dirty hwpt=@h enable=yes' \
       'hwpt-dirty-bitmap hwpt=@h iova=0 length=1M' \
       'hwpt-dirty-bitmap hwpt=@h iova=0 length=64K page-size=8K no-clear=yes show=2' \
       'hwpt-alloc dev=@d pt=@a as=plain' \
       'hwpt-dirty hwpt=@plain enable=yes' \
       'hwpt-dirty-bitmap hwpt=@plain iova=0 length=1M' \
       'hwpt-dirty-bitmap hwpt=@h iova=0x800 length=1M' \
       'hwpt-dirty-bitmap hwpt=@h iova=0 length=0x1000000000000' \
       'hwpt-dirty-bitmap hwpt=999 iova=0 length=4K' \
       'hwpt-alloc dev=@d pt=@a nest-parent=yes as=p' \
       'hwpt-alloc dev=@d pt=@p data-type=vtd-s1 pgtbl=0x1000 addr-width=48 as=n' \
       'hwpt-invalidate pt=@n addr=0x1000 npages=1' \
       'hwpt-invalidate pt=@n addr=0 npages=0xffffffffffffffff leaf=yes' \
       'hwpt-invalidate pt=@n addr=0x1800 npages=1' \
       'hwpt-invalidate pt=@plain addr=0x1000 npages=1' \
       'fault-alloc as=f' \
       'hwpt-alloc dev=@d pt=@a fault=@f' \
       'hwpt-alloc dev=@d pt=@a fault=999' \
       'viommu-alloc dev=@d hwpt=@p type=smmuv3' \
       'vdevice-alloc viommu=999 dev=@d virt-id=1' \
       'hwpt-dirty hwpt=@h enable=no' \
       'hwpt-dirty-bitmap hwpt=@h iova=0 length=4K page-size=3K'
check "dirty: one line per request" lines_are 25
check "dirty: tracking on a HWPT allocated with dirty=yes" has 4 '.verb == "hwpt-dirty" and .ok == true'
check "dirty: 1 MiB of 4 KiB pages: 256 clean pages in a 32-byte bitmap" \
        has 5 '.ok == true and .dirty == 0 and .pages == 256 and .size == 32 and .bitmap == ("0" * 64)'
check "dirty: 8 KiB pages, no-clear, show=2" \
        has 6 '.ok == true and .pages == 8 and .size == 8 and .bitmap == "0000"'
check "dirty: a HWPT without dirty tracking cannot start it (EOPNOTSUPP)" fails 8 EOPNOTSUPP dirty
check "dirty: nor give a bitmap (EOPNOTSUPP)" fails 9 EOPNOTSUPP dirty
check "dirty: an unaligned iova is EINVAL" fails 10 EINVAL iova
check "dirty: a bitmap beyond 64 MiB is EINVAL" fails 11 EINVAL limit
check "dirty: an unknown HWPT is ENOENT" fails 12 ENOENT HWPT
check "invalidate: one VT-d stage-1 entry handled" has 15 '.verb == "hwpt-invalidate" and .ok == true and .handled == 1'
check "invalidate: everything, leaf only" has 16 '.ok == true and .handled == 1'
check "invalidate: an unaligned address is the kernel's EINVAL" fails 17 EINVAL entry
check "invalidate: a paging HWPT has nothing to invalidate (EINVAL)" fails 18 EINVAL paging
check "fault: fault-alloc gives an id and the fd" has 19 '.verb == "fault-alloc" and .ok == true and (.fault | type) == "number" and .fd == true'
check "fault: a HWPT reporting to the queue" has 20 '.ok == true and (.hwpt | type) == "number"'
check "fault: an unknown fault queue is ENOENT" fails 21 ENOENT fault
check "viommu: VT-d offers no vIOMMU (EOPNOTSUPP)" fails 22 EOPNOTSUPP vIOMMU
check "vdevice: an unknown vIOMMU is ENOENT" fails 23 ENOENT vIOMMU
check "dirty: tracking off" has 24 '.ok == true'
check "dirty: a page size that is no power of two is EINVAL" fails 25 EINVAL "power of two"

# another session's HWPT ids are unknown: A (a new one) holds a tracked HWPT while a short run asks for it
rm -f "$tmp/in.A"
bg_start A 5
bg A "device-open dev=$DEV2 as=d" 'ioas-alloc as=a' 'hwpt-alloc dev=@d pt=@a dirty=yes as=h'
hid=$(val 3 .hwpt)
client "hwpt-dirty hwpt=$hid enable=yes" "hwpt-dirty-bitmap hwpt=$hid iova=0 length=4K" \
       "hwpt-invalidate pt=$hid addr=0 npages=1"
check "dirty: another session's HWPT cannot be tracked here (ENOENT)" fails 1 ENOENT
check "dirty: nor read here (ENOENT)" fails 2 ENOENT
check "invalidate: nor invalidated here (ENOENT)" fails 3 ENOENT
bg A "hwpt-dirty hwpt=$hid enable=yes" "hwpt-dirty-bitmap hwpt=$hid iova=0 length=4K"
check "dirty: while its own session still may" eval 'has 1 ".ok == true" && has 2 ".ok == true and .size == 8"'
bg_stop A

# ---------------------------------------------------------------- fault queues, vIOMMUs and vDEVICEs end before the session

# The sim has no PRI, so its fault queues never carry a fault: fault-read reads [] at once.
# A queue is held by every HWPT that reports to it and by every open copy of its fd, the
# tool's too, which fault-free closes first (EBUSY all the same while a HWPT holds it).
client "device-open dev=$DEV2 as=d" 'ioas-alloc as=a' 'fault-alloc as=f' \
       'fault-read fault=@f' \
       'hwpt-alloc dev=@d pt=@a fault=@f as=h' \
       'fault-free fault=@f' \
       'fault-read fault=@f' \
       'hwpt-free hwpt=@h' \
       'fault-free fault=@f' \
       'fault-free fault=@f' \
       'hwpt-alloc dev=@d pt=@a fault=@f' \
       'fault-alloc as=g' 'fault-read fault=@g' 'fault-read fault=@g' \
       'fault-read fault=999' \
       'viommu-free viommu=999' \
       'vdevice-free vdevice=999' \
       'viommu-free' \
       'fault-free fault=@g'
check "fault-read: one line per request" lines_are 19
check "fault-read: an empty queue reads [] without blocking" \
        has 4 '.verb == "fault-read" and .ok == true and .faults == []'
check "fault-free: a queue a HWPT reports to is EBUSY" fails 6 EBUSY "in use"
check "fault-free: its fd went all the same: fault-read has none to read (ENOENT)" fails 7 ENOENT fd
check "fault-free: once the HWPT is gone it frees, once (ENOENT after)" \
        eval 'has 8 ".ok == true" && has 9 ".verb == \"fault-free\" and .ok == true" && fails 10 ENOENT'
check "fault-free: a freed queue cannot be named by a HWPT (ENOENT)" fails 11 ENOENT fault
check "fault-read: a second queue reads [] twice" \
        eval 'has 13 ".faults == []" && has 14 ".faults == []"'
check "fault-read: a queue the run holds no fd of is ENOENT" fails 15 ENOENT fd
check "viommu-free: an unknown vIOMMU is ENOENT" fails 16 ENOENT vIOMMU
check "vdevice-free: an unknown vDEVICE is ENOENT" fails 17 ENOENT vDEVICE
check "viommu-free: needs viommu=" einval 18 viommu
check "fault-free: a queue no HWPT holds frees with the tool's fd closed" has 19 '.ok == true'

# the tool keeps the queue's fd from fault-alloc to fault-free
rm -f "$tmp/in.A"
bg_start A 5
if [ -d "/proc/$A_pid/fd" ]; then
        bg A 'hello'
        fds_before=$(fds A)
        bg A 'fault-alloc as=f'
        fds_open=$(fds A)
        check "fault fd: fault-alloc keeps one more fd open" \
                eval 'has 1 ".ok == true and .fd == true" && [ "$fds_open" -eq $((fds_before + 1)) ]'
        bg A 'fault-free fault=@f'
        fds_closed=$(fds A)
        check "fault fd: fault-free closes it" \
                eval 'has 1 ".verb == \"fault-free\" and .ok == true" && [ "$fds_closed" -eq "$fds_before" ]'
else
        n=$((n + 1)); echo "ok $n # SKIP no /proc/PID/fd"
        n=$((n + 1)); echo "ok $n # SKIP no /proc/PID/fd"
fi
bg_stop A

# ---------------------------------------------------------------- bad input, locally

client 'hwpt-alloc dev=1 pt=2 nest-parent=maybe' \
       'hwpt-alloc dev=1 pt=2 data-type=bogus' \
       'hwpt-alloc dev=1 pt=2 data-type=vtd-s1' \
       'hwpt-alloc dev=1 pt=2 data-type=vtd-s1 pgtbl=0x1000' \
       'hwpt-alloc dev=1 pt=2 data-type=smmuv3' \
       'hwpt-alloc dev=1 pt=2 pgtbl=0x1000 addr-width=48' \
       'hwpt-alloc dev=1 pt=2 data-type=vtd-s1 data=abc' \
       'hwpt-alloc dev=1 pt=2 data-type=vtd-s1 data=zz' \
       'hwpt-alloc dev=1 pt=2 data-type=vtd-s1 data=00 pgtbl=1' \
       'hwpt-alloc dev=1 pt=2 data=00' \
       'ioas-alloc enforce-snoop=perhaps' \
       'pasid-attach dev=1 vpasid=0x100000000 pt=1' \
       'device-open' \
       'attach dev=1' \
       'hwpt-alloc dev=1 pt=2 data-type=vtd-s1 pgtbl=1 addr-width=0x100000000' \
       'device-open dev=0000:00:02.0 as=no-dash'
check "local: exit 1, one line per request" eval 'status_is 1 && lines_are 16'
check "local: a bad boolean names the key" einval 1 nest-parent
check "local: a bad data-type" einval 2 data-type
check "local: vtd-s1 needs pgtbl=" einval 3 pgtbl
check "local: vtd-s1 needs addr-width=" einval 4 addr-width
check "local: smmuv3 needs data=" einval 5 data
check "local: pgtbl= without data-type=vtd-s1" einval 6 data-type
check "local: data= with an odd number of digits" einval 7 data
check "local: data= with a non-hex byte" einval 8 data
check "local: data= excludes the fields" einval 9 data
check "local: data= needs data-type=" einval 10 data-type
check "local: ioas-alloc enforce-snoop= takes a boolean" einval 11 enforce-snoop
check "local: vpasid beyond 32 bits" einval 12 vpasid
check "local: device-open needs dev=" einval 13 dev
check "local: attach needs pt=" einval 14 pt
check "local: addr-width beyond 32 bits" einval 15 addr-width
check "local: as= must be a valid name" einval 16 as

# ---------------------------------------------------------------- the end

"$IB_CLIENT" --help >"$tmp/out" 2>"$tmp/err"
rc=$?
errfile="$tmp/err"
help_lists_device_verbs() {
        local v
        for v in device-list device-open attach detach device-close hw-info hwpt-alloc hwpt-free \
                 hwpt-dirty hwpt-dirty-bitmap hwpt-invalidate fault-alloc fault-read fault-free \
                 viommu-alloc viommu-free vdevice-alloc vdevice-free pasid-attach pasid-detach pasid-lookup; do
                grep -Eq "^  $v( |$)" "$tmp/out" || return 1
        done
}
check "--help: lists the device verbs" eval 'status_is 0 && help_lists_device_verbs'

check "the daemon survived all of it" daemon_alive

echo "1..$n"
[ "$failures" -eq 0 ]
