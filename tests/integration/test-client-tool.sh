#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-client-tool.sh - iommu-broker-client against a real iommu-brokerd.
#
# Owns: starting "$IB_DAEMON --backend=sim" on a socket in a temporary
# directory, driving "$IB_CLIENT" through one scenario per block, checking its
# JSON lines with jq and its exit statuses, and stopping the daemon (trap).
# Output is TAP: "ok N - name" / "not ok N - name", the plan "1..N" at the end;
# a failed check prints the client's output as "#" lines.
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

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-client-tool.XXXXXX") || exit 99
sock="$tmp/s"
daemon_pid=

cleanup() {
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

# ---------------------------------------------------------------- helpers

n=0
failures=0
rc=0

# client ARGS...: runs the tool against our daemon; output in $tmp/out, $tmp/err, status in $rc.
client() {
        "$IB_CLIENT" --socket "$sock" "$@" >"$tmp/out" 2>"$tmp/err"
        rc=$?
}

# client_stdin TEXT: the same, with the requests on stdin.
client_stdin() {
        printf '%s' "$1" | "$IB_CLIENT" --socket "$sock" >"$tmp/out" 2>"$tmp/err"
        rc=$?
}

# line N: the Nth line of the last output.
line() {
        sed -n "${1}p" "$tmp/out"
}

# jq helpers on the hex strings the tool prints ("0x1000").
JQ_DEFS='def hex: ltrimstr("0x") | ascii_downcase | explode
        | reduce .[] as $c (0; . * 16 + (if $c >= 97 then $c - 87 else $c - 48 end));'

# has N EXPR: line N is one JSON object for which EXPR is true (jq 1.6 -e passes empty input).
has() {
        local l
        l=$(line "$1")
        [ -n "$l" ] || return 1
        [ "$(printf '%s\n' "$l" | jq -e "$JQ_DEFS type == \"object\" and ($2)" 2>/dev/null)" = true ]
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
                sed 's/^/#   /' "$tmp/err"
        fi
}

# einval N WORD: line N is a local EINVAL failure whose error mentions WORD.
einval() {
        has "$1" ".ok == false and .errno == \"EINVAL\" and (.error | contains(\"$2\"))"
}

status_is() {
        [ "$rc" -eq "$1" ]
}

lines_are() {
        [ "$(wc -l <"$tmp/out")" -eq "$1" ] && jq -e . "$tmp/out" >/dev/null 2>&1
}

help_lists_verbs() {
        local v
        for v in hello caps ioas-alloc ioas-free iova-ranges allow-iovas mem-register mem-unregister map unmap copy batch \
                 device-list device-open attach detach device-close hw-info hwpt-alloc hwpt-free \
                 pasid-attach pasid-detach pasid-lookup; do
                grep -Eq "^  $v( |$)" "$tmp/out" || return 1
        done
}

daemon_alive() {
        kill -0 "$daemon_pid" 2>/dev/null
}

# ---------------------------------------------------------------- acceptance scenario

client 'ioas-alloc window=32 as=a' \
       'iova-ranges ioas=@a' \
       'map ioas=@a memfd=ram size=2M iova=0x100000' \
       'map ioas=@a memfd=ram size=2M iova=0x100000' \
       'unmap ioas=@a iova=0x100000 length=1M' \
       'unmap ioas=@a iova=0x100000 length=2M'
check "acceptance: exit status 1 when some requests fail" status_is 1
check "acceptance: six JSON lines" lines_are 6
check "acceptance: ioas-alloc window=32 gives an ioas id" \
        has 1 '.verb == "ioas-alloc" and .ok == true and (.ioas | type) == "number"'
check "acceptance: iova-ranges of a 32-bit IOAS all lie in [0, 4 GiB)" \
        has 2 '.verb == "iova-ranges" and .ok == true and (.ranges | length) > 0
               and all(.ranges[]; (.start | hex) <= (.last | hex) and (.last | hex) < 4294967296)
               and (.alignment | startswith("0x"))'
check "acceptance: map at a fixed IOVA" \
        has 3 '.verb == "map" and .ok == true and .iova == "0x100000"'
check "acceptance: the same map again is EEXIST" \
        has 4 '.verb == "map" and .ok == false and .errno == "EEXIST" and (.error | length) > 0'
check "acceptance: unmapping half a mapping is ENOENT" \
        has 5 '.verb == "unmap" and .ok == false and .errno == "ENOENT" and (.error | length) > 0'
check "acceptance: unmapping the whole mapping returns its length" \
        has 6 '.verb == "unmap" and .ok == true and .length == "0x200000"'

client 'hello'
check "acceptance: a second run is served (exit 0)" status_is 0
check "hello: protocol, server, session and limits" \
        has 1 '.verb == "hello" and .ok == true and .protocol == 1 and (.server | type) == "string"
               and (.session | type) == "number" and .limits.max_message_size > 0
               and .limits.max_batch_ops > 0 and .limits.max_iova_ranges > 0'

# ---------------------------------------------------------------- caps

client 'caps'
check "caps: backend sim, kernel_features and page_size" \
        has 1 '.verb == "caps" and .ok == true and .backend == "sim" and (.kernel_features | type) == "array"
               and (.page_size | hex) > 0'

# ---------------------------------------------------------------- stdin

client_stdin 'ioas-alloc as=x

# a comment, skipped
   # an indented comment, skipped
map ioas=@x memfd=m size=4K
unmap ioas=@x all
'
check "stdin: exit 0, one line per request, blanks and comments skipped" \
        eval 'status_is 0 && lines_are 3'
check "stdin: map without iova= lets the broker choose" \
        has 2 '.verb == "map" and .ok == true and (.iova | startswith("0x"))'
check "stdin: unmap all unmaps everything" has 3 '.verb == "unmap" and .ok == true and .length == "0x1000"'

# a NUL byte inside a line would cut the request short (the iova= after it lost): refused
printf 'ioas-alloc as=z\nmap ioas=@z memfd=m size=4K\0 iova=0x100000\nunmap ioas=@z all\n' |
        "$IB_CLIENT" --socket "$sock" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "stdin: a line with a NUL byte is refused with EINVAL, not run cut short" \
        eval 'status_is 1 && lines_are 3 && einval 2 "NUL byte"'
check "stdin: nothing of the refused line was mapped" has 3 '.verb == "unmap" and .ok == true and .length == "0x0"'

# allow-iovas: "ranges=" clears, an empty item among ranges is malformed (it used to clear too)
client 'ioas-alloc as=r' 'allow-iovas ioas=@r ranges=0x100000-0x1fffff' 'allow-iovas ioas=@r ranges=,' \
       'allow-iovas ioas=@r ranges=0x100000-0x1fffff,,' 'map ioas=@r memfd=m size=4K' 'allow-iovas ioas=@r ranges='
check "allow-iovas: an empty range is EINVAL" eval 'einval 3 "empty range" && einval 4 "empty range"'
check "allow-iovas: the allowed range stays after a refused change" \
        has 5 '.verb == "map" and .ok == true and (.iova | hex) >= 1048576 and (.iova | hex) < 2097152'
check "allow-iovas: ranges= with nothing clears" has 6 '.verb == "allow-iovas" and .ok == true'

# hwpt-invalidate: entry-len= belongs to data=; alone it fails locally, nothing sent
client 'hwpt-invalidate pt=1 addr=0 npages=1 entry-len=5'
check "hwpt-invalidate: entry-len= without data= fails locally" einval 1 "entry-len"

# ---------------------------------------------------------------- as= and @NAME

client 'ioas-alloc as=first' 'ioas-alloc as=second' 'ioas-free ioas=@first' 'ioas-free ioas=@nope' \
       'ioas-free ioas=@second' 'ioas-free ioas=@first'
check "names: exit 1" status_is 1
check "names: @NAME stands for the stored ioas" has 3 '.verb == "ioas-free" and .ok == true'
check "names: unknown @NAME fails locally with EINVAL naming it" \
        has 4 '.ok == false and .errno == "EINVAL" and (.error | contains("@nope"))'
check "names: the run goes on after a local failure" has 5 '.ok == true'
check "names: freeing twice is an error from the broker" has 6 '.ok == false and .errno != "EINVAL"'

# ---------------------------------------------------------------- bad input, locally

client 'frobnicate x=1' 'ioas-alloc colour=red' 'ioas-alloc base=12Q' 'map ioas=1 size=4K' \
       'ioas-alloc window=33' 'unmap ioas=1 all iova=0' 'ioas-alloc as=a as=b' 'ioas-free ioas=0x100000000' \
       'ioas-alloc'
check "bad input: exit 1, one line per request" eval 'status_is 1 && lines_are 9'
check "bad input: unknown verb is EINVAL naming it" \
        eval 'einval 1 frobnicate && has 1 ".verb == \"frobnicate\""'
check "bad input: unknown key is EINVAL naming it" einval 2 colour
check "bad input: malformed number is EINVAL naming the key" einval 3 base
check "bad input: missing required key is EINVAL naming it" einval 4 memfd
check "bad input: bad window= value" einval 5 window
check "bad input: all with iova=" einval 6 all
check "bad input: a key given twice" einval 7 "'as'"
check "bad input: an id beyond 32 bits" einval 8 ioas
check "bad input: the run goes on" has 9 '.verb == "ioas-alloc" and .ok == true'

# ---------------------------------------------------------------- memfd access mode and seals

client 'ioas-alloc as=a' \
       'map ioas=@a memfd=sealed size=4K seal=write prot=rw' \
       'map ioas=@a memfd=ro size=4K access=ro prot=rw' \
       'map ioas=@a memfd=ro size=4K access=ro prot=r iova=0x4000'
check "memfd: exit 1" status_is 1
check "memfd: a write-sealed memfd mapped writeable is EPERM" \
        has 2 '.verb == "map" and .ok == false and .errno == "EPERM"'
check "memfd: a read-only fd mapped writeable is EACCES" \
        has 3 '.verb == "map" and .ok == false and .errno == "EACCES"'
check "memfd: a read-only fd mapped read-only is fine" \
        has 4 '.verb == "map" and .ok == true and .iova == "0x4000"'

# ---------------------------------------------------------------- registered memory

client 'ioas-alloc as=a' \
       'mem-register memfd=ram size=1M as=h' \
       'map ioas=@a mem=@h size=64K iova=0x100000' \
       'batch op=map,ioas=@a,mem=@h,size=4K,offset=64K,iova=0x200000 op=map,ioas=@a,mem=@h,size=4K,offset=1M' \
       'mem-register memfd=seal size=8K as=s' \
       'map ioas=@a memfd=seal size=4K seal=write prot=r iova=0x300000' \
       'map ioas=@a mem=@s size=4K offset=4K' \
       'map ioas=@a mem=@h memfd=ram size=4K' \
       'mem-unregister mem=@h' \
       'map ioas=@a mem=@h size=4K' \
       'unmap ioas=@a iova=0x100000 length=64K'
check "mem: exit 1" status_is 1
check "mem: mem-register gives a handle, as= names it" has 2 '.verb == "mem-register" and .ok == true and .mem == 1'
check "mem: map by mem=@H at a fixed IOVA" has 3 '.verb == "map" and .ok == true and .iova == "0x100000"'
check "mem: batch maps by mem=, one beyond the end is EINVAL" \
        has 4 '.results[0].ok == true and .results[0].iova == "0x200000" and .results[1].errno == "EINVAL"'
check "mem: handles are not reused" has 5 '.verb == "mem-register" and .ok == true and .mem == 2'
check "mem: a write seal added after mem-register (by a read-only map of the memfd)" has 6 '.ok == true'
check "mem: then a writeable map by mem= is EPERM" has 7 '.verb == "map" and .ok == false and .errno == "EPERM"'
check "mem: mem= and memfd= exclude each other (local EINVAL)" einval 8 memfd
check "mem: mem-unregister" has 9 '.verb == "mem-unregister" and .ok == true'
check "mem: a map by the old handle is ENOENT" has 10 '.verb == "map" and .ok == false and .errno == "ENOENT"'
check "mem: the mapping made from it stays until unmapped" has 11 '.verb == "unmap" and .ok == true and .length == "0x10000"'
client 'ioas-alloc as=a' 'map ioas=@a mem=1 size=4K'
check "mem: a handle of another session (run) names nothing here" \
        has 2 '.verb == "map" and .ok == false and .errno == "ENOENT"'

# ---------------------------------------------------------------- batch

client 'ioas-alloc as=a' \
       'batch op=map,ioas=@a,memfd=ram,size=4K,iova=0x1000 op=map,ioas=@a,memfd=ram,size=4K,iova=0x1000
              op=unmap,ioas=@a,iova=0x1000,length=4K'
check "batch: exit 1 when an op fails" status_is 1
check "batch: one result per op, failed=1, ok=false" \
        has 2 '.verb == "batch" and .ok == false and (.results | length) == 3 and .failed == 1'
check "batch: results in order" \
        has 2 '.results[0].ok == true and .results[0].iova == "0x1000"
               and .results[1].ok == false and .results[1].errno == "EEXIST"
               and .results[2].ok == true and .results[2].length == "0x1000"'

client 'ioas-alloc as=a' 'batch op=map,ioas=@a,memfd=ram,size=8K,iova=0x10000,as=m op=unmap,ioas=@a,all' \
       'batch op=map,ioas=@a,memfd=ram,size=4K,bogus=1' 'batch stop-on-error=yes'
check "batch: all ops ok gives ok=true, failed=0" \
        has 2 '.ok == true and .failed == 0 and .results[1].length == "0x2000"'
check "batch: a bad op fails the batch locally, naming the op" \
        eval 'einval 3 "op 0" && einval 3 bogus'
check "batch: no op= is EINVAL" has 4 '.ok == false and .errno == "EINVAL" and (.error | contains("op"))'

# ---------------------------------------------------------------- copy

client 'ioas-alloc as=a' 'ioas-alloc as=b' \
       'map ioas=@a memfd=ram size=64K iova=0x10000 as=m' \
       'copy dst=@b src=@a src-iova=@m length=64K dst-iova=0x200000' \
       'copy dst=@b src=@a src-iova=0x10000 length=64K prot=r as=c' \
       'unmap ioas=@b iova=0x200000 length=64K' \
       'unmap ioas=@b iova=@c length=64K'
check "copy: exit 0" status_is 0
check "copy: to a fixed IOVA in another IOAS" has 4 '.verb == "copy" and .ok == true and .iova == "0x200000"'
check "copy: the broker chooses the dst IOVA" has 5 '.verb == "copy" and .ok == true and (.iova | hex) > 0'
check "copy: the copies are real mappings in dst" \
        eval 'has 6 ".ok == true and .length == \"0x10000\"" &&
              has 7 ".ok == true and .length == \"0x10000\""'

# ---------------------------------------------------------------- numbers

client 'ioas-alloc as=a' \
       'map ioas=@a memfd=big size=1M offset=1M iova=2M' \
       'unmap ioas=@a iova=0x200000 length=1024K' \
       'map ioas=@a memfd=big size=4096 iova=0x1G' \
       'unmap ioas=@a iova=1073741824 length=0x1000' \
       'map ioas=@a memfd=big size=4K iova=0x10000' \
       'unmap ioas=@a iova=0 length=max'
check "numbers: exit 0" status_is 0
check "numbers: K/M suffixes on size, offset and iova" has 2 '.ok == true and .iova == "0x200000"'
check "numbers: K suffix on length" has 3 '.ok == true and .length == "0x100000"'
check "numbers: decimal size, hex with suffix" has 4 '.ok == true and .iova == "0x40000000"'
check "numbers: decimal iova" has 5 '.ok == true and .length == "0x1000"'
check "numbers: length=max unmaps everything" has 7 '.ok == true and .length == "0x1000"'

# ---------------------------------------------------------------- allow-iovas

client 'ioas-alloc as=a' 'allow-iovas ioas=@a ranges=0x100000-0x1fffff,16M-0x1ffffff' \
       'map ioas=@a memfd=ram size=4K' 'allow-iovas ioas=@a ranges=' 'allow-iovas ioas=@a ranges=1-'
check "allow-iovas: ranges set and cleared" eval 'has 2 ".ok == true" && has 4 ".ok == true"'
check "allow-iovas: the broker chooses inside the allowed ranges" \
        has 3 '.ok == true and (((.iova | hex) >= 1048576 and (.iova | hex) < 2097152)
                                or ((.iova | hex) >= 16777216 and (.iova | hex) < 33554432))'
check "allow-iovas: a malformed range is EINVAL" einval 5 ranges

# ---------------------------------------------------------------- JSON escaping

verb=$(printf 'fr\001ob"\\')
client "$verb x=1"
check "json: control characters, quotes and backslashes are escaped" \
        eval 'lines_are 1 && [ "$(line 1 | jq -r .verb)" = "$verb" ]'

# ---------------------------------------------------------------- command line

"$IB_CLIENT" --help >"$tmp/out" 2>"$tmp/err"
rc=$?
check "--help: exit 0" status_is 0
check "--help: lists every verb" help_lists_verbs

"$IB_CLIENT" --version >"$tmp/out" 2>"$tmp/err"
rc=$?
check "--version: exit 0" status_is 0

"$IB_CLIENT" --no-such-option hello >"$tmp/out" 2>"$tmp/err"
rc=$?
check "unknown option: exit 2" status_is 2

"$IB_CLIENT" --socket "$tmp/missing" hello >"$tmp/out" 2>"$tmp/err"
rc=$?
check "missing socket: exit 2" status_is 2
check "missing socket: one JSON connect error line" \
        eval 'lines_are 1 && has 1 ".verb == \"connect\" and .ok == false and .errno == \"ENOENT\"" &&
              has 1 "(.error | length) > 0"'
check "missing socket: a message on stderr" test -s "$tmp/err"

IOMMU_BROKER_SOCKET=$sock "$IB_CLIENT" hello >"$tmp/out" 2>"$tmp/err"
rc=$?
check "IOMMU_BROKER_SOCKET: used without --socket" eval 'status_is 0 && has 1 ".ok == true"'

check "the daemon survived all of it" daemon_alive

echo "1..$n"
[ "$failures" -eq 0 ]
