/*
 * recio.h - the compact stored form of a normalized record.
 *
 * Part of stage "normalize" (its output format) and of stage "source" (its
 * input): the loader normalizes each AuditEvent once and stores the result of
 * aod_recio_encode() in a text column; every report decodes that text with
 * aod_recio_decode() instead of parsing JSON again (PERFORMANCE.md: jansson
 * runs at about 75 MB/s, this decoder at several hundred).
 *
 * THE FORMAT, version "aod2" (what the encoder writes)
 *
 *   The text is lines, each ended by LF (the last one too); the fields of a
 *   line are separated by TAB.  Line 1 is the version token alone:
 *
 *     aod2
 *
 *   Line 2 is the event ("R"), then one line per agent ("A"), then one line
 *   per entity ("E"), in the record's order, and nothing after them.  Every
 *   field is always present, in this order:
 *
 *     R  id version recorded when_start when_end action outcome outcome_text
 *        severity x_request_id site OBSERVER TYPE SUBTYPE PURPOSE SOURCE_TYPE
 *        n_agents n_entities PATIENT_KEYS
 *     A  WHO name alt_id TYPE ROLE requestor network location PURPOSE POLICY
 *     E  WHAT TYPE1 ROLE1 name description SECURITY has_query
 *
 *   where a REF (OBSERVER, WHO, WHAT) is five strings: reference type
 *   id_system id_value display; a coding list (TYPE, SUBTYPE, PURPOSE,
 *   SOURCE_TYPE, ROLE, SECURITY) is a count n then 3n strings (system code
 *   display for each coding); a single coding (TYPE1, ROLE1) is three strings
 *   with no count; a string list (POLICY, PATIENT_KEYS) is a count n then n
 *   strings.  The row id is not stored: it is the store's.
 *
 *   Numbers are decimal ASCII, "-" allowed only where negative values exist:
 *   version is 0, 4, 5 or 6; the three times are milliseconds since the epoch
 *   (int64), and when_start or when_end is "=" when it equals recorded (as
 *   both do for an event recorded without a period); requestor is -1, 0 or
 *   1; has_query is 0 or 1; counts are >= 0.  action is an empty field (not
 *   recorded) or one byte, escaped as in a string.
 *
 *   A string field is one of:
 *     (empty)  NULL;
 *     \e       the empty string "", alone in its field;
 *     \~hh     the entry 0xhh (two lowercase hex digits) of the aod2
 *              dictionary, alone in its field: a fixed table in recio.c of
 *              well-known strings that events repeat (code system URIs such
 *              as http://dicom.nema.org/resources/ontology/DCM, standard codes
 *              and displays, resource types).  The table is frozen with the
 *              token: changing it makes a new format.  The decoder gives the
 *              entry itself, not a copy (see aod_recio_decode()).  An encoder
 *              may also write a dictionary string out in full;
 *     else     the string's bytes with these escapes:
 *       \\  backslash      \t  TAB      \n  LF      \r  CR
 *       \xHH  the byte 0xHH (two hex digits, not 00); the encoder writes it
 *             for the other control characters, DEL, and bytes that are not
 *             valid UTF-8.
 *   Encoded text is therefore always valid UTF-8 with no NUL and no raw
 *   control byte but the TABs and LFs of the layout: storable in a
 *   PostgreSQL text column, and any C string round-trips byte for byte.  The
 *   decoder takes other raw bytes as they are, and refuses unknown escapes
 *   (\N among them), \x00, \e or \~hh with anything else in the field, a
 *   \~hh that names no entry, "=" in any field but the two times, short
 *   lines, extra fields, counts larger than the rest of the text could hold,
 *   and anything after the last line.
 *
 * THE FORMAT, version "aod3" (written for records with a context)
 *
 *   aod2 with one more line after the entities, the event's R5/R6 context:
 *
 *     C  ENCOUNTER n_based_on BASED_ON...
 *
 *   ENCOUNTER and each BASED_ON a REF (five strings, as above).  The
 *   encoder writes aod3 only for a record that has an encounter or a
 *   basedOn, and aod2 for every other record, so rows without them are
 *   byte for byte what aod2 binaries stored.
 *
 * THE FORMAT, version "aod1" (read, never written any more)
 *
 *   Rows stored before aod2 are never rewritten, so the decoder reads aod1
 *   too.  It is aod2 without the three shorthands: NULL is the field \N
 *   alone, "" is an empty field, there is no dictionary (\e and \~ are
 *   unknown escapes), and the times are always numbers.  action is an empty
 *   field when not recorded (\N is refused there).
 *
 *   A format change gets a new token ("aod3"); decoders keep reading the old
 *   ones, so stored rows never need rewriting.
 *
 * Example: an R4 read by Practitioner/7 (displayed "Dr. A<TAB>B\C") of
 * Patient/1, recorded by Device/srv, with no period; "->" marks a TAB:
 *
 *   aod2
 *   R->ev1->4->1379808480000->=->=->R->0->->->->->Device/srv->\~37->->->->1->
 *     \~c0->rest->->1->\~b8->read->->0->0->1->1->1->Patient/1
 *   A->Practitioner/7->\~6c->->->Dr. A\tB\\C->->->0->0->1->->->0->0
 *   E->Patient/1->\~69->->->->->->->->1->->->->0->0
 *
 *   (the R, A and E lines are one line each, wrapped here to fit; \~37 is
 *   "Device", \~6c "Practitioner", \~69 "Patient", \~c0 the audit-event-type
 *   and \~b8 the restful-interaction system.)  The same record in aod1:
 *
 *   aod1
 *   R->ev1->4->1379808480000->1379808480000->1379808480000->R->0->\N->\N->\N->
 *     \N->Device/srv->Device->\N->\N->\N->1->http://terminology.hl7.org/
 *     CodeSystem/audit-event-type->rest->\N->1->http://hl7.org/fhir/
 *     restful-interaction->read->\N->0->0->1->1->1->Patient/1
 *   A->Practitioner/7->Practitioner->\N->\N->Dr. A\tB\\C->\N->\N->0->0->1->\N->
 *     \N->0->0
 *   E->Patient/1->Patient->\N->\N->\N->\N->\N->\N->\N->1->\N->\N->\N->0->0
 */
#ifndef AOD_RECIO_H
#define AOD_RECIO_H

#include <stddef.h>

#include "base/buf.h"
#include "base/error.h"
#include "model/record.h"

/* The version token of what aod_recio_encode() writes; the second one
 * for a record with an R5 encounter or basedOn (see aod3 above). */
#define AOD_RECIO_VERSION         "aod2"
#define AOD_RECIO_VERSION_CONTEXT "aod3"

/*
 * Appends the stored form of r (all fields but row_id) to out.  r is
 * borrowed.  Returns 0, or -1 with err set to AOD_ERR_NOMEM when out could
 * not grow (out has then been freed, as aod_buf does on failure).
 */
int aod_recio_encode(const aod_record *r, aod_buf *out, aod_error *err);

/*
 * Decodes len bytes of aod1, aod2 or aod3 text (need not be NUL terminated; any
 * bytes at all are safe to pass) into out.  out is cleared first (its arena's
 * pages are kept) and its row_id left as it was.  text is only borrowed for
 * the call: every string in out is either in out's arena or, for a
 * dictionary string, the dictionary's own static string (never to be written
 * to or freed, valid for the life of the program).
 *
 * Returns 0, or -1 with err set: AOD_ERR_INPUT (field names the element that
 * was malformed or cut short, e.g. "agent.who.reference"; text gives the byte
 * offset) or AOD_ERR_NOMEM.  On failure out holds partial data; clear it
 * before reuse.
 */
int aod_recio_decode(const char *text, size_t len, aod_record *out, aod_error *err);

/*
 * Appends a human-readable dump of r to out: one "field: value" line per
 * present field, strings quoted with C-like escapes, times in ISO 8601 UTC,
 * NULL strings / unknown tri-states / empty lists left out, counts always
 * shown.  Stable across releases: the golden test files are written in it.
 * Returns 0, or -1 with err set to AOD_ERR_NOMEM (out freed).
 */
int aod_recio_dump(const aod_record *r, aod_buf *out, aod_error *err);

#endif
