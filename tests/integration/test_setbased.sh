#!/usr/bin/env bash
# test_setbased.sh - what the store's set-based statements must keep (issue
# 18): the integrity check of a whole statement, and the batch's self-audit
# (migration 009) against the one-run function:
#  - every kind of row the integrity trigger refuses is refused with the
#    words aod.norm_disagreement() (the row-by-row check) gives for it, and
#    honest rows, alone or several per statement, are accepted (any faster
#    form of the trigger must keep this);
#  - aod.record_self_audits() stores, for the same runs, the same events and
#    report rows as aod.record_self_audit() called once per run (times
#    aside: a group shares one recorded time), says the same "stored", and
#    refuses a bad run with the whole group.
. "$(dirname "$0")/lib.sh"
pg_start
W="$PGTMP/w"
mkdir -p "$W"
"${AOD[@]}" init >/dev/null
"${AOD[@]}" load "$top_srcdir/tests/data/load/good-r4.ndjson" >/dev/null
"${AOD[@]}" load "$top_srcdir/tests/data/load/good-bundle.json" >/dev/null

# ------------------------------------------------ the integrity check
# One real row (ev) and its event; copies of the event under new ids with
# one thing changed, made as the superuser (the trigger is on event_patient
# only).  Each case is a row to insert and what it should be refused for.
ev=$(psql_q "SELECT min(event_id) FROM aod.event_patient")
other=$(psql_q "SELECT max(event_id) FROM aod.event_patient WHERE event_id <> $ev")
copy() { # copy FHIR_ID KEYS-SQL RESOURCE-SQL: a copy of event ev; prints its id
    psql_q "INSERT INTO aod.audit_event (event_key, fhir_id, fhir_version, recorded, patient_keys, resource, loaded_from)
            SELECT sha256(convert_to('$1', 'UTF8')), '$1', fhir_version, recorded, $2,
                   jsonb_set($3, '{id}', to_jsonb('$1'::text)), 'copy'
              FROM aod.audit_event a WHERE id = $ev RETURNING id"
}
c_honest=$(copy c1 patient_keys resource)
c_nowhere=$(copy c2 "patient_keys || '{Patient/absent}'" resource)
c_agents=$(copy c3 patient_keys "jsonb_set(resource, '{agent}', (resource->'agent') || (resource->'agent'->0))")
c_aod3=$(copy c5 patient_keys resource)
c_keys=$(copy c4 "patient_keys || '{Patient/also}'" "jsonb_set(resource, '{note}', '\"Patient/also\"')")
psql_q "CREATE TABLE public.forge (label text, patient_key text, recorded timestamptz, event_id bigint, norm text);
        INSERT INTO public.forge
        SELECT f.label, coalesce(f.key, p.patient_key), p.recorded + f.shift, coalesce(f.eid, $c_honest),
               replace(f.norm, '@ID', coalesce((SELECT fhir_id FROM aod.audit_event WHERE id = f.eid), 'c1'))
          FROM (SELECT * FROM aod.event_patient WHERE event_id = $ev ORDER BY patient_key LIMIT 1) p
          CROSS JOIN LATERAL (SELECT replace(p.norm, (SELECT fhir_id FROM aod.audit_event WHERE id = $ev), '@ID') AS h) h
          CROSS JOIN LATERAL (VALUES
            ('a key the event does not have', 'Patient/victim', interval '0', NULL::bigint, h.h),
            ('a key the resource never mentions', 'Patient/absent', interval '0', $c_nowhere, h.h),
            ('not a stored record', NULL, interval '0', NULL, 'aod9' || substr(h.h, 5)),
            ('not even a record line', NULL, interval '0', NULL, 'aod2' || E'\n' || 'X'),
            ('another event''s norm', NULL, interval '0', NULL,
                 (SELECT norm FROM aod.event_patient WHERE event_id = $other LIMIT 1)),
            ('another action', NULL, interval '0', NULL,
                 regexp_replace(h.h, '^(aod2\n(?:[^\t]*\t){6})[^\t]*', '\1E')),
            ('another time in norm', NULL, interval '0', NULL,
                 regexp_replace(h.h, '^(aod2\n(?:[^\t]*\t){3})[0-9]+', '\1' || '1000')),
            ('another number of agents', NULL, interval '0', $c_agents, h.h),
            ('a field too many', NULL, interval '0', NULL,
                 regexp_replace(h.h, '^(aod2\n[^\n]*)', '\1' || E'\t') ),
            ('keys in norm other than the event''s', NULL, interval '0', $c_keys, h.h),
            ('accepted: a record in the aod3 form (migration 007)', NULL, interval '0', $c_aod3,
                 'aod3' || substr(h.h, 5)),
            ('an event not stored', NULL, interval '0', 999999999, h.h),
            ('another recorded time than the event''s', NULL, interval '1 second', NULL, h.h)
          ) AS f(label, key, shift, eid, norm)" >/dev/null
# What the row-by-row check says of each (the event joined as the trigger
# joins it: by id and recorded).
want_why() {
    psql_q "SELECT coalesce(CASE WHEN e.id IS NULL THEN 'no such event is stored'
                                 ELSE aod.norm_disagreement(f.norm, f.patient_key, f.recorded, e) END, 'accepted')
              FROM public.forge f LEFT JOIN aod.audit_event e ON e.id = f.event_id AND e.recorded = f.recorded
             WHERE f.label = \$\$$1\$\$"
}
got_why() {
    local out
    if out=$("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -c "INSERT INTO aod.event_patient (patient_key, recorded, norm, event_id)
                SELECT patient_key, recorded, norm, event_id FROM public.forge WHERE label = \$\$$1\$\$" 2>&1); then
        echo accepted
    else
        echo "$out" | sed -n 's/^ERROR: .*disagrees with its stored event: //p'
    fi
}
sql_ok() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -c "$1" >/dev/null; }
n_cases=0
while IFS= read -r label; do
    want=$(want_why "$label")
    case $label in
    accepted:*) ok "$label: accepted" test "$want" = accepted ;;
    *) ok "$label: refused" test "$want" != accepted ;;
    esac
    ok "$label: as the row-by-row check says ($want)" equals "$(got_why "$label")" "$want"
    n_cases=$((n_cases + 1))
done < <(psql_q "SELECT label FROM public.forge ORDER BY label")
ok "every case was tried" test "$n_cases" = 13
ok "the cases cover every reason the check gives" equals \
    "$(psql_q "SELECT count(DISTINCT coalesce(CASE WHEN e.id IS NULL THEN 'no such event is stored'
                     ELSE aod.norm_disagreement(f.norm, f.patient_key, f.recorded, e) END, 'accepted'))
                 FROM public.forge f LEFT JOIN aod.audit_event e ON e.id = f.event_id AND e.recorded = f.recorded")" 10
ok "a bad row among good ones fails the whole statement" bash -c '"$0" -X -q -c "
    INSERT INTO aod.event_patient (patient_key, recorded, norm, event_id)
    SELECT k, a.recorded, replace(p.norm, (SELECT fhir_id FROM aod.audit_event WHERE id = '"$ev"'), a.fhir_id), a.id
      FROM aod.audit_event a, unnest(a.patient_keys) k,
           (SELECT norm FROM aod.event_patient WHERE event_id = '"$ev"' LIMIT 1) p
     WHERE a.id = '"$c_honest"'
    UNION ALL SELECT patient_key, recorded, norm, event_id FROM public.forge WHERE label = \$\$a key the event does not have\$\$" 2>&1 | grep -q disagrees' "$PGBIN/psql"
ok "nothing of it is stored" equals "$(psql_q "SELECT count(*) FROM aod.event_patient WHERE event_id = $c_honest")" 0
ok "honest rows, every key of the event in one statement, are accepted" sql_ok "
    INSERT INTO aod.event_patient (patient_key, recorded, norm, event_id)
    SELECT k, a.recorded, replace(p.norm, (SELECT fhir_id FROM aod.audit_event WHERE id = $ev), a.fhir_id), a.id
      FROM aod.audit_event a, unnest(a.patient_keys) k,
           (SELECT norm FROM aod.event_patient WHERE event_id = $ev LIMIT 1) p
     WHERE a.id = $c_honest"
ok "  (all of them)" equals "$(psql_q "SELECT count(*) FROM aod.event_patient WHERE event_id = $c_honest")" \
    "$(psql_q "SELECT cardinality(patient_keys) FROM aod.audit_event WHERE id = $c_honest")"

# ------------------------------------------------ the self-audit, by groups
# Runs exercising every branch of the function: identifiers with and
# without a system, references with and without a type, characters norm
# escapes, several files (twelve, the most since migration 008), verify's
# subjects (two, one twice), each kind and
# audience, NULLs, a start in the future (then the period starts when it is
# recorded), the same run twice, and a run stored before.
f() { # f FORMAT NAME-SQL HEX-DIGIT SIZE [SUBJECT-SQL]: one file's JSON object, as SQL
    echo "jsonb_build_object('format', '$1', 'name', $2, 'sha256', repeat('$3', 64), 'size', $4${5:+, 'subject', $5})"
}
cat >"$W/runs.sql" <<SQL
CREATE TABLE public.runs AS
SELECT * FROM (VALUES
  (1, 'r1', '{Patient/a}'::text[], 'access', 'patient', 'en', 'op', 'alice', 'h1',
   jsonb_build_array($(f csv "'a.csv'" a 10)), '2026-01-01 10:00+00'),
  (2, 'r2', ARRAY['urn:oid:1.2|12 34', '|naked', 'Patient/b', E'Patient/t\\tab', 'Patient/back\\slash'], 'disclosures', 'privacy-office',
   NULL, NULL, NULL, NULL,
   jsonb_build_array($(f pdf "'b.pdf'" b 0), $(f csv-completeness "E'b\\tback\\\\\\\\slash\\x01.csv'" c 123456789012)),
   '2026-01-01 10:00+00'),
  (3, 'r3', ARRAY['noslash', 'Patient/c d'], 'explain', 'privacy-office', 'es', E'Op\\tTab', 'bob', 'h2',
   jsonb_build_array($(f verify-json "'v.json'" d 5 "'Zoe Q'"), $(f verify-text "'v.txt'" e 6 "E'Adam \\x01 Z'"),
                     $(f verify-text "'w.txt'" f 7 "'Zoe Q'")),
   '2026-01-01 10:00+00'),
  (4, 'r4', '{Patient/e,Patient/e}', 'access', 'privacy-office', '', '', '', '',
   jsonb_build_array($(f html "'e.html'" 0 1)), '2999-01-01 00:00+00'),
  (5, 'r1', '{Patient/a}', 'access', 'patient', 'en', 'op', 'alice', 'h1',
   jsonb_build_array($(f csv "'a.csv'" a 10)), '2026-01-01 10:00+00'),
  (6, 'r0', '{Patient/a}', 'access', 'patient', 'en', 'op', 'alice', 'h1',
   jsonb_build_array($(f csv "'z.csv'" 9 10)), '2026-01-01 10:00+00'),
  (7, 'r7', '{Patient/g}', 'access', 'patient', 'en', 'op', 'alice', 'h1',
   (SELECT jsonb_agg(jsonb_build_object('format', 'csv', 'name', 'f' || g || '.csv', 'sha256', repeat('1', 64),
                                        'size', g) ORDER BY g) FROM generate_series(1, 12) g), '2026-01-01 10:00+00')
) AS r(o, retry, keys, kind, audience, lang, op, osu, host, files, started);
SQL
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -f "$W/runs.sql" >/dev/null
psql_q "SELECT string_agg(o || ': ' || keys::text || ' ' || files::text, E'\\n' ORDER BY o) FROM public.runs" >"$W/runs.txt"
ok "the runs carry what norm must escape" bash -c 'grep -q "b\\\\tback.*\\\\u0001" "$0" && grep -q "Adam .u0001 Z" "$0"' "$W/runs.txt"
one_by_one="SELECT string_agg(r.o || ':' || s.event_id || ':' || s.stored, ' ' ORDER BY r.o)
  FROM public.runs r CROSS JOIN LATERAL aod.record_self_audit(r.retry, r.keys, r.kind, r.audience, r.lang,
       '2026-01-01', '2026-01-31', '2026-01-01 00:00+00', '2026-02-01 00:00+00', '2026-02-15 00:00+00',
       r.started::timestamptz, r.op, r.osu, r.host, 'aodreport test', r.files) s"
as_group="SELECT string_agg(s.ord || ':' || s.event_id || ':' || s.stored, ' ' ORDER BY s.ord)
  FROM aod.record_self_audits((SELECT jsonb_agg(jsonb_build_object('retry_key', retry, 'patient_keys', keys::text,
       'kind', kind, 'audience', audience, 'language', lang, 'first_day', '2026-01-01', 'last_day', '2026-01-31',
       'period_start', '2026-01-01 00:00+00', 'period_end', '2026-02-01 00:00+00', 'as_of', '2026-02-15 00:00+00',
       'started', started, 'operator_name', op, 'os_user', osu, 'host', host, 'program', 'aodreport test',
       'files', files::text) ORDER BY o) FROM public.runs)) s"
# What was stored, the recorded time written as REC wherever it appears.
stored_rows="SELECT a.fhir_id, encode(a.event_key, 'hex'), a.fhir_version, a.patient_keys, a.loaded_from,
       a.recorded = p.recorded, replace(a.resource::text, a.resource->>'recorded', 'REC'),
       p.patient_key, p.other_keys, p.norm_version,
       replace(p.norm, floor(extract(epoch FROM p.recorded) * 1000)::bigint::text, 'REC')
  FROM aod.audit_event a JOIN aod.event_patient p ON p.event_id = a.id
 WHERE a.loaded_from = 'aodreport self-audit' ORDER BY a.fhir_id, p.patient_key"
# run 6 is stored before, by itself
psql_q "SELECT aod.record_self_audit(r.retry, r.keys, r.kind, r.audience, r.lang, '2026-01-01', '2026-01-31',
        '2026-01-01 00:00+00', '2026-02-01 00:00+00', '2026-02-15 00:00+00', r.started::timestamptz, r.op,
        r.osu, r.host, 'aodreport test', r.files) FROM public.runs r WHERE o = 6" >/dev/null
for how in one_by_one as_group; do
    "$PGBIN/psql" -X -q -t -A -v ON_ERROR_STOP=1 >"$W/$how.txt" 2>&1 <<EOF || true
BEGIN;
${!how};
$stored_rows;
ROLLBACK;
EOF
done
ok "the group says what the calls one by one said" equals "$(head -n 1 "$W/as_group.txt" | sed 's/^[0-9]*://; s/ [0-9]*:/ /g')" \
    "$(head -n 1 "$W/one_by_one.txt" | sed 's/^[0-9]*://; s/ [0-9]*:/ /g')"
ok "  (runs 5 and 6 were stored already)" equals "$(head -n 1 "$W/as_group.txt" | grep -o ':[a-z]*\( \|$\)' | tr -d ' \n')" \
    ":true:true:true:true:false:false:true"
ok "the group stores the same events and rows" diff "$W/one_by_one.txt" "$W/as_group.txt"
ok "  (and they are not few)" test "$(wc -l <"$W/as_group.txt")" -ge 9
ok "the group's rows pass the integrity check" contains "$(cat "$W/as_group.txt")" "aodreport-"

# A bad run refuses the group, and nothing of it is stored.
bad_group() { # bad_group JSON-PATCH-SQL: the runs with one changed
    "$PGBIN/psql" -X -q -t -A -c "SELECT count(*) FROM aod.record_self_audits((SELECT jsonb_agg(j ORDER BY o) FROM (
        SELECT o, $1 AS j FROM (SELECT o, jsonb_build_object('retry_key', retry || 'x', 'patient_keys', keys::text,
            'kind', kind, 'audience', audience, 'language', lang, 'first_day', '2026-01-01', 'last_day', '2026-01-31',
            'period_start', '2026-01-01 00:00+00', 'period_end', '2026-02-01 00:00+00', 'as_of', '2026-02-15 00:00+00',
            'started', started, 'operator_name', op, 'os_user', osu, 'host', host, 'program', 'aodreport test',
            'files', files::text) AS j FROM public.runs) x) y))" 2>&1
}
before=$(psql_q "SELECT count(*) FROM aod.audit_event")
ok "a bad file in the third run refuses the group" contains \
    "$(bad_group "CASE WHEN o = 3 THEN jsonb_set(j, '{files}', to_jsonb('[{\"format\":\"exe\"}]'::text)) ELSE j END")" \
    "record_self_audit: bad file {\"format\": \"exe\"} (run 3)"
ok "too many keys refuse it" contains \
    "$(bad_group "CASE WHEN o = 2 THEN jsonb_set(j, '{patient_keys}', to_jsonb(array(SELECT 'P/' || g FROM generate_series(1, 65) g)::text)) ELSE j END")" \
    "record_self_audit: give 1 to 64 patient keys (run 2)"
ok "an unknown kind refuses it" contains "$(bad_group "jsonb_set(j, '{kind}', '\"all\"')")" \
    "record_self_audit: bad arguments (run 1)"
ok "no files refuse it" contains "$(bad_group "jsonb_set(j, '{files}', '\"[]\"')")" \
    "record_self_audit: give 1 to 12 files (run 1)"
ok "an empty group is refused" contains "$("$PGBIN/psql" -X -q -t -A -c "SELECT * FROM aod.record_self_audits('[]')" 2>&1)" \
    "give 1 to 1024 runs"
ok "nothing of the refused groups is stored" equals "$(psql_q "SELECT count(*) FROM aod.audit_event")" "$before"

finish
