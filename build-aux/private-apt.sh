#!/bin/bash
# private-apt.sh - run apt against newer Debian suites without touching the
# machine's own apt configuration.
#
# Source this file, then call:
#   papt_init                 # once: writes $PAPT_DIR/{sources.list,prefs,lists}, runs update
#   papt_download DIR PKG[=VER]...   # apt-get download into DIR (never installed)
#   papt_install -t SUITE PKG...     # install with trixie pinned to 100, so bookworm's
#                                    # packages are never replaced by trixie's
#
# The machine's /etc/apt stays as it is: sources, lists and the pin live in
# $PAPT_DIR (default /var/cache/iommu-broker/apt).  A plain `apt-get install`
# elsewhere on the machine keeps resolving against Debian 12 only.

PAPT_DIR=${PAPT_DIR:-/var/cache/iommu-broker/apt}
PAPT_MIRROR=${PAPT_MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
PAPT_MIRROR=${PAPT_MIRROR:-http://deb.debian.org/debian}

papt_opts() {
        printf '%s\n' \
                -o "Dir::Etc::SourceList=$PAPT_DIR/sources.list" \
                -o "Dir::Etc::SourceParts=$PAPT_DIR/empty.d" \
                -o "Dir::State::Lists=$PAPT_DIR/lists" \
                -o "Dir::Etc::Preferences=$PAPT_DIR/prefs" \
                -o "Dir::Etc::PreferencesParts=$PAPT_DIR/empty.d"
}

papt_init() {
        local kr=/usr/share/keyrings/debian-archive-keyring.gpg
        mkdir -p "$PAPT_DIR/lists/partial" "$PAPT_DIR/empty.d"
        cat > "$PAPT_DIR/sources.list" <<EOS
deb [signed-by=$kr] $PAPT_MIRROR bookworm main
deb [signed-by=$kr] $PAPT_MIRROR bookworm-updates main
deb [signed-by=$kr] $PAPT_MIRROR bookworm-backports main
deb [signed-by=$kr] $PAPT_MIRROR trixie main
deb [signed-by=$kr] $PAPT_MIRROR trixie-backports main
EOS
        # Nothing from trixie is ever chosen unless asked for by version.
        cat > "$PAPT_DIR/prefs" <<EOS
Package: *
Pin: release n=trixie
Pin-Priority: 50

Package: *
Pin: release n=trixie-backports
Pin-Priority: 50
EOS
        local stamp=$PAPT_DIR/lists/.updated
        if [ -z "$(find "$stamp" -mmin -360 2>/dev/null)" ]; then
                mapfile -t o < <(papt_opts)
                apt-get "${o[@]}" update -q >/dev/null && touch "$stamp"
        fi
}

papt_download() {
        local dir=$1; shift
        mapfile -t o < <(papt_opts)
        mkdir -p "$dir"
        ( cd "$dir" && apt-get "${o[@]}" download -q "$@" 2>&1 | grep -v -e unsandboxed -e '^Get:' || true )
}

papt_install() {
        mapfile -t o < <(papt_opts)
        DEBIAN_FRONTEND=noninteractive apt-get "${o[@]}" -y -q --no-install-recommends install "$@"
}

# papt_version PKG SUITE: the newest version of PKG in SUITE (empty if none)
papt_version() {
        mapfile -t o < <(papt_opts)
        apt-cache "${o[@]}" madison "$1" | awk -v s="$2" '$0 ~ ("/" s "/") || $0 ~ (" " s "/") {print $3; exit}'
}
