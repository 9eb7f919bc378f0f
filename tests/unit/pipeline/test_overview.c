/*
 * test_overview.c - stage "overview": the summary every report starts with.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "pipeline/overview.h"
#include "testutil.h"

#define HOUR ((int64_t)3600000)
#define T0   ((int64_t)1709280000000) /* 2024-03-01T08:00:00Z */

typedef struct fixture {
    aod_strpool *pool;  /* the entries' strings */
    aod_strpool *opool; /* the overview's own */
    aod_overview_acc *o;
} fixture;

static int setup(void **state)
{
    fixture *f = tu_check(calloc(1, sizeof *f));

    f->pool = tu_check(aod_strpool_new());
    f->opool = tu_check(aod_strpool_new());
    f->o = tu_check(aod_overview_new(f->opool));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    aod_overview_free(f->o);
    aod_strpool_free(f->pool);
    aod_strpool_free(f->opool);
    free(f);
    return 0;
}

/* Folds in one masked line: recorded identity ref, shown as shown, of actor
 * class cls, at hour h, with kinds and a purpose (NULL: none). */
static void add(fixture *f, const char *ref, aod_actor_class cls, const char *shown, int h,
                char action, const char *kinds, const char *purpose)
{
    aod_entry e;
    aod_error err;

    tu_entry(&e, f->pool, T0 + h * HOUR, AOD_CLASS_INTERNAL, action, 1);
    e.who.cls = cls;
    e.who.reference = tu_s(f->pool, ref);
    e.shown_name = tu_s(f->pool, shown);
    e.shown_organisation = tu_s(f->pool, "Example Hospital");
    e.data_kinds = tu_s(f->pool, kinds);
    e.purpose_code = tu_s(f->pool, purpose);
    aod_error_init(&err);
    assert_int_equal(aod_overview_add(f->o, &e, &err), 0);
}

/* One line per identity as the audience sees it: two nurses masked alike
 * are one line that says two people stand behind it; the totals count
 * people, not lines. */
static void test_lines_and_totals(void **state)
{
    fixture *f = *state;
    const aod_overview *ov;
    const aod_overview_line *l;

    add(f, "Practitioner/n1", AOD_ACTOR_WORKFORCE, "Nurse, Cardiology", 5, 'R', "Observation",
        "TREAT");
    add(f, "Practitioner/n2", AOD_ACTOR_WORKFORCE, "Nurse, Cardiology", 2, 'R',
        "Observation,Condition", NULL);
    add(f, "Practitioner/n1", AOD_ACTOR_WORKFORCE, "Nurse, Cardiology", 9, 'R', "Condition",
        "TREAT");
    add(f, "Practitioner/d1", AOD_ACTOR_WORKFORCE, "Physician, Cardiology", 1, 'R', "Observation",
        "ETREAT");
    add(f, "Organization/acme", AOD_ACTOR_EXTERNAL_ORGANISATION, "Acme Insurance", 3, 'R', "Claim",
        "HPAYMT");
    ov = aod_overview_result(f->o, 7);
    assert_int_equal(ov->n_lines, 3);
    assert_int_equal(ov->records, 7);
    assert_int_equal(ov->accesses, 5);
    assert_int_equal(ov->people, 3);
    assert_int_equal(ov->organisations, 1);
    assert_int_equal(ov->systems, 0);
    /* persons first, each by first access; then organisations */
    assert_string_equal(ov->lines[0].name, "Physician, Cardiology");
    l = &ov->lines[1];
    assert_string_equal(l->name, "Nurse, Cardiology");
    assert_int_equal(l->section, AOD_SECTION_PERSON);
    assert_int_equal(l->count, 3);
    assert_int_equal(l->people, 2);
    assert_true(l->first == T0 + 2 * HOUR);
    assert_true(l->last == T0 + 9 * HOUR);
    assert_int_equal(l->n_kinds, 2);
    assert_string_equal(l->kinds[0], "Observation");
    assert_string_equal(l->kinds[1], "Condition");
    assert_int_equal(l->n_reasons, 1);
    assert_string_equal(l->reason_code[0], "TREAT");
    assert_int_equal(l->no_reason, 1);
    assert_int_equal(ov->lines[2].section, AOD_SECTION_ORGANISATION);
}

/* Systems are apart, one line per thing done; a system doing two things
 * is still one system in the totals. */
static void test_systems(void **state)
{
    fixture *f = *state;
    const aod_overview *ov;

    add(f, "Device/lab", AOD_ACTOR_SYSTEM_DEVICE, "Lab interface", 1, 'C', "Observation", NULL);
    add(f, "Device/lab", AOD_ACTOR_SYSTEM_DEVICE, "Lab interface", 2, 'C', "Observation", NULL);
    add(f, "Device/lab", AOD_ACTOR_SYSTEM_DEVICE, "Lab interface", 3, 'R', "Observation", NULL);
    add(f, "Practitioner/d1", AOD_ACTOR_WORKFORCE, "Dr. Ana Lopes", 4, 'R', "Observation", NULL);
    /* the same person under another label (a protected-staff rule, a
     * changed role): a line of its own, but one person in the totals */
    add(f, "Practitioner/d1", AOD_ACTOR_WORKFORCE, "Cardiology", 5, 'R', "Observation", NULL);
    ov = aod_overview_result(f->o, 5);
    assert_int_equal(ov->n_lines, 4);
    assert_int_equal(ov->lines[1].section, AOD_SECTION_PERSON);
    assert_int_equal(ov->lines[2].section, AOD_SECTION_SYSTEM);
    assert_int_equal(ov->lines[2].action, 'C');
    assert_int_equal(ov->lines[2].count, 2);
    assert_int_equal(ov->lines[3].action, 'R');
    assert_int_equal(ov->systems, 1);
    assert_int_equal(ov->system_accesses, 3);
    assert_int_equal(ov->people, 1);
}

/* Memory grows with the people, not with the events: 200,000 accesses by
 * three people leave three lines, and the overview's pool stops growing
 * after the first round. */
static void test_bounded(void **state)
{
    fixture *f = *state;
    static const char *const who[3] = {"Practitioner/a", "Practitioner/b", "Device/c"};
    size_t before;
    int i;

    for (i = 0; i < 3000; i++)
        add(f, who[i % 3], i % 3 == 2 ? AOD_ACTOR_SYSTEM_DEVICE : AOD_ACTOR_WORKFORCE, who[i % 3],
            i, 'R', "Observation", "TREAT");
    before = aod_strpool_bytes(f->opool);
    for (; i < 200000; i++)
        add(f, who[i % 3], i % 3 == 2 ? AOD_ACTOR_SYSTEM_DEVICE : AOD_ACTOR_WORKFORCE, who[i % 3],
            i, 'R', "Observation", "TREAT");
    assert_true(aod_strpool_bytes(f->opool) == before);
    assert_int_equal(aod_overview_result(f->o, 200000)->n_lines, 3);
}

/* A report with no lines: an empty summary, all totals 0 (and under
 * UBSan, no sorting of nothing through a NULL pointer). */
static void test_empty(void **state)
{
    fixture *f = *state;
    const aod_overview *ov = aod_overview_result(f->o, 3);

    assert_int_equal(ov->n_lines, 0);
    assert_int_equal(ov->records, 3);
    assert_int_equal(ov->accesses, 0);
    assert_int_equal(ov->people, 0);
}

static void test_unmasked_refused(void **state)
{
    fixture *f = *state;
    aod_entry e;
    aod_error err;

    tu_entry(&e, f->pool, T0, AOD_CLASS_INTERNAL, 'R', 1);
    aod_error_init(&err);
    assert_int_equal(aod_overview_add(f->o, &e, &err), -1);
    assert_int_equal(err.code, AOD_ERR_INTERNAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lines_and_totals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_systems, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unmasked_refused, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
