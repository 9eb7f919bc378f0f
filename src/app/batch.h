/*
 * batch.h - many reports in one run: `aodreport batch`.
 *
 * Above the pipeline: batch decides which reports to make (the rows of a
 * requests file, or every patient with activity in a month), names their
 * files, runs them in worker processes (each with its own database
 * connection, run.h doing the work) and keeps a manifest of what was done.
 *
 * Layout of the output directory DIR:
 *   DIR/manifest.json, DIR/manifest.csv     (manifest-K-of-N.* for --shard K/N)
 *   DIR/<patient-dir>/<report>.<ext>        one file per format
 *   DIR/.aodreport-batch.lock               held while a run writes into DIR
 * A patient directory is a readable, sanitised form of the patient keys
 * followed by "-" and 16 hex digits of the SHA-256 of the exact keys, so no
 * key can escape DIR and two different keys never share a directory.  A
 * report is "<mode>_<first day>_<last day>_<lang>" plus "_privacy-office"
 * for that audience.  Every file is written under a temporary dot-name and
 * renamed when complete (outfile.h); a run removes the temporary files a
 * killed run left behind.  DIR is checked as outfile.h says (the caller's,
 * or root's and writable by nobody else); inside it no link is followed: a
 * linked patient directory fails its reports, a linked lock stops the run,
 * a linked manifest is replaced, not written through.
 *
 * Memory: the requests file is read as the run goes and its rows planned
 * and run a window at a time (batchrun.c); finished reports go to the
 * manifest's on-disk body (aod_batch_manifest), not to memory.
 *
 * Resuming: a report whose request is unchanged (same patient keys, mode,
 * audience, language, period as given, formats, --now as given, policy
 * bytes, templates and font) and whose files are on disk with the size and
 * SHA-256 the manifest lists is not made again.
 *
 * The pure parts (reading the requests file, naming, shards, the manifest)
 * are exposed for the unit tests; aod_batch_run() is the command.
 */
#ifndef AOD_BATCH_H
#define AOD_BATCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "app/selfaudit.h"
#include "base/sha256.h"

#define AOD_BATCH_MAX_KEYS 32 /* patient keys in one request */
#define AOD_BATCH_DIR_LEN  64 /* a patient directory name with its NUL */
#define AOD_BATCH_NFORMATS 12

/* ------------------------------------------------------- requests file */

/* The columns of a requests file (header names in the comments).  Only
 * patient is required; an empty cell or a missing column means the default
 * (the command line's, else the built-in one). */
typedef enum aod_batch_column {
    AOD_BATCH_COL_PATIENT = 0,  /* patient: keys separated by ';' */
    AOD_BATCH_COL_FROM,         /* from: first day (or timestamp) */
    AOD_BATCH_COL_TO,           /* to: last day, inclusive (or timestamp) */
    AOD_BATCH_COL_MODE,         /* mode: disclosures or access */
    AOD_BATCH_COL_FORMATS,      /* formats: pdf;csv;html;xlsx;bundle-json;... */
    AOD_BATCH_COL_LANG,         /* lang: en, es, ... */
    AOD_BATCH_COL_REQUESTED,    /* requested: the day the request came in */
    AOD_BATCH_COL_PATIENT_NAME, /* patient_name: for the letter */
    AOD_BATCH_COL_AUDIENCE,     /* audience: patient or privacy-office */
    AOD_BATCH_NCOLS
} aod_batch_column;

/* The header name of a column (static string). */
const char *aod_batch_column_name(aod_batch_column c);

/* One data row as read (RFC 4180): cells borrowed for the callback only,
 * surrounding blanks removed; NULL for an empty cell or a missing column. */
typedef struct aod_batch_row {
    long line; /* 1-based line the row starts on */
    const char *cell[AOD_BATCH_NCOLS];
} aod_batch_row;

/* A well-formed row.  Return 0 to go on, -1 (err set) to stop reading. */
typedef int (*aod_batch_row_fn)(void *ctx, const aod_batch_row *row, aod_error *err);

/* A row that is not well-formed CSV (a stray quote, an unterminated quoted
 * cell, the wrong number of cells, bytes that are not UTF-8): why->line
 * names it; reading goes on with the next row. */
typedef void (*aod_batch_bad_fn)(void *ctx, const aod_error *why);

/*
 * Reads a requests file held in data[0..len) (borrowed; name, borrowed,
 * names it in messages).  The dialect: RFC 4180 (cells quoted with '"',
 * quotes doubled inside, line breaks allowed inside quotes), LF or CRLF line
 * ends, an optional UTF-8 byte order mark, blank lines ignored.  The first
 * row is the header: column names as aod_batch_column_name() gives them,
 * in any order, case ignored.  Returns 0, or -1 with err set for what makes
 * the whole file unusable (AOD_ERR_INPUT: no header, an unknown or repeated
 * column, no patient column; or what a callback set).
 */
int aod_batch_read_requests(const char *data, size_t len, const char *name, aod_batch_row_fn row,
                            aod_batch_bad_fn bad, void *ctx, aod_error *err);

/* The same, reading the file f (borrowed) as it goes: only the row being
 * read is held in memory (a row may be up to 4 MB; a longer one makes the
 * file unusable, AOD_ERR_INPUT), so a file of any size can be planned. */
int aod_batch_read_requests_file(FILE *f, const char *name, aod_batch_row_fn row,
                                 aod_batch_bad_fn bad, void *ctx, aod_error *err);

/* Format bits. */
#define AOD_BATCH_PDF                 0x1u
#define AOD_BATCH_CSV                 0x2u
#define AOD_BATCH_BUNDLE_JSON         0x4u
#define AOD_BATCH_BUNDLE_XML          0x8u
#define AOD_BATCH_HTML                0x10u
#define AOD_BATCH_XLSX                0x20u
#define AOD_BATCH_CSV_SUMMARY         0x40u
#define AOD_BATCH_CSV_COMPLETENESS    0x80u  /* the CSV's completeness file (doc/csv.md) */
#define AOD_BATCH_MHD                 0x100u /* IHE MHD ITI-65, the PDF (doc/bundle.md) */
#define AOD_BATCH_MHD_HTML            0x200u /* ITI-65 with the HTML */
#define AOD_BATCH_MHD_SIMPLIFIED      0x400u /* ITI-105, the PDF */
#define AOD_BATCH_MHD_SIMPLIFIED_HTML 0x800u /* ITI-105 with the HTML */

/* Parses "pdf;csv" (';' or ',' between names, blanks ignored) into bits.
 * Returns 0, or -1 with err set (AOD_ERR_USAGE, field "formats": an unknown
 * name, or none). */
int aod_batch_parse_formats(const char *list, unsigned *bits, aod_error *err);

/* The format name of the i-th bit (0: "pdf", 1: "csv", 2: "bundle-json",
 * 3: "bundle-xml", 4: "html", 5: "xlsx", 6: "csv-summary", 7:
 * "csv-completeness", 8: "mhd", 9: "mhd-html", 10: "mhd-simplified", 11:
 * "mhd-simplified-html"); NULL past the end.  New formats take new bits: a bit's meaning never
 * changes, since manifests record them. */
const char *aod_batch_format_name(size_t bit);

/* A request row, checked and in the store's terms. */
typedef struct aod_batch_request {
    long line;                      /* the row's first line */
    char *keys[AOD_BATCH_MAX_KEYS]; /* owned: store form, sorted, unique */
    size_t n_keys;
    int mode;         /* aod_mode, or -1: the default */
    int audience;     /* aod_audience, or -1: the default */
    unsigned formats; /* AOD_BATCH_* bits, or 0: the default */
    int has_from, has_to, has_requested;
    int64_t from, to, requested; /* ms; to is the end of its day (exclusive) */
    char *lang;                  /* owned, or NULL: the default */
    char *patient_name;          /* owned, or NULL */
} aod_batch_request;

/* Checks a row and fills r: each patient key as `report --patient` takes
 * it, dates as `report --from/--to/--requested` take them (in the process's
 * time zone: aod_timefmt_set_zone), mode, audience, formats, a language name.
 * Returns 0, or -1 with err set (AOD_ERR_USAGE with the row's line and the
 * column as field, or AOD_ERR_NOMEM) and r cleared. */
int aod_batch_request_parse(const aod_batch_row *row, aod_batch_request *r, aod_error *err);

/* Frees what r owns and zeroes it. */
void aod_batch_request_clear(aod_batch_request *r);

/* --------------------------------------------------- naming and shards */

/* Sorts keys (borrowed strings) in byte order and drops repeats, in place.
 * Returns the new count. */
size_t aod_batch_sort_keys(const char **keys, size_t n);

/* SHA-256 of the keys (sorted, unique: aod_batch_sort_keys) joined by LF:
 * what names the patient's directory and picks its shard. */
void aod_batch_patient_digest(const char *const *keys, size_t n,
                              unsigned char digest[AOD_SHA256_DIGEST_LEN]);

/* The directory name for the patient (keys sorted and unique) into out
 * (AOD_BATCH_DIR_LEN bytes): up to 40 characters of the first key with
 * every byte outside [A-Za-z0-9.-] made '_' (runs of '_' or '.' collapsed,
 * no leading '.', '-' or '_', the tail kept when it is long), "-", and the
 * first 16 hex digits of the digest.  Never empty, never "." or "..", never
 * containing '/'. */
void aod_batch_patient_dir(const char *const *keys, size_t n, char *out);

/* 1 when name has the shape aod_batch_patient_dir() gives. */
int aod_batch_is_patient_dir(const char *name);

/* 1 when name is a temporary file outfile.h makes
 * (".<name>.aodtmp.<pid>.XXXXXX"). */
int aod_batch_is_temp_name(const char *name);

/* Parses "K/N" (1 <= K <= N <= 1000).  Returns 0, or -1 with err set
 * (AOD_ERR_USAGE). */
int aod_batch_parse_shard(const char *s, unsigned *k, unsigned *n, aod_error *err);

/* The shard (1..n) a patient digest belongs to. */
unsigned aod_batch_shard_of(const unsigned char digest[AOD_SHA256_DIGEST_LEN], unsigned n);

/* ----------------------------------------------------------- manifest */

typedef enum aod_batch_status {
    AOD_BATCH_PENDING = 0, /* not run (yet): the run stopped before it */
    AOD_BATCH_OK,          /* written and self-audited (now or by an earlier run) */
    AOD_BATCH_FAILED,      /* tried; nothing of it was kept; error says why */
    AOD_BATCH_SKIPPED      /* a bad request row; error says why */
} aod_batch_status;

/* "pending", "ok", "failed", "skipped". */
const char *aod_batch_status_name(aod_batch_status s);

typedef struct aod_batch_file {
    const char *format;              /* static: "pdf", "csv", "html", "bundle-json", ... */
    char sha256[AOD_SHA256_HEX_LEN]; /* "" until written */
    long long size;                  /* -1 until written */
} aod_batch_file;

/* One report of the run, as the manifest lists it. */
typedef struct aod_batch_entry {
    aod_batch_status status;
    long line;   /* the request's line; 0 in a month run */
    char **keys; /* owned: patient keys (store form); a skipped row: its cell */
    size_t n_keys;
    char dir[AOD_BATCH_DIR_LEN]; /* patient directory; "" for a skipped row */
    char *base;                  /* owned: file name without extension; NULL for a skipped row */
    const char *mode;            /* static: "disclosures" / "access"; NULL for a skipped row */
    const char *audience;        /* static: "patient" / "privacy-office"; NULL for a skipped row */
    char *lang;                  /* owned; NULL for a skipped row */
    int64_t from, to;            /* the period, [from, to), ms */
    char request[AOD_SHA256_HEX_LEN]; /* the request's fingerprint (resuming) */
    aod_batch_file files[AOD_BATCH_NFORMATS];
    size_t n_files;
    /* --notify: the patient's digest, "notify-json" then "notify-text"
     * (doc/notifications.md); n_notify 0 when there was nothing to notify */
    aod_batch_file notify[2];
    size_t n_notify;
    long records, events, lines;           /* -1 when not known */
    char self_audit[AOD_SELFAUDIT_ID_LEN]; /* the self-audit AuditEvent id, "" if none */
    double seconds;                        /* time the report took; 0 when not run now */
    char *error;                           /* owned; NULL when none */
    int resumed;                           /* 1: complete from an earlier run, not made again */
    /* owned: the manifest's text of this report (JSON, CSV rows) as last
     * written, NULL until then; aod_batch_entry_changed() drops it */
    char *shown_json, *shown_csv;
} aod_batch_entry;

/* Frees what e owns and zeroes it. */
void aod_batch_entry_clear(aod_batch_entry *e);

/* Says that e has changed since the manifest last listed it: the manifest
 * writes it afresh (it keeps each report's text, so that rewriting the
 * manifest of a window of thousands costs copies, not conversions).
 * aod_batch_entry_set_error() says so itself. */
void aod_batch_entry_changed(aod_batch_entry *e);

/* Sets e->error to a copy of text (NULL clears it).  Returns 0 or -1. */
int aod_batch_entry_set_error(aod_batch_entry *e, const char *text);

/* What the manifest says about the run as a whole.  Strings borrowed. */
typedef struct aod_batch_run_info {
    const char *requests;      /* the requests file, or NULL */
    const char *month;         /* YYYY-MM, or NULL */
    const char *now;           /* --now as given, or NULL (the clock) */
    unsigned shard_k, shard_n; /* shard_n 0: not sharded */
    int64_t started;           /* ms */
    const char *state;         /* "running", "complete", "interrupted", "stopped" */
} aod_batch_run_info;

/* Writes BASE.json and BASE.csv in the directory dirfd (named dir in
 * messages; dir, base borrowed), each to a temporary file renamed into
 * place (outfile.h: never through a link).  The JSON is written report by
 * report, never held whole in memory.  manifest.json: {"manifest", "program",
 * "run": {...}, "totals": {...}, "reports": [...]}; manifest.csv: one row
 * per file (a report without files: one row).  Returns 0, or -1 with err
 * set (AOD_ERR_IO, AOD_ERR_NOMEM); then the previous manifest stays. */
int aod_batch_manifest_write(int dirfd, const char *dir, const char *base,
                             const aod_batch_run_info *run, const aod_batch_entry *entries,
                             size_t n, aod_error *err);

/* The manifest of a run being written (opaque).  Reports that are finished
 * are appended to it and kept on disk, not in memory (hidden temporary
 * files in the directory, removed when it is freed); each commit writes
 * BASE.json and BASE.csv as aod_batch_manifest_write() does, from those
 * reports and the ones still in hand. */
typedef struct aod_batch_manifest aod_batch_manifest;

/* A new manifest for BASE.json/.csv in dirfd (borrowed, checked by the
 * caller; dir names it in messages).  Returns it, or NULL with err set
 * (AOD_ERR_IO, AOD_ERR_NOMEM). */
aod_batch_manifest *aod_batch_manifest_new(int dirfd, const char *dir, const char *base,
                                           aod_error *err);

/* Appends e (borrowed; it will not change any more) after the reports
 * added before.  Returns 0, or -1 with err set (AOD_ERR_IO, AOD_ERR_NOMEM). */
int aod_batch_manifest_add(aod_batch_manifest *m, aod_batch_entry *e, aod_error *err);

/* Writes BASE.json and BASE.csv: the reports added, then tail[0..n)
 * (borrowed; each keeps its text for the next commit until
 * aod_batch_entry_changed()).  Returns 0, or -1 with err set; then the
 * previous files stay. */
int aod_batch_manifest_commit(aod_batch_manifest *m, const aod_batch_run_info *run,
                              aod_batch_entry *tail, size_t n, aod_error *err);

/* Removes the temporary files and frees m.  Accepts NULL. */
void aod_batch_manifest_free(aod_batch_manifest *m);

/* A report an earlier run completed, as its manifest says. */
typedef struct aod_batch_done {
    char request[AOD_SHA256_HEX_LEN];
    char dir[AOD_BATCH_DIR_LEN];
    char *base; /* owned */
    aod_batch_file files[AOD_BATCH_NFORMATS];
    size_t n_files;
    aod_batch_file notify[2]; /* as aod_batch_entry's */
    size_t n_notify;
    long records, events, lines;
    char self_audit[AOD_SELFAUDIT_ID_LEN];
} aod_batch_done;

/* Reads the "ok" reports of the manifest name in dirfd (path names it in
 * messages; both borrowed) into a new array *out of *n (free with
 * aod_batch_done_free).  A missing file gives none and 0; a link or
 * anything but a regular file is not read (AOD_ERR_IO).  Returns 0, or -1 with err set
 * (AOD_ERR_INPUT: not a manifest this program wrote; AOD_ERR_IO; AOD_ERR_NOMEM). */
int aod_batch_manifest_read(int dirfd, const char *name, const char *path, aod_batch_done **out,
                            size_t *n, aod_error *err);

void aod_batch_done_free(aod_batch_done *v, size_t n);

/* What an earlier run completed, looked up one request at a time without
 * holding the manifest in memory (24 bytes per completed report; a
 * manifest not laid out as this program writes it is read whole). */
typedef struct aod_batch_resume aod_batch_resume;

/* Opens and indexes the manifest name in dirfd (path names it in
 * messages) into a new *out (free with aod_batch_resume_free, also after a
 * failure).  A missing file gives an empty one and 0; a link or anything
 * but a regular file is not read (AOD_ERR_IO).  Returns 0, or -1 with err
 * set (AOD_ERR_INPUT: not a manifest this program wrote; AOD_ERR_IO;
 * AOD_ERR_NOMEM); *out is then empty. */
int aod_batch_resume_open(int dirfd, const char *name, const char *path, aod_batch_resume **out,
                          aod_error *err);

/* How many completed reports r knows. */
size_t aod_batch_resume_count(const aod_batch_resume *r);

/* The completed report of the request fingerprint (hex) into d (d->base
 * new: free it).  Returns 1 found, 0 not, -1 out of memory. */
int aod_batch_resume_find(aod_batch_resume *r, const char *request, aod_batch_done *d);

void aod_batch_resume_free(aod_batch_resume *r);

/* ------------------------------------------------------------ the run */

typedef struct aod_batch_options {
    const char *requests; /* --requests FILE (or NULL) */
    const char *month;    /* --month YYYY-MM (or NULL); exactly one of the two */
    const char *out_dir;  /* --out-dir DIR, required */
    const char *formats;  /* --formats, NULL: pdf,csv */
    const char *mode;     /* --mode, NULL: disclosures (requests) / access (month) */
    const char *audience; /* --audience, NULL: patient */
    const char *lang;     /* --lang, NULL: the policy's */
    const char *now;      /* --now, NULL: the clock */
    const char *policy, *db, *templates, *font, *operator_name;
    const char *fallback_font; /* --fallback-font, NULL: the default */
    const char *sign;          /* --sign KEYFILE: sign each FHIR document, NULL: unsigned */
    int csv_bom;
    char csv_delimiter;
    int notify;                /* --notify (month runs): the patients' digests */
    int jobs;                  /* 1..64 */
    unsigned shard_k, shard_n; /* shard_n 0: all */
    int quiet, verbose;
} aod_batch_options;

/* Runs the batch.  Returns 0 when every planned report is complete, else -1
 * with err set: AOD_ERR_INTERRUPTED (SIGINT/SIGTERM; the reports in flight
 * were rolled back), AOD_ERR_DB_CONNECT (the database went away; the run
 * stopped), AOD_ERR_PARTIAL (some rows skipped or reports failed; the others
 * are done), or the error that kept the run from starting (usage, policy,
 * requests file, output directory, database). */
int aod_batch_run(const aod_batch_options *o, aod_error *err);

#endif
