/* timefmt.c - local times in the policy's zone (see timefmt.h). */
#include "base/timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int aod_timefmt_set_zone(const char *zone, aod_error *err)
{
    char path[512];
    struct stat sb;

    if (!zone || !*zone || strcmp(zone, "UTC") == 0) {
        setenv("TZ", "UTC0", 1);
        tzset();
        return 0;
    }
    /* glibc silently falls back to UTC for an unknown zone: check first. */
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", zone);
    if (strstr(zone, "..") || zone[0] == '/' || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        aod_error_set(err, AOD_ERR_POLICY, NULL, 0, "time-zone", "unknown time zone '%s'", zone);
        return -1;
    }
    setenv("TZ", zone, 1);
    tzset();
    return 0;
}

static int local(int64_t ms, struct tm *tm)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
    return localtime_r(&t, tm) ? 0 : -1;
}

/* Two decimal digits of v (0..99) at p. */
static char *put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* "YYYY-MM-DD" at p (not NUL terminated); the end.  Years 0-9999. */
static char *put_date(char *p, const struct tm *tm)
{
    int year = tm->tm_year + 1900;

    p = put2(p, year / 100);
    p = put2(p, year % 100);
    *p++ = '-';
    p = put2(p, tm->tm_mon + 1);
    *p++ = '-';
    return put2(p, tm->tm_mday);
}

static char *put_hhmm(char *p, const struct tm *tm)
{
    p = put2(p, tm->tm_hour);
    *p++ = ':';
    return put2(p, tm->tm_min);
}

static int four_digit_year(const struct tm *tm)
{
    return tm->tm_year + 1900 >= 0 && tm->tm_year + 1900 <= 9999;
}

char *aod_timefmt_datetime(int64_t ms, char *out, size_t size)
{
    struct tm tm;
    long off;
    int year;

    if (local(ms, &tm) != 0) {
        snprintf(out, size, "?");
        return out;
    }
    off = tm.tm_gmtoff;
    year = tm.tm_year + 1900;
    /* Every CSV line has two or three of these: digits by hand, not
     * snprintf, which was a tenth of a large report's time. */
    if (size >= sizeof "YYYY-MM-DDTHH:MM:SS+HH:MM" && four_digit_year(&tm) &&
        labs(off) < 100 * 3600) {
        char *p = put_date(out, &tm);
        *p++ = 'T';
        p = put_hhmm(p, &tm);
        *p++ = ':';
        p = put2(p, tm.tm_sec);
        *p++ = off < 0 ? '-' : '+';
        p = put2(p, (int)(labs(off) / 3600));
        *p++ = ':';
        p = put2(p, (int)(labs(off) % 3600 / 60));
        *p = '\0';
        return out;
    }
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld", year, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+', labs(off) / 3600,
             (labs(off) % 3600) / 60);
    return out;
}

/* Dates and times go into every line of a PDF table and a FHIR narrative:
 * written by hand like aod_timefmt_datetime, snprintf kept for the years
 * that do not have four digits. */
char *aod_timefmt_date(int64_t ms, char *out, size_t size)
{
    struct tm tm;

    if (local(ms, &tm) != 0)
        snprintf(out, size, "?");
    else if (size >= sizeof "YYYY-MM-DD" && four_digit_year(&tm))
        *put_date(out, &tm) = '\0';
    else
        snprintf(out, size, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    return out;
}

char *aod_timefmt_time(int64_t ms, char *out, size_t size)
{
    struct tm tm;

    if (local(ms, &tm) != 0)
        snprintf(out, size, "?");
    else if (size >= sizeof "HH:MM")
        *put_hhmm(out, &tm) = '\0';
    else if (size > 0) {
        char whole[sizeof "HH:MM"];
        *put_hhmm(whole, &tm) = '\0';
        memcpy(out, whole, size - 1); /* cut, as snprintf would */
        out[size - 1] = '\0';
    }
    return out;
}

char *aod_timefmt_minute(int64_t ms, char *out, size_t size)
{
    struct tm tm;

    if (local(ms, &tm) != 0) {
        snprintf(out, size, "?");
    } else if (size >= sizeof "YYYY-MM-DD HH:MM" && four_digit_year(&tm)) {
        char *p = put_date(out, &tm);
        *p++ = ' ';
        *put_hhmm(p, &tm) = '\0';
    } else {
        snprintf(out, size, "%04d-%02d-%02d %02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min);
    }
    return out;
}

int64_t aod_timefmt_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
