#!/bin/bash
# run-fuzzers.sh - runs the libFuzzer harnesses of a --enable-fuzzing build for a bounded time.
#
# Usage: tests/fuzz/run-fuzzers.sh BUILDDIR [HARNESS...]
#   (default: fuzz-dispatch fuzz-policy fuzz-tool-request fuzz-pb-fast, run side by side)
# Environment: FUZZ_SECONDS (default 60) per harness; FUZZ_RSS_MB (default 2048);
#   FUZZ_WORKDIR to keep the run's files somewhere known (default: a new temporary directory,
#   removed again when nothing was found).
#
# Each harness runs on a copy of tests/fuzz/corpus/HARNESS and
# tests/fuzz/regressions/HARNESS in the work directory, so the source tree is
# never written.  Prints one line per harness,
#   == fuzz: HARNESS: ok (N runs, COV coverage, corpus M inputs)
#   == fuzz: HARNESS: FAILED (the finding: PATH), then the tail of its output,
# and exits 1 if any harness found something.  A finding is kept in the work
# directory: copy it to tests/fuzz/regressions/HARNESS/ (see tests/fuzz/README.md).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
builddir=${1:?usage: run-fuzzers.sh BUILDDIR [HARNESS...]}
shift
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(fuzz-dispatch fuzz-policy fuzz-tool-request fuzz-pb-fast)
seconds=${FUZZ_SECONDS:-60}
rss=${FUZZ_RSS_MB:-2048}
keep=${FUZZ_WORKDIR:+yes}
work=${FUZZ_WORKDIR:-$(mktemp -d "${TMPDIR:-/tmp}/ib-fuzz.XXXXXX")}
mkdir -p "$work"

# Inputs of fuzz-dispatch carry at most 64 frames; policy files and request lines are short.
max_len() {
        case $1 in
        fuzz-dispatch) echo 16384 ;;
        *) echo 8192 ;;
        esac
}

run_one() {
        local h=$1 bin="$builddir/tests/fuzz/$1" dir="$work/$1"

        rm -rf "$dir"
        mkdir -p "$dir/corpus" "$dir/artifacts"
        cp -r "$top/tests/fuzz/corpus/$h/." "$dir/corpus/" 2>/dev/null || true
        cp -r "$top/tests/fuzz/regressions/$h/." "$dir/corpus/" 2>/dev/null || true
        local dict=()

        [ -f "$top/tests/fuzz/$h.dict" ] && dict=(-dict="$top/tests/fuzz/$h.dict")
        # LeakSanitizer is libFuzzer's own -detect_leaks; UBSan findings abort like crashes
        ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
                "$bin" -max_total_time="$seconds" -rss_limit_mb="$rss" -timeout=10 -max_len="$(max_len "$h")" \
                "${dict[@]}" -print_final_stats=1 -artifact_prefix="$dir/artifacts/" "$dir/corpus" \
                >"$dir/output.log" 2>&1
        echo $? > "$dir/exit-status"
}

for h in "${harnesses[@]}"; do
        if [ ! -x "$builddir/tests/fuzz/$h" ]; then
                echo "run-fuzzers: $builddir/tests/fuzz/$h is not built (configure CC=clang --enable-fuzzing)" >&2
                exit 2
        fi
done

echo "== fuzz: ${harnesses[*]} for ${seconds}s each, side by side, in $work"
pids=()
for h in "${harnesses[@]}"; do
        run_one "$h" &
        pids+=($!)
done
for p in "${pids[@]}"; do
        wait "$p"
done

failed=0
for h in "${harnesses[@]}"; do
        dir="$work/$h"
        status=$(cat "$dir/exit-status" 2>/dev/null || echo 99)
        finding=$(find "$dir/artifacts" -type f 2>/dev/null | head -n 1)
        if [ "$status" -eq 0 ] && [ -z "$finding" ]; then
                runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/output.log" | grep -o '[0-9]*$')
                cov=$(grep -o 'cov: [0-9]*' "$dir/output.log" | tail -n 1 | grep -o '[0-9]*$')
                n=$(find "$dir/corpus" -type f | wc -l)
                echo "== fuzz: $h: ok (${runs:-?} runs, ${cov:-?} coverage points, corpus $n inputs)"
        else
                echo "== fuzz: $h: FAILED (exit status $status; the finding: ${finding:-none saved})"
                tail -n 60 "$dir/output.log" | sed 's/^/    /'
                failed=1
        fi
done
[ "$failed" -eq 0 ] && [ -z "$keep" ] && rm -rf "$work"
exit "$failed"
