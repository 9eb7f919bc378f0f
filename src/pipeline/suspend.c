/*
 * suspend.c - which suspension, if any, withholds a disclosure (see
 * suspend.h and DOMAIN.md 1.3).
 */
#include "pipeline/suspend.h"

#include <string.h>

#include "pipeline/classify.h"
#include "base/timefmt.h"

#define DAY_MS ((int64_t)86400000)

static int is_utc(const char *zone)
{
    return !zone || !zone[0] || strcmp(zone, "UTC") == 0 || strcmp(zone, "Etc/UTC") == 0;
}

/* The calendar day of ms in the policy's zone, as days since 1970-01-01
 * (a time localtime cannot place falls back to its UTC day). */
static int64_t local_day(const aod_policy *policy, int64_t ms)
{
    int64_t utc_day = ms >= 0 ? ms / DAY_MS : -((-ms + DAY_MS - 1) / DAY_MS);
    char date[32];
    unsigned y, m, d;
    size_t i;

    if (is_utc(policy->presentation.time_zone))
        return utc_day;
    aod_timefmt_date(ms, date, sizeof date);
    /* "YYYY-MM-DD" */
    if (strlen(date) != 10 || date[4] != '-' || date[7] != '-')
        return utc_day;
    for (i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (date[i] < '0' || date[i] > '9'))
            return utc_day;
    y = (unsigned)((date[0] - '0') * 1000 + (date[1] - '0') * 100 + (date[2] - '0') * 10 +
                   (date[3] - '0'));
    m = (unsigned)((date[5] - '0') * 10 + (date[6] - '0'));
    d = (unsigned)((date[8] - '0') * 10 + (date[9] - '0'));
    return aod_days_from_civil((int64_t)y, m, d);
}

const aod_policy_suspension *aod_suspend_match(const aod_policy *policy, const aod_entry *e)
{
    int64_t day;
    size_t i;

    if (!policy || !e || e->cls != AOD_CLASS_DISCLOSURE || policy->n_suspensions == 0)
        return NULL;
    day = local_day(policy, e->when_start);
    for (i = 0; i < policy->n_suspensions; i++) {
        const aod_policy_suspension *s = &policy->suspensions[i];

        if (day < s->start.days || day > s->end.days)
            continue;
        if (aod_classify_party_matches(&s->covers, &e->who))
            return s;
    }
    return NULL;
}
