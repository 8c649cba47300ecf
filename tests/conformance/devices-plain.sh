#!/bin/sh
# devices-plain.sh - the device conformance suite on the sim device that can do
# nothing beyond translation (no PASID, nesting, dirty tracking or snoop
# control), as QEMU's edu behind an emulated VT-d is in the guest.
exec "${IB_BUILDDIR:-.}/tests/conformance/test-devices" --device=0000:00:03.0 "$@"
