#!/bin/sh
# check-names.sh - a function name is defined in one room only: daemon/,
# client/ or common/ (TAP).
#
# The daemon and the client programs are separate binaries, so the linker
# never sees two helpers of one name; ctags, gdb and whoever greps for the
# name do.  A helper both sides need lives once in common/; one that differs
# takes its side's prefix (the tool's tool_*, the ctl's ctl_*).  main() is
# exempt.  A definition is recognised by the house style: it starts at
# column 0 and its line ends with "{" once the parameter list is closed;
# prototypes end with ";".  Plain POSIX sh, find and awk: no ctags needed.
set -u
top=${IB_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top" || exit 1

# Prints "FILE:LINE NAME" for every function defined in the files given.
definitions='
function emit(  s, i) {
        s = text
        gsub(/__attribute__[ \t]*\(\([^)]*\)\)/, " ", s)
        gsub(/_[a-z_]*_\([^)]*\)/, " ", s)      # _printf_(2, 3) and the like
        i = index(s, "(")
        if (i == 0)
                return                          # struct, union, enum
        s = substr(s, 1, i - 1)
        if (s ~ /=/)
                return                          # an initializer
        sub(/[ \t*]+$/, "", s)
        if (!match(s, /[A-Za-z_][A-Za-z0-9_]*$/))
                return
        s = substr(s, RSTART, RLENGTH)
        if (s ~ /^(if|for|while|switch|return|sizeof|do|else)$/)
                return
        print FILENAME ":" start, s
}
FNR == 1 { text = ""; macro = 0 }
{
        line = $0
        if (macro || line ~ /^#/) {             # preprocessor lines and their continuations
                macro = line ~ /\\$/
                next
        }
        sub(/[ \t]*\/\*.*\*\/[ \t]*$/, "", line)
        if (text == "") {
                if (line !~ /^[A-Za-z_]/ || line ~ /^[A-Za-z_][A-Za-z0-9_]*:[ \t]*$/)
                        next                    # not at column 0, or a label
                text = line
                start = FNR
        } else
                text = text " " line
        if (line ~ /;[ \t]*$/)
                text = ""
        else if (line ~ /\{[ \t]*$/) {
                emit()
                text = ""
        }
}
'

# Names in more than one room: "# NAME: FILE:LINE FILE:LINE ..."; the count of definitions last.
clashes=$(find daemon client common -type f \( -name '*.c' -o -name '*.h' \) -exec awk "$definitions" {} + |
        LC_ALL=C sort |
        awk '
        {
                n++
                if ($2 == "main")
                        next
                room = $1
                sub(/\/.*/, "", room)
                if (!(($2, room) in seen)) {
                        seen[$2, room] = 1
                        rooms[$2]++
                }
                where[$2] = where[$2] " " $1
        }
        END {
                for (name in rooms)
                        if (rooms[name] > 1)
                                print "# " name ":" where[name]
                print n + 0
        }' | LC_ALL=C sort)

n=$(printf '%s\n' "$clashes" | grep -v '^#')
bad=$(printf '%s\n' "$clashes" | grep '^#')
echo "1..1"
if [ -z "$bad" ]; then
        echo "ok 1 - $n function definitions; no name is defined in two of daemon/, client/, common/"
        exit 0
fi
printf '%s\n' "$bad"
echo "not ok 1 - a function name is defined in two rooms: move the helper to common/ or prefix one side's"
exit 1
