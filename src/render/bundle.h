/*
 * bundle.h - the FHIR R4 (4.0.1) Document Bundle renderer: the report as a
 * FHIR document, in JSON or in XML.
 *
 * The document (doc/bundle.md gives it element by element):
 *
 *   Bundle (type document, identifier, timestamp, meta.security)
 *     Composition   first: status final, type (report-type code system),
 *                   subject, date, author, title, confidentiality,
 *                   event.period = the period covered, one section per part
 *                   of the report, each with a readable XHTML narrative
 *     Patient       from the report's patient keys (and name when given)
 *     Organization  the covered entity, from the policy
 *     AuditEvent    one per report line, crafted from the masked line: who as
 *                   the reader may see it, the data described, never copied
 *
 * Every entry has a urn:uuid: fullUrl derived with SHA-256 from the
 * report's inputs, so the same inputs give a byte-identical document.  JSON
 * and XML are written from one in-memory model (jansson values built in R4
 * element order), so both carry the same content; the XML follows the R4
 * element order and the narratives are built with libxml2's xmlTextWriter.
 *
 * The sink keeps the lines until end() (the Composition needs the counts
 * and the whole list first) and writes everything there, one AuditEvent at
 * a time, so the output is never held whole in memory.
 */
#ifndef AOD_BUNDLE_H
#define AOD_BUNDLE_H

#include <jansson.h>
#include <stdio.h>

#include "base/error.h"
#include "model/text.h"
#include "model/entry.h"

typedef enum aod_bundle_format {
    AOD_BUNDLE_JSON = 0, /* FHIR JSON, UTF-8, one-space indent */
    AOD_BUNDLE_XML       /* FHIR XML (namespace http://hl7.org/fhir), UTF-8 */
} aod_bundle_format;

/* The canonical URIs this project defines (doc/bundle.md documents each).
 * They are part of the output format: never change one. */
#define AOD_BUNDLE_CS_REPORT_TYPE  "urn:aodreport:fhir:CodeSystem:report-type"
#define AOD_BUNDLE_CS_SECTION      "urn:aodreport:fhir:CodeSystem:report-section"
#define AOD_BUNDLE_NS_AUDITED_REF  "urn:aodreport:fhir:NamingSystem:audited-reference"
#define AOD_BUNDLE_EXT_PREFIX      "urn:aodreport:fhir:StructureDefinition:"
#define AOD_BUNDLE_EXT_RAW_COUNT   AOD_BUNDLE_EXT_PREFIX "raw-record-count"
#define AOD_BUNDLE_EXT_EVENT_COUNT AOD_BUNDLE_EXT_PREFIX "event-count"
#define AOD_BUNDLE_EXT_FLAG        AOD_BUNDLE_EXT_PREFIX "report-flag"
#define AOD_BUNDLE_EXT_SHOWN_ORG   AOD_BUNDLE_EXT_PREFIX "shown-organisation"
#define AOD_BUNDLE_EXT_SHOWN_ADDR  AOD_BUNDLE_EXT_PREFIX "shown-address"
#define AOD_BUNDLE_EXT_CLASS       AOD_BUNDLE_EXT_PREFIX "classification"
#define AOD_BUNDLE_EXT_EXCLUSION   AOD_BUNDLE_EXT_PREFIX "exclusion"
#define AOD_BUNDLE_EXT_RULE        AOD_BUNDLE_EXT_PREFIX "rule"
#define AOD_BUNDLE_EXT_GROUP       AOD_BUNDLE_EXT_PREFIX "dedup-group"
#define AOD_BUNDLE_EXT_RECORD_IDS  AOD_BUNDLE_EXT_PREFIX "source-record-ids"
/* The access flags (privacy office only, doc/privacy-office.md): one
 * access-flag (valueCode, the flag's id) per flag, then its evidence and the
 * flags' sentences (valueString). */
#define AOD_BUNDLE_EXT_ACCESS_FLAG     AOD_BUNDLE_EXT_PREFIX "access-flag"
#define AOD_BUNDLE_EXT_ACCESS_EVIDENCE AOD_BUNDLE_EXT_PREFIX "access-flag-evidence"
#define AOD_BUNDLE_EXT_ACCESS_WORDS    AOD_BUNDLE_EXT_PREFIX "access-flag-words"
/* issue 16: the line's reference, the basis of its reason and what showed it */
#define AOD_BUNDLE_EXT_LINE_REF        AOD_BUNDLE_EXT_PREFIX "line-reference"
#define AOD_BUNDLE_EXT_REASON          AOD_BUNDLE_EXT_PREFIX "reason-basis"
#define AOD_BUNDLE_EXT_REASON_EVIDENCE AOD_BUNDLE_EXT_PREFIX "reason-evidence"

/* A new Bundle sink writing the document to out (borrowed; written only in
 * end(), flushed there, never closed) in format fmt.  text (borrowed,
 * required) gives the words and must outlive the sink.  Entries must arrive
 * masked (shown_name set): an unmasked entry is refused with
 * AOD_ERR_INTERNAL, so a wiring mistake cannot leak a name.  The report
 * info given to begin() (and its policy, patient keys and strings) and the
 * entries' strings are borrowed until end() returns; each entry's
 * record_ids are copied.  Returns a new sink (free it through its free
 * member), or NULL with err set: AOD_ERR_INTERNAL for a NULL out or text
 * or an unknown format, AOD_ERR_NOMEM.
 *
 * The sink's end() fails with AOD_ERR_IO when writing fails, AOD_ERR_NOMEM
 * when out of memory, AOD_ERR_INTERNAL when called out of order. */
aod_sink *aod_bundle_sink_new(FILE *out, aod_bundle_format fmt, const aod_text *text,
                              aod_error *err);

/* Writes the document doc (a Bundle as JSON values, borrowed; the JSON
 * form this renderer writes, read back, with a Bundle.signature perhaps
 * added) to out (borrowed, flushed, not closed) as FHIR XML, byte for byte
 * as the sink writes its XML form.  Returns 0, or -1 with err set
 * (AOD_ERR_IO, AOD_ERR_NOMEM, AOD_ERR_INPUT: a value XML cannot hold). */
int aod_bundle_write_xml(FILE *out, json_t *doc, aod_error *err);

/* Reads len bytes of FHIR XML (a Bundle this renderer wrote) back into its
 * JSON values: which elements repeat and which values are integers or
 * booleans is known for the elements written here only; narratives come
 * back as the XHTML text written.  Nothing is fetched, no DTD or entity is
 * loaded.  The whole document is held in memory.  Returns a new value, or
 * NULL with err set (AOD_ERR_INPUT with field "xml": not well-formed XML
 * or not a Bundle; AOD_ERR_INPUT without a field: an element or attribute
 * not written here, with its line; AOD_ERR_NOMEM).
 * Whether the bytes are exactly what aod_bundle_write_xml() writes for the
 * result is the caller's question (verify-signature asks it). */
json_t *aod_bundle_read_xml(const char *text, size_t len, aod_error *err);

#endif
