/*
 * fontsubset.c - a TrueType font cut down to the characters a document uses
 * (see fontsubset.h).
 *
 * Render stage support.  The only user of HarfBuzz.  A process keeps each
 * font it was asked for in a short list: batch workers are processes of
 * their own, one thread each, so the list needs no lock.
 */
#include "render/fontsubset.h"

#include <hb-subset.h>
#include <hb.h>
#include <stdlib.h>
#include <string.h>

struct aod_fontsubset_font {
    char *path;
    hb_blob_t *blob;
    hb_face_t *face;
    hb_font_t *font;
    unsigned upem;
    int missing;     /* .notdef's width, 1/1000 em */
    hb_blob_t *stub; /* .notdef, space, H and x only */
    aod_fontsubset_font *next;
};

static aod_fontsubset_font *cache;

/* Tables a PDF viewer never reads from an embedded TrueType font: the
 * layout tables (HarfBuzz would also pull every glyph a substitution can
 * reach into the subset) and the rest of OpenType's extras. */
static const char *const drop_tables[] = {"GSUB", "GPOS", "GDEF", "kern", "BASE", "JSTF",
                                          "MATH", "morx", "kerx", "feat", "DSIG"};

static void font_free(aod_fontsubset_font *f)
{
    if (!f)
        return;
    hb_blob_destroy(f->stub);
    hb_font_destroy(f->font);
    hb_face_destroy(f->face);
    hb_blob_destroy(f->blob);
    free(f->path);
    free(f);
}

void aod_fontsubset_cache_free(void)
{
    while (cache) {
        aod_fontsubset_font *next = cache->next;
        font_free(cache);
        cache = next;
    }
}

/* A new subset input that keeps hinting and drops drop_tables; NULL when
 * HarfBuzz has no memory. */
static hb_subset_input_t *new_input(void)
{
    hb_subset_input_t *in = hb_subset_input_create_or_fail();
    hb_set_t *drop;
    size_t i;

    if (!in)
        return NULL;
    drop = hb_subset_input_set(in, HB_SUBSET_SETS_DROP_TABLE_TAG);
    for (i = 0; i < sizeof drop_tables / sizeof drop_tables[0]; i++)
        hb_set_add(drop, hb_tag_from_string(drop_tables[i], 4));
    if (!hb_set_allocation_successful(drop)) {
        hb_subset_input_destroy(in);
        return NULL;
    }
    return in;
}

/* The face cut down to the code points in cps; a new blob, or NULL. */
static hb_blob_t *cut(hb_face_t *face, const hb_set_t *cps)
{
    hb_subset_input_t *in = new_input();
    hb_face_t *sub = NULL;
    hb_blob_t *blob = NULL;

    if (!in)
        goto done;
    hb_set_union(hb_subset_input_unicode_set(in), cps);
    if (!hb_set_allocation_successful(hb_subset_input_unicode_set(in)))
        goto done;
    sub = hb_subset_or_fail(face, in);
    if (!sub)
        goto done;
    blob = hb_face_reference_blob(sub);
    if (hb_blob_get_length(blob) == 0) {
        hb_blob_destroy(blob);
        blob = NULL;
    }
done:
    hb_face_destroy(sub);
    hb_subset_input_destroy(in);
    return blob;
}

const aod_fontsubset_font *aod_fontsubset_get(const char *path, aod_error *err)
{
    aod_fontsubset_font *f;
    hb_set_t *stub_set = NULL;

    for (f = cache; f; f = f->next)
        if (strcmp(f->path, path) == 0)
            return f;
    f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        aod_error_set(err, AOD_ERR_NOMEM, path, 0, "font", "out of memory reading the font");
        goto fail;
    }
    f->blob = hb_blob_create_from_file_or_fail(path);
    if (!f->blob) {
        aod_error_set(err, AOD_ERR_IO, path, 0, "font", "cannot read the font file");
        goto fail;
    }
    f->face = hb_face_create(f->blob, 0);
    f->upem = hb_face_get_upem(f->face);
    if (hb_face_get_glyph_count(f->face) == 0 || f->upem == 0) {
        aod_error_set(err, AOD_ERR_IO, path, 0, "font", "not a TrueType font");
        goto fail;
    }
    f->font = hb_font_create(f->face);
    hb_font_set_scale(f->font, (int)f->upem, (int)f->upem); /* advances in font units */
    f->missing = (int)((unsigned)hb_font_get_glyph_h_advance(f->font, 0) * 1000u / f->upem);
    /* libharu reads the cap and x heights from H and x. */
    stub_set = hb_set_create();
    hb_set_add(stub_set, ' ');
    hb_set_add(stub_set, 'H');
    hb_set_add(stub_set, 'x');
    f->stub = hb_font_get_empty() == f->font ? NULL : cut(f->face, stub_set);
    if (!f->stub) {
        aod_error_set(err, AOD_ERR_IO, path, 0, "font",
                      "HarfBuzz cannot cut this font down (not a TrueType font, or no memory)");
        goto fail;
    }
    hb_set_destroy(stub_set);
    f->next = cache;
    cache = f;
    return f;
fail:
    hb_set_destroy(stub_set);
    font_free(f);
    return NULL;
}

const unsigned char *aod_fontsubset_stub(const aod_fontsubset_font *f, size_t *len)
{
    unsigned n = 0;
    const char *data = hb_blob_get_data(f->stub, &n);

    *len = n;
    return (const unsigned char *)data;
}

int aod_fontsubset_has(const aod_fontsubset_font *f, uint32_t cp)
{
    hb_codepoint_t gid;

    return hb_font_get_nominal_glyph(f->font, cp, &gid) ? 1 : 0;
}

int aod_fontsubset_width(const aod_fontsubset_font *f, uint32_t cp)
{
    hb_codepoint_t gid = 0;

    if (!hb_font_get_nominal_glyph(f->font, cp, &gid))
        return f->missing;
    return (int)((unsigned)hb_font_get_glyph_h_advance(f->font, gid) * 1000u / f->upem);
}

int aod_fontsubset_missing_width(const aod_fontsubset_font *f)
{
    return f->missing;
}

void aod_fontsubset_mark(aod_fontsubset_used *u, const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p, *end = s + n;

    while (s < end) {
        uint32_t cp;
        if (s[0] < 0x80) {
            cp = s[0];
            s += 1;
        } else if (s[0] < 0xE0 && s + 1 < end) {
            cp = ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
            s += 2;
        } else if (s[0] < 0xF0 && s + 2 < end) {
            cp = ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
            s += 3;
        } else { /* past U+FFFF, or cut short: no PDF code of ours */
            s += s[0] >= 0xF0 ? 4 : 1;
            continue;
        }
        u->bits[cp >> 5] |= UINT32_C(1) << (cp & 31);
    }
}

int aod_fontsubset_is_used(const aod_fontsubset_used *u, uint32_t cp)
{
    return cp < 0x10000 && (u->bits[cp >> 5] >> (cp & 31) & 1);
}

void aod_fontsubset_clear(aod_fontsubset *s)
{
    free(s->data);
    free(s->gid);
    memset(s, 0, sizeof *s);
}

int aod_fontsubset_make(const aod_fontsubset_font *f, const aod_fontsubset_used *u,
                        aod_fontsubset *out, aod_error *err)
{
    hb_set_t *cps = hb_set_create();
    hb_blob_t *blob = NULL;
    hb_face_t *face = NULL;
    hb_font_t *font = NULL;
    const char *data;
    unsigned len = 0;
    uint32_t cp;
    int rc = -1;

    memset(out, 0, sizeof *out);
    for (cp = 0; cp < 0x10000; cp++)
        if (aod_fontsubset_is_used(u, cp)) {
            hb_set_add(cps, cp);
            out->max_cp = cp;
        }
    blob = hb_set_allocation_successful(cps) ? cut(f->face, cps) : NULL;
    if (!blob) {
        aod_error_set(err, AOD_ERR_INTERNAL, f->path, 0, "font",
                      "HarfBuzz could not cut the font down to the document's characters");
        goto done;
    }
    data = hb_blob_get_data(blob, &len);
    out->data = malloc(len);
    out->gid = calloc((size_t)out->max_cp + 1, sizeof *out->gid);
    /* The subset numbers its glyphs anew: read each character's glyph from
     * its own character map. */
    face = hb_face_create(blob, 0);
    font = hb_font_create(face);
    if (!out->data || !out->gid || font == hb_font_get_empty()) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "font", "out of memory cutting the font down");
        goto done;
    }
    memcpy(out->data, data, len);
    out->len = len;
    for (cp = 0; cp <= out->max_cp; cp++) {
        hb_codepoint_t gid;
        if (aod_fontsubset_is_used(u, cp) && hb_font_get_nominal_glyph(font, cp, &gid))
            out->gid[cp] = (uint16_t)gid;
    }
    rc = 0;
done:
    hb_font_destroy(font);
    hb_face_destroy(face);
    hb_blob_destroy(blob);
    hb_set_destroy(cps);
    return rc;
}
