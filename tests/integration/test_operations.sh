#!/usr/bin/env bash
# test_operations.sh - what operations sees: gzip input, the --json
# summaries of load and report, the progress line on a terminal and one line
# per file elsewhere, no PDF on a terminal, every skipped batch row on
# standard error, and syslog priorities when standard error is the journal.
. "$(dirname "$0")/lib.sh"
pg_start
W="$PGTMP/w"
mkdir -p "$W"
S="$top_srcdir/examples/sample-r4.ndjson"
"${AOD[@]}" init >/dev/null

# ------------------------------------------------------------- load
gzip -c "$S" >"$W/sample.ndjson.gz"
ok "a .gz file loads" run 0 "${AOD[@]}" load "$W/sample.ndjson.gz"
ok "  with its events" contains "$OUT" "36 events read, 36 stored"
sed 's/"id":"ae-/"id":"two-/' "$S" | gzip >"$W/b.gz"
cat "$W/b.gz" "$W/b.gz" >"$W/twice.gz"
ok "gzip on standard input, two members" run 0 "${AOD[@]}" load - <"$W/twice.gz"
ok "  reads both members" contains "$OUT" "<stdin>: 72 events read, 36 stored, 36 already present"
head -c 200 "$W/b.gz" >"$W/cut.gz"
ok "a cut .gz file is refused" run 3 "${AOD[@]}" load "$W/cut.gz"
ok "  saying so" contains "$ERR" "cut.gz:1: gzip: the compressed data ends early"
ok "load --json" run 0 "${AOD[@]}" load --json "$S" "$W/sample.ndjson.gz"
ok "  is one JSON summary" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["files_total"] == 2 and d["files_failed"] == 0, d
assert [f["status"] for f in d["files"]] == ["loaded", "loaded"], d
assert d["total"]["already_present"] == 72, d' "$OUT"
ok "load --json with a failed file" run 3 "${AOD[@]}" load --json "$W/cut.gz"
ok "  says which" python3 -c '
import json, sys
d = json.loads(sys.argv[1]); assert d["files"][0]["status"] == "failed" and "gzip" in d["files"][0]["error"], d' "$OUT"
ok "not on a terminal: one line per file, no progress" run 0 "${AOD[@]}" load "$S"
ok "  (nothing on stderr)" equals "$ERR" ""
# On a terminal: the progress line (script gives the program a terminal).
python3 "$top_srcdir/examples/generate.py" -q --seed 5 --patients 50 --events 20000 -o "$W/big.ndjson" >/dev/null
script -qfec "$AODREPORT load $W/big.ndjson" /dev/null >"$W/tty.out" 2>&1 || true
ok "on a terminal: bytes read, events/s and ETA" grep -qa 'MB (.*%), .* events, .* events/s' "$W/tty.out"

# ----------------------------------------------------------- report
R=(report --policy "$DEMO_POLICY" --patient Patient/example-1 --now 2026-11-01T00:00:00Z)
ok "report --json" run 0 "${AOD[@]}" "${R[@]}" -o "$W/r.csv" --json
ok "  summarises the report" python3 -c '
import json, sys, hashlib
d = json.loads(sys.argv[1])
assert d["sha256"] == hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest(), d
assert d["records_read"] > 0 and d["lines"] > 0 and d["self_audit"].startswith("aodreport-"), d' "$OUT" "$W/r.csv"
ok "report --json without -o is refused" run 2 "${AOD[@]}" "${R[@]}" --json
script -qfec "$AODREPORT ${R[*]} --format pdf" /dev/null >"$W/pdf-tty.out" 2>&1 || true
ok "a PDF is never written to a terminal" grep -qa "a PDF is not written to a terminal" "$W/pdf-tty.out"
ok "  (no PDF bytes on it)" bash -c "! grep -qa '%PDF' '$W/pdf-tty.out'"
ok "a PDF to a pipe is fine" bash -c "'$AODREPORT' ${R[*]} --format pdf | head -c 4 | grep -q '%PDF'"

# ------------------------------------------------------------ batch
printf 'patient,from,to,lang\nPatient/example-1,2024-01-01,2024-12-31,fr\nPatient/example-1,2024-02-01,2024-01-01,\n' >"$W/req.csv"
ok "batch with rows that cannot run" run 10 "${AOD[@]}" batch -q --policy "$DEMO_POLICY" \
    --requests "$W/req.csv" --out-dir "$W/b" --now 2026-11-01T00:00:00Z
ok "  a language without templates is said on stderr" contains "$ERR" "skipped: $W/req.csv:2"
ok "  an empty period is said on stderr" contains "$ERR" "skipped: $W/req.csv:3"

# ---------------------------------------------------------- journal
# JOURNAL_STREAM names standard error's device and inode, as systemd does.
journal() { # journal FILE CMD...: runs CMD with stderr appended to FILE, as the journal
    local f=$1
    shift
    : >"$f"
    JOURNAL_STREAM="$(stat -L -c '%d:%i' "$f")" "$@" 2>>"$f" >/dev/null || true
}
journal "$W/j.err" "${AOD[@]}" load "$W/cut.gz"
ok "to the journal, errors carry <3>" grep -q '^<3>aodreport: .*cut.gz' "$W/j.err"
journal "$W/j2.err" "${AOD[@]}" batch -q --policy "$DEMO_POLICY" --requests "$W/req.csv" \
    --out-dir "$W/b2" --now 2026-11-01T00:00:00Z
ok "to the journal, skipped rows carry <4>" grep -q '^<4>aodreport: skipped:' "$W/j2.err"
ok "to a file that is not the journal, no prefix" bash -c \
    "JOURNAL_STREAM=1:2 '$AODREPORT' load '$W/cut.gz' 2>&1 >/dev/null | grep -q '^aodreport: '"

# ---------------------------------------------------- the systemd unit
UNIT="$top_srcdir/examples/systemd/aodreport-monthly.service"
if command -v systemd-analyze >/dev/null 2>&1; then
    exposure=$(systemd-analyze security --offline=yes "$UNIT" 2>/dev/null |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    ok "the systemd example is hardened (exposure $exposure below 3.0)" \
        python3 -c 'import sys; sys.exit(0 if 0 < float(sys.argv[1]) < 3.0 else 1)' "${exposure:-99}"
    ok "the systemd example has no bad setting" bash -c \
        "! systemd-analyze verify '$UNIT' 2>&1 | grep -v 'man aodreport' | grep -q ."
else
    echo "# systemd-analyze not installed: the unit's hardening is not checked"
fi
ok "it retries only exit 4 and 9" bash -c "grep -q '^RestartForceExitStatus=4 9$' '$UNIT' && grep -q '^Restart=no$' '$UNIT'"
ok "the cron example sets MAILTO" grep -q '^MAILTO=' "$top_srcdir/examples/cron/aodreport-monthly"

finish
