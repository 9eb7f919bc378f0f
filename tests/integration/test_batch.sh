#!/usr/bin/env bash
# test_batch.sh - `aodreport batch` and the self-audit against a real
# PostgreSQL: a requests file with bad rows, a month run, a rerun that does
# nothing, --jobs 2 and two shards giving the same files as one worker, a run
# killed with SIGKILL and one stopped with SIGTERM, then resumed, a database
# that goes away mid-run, and every report recorded as the privacy office
# reading the access log.
. "$(dirname "$0")/lib.sh"
pg_start
B="$PGTMP/batch"
mkdir -p "$B"
NOW=2025-03-01T00:00:00Z
MONTH=(--policy "$DEMO_POLICY" --month 2025-01 --now "$NOW" --formats pdf,csv)

pg_down() { as_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -m immediate -w stop >/dev/null; }
pg_up() {
    as_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/server.log" -w \
        -o "-k $PGTMP -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null
}

# The report files of a run directory with their checksums, one per line.
sums() { (cd "$1" && find . -type f \( -name '*.pdf' -o -name '*.csv' -o -name '*.json' -o -name '*.xml' \) \
    ! -name 'manifest*' ! -name '.*' | sort | xargs -r sha256sum); }
# Temporary files (outfile.h's .NAME.XXXXXX) anywhere under a directory.
temps() { find "$1" -name '.*' ! -name .aodreport-batch.lock ! -name . | sort; }
no_temps() { local t; t=$(temps "$1"); [ -z "$t" ] || { echo "# left: $t" >&2; return 1; }; }
# Waits (up to 60 s) until the manifest lists a completed report.
wait_first_ok() {
    local i
    for i in $(seq 1 600); do
        grep -qs '"status": "ok"' "$1/manifest.json" && return 0
        sleep 0.1
    done
    return 1
}
# manifest_check DIR EXPR: a Python expression over the manifest m is true.
manifest_check() {
    python3 - "$1/manifest.json" "$2" <<'EOF'
import json, os, sys
m = json.load(open(sys.argv[1]))
r = m["reports"]
st = [x["status"] for x in r]
ok = eval(sys.argv[2])
if not ok:
    print("# manifest check failed: %s\n# statuses: %s, state %s" % (sys.argv[2], st, m["run"]["state"]), file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
}
selfaudits() { psql_q "SELECT count(*) FROM aod.audit_event WHERE resource @> '{\"subtype\":[{\"code\":\"aodreport-report\"}]}'"; }

ok "init" run 0 "${AOD[@]}" init
python3 "$top_srcdir/examples/generate.py" -q --patients 6 --events 500 --months 2 --start 2025-01-01 \
    -o "$PGTMP/events.ndjson"
ok "load the example events" run 0 "${AOD[@]}" load "$PGTMP/events.ndjson"
KEYS=$(psql_q "SELECT count(DISTINCT patient_key) FROM aod.event_patient
               WHERE recorded >= '2025-01-01' AND recorded < '2025-02-01'")
ok "the month has patients" test "$KEYS" -gt 3

# ------------------------------------------------- a requests file, bad rows
P1=Patient/example-1
P2=Patient/example-2
cat >"$B/req.csv" <<EOF
patient,from,to,mode,formats,patient_name,requested
$P1,2025-01-01,2025-01-31,access,csv,,2025-02-01
foo/bar,,,,,,
$P2,2025-02-30,,,,,
$P2,,,,docx,,
"$P2;http://hospital.example.org/mrn|1000002",2025-01-01,,,csv;bundle-json,"Doe, ""Jo""",
EOF
ok "requests with bad rows: exit 10" run 10 "${AOD[@]}" batch --policy "$DEMO_POLICY" --requests "$B/req.csv" \
    --out-dir "$B/req" --now "$NOW"
ok "bad patient named with its line" contains "$ERR" "req.csv:3: patient: not a patient"
ok "impossible date named with its line" contains "$ERR" "req.csv:4: from: '2025-02-30' is not a valid date"
ok "unknown format named with its line" contains "$ERR" "req.csv:5: formats: unknown format 'docx'"
ok "the summary says what was skipped" contains "$OUT" "2 written, 0 already complete, 0 failed, 3 skipped"
ok "the good rows ran" test "$(sums "$B/req" | wc -l)" = 3
ok "a row's keys share one directory" test "$(find "$B/req" -name 'disclosures_2025-01-01_*' | wc -l)" = 2
ok "manifest lists ok and skipped rows" manifest_check "$B/req" \
    "st == ['ok', 'skipped', 'skipped', 'skipped', 'ok'] and [x['line'] for x in r] == [2, 3, 4, 5, 6]"
ok "manifest.csv names the skipped line" contains "$(cat "$B/req/manifest.csv")" "skipped,4,$P2,"
ok "files are 0600" test -z "$(find "$B/req" -type f ! -perm 600)"

# ------------------------------------------------------------ a month run
before=$(selfaudits)
ok "month run" run 0 "${AOD[@]}" batch "${MONTH[@]}" --out-dir "$B/m1"
ok "one report per patient key of the month" test "$(find "$B/m1" -mindepth 1 -maxdepth 1 -type d | wc -l)" = "$KEYS"
ok "pdf and csv for each" test "$(sums "$B/m1" | wc -l)" = $((KEYS * 2))
ok "monthly reports are access reports" test "$(find "$B/m1" -name 'access_2025-01-01_2025-01-31_en.pdf' | wc -l)" = "$KEYS"
ok "manifest complete" manifest_check "$B/m1" "m['run']['state'] == 'complete' and st == ['ok'] * $KEYS"
ok "manifest checksums are the files'" python3 - "$B/m1" <<'EOF'
import hashlib, json, os, sys
d = sys.argv[1]
m = json.load(open(os.path.join(d, "manifest.json")))
for r in m["reports"]:
    for f in r["files"]:
        data = open(os.path.join(d, f["path"]), "rb").read()
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["size"], f
    assert r["counts"]["records"] >= 1 and r["self_audit"].startswith("aodreport-")
EOF
ok "no temporary files" no_temps "$B/m1"
ok "each report is self-audited" test "$(selfaudits)" = $((before + KEYS))
SUMS=$(sums "$B/m1")

# -------------------------------------------------- a rerun does nothing
ok "rerun" run 0 "${AOD[@]}" batch "${MONTH[@]}" --out-dir "$B/m1"
ok "rerun skips everything" contains "$OUT" "0 written, $KEYS already complete"
ok "rerun leaves the files as they were" equals "$(sums "$B/m1")" "$SUMS"
ok "rerun adds no self-audit" test "$(selfaudits)" = $((before + KEYS))
# a damaged file is noticed and made again
f=$(find "$B/m1" -name '*.csv' | head -n 1)
echo tampered >>"$f"
ok "rerun after damage" run 0 "${AOD[@]}" batch "${MONTH[@]}" --out-dir "$B/m1"
ok "only the damaged report is made again" contains "$OUT" "1 written, $((KEYS - 1)) already complete"
ok "and it is as before" equals "$(sums "$B/m1")" "$SUMS"

# A month's grouped report carries the same completeness statement as the
# report made alone (issue 16 point 5): the CSV's completeness file and the
# PDF's words, byte for byte and word for word.
ok "a month report's completeness file" run 0 "${AOD[@]}" batch "${MONTH[@]}" \
    --formats csv,csv-completeness --out-dir "$B/mc"
one=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["reports"][0]; print(r["patient"][0]); print(r["patient_dir"])' "$B/mc/manifest.json")
one_key=$(echo "$one" | sed -n 1p)
one_dir=$(echo "$one" | sed -n 2p)
ok "the same report alone" run 0 "${AOD[@]}" report --policy "$DEMO_POLICY" --patient "$one_key" \
    --mode access --from 2025-01-01 --to 2025-01-31 --now "$NOW" -o "$B/alone.csv"
ok "its completeness file is the single report's" \
    cmp "$B/mc/$one_dir/access_2025-01-01_2025-01-31_en.completeness.csv" "$B/alone.completeness.csv"
ok "and it names the sources" grep -q '^source,' "$B/alone.completeness.csv"
ok "the same report alone, as a PDF" run 0 "${AOD[@]}" report --policy "$DEMO_POLICY" \
    --patient "$one_key" --mode access --from 2025-01-01 --to 2025-01-31 --now "$NOW" \
    --format pdf -o "$B/alone.pdf"
m1_pdf=$(find "$B/m1" -path "*/$one_dir/*.pdf")
ok "the month's PDF says the same as the single one" \
    sh -c 'test "$(pdftotext "$1" - | grep -v "^Prepared on")" = "$(pdftotext "$2" - | grep -v "^Prepared on")"' \
    sh "$m1_pdf" "$B/alone.pdf"

# ----------------------------------------------- --jobs 2 and two shards
ok "--jobs 2" run 0 "${AOD[@]}" batch "${MONTH[@]}" --out-dir "$B/m2" --jobs 2
ok "--jobs 2 gives the same files as --jobs 1" equals "$(sums "$B/m2")" "$SUMS"
ok "shard 1/2" run 0 "${AOD[@]}" batch "${MONTH[@]}" --out-dir "$B/sh" --shard 1/2
ok "shard 2/2" run 0 "${AOD[@]}" batch "${MONTH[@]}" --out-dir "$B/sh" --shard 2/2 --jobs 2
ok "two shards together are the whole run" equals "$(sums "$B/sh")" "$SUMS"
ok "each shard has its own manifest" test -f "$B/sh/manifest-1-of-2.json" -a -f "$B/sh/manifest-2-of-2.json"
ok "the shards do not overlap" python3 - "$B/sh" "$KEYS" <<'EOF'
import json, os, sys
a = [r["patient"][0] for r in json.load(open(os.path.join(sys.argv[1], "manifest-1-of-2.json")))["reports"]]
b = [r["patient"][0] for r in json.load(open(os.path.join(sys.argv[1], "manifest-2-of-2.json")))["reports"]]
assert a and b and not set(a) & set(b) and len(a) + len(b) == int(sys.argv[2]), (a, b)
EOF

# -------------------------------------------- killed with SIGKILL, resumed
AOD_TEST_SLOW_MS=400 AOD_TEST_BATCH_GROUP=2 "${AOD[@]}" batch "${MONTH[@]}" --out-dir "$B/k" --jobs 1 -q 2>/dev/null &
pid=$!
ok "the killed run got going" wait_first_ok "$B/k"
kill -9 "$pid"
wait "$pid" || true
sleep 1 # its worker follows it (PR_SET_PDEATHSIG)
ok "a killed run left no partial file under a final name" python3 - "$B/k" "$SUMS" <<'EOF'
import hashlib, os, sys
want = {l.split()[1][2:]: l.split()[0] for l in sys.argv[2].splitlines()}
for dp, dn, fn in os.walk(sys.argv[1]):
    for f in fn:
        if f.startswith(".") or f.startswith("manifest"):
            continue
        rel = os.path.relpath(os.path.join(dp, f), sys.argv[1])
        assert hashlib.sha256(open(os.path.join(dp, f), "rb").read()).hexdigest() == want[rel], rel
EOF
ok "resume after SIGKILL" run 0 "${AOD[@]}" batch "${MONTH[@]}" --out-dir "$B/k" --jobs 1
ok "the resumed run skips what was complete" contains "$ERR" "already complete"
ok "no temporary file is left" no_temps "$B/k"
ok "killed and resumed gives the same files" equals "$(sums "$B/k")" "$SUMS"
ok "and a complete manifest" manifest_check "$B/k" "m['run']['state'] == 'complete' and st == ['ok'] * $KEYS"

# ------------------------- killed with SIGKILL in the middle of a group
# A month run records a group's self-audits in one transaction, then
# renames the group's files.  Killed (parent and worker, SIGKILL) while it
# renames, no report may be under its name without its self-audit: every
# published file's checksum is in a self-audit of this run (told apart by
# its --operator), and some of the group's files are not published yet.
file_sums() { (cd "$1" && find . -type f \( -name '*.pdf' -o -name '*.csv' \) ! -name 'manifest*' \
    ! -name '.*' | sort | xargs -r sha256sum | awk '{print $1}'); }
AOD_TEST_BATCH_GROUP=4 AOD_TEST_PUBLISH_PAUSE_MS=500 "${AOD[@]}" batch "${MONTH[@]}" \
    --operator "crash test" --out-dir "$B/c" --jobs 1 -q 2>/dev/null &
pid=$!
for i in $(seq 1 600); do [ -n "$(file_sums "$B/c")" ] && break; sleep 0.05; done
workers=$(pgrep -P "$pid" || true)
kill -9 $workers "$pid" 2>/dev/null || true
wait "$pid" || true
for w in $workers; do # gone, not only dying: the rerun then removes their temporaries
    for i in $(seq 1 100); do kill -0 "$w" 2>/dev/null || break; sleep 0.05; done
done
ok "killed mid-group: the worker was killed too" test -n "$workers"
published=$(file_sums "$B/c" | wc -l)
ok "killed mid-group: some files were published" test "$published" -ge 1
ok "killed mid-group: not all of the group" test "$published" -lt 8
recorded=$(psql_q "SELECT DISTINCT d->>'valueString' FROM aod.audit_event a,
                       jsonb_array_elements(a.resource->'entity') e, jsonb_array_elements(e->'detail') d
                   WHERE a.loaded_from = 'aodreport self-audit' AND d->>'type' = 'sha256'
                     AND a.resource->'agent'->0->'who'->>'display' LIKE 'crash test %'")
ok "killed mid-group: every published file has its self-audit" python3 - "$(file_sums "$B/c")" "$recorded" <<'EOF'
import sys
files, recorded = sys.argv[1].split(), set(sys.argv[2].split())
missing = [f for f in files if f not in recorded]
assert files and not missing, ("published without a self-audit", missing)
EOF
ok "rerun after the kill" run 0 "${AOD[@]}" batch "${MONTH[@]}" --out-dir "$B/c" --jobs 1
ok "rerun after the kill: the same files" equals "$(sums "$B/c")" "$SUMS"
ok "rerun after the kill: no temporary file" no_temps "$B/c"
ok "rerun after the kill: a complete manifest" manifest_check "$B/c" "m['run']['state'] == 'complete' and st == ['ok'] * $KEYS"
n_sa=$(selfaudits)
ok "and once more: nothing to do" run 0 "${AOD[@]}" batch "${MONTH[@]}" --out-dir "$B/c" --jobs 1
ok "and once more: everything already complete" contains "$OUT" "0 written, $KEYS already complete"
ok "and once more: no new self-audit" equals "$(selfaudits)" "$n_sa"

# --------------------------------------------------- stopped with SIGTERM
AOD_TEST_SLOW_MS=400 AOD_TEST_BATCH_GROUP=2 "${AOD[@]}" batch "${MONTH[@]}" --out-dir "$B/t" --jobs 2 >"$PGTMP/t.out" 2>"$PGTMP/t.err" &
pid=$!
ok "the terminated run got going" wait_first_ok "$B/t"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
ok "SIGTERM: exit 9" equals "$status" 9
ok "SIGTERM: says so" contains "$(cat "$PGTMP/t.err")" "interrupted"
ok "SIGTERM: a complete manifest" manifest_check "$B/t" \
    "m['run']['state'] == 'interrupted' and len(r) == $KEYS and 'ok' in st and 'pending' in st and set(st) <= {'ok', 'pending'}"
ok "SIGTERM: no temporary file" no_temps "$B/t"
ok "resume after SIGTERM" run 0 "${AOD[@]}" batch "${MONTH[@]}" --out-dir "$B/t"
ok "terminated and resumed gives the same files" equals "$(sums "$B/t")" "$SUMS"

# ------------------------------------------------ the database goes away
AOD_TEST_SLOW_MS=600 AOD_TEST_BATCH_GROUP=2 "${AOD[@]}" batch "${MONTH[@]}" --out-dir "$B/d" --jobs 1 >"$PGTMP/d.out" 2>"$PGTMP/d.err" &
pid=$!
ok "the run got going before the database went" wait_first_ok "$B/d"
pg_down
status=0
wait "$pid" || status=$?
ok "database gone: exit 4" equals "$status" 4
ok "database gone: says so" contains "$(cat "$PGTMP/d.err")" "the connection was lost"
ok "database gone: the manifest says which failed" manifest_check "$B/d" \
    "m['run']['state'] == 'stopped' and 'failed' in st and all(x['error'] for x in r if x['status'] == 'failed') and set(st) <= {'ok', 'failed', 'pending'}"
ok "database gone: nothing partial" no_temps "$B/d"
pg_up
ok "resume when the database is back" run 0 "${AOD[@]}" batch "${MONTH[@]}" --out-dir "$B/d"
ok "and the files are the same" equals "$(sums "$B/d")" "$SUMS"

printf 'patient\n%s\n' "$P2" >"$B/req1.csv"

# ------------------------------------------------------------ self-audit
ok "self-audits are stored as AuditEvents of the subtype" test "$(selfaudits)" -ge "$KEYS"
ok "self-audit: DCM 110106 Export, action R, the patient and the report entity" test "$(psql_q "
    SELECT count(*) FROM aod.audit_event
    WHERE resource @> '{\"subtype\":[{\"system\":\"urn:aodreport:audit-subtype\",\"code\":\"aodreport-report\"}]}'
      AND resource @> '{\"type\":{\"code\":\"110106\"},\"action\":\"R\"}'
      AND resource @> '{\"entity\":[{\"role\":{\"code\":\"3\"}}]}'
      AND resource @> '{\"entity\":[{\"what\":{\"reference\":\"$P1\"},\"role\":{\"code\":\"1\"}}]}'")" -ge 1
n_p1=$(psql_q "SELECT count(*) FROM aod.event_patient ep JOIN aod.audit_event e ON e.id = ep.event_id
               WHERE ep.patient_key = '$P1' AND e.loaded_from = 'aodreport self-audit'")
since=$(date -u -d '1 day ago' +%Y-%m-%d)
ok "a later access report for the privacy office" run 0 "${AOD[@]}" report --policy "$DEMO_POLICY" --patient "$P1" --mode access \
    --audience privacy-office --from "$since" --operator "Pat Privacy" -o "$PGTMP/po.csv"
ok "lists the batch reports as the privacy office reading the log" \
    equals "$(grep -c ',internal,,self-audit,self-audit,' "$PGTMP/po.csv")" "$n_p1"
ok "report records itself too" test "$(psql_q "SELECT count(*) FROM aod.audit_event
    WHERE resource->'agent'->0->'who'->>'display' = 'Pat Privacy (database user postgres)'")" = 1
ok "report's self-audit has the file's checksum" equals "$(psql_q "SELECT d->>'valueString'
    FROM aod.audit_event, jsonb_array_elements(resource->'entity') en, jsonb_array_elements(en->'detail') d
    WHERE resource->'agent'->0->'who'->>'display' = 'Pat Privacy (database user postgres)'
      AND d->>'type' = 'sha256' AND en->>'name' = 'po.csv'")" \
    "$(sha256sum "$PGTMP/po.csv" | cut -d' ' -f1)"

# The roles of sql/roles.sql are enough: aod_reader reads and records.
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -f "$top_srcdir/sql/roles.sql" >/dev/null
psql_q "CREATE ROLE clerk LOGIN; GRANT aod_reader TO clerk" >/dev/null
ok "a batch as an aod_reader login" run 0 "${AOD[@]}" batch --policy "$DEMO_POLICY" --db "user=clerk" --requests "$B/req1.csv" \
    --out-dir "$B/clerk" --now "$NOW" --formats csv
ok "its self-audit names the database user" test "$(psql_q "SELECT count(*) FROM aod.audit_event
    WHERE resource->'agent'->0->>'altId' LIKE 'database user clerk;%'")" = 1

# The summary as a CSV file of its own (doc/csv.md), next to the listing.
ok "a batch with the summary CSV" run 0 "${AOD[@]}" batch --policy "$DEMO_POLICY" --requests "$B/req1.csv" \
    --out-dir "$B/summary" --now "$NOW" --formats csv,csv-summary
ok "the summary CSV is written next to the listing" bash -c \
    'f=$(find "$1" -name "*.summary.csv" | sort | head -n 1); [ -n "$f" ] &&
     head -n 1 "$f" | grep -q "^section,who,role,organisation," && [ -f "${f%.summary.csv}.csv" ]' \
    sh "$B/summary"
ok "the manifest lists the summary CSV" manifest_check "$B/summary" \
    "all(any(f['format'] == 'csv-summary' for f in x['files']) for x in r if x['status'] == 'ok')"
# under the name it is written as (the manifest said .csv-summary, a file
# that does not exist), and a rerun finds it complete
ok "the manifest's paths are the files written" manifest_check "$B/summary" \
    "all(os.path.isfile(os.path.join('$B/summary', f['path'])) for x in r for f in x['files'])"
ok "a rerun with the summary CSV" run 0 "${AOD[@]}" batch --policy "$DEMO_POLICY" --requests "$B/req1.csv" \
    --out-dir "$B/summary" --now "$NOW" --formats csv,csv-summary
ok "finds it complete" contains "$OUT" " 0 written,"

# A role that may read but not insert: the report cannot be accounted for,
# so it is not written at all.
psql_q "CREATE ROLE aod_ro LOGIN; GRANT USAGE ON SCHEMA aod TO aod_ro;
        GRANT SELECT ON ALL TABLES IN SCHEMA aod TO aod_ro;
        GRANT TEMPORARY ON DATABASE aodtest TO aod_ro" >/dev/null
ok "report without INSERT: refused" run 5 "${AOD[@]}" report --policy "$DEMO_POLICY" --db "user=aod_ro" --patient "$P1" -o "$PGTMP/ro.csv"
ok "report without INSERT: says why" contains "$ERR" "could not be recorded as an access"
ok "report without INSERT: no file" test ! -e "$PGTMP/ro.csv"
ok "report without INSERT: no temporary file" test -z "$(ls -A "$PGTMP" | grep '^\.ro\.csv\.')"

# ------------------------------------- a requests file larger than a window
# The rows are planned and run a window at a time (4096 rows; 2 here): a
# duplicate is still found when the first row's window is long gone, the
# manifest lists every row in order, and a rerun resumes across windows.
cat >"$B/win.csv" <<EOF
patient,from,to,formats
$P1,2025-01-01,2025-01-31,csv
foo/bar,,,
$P2,2025-01-01,2025-01-31,csv
$P1,2025-01-01,2025-01-31,pdf
EOF
WIN=(batch --policy "$DEMO_POLICY" --requests "$B/win.csv" --out-dir "$B/win" --now "$NOW")
ok "windows of 2 rows" run 10 env AOD_TEST_BATCH_WINDOW=2 "${AOD[@]}" "${WIN[@]}"
ok "a duplicate two windows later is found" contains "$ERR" "win.csv:5: the same report as line 2"
ok "the manifest lists every row in order" manifest_check "$B/win" \
    "st == ['ok', 'skipped', 'ok', 'skipped'] and [x['line'] for x in r] == [2, 3, 4, 5] and m['totals']['reports'] == 4"
ok "no temporary files after windows" no_temps "$B/win"
ok "a rerun in windows" run 10 env AOD_TEST_BATCH_WINDOW=2 "${AOD[@]}" "${WIN[@]}"
ok "resumes across windows" contains "$OUT" "0 written, 2 already complete, 0 failed, 2 skipped"

# ------------------------------------------- memory bounded by the window
# 200,000 rows (each with an empty period: planned, skipped, listed) in
# 100 MB of address space.  Holding every row took 193 MB of memory (and
# 923 MB for a million rows); a window takes about 15 MB whatever the size.
# Skipped where the program cannot run in 100 MB at all (sanitizers).
seq 1 200000 | awk 'BEGIN { print "patient,from,to" } { print "Patient/p" $1 ",2025-02-01,2025-01-01" }' \
    >"$B/large.csv"
if [ -z "${AOD_VALGRIND:-}" ] && (ulimit -v 102400 && "$AODREPORT" --version) >/dev/null 2>&1; then
    # (its 200,000 warnings go to a file; the last two say how it ended)
    ok "200,000 rows in 100 MB of address space" run 10 bash -c \
        'ulimit -v 102400 && "$@" 2>"$0"; s=$?; tail -n 2 "$0" >&2; exit $s' "$B/large.err" \
        "$AODREPORT" batch --policy "$DEMO_POLICY" --requests "$B/large.csv" --out-dir "$B/large" \
        --now "$NOW" -q
    ok "all of them in manifest.json" test "$(grep -m1 '"skipped":' "$B/large/manifest.json")" = '    "skipped": 200000,'
    ok "and in manifest.csv" test "$(wc -l <"$B/large/manifest.csv")" = 200001
else
    echo "# skipped: the program does not run in 100 MB of address space here (sanitizers?)"
fi

# ------------------------------ the care list explains, grouped or alone
# Issue 16 point 3: a month run's group reads its reports' care lists in
# one query and hands each report its own; every report says the same as
# the report made alone, and a care relationship shows as the reason.
psql_q "COPY (SELECT DISTINCT p.patient_key, s.key, '2025-01-01', '2025-01-31'
             FROM aod.event_patient p JOIN aod.audit_event a ON a.id = p.event_id,
                  jsonb_array_elements(a.resource->'agent') ag,
                  unnest(ARRAY[ag->'who'->>'reference',
                               (ag->'who'->'identifier'->>'system') || '|' ||
                               (ag->'who'->'identifier'->>'value')]) s(key)
             WHERE p.recorded >= '2025-01-01' AND p.recorded < '2025-02-01' AND s.key IS NOT NULL
             ORDER BY 1, 2) TO STDOUT (FORMAT csv)" | sed '1i patient_key,staff_key,from,to' \
    >"$B/care.csv"
ok "a care list for the month's patients" run 0 "${AOD[@]}" load-care "$B/care.csv"
ok "month run with the care list" run 0 "${AOD[@]}" batch --policy "$DEMO_POLICY" --month 2025-01 \
    --now "$NOW" --formats csv --out-dir "$B/care" --jobs 2
# every report of the run against the same report made alone
python3 -c '
import json, sys
for x in json.load(open(sys.argv[1]))["reports"]:
    print(x["patient"][0] + "\t" + x["patient_dir"])' "$B/care/manifest.json" >"$B/care.list"
same=0 said=0 n=0
while IFS=$'\t' read -r key dir; do
    n=$((n + 1))
    "${AOD[@]}" report --policy "$DEMO_POLICY" --patient "$key" --mode access \
        --from 2025-01-01 --to 2025-01-31 --now "$NOW" -o "$B/care-alone.csv" 2>/dev/null &&
        cmp -s "$B/care/$dir/access_2025-01-01_2025-01-31_en.csv" "$B/care-alone.csv" &&
        same=$((same + 1))
    grep -q "our care records show this person on your care team from 2025-01-01 to 2025-01-31" \
        "$B/care-alone.csv" && said=$((said + 1))
done <"$B/care.list"
ok "care: every month report is the one made alone ($same of $n)" test "$same" = "$n" -a "$n" -gt 3
ok "care: reports whose lines say the care list ($said)" test "$said" -ge 2

finish
