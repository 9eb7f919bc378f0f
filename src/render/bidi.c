/*
 * bidi.c - right-to-left text made drawable for the PDF (see bidi.h).
 *
 * Render stage support.  The only user of FriBidi.
 */
#include "render/bidi.h"

#include <fribidi.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

/* A sequence's first byte is enough to see U+0590 .. U+08FF (D6-DF, E0 A0-A3)
 * and U+FB1D .. U+FEFF (EF AC-BB); the marks are E2 80 8F/AB/AE, E2 81 A7. */
int aod_bidi_has_rtl(const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p, *end = u + n;

    for (; u < end; u++) {
        if (*u < 0xD6)
            continue;
        if (*u <= 0xDF)
            return 1;
        if (u + 2 >= end)
            break;
        if (*u == 0xE0 && u[1] >= 0xA0 && u[1] <= 0xA3)
            return 1;
        if (*u == 0xEF && u[1] >= 0xAC && u[1] <= 0xBB)
            return 1;
        if (*u == 0xE2 && ((u[1] == 0x80 && (u[2] == 0x8F || u[2] == 0xAB || u[2] == 0xAE)) ||
                           (u[1] == 0x81 && u[2] == 0xA7)))
            return 1;
    }
    return 0;
}

/* U+0600 .. U+06FF, U+0750 .. U+077F, U+08A0 .. U+08FF: D8-DB, DD 90-BF, E0 A2-A3. */
static int has_arabic(const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p, *end = u + n;

    for (; u < end; u++) {
        if (*u < 0xD8)
            continue;
        if (*u <= 0xDB || (*u == 0xDD && u + 1 < end && u[1] >= 0x90))
            return 1;
        if (*u == 0xE0 && u + 1 < end && (u[1] == 0xA2 || u[1] == 0xA3))
            return 1;
    }
    return 0;
}

int aod_bidi_invisible(uint32_t cp)
{
    return (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2060 && cp <= 0x2069) || cp == 0xFEFF;
}

/* The n bytes of UTF-8 at p as code points: a new array, *len of them. */
static FriBidiChar *decode(const char *p, size_t n, FriBidiStrIndex *len)
{
    const unsigned char *u = (const unsigned char *)p;
    FriBidiChar *v = malloc((n + 1) * sizeof *v);
    size_t i = 0, k = 0;

    if (!v)
        return NULL;
    while (i < n) {
        uint32_t cp = 0xFFFD;
        size_t m = aod_utf8_decode(u + i, n - i, &cp);
        v[k++] = m ? cp : 0xFFFD;
        i += m ? m : 1;
    }
    *len = (FriBidiStrIndex)k;
    return v;
}

static int encode(aod_buf *out, uint32_t cp)
{
    char b[3];

    if (cp < 0x80)
        return aod_buf_addc(out, (char)cp);
    if (cp < 0x800) {
        b[0] = (char)(0xC0 | cp >> 6);
        b[1] = (char)(0x80 | (cp & 0x3F));
        return aod_buf_add(out, b, 2);
    }
    b[0] = (char)(0xE0 | cp >> 12);
    b[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    b[2] = (char)(0x80 | (cp & 0x3F));
    return aod_buf_add(out, b, 3);
}

/* The lam-alef ligatures U+FEF5 .. U+FEFC (isolated and final of each):
 * lam and the alef that each stands for. */
static const uint16_t lam_alef[4] = {0x0622, 0x0623, 0x0625, 0x0627};

static void record(aod_bidi_forms *forms, FriBidiChar was, FriBidiChar is)
{
    uint16_t *to;

    if (is < AOD_BIDI_FORMS_FIRST || is > AOD_BIDI_FORMS_LAST || is == was)
        return;
    to = forms->from[is - AOD_BIDI_FORMS_FIRST];
    if (is >= 0xFEF5 && is <= 0xFEFC) {
        /* In drawing order, as the line is: a reader that puts the line
         * back in logical order (poppler does) turns these round too. */
        to[0] = lam_alef[(is - 0xFEF5) / 2];
        to[1] = 0x0644;
    } else {
        to[0] = (uint16_t)was;
        to[1] = 0;
    }
}

int aod_bidi_shape(aod_buf *b, size_t off, aod_bidi_forms *forms)
{
    FriBidiChar *u = NULL, *shaped = NULL;
    FriBidiCharType *types = NULL;
    FriBidiBracketType *brackets = NULL;
    FriBidiLevel *levels = NULL;
    FriBidiArabicProp *props = NULL;
    FriBidiParType dir = FRIBIDI_PAR_LTR;
    FriBidiStrIndex n = 0, i;
    size_t start = b->len;
    int rc = -1;

    if (off >= b->len || !has_arabic(b->data + off, b->len - off))
        return 0;
    u = decode(b->data + off, b->len - off, &n);
    shaped = malloc((size_t)n * sizeof *shaped);
    types = malloc((size_t)n * sizeof *types);
    brackets = malloc((size_t)n * sizeof *brackets);
    levels = malloc((size_t)n * sizeof *levels);
    props = malloc((size_t)n * sizeof *props);
    if (!u || !shaped || !types || !brackets || !levels || !props)
        goto done;
    fribidi_get_bidi_types(u, n, types);
    fribidi_get_bracket_types(u, n, types, brackets);
    if (!fribidi_get_par_embedding_levels_ex(types, brackets, n, &dir, levels))
        goto done;
    fribidi_get_joining_types(u, n, props);
    fribidi_join_arabic(types, n, levels, props);
    memcpy(shaped, u, (size_t)n * sizeof *u);
    fribidi_shape(FRIBIDI_FLAG_SHAPE_ARAB_PRES | FRIBIDI_FLAG_SHAPE_ARAB_LIGA, levels, n, props,
                  shaped);
    /* Write the result after the text, then move it into its place. */
    for (i = 0; i < n; i++) {
        if (shaped[i] == FRIBIDI_CHAR_FILL && u[i] != FRIBIDI_CHAR_FILL)
            continue; /* the lam of a ligature: the next character holds both */
        record(forms, u[i], shaped[i]);
        if (encode(b, shaped[i]) != 0)
            goto done;
    }
    memmove(b->data + off, b->data + start, b->len - start);
    b->len = off + (b->len - start);
    b->data[b->len] = '\0';
    rc = 0;
done:
    if (rc != 0 && b->len > start) { /* give back what was appended */
        b->len = start;
        b->data[start] = '\0';
    }
    free(u);
    free(shaped);
    free(types);
    free(brackets);
    free(levels);
    free(props);
    return rc;
}

int aod_bidi_visual(const char *p, size_t n, aod_buf *out)
{
    FriBidiChar *u = NULL;
    FriBidiCharType *types = NULL;
    FriBidiBracketType *brackets = NULL;
    FriBidiLevel *levels = NULL;
    FriBidiParType dir = FRIBIDI_PAR_LTR;
    FriBidiStrIndex len = 0, i;
    int rc = -1;

    u = decode(p, n, &len);
    types = malloc(((size_t)len + 1) * sizeof *types);
    brackets = malloc(((size_t)len + 1) * sizeof *brackets);
    levels = malloc(((size_t)len + 1) * sizeof *levels);
    if (!u || !types || !brackets || !levels)
        goto done;
    fribidi_get_bidi_types(u, len, types);
    fribidi_get_bracket_types(u, len, types, brackets);
    if (!fribidi_get_par_embedding_levels_ex(types, brackets, len, &dir, levels))
        goto done;
    /* A bracket in a right-to-left run is drawn as its mirror image (rule
     * L4 of the bidirectional algorithm): turned round with the run, "("
     * opening a right-to-left aside would otherwise face away from it.
     * Done in logical order, before the line is turned round, by the
     * levels each character has there. */
    fribidi_shape(FRIBIDI_FLAG_SHAPE_MIRRORING, levels, len, NULL, u);
    /* Marks follow their letter, so that a mark (drawn with no advance)
     * lands on it. */
    if (!fribidi_reorder_line(FRIBIDI_FLAGS_DEFAULT, types, len, 0, dir, levels, u, NULL))
        goto done;
    for (i = 0; i < len; i++)
        if (!aod_bidi_invisible(u[i]) && encode(out, u[i]) != 0)
            goto done;
    rc = 0;
done:
    free(u);
    free(types);
    free(brackets);
    free(levels);
    return rc;
}

int aod_bidi_letters(const aod_bidi_forms *forms, uint32_t cp, uint32_t letters[2])
{
    const uint16_t *from;

    if (cp < AOD_BIDI_FORMS_FIRST || cp > AOD_BIDI_FORMS_LAST)
        return 0;
    from = forms->from[cp - AOD_BIDI_FORMS_FIRST];
    if (!from[0])
        return 0;
    letters[0] = from[0];
    letters[1] = from[1];
    return from[1] ? 2 : 1;
}
