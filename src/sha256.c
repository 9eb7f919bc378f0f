/*
 * sha256.c - SHA-256 (FIPS 180-4 section 6.2) and HMAC (RFC 2104).
 *
 * Support code for the mask stage (keyed pseudonyms) and the batch manifest
 * (checksums); see sha256.h.  Written for clarity over speed: a report hashes
 * kilobytes, not gigabytes.
 */
#include "sha256.h"

#include <string.h>

/* FIPS 180-4 4.2.2: the first 32 bits of the fractional parts of the cube
 * roots of the first 64 primes. */
static const uint32_t round_k[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
    0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu,
    0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu,
    0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
    0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
    0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u,
    0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u,
    0xc67178f2u};

/* FIPS 180-4 5.3.3: the fractional parts of the square roots of the first
 * eight primes. */
static const uint32_t initial_h[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                      0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};

/* The compiler may drop a plain memset of a buffer that is never read again;
 * writing through a volatile pointer keeps key material from lingering. */
static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;

    while (n--)
        *v++ = 0;
}

static uint32_t rotr(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32u - n));
}

static uint32_t load_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void store_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* One application of the compression function (FIPS 180-4 6.2.2). */
static void compress(uint32_t state[8], const unsigned char block[AOD_SHA256_BLOCK_LEN])
{
    uint32_t w[64];
    uint32_t a, b, c, d, e, f, g, h, t1, t2;
    unsigned i;

    for (i = 0; i < 16; i++)
        w[i] = load_be32(block + 4 * i);
    for (i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }

    a = state[0];
    b = state[1];
    c = state[2];
    d = state[3];
    e = state[4];
    f = state[5];
    g = state[6];
    h = state[7];
    for (i = 0; i < 64; i++) {
        uint32_t big_s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t big_s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);

        t1 = h + big_s1 + ch + round_k[i] + w[i];
        t2 = big_s0 + maj;
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
    wipe(w, sizeof w);
}

void aod_sha256_init(aod_sha256_ctx *ctx)
{
    memcpy(ctx->state, initial_h, sizeof ctx->state);
    ctx->total = 0;
    ctx->used = 0;
}

void aod_sha256_update(aod_sha256_ctx *ctx, const void *data, size_t len)
{
    const unsigned char *p = data;

    if (len == 0)
        return;
    ctx->total += len;
    if (ctx->used > 0) {
        size_t take = AOD_SHA256_BLOCK_LEN - ctx->used;

        if (take > len)
            take = len;
        memcpy(ctx->block + ctx->used, p, take);
        ctx->used += take;
        p += take;
        len -= take;
        if (ctx->used < AOD_SHA256_BLOCK_LEN)
            return;
        compress(ctx->state, ctx->block);
        ctx->used = 0;
    }
    /* Whole blocks straight from the caller's memory: no copy needed. */
    while (len >= AOD_SHA256_BLOCK_LEN) {
        compress(ctx->state, p);
        p += AOD_SHA256_BLOCK_LEN;
        len -= AOD_SHA256_BLOCK_LEN;
    }
    if (len > 0) {
        memcpy(ctx->block, p, len);
        ctx->used = len;
    }
}

void aod_sha256_final(aod_sha256_ctx *ctx, unsigned char out[AOD_SHA256_DIGEST_LEN])
{
    /* The length is counted in bits (FIPS 180-4 5.1.1); total is in bytes, so
     * messages up to 2^61 bytes are exact, far past anything we hash. */
    uint64_t bits = ctx->total * 8u;
    unsigned i;

    ctx->block[ctx->used++] = 0x80;
    if (ctx->used > AOD_SHA256_BLOCK_LEN - 8) {
        memset(ctx->block + ctx->used, 0, AOD_SHA256_BLOCK_LEN - ctx->used);
        compress(ctx->state, ctx->block);
        ctx->used = 0;
    }
    memset(ctx->block + ctx->used, 0, AOD_SHA256_BLOCK_LEN - 8 - ctx->used);
    for (i = 0; i < 8; i++)
        ctx->block[AOD_SHA256_BLOCK_LEN - 1 - i] = (unsigned char)(bits >> (8 * i));
    compress(ctx->state, ctx->block);
    for (i = 0; i < 8; i++)
        store_be32(out + 4 * i, ctx->state[i]);
    wipe(ctx, sizeof *ctx);
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
    unsigned char k0[AOD_SHA256_BLOCK_LEN];
    unsigned char inner_pad[AOD_SHA256_BLOCK_LEN];
    unsigned i;

    /* RFC 2104 section 2: a key longer than the block is replaced by its
     * hash; a shorter one is padded with zeros to the block length. */
    memset(k0, 0, sizeof k0);
    if (keylen > AOD_SHA256_BLOCK_LEN)
        aod_sha256(key, keylen, k0);
    else if (keylen > 0)
        memcpy(k0, key, keylen);
    for (i = 0; i < AOD_SHA256_BLOCK_LEN; i++) {
        inner_pad[i] = k0[i] ^ 0x36u;
        ctx->outer_pad[i] = k0[i] ^ 0x5cu;
    }
    aod_sha256_init(&ctx->inner);
    aod_sha256_update(&ctx->inner, inner_pad, sizeof inner_pad);
    wipe(k0, sizeof k0);
    wipe(inner_pad, sizeof inner_pad);
}

void aod_hmac_sha256_update(aod_hmac_sha256_ctx *ctx, const void *msg, size_t len)
{
    aod_sha256_update(&ctx->inner, msg, len);
}

void aod_hmac_sha256_final(aod_hmac_sha256_ctx *ctx, unsigned char out[AOD_SHA256_DIGEST_LEN])
{
    unsigned char inner_digest[AOD_SHA256_DIGEST_LEN];
    aod_sha256_ctx outer;

    aod_sha256_final(&ctx->inner, inner_digest);
    aod_sha256_init(&outer);
    aod_sha256_update(&outer, ctx->outer_pad, sizeof ctx->outer_pad);
    aod_sha256_update(&outer, inner_digest, sizeof inner_digest);
    aod_sha256_final(&outer, out);
    wipe(inner_digest, sizeof inner_digest);
    wipe(ctx, sizeof *ctx);
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
        out[2 * i + 1] = digits[bytes[i] & 0x0f];
    }
    out[2 * n] = '\0';
    return out;
}
