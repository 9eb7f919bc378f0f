/*
 * font.h - which characters a TrueType font has glyphs for.
 *
 * Render stage support, for `aodreport check`: a letter in a language the
 * PDF font does not cover prints empty boxes, so the check reads the font's
 * character map (the cmap table, formats 4 and 12, as every TrueType and
 * OpenType font has; of a collection, its first font) and looks up each
 * character of the letter's words, in the font and the fallback font.
 * Nothing here uses libharu; the font file is read once, whole, capped.
 */
#ifndef AOD_FONT_H
#define AOD_FONT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct aod_font aod_font;

/* Reads the character map of the TrueType/OpenType font at path (borrowed).
 * Returns a new aod_font (aod_font_free), or NULL with err set: AOD_ERR_IO
 * when the file cannot be read, AOD_ERR_INPUT when it is not a font with a
 * Unicode character map, AOD_ERR_NOMEM. */
aod_font *aod_font_open(const char *path, aod_error *err);

/* Frees f.  Accepts NULL. */
void aod_font_free(aod_font *f);

/* 1 when f has a glyph for the code point cp, else 0. */
int aod_font_has(const aod_font *f, uint32_t cp);

/* The first code point of the UTF-8 text s (len bytes, borrowed) that f has
 * no glyph for, skipping control characters; 0 when f covers them all (or
 * s is not valid UTF-8 there: the text's own checks report that). */
uint32_t aod_font_first_missing(const aod_font *f, const char *s, size_t len);

/* The same with a fallback font (may be NULL): the first code point
 * neither f nor fallback has a glyph for, as the PDF draws each character
 * with the fallback font when its font lacks it. */
uint32_t aod_font_first_missing_either(const aod_font *f, const aod_font *fallback, const char *s,
                                       size_t len);

#endif
