#!/usr/bin/env bash
# test_shards.sh - the store beyond one server (issue 18 point 5;
# sql/shard_coordinator.sql, sql/shard_member.sql; doc/store.md,
# "Sharding"): three shard servers and a coordinator, each a throwaway
# PostgreSQL on a unix socket.  Events are loaded through the coordinator;
# each patient's report rows land on the shard its key hashes to (as
# `batch --shard K/3` counts); a report through the coordinator, through
# the patient's shard and from a single-server store of the same events
# are byte for byte the same; a one-patient report reads one shard only
# (EXPLAIN VERBOSE); shard K's month batch run on shard K makes what
# `batch --shard K/3` makes through the coordinator.
. "$(dirname "$0")/lib.sh"
pg_start
W="$PGTMP/w"
mkdir -p "$W"
COORD="host=$PGTMP dbname=aodtest"

shard_stop() {
    local k
    for k in 1 2 3; do
        [ -d "$PGTMP/s$k/data" ] && as_pg "$PGBIN/pg_ctl" -D "$PGTMP/s$k/data" -m immediate -w stop >/dev/null 2>&1
    done
    pg_stop
}
trap shard_stop EXIT
for k in 1 2 3; do
    mkdir -p "$PGTMP/s$k"
    [ "$(id -u)" = 0 ] && chmod 1777 "$PGTMP/s$k"
    as_pg "$PGBIN/initdb" -D "$PGTMP/s$k/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$PGTMP/s$k/initdb.log" 2>&1 || { cat "$PGTMP/s$k/initdb.log" >&2; exit 1; }
    as_pg "$PGBIN/pg_ctl" -D "$PGTMP/s$k/data" -l "$PGTMP/s$k/server.log" -w \
        -o "-k $PGTMP/s$k -c listen_addresses='' -c fsync=off -c synchronous_commit=off" \
        start >/dev/null || { cat "$PGTMP/s$k/server.log" >&2; exit 1; }
    as_pg "$PGBIN/createdb" -h "$PGTMP/s$k" -U postgres aodtest
    "${AOD[@]}" init --db "host=$PGTMP/s$k dbname=aodtest" >/dev/null
    "$PGBIN/psql" -X -q -h "$PGTMP/s$k" -f "$top_srcdir/sql/shard_member.sql"
done
shard_db() { echo "host=$PGTMP/s$1 dbname=aodtest"; }
on_shard() { "$PGBIN/psql" -X -q -t -A -v ON_ERROR_STOP=1 -h "$PGTMP/s$1" -c "$2"; }

"${AOD[@]}" init >/dev/null
psql_q "CREATE EXTENSION postgres_fdw" >/dev/null
for k in 1 2 3; do
    psql_q "CREATE SERVER aod_shard_$k FOREIGN DATA WRAPPER postgres_fdw
              OPTIONS (host '$PGTMP/s$k', dbname 'aodtest');
            CREATE USER MAPPING FOR PUBLIC SERVER aod_shard_$k OPTIONS (user 'postgres')" >/dev/null
done
ok "the coordinator is made" run 0 "$PGBIN/psql" -X -q -v shards=3 -f "$top_srcdir/sql/shard_coordinator.sql"

# A single-server store of the same events, to compare with.
as_pg "$PGBIN/createdb" -h "$PGTMP" -U postgres single
SINGLE="host=$PGTMP dbname=single"
"${AOD[@]}" init --db "$SINGLE" >/dev/null

python3 "$top_srcdir/examples/generate.py" -q --seed 11 --patients 30 --events 3000 \
    --big-patient-events 300 -o "$W/ev.ndjson" >/dev/null
ok "load through the coordinator" run 0 "${AOD[@]}" load "$W/ev.ndjson"
ok "  stores every event" contains "$OUT" "3000 events read, 3000 stored"
"${AOD[@]}" load --db "$SINGLE" "$W/ev.ndjson" >/dev/null

total=$(psql_q "SELECT count(*) FROM aod.event_patient")
ok "the report rows are all on the shards" equals "$total" \
    "$(psql_q "SELECT count(*) FROM aod.event_patient" -d single)"
sum=0
for k in 1 2 3; do
    n=$(on_shard $k "SELECT count(*) FROM aod.event_patient")
    ok "shard $k holds rows" test "$n" -gt 0
    sum=$((sum + n))
    # the shard of each of its keys, as batch --shard counts it
    wrong=$(psql_q "SELECT count(*) FROM aod.event_patient_shard_$k WHERE aod.shard_of(patient_key, 3) <> $k")
    ok "shard $k holds only its own patients' rows" equals "$wrong" 0
done
ok "each row on one shard" equals "$sum" "$total"
ok "the coordinator keeps no report row of its own" \
    equals "$(psql_q "SELECT count(*) FROM pg_class WHERE relname LIKE 'event_patient_2%'")" 0

R=(report --policy "$DEMO_POLICY" --mode access --from 2024-01-01 --to 2025-12-31 --now 2026-01-01T00:00:00Z --format csv)
same=0
tried=0
for p in $(psql_q "SELECT DISTINCT patient_key FROM aod.event_patient_shard_1 WHERE patient_key LIKE 'Patient/%'
                   UNION SELECT DISTINCT patient_key FROM aod.event_patient_shard_2 WHERE patient_key LIKE 'Patient/%'
                   UNION SELECT DISTINCT patient_key FROM aod.event_patient_shard_3 WHERE patient_key LIKE 'Patient/%'
                   ORDER BY 1 LIMIT 12"); do
    k=$(psql_q "SELECT aod.shard_of('$p', 3)")
    tried=$((tried + 1))
    "${AOD[@]}" "${R[@]}" --patient "$p" -o "$W/c.csv" >/dev/null
    "${AOD[@]}" "${R[@]}" --db "$(shard_db $k)" --patient "$p" -o "$W/s.csv" >/dev/null
    "${AOD[@]}" "${R[@]}" --db "$SINGLE" --patient "$p" -o "$W/1.csv" >/dev/null
    if cmp -s "$W/c.csv" "$W/s.csv" && cmp -s "$W/c.csv" "$W/1.csv" && [ "$(wc -l <"$W/c.csv")" -gt 1 ]; then
        same=$((same + 1))
    else
        echo "# $p (shard $k) differs" >&2
    fi
done
ok "12 patients: coordinator, shard and single server give the same report" equals "$same/$tried" "12/12"

# A person known by three keys, which hash to different shards: the
# coordinator reads each key from its shard and merges.
BIG=(--patient Patient/big-1 --patient 'http://hospital.example.org/mrn|1900001'
     --patient 'urn:oid:2.16.840.1.113883.4.1|999-90-0001')
ok "the keys of Patient/big-1 are on more than one shard" test "$(psql_q "SELECT count(DISTINCT aod.shard_of(k, 3))
    FROM unnest(ARRAY['Patient/big-1', 'http://hospital.example.org/mrn|1900001', 'urn:oid:2.16.840.1.113883.4.1|999-90-0001']) k")" -gt 1
"${AOD[@]}" "${R[@]}" "${BIG[@]}" -o "$W/big-c.csv" >/dev/null
"${AOD[@]}" "${R[@]}" "${BIG[@]}" --db "$SINGLE" -o "$W/big-1.csv" >/dev/null
ok "  their report through the coordinator is the single server's" cmp "$W/big-c.csv" "$W/big-1.csv"

# One patient's query through the coordinator: one foreign scan, on the
# patient's shard, with the whole WHERE and ORDER BY sent there.
k=$(psql_q "SELECT aod.shard_of('Patient/big-1', 3)")
plan=$(psql_q "EXPLAIN VERBOSE SELECT event_id, norm, recorded FROM aod.event_patient
    WHERE patient_key = 'Patient/big-1' AND recorded >= '2024-01-01' AND recorded < '2026-01-01'
    ORDER BY recorded, event_id")
echo "$plan" | sed 's/^/#   /'
ok "one patient: one foreign scan" equals "$(echo "$plan" | grep -c 'Foreign Scan')" 1
ok "  on its shard" contains "$plan" "Foreign Scan on aod.event_patient_shard_$k"
ok "  the key and the period go to the shard" contains "$plan" "AND ((patient_key = 'Patient/big-1'))"
ok "  which sorts them" contains "$plan" "ORDER BY recorded ASC NULLS LAST, event_id ASC NULLS LAST"
ok "  (no Sort here)" equals "$(echo "$plan" | grep -c '^ *Sort')" 0

# The month's batch: shard K's part, run on shard K, is what --shard K/3
# makes through the coordinator (and each shard's patients are exactly its
# part).
B=(batch -q --policy "$DEMO_POLICY" --month 2025-06 --formats csv --now 2026-01-01T00:00:00Z)
for k in 1 2 3; do
    "${AOD[@]}" "${B[@]}" --shard "$k/3" --out-dir "$W/bc$k" >/dev/null
    "${AOD[@]}" "${B[@]}" --shard "$k/3" --db "$(shard_db $k)" --out-dir "$W/bs$k" >/dev/null
    "${AOD[@]}" "${B[@]}" --db "$(shard_db $k)" --out-dir "$W/ba$k" >/dev/null
    ok "batch shard $k/3: on shard $k, the coordinator's reports" \
        diff -r -x 'manifest*' "$W/bc$k" "$W/bs$k"
    ok "  shard $k's patients are exactly shard $k/3" \
        diff -r -x 'manifest*' "$W/bs$k" "$W/ba$k"
    ok "  and not none" test "$(find "$W/bs$k" -name '*.csv' | wc -l)" -gt 0
done

# The coordinator's integrity check reaches the shards' rows.
ok "a report row whose event is not stored is refused through the coordinator" \
    bash -c "! '$PGBIN/psql' -X -q -v ON_ERROR_STOP=1 -c \"INSERT INTO aod.event_patient (patient_key, recorded, event_id, norm)
        SELECT patient_key, recorded, event_id + 1000000, norm FROM aod.event_patient LIMIT 1\" 2>'$W/e' && grep -q 'no such event is stored' '$W/e'"

finish
