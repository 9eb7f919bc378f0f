#!/usr/bin/env bash
# test_breach.sh - report --mode breach against a real PostgreSQL: the
# notification letter a patient is owed for accesses the privacy office
# found were not permitted, made from the references the access report
# prints (doc/breach.md).  The golden case is tests/data/breach/ (README
# there); AOD_UPDATE_GOLDEN=1 rewrites its expected files.
. "$(dirname "$0")/lib.sh"
pg_start
D="$top_srcdir/tests/data/breach"
W="$PGTMP/w"
mkdir -p "$W"
A=(--policy "$D/policy.xml" --patient Patient/p1 --from 2026-03-01 --to 2026-03-31
    --now 2026-04-20T00:00:00Z)
ACTIONS="We ended the person's access to patient records the day we found out, reviewed every access they made, and are retraining the staff of the unit."
B=("${AOD[@]}" report "${A[@]}" --mode breach --ref "4nxz4 t8drw,RQ88H-HCEW0,4NXZ4-T8DRW"
    --actions "$ACTIONS" --discovered 2026-04-14)

lacks() { # lacks HAYSTACK NEEDLE
    case "$1" in *"$2"*) echo "# did not expect: $2" >&2 && return 1 ;; esac
}
# expect FILE WANT: FILE is the expected one (or becomes it when updating)
expect() {
    if [ -n "${AOD_UPDATE_GOLDEN:-}" ]; then cp "$1" "$2"; fi
    cmp "$1" "$2"
}

ok "init" run 0 "${AOD[@]}" init
ok "load" run 0 "${AOD[@]}" load "$D/events.ndjson"
ok "the access report that printed the references" run 0 "${AOD[@]}" report "${A[@]}" --mode access -o "$W/access.csv"
ok "it has them" contains "$(cat "$W/access.csv")" "4NXZ4-T8DRW"

ok "the letter as PDF" run 0 "${B[@]}" --format pdf -o "$W/letter.pdf"
ok "qpdf finds it sound" qpdf --check "$W/letter.pdf"
pdftotext -raw "$W/letter.pdf" "$W/letter.txt"
ok "its text is the expected one" expect "$W/letter.txt" "$D/expected-pdf.txt"
T=$(cat "$W/letter.txt")
ok "what happened: the two lines, each once, by reference" \
    equals "$(grep -c '(reference [0-9A-Z]\{5\}-[0-9A-Z]\{5\})$' "$W/letter.txt")" 2
ok "when it was found" contains "$T" "We learned of this on April 14, 2026."
ok "what information" contains "$T" "The information involved: care summary; Lab result."
ok "what was done (--actions)" contains "$(tr '\n' ' ' <"$W/letter.txt")" "We ended the person's access"
ok "whom to contact (the policy's privacy office)" contains "$(tr '\n' ' ' <"$W/letter.txt")" \
    "please contact Privacy Office, +1 555 0100, privacy@hospital.example.org."
ok "staff as the patient's copy shows them, never by a name it hides" lacks "$T" "Ana Lopes"
ok "only the named lines in its table" lacks "$T" "ZKNXT-6M4YQ"

ok "as HTML" run 0 "${B[@]}" --format html -o "$W/letter.html"
ok "the HTML is the expected one" expect "$W/letter.html" "$D/expected.html"
ok "as CSV: its lines" run 0 "${B[@]}" --format csv -o "$W/letter.csv"
ok "the CSV is the expected one" expect "$W/letter.csv" "$D/expected.csv"
ok "in Spanish" run 0 "${B[@]}" --lang es --format pdf -o "$W/carta.pdf"
pdftotext -raw "$W/carta.pdf" "$W/carta.txt"
ok "its text is the expected one" expect "$W/carta.txt" "$D/expected-es-pdf.txt"
ok "the same letter again, byte for byte" run 0 "${B[@]}" --format pdf -o "$W/again.pdf"
ok "deterministic" cmp "$W/letter.pdf" "$W/again.pdf"
ok "--contact replaces the office" run 0 "${B[@]}" --contact "Jane Roe, Privacy Officer, 555 0199" --format html -o "$W/c.html"
ok "in the letter" contains "$(cat "$W/c.html")" "please contact Jane Roe, Privacy Officer, 555 0199."

# refused, and nothing written
ok "a reference no line has" run 2 "${AOD[@]}" report "${A[@]}" --mode breach --ref AAAAA-BBBBB \
    --actions x --format pdf -o "$W/no.pdf"
ok "names it and says what to check" contains "$ERR" "no line of the patient's access report from 2026-03-01 to 2026-03-31 has the reference AAAAA-BBBBB"
ok "and leaves no file" test ! -e "$W/no.pdf"
ok "a reference outside the period" run 2 "${AOD[@]}" report --policy "$D/policy.xml" --patient Patient/p1 \
    --from 2026-03-10 --to 2026-03-31 --now 2026-04-20T00:00:00Z --mode breach --ref RQ88H-HCEW0 --actions x -o "$W/no.csv"
ok "is not found either" contains "$ERR" "has the reference RQ88H-HCEW0"
ok "not a reference" run 2 "${AOD[@]}" report "${A[@]}" --mode breach --ref "4NXZ4-T8DR" --actions x -o "$W/no.csv"
ok "says so" contains "$ERR" "'4NXZ4-T8DR' is not a line reference"
ok "no --actions" run 2 "${AOD[@]}" report "${A[@]}" --mode breach --ref 4NXZ4-T8DRW -o "$W/no.csv"
ok "says the letter must say it" contains "$ERR" "--actions"
ok "no --ref" run 2 "${AOD[@]}" report "${A[@]}" --mode breach --actions x -o "$W/no.csv"
ok "says which lines" contains "$ERR" "--ref REF"
ok "--ref without --mode breach" run 2 "${AOD[@]}" report "${A[@]}" --mode access --ref 4NXZ4-T8DRW -o "$W/no.csv"
ok "--actions without --mode breach" run 2 "${AOD[@]}" report "${A[@]}" --actions x -o "$W/no.csv"
ok "the privacy office's audience" run 2 "${B[@]}" --audience privacy-office -o "$W/no.csv"
ok "a Bundle" run 2 "${B[@]}" --format bundle-json -o "$W/no.json"
ok "nothing was written" test ! -e "$W/no.csv" -a ! -e "$W/no.json"
finish
