/*
 * flags.h - stage "flags": the privacy office's access flags and the
 * explanation coverage (doc/privacy-office.md).
 *
 * Runs for the privacy office's copy (and the explain view), between the
 * line-making stages and mask; for the patient's copy only when the monthly
 * digest is asked for (aod_report_info.notify: a flag the policy marks
 * notify), and report.c clears what it set before mask, so no flag can
 * reach the patient's copy.  For each line it sets aod_entry.access_flags
 * (bit aod_access_flag), access_evidence and explained, and hands the line on.
 *
 * What each flag reads (the site facts are model/facts.h, loaded once per
 * report before the first event; the person is the line's actor_key or
 * actor_id_key):
 *   same-surname        the person's roster surname equals the patient's
 *                       (patient facts; ASCII letters compared without case)
 *   same-address        the roster address equals the patient's (letters and
 *                       digits only, without case)
 *   family              both of the above
 *   co-worker           the patient is an employee (patient facts) and the
 *                       person is workforce (on the roster, or classified so)
 *   vip                 the patient's record is VIP or restricted
 *   self-access         one of the report's patient keys is among the
 *                       person's own keys on the roster
 *   outside-employment  the person is on the roster and the access lies
 *                       outside every employment period of theirs
 *   no-relationship     a care list was loaded, the person is workforce, and
 *                       no care relationship of theirs with the patient
 *                       overlaps the access +- care-window-hours
 *   after-hours         the access starts outside the site hours (policy
 *                       time zone, working days)
 *   volume-spike        the person's accesses to this patient in the last
 *                       spike-window-hours reach spike-min-count and
 *                       spike-factor times their usual rate (their earlier
 *                       accesses in the report period, per window)
 *   emergency           break-glass: classify's emergency-access, or an
 *                       emergency purpose (ETREAT, ERTREAT, BTG)
 * Flags that need a site input that was never loaded do not fire.  Self-
 * access suppresses the name and address flags (it is the person's own
 * record).  The report's own runs (self-audit lines) carry no flag.
 *
 * Deterministic: the same lines in the same order give the same flags.
 */
#ifndef AOD_FLAGS_H
#define AOD_FLAGS_H

#include "base/error.h"
#include "base/strpool.h"
#include "model/entry.h"
#include "model/policy.h"

typedef struct aod_flags aod_flags;

/* A new stage for the report info (borrowed: its policy, keys, period and
 * facts must outlive the stage), interning its evidence in pool (borrowed),
 * handing each line on to next(ctx).  Returns it (free with aod_flags_free)
 * or NULL (out of memory). */
aod_flags *aod_flags_new(const aod_report_info *info, aod_strpool *pool, aod_entry_fn next,
                         void *ctx);

/* Computes e's flags, evidence and explained, and hands a copy on.
 * Returns what next returns, or -1 with err set (out of memory). */
int aod_flags_push(aod_flags *f, const aod_entry *e, aod_error *err);

/* Fills the coverage and flag counts of sum (the per-person list is
 * borrowed from f, valid until aod_flags_free).  Returns 0 / -1 (out of
 * memory). */
int aod_flags_summary(aod_flags *f, aod_report_summary *sum, aod_error *err);

/* 1 when e is an emergency (break-glass) access as the emergency flag
 * reads it: classify's emergency-access, or an emergency purpose. */
int aod_flags_is_emergency(const aod_entry *e);

/* Frees f; accepts NULL. */
void aod_flags_free(aod_flags *f);

#endif
