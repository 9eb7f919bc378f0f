/*
 * words.h - what a report says, as words without a layout: the letter as a
 * sequence of blocks and each line of the table as cells.
 *
 * The letter and the table say the same thing in every rendering that lays
 * them out (the PDF and the HTML); only the layout differs.  This module decides what
 * is said, in which order, from the templates (templates/<lang>/letter.txt
 * and codes.txt), the report's options and its counts; a renderer decides
 * how it looks.  The privacy-office copy says more than the patient's (the
 * response deadlines, the counts per class and exclusion, the withheld
 * disclosures); the patient's copy never mentions a suspension.
 *
 * Every string handed out is borrowed: from the templates, from the report
 * (info, entries) or from scratch buffers inside the aod_words, valid until
 * the next call that says it reuses them.
 */
#ifndef AOD_WORDS_H
#define AOD_WORDS_H

#include <stdint.h>

#include "base/error.h"
#include "model/text.h"
#include "model/entry.h"

typedef struct aod_words aod_words;

/* The table's columns, in order. */
enum {
    AOD_WORDS_WHEN,
    AOD_WORDS_WHO,
    AOD_WORDS_WHAT,
    AOD_WORDS_WHERE,
    AOD_WORDS_WHY,
    AOD_WORDS_ACTION,
    AOD_WORDS_COUNT,
    AOD_WORDS_NCOL
};

#define AOD_WORDS_MAX_PARTS 4 /* pieces of text in one cell */

/* One piece of a cell: muted pieces are secondary (a role under a name, a
 * "not recorded", a note that the attempt failed). */
typedef struct aod_words_part {
    const char *text;
    int muted;
} aod_words_part;

/* One line of the table: each cell's pieces, in reading order. */
typedef struct aod_words_row {
    aod_words_part part[AOD_WORDS_NCOL][AOD_WORDS_MAX_PARTS];
    size_t n[AOD_WORDS_NCOL];
} aod_words_row;

/* The blocks of the letter, in the order they are said. */
typedef enum aod_words_kind {
    AOD_WORDS_ORGANISATION, /* text: the organisation's name (letterhead) */
    AOD_WORDS_ADDRESS,      /* text: one line of its postal address */
    AOD_WORDS_OFFICE,       /* text: the privacy office's name */
    AOD_WORDS_CONTACT,      /* label ("Phone"), text: the office's number or address */
    AOD_WORDS_BANNER,       /* text: "Privacy office copy: ..." (privacy office only) */
    AOD_WORDS_DATE,         /* text: the letter's date */
    AOD_WORDS_TITLE,        /* text: the report's title */
    AOD_WORDS_FACT,         /* label, text: one fact of the request (patient, period...) */
    AOD_WORDS_FACTS_END,    /* after the last fact */
    AOD_WORDS_HEADING,      /* text: a section's heading */
    AOD_WORDS_PARA,         /* text: a paragraph */
    AOD_WORDS_BULLET,       /* text, and note (may be NULL): one item of a list */
    AOD_WORDS_LIST_END,     /* after a list's last item */
    AOD_WORDS_CLOSING,      /* text: the closing ("Sincerely,") */
    AOD_WORDS_SIGNATURE,    /* text: a line of the signature */
    AOD_WORDS_TABLE_HEAD,   /* row: a summary table's column labels (AOD_WORDS_SUM_*);
                             * text: what the table holds, for a caption */
    AOD_WORDS_TABLE_ROW,    /* row: one line of that table */
    AOD_WORDS_TABLE_END,    /* after its last row */
    AOD_WORDS_NOTE          /* text: a small print note under a table */
} aod_words_kind;

/* The summary table's columns (AOD_WORDS_TABLE_*), in order: who (and how
 * many people stand behind a masked name), the first and last day, how
 * many accesses, the kinds of data, the reasons recorded. */
enum {
    AOD_WORDS_SUM_WHO,
    AOD_WORDS_SUM_WHEN,
    AOD_WORDS_SUM_COUNT,
    AOD_WORDS_SUM_DATA,
    AOD_WORDS_SUM_WHY,
    AOD_WORDS_SUM_NCOL
};

typedef struct aod_words_block {
    aod_words_kind kind;
    const char *label; /* AOD_WORDS_FACT and _CONTACT, else NULL */
    const char *text;  /* never NULL (may be "" for the *_END kinds) */
    const char *note;  /* AOD_WORDS_BULLET, may be NULL */
    const aod_words_row
        *row; /* AOD_WORDS_TABLE_HEAD and _ROW (AOD_WORDS_SUM_NCOL cells), else NULL */
} aod_words_block;

/* Receives one block (borrowed for the call).  Returns 0, or -1 with err
 * set to stop the letter. */
typedef int (*aod_words_fn)(void *ctx, const aod_words_block *b, aod_error *err);

/* Where the words are read: on pages (the table starts on a page of its
 * own) or as one scrolled document (HTML: the table follows the letter). */
typedef enum aod_words_medium { AOD_WORDS_PAGED = 0, AOD_WORDS_SCROLLED } aod_words_medium;

/* A new aod_words for one report, read on medium.  text and info (borrowed;
 * info's policy is required) must outlive it.  Dates are shown in the zone selected with
 * aod_timefmt_set_zone().  Returns a new aod_words (aod_words_free) or NULL
 * with err set (AOD_ERR_INTERNAL for a missing argument, AOD_ERR_NOMEM). */
aod_words *aod_words_new(const aod_text *text, const aod_report_info *info, aod_words_medium medium,
                         aod_error *err);

/* Frees w; accepts NULL. */
void aod_words_free(aod_words *w);

/* The template words for key (borrowed from the templates); the key itself
 * when no template has it, so a missing word shows instead of vanishing. */
const char *aod_words_get(const aod_words *w, const char *key);

/* The report's title ("Accounting of disclosures of ..."), borrowed. */
const char *aod_words_title(const aod_words *w);

/* The patient's name, or the words for "name not recorded"; borrowed. */
const char *aod_words_patient(const aod_words *w);

/* 1 for an access report, 0 for an accounting of disclosures. */
int aod_words_access(const aod_words *w);

/* 1 when e is listed in the section of unsuccessful attempts (an access
 * report whose policy lists failed attempts separately), else 0. */
int aod_words_separate(const aod_words *w, const aod_entry *e);

/* The column's heading (c: AOD_WORDS_*); borrowed. */
const char *aod_words_column(const aod_words *w, int c);

/* A table section's title: 0 the listing, 1 the unsuccessful attempts. */
const char *aod_words_section(const aod_words *w, int section);

/* "January 1, 2025 to March 31, 2025": the period in long dates.  Borrowed
 * from w until the next call of aod_words_period; "" when out of memory. */
const char *aod_words_period(aod_words *w);

/* "Period covered: January 1, 2025 to March 31, 2025", a document's
 * subject.  Borrowed from w until the next call of aod_words_subject; ""
 * when out of memory. */
const char *aod_words_subject(aod_words *w);

/* The patient's identifiers as the letter shows them ("MRN-1 (urn:oid:...),
 * Patient/8"), for every output that names them.  Borrowed from w until
 * the next call of aod_words_identifiers; "" when out of memory. */
const char *aod_words_identifiers(aod_words *w);

/* "Prepared on March 14, 2025" (info->now).  Borrowed from w until the
 * next call of aod_words_generated; "" when out of memory. */
const char *aod_words_generated(aod_words *w);

/* Says line e (masked: shown_name set; borrowed) into row.  The strings in
 * row are borrowed from e, the templates or w, until the next call of
 * aod_words_row.  Returns 0, or -1 with err set (AOD_ERR_INTERNAL for an
 * unmasked entry, AOD_ERR_NOMEM). */
int aod_words_line(aod_words *w, const aod_entry *e, aod_words_row *row, aod_error *err);

/* The reason of line e in words (issue 16 point 3): the recorded purpose,
 * else the basis or evidence with what showed it, else "no reason was
 * recorded".  Borrowed from w or the templates until the next call. */
const char *aod_words_reason(aod_words *w, const aod_entry *e);

/* Says the letter, block by block, to fn: the letterhead, the facts of the
 * request, what the report lists and leaves out, what was found (rows: the
 * lines the table holds), how complete it is, the patient's rights and the
 * signature, and for the privacy office its own section.  sum_or_NULL
 * (borrowed) gives the counts (NULL: all zero).  Returns 0, or -1 with err
 * set (by fn, or AOD_ERR_NOMEM). */
int aod_words_letter(aod_words *w, const aod_report_summary *sum_or_NULL, long rows,
                     aod_words_fn fn, void *ctx, aod_error *err);

/* The summary that comes first (model/entry.h's aod_overview, borrowed),
 * said block by block to fn: a heading, the totals ("N audit records ->
 * M accesses by K people and J organisations"), one bullet per person or
 * organisation (text: who; note: how many, when, the data, the reasons),
 * then the systems in a section of their own, one plain sentence each
 * ("An automated system viewed test results 14 times"), and a closing
 * sentence pointing to the detailed list.  Returns 0, or -1 with err set
 * (by fn, or AOD_ERR_NOMEM). */
int aod_words_overview(aod_words *w, const aod_overview *ov, aod_words_fn fn, void *ctx,
                       aod_error *err);

/* What a paged rendering says at the top of a summary that does not fit
 * on one page: "32 people, organizations and systems are listed, more than
 * one page holds: the summary continues on the next page."  Borrowed from w
 * until the next call; "" when out of memory. */
const char *aod_words_overview_continues(aod_words *w, const aod_overview *ov);

/* Who one summary line is: the shown name, with the role and the
 * organisation when the name does not already say them.  Borrowed from w
 * until the next call that builds a row or a summary line. */
const char *aod_words_overview_who(aod_words *w, const aod_overview_line *l);

#endif
