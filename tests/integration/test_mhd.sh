#!/usr/bin/env bash
# test_mhd.sh - portal delivery (--format mhd, mhd-html, mhd-simplified,
# mhd-simplified-html) on every golden case, judged by the validators the
# Bundle tests use (tests/validate/validate-bundle.js: the R4 schema,
# medplum, the Bundle invariants, R4 order, narratives, and its `mhd` check
# of the IHE MHD Minimal ITI-65 and ITI-105 rules; the FHIR document carried
# in the ITI-65 Binary is checked as a document of its own).  Also:
#   - the PDF (or HTML) and the document carried are byte for byte what
#     --format pdf (html) and bundle-json write for the same report;
#   - the same bytes twice (determinism);
#   - a report asked for by an SSN alone is refused (exit 2): the SSN is the
#     only identifier the portal could be given and it never leaves in full
#     (nor in the --json summary);
#     and no output carries a full SSN.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null 2>&1 || { echo "FAIL: node is not installed" >&2; exit 1; }
[ -d "${NODE_PATH:-/nonexistent}" ] || { echo "FAIL: the validators' npm modules are missing (run through make check)" >&2; exit 1; }
pg_start
CASES="$top_srcdir/tests/data/cases"
VALIDATE="$top_srcdir/tests/validate/validate-bundle.js"
OUTD="$PGTMP/mhd"
mkdir -p "$OUTD"

same_bytes() { cmp -s "$1" "$2" || { echo "# $1 and $2 differ" >&2; return 1; }; }
lacks_text() { ! grep -qF -- "$2" "$1" || { echo "# in $1: $2" >&2; return 1; }; }

# attachment FILE CONTENT-TYPE OUT: the bytes of the attachment (Binary or
# data) with that content type, decoded.
attachment() {
    node -e '
        const fs = require("fs");
        const d = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
        const want = process.argv[2];
        let data = null;
        if (d.resourceType === "DocumentReference") {
            const a = d.content[0].attachment;
            if (a.contentType === want) data = a.data;
        } else {
            for (const e of d.entry)
                if (e.resource.resourceType === "Binary" && e.resource.contentType === want) data = e.resource.data;
        }
        if (data === null) { console.error("no " + want + " attachment"); process.exit(1); }
        fs.writeFileSync(process.argv[3], Buffer.from(data, "base64"));
    ' "$1" "$2" "$3"
}

n=0
files=()
for dir in "$CASES"/*/; do
    dir=${dir%/}
    name=$(basename "$dir")
    n=$((n + 1))
    db="mhd_$n"
    as_pg "$PGBIN/createdb" -h "$PGTMP" -U postgres "$db"
    args=()
    [ -f "$dir/args" ] && mapfile -t args < <(grep -v '^#' "$dir/args" | sed '/^$/d')
    if [ -f "$dir/pseudonym.key" ]; then
        # a pseudonym secret is read only from a private file (test_golden.sh)
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
    # Keys that are all SSNs: nothing the portal may be given.
    only_ssn=1
    for ((i = 0; i < ${#args[@]}; i++)); do
        if [ "${args[$i]}" = --patient ]; then
            case ${args[$((i + 1))]} in
            http://hl7.org/fhir/sid/us-ssn\|* | urn:oid:2.16.840.1.113883.4.1\|*) ;;
            *) only_ssn=0 ;;
            esac
        fi
    done
    if [ "$only_ssn" = 1 ]; then
        ok "$name: an SSN alone is refused" run 2 "${AOD[@]}" report --db "dbname=$db" "${args[@]}" \
            --format mhd -o "$OUTD/$name.mhd.json"
        ok "$name: the refusal says why" contains "$ERR" "SSN, which never leaves in full"
        ok "$name: and leaves no file" test ! -e "$OUTD/$name.mhd.json"
        # nor does the operator's --json summary print the whole SSN
        ok "$name: --json summary" run 0 "${AOD[@]}" report --db "dbname=$db" "${args[@]}" \
            --format csv --json -o "$OUTD/$name.csv"
        ok "$name: --json summary: no full SSN" bash -c '! grep -q "123-45-6789" <<<"$1"' _ "$OUT"
        ok "$name: --json summary: its last four" contains "$OUT" "6789"
        # with the patient's reference as a second key it goes
        args+=(--patient Patient/p-ssn)
    fi
    for aud in patient privacy-office; do
        for fmt in mhd mhd-simplified-html; do
            out="$OUTD/$name-$aud.$fmt.json"
            ok "$name: $fmt ($aud)" run 0 "${AOD[@]}" report --db "dbname=$db" "${args[@]}" \
                --audience "$aud" --format "$fmt" -o "$out"
            ok "$name: $fmt ($aud): no full SSN" lacks_text "$out" "123-45-6789"
            files+=("$out")
        done
    done
    # What is carried is what the other formats write.
    f="$OUTD/$name-patient"
    ok "$name: pdf" run 0 "${AOD[@]}" report --db "dbname=$db" "${args[@]}" --format pdf -o "$f.pdf"
    ok "$name: bundle-json" run 0 "${AOD[@]}" report --db "dbname=$db" "${args[@]}" --format bundle-json -o "$f.json"
    ok "$name: html" run 0 "${AOD[@]}" report --db "dbname=$db" "${args[@]}" --format html -o "$f.html"
    ok "$name: the PDF carried" attachment "$f.mhd.json" application/pdf "$f.carried.pdf"
    ok "$name: is --format pdf" same_bytes "$f.carried.pdf" "$f.pdf"
    ok "$name: the document carried" attachment "$f.mhd.json" application/fhir+json "$f.carried.json"
    ok "$name: is --format bundle-json" same_bytes "$f.carried.json" "$f.json"
    ok "$name: the HTML carried (ITI-105)" attachment "$f.mhd-simplified-html.json" text/html "$f.carried.html"
    ok "$name: is --format html" same_bytes "$f.carried.html" "$f.html"
    ok "$name: mhd again" run 0 "${AOD[@]}" report --db "dbname=$db" "${args[@]}" --format mhd -o "$f.again.json"
    ok "$name: same bytes twice" same_bytes "$f.mhd.json" "$f.again.json"
done
ok "at least one golden case ran" test "$n" -gt 0

# The other two forms once: the HTML in ITI-65, the PDF in ITI-105.
ok "mhd-html" run 0 "${AOD[@]}" report --db "dbname=mhd_1" --policy "$DEMO_POLICY" --patient Patient/p1 \
    --now 2026-11-01T00:00:00Z --from 2025-01-01 --format mhd-html -o "$OUTD/one.mhd-html.json"
ok "mhd-simplified" run 0 "${AOD[@]}" report --db "dbname=mhd_1" --policy "$DEMO_POLICY" --patient Patient/p1 \
    --now 2026-11-01T00:00:00Z --from 2025-01-01 --format mhd-simplified -o "$OUTD/one.mhd-simplified.json"
files+=("$OUTD/one.mhd-html.json" "$OUTD/one.mhd-simplified.json")

status=0
node "$VALIDATE" "${files[@]}" >"$OUTD/validate.out" 2>"$OUTD/validate.err" || status=$?
[ "$status" = 2 ] && sed 's/^/# /' "$OUTD/validate.err" >&2
grep '^FAIL ' "$OUTD/validate.out" | head -20 | sed 's/^/# /' >&2 || true
for f in "${files[@]}"; do
    ok "$(basename "$f"): the mhd check ran" grep -q "^ok mhd $f\$" "$OUTD/validate.out"
    case $f in *.mhd.json | *.mhd-html.json) ok "$(basename "$f"): its document was checked" grep -qF "ok mhd $f#document" "$OUTD/validate.out" ;; esac
done
ok "every submission passes every check" equals "$status" 0

finish
