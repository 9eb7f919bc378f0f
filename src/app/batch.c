/*
 * batch.c - the pure parts of `aodreport batch` (see batch.h): the requests
 * file, patient directory names, shards and the manifest.  The run itself
 * (planning, worker processes, progress, signals) is in batchrun.c.
 */
#include "app/batch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/buf.h"
#include "config.h"
#include "ingest/normalize.h"
#include "base/outfile.h"
#include "model/record.h"
#include "render/csv.h"
#include "pipeline/report.h"
#include "app/run.h"

/* ------------------------------------------------------------- columns */

static const char *const column_names[AOD_BATCH_NCOLS] = {
    "patient", "from", "to", "mode", "formats", "lang", "requested", "patient_name", "audience"};

const char *aod_batch_column_name(aod_batch_column c)
{
    return (int)c >= 0 && c < AOD_BATCH_NCOLS ? column_names[c] : "?";
}

_Static_assert(AOD_BATCH_NFORMATS <= AOD_RUN_MAX_OUTPUTS, "a batch row may ask for every format");

static const char *const format_names[AOD_BATCH_NFORMATS] = {
    "pdf",  "csv",      "bundle-json",    "bundle-xml",
    "html", "xlsx",     "csv-summary",    "csv-completeness",
    "mhd",  "mhd-html", "mhd-simplified", "mhd-simplified-html"};

const char *aod_batch_format_name(size_t bit)
{
    return bit < AOD_BATCH_NFORMATS ? format_names[bit] : NULL;
}

int aod_batch_parse_formats(const char *list, unsigned *bits, aod_error *err)
{
    const char *p = list ? list : "";
    unsigned out = 0;

    while (*p) {
        size_t n, i;
        while (*p == ' ' || *p == '\t' || *p == ';' || *p == ',')
            p++;
        n = strcspn(p, ";,");
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == 0)
            break;
        for (i = 0; i < AOD_BATCH_NFORMATS; i++)
            if (strlen(format_names[i]) == n && memcmp(format_names[i], p, n) == 0)
                break;
        if (i == AOD_BATCH_NFORMATS) {
            aod_error_set(err, AOD_ERR_USAGE, NULL, 0, "formats",
                          "unknown format '%.*s' (known: pdf, csv, csv-summary, csv-completeness, "
                          "html, xlsx, bundle-json, bundle-xml, mhd, mhd-html, mhd-simplified, "
                          "mhd-simplified-html)",
                          (int)(n > 40 ? 40 : n), p);
            return -1;
        }
        out |= 1u << i;
        p += n;
        p += strcspn(p, ";,");
    }
    if (!out) {
        aod_error_set(err, AOD_ERR_USAGE, NULL, 0, "formats", "no format named");
        return -1;
    }
    *bits = out;
    return 0;
}

/* -------------------------------------------------------- requests file */

#define MAX_CELLS 64

/* A record may be no longer than this (a window of the file is kept in
 * memory, never the file). */
#define MAX_RECORD ((size_t)4 * 1024 * 1024)
#define READ_CHUNK ((size_t)64 * 1024)

typedef struct csv_reader {
    const char *p, *end; /* the bytes read and not yet consumed */
    FILE *f;             /* borrowed; NULL when the data is all in memory */
    int eof;             /* nothing more comes after end */
    aod_buf window;      /* the file's bytes from the current record on */
    long line;           /* the line p is on */
    aod_buf cells;       /* the record's cells, each NUL terminated */
    size_t off[MAX_CELLS];
    size_t n;
} csv_reader;

enum { REC_EOF, REC_OK, REC_BAD };

static void skip_line(csv_reader *r)
{
    while (r->p < r->end && *r->p != '\n')
        r->p++;
    if (r->p < r->end) {
        r->p++;
        r->line++;
    }
}

/* Keeps the bytes from p on and reads more after them.  0, or -1 with why
 * set (a record longer than MAX_RECORD, a read error). */
static int refill(csv_reader *r, const char **why)
{
    char chunk[READ_CHUNK];
    size_t keep = (size_t)(r->end - r->p), n;

    if (keep && r->p != r->window.data)
        memmove(r->window.data, r->p, keep);
    r->window.len = keep;
    if (keep >= MAX_RECORD) {
        *why = "a row is longer than 4 MB";
        return -1;
    }
    n = fread(chunk, 1, sizeof chunk, r->f);
    if (n < sizeof chunk) {
        if (ferror(r->f)) {
            *why = strerror(errno);
            return -1;
        }
        r->eof = 1;
    }
    if (aod_buf_add(&r->window, chunk, n) != 0) {
        *why = "out of memory";
        return -1;
    }
    r->p = r->window.data ? r->window.data : "";
    r->end = r->p + r->window.len;
    return 0;
}

/* Reads one record; on REC_BAD why says what is wrong (the caller adds the
 * record's first line). */
static int read_record(csv_reader *r, const char **why)
{
    aod_buf_reset(&r->cells);
    r->n = 0;
    if (r->p >= r->end)
        return REC_EOF;
    for (;;) {
        size_t start = r->cells.len;
        if (r->n == MAX_CELLS) {
            *why = "too many cells";
            skip_line(r);
            return REC_BAD;
        }
        if (r->p < r->end && *r->p == '"') {
            r->p++;
            for (;;) {
                char c;
                if (r->p >= r->end) {
                    *why = "a quoted cell is not closed (a '\"' is missing)";
                    return REC_BAD;
                }
                c = *r->p++;
                if (c == '"') {
                    if (r->p < r->end && *r->p == '"')
                        r->p++;
                    else
                        break;
                } else if (c == '\n') {
                    r->line++;
                } else if (c == '\0') {
                    *why = "a NUL byte";
                    skip_line(r);
                    return REC_BAD;
                }
                if (aod_buf_addc(&r->cells, c) != 0)
                    goto nomem;
            }
            if (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r') {
                *why =
                    "text after a closing quote (quote the whole cell, double the quotes inside)";
                skip_line(r);
                return REC_BAD;
            }
        } else {
            while (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r') {
                if (*r->p == '"') {
                    *why = "a quote inside an unquoted cell (quote the whole cell, double the "
                           "quotes inside)";
                    skip_line(r);
                    return REC_BAD;
                }
                if (*r->p == '\0') {
                    *why = "a NUL byte";
                    skip_line(r);
                    return REC_BAD;
                }
                if (aod_buf_addc(&r->cells, *r->p++) != 0)
                    goto nomem;
            }
        }
        if (aod_buf_addc(&r->cells, '\0') != 0)
            goto nomem;
        r->off[r->n++] = start;
        if (r->p >= r->end)
            return REC_OK;
        if (*r->p == ',') {
            r->p++;
            continue;
        }
        if (*r->p == '\r')
            r->p++;
        if (r->p < r->end && *r->p == '\n')
            r->p++;
        r->line++;
        return REC_OK;
    }
nomem:
    *why = "out of memory";
    r->p = r->end;
    return REC_BAD;
}

static char *cell(csv_reader *r, size_t i)
{
    return r->cells.data + r->off[i];
}

/* Trims blanks in place; returns the cell. */
static char *trim(char *s)
{
    size_t n;

    while (*s == ' ' || *s == '\t')
        s++;
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

static int utf8_valid(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s;
        size_t n, i;
        unsigned cp;
        if (c < 0x80) {
            s++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        for (i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        s += n + 1;
    }
    return 1;
}

static int record_blank(csv_reader *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        if (trim(cell(r, i))[0])
            return 0;
    return 1;
}

static int ascii_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
        if (x != *b)
            return 0;
    }
    return *a == *b;
}

/* Reads from f when it is given, else from data[0..len). */
static int read_requests(FILE *f, const char *data, size_t len, const char *name,
                         aod_batch_row_fn row, aod_batch_bad_fn bad, void *ctx, aod_error *err)
{
    csv_reader r;
    const char *why = NULL;
    int map[MAX_CELLS];
    size_t ncols = 0, i;
    int have_header = 0, rc = -1, k;

    memset(&r, 0, sizeof r);
    r.f = f;
    r.p = data;
    r.end = data + len;
    r.eof = !f;
    r.line = 1;
    aod_buf_init(&r.cells, MAX_RECORD + 1);
    aod_buf_init(&r.window, MAX_RECORD + READ_CHUNK + 1);
    while (!r.eof && r.end - r.p < 3)
        if (refill(&r, &why) != 0)
            goto bad_read;
    if (r.end - r.p >= 3 && memcmp(r.p, "\xEF\xBB\xBF", 3) == 0)
        r.p += 3;
    for (;;) {
        long line = r.line;
        const char *start = r.p;
        int got = read_record(&r, &why);

        /* A record that reaches the end of what was read may go on in the
         * part not read yet: read more and read it again. */
        if (!r.eof && r.p >= r.end) {
            r.p = start;
            r.line = line;
            if (refill(&r, &why) != 0)
                goto bad_read;
            continue;
        }
        if (got == REC_EOF)
            break;
        if (got == REC_BAD) {
            aod_error e;
            if (r.p >= r.end && strcmp(why, "out of memory") == 0) {
                aod_error_set(err, AOD_ERR_NOMEM, name, line, NULL, "out of memory");
                goto out;
            }
            if (!have_header) {
                aod_error_set(err, AOD_ERR_INPUT, name, line, NULL, "header row: %s", why);
                goto out;
            }
            aod_error_init(&e);
            aod_error_set(&e, AOD_ERR_INPUT, name, line, NULL, "%s", why);
            bad(ctx, &e);
            continue;
        }
        if (record_blank(&r))
            continue;
        if (!have_header) {
            for (i = 0; i < r.n; i++) {
                const char *h = trim(cell(&r, i));
                map[i] = -1;
                for (k = 0; k < AOD_BATCH_NCOLS; k++)
                    if (ascii_ieq(h, column_names[k]))
                        map[i] = k;
                if (map[i] < 0) {
                    aod_error_set(err, AOD_ERR_INPUT, name, line, NULL,
                                  "unknown column '%.60s' (columns: patient, from, to, mode, "
                                  "formats, lang, requested, patient_name, audience)",
                                  h);
                    goto out;
                }
                for (k = 0; (size_t)k < i; k++)
                    if (map[k] == map[i]) {
                        aod_error_set(err, AOD_ERR_INPUT, name, line, NULL,
                                      "column '%s' appears twice", column_names[map[i]]);
                        goto out;
                    }
            }
            for (i = 0; i < r.n && map[i] != AOD_BATCH_COL_PATIENT; i++)
                ;
            if (i == r.n) {
                aod_error_set(err, AOD_ERR_INPUT, name, line, NULL,
                              "no 'patient' column (the first row must name the columns)");
                goto out;
            }
            ncols = r.n;
            have_header = 1;
            continue;
        }
        if (r.n != ncols) {
            aod_error e;
            aod_error_init(&e);
            aod_error_set(&e, AOD_ERR_INPUT, name, line, NULL, "%zu cells, the header has %zu", r.n,
                          ncols);
            bad(ctx, &e);
            continue;
        }
        {
            aod_batch_row out;
            int ok = 1;
            memset(&out, 0, sizeof out);
            out.line = line;
            for (i = 0; i < r.n; i++) {
                char *v = trim(cell(&r, i));
                if (!utf8_valid((const unsigned char *)v)) {
                    aod_error e;
                    aod_error_init(&e);
                    aod_error_set(&e, AOD_ERR_INPUT, name, line, column_names[map[i]],
                                  "not valid UTF-8");
                    bad(ctx, &e);
                    ok = 0;
                    break;
                }
                out.cell[map[i]] = v[0] ? v : NULL;
            }
            if (ok && row(ctx, &out, err) != 0)
                goto out;
        }
    }
    if (!have_header) {
        aod_error_set(err, AOD_ERR_INPUT, name, 0, NULL,
                      "the requests file is empty (it needs a header row naming the columns)");
        goto out;
    }
    rc = 0;
    goto out;
bad_read:
    aod_error_set(err, AOD_ERR_INPUT, name, r.line, NULL, "cannot read the requests file: %s", why);
out:
    aod_buf_free(&r.cells);
    aod_buf_free(&r.window);
    return rc;
}

int aod_batch_read_requests(const char *data, size_t len, const char *name, aod_batch_row_fn row,
                            aod_batch_bad_fn bad, void *ctx, aod_error *err)
{
    return read_requests(NULL, data, len, name, row, bad, ctx, err);
}

int aod_batch_read_requests_file(FILE *f, const char *name, aod_batch_row_fn row,
                                 aod_batch_bad_fn bad, void *ctx, aod_error *err)
{
    return read_requests(f, NULL, 0, name, row, bad, ctx, err);
}

void aod_batch_request_clear(aod_batch_request *r)
{
    size_t i;

    for (i = 0; i < r->n_keys; i++)
        free(r->keys[i]);
    free(r->lang);
    free(r->patient_name);
    memset(r, 0, sizeof *r);
    r->mode = r->audience = -1;
}

/* A language tag as the templates directory names it: "en", "pt-BR". */
static int lang_name_ok(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > 16 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return 0;
    return 1;
}

static int cmp_owned(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int request_keys(const char *cellv, aod_batch_request *r, aod_error *err)
{
    const char *p = cellv;
    char *kept[AOD_BATCH_MAX_KEYS];
    size_t n = 0, i, m;
    aod_buf key;

    aod_buf_init(&key, 4096);
    while (*p) {
        size_t len = strcspn(p, ";");
        char piece[4096];
        size_t k = len < sizeof piece - 1 ? len : sizeof piece - 1;
        memcpy(piece, p, k);
        piece[k] = '\0';
        p += len;
        if (*p == ';')
            p++;
        if (!trim(piece)[0])
            continue;
        if (n == AOD_BATCH_MAX_KEYS) {
            aod_error_set(err, AOD_ERR_USAGE, NULL, 0, "patient", "more than %d patient keys",
                          AOD_BATCH_MAX_KEYS);
            goto fail;
        }
        aod_buf_reset(&key);
        if (aod_normalize_patient_key(piece, &key, err) != 0)
            goto fail;
        if (!(kept[n] = strdup(aod_buf_str(&key)))) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "patient", "out of memory");
            goto fail;
        }
        n++;
    }
    if (n == 0) {
        aod_error_set(err, AOD_ERR_USAGE, NULL, 0, "patient", "no patient key");
        goto fail;
    }
    qsort(kept, n, sizeof *kept, cmp_owned);
    for (i = 0, m = 0; i < n; i++) {
        if (m > 0 && strcmp(r->keys[m - 1], kept[i]) == 0)
            free(kept[i]);
        else
            r->keys[m++] = kept[i];
    }
    r->n_keys = m;
    aod_buf_free(&key);
    return 0;
fail:
    for (i = 0; i < n; i++)
        free(kept[i]);
    aod_buf_free(&key);
    return -1;
}

static int request_date(const aod_batch_row *row, aod_batch_column c, int end_of_day, int *has,
                        int64_t *ms, aod_error *err)
{
    const char *v = row->cell[c];

    aod_error e;

    if (!v)
        return 0;
    aod_error_init(&e);
    if (aod_run_parse_when(column_names[c], v, end_of_day, ms, &e) != 0) {
        aod_error_set(err, e.code, NULL, 0, column_names[c], "%s", e.text);
        return -1;
    }
    *has = 1;
    return 0;
}

int aod_batch_request_parse(const aod_batch_row *row, aod_batch_request *r, aod_error *err)
{
    const char *v;

    memset(r, 0, sizeof *r);
    r->mode = r->audience = -1;
    r->line = row->line;
    if (!row->cell[AOD_BATCH_COL_PATIENT]) {
        aod_error_set(err, AOD_ERR_USAGE, NULL, 0, "patient", "no patient key");
        goto fail;
    }
    if (request_keys(row->cell[AOD_BATCH_COL_PATIENT], r, err) != 0)
        goto fail;
    if (request_date(row, AOD_BATCH_COL_FROM, 0, &r->has_from, &r->from, err) != 0 ||
        request_date(row, AOD_BATCH_COL_TO, 1, &r->has_to, &r->to, err) != 0 ||
        request_date(row, AOD_BATCH_COL_REQUESTED, 0, &r->has_requested, &r->requested, err) != 0)
        goto fail;
    if (r->has_from && r->has_to && r->from >= r->to) {
        aod_error_set(err, AOD_ERR_USAGE, NULL, 0, "to",
                      "the period is empty (from is not before to)");
        goto fail;
    }
    if ((v = row->cell[AOD_BATCH_COL_MODE])) {
        if (strcmp(v, "disclosures") == 0)
            r->mode = AOD_MODE_DISCLOSURES;
        else if (strcmp(v, "access") == 0)
            r->mode = AOD_MODE_ACCESS;
        else {
            aod_error_set(err, AOD_ERR_USAGE, NULL, 0, "mode", "'%.40s': use disclosures or access",
                          v);
            goto fail;
        }
    }
    if ((v = row->cell[AOD_BATCH_COL_AUDIENCE])) {
        if (strcmp(v, "patient") == 0)
            r->audience = AOD_AUDIENCE_PATIENT;
        else if (strcmp(v, "privacy-office") == 0)
            r->audience = AOD_AUDIENCE_PRIVACY_OFFICE;
        else {
            aod_error_set(err, AOD_ERR_USAGE, NULL, 0, "audience",
                          "'%.40s': use patient or privacy-office", v);
            goto fail;
        }
    }
    if ((v = row->cell[AOD_BATCH_COL_FORMATS]) && aod_batch_parse_formats(v, &r->formats, err) != 0)
        goto fail;
    if ((v = row->cell[AOD_BATCH_COL_LANG])) {
        if (!lang_name_ok(v)) {
            aod_error_set(err, AOD_ERR_USAGE, NULL, 0, "lang", "'%.40s' is not a language name", v);
            goto fail;
        }
        if (!(r->lang = strdup(v)))
            goto nomem;
    }
    if ((v = row->cell[AOD_BATCH_COL_PATIENT_NAME])) {
        if (strlen(v) > 200) {
            aod_error_set(err, AOD_ERR_USAGE, NULL, 0, "patient_name", "longer than 200 bytes");
            goto fail;
        }
        if (!(r->patient_name = strdup(v)))
            goto nomem;
    }
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
fail:
    aod_error_where(err, NULL, row->line, -1);
    if (err && err->code == AOD_ERR_INPUT)
        err->code = AOD_ERR_USAGE;
    aod_batch_request_clear(r);
    return -1;
}

/* --------------------------------------------------- naming and shards */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t aod_batch_sort_keys(const char **keys, size_t n)
{
    size_t i, out = 0;

    if (n == 0)
        return 0;
    qsort(keys, n, sizeof *keys, cmp_str);
    for (i = 0; i < n; i++)
        if (out == 0 || strcmp(keys[out - 1], keys[i]) != 0)
            keys[out++] = keys[i];
    return out;
}

void aod_batch_patient_digest(const char *const *keys, size_t n,
                              unsigned char digest[AOD_SHA256_DIGEST_LEN])
{
    aod_sha256_ctx c;
    size_t i;

    aod_sha256_init(&c);
    for (i = 0; i < n; i++) {
        if (i)
            aod_sha256_update(&c, "\n", 1);
        aod_sha256_update(&c, keys[i], strlen(keys[i]));
    }
    aod_sha256_final(&c, digest);
}

#define PREFIX_MAX 40

static int name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
}

void aod_batch_patient_dir(const char *const *keys, size_t n, char *out)
{
    unsigned char digest[AOD_SHA256_DIGEST_LEN];
    char hex[17], clean[256];
    const char *key = n ? keys[0] : "";
    const char *p;
    size_t len = 0, start;

    /* Map, collapse runs of '_', cap the work at what the buffer holds. */
    for (p = key; *p && len < sizeof clean - 1; p++) {
        char c = name_char((unsigned char)*p) ? *p : '_';
        if ((c == '_' || c == '.') && len > 0 && clean[len - 1] == c)
            continue;
        clean[len++] = c;
    }
    clean[len] = '\0';
    /* Keep the tail of a long key (identifier values sit at the end), from
     * a word's start when one is near. */
    start = 0;
    if (len > PREFIX_MAX) {
        size_t k;
        start = len - PREFIX_MAX;
        for (k = start; k < start + 16 && k < len; k++)
            if (clean[k] == '_') {
                start = k + 1;
                break;
            }
    }
    while (clean[start] == '.' || clean[start] == '-' || clean[start] == '_')
        start++;
    while (len > start && (clean[len - 1] == '.' || clean[len - 1] == '-' || clean[len - 1] == '_'))
        clean[--len] = '\0';
    if (len <= start) {
        memcpy(clean, "patient", 8);
        start = 0;
        len = 7;
    }
    aod_batch_patient_digest(keys, n, digest);
    aod_sha256_hex(digest, 8, hex);
    /* at most PREFIX_MAX + 1 + 16 + 1 bytes: fits AOD_BATCH_DIR_LEN */
    memcpy(out, clean + start, len - start);
    out[len - start] = '-';
    memcpy(out + len - start + 1, hex, 17);
}

static int is_hex_lower(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int aod_batch_is_patient_dir(const char *name)
{
    size_t n = strlen(name), i;

    if (n < 18 || n >= AOD_BATCH_DIR_LEN || name[n - 17] != '-' || !is_hex_lower(name + n - 16, 16))
        return 0;
    if (name[0] == '.' || name[0] == '-' || name[0] == '_')
        return 0;
    for (i = 0; i < n; i++)
        if (!name_char((unsigned char)name[i]) && name[i] != '_')
            return 0;
    return 1;
}

int aod_batch_is_temp_name(const char *name)
{
    return aod_outfile_is_temp_name(name);
}

int aod_batch_parse_shard(const char *s, unsigned *k, unsigned *n, aod_error *err)
{
    unsigned long a, b;
    char *end;

    errno = 0;
    a = strtoul(s, &end, 10);
    if (end == s || *end != '/' || errno)
        goto bad;
    s = end + 1;
    b = strtoul(s, &end, 10);
    if (end == s || *end || errno || a < 1 || b < 1 || a > b || b > 1000)
        goto bad;
    *k = (unsigned)a;
    *n = (unsigned)b;
    return 0;
bad:
    aod_error_set(err, AOD_ERR_USAGE, "--shard", 0, NULL,
                  "give K/N with 1 <= K <= N <= 1000 (for example 1/4)");
    return -1;
}

unsigned aod_batch_shard_of(const unsigned char digest[AOD_SHA256_DIGEST_LEN], unsigned n)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = (v << 8) | digest[i];
    return n ? (unsigned)(v % n) + 1 : 1;
}

/* ----------------------------------------------------------- manifest */

static const char *const status_names[] = {"pending", "ok", "failed", "skipped"};

const char *aod_batch_status_name(aod_batch_status s)
{
    return (int)s >= 0 && s <= AOD_BATCH_SKIPPED ? status_names[s] : "?";
}

void aod_batch_entry_clear(aod_batch_entry *e)
{
    size_t i;

    for (i = 0; i < e->n_keys; i++)
        free(e->keys[i]);
    free(e->keys);
    free(e->base);
    free(e->lang);
    free(e->error);
    free(e->shown_json);
    free(e->shown_csv);
    memset(e, 0, sizeof *e);
}

void aod_batch_entry_changed(aod_batch_entry *e)
{
    free(e->shown_json);
    free(e->shown_csv);
    e->shown_json = e->shown_csv = NULL;
}

int aod_batch_entry_set_error(aod_batch_entry *e, const char *text)
{
    char *copy = NULL;

    if (text && !(copy = strdup(text)))
        return -1;
    free(e->error);
    e->error = copy;
    aod_batch_entry_changed(e);
    return 0;
}

/* The file name's extension: the single report's (run.h), so the manifest
 * names the files the workers write ("summary.csv", "mhd-html.json"). */
static const char *ext_of(const char *format)
{
    const char *ext;

    if (strcmp(format, "notify-json") == 0) /* the digest (doc/notifications.md) */
        return "notify.json";
    if (strcmp(format, "notify-text") == 0)
        return "notify.txt";
    ext = aod_run_format_ext(format);
    return ext ? ext : format;
}

/* "<dir>/<base>.<ext>" into out. */
static void file_path(const aod_batch_entry *e, const aod_batch_file *f, char *out, size_t size)
{
    snprintf(out, size, "%s/%s.%s", e->dir, e->base ? e->base : "", ext_of(f->format));
}

static json_t *time_or_null(int64_t ms)
{
    char buf[40];

    if (!ms)
        return json_null();
    return json_string(aod_time_format_utc(ms, buf, sizeof buf));
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

static json_t *count_or_null(long v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

/* The files of a report as the manifest lists them, appended to files. */
static int files_json(const aod_batch_entry *e, const aod_batch_file *v, size_t n, json_t *files)
{
    char path[512];
    size_t i;

    for (i = 0; i < n; i++) {
        const aod_batch_file *f = &v[i];
        file_path(e, f, path, sizeof path);
        if (json_array_append_new(
                files, json_pack("{s:s, s:s, s:o, s:o}", "path", path, "format", f->format,
                                 "sha256", str_or_null(f->sha256), "size",
                                 f->size >= 0 ? json_integer(f->size) : json_null())) != 0)
            return -1;
    }
    return 0;
}

static json_t *entry_json(const aod_batch_entry *e)
{
    json_t *o = json_object(), *keys = json_array(), *files = json_array();
    char path[512];
    size_t i;
    int bad = !o || !keys || !files;

    for (i = 0; !bad && i < e->n_keys; i++)
        bad = json_array_append_new(keys, json_string(e->keys[i])) != 0;
    for (i = 0; !bad && i < e->n_files; i++) {
        const aod_batch_file *f = &e->files[i];
        file_path(e, f, path, sizeof path);
        bad = json_array_append_new(
                  files, json_pack("{s:s, s:s, s:o, s:o}", "path", path, "format", f->format,
                                   "sha256", str_or_null(f->sha256), "size",
                                   f->size >= 0 ? json_integer(f->size) : json_null())) != 0;
    }
    if (!bad) {
        bad = json_object_set_new(o, "status", json_string(aod_batch_status_name(e->status))) ||
              json_object_set_new(o, "line", e->line > 0 ? json_integer(e->line) : json_null()) ||
              json_object_set(o, "patient", keys) ||
              json_object_set_new(o, "patient_dir", str_or_null(e->dir)) ||
              json_object_set_new(o, "mode", str_or_null(e->mode)) ||
              json_object_set_new(o, "audience", str_or_null(e->audience)) ||
              json_object_set_new(o, "lang", str_or_null(e->lang)) ||
              json_object_set_new(o, "from", time_or_null(e->from)) ||
              json_object_set_new(o, "to", time_or_null(e->to)) ||
              json_object_set(o, "files", files) ||
              json_object_set_new(o, "counts",
                                  json_pack("{s:o, s:o, s:o}", "records", count_or_null(e->records),
                                            "events", count_or_null(e->events), "lines",
                                            count_or_null(e->lines))) ||
              json_object_set_new(o, "self_audit", str_or_null(e->self_audit)) ||
              json_object_set_new(o, "error", str_or_null(e->error)) ||
              json_object_set_new(o, "request", str_or_null(e->request)) ||
              json_object_set_new(o, "resumed", json_boolean(e->resumed)) ||
              json_object_set_new(o, "seconds", json_real(e->seconds));
        /* --notify: only a report whose patient has a digest says so */
        if (!bad && e->n_notify > 0) {
            json_t *nf = json_array();
            bad = !nf || files_json(e, e->notify, e->n_notify, nf) != 0 ||
                  json_object_set(o, "notify", nf) != 0;
            json_decref(nf);
        }
    }
    json_decref(keys);
    json_decref(files);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Writes s with every line after the first indented by four more spaces:
 * a report dumped on its own, placed at its depth in the manifest. */
static int put_indented(FILE *f, const char *s)
{
    const char *nl;

    if (fputs("    ", f) == EOF)
        return -1;
    while ((nl = strchr(s, '\n'))) {
        if (fwrite(s, 1, (size_t)(nl - s) + 1, f) != (size_t)(nl - s) + 1 ||
            fputs("    ", f) == EOF)
            return -1;
        s = nl + 1;
    }
    return fputs(s, f) == EOF ? -1 : 0;
}

/* One report's JSON at its depth.  0, -1 (errno) or -2 (out of memory). */
static int entry_json_text(FILE *f, const aod_batch_entry *e)
{
    json_t *o = entry_json(e);
    char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_ENSURE_ASCII) : NULL;
    int rc = -2;

    json_decref(o);
    if (text)
        rc = put_indented(f, text) != 0 ? -1 : 0;
    free(text);
    return rc;
}

/* e's text made by put into *out (malloc'ed).  0, -1 or -2 as put. */
static int render(const aod_batch_entry *e, int (*put)(FILE *, const aod_batch_entry *), char **out)
{
    size_t len = 0;
    FILE *m;
    int rc;

    *out = NULL;
    if (!(m = open_memstream(out, &len)))
        return -2;
    rc = put(m, e);
    if (fclose(m) != 0 && rc == 0)
        rc = -2;
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* Writes e's text made by put, after sep; *kept: where the text is kept
 * between writes (NULL: made for this write only).  0, -1 (errno) or -2. */
static int put_shown(FILE *f, const aod_batch_entry *e, char **kept,
                     int (*put)(FILE *, const aod_batch_entry *), const char *sep)
{
    char *text = kept ? *kept : NULL;
    int rc;

    if (!text) {
        rc = render(e, put, &text);
        if (rc != 0)
            return rc;
        if (kept)
            *kept = text;
    }
    rc = fputs(sep, f) == EOF || fputs(text, f) == EOF ? -1 : 0;
    if (!kept)
        free(text);
    return rc;
}

/* One report's JSON at its depth, after a separator unless it is the first;
 * keep: e itself, to keep its text for the next write, or NULL. */
static int put_entry_json(FILE *f, const aod_batch_entry *e, aod_batch_entry *keep, int first)
{
    return put_shown(f, e, keep ? &keep->shown_json : NULL, entry_json_text, first ? "" : ",\n");
}

static int csv_row(FILE *f, const aod_batch_entry *e, const aod_batch_file *file)
{
    char line[32], from[40] = "", to[40] = "", size[32] = "", path[512] = "", n1[32] = "",
                   n2[32] = "", n3[32] = "";
    aod_buf keys;
    size_t i;
    int rc = 0;

    aod_buf_init(&keys, 0);
    for (i = 0; i < e->n_keys; i++)
        if ((i && aod_buf_addc(&keys, ';') != 0) || aod_buf_adds(&keys, e->keys[i]) != 0)
            return -1;
    snprintf(line, sizeof line, "%ld", e->line);
    if (e->from)
        aod_time_format_utc(e->from, from, sizeof from);
    if (e->to)
        aod_time_format_utc(e->to, to, sizeof to);
    if (file) {
        file_path(e, file, path, sizeof path);
        if (file->size >= 0)
            snprintf(size, sizeof size, "%lld", file->size);
    }
    if (e->records >= 0)
        snprintf(n1, sizeof n1, "%ld", e->records);
    if (e->events >= 0)
        snprintf(n2, sizeof n2, "%ld", e->events);
    if (e->lines >= 0)
        snprintf(n3, sizeof n3, "%ld", e->lines);
    rc |= aod_csv_write_cell(f, aod_batch_status_name(e->status), ',', 0);
    rc |= aod_csv_write_cell(f, e->line > 0 ? line : "", ',', 0);
    rc |= aod_csv_write_cell(f, aod_buf_str(&keys), ',', 0);
    rc |= aod_csv_write_cell(f, e->dir, ',', 0);
    rc |= aod_csv_write_cell(f, e->mode, ',', 0);
    rc |= aod_csv_write_cell(f, e->audience, ',', 0);
    rc |= aod_csv_write_cell(f, e->lang, ',', 0);
    rc |= aod_csv_write_cell(f, from, ',', 0);
    rc |= aod_csv_write_cell(f, to, ',', 0);
    rc |= aod_csv_write_cell(f, file ? file->format : "", ',', 0);
    rc |= aod_csv_write_cell(f, path, ',', 0);
    rc |= aod_csv_write_cell(f, size, ',', 0);
    rc |= aod_csv_write_cell(f, file ? file->sha256 : "", ',', 0);
    rc |= aod_csv_write_cell(f, n1, ',', 0);
    rc |= aod_csv_write_cell(f, n2, ',', 0);
    rc |= aod_csv_write_cell(f, n3, ',', 0);
    rc |= aod_csv_write_cell(f, e->self_audit, ',', 0);
    rc |= aod_csv_write_cell(f, e->error, ',', 1);
    aod_buf_free(&keys);
    return rc ? -1 : 0;
}

/* A report's rows of manifest.csv: one per file, or one without a file. */
static int entry_csv_text(FILE *f, const aod_batch_entry *e)
{
    size_t k;

    if (e->n_files == 0 || e->status != AOD_BATCH_OK)
        return csv_row(f, e, NULL);
    for (k = 0; k < e->n_files; k++)
        if (csv_row(f, e, &e->files[k]) != 0)
            return -1;
    for (k = 0; k < e->n_notify; k++)
        if (csv_row(f, e, &e->notify[k]) != 0)
            return -1;
    return 0;
}

/* The same, kept as put_entry_json() keeps it. */
static int put_entry_csv(FILE *f, const aod_batch_entry *e, aod_batch_entry *keep)
{
    return put_shown(f, e, keep ? &keep->shown_csv : NULL, entry_csv_text, "");
}

/*
 * The manifest of a run.  The reports that will not change any more are
 * appended, as the manifest's own text, to two hidden temporary files in
 * the directory (outfile.h: created there with O_EXCL|O_NOFOLLOW, mode 0600,
 * removed when done; a killed run's are cleaned by the next); each write of
 * manifest.json/.csv copies them in between a fresh head and the reports
 * still in flight.  Nothing of the manifest grows in memory.
 */
struct aod_batch_manifest {
    int dirfd; /* borrowed */
    aod_buf json_path, csv_path;
    char json_name[128], csv_name[128];
    aod_outfile *body_json, *body_csv; /* the finished reports' text */
    long totals[AOD_BATCH_SKIPPED + 1];
    size_t n; /* reports in the bodies */
};

void aod_batch_manifest_free(aod_batch_manifest *m)
{
    if (!m)
        return;
    aod_outfile_abort(m->body_json);
    aod_outfile_abort(m->body_csv);
    aod_buf_free(&m->json_path);
    aod_buf_free(&m->csv_path);
    free(m);
}

aod_batch_manifest *aod_batch_manifest_new(int dirfd, const char *dir, const char *base,
                                           aod_error *err)
{
    aod_batch_manifest *m = calloc(1, sizeof *m);
    char body[160];

    if (!m) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return NULL;
    }
    m->dirfd = dirfd;
    aod_buf_init(&m->json_path, 8192);
    aod_buf_init(&m->csv_path, 8192);
    if ((size_t)snprintf(m->json_name, sizeof m->json_name, "%s.json", base) >=
            sizeof m->json_name ||
        (size_t)snprintf(m->csv_name, sizeof m->csv_name, "%s.csv", base) >= sizeof m->csv_name ||
        aod_buf_printf(&m->json_path, "%s/%s", dir, m->json_name) != 0 ||
        aod_buf_printf(&m->csv_path, "%s/%s", dir, m->csv_name) != 0) {
        aod_error_set(err, AOD_ERR_IO, dir, 0, NULL, "path too long");
        goto fail;
    }
    snprintf(body, sizeof body, "%s.body", m->json_name);
    if (!(m->body_json = aod_outfile_openat(dirfd, body, aod_buf_str(&m->json_path), err)))
        goto fail;
    snprintf(body, sizeof body, "%s.body", m->csv_name);
    if (!(m->body_csv = aod_outfile_openat(dirfd, body, aod_buf_str(&m->csv_path), err)))
        goto fail;
    return m;
fail:
    aod_batch_manifest_free(m);
    return NULL;
}

int aod_batch_manifest_add(aod_batch_manifest *m, aod_batch_entry *e, aod_error *err)
{
    int rc = put_entry_json(aod_outfile_stream(m->body_json), e, e, m->n == 0);

    if (rc == 0)
        rc = put_entry_csv(aod_outfile_stream(m->body_csv), e, e);
    if (rc == -2) {
        aod_error_set(err, AOD_ERR_NOMEM, aod_buf_str(&m->json_path), 0, NULL,
                      "out of memory writing the manifest");
        return -1;
    }
    if (rc != 0) {
        aod_error_set(err, AOD_ERR_IO, aod_buf_str(&m->json_path), 0, NULL, "write error: %s",
                      strerror(errno));
        return -1;
    }
    m->totals[e->status]++;
    m->n++;
    return 0;
}

/* Copies what was written to body so far to f.  0 or -1 (errno). */
static int copy_body(aod_outfile *body, FILE *f)
{
    char buf[65536];
    FILE *b = aod_outfile_stream(body);
    off_t off = 0;
    ssize_t n;

    if (fflush(b) != 0)
        return -1;
    while ((n = pread(fileno(b), buf, sizeof buf, off)) > 0) {
        if (fwrite(buf, 1, (size_t)n, f) != (size_t)n)
            return -1;
        off += n;
    }
    return n < 0 ? -1 : 0;
}

/* keep: v itself, whose reports keep their text for the next write, or NULL. */
static int write_json(aod_batch_manifest *m, const aod_batch_run_info *run,
                      const aod_batch_entry *v, aod_batch_entry *keep, size_t n, aod_error *err)
{
    const char *shown = aod_buf_str(&m->json_path);
    json_t *head = NULL, *shard;
    long totals[AOD_BATCH_SKIPPED + 1];
    char started[40], shard_buf[32];
    aod_outfile *out = NULL;
    char *text = NULL;
    FILE *f;
    size_t i;
    int rc = -1, put;

    memcpy(totals, m->totals, sizeof totals);
    for (i = 0; i < n; i++)
        totals[v[i].status]++;
    snprintf(shard_buf, sizeof shard_buf, "%u/%u", run->shard_k, run->shard_n);
    shard = run->shard_n ? json_string(shard_buf) : json_null();
    /* Everything but the reports, which follow it. */
    head = json_pack(
        "{s:s, s:i, s:s, s:{s:o, s:o, s:o, s:o, s:s, s:s},"
        " s:{s:I, s:I, s:I, s:I, s:I}}",
        "manifest", "aodreport batch", "version", 1, "program", "aodreport " PACKAGE_VERSION, "run",
        "requests", str_or_null(run->requests), "month", str_or_null(run->month), "now",
        str_or_null(run->now), "shard", shard, "started",
        aod_time_format_utc(run->started, started, sizeof started), "state", run->state, "totals",
        "reports", (json_int_t)(m->n + n), "ok", (json_int_t)totals[AOD_BATCH_OK], "failed",
        (json_int_t)totals[AOD_BATCH_FAILED], "skipped", (json_int_t)totals[AOD_BATCH_SKIPPED],
        "pending", (json_int_t)totals[AOD_BATCH_PENDING]);
    if (!head || !(text = json_dumps(head, JSON_INDENT(2) | JSON_ENSURE_ASCII)))
        goto nomem;
    out = aod_outfile_openat(m->dirfd, m->json_name, shown, err);
    if (!out)
        goto done;
    f = aod_outfile_stream(out);
    /* text ends with "\n}": the reports go before that brace */
    if (fwrite(text, 1, strlen(text) - 2, f) != strlen(text) - 2 ||
        fputs(m->n + n ? ",\n  \"reports\": [\n" : ",\n  \"reports\": []", f) == EOF ||
        copy_body(m->body_json, f) != 0)
        goto io;
    for (i = 0; i < n; i++) {
        put = put_entry_json(f, &v[i], keep ? &keep[i] : NULL, m->n == 0 && i == 0);
        if (put == -2)
            goto nomem;
        if (put != 0)
            goto io;
    }
    if ((m->n + n && fputs("\n  ]", f) == EOF) || fputs("\n}\n", f) == EOF)
        goto io;
    rc = aod_outfile_commit(out, err);
    out = NULL;
    goto done;
io:
    aod_error_set(err, AOD_ERR_IO, shown, 0, NULL, "write error: %s", strerror(errno));
    goto done;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, shown, 0, NULL, "out of memory writing the manifest");
done:
    aod_outfile_abort(out);
    free(text);
    json_decref(head);
    return rc;
}

static int write_csv(aod_batch_manifest *m, const aod_batch_entry *v, aod_batch_entry *keep,
                     size_t n, aod_error *err)
{
    static const char *const head[] = {"status",   "line",       "patient", "patient_dir", "mode",
                                       "audience", "lang",       "from",    "to",          "format",
                                       "file",     "size",       "sha256",  "records",     "events",
                                       "lines",    "self_audit", "error"};
    const char *path = aod_buf_str(&m->csv_path);
    aod_outfile *out = aod_outfile_openat(m->dirfd, m->csv_name, path, err);
    FILE *f;
    size_t i, k;
    int rc = 0;

    if (!out)
        return -1;
    f = aod_outfile_stream(out);
    for (k = 0; k < sizeof head / sizeof head[0]; k++)
        rc |= aod_csv_write_cell(f, head[k], ',', k + 1 == sizeof head / sizeof head[0]);
    if (rc == 0)
        rc = copy_body(m->body_csv, f);
    for (i = 0; rc == 0 && i < n; i++)
        rc = put_entry_csv(f, &v[i], keep ? &keep[i] : NULL);
    if (rc != 0) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "write error: %s", strerror(errno));
        aod_outfile_abort(out);
        return -1;
    }
    return aod_outfile_commit(out, err);
}

/* The same, keep as write_json() takes it. */
static int commit(aod_batch_manifest *m, const aod_batch_run_info *run, const aod_batch_entry *tail,
                  aod_batch_entry *keep, size_t n, aod_error *err)
{
    if (write_json(m, run, tail, keep, n, err) != 0)
        return -1;
    return write_csv(m, tail, keep, n, err);
}

int aod_batch_manifest_commit(aod_batch_manifest *m, const aod_batch_run_info *run,
                              aod_batch_entry *tail, size_t n, aod_error *err)
{
    return commit(m, run, tail, tail, n, err);
}

int aod_batch_manifest_write(int dirfd, const char *dir, const char *base,
                             const aod_batch_run_info *run, const aod_batch_entry *entries,
                             size_t n, aod_error *err)
{
    aod_batch_manifest *m = aod_batch_manifest_new(dirfd, dir, base, err);
    int rc;

    if (!m)
        return -1;
    rc = commit(m, run, entries, NULL, n, err);
    aod_batch_manifest_free(m);
    return rc;
}

void aod_batch_done_free(aod_batch_done *v, size_t n)
{
    size_t i;

    for (i = 0; v && i < n; i++)
        free(v[i].base);
    free(v);
}

static void copy_field(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

static long count_of(const json_t *counts, const char *name)
{
    const json_t *v = json_object_get(counts, name);
    return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

/* The digest files of an old manifest's report (--notify), which must be
 * named as its other files are: "<dir>/<base>.notify.json" and ".txt".
 * Absent: none.  0, or -1 when not usable. */
static int done_notify(const json_t *v, const char *dir, aod_batch_done *d)
{
    static const char *const formats[2] = {"notify-json", "notify-text"};
    const json_t *f;
    char want[512];
    size_t i;

    if (!v)
        return 0;
    if (!json_is_array(v) || json_array_size(v) != 2 || !d->base)
        return -1;
    json_array_foreach(v, i, f)
    {
        const char *path = json_string_value(json_object_get(f, "path"));
        const char *format = json_string_value(json_object_get(f, "format"));
        const char *sha = json_string_value(json_object_get(f, "sha256"));
        const json_t *size = json_object_get(f, "size");
        snprintf(want, sizeof want, "%s/%s.%s", dir, d->base, ext_of(formats[i]));
        if (!path || !format || strcmp(format, formats[i]) != 0 || strcmp(path, want) != 0 ||
            !sha || strlen(sha) != AOD_SHA256_HEX_LEN - 1 || !json_is_integer(size))
            return -1;
        d->notify[i].format = formats[i];
        copy_field(d->notify[i].sha256, sizeof d->notify[i].sha256, sha);
        d->notify[i].size = (long long)json_integer_value(size);
    }
    d->n_notify = 2;
    return 0;
}

/* One "ok" report of an old manifest; 0 when usable, -1 when not (the
 * report is then simply made again). */
static int done_from_json(const json_t *r, aod_batch_done *d)
{
    const json_t *files = json_object_get(r, "files"), *f;
    const char *request = json_string_value(json_object_get(r, "request"));
    const char *dir = json_string_value(json_object_get(r, "patient_dir"));
    size_t i, nd;

    memset(d, 0, sizeof *d);
    if (!request || strlen(request) != AOD_SHA256_HEX_LEN - 1 || !dir ||
        !aod_batch_is_patient_dir(dir) || !json_is_array(files) || json_array_size(files) == 0 ||
        json_array_size(files) > AOD_BATCH_NFORMATS)
        return -1;
    copy_field(d->request, sizeof d->request, request);
    copy_field(d->dir, sizeof d->dir, dir);
    nd = strlen(dir);
    json_array_foreach(files, i, f)
    {
        const char *path = json_string_value(json_object_get(f, "path"));
        const char *format = json_string_value(json_object_get(f, "format"));
        const char *sha = json_string_value(json_object_get(f, "sha256"));
        const json_t *size = json_object_get(f, "size");
        const char *dot, *name;
        size_t k;

        if (!path || !format || !sha || strlen(sha) != AOD_SHA256_HEX_LEN - 1 ||
            !json_is_integer(size) || strncmp(path, dir, nd) != 0 || path[nd] != '/')
            return -1;
        for (k = 0; k < AOD_BATCH_NFORMATS && strcmp(format_names[k], format) != 0; k++)
            ;
        if (k == AOD_BATCH_NFORMATS)
            return -1;
        d->files[i].format = format_names[k];
        copy_field(d->files[i].sha256, sizeof d->files[i].sha256, sha);
        d->files[i].size = (long long)json_integer_value(size);
        /* The base name: the file name without its extension; no '/' and
         * no leading '.', so an edited manifest cannot point outside DIR. */
        name = path + nd + 1;
        /* the extension may hold a dot itself ("completeness.csv") */
        {
            size_t nn = strlen(name), ne = strlen(ext_of(format));
            dot = nn > ne + 1 ? name + nn - ne - 1 : NULL;
        }
        if (!dot || dot == name || *dot != '.' || name[0] == '.' || strchr(name, '/') ||
            strcmp(dot + 1, ext_of(format)) != 0)
            return -1;
        if (!d->base && !(d->base = strndup(name, (size_t)(dot - name))))
            return -1;
        if (strncmp(d->base, name, (size_t)(dot - name)) != 0 || d->base[dot - name] != '\0')
            return -1;
    }
    d->n_files = json_array_size(files);
    if (done_notify(json_object_get(r, "notify"), dir, d) != 0)
        return -1;
    d->records = count_of(json_object_get(r, "counts"), "records");
    d->events = count_of(json_object_get(r, "counts"), "events");
    d->lines = count_of(json_object_get(r, "counts"), "lines");
    copy_field(d->self_audit, sizeof d->self_audit,
               json_string_value(json_object_get(r, "self_audit")));
    return 0;
}

typedef struct done_list {
    aod_batch_done *v;
    size_t n, cap;
} done_list;

static void done_list_clear(done_list *l)
{
    aod_batch_done_free(l->v, l->n);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* Adds the report r if it is "ok" and usable.  0, or -1: out of memory. */
static int done_add(done_list *l, const json_t *r)
{
    const char *status = json_string_value(json_object_get(r, "status"));

    if (!status || strcmp(status, "ok") != 0)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        aod_batch_done *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    if (done_from_json(r, &l->v[l->n]) == 0)
        l->n++;
    else
        free(l->v[l->n].base);
    return 0;
}

static int done_add_at(void *ctx, const json_t *r, off_t at)
{
    (void)at;
    return done_add(ctx, r);
}

/* Reads a manifest laid out as aod_batch_manifest_write() writes it: the
 * head up to `  "reports": [`, then each report from a line `    {` to a
 * line `    }` (or `    },`), then `  ]`.  Returns 1 when read so, 0 when
 * the file is not laid out so (to be read whole), -1 out of memory. */
typedef int (*report_fn)(void *ctx, const json_t *r, off_t at);

static int read_by_report(FILE *f, report_fn fn, void *ctx)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    aod_buf chunk;
    off_t at = 0, start = 0;
    int state = 0, rc = 0, is_manifest = 0; /* 0 head, 1 between, 2 in a report, 3 end */

    aod_buf_init(&chunk, (size_t)16 * 1024 * 1024);
    while ((len = getline(&line, &cap, f)) > 0) {
        off_t here = at;
        at += len;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (state == 0) {
            if (strcmp(line, "  \"manifest\": \"aodreport batch\",") == 0)
                is_manifest = 1;
            if (strcmp(line, "  \"reports\": []") == 0 || strcmp(line, "  \"reports\": [") == 0)
                state = line[13] == ']' ? 3 : 1;
        } else if (state == 1) {
            if (strcmp(line, "  ]") == 0) {
                state = 3;
            } else if (strcmp(line, "    {") == 0) {
                start = here;
                aod_buf_reset(&chunk);
                if (aod_buf_adds(&chunk, "{") != 0)
                    goto nomem;
                state = 2;
            } else {
                goto out;
            }
        } else if (state == 2) {
            int last = strcmp(line, "    }") == 0 || strcmp(line, "    },") == 0;
            json_error_t jerr;
            json_t *r;
            if (aod_buf_add(&chunk, line, last ? 5 : (size_t)len) != 0 ||
                aod_buf_addc(&chunk, '\n') != 0)
                goto nomem;
            if (!last)
                continue;
            r = json_loadb(chunk.data, chunk.len, JSON_REJECT_DUPLICATES, &jerr);
            if (!r)
                goto out;
            if (fn(ctx, r, start) != 0) {
                json_decref(r);
                goto nomem;
            }
            json_decref(r);
            state = 1;
        } else if (strcmp(line, "}") != 0) {
            goto out;
        }
    }
    rc = state == 3 && is_manifest && !ferror(f) ? 1 : 0;
    goto out;
nomem:
    rc = -1;
out:
    free(line);
    aod_buf_free(&chunk);
    return rc;
}

/* Reads a manifest as one JSON text.  0, or -1 with err set. */
static int read_whole(FILE *f, const char *path, done_list *l, aod_error *err)
{
    json_error_t jerr;
    json_t *root, *reports, *r;
    size_t i;
    int rc = -1;

    root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        aod_error_set(err, AOD_ERR_INPUT, path, jerr.line, NULL, "not a readable manifest: %s",
                      jerr.text);
        return -1;
    }
    reports = json_object_get(root, "reports");
    if (!json_is_string(json_object_get(root, "manifest")) ||
        strcmp(json_string_value(json_object_get(root, "manifest")), "aodreport batch") != 0 ||
        !json_is_array(reports)) {
        aod_error_set(err, AOD_ERR_INPUT, path, 0, NULL, "not an aodreport batch manifest");
        goto out;
    }
    json_array_foreach(reports, i, r)
    {
        if (done_add(l, r) != 0) {
            aod_error_set(err, AOD_ERR_NOMEM, path, 0, NULL, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int aod_batch_manifest_read(int dirfd, const char *name, const char *path, aod_batch_done **out,
                            size_t *n, aod_error *err)
{
    done_list list;
    struct stat sb;
    FILE *f;
    int fd, rc;

    *out = NULL;
    *n = 0;
    /* Never through a link: its target's bytes would end up quoted in a
     * message. */
    fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || !(f = fdopen(fd, "rb"))) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "cannot read the manifest: %s",
                      fd < 0 && errno == ELOOP          ? "a symbolic link (not followed)"
                      : fd >= 0 && !S_ISREG(sb.st_mode) ? "not a regular file"
                                                        : strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    /* As this program writes it, one report at a time (a manifest of a
     * million reports is gigabytes as one tree); anything else, whole. */
    list.v = NULL;
    list.n = list.cap = 0;
    rc = read_by_report(f, done_add_at, &list);
    if (rc == 0) {
        done_list_clear(&list);
        rewind(f);
        rc = read_whole(f, path, &list, err);
    }
    fclose(f);
    if (rc < 0) {
        if (err && err->code == AOD_OK)
            aod_error_set(err, AOD_ERR_NOMEM, path, 0, NULL, "out of memory");
        done_list_clear(&list);
        return -1;
    }
    *out = list.v;
    *n = list.n;
    return 0;
}

/*
 * Resuming without holding the earlier manifest: it is read once, report
 * by report, and what is kept of each usable "ok" report is 24 bytes (the
 * first 128 bits of its request fingerprint and where it starts in the
 * file); a report is read again from the file, kept open, when a request
 * asks for it.  The run replaces the manifest's name, never its bytes, so
 * the descriptor keeps reading the earlier run's.  A manifest not laid out
 * as this program writes it (edited by hand) is read whole, as before.
 */
typedef struct resume_key {
    unsigned char request[16];
    off_t at;
} resume_key;

struct aod_batch_resume {
    FILE *f;
    resume_key *keys;
    size_t n, cap;
    done_list whole; /* a manifest read whole: its reports, sorted by request */
};

static int hex_prefix(const char *hex, unsigned char out[16])
{
    size_t i;

    for (i = 0; i < 32; i++) {
        char c = hex[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return -1;
        if (i % 2 == 0)
            out[i / 2] = (unsigned char)(v << 4);
        else
            out[i / 2] |= (unsigned char)v;
    }
    return 0;
}

static int resume_key_add(void *ctx, const json_t *r, off_t at)
{
    aod_batch_resume *res = ctx;
    const char *status = json_string_value(json_object_get(r, "status"));
    aod_batch_done d;
    resume_key k;
    int usable;

    if (!status || strcmp(status, "ok") != 0)
        return 0;
    usable = done_from_json(r, &d) == 0 && hex_prefix(d.request, k.request) == 0;
    free(d.base);
    if (!usable)
        return 0;
    if (res->n == res->cap) {
        size_t cap = res->cap ? res->cap * 2 : 1024;
        resume_key *v = realloc(res->keys, cap * sizeof *v);
        if (!v)
            return -1;
        res->keys = v;
        res->cap = cap;
    }
    k.at = at;
    res->keys[res->n++] = k;
    return 0;
}

static int cmp_key(const void *a, const void *b)
{
    return memcmp(((const resume_key *)a)->request, ((const resume_key *)b)->request, 16);
}

static int cmp_done_request(const void *a, const void *b)
{
    return strcmp(((const aod_batch_done *)a)->request, ((const aod_batch_done *)b)->request);
}

void aod_batch_resume_free(aod_batch_resume *r)
{
    if (!r)
        return;
    if (r->f)
        fclose(r->f);
    free(r->keys);
    done_list_clear(&r->whole);
    free(r);
}

int aod_batch_resume_open(int dirfd, const char *name, const char *path, aod_batch_resume **out,
                          aod_error *err)
{
    aod_batch_resume *r = calloc(1, sizeof *r);
    struct stat sb;
    int fd, rc;

    *out = r;
    if (!r) {
        aod_error_set(err, AOD_ERR_NOMEM, path, 0, NULL, "out of memory");
        return -1;
    }
    /* Never through a link: its target's bytes would end up quoted in a
     * message. */
    fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || !(r->f = fdopen(fd, "rb"))) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "cannot read the manifest: %s",
                      fd < 0 && errno == ELOOP          ? "a symbolic link (not followed)"
                      : fd >= 0 && !S_ISREG(sb.st_mode) ? "not a regular file"
                                                        : strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    rc = read_by_report(r->f, resume_key_add, r);
    if (rc == 0) {
        r->n = 0;
        rewind(r->f);
        rc = read_whole(r->f, path, &r->whole, err);
        fclose(r->f);
        r->f = NULL;
        if (rc == 0 && r->whole.n)
            qsort(r->whole.v, r->whole.n, sizeof *r->whole.v, cmp_done_request);
    }
    if (rc < 0) {
        if (err->code == AOD_OK)
            aod_error_set(err, AOD_ERR_NOMEM, path, 0, NULL, "out of memory");
        r->n = 0;
        done_list_clear(&r->whole);
        return -1;
    }
    if (r->n)
        qsort(r->keys, r->n, sizeof *r->keys, cmp_key);
    return 0;
}

size_t aod_batch_resume_count(const aod_batch_resume *r)
{
    return r ? r->n + r->whole.n : 0;
}

/* The report starting at offset at, as aod_batch_done.  0, 1: not usable
 * (the file changed under us), -1: out of memory. */
static int read_report_at(aod_batch_resume *r, off_t at, aod_batch_done *d)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    aod_buf chunk;
    json_t *o = NULL;
    int rc = 1;

    aod_buf_init(&chunk, (size_t)16 * 1024 * 1024);
    if (fseeko(r->f, at, SEEK_SET) != 0 || getline(&line, &cap, r->f) <= 0 ||
        strcmp(line, "    {\n") != 0 || aod_buf_adds(&chunk, "{") != 0)
        goto out;
    while ((len = getline(&line, &cap, r->f)) > 0) {
        int last = strncmp(line, "    }", 5) == 0 && (line[5] == '\n' || line[5] == ',');
        if (aod_buf_add(&chunk, line, last ? 5 : (size_t)len) != 0) {
            rc = -1;
            goto out;
        }
        if (last)
            break;
    }
    o = json_loadb(chunk.data ? chunk.data : "", chunk.len, JSON_REJECT_DUPLICATES, NULL);
    if (o && json_is_string(json_object_get(o, "status")) &&
        strcmp(json_string_value(json_object_get(o, "status")), "ok") == 0 &&
        done_from_json(o, d) == 0)
        rc = 0;
out:
    json_decref(o);
    free(line);
    aod_buf_free(&chunk);
    return rc;
}

int aod_batch_resume_find(aod_batch_resume *r, const char *request, aod_batch_done *d)
{
    resume_key key;
    size_t lo = 0, hi;

    memset(d, 0, sizeof *d);
    if (!r || strlen(request) != AOD_SHA256_HEX_LEN - 1)
        return 0;
    if (r->whole.n) {
        aod_batch_done probe, *hit;
        snprintf(probe.request, sizeof probe.request, "%s", request);
        hit = bsearch(&probe, r->whole.v, r->whole.n, sizeof *hit, cmp_done_request);
        if (!hit)
            return 0;
        *d = *hit;
        d->base = strdup(hit->base);
        return d->base ? 1 : -1;
    }
    if (hex_prefix(request, key.request) != 0)
        return 0;
    /* the first key with this prefix, then each of them */
    hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_key(&r->keys[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < r->n && cmp_key(&r->keys[lo], &key) == 0; lo++) {
        int got = read_report_at(r, r->keys[lo].at, d);
        if (got < 0)
            return -1;
        if (got == 0 && strcmp(d->request, request) == 0)
            return 1;
        free(d->base);
        memset(d, 0, sizeof *d);
    }
    return 0;
}
