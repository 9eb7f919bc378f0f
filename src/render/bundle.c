/*
 * bundle.c - the FHIR R4 Document Bundle renderer (see bundle.h; the
 * document is described element by element in doc/bundle.md).
 *
 * Render stage.  The only file that knows FHIR's document shape.  Lines are
 * kept until end(); there the document is built as jansson values, one
 * resource at a time, with object keys inserted in R4 element order, and
 * each resource is written out and freed before the next is built.  The
 * same values feed both writers: a small walk writes them as JSON, exactly
 * as jansson's dump would (see "writers"), and another turns them into FHIR
 * XML through libxml2's xmlTextWriter (values in value attributes, extension
 * urls as attributes, the narrative div as XHTML).
 * So the two formats cannot drift apart, and the XML keeps R4's order
 * because the JSON was built in it.
 *
 * Narratives (text.div) are XHTML built with an xmlTextWriter into a
 * memory buffer: libxml2 does every escape.  Every string taken from the
 * audit data is cleaned first (invalid UTF-8 and control characters
 * replaced, ends trimmed) because XML 1.0 cannot carry control characters
 * and FHIR forbids empty or whitespace-only values.
 */
#include "render/bundle.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libxml/globals.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlwriter.h>

#include "base/buf.h"
#include "model/record.h"
#include "base/sha256.h"
#include "base/utf8.h"
#include "base/timefmt.h"

/* libxml2 takes const xmlChar *: a cast that keeps const (-Wcast-qual). */
#define CX (const xmlChar *)

#define FHIR_NS  "http://hl7.org/fhir"
#define XHTML_NS "http://www.w3.org/1999/xhtml"

#define SYS_URI             "urn:ietf:rfc:3986"
#define SYS_DCM             "http://dicom.nema.org/resources/ontology/DCM"
#define SYS_EVENT_TYPE      "http://terminology.hl7.org/CodeSystem/audit-event-type"
#define SYS_RESTFUL         "http://hl7.org/fhir/restful-interaction"
#define SYS_LIFECYCLE       "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
#define SYS_ENTITY_TYPE     "http://terminology.hl7.org/CodeSystem/audit-entity-type"
#define SYS_OBJECT_ROLE     "http://terminology.hl7.org/CodeSystem/object-role"
#define SYS_RESOURCE_TYPES  "http://hl7.org/fhir/resource-types"
#define SYS_CONFIDENTIALITY "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
#define SYS_INTEGRITY       "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
#define SYS_EMPTY_REASON    "http://terminology.hl7.org/CodeSystem/list-empty-reason"
#define SYS_LIST_ORDER      "http://terminology.hl7.org/CodeSystem/list-order"

/* The document lists disclosures of health information and the people who
 * saw it: restricted, whatever the audience (doc/bundle.md says why). */
#define CONFIDENTIALITY         "R"
#define CONFIDENTIALITY_DISPLAY "restricted"

#define JSON_FLAGS (JSON_INDENT(1) | JSON_PRESERVE_ORDER)
#define UUID_LEN   37 /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" and its NUL */
#define MAX_KINDS  32 /* distinct kinds of data described per line */

/* ------------------------------------------------------------- sections */

enum {
    SEC_SUMMARY,
    SEC_OVERVIEW, /* who did what: one line per person, organisation, system */
    SEC_LIST,     /* the disclosures (disclosures mode) or the accesses (access mode) */
    SEC_SUMMARISED,
    SEC_FAILED,
    SEC_WITHHELD,
    SEC_EXCLUSIONS,
    SEC_COMPLETENESS,
    SEC_N
};

/* Narrative table columns. */
enum {
    COL_DATE,
    COL_WHEN,
    COL_WHO,
    COL_RECIPIENT,
    COL_ROLE,
    COL_ORG,
    COL_ADDRESS,
    COL_ACTION,
    COL_DATA,
    COL_PURPOSE,
    COL_OUTCOME,
    COL_FIRST,
    COL_LAST,
    COL_COUNT,
    COL_REF,
    COL_N,
    COL_END = -1
};

static const char *const col_keys[COL_N] = {
    "bundle.col.date", "bundle.col.when",         "bundle.col.who",     "bundle.col.recipient",
    "bundle.col.role", "bundle.col.organisation", "bundle.col.address", "bundle.col.action",
    "bundle.col.data", "bundle.col.purpose",      "bundle.col.outcome", "bundle.col.first",
    "bundle.col.last", "bundle.col.count",        "bundle.col.ref"};

static const int cols_disclosures[] = {COL_DATE,    COL_RECIPIENT, COL_ADDRESS, COL_DATA,
                                       COL_PURPOSE, COL_REF,       COL_END};
static const int cols_summarised[] = {COL_RECIPIENT, COL_ADDRESS, COL_DATA, COL_PURPOSE, COL_FIRST,
                                      COL_LAST,      COL_COUNT,   COL_REF,  COL_END};
static const int cols_accesses[] = {COL_WHEN, COL_WHO,     COL_ROLE,  COL_ORG, COL_ACTION,
                                    COL_DATA, COL_PURPOSE, COL_COUNT, COL_REF, COL_END};
static const int cols_accesses_flagged[] = {COL_WHEN,   COL_WHO,  COL_ROLE,    COL_ORG,
                                            COL_ACTION, COL_DATA, COL_PURPOSE, COL_OUTCOME,
                                            COL_COUNT,  COL_REF,  COL_END};
static const int cols_failed[] = {COL_WHEN, COL_WHO,     COL_ROLE,    COL_ORG, COL_ACTION,
                                  COL_DATA, COL_PURPOSE, COL_OUTCOME, COL_REF, COL_END};
/* One AuditEvent's own narrative: label / value rows, empty ones left out. */
static const int rows_disclosure[] = {COL_DATE,    COL_RECIPIENT, COL_ROLE,    COL_ORG,
                                      COL_ADDRESS, COL_DATA,      COL_PURPOSE, COL_FIRST,
                                      COL_LAST,    COL_COUNT,     COL_REF,     COL_END};
static const int rows_access[] = {COL_WHEN,   COL_WHO,  COL_ROLE,    COL_ORG,
                                  COL_ACTION, COL_DATA, COL_PURPOSE, COL_OUTCOME,
                                  COL_COUNT,  COL_REF,  COL_END};

/* ----------------------------------------------------------------- state */

typedef struct line {
    aod_entry e;  /* strings borrowed from the report's pool */
    int64_t *ids; /* owned copy of e.record_ids */
    int section;
    char uuid[UUID_LEN];
} line;

typedef struct bundle_sink {
    aod_sink base; /* first: the sink functions get an aod_sink * */
    FILE *out;
    aod_bundle_format fmt;
    const aod_text *text;
    int begun, ended;
    aod_report_info info; /* copy; its pointers are borrowed */
    const aod_policy *policy;
    const aod_report_summary *sum;
    int privacy;
    unsigned char seed[AOD_SHA256_DIGEST_LEN];
    char uuid_composition[UUID_LEN], uuid_patient[UUID_LEN], uuid_org[UUID_LEN];
    char bundle_id[UUID_LEN + 9]; /* "urn:uuid:" + uuid */
    line *lines;
    size_t n_lines, cap_lines;
    size_t n_in[SEC_N];
    int any_masked, any_pseudo;
    int nomem;            /* building a value ran out of memory */
    aod_buf clean;        /* a cleaned string, reused */
    size_t clean_len;     /* the length of what clean() returned last */
    int write_failed;     /* writing the JSON failed (not memory) */
    aod_buf words;        /* an expanded template, reused */
    aod_buf cell;         /* a narrative cell, reused */
    aod_buf reason;       /* a line's reason in words, reused */
    aod_buf key;          /* a patient key in words (key_words) */
    aod_buf source;       /* a source system's name in words (source_name) */
    aod_buf entry;        /* entries shifted into place, not yet written */
    xmlBufferPtr xbuf;    /* a narrative div, reused */
    xmlTextWriterPtr xml; /* the XML document writer (XML output only) */
    size_t n_written;     /* entries written */
} bundle_sink;

/* ------------------------------------------------------------- cleaning */

enum { CLEAN_TEXT, CLEAN_CODE, CLEAN_URI };

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * A string from the audit data made fit for FHIR and XML 1.0, into s->clean:
 * invalid UTF-8, U+FFFE/U+FFFF and control characters other than TAB, LF
 * and CR become U+FFFD (a control character becomes a space); the ends are
 * trimmed.  CLEAN_CODE also folds each run of white space into one space
 * (FHIR code: no leading, trailing or double spaces); CLEAN_URI gives NULL
 * for a value with white space inside (not a URI).  Returns the cleaned string
 * (borrowed from s->clean, or in itself, until the next call; its length in
 * s->clean_len) or NULL when nothing is left (or out of memory, with s->nomem
 * set).
 */
static const char *clean(bundle_sink *s, const char *in, int mode)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t n, i = 0;
    int space = 0;
    const char *out;
    size_t len;

    if (!in)
        return NULL;
    n = strlen(in);
    /* Most values are printable ASCII with nothing to trim or fold: those
     * are their own clean form. */
    for (i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] > 0x7E)
            break;
        if (p[i] == ' ' &&
            (i == 0 || i == n - 1 || mode == CLEAN_URI || (mode == CLEAN_CODE && p[i - 1] == ' ')))
            break;
    }
    if (i == n) {
        s->clean_len = n;
        return n ? in : NULL;
    }
    i = 0;
    aod_buf_reset(&s->clean);
    while (i < n) {
        uint32_t cp;
        size_t k = aod_utf8_decode(p + i, n - i, &cp);
        int ws;

        if (k == 0) {
            if (aod_buf_adds(&s->clean, "\xEF\xBF\xBD") != 0)
                goto nomem;
            i++;
            space = 0;
            continue;
        }
        ws = cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp < 0x20;
        if (mode == CLEAN_CODE && ws) {
            if (!space && aod_buf_addc(&s->clean, ' ') != 0)
                goto nomem;
            space = 1;
        } else if (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') {
            if (aod_buf_addc(&s->clean, ' ') != 0)
                goto nomem;
        } else if (cp == 0xFFFE || cp == 0xFFFF) {
            if (aod_buf_adds(&s->clean, "\xEF\xBF\xBD") != 0)
                goto nomem;
            space = 0;
        } else {
            if (aod_buf_add(&s->clean, p + i, k) != 0)
                goto nomem;
            space = 0;
        }
        i += k;
    }
    out = aod_buf_str(&s->clean);
    len = s->clean.len;
    while (len > 0 && is_ws(out[len - 1]))
        len--;
    s->clean.data[len] = '\0';
    s->clean.len = len;
    while (*out && is_ws(*out))
        out++;
    if (mode == CLEAN_URI && strpbrk(out, " \t\n\r"))
        return NULL; /* white space inside: not a URI */
    s->clean_len = len - (size_t)(out - s->clean.data);
    return *out ? out : NULL;
nomem:
    s->nomem = 1;
    return NULL;
}

static int has(const char *str)
{
    return str && *str;
}

/* ------------------------------------------------------------ templates */

/* The words for key; the key itself when the templates lack it (a test
 * checks that none is missing, so a reader never sees one). */
static const char *words(const bundle_sink *s, const char *key)
{
    const char *w = aod_text_get(s->text, key);

    return w ? w : key;
}

/* The template key expanded with vars, into s->words (borrowed until the
 * next call); NULL with s->nomem set when out of memory. */
static const char *expand(bundle_sink *s, const char *key, const char *const *vars)
{
    aod_error ignored;

    aod_error_init(&ignored);
    aod_buf_reset(&s->words);
    if (aod_text_expand(&s->words, words(s, key), vars, &ignored) != 0) {
        s->nomem = 1;
        return NULL;
    }
    return aod_buf_str(&s->words);
}

/* The phrase base.one or base.other for n ("1 audit record"), into b
 * (reset first); "" with s->nomem set when out of memory. */
static const char *phrase(bundle_sink *s, aod_buf *b, const char *base, int64_t n)
{
    char key[96], d[32];
    const char *vars[3];
    aod_error ignored;

    snprintf(key, sizeof key, "%s.%s", base, n == 1 ? "one" : "other");
    snprintf(d, sizeof d, "%" PRId64, n);
    vars[0] = "n";
    vars[1] = d;
    vars[2] = NULL;
    aod_error_init(&ignored);
    aod_buf_reset(b);
    if (aod_text_expand(b, words(s, key), vars, &ignored) != 0) {
        s->nomem = 1;
        return "";
    }
    return aod_buf_str(b);
}

/* The key base.one when n is 1, else base.other (the sentence's verb
 * agrees with n). */
static const char *by_n(char *key, size_t size, const char *base, int64_t n)
{
    snprintf(key, size, "%s.%s", base, n == 1 ? "one" : "other");
    return key;
}

/* ---------------------------------------------------------- identifiers */

/* v in decimal, as "%" PRIu64 writes it, ending at end (not NUL
 * terminated); returns where the digits start.  Identifiers are made for
 * every entry of a large document, and snprintf was a visible part of it. */
static char *decimal(uint64_t v, char *end)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

/* n in decimal into buf (at least 21 bytes), as "%" PRId64 and "%ld"
 * write it. */
static const char *num(char *buf, size_t size, int64_t n)
{
    char *end = buf + size - 1, *p;

    *end = '\0';
    p = decimal(n < 0 ? 0 - (uint64_t)n : (uint64_t)n, end);
    if (n < 0)
        *--p = '-';
    return memmove(buf, p, (size_t)(end - p) + 1);
}

static void hash_bytes(aod_sha256_ctx *h, const char *str, size_t n)
{
    char len[24], *p = decimal(n, len + sizeof len - 1);

    /* Length-prefixed, so ("ab", "c") and ("a", "bc") hash apart. */
    len[sizeof len - 1] = ':';
    aod_sha256_update(h, p, (size_t)(len + sizeof len - p));
    aod_sha256_update(h, str, n);
}

static void hash_str(aod_sha256_ctx *h, const char *str)
{
    hash_bytes(h, str ? str : "", str ? strlen(str) : 0);
}

static void hash_int(aod_sha256_ctx *h, int64_t v)
{
    char digits[24];

    hash_str(h, num(digits, sizeof digits, v));
}

/* A name-based UUID: SHA-256 of the seed, kind and n, as a version-8 UUID
 * (sha256.h says why not version 5). */
static void make_uuid(const bundle_sink *s, const char *kind, int64_t n, int64_t group,
                      char out[UUID_LEN])
{
    aod_sha256_ctx h;
    unsigned char d[AOD_SHA256_DIGEST_LEN];

    aod_sha256_init(&h);
    aod_sha256_update(&h, s->seed, sizeof s->seed);
    hash_str(&h, kind);
    hash_int(&h, n);
    hash_int(&h, group);
    aod_sha256_final(&h, d);
    aod_sha256_uuid(d, out);
}

/* The seed: everything that makes this document what it is. */
static void make_seed(bundle_sink *s)
{
    const aod_report_info *in = &s->info;
    aod_sha256_ctx h;
    size_t i;

    aod_sha256_init(&h);
    hash_str(&h, "aodreport FHIR document 1");
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
    hash_str(&h, s->policy->name);
    hash_str(&h, s->policy->organisation.name);
    aod_sha256_final(&h, s->seed);
}

static void urn(const char *uuid, char out[UUID_LEN + 9])
{
    memcpy(out, "urn:uuid:", 9);
    memcpy(out + 9, uuid, UUID_LEN); /* its NUL included */
}

/* ---------------------------------------------------------- JSON values */

/* Each builder returns a new value, or NULL when there is nothing to say or
 * when out of memory (then s->nomem is set and the document is abandoned). */

static json_t *oom(bundle_sink *s)
{
    s->nomem = 1;
    return NULL;
}

static json_t *jobj(bundle_sink *s)
{
    json_t *o = json_object();

    return o ? o : oom(s);
}

static json_t *jarr(bundle_sink *s)
{
    json_t *a = json_array();

    return a ? a : oom(s);
}

/* A string value, cleaned; NULL when absent. */
static json_t *jstr(bundle_sink *s, const char *raw, int mode)
{
    const char *c = clean(s, raw, mode);
    json_t *v;

    if (!c)
        return NULL;
    v = json_stringn_nocheck(c, s->clean_len); /* clean() made it valid UTF-8 */
    return v ? v : oom(s);
}

/* A string the program made itself (codes, URIs, times): no cleaning. */
static json_t *jlit(bundle_sink *s, const char *str)
{
    json_t *v = json_string_nocheck(str);

    return v ? v : oom(s);
}

static json_t *jint(bundle_sink *s, long n)
{
    json_t *v = json_integer(n > INT32_MAX ? INT32_MAX : n); /* FHIR integer is 32-bit */

    return v ? v : oom(s);
}

static int is_empty(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) == 0) ||
           (json_is_array(v) && json_array_size(v) == 0);
}

/* Sets key of o to v (stolen).  A NULL, empty object or empty array is
 * left out: FHIR JSON has no null and no empty values. */
static void put(bundle_sink *s, json_t *o, const char *key, json_t *v)
{
    if (!v)
        return;
    if (!o || is_empty(v)) {
        json_decref(v);
        return;
    }
    /* keys are FHIR element names, written here */
    if (json_object_set_new_nocheck(o, key, v) != 0)
        s->nomem = 1;
}

/* Appends v (stolen) to a, with the same rules as put(). */
static void push(bundle_sink *s, json_t *a, json_t *v)
{
    if (!v)
        return;
    if (!a || is_empty(v)) {
        json_decref(v);
        return;
    }
    if (json_array_append_new(a, v) != 0)
        s->nomem = 1;
}

static void put_lit(bundle_sink *s, json_t *o, const char *key, const char *str)
{
    if (str)
        put(s, o, key, jlit(s, str));
}

static void put_str(bundle_sink *s, json_t *o, const char *key, const char *raw, int mode)
{
    put(s, o, key, jstr(s, raw, mode));
}

static json_t *coding(bundle_sink *s, const char *system, const char *code, const char *display)
{
    json_t *c = jobj(s);

    put_str(s, c, "system", system, CLEAN_URI);
    put_str(s, c, "code", code, CLEAN_CODE);
    put_str(s, c, "display", display, CLEAN_TEXT);
    return c;
}

/* A CodeableConcept of one coding and a text. */
static json_t *concept(bundle_sink *s, const char *system, const char *code, const char *display,
                       const char *text)
{
    json_t *cc = jobj(s), *codings = jarr(s);

    if (has(code))
        push(s, codings, coding(s, system, code, display));
    put(s, cc, "coding", codings);
    put_str(s, cc, "text", text, CLEAN_TEXT);
    return cc;
}

static json_t *reference(bundle_sink *s, const char *uuid, const char *display)
{
    json_t *r = jobj(s);
    char u[UUID_LEN + 9];

    if (uuid) {
        urn(uuid, u);
        put_lit(s, r, "reference", u);
    }
    put_str(s, r, "display", display, CLEAN_TEXT);
    return r;
}

static json_t *instant(bundle_sink *s, int64_t ms)
{
    char t[32];

    return jlit(s, aod_time_format_utc(ms, t, sizeof t));
}

static json_t *period(bundle_sink *s, int64_t start, int64_t end)
{
    json_t *p = jobj(s);

    if (end < start)
        end = start;
    put(s, p, "start", instant(s, start));
    put(s, p, "end", instant(s, end));
    return p;
}

static json_t *extension(bundle_sink *s, const char *url, const char *type, json_t *value)
{
    json_t *x;

    if (!value)
        return NULL;
    x = jobj(s);
    put_lit(s, x, "url", url);
    put(s, x, type, value);
    return x;
}

static json_t *security(bundle_sink *s, int masked, int pseudo)
{
    json_t *a = jarr(s);

    push(s, a, coding(s, SYS_CONFIDENTIALITY, CONFIDENTIALITY, CONFIDENTIALITY_DISPLAY));
    if (masked)
        push(s, a, coding(s, SYS_INTEGRITY, "MASKED", "masked"));
    if (pseudo)
        push(s, a, coding(s, SYS_INTEGRITY, "PSEUDED", "pseudonymized"));
    return a;
}

/* --------------------------------------------------------- XHTML narrative */

typedef struct xhtml {
    xmlTextWriterPtr w;
    int bad;
} xhtml;

static void xh_check(xhtml *x, int rc)
{
    if (rc < 0)
        x->bad = 1;
}

static void xh_open(bundle_sink *s, xhtml *x)
{
    xmlBufferEmpty(s->xbuf);
    x->bad = 0;
    x->w = xmlNewTextWriterMemory(s->xbuf, 0);
    if (!x->w) {
        x->bad = 1;
        return;
    }
    xh_check(x, xmlTextWriterStartElement(x->w, CX "div"));
    xh_check(x, xmlTextWriterWriteAttribute(x->w, CX "xmlns", CX XHTML_NS));
}

static void xh_start(xhtml *x, const char *el)
{
    if (x->w)
        xh_check(x, xmlTextWriterStartElement(x->w, CX el));
}

static void xh_end(xhtml *x)
{
    /* <td></td>, never <td/>: some HTML renderers misread the short form. */
    if (x->w)
        xh_check(x, xmlTextWriterFullEndElement(x->w));
}

/* Text (cleaned; libxml2 escapes it). */
static void xh_text(bundle_sink *s, xhtml *x, const char *raw)
{
    const char *c = clean(s, raw, CLEAN_TEXT);

    if (c && x->w)
        xh_check(x, xmlTextWriterWriteString(x->w, CX c));
}

static void xh_el(bundle_sink *s, xhtml *x, const char *el, const char *raw)
{
    xh_start(x, el);
    xh_text(s, x, raw);
    xh_end(x);
}

/* Ends the div and returns {"status": "generated", "div": ...}. */
static json_t *xh_close(bundle_sink *s, xhtml *x)
{
    json_t *n;

    if (x->w) {
        xh_end(x);
        xh_check(x, xmlTextWriterFlush(x->w));
        xmlFreeTextWriter(x->w);
        x->w = NULL;
    }
    if (x->bad)
        return oom(s);
    n = jobj(s);
    put_lit(s, n, "status", "generated");
    put(s, n, "div", jlit(s, (const char *)xmlBufferContent(s->xbuf)));
    return n;
}

/* ------------------------------------------------------------ line words */

static int is_disclosure(const aod_entry *e)
{
    return e->cls == AOD_CLASS_DISCLOSURE || e->cls == AOD_CLASS_EXCLUDED;
}

/* "2025-01-02 05:00" in the policy's zone, into out. */
static const char *date_time(int64_t ms, char *out, size_t size)
{
    return aod_timefmt_minute(ms, out, size);
}

/* A point, or "{from} to {to}" for a range, into s->cell. */
static const char *when_words(bundle_sink *s, int64_t a, int64_t b, int with_time)
{
    char x[40], y[40];
    const char *vars[5];
    const char *r;

    if (with_time) {
        date_time(a, x, sizeof x);
        date_time(b, y, sizeof y);
    } else {
        aod_timefmt_date(a, x, sizeof x);
        aod_timefmt_date(b, y, sizeof y);
    }
    if (b <= a || strcmp(x, y) == 0) {
        aod_buf_reset(&s->cell);
        if (aod_buf_adds(&s->cell, x) != 0)
            s->nomem = 1;
        return aod_buf_str(&s->cell);
    }
    vars[0] = "from";
    vars[1] = x;
    vars[2] = "to";
    vars[3] = y;
    vars[4] = NULL;
    r = expand(s, "bundle.range", vars);
    aod_buf_reset(&s->cell);
    if (r && aod_buf_adds(&s->cell, r) != 0)
        s->nomem = 1;
    return aod_buf_str(&s->cell);
}

/* The kinds of data of a line, one by one ("Observation,DiagnosticReport"):
 * calls fn for each distinct kind. */
typedef void (*kind_fn)(bundle_sink *s, void *ctx, const char *kind);

static void each_kind(bundle_sink *s, const char *list, kind_fn fn, void *ctx)
{
    char seen[MAX_KINDS][64];
    size_t n_seen = 0, i;
    const char *p = list;

    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len;

        if (!end)
            end = p + strlen(p);
        while (p < end && *p == ' ')
            p++;
        len = (size_t)(end - p);
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len > 0 && len < sizeof seen[0] && n_seen < MAX_KINDS) {
            memcpy(seen[n_seen], p, len);
            seen[n_seen][len] = '\0';
            for (i = 0; i < n_seen && strcmp(seen[i], seen[n_seen]) != 0; i++)
                ;
            if (i == n_seen)
                fn(s, ctx, seen[n_seen++]);
        }
        p = *end ? end + 1 : end;
    }
}

static void kind_words(bundle_sink *s, void *ctx, const char *kind)
{
    aod_buf *b = ctx;
    const char *w = aod_text_shown(s->text, "resource", kind, NULL, !s->privacy);

    /* Two kinds may share words ("clinical documents"): say them once. */
    if (b->len && strstr(aod_buf_str(b), w))
        return;
    if ((b->len && aod_buf_adds(b, "; ") != 0) || aod_buf_adds(b, w) != 0)
        s->nomem = 1;
}

/* What was done: the subtype's words when the templates have them, else
 * the action's (as the CSV says it). */
static const char *action_words(const bundle_sink *s, const aod_entry *e)
{
    char key[16];

    /* classify's reading of the whole event comes first (report.h) */
    if (has(e->activity))
        return aod_text_code(s->text, "activity", e->activity, NULL);
    if (has(e->subtype_code)) {
        const char *w = aod_text_code(s->text, "subtype", e->subtype_code, NULL);
        if (w != e->subtype_code) /* the code itself comes back when no words exist */
            return w;
    }
    if (!e->action)
        return NULL;
    snprintf(key, sizeof key, "action.%c", e->action);
    return aod_text_get(s->text, key);
}

/* The recorded basis, else the evidence, else "no reason was recorded"
 * (issue 16 point 3), as every output says it. */
static const char *purpose_words(bundle_sink *s, const aod_entry *e)
{
    const char *t =
        aod_text_reason(s->text, aod_reason_name(e->reason), e->purpose_code, e->purpose_display,
                        e->reason_evidence, !s->privacy, &s->reason);

    if (!has(t))
        s->nomem = 1;
    return t;
}

/* The value of one column for a line (borrowed: from the line, the
 * templates or s->cell, until the next call); NULL when empty. */
static const char *cell(bundle_sink *s, const aod_entry *e, int col)
{
    switch (col) {
    case COL_DATE:
        return when_words(s, e->when_start, e->when_end, 0);
    case COL_WHEN:
        if (e->flags & (AOD_ENTRY_SESSION | AOD_ENTRY_SUMMARY))
            return when_words(s, e->first, e->last, 1);
        return when_words(s, e->when_start, e->when_end, 1);
    case COL_WHO:
    case COL_RECIPIENT:
        return e->shown_name;
    case COL_ROLE:
        return e->shown_role;
    case COL_ORG:
        /* Said once: the organisation tier already names it as the who. */
        return has(e->shown_name) && has(e->shown_organisation) &&
                       strcmp(e->shown_name, e->shown_organisation) == 0
                   ? NULL
                   : e->shown_organisation;
    case COL_ADDRESS:
        return e->shown_address;
    case COL_ACTION:
        return action_words(s, e);
    case COL_DATA:
        if (has(e->data))
            return e->data;
        aod_buf_reset(&s->cell);
        each_kind(s, e->data_kinds, kind_words, &s->cell);
        return s->cell.len ? aod_buf_str(&s->cell) : NULL;
    case COL_PURPOSE:
        return purpose_words(s, e);
    case COL_REF:
        return e->ref;
    case COL_OUTCOME:
        if (!has(e->outcome) && !(e->flags & AOD_ENTRY_FAILED))
            return NULL;
        return has(e->outcome) ? aod_text_code(s->text, "outcome", e->outcome, NULL)
                               : words(s, "bundle.failed");
    case COL_FIRST:
        return (e->flags & AOD_ENTRY_SUMMARY) ? when_words(s, e->first, e->first, 0) : NULL;
    case COL_LAST:
        return (e->flags & AOD_ENTRY_SUMMARY) ? when_words(s, e->last, e->last, 0) : NULL;
    case COL_COUNT: {
        char digits[24];
        aod_buf_reset(&s->cell);
        if (aod_buf_adds(&s->cell, num(digits, sizeof digits, e->count > 0 ? e->count : 1)) != 0)
            s->nomem = 1;
        return aod_buf_str(&s->cell);
    }
    default:
        return NULL;
    }
}

/* ------------------------------------------------------------- AuditEvent */

static const char *const restful_codes[] = {"read",
                                            "vread",
                                            "update",
                                            "patch",
                                            "delete",
                                            "create",
                                            "history",
                                            "history-instance",
                                            "history-type",
                                            "history-system",
                                            "search",
                                            "search-type",
                                            "search-system",
                                            "search-compartment",
                                            "capabilities",
                                            "transaction",
                                            "batch",
                                            "operation",
                                            NULL};

static const char *const lifecycle_codes[] = {
    "access",       "disclose",   "transmit", "receive",    "export",  "import",
    "extract",      "originate",  "amend",    "archive",    "destroy", "deidentify",
    "pseudonymize", "reidentify", "merge",    "unmerge",    "link",    "unlink",
    "report",       "verify",     "hold",     "unhold",     "attest",  "add-legal",
    "remove-legal", "decrypt",    "encrypt",  "reactivate", "restore", "translate",
    "transform",    "deactivate", NULL};

static int in_list(const char *const *list, const char *code)
{
    for (; *list; list++)
        if (strcmp(*list, code) == 0)
            return 1;
    return 0;
}

static json_t *event_type(bundle_sink *s, const aod_entry *e)
{
    const char *c = e->type_code;

    if (!has(c)) {
        /* No type recorded: say what the line is, in DICOM's terms. */
        return is_disclosure(e) ? coding(s, SYS_DCM, "110106", "Export")
                                : coding(s, SYS_DCM, "110110", "Patient Record");
    }
    if (strlen(c) == 6 && strncmp(c, "1101", 4) == 0 && strspn(c, "0123456789") == 6)
        return coding(s, SYS_DCM, c, NULL);
    if (strcmp(c, "rest") == 0)
        return coding(s, SYS_EVENT_TYPE, c, NULL);
    return coding(s, NULL, c, NULL);
}

static json_t *event_subtype(bundle_sink *s, const aod_entry *e)
{
    const char *c = e->subtype_code;
    json_t *a;

    if (!has(c))
        return NULL;
    a = jarr(s);
    if (in_list(restful_codes, c))
        push(s, a, coding(s, SYS_RESTFUL, c, NULL));
    else if (in_list(lifecycle_codes, c))
        push(s, a, coding(s, SYS_LIFECYCLE, c, NULL));
    else
        push(s, a, coding(s, NULL, c, NULL));
    return a;
}

/* The actor as the reader may see it: the masked fields, nothing else. */
static json_t *shown_agent(bundle_sink *s, const aod_entry *e, int disclosure)
{
    json_t *a = jobj(s), *ext = jarr(s), *roles = jarr(s);

    push(s, ext,
         extension(s, AOD_BUNDLE_EXT_SHOWN_ORG, "valueString",
                   jstr(s, e->shown_organisation, CLEAN_TEXT)));
    push(s, ext,
         extension(s, AOD_BUNDLE_EXT_SHOWN_ADDR, "valueString",
                   jstr(s, e->shown_address, CLEAN_TEXT)));
    put(s, a, "extension", ext);
    if (disclosure)
        put(s, a, "type", concept(s, SYS_DCM, "110152", "Destination Role ID", NULL));
    push(s, roles, concept(s, NULL, NULL, NULL, e->shown_role));
    put(s, a, "role", roles);
    put(s, a, "who", reference(s, NULL, e->shown_name));
    put(s, a, "requestor", json_boolean(!disclosure));
    return a;
}

static void data_entity(bundle_sink *s, void *ctx, const char *kind)
{
    json_t *list = ctx, *ent = jobj(s);

    put(s, ent, "type", coding(s, SYS_RESOURCE_TYPES, kind, NULL));
    put(s, ent, "role", coding(s, SYS_OBJECT_ROLE, "4", "Domain Resource"));
    put_str(s, ent, "description", aod_text_shown(s->text, "resource", kind, NULL, !s->privacy),
            CLEAN_TEXT);
    push(s, list, ent);
}

static json_t *entities(bundle_sink *s, const aod_entry *e)
{
    json_t *a = jarr(s), *pat = jobj(s);

    put(s, pat, "what", reference(s, s->uuid_patient, NULL));
    put(s, pat, "type", coding(s, SYS_ENTITY_TYPE, "1", "Person"));
    put(s, pat, "role", coding(s, SYS_OBJECT_ROLE, "1", "Patient"));
    push(s, a, pat);
    if (has(e->data)) {
        json_t *d = jobj(s);
        put(s, d, "role", coding(s, SYS_OBJECT_ROLE, "4", "Domain Resource"));
        put_str(s, d, "description", e->data, CLEAN_TEXT);
        push(s, a, d);
    }
    each_kind(s, e->data_kinds, data_entity, a);
    return a;
}

static json_t *event_extensions(bundle_sink *s, const aod_entry *e)
{
    json_t *a = jarr(s);
    size_t i;

    if (e->raw_count > 0)
        push(s, a, extension(s, AOD_BUNDLE_EXT_RAW_COUNT, "valueInteger", jint(s, e->raw_count)));
    if (e->count > 0)
        push(s, a, extension(s, AOD_BUNDLE_EXT_EVENT_COUNT, "valueInteger", jint(s, e->count)));
    /* the line's reference and the basis of its reason (issue 16) */
    if (has(e->ref))
        push(s, a, extension(s, AOD_BUNDLE_EXT_LINE_REF, "valueString", jlit(s, e->ref)));
    push(s, a,
         extension(s, AOD_BUNDLE_EXT_REASON, "valueCode", jlit(s, aod_reason_name(e->reason))));
    if (has(e->reason_evidence))
        push(s, a,
             extension(s, AOD_BUNDLE_EXT_REASON_EVIDENCE, "valueString",
                       jstr(s, e->reason_evidence, CLEAN_TEXT)));
    for (i = 0; i < AOD_ENTRY_FLAG_COUNT; i++)
        /* a code without words and a name left out are the privacy
         * office's to-do, not the patient's */
        if ((e->flags & (1u << i)) && (s->privacy || ((1u << i) != AOD_ENTRY_NO_WORDS &&
                                                      (1u << i) != AOD_ENTRY_NAME_WITHHELD)))
            push(s, a,
                 extension(s, AOD_BUNDLE_EXT_FLAG, "valueCode",
                           jlit(s, aod_entry_flag_name(1u << i))));
    if (!s->privacy)
        return a;
    /* How the tool decided: for the privacy office only. */
    push(s, a, extension(s, AOD_BUNDLE_EXT_CLASS, "valueCode", jlit(s, aod_class_name(e->cls))));
    if (e->cls == AOD_CLASS_EXCLUDED && e->exclusion != AOD_EXCL_NONE)
        push(s, a,
             extension(s, AOD_BUNDLE_EXT_EXCLUSION, "valueCode",
                       jlit(s, aod_policy_exclusion_key(e->exclusion))));
    push(s, a, extension(s, AOD_BUNDLE_EXT_RULE, "valueString", jstr(s, e->rule_id, CLEAN_TEXT)));
    if (e->group > 0)
        push(s, a, extension(s, AOD_BUNDLE_EXT_GROUP, "valueInteger", jint(s, e->group)));
    if (e->n_record_ids > 0) {
        aod_buf_reset(&s->cell);
        for (i = 0; i < e->n_record_ids; i++)
            if (aod_buf_printf(&s->cell, i ? " %" PRId64 : "%" PRId64, e->record_ids[i]) != 0)
                s->nomem = 1;
        push(
            s, a,
            extension(s, AOD_BUNDLE_EXT_RECORD_IDS, "valueString", jlit(s, aod_buf_str(&s->cell))));
    }
    if (e->access_flags) {
        aod_buf_reset(&s->cell);
        for (i = 0; i < AOD_AFLAG_COUNT; i++) {
            char key[64];
            const char *w;
            if (!(e->access_flags & (1u << i)))
                continue;
            push(s, a,
                 extension(s, AOD_BUNDLE_EXT_ACCESS_FLAG, "valueCode",
                           jlit(s, aod_policy_access_flag_id((aod_access_flag)i))));
            snprintf(key, sizeof key, "access-flag.%s",
                     aod_policy_access_flag_id((aod_access_flag)i));
            w = aod_text_get(s->text, key);
            if ((s->cell.len && aod_buf_addc(&s->cell, ' ') != 0) ||
                aod_buf_adds(&s->cell, w ? w : key) != 0)
                s->nomem = 1;
        }
        if (has(e->access_evidence))
            push(s, a,
                 extension(s, AOD_BUNDLE_EXT_ACCESS_EVIDENCE, "valueString",
                           jstr(s, e->access_evidence, CLEAN_TEXT)));
        push(s, a,
             extension(s, AOD_BUNDLE_EXT_ACCESS_WORDS, "valueString",
                       jstr(s, aod_buf_str(&s->cell), CLEAN_TEXT)));
    }
    return a;
}

static json_t *event_narrative(bundle_sink *s, const aod_entry *e)
{
    const int *rows = is_disclosure(e) ? rows_disclosure : rows_access;
    xhtml x;

    xh_open(s, &x);
    xh_start(&x, "table");
    xh_start(&x, "tbody");
    for (; *rows != COL_END; rows++) {
        const char *v;
        if (*rows == COL_COUNT && e->count <= 1)
            continue;
        v = cell(s, e, *rows);
        if (!clean(s, v, CLEAN_TEXT))
            continue;
        xh_start(&x, "tr");
        xh_el(s, &x, "th", words(s, col_keys[*rows]));
        xh_el(s, &x, "td", cell(s, e, *rows));
        xh_end(&x);
    }
    xh_end(&x);
    xh_end(&x);
    return xh_close(s, &x);
}

static json_t *audit_event(bundle_sink *s, const line *l)
{
    const aod_entry *e = &l->e;
    json_t *r = jobj(s), *meta = jobj(s), *agents = jarr(s), *src = jobj(s);
    int disclosure = is_disclosure(e);
    int ranged = (e->flags & (AOD_ENTRY_SUMMARY | AOD_ENTRY_SESSION)) != 0;
    char action[2];

    put_lit(s, r, "resourceType", "AuditEvent");
    put(s, meta, "security",
        security(s, e->tier >= AOD_TIER_ROLE_UNIT, e->tier == AOD_TIER_PSEUDONYM));
    put(s, r, "meta", meta);
    put(s, r, "text", event_narrative(s, e));
    put(s, r, "extension", event_extensions(s, e));
    put(s, r, "type", event_type(s, e));
    put(s, r, "subtype", event_subtype(s, e));
    if (e->action && strchr("CRUDE", e->action)) {
        action[0] = e->action;
        action[1] = '\0';
        put_lit(s, r, "action", action);
    }
    put(s, r, "period",
        ranged ? period(s, e->first, e->last) : period(s, e->when_start, e->when_end));
    put(s, r, "recorded", instant(s, e->recorded > 0 ? e->recorded : e->when_start));
    if (has(e->outcome) && (strcmp(e->outcome, "0") == 0 || strcmp(e->outcome, "4") == 0 ||
                            strcmp(e->outcome, "8") == 0 || strcmp(e->outcome, "12") == 0))
        put_lit(s, r, "outcome", e->outcome);
    if (has(e->purpose_code) || has(e->purpose_display)) {
        json_t *p = jarr(s);
        push(s, p,
             concept(s, e->purpose_system, e->purpose_code, e->purpose_display,
                     purpose_words(s, e)));
        put(s, r, "purposeOfEvent", p);
    }
    if (disclosure) {
        /* The covered entity disclosed; the recipient received (the shape
         * of HL7's disclosure example). */
        json_t *src_agent = jobj(s);
        put(s, src_agent, "type", concept(s, SYS_DCM, "110153", "Source Role ID", NULL));
        put(s, src_agent, "who", reference(s, s->uuid_org, s->policy->organisation.name));
        put(s, src_agent, "requestor", json_true());
        push(s, agents, src_agent);
    }
    push(s, agents, shown_agent(s, e, disclosure));
    put(s, r, "agent", agents);
    put_str(s, src, "site", e->where, CLEAN_TEXT);
    put(s, src, "observer", reference(s, s->uuid_org, s->policy->organisation.name));
    put(s, r, "source", src);
    put(s, r, "entity", entities(s, e));
    return r;
}

/* ------------------------------------------------ Patient, Organization */

/* Appends str (may be NULL after a failed expand) to s->cell. */
static void cell_add(bundle_sink *s, const char *sep, const char *str)
{
    if (!str)
        return;
    if ((s->cell.len && aod_buf_adds(&s->cell, sep) != 0) || aod_buf_adds(&s->cell, str) != 0)
        s->nomem = 1;
}

/* "Questions about this report: {office}" and the ways to reach it. */
static void contact_narrative(bundle_sink *s, xhtml *x)
{
    const aod_policy *p = s->policy;

    if (!has(p->organisation.privacy_name))
        return;
    aod_buf_reset(&s->cell);
    cell_add(s, " ",
             expand(s, "bundle.contact",
                    (const char *const[]){"office", p->organisation.privacy_name, NULL}));
    if (has(p->organisation.privacy_phone))
        cell_add(s, " ",
                 expand(s, "bundle.contact.phone",
                        (const char *const[]){"phone", p->organisation.privacy_phone, NULL}));
    if (has(p->organisation.privacy_email))
        cell_add(s, " ",
                 expand(s, "bundle.contact.email",
                        (const char *const[]){"email", p->organisation.privacy_email, NULL}));
    xh_el(s, x, "p", aod_buf_str(&s->cell));
}

static json_t *patient_identifier(bundle_sink *s, const char *key)
{
    json_t *id = jobj(s);
    const char *bar = strchr(key, '|');

    if (bar) {
        /* "system|value": the system is cleaned in a copy of its own. */
        char *sys = malloc((size_t)(bar - key) + 1);
        if (!sys) {
            json_decref(id);
            return oom(s);
        }
        memcpy(sys, key, (size_t)(bar - key));
        sys[bar - key] = '\0';
        put_str(s, id, "system", sys, CLEAN_URI);
        free(sys);
        if (aod_text_key_is_ssn(key)) {
            /* every copy keeps the last four digits only (text.h): a full
             * SSN never leaves, not even in the privacy office's copy,
             * which is as likely to be forwarded or filed elsewhere */
            size_t n = strlen(bar + 1);
            char masked[16];
            snprintf(masked, sizeof masked, "***-**-%s", n >= 4 ? bar + 1 + n - 4 : "");
            put_str(s, id, "value", masked, CLEAN_TEXT);
        } else {
            put_str(s, id, "value", bar + 1, CLEAN_TEXT);
        }
    } else {
        /* "Patient/123": a reference as the audited server knows it. */
        put_lit(s, id, "system", AOD_BUNDLE_NS_AUDITED_REF);
        put_str(s, id, "value", key, CLEAN_TEXT);
    }
    if (!json_object_get(id, "value")) {
        json_decref(id);
        return NULL;
    }
    return id;
}

/* A patient key as the narrative shows it (text.h: an SSN by its last four
 * digits only); borrowed from s->key, valid until the next call. */
static const char *key_words(bundle_sink *s, const char *key)
{
    aod_error err;

    aod_error_init(&err);
    aod_buf_reset(&s->key);
    if (aod_text_patient_key(s->text, key, &s->key, &err) != 0) {
        s->nomem = 1;
        return "";
    }
    return aod_buf_str(&s->key);
}

static const char *patient_words(bundle_sink *s)
{
    if (has(s->info.patient_name))
        return s->info.patient_name;
    if (s->info.n_patient_keys > 0)
        return key_words(s, s->info.patient_keys[0]);
    return words(s, "bundle.patient.unknown");
}

static json_t *patient(bundle_sink *s)
{
    json_t *r = jobj(s), *ids = jarr(s), *names = jarr(s), *name = jobj(s);
    xhtml x;
    size_t i;

    put_lit(s, r, "resourceType", "Patient");
    xh_open(s, &x);
    xh_el(s, &x, "p",
          expand(s, "bundle.patient.narrative",
                 (const char *const[]){"patient", patient_words(s), NULL}));
    if (s->info.n_patient_keys > 0) {
        xh_start(&x, "ul");
        for (i = 0; i < s->info.n_patient_keys; i++)
            xh_el(s, &x, "li", key_words(s, s->info.patient_keys[i]));
        xh_end(&x);
    }
    put(s, r, "text", xh_close(s, &x));
    for (i = 0; i < s->info.n_patient_keys; i++)
        push(s, ids, patient_identifier(s, s->info.patient_keys[i]));
    put(s, r, "identifier", ids);
    put_str(s, name, "text", s->info.patient_name, CLEAN_TEXT);
    push(s, names, name);
    put(s, r, "name", names);
    return r;
}

static json_t *contact_point(bundle_sink *s, const char *system, const char *value)
{
    json_t *c;

    if (!has(value))
        return NULL;
    c = jobj(s);
    put_lit(s, c, "system", system);
    put_str(s, c, "value", value, CLEAN_TEXT);
    if (!json_object_get(c, "value")) {
        json_decref(c);
        return NULL;
    }
    return c;
}

static json_t *organization(bundle_sink *s)
{
    const aod_policy *p = s->policy;
    json_t *r = jobj(s), *ids = jarr(s), *addrs = jarr(s), *addr = jobj(s), *lines = jarr(s);
    json_t *contacts = jarr(s), *contact = jobj(s), *cname = jobj(s), *telecom = jarr(s);
    xhtml x;
    size_t i;

    put_lit(s, r, "resourceType", "Organization");
    xh_open(s, &x);
    xh_el(s, &x, "p", p->organisation.name);
    for (i = 0; i < p->organisation.n_address; i++)
        xh_el(s, &x, "p", p->organisation.address[i]);
    contact_narrative(s, &x);
    put(s, r, "text", xh_close(s, &x));
    for (i = 0; i < p->organisation.n_identifiers; i++) {
        json_t *id = jobj(s);
        put_str(s, id, "system", p->organisation.identifiers[i].system, CLEAN_URI);
        put_str(s, id, "value", p->organisation.identifiers[i].value, CLEAN_TEXT);
        if (json_object_get(id, "value"))
            push(s, ids, id);
        else
            json_decref(id);
    }
    put(s, r, "identifier", ids);
    put_str(s, r, "name", p->organisation.name, CLEAN_TEXT);
    for (i = 0; i < p->organisation.n_address; i++)
        push(s, lines, jstr(s, p->organisation.address[i], CLEAN_TEXT));
    put(s, addr, "line", lines);
    push(s, addrs, addr);
    put(s, r, "address", addrs);
    put_str(s, cname, "text", p->organisation.privacy_name, CLEAN_TEXT);
    put(s, contact, "name", cname);
    push(s, telecom, contact_point(s, "phone", p->organisation.privacy_phone));
    push(s, telecom, contact_point(s, "email", p->organisation.privacy_email));
    put(s, contact, "telecom", telecom);
    push(s, contacts, contact);
    put(s, r, "contact", contacts);
    return r;
}

/* ------------------------------------------------------------ Composition */

static const char *title(const bundle_sink *s)
{
    return words(s, s->info.mode == AOD_MODE_ACCESS ? "bundle.title.access"
                                                    : "bundle.title.disclosures");
}

static int section_present(const bundle_sink *s, int sec)
{
    switch (sec) {
    case SEC_SUMMARISED:
        return s->info.mode == AOD_MODE_DISCLOSURES && s->policy->summarize.enabled;
    case SEC_FAILED:
        return s->info.mode == AOD_MODE_ACCESS &&
               s->policy->modes.access_failed == AOD_FAILED_SEPARATE;
    case SEC_WITHHELD:
        return s->privacy && s->n_in[SEC_WITHHELD] > 0;
    default:
        return 1;
    }
}

static const char *section_code(const bundle_sink *s, int sec)
{
    static const char *const codes[SEC_N] = {
        "summary",         "who-and-why",          "disclosures", "summarised-disclosures",
        "failed-attempts", "withheld-disclosures", "exclusions",  "completeness"};

    if (sec == SEC_LIST && s->info.mode == AOD_MODE_ACCESS)
        return "accesses";
    return codes[sec];
}

static const char *section_title(const bundle_sink *s, int sec)
{
    static const char *const keys[SEC_N] = {
        "bundle.section.summary",    "bundle.section.overview",    "bundle.section.disclosures",
        "bundle.section.summarised", "bundle.section.failed",      "bundle.section.withheld",
        "bundle.section.exclusions", "bundle.section.completeness"};

    if (sec == SEC_LIST && s->info.mode == AOD_MODE_ACCESS)
        return words(s, "bundle.section.accesses");
    return words(s, keys[sec]);
}

static const int *section_cols(const bundle_sink *s, int sec)
{
    switch (sec) {
    case SEC_SUMMARISED:
        return cols_summarised;
    case SEC_FAILED:
        return cols_failed;
    case SEC_WITHHELD:
        return cols_disclosures;
    default:
        if (s->info.mode == AOD_MODE_DISCLOSURES)
            return cols_disclosures;
        return s->policy->modes.access_failed == AOD_FAILED_FLAG ? cols_accesses_flagged
                                                                 : cols_accesses;
    }
}

static const char *empty_key(const bundle_sink *s, int sec)
{
    switch (sec) {
    case SEC_SUMMARISED:
        return "bundle.empty.summarised";
    case SEC_FAILED:
        return "bundle.empty.failed";
    default:
        return s->info.mode == AOD_MODE_ACCESS ? "bundle.empty.accesses"
                                               : "bundle.empty.disclosures";
    }
}

/*
 * FHIR R4 strings "SHALL NOT exceed 1MB", and validators hold a narrative
 * div to that too: a table of 20,000 accesses is several.  A listing of
 * more than PART_LINES lines is therefore split into sub-sections of
 * PART_LINES lines each (a row is a few hundred bytes), each with its table
 * and its entries, in time order; the section itself keeps its title, a
 * sentence saying so, and no entries of its own.  Shorter listings are one
 * section, as before.
 */
#define PART_LINES 500

static int parted(const bundle_sink *s, int sec)
{
    return s->n_in[sec] > PART_LINES;
}

/* The table of the lines of section sec numbered [first, last) among that
 * section's lines. */
static void lines_table(bundle_sink *s, xhtml *x, int sec, size_t first, size_t last)
{
    const int *cols = section_cols(s, sec), *c;
    size_t i, k = 0;

    xh_start(x, "table");
    xh_start(x, "thead");
    xh_start(x, "tr");
    for (c = cols; *c != COL_END; c++)
        xh_el(s, x, "th", words(s, col_keys[*c]));
    xh_end(x);
    xh_end(x);
    xh_start(x, "tbody");
    for (i = 0; i < s->n_lines && k < last; i++) {
        if (s->lines[i].section != sec || k++ < first)
            continue;
        xh_start(x, "tr");
        for (c = cols; *c != COL_END; c++)
            xh_el(s, x, "td", cell(s, &s->lines[i].e, *c));
        xh_end(x);
    }
    xh_end(x);
    xh_end(x);
}

/* A table of the lines in section sec, the sentence for an empty one, or
 * for a long one the sentence that its lines follow in parts. */
static void lines_narrative(bundle_sink *s, xhtml *x, int sec)
{
    char n[24], parts[24];

    if (sec == SEC_WITHHELD)
        xh_el(s, x, "p", words(s, "bundle.withheld.intro"));
    if (s->n_in[sec] == 0) {
        xh_el(s, x, "p", words(s, empty_key(s, sec)));
        return;
    }
    if (!parted(s, sec)) {
        lines_table(s, x, sec, 0, s->n_in[sec]);
        return;
    }
    xh_el(s, x, "p",
          expand(s, "bundle.parts.intro",
                 (const char *const[]){"n", num(n, sizeof n, (int64_t)s->n_in[sec]), "parts",
                                       num(parts, sizeof parts,
                                           (int64_t)((s->n_in[sec] + PART_LINES - 1) / PART_LINES)),
                                       NULL}));
}

static void li_count(bundle_sink *s, xhtml *x, const char *key, long n)
{
    char b[24];

    xh_el(s, x, "li", expand(s, key, (const char *const[]){"n", num(b, sizeof b, n), NULL}));
}

static void summary_narrative(bundle_sink *s, xhtml *x)
{
    const aod_report_summary *sum = s->sum;
    const aod_policy *p = s->policy;
    char from[16], to[16], now[40], b[24], c[24];

    aod_timefmt_date(s->info.from, from, sizeof from);
    aod_timefmt_date(s->info.to > s->info.from ? s->info.to - 1 : s->info.from, to, sizeof to);
    date_time(s->info.now, now, sizeof now);
    xh_el(s, x, "p",
          expand(s, "bundle.summary.intro",
                 (const char *const[]){"title", title(s), "patient", patient_words(s), "from", from,
                                       "to", to, "now", now, "organisation", p->organisation.name,
                                       NULL}));
    xh_start(x, "ul");
    if (s->info.mode == AOD_MODE_DISCLOSURES) {
        li_count(s, x, "bundle.summary.disclosures", (long)s->n_in[SEC_LIST]);
        if (section_present(s, SEC_SUMMARISED))
            xh_el(s, x, "li",
                  expand(s, "bundle.summary.summarised",
                         (const char *const[]){"n", num(b, sizeof b, sum->summarised), "lines",
                                               num(c, sizeof c, (long)s->n_in[SEC_SUMMARISED]),
                                               NULL}));
        if (s->privacy && sum->suspended > 0)
            li_count(s, x, "bundle.summary.withheld", sum->suspended);
    } else {
        li_count(s, x, "bundle.summary.accesses", (long)s->n_in[SEC_LIST]);
        if (section_present(s, SEC_FAILED))
            li_count(s, x, "bundle.summary.failed", (long)s->n_in[SEC_FAILED]);
    }
    li_count(s, x, "bundle.summary.lines", (long)s->n_lines);
    li_count(s, x, "bundle.summary.events", sum->events);
    li_count(s, x, "bundle.summary.records", sum->records_read);
    if (sum->self_audit > 0)
        li_count(s, x, "bundle.summary.self-audit", sum->self_audit);
    xh_end(x);
    if (s->any_masked || s->any_pseudo)
        xh_el(s, x, "p", words(s, "bundle.masking"));
    contact_narrative(s, x);
}

/* The summary lines (aod_overview): the totals, then one table row per
 * person or organisation and one sentence per system, as the PDF says
 * them (render/words.h). */
static void overview_narrative(bundle_sink *s, xhtml *x)
{
    const aod_overview *ov = s->sum->overview;
    const char *unit = s->info.mode == AOD_MODE_ACCESS ? "bundle.overview.accesses"
                                                       : "bundle.overview.disclosures";
    char a[24];
    size_t i;
    int sect;

    if (!ov) {
        xh_el(s, x, "p", words(s, "bundle.overview.none"));
        return;
    }
    {
        aod_buf ph[5];
        char key[96];
        int k;
        for (k = 0; k < 5; k++)
            aod_buf_init(&ph[k], 4096);
        xh_el(
            s, x, "p",
            expand(s, by_n(key, sizeof key, "bundle.overview.totals", ov->systems),
                   (const char *const[]){
                       "records", phrase(s, &ph[0], "letter.n.records", ov->records), "accesses",
                       phrase(s, &ph[1],
                              s->info.mode == AOD_MODE_ACCESS ? "summary.n.accesses"
                                                              : "summary.n.disclosures",
                              ov->accesses),
                       "people", phrase(s, &ph[2], "summary.n.people", ov->people), "organisations",
                       phrase(s, &ph[3], "summary.n.organisations", ov->organisations), "systems",
                       phrase(s, &ph[4], "summary.n.systems", ov->systems), NULL}));
        for (k = 0; k < 5; k++)
            aod_buf_free(&ph[k]);
    }
    if (ov->n_lines == 0)
        xh_el(s, x, "p", words(s, "bundle.overview.none"));
    for (sect = 0; sect < 2; sect++) {
        int any = 0;
        for (i = 0; i < ov->n_lines; i++) {
            const aod_overview_line *l = &ov->lines[i];
            int k;
            if ((l->section == AOD_SECTION_SYSTEM) != sect)
                continue;
            if (!any++) {
                xh_el(s, x, "p",
                      words(s, sect ? "bundle.overview.systems" : "bundle.overview.people"));
                xh_start(x, "table");
                xh_start(x, "tr");
                for (k = 0; k < 6; k++) {
                    static const char *const heads[6] = {
                        "bundle.overview.col.who",  "bundle.overview.col.section",
                        "bundle.overview.col.when", "bundle.overview.col.count",
                        "bundle.overview.col.data", "bundle.overview.col.why"};
                    xh_el(s, x, "th", words(s, heads[k]));
                }
                xh_end(x);
            }
            aod_buf_reset(&s->cell);
            cell_add(s, "", l->name);
            if (has(l->role) && !strstr(l->name, l->role))
                cell_add(s, ", ", aod_text_code(s->text, "role", l->role, NULL));
            if (has(l->organisation) && !strstr(l->name, l->organisation))
                cell_add(s, ", ", l->organisation);
            xh_start(x, "tr");
            xh_el(s, x, "td", aod_buf_str(&s->cell));
            aod_buf_reset(&s->cell);
            cell_add(s, "",
                     words(s, l->section == AOD_SECTION_PERSON ? "bundle.overview.person"
                              : l->section == AOD_SECTION_ORGANISATION
                                  ? "bundle.overview.organisation"
                                  : "bundle.overview.system"));
            if (l->section == AOD_SECTION_SYSTEM) {
                aod_entry ev;
                memset(&ev, 0, sizeof ev);
                ev.action = l->action;
                ev.activity = l->activity;
                cell_add(s, ": ", action_words(s, &ev));
            }
            xh_el(s, x, "td", aod_buf_str(&s->cell));
            xh_el(s, x, "td", when_words(s, l->first, l->last, s->info.mode == AOD_MODE_ACCESS));
            xh_el(s, x, "td",
                  expand(s, unit, (const char *const[]){"n", num(a, sizeof a, l->count), NULL}));
            aod_buf_reset(&s->cell);
            for (k = 0; k < (int)l->n_kinds; k++)
                kind_words(s, &s->cell, l->kinds[k]);
            xh_el(s, x, "td", aod_buf_str(&s->cell));
            aod_buf_reset(&s->cell);
            for (k = 0; k < (int)l->n_reasons; k++)
                cell_add(
                    s, "; ",
                    aod_text_code(s->text, "purpose", l->reason_code[k], l->reason_display[k]));
            if (l->no_reason > 0)
                cell_add(s, "; ",
                         expand(s, "bundle.overview.no-reason",
                                (const char *const[]){"n", num(a, sizeof a, l->no_reason), NULL}));
            xh_el(s, x, "td", aod_buf_str(&s->cell));
            xh_end(x);
        }
        if (any)
            xh_end(x);
    }
}

static void exclusions_narrative(bundle_sink *s, xhtml *x)
{
    const aod_report_summary *sum = s->sum;
    char key[32], b[24];
    int i;

    if (s->info.mode == AOD_MODE_DISCLOSURES) {
        xh_el(s, x, "p", words(s, "bundle.exclusions.intro"));
        xh_start(x, "ul");
        for (i = AOD_EXCL_I; i <= AOD_EXCL_IX; i++) {
            const char *w;
            snprintf(key, sizeof key, "exclusion.%s", aod_policy_exclusion_key((aod_exclusion)i));
            w = words(s, key);
            if (s->privacy)
                w = expand(s, "bundle.exclusions.count",
                           (const char *const[]){"text", w, "n",
                                                 num(b, sizeof b, sum->by_exclusion[i]), NULL});
            xh_el(s, x, "li", w);
        }
        xh_end(x);
        xh_el(s, x, "p", words(s, "bundle.exclusions.internal"));
        xh_el(s, x, "p", words(s, "bundle.exclusions.failed"));
    } else {
        xh_el(s, x, "p", words(s, "bundle.access.scope"));
        xh_el(s, x, "p",
              words(s, s->policy->modes.access_failed == AOD_FAILED_OMIT
                           ? "bundle.access.failed-omitted"
                       : s->policy->modes.access_failed == AOD_FAILED_SEPARATE
                           ? "bundle.access.failed-separate"
                           : "bundle.access.failed-flagged"));
    }
    xh_el(s, x, "p", words(s, "bundle.scope.period"));
}

/* The store's source for an observer (the loader keys an identifier with
 * no system "|value", classify "value"), or NULL. */
static const aod_source *find_source(const aod_completeness *c, const char *obs)
{
    size_t i;

    for (i = 0; c && obs && i < c->n_sources; i++) {
        const char *o = c->sources[i].observer ? c->sources[i].observer : "";
        if (strcmp(o, obs) == 0 || (o[0] == '|' && strcmp(o + 1, obs) == 0))
            return &c->sources[i];
    }
    return NULL;
}

/* A source's name in words (model/text.h), never its bare key; into
 * s->source, borrowed until the next call; "" with s->nomem set when out of
 * memory. */
static const char *source_name(bundle_sink *s, const char *display, const char *obs)
{
    aod_error ignored;
    const char *t;

    aod_error_init(&ignored);
    t = aod_text_source(s->text, obs, display, &s->source, &ignored);
    if (!t)
        s->nomem = 1;
    return t ? t : "";
}

/* UTC day of a store day start, "YYYY-MM-DD". */
static const char *store_day(int64_t ms, char *out, size_t size)
{
    char iso[40];

    aod_time_format_utc(ms, iso, sizeof iso);
    snprintf(out, size, "%.10s", iso);
    return out;
}

/* Which systems the lines come from and since when each logs, the
 * horizon, the silent days of daily systems (issue 16 point 5). */
static void sources_narrative(bundle_sink *s, xhtml *x)
{
    const aod_completeness *c = s->info.completeness;
    const aod_report_summary *sum = s->sum;
    char d0[16], d1[16], n[24];
    size_t i;

    if (!c)
        return;
    aod_buf_reset(&s->cell);
    for (i = 0; i < sum->n_observers; i++) {
        const aod_source *src = find_source(c, sum->observers[i]);
        const char *name = source_name(s, src ? src->display : NULL, sum->observers[i]);
        if (src)
            name = expand(s, "bundle.completeness.source-since",
                          (const char *const[]){"name", name, "date",
                                                store_day(src->first_day, d0, sizeof d0), NULL});
        cell_add(s, "; ", name);
    }
    if (s->cell.len)
        xh_el(s, x, "p",
              expand(s, "bundle.completeness.sources",
                     (const char *const[]){"systems", aod_buf_str(&s->cell), NULL}));
    if (c->n_sources > 0)
        xh_el(s, x, "p",
              expand(s,
                     c->n_sources == 1 ? "bundle.completeness.sources-all.one"
                                       : "bundle.completeness.sources-all.other",
                     (const char *const[]){"n", num(n, sizeof n, (int64_t)c->n_sources), NULL}));
    if (c->horizon)
        xh_el(s, x, "p",
              expand(s, "bundle.completeness.horizon",
                     (const char *const[]){"date", store_day(c->horizon, d0, sizeof d0), NULL}));
    else
        xh_el(s, x, "p", words(s, "letter.complete.horizon-none"));
    aod_buf_reset(&s->cell);
    for (i = 0; i < c->n_gaps; i++) {
        const aod_gap *g = &c->gaps[i];
        cell_add(s, "; ",
                 expand(s, "bundle.completeness.gap",
                        (const char *const[]){"name", source_name(s, g->display, g->observer),
                                              "from", store_day(g->from_day, d0, sizeof d0), "to",
                                              store_day(g->to_day, d1, sizeof d1), NULL}));
    }
    if (c->more_gaps > 0)
        cell_add(s, "",
                 expand(s, "letter.complete.gaps-more",
                        (const char *const[]){"n", num(n, sizeof n, c->more_gaps), NULL}));
    if (s->cell.len)
        xh_el(s, x, "p",
              expand(s, "letter.complete.gaps",
                     (const char *const[]){"gaps", aod_buf_str(&s->cell), NULL}));
    else
        xh_el(s, x, "p", words(s, "letter.complete.no-gaps"));
}

static void completeness_narrative(bundle_sink *s, xhtml *x)
{
    const aod_report_summary *sum = s->sum;
    char from[16], to[16], now[40], req[16], a[24], b[24], key[96];
    size_t i;

    aod_timefmt_date(s->info.from, from, sizeof from);
    aod_timefmt_date(s->info.to > s->info.from ? s->info.to - 1 : s->info.from, to, sizeof to);
    date_time(s->info.now, now, sizeof now);
    xh_el(s, x, "p",
          expand(s, "bundle.completeness.period",
                 (const char *const[]){"from", from, "to", to, "now", now, NULL}));
    if (s->info.requested > 0)
        xh_el(s, x, "p",
              expand(s, "bundle.completeness.requested",
                     (const char *const[]){
                         "date", aod_timefmt_date(s->info.requested, req, sizeof req), NULL}));
    {
        aod_buf ph[2];
        aod_buf_init(&ph[0], 4096);
        aod_buf_init(&ph[1], 4096);
        xh_el(s, x, "p",
              expand(s, by_n(key, sizeof key, "bundle.completeness.records", sum->records_read),
                     (const char *const[]){
                         "records", phrase(s, &ph[0], "letter.n.records", sum->records_read),
                         "events", phrase(s, &ph[1], "letter.n.events", sum->events), NULL}));
        aod_buf_free(&ph[0]);
        aod_buf_free(&ph[1]);
    }
    if (sum->records_unreadable > 0) {
        xh_el(
            s, x, "p",
            expand(s,
                   by_n(key, sizeof key, "bundle.completeness.unreadable", sum->records_unreadable),
                   (const char *const[]){"n", num(a, sizeof a, sum->records_unreadable), NULL}));
        if (s->privacy && sum->n_unreadable_ids > 0) {
            aod_buf_reset(&s->cell);
            for (i = 0; i < sum->n_unreadable_ids && i < 16; i++)
                if (aod_buf_printf(&s->cell, i ? ", %" PRId64 : "%" PRId64,
                                   sum->unreadable_ids[i]) != 0)
                    s->nomem = 1;
            xh_el(s, x, "p",
                  expand(s, "bundle.completeness.unreadable-ids",
                         (const char *const[]){"ids", aod_buf_str(&s->cell), NULL}));
        }
    }
    if (s->info.n_search_outcomes > 0) {
        aod_buf_reset(&s->cell);
        for (i = 0; i < s->info.n_search_outcomes; i++)
            if ((i && aod_buf_adds(&s->cell, "; ") != 0) ||
                aod_buf_adds(&s->cell, s->info.search_outcomes[i]) != 0)
                s->nomem = 1;
        xh_el(s, x, "p",
              expand(s, "bundle.completeness.outcomes",
                     (const char *const[]){"messages", aod_buf_str(&s->cell), NULL}));
    }
    sources_narrative(s, x);
    if (s->privacy) {
        if (sum->reason_base > 0)
            xh_el(s, x, "p",
                  expand(s, by_n(key, sizeof key, "bundle.completeness.reasons", sum->reasoned),
                         (const char *const[]){"n", num(a, sizeof a, sum->reasoned), "base",
                                               num(b, sizeof b, sum->reason_base), NULL}));
        if (sum->suspended > 0)
            xh_el(s, x, "p",
                  expand(s, by_n(key, sizeof key, "bundle.completeness.suspended", sum->suspended),
                         (const char *const[]){"n", num(a, sizeof a, sum->suspended), NULL}));
        xh_el(
            s, x, "p",
            expand(s, "bundle.completeness.policy",
                   (const char *const[]){"policy", s->policy->name ? s->policy->name : "", NULL}));
        xh_el(s, x, "p",
              expand(s, "bundle.completeness.audience",
                     (const char *const[]){"audience",
                                           aod_text_code(s->text, "audience",
                                                         aod_policy_audience_name(s->info.audience),
                                                         NULL),
                                           NULL}));
    }
}

/* When a line starts, as its date column shows it. */
static int64_t line_time(const aod_entry *e)
{
    return (e->flags & (AOD_ENTRY_SESSION | AOD_ENTRY_SUMMARY)) ? e->first : e->when_start;
}

/* Part of a long listing: its lines numbered [first, first + PART_LINES),
 * titled by the dates they span. */
static json_t *section_part(bundle_sink *s, int sec, size_t first)
{
    json_t *j = jobj(s), *refs = jarr(s);
    size_t i, k = 0, last = first + PART_LINES;
    const line *a = NULL, *b = NULL;
    char u[UUID_LEN + 9], from[16], to[16], n[24];
    xhtml x;

    if (last > s->n_in[sec])
        last = s->n_in[sec];
    for (i = 0; i < s->n_lines && k < last; i++) {
        json_t *r;
        if (s->lines[i].section != sec || k++ < first)
            continue;
        if (!a)
            a = &s->lines[i];
        b = &s->lines[i];
        r = jobj(s);
        urn(s->lines[i].uuid, u);
        put_lit(s, r, "reference", u);
        push(s, refs, r);
    }
    if (!a)
        return oom(s); /* cannot happen: first < n_in[sec] */
    aod_timefmt_date(line_time(&a->e), from, sizeof from);
    aod_timefmt_date(line_time(&b->e), to, sizeof to);
    put_str(s, j, "title",
            expand(s, "bundle.part.title",
                   (const char *const[]){"n", num(n, sizeof n, (int64_t)(first / PART_LINES + 1)),
                                         "from", from, "to", to, NULL}),
            CLEAN_TEXT);
    xh_open(s, &x);
    lines_table(s, &x, sec, first, last);
    put(s, j, "text", xh_close(s, &x));
    if (sec != SEC_SUMMARISED)
        put(s, j, "orderedBy",
            concept(s, SYS_LIST_ORDER, "event-date", "Sorted by Event Date", NULL));
    put(s, j, "entry", refs);
    return j;
}

static json_t *section(bundle_sink *s, int sec)
{
    json_t *j = jobj(s), *codings = jarr(s), *code = jobj(s), *refs = jarr(s);
    int listing =
        sec == SEC_LIST || sec == SEC_SUMMARISED || sec == SEC_FAILED || sec == SEC_WITHHELD;
    xhtml x;
    size_t i;
    char u[UUID_LEN + 9];

    put_str(s, j, "title", section_title(s, sec), CLEAN_TEXT);
    push(s, codings, coding(s, AOD_BUNDLE_CS_SECTION, section_code(s, sec), NULL));
    put(s, code, "coding", codings);
    put(s, j, "code", code);
    xh_open(s, &x);
    switch (sec) {
    case SEC_SUMMARY:
        summary_narrative(s, &x);
        break;
    case SEC_OVERVIEW:
        overview_narrative(s, &x);
        break;
    case SEC_EXCLUSIONS:
        exclusions_narrative(s, &x);
        break;
    case SEC_COMPLETENESS:
        completeness_narrative(s, &x);
        break;
    default:
        lines_narrative(s, &x, sec);
        break;
    }
    put(s, j, "text", xh_close(s, &x));
    if (listing && sec != SEC_SUMMARISED && s->n_in[sec] > 0)
        put(s, j, "orderedBy",
            concept(s, SYS_LIST_ORDER, "event-date", "Sorted by Event Date", NULL));
    if (listing && parted(s, sec)) {
        json_t *parts = jarr(s);
        size_t first;
        for (first = 0; first < s->n_in[sec]; first += PART_LINES)
            push(s, parts, section_part(s, sec, first));
        put(s, j, "section", parts);
        json_decref(refs);
        return j;
    }
    for (i = 0; i < s->n_lines; i++) {
        json_t *r;
        if (s->lines[i].section != sec)
            continue;
        r = jobj(s);
        urn(s->lines[i].uuid, u);
        put_lit(s, r, "reference", u);
        push(s, refs, r);
    }
    put(s, j, "entry", refs);
    /* cmp-2: an empty reason only for a listing with nothing in it. */
    if (listing && s->n_in[sec] == 0)
        put(s, j, "emptyReason", concept(s, SYS_EMPTY_REASON, "nilknown", "Nil Known", NULL));
    return j;
}

static json_t *composition(bundle_sink *s)
{
    json_t *r = jobj(s), *authors = jarr(s), *events = jarr(s), *ev = jobj(s), *sections = jarr(s),
           *type = jobj(s), *codings = jarr(s);
    int access = s->info.mode == AOD_MODE_ACCESS;
    char from[16], to[16];
    xhtml x;
    int sec;

    put_lit(s, r, "resourceType", "Composition");
    aod_timefmt_date(s->info.from, from, sizeof from);
    aod_timefmt_date(s->info.to > s->info.from ? s->info.to - 1 : s->info.from, to, sizeof to);
    xh_open(s, &x);
    xh_el(s, &x, "p", title(s));
    xh_el(s, &x, "p",
          expand(s, "bundle.composition.narrative",
                 (const char *const[]){"patient", patient_words(s), "from", from, "to", to,
                                       "organisation", s->policy->organisation.name, NULL}));
    put(s, r, "text", xh_close(s, &x));
    put_lit(s, r, "status", "final");
    push(s, codings,
         coding(s, AOD_BUNDLE_CS_REPORT_TYPE,
                access ? "access-report" : "accounting-of-disclosures",
                access ? "Access Report" : "Accounting of Disclosures"));
    put(s, type, "coding", codings);
    put_str(s, type, "text", title(s), CLEAN_TEXT);
    put(s, r, "type", type);
    put(s, r, "subject", reference(s, s->uuid_patient, s->info.patient_name));
    put(s, r, "date", instant(s, s->info.now));
    push(s, authors, reference(s, s->uuid_org, s->policy->organisation.name));
    put(s, r, "author", authors);
    put_str(s, r, "title", title(s), CLEAN_TEXT);
    put_lit(s, r, "confidentiality", CONFIDENTIALITY);
    put(s, r, "custodian", reference(s, s->uuid_org, s->policy->organisation.name));
    /* The period covered: [from, to) as an inclusive FHIR Period. */
    put(s, ev, "period",
        period(s, s->info.from, s->info.to > s->info.from ? s->info.to - 1 : s->info.from));
    push(s, events, ev);
    put(s, r, "event", events);
    for (sec = 0; sec < SEC_N; sec++)
        if (section_present(s, sec))
            push(s, sections, section(s, sec));
    put(s, r, "section", sections);
    return r;
}

static json_t *bundle_head(bundle_sink *s)
{
    json_t *b = jobj(s), *meta = jobj(s), *id = jobj(s);

    put_lit(s, b, "resourceType", "Bundle");
    put(s, meta, "security", security(s, s->any_masked, s->any_pseudo));
    put(s, b, "meta", meta);
    put_lit(s, id, "system", SYS_URI);
    put_lit(s, id, "value", s->bundle_id);
    put(s, b, "identifier", id);
    put_lit(s, b, "type", "document");
    put(s, b, "timestamp", instant(s, s->info.now));
    return b;
}

static json_t *entry(bundle_sink *s, const char *uuid, json_t *resource)
{
    json_t *e;
    char u[UUID_LEN + 9];

    if (!resource)
        return oom(s);
    e = jobj(s);
    urn(uuid, u);
    put_lit(s, e, "fullUrl", u);
    put(s, e, "resource", resource);
    return e;
}

/* --------------------------------------------------------------- writers */

/*
 * The JSON of one entry, written here from the jansson values rather than
 * by jansson's dump: byte for byte what json_dumps() of the whole document
 * with JSON_FLAGS writes (test_bundle compares the two), each entry at the
 * depth it has in the document.  jansson's dump calls back once per token
 * and the entries had to be shifted right afterwards; for a 100,000-line
 * document that, and the locked stdio call per token before it, was a
 * quarter of the time.  The text goes into s->entry and is written out in
 * pieces of at least 64 KB, a long string (a section narrative lists every
 * line) in pieces too, so no entry is held whole twice.
 *
 * jansson's rules, kept here: indentation of one space per level after a
 * newline; ", " never, "," and a newline between members; ": " after a
 * key; {} and [] when empty; in strings, \\ \" \b \f \n \r \t and \u00XX
 * (upper-case hex) for other control characters, UTF-8 left as it is;
 * integers as "%" JSON_INTEGER_FORMAT.  The builders make no reals and no
 * nulls.
 */
#define ENTRY_FLUSH ((size_t)64 * 1024)

/* Writes what s->entry holds.  0, or -1 on a write error. */
static int entry_flush(bundle_sink *s)
{
    if (s->entry.len > 0 && fwrite(s->entry.data, 1, s->entry.len, s->out) != s->entry.len) {
        s->write_failed = 1;
        return -1;
    }
    aod_buf_reset(&s->entry);
    return 0;
}

static int jw_indent(bundle_sink *s, int depth)
{
    static const char spaces[] = "                                ";
    aod_buf *b = &s->entry;

    if (aod_buf_addc(b, '\n') != 0)
        return -1;
    while (depth > 0) {
        int n = depth < (int)sizeof spaces - 1 ? depth : (int)sizeof spaces - 1;
        if (aod_buf_add(b, spaces, (size_t)n) != 0)
            return -1;
        depth -= n;
    }
    return 0;
}

static int jw_string(bundle_sink *s, const char *str, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    /* the characters with a one-letter escape, and their letters */
    static const char named[] = "\"\\\b\f\n\r\t", letters[] = "\"\\bfnrt";
    const char *hit;
    aod_buf *b = &s->entry;
    const unsigned char *p = (const unsigned char *)str, *end = p + len, *run = p;

    if (aod_buf_addc(b, '"') != 0)
        return -1;
    for (; p < end; p++) {
        char esc[7];
        size_t n = 2;
        if (*p >= 0x20 && *p != '"' && *p != '\\')
            continue;
        if (aod_buf_add(b, run, (size_t)(p - run)) != 0)
            return -1;
        esc[0] = '\\';
        hit = memchr(named, *p, sizeof named - 1);
        if (hit) {
            esc[1] = letters[hit - named];
        } else {
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            n = 6;
        }
        if (aod_buf_add(b, esc, n) != 0)
            return -1;
        run = p + 1;
        if (b->len >= ENTRY_FLUSH && entry_flush(s) != 0)
            return -1;
    }
    /* the rest of a long run, in pieces */
    while ((size_t)(end - run) > ENTRY_FLUSH) {
        if (aod_buf_add(b, run, ENTRY_FLUSH) != 0 || entry_flush(s) != 0)
            return -1;
        run += ENTRY_FLUSH;
    }
    return aod_buf_add(b, run, (size_t)(end - run)) || aod_buf_addc(b, '"') ? -1 : 0;
}

static int jw_value(bundle_sink *s, json_t *v, int depth)
{
    aod_buf *b = &s->entry;

    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *member;
        size_t i = 0, n = json_object_size(v);
        if (n == 0)
            return aod_buf_add(b, "{}", 2);
        if (aod_buf_addc(b, '{') != 0 || jw_indent(s, depth + 1) != 0)
            return -1;
        json_object_foreach(v, key, member)
        {
            if (jw_string(s, key, strlen(key)) != 0 || aod_buf_add(b, ": ", 2) != 0 ||
                jw_value(s, member, depth + 1) != 0)
                return -1;
            if (++i < n ? aod_buf_addc(b, ',') != 0 || jw_indent(s, depth + 1) != 0
                        : jw_indent(s, depth) != 0)
                return -1;
        }
        return aod_buf_addc(b, '}');
    }
    case JSON_ARRAY: {
        size_t i, n = json_array_size(v);
        if (n == 0)
            return aod_buf_add(b, "[]", 2);
        if (aod_buf_addc(b, '[') != 0 || jw_indent(s, depth + 1) != 0)
            return -1;
        for (i = 0; i < n; i++) {
            if (jw_value(s, json_array_get(v, i), depth + 1) != 0)
                return -1;
            if (i + 1 < n ? aod_buf_addc(b, ',') != 0 || jw_indent(s, depth + 1) != 0
                          : jw_indent(s, depth) != 0)
                return -1;
        }
        return aod_buf_addc(b, ']');
    }
    case JSON_STRING:
        return jw_string(s, json_string_value(v), json_string_length(v));
    case JSON_INTEGER: {
        char digits[24];
        return aod_buf_adds(b, num(digits, sizeof digits, (int64_t)json_integer_value(v)));
    }
    case JSON_TRUE:
        return aod_buf_add(b, "true", 4);
    case JSON_FALSE:
        return aod_buf_add(b, "false", 5);
    default:
        return -1; /* the builders make no reals and no nulls */
    }
}

static int xml_value(xmlTextWriterPtr w, const char *name, json_t *v);

/* A primitive: <name value="..."/>. */
static int xml_prim(xmlTextWriterPtr w, const char *name, const char *value)
{
    if (xmlTextWriterStartElement(w, CX name) < 0 ||
        xmlTextWriterWriteAttribute(w, CX "value", CX value) < 0 || xmlTextWriterEndElement(w) < 0)
        return -1;
    return 0;
}

/* The children of a FHIR object, in its key order (R4's, as built). */
static int xml_children(xmlTextWriterPtr w, json_t *o, int skip_url)
{
    const char *k;
    json_t *v;

    json_object_foreach(o, k, v)
    {
        if (strcmp(k, "resourceType") == 0 || (skip_url && strcmp(k, "url") == 0))
            continue;
        if (xml_value(w, k, v) != 0)
            return -1;
    }
    return 0;
}

static int xml_value(xmlTextWriterPtr w, const char *name, json_t *v)
{
    char nb[32];
    size_t i;

    if (json_is_array(v)) {
        for (i = 0; i < json_array_size(v); i++)
            if (xml_value(w, name, json_array_get(v, i)) != 0)
                return -1;
        return 0;
    }
    if (json_is_object(v)) {
        json_t *rt = json_object_get(v, "resourceType");
        int ext = strcmp(name, "extension") == 0 || strcmp(name, "modifierExtension") == 0;
        if (xmlTextWriterStartElement(w, CX name) < 0)
            return -1;
        if (rt) { /* a resource inside <resource>: named by its type */
            if (xmlTextWriterStartElement(w, CX json_string_value(rt)) < 0 ||
                xml_children(w, v, 0) != 0 || xmlTextWriterEndElement(w) < 0)
                return -1;
        } else {
            if (ext && xmlTextWriterWriteAttribute(
                           w, CX "url", CX json_string_value(json_object_get(v, "url"))) < 0)
                return -1;
            if (xml_children(w, v, ext) != 0)
                return -1;
        }
        return xmlTextWriterEndElement(w) < 0 ? -1 : 0;
    }
    if (strcmp(name, "div") == 0 && json_is_string(v)) {
        /* XHTML that libxml2 wrote for us (xh_close): well-formed, its own
         * namespace declared on the div. */
        return xmlTextWriterWriteRaw(w, CX json_string_value(v)) < 0 ? -1 : 0;
    }
    if (json_is_string(v))
        return xml_prim(w, name, json_string_value(v));
    if (json_is_integer(v))
        snprintf(nb, sizeof nb, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_boolean(v))
        snprintf(nb, sizeof nb, "%s", json_is_true(v) ? "true" : "false");
    else
        return -1; /* the builders make no reals and no nulls */
    return xml_prim(w, name, nb);
}

/* libxml2's writer reports an encoding error through its process-wide
 * generic error channel, which prints to stderr.  While a Bundle sink
 * exists the channel is ours: the first message is kept for the error
 * (the run names the file), nothing is printed.  Counted, because a run
 * with several formats holds several sinks at once. */
static int quiet_users;
static xmlGenericErrorFunc saved_generic;
static void *saved_generic_ctx;
static char xml_said[200];

static void xml_quiet(void *ctx, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    (void)ctx;
    if (xml_said[0])
        return;
    va_start(ap, fmt);
    vsnprintf(xml_said, sizeof xml_said, fmt, ap);
    va_end(ap);
    n = strlen(xml_said);
    while (n > 0 && (xml_said[n - 1] == '\n' || xml_said[n - 1] == ' '))
        xml_said[--n] = '\0';
}

static void xml_quiet_begin(void)
{
    if (quiet_users++ == 0) {
        saved_generic = xmlGenericError;
        saved_generic_ctx = xmlGenericErrorContext;
        xml_said[0] = '\0';
        xmlSetGenericErrorFunc(NULL, xml_quiet);
    }
}

static void xml_quiet_end(void)
{
    if (quiet_users > 0 && --quiet_users == 0)
        xmlSetGenericErrorFunc(saved_generic_ctx, saved_generic);
}

/* libxml2 goes on after an encoding error (it drops the value and returns
 * success): what it said is a failed report, not a line on stderr. */
static int xml_complaint(aod_error *err)
{
    if (!xml_said[0])
        return 0;
    aod_error_set(err, AOD_ERR_INPUT, NULL, 0, "bundle",
                  "a value in the report is not text XML can hold (libxml2: %s)", xml_said);
    return -1;
}

static int write_error(aod_error *err)
{
    if (xml_said[0])
        aod_error_set(err, AOD_ERR_IO, NULL, 0, NULL, "writing the FHIR document failed: %s",
                      xml_said);
    else
        aod_error_set(err, AOD_ERR_IO, NULL, 0, NULL, "writing the FHIR document failed: %s",
                      strerror(errno ? errno : EIO));
    return -1;
}

/* Writes the Bundle's own elements and opens its entry list. */
static int write_head(bundle_sink *s, json_t *head, aod_error *err)
{
    if (s->fmt == AOD_BUNDLE_JSON) {
        char *txt = json_dumps(head, JSON_FLAGS);
        size_t n = txt ? strlen(txt) : 0;
        int rc = 0;

        if (!txt) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "bundle", "out of memory");
            return -1;
        }
        /* The head ends "\n}": the entry list goes before that brace. */
        if (n < 2 || fwrite(txt, 1, n - 2, s->out) != n - 2 ||
            fputs(",\n \"entry\": [", s->out) == EOF)
            rc = write_error(err);
        free(txt);
        return rc;
    }
    {
        /* Flushes into out at the end, never closes it. */
        xmlOutputBufferPtr ob = xmlOutputBufferCreateFile(s->out, NULL);
        s->xml = ob ? xmlNewTextWriter(ob) : NULL;
        if (ob && !s->xml)
            xmlOutputBufferClose(ob);
    }
    if (!s->xml) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "bundle", "cannot start the XML writer");
        return -1;
    }
    if (xmlTextWriterSetIndent(s->xml, 1) < 0 || xmlTextWriterSetIndentString(s->xml, CX " ") < 0 ||
        xmlTextWriterStartDocument(s->xml, "1.0", "UTF-8", NULL) < 0 ||
        xmlTextWriterStartElement(s->xml, CX "Bundle") < 0 ||
        xmlTextWriterWriteAttribute(s->xml, CX "xmlns", CX FHIR_NS) < 0 ||
        xml_children(s->xml, head, 0) != 0)
        return write_error(err);
    return 0;
}

/* Writes one entry (stolen). */
static int write_entry(bundle_sink *s, json_t *e, aod_error *err)
{
    int rc = 0;

    if (!e || s->nomem) {
        json_decref(e);
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "bundle", "out of memory");
        return -1;
    }
    if (s->fmt == AOD_BUNDLE_JSON) {
        /* entries are at depth 2: Bundle { "entry": [ here ] } */
        if (aod_buf_addc(&s->entry, s->n_written ? ',' : '\n') != 0 ||
            (s->n_written && jw_indent(s, 2) != 0) ||
            (!s->n_written && aod_buf_add(&s->entry, "  ", 2) != 0) || jw_value(s, e, 2) != 0) {
            if (s->write_failed) {
                rc = write_error(err);
            } else {
                aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
                rc = -1;
            }
        } else if (s->entry.len >= ENTRY_FLUSH && entry_flush(s) != 0) {
            rc = write_error(err);
        }
    } else if (xml_value(s->xml, "entry", e) != 0) {
        rc = write_error(err);
    }
    s->n_written++;
    json_decref(e);
    return rc == 0 ? xml_complaint(err) : rc;
}

static int write_tail(bundle_sink *s, aod_error *err)
{
    if (s->fmt == AOD_BUNDLE_JSON) {
        if (entry_flush(s) != 0 || fputs("\n ]\n}\n", s->out) == EOF)
            return write_error(err);
    } else {
        int rc = xmlTextWriterEndDocument(s->xml);
        xmlFreeTextWriter(s->xml); /* flushes; the FILE stays open */
        s->xml = NULL;
        if (rc < 0)
            return write_error(err);
    }
    errno = 0;
    if (fflush(s->out) != 0 || ferror(s->out))
        return write_error(err);
    return xml_complaint(err);
}

/* -------------------------------------------------------------- the sink */

static int bundle_begin(aod_sink *base, const aod_report_info *info, aod_error *err)
{
    bundle_sink *s = (bundle_sink *)base;
    char u[UUID_LEN];

    if (s->begun) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "bundle", "begin() called twice");
        return -1;
    }
    if (!info || !info->policy) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "bundle", "no report info or no policy");
        return -1;
    }
    s->begun = 1;
    s->info = *info;
    s->policy = info->policy;
    s->privacy = info->audience == AOD_AUDIENCE_PRIVACY_OFFICE;
    make_seed(s);
    make_uuid(s, "Bundle", 0, 0, u);
    urn(u, s->bundle_id);
    return 0;
}

static int section_of(const bundle_sink *s, const aod_entry *e)
{
    if (e->flags & AOD_ENTRY_SUSPENDED)
        return SEC_WITHHELD;
    if (s->info.mode == AOD_MODE_DISCLOSURES)
        return (e->flags & AOD_ENTRY_SUMMARY) && section_present(s, SEC_SUMMARISED) ? SEC_SUMMARISED
                                                                                    : SEC_LIST;
    if ((e->cls == AOD_CLASS_FAILED || (e->flags & AOD_ENTRY_FAILED)) &&
        section_present(s, SEC_FAILED))
        return SEC_FAILED;
    return SEC_LIST;
}

static int bundle_entry(aod_sink *base, const aod_entry *e, aod_error *err)
{
    bundle_sink *s = (bundle_sink *)base;
    line *l;

    if (!s->begun || s->ended) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "bundle",
                      "entry() outside begin() ... end()");
        return -1;
    }
    if (!e->shown_name) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "bundle",
                      "an unmasked entry reached the FHIR document renderer");
        return -1;
    }
    if (s->n_lines == s->cap_lines) {
        size_t cap = s->cap_lines ? s->cap_lines * 2 : 64;
        line *grown = realloc(s->lines, cap * sizeof *grown);
        if (!grown)
            goto nomem;
        s->lines = grown;
        s->cap_lines = cap;
    }
    l = &s->lines[s->n_lines];
    memset(l, 0, sizeof *l);
    l->e = *e;
    if (e->n_record_ids > 0) {
        l->ids = malloc(e->n_record_ids * sizeof *l->ids);
        if (!l->ids)
            goto nomem;
        memcpy(l->ids, e->record_ids, e->n_record_ids * sizeof *l->ids);
    }
    l->e.record_ids = l->ids;
    l->section = section_of(s, e);
    make_uuid(s, "AuditEvent", (int64_t)s->n_lines + 1, e->group, l->uuid);
    s->n_in[l->section]++;
    if (e->tier == AOD_TIER_PSEUDONYM)
        s->any_pseudo = 1;
    else if (e->tier >= AOD_TIER_ROLE_UNIT)
        s->any_masked = 1;
    s->n_lines++;
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "bundle", "out of memory keeping report lines");
    return -1;
}

static int bundle_end(aod_sink *base, const aod_report_summary *sum, aod_error *err)
{
    bundle_sink *s = (bundle_sink *)base;
    aod_report_summary none;
    size_t i;

    if (!s->begun || s->ended) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "bundle", "end() before begin() or twice");
        return -1;
    }
    s->ended = 1;
    if (!sum) {
        memset(&none, 0, sizeof none);
        sum = &none;
    }
    s->sum = sum;
    make_uuid(s, "Composition", 0, 0, s->uuid_composition);
    make_uuid(s, "Patient", 0, 0, s->uuid_patient);
    make_uuid(s, "Organization", 0, 0, s->uuid_org);
    {
        json_t *head = bundle_head(s);
        int rc;
        if (!head || s->nomem) {
            json_decref(head);
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "bundle", "out of memory");
            return -1;
        }
        rc = write_head(s, head, err);
        json_decref(head);
        if (rc != 0)
            return -1;
    }
    if (write_entry(s, entry(s, s->uuid_composition, composition(s)), err) != 0 ||
        write_entry(s, entry(s, s->uuid_patient, patient(s)), err) != 0 ||
        write_entry(s, entry(s, s->uuid_org, organization(s)), err) != 0)
        return -1;
    for (i = 0; i < s->n_lines; i++)
        if (write_entry(s, entry(s, s->lines[i].uuid, audit_event(s, &s->lines[i])), err) != 0)
            return -1;
    return write_tail(s, err);
}

static void bundle_free(aod_sink *base)
{
    bundle_sink *s = (bundle_sink *)base;
    size_t i;

    if (!s)
        return;
    if (s->xml)
        xmlFreeTextWriter(s->xml);
    for (i = 0; i < s->n_lines; i++)
        free(s->lines[i].ids);
    free(s->lines);
    aod_buf_free(&s->clean);
    aod_buf_free(&s->words);
    aod_buf_free(&s->cell);
    aod_buf_free(&s->reason);
    aod_buf_free(&s->key);
    aod_buf_free(&s->source);
    aod_buf_free(&s->entry);
    if (s->xbuf)
        xmlBufferFree(s->xbuf);
    free(s);
    xml_quiet_end();
}

aod_sink *aod_bundle_sink_new(FILE *out, aod_bundle_format fmt, const aod_text *text,
                              aod_error *err)
{
    bundle_sink *s;

    if (!out || !text || (fmt != AOD_BUNDLE_JSON && fmt != AOD_BUNDLE_XML)) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "bundle",
                      "no output, no templates or an unknown format");
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (!s || !(s->xbuf = xmlBufferCreate())) {
        free(s);
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return NULL;
    }
    xml_quiet_begin();
    s->base.begin = bundle_begin;
    s->base.entry = bundle_entry;
    s->base.end = bundle_end;
    s->base.free = bundle_free;
    s->out = out;
    s->fmt = fmt;
    s->text = text;
    aod_buf_init(&s->clean, 64 * 1024 * 1024);
    aod_buf_init(&s->words, 64 * 1024 * 1024);
    aod_buf_init(&s->cell, 64 * 1024 * 1024);
    aod_buf_init(&s->reason, 1024 * 1024);
    aod_buf_init(&s->key, 64 * 1024);
    aod_buf_init(&s->source, 64 * 1024);
    aod_buf_init(&s->entry, 0);
    return &s->base;
}

/* ------------------------------------------- a whole document, as XML */

int aod_bundle_write_xml(FILE *out, json_t *doc, aod_error *err)
{
    xmlOutputBufferPtr ob;
    xmlTextWriterPtr w = NULL;
    int rc = -1;

    xml_quiet_begin();
    xml_said[0] = '\0';
    ob = xmlOutputBufferCreateFile(out, NULL); /* flushes into out, never closes it */
    if (ob && !(w = xmlNewTextWriter(ob)))
        xmlOutputBufferClose(ob);
    if (!w) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "bundle", "cannot start the XML writer");
        goto out;
    }
    /* as write_head(), write_entry() and write_tail() write it */
    if (xmlTextWriterSetIndent(w, 1) < 0 || xmlTextWriterSetIndentString(w, CX " ") < 0 ||
        xmlTextWriterStartDocument(w, "1.0", "UTF-8", NULL) < 0 ||
        xmlTextWriterStartElement(w, CX "Bundle") < 0 ||
        xmlTextWriterWriteAttribute(w, CX "xmlns", CX FHIR_NS) < 0 ||
        xml_children(w, doc, 0) != 0 || xmlTextWriterEndDocument(w) < 0) {
        xmlFreeTextWriter(w);
        write_error(err);
        goto out;
    }
    xmlFreeTextWriter(w);
    errno = 0;
    if (fflush(out) != 0 || ferror(out)) {
        write_error(err);
        goto out;
    }
    rc = xml_complaint(err);
out:
    xml_quiet_end();
    return rc;
}

/*
 * Reading back.  FHIR XML does not say which elements repeat (an array of
 * one is one element) or which values are numbers: the specification's
 * structure definitions do.  These tables hold what they say for the
 * elements this renderer writes (doc/bundle.md, "Signatures"); an element
 * they miss reads back as one value, the document then does not match its
 * signature, and the check fails: never the other way round.
 */
static int repeats(const char *parent, const char *name)
{
    /* repeating wherever they occur */
    static const char *const always[] = {"extension",    "modifierExtension",
                                         "coding",       "entry",
                                         "section",      "author",
                                         "attester",     "telecom",
                                         "subtype",      "purposeOfEvent",
                                         "agent",        "entity",
                                         "purposeOfUse", "securityLabel",
                                         "detail",       "security",
                                         "tag",          "profile",
                                         "given",        "prefix",
                                         "suffix",       "line",
                                         "category",     "event",
                                         "alias",        "endpoint",
                                         "contact",      "relatesTo",
                                         "link"};
    /* repeating under this parent only */
    static const char *const pairs[][2] = {{"source", "type"},
                                           {"signature", "type"},
                                           {"Organization", "type"},
                                           {"event", "code"},
                                           {"Patient", "name"},
                                           {"Patient", "identifier"},
                                           {"Organization", "identifier"},
                                           {"Patient", "address"},
                                           {"Organization", "address"},
                                           {"agent", "role"},
                                           {"agent", "policy"}};
    size_t i;

    for (i = 0; i < sizeof always / sizeof always[0]; i++)
        if (strcmp(name, always[i]) == 0)
            return 1;
    for (i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (strcmp(parent, pairs[i][0]) == 0 && strcmp(name, pairs[i][1]) == 0)
            return 1;
    return 0;
}

typedef struct xml_reader {
    char **divs; /* the narratives, as written (cut out before parsing) */
    size_t n_divs;
    aod_error *err;
    char where[120];
} xml_reader;

static json_t *xr_fail(xml_reader *r, xmlNodePtr n, const char *why)
{
    if (r->err->code == AOD_OK)
        aod_error_set(r->err, AOD_ERR_INPUT, NULL, n ? (long)xmlGetLineNo(n) : 0, NULL, "%s%s%s",
                      n ? (const char *)n->name : "", n ? ": " : "", why);
    return NULL;
}

static json_t *xr_primitive(xml_reader *r, xmlNodePtr n, const char *value)
{
    const char *name = (const char *)n->name;

    if (strcmp(name, "requestor") == 0 || strcmp(name, "valueBoolean") == 0 ||
        strcmp(name, "active") == 0) {
        if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)
            return json_boolean(value[0] == 't');
        return xr_fail(r, n, "not true or false");
    }
    if (strcmp(name, "valueInteger") == 0 || strcmp(name, "valueUnsignedInt") == 0 ||
        strcmp(name, "valuePositiveInt") == 0) {
        char *end;
        long long v;
        errno = 0;
        v = strtoll(value, &end, 10);
        if (end == value || *end || errno)
            return xr_fail(r, n, "not an integer");
        return json_integer((json_int_t)v);
    }
    return json_string(value);
}

static json_t *xr_object(xml_reader *r, xmlNodePtr n, const char *parent);

/* The JSON value of the element n, whose parent element is named parent. */
static json_t *xr_value(xml_reader *r, xmlNodePtr n, const char *parent)
{
    xmlChar *value = xmlGetProp(n, CX "value");
    json_t *v;

    if (strcmp((const char *)n->name, "div") == 0) {
        char *end;
        unsigned long k;
        if (!value)
            return xr_fail(r, n, "a narrative not where it was written");
        k = strtoul((const char *)value, &end, 10);
        if (*end || end == (char *)value || k >= r->n_divs) {
            xmlFree(value);
            return xr_fail(r, n, "a narrative not where it was written");
        }
        xmlFree(value);
        return json_string(r->divs[k]);
    }
    if (value) {
        xmlNodePtr c;
        for (c = n->children; c; c = c->next)
            if (c->type == XML_ELEMENT_NODE) {
                xmlFree(value);
                return xr_fail(r, n, "a value with elements inside (not written here)");
            }
        if (n->properties && n->properties->next) {
            xmlFree(value);
            return xr_fail(r, n, "an attribute besides value");
        }
        v = xr_primitive(r, n, (const char *)value);
        xmlFree(value);
        return v;
    }
    (void)parent;
    return xr_object(r, n, (const char *)n->name);
}

/* The object of the complex element n (named name in its parent). */
static json_t *xr_object(xml_reader *r, xmlNodePtr n, const char *name)
{
    json_t *o = json_object();
    xmlNodePtr c;
    xmlAttrPtr a;

    if (!o)
        return NULL;
    for (a = n->properties; a; a = a->next) {
        xmlChar *url;
        if (strcmp((const char *)a->name, "url") != 0 ||
            (strcmp(name, "extension") != 0 && strcmp(name, "modifierExtension") != 0)) {
            json_decref(o);
            return xr_fail(r, n, "an attribute this document does not have");
        }
        url = xmlGetProp(n, CX "url");
        if (!url || json_object_set_new(o, "url", json_string((const char *)url)) != 0) {
            xmlFree(url);
            json_decref(o);
            return NULL;
        }
        xmlFree(url);
    }
    for (c = n->children; c; c = c->next) {
        const char *cn = (const char *)c->name;
        json_t *v, *have;
        if (c->type == XML_TEXT_NODE) {
            const xmlChar *t = c->content;
            while (t && (*t == ' ' || *t == '\n' || *t == '\t' || *t == '\r'))
                t++;
            if (t && *t) {
                json_decref(o);
                return xr_fail(r, n, "text outside a value attribute");
            }
            continue;
        }
        if (c->type != XML_ELEMENT_NODE) {
            json_decref(o);
            return xr_fail(r, n, "a comment or instruction this document does not have");
        }
        if (strcmp(cn, "resource") == 0) {
            /* the resource inside, named by its type */
            xmlNodePtr in = c->children;
            json_t *res;
            while (in && in->type == XML_TEXT_NODE)
                in = in->next;
            if (!in || in->type != XML_ELEMENT_NODE) {
                json_decref(o);
                return xr_fail(r, c, "no resource inside");
            }
            res = json_object();
            if (!res || json_object_set_new(res, "resourceType",
                                            json_string((const char *)in->name)) != 0) {
                json_decref(res);
                json_decref(o);
                return NULL;
            }
            v = xr_object(r, in, (const char *)in->name);
            if (!v || json_object_update(res, v) != 0) {
                json_decref(v);
                json_decref(res);
                json_decref(o);
                return NULL;
            }
            json_decref(v);
            v = res;
        } else {
            v = xr_value(r, c, name);
        }
        if (!v) {
            json_decref(o);
            return NULL;
        }
        have = json_object_get(o, cn);
        if (repeats(name, cn)) {
            if (!have) {
                have = json_array();
                if (!have || json_object_set_new(o, cn, have) != 0) {
                    json_decref(v);
                    json_decref(o);
                    return NULL;
                }
            }
            if (json_array_append_new(have, v) != 0) {
                json_decref(o);
                return NULL;
            }
        } else if (have) {
            json_decref(v);
            json_decref(o);
            return xr_fail(r, c, "repeated where it cannot repeat");
        } else if (json_object_set_new(o, cn, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

#define DIV_OPEN "<div xmlns=\"" XHTML_NS "\">"

/* Cuts each narrative out of text (the file's bytes) into r->divs, leaving
 * <div value="N"/> in its place in *cut (new).  0, or -1 (err set). */
static int cut_divs(xml_reader *r, const char *text, size_t len, aod_buf *cut)
{
    const char *p = text, *end = text + len;

    while (p < end) {
        const char *open = memmem(p, (size_t)(end - p), DIV_OPEN, sizeof DIV_OPEN - 1), *q;
        int depth = 1;
        char **grown, mark[48];
        if (!open)
            break;
        if (aod_buf_add(cut, p, (size_t)(open - p)) != 0)
            goto nomem;
        for (q = open + sizeof DIV_OPEN - 1; q < end && depth > 0;) {
            const char *lt = memchr(q, '<', (size_t)(end - q));
            if (!lt)
                break;
            if ((size_t)(end - lt) >= 6 && memcmp(lt, "</div>", 6) == 0) {
                depth--;
                q = lt + 6;
            } else {
                if ((size_t)(end - lt) >= 5 && memcmp(lt, "<div", 4) == 0 &&
                    (lt[4] == ' ' || lt[4] == '>'))
                    depth++;
                q = lt + 1;
            }
        }
        if (depth > 0) {
            aod_error_set(r->err, AOD_ERR_INPUT, NULL, 0, NULL, "a narrative does not end");
            return -1;
        }
        grown = realloc(r->divs, (r->n_divs + 1) * sizeof *grown);
        if (!grown)
            goto nomem;
        r->divs = grown;
        if (!(r->divs[r->n_divs] = strndup(open, (size_t)(q - open))))
            goto nomem;
        snprintf(mark, sizeof mark, "<div value=\"%zu\"/>", r->n_divs);
        r->n_divs++;
        if (aod_buf_adds(cut, mark) != 0)
            goto nomem;
        p = q;
    }
    if (p < end && aod_buf_add(cut, p, (size_t)(end - p)) != 0)
        goto nomem;
    return 0;
nomem:
    aod_error_set(r->err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
    return -1;
}

json_t *aod_bundle_read_xml(const char *text, size_t len, aod_error *err)
{
    xml_reader r;
    aod_buf cut;
    xmlDocPtr doc = NULL;
    xmlNodePtr root;
    json_t *out = NULL, *body;
    size_t i;

    memset(&r, 0, sizeof r);
    r.err = err;
    aod_buf_init(&cut, (size_t)-1 / 2);
    xml_quiet_begin();
    if (cut_divs(&r, text, len, &cut) != 0)
        goto done;
    if (cut.len > INT_MAX) {
        aod_error_set(err, AOD_ERR_INPUT, NULL, 0, NULL, "too large to read");
        goto done;
    }
    /* no network, no entities substituted, no DTD loaded */
    doc = xmlReadMemory(cut.data ? cut.data : "", (int)cut.len, NULL, "UTF-8",
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        aod_error_set(err, AOD_ERR_INPUT, NULL, 0, "xml", "not well-formed XML");
        goto done;
    }
    root = xmlDocGetRootElement(doc);
    if (doc->intSubset || !root || strcmp((const char *)root->name, "Bundle") != 0 || !root->ns ||
        strcmp((const char *)root->ns->href, FHIR_NS) != 0) {
        aod_error_set(err, AOD_ERR_INPUT, NULL, 0, "xml",
                      "not a FHIR Bundle (a Bundle element in " FHIR_NS ", no DTD)");
        goto done;
    }
    out = json_object();
    if (!out || json_object_set_new(out, "resourceType", json_string("Bundle")) != 0)
        goto nomem;
    body = xr_object(&r, root, "Bundle");
    if (!body) {
        if (err->code == AOD_OK)
            goto nomem;
        json_decref(out);
        out = NULL;
        goto done;
    }
    if (json_object_update(out, body) != 0) {
        json_decref(body);
        goto nomem;
    }
    json_decref(body);
    goto done;
nomem:
    json_decref(out);
    out = NULL;
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory reading the XML document");
done:
    xml_quiet_end();
    xmlFreeDoc(doc);
    for (i = 0; i < r.n_divs; i++)
        free(r.divs[i]);
    free(r.divs);
    aod_buf_free(&cut);
    return out;
}
