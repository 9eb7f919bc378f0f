/*
 * test_bidi.c - right-to-left text made drawable (render/bidi.h): Arabic
 * joined into the forms its place asks for and lam-alef made one
 * ligature, each form remembered with its letters; lines put in drawing
 * order with the marks after their letter and direction marks dropped,
 * brackets in right-to-left runs mirrored; left-to-right text untouched.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "render/bidi.h"

static aod_bidi_forms forms;

/* in, shaped (logical order), into a new string. */
static char *shaped(const char *in)
{
    aod_buf b;
    char *out;

    aod_buf_init(&b, 0);
    assert_int_equal(aod_buf_adds(&b, "> "), 0); /* the offset is honoured */
    assert_int_equal(aod_buf_adds(&b, in), 0);
    assert_int_equal(aod_bidi_shape(&b, 2, &forms), 0);
    out = strdup(aod_buf_str(&b) + 2);
    assert_memory_equal(b.data, "> ", 2);
    aod_buf_free(&b);
    return out;
}

static char *visual(const char *in)
{
    aod_buf b;
    char *out;

    aod_buf_init(&b, 0);
    assert_int_equal(aod_bidi_visual(in, strlen(in), &b), 0);
    out = strdup(b.len ? b.data : "");
    aod_buf_free(&b);
    return out;
}

static void arabic_joined(void **state)
{
    char *s;
    uint32_t l[2];

    (void)state;
    memset(&forms, 0, sizeof forms);
    /* meem hah meem dal: initial, medial, medial, final. */
    s = shaped("محمد");
    assert_string_equal(s, "\xEF\xBB\xA3\xEF\xBA\xA4\xEF\xBB\xA4\xEF\xBA\xAA");
    free(s);
    assert_int_equal(aod_bidi_letters(&forms, 0xFEE3, l), 1);
    assert_int_equal(l[0], 0x0645);
    assert_int_equal(aod_bidi_letters(&forms, 0xFEAA, l), 1);
    assert_int_equal(l[0], 0x062F);
    /* lam alef: one ligature, its letters in drawing order. */
    s = shaped("لا");
    assert_string_equal(s, "\xEF\xBB\xBB");
    free(s);
    assert_int_equal(aod_bidi_letters(&forms, 0xFEFB, l), 2);
    assert_int_equal(l[0], 0x0627);
    assert_int_equal(l[1], 0x0644);
    /* A form never drawn maps to nothing; nor does a letter. */
    assert_int_equal(aod_bidi_letters(&forms, 0xFE8E, l), 0);
    assert_int_equal(aod_bidi_letters(&forms, 0x0645, l), 0);
}

static void others_untouched(void **state)
{
    char *s;

    (void)state;
    s = shaped("Zoë Ångström שרה 王小明");
    assert_string_equal(s, "Zoë Ångström שרה 王小明");
    free(s);
    assert_int_equal(aod_bidi_has_rtl("Zoë Ångström 王小明", strlen("Zoë Ångström 王小明")), 0);
    assert_int_equal(aod_bidi_has_rtl("a שרה", strlen("a שרה")), 1);
    assert_int_equal(aod_bidi_has_rtl("a\xE2\x80\x8F", 4), 1); /* RLM */
    assert_int_equal(aod_bidi_has_rtl("\xEF\xBB\xBB", 3), 1);  /* a presentation form */
}

static void drawing_order(void **state)
{
    char *s;

    (void)state;
    /* A right-to-left name in a left-to-right sentence: its letters turned
     * round, the sentence's order kept. */
    s = visual("Dear שרה לוי, welcome 123");
    assert_string_equal(s, "Dear יול הרש, welcome 123");
    free(s);
    /* Digits after a right-to-left word belong to its run (as in any
     * browser): the run is turned round, the digits still read 123. */
    s = visual("Dear שרה לוי, 123");
    assert_string_equal(s, "Dear 123 ,יול הרש");
    free(s);
    /* A mark stays after its letter, so that it is drawn on it. */
    s = visual("בְּ");
    assert_string_equal(s, "בְּ");
    free(s);
    /* Direction marks are dropped. */
    s = visual("a\xE2\x80\x8F"
               "b\xE2\x80\x8E");
    assert_string_equal(s, "ab");
    free(s);
    assert_int_equal(aod_bidi_invisible(0x200F), 1);
    assert_int_equal(aod_bidi_invisible(0x0020), 0);
}

/* Brackets around a right-to-left aside: turned round with the run, each
 * drawn as its mirror image, so that the aside is still enclosed (Unicode
 * bidirectional algorithm, rule L4).  Unmirrored, "محمد (أبو علي)" was drawn
 * ")يلع وبأ( دمحم": the brackets facing away from the words. */
static void brackets_mirrored(void **state)
{
    char *s;

    (void)state;
    s = visual("محمد (أبو علي)");
    assert_string_equal(s, "(يلع وبأ) دمحم");
    free(s);
    s = visual("דוד [בן שרה]");
    assert_string_equal(s, "[הרש ןב] דוד");
    free(s);
    /* In a left-to-right sentence: only the right-to-left run's brackets. */
    s = visual("Dear דוד {בן שרה}, (see page 2)");
    assert_string_equal(s, "Dear {הרש ןב} דוד, (see page 2)");
    free(s);
    /* Other mirrored characters too: guillemets inside the run. */
    s = visual("שרה «לוי» כהן");
    assert_string_equal(s, "ןהכ «יול» הרש");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arabic_joined),
        cmocka_unit_test(others_untouched),
        cmocka_unit_test(drawing_order),
        cmocka_unit_test(brackets_mirrored),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
