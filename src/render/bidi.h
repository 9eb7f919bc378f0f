/*
 * bidi.h - right-to-left text made drawable for the PDF.
 *
 * Render stage support for the PDF renderer, the only user of FriBidi.  A
 * PDF draws glyphs left to right, one after the other: it knows neither
 * Arabic's joining nor the order of right-to-left text.  So Arabic letters
 * are replaced by the presentation forms their place in the word asks for
 * (initial, medial, final, isolated, and the lam-alef ligatures), with the
 * text still in logical order, so that it is measured and wrapped with the
 * widths of what will be drawn; then each wrapped line is put in the order
 * it is drawn (the Unicode bidirectional algorithm, in a left-to-right
 * paragraph, as the letters' languages are).  Hebrew needs the order only.
 *
 * The PDF maps each presentation form back to the letters it stands for
 * (its ToUnicode map), so that copying, searching and screen readers get
 * the letters, not the forms: aod_bidi_forms remembers which forms a
 * document drew and from what.
 *
 * Text handed in is valid UTF-8 of the Basic Multilingual Plane, as the
 * PDF renderer cleans it.  Nothing here allocates beyond the output buffer
 * and a scratch array per call.
 */
#ifndef AOD_BIDI_H
#define AOD_BIDI_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Arabic presentation forms: U+FB50 .. U+FEFF. */
#define AOD_BIDI_FORMS_FIRST 0xFB50u
#define AOD_BIDI_FORMS_LAST  0xFEFFu

/* For each presentation form drawn, the letter (or, for a ligature, the
 * two letters, in drawing order: alef, lam) it was made from; zeroed: none
 * yet. */
typedef struct aod_bidi_forms {
    uint16_t from[AOD_BIDI_FORMS_LAST - AOD_BIDI_FORMS_FIRST + 1][2];
} aod_bidi_forms;

/* 1 when the n bytes of UTF-8 at p hold a right-to-left character (Hebrew,
 * Arabic and the scripts between them, their presentation forms) or an
 * explicit direction mark, so that the line must be reordered; else 0. */
int aod_bidi_has_rtl(const char *p, size_t n);

/* Shapes the Arabic letters of b's bytes from off to the end in place:
 * each becomes the presentation form its neighbours ask for, lam-alef a
 * ligature (one character for two).  Forms made are recorded in forms.
 * Text without Arabic is left untouched, quickly.  Returns 0, or -1 when
 * out of memory (b unchanged). */
int aod_bidi_shape(aod_buf *b, size_t off, aod_bidi_forms *forms);

/* Appends to out the n bytes of UTF-8 at p (one line, logical order) in
 * the order they are drawn, left to right; brackets and the other mirrored
 * characters in right-to-left runs replaced by their mirror images, so that
 * "(" drawn at the right of a right-to-left aside is drawn as ")"; direction
 * marks and the other invisible formatting characters are left out.  Returns 0, or -1 when out
 * of memory. */
int aod_bidi_visual(const char *p, size_t n, aod_buf *out);

/* The letters the presentation form cp was drawn for: up to two into
 * letters (a ligature's in drawing order), and their number; 0 when cp is
 * not a form recorded in forms. */
int aod_bidi_letters(const aod_bidi_forms *forms, uint32_t cp, uint32_t letters[2]);

/* 1 when cp is an invisible formatting character (direction marks and
 * embeddings, joiners, the byte order mark) that aod_bidi_visual() drops. */
int aod_bidi_invisible(uint32_t cp);

#endif
