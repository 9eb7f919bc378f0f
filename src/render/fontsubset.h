/*
 * fontsubset.h - a TrueType font cut down to the characters a document uses.
 *
 * Render stage support for the PDF renderer.  libharu embeds a TrueType
 * font with every glyph's metrics and its widths for every character the
 * font maps (about 150 KB of DejaVu Sans per face, and 20-40 ms of work per
 * document).  Here the font is read once per process (a batch worker makes
 * many letters), HarfBuzz's subsetter (hb-subset) makes the font file a
 * document embeds from the characters it drew, and a tiny stub of the same
 * font (its .notdef, space, H and x only) is what libharu loads per
 * document, so that loading costs nothing.  The renderer measures text with
 * aod_fontsubset_width(), which gives exactly libharu's widths.
 *
 * Nothing here uses libharu.  The subset of the same characters is the same
 * bytes every time (hb-subset writes no clock or random data).
 */
#ifndef AOD_FONTSUBSET_H
#define AOD_FONTSUBSET_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct aod_fontsubset_font aod_fontsubset_font;

/* The characters a document drew: Unicode's Basic Multilingual Plane, the
 * characters a PDF code of libharu's UTF-8 encoding can carry. */
typedef struct aod_fontsubset_used {
    uint32_t bits[0x10000 / 32];
} aod_fontsubset_used;

/* The font at path (borrowed), read and parsed the first time a process
 * asks for it and kept until aod_fontsubset_cache_free() (a borrowed
 * reference).  Returns NULL with err set: AOD_ERR_IO when the file cannot
 * be read, AOD_ERR_INPUT when it is not a TrueType font HarfBuzz can cut
 * (the message names the file), AOD_ERR_NOMEM. */
const aod_fontsubset_font *aod_fontsubset_get(const char *path, aod_error *err);

/* Frees every font aod_fontsubset_get() kept (their references die). */
void aod_fontsubset_cache_free(void);

/* The stub: a valid TrueType font of f's own tables with only .notdef, the
 * space, H and x (from which libharu reads the cap and x heights); borrowed,
 * *len bytes, lives as long as f. */
const unsigned char *aod_fontsubset_stub(const aod_fontsubset_font *f, size_t *len);

/* The advance width of the code point cp in 1/1000 em, computed as libharu
 * does (font units * 1000 / units per em, truncated); a character the font
 * lacks has .notdef's width. */
int aod_fontsubset_width(const aod_fontsubset_font *f, uint32_t cp);

/* .notdef's width, in 1/1000 em (the PDF's default width, DW). */
int aod_fontsubset_missing_width(const aod_fontsubset_font *f);

/* 1 when f maps cp to a glyph, else 0. */
int aod_fontsubset_has(const aod_fontsubset_font *f, uint32_t cp);

/* Marks each character of the n bytes of UTF-8 at p (borrowed, valid UTF-8)
 * as used; characters past U+FFFF are ignored. */
void aod_fontsubset_mark(aod_fontsubset_used *u, const char *p, size_t n);

/* 1 when cp is marked in u. */
int aod_fontsubset_is_used(const aod_fontsubset_used *u, uint32_t cp);

/* A subset: the font file and, for each used character, its glyph there. */
typedef struct aod_fontsubset {
    unsigned char *data; /* the TrueType file (new: aod_fontsubset_clear) */
    size_t len;
    uint16_t *gid;   /* gid[cp] for cp 0 .. max_cp: 0 when not used or not in the font */
    uint32_t max_cp; /* the highest used code point (0: none) */
} aod_fontsubset;

/* Cuts f down to the characters marked in u (and .notdef) into *out, which
 * the caller clears with aod_fontsubset_clear() whatever this returns.
 * Hinting is kept, layout tables (which a PDF never reads) are dropped.
 * Returns 0, or -1 with err set: AOD_ERR_INTERNAL when HarfBuzz fails,
 * AOD_ERR_NOMEM. */
int aod_fontsubset_make(const aod_fontsubset_font *f, const aod_fontsubset_used *u,
                        aod_fontsubset *out, aod_error *err);

/* Frees what *s holds and zeroes it.  Accepts a zeroed struct. */
void aod_fontsubset_clear(aod_fontsubset *s);

#endif
