/*
 * html.h - the HTML renderer: the letter and the table of the PDF as one
 * self-contained, accessible HTML5 document.
 *
 * The same words as the PDF, from the same templates (render/words.h says
 * them; this renderer only lays them out): the letterhead, the facts of the
 * request, what the report lists and leaves out, what was found, how
 * complete it is, the patient's rights, the privacy office's section on its
 * copy, then the listing (and the unsuccessful attempts when the policy
 * lists them apart) as tables.
 *
 * For readers with assistive technology: lang (and dir="rtl" for a
 * right-to-left language) on <html>, one <h1> and <h2> per section, the
 * facts as a description list, real tables with a <caption> and column
 * headers (<th scope="col">), names in <bdi> so that a name in another
 * script keeps its own direction; colours meet WCAG AA contrast.  No
 * script, no external resource: the styles are inline, and print styles
 * give a paper copy (letter portrait, the listing landscape, the table's
 * header repeated on every page, rows not split).  Every string from the
 * data or the templates is escaped; invalid UTF-8 and control characters
 * become U+FFFD.
 *
 * The output is deterministic: the same report and --now give the same
 * bytes.  The table is kept in memory until end() (the letter before it
 * needs the final counts), so memory grows with the report's lines.
 */
#ifndef AOD_HTML_H
#define AOD_HTML_H

#include <stdio.h>

#include "base/error.h"
#include "model/text.h"
#include "model/entry.h"

/* A new HTML sink writing to out (borrowed; written only at end(), the
 * sink neither flushes it at free nor closes it).  text (borrowed,
 * required) must stay valid while the sink is used; so must the info given
 * to begin() and the policy it points to (required).  Entries must be
 * masked (shown_name set): an unmasked entry is refused with
 * AOD_ERR_INTERNAL.  Times are shown in the zone selected with
 * aod_timefmt_set_zone().  Returns a new sink (free it through its free
 * member), or NULL with err set (AOD_ERR_INTERNAL for a NULL out or text,
 * AOD_ERR_NOMEM).  Later, begin(), entry() and end() return -1 with err
 * set: AOD_ERR_NOMEM, AOD_ERR_IO when writing fails. */
aod_sink *aod_html_sink_new(FILE *out, const aod_text *text, aod_error *err);

/* 1 when the language lang (borrowed: "ar", "he-IL", "en") is written
 * right to left, else 0. */
int aod_html_rtl(const char *lang);

#endif
