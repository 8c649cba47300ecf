#!/bin/bash
# tests/vm/setup.sh - iommu-broker VM harness: host prerequisites.
# Owns: installing QEMU (bookworm-backports, through build-aux/private-apt.sh),
# the kernel build dependencies (plain Debian 12 apt-get, only what is
# missing) and the busybox-static download (never installed).
#
# Idempotent; when everything is in place it runs no apt command at all.
# Env: IB_VM_CACHE (default /var/cache/iommu-broker/vm).
# Leaves $IB_VM_CACHE/busybox/busybox (static) and $IB_VM_CACHE/busybox/VERSION.
# The machine's /etc/apt is never modified: trixie and bookworm-backports are
# only known to the private apt configuration in build-aux/private-apt.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cache=${IB_VM_CACHE:-/var/cache/iommu-broker/vm}

log() { echo "vm-setup: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
missing_pkgs() {
        local p
        for p in "$@"; do
                dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -qx 'install ok installed' || echo "$p"
        done
}
need_root() {
        [ "$(id -u)" = 0 ] || die "$1 is missing and installing it needs root (run: sudo $0)"
}
papt_ready=
papt() {
        if [ -z "$papt_ready" ]; then
                # shellcheck source=../../build-aux/private-apt.sh
                source "$top/build-aux/private-apt.sh"
                papt_init
                papt_ready=1
        fi
}

# ---- kernel build dependencies: plain Debian 12 apt, only what is missing --
# (never re-install or upgrade what is there)
mapfile -t miss < <(missing_pkgs build-essential flex bison bc cpio libelf-dev libssl-dev \
        xz-utils gzip util-linux)
if [ ${#miss[@]} -gt 0 ]; then
        need_root "${miss[*]}"
        log "installing from Debian 12: ${miss[*]}"
        [ -n "$(find /var/lib/apt/lists -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1)" ] ||
                apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${miss[@]}" >&2
fi

# ---- QEMU 10.0 from bookworm-backports (private apt config, trixie pinned) --
if ! command -v qemu-system-x86_64 >/dev/null; then
        need_root qemu-system-x86_64
        papt
        log "installing qemu-system-x86 from bookworm-backports"
        papt_install -t bookworm-backports qemu-system-x86 >&2
        command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 still missing after install"
fi
if [ ! -e "$cache/.qemu-ok" ] || [ "$(command -v qemu-system-x86_64)" -nt "$cache/.qemu-ok" ]; then
        devs=$(qemu-system-x86_64 -device help 2>&1 || true)
        for d in edu intel-iommu virtio-iommu-pci; do
                grep -q "\"$d\"" <<<"$devs" ||
                        die "qemu-system-x86_64 has no $d device ($(qemu-system-x86_64 --version | head -n 1))"
        done
        mkdir -p "$cache"
        qemu-system-x86_64 --version | head -n 1 > "$cache/.qemu-ok"
fi

# ---- busybox-static from trixie: downloaded and unpacked, never installed --
bb=$cache/busybox
if [ ! -x "$bb/busybox" ]; then
        papt
        ver=$(papt_version busybox-static trixie) || ver=
        [ -n "$ver" ] || die "no busybox-static in trixie (private apt lists in ${PAPT_DIR})"
        dl=$(mktemp -d)
        trap 'rm -rf "$dl"' EXIT
        log "downloading busybox-static=$ver"
        papt_download "$dl" "busybox-static=$ver" >&2
        deb=$(ls "$dl"/busybox-static_*.deb 2>/dev/null || true)
        [ -n "$deb" ] || die "download of busybox-static=$ver failed"
        dpkg-deb -x "$deb" "$dl/x"
        mkdir -p "$bb"
        cp "$dl/x/bin/busybox" "$bb/busybox.tmp" 2>/dev/null || cp "$dl/x/usr/bin/busybox" "$bb/busybox.tmp"
        "$bb/busybox.tmp" true || die "unpacked busybox does not run"
        echo "busybox-static $ver" > "$bb/VERSION"
        mv "$bb/busybox.tmp" "$bb/busybox"
fi
exit 0
