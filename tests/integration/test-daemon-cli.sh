#!/bin/sh
# test-daemon-cli.sh - iommu-brokerd's command line and start-up refusals (TAP).
#
# Needs $IB_DAEMON.  Checks: --help and --version, unknown options and
# backends refused, bad --offload-min-bytes and --workers values refused, and that without an iommufd node and without
# --backend=sim the daemon refuses to start, naming the missing iommufd
# support and the --backend=sim option (the sim backend is never chosen
# silently).
set -u
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fail=1; echo "not ok $n - $1"; }
tmp=$(mktemp -d /tmp/ib-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "1..12"

if "$IB_DAEMON" --help > "$tmp/out" 2>&1 && grep -q -- '--backend=kernel|sim' "$tmp/out"; then
        ok "--help exits 0 and lists --backend"
else
        notok "--help exits 0 and lists --backend"
fi

if "$IB_DAEMON" --version 2>&1 | grep -q 'iommu-brokerd .*protocol 1'; then
        ok "--version names the protocol"
else
        notok "--version names the protocol"
fi

if [ -w /dev/full ]; then
        if "$IB_DAEMON" --help > /dev/full 2>/dev/null; then
                notok "--help that cannot be written is a failure"
        else
                ok "--help that cannot be written is a failure"
        fi
else
        ok "--help that cannot be written is a failure # SKIP no /dev/full"
fi

# (a daemon that took them would serve: timeout stops it, and the check fails)
if timeout 5 "$IB_DAEMON" --hello-timeout=' 5' --backend=sim --socket "$tmp/s" > "$tmp/out" 2>&1 ||
   timeout 5 "$IB_DAEMON" --hello-timeout=+5 --backend=sim --socket "$tmp/s" > "$tmp/out" 2>&1; then
        notok "a count with a blank or a sign is refused"
elif grep -q "invalid --hello-timeout" "$tmp/out"; then
        ok "a count with a blank or a sign is refused"
else
        notok "a count with a blank or a sign is refused"
fi

if "$IB_DAEMON" --no-such-option > "$tmp/out" 2>&1; then
        notok "an unknown option is refused"
else
        ok "an unknown option is refused"
fi

if "$IB_DAEMON" --backend=emulated --socket "$tmp/s" > "$tmp/out" 2>&1; then
        notok "an unknown backend is refused"
elif grep -q "unknown backend 'emulated'" "$tmp/out"; then
        ok "an unknown backend is refused with its name"
else
        notok "an unknown backend is refused with its name"
fi

"$IB_DAEMON" --iommu-dev="$tmp/no-iommu" --socket "$tmp/s" > "$tmp/out" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q 'CONFIG_IOMMUFD' "$tmp/out" && grep -q -- '--backend=sim' "$tmp/out"; then
        ok "without an iommufd node the kernel backend refuses to start and names --backend=sim"
else
        cat "$tmp/out" | sed 's/^/# /'
        notok "without an iommufd node the kernel backend refuses to start and names --backend=sim"
fi

if [ -e "$tmp/s" ]; then
        notok "a refused start leaves no socket behind"
else
        ok "a refused start leaves no socket behind"
fi

if "$IB_DAEMON" --backend=sim --socket "$tmp/s" unexpected > "$tmp/out" 2>&1; then
        notok "a stray argument is refused"
else
        ok "a stray argument is refused"
fi
for bad in "--offload-min-bytes=16X" "--offload-min-bytes=-1" "--workers=65"; do
        if "$IB_DAEMON" --backend=sim --socket "$tmp/s" "$bad" > "$tmp/out" 2>&1; then
                notok "$bad is refused"
        elif grep -q "invalid ${bad%%=*} '${bad#*=}'" "$tmp/out"; then
                ok "$bad is refused, naming the option and the value"
        else
                sed 's/^/# /' "$tmp/out"
                notok "$bad is refused, naming the option and the value"
        fi
done
exit $fail
