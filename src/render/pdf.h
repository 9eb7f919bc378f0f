/*
 * pdf.h - the PDF renderer: a letter the privacy office can send, then the
 * report's lines as a table.
 *
 * The letter (portrait, first page or pages) names the organisation, the
 * patient, the request and the period; explains in plain words what the
 * report lists and, for an accounting of disclosures, what 45 CFR 164.528(a)
 * leaves out; states the counts and how complete the search was.  The
 * privacy-office copy adds the response deadlines (60 days, and the one
 * 30-day extension), the counts per class and exclusion and the withheld
 * (suspended) disclosures, which the patient's copy never mentions.  The
 * table (landscape) has one row per line: when, who, what, where from, why,
 * what was done, how many.  Every word comes from the templates
 * (templates/<lang>/letter.txt and codes.txt).
 *
 * Layout rules: the header row repeats on every table page; text wraps by
 * words inside its cell, and a word wider than its cell is broken, so
 * nothing is cut off; a row never splits across pages unless it is taller
 * than a whole page; every page has "Page X of Y" and the generation date.
 *
 * Fonts: one TrueType font is embedded (DejaVu Sans by default), so Latin,
 * Greek, Cyrillic, Hebrew and Arabic text renders and extracts as written
 * (Arabic joined and right-to-left text ordered with FriBidi:
 * render/bidi.h); what it lacks (Chinese, Japanese, Korean) is drawn with
 * a fallback font, embedded only by a document that needs it.  A report
 * whose text holds characters none of them has, or of a script that needs
 * a shaping engine (Devanagari, Thai...), is refused at end() with
 * AOD_ERR_TEMPLATES naming the code points and where they are, and
 * pointing to the HTML output: never a box.  A bold face is
 * used when one is available; without it bold is drawn by stroking the
 * regular face, which keeps the file to one embedded font.  Each embedded
 * font is cut to the characters the document draws (render/fontsubset.h:
 * a three-page letter carries about 20 KB of font, not 190 KB), and a
 * process reads each font file once, however many documents it makes.
 *
 * Structure: the catalog says the language (/Lang, from info->lang) and
 * asks viewers to show the title; the outline holds the letter, each
 * section of the table and each month of it.  libharu
 * cannot tag a PDF: the accessible form is the HTML output.
 *
 * The output is deterministic: the same input gives the same bytes (the
 * creation date is info->now, libharu writes no clock or random ID).  It is
 * not PDF/A.  Memory grows with the number of pages (libharu keeps every
 * page until the file is written), not with the number of audit records.
 */
#ifndef AOD_PDF_H
#define AOD_PDF_H

#include <stdio.h>

#include "base/error.h"
#include "model/text.h"
#include "model/entry.h"

typedef struct aod_pdf_options {
    /* The TrueType font to embed (borrowed, copied); NULL: AOD_FONT_FILE. */
    const char *font_file;
    /* Its bold face (borrowed, copied).  NULL: AOD_FONT_BOLD_FILE when that
     * file exists, else none; "": none (one embedded font: smaller, and
     * faster when many letters are made).  A file named here must load. */
    const char *bold_font_file;
    /* The font for the characters font_file lacks (Chinese, Japanese,
     * Korean), borrowed, copied; a TrueType collection's first font.  NULL:
     * AOD_FALLBACK_FONT_FILE (WenQuanYi Micro Hei) when that file exists,
     * else none; "": none.  Read and embedded only when a document draws
     * a character that needs it. */
    const char *fallback_font_file;
} aod_pdf_options;

/* A new PDF sink writing to out (borrowed; written only at end(), and only
 * a complete file; the sink neither flushes out at free nor closes it).
 * opts_or_NULL (borrowed, copied) and text (borrowed, required) must stay
 * valid while the sink is used; so must the info given to begin() and the
 * policy it points to (required: the letterhead comes from it).  Entries
 * must be masked (shown_name set): an unmasked entry is refused with
 * AOD_ERR_INTERNAL.  Times are shown in the zone selected with
 * aod_timefmt_set_zone().
 *
 * Returns a new sink (free it through its free member), or NULL with err
 * set: AOD_ERR_IO when a font file cannot be opened (the message names it),
 * AOD_ERR_INTERNAL for a NULL out or text, AOD_ERR_NOMEM.  Later, begin(),
 * entry() and end() return -1 with err set when libharu fails (AOD_ERR_IO for
 * a font it cannot use, AOD_ERR_NOMEM, else AOD_ERR_INTERNAL; the message
 * gives libharu's error number) or writing fails (AOD_ERR_IO), and end()
 * with AOD_ERR_TEMPLATES when the report holds characters the PDF cannot
 * draw (see "Fonts" above); nothing is written to out after such a
 * failure. */
aod_sink *aod_pdf_sink_new(FILE *out, const aod_pdf_options *opts_or_NULL, const aod_text *text,
                           aod_error *err);

#endif
