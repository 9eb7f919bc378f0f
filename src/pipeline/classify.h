/*
 * classify.h - stage "classify": one normalised AuditEvent into one report
 * line, with what the event is for this report (45 CFR 164.528(a)).
 *
 * For each record classify decides, in this order:
 *   1. out of scope: the record names none of the report's patient keys, or
 *      was recorded outside [info->from, info->to)  -> AOD_CLASS_OUT_OF_SCOPE,
 *      rule "out-of-scope" (checked first, so that a failed attempt on
 *      another patient's record never reaches this patient's report);
 *   2. failed: an outcome other than "0" (absent counts as success)
 *      -> AOD_CLASS_FAILED, flag AOD_ENTRY_FAILED, rule "failed";
 *   3. the tool's own report runs (subtype "aodreport-report" in
 *      urn:aodreport:audit-subtype) -> AOD_CLASS_INTERNAL, flag
 *      AOD_ENTRY_SELF_AUDIT, rule "self-audit": the privacy office read the log;
 *   4. the policy's classification rules, in order, first match decides
 *      (reportable -> DISCLOSURE, excluded -> EXCLUDED with its exclusion,
 *      internal -> INTERNAL); no match -> the policy's unmatched verdict,
 *      rule "default".
 * Steps 1-3 still fill the whole line (who, data, ...).
 *
 * Who the line is about (aod_entry.who):
 *   - an export / disclose event (DCM 110106 Export, or a subtype "disclose"):
 *     the recipient, i.e. the agent typed DCM 110152 Destination, or where no
 *     agent carries 110152, the first agent outside the covered entity that
 *     is not the source (110153) nor the custodian;
 *   - any other event: the actor, i.e. the requestor agent, else the first
 *     agent whose `who` is a person (Practitioner, PractitionerRole, Patient,
 *     RelatedPerson), else a Device, else the first agent.  The 110152 code
 *     alone never makes a recipient here: on a BALP Read it marks the client.
 * The rules' recipient condition reads the class of that party: the patient
 * (a reference or identifier among info->patient_keys) or a personal
 * representative (a RelatedPerson whose agent role or type is a guardian,
 * power of attorney, executor or parent code of v3 RoleCode) -> PATIENT;
 * outside the covered entity (other related persons and other patients
 * included) -> OUTSIDE; else INSIDE.
 *
 * Inside or outside (aod_party.cls): a business associate named in the
 * policy is outside.  An agent matching the covered entity (its
 * organisation references, workforce identifier systems or an identifier
 * system URI on one of its domains, network domains, the organisation's own
 * identifiers or name) is inside.  Otherwise an agent is outside when there
 * is evidence: it is an Organization, or its network host (a DNS name, not
 * an IP address) lies outside the listed domains, or (without a reference)
 * its identifier system is not a listed workforce system, or - for the
 * person acting - a client/server machine agent's host is outside the listed
 * domains.  With no evidence either way an agent counts as workforce
 * (DOMAIN.md, "Who is workforce"), except the recipient of an Export /
 * disclose event (not an Import), which counts as outside: recording a
 * disclosure says so.
 *
 * Rule conditions read the record as doc/policy.md describes: codes compare
 * exactly, and a condition with a system needs a coding of that system; the
 * purpose levels are aod_record.purpose (event) and any agent's purpose;
 * authorization evidence is an agent.policy URI (per the policy's
 * agent-policy setting) or, with consent-entity, an entity referring to a
 * Consent.
 */
#ifndef AOD_CLASSIFY_H
#define AOD_CLASSIFY_H

#include <stdint.h>

#include "base/error.h"
#include "model/policy.h"
#include "model/record.h"
#include "model/entry.h"
#include "base/strpool.h"

/* The subtype that marks the tool's own report runs (written by batch). */
#define AOD_SELF_AUDIT_SYSTEM "urn:aodreport:audit-subtype"
#define AOD_SELF_AUDIT_CODE   "aodreport-report"

/*
 * Decides what the record r is for this report and builds its line in *out
 * (overwritten whole).  policy, info and r are borrowed for the call.  Every
 * string of *out is interned in pool; out->record_ids points at pool memory
 * holding record_id (n_record_ids 1); out->count = out->raw_count = 1,
 * out->group = 0, the shown_* fields NULL.
 *
 * Returns 0, or -1 with err set (AOD_ERR_NOMEM: the pool could not grow).
 */
int aod_classify(const aod_policy *policy, const aod_report_info *info, const aod_record *r,
                 int64_t record_id, aod_strpool *pool, aod_entry *out, aod_error *err);

/*
 * Whether the party who (borrowed) is one that p (borrowed) describes: any
 * one key matching is enough (policy.h, aod_policy_party): a name equal to
 * who->name or who->organisation (case and surrounding space ignored), an
 * identifier, the host of who->network in a domain, or who->reference.
 * Returns 1 or 0.  The suspend stage uses the same test.
 */
int aod_classify_party_matches(const aod_policy_party *p, const aod_party *who);

#endif
