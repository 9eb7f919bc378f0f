# lib.sh - the strict prelude every integration test sources.
#
# It gives each test a private, throwaway PostgreSQL (initdb into a temporary
# directory, unix socket only, no TCP), the aodreport program to drive, and
# small assertion helpers.  The server is stopped and the directory removed
# when the test exits, whatever the outcome.
set -euo pipefail

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
AODREPORT="$top_builddir/aodreport"
[ -x "$AODREPORT" ] || { echo "FAIL: $AODREPORT not built" >&2; exit 1; }
# Under --enable-valgrind the program runs under valgrind too.
AOD=(${AOD_VALGRIND:-} "$AODREPORT")

# There is no built-in policy and the demonstration is refused unless named
# explicitly: every report, explain and batch of the tests names it.
DEMO_POLICY="$top_srcdir/examples/policies/demo.xml"

TEST_NAME=$(basename "$0" .sh)
# The migrations the program carries (sql/NNN_name.sql, all compiled in):
# how many, and the schema version they end at.  Counted here rather than
# written into each test, so that adding or renumbering one changes no test.
MIGRATION_FILES=$(cd "$top_srcdir/sql" && ls [0-9][0-9][0-9]_*.sql | wc -l)
SCHEMA_VERSION=$(cd "$top_srcdir/sql" && ls [0-9][0-9][0-9]_*.sql | sort | tail -n 1 | sed 's/^0*\([0-9]*\)_.*/\1/')

TESTS_RUN=0
TESTS_FAILED=0

pg_bindir() {
    local d
    if [ -n "${PG_BINDIR:-}" ]; then echo "$PG_BINDIR"; return; fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
    command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)" && return
    return 1
}

# Runs a command as the server's owner: initdb refuses root.
# From /, since postgres may not enter the build directory (and would say so).
as_pg() {
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

PGTMP=
pg_stop() {
    if [ -n "$PGTMP" ] && [ -d "$PGTMP" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -m immediate -w stop >/dev/null 2>&1 || true
        rm -rf "$PGTMP"
    fi
}

# pg_start: the server; AOD_PG_SETTINGS adds settings ("-c name=value ...").
pg_start() {
    PGBIN=$(pg_bindir) || { echo "FAIL: no PostgreSQL server binaries (initdb) found" >&2; exit 1; }
    PGTMP=$(mktemp -d "${TMPDIR:-/tmp}/aod-pg.XXXXXX")
    trap pg_stop EXIT
    # The server (postgres, under root) creates its files here, and the
    # tests write reports here: the directory stays the test runner's, as
    # aodreport requires of an output directory (outfile.h), sticky so that
    # each user keeps to its own files.
    if [ "$(id -u)" = 0 ]; then chmod 1777 "$PGTMP"; else chmod 755 "$PGTMP"; fi
    as_pg "$PGBIN/initdb" -D "$PGTMP/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$PGTMP/initdb.log" 2>&1 || { cat "$PGTMP/initdb.log" >&2; exit 1; }
    as_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/server.log" -w \
        -o "-k $PGTMP -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off ${AOD_PG_SETTINGS:-}" \
        start >/dev/null || { cat "$PGTMP/server.log" >&2; exit 1; }
    export PGHOST="$PGTMP" PGUSER=postgres PGDATABASE=aodtest
    unset PGPORT PGSERVICE PGPASSWORD
    as_pg "$PGBIN/createdb" -h "$PGTMP" -U postgres aodtest
}

psql_q() {
    "$PGBIN/psql" -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"
}

# ok NAME COMMAND...: a TAP-like line per check; the script's exit code and
# its closing "N passed, N failed" line say how it went.
ok() {
    local name=$1
    shift
    TESTS_RUN=$((TESTS_RUN + 1))
    if "$@"; then
        echo "ok $TESTS_RUN - $name"
    else
        echo "not ok $TESTS_RUN - $name"
        TESTS_FAILED=$((TESTS_FAILED + 1))
    fi
}

# run EXPECTED_STATUS CMD...: runs CMD, keeps stdout/stderr in $OUT/$ERR,
# succeeds only if the exit status is EXPECTED_STATUS.
run() {
    local want=$1 status=0
    shift
    "$@" >"$PGTMP/out" 2>"$PGTMP/err" || status=$?
    OUT=$(cat "$PGTMP/out")
    ERR=$(cat "$PGTMP/err")
    STATUS=$status
    if [ "$status" != "$want" ]; then
        echo "# expected status $want, got $status from: $*" >&2
        echo "# stdout: $OUT" >&2
        echo "# stderr: $ERR" >&2
        return 1
    fi
}

contains() { # contains HAYSTACK NEEDLE
    case "$1" in *"$2"*) return 0 ;; esac
    echo "# expected to find: $2" >&2
    echo "# in: $1" >&2
    return 1
}

equals() { # equals ACTUAL EXPECTED
    [ "$1" = "$2" ] && return 0
    echo "# expected: $2" >&2
    echo "# actual:   $1" >&2
    return 1
}

finish() {
    echo "$TEST_NAME: $((TESTS_RUN - TESTS_FAILED)) passed, $TESTS_FAILED failed"
    [ "$TESTS_FAILED" = 0 ]
}
