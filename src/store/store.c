/*
 * store.c - the PostgreSQL audit store (see store.h).
 *
 * Stage: source.  Every statement is parameterised or fixed text; no value
 * from input is ever spliced into SQL.  Loading COPYs batches of rows
 * straight into the store, keyed and numbered by the client (see "loading"
 * below), so one file is one transaction and memory stays bounded by two
 * batches.
 */
#include "store/store.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "base/buf.h"
#include "base/embedded.h"
#include "model/record.h"
#include "base/sha256.h"

typedef struct load_state load_state;

struct aod_store {
    PGconn *conn;
    char user[200];   /* session_user, and "/current_user" when it differs */
    int loading;      /* a load transaction is open */
    int site_loading; /* a site input replacement is open (aod_store_site_begin) */
    aod_site_kind site_kind;
    long site_rows;
    aod_buf site_line; /* one COPY row, reused */
    load_state *load;  /* its state, kept for the next load (see "loading") */
};

static void load_state_free(load_state *ls);

static const struct {
    int version;
    const char *file;
} migrations[] = {
    {1, "sql/001_store.sql"},           /* the store */
    {2, "sql/002_other_keys.sql"},      /* each event once per report */
    {3, "sql/003_least_privilege.sql"}, /* roles, the self-audit function */
    {4, "sql/004_search_outcomes.sql"}, /* what search responses left out */
    {5, "sql/005_partitions.sql"},      /* a store partitioned by month */
    {6, "sql/006_mhd_formats.sql"},     /* the MHD formats in the self-audit */
    {7, "sql/007_observer_days.sql"},   /* sources, their days, completeness */
    {8, "sql/008_batch_formats.sql"},   /* twelve files in one self-audit */
    {9, "sql/009_set_based.sql"},       /* the check and the batch's self-audit, set-based */
    {10, "sql/010_site_inputs.sql"},    /* the site lists of the access flags */
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
    /* the primary message alone: libpq's full text repeats "ERROR:" and
     * adds lines of context meant for psql */
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

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

/* A WARNING from the server, once, on one line of our own, escaped as every
 * logged value is; libpq's default prints its raw multi-line text beside the
 * error that follows it. */
static void on_notice(void *arg, const char *msg)
{
    char line[400], shown[800];
    size_t n = 0;

    (void)arg;
    if (strncmp(msg, "WARNING:  ", 10) == 0)
        msg += 10;
    while (msg[n] && msg[n] != '\n' && n < sizeof line - 1) {
        line[n] = msg[n];
        n++;
    }
    line[n] = '\0';
    fprintf(stderr, "aodreport: the database warns: %s\n",
            aod_error_escape(line, shown, sizeof shown));
}

/* The database user as the server knows it (a login mapped by pg_ident or
 * a SET ROLE in the service file is not what PQuser() says): recorded by
 * every self-audit and part of its id. */
static int who_am_i(aod_store *st, aod_error *err)
{
    PGresult *res = PQexec(st->conn, "SELECT session_user, current_user");
    int rc = -1;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        db_error(err, AOD_ERR_DB, "who am I", PQerrorMessage(st->conn));
        goto out;
    }
    if (strcmp(PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1)) == 0)
        snprintf(st->user, sizeof st->user, "%s", PQgetvalue(res, 0, 0));
    else
        snprintf(st->user, sizeof st->user, "%s/%s", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
    rc = 0;
out:
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
            /* libpq ends its message with a line break: not ours to print */
            size_t n = perr ? strlen(perr) : 0;
            while (n > 0 && (perr[n - 1] == '\n' || perr[n - 1] == ' '))
                perr[--n] = '\0';
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
    st->conn = PQconnectdbParams(keys, vals, 1);
    if (!st->conn || PQstatus(st->conn) != CONNECTION_OK) {
        db_error(err, AOD_ERR_DB_CONNECT, "cannot connect to the database",
                 st->conn ? PQerrorMessage(st->conn) : "out of memory");
        goto fail;
    }
    PQsetNoticeProcessor(st->conn, on_notice, NULL);
    /* Timestamps cross the wire as UTC text, whatever the server's zone. */
    /* NOTICEs ("schema already exists, skipping") are noise to a user. */
    if (exec_simple(st, "SET TIME ZONE 'UTC'; SET client_min_messages = warning; SET jit = off",
                    "set time zone", err) != 0)
        goto fail;
    if (who_am_i(st, err) != 0)
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
    if (st->site_loading)
        aod_store_site_abort(st);
    aod_buf_free(&st->site_line);
    if (st->conn)
        PQfinish(st->conn);
    load_state_free(st->load);
    free(st);
}

/* ------------------------------------------------------------ migrations */

static int query_version(aod_store *st, aod_error *err)
{
    PGresult *res = PQexec(st->conn, "SELECT coalesce(max(version), 0) FROM aod.schema_version");
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

int aod_store_check_version(aod_store *st, aod_error *err)
{
    int v = aod_store_version(st, err);

    if (v < 0)
        return -1;
    if (v != aod_store_latest_version()) {
        aod_error_set(err, AOD_ERR_DB, "database", 0, NULL,
                      "the store is at schema version %d, this program needs %d: run "
                      "'aodreport init' first",
                      v, aod_store_latest_version());
        return -1;
    }
    return 0;
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
                           "INSERT INTO aod.schema_version (version, name) VALUES ($1::int, $2)", 2,
                           NULL, params, NULL, NULL, 0);
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

/*
 * A load collects rows into a batch, each already in COPY form (binary: no
 * escaping, and the server parses no text but the JSON) but for its id.  A
 * full batch is shipped: one query finds which of its event keys the store
 * holds already, one reserves ids for the rest, and the new rows are COPYed
 * straight into aod.audit_event and then, sorted by (patient key, recorded,
 * id) so that a patient's rows of the batch land together, into
 * aod.event_patient.  While a batch travels the connection is non-blocking:
 * each aod_store_load_add() pushes a little more of it, so the server
 * converts and indexes one batch while the client parses the next, and the
 * two cores work at once.  At most two batches are in memory.
 *
 * Nothing else may store events between the check and the COPY, so a load
 * holds an advisory lock until its transaction ends: two loads run one
 * after the other (reports are not affected).
 */
#define BATCH_ROWS 2000
/* The first batch is shipped sooner, and each after it twice as large up to
 * BATCH_ROWS: the server starts storing while the client parses, instead
 * of waiting for a whole batch. */
#define FIRST_BATCH_ROWS 250
#define BATCH_BYTES      ((size_t)8 * 1024 * 1024)
#define SEND_BYTES       ((size_t)256 * 1024)
#define PUMP_ROWS        16
#define SET_SLOTS        4096 /* a power of two, at least twice BATCH_ROWS */

/* COPY writes the given ids into the identity column (as INSERT would with
 * OVERRIDING SYSTEM VALUE); they come from its own sequence. */
static const char copy_event_sql[] =
    "COPY aod.audit_event (event_key, fhir_id, fhir_version, recorded, patient_keys, resource,"
    " loaded_from, id) FROM STDIN (FORMAT binary)";
#define EVENT_FIELDS 8
static const char copy_patient_sql[] = "COPY aod.event_patient (patient_key, recorded, norm,"
                                       " other_keys, event_id) FROM STDIN (FORMAT binary)";
#define PATIENT_FIELDS 5

/* PostgreSQL's binary COPY: a signature, flags and header extension length
 * first, -1 as the field count last; integers are big-endian. */
static const char copy_signature[11] = "PGCOPY\n\377\r\n";
#define TEXT_OID    25                    /* pg_type oid of text, for text[] */
#define PG_EPOCH_MS INT64_C(946684800000) /* 2000-01-01, PostgreSQL's timestamp zero */

typedef struct load_row {
    unsigned char key[AOD_SHA256_DIGEST_LEN]; /* event_key */
    size_t text_off, text_len;                /* its COPY tuple up to resource, in batch.events */
    size_t norm_off, norm_len;                /* norm, in batch.patients */
    size_t pk_first, n_pk;                    /* its patient keys: batch.pks[pk_first ...] */
    int64_t recorded_ms;
    int64_t id;                /* reserved id; 0 when the store holds the event already */
    size_t obs_off, obs_len;   /* its observer identity, in batch.observers */
    size_t disp_off, disp_len; /* its observer's display, in batch.observers */
    int has_disp;
} load_row;

typedef struct load_pk {
    size_t off, len; /* a patient key, in batch.patients */
} load_pk;

/* One line of aod.event_patient, for sorting. */
typedef struct load_link {
    const char *pk;
    size_t pk_len;
    int64_t recorded_ms;
    int64_t id;
    size_t row;
    size_t k; /* which of the row's patient keys pk is */
} load_link;

typedef struct load_batch {
    load_row *rows;
    size_t n_rows, cap_rows;
    load_pk *pks;
    size_t n_pks, cap_pks;
    load_link *links;
    size_t n_links, cap_links;
    long first_line, last_line; /* the input lines of its rows, for messages */
    aod_buf events;             /* COPY tuples for aod.audit_event, but their last two fields */
    aod_buf patients;           /* patient keys and norms for aod.event_patient */
    aod_buf observers;          /* observer identities and displays, for aod.observer_day */
    uint32_t set[SET_SLOTS];    /* row index + 1 by key hash: a file's duplicates */
} load_batch;

/* Where the batch in flight is on the wire. */
typedef enum io_phase {
    IO_IDLE,
    IO_EVENTS_OPEN,  /* COPY into aod.audit_event sent, waiting for the server */
    IO_EVENTS_DATA,  /* sending its rows */
    IO_EVENTS_CLOSE, /* all sent, waiting for the result */
    IO_LINKS_OPEN,   /* the same for aod.event_patient */
    IO_LINKS_DATA,
    IO_LINKS_CLOSE
} io_phase;

struct load_state {
    aod_buf loaded_from; /* the last-but-one field of every aod.audit_event tuple */
    load_batch batch[2];
    int filling;        /* index of the batch aod_store_load_add fills */
    load_batch *flying; /* the batch on the wire, or NULL */
    io_phase phase;
    size_t cursor; /* next row (or link) of the flying batch to send */
    int data_done; /* its last tuple and the trailer are with libpq */
    aod_buf chunk; /* COPY data being handed to libpq */
    aod_buf scratch;
    aod_load_counts counts;
    aod_buf outcomes; /* queued search outcomes: keys (US-separated) NUL severity NUL code
                         NUL message NUL, each; stored at commit */
    /* Records newly stored per observer and UTC day (aod.observer_day),
     * added at commit: a hash table of od_ent over their strings. */
    struct od_ent *od;
    size_t n_od, cap_od;
    uint32_t *od_tab; /* entry index + 1, open addressing */
    size_t od_slots;
    aod_buf od_text;
    int64_t *months; /* months aod.ensure_partitions() answered for in this load */
    size_t n_months, cap_months;
    size_t batch_rows; /* rows of the batch being filled at which it is shipped */
};

/* One (observer, day) of a load: how many records it newly stored. */
typedef struct od_ent {
    size_t obs_off, obs_len; /* in od_text */
    size_t disp_off, disp_len;
    int has_disp;
    int64_t day; /* days since 1970-01-01 (UTC) */
    long n;
    uint64_t hash;
} od_ent;

/* A database error while loading: said of the file being loaded and the
 * lines of the batch the server refused (the load is pipelined, so the
 * line being read is further on), not of "database". */
static void load_error(aod_store *st, aod_error *err, const char *what, PGresult *res)
{
    load_state *ls = st->load;
    const load_batch *b = ls->flying ? ls->flying : &ls->batch[ls->filling];
    aod_error db;

    aod_error_init(&db);
    result_error(&db, what, res, st->conn);
    if (b->first_line > 0)
        aod_error_set(err, db.code, aod_buf_str(&ls->loaded_from), b->first_line, NULL,
                      "the database refused the events of lines %ld-%ld: %s", b->first_line,
                      b->last_line, db.text);
    else
        aod_error_set(err, db.code, aod_buf_str(&ls->loaded_from), 0, NULL,
                      "the database refused the events: %s", db.text);
}

static void batch_reset(load_batch *b)
{
    b->first_line = b->last_line = 0;
    b->n_rows = 0;
    b->n_pks = 0;
    b->n_links = 0;
    aod_buf_reset(&b->events);
    aod_buf_reset(&b->patients);
    aod_buf_reset(&b->observers);
    memset(b->set, 0, sizeof b->set);
}

static void load_state_free(load_state *ls)
{
    int i;

    if (!ls)
        return;
    for (i = 0; i < 2; i++) {
        free(ls->batch[i].rows);
        free(ls->batch[i].pks);
        free(ls->batch[i].links);
        aod_buf_free(&ls->batch[i].events);
        aod_buf_free(&ls->batch[i].patients);
        aod_buf_free(&ls->batch[i].observers);
    }
    free(ls->od);
    free(ls->od_tab);
    free(ls->months);
    aod_buf_free(&ls->od_text);
    aod_buf_free(&ls->loaded_from);
    aod_buf_free(&ls->chunk);
    aod_buf_free(&ls->scratch);
    aod_buf_free(&ls->outcomes);
    free(ls);
}

static load_state *load_state_new(void)
{
    load_state *ls = calloc(1, sizeof *ls);
    int i;

    if (!ls)
        return NULL;
    for (i = 0; i < 2; i++) {
        aod_buf_init(&ls->batch[i].events, 0);
        aod_buf_init(&ls->batch[i].patients, 0);
        aod_buf_init(&ls->batch[i].observers, 0);
    }
    aod_buf_init(&ls->od_text, 0);
    aod_buf_init(&ls->loaded_from, 0);
    aod_buf_init(&ls->chunk, 0);
    aod_buf_init(&ls->scratch, 0);
    aod_buf_init(&ls->outcomes, 0);
    return ls;
}

/* Makes room for one more element in array p (n used, *cap allocated, of
 * size bytes each).  Returns the array, perhaps moved, or NULL when out of
 * memory (p is then still valid). */
static void *grow_array(void *p, size_t *cap, size_t n, size_t size)
{
    size_t want;
    void *q;

    if (n < *cap)
        return p;
    want = *cap ? *cap * 2 : 256;
    q = realloc(p, want * size);
    if (q)
        *cap = want;
    return q;
}

static int put_be(aod_buf *b, uint64_t v, int bytes)
{
    unsigned char p[8];
    int i;

    for (i = bytes - 1; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
    return aod_buf_add(b, p, (size_t)bytes);
}

/* One field: its length, then its bytes; NULL is length -1. */
static int put_field(aod_buf *b, const void *data, size_t len)
{
    if (!data)
        return put_be(b, UINT32_MAX, 4);
    if (len > INT32_MAX)
        return -1;
    return put_be(b, len, 4) || aod_buf_add(b, data, len) ? -1 : 0;
}

static int put_text(aod_buf *b, const char *s)
{
    return put_field(b, s, s ? strlen(s) : 0);
}

static int put_int8(aod_buf *b, int64_t v)
{
    return put_be(b, 8, 4) || put_be(b, (uint64_t)v, 8) ? -1 : 0;
}

/* timestamptz: microseconds since PostgreSQL's epoch. */
static int put_time(aod_buf *b, int64_t ms)
{
    return put_int8(b, (ms - PG_EPOCH_MS) * 1000);
}

/* text[]: dimensions, no-NULLs flag, element type, size and lower bound,
 * then each element as a field.  This writes the part before the elements,
 * for n of them with bytes bytes of text in all. */
static int put_text_array_head(aod_buf *b, size_t n, size_t bytes)
{
    size_t len = 12 + (n ? 8 : 0) + 4 * n + bytes;

    if (len > INT32_MAX || put_be(b, len, 4) || put_be(b, n ? 1 : 0, 4) || put_be(b, 0, 4) ||
        put_be(b, TEXT_OID, 4))
        return -1;
    return n && (put_be(b, n, 4) || put_be(b, 1, 4)) ? -1 : 0;
}

static int put_text_array(aod_buf *b, const char *const *v, size_t n)
{
    size_t i, bytes = 0;

    for (i = 0; i < n; i++)
        bytes += strlen(v[i]);
    if (put_text_array_head(b, n, bytes) != 0)
        return -1;
    for (i = 0; i < n; i++)
        if (put_text(b, v[i]) != 0)
            return -1;
    return 0;
}

/* event_patient.other_keys of the row's key number skip: the row's other
 * patient keys as a text[], or NULL when it has no other. */
static int put_other_keys(aod_buf *c, const load_batch *b, const load_row *r, size_t skip)
{
    size_t i, bytes = 0;

    if (r->n_pk < 2)
        return put_be(c, UINT32_MAX, 4); /* -1: NULL */
    for (i = 0; i < r->n_pk; i++)
        if (i != skip)
            bytes += b->pks[r->pk_first + i].len;
    if (put_text_array_head(c, r->n_pk - 1, bytes) != 0)
        return -1;
    for (i = 0; i < r->n_pk; i++) {
        const load_pk *pk = &b->pks[r->pk_first + i];
        if (i != skip && put_field(c, b->patients.data + pk->off, pk->len) != 0)
            return -1;
    }
    return 0;
}

/*
 * event_key.  An event with an id and an observer: SHA-256 of "id" US
 * observer US id, the same bytes the first stores hashed on the server, so
 * stores stay compatible.  Otherwise (the reader then hands the canonical
 * JSON over): SHA-256 of "json" US and the resource as canonical JSON (keys
 * sorted, no white space).  An id without an observer says nothing about
 * which system's id it is: two systems reusing an id must not collide.
 */
static void event_key(const aod_load_row *row, unsigned char out[AOD_SHA256_DIGEST_LEN])
{
    aod_sha256_ctx h;
    const char *obs = row->observer ? row->observer : "";

    aod_sha256_init(&h);
    if (row->fhir_id && !row->canonical) {
        aod_sha256_update(&h, "id\x1f", 3);
        aod_sha256_update(&h, obs, strlen(obs));
        aod_sha256_update(&h, "\x1f", 1);
        aod_sha256_update(&h, row->fhir_id, strlen(row->fhir_id));
    } else {
        aod_sha256_update(&h, "json\x1f", 5);
        if (row->canonical)
            aod_sha256_update(&h, row->canonical, row->canonical_len);
        else
            aod_sha256_update(&h, row->resource, row->resource_len);
    }
    aod_sha256_final(&h, out);
}

static uint32_t key_hash(const unsigned char *key)
{
    return (uint32_t)key[0] | (uint32_t)key[1] << 8 | (uint32_t)key[2] << 16 |
           (uint32_t)key[3] << 24;
}

/* The row of b with this key, or -1. */
static long batch_find(const load_batch *b, const unsigned char *key, size_t *slot)
{
    size_t i = key_hash(key) & (SET_SLOTS - 1);

    while (b->set[i]) {
        size_t r = b->set[i] - 1;
        if (memcmp(b->rows[r].key, key, AOD_SHA256_DIGEST_LEN) == 0) {
            *slot = i;
            return (long)r;
        }
        i = (i + 1) & (SET_SLOTS - 1);
    }
    *slot = i;
    return -1;
}

/* Formats a row into the batch being filled.  A row whose key is already in
 * the batch is not kept (it counts as already present). */
static int batch_add(load_state *ls, const aod_load_row *row, aod_error *err)
{
    load_batch *b = &ls->batch[ls->filling];
    load_row *r;
    size_t i, slot;

    r = grow_array(b->rows, &b->cap_rows, b->n_rows, sizeof *b->rows);
    if (!r)
        goto nomem;
    b->rows = r;
    r = &b->rows[b->n_rows];
    if (row->line > 0) {
        if (!b->first_line)
            b->first_line = row->line;
        b->last_line = row->line;
    }
    event_key(row, r->key);
    if (batch_find(b, r->key, &slot) >= 0)
        return 0;
    if (aod_time_parse(row->recorded, &r->recorded_ms) != 0) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "recorded", "not a timestamp: %s",
                      row->recorded);
        return -1;
    }
    r->id = 0;
    r->text_off = b->events.len;
    /* jsonb's binary form is a version byte and the JSON text */
    if (put_be(&b->events, EVENT_FIELDS, 2) != 0 ||
        put_field(&b->events, r->key, AOD_SHA256_DIGEST_LEN) != 0 ||
        put_text(&b->events, row->fhir_id) != 0 || put_text(&b->events, row->fhir_version) != 0 ||
        put_time(&b->events, r->recorded_ms) != 0 ||
        put_text_array(&b->events, row->patient_keys, row->n_patient_keys) != 0 ||
        row->resource_len >= INT32_MAX || put_be(&b->events, row->resource_len + 1, 4) != 0 ||
        aod_buf_addc(&b->events, 1) != 0 ||
        aod_buf_add(&b->events, row->resource, row->resource_len) != 0)
        goto nomem;
    r->text_len = b->events.len - r->text_off;
    r->pk_first = b->n_pks;
    r->n_pk = row->n_patient_keys;
    for (i = 0; i < row->n_patient_keys; i++) {
        load_pk *pk = grow_array(b->pks, &b->cap_pks, b->n_pks, sizeof *b->pks);
        if (!pk)
            goto nomem;
        b->pks = pk;
        pk = &b->pks[b->n_pks++];
        pk->off = b->patients.len;
        if (aod_buf_adds(&b->patients, row->patient_keys[i]) != 0)
            goto nomem;
        pk->len = b->patients.len - pk->off;
    }
    r->norm_off = b->patients.len;
    if (row->n_patient_keys && aod_buf_add(&b->patients, row->norm, row->norm_len) != 0)
        goto nomem;
    r->norm_len = b->patients.len - r->norm_off;
    r->obs_off = b->observers.len;
    if (row->observer && aod_buf_adds(&b->observers, row->observer) != 0)
        goto nomem;
    r->obs_len = b->observers.len - r->obs_off;
    r->disp_off = b->observers.len;
    r->has_disp = row->observer_display != NULL;
    if (row->observer_display && aod_buf_adds(&b->observers, row->observer_display) != 0)
        goto nomem;
    r->disp_len = b->observers.len - r->disp_off;
    b->set[slot] = (uint32_t)(b->n_rows + 1);
    b->n_rows++;
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory buffering events");
    return -1;
}

/* The month (years * 12 + month - 1, UTC) of a day since 1970-01-01. */
static int64_t day_month(int64_t day)
{
    /* civil from days: the proleptic Gregorian calendar, in eras of 400 years */
    int64_t z = day + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);

    return y * 12 + m - 1;
}

static int month_known(const load_state *ls, int64_t month)
{
    size_t i;

    for (i = 0; i < ls->n_months; i++)
        if (ls->months[i] == month)
            return 1;
    return 0;
}

/* Makes sure the store has partitions for the months of the batch's new
 * rows (sql/005_partitions.sql): the days they fall on, each once in a
 * run, go to aod.ensure_partitions(), which makes what is missing (usually
 * nothing: months are made ahead).  A month it answered for earlier in this
 * load is not asked again: what it made is the load's transaction's, and
 * the batches of a load mostly fall in the same few months. */
static int batch_partitions(aod_store *st, load_batch *b, aod_error *err)
{
    load_state *ls = st->load;
    aod_buf *q = &ls->scratch;
    const char *params[1];
    PGresult *res;
    int64_t last_day = INT64_MIN, *asked = NULL;
    size_t n_asked = 0, cap_asked = 0;
    char num[32];
    size_t i;
    int first = 1, rc = -1;

    aod_buf_reset(q);
    if (aod_buf_addc(q, '{') != 0)
        goto nomem;
    for (i = 0; i < b->n_rows; i++) {
        int64_t ms = b->rows[i].recorded_ms;
        int64_t day = ms / 86400000 - (ms % 86400000 < 0);
        int64_t month;
        if (b->rows[i].id != 0 || day == last_day)
            continue;
        last_day = day;
        month = day_month(day);
        if (month_known(ls, month))
            continue;
        snprintf(num, sizeof num, "%s%" PRId64, first ? "" : ",", day);
        first = 0;
        if (aod_buf_adds(q, num) != 0)
            goto nomem;
        if (n_asked == cap_asked) {
            int64_t *a = grow_array(asked, &cap_asked, n_asked, sizeof *asked);
            if (!a)
                goto nomem;
            asked = a;
        }
        asked[n_asked++] = month;
    }
    if (first) { /* every month known */
        rc = 0;
        goto out;
    }
    if (aod_buf_addc(q, '}') != 0)
        goto nomem;
    params[0] = q->data;
    res = PQexecParams(st->conn,
                       "SELECT aod.ensure_partitions(ARRAY(SELECT DISTINCT"
                       " to_timestamp(d * 86400.0) FROM unnest($1::int8[]) d))",
                       1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        load_error(st, err, "make the partitions of the batch's months", res);
    else
        rc = 0;
    PQclear(res);
    for (i = 0; rc == 0 && i < n_asked; i++) {
        if (month_known(ls, asked[i]))
            continue;
        if (ls->n_months == ls->cap_months) {
            int64_t *m = grow_array(ls->months, &ls->cap_months, ls->n_months, sizeof *m);
            if (!m)
                goto nomem;
            ls->months = m;
        }
        ls->months[ls->n_months++] = asked[i];
    }
    goto out;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
    rc = -1;
out:
    free(asked);
    return rc;
}

static int id_cmp(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;

    return a < b ? -1 : a > b;
}

/* Marks the rows whose key the store holds already (id stays 0) and
 * reserves ids for the others, in one statement: it returns the position
 * (from 1) of each row not stored yet, with a new id.  nextval() hands one
 * session rising values, so the ids, sorted, go to the new rows in their
 * order: what one nextval() per row in row order would have given. */
static int batch_check(aod_store *st, load_batch *b, long *n_new, aod_error *err)
{
    load_state *ls = st->load;
    static const char hexd[] = "0123456789abcdef";
    aod_buf *q = &ls->scratch;
    PGresult *res = NULL;
    const char *params[1];
    size_t i, k;
    long fresh;
    int64_t *ids = NULL;
    int j, rc = -1;

    /* '{"\\x..","\\x.."}': bytea in hex inside an array literal. */
    aod_buf_reset(q);
    if (aod_buf_addc(q, '{') != 0)
        goto nomem;
    for (i = 0; i < b->n_rows; i++) {
        char hex[2 * AOD_SHA256_DIGEST_LEN];
        for (k = 0; k < AOD_SHA256_DIGEST_LEN; k++) {
            hex[2 * k] = hexd[b->rows[i].key[k] >> 4];
            hex[2 * k + 1] = hexd[b->rows[i].key[k] & 15];
        }
        if (aod_buf_add(q, i ? ",\"\\\\x" : "\"\\\\x", i ? 5 : 4) != 0 ||
            aod_buf_add(q, hex, sizeof hex) != 0 || aod_buf_addc(q, '"') != 0)
            goto nomem;
    }
    if (aod_buf_addc(q, '}') != 0)
        goto nomem;
    params[0] = q->data;
    res = PQexecParams(
        st->conn,
        /* the stored keys first, by each month's key index (never a scan
         * of the archive, whatever the planner thinks of a join) */
        "WITH stored AS MATERIALIZED (SELECT e.event_key FROM aod.audit_event e"
        " WHERE e.event_key = ANY ($1::bytea[]))"
        " SELECT k.i, nextval((SELECT pg_get_serial_sequence('aod.audit_event', 'id')))"
        " FROM unnest($1::bytea[]) WITH ORDINALITY k (key, i)"
        " WHERE NOT EXISTS (SELECT FROM stored s WHERE s.event_key = k.key)",
        1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        load_error(st, err, "look for stored events and reserve ids", res);
        goto out;
    }
    fresh = PQntuples(res);
    if (fresh > 0 && !(ids = malloc((size_t)fresh * sizeof *ids)))
        goto nomem;
    for (i = 0; i < b->n_rows; i++)
        b->rows[i].id = -1;
    for (j = 0; j < fresh; j++) {
        long long pos = strtoll(PQgetvalue(res, j, 0), NULL, 10);
        if (pos < 1 || (unsigned long long)pos > b->n_rows || b->rows[pos - 1].id != -1) {
            aod_error_set(err, AOD_ERR_INTERNAL, aod_buf_str(&ls->loaded_from), b->first_line, NULL,
                          "the database answered the check of lines %ld-%ld with a row that is"
                          " not one of them",
                          b->first_line, b->last_line);
            goto out;
        }
        b->rows[pos - 1].id = 0;
        ids[j] = strtoll(PQgetvalue(res, j, 1), NULL, 10);
    }
    if (fresh > 1)
        qsort(ids, (size_t)fresh, sizeof *ids, id_cmp);
    *n_new = fresh;
    if (fresh > 0 && batch_partitions(st, b, err) != 0)
        goto out;
    for (i = 0, j = 0; i < b->n_rows; i++)
        b->rows[i].id = b->rows[i].id == 0 ? ids[j++] : 0;
    rc = 0;
    goto out;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
out:
    free(ids);
    PQclear(res);
    return rc;
}

static int link_cmp(const void *pa, const void *pb)
{
    const load_link *a = pa, *b = pb;
    size_t n = a->pk_len < b->pk_len ? a->pk_len : b->pk_len;
    int c = memcmp(a->pk, b->pk, n);

    if (c)
        return c;
    if (a->pk_len != b->pk_len)
        return a->pk_len < b->pk_len ? -1 : 1;
    if (a->recorded_ms != b->recorded_ms)
        return a->recorded_ms < b->recorded_ms ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* The event_patient lines of the new rows, in primary key order. */
static int batch_links(load_batch *b)
{
    size_t i, k;

    b->n_links = 0;
    for (i = 0; i < b->n_rows; i++) {
        const load_row *r = &b->rows[i];
        if (!r->id)
            continue;
        for (k = 0; k < r->n_pk; k++) {
            load_link *l = grow_array(b->links, &b->cap_links, b->n_links, sizeof *b->links);
            if (!l)
                return -1;
            b->links = l;
            l = &b->links[b->n_links++];
            l->pk = b->patients.data + b->pks[r->pk_first + k].off;
            l->pk_len = b->pks[r->pk_first + k].len;
            l->recorded_ms = r->recorded_ms;
            l->id = r->id;
            l->row = i;
            l->k = k;
        }
    }
    if (b->n_links > 1)
        qsort(b->links, b->n_links, sizeof *b->links, link_cmp);
    return 0;
}

/* Appends the next tuples of the flying batch to ls->chunk, up to about
 * SEND_BYTES: the header before the first, the trailer after the last. */
static int fill_chunk(load_state *ls, aod_error *err)
{
    load_batch *b = ls->flying;
    aod_buf *c = &ls->chunk;
    int events = ls->phase == IO_EVENTS_DATA;
    size_t end = events ? b->n_rows : b->n_links;

    aod_buf_reset(c);
    if (ls->cursor == 0 && (aod_buf_add(c, copy_signature, sizeof copy_signature) != 0 ||
                            put_be(c, 0, 4) != 0 || put_be(c, 0, 4) != 0))
        goto nomem;
    for (; ls->cursor < end && c->len < SEND_BYTES; ls->cursor++) {
        if (events) {
            const load_row *r = &b->rows[ls->cursor];
            if (!r->id)
                continue;
            if (aod_buf_add(c, b->events.data + r->text_off, r->text_len) != 0 ||
                put_field(c, ls->loaded_from.data, ls->loaded_from.len) != 0 ||
                put_int8(c, r->id) != 0)
                goto nomem;
        } else {
            const load_link *l = &b->links[ls->cursor];
            const load_row *r = &b->rows[l->row];
            if (put_be(c, PATIENT_FIELDS, 2) != 0 || put_field(c, l->pk, l->pk_len) != 0 ||
                put_time(c, r->recorded_ms) != 0 ||
                put_field(c, b->patients.data + r->norm_off, r->norm_len) != 0 ||
                put_other_keys(c, b, r, l->k) != 0 || put_int8(c, r->id) != 0)
                goto nomem;
        }
    }
    if (ls->cursor >= end) {
        if (put_be(c, UINT16_MAX, 2) != 0)
            goto nomem;
        ls->data_done = 1;
    }
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory sending events");
    return -1;
}

/* Waits until the socket can be read (or written, when want_write). */
static int io_wait(aod_store *st, int want_write, aod_error *err)
{
    struct pollfd p;

    p.fd = PQsocket(st->conn);
    p.events = (short)(POLLIN | (want_write ? POLLOUT : 0));
    p.revents = 0;
    if (p.fd < 0 || (poll(&p, 1, -1) < 0 && errno != EINTR)) {
        db_error(err, AOD_ERR_DB_CONNECT, "store the events", "lost the connection");
        return -1;
    }
    if ((p.revents & POLLIN) && !PQconsumeInput(st->conn)) {
        load_error(st, err, "store the events", NULL);
        return -1;
    }
    return 0;
}

/*
 * Moves the flying batch along.  Without block it does what can be done
 * without waiting and returns; with block it returns when the batch is
 * stored.  Returns 0 / -1.
 */
static int io_pump(aod_store *st, int block, aod_error *err)
{
    load_state *ls = st->load;

    while (ls->phase != IO_IDLE) {
        PGresult *res;
        ExecStatusType s;
        int r = PQflush(st->conn);

        if (r < 0) {
            load_error(st, err, "store the events", NULL);
            return -1;
        }
        if (r > 0) {
            if (!block)
                return 0;
            if (io_wait(st, 1, err) != 0)
                return -1;
            continue;
        }
        if (ls->phase == IO_EVENTS_DATA || ls->phase == IO_LINKS_DATA) {
            if (ls->data_done) {
                if (PQputCopyEnd(st->conn, NULL) != 1) {
                    load_error(st, err, "store the events", NULL);
                    return -1;
                }
                ls->phase++;
                continue;
            }
            if (fill_chunk(ls, err) != 0)
                return -1;
            if (ls->chunk.len && PQputCopyData(st->conn, ls->chunk.data, (int)ls->chunk.len) != 1) {
                load_error(st, err, "store the events", NULL);
                return -1;
            }
            continue;
        }
        /* OPEN or CLOSE: the server's turn */
        if (!PQconsumeInput(st->conn)) {
            load_error(st, err, "store the events", NULL);
            return -1;
        }
        if (PQisBusy(st->conn)) {
            if (!block)
                return 0;
            if (io_wait(st, 0, err) != 0)
                return -1;
            continue;
        }
        res = PQgetResult(st->conn);
        s = PQresultStatus(res);
        if (ls->phase == IO_EVENTS_OPEN || ls->phase == IO_LINKS_OPEN) {
            if (s != PGRES_COPY_IN) {
                load_error(st, err, "store the events", res);
                PQclear(res);
                return -1;
            }
            PQclear(res);
            ls->cursor = 0;
            ls->data_done = 0;
            ls->phase++;
            continue;
        }
        if (res) {
            /* the result of a COPY; NULL follows */
            if (s != PGRES_COMMAND_OK) {
                load_error(st, err, "store the events", res);
                PQclear(res);
                return -1;
            }
            PQclear(res);
            continue;
        }
        if (ls->phase == IO_EVENTS_CLOSE && ls->flying->n_links > 0) {
            if (!PQsendQuery(st->conn, copy_patient_sql)) {
                load_error(st, err, "store the events", NULL);
                return -1;
            }
            ls->phase = IO_LINKS_OPEN;
            continue;
        }
        ls->phase = IO_IDLE;
        ls->flying = NULL;
    }
    return 0;
}

/* Stores what aod_store_load_add collected: waits for the batch before it,
 * checks and numbers this one, and sets it on its way. */
/* ------------------------------------------------ records per observer day */

static uint64_t od_hash(const char *s, size_t n, int64_t day)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)day;
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

/* A string of od_text (which holds no bytes yet when all were empty). */
static const char *od_str(const load_state *ls, size_t off)
{
    return ls->od_text.data ? ls->od_text.data + off : "";
}

static int od_grow(load_state *ls)
{
    size_t slots = ls->od_slots ? ls->od_slots * 2 : 1024, i;
    uint32_t *tab = calloc(slots, sizeof *tab);

    if (!tab)
        return -1;
    for (i = 0; i < ls->n_od; i++) {
        size_t j = (size_t)ls->od[i].hash & (slots - 1);
        while (tab[j])
            j = (j + 1) & (slots - 1);
        tab[j] = (uint32_t)(i + 1);
    }
    free(ls->od_tab);
    ls->od_tab = tab;
    ls->od_slots = slots;
    return 0;
}

/* Counts one newly stored record of observer obs (n bytes) on day. */
static int od_add(load_state *ls, const char *obs, size_t n, const char *disp, size_t disp_len,
                  int has_disp, int64_t day)
{
    uint64_t h = od_hash(obs, n, day);
    od_ent *e;
    size_t j;

    if ((ls->n_od + 1) * 2 > ls->od_slots && od_grow(ls) != 0)
        return -1;
    for (j = (size_t)h & (ls->od_slots - 1); ls->od_tab[j]; j = (j + 1) & (ls->od_slots - 1)) {
        e = &ls->od[ls->od_tab[j] - 1];
        if (e->hash == h && e->day == day && e->obs_len == n &&
            memcmp(od_str(ls, e->obs_off), obs, n) == 0) {
            e->n++;
            if (has_disp && !e->has_disp) {
                e->disp_off = ls->od_text.len;
                if (aod_buf_add(&ls->od_text, disp, disp_len) != 0)
                    return -1;
                e->disp_len = disp_len;
                e->has_disp = 1;
            }
            return 0;
        }
    }
    e = grow_array(ls->od, &ls->cap_od, ls->n_od, sizeof *ls->od);
    if (!e)
        return -1;
    ls->od = e;
    e = &ls->od[ls->n_od];
    e->hash = h;
    e->day = day;
    e->n = 1;
    e->obs_off = ls->od_text.len;
    e->obs_len = n;
    if (aod_buf_add(&ls->od_text, obs, n) != 0)
        return -1;
    e->disp_off = ls->od_text.len;
    e->disp_len = has_disp ? disp_len : 0;
    e->has_disp = has_disp;
    if (has_disp && aod_buf_add(&ls->od_text, disp, disp_len) != 0)
        return -1;
    ls->od_tab[j] = (uint32_t)(++ls->n_od);
    return 0;
}

/* The new rows of batch b, counted per observer and day. */
static int od_count(load_state *ls, const load_batch *b)
{
    size_t i;

    for (i = 0; i < b->n_rows; i++) {
        const load_row *r = &b->rows[i];
        int64_t day = r->recorded_ms / 86400000;
        if (!r->id)
            continue;
        if (r->recorded_ms < 0 && r->recorded_ms % 86400000)
            day--;
        if (od_add(ls, b->observers.data ? b->observers.data + r->obs_off : "", r->obs_len,
                   b->observers.data ? b->observers.data + r->disp_off : "", r->disp_len,
                   r->has_disp, day) != 0)
            return -1;
    }
    return 0;
}

/* One element of a PostgreSQL array literal: quoted, \ and " escaped. */
static int put_array_elem(aod_buf *q, const char *s, size_t n, int first)
{
    size_t i;

    if ((!first && aod_buf_addc(q, ',') != 0) || aod_buf_addc(q, '"') != 0)
        return -1;
    for (i = 0; i < n; i++)
        if (((s[i] == '"' || s[i] == '\\') && aod_buf_addc(q, '\\') != 0) ||
            aod_buf_addc(q, s[i]) != 0)
            return -1;
    return aod_buf_addc(q, '"');
}

/* Adds the load's counts to aod.observer_day (at commit, no COPY on the
 * wire): one statement per 2,000 (observer, day) pairs. */
static int store_observer_days(aod_store *st, aod_error *err)
{
    load_state *ls = st->load;
    aod_buf q[4];
    size_t i = 0, k;
    int rc = -1;

    for (k = 0; k < 4; k++)
        aod_buf_init(&q[k], 0);
    while (i < ls->n_od) {
        size_t end = i + 2000 < ls->n_od ? i + 2000 : ls->n_od, j;
        const char *v[4];
        PGresult *res;
        int ok;

        for (k = 0; k < 4; k++)
            aod_buf_reset(&q[k]);
        for (k = 0; k < 4; k++)
            if (aod_buf_addc(&q[k], '{') != 0)
                goto nomem;
        for (j = i; j < end; j++) {
            const od_ent *e = &ls->od[j];
            if (put_array_elem(&q[0], od_str(ls, e->obs_off), e->obs_len, j == i) != 0 ||
                aod_buf_printf(&q[1], j == i ? "%lld" : ",%lld", (long long)e->day) != 0 ||
                aod_buf_printf(&q[2], j == i ? "%ld" : ",%ld", e->n) != 0 ||
                (e->has_disp ? put_array_elem(&q[3], od_str(ls, e->disp_off), e->disp_len, j == i)
                             : aod_buf_adds(&q[3], j == i ? "NULL" : ",NULL")) != 0)
                goto nomem;
        }
        for (k = 0; k < 4; k++) {
            if (aod_buf_addc(&q[k], '}') != 0)
                goto nomem;
            v[k] = aod_buf_str(&q[k]);
        }
        res = PQexecParams(
            st->conn,
            "SELECT aod.observer_days_add($1::text[], $2::int[], $3::bigint[], $4::text[])", 4,
            NULL, v, NULL, NULL, 0);
        ok = PQresultStatus(res) == PGRES_TUPLES_OK;
        if (!ok)
            load_error(st, err, "count the records per source and day", res);
        PQclear(res);
        if (!ok)
            goto out;
        i = end;
    }
    rc = 0;
    goto out;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
out:
    for (k = 0; k < 4; k++)
        aod_buf_free(&q[k]);
    return rc;
}

static int batch_ship(aod_store *st, aod_error *err)
{
    load_state *ls = st->load;
    load_batch *b = &ls->batch[ls->filling];
    size_t i;
    long fresh;

    if (io_pump(st, 1, err) != 0)
        return -1;
    if (b->n_rows == 0)
        return 0;
    if (batch_check(st, b, &fresh, err) != 0)
        return -1;
    if (batch_links(b) != 0) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return -1;
    }
    ls->counts.stored += fresh;
    if (od_count(ls, b) != 0) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return -1;
    }
    for (i = 0; i < b->n_rows; i++)
        ls->counts.without_patient += b->rows[i].id && b->rows[i].n_pk == 0;
    ls->filling = !ls->filling;
    batch_reset(&ls->batch[ls->filling]);
    if (ls->batch_rows < BATCH_ROWS)
        ls->batch_rows = ls->batch_rows * 2 < BATCH_ROWS ? ls->batch_rows * 2 : BATCH_ROWS;
    if (fresh == 0)
        return 0;
    if (!PQsendQuery(st->conn, copy_event_sql)) {
        load_error(st, err, "store the events", NULL);
        return -1;
    }
    ls->flying = b;
    ls->phase = IO_EVENTS_OPEN;
    return io_pump(st, 0, err);
}

int aod_store_load_begin(aod_store *st, const char *loaded_from, aod_error *err)
{
    const char *from = loaded_from ? loaded_from : "";
    load_state *ls;

    if (st->loading) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "a load is already open");
        return -1;
    }
    if (!st->load && !(st->load = load_state_new()))
        goto nomem;
    ls = st->load;
    memset(&ls->counts, 0, sizeof ls->counts);
    batch_reset(&ls->batch[0]);
    batch_reset(&ls->batch[1]);
    ls->filling = 0;
    ls->flying = NULL;
    ls->phase = IO_IDLE;
    aod_buf_reset(&ls->outcomes);
    ls->n_od = 0;
    ls->n_months = 0;
    ls->batch_rows = FIRST_BATCH_ROWS;
    if (ls->od_tab)
        memset(ls->od_tab, 0, ls->od_slots * sizeof *ls->od_tab);
    aod_buf_reset(&ls->od_text);
    aod_buf_reset(&ls->loaded_from);
    if (aod_buf_adds(&ls->loaded_from, from) != 0)
        goto nomem;
    /* The lock is the transaction's: it goes with COMMIT or ROLLBACK. */
    if (exec_simple(st, "BEGIN; SELECT pg_advisory_xact_lock(hashtext('aodreport load'))", "begin",
                    err) != 0) {
        PQclear(PQexec(st->conn, "ROLLBACK"));
        return -1;
    }
    if (PQsetnonblocking(st->conn, 1) != 0) {
        result_error(err, "begin", NULL, st->conn);
        PQclear(PQexec(st->conn, "ROLLBACK"));
        return -1;
    }
    st->loading = 1;
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
    return -1;
}

int aod_store_load_add(aod_store *st, const aod_load_row *row, aod_error *err)
{
    load_state *ls = st->load;
    load_batch *b;

    if (!st->loading) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "no load is open");
        return -1;
    }
    if (batch_add(ls, row, err) != 0)
        return -1;
    ls->counts.read++;
    /* Push the batch in flight along every few rows: often enough to keep
     * the socket full, rarely enough that the system calls cost little. */
    if (ls->flying && ls->counts.read % PUMP_ROWS == 0 && io_pump(st, 0, err) != 0)
        return -1;
    b = &ls->batch[ls->filling];
    if (b->n_rows >= ls->batch_rows || b->events.len + b->patients.len >= BATCH_BYTES)
        return batch_ship(st, err);
    return 0;
}

int aod_store_load_outcome(aod_store *st, const char *const *keys, size_t n_keys,
                           const char *severity, const char *code, const char *message,
                           aod_error *err)
{
    aod_buf *q;
    size_t i;

    if (!st->loading) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "no load is open");
        return -1;
    }
    q = &st->load->outcomes;
    for (i = 0; i < n_keys; i++)
        if ((i && aod_buf_addc(q, '\x1f') != 0) || aod_buf_adds(q, keys[i]) != 0)
            goto nomem;
    if (aod_buf_addc(q, '\0') != 0 || aod_buf_adds(q, severity ? severity : "") != 0 ||
        aod_buf_addc(q, '\0') != 0 || aod_buf_adds(q, code ? code : "") != 0 ||
        aod_buf_addc(q, '\0') != 0 || aod_buf_adds(q, message) != 0 || aod_buf_addc(q, '\0') != 0)
        goto nomem;
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
    return -1;
}

/* Stores the queued search outcomes, once no COPY is on the wire. */
static int store_outcomes(aod_store *st, aod_error *err)
{
    load_state *ls = st->load;
    const char *p = ls->outcomes.data, *end = p + ls->outcomes.len;

    while (p && p < end) {
        const char *v[5];
        PGresult *res;
        int ok, k;

        v[0] = aod_buf_str(&ls->loaded_from);
        for (k = 1; k < 5; k++) {
            v[k] = p;
            p += strlen(p) + 1;
        }
        res = PQexecParams(st->conn,
                           "INSERT INTO aod.search_outcome (loaded_from, patient_keys, severity, "
                           "code, message) VALUES ($1, string_to_array($2, chr(31)), "
                           "NULLIF($3, ''), NULLIF($4, ''), $5)",
                           5, NULL, v, NULL, NULL, 0);
        ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            result_error(err, "search outcome", res, st->conn);
        PQclear(res);
        if (!ok)
            return -1;
    }
    return 0;
}

int aod_store_load_commit(aod_store *st, aod_load_counts *counts, aod_error *err)
{
    load_state *ls = st->load;

    if (!st->loading) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "no load is open");
        return -1;
    }
    if (batch_ship(st, err) != 0 || io_pump(st, 1, err) != 0 ||
        PQsetnonblocking(st->conn, 0) != 0 || store_outcomes(st, err) != 0 ||
        store_observer_days(st, err) != 0 || exec_simple(st, "COMMIT", "commit", err) != 0) {
        aod_store_load_abort(st);
        return -1;
    }
    st->loading = 0;
    ls->counts.already = ls->counts.read - ls->counts.stored;
    if (counts)
        *counts = ls->counts;
    return 0;
}

void aod_store_load_abort(aod_store *st)
{
    PGresult *res;

    if (!st->loading)
        return;
    /* End an open COPY with an error so the server discards it, and drain
     * what is in flight before rolling back. */
    while ((res = PQgetResult(st->conn))) {
        ExecStatusType s = PQresultStatus(res);
        PQclear(res);
        if (s == PGRES_COPY_IN && PQputCopyEnd(st->conn, "load aborted") < 0)
            break;
        if (s == PGRES_COPY_OUT || s == PGRES_COPY_BOTH)
            break;
    }
    PQsetnonblocking(st->conn, 0);
    PQclear(PQexec(st->conn, "ROLLBACK"));
    st->loading = 0;
    if (st->load) {
        st->load->flying = NULL;
        st->load->phase = IO_IDLE;
        batch_reset(&st->load->batch[0]);
        batch_reset(&st->load->batch[1]);
    }
}

/* ---------------------------------------------------------------- reading */

/* The report reads results in binary: event_id is an int8 and recorded a
 * timestamptz (int64 microseconds since 2000-01-01), both big-endian, so the
 * merge below compares two integers instead of parsing text. */
static int64_t get_be64(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = v << 8 | u[i];
    return (int64_t)v;
}

/* Checks the shape of a binary row (event_id int8, norm text, recorded
 * timestamptz) and takes its sort key. */
static int row_key(const PGresult *res, int row, int64_t *id, int64_t *rec, aod_error *err)
{
    if (PQnfields(res) != 3 || PQgetlength(res, row, 0) != 8 || PQgetlength(res, row, 2) != 8 ||
        PQgetisnull(res, row, 1)) {
        aod_error_set(err, AOD_ERR_DB, "database", 0, NULL,
                      "query the store: unexpected row shape (is the schema current?)");
        return -1;
    }
    *id = get_be64(PQgetvalue(res, row, 0));
    *rec = get_be64(PQgetvalue(res, row, 2));
    return 0;
}

/* One key: one index range scan, already in report order, streamed in
 * single-row mode so that the server's work and ours overlap. */
static int each_event_one(aod_store *st, const char *const params[3], aod_store_event_fn fn,
                          void *ctx, aod_error *err)
{
    static const char sql[] = "SELECT event_id, norm, recorded FROM aod.event_patient"
                              " WHERE patient_key = $1 AND recorded >= $2 AND recorded < $3"
                              " ORDER BY recorded, event_id";
    PGresult *res;
    int rc = 0, stopped = 0;

    if (!PQsendQueryParams(st->conn, sql, 3, NULL, params, NULL, NULL, 1) ||
        !PQsetSingleRowMode(st->conn)) {
        db_error(err, AOD_ERR_DB, "query the store", PQerrorMessage(st->conn));
        return -1;
    }
    while ((res = PQgetResult(st->conn))) {
        ExecStatusType s = PQresultStatus(res);
        int64_t id, rec;

        if (s == PGRES_SINGLE_TUPLE && !stopped) {
            /* keep draining after a stop so the connection stays usable */
            if (row_key(res, 0, &id, &rec, err) != 0 ||
                fn(ctx, id, PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1), err) != 0) {
                stopped = 1;
                rc = -1;
            }
        } else if (s != PGRES_TUPLES_OK && s != PGRES_SINGLE_TUPLE) {
            if (!stopped)
                result_error(err, "query the store", res, st->conn);
            stopped = 1;
            rc = -1;
        }
        PQclear(res);
    }
    return rc;
}

/*
 * Several keys (one person known as Patient/123 and by an MRN): PostgreSQL
 * 15 sorts a UNION ALL of the keys' range scans rather than merging them,
 * and sorting narrow keys then fetching each row again by primary key costs
 * about 10 microseconds per event (doc/store.md, "Several keys").  So each
 * key gets a cursor over its own range scan, already in report order, and
 * the merge happens here: the smallest (recorded, event_id) head goes next,
 * and an event that two keys name comes out of both cursors side by side,
 * so the second copy is skipped.  A later key's cursor leaves out the events
 * an earlier key names (event_patient.other_keys, migration 002), so each
 * event crosses the wire once; rows loaded before 002 have no other_keys and
 * are sent by every key, which the skip makes harmless.
 *
 * The FETCHes go through libpq's pipeline mode: a cursor's next batches are
 * asked for while its current one is read, and what the server has sent is
 * taken in every few rows, so the server reads ahead while we classify.
 * Batches are small: the server gathers a FETCH's rows in a tuple store
 * before sending them, and its cost per row grows with the batch (64 rows
 * cost it less than half what 512 do; doc/store.md, "Several keys").
 * Results arrive in the order asked; one that arrives for another cursor
 * waits in that cursor's `next` queue.
 * Each cursor has at most FETCH_DEPTH batches being read, waiting or asked
 * for: memory stays bounded by FETCH_DEPTH x keys x FETCH_ROWS rows, whatever
 * the history's length.  REPEATABLE READ gives every cursor the same
 * snapshot.
 */
#define FETCH_ROWS 64

/* Batches of one cursor being read, waiting or asked for: the read-ahead. */
#define FETCH_DEPTH 8

typedef struct key_cursor {
    PGresult *cur;               /* the batch being read, or NULL */
    int row, rows;               /* the next row of cur, and cur's row count */
    PGresult *next[FETCH_DEPTH]; /* following batches, received and waiting */
    int next_head, n_next;
    int asked; /* FETCHes in flight */
    int ended; /* the last batch has been received */
    int64_t id, rec;
} key_cursor;

typedef struct key_merge {
    aod_store *st;
    key_cursor *c;
    size_t n;
    size_t *fifo; /* cursor of each FETCH in flight, oldest first */
    size_t fifo_head, fifo_len;
    aod_error *err;
} key_merge;

static int merge_ask(key_merge *m, size_t i)
{
    char sql[64];

    snprintf(sql, sizeof sql, "FETCH FORWARD %d FROM aod_key_%zu", FETCH_ROWS, i);
    if (!PQsendQueryParams(m->st->conn, sql, 0, NULL, NULL, NULL, NULL, 1) ||
        !PQsendFlushRequest(m->st->conn) || PQflush(m->st->conn) < 0) {
        db_error(m->err, AOD_ERR_DB, "query the store", PQerrorMessage(m->st->conn));
        return -1;
    }
    m->c[i].asked++;
    m->fifo[(m->fifo_head + m->fifo_len++) % (m->n * FETCH_DEPTH)] = i;
    return 0;
}

/* Receives the oldest FETCH in flight and files it with its cursor. */
static int merge_receive(key_merge *m)
{
    PGresult *res, *extra;
    key_cursor *c;
    size_t i;
    int ok;

    if (m->fifo_len == 0) {
        aod_error_set(m->err, AOD_ERR_INTERNAL, NULL, 0, NULL, "no FETCH in flight");
        return -1;
    }
    i = m->fifo[m->fifo_head];
    m->fifo_head = (m->fifo_head + 1) % (m->n * FETCH_DEPTH);
    m->fifo_len--;
    c = &m->c[i];
    c->asked--;
    res = PQgetResult(m->st->conn);
    ok = res && PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok) {
        result_error(m->err, "query the store", res, m->st->conn);
        PQclear(res);
        return -1;
    }
    /* each query's results end with a NULL in pipeline mode */
    while ((extra = PQgetResult(m->st->conn)))
        PQclear(extra);
    if (PQntuples(res) < FETCH_ROWS)
        c->ended = 1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0;
    }
    if (!c->cur) {
        c->cur = res;
        c->row = 0;
        c->rows = PQntuples(res);
    } else {
        c->next[(c->next_head + c->n_next++) % FETCH_DEPTH] = res;
    }
    return 0;
}

/* Makes cursor i's head row current (cur != NULL after it) or leaves cur
 * NULL when the cursor is exhausted. */
static int merge_head(key_merge *m, size_t i)
{
    key_cursor *c = &m->c[i];

    if (c->cur && c->row >= c->rows) {
        PQclear(c->cur);
        c->cur = NULL;
        if (c->n_next > 0) {
            c->cur = c->next[c->next_head];
            c->next_head = (c->next_head + 1) % FETCH_DEPTH;
            c->n_next--;
        }
        c->row = 0;
        c->rows = c->cur ? PQntuples(c->cur) : 0;
    }
    while (!c->cur && c->asked)
        if (merge_receive(m) != 0)
            return -1;
    /* read ahead: keep FETCH_DEPTH batches being read, waiting or asked for */
    while (c->cur && !c->ended && 1 + c->n_next + c->asked < FETCH_DEPTH)
        if (merge_ask(m, i) != 0)
            return -1;
    if (c->cur)
        return row_key(c->cur, c->row, &c->id, &c->rec, m->err);
    return 0;
}

/* Ends the pipeline whatever state it is in: drains what is in flight, syncs
 * and leaves pipeline mode.  Returns 0 when the connection is usable. */
static int merge_end_pipeline(aod_store *st)
{
    PGresult *res;
    int synced = 0, guard = 0;

    if (PQpipelineStatus(st->conn) == PQ_PIPELINE_OFF)
        return 0;
    if (!PQpipelineSync(st->conn))
        return -1;
    while (!synced && guard++ < 1000000) {
        res = PQgetResult(st->conn);
        if (!res) {
            if (PQstatus(st->conn) != CONNECTION_OK)
                return -1;
            continue; /* the end of one query's results */
        }
        synced = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
        PQclear(res);
    }
    return synced && PQexitPipelineMode(st->conn) ? 0 : -1;
}

static int each_event_merged(aod_store *st, const char *const *keys, size_t n_keys,
                             const char *from, const char *to, aod_store_event_fn fn, void *ctx,
                             aod_error *err)
{
    key_merge m = {st, NULL, n_keys, NULL, 0, 0, err};
    aod_buf sql;
    const char **params = NULL;
    int64_t last_id = 0, last_rec = 0;
    unsigned long n_rows = 0;
    int have_last = 0, rc = -1;
    size_t i;

    aod_buf_init(&sql, 0);
    m.c = calloc(n_keys, sizeof *m.c);
    m.fifo = calloc(n_keys * FETCH_DEPTH, sizeof *m.fifo);
    params = calloc(n_keys + 2, sizeof *params);
    if (!m.c || !m.fifo || !params) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        goto out;
    }
    if (exec_simple(st, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "query the store",
                    err) != 0)
        goto out;
    params[1] = from;
    params[2] = to;
    for (i = 0; i < n_keys; i++) {
        PGresult *res;
        size_t k;
        int bad;

        /* $1 the key, $2 and $3 the period, $4... the keys before it: an
         * event that one of those names too comes out of that key's cursor,
         * so this one need not send it (but for rows loaded before
         * other_keys existed, which the merge skips) */
        params[0] = keys[i];
        aod_buf_reset(&sql);
        bad = aod_buf_printf(&sql,
                             "DECLARE aod_key_%zu NO SCROLL CURSOR FOR SELECT event_id, norm,"
                             " recorded FROM aod.event_patient WHERE patient_key = $1"
                             " AND recorded >= $2 AND recorded < $3",
                             i);
        for (k = 0; k < i && !bad; k++) {
            bad = aod_buf_printf(&sql, "%s$%zu",
                                 k ? ", " : " AND (other_keys IS NULL OR NOT other_keys && ARRAY[",
                                 k + 4);
            params[3 + k] = keys[k];
        }
        if (bad || aod_buf_printf(&sql, "%s ORDER BY recorded, event_id", i ? "]::text[])" : "")) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
            goto out;
        }
        res = PQexecParams(st->conn, aod_buf_str(&sql), (int)(3 + i), NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            result_error(err, "query the store", res, st->conn);
            PQclear(res);
            goto out;
        }
        PQclear(res);
    }
    if (!PQenterPipelineMode(st->conn)) {
        db_error(err, AOD_ERR_DB, "query the store", PQerrorMessage(st->conn));
        goto out;
    }
    for (i = 0; i < n_keys; i++)
        if (merge_ask(&m, i) != 0)
            goto out;
    for (;;) {
        size_t best = n_keys;

        for (i = 0; i < n_keys; i++) {
            key_cursor *c = &m.c[i];
            if (merge_head(&m, i) != 0)
                goto out;
            if (c->cur && (best == n_keys || c->rec < m.c[best].rec ||
                           (c->rec == m.c[best].rec && c->id < m.c[best].id)))
                best = i;
        }
        if (best == n_keys)
            break;
        {
            key_cursor *c = &m.c[best];
            if (!(have_last && c->id == last_id && c->rec == last_rec)) {
                if (fn(ctx, c->id, PQgetvalue(c->cur, c->row, 1),
                       (size_t)PQgetlength(c->cur, c->row, 1), err) != 0)
                    goto out;
                last_id = c->id;
                last_rec = c->rec;
                have_last = 1;
            }
            c->row++;
        }
        /* Take in what the server has sent so far, without waiting: a
         * FETCH result left in the socket stops the server at the socket
         * buffer's size, and the read-ahead with it. */
        if (++n_rows % 32 == 0 && !PQconsumeInput(st->conn)) {
            db_error(err, AOD_ERR_DB, "query the store", PQerrorMessage(st->conn));
            goto out;
        }
    }
    rc = 0;
out:
    for (i = 0; m.c && i < n_keys; i++) {
        PQclear(m.c[i].cur);
        while (m.c[i].n_next > 0) {
            PQclear(m.c[i].next[m.c[i].next_head]);
            m.c[i].next_head = (m.c[i].next_head + 1) % FETCH_DEPTH;
            m.c[i].n_next--;
        }
    }
    if (merge_end_pipeline(st) != 0 && rc == 0) {
        db_error(err, AOD_ERR_DB, "query the store", PQerrorMessage(st->conn));
        rc = -1;
    }
    /* read-only: ending it either way closes the cursors */
    if (PQtransactionStatus(st->conn) != PQTRANS_IDLE) {
        if (rc == 0)
            rc = exec_simple(st, "COMMIT", "query the store", err);
        else
            PQclear(PQexec(st->conn, "ROLLBACK"));
    }
    free(m.c);
    free(m.fifo);
    free(params);
    aod_buf_free(&sql);
    return rc;
}

int aod_store_each_event(aod_store *st, const char *const *keys, size_t n_keys, int64_t from_ms,
                         int64_t to_ms, aod_store_event_fn fn, void *ctx, aod_error *err)
{
    char from[40], to[40];

    if (n_keys == 0) {
        aod_error_set(err, AOD_ERR_USAGE, NULL, 0, "patient", "no patient key");
        return -1;
    }
    aod_time_format_utc(from_ms, from, sizeof from);
    aod_time_format_utc(to_ms, to, sizeof to);
    if (n_keys == 1) {
        const char *params[3] = {keys[0], from, to};
        return each_event_one(st, params, fn, ctx, err);
    }
    return each_event_merged(st, keys, n_keys, from, to, fn, ctx, err);
}

/* ------------------------------------------------------------------ batch */

/* keys joined with US (0x1F), which no stored key contains, for
 * string_to_array($n, chr(31)) on the server. */
static int join_keys(aod_buf *b, const char *const *keys, size_t n_keys, aod_error *err)
{
    size_t k;

    for (k = 0; k < n_keys; k++)
        if ((k && aod_buf_addc(b, '\x1f') != 0) || aod_buf_adds(b, keys[k]) != 0) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
            return -1;
        }
    return 0;
}

int aod_store_each_keys_event(aod_store *st, const char *const *keys, size_t n_keys,
                              int64_t from_ms, int64_t to_ms, aod_store_keyed_event_fn fn,
                              void *ctx, aod_error *err)
{
    /* One range scan of the primary key per key (a ScalarArrayOp index
     * scan), already in (patient_key, recorded, event_id) order: no sort,
     * one query for the whole group. */
    static const char sql[] = "SELECT event_id, norm, recorded, patient_key"
                              " FROM aod.event_patient"
                              " WHERE patient_key = ANY (string_to_array($1, chr(31)))"
                              " AND recorded >= $2 AND recorded < $3"
                              " ORDER BY patient_key, recorded, event_id";
    const char *params[3];
    char from[40], to[40];
    aod_buf joined;
    PGresult *res;
    int rc = -1, stopped = 0;

    aod_buf_init(&joined, 0);
    if (n_keys == 0) {
        aod_error_set(err, AOD_ERR_USAGE, NULL, 0, "patient", "no patient key");
        goto out;
    }
    if (join_keys(&joined, keys, n_keys, err) != 0)
        goto out;
    aod_time_format_utc(from_ms, from, sizeof from);
    aod_time_format_utc(to_ms, to, sizeof to);
    params[0] = aod_buf_str(&joined);
    params[1] = from;
    params[2] = to;
    if (!PQsendQueryParams(st->conn, sql, 3, NULL, params, NULL, NULL, 1) ||
        !PQsetSingleRowMode(st->conn)) {
        db_error(err, PQstatus(st->conn) == CONNECTION_OK ? AOD_ERR_DB : AOD_ERR_DB_CONNECT,
                 "query the store", PQerrorMessage(st->conn));
        goto out;
    }
    rc = 0;
    while ((res = PQgetResult(st->conn))) {
        ExecStatusType s = PQresultStatus(res);
        if (s == PGRES_SINGLE_TUPLE && !stopped) {
            /* keep draining after a stop so the connection stays usable */
            if (PQnfields(res) != 4 || PQgetisnull(res, 0, 3) || PQgetlength(res, 0, 0) != 8 ||
                PQgetlength(res, 0, 2) != 8 || PQgetisnull(res, 0, 1)) {
                aod_error_set(err, AOD_ERR_DB, "database", 0, NULL,
                              "query the store: unexpected row shape (is the schema current?)");
                stopped = 1;
                rc = -1;
            } else {
                if (fn(ctx, PQgetvalue(res, 0, 3), get_be64(PQgetvalue(res, 0, 0)),
                       PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1), err) != 0) {
                    stopped = 1;
                    rc = -1;
                }
            }
        } else if (s != PGRES_TUPLES_OK && s != PGRES_SINGLE_TUPLE) {
            if (!stopped)
                result_error(err, "query the store", res, st->conn);
            stopped = 1;
            rc = -1;
        }
        PQclear(res);
    }
out:
    aod_buf_free(&joined);
    return rc;
}

int aod_store_search_outcomes_keys(aod_store *st, const char *const *keys, size_t n_keys,
                                   aod_store_keyed_outcome_fn fn, void *ctx, aod_error *err)
{
    /* What aod_store_search_outcomes() says for each key alone: its
     * distinct messages in the same order, at most 8 (counted here). */
    static const char sql[] =
        "SELECT k, message FROM (SELECT DISTINCT k, o.message FROM aod.search_outcome o"
        " CROSS JOIN LATERAL unnest(o.patient_keys) k"
        " WHERE o.patient_keys && string_to_array($1, chr(31))"
        " AND k = ANY (string_to_array($1, chr(31)))) s ORDER BY k, message";
    const char *params[1];
    aod_buf joined;
    PGresult *res = NULL;
    int rc = -1, i, n, same = 0;

    aod_buf_init(&joined, 0);
    if (join_keys(&joined, keys, n_keys, err) != 0)
        goto out;
    params[0] = aod_buf_str(&joined);
    res = PQexecParams(st->conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        result_error(err, "read the search outcomes", res, st->conn);
        goto out;
    }
    n = PQntuples(res);
    for (i = 0; i < n; i++) {
        same =
            i > 0 && strcmp(PQgetvalue(res, i, 0), PQgetvalue(res, i - 1, 0)) == 0 ? same + 1 : 0;
        if (same >= 8)
            continue;
        if (fn(ctx, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), err) != 0)
            goto out;
    }
    rc = 0;
out:
    PQclear(res);
    aod_buf_free(&joined);
    return rc;
}

int aod_store_each_patient(aod_store *st, int64_t from_ms, int64_t to_ms, aod_store_patient_fn fn,
                           void *ctx, aod_error *err)
{
    /* DISTINCT over the period's rows: the BRIN index on recorded keeps
     * this to the period's heap pages (the loader writes in time order, batch
     * by batch).  A loose index scan over the primary key would cost two
     * probes per patient the store has ever seen, which is worse for monthly
     * runs over years of data. */
    static const char sql[] = "SELECT DISTINCT patient_key FROM aod.event_patient"
                              " WHERE recorded >= $1 AND recorded < $2 ORDER BY 1";
    const char *params[2];
    char from[40], to[40];
    PGresult *res;
    int rc = 0, stopped = 0;

    aod_time_format_utc(from_ms, from, sizeof from);
    aod_time_format_utc(to_ms, to, sizeof to);
    params[0] = from;
    params[1] = to;
    if (!PQsendQueryParams(st->conn, sql, 2, NULL, params, NULL, NULL, 0) ||
        !PQsetSingleRowMode(st->conn)) {
        db_error(err, PQstatus(st->conn) == CONNECTION_OK ? AOD_ERR_DB : AOD_ERR_DB_CONNECT,
                 "list the period's patients", PQerrorMessage(st->conn));
        return -1;
    }
    while ((res = PQgetResult(st->conn))) {
        ExecStatusType s = PQresultStatus(res);
        if (s == PGRES_SINGLE_TUPLE && !stopped) {
            if (fn(ctx, PQgetvalue(res, 0, 0), err) != 0) {
                stopped = 1; /* keep draining so the connection stays usable */
                rc = -1;
            }
        } else if (s != PGRES_TUPLES_OK && s != PGRES_SINGLE_TUPLE) {
            result_error(err, "list the period's patients", res, st->conn);
            rc = -1;
        }
        PQclear(res);
    }
    return rc;
}

/* ------------------------------------------------------------ self-audit */

#define SELF_AUDIT_SIGNATURE                                                                       \
    "aod.record_self_audit(text, text[], text, text, text, date, date, timestamptz,"               \
    " timestamptz, timestamptz, timestamptz, text, text, text, text, jsonb)"

int aod_store_privileges(aod_store *st, int *may_read, int *may_record, char *user,
                         size_t user_size, aod_error *err)
{
    static const char sql[] =
        "SELECT session_user, CASE WHEN NOT has_schema_privilege(n.oid, 'USAGE') THEN false"
        " ELSE to_regclass('aod.event_patient') IS NOT NULL"
        "   AND has_table_privilege('aod.event_patient', 'SELECT') END,"
        " CASE WHEN NOT has_schema_privilege(n.oid, 'USAGE') THEN false"
        " ELSE to_regprocedure('" SELF_AUDIT_SIGNATURE "') IS NOT NULL"
        "   AND has_function_privilege(to_regprocedure('" SELF_AUDIT_SIGNATURE "'), 'EXECUTE')"
        "   AND to_regprocedure('aod.record_self_audits(jsonb)') IS NOT NULL"
        "   AND has_function_privilege(to_regprocedure('aod.record_self_audits(jsonb)'), 'EXECUTE')"
        " END FROM (SELECT NULL) x LEFT JOIN pg_namespace n ON n.nspname = 'aod'";
    PGresult *res = PQexec(st->conn, sql);
    int rc = -1;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        result_error(err, "read the role's privileges", res, st->conn);
        goto out;
    }
    snprintf(user, user_size, "%s", PQgetvalue(res, 0, 0));
    *may_read = PQgetvalue(res, 0, 1)[0] == 't';
    *may_record = PQgetvalue(res, 0, 2)[0] == 't';
    rc = 0;
out:
    PQclear(res);
    return rc;
}

int aod_store_try_self_audit(aod_store *st, aod_error *err)
{
    static const char sql[] =
        "SELECT stored FROM aod.record_self_audit('aodreport check', '{Patient/aodreport-check}',"
        " 'access', 'privacy-office', 'en', current_date, current_date, now(), now(), now(),"
        " now(), 'aodreport check', NULL, NULL, 'aodreport check',"
        " '[{\"format\":\"csv\",\"name\":\"check.csv\",\"sha256\":"
        "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"size\":0}]')";
    PGresult *res;
    int rc = -1;

    if (exec_simple(st, "BEGIN", "begin", err) != 0)
        return -1;
    res = PQexec(st->conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        result_error(err, "record a self-audit (rolled back)", res, st->conn);
    else
        rc = 0;
    PQclear(res);
    PQclear(PQexec(st->conn, "ROLLBACK"));
    return rc;
}

int aod_store_self_audit(aod_store *st, const char *const args[AOD_STORE_SELF_AUDIT_ARGS],
                         char *id_out, size_t id_size, int *stored, aod_error *err)
{
    static const char sql[] =
        "SELECT event_id, stored FROM aod.record_self_audit($1, $2::text[], $3, $4, $5,"
        " $6::date, $7::date, $8::timestamptz, $9::timestamptz, $10::timestamptz,"
        " $11::timestamptz, $12, $13, $14, $15, $16::jsonb)";
    PGresult *res =
        PQexecParams(st->conn, sql, AOD_STORE_SELF_AUDIT_ARGS, NULL, args, NULL, NULL, 0);
    int rc = -1;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != 2) {
        result_error(err, "record the self-audit", res, st->conn);
        goto out;
    }
    if (id_out && id_size)
        snprintf(id_out, id_size, "%s", PQgetvalue(res, 0, 0));
    if (stored)
        *stored = PQgetvalue(res, 0, 1)[0] == 't';
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* The names of aod.record_self_audits()'s members, in the order of
 * aod.record_self_audit()'s arguments (sql/009_set_based.sql). */
static const char *const self_audit_names[AOD_STORE_SELF_AUDIT_ARGS] = {
    "retry_key", "patient_keys", "kind",       "audience", "language", "first_day",
    "last_day",  "period_start", "period_end", "as_of",    "started",  "operator_name",
    "os_user",   "host",         "program",    "files"};

/* s as a JSON string (NULL as null); s is the UTF-8 the store gave or
 * takes. */
static int json_str(aod_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    static const char json_special[] = "\"\\\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c"
                                       "\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18"
                                       "\x19\x1a\x1b\x1c\x1d\x1e\x1f";
    const unsigned char *p;

    if (!s)
        return aod_buf_adds(b, "null");
    if (aod_buf_addc(b, '"') != 0)
        return -1;
    for (p = (const unsigned char *)s; *p; p++) {
        size_t run = strcspn((const char *)p, json_special);
        if (run) {
            if (aod_buf_add(b, p, run) != 0)
                return -1;
            p += run;
            if (!*p)
                break;
        }
        if (*p == '"' || *p == '\\') {
            if (aod_buf_addc(b, '\\') != 0 || aod_buf_addc(b, (char)*p) != 0)
                return -1;
        } else {
            char esc[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
            if (aod_buf_add(b, esc, sizeof esc) != 0)
                return -1;
        }
    }
    return aod_buf_addc(b, '"');
}

int aod_store_self_audit_many(aod_store *st, const char *const *args, size_t n, char *ids,
                              size_t id_size, aod_error *err)
{
    /* One statement, so one transaction: all the runs are recorded or none
     * (sql/009_set_based.sql builds them together, without a call per run). */
    static const char sql[] =
        "SELECT ord, event_id, stored FROM aod.record_self_audits($1::jsonb) ORDER BY ord";
    const char *params[1];
    PGresult *res = NULL;
    aod_buf runs;
    size_t i, k;
    int rc = -1;

    aod_buf_init(&runs, 0);
    if (aod_buf_addc(&runs, '[') != 0)
        goto nomem;
    for (i = 0; i < n; i++) {
        if ((i && aod_buf_addc(&runs, ',') != 0) || aod_buf_addc(&runs, '{') != 0)
            goto nomem;
        for (k = 0; k < AOD_STORE_SELF_AUDIT_ARGS; k++)
            if ((k && aod_buf_addc(&runs, ',') != 0) || json_str(&runs, self_audit_names[k]) != 0 ||
                aod_buf_addc(&runs, ':') != 0 ||
                json_str(&runs, args[i * AOD_STORE_SELF_AUDIT_ARGS + k]) != 0)
                goto nomem;
        if (aod_buf_addc(&runs, '}') != 0)
            goto nomem;
    }
    if (aod_buf_addc(&runs, ']') != 0)
        goto nomem;
    params[0] = aod_buf_str(&runs);
    res = PQexecParams(st->conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != (int)n || PQnfields(res) != 3) {
        result_error(err, "record the self-audits", res, st->conn);
        if (PQstatus(st->conn) != CONNECTION_OK)
            err->code = AOD_ERR_DB_CONNECT;
        goto out;
    }
    for (i = 0; i < n; i++)
        snprintf(ids + i * id_size, id_size, "%s", PQgetvalue(res, (int)i, 1));
    rc = 0;
    goto out;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory storing the self-audit events");
out:
    PQclear(res);
    aod_buf_free(&runs);
    return rc;
}

const char *aod_store_user(const aod_store *st)
{
    return st->user;
}

int aod_store_search_outcomes(aod_store *st, const char *const *keys, size_t n_keys,
                              aod_store_outcome_fn fn, void *ctx, aod_error *err)
{
    /* Sorted and distinct: the same report twice reads the same words. */
    static const char sql[] = "SELECT DISTINCT message FROM aod.search_outcome"
                              " WHERE patient_keys && string_to_array($1, chr(31))"
                              " ORDER BY 1 LIMIT 8";
    const char *params[1];
    aod_buf joined;
    PGresult *res = NULL;
    int rc = -1, i, n;
    size_t k;

    aod_buf_init(&joined, 0);
    for (k = 0; k < n_keys; k++)
        if ((k && aod_buf_addc(&joined, '\x1f') != 0) || aod_buf_adds(&joined, keys[k]) != 0) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
            goto out;
        }
    params[0] = n_keys ? aod_buf_str(&joined) : "";
    res = PQexecParams(st->conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        result_error(err, "read the search outcomes", res, st->conn);
        goto out;
    }
    n = PQntuples(res);
    for (i = 0; i < n; i++)
        if (fn(ctx, PQgetvalue(res, i, 0), err) != 0)
            goto out;
    rc = 0;
out:
    PQclear(res);
    aod_buf_free(&joined);
    return rc;
}

/* ------------------------------------------------------------ site inputs */

static const struct {
    const char *name;  /* the kind, as aod.site_input and messages say it */
    const char *table; /* fixed text, never from input */
    const char *copy;
    const char *read; /* $1: the report's patient keys joined by 0x1F */
    size_t n_values;
} site_kinds[AOD_SITE_KIND_COUNT] = {
    {"roster", "aod.roster",
     "COPY aod.roster (staff_key, name, surname, address, department, start_date, end_date,"
     " patient_keys, source_line) FROM STDIN",
     "SELECT staff_key, name, surname, address, department, start_date::text, end_date::text,"
     " array_to_string(patient_keys, chr(31)) FROM aod.roster",
     7},
    {"patient-facts", "aod.patient_fact",
     "COPY aod.patient_fact (patient_key, surname, address, vip, deceased, employee,"
     " source_line) FROM STDIN",
     "SELECT patient_key, surname, address, CASE WHEN vip THEN 't' ELSE 'f' END,"
     " deceased::text, CASE WHEN employee THEN 't' ELSE 'f' END FROM aod.patient_fact"
     " WHERE patient_key = ANY (string_to_array($1, chr(31)))"
     " ORDER BY patient_key COLLATE \"C\"",
     6},
    {"care", "aod.care_relationship",
     "COPY aod.care_relationship (patient_key, staff_key, from_date, to_date, source_line)"
     " FROM STDIN",
     "SELECT patient_key, staff_key, from_date::text, to_date::text FROM aod.care_relationship"
     " WHERE patient_key = ANY (string_to_array($1, chr(31)))"
     " ORDER BY patient_key COLLATE \"C\", staff_key COLLATE \"C\", from_date NULLS FIRST,"
     " to_date NULLS LAST, source_line",
     4},
};

const char *aod_store_site_kind_name(aod_site_kind kind)
{
    return kind < AOD_SITE_KIND_COUNT ? site_kinds[kind].name : "?";
}

int aod_store_site_begin(aod_store *st, aod_site_kind kind, aod_error *err)
{
    char sql[200];
    PGresult *res;

    if (kind >= AOD_SITE_KIND_COUNT || st->loading || st->site_loading) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "a load is already open");
        return -1;
    }
    /* The load lock keeps two replacements (and event loads) apart; a
     * report reading the table meanwhile sees the old rows until COMMIT. */
    snprintf(sql, sizeof sql,
             "BEGIN; SELECT pg_advisory_xact_lock(hashtext('aodreport load')); DELETE FROM %s",
             site_kinds[kind].table);
    if (exec_simple(st, sql, site_kinds[kind].name, err) != 0) {
        PQclear(PQexec(st->conn, "ROLLBACK"));
        return -1;
    }
    res = PQexec(st->conn, site_kinds[kind].copy);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        result_error(err, site_kinds[kind].name, res, st->conn);
        PQclear(res);
        PQclear(PQexec(st->conn, "ROLLBACK"));
        return -1;
    }
    PQclear(res);
    aod_buf_free(&st->site_line);
    aod_buf_init(&st->site_line, (size_t)16 * 1024 * 1024);
    st->site_loading = 1;
    st->site_kind = kind;
    st->site_rows = 0;
    return 0;
}

/* One value in COPY's text format: NULL is \N; backslash, TAB, LF and CR
 * escaped. */
static int copy_text(aod_buf *b, const char *v)
{
    const char *p;

    if (!v)
        return aod_buf_add(b, "\\N", 2);
    for (p = v; *p; p++) {
        const char *esc = *p == '\\'   ? "\\\\"
                          : *p == '\t' ? "\\t"
                          : *p == '\n' ? "\\n"
                          : *p == '\r' ? "\\r"
                                       : NULL;
        if (esc ? aod_buf_adds(b, esc) != 0 : aod_buf_addc(b, *p) != 0)
            return -1;
    }
    return 0;
}

/* A text[] literal ({"a","b"}, each element quoted, '"' and '\' escaped),
 * then written as one COPY value. */
static int copy_array(aod_buf *b, const char *const *keys, size_t n)
{
    aod_buf lit;
    size_t i;
    const char *p;
    int rc = -1;

    aod_buf_init(&lit, (size_t)16 * 1024 * 1024);
    if (aod_buf_addc(&lit, '{') != 0)
        goto out;
    for (i = 0; i < n; i++) {
        if ((i && aod_buf_addc(&lit, ',') != 0) || aod_buf_addc(&lit, '"') != 0)
            goto out;
        for (p = keys[i]; *p; p++)
            if (((*p == '"' || *p == '\\') && aod_buf_addc(&lit, '\\') != 0) ||
                aod_buf_addc(&lit, *p) != 0)
                goto out;
        if (aod_buf_addc(&lit, '"') != 0)
            goto out;
    }
    if (aod_buf_addc(&lit, '}') != 0)
        goto out;
    rc = copy_text(b, aod_buf_str(&lit));
out:
    aod_buf_free(&lit);
    return rc;
}

int aod_store_site_row(aod_store *st, const char *const *values, size_t n, const char *const *keys,
                       size_t n_keys, long line, aod_error *err)
{
    aod_buf *b = &st->site_line;
    size_t i;

    if (!st->site_loading || n != site_kinds[st->site_kind].n_values) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "no site input load is open");
        return -1;
    }
    aod_buf_reset(b);
    for (i = 0; i < n; i++)
        if (copy_text(b, values[i]) != 0 || aod_buf_addc(b, '\t') != 0)
            goto nomem;
    if (st->site_kind == AOD_SITE_ROSTER &&
        (copy_array(b, keys, n_keys) != 0 || aod_buf_addc(b, '\t') != 0))
        goto nomem;
    if (aod_buf_printf(b, "%ld\n", line) != 0)
        goto nomem;
    if (PQputCopyData(st->conn, b->data, (int)b->len) != 1) {
        db_error(err, AOD_ERR_DB_CONNECT, site_kinds[st->site_kind].name, PQerrorMessage(st->conn));
        return -1;
    }
    st->site_rows++;
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
    return -1;
}

int aod_store_site_commit(aod_store *st, const char *loaded_from, long *rows, aod_error *err)
{
    const char *what;
    const char *params[3];
    char nrows[32];
    PGresult *res;
    int ok = 1;

    if (!st->site_loading) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "no site input load is open");
        return -1;
    }
    what = site_kinds[st->site_kind].name;
    if (PQputCopyEnd(st->conn, NULL) != 1) {
        db_error(err, AOD_ERR_DB_CONNECT, what, PQerrorMessage(st->conn));
        goto fail;
    }
    while ((res = PQgetResult(st->conn))) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && ok) {
            result_error(err, what, res, st->conn);
            ok = 0;
        }
        PQclear(res);
    }
    if (!ok)
        goto fail;
    snprintf(nrows, sizeof nrows, "%ld", st->site_rows);
    params[0] = what;
    params[1] = loaded_from ? loaded_from : "";
    params[2] = nrows;
    res = PQexecParams(st->conn,
                       "INSERT INTO aod.site_input (kind, loaded_from, rows) VALUES ($1, $2, "
                       "$3::bigint)",
                       3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        result_error(err, what, res, st->conn);
        PQclear(res);
        goto fail;
    }
    PQclear(res);
    if (exec_simple(st, "COMMIT", "commit", err) != 0)
        goto fail;
    st->site_loading = 0;
    if (rows)
        *rows = st->site_rows;
    return 0;
fail:
    st->site_loading = 0;
    PQclear(PQexec(st->conn, "ROLLBACK"));
    return -1;
}

void aod_store_site_abort(aod_store *st)
{
    PGresult *res;

    if (!st->site_loading)
        return;
    /* End the COPY with an error so the server discards its rows. */
    if (PQputCopyEnd(st->conn, "load aborted") == 1)
        while ((res = PQgetResult(st->conn)))
            PQclear(res);
    PQclear(PQexec(st->conn, "ROLLBACK"));
    st->site_loading = 0;
}

int aod_store_site_read(aod_store *st, aod_site_kind kind, const char *const *keys, size_t n_keys,
                        aod_store_site_fn fn, void *ctx, int *loaded, aod_error *err)
{
    const char *v[8];
    const char *params[1];
    aod_buf joined;
    PGresult *res = NULL;
    int rc = -1, i, j, n, nf;
    size_t k;

    if (kind >= AOD_SITE_KIND_COUNT) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "unknown site input");
        return -1;
    }
    aod_buf_init(&joined, 0);
    params[0] = site_kinds[kind].name;
    res = PQexecParams(st->conn, "SELECT EXISTS (SELECT 1 FROM aod.site_input WHERE kind = $1)", 1,
                       NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        result_error(err, "read the site inputs", res, st->conn);
        goto out;
    }
    if (loaded)
        *loaded = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    res = NULL;
    for (k = 0; k < n_keys; k++)
        if ((k && aod_buf_addc(&joined, '\x1f') != 0) || aod_buf_adds(&joined, keys[k]) != 0) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
            goto out;
        }
    params[0] = aod_buf_str(&joined);
    res = PQexecParams(st->conn, site_kinds[kind].read, kind == AOD_SITE_ROSTER ? 0 : 1, NULL,
                       params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        result_error(err, "read the site inputs", res, st->conn);
        goto out;
    }
    n = PQntuples(res);
    nf = PQnfields(res);
    if (nf > 8)
        nf = 8;
    for (i = 0; i < n; i++) {
        for (j = 0; j < nf; j++)
            v[j] = PQgetisnull(res, i, j) ? NULL : PQgetvalue(res, i, j);
        if (fn(ctx, v, (size_t)nf, err) != 0)
            goto out;
    }
    rc = 0;
out:
    PQclear(res);
    aod_buf_free(&joined);
    return rc;
}

/* ------------------------------------------------------------ completeness */

struct aod_store_completeness {
    aod_completeness view;
    aod_source *sources;
    aod_gap *gaps;
    char **strs; /* every string above, owned */
    size_t n_strs, cap_strs;
};

#define DAY_MS         INT64_C(86400000)
#define MAX_GAP_RUNS   50 /* runs of silent days listed; the rest counted */
#define DAILY_MIN_DAYS 14 /* a source is "daily" after logging on 14 days ... */

/* A copy of s owned by c (NULL for NULL or ""), or (char *)-1 when out of
 * memory. */
static const char *comp_str(aod_store_completeness *c, const char *s, int *nomem)
{
    char *d, **v;
    size_t n;

    if (!s || !*s)
        return NULL;
    v = grow_array(c->strs, &c->cap_strs, c->n_strs, sizeof *c->strs);
    if (!v) {
        *nomem = 1;
        return NULL;
    }
    c->strs = v;
    n = strlen(s);
    d = malloc(n + 1);
    if (!d) {
        *nomem = 1;
        return NULL;
    }
    memcpy(d, s, n + 1);
    c->strs[c->n_strs++] = d;
    return d;
}

void aod_store_completeness_free(aod_store_completeness *c)
{
    size_t i;

    if (!c)
        return;
    for (i = 0; i < c->n_strs; i++)
        free(c->strs[i]);
    free(c->strs);
    free(c->sources);
    free(c->gaps);
    free(c);
}

const aod_completeness *aod_store_completeness_view(const aod_store_completeness *c)
{
    return c ? &c->view : NULL;
}

static int64_t floor_day(int64_t ms)
{
    return ms / DAY_MS - (ms < 0 && ms % DAY_MS != 0);
}

int aod_store_horizon(aod_store *st, int64_t *horizon_ms, aod_error *err)
{
    /* The oldest day the store holds, or the retention horizon when
     * retention has removed older records (aod_store_retention_horizon,
     * migration 005): whichever is later. */
    PGresult *res = PQexecParams(
        st->conn,
        "SELECT ((min(first_day) - DATE '1970-01-01')::int8 * 86400000),"
        " coalesce(has_function_privilege(to_regprocedure('aod.retention_horizon()'), 'EXECUTE'),"
        " false) FROM aod.observer_span",
        0, NULL, NULL, NULL, NULL, 0);
    int may_ask = 0;
    int64_t kept = 0;
    int known = 0, rc = -1;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        result_error(err, "read the store's horizon", res, st->conn);
        goto out;
    }
    *horizon_ms = PQgetisnull(res, 0, 0) ? 0 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    may_ask = PQgetvalue(res, 0, 1)[0] == 't';
    /* a role that may not ask (no grant of sql/roles.sql) gets the oldest day */
    if (may_ask && aod_store_retention_horizon(st, &kept, &known, err) != 0)
        goto out;
    if (known && kept > *horizon_ms)
        *horizon_ms = kept;
    rc = 0;
out:
    PQclear(res);
    return rc;
}

aod_store_completeness *aod_store_completeness_get(aod_store *st, int64_t from_ms, int64_t to_ms,
                                                   aod_error *err)
{
    /* Every source with its span, and whether it logs daily: on at least
     * 14 days, and on 2 of every 3 days between its first and last (so an
     * outage of up to a third of its life still shows as gaps). */
    /* Every source with its span (aod.observer_span), and whether it logs
     * daily: on at least 14 days, and on 2 of every 3 days between its
     * first and last (so an outage of up to a third of its life still
     * shows as gaps). */
    static const char sources_sql[] =
        "SELECT observer, display, first_day - DATE '1970-01-01', last_day - DATE '1970-01-01',"
        " days, (days >= $1::int AND days * 3 >= (last_day - first_day + 1) * 2)"
        " FROM aod.observer_span ORDER BY observer";
    /* The runs of days, inside [from, to], on which a daily source logged
     * nothing: its silent runs (aod.observer_gap, kept at load) cut to the
     * period, and the days after its last one up to the store's newest
     * day. */
    static const char gaps_sql[] =
        "WITH s AS (SELECT * FROM aod.observer_span"
        "   WHERE days >= $3::int AND days * 3 >= (last_day - first_day + 1) * 2),"
        " p AS (SELECT DATE '1970-01-01' + $1::int AS lo, DATE '1970-01-01' + $2::int AS hi,"
        "   (SELECT max(last_day) FROM aod.observer_span) AS newest)"
        " SELECT observer, g0 - DATE '1970-01-01', g1 - DATE '1970-01-01' FROM ("
        "  SELECT g.observer, greatest(g.from_day, p.lo) AS g0, least(g.to_day, p.hi) AS g1"
        "   FROM aod.observer_gap g JOIN s USING (observer), p"
        "   WHERE g.from_day <= p.hi AND g.to_day >= p.lo"
        "  UNION ALL SELECT s.observer, greatest(s.last_day + 1, p.lo), least(p.newest, p.hi)"
        "   FROM s, p WHERE greatest(s.last_day + 1, p.lo) <= least(p.newest, p.hi)"
        " ) x ORDER BY 2, 1";
    aod_store_completeness *c = calloc(1, sizeof *c);
    PGresult *res = NULL;
    const char *params[3];
    char p0[24], p1[24], p2[24];
    int i, n, nomem = 0;

    if (!c) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return NULL;
    }
    if (aod_store_horizon(st, &c->view.horizon, err) != 0)
        goto fail;

    snprintf(p0, sizeof p0, "%d", DAILY_MIN_DAYS);
    params[0] = p0;
    res = PQexecParams(st->conn, sources_sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        result_error(err, "read the source systems", res, st->conn);
        goto fail;
    }
    n = PQntuples(res);
    if (n > 0 && !(c->sources = calloc((size_t)n, sizeof *c->sources)))
        goto nomem;
    for (i = 0; i < n; i++) {
        aod_source *s = &c->sources[i];
        s->observer = comp_str(c, PQgetvalue(res, i, 0), &nomem);
        s->display = PQgetisnull(res, i, 1) ? NULL : comp_str(c, PQgetvalue(res, i, 1), &nomem);
        s->first_day = strtoll(PQgetvalue(res, i, 2), NULL, 10) * DAY_MS;
        s->last_day = strtoll(PQgetvalue(res, i, 3), NULL, 10) * DAY_MS;
        s->days = strtol(PQgetvalue(res, i, 4), NULL, 10);
        s->daily = PQgetvalue(res, i, 5)[0] == 't';
    }
    c->view.sources = c->sources;
    c->view.n_sources = (size_t)n;
    PQclear(res);
    res = NULL;
    if (nomem)
        goto nomem;

    snprintf(p0, sizeof p0, "%lld", (long long)floor_day(from_ms));
    snprintf(p1, sizeof p1, "%lld", (long long)floor_day(to_ms > from_ms ? to_ms - 1 : to_ms));
    snprintf(p2, sizeof p2, "%d", DAILY_MIN_DAYS);
    params[0] = p0;
    params[1] = p1;
    params[2] = p2;
    res = PQexecParams(st->conn, gaps_sql, 3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        result_error(err, "find the days a source logged nothing", res, st->conn);
        goto fail;
    }
    n = PQntuples(res);
    if (n > 0 && !(c->gaps = calloc(n < MAX_GAP_RUNS ? (size_t)n : MAX_GAP_RUNS, sizeof *c->gaps)))
        goto nomem;
    for (i = 0; i < n; i++) {
        aod_gap *g;
        size_t k;
        if (i >= MAX_GAP_RUNS) {
            c->view.more_gaps++;
            continue;
        }
        g = &c->gaps[i];
        g->observer = comp_str(c, PQgetvalue(res, i, 0), &nomem);
        for (k = 0; k < c->view.n_sources; k++)
            if (c->sources[k].observer && g->observer &&
                strcmp(c->sources[k].observer, g->observer) == 0)
                g->display = c->sources[k].display;
        g->from_day = strtoll(PQgetvalue(res, i, 1), NULL, 10) * DAY_MS;
        g->to_day = strtoll(PQgetvalue(res, i, 2), NULL, 10) * DAY_MS;
        c->view.n_gaps++;
    }
    c->view.gaps = c->gaps;
    PQclear(res);
    res = NULL;
    if (nomem)
        goto nomem;
    return c;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
fail:
    PQclear(res);
    aod_store_completeness_free(c);
    return NULL;
}

int aod_store_event_resource(aod_store *st, int64_t event_id, aod_buf *out, aod_error *err)
{
    char id[24];
    const char *params[1];
    PGresult *res;
    int rc = -1;

    snprintf(id, sizeof id, "%lld", (long long)event_id);
    params[0] = id;
    res = PQexecParams(st->conn, "SELECT resource::text FROM aod.audit_event WHERE id = $1::int8",
                       1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        result_error(err, "read a stored event", res, st->conn);
        goto out;
    }
    aod_buf_reset(out);
    if (PQntuples(res) == 1 && aod_buf_adds(out, PQgetvalue(res, 0, 0)) != 0) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        goto out;
    }
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* ------------------------------------- partitions, maintenance, retention */

static int call_partition(aod_store_partition_fn fn, void *ctx, const PGresult *res, int row,
                          double seconds, aod_error *err)
{
    const char *rows = PQgetvalue(res, row, 3);

    if (!fn)
        return 0;
    return fn(ctx, PQgetvalue(res, row, 0), PQgetvalue(res, row, 1), PQgetvalue(res, row, 2),
              *rows ? strtoll(rows, NULL, 10) : -1, seconds, err);
}

static double mono_seconds(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int aod_store_maintain(aod_store *st, const char *now, aod_store_partition_fn fn, void *ctx,
                       int *n_clustered, aod_error *err)
{
    /* Partitions come from the catalog as regclass text, already quoted:
     * nothing from input reaches the CLUSTER statement. */
    static const char list_sql[] =
        "SELECT i.partition::text,"
        " coalesce(to_char(i.lo AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''),"
        " to_char(i.hi AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), i.rows_estimate,"
        " (SELECT quote_ident(c.relname) FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid"
        "   WHERE x.indrelid = i.partition AND x.indisprimary)"
        " FROM aod.partition_info i"
        " WHERE i.parent = 'event_patient' AND NOT i.foreign_table AND NOT i.clustered"
        " AND i.hi <= date_trunc('month', coalesce($1::timestamptz, now()) AT TIME ZONE 'UTC')"
        " AT TIME ZONE 'UTC'"
        " ORDER BY i.hi";
    const char *params[1] = {now};
    PGresult *res = NULL;
    aod_buf sql;
    int i, rc = -1;

    aod_buf_init(&sql, 0);
    *n_clustered = 0;
    res = PQexecParams(st->conn,
                       "SELECT aod.ensure_partitions(ARRAY[t, t + interval '1 month',"
                       " t + interval '2 months']) FROM coalesce($1::timestamptz, now()) t",
                       1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        result_error(err, "make the coming months' partitions", res, st->conn);
        goto out;
    }
    PQclear(res);
    res = PQexecParams(st->conn, list_sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        result_error(err, "list the partitions", res, st->conn);
        goto out;
    }
    for (i = 0; i < PQntuples(res); i++) {
        double t0 = mono_seconds();
        const char *part = PQgetvalue(res, i, 0);

        if (PQgetisnull(res, i, 4)) {
            aod_error_set(err, AOD_ERR_DB, "database", 0, NULL,
                          "partition %s has no primary key to cluster by", part);
            goto out;
        }
        aod_buf_reset(&sql);
        if (aod_buf_adds(&sql, "CLUSTER ") != 0 || aod_buf_adds(&sql, part) != 0 ||
            aod_buf_adds(&sql, " USING ") != 0 || aod_buf_adds(&sql, PQgetvalue(res, i, 4)) != 0 ||
            aod_buf_adds(&sql, "; ANALYZE ") != 0 || aod_buf_adds(&sql, part) != 0) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
            goto out;
        }
        if (exec_simple(st, aod_buf_str(&sql), "cluster a closed month", err) != 0)
            goto out;
        (*n_clustered)++;
        if (call_partition(fn, ctx, res, i, mono_seconds() - t0, err) != 0)
            goto out;
    }
    rc = 0;
out:
    PQclear(res);
    aod_buf_free(&sql);
    return rc;
}

int aod_store_retention(aod_store *st, const char *now, const char *older_than,
                        const char *const who[4], int dry_run, aod_store_partition_fn fn, void *ctx,
                        char *cutoff, size_t cutoff_size, aod_error *err)
{
    static const char fmt[] = "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'";
    const char *params[6];
    PGresult *res = NULL;
    char sql[1024];
    int i, rc = -1, in_tx = 0;

    params[0] = now;
    params[1] = older_than;
    res = PQexecParams(st->conn,
                       "SELECT to_char((coalesce($1::timestamptz, now()) - $2::interval)"
                       " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
                       2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        result_error(err, "compute the cutoff", res, st->conn);
        goto out;
    }
    snprintf(cutoff, cutoff_size, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    params[0] = cutoff;
    if (dry_run) {
        snprintf(sql, sizeof sql,
                 "SELECT partition::text, coalesce(to_char(lo AT TIME ZONE 'UTC', %s), ''),"
                 " to_char(hi AT TIME ZONE 'UTC', %s), rows_estimate"
                 " FROM aod.partition_info WHERE hi <= least($1::timestamptz, now())"
                 " AND NOT foreign_table"
                 " ORDER BY hi, parent",
                 fmt, fmt);
        res = PQexecParams(st->conn, sql, 1, NULL, params, NULL, NULL, 0);
    } else {
        if (exec_simple(st, "BEGIN; SET LOCAL lock_timeout = '30s'", "begin", err) != 0)
            goto out;
        in_tx = 1;
        for (i = 0; i < 4; i++)
            params[i + 1] = who ? who[i] : NULL;
        snprintf(sql, sizeof sql,
                 "SELECT partition, coalesce(to_char(lo AT TIME ZONE 'UTC', %s), ''),"
                 " to_char(hi AT TIME ZONE 'UTC', %s), rows_estimate"
                 " FROM aod.apply_retention($1::timestamptz, $2, $3, $4, $5)",
                 fmt, fmt);
        res = PQexecParams(st->conn, sql, 5, NULL, params, NULL, NULL, 0);
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        result_error(err, dry_run ? "list the partitions" : "drop the months past retention", res,
                     st->conn);
        goto out;
    }
    for (i = 0; i < PQntuples(res); i++)
        if (call_partition(fn, ctx, res, i, 0, err) != 0)
            goto out;
    if (in_tx) {
        in_tx = 0;
        if (exec_simple(st, "COMMIT", "commit", err) != 0)
            goto out;
    }
    rc = 0;
out:
    if (in_tx)
        PQclear(PQexec(st->conn, "ROLLBACK"));
    PQclear(res);
    return rc;
}

int aod_store_retention_horizon(aod_store *st, int64_t *ms, int *known, aod_error *err)
{
    PGresult *res =
        PQexec(st->conn, "SELECT to_regprocedure('aod.retention_horizon()') IS NOT NULL");
    int rc = -1;

    *known = 0;
    *ms = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        result_error(err, "read the retention horizon", res, st->conn);
        goto out;
    }
    if (PQgetvalue(res, 0, 0)[0] != 't') {
        rc = 0; /* older than migration 005: retention never ran */
        goto out;
    }
    PQclear(res);
    res =
        PQexec(st->conn, "SELECT floor(extract(epoch FROM aod.retention_horizon()) * 1000)::int8");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        result_error(err, "read the retention horizon", res, st->conn);
        goto out;
    }
    if (!PQgetisnull(res, 0, 0)) {
        *ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        *known = 1;
    }
    rc = 0;
out:
    PQclear(res);
    return rc;
}
