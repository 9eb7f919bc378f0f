#!/usr/bin/env bash
# test_hostile.sh - the program on hostile ground (issue 15), against a real
# PostgreSQL.  It runs as root, as cron runs it at a hospital, while another
# local user (nobody) plants links and files where the reports go.  Every
# link points at a decoy this test makes; no system file is ever a target.
#
# One function per attack; the list at the bottom runs them.  To add one,
# write a function and add its name to the list.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ] || ! id nobody >/dev/null 2>&1; then
    echo "# test_hostile.sh needs root and a 'nobody' user: skipped" >&2
    exit 77
fi

pg_start
H="$PGTMP/hostile"
mkdir -p "$H"
chmod 755 "$H"
CASE="$top_srcdir/tests/data/cases/hl7-disclosure-r4"
NOW=2026-11-01T00:00:00Z
R=(report --policy "$DEMO_POLICY" --patient Patient/example --from 2010-01-01 --now "$NOW")
"$AODREPORT" init >/dev/null
"$AODREPORT" load "$CASE/events.ndjson" >/dev/null

as_nobody() { runuser -u nobody -- "$@"; }
# A decoy: a file root owns, with known bytes, that no report may touch.
decoy() { printf 'decoy %s\n' "$1" >"$1"; chmod 644 "$1"; }
untouched() { [ "$(cat "$1" 2>/dev/null)" = "decoy $1" ]; }
selfaudits() { psql_q "SELECT count(*) FROM aod.audit_event WHERE resource @> '{\"subtype\":[{\"code\":\"aodreport-report\"}]}'"; }
no_temps() { local t; t=$(find "$1" -name '.*.aodtmp.*' 2>/dev/null); [ -z "$t" ] || { echo "# left: $t" >&2; return 1; }; }

# report -o through a link nobody planted in a sticky, world-writable
# directory (root's, like the system's temporary directory): the link's
# target is never written.
attack_report_link_in_sticky_dir() {
    local d="$H/sticky"
    mkdir "$d"
    chmod 1777 "$d"
    decoy "$H/decoy-report"
    as_nobody ln -s "$H/decoy-report" "$d/report.csv"
    ok "report -o: nobody's link in a sticky dir is refused" run 6 "${AOD[@]}" "${R[@]}" -o "$d/report.csv"
    ok "report -o: saying it is another user's link" contains "$ERR" "symbolic link owned by another user"
    ok "report -o: the link's target is untouched" untouched "$H/decoy-report"
    ok "report -o: the link is still nobody's link" test -L "$d/report.csv"
    ok "report -o: no temporary file is left" no_temps "$d"
    # A link to a file that is not there yet: nothing is created.
    as_nobody ln -s "$H/decoy-new" "$d/new.csv"
    ok "report -o: nobody's dangling link is refused" run 6 "${AOD[@]}" "${R[@]}" -o "$d/new.csv"
    ok "report -o: its target is not created" test ! -e "$H/decoy-new"
    # A named pipe nobody planted would block the run or take the report.
    as_nobody mkfifo "$d/pipe.csv"
    ok "report -o: nobody's named pipe is refused" run 6 timeout 20 "${AOD[@]}" "${R[@]}" -o "$d/pipe.csv"
}

# report -o into a directory another user owns or may write to.
attack_report_foreign_dir() {
    local d="$H/nobodys"
    mkdir "$d"
    chown nobody "$d"
    ok "report -o: a directory owned by nobody is refused" run 6 "${AOD[@]}" "${R[@]}" -o "$d/r.csv"
    ok "report -o: saying whose it is" contains "$ERR" "owned by another user"
    ok "report -o: nothing written there" test -z "$(ls -A "$d")"
    mkdir "$H/groupw"
    chgrp nogroup "$H/groupw"
    chmod 2775 "$H/groupw"
    chown nobody "$H/groupw"
    ok "report -o: a group-writable directory of another user is refused" \
        run 6 "${AOD[@]}" "${R[@]}" -o "$H/groupw/r.csv"
    # The output directory itself swapped for nobody's link to a directory
    # of root's: the link is not followed.
    mkdir "$H/nobodys2" "$H/decoy-closed"
    chown nobody "$H/nobodys2"
    as_nobody ln -s "$H/decoy-closed" "$H/nobodys2/out"
    ok "report -o: an output directory that is nobody's link is refused" \
        run 6 "${AOD[@]}" "${R[@]}" -o "$H/nobodys2/out/r.csv"
    ok "report -o: saying it is another user's link" contains "$ERR" "symbolic link owned by another user"
    ok "report -o: the directory it names receives nothing" test -z "$(ls -A "$H/decoy-closed")"
}

# A temporary file a killed `report -o` left is removed by the next run:
# only ours (the pattern, a regular file root owns) whose writer is gone.
attack_report_stale_temps() {
    local d="$H/stale" dead
    mkdir "$d"
    dead=$(bash -c 'echo $$')
    printf 'half' >"$d/.r.csv.aodtmp.$dead.AAAAAA"
    printf 'live' >"$d/.r.csv.aodtmp.$$.BBBBBB"
    printf 'old' >"$d/.r.csv.aodtmp.$$.CCCCCC"
    touch -d '3 days ago' "$d/.r.csv.aodtmp.$$.CCCCCC"
    as_nobody bash -c "printf theirs >'$d/.x.csv.aodtmp.$dead.DDDDDD'" 2>/dev/null ||
        { printf theirs >"$d/.x.csv.aodtmp.$dead.DDDDDD"; chown nobody "$d/.x.csv.aodtmp.$dead.DDDDDD"; }
    decoy "$H/decoy-temp"
    ln -s "$H/decoy-temp" "$d/.y.csv.aodtmp.$dead.EEEEEE"
    ok "stale temps: the report runs" run 0 "${AOD[@]}" "${R[@]}" -o "$d/r.csv"
    ok "stale temps: a dead writer's temp is removed" test ! -e "$d/.r.csv.aodtmp.$dead.AAAAAA"
    ok "stale temps: an old temp is removed" test ! -e "$d/.r.csv.aodtmp.$$.CCCCCC"
    ok "stale temps: a live writer's recent temp is kept" test -e "$d/.r.csv.aodtmp.$$.BBBBBB"
    ok "stale temps: another user's file is kept" test -e "$d/.x.csv.aodtmp.$dead.DDDDDD"
    ok "stale temps: a link is kept" test -L "$d/.y.csv.aodtmp.$dead.EEEEEE"
    ok "stale temps: and its target untouched" untouched "$H/decoy-temp"
    # And one a real `report -o` leaves when it is killed at the worst time.
    AOD_TEST_SLOW_MS=30000 "${AOD[@]}" "${R[@]}" -o "$d/killed.csv" >/dev/null 2>&1 &
    local pid=$! i
    for i in $(seq 1 300); do
        [ -n "$(find "$d" -name '.killed.csv.aodtmp.*')" ] && break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    ok "killed report: its temporary file is left" test -n "$(find "$d" -name '.killed.csv.aodtmp.*')"
    ok "killed report: the next run" run 0 "${AOD[@]}" "${R[@]}" -o "$d/killed.csv"
    ok "killed report: removes it" test -z "$(find "$d" -name '.killed.csv.aodtmp.*')"
}

# batch --out-dir in a shared directory where nobody planted the patient
# directory, the manifest and the lock as links.
attack_batch_links() {
    local probe="$H/probe" d="$H/shared" pdir
    printf 'patient\nPatient/example\n' >"$H/req.csv"
    "${AOD[@]}" batch --policy "$DEMO_POLICY" --requests "$H/req.csv" --out-dir "$probe" --now "$NOW" --formats csv \
        --quiet >/dev/null 2>&1 || true
    pdir=$(cd "$probe" && ls -d Patient_example-* 2>/dev/null | head -n 1)
    ok "batch: the probe run named the patient directory" test -n "$pdir"
    mkdir "$d"
    chmod 1777 "$d"
    mkdir "$H/decoy-dir"
    decoy "$H/decoy-manifest"
    as_nobody ln -s "$H/decoy-dir" "$d/$pdir"
    as_nobody ln -s "$H/decoy-manifest" "$d/manifest.json"
    as_nobody ln -s "$H/decoy-lock" "$d/.aodreport-batch.lock"
    ok "batch: nobody's lock link stops the run" \
        run 6 "${AOD[@]}" batch --policy "$DEMO_POLICY" --requests "$H/req.csv" --out-dir "$d" --now "$NOW" --formats csv
    ok "batch: saying so" contains "$ERR" ".aodreport-batch.lock: is a symbolic link"
    ok "batch: the lock link's target is not created" test ! -e "$H/decoy-lock"
    rm -f "$d/.aodreport-batch.lock"
    ok "batch: with the lock gone, the run goes on" \
        run 10 "${AOD[@]}" batch --policy "$DEMO_POLICY" --requests "$H/req.csv" --out-dir "$d" --now "$NOW" --formats csv
    ok "batch: nobody's linked patient directory receives nothing" test -z "$(ls -A "$H/decoy-dir")"
    ok "batch: the report fails, saying why" contains "$ERR" "$pdir: is a symbolic link"
    ok "batch: the linked manifest's target is untouched" untouched "$H/decoy-manifest"
    ok "batch: the manifest is a file of ours now" test -f "$d/manifest.json" -a ! -L "$d/manifest.json"
    ok "batch: a shared out-dir of ours is used with a warning" contains "$ERR" "is writable by group or others (mode 1777)"
}

# batch --out-dir that another user owns.
attack_batch_foreign_out_dir() {
    local d="$H/nobodys-out"
    mkdir "$d"
    chown nobody "$d"
    chmod 777 "$d"
    ok "batch: an out-dir of another user is refused" \
        run 6 "${AOD[@]}" batch --policy "$DEMO_POLICY" --requests "$H/req.csv" --out-dir "$d" --now "$NOW" --formats csv
    ok "batch: saying whose it is" contains "$ERR" "owned by another user"
    ok "batch: nothing written there" test -z "$(ls -A "$d")"
}

# The same report replayed by other people is recorded each time.
attack_replayed_export() {
    local before
    before=$(selfaudits)
    ok "replay: alice's report" run 0 "${AOD[@]}" "${R[@]}" --operator alice -o -
    ok "replay: bob replays it" run 0 "${AOD[@]}" "${R[@]}" --operator bob -o -
    ok "replay: alice again" run 0 "${AOD[@]}" "${R[@]}" --operator alice -o -
    ok "replay: each export has its own self-audit" test "$(selfaudits)" = $((before + 3))
    ok "replay: bob's is recorded as bob's" test "$(psql_q "SELECT count(*) FROM aod.audit_event
        WHERE resource @> '{\"subtype\":[{\"code\":\"aodreport-report\"}]}'
          AND resource->'agent'->0->'who'->>'display' LIKE 'bob (database user %'")" -ge 1
}

# The pseudonym secret: only a regular file of ours that nobody else reads.
attack_unsafe_secret() {
    local src="$top_srcdir/tests/data/cases/masking-pseudonym" d="$H/secret"
    local S=(report --patient Patient/p1 --mode access --now "$NOW" --policy "$d/policy.xml" -o -)
    mkdir "$d"
    cp "$src/policy.xml" "$d/policy.xml"
    as_pg "$PGBIN/createdb" -h "$PGTMP" -U postgres secretdb
    "$AODREPORT" init --db dbname=secretdb >/dev/null
    "$AODREPORT" load --db dbname=secretdb "$src/events.ndjson" >/dev/null
    S+=(--db dbname=secretdb)
    install -m 600 "$src/pseudonym.key" "$d/pseudonym.key"
    ok "secret: a private key file works" run 0 "${AOD[@]}" "${S[@]}"
    chmod 644 "$d/pseudonym.key"
    ok "secret: a world-readable key is refused" run 7 "${AOD[@]}" "${S[@]}"
    ok "secret: saying why" contains "$ERR" "readable or writable by others"
    chmod 640 "$d/pseudonym.key"
    ok "secret: a group-readable key is refused" run 7 "${AOD[@]}" "${S[@]}"
    chmod 600 "$d/pseudonym.key"
    chown nobody "$d/pseudonym.key"
    ok "secret: a key another user owns is refused" run 7 "${AOD[@]}" "${S[@]}"
    ok "secret: saying whose it is" contains "$ERR" "owned by another user"
    rm "$d/pseudonym.key"
    install -m 600 "$src/pseudonym.key" "$d/real.key"
    ln -s real.key "$d/pseudonym.key"
    ok "secret: a link is refused" run 7 "${AOD[@]}" "${S[@]}"
    rm "$d/pseudonym.key"
    mkfifo -m 600 "$d/pseudonym.key"
    ok "secret: a named pipe is refused, without blocking" run 7 timeout 20 "${AOD[@]}" "${S[@]}"
    ok "secret: saying it is not a regular file" contains "$ERR" "not a regular file"
}

# A request cell with a line break and U+202E, a patient key with U+202E,
# and an SSN: the log shows neither a forged line nor the reordering, nor the
# number.
attack_log_injection() {
    local d="$H/logs" rlo
    rlo=$(printf '\u202e')
    mkdir "$d"
    printf 'patient,formats\nPatient/example,"csv\naodreport: [1/1] ok FORGED%sgnp.exe"\n%s\n%s\n' \
        "$rlo" 'urn:oid:2.16.840.1.113883.4.1|123-45-6789,csv' "urn:x|12${rlo}34,csv" >"$d/req.csv"
    ok "log: the batch runs, one row skipped" \
        run 10 "${AOD[@]}" batch --policy "$DEMO_POLICY" --requests "$d/req.csv" --out-dir "$d/out" --now "$NOW"
    ok "log: no line is forged" bash -c '! grep -q "^aodreport: \[1/1\] ok FORGED" "$1"' _ "$PGTMP/err"
    ok "log: the line break is shown escaped" contains "$ERR" 'csv\naodreport: [1/1] ok FORGED'
    ok "log: no bidi override reaches the log" bash -c '! grep -q "$(printf "\u202e")" "$1"' _ "$PGTMP/err"
    ok "log: it is shown escaped" contains "$ERR" 'FORGED\u202Egnp.exe'
    ok "log: the SSN is not in the log" bash -c '! grep -q "123-45-6789" "$1"' _ "$PGTMP/err"
    ok "log: its last four digits are" contains "$ERR" "urn:oid:2.16.840.1.113883.4.1|*******6789"
}

# A full disk: the error names the file, and nothing is left on it.
attack_disk_full() {
    local d="$H/full" fmt
    mkdir "$d"
    if ! mount -t tmpfs -o size=64k,mode=0755 tmpfs "$d" 2>/dev/null; then
        echo "# no tmpfs mount here: the disk-full checks are skipped" >&2
        return 0
    fi
    dd if=/dev/zero of="$d/fill" bs=1k count=63 2>/dev/null || true
    for fmt in csv pdf bundle-json; do
        ok "disk full ($fmt): an I/O error" run 6 "${AOD[@]}" "${R[@]}" --format "$fmt" -o "$d/r.$fmt"
        ok "disk full ($fmt): naming the file" contains "$ERR" "$d/r.$fmt"
        ok "disk full ($fmt): and the reason" contains "$ERR" "No space left on device"
        ok "disk full ($fmt): nothing left behind" test "$(ls -A "$d")" = fill
    done
    umount "$d"
}

# Messages go to cron mail: each error one line, naming the input, and
# nothing from the libraries on stderr.
attack_messages() {
    local d="$H/msg"
    mkdir "$d"
    printf '<?xml version="1.0" encoding="EUC-JP"?>\n<policy xmlns="urn:aodreport:policy:1" name="\217\377\377\241"/>\n' \
        >"$d/policy.xml"
    ok "messages: a policy in a broken encoding is refused" \
        run 7 "${AOD[@]}" "${R[@]}" --policy "$d/policy.xml" -o -
    ok "messages: in one line naming the file" test "$ERR" = "aodreport: $d/policy.xml: malformed XML: input conversion failed due to input error, bytes 0x8F 0xFF 0xFF 0xA1"
    ok "messages: an invalid connection string" run 2 "${AOD[@]}" "${R[@]}" --db 'host=x port' -o -
    ok "messages: without a stray line" test "$(printf '%s\n' "$ERR" | grep -c '^$')" = 0
    ok "messages: nor an escaped line break" bash -c '! grep -qF "\\n" "$1"' _ "$PGTMP/err"
}

for attack in \
    attack_report_link_in_sticky_dir \
    attack_report_foreign_dir \
    attack_report_stale_temps \
    attack_batch_links \
    attack_batch_foreign_out_dir \
    attack_replayed_export \
    attack_unsafe_secret \
    attack_log_injection \
    attack_disk_full     attack_messages; do
    echo "# $attack"
    "$attack"
done
finish
