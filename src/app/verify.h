/*
 * verify.h - `aodreport verify`: the privacy officer's targeted question,
 * "did this person open this patient's record?".
 *
 * Stage: app.  The answer is the access report for the privacy office (the
 * same store query, classify, dedup, summarize, suspend and mask as
 * `report --mode access --audience privacy-office`) read through a sink that
 * keeps only the lines whose actor is the person asked about, so a verify
 * answer cannot disagree with the access report.  It goes through
 * aod_run_report() like every report: written to a temporary, recorded as a
 * self-audit (format verify-text or verify-json), then published.
 *
 * Who matches (doc/aodreport.1, VERIFY):
 *   - a key with '|' ("system|value"): the actor's identifier, system and
 *     value equal; "|value" matches the value under any system;
 *   - a key with '/' and no blank ("Practitioner/12"): the actor's reference;
 *   - anything else is a name, compared with the recorded name (R4
 *     agent.name, else who.display): equal after folding case, dropping the
 *     accents of Latin letters (é -> e, ß -> ss, Æ -> ae) and collapsing
 *     blanks.  Never a substring, never a fuzzy match.
 */
#ifndef AOD_VERIFY_H
#define AOD_VERIFY_H

#include <stddef.h>

#include "base/error.h"
#include "model/entry.h"

/* What aod_verify_command returns when the answer is no (main.c maps it to
 * its own exit code). */
#define AOD_VERIFY_NO 1

/* 1 when the recorded name have (may be NULL) is the name want, as the
 * header says: case, Latin accents and blanks aside. */
int aod_verify_name_equal(const char *want, const char *have);

/* 1 when party p is the person given as `--person` (key or name). */
int aod_verify_party_matches(const char *person, const aod_party *p);

/* Runs `aodreport verify ARGS...` (argv[0] is "verify").  Returns 0 when
 * the person accessed the record in the period, AOD_VERIFY_NO when not
 * (both answers printed and recorded), or -1 with err set: no answer. */
int aod_verify_command(int argc, char **argv, aod_error *err);

#endif
