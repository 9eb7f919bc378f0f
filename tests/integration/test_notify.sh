#!/usr/bin/env bash
# test_notify.sh - batch --month --notify against a real PostgreSQL: one
# digest per patient with something to tell (doc/notifications.md), none for
# a patient without; the digests are the expected bytes (tests/data/notify/,
# AOD_UPDATE_GOLDEN=1 rewrites them), listed in the manifest, the same on a
# second run, never naming a flag or its evidence, and never a staff name
# the patient's copy does not show.
. "$(dirname "$0")/lib.sh"
pg_start
D="$top_srcdir/tests/data/notify"
W="$PGTMP/w"
mkdir -p "$W"
chmod 777 "$W"
NOW=2026-04-02T00:00:00Z
BATCH=("${AOD[@]}" batch --month 2026-03 --policy "$D/policy.xml" --now "$NOW" --formats csv)

ok "init" run 0 "${AOD[@]}" init
ok "load the events" run 0 "${AOD[@]}" load "$D/events.ndjson"
ok "load the roster" run 0 "${AOD[@]}" load-roster "$D/roster.csv"
ok "load the patient facts" run 0 "${AOD[@]}" load-patient-facts "$D/patient-facts.csv"

ok "--notify wants --month" run 2 "${AOD[@]}" batch --requests "$D/roster.csv" --notify \
    --policy "$D/policy.xml" --out-dir "$W/x"
ok "and says so" contains "$ERR" "give --month YYYY-MM"
ok "--notify is the patient's" run 2 "${BATCH[@]}" --notify --audience privacy-office \
    --out-dir "$W/x"
ok "and says so" contains "$ERR" "the digest goes to the patient"

# the privacy office's month batch reads the site facts of a group's
# reports before the group's rows stream on the connection
ok "the month's batch for the privacy office" run 0 "${BATCH[@]}" --audience privacy-office \
    --out-dir "$W/po"
ok "its copies carry the access flags" contains "$(cat "$W"/po/*Patient_p1-*/*office.csv)" \
    "same-surname"
ok "the month's batch without --notify" run 0 "${BATCH[@]}" --out-dir "$W/plain"
ok "writes no digest" equals "$(find "$W/plain" -name '*.notify.*' | wc -l)" 0
ok "the month's batch with --notify" run 0 "${BATCH[@]}" --notify --out-dir "$W/n"

# pj FILE EXPR: EXPR (Python) over the JSON document d of FILE
pj() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
lacks() { # lacks HAYSTACK NEEDLE
    case "$1" in *"$2"*) echo "# did not expect: $2" >&2 && return 1 ;; esac
}
digest() { find "$W/n" -path "*$1*" -name "*.notify.$2" | head -1; }
for p in p1 p2; do
    for ext in json txt; do
        got=$(digest "Patient_$p-" "$ext")
        ok "patient $p has a digest ($ext)" test -n "$got"
        want="$D/expected-$p.notify.$ext"
        if [ -n "${AOD_UPDATE_GOLDEN:-}" ] && [ -n "$got" ]; then cp "$got" "$want"; fi
        ok "patient $p's digest ($ext) is the expected one" cmp "$got" "$want"
    done
done
ok "patient p3, with nothing to tell, has none" equals "$(find "$W/n" -path '*Patient_p3-*' -name '*.notify.*' | wc -l)" 0
ok "but has its report" equals "$(find "$W/n" -path '*Patient_p3-*' -name '*.csv' | wc -l)" 1

# what each digest says and why (the expected files are checked by eye too)
J1=$(digest Patient_p1- json)
ok "p1: the new organisation, once" equals "$(pj "$J1" 'len([i for i in d["items"] if "new-organisation" in i["reasons"]])')" 1
ok "p1: it is Lakeview" equals "$(pj "$J1" '[i["who"] for i in d["items"] if "new-organisation" in i["reasons"]][0]')" "Lakeview Hospital"
ok "p1: Northside was seen in February: not new" \
    equals "$(pj "$J1" 'len([i for i in d["items"] if i["who"] == "Northside Clinic" and "new-organisation" in i["reasons"]])')" 0
ok "p1: three disclosures of the month" equals "$(pj "$J1" 'd["counts"]["disclosure"]')" 3
ok "p1: the emergency access" equals "$(pj "$J1" 'd["counts"]["emergency"]')" 1
ok "p1: the after-hours accesses (marked notify) as review" equals "$(pj "$J1" 'd["counts"]["review"]')" 2
ok "p1: the same-surname access (not marked notify) is not in it" \
    equals "$(pj "$J1" 'len([i for i in d["items"] if i["when"].startswith("2026-03-11")])')" 0
ok "p1: the routine daytime access is not in it" \
    equals "$(pj "$J1" 'len([i for i in d["items"] if i["when"].startswith("2026-03-09T14")])')" 0
J2=$(digest Patient_p2- json)
ok "p2: the access to the restricted record" equals "$(pj "$J2" '",".join(d["items"][0]["reasons"])')" restricted

# never a flag, its evidence, or a name the patient's copy hides
for f in $(find "$W/n" -name '*.notify.*'); do
    for word in after-hours same-surname emergency: vip "Ana Lopes" "Lena Marsh" "John Doe" Practitioner/; do
        ok "$(basename "$f") does not say '$word'" lacks "$(cat "$f")" "$word"
    done
done

# the flags ran for the digest, but the patient's reports are the same bytes
ok "the reports are those of the batch without --notify" \
    equals "$(cd "$W/n" && cat */*.csv | sha256sum)" "$(cd "$W/plain" && cat */*.csv | sha256sum)"

# the manifest lists them, with their checksums
M="$W/n/manifest.json"
ok "the manifest lists 2 digests" equals "$(pj "$M" 'len([r for r in d["reports"] if r.get("notify")])')" 2
sum=$(pj "$M" '[f["sha256"] for r in d["reports"] for f in r.get("notify", []) if f["format"] == "notify-json"][0]')
ok "with the file's SHA-256" contains "$(sha256sum $(digest Patient_p1- json) $(digest Patient_p2- json))" "$sum"
ok "manifest.csv too" equals "$(grep -c ',notify-\(json\|text\),' "$W/n/manifest.csv")" 4

# resumed: nothing made again, the digests still listed; deterministic
ok "a second run" run 0 "${BATCH[@]}" --notify --out-dir "$W/n"
ok "resumes every report" equals "$(pj "$M" 'len([r for r in d["reports"] if r["resumed"]])')" 3
ok "still lists the digests" equals "$(pj "$M" 'len([r for r in d["reports"] if r.get("notify")])')" 2
ok "a fresh run" run 0 "${BATCH[@]}" --notify --out-dir "$W/n2"
ok "writes the same digests" equals "$(cd "$W/n2" && cat */*.notify.* | sha256sum)" "$(cd "$W/n" && cat */*.notify.* | sha256sum)"
ok "in Spanish" run 0 "${BATCH[@]}" --notify --lang es --out-dir "$W/es"
got=$(find "$W/es" -path '*Patient_p1-*' -name '*.notify.txt')
if [ -n "${AOD_UPDATE_GOLDEN:-}" ]; then cp "$got" "$D/expected-p1-es.notify.txt"; fi
ok "the Spanish text is the expected one" cmp "$got" "$D/expected-p1-es.notify.txt"
finish
