#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-socket-activation.sh - iommu-brokerd started the way its socket unit
# starts it (TAP).
#
# systemd-socket-activate binds the SOCK_SEQPACKET socket, waits for the
# first connection and execs the daemon with LISTEN_FDS/LISTEN_PID (as
# systemd does for iommu-brokerd.socket: a blocking listening socket, one
# fd, no --socket).  Checks that the first client is served, that the daemon
# goes on accepting (several clients, one after the other and at once), and
# that a stream socket or two sockets are refused with a clear message.
set -u
. "$IB_TOP_SRCDIR/tests/admin/lib.sh"
need systemd-socket-activate timeout python3

plan 7

sock="$ib_tmp/vmm.sock"
# hello: one client run, at most 5 s (a daemon stuck in accept() would hang it).
hello() { timeout 5 "$IB_CLIENT" --socket "$sock" hello; }

spawn systemd-socket-activate --seqpacket -l "$sock" \
        "$IB_DAEMON" --backend=sim --admin-bus=none --log-level=info 2> "$ib_tmp/daemon.log"
activator=$spawned
wait_for 10 test -S "$sock"

hello > "$ib_tmp/out" 2>&1
rc=$?
diag < "$ib_tmp/out"
check "the first client is served by the activated daemon" sh -c "[ $rc -eq 0 ] && grep -q '\"ok\":true' '$ib_tmp/out'"
check "the daemon runs as the activator's process (no --socket, LISTEN_FDS)" \
        grep -q 'serving with the sim backend' "$ib_tmp/daemon.log"

ok=0
for i in 1 2 3; do
        hello > /dev/null 2>&1 && ok=$((ok + 1))
done
if [ $ok -ne 3 ]; then
        echo "only $ok of 3 later clients were served: the daemon blocks in accept4() on the inherited" \
             "listening socket, which systemd passes blocking; listener_new_activated() must set O_NONBLOCK" | diag
fi
check "the daemon goes on accepting: 3 more clients, one after the other" [ $ok -eq 3 ]

hello > "$ib_tmp/c1" 2>&1 &
c1=$!
hello > "$ib_tmp/c2" 2>&1 &
c2=$!
wait $c1
r1=$?
wait $c2
r2=$?
check "two clients at once are both served" [ $r1 -eq 0 -a $r2 -eq 0 ]
stop_pid "$activator"
check "it stops cleanly on SIGTERM" [ $? -eq 0 ]
diag < "$ib_tmp/daemon.log"

# A stream socket is not what the protocol needs.
rm -f "$ib_tmp/stream.sock"
timeout 10 systemd-socket-activate -l "$ib_tmp/stream.sock" \
        "$IB_DAEMON" --backend=sim --admin-bus=none > "$ib_tmp/stream.log" 2>&1 &
activator=$!
wait_for 10 test -S "$ib_tmp/stream.sock"
# The first (stream) connection makes the activator exec the daemon, which must refuse.
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect(sys.argv[1])' \
        "$ib_tmp/stream.sock" 2>&1 | diag
wait $activator
rc=$?
diag < "$ib_tmp/stream.log"
check "a stream socket is refused: exit non-zero, naming the activated socket" \
        sh -c "[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q 'cannot listen on the activated socket' '$ib_tmp/stream.log'"

# Two sockets: the daemon serves exactly one.
rm -f "$ib_tmp/a.sock" "$ib_tmp/b.sock"
timeout 10 systemd-socket-activate --seqpacket -l "$ib_tmp/a.sock" -l "$ib_tmp/b.sock" \
        "$IB_DAEMON" --backend=sim --admin-bus=none > "$ib_tmp/two.log" 2>&1 &
activator=$!
wait_for 10 test -S "$ib_tmp/a.sock"
"$IB_CLIENT" --socket "$ib_tmp/a.sock" hello > /dev/null 2>&1 &
wait $activator
rc=$?
diag < "$ib_tmp/two.log"
check "two activated sockets are refused" \
        sh -c "[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q 'cannot listen on the activated socket' '$ib_tmp/two.log'"

finish
