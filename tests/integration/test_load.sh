#!/usr/bin/env bash
# test_load.sh - `aodreport init` and `aodreport load` against a real
# PostgreSQL: good files in each shape, each kind of bad file (message, exit
# code, nothing stored), loading twice, and events without a patient.
. "$(dirname "$0")/lib.sh"
pg_start
D="$top_srcdir/tests/data/load"

count() { psql_q "SELECT count(*) FROM aod.audit_event $1"; }

# --- init
ok "init creates the store" run 0 "${AOD[@]}" init
ok "init says what it did" contains "$OUT" "applied $MIGRATION_FILES migrations, schema version $SCHEMA_VERSION"
ok "init again changes nothing" run 0 "${AOD[@]}" init
ok "init again says so" contains "$OUT" "up to date"
ok "each migration recorded once" equals "$(psql_q 'SELECT count(*) FROM aod.schema_version')" "$MIGRATION_FILES"

# --- a password on the command line is refused before connecting
ok "password in --db refused" run 2 "${AOD[@]}" load --db "host=$PGHOST password=secret" "$D/good-r4.ndjson"
ok "password refusal explains" contains "$ERR" "pgpass"

# --- good files
ok "load NDJSON" run 0 "${AOD[@]}" load "$D/good-r4.ndjson"
ok "NDJSON counts" contains "$OUT" "3 events read, 3 stored, 0 already present, 1 without patient"
ok "load Bundle (R5 + R4)" run 0 "${AOD[@]}" load "$D/good-bundle.json"
ok "Bundle counts" contains "$OUT" "3 events read, 3 stored, 0 already present, 1 without patient"
ok "six events stored" equals "$(count '')" 6
ok "versions detected" equals "$(psql_q "SELECT string_agg(fhir_version, ',' ORDER BY fhir_version) FROM aod.audit_event")" "R4,R4,R4,R4,R5,R5"
ok "patient keys extracted (R4 entity, R5 patient)" equals \
    "$(psql_q "SELECT string_agg(patient_key || '@' || to_char(recorded AT TIME ZONE 'UTC', 'MM-DD HH24:MI'), ' ' ORDER BY patient_key, recorded) FROM aod.event_patient")" \
    "Patient/a@01-02 10:00 Patient/a@02-01 08:00 Patient/a@02-03 08:00 Patient/b@01-02 09:00"
ok "events without patient are stored" equals "$(count "WHERE patient_keys = '{}'")" 2
ok "where it came from is kept" equals "$(psql_q "SELECT count(DISTINCT loaded_from) FROM aod.audit_event")" 2

# --- idempotent
ok "load the same file again" run 0 "${AOD[@]}" load "$D/good-r4.ndjson"
ok "second load stores nothing" contains "$OUT" "3 events read, 0 stored, 3 already present"
ok "still six events" equals "$(count '')" 6
ok "no duplicate report rows" equals "$(psql_q 'SELECT count(*) FROM aod.event_patient')" 4
ok "standard input works, idempotent too" run 0 "${AOD[@]}" load - <"$D/good-bundle.json"
ok "stdin counts" contains "$OUT" "<stdin>: 3 events read, 0 stored, 3 already present"

# --- bad files: message names file, line, reason; exit 3; nothing of the file stored
bad() { # bad FILE EXPECTED-MESSAGE
    local f="$D/$1"
    ok "$1 rejected with status 3" run 3 "${AOD[@]}" load "$f"
    ok "$1 message" contains "$ERR" "$2"
    ok "$1 nothing stored" equals "$(count "WHERE loaded_from = '$f'")" 0
}
bad bad-json.ndjson "bad-json.ndjson:3: invalid JSON"
bad bad-utf8.ndjson "bad-utf8.ndjson:2: invalid UTF-8"
bad not-auditevent.ndjson "not-auditevent.ndjson:2: resourceType: not an AuditEvent (resourceType Patient)"
bad no-recorded.ndjson "no-recorded.ndjson:3: recorded"
bad bundle-bad-entry.json "bundle-bad-entry.json:133: entry 2: Bundle.entry.resource: not an AuditEvent (resourceType Patient)"
# cardinalities and required bindings (issue 14): the element is named
bad no-agent.ndjson "no-agent.ndjson:2: agent: missing (1..* required) (FHIR R4)"
bad no-source.ndjson "no-source.ndjson:2: source: missing (1..1 required)"
bad bad-action.ndjson "bad-action.ndjson:2: action: not one of C R U D E"
bad requestor-string.ndjson "requestor-string.ndjson:2: agent[0].requestor: not a boolean"
# elements the version does not define: loaded, counted, said once per file
ok "unknown elements load" run 0 "${AOD[@]}" load "$D/unknown-elements.ndjson"
ok "unknown elements stored" equals "$(count "WHERE loaded_from = '$D/unknown-elements.ndjson'")" 3
ok "unknown elements warned once" contains "$ERR" \
    "unknown-elements.ndjson: warning: 2 events carry elements their FHIR version does not define (first: line 2,"
# a search response with an OperationOutcome entry: the events load, the
# outcome's message is said, not dropped
ok "searchset with an outcome loads" run 0 "${AOD[@]}" load "$D/searchset-outcome.json"
ok "searchset events stored" contains "$OUT" "2 events read, 2 stored"
ok "the outcome is said" contains "$ERR" \
    "entry 2: search outcome (warning incomplete), not an event: Community Lakeside did not respond"
ok "the outcome is kept under the events' patient" equals \
    "$(psql_q "SELECT patient_keys::text || ' ' || severity || ' ' || code || ': ' || message
               FROM aod.search_outcome WHERE loaded_from = '$D/searchset-outcome.json'")" \
    "{Patient/a} warning incomplete: Community Lakeside did not respond"
ok "missing file" run 6 "${AOD[@]}" load "$D/no-such-file.ndjson"
ok "missing file message" contains "$ERR" "no-such-file.ndjson: cannot open"

# --- one bad file among good ones: the others load, the exit code says so
cp "$D/good-r4.ndjson" "$PGTMP/fresh.ndjson"
sed -i 's/load-r4-/fresh-/g' "$PGTMP/fresh.ndjson"
ok "mixed run exits 3" run 3 "${AOD[@]}" load "$D/bad-json.ndjson" "$PGTMP/fresh.ndjson"
ok "the good file was loaded" contains "$OUT" "fresh.ndjson: 3 events read, 3 stored"
ok "the summary counts the failure" contains "$ERR" "1 of 2 files not loaded"

# --- the completeness tables follow every load (migration 007): a source's
# span and its runs of silent days, kept incrementally, always equal what
# aod.observer_day says, also when a later file fills a silent day, extends
# the span at either end, or brings a day already counted.
day_event() { # ID DAY OBSERVER
    printf '{"resourceType":"AuditEvent","id":"%s","type":{"code":"rest"},"action":"R","recorded":"2026-04-%sT10:00:00Z","outcome":"0","agent":[{"who":{"reference":"Practitioner/x"},"requestor":true}],"source":{"observer":{"reference":"%s","display":"Daily system"}},"entity":[{"what":{"reference":"Patient/day-%s"}}]}\n' "$1" "$2" "$3" "$2"
}
for d in 05 06 07 09 12 13 16 17 18; do day_event "d-$d" "$d" Device/daily; done >"$PGTMP/days1.ndjson"
for d in 03 08 13 15 20; do day_event "e-$d" "$d" Device/daily; done >"$PGTMP/days2.ndjson"
ok "a daily source's first days" run 0 "${AOD[@]}" load "$PGTMP/days1.ndjson"
gaps_now() { psql_q "SELECT string_agg(from_day || '..' || to_day, ' ' ORDER BY from_day)
    FROM aod.observer_gap WHERE observer = 'Device/daily'"; }
gaps_recomputed() { psql_q "SELECT string_agg((prev + 1) || '..' || (day - 1), ' ' ORDER BY day)
    FROM (SELECT day, lag(day) OVER (ORDER BY day) AS prev FROM aod.observer_day
          WHERE observer = 'Device/daily') d WHERE day > prev + 1"; }
ok "its silent runs" equals "$(gaps_now)" "2026-04-08..2026-04-08 2026-04-10..2026-04-11 2026-04-14..2026-04-15"
ok "more days, before, inside and after the span" run 0 "${AOD[@]}" load "$PGTMP/days2.ndjson"
ok "the runs split, close and grow" equals "$(gaps_now)" \
    "2026-04-04..2026-04-04 2026-04-10..2026-04-11 2026-04-14..2026-04-14 2026-04-19..2026-04-19"
ok "and equal what the days say" equals "$(gaps_now)" "$(gaps_recomputed)"
ok "the span and the days logged" equals "$(psql_q "SELECT first_day || ' ' || last_day || ' ' || days
    FROM aod.observer_span WHERE observer = 'Device/daily'")" "2026-04-03 2026-04-20 13"
ok "a day counted once, its records twice" equals "$(psql_q "SELECT records FROM aod.observer_day
    WHERE observer = 'Device/daily' AND day = '2026-04-13'")" 2

# --- a store that was never initialised
as_pg "$PGBIN/createdb" -h "$PGTMP" -U postgres empty
ok "load on an empty database asks for init" run 5 "${AOD[@]}" load --db "dbname=empty" "$D/good-r4.ndjson"
ok "init hint" contains "$ERR" "aodreport init"

# --- an unreachable database
ok "unreachable database" run 4 "${AOD[@]}" init --db "host=$PGTMP/nowhere"
ok "unreachable message" contains "$ERR" "cannot connect"

# --- usage
ok "no file is a usage error" run 2 "${AOD[@]}" load
ok "unknown command" run 2 "${AOD[@]}" frobnicate

finish
