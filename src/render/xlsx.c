/*
 * xlsx.c - the spreadsheet renderer (see xlsx.h).
 *
 * Render stage.  The only file that knows libxlsxwriter.  The cells come
 * from render/csv.h (aod_csv_row_cells), so the workbook and the CSV can
 * never disagree about a value; this file only types them.  libxlsxwriter
 * reports errors as return codes; the first one is remembered and turned
 * into the caller's error by check().
 */
#include "render/xlsx.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xlsxwriter.h>

#include "base/buf.h"
#include "base/timefmt.h"
#include "base/utf8.h"
#include "render/csv.h"
#include "render/words.h"

#ifndef PACKAGE_STRING
#define PACKAGE_STRING "aodreport"
#endif

#define CELL_MAX    32767             /* bytes libxlsxwriter takes in one string cell */
#define ROWS_MAX    (LXW_ROW_MAX - 1) /* lines: one row is the header */
#define REPLACEMENT "\xEF\xBF\xBD"    /* U+FFFD */

typedef struct xlsx_sink {
    aod_sink base; /* first: the sink functions get an aod_sink * */
    FILE *out;
    const aod_text *text;
    aod_report_info info; /* copied; its pointers are borrowed */
    int begun, ended, failed;
    size_t ncol;

    char path[4096]; /* the temporary workbook; "" when none */
    char tmpdir[4096];
    lxw_workbook *wb;
    lxw_worksheet *lines, *summary, *overview;
    lxw_format *bold, *when, *day;
    lxw_error lxw; /* the first libxlsxwriter error */
    int nomem;

    aod_csv_row *row;
    const char *cell[AOD_CSV_MAX_COLUMNS];
    aod_words *words; /* the title, patient and identifiers as the letter says them */
    long rows;
    aod_buf clean; /* a cell made fit for the workbook */
    aod_buf say;   /* a label from a template */
} xlsx_sink;

/* ------------------------------------------------------------- failures */

static void note(xlsx_sink *s, lxw_error e)
{
    if (e != LXW_NO_ERROR && s->lxw == LXW_NO_ERROR)
        s->lxw = e;
}

/* Turns a remembered failure into err; returns -1 when there was one. */
static int check(xlsx_sink *s, const char *doing, aod_error *err)
{
    if (s->nomem || s->lxw == LXW_ERROR_MEMORY_MALLOC_FAILED) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "xlsx", "out of memory while %s", doing);
        s->failed = 1;
        return -1;
    }
    if (s->lxw != LXW_NO_ERROR) {
        aod_errcode code =
            s->lxw == LXW_ERROR_CREATING_XLSX_FILE || s->lxw == LXW_ERROR_CREATING_TMPFILE ||
                    s->lxw == LXW_ERROR_ZIP_FILE_OPERATION || s->lxw == LXW_ERROR_ZIP_FILE_ADD
                ? AOD_ERR_IO
                : AOD_ERR_INTERNAL;
        aod_error_set(err, code, NULL, 0, "xlsx", "libxlsxwriter: %s while %s",
                      lxw_strerror(s->lxw), doing);
        s->failed = 1;
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- cells */

/* str made fit for a cell (see xlsx.h), borrowed from str or s->clean. */
static const char *fit(xlsx_sink *s, const char *str)
{
    const unsigned char *p = (const unsigned char *)str;
    int dirty = 0;

    while (*p && !dirty) {
        uint32_t cp = 0;
        size_t n = aod_utf8_decode(p, 4, &cp);
        dirty = n == 0 || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0xFFFE ||
                cp == 0xFFFF;
        p += n ? n : 1;
    }
    if (!dirty && (size_t)((const char *)p - str) <= CELL_MAX)
        return str;
    aod_buf_reset(&s->clean);
    for (p = (const unsigned char *)str; *p;) {
        uint32_t cp = 0;
        size_t n = aod_utf8_decode(p, 4, &cp);
        int bad = n == 0 || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0xFFFE ||
                  cp == 0xFFFF;
        size_t add = bad ? 3 : n;
        if (s->clean.len + add > CELL_MAX - 3) {
            if (aod_buf_adds(&s->clean, "...") != 0)
                goto nomem;
            break;
        }
        if ((bad ? aod_buf_adds(&s->clean, REPLACEMENT) : aod_buf_add(&s->clean, p, n)) != 0)
            goto nomem;
        p += n ? n : 1;
    }
    return aod_buf_str(&s->clean);
nomem:
    s->nomem = 1;
    return "";
}

static void put_text(xlsx_sink *s, lxw_worksheet *ws, lxw_row_t r, lxw_col_t c, const char *v,
                     lxw_format *f)
{
    if (!v || !*v)
        return; /* an empty cell, as the CSV's */
    /* A string cell: never a formula, whatever the text starts with. */
    note(s, worksheet_write_string(ws, r, c, fit(s, v), f));
}

/* "2025-01-02T05:00:00-05:00" (the report's zone) as a date-time cell of
 * that local time; a value that is no such time, or outside the years a
 * spreadsheet counts (1900-9999), stays text. */
static void put_time(xlsx_sink *s, lxw_worksheet *ws, lxw_row_t r, lxw_col_t c, const char *v)
{
    lxw_datetime dt;
    int y, mo, d, h, mi, se;

    if (!v || !*v)
        return;
    if (sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) != 6 || y < 1900 ||
        y > 9999) {
        put_text(s, ws, r, c, v, NULL);
        return;
    }
    dt.year = y;
    dt.month = mo;
    dt.day = d;
    dt.hour = h;
    dt.min = mi;
    dt.sec = se;
    note(s, worksheet_write_datetime(ws, r, c, &dt, s->when));
}

static void put_number(xlsx_sink *s, lxw_worksheet *ws, lxw_row_t r, lxw_col_t c, const char *v)
{
    char *end;
    long long n;

    if (!v || !*v)
        return;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno || *end) {
        put_text(s, ws, r, c, v, NULL);
        return;
    }
    note(s, worksheet_write_number(ws, r, c, (double)n, NULL));
}

/* ---------------------------------------------------------------- words */

static const char *T(const xlsx_sink *s, const char *key)
{
    const char *v = aod_text_get(s->text, key);

    return v ? v : key;
}

/* key's words with {name} = value, into s->say. */
static const char *say1(xlsx_sink *s, const char *key, const char *name, const char *value)
{
    const char *vars[3];
    aod_error ignored;

    vars[0] = name;
    vars[1] = value;
    vars[2] = NULL;
    aod_error_init(&ignored);
    aod_buf_reset(&s->say);
    if (aod_text_expand(&s->say, T(s, key), vars, &ignored) != 0) {
        s->nomem = 1;
        return "";
    }
    return aod_buf_str(&s->say);
}

/* A sheet name from the templates, or fallback when the words cannot name
 * a sheet (too long, or a character a sheet name cannot hold). */
static const char *sheet_name(xlsx_sink *s, const char *key, const char *fallback)
{
    const char *name = T(s, key);

    return workbook_validate_sheet_name(s->wb, name) == LXW_NO_ERROR ? name : fallback;
}

/* ---------------------------------------------------------------- sheets */

static const double col_width[AOD_CSV_MAX_COLUMNS] = {20, 20, 28, 18, 24, 24, 22, 6,  28,
                                                      18, 16, 18, 10, 12, 7,  20, 20, 12,
                                                      13, 12, 10, 18, 18, 7,  14, 24};

static int xlsx_begin(aod_sink *base, const aod_report_info *info, aod_error *err)
{
    xlsx_sink *s = (xlsx_sink *)base;
    lxw_workbook_options opts;
    const char *dir = getenv("TMPDIR");
    size_t i;
    int fd;

    if (s->begun || s->failed) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "xlsx", "begin() called twice");
        return -1;
    }
    s->begun = 1;
    if (!info || !info->policy) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "xlsx", "no report info or no policy");
        s->failed = 1;
        return -1;
    }
    s->info = *info;
    s->ncol = aod_csv_columns(info->audience);
    s->words = aod_words_new(s->text, &s->info, AOD_WORDS_PAGED, err);
    if (!s->words) {
        s->failed = 1;
        return -1;
    }

    /* The workbook's own file: private, and removed whatever happens. */
    if (!dir || !*dir)
        dir = P_tmpdir; /* stdio.h: the system's temporary directory */
    if ((size_t)snprintf(s->path, sizeof s->path, "%s/aodreport-xlsx-XXXXXX", dir) >=
        sizeof s->path) {
        aod_error_set(err, AOD_ERR_IO, dir, 0, "xlsx", "TMPDIR is too long");
        s->path[0] = '\0';
        s->failed = 1;
        return -1;
    }
    fd = mkstemp(s->path);
    if (fd < 0) {
        aod_error_set(err, AOD_ERR_IO, dir, 0, "xlsx", "cannot create a temporary file: %s",
                      strerror(errno));
        s->path[0] = '\0';
        s->failed = 1;
        return -1;
    }
    close(fd);
    memset(&opts, 0, sizeof opts);
    opts.constant_memory = LXW_TRUE;                  /* rows go to disk as they are written */
    snprintf(s->tmpdir, sizeof s->tmpdir, "%s", dir); /* fits: path did */
    opts.tmpdir = s->tmpdir;
    s->wb = workbook_new_opt(s->path, &opts);
    if (!s->wb) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "xlsx", "libxlsxwriter could not start");
        s->failed = 1;
        return -1;
    }
    s->lines = workbook_add_worksheet(s->wb, sheet_name(s, "xlsx.sheet.lines", "Lines"));
    s->summary = workbook_add_worksheet(s->wb, sheet_name(s, "xlsx.sheet.summary", "Summary"));
    s->overview = workbook_add_worksheet(s->wb, sheet_name(s, "xlsx.sheet.overview", "Who"));
    s->bold = workbook_add_format(s->wb);
    s->when = workbook_add_format(s->wb);
    s->day = workbook_add_format(s->wb);
    if (!s->lines || !s->summary || !s->overview || !s->bold || !s->when || !s->day) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "xlsx", "libxlsxwriter could not start");
        s->failed = 1;
        return -1;
    }
    format_set_bold(s->bold);
    format_set_num_format(s->when, "yyyy-mm-dd hh:mm:ss");
    format_set_num_format(s->day, "yyyy-mm-dd");

    /* The header row: the CSV's column names, frozen. */
    for (i = 0; i < s->ncol; i++) {
        note(s, worksheet_set_column(s->lines, (lxw_col_t)i, (lxw_col_t)i, col_width[i], NULL));
        put_text(s, s->lines, 0, (lxw_col_t)i, aod_csv_column_name(i), s->bold);
    }
    worksheet_freeze_panes(s->lines, 1, 0);
    note(s, worksheet_set_column(s->summary, 0, 0, 44, NULL));
    note(s, worksheet_set_column(s->summary, 1, 1, 48, NULL));
    return check(s, "starting the workbook", err);
}

static int xlsx_entry(aod_sink *base, const aod_entry *e, aod_error *err)
{
    xlsx_sink *s = (xlsx_sink *)base;
    lxw_row_t r;
    size_t i;

    if (!s->begun || s->ended || s->failed) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "xlsx", "entry() %s",
                      !s->begun  ? "before begin()"
                      : s->ended ? "after end()"
                                 : "after a failure");
        return -1;
    }
    if (!e || !e->shown_name) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "xlsx",
                      "an unmasked entry reached the spreadsheet renderer");
        s->failed = 1;
        return -1;
    }
    if (s->rows >= ROWS_MAX) {
        aod_error_set(err, AOD_ERR_USAGE, NULL, 0, "xlsx",
                      "the report has more than %ld lines, more than a sheet holds; "
                      "use --format csv",
                      (long)ROWS_MAX);
        s->failed = 1;
        return -1;
    }
    if (aod_csv_row_cells(s->row, e, s->info.audience, s->cell, err) != 0) {
        s->failed = 1;
        return -1;
    }
    r = (lxw_row_t)++s->rows;
    for (i = 0; i < s->ncol; i++) {
        switch (aod_csv_column_kind(i)) {
        case AOD_CSV_TIME:
            put_time(s, s->lines, r, (lxw_col_t)i, s->cell[i]);
            break;
        case AOD_CSV_NUMBER:
            put_number(s, s->lines, r, (lxw_col_t)i, s->cell[i]);
            break;
        default:
            put_text(s, s->lines, r, (lxw_col_t)i, s->cell[i], NULL);
            break;
        }
    }
    return check(s, "writing a line", err);
}

/* One row of the summary: a label and a value of one kind. */
enum { V_TEXT, V_NUMBER, V_TIME, V_DAY };

static void fact(xlsx_sink *s, lxw_row_t *r, const char *label, int kind, const char *text, long n,
                 int64_t ms)
{
    char iso[40];

    put_text(s, s->summary, *r, 0, label, NULL);
    switch (kind) {
    case V_NUMBER:
        note(s, worksheet_write_number(s->summary, *r, 1, (double)n, NULL));
        break;
    case V_TIME:
        put_time(s, s->summary, *r, 1, aod_timefmt_datetime(ms, iso, sizeof iso));
        break;
    case V_DAY: {
        lxw_datetime dt;
        aod_timefmt_date(ms, iso, sizeof iso);
        memset(&dt, 0, sizeof dt);
        if (sscanf(iso, "%4d-%2d-%2d", &dt.year, &dt.month, &dt.day) == 3 && dt.year >= 1900 &&
            dt.year <= 9999)
            note(s, worksheet_write_datetime(s->summary, *r, 1, &dt, s->day));
        else
            put_text(s, s->summary, *r, 1, iso, NULL);
        break;
    }
    default:
        put_text(s, s->summary, *r, 1, text, NULL);
        break;
    }
    (*r)++;
}

/* The completeness rows (csv.h), below the facts of the summary sheet. */
typedef struct crows {
    xlsx_sink *s;
    lxw_row_t r;
} crows;

static int completeness_row(void *ctx, const char *const *cells, aod_error *err)
{
    crows *c = ctx;
    size_t i;

    (void)err;
    for (i = 0; i < AOD_CSV_COMPLETENESS_COLUMNS; i++) {
        if (i == 5 && cells[i])
            put_number(c->s, c->s->summary, c->r, (lxw_col_t)i, cells[i]);
        else
            put_text(c->s, c->s->summary, c->r, (lxw_col_t)i, cells[i], NULL);
    }
    c->r++;
    return 0;
}

static void summary_sheet(xlsx_sink *s, const aod_report_summary *sum)
{
    static const aod_report_summary zero;
    const aod_report_info *in = &s->info;
    const aod_policy *p = in->policy;
    int access = in->mode == AOD_MODE_ACCESS;
    int privacy = in->audience == AOD_AUDIENCE_PRIVACY_OFFICE;
    lxw_row_t r = 0;
    size_t i;

    if (!sum)
        sum = &zero;
    put_text(s, s->summary, r++, 0, aod_words_title(s->words), s->bold);
    if (privacy)
        put_text(s, s->summary, r++, 0, T(s, "letter.privacy-copy"), NULL);
    r++;
    fact(s, &r, T(s, "letter.fact.patient"), V_TEXT, aod_words_patient(s->words), 0, 0);
    fact(s, &r,
         T(s,
           in->n_patient_keys == 1 ? "letter.fact.identifier.one" : "letter.fact.identifier.other"),
         V_TEXT, aod_words_identifiers(s->words), 0, 0);
    if (p->organisation.name && *p->organisation.name)
        fact(s, &r, T(s, "xlsx.organisation"), V_TEXT, p->organisation.name, 0, 0);
    fact(s, &r, T(s, "xlsx.period.first"), V_DAY, NULL, 0, in->from);
    fact(s, &r, T(s, "xlsx.period.last"), V_DAY, NULL, 0, in->to > in->from ? in->to - 1 : in->to);
    fact(s, &r, T(s, "letter.fact.zone"), V_TEXT,
         p->presentation.time_zone && *p->presentation.time_zone ? p->presentation.time_zone
                                                                 : "UTC",
         0, 0);
    if (in->requested)
        fact(s, &r, T(s, "letter.fact.requested"), V_TIME, NULL, 0, in->requested);
    fact(s, &r, T(s, "xlsx.generated"), V_TIME, NULL, 0, in->now);
    r++;
    fact(s, &r, T(s, "xlsx.records-read"), V_NUMBER, NULL, sum->records_read, 0);
    fact(s, &r, T(s, "xlsx.records-unreadable"), V_NUMBER, NULL, sum->records_unreadable, 0);
    fact(s, &r, T(s, "xlsx.events"), V_NUMBER, NULL, sum->events, 0);
    fact(s, &r, T(s, "xlsx.lines"), V_NUMBER, NULL, s->rows, 0);
    r++;
    /* How complete this is (issue 16 point 5): the rows of the CSV's
     * completeness file, with their header. */
    {
        crows c;
        aod_error ignored;
        c.s = s;
        c.r = r;
        aod_error_init(&ignored);
        put_text(s, s->summary, c.r, 0, T(s, "letter.heading.complete"), s->bold);
        c.r++;
        for (i = 0; i < AOD_CSV_COMPLETENESS_COLUMNS; i++)
            put_text(s, s->summary, c.r, (lxw_col_t)i, aod_csv_completeness_column(i), s->bold);
        c.r++;
        if (aod_csv_completeness_rows(s->text, in, sum, s->rows, completeness_row, &c, &ignored) !=
            0)
            s->nomem = 1;
        r = c.r;
    }
    if (!privacy) /* the patient's copy never counts suspended disclosures */
        return;
    r++;
    for (i = 0; i < AOD_CLASS_COUNT; i++)
        fact(s, &r,
             say1(s, "xlsx.class", "class",
                  aod_text_code(s->text, "class", aod_class_name((aod_class)i), NULL)),
             V_NUMBER, NULL, sum->by_class[i], 0);
    if (!access) {
        for (i = AOD_EXCL_I; i <= AOD_EXCL_IX; i++)
            fact(s, &r,
                 say1(s, "xlsx.exclusion", "exclusion",
                      aod_text_code(s->text, "exclusion",
                                    aod_policy_exclusion_key((aod_exclusion)i), NULL)),
                 V_NUMBER, NULL, sum->by_exclusion[i], 0);
        fact(s, &r, T(s, "xlsx.suspended"), V_NUMBER, NULL, sum->suspended, 0);
        fact(s, &r, T(s, "xlsx.summarised"), V_NUMBER, NULL, sum->summarised, 0);
    }
}

/* The report's summary (aod_overview) on its own sheet: the summary CSV's
 * columns and cells (csv.h), typed. */
static int overview_sheet(xlsx_sink *s, const aod_report_summary *sum, aod_error *err)
{
    const aod_overview *ov = sum ? sum->overview : NULL;
    size_t n = aod_csv_overview_columns(), c, i;

    for (c = 0; c < n; c++) {
        note(s, worksheet_set_column(s->overview, (lxw_col_t)c, (lxw_col_t)c,
                                     c == 1    ? 32
                                     : c >= 11 ? 26
                                               : 14,
                                     NULL));
        put_text(s, s->overview, 0, (lxw_col_t)c, aod_csv_overview_column_name(c), s->bold);
    }
    worksheet_freeze_panes(s->overview, 1, 0);
    for (i = 0; ov && i < ov->n_lines; i++) {
        lxw_row_t r = (lxw_row_t)(i + 1);
        if (aod_csv_overview_cells(s->row, &ov->lines[i], s->info.audience, s->cell, err) != 0)
            return -1;
        for (c = 0; c < n; c++) {
            switch (aod_csv_overview_column_kind(c)) {
            case AOD_CSV_TIME:
                put_time(s, s->overview, r, (lxw_col_t)c, s->cell[c]);
                break;
            case AOD_CSV_NUMBER:
                put_number(s, s->overview, r, (lxw_col_t)c, s->cell[c]);
                break;
            default:
                put_text(s, s->overview, r, (lxw_col_t)c, s->cell[c], NULL);
                break;
            }
        }
    }
    return 0;
}

/* Copies the finished workbook to the output. */
static int copy_out(xlsx_sink *s, aod_error *err)
{
    char buf[65536];
    FILE *in = fopen(s->path, "rb");
    size_t n;
    int rc = -1, wrote = 1;

    if (!in) {
        aod_error_set(err, AOD_ERR_IO, NULL, 0, "xlsx", "cannot read the workbook back: %s",
                      strerror(errno));
        return -1;
    }
    errno = 0;
    while (wrote && (n = fread(buf, 1, sizeof buf, in)) > 0)
        wrote = fwrite(buf, 1, n, s->out) == n;
    if (wrote && ferror(in)) {
        aod_error_set(err, AOD_ERR_IO, NULL, 0, "xlsx", "cannot read the workbook back: %s",
                      strerror(errno ? errno : EIO));
        goto done;
    }
    if (!wrote || fflush(s->out) != 0 || ferror(s->out)) {
        aod_error_set(err, AOD_ERR_IO, NULL, 0, "xlsx", "writing the spreadsheet failed: %s",
                      strerror(errno ? errno : EIO));
        goto done;
    }
    rc = 0;
done:
    fclose(in);
    return rc;
}

static int xlsx_end(aod_sink *base, const aod_report_summary *sum, aod_error *err)
{
    xlsx_sink *s = (xlsx_sink *)base;
    lxw_doc_properties props;
    lxw_workbook *wb;
    static char creator[] = PACKAGE_STRING;

    if (!s->begun || s->ended || s->failed) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "xlsx", "end() %s",
                      !s->begun  ? "before begin()"
                      : s->ended ? "called twice"
                                 : "after a failure");
        return -1;
    }
    s->ended = 1;
    note(s, worksheet_autofilter(s->lines, 0, 0, (lxw_row_t)s->rows, (lxw_col_t)(s->ncol - 1)));
    summary_sheet(s, sum);
    if (overview_sheet(s, sum, err) != 0) {
        s->failed = 1;
        return -1;
    }
    if (check(s, "writing the summary", err) != 0)
        return -1;

    /* Fixed properties: the same report is the same file.  libxlsxwriter
     * takes char *, and copies. */
    memset(&props, 0, sizeof props);
    aod_buf_reset(&s->clean);
    aod_buf_reset(&s->say);
    if (aod_buf_adds(&s->clean, aod_words_title(s->words)) != 0 ||
        aod_buf_adds(&s->say, s->info.policy->organisation.name ? s->info.policy->organisation.name
                                                                : "") != 0 ||
        aod_buf_addc(&s->say, '\0') != 0) {
        s->nomem = 1;
        return check(s, "setting the properties", err);
    }
    props.title = s->clean.data;
    props.author = s->say.data;
    props.comments = creator;
    props.created = (time_t)(s->info.now / 1000);
    note(s, workbook_set_properties(s->wb, &props));
    wb = s->wb;
    s->wb = NULL;
    note(s, workbook_close(wb)); /* writes the file and frees the workbook */
    if (check(s, "writing the workbook", err) != 0)
        return -1;
    if (copy_out(s, err) != 0) {
        s->failed = 1;
        return -1;
    }
    return 0;
}

static void xlsx_free(aod_sink *base)
{
    xlsx_sink *s = (xlsx_sink *)base;

    if (!s)
        return;
    if (s->wb) {
        /* Never finished: close it to free it; what it writes goes away. */
        workbook_close(s->wb);
    }
    if (s->path[0])
        unlink(s->path);
    aod_csv_row_free(s->row);
    aod_words_free(s->words);
    aod_buf_free(&s->clean);
    aod_buf_free(&s->say);
    free(s);
}

aod_sink *aod_xlsx_sink_new(FILE *out, const aod_text *text, aod_error *err)
{
    xlsx_sink *s;

    if (!out || !text) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "xlsx", "no output or no templates");
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "xlsx", "out of memory");
        return NULL;
    }
    s->base.begin = xlsx_begin;
    s->base.entry = xlsx_entry;
    s->base.end = xlsx_end;
    s->base.free = xlsx_free;
    s->out = out;
    s->text = text;
    aod_buf_init(&s->clean, 64 * 1024);
    aod_buf_init(&s->say, 64 * 1024);
    s->row = aod_csv_row_new(text, err);
    if (!s->row) {
        xlsx_free(&s->base);
        return NULL;
    }
    return &s->base;
}
