/*
 * store.c - the PostgreSQL audit store (see store.h).
 *
 * Stage: source.  Every statement is parameterised or fixed text; no value
 * from input is ever spliced into SQL.  Loading streams rows into a
 * temporary staging table with COPY in batches and moves each batch into the
 * store with one INSERT ... ON CONFLICT, so one file is one transaction and
 * memory stays bounded by the batch.
 */
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "buf.h"
#include "embedded.h"
#include "record.h"

/* Rows per batch: the staging table is moved into the store once per
 * batch.  Rows stream to the server as they are produced (a send every
 * SEND_BYTES), so the server converts JSON while the client parses the next
 * events: the two cores work at once, and client memory stays small. */
#define BATCH_ROWS 20000
#define SEND_BYTES ((size_t)256 * 1024)

struct aod_store {
    PGconn *conn;
    int loading;
    char *loaded_from;
    aod_buf copybuf;
    int copying; /* a COPY into the staging table is open */
    long batch_rows;
    long seq;
    aod_load_counts counts;
};

static const struct {
    int version;
    const char *file;
} migrations[] = {
    {1, "sql/001_store.sql"},
};
#define N_MIGRATIONS (sizeof migrations / sizeof migrations[0])

int aod_store_latest_version(void)
{
    return migrations[N_MIGRATIONS - 1].version;
}

/* libpq messages end in a newline and may span lines; keep the first line. */
static void db_error(aod_error *err, aod_errcode code, const char *what, const char *msg)
{
    char line[400];
    size_t n = 0;

    if (!msg)
        msg = "";
    while (msg[n] && msg[n] != '\n' && n < sizeof line - 1) {
        line[n] = msg[n];
        n++;
    }
    line[n] = '\0';
    aod_error_set(err, code, "database", 0, NULL, "%s: %s", what, n ? line : "unknown error");
}

static void result_error(aod_error *err, const char *what, PGresult *res, PGconn *conn)
{
    const char *msg = res ? PQresultErrorMessage(res) : NULL;

    if (!msg || !*msg)
        msg = PQerrorMessage(conn);
    db_error(err, PQstatus(conn) == CONNECTION_OK ? AOD_ERR_DB : AOD_ERR_DB_CONNECT, what, msg);
}

/* Runs fixed SQL that returns no rows. */
static int exec_simple(aod_store *st, const char *sql, const char *what, aod_error *err)
{
    PGresult *res = PQexec(st->conn, sql);
    int rc = 0;

    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        result_error(err, what, res, st->conn);
        rc = -1;
    }
    PQclear(res);
    return rc;
}

aod_store *aod_store_connect(const char *conninfo, aod_error *err)
{
    const char *keys[] = {"dbname", "fallback_application_name", NULL};
    const char *vals[] = {conninfo && *conninfo ? conninfo : NULL, "aodreport", NULL};
    aod_store *st = NULL;
    PQconninfoOption *opts = NULL;
    char *perr = NULL;

    if (conninfo && *conninfo) {
        opts = PQconninfoParse(conninfo, &perr);
        if (!opts) {
            aod_error_set(err, AOD_ERR_USAGE, "--db", 0, NULL, "invalid connection string: %s",
                          perr ? perr : "out of memory");
            goto fail;
        }
        for (PQconninfoOption *o = opts; o->keyword; o++) {
            if (strcmp(o->keyword, "password") == 0 && o->val && *o->val) {
                aod_error_set(err, AOD_ERR_USAGE, "--db", 0, "password",
                              "a password does not belong on the command line (others can read "
                              "it); use ~/.pgpass, PGPASSFILE or a service file");
                goto fail;
            }
        }
    }
    st = calloc(1, sizeof *st);
    if (!st) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        goto fail;
    }
    aod_buf_init(&st->copybuf, 0);
    st->conn = PQconnectdbParams(keys, vals, 1);
    if (!st->conn || PQstatus(st->conn) != CONNECTION_OK) {
        db_error(err, AOD_ERR_DB_CONNECT, "cannot connect to the database",
                 st->conn ? PQerrorMessage(st->conn) : "out of memory");
        goto fail;
    }
    /* Timestamps cross the wire as UTC text, whatever the server's zone. */
    if (exec_simple(st, "SET TIME ZONE 'UTC'", "set time zone", err) != 0)
        goto fail;
    PQconninfoFree(opts);
    return st;
fail:
    PQconninfoFree(opts);
    PQfreemem(perr);
    aod_store_free(st);
    return NULL;
}

void aod_store_free(aod_store *st)
{
    if (!st)
        return;
    if (st->loading)
        aod_store_load_abort(st);
    if (st->conn)
        PQfinish(st->conn);
    aod_buf_free(&st->copybuf);
    free(st->loaded_from);
    free(st);
}

/* ------------------------------------------------------------ migrations */

static int query_version(aod_store *st, aod_error *err)
{
    PGresult *res = PQexec(st->conn,
                           "SELECT coalesce(max(version), 0) FROM aod.schema_version");
    int v = -1;

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        v = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    else
        result_error(err, "read the schema version", res, st->conn);
    PQclear(res);
    return v;
}

int aod_store_version(aod_store *st, aod_error *err)
{
    PGresult *res = PQexec(st->conn, "SELECT to_regclass('aod.schema_version') IS NOT NULL");
    int exists;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        result_error(err, "look for the store", res, st->conn);
        PQclear(res);
        return -1;
    }
    exists = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return exists ? query_version(st, err) : 0;
}

int aod_store_init(aod_store *st, int *applied, int *version, aod_error *err)
{
    int current, n = 0;
    size_t i;

    *applied = 0;
    *version = 0;
    /* One transaction: a failed migration leaves the store as it was, and the
     * advisory lock keeps two concurrent `init`s from racing. */
    if (exec_simple(st, "BEGIN", "begin", err) != 0)
        return -1;
    if (exec_simple(st,
                    "SELECT pg_advisory_xact_lock(hashtext('aodreport schema'));"
                    "CREATE SCHEMA IF NOT EXISTS aod;"
                    "CREATE TABLE IF NOT EXISTS aod.schema_version ("
                    " version integer PRIMARY KEY,"
                    " name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())",
                    "create schema aod", err) != 0)
        goto fail;
    current = query_version(st, err);
    if (current < 0)
        goto fail;
    for (i = 0; i < N_MIGRATIONS; i++) {
        const aod_embedded_file *f;
        const char *params[2];
        char vbuf[16];
        PGresult *res;

        if (migrations[i].version <= current)
            continue;
        f = aod_embedded_find(migrations[i].file);
        if (!f) {
            aod_error_set(err, AOD_ERR_INTERNAL, migrations[i].file, 0, NULL,
                          "migration missing from the program");
            goto fail;
        }
        if (exec_simple(st, f->data, migrations[i].file, err) != 0)
            goto fail;
        snprintf(vbuf, sizeof vbuf, "%d", migrations[i].version);
        params[0] = vbuf;
        params[1] = migrations[i].file;
        res = PQexecParams(st->conn,
                           "INSERT INTO aod.schema_version (version, name) VALUES ($1::int, $2)",
                           2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            result_error(err, "record the schema version", res, st->conn);
            PQclear(res);
            goto fail;
        }
        PQclear(res);
        n++;
        current = migrations[i].version;
    }
    if (exec_simple(st, "COMMIT", "commit", err) != 0)
        goto fail;
    *applied = n;
    *version = current;
    return 0;
fail:
    PQclear(PQexec(st->conn, "ROLLBACK"));
    return -1;
}

/* ---------------------------------------------------------------- loading */

/* COPY text format: backslash escapes for the bytes that delimit fields. */
static int copy_escape(aod_buf *b, const char *s, size_t len)
{
    size_t i, start = 0;

    for (i = 0; i < len; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '\\':
            rep = "\\\\";
            break;
        case '\n':
            rep = "\\n";
            break;
        case '\r':
            rep = "\\r";
            break;
        case '\t':
            rep = "\\t";
            break;
        default:
            continue;
        }
        if (aod_buf_add(b, s + start, i - start) != 0 || aod_buf_adds(b, rep) != 0)
            return -1;
        start = i + 1;
    }
    return aod_buf_add(b, s + start, len - start);
}

static int copy_field(aod_buf *b, const char *s, size_t len, int last)
{
    int rc = s ? copy_escape(b, s, len) : aod_buf_adds(b, "\\N");
    return rc != 0 ? -1 : aod_buf_addc(b, last ? '\n' : '\t');
}

/* A text[] literal: {"a","b"} with " and \ escaped, then COPY-escaped. */
static int copy_array(aod_buf *b, const char *const *v, size_t n)
{
    aod_buf lit;
    size_t i;
    int rc = -1;

    aod_buf_init(&lit, 0);
    if (aod_buf_addc(&lit, '{') != 0)
        goto out;
    for (i = 0; i < n; i++) {
        const char *p;
        if ((i && aod_buf_addc(&lit, ',') != 0) || aod_buf_addc(&lit, '"') != 0)
            goto out;
        for (p = v[i]; *p; p++)
            if (((*p == '"' || *p == '\\') && aod_buf_addc(&lit, '\\') != 0) ||
                aod_buf_addc(&lit, *p) != 0)
                goto out;
        if (aod_buf_addc(&lit, '"') != 0)
            goto out;
    }
    if (aod_buf_addc(&lit, '}') != 0)
        goto out;
    rc = copy_field(b, lit.data, lit.len, 0);
out:
    aod_buf_free(&lit);
    return rc;
}

int aod_store_load_begin(aod_store *st, const char *loaded_from, aod_error *err)
{
    if (st->loading) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "a load is already open");
        return -1;
    }
    free(st->loaded_from);
    st->loaded_from = strdup(loaded_from ? loaded_from : "");
    if (!st->loaded_from) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return -1;
    }
    memset(&st->counts, 0, sizeof st->counts);
    st->batch_rows = 0;
    st->seq = 0;
    aod_buf_reset(&st->copybuf);
    /* Room to sort a batch in memory (the per-patient order of the report
     * table) instead of spilling it to disk; only for this transaction. */
    if (exec_simple(st, "BEGIN; SET LOCAL work_mem = '128MB'", "begin", err) != 0)
        return -1;
    st->loading = 1;
    if (exec_simple(st,
                    /* text, not jsonb, and not compressed: the one JSON
                     * conversion happens on the way into the store. */
                    "CREATE TEMP TABLE aod_stage ("
                    " seq bigint, fhir_id text, observer text, fhir_version text,"
                    " recorded timestamptz, patient_keys text[], norm text, resource text"
                    ") ON COMMIT DROP;"
                    "ALTER TABLE aod_stage ALTER COLUMN norm SET STORAGE EXTERNAL,"
                    " ALTER COLUMN resource SET STORAGE EXTERNAL",
                    "create the staging table", err) != 0) {
        aod_store_load_abort(st);
        return -1;
    }
    return 0;
}

/* Moves one batch from the staging table into the store. */
static const char move_sql[] =
    /* The key of each staged event; in-file duplicates keep their first copy.
     * Only the narrow (key, seq) pairs are sorted: sorting the documents
     * themselves would spill to disk. */
    "WITH k AS ("
    "  SELECT DISTINCT ON (k) k, seq FROM ("
    "    SELECT seq, CASE WHEN fhir_id IS NOT NULL"
    "      THEN sha256(convert_to('id' || chr(31) || coalesce(observer, '') || chr(31) || fhir_id,"
    "                             'UTF8'))"
    "      ELSE sha256(convert_to(resource::jsonb::text, 'UTF8')) END AS k"
    "    FROM aod_stage) x"
    "  ORDER BY k, seq),"
    " ins AS ("
    "  INSERT INTO aod.audit_event"
    "    (event_key, fhir_id, fhir_version, recorded, patient_keys, loaded_from, resource)"
    "  SELECT k.k, st.fhir_id, st.fhir_version, st.recorded, st.patient_keys, $1, st.resource::jsonb"
    "  FROM k JOIN aod_stage st USING (seq) ORDER BY seq"
    "  ON CONFLICT (event_key) DO NOTHING"
    "  RETURNING id, event_key, recorded, patient_keys),"
    " ep AS ("
    "  INSERT INTO aod.event_patient (patient_key, recorded, event_id, norm)"
    "  SELECT pk, ins.recorded, ins.id, st.norm"
    "  FROM ins JOIN k ON k.k = ins.event_key JOIN aod_stage st ON st.seq = k.seq"
    "  CROSS JOIN LATERAL unnest(ins.patient_keys) pk"
    "  ORDER BY pk, ins.recorded, ins.id"
    "  RETURNING 1)"
    " SELECT (SELECT count(*) FROM ins),"
    "        (SELECT count(*) FROM ins WHERE patient_keys = '{}'),"
    "        (SELECT count(*) FROM ep)";

static int copy_send(aod_store *st, aod_error *err)
{
    if (st->copybuf.len == 0)
        return 0;
    if (PQputCopyData(st->conn, st->copybuf.data, (int)st->copybuf.len) != 1) {
        db_error(err, AOD_ERR_DB, "send COPY data", PQerrorMessage(st->conn));
        return -1;
    }
    aod_buf_reset(&st->copybuf);
    return 0;
}

static int copy_start(aod_store *st, aod_error *err)
{
    PGresult *res = PQexec(st->conn, "COPY aod_stage FROM STDIN");

    if (PQresultStatus(res) != PGRES_COPY_IN) {
        result_error(err, "start COPY", res, st->conn);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    st->copying = 1;
    return 0;
}

static int copy_end(aod_store *st, aod_error *err)
{
    PGresult *res;
    int rc = 0;

    st->copying = 0;
    if (copy_send(st, err) != 0 || PQputCopyEnd(st->conn, NULL) != 1) {
        db_error(err, AOD_ERR_DB, "send COPY data", PQerrorMessage(st->conn));
        rc = -1;
    }
    while ((res = PQgetResult(st->conn))) {
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
            result_error(err, "store the events", res, st->conn);
            rc = -1;
        }
        PQclear(res);
    }
    return rc;
}

static int flush_batch(aod_store *st, aod_error *err)
{
    PGresult *res;
    const char *params[1];

    if (st->batch_rows == 0)
        return 0;
    if (st->copying && copy_end(st, err) != 0)
        return -1;

    params[0] = st->loaded_from;
    res = PQexecParams(st->conn, move_sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        result_error(err, "store the events", res, st->conn);
        PQclear(res);
        return -1;
    }
    st->counts.stored += strtol(PQgetvalue(res, 0, 0), NULL, 10);
    st->counts.without_patient += strtol(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    if (exec_simple(st, "TRUNCATE aod_stage", "empty the staging table", err) != 0)
        return -1;
    st->batch_rows = 0;
    aod_buf_reset(&st->copybuf);
    return 0;
}

int aod_store_load_add(aod_store *st, const aod_load_row *row, aod_error *err)
{
    aod_buf *b = &st->copybuf;
    char seq[32];

    if (!st->loading) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "no load is open");
        return -1;
    }
    if (!st->copying && copy_start(st, err) != 0)
        return -1;
    snprintf(seq, sizeof seq, "%ld", st->seq++);
    if (copy_field(b, seq, strlen(seq), 0) != 0 ||
        copy_field(b, row->fhir_id, row->fhir_id ? strlen(row->fhir_id) : 0, 0) != 0 ||
        copy_field(b, row->observer, row->observer ? strlen(row->observer) : 0, 0) != 0 ||
        copy_field(b, row->fhir_version, strlen(row->fhir_version), 0) != 0 ||
        copy_field(b, row->recorded, strlen(row->recorded), 0) != 0 ||
        copy_array(b, row->patient_keys, row->n_patient_keys) != 0 ||
        copy_field(b, row->norm, row->norm_len, 0) != 0 ||
        copy_field(b, row->resource, row->resource_len, 1) != 0) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory buffering events");
        return -1;
    }
    st->counts.read++;
    st->batch_rows++;
    if (st->batch_rows >= BATCH_ROWS)
        return flush_batch(st, err);
    if (b->len >= SEND_BYTES)
        return copy_send(st, err);
    return 0;
}

int aod_store_load_commit(aod_store *st, aod_load_counts *counts, aod_error *err)
{
    if (!st->loading) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "no load is open");
        return -1;
    }
    if (flush_batch(st, err) != 0 || exec_simple(st, "COMMIT", "commit", err) != 0) {
        aod_store_load_abort(st);
        return -1;
    }
    st->loading = 0;
    st->counts.already = st->counts.read - st->counts.stored;
    if (counts)
        *counts = st->counts;
    return 0;
}

void aod_store_load_abort(aod_store *st)
{
    PGresult *res;

    if (!st->loading)
        return;
    /* End an open COPY with an error so the server discards it, and drain
     * what is in flight before rolling back. */
    if (st->copying)
        PQputCopyEnd(st->conn, "load aborted");
    st->copying = 0;
    while ((res = PQgetResult(st->conn)))
        PQclear(res);
    PQclear(PQexec(st->conn, "ROLLBACK"));
    st->loading = 0;
    st->batch_rows = 0;
    aod_buf_reset(&st->copybuf);
}

/* ---------------------------------------------------------------- reading */

int aod_store_each_event(aod_store *st, const char *const *keys, size_t n_keys, int64_t from_ms,
                         int64_t to_ms, aod_store_event_fn fn, void *ctx, aod_error *err)
{
    aod_buf sql;
    const char **params = NULL;
    char from[40], to[40];
    PGresult *res = NULL;
    int64_t last_id = -1;
    char last_rec[40] = "";
    size_t i;
    int rc = -1, stopped = 0;

    aod_buf_init(&sql, 0);
    if (n_keys == 0) {
        aod_error_set(err, AOD_ERR_USAGE, NULL, 0, "patient", "no patient key");
        goto out;
    }
    params = calloc(n_keys + 2, sizeof *params);
    if (!params)
        goto nomem;
    aod_time_format_utc(from_ms, from, sizeof from);
    aod_time_format_utc(to_ms, to, sizeof to);
    params[0] = from;
    params[1] = to;
    /* One index range scan per key, merged in order: a Merge Append keeps the
     * result sorted without a sort step, whatever the number of keys. */
    if (aod_buf_adds(&sql, "SELECT event_id, norm, recorded FROM (") != 0)
        goto nomem;
    for (i = 0; i < n_keys; i++) {
        params[i + 2] = keys[i];
        if (aod_buf_printf(&sql,
                           "%s(SELECT event_id, norm, recorded FROM aod.event_patient"
                           " WHERE patient_key = $%zu AND recorded >= $1 AND recorded < $2)",
                           i ? " UNION ALL " : "", i + 3) != 0)
            goto nomem;
    }
    if (aod_buf_adds(&sql, ") u ORDER BY recorded, event_id") != 0)
        goto nomem;

    if (!PQsendQueryParams(st->conn, sql.data, (int)(n_keys + 2), NULL, params, NULL, NULL, 0) ||
        !PQsetSingleRowMode(st->conn)) {
        db_error(err, AOD_ERR_DB, "query the store", PQerrorMessage(st->conn));
        goto out;
    }
    rc = 0;
    while ((res = PQgetResult(st->conn))) {
        ExecStatusType s = PQresultStatus(res);
        if (s == PGRES_SINGLE_TUPLE && !stopped) {
            int64_t id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            const char *rec = PQgetvalue(res, 0, 2);
            /* With several keys one event may come once per key, adjacent. */
            if (!(id == last_id && strcmp(rec, last_rec) == 0)) {
                last_id = id;
                snprintf(last_rec, sizeof last_rec, "%s", rec);
                if (fn(ctx, id, PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1), err) != 0) {
                    /* keep draining so the connection stays usable */
                    stopped = 1;
                    rc = -1;
                }
            }
        } else if (s != PGRES_TUPLES_OK && s != PGRES_SINGLE_TUPLE) {
            result_error(err, "query the store", res, st->conn);
            rc = -1;
        }
        PQclear(res);
    }
    goto out;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
out:
    free(params);
    aod_buf_free(&sql);
    return rc;
}
