/*
 * test_maintain.c - the ages `aodreport retention --older-than` takes: a
 * number of years, months or days, or an ISO 8601 period, as an interval
 * the server reads; anything else refused, naming the option.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "app/maintain.h"

static const char *age(const char *s)
{
    static char out[96];
    aod_error err;

    aod_error_init(&err);
    if (aod_maintain_parse_age(s, out, sizeof out, &err) != 0) {
        assert_int_equal(err.code, AOD_ERR_USAGE);
        assert_string_equal(err.source, "--older-than");
        return NULL;
    }
    return out;
}

static void short_forms(void **state)
{
    (void)state;
    assert_string_equal(age("6y"), "6 years 0 months 0 days");
    assert_string_equal(age("18m"), "0 years 18 months 0 days");
    assert_string_equal(age("90d"), "0 years 0 months 90 days");
}

static void iso_periods(void **state)
{
    (void)state;
    assert_string_equal(age("P6Y"), "6 years 0 months 0 days");
    assert_string_equal(age("P1Y6M"), "1 years 6 months 0 days");
    assert_string_equal(age("P2Y3M4D"), "2 years 3 months 4 days");
}

static void refused(void **state)
{
    (void)state;
    assert_null(age(""));
    assert_null(age("6"));
    assert_null(age("6q"));
    assert_null(age("y"));
    assert_null(age("-6y"));
    assert_null(age("6y6m"));
    assert_null(age("0y"));
    assert_null(age("P"));
    assert_null(age("P6M1Y"));
    assert_null(age("P6Y6Y"));
    assert_null(age("PT6H"));
    assert_null(age("99999y"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(short_forms),
        cmocka_unit_test(iso_periods),
        cmocka_unit_test(refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
