/*
 * mask.h - the mask stage: how each actor appears to the report's reader.
 *
 * Pipeline: ... -> summarize -> suspend -> mask -> render.  For each line
 * the policy's tier for (audience, actor class) decides what is shown:
 *
 *   full-name     the name as recorded (else the role, else the generic label)
 *   pseudonym     "Staff member K7QM2X": a stable code keyed with the site's
 *                 secret (HMAC-SHA256), the same person gets the same code in
 *                 every report made with that secret; the role is shown too
 *   role-unit     "Nurse, Cardiology"
 *   organisation  "a staff member of Example Hospital" / the organisation
 *   generic       the label the policy names ("a staff member")
 *
 * Protected staff (the policy's <protected-staff>: an identifier system or a
 * list of keys) are shown to the patient as their unit only ("Cardiology",
 * else the generic label) when the workforce tier would show more (full
 * name, pseudonym, role and unit), with tier role-unit; a tier that shows
 * less (organisation, generic) applies as it is.  The privacy office sees
 * them as its own tiers say.
 *
 * The policy cannot hide the recipient of a HIPAA disclosure: 45 CFR
 * 164.528(b)(2) requires its name and, where known, its address.  So a
 * reportable disclosure in a disclosures report, and any actor of an
 * external class (external person, external organisation) in any report,
 * is shown by full name with its address, whatever tier the policy sets -
 * with one exception for the patient's copy.  A person is "outside" only
 * because no domain or identifier system of the policy matched, and a staff
 * member on another network looks the same; unless the policy says
 * name-recipient-persons="true", an outside person (not a related person of
 * the patient's) is shown to the patient as "a person at <organisation or
 * host>", else their role, with the address, and a staff member taken for a
 * recipient by the workforce tier.  Such lines carry AOD_ENTRY_NAME_WITHHELD
 * in every audience; the privacy office sees the names.
 * Words (labels, pseudonym words) come from the templates (render/text.h).
 */
#ifndef AOD_MASK_H
#define AOD_MASK_H

#include "base/error.h"
#include "model/policy.h"
#include "model/entry.h"
#include "base/strpool.h"

typedef struct aod_mask aod_mask;
typedef struct aod_text aod_text; /* render/text.h */

/* Pseudonym codes: characters that cannot be mistaken for one another (no
 * 0/O, no 1/I), and how many of them a code has. */
#define AOD_MASK_ALPHABET   "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
#define AOD_MASK_CODE_LEN   6
#define AOD_MASK_SECRET_MIN 16 /* bytes */

/* A mask for one report.  policy, text and pool are borrowed and must
 * outlive the mask (the strings it puts into entries are interned in pool).
 * When any tier of this audience is PSEUDONYM the pseudonym secret file
 * (policy->masking.pseudonym_secret) is read here, whole, less trailing
 * CR/LF; a missing, unreadable or too short (< AOD_MASK_SECRET_MIN bytes)
 * secret, or none configured, is an AOD_ERR_POLICY error naming the file:
 * there is no unkeyed fallback.  Returns a new mask to free with
 * aod_mask_free(), or NULL with err set (AOD_ERR_NOMEM, AOD_ERR_INTERNAL
 * for a NULL argument or an audience out of range). */
aod_mask *aod_mask_new(const aod_policy *policy, aod_audience audience, aod_mode mode,
                       const aod_text *text, aod_strpool *pool, aod_error *err);

/* Fills e->shown_name (never NULL on success), shown_role,
 * shown_organisation, shown_address and tier from e->who, e->cls and the
 * policy.  The strings are borrowed from e (pool strings) or interned in the
 * mask's pool.  Within one mask two identities never share a pseudonym: on
 * a clash of codes the later identity gets a code twice as long.  Returns 0,
 * or -1 with err set (AOD_ERR_NOMEM; AOD_ERR_INTERNAL for an actor class
 * out of range). */
int aod_mask_apply(aod_mask *m, aod_entry *e, aod_error *err);

/* Codes without words: aod_mask_apply() flags each line holding a role,
 * purpose or resource type the templates have no words for
 * (AOD_ENTRY_NO_WORDS) and counts it by kind and code.  This copies those
 * counts into sum's lines_without_words, no_words[], n_no_words and
 * no_words_more (strings borrowed from the mask's pool). */
void aod_mask_no_words(const aod_mask *m, aod_report_summary *sum);

/* Frees the mask and wipes the secret it held.  Accepts NULL. */
void aod_mask_free(aod_mask *m);

#endif
