#!/usr/bin/env bash
# quickstart.sh - the main job on the example data, from nothing:
# install Debian's packages, build aodreport, start a private PostgreSQL
# (its own directory, unix socket only), create the store, load the example
# audit events, and write the example patient's reports into ./out.
#
#   bash examples/quickstart.sh          do all of it (again: it reuses what is there)
#   bash examples/quickstart.sh stop     stop the private server
#
# Afterwards, to use the same store yourself:
#   export PGHOST=$AOD_DEMO_DIR PGUSER=postgres PGDATABASE=aodreport
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# The server's directory must be reachable by the postgres user, which a
# checkout under /root is not; so it lives outside the tree.
DEMO=${AOD_DEMO_DIR:-/var/tmp/aodreport-demo-$(id -u)}
# As root, the server's programs run as postgres, from / : postgres may not
# enter the checkout, and they would say so on every call.
as_pg() { if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r | head -n 1; }

if [ "${1:-}" = stop ]; then
    as_pg "$(pg_bin)/pg_ctl" -D "$DEMO/data" -w stop
    exit 0
fi

if [ "$(id -u)" = 0 ] && [ -z "${AOD_SKIP_INSTALL:-}" ]; then
    echo "== installing Debian packages"
    bash tests/install-deps.sh
fi

echo "== building (in build/quickstart)"
[ -x configure ] || autoreconf -fi >/dev/null
if [ -f config.status ]; then
    # Configured in place by hand: autoconf refuses an out-of-tree build
    # beside it, so use that build.
    BUILD=$top
else
    BUILD=$top/build/quickstart
    mkdir -p "$BUILD"
    [ -f "$BUILD/Makefile" ] || (cd "$BUILD" && "$top/configure" -q)
fi
make -C "$BUILD" -j"$(nproc)" >/dev/null
aodreport() { "$BUILD/aodreport" "$@"; }

PGBIN=$(pg_bin)
if [ ! -f "$DEMO/data/PG_VERSION" ]; then
    echo "== creating a private PostgreSQL in $DEMO"
    mkdir -p "$DEMO"
    chmod 700 "$DEMO"
    [ "$(id -u)" = 0 ] && chown postgres "$DEMO"
    as_pg "$PGBIN/initdb" -D "$DEMO/data" -U postgres --auth=peer --auth-local=trust \
        -E UTF8 --locale=C.UTF-8 >"$DEMO/initdb.log"
fi
if ! as_pg "$PGBIN/pg_ctl" -D "$DEMO/data" status >/dev/null 2>&1; then
    echo "== starting it (unix socket in $DEMO, no TCP)"
    as_pg "$PGBIN/pg_ctl" -D "$DEMO/data" -l "$DEMO/server.log" -w \
        -o "-k $DEMO -c listen_addresses=''" start >/dev/null
fi
# root may not enter a 700 directory of postgres's for the socket: open it up
# just enough to reach the socket.
chmod 711 "$DEMO"
export PGHOST=$DEMO PGUSER=postgres PGDATABASE=aodreport
unset PGPORT PGSERVICE
as_pg "$PGBIN/psql" -h "$DEMO" -U postgres -d postgres -XtAq \
    -c "SELECT 1 FROM pg_database WHERE datname = 'aodreport'" | grep -q 1 ||
    as_pg "$PGBIN/createdb" -h "$DEMO" -U postgres aodreport

echo "== creating the store"
aodreport init

echo "== generating and loading the example audit events"
python3 examples/generate.py -o "$DEMO/example-events.ndjson"
aodreport load "$DEMO/example-events.ndjson"

mkdir -p out
echo "== writing the example patient's reports into ./out"
# The example patient is known by a reference and two identifiers; naming
# all three finds every event (some disclosures name only the SSN).
P=(--patient Patient/example-1 --patient 'http://hospital.example.org/mrn|1000001'
   --patient 'urn:oid:2.16.840.1.113883.4.1|999-00-0001')
COMMON=(--policy examples/policies/demo.xml "${P[@]}" --now 2026-11-01T00:00:00Z --requested 2026-10-20
        --patient-name "José Müller-Ødegård")
for mode in disclosures access; do
    aodreport report "${COMMON[@]}" --mode "$mode" --format csv -o "out/example-1-$mode.csv"
    aodreport report "${COMMON[@]}" --mode "$mode" --format pdf -o "out/example-1-$mode.pdf"
    aodreport report "${COMMON[@]}" --mode "$mode" --format bundle-json -o "out/example-1-$mode.json"
    aodreport report "${COMMON[@]}" --mode "$mode" --format bundle-xml -o "out/example-1-$mode.xml"
done
aodreport report "${COMMON[@]}" --audience privacy-office --format csv -o out/example-1-disclosures-privacy-office.csv
aodreport explain "${COMMON[@]}" -o out/example-1-explain.csv
ls -l out
echo "== done.  The program is $BUILD/aodreport; the server keeps running"
echo "   (export PGHOST=$DEMO PGUSER=postgres PGDATABASE=aodreport to use it);"
echo "   stop it with: bash examples/quickstart.sh stop"
