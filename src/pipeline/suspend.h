/*
 * suspend.h - 45 CFR 164.528(a)(2): disclosures to a health oversight agency
 * or law enforcement official that the patient's accounting must withhold
 * while the agency's suspension is in force.
 *
 * Not a stage of its own: the report driver asks, for each DISCLOSURE line,
 * whether a suspension of the policy covers it, and withholds it from the
 * patient (the privacy office sees it, flagged AOD_ENTRY_SUSPENDED).  The
 * oral statements' 30-day cap is applied by the policy loader
 * (aod_policy_suspension.end is already clamped).
 */
#ifndef AOD_SUSPEND_H
#define AOD_SUSPEND_H

#include "model/policy.h"
#include "model/entry.h"

/*
 * Returns the first suspension of policy (borrowed from it) that covers e, or
 * NULL.  A suspension covers e when e is a DISCLOSURE, its recipient (e->who)
 * matches the suspension's covers (aod_classify_party_matches: a name equal
 * to who.name or who.organisation, an identifier, the network host in a
 * domain, or the reference), and the calendar date of e->when_start lies in
 * [start, end], both days included.
 *
 * Dates are read in the policy's presentation time zone (doc/policy.md).  In
 * UTC (the default) that is plain arithmetic; another zone goes through
 * localtime, so the caller must have selected it with aod_timefmt_set_zone()
 * first, as it does before rendering.
 */
const aod_policy_suspension *aod_suspend_match(const aod_policy *policy, const aod_entry *e);

#endif
