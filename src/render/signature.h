/*
 * signature.h - signed FHIR documents: Bundle.signature as a JWS with a
 * detached payload (RFC 7515 appendix F) over the canonical JSON of the
 * Bundle without its signature (doc/bundle.md, "Signatures").
 *
 * The canonical JSON is RFC 8785's (JCS): no white space, object members
 * sorted by their names' UTF-16 code units, strings with only the escapes
 * JSON requires, numbers as ECMAScript prints them (our documents hold
 * integers only; a fraction is refused).  The JWS protected header is
 * {"alg":"EdDSA","kid":THUMBPRINT,"jwk":{"crv":"Ed25519","kty":"OKP","x":...}}
 * (the RFC 7638 thumbprint of that JWK as kid), the payload the base64url of
 * the canonical bytes, and Bundle.signature holds the compact form
 * "HEADER..SIGNATURE" base64-encoded in data, with sigFormat
 * application/jose, targetFormat application/fhir+json, type "Author's
 * Signature" (1.2.840.10065.1.12.1.1), when = Bundle.timestamp and who =
 * the Bundle's Organization entry.
 */
#ifndef AOD_SIGNATURE_H
#define AOD_SIGNATURE_H

#include <jansson.h>
#include <stdio.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/sign.h"
#include "model/entry.h"
#include "render/bundle.h"

/* Appends the RFC 8785 canonical form of v (borrowed) to out.  Returns 0,
 * or -1 with err set: AOD_ERR_INPUT for a number with a fraction (not
 * canonicalised here), AOD_ERR_NOMEM. */
int aod_signature_canonical(json_t *v, aod_buf *out, aod_error *err);

/* Signs the Bundle doc (borrowed, changed in place) with the private key:
 * any Bundle.signature is replaced by ours, appended last (R4 order).
 * Returns 0, or -1 with err set (AOD_ERR_INPUT: not a Bundle, no
 * timestamp or Organization entry; AOD_ERR_NOMEM; AOD_ERR_INTERNAL). */
int aod_signature_add(json_t *doc, const aod_sign_key *key, aod_error *err);

/* What aod_signature_check() found. */
typedef struct aod_signature_result {
    int valid;        /* 1: the signature verifies over the document */
    int trusted;      /* 1: with the key the caller gave (else the JWS's own jwk) */
    char kid[64];     /* the key's thumbprint (base64url), "" when unknown */
    char when[40];    /* Signature.when, "" when absent */
    char reason[300]; /* when not valid: why, in words */
} aod_signature_result;

/* Checks doc's (borrowed, not changed) Bundle.signature.  trusted (may be
 * NULL): the public key the signature must be made with; NULL: the key in
 * the JWS header (which shows the document is unchanged since signing, not
 * who signed it).  Returns 0 with *res filled (valid or not, the reason
 * said), or -1 with err set (AOD_ERR_NOMEM, AOD_ERR_INTERNAL). */
int aod_signature_check(json_t *doc, const aod_sign_key *trusted, aod_signature_result *res,
                        aod_error *err);

/* A sink that signs what inner writes: inner (stolen, freed with this sink
 * even when this fails) must be a bundle-json sink writing to tmp (stolen:
 * a temporary file, closed with this sink).  At end() the document is read
 * back from tmp, signed and written to out (borrowed) as the Bundle
 * renderer writes it, with its signature last.  key is borrowed and must
 * outlive the sink.  The document is held in memory while it is signed
 * (Ed25519 signs the whole message): several times the file's size.
 * Returns the sink or NULL with err set (AOD_ERR_NOMEM). */
aod_sink *aod_signature_sink_new(aod_sink *inner, FILE *tmp, FILE *out, const aod_sign_key *key,
                                 aod_error *err);

/* The same, writing the signed document to out in the format fmt: with
 * AOD_BUNDLE_XML its XML form (aod_bundle_write_xml).  The signature is
 * the same either way: a JWS over the canonical JSON of the document,
 * which the JSON and XML forms share (doc/bundle.md, "Signatures"). */
aod_sink *aod_signature_sink_new_as(aod_sink *inner, FILE *tmp, FILE *out, const aod_sign_key *key,
                                    aod_bundle_format fmt, aod_error *err);

#endif
