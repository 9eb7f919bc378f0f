#!/usr/bin/env bash
# test_hostile_data.sh - issue 15, the lost-data and resource half: input a
# careless interface engine (or a hostile one) sends, against a real
# PostgreSQL.  One function per attack, run in the list at the bottom; each
# failed before its fix.
#
#   unreachable_key        identifier values with blanks at the ends are
#                          found by the request that names them; a control
#                          character inside is refused at load, by name
#   observerless_collision two systems reusing an id, no observer: both stored
#   bundle_garbage         invalid JSON between Bundle entries is refused with
#                          its place; an escaped "entry" key is read as entry
#   policy_attributes      a policy with 90,000 attributes is refused at once
#   recorded_wrong_type    `recorded` as a number is not reported "missing"
#   database_error_in_load a database error during load names the file, once
. "$(dirname "$0")/lib.sh"
pg_start
W="$PGTMP/hostile-data"
mkdir -p "$W"
NOW=2027-01-01T00:00:00Z
"$AODREPORT" init >/dev/null

# ev ID RECORDED [SOURCE_JSON] [ENTITY_JSON]: one AuditEvent, one line.
ev() {
    local id=$1 rec=$2 src=${3-'{"observer": {"reference": "Device/server-1"}}'}
    local ent=${4-'[{"what": {"reference": "Patient/p1"}, "role": {"code": "1"}}]'}
    printf '{"resourceType": "AuditEvent", "id": "%s", "type": {"code": "rest"}, "action": "R", "recorded": "%s", "agent": [{"who": {"reference": "Practitioner/dr1"}, "requestor": true}], "source": %s, "entity": %s}\n' \
        "$id" "$rec" "$src" "$ent"
}
ident() { # ident SYSTEM VALUE_JSON: a patient entity known by identifier only
    printf '[{"what": {"identifier": {"system": "%s", "value": %s}}, "role": {"code": "1"}}]' "$1" "$2"
}
# The demonstration policy without sessions: one line per event, which is
# what these checks count.
sed 's/sessions="true"/sessions="false"/' "$DEMO_POLICY" >"$W/no-sessions.xml"
report_lines() { # report_lines KEY: lines of the access report recorded in 2025 (not self-audits)
    "${AOD[@]}" report --policy "$W/no-sessions.xml" --patient "$1" --mode access --audience privacy-office --from 2020-01-01 \
        --now "$NOW" -o "$W/r.csv" 2>"$W/r.err" || return 1
    grep -c '^2025-' "$W/r.csv" || true
}

unreachable_key() {
    {
        ev k-1 2025-01-01T10:00:00Z '{"observer": {"reference": "Device/s"}}' "$(ident urn:x '"12345 "')"
        ev k-2 2025-01-01T11:00:00Z '{"observer": {"reference": "Device/s"}}' "$(ident urn:x '"\t67890"')"
        ev k-3 2025-01-01T12:00:00Z '{"observer": {"reference": "Device/s"}}' "$(ident 'urn:y ' '"555"')"
    } >"$W/keys.ndjson"
    ok "keys: identifiers with blanks at the ends load" run 0 "${AOD[@]}" load "$W/keys.ndjson"
    ok "keys: 'urn:x|12345 ' as typed finds the event" equals "$(report_lines 'urn:x|12345 ')" 1
    ok "keys: ... and not as 'no audit records found'" \
        bash -c '! grep -q "no audit records" "$1"' _ "$W/r.err"
    ok "keys: 'urn:x|12345' finds it too" equals "$(report_lines 'urn:x|12345')" 1
    ok "keys: a leading TAB is no part of the key" equals "$(report_lines 'urn:x|67890')" 1
    ok "keys: nor a blank after the system" equals "$(report_lines 'urn:y|555')" 1
    ok "keys: the store holds the key form" equals \
        "$(psql_q "SELECT string_agg(DISTINCT k, ',' ORDER BY k) FROM aod.audit_event, unnest(patient_keys) k WHERE fhir_id LIKE 'k-%'")" \
        "urn:x|12345,urn:x|67890,urn:y|555"

    ev k-4 2025-01-01T13:00:00Z '{"observer": {"reference": "Device/s"}}' "$(ident urn:x '"123\t45"')" \
        >"$W/key-tab.ndjson"
    ok "keys: a TAB inside an identifier is refused at load" \
        run 3 "${AOD[@]}" load "$W/key-tab.ndjson"
    ok "keys: ... naming file, line, field and why" contains "$ERR" \
        "key-tab.ndjson:1: entity[0].what.identifier: a patient identifier no report could ask for (control character"
    ok "keys: ... and nothing of it stored" \
        equals "$(psql_q "SELECT count(*) FROM aod.audit_event WHERE fhir_id = 'k-4'")" 0
}

observerless_collision() {
    # Two systems, both without source.observer, both number their events 1.
    {
        ev 1 2025-02-01T10:00:00Z '{"site": "lab"}' '[{"what": {"reference": "Patient/p2"}, "role": {"code": "1"}}]'
        ev 1 2025-02-01T10:05:00Z '{"site": "radiology"}' '[{"what": {"reference": "Patient/p2"}, "role": {"code": "1"}}]'
    } >"$W/no-observer.ndjson"
    ok "observer: load two observer-less events with one id" \
        run 0 "${AOD[@]}" load "$W/no-observer.ndjson"
    ok "observer: both stored" contains "$OUT" "2 events read, 2 stored, 0 already present"
    ok "observer: both in the patient's report" equals "$(report_lines Patient/p2)" 2
    ok "observer: loading the file again stores nothing" run 0 "${AOD[@]}" load "$W/no-observer.ndjson"
    ok "observer: ... both already present" contains "$OUT" "2 events read, 0 stored, 2 already present"
}

bundle_garbage() {
    local a b
    a=$(ev g-1 2025-03-01T10:00:00Z)
    b=$(ev g-2 2025-03-01T10:01:00Z)
    printf '{"resourceType": "Bundle", "type": "collection",\n "entry": [ , {"resource": %s}\n {"resource": %s} :, ]}\n' \
        "$a" "$b" >"$W/garbage.json"
    ok "bundle: garbage between entries is refused" run 3 "${AOD[@]}" load "$W/garbage.json"
    ok "bundle: ... with its place" contains "$ERR" "garbage.json:2:"
    ok "bundle: ... nothing stored" \
        equals "$(psql_q "SELECT count(*) FROM aod.audit_event WHERE fhir_id LIKE 'g-%'")" 0
    printf '{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": %s} {"resource": %s}]}\n' \
        "$a" "$b" >"$W/no-comma.json"
    ok "bundle: entries without a comma are refused" run 3 "${AOD[@]}" load "$W/no-comma.json"
    ok "bundle: ... saying what was expected" contains "$ERR" "no-comma.json:1:"

    printf '{"resourceType": "Bundle", "type": "collection", "entr\\u0079": [{"resource": %s}, {"resource": %s}]}\n' \
        "$a" "$b" >"$W/escaped.json"
    ok "bundle: an escaped \"entry\" key loads" run 0 "${AOD[@]}" load "$W/escaped.json"
    ok "bundle: ... as two entries" contains "$OUT" "2 events read, 2 stored"
}

policy_attributes() {
    local t0 t1
    python3 - "$W/attrs.xml" <<'PY'
import sys
attrs = " ".join('a%d="x"' % i for i in range(90000))
open(sys.argv[1], "w").write('<?xml version="1.0"?>\n<policy xmlns="urn:aodreport:policy:1" %s/>\n' % attrs)
PY
    t0=$(date +%s)
    ok "policy: 90,000 attributes (under 1 MB) are refused" \
        run 7 "${AOD[@]}" report --policy "$W/attrs.xml" --patient Patient/p1 --now "$NOW" -o "$W/p.csv"
    t1=$(date +%s)
    ok "policy: ... within seconds (not minutes)" test $((t1 - t0)) -lt 10
    ok "policy: ... naming the file and the limit" contains "$ERR" "attrs.xml"
    ok "policy: ... the limit" contains "$ERR" "attributes"
}

recorded_wrong_type() {
    ev w-1 2025-04-01T10:00:00Z | sed 's/"recorded": "[^"]*"/"recorded": 20250401/' >"$W/rec-num.ndjson"
    ok "recorded: a number is refused" run 3 "${AOD[@]}" load "$W/rec-num.ndjson"
    ok "recorded: ... as a number, not as missing" contains "$ERR" \
        "rec-num.ndjson:1: recorded: a JSON number, not a FHIR instant"
}

database_error_in_load() {
    psql_q "ALTER TABLE aod.audit_event ADD CONSTRAINT hostile_no_boom CHECK (fhir_id IS DISTINCT FROM 'boom')"
    # The refused row is early; the load is pipelined, so reading is far on
    # when the server says no.
    local i
    for i in $(seq 1 5000); do
        if [ "$i" = 11 ]; then ev boom 2025-05-01T10:00:00Z; else ev "db-$i" 2025-05-01T10:00:00Z; fi
    done >"$W/db-error.ndjson"
    ok "db error: the load fails" run 5 "${AOD[@]}" load "$W/db-error.ndjson"
    ok "db error: the message names the file and the batch's lines" \
        contains "$ERR" "db-error.ndjson:1: the database refused the events of lines 1-"
    ok "db error: ... not as database:LINE" bash -c '! grep -q "database:[0-9]" <<<"$1"' _ "$ERR"
    ok "db error: ... without libpq's raw ERROR: prefix" bash -c '! grep -q "ERROR:" <<<"$1"' _ "$ERR"
    ok "db error: ... and says it once" equals "$(grep -c hostile_no_boom <<<"$ERR")" 1
    psql_q "ALTER TABLE aod.audit_event DROP CONSTRAINT hostile_no_boom"
}

ATTACKS=(
    unreachable_key
    observerless_collision
    bundle_garbage
    policy_attributes
    recorded_wrong_type
    database_error_in_load
)
for attack in "${ATTACKS[@]}"; do
    echo "# $attack"
    "$attack"
done
finish
