#!/bin/bash
# run-tests.sh - every test of iommu-broker, as CI runs them, on a fresh Debian 12 machine.
#
#  1. build (build/) and run the unit and integration suites (`make check`);
#  2. the same suites built with AddressSanitizer and UndefinedBehaviorSanitizer (build-asan/);
#  3. the random-kill soak (tests/soak/test-soak.c) with 300 clients against the ASan daemon,
#     as is and with every map waiting off the event loop (--offload-min-bytes=4K), and the
#     restart soak (tests/soak/test-restart-soak.c): the ASan broker SIGKILLed 200 times;
#  4. the libFuzzer harnesses of tests/fuzz/ built with clang (build-fuzz/), each run for
#     FUZZ_SECONDS (default 60) side by side on a copy of its seed corpus: one test each;
#  5. `make distcheck` (the release tarball builds and passes its tests);
#  6. the real-kernel suite in a QEMU guest with an emulated Intel VT-d (`make vmcheck`);
#     the first run builds a guest kernel (about 6 minutes on 2 cores; cached after);
#  7. a short `make vmbench` in the guest (3 rounds of 64 iterations, a 32 MiB big map, the map cost
#     up to 10k live mappings on the kernel backend): its figures are printed; it fails only if a row
#     cannot be measured, never for a missed target.
#
# Each stage installs what it needs.  The last line is "N passed, N failed".
# IB_STAGES="check asan soak fuzz distcheck vm vmbench" picks stages (default: all of them).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
stages=${IB_STAGES:-check asan soak fuzz distcheck vm vmbench}
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

# run_check DIR: make check in DIR, its results counted; results of an earlier run never count, and a
# make that fails with no failing test (a build error) counts as one failure
run_check() {
        local before=$failed rc=0

        find "$1/tests" -name '*.trs' -delete 2>/dev/null
        make -C "$1" -j"$(nproc)" check >"$1/check.out" 2>&1 || rc=$?
        grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):' "$1/check.out" | grep -v '^PASS' || true
        count_trs "$1/tests"
        if [ "$rc" -ne 0 ] && [ "$failed" -eq "$before" ]; then
                echo "== $1: make check failed with no failing test:"
                tail -n 20 "$1/check.out"
                failed=$((failed + 1))
        fi
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

# fuzz_deps: clang and libFuzzer (compiler-rt); installs them when a harness cannot be linked
fuzz_deps() {
        local probe

        probe=$(mktemp -d)
        printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
                'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
                'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void) d; (void) n; return 0; }' \
                > "$probe/probe.c"
        if ! clang -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" >/dev/null 2>&1; then
                echo "fuzz: installing clang libclang-rt-dev"
                [ -n "$(find /var/lib/apt/lists -name '*_Packages' -mmin -1440 2>/dev/null | head -1)" ] || apt-get update -q
                DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends clang libclang-rt-dev \
                        >/dev/null || { rm -rf "$probe"; return 1; }
                clang -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" ||
                        { rm -rf "$probe"; return 1; }
        fi
        rm -rf "$probe"
}

for s in $stages; do
        case $s in
        check)
                if stage build bash "$top/build-aux/build.sh" build --enable-werror >/dev/null; then
                        run_check "$top/build"
                else
                        failed=$((failed + 1))
                fi
                ;;
        asan)
                if stage build-asan bash "$top/build-aux/build.sh" build-asan --enable-werror --enable-sanitizers >/dev/null; then
                        run_check "$top/build-asan"
                else
                        failed=$((failed + 1))
                fi
                ;;
        fuzz)
                if stage fuzz-deps fuzz_deps &&
                   stage build-fuzz bash "$top/build-aux/build.sh" build-fuzz CC=clang --enable-fuzzing >/dev/null; then
                        bash "$top/tests/fuzz/run-fuzzers.sh" "$top/build-fuzz" >"$top/build-fuzz/fuzz.out" 2>&1
                        p=$(grep -c '^== fuzz: .*: ok' "$top/build-fuzz/fuzz.out" || true)
                        f=$(grep -c '^== fuzz: .*: FAILED' "$top/build-fuzz/fuzz.out" || true)
                        # a harness's lines, and the tail of the output of one that found something
                        grep -E '^(== fuzz|    )' "$top/build-fuzz/fuzz.out" || true
                        if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
                                tail -n 40 "$top/build-fuzz/fuzz.out"
                                f=1
                        fi
                        passed=$((passed + p)); failed=$((failed + f))
                        echo "== fuzz: $p passed, $f failed"
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
        vmbench)
                if stage build bash "$top/build-aux/build.sh" build --enable-werror >/dev/null; then
                        IB_VMBENCH=64,33554432,3,10000 make -C "$top/build" vmbench > "$top/build/vmbench.out" 2>&1
                        sed -n '/^VMTEST-BEGIN vmbench/,/^VMTEST-END vmbench/p' "$top/build/tests/vm/guest.log" |
                                grep -E '^(# vmbench|direct|bare|4 KiB|  |one |another|Map cost|target)' || true
                        if grep -q -E '^ok [0-9]+ - vm/vmbench' "$top/build/vmbench.out"; then
                                passed=$((passed + 1))
                                echo "== vmbench: measured (targets are not checked here)"
                        else
                                tail -n 40 "$top/build/vmbench.out"
                                failed=$((failed + 1))
                                echo "== vmbench: FAILED"
                        fi
                else
                        failed=$((failed + 1))
                fi
                ;;
        soak)
                # the random-kill soak of tests/soak/test-soak.c, 300 clients (IB_SOAK_CLIENTS, IB_SOAK_SEED
                # override) against the ASan build of the daemon: one test
                if stage build-asan bash "$top/build-aux/build.sh" build-asan --enable-werror --enable-sanitizers >/dev/null &&
                   stage build-soak make -C "$top/build-asan" -j"$(nproc)" daemon/iommu-brokerd tests/soak/test-soak \
                        tests/soak/test-restart-soak tests/lib/ib-svcmgr >"$top/build-asan/soak-build.out" 2>&1; then
                        # as is, then with every map waiting off the loop (util/offload.h)
                        for variant in "" "--offload-min-bytes=4K"; do
                                (cd "$top/build-asan" &&
                                 IB_DAEMON="$top/build-asan/daemon/iommu-brokerd" IB_SOAK_CLIENTS="${IB_SOAK_CLIENTS:-300}" \
                                 IB_SOAK_DAEMON_ARGS="$variant" \
                                 ASAN_OPTIONS='detect_leaks=1:abort_on_error=1' UBSAN_OPTIONS='print_stacktrace=1:halt_on_error=1' \
                                 timeout 600 tests/soak/test-soak) >"$top/build-asan/soak.out" 2>&1
                                rc=$?
                                grep -E '^# (seed|one client|[0-9]+ clients in|the kills|baseline holds:)' "$top/build-asan/soak.out" || true
                                if [ "$rc" -eq 0 ] && ! grep -q '^not ok' "$top/build-asan/soak.out"; then
                                        echo "== soak ${variant:-(default)}: ok"
                                        passed=$((passed + 1))
                                else
                                        tail -n 40 "$top/build-asan/soak.out"
                                        echo "== soak ${variant:-(default)}: FAILED"
                                        failed=$((failed + 1))
                                fi
                        done
                        # the broker SIGKILLed 200 times under busy clients (tests/soak/test-restart-soak.c),
                        # IB_RESTART_SOAK_KILLS and IB_SOAK_SEED override; bounded to 3 minutes
                        (cd "$top/build-asan" &&
                         IB_DAEMON="$top/build-asan/daemon/iommu-brokerd" IB_BUILDDIR="$top/build-asan" \
                         IB_RESTART_SOAK_KILLS="${IB_RESTART_SOAK_KILLS:-200}" IB_RESTART_SOAK_MAX_SECONDS=150 \
                         ASAN_OPTIONS='detect_leaks=1:abort_on_error=1' UBSAN_OPTIONS='print_stacktrace=1:halt_on_error=1' \
                         timeout 180 tests/soak/test-restart-soak) >"$top/build-asan/restart-soak.out" 2>&1
                        rc=$?
                        grep -E '^# (seed|set up|[0-9]+ random kills|requests|checked|restart to)' \
                                "$top/build-asan/restart-soak.out" || true
                        if [ "$rc" -eq 0 ] && ! grep -q '^not ok' "$top/build-asan/restart-soak.out"; then
                                echo "== restart soak: ok"
                                passed=$((passed + 1))
                        else
                                tail -n 40 "$top/build-asan/restart-soak.out"
                                echo "== restart soak: FAILED"
                                failed=$((failed + 1))
                        fi
                else
                        tail -n 40 "$top/build-asan/soak-build.out" 2>/dev/null
                        failed=$((failed + 1))
                fi
                ;;
        *)
                echo "unknown stage '$s'"; failed=$((failed + 1));;
        esac
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
