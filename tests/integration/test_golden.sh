#!/usr/bin/env bash
# test_golden.sh - the golden cases, end to end through a real PostgreSQL.
#
# Each directory tests/data/cases/<case>/ holds:
#   events.ndjson or events.json   the AuditEvents to load
#   policy.xml                     optional; examples/policies/demo.xml otherwise
#   args                           report options, one argument per line
#   expected.csv                   the report the program must write
#   expected-explain.csv           optional: the explain view
#   expected-pdf.txt               optional: the PDF's text (pdftotext -raw)
#   expected-privacy.csv           optional: the privacy-office copy
#   expected-privacy-pdf.txt       optional: the privacy-office copy's PDF text
#                                  (the access flags, the explanation coverage)
#   expected.completeness.csv,     optional: the completeness file the report
#   expected-privacy.completeness.csv  writes next to each CSV (doc/csv.md)
#   expected-summary.csv           optional: the summary (--format csv-summary)
#   expected-summary-privacy.csv   optional: the same, privacy-office copy
#   README                         the pattern's source and the legal reasoning
#   not-in-patient-copy            optional: texts (one a line) that must appear
#                                  in none of the patient's outputs (CSV, PDF
#                                  text, HTML, Bundle JSON and XML): masked names
#   roster.csv, patient-facts.csv, care.csv
#                                  optional site inputs, loaded with load-roster,
#                                  load-patient-facts and load-care
# No access flag ever reaches the patient's copy: every patient-audience
# output of every case is searched for every flag id and every flag sentence
# (templates' access-flag.* words) and the flags' column and extension names.
# Every case's report is also written as a FHIR Document Bundle (JSON and
# XML, patient and privacy-office copies) and all of them are checked by the
# independent validators in tests/validate (one node process for the lot).
# Adding a case is adding a directory.  AOD_UPDATE_GOLDEN=1 rewrites the
# expected files from the program's output (review the diff before
# committing it).
. "$(dirname "$0")/lib.sh"
pg_start
CASES="$top_srcdir/tests/data/cases"

compare() { # compare ACTUAL EXPECTED-FILE
    if [ -n "${AOD_UPDATE_GOLDEN:-}" ]; then
        cp "$1" "$2"
        return 0
    fi
    diff -u "$2" "$1" >&2
}

# not_in TEXT FILE...: TEXT occurs in none of the files (each must exist).
not_in() {
    local text=$1 f
    shift
    for f in "$@"; do
        [ -f "$f" ] || { echo "# missing: $f" >&2; return 1; }
        if grep -qF -- "$text" "$f"; then
            echo "# '$text' found in $f" >&2
            return 1
        fi
    done
}

# The access flags' ids, their sentences in every language, and the names
# of the CSV column and the Bundle extensions that carry them.  The ids that
# are ordinary words (vip, family, emergency: a patient's letter may say
# "emergency") are searched as the CSV and Bundle write them, after the
# column or extension name; their sentences are searched everywhere.
FLAG_IDS=(same-surname same-address co-worker self-access outside-employment no-relationship
    after-hours volume-spike)
FLAG_TEXTS=(access_flags access-flag access_flag)
while IFS= read -r line; do
    FLAG_TEXTS+=("${line#*= }")
done < <(grep -h '^access-flag\.' "$top_srcdir"/templates/*/codes.txt)
[ "${#FLAG_TEXTS[@]}" -gt 11 ] || { echo "FAIL: no access-flag sentences in the templates" >&2; exit 1; }
no_flags() {
    local f t
    for f in "$@"; do
        [ -f "$f" ] || { echo "# missing: $f" >&2; return 1; }
        for t in "${FLAG_IDS[@]}"; do
            if grep -qiwF -- "$t" "$f"; then
                echo "# flag id '$t' found in $f" >&2
                return 1
            fi
        done
        for t in "${FLAG_TEXTS[@]}"; do
            # PDF text may break a sentence across lines: its first words suffice
            if grep -qF -- "${t:0:40}" "$f"; then
                echo "# '$t' found in $f" >&2
                return 1
            fi
        done
    done
}

n=0
bundles=()
mkdir -p "$PGTMP/bundles"
for dir in "$CASES"/*/; do
    dir=${dir%/}
    name=$(basename "$dir")
    n=$((n + 1))
    db="golden_$n"
    as_pg "$PGBIN/createdb" -h "$PGTMP" -U postgres "$db"
    args=()
    [ -f "$dir/args" ] && mapfile -t args < <(grep -v '^#' "$dir/args" | sed '/^$/d')
    if [ -f "$dir/pseudonym.key" ]; then
        # aodreport reads a pseudonym secret only from a private file (mode
        # 0600), and git checks files out 0644: the case runs from a copy.
        mkdir -p "$PGTMP/policy-$name"
        cp "$dir/policy.xml" "$PGTMP/policy-$name/policy.xml"
        install -m 600 "$dir/pseudonym.key" "$PGTMP/policy-$name/pseudonym.key"
        args+=(--policy "$PGTMP/policy-$name/policy.xml")
    elif [ -f "$dir/policy.xml" ]; then
        args+=(--policy "$dir/policy.xml")
    else
        args+=(--policy "$DEMO_POLICY")
    fi
    events=$(ls "$dir"/events.* | head -n 1)
    ok "$name: init" run 0 "${AOD[@]}" init --db "dbname=$db"
    ok "$name: load" run 0 "${AOD[@]}" load --db "dbname=$db" "$events"
    [ -f "$dir/roster.csv" ] &&
        ok "$name: load-roster" run 0 "${AOD[@]}" load-roster --db "dbname=$db" "$dir/roster.csv"
    [ -f "$dir/patient-facts.csv" ] &&
        ok "$name: load-patient-facts" run 0 "${AOD[@]}" load-patient-facts --db "dbname=$db" \
            "$dir/patient-facts.csv"
    [ -f "$dir/care.csv" ] &&
        ok "$name: load-care" run 0 "${AOD[@]}" load-care --db "dbname=$db" "$dir/care.csv"
    for kind in expected expected-privacy expected-explain expected-summary \
        expected-summary-privacy; do
        [ -f "$dir/$kind.csv" ] || continue
        out="$PGTMP/$name-$kind.csv"
        extra=()
        cmd=report
        case $kind in
        expected-privacy) extra=(--audience privacy-office) ;;
        expected-summary) extra=(--format csv-summary) ;;
        expected-summary-privacy) extra=(--format csv-summary --audience privacy-office) ;;
        expected-explain) cmd=explain ;;
        esac
        ok "$name: $cmd ${extra[*]}" run 0 "${AOD[@]}" "$cmd" --db "dbname=$db" "${args[@]}" "${extra[@]}" -o "$out"
        ok "$name: $kind.csv matches" compare "$out" "$dir/$kind.csv"
        # every CSV listing carries its completeness statement beside it (the
        # summary file is a table of the same report, not a report of its own)
        case $kind in expected-explain | expected-summary*) continue ;; esac
        ok "$name: $kind.completeness.csv written" test -s "${out%.csv}.completeness.csv"
        if [ -f "$dir/$kind.completeness.csv" ]; then
            ok "$name: $kind.completeness.csv matches" \
                compare "${out%.csv}.completeness.csv" "$dir/$kind.completeness.csv"
        fi
    done
    # Each line's reference leads explain --ref to exactly its raw records,
    # and the same run made again gives the same references.
    if [ -f "$dir/expected.csv" ] && [ "$(wc -l <"$dir/expected.csv")" -gt 1 ]; then
        ref=$(python3 -c 'import csv,sys; r=list(csv.DictReader(open(sys.argv[1], newline=""))); print(r[-1]["ref"])' \
            "$PGTMP/$name-expected.csv")
        ok "$name: explain --ref $ref" run 0 "${AOD[@]}" explain --db "dbname=$db" "${args[@]}" \
            --ref "$ref" -o "$PGTMP/$name-ref.csv"
        ok "$name: explain --ref lists only that line's records, each with its AuditEvent" \
            python3 -c 'import csv,sys
rows=list(csv.DictReader(open(sys.argv[1], newline="")))
assert rows and all(r["ref"] == sys.argv[2] and r["resource"].startswith("{") for r in rows), rows' \
            "$PGTMP/$name-ref.csv" "$ref"
    fi
    # Every case also renders as a PDF that qpdf finds sound.
    pdf="$PGTMP/$name.pdf"
    ok "$name: pdf" run 0 "${AOD[@]}" report --db "dbname=$db" "${args[@]}" --format pdf -o "$pdf"
    ok "$name: qpdf --check" qpdf --check "$pdf"
    # poppler reads the text the way screen readers and copy-paste do: it
    # must not warn (a malformed ToUnicode CMap did, on every PDF).
    ok "$name: pdftotext reads the PDF without a warning" \
        sh -c 'pdftotext "$1" /dev/null 2>"$1.warn" && ! grep . "$1.warn" >&2' sh "$pdf"
    if [ -f "$dir/expected-pdf.txt" ]; then
        pdftotext -raw "$pdf" "$pdf.txt" 2>/dev/null
        ok "$name: expected-pdf.txt matches" compare "$pdf.txt" "$dir/expected-pdf.txt"
    fi
    if [ -f "$dir/expected-privacy-pdf.txt" ]; then
        ok "$name: privacy-office pdf" run 0 "${AOD[@]}" report --db "dbname=$db" "${args[@]}" \
            --audience privacy-office --format pdf -o "$pdf.office.pdf"
        pdftotext -raw "$pdf.office.pdf" "$pdf.office.txt" 2>/dev/null
        ok "$name: expected-privacy-pdf.txt matches" compare "$pdf.office.txt" \
            "$dir/expected-privacy-pdf.txt"
    fi
    for aud in patient privacy-office; do
        for fmt in json xml; do
            ok "$name: bundle-$fmt ($aud)" run 0 "${AOD[@]}" report --db "dbname=$db" "${args[@]}" \
                --audience "$aud" --format "bundle-$fmt" -o "$PGTMP/bundles/$name-$aud.$fmt"
        done
        bundles+=("$PGTMP/bundles/$name-$aud.json" "$PGTMP/bundles/$name-$aud.xml")
    done
    # the patient's copy as CSV (the args' audience), PDF text, HTML and
    # Bundles: no access flag, whatever the case
    patient_csv="$PGTMP/$name-patient.csv"
    ok "$name: patient csv" run 0 "${AOD[@]}" report --db "dbname=$db" "${args[@]}" \
        --audience patient -o "$patient_csv"
    pdftotext -raw "$pdf" "$pdf.all.txt" 2>/dev/null || true
    ok "$name: html" run 0 "${AOD[@]}" report --db "dbname=$db" "${args[@]}" --format html \
        -o "$PGTMP/$name.html"
    patient_outputs=("$patient_csv" "$pdf.all.txt" "$PGTMP/$name.html"
        "$PGTMP/bundles/$name-patient.json" "$PGTMP/bundles/$name-patient.xml")
    ok "$name: no access flag in the patient's copy" no_flags "${patient_outputs[@]}"
    if [ -f "$dir/not-in-patient-copy" ]; then
        while IFS= read -r text; do
            [ -n "$text" ] || continue
            ok "$name: no '$text' in the patient's copy" not_in "$text" \
                "$patient_csv" "$pdf.all.txt" "$PGTMP/$name.html" \
                "$PGTMP/bundles/$name-patient.json" "$PGTMP/bundles/$name-patient.xml"
        done <"$dir/not-in-patient-copy"
    fi
done
ok "at least one golden case ran" test "$n" -gt 0

# The Bundles of every case, through the schema, medplum, the invariants and
# the XML/JSON comparison.
if [ ! -d "$top_srcdir/tests/node_modules" ] && [ ! -d "${NODE_PATH:-/nonexistent}" ]; then
    echo "# tests/node_modules is missing: run 'cd tests && npm ci' (tests/ci.sh does)" >&2
fi
ok "every case's Bundle passes the FHIR validators" \
    node "$top_srcdir/tests/validate/validate-bundle.js" "${bundles[@]}"
finish
