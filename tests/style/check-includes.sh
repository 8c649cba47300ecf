#!/bin/sh
# check-includes.sh - the daemon's rooms include only downwards (TAP).
#
# Data flows one way: daemon/ (main, broker) -> host -> core -> {wire, policy}
# -> object -> backend; util/ and common/ may be included from anywhere.
# A file may include its own room and the rooms below it, never one above.
# host/ may include broker.h: the view the broker lends the host room.
set -u
top=${IB_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top/daemon" || exit 1

rank() {
        case $1 in
        host) echo 5 ;;
        core) echo 4 ;;
        wire|policy) echo 3 ;;
        object) echo 2 ;;
        backend) echo 1 ;;
        util|common) echo 0 ;;
        *) echo 9 ;;
        esac
}

n=0
bad=0
echo "1..1"
for f in host/* core/* wire/* policy/* object/* backend/* util/*; do
        case $f in *.c|*.h) ;; *) continue ;; esac
        room=${f%%/*}
        mine=$(rank "$room")
        for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
                n=$((n + 1))
                case $inc in
                */*) target=${inc%%/*} ;;
                broker.h) [ "$room" = host ] && continue; target=daemon ;;
                *) [ -f "$inc" ] || continue; target=daemon ;;  # a header from outside the tree
                esac
                case $target in proto|tests) continue ;; esac
                theirs=$(rank "$target")
                # wire and policy are siblings: neither includes the other
                if [ "$theirs" -gt "$mine" ] || { [ "$theirs" = 3 ] && [ "$mine" = 3 ] && [ "$target" != "$room" ]; }; then
                        echo "# daemon/$f includes \"$inc\": $room may not include $target"
                        bad=1
                fi
        done
done
if [ $bad = 0 ]; then
        echo "ok 1 - $n includes of the daemon's rooms all point down the layering"
else
        echo "not ok 1 - an include points up the layering"
fi
exit $bad
