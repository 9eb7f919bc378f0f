/*
 * html.c - the HTML renderer (see html.h).
 *
 * Render stage.  The only file that writes HTML.  What is said comes from
 * render/words.h, block by block and cell by cell; this file only chooses
 * elements and escapes.  Rows are written into a buffer as they arrive (the
 * letter in front of them needs the final counts); end() writes the head,
 * the letter, the buffered tables and the footer, in that order.
 */
#include "render/html.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/timefmt.h"
#include "base/utf8.h"
#include "render/words.h"

#ifndef PACKAGE_STRING
#define PACKAGE_STRING "aodreport"
#endif

#define TABLE_CAP  ((size_t)1024 * 1024 * 1024) /* one section's rows, as HTML */
#define LETTER_CAP ((size_t)64 * 1024 * 1024)

/* The styles: colours meet WCAG AA contrast (4.5:1) on their backgrounds;
 * logical properties (inline-start) so that a right-to-left page mirrors.
 * Values from the data or the policy (names, addresses, the facts) get
 * dir="auto" or <bdi>: "100 Main Street" stays in its order on an Arabic
 * page, and an Arabic name in its own on an English one. */
static const char css[] =
    ":root{color:#1c1e23;background:#fff;font-family:\"DejaVu Sans\",\"Noto Sans\",Arial,"
    "sans-serif;font-size:100%;line-height:1.45}\n"
    "body{margin:0 auto;max-width:60rem;padding:1.5rem}\n"
    ".letterhead{display:flex;flex-wrap:wrap;justify-content:space-between;gap:1rem;"
    "border-bottom:2px solid #124a70;padding-bottom:.75rem;margin-bottom:1.25rem}\n"
    ".org{font-size:1.6rem;font-weight:bold;color:#124a70;margin:0}\n"
    ".addr{margin:0;color:#4f545c}\n"
    ".office{font-style:normal;text-align:end;color:#4f545c}\n"
    ".office strong{color:#1c1e23}\n"
    ".banner{background:#fdf2e0;border-inline-start:4px solid #b35c00;padding:.5rem .75rem;"
    "color:#5a3000;font-weight:bold}\n"
    "h1{font-size:1.5rem;margin:1rem 0 .75rem}\n"
    "h2{font-size:1.2rem;color:#124a70;margin:1.5rem 0 .5rem}\n"
    ".facts{background:#f3f5f8;border-inline-start:4px solid #124a70;padding:.75rem 1rem;"
    "display:grid;grid-template-columns:minmax(8rem,14rem) 1fr;gap:.25rem 1rem;margin:0 0 "
    "1.25rem}\n"
    ".facts dt{color:#4f545c}\n"
    ".facts dd{margin:0}\n"
    ".note{display:block;color:#4f545c;font-size:.9em}\n"
    ".closing{margin-top:1.5rem}\n"
    ".signature{margin:0}\n"
    ".signature strong{display:block}\n"
    ".listing{margin-top:2rem}\n"
    "table{border-collapse:collapse;width:100%;font-size:.9rem}\n"
    "caption{text-align:start;color:#4f545c;padding:.25rem 0 .5rem}\n"
    "th,td{text-align:start;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid "
    "#c9ced6;overflow-wrap:break-word}\n"
    "td:first-child{min-width:10.5ch}\n" /* a date never breaks at its hyphens */
    "thead th{background:#e6edf4;color:#1c1e23;border-bottom:2px solid #124a70}\n"
    ".muted{color:#4f545c}\n"
    "footer{margin-top:2rem;border-top:1px solid #c9ced6;padding-top:.5rem;color:#4f545c;"
    "font-size:.85rem}\n"
    "footer p{margin:.2rem 0}\n"
    "@media print{\n"
    "@page{size:letter;margin:16mm 18mm}\n"
    "@page listing{size:letter landscape;margin:12mm 12mm}\n"
    ":root{font-size:10pt}\n"
    "body{max-width:none;padding:0}\n"
    ".listing{page:listing;break-before:page;margin-top:0}\n"
    "thead{display:table-header-group}\n"
    "tr,.facts,.signature{break-inside:avoid}\n"
    ".listing~footer{page:listing}\n"
    "h1,h2{break-after:avoid}\n"
    "table{font-size:8pt}\n"
    ".banner,.facts,thead th{-webkit-print-color-adjust:exact;print-color-adjust:exact}\n"
    "}\n";

typedef struct html_sink {
    aod_sink base; /* first: the sink functions get an aod_sink * */
    FILE *out;
    const aod_text *text;
    aod_report_info info; /* copied; its pointers are borrowed */
    aod_words *words;
    int begun, ended, failed;
    long rows;       /* lines listed, both sections */
    long n_sect[2];  /* lines per section */
    aod_buf sect[2]; /* each section's rows as HTML: the listing, the attempts */
    aod_buf doc;     /* the letter being written */
    aod_words_row row;
    int in_list, in_facts, in_office; /* an open <ul>, <dl>, contact <address> */
    int in_table;                     /* the summary's <table> */
    int in_div;                       /* the letterhead's name and address <div> */
} html_sink;

/* ------------------------------------------------------------- escaping */

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

/* Appends str escaped for text and attribute values: & < > " ' as
 * references; invalid UTF-8, C0 and C1 controls (but TAB, LF, CR) and
 * noncharacters as U+FFFD, which HTML would otherwise refuse or alter. */
static int esc_n(aod_buf *b, const char *str, size_t len)
{
    const unsigned char *p = (const unsigned char *)(str ? str : "");
    const unsigned char *end = p + (str ? len : 0);

    while (p < end && *p) {
        uint32_t cp = 0;
        size_t left = (size_t)(end - p);
        size_t n = aod_utf8_decode(p, left < 4 ? left : 4, &cp); /* a NUL ends a sequence */
        const char *rep = NULL;

        if (n == 0) {
            rep = REPLACEMENT;
            n = 1;
        } else if (cp == '&') {
            rep = "&amp;";
        } else if (cp == '<') {
            rep = "&lt;";
        } else if (cp == '>') {
            rep = "&gt;";
        } else if (cp == '"') {
            rep = "&quot;";
        } else if (cp == '\'') {
            rep = "&#39;";
        } else if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
                   (cp >= 0x7F && cp < 0xA0) || (cp >= 0xFDD0 && cp <= 0xFDEF) ||
                   (cp & 0xFFFE) == 0xFFFE) {
            rep = REPLACEMENT;
        }
        if (rep ? aod_buf_adds(b, rep) != 0 : aod_buf_add(b, p, n) != 0)
            return -1;
        p += n;
    }
    return 0;
}

static int esc(aod_buf *b, const char *str)
{
    return esc_n(b, str, str ? strlen(str) : 0);
}

/* A word at least this long (bytes) may break after its separators. */
#define LONG_WORD 16

static int separator(char c)
{
    return c == '.' || c == '/' || c == '-' || c == '_' || c == '@' || c == '?' || c == '&' ||
           c == '=' || c == ':' || c == '|';
}

/* esc() for a table cell: a long word (a host name, a URL, a code) gets a
 * <wbr> after each dot, slash or other separator inside it, so that a
 * narrow column breaks it there and not in the middle of a name (the CSS
 * breaks between letters only when a piece is wider than the column). */
static int esc_cell(aod_buf *b, const char *str)
{
    const char *p = str ? str : "";

    while (*p) {
        size_t sp = strspn(p, " \t\n"), w, i, from;

        if (sp && esc_n(b, p, sp) != 0)
            return -1;
        p += sp;
        w = strcspn(p, " \t\n");
        if (w < LONG_WORD) {
            if (esc_n(b, p, w) != 0)
                return -1;
        } else {
            for (i = from = 0; i < w; i++) {
                if (!separator(p[i]) || i + 1 == w)
                    continue;
                if (esc_n(b, p + from, i + 1 - from) != 0 || aod_buf_adds(b, "<wbr>") != 0)
                    return -1;
                from = i + 1;
            }
            if (esc_n(b, p + from, w - from) != 0)
                return -1;
        }
        p += w;
    }
    return 0;
}

/* Appends the markup pieces and escaped values of a NULL-terminated list:
 * even positions are markup (copied), odd ones text (escaped). */
static int put(aod_buf *b, const char *const *list)
{
    size_t i;

    for (i = 0; list[i]; i++)
        if ((i % 2 ? esc(b, list[i]) : aod_buf_adds(b, list[i])) != 0)
            return -1;
    return 0;
}

#define PUT(b, ...) put((b), (const char *const[]){__VA_ARGS__, NULL})

/* -------------------------------------------------------------- helpers */

int aod_html_rtl(const char *lang)
{
    static const char *const rtl[] = {"ar", "arc", "ckb", "dv", "fa", "he", "iw", "ks",
                                      "ku", "ps",  "sd",  "ug", "ur", "yi", NULL};
    size_t n, i;

    if (!lang)
        return 0;
    n = strcspn(lang, "-_");
    for (i = 0; rtl[i]; i++)
        if (strlen(rtl[i]) == n && strncmp(lang, rtl[i], n) == 0)
            return 1;
    return 0;
}

static int nomem(html_sink *s, aod_error *err)
{
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "html", "out of memory");
    s->failed = 1;
    return -1;
}

/* Closes what the previous blocks left open before a block of kind k. */
static int close_open(html_sink *s, aod_words_kind k)
{
    aod_buf *b = &s->doc;

    if (s->in_office && k != AOD_WORDS_CONTACT) {
        s->in_office = 0;
        if (aod_buf_adds(b, "</address>\n") != 0)
            return -1;
    }
    if (s->in_list && k != AOD_WORDS_BULLET) {
        s->in_list = 0;
        if (aod_buf_adds(b, "</ul>\n") != 0)
            return -1;
    }
    if (s->in_table && k != AOD_WORDS_TABLE_ROW) {
        s->in_table = 0;
        if (aod_buf_adds(b, "</tbody>\n</table>\n") != 0)
            return -1;
    }
    if (s->in_facts && k != AOD_WORDS_FACT) {
        s->in_facts = 0;
        if (aod_buf_adds(b, "</dl>\n") != 0)
            return -1;
    }
    return 0;
}

/* The letterhead closes before the first block that is not part of it. */
static int letterhead_part(aod_words_kind k)
{
    return k == AOD_WORDS_ORGANISATION || k == AOD_WORDS_ADDRESS || k == AOD_WORDS_OFFICE ||
           k == AOD_WORDS_CONTACT;
}

typedef struct letter_state {
    html_sink *s;
    int in_head; /* <header> open */
    int began;   /* <main> open */
    int signed_; /* the signature's first line is written */
} letter_state;

/* One cell of the summary's table: its first piece plain (or muted), the
 * rest as notes under it; who keeps its own direction. */
static int summary_cell(aod_buf *b, const aod_words_row *row, int c)
{
    size_t i;

    if (aod_buf_adds(b, "<td>") != 0)
        return -1;
    for (i = 0; i < row->n[c]; i++) {
        const aod_words_part *p = &row->part[c][i];
        const char *open =
            i == 0 ? (p->muted ? "<span class=\"muted\">" : "") : " <span class=\"note\">";
        const char *close = i == 0 && !p->muted ? "" : "</span>";
        if (c == AOD_WORDS_SUM_WHO && i == 0)
            open = "<bdi>", close = "</bdi>";
        if (aod_buf_adds(b, open) != 0 || esc_cell(b, p->text) != 0 || aod_buf_adds(b, close) != 0)
            return -1;
    }
    return aod_buf_adds(b, "</td>");
}

/* One block of the letter (aod_words_fn). */
static int letter_block(void *ctx, const aod_words_block *blk, aod_error *err)
{
    letter_state *ls = ctx;
    html_sink *s = ls->s;
    aod_buf *b = &s->doc;
    int rc = 0;

    if (close_open(s, blk->kind) != 0)
        return nomem(s, err);
    if (letterhead_part(blk->kind) && !ls->in_head && !ls->began) {
        ls->in_head = 1;
        s->in_div = 1;
        rc |= aod_buf_adds(b, "<header class=\"letterhead\">\n<div>\n");
    }
    if (!letterhead_part(blk->kind) && !ls->began) {
        if (s->in_div)
            rc |= aod_buf_adds(b, "</div>\n");
        if (ls->in_head)
            rc |= aod_buf_adds(b, "</header>\n");
        s->in_div = 0;
        ls->in_head = 0;
        ls->began = 1;
        rc |= aod_buf_adds(b, "<main>\n");
    }
    switch (blk->kind) {
    case AOD_WORDS_ORGANISATION:
        rc |= PUT(b, "<p class=\"org\" dir=\"auto\">", blk->text, "</p>\n");
        break;
    case AOD_WORDS_ADDRESS:
        rc |= PUT(b, "<p class=\"addr\" dir=\"auto\">", blk->text, "</p>\n");
        break;
    case AOD_WORDS_OFFICE:
        rc |= PUT(b,
                  s->in_div ? "</div>\n<address class=\"office\"><strong>"
                            : "<address class=\"office\"><strong>",
                  blk->text, "</strong>");
        s->in_office = 1;
        s->in_div = 0;
        break;
    case AOD_WORDS_CONTACT:
        if (!s->in_office) {
            rc |= aod_buf_adds(b, s->in_div ? "</div>\n<address class=\"office\">"
                                            : "<address class=\"office\">");
            s->in_office = 1;
            s->in_div = 0;
        } else {
            rc |= aod_buf_adds(b, "<br>");
        }
        rc |= PUT(b, "", blk->label, ": ", blk->text, "");
        break;
    case AOD_WORDS_BANNER:
        rc |= PUT(b, "<p class=\"banner\">", blk->text, "</p>\n");
        break;
    case AOD_WORDS_DATE: {
        char iso[16];
        aod_timefmt_date(s->info.now, iso, sizeof iso);
        rc |= PUT(b, "<p class=\"date\"><time datetime=\"", iso, "\">", blk->text, "</time></p>\n");
        break;
    }
    case AOD_WORDS_TITLE:
        rc |= PUT(b, "<h1>", blk->text, "</h1>\n");
        break;
    case AOD_WORDS_FACT:
        if (!s->in_facts) {
            s->in_facts = 1;
            rc |= aod_buf_adds(b, "<dl class=\"facts\">\n");
        }
        rc |= PUT(b, "<dt>", blk->label, "</dt><dd dir=\"auto\">", blk->text, "</dd>\n");
        break;
    case AOD_WORDS_FACTS_END:
    case AOD_WORDS_LIST_END:
    case AOD_WORDS_TABLE_END:
        break; /* closed by close_open() */
    case AOD_WORDS_TABLE_HEAD: {
        size_t c;
        rc |= PUT(b, "<table class=\"people\">\n<caption>", blk->text, "</caption>\n<thead><tr>");
        for (c = 0; blk->row && c < AOD_WORDS_SUM_NCOL; c++)
            rc |= PUT(b, "<th scope=\"col\">", blk->row->n[c] ? blk->row->part[c][0].text : "",
                      "</th>");
        rc |= aod_buf_adds(b, "</tr></thead>\n<tbody>\n");
        s->in_table = 1;
        break;
    }
    case AOD_WORDS_TABLE_ROW: {
        size_t c;
        rc |= aod_buf_adds(b, "<tr>");
        for (c = 0; blk->row && c < AOD_WORDS_SUM_NCOL; c++)
            rc |= summary_cell(b, blk->row, (int)c);
        rc |= aod_buf_adds(b, "</tr>\n");
        break;
    }
    case AOD_WORDS_NOTE:
        rc |= PUT(b, "<p class=\"note\">", blk->text, "</p>\n");
        break;
    case AOD_WORDS_HEADING:
        rc |= PUT(b, "<h2>", blk->text, "</h2>\n");
        break;
    case AOD_WORDS_PARA:
        rc |= PUT(b, "<p>", blk->text, "</p>\n");
        break;
    case AOD_WORDS_BULLET:
        if (!s->in_list) {
            s->in_list = 1;
            rc |= aod_buf_adds(b, "<ul>\n");
        }
        rc |= PUT(b, "<li>", blk->text, "");
        if (blk->note && *blk->note)
            rc |= PUT(b, " <span class=\"note\">", blk->note, "</span>");
        rc |= aod_buf_adds(b, "</li>\n");
        break;
    case AOD_WORDS_CLOSING:
        rc |= PUT(b, "<p class=\"closing\">", blk->text, "</p>\n");
        break;
    case AOD_WORDS_SIGNATURE:
        rc |= PUT(b, ls->signed_ ? "<p class=\"signature\">" : "<p class=\"signature\"><strong>",
                  blk->text, ls->signed_ ? "</p>\n" : "</strong></p>\n");
        ls->signed_ = 1;
        break;
    }
    return rc ? nomem(s, err) : 0;
}

/* One cell: its pieces, the first plain and the rest as notes. */
static int cell(aod_buf *b, const aod_words_row *row, int c)
{
    size_t i;

    if (aod_buf_adds(b, "<td>") != 0)
        return -1;
    for (i = 0; i < row->n[c]; i++) {
        const aod_words_part *p = &row->part[c][i];
        const char *open =
            i == 0 ? (p->muted ? "<span class=\"muted\">" : "") : "<span class=\"note\">";
        const char *close = i == 0 && !p->muted ? "" : "</span>";
        if (c == AOD_WORDS_WHO && i == 0) /* a name keeps its own direction */
            open = "<bdi>", close = "</bdi>";
        if (aod_buf_adds(b, open) != 0 || esc_cell(b, p->text) != 0 || aod_buf_adds(b, close) != 0)
            return -1;
    }
    return aod_buf_adds(b, "</td>");
}

/* ------------------------------------------------------------- the sink */

static int html_begin(aod_sink *base, const aod_report_info *info, aod_error *err)
{
    html_sink *s = (html_sink *)base;

    if (s->begun || s->failed) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "html", "begin() called twice");
        return -1;
    }
    s->begun = 1;
    if (!info || !info->policy) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "html", "no report info or no policy");
        s->failed = 1;
        return -1;
    }
    s->info = *info;
    s->words = aod_words_new(s->text, &s->info, AOD_WORDS_SCROLLED, err);
    if (!s->words) {
        s->failed = 1;
        return -1;
    }
    return 0;
}

static int html_entry(aod_sink *base, const aod_entry *e, aod_error *err)
{
    html_sink *s = (html_sink *)base;
    int sect, c;
    aod_buf *b;

    if (!s->begun || s->ended || s->failed) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "html", "entry() %s",
                      !s->begun  ? "before begin()"
                      : s->ended ? "after end()"
                                 : "after a failure");
        return -1;
    }
    if (aod_words_line(s->words, e, &s->row, err) != 0) {
        s->failed = 1;
        return -1;
    }
    sect = aod_words_separate(s->words, e);
    b = &s->sect[sect];
    if (aod_buf_adds(b, "<tr>") != 0)
        return nomem(s, err);
    for (c = 0; c < AOD_WORDS_NCOL; c++)
        if (cell(b, &s->row, c) != 0)
            return nomem(s, err);
    if (aod_buf_adds(b, "</tr>\n") != 0)
        return nomem(s, err);
    s->n_sect[sect]++;
    s->rows++;
    return 0;
}

/* Appends text as a CSS string, "..." (inside <style>, where no character
 * reference works): quotes and backslashes escaped, line ends and '<' as
 * CSS escapes (so no "</style>" can close the element), and what is not
 * UTF-8 or a control character as U+FFFD.  In a template, "{page}" and
 * "{pages}" become the page counters between strings. */
static int css_string(aod_buf *b, const char *text, int counters)
{
    const unsigned char *p = (const unsigned char *)text;
    int rc = aod_buf_addc(b, '"');

    while (*p && rc == 0) {
        uint32_t cp = 0;
        size_t n = aod_utf8_decode(p, 4, &cp);

        if (counters && strncmp((const char *)p, "{pages}", 7) == 0) {
            rc = aod_buf_adds(b, "\" counter(pages) \"");
            p += 7;
            continue;
        }
        if (counters && strncmp((const char *)p, "{page}", 6) == 0) {
            rc = aod_buf_adds(b, "\" counter(page) \"");
            p += 6;
            continue;
        }
        if (n == 0 || (cp < 0x20 && cp != '\n' && cp != '\r') || (cp >= 0x7F && cp < 0xA0)) {
            rc = aod_buf_adds(b, REPLACEMENT);
            n = n ? n : 1;
        } else if (cp == '"' || cp == '\\') {
            rc = aod_buf_addc(b, '\\') || aod_buf_addc(b, (char)cp);
        } else if (cp == '\n' || cp == '\r') {
            rc = aod_buf_adds(b, "\\A ");
        } else if (cp == '<') {
            rc = aod_buf_adds(b, "\\3C ");
        } else {
            rc = aod_buf_add(b, p, n);
        }
        p += n;
    }
    return rc || aod_buf_addc(b, '"');
}

/* The paper copy's running header and footer, as the PDF has them: the
 * organisation and the report's title with the patient at the top (not on
 * the first page: the letterhead is there), the date, the confidentiality
 * note and "Page X of Y" at the bottom.  Page-margin boxes: where a browser
 * does not print them, the document's own footer still says it once. */
static int print_margins(html_sink *s)
{
    aod_buf *b = &s->doc;
    const char *org = s->info.policy->organisation.name;
    int rc = 0;

    rc |=
        aod_buf_adds(b, "@media print{\n@page{\n@top-left{font-size:7.5pt;color:#124a70;content:");
    rc |= css_string(b, org ? org : "", 0);
    rc |= aod_buf_adds(b, "}\n@top-right{font-size:7.5pt;color:#4f545c;content:");
    rc |= css_string(b, aod_words_title(s->words), 0);
    rc |= aod_buf_adds(b, " \" \\B7  \" ");
    rc |= css_string(b, aod_words_patient(s->words), 0);
    rc |= aod_buf_adds(b, "}\n@bottom-left{font-size:7pt;color:#4f545c;content:");
    rc |= css_string(b, aod_words_generated(s->words), 0);
    rc |= aod_buf_adds(b, "}\n@bottom-center{font-size:7pt;color:#4f545c;content:");
    rc |= css_string(b, aod_words_get(s->words, "letter.footer.confidential"), 0);
    rc |= aod_buf_adds(b, "}\n@bottom-right{font-size:7pt;color:#1c1e23;content:");
    rc |= css_string(b, aod_words_get(s->words, "letter.footer.page"), 1);
    rc |=
        aod_buf_adds(b, "}\n}\n@page:first{@top-left{content:none}@top-right{content:none}}\n}\n");
    return rc ? -1 : 0;
}

/* The head: language, direction, title and styles. */
static int head(html_sink *s)
{
    aod_buf *b = &s->doc;
    const char *lang = s->info.lang && *s->info.lang ? s->info.lang : "en";

    if (PUT(b, "<!DOCTYPE html>\n<html lang=\"", lang, "\" dir=\"",
            aod_html_rtl(lang) ? "rtl" : "ltr",
            "\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<meta name=\"generator\" content=\"",
            PACKAGE_STRING, "\">\n<title>", aod_words_title(s->words), " \xC2\xB7 ",
            aod_words_patient(s->words), "</title>\n<style>\n") != 0 ||
        aod_buf_adds(b, css) != 0 || print_margins(s) != 0 ||
        aod_buf_adds(b, "</style>\n</head>\n<body>\n") != 0)
        return -1;
    return 0;
}

static int write_error(html_sink *s, aod_error *err)
{
    aod_error_set(err, AOD_ERR_IO, NULL, 0, "html", "writing the HTML failed: %s",
                  strerror(errno ? errno : EIO));
    s->failed = 1;
    return -1;
}

/* Writes b to the output. */
static int flush_doc(html_sink *s, const aod_buf *b)
{
    errno = 0;
    return b->len == 0 || fwrite(b->data, 1, b->len, s->out) == b->len ? 0 : -1;
}

/* One section of the listing as a table: its heading, a caption with the
 * period, the column headers and the buffered rows, written out without
 * copying them.  Returns 0, -1 out of memory, -2 a write failed. */
static int table(html_sink *s, int sect)
{
    aod_buf *b = &s->doc;
    const char *title = aod_words_section(s->words, sect);
    char id[16];
    int c;

    snprintf(id, sizeof id, "listing-%d", sect + 1);
    if (PUT(b, "<section class=\"listing\" aria-labelledby=\"", id, "\">\n<h2 id=\"", id, "\">",
            title, "</h2>\n<table>\n<caption>", title, ": ", aod_words_period(s->words),
            "</caption>\n<thead><tr>") != 0)
        return -1;
    for (c = 0; c < AOD_WORDS_NCOL; c++)
        if (PUT(b, "<th scope=\"col\">", aod_words_column(s->words, c), "</th>") != 0)
            return -1;
    if (aod_buf_adds(b, "</tr></thead>\n<tbody>\n") != 0)
        return -1;
    if (flush_doc(s, b) != 0 || flush_doc(s, &s->sect[sect]) != 0)
        return -2;
    aod_buf_reset(b);
    aod_buf_free(&s->sect[sect]); /* written: give the memory back now */
    return aod_buf_adds(b, "</tbody>\n</table>\n</section>\n") != 0 ? -1 : 0;
}

static int html_end(aod_sink *base, const aod_report_summary *sum, aod_error *err)
{
    html_sink *s = (html_sink *)base;
    letter_state ls;
    int sect;

    if (!s->begun || s->ended || s->failed) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "html", "end() %s",
                      !s->begun  ? "before begin()"
                      : s->ended ? "called twice"
                                 : "after a failure");
        return -1;
    }
    s->ended = 1;
    if (head(s) != 0)
        return nomem(s, err);
    memset(&ls, 0, sizeof ls);
    ls.s = s;
    if (aod_words_letter(s->words, sum, s->rows, letter_block, &ls, err) != 0) {
        s->failed = 1;
        return -1;
    }
    if (close_open(s, AOD_WORDS_PARA) != 0)
        return nomem(s, err);
    if (!ls.began && aod_buf_adds(&s->doc, "<main>\n") != 0)
        return nomem(s, err);
    ls.began = 1;
    /* the summary, after the letter and before the detailed list */
    if (sum && sum->overview) {
        if (aod_buf_adds(&s->doc, "<section class=\"summary\">\n") != 0)
            return nomem(s, err);
        if (aod_words_overview(s->words, sum->overview, letter_block, &ls, err) != 0) {
            s->failed = 1;
            return -1;
        }
        if (close_open(s, AOD_WORDS_PARA) != 0 || aod_buf_adds(&s->doc, "</section>\n") != 0)
            return nomem(s, err);
    }
    for (sect = 0; sect < 2; sect++) {
        int rc = s->n_sect[sect] > 0 ? table(s, sect) : 0;
        if (rc == -1)
            return nomem(s, err);
        if (rc == -2)
            return write_error(s, err);
    }
    if (PUT(&s->doc, "</main>\n<footer>\n<p>", aod_words_generated(s->words), "</p>\n<p>",
            aod_words_get(s->words, "letter.footer.confidential"),
            "</p>\n</footer>\n</body>\n</html>\n") != 0)
        return nomem(s, err);
    if (flush_doc(s, &s->doc) != 0 || fflush(s->out) != 0 || ferror(s->out))
        return write_error(s, err);
    return 0;
}

static void html_free(aod_sink *base)
{
    html_sink *s = (html_sink *)base;

    if (!s)
        return;
    aod_words_free(s->words);
    aod_buf_free(&s->sect[0]);
    aod_buf_free(&s->sect[1]);
    aod_buf_free(&s->doc);
    free(s);
}

aod_sink *aod_html_sink_new(FILE *out, const aod_text *text, aod_error *err)
{
    html_sink *s;

    if (!out || !text) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "html", "no output or no templates");
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "html", "out of memory");
        return NULL;
    }
    s->base.begin = html_begin;
    s->base.entry = html_entry;
    s->base.end = html_end;
    s->base.free = html_free;
    s->out = out;
    s->text = text;
    aod_buf_init(&s->sect[0], TABLE_CAP);
    aod_buf_init(&s->sect[1], TABLE_CAP);
    aod_buf_init(&s->doc, LETTER_CAP);
    return &s->base;
}
