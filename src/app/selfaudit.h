/*
 * selfaudit.h - every report the tool writes is itself an auditable access.
 *
 * Stage: app, after render, writing back into the store.  Reading a patient's
 * access log and handing the result to someone is an access to that
 * patient's record (CH:ATC treats reading the trail as auditable; DOMAIN.md
 * 6, item 9), so each report, explain view and batch report is recorded as
 * one FHIR R4 AuditEvent in the store, in its own transaction, before the
 * report's files are renamed into place: a file nobody can account for never
 * appears.  The store builds the event from the facts of the run through
 * aod.record_self_audit() (sql/003_least_privilege.sql), a SECURITY DEFINER
 * function: the reporting role has no INSERT, and the database user recorded
 * is the session's, whatever the caller says.
 *
 * The event, following the BALP conventions for an export:
 *   type      DCM 110106 Export; subtype AOD_SELF_AUDIT_CODE in
 *             AOD_SELF_AUDIT_SYSTEM (classify.h), which classify reads as
 *             "the privacy office read the access log" (class internal).
 *             Not iso-21089-lifecycle "disclose": producing the report is not
 *             itself a disclosure outside the covered entity; handing it to
 *             the patient is the patient's own access, recorded by whoever
 *             delivers it.
 *   action    R; outcome 0 (only reports that were produced are recorded);
 *   purpose   v3-ActReason HCOMPL (meeting health care rules);
 *   agents    the operator (v3-ParticipationType IRCP, requestor true:
 *             "--operator (database user X)", else "OS user (database user
 *             X)", X the session's login; altId names the database user, the
 *             OS user and the host) and the aodreport Device (DCM 110153
 *             Source Role ID, requestor false);
 *   source    observer "aodreport" (constant, so the loader's idempotency key
 *             does not depend on the host);
 *   entities  each patient key (object-role 1 Patient, type 1 Person), and
 *             each output file (object-role 3 Report, type 2 System Object)
 *             with a description "access report (patient copy), 2026-10-01
 *             to 2026-10-31, pdf" and the details sha256, size, format,
 *             period-start, period-end (exclusive), as-of; for verify,
 *             the person asked about (type 1 Person, object-role 6 User,
 *             name as asked).
 *   recorded  the wall clock when the event is written; period: the run.
 * The run's key (aod_selfaudit_id) is derived from the sorted patient keys,
 * the kind, audience, language, period, --now and the files' checksums, and
 * from who made it and where: the operator, the database user, the OS user,
 * the host and the process (pid and start time).  The store hashes it with
 * the session's login into the event id.  Only an exact retry by the same
 * person in the same process stores it once; the same report exported again
 * by anyone, or by the same person in another run, is recorded again.
 */
#ifndef AOD_SELFAUDIT_H
#define AOD_SELFAUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/error.h"
#include "model/entry.h"
#include "store/store.h"

/* Bytes for an id ("aodreport-" and 32 hex digits) with its NUL. */
#define AOD_SELFAUDIT_ID_LEN 48

typedef struct aod_selfaudit_file {
    const char *format; /* "pdf", "csv", "bundle-json", "bundle-xml" */
    const char *name;   /* the file's base name; "-" for standard output */
    const char *sha256; /* lowercase hex of the bytes written */
    long long size;     /* bytes written */
    /* verify's question (verify-text, verify-json only): the person asked
     * about, recorded as an entity (object-role 6 User) so that the privacy
     * office can audit who asked about whom; NULL otherwise */
    const char *subject;
} aod_selfaudit_file;

/* One produced report, as the self-audit records it.  Everything is
 * borrowed. */
typedef struct aod_selfaudit {
    const aod_report_info *info; /* patients, mode, audience, period, now, lang */
    int explain;                 /* 1: the explain view, not a report */
    const char *operator_name;   /* --operator, or NULL */
    const char *db_user;         /* the database user, or NULL / "" */
    const char *os_user;         /* the OS user, or NULL / "" */
    const char *host;            /* the host name, or NULL / "" */
    long pid;                    /* the process writing it */
    int64_t process_started;     /* wall clock, ms: when that process began */
    const aod_selfaudit_file *files;
    size_t n_files;
    int64_t started;  /* wall clock, ms: when the run began */
    int64_t recorded; /* wall clock, ms: now (the event's recorded time) */
} aod_selfaudit;

/* Writes the run's key for a into out (AOD_SELFAUDIT_ID_LEN bytes): the
 * store's event id hashes it with the login.  It does not depend on the
 * clock, except through process_started. */
void aod_selfaudit_id(const aod_selfaudit *a, char *out);

/* Builds the AuditEvent.  Returns a new reference (json_decref it), or NULL
 * with err set (AOD_ERR_NOMEM). */
json_t *aod_selfaudit_build(const aod_selfaudit *a, aod_error *err);

/* Has the store build and store the event (aod.record_self_audit()) in a
 * transaction of its own.  id_out (AOD_SELFAUDIT_ID_LEN bytes, may be NULL)
 * receives the id the store gave it; *stored (may be NULL) 1 when it is new,
 * 0 when the store had it already.  Returns 0, or -1 with err set (a database
 * error, the role may not record, or a lost connection). */
int aod_selfaudit_write(aod_store *st, const aod_selfaudit *a, char *id_out, int *stored,
                        aod_error *err);

/* Has the store record the n runs a[0..n) in one transaction: all are
 * recorded or none.  The i-th event id goes to ids + i *
 * AOD_SELFAUDIT_ID_LEN.  Returns 0, or -1 with err set (none recorded). */
int aod_selfaudit_write_many(aod_store *st, const aod_selfaudit *a, size_t n, char *ids,
                             aod_error *err);

/* The OS user and host name of this process, for the operator agent, into
 * user and host ("" when unknown). */
void aod_selfaudit_whoami(char *user, size_t user_size, char *host, size_t host_size);

#endif
