/*
 * xlsx.h - the spreadsheet renderer (--format xlsx): the CSV's cells in an
 * Office Open XML workbook, typed, for analysts.
 *
 * The first sheet holds one row per report line with the CSV's columns and
 * values (render/csv.h, doc/csv.md), but typed: times are date-time cells
 * in the report's time zone (the policy's; a spreadsheet time has no zone,
 * so the zone is named on the summary sheet), count and group are numbers,
 * everything else is text.  Text is always written as a string, never as a
 * formula, so "=1+1" or "@SUM(A1)" stays what it is and needs no
 * apostrophe (unlike the CSV).  The header row is frozen and filtered.
 * The second sheet is the summary: the report, the patient, the period,
 * the zone and the counts (the privacy office's copy adds the counts per
 * class and exclusion, the withheld and the summarised disclosures; the
 * patient's copy never mentions a suspension).
 *
 * Strings are made fit for a workbook: invalid UTF-8 and control
 * characters other than TAB, LF and CR become U+FFFD, and a value longer
 * than a cell holds (32,767 bytes) is cut at a character boundary and ends
 * with "...".  A report with more lines than a sheet holds (1,048,575) is
 * refused: use the CSV.
 *
 * The output is deterministic: the workbook's creation time is the
 * report's --now.  libxlsxwriter writes to a named file, so the workbook
 * is assembled in a private temporary file (mode 0600, in TMPDIR, removed
 * at once) and copied to the output at end(); rows go to disk as they
 * arrive (libxlsxwriter's constant-memory mode).
 */
#ifndef AOD_XLSX_H
#define AOD_XLSX_H

#include <stdio.h>

#include "base/error.h"
#include "model/text.h"
#include "model/entry.h"

/* A new spreadsheet sink writing to out (borrowed; written only at end(),
 * the sink neither flushes it at free nor closes it).  text (borrowed,
 * required) must stay valid while the sink is used; so must the info given
 * to begin() and its policy.  Entries must be masked (shown_name set).
 * Times are shown in the zone selected with aod_timefmt_set_zone().
 * Returns a new sink (free it through its free member), or NULL with err
 * set (AOD_ERR_INTERNAL for a NULL out or text, AOD_ERR_NOMEM).  Later,
 * begin(), entry() and end() return -1 with err set: AOD_ERR_IO when the
 * temporary file or the output cannot be written, AOD_ERR_USAGE for more
 * lines than a sheet holds, AOD_ERR_NOMEM, AOD_ERR_INTERNAL when
 * libxlsxwriter fails otherwise (the message gives its words). */
aod_sink *aod_xlsx_sink_new(FILE *out, const aod_text *text, aod_error *err);

#endif
