/*
 * sitecsv.h - the site inputs: `aodreport load-roster`, `load-patient-facts`
 * and `load-care` (doc/privacy-office.md describes the files).
 *
 * Stage: source (ingest).  Each input is a CSV file (RFC 4180: a header row,
 * fields separated by commas, a field quoted with '"' when it holds a comma,
 * a quote or a line break, a quote inside doubled; CRLF or LF line ends; UTF-8,
 * an optional byte order mark).  The header names the columns, in any order;
 * every column of the kind must be there and no other.  Each row is checked
 * (required keys, dates, yes/no, duplicates) and handed to the store, which
 * replaces the kind's table whole in one transaction: the first bad row
 * stops the load and nothing of the file is kept.
 */
#ifndef AOD_SITECSV_H
#define AOD_SITECSV_H

#include <stdio.h>

#include "base/error.h"
#include "store/store.h"

/* ------------------------------------------------------------ the reader */

/* An RFC 4180 reader over a stream. */
typedef struct aod_csvin aod_csvin;

/* A new reader of in (borrowed, not closed); name (borrowed, must outlive
 * the reader) names the input in messages.  Returns it (free with
 * aod_csvin_free) or NULL with err set (AOD_ERR_NOMEM). */
aod_csvin *aod_csvin_new(FILE *in, const char *name, aod_error *err);

/* Frees the reader; accepts NULL. */
void aod_csvin_free(aod_csvin *r);

/* Reads the next record.  *fields receives its fields (borrowed until the
 * next call), *n their number, *line the line it starts on, and lines[i]
 * (when lines is not NULL: borrowed likewise) the line field i starts on.
 * Returns 1 for a record, 0 at the end of the input, -1 with err set
 * (AOD_ERR_INPUT: a quote where none may be, an unterminated quoted field,
 * bytes that are not UTF-8, a NUL byte, a field over 64 KiB; AOD_ERR_IO)
 * naming the input and the line.  A blank line at the very end is no record. */
int aod_csvin_next(aod_csvin *r, const char *const **fields, size_t *n, long *line,
                   const long **lines, aod_error *err);

/* ------------------------------------------------------------ the loaders */

/* Loads the file at path ("-": standard input) as kind's list, replacing
 * the stored one.  *rows (may be NULL) receives the rows stored.  Returns 0,
 * or -1 with err naming the file, the line and the column; then nothing of
 * the file is stored and the old list stays. */
int aod_sitecsv_load(aod_store *st, aod_site_kind kind, const char *path, long *rows,
                     aod_error *err);

/* 1 when s is a valid calendar date "YYYY-MM-DD", else 0. */
int aod_sitecsv_is_date(const char *s);

#endif
