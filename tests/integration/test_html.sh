#!/usr/bin/env bash
# test_html.sh - the HTML report (--format html) of every golden case,
# checked by axe-core in headless Chromium (tests/validate/axe-check.js):
# zero WCAG 2.2 A/AA violations, for the patient's and the privacy
# office's copy.  Also: the same bytes twice (determinism), lang and dir on
# <html>, hostile strings escaped, a right-to-left language, and a broken
# page (tests/data/html/broken.html) that the check must reject, so a check
# that silently passes everything cannot hide here.  AOD_HTML_KEEP=DIR keeps
# the reports.
. "$(dirname "$0")/lib.sh"
pg_start
CASES="$top_srcdir/tests/data/cases"
OUTD="$PGTMP/html"
mkdir -p "$OUTD"

same_bytes() { cmp -s "$1" "$2" || { echo "# $1 and $2 differ" >&2; return 1; }; }
has_text() { grep -qF -- "$2" "$1" || { echo "# not in $1: $2" >&2; return 1; }; }
lacks_text() { ! grep -qF -- "$2" "$1" || { echo "# in $1: $2" >&2; return 1; }; }

n=0
pages=()
declare -A db_of
for dir in "$CASES"/*/; do
    dir=${dir%/}
    name=$(basename "$dir")
    n=$((n + 1))
    db="html_$n"
    db_of[$name]=$db
    as_pg "$PGBIN/createdb" -h "$PGTMP" -U postgres "$db"
    args=()
    [ -f "$dir/args" ] && mapfile -t args < <(grep -v '^#' "$dir/args" | sed '/^$/d')
    if [ -f "$dir/pseudonym.key" ]; then
        # A pseudonym secret is read only from a private file (mode 0600),
        # and git checks files out 0644: the case runs from a copy, as in
        # test_golden.sh.
        mkdir -p "$PGTMP/policy-$name"
        cp "$dir/policy.xml" "$PGTMP/policy-$name/policy.xml"
        install -m 600 "$dir/pseudonym.key" "$PGTMP/policy-$name/pseudonym.key"
        args+=(--policy "$PGTMP/policy-$name/policy.xml")
    elif [ -f "$dir/policy.xml" ]; then
        args+=(--policy "$dir/policy.xml")
    else
        args+=(--policy "$DEMO_POLICY") # the program has no built-in policy
    fi
    events=$(ls "$dir"/events.* | head -n 1)
    ok "$name: init" run 0 "${AOD[@]}" init --db "dbname=$db"
    ok "$name: load" run 0 "${AOD[@]}" load --db "dbname=$db" "$events"
    for aud in patient privacy-office; do
        out="$OUTD/$name-$aud.html"
        ok "$name: html ($aud)" run 0 "${AOD[@]}" report --db "dbname=$db" "${args[@]}" \
            --audience "$aud" --format html -o "$out"
        pages+=("$out")
    done
    # Determinism: the same store, options and --now give the same bytes.
    ok "$name: html again" run 0 "${AOD[@]}" report --db "dbname=$db" "${args[@]}" \
        --format html -o "$OUTD/$name-again.html"
    ok "$name: same bytes twice" same_bytes "$OUTD/$name-patient.html" "$OUTD/$name-again.html"
    lang=en
    for ((i = 0; i < ${#args[@]}; i++)); do
        [ "${args[$i]}" = --lang ] && lang=${args[$((i + 1))]}
    done
    ok "$name: lang=$lang on <html>" has_text "$OUTD/$name-patient.html" "<html lang=\"$lang\" dir=\"ltr\">"
done
ok "at least one golden case ran" test "$n" -gt 0

# Hostile strings: the formula-injection case carries markup-like names.
f="$OUTD/formula-injection-quoting-patient.html"
ok "no raw markup from the data" lacks_text "$f" "<script"
# The privacy office's copy says what the patient's never does.
# The summary after the letter, before the listing; the systems apart.
f="$OUTD/summary-system-lines-privacy-office.html"
ok "summary: a section after the letter" has_text "$f" '<section class="summary">'
ok "summary: the systems apart, named for the office" has_text "$f" \
    'Our laboratory interface: viewed (test results and observations), 14 times.'
ok "summary: before the listing" python3 -c '
import sys; t = open(sys.argv[1]).read()
sys.exit(0 if 0 < t.index("class=\"summary\"") < t.index("class=\"listing\"") else 1)' "$f"
ok "privacy copy banner" has_text "$OUTD/suspension-privacy-office.html" 'class="banner"'
ok "patient copy has no banner" lacks_text "$OUTD/suspension-patient.html" 'class="banner"'

# A right-to-left language: Arabic words for the title (the rest falls back
# to English) and an Arabic patient name.  dir="rtl" on <html>, axe-clean.
mkdir -p "$PGTMP/templates/ar"
printf 'letter.title.disclosures = \331\203\330\264\331\201 \330\250\330\247\331\204\330\245\331\201\330\265\330\247\330\255\330\247\330\252\n' \
    >"$PGTMP/templates/ar/letter.txt"
db=html_1
ok "rtl: html" run 0 "${AOD[@]}" report --db "dbname=$db" --policy "$DEMO_POLICY" --patient Patient/p1 \
    --now 2026-11-01T00:00:00Z --from 2025-01-01 --templates "$PGTMP/templates" --lang ar \
    --patient-name $'\330\254\331\205\331\212\331\204\330\251 <b>&' --format html -o "$OUTD/rtl.html"
ok "rtl: dir on <html>" has_text "$OUTD/rtl.html" '<html lang="ar" dir="rtl">'
ok "rtl: the name escaped" has_text "$OUTD/rtl.html" '&lt;b&gt;&amp;'
pages+=("$OUTD/rtl.html")

# The batch writes the HTML (and the spreadsheet) beside each PDF, and its
# manifest lists them.
db=${db_of[masking-show-names]}
ok "batch: pdf,html,xlsx" run 0 "${AOD[@]}" batch --db "dbname=$db" --month 2025-02 \
    --policy "$CASES/masking-show-names/policy.xml" --now 2026-11-01T00:00:00Z --formats pdf,html,xlsx --out-dir "$PGTMP/batch"
nb_pdf=$(find "$PGTMP/batch" -name '*.pdf' | wc -l)
nb_html=$(find "$PGTMP/batch" -name '*.html' | wc -l)
nb_xlsx=$(find "$PGTMP/batch" -name '*.xlsx' | wc -l)
ok "batch: one html per pdf ($nb_pdf)" test "$nb_pdf" -gt 0 -a "$nb_html" = "$nb_pdf" -a "$nb_xlsx" = "$nb_pdf"
ok "batch: the manifest lists them" has_text "$PGTMP/batch/manifest.json" '"format": "html"'
mapfile -t -O "${#pages[@]}" pages < <(find "$PGTMP/batch" -name '*.html' | sort)

# AOD_HTML_KEEP=DIR keeps the reports there, to look at them.
if [ -n "${AOD_HTML_KEEP:-}" ]; then mkdir -p "$AOD_HTML_KEEP" && cp "${pages[@]}" "$AOD_HTML_KEEP/"; fi

# The check itself: every report passes, and the broken page is rejected.
if [ ! -d "$top_srcdir/tests/node_modules" ] && [ ! -d "${NODE_PATH:-/nonexistent}" ]; then
    echo "# tests/node_modules is missing: run 'cd tests && npm ci' (tests/ci.sh does)" >&2
fi
ok "axe-core: zero WCAG 2.2 A/AA violations in ${#pages[@]} reports" \
    node "$top_srcdir/tests/validate/axe-check.js" "${pages[@]}"
ok "axe-core: the broken page is rejected" \
    node "$top_srcdir/tests/validate/axe-check.js" --expect-violations \
    "$top_srcdir/tests/data/html/broken.html"
finish
