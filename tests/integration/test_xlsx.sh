#!/usr/bin/env bash
# test_xlsx.sh - the spreadsheet (--format xlsx) of every golden case,
# opened in LibreOffice (headless) and compared cell for cell with the CSV
# report of the same case (tests/validate/xlsx-vs-csv.py: text exact,
# times as values, numbers as digits), for the patient's and the privacy
# office's copy.  Also: the same bytes twice, the sheets, the frozen and
# filtered header row and the text cells inside the file, the summary
# sheet, and a doctored workbook that the comparison must reject.
# The case spreadsheet-hostile-cells carries = + - @ TAB, 00123, TRUE,
# dates and numbers as text and non-Latin letters.  AOD_XLSX_KEEP=DIR keeps
# the files.
. "$(dirname "$0")/lib.sh"
pg_start
CASES="$top_srcdir/tests/data/cases"
OUTD="$PGTMP/xlsx"
CONV="$PGTMP/opened"
mkdir -p "$OUTD" "$CONV"
SOFFICE=$(command -v soffice || command -v libreoffice || true)
[ -n "$SOFFICE" ] || { echo "FAIL: no LibreOffice (soffice); install libreoffice-calc-nogui" >&2; exit 1; }

same_bytes() { cmp -s "$1" "$2" || { echo "# $1 and $2 differ" >&2; return 1; }; }
zip_has() { # zip_has FILE.xlsx MEMBER TEXT: the member's XML contains TEXT
    python3 - "$@" <<'EOF'
import sys, zipfile
f, member, text = sys.argv[1:4]
data = zipfile.ZipFile(f).read(member).decode("utf-8")
if text not in data:
    print(f"# {member} of {f} lacks {text!r}", file=sys.stderr)
    sys.exit(1)
EOF
}
zip_lacks() { ! zip_has "$@" 2>/dev/null || { echo "# $2 of $1 has $3" >&2; return 1; }; }

# Converts every .xlsx named to CSV (the first sheet) in $CONV, in one
# LibreOffice process with a private profile.
open_all() {
    "$SOFFICE" -env:UserInstallation="file://$PGTMP/lo-profile" --headless --norestore \
        --convert-to 'csv:Text - txt - csv (StarCalc):44,34,76,1' --outdir "$CONV" "$@" \
        >"$PGTMP/soffice.log" 2>&1 || { cat "$PGTMP/soffice.log" >&2; return 1; }
}

n=0
pairs=()
for dir in "$CASES"/*/; do
    dir=${dir%/}
    name=$(basename "$dir")
    n=$((n + 1))
    db="xlsx_$n"
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
        base="$OUTD/$name-$aud"
        ok "$name: csv ($aud)" run 0 "${AOD[@]}" report --db "dbname=$db" "${args[@]}" \
            --audience "$aud" --format csv -o "$base.csv"
        ok "$name: xlsx ($aud)" run 0 "${AOD[@]}" report --db "dbname=$db" "${args[@]}" \
            --audience "$aud" --format xlsx -o "$base.xlsx"
        pairs+=("$name-$aud")
    done
    ok "$name: xlsx again" run 0 "${AOD[@]}" report --db "dbname=$db" "${args[@]}" \
        --format xlsx -o "$OUTD/$name-again.xlsx"
    ok "$name: same bytes twice" same_bytes "$OUTD/$name-patient.xlsx" "$OUTD/$name-again.xlsx"
done
ok "at least one golden case ran" test "$n" -gt 0

# Inside the file: two sheets, the header frozen and filtered, text as
# strings (inline strings: libxlsxwriter's constant-memory mode), never a
# formula, the creation time from --now.
f="$OUTD/spreadsheet-hostile-cells-patient.xlsx"
ok "two sheets, Lines then Summary" zip_has "$f" xl/workbook.xml '<sheet name="Lines" sheetId="1"'
ok "summary sheet" zip_has "$f" xl/workbook.xml '<sheet name="Summary" sheetId="2"'
ok "header row frozen" zip_has "$f" xl/worksheets/sheet1.xml 'state="frozen"'
ok "header row filtered" zip_has "$f" xl/worksheets/sheet1.xml '<autoFilter ref="A1:'
ok "no formula anywhere" zip_lacks "$f" xl/worksheets/sheet1.xml '<f>'
ok "a formula-like name is a string" zip_has "$f" xl/worksheets/sheet1.xml '<t>=HYPERLINK('
ok "created is --now" zip_has "$f" docProps/core.xml '2026-11-01T00:00:00Z</dcterms:created>'
ok "the summary names the zone" zip_has "$f" xl/worksheets/sheet2.xml '<t>Europe/Oslo</t>'
ok "the summary names the patient" zip_has "$f" xl/worksheets/sheet2.xml '<t>José Müller-Ødegård</t>'
# issue 16: every line's reference is a column, and the summary sheet holds
# the completeness statement's rows (doc/csv.md, "The completeness file")
ok "the lines have their reference column" zip_has "$f" xl/worksheets/sheet1.xml '<t>ref</t>'
ok "the summary says how complete it is" zip_has "$f" xl/worksheets/sheet2.xml '<t>horizon</t>'
ok "with the sources" zip_has "$f" xl/worksheets/sheet2.xml '<t>source</t>'
ok "the privacy copy counts suspensions" zip_has "$OUTD/suspension-privacy-office.xlsx" \
    xl/worksheets/sheet2.xml 'withheld under a suspension'
ok "the patient's copy never does" zip_lacks "$OUTD/suspension-patient.xlsx" \
    xl/worksheets/sheet2.xml 'suspension'

# Where the workbook cannot be assembled (TMPDIR unusable): exit 6 with
# the reason, and no file left, not even a temporary one.
mkdir -p "$PGTMP/failed"
ok "no TMPDIR: exit 6" run 6 env TMPDIR="$PGTMP/no-such-dir" "${AOD[@]}" report --db dbname=xlsx_1 \
    --policy "$DEMO_POLICY" --patient Patient/p1 --now 2026-11-01T00:00:00Z --format xlsx -o "$PGTMP/failed/r.xlsx"
ok "no TMPDIR: the message says why" contains "$ERR" "cannot create a temporary file"
ok "no TMPDIR: nothing left" test -z "$(ls -A "$PGTMP/failed")"

# Every spreadsheet as LibreOffice opens it, against its CSV.
xlsxs=()
for p in "${pairs[@]}"; do xlsxs+=("$OUTD/$p.xlsx"); done
ok "LibreOffice opens every spreadsheet" open_all "${xlsxs[@]}"
for p in "${pairs[@]}"; do
    ok "$p: cells equal the CSV's" python3 "$top_srcdir/tests/validate/xlsx-vs-csv.py" \
        "$OUTD/$p.csv" "$CONV/$p.csv"
done

# AOD_XLSX_KEEP=DIR keeps the workbooks, the CSVs and what LibreOffice made.
if [ -n "${AOD_XLSX_KEEP:-}" ]; then
    mkdir -p "$AOD_XLSX_KEEP/opened" && cp "$OUTD"/* "$AOD_XLSX_KEEP/" && cp "$CONV"/* "$AOD_XLSX_KEEP/opened/"
fi

# The comparison bites: a workbook whose cell was turned into a number
# (what a careless writer does with "00123") must be rejected.
mkdir -p "$PGTMP/doctored"
python3 - "$OUTD/spreadsheet-hostile-cells-patient.xlsx" "$PGTMP/doctored/spreadsheet-hostile-cells-patient.xlsx" <<'EOF'
import sys, zipfile
src, dst = sys.argv[1:3]
with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zo:
    for item in zi.infolist():
        data = zi.read(item.filename)
        if item.filename == "xl/worksheets/sheet1.xml":
            text = data.decode("utf-8")
            i = text.index('<is><t>00123</t></is>')
            j = text.rindex('<c ', 0, i)
            cell_ref = text[j:].split('"')[1]
            text = text[:j] + f'<c r="{cell_ref}"><v>123</v></c>' + text[text.index('</c>', i) + 4:]
            data = text.encode("utf-8")
        zo.writestr(item, data)
EOF
rm -f "$CONV/spreadsheet-hostile-cells-patient.csv"
ok "LibreOffice opens the doctored workbook" open_all "$PGTMP/doctored/spreadsheet-hostile-cells-patient.xlsx"
ok "the doctored workbook is rejected" run 1 python3 "$top_srcdir/tests/validate/xlsx-vs-csv.py" \
    "$OUTD/spreadsheet-hostile-cells-patient.csv" "$CONV/spreadsheet-hostile-cells-patient.csv"
finish
