/*
 * font.c - a TrueType character map reader (see font.h).
 *
 * Only the cmap table is read: the subtable for the whole of Unicode
 * (platform 3 encoding 10, or platform 0 encoding 4/6, format 12) when the
 * font has one, else the one for the Basic Multilingual Plane (platform 3
 * encoding 1, or platform 0, format 4).  Offsets and lengths from the file
 * are checked before every read.  A collection (.ttc) is read as its first
 * font, the one the PDF draws with.
 */
#include "render/font.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FONT_BYTES ((long)64 * 1024 * 1024)

struct aod_font {
    unsigned char *data;
    size_t len;
    size_t sub; /* offset of the chosen cmap subtable */
    int format; /* 4 or 12 */
};

static uint32_t be16(const aod_font *f, size_t at)
{
    return at + 2 <= f->len ? (uint32_t)f->data[at] << 8 | f->data[at + 1] : 0;
}

static uint32_t be32(const aod_font *f, size_t at)
{
    return at + 4 <= f->len ? be16(f, at) << 16 | be16(f, at + 2) : 0;
}

static int read_all(aod_font *f, const char *path, aod_error *err)
{
    FILE *in = fopen(path, "rb");
    long size;

    if (!in) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "cannot open the font: %s", strerror(errno));
        return -1;
    }
    if (fseek(in, 0, SEEK_END) != 0 || (size = ftell(in)) < 0 || fseek(in, 0, SEEK_SET) != 0) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "cannot read the font");
        goto fail;
    }
    if (size < 12 || size > MAX_FONT_BYTES) {
        aod_error_set(err, AOD_ERR_INPUT, path, 0, NULL, "not a TrueType font (%ld bytes)", size);
        goto fail;
    }
    f->data = malloc((size_t)size);
    if (!f->data) {
        aod_error_set(err, AOD_ERR_NOMEM, path, 0, NULL, "out of memory reading the font");
        goto fail;
    }
    f->len = (size_t)size;
    if (fread(f->data, 1, f->len, in) != f->len) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "cannot read the font");
        goto fail;
    }
    fclose(in);
    return 0;
fail:
    fclose(in);
    return -1;
}

/* Chooses the cmap subtable; 0, or -1 when there is no usable one. */
static int find_cmap(aod_font *f)
{
    /* A collection (.ttc, "ttcf"): its first font, as the PDF uses it;
     * table offsets count from the start of the file either way. */
    size_t base = f->len >= 16 && memcmp(f->data, "ttcf", 4) == 0 ? be32(f, 12) : 0;
    uint32_t tables = be16(f, base + 4), i, cmap = 0, n;
    size_t best = 0;
    int best_rank = 0;

    for (i = 0; i < tables; i++) {
        size_t rec = base + 12 + (size_t)i * 16;
        if (rec + 16 > f->len)
            break;
        if (memcmp(f->data + rec, "cmap", 4) == 0)
            cmap = be32(f, rec + 8);
    }
    if (!cmap || cmap + 4 > f->len)
        return -1;
    n = be16(f, cmap + 2);
    for (i = 0; i < n; i++) {
        size_t rec = cmap + 4 + (size_t)i * 8;
        uint32_t platform = be16(f, rec), encoding = be16(f, rec + 2);
        size_t sub = cmap + (size_t)be32(f, rec + 4);
        uint32_t format = be16(f, sub);
        int rank = 0;

        if (rec + 8 > f->len || sub + 8 > f->len)
            continue;
        if (format == 12 && ((platform == 3 && encoding == 10) || platform == 0))
            rank = 2;
        else if (format == 4 && ((platform == 3 && encoding == 1) || platform == 0))
            rank = 1;
        if (rank > best_rank) {
            best_rank = rank;
            best = sub;
        }
    }
    if (!best_rank)
        return -1;
    f->sub = best;
    f->format = best_rank == 2 ? 12 : 4;
    return 0;
}

aod_font *aod_font_open(const char *path, aod_error *err)
{
    aod_font *f = calloc(1, sizeof *f);

    if (!f) {
        aod_error_set(err, AOD_ERR_NOMEM, path, 0, NULL, "out of memory reading the font");
        return NULL;
    }
    if (read_all(f, path, err) != 0)
        goto fail;
    if (find_cmap(f) != 0) {
        aod_error_set(err, AOD_ERR_INPUT, path, 0, NULL,
                      "not a TrueType font with a Unicode character map");
        goto fail;
    }
    return f;
fail:
    aod_font_free(f);
    return NULL;
}

void aod_font_free(aod_font *f)
{
    if (!f)
        return;
    free(f->data);
    free(f);
}

static int has12(const aod_font *f, uint32_t cp)
{
    uint32_t groups = be32(f, f->sub + 12), i;

    for (i = 0; i < groups; i++) {
        size_t g = f->sub + 16 + (size_t)i * 12;
        if (g + 12 > f->len)
            return 0;
        if (cp >= be32(f, g) && cp <= be32(f, g + 4))
            return be32(f, g + 8) + (cp - be32(f, g)) != 0;
    }
    return 0;
}

static int has4(const aod_font *f, uint32_t cp)
{
    size_t s = f->sub;
    uint32_t segs = be16(f, s + 6) / 2, i;
    size_t ends = s + 14, starts = ends + 2 * (size_t)segs + 2;
    size_t deltas = starts + 2 * (size_t)segs, offsets = deltas + 2 * (size_t)segs;

    if (cp > 0xFFFF)
        return 0;
    for (i = 0; i < segs; i++) {
        uint32_t end = be16(f, ends + 2 * (size_t)i), start, delta, ro, gid;
        if (end < cp)
            continue;
        start = be16(f, starts + 2 * (size_t)i);
        if (start > cp)
            return 0;
        delta = be16(f, deltas + 2 * (size_t)i);
        ro = be16(f, offsets + 2 * (size_t)i);
        if (ro == 0)
            return ((cp + delta) & 0xFFFF) != 0;
        gid = be16(f, offsets + 2 * (size_t)i + ro + 2 * (size_t)(cp - start));
        return gid != 0;
    }
    return 0;
}

int aod_font_has(const aod_font *f, uint32_t cp)
{
    return f->format == 12 ? has12(f, cp) : has4(f, cp);
}

uint32_t aod_font_first_missing(const aod_font *f, const char *s, size_t len)
{
    return aod_font_first_missing_either(f, NULL, s, len);
}

uint32_t aod_font_first_missing_either(const aod_font *f, const aod_font *fallback, const char *s,
                                       size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;

    while (p < end) {
        uint32_t cp;
        int n;
        if (*p < 0x80) {
            cp = *p;
            n = 1;
        } else if ((*p & 0xE0) == 0xC0) {
            cp = *p & 0x1F;
            n = 2;
        } else if ((*p & 0xF0) == 0xE0) {
            cp = *p & 0x0F;
            n = 3;
        } else if ((*p & 0xF8) == 0xF0) {
            cp = *p & 0x07;
            n = 4;
        } else {
            return 0;
        }
        if (end - p < n)
            return 0;
        for (int i = 1; i < n; i++)
            cp = cp << 6 | (p[i] & 0x3F);
        p += n;
        if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0) || cp == 0xFEFF)
            continue;
        if (!aod_font_has(f, cp) && !(fallback && aod_font_has(fallback, cp)))
            return cp;
    }
    return 0;
}
