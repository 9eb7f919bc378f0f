#!/usr/bin/env bash
# test_roles.sh - least privilege, proved against a real PostgreSQL: the
# store made by an owner that is not a superuser, sql/roles.sql run by it,
# then a login of each role does what its job needs and nothing else.
#   aod_reader: reports (its self-audit through aod.record_self_audit()),
#               no INSERT/UPDATE/DELETE/COPY anywhere, cannot load, cannot
#               record a run under another login;
#   aod_loader: loads, cannot read aod.event_patient or a resource, cannot
#               report, cannot update or delete;
#   every role: a row of aod.event_patient that its event does not back
#               (forged norm, foreign patient key, other time) is refused.
. "$(dirname "$0")/lib.sh"
pg_start
S="$top_srcdir/examples/sample-r4.ndjson"
W="$PGTMP/w"
mkdir -p "$W"
chmod 777 "$W"

# sql USER SQL: runs SQL as the login USER; its output in $OUT, its status
# is the function's.
sql() {
    local user=$1
    shift
    OUT=$("$PGBIN/psql" -X -q -t -A -v ON_ERROR_STOP=1 -U "$user" -c "$1" 2>"$PGTMP/sql.err") || {
        ERR=$(cat "$PGTMP/sql.err")
        return 1
    }
    ERR=$(cat "$PGTMP/sql.err")
}
refused() { # refused USER SQL: the statement fails with "permission denied" or a check
    if sql "$@"; then
        echo "# not refused for $1: $2" >&2
        return 1
    fi
    case $ERR in *"permission denied"* | *"disagrees with its stored event"*) return 0 ;; esac
    echo "# refused for another reason: $ERR" >&2
    return 1
}

# ------------------------------------------------- the owner and the roles
psql_q "CREATE ROLE owner LOGIN CREATEROLE; GRANT CREATE ON DATABASE aodtest TO owner;
        CREATE ROLE plain LOGIN" >/dev/null
ok "roles.sql before init stops at once" run 3 "$PGBIN/psql" -X -q -U owner -f "$top_srcdir/sql/roles.sql"
ok "and says to run init" contains "$ERR" "aodreport init"
ok "init as the owner" run 0 "${AOD[@]}" init --db "user=owner"
ok "roles.sql without CREATEROLE stops at the first error" \
    run 3 "$PGBIN/psql" -X -q -U plain -f "$top_srcdir/sql/roles.sql"
ok "and created nothing" equals "$(psql_q "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'aod\_%'")" 0
ok "roles.sql as the owner" run 0 "$PGBIN/psql" -X -q -U owner -f "$top_srcdir/sql/roles.sql"
ok "roles.sql again changes nothing" run 0 "$PGBIN/psql" -X -q -U owner -f "$top_srcdir/sql/roles.sql"
psql_q "CREATE ROLE etl LOGIN IN ROLE aod_loader; CREATE ROLE clerk LOGIN IN ROLE aod_reader;
        CREATE ROLE mallory LOGIN IN ROLE aod_reader" >/dev/null

# ------------------------------------------------------------ the loader
ok "the loader loads" run 0 "${AOD[@]}" load --db "user=etl" "$S"
ok "the loader loads again (skips what is stored)" run 0 "${AOD[@]}" load --db "user=etl" "$S"
ok "second load stored nothing" contains "$OUT" "0 stored, 36 already present"
ok "the loader cannot read event_patient" refused etl "SELECT count(*) FROM aod.event_patient"
ok "the loader cannot read a resource" refused etl "SELECT resource FROM aod.audit_event LIMIT 1"
ok "the loader cannot read the patient keys" refused etl "SELECT patient_keys FROM aod.audit_event LIMIT 1"
ok "the loader cannot update" refused etl "UPDATE aod.event_patient SET norm = norm"
ok "the loader cannot delete" refused etl "DELETE FROM aod.audit_event"
ok "the loader cannot report" run 5 "${AOD[@]}" report --db "user=etl" --policy "$DEMO_POLICY" \
    --patient Patient/example-1 -o "$W/etl.csv"
ok "the loader cannot record a self-audit" refused etl \
    "SELECT aod.record_self_audit('x', '{Patient/a}', 'access', 'patient', 'en', '2025-01-01', '2025-01-31',
        now(), now(), now(), now(), NULL, NULL, NULL, NULL, '[]')"

# --------------------------------------------------------- the reporter
ok "the reporter reports" run 0 "${AOD[@]}" report --db "user=clerk" --policy "$DEMO_POLICY" \
    --patient Patient/example-1 --now 2026-11-01T00:00:00Z -o "$W/clerk.csv"
ok "its self-audit names its login" equals "$(psql_q "SELECT resource->'agent'->0->>'altId'
    FROM aod.audit_event WHERE loaded_from = 'aodreport self-audit'" | cut -d';' -f1)" "database user clerk"
sed 's/"id": *"/&fresh-/' "$S" >"$W/fresh.ndjson"
ok "the reporter cannot load" run 5 "${AOD[@]}" load --db "user=clerk" "$W/fresh.ndjson"
ok "the reporter cannot insert an event" refused clerk \
    "INSERT INTO aod.audit_event (event_key, fhir_version, recorded, resource, loaded_from)
     VALUES ('\\x00', 'R4', now(), '{}', 'forged')"
ok "the reporter cannot insert a report row" refused clerk \
    "INSERT INTO aod.event_patient (patient_key, recorded, norm, event_id)
     SELECT 'Patient/example-1', recorded, norm, event_id FROM aod.event_patient LIMIT 1"
ok "the reporter cannot COPY in" refused clerk "COPY aod.event_patient FROM STDIN"
ok "the reporter cannot update" refused clerk "UPDATE aod.event_patient SET norm = norm"
ok "the reporter cannot delete" refused clerk "DELETE FROM aod.event_patient"
ok "the reporter cannot create objects in the schema" refused clerk "CREATE TABLE aod.x (a int)"

# A login with no aodreport role reads nothing.
ok "a login without a role reads nothing" refused plain "SELECT count(*) FROM aod.event_patient"
ok "and cannot record a self-audit" refused plain \
    "SELECT aod.record_self_audit('x', '{Patient/a}', 'access', 'patient', 'en', '2025-01-01', '2025-01-31',
        now(), now(), now(), now(), NULL, NULL, NULL, NULL, '[]')"

# ------------------------------------- the self-audit names the real login
FILES='[{"format":"csv","name":"r.csv","sha256":"'$(printf '%064d' 7)'","size":10}]'
CALL="SELECT event_id || ' ' || stored FROM aod.record_self_audit('retry-1', '{Patient/example-1}',
      'access', 'patient', 'en', '2025-01-01', '2025-01-31', '2025-01-01Z', '2025-02-01Z',
      '2025-02-01Z', now(), 'clerk', 'clerk', 'clerkhost', 'aodreport', '$FILES')"
ok "clerk records a run" sql clerk "$CALL"
clerk_id=${OUT%% *}
ok "mallory records the same run, claiming to be clerk" sql mallory "$CALL"
ok "it is stored as a run of its own" equals "${OUT#* }" "true"
ok "with an id of its own" test "${OUT%% *}" != "$clerk_id"
ok "that names mallory's login, whatever the arguments say" equals "$(psql_q "
    SELECT resource->'agent'->0->'who'->>'display' || ' / ' || (resource->'agent'->0->>'altId')
    FROM aod.audit_event WHERE fhir_id = '${OUT%% *}'")" \
    "clerk (database user mallory) / database user mallory; OS user clerk on clerkhost"
ok "clerk's exact retry is stored once" sql clerk "$CALL"
ok "  (not stored again)" equals "$OUT" "$clerk_id false"
ok "bad arguments are refused" bash -c '! "$0" -X -q -U clerk -c "SELECT aod.record_self_audit('"'x'"', '"'{}'"', '"'access'"', '"'patient'"', '"'en'"', now()::date, now()::date, now(), now(), now(), now(), NULL, NULL, NULL, NULL, '"'[]'"')" 2>/dev/null' "$PGBIN/psql"

# The stored form the function writes reads as the loader's would: load the
# same resource through the loader into another store and compare every
# field of the two norms, decoded.
as_pg "$PGBIN/createdb" -h "$PGTMP" -U postgres other
"${AOD[@]}" init --db dbname=other >/dev/null
psql_q "SELECT resource FROM aod.audit_event WHERE fhir_id = '$clerk_id'" >"$W/self.ndjson"
ok "the function's event loads through the loader" run 0 "${AOD[@]}" load --db dbname=other "$W/self.ndjson"
decoded() { # decoded DB: every field of the event's norm, decoded, one per line
    "$PGBIN/psql" -X -q -t -A -d "$1" -c "SELECT coalesce(aod.norm_field(f, true), '<NULL>')
        FROM aod.event_patient, LATERAL regexp_split_to_table(norm, E'[\\t\\n]') WITH ORDINALITY AS t(f, n)
        WHERE event_id = (SELECT id FROM aod.audit_event WHERE fhir_id = '$clerk_id') ORDER BY n"
}
decoded aodtest >"$W/function.txt"
decoded other >"$W/loader.txt"
ok "both stored forms decode to the same record" diff "$W/loader.txt" "$W/function.txt"
ok "  (and it is not empty)" test "$(wc -l <"$W/function.txt")" -gt 40

# ------------------------------------------- forged rows, as every role
# Each attempt inserts a new event (a copy of a real one of Patient/example-1
# under a fresh id, which the loader may store) and a report row for it that
# the event does not back.  The pieces are made here as the superuser.
ev=$(psql_q "SELECT event_id FROM aod.event_patient WHERE patient_key = 'Patient/example-1'
             AND event_id IN (SELECT id FROM aod.audit_event WHERE loaded_from <> 'aodreport self-audit')
             ORDER BY recorded LIMIT 1")
other=$(psql_q "SELECT id FROM aod.audit_event WHERE NOT 'Patient/example-1' = ANY (patient_keys)
                AND patient_keys <> '{}' ORDER BY id LIMIT 1")
orec=$(psql_q "SELECT quote_literal(recorded) FROM aod.audit_event WHERE id = $other")
n=0
# forge ROLE NAME NORM-SQL [KEYS-SQL]: NORM-SQL is an expression over the
# copy's norm (n) and its new id (id); KEYS-SQL the copy's patient_keys.
forge() {
    local who=$1 name=$2 normx=$3 keys=${4:-}
    n=$((n + 1))
    local fid="forged-$n" stmt
    stmt=$(psql_q "
        SELECT format('WITH e AS (INSERT INTO aod.audit_event (id, event_key, fhir_id, fhir_version, recorded,'
               ' patient_keys, resource, loaded_from) OVERRIDING SYSTEM VALUE VALUES'
               ' (nextval(pg_get_serial_sequence(''aod.audit_event'', ''id'')), %L, %L, %L, %L, %L, %L, ''forged'')'
               ' RETURNING id) INSERT INTO aod.event_patient (patient_key, recorded, norm, event_id)'
               ' SELECT k, %L, %L, id FROM e, unnest(%L::text[]) k',
               sha256(convert_to('$fid', 'UTF8')), '$fid', a.fhir_version, a.recorded,
               ${keys:-a.patient_keys}, jsonb_set(a.resource, '{id}', to_jsonb('$fid'::text)),
               a.recorded, (SELECT $normx FROM (SELECT p.norm AS n, '$fid'::text AS id) x),
               ${keys:-a.patient_keys})
        FROM aod.audit_event a JOIN aod.event_patient p ON p.event_id = a.id
        WHERE a.id = $ev LIMIT 1")
    ok "$who: $name: refused" refused "$who" "$stmt"
}
honest="replace(n, (SELECT fhir_id FROM aod.audit_event WHERE id = $ev), id)"
for who in etl owner postgres; do
    ok "$who: a row for a patient the event does not name is refused" refused "$who" \
        "INSERT INTO aod.event_patient (patient_key, recorded, norm, event_id)
         SELECT 'Patient/victim', recorded, norm, event_id FROM aod.event_patient WHERE event_id = $other LIMIT 1"
    forge "$who" "another event's norm" "n"
    forge "$who" "a norm with another action" \
        "regexp_replace($honest, '^(aod2\n(?:[^\t]*\t){6})[^\t]*', '\1E')"
    forge "$who" "a norm at another time" \
        "regexp_replace($honest, '^(aod2\n(?:[^\t]*\t){3})[0-9]+', '\1' || '1000')"
    forge "$who" "keys naming a patient the resource never mentions" \
        "regexp_replace($honest, '\t1\tPatient/example-1\n', E'\t1\tPatient/victim\n')" \
        "'{Patient/victim}'::text[]"
done
ok "the honest copy itself is accepted (the forgeries failed for what they changed)" \
    sql etl "$(psql_q "SELECT format('INSERT INTO aod.audit_event (id, event_key, fhir_id, fhir_version, recorded,'
               ' patient_keys, resource, loaded_from) OVERRIDING SYSTEM VALUE VALUES (%s, %L, %L, %L, %L, %L, %L, ''copy'');'
               ' INSERT INTO aod.event_patient (patient_key, recorded, norm, event_id) SELECT k, %L, %L, %s FROM unnest(%L::text[]) k',
               -$ev, sha256(convert_to('copy', 'UTF8')), 'copy', a.fhir_version, a.recorded, a.patient_keys,
               jsonb_set(a.resource, '{id}', '\"copy\"'), a.recorded,
               replace(p.norm, a.fhir_id, 'copy'), -$ev, a.patient_keys)
        FROM aod.audit_event a JOIN aod.event_patient p ON p.event_id = a.id WHERE a.id = $ev LIMIT 1")"
ok "no forged row is in the store" equals "$(psql_q "SELECT count(*) FROM aod.event_patient WHERE patient_key = 'Patient/victim'
    OR event_id IN (SELECT id FROM aod.audit_event WHERE loaded_from = 'forged')")" 0
psql_q "DELETE FROM aod.audit_event WHERE loaded_from = 'copy'" >/dev/null
ok "the reporter's report after the attempts is unchanged" run 0 "${AOD[@]}" report --db "user=clerk" \
    --policy "$DEMO_POLICY" --patient Patient/example-1 --now 2026-11-01T00:00:00Z -o "$W/clerk2.csv"
ok "  (same bytes)" cmp -s "$W/clerk.csv" "$W/clerk2.csv"

# ---------------------------- later migrations keep the same privileges
psql_q "SET ROLE owner; CREATE TABLE aod.later (a int);
        CREATE FUNCTION aod.later_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'" >/dev/null
ok "a later table is readable by the reporter" sql clerk "SELECT count(*) FROM aod.later"
ok "a later table is not readable by the loader" refused etl "SELECT count(*) FROM aod.later"
ok "a later table is not writable by the reporter" refused clerk "INSERT INTO aod.later VALUES (1)"
ok "a later function is not executable by others" refused plain "SELECT aod.later_fn()"

finish
