#!/bin/sh
# conformance-mmap-path.sh - the conformance suite again, with the broker mapping
# memfds through its own mmap and IOMMU_IOAS_MAP (--no-map-file), the only
# path on kernels before 6.13.  The sim backend then models such a kernel.
exec "${IB_BUILDDIR:-.}/tests/conformance/test-conformance" --daemon-args=--no-map-file --expect-map-file=no "$@"
