/*
 * test_font.c - the TrueType character map reader behind `check`: a font
 * built here byte by byte (one cmap subtable of format 4, or of format 12),
 * the look-ups it must answer, the first missing character of UTF-8 text,
 * and files that are not fonts or are cut short, which must be refused
 * without reading past their end.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "render/font.h"

typedef struct bytes {
    unsigned char b[512];
    size_t n;
} bytes;

static void u16(bytes *x, unsigned v)
{
    x->b[x->n++] = (unsigned char)(v >> 8);
    x->b[x->n++] = (unsigned char)v;
}

static void u32(bytes *x, unsigned long v)
{
    u16(x, (unsigned)(v >> 16));
    u16(x, (unsigned)(v & 0xFFFF));
}

/* An sfnt with one table, "cmap", holding one subtable (platform 3, the
 * given encoding) of the given body. */
static void font_at(bytes *x, size_t base, unsigned encoding, const bytes *sub);

static void font_with(bytes *x, unsigned encoding, const bytes *sub)
{
    x->n = 0;
    font_at(x, 0, encoding, sub);
}

/* A collection (.ttc) of one font: its table offsets count from the start
 * of the file. */
static void collection_with(bytes *x, unsigned encoding, const bytes *sub)
{
    x->n = 0;
    memcpy(x->b, "ttcf", 4);
    x->n = 4;
    u32(x, 0x00010000); /* version 1 */
    u32(x, 1);          /* numFonts */
    u32(x, 16);         /* the first font's offset table */
    font_at(x, 16, encoding, sub);
}

/* The font's offset table at x->n == base. */
static void font_at(bytes *x, size_t base, unsigned encoding, const bytes *sub)
{
    u32(x, 0x00010000); /* TrueType */
    u16(x, 1);          /* numTables */
    u16(x, 16);
    u16(x, 0);
    u16(x, 0);
    memcpy(x->b + x->n, "cmap", 4); /* the table record */
    x->n += 4;
    u32(x, 0);                             /* checksum */
    u32(x, (unsigned long)base + 12 + 16); /* offset */
    u32(x, 12 + (unsigned long)sub->n);
    u16(x, 0); /* cmap version */
    u16(x, 1); /* one encoding record */
    u16(x, 3);
    u16(x, encoding);
    u32(x, 12);
    memcpy(x->b + x->n, sub->b, sub->n);
    x->n += sub->n;
}

/* Format 4: 'A'-'Z' (glyphs by delta), 0xE9 (by glyphIdArray), and the
 * final 0xFFFF segment. */
static void format4(bytes *s)
{
    s->n = 0;
    u16(s, 4);
    u16(s, 0); /* length, not read */
    u16(s, 0);
    u16(s, 3 * 2); /* segCountX2 */
    u16(s, 0);
    u16(s, 0);
    u16(s, 0);
    u16(s, 'Z'); /* endCode */
    u16(s, 0xE9);
    u16(s, 0xFFFF);
    u16(s, 0);   /* reservedPad */
    u16(s, 'A'); /* startCode */
    u16(s, 0xE9);
    u16(s, 0xFFFF);
    u16(s, (unsigned)(-('A' - 1)) & 0xFFFF); /* idDelta: 'A' -> glyph 1 */
    u16(s, 0);
    u16(s, 1);
    u16(s, 0); /* idRangeOffset */
    u16(s, 4); /* -> glyphIdArray[0], two entries on */
    u16(s, 0);
    u16(s, 77); /* glyphIdArray[0]: 0xE9 -> glyph 77 */
}

/* Format 12: U+4E00-U+4E0F and U+1F600. */
static void format12(bytes *s)
{
    s->n = 0;
    u16(s, 12);
    u16(s, 0);
    u32(s, 0); /* length, not read */
    u32(s, 0);
    u32(s, 2); /* groups */
    u32(s, 0x4E00);
    u32(s, 0x4E0F);
    u32(s, 5);
    u32(s, 0x1F600);
    u32(s, 0x1F600);
    u32(s, 40);
}

static char path[64];

static void write_file(const void *data, size_t n)
{
    FILE *f;
    int fd;

    /* in the working directory: the build tree under make check */
    strcpy(path, "test-font-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static aod_font *open_ok(const bytes *x)
{
    aod_error err;
    aod_font *f;

    aod_error_init(&err);
    write_file(x->b, x->n);
    f = aod_font_open(path, &err);
    unlink(path);
    if (!f) {
        char msg[600];
        fail_msg("%s", aod_error_format(&err, msg, sizeof msg));
    }
    return f;
}

static void test_format4(void **state)
{
    bytes sub, x;
    aod_font *f;

    (void)state;
    format4(&sub);
    font_with(&x, 1, &sub);
    f = open_ok(&x);
    assert_true(aod_font_has(f, 'A'));
    assert_true(aod_font_has(f, 'Z'));
    assert_false(aod_font_has(f, 'a'));
    assert_true(aod_font_has(f, 0xE9));
    assert_false(aod_font_has(f, 0xEA));
    assert_false(aod_font_has(f, 0x1F600));
    /* controls are skipped; the first missing character is named */
    assert_int_equal(aod_font_first_missing(f, "AB\tC\n", 5), 0);
    assert_int_equal(aod_font_first_missing(f, "CAF\xc3\xa9", 5), 0);
    assert_int_equal(aod_font_first_missing(f, "CAFE b", 6), ' ');
    assert_int_equal(aod_font_first_missing(f, "A\xe9\x96\x8b", 4), 0x958B);
    aod_font_free(f);
}

static void test_format12(void **state)
{
    bytes sub, x;
    aod_font *f;

    (void)state;
    format12(&sub);
    font_with(&x, 10, &sub);
    f = open_ok(&x);
    assert_true(aod_font_has(f, 0x4E00));
    assert_true(aod_font_has(f, 0x4E0F));
    assert_false(aod_font_has(f, 0x4E10));
    assert_true(aod_font_has(f, 0x1F600));
    assert_int_equal(aod_font_first_missing(f, "\xe4\xb8\x80\xf0\x9f\x98\x80", 7), 0);
    assert_int_equal(aod_font_first_missing(f, "\xe4\xb8\x80x", 4), 'x');
    aod_font_free(f);
}

/* A collection is read as its first font (the one the PDF draws with); a
 * fallback font covers what the font lacks (check, as the PDF draws). */
static void test_collection_and_fallback(void **state)
{
    bytes sub, x;
    aod_font *latin, *cjk;

    (void)state;
    format12(&sub);
    collection_with(&x, 10, &sub);
    cjk = open_ok(&x);
    assert_true(aod_font_has(cjk, 0x4E00));
    assert_false(aod_font_has(cjk, 'A'));
    format4(&sub);
    font_with(&x, 1, &sub);
    latin = open_ok(&x);
    assert_int_equal(aod_font_first_missing(latin, "A\xe4\xb8\x80", 4), 0x4E00);
    assert_int_equal(aod_font_first_missing_either(latin, cjk, "A\xe4\xb8\x80", 4), 0);
    assert_int_equal(aod_font_first_missing_either(latin, cjk,
                                                   "A\xe4\xb8\x80"
                                                   "b",
                                                   5),
                     'b');
    assert_int_equal(aod_font_first_missing_either(latin, NULL, "A\xe4\xb8\x80", 4), 0x4E00);
    aod_font_free(latin);
    aod_font_free(cjk);
}

static void test_not_fonts(void **state)
{
    bytes sub, x;
    aod_error err;
    size_t cut;

    (void)state;
    aod_error_init(&err);
    assert_null(aod_font_open("/nonexistent/font.ttf", &err));
    assert_int_equal(err.code, AOD_ERR_IO);

    aod_error_init(&err);
    write_file("<policy/>\n", 10);
    assert_null(aod_font_open(path, &err));
    unlink(path);
    assert_int_equal(err.code, AOD_ERR_INPUT);

    /* every cut of a good font is refused or read without overrun (ASan) */
    format4(&sub);
    font_with(&x, 1, &sub);
    for (cut = 0; cut < x.n; cut++) {
        aod_font *f;
        aod_error_init(&err);
        write_file(x.b, cut);
        f = aod_font_open(path, &err);
        unlink(path);
        if (f) {
            (void)aod_font_has(f, 'A');
            (void)aod_font_has(f, 0xE9);
            aod_font_free(f);
        } else {
            assert_true(err.code == AOD_ERR_INPUT || err.code == AOD_ERR_IO);
        }
    }
    aod_font_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format4),
        cmocka_unit_test(test_format12),
        cmocka_unit_test(test_collection_and_fallback),
        cmocka_unit_test(test_not_fonts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
