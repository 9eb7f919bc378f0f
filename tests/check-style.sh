#!/usr/bin/env bash
# check-style.sh - the house style that a machine can check (STYLE.md):
# no banned functions anywhere in src/, and every C file formatted with the
# committed .clang-format.  The format half is skipped (exit 77) only where
# clang-format is not installed; the banned-function half always runs.
set -euo pipefail
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
cd "$top_srcdir"
files=$(find src -name '*.[ch]' ! -path src/base/embedded.c | LC_ALL=C sort)
status=0

# sprintf/strcat: no bound; strncpy: no terminator; strtok: hidden state;
# atoi: no error detection; gets: no bound at all.
if grep -nE '(^|[^_[:alnum:]])(sprintf|vsprintf|strcat|strncpy|strtok|atoi|atol|gets)[[:space:]]*\(' $files; then
    echo "check-style: banned functions used (see above); use snprintf, aod_buf, strtol" >&2
    status=1
fi

if ! command -v clang-format >/dev/null 2>&1; then
    echo "check-style: clang-format not installed; format check skipped"
    [ $status = 0 ] && exit 77
    exit $status
fi
unformatted=()
for f in $files; do
    clang-format --dry-run "$f" 2>&1 | grep -q . && unformatted+=("$f")
done
if [ ${#unformatted[@]} -gt 0 ]; then
    echo "check-style: not formatted with .clang-format: ${unformatted[*]}" >&2
    echo "check-style: run: clang-format -i ${unformatted[*]}" >&2
    status=1
fi
[ $status = 0 ] && echo "check-style: 2 passed, 0 failed"
exit $status
