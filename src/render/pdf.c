/*
 * pdf.c - the PDF renderer (see pdf.h).
 *
 * Render stage.  The only file that knows libharu.  Table pages are drawn as
 * lines arrive, so the sink keeps one row at a time; the letter needs the
 * final counts, so end() draws it and inserts its pages in front of the
 * table, then draws every footer (the page count is known only then), then
 * writes the file.  libharu keeps each page's content in memory until the
 * file is written: memory grows with pages, never with audit records.
 *
 * What the letter and each line say comes from render/words.h, block by
 * block and cell by cell; this file lays it out.  The letterhead is drawn
 * from the policy in two columns before the first block.
 *
 * Text is measured here, from the font's advance widths (libharu applies no
 * kerning), so that wrapping is exact: a line is never wider than its box.
 * libharu reports errors through a handler; the handler only remembers the
 * first one, and the drawing code checks for it after each step.
 */
#include "render/pdf.h"

#include <errno.h>
#include <hpdf.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/timefmt.h"
#include "base/utf8.h"
#include "render/bidi.h"
#include "render/fontsubset.h"
#include "render/words.h"

#ifndef AOD_FONT_FILE
#define AOD_FONT_FILE "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
#endif
#ifndef AOD_FONT_BOLD_FILE
#define AOD_FONT_BOLD_FILE "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
#endif
#ifndef AOD_FALLBACK_FONT_FILE
#define AOD_FALLBACK_FONT_FILE "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
#endif
#ifndef PACKAGE_STRING
#define PACKAGE_STRING "aodreport"
#endif

/* ------------------------------------------------------------- geometry
 * Points (1/72 inch).  US Letter: the letter portrait, the table landscape
 * (seven columns need the width). */
#define PAGE_SHORT 612.0
#define PAGE_LONG  792.0

#define LETTER_MARGIN_X 64.0
#define LETTER_TOP      60.0 /* from the top edge to the letterhead's first baseline */
#define TABLE_MARGIN_X  36.0
#define HEADER_BASELINE 34.0 /* running header, from the top edge */
#define HEADER_RULE     41.0
#define CONTENT_TOP     54.0 /* where content starts below the running header */
#define FOOTER_RULE     40.0 /* from the bottom edge */
#define FOOTER_BASELINE 28.0
#define CONTENT_BOTTOM  52.0 /* nothing is drawn below this */

#define BODY_SIZE  10.0
#define BODY_LEAD  14.2
#define SMALL_SIZE 8.5
#define CELL_SIZE  8.0
#define CELL_LEAD  10.0
#define CELL_PAD_X 4.0
#define CELL_PAD_Y 4.0
#define FOOT_SIZE  7.5

/* The summary (issue 16 point 1): one table row per person or
 * organisation, dense enough that an ordinary patient's fits on the page
 * after the letter (tests/bench/summary-pages.py measures it). */
#define SUM_SIZE  8.5
#define SUM_LEAD  9.9
#define SUM_PAD_X 3.0
#define SUM_PAD_Y 2.2
#define SUM_NCOL  5

/* The table's columns. */
enum { COL_WHEN, COL_WHO, COL_WHAT, COL_WHERE, COL_WHY, COL_ACTION, COL_COUNT, NCOL };

/* Widths in points; each row sums to the table width (792 - 2 * 36). */
static const double col_width[2][NCOL] = {
    {70, 150, 134, 92, 106, 80, 88}, /* disclosures */
    {82, 146, 128, 90, 100, 86, 88}, /* access: date and time */
};

typedef struct rgb {
    float r, g, b;
} rgb;

static const rgb INK = {0.11f, 0.12f, 0.14f};
static const rgb MUTED = {0.38f, 0.40f, 0.44f};
static const rgb ACCENT = {0.07f, 0.29f, 0.44f};
static const rgb RULE = {0.80f, 0.82f, 0.85f};
static const rgb HEAD_BG = {0.90f, 0.93f, 0.96f};
static const rgb BOX_BG = {0.955f, 0.965f, 0.975f};

/* ---------------------------------------------------------------- state */

/* The regular and bold faces draw what they have; what they lack is drawn
 * with the fallback font (Chinese, Japanese, Korean), its bold stroked. */
enum { FACE_REGULAR, FACE_BOLD, FACE_FALLBACK, FACE_FALLBACK_BOLD, N_FACES };

#define WIDTH_CACHE 0x800 /* code points whose widths are cached: Latin, Greek, Cyrillic */

typedef struct face {
    HPDF_Font font;
    const aod_fontsubset_font *src; /* the whole font: widths, and the subset made at end() */
    aod_fontsubset_used used;       /* what was drawn with font (a stroked face: with regular) */
    int stroke;                     /* bold drawn by stroking the regular face */
    int16_t width[WIDTH_CACHE];     /* advance widths in 1/1000 em; -1 not yet known */
    int8_t by[WIDTH_CACHE];         /* the face that draws it (draw_face); -2 not yet known */
} face;

/* One wrapped line: a slice of a text buffer and how to draw it. */
enum { STYLE_NORMAL, STYLE_MUTED, STYLE_BOLD };

typedef struct span {
    size_t off, len;
    int style;
} span;

typedef struct spans {
    span *v;
    size_t n, cap;
} spans;

/* A table row laid out: its text, and each cell's lines as slices of it. */
typedef struct rowbuf {
    aod_buf text;
    spans cell[NCOL];
} rowbuf;

#define N_SAY 8 /* scratch buffers for phrases built from templates */

#define MAX_MISSING 8 /* characters the PDF cannot draw, named in the error */

/* Where the letter is drawn: a cursor on its current page. */
typedef struct flow {
    HPDF_Page page;
    double x, w; /* left edge and width of the text column */
    double y;    /* top of the next line */
} flow;

typedef struct pdf_sink {
    aod_sink base; /* first: the sink functions get an aod_sink * */
    FILE *out;
    const aod_text *text;
    char *font_file;
    char *bold_file; /* NULL: no bold face */

    aod_report_info info; /* copied; its pointers are borrowed */
    int begun, ended, failed, privacy, access;
    const char *title; /* borrowed from text */
    aod_words *words;  /* what the letter and each line say */
    aod_words_row wrow;

    HPDF_Doc doc;
    HPDF_STATUS hpdf_no, hpdf_detail; /* the first libharu error */
    int nomem;                        /* a scratch buffer could not grow */
    face faces[N_FACES];

    /* Scripts (see "scripts" below): the fallback font, the Arabic forms
     * drawn, and the characters the PDF cannot draw. */
    char *fallback_file; /* NULL: none */
    int fallback_state;  /* 0 not loaded yet, 1 loaded, -1 none or failed */
    aod_error fallback_err;
    aod_bidi_forms forms;
    aod_buf visual;
    const char *where; /* the field being laid out, for the message; NULL: area */
    long where_line;   /* its table line, 0 none */
    const char *area;  /* the part of the document being drawn */
    struct missing {
        uint32_t cp;
        char where[112];
    } missing[MAX_MISSING];
    size_t n_missing, missing_more; /* listed; occurrences of others */

    /* The outline (bookmarks): the letter, each section of the table and
     * each month in it. */
    struct mark {
        HPDF_Page page;
        double top;
        int level;  /* 0 top, 1 under the last top */
        int letter; /* 1: a mark of the letter (drawn last, listed first) */
        size_t off; /* its title in mark_text */
    } * marks;
    size_t n_marks, cap_marks;
    aod_buf mark_text;
    char month[8]; /* "YYYY-MM" of the last table line, "" none */
    /* Rows laid out and not yet drawn: the last two of a section wait
     * until it is known which is last, so that the last is never alone on
     * a page when the one before it can go with it. */
    rowbuf pend[2];
    int64_t pend_when[2];
    int n_pend;

    /* The open text object (see text_begin): what is already set in it, so
     * a row's lines share one BT..ET and repeat no operator. */
    HPDF_Page tpage; /* NULL: none open */
    int tface;       /* -1: none set */
    double tsize;
    rgb tcolor;

    /* Laying the summary out without drawing it, to know whether it fits
     * on one page: pages it would have started. */
    int measuring;
    int measured_pages;

    /* Table pages in order, then the letter's. */
    HPDF_Page *pages;
    size_t n_pages, cap_pages;
    HPDF_Page *letter;
    size_t n_letter, cap_letter;

    /* The table being drawn. */
    double col_x[NCOL], col_w[NCOL];
    HPDF_Page page; /* current table page, NULL before the first row */
    double y;       /* top of the next row */
    int page_rows;  /* rows (or parts of rows) on the current page */
    int section;    /* 0 the main table, 1 unsuccessful attempts */
    int titled;     /* the section's title is drawn */
    long rows;      /* lines drawn */

    /* Unsuccessful attempts kept for their own section (policy "separate"). */
    aod_entry *held;
    size_t n_held, cap_held;

    /* Scratch, reused: nothing here grows with the report. */
    rowbuf body, head; /* the row being drawn; the header row */
    aod_buf para;      /* a letter paragraph, and its lines: */
    spans lines;
    aod_buf one;     /* a string drawn on one line */
    aod_buf scratch; /* the NUL-terminated copy libharu draws */
    aod_buf say[N_SAY];
} pdf_sink;

/* ------------------------------------------------------------ failures */

static void HPDF_STDCALL on_hpdf_error(HPDF_STATUS no, HPDF_STATUS detail, void *user)
{
    pdf_sink *s = user;

    if (s && !s->hpdf_no) {
        s->hpdf_no = no;
        s->hpdf_detail = detail;
    }
}

/* Turns a remembered failure into err; returns -1 when there was one. */
static int check(pdf_sink *s, const char *doing, aod_error *err)
{
    if (s->fallback_err.code != AOD_OK) { /* the fallback font, loaded midway, failed */
        if (err && err->code == AOD_OK)
            *err = s->fallback_err;
        s->failed = 1;
        return -1;
    }
    if (s->nomem) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "pdf", "out of memory while %s", doing);
        s->failed = 1;
        return -1;
    }
    if (s->hpdf_no) {
        aod_errcode code = AOD_ERR_INTERNAL;
        if (s->hpdf_no == HPDF_FAILD_TO_ALLOC_MEM)
            code = AOD_ERR_NOMEM;
        else if (s->hpdf_no == HPDF_FILE_OPEN_ERROR || s->hpdf_no == HPDF_FILE_IO_ERROR ||
                 (s->hpdf_no >= HPDF_TTF_CANNOT_EMBEDDING_FONT &&
                  s->hpdf_no <= HPDF_TTF_MISSING_TABLE) ||
                 s->hpdf_no == HPDF_INVALID_FONTDEF_DATA || s->hpdf_no == HPDF_INVALID_TTC_FILE ||
                 s->hpdf_no == HPDF_INVALID_TTC_INDEX)
            code = AOD_ERR_IO;
        aod_error_set(err, code, NULL, 0, "pdf", "libharu error 0x%04X (detail %u) while %s",
                      (unsigned)s->hpdf_no, (unsigned)s->hpdf_detail, doing);
        s->failed = 1;
        return -1;
    }
    return 0;
}

static void *grow_array(void *v, size_t *cap, size_t size)
{
    size_t n = *cap ? *cap * 2 : 64;
    void *p = n <= SIZE_MAX / size ? realloc(v, n * size) : NULL;

    if (p)
        *cap = n;
    return p;
}

static int spans_push(pdf_sink *s, spans *l, size_t off, size_t len, int style)
{
    if (l->n == l->cap) {
        span *v = grow_array(l->v, &l->cap, sizeof *v);
        if (!v) {
            s->nomem = 1;
            return -1;
        }
        l->v = v;
    }
    l->v[l->n].off = off;
    l->v[l->n].len = len;
    l->v[l->n].style = style;
    l->n++;
    return 0;
}

static int has(const char *str)
{
    return str && *str;
}

static char *dup_str(const char *str)
{
    size_t n = strlen(str) + 1;
    char *p = malloc(n);

    if (p)
        memcpy(p, str, n);
    return p;
}

/* ---------------------------------------------------------------- UTF-8 */

/* The code point at *p in text already made clean (valid, BMP only). */
static uint32_t utf8_next(const char **p)
{
    const unsigned char *u = (const unsigned char *)*p;

    if (u[0] < 0x80) {
        *p += 1;
        return u[0];
    }
    if (u[0] < 0xE0) {
        *p += 2;
        return ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    }
    *p += 3;
    return ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
}

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

static void note_missing(pdf_sink *s, uint32_t cp);

/* Appends in to out, made fit to draw: runs of white space and control
 * characters become one space, the ends are trimmed, and what the font
 * machinery cannot take (invalid UTF-8, code points past U+FFFF, which
 * libharu's 16-bit Unicode type cannot carry) becomes U+FFFD, so nothing is
 * dropped without a trace (a code point past U+FFFF is noted: the document
 * fails).  Arabic is shaped (render/bidi.h). */
static int append_clean(pdf_sink *s, aod_buf *out, const char *in)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t start = out->len;
    int space = 0;

    while (*p) {
        size_t n = aod_utf8_decode(p, 4, NULL); /* NUL-terminated: a NUL ends a sequence */
        const void *add = p;
        size_t add_len = n;

        if (n == 1 && (*p <= 0x20 || *p == 0x7F)) {
            space = 1;
            p++;
            continue;
        }
        if (n == 2 && p[0] == 0xC2 && p[1] < 0xA0) { /* C1 controls */
            space = 1;
            p += 2;
            continue;
        }
        if (n == 4) {
            uint32_t cp = 0;
            aod_utf8_decode(p, 4, &cp);
            note_missing(s, cp);
        }
        if (n == 0 || n == 4) {
            add = REPLACEMENT;
            add_len = 3;
            n = n ? n : 1;
        }
        if (space && out->len > start && aod_buf_addc(out, ' ') != 0)
            goto nomem;
        space = 0;
        if (aod_buf_add(out, add, add_len) != 0)
            goto nomem;
        p += n;
    }
    if (out->len > start && aod_bidi_shape(out, start, &s->forms) != 0)
        goto nomem;
    return 0;
nomem:
    s->nomem = 1;
    return -1;
}

/* -------------------------------------------------------------- scripts
 * Latin, Greek, Cyrillic, Hebrew and Arabic are drawn with the main font
 * (Arabic shaped into its presentation forms, right-to-left lines put in
 * drawing order: render/bidi.h).  Characters it lacks are drawn with the
 * fallback font (Chinese, Japanese, Korean), loaded only when a document
 * needs it.  What neither has, and the scripts whose letters change shape
 * or place in ways only a shaping engine knows (Devanagari and the other
 * Indic scripts, Thai, Tibetan, Khmer, Myanmar, Syriac...), the PDF cannot
 * draw correctly: each such character is noted with where it occurs, and
 * end() refuses the document, pointing to the HTML output, rather than
 * print boxes or letters in the wrong shape. */

static int load_face(pdf_sink *s, int f, const char *path, aod_error *err);
static int font_failed(pdf_sink *s, const char *path, aod_error *err);
static int draw_face(pdf_sink *s, int f, uint32_t cp);

/* Code points whose script needs shaping that is not done here (U+0700
 * and up: the scripts below are all drawn right). */
static int needs_shaping(uint32_t cp)
{
    static const uint32_t ranges[][2] = {
        {0x0700, 0x077F}, /* Syriac, Arabic Supplement (no presentation forms) */
        {0x07C0, 0x0DFF}, /* N'Ko ... Arabic Extended, Devanagari ... Sinhala */
        {0x0E00, 0x0FFF}, /* Thai, Lao, Tibetan */
        {0x1000, 0x11FF}, /* Myanmar, Georgian is not here: 10A0-10FF */
        {0x1700, 0x1CFF}, /* Philippine scripts, Khmer, Mongolian ... Vedic */
        {0xA800, 0xABFF}, /* Syloti Nagri ... Meetei Mayek */
        {0xD7B0, 0xD7FF}, /* Hangul Jamo Extended-B */
    };
    size_t i;

    if (cp < 0x0700)
        return 0;
    for (i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if (cp >= ranges[i][0] && cp <= ranges[i][1])
            return !(cp >= 0x10A0 && cp <= 0x10FF); /* Georgian: simple */
    return 0;
}

/* Notes that cp cannot be drawn, at s->where (and line) or in s->area. */
static void note_missing(pdf_sink *s, uint32_t cp)
{
    struct missing *m;
    size_t i;

    for (i = 0; i < s->n_missing; i++)
        if (s->missing[i].cp == cp)
            return;
    if (s->n_missing == MAX_MISSING) {
        s->missing_more++;
        return;
    }
    m = &s->missing[s->n_missing++];
    m->cp = cp;
    if (s->where && s->where_line > 0)
        snprintf(m->where, sizeof m->where, "table line %ld, column \"%s\"", s->where_line,
                 s->where);
    else
        snprintf(m->where, sizeof m->where, "%s", s->where ? s->where : s->area ? s->area : "");
}

/* Notes each character of str (as the PDF would draw it) that cannot be
 * drawn, at where; for fields named before anything is drawn. */
static void check_field(pdf_sink *s, const char *str, const char *where)
{
    const char *p, *end;

    if (!str || !*str)
        return;
    s->where = where;
    aod_buf_reset(&s->one);
    if (append_clean(s, &s->one, str) == 0)
        for (p = s->one.data, end = p + s->one.len; p < end;) {
            uint32_t cp = utf8_next(&p);
            if (!aod_bidi_invisible(cp) &&
                (draw_face(s, FACE_REGULAR, cp) < 0 || needs_shaping(cp)))
                note_missing(s, cp);
        }
    s->where = NULL;
}

/* Notes the characters of a table cell's clean text that cannot be drawn
 * (at s->where: the line and the column). */
static void check_cell(pdf_sink *s, const char *p, size_t n)
{
    const char *end = p + n;

    while (p < end) {
        uint32_t cp = utf8_next(&p);
        if (cp >= 0x80 && !aod_bidi_invisible(cp) &&
            (draw_face(s, FACE_REGULAR, cp) < 0 || needs_shaping(cp)))
            note_missing(s, cp);
    }
}

/* The fields a report names before its lines: the first place their
 * characters are reported at, when the PDF cannot draw them. */
static void check_fields(pdf_sink *s)
{
    const aod_policy *p = s->info.policy;
    size_t i;

    check_field(s, s->info.patient_name, "the patient's name");
    check_field(s, p->organisation.name, "the policy's organisation name");
    for (i = 0; i < p->organisation.n_address; i++)
        check_field(s, p->organisation.address[i], "the policy's organisation address");
    check_field(s, p->organisation.privacy_name, "the policy's privacy office");
}

/* Loads the fallback font the first time a character needs it.  Returns 0,
 * or -1 when there is none (or it failed: fallback_err says why). */
static int load_fallback(pdf_sink *s)
{
    face *fb = &s->faces[FACE_FALLBACK], *fbb = &s->faces[FACE_FALLBACK_BOLD];

    if (s->fallback_state)
        return s->fallback_state > 0 ? 0 : -1;
    s->fallback_state = -1;
    if (!s->fallback_file)
        return -1;
    if (load_face(s, FACE_FALLBACK, s->fallback_file, &s->fallback_err) != 0 || s->hpdf_no) {
        font_failed(s, s->fallback_file, &s->fallback_err);
        return -1;
    }
    fbb->font = fb->font;
    fbb->src = fb->src;
    fbb->stroke = 1;
    s->fallback_state = 1;
    return 0;
}

/* The face that draws cp in style face f (regular or bold): f when its font
 * has cp, else the fallback font's face of that style when that has it;
 * -1 when neither has it. */
static int draw_face(pdf_sink *s, int f, uint32_t cp)
{
    face *fc = &s->faces[f];
    int g = -1, fb = f == FACE_BOLD ? FACE_FALLBACK_BOLD : FACE_FALLBACK;

    if (cp < WIDTH_CACHE && fc->by[cp] != -2)
        return fc->by[cp];
    if (aod_fontsubset_has(fc->src, cp))
        g = f;
    else if (load_fallback(s) == 0 && aod_fontsubset_has(s->faces[fb].src, cp))
        g = fb;
    if (cp < WIDTH_CACHE)
        fc->by[cp] = (int8_t)g;
    return g;
}

/* ------------------------------------------------------------ measuring */

/* The advance of cp in style face f as drawn (by f or its fallback). */
static int glyph_width(pdf_sink *s, int f, uint32_t cp)
{
    face *fc = &s->faces[f];
    int w, g;

    if (cp < WIDTH_CACHE && fc->width[cp] >= 0)
        return fc->width[cp];
    g = draw_face(s, f, cp);
    if (aod_bidi_invisible(cp))
        w = 0; /* never drawn */
    else
        w = aod_fontsubset_width(s->faces[g < 0 ? f : g].src, cp);
    if (w < 0)
        w = 0;
    if (cp < WIDTH_CACHE)
        fc->width[cp] = (int16_t)(w > INT16_MAX ? INT16_MAX : w);
    return w;
}

/* Width in points of the n bytes of clean text at p. */
static double text_width(pdf_sink *s, int f, const char *p, size_t n, double size)
{
    const char *end = p + n;
    long units = 0;

    while (p < end)
        units += glyph_width(s, f, utf8_next(&p));
    return (double)units * size / 1000.0;
}

/* Where a word too long for a line may break: after a dot, a slash and the
 * other separators of host names, URLs and codes ("hospital.example.org",
 * "https://h/fhir", "ITI-68"), never inside a run of letters. */
static int break_after(uint32_t cp)
{
    return cp == '.' || cp == '/' || cp == '-' || cp == '_' || cp == '@' || cp == '?' ||
           cp == '&' || cp == '=' || cp == ':' || cp == '|' || cp == ',' || cp == ';';
}

/* Wraps the clean text at buf[off, off + len) into lines no wider than
 * width, appended to out: by words where it can; a word wider than a whole
 * line is broken after its dots, slashes and other separators, each line
 * holding as much as fits; only a run without any (wider than the line by
 * itself) is broken between characters, so nothing is cut off. */
static int wrap(pdf_sink *s, const char *buf, size_t off, size_t len, int f, double size,
                double width, int style, spans *out)
{
    size_t i = off, end = off + len, ls = off, le = off;
    double lw = 0, sw = glyph_width(s, f, ' ') * size / 1000.0;
    int have = 0;

    while (i < end) {
        size_t j = i;
        double ww;

        while (j < end && buf[j] != ' ')
            j++;
        ww = text_width(s, f, buf + i, j - i, size);
        if (have && lw + sw + ww <= width) {
            lw += sw + ww;
            le = j;
        } else {
            if (have && spans_push(s, out, ls, le - ls, style) != 0)
                return -1;
            have = 0;
            if (ww <= width) {
                ls = i;
                le = j;
                lw = ww;
                have = 1;
            } else {
                size_t k = i;
                while (k < j) {
                    size_t m = k, brk = k;
                    double cw = 0;
                    while (m < j) {
                        const char *q = buf + m;
                        uint32_t cp = utf8_next(&q);
                        double gw = glyph_width(s, f, cp) * size / 1000.0;
                        if (m > k && cw + gw > width)
                            break;
                        cw += gw;
                        m = (size_t)(q - buf);
                        if (break_after(cp) && m < j)
                            brk = m;
                    }
                    if (m < j) {
                        if (brk > k) /* the last separator that fits */
                            m = brk;
                        if (spans_push(s, out, k, m - k, style) != 0)
                            return -1;
                    } else {
                        ls = k;
                        le = m;
                        lw = cw;
                        have = 1;
                    }
                    k = m;
                }
            }
        }
        i = j + 1;
    }
    if (have && spans_push(s, out, ls, le - ls, style) != 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------- drawing */

static int face_of(int style)
{
    return style == STYLE_BOLD ? FACE_BOLD : FACE_REGULAR;
}

static rgb color_of(int style)
{
    return style == STYLE_MUTED ? MUTED : INK;
}

/* Opens a text object on pg; the lines drawn until text_end() share it. */
static void text_begin(pdf_sink *s, HPDF_Page pg)
{
    HPDF_Page_BeginText(pg);
    s->tpage = pg;
    s->tface = -1;
    s->tsize = 0;
}

static void text_end(pdf_sink *s)
{
    if (!s->tpage)
        return;
    if (s->tface >= 0 && s->faces[s->tface].stroke)
        HPDF_Page_SetTextRenderingMode(s->tpage, HPDF_FILL);
    HPDF_Page_EndText(s->tpage);
    s->tpage = NULL;
}

/* Draws s->scratch in face g with its baseline at (x, y), in the open text
 * object. */
static void text_run(pdf_sink *s, int g, double size, rgb c, double x, double y)
{
    HPDF_Page pg = s->tpage;
    const face *fc = &s->faces[g];
    int restyle = s->tface != g || s->tsize != size || s->tcolor.r != c.r || s->tcolor.g != c.g ||
                  s->tcolor.b != c.b;

    if (restyle) {
        if (s->tcolor.r != c.r || s->tcolor.g != c.g || s->tcolor.b != c.b || s->tface < 0)
            HPDF_Page_SetRGBFill(pg, c.r, c.g, c.b);
        if (s->tface != g || s->tsize != size)
            HPDF_Page_SetFontAndSize(pg, fc->font, (HPDF_REAL)size);
        if (fc->stroke) { /* bold by stroking: the outline in the fill's colour */
            HPDF_Page_SetRGBStroke(pg, c.r, c.g, c.b);
            HPDF_Page_SetLineWidth(pg, (HPDF_REAL)(size * 0.045));
        }
        if (s->tface < 0 || fc->stroke != s->faces[s->tface].stroke)
            HPDF_Page_SetTextRenderingMode(pg, fc->stroke ? HPDF_FILL_THEN_STROKE : HPDF_FILL);
        s->tface = g;
        s->tsize = size;
        s->tcolor = c;
    }
    aod_fontsubset_mark(&s->faces[g].used, s->scratch.data, s->scratch.len);
    HPDF_Page_TextOut(pg, (HPDF_REAL)x, (HPDF_REAL)y, aod_buf_str(&s->scratch));
}

/* Draws the n bytes of clean text at p (logical order) with its baseline
 * at (x, y), in the open text object, in style face f: right-to-left runs
 * put in drawing order, each character in the face that has it (f or its
 * fallback), invisible formatting characters left out.  A character no
 * face can draw is noted for the error at end(). */
static void text_line(pdf_sink *s, int f, double size, rgb c, double x, double y, const char *p,
                      size_t n)
{
    const char *q, *end, *run;
    int g = -1;

    if (n == 0 || s->nomem || s->hpdf_no || !s->tpage)
        return;
    if (aod_bidi_has_rtl(p, n)) {
        aod_buf_reset(&s->visual);
        if (aod_bidi_visual(p, n, &s->visual) != 0) {
            s->nomem = 1;
            return;
        }
        p = s->visual.len ? s->visual.data : "";
        n = s->visual.len;
    }
    end = p + n;
    for (q = run = p;;) {
        const char *at = q;
        int h = -2; /* -2: the end; -1: not drawn */

        if (q < end) {
            uint32_t cp = utf8_next(&q);
            h = -1;
            if (!aod_bidi_invisible(cp)) {
                h = draw_face(s, f, cp);
                if (h < 0 || needs_shaping(cp))
                    note_missing(s, cp);
                if (h < 0)
                    h = f; /* drawn as the font's "missing" box: the document fails */
            }
        }
        if (h == g)
            continue;
        if (g >= 0 && at > run) {
            aod_buf_reset(&s->scratch);
            if (aod_buf_add(&s->scratch, run, (size_t)(at - run)) != 0) {
                s->nomem = 1;
                return;
            }
            text_run(s, g, size, c, x, y);
            x += text_width(s, f, run, (size_t)(at - run), size);
        }
        run = at;
        g = h;
        if (at == end)
            return;
    }
}

/* One line in a text object of its own. */
static void draw_text(pdf_sink *s, HPDF_Page pg, int f, double size, rgb c, double x, double y,
                      const char *p, size_t n)
{
    if (n == 0)
        return;
    text_begin(s, pg);
    text_line(s, f, size, c, x, y, p, n);
    text_end(s);
}

/* Draws a string (not yet clean) on one line; returns its width. */
static double draw_str(pdf_sink *s, HPDF_Page pg, int f, double size, rgb c, double x, double y,
                       const char *str)
{
    double w;

    aod_buf_reset(&s->one);
    if (append_clean(s, &s->one, str) != 0)
        return 0;
    w = text_width(s, f, aod_buf_str(&s->one), s->one.len, size);
    draw_text(s, pg, f, size, c, x, y, aod_buf_str(&s->one), s->one.len);
    return w;
}

/* The same, ending at x (right aligned). */
static void draw_str_right(pdf_sink *s, HPDF_Page pg, int f, double size, rgb c, double x, double y,
                           const char *str)
{
    double w;

    aod_buf_reset(&s->one);
    if (append_clean(s, &s->one, str) != 0)
        return;
    w = text_width(s, f, aod_buf_str(&s->one), s->one.len, size);
    draw_text(s, pg, f, size, c, x - w, y, aod_buf_str(&s->one), s->one.len);
}

static void fill_rect(HPDF_Page pg, rgb c, double x, double y, double w, double h)
{
    HPDF_Page_SetRGBFill(pg, c.r, c.g, c.b);
    HPDF_Page_Rectangle(pg, (HPDF_REAL)x, (HPDF_REAL)y, (HPDF_REAL)w, (HPDF_REAL)h);
    HPDF_Page_Fill(pg);
}

static void hline(HPDF_Page pg, rgb c, double width, double x0, double x1, double y)
{
    HPDF_Page_SetRGBStroke(pg, c.r, c.g, c.b);
    HPDF_Page_SetLineWidth(pg, (HPDF_REAL)width);
    HPDF_Page_MoveTo(pg, (HPDF_REAL)x0, (HPDF_REAL)y);
    HPDF_Page_LineTo(pg, (HPDF_REAL)x1, (HPDF_REAL)y);
    HPDF_Page_Stroke(pg);
}

/* ------------------------------------------------------------ templates */

/* The words for key; the key itself when no template has it, so a missing
 * template shows instead of vanishing. */
static const char *T(const pdf_sink *s, const char *key)
{
    const char *v = aod_text_get(s->text, key);

    return v ? v : key;
}

/* Expands key's words with vars into scratch buffer slot; "" when out of
 * memory (remembered, and reported by the next check()). */
static const char *say(pdf_sink *s, int slot, const char *key, const char *const *vars)
{
    static const char *const none[] = {NULL};
    aod_error ignored;

    aod_buf_reset(&s->say[slot]);
    aod_error_init(&ignored);
    if (aod_text_expand(&s->say[slot], T(s, key), vars ? vars : none, &ignored) != 0) {
        s->nomem = 1;
        return "";
    }
    return aod_buf_str(&s->say[slot]);
}

/* -------------------------------------------------------------- pages */

/* The outline's marks (see "the document's structure" below). */
static void add_mark(pdf_sink *s, HPDF_Page page, double top, int level, int in_letter,
                     const char *str);
static void mark_month(pdf_sink *s, const aod_entry *e, double top);

static int push_page(pdf_sink *s, HPDF_Page **v, size_t *n, size_t *cap, HPDF_Page pg)
{
    if (*n == *cap) {
        HPDF_Page *p = grow_array(*v, cap, sizeof *p);
        if (!p) {
            s->nomem = 1;
            return -1;
        }
        *v = p;
    }
    (*v)[(*n)++] = pg;
    return 0;
}

static const char *patient_name(const pdf_sink *s)
{
    return aod_words_patient(s->words);
}

/* The organisation on the left, the report's title and the patient on the
 * right, over a rule: on every page but the letter's first.  When both do
 * not fit, the title gives way (the patient's name stays). */
static void running_header(pdf_sink *s, HPDF_Page pg, double margin)
{
    double w = HPDF_Page_GetWidth(pg), h = HPDF_Page_GetHeight(pg), left = 0, right;
    const char *org = s->info.policy->organisation.name;
    aod_buf *b = &s->say[7];

    if (has(org))
        left = draw_str(s, pg, FACE_BOLD, SMALL_SIZE, ACCENT, margin, h - HEADER_BASELINE, org);
    aod_buf_reset(b);
    if (aod_buf_adds(b, s->title) != 0 || aod_buf_adds(b, " \xC2\xB7 ") != 0 ||
        aod_buf_adds(b, patient_name(s)) != 0) {
        s->nomem = 1;
        return;
    }
    right = text_width(s, FACE_REGULAR, aod_buf_str(b), b->len, SMALL_SIZE);
    draw_str_right(s, pg, FACE_REGULAR, SMALL_SIZE, MUTED, w - margin, h - HEADER_BASELINE,
                   left + 16 + right <= w - 2 * margin ? aod_buf_str(b) : patient_name(s));
    hline(pg, RULE, 0.6, margin, w - margin, h - HEADER_RULE);
}

static void footer(pdf_sink *s, HPDF_Page pg, size_t no, size_t total, const char *generated)
{
    double w = HPDF_Page_GetWidth(pg);
    double margin = w > PAGE_SHORT ? TABLE_MARGIN_X : LETTER_MARGIN_X;
    char a[24], b[24];
    const char *vars[5];
    const char *conf = T(s, "letter.footer.confidential");
    double cw;

    hline(pg, RULE, 0.6, margin, w - margin, FOOTER_RULE);
    draw_str(s, pg, FACE_REGULAR, FOOT_SIZE, MUTED, margin, FOOTER_BASELINE, generated);
    aod_buf_reset(&s->one);
    if (append_clean(s, &s->one, conf) == 0) {
        cw = text_width(s, FACE_REGULAR, aod_buf_str(&s->one), s->one.len, FOOT_SIZE);
        draw_text(s, pg, FACE_REGULAR, FOOT_SIZE, MUTED, (w - cw) / 2, FOOTER_BASELINE,
                  aod_buf_str(&s->one), s->one.len);
    }
    snprintf(a, sizeof a, "%zu", no);
    snprintf(b, sizeof b, "%zu", total);
    vars[0] = "page";
    vars[1] = a;
    vars[2] = "pages";
    vars[3] = b;
    vars[4] = NULL;
    draw_str_right(s, pg, FACE_REGULAR, FOOT_SIZE, INK, w - margin, FOOTER_BASELINE,
                   say(s, 2, "letter.footer.page", vars));
}

/* ---------------------------------------------------------------- table */

static const char *col_label(const pdf_sink *s, int c)
{
    return aod_words_column(s->words, c);
}

static void row_reset(rowbuf *r)
{
    int c;

    aod_buf_reset(&r->text);
    for (c = 0; c < NCOL; c++)
        r->cell[c].n = 0;
}

/* Appends str (made clean) to the row's text, wrapped into cell c. */
static int cell_add(pdf_sink *s, rowbuf *r, int c, const char *str, int style)
{
    size_t off = r->text.len;

    if (!str || !*str)
        return 0;
    if (append_clean(s, &r->text, str) != 0)
        return -1;
    if (r->text.len == off)
        return 0;
    return wrap(s, r->text.data, off, r->text.len - off, face_of(style), CELL_SIZE,
                s->col_w[c] - 2 * CELL_PAD_X, style, &r->cell[c]);
}

static size_t row_lines(const rowbuf *r)
{
    size_t n = 1;
    int c;

    for (c = 0; c < NCOL; c++)
        if (r->cell[c].n > n)
            n = r->cell[c].n;
    return n;
}

static double row_height(size_t lines)
{
    return 2 * CELL_PAD_Y + (double)(lines - 1) * CELL_LEAD + CELL_SIZE;
}

static double table_right(const pdf_sink *s)
{
    return s->col_x[NCOL - 1] + s->col_w[NCOL - 1];
}

/* Draws lines [a, b) of every cell of r in a row whose top is at top. */
static void draw_cells(pdf_sink *s, const rowbuf *r, double top, size_t a, size_t b)
{
    int c;
    size_t i;

    text_begin(s, s->page);
    for (c = 0; c < NCOL; c++) {
        for (i = a; i < b && i < r->cell[c].n; i++) {
            const span *sp = &r->cell[c].v[i];
            double base = top - CELL_PAD_Y - 0.78 * CELL_SIZE - (double)(i - a) * CELL_LEAD;
            text_line(s, face_of(sp->style), CELL_SIZE, color_of(sp->style),
                      s->col_x[c] + CELL_PAD_X, base, r->text.data + sp->off, sp->len);
        }
    }
    text_end(s);
}

static double page_top(HPDF_Page pg)
{
    return HPDF_Page_GetHeight(pg) - CONTENT_TOP;
}

/* The header row: labels wrapped like any row, on a tinted band. */
static void header_row(pdf_sink *s)
{
    rowbuf *r = &s->head;
    double h;
    int c;

    if (r->text.len == 0) { /* laid out once, drawn on every page */
        for (c = 0; c < NCOL; c++)
            if (cell_add(s, r, c, col_label(s, c), STYLE_BOLD) != 0)
                return;
    }
    h = row_height(row_lines(r));
    fill_rect(s->page, HEAD_BG, s->col_x[0], s->y - h, table_right(s) - s->col_x[0], h);
    draw_cells(s, r, s->y, 0, row_lines(r));
    hline(s->page, ACCENT, 0.8, s->col_x[0], table_right(s), s->y - h);
    s->y -= h;
}

static const char *section_title(const pdf_sink *s)
{
    return aod_words_section(s->words, s->section);
}

/* A new landscape page with the running header, the section's title when
 * the section starts here, and the header row. */
static int table_page(pdf_sink *s)
{
    HPDF_Page pg = HPDF_AddPage(s->doc);

    if (!pg)
        return -1;
    HPDF_Page_SetSize(pg, HPDF_PAGE_SIZE_LETTER, HPDF_PAGE_LANDSCAPE);
    if (push_page(s, &s->pages, &s->n_pages, &s->cap_pages, pg) != 0)
        return -1;
    s->page = pg;
    s->page_rows = 0;
    running_header(s, pg, TABLE_MARGIN_X);
    s->y = page_top(pg);
    if (!s->titled) {
        double w;
        add_mark(s, pg, s->y, 0, 0, section_title(s));
        w = draw_str(s, pg, FACE_BOLD, 12, ACCENT, TABLE_MARGIN_X, s->y - 12, section_title(s));
        draw_str(s, pg, FACE_REGULAR, 9, MUTED, TABLE_MARGIN_X + w + 10, s->y - 12,
                 aod_words_period(s->words));
        s->y -= 24;
        s->titled = 1;
    }
    header_row(s);
    return s->nomem || s->hpdf_no ? -1 : 0;
}

/* Draws the row laid out in r (its line's time when, for the outline's
 * month): on this page when it fits, else on a new one.  Only a row taller
 * than a whole page is split, and its rest continues under the header row
 * of the next page. */
static int place_row(pdf_sink *s, const rowbuf *r, int64_t when)
{
    size_t n = row_lines(r), a = 0;

    while (a < n) {
        size_t fit, b;
        double room;

        if (!s->page && table_page(s) != 0)
            return -1;
        room = s->y - CONTENT_BOTTOM - 2 * CELL_PAD_Y - CELL_SIZE;
        fit = room < 0 ? 0 : (size_t)(room / CELL_LEAD) + 1;
        if (fit < n - a && (s->page_rows > 0 || fit == 0)) {
            s->page = NULL; /* a fresh page holds more of it */
            continue;
        }
        b = a + fit < n ? a + fit : n;
        if (a == 0) {
            aod_entry at;
            memset(&at, 0, sizeof at);
            at.when_start = when;
            mark_month(s, &at, s->y);
        }
        draw_cells(s, r, s->y, a, b);
        s->y -= row_height(b - a);
        hline(s->page, RULE, 0.4, s->col_x[0], table_right(s), s->y);
        s->page_rows++;
        a = b;
        if (a < n)
            s->page = NULL;
    }
    return s->nomem || s->hpdf_no ? -1 : 0;
}

/* Lays out one line of the report in the cells (render/words.h says what
 * is in them) and draws it. */
static int render_entry(pdf_sink *s, const aod_entry *e)
{
    const aod_words_row *w = &s->wrow;
    rowbuf *r = &s->body;
    aod_error ignored;
    size_t i;
    int c, rc;

    aod_error_init(&ignored);
    if (aod_words_line(s->words, e, &s->wrow, &ignored) != 0) {
        s->nomem = 1; /* the entry was checked: only memory can fail */
        return -1;
    }
    row_reset(r);
    for (c = 0; c < NCOL; c++) {
        size_t from = r->text.len;
        s->where = aod_words_column(s->words, c);
        s->where_line = s->rows + 1;
        for (i = 0; i < w->n[c]; i++)
            if (cell_add(s, r, c, w->part[c][i].text,
                         w->part[c][i].muted ? STYLE_MUTED : STYLE_NORMAL) != 0)
                return -1;
        check_cell(s, r->text.data + from, r->text.len - from);
    }
    s->where = NULL;
    s->where_line = 0;
    if (s->nomem)
        return -1;
    s->rows++;
    /* the oldest waiting row is not the last two: it is drawn now */
    if (s->n_pend == 2) {
        rowbuf t = s->pend[0];
        rc = place_row(s, &s->pend[0], s->pend_when[0]);
        s->pend[0] = s->pend[1];
        s->pend_when[0] = s->pend_when[1];
        s->pend[1] = t;
        s->n_pend = 1;
        if (rc != 0)
            return -1;
    }
    /* this row waits: swap its buffers with the free pending slot's */
    {
        rowbuf t = s->pend[s->n_pend];
        s->pend[s->n_pend] = *r;
        *r = t;
        s->pend_when[s->n_pend] = e->when_start;
        s->n_pend++;
    }
    return 0;
}

/* The section's last rows: the one before the last goes to a new page
 * with it when the last alone would not fit on this one. */
static int flush_rows(pdf_sink *s)
{
    int rc = 0;

    if (s->n_pend == 2) {
        double room = s->page ? s->y - CONTENT_BOTTOM : 0;
        double h0 = row_height(row_lines(&s->pend[0])), h1 = row_height(row_lines(&s->pend[1]));
        if (s->page && s->page_rows > 0 && h0 <= room && h0 + h1 > room &&
            h0 + h1 <= page_top(s->page) - CONTENT_BOTTOM - 60)
            s->page = NULL; /* both on the next page */
        rc = place_row(s, &s->pend[0], s->pend_when[0]);
        if (rc == 0)
            rc = place_row(s, &s->pend[1], s->pend_when[1]);
    } else if (s->n_pend == 1) {
        rc = place_row(s, &s->pend[0], s->pend_when[0]);
    }
    s->n_pend = 0;
    return rc;
}

/* --------------------------------------------------------------- letter */

#define LETTER_W (PAGE_SHORT - 2 * LETTER_MARGIN_X)

/* A new portrait page for the letter, in front of the table. */
static int letter_page(pdf_sink *s, flow *fl)
{
    HPDF_Page pg;

    if (s->measuring) {
        s->measured_pages++;
        fl->x = LETTER_MARGIN_X;
        fl->w = LETTER_W;
        fl->y = PAGE_LONG - CONTENT_TOP;
        return 0;
    }
    pg = s->n_pages ? HPDF_InsertPage(s->doc, s->pages[0]) : HPDF_AddPage(s->doc);
    if (!pg)
        return -1;
    HPDF_Page_SetSize(pg, HPDF_PAGE_SIZE_LETTER, HPDF_PAGE_PORTRAIT);
    if (push_page(s, &s->letter, &s->n_letter, &s->cap_letter, pg) != 0)
        return -1;
    fl->page = pg;
    fl->x = LETTER_MARGIN_X;
    fl->w = LETTER_W;
    fl->y = page_top(pg);
    if (s->n_letter > 1)
        running_header(s, pg, LETTER_MARGIN_X);
    return 0;
}

/* Makes room for h points, on a new page when this one is full. */
static int need(pdf_sink *s, flow *fl, double h)
{
    if (fl->y - h >= CONTENT_BOTTOM)
        return 0;
    return letter_page(s, fl);
}

/* A paragraph: wrapped, each line placed (pages break between lines). */
static int para(pdf_sink *s, flow *fl, const char *str, int style, double size, double lead, rgb c,
                double indent)
{
    size_t i;

    if (!has(str))
        return 0;
    s->lines.n = 0;
    aod_buf_reset(&s->para);
    if (append_clean(s, &s->para, str) != 0 || wrap(s, s->para.data, 0, s->para.len, face_of(style),
                                                    size, fl->w - indent, style, &s->lines) != 0)
        return -1;
    /* No widows or orphans: a paragraph of up to three lines stays on one
     * page, and a longer one leaves at least two lines on each side. */
    if (fl->y - (double)s->lines.n * lead < CONTENT_BOTTOM) {
        size_t fit = (size_t)((fl->y - CONTENT_BOTTOM) / lead);
        if ((s->lines.n <= 3 || fit < 2) && letter_page(s, fl) != 0)
            return -1;
    }
    for (i = 0; i < s->lines.n; i++) {
        const span *sp = &s->lines.v[i];
        if (i + 2 == s->lines.n && i >= 2 && fl->y - 2 * lead < CONTENT_BOTTOM &&
            fl->y - lead >= CONTENT_BOTTOM && letter_page(s, fl) != 0)
            return -1; /* the last line would be alone on the next page */
        if (need(s, fl, lead) != 0)
            return -1;
        if (!s->measuring)
            draw_text(s, fl->page, face_of(style), size, c, fl->x + indent, fl->y - size,
                      s->para.data + sp->off, sp->len);
        fl->y -= lead;
    }
    return s->nomem || s->hpdf_no ? -1 : 0;
}

static int body(pdf_sink *s, flow *fl, const char *str)
{
    if (!has(str))
        return 0;
    if (para(s, fl, str, STYLE_NORMAL, BODY_SIZE, BODY_LEAD, INK, 0) != 0)
        return -1;
    fl->y -= 5;
    return 0;
}

static int heading(pdf_sink *s, flow *fl, const char *str)
{
    if (need(s, fl, 10 + 18 + 3 * BODY_LEAD) != 0)
        return -1;
    fl->y -= 10;
    if (para(s, fl, str, STYLE_BOLD, 11.5, 17, ACCENT, 0) != 0)
        return -1;
    fl->y -= 2;
    return 0;
}

/* A bullet, its text hanging; an optional muted note after it. */
static int bullet(pdf_sink *s, flow *fl, const char *str, const char *note)
{
    double top;
    HPDF_Page pg;

    if (need(s, fl, BODY_LEAD) != 0)
        return -1;
    top = fl->y;
    pg = fl->page;
    /* The bullet first, so text extraction reads it before its text. */
    draw_str(s, pg, FACE_REGULAR, BODY_SIZE, ACCENT, fl->x + 5, top - BODY_SIZE, "\xE2\x80\xA2");
    if (para(s, fl, str, STYLE_NORMAL, BODY_SIZE, BODY_LEAD, INK, 16) != 0)
        return -1;
    if (has(note) && para(s, fl, note, STYLE_MUTED, 9, 12.5, MUTED, 16) != 0)
        return -1;
    fl->y -= 2;
    return 0;
}

/* The letterhead: the organisation on the left, the privacy office on the
 * right, a rule under both. */
static int letterhead(pdf_sink *s, flow *fl)
{
    const aod_policy *p = s->info.policy;
    double left_w = fl->w * 0.58, right_x = fl->x + fl->w, y = fl->y, ly, ry;
    size_t i;
    flow f = *fl;

    /* Left column: organisation name and address. */
    f.w = left_w;
    f.y = y + 4;
    if (para(s, &f, p->organisation.name, STYLE_BOLD, 17, 21, ACCENT, 0) != 0)
        return -1;
    f.y -= 2;
    for (i = 0; i < p->organisation.n_address; i++)
        if (para(s, &f, p->organisation.address[i], STYLE_NORMAL, 9, 12, MUTED, 0) != 0)
            return -1;
    ly = f.y;

    /* Right column: the privacy office, right aligned. */
    ry = y - 9;
    if (has(p->organisation.privacy_name)) {
        draw_str_right(s, fl->page, FACE_BOLD, 9, INK, right_x, ry, p->organisation.privacy_name);
        ry -= 12;
    }
    if (has(p->organisation.privacy_phone)) {
        aod_buf_reset(&s->say[0]);
        if (aod_buf_printf(&s->say[0], "%s: %s", T(s, "letter.fact.phone"),
                           p->organisation.privacy_phone) != 0)
            goto nomem;
        draw_str_right(s, fl->page, FACE_REGULAR, 9, MUTED, right_x, ry, aod_buf_str(&s->say[0]));
        ry -= 12;
    }
    if (has(p->organisation.privacy_email)) {
        aod_buf_reset(&s->say[0]);
        if (aod_buf_printf(&s->say[0], "%s: %s", T(s, "letter.fact.email"),
                           p->organisation.privacy_email) != 0)
            goto nomem;
        draw_str_right(s, fl->page, FACE_REGULAR, 9, MUTED, right_x, ry, aod_buf_str(&s->say[0]));
        ry -= 12;
    }
    fl->y = (ly < ry + 9 ? ly : ry + 9) - 8;
    hline(fl->page, ACCENT, 1.2, fl->x, fl->x + fl->w, fl->y);
    fl->y -= 18;
    return 0;
nomem:
    s->nomem = 1;
    return -1;
}

#define MAX_FACTS    8
#define FACT_LABEL_W 138.0

typedef struct fact {
    const char *label; /* words, borrowed from the templates */
    aod_buf value;
} fact;

/* The facts of the request in a tinted box: a muted label, its value
 * wrapped beside it. */
static int facts_box(pdf_sink *s, flow *fl, const fact *facts, size_t n)
{
    const double pad = 10, lead = 13.5, gap = 3;
    size_t first[MAX_FACTS + 1], i, j;
    double h = 2 * pad - gap, top, y;

    /* Wrap every value first, to know the box's height. */
    aod_buf_reset(&s->para);
    s->lines.n = 0;
    for (i = 0; i < n; i++) {
        size_t off = s->para.len;
        first[i] = s->lines.n;
        if (append_clean(s, &s->para, aod_buf_str(&facts[i].value)) != 0 ||
            wrap(s, s->para.data, off, s->para.len - off, FACE_REGULAR, BODY_SIZE,
                 fl->w - 2 * pad - FACT_LABEL_W, STYLE_NORMAL, &s->lines) != 0)
            return -1;
        if (s->lines.n == first[i] && spans_push(s, &s->lines, off, 0, STYLE_NORMAL) != 0)
            return -1;
        h += (double)(s->lines.n - first[i]) * lead + gap;
    }
    first[n] = s->lines.n;
    if (need(s, fl, h) != 0)
        return -1;
    top = fl->y;
    fill_rect(fl->page, BOX_BG, fl->x, top - h, fl->w, h);
    fill_rect(fl->page, ACCENT, fl->x, top - h, 2.5, h);
    y = top - pad;
    for (i = 0; i < n; i++) {
        draw_str(s, fl->page, FACE_REGULAR, 9, MUTED, fl->x + pad + 4, y - BODY_SIZE,
                 facts[i].label);
        for (j = first[i]; j < first[i + 1]; j++) {
            const span *sp = &s->lines.v[j];
            draw_text(s, fl->page, FACE_REGULAR, BODY_SIZE, INK, fl->x + pad + FACT_LABEL_W,
                      y - BODY_SIZE, s->para.data + sp->off, sp->len);
            y -= lead;
        }
        y -= gap;
    }
    fl->y = top - h - 14;
    return s->nomem || s->hpdf_no ? -1 : 0;
}

/* The summary's table (issue 16 point 1), laid out as its rows arrive and
 * drawn at its end, when it is known which row would be left alone on a
 * page.  Widths in points: who, first and last day, how many, the kinds of
 * data, the reasons; they sum to the letter's text width. */
static const double sum_width[SUM_NCOL] = {126, 58, 38, 130, 132};

typedef struct sumtab {
    rowbuf head;
    rowbuf *rows;
    size_t n, cap;
} sumtab;

/* Where the letter is being drawn, for the blocks render/words.h says. */
typedef struct letter {
    pdf_sink *s;
    flow fl;
    fact facts[MAX_FACTS];
    size_t n_facts;
    int signed_; /* the signature's first line is drawn */
    /* The summary: drawn denser than the letter; the place kept under its
     * totals for saying that it continues, when it does. */
    int summary;
    int totals_said;
    const char *continues; /* NULL: it fits on its page */
    sumtab tab;
    /* The last heading and the paragraph after it, drawn when the next
     * block is known (see hold()). */
    aod_buf held_heading, held_para;
    int has_heading, has_para;
} letter;

static size_t sum_lines(const rowbuf *r)
{
    size_t n = 1;
    int c;

    for (c = 0; c < SUM_NCOL; c++)
        if (r->cell[c].n > n)
            n = r->cell[c].n;
    return n;
}

static double sum_height(const rowbuf *r)
{
    return 2 * SUM_PAD_Y + (double)(sum_lines(r) - 1) * SUM_LEAD + SUM_SIZE;
}

/* Lays out the cells of a summary row (words' parts) into r. */
static int sum_layout(pdf_sink *s, rowbuf *r, const aod_words_row *row, int bold)
{
    int c;
    size_t i;

    row_reset(r);
    for (c = 0; c < SUM_NCOL; c++) {
        double w = sum_width[c] - 2 * SUM_PAD_X;
        for (i = 0; i < row->n[c]; i++) {
            const aod_words_part *pt = &row->part[c][i];
            int style = bold ? STYLE_BOLD : pt->muted ? STYLE_MUTED : STYLE_NORMAL;
            size_t off = r->text.len;
            if (!has(pt->text))
                continue;
            if (append_clean(s, &r->text, pt->text) != 0)
                return -1;
            if (r->text.len > off && wrap(s, r->text.data, off, r->text.len - off, face_of(style),
                                          SUM_SIZE, w, style, &r->cell[c]) != 0)
                return -1;
        }
    }
    return s->nomem ? -1 : 0;
}

static void sum_draw(pdf_sink *s, flow *fl, const rowbuf *r, int head)
{
    double x = fl->x, h = sum_height(r);
    size_t i;
    int c;

    if (s->measuring) {
        fl->y -= h;
        return;
    }
    if (head)
        fill_rect(fl->page, HEAD_BG, fl->x, fl->y - h, fl->w, h);
    text_begin(s, fl->page);
    for (c = 0; c < SUM_NCOL; c++) {
        for (i = 0; i < r->cell[c].n; i++) {
            const span *sp = &r->cell[c].v[i];
            double base = fl->y - SUM_PAD_Y - 0.78 * SUM_SIZE - (double)i * SUM_LEAD;
            double cx = x + SUM_PAD_X;
            if (c == AOD_WORDS_SUM_COUNT) /* numbers right aligned */
                cx = x + sum_width[c] - SUM_PAD_X -
                     text_width(s, face_of(sp->style), r->text.data + sp->off, sp->len, SUM_SIZE);
            text_line(s, face_of(sp->style), SUM_SIZE, color_of(sp->style), cx, base,
                      r->text.data + sp->off, sp->len);
        }
        x += sum_width[c];
    }
    text_end(s);
    fl->y -= h;
    hline(fl->page, head ? ACCENT : RULE, head ? 0.8 : 0.4, fl->x, fl->x + fl->w, fl->y);
}

/* Draws the summary's rows: a row never splits, the header row starts each
 * page, and the last row is never left alone on a page when the row
 * before it can go with it. */
static int sum_place(pdf_sink *s, flow *fl, sumtab *t)
{
    size_t i, on_page = 0;

    if (need(s, fl, sum_height(&t->head) + (t->n ? sum_height(&t->rows[0]) : 0)) != 0)
        return -1;
    sum_draw(s, fl, &t->head, 1);
    for (i = 0; i < t->n; i++) {
        double h = sum_height(&t->rows[i]);
        int alone = i + 2 == t->n && on_page > 0 && fl->y - h >= CONTENT_BOTTOM &&
                    fl->y - h - sum_height(&t->rows[i + 1]) < CONTENT_BOTTOM;
        if (fl->y - h < CONTENT_BOTTOM || alone) {
            if (letter_page(s, fl) != 0)
                return -1;
            sum_draw(s, fl, &t->head, 1);
            on_page = 0;
        }
        sum_draw(s, fl, &t->rows[i], 0);
        on_page++;
    }
    fl->y -= 6;
    return s->nomem || s->hpdf_no ? -1 : 0;
}

static void sum_free(sumtab *t)
{
    size_t i;
    int c;

    for (i = 0; i < t->n; i++) {
        aod_buf_free(&t->rows[i].text);
        for (c = 0; c < NCOL; c++)
            free(t->rows[i].cell[c].v);
    }
    free(t->rows);
    aod_buf_free(&t->head.text);
    for (c = 0; c < NCOL; c++)
        free(t->head.cell[c].v);
    memset(t, 0, sizeof *t);
}

/* A row of the summary's table, laid out and kept until its end. */
static int sum_add(pdf_sink *s, sumtab *t, const aod_words_row *row)
{
    rowbuf *r;

    if (t->n == t->cap) {
        rowbuf *v = grow_array(t->rows, &t->cap, sizeof *v);
        if (!v) {
            s->nomem = 1;
            return -1;
        }
        t->rows = v;
    }
    r = &t->rows[t->n++];
    memset(r, 0, sizeof *r);
    aod_buf_init(&r->text, 1024 * 1024);
    return sum_layout(s, r, row, 0);
}

/* The summary's heading, smaller than the letter's: the page is for the
 * table. */
static int sum_heading(pdf_sink *s, flow *fl, const char *str, int first)
{
    if (need(s, fl, 8 + 14 + 3 * SUM_LEAD) != 0)
        return -1;
    if (!first)
        fl->y -= 8;
    if (para(s, fl, str, STYLE_BOLD, first ? 13 : 10.5, first ? 17 : 14, ACCENT, 0) != 0)
        return -1;
    fl->y -= 1;
    return 0;
}

/* A bullet of the summary (the systems), its text and note kept together. */
static int sum_bullet(pdf_sink *s, flow *fl, const char *str, const char *note)
{
    size_t n = 0;

    aod_buf_reset(&s->para);
    s->lines.n = 0;
    if (append_clean(s, &s->para, str) != 0 || wrap(s, s->para.data, 0, s->para.len, FACE_REGULAR,
                                                    9, fl->w - 14, STYLE_NORMAL, &s->lines) != 0)
        return -1;
    n = s->lines.n;
    if (need(s, fl, (double)n * 11.5 + (has(note) ? 2 * 10.5 : 0)) != 0)
        return -1;
    if (!s->measuring)
        draw_str(s, fl->page, FACE_REGULAR, 9, ACCENT, fl->x + 4, fl->y - 9, "\xE2\x80\xA2");
    if (para(s, fl, str, STYLE_NORMAL, 9, 11.5, INK, 14) != 0)
        return -1;
    if (has(note) && para(s, fl, note, STYLE_MUTED, SUM_SIZE, 10.5, MUTED, 14) != 0)
        return -1;
    fl->y -= 2;
    return 0;
}

/* The summary's blocks (aod_words_fn, through letter_block). */
static int sum_block(letter *L, const aod_words_block *b)
{
    pdf_sink *s = L->s;
    flow *fl = &L->fl;

    switch (b->kind) {
    case AOD_WORDS_HEADING:
        return sum_heading(s, fl, b->text, !L->totals_said);
    case AOD_WORDS_PARA:
        if (para(s, fl, b->text, STYLE_NORMAL, 9.5, 12.5, INK, 0) != 0)
            return -1;
        fl->y -= 3;
        if (!L->totals_said) { /* under the totals: that it continues */
            L->totals_said = 1;
            if (L->continues &&
                (para(s, fl, L->continues, STYLE_BOLD, SUM_SIZE, 10.5, ACCENT, 0) != 0))
                return -1;
            fl->y -= L->continues ? 3 : 0;
        }
        return 0;
    case AOD_WORDS_NOTE:
        return para(s, fl, b->text, STYLE_MUTED, SUM_SIZE, 10.5, MUTED, 0);
    case AOD_WORDS_BULLET:
        return sum_bullet(s, fl, b->text, b->note);
    case AOD_WORDS_LIST_END:
        fl->y -= 2;
        return 0;
    case AOD_WORDS_TABLE_HEAD:
        sum_free(&L->tab);
        aod_buf_init(&L->tab.head.text, 64 * 1024);
        return b->row ? sum_layout(s, &L->tab.head, b->row, 1) : 0;
    case AOD_WORDS_TABLE_ROW:
        return b->row ? sum_add(s, &L->tab, b->row) : 0;
    case AOD_WORDS_TABLE_END:
        return sum_place(s, fl, &L->tab);
    default:
        return 0;
    }
}

/* Draws one block of the letter (aod_words_fn); the letterhead is drawn
 * from the policy before the first block, in two columns. */
/* The lines str takes wrapped at size in the letter's width. */
static size_t lines_of(pdf_sink *s, const char *str, int style, double size)
{
    s->lines.n = 0;
    aod_buf_reset(&s->para);
    if (append_clean(s, &s->para, str) != 0 || wrap(s, s->para.data, 0, s->para.len, face_of(style),
                                                    size, LETTER_W, style, &s->lines) != 0)
        return 0;
    return s->lines.n;
}

/* Draws the held heading and paragraph. */
static int draw_held(letter *L)
{
    int rc = 0;

    if (L->has_heading)
        rc = heading(L->s, &L->fl, aod_buf_str(&L->held_heading));
    if (rc == 0 && L->has_para)
        rc = body(L->s, &L->fl, aod_buf_str(&L->held_para));
    L->has_heading = L->has_para = 0;
    return rc;
}

/* A heading and the paragraph after it wait for the next block: the
 * closing ("Sincerely," and the signature) must not stand alone on a page,
 * so when it would, the paragraph before it and that paragraph's heading go
 * to the new page with it.  Returns 1 when b was held, 0 when the caller
 * draws b (anything held is drawn first), -1 on failure. */
static int hold(letter *L, const aod_words_block *b)
{
    pdf_sink *s = L->s;
    aod_buf *into;

    if (b->kind == AOD_WORDS_HEADING || (b->kind == AOD_WORDS_PARA && L->has_para)) {
        if (draw_held(L) != 0)
            return -1;
    }
    if (b->kind == AOD_WORDS_HEADING || b->kind == AOD_WORDS_PARA) {
        into = b->kind == AOD_WORDS_HEADING ? &L->held_heading : &L->held_para;
        aod_buf_reset(into);
        if (aod_buf_adds(into, b->text) != 0) {
            s->nomem = 1;
            return -1;
        }
        *(b->kind == AOD_WORDS_HEADING ? &L->has_heading : &L->has_para) = 1;
        return 1;
    }
    if (b->kind == AOD_WORDS_CLOSING && (L->has_heading || L->has_para)) {
        /* as heading(), body() and the closing below take them */
        double h = 4 * BODY_LEAD + 20 + 6;
        if (L->has_heading)
            h += 10 + 17 * (double)lines_of(s, aod_buf_str(&L->held_heading), STYLE_BOLD, 11.5) + 2;
        if (L->has_para)
            h += BODY_LEAD *
                     (double)lines_of(s, aod_buf_str(&L->held_para), STYLE_NORMAL, BODY_SIZE) +
                 5;
        if (h < page_top(L->fl.page) - CONTENT_BOTTOM && need(s, &L->fl, h) != 0)
            return -1;
    }
    return draw_held(L) != 0 ? -1 : 0;
}

static int letter_block(void *ctx, const aod_words_block *b, aod_error *err)
{
    letter *L = ctx;
    pdf_sink *s = L->s;
    flow *fl = &L->fl;
    int rc = 0;

    /* A failure is remembered in s (nomem, hpdf_no) for check(). */
    if (L->summary) {
        if (sum_block(L, b) != 0 || s->nomem || s->hpdf_no) {
            aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "pdf", "drawing the summary failed");
            return -1;
        }
        return 0;
    }
    rc = hold(L, b);
    if (rc != 0) {
        if (rc > 0)
            return 0;
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "pdf", "drawing the letter failed");
        return -1;
    }
    switch (b->kind) {
    case AOD_WORDS_ORGANISATION:
    case AOD_WORDS_ADDRESS:
    case AOD_WORDS_OFFICE:
    case AOD_WORDS_CONTACT:
        break; /* the letterhead: drawn already */
    case AOD_WORDS_BANNER: {
        const double h = 24;
        fill_rect(fl->page, (rgb){0.99f, 0.95f, 0.88f}, fl->x, fl->y - h + 6, fl->w, h);
        fill_rect(fl->page, (rgb){0.80f, 0.45f, 0.05f}, fl->x, fl->y - h + 6, 2.5, h);
        draw_str(s, fl->page, FACE_BOLD, 9, (rgb){0.45f, 0.25f, 0.02f}, fl->x + 12, fl->y - 10,
                 b->text);
        fl->y -= h + 8;
        break;
    }
    case AOD_WORDS_DATE:
        draw_str(s, fl->page, FACE_REGULAR, BODY_SIZE, INK, fl->x, fl->y - BODY_SIZE, b->text);
        fl->y -= 30;
        break;
    case AOD_WORDS_TITLE:
        rc = para(s, fl, b->text, STYLE_BOLD, 15, 19, INK, 0);
        fl->y -= 8;
        break;
    case AOD_WORDS_FACT:
        if (L->n_facts < MAX_FACTS) {
            fact *f = &L->facts[L->n_facts++];
            f->label = b->label;
            aod_buf_reset(&f->value);
            if (aod_buf_adds(&f->value, b->text) != 0)
                s->nomem = 1;
        }
        break;
    case AOD_WORDS_FACTS_END:
        rc = facts_box(s, fl, L->facts, L->n_facts);
        break;
    case AOD_WORDS_HEADING:
        rc = heading(s, fl, b->text);
        break;
    case AOD_WORDS_PARA:
        rc = body(s, fl, b->text);
        break;
    case AOD_WORDS_BULLET:
        rc = bullet(s, fl, b->text, b->note);
        break;
    case AOD_WORDS_LIST_END:
        fl->y -= 4;
        break;
    case AOD_WORDS_NOTE:
        rc = para(s, fl, b->text, STYLE_MUTED, 9, 12.5, MUTED, 0);
        break;
    case AOD_WORDS_TABLE_HEAD:
    case AOD_WORDS_TABLE_ROW:
    case AOD_WORDS_TABLE_END:
        break; /* the summary's: drawn by sum_block() */
    case AOD_WORDS_CLOSING:
        rc = need(s, fl, 4 * BODY_LEAD + 20);
        fl->y -= 6;
        if (rc == 0)
            rc = body(s, fl, b->text);
        fl->y -= 10;
        break;
    case AOD_WORDS_SIGNATURE:
        rc = para(s, fl, b->text, L->signed_ ? STYLE_NORMAL : STYLE_BOLD, BODY_SIZE, BODY_LEAD, INK,
                  0);
        L->signed_ = 1;
        break;
    }
    if (rc != 0 || s->nomem || s->hpdf_no) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "pdf", "drawing the letter failed");
        return -1;
    }
    return 0;
}

/* The letter, on pages inserted in front of the table. */
static int draw_letter(pdf_sink *s, const aod_report_summary *sum_or_NULL)
{
    letter L;
    aod_buf cont; /* "the summary continues on the next page", when it does */
    aod_error ignored;
    size_t i;
    int rc = -1;

    memset(&L, 0, sizeof L);
    L.s = s;
    aod_buf_init(&cont, 64 * 1024);
    for (i = 0; i < MAX_FACTS; i++)
        aod_buf_init(&L.facts[i].value, 64 * 1024);
    aod_buf_init(&L.held_heading, 64 * 1024);
    aod_buf_init(&L.held_para, 64 * 1024);
    aod_error_init(&ignored);
    s->area = "the letter";
    if (letter_page(s, &L.fl) != 0)
        goto done;
    add_mark(s, L.fl.page, HPDF_Page_GetHeight(L.fl.page), 0, 1, T(s, "letter.outline.letter"));
    L.fl.y = HPDF_Page_GetHeight(L.fl.page) - LETTER_TOP + 16;
    if (letterhead(s, &L.fl) != 0)
        goto done;
    if (aod_words_letter(s->words, sum_or_NULL, s->rows, letter_block, &L, &ignored) != 0 ||
        draw_held(&L) != 0) {
        if (ignored.code == AOD_ERR_NOMEM)
            s->nomem = 1;
        goto done;
    }
    /* The summary: on a page of its own after the letter, before the list;
     * when it needs more than that page, its top says so. */
    if (sum_or_NULL && sum_or_NULL->overview) {
        HPDF_Page first;
        if (letter_page(s, &L.fl) != 0)
            goto done;
        first = L.fl.page;
        add_mark(s, first, HPDF_Page_GetHeight(first) - CONTENT_TOP, 0, 1,
                 T(s, "letter.outline.summary"));
        L.summary = 1;
        /* first laid out without drawing: does it fit on this page? */
        s->measuring = 1;
        s->measured_pages = 0;
        rc = aod_words_overview(s->words, sum_or_NULL->overview, letter_block, &L, &ignored);
        s->measuring = 0;
        L.fl.page = first;
        L.fl.y = page_top(first);
        L.totals_said = 0;
        if (rc == 0 && s->measured_pages > 0) {
            if (aod_buf_adds(&cont,
                             aod_words_overview_continues(s->words, sum_or_NULL->overview)) != 0)
                s->nomem = 1;
            L.continues = aod_buf_str(&cont);
        }
        if (rc != 0 ||
            aod_words_overview(s->words, sum_or_NULL->overview, letter_block, &L, &ignored) != 0) {
            rc = -1;
            if (ignored.code == AOD_ERR_NOMEM)
                s->nomem = 1;
            goto done;
        }
    }
    rc = s->nomem || s->hpdf_no ? -1 : 0;
done:
    sum_free(&L.tab);
    aod_buf_free(&L.held_heading);
    aod_buf_free(&L.held_para);
    aod_buf_free(&cont);
    for (i = 0; i < MAX_FACTS; i++)
        aod_buf_free(&L.facts[i].value);
    return rc;
}

/* ------------------------------------------------------------- the file */

/* "2025-01-02T05:00:00-05:00" -> an HPDF_Date. */
static HPDF_Date pdf_date(int64_t ms)
{
    char iso[40];
    HPDF_Date d;
    int y = 1970, mo = 1, da = 1, h = 0, mi = 0, se = 0, oh = 0, om = 0;
    char sign = '+';

    memset(&d, 0, sizeof d);
    aod_timefmt_datetime(ms, iso, sizeof iso);
    if (sscanf(iso, "%d-%d-%dT%d:%d:%d%c%d:%d", &y, &mo, &da, &h, &mi, &se, &sign, &oh, &om) != 9) {
        y = 1970;
        mo = da = 1;
        h = mi = se = oh = om = 0;
        sign = '+';
    }
    d.year = y;
    d.month = mo;
    d.day = da;
    d.hour = h;
    d.minutes = mi;
    d.seconds = se > 59 ? 59 : se;
    d.ind = oh == 0 && om == 0 ? 'Z' : sign;
    d.off_hour = oh;
    d.off_minutes = om;
    return d;
}

static int write_out(pdf_sink *s, aod_error *err)
{
    HPDF_BYTE buf[16384];

    if (HPDF_SaveToStream(s->doc) != HPDF_OK || s->hpdf_no) {
        if (check(s, "writing the PDF", err) == 0)
            aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "pdf", "libharu could not save");
        return -1;
    }
    HPDF_ResetStream(s->doc);
    errno = 0;
    for (;;) {
        HPDF_UINT32 n = sizeof buf;
        HPDF_STATUS st = HPDF_ReadFromStream(s->doc, buf, &n);
        if (n > 0 && fwrite(buf, 1, n, s->out) != n) {
            aod_error_set(err, AOD_ERR_IO, NULL, 0, "pdf", "writing the PDF failed: %s",
                          strerror(errno ? errno : EIO));
            return -1;
        }
        if (st == HPDF_STREAM_EOF || n == 0)
            break;
        if (st != HPDF_OK) {
            check(s, "writing the PDF", err);
            return -1;
        }
    }
    if (fflush(s->out) != 0 || ferror(s->out)) {
        aod_error_set(err, AOD_ERR_IO, NULL, 0, "pdf", "writing the PDF failed: %s",
                      strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}

/* -------------------------------------------------------------- the sink */

/*
 * libharu gives a UTF-8 TrueType font a ToUnicode stream that is a copy of
 * its encoding CMap: "begincidrange" where a ToUnicode map needs bfrange,
 * so poppler warns ("Invalid 'begincidrange' operator in ToUnicode CMap")
 * and screen readers and copy-paste get nothing.  With Identity-H and
 * libharu's UTF-8 encoder a character's code is its Unicode value (BMP), so
 * the right map is the identity: one bfrange per high byte (a range may not
 * cross a last-byte boundary), surrogates left out, at most 100 per block.
 * We write it into libharu's stream in place when the font is loaded, and
 * again before the file is saved when Arabic was shaped: each presentation
 * form drawn then maps to the letters it stands for.
 */
/* Appends a ToUnicode block of kind ("bfrange" or "bfchar") holding the n
 * entries in lines to st; 0, or -1. */
static int cmap_block(HPDF_Stream st, const char *kind, const aod_buf *lines, int n)
{
    char head[40];

    if (n == 0)
        return 0;
    snprintf(head, sizeof head, "%d begin%s\n", n, kind);
    return HPDF_Stream_WriteStr(st, head) == HPDF_OK &&
                   HPDF_Stream_Write(st, (const HPDF_BYTE *)lines->data, (HPDF_UINT)lines->len) ==
                       HPDF_OK &&
                   HPDF_Stream_WriteStr(st, "end") == HPDF_OK &&
                   HPDF_Stream_WriteStr(st, kind) == HPDF_OK &&
                   HPDF_Stream_WriteStr(st, "\n") == HPDF_OK
               ? 0
               : -1;
}

/* The entries of the map, 100 at most in a block: identity ranges, and
 * each Arabic presentation form drawn mapped to the letters it stands for
 * (forms_or_NULL: none), so that its text is the letters.  The ranges skip
 * the forms' codes: a code is in one entry only. */
static int cmap_entries(HPDF_Stream st, const aod_bidi_forms *forms_or_NULL)
{
    aod_buf range, chr;
    int n_range = 0, n_chr = 0, hi, lo, rc = -1;
    char line[48];

    aod_buf_init(&range, 64 * 1024);
    aod_buf_init(&chr, 64 * 1024);
    for (hi = 0; hi < 256; hi++) {
        int from = 0;
        if (hi >= 0xD8 && hi <= 0xDF) /* UTF-16 surrogates are no characters */
            continue;
        for (lo = 0; lo <= 256; lo++) {
            uint32_t letters[2];
            int k = lo < 256 && forms_or_NULL
                        ? aod_bidi_letters(forms_or_NULL, (uint32_t)(hi << 8 | lo), letters)
                        : 0;
            if (k == 0 && lo < 256)
                continue;
            if (lo > from) { /* identity for [from, lo) */
                snprintf(line, sizeof line, "<%02X%02X> <%02X%02X> <%02X%02X>\n", hi, from, hi,
                         lo - 1, hi, from);
                if (aod_buf_adds(&range, line) != 0)
                    goto done;
                if (++n_range == 100) {
                    if (cmap_block(st, "bfrange", &range, n_range) != 0)
                        goto done;
                    aod_buf_reset(&range);
                    n_range = 0;
                }
            }
            from = lo + 1;
            if (k == 0)
                continue;
            if (k == 1)
                snprintf(line, sizeof line, "<%02X%02X> <%04X>\n", hi, lo, (unsigned)letters[0]);
            else
                snprintf(line, sizeof line, "<%02X%02X> <%04X%04X>\n", hi, lo, (unsigned)letters[0],
                         (unsigned)letters[1]);
            if (aod_buf_adds(&chr, line) != 0)
                goto done;
            if (++n_chr == 100) {
                if (cmap_block(st, "bfchar", &chr, n_chr) != 0)
                    goto done;
                aod_buf_reset(&chr);
                n_chr = 0;
            }
        }
    }
    if (cmap_block(st, "bfrange", &range, n_range) == 0 &&
        cmap_block(st, "bfchar", &chr, n_chr) == 0)
        rc = 0;
done:
    aod_buf_free(&range);
    aod_buf_free(&chr);
    return rc;
}

static int fix_to_unicode(HPDF_Font font, const aod_bidi_forms *forms_or_NULL)
{
    HPDF_Dict cmap = HPDF_Dict_GetItem(font, "ToUnicode", HPDF_OCLASS_DICT);

    if (!cmap || !cmap->stream)
        return 0; /* no ToUnicode written: nothing to repair */
    HPDF_MemStream_FreeData(cmap->stream);
    if (HPDF_Stream_WriteStr(
            cmap->stream, "/CIDInit /ProcSet findresource begin\n"
                          "12 dict begin\n"
                          "begincmap\n"
                          "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 "
                          ">> def\n"
                          "/CMapName /Adobe-Identity-UCS def\n"
                          "/CMapType 2 def\n"
                          "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n") != HPDF_OK)
        return -1;
    if (cmap_entries(cmap->stream, forms_or_NULL) != 0)
        return -1;
    return HPDF_Stream_WriteStr(cmap->stream, "endcmap\n"
                                              "CMapName currentdict /CMap defineresource pop\n"
                                              "end\n"
                                              "end\n") == HPDF_OK
               ? 0
               : -1;
}

/* ---------------------------------------------------- the embedded fonts
 * libharu, given a TrueType font, builds its widths and glyph map for every
 * character the font has (20-40 ms) and embeds every glyph's metrics (about
 * 150 KB of DejaVu).  So libharu is given a stub of the font instead, its
 * .notdef, space, H and x only (render/fontsubset.h): drawing needs no more, as
 * text is measured here and a PDF code is the character's Unicode value
 * whatever the font.  Before the file is written, embed_subset() puts the
 * font cut to the characters drawn in the stub's place: the font file, the
 * code-to-glyph map and the widths.  The rest of libharu's font objects (the
 * descriptor's metrics, the encoding, ToUnicode) are the real font's: the
 * stub keeps its tables. */

/* Gives libharu the stub of the font at path as face f.  Returns 0, or -1
 * with err set (a font that cannot be read) or a libharu error remembered. */
static int load_face(pdf_sink *s, int f, const char *path, aod_error *err)
{
    face *fc = &s->faces[f];
    const unsigned char *stub;
    size_t len;
    HPDF_Stream st;
    HPDF_FontDef def, had;
    int i;

    fc->src = aod_fontsubset_get(path, err);
    if (!fc->src)
        return -1;
    stub = aod_fontsubset_stub(fc->src, &len);
    st = HPDF_MemStream_New(s->doc->mmgr, (HPDF_UINT)len);
    if (!st || HPDF_Stream_Write(st, stub, (HPDF_UINT)len) != HPDF_OK) {
        if (st)
            HPDF_Stream_Free(st);
        return -1;
    }
    /* What HPDF_LoadTTFontFromFile does, from memory: libharu 2.3.0 has no
     * public call for it. */
    def = HPDF_TTFontDef_Load(s->doc->mmgr, st, HPDF_TRUE); /* takes st */
    if (!def)
        return -1;
    had = HPDF_Doc_FindFontDef(s->doc, def->base_font);
    if (had) { /* the same font twice (regular given as bold): one font */
        HPDF_FontDef_Free(def);
        def = had;
    } else {
        if (HPDF_List_Add(s->doc->fontdef_list, def) != HPDF_OK) {
            HPDF_FontDef_Free(def);
            return -1;
        }
        if (s->doc->ttfont_tag[0] == 0) {
            memcpy(s->doc->ttfont_tag, "HPDFAA", 6);
        } else {
            for (i = 5; i >= 0; i--) {
                if (++s->doc->ttfont_tag[i] <= 'Z')
                    break;
                s->doc->ttfont_tag[i] = 'A';
            }
        }
        HPDF_TTFontDef_SetTagName(def, (char *)s->doc->ttfont_tag);
    }
    fc->font = HPDF_GetFont(s->doc, def->base_font, "UTF-8");
    if (!fc->font)
        return -1;
    return fix_to_unicode(fc->font, NULL);
}

/* Puts the subset of fc's font for the characters in used in the place of
 * the stub.  Returns 0, or -1 with err set. */
static int embed_subset(pdf_sink *s, const face *fc, const aod_fontsubset_used *used,
                        aod_error *err)
{
    HPDF_Font font = fc->font;
    HPDF_FontAttr attr = (HPDF_FontAttr)font->attr;
    HPDF_Dict cid = attr->descendant_font, file;
    HPDF_Array w, run = NULL;
    aod_fontsubset sub;
    int dw = aod_fontsubset_missing_width(fc->src);
    uint32_t cp, last = 0;
    int rc = -1;

    if (aod_fontsubset_make(fc->src, used, &sub, err) != 0) {
        aod_fontsubset_clear(&sub);
        return -1;
    }
    /* libharu makes the descriptor and its font file (from the stub) as it
     * writes the font: have that done now, then replace the file. */
    if (!font->before_write_fn || font->before_write_fn(font) != HPDF_OK || !attr->map_stream ||
        !attr->fontdef->descriptor)
        goto fail;
    file = HPDF_Dict_GetItem(attr->fontdef->descriptor, "FontFile2", HPDF_OCLASS_DICT);
    if (!file || !file->stream)
        goto fail;
    HPDF_MemStream_FreeData(file->stream);
    if (HPDF_Stream_Write(file->stream, sub.data, (HPDF_UINT)sub.len) != HPDF_OK ||
        HPDF_Dict_AddNumber(file, "Length1", (HPDF_UINT32)sub.len) != HPDF_OK)
        goto fail;
    /* CIDToGIDMap: a code (the character) to its glyph in the subset, two
     * bytes big-endian each, written over the map in place. */
    for (cp = 0; cp <= sub.max_cp; cp++) {
        unsigned char *b = (unsigned char *)&sub.gid[cp];
        uint16_t g = sub.gid[cp];
        b[0] = (unsigned char)(g >> 8);
        b[1] = (unsigned char)g;
    }
    HPDF_MemStream_FreeData(attr->map_stream->stream);
    if (HPDF_Stream_Write(attr->map_stream->stream, (const HPDF_BYTE *)sub.gid,
                          (HPDF_UINT)(sub.max_cp + 1) * 2) != HPDF_OK)
        goto fail;
    /* W: the widths of the characters drawn that differ from DW, in runs. */
    w = HPDF_Dict_GetItem(cid, "W", HPDF_OCLASS_ARRAY);
    if (!w || HPDF_Dict_AddNumber(cid, "DW", dw) != HPDF_OK)
        goto fail;
    HPDF_Array_Clear(w);
    for (cp = 0; cp <= sub.max_cp; cp++) {
        int cw = aod_fontsubset_width(fc->src, cp);
        if (!aod_fontsubset_is_used(used, cp) || cw == dw)
            continue;
        if (!run || cp != last + 1) {
            run = HPDF_Array_New(s->doc->mmgr);
            if (!run || HPDF_Array_AddNumber(w, (HPDF_INT32)cp) != HPDF_OK ||
                HPDF_Array_Add(w, run) != HPDF_OK)
                goto fail;
        }
        if (HPDF_Array_AddNumber(run, cw) != HPDF_OK)
            goto fail;
        last = cp;
    }
    rc = 0;
fail:
    if (rc != 0 && check(s, "embedding the font", err) == 0)
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "pdf",
                      "libharu's font objects are not as expected");
    aod_fontsubset_clear(&sub);
    return rc;
}

/* Every font of the document, cut to the characters drawn with it (faces
 * sharing a font: the characters of both), its ToUnicode map given the
 * Arabic forms drawn. */
static int embed_subsets(pdf_sink *s, aod_error *err)
{
    int shaped = 0, f, g;
    size_t i;

    for (i = 0; i < sizeof s->forms.from / sizeof s->forms.from[0] && !shaped; i++)
        shaped = s->forms.from[i][0] != 0;
    for (f = 0; f < N_FACES; f++) {
        face *fc = &s->faces[f];
        if (!fc->font)
            continue;
        for (g = 0; g < f && s->faces[g].font != fc->font; g++)
            ;
        if (g < f) { /* drawn as face g's font: embedded with it */
            for (i = 0; i < sizeof fc->used.bits / sizeof fc->used.bits[0]; i++)
                s->faces[g].used.bits[i] |= fc->used.bits[i];
            fc->font = NULL;
        }
    }
    for (f = 0; f < N_FACES; f++) {
        face *fc = &s->faces[f];
        if (!fc->font)
            continue;
        if (embed_subset(s, fc, &fc->used, err) != 0)
            return -1;
        if (shaped && fix_to_unicode(fc->font, &s->forms) != 0) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "pdf", "out of memory writing ToUnicode");
            return -1;
        }
    }
    return 0;
}

/* A font libharu could not load: the error names the file and libharu's
 * error number (a font it cannot read or embed is AOD_ERR_IO). */
static int font_failed(pdf_sink *s, const char *path, aod_error *err)
{
    char doing[300];

    if (!s->hpdf_no)
        s->hpdf_no = HPDF_INVALID_FONTDEF_DATA; /* no number given: say what we know */
    snprintf(doing, sizeof doing, "loading the font %.256s", path);
    check(s, doing, err);
    aod_error_where(err, path, 0, -1);
    return -1;
}

/* ------------------------------------------------- the document's structure
 * libharu cannot tag a PDF, but it can say the language (the catalog's
 * /Lang, which screen readers use for their voice), have viewers show the
 * title rather than the file name, and carry an outline: the letter, each
 * section of the table with its months. */

/* Remembers a bookmark at (page, top), level 0 or 1 (under the last
 * level 0), titled with str (copied). */
static void add_mark(pdf_sink *s, HPDF_Page page, double top, int level, int in_letter,
                     const char *str)
{
    struct mark *m;

    if (s->nomem || !page || !has(str))
        return;
    if (s->n_marks == s->cap_marks) {
        struct mark *v = grow_array(s->marks, &s->cap_marks, sizeof *v);
        if (!v) {
            s->nomem = 1;
            return;
        }
        s->marks = v;
    }
    m = &s->marks[s->n_marks];
    m->page = page;
    m->top = top;
    m->level = level;
    m->letter = in_letter;
    m->off = s->mark_text.len;
    if (aod_buf_add(&s->mark_text, str, strlen(str) + 1) != 0) {
        s->nomem = 1;
        return;
    }
    s->n_marks++;
}

/* A bookmark for the month of the table line that starts at the top of a
 * row, when it is not the month of the line before. */
static void mark_month(pdf_sink *s, const aod_entry *e, double top)
{
    char iso[40], key[24];
    const char *vars[5];
    int m = 0;

    aod_timefmt_date(e->when_start, iso, sizeof iso);
    if (strlen(iso) < 7 || strncmp(iso, s->month, 7) == 0)
        return;
    memcpy(s->month, iso, 7);
    s->month[7] = '\0';
    if (sscanf(iso + 5, "%2d", &m) != 1)
        return;
    snprintf(key, sizeof key, "letter.month.%d", m);
    iso[4] = '\0';
    vars[0] = "month";
    vars[1] = T(s, key);
    vars[2] = "year";
    vars[3] = iso;
    vars[4] = NULL;
    add_mark(s, s->page, top, 1, 0, say(s, 1, "letter.outline.month", vars));
}

static HPDF_Outline new_outline(pdf_sink *s, HPDF_Outline parent, const struct mark *m,
                                HPDF_Encoder enc)
{
    const char *title = s->mark_text.data + m->off, *p;
    HPDF_Outline o;
    HPDF_Destination d;

    /* An ASCII title as a plain string: a quarter of the bytes of UTF-16
     * in hex, which libharu writes for any other. */
    for (p = title; *p > 0x1F && *p < 0x7F && *p != '(' && *p != ')' && *p != '\\'; p++)
        ;
    o = HPDF_CreateOutline(s->doc, parent, title, *p ? enc : NULL);
    d = HPDF_Page_CreateDestination(m->page);

    if (!o || !d)
        return NULL;
    HPDF_Destination_SetFitH(d, (HPDF_REAL)m->top);
    HPDF_Outline_SetDestination(o, d);
    return o;
}

/* The outline, the letter's marks first (its pages come first), then the
 * table's; opened at its first level. */
static void write_outline(pdf_sink *s)
{
    HPDF_Encoder enc = HPDF_GetCurrentEncoder(s->doc);
    HPDF_Outline top = NULL;
    int pass;
    size_t i;

    for (pass = 1; pass >= 0; pass--)
        for (i = 0; i < s->n_marks; i++) {
            const struct mark *m = &s->marks[i];
            if (m->letter != pass)
                continue;
            if (m->level == 0 || !top) {
                top = new_outline(s, s->doc->outlines, m, enc);
                if (top)
                    HPDF_Outline_SetOpened(top, HPDF_FALSE);
            } else {
                new_outline(s, top, m, enc);
            }
        }
    if (s->n_marks > 0)
        HPDF_SetPageMode(s->doc, HPDF_PAGE_MODE_USE_OUTLINE);
}

/* /Lang "en" (a BCP 47 tag: letters, digits and hyphens only) and
 * /ViewerPreferences << /DisplayDocTitle true >> in the catalog. */
static void write_catalog(pdf_sink *s)
{
    HPDF_Dict cat = s->doc->catalog, vp;
    const char *lang = s->info.lang;
    size_t i, n = lang ? strlen(lang) : 0;

    for (i = 0; i < n; i++)
        if (!((lang[i] >= 'a' && lang[i] <= 'z') || (lang[i] >= 'A' && lang[i] <= 'Z') ||
              (lang[i] >= '0' && lang[i] <= '9') || lang[i] == '-'))
            break;
    if (n > 0 && n < 36 && i == n)
        HPDF_Dict_Add(cat, "Lang", HPDF_String_New(s->doc->mmgr, lang, NULL));
    vp = HPDF_Dict_New(s->doc->mmgr);
    if (vp && HPDF_Dict_Add(cat, "ViewerPreferences", vp) == HPDF_OK)
        HPDF_Dict_AddBoolean(vp, "DisplayDocTitle", HPDF_TRUE);
}

/* The characters the PDF cannot draw, as an error pointing to the HTML
 * output: each with the first place it occurs. */
static int refuse_missing(pdf_sink *s, aod_error *err)
{
    char list[400];
    size_t i, len = 0;

    if (s->n_missing == 0)
        return 0;
    list[0] = '\0';
    for (i = 0; i < s->n_missing && i < 4 && len < sizeof list; i++) {
        int k = snprintf(list + len, sizeof list - len, "%sU+%04X in %s", i ? "; " : "",
                         (unsigned)s->missing[i].cp, s->missing[i].where);
        len += k > 0 ? (size_t)k : 0;
    }
    aod_error_set(err, AOD_ERR_TEMPLATES, NULL, 0, "pdf",
                  "the PDF cannot draw %s%zu character%s of this report: %s%s (no font has them, "
                  "or their script needs shaping the PDF does not do); write the report with "
                  "--format html, which shows every script",
                  s->missing_more ? "more than " : "", s->n_missing,
                  s->n_missing > 1 || s->missing_more ? "s" : "", list,
                  s->n_missing > 4 || s->missing_more ? " and others" : "");
    s->failed = 1;
    return -1;
}

static int pdf_begin(aod_sink *base, const aod_report_info *info, aod_error *err)
{
    pdf_sink *s = (pdf_sink *)base;
    int m;

    if (s->begun || s->failed) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "pdf", "begin() called twice");
        return -1;
    }
    s->begun = 1;
    if (!info || !info->policy) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "pdf", "no report info or no policy");
        s->failed = 1;
        return -1;
    }
    s->info = *info;
    s->access = info->mode == AOD_MODE_ACCESS;
    s->privacy = info->audience == AOD_AUDIENCE_PRIVACY_OFFICE;
    s->words = aod_words_new(s->text, &s->info, AOD_WORDS_PAGED, err);
    if (!s->words) {
        s->failed = 1;
        return -1;
    }
    s->title = aod_words_title(s->words);
    for (m = 0; m < NCOL; m++) {
        s->col_w[m] = col_width[s->access][m];
        s->col_x[m] = m ? s->col_x[m - 1] + s->col_w[m - 1] : TABLE_MARGIN_X;
    }

    s->doc = HPDF_NewEx(on_hpdf_error, NULL, NULL, 0, s);
    if (!s->doc) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "pdf", "libharu could not start a document");
        s->failed = 1;
        return -1;
    }
    /* UTF-8 before anything takes text: the document info too. */
    HPDF_UseUTFEncodings(s->doc);
    HPDF_SetCurrentEncoder(s->doc, "UTF-8");
    HPDF_SetCompressionMode(s->doc, HPDF_COMP_ALL);
    if (check(s, "setting up the document", err) != 0)
        return -1;
    if (load_face(s, FACE_REGULAR, s->font_file, err) != 0 || s->hpdf_no)
        return font_failed(s, s->font_file, err);
    if (s->bold_file) {
        if (load_face(s, FACE_BOLD, s->bold_file, err) != 0 || s->hpdf_no)
            return font_failed(s, s->bold_file, err);
    } else {
        s->faces[FACE_BOLD].font = s->faces[FACE_REGULAR].font;
        s->faces[FACE_BOLD].src = s->faces[FACE_REGULAR].src;
        s->faces[FACE_BOLD].stroke = 1;
    }
    check_fields(s);
    s->area = "the table";
    return check(s, "loading the fonts", err);
}

static int pdf_entry(aod_sink *base, const aod_entry *e, aod_error *err)
{
    pdf_sink *s = (pdf_sink *)base;

    if (!s->begun || s->ended || s->failed) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "pdf", "entry() %s",
                      !s->begun  ? "before begin()"
                      : s->ended ? "after end()"
                                 : "after a failure");
        return -1;
    }
    if (!e || !e->shown_name) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "pdf",
                      "an unmasked entry reached the PDF renderer");
        s->failed = 1;
        return -1;
    }
    if (aod_words_separate(s->words, e)) {
        /* Kept for their own section; the strings are the report's. */
        if (s->n_held == s->cap_held) {
            aod_entry *v = grow_array(s->held, &s->cap_held, sizeof *v);
            if (!v) {
                aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "pdf", "out of memory");
                s->failed = 1;
                return -1;
            }
            s->held = v;
        }
        s->held[s->n_held] = *e;
        s->held[s->n_held].record_ids = NULL;
        s->held[s->n_held].n_record_ids = 0;
        s->n_held++;
        return 0;
    }
    if (render_entry(s, e) != 0) {
        check(s, "drawing a line of the table", err);
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "pdf", "drawing a line of the table failed");
        s->failed = 1;
        return -1;
    }
    return 0;
}

static int pdf_end(aod_sink *base, const aod_report_summary *sum, aod_error *err)
{
    pdf_sink *s = (pdf_sink *)base;
    char when[96];
    size_t i, total;
    HPDF_Date d;

    if (!s->begun || s->ended || s->failed) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "pdf", "end() %s",
                      !s->begun  ? "before begin()"
                      : s->ended ? "called twice"
                                 : "after a failure");
        return -1;
    }
    s->ended = 1;
    if (flush_rows(s) != 0)
        goto fail;
    if (s->n_held > 0) {
        s->section = 1;
        s->titled = 0;
        s->page = NULL;
        s->month[0] = '\0';
        for (i = 0; i < s->n_held; i++)
            if (render_entry(s, &s->held[i]) != 0)
                goto fail;
        if (flush_rows(s) != 0)
            goto fail;
    }
    if (draw_letter(s, sum) != 0)
        goto fail;

    /* Footers, now that the pages are counted: letter first, then table. */
    s->area = "a page footer";
    snprintf(when, sizeof when, "%s", aod_words_generated(s->words));
    total = s->n_letter + s->n_pages;
    for (i = 0; i < total; i++)
        footer(s, i < s->n_letter ? s->letter[i] : s->pages[i - s->n_letter], i + 1, total, when);
    if (check(s, "drawing the footers", err) != 0 || refuse_missing(s, err) != 0)
        return -1;

    /* The document info: fixed dates, so the same report is the same file. */
    HPDF_SetInfoAttr(s->doc, HPDF_INFO_TITLE, s->title);
    if (has(s->info.policy->organisation.name))
        HPDF_SetInfoAttr(s->doc, HPDF_INFO_AUTHOR, s->info.policy->organisation.name);
    HPDF_SetInfoAttr(s->doc, HPDF_INFO_SUBJECT, aod_words_subject(s->words));
    HPDF_SetInfoAttr(s->doc, HPDF_INFO_CREATOR, PACKAGE_STRING);
    d = pdf_date(s->info.now);
    HPDF_SetInfoDateAttr(s->doc, HPDF_INFO_CREATION_DATE, d);
    HPDF_SetInfoDateAttr(s->doc, HPDF_INFO_MOD_DATE, d);
    write_catalog(s);
    write_outline(s);
    if (check(s, "setting the document info and outline", err) != 0)
        return -1;
    if (embed_subsets(s, err) != 0) {
        s->failed = 1;
        return -1;
    }
    if (write_out(s, err) != 0) {
        s->failed = 1;
        return -1;
    }
    /* The pages are written: give their memory back now, not at free(). */
    HPDF_Free(s->doc);
    s->doc = NULL;
    return 0;
fail:
    check(s, "drawing the report", err);
    aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "pdf", "drawing the report failed");
    s->failed = 1;
    return -1;
}

static void pdf_free(aod_sink *base)
{
    pdf_sink *s = (pdf_sink *)base;
    int i;

    if (!s)
        return;
    if (s->doc)
        HPDF_Free(s->doc);
    aod_words_free(s->words);
    free(s->font_file);
    free(s->bold_file);
    free(s->pages);
    free(s->letter);
    free(s->held);
    aod_buf_free(&s->body.text);
    aod_buf_free(&s->pend[0].text);
    aod_buf_free(&s->pend[1].text);
    aod_buf_free(&s->head.text);
    aod_buf_free(&s->para);
    aod_buf_free(&s->one);
    aod_buf_free(&s->scratch);
    aod_buf_free(&s->visual);
    aod_buf_free(&s->mark_text);
    free(s->marks);
    free(s->fallback_file);
    for (i = 0; i < N_SAY; i++)
        aod_buf_free(&s->say[i]);
    for (i = 0; i < NCOL; i++) {
        free(s->body.cell[i].v);
        free(s->pend[0].cell[i].v);
        free(s->pend[1].cell[i].v);
        free(s->head.cell[i].v);
    }
    free(s->lines.v);
    free(s);
}

static int readable(const char *path)
{
    FILE *f = fopen(path, "rb");

    if (!f)
        return 0;
    fclose(f);
    return 1;
}

aod_sink *aod_pdf_sink_new(FILE *out, const aod_pdf_options *opts_or_NULL, const aod_text *text,
                           aod_error *err)
{
    pdf_sink *s;
    const char *font =
        opts_or_NULL && opts_or_NULL->font_file ? opts_or_NULL->font_file : AOD_FONT_FILE;
    const char *bold = opts_or_NULL ? opts_or_NULL->bold_font_file : NULL;
    const char *fallback = opts_or_NULL ? opts_or_NULL->fallback_font_file : NULL;
    int i;

    if (!out || !text) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "pdf", "no output or no templates");
        return NULL;
    }
    /* Check the fonts now, before any records are read. */
    if (!readable(font)) {
        aod_error_set(err, AOD_ERR_IO, font, 0, "font", "cannot open the font file: %s",
                      strerror(errno));
        return NULL;
    }
    if (!bold) /* the default bold face is optional */
        bold = readable(AOD_FONT_BOLD_FILE) ? AOD_FONT_BOLD_FILE : "";
    else if (*bold && !readable(bold)) {
        aod_error_set(err, AOD_ERR_IO, bold, 0, "font", "cannot open the font file: %s",
                      strerror(errno));
        return NULL;
    }
    if (!fallback) /* the default fallback font is optional */
        fallback = readable(AOD_FALLBACK_FONT_FILE) ? AOD_FALLBACK_FONT_FILE : "";
    else if (*fallback && !readable(fallback)) {
        aod_error_set(err, AOD_ERR_IO, fallback, 0, "font", "cannot open the font file: %s",
                      strerror(errno));
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (!s)
        goto nomem;
    s->base.begin = pdf_begin;
    s->base.entry = pdf_entry;
    s->base.end = pdf_end;
    s->base.free = pdf_free;
    s->out = out;
    s->text = text;
    aod_buf_init(&s->body.text, 16 * 1024 * 1024);
    aod_buf_init(&s->pend[0].text, 16 * 1024 * 1024);
    aod_buf_init(&s->pend[1].text, 16 * 1024 * 1024);
    aod_buf_init(&s->head.text, 64 * 1024);
    aod_buf_init(&s->para, 16 * 1024 * 1024);
    aod_buf_init(&s->one, 1024 * 1024);
    aod_buf_init(&s->scratch, 16 * 1024 * 1024);
    for (i = 0; i < N_SAY; i++)
        aod_buf_init(&s->say[i], 16 * 1024 * 1024);
    for (i = 0; i < N_FACES; i++) {
        memset(s->faces[i].width, 0xFF, sizeof s->faces[i].width); /* -1: unknown */
        memset(s->faces[i].by, -2, sizeof s->faces[i].by);
    }
    aod_buf_init(&s->visual, 16 * 1024 * 1024);
    aod_buf_init(&s->mark_text, 16 * 1024 * 1024);
    aod_error_init(&s->fallback_err);
    s->font_file = dup_str(font);
    s->bold_file = *bold ? dup_str(bold) : NULL;
    s->fallback_file = *fallback ? dup_str(fallback) : NULL;
    if (!s->font_file || (*bold && !s->bold_file) || (*fallback && !s->fallback_file)) {
        pdf_free(&s->base);
        goto nomem;
    }
    return &s->base;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "pdf", "out of memory");
    return NULL;
}
