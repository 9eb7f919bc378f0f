/*
 * mask.c - the mask stage (see mask.h): what the reader sees of each actor.
 *
 * Runs after summarize and suspend, before the renderers.  It only fills the
 * shown_* fields of an entry; the recorded who stays for explain and the
 * privacy office.  Pseudonyms are HMAC-SHA256(secret, identity) written in an
 * unambiguous alphabet; the secret never leaves this file and is wiped when
 * the mask is freed.
 */
#include "pipeline/mask.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/secretfile.h"
#include "model/text.h"
#include "base/sha256.h"

#define SECRET_MAX      ((size_t)64 * 1024)
#define LONG_CODE_LEN   (2 * AOD_MASK_CODE_LEN)
#define PSEUDONYM_LABEL "aodreport-pseudonym-1" /* versions the HMAC input */

/* An identity already coded in this report: the HMAC input bytes and the
 * code they got.  A report names the same few hundred staff tens of
 * thousands of times; this keeps it to one HMAC per person. */
typedef struct ident_slot {
    char *key; /* NULL = empty slot; malloc'd */
    size_t len;
    uint64_t hash;
    char code[LONG_CODE_LEN + 1];
} ident_slot;

/* One pseudonym code given out in this report and whose it is. */
typedef struct code_slot {
    char code[LONG_CODE_LEN + 1]; /* "" = empty slot */
    unsigned char digest[AOD_SHA256_DIGEST_LEN];
} code_slot;

struct aod_mask {
    const aod_policy *policy;
    aod_audience audience;
    aod_mode mode;
    const aod_text *text;
    aod_strpool *pool;
    unsigned char *secret; /* NULL unless a tier of the audience is PSEUDONYM */
    size_t secret_len;
    code_slot *codes; /* open addressing on the code */
    size_t n_codes, n_used;
    ident_slot *idents; /* open addressing on the identity */
    size_t n_idents, n_idents_used;
    aod_buf ident;         /* scratch: the identity being coded */
    aod_buf buf;           /* scratch for built names, reused */
    aod_report_summary nw; /* codes without words (only the no_words fields) */
};

static int has(const char *s)
{
    return s && *s;
}

/* Overwrites n bytes in a way the compiler may not drop as a dead store. */
static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;

    while (n--)
        *v++ = 0;
}

/* Anyone who knows the key can reverse or choose the pseudonyms: the file is
 * opened as a secret (base/secretfile.h). */
static const aod_secret_kind pseudonym_secret = {"the pseudonym secret file", "pseudonym-secret",
                                                 AOD_ERR_POLICY, AOD_ERR_POLICY};

/* Reads the secret file named by the policy into m. */
static int read_secret(aod_mask *m, aod_error *err)
{
    const char *path = m->policy->masking.pseudonym_secret;
    unsigned char *data = NULL;
    FILE *f = NULL;
    size_t len = 0, got;
    int rc = -1;

    if (!has(path)) {
        aod_error_set(err, AOD_ERR_POLICY, m->policy->source, 0, "pseudonym-secret",
                      "the %s audience is shown pseudonyms but the policy names no "
                      "pseudonym secret file",
                      aod_policy_audience_name(m->audience));
        goto cleanup;
    }
    f = aod_secret_open(path, &pseudonym_secret, err);
    if (!f)
        goto cleanup;
    data = malloc(SECRET_MAX + 1);
    if (!data) {
        aod_error_set(err, AOD_ERR_NOMEM, path, 0, NULL, "out of memory");
        goto cleanup;
    }
    while (len <= SECRET_MAX && (got = fread(data + len, 1, SECRET_MAX + 1 - len, f)) > 0)
        len += got;
    if (ferror(f)) {
        aod_error_set(err, AOD_ERR_POLICY, path, 0, "pseudonym-secret",
                      "cannot read the pseudonym secret file: %s", strerror(errno));
        goto cleanup;
    }
    if (len > SECRET_MAX) {
        aod_error_set(err, AOD_ERR_POLICY, path, 0, "pseudonym-secret",
                      "the pseudonym secret file is larger than %zu bytes", SECRET_MAX);
        goto cleanup;
    }
    /* An editor adding or dropping the final newline must not change every
     * pseudonym: trailing line ends are not part of the key. */
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;
    if (len < AOD_MASK_SECRET_MIN) {
        aod_error_set(err, AOD_ERR_POLICY, path, 0, "pseudonym-secret",
                      "the pseudonym secret file holds %zu bytes; at least %d are needed", len,
                      AOD_MASK_SECRET_MIN);
        goto cleanup;
    }
    m->secret = data;
    m->secret_len = len;
    data = NULL;
    rc = 0;
cleanup:
    if (data) {
        wipe(data, SECRET_MAX + 1);
        free(data);
    }
    if (f)
        fclose(f);
    return rc;
}

aod_mask *aod_mask_new(const aod_policy *policy, aod_audience audience, aod_mode mode,
                       const aod_text *text, aod_strpool *pool, aod_error *err)
{
    aod_mask *m = NULL;
    int c, pseudonyms = 0;

    if (!policy || !text || !pool || (unsigned)audience >= AOD_AUDIENCE_COUNT) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "mask", "bad arguments to aod_mask_new");
        goto fail;
    }
    m = calloc(1, sizeof *m);
    if (!m) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        goto fail;
    }
    m->policy = policy;
    m->audience = audience;
    m->mode = mode;
    m->text = text;
    m->pool = pool;
    aod_buf_init(&m->buf, 64 * 1024);
    aod_buf_init(&m->ident, 256);
    for (c = 0; c < AOD_ACTOR_CLASS_COUNT; c++)
        pseudonyms |= policy->masking.tiers[audience][c].tier == AOD_TIER_PSEUDONYM;
    if (pseudonyms) {
        if (read_secret(m, err) != 0)
            goto fail;
        m->n_codes = 64;
        m->codes = calloc(m->n_codes, sizeof *m->codes);
        m->n_idents = 64;
        m->idents = calloc(m->n_idents, sizeof *m->idents);
        if (!m->codes || !m->idents) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
            goto fail;
        }
    }
    return m;
fail:
    aod_mask_free(m);
    return NULL;
}

void aod_mask_free(aod_mask *m)
{
    if (!m)
        return;
    if (m->secret) {
        wipe(m->secret, m->secret_len);
        free(m->secret);
    }
    free(m->codes);
    for (size_t i = 0; i < m->n_idents; i++)
        free(m->idents[i].key);
    free(m->idents);
    aod_buf_free(&m->ident);
    aod_buf_free(&m->buf);
    free(m);
}

/* ------------------------------------------------------------- pseudonyms */

/* Writes len characters of the digest, 5 bits each from the most
 * significant end, in the unambiguous alphabet. */
static void encode(const unsigned char *digest, size_t len, char *out)
{
    static const char alphabet[] = AOD_MASK_ALPHABET;
    size_t i;

    for (i = 0; i < len; i++) {
        size_t bit = i * 5, byte = bit / 8, shift = bit % 8;
        unsigned v = (unsigned)digest[byte] << 8 | digest[byte + 1];
        out[i] = alphabet[(v >> (11 - shift)) & 31];
    }
    out[len] = '\0';
}

static size_t code_hash(const char *code)
{
    size_t h = 5381;

    while (*code)
        h = h * 33 + (unsigned char)*code++;
    return h;
}

static int codes_grow(aod_mask *m)
{
    size_t n = m->n_codes * 2, i;
    code_slot *codes = calloc(n, sizeof *codes);

    if (!codes)
        return -1;
    for (i = 0; i < m->n_codes; i++) {
        size_t j;
        if (!m->codes[i].code[0])
            continue;
        j = code_hash(m->codes[i].code) & (n - 1);
        while (codes[j].code[0])
            j = (j + 1) & (n - 1);
        codes[j] = m->codes[i];
    }
    free(m->codes);
    m->codes = codes;
    m->n_codes = n;
    return 0;
}

/* Claims code for digest: 1 when it is (now) digest's, 0 when another
 * identity holds it, -1 out of memory. */
static int claim(aod_mask *m, const char *code, const unsigned char *digest)
{
    size_t j;

    if ((m->n_used + 1) * 2 > m->n_codes && codes_grow(m) != 0)
        return -1;
    for (j = code_hash(code) & (m->n_codes - 1); m->codes[j].code[0];
         j = (j + 1) & (m->n_codes - 1)) {
        if (strcmp(m->codes[j].code, code) == 0)
            return memcmp(m->codes[j].digest, digest, AOD_SHA256_DIGEST_LEN) == 0;
    }
    memcpy(m->codes[j].code, code, strlen(code) + 1);
    memcpy(m->codes[j].digest, digest, AOD_SHA256_DIGEST_LEN);
    m->n_used++;
    return 1;
}

/* FNV-1a over the identity bytes (which contain NULs). */
static uint64_t ident_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;

    while (n--) {
        h ^= (unsigned char)*p++;
        h *= 1099511628211ULL;
    }
    return h;
}

/* The slot of the identity (key, len): the one holding it, or the empty one
 * where it belongs. */
static ident_slot *ident_find(ident_slot *v, size_t n, const char *key, size_t len, uint64_t h)
{
    size_t j;

    for (j = (size_t)h & (n - 1); v[j].key; j = (j + 1) & (n - 1))
        if (v[j].hash == h && v[j].len == len && memcmp(v[j].key, key, len) == 0)
            break;
    return &v[j];
}

static int idents_grow(aod_mask *m)
{
    size_t n = m->n_idents * 2, i;
    ident_slot *v = calloc(n, sizeof *v);

    if (!v)
        return -1;
    for (i = 0; i < m->n_idents; i++)
        if (m->idents[i].key)
            *ident_find(v, n, m->idents[i].key, m->idents[i].len, m->idents[i].hash) = m->idents[i];
    free(m->idents);
    m->idents = v;
    m->n_idents = n;
    return 0;
}

/* The identity of w into m->ident: what stays the same for one person
 * across events and reports, each kind tagged so a name can never pose as a
 * reference.  Returns 1, 0 when w has nothing to identify it by, -1 out of
 * memory. */
static int identity(aod_mask *m, const aod_party *w)
{
    aod_buf *b = &m->ident;
    int r = 0;

    aod_buf_reset(b);
    if (aod_buf_add(b, PSEUDONYM_LABEL, sizeof PSEUDONYM_LABEL) != 0) /* with its NUL */
        return -1;
    if (has(w->reference)) {
        r = aod_buf_add(b, "reference", sizeof "reference") ||
            aod_buf_add(b, w->reference, strlen(w->reference));
    } else if (has(w->id_value)) {
        r = aod_buf_add(b, "identifier", sizeof "identifier") ||
            (w->id_system && aod_buf_add(b, w->id_system, strlen(w->id_system))) ||
            aod_buf_add(b, "|", 1) || aod_buf_add(b, w->id_value, strlen(w->id_value));
    } else if (has(w->name)) {
        r = aod_buf_add(b, "name", sizeof "name") || aod_buf_add(b, w->name, strlen(w->name));
    } else {
        return 0;
    }
    return r ? -1 : 1;
}

/* The pseudonym code of the actor w into out (LONG_CODE_LEN + 1 bytes).
 * Returns 1, 0 when w has nothing to identify it by, -1 out of memory, -2
 * when even the long code is taken (60 bits: never in practice). */
static int pseudonym_code(aod_mask *m, const aod_party *w, char *out)
{
    aod_hmac_sha256_ctx ctx;
    unsigned char digest[AOD_SHA256_DIGEST_LEN];
    ident_slot *slot;
    uint64_t h;
    int r = identity(m, w);

    if (r <= 0)
        return r;
    h = ident_hash(m->ident.data, m->ident.len);
    slot = ident_find(m->idents, m->n_idents, m->ident.data, m->ident.len, h);
    if (slot->key) {
        memcpy(out, slot->code, sizeof slot->code);
        return 1;
    }
    aod_hmac_sha256_init(&ctx, m->secret, m->secret_len);
    aod_hmac_sha256_update(&ctx, m->ident.data, m->ident.len);
    aod_hmac_sha256_final(&ctx, digest); /* wipes the keyed state */
    encode(digest, AOD_MASK_CODE_LEN, out);
    r = claim(m, out, digest);
    if (r == 0) {
        /* Another identity of this report has the short code: this one
         * gets the long code, which starts with the same characters. */
        encode(digest, LONG_CODE_LEN, out);
        r = claim(m, out, digest);
        if (r == 0)
            r = -2;
    }
    wipe(digest, sizeof digest);
    if (r != 1)
        return r;
    if ((m->n_idents_used + 1) * 2 > m->n_idents) {
        if (idents_grow(m) != 0)
            return -1;
        slot = ident_find(m->idents, m->n_idents, m->ident.data, m->ident.len, h);
    }
    slot->key = malloc(m->ident.len);
    if (!slot->key)
        return -1;
    memcpy(slot->key, m->ident.data, m->ident.len);
    slot->len = m->ident.len;
    slot->hash = h;
    memcpy(slot->code, out, sizeof slot->code);
    m->n_idents_used++;
    return 1;
}

/* --------------------------------------------------------------- labels */

/* The template text for key, else for fallback_key, else key itself. */
static const char *words(const aod_mask *m, const char *key, const char *fallback_key)
{
    const char *v = aod_text_get(m->text, key);

    if (!v && fallback_key)
        v = aod_text_get(m->text, fallback_key);
    return v ? v : key;
}

/* The key prefix.class-name(suffix) into out. */
static const char *class_key(char *out, size_t size, const char *prefix, aod_actor_class c,
                             const char *suffix)
{
    snprintf(out, size, "%s.%s%s", prefix, aod_policy_actor_class_name(c), suffix);
    return out;
}

/* The generic label of class c for this audience. */
static const char *generic_label(const aod_mask *m, aod_actor_class c, char *key, size_t size)
{
    const char *label = m->policy->masking.tiers[m->audience][c].label;

    class_key(key, size, "actor", c, "");
    if (has(label) && aod_text_get(m->text, label))
        return aod_text_get(m->text, label);
    return words(m, key, "actor.workforce");
}

/* Interns the scratch buffer's contents. */
static const char *intern_buf(aod_mask *m)
{
    return aod_strpool_intern(m->pool, aod_buf_str(&m->buf));
}

/* ------------------------------------------------------------------ apply */

static int is_bare_code(const char *s)
{
    return aod_text_is_bare_code(s);
}

/* Counts one code without words (kind and code borrowed from the pool or
 * static) on the line e, and flags the line. */
static void no_words(aod_mask *m, aod_entry *e, const char *kind, const char *code)
{
    aod_report_summary *nw = &m->nw;
    size_t i;

    if (!(e->flags & AOD_ENTRY_NO_WORDS))
        nw->lines_without_words++;
    e->flags |= AOD_ENTRY_NO_WORDS;
    for (i = 0; i < nw->n_no_words; i++)
        if (strcmp(nw->no_words[i].kind, kind) == 0 && strcmp(nw->no_words[i].code, code) == 0) {
            nw->no_words[i].count++;
            return;
        }
    if (nw->n_no_words == sizeof nw->no_words / sizeof nw->no_words[0]) {
        nw->no_words_more++;
        return;
    }
    nw->no_words[nw->n_no_words].kind = kind;
    nw->no_words[nw->n_no_words].code = code;
    nw->no_words[nw->n_no_words].count = 1;
    nw->n_no_words++;
}

/* The purpose and the kinds of data of e: codes without words are counted
 * (the renderers say a plain phrase for them in the patient's copy). */
static int check_words(aod_mask *m, aod_entry *e)
{
    const char *p;
    char kind[128];

    if ((has(e->purpose_code) || has(e->purpose_display)) &&
        !aod_text_words(m->text, "purpose", e->purpose_code, e->purpose_display))
        no_words(m, e, "purpose", has(e->purpose_code) ? e->purpose_code : e->purpose_display);
    for (p = e->data_kinds; p && *p;) {
        size_t n = strcspn(p, ",");
        if (n > 0 && n < sizeof kind) {
            memcpy(kind, p, n);
            kind[n] = '\0';
            if (!aod_text_words(m->text, "resource", kind, NULL)) {
                const char *k = aod_strpool_intern(m->pool, kind);
                if (!k)
                    return -1;
                no_words(m, e, "resource", k);
            }
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

void aod_mask_no_words(const aod_mask *m, aod_report_summary *sum)
{
    if (!m || !sum)
        return;
    sum->lines_without_words = m->nw.lines_without_words;
    memcpy(sum->no_words, m->nw.no_words, sizeof sum->no_words);
    sum->n_no_words = m->nw.n_no_words;
    sum->no_words_more = m->nw.no_words_more;
}

/* 1 when w is a member of the protected staff the policy lists (by an
 * identifier system, a reference or "system|value"). */
static int protected_staff(const aod_policy *p, const aod_party *w)
{
    size_t i, slen;

    if (w->cls != AOD_ACTOR_WORKFORCE)
        return 0;
    for (i = 0; has(w->id_system) && i < p->masking.n_protected_systems; i++)
        if (strcmp(w->id_system, p->masking.protected_systems[i]) == 0)
            return 1;
    for (i = 0; i < p->masking.n_protected_keys; i++) {
        const char *k = p->masking.protected_keys[i];
        const char *bar = strchr(k, '|');
        if (!bar) {
            if (has(w->reference) && strcmp(w->reference, k) == 0)
                return 1;
            continue;
        }
        slen = (size_t)(bar - k);
        if (has(w->id_value) && strcmp(w->id_value, bar + 1) == 0 && has(w->id_system) &&
            strlen(w->id_system) == slen && strncmp(w->id_system, k, slen) == 0)
            return 1;
    }
    return 0;
}

/* The role words: the templates' words for a staff role's recorded code
 * (staff-role.PHYS, so that a Spanish letter does not print an English
 * display), else those for the role as recorded (role.<display or code>:
 * the people around the patient), else it as recorded; NULL (with e
 * flagged) when that is a bare code and the reader is the patient. */
static const char *role_words(aod_mask *m, aod_entry *e, const char *role, const char *code)
{
    const char *v = has(code) ? aod_text_words(m->text, "staff-role", code, NULL) : NULL;

    if (v)
        return v;
    code = role;
    v = aod_text_code(m->text, "role", code, NULL);

    if (is_bare_code(v)) {
        no_words(m, e, "role", code);
        if (m->audience == AOD_AUDIENCE_PATIENT)
            return NULL;
    }
    return v;
}

/* A person outside the covered entity, for the patient, when the policy
 * does not name them: "a person at <organisation>", else "a person at
 * <host>" (the machine they used, when it has a name), else their role, else
 * the generic label; the role beside it and the address (164.528(b)(2)(ii)
 * wants it when known) as recorded. */
static int outside_person(aod_mask *m, aod_entry *e, const char *org, aod_error *err)
{
    const aod_party *w = &e->who;
    const char *place = org, *name = NULL, *role = NULL, *tmpl;
    char host[256], key[128];

    if (!place) {
        aod_network_host(w->network, host, sizeof host);
        if (host[0] && !aod_host_is_ip(host))
            place = host;
    }
    if (has(w->role))
        role = role_words(m, e, w->role, w->role_code);
    tmpl = aod_text_get(m->text, class_key(key, sizeof key, "actor", w->cls, "-of"));
    if (place && tmpl) {
        const char *vars[3] = {"organisation", place, NULL};
        if (aod_text_expand(&m->buf, tmpl, vars, err) != 0)
            return -1;
        name = intern_buf(m);
    } else if (place) {
        name = aod_strpool_intern(m->pool, place);
    } else if (role) {
        name = role;
        role = NULL;
    } else {
        name = aod_strpool_intern(m->pool, generic_label(m, w->cls, key, sizeof key));
    }
    if (!name) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "mask", "out of memory");
        return -1;
    }
    e->shown_name = name;
    e->shown_role = role;
    e->shown_organisation = org;
    e->shown_address = has(w->address) ? w->address : NULL;
    e->tier = AOD_TIER_ORGANISATION;
    return 0;
}

int aod_mask_apply(aod_mask *m, aod_entry *e, aod_error *err)
{
    const aod_party *w = &e->who;
    aod_actor_class c = w->cls;
    const char *org, *name = NULL, *role = NULL, *shown_org = NULL, *address = NULL;
    char key[128], code[LONG_CODE_LEN + 1];
    aod_mask_tier tier;
    int external, forced, unnamed, protect = 0, r;

    if ((unsigned)c >= AOD_ACTOR_CLASS_COUNT) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "who", "actor class %d out of range", (int)c);
        return -1;
    }
    if (check_words(m, e) != 0)
        goto nomem;
    external = c == AOD_ACTOR_EXTERNAL_PERSON || c == AOD_ACTOR_EXTERNAL_ORGANISATION;
    /* 164.528(b)(2): a disclosure's recipient is named, whatever the tier. */
    forced = external || (m->mode == AOD_MODE_DISCLOSURES && e->cls == AOD_CLASS_DISCLOSURE);
    /* But a person is "outside" only because no domain or identifier
     * system of the policy matched them, and a staff member on a home
     * workstation or a portal host looks just the same: unless the policy
     * says to name outside persons, the patient is told where they were
     * (organisation, host, role, address), never who.  A staff member who
     * received a disclosure is shown as the workforce tier says. */
    unnamed =
        c == AOD_ACTOR_EXTERNAL_PERSON && !w->related && !m->policy->masking.name_recipient_persons;
    if (unnamed && (has(w->name) || has(w->id_value)))
        e->flags |= AOD_ENTRY_NAME_WITHHELD;
    if (m->audience == AOD_AUDIENCE_PATIENT && !m->policy->masking.name_recipient_persons &&
        (unnamed || c == AOD_ACTOR_WORKFORCE))
        forced = 0;
    unnamed = unnamed && m->audience == AOD_AUDIENCE_PATIENT;
    tier = forced ? AOD_TIER_FULL_NAME : m->policy->masking.tiers[m->audience][c].tier;
    /* The workforce works for the covered entity by definition. */
    org = w->organisation;
    if (!has(org) && c == AOD_ACTOR_WORKFORCE && has(m->policy->organisation.name))
        org = m->policy->organisation.name;
    if (!has(org))
        org = NULL;
    aod_buf_reset(&m->buf);

    if (unnamed) {
        if (outside_person(m, e, org, err) != 0)
            return -1;
        return 0;
    }

    /* Protected staff: the patient sees the unit, never the person (a name,
     * a role or a pseudonym that stays the same could point them out); with
     * no unit recorded, the generic label below.  A tier that shows less
     * than the unit (organisation, generic) stays as it is. */
    if (!forced && m->audience == AOD_AUDIENCE_PATIENT && tier <= AOD_TIER_ROLE_UNIT &&
        protected_staff(m->policy, w)) {
        protect = 1;
        tier = AOD_TIER_ROLE_UNIT;
        if (has(w->unit)) {
            name = w->unit;
            shown_org = org;
        }
    }
    switch (protect ? AOD_TIER_GENERIC : tier) {
    case AOD_TIER_FULL_NAME:
        if (has(w->name)) {
            name = w->name;
            role = has(w->role) ? w->role : NULL;
        } else if ((forced || external) && org) {
            name = org;
            role = has(w->role) ? w->role : NULL;
        } else if (has(w->role)) {
            name = w->role;
        } else if (m->audience == AOD_AUDIENCE_PRIVACY_OFFICE && has(w->id_value)) {
            /* Known only by an identifier (BALP Minimal): the privacy office
             * needs it to find the name the letter must give; the patient's
             * copy keeps the generic label instead of a bare number. */
            if (aod_buf_adds(&m->buf, w->id_value) != 0 ||
                (has(w->id_system) &&
                 (aod_buf_adds(&m->buf, " (") != 0 || aod_buf_adds(&m->buf, w->id_system) != 0 ||
                  aod_buf_addc(&m->buf, ')') != 0)))
                goto nomem;
            name = intern_buf(m);
            if (!name)
                goto nomem;
        }
        shown_org = org;
        address = has(w->address) ? w->address : NULL;
        break;
    case AOD_TIER_PSEUDONYM:
        r = m->secret ? pseudonym_code(m, w, code) : 0;
        if (r == -2) {
            aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "mask",
                          "two identities share a %d-character pseudonym", LONG_CODE_LEN);
            return -1;
        }
        if (r < 0)
            goto nomem;
        if (r == 1) {
            class_key(key, sizeof key, "pseudonym", c, "");
            if (aod_buf_adds(&m->buf, words(m, key, "pseudonym.workforce")) != 0 ||
                aod_buf_addc(&m->buf, ' ') != 0 || aod_buf_adds(&m->buf, code) != 0)
                goto nomem;
            name = intern_buf(m);
            if (!name)
                goto nomem;
            role = has(w->role) ? w->role : NULL;
            shown_org = org;
        }
        break;
    case AOD_TIER_ROLE_UNIT:
        if (has(w->unit)) {
            const char *vars[5];
            const char *rw = has(w->role) ? role_words(m, e, w->role, w->role_code) : NULL;
            vars[0] = "role";
            vars[1] = rw ? rw : generic_label(m, c, key, sizeof key);
            vars[2] = "unit";
            vars[3] = w->unit;
            vars[4] = NULL;
            if (aod_text_expand(&m->buf, words(m, "format.role-unit", NULL), vars, err) != 0)
                return -1;
            name = intern_buf(m);
            if (!name)
                goto nomem;
        } else if (has(w->role)) {
            name = w->role;
        }
        if (name)
            shown_org = org;
        break;
    case AOD_TIER_ORGANISATION:
        if (org) {
            const char *tmpl = aod_text_get(m->text, class_key(key, sizeof key, "actor", c, "-of"));
            if (tmpl) {
                const char *vars[3] = {"organisation", org, NULL};
                if (aod_text_expand(&m->buf, tmpl, vars, err) != 0)
                    return -1;
                name = intern_buf(m);
                if (!name)
                    goto nomem;
            } else {
                name = org;
            }
            shown_org = org;
        }
        break;
    case AOD_TIER_GENERIC:
    default:
        break;
    }
    /* The patient acting is "you" in their own copy, whatever was recorded. */
    if (c == AOD_ACTOR_PATIENT_OR_REPRESENTATIVE && has(w->role) && strcmp(w->role, "PAT") == 0 &&
        m->audience == AOD_AUDIENCE_PATIENT) {
        name = aod_text_code(m->text, "role", "PAT", NULL);
        role = NULL;
        shown_org = NULL;
    }
    /* Role codes of people around the patient (CAREGIVER, REP, ...) in
     * words; never a bare code in the patient's copy.  A code the templates
     * have no words for is flagged, so the privacy office can count them
     * and add the words. */
    if (name && name == w->role)
        name = role_words(m, e, name, w->role_code);
    if (role)
        role = role_words(m, e, role, role == w->role ? w->role_code : NULL);
    if (!name) {
        /* Nothing recorded to show at the asked tier: the generic label. */
        name = aod_strpool_intern(m->pool, generic_label(m, c, key, sizeof key));
        if (!name)
            goto nomem;
        if (tier != AOD_TIER_FULL_NAME)
            tier = AOD_TIER_GENERIC;
        role = NULL;
        shown_org = NULL;
    }
    e->shown_name = name;
    e->shown_role = role;
    e->shown_organisation = shown_org;
    e->shown_address = address;
    e->tier = tier;
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "mask", "out of memory");
    return -1;
}
