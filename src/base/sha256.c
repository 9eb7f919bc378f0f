/*
 * sha256.c - SHA-256 (FIPS 180-4 section 6.2) and HMAC (RFC 2104).
 *
 * Support code for the mask stage (keyed pseudonyms) and the batch manifest
 * (checksums); see sha256.h.  The portable code is written for clarity; on
 * x86-64 processors with the SHA extensions the compression function runs on
 * them instead (about 8x faster), since every report's files are hashed for
 * its self-audit record and a large one is tens of megabytes.
 */
#include "base/sha256.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define AOD_SHA_NI 1
#include <cpuid.h>
#include <immintrin.h>
#endif

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
static void compress_portable(uint32_t state[8], const unsigned char block[AOD_SHA256_BLOCK_LEN])
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

#ifdef AOD_SHA_NI
/*
 * The same compression function on the SHA extensions.  SHA256RNDS2 keeps
 * the working variables as two vectors, (A, B, E, F) and (C, D, G, H), from
 * the highest lane down, and does two rounds per instruction with the
 * round constants already added to the message words; SHA256MSG1/MSG2
 * compute the message schedule four words at a time (FIPS 180-4 6.2.2 step
 * 1: w[t] = s1(w[t-2]) + w[t-7] + s0(w[t-15]) + w[t-16]).
 */
__attribute__((target("sha,sse4.1"))) static void compress_ni(uint32_t state[8],
                                                              const unsigned char *p, size_t blocks)
{
    const __m128i be = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i t = _mm_loadu_si128((const __m128i *)(const void *)&state[0]);  /* a b c d */
    __m128i s1 = _mm_loadu_si128((const __m128i *)(const void *)&state[4]); /* e f g h */
    __m128i s0;

    t = _mm_shuffle_epi32(t, 0xB1);    /* b a d c */
    s1 = _mm_shuffle_epi32(s1, 0x1B);  /* h g f e */
    s0 = _mm_alignr_epi8(t, s1, 8);    /* f e b a: (A, B, E, F) */
    s1 = _mm_blend_epi16(s1, t, 0xF0); /* h g d c: (C, D, G, H) */
    for (; blocks > 0; blocks--, p += AOD_SHA256_BLOCK_LEN) {
        __m128i save0 = s0, save1 = s1, w[4], m;
        int g;

        for (g = 0; g < 4; g++)
            w[g] =
                _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * g)), be);
        /* group g is w[4g .. 4g+3]; w[g & 3] holds group g - 4 until replaced */
        for (g = 0; g < 16; g++) {
            if (g >= 4) {
                m = _mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]);
                m = _mm_add_epi32(m, _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
                w[g & 3] = _mm_sha256msg2_epu32(m, w[(g + 3) & 3]);
            }
            m = _mm_add_epi32(w[g & 3],
                              _mm_loadu_si128((const __m128i *)(const void *)&round_k[4 * g]));
            s1 = _mm_sha256rnds2_epu32(s1, s0, m); /* rounds 4g, 4g+1 */
            m = _mm_shuffle_epi32(m, 0x0E);
            s0 = _mm_sha256rnds2_epu32(s0, s1, m); /* rounds 4g+2, 4g+3 */
        }
        s0 = _mm_add_epi32(s0, save0);
        s1 = _mm_add_epi32(s1, save1);
    }
    t = _mm_shuffle_epi32(s0, 0x1B);   /* a b e f */
    s1 = _mm_shuffle_epi32(s1, 0xB1);  /* g h c d */
    s0 = _mm_blend_epi16(t, s1, 0xF0); /* a b c d */
    s1 = _mm_alignr_epi8(s1, t, 8);    /* e f g h */
    _mm_storeu_si128((__m128i *)(void *)&state[0], s0);
    _mm_storeu_si128((__m128i *)(void *)&state[4], s1);
}

/* -1 not asked yet, 0 no, 1 yes.  Asked once: cpuid traps to the
 * hypervisor on a virtual machine. */
static int sha_ni = -1;

static int have_sha_ni(void)
{
    int v = __atomic_load_n(&sha_ni, __ATOMIC_RELAXED);
    unsigned a, b, c, d;

    if (v < 0) {
        v = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSSE3) && (c & bit_SSE4_1) &&
            __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29)); /* SHA */
        __atomic_store_n(&sha_ni, v, __ATOMIC_RELAXED);
    }
    return v;
}
#endif

int aod_sha256_accelerated(int use)
{
#ifdef AOD_SHA_NI
    if (use == 0)
        __atomic_store_n(&sha_ni, 0, __ATOMIC_RELAXED);
    else if (use > 0)
        __atomic_store_n(&sha_ni, -1, __ATOMIC_RELAXED);
    return have_sha_ni();
#else
    (void)use;
    return 0;
#endif
}

/* blocks whole blocks at p. */
static void compress(uint32_t state[8], const unsigned char *p, size_t blocks)
{
#ifdef AOD_SHA_NI
    if (have_sha_ni()) {
        compress_ni(state, p, blocks);
        return;
    }
#endif
    for (; blocks > 0; blocks--, p += AOD_SHA256_BLOCK_LEN)
        compress_portable(state, p);
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
        compress(ctx->state, ctx->block, 1);
        ctx->used = 0;
    }
    /* Whole blocks straight from the caller's memory: no copy needed. */
    if (len >= AOD_SHA256_BLOCK_LEN) {
        size_t blocks = len / AOD_SHA256_BLOCK_LEN;
        compress(ctx->state, p, blocks);
        p += blocks * AOD_SHA256_BLOCK_LEN;
        len -= blocks * AOD_SHA256_BLOCK_LEN;
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
        compress(ctx->state, ctx->block, 1);
        ctx->used = 0;
    }
    memset(ctx->block + ctx->used, 0, AOD_SHA256_BLOCK_LEN - 8 - ctx->used);
    for (i = 0; i < 8; i++)
        ctx->block[AOD_SHA256_BLOCK_LEN - 1 - i] = (unsigned char)(bits >> (8 * i));
    compress(ctx->state, ctx->block, 1);
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
