/*
 * test_timefmt.c - times as the reader sees them (src/base/timefmt.h).
 *
 * aod_timefmt_datetime, _date, _time and _minute write their digits by hand;
 * these tests hold them to what snprintf of localtime_r says, across zones with
 * whole, half and three-quarter hour offsets, both sides of DST changes,
 * negative instants and the far future.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/timefmt.h"

/* The expected text, the slow and obvious way. */
static void reference(int64_t ms, char *out, size_t size)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
    struct tm tm;
    long off;

    assert_non_null(localtime_r(&t, &tm));
    off = tm.tm_gmtoff;
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+',
             labs(off) / 3600, (labs(off) % 3600) / 60);
}

/* The same for the date, the time and both to the minute. */
static void reference_parts(int64_t ms, char *date, char *hhmm, char *minute, size_t size)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
    struct tm tm;

    assert_non_null(localtime_r(&t, &tm));
    snprintf(date, size, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    snprintf(hhmm, size, "%02d:%02d", tm.tm_hour, tm.tm_min);
    snprintf(minute, size, "%04d-%02d-%02d %02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min);
}

static void check_parts(int64_t ms)
{
    char d[64], t[64], m[64], got[64];

    reference_parts(ms, d, t, m, sizeof d);
    assert_string_equal(aod_timefmt_date(ms, got, sizeof got), d);
    assert_string_equal(aod_timefmt_time(ms, got, sizeof got), t);
    assert_string_equal(aod_timefmt_minute(ms, got, sizeof got), m);
}

static void check_zone(const char *zone)
{
    aod_error err;
    char got[64], want[64];
    int64_t ms;
    uint64_t x = 88172645463325252ULL;
    int i;

    aod_error_init(&err);
    assert_int_equal(aod_timefmt_set_zone(zone, &err), 0);
    /* every 37 hours and 13 minutes from 1960 to 2100, then random instants */
    for (ms = -315619200000LL; ms < 4102444800000LL; ms += (37LL * 3600 + 13 * 60) * 1000 + 123) {
        aod_timefmt_datetime(ms, got, sizeof got);
        reference(ms, want, sizeof want);
        assert_string_equal(got, want);
        check_parts(ms);
    }
    for (i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ms = (int64_t)(x % 7000000000000ULL) - 1000000000000LL;
        aod_timefmt_datetime(ms, got, sizeof got);
        reference(ms, want, sizeof want);
        assert_string_equal(got, want);
        check_parts(ms);
    }
}

static void test_utc(void **state)
{
    char out[64];

    (void)state;
    check_zone("UTC");
    aod_timefmt_datetime(0, out, sizeof out);
    assert_string_equal(out, "1970-01-01T00:00:00+00:00");
    aod_timefmt_datetime(1735787045999LL, out, sizeof out);
    assert_string_equal(out, "2025-01-02T03:04:05+00:00");
    assert_string_equal(aod_timefmt_minute(1735787045999LL, out, sizeof out), "2025-01-02 03:04");
    assert_string_equal(aod_timefmt_date(1735787045999LL, out, sizeof out), "2025-01-02");
    assert_string_equal(aod_timefmt_time(1735787045999LL, out, sizeof out), "03:04");
}

static void test_new_york(void **state)
{
    char out[64];

    (void)state;
    check_zone("America/New_York");
    /* the hour before and after the 2025 spring change */
    aod_timefmt_datetime(1741503599000LL, out, sizeof out);
    assert_string_equal(out, "2025-03-09T01:59:59-05:00");
    aod_timefmt_datetime(1741503600000LL, out, sizeof out);
    assert_string_equal(out, "2025-03-09T03:00:00-04:00");
}

static void test_odd_offsets(void **state)
{
    char out[64];

    (void)state;
    check_zone("Asia/Kolkata");
    aod_timefmt_datetime(0, out, sizeof out);
    assert_string_equal(out, "1970-01-01T05:30:00+05:30");
    check_zone("Pacific/Chatham");
    check_zone("America/St_Johns");
    aod_timefmt_datetime(1735689600000LL, out, sizeof out);
    assert_string_equal(out, "2024-12-31T20:30:00-03:30");
}

static void test_small_buffer(void **state)
{
    char out[8];

    (void)state;
    assert_int_equal(aod_timefmt_set_zone("UTC", NULL), 0);
    /* too small for the whole text: cut, still a string */
    aod_timefmt_datetime(0, out, sizeof out);
    assert_string_equal(out, "1970-01");
    assert_string_equal(aod_timefmt_minute(0, out, sizeof out), "1970-01");
    assert_string_equal(aod_timefmt_date(0, out, sizeof out), "1970-01");
    assert_string_equal(aod_timefmt_time(0, out, 3), "00");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utc),
        cmocka_unit_test(test_new_york),
        cmocka_unit_test(test_odd_offsets),
        cmocka_unit_test(test_small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
