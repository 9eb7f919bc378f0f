/*
 * store.h - the PostgreSQL audit store.  The only module that knows libpq.
 *
 * Stage: source.  It creates and migrates the schema (`aodreport init`),
 * bulk-loads normalised events (`aodreport load`) and streams one patient's
 * events back in time order for a report, never holding the whole result in
 * memory.  Connections come from a libpq conninfo string or the PG*
 * environment and service file; a password on the command line is refused.
 */
#ifndef AOD_STORE_H
#define AOD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"
#include "model/entry.h"

typedef struct aod_store aod_store;

/* Connects.  conninfo may be NULL or "" (the PG* environment decides).
 * Returns a new store handle (free with aod_store_free) or NULL with err set
 * (AOD_ERR_DB_CONNECT, or AOD_ERR_USAGE for a password in conninfo). */
aod_store *aod_store_connect(const char *conninfo, aod_error *err);

/* Closes the connection and frees the handle; accepts NULL. */
void aod_store_free(aod_store *st);

/* Creates or upgrades schema aod to the newest migration compiled into the
 * program.  *applied receives the number of migrations run now (0: the store
 * was up to date), *version the schema version afterwards.  Returns 0 / -1. */
int aod_store_init(aod_store *st, int *applied, int *version, aod_error *err);

/* The schema version of the store (0 when `init` never ran), or -1. */
int aod_store_version(aod_store *st, aod_error *err);

/* The newest schema version this program knows. */
int aod_store_latest_version(void);

/* 0 when the store is at the newest schema version; else -1 with an error
 * that says to run `aodreport init` (or why the version could not be read). */
int aod_store_check_version(aod_store *st, aod_error *err);

/* What the connected role may do, for `check`: *may_read 1 when it may
 * read the report rows (SELECT on aod.event_patient), *may_record 1 when it
 * may record a self-audit (EXECUTE on aod.record_self_audit() and, for a
 * month's batch, aod.record_self_audits(); 0 when the store is older than
 * migration 009).  *user receives the session's login
 * (user_size bytes).  Returns 0, or -1 with err set. */
int aod_store_privileges(aod_store *st, int *may_read, int *may_record, char *user,
                         size_t user_size, aod_error *err);

/* Records a self-audit of nothing through aod.record_self_audit() inside a
 * transaction that is rolled back: proves, for `check`, that this login can
 * record its reports, leaving no record.  Returns 0, or -1 with err set to the
 * database's refusal. */
int aod_store_try_self_audit(aod_store *st, aod_error *err);

/* ---- the self-audit of a report run ---- */

/* The arguments of aod.record_self_audit() (sql/003_least_privilege.sql), in
 * order. */
#define AOD_STORE_SELF_AUDIT_ARGS 16

/* Records a report run through aod.record_self_audit(), which builds the
 * event from its arguments and takes the operator's database identity from
 * the session: the reporting role needs no INSERT.  args[0..16) (borrowed;
 * NULL for SQL NULL) are its arguments as text, in the function's order.
 * id_out (id_size bytes) receives the event id; *stored (may be NULL) 1 when
 * it is new, 0 when the same login's exact retry was stored already.
 * Returns 0, or -1 with err set (AOD_ERR_DB: refused, e.g. the role may not
 * execute it; AOD_ERR_DB_CONNECT). */
int aod_store_self_audit(aod_store *st, const char *const args[AOD_STORE_SELF_AUDIT_ARGS],
                         char *id_out, size_t id_size, int *stored, aod_error *err);

/* ---- loading: one transaction per input file ---- */

typedef struct aod_load_row {
    const char *fhir_id;  /* AuditEvent.id or NULL */
    const char *observer; /* source.observer identity (reference, identifier or display) or NULL */
    const char *observer_display; /* source.observer.display or NULL (aod.observer_day) */
    const char *fhir_version;     /* "R4", "R5", "R6", "unknown" */
    const char *recorded;         /* ISO 8601 instant, UTC */
    const char *const *patient_keys;
    size_t n_patient_keys;
    const char *norm; /* recio encoding of the normalised record */
    size_t norm_len;
    const char *resource; /* the AuditEvent as JSON text */
    size_t resource_len;
    const char *canonical; /* without fhir_id or observer: the resource as canonical JSON (keys
                              sorted, no white space), which its event_key hashes */
    size_t canonical_len;
    long line; /* the input line it starts on, for messages; 0 when not known */
} aod_load_row;

typedef struct aod_load_counts {
    long read;            /* rows handed to aod_store_load_add */
    long stored;          /* rows newly stored */
    long already;         /* rows that were already in the store (or twice in the file) */
    long without_patient; /* newly stored rows that name no patient */
    /* Set by the loader (load.h), not the store: */
    long unknown_elements; /* events with an element their FHIR version does not define */
    long outcomes;         /* OperationOutcome entries of a search response, skipped */
} aod_load_counts;

/* Opens a load transaction for one input; loaded_from names it in the store. */
int aod_store_load_begin(aod_store *st, const char *loaded_from, aod_error *err);

/* Adds one row (copied; buffered and sent in batches).  The row is keyed
 * here: a row whose key is stored already, or came earlier in this load, is
 * counted and not stored again. */
int aod_store_load_add(aod_store *st, const aod_load_row *row, aod_error *err);

/* Queues one issue of a search response's OperationOutcome (severity and
 * code may be NULL) under the patient keys of the events the response
 * carried (all strings copied); stored in aod.search_outcome by the commit,
 * so that reports for those keys say their search was incomplete. */
int aod_store_load_outcome(aod_store *st, const char *const *keys, size_t n_keys,
                           const char *severity, const char *code, const char *message,
                           aod_error *err);

/* Sends what is buffered and commits.  counts receives this input's figures. */
int aod_store_load_commit(aod_store *st, aod_load_counts *counts, aod_error *err);

/* Rolls the load back; nothing of this input stays.  Safe to call at any point. */
void aod_store_load_abort(aod_store *st);

/* ---- reading ---- */

/* Called for each event in time order.  norm is borrowed (valid during the
 * call).  Return 0 to go on, -1 (err set) to stop. */
typedef int (*aod_store_event_fn)(void *ctx, int64_t event_id, const char *norm, size_t len,
                                  aod_error *err);

/* Streams the events that refer to any of keys (store form, see record.h),
 * recorded in [from_ms, to_ms), ordered by recorded then id, each once.
 * Returns 0 / -1. */
int aod_store_each_event(aod_store *st, const char *const *keys, size_t n_keys, int64_t from_ms,
                         int64_t to_ms, aod_store_event_fn fn, void *ctx, aod_error *err);

/* Called for each message of a search outcome (borrowed, valid during the
 * call).  Return 0 to go on, -1 (err set) to stop. */
typedef int (*aod_store_outcome_fn)(void *ctx, const char *message, aod_error *err);

/* The distinct messages (at most 8, in byte order) of the search outcomes
 * stored with any of keys: what a report for them must say it may miss.
 * Returns 0 / -1. */
int aod_store_search_outcomes(aod_store *st, const char *const *keys, size_t n_keys,
                              aod_store_outcome_fn fn, void *ctx, aod_error *err);

/* ---- completeness (doc/store.md, "Completeness") ---- */

/* The store's completeness facts for a report over [from_ms, to_ms), read
 * from aod.observer_day (migration 007): the horizon, every source system
 * with its first and last day and whether it logs daily, and the runs of
 * days inside the period (and before the store's newest day) on which a
 * daily source logged nothing (at most 50 runs; the rest counted).
 * Returns a new object (aod_store_completeness_free) or NULL with err set. */
typedef struct aod_store_completeness aod_store_completeness;
aod_store_completeness *aod_store_completeness_get(aod_store *st, int64_t from_ms, int64_t to_ms,
                                                   aod_error *err);

/* The facts as the report model holds them (borrowed from c; NULL for a
 * NULL c). */
const aod_completeness *aod_store_completeness_view(const aod_store_completeness *c);

/* Frees c; accepts NULL. */
void aod_store_completeness_free(aod_store_completeness *c);

/* The retention horizon: before *horizon_ms nothing can be shown (0 when
 * the store is empty).  Today the oldest day aod.observer_day holds; the
 * retention work (partitions) changes this function to the boundary it
 * keeps, and every report's completeness statement follows.  Returns
 * 0 / -1. */
int aod_store_horizon(aod_store *st, int64_t *horizon_ms, aod_error *err);

/* The stored AuditEvent event_id as JSON text, into out (reset first; left
 * empty when there is no such event), for explain --ref.  Returns 0 / -1. */
int aod_store_event_resource(aod_store *st, int64_t event_id, aod_buf *out, aod_error *err);

/* ---- batch: who had activity, who is asking ---- */

/* Called for each distinct patient key, in byte order.  key is borrowed
 * (valid during the call).  Return 0 to go on, -1 (err set) to stop. */
typedef int (*aod_store_patient_fn)(void *ctx, const char *key, aod_error *err);

/* Streams every distinct patient key with at least one event recorded in
 * [from_ms, to_ms) (the BRIN index on event_patient.recorded finds the
 * period's pages; see doc/store.md).  Returns 0 / -1. */
int aod_store_each_patient(aod_store *st, int64_t from_ms, int64_t to_ms, aod_store_patient_fn fn,
                           void *ctx, aod_error *err);

/* ---- site inputs: roster, patient facts, care relationships ----
 * Tables of their own (sql/010_site_inputs.sql), never mixed with the audit
 * events; each load replaces one table whole, in one transaction. */

typedef enum aod_site_kind {
    AOD_SITE_ROSTER = 0,    /* aod.roster */
    AOD_SITE_PATIENT_FACTS, /* aod.patient_fact */
    AOD_SITE_CARE,          /* aod.care_relationship */
    AOD_SITE_KIND_COUNT
} aod_site_kind;

/* "roster", "patient-facts", "care". */
const char *aod_store_site_kind_name(aod_site_kind kind);

/* The values of one row, by kind (NULL is SQL NULL; dates "YYYY-MM-DD";
 * booleans "t" / "f"):
 *   roster:        staff_key name surname address department start end
 *   patient facts: patient_key surname address vip deceased employee
 *   care:          patient_key staff_key from to
 * For the roster, the person's own patient keys are given apart (keys). */
#define AOD_STORE_SITE_MAX_VALUES 7

/* Opens the replacement of kind's table: a transaction (holding the load
 * lock), the table emptied, a COPY open.  Returns 0 / -1. */
int aod_store_site_begin(aod_store *st, aod_site_kind kind, aod_error *err);

/* Adds one row: n values (borrowed, see above; n must be the kind's count),
 * keys[0..n_keys) (roster only, else 0), line: the input line it came from.
 * Returns 0 / -1. */
int aod_store_site_row(aod_store *st, const char *const *values, size_t n, const char *const *keys,
                       size_t n_keys, long line, aod_error *err);

/* Ends the COPY, records the load in aod.site_input (loaded_from, borrowed)
 * and commits.  *rows (may be NULL) receives the rows stored.  On failure the
 * load is rolled back.  Returns 0 / -1. */
int aod_store_site_commit(aod_store *st, const char *loaded_from, long *rows, aod_error *err);

/* Rolls the replacement back (the table keeps its rows).  Safe at any point. */
void aod_store_site_abort(aod_store *st);

/* Called for each row read: values[0..n) borrowed for the call (NULL for
 * NULL).  Return 0 to go on, -1 (err set) to stop. */
typedef int (*aod_store_site_fn)(void *ctx, const char *const *values, size_t n, aod_error *err);

/* Reads one site input for a report:
 *   roster: every row (staff_key name surname address department start end
 *     patient_keys), patient_keys joined with the unit separator (0x1F), in
 *     no particular order (the caller sorts: a sort of 10,000 rows in the
 *     server spills to disk at the default work_mem);
 *   patient facts and care: the rows of any of keys[0..n_keys), values as
 *     given to aod_store_site_row, in a fixed order.
 * *loaded (may be NULL) receives 1 when the input was ever loaded (an empty
 * list loaded is still loaded), 0 when never.  Returns 0 / -1. */
int aod_store_site_read(aod_store *st, aod_site_kind kind, const char *const *keys, size_t n_keys,
                        aod_store_site_fn fn, void *ctx, int *loaded, aod_error *err);
/* Called for each row of aod_store_each_keys_event(): key is the row's
 * patient key; key and norm are borrowed (valid during the call).  Return
 * 0 to go on, -1 (err set) to stop. */
typedef int (*aod_store_keyed_event_fn)(void *ctx, const char *key, int64_t event_id,
                                        const char *norm, size_t len, aod_error *err);

/* The batch's streaming read: in one query, the events of each of keys
 * (store form; each key on its own, as a one-key report reads it) recorded
 * in [from_ms, to_ms), ordered by patient key (the server's collation, the
 * order aod_store_each_patient() lists them in), then recorded, then id.
 * Each key's rows are exactly what aod_store_each_event() streams for that
 * key alone.  Returns 0 / -1. */
int aod_store_each_keys_event(aod_store *st, const char *const *keys, size_t n_keys,
                              int64_t from_ms, int64_t to_ms, aod_store_keyed_event_fn fn,
                              void *ctx, aod_error *err);

/* Called for each (key, message) of aod_store_search_outcomes_keys(),
 * borrowed.  Return 0 to go on, -1 (err set) to stop. */
typedef int (*aod_store_keyed_outcome_fn)(void *ctx, const char *key, const char *message,
                                          aod_error *err);

/* For each of keys, in one query, what aod_store_search_outcomes() gives
 * for that key alone (the same messages in the same order, at most 8);
 * grouped by key.  Returns 0 / -1. */
int aod_store_search_outcomes_keys(aod_store *st, const char *const *keys, size_t n_keys,
                                   aod_store_keyed_outcome_fn fn, void *ctx, aod_error *err);

/* Records n report runs as aod_store_self_audit() does, in one transaction
 * (all or none): args holds n x AOD_STORE_SELF_AUDIT_ARGS arguments
 * (borrowed).  The i-th event id goes to ids + i * id_size.  Returns 0, or
 * -1 with err set; then none is recorded. */
int aod_store_self_audit_many(aod_store *st, const char *const *args, size_t n, char *ids,
                              size_t id_size, aod_error *err);

/* The database user as the server reports it at connect: session_user, and
 * "session_user/current_user" when they differ (borrowed from st). */
const char *aod_store_user(const aod_store *st);

/* ---- a store that lives for years: partitions, maintenance, retention ---- */

/* Called for each partition maintain clusters or retention drops: its name
 * (schema-qualified), its bounds as UTC text (lo "" when it starts at the
 * beginning), the server's estimate of its rows (-1: not known) and the
 * seconds the step took (maintain; 0 for retention).  Borrowed strings.
 * Return 0 to go on, -1 (err set) to stop. */
typedef int (*aod_store_partition_fn)(void *ctx, const char *partition, const char *lo,
                                      const char *hi, long long rows, double seconds,
                                      aod_error *err);

/* `aodreport maintain` (sql/005_partitions.sql): makes the partitions of
 * the month of now and the next two, then clusters each partition of
 * aod.event_patient whose month ended before now's month began and that was
 * never clustered (CLUSTER ... USING its primary key, then ANALYZE; one
 * transaction per partition, so each month is locked only while it is
 * rewritten).  now is a timestamp the server reads (NULL: the clock).  fn
 * (may be NULL) is called after each partition.  *n_clustered receives how
 * many.  Returns 0, or -1 with err set. */
int aod_store_maintain(aod_store *st, const char *now, aod_store_partition_fn fn, void *ctx,
                       int *n_clustered, aod_error *err);

/* `aodreport retention`: drops every month partition of aod.audit_event and
 * aod.event_patient that ends on or before now minus older_than (an
 * interval the server reads, e.g. "6 years"), whole, and records an
 * AuditEvent of it and the new horizon (aod.apply_retention).  who[0..4)
 * are the operator's name, the OS user, the host and the program (borrowed,
 * may be NULL).  dry_run: only lists what would go.  fn (may be NULL) is
 * called for each partition.  cutoff (cutoff_size bytes) receives the
 * cutoff as UTC text.  Returns 0, or -1 with err set. */
int aod_store_retention(aod_store *st, const char *now, const char *older_than,
                        const char *const who[4], int dry_run, aod_store_partition_fn fn, void *ctx,
                        char *cutoff, size_t cutoff_size, aod_error *err);

/* The retention horizon: events recorded before *ms may have been removed
 * from the store by retention.  *known 0 when retention never removed
 * anything (or the store predates migration 005).  Readable by the
 * reporting role.  Returns 0, or -1 with err set. */
int aod_store_retention_horizon(aod_store *st, int64_t *ms, int *known, aod_error *err);

#endif
