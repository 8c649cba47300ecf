#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-units.sh - the shipped systemd units, bus policy and sysusers entries (TAP).
#
# Checks the files the build generated in $IB_BUILDDIR/units: systemd-analyze
# verify is clean on the service and the socket (with ExecStart= pointed at
# the daemon just built, since it is not installed, and the man pages built
# from docs/man so that Documentation= resolves), systemd-analyze security
# rates the service OK or better (the score is printed), the unit's
# CapabilityBoundingSet= is what the daemon really keeps, systemd-sysusers
# creates every group and user the units name, and the bus policy names the
# daemon's bus name.
set -u
. "$IB_TOP_SRCDIR/tests/admin/lib.sh"
need systemd-analyze systemd-sysusers

units="$IB_BUILDDIR/units"
plan 8

have_all=yes
for f in iommu-brokerd.service iommu-brokerd.socket org.iommubroker.Broker1.conf sysusers.d/iommu-broker.conf; do
        [ -s "$units/$f" ] || { echo "missing $units/$f" | diag; have_all=no; }
done
check "the build generated the units, the bus policy and the sysusers file" [ $have_all = yes ]
check "the generated service names the installed daemon, not a template" \
        sh -c "grep -q '^ExecStart=/.*/iommu-brokerd ' '$units/iommu-brokerd.service' && ! grep -Eq '@[a-z]+@' '$units/iommu-brokerd.service'"

# ---- systemd-analyze verify
mkdir -p "$ib_tmp/verify" "$ib_tmp/man/man1" "$ib_tmp/man/man8"
sed "s|^ExecStart=[^ ]*/iommu-brokerd|ExecStart=$IB_DAEMON|" "$units/iommu-brokerd.service" \
        > "$ib_tmp/verify/iommu-brokerd.service"
cp "$units/iommu-brokerd.socket" "$ib_tmp/verify/"
man_flag=--man=yes
for page in iommu-brokerd.8 iommu-brokerctl.1; do
        section=${page##*.}
        if command -v rst2man >/dev/null 2>&1 && [ -f "$IB_TOP_SRCDIR/docs/man/$page.rst" ]; then
                rst2man "$IB_TOP_SRCDIR/docs/man/$page.rst" > "$ib_tmp/man/man$section/$page"
        else
                echo "cannot build $page (rst2man or docs/man/$page.rst missing): not checking Documentation=" | diag
                man_flag=--man=no
        fi
done
(cd "$ib_tmp/verify" && MANPATH="$ib_tmp/man" systemd-analyze verify "$man_flag" \
        iommu-brokerd.service iommu-brokerd.socket) > "$ib_tmp/verify.out" 2>&1
rc=$?
diag < "$ib_tmp/verify.out"
check "systemd-analyze verify is clean on the service and the socket" [ $rc -eq 0 -a ! -s "$ib_tmp/verify.out" ]

# ---- systemd-analyze security
systemd-analyze security --offline=true "$ib_tmp/verify/iommu-brokerd.service" > "$ib_tmp/security.out" 2>&1
grep -E '^✗' "$ib_tmp/security.out" | diag
level=$(sed -n 's/.*Overall exposure level for iommu-brokerd.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' \
        "$ib_tmp/security.out")
echo "systemd-analyze security iommu-brokerd.service: ${level:-?}" | diag
case ${level#* } in
PERFECT | SAFE | OK) band=ok ;;
*) band=bad ;;
esac
check "systemd-analyze security rates the service OK or better (${level:-no score})" [ $band = ok ]

# ---- the unit's bounding set is what the daemon keeps
unit_caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$units/iommu-brokerd.service" | tr 'A-Z' 'a-z' | tr ' ' '\n' |
            sort | tr '\n' ' ')
if [ "$(id -u)" -eq 0 ]; then
        rm -f "$ib_tmp/vmm.sock"
        "$IB_DAEMON" --backend=sim --admin-bus=none --socket "$ib_tmp/vmm.sock" > "$ib_tmp/daemon.log" 2>&1 &
        pid=$!
        ib_pids="$ib_pids $pid"
        wait_for 10 test -S "$ib_tmp/vmm.sock"
        stop_pid "$pid"
        kept=$(sed -n 's/.*capabilities: .*, permitted \(.*\) (bounding set: .*/\1/p' "$ib_tmp/daemon.log" |
               tr ' ' '\n' | sort | tr '\n' ' ')
        # a machine whose own bounding set lacks one (some containers) cannot give it to the daemon
        bnd=$(awk '$1 == "CapBnd:" { print $2 }' /proc/self/status)
        if [ $(( 0x$bnd >> 24 & 1 )) = 0 ]; then
                unit_caps=$(echo $unit_caps | tr ' ' '\n' | grep -vx cap_sys_resource | tr '\n' ' ')
        fi
        echo "unit: $unit_caps; daemon keeps: $kept" | diag
        check "CapabilityBoundingSet= of the unit is exactly what the daemon keeps" [ -n "$kept" -a "$unit_caps" = "$kept" ]
else
        ok "CapabilityBoundingSet= of the unit is exactly what the daemon keeps # SKIP needs root"
fi

# ---- sysusers
mkdir -p "$ib_tmp/root/etc"
systemd-sysusers --root="$ib_tmp/root" "$units/sysusers.d/iommu-broker.conf" > "$ib_tmp/sysusers.out" 2>&1
rc=$?
diag < "$ib_tmp/sysusers.out"
check "systemd-sysusers accepts the file and creates the user iommu-broker" \
        sh -c "[ $rc -eq 0 ] && grep -q '^iommu-broker:' '$ib_tmp/root/etc/passwd'"
named_groups=$(sed -n -e 's/^SocketGroup=//p' "$units/iommu-brokerd.socket"; \
               sed -n 's/.*--admin-group=\([^ ]*\).*/\1/p' "$units/iommu-brokerd.service")
missing=
for g in $named_groups; do
        grep -q "^$g:" "$ib_tmp/root/etc/group" || missing="$missing $g"
done
echo "groups the units name: $(echo $named_groups); missing from sysusers:${missing:- none}" | diag
check "every group the units name comes from sysusers" [ -n "$named_groups" -a -z "$missing" ]

# ---- bus policy
name=$(sed -n 's/^#define ADMIN_BUS_NAME "\(.*\)"/\1/p' "$IB_TOP_SRCDIR/daemon/host/admin-dbus.h")
check "the bus policy lets root own the daemon's bus name ($name)" \
        sh -c "[ -n '$name' ] && grep -q 'allow own=\"$name\"' '$units/org.iommubroker.Broker1.conf' &&
               [ '$name.conf' = org.iommubroker.Broker1.conf ]"

finish
