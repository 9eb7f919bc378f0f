#!/usr/bin/env bash
# ci.sh - the test command: install what the tests need, build with
# warnings as errors, and run every unit and integration test.
#   bash tests/ci.sh            the normal build
#   bash tests/ci.sh --asan     the same suite built with ASan + UBSan
#   bash tests/ci.sh --valgrind the same suite run under valgrind
# Set AOD_SKIP_INSTALL=1 to use what is already installed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
flavour=${1:-}
extra=()
# Every build lives in its own directory under build/ (the quick start's is
# build/quickstart), so the two README commands never trip over each other.
builddir=build/ci
case "$flavour" in
"") ;;
--asan) extra=(--enable-asan); builddir=build/ci-asan ;;
--valgrind) extra=(--enable-valgrind); builddir=build/ci-valgrind ;;
*) echo "usage: bash tests/ci.sh [--asan|--valgrind]" >&2; exit 2 ;;
esac
if [ -z "${AOD_SKIP_INSTALL:-}" ]; then
    pkgs=()
    [ "$flavour" = --valgrind ] && pkgs+=(valgrind)
    bash tests/install-deps.sh "${pkgs[@]}"
fi
# (The FHIR validators the Bundle tests use are installed by `make check`
# into the build tree, from tests/package-lock.json.)
[ -x configure ] || autoreconf -fi
# A tree configured in place (the README's "Building by hand") cannot also
# be built out of tree: autoconf refuses.  Clean the in-place build first.
if [ -f config.status ]; then
    echo "ci.sh: the source tree was configured in place; running 'make distclean' there first"
    make -s distclean >/dev/null
fi
rm -rf "$builddir"
mkdir -p "$builddir"
cd "$builddir"
"$top/configure" --enable-werror "${extra[@]}" >configure.out || { cat configure.out config.log; exit 1; }
make -j"$(nproc)" >make.out 2>&1 || { cat make.out; exit 1; }
# Integration tests run their own throwaway PostgreSQL servers; two at once
# suit the 2-core machine.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
make -j2 check >check.out 2>&1 || status=$?
# Show every test's own lines (cmocka's and the shell tests' summaries).
for log in $(find tests -name '*.log' ! -name test-suite.log | sort); do
    echo "=== ${log%.log}"
    cat "$log"
done
grep -E '^(# |PASS|FAIL|XFAIL|ERROR|SKIP)' check.out || true
pass=$(sed -n 's/^# PASS: *//p' check.out | head -n 1)
fail=$(sed -n 's/^# FAIL: *//p' check.out | head -n 1)
error=$(sed -n 's/^# ERROR: *//p' check.out | head -n 1)
echo "tests: ${pass:-0} passed, $(( ${fail:-0} + ${error:-0} )) failed"
exit $status
