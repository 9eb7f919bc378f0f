/*
 * load.c - stream AuditEvent files into the store (see load.h).
 *
 * Stage: source (ingest).  jsonscan cuts the byte stream into documents and
 * Bundle entries; each is parsed by jansson exactly once, here, and turned
 * into the record model and its compact encoding, so that no report ever has
 * to parse JSON again (../shared/PERFORMANCE.md: jansson is the bottleneck
 * when it parses every document).
 */
#include "ingest/load.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include <jansson.h>

#include "base/log.h"
#include "ingest/jsonfast.h"
#include "ingest/jsonscan.h"
#include "ingest/normalize.h"

#define READ_CHUNK      65536
#define MAX_ISSUES      8  /* search outcome issues kept per input */
#define MAX_BUNDLE_KEYS 32 /* patient keys a search outcome is stored under */

typedef struct load_ctx {
    aod_store *st;
    const char *name;
    aod_normalize_row row;
    /* doc/store.md, "Conformance": kept, counted, said once per file */
    long unknown;
    long unknown_line;
    char unknown_name[48];
    long outcomes;
    long events; /* pieces parsed, for progress */
    /* A search response's outcome issues, and the patient keys of the
     * events it carried: stored together at the end (store.h,
     * aod_store_load_outcome) so that reports for them say what is missing. */
    struct {
        char severity[24], code[40], message[400];
    } issue[MAX_ISSUES];
    size_t n_issues;
    char *bundle_keys[MAX_BUNDLE_KEYS];
    size_t n_bundle_keys;
} load_ctx;

/* Copies s (may be NULL) into buf, cut at a character boundary to fit. */
static void copy_text(char *buf, size_t size, const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    if (n)
        memcpy(buf, s, n);
    buf[n] = '\0';
}

/* Notes the patient keys of an event that came in a Bundle, as the store
 * keeps them (the first MAX_BUNDLE_KEYS distinct ones).  Returns 0 or -1 (out of memory). */
static int note_bundle_keys(load_ctx *c, const char *const *keys, size_t n)
{
    size_t i, k;

    for (i = 0; i < n && c->n_bundle_keys < MAX_BUNDLE_KEYS; i++) {
        for (k = 0; k < c->n_bundle_keys; k++)
            if (strcmp(c->bundle_keys[k], keys[i]) == 0)
                break;
        if (k < c->n_bundle_keys)
            continue;
        c->bundle_keys[k] = strdup(keys[i]);
        if (!c->bundle_keys[k])
            return -1;
        c->n_bundle_keys++;
    }
    return 0;
}

/* Queues the search outcomes under the keys of the response's events; an
 * outcome that came with no event names no patient and is only said. */
static int queue_outcomes(load_ctx *c, aod_error *err)
{
    size_t i;

    for (i = 0; c->n_bundle_keys > 0 && i < c->n_issues; i++)
        if (aod_store_load_outcome(c->st, (const char *const *)c->bundle_keys, c->n_bundle_keys,
                                   c->issue[i].severity, c->issue[i].code, c->issue[i].message,
                                   err) != 0)
            return -1;
    return 0;
}

/* Copies at most size-1 printable ASCII characters of s (may be NULL) into
 * buf: text from outside on its way to a terminal. */
static const char *printable(const char *s, char *buf, size_t size)
{
    size_t k;

    for (k = 0; s && s[k] && k + 1 < size; k++)
        buf[k] = s[k] >= ' ' && s[k] <= '~' ? s[k] : '?';
    buf[k] = '\0';
    return buf;
}

/* jansson reports positions inside the piece; make them file positions. */
static void json_fail(load_ctx *c, const json_error_t *jerr, long line, long index, aod_error *err)
{
    long at = line + (jerr->line > 0 ? jerr->line - 1 : 0);
    const char *what = strstr(jerr->text, "unable to decode byte")  ? "invalid UTF-8"
                       : strstr(jerr->text, "duplicate object key") ? "duplicate key"
                                                                    : "invalid JSON";

    aod_error_set(err, AOD_ERR_INPUT, c->name, at, NULL, "%s: %s", what, jerr->text);
    aod_error_where(err, NULL, 0, index);
}

/* One AuditEvent: normalise, encode, stage. */
static int load_event(load_ctx *c, json_t *resource, const char *text, size_t text_len, long line,
                      long index, aod_error *err)
{
    int rc = -1;

    const char *unknown;

    if (aod_normalize_row_make(&c->row, resource, text, text_len, err) != 0)
        goto out;
    unknown = aod_normalize_unknown_element(resource, c->row.rec->version);
    if (unknown && c->unknown++ == 0) {
        c->unknown_line = line;
        printable(unknown, c->unknown_name, sizeof c->unknown_name);
    }
    if (index >= 0 &&
        note_bundle_keys(c, c->row.row.patient_keys, c->row.row.n_patient_keys) != 0) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        goto out;
    }
    c->row.row.line = line;
    rc = aod_store_load_add(c->st, &c->row.row, err);
out:
    /* a database error names the lines of the batch it refused itself */
    if (rc != 0 && err->code != AOD_ERR_DB && err->code != AOD_ERR_DB_CONNECT)
        aod_error_where(err, c->name, line, index);
    return rc;
}

static const char *resource_type(json_t *obj)
{
    return json_string_value(json_object_get(obj, "resourceType"));
}

static int str_is(const json_t *v, const char *s)
{
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

/* Says an OperationOutcome entry's issues on stderr, one line each
 * ("file:line: entry N: search outcome (warning incomplete), not an event:
 * The community ABC did not respond"), and counts it.  Returns 0. */
static int outcome_note(load_ctx *c, const json_t *oo, long line, long index)
{
    const json_t *issues = json_object_get(oo, "issue");
    size_t i, n = json_array_size(issues);

    c->outcomes++;
    for (i = 0; i < (n ? n : 1); i++) {
        const json_t *is = json_array_get(issues, i);
        const char *text =
            json_string_value(json_object_get(json_object_get(is, "details"), "text"));
        char sev[24], code[40], msg[200];

        if (!text)
            text = json_string_value(json_object_get(is, "diagnostics"));
        if (text && c->n_issues < MAX_ISSUES) {
            copy_text(c->issue[c->n_issues].severity, sizeof c->issue[0].severity,
                      json_string_value(json_object_get(is, "severity")));
            copy_text(c->issue[c->n_issues].code, sizeof c->issue[0].code,
                      json_string_value(json_object_get(is, "code")));
            copy_text(c->issue[c->n_issues].message, sizeof c->issue[0].message, text);
            c->n_issues++;
        }
        aod_log(AOD_LOG_WARNING, "%s:%ld: entry %ld: search outcome (%s %s), not an event: %s",
                c->name, line, index,
                printable(json_string_value(json_object_get(is, "severity")), sev, sizeof sev),
                printable(json_string_value(json_object_get(is, "code")), code, sizeof code),
                text ? printable(text, msg, sizeof msg) : "(no message)");
    }
    return 0;
}

static int on_piece(void *ctx, aod_jsonscan_kind kind, const char *json, size_t len, long line,
                    long index, aod_error *err)
{
    load_ctx *c = ctx;
    json_error_t jerr;
    /* jansson's parser for what the quick one declines (and to say why a
     * document is not JSON) */
    json_t *doc = aod_jsonfast_parse(json, len);
    const char *type;
    int rc = -1;

    if (!doc)
        doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    c->events++;
    if (!doc) {
        json_fail(c, &jerr, line, kind == AOD_JSONSCAN_ENTRY ? index : -1, err);
        return -1;
    }
    type = resource_type(doc);
    switch (kind) {
    case AOD_JSONSCAN_DOCUMENT:
        if (type && strcmp(type, "Bundle") == 0) {
            /* A Bundle without entries holds no events; anything else in
             * "entry" was not an array and cannot be read. */
            if (json_object_get(doc, "entry")) {
                aod_error_set(err, AOD_ERR_INPUT, c->name, line, "Bundle.entry", "not an array");
                goto out;
            }
            rc = 0;
            goto out;
        }
        if (!type || strcmp(type, "AuditEvent") != 0) {
            aod_error_set(err, AOD_ERR_INPUT, c->name, line, "resourceType",
                          "not an AuditEvent (resourceType %s)", type ? type : "missing");
            goto out;
        }
        rc = load_event(c, doc, json, len, line, -1, err);
        break;
    case AOD_JSONSCAN_ENTRY: {
        json_t *res = json_object_get(doc, "resource");
        const char *rtype = json_is_object(res) ? resource_type(res) : NULL;
        if (!json_is_object(res)) {
            aod_error_set(err, AOD_ERR_INPUT, c->name, line, "Bundle.entry.resource", "missing");
            aod_error_where(err, NULL, 0, index);
            goto out;
        }
        if (rtype && strcmp(rtype, "OperationOutcome") == 0 &&
            str_is(json_object_get(json_object_get(doc, "search"), "mode"), "outcome")) {
            /* A search response's own outcome (CH:ATC ITI-81: a community
             * that did not answer): not an event, but a fact about how
             * complete the data is.  Its message is said; nothing is
             * dropped silently. */
            rc = outcome_note(c, res, line, index);
            goto out;
        }
        if (!rtype || strcmp(rtype, "AuditEvent") != 0) {
            aod_error_set(err, AOD_ERR_INPUT, c->name, line, "Bundle.entry.resource",
                          "not an AuditEvent (resourceType %s)", rtype ? rtype : "missing");
            aod_error_where(err, NULL, 0, index);
            goto out;
        }
        rc = load_event(c, res, NULL, 0, line, index, err);
        break;
    }
    case AOD_JSONSCAN_CONTAINER:
        if (!type || strcmp(type, "Bundle") != 0) {
            aod_error_set(
                err, AOD_ERR_INPUT, c->name, line, "resourceType",
                "an object with an \"entry\" array that is not a Bundle (resourceType %s)",
                type ? type : "missing");
            goto out;
        }
        rc = 0;
        break;
    }
out:
    json_decref(doc);
    return rc;
}

/* ------------------------------------------------------------ gzip input */

/* A gzip stream read through zlib from a FILE (several members, as `cat
 * a.gz b.gz` makes, are read one after the other). */
typedef struct gz_reader {
    FILE *in;
    z_stream z;
    unsigned char buf[READ_CHUNK];
    long long raw_bytes; /* compressed bytes read from in */
    const char *failed;  /* what went wrong, or NULL */
    int done;
} gz_reader;

static int gz_open(gz_reader *g, FILE *in)
{
    memset(g, 0, sizeof *g);
    g->in = in;
    /* 15 + 16: a gzip header and trailer, checked */
    return inflateInit2(&g->z, 15 + 16) == Z_OK ? 0 : -1;
}

static void gz_close(gz_reader *g)
{
    inflateEnd(&g->z);
}

/* Up to size bytes of decompressed data; fewer only at the end or on an
 * error (g->failed, or ferror(g->in)). */
static size_t gz_read(gz_reader *g, char *out, size_t size)
{
    g->z.next_out = (unsigned char *)out;
    g->z.avail_out = (uInt)size;
    while (g->z.avail_out > 0 && !g->done && !g->failed) {
        int zr;
        if (g->z.avail_in == 0) {
            size_t n = fread(g->buf, 1, sizeof g->buf, g->in);
            if (n == 0) {
                if (!ferror(g->in))
                    g->failed = "the compressed data ends early";
                break;
            }
            g->raw_bytes += (long long)n;
            g->z.next_in = g->buf;
            g->z.avail_in = (uInt)n;
        }
        zr = inflate(&g->z, Z_NO_FLUSH);
        if (zr == Z_STREAM_END) {
            int c;
            /* another member follows, or the end of the file */
            if (g->z.avail_in == 0) {
                c = getc(g->in);
                if (c == EOF) {
                    g->done = 1;
                    break;
                }
                ungetc(c, g->in);
            }
            if (inflateReset(&g->z) != Z_OK)
                g->failed = "cannot restart the decompressor";
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            g->failed = g->z.msg ? g->z.msg : "not valid gzip data";
        }
    }
    return size - g->z.avail_out;
}

/* in: the data; raw: the file under it (in itself, or the compressed file
 * a gzip reader reads), for the bytes-read figure; total its size or -1. */
static int load(aod_store *st, FILE *in, gz_reader *gz, const char *name, long long total,
                aod_load_counts *counts, aod_load_progress_fn progress, void *pctx, aod_error *err)
{
    load_ctx c;
    aod_jsonscan *scan = NULL;
    char *chunk = NULL;
    int rc = -1, open = 0;
    size_t i;

    memset(&c, 0, sizeof c);
    c.st = st;
    c.name = name;
    scan = aod_jsonscan_new(name, 0, on_piece, &c);
    chunk = malloc(READ_CHUNK);
    if (aod_normalize_row_init(&c.row, NULL) != 0 || !scan || !chunk) {
        aod_error_set(err, AOD_ERR_NOMEM, name, 0, NULL, "out of memory");
        goto out;
    }
    if (aod_store_load_begin(st, name, err) != 0)
        goto out;
    open = 1;
    for (;;) {
        size_t n = gz ? gz_read(gz, chunk, READ_CHUNK) : fread(chunk, 1, READ_CHUNK, in);
        if (n > 0 && aod_jsonscan_feed(scan, chunk, n, err) != 0)
            goto out;
        if (progress)
            progress(pctx, gz ? gz->raw_bytes : (long long)ftello(in), total, c.events);
        if (n < READ_CHUNK) {
            if (gz && gz->failed) {
                aod_error_set(err, AOD_ERR_INPUT, name, aod_jsonscan_line(scan), NULL, "gzip: %s",
                              gz->failed);
                goto out;
            }
            if (ferror(in)) {
                aod_error_set(err, AOD_ERR_IO, name, aod_jsonscan_line(scan), NULL,
                              "read error: %s", strerror(errno));
                goto out;
            }
            break;
        }
    }
    if (aod_jsonscan_finish(scan, err) != 0 || queue_outcomes(&c, err) != 0)
        goto out;
    open = 0;
    if (aod_store_load_commit(st, counts, err) != 0)
        goto out;
    counts->unknown_elements = c.unknown;
    counts->outcomes = c.outcomes;
    if (c.unknown > 0)
        aod_log(AOD_LOG_WARNING,
                "%s: warning: %ld event%s carry elements their FHIR version does "
                "not define (first: line %ld, \"%s\"); loaded, those elements are ignored",
                name, c.unknown, c.unknown == 1 ? "" : "s", c.unknown_line, c.unknown_name);
    rc = 0;
out:
    if (open)
        aod_store_load_abort(st);
    if (rc != 0)
        aod_error_where(err, name, 0, -1);
    free(chunk);
    aod_jsonscan_free(scan);
    aod_normalize_row_free(&c.row);
    for (i = 0; i < c.n_bundle_keys; i++)
        free(c.bundle_keys[i]);
    return rc;
}

int aod_load_stream(aod_store *st, FILE *in, const char *name, aod_load_counts *counts,
                    aod_error *err)
{
    return load(st, in, NULL, name, -1, counts, NULL, NULL, err);
}

int aod_load_path(aod_store *st, const char *path, aod_load_counts *counts,
                  aod_load_progress_fn progress, void *ctx, aod_error *err)
{
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    gz_reader *gz = NULL;
    long long total = -1;
    struct stat sb;
    int c, rc = -1;

    if (!in) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "cannot open: %s", strerror(errno));
        return -1;
    }
    if (fstat(fileno(in), &sb) == 0 && S_ISREG(sb.st_mode))
        total = (long long)sb.st_size;
    /* gzip starts with 1f 8b; no JSON text starts with 1f. */
    c = getc(in);
    if (c != EOF && ungetc(c, in) == EOF) {
        aod_error_set(err, AOD_ERR_IO, name, 0, NULL, "read error");
        goto out;
    }
    if (c == 0x1f) {
        gz = malloc(sizeof *gz);
        if (!gz || gz_open(gz, in) != 0) {
            free(gz);
            gz = NULL;
            aod_error_set(err, AOD_ERR_NOMEM, name, 0, NULL, "out of memory");
            goto out;
        }
    }
    rc = load(st, in, gz, name, total, counts, progress, ctx, err);
out:
    if (gz) {
        gz_close(gz);
        free(gz);
    }
    if (in != stdin)
        fclose(in);
    return rc;
}
