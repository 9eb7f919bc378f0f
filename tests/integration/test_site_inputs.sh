#!/usr/bin/env bash
# test_site_inputs.sh - load-roster, load-patient-facts and load-care against
# a real PostgreSQL: each load replaces its list whole; a bad file names its
# line and column and changes nothing; the lists never touch the audit
# events; the loading role writes them and reads none, the reporting role
# reads them and writes none (the least-privilege roles of sql/roles.sql).
. "$(dirname "$0")/lib.sh"
pg_start
W="$PGTMP/w"
mkdir -p "$W"
chmod 777 "$W"
S="$top_srcdir/examples/sample-r4.ndjson"

rows() { psql_q "SELECT count(*) FROM $1"; }
csv() { printf '%s\r\n' "$@" >"$W/$CSV"; }

ok "init" run 0 "${AOD[@]}" init
ok "load events" run 0 "${AOD[@]}" load "$S"
events_before=$(rows aod.audit_event)

# ---------------------------------------------------------------- roster
CSV=roster.csv
csv 'staff_key,name,surname,address,department,start,end,patient_keys' \
    'Practitioner/dr-1,Ana Lopes,Lopes,"4 Oak Road, Springfield",Cardiology,2020-01-01,,' \
    'urn:users|alopes,Ana Lopes,Lopes,"4 Oak Road, Springfield",Cardiology,2020-01-01,,' \
    'Practitioner/n-7,Sara Lindqvist,Lindqvist,"12 Elm St",Cardiology,2018-01-01,2025-05-31,Patient/p1;urn:mrn|77'
ok "load-roster" run 0 "${AOD[@]}" load-roster "$W/roster.csv"
ok "says how many rows" contains "$OUT" "3 rows loaded"
ok "3 rows stored" equals "$(rows aod.roster)" 3
ok "a person's own keys as an array" \
    equals "$(psql_q "SELECT patient_keys[2] FROM aod.roster WHERE staff_key = 'Practitioner/n-7'")" 'urn:mrn|77'
ok "the quoted address kept its comma" \
    equals "$(psql_q "SELECT address FROM aod.roster WHERE staff_key = 'Practitioner/dr-1'")" '4 Oak Road, Springfield'
ok "no audit event changed" equals "$(rows aod.audit_event)" "$events_before"

# columns in another order, one row: the list is replaced whole
csv 'name,staff_key,patient_keys,surname,address,department,end,start' 'Ben,Practitioner/dr-2,,Okafor,,Radiology,,'
ok "load-roster again" run 0 "${AOD[@]}" load-roster "$W/roster.csv"
ok "the list was replaced whole" equals "$(psql_q "SELECT string_agg(staff_key, ',') FROM aod.roster")" Practitioner/dr-2

# a bad date on line 3: named, and nothing of the file is loaded
csv 'staff_key,name,surname,address,department,start,end,patient_keys' \
    'Practitioner/dr-5,A,B,,,2020-01-01,,' 'Practitioner/dr-6,C,D,,,2021-01-01,2024-02-30,'
ok "a bad date is refused" run 3 "${AOD[@]}" load-roster "$W/roster.csv"
ok "naming file, line and column" contains "$ERR" "roster.csv:3: end: '2024-02-30' is not a date"
ok "says nothing was loaded" contains "$ERR" "roster.csv"
ok "the old list stays" equals "$(psql_q "SELECT string_agg(staff_key, ',') FROM aod.roster")" Practitioner/dr-2

csv 'staff_key,name,surname,address,department,start,end,patient_keys,shoe_size' 'x,,,,,,,,42'
ok "an unknown column is refused" run 3 "${AOD[@]}" load-roster "$W/roster.csv"
ok "by name, on line 1" contains "$ERR" "roster.csv:1: shoe_size: unknown column"
csv 'staff_key,name,surname,address,department,start,patient_keys' 'x,,,,,,'
ok "a missing column is refused" run 3 "${AOD[@]}" load-roster "$W/roster.csv"
ok "by name" contains "$ERR" "end: the header lacks this column"
csv 'staff_key,name,surname,address,department,start,end,patient_keys' ',Nobody,,,,,,'
ok "an empty key is refused" run 3 "${AOD[@]}" load-roster "$W/roster.csv"
ok "with its line" contains "$ERR" "roster.csv:2: staff_key: empty"
csv 'staff_key,name,surname,address,department,start,end,patient_keys' 'x,"unclosed,,,,,,'
ok "an unclosed quote is refused" run 3 "${AOD[@]}" load-roster "$W/roster.csv"
ok "with its line" contains "$ERR" "roster.csv:2: field 2: a quoted field is not closed"
csv 'staff_key,name,surname,address,department,start,end,patient_keys' 'x,,,,,2025-01-01,2024-01-01,'
ok "an end before the start is refused" run 3 "${AOD[@]}" load-roster "$W/roster.csv"
csv 'staff_key,name,surname,address,department,start,end,patient_keys' 'x,a,b'
ok "a short row is refused" run 3 "${AOD[@]}" load-roster "$W/roster.csv"
ok "saying how many fields" contains "$ERR" "roster.csv:2: 3 fields where the header names 8"
ok "after all that the old list stays" equals "$(rows aod.roster)" 1

# ---------------------------------------------------------- patient facts
CSV=facts.csv
csv 'patient_key,surname,address,vip,deceased,employee' 'Patient/p1,Lindqvist,12 Elm St,yes,,no' \
    'urn:mrn|77,Lindqvist,,no,2025-04-01,'
ok "load-patient-facts" run 0 "${AOD[@]}" load-patient-facts "$W/facts.csv"
ok "yes and no (empty: no)" equals "$(psql_q "SELECT string_agg(vip::text || employee::text, ',' ORDER BY patient_key) FROM aod.patient_fact")" "truefalse,falsefalse"
csv 'patient_key,surname,address,vip,deceased,employee' 'Patient/p1,,,maybe,,no'
ok "a yes/no column with another word is refused" run 3 "${AOD[@]}" load-patient-facts "$W/facts.csv"
ok "naming it" contains "$ERR" "facts.csv:2: vip: 'maybe': write yes or no"
csv 'patient_key,surname,address,vip,deceased,employee' 'Patient/p1,,,,,' 'Patient/p2,,,,,' 'Patient/p1,,,,,'
ok "a patient listed twice is refused" run 3 "${AOD[@]}" load-patient-facts "$W/facts.csv"
ok "naming both lines" contains "$ERR" "facts.csv:4: patient_key: the patient is listed already, on line 2"
ok "the facts stay" equals "$(rows aod.patient_fact)" 2

# ------------------------------------------------------------------ care
CSV=care.csv
csv 'patient_key,staff_key,from,to' 'Patient/p1,Practitioner/dr-1,2025-02-01,2025-02-10' \
    'Patient/p1,Practitioner/dr-2,,'
ok "load-care" run 0 "${AOD[@]}" load-care "$W/care.csv"
ok "2 relationships" equals "$(rows aod.care_relationship)" 2
ok "an empty list is a list" run 0 "${AOD[@]}" load-care - <<<'patient_key,staff_key,from,to'
ok "and replaces the old one" equals "$(rows aod.care_relationship)" 0
ok "each load is recorded" equals "$(psql_q "SELECT count(*) FROM aod.site_input")" 5
ok "one file per load" run 2 "${AOD[@]}" load-care "$W/care.csv" "$W/care.csv"
ok "a missing file" run 6 "${AOD[@]}" load-care "$W/none.csv"
ok "is named" contains "$ERR" "none.csv"

# ------------------------------------------------------------------ roles
psql_q "CREATE ROLE owner2 LOGIN CREATEROLE; GRANT CREATE ON DATABASE aodtest TO owner2" >/dev/null
psql_q "CREATE DATABASE aodroles OWNER owner2" >/dev/null
ok "init as a plain owner" run 0 "${AOD[@]}" init --db "dbname=aodroles user=owner2"
ok "roles.sql" run 0 "$PGBIN/psql" -X -q -d aodroles -U owner2 -f "$top_srcdir/sql/roles.sql"
psql_q "CREATE ROLE etl2 LOGIN IN ROLE aod_loader; CREATE ROLE clerk2 LOGIN IN ROLE aod_reader" >/dev/null
CSV=roster.csv
csv 'staff_key,name,surname,address,department,start,end,patient_keys' 'Practitioner/dr-1,A,B,,,,,'
ok "the loader replaces the roster" run 0 "${AOD[@]}" load-roster --db "dbname=aodroles user=etl2" "$W/roster.csv"
ok "and again (DELETE, then COPY)" run 0 "${AOD[@]}" load-roster --db "dbname=aodroles user=etl2" "$W/roster.csv"
ok "the loader cannot read the roster" \
    run 1 "$PGBIN/psql" -X -q -d aodroles -U etl2 -v ON_ERROR_STOP=1 -c "SELECT * FROM aod.roster"
ok "the reporting role cannot load a list" \
    run 5 "${AOD[@]}" load-roster --db "dbname=aodroles user=clerk2" "$W/roster.csv"
ok "permission denied" contains "$ERR" "permission denied"
ok "the reporting role reads the lists" run 0 "$PGBIN/psql" -X -q -d aodroles -U clerk2 -v ON_ERROR_STOP=1 \
    -c "SELECT count(*) FROM aod.roster, aod.patient_fact, aod.care_relationship, aod.site_input"
finish
