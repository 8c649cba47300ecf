# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/admin/lib.sh - sourced by the admin tests (POSIX sh + TAP).
#
# Owns: TAP output (plan, ok/notok, diag, check, skip_all), a private
# temporary directory removed at exit with every process started through
# spawn(), a private dbus-daemon (a real bus) whose policy is the shipped
# units/iommu-broker-dbus.conf plus a default deny-all base like the system
# bus's, starting and stopping a sim-backend broker on that bus, running a
# command as an unprivileged user, a client session with a client name of the
# test's choosing, and a stand-in broker on the bus that lists one session
# with a client name of the test's choosing, byte for byte.
#
# Needs $IB_DAEMON, $IB_CTL, $IB_CLIENT, $IB_TOP_SRCDIR, $IB_BUILDDIR (make
# check sets them).

n=0
failed=0
ib_pids=

plan() { echo "1..$1"; }
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
diag() { sed 's/^/# /'; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
# check DESCRIPTION COMMAND...: ok if COMMAND succeeds.
check() {
        desc=$1
        shift
        if "$@"; then ok "$desc"; else notok "$desc"; fi
}
finish() { exit $failed; }
# jqe [JQ-ARGS...] FILTER FILE: FILTER is true of the JSON in FILE, quietly (for check).  An empty or
# missing FILE fails: jq 1.6's -e exits 0 when it reads no input at all.  Where the JSON comes on a
# pipe, the tests say "jq -en 'input | FILTER'" for the same reason (no input: an error).
jqe() {
        eval "jqe_file=\${$#}"
        [ -s "$jqe_file" ] && jq -e "$@" >/dev/null
}
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

# named_client_start SOCKET NAME: an iommu-broker-client session on SOCKET whose
# Hello carries NAME (any bytes but NUL and '/') as its client name, held until
# named_client_stop; requests go to fd 5, replies to $ib_tmp/named.out; sets
# $named_pid.  The tool sends its program name, so it runs as a symlink called
# NAME to the binary itself (libtool --mode=execute finds it and its libraries;
# the libtool wrapper would exec it under its own name).
named_client_start() {
        mkdir -p "$ib_tmp/names"
        rm -f "$ib_tmp/fifo.named" "$ib_tmp/named.out"
        mkfifo "$ib_tmp/fifo.named"
        # Not through spawn(): see client_start.
        "$IB_BUILDDIR/libtool" --mode=execute sh -c 'ln -sf "$1" "$2" && exec "$2" --socket "$3"' sh \
                "$IB_CLIENT" "$ib_tmp/names/$2" "$1" < "$ib_tmp/fifo.named" > "$ib_tmp/named.out" 2>&1 &
        named_pid=$!
        ib_pids="$ib_pids $named_pid"
        exec 5> "$ib_tmp/fifo.named"
}

named_client_stop() {
        exec 5>&-
        wait "$named_pid" 2>/dev/null
}

# fake_broker_start CLIENT: a stand-in for the broker on $BUS (python3 speaking
# D-Bus on the bus socket itself: no binding needed) whose ListSessions returns
# one session (id 7, uid 0, pid 4242, tenant admins) with the bytes CLIENT as
# its client name, as a broker that did not escape it would; every other
# method is unknown.  For what iommu-brokerctl makes of a bus it must not
# trust.  Waits until it owns the name; sets $fake_pid.
fake_broker_start() {
        cat > "$ib_tmp/fake-broker.py" <<'EOF'
import os, socket, struct, sys

path, client, ready = sys.argv[1], os.fsencode(sys.argv[2]), sys.argv[3]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(path)


def recv(n):
    b = b''
    while len(b) < n:
        c = sock.recv(n - len(b))
        if not c:
            sys.exit(0)
        b += c
    return b


def pad(b, n):
    b += bytes(-len(b) % n)


def put(b, t, v):
    """Appends v as the basic type t (y u t s o g), or as a variant if t is 'v' (v: (signature, value))."""
    if t == 'y':
        b.append(v)
    elif t == 'u':
        pad(b, 4)
        b += struct.pack('<I', v)
    elif t == 't':
        pad(b, 8)
        b += struct.pack('<Q', v)
    elif t in 'so':
        pad(b, 4)
        b += struct.pack('<I', len(v)) + v + b'\0'
    elif t == 'g':
        b += bytes([len(v)]) + v + b'\0'
    elif t == 'v':
        put(b, 'g', v[0].encode())
        put(b, v[0], v[1])


def array(b, align, elements):
    """An array: its length, then each element() aligned to align."""
    pad(b, 4)
    at = len(b)
    b += bytes(4)
    pad(b, align)
    start = len(b)
    for e in elements:
        pad(b, align)
        e()
    struct.pack_into('<I', b, at, len(b) - start)


serial = 0


def send(mtype, fields, sig='', body=b''):
    """fields: (code, type, value) of the header."""
    global serial
    serial += 1
    if sig:
        fields = fields + [(8, 'g', sig.encode())]
    b = bytearray(b'l' + bytes([mtype, 0, 1]) + struct.pack('<II', len(body), serial))
    array(b, 8, [lambda f=f: (put(b, 'y', f[0]), put(b, 'v', (f[1], f[2]))) for f in fields])
    pad(b, 8)
    sock.sendall(bytes(b) + body)
    return serial


def receive():
    h = recv(16)
    assert h[0:1] == b'l', h
    mtype, flags, _, blen, rserial, flen = struct.unpack('<BBBIII', h[1:])
    raw = recv(flen + (-flen % 8))
    body = recv(blen)
    fields, p = {}, 0
    while p < flen:
        p += -p % 8
        code, slen = raw[p], raw[p + 1]
        t = raw[p + 2:p + 2 + slen].decode()
        p += 3 + slen
        if t in 'so':
            p += -p % 4
            (n,) = struct.unpack_from('<I', raw, p)
            fields[code] = raw[p + 4:p + 4 + n].decode()
            p += 5 + n
        elif t == 'g':
            fields[code] = raw[p + 1:p + 1 + raw[p]].decode()
            p += 2 + raw[p]
        else:
            p += -p % 4
            (fields[code],) = struct.unpack_from('<I', raw, p)
            p += 4
    return mtype, flags, rserial, fields, body


def call(member, sig='', body=b''):
    s = send(1, [(1, 'o', b'/org/freedesktop/DBus'), (2, 's', b'org.freedesktop.DBus'), (3, 's', member.encode()),
                 (6, 's', b'org.freedesktop.DBus')], sig, body)
    while True:
        mtype, _, _, fields, body = receive()
        if mtype in (2, 3) and fields.get(5) == s:
            assert mtype == 2, fields
            return body


sock.sendall(b'\0AUTH EXTERNAL ' + str(os.getuid()).encode().hex().encode() + b'\r\n')
line = b''
while not line.endswith(b'\r\n'):
    line += recv(1)
assert line.startswith(b'OK '), line
sock.sendall(b'BEGIN\r\n')
call('Hello')
b = bytearray()
put(b, 's', b'org.iommubroker.Broker1')
put(b, 'u', 4)                                          # DBUS_NAME_FLAG_DO_NOT_QUEUE
assert struct.unpack('<I', call('RequestName', 'su', bytes(b)))[0] == 1    # the primary owner
open(ready, 'w').close()

session = [('Id', 't', 7), ('Uid', 'u', 0), ('Gid', 'u', 0), ('Pid', 'u', 4242), ('Tenant', 's', b'admins'),
           ('Client', 's', client), ('IoAddressSpaces', 'u', 0), ('Objects', 't', 0), ('Mappings', 't', 0),
           ('MappedBytes', 't', 0), ('Requests', 't', 0)]
sessions = bytearray()
array(sessions, 4, [lambda: array(sessions, 8, [lambda e=e: (put(sessions, 's', e[0].encode()),
                                                            put(sessions, 'v', (e[1], e[2]))) for e in session])])
while True:
    mtype, flags, rserial, fields, body = receive()
    if mtype != 1 or flags & 1:                         # only method calls that want a reply
        continue
    to = [(5, 'u', rserial), (6, 's', fields[7].encode())]
    if fields.get(3) == 'ListSessions':
        send(2, to, 'aa{sv}', bytes(sessions))
    else:
        b = bytearray()
        put(b, 's', b'not faked')
        send(3, to + [(4, 's', b'org.freedesktop.DBus.Error.UnknownMethod')], 's', bytes(b))
EOF
        rm -f "$ib_tmp/fake.ready"
        spawn python3 "$ib_tmp/fake-broker.py" "$ib_tmp/bus" "$1" "$ib_tmp/fake.ready" 2> "$ib_tmp/fake.log"
        fake_pid=$spawned
        wait_for 10 test -e "$ib_tmp/fake.ready"
}
