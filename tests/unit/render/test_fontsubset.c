/*
 * test_fontsubset.c - the font cut to the characters a document draws, on
 * the font the PDF renderer embeds (AOD_FONT_FILE from config.h, DejaVu Sans
 * by default):
 * the font is read once per process, widths are libharu's, a subset holds
 * the marked characters and no others, the same characters give the same
 * bytes, and what is not a font is refused.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <hb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "render/fontsubset.h"

static const aod_fontsubset_font *font(void)
{
    aod_error err;
    const aod_fontsubset_font *f;

    aod_error_init(&err);
    f = aod_fontsubset_get(AOD_FONT_FILE, &err);
    if (!f)
        fail_msg("%s: %s", AOD_FONT_FILE, err.text);
    return f;
}

static void read_once(void **state)
{
    (void)state;
    assert_ptr_equal(font(), font());
}

/* DejaVu Sans: 2048 units per em; space 651 units -> 317, .notdef 1229 ->
 * 600, as libharu wrote them in /W and /DW. */
static void widths(void **state)
{
    const aod_fontsubset_font *f = font();

    (void)state;
    assert_int_equal(aod_fontsubset_missing_width(f), 600);
    assert_int_equal(aod_fontsubset_width(f, ' '), 317);
    assert_int_equal(aod_fontsubset_has(f, 0x0378), 0); /* unassigned */
    assert_int_equal(aod_fontsubset_width(f, 0x0378), 600);
    assert_int_equal(aod_fontsubset_has(f, 0x0416), 1); /* Ж */
}

static void mark(void **state)
{
    static aod_fontsubset_used u;
    const char *s = "Az \xCE\xA9\xD0\x96\xE2\x80\xA2\xF0\x9F\x98\x80"; /* A z space Ω Ж • 😀 */
    uint32_t cp, n = 0;

    (void)state;
    memset(&u, 0, sizeof u);
    aod_fontsubset_mark(&u, s, strlen(s));
    for (cp = 0; cp < 0x10000; cp++)
        n += (uint32_t)aod_fontsubset_is_used(&u, cp);
    assert_int_equal(n, 6); /* past U+FFFF: no PDF code, not marked */
    assert_true(aod_fontsubset_is_used(&u, 0x2022));
    assert_false(aod_fontsubset_is_used(&u, 0x1F600));
}

static unsigned glyph_count(const aod_fontsubset *s)
{
    hb_blob_t *b = hb_blob_create((const char *)s->data, (unsigned)s->len, HB_MEMORY_MODE_READONLY,
                                  NULL, NULL);
    hb_face_t *face = hb_face_create(b, 0);
    unsigned n = hb_face_get_glyph_count(face);

    hb_face_destroy(face);
    hb_blob_destroy(b);
    return n;
}

static void subset(void **state)
{
    static aod_fontsubset_used u;
    const char *s = "Hello \xCE\xA9\xD0\x96 \xCD\xB8"; /* Ω Ж, and U+0378 the font lacks */
    aod_fontsubset a, b;
    aod_error err;
    uint32_t cp;

    (void)state;
    memset(&u, 0, sizeof u);
    aod_fontsubset_mark(&u, s, strlen(s));
    aod_error_init(&err);
    assert_int_equal(aod_fontsubset_make(font(), &u, &a, &err), 0);
    assert_int_equal(aod_fontsubset_make(font(), &u, &b, &err), 0);
    assert_true(a.len > 0 && a.len < 20000);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len); /* the same characters, the same bytes */
    assert_int_equal(a.max_cp, 0x0416);
    /* .notdef, H e l o space, Ω, Ж: nothing else (no layout closure) */
    assert_int_equal(glyph_count(&a), 8);
    for (cp = 0; cp <= a.max_cp; cp++) {
        int want = aod_fontsubset_is_used(&u, cp) && aod_fontsubset_has(font(), cp);
        if (want != (a.gid[cp] != 0))
            fail_msg("U+%04X: glyph %u in the subset", (unsigned)cp, (unsigned)a.gid[cp]);
    }
    aod_fontsubset_clear(&a);
    aod_fontsubset_clear(&b);
    assert_null(a.data);
}

static void not_a_font(void **state)
{
    char path[] = "test_fontsubset.XXXXXX"; /* in the build tree */
    int fd = mkstemp(path);
    aod_error err;

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not a font\n", 11), 11);
    close(fd);
    aod_error_init(&err);
    assert_null(aod_fontsubset_get(path, &err));
    assert_int_equal(err.code, AOD_ERR_IO);
    assert_string_equal(err.source, path);
    unlink(path);
    aod_error_init(&err);
    assert_null(aod_fontsubset_get("/nonexistent/NoSuchFont.ttf", &err));
    assert_int_equal(err.code, AOD_ERR_IO);
}

static int teardown(void **state)
{
    (void)state;
    aod_fontsubset_cache_free();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_once), cmocka_unit_test(widths),     cmocka_unit_test(mark),
        cmocka_unit_test(subset),    cmocka_unit_test(not_a_font),
    };

    return cmocka_run_group_tests(tests, NULL, teardown);
}
