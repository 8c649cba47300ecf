#!/bin/sh
# test-svcmgr.sh - the service-manager harness plays systemd's fd store faithfully (TAP).
#
# Runs tests/lib/ib-fdstore-probe under tests/lib/ib-svcmgr and checks: the
# socket comes first in LISTEN_FDS and the stored fds follow newest first; a
# crash (kill) and an exit 3 restart the daemon with the store kept, and so
# does `restart` (SIGTERM, exit 0); a watched fd whose peer died is dropped,
# an FDPOLL=0 one is kept; FDSTOREREMOVE drops a name; a message from a pid
# other than the main pid is dropped with its fds; an fd already stored, sent
# again under another name, is closed and keeps its old name; past --fdstore-max the fd
# is refused; `stop` and SIGTERM to the harness release the store, so a new
# run starts with none.  Needs $IB_BUILDDIR (or IB_SVCMGR and IB_FDSTORE_PROBE).
set -u
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fail=1; echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }

svcmgr=${IB_SVCMGR:-$IB_BUILDDIR/tests/lib/ib-svcmgr}
probe=${IB_FDSTORE_PROBE:-$IB_BUILDDIR/tests/lib/ib-fdstore-probe}
tmp=$(mktemp -d /tmp/ib-svcmgr-test.XXXXXX)
hpid=
cleanup() {
        [ -n "$hpid" ] && kill -KILL "$hpid" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT

# wait_for FILE REGEX: up to 5 s.
wait_for() {
        i=0
        while [ $i -lt 100 ]; do
                grep -Eq -- "$2" "$1" 2>/dev/null && return 0
                sleep 0.05
                i=$((i + 1))
        done
        echo "# timed out waiting for '$2' in $1:" >&2
        sed 's/^/#   /' "$1" >&2
        return 1
}
# list: the store as "name,name,..." in the order the next start passes it.
list() {
        before=$(grep -c '^store-end' "$tmp/status")
        echo list > "$tmp/ctl"
        i=0
        while [ "$(grep -c '^store-end' "$tmp/status")" -le "$before" ] && [ $i -lt 100 ]; do
                sleep 0.05
                i=$((i + 1))
        done
        awk -v want=$((before + 1)) '
                /^store-end/ { k++; if (k == want) { print s; exit } s = ""; next }
                /^store / && k == want - 1 { sub(/^store name=/, ""); sub(/ fds=.*/, ""); s = s (s == "" ? "" : ",") $0 }
        ' "$tmp/status"
}

echo "1..16"

if "$svcmgr" --help | grep -q -- '--fdstore-max' && ! "$svcmgr" --restart sometimes -- true 2>/dev/null; then
        ok "--help lists the options, a bad --restart is refused"
else
        notok "--help lists the options, a bad --restart is refused"
fi

mkfifo "$tmp/cmd"
"$svcmgr" --socket "$tmp/vmm.sock" --socket-name vmm --control "$tmp/ctl" --status "$tmp/status" \
        -- "$probe" --cmd "$tmp/cmd" --report "$tmp/report" &
hpid=$!

check "first start: only the socket, a SEQPACKET listener, counter 1" \
        "wait_for '$tmp/status' '^ready pid=[0-9]+ start=1 fds=0 ' && wait_for '$tmp/report' 'counter=1 names=vmm listen=seqpacket$' && wait_for '$tmp/status' '^stored name=peer-poll '"
check "the socket has mode 0666" "[ \"\$(stat -c %a '$tmp/vmm.sock')\" = 666 ]"
check "the store lists newest first: peer-poll,peer-nopoll,counter" "[ \"\$(list)\" = peer-poll,peer-nopoll,counter ]"

echo kill > "$tmp/ctl"
check "kill: SIGKILL, the watched peer-poll hangs up and is dropped, restart with 2 stored fds" \
        "wait_for '$tmp/status' '^exit pid=[0-9]+ status=killed/KILL' && grep -q '^hup name=peer-poll' '$tmp/status' && wait_for '$tmp/status' '^ready pid=[0-9]+ start=2 fds=2 '"
check "after kill: LISTEN_FDNAMES vmm,peer-nopoll,counter and counter 2" \
        "wait_for '$tmp/report' 'counter=2 names=vmm,peer-nopoll,counter listen=seqpacket$'"

wait_for "$tmp/status" '^stored name=peer-poll poll=yes n=3' > /dev/null
echo restart > "$tmp/ctl"
check "restart: SIGTERM, clean exit, start 3 with the store kept, counter 3" \
        "wait_for '$tmp/status' '^exit pid=[0-9]+ status=exited/0' && wait_for '$tmp/status' '^ready pid=[0-9]+ start=3 fds=2 ' && wait_for '$tmp/report' 'counter=3 names=vmm,peer-nopoll,counter '"

wait_for "$tmp/status" '^stored name=peer-poll poll=yes n=3$' > /dev/null
echo "remove peer-nopoll" > "$tmp/cmd"
check "FDSTOREREMOVE drops the name" \
        "wait_for '$tmp/status' '^removed name=peer-nopoll fds=1' && [ \"\$(list)\" = peer-poll,counter ]"

echo "foreign intruder" > "$tmp/cmd"
check "a message from a pid not the main pid is dropped, its fd not stored" \
        "wait_for '$tmp/report' 'probe foreign pid=' && wait_for '$tmp/status' '^notify-dropped pid=[0-9]+ main=[0-9]+' && [ \"\$(list)\" = peer-poll,counter ]"

echo "resend counter-2" > "$tmp/cmd"
check "a stored fd sent again under a new name is a duplicate: closed, the old name kept" \
        "wait_for '$tmp/status' '^fdstore-duplicate name=counter-2 kept=counter' && [ \"\$(list)\" = peer-poll,counter ]"

echo "exit 3" > "$tmp/cmd"
check "exit 3 is a failure: restarted, counter 4, the removed name stays gone" \
        "wait_for '$tmp/status' '^exit pid=[0-9]+ status=exited/3' && wait_for '$tmp/status' '^ready pid=[0-9]+ start=4 fds=1 ' && wait_for '$tmp/report' 'counter=4 names=vmm,counter '"

echo stop > "$tmp/ctl"
wait "$hpid"
rc=$?
hpid=
check "stop: clean exit, the store (counter, peer-nopoll) released, the harness exits 0" \
        "[ $rc = 0 ] && grep -q '^released fds=2' '$tmp/status' && grep -q '^dead result=success' '$tmp/status'"

# A second run: nothing stored before; a store of two refuses the third fd.
: > "$tmp/status"
: > "$tmp/report"
"$svcmgr" --socket "$tmp/vmm.sock" --socket-name broker --fdstore-max 2 --control "$tmp/ctl" --status "$tmp/status" \
        -- "$probe" --cmd "$tmp/cmd" --report "$tmp/report" &
hpid=$!
check "a new run after stop sees no stored fds (counter 1), the socket named by --socket-name" \
        "wait_for '$tmp/status' '^ready pid=[0-9]+ start=1 fds=0 ' && wait_for '$tmp/report' 'counter=1 names=broker listen=seqpacket$'"
check "the third fd past --fdstore-max 2 is refused" \
        "wait_for '$tmp/status' '^fdstore-full name=peer-poll' && [ \"\$(list)\" = peer-nopoll,counter ]"
kill -TERM "$hpid"
wait "$hpid"
rc=$?
hpid=
check "SIGTERM to the harness is stop: exit 0, store released" \
        "[ $rc = 0 ] && grep -q '^released fds=2' '$tmp/status' && grep -q '^dead result=success' '$tmp/status'"
check "the harness removed its control FIFO and socket" "[ ! -e '$tmp/ctl' ] && [ ! -e '$tmp/vmm.sock' ]"

exit $fail
