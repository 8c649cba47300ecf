#!/bin/bash
# build.sh - configure and build iommu-broker in a build directory, installing
# what a fresh Debian 12 machine lacks first.
#
# Usage: build-aux/build.sh [BUILDDIR [CONFIGURE-ARGS...]]   (default BUILDDIR: build)
# Re-running only rebuilds what changed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
builddir=${1:-build}
shift || true
case $builddir in /*) ;; *) builddir=$top/$builddir ;; esac

headers=$(bash "$top/build-aux/setup-build-deps.sh" | tail -n 1)
if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ]; then
        (cd "$top" && autoreconf -fi >/dev/null)
fi
mkdir -p "$builddir"
cd "$builddir"
want="--with-kernel-headers=$headers $*"
if [ ! -f Makefile ] || [ "$(cat .configure-args 2>/dev/null)" != "$want" ]; then
        # shellcheck disable=SC2086
        "$top/configure" $want >configure.out 2>&1 || { tail -n 30 configure.out; exit 1; }
        echo "$want" > .configure-args
fi
make -j"$(( $(nproc) + 1 ))" >make.out 2>&1 || { grep -E -B2 -A6 'error|Error' make.out | tail -n 60; exit 1; }
echo "$builddir"
