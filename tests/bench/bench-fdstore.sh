#!/bin/bash
# bench-fdstore.sh - bench-roundtrip against a broker whose sessions survive a restart.
#
# The same rows as bench-roundtrip, with the broker under tests/lib/ib-svcmgr
# (the stand-in for systemd's service manager): its sessions are kept in the
# fd store, every request's id is recorded before it is read and every
# mapping is written to the state file (docs/restart.md).  Compare with the
# plain run printed before it.  Needs IB_DAEMON and IB_BUILDDIR.  The manager,
# and so the broker, runs on the CPU bench-roundtrip pins itself to
# (IB_BENCH_CPU, default 0; "none": anywhere).
set -eu
tmp=$(mktemp -d /tmp/ib-bench-fdstore.XXXXXX)
trap 'echo stop > "$tmp/ctl" 2>/dev/null; wait; rm -rf "$tmp"' EXIT
cpu=${IB_BENCH_CPU:-0}
pin=(taskset -c "$cpu")
[ "$cpu" != none ] || pin=()
"${pin[@]}" "$IB_BUILDDIR/tests/lib/ib-svcmgr" --socket "$tmp/vmm.sock" --control "$tmp/ctl" --status "$tmp/status" \
        -- "$IB_DAEMON" --backend=sim --admin-bus=none --log-level=err &
for _ in $(seq 100); do
        grep -qs '^ready ' "$tmp/status" && break
        sleep 0.05
done
echo "with the fd store (sessions survive a restart):"
IB_BENCH_SOCKET=$tmp/vmm.sock "$IB_BUILDDIR/tests/bench/bench-roundtrip" "$@"
