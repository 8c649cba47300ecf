#!/bin/sh
# conformance-offload.sh - the conformance suite again, with every Map, Copy,
# Unmap and Batch run in a coroutine that waits for its kernel call off the
# event loop (--offload-min-bytes=1; util/offload.h).  The sim's calls are not
# thread-safe, so they run on the loop after whatever else was waiting: every
# path of a waiting request but the worker thread itself (the guest suite runs
# the same on the kernel backend, with threads).
exec "${IB_BUILDDIR:-.}/tests/conformance/test-conformance" --daemon-args=--offload-min-bytes=1 "$@"
