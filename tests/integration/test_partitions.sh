#!/usr/bin/env bash
# test_partitions.sh - a store that lives for years (issue 18 point 4,
# sql/005_partitions.sql): a partition per month, made as events arrive; a
# report is one index range scan per month it touches, in order, no Sort;
# `aodreport maintain` clusters each closed month once and changes no
# report; `aodreport retention` drops whole months (no row rewritten),
# records an AuditEvent and the horizon; a report row without its event is
# refused now that the foreign key is gone.
. "$(dirname "$0")/lib.sh"
pg_start
W="$PGTMP/w"
mkdir -p "$W"
"${AOD[@]}" init >/dev/null
# 24 months, 2024-01 .. 2025-12
python3 "$top_srcdir/examples/generate.py" -q --seed 7 --patients 20 --events 3000 \
    --big-patient-events 600 -o "$W/ev.ndjson" >/dev/null
ok "load" run 0 "${AOD[@]}" load "$W/ev.ndjson"
months() { psql_q "SELECT count(*) FROM aod.partition_info WHERE parent = '$1' AND lo >= '2024-01-01' AND hi <= '2026-01-01'"; }
ok "a partition per month of events (event_patient)" equals "$(months event_patient)" 24
ok "a partition per month of events (audit_event)" equals "$(months audit_event)" 24
ok "no row outside its month" equals "$(psql_q "SELECT count(*) FROM aod.event_patient_2024_03
    WHERE recorded < '2024-03-01' OR recorded >= '2024-04-01'")" 0

# An event of a month long past gets its month on the way in.
sed -n 1p "$W/ev.ndjson" | sed 's/"recorded": *"[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T/"recorded":"1999-07-04T/; s/"id": *"\([^"]*\)"/"id":"old-\1"/' >"$W/old.ndjson"
ok "an event of 1999 loads" run 0 "${AOD[@]}" load "$W/old.ndjson"
ok "  into a partition of its month" equals "$(psql_q "SELECT count(*) FROM aod.audit_event_1999_07")" 1

R=(report --policy "$DEMO_POLICY" --patient Patient/big-1 --from 2024-01-01 --to 2025-12-31
   --now 2026-01-01T00:00:00Z --format csv)
ok "report" run 0 "${AOD[@]}" "${R[@]}" -o "$W/before.csv"

# The report's query (store.c, each_event_one) as the planner sees it: one
# index range scan per month of the period, appended in time order, no
# Sort.  (Months this small the planner would rather read whole, so the
# other plans are put out of its reach; doc/store.md shows the plan it
# chooses by itself on the benchmark's store.)
psql_q "ANALYZE" >/dev/null
plan=$(psql_q "SET enable_seqscan = off; SET enable_bitmapscan = off; EXPLAIN SELECT event_id, norm, recorded FROM aod.event_patient
    WHERE patient_key = 'Patient/big-1' AND recorded >= '2024-03-01' AND recorded < '2024-06-01'
    ORDER BY recorded, event_id")
echo "$plan" | sed 's/^/#   /'
ok "three months: three index scans" equals "$(echo "$plan" | grep -c 'Index Scan using event_patient_2024_0[345]_pkey')" 3
ok "  and no other table read" equals "$(echo "$plan" | grep -c 'Scan')" 3
ok "  no Sort" equals "$(echo "$plan" | grep -c 'Sort')" 0

# ------------------------------------------------------------ maintain
ok "maintain" run 0 "${AOD[@]}" maintain --now 2026-01-15T00:00:00Z
ok "  clusters every closed month (1999-07 too)" contains "$OUT" "25 closed months clustered"
ok "  marks them" equals "$(psql_q "SELECT count(*) FROM aod.partition_info WHERE parent = 'event_patient' AND clustered")" 25
ok "  makes the coming months" equals "$(psql_q "SELECT count(*) FROM aod.partition_info WHERE parent = 'event_patient' AND lo IN ('2026-02-01', '2026-03-01')")" 2
ok "maintain again clusters nothing" run 0 "${AOD[@]}" maintain --now 2026-01-15T00:00:00Z
ok "  saying so" contains "$OUT" "0 closed months clustered"
ok "the report after clustering" run 0 "${AOD[@]}" "${R[@]}" -o "$W/after.csv"
ok "  is byte for byte the same" cmp "$W/before.csv" "$W/after.csv"

# ------------------------------------------------------------ retention
ok "a bad age is refused" run 2 "${AOD[@]}" retention --older-than 6q
ok "  naming the option" contains "$ERR" "--older-than"
files_before=$(psql_q "SELECT string_agg(relname || ':' || relfilenode, ' ' ORDER BY relname) FROM pg_class
    WHERE relname LIKE 'event_patient_2025%' OR relname LIKE 'audit_event_2025%'")
ok "retention --dry-run" run 0 "${AOD[@]}" retention --older-than 2y --now 2026-06-15T00:00:00Z --dry-run
ok "  lists the months" contains "$OUT" "would drop aod.event_patient_2024_05"
ok "  and drops nothing" equals "$(months event_patient)" 24
t0=$(date +%s%N)
ok "retention --older-than 2y" run 0 "${AOD[@]}" retention --older-than 2y --now 2026-06-15T00:00:00Z --operator "Pat Privacy"
t1=$(date +%s%N)
echo "# retention took $(((t1 - t0) / 1000000)) ms"
ok "  in under a second" test $(((t1 - t0) / 1000000)) -lt 1000
ok "  says what went" contains "$OUT" "dropped aod.event_patient_2024_05"
ok "  and the horizon it leaves (aod_store_retention_horizon)" contains "$OUT" "Retention horizon: 2024-06-01T00:00:00"
ok "  whole months before the cutoff only" equals "$(months event_patient)" 19
ok "  the 1999 month too" equals "$(psql_q "SELECT to_regclass('aod.audit_event_1999_07') IS NULL")" t
ok "  no row of what stays was rewritten" equals "$(psql_q "SELECT string_agg(relname || ':' || relfilenode, ' ' ORDER BY relname) FROM pg_class
    WHERE relname LIKE 'event_patient_2025%' OR relname LIKE 'audit_event_2025%'")" "$files_before"
ok "  the horizon" equals "$(psql_q "SELECT aod.retention_horizon() AT TIME ZONE 'UTC'")" "2024-06-01 00:00:00"
ok "  an AuditEvent of the deletion" equals "$(psql_q "SELECT resource->>'action' || ' ' || (resource->'subtype'->0->>'code')
    || ' ' || (resource->'agent'->0->'who'->>'display') FROM aod.audit_event WHERE loaded_from = 'aodreport retention'")" \
    "D destroy Pat Privacy (database user postgres)"
ok "  that names the horizon" equals "$(psql_q "SELECT d->>'valueString' FROM aod.audit_event,
    jsonb_array_elements(resource->'entity'->0->'detail') d WHERE loaded_from = 'aodreport retention' AND d->>'type' = 'horizon'")" \
    "2024-06-01T00:00:00.000Z"
ok "the report after retention" run 0 "${AOD[@]}" "${R[@]}" -o "$W/kept.csv"
ok "  has nothing before the horizon" equals "$(cut -d, -f1 "$W/kept.csv" | grep -c '^"\?2024-0[1-5]')" 0
ok "  and the rest as before" equals "$(grep -c '2025-' "$W/kept.csv")" "$(grep -c '2025-' "$W/before.csv")"
ok "retention again drops nothing" run 0 "${AOD[@]}" retention --older-than 2y --now 2026-06-15T00:00:00Z
ok "  and records nothing" equals "$(psql_q "SELECT count(*) FROM aod.retention_log")" 1
ok "retention from the policy (6 years: nothing yet)" run 0 "${AOD[@]}" retention --policy "$DEMO_POLICY" --dry-run
ok "  says so" contains "$OUT" "Would drop 0 partitions"

# ------------------------------------------------------------ integrity
ok "a report row whose event is not stored is refused" \
    bash -c "! psql_out=\$('$PGBIN/psql' -X -q -v ON_ERROR_STOP=1 -c \"INSERT INTO aod.event_patient (patient_key, recorded, event_id, norm)
        SELECT patient_key, recorded, event_id + 1000000, norm FROM aod.event_patient LIMIT 1\" 2>&1) && echo \"\$psql_out\" | grep -q 'no such event is stored'"

finish
