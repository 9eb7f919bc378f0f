#!/usr/bin/env bash
# test_bundle_validators.sh - the FHIR documents (--format bundle-json and
# bundle-xml) judged by validators that are not ours.
#
# (a) Each deliberately broken document in tests/validate/broken/ must be
#     rejected by the check EXPECTED names, so every check is known to bite.
# (b) tests/unit/render/test_bundle writes sample documents (JSON and XML, both
#     modes, both audiences, English and Spanish, empty reports) into a
#     temporary directory (AOD_BUNDLE_OUT); all of them must pass every check.
#
# The validators are npm packages pinned in tests/package-lock.json; make
# check installs them into the build tree with `npm ci`.  Without them this test fails: it
# never skips, or a green run would prove nothing.  No database is needed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VALIDATE="$top_srcdir/tests/validate/validate-bundle.js"
BROKEN="$top_srcdir/tests/validate/broken"
TESTBIN="$top_builddir/tests/unit/render/test_bundle"

die() {
    echo "FAIL: $*" >&2
    echo "$TEST_NAME: 0 passed, 1 failed"
    exit 1
}

command -v node >/dev/null 2>&1 || die "node is not installed (Node.js 18.19 or later is needed)"
# make check installs the modules into the build tree (npm ci) and points
# NODE_PATH there; make check AOD_NODE_MODULES=DIR uses others.
[ -d "${NODE_PATH:-/nonexistent}" ] ||
    die "the validators' npm modules are missing (NODE_PATH=${NODE_PATH:-}): run this test through make check, which installs them"
command -v xmllint >/dev/null 2>&1 || die "xmllint is not installed (Debian package libxml2-utils)"
[ -x "$TESTBIN" ] || die "$TESTBIN is not built (make check builds it)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/aod-bundle.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The validator prints "ok CHECK FILE" or "FAIL CHECK FILE: why" per check.
lines_of() { # lines_of OUTPUT FILE: what the validator said about FILE
    awk -v f="$2" '$3 == f || $3 == f ":"' "$1"
}

rejected() { # rejected OUTPUT CHECK FILE
    lines_of "$1" "$3" | awk -v c="$2" '$1 == "FAIL" && $2 == c { found = 1 } END { exit !found }' &&
        return 0
    echo "# $3 was not rejected by check '$2'; the validator said:" >&2
    lines_of "$1" "$3" | sed 's/^/#   /' >&2
    return 1
}

accepted() { # accepted OUTPUT FILE: checked, and no check failed
    local said
    said=$(lines_of "$1" "$2")
    if [ -n "$said" ] && ! grep -q '^FAIL ' <<<"$said"; then
        return 0
    fi
    echo "# $2:" >&2
    if [ -n "$said" ]; then grep '^FAIL ' <<<"$said" | sed 's/^/#   /' >&2; else echo "#   not checked" >&2; fi
    return 1
}

# ------------------------------------------------- (a) the broken documents
cases=()
args=()
while read -r file check; do
    case $file in '' | '#'*) continue ;; esac
    cases+=("$file $check")
    if [ "${file%.xml}" != "$file" ]; then
        args+=("$BROKEN/${file%.xml}.json" "$BROKEN/$file")
    else
        args+=("$BROKEN/$file")
    fi
done <"$BROKEN/EXPECTED"

status=0
node "$VALIDATE" "${args[@]}" >"$WORK/broken.out" 2>"$WORK/broken.err" || status=$?
if [ "$status" = 2 ]; then
    sed 's/^/# /' "$WORK/broken.err" >&2
    die "the validators could not run (see above)"
fi
ok "the validator exits 1 on the broken documents" equals "$status" 1
for c in "${cases[@]}"; do
    set -- $c
    ok "$1 is rejected by $2" rejected "$WORK/broken.out" "$2" "$BROKEN/$1"
    if [ "${1%.xml}" != "$1" ]; then
        # the JSON beside a broken XML is sound: only the XML may fail
        ok "${1%.xml}.json (its JSON) passes" accepted "$WORK/broken.out" "$BROKEN/${1%.xml}.json"
    fi
done

# ------------------------------------------------ (b) the rendered samples
mkdir "$WORK/samples"
status=0
AOD_BUNDLE_OUT="$WORK/samples" ${AOD_VALGRIND:-} "$TESTBIN" >"$WORK/unit.out" 2>&1 || status=$?
[ "$status" = 0 ] || sed 's/^/# /' "$WORK/unit.out" >&2
ok "test_bundle wrote the sample documents" equals "$status" 0

samples=()
for json in "$WORK"/samples/*.json; do
    [ -e "$json" ] || continue
    samples+=("$json" "${json%.json}.xml")
done
ok "there are sample documents, each in JSON and XML" test "${#samples[@]}" -ge 12
if [ "${#samples[@]}" -gt 0 ]; then
    status=0
    start=$(date +%s)
    node "$VALIDATE" "${samples[@]}" >"$WORK/samples.out" 2>"$WORK/samples.err" || status=$?
    echo "# validated $((${#samples[@]} / 2)) documents (JSON + XML) in $(($(date +%s) - start)) s"
    [ "$status" = 2 ] && sed 's/^/# /' "$WORK/samples.err" >&2
    for f in "${samples[@]}"; do
        ok "$(basename "$f") passes every check" accepted "$WORK/samples.out" "$f"
    done
    ok "the validator exits 0 on the samples" equals "$status" 0
fi

finish
