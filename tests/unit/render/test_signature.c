/*
 * test_signature.c - the signed documents' parts: base64 (RFC 4648 section
 * 10 vectors), the RFC 8785 canonical JSON (its member sorting example and
 * string escapes), Ed25519 keys (the secret key file's checks) and the
 * signature round trip (valid; invalid after one change or with another
 * key; deterministic).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "base/base64.h"
#include "base/sign.h"
#include "render/signature.h"

static void test_base64(void **state)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const std[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    unsigned char dec[16];
    char enc[16];
    size_t i;

    (void)state;
    for (i = 0; i < 7; i++) {
        aod_base64_encode(in[i], strlen(in[i]), enc, 0);
        assert_string_equal(enc, std[i]);
        aod_base64_encode(in[i], strlen(in[i]), enc, 1);
        assert_string_equal(enc, url[i]);
        assert_int_equal(aod_base64_decode(std[i], strlen(std[i]), dec, 0), (long)strlen(in[i]));
        assert_memory_equal(dec, in[i], strlen(in[i]));
        assert_int_equal(aod_base64_decode(url[i], strlen(url[i]), dec, 1), (long)strlen(in[i]));
        assert_memory_equal(dec, in[i], strlen(in[i]));
    }
    /* the URL alphabet and the standard one are not mixed up */
    aod_base64_encode("\xfb\xff", 2, enc, 0);
    assert_string_equal(enc, "+/8=");
    aod_base64_encode("\xfb\xff", 2, enc, 1);
    assert_string_equal(enc, "-_8");
    assert_int_equal(aod_base64_decode("-_8", 3, dec, 0), -1);
    assert_int_equal(aod_base64_decode("+/8=", 4, dec, 1), -1);
    assert_int_equal(aod_base64_decode("Zm9", 3, dec, 0), -1); /* padding missing */
    assert_int_equal(aod_base64_decode("Zh", 2, dec, 1), -1);  /* bits left over */
    assert_int_equal(aod_base64_decode("Z", 1, dec, 1), -1);
}

static char *canon(const char *json)
{
    json_error_t je;
    json_t *v = json_loads(json, JSON_DECODE_ANY, &je);
    aod_buf b;
    aod_error err;
    char *out;

    assert_non_null(v);
    aod_buf_init(&b, 1u << 20);
    aod_error_init(&err);
    assert_int_equal(aod_signature_canonical(v, &b, &err), 0);
    out = strdup(aod_buf_str(&b));
    aod_buf_free(&b);
    json_decref(v);
    return out;
}

/* RFC 8785 3.2.3: names sort by UTF-16 code units, so the emoji (a
 * surrogate pair, D83D) sorts before U+FB33, unlike in UTF-8 byte order. */
static void test_jcs_sorting(void **state)
{
    char *got;

    (void)state;
    got = canon("{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\",\"\\ufb33\":\"Hebrew "
                "Letter Dalet With Dagesh\",\"1\":\"One\",\"\\ud83d\\ude00\":\"Emoji: Grinning "
                "Face\",\"\\u0080\":\"Control\",\"\\u00f6\":\"Latin Small Letter O With "
                "Diaeresis\"}");
    assert_string_equal(got,
                        "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\","
                        "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\",\"\xe2\x82\xac\":"
                        "\"Euro Sign\",\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
                        "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
    free(got);
}

static void test_jcs_values(void **state)
{
    char *got;

    (void)state;
    got = canon("{ \"b\" : [ 1, -20, true, false, null, \"\\u0001\\t\\n\\\"\\\\/\\u007f\\u2028\" ],"
                "\n \"a\": {\"z\": {}, \"y\": []} }");
    assert_string_equal(got, "{\"a\":{\"y\":[],\"z\":{}},\"b\":[1,-20,true,false,null,"
                             "\"\\u0001\\t\\n\\\"\\\\/\x7f\xe2\x80\xa8\"]}");
    free(got);
}

static void test_jcs_refuses_fractions(void **state)
{
    json_t *v = json_loads("[1.5]", 0, NULL);
    aod_buf b;
    aod_error err;

    (void)state;
    aod_buf_init(&b, 1024);
    aod_error_init(&err);
    assert_int_equal(aod_signature_canonical(v, &b, &err), -1);
    assert_int_equal(err.code, AOD_ERR_INPUT);
    aod_buf_free(&b);
    json_decref(v);
}

/* A new Ed25519 key in a private file; returns its path (static). */
static const char *key_file(const char *name, mode_t mode)
{
    static char path[4][256];
    static int next;
    char *p = path[next++ % 4];
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    FILE *f;

    assert_non_null(k);
    snprintf(p, 256, "%s/aod-test-%ld-%s.pem", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (long)getpid(), name);
    f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    EVP_PKEY_free(k);
    assert_int_equal(chmod(p, mode), 0);
    return p;
}

static const char doc_text[] =
    "{\"resourceType\":\"Bundle\",\"type\":\"document\",\"timestamp\":\"2026-11-01T00:00:00Z\","
    "\"entry\":[{\"fullUrl\":\"urn:uuid:1\",\"resource\":{\"resourceType\":\"Composition\","
    "\"title\":\"Jos\xc3\xa9\"}},{\"fullUrl\":\"urn:uuid:2\",\"resource\":{\"resourceType\":"
    "\"Organization\",\"name\":\"Riverside\"}}]}";

static void test_round_trip(void **state)
{
    const char *path = key_file("a", 0600), *other = key_file("b", 0600);
    aod_sign_key *k, *k2;
    aod_signature_result res;
    aod_error err;
    json_t *doc = json_loads(doc_text, 0, NULL), *again = json_loads(doc_text, 0, NULL), *sig;
    char *a, *b;

    (void)state;
    aod_error_init(&err);
    k = aod_sign_key_load_private(path, &err);
    assert_non_null(k);
    k2 = aod_sign_key_load_private(other, &err);
    assert_non_null(k2);
    assert_int_equal(aod_signature_add(doc, k, &err), 0);
    assert_int_equal(aod_signature_add(again, k, &err), 0);
    /* deterministic: Ed25519 needs no random number */
    a = json_dumps(doc, JSON_COMPACT);
    b = json_dumps(again, JSON_COMPACT);
    assert_string_equal(a, b);
    free(a);
    free(b);
    sig = json_object_get(doc, "signature");
    assert_true(json_is_object(sig)); /* R4: one Signature */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(sig, "who"), "reference")), "urn:uuid:2");
    assert_int_equal(aod_signature_check(doc, k, &res, &err), 0);
    assert_true(res.valid);
    assert_true(res.trusted);
    assert_int_equal(aod_signature_check(doc, NULL, &res, &err), 0);
    assert_true(res.valid);
    assert_false(res.trusted);
    /* another key */
    assert_int_equal(aod_signature_check(doc, k2, &res, &err), 0);
    assert_false(res.valid);
    /* one character changed */
    json_object_set_new(
        json_object_get(json_array_get(json_object_get(doc, "entry"), 0), "resource"), "title",
        json_string("Jose"));
    assert_int_equal(aod_signature_check(doc, k, &res, &err), 0);
    assert_false(res.valid);
    assert_int_equal(aod_signature_check(doc, NULL, &res, &err), 0);
    assert_false(res.valid);
    /* no signature */
    json_object_del(doc, "signature");
    assert_int_equal(aod_signature_check(doc, NULL, &res, &err), 0);
    assert_false(res.valid);
    json_decref(doc);
    json_decref(again);
    aod_sign_key_free(k);
    aod_sign_key_free(k2);
    unlink(path);
    unlink(other);
}

/* The key file is a secret: others' bits, a link and junk are refused. */
static void test_key_file_checks(void **state)
{
    const char *path = key_file("c", 0644);
    char link[300];
    aod_error err;
    FILE *f;

    (void)state;
    aod_error_init(&err);
    assert_null(aod_sign_key_load_private(path, &err));
    assert_int_equal(err.code, AOD_ERR_USAGE);
    assert_non_null(strstr(err.text, "chmod 600"));
    assert_int_equal(chmod(path, 0640), 0);
    aod_error_init(&err);
    assert_null(aod_sign_key_load_private(path, &err));
    assert_int_equal(chmod(path, 0600), 0);
    snprintf(link, sizeof link, "%s.link", path);
    assert_int_equal(symlink(path, link), 0);
    aod_error_init(&err);
    assert_null(aod_sign_key_load_private(link, &err));
    assert_non_null(strstr(err.text, "symbolic link"));
    unlink(link);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a key\n", f);
    fclose(f);
    aod_error_init(&err);
    assert_null(aod_sign_key_load_private(path, &err));
    assert_non_null(strstr(err.text, "not a PEM private key"));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64),     cmocka_unit_test(test_jcs_sorting),
        cmocka_unit_test(test_jcs_values), cmocka_unit_test(test_jcs_refuses_fractions),
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_key_file_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
