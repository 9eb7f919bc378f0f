/*
 * mhd.c - the IHE MHD renderer (see mhd.h): ITI-65 Provide Document Bundle
 * and ITI-105 Simplified Publish.
 *
 * A renderer like the others: it hands every line to the PDF (or HTML) and
 * Bundle renderers, each writing to a temporary file, and at end() wraps
 * their bytes in the submission.  The small parts of the submission are
 * built as jansson values in R4 element order and dumped as the Bundle
 * renderer dumps its document (one-space indent, a final newline); each
 * base64Binary value is a placeholder in that dump, replaced while writing
 * by the file's bytes, encoded as they are read.
 */
#include "render/mhd.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "base/buf.h"
#include "base/sha256.h"
#include "base/timefmt.h"
#include "model/policy.h"
#include "model/record.h"
#include "render/bundle.h"
#include "render/html.h"
#include "render/pdf.h"
#include "render/signature.h"

#define CS_RFC3986   "urn:ietf:rfc:3986"
#define CS_CONF      "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
#define FORMAT_CODE  "urn:ihe:iti:xds:2017:mimeTypeSufficient"
#define FORMAT_WORDS "mimeType Sufficient"

/* The placeholders for the attachments in the dump; each must occur once. */
#define HOLE_READABLE "@aodreport-mhd-readable@"
#define HOLE_DOCUMENT "@aodreport-mhd-document@"

typedef struct mhd_sink {
    aod_sink base;
    FILE *out;
    aod_mhd_form form;
    aod_mhd_document doc;
    const aod_text *text;
    aod_sink *readable, *document;     /* the inner renderers */
    FILE *readable_tmp, *document_tmp; /* their bytes */
    aod_report_info info;              /* borrowed until end() */
    const aod_policy *policy;
    const char *subject_system, *subject_value; /* borrowed from the keys */
    char *subject_system_copy;
    unsigned char seed[AOD_SHA256_DIGEST_LEN];
    int nomem;
} mhd_sink;

/* ------------------------------------------------------------- ids */

static void hash_str(aod_sha256_ctx *h, const char *s)
{
    char len[24];
    size_t n = s ? strlen(s) : 0;

    snprintf(len, sizeof len, "%zu:", n);
    aod_sha256_update(h, len, strlen(len));
    aod_sha256_update(h, s, n);
}

static void hash_int(aod_sha256_ctx *h, int64_t v)
{
    char d[24];

    snprintf(d, sizeof d, "%lld", (long long)v);
    hash_str(h, d);
}

/* Everything that makes this submission what it is (as the Bundle's seed,
 * doc/bundle.md, with the form and the document kind). */
static void make_seed(mhd_sink *m)
{
    const aod_report_info *in = &m->info;
    aod_sha256_ctx h;
    size_t i;

    aod_sha256_init(&h);
    hash_str(&h, "aodreport MHD submission 1");
    hash_str(&h, m->form == AOD_MHD_PROVIDE ? "ITI-65" : "ITI-105");
    hash_str(&h, m->doc == AOD_MHD_PDF ? "pdf" : "html");
    hash_str(&h, in->mode == AOD_MODE_ACCESS ? "access" : "disclosures");
    hash_str(&h, aod_policy_audience_name(in->audience));
    hash_str(&h, in->lang);
    hash_int(&h, (int64_t)in->n_patient_keys);
    for (i = 0; i < in->n_patient_keys; i++)
        hash_str(&h, in->patient_keys[i]);
    hash_str(&h, in->patient_name);
    hash_int(&h, in->from);
    hash_int(&h, in->to);
    hash_int(&h, in->now);
    hash_int(&h, in->requested);
    hash_str(&h, m->policy->name);
    hash_str(&h, m->policy->organisation.name);
    aod_sha256_final(&h, m->seed);
}

static void name_digest(const unsigned char *seed, const char *kind,
                        unsigned char d[AOD_SHA256_DIGEST_LEN])
{
    aod_sha256_ctx h;

    aod_sha256_init(&h);
    if (seed)
        aod_sha256_update(&h, seed, AOD_SHA256_DIGEST_LEN);
    hash_str(&h, kind);
    aod_sha256_final(&h, d);
}

/* "urn:uuid:" and the version-8 UUID named kind under the seed. */
static void urn_uuid(const mhd_sink *m, const char *kind, char out[9 + AOD_UUID_LEN])
{
    unsigned char d[AOD_SHA256_DIGEST_LEN];

    name_digest(m->seed, kind, d);
    memcpy(out, "urn:uuid:", 9);
    aod_sha256_uuid(d, out + 9);
}

/* "urn:oid:2.25." and the UUID as one decimal number (ITU-T X.667): the OID
 * form the SubmissionSet's uniqueId must have.  seed NULL: not under the
 * report's seed (the organisation's own id). */
#define OID_LEN (13 + 40 + 1)
static void urn_oid(const unsigned char *seed, const char *kind, char out[OID_LEN])
{
    unsigned char d[AOD_SHA256_DIGEST_LEN], n[16];
    char digits[41];
    size_t i, len = sizeof digits - 1;
    int zero;

    name_digest(seed, kind, d);
    memcpy(n, d, sizeof n);
    n[6] = (unsigned char)((n[6] & 0x0F) | 0x80); /* as aod_sha256_uuid() */
    n[8] = (unsigned char)((n[8] & 0x3F) | 0x80);
    digits[len] = '\0';
    do { /* divide the 128-bit number by ten until nothing is left */
        unsigned rem = 0;
        zero = 1;
        for (i = 0; i < 16; i++) {
            unsigned cur = rem << 8 | n[i];
            n[i] = (unsigned char)(cur / 10);
            rem = cur % 10;
            if (n[i])
                zero = 0;
        }
        digits[--len] = (char)('0' + rem);
    } while (!zero);
    snprintf(out, OID_LEN, "urn:oid:2.25.%s", digits + len);
}

/* ------------------------------------------------------------- JSON */

static json_t *nomem(mhd_sink *m)
{
    m->nomem = 1;
    return NULL;
}

static json_t *jobj(mhd_sink *m)
{
    json_t *o = json_object();
    return o ? o : nomem(m);
}

static json_t *jarr(mhd_sink *m)
{
    json_t *a = json_array();
    return a ? a : nomem(m);
}

/* Adds v (stolen) as key; NULL or empty values are left out (FHIR has no
 * empty values). */
static void put(mhd_sink *m, json_t *o, const char *key, json_t *v)
{
    if (!o || !v) {
        json_decref(v);
        return;
    }
    if ((json_is_array(v) && json_array_size(v) == 0) ||
        (json_is_object(v) && json_object_size(v) == 0)) {
        json_decref(v);
        return;
    }
    if (json_object_set_new(o, key, v) != 0)
        nomem(m);
}

static void put_str(mhd_sink *m, json_t *o, const char *key, const char *s)
{
    json_t *v;

    if (!s || !*s)
        return;
    v = json_string(s);
    put(m, o, key, v ? v : nomem(m));
}

static void push(mhd_sink *m, json_t *a, json_t *v)
{
    if (!a || !v) {
        json_decref(v);
        return;
    }
    if (json_object_size(v) == 0) {
        json_decref(v);
        return;
    }
    if (json_array_append_new(a, v) != 0)
        nomem(m);
}

static json_t *coding(mhd_sink *m, const char *system, const char *code, const char *display)
{
    json_t *c = jobj(m);

    put_str(m, c, "system", system);
    put_str(m, c, "code", code);
    put_str(m, c, "display", display);
    return c;
}

static json_t *concept(mhd_sink *m, json_t *one_coding, const char *text)
{
    json_t *c = jobj(m), *a = jarr(m);

    push(m, a, one_coding);
    put(m, c, "coding", a);
    put_str(m, c, "text", text);
    return c;
}

static json_t *identifier(mhd_sink *m, const char *use, const char *system, const char *value)
{
    json_t *i = jobj(m);

    put_str(m, i, "use", use);
    put_str(m, i, "system", system);
    put_str(m, i, "value", value);
    return i;
}

static json_t *instant(mhd_sink *m, int64_t ms)
{
    char t[40];
    json_t *s = json_string(aod_time_format_utc(ms, t, sizeof t));

    return s ? s : nomem(m);
}

/* The patient, by identifier: a logical reference the portal resolves. */
static json_t *subject(mhd_sink *m)
{
    json_t *r = jobj(m);

    put(m, r, "identifier", identifier(m, NULL, m->subject_system, m->subject_value));
    put_str(m, r, "display", m->info.patient_name);
    return r;
}

static json_t *display_ref(mhd_sink *m, const char *display)
{
    json_t *r = jobj(m);

    put_str(m, r, "display", display);
    return r;
}

/* ------------------------------------------------------------- words */

static const char *title(mhd_sink *m)
{
    const char *t =
        aod_text_get(m->text, m->info.mode == AOD_MODE_ACCESS ? "bundle.title.access"
                                                              : "bundle.title.disclosures");
    return t ? t
             : (m->info.mode == AOD_MODE_ACCESS ? "Access Report" : "Accounting of Disclosures");
}

/* A narrative: the title, then who, when and by whom, as the Bundle's
 * Composition says it (its template), escaped for XHTML. */
static void add_escaped(mhd_sink *m, aod_buf *b, const char *s)
{
    for (; *s; s++) {
        int rc;
        if (*s == '&')
            rc = aod_buf_adds(b, "&amp;");
        else if (*s == '<')
            rc = aod_buf_adds(b, "&lt;");
        else if (*s == '>')
            rc = aod_buf_adds(b, "&gt;");
        else
            rc = aod_buf_add(b, s, 1);
        if (rc != 0) {
            nomem(m);
            return;
        }
    }
}

static json_t *narrative(mhd_sink *m)
{
    const aod_report_info *in = &m->info;
    char from[16], to[16];
    aod_buf who, para, div;
    aod_error err;
    json_t *t = jobj(m), *d = NULL;
    const char *vars[9];

    aod_error_init(&err);
    aod_buf_init(&who, 1u << 20);
    aod_buf_init(&para, 1u << 20);
    aod_buf_init(&div, 1u << 20);
    if (in->patient_name && *in->patient_name) {
        if (aod_buf_adds(&who, in->patient_name) != 0)
            nomem(m);
    } else if (in->n_patient_keys > 0 &&
               aod_text_patient_key(m->text, in->patient_keys[0], &who, &err) != 0) {
        nomem(m);
    }
    aod_timefmt_date(in->from, from, sizeof from);
    aod_timefmt_date(in->to > in->from ? in->to - 1 : in->from, to, sizeof to);
    vars[0] = "patient";
    vars[1] = aod_buf_str(&who);
    vars[2] = "from";
    vars[3] = from;
    vars[4] = "to";
    vars[5] = to;
    vars[6] = "organisation";
    vars[7] = m->policy->organisation.name;
    vars[8] = NULL;
    if (aod_text_expand(&para,
                        aod_text_get(m->text, "bundle.composition.narrative")
                            ? aod_text_get(m->text, "bundle.composition.narrative")
                            : "For {patient}, from {from} to {to}, by {organisation}.",
                        vars, &err) != 0)
        nomem(m);
    if (aod_buf_adds(&div, "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>") != 0)
        nomem(m);
    add_escaped(m, &div, title(m));
    if (aod_buf_adds(&div, "</p><p>") != 0)
        nomem(m);
    add_escaped(m, &div, aod_buf_str(&para));
    if (aod_buf_adds(&div, "</p></div>") != 0)
        nomem(m);
    put_str(m, t, "status", "generated");
    if (!m->nomem)
        d = json_string(aod_buf_str(&div));
    put(m, t, "div", d ? d : nomem(m));
    aod_buf_free(&who);
    aod_buf_free(&para);
    aod_buf_free(&div);
    return t;
}

/* ------------------------------------------------------------- resources */

static json_t *meta(mhd_sink *m, const char *profile)
{
    json_t *me = jobj(m), *p = jarr(m), *sec = jarr(m);

    if (profile) {
        json_t *s = json_string(profile);
        if (!s || json_array_append_new(p, s) != 0)
            nomem(m);
    }
    put(m, me, "profile", p);
    push(m, sec, coding(m, CS_CONF, "R", "restricted"));
    put(m, me, "security", sec);
    return me;
}

/* One DocumentReference.  kind: "readable" or "document"; hole: the
 * placeholder of its data (ITI-105) or NULL (ITI-65: url = the Binary). */
static json_t *document_reference(mhd_sink *m, const char *kind, const char *content_type,
                                  long long size, const char *binary_url, const char *hole)
{
    json_t *r = jobj(m), *ids = jarr(m), *authors = jarr(m), *labels = jarr(m);
    json_t *content = jarr(m), *c = jobj(m), *att = jobj(m), *ctx = jobj(m), *period = jobj(m);
    char master[9 + AOD_UUID_LEN], entry_uuid[9 + AOD_UUID_LEN], label[32];
    int access = m->info.mode == AOD_MODE_ACCESS;

    snprintf(label, sizeof label, "uniqueId %s", kind);
    urn_uuid(m, label, master);
    snprintf(label, sizeof label, "DocumentReference %s", kind);
    urn_uuid(m, label, entry_uuid);
    put_str(m, r, "resourceType", "DocumentReference");
    put(m, r, "meta",
        meta(m, m->form == AOD_MHD_PROVIDE ? AOD_MHD_PROFILE_DOCREF : AOD_MHD_PROFILE_SIMPLIFIED));
    put(m, r, "text", narrative(m));
    put(m, r, "masterIdentifier", identifier(m, "usual", CS_RFC3986, master));
    /* ITI-105: the recipient assigns the entryUUID itself */
    if (m->form == AOD_MHD_PROVIDE)
        push(m, ids, identifier(m, "official", CS_RFC3986, entry_uuid));
    put(m, r, "identifier", ids);
    put_str(m, r, "status", "current");
    put(m, r, "type",
        concept(m,
                coding(m, AOD_BUNDLE_CS_REPORT_TYPE,
                       access ? "access-report" : "accounting-of-disclosures",
                       access ? "Access Report" : "Accounting of Disclosures"),
                title(m)));
    put(m, r, "subject", subject(m));
    put(m, r, "date", instant(m, m->info.now));
    push(m, authors, display_ref(m, m->policy->organisation.name));
    put(m, r, "author", authors);
    put(m, r, "custodian", display_ref(m, m->policy->organisation.name));
    put_str(m, r, "description", title(m));
    push(m, labels, concept(m, coding(m, CS_CONF, "R", "restricted"), NULL));
    put(m, r, "securityLabel", labels);
    put_str(m, att, "contentType", content_type);
    put_str(m, att, "language", m->info.lang);
    if (hole)
        put_str(m, att, "data", hole);
    else
        put_str(m, att, "url", binary_url);
    put(m, att, "size", json_integer(size));
    put_str(m, att, "title", title(m));
    put(m, att, "creation", instant(m, m->info.now));
    put(m, c, "attachment", att);
    put(m, c, "format", coding(m, AOD_MHD_CS_FORMAT, FORMAT_CODE, FORMAT_WORDS));
    push(m, content, c);
    put(m, r, "content", content);
    /* the period the report covers: [from, to) as an inclusive Period */
    put(m, period, "start", instant(m, m->info.from));
    put(m, period, "end", instant(m, m->info.to > m->info.from ? m->info.to - 1 : m->info.from));
    put(m, ctx, "period", period);
    put(m, r, "context", ctx);
    return r;
}

/* The SubmissionSet's sourceId: the organisation's OID from the policy
 * when it has one, else an OID under 2.25 named by the organisation's name
 * (the same organisation always submits under the same id). */
static json_t *source_id(mhd_sink *m)
{
    const aod_policy *p = m->policy;
    json_t *x = jobj(m), *v = jobj(m);
    char oid[OID_LEN];
    size_t i;

    put_str(m, x, "url", AOD_MHD_EXT_SOURCE_ID);
    for (i = 0; i < p->organisation.n_identifiers; i++) {
        const char *val = p->organisation.identifiers[i].value;
        if (val && strncmp(val, "urn:oid:", 8) == 0) {
            put_str(m, v, "value", val);
            break;
        }
    }
    if (i == p->organisation.n_identifiers) {
        aod_buf name;
        aod_buf_init(&name, 1u << 16);
        if (aod_buf_printf(&name, "aodreport MHD source %s",
                           p->organisation.name ? p->organisation.name : "") != 0)
            nomem(m);
        urn_oid(NULL, aod_buf_str(&name), oid);
        aod_buf_free(&name);
        put_str(m, v, "value", oid);
    }
    put(m, x, "valueIdentifier", v);
    return x;
}

static json_t *submission_set(mhd_sink *m, const char *const *doc_urls, size_t n)
{
    json_t *r = jobj(m), *exts = jarr(m), *ids = jarr(m), *entries = jarr(m);
    char unique[OID_LEN], entry_uuid[9 + AOD_UUID_LEN];
    size_t i;

    urn_oid(m->seed, "SubmissionSet uniqueId", unique);
    urn_uuid(m, "SubmissionSet", entry_uuid);
    put_str(m, r, "resourceType", "List");
    put(m, r, "meta", meta(m, AOD_MHD_PROFILE_LIST));
    put(m, r, "text", narrative(m));
    push(m, exts, source_id(m));
    put(m, r, "extension", exts);
    push(m, ids, identifier(m, "usual", CS_RFC3986, unique));
    push(m, ids, identifier(m, "official", CS_RFC3986, entry_uuid));
    put(m, r, "identifier", ids);
    put_str(m, r, "status", "current");
    put_str(m, r, "mode", "working");
    put_str(m, r, "title", title(m));
    put(m, r, "code", concept(m, coding(m, AOD_MHD_CS_LIST_TYPES, "submissionset", NULL), NULL));
    put(m, r, "subject", subject(m));
    put(m, r, "date", instant(m, m->info.now));
    put(m, r, "source", display_ref(m, m->policy->organisation.name));
    for (i = 0; i < n; i++) {
        json_t *e = jobj(m), *item = jobj(m);
        put_str(m, item, "reference", doc_urls[i]);
        put(m, e, "item", item);
        push(m, entries, e);
    }
    put(m, r, "entry", entries);
    return r;
}

static json_t *binary(mhd_sink *m, const char *content_type, const char *hole)
{
    json_t *r = jobj(m);

    put_str(m, r, "resourceType", "Binary");
    put(m, r, "meta", meta(m, NULL));
    put_str(m, r, "contentType", content_type);
    put_str(m, r, "data", hole);
    return r;
}

static json_t *tx_entry(mhd_sink *m, const char *full_url, json_t *resource, const char *type)
{
    json_t *e = jobj(m), *req = jobj(m);

    put_str(m, e, "fullUrl", full_url);
    put(m, e, "resource", resource);
    put_str(m, req, "method", "POST");
    put_str(m, req, "url", type);
    put(m, e, "request", req);
    return e;
}

/* ------------------------------------------------------------- writing */

/* Writes the bytes of f (from its start) to out as base64. */
static int stream_base64(mhd_sink *m, FILE *f, aod_error *err)
{
    unsigned char in[3 * 4096];
    char enc[AOD_BASE64_SIZE(sizeof in)];
    size_t n, have = 0;

    if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0)
        goto io;
    for (;;) {
        n = fread(in + have, 1, sizeof in - have, f);
        have += n;
        if (have == sizeof in || (n == 0 && have > 0)) {
            /* whole groups of three, except at the very end */
            size_t whole = n == 0 ? have : have - have % 3;
            size_t len = aod_base64_encode(in, whole, enc, 0);
            if (fwrite(enc, 1, len, m->out) != len)
                goto out_io;
            memmove(in, in + whole, have - whole);
            have -= whole;
        }
        if (n == 0)
            break;
    }
    if (ferror(f))
        goto io;
    return 0;
io:
    aod_error_set(err, AOD_ERR_IO, NULL, 0, NULL, "cannot read back a temporary file");
    return -1;
out_io:
    aod_error_set(err, AOD_ERR_IO, NULL, 0, NULL, "write error");
    return -1;
}

static long long file_size(FILE *f)
{
    long size;

    if (fflush(f) != 0 || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0)
        return -1;
    return size;
}

/* Writes dump with each "HOLE" string replaced by its file's base64. */
static int write_with_holes(mhd_sink *m, const char *dump, aod_error *err)
{
    const char *holes[2] = {"\"" HOLE_READABLE "\"", "\"" HOLE_DOCUMENT "\""};
    FILE *files[2] = {m->readable_tmp, m->document_tmp};
    const char *p = dump;

    for (;;) {
        const char *next = NULL;
        int which = -1, k;
        size_t len;
        for (k = 0; k < 2; k++) {
            const char *at = files[k] ? strstr(p, holes[k]) : NULL;
            if (at && (!next || at < next)) {
                next = at;
                which = k;
            }
        }
        len = next ? (size_t)(next - p) + 1 : strlen(p); /* up to and with the quote */
        if (fwrite(p, 1, len, m->out) != len)
            goto io;
        if (!next)
            break;
        if (stream_base64(m, files[which], err) != 0)
            return -1;
        if (fputc('"', m->out) == EOF)
            goto io;
        p = next + strlen(holes[which]);
    }
    if (fflush(m->out) != 0 || ferror(m->out))
        goto io;
    return 0;
io:
    aod_error_set(err, AOD_ERR_IO, NULL, 0, NULL, "write error");
    return -1;
}

/* How many times needle occurs in hay. */
static int occurrences(const char *hay, const char *needle)
{
    int n = 0;

    while ((hay = strstr(hay, needle)) != NULL) {
        n++;
        hay += strlen(needle);
    }
    return n;
}

/* ------------------------------------------------------------- the sink */

static const char *readable_type(const mhd_sink *m)
{
    return m->doc == AOD_MHD_PDF ? "application/pdf" : "text/html";
}

/* The key the portal may know the patient by: the first system|value key
 * that is not an SSN, else the first Type/id reference as the audited
 * server knows it (doc/bundle.md's NamingSystem). */
static int pick_subject(mhd_sink *m, aod_error *err)
{
    size_t i;

    for (i = 0; i < m->info.n_patient_keys; i++) {
        const char *k = m->info.patient_keys[i], *bar = strchr(k, '|');
        if (bar && bar != k && bar[1] && !aod_text_key_is_ssn(k)) {
            m->subject_system_copy = malloc((size_t)(bar - k) + 1);
            if (!m->subject_system_copy) {
                aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
                return -1;
            }
            memcpy(m->subject_system_copy, k, (size_t)(bar - k));
            m->subject_system_copy[bar - k] = '\0';
            m->subject_system = m->subject_system_copy;
            m->subject_value = bar + 1;
            return 0;
        }
    }
    for (i = 0; i < m->info.n_patient_keys; i++) {
        const char *k = m->info.patient_keys[i];
        if (!strchr(k, '|')) {
            m->subject_system = AOD_BUNDLE_NS_AUDITED_REF;
            m->subject_value = k;
            return 0;
        }
    }
    aod_error_set(err, AOD_ERR_USAGE, "--patient", 0, NULL,
                  "an MHD submission names the patient by an identifier the portal knows, and "
                  "this report's keys offer none besides an SSN, which never leaves in full: "
                  "add the patient's MRN or FHIR reference as another --patient key");
    return -1;
}

static int mhd_begin(aod_sink *s, const aod_report_info *info, aod_error *err)
{
    mhd_sink *m = (mhd_sink *)s;

    if (!info || !info->policy) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "MHD: no report info or policy");
        return -1;
    }
    m->info = *info;
    m->policy = info->policy;
    if (pick_subject(m, err) != 0)
        return -1;
    make_seed(m);
    if (m->readable->begin(m->readable, info, err) != 0)
        return -1;
    return m->document ? m->document->begin(m->document, info, err) : 0;
}

static int mhd_entry(aod_sink *s, const aod_entry *e, aod_error *err)
{
    mhd_sink *m = (mhd_sink *)s;

    if (m->readable->entry(m->readable, e, err) != 0)
        return -1;
    return m->document ? m->document->entry(m->document, e, err) : 0;
}

static int mhd_end(aod_sink *s, const aod_report_summary *sum, aod_error *err)
{
    mhd_sink *m = (mhd_sink *)s;
    json_t *root = NULL;
    char *dump = NULL;
    long long rsize, dsize = 0;
    int rc = -1;

    if (m->readable->end(m->readable, sum, err) != 0)
        return -1;
    if (m->document && m->document->end(m->document, sum, err) != 0)
        return -1;
    rsize = file_size(m->readable_tmp);
    if (m->document_tmp)
        dsize = file_size(m->document_tmp);
    if (rsize < 0 || dsize < 0) {
        aod_error_set(err, AOD_ERR_IO, NULL, 0, NULL, "cannot measure a temporary file");
        return -1;
    }
    if (m->form == AOD_MHD_SIMPLIFIED) {
        root = document_reference(m, "readable", readable_type(m), rsize, NULL, HOLE_READABLE);
    } else {
        char list[9 + AOD_UUID_LEN], dr1[9 + AOD_UUID_LEN], bin1[9 + AOD_UUID_LEN];
        char dr2[9 + AOD_UUID_LEN], bin2[9 + AOD_UUID_LEN];
        const char *docs[2];
        json_t *entries = jarr(m), *me = jobj(m);

        urn_uuid(m, "SubmissionSet", list);
        urn_uuid(m, "DocumentReference readable", dr1);
        urn_uuid(m, "Binary readable", bin1);
        urn_uuid(m, "DocumentReference document", dr2);
        urn_uuid(m, "Binary document", bin2);
        docs[0] = dr1;
        docs[1] = dr2;
        root = jobj(m);
        put_str(m, root, "resourceType", "Bundle");
        put(m, me, "profile", json_pack("[s]", AOD_MHD_PROFILE_BUNDLE));
        put(m, me, "security",
            json_pack("[{s:s,s:s,s:s}]", "system", CS_CONF, "code", "R", "display", "restricted"));
        put(m, root, "meta", me);
        put_str(m, root, "type", "transaction");
        put(m, root, "timestamp", instant(m, m->info.now));
        push(m, entries, tx_entry(m, list, submission_set(m, docs, 2), "List"));
        push(m, entries,
             tx_entry(m, dr1,
                      document_reference(m, "readable", readable_type(m), rsize, bin1, NULL),
                      "DocumentReference"));
        push(m, entries, tx_entry(m, bin1, binary(m, readable_type(m), HOLE_READABLE), "Binary"));
        push(m, entries,
             tx_entry(m, dr2,
                      document_reference(m, "document", "application/fhir+json", dsize, bin2, NULL),
                      "DocumentReference"));
        push(m, entries,
             tx_entry(m, bin2, binary(m, "application/fhir+json", HOLE_DOCUMENT), "Binary"));
        put(m, root, "entry", entries);
    }
    if (m->nomem || !root)
        goto nomem;
    dump = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    if (!dump)
        goto nomem;
    /* a hole twice (a name that happens to spell one) would misplace bytes */
    if (occurrences(dump, HOLE_READABLE) != 1 ||
        occurrences(dump, HOLE_DOCUMENT) != (m->form == AOD_MHD_PROVIDE ? 1 : 0)) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL,
                      "MHD: an attachment placeholder occurs in the report's own text");
        goto out;
    }
    if (write_with_holes(m, dump, err) != 0 || fputc('\n', m->out) == EOF || fflush(m->out) != 0) {
        if (err->code == AOD_OK)
            aod_error_set(err, AOD_ERR_IO, NULL, 0, NULL, "write error");
        goto out;
    }
    rc = 0;
    goto out;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory writing the MHD submission");
out:
    free(dump);
    json_decref(root);
    return rc;
}

static void mhd_free(aod_sink *s)
{
    mhd_sink *m = (mhd_sink *)s;

    if (!m)
        return;
    if (m->readable)
        m->readable->free(m->readable);
    if (m->document)
        m->document->free(m->document);
    if (m->readable_tmp)
        fclose(m->readable_tmp);
    if (m->document_tmp)
        fclose(m->document_tmp);
    free(m->subject_system_copy);
    free(m);
}

aod_sink *aod_mhd_sink_new(FILE *out, aod_mhd_form form, aod_mhd_document doc,
                           const aod_pdf_options *pdf, const aod_sign_key *sign_key,
                           const aod_text *text, aod_error *err)
{
    mhd_sink *m;

    if (!out || !text) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "MHD sink: no output or templates");
        return NULL;
    }
    m = calloc(1, sizeof *m);
    if (!m) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return NULL;
    }
    m->base.begin = mhd_begin;
    m->base.entry = mhd_entry;
    m->base.end = mhd_end;
    m->base.free = mhd_free;
    m->out = out;
    m->form = form;
    m->doc = doc;
    m->text = text;
    m->readable_tmp = tmpfile();
    if (form == AOD_MHD_PROVIDE)
        m->document_tmp = tmpfile();
    if (!m->readable_tmp || (form == AOD_MHD_PROVIDE && !m->document_tmp)) {
        aod_error_set(err, AOD_ERR_IO, NULL, 0, NULL,
                      "cannot make a temporary file for the MHD attachments");
        goto fail;
    }
    if (doc == AOD_MHD_PDF) {
        m->readable = aod_pdf_sink_new(m->readable_tmp, pdf, text, err);
    } else {
        m->readable = aod_html_sink_new(m->readable_tmp, text, err);
    }
    if (!m->readable)
        goto fail;
    if (form == AOD_MHD_PROVIDE && !sign_key) {
        m->document = aod_bundle_sink_new(m->document_tmp, AOD_BUNDLE_JSON, text, err);
        if (!m->document)
            goto fail;
    } else if (form == AOD_MHD_PROVIDE) {
        /* the document is written to a file of its own, then signed */
        FILE *unsigned_tmp = tmpfile();
        aod_sink *inner;
        if (!unsigned_tmp) {
            aod_error_set(err, AOD_ERR_IO, NULL, 0, NULL,
                          "cannot make a temporary file for the document to sign");
            goto fail;
        }
        inner = aod_bundle_sink_new(unsigned_tmp, AOD_BUNDLE_JSON, text, err);
        if (!inner) {
            fclose(unsigned_tmp);
            goto fail;
        }
        m->document = aod_signature_sink_new(inner, unsigned_tmp, m->document_tmp, sign_key, err);
        if (!m->document)
            goto fail;
    }
    return &m->base;
fail:
    mhd_free(&m->base);
    return NULL;
}
