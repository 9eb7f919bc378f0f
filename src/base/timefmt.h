/*
 * timefmt.h - times as the reader sees them: in the policy's time zone,
 * ISO 8601 with the offset ("2025-01-02T05:00:00-05:00").
 *
 * The zone is process-wide (TZ + tzset): one report run, and one batch run,
 * uses one policy and so one zone.  Set it once before rendering.
 */
#ifndef AOD_TIMEFMT_H
#define AOD_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* Selects the zone: an IANA name ("America/New_York") or "UTC".  Returns
 * 0, or -1 with err set when the zone is unknown. */
int aod_timefmt_set_zone(const char *zone, aod_error *err);

/* "2025-01-02T05:00:00-05:00" (seconds precision) into out (>= 32 bytes). */
char *aod_timefmt_datetime(int64_t ms, char *out, size_t size);

/* "2025-01-02" in the zone, into out (>= 11 bytes). */
char *aod_timefmt_date(int64_t ms, char *out, size_t size);

/* "05:00" in the zone, into out (>= 6 bytes). */
char *aod_timefmt_time(int64_t ms, char *out, size_t size);

/* "2025-01-02 05:00" in the zone (date and time to the minute, as reports
 * show them), into out (>= 17 bytes). */
char *aod_timefmt_minute(int64_t ms, char *out, size_t size);

/* Milliseconds now (wall clock). */
int64_t aod_timefmt_now(void);

#endif
