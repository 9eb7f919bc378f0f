#!/usr/bin/env bash
# test_keys.sh - one person known under several patient keys, against a real
# PostgreSQL.  With several --patient keys the store merges one ordered
# cursor per key (store.c, "Several keys"), fetched in batches of 64 rows;
# these checks make each key's history many batches long, with events named
# by one, two or all three keys, and compare what the report read with what
# SQL says the person's events are: each event exactly once, in (recorded,
# id) order.  A later key's cursor leaves out on the server the events an
# earlier key names (event_patient.other_keys); rows without other_keys, as
# a store upgraded from schema version 1 has, are read and skipped here.
. "$(dirname "$0")/lib.sh"
pg_start
W="$PGTMP/keys"
mkdir -p "$W"
NOW=2027-01-01T00:00:00Z
FROM=2023-01-01T00:00:00Z TO=2027-01-01T00:00:00Z
K1=Patient/big-1 K2='http://hospital.example.org/mrn|1900001'
K3='urn:oid:2.16.840.1.113883.4.1|999-90-0001'

"$AODREPORT" init >/dev/null
python3 "$top_srcdir/examples/generate.py" -q --seed 11 --patients 4 --events 6000 \
    --big-patient-events 4000 -o "$W/events.ndjson"
"$AODREPORT" load "$W/events.ndjson" >/dev/null

# The record ids the report read, in its order: `explain` has one line per
# stored record (first column); its own self-audit comes after the read.
read_ids() { # read_ids KEY...
    local args=() k
    for k in "$@"; do args+=(--patient "$k"); done
    "${AOD[@]}" explain --policy "$DEMO_POLICY" "${args[@]}" --mode access --from "$FROM" --to "$TO" --now "$NOW" \
        -o "$W/explain.csv" && tail -n +2 "$W/explain.csv" | cut -d, -f1
}
# What SQL says: every event any of the keys names, once, in report order
# (the self-audits of earlier reports included: the report reads them too).
sql_ids() { # sql_ids KEY...
    local list='' k
    for k in "$@"; do list="$list${list:+, }'${k//\'/\'\'}'"; done
    psql_q "SELECT id FROM aod.audit_event WHERE id IN (SELECT event_id FROM aod.event_patient
            WHERE patient_key IN ($list) AND recorded >= '$FROM' AND recorded < '$TO')
            ORDER BY recorded, id"
}

n1=$(psql_q "SELECT count(*) FROM aod.event_patient WHERE patient_key = '$K1'")
n2=$(psql_q "SELECT count(*) FROM aod.event_patient WHERE patient_key = '${K2//\'/\'\'}'")
both=$(psql_q "SELECT count(*) FROM aod.event_patient a JOIN aod.event_patient b USING (event_id)
               WHERE a.patient_key = '$K1' AND b.patient_key = '${K2//\'/\'\'}'")
ok "the data spans several fetch batches per key, with shared events" \
    test "$n1" -gt 1024 -a "$n2" -gt 1024 -a "$both" -gt 512

want=$(sql_ids "$K1" "$K2" "$K3")
got=$(read_ids "$K1" "$K2" "$K3")
ok "three keys: the events of all three" test "$(echo "$want" | wc -l)" -gt "$n1"
ok "three keys: each event once, in (recorded, id) order" equals "$got" "$want"
ok "three keys: as many lines as events" \
    equals "$(echo "$got" | wc -l)" "$(echo "$want" | sort -u | wc -l)"

want=$(sql_ids "$K1" "$K2" "$K3")
got=$(read_ids "$K3" "$K2" "$K1")
ok "the keys' order does not matter" equals "$got" "$want"

want=$(sql_ids "$K1" "$K2" "$K3")
got=$(read_ids "$K1" "$K2" "$K3" "$K1" 'Patient/nobody')
ok "a repeated key and a key without events change nothing" equals "$got" "$want"

want=$(sql_ids "$K1" "$K2")
got=$(read_ids "$K2" "$K1")
ok "two keys" equals "$got" "$want"

want=$(sql_ids "$K1")
got=$(read_ids "$K1")
ok "one key (single-row path)" equals "$got" "$want"

got=$(read_ids 'Patient/nobody-else' 'Patient/nobody-either')
ok "keys without events: nothing read" equals "$got" ""

# The connection is usable after the merge: the self-audit that follows it
# on the same connection has been written for each report above.
audits=$(psql_q "SELECT count(*) FROM aod.audit_event WHERE loaded_from = 'aodreport self-audit'")
ok "every report was self-audited after its read" equals "$audits" 6

# --- other_keys: what the server filters on
bad=$(psql_q "SELECT count(*) FROM aod.event_patient p JOIN aod.audit_event a ON a.id = p.event_id
              WHERE p.other_keys IS DISTINCT FROM
                    nullif(array_remove(a.patient_keys, p.patient_key), '{}')")
named=$(psql_q "SELECT count(*) FROM aod.event_patient WHERE other_keys IS NOT NULL")
ok "the loader names each row's other patient keys (NULL when none)" \
    test "$bad" = 0 -a "$named" -ge "$both"

# An event only K2 names, its row made to claim K1 as well: a cursor for K2
# after K1 must leave it out, which only the server's filter does (K1's
# cursor never returns it); with K2 first it is read.
only2=$(psql_q "SELECT event_id FROM aod.event_patient WHERE patient_key = '${K2//\'/\'\'}'
                AND other_keys IS NULL ORDER BY recorded, event_id LIMIT 1 OFFSET 100")
psql_q "UPDATE aod.event_patient SET other_keys = ARRAY['$K1']
        WHERE event_id = $only2" >/dev/null
ok "a later key's cursor does not send an event an earlier key names" \
    equals "$(read_ids "$K1" "$K2" | grep -cx "$only2")" 0
ok "the first key's cursor sends all of its events" \
    equals "$(read_ids "$K2" "$K1" | grep -cx "$only2")" 1
psql_q "UPDATE aod.event_patient SET other_keys = NULL WHERE event_id = $only2" >/dev/null

# A store made by schema version 1 and upgraded: its rows have no
# other_keys, so every key's cursor sends everything and the merge skips.
# The store is made anew by migration 001 alone, with the same rows, so
# that init runs every later migration on a store that holds events
# (migration 005 attaches the old tables as they are).
psql_q "CREATE TABLE public.keep_ae AS SELECT * FROM aod.audit_event;
        CREATE TABLE public.keep_ep AS SELECT patient_key, recorded, event_id, norm_version, norm
          FROM aod.event_patient;
        DROP SCHEMA aod CASCADE; CREATE SCHEMA aod;
        CREATE TABLE aod.schema_version (version integer PRIMARY KEY, name text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now())" >/dev/null 2>&1
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -f "$top_srcdir/sql/001_store.sql" >/dev/null 2>&1
psql_q "INSERT INTO aod.schema_version VALUES (1, 'sql/001_store.sql');
        INSERT INTO aod.audit_event OVERRIDING SYSTEM VALUE SELECT * FROM public.keep_ae;
        INSERT INTO aod.event_patient SELECT * FROM public.keep_ep;
        SELECT setval(pg_get_serial_sequence('aod.audit_event', 'id'), (SELECT max(id) FROM aod.audit_event));
        DROP TABLE public.keep_ae, public.keep_ep" >/dev/null
ok "a report on a version 1 store is refused" \
    run 5 "${AOD[@]}" report --policy "$DEMO_POLICY" --patient "$K1" --from "$FROM" --to "$TO" --now "$NOW" -o "$W/r.csv"
ok "the refusal says to run init" contains "$ERR" "schema version 1, this program needs $SCHEMA_VERSION: run 'aodreport init'"
ok "and leaves no file" test ! -e "$W/r.csv"
ok "init upgrades a version 1 store" run 0 "${AOD[@]}" init
ok "init says it applied the later migrations" contains "$OUT" "applied $((MIGRATION_FILES - 1)) migrations, schema version $SCHEMA_VERSION"
ok "the old tables became one partition each" \
    equals "$(psql_q "SELECT string_agg(partition::text, ' ' ORDER BY partition::text) FROM aod.partition_info WHERE lo IS NULL")" \
    "aod.audit_event_legacy aod.event_patient_legacy"
ok "upgraded rows have no other_keys" \
    equals "$(psql_q 'SELECT count(*) FROM aod.event_patient WHERE other_keys IS NOT NULL')" 0
want=$(sql_ids "$K1" "$K2" "$K3")
got=$(read_ids "$K2" "$K3" "$K1")
ok "upgraded store: each event once, in order" equals "$got" "$want"

finish
