#!/usr/bin/env bash
# test_scripts.sh - names in every script in the PDF, end to end (issue 17):
# Arabic and Hebrew (shaped and reordered with FriBidi), Chinese, Japanese
# and Korean (the fallback font) come back from pdftotext as written, with
# no warning from poppler; a Devanagari name, which the PDF cannot shape,
# makes the report fail with exit 14, naming the characters and where they
# are and pointing to --format html, which then shows it.  Also the PDF's
# /Lang, /DisplayDocTitle and outline, read by qpdf.
. "$(dirname "$0")/lib.sh"
pg_start
W="$PGTMP/scripts"
mkdir -p "$W"
POLICY="$top_srcdir/tests/data/cases/masking-show-names/policy.xml"
R=(report --policy "$POLICY" --mode access --from 2025-01-01 --now 2026-11-01T00:00:00Z)

"$AODREPORT" init >/dev/null
"$AODREPORT" load "$top_srcdir/tests/data/scripts/events.ndjson" >/dev/null

# pdftotext puts embedding marks (U+202A-202E) around right-to-left runs.
text_of() { pdftotext -enc UTF-8 "$1" - 2>/dev/null | LC_ALL=C sed 's/\xe2\x80[\xaa-\xae]//g'; }
quiet() { # quiet PDF: poppler's tools say nothing on standard error
    { pdftotext "$1" /dev/null && pdffonts "$1" >/dev/null && pdfinfo "$1" >/dev/null; } \
        2>"$1.warn" && ! grep . "$1.warn" >&2
}

pdf="$W/p1.pdf"
ok "five scripts: the PDF is written" run 0 "${AOD[@]}" "${R[@]}" --patient Patient/p1 \
    --patient-name "ليلى أحمد" --format pdf -o "$pdf"
ok "five scripts: qpdf finds it sound" qpdf --check "$pdf"
ok "five scripts: poppler does not warn (ToUnicode, fonts)" quiet "$pdf"
T=$(text_of "$pdf")
for name in "محمد عبد الله" "שרה לוי" "王小明" "山田花子" "김민준" "Dear ليلى أحمد,"; do
    ok "five scripts: pdftotext gives back '$name'" contains "$T" "$name"
done
ok "five scripts: no replacement character" bash -c '! grep -q $'"'"'\xef\xbf\xbd'"'"' <<<"$1"' _ "$T"
ok "five scripts: CJK drawn with the fallback font, subset" \
    contains "$(pdffonts "$pdf" 2>/dev/null)" "WenQuanYiMicroHei"
ok "five scripts: the same bytes again" bash -c '"${@:2}" >/dev/null 2>&1 && cmp -s "$1" "$1.again"' _ \
    "$pdf" "${AOD[@]}" "${R[@]}" --patient Patient/p1 --patient-name "ليلى أحمد" --format pdf -o "$pdf.again"

J=$(qpdf --json --json-key=outlines --json-key=qpdf "$pdf")
ok "the catalog has /Lang en" contains "$J" '"/Lang": "u:en"'
ok "viewers show the title" contains "$J" '"/DisplayDocTitle": true'
ok "the outline opens with the document" contains "$J" '"/PageMode": "/UseOutlines"'
for t in Letter "Accesses to your health information" "January 2025" "February 2025" "March 2025"; do
    ok "the outline has '$t'" contains "$J" "\"title\": \"$t\""
done
ok "the title is in the Info dictionary" contains "$(pdfinfo "$pdf")" "Report of access to your health information"

ok "Spanish: written" run 0 "${AOD[@]}" "${R[@]}" --patient Patient/p1 --lang es --format pdf -o "$W/es.pdf"
J=$(qpdf --json --json-key=outlines --json-key=qpdf "$W/es.pdf")
ok "Spanish: /Lang es" contains "$J" '"/Lang": "u:es"'
ok "Spanish: the outline's months" contains "$J" '"title": "febrero de 2025"'

# Devanagari: refused, by code point and place, never drawn as boxes.
ok "Devanagari: the PDF is refused with exit 14" run 14 "${AOD[@]}" "${R[@]}" \
    --patient Patient/p2 --format pdf -o "$W/p2.pdf"
ok "Devanagari: the message names the first character" contains "$ERR" "U+0930"
ok "Devanagari: ... and where it is" contains "$ERR" 'table line 1, column "Who"'
ok "Devanagari: ... and points to the HTML form" contains "$ERR" "--format html"
ok "Devanagari: no PDF is left" test ! -e "$W/p2.pdf"
ok "Devanagari: the HTML report is written" run 0 "${AOD[@]}" "${R[@]}" --patient Patient/p2 \
    --format html -o "$W/p2.html"
ok "Devanagari: ... with the name as written" grep -qF "राहुल शर्मा" "$W/p2.html"
ok "a Devanagari patient name is named as such" run 14 "${AOD[@]}" "${R[@]}" --patient Patient/p1 \
    --patient-name "अनीता" --format pdf -o "$W/p3.pdf"
ok "... in the message" contains "$ERR" "U+0905 in the patient's name"

# Without a fallback font, Chinese is refused the same way, not boxed.
ok "no fallback font: Chinese is refused" run 14 "${AOD[@]}" "${R[@]}" --patient Patient/p1 \
    --fallback-font "" --format pdf -o "$W/nofb.pdf"
ok "... naming it" contains "$ERR" "U+738B"
ok "a fallback font that does not exist is an I/O error" run 6 "${AOD[@]}" "${R[@]}" \
    --patient Patient/p1 --fallback-font /nonexistent/font.ttf --format pdf -o "$W/x.pdf"
finish
