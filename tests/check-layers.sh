#!/usr/bin/env bash
# check-layers.sh - the layers of src/ (doc/architecture.md), read from the
# #include lines:
#   - our headers are included as "folder/name.h" (config.h aside), and exist;
#   - a folder includes only its own headers and those of lower layers:
#       app > ingest > store > pipeline | render > model > base
#     pipeline and render share a floor and never include each other (so a
#     renderer never sees a stage's internals, and a stage never a renderer);
#     src/main.c stands above everything;
#   - no circle between files, a .c and its .h counted as one unit;
#   - only src/store/ includes libpq-fe.h, only src/render/pdf.c hpdf.h.
# Then it proves itself: the same check on a copy of src/ with one upward
# include added must fail.
set -euo pipefail
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"

# check_tree DIR: prints each violation, returns 1 when there is one.
check_tree() {
    (
        cd "$1"
        find src -name '*.[ch]' ! -path src/base/embedded.c | LC_ALL=C sort |
            while read -r f; do
                sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*\([<"][^">]*[">]\).*/\1/p' "$f" |
                    while read -r inc; do printf '%s %s\n' "$f" "$inc"; done
            done
    ) | awk -v root="$1" '
    function rank(folder) {
        if (folder == "base") return 0
        if (folder == "model") return 1
        if (folder == "pipeline" || folder == "render") return 2
        if (folder == "store") return 3
        if (folder == "ingest") return 4
        if (folder == "app") return 5
        if (folder == "") return 6 # src/main.c
        return -1
    }
    function unit(path) { sub(/\.[ch]$/, "", path); return path }
    function bad(msg) { print "check-layers: " msg; fails++ }
    {
        file = $1; inc = $2
        n = split(file, p, "/")
        from = n == 3 ? p[2] : ""
        if (rank(from) < 0) { bad(file ": folder " from " is not a layer"); next }
        if (inc ~ /^<(postgresql\/)?libpq-fe\.h>$/ && from != "store")
            bad(file ": includes libpq-fe.h; only src/store/ talks to PostgreSQL")
        if (inc ~ /^[<"]hpdf\.h[">]$/ && file != "src/render/pdf.c")
            bad(file ": includes hpdf.h; only src/render/pdf.c knows libharu")
        if (inc !~ /^"/ || inc == "\"config.h\"") next
        name = substr(inc, 2, length(inc) - 2)
        m = split(name, q, "/")
        if (m != 2 || rank(q[1]) < 0 || q[1] == "") {
            bad(file ": include " inc " is not \"folder/name.h\""); next
        }
        if (system("test -f \"" root "/src/" name "\"") != 0) { bad(file ": " inc " does not exist"); next }
        to = q[1]
        if (to != from && rank(to) >= rank(from)) {
            if (rank(to) == rank(from))
                bad(file ": includes " inc "; " from "/ and " to "/ share a floor and never include each other")
            else
                bad(file ": includes " inc ", a layer above " from "/ (" to "/)")
        }
        u = unit(file); v = "src/" unit(name)
        if (u != v) { units[u] = 1; units[v] = 1; edge[u, v] = 1 }
    }
    END {
        # Transitive closure (Warshall): a unit that reaches itself is on a circle.
        for (k in units) for (i in units) if ((i, k) in edge) for (j in units) if ((k, j) in edge) edge[i, j] = 1
        for (i in units) if ((i, i) in edge && !(i in shown)) {
            line = "check-layers: a circle through " i
            for (j in units) if (j != i && (i, j) in edge && (j, i) in edge) { line = line ", " j; shown[j] = 1 }
            print line
            fails++
        }
        exit fails > 0
    }'
}

status=0
if check_tree "$top_srcdir"; then
    echo "ok 1 - src/ keeps its layers"
else
    echo "not ok 1 - src/ keeps its layers (see above; doc/architecture.md)"
    status=1
fi

# The checker must catch what it is for: an upward include in a copy.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/aod-layers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cp -R "$top_srcdir/src" "$tmp/src"
printf '#include "app/cli.h"\n' >>"$tmp/src/base/buf.c"
if check_tree "$tmp" >"$tmp/out"; then
    echo "not ok 2 - an upward include (base -> app) is caught"
    status=1
elif grep -q 'src/base/buf.c: includes "app/cli.h", a layer above base/' "$tmp/out"; then
    echo "ok 2 - an upward include (base -> app) is caught"
else
    cat "$tmp/out"
    echo "not ok 2 - an upward include (base -> app) is caught, with the wrong message"
    status=1
fi
echo "check-layers: $((2 - status)) passed, $status failed"
exit $status
