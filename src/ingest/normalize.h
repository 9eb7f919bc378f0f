/*
 * normalize.h - stage "normalize": one FHIR AuditEvent (R4, R5 or the R6
 * ballot, as a jansson object) into the plain record of record.h.
 *
 * The loader calls this once per event; reports never parse JSON again (see
 * PERFORMANCE.md), they decode the compact form written by recio.h.  The
 * reader is shape-driven and tolerant: every element is accepted in each shape
 * any of the three versions gives it (Coding or CodeableConcept, string or
 * Reference, one object where an array was due), and anything ragged becomes
 * NULL / 0 / -1 in the record.  Only an object that is not an AuditEvent, or
 * one without a usable `recorded`, is refused.
 */
#ifndef AOD_NORMALIZE_H
#define AOD_NORMALIZE_H

#include <jansson.h>

#include "base/buf.h"
#include "base/error.h"
#include "model/record.h"

/*
 * Fills out from the AuditEvent resource.  out is cleared first (its arena's
 * pages are kept); its row_id is left as it was.  Every string in out is a
 * copy in out's arena: resource is only borrowed for the call and may be
 * freed afterwards.
 *
 * Returns 0, or -1 with err set:
 *   AOD_ERR_INPUT  resource is not an object (field ""), its resourceType is
 *                  missing or not "AuditEvent" (field "resourceType"), or
 *                  `recorded` is missing or not a FHIR instant/dateTime
 *                  (field "recorded");
 *   AOD_ERR_NOMEM  out of memory.
 * On failure out holds partial data; clear it before reuse.
 */
int aod_normalize(const json_t *resource, aod_record *out, aod_error *err);

/*
 * Guesses which FHIR version wrote resource, from the shape of its elements
 * (DOMAIN.md 2.2 point 10), then from meta.profile.  AOD_FHIR_UNKNOWN when
 * nothing tells (a minimal event is valid in every version).  resource is
 * borrowed; NULL or a non-object gives AOD_FHIR_UNKNOWN.
 */
aod_fhir_version aod_normalize_detect_version(const json_t *resource);

/*
 * Turns a patient as a user typed it into the key form the store and
 * aod_record.patient_keys use, and appends it to out:
 *   "Patient/123", "Patient/123/_history/2", "http://host/fhir/Patient/123"
 *        -> "Patient/123"
 *   "http://hospital.example/mrn|12345" -> unchanged ("system|value"; the
 *        system may be empty: "|12345")
 * Surrounding blanks are ignored.  Returns 0, or -1 with err set
 * (AOD_ERR_USAGE, field "patient") for input that names no patient: empty,
 * neither a Patient reference nor "system|value", an empty value, or control
 * characters; or AOD_ERR_NOMEM (out has then been freed, as aod_buf does).
 */
int aod_normalize_patient_key(const char *input, aod_buf *out, aod_error *err);

#endif
