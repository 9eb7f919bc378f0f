/*
 * test_sha256.c - SHA-256 and HMAC-SHA256 against the published vectors.
 *
 * FIPS 180-4 examples ("abc", the 448-bit and 896-bit messages, one million
 * 'a'), RFC 4231 HMAC test cases 1-4, 6 and 7 (case 5 tests truncated output,
 * which we never produce), the padding boundaries around 55/56/64 bytes, and
 * the promise that feeding data in odd chunks changes nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/sha256.h"

static void expect_digest(const unsigned char digest[AOD_SHA256_DIGEST_LEN], const char *hex)
{
    char got[AOD_SHA256_HEX_LEN];

    aod_sha256_hex(digest, AOD_SHA256_DIGEST_LEN, got);
    assert_string_equal(got, hex);
}

static void expect_sha256(const void *data, size_t len, const char *hex)
{
    unsigned char d[AOD_SHA256_DIGEST_LEN];

    aod_sha256(data, len, d);
    expect_digest(d, hex);
}

static void test_fips_short(void **state)
{
    (void)state;
    expect_sha256("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect_sha256("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect_sha256(NULL, 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_fips_448_bits(void **state)
{
    static const char msg[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

    (void)state;
    assert_int_equal(strlen(msg) * 8, 448);
    expect_sha256(msg, strlen(msg),
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_fips_896_bits(void **state)
{
    static const char msg[] = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                              "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

    (void)state;
    assert_int_equal(strlen(msg) * 8, 896);
    expect_sha256(msg, strlen(msg),
                  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a(void **state)
{
    static const char expect[] = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    unsigned char d[AOD_SHA256_DIGEST_LEN];
    char chunk[1000];
    aod_sha256_ctx ctx;
    char *all;
    int i;

    (void)state;
    memset(chunk, 'a', sizeof chunk);
    aod_sha256_init(&ctx);
    for (i = 0; i < 1000; i++)
        aod_sha256_update(&ctx, chunk, sizeof chunk);
    aod_sha256_final(&ctx, d);
    expect_digest(d, expect);

    all = malloc(1000000);
    assert_non_null(all);
    memset(all, 'a', 1000000);
    expect_sha256(all, 1000000, expect);
    free(all);
}

/* Lengths where the padding needs one block or spills into a second. */
static void test_padding_boundaries(void **state)
{
    static const struct {
        size_t n;
        const char *hex;
    } cases[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    char msg[128];
    size_t i;

    (void)state;
    memset(msg, 'a', sizeof msg);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_sha256(msg, cases[i].n, cases[i].hex);
}

/* Every split of the input into chunks must give the one-shot digest. */
static void test_streaming_odd_chunks(void **state)
{
    static const size_t chunk_sizes[] = {1, 2, 3, 7, 13, 31, 63, 64, 65, 127, 200};
    unsigned char data[1237];
    unsigned char one_shot[AOD_SHA256_DIGEST_LEN];
    unsigned char streamed[AOD_SHA256_DIGEST_LEN];
    size_t i, k;

    (void)state;
    for (i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 31u + 7u);
    aod_sha256(data, sizeof data, one_shot);

    for (k = 0; k < sizeof chunk_sizes / sizeof chunk_sizes[0]; k++) {
        aod_sha256_ctx ctx;
        size_t pos = 0, step = chunk_sizes[k];

        aod_sha256_init(&ctx);
        while (pos < sizeof data) {
            size_t n = sizeof data - pos < step ? sizeof data - pos : step;

            aod_sha256_update(&ctx, data + pos, n);
            aod_sha256_update(&ctx, data + pos, 0); /* empty updates change nothing */
            pos += n;
            step = step % 5 + chunk_sizes[k]; /* vary the chunk size as we go */
        }
        aod_sha256_final(&ctx, streamed);
        assert_memory_equal(streamed, one_shot, sizeof one_shot);
    }
}

static void expect_hmac(const void *key, size_t keylen, const void *msg, size_t len,
                        const char *hex)
{
    unsigned char mac[AOD_SHA256_DIGEST_LEN];
    aod_hmac_sha256_ctx ctx;
    const unsigned char *p = msg;
    size_t i;

    aod_hmac_sha256(key, keylen, msg, len, mac);
    expect_digest(mac, hex);

    /* The streaming form, one byte at a time, must agree. */
    aod_hmac_sha256_init(&ctx, key, keylen);
    for (i = 0; i < len; i++)
        aod_hmac_sha256_update(&ctx, p + i, 1);
    aod_hmac_sha256_final(&ctx, mac);
    expect_digest(mac, hex);
}

static void test_rfc4231(void **state)
{
    unsigned char key[131];
    unsigned char data[50];
    size_t i;

    (void)state;
    /* Case 1 */
    memset(key, 0x0b, 20);
    expect_hmac(key, 20, "Hi There", 8,
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    /* Case 2: a key shorter than the output */
    expect_hmac("Jefe", 4, "what do ya want for nothing?", 28,
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* Case 3 */
    memset(key, 0xaa, 20);
    memset(data, 0xdd, 50);
    expect_hmac(key, 20, data, 50,
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    /* Case 4 */
    for (i = 0; i < 25; i++)
        key[i] = (unsigned char)(i + 1);
    memset(data, 0xcd, 50);
    expect_hmac(key, 25, data, 50,
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    /* Case 6: a key longer than the block is hashed first */
    memset(key, 0xaa, 131);
    expect_hmac(key, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 54,
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    /* Case 7: a long key and a long message */
    {
        static const char msg[] =
            "This is a test using a larger than block-size key and a larger than block-size "
            "data. The key needs to be hashed before being used by the HMAC algorithm.";
        expect_hmac(key, 131, msg, strlen(msg),
                    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
    }
}

static void test_hmac_edges(void **state)
{
    unsigned char key[64];

    (void)state;
    /* An empty key and message are legal. */
    expect_hmac(NULL, 0, NULL, 0,
                "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    /* A key of exactly one block is used as it is, not hashed. */
    memset(key, 'k', sizeof key);
    expect_hmac(key, sizeof key, "msg", 3,
                "d62ad25bb128e96ab6ef43464aaf2bb91b5b85f013381e9ba6be747e8d0911b2");
}

static void test_hex(void **state)
{
    static const unsigned char bytes[] = {0x00, 0x0f, 0xa5, 0xff};
    char out[9];

    (void)state;
    assert_string_equal(aod_sha256_hex(bytes, sizeof bytes, out), "000fa5ff");
    assert_string_equal(aod_sha256_hex(bytes, 0, out), "");
}

/* RFC 9562 appendix B.2: the SHA-256 name-based UUID of "www.example.com"
 * in the DNS namespace is version 8. */
static void test_uuid_v8(void **state)
{
    static const unsigned char dns_ns[16] = {0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1,
                                             0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
    unsigned char d[AOD_SHA256_DIGEST_LEN];
    char uuid[AOD_UUID_LEN];
    aod_sha256_ctx ctx;

    (void)state;
    aod_sha256_init(&ctx);
    aod_sha256_update(&ctx, dns_ns, sizeof dns_ns);
    aod_sha256_update(&ctx, "www.example.com", 15);
    aod_sha256_final(&ctx, d);
    assert_string_equal(aod_sha256_uuid(d, uuid), "5c146b14-3c52-8afd-938a-375d0df1fbf6");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fips_short),
        cmocka_unit_test(test_fips_448_bits),
        cmocka_unit_test(test_fips_896_bits),
        cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_padding_boundaries),
        cmocka_unit_test(test_streaming_odd_chunks),
        cmocka_unit_test(test_rfc4231),
        cmocka_unit_test(test_hmac_edges),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_uuid_v8),
    };

    /* libcrypto computes every digest now: the known answers show the
     * module's API gives libcrypto's input and output their meaning */
    return cmocka_run_group_tests_name("sha256", tests, NULL, NULL);
}
