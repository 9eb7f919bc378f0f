/*
 * csv.c - the CSV renderer (see csv.h; the columns are in doc/csv.md).
 *
 * Render stage.  The only file that knows the CSV dialect.  Rows go out as
 * entries arrive; per-row scratch lives in buffers the sink reuses, so a
 * 100,000-line report costs no more memory than a 10-line one.
 */
#include "render/csv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/timefmt.h"

/* The columns, in their stable order.  privacy: only for the privacy-office
 * audience (they say how the tool decided, not what happened). */
enum {
    COL_WHEN,
    COL_WHEN_END,
    COL_WHO,
    COL_ROLE,
    COL_ORGANISATION,
    COL_RECIPIENT_ADDRESS,
    COL_ACTION,
    COL_ACTION_CODE,
    COL_DATA,
    COL_DATA_KINDS,
    COL_WHERE,
    COL_WHY,
    COL_PURPOSE_CODE,
    COL_OUTCOME,
    COL_COUNT,
    COL_FIRST_DATE,
    COL_LAST_DATE,
    COL_SECTION, /* person, organisation, system (doc/csv.md) */
    COL_REF,     /* the line's reference (entry.h), in both copies */
    COL_CLASS,   /* from here on: privacy office only */
    COL_EXCLUSION,
    COL_RULE,
    COL_FLAGS,
    COL_GROUP,
    COL_RECORD_IDS,
    COL_ACCESS_FLAGS, /* the access flags (pipeline/flags.h), ';' separated */
    COL_N
};

#define FIRST_PRIVACY_COL COL_CLASS

_Static_assert(COL_N <= AOD_CSV_MAX_COLUMNS, "AOD_CSV_MAX_COLUMNS holds every column");

static const char *const column_names[COL_N] = {
    "when",         "when_end",    "who",       "role",       "organisation", "recipient_address",
    "action",       "action_code", "data",      "data_kinds", "where",        "why",
    "purpose_code", "outcome",     "count",     "first_date", "last_date",    "section",
    "ref",          "class",       "exclusion", "rule",       "flags",        "group",
    "record_ids",   "access_flags"};

#define MAX_KINDS 32 /* distinct kinds of data put into words per row */

struct aod_csv_row {
    const aod_text *text;
    aod_buf data, kinds, flags, ids, why, aflags; /* per-row scratch, reused */
    char when[32], when_end[32], first[32], last[32], count[24], group[24], letter[2];
};

typedef struct csv_sink {
    aod_sink base; /* first: the sink functions get an aod_sink * */
    FILE *out;
    aod_csv_options opts;
    aod_entry_mask_fn mask_fn; /* NULL: unmasked entries are refused */
    void *mask_ctx;
    int begun;
    aod_audience audience; /* the privacy office gets more columns */
    aod_csv_row *row;
    const char *cell[AOD_CSV_MAX_COLUMNS];
} csv_sink;

/* ------------------------------------------------------------------ cells */

static int put(FILE *out, const char *s, size_t n)
{
    return n == 0 || fwrite(s, 1, n, out) == n ? 0 : -1;
}

int aod_csv_write_cell(FILE *out, const char *value, char delimiter, int last)
{
    const char *v = value ? value : "";
    const char *p;
    int quote;

    /* A spreadsheet evaluates a cell that starts like a formula (= + - @),
     * and some strip a leading TAB or CR first: the apostrophe makes it
     * text.  The apostrophe is data now; doc/csv.md says so. */
    int neutralise =
        v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r';

    if (!delimiter)
        delimiter = ',';
    quote = strchr(v, '"') || strchr(v, '\r') || strchr(v, '\n') || strchr(v, delimiter);
    if (quote && putc('"', out) == EOF)
        return -1;
    if (neutralise && putc('\'', out) == EOF)
        return -1;
    if (quote) {
        while ((p = strchr(v, '"')) != NULL) {
            if (put(out, v, (size_t)(p - v + 1)) != 0 || putc('"', out) == EOF)
                return -1;
            v = p + 1;
        }
    }
    if (put(out, v, strlen(v)) != 0)
        return -1;
    if (quote && putc('"', out) == EOF)
        return -1;
    if (last)
        return put(out, "\r\n", 2);
    return putc(delimiter, out) == EOF ? -1 : 0;
}

/* ------------------------------------------------------------ row values */

static int has(const char *s)
{
    return s && *s;
}

/* "Observation,DiagnosticReport" -> the kinds, space separated, into kinds
 * and their words, "; " separated and each once, into words.  A kind too
 * long to be a resource type is listed but not put into words. */
static int data_kinds(const aod_csv_row *s, const char *list, int patient, aod_buf *kinds,
                      aod_buf *words)
{
    const char *seen[MAX_KINDS];
    size_t n_seen = 0, i;
    const char *p = list;
    char kind[128];

    while (*p) {
        const char *end = strchr(p, ',');
        size_t len;
        const char *w;

        if (!end)
            end = p + strlen(p);
        while (p < end && *p == ' ')
            p++;
        len = (size_t)(end - p);
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len > 0 &&
            ((kinds->len && aod_buf_addc(kinds, ' ') != 0) || aod_buf_add(kinds, p, len) != 0))
            return -1;
        if (len > 0 && len < sizeof kind) {
            memcpy(kind, p, len);
            kind[len] = '\0';
            /* never a bare type to the patient (templates/README.md) */
            w = aod_text_shown(s->text, "resource", kind, NULL, patient);
            for (i = 0; i < n_seen && strcmp(seen[i], w) != 0; i++)
                ;
            if (i == n_seen && n_seen < MAX_KINDS) {
                seen[n_seen++] = w;
                if ((words->len && aod_buf_adds(words, "; ") != 0) || aod_buf_adds(words, w) != 0)
                    return -1;
            }
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

static int flags(aod_buf *b, unsigned f)
{
    size_t i;

    for (i = 0; i < AOD_ENTRY_FLAG_COUNT; i++) {
        if (!(f & (1u << i)))
            continue;
        if ((b->len && aod_buf_addc(b, ' ') != 0) ||
            aod_buf_adds(b, aod_entry_flag_name(1u << i)) != 0)
            return -1;
    }
    return 0;
}

/* The access flags' ids, ';' separated, in flag order. */
static int access_flags(aod_buf *b, unsigned f)
{
    unsigned i;

    for (i = 0; i < AOD_AFLAG_COUNT; i++)
        if ((f & (1u << i)) &&
            ((b->len && aod_buf_addc(b, ';') != 0) ||
             aod_buf_adds(b, aod_policy_access_flag_id((aod_access_flag)i)) != 0))
            return -1;
    return 0;
}

static int record_ids(aod_buf *b, const int64_t *ids, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (aod_buf_printf(b, i ? " %" PRId64 : "%" PRId64, ids[i]) != 0)
            return -1;
    return 0;
}

/* The words for what was done: the subtype's when the templates know it
 * ("shared outside our organisation" for disclose), else the action's. */
static const char *action_words(const aod_csv_row *s, const aod_entry *e, const char *letter)
{
    /* classify's reading of the whole event comes first (report.h) */
    if (has(e->activity))
        return aod_text_code(s->text, "activity", e->activity, NULL);
    if (has(e->subtype_code)) {
        const char *w = aod_text_code(s->text, "subtype", e->subtype_code, NULL);
        if (w != e->subtype_code) /* the code itself comes back when no words exist */
            return w;
    }
    return aod_text_code(s->text, "action", letter, NULL);
}

/* -------------------------------------------------------------- the sink */

static int write_error(aod_error *err)
{
    aod_error_set(err, AOD_ERR_IO, NULL, 0, NULL, "writing the CSV failed: %s",
                  strerror(errno ? errno : EIO));
    return -1;
}

static int csv_begin(aod_sink *base, const aod_report_info *info, aod_error *err)
{
    csv_sink *s = (csv_sink *)base;
    int n, i;

    if (s->begun) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "csv", "begin() called twice");
        return -1;
    }
    s->begun = 1;
    s->audience = info ? info->audience : AOD_AUDIENCE_PATIENT;
    n = (int)aod_csv_columns(s->audience);
    errno = 0;
    if (s->opts.bom && put(s->out, "\xEF\xBB\xBF", 3) != 0)
        return write_error(err);
    for (i = 0; i < n; i++)
        if (aod_csv_write_cell(s->out, column_names[i], s->opts.delimiter, i == n - 1) != 0)
            return write_error(err);
    return 0;
}

size_t aod_csv_columns(aod_audience audience)
{
    return audience == AOD_AUDIENCE_PRIVACY_OFFICE ? COL_N : FIRST_PRIVACY_COL;
}

const char *aod_csv_column_name(size_t i)
{
    return i < COL_N ? column_names[i] : NULL;
}

aod_csv_kind aod_csv_column_kind(size_t i)
{
    switch (i) {
    case COL_WHEN:
    case COL_WHEN_END:
    case COL_FIRST_DATE:
    case COL_LAST_DATE:
        return AOD_CSV_TIME;
    case COL_COUNT:
    case COL_GROUP:
        return AOD_CSV_NUMBER;
    default:
        return AOD_CSV_TEXT;
    }
}

int aod_csv_row_cells(aod_csv_row *r, const aod_entry *e, aod_audience audience, const char **cell,
                      aod_error *err)
{
    aod_buf_reset(&r->data);
    aod_buf_reset(&r->kinds);
    aod_buf_reset(&r->flags);
    aod_buf_reset(&r->ids);
    aod_buf_reset(&r->aflags);
    if (has(e->data_kinds) &&
        data_kinds(r, e->data_kinds, audience == AOD_AUDIENCE_PATIENT, &r->kinds, &r->data) != 0)
        goto nomem;
    r->letter[0] = e->action;
    r->letter[1] = '\0';

    cell[COL_WHEN] = aod_timefmt_datetime(e->when_start, r->when, sizeof r->when);
    cell[COL_WHEN_END] = e->when_end != e->when_start
                             ? aod_timefmt_datetime(e->when_end, r->when_end, sizeof r->when_end)
                             : NULL;
    cell[COL_WHO] = e->shown_name;
    cell[COL_ROLE] = e->shown_role;
    cell[COL_ORGANISATION] = e->shown_organisation;
    cell[COL_RECIPIENT_ADDRESS] = e->shown_address;
    cell[COL_ACTION] = action_words(r, e, r->letter);
    cell[COL_ACTION_CODE] = r->letter;
    cell[COL_DATA] = has(e->data) ? e->data : aod_buf_str(&r->data);
    cell[COL_DATA_KINDS] = aod_buf_str(&r->kinds);
    cell[COL_WHERE] = e->where;
    /* the recorded basis, else what showed a reason, else "no reason was
     * recorded" (never empty: an empty cell would read as "none needed") */
    cell[COL_WHY] =
        aod_text_reason(r->text, aod_reason_name(e->reason), e->purpose_code, e->purpose_display,
                        e->reason_evidence, audience == AOD_AUDIENCE_PATIENT, &r->why);
    if (!cell[COL_WHY][0])
        goto nomem;
    cell[COL_PURPOSE_CODE] = e->purpose_code;
    cell[COL_OUTCOME] =
        has(e->outcome) ? aod_text_code(r->text, "outcome", e->outcome, NULL) : NULL;
    snprintf(r->count, sizeof r->count, "%ld", e->count);
    cell[COL_COUNT] = r->count;
    cell[COL_FIRST_DATE] = aod_timefmt_datetime(e->first, r->first, sizeof r->first);
    cell[COL_LAST_DATE] = aod_timefmt_datetime(e->last, r->last, sizeof r->last);
    cell[COL_SECTION] = aod_section_name(aod_entry_section(e));
    cell[COL_REF] = e->ref;
    if (audience == AOD_AUDIENCE_PRIVACY_OFFICE) {
        if (flags(&r->flags, e->flags) != 0 ||
            record_ids(&r->ids, e->record_ids, e->n_record_ids) != 0 ||
            access_flags(&r->aflags, e->access_flags) != 0)
            goto nomem;
        cell[COL_CLASS] = aod_class_name(e->cls);
        cell[COL_EXCLUSION] = aod_policy_exclusion_key(e->exclusion);
        cell[COL_RULE] = e->rule_id;
        cell[COL_FLAGS] = aod_buf_str(&r->flags);
        if (e->group > 0)
            snprintf(r->group, sizeof r->group, "%ld", e->group);
        else
            r->group[0] = '\0';
        cell[COL_GROUP] = r->group;
        cell[COL_RECORD_IDS] = aod_buf_str(&r->ids);
        cell[COL_ACCESS_FLAGS] = aod_buf_str(&r->aflags);
    }
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "csv", "out of memory");
    return -1;
}

aod_csv_row *aod_csv_row_new(const aod_text *text, aod_error *err)
{
    aod_csv_row *r = calloc(1, sizeof *r);

    if (!r) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "csv", "out of memory");
        return NULL;
    }
    r->text = text;
    aod_buf_init(&r->data, 1024 * 1024);
    aod_buf_init(&r->kinds, 1024 * 1024);
    aod_buf_init(&r->flags, 4096);
    aod_buf_init(&r->ids, 64 * 1024 * 1024);
    aod_buf_init(&r->aflags, 4096);
    aod_buf_init(&r->why, 1024 * 1024);
    return r;
}

void aod_csv_row_free(aod_csv_row *r)
{
    if (!r)
        return;
    aod_buf_free(&r->data);
    aod_buf_free(&r->kinds);
    aod_buf_free(&r->flags);
    aod_buf_free(&r->ids);
    aod_buf_free(&r->aflags);
    aod_buf_free(&r->why);
    free(r);
}

static int csv_entry(aod_sink *base, const aod_entry *in, aod_error *err)
{
    csv_sink *s = (csv_sink *)base;
    aod_entry copy;
    const aod_entry *e = in;
    size_t n, i;

    if (!s->begun) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "csv", "entry() before begin()");
        return -1;
    }
    if (!e->shown_name) {
        if (!s->mask_fn) {
            aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "csv",
                          "an unmasked entry reached the CSV renderer");
            return -1;
        }
        copy = *in;
        if (s->mask_fn(s->mask_ctx, &copy, err) != 0)
            return -1;
        e = &copy;
    }
    if (aod_csv_row_cells(s->row, e, s->audience, s->cell, err) != 0)
        return -1;
    n = aod_csv_columns(s->audience);
    errno = 0;
    for (i = 0; i < n; i++)
        if (aod_csv_write_cell(s->out, s->cell[i], s->opts.delimiter, i == n - 1) != 0)
            return write_error(err);
    return 0;
}

static int csv_end(aod_sink *base, const aod_report_summary *sum, aod_error *err)
{
    csv_sink *s = (csv_sink *)base;

    (void)sum; /* the CSV has no trailer: the counts are in the other outputs */
    if (!s->begun) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "csv", "end() before begin()");
        return -1;
    }
    errno = 0;
    if (fflush(s->out) != 0 || ferror(s->out))
        return write_error(err);
    return 0;
}

static void csv_free(aod_sink *base)
{
    csv_sink *s = (csv_sink *)base;

    if (!s)
        return;
    aod_csv_row_free(s->row);
    free(s);
}

aod_sink *aod_csv_sink_new(FILE *out, const aod_csv_options *opts, const aod_text *text,
                           aod_entry_mask_fn mask_or_NULL, void *mask_ctx, aod_error *err)
{
    csv_sink *s;
    char delimiter = opts && opts->delimiter ? opts->delimiter : ',';

    if (!out || !text) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "csv", "no output or no templates");
        return NULL;
    }
    if (delimiter != ',' && delimiter != ';' && delimiter != '\t') {
        aod_error_set(err, AOD_ERR_USAGE, NULL, 0, "delimiter",
                      "the CSV delimiter must be ',', ';' or a tab");
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return NULL;
    }
    s->base.begin = csv_begin;
    s->base.entry = csv_entry;
    s->base.end = csv_end;
    s->base.free = csv_free;
    s->out = out;
    s->opts.bom = opts ? opts->bom : 0;
    s->opts.delimiter = delimiter;
    s->mask_fn = mask_or_NULL;
    s->mask_ctx = mask_ctx;
    s->row = aod_csv_row_new(text, err);
    if (!s->row) {
        free(s);
        return NULL;
    }
    return &s->base;
}

/* ------------------------------------------------------------ the summary */

enum {
    OV_SECTION,
    OV_WHO,
    OV_ROLE,
    OV_ORGANISATION,
    OV_ACTION,
    OV_ACTION_CODE,
    OV_FIRST_DATE,
    OV_LAST_DATE,
    OV_COUNT,
    OV_RECORDS,
    OV_PEOPLE,
    OV_DATA,
    OV_DATA_KINDS,
    OV_WHY,
    OV_PURPOSE_CODES,
    OV_NO_REASON,
    OV_N
};

static const char *const overview_names[OV_N] = {
    "section",    "who",       "role",          "organisation",   "action", "action_code",
    "first_date", "last_date", "count",         "records",        "people", "data",
    "data_kinds", "why",       "purpose_codes", "no_reason_count"};

size_t aod_csv_overview_columns(void)
{
    return OV_N;
}

const char *aod_csv_overview_column_name(size_t i)
{
    return i < OV_N ? overview_names[i] : NULL;
}

aod_csv_kind aod_csv_overview_column_kind(size_t i)
{
    switch (i) {
    case OV_FIRST_DATE:
    case OV_LAST_DATE:
        return AOD_CSV_TIME;
    case OV_COUNT:
    case OV_RECORDS:
    case OV_PEOPLE:
    case OV_NO_REASON:
        return AOD_CSV_NUMBER;
    default:
        return AOD_CSV_TEXT;
    }
}

int aod_csv_overview_cells(aod_csv_row *r, const aod_overview_line *l, aod_audience audience,
                           const char **cell, aod_error *err)
{
    size_t i;

    aod_buf_reset(&r->data);
    aod_buf_reset(&r->kinds);
    aod_buf_reset(&r->flags);
    aod_buf_reset(&r->ids);
    /* kinds: r->kinds (codes) and r->data (words); reasons: r->flags
     * (words) and r->ids (codes) */
    for (i = 0; i < l->n_kinds; i++)
        if (data_kinds(r, l->kinds[i], audience == AOD_AUDIENCE_PATIENT, &r->kinds, &r->data) != 0)
            goto nomem;
    for (i = 0; i < l->n_reasons; i++) {
        if (has(l->reason_code[i]) && ((r->ids.len && aod_buf_addc(&r->ids, ' ') != 0) ||
                                       aod_buf_adds(&r->ids, l->reason_code[i]) != 0))
            goto nomem;
        if ((r->flags.len && aod_buf_adds(&r->flags, "; ") != 0) ||
            aod_buf_adds(&r->flags,
                         aod_text_shown(r->text, "purpose", l->reason_code[i], l->reason_display[i],
                                        audience == AOD_AUDIENCE_PATIENT)) != 0)
            goto nomem;
    }
    r->letter[0] = l->action;
    r->letter[1] = '\0';
    cell[OV_SECTION] = aod_section_name(l->section);
    cell[OV_WHO] = l->name;
    cell[OV_ROLE] = l->role;
    cell[OV_ORGANISATION] = l->organisation;
    cell[OV_ACTION] = NULL;
    if (l->section == AOD_SECTION_SYSTEM) {
        aod_entry e;
        memset(&e, 0, sizeof e);
        e.action = l->action;
        e.activity = l->activity;
        cell[OV_ACTION] = action_words(r, &e, r->letter);
    }
    cell[OV_ACTION_CODE] = r->letter;
    cell[OV_FIRST_DATE] = aod_timefmt_datetime(l->first, r->first, sizeof r->first);
    cell[OV_LAST_DATE] = aod_timefmt_datetime(l->last, r->last, sizeof r->last);
    snprintf(r->count, sizeof r->count, "%ld", l->count);
    cell[OV_COUNT] = r->count;
    snprintf(r->group, sizeof r->group, "%ld", l->records);
    cell[OV_RECORDS] = r->group;
    snprintf(r->when, sizeof r->when, "%ld", l->people);
    cell[OV_PEOPLE] = r->when;
    cell[OV_DATA] = aod_buf_str(&r->data);
    cell[OV_DATA_KINDS] = aod_buf_str(&r->kinds);
    cell[OV_WHY] = aod_buf_str(&r->flags);
    cell[OV_PURPOSE_CODES] = aod_buf_str(&r->ids);
    snprintf(r->when_end, sizeof r->when_end, "%ld", l->no_reason);
    cell[OV_NO_REASON] = r->when_end;
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "csv", "out of memory");
    return -1;
}

/* The summary CSV: a header at begin(), the summary's lines at end(). */
static int summary_begin(aod_sink *base, const aod_report_info *info, aod_error *err)
{
    csv_sink *s = (csv_sink *)base;
    size_t i;

    s->audience = info ? info->audience : AOD_AUDIENCE_PATIENT;
    s->begun = 1;
    errno = 0;
    if (s->opts.bom && put(s->out, "\xEF\xBB\xBF", 3) != 0)
        return write_error(err);
    for (i = 0; i < OV_N; i++)
        if (aod_csv_write_cell(s->out, overview_names[i], s->opts.delimiter, i == OV_N - 1) != 0)
            return write_error(err);
    return 0;
}

static int summary_entry(aod_sink *base, const aod_entry *e, aod_error *err)
{
    (void)base;
    (void)e;
    (void)err;
    return 0; /* the lines come summarised, at end() */
}

static int summary_end(aod_sink *base, const aod_report_summary *sum, aod_error *err)
{
    csv_sink *s = (csv_sink *)base;
    size_t i, c;

    if (!s->begun) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "csv", "end() before begin()");
        return -1;
    }
    for (i = 0; sum && sum->overview && i < sum->overview->n_lines; i++) {
        if (aod_csv_overview_cells(s->row, &sum->overview->lines[i], s->audience, s->cell, err) !=
            0)
            return -1;
        errno = 0;
        for (c = 0; c < OV_N; c++)
            if (aod_csv_write_cell(s->out, s->cell[c], s->opts.delimiter, c == OV_N - 1) != 0)
                return write_error(err);
    }
    errno = 0;
    if (fflush(s->out) != 0 || ferror(s->out))
        return write_error(err);
    return 0;
}

aod_sink *aod_csv_summary_sink_new(FILE *out, const aod_csv_options *opts, const aod_text *text,
                                   aod_error *err)
{
    aod_sink *s = aod_csv_sink_new(out, opts, text, NULL, NULL, err);

    if (!s)
        return NULL;
    s->begin = summary_begin;
    s->entry = summary_entry;
    s->end = summary_end;
    return s;
}

/* ------------------------------------------------------- completeness */

static const char *const completeness_columns[AOD_CSV_COMPLETENESS_COLUMNS] = {
    "kind", "source", "name", "from", "to", "count", "text"};

const char *aod_csv_completeness_column(size_t i)
{
    return i < AOD_CSV_COMPLETENESS_COLUMNS ? completeness_columns[i] : NULL;
}

typedef struct crow {
    const aod_text *text;
    aod_csv_completeness_fn fn;
    void *ctx;
    aod_error *err;
    aod_buf say;
    aod_buf name; /* a source's name in words */
    int nomem;
} crow;

/* A source's name in words (model/text.h): its display, else words made
 * from its key (the `source` column keeps the key itself). */
static const char *cname(crow *c, const char *obs, const char *display)
{
    aod_error ignored;
    const char *t;

    aod_error_init(&ignored);
    t = aod_text_source(c->text, obs, display, &c->name, &ignored);
    if (!t)
        c->nomem = 1;
    return t ? t : "";
}

/* The day of a UTC day start (store days), "YYYY-MM-DD", into out. */
static const char *utc_day(int64_t ms, char *out, size_t size)
{
    char iso[40];

    aod_time_format_utc(ms, iso, sizeof iso);
    snprintf(out, size, "%.10s", iso);
    return out;
}

/* The words of key with vars, in c->say; "" when out of memory. */
static const char *csay(crow *c, const char *key, const char *const *vars)
{
    static const char *const none[] = {NULL};
    const char *t = aod_text_get(c->text, key);
    aod_error ignored;

    aod_buf_reset(&c->say);
    aod_error_init(&ignored);
    if (!t)
        return key;
    if (aod_text_expand(&c->say, t, vars ? vars : none, &ignored) != 0) {
        c->nomem = 1;
        return "";
    }
    return aod_buf_str(&c->say);
}

static int crow_put(crow *c, const char *kind, const char *source, const char *name,
                    const char *from, const char *to, long count, int has_count, const char *text)
{
    const char *cells[AOD_CSV_COMPLETENESS_COLUMNS];
    char n[24];

    if (c->nomem) {
        aod_error_set(c->err, AOD_ERR_NOMEM, NULL, 0, "csv", "out of memory");
        return -1;
    }
    snprintf(n, sizeof n, "%ld", count);
    cells[0] = kind;
    cells[1] = source;
    cells[2] = name;
    cells[3] = from;
    cells[4] = to;
    cells[5] = has_count ? n : NULL;
    cells[6] = text;
    return c->fn(c->ctx, cells, c->err);
}

static const aod_source *csource(const aod_completeness *k, const char *obs)
{
    size_t i;

    for (i = 0; k && obs && i < k->n_sources; i++) {
        const char *o = k->sources[i].observer ? k->sources[i].observer : "";
        if (strcmp(o, obs) == 0 || (o[0] == '|' && strcmp(o + 1, obs) == 0))
            return &k->sources[i];
    }
    return NULL;
}

int aod_csv_completeness_rows(const aod_text *text, const aod_report_info *info,
                              const aod_report_summary *sum, long lines, aod_csv_completeness_fn fn,
                              void *ctx, aod_error *err)
{
    static const aod_report_summary zero;
    const aod_completeness *k = info->completeness;
    crow c;
    char d0[24], d1[24], num[24];
    const char *vars[5];
    size_t i, j;
    int rc = -1;

    memset(&c, 0, sizeof c);
    c.text = text;
    c.fn = fn;
    c.ctx = ctx;
    c.err = err;
    aod_buf_init(&c.say, 1024 * 1024);
    aod_buf_init(&c.name, 64 * 1024);
    if (!sum)
        sum = &zero;
    aod_timefmt_date(info->from, d0, sizeof d0);
    aod_timefmt_date(info->to > info->from ? info->to - 1 : info->to, d1, sizeof d1);
    if (crow_put(&c, "period", NULL, NULL, d0, d1, 0, 0, NULL) != 0 ||
        crow_put(&c, "records", NULL, NULL, NULL, NULL, sum->records_read, 1, NULL) != 0 ||
        crow_put(&c, "events", NULL, NULL, NULL, NULL, sum->events, 1, NULL) != 0 ||
        crow_put(&c, "lines", NULL, NULL, NULL, NULL, lines, 1, NULL) != 0)
        goto out;
    snprintf(num, sizeof num, "%ld", sum->records_unreadable);
    vars[0] = "n";
    vars[1] = num;
    vars[2] = NULL;
    if (crow_put(&c, "unreadable", NULL, NULL, NULL, NULL, sum->records_unreadable, 1,
                 sum->records_unreadable
                     ? csay(&c,
                            sum->records_unreadable == 1 ? "letter.complete.unreadable.one"
                                                         : "letter.complete.unreadable.other",
                            vars)
                     : aod_text_get(text, "letter.complete.all-read")) != 0)
        goto out;
    for (i = 0; i < info->n_search_outcomes; i++)
        if (crow_put(&c, "search-outcome", NULL, NULL, NULL, NULL, 0, 0,
                     info->search_outcomes[i]) != 0)
            goto out;
    if (k) {
        if (k->horizon) {
            utc_day(k->horizon, d0, sizeof d0);
            vars[0] = "date";
            vars[1] = d0;
            vars[2] = NULL;
            if (crow_put(&c, "horizon", NULL, NULL, d0, NULL, 0, 0,
                         csay(&c, "letter.complete.horizon", vars)) != 0)
                goto out;
        } else if (crow_put(&c, "horizon", NULL, NULL, NULL, NULL, 0, 0,
                            aod_text_get(text, "letter.complete.horizon-none")) != 0) {
            goto out;
        }
        /* the sources behind the lines, then the store's others */
        for (i = 0; i < sum->n_observers; i++) {
            const aod_source *s = csource(k, sum->observers[i]);
            if (crow_put(&c, "source", sum->observers[i],
                         cname(&c, sum->observers[i], s ? s->display : NULL),
                         s ? utc_day(s->first_day, d0, sizeof d0) : NULL,
                         s ? utc_day(s->last_day, d1, sizeof d1) : NULL, s ? s->days : 0, s != NULL,
                         NULL) != 0)
                goto out;
        }
        for (j = 0; j < k->n_sources; j++) {
            const aod_source *s = &k->sources[j];
            int behind = 0;
            for (i = 0; i < sum->n_observers && !behind; i++)
                behind = csource(k, sum->observers[i]) == s;
            if (!behind &&
                crow_put(&c, "other-source", s->observer, cname(&c, s->observer, s->display),
                         utc_day(s->first_day, d0, sizeof d0), utc_day(s->last_day, d1, sizeof d1),
                         s->days, 1, NULL) != 0)
                goto out;
        }
        for (i = 0; i < k->n_gaps; i++) {
            const aod_gap *g = &k->gaps[i];
            if (crow_put(&c, "gap", g->observer, cname(&c, g->observer, g->display),
                         utc_day(g->from_day, d0, sizeof d0), utc_day(g->to_day, d1, sizeof d1),
                         (long)((g->to_day - g->from_day) / 86400000 + 1), 1, NULL) != 0)
                goto out;
        }
        if (k->more_gaps > 0 &&
            crow_put(&c, "gap", NULL, NULL, NULL, NULL, k->more_gaps, 1, NULL) != 0)
            goto out;
    }
    if (info->audience == AOD_AUDIENCE_PRIVACY_OFFICE) {
        /* the share of accesses whose reason the store shows: reasoned of
         * accesses */
        if (crow_put(&c, "accesses", NULL, NULL, NULL, NULL, sum->reason_base, 1, NULL) != 0 ||
            crow_put(&c, "reasoned", NULL, NULL, NULL, NULL, sum->reasoned, 1, NULL) != 0)
            goto out;
    }
    rc = 0;
out:
    aod_buf_free(&c.say);
    aod_buf_free(&c.name);
    return rc;
}

typedef struct completeness_sink {
    aod_sink base;
    FILE *out;
    aod_csv_options opts;
    const aod_text *text;
    aod_report_info info;
    long lines;
    int begun;
} completeness_sink;

static int cs_begin(aod_sink *base, const aod_report_info *info, aod_error *err)
{
    completeness_sink *s = (completeness_sink *)base;

    if (s->begun || !info) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "csv", "begin() called twice");
        return -1;
    }
    s->begun = 1;
    s->info = *info;
    return 0;
}

static int cs_entry(aod_sink *base, const aod_entry *e, aod_error *err)
{
    (void)e;
    (void)err;
    ((completeness_sink *)base)->lines++;
    return 0;
}

static int cs_row(void *ctx, const char *const *cells, aod_error *err)
{
    completeness_sink *s = ctx;
    size_t i;

    errno = 0;
    for (i = 0; i < AOD_CSV_COMPLETENESS_COLUMNS; i++)
        if (aod_csv_write_cell(s->out, cells[i], s->opts.delimiter,
                               i == AOD_CSV_COMPLETENESS_COLUMNS - 1) != 0)
            return write_error(err);
    return 0;
}

static int cs_end(aod_sink *base, const aod_report_summary *sum, aod_error *err)
{
    completeness_sink *s = (completeness_sink *)base;

    if (!s->begun) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "csv", "end() before begin()");
        return -1;
    }
    errno = 0;
    if (s->opts.bom && put(s->out, "\xEF\xBB\xBF", 3) != 0)
        return write_error(err);
    if (cs_row(s, completeness_columns, err) != 0 ||
        aod_csv_completeness_rows(s->text, &s->info, sum, s->lines, cs_row, s, err) != 0)
        return -1;
    if (fflush(s->out) != 0 || ferror(s->out))
        return write_error(err);
    return 0;
}

static void cs_free(aod_sink *base)
{
    free(base);
}

aod_sink *aod_csv_completeness_sink_new(FILE *out, const aod_csv_options *opts,
                                        const aod_text *text, aod_error *err)
{
    completeness_sink *s;
    char delimiter = opts && opts->delimiter ? opts->delimiter : ',';

    if (!out || !text) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "csv", "no output or no templates");
        return NULL;
    }
    if (delimiter != ',' && delimiter != ';' && delimiter != '\t') {
        aod_error_set(err, AOD_ERR_USAGE, NULL, 0, "delimiter",
                      "the CSV delimiter must be ',', ';' or a tab");
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return NULL;
    }
    s->base.begin = cs_begin;
    s->base.entry = cs_entry;
    s->base.end = cs_end;
    s->base.free = cs_free;
    s->out = out;
    s->opts.bom = opts ? opts->bom : 0;
    s->opts.delimiter = delimiter;
    s->text = text;
    return &s->base;
}
