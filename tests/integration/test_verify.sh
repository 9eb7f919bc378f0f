#!/usr/bin/env bash
# test_verify.sh - `aodreport verify`: "did this person open this patient's
# record?" against a real PostgreSQL.  The answer must be yes or no with the
# right dates, name nobody else, agree with the access report, have its own
# exit code for "no", and be recorded as a self-audit like every report.
. "$(dirname "$0")/lib.sh"
pg_start
EVENTS="$top_srcdir/tests/data/verify/events.ndjson"

"$AODREPORT" init >/dev/null
"$AODREPORT" load "$EVENTS" >/dev/null
V=(verify --policy "$DEMO_POLICY" --from 2025-01-01 --now 2025-12-31T00:00:00Z)
self_audits() { psql_q "SELECT count(*) FROM aod.audit_event WHERE loaded_from = 'aodreport self-audit'"; }

# Yes, by name: case, accents and blanks aside.
before=$(self_audits)
ok "a name is matched whatever its case and accents" \
    run 0 "${AOD[@]}" "${V[@]}" --patient Patient/p1 --person "  dr.  ANA lopes "
ok "the answer is yes, with the count" contains "$OUT" "Yes: 2 accesses"
ok "the first access's date and time" contains "$OUT" "2025-02-01T14:00:00+00:00"
ok "the last access's date and time" contains "$OUT" "2025-03-10T16:30:00+00:00"
ok "the kinds of data seen" contains "$OUT" "Observation"
ok "and the other kind" contains "$OUT" "DiagnosticReport"
ok "the record as it names the person" contains "$OUT" "as recorded: Dr. Ana Lópes, physician, Cardiology"
ok "nobody else is named (the nurse)" bash -c '! grep -q "Παπαδόπουλος\|rn-2\|nurse" <<<"$1"' _ "$OUT"
ok "nobody else is named (the clerk)" bash -c '! grep -q "Bob\|clerk" <<<"$1"' _ "$OUT"
ok "another patient's record does not count" bash -c '! grep -q "2025-04-01" <<<"$1"' _ "$OUT"
ok "the question is recorded as a self-audit" equals "$(self_audits)" "$((before + 1))"
ok "as a verify of patient p1" equals "$(psql_q "SELECT count(*) FROM aod.audit_event
    WHERE loaded_from = 'aodreport self-audit' AND resource::text LIKE '%verify-text%'
      AND resource::text LIKE '%Patient/p1%'")" 1
# Who asked about whom: the person asked about is in the self-audit event
# (an entity of type Person, object-role 6 User, named as asked), so the
# privacy office can audit the questions themselves.
ok "the person asked about is recorded in the self-audit" equals "$(psql_q "SELECT count(*)
    FROM aod.audit_event a, jsonb_array_elements(a.resource->'entity') e
    WHERE a.loaded_from = 'aodreport self-audit' AND a.resource::text LIKE '%verify-text%'
      AND e->'role'->>'code' = '6' AND e->>'name' = '  dr.  ANA lopes '")" 1
ok "and the store's compact form of it reads back" run 0 "${AOD[@]}" report --policy "$DEMO_POLICY" \
    --from 2025-01-01 --now 2025-12-31T00:00:00Z --patient Patient/p1 --mode access \
    --audience privacy-office

# Yes, by key.
ok "a reference matches" run 0 "${AOD[@]}" "${V[@]}" --patient Patient/p1 --person Practitioner/dr-1
ok "the same answer" contains "$OUT" "Yes: 2 accesses"
ok "an identifier matches" run 0 "${AOD[@]}" "${V[@]}" --patient Patient/p1 \
    --person "http://hospital.example.org/staff|E100"
ok "an identifier value under any system" run 0 "${AOD[@]}" "${V[@]}" --patient Patient/p1 --person "|E100"
ok "another patient: one access" run 0 "${AOD[@]}" "${V[@]}" --patient Patient/p2 --person "dr. ana lópes"
ok "on its own day" contains "$OUT" "Yes: 1 access, the first at 2025-04-01"

ok "the name without its title is not a match" run 15 "${AOD[@]}" "${V[@]}" --patient Patient/p1 \
    --person "Ana Lópes"
# No: exit 15, which scripts tell from yes (0) and from an error (others).
ok "part of a name is not a match" run 15 "${AOD[@]}" "${V[@]}" --patient Patient/p1 --person Ana
ok "the answer is no" contains "$OUT" "No: no access by this person is recorded in the period."
ok "a wrong identifier system is not a match" run 15 "${AOD[@]}" "${V[@]}" --patient Patient/p1 \
    --person "http://other.example.org/staff|E100"
ok "outside the period: no" run 15 "${AOD[@]}" "${V[@]}" --patient Patient/p1 --person "bob smith" \
    --to 2025-04-30
ok "inside it: yes" run 0 "${AOD[@]}" "${V[@]}" --patient Patient/p1 --person "bob smith"
ok "a no is recorded too (ten questions, ten records)" equals "$(psql_q "SELECT count(*) FROM aod.audit_event
    WHERE loaded_from = 'aodreport self-audit' AND resource::text LIKE '%verify-text%'")" 10

# JSON for scripts.
ok "--json" run 0 "${AOD[@]}" "${V[@]}" --patient Patient/p1 --person Practitioner/dr-1 --json
ok "says yes" contains "$OUT" '"answer": "yes"'
ok "and names nobody else" bash -c '! grep -q "Παπαδόπουλος\|Bob\|rn-2\|clerk" <<<"$1"' _ "$OUT"
ok "with two lines" equals "$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(len(d["lines"]), d["accesses"], d["lines"][0]["first"])' "$OUT")" \
    "2 2 2025-02-01T14:00:00+00:00"
ok "recorded as verify-json" equals "$(psql_q "SELECT count(*) FROM aod.audit_event
    WHERE resource::text LIKE '%verify-json%'")" 1
ok "--json no" run 15 "${AOD[@]}" "${V[@]}" --patient Patient/p1 --person nobody --json
ok "says no" contains "$OUT" '"answer": "no"'

# The access report agrees: Dr. Lópes has as many lines there as here.
ok "the access report" run 0 "${AOD[@]}" report --policy "$DEMO_POLICY" --from 2025-01-01 \
    --now 2025-12-31T00:00:00Z --patient Patient/p1 --mode access --audience privacy-office
ok "shows her on the same number of lines" equals "$(grep -c 'Ana Lópes' <<<"$OUT")" 2

# No answer: an error is never a "no".
ok "--person is required" run 2 "${AOD[@]}" "${V[@]}" --patient Patient/p1
ok "an unreachable database is not a no" run 4 "${AOD[@]}" "${V[@]}" --patient Patient/p1 \
    --person Ana --db "host=$PGTMP dbname=no_such_db"
ok "and prints no answer" equals "$OUT" ""

finish
