#!/bin/bash
# tests/vm/build-kernel.sh - iommu-broker VM harness: the guest kernel.
# Owns: downloading/unpacking linux-source-7.3 (never installed), building a
# bzImage from tinyconfig + tests/vm/kernel.config, and its cache.
#
# Usage: build-kernel.sh            (prints the bzImage path as its LAST line)
# Env:   IB_VM_CACHE      cache dir (default /var/cache/iommu-broker/vm)
#        IB_VM_KSRC_PKG   source package (default linux-source-7.3)
#        IB_VM_KSRC_SUITE suite to take it from (default trixie-backports)
#        IB_VM_KCONFIG    fragment (default: kernel.config next to this script)
#        IB_VM_JOBS       make -j (default nproc+1)
#
# Cache layout ($IB_VM_CACHE):
#   debs/linux-source-7.3_<ver>_all.deb        downloaded .deb
#   src/linux-source-7.3-<ver>/                unpacked tree (+ .unpacked stamp)
#   kernel-<ver>-<sha256(option lines of fragment):16>/   one per cache key
#       build/     O= build dir (build/usr/include: `make headers` output)
#       bzImage    copied there only when the build succeeded (= cache hit)
#       config     the final .config, build.log, build-seconds
# A key directory with a bzImage is never rebuilt; a new source package version
# or any change of the fragment's CONFIG_ lines (not its comments) gives a new key.  Old keys are left alone
# (delete them by hand).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cache=${IB_VM_CACHE:-/var/cache/iommu-broker/vm}
pkg=${IB_VM_KSRC_PKG:-linux-source-7.3}
suite=${IB_VM_KSRC_SUITE:-trixie-backports}
frag=${IB_VM_KCONFIG:-$here/kernel.config}
jobs=${IB_VM_JOBS:-$(( $(nproc) + 1 ))}

log() { echo "build-kernel: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ -r "$frag" ] || die "no Kconfig fragment at $frag"
mkdir -p "$cache/debs" "$cache/src"

# ---- 1. which source version (from the private apt lists) ------------------
# shellcheck source=../../build-aux/private-apt.sh
source "$top/build-aux/private-apt.sh"
ver=
vfile=$cache/.version-$pkg-$suite     # apt-cache madison is slow: remember its answer
if papt_init; then
        if [ -s "$vfile" ] && [ "$vfile" -nt "$PAPT_DIR/lists/.updated" ]; then
                ver=$(cat "$vfile")
        else
                ver=$(papt_version "$pkg" "$suite") || ver=
                [ -z "$ver" ] || echo "$ver" 2>/dev/null > "$vfile" || true
        fi
fi
if [ -z "$ver" ]; then
        # apt not usable (offline?): fall back to the newest .deb already here
        deb=$(ls -1 "$cache/debs/${pkg}_"*_all.deb 2>/dev/null | sort -V | tail -n 1 || true)
        [ -n "$deb" ] || die "cannot find a version of $pkg in $suite and no cached .deb"
        ver=$(dpkg-deb -f "$deb" Version)
        log "apt gave no version of $pkg; using cached $ver"
fi
# the key hashes the fragment's option lines only: editing comments is free
sum=$(sed -n -e '/^CONFIG_/p' -e '/^# CONFIG_[A-Za-z0-9_]* is not set/p' "$frag" | sha256sum | cut -c1-16)
kdir=$cache/kernel-$ver-$sum
if [ -s "$kdir/bzImage" ]; then
        log "cached: $pkg $ver, fragment $sum"
        echo "$kdir/bzImage"
        exit 0
fi

# One build per key at a time (two concurrent `make vmcheck` runs).
exec 9> "$cache/.lock-kernel-$ver-$sum"
flock 9
if [ -s "$kdir/bzImage" ]; then
        echo "$kdir/bzImage"
        exit 0
fi

# ---- 2. download + unpack the source (dpkg-deb -x, never installed) ---------
# the cached .deb of exactly $ver, if any
cached_deb() {
        local f
        for f in "$cache/debs/${pkg}_"*_all.deb; do
                [ -f "$f" ] && [ "$(dpkg-deb -f "$f" Version)" = "$ver" ] && { echo "$f"; return 0; }
        done
        return 0
}
src=$cache/src/$pkg-$ver
if [ ! -e "$src/.unpacked" ]; then
        deb=$(cached_deb)
        if [ -z "$deb" ]; then
                log "downloading $pkg=$ver"
                papt_download "$cache/debs" "$pkg=$ver" >&2
                deb=$(cached_deb)
                [ -n "$deb" ] || die "download of $pkg=$ver failed"
        fi
        log "unpacking $deb"
        rm -rf "$src" "$src.tmp"
        mkdir -p "$src.tmp"
        dpkg-deb -x "$deb" "$src.tmp/deb"
        tarball=$(ls "$src.tmp/deb/usr/src/$pkg".tar.* 2>/dev/null | head -n 1)
        [ -n "$tarball" ] || die "$deb has no usr/src/$pkg.tar.*"
        tar -C "$src.tmp" -xf "$tarball"
        [ -f "$src.tmp/$pkg/Makefile" ] || die "$tarball did not unpack to $pkg/"
        mv "$src.tmp/$pkg" "$src"
        rm -rf "$src.tmp"
        touch "$src/.unpacked"
fi

# ---- 3. configure: tinyconfig + fragment, then check every line of it -------
# An interrupted build leaves build/ behind; make just carries on with it.
rm -f "$kdir/bzImage" "$kdir/config"
mkdir -p "$kdir/build"
b=$kdir/build
log "configuring $pkg $ver with $(basename "$frag") ($sum) in $kdir"
make -s -C "$src" O="$b" tinyconfig >/dev/null 2>"$kdir/config.log" ||
        { cat "$kdir/config.log" >&2; die "make tinyconfig failed"; }
"$src/scripts/kconfig/merge_config.sh" -m -O "$b" "$b/.config" "$frag" >>"$kdir/config.log" 2>&1 ||
        { tail -n 30 "$kdir/config.log" >&2; die "merge_config.sh failed"; }
make -s -C "$src" O="$b" olddefconfig >>"$kdir/config.log" 2>&1 ||
        { tail -n 30 "$kdir/config.log" >&2; die "make olddefconfig failed"; }
bad=0
while read -r sym; do
        if ! grep -qx "$sym=y" "$b/.config"; then
                now=$(grep -E "^$sym=|^# $sym is not set" "$b/.config" || true)
                log "required $sym=y, but .config has: ${now:-nothing (unknown symbol?)}"
                bad=1
        fi
done < <(sed -n 's/^\(CONFIG_[A-Za-z0-9_]*\)=y[[:space:]]*$/\1/p' "$frag")
while read -r sym; do
        if grep -qx "$sym=y" "$b/.config"; then
                log "$sym must stay off, but olddefconfig turned it on (selected by another option?)"
                bad=1
        fi
done < <(sed -n 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set[[:space:]]*$/\1/p' "$frag")
[ "$bad" = 0 ] || die "kernel config check failed (fragment $frag, config $b/.config)"
cp "$b/.config" "$kdir/config"

# ---- 4. build ----------------------------------------------------------------
log "building bzImage with -j$jobs (log: $kdir/build.log; about 5 min on 2 cores)"
t0=$(date +%s)
if ! make -C "$src" O="$b" -j"$jobs" bzImage >"$kdir/build.log" 2>&1; then
        tail -n 40 "$kdir/build.log" >&2
        die "kernel build failed after $(( $(date +%s) - t0 ))s; full log: $kdir/build.log"
fi
# sanitised uAPI headers of this very kernel -> build/usr/include
if ! make -C "$src" O="$b" headers >>"$kdir/build.log" 2>&1; then
        tail -n 20 "$kdir/build.log" >&2
        die "make headers failed; full log: $kdir/build.log"
fi
secs=$(( $(date +%s) - t0 ))
echo "$secs" > "$kdir/build-seconds"
cp "$b/arch/x86/boot/bzImage" "$kdir/bzImage.tmp"
mv "$kdir/bzImage.tmp" "$kdir/bzImage"
log "built in ${secs}s: $(stat -c %s "$kdir/bzImage") bytes"
echo "$kdir/bzImage"
