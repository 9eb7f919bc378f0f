/*
 * sha256.h - SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), computed by
 * OpenSSL's libcrypto.
 *
 * A support module, not a pipeline stage: the mask stage keys its stable
 * pseudonyms with HMAC-SHA256 over a site secret, the batch manifest carries
 * file checksums, and stable document ids are derived from input hashes.
 * libcrypto (which libpq already loads) does the arithmetic, with the
 * processor's SHA extensions where it has them; this header keeps the
 * project's small API over it, so no other file includes OpenSSL's headers
 * for hashing.
 *
 * The contexts are value types meant to live on the caller's stack.  Each
 * holds a libcrypto context that init allocates and final frees, so every
 * init must be followed by its final (also on error paths).  libcrypto
 * failing to allocate that context is the only way a hash can fail; since a
 * wrong digest would silently give wrong document ids, pseudonyms or
 * checksums, that failure stops the program (a message on standard error,
 * then abort()) instead of returning.  Fields are private.
 */
#ifndef AOD_SHA256_H
#define AOD_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define AOD_SHA256_DIGEST_LEN 32 /* bytes in a digest */
#define AOD_SHA256_BLOCK_LEN  64 /* bytes in one compression block */
#define AOD_SHA256_HEX_LEN    65 /* a digest in hex, with its NUL */

/* A running SHA-256 computation (private fields). */
typedef struct aod_sha256_ctx {
    struct evp_md_ctx_st *md; /* libcrypto's EVP_MD_CTX */
} aod_sha256_ctx;

/* A running HMAC-SHA256 computation (private fields). */
typedef struct aod_hmac_sha256_ctx {
    struct evp_mac_ctx_st *mac; /* libcrypto's EVP_MAC_CTX */
} aod_hmac_sha256_ctx;

/* Starts a hash.  ctx is caller-owned (usually on the stack). */
void aod_sha256_init(aod_sha256_ctx *ctx);

/* Feeds len bytes of data (borrowed; may be NULL when len is 0).  Chunks of
 * any size give the same digest as one call with all the bytes. */
void aod_sha256_update(aod_sha256_ctx *ctx, const void *data, size_t len);

/* Writes the 32-byte digest to out and releases ctx's libcrypto state;
 * start again with aod_sha256_init() to reuse it. */
void aod_sha256_final(aod_sha256_ctx *ctx, unsigned char out[AOD_SHA256_DIGEST_LEN]);

/* One-shot digest of len bytes of data into out. */
void aod_sha256(const void *data, size_t len, unsigned char out[AOD_SHA256_DIGEST_LEN]);

/* Starts an HMAC with key (borrowed, keylen bytes, any length: a key longer
 * than a block is hashed first, as RFC 2104 says). */
void aod_hmac_sha256_init(aod_hmac_sha256_ctx *ctx, const void *key, size_t keylen);

/* Feeds len bytes of the message. */
void aod_hmac_sha256_update(aod_hmac_sha256_ctx *ctx, const void *msg, size_t len);

/* Writes the 32-byte MAC to out and releases ctx (libcrypto clears the key
 * material it held). */
void aod_hmac_sha256_final(aod_hmac_sha256_ctx *ctx, unsigned char out[AOD_SHA256_DIGEST_LEN]);

/* One-shot HMAC-SHA256 of msg under key into out. */
void aod_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t len,
                     unsigned char out[AOD_SHA256_DIGEST_LEN]);

#define AOD_UUID_LEN 37 /* a UUID in 8-4-4-4-12 form, with its NUL */

/* Writes the name-based UUID of a SHA-256 digest into out: its first 16
 * bytes with the version set to 8 and the variant to RFC 9562's (binary
 * 10), in lowercase 8-4-4-4-12 form.  RFC 9562 section 5.8 (example in B.2)
 * calls a UUID built from a SHA-256 name hash version 8; version 5 means
 * SHA-1.  Returns out. */
char *aod_sha256_uuid(const unsigned char digest[AOD_SHA256_DIGEST_LEN], char out[AOD_UUID_LEN]);

/* Writes n bytes as lowercase hex into out, which must hold 2 * n + 1 bytes
 * (AOD_SHA256_HEX_LEN for a digest).  Returns out (borrowed from the caller). */
char *aod_sha256_hex(const unsigned char *bytes, size_t n, char *out);

#endif
