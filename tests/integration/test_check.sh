#!/usr/bin/env bash
# test_check.sh - a site's configuration: the refusal without a site policy
# or with the demonstration, and `aodreport check` given each
# misconfiguration in turn, with its own exit status (doc/aodreport.1):
#   11 no site policy / still the example, 7 invalid policy, 14 templates or
#   font, 4 database unreachable, 12 schema, 13 privileges, 0 ready.
. "$(dirname "$0")/lib.sh"
pg_start
W="$PGTMP/w"
mkdir -p "$W"
"${AOD[@]}" init >/dev/null
"${AOD[@]}" load -q "$top_srcdir/examples/sample-r4.ndjson"

# A site policy: the demonstration made the site's own.
sed -e 's/ demo="true"//' -e 's/hospital\.example\.org/springfield-hospital.org/g' \
    -e 's/Example Community Hospital/Springfield Community Hospital/' \
    "$DEMO_POLICY" >"$W/site.xml"
sed 's/ demo="true"//' "$DEMO_POLICY" >"$W/placeholder.xml"
printf '<policy xmlns="urn:aodreport:policy:1" name="x"><organisation/></policy>\n' >"$W/bad.xml"
R=(report --patient Patient/example-1 --now 2026-11-01T00:00:00Z)
unset AODREPORT_POLICY

# ------------------------------------------------ a report needs a site
export AODREPORT_POLICY="$W/none.xml"
ok "no site policy: report refused" run 11 "${AOD[@]}" "${R[@]}" -o "$W/r.csv"
ok "the message names the file to create" contains "$ERR" "$W/none.xml: no site policy (from AODREPORT_POLICY): create this file"
ok "and leaves no file" test ! -e "$W/r.csv"
ok "no site policy: explain refused" run 11 "${AOD[@]}" explain --patient Patient/example-1
ok "no site policy: batch refused" run 11 "${AOD[@]}" batch --month 2024-01 --out-dir "$W/b"
ok "and made no directory" test ! -e "$W/b"
export AODREPORT_POLICY="$DEMO_POLICY"
ok "the demonstration as site policy: refused" run 11 "${AOD[@]}" "${R[@]}"
ok "the message says it is the demonstration" contains "$ERR" "still the demonstration"
ok "the demonstration named with --policy: accepted" run 0 "${AOD[@]}" "${R[@]}" --policy "$DEMO_POLICY" -o "$W/demo.csv"
export AODREPORT_POLICY="$W/site.xml"
ok "a site policy from AODREPORT_POLICY: accepted" run 0 "${AOD[@]}" "${R[@]}" -o "$W/site.csv"
ok "its letterhead is the site's" run 0 "${AOD[@]}" "${R[@]}" --format pdf -o "$W/site.pdf"
ok "  (not the example's)" bash -c "pdftotext '$W/site.pdf' - 2>/dev/null | grep -q 'Springfield Community Hospital' && ! pdftotext '$W/site.pdf' - 2>/dev/null | grep -q 'Example Community'"

# ------------------------------------------------------------- check
ok "check: a ready site" run 0 "${AOD[@]}" check
ok "  says each part is ok" equals "$(grep -c '^[a-z]* *ok ' <<<"$OUT")" 6
ok "check --json: a ready site" run 0 "${AOD[@]}" check --json
ok "  is one JSON document saying ok" python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["ok"] is True and len(d["checks"]) == 6' "$OUT"

export AODREPORT_POLICY="$W/none.xml"
ok "check: no site policy: 11" run 11 "${AOD[@]}" check
ok "  names the file" contains "$OUT" "$W/none.xml: no site policy"
ok "check: the demonstration: 11" run 11 "${AOD[@]}" check --policy "$DEMO_POLICY"
ok "  says what is still the example" contains "$OUT" "covered-entity network-domain hospital.example.org"
ok "check: demo attribute removed, placeholders left: 11" run 11 "${AOD[@]}" check --policy "$W/placeholder.xml"
ok "  lists them" contains "$OUT" "organisation name \"Example Community Hospital\""
ok "check: an invalid policy: 7" run 7 "${AOD[@]}" check --policy "$W/bad.xml"
export AODREPORT_POLICY="$W/site.xml"
ok "check: no templates for the language: 14" run 14 "${AOD[@]}" check --lang xx
ok "check: no font: 14" run 14 "${AOD[@]}" check --font "$W/nofont.ttf"
ok "check: not a font: 14" run 14 "${AOD[@]}" check --font "$W/site.xml"
mkdir -p "$W/tpl/ja"
printf 'letter.title.disclosures = 開示の記録\n' >"$W/tpl/ja/letter.txt"
ok "check: a font without the language's script: 14" run 14 "${AOD[@]}" check --templates "$W/tpl" --lang ja \
    --fallback-font ''
ok "  names the character" contains "$OUT" "no glyph for U+958B"
# The PDF draws what --font lacks with the fallback font (a CJK font by
# default): check counts it as the PDF does, not only the main font.
WQY=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
ok "check: the fallback font covers the language: ready" run 0 "${AOD[@]}" check --templates "$W/tpl" --lang ja \
    --fallback-font "$WQY"
ok "  says which fonts" contains "$OUT" "with the fallback font $WQY, covers every character of the ja letter"
ok "check: the default fallback font, as the PDF takes it: ready" run 0 "${AOD[@]}" check --templates "$W/tpl" --lang ja
ok "check: a fallback font without the script: 14" run 14 "${AOD[@]}" check --templates "$W/tpl" --lang ja \
    --fallback-font /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
ok "  names both fonts" contains "$OUT" "(nor the fallback font /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf) has no glyph for U+958B"
ok "check: no fallback font file: 14" run 14 "${AOD[@]}" check --templates "$W/tpl" --lang ja --fallback-font "$W/nofont.ttc"
ok "  names the option" contains "$OUT" "--fallback-font"
ok "check: database unreachable: 4" run 4 "${AOD[@]}" check --db "host=$PGTMP/nowhere"
as_pg "$PGBIN/createdb" -h "$PGTMP" -U postgres empty
ok "check: no store: 12" run 12 "${AOD[@]}" check --db dbname=empty
ok "  says to run init" contains "$OUT" "run 'aodreport init'"
ok "  and did not make one" equals \
    "$("$PGBIN/psql" -X -t -A -d empty -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'aod'")" 0
as_pg "$PGBIN/createdb" -h "$PGTMP" -U postgres older
"${AOD[@]}" init --db dbname=older >/dev/null
"$PGBIN/psql" -X -q -d older -c "SET client_min_messages = warning; DROP TABLE aod.search_outcome;
    DROP FUNCTION aod.record_self_audit, aod.event_patient_check CASCADE;
    DELETE FROM aod.schema_version WHERE version >= 3"
ok "check: an older store: 12" run 12 "${AOD[@]}" check --db dbname=older
ok "  and it stays older (check never migrates)" equals \
    "$("$PGBIN/psql" -X -t -A -d older -c 'SELECT max(version) FROM aod.schema_version')" 2
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -f "$top_srcdir/sql/roles.sql" >/dev/null
psql_q "CREATE ROLE stranger LOGIN; CREATE ROLE reader LOGIN IN ROLE aod_reader;
        CREATE ROLE etl LOGIN IN ROLE aod_loader" >/dev/null
ok "check: a login without a role: 13" run 13 "${AOD[@]}" check --db user=stranger
ok "check: the loader's login: 13 (it may not report)" run 13 "${AOD[@]}" check --db user=etl
ok "  says why" contains "$OUT" "etl may not read"
ok "check: the reporting role: 0" run 0 "${AOD[@]}" check --db user=reader
ok "  (it tried a self-audit and rolled it back)" contains "$OUT" "tried, and rolled back"
# A site's own reporting role, granted what a single report needed before
# migration 009 but not the month batch's function: check says so.
psql_q "CREATE ROLE single LOGIN; GRANT USAGE ON SCHEMA aod TO single;
        GRANT SELECT ON ALL TABLES IN SCHEMA aod TO single;
        GRANT EXECUTE ON FUNCTION aod.record_self_audit(text, text[], text, text, text, date, date,
            timestamptz, timestamptz, timestamptz, timestamptz, text, text, text, text, jsonb) TO single" >/dev/null
ok "check: a role without the batch's self-audit function: 13" run 13 "${AOD[@]}" check --db user=single
ok "  names it" contains "$OUT" "aod.record_self_audits"
# A reporting login that may EXECUTE but cannot write (a read-only session,
# as on a standby): only trying tells.
psql_q "CREATE ROLE standby LOGIN IN ROLE aod_reader;
        ALTER ROLE standby SET default_transaction_read_only = on" >/dev/null
ok "check: a login in read-only sessions: 13" run 13 "${AOD[@]}" check --db user=standby
ok "  says why" contains "$OUT" "read-only transaction"
ok "check wrote no self-audit" equals "$(psql_q "SELECT count(*) FROM aod.audit_event WHERE loaded_from = 'aodreport self-audit'")" 3

finish
