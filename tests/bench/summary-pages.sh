#!/usr/bin/env bash
# summary-pages.sh - how many patients' summaries fit on one page (issue 16
# point 1: "for 95 % of patients of the example store this summary fits on
# one page").
#
# For every patient of the example store (the bench-quick store: the
# example generator, seed 42, 1,000 patients, 100,000 events, Patient/big-1
# with 10,000), renders the access report as a PDF (one `aodreport batch`
# over a requests file naming each patient with all its keys), then counts
# the pages of each summary from the PDF's outline: from the "Summary" mark
# to the page before the next mark (the listing's first page).  Prints the
# share that fits on one page, the distribution, and the patients that do
# not fit.
#
#   summary-pages.sh [--db CONNINFO] [--policy FILE] [--lang LANG] [--keep DIR]
#
# Without --db it starts a throwaway PostgreSQL (tests/integration/lib.sh)
# and loads the store, generating it first into the benchmark's cache
# ($AOD_BENCH_CACHE, as tests/bench/run.sh) when missing; with --db it uses
# a store already loaded.  Needs qpdf and python3.
. "$(dirname "$0")/../integration/lib.sh" # sets top_srcdir, AODREPORT, pg_* helpers

db=
policy="$top_srcdir/examples/policies/demo.xml"
lang=en
keep=
while [ $# -gt 0 ]; do
    case $1 in
    --db) db=$2; shift ;;
    --policy) policy=$2; shift ;;
    --lang) lang=$2; shift ;;
    --keep) keep=$2; shift ;;
    *) echo "usage: summary-pages.sh [--db CONNINFO] [--policy FILE] [--lang LANG] [--keep DIR]" >&2; exit 2 ;;
    esac
    shift
done
command -v qpdf >/dev/null || { echo "summary-pages.sh: qpdf is missing" >&2; exit 1; }

if [ -z "$db" ]; then
    CACHE=${AOD_BENCH_CACHE:-${TMPDIR:-/tmp}/aodreport-bench-$(id -u)}
    DATA="$CACHE/store-s42-p1000-e100000-b10000.ndjson"
    mkdir -p "$CACHE"
    if [ ! -s "$DATA" ]; then
        python3 "$top_srcdir/examples/generate.py" -q --seed 42 --patients 1000 \
            --events 100000 --big-patient-events 10000 -o "$DATA.part"
        mv "$DATA.part" "$DATA"
    fi
    pg_start
    db="dbname=aodtest"
    "$AODREPORT" init --db "$db" >/dev/null
    "$AODREPORT" load -q --db "$db" "$DATA"
    WORK=$PGTMP
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/aod-summary.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
fi

# Every patient by its reference, with the identifiers its events name
# beside it (the MRN, the SSN): the keys a privacy office would search.
psql_db() { "$(pg_bindir)/psql" -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
{
    echo "patient,from,to,mode,formats,lang"
    psql_db "WITH p AS (SELECT DISTINCT patient_key k FROM aod.event_patient
                        WHERE patient_key LIKE 'Patient/%'),
                  o AS (SELECT ep.patient_key k, ok FROM aod.event_patient ep,
                        unnest(ep.other_keys) ok WHERE ep.patient_key LIKE 'Patient/%' GROUP BY 1, 2)
             SELECT '\"' || p.k || coalesce((SELECT string_agg(';' || ok, '' ORDER BY ok)
                    FROM o WHERE o.k = p.k), '') || '\",2023-01-01,2026-12-31,access,pdf,$lang'
             FROM p ORDER BY 1"
} >"$WORK/requests.csv"

out=${keep:-$WORK/out}
rm -rf "$out"
"$AODREPORT" batch -q --db "$db" --policy "$policy" --requests "$WORK/requests.csv" \
    --out-dir "$out" --now 2026-12-01T00:00:00Z --jobs 2 || {
    echo "summary-pages.sh: the batch failed" >&2
    exit 1
}

python3 - "$out" <<'PY'
import glob, json, os, subprocess, sys
from collections import Counter

res = []
for pdf in sorted(glob.glob(os.path.join(sys.argv[1], "*", "*.pdf"))):
    j = json.loads(subprocess.run(["qpdf", "--json", "--json-key=outlines", pdf],
                                  capture_output=True, text=True, check=True).stdout)
    marks = [(o["title"], o["destpageposfrom1"]) for o in j["outlines"]]
    pages = int(subprocess.run(["qpdf", "--show-npages", pdf], capture_output=True,
                               text=True, check=True).stdout)
    i = next(k for k, m in enumerate(marks) if m[0] in ("Summary", "Resumen"))
    end = marks[i + 1][1] if i + 1 < len(marks) else pages + 1
    res.append((os.path.basename(os.path.dirname(pdf)), end - marks[i][1]))
n = len(res)
one = sum(1 for r in res if r[1] == 1)
print("patients: %d; summary on one page: %d (%.1f %%)" % (n, one, 100.0 * one / n))
print("summary pages: " + ", ".join("%d page(s): %d" % kv for kv in sorted(Counter(r[1] for r in res).items())))
for name, p in res:
    if p != 1:
        print("  %s: %d pages" % (name, p))
PY
