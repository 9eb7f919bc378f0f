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
#include "store/store.h"

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
 *   " urn:x |12345\t" -> "urn:x|12345"
 * Blanks (space, TAB, CR, LF) at either end of the system and of the value
 * are no part of a key: the loader builds the keys it stores with this same
 * rule, so every stored key can be asked for.  Returns 0, or -1 with err set
 * (AOD_ERR_USAGE, field "patient") for input that names no patient: empty,
 * neither a Patient reference nor "system|value", an empty value, or control
 * characters; or AOD_ERR_NOMEM (out has then been freed, as aod_buf does).
 */
int aod_normalize_patient_key(const char *input, aod_buf *out, aod_error *err);

/*
 * One event made ready for the store: normalised, encoded, keyed.  The
 * loader makes one per event it reads, the self-audit one per report run,
 * so both store events by the same rules.  The memory is reused from event
 * to event; row's pointers are borrowed from this struct and from the
 * resource text given, valid until the next aod_normalize_row_make() or
 * aod_normalize_row_free().
 */
typedef struct aod_normalize_row {
    aod_load_row row; /* what aod_store_load_add() takes */
    aod_record *rec;  /* the normalised event */
    aod_buf norm;     /* its compact form (recio.h) */
    aod_buf observer; /* the observer's identity, when made from an identifier */
    char recorded[40];
    char *dumped;    /* the resource as compact JSON, when no text was given */
    char *canonical; /* without an id or observer: the canonical JSON the store keys on */
} aod_normalize_row;

/* Prepares r for aod_normalize_row_make().  Returns 0, or -1 with err set
 * (AOD_ERR_NOMEM; r is then safe to free). */
int aod_normalize_row_init(aod_normalize_row *r, aod_error *err);

/*
 * Fills r->row from the AuditEvent resource (borrowed) and text, its JSON
 * as read (borrowed, text_len bytes; NULL: the resource is written out as
 * compact JSON).  Without an AuditEvent.id, or without an observer (an id
 * is unique only within the system that wrote it), the row carries the
 * canonical JSON (keys sorted, no white space): the same content written
 * otherwise is the same event.  Returns 0, or -1 with err set as aod_normalize() sets it.
 */
int aod_normalize_row_make(aod_normalize_row *r, const json_t *resource, const char *text,
                           size_t text_len, aod_error *err);

/* Frees what r holds (not r itself). */
void aod_normalize_row_free(aod_normalize_row *r);

#endif
