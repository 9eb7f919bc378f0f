/*
 * csv.h - the CSV renderer: one row per report line, for analysts and for
 * patients who ask for a machine-readable copy.
 *
 * The dialect is RFC 4180 in UTF-8: CRLF line ends, a header row, a cell
 * quoted with "" when it holds the delimiter, a quote, CR or LF (quotes
 * doubled inside).  A cell that a spreadsheet would read as a formula (it
 * starts with = + - @ TAB or CR) gets a leading apostrophe.  The columns,
 * their order and their meaning are fixed and documented in doc/csv.md.
 *
 * The sink streams: each entry becomes a row when it arrives and nothing is
 * kept, so memory does not grow with the report.
 */
#ifndef AOD_CSV_H
#define AOD_CSV_H

#include <stdio.h>

#include "base/error.h"
#include "model/entry.h"
#include "model/text.h"

typedef struct aod_csv_options {
    int bom;        /* 1: start with a UTF-8 byte order mark (for Excel) */
    char delimiter; /* ',' (also when 0), ';' or '\t' */
} aod_csv_options;

/* A new CSV sink writing to out (borrowed; the sink neither flushes it at
 * free nor closes it).  opts (borrowed, copied; NULL: no BOM, ',') and
 * text (borrowed, required: the words for codes) must stay valid while the
 * sink is used; so must mask_ctx (borrowed): when mask_or_NULL is given, it
 * is called with mask_ctx on a copy of each entry that arrives unmasked
 * (shown_name NULL), as pipeline/mask.h's aod_mask_apply would be.
 * Without a mask an unmasked entry is refused (AOD_ERR_INTERNAL), so a
 * wiring mistake cannot leak names.  The columns depend on the audience
 * given to begin().  Returns a new sink (free it through its free member),
 * or NULL with err set: AOD_ERR_USAGE for a delimiter other than ',' ';'
 * TAB, AOD_ERR_INTERNAL for a NULL out or text, AOD_ERR_NOMEM. */
aod_sink *aod_csv_sink_new(FILE *out, const aod_csv_options *opts, const aod_text *text,
                           aod_entry_mask_fn mask_or_NULL, void *mask_ctx, aod_error *err);

/* ------------------------------------------------------------ the cells
 * The values of a row without the CSV dialect, for other tabular outputs
 * (the spreadsheet) that must hold the same cells.  Values are as the CSV
 * writes them before neutralising and quoting: times as ISO 8601 with the
 * offset in the report's zone, count and group as decimal digits, absent
 * values NULL. */

#define AOD_CSV_MAX_COLUMNS 26

/* How a column's values are typed, for outputs that have types. */
typedef enum aod_csv_kind {
    AOD_CSV_TEXT = 0, /* words, codes, identifiers: always text */
    AOD_CSV_TIME,     /* a point in time, "2025-01-02T05:00:00-05:00" */
    AOD_CSV_NUMBER    /* a whole number */
} aod_csv_kind;

/* The number of columns for an audience (the privacy office sees more). */
size_t aod_csv_columns(aod_audience audience);

/* Column i's stable name ("when", "who", ...; doc/csv.md), or NULL past the
 * end; and its kind. */
const char *aod_csv_column_name(size_t i);
aod_csv_kind aod_csv_column_kind(size_t i);

/* Scratch for aod_csv_row_cells(): one per sink, reused row after row. */
typedef struct aod_csv_row aod_csv_row;

/* A new row scratch using text (borrowed, must outlive it) for the words.
 * Returns it (free with aod_csv_row_free) or NULL with err set. */
aod_csv_row *aod_csv_row_new(const aod_text *text, aod_error *err);

/* Frees r; accepts NULL. */
void aod_csv_row_free(aod_csv_row *r);

/* Fills cells[0 .. aod_csv_columns(audience)) with the values of the masked
 * entry e (borrowed).  The values are borrowed from e, the templates or r,
 * until the next call with r.  Returns 0, or -1 with err set (AOD_ERR_NOMEM). */
int aod_csv_row_cells(aod_csv_row *r, const aod_entry *e, aod_audience audience, const char **cells,
                      aod_error *err);

/* Writes one cell: value (borrowed; NULL writes an empty cell), neutralised
 * with a leading "'" when it starts with = + - @ TAB or CR, quoted when it
 * holds the delimiter, '"', CR or LF; then the delimiter, or CRLF when last
 * is non-zero.  Returns 0, or -1 when writing failed (errno tells why). */
int aod_csv_write_cell(FILE *out, const char *value, char delimiter, int last);

/* ------------------------------------------------ the completeness rows
 * The completeness statement (issue 16 point 5) as rows of
 * AOD_CSV_COMPLETENESS_COLUMNS cells, for the CSV's companion file and the
 * spreadsheet's summary sheet (doc/csv.md, "The completeness file"):
 *
 *   kind    period | records | events | lines | unreadable |
 *           search-outcome | horizon | source | other-source | gap |
 *           accesses, reasoned (privacy office: of the accesses listed,
 *           how many have a recorded or evidenced reason)
 *   source  the source system (observer) as the store keys it
 *   name    its name, when recorded
 *   from    a day (YYYY-MM-DD, UTC for store days)
 *   to      a day
 *   count   a whole number
 *   text    the statement in words, in the report's language
 *
 * fn gets each row (cells borrowed for the call; absent values NULL) and
 * returns 0 to go on or -1 (err set) to stop.  Returns 0 / -1. */
#define AOD_CSV_COMPLETENESS_COLUMNS 7
typedef int (*aod_csv_completeness_fn)(void *ctx, const char *const *cells, aod_error *err);

/* The column names ("kind", "source", ...). */
const char *aod_csv_completeness_column(size_t i);

int aod_csv_completeness_rows(const aod_text *text, const aod_report_info *info,
                              const aod_report_summary *sum, long lines, aod_csv_completeness_fn fn,
                              void *ctx, aod_error *err);

/* A sink that writes only the completeness rows, with a header, when the
 * report ends (format "csv-completeness"; the report command writes it next
 * to a CSV).  out, opts and text as for aod_csv_sink_new.  Returns a new
 * sink or NULL with err set. */
aod_sink *aod_csv_completeness_sink_new(FILE *out, const aod_csv_options *opts,
                                        const aod_text *text, aod_error *err);

/* ------------------------------------------------------------ the summary
 * The report's summary (model/entry.h's aod_overview) as a table of its
 * own: one row per person, organisation or system, columns in
 * doc/csv.md ("The summary CSV").  The spreadsheet's summary sheet holds
 * the same cells. */

/* The number of the summary's columns; column i's name (NULL past the
 * end) and kind. */
size_t aod_csv_overview_columns(void);
const char *aod_csv_overview_column_name(size_t i);
aod_csv_kind aod_csv_overview_column_kind(size_t i);

/* Fills cells[0 .. aod_csv_overview_columns()) with the values of summary
 * line l (borrowed).  The values are borrowed from l, the templates or r,
 * until the next call with r.  Returns 0, or -1 with err set
 * (AOD_ERR_NOMEM). */
int aod_csv_overview_cells(aod_csv_row *r, const aod_overview_line *l, aod_audience audience,
                           const char **cells, aod_error *err);

/* A sink that writes only the summary, as CSV (format "csv-summary"): the
 * header at begin(), the lines at end().  Arguments as aod_csv_sink_new;
 * entries pass through unread. */
aod_sink *aod_csv_summary_sink_new(FILE *out, const aod_csv_options *opts, const aod_text *text,
                                   aod_error *err);

#endif
