/*
 * sign.h - Ed25519 signatures (RFC 8032) through OpenSSL's libcrypto, for
 * the signed FHIR documents (--sign, verify-signature).
 *
 * A support module: it knows keys and bytes, not FHIR or JSON (the JWS and
 * the Bundle's signature are render/signature.c's).  Ed25519 rather than
 * ECDSA: an Ed25519 signature is a function of the key and the message
 * alone (RFC 8032 5.1.6 derives the nonce from them), so the same document
 * signed twice gives the same bytes and outputs stay deterministic; ECDSA
 * (ES256) draws a random nonce unless RFC 6979 is implemented, and a weak
 * random source then leaks the key.  The cost: Ed25519 signs the whole
 * message, not a streamed digest, so the caller holds the message.
 *
 * Keys are PEM files as `openssl genpkey -algorithm ed25519` writes them
 * (and `openssl pkey -pubout` for the public half).  A private key file is
 * a secret and is opened as the pseudonym secret is: a regular file owned by
 * the caller or root with no group or other permission bits, not through a
 * symbolic link, without blocking on a pipe.
 */
#ifndef AOD_SIGN_H
#define AOD_SIGN_H

#include <stddef.h>

#include "base/error.h"

#define AOD_SIGN_PUBLIC_LEN 32 /* an Ed25519 public key, raw */
#define AOD_SIGN_SIG_LEN    64 /* an Ed25519 signature */

/* An Ed25519 key, private (can sign) or public (can verify only). */
typedef struct aod_sign_key aod_sign_key;

/* Loads the private key in path (borrowed), checking the file as a secret
 * (above).  Returns a new key (free with aod_sign_key_free) or NULL with
 * err set: AOD_ERR_USAGE (field "--sign") when the file is not private
 * enough, not a PEM private key, or not Ed25519; AOD_ERR_IO when it cannot
 * be read; AOD_ERR_NOMEM. */
aod_sign_key *aod_sign_key_load_private(const char *path, aod_error *err);

/* Loads a public key (PEM "PUBLIC KEY") from path (borrowed; not a secret,
 * no permission check).  Errors as above with field "--key". */
aod_sign_key *aod_sign_key_load_public(const char *path, aod_error *err);

/* A public key from its 32 raw bytes (a JWK's "x").  NULL with err set
 * (AOD_ERR_INPUT) when they are not a key. */
aod_sign_key *aod_sign_key_from_public(const unsigned char raw[AOD_SIGN_PUBLIC_LEN],
                                       aod_error *err);

/* Frees k (NULL is fine); private material is cleared by libcrypto. */
void aod_sign_key_free(aod_sign_key *k);

/* Writes k's raw public key to out.  Returns 0, -1 when libcrypto fails. */
int aod_sign_key_public(const aod_sign_key *k, unsigned char out[AOD_SIGN_PUBLIC_LEN]);

/* Signs len bytes of msg (borrowed) with the private key k into sig.
 * Returns 0, or -1 with err set (AOD_ERR_INTERNAL: a public key, or
 * libcrypto failed). */
int aod_sign(const aod_sign_key *k, const void *msg, size_t len,
             unsigned char sig[AOD_SIGN_SIG_LEN], aod_error *err);

/* Whether sig (siglen bytes) is k's signature of msg: 1 yes, 0 no. */
int aod_sign_verify(const aod_sign_key *k, const void *msg, size_t len, const unsigned char *sig,
                    size_t siglen);

#endif
