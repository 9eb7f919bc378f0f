#!/bin/sh
# smoke.sh - a short run of every fuzz target, for CI (`make fuzz-smoke`).
#
#   smoke.sh BINDIR [SECONDS]
#
# Runs each target of BINDIR (built by `make fuzz`) for SECONDS (default
# 60; FUZZ_TARGETS="load policy" picks some) on a fresh corpus seeded from
# tests/data, one after the other.  A crash, leak, sanitizer report or
# timeout fails the run; the input that did it is kept in
# ${FUZZ_ARTIFACTS:-fuzz-artifacts}/ and named on stderr, and
# reproduces with: BINDIR/fuzz_NAME FILE.
set -eu
BIN=$1
SECS=${2:-60}
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
ART=${FUZZ_ARTIFACTS:-fuzz-artifacts}
mkdir -p "$ART"
WORK=$(mktemp -d -t aod-fuzz.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# seed TARGET FILE...: copies FILEs into TARGET's seed corpus
seed() {
    t=$1
    shift
    mkdir -p "$WORK/seed-$t"
    for f in "$@"; do
        [ -f "$f" ] && cp "$f" "$WORK/seed-$t/$(echo "$f" | sed "s|^$TOP/||" | tr / _)"
    done
    return 0
}
seed load "$TOP"/tests/data/load/* "$TOP"/tests/data/cases/*/events.ndjson \
    "$TOP"/tests/data/normalize/*/event.json "$TOP"/examples/sample-r4.ndjson \
    "$TOP"/examples/sample-bundle.json
seed policy "$TOP"/tests/data/policy/*.xml "$TOP"/examples/policies/*.xml
seed requests "$TOP"/tests/fuzz/seeds/requests/*
seed dedup
# The report target's first byte picks the output: one seed per kind.
mkdir -p "$WORK/seed-report"
for f in "$TOP"/tests/data/cases/*/events.ndjson "$TOP"/tests/data/scripts/events.ndjson; do
    c=$(basename "$(dirname "$f")")
    for sel in 000 001 013 022 035 104 005 045 215 237 306 377; do
        { printf "\\$sel"; cat "$f"; } >"$WORK/seed-report/$c-$sel"
    done
done
# dedup needs no seeds, but a burst at one instant is where it is weakest
head -c 4000 /dev/zero | tr '\0' '\041' >"$WORK/seed-dedup/burst"

status=0
for t in ${FUZZ_TARGETS:-load policy requests report dedup}; do
    [ -x "$BIN/fuzz_$t" ] || { echo "smoke.sh: $BIN/fuzz_$t not built (make fuzz)" >&2; exit 1; }
    mkdir -p "$WORK/corpus-$t"
    echo "== fuzz_$t: $SECS s"
    if ! "$BIN/fuzz_$t" -max_total_time="$SECS" -timeout=25 -rss_limit_mb=2560 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$ART/$t-" \
        "$WORK/corpus-$t" "$WORK/seed-$t" >"$WORK/$t.log" 2>&1; then
        echo "smoke.sh: fuzz_$t FAILED:" >&2
        tail -n 40 "$WORK/$t.log" >&2
        status=1
    else
        grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$WORK/$t.log" || true
    fi
done
exit $status
