/*
 * notify.h - stage "notify": which lines the patient's notification digest
 * names (batch --notify, doc/notifications.md).
 *
 * Runs after the flags stage and before mask, for a report whose info asks
 * for it (aod_report_info.notify).  It sets aod_entry.notify, bits
 * aod_notify_reason:
 *   new-organisation  the first line of the report by an outside party
 *                     (aod_entry_org_key) whose organisation is not among
 *                     info->seen_orgs and not named by an earlier line of
 *                     the report; a candidate until the digest has
 *                     compared it with the organisations that accessed the
 *                     record before the period (render/digest.h)
 *   emergency         an emergency (break-glass) access (as the emergency
 *                     flag reads it, whether or not that flag is on)
 *   restricted        the patient facts mark the record VIP or restricted
 *   disclosure        a disclosure outside the covered entity: class
 *                     disclosure, or excluded under 164.528(a)(1)(i), (iii),
 *                     (iv), (v) or (viii) (not to the patient, not national
 *                     security or custody, not before the compliance date)
 *   review            an access flag the policy marks notify fired
 * The report's own runs and failed attempts notify nothing.  For the
 * patient's copy the report clears the flags afterwards (report.c): the
 * digest says "review", never which flag or why.
 *
 * Deterministic: the same lines in the same order give the same bits.
 */
#ifndef AOD_NOTIFY_H
#define AOD_NOTIFY_H

#include "base/error.h"
#include "model/entry.h"

typedef struct aod_notify aod_notify;

/* A new stage for info (borrowed: its policy, facts and seen_orgs must
 * outlive it).  Returns it (aod_notify_free) or NULL (out of memory). */
aod_notify *aod_notify_new(const aod_report_info *info);

/* Sets e->notify.  Returns 0, or -1 with err set (out of memory). */
int aod_notify_mark(aod_notify *n, aod_entry *e, aod_error *err);

/* Frees n; accepts NULL. */
void aod_notify_free(aod_notify *n);

#endif
