#!/bin/bash
# setup-build-deps.sh - make a fresh Debian 12 machine able to build iommu-broker.
#
# 1. Installs the build dependencies from Debian 12 (only what is missing).
# 2. Debian 12's kernel uAPI headers predate iommufd's MAP_FILE and VFIO PASID
#    attach: it downloads a newer linux-libc-dev (never installed) with a private
#    apt configuration and unpacks <linux/iommufd.h> and <linux/vfio.h> into a
#    build-local directory.
#
# Prints the directory to pass as ./configure --with-kernel-headers=DIR on the
# last line of its output.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${KERNEL_HEADERS_DIR:-$top/_deps/kernel-headers}

pkgs=(build-essential autoconf automake libtool pkg-config
      libevent-dev libprotobuf-c-dev protobuf-c-compiler libsystemd-dev libcap-ng-dev libinih-dev
      python3-docutils dbus systemd jq util-linux xz-utils python3)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
        echo "setup: installing ${missing[*]}" >&2
        [ -n "$(find /var/lib/apt/lists -name '*_Packages' -mmin -1440 2>/dev/null | head -1)" ] || apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

have_new_headers() {
        grep -q IOMMU_IOAS_MAP_FILE "$1/linux/iommufd.h" 2>/dev/null &&
        grep -q VFIO_DEVICE_ATTACH_PASID "$1/linux/vfio.h" 2>/dev/null &&
        grep -q __counted_by "$1/linux/stddef.h" 2>/dev/null
}

if ! have_new_headers "$out"; then
        # shellcheck source=private-apt.sh
        source "$top/build-aux/private-apt.sh"
        papt_init
        ver=$(papt_version linux-libc-dev trixie-backports)
        [ -n "$ver" ] || ver=$(papt_version linux-libc-dev trixie)
        [ -n "$ver" ] || { echo "setup: no newer linux-libc-dev found" >&2; exit 1; }
        dl=$(mktemp -d)
        trap 'rm -rf "$dl"' EXIT
        papt_download "$dl" "linux-libc-dev=$ver" >&2
        dpkg-deb -x "$dl"/linux-libc-dev_*.deb "$dl/x"
        mkdir -p "$out/linux"
        # vfio.h needs the __counted_by() of the same release's linux/stddef.h
        cp "$dl/x/usr/include/linux/iommufd.h" "$dl/x/usr/include/linux/vfio.h" "$dl/x/usr/include/linux/stddef.h" "$out/linux/"
        echo "linux-libc-dev $ver" > "$out/VERSION"
        have_new_headers "$out" || { echo "setup: linux-libc-dev $ver lacks MAP_FILE or PASID attach" >&2; exit 1; }
fi
echo "$out"
