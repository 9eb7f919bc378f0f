/*
 * dedup.h - stage "dedup": merges the audit records of one real event into
 * one report line and, when the policy asks, one actor's consecutive
 * accesses into one session line (DOMAIN.md 3.4, 3.5).
 *
 * Streaming: entries go in one at a time, in the store's order (recorded),
 * and come out through the aod_entry_fn callback as soon as nothing later can
 * change them.  Memory is bounded by the time windows, never by the length
 * of the history.
 *
 * Event level (always), tried in this order for each entry:
 *   1. X-Request-Id: an entry with the same x_request_id as an open line
 *      joins it, within max(pair window, page window) of the line's last
 *      record (an id a server reuses later starts a new event).
 *   2. Client/server pair (BALP records every REST interaction twice): the
 *      same action; the same data_ref, or both without one and the same
 *      query; the same actor_key, or one side lacking it; a different
 *      observer (both known) and a line that holds one observer only; not
 *      two different X-Request-Ids; |delta recorded| <= pair window.
 *   3. Search pages: action E on both, the same actor_key, the same query,
 *      or the new entry's query is a page fetch ("_getpages"), within the
 *      page window of the previous page -> one "searched" line.  The same
 *      search repeated within the window is taken for one, too.
 * A line never spans more than max(1 hour, the windows) of records.
 *
 * Session level (policy->dedup.sessions): an actor's (actor_key) events of
 * class INTERNAL whose gaps are at most session_gap_minutes become one line
 * with flag AOD_ENTRY_SESSION (when it holds 2 events or more), spanning at
 * most 12 hours.  Self-audit lines stay apart.
 *
 * What never merges: FAILED with anything but FAILED; OUT_OF_SCOPE with
 * anything (each passes through untouched, as a group of its own, so explain
 * can number it); a DISCLOSURE with another class except through steps 1-2;
 * different classes through step 3 or sessions.
 *
 * The merged line:
 *   - class: when steps 1-2 join lines of different classes the most
 *     reportable wins (DISCLOSURE > EXCLUDED > INTERNAL): one side may not
 *     know the purpose or the recipient, and the report must not lose a
 *     disclosure.  The winner's class, exclusion, rule_id, purpose fields and
 *     AOD_ENTRY_PURPOSE_UNKNOWN flag are kept together, so the line states
 *     one consistent decision; equal classes: the earlier line wins.
 *   - who: the winner's party; its empty fields are filled from the other
 *     side only when both name the same party (reference, identifier or
 *     name).  Every other field: the winner's, else the other's (non-NULL
 *     preferred); data_kinds: the union.  Sessions keep data, data_ref,
 *     query, x_request_id only when all events agree (else NULL), and the
 *     action only when all agree (else 0: "accessed").
 *   - when_start / first / recorded: the earliest; when_end / last: the latest.
 *   - count: events (an event-level merge is one event; a session adds its
 *     events up); raw_count: records, summed; record_ids: all, in input order.
 *   - group: 1, 2, 3 ... in emission order.
 *
 * ORDER GUARANTEE: when the input arrives in nondecreasing `recorded`, lines
 * come out in nondecreasing aod_entry.recorded (the earliest record behind
 * each line), ties in the order of their first record's arrival.  A line is
 * held until every line that could still precede it is closed: at most the
 * span limit plus the largest window (sessions: 12 hours plus the gap) behind
 * the input.  Out-of-order input is accepted (its lines follow arrival
 * order instead).
 */
#ifndef AOD_DEDUP_H
#define AOD_DEDUP_H

#include <stddef.h>

#include "base/error.h"
#include "model/policy.h"
#include "model/entry.h"
#include "base/strpool.h"

typedef struct aod_dedup aod_dedup;

/* A new de-duplicator handing lines to out(ctx, ...).  policy and pool are
 * borrowed and must outlive it; merged strings (data_kinds unions) are
 * interned in pool.  NULL when out of memory. */
aod_dedup *aod_dedup_new(const aod_policy *policy, aod_strpool *pool, aod_entry_fn out, void *ctx);

/* Takes one entry (borrowed for the call: its strings must live in the pool
 * or as long; its record_ids are copied).  May emit lines.  Returns 0, or -1
 * with err set: AOD_ERR_NOMEM, or whatever the callback set. */
int aod_dedup_push(aod_dedup *d, const aod_entry *e, aod_error *err);

/* Closes and emits every line still held.  Returns 0 or -1 as push. */
int aod_dedup_finish(aod_dedup *d, aod_error *err);

/* Frees d and the lines it still holds (not emitted).  Accepts NULL. */
void aod_dedup_free(aod_dedup *d);

/* Lines emitted so far (the last group number given). */
long aod_dedup_groups(const aod_dedup *d);

/* Lines held right now, open or waiting for their turn: what the memory
 * bound is about (for tests and the benchmark). */
size_t aod_dedup_pending(const aod_dedup *d);

#endif
