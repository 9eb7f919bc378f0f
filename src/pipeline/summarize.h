/*
 * summarize.h - stage "summarize": 45 CFR 164.528(b)(3).  Repeated
 * disclosures to one recipient for one purpose become one line: the first
 * disclosure in full, how many there were, and the date of the last.
 *
 * Runs after dedup (so counts are of real disclosures, not of audit
 * records), in disclosures mode, on DISCLOSURE lines only.  It must see every
 * disclosure before it knows a group's size, so it keeps them all until
 * aod_summarize_finish(): memory grows with the number of disclosures, which
 * is small beside the number of accesses.
 *
 * Grouping key: the recipient (who.reference, else who's identifier system
 * and value, else who.name compared without case and with white space
 * collapsed), the purpose (system and code), and the legal basis (exclusion
 * and rule_id).  A group of at least policy->summarize.min_count lines
 * becomes one line: a copy of the earliest disclosure (by when_start, then
 * arrival) with flag AOD_ENTRY_SUMMARY, first = its when_start, last = the
 * latest when_end of the group, count and raw_count summed, recorded the
 * earliest, record_ids all of the group's (in arrival order), group = the
 * earliest's dedup group.  Smaller groups come out as their lines, unchanged.
 *
 * Never summarised (passed through as they are): lines of another class, a
 * recipient with no identity, no purpose code recorded (one purpose cannot be
 * shown), lines flagged AOD_ENTRY_SUSPENDED, and everything when
 * policy->summarize.enabled is 0.
 *
 * Output order: nondecreasing `first` (a summary line sits at its first
 * disclosure), ties in arrival order.  Nothing is emitted before finish.
 */
#ifndef AOD_SUMMARIZE_H
#define AOD_SUMMARIZE_H

#include "base/error.h"
#include "model/policy.h"
#include "model/entry.h"
#include "base/strpool.h"

typedef struct aod_summarize aod_summarize;

/* A new summarizer handing lines to out(ctx, ...).  policy and pool are
 * borrowed and must outlive it (normalised recipient names are interned in
 * pool).  NULL when out of memory. */
aod_summarize *aod_summarize_new(const aod_policy *policy, aod_strpool *pool, aod_entry_fn out,
                                 void *ctx);

/* Keeps a copy of e (borrowed; its record_ids are copied).  Emits nothing.
 * Returns 0, or -1 with err set (AOD_ERR_NOMEM). */
int aod_summarize_push(aod_summarize *s, const aod_entry *e, aod_error *err);

/* Emits every line, in order of first date.  Returns 0, or -1 with err set
 * (AOD_ERR_NOMEM, or whatever the callback set).  Call once. */
int aod_summarize_finish(aod_summarize *s, aod_error *err);

/* Frees s and the lines it holds.  Accepts NULL. */
void aod_summarize_free(aod_summarize *s);

#endif
