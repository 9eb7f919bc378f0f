/*
 * mhd.h - portal delivery: the report as an IHE MHD (Mobile access to Health
 * Documents, FHIR R4) submission a Document Recipient's FHIR API accepts.
 *
 * Two forms (doc/bundle.md, "Portal delivery", gives them element by
 * element):
 *
 *   AOD_MHD_PROVIDE   ITI-65 Provide Document Bundle: a transaction Bundle
 *                     (Minimal metadata) holding the SubmissionSet (List),
 *                     a DocumentReference and a Binary with the readable
 *                     report (PDF or HTML), and a second DocumentReference
 *                     and Binary with the report's FHIR document Bundle
 *                     (what --format bundle-json writes)
 *   AOD_MHD_SIMPLIFIED ITI-105 Simplified Publish: one DocumentReference
 *                     carrying the readable report in content.attachment.data
 *
 * The patient is named by an identifier (a logical reference), never by a
 * server id: the portal resolves it.  An SSN is never that identifier (a
 * full SSN never leaves); a report asked for by an SSN alone cannot be
 * submitted.  Ids are version-8 UUIDs derived from the report's inputs
 * (sha256.h), so the same inputs give byte-identical submissions.
 *
 * The sink renders the readable report and the document Bundle with their
 * own renderers into temporary files, then streams them base64-encoded into
 * out: memory stays bounded by what those renderers hold.
 */
#ifndef AOD_MHD_H
#define AOD_MHD_H

#include <stdio.h>

#include "base/error.h"
#include "base/sign.h"
#include "model/entry.h"
#include "model/text.h"
#include "render/pdf.h"

typedef enum aod_mhd_form {
    AOD_MHD_PROVIDE = 0, /* ITI-65, transaction Bundle */
    AOD_MHD_SIMPLIFIED   /* ITI-105, one DocumentReference */
} aod_mhd_form;

typedef enum aod_mhd_document {
    AOD_MHD_PDF = 0, /* the PDF letter and listing */
    AOD_MHD_HTML     /* the accessible HTML page */
} aod_mhd_document;

/* The IHE URIs written (profiles, code systems, extensions). */
#define AOD_MHD_BASE           "https://profiles.ihe.net/ITI/MHD/"
#define AOD_MHD_PROFILE_BUNDLE AOD_MHD_BASE "StructureDefinition/IHE.MHD.Minimal.ProvideBundle"
#define AOD_MHD_PROFILE_LIST   AOD_MHD_BASE "StructureDefinition/IHE.MHD.Minimal.SubmissionSet"
#define AOD_MHD_PROFILE_DOCREF AOD_MHD_BASE "StructureDefinition/IHE.MHD.Minimal.DocumentReference"
#define AOD_MHD_PROFILE_SIMPLIFIED                                                                 \
    AOD_MHD_BASE "StructureDefinition/IHE.MHD.SimplifiedPublish.DocumentReference"
#define AOD_MHD_EXT_SOURCE_ID AOD_MHD_BASE "StructureDefinition/ihe-sourceId"
#define AOD_MHD_CS_LIST_TYPES AOD_MHD_BASE "CodeSystem/MHDlistTypes"
#define AOD_MHD_CS_FORMAT     "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"

/* A new MHD sink writing the submission to out (borrowed; written only in
 * end(), flushed there, never closed).  pdf (borrowed, may be NULL: the
 * defaults) are the PDF's options, as --format pdf has them.  sign_key (borrowed,
 * may be NULL) signs the FHIR document ITI-65 carries (signature.h).  text (borrowed,
 * required) must outlive the sink; the info given to begin() and its policy
 * are borrowed until end() returns.  Entries must be masked.  Returns a new
 * sink (free it through its free member), or NULL with err set
 * (AOD_ERR_INTERNAL for a NULL out or text, AOD_ERR_NOMEM, AOD_ERR_IO when no
 * temporary file can be made or the font cannot be opened).
 *
 * begin() fails with AOD_ERR_USAGE when the report's keys hold no identifier
 * a portal may be given (only SSNs), or the policy's organisation has no
 * identifier (the SubmissionSet's sourceId); end() with AOD_ERR_IO when
 * writing fails, and as the inner renderers fail. */
aod_sink *aod_mhd_sink_new(FILE *out, aod_mhd_form form, aod_mhd_document doc,
                           const aod_pdf_options *pdf, const aod_sign_key *sign_key,
                           const aod_text *text, aod_error *err);

#endif
