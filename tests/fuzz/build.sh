#!/bin/sh
# build.sh - builds the libFuzzer targets (`make fuzz` runs it).
#
#   build.sh SRCDIR BUILDDIR OUTDIR
#
# Compiles the library's sources (SRCDIR/src, all but the program's main.c,
# and BUILDDIR's generated src/base/embedded.c) and each tests/fuzz/fuzz_*.c
# with $FUZZ_CC (clang; Debian: clang and libclang-rt-14-dev) under
# -fsanitize=fuzzer,address,undefined, into OUTDIR/fuzz_<name>.  The
# dedup target compiles dedup.c with -DAOD_DEDUP_CHECK.  From make come
# DEP_CFLAGS and DEP_LIBS (the libraries the program links) and
# CPPFLAGS_FILE (the project's preprocessor flags, one per line).
set -eu
SRCDIR=$1 BUILDDIR=$2 OUT=$3
CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null 2>&1 || {
    echo "build.sh: $CC not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
    exit 1
}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
# The project's own preprocessor flags (config.h, include paths, the
# directories compiled in), one per line, as make wrote them.
CPPFLAGS="-include $BUILDDIR/config.h -I$BUILDDIR -I$SRCDIR/src"
if [ -n "${CPPFLAGS_FILE:-}" ]; then
    CPPFLAGS=$(tr '\n' ' ' <"$CPPFLAGS_FILE")
fi
CFLAGS="-std=c11 -g -O1 -fno-omit-frame-pointer $SAN -fsanitize=fuzzer-no-link $CPPFLAGS \
 ${DEP_CFLAGS:-}"
OBJ=$OUT/obj
mkdir -p "$OBJ"

# The library, once for all targets (in parallel, two at a time).
sources=$(cd "$SRCDIR" && find src -name '*.c' ! -name main.c ! -name embedded.c | sort)
for f in $sources; do echo "$SRCDIR/$f"; done >"$OBJ/sources"
echo "$BUILDDIR/src/base/embedded.c" >>"$OBJ/sources"
export CC CFLAGS OBJ
xargs -P "${FUZZ_JOBS:-2}" -n 1 sh -c '
    o="$OBJ/$(echo "$1" | sed "s|.*/src/||" | tr / _ | sed "s/\.c$/.o/")"
    if [ ! -e "$o" ] || [ "$1" -nt "$o" ]; then
        echo "  FUZZCC   $(basename "$1")"
        $CC $CFLAGS -c "$1" -o "$o"
    fi' sh <"$OBJ/sources"
# dedup with its self-check, for the dedup target
$CC $CFLAGS -DAOD_DEDUP_CHECK -c "$SRCDIR/src/pipeline/dedup.c" -o "$OBJ/dedup-check.o.tmp"
mv "$OBJ/dedup-check.o.tmp" "$OBJ/dedup-check.o"

lib_objs=$(ls "$OBJ"/*.o | grep -v 'dedup-check\.o$')
for h in "$SRCDIR"/tests/fuzz/fuzz_*.c; do
    name=$(basename "$h" .c)
    objs=$lib_objs
    if [ "$name" = fuzz_dedup ]; then
        objs=$(echo "$lib_objs" | grep -v '/pipeline_dedup\.o$')
        objs="$objs $OBJ/dedup-check.o"
    fi
    echo "  FUZZLD   $name"
    # shellcheck disable=SC2086
    $CC $CFLAGS -DAOD_FUZZ_SRCDIR="\"$SRCDIR\"" -fsanitize=fuzzer "$h" $objs ${DEP_LIBS:-} \
        -o "$OUT/$name"
done
