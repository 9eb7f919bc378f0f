#!/usr/bin/env bash
# test_output.sh - where `report -o` may write, against a real PostgreSQL.
# A report goes to a temporary file beside its name and is renamed into
# place (src/base/outfile.c); that must never turn a device, a named pipe or a
# symbolic link into a regular file, and a path that cannot be written must
# be refused before any work, leaving nothing behind.
. "$(dirname "$0")/lib.sh"
pg_start
W="$PGTMP/outputs"
mkdir -p "$W"
CASE="$top_srcdir/tests/data/cases/hl7-disclosure-r4"

"$AODREPORT" init >/dev/null
"$AODREPORT" load "$CASE/events.ndjson" >/dev/null
R=(report --policy "$DEMO_POLICY" --patient Patient/example --from 2010-01-01 --now 2026-11-01T00:00:00Z)
no_temps() { test -z "$(find "$1" -name '.*.??????' 2>/dev/null)"; }

# The reference: the same report into a plain new file.
ok "a new file" run 0 "${AOD[@]}" "${R[@]}" -o "$W/ref.csv"
ok "is written whole" test -s "$W/ref.csv"
ok "with mode 0600, whatever the umask" \
    bash -c "umask 000; \"\$@\" >/dev/null 2>&1 && test -z \"\$(find '$W/u.csv' ! -perm 600)\"" \
    _ "${AOD[@]}" "${R[@]}" -o "$W/u.csv"

echo old >"$W/old.csv"
ok "an existing file is replaced" run 0 "${AOD[@]}" "${R[@]}" -o "$W/old.csv"
ok "by the whole report" cmp -s "$W/old.csv" "$W/ref.csv"

ok "standard output" run 0 "${AOD[@]}" "${R[@]}" -o -
ok "gets the same bytes" equals "$OUT" "$(cat "$W/ref.csv")"

# A directory: refused up front, nothing created in or beside it.
mkdir "$W/dir"
ok "a directory is refused" run 6 "${AOD[@]}" "${R[@]}" -o "$W/dir"
ok "saying so" contains "$ERR" "$W/dir: is a directory"
ok "and nothing is left beside it" no_temps "$W"

# A named pipe: written through, and still a pipe afterwards.
mkfifo "$W/pipe"
timeout 60 cat "$W/pipe" >"$W/from-pipe.csv" &
reader=$!
ok "a named pipe is written to" run 0 "${AOD[@]}" "${R[@]}" -o "$W/pipe"
wait "$reader" || true
ok "the reader got the report" cmp -s "$W/from-pipe.csv" "$W/ref.csv"
ok "the pipe is still a pipe" test -p "$W/pipe"
ok "and no temporary file is left" no_temps "$W"

# A device that refuses the bytes: an error, and the device is untouched.
if [ -c /dev/full ]; then
    ok "/dev/full: the write error is reported" run 6 "${AOD[@]}" "${R[@]}" -o /dev/full
    ok "naming the device and the reason" contains "$ERR" "/dev/full: write error: No space left"
    ok "/dev/full is still a character device" test -c /dev/full
fi

# A symbolic link stays a link; the file it names gets the report.
echo old >"$W/target.csv"
ln -s target.csv "$W/latest.csv"
ok "through a symbolic link" run 0 "${AOD[@]}" "${R[@]}" -o "$W/latest.csv"
ok "the link is still a link" test -L "$W/latest.csv"
ok "its target holds the report" cmp -s "$W/target.csv" "$W/ref.csv"
ln -s nowhere.csv "$W/dangling.csv"
ok "a link to nothing is refused" run 6 "${AOD[@]}" "${R[@]}" -o "$W/dangling.csv"
ok "saying why" contains "$ERR" "cannot follow the link"
ok "and nothing is created" test ! -e "$W/nowhere.csv"

# SIGTERM while the finished temporary waits for its self-audit: the report
# stops with exit 9, says so, and leaves neither the file nor its temporary.
AOD_TEST_SLOW_MS=2000 "${AOD[@]}" "${R[@]}" -o "$W/stopped.csv" >/dev/null 2>"$W/stopped.err" &
pid=$!
for i in $(seq 1 300); do
    [ -n "$(find "$W" -name '.stopped.csv.aodtmp.*')" ] && break
    sleep 0.1
done
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
ok "SIGTERM: the report stops with exit 9" equals "$rc" 9
ok "SIGTERM: saying so" contains "$(cat "$W/stopped.err")" "interrupted"
ok "SIGTERM: no report is published" test ! -e "$W/stopped.csv"
ok "SIGTERM: and no temporary is left" test -z "$(find "$W" -name '.stopped.csv.aodtmp.*')"

finish
