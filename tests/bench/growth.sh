#!/usr/bin/env bash
# growth.sh - does one patient's report slow down as the store grows?
# (issue 18: "one patient's report as the store grows 1M -> 5M events,
# within 10 %").  `make bench-growth`; `--quick`: 100,000 -> 500,000.
#
# One server holds two databases side by side:
#   small  the benchmark's store (the cached events of tests/bench/run.sh,
#          same seed), loaded with `aodreport load`;
#   grown  a copy of small (CREATE DATABASE ... TEMPLATE) to which copies
#          of every other patient's events are added in SQL, under new
#          patient keys and event keys, until it holds at least five times
#          small's events: the same months, the same mix.  Loading them
#          through `aodreport load` would measure the loader (run.sh does),
#          not the report.
# Both get what doc/store.md asks after a large load (CLUSTER, VACUUM
# ANALYZE).  Then Patient/big-1's report runs against each in turn, round
# after round, so that the machine's noise hits both alike; the outputs of
# the two must be byte-identical (Patient/big-1's events are the same).
# Prints the medians and the ratio grown / small per format.
#
#   growth.sh [--quick] [--reps N]
. "$(dirname "$0")/../integration/lib.sh" # top_srcdir, AODREPORT, pg_start

quick=0
reps=7
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=1 ;;
    --reps) reps=$2; shift ;;
    *) echo "usage: growth.sh [--quick] [--reps N]" >&2; exit 2 ;;
    esac
    shift
done
if [ "$quick" = 1 ]; then
    PATIENTS=1000 EVENTS=100000 BIG=10000
else
    PATIENTS=10000 EVENTS=1000000 BIG=100000
fi
FACTOR=5
SEED=42
FROM=2023-01-01T00:00:00Z TO=2027-01-01T00:00:00Z
KEYS=(Patient/big-1 'http://hospital.example.org/mrn|1900001' 'urn:oid:2.16.840.1.113883.4.1|999-90-0001')
say() { echo "== $*" >&2; }

CACHE=${AOD_BENCH_CACHE:-${TMPDIR:-/tmp}/aodreport-bench-$(id -u)}
mkdir -p "$CACHE"
DATA="$CACHE/store-s$SEED-p$PATIENTS-e$EVENTS-b$BIG.ndjson"
if [ ! -s "$DATA" ]; then
    say "generating $EVENTS events ($PATIENTS patients, $BIG for Patient/big-1)"
    python3 "$top_srcdir/examples/generate.py" -q --seed "$SEED" --patients "$PATIENTS" \
        --events "$EVENTS" --big-patient-events "$BIG" -o "$DATA.part"
    mv "$DATA.part" "$DATA"
fi

AOD_PG_SETTINGS="-c shared_buffers=512MB -c max_wal_size=8GB -c maintenance_work_mem=256MB" pg_start
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1)
export PGDATABASE=small
as_pg "$PGBIN/createdb" -h "$PGTMP" -U postgres small

settle() { # DB: what doc/store.md asks after a large load
    "${PSQL[@]}" -d "$1" -c "CLUSTER aod.event_patient USING event_patient_pkey" \
        -c "VACUUM ANALYZE aod.event_patient" -c "VACUUM ANALYZE aod.audit_event"
}

say "loading $EVENTS events into small"
"$AODREPORT" init >/dev/null
"$AODREPORT" load -q "$DATA"
settle small

say "grown: a copy of small, plus copies of every other patient's events"
as_pg "$PGBIN/createdb" -h "$PGTMP" -U postgres -T small grown
big="ARRAY[$(printf "'%s'," "${KEYS[@]}" | sed 's/,$//')]::text[]"
# Copies enough that grown holds at least FACTOR times small's events.
all=$("${PSQL[@]}" -d grown -tA -c "SELECT count(*) FROM aod.audit_event")
others=$("${PSQL[@]}" -d grown -tA -c "SELECT count(*) FROM aod.audit_event WHERE NOT patient_keys && $big")
copies=$((((FACTOR - 1) * all + others - 1) / others))
t0=$SECONDS
"${PSQL[@]}" -d grown <<SQL
BEGIN;
CREATE TEMP TABLE src ON COMMIT DROP AS
    SELECT a.id AS old_id, n, sha256(a.event_key || int4send(n)) AS new_key
    FROM aod.audit_event a CROSS JOIN generate_series(1, $copies) n
    WHERE NOT a.patient_keys && $big;
CREATE INDEX ON src (new_key);
CREATE TEMP TABLE map ON COMMIT DROP AS
    WITH ins AS (
        INSERT INTO aod.audit_event (event_key, fhir_id, fhir_version, recorded, patient_keys,
                                     loaded_from, resource)
        SELECT s.new_key, a.fhir_id || '-g' || s.n, a.fhir_version, a.recorded,
               coalesce((SELECT array_agg(k || '-g' || s.n ORDER BY ord)
                         FROM unnest(a.patient_keys) WITH ORDINALITY u(k, ord)), '{}'),
               'growth.sh', a.resource
        FROM src s JOIN aod.audit_event a ON a.id = s.old_id
        RETURNING id, event_key)
    SELECT s.old_id, s.n, ins.id AS new_id FROM ins JOIN src s ON s.new_key = ins.event_key;
CREATE INDEX ON map (old_id);
-- The copies' documents still name the original patients (a report reads
-- the stored index rows, never the document), so the check that a row's
-- document mentions its key is off for this copy only.
ALTER TABLE aod.event_patient DISABLE TRIGGER event_patient_check;
INSERT INTO aod.event_patient (patient_key, recorded, event_id, norm_version, norm, other_keys)
    SELECT ep.patient_key || '-g' || m.n, ep.recorded, m.new_id, ep.norm_version, ep.norm,
           (SELECT array_agg(k || '-g' || m.n ORDER BY ord)
            FROM unnest(ep.other_keys) WITH ORDINALITY u(k, ord))
    FROM aod.event_patient ep JOIN map m ON m.old_id = ep.event_id;
ALTER TABLE aod.event_patient ENABLE TRIGGER event_patient_check;
COMMIT;
SQL
settle grown
grow_s=$((SECONDS - t0))
count() { "${PSQL[@]}" -d "$1" -tA -c "SELECT (SELECT count(*) FROM aod.audit_event) || ' events, ' || (SELECT count(*) FROM aod.event_patient) || ' index rows, ' || pg_size_pretty(pg_database_size('$1'))"; }
small_n=$(count small)
grown_n=$(count grown)
say "small: $small_n; grown: $grown_n (made in ${grow_s} s)"

REPORT=("$AODREPORT" report --policy "$top_srcdir/examples/policies/demo.xml" --from "$FROM" --to "$TO" --now "$TO")
for k in "${KEYS[@]}"; do REPORT+=(--patient "$k"); done
OUT="$PGTMP/out"
mkdir -p "$OUT"
RES="$PGTMP/times.tsv"
: >"$RES"
FORMATS=(csv pdf)
for db in small grown; do # warm both alike
    PGDATABASE=$db "${REPORT[@]}" --mode access --format csv -o "$OUT/warm.csv" 2>/dev/null
done
for rep in $(seq 1 "$reps"); do
    say "round $rep of $reps"
    for f in "${FORMATS[@]}"; do
        for db in small grown; do
            t0=$(date +%s%N)
            PGDATABASE=$db "${REPORT[@]}" --mode access --format "$f" -o "$OUT/$db.$f" 2>/dev/null
            t1=$(date +%s%N)
            printf '%s\t%s\t%s\n' "$f" "$db" "$(((t1 - t0) / 1000))" >>"$RES"
        done
        cmp -s "$OUT/small.$f" "$OUT/grown.$f" ||
            { echo "growth.sh: the $f reports of small and grown differ" >&2; exit 1; }
    done
done

# The pages each store's report touches, which the machine's noise does not
# move: one more CSV run against each with auto_explain logging every
# statement's plan with its buffers; the top node of each plan holds the
# statement's totals.
LOG="$PGTMP/server.log"
PAGES="$PGTMP/pages.tsv"
: >"$PAGES"
for db in small grown; do
    before=$(stat -c %s "$LOG")
    PGDATABASE=$db PGOPTIONS="-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 -c auto_explain.log_analyze=on -c auto_explain.log_buffers=on -c auto_explain.log_format=json -c auto_explain.log_nested_statements=on" \
        "${REPORT[@]}" --mode access --format csv -o "$OUT/pages.csv" 2>/dev/null
    sleep 1 # the server's logger
    tail -c +"$((before + 1))" "$LOG" | python3 -c '
import re, sys
statements = hit = read = 0
for plan in sys.stdin.read().split("plan:")[1:]:
    h = re.search(r"\"Shared Hit Blocks\": (\d+)", plan)
    r = re.search(r"\"Shared Read Blocks\": (\d+)", plan)
    if h and r:
        statements += 1
        hit += int(h.group(1))
        read += int(r.group(1))
print(f"{sys.argv[1]}\t{statements}\t{hit + read}")' "$db" >>"$PAGES"
done

python3 - "$RES" "$small_n" "$grown_n" "$reps" "$PAGES" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
print(f"store: small {sys.argv[2]}; grown {sys.argv[3]}; {sys.argv[4]} rounds, side by side")
print("| Patient/big-1, access report | small: median s (spread) | grown: median s (spread) | grown / small |")
print("|---|---|---|---|")
for f in dict.fromkeys(r[0] for r in rows):
    t = {db: [int(r[2]) / 1e6 for r in rows if r[0] == f and r[1] == db] for db in ("small", "grown")}
    m = {db: statistics.median(v) for db, v in t.items()}
    sp = {db: f"{min(v):.3f} - {max(v):.3f}" for db, v in t.items()}
    print(f"| {f} | {m['small']:.3f} ({sp['small']}) | {m['grown']:.3f} ({sp['grown']}) | {m['grown'] / m['small']:.3f}x |")
pages = {l.split("\t")[0]: l.rstrip("\n").split("\t")[1:] for l in open(sys.argv[5])}
if set(pages) == {"small", "grown"}:
    s, g = (int(pages[d][1]) for d in ("small", "grown"))
    print(f"| pages touched by the CSV report's statements ({pages['small'][0]} and {pages['grown'][0]} plans) | {s} | {g} | {g / s:.3f}x |")
PY
echo "outputs of small and grown: byte-identical in every round"
