#!/bin/bash
# tests/vm/vmcheck.sh - iommu-broker VM harness: host-side runner (`make vmcheck`).
# Owns: preparing the host (setup.sh, build-kernel.sh), staging the initramfs
# from tests/vm/guest-manifest, booting the QEMU/TCG guest (emulated Intel VT-d
# + two of QEMU's edu devices on vfio-pci) and turning the guest's output into
# TAP.  The manifest may name host files too: the host's own QEMU and its
# firmware are packed so that guest tests run it as an unprivileged VMM.
#
# Usage:  vmcheck.sh [--srcdir=DIR] [--builddir=DIR]
#   DIRs default to $abs_top_srcdir / $abs_top_builddir, then to the tree this
#   script is in (srcdir) and the current directory if it has config.status
#   (else srcdir).  Works from a VPATH build.
# Env:
#   IB_VM_TIMEOUT=600      whole guest run (QEMU start to power-off), seconds
#   IB_VM_TEST_TIMEOUT=300 per-test timeout inside the guest, seconds
#   IB_VM_STALL=120        a guest whose console and heartbeat (ttyS1) both stay silent
#                          this long has stopped: QEMU is ended, and once per run a fresh
#                          boot runs the tests that did not finish (stall-selftest
#                          checks this: IB_VM_TESTS="iommu-present stall-selftest"
#                          IB_VM_STALL=30)
#   IB_VM_TESTS="a b"      run only these guest tests
#   IB_VM_MANIFEST=FILE    instead of tests/vm/guest-manifest
#   IB_VM_SUITE=FILE       instead of tests/vm/guest-suite
#   IB_VM_KERNEL=BZIMAGE   use this kernel, skip build-kernel.sh
#   IB_VM_KSRC=DIR         that kernel's source tree (for the mock-device build;
#                          default: build-kernel.sh's, from its build/source link)
#   IB_VM_IOMMU=intel      intel | intel-sm (scalable mode) | virtio (virtio-iommu)
#   IB_VM_APPEND="..."     extra guest kernel command line (see tests/vm/init)
#   IB_VMBENCH="N,BYTES[,ROUNDS[,SCALE]]"   vmbench's iterations, big-map size and rounds, and
#                                   bench-scale's largest number of live mappings (make vmbench)
#   IB_VMBENCH_PERF=1      pack the host's perf and profile the whole guest while vmbench
#                          runs (perf record -a -g; the report, by process, library and
#                          symbol for the broker and vmbench, goes to guest.log)
#   IB_VMBENCH_PHASE=P     vmbench runs only phase P, for a profile with IB_VMBENCH_PERF=1:
#                          batch (maps and unmaps by handle in Batches of 64 through the
#                          broker), direct-batch (the same ioctls directly, same order) or
#                          both, in one boot (the profile by process tells them apart)
#   IB_VM_CACHE=DIR        cache for kernel/busybox (default /var/cache/iommu-broker/vm)
#   VERBOSE=1              echo every guest line (as TAP comments) while it runs
#   CC                     compiler for tests/vm/runas (default cc)
# Outputs in $builddir/tests/vm/: guest.log (serial console + QEMU stderr, CRs
# stripped), initramfs/ (the staged tree; busybox applet links, /dev/console
# and /dev/null are added only in the cpio), initramfs.cpio.gz, runas,
# mock-build/ (a second build of the project, configured
# --with-iommufd-selftest=<kernel source>/drivers/iommu/iommufd: its daemon is
# packed as /ib/bin/iommu-brokerd-mock for the mock-device tests, with its
# tests/vm/test-kernel-mock).
# Exit status: 0 iff every TAP line is ok (skips are ok).
# Never: touches /etc/apt (setup.sh uses build-aux/private-apt.sh), installs the
# project, or writes outside $builddir/tests/vm and the cache.
#
# ---- guest <-> host protocol (lines on the serial console, ttyS0) ---------
#   VMTEST-PLAN <name>...           guest-suite: tests it is about to run
#   VMTEST-BEGIN <name>             guest-suite: a test starts; what follows is
#                                   its output (stdout+stderr), then its new
#                                   kernel messages as `kmsg: ` lines
#   VMTEST-END <name> rc=<N> ...    rc 0 = pass, 77 = skip, anything else = fail
#                                   (a `SKIP: why` line in the output is the reason)
#   VMTEST-SUITE-DONE               init: the suite returned; it powers off next
#   VM: ...                         init: environment facts / errors
#   (ttyS1, $builddir/tests/vm/heartbeat.log: the guest's uptime every 10 s)
#   VMTEST-STALL <name>             written by this script into guest.log: the
#                                   guest stopped there, a second boot follows
# Markers start a line (CR and terminal escapes stripped); an END counts only
# for the test that BEGAN, so test output cannot end a test early.  The host
# learns the plan before booting from `sh guest-suite --list`, so tests the
# guest never reached are still reported.  While tests run the guest console
# loglevel is 1, so kernel messages do not split protocol lines; oopses and
# panics still appear.
#
# ---- TAP on stdout ------------------------------------------------------------
#   ok N - vm/<name> | not ok N - vm/<name> | ok N - vm/<name> # SKIP <why>
#   not ok N - vm/<name> # did not finish | # did not run  (guest died/hung)
#   ok|not ok N - vm/guest-completed   (VMTEST-SUITE-DONE seen, QEMU exited 0; after
#                                      a stop, on the second boot, which the summary names)
#   failed tests' output follows their line as `# ` comments; a guest that did
#   not complete gets the last 60 serial lines as comments.  Then
#   `# vm: P passed, F failed, S skipped; ...` and the plan `1..N` last.
#   Setup problems (no kernel, missing manifest entry): `Bail out! ...`, exit 1.
set -euo pipefail
shopt -s lastpipe extglob
here=$(cd "$(dirname "$0")" && pwd)

srcdir=${abs_top_srcdir:-}
builddir=${abs_top_builddir:-}
for a in "$@"; do
        case $a in
        --srcdir=*) srcdir=${a#*=} ;;
        --builddir=*) builddir=${a#*=} ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "vmcheck: unknown argument $a" >&2; exit 2 ;;
        esac
done
[ -n "$srcdir" ] || srcdir=$(cd "$here/../.." && pwd)
if [ -z "$builddir" ]; then
        if [ -f "$PWD/config.status" ]; then builddir=$PWD; else builddir=$srcdir; fi
fi
srcdir=$(cd "$srcdir" && pwd)
builddir=$(cd "$builddir" && pwd)

vmdir=$builddir/tests/vm
manifest=${IB_VM_MANIFEST:-$srcdir/tests/vm/guest-manifest}
suite=${IB_VM_SUITE:-$srcdir/tests/vm/guest-suite}
export IB_VM_CACHE=${IB_VM_CACHE:-/var/cache/iommu-broker/vm}
vm_timeout=${IB_VM_TIMEOUT:-600}
test_timeout=${IB_VM_TEST_TIMEOUT:-300}
iommu=${IB_VM_IOMMU:-intel}
verbose=
case ${VERBOSE:-} in "" | 0 | no | false) ;; *) verbose=1 ;; esac

log() { echo "vmcheck: $*" >&2; }
bail() { echo "Bail out! vm: $*"; exit 1; }
mkdir -p "$vmdir"

# the plan, known before boot
[ -r "$suite" ] || bail "no guest suite at $suite"
read -ra tests_a <<<"${IB_VM_TESTS:-}" || true
tests="${tests_a[*]}"
mapfile -t expected < <(IB_VM_TESTS=$tests sh "$suite" --list)
mapfile -t all_tests < <(sh "$suite" --list-all)
[ ${#all_tests[@]} -gt 0 ] || bail "sh $suite --list gives no tests"
for t in $tests; do
        [[ " ${all_tests[*]} " == *" $t "* ]] ||
                bail "IB_VM_TESTS: no test '$t' in $suite (have: ${all_tests[*]})"
done

# ---- 1. host prerequisites and kernel (both cached) ------------------------
t_start=$(date +%s.%N)
bash "$here/setup.sh" || bail "tests/vm/setup.sh failed"
busybox=$IB_VM_CACHE/busybox/busybox
if [ -n "${IB_VM_KERNEL:-}" ]; then
        bz=$IB_VM_KERNEL
else
        out=$(bash "$here/build-kernel.sh") || bail "tests/vm/build-kernel.sh failed"
        bz=${out##*$'\n'}
fi
[ -s "$bz" ] || bail "no kernel image at '$bz'"

# ---- 1b. the daemon with the kernel's iommufd test driver mock devices ------
# The mock devices (iommu-brokerd --kernel-mock-devices, tests only) need the
# test driver's uAPI header from the guest kernel's own source, used in place:
# a second, VPATH build of the project in $vmdir/mock-build.  Without the
# source (IB_VM_KERNEL without IB_VM_KSRC) or from an in-tree build, it is not
# made and the mock tests skip (the manifest entry is optional).
ksrc=${IB_VM_KSRC:-}
[ -n "$ksrc" ] || [ -n "${IB_VM_KERNEL:-}" ] || ksrc=$(readlink -f "$(dirname "$bz")/build/source" || true)
mockdir=$vmdir/mock-build
if [ -z "$ksrc" ] || [ ! -r "$ksrc/drivers/iommu/iommufd/iommufd_test.h" ]; then
        echo "# vm: no kernel source with drivers/iommu/iommufd/iommufd_test.h: no mock-device daemon"
elif [ -f "$srcdir/config.status" ]; then
        echo "# vm: $srcdir is configured in-tree: no second (mock-device) build, its tests skip"
else
        khdr=$(sed -n 's/^KERNEL_HEADERS_DIR = //p' "$builddir/Makefile" 2>/dev/null || true)
        want="${khdr:+--with-kernel-headers=$khdr }--with-iommufd-selftest=$ksrc/drivers/iommu/iommufd"
        mkdir -p "$mockdir"
        if [ ! -f "$mockdir/Makefile" ] || [ "$(cat "$mockdir/.configure-args" 2>/dev/null)" != "$want" ]; then
                # shellcheck disable=SC2086
                (cd "$mockdir" && CC=${CC:-cc} "$srcdir/configure" $want) > "$mockdir/configure.out" 2>&1 ||
                        { tail -n 20 "$mockdir/configure.out" >&2; bail "configuring $mockdir failed (see configure.out)"; }
                echo "$want" > "$mockdir/.configure-args"
        fi
        make -C "$mockdir" -j"$(( $(nproc) + 1 ))" daemon/iommu-brokerd tests/vm/test-kernel-mock \
                > "$mockdir/make.out" 2>&1 ||
                { tail -n 30 "$mockdir/make.out" >&2; bail "building the mock-device daemon failed (see $mockdir/make.out)"; }
fi

# ---- 2. initramfs -------------------------------------------------------------
stage=$vmdir/initramfs
initrd=$vmdir/initramfs.cpio.gz
case $stage in */tests/vm/initramfs) rm -rf "$stage" ;; *) bail "odd stage dir $stage" ;; esac
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,usr/lib,proc,sys,dev,tmp,run,etc,root,home/vmm,ib/bin}
chmod 1777 "$stage/tmp"
chmod 0700 "$stage/root"

# tests/vm/runas: tiny, no libtool; (re)built here when missing or older than
# runas.c (a Makefile rule may build the same file instead)
runas_src=$srcdir/tests/vm/runas.c
if [ ! -x "$vmdir/runas" ] || [ "$runas_src" -nt "$vmdir/runas" ]; then
        ${CC:-cc} -O2 -Wall -Wextra -o "$vmdir/runas" "$runas_src" || bail "cannot compile $runas_src"
fi

is_elf() {
        local magic=
        [ -f "$1" ] && [ -r "$1" ] || return 1
        IFS= read -r -N 4 magic < "$1" || true
        [ "$magic" = $'\x7fELF' ]
}

# resolve_bin PATH: the real ELF behind a libtool wrapper script, else PATH
resolve_bin() {
        local f=$1 d b w
        if is_elf "$f"; then
                echo "$f"
                return 0
        fi
        w=$(sed -n '1,20{/temporary wrapper script for/p}' "$f")
        if [ -n "$w" ]; then
                d=$(dirname "$f")
                b=$(basename "$f")
                for c in "$d/.libs/$b" "$d/.libs/lt-$b"; do
                        if is_elf "$c"; then
                                echo "$c"
                                return 0
                        fi
                done
                log "ERROR: $f is a libtool wrapper but neither .libs/$b nor .libs/lt-$b is an ELF"
                return 1
        fi
        echo "$f"       # a script or data file: copied as is
}

# the project's uninstalled shared libraries live in .libs dirs of the build tree
libdirs=$(find "$builddir" -path "$stage" -prune -o -type d -name .libs -print | tr '\n' ':')
declare -A packed_lib=()

# copy_lib HOSTPATH: into the guest; build-tree libs go to /usr/lib
copy_lib() {
        local p=$1 g
        case $p in
        "$builddir"/*) g=/usr/lib/$(basename "$p") ;;
        *) g=$p ;;
        esac
        [ -z "${packed_lib[$g]:-}" ] || return 0
        packed_lib[$g]=1
        mkdir -p "$stage$(dirname "$g")" && cp -L "$p" "$stage$g"
}

# pack_libs ELF: its shared libraries and the dynamic loader (ldd, recursive)
pack_libs() {
        local f=$1 out line path bad=0
        out=$(LD_LIBRARY_PATH=${libdirs%:} ldd "$f" 2>&1) || true
        case $out in *"not a dynamic executable"* | *"statically linked"*) return 0 ;; esac
        while IFS= read -r line; do
                line=${line#"${line%%[![:space:]]*}"}
                case $line in
                linux-vdso.so.* | "") continue ;;
                *"=> not found"*)
                        log "ERROR: $f needs ${line%% *}: not in the system nor in a .libs dir of $builddir"
                        bad=1 ;;
                *" => "/*)
                        path=${line#* => }
                        copy_lib "${path%% (*}" || bad=1 ;;
                /*)
                        copy_lib "${line%% (*}" || bad=1 ;;
                esac
        done <<<"$out"
        return $bad
}

# pack SRC GUESTPATH
pack() {
        local src=$1 g=$2 real
        real=$(resolve_bin "$src") || return 1
        mkdir -p "$stage$(dirname "$g")" && cp -L "$real" "$stage$g" || return 1
        if [ -x "$real" ]; then chmod 0755 "$stage$g"; else chmod 0644 "$stage$g"; fi
        if is_elf "$real"; then
                pack_libs "$real" || return 1
        fi
        [ -z "$verbose" ] || echo "# vm: packed $src -> $g ($real)"
        return 0
}

cp "$busybox" "$stage/bin/busybox"
# the applet symlinks (bin/sh -> /bin/busybox, ...) go straight into the cpio
mapfile -t applets < <("$busybox" --list-full)
cp "$srcdir/tests/vm/init" "$stage/init"
chmod 0755 "$stage/init"
cp "$suite" "$stage/ib/guest-suite"
chmod 0755 "$stage/ib/guest-suite"

[ -r "$manifest" ] || bail "no manifest at $manifest"
stage_err=0
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
        lineno=$((lineno + 1))
        line=${line%%#*}
        from='' arrow='' to='' rest=''
        read -r from arrow to rest <<<"$line" || true
        [ -n "$from" ] || continue
        if [ "$arrow" != "->" ] || [ "${to#/}" = "$to" ] || [ -n "$rest" ]; then
                log "ERROR: $manifest:$lineno: expected '[?]BUILD-PATH -> /GUEST/PATH'"
                stage_err=1
                continue
        fi
        optional=
        case $from in \?*) optional=1; from=${from#\?} ;; esac
        src=
        case $from in
        /*) cands=("$from") ;;                    # a file of the host, e.g. its QEMU
        *) cands=("$builddir/$from" "$srcdir/$from") ;;
        esac
        for c in "${cands[@]}"; do
                if [ -f "$c" ]; then src=$c; break; fi
        done
        if [ -z "$src" ]; then
                if [ -n "$optional" ]; then
                        case $from in
                        /*) echo "# vm: optional host file $from not found, not packed" ;;
                        *) echo "# vm: optional $from not built, not packed" ;;
                        esac
                else
                        case $from in
                        /*) log "ERROR: $manifest:$lineno: host file $from does not exist" ;;
                        *) log "ERROR: $manifest:$lineno: $from does not exist in $builddir or $srcdir" ;;
                        esac
                        stage_err=1
                fi
                continue
        fi
        pack "$src" "$to" || stage_err=1
done < "$manifest"
# IB_VMBENCH_PERF=1: the host's perf, for a profile of the guest during vmbench
if [ -n "${IB_VMBENCH_PERF:-}" ]; then
        perf_bin=$(command -v perf || true)
        if [ -n "$perf_bin" ]; then
                pack "$perf_bin" /ib/bin/perf || stage_err=1
        else
                echo "# vm: IB_VMBENCH_PERF is set but the host has no perf (Debian: linux-perf): no profile"
        fi
fi
[ "$stage_err" = 0 ] || bail "staging the initramfs failed (see messages above)"
# glibc dlopen()s libgcc_s for pthread_cancel/pthread_exit unwinding
if [ ${#packed_lib[@]} -gt 0 ]; then
        gcc_s=$(ldconfig -p | awk '/libgcc_s\.so\.1 \(libc6,x86-64\)/ {print $NF}')
        gcc_s=${gcc_s%%$'\n'*}
        [ -z "$gcc_s" ] || copy_lib "$gcc_s"
fi

# newc cpio writer: no root needed for /dev nodes, everything owned by root
# (except /home/vmm), mtime 0 for reproducible images.
cpio_ino=100
cpio_pad() {
        case $(( (4 - $1 % 4) % 4 )) in
        1) printf '\0' ;;
        2) printf '\0\0' ;;
        3) printf '\0\0\0' ;;
        esac
}
# cpio_hdr NAME MODE UID GID NLINK SIZE [RDEVMAJOR RDEVMINOR]
cpio_hdr() {
        local nsz=$(( ${#1} + 1 ))
        cpio_ino=$((cpio_ino + 1))
        printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
                "$cpio_ino" "$2" "$3" "$4" "$5" 0 "$6" 0 0 "${7:-0}" "${8:-0}" "$nsz" 0 "$1"
        cpio_pad $((110 + nsz))
}
cpio_symlink() {        # cpio_symlink NAME TARGET
        cpio_hdr "$1" $((8#120777)) 0 0 1 ${#2}
        printf '%s' "$2"
        cpio_pad ${#2}
}
write_cpio() {
        local type perm size name target uid
        find "$stage" -mindepth 1 -printf '%y\t%m\t%s\t%P\t%l\n' |
        while IFS=$'\t' read -r type perm size name target; do
                uid=0
                case $name in home/vmm) uid=1000 ;; esac
                case $type in
                d) cpio_hdr "$name" $((8#40000 | 8#$perm)) $uid $uid 2 0 ;;
                f) cpio_hdr "$name" $((8#100000 | 8#$perm)) $uid $uid 1 "$size"
                   cat "$stage/$name"
                   cpio_pad "$size" ;;
                l) cpio_symlink "$name" "$target" ;;
                *) log "ERROR: cannot put $name (type $type) in the initramfs"; return 1 ;;
                esac
        done
        for a in "${applets[@]}"; do
                [ -e "$stage/$a" ] || [ -L "$stage/$a" ] || cpio_symlink "$a" /bin/busybox
        done
        cpio_hdr dev/console $((8#20600)) 0 0 1 0 5 1
        cpio_hdr dev/null $((8#20666)) 0 0 1 0 1 3
        cpio_hdr 'TRAILER!!!' 0 0 0 1 0
}
( export LC_ALL=C; write_cpio ) | gzip -1 > "$initrd"
t_staged=$(date +%s.%N)

# ---- 3. boot ------------------------------------------------------------------
# shellcheck disable=SC2054     # the commas are QEMU's
case $iommu in
intel)    qiommu=(-device intel-iommu,intremap=on,caching-mode=on)
          kiommu="intel_iommu=on iommu=on" ;;
intel-sm) qiommu=(-device intel-iommu,intremap=on,caching-mode=on,x-scalable-mode=on,x-pasid-mode=on)
          kiommu="intel_iommu=on,sm_on iommu=on" ;;
# virtio-iommu has no interrupt remapping on x86: VFIO bind needs this
virtio)   qiommu=(-device virtio-iommu-pci)
          kiommu="iommufd.allow_unsafe_interrupts=1" ;;
*) bail "IB_VM_IOMMU must be intel, intel-sm or virtio, not '$iommu'" ;;
esac
append="console=ttyS0 panic=-1 loglevel=4 $kiommu ib.test_timeout=$test_timeout"
[ -z "$tests" ] || append+=" ib.tests=${tests// /,}"
append+="${IB_VM_APPEND:+ $IB_VM_APPEND}"
append+="${IB_VMBENCH:+ ib.vmbench=$IB_VMBENCH}"
append+="${IB_VMBENCH_PERF:+ ib.vmbench_perf=1}"
append+="${IB_VMBENCH_PHASE:+ ib.vmbench_phase=$IB_VMBENCH_PHASE}"
# shellcheck disable=SC2054
# ttyS0 is the console; the guest writes its uptime to ttyS1 every 10 s (tests/vm/init), a
# heartbeat no test output can interleave with
qemu=(qemu-system-x86_64 -name ib-vm,debug-threads=on -machine q35,kernel-irqchip=split -accel tcg -cpu max
      -smp 2 -m 1G "${qiommu[@]}" -device edu -device edu -nographic -no-reboot -nic none
      -serial mon:stdio -serial "file:$vmdir/heartbeat.log" -pidfile "$vmdir/qemu.pid"
      -kernel "$bz" -initrd "$initrd")


log=$vmdir/guest.log
: > "$log"
echo "# vm: kernel $bz"
echo "# vm: serial log $log"
[ -z "$verbose" ] || echo "# vm: ${qemu[*]} -append $append"

n=0 npass=0 nfail=0 nskip=0     # guest tests only, not guest-completed
declare -A state=()     # name -> begun | done
cur=
buf=()
suite_done=

tap() {         # tap ok|fail|skip NAME [DIRECTIVE]
        n=$((n + 1))
        case $1 in
        ok) echo "ok $n - vm/$2"; npass=$((npass + 1)) ;;
        skip) echo "ok $n - vm/$2 # SKIP${3:+ $3}"; nskip=$((nskip + 1)) ;;
        fail) echo "not ok $n - vm/$2${3:+ # $3}"; nfail=$((nfail + 1)) ;;
        esac
}
show_buf() {
        [ -z "$verbose" ] || return 0
        local l
        for l in "${buf[@]}"; do echo "#   $l"; done
}
on_line() {
        local l=$1 name rc why
        [ -z "$verbose" ] || echo "# $l"
        [[ $l == VMTEST-PLAN* ]] && [ -n "${stall_note:-}" ] && return 0        # the second boot's
        if [[ -z $cur && $l =~ ^VMTEST-BEGIN\ ([A-Za-z0-9_.+-]+)$ ]]; then
                cur=${BASH_REMATCH[1]}
                buf=()
                state[$cur]=begun
        elif [[ -n $cur && $l =~ ^VMTEST-END\ ([^ ]+)\ rc=([0-9]+)( |$) &&
                ${BASH_REMATCH[1]} == "$cur" ]]; then
                name=$cur
                rc=${BASH_REMATCH[2]}
                state[$name]="done"
                case $rc in
                0) tap ok "$name" ;;
                77)
                        why=
                        for l in "${buf[@]}"; do
                                case $l in SKIP:*) why=${l#SKIP:}; why=${why# } ;; esac
                        done
                        tap skip "$name" "$why" ;;
                *) tap fail "$name" "rc=$rc"; show_buf ;;
                esac
                cur=
                buf=()
        elif [[ $l == VMTEST-SUITE-DONE* ]]; then
                suite_done=1
        elif [ -n "$cur" ]; then
                buf+=("$l")
        fi
}

# The guest stopped: neither the console nor the heartbeat moved for stall_s seconds while
# the guest's own per-test timeout (test_timeout) should have ended any test long before.
stall_s=${IB_VM_STALL:-120}
stalled=
last_progress=

progress() {    # the newest of the console's and the heartbeat's last change, in seconds since the epoch
        local hb=0
        [ -e "$vmdir/heartbeat.log" ] && hb=$(stat -c %Y "$vmdir/heartbeat.log")
        [ "$hb" -gt "$last_progress" ] && last_progress=$hb
        return 0
}

qemu_threads() {        # what QEMU's threads do (a deadlock of QEMU's, or a guest that idles), for the record
        local q t st
        [ -s "$vmdir/qemu.pid" ] || return 0
        q=$(cat "$vmdir/qemu.pid")
        for t in /proc/"$q"/task/*; do
                st=$(cat "$t/stat" 2>/dev/null) || continue
                st=${st##*) }           # after "pid (comm) ": the comm may hold blanks
                printf '# vm: qemu thread %s (%s): state %s, waiting in %s, %s ticks\n' "${t##*/}" \
                        "$(cat "$t/comm" 2>/dev/null)" "${st%% *}" "$(cat "$t/wchan" 2>/dev/null)" \
                        "$(echo "$st" | awk '{print $12 + $13}')"
        done | tee -a "$log"
}

run_guest() {   # run_guest APPEND: one boot; sets qrc, and stalled when the guest stopped
        local line now rc pending= eof=
        stalled=
        : > "$vmdir/heartbeat.log"
        rm -f "$vmdir/qemu.pid"
        last_progress=$(date +%s)
        set +e
        timeout -k 10 "$vm_timeout" "${qemu[@]}" -append "$1" </dev/null 2>&1 |
        while [ -z "$eof" ]; do
                IFS= read -t 10 -r line
                rc=$?
                if [ $rc -gt 128 ]; then                # nothing for 10 s (a part of a line is kept)
                        pending+=$line
                        progress
                        now=$(date +%s)
                        if [ -z "$stalled" ] && [ $((now - last_progress)) -ge "$stall_s" ]; then
                                stalled=${cur:-(between tests)}
                                qemu_threads
                                [ -s "$vmdir/qemu.pid" ] && kill -TERM "$(cat "$vmdir/qemu.pid")" 2>/dev/null
                        fi
                        continue
                fi
                line=$pending$line
                pending=
                if [ $rc != 0 ]; then                   # end of output
                        eof=1
                        [ -n "$line" ] || break
                fi
                last_progress=$(date +%s)
                line=${line//$'\r'/}
                line=${line//$'\e'[[]*([0-9;?])[a-zA-Z]/}      # SeaBIOS terminal escapes
                line=${line//$'\e'c/}
                printf '%s\n' "$line" >> "$log"
                on_line "$line"
        done
        qrc=${PIPESTATUS[0]}
        set -e
}

t_boot=$(date +%s.%N)
run_guest "$append"
stall_note=
if [ -n "$stalled" ]; then
        again=()
        for t in "${expected[@]}"; do
                [ "${state[$t]:-}" = "done" ] || again+=("$t")
        done
fi
if [ -n "$stalled" ] && [ ${#again[@]} = 0 ]; then
        # every test had ended: nothing to boot again for, only the power-off is missing
        stall_note="the guest stopped after its last test (no console output and no heartbeat for ${stall_s} s)"
elif [ -n "$stalled" ]; then
        # Seen under TCG about once in eight full runs, after an edu DMA test had printed all its
        # results: both vCPUs idle and even the guest's timers silent (its per-test timeout never
        # fired).  Once per run, the tests from the one that stopped on get a fresh boot; the
        # output says so, and a second stop fails as before.
        stall_note="the guest stopped during $stalled (no console output and no heartbeat for ${stall_s} s)"
        echo "# vm: $stall_note; a fresh boot runs what did not finish: ${again[*]}"
        echo "VMTEST-STALL $stalled" >> "$log"
        state[$stalled]=
        cur=
        buf=()
        append2="${append/ ib.tests=+([^ ])/} ib.tests=$(IFS=,; echo "${again[*]}") ib.second_boot=1"
        run_guest "$append2"
        [ -z "$stalled" ] || stall_note+="; the second boot stopped too, during $stalled"
fi
t_end=$(date +%s.%N)
boot_s=$(awk -v a="$t_boot" -v b="$t_end" 'BEGIN { printf "%.1f", b - a }')
prep_s=$(awk -v a="$t_start" -v b="$t_staged" 'BEGIN { printf "%.1f", b - a }')

# ---- 4. what did not finish -----------------------------------------------
if [ -n "$cur" ]; then
        state[$cur]="done"
        tap fail "$cur" "did not finish"
        show_buf
fi
for t in "${expected[@]}"; do
        [ -n "${state[$t]:-}" ] && continue
        state[$t]="done"
        tap fail "$t" "did not run"
done
why=
completed=
case $qrc in
0) ;;
124 | 137) why="guest timed out after ${vm_timeout}s (IB_VM_TIMEOUT)" ;;
*) why="qemu exited with status $qrc" ;;
esac
[ -z "$stalled" ] || why=$stall_note
if [ -n "$suite_done" ] && [ -z "$why" ]; then
        completed=1
        n=$((n + 1))
        echo "ok $n - vm/guest-completed"
else
        [ -n "$suite_done" ] || why="${why:+$why; }no VMTEST-SUITE-DONE from the guest"
        n=$((n + 1))
        echo "not ok $n - vm/guest-completed # $why"
        if [ -z "$verbose" ]; then
                echo "# last 60 lines of $log:"
                tail -n 60 "$log" | sed 's/^/#   /'
        fi
fi
[ "$nfail" = 0 ] && [ -n "$completed" ] || [ -n "$verbose" ] || echo "# vm: full serial log: $log"
outcome="did NOT complete"
[ -z "$completed" ] || outcome=completed
[ -z "$stall_note" ] || [ -n "$stalled" ] || outcome+=" on a second boot: $stall_note"
echo "# vm: $npass passed, $nfail failed, $nskip skipped; guest $outcome" \
        "(qemu ${boot_s}s, setup+staging ${prep_s}s)"
echo "1..$n"
[ "$nfail" = 0 ] && [ -n "$completed" ]
