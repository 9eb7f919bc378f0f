/*
 * sha256.h - SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), no OpenSSL.
 *
 * A support module, not a pipeline stage: the mask stage keys its stable
 * pseudonyms with HMAC-SHA256 over a site secret, the batch manifest carries
 * file checksums, and stable document ids are derived from input hashes.
 * OpenSSL is not an allowed dependency, so the algorithm lives here.
 *
 * The contexts are plain value types meant to live on the caller's stack:
 * nothing here allocates, so there is nothing to free and no way to fail.
 * Their fields are private; touch them only through these functions.
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
    uint32_t state[8];
    uint64_t total;                            /* bytes hashed so far */
    unsigned char block[AOD_SHA256_BLOCK_LEN]; /* a partial block waiting for more */
    size_t used;                               /* bytes waiting in block */
} aod_sha256_ctx;

/* A running HMAC-SHA256 computation (private fields). */
typedef struct aod_hmac_sha256_ctx {
    aod_sha256_ctx inner;
    unsigned char outer_pad[AOD_SHA256_BLOCK_LEN]; /* key XOR opad, kept for final */
} aod_hmac_sha256_ctx;

/* Starts a hash.  ctx is caller-owned (usually on the stack). */
void aod_sha256_init(aod_sha256_ctx *ctx);

/* Feeds len bytes of data (borrowed; may be NULL when len is 0).  Chunks of
 * any size give the same digest as one call with all the bytes. */
void aod_sha256_update(aod_sha256_ctx *ctx, const void *data, size_t len);

/* Writes the 32-byte digest to out and wipes ctx; start again with
 * aod_sha256_init() to reuse it. */
void aod_sha256_final(aod_sha256_ctx *ctx, unsigned char out[AOD_SHA256_DIGEST_LEN]);

/* One-shot digest of len bytes of data into out. */
void aod_sha256(const void *data, size_t len, unsigned char out[AOD_SHA256_DIGEST_LEN]);

/* Starts an HMAC with key (borrowed, keylen bytes, any length: a key longer
 * than a block is hashed first, as RFC 2104 says). */
void aod_hmac_sha256_init(aod_hmac_sha256_ctx *ctx, const void *key, size_t keylen);

/* Feeds len bytes of the message. */
void aod_hmac_sha256_update(aod_hmac_sha256_ctx *ctx, const void *msg, size_t len);

/* Writes the 32-byte MAC to out and wipes ctx (it holds key material). */
void aod_hmac_sha256_final(aod_hmac_sha256_ctx *ctx, unsigned char out[AOD_SHA256_DIGEST_LEN]);

/* One-shot HMAC-SHA256 of msg under key into out. */
void aod_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t len,
                     unsigned char out[AOD_SHA256_DIGEST_LEN]);

/* Whether the processor's SHA extensions are used (1) or the portable code
 * (0).  use: 0 forces the portable code, 1 uses the extensions where the
 * processor has them (the default), -1 only asks.  For tests and
 * measurements; process-wide. */
int aod_sha256_accelerated(int use);

/* Writes n bytes as lowercase hex into out, which must hold 2 * n + 1 bytes
 * (AOD_SHA256_HEX_LEN for a digest).  Returns out (borrowed from the caller). */
char *aod_sha256_hex(const unsigned char *bytes, size_t n, char *out);

#endif
