#!/bin/bash
# demo.sh - the main job: a VMM's flow through iommu-brokerd, step by step.
#
# Builds what is missing, starts the broker on the simulated IOMMU (this
# machine has no IOMMU; the demo says so), then plays a VMM over one
# connection with iommu-broker-client: guest RAM as memfds, a 32-bit DMA
# window, mappings, a copy into a second address space, a batch, the errors
# a VMM gets for mistakes, and teardown that returns every byte.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

echo "==> building (first run: installs build dependencies and compiles)"
builddir=$(bash "$top/build-aux/build.sh" build)
daemon=$builddir/daemon/iommu-brokerd
client=$builddir/client/iommu-broker-client

tmp=$(mktemp -d /tmp/iommu-broker-demo.XXXXXX)
sock=$tmp/vmm.sock
cleanup() {
        [ -n "${client_pid:-}" ] && kill "$client_pid" 2>/dev/null || true
        [ -n "${daemon_pid:-}" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
        rm -rf "$tmp"
}
trap cleanup EXIT

echo
echo "==> starting iommu-brokerd --backend=sim --socket $sock"
if [ -e /dev/iommu ]; then
        echo "    (this machine has /dev/iommu; the demo still uses the simulated IOMMU so it changes nothing)"
else
        echo "    (this machine has no /dev/iommu: without --backend=sim the broker would refuse to start:)"
        "$daemon" --socket "$tmp/refused.sock" 2>&1 | sed 's/^/      /' || true
fi
"$daemon" --backend=sim --socket "$sock" --log-level=notice 2> "$tmp/daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done

# One connection for the whole flow, as a VMM would hold it.
coproc VMM { exec "$client" --socket "$sock"; }
client_pid=$VMM_PID

step() {
        local what=$1 req=$2 reply
        echo
        echo "--- $what"
        echo "    > $req"
        printf '%s\n' "$req" >&"${VMM[1]}"
        IFS= read -r reply <&"${VMM[0]}"
        echo "    < $reply"
}

step "Hello: protocol version, limits, this session's number" "hello"
step "What can the IOMMU side do?" "caps"
step "An I/O address space for a guest limited to 32-bit DMA" "ioas-alloc window=32 as=dma32"
step "The IOVAs it may use (all below 4 GiB)" "iova-ranges ioas=@dma32"
step "Guest RAM: a 2 MiB memfd mapped at IOVA 1 MiB (the broker checks it is a writable, unsealed memfd)" \
     "map ioas=@dma32 memfd=guest-ram size=2M iova=0x100000"
step "A mistake: the same IOVA again" "map ioas=@dma32 memfd=guest-ram size=2M iova=0x100000"
step "Another region; the IOMMU chooses the IOVA" "map ioas=@dma32 memfd=guest-ram offset=2M size=1M as=hi"
step "A mistake: mapping past the 32-bit window" "map ioas=@dma32 memfd=guest-ram size=4K iova=0x100000000"
step "A sealed memfd cannot become writable DMA" "map ioas=@dma32 memfd=sealed size=4K seal=write iova=0x800000"
step "...but read-only DMA of it is fine" "map ioas=@dma32 memfd=sealed size=4K prot=r iova=0x800000"
step "A second address space, sharing the first region by Copy (no second pin)" "ioas-alloc as=full"
step "Copy 2 MiB from IOVA 1 MiB into it" "copy dst=@full src=@dma32 src-iova=0x100000 length=2M dst-iova=0x40000000"
step "A batch: four operations, one round trip, one result each" \
     "batch op=map,ioas=@full,memfd=guest-ram,size=64K,iova=0x50000000 op=map,ioas=@full,memfd=guest-ram,size=64K,iova=0x50000000 op=unmap,ioas=@full,iova=0x50000000,length=64K op=map,ioas=@full,memfd=guest-ram,size=64K"
step "A mistake: unmapping half a mapping (the IOMMU never splits one)" "unmap ioas=@dma32 iova=0x100000 length=1M"
step "Unmapping the whole mapping" "unmap ioas=@dma32 iova=0x100000 length=2M"
step "The devices this VMM may use (simulated: the sim has two)" "device-list"
step "Open one: the broker binds it to this session's iommufd and hands over its VFIO fd" "device-open dev=0000:00:02.0 as=gpu"
step "What its IOMMU can do" "hw-info dev=@gpu"
step "Attach it to the 32-bit address space" "attach dev=@gpu pt=@dma32"
step "A nesting parent page table on the second address space, and the guest's stage-1 table nested on it" \
     "hwpt-alloc dev=@gpu pt=@full nest-parent=yes as=s2"
step "...the nested HWPT (VT-d stage 1: the guest's page directory and width)" \
     "hwpt-alloc dev=@gpu pt=@s2 data-type=vtd-s1 pgtbl=0x1000 addr-width=48 pasid=yes as=s1"
step "Replace the attachment without a gap: the device now translates through the nested table" "attach dev=@gpu pt=@s1"
step "A PASID-capable table for the guest's vPASID 5" "hwpt-alloc dev=@gpu pt=@full pasid=yes as=pt5"
step "Attach vPASID 5: the broker picks the physical PASID" "pasid-attach dev=@gpu vpasid=5 pt=@pt5"
step "The lookup a hypervisor programs PASID translation from" "pasid-lookup dev=@gpu vpasid=5"
step "The broker's counters while the VMM holds memory" "caps"

echo
echo "--- The VMM disconnects: the broker releases its device and PASIDs, destroys its address spaces and returns every byte"
exec {VMM[1]}>&-
wait "$client_pid" 2>/dev/null || true
client_pid=
sleep 0.2
"$client" --socket "$sock" caps | sed 's/^/    < /'
echo
echo "--- The broker's log"
sed 's/^/    /' "$tmp/daemon.log"
echo
echo "==> done"
