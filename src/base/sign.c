/*
 * sign.c - Ed25519 keys and signatures through libcrypto (see sign.h).
 */
#include "base/sign.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "base/secretfile.h"

struct aod_sign_key {
    EVP_PKEY *pkey;
    int private_key;
};

static const aod_secret_kind signing_key = {"the signing key", "--sign", AOD_ERR_USAGE, AOD_ERR_IO};

static aod_sign_key *wrap(EVP_PKEY *pkey, int private_key, const char *path, const char *field,
                          aod_error *err)
{
    aod_sign_key *k;

    if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
        aod_error_set(err, AOD_ERR_USAGE, path, 0, field,
                      "the key is not an Ed25519 key (make one with: openssl genpkey "
                      "-algorithm ed25519)");
        EVP_PKEY_free(pkey);
        return NULL;
    }
    k = calloc(1, sizeof *k);
    if (!k) {
        aod_error_set(err, AOD_ERR_NOMEM, path, 0, NULL, "out of memory");
        EVP_PKEY_free(pkey);
        return NULL;
    }
    k->pkey = pkey;
    k->private_key = private_key;
    return k;
}

aod_sign_key *aod_sign_key_load_private(const char *path, aod_error *err)
{
    FILE *f = aod_secret_open(path, &signing_key, err);
    EVP_PKEY *pkey;

    if (!f)
        return NULL;
    pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    ERR_clear_error();
    if (!pkey) {
        aod_error_set(err, AOD_ERR_USAGE, path, 0, "--sign",
                      "not a PEM private key (make one with: openssl genpkey -algorithm "
                      "ed25519 -out FILE)");
        return NULL;
    }
    return wrap(pkey, 1, path, "--sign", err);
}

aod_sign_key *aod_sign_key_load_public(const char *path, aod_error *err)
{
    FILE *f = fopen(path, "rb");
    EVP_PKEY *pkey;

    if (!f) {
        aod_error_set(err, AOD_ERR_IO, path, 0, "--key", "cannot open the public key: %s",
                      strerror(errno));
        return NULL;
    }
    pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    ERR_clear_error();
    if (!pkey) {
        aod_error_set(err, AOD_ERR_USAGE, path, 0, "--key",
                      "not a PEM public key (make it with: openssl pkey -in PRIVATE -pubout)");
        return NULL;
    }
    return wrap(pkey, 0, path, "--key", err);
}

aod_sign_key *aod_sign_key_from_public(const unsigned char raw[AOD_SIGN_PUBLIC_LEN], aod_error *err)
{
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, AOD_SIGN_PUBLIC_LEN);

    ERR_clear_error();
    if (!pkey) {
        aod_error_set(err, AOD_ERR_INPUT, NULL, 0, NULL, "not an Ed25519 public key");
        return NULL;
    }
    return wrap(pkey, 0, NULL, NULL, err);
}

void aod_sign_key_free(aod_sign_key *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

int aod_sign_key_public(const aod_sign_key *k, unsigned char out[AOD_SIGN_PUBLIC_LEN])
{
    size_t len = AOD_SIGN_PUBLIC_LEN;

    if (EVP_PKEY_get_raw_public_key(k->pkey, out, &len) != 1 || len != AOD_SIGN_PUBLIC_LEN) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

int aod_sign(const aod_sign_key *k, const void *msg, size_t len,
             unsigned char sig[AOD_SIGN_SIG_LEN], aod_error *err)
{
    EVP_MD_CTX *ctx;
    size_t siglen = AOD_SIGN_SIG_LEN;
    int ok;

    if (!k->private_key) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "signing with a public key");
        return -1;
    }
    ctx = EVP_MD_CTX_new();
    /* Ed25519 takes no digest: it hashes the message itself (one shot) */
    ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
         EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 && siglen == AOD_SIGN_SIG_LEN;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    if (!ok) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "libcrypto could not sign");
        return -1;
    }
    return 0;
}

int aod_sign_verify(const aod_sign_key *k, const void *msg, size_t len, const unsigned char *sig,
                    size_t siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok;

    ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
         EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}
