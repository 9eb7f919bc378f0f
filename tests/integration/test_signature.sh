#!/usr/bin/env bash
# test_signature.sh - signed documents (--sign KEYFILE, verify-signature).
#
# Keys are made with Node's crypto (Ed25519, PEM), not with our code.  For
# a few golden cases the signed document (bundle-json, and the one an MHD
# submission carries) must:
#   - be the unsigned document plus Bundle.signature, and the same bytes
#     when made twice (Ed25519 is deterministic);
#   - pass the document validators;
#   - verify with our verify-signature (exit 0) and with the npm `jose`
#     package over a canonical JSON made independently in JavaScript
#     (tests/validate/verify-jws.js);
#   - fail both (exit 16 / 1) once one character of it is changed, or when
#     checked against another key.
# The XML form (bundle-xml --sign) carries the same signature (a JWS over the
# canonical JSON of the same Bundle): the unsigned XML plus a <signature>
# whose data is the JSON's; verify-signature and jose (over the npm `fhir`
# package's XML-to-JSON) accept it; a changed character, a comment or
# another indentation fails (exit 16).
# `batch --sign` writes every format the single report writes, byte for byte
# as the single report writes it, signed alike, and lists them in its
# manifest.
# And the key file is a secret: group- or world-readable, a symbolic link or
# another user's file is refused (exit 2), as the pseudonym secret is.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null 2>&1 || { echo "FAIL: node is not installed" >&2; exit 1; }
[ -d "${NODE_PATH:-/nonexistent}" ] || { echo "FAIL: the npm modules are missing (run through make check)" >&2; exit 1; }
pg_start
CASES="$top_srcdir/tests/data/cases"
JWS="$top_srcdir/tests/validate/verify-jws.js"
VALIDATE="$top_srcdir/tests/validate/validate-bundle.js"
W="$PGTMP/sig"
mkdir -p "$W"

newkey() { # newkey PRIVATE PUBLIC
    node -e '
        const { generateKeyPairSync } = require("crypto");
        const fs = require("fs");
        const k = generateKeyPairSync("ed25519");
        fs.writeFileSync(process.argv[1], k.privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
        fs.writeFileSync(process.argv[2], k.publicKey.export({ type: "spki", format: "pem" }));
    ' "$1" "$2"
}
same_bytes() { cmp -s "$1" "$2" || { echo "# $1 and $2 differ" >&2; return 1; }; }
# unsigned_equals SIGNED UNSIGNED: SIGNED without its signature is UNSIGNED
unsigned_equals() {
    node -e '
        const fs = require("fs");
        const d = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
        if (!d.signature) process.exit(1);
        delete d.signature;
        process.exit(JSON.stringify(d, null, 1) + "\n" === fs.readFileSync(process.argv[2], "utf8") ? 0 : 1);
    ' "$1" "$2"
}
carried() { # carried MHD OUT: the FHIR document an ITI-65 submission carries
    node -e '
        const fs = require("fs");
        const d = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
        const b = d.entry.find((e) => e.resource.resourceType === "Binary" && e.resource.contentType === "application/fhir+json");
        fs.writeFileSync(process.argv[2], Buffer.from(b.resource.data, "base64"));
    ' "$1" "$2"
}
# xml_unsigned_equals SIGNED UNSIGNED: SIGNED without its <signature> is UNSIGNED
xml_unsigned_equals() {
    python3 - "$1" "$2" <<'PY'
import re, sys
s = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r"\n <signature>\n.*?\n </signature>", s, re.S)
sys.exit(0 if m and s.replace(m.group(0), "", 1) == open(sys.argv[2], encoding="utf-8").read() else 1)
PY
}
# same_signature XML JSON: the XML's Signature.data is the JSON's
same_signature() {
    python3 - "$1" "$2" <<'PY'
import json, re, sys
x = re.search(r'<signature>.*?<data value="([^"]+)"/>', open(sys.argv[1], encoding="utf-8").read(), re.S)
j = json.load(open(sys.argv[2], encoding="utf-8"))["signature"]["data"]
sys.exit(0 if x and x.group(1) == j else 1)
PY
}
tamper() { # tamper IN OUT: one character of the first narrative changed
    node -e '
        const fs = require("fs");
        const t = fs.readFileSync(process.argv[1], "utf8");
        const i = t.indexOf("<p>") + 3;
        const c = t[i] === "X" ? "Y" : "X";
        fs.writeFileSync(process.argv[2], t.slice(0, i) + c + t.slice(i + 1));
    ' "$1" "$2"
}

ok "a signing key" newkey "$W/key.pem" "$W/pub.pem"
ok "another key" newkey "$W/other.pem" "$W/otherpub.pem"

n=0
docs=()
for name in summarised-disclosures identifiers-masked masking-pseudonym names-in-data; do
    dir="$CASES/$name"
    n=$((n + 1))
    db="sig_$n"
    as_pg "$PGBIN/createdb" -h "$PGTMP" -U postgres "$db"
    args=()
    [ -f "$dir/args" ] && mapfile -t args < <(grep -v '^#' "$dir/args" | sed '/^$/d')
    if [ -f "$dir/pseudonym.key" ]; then
        mkdir -p "$W/policy-$name"
        cp "$dir/policy.xml" "$W/policy-$name/policy.xml"
        install -m 600 "$dir/pseudonym.key" "$W/policy-$name/pseudonym.key"
        args+=(--policy "$W/policy-$name/policy.xml")
    elif [ -f "$dir/policy.xml" ]; then
        args+=(--policy "$dir/policy.xml")
    else
        args+=(--policy "$DEMO_POLICY")
    fi
    events=$(ls "$dir"/events.* | head -n 1)
    ok "$name: init" run 0 "${AOD[@]}" init --db "dbname=$db"
    ok "$name: load" run 0 "${AOD[@]}" load --db "dbname=$db" "$events"
    R=("${AOD[@]}" report --db "dbname=$db" "${args[@]}" --audience privacy-office)
    f="$W/$name"
    ok "$name: signed" run 0 "${R[@]}" --format bundle-json --sign "$W/key.pem" -o "$f.signed.json"
    ok "$name: signed again" run 0 "${R[@]}" --format bundle-json --sign "$W/key.pem" -o "$f.again.json"
    ok "$name: the same bytes twice (Ed25519 is deterministic)" same_bytes "$f.signed.json" "$f.again.json"
    ok "$name: unsigned" run 0 "${R[@]}" --format bundle-json -o "$f.json"
    ok "$name: the signed document is the unsigned one plus its signature" unsigned_equals "$f.signed.json" "$f.json"
    docs+=("$f.signed.json")

    ok "$name: verify-signature --key: valid" run 0 "${AOD[@]}" verify-signature "$f.signed.json" --key "$W/pub.pem"
    ok "$name: it says so" contains "$OUT" "valid signature by key"
    ok "$name: verify-signature (the key it carries): valid" run 0 "${AOD[@]}" verify-signature "$f.signed.json"
    ok "$name: jose: valid" run 0 node "$JWS" "$f.signed.json" "$W/pub.pem"
    ok "$name: another key: not valid" run 16 "${AOD[@]}" verify-signature "$f.signed.json" --key "$W/otherpub.pem"
    ok "$name: jose, another key: not valid" run 1 node "$JWS" "$f.signed.json" "$W/otherpub.pem"
    ok "$name: tampered" tamper "$f.signed.json" "$f.tampered.json"
    ok "$name: tampered: not valid" run 16 "${AOD[@]}" verify-signature "$f.tampered.json" --key "$W/pub.pem"
    ok "$name: it says why" contains "$OUT" "NOT VALID"
    ok "$name: tampered, the key it carries: not valid" run 16 "${AOD[@]}" verify-signature "$f.tampered.json"
    ok "$name: jose, tampered: not valid" run 1 node "$JWS" "$f.tampered.json" "$W/pub.pem"
    ok "$name: unsigned: not valid" run 16 "${AOD[@]}" verify-signature "$f.json"

    ok "$name: xml, signed" run 0 "${R[@]}" --format bundle-xml --sign "$W/key.pem" -o "$f.signed.xml"
    ok "$name: xml, signed again" run 0 "${R[@]}" --format bundle-xml --sign "$W/key.pem" -o "$f.again.xml"
    ok "$name: xml: the same bytes twice" same_bytes "$f.signed.xml" "$f.again.xml"
    ok "$name: xml, unsigned" run 0 "${R[@]}" --format bundle-xml -o "$f.xml"
    ok "$name: xml: the unsigned XML plus its signature" xml_unsigned_equals "$f.signed.xml" "$f.xml"
    ok "$name: xml: the same signature as the JSON form" same_signature "$f.signed.xml" "$f.signed.json"
    ok "$name: xml: verify-signature --key: valid" run 0 "${AOD[@]}" verify-signature "$f.signed.xml" --key "$W/pub.pem"
    ok "$name: xml: jose (the fhir package's XML to JSON): valid" run 0 node "$JWS" "$f.signed.xml" "$W/pub.pem"
    ok "$name: xml: another key: not valid" run 16 "${AOD[@]}" verify-signature "$f.signed.xml" --key "$W/otherpub.pem"
    ok "$name: xml: tampered" tamper "$f.signed.xml" "$f.tampered.xml"
    ok "$name: xml: tampered: not valid" run 16 "${AOD[@]}" verify-signature "$f.tampered.xml" --key "$W/pub.pem"
    ok "$name: xml: tampered, the key it carries: not valid" run 16 "${AOD[@]}" verify-signature "$f.tampered.xml"
    ok "$name: xml: jose, tampered: not valid" run 1 node "$JWS" "$f.tampered.xml" "$W/pub.pem"
    sed '3s/^/<!-- added -->/' "$f.signed.xml" >"$f.comment.xml"
    ok "$name: xml: a comment added: not valid" run 16 "${AOD[@]}" verify-signature "$f.comment.xml" --key "$W/pub.pem"
    sed 's/^  </   </' "$f.signed.xml" >"$f.indent.xml"
    ok "$name: xml: indented anew: not valid" run 16 "${AOD[@]}" verify-signature "$f.indent.xml" --key "$W/pub.pem"
    ok "$name: xml: it says why" contains "$OUT" "byte for byte"
    ok "$name: xml, unsigned: not valid" run 16 "${AOD[@]}" verify-signature "$f.xml"

    ok "$name: mhd, signed" run 0 "${R[@]}" --patient Patient/p-sig --format mhd --sign "$W/key.pem" -o "$f.mhd.json"
    ok "$name: the document it carries" carried "$f.mhd.json" "$f.carried.json"
    ok "$name: carried: verify-signature: valid" run 0 "${AOD[@]}" verify-signature "$f.carried.json" --key "$W/pub.pem"
    ok "$name: carried: jose: valid" run 0 node "$JWS" "$f.carried.json" "$W/pub.pem"
    docs+=("$f.mhd.json")
done

status=0
node "$VALIDATE" "${docs[@]}" >"$W/validate.out" 2>&1 || status=$?
grep '^FAIL ' "$W/validate.out" | sed 's/^/# /' >&2 || true
ok "the signed documents pass the validators" equals "$status" 0

# ------------------------------------------------- batch --sign, every format
# A requests-file batch writes each report as `report` writes it (a month
# batch's reports do not yet list the store's sources: issue 16's work).
as_pg "$PGBIN/createdb" -h "$PGTMP" -U postgres sig_batch
ok "batch: init" run 0 "${AOD[@]}" init --db "dbname=sig_batch"
python3 "$top_srcdir/examples/generate.py" -q --patients 3 --events 200 --months 1 --start 2025-01-01 \
    -o "$W/batch-events.ndjson"
ok "batch: load" run 0 "${AOD[@]}" load --db "dbname=sig_batch" "$W/batch-events.ndjson"
cat >"$W/req.csv" <<EOF
patient,from,to,mode,lang
Patient/example-1,2025-01-01,2025-01-31,access,en
Patient/example-2,2025-01-01,2025-01-31,disclosures,en
EOF
install -m 644 "$W/key.pem" "$W/open-batch.pem"
ALL=pdf,csv,html,xlsx,bundle-json,bundle-xml,mhd,mhd-html,mhd-simplified,mhd-simplified-html
BT=(--db "dbname=sig_batch" --policy "$DEMO_POLICY" --now 2025-03-01T00:00:00Z)
ok "batch --sign, every format" run 0 "${AOD[@]}" batch "${BT[@]}" --requests "$W/req.csv" \
    --out-dir "$W/batch" --formats "$ALL" --sign "$W/key.pem" -q
ok "batch: the manifest lists every file, with its checksum" python3 - "$W/batch" <<'PY'
import hashlib, json, os, sys
d = sys.argv[1]
m = json.load(open(os.path.join(d, "manifest.json")))
want = ["pdf", "csv", "bundle-json", "bundle-xml", "html", "xlsx", "mhd", "mhd-html", "mhd-simplified",
        "mhd-simplified-html"]
assert len(m["reports"]) == 2, m["reports"]
for r in m["reports"]:
    assert r["status"] == "ok" and [f["format"] for f in r["files"]] == want, r
    for f in r["files"]:
        data = open(os.path.join(d, f["path"]), "rb").read()
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["size"], f
PY
for i in 1 2; do
    mode=$([ $i = 1 ] && echo access || echo disclosures)
    base=$(ls -d "$W"/batch/Patient_example-$i-*)/${mode}_2025-01-01_2025-01-31_en
    S=("${AOD[@]}" report "${BT[@]}" --patient Patient/example-$i --mode $mode --from 2025-01-01 --to 2025-01-31 --lang en)
    for fe in pdf:pdf csv:csv html:html xlsx:xlsx bundle-json:json bundle-xml:xml mhd:mhd.json \
        mhd-html:mhd-html.json mhd-simplified:mhd-simplified.json mhd-simplified-html:mhd-simplified-html.json; do
        fmt=${fe%%:*} ext=${fe#*:} sign=()
        case $fmt in bundle-*|mhd|mhd-html) sign=(--sign "$W/key.pem") ;; esac
        ok "example-$i: $fmt as a single report" run 0 "${S[@]}" --format "$fmt" "${sign[@]}" -o "$W/single-$i.$ext"
        ok "example-$i: $fmt: the batch's file is the single report's, byte for byte" same_bytes "$W/single-$i.$ext" "$base.$ext"
    done
    ok "example-$i: batch json: jose: valid" run 0 node "$JWS" "$base.json" "$W/pub.pem"
    ok "example-$i: batch xml: jose: valid" run 0 node "$JWS" "$base.xml" "$W/pub.pem"
    ok "example-$i: batch xml: verify-signature: valid" run 0 "${AOD[@]}" verify-signature "$base.xml" --key "$W/pub.pem"
    ok "example-$i: batch mhd: the document it carries" carried "$base.mhd.json" "$W/carried-$i.json"
    ok "example-$i: batch mhd: carried: jose: valid" run 0 node "$JWS" "$W/carried-$i.json" "$W/pub.pem"
    ok "example-$i: batch xml: tampered" tamper "$base.xml" "$W/batch-tampered-$i.xml"
    ok "example-$i: batch xml tampered: not valid" run 16 "${AOD[@]}" verify-signature "$W/batch-tampered-$i.xml" --key "$W/pub.pem"
done
ok "batch --sign again: nothing to do" run 0 "${AOD[@]}" batch "${BT[@]}" --requests "$W/req.csv" \
    --out-dir "$W/batch" --formats "$ALL" --sign "$W/key.pem"
ok "it says so" contains "$OUT" "0 written, 2 already complete"
ok "batch with another key: made again (the key is part of the request)" run 0 "${AOD[@]}" batch "${BT[@]}" \
    --requests "$W/req.csv" --out-dir "$W/batch" --formats "$ALL" --sign "$W/other.pem"
ok "it says so" contains "$OUT" "2 written, 0 already complete"
ok "batch pdf,csv with a key" run 0 "${AOD[@]}" batch "${BT[@]}" --requests "$W/req.csv" \
    --out-dir "$W/batch-pdf" --formats pdf,csv --sign "$W/key.pem"
ok "the same with another key: nothing to do (nothing of it is signed)" run 0 "${AOD[@]}" batch "${BT[@]}" \
    --requests "$W/req.csv" --out-dir "$W/batch-pdf" --formats pdf,csv --sign "$W/other.pem"
ok "it says so" contains "$OUT" "0 written, 2 already complete"
ok "batch: a world-readable key is refused" run 2 "${AOD[@]}" batch "${BT[@]}" --requests "$W/req.csv" \
    --out-dir "$W/batch2" --formats bundle-json --sign "$W/open-batch.pem"
ok "batch: nothing made" test ! -e "$W/batch2/manifest.json"

# --sign only where a FHIR document is written
db=sig_1
R=("${AOD[@]}" report --db "dbname=$db" --policy "$DEMO_POLICY" --patient Patient/p1 --now 2026-11-01T00:00:00Z)
ok "--sign with csv is refused" run 2 "${R[@]}" --format csv --sign "$W/key.pem" -o "$W/x.csv"
ok "--sign with mhd-simplified is refused" run 2 "${R[@]}" --format mhd-simplified --sign "$W/key.pem" -o "$W/x.json"
# the key is a secret
cp "$W/key.pem" "$W/open.pem"
chmod 644 "$W/open.pem"
ok "a world-readable key is refused" run 2 "${R[@]}" --format bundle-json --sign "$W/open.pem" -o "$W/x.json"
ok "it says so" contains "$ERR" "chmod 600"
chmod 640 "$W/open.pem"
ok "a group-readable key is refused" run 2 "${R[@]}" --format bundle-json --sign "$W/open.pem" -o "$W/x.json"
ln -s "$W/key.pem" "$W/link.pem"
ok "a symbolic link is refused" run 2 "${R[@]}" --format bundle-json --sign "$W/link.pem" -o "$W/x.json"
ok "it says so" contains "$ERR" "symbolic link"
ok "a missing key file" run 6 "${R[@]}" --format bundle-json --sign "$W/none.pem" -o "$W/x.json"
install -m 600 "$W/pub.pem" "$W/pubcopy.pem"
ok "a public key is no signing key" run 2 "${R[@]}" --format bundle-json --sign "$W/pubcopy.pem" -o "$W/x.json"
ok "no file is left" test ! -e "$W/x.json"
if [ "$(id -u)" = 0 ]; then
    install -m 600 -o nobody "$W/key.pem" "$W/theirs.pem"
    ok "another user's key is refused" run 2 "${R[@]}" --format bundle-json --sign "$W/theirs.pem" -o "$W/x.json"
fi
ok "verify-signature without a file" run 2 "${AOD[@]}" verify-signature
ok "verify-signature on what is not JSON" run 3 "${AOD[@]}" verify-signature "$W/key.pem"
ok "verify-signature on XML that is not a Bundle" run 3 "${AOD[@]}" verify-signature "$DEMO_POLICY"
printf '<Bundle xmlns="http://hl7.org/fhir"><type value="document"/>' >"$W/broken.xml"
ok "verify-signature on XML that is not well-formed" run 3 "${AOD[@]}" verify-signature "$W/broken.xml"
printf '<?xml version="1.0"?>\n<!DOCTYPE Bundle [<!ENTITY e "x">]>\n<Bundle xmlns="http://hl7.org/fhir"><type value="&e;"/></Bundle>\n' >"$W/dtd.xml"
ok "verify-signature on XML with a DTD" run 3 "${AOD[@]}" verify-signature "$W/dtd.xml"

finish
