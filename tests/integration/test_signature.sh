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

# --sign only where a FHIR JSON document is written
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

finish
