/*
 * sha256.c - SHA-256 and HMAC-SHA256 through OpenSSL's libcrypto (see
 * sha256.h).
 *
 * Support code for the mask stage (keyed pseudonyms), the batch manifest and
 * self-audit (checksums of every file written) and the document ids.  The
 * algorithm used to be written out here; libcrypto's is the one the rest of
 * the world tests, and it picks the processor's SHA extensions by itself.
 */
#include "base/sha256.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

/* Out of memory inside libcrypto: sha256.h says why this does not return. */
static void fail(const char *what)
{
    fprintf(stderr, "aodreport: libcrypto cannot %s (out of memory?); stopping\n", what);
    abort();
}

/* SHA-256 fetched from libcrypto's provider once, not at every hash (an
 * implicit fetch per hash costs more than hashing an id).  The program has
 * no threads (batch workers are processes). */
static EVP_MD *sha256_md(void)
{
    static EVP_MD *md;

    if (!md)
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
    return md;
}

void aod_sha256_init(aod_sha256_ctx *ctx)
{
    EVP_MD *md = sha256_md();

    ctx->md = md ? EVP_MD_CTX_new() : NULL;
    if (!ctx->md || EVP_DigestInit_ex2(ctx->md, md, NULL) != 1)
        fail("start a SHA-256 hash");
}

void aod_sha256_update(aod_sha256_ctx *ctx, const void *data, size_t len)
{
    if (len > 0 && EVP_DigestUpdate(ctx->md, data, len) != 1)
        fail("hash with SHA-256");
}

void aod_sha256_final(aod_sha256_ctx *ctx, unsigned char out[AOD_SHA256_DIGEST_LEN])
{
    unsigned int n = 0;

    if (EVP_DigestFinal_ex(ctx->md, out, &n) != 1 || n != AOD_SHA256_DIGEST_LEN)
        fail("finish a SHA-256 hash");
    EVP_MD_CTX_free(ctx->md);
    ctx->md = NULL;
}

void aod_sha256(const void *data, size_t len, unsigned char out[AOD_SHA256_DIGEST_LEN])
{
    aod_sha256_ctx ctx;

    aod_sha256_init(&ctx);
    aod_sha256_update(&ctx, data, len);
    aod_sha256_final(&ctx, out);
}

void aod_hmac_sha256_init(aod_hmac_sha256_ctx *ctx, const void *key, size_t keylen)
{
    static const unsigned char empty[1];
    static EVP_MAC *mac; /* fetched once, as sha256_md() */
    OSSL_PARAM params[2];

    if (!mac)
        mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    ctx->mac = mac ? EVP_MAC_CTX_new(mac) : NULL;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    /* libcrypto refuses a NULL key; an empty key is a valid HMAC key */
    if (!ctx->mac || EVP_MAC_init(ctx->mac, keylen ? key : empty, keylen, params) != 1)
        fail("start an HMAC-SHA256");
}

void aod_hmac_sha256_update(aod_hmac_sha256_ctx *ctx, const void *msg, size_t len)
{
    if (len > 0 && EVP_MAC_update(ctx->mac, msg, len) != 1)
        fail("compute an HMAC-SHA256");
}

void aod_hmac_sha256_final(aod_hmac_sha256_ctx *ctx, unsigned char out[AOD_SHA256_DIGEST_LEN])
{
    size_t n = 0;

    if (EVP_MAC_final(ctx->mac, out, &n, AOD_SHA256_DIGEST_LEN) != 1 || n != AOD_SHA256_DIGEST_LEN)
        fail("finish an HMAC-SHA256");
    EVP_MAC_CTX_free(ctx->mac);
    ctx->mac = NULL;
}

void aod_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t len,
                     unsigned char out[AOD_SHA256_DIGEST_LEN])
{
    aod_hmac_sha256_ctx ctx;

    aod_hmac_sha256_init(&ctx, key, keylen);
    aod_hmac_sha256_update(&ctx, msg, len);
    aod_hmac_sha256_final(&ctx, out);
}

char *aod_sha256_hex(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}

char *aod_sha256_uuid(const unsigned char digest[AOD_SHA256_DIGEST_LEN], char out[AOD_UUID_LEN])
{
    unsigned char b[16];
    char hex[33];

    memcpy(b, digest, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x80); /* version 8 */
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); /* variant 10 */
    aod_sha256_hex(b, sizeof b, hex);
    snprintf(out, AOD_UUID_LEN, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
             hex + 20);
    return out;
}
