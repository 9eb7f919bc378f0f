/*
 * sitecsv.c - the site inputs (see sitecsv.h; the files are described in
 * doc/privacy-office.md).
 *
 * Stage: source (ingest).  The reader is a small state machine over the
 * bytes of RFC 4180; the loaders check each row against its kind's columns
 * and stream it into the store's COPY, so a file of any length costs the
 * memory of one row (and, for the patient facts, the keys seen, to refuse a
 * patient listed twice).
 */
#include "ingest/sitecsv.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/utf8.h"

#define MAX_FIELD  ((size_t)64 * 1024)
#define MAX_FIELDS 64
#define MAX_KEYS   64 /* a roster row's own patient keys */

struct aod_csvin {
    FILE *in;
    const char *name;
    long line; /* the line the next byte is on */
    int started;
    aod_buf text;           /* the record's fields, each NUL-terminated */
    size_t off[MAX_FIELDS]; /* where each field starts in text */
    const char *ptr[MAX_FIELDS];
    long lines[MAX_FIELDS];
    size_t n;
};

aod_csvin *aod_csvin_new(FILE *in, const char *name, aod_error *err)
{
    aod_csvin *r = calloc(1, sizeof *r);

    if (!r) {
        aod_error_set(err, AOD_ERR_NOMEM, name, 0, NULL, "out of memory");
        return NULL;
    }
    r->in = in;
    r->name = name;
    r->line = 1;
    aod_buf_init(&r->text, MAX_FIELDS * (MAX_FIELD + 1));
    return r;
}

void aod_csvin_free(aod_csvin *r)
{
    if (!r)
        return;
    aod_buf_free(&r->text);
    free(r);
}

/* Ends the current field: NUL-terminates it and checks it is UTF-8. */
static int end_field(aod_csvin *r, size_t start, aod_error *err)
{
    const unsigned char *p = (const unsigned char *)r->text.data + start;
    size_t len = r->text.len - start, i = 0, k;

    while (i < len) {
        k = aod_utf8_decode(p + i, len - i, NULL);
        if (k == 0) {
            aod_error_set(err, AOD_ERR_INPUT, r->name, r->lines[r->n], NULL,
                          "field %zu is not UTF-8 text", r->n + 1);
            return -1;
        }
        i += k;
    }
    if (aod_buf_addc(&r->text, '\0') != 0) {
        aod_error_set(err, AOD_ERR_NOMEM, r->name, r->line, NULL, "out of memory");
        return -1;
    }
    r->n++;
    return 0;
}

static int new_field(aod_csvin *r, aod_error *err)
{
    if (r->n >= MAX_FIELDS) {
        aod_error_set(err, AOD_ERR_INPUT, r->name, r->line, NULL, "more than %d fields in one row",
                      MAX_FIELDS);
        return -1;
    }
    r->off[r->n] = r->text.len;
    r->lines[r->n] = r->line;
    return 0;
}

int aod_csvin_next(aod_csvin *r, const char *const **fields, size_t *n, long *line,
                   const long **lines, aod_error *err)
{
    enum { START, PLAIN, QUOTED, QUOTE_IN_QUOTED } state = START;
    long first = r->line;
    int c, any = 0;
    size_t i;

    aod_buf_reset(&r->text);
    r->n = 0;
    if (!r->started) {
        /* a byte order mark is no part of the first column's name */
        r->started = 1;
        c = getc(r->in);
        if (c == 0xEF) {
            if (getc(r->in) != 0xBB || getc(r->in) != 0xBF) {
                aod_error_set(err, AOD_ERR_INPUT, r->name, 1, NULL, "the file is not UTF-8 text");
                return -1;
            }
        } else if (c != EOF) {
            ungetc(c, r->in);
        }
    }
    if (new_field(r, err) != 0)
        return -1;
    for (;;) {
        c = getc(r->in);
        if (c == EOF) {
            if (ferror(r->in)) {
                aod_error_set(err, AOD_ERR_IO, r->name, r->line, NULL, "read error: %s",
                              strerror(errno ? errno : EIO));
                return -1;
            }
            if (state == QUOTED) {
                aod_error_set(err, AOD_ERR_INPUT, r->name, r->lines[r->n], NULL,
                              "field %zu: a quoted field is not closed before the end of the file",
                              r->n + 1);
                return -1;
            }
            if (!any)
                return 0;
            break;
        }
        any = 1;
        if (c == '\0') {
            aod_error_set(err, AOD_ERR_INPUT, r->name, r->line, NULL,
                          "field %zu: a NUL byte is not text", r->n + 1);
            return -1;
        }
        if (state == QUOTED) {
            if (c == '"') {
                state = QUOTE_IN_QUOTED;
                continue;
            }
            if (c == '\n')
                r->line++;
        } else {
            if (state == QUOTE_IN_QUOTED && c == '"') {
                state = QUOTED; /* "" inside quotes: one quote */
                goto add;
            }
            if (c == ',') {
                if (end_field(r, r->off[r->n], err) != 0 || new_field(r, err) != 0)
                    return -1;
                state = START;
                continue;
            }
            if (c == '\r') {
                int d = getc(r->in);
                if (d != '\n') {
                    aod_error_set(err, AOD_ERR_INPUT, r->name, r->line, NULL,
                                  "field %zu: a CR outside quotes that does not end the line",
                                  r->n + 1);
                    return -1;
                }
                c = '\n';
            }
            if (c == '\n') {
                r->line++;
                break;
            }
            if (state == QUOTE_IN_QUOTED) {
                aod_error_set(err, AOD_ERR_INPUT, r->name, r->line, NULL,
                              "field %zu: text after the closing quote", r->n + 1);
                return -1;
            }
            if (c == '"') {
                if (state == START) {
                    state = QUOTED;
                    continue;
                }
                aod_error_set(err, AOD_ERR_INPUT, r->name, r->line, NULL,
                              "field %zu: a quote inside a field that does not start with one "
                              "(quote the field and double the quote)",
                              r->n + 1);
                return -1;
            }
            state = PLAIN;
        }
    add:
        if (r->text.len - r->off[r->n] >= MAX_FIELD) {
            aod_error_set(err, AOD_ERR_INPUT, r->name, r->lines[r->n], NULL,
                          "field %zu is longer than %zu bytes", r->n + 1, MAX_FIELD);
            return -1;
        }
        if (aod_buf_addc(&r->text, (char)c) != 0) {
            aod_error_set(err, AOD_ERR_NOMEM, r->name, r->line, NULL, "out of memory");
            return -1;
        }
    }
    if (end_field(r, r->off[r->n], err) != 0)
        return -1;
    for (i = 0; i < r->n; i++)
        r->ptr[i] = r->text.data + r->off[i];
    *fields = r->ptr;
    *n = r->n;
    *line = first;
    if (lines)
        *lines = r->lines;
    return 1;
}

/* ----------------------------------------------------------- the loaders */

int aod_sitecsv_is_date(const char *s)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = 0, m, d, i;

    for (i = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            if (s[i] != '-')
                return 0;
        } else if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    if (s[10] != '\0')
        return 0;
    for (i = 0; i < 4; i++)
        y = y * 10 + (s[i] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return 0;
    if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return 0;
    return 1;
}

/* The columns of each kind, in the store's value order (store.h). */
enum { COL_REQUIRED = 1, COL_DATE = 2, COL_YESNO = 4, COL_KEYS = 8 };
typedef struct column {
    const char *name;
    unsigned kind;
} column;

static const column roster_cols[] = {
    {"staff_key", COL_REQUIRED}, {"name", 0},         {"surname", 0},    {"address", 0},
    {"department", 0},           {"start", COL_DATE}, {"end", COL_DATE}, {"patient_keys", COL_KEYS},
};
static const column facts_cols[] = {
    {"patient_key", COL_REQUIRED}, {"surname", 0},          {"address", 0}, {"vip", COL_YESNO},
    {"deceased", COL_DATE},        {"employee", COL_YESNO},
};
static const column care_cols[] = {
    {"patient_key", COL_REQUIRED},
    {"staff_key", COL_REQUIRED},
    {"from", COL_DATE},
    {"to", COL_DATE},
};

static const struct {
    const column *cols;
    size_t n;
} kinds[AOD_SITE_KIND_COUNT] = {
    {roster_cols, sizeof roster_cols / sizeof roster_cols[0]},
    {facts_cols, sizeof facts_cols / sizeof facts_cols[0]},
    {care_cols, sizeof care_cols / sizeof care_cols[0]},
};

/* A set of strings (the patient facts' keys), to refuse a key listed twice
 * with both lines named. */
typedef struct key_set {
    char **keys;
    long *lines;
    size_t n, cap; /* cap a power of two */
} key_set;

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

static void key_set_free(key_set *k)
{
    size_t i;

    for (i = 0; i < k->cap; i++)
        free(k->keys[i]);
    free(k->keys);
    free(k->lines);
}

/* Adds key; *prior receives the line it was seen on before (0: new).
 * Returns 0 / -1 (out of memory). */
static int key_set_add(key_set *k, const char *key, long line, long *prior)
{
    size_t i;

    *prior = 0;
    if ((k->n + 1) * 2 > k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 1024, j;
        char **keys = calloc(cap, sizeof *keys);
        long *lines = calloc(cap, sizeof *lines);
        if (!keys || !lines) {
            free(keys);
            free(lines);
            return -1;
        }
        for (j = 0; j < k->cap; j++) {
            if (!k->keys[j])
                continue;
            for (i = str_hash(k->keys[j]) & (cap - 1); keys[i]; i = (i + 1) & (cap - 1))
                ;
            keys[i] = k->keys[j];
            lines[i] = k->lines[j];
        }
        free(k->keys);
        free(k->lines);
        k->keys = keys;
        k->lines = lines;
        k->cap = cap;
    }
    for (i = str_hash(key) & (k->cap - 1); k->keys[i]; i = (i + 1) & (k->cap - 1)) {
        if (strcmp(k->keys[i], key) == 0) {
            *prior = k->lines[i];
            return 0;
        }
    }
    k->keys[i] = strdup(key);
    if (!k->keys[i])
        return -1;
    k->lines[i] = line;
    k->n++;
    return 0;
}

static int has_space_only(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return *s == '\0';
}

/* Splits a ';'-separated list of keys in place into keys[]; empty items and
 * surrounding spaces dropped. */
static int split_keys(char *s, const char **keys, size_t *n)
{
    char *p = s, *end;

    *n = 0;
    while (*p) {
        end = strchr(p, ';');
        if (end)
            *end = '\0';
        while (*p == ' ')
            p++;
        {
            size_t len = strlen(p);
            while (len > 0 && p[len - 1] == ' ')
                p[--len] = '\0';
            if (len > 0) {
                if (*n >= MAX_KEYS)
                    return -1;
                keys[(*n)++] = p;
            }
        }
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

static int load_stream(aod_store *st, aod_site_kind kind, FILE *in, const char *name, long *rows,
                       aod_error *err)
{
    const column *cols = kinds[kind].cols;
    size_t ncols = kinds[kind].n, i, n, n_keys = 0;
    int where[MAX_FIELDS]; /* file column -> kind column */
    int seen[16];
    const char *const *f;
    const long *lines;
    const char *values[AOD_STORE_SITE_MAX_VALUES + 1];
    const char *keys[MAX_KEYS];
    char keybuf[MAX_FIELD + 1];
    key_set ks;
    aod_csvin *r;
    long line, prior;
    int rc = -1, got, open = 0;

    memset(&ks, 0, sizeof ks);
    r = aod_csvin_new(in, name, err);
    if (!r)
        return -1;
    got = aod_csvin_next(r, &f, &n, &line, &lines, err);
    if (got <= 0) {
        if (got == 0)
            aod_error_set(err, AOD_ERR_INPUT, name, 1, NULL,
                          "the file is empty: the first line must name the columns");
        goto out;
    }
    /* the header: every column of the kind, once, and no other */
    memset(seen, 0, sizeof seen);
    for (i = 0; i < n; i++) {
        size_t k;
        for (k = 0; k < ncols && strcmp(f[i], cols[k].name) != 0; k++)
            ;
        if (k == ncols) {
            aod_error_set(err, AOD_ERR_INPUT, name, line, f[i],
                          "unknown column (the %s columns are described in "
                          "doc/privacy-office.md)",
                          aod_store_site_kind_name(kind));
            goto out;
        }
        if (seen[k]) {
            aod_error_set(err, AOD_ERR_INPUT, name, line, f[i], "the column is named twice");
            goto out;
        }
        seen[k] = 1;
        where[i] = (int)k;
    }
    for (i = 0; i < ncols; i++)
        if (!seen[i]) {
            aod_error_set(err, AOD_ERR_INPUT, name, line, cols[i].name,
                          "the header lacks this column");
            goto out;
        }
    if (aod_store_site_begin(st, kind, err) != 0)
        goto out;
    open = 1;
    while ((got = aod_csvin_next(r, &f, &n, &line, &lines, err)) == 1) {
        if (n == 1 && f[0][0] == '\0')
            continue; /* an empty line */
        if (n != ncols) {
            aod_error_set(err, AOD_ERR_INPUT, name, line, NULL,
                          "%zu fields where the header names %zu", n, ncols);
            goto out;
        }
        n_keys = 0;
        for (i = 0; i < n; i++) {
            const column *c = &cols[where[i]];
            const char *v = f[i];
            size_t vi = (size_t)where[i];

            if (c->kind & COL_KEYS) {
                snprintf(keybuf, sizeof keybuf, "%s", v);
                if (split_keys(keybuf, keys, &n_keys) != 0) {
                    aod_error_set(err, AOD_ERR_INPUT, name, lines[i], c->name,
                                  "more than %d patient keys", MAX_KEYS);
                    goto out;
                }
                continue;
            }
            if (has_space_only(v)) {
                if (c->kind & COL_REQUIRED) {
                    aod_error_set(err, AOD_ERR_INPUT, name, lines[i], c->name,
                                  "empty: every row needs one");
                    goto out;
                }
                values[vi] = (c->kind & COL_YESNO) ? "f" : NULL;
                continue;
            }
            if ((c->kind & COL_DATE) && !aod_sitecsv_is_date(v)) {
                aod_error_set(err, AOD_ERR_INPUT, name, lines[i], c->name,
                              "'%.40s' is not a date (YYYY-MM-DD)", v);
                goto out;
            }
            if (c->kind & COL_YESNO) {
                if (strcmp(v, "yes") == 0)
                    v = "t";
                else if (strcmp(v, "no") == 0)
                    v = "f";
                else {
                    aod_error_set(err, AOD_ERR_INPUT, name, lines[i], c->name,
                                  "'%.40s': write yes or no", v);
                    goto out;
                }
            }
            values[vi] = v;
        }
        /* a period that ends before it starts is a typing error */
        if (kind == AOD_SITE_ROSTER && values[5] && values[6] && strcmp(values[6], values[5]) < 0) {
            aod_error_set(err, AOD_ERR_INPUT, name, line, "end", "%s is before the start, %s",
                          values[6], values[5]);
            goto out;
        }
        if (kind == AOD_SITE_CARE && values[2] && values[3] && strcmp(values[3], values[2]) < 0) {
            aod_error_set(err, AOD_ERR_INPUT, name, line, "to", "%s is before from, %s", values[3],
                          values[2]);
            goto out;
        }
        if (kind == AOD_SITE_PATIENT_FACTS) {
            if (key_set_add(&ks, values[0], line, &prior) != 0) {
                aod_error_set(err, AOD_ERR_NOMEM, name, line, NULL, "out of memory");
                goto out;
            }
            if (prior) {
                aod_error_set(err, AOD_ERR_INPUT, name, line, "patient_key",
                              "the patient is listed already, on line %ld", prior);
                goto out;
            }
        }
        if (aod_store_site_row(st, values, kind == AOD_SITE_ROSTER ? ncols - 1 : ncols, keys,
                               n_keys, line, err) != 0)
            goto out;
    }
    if (got < 0)
        goto out;
    open = 0;
    if (aod_store_site_commit(st, name, rows, err) != 0)
        goto out;
    rc = 0;
out:
    if (open)
        aod_store_site_abort(st);
    key_set_free(&ks);
    aod_csvin_free(r);
    return rc;
}

int aod_sitecsv_load(aod_store *st, aod_site_kind kind, const char *path, long *rows,
                     aod_error *err)
{
    FILE *in;
    int rc;

    if (kind >= AOD_SITE_KIND_COUNT) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "unknown site input");
        return -1;
    }
    if (strcmp(path, "-") == 0)
        return load_stream(st, kind, stdin, "<stdin>", rows, err);
    in = fopen(path, "rb");
    if (!in) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "cannot open: %s", strerror(errno));
        return -1;
    }
    rc = load_stream(st, kind, in, path, rows, err);
    fclose(in);
    return rc;
}
