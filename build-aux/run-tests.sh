#!/bin/bash
# run-tests.sh - every test of iommu-broker, as CI runs them, on a fresh Debian 12 machine.
#
#  1. build (build/) and run the unit and integration suites (`make check`);
#  2. the same suites built with AddressSanitizer and UndefinedBehaviorSanitizer (build-asan/);
#  3. `make distcheck` (the release tarball builds and passes its tests);
#  4. the real-kernel suite in a QEMU guest with an emulated Intel VT-d (`make vmcheck`);
#     the first run builds a guest kernel (about 6 minutes on 2 cores; cached after).
#
# Each stage installs what it needs.  The last line is "N passed, N failed".
# IB_STAGES="check asan distcheck vm" picks stages (default: all of them).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
stages=${IB_STAGES:-check asan distcheck vm}
passed=0
failed=0
skipped=0

# count_trs DIR: adds the automake test results below DIR
count_trs() {
        local p f s
        p=$(cat $(find "$1" -name '*.trs' 2>/dev/null) /dev/null | grep -c '^:test-result: PASS' || true)
        f=$(cat $(find "$1" -name '*.trs' 2>/dev/null) /dev/null | grep -c -E '^:test-result: (FAIL|ERROR|XPASS)' || true)
        s=$(cat $(find "$1" -name '*.trs' 2>/dev/null) /dev/null | grep -c '^:test-result: SKIP' || true)
        passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
        echo "== $1: $p passed, $f failed, $s skipped"
}

# stage NAME CMD...: runs a stage; a stage that fails without test results counts as one failure
stage() {
        local name=$1; shift
        echo "== $name"
        if ! "$@"; then
                echo "== $name: FAILED"
                return 1
        fi
}

for s in $stages; do
        case $s in
        check)
                if stage build bash "$top/build-aux/build.sh" build --enable-werror >/dev/null; then
                        make -C "$top/build" -j"$(nproc)" check >"$top/build/check.out" 2>&1
                        grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):' "$top/build/check.out" | grep -v '^PASS' || true
                        count_trs "$top/build/tests"
                else
                        failed=$((failed + 1))
                fi
                ;;
        asan)
                if stage build-asan bash "$top/build-aux/build.sh" build-asan --enable-werror --enable-sanitizers >/dev/null; then
                        make -C "$top/build-asan" -j"$(nproc)" check >"$top/build-asan/check.out" 2>&1
                        grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):' "$top/build-asan/check.out" | grep -v '^PASS' || true
                        count_trs "$top/build-asan/tests"
                else
                        failed=$((failed + 1))
                fi
                ;;
        distcheck)
                if stage build bash "$top/build-aux/build.sh" build --enable-werror >/dev/null &&
                   make -C "$top/build" distcheck >"$top/build/distcheck.out" 2>&1; then
                        echo "== distcheck: ok"
                        passed=$((passed + 1))
                else
                        tail -n 40 "$top/build/distcheck.out" 2>/dev/null
                        echo "== distcheck: FAILED"
                        failed=$((failed + 1))
                fi
                ;;
        vm)
                if stage build bash "$top/build-aux/build.sh" build --enable-werror >/dev/null; then
                        make -C "$top/build" vmcheck > "$top/build/vmcheck.out" 2>&1
                        grep -E '^(not ok|ok|# vm:)' "$top/build/vmcheck.out" || true
                        p=$(grep -c -E '^ok .*' "$top/build/vmcheck.out" | head -1 || true)
                        sk=$(grep -c -E '^ok .*# SKIP' "$top/build/vmcheck.out" || true)
                        f=$(grep -c -E '^not ok' "$top/build/vmcheck.out" || true)
                        if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
                                tail -n 40 "$top/build/vmcheck.out"
                                f=1
                        fi
                        passed=$((passed + p - sk)); skipped=$((skipped + sk)); failed=$((failed + f))
                        echo "== vm: $((p - sk)) passed, $f failed, $sk skipped"
                else
                        failed=$((failed + 1))
                fi
                ;;
        *)
                echo "unknown stage '$s'"; failed=$((failed + 1));;
        esac
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
