/*
 * maintain.h - the commands that keep a store over the years:
 *
 *   aodreport maintain    makes the coming months' partitions and clusters
 *                         each month that is over, once (doc/store.md,
 *                         "Partitions");
 *   aodreport retention   drops the months older than the retention period
 *                         (--older-than, else the policy's longest
 *                         look-back), whole, and records that it did: an
 *                         AuditEvent, and the horizon reports read.
 *
 * Both run as the owner of the store (they create, rewrite and drop
 * tables).  The work is the store's (store/store.h); these parse the
 * options and say what was done.
 */
#ifndef AOD_MAINTAIN_H
#define AOD_MAINTAIN_H

#include "base/error.h"

/* `aodreport maintain ...` and `aodreport retention ...`: argv[0] is the
 * command's name.  Return 0, or -1 with err set. */
int aod_maintain_command(int argc, char **argv, aod_error *err);
int aod_retention_command(int argc, char **argv, aod_error *err);

/* "6y", "18m", "90d" or an ISO 8601 period of years, months and days
 * ("P6Y", "P1Y6M") as an interval the server reads ("6 years 0 months 0
 * days") in out (out_size bytes).  Returns 0, or -1 with err set
 * (AOD_ERR_USAGE, naming --older-than). */
int aod_maintain_parse_age(const char *s, char *out, size_t out_size, aod_error *err);

#endif
