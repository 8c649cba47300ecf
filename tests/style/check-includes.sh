#!/bin/sh
# check-includes.sh - the daemon's includes run one way, and no source file grows too long (TAP).
#
# 1. Data flows one way: daemon/ (main, broker) -> host -> core -> {wire,
#    policy} -> object -> backend; util/ and common/ may be included from
#    anywhere.  A file may include its own room and the rooms below it, never
#    one above.  host/ may include broker.h: the view the broker lends the
#    host room.
# 2. Within the daemon no two modules include each other, directly or
#    through others.  A module is foo.c with its foo.h (either may be
#    missing); it includes what either of its files includes.  A module
#    named in TODO_CYCLES is one whose owner is cutting its cycle: while it
#    has one, test 2 is "not ok # TODO" (an expected failure); once it has
#    none, "ok # TODO" (an unexpected pass, which fails make check) says to
#    take it out of the list.
# 3. No source file of daemon/, client/ or common/ is longer than
#    MAX_LINES lines.
#
# Plain POSIX sh, sed, awk and sort: it runs on a fresh Debian 12.
set -u
top=${IB_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top/daemon" || exit 1

MAX_LINES=1200
# The sim's ops table and the files it was split into include each other's headers.
TODO_CYCLES=""

echo "1..3"

# ---------------------------------------------------------------- 1. rooms

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
failed=$bad

# ---------------------------------------------------------------- 2. module cycles

# "module included-module" for every include of a file of the daemon by
# another module's file; includes are relative to daemon/ (-I daemon).
edges=$(
        for f in *.[ch] */*.[ch]; do
                [ -f "$f" ] || continue
                from=${f%.[ch]}
                sed -n 's/^#include "\([^"]*\)\.h".*/\1/p' "$f" | while read -r to; do
                        [ -f "$to.h" ] || continue      # common/, proto/, tests/: not the daemon's
                        [ "$to" = "$from" ] || echo "$from $to"
                done
        done | sort -u
)
# find_cycles: reads "module included-module" lines, prints one line per
# cycle found ("a -> b -> a"): depth first, a module met again while it is
# on the path closes a cycle.
find_cycles() {
        awk '
        NF == 2 {
                if (!($1 in n_out)) { n_out[$1] = 0; nodes[++n_nodes] = $1 }
                if (!($2 in n_out)) { n_out[$2] = 0; nodes[++n_nodes] = $2 }
                out[$1, ++n_out[$1]] = $2
        }
        function visit(m,    i, j, k, path) {
                state[m] = 1
                stack[++depth] = m
                for (i = 1; i <= n_out[m]; i++) {
                        k = out[m, i]
                        if (state[k] == 1) {
                                path = k
                                for (j = depth; stack[j] != k; j--)
                                        path = stack[j] " -> " path
                                print k " -> " path
                        } else if (!state[k])
                                visit(k)
                }
                depth--
                state[m] = 2
        }
        END {
                for (i = 1; i <= n_nodes; i++)
                        if (!state[nodes[i]])
                                visit(nodes[i])
        }'
}

n_modules=$(for f in *.[ch] */*.[ch]; do [ -f "$f" ] && echo "${f%.[ch]}"; done | sort -u | wc -l)
cycles=$(echo "$edges" | find_cycles)
# the graph without the modules whose cycles are known: what remains must have none
others=$edges
for m in $TODO_CYCLES; do
        others=$(echo "$others" | awk -v m="$m" '$1 != m && $2 != m')
done
other_cycles=$(echo "$others" | find_cycles)
todo=""
[ -n "$TODO_CYCLES" ] && todo=" # TODO $TODO_CYCLES: its owner is cutting the cycle"
if [ -n "$other_cycles" ]; then
        echo "$other_cycles" | sed 's/^/# a cycle: /'
        echo "not ok 2 - modules of the daemon include each other"
        failed=1
elif [ -n "$cycles" ]; then
        echo "$cycles" | sed 's/^/# a cycle: /'
        echo "not ok 2 - modules of the daemon include each other$todo"
elif [ -n "$todo" ]; then
        echo "# $TODO_CYCLES has no cycle any more: take it out of TODO_CYCLES in tests/style/check-includes.sh"
        echo "ok 2 - $n_modules modules of the daemon, none includes itself through others$todo"
else
        echo "ok 2 - $n_modules modules of the daemon, none includes itself through others"
fi

# ---------------------------------------------------------------- 3. file length

cd "$top" || exit 1
long=$(find daemon client common -name '*.[ch]' -exec wc -l {} + |
        awk -v max=$MAX_LINES '$2 != "total" && $1 > max { print $2 " has " $1 " lines" }')
if [ -z "$long" ]; then
        echo "ok 3 - no source file of daemon/, client/ or common/ is longer than $MAX_LINES lines"
else
        echo "$long" | sed 's/^/# /'
        echo "not ok 3 - a source file is longer than $MAX_LINES lines: split it where the code shows a cut"
        failed=1
fi
exit $failed
