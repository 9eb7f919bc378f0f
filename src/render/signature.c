/*
 * signature.c - Bundle.signature: JWS (detached) over RFC 8785 canonical
 * JSON, Ed25519 (see signature.h; doc/bundle.md, "Signatures").
 *
 * A renderer's helper: it works on the jansson form of a document the
 * Bundle renderer wrote, so the document's own bytes come from one place
 * (bundle.c) and the signature is added on top.
 */
#include "render/signature.h"

#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "base/sha256.h"

#define SIG_TYPE_SYSTEM  "urn:iso-astm:E1762-95:2013"
#define SIG_TYPE_CODE    "1.2.840.10065.1.12.1.1"
#define SIG_TYPE_DISPLAY "Author's Signature"
#define SIG_FORMAT       "application/jose"
#define TARGET_FORMAT    "application/fhir+json"

/* ------------------------------------------------------------ RFC 8785 */

/* The next UTF-16 code unit sequence of a UTF-8 string: returns the code
 * point at *p and advances *p (jansson holds valid UTF-8). */
static unsigned long next_cp(const unsigned char **p, const unsigned char *end)
{
    const unsigned char *s = *p;
    unsigned long c = s[0];
    int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;

    if (n > end - s)
        n = (int)(end - s);
    if (n == 2)
        c = (c & 0x1F) << 6 | (s[1] & 0x3F);
    else if (n == 3)
        c = (c & 0x0F) << 12 | (unsigned long)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    else if (n == 4)
        c = (c & 0x07) << 18 | (unsigned long)(s[1] & 0x3F) << 12 |
            (unsigned long)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
    *p = s + n;
    return c;
}

/* Writes c's UTF-16 code units into u; returns how many (1 or 2). */
static int utf16(unsigned long c, unsigned u[2])
{
    if (c < 0x10000) {
        u[0] = (unsigned)c;
        return 1;
    }
    c -= 0x10000;
    u[0] = (unsigned)(0xD800 + (c >> 10));
    u[1] = (unsigned)(0xDC00 + (c & 0x3FF));
    return 2;
}

/* RFC 8785 3.2.3: member names compare as arrays of UTF-16 code units. */
static int utf16_cmp(const char *a, const char *b)
{
    const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
    const unsigned char *pe = p + strlen(a), *qe = q + strlen(b);
    unsigned ua[2], ub[2];
    int na = 0, nb = 0, ia = 0, ib = 0;

    for (;;) {
        if (ia == na) {
            if (p == pe)
                break;
            na = utf16(next_cp(&p, pe), ua);
            ia = 0;
        }
        if (ib == nb) {
            if (q == qe)
                return 1;
            nb = utf16(next_cp(&q, qe), ub);
            ib = 0;
        }
        if (ua[ia] != ub[ib])
            return ua[ia] < ub[ib] ? -1 : 1;
        ia++;
        ib++;
    }
    return ib == nb && q == qe ? 0 : -1;
}

static int cmp_keys(const void *a, const void *b)
{
    return utf16_cmp(*(const char *const *)a, *(const char *const *)b);
}

static int add_string(aod_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    if (aod_buf_add(out, "\"", 1) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
        size_t len = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            if (c >= 0x20) {
                if (aod_buf_add(out, s + i, 1) != 0)
                    return -1;
                continue;
            }
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            len = 6;
        }
        if (aod_buf_add(out, esc, len) != 0)
            return -1;
    }
    return aod_buf_add(out, "\"", 1);
}

static int canonical(json_t *v, aod_buf *out, aod_error *err)
{
    size_t i, n;

    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char **keys;
        const char *k;
        json_t *x;
        int rc = 0;
        n = json_object_size(v);
        keys = malloc((n ? n : 1) * sizeof *keys);
        if (!keys)
            goto nomem;
        i = 0;
        json_object_foreach(v, k, x)
        {
            (void)x;
            keys[i++] = k;
        }
        qsort(keys, n, sizeof *keys, cmp_keys);
        rc = aod_buf_add(out, "{", 1);
        for (i = 0; rc == 0 && i < n; i++) {
            if (i)
                rc = aod_buf_add(out, ",", 1);
            if (rc == 0)
                rc = add_string(out, keys[i], strlen(keys[i]));
            if (rc == 0)
                rc = aod_buf_add(out, ":", 1);
            if (rc == 0 && canonical(json_object_get(v, keys[i]), out, err) != 0) {
                free(keys);
                return -1;
            }
        }
        free(keys);
        if (rc != 0 || aod_buf_add(out, "}", 1) != 0)
            goto nomem;
        return 0;
    }
    case JSON_ARRAY:
        if (aod_buf_add(out, "[", 1) != 0)
            goto nomem;
        n = json_array_size(v);
        for (i = 0; i < n; i++) {
            if (i && aod_buf_add(out, ",", 1) != 0)
                goto nomem;
            if (canonical(json_array_get(v, i), out, err) != 0)
                return -1;
        }
        if (aod_buf_add(out, "]", 1) != 0)
            goto nomem;
        return 0;
    case JSON_STRING:
        if (add_string(out, json_string_value(v), json_string_length(v)) != 0)
            goto nomem;
        return 0;
    case JSON_INTEGER:
        if (aod_buf_printf(out, "%lld", (long long)json_integer_value(v)) != 0)
            goto nomem;
        return 0;
    case JSON_REAL:
        aod_error_set(err, AOD_ERR_INPUT, NULL, 0, NULL,
                      "a number with a fraction cannot be canonicalised for signing");
        return -1;
    case JSON_TRUE:
    case JSON_FALSE:
    case JSON_NULL:
        if (aod_buf_adds(out, json_is_true(v) ? "true" : json_is_false(v) ? "false" : "null") != 0)
            goto nomem;
        return 0;
    }
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory canonicalising the document");
    return -1;
}

int aod_signature_canonical(json_t *v, aod_buf *out, aod_error *err)
{
    return canonical(v, out, err);
}

/* ------------------------------------------------------------ the JWS */

/* The JWK of a public key, members in RFC 7638 order, and its thumbprint. */
static int jwk_of(const unsigned char pub[AOD_SIGN_PUBLIC_LEN], char *jwk, size_t jwk_size,
                  char kid[64])
{
    char x[AOD_BASE64_SIZE(AOD_SIGN_PUBLIC_LEN)];
    unsigned char d[AOD_SHA256_DIGEST_LEN];

    aod_base64_encode(pub, AOD_SIGN_PUBLIC_LEN, x, 1);
    if ((size_t)snprintf(jwk, jwk_size, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x) >=
        jwk_size)
        return -1;
    aod_sha256(jwk, strlen(jwk), d);
    aod_base64_encode(d, sizeof d, kid, 1);
    return 0;
}

/* The signing input: BASE64URL(header) "." BASE64URL(canonical doc
 * without signature), into in; the header's base64url into hdr_b64. */
static int signing_input(json_t *doc, const char *header, aod_buf *in, aod_error *err)
{
    json_t *copy = json_copy(doc); /* shallow: only the top is changed */
    aod_buf canon;
    char *b64 = NULL;
    size_t len;
    int rc = -1;

    aod_buf_init(&canon, (size_t)-1 / 2);
    if (!copy) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        goto out;
    }
    json_object_del(copy, "signature");
    if (canonical(copy, &canon, err) != 0)
        goto out;
    b64 = malloc(AOD_BASE64_SIZE(strlen(header)) + AOD_BASE64_SIZE(canon.len));
    if (!b64) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory signing the document");
        goto out;
    }
    len = aod_base64_encode(header, strlen(header), b64, 1);
    b64[len++] = '.';
    len += aod_base64_encode(canon.data, canon.len, b64 + len, 1);
    if (aod_buf_add(in, b64, len) != 0) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory signing the document");
        goto out;
    }
    rc = 0;
out:
    free(b64);
    aod_buf_free(&canon);
    json_decref(copy);
    return rc;
}

static const char *organisation_url(json_t *doc)
{
    json_t *entries = json_object_get(doc, "entry");
    size_t i;

    for (i = 0; i < json_array_size(entries); i++) {
        json_t *e = json_array_get(entries, i);
        const char *type =
            json_string_value(json_object_get(json_object_get(e, "resource"), "resourceType"));
        if (type && strcmp(type, "Organization") == 0)
            return json_string_value(json_object_get(e, "fullUrl"));
    }
    return NULL;
}

int aod_signature_add(json_t *doc, const aod_sign_key *key, aod_error *err)
{
    unsigned char pub[AOD_SIGN_PUBLIC_LEN], sig[AOD_SIGN_SIG_LEN];
    char jwk[160], kid[64], header[320], sig64[AOD_BASE64_SIZE(AOD_SIGN_SIG_LEN)];
    const char *when = json_string_value(json_object_get(doc, "timestamp"));
    const char *who = organisation_url(doc);
    const char *type = json_string_value(json_object_get(doc, "resourceType"));
    aod_buf in;
    char *jws = NULL, *data = NULL;
    json_t *s = NULL;
    size_t len;
    int rc = -1;

    aod_buf_init(&in, (size_t)-1 / 2);
    if (!type || strcmp(type, "Bundle") != 0 || !when || !who) {
        aod_error_set(err, AOD_ERR_INPUT, NULL, 0, NULL,
                      "only a document Bundle with a timestamp and an Organization is signed");
        goto out;
    }
    if (aod_sign_key_public(key, pub) != 0 || jwk_of(pub, jwk, sizeof jwk, kid) != 0) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "cannot read the key's public half");
        goto out;
    }
    snprintf(header, sizeof header, "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"jwk\":%s}", kid, jwk);
    json_object_del(doc, "signature");
    if (signing_input(doc, header, &in, err) != 0)
        goto out;
    if (aod_sign(key, in.data, in.len, sig, err) != 0)
        goto out;
    aod_base64_encode(sig, sizeof sig, sig64, 1);
    /* detached (RFC 7515 appendix F): the payload part is left empty */
    len = strcspn(aod_buf_str(&in), ".");
    jws = malloc(len + 2 + sizeof sig64);
    if (!jws)
        goto nomem;
    memcpy(jws, in.data, len);
    memcpy(jws + len, "..", 2);
    strcpy(jws + len + 2, sig64);
    data = malloc(AOD_BASE64_SIZE(strlen(jws)));
    if (!data)
        goto nomem;
    aod_base64_encode(jws, strlen(jws), data, 0);
    /* R4: Bundle.signature is one Signature (0..1), not a list */
    s = json_pack("{s:[{s:s,s:s,s:s}],s:s,s:{s:s},s:s,s:s,s:s}", "type", "system", SIG_TYPE_SYSTEM,
                  "code", SIG_TYPE_CODE, "display", SIG_TYPE_DISPLAY, "when", when, "who",
                  "reference", who, "targetFormat", TARGET_FORMAT, "sigFormat", SIG_FORMAT, "data",
                  data);
    if (!s || json_object_set_new(doc, "signature", s) != 0)
        goto nomem;
    rc = 0;
    goto out;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory signing the document");
out:
    free(jws);
    free(data);
    aod_buf_free(&in);
    return rc;
}

/* ------------------------------------------------------------ checking */

static int invalid(aod_signature_result *res, const char *why)
{
    res->valid = 0;
    snprintf(res->reason, sizeof res->reason, "%s", why);
    return 0;
}

int aod_signature_check(json_t *doc, const aod_sign_key *trusted, aod_signature_result *res,
                        aod_error *err)
{
    json_t *sig = json_object_get(doc, "signature"), *header = NULL;
    const char *data, *dot1, *dot2, *x;
    unsigned char *jws = NULL, sigbytes[AOD_SIGN_SIG_LEN + 3], pub[AOD_SIGN_PUBLIC_LEN + 3];
    char *hdr = NULL, jwk[160], kid[64];
    aod_sign_key *embedded = NULL;
    const aod_sign_key *key;
    aod_buf in;
    long n;
    int rc = -1;

    memset(res, 0, sizeof *res);
    aod_buf_init(&in, (size_t)-1 / 2);
    if (!json_is_object(sig) || !json_string_value(json_object_get(sig, "sigFormat")) ||
        strcmp(json_string_value(json_object_get(sig, "sigFormat")), SIG_FORMAT) != 0) {
        rc = invalid(res, "the document has no JWS signature (Bundle.signature with sigFormat "
                          "application/jose)");
        goto out;
    }
    x = json_string_value(json_object_get(sig, "when"));
    snprintf(res->when, sizeof res->when, "%s", x ? x : "");
    data = json_string_value(json_object_get(sig, "data"));
    jws = data ? malloc(strlen(data) / 4 * 3 + 4) : NULL;
    if (!data || !jws || (n = aod_base64_decode(data, strlen(data), jws, 0)) < 0) {
        rc = invalid(res, "Bundle.signature.data is not base64");
        goto out;
    }
    jws[n] = '\0';
    dot1 = strchr((char *)jws, '.');
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || dot2 != dot1 + 1 || strchr(dot2 + 1, '.')) {
        rc = invalid(res, "the signature is not a compact JWS with a detached payload");
        goto out;
    }
    hdr = malloc((size_t)(dot1 - (char *)jws) + 4);
    if (!hdr)
        goto nomem;
    n = aod_base64_decode((char *)jws, (size_t)(dot1 - (char *)jws), (unsigned char *)hdr, 1);
    if (n < 0) {
        rc = invalid(res, "the JWS header is not base64url");
        goto out;
    }
    hdr[n] = '\0';
    header = json_loads(hdr, JSON_REJECT_DUPLICATES, NULL);
    if (!header || !json_string_value(json_object_get(header, "alg")) ||
        strcmp(json_string_value(json_object_get(header, "alg")), "EdDSA") != 0) {
        rc = invalid(res, "the JWS header is not JSON or its alg is not EdDSA");
        goto out;
    }
    if (json_object_get(header, "crit") || json_object_get(header, "b64")) {
        rc = invalid(res, "the JWS header asks for extensions this verifier does not know");
        goto out;
    }
    x = json_string_value(json_object_get(json_object_get(header, "jwk"), "x"));
    if (x && aod_base64_decode(x, strlen(x), pub, 1) == AOD_SIGN_PUBLIC_LEN &&
        jwk_of(pub, jwk, sizeof jwk, kid) == 0)
        snprintf(res->kid, sizeof res->kid, "%s", kid);
    if (trusted) {
        unsigned char want[AOD_SIGN_PUBLIC_LEN];
        key = trusted;
        res->trusted = 1;
        if (aod_sign_key_public(trusted, want) != 0 || jwk_of(want, jwk, sizeof jwk, kid) != 0)
            goto internal;
        snprintf(res->kid, sizeof res->kid, "%s", kid);
    } else {
        aod_error kerr;
        aod_error_init(&kerr);
        if (!x || aod_base64_decode(x, strlen(x), pub, 1) != AOD_SIGN_PUBLIC_LEN ||
            !(embedded = aod_sign_key_from_public(pub, &kerr))) {
            rc = invalid(res, "the JWS header carries no Ed25519 key: give the signer's public "
                              "key with --key");
            goto out;
        }
        key = embedded;
    }
    if (strlen(dot2 + 1) != (AOD_SIGN_SIG_LEN * 4 + 2) / 3 ||
        aod_base64_decode(dot2 + 1, strlen(dot2 + 1), sigbytes, 1) != AOD_SIGN_SIG_LEN) {
        rc = invalid(res, "the JWS signature is not 64 bytes of base64url");
        goto out;
    }
    if (signing_input(doc, hdr, &in, err) != 0)
        goto out;
    /* the header as signed: its base64url must be the one in the JWS */
    if (strncmp(aod_buf_str(&in), (char *)jws, (size_t)(dot1 - (char *)jws) + 1) != 0) {
        rc = invalid(res, "the JWS header is not in canonical base64url");
        goto out;
    }
    if (!aod_sign_verify(key, in.data, in.len, sigbytes, AOD_SIGN_SIG_LEN)) {
        rc = invalid(res, trusted ? "the signature does not match the document and the key given: "
                                    "the document was changed after signing, or another key "
                                    "signed it"
                                  : "the signature does not match the document: it was changed "
                                    "after signing");
        goto out;
    }
    res->valid = 1;
    rc = 0;
    goto out;
internal:
    aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "libcrypto failed reading a key");
    goto out;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
out:
    aod_sign_key_free(embedded);
    json_decref(header);
    free(hdr);
    free(jws);
    aod_buf_free(&in);
    return rc;
}

/* ------------------------------------------------------------ the sink */

typedef struct signed_sink {
    aod_sink base;
    aod_sink *inner;
    FILE *tmp, *out;
    const aod_sign_key *key;
    aod_bundle_format fmt; /* what out gets: the JSON, or its XML form */
} signed_sink;

static int s_begin(aod_sink *s, const aod_report_info *info, aod_error *err)
{
    signed_sink *g = (signed_sink *)s;
    return g->inner->begin(g->inner, info, err);
}

static int s_entry(aod_sink *s, const aod_entry *e, aod_error *err)
{
    signed_sink *g = (signed_sink *)s;
    return g->inner->entry(g->inner, e, err);
}

static int s_end(aod_sink *s, const aod_report_summary *sum, aod_error *err)
{
    signed_sink *g = (signed_sink *)s;
    json_error_t je;
    json_t *doc;
    int rc = -1;

    if (g->inner->end(g->inner, sum, err) != 0)
        return -1;
    if (fflush(g->tmp) != 0 || fseek(g->tmp, 0, SEEK_SET) != 0) {
        aod_error_set(err, AOD_ERR_IO, NULL, 0, NULL, "cannot read back the document to sign");
        return -1;
    }
    doc = json_loadf(g->tmp, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL,
                      "the document to sign does not read back as JSON (line %d: %s)", je.line,
                      je.text);
        return -1;
    }
    if (aod_signature_add(doc, g->key, err) != 0)
        goto out;
    if (g->fmt == AOD_BUNDLE_XML) {
        /* the same document, signature and all, in its XML form */
        if (aod_bundle_write_xml(g->out, doc, err) != 0)
            goto out;
        rc = 0;
        goto out;
    }
    /* as bundle.c writes the document (doc/bundle.md, Formats) */
    if (json_dumpf(doc, g->out, JSON_INDENT(1) | JSON_PRESERVE_ORDER) != 0 ||
        fputc('\n', g->out) == EOF || fflush(g->out) != 0) {
        aod_error_set(err, AOD_ERR_IO, NULL, 0, NULL, "write error");
        goto out;
    }
    rc = 0;
out:
    json_decref(doc);
    return rc;
}

static void s_free(aod_sink *s)
{
    signed_sink *g = (signed_sink *)s;

    if (!g)
        return;
    if (g->inner)
        g->inner->free(g->inner);
    if (g->tmp)
        fclose(g->tmp);
    free(g);
}

aod_sink *aod_signature_sink_new(aod_sink *inner, FILE *tmp, FILE *out, const aod_sign_key *key,
                                 aod_error *err)
{
    return aod_signature_sink_new_as(inner, tmp, out, key, AOD_BUNDLE_JSON, err);
}

aod_sink *aod_signature_sink_new_as(aod_sink *inner, FILE *tmp, FILE *out, const aod_sign_key *key,
                                    aod_bundle_format fmt, aod_error *err)
{
    signed_sink *g = calloc(1, sizeof *g);

    if (!g) {
        if (inner)
            inner->free(inner);
        if (tmp)
            fclose(tmp);
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return NULL;
    }
    g->base.begin = s_begin;
    g->base.entry = s_entry;
    g->base.end = s_end;
    g->base.free = s_free;
    g->inner = inner;
    g->tmp = tmp;
    g->out = out;
    g->key = key;
    g->fmt = fmt;
    return &g->base;
}
