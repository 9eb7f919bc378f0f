#!/usr/bin/env bash
# test_load_batches.sh - a load of many batches (doc/store.md, "Loading"):
# the first batches are small and grow; each batch's stored keys are found
# and its ids reserved in one statement; the months a load has made sure of
# are not asked again.  Whatever the batches, the store must hold what one
# event at a time would give: every event once (duplicates within the file,
# across its batches, and events stored by an earlier load counted as
# already present), ids in the file's order, a partition for every month
# the events fall in, and every report row agreeing with its event.
. "$(dirname "$0")/lib.sh"
pg_start
W="$PGTMP/work"
mkdir -p "$W"

# 1,500 events over 24 months after any month a fresh store has made (the generator writes them in time order):
# the batches of 250, 500 and 750 rows each reach months the ones before
# them did not.
python3 "$top_srcdir/examples/generate.py" -q --seed 7 --patients 40 --events 1500 \
    --start 2031-01-01 --months 24 -o "$W/all.ndjson"
# an earlier file: 101 of the events
sed -n 1000,1100p "$W/all.ndjson" >"$W/earlier.ndjson"
# the file: all of them, then 301 again (a batch's events seen in batches
# before it, and in the same batch)
{ cat "$W/all.ndjson"; sed -n 100,400p "$W/all.ndjson"; } >"$W/file.ndjson"
# the ids the file's new events must get, in order: its events, first
# sighting only, less those the earlier file stored
python3 - "$W/file.ndjson" "$W/earlier.ndjson" >"$W/expected-order" <<'EOF'
import json, sys
earlier = {json.loads(l)["id"] for l in open(sys.argv[2])}
seen = set()
for line in open(sys.argv[1]):
    i = json.loads(line)["id"]
    if i in seen or i in earlier:
        continue
    seen.add(i)
    print(i)
EOF

ok "init" run 0 "${AOD[@]}" init
ok "the earlier file loads" run 0 "${AOD[@]}" load "$W/earlier.ndjson"
ok "the file loads in many batches" run 0 "${AOD[@]}" load "$W/file.ndjson"
ok "counts: duplicates and the earlier events already present" contains "$OUT" \
    "1801 events read, 1399 stored, 402 already present"
ok "every event once" equals "$(psql_q "SELECT count(*), count(DISTINCT fhir_id) FROM aod.audit_event")" \
    "1500|1500"
ok "ids follow the file's order" equals \
    "$(psql_q "SELECT fhir_id FROM aod.audit_event WHERE loaded_from = '$W/file.ndjson' ORDER BY id")" \
    "$(cat "$W/expected-order")"
ok "the earlier load's ids come first" equals \
    "$(psql_q "SELECT max(id) < (SELECT min(id) FROM aod.audit_event WHERE loaded_from = '$W/file.ndjson')
               FROM aod.audit_event WHERE loaded_from = '$W/earlier.ndjson'")" "t"
ok "the load made a partition of each table for each of the 24 months" equals \
    "$(psql_q "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent IN ('aod.audit_event'::regclass, 'aod.event_patient'::regclass)
                  AND c.relname ~ '_20(31|32)_[0-9]{2}$'")" "48"
ok "each event and report row in its own month's partition" equals \
    "$(psql_q "SELECT (SELECT count(*) FROM aod.audit_event
                        WHERE tableoid::regclass::text <> 'aod.audit_event_' || to_char(recorded AT TIME ZONE 'UTC', 'YYYY_MM'))
                    + (SELECT count(*) FROM aod.event_patient
                        WHERE tableoid::regclass::text <> 'aod.event_patient_' || to_char(recorded AT TIME ZONE 'UTC', 'YYYY_MM'))")" "0"
ok "a report row per patient key of each event" equals \
    "$(psql_q "SELECT count(*) FROM aod.event_patient")" \
    "$(psql_q "SELECT sum(cardinality(patient_keys)) FROM aod.audit_event")"
ok "each report row's event found by id and time" equals \
    "$(psql_q "SELECT count(*) FROM aod.event_patient p
                WHERE NOT EXISTS (SELECT FROM aod.audit_event e WHERE e.id = p.event_id
                                                                 AND e.recorded = p.recorded
                                                                 AND p.patient_key = ANY (e.patient_keys))")" "0"
ok "loading the file again stores nothing" run 0 "${AOD[@]}" load "$W/file.ndjson"
ok "all already present" contains "$OUT" "1801 events read, 0 stored, 1801 already present"
finish
