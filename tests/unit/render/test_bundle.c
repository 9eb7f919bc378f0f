/*
 * test_bundle.c - the FHIR Document Bundle renderer: the document's
 * structure read back with jansson (Composition first, every reference
 * resolving to a fullUrl, sections listing exactly their AuditEvents,
 * empty sections with an emptyReason, security labels per masking tier,
 * the record-count extensions), that nothing of the raw audit data leaks,
 * byte-identical output across runs, the JSON layout, well-formed XML and
 * XHTML narratives (parsed with libxml2), the templates, and the failures.
 *
 * With AOD_BUNDLE_OUT set to a directory, the sample documents are also
 * written there (NAME.json and NAME.xml) for the independent validators
 * (tests/integration/test_bundle_validators.sh).
 *
 * The policy is built in memory (aod_policy is a plain struct), so the
 * test needs no policy file, no database and no other stage.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "model/policy.h"
#include "render/bundle.h"
#include "model/text.h"
#include "model/entry.h"
#include "base/timefmt.h"

#define T_NOW  INT64_C(1751371200000) /* 2025-07-01T12:00:00Z */
#define T_FROM INT64_C(1735689600000) /* 2025-01-01T00:00:00Z */
#define T_TO   INT64_C(1751328000000) /* 2025-07-01T00:00:00Z */
#define T_0102 INT64_C(1735812000000) /* 2025-01-02T10:00:00Z */
#define T_0315 INT64_C(1741083330000) /* 2025-03-04T10:15:30Z */
#define T_0320 INT64_C(1741083600000) /* 2025-03-04T10:20:00Z */
#define T_0630 INT64_C(1751327999000) /* 2025-06-30T23:59:59Z */

#define OBS_VALUE "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"

/* Strings that the records held but a document must never show. */
static const char *const secrets[] = {"SECRET-QUERY-PAYLOAD",
                                      "Dr. Alice Smith",
                                      "Bob Jones",
                                      "req-7f3a",
                                      "Device/audit-1",
                                      "Observation/obs-99",
                                      "Practitioner/alice",
                                      "rule-secret-for-patients",
                                      NULL};

/* ------------------------------------------------------------- fixtures */

static const char *org_address[] = {"1 River Road", "Riverside, ST 11111"};
static aod_policy_identifier org_ids[] = {{"http://hl7.org/fhir/sid/us-npi", "1234567893"},
                                          {NULL, "LOCAL-7"}};
static const char *const patient_keys[] = {"http://hospital.example.org/mrn|MRN-0042",
                                           "Patient/p42",
                                           "http://hl7.org/fhir/sid/us-ssn|123-45-6789"};

static aod_policy make_policy(aod_failed_mode failed, int summarise)
{
    aod_policy p;

    memset(&p, 0, sizeof p);
    p.name = "test-policy";
    p.source = "test";
    p.organisation.name = "Riverside Hospital & Clinics <Main>";
    p.organisation.address = org_address;
    p.organisation.n_address = 2;
    p.organisation.identifiers = org_ids;
    p.organisation.n_identifiers = 2;
    p.organisation.privacy_name = "Privacy Office";
    p.organisation.privacy_phone = "+1 555 0100";
    p.organisation.privacy_email = "privacy@riverside.example.org";
    p.modes.access_failed = failed;
    p.summarize.enabled = summarise;
    p.summarize.min_count = 2;
    p.presentation.time_zone = "UTC";
    p.presentation.language = "en";
    return p;
}

static aod_report_info make_info(const aod_policy *p, aod_mode mode, aod_audience a,
                                 const char *lang)
{
    aod_report_info info;

    memset(&info, 0, sizeof info);
    info.mode = mode;
    info.audience = a;
    info.lang = lang;
    info.patient_keys = patient_keys;
    info.n_patient_keys = 3;
    info.patient_name = "Maria José Núñez";
    info.from = T_FROM;
    info.to = T_TO;
    info.now = T_NOW;
    info.requested = T_0630;
    info.policy = p;
    return info;
}

/* The summary the report driver hands over (pipeline/overview.h): a
 * masked person line and a system line. */
static const aod_overview_line overview_lines[] = {
    {.section = AOD_SECTION_PERSON,
     .name = "Nurse, Cardiology",
     .organisation = "Riverside Hospital",
     .first = T_0102,
     .last = T_0630,
     .count = 4,
     .records = 5,
     .people = 2,
     .kinds = {"Observation"},
     .n_kinds = 1,
     .reason_code = {"TREAT"},
     .n_reasons = 1,
     .no_reason = 1},
    {.section = AOD_SECTION_SYSTEM,
     .name = "Laboratory interface",
     .action = 'R',
     .first = T_0102,
     .last = T_0630,
     .count = 14,
     .records = 14,
     .people = 1,
     .kinds = {"Observation"},
     .n_kinds = 1,
     .no_reason = 14},
};
static const aod_overview overview = {overview_lines, 2, 40, 18, 2, 0, 1, 14};

static aod_report_summary make_summary(void)
{
    aod_report_summary s;

    memset(&s, 0, sizeof s);
    s.records_read = 40;
    s.records_unreadable = 2;
    s.unreadable_ids[0] = 901;
    s.unreadable_ids[1] = 902;
    s.n_unreadable_ids = 2;
    s.events = 21;
    s.entries = 6;
    s.by_class[AOD_CLASS_DISCLOSURE] = 5;
    s.by_class[AOD_CLASS_EXCLUDED] = 3;
    s.by_exclusion[AOD_EXCL_I] = 2;
    s.by_exclusion[AOD_EXCL_IV] = 1;
    s.summarised = 3;
    s.suspended = 1;
    s.overview = &overview;
    return s;
}

/* Fields every test entry has, with the secrets dedup and classify keep. */
static aod_entry base_entry(int64_t when, aod_class cls)
{
    aod_entry e;

    memset(&e, 0, sizeof e);
    e.when_start = e.when_end = e.first = e.last = e.recorded = when;
    e.count = 1;
    e.raw_count = 1;
    e.cls = cls;
    e.action = 'R';
    e.outcome = "0";
    e.query = "SECRET-QUERY-PAYLOAD";
    e.x_request_id = "req-7f3a";
    e.observer = "Device/audit-1";
    e.data_ref = "Observation/obs-99";
    e.actor_key = "Practitioner/alice";
    e.rule_id = "rule-secret-for-patients";
    return e;
}

static const int64_t ids_a[] = {11, 12};
static const int64_t ids_b[] = {21, 22, 23, 24, 25};

/* A disclosure to a public health department, recorded twice. */
static aod_entry disclosure(void)
{
    aod_entry e = base_entry(T_0315, AOD_CLASS_DISCLOSURE);

    e.action = 'E';
    e.type_code = "110106";
    e.subtype_code = "disclose";
    e.raw_count = 2;
    e.who.cls = AOD_ACTOR_EXTERNAL_ORGANISATION;
    e.who.name = "County Health Department";
    e.data = "laboratory results";
    e.data_kinds = "Observation,DiagnosticReport";
    e.where = "EHR East";
    e.purpose_system = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
    e.purpose_code = "PUBHLTH";
    e.purpose_display = "public health";
    e.shown_name = "County Health Department";
    e.shown_address = "100 Main St, Springfield";
    e.tier = AOD_TIER_FULL_NAME;
    e.group = 1;
    e.record_ids = ids_a;
    e.n_record_ids = 2;
    return e;
}

/* Three disclosures to a registry shown as one summary line. */
static aod_entry summarised(void)
{
    aod_entry e = base_entry(T_0102, AOD_CLASS_DISCLOSURE);

    e.flags = AOD_ENTRY_SUMMARY;
    e.first = T_0102;
    e.last = e.when_end = T_0630;
    e.count = 3;
    e.raw_count = 5;
    e.type_code = "110106";
    e.who.cls = AOD_ACTOR_EXTERNAL_ORGANISATION;
    e.shown_name = "State Cancer Registry";
    e.data_kinds = "Condition";
    e.purpose_code = "PUBHLTH";
    e.tier = AOD_TIER_FULL_NAME;
    e.group = 2;
    e.record_ids = ids_b;
    e.n_record_ids = 5;
    return e;
}

/* A disclosure withheld from the patient (privacy office copies only). */
static aod_entry suspended(void)
{
    aod_entry e = disclosure();

    e.when_start = e.when_end = e.first = e.last = e.recorded = T_0320;
    e.flags = AOD_ENTRY_SUSPENDED;
    e.shown_name = "Office of Inspector General";
    e.shown_address = NULL;
    e.purpose_code = "HLEGAL";
    e.group = 3;
    return e;
}

/* A read by a nurse, shown by role and unit. */
static aod_entry masked_read(void)
{
    aod_entry e = base_entry(T_0102, AOD_CLASS_INTERNAL);

    e.type_code = "rest";
    e.subtype_code = "read";
    e.who.cls = AOD_ACTOR_WORKFORCE;
    e.who.name = "Dr. Alice Smith";
    e.shown_name = "Nurse, Cardiology";
    e.shown_role = "Nurse";
    e.shown_organisation = "Riverside Hospital & Clinics <Main>";
    e.data_kinds = "Observation";
    e.purpose_code = "TREAT";
    e.tier = AOD_TIER_ROLE_UNIT;
    e.group = 10;
    return e;
}

/* A session of a pseudonymised staff member. */
static aod_entry pseudonymous_session(void)
{
    aod_entry e = base_entry(T_0315, AOD_CLASS_INTERNAL);

    e.flags = AOD_ENTRY_SESSION;
    e.first = T_0315;
    e.last = e.when_end = T_0320;
    e.count = 4;
    e.raw_count = 9;
    e.action = 'E';
    e.type_code = "rest";
    e.subtype_code = "search-type";
    e.who.cls = AOD_ACTOR_WORKFORCE;
    e.who.name = "Bob Jones";
    e.shown_name = "Staff member K7QM2X";
    e.shown_role = "Physician";
    e.data_kinds = "Observation,DiagnosticReport,MedicationRequest";
    e.tier = AOD_TIER_PSEUDONYM;
    e.group = 11;
    return e;
}

/* A failed attempt by someone shown generically. */
static aod_entry failed_attempt(void)
{
    aod_entry e = base_entry(T_0320, AOD_CLASS_FAILED);

    e.flags = AOD_ENTRY_FAILED;
    e.outcome = "8";
    e.subtype_code = "read";
    e.who.cls = AOD_ACTOR_WORKFORCE;
    e.shown_name = "a staff member";
    e.data_kinds = "Patient";
    e.tier = AOD_TIER_GENERIC;
    e.group = 12;
    return e;
}

/* Hostile strings: markup, quotes, a control character, invalid UTF-8,
 * white space only, a system with a space, no type, an unknown outcome. */
static aod_entry hostile(void)
{
    aod_entry e = base_entry(T_0320, AOD_CLASS_DISCLOSURE);

    e.type_code = NULL;
    e.outcome = "weird";
    e.who.cls = AOD_ACTOR_EXTERNAL_PERSON;
    e.shown_name = "<script>alert('x')</script> & \"Quote\" \x01 Ltd";
    e.shown_address = "  \t ";
    e.data = "notes \xff\xfe broken\nsecond\tline\r";
    e.purpose_system = "bad system";
    e.purpose_code = "  OTHER   CODE ";
    e.purpose_display = "   ";
    e.where = "\n";
    e.tier = AOD_TIER_FULL_NAME;
    e.group = 13;
    return e;
}

/* --------------------------------------------------------------- render */

typedef struct scenario {
    const char *name;
    aod_mode mode;
    aod_audience audience;
    const char *lang;
    aod_failed_mode failed;
    int summarise;
    int n; /* entries from the list below, by kind */
    char kinds[8];
} scenario;

static aod_entry entry_of(char kind)
{
    switch (kind) {
    case 'd':
        return disclosure();
    case 's':
        return summarised();
    case 'w':
        return suspended();
    case 'r':
        return masked_read();
    case 'p':
        return pseudonymous_session();
    case 'f':
        return failed_attempt();
    default:
        return hostile();
    }
}

static const scenario scenarios[] = {
    {"disclosures-patient-en", AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en",
     AOD_FAILED_SEPARATE, 1, 3, "dsh"},
    {"disclosures-privacy-en", AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PRIVACY_OFFICE, "en",
     AOD_FAILED_SEPARATE, 1, 3, "dsw"},
    {"disclosures-empty-es", AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "es", AOD_FAILED_SEPARATE,
     1, 0, ""},
    {"access-patient-en", AOD_MODE_ACCESS, AOD_AUDIENCE_PATIENT, "en", AOD_FAILED_SEPARATE, 1, 5,
     "rpfdh"},
    {"access-privacy-es", AOD_MODE_ACCESS, AOD_AUDIENCE_PRIVACY_OFFICE, "es", AOD_FAILED_FLAG, 1, 4,
     "rpfd"},
    {"access-empty-en", AOD_MODE_ACCESS, AOD_AUDIENCE_PATIENT, "en", AOD_FAILED_OMIT, 0, 0, ""},
    {"disclosures-one-en", AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en", AOD_FAILED_SEPARATE, 0,
     1, "d"},
};

static aod_text *load_text(const char *lang)
{
    const char *top = getenv("top_srcdir");
    char dir[1024];
    aod_error err;
    aod_text *t;

    snprintf(dir, sizeof dir, "%s/templates", top && *top ? top : ".");
    aod_error_init(&err);
    t = aod_text_load(dir, lang, &err);
    if (!t)
        fail_msg("templates for %s: %s", lang, err.text);
    return t;
}

static char *slurp(FILE *f, size_t *len)
{
    long size;
    char *s;

    assert_int_equal(fflush(f), 0);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size >= 0);
    s = malloc((size_t)size + 1);
    assert_non_null(s);
    rewind(f);
    assert_int_equal(fread(s, 1, (size_t)size, f), (size_t)size);
    s[size] = '\0';
    if (len)
        *len = (size_t)size;
    return s;
}

/* Renders scenario sc in format fmt; returns the bytes (free them). */
static char *render_with(const scenario *sc, aod_bundle_format fmt, int64_t now, size_t *len)
{
    aod_policy p = make_policy(sc->failed, sc->summarise);
    aod_report_info info = make_info(&p, sc->mode, sc->audience, sc->lang);
    aod_report_summary sum = make_summary();
    aod_text *t = load_text(sc->lang);
    FILE *f = tmpfile();
    aod_error err;
    aod_sink *s;
    char *out;
    int i;

    assert_non_null(f);
    info.now = now;
    aod_error_init(&err);
    s = aod_bundle_sink_new(f, fmt, t, &err);
    assert_non_null(s);
    assert_int_equal(s->begin(s, &info, &err), 0);
    for (i = 0; i < sc->n; i++) {
        aod_entry e = entry_of(sc->kinds[i]);
        /* record_ids must be copied: hand a scratch copy and spoil it. */
        int64_t scratch[8];
        size_t k;
        for (k = 0; k < e.n_record_ids && k < 8; k++)
            scratch[k] = e.record_ids[k];
        e.record_ids = scratch;
        if (s->entry(s, &e, &err) != 0)
            fail_msg("entry: %s", err.text);
        for (k = 0; k < 8; k++)
            scratch[k] = -1;
    }
    if (s->end(s, &sum, &err) != 0)
        fail_msg("end: %s", err.text);
    s->free(s);
    aod_text_free(t);
    out = slurp(f, len);
    fclose(f);
    return out;
}

static char *render(const scenario *sc, aod_bundle_format fmt, size_t *len)
{
    return render_with(sc, fmt, T_NOW, len);
}

static json_t *render_json(const scenario *sc)
{
    char *txt = render(sc, AOD_BUNDLE_JSON, NULL);
    json_error_t je;
    json_t *doc = json_loads(txt, JSON_REJECT_DUPLICATES, &je);

    if (!doc)
        fail_msg("%s: not JSON (line %d): %s", sc->name, je.line, je.text);
    free(txt);
    return doc;
}

/* The XML form read back (aod_bundle_read_xml, what verify-signature
 * uses) is the JSON form, value for value (arrays, integers, booleans,
 * narratives as written), in every scenario, the hostile strings included;
 * written again as XML (aod_bundle_write_xml) it is the sink's XML byte
 * for byte; and an element or attribute the renderer does not write is
 * refused, not skipped. */
static void xml_read_back(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        size_t len, wlen = 0;
        char *xml = render(&scenarios[i], AOD_BUNDLE_XML, &len), *w = NULL;
        json_t *want = render_json(&scenarios[i]), *got;
        aod_error err;
        FILE *m;

        aod_error_init(&err);
        got = aod_bundle_read_xml(xml, len, &err);
        if (!got)
            fail_msg("%s: %s", scenarios[i].name, err.text);
        if (!json_equal(got, want)) {
            char *a = json_dumps(got, JSON_SORT_KEYS), *b = json_dumps(want, JSON_SORT_KEYS);
            size_t k = 0;
            while (a[k] && a[k] == b[k])
                k++;
            fail_msg("%s: read back differs at %zu: %.120s | %.120s", scenarios[i].name, k,
                     a + (k > 40 ? k - 40 : 0), b + (k > 40 ? k - 40 : 0));
        }
        m = open_memstream(&w, &wlen);
        assert_non_null(m);
        assert_int_equal(aod_bundle_write_xml(m, got, &err), 0);
        assert_int_equal(fclose(m), 0);
        assert_int_equal(wlen, len);
        assert_memory_equal(w, xml, len);
        free(w);
        json_decref(got);
        json_decref(want);
        free(xml);
    }
    {
        static const char *const bad[] = {
            "<Bundle xmlns=\"http://hl7.org/fhir\"><type value=\"document\" id=\"x\"/></Bundle>",
            "<Bundle xmlns=\"http://hl7.org/fhir\"><type value=\"document\"/><type "
            "value=\"batch\"/></Bundle>",
            "<Bundle xmlns=\"http://hl7.org/fhir\"><meta>text</meta></Bundle>",
            "<Bundle xmlns=\"http://hl7.org/fhir\"><!-- c --><type value=\"document\"/></Bundle>",
            "<Bundle xmlns=\"http://hl7.org/fhir\"><entry><resource/></entry></Bundle>",
            "<Bundle xmlns=\"http://hl7.org/fhir\"><div value=\"0\"/></Bundle>",
            "<Bundle xmlns=\"http://hl7.org/fhir\"><requestor value=\"yes\"/></Bundle>",
            "<Bundle xmlns=\"http://hl7.org/fhir\"><valueInteger value=\"1x\"/></Bundle>",
            "<Bundle><type value=\"document\"/></Bundle>",
            "<Other xmlns=\"http://hl7.org/fhir\"/>",
            "<Bundle xmlns=\"http://hl7.org/fhir\"><text><div "
            "xmlns=\"http://www.w3.org/1999/xhtml\"><p>never ends</p></text></Bundle>",
            "not XML"};
        for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            aod_error err;
            json_t *v;
            aod_error_init(&err);
            v = aod_bundle_read_xml(bad[i], strlen(bad[i]), &err);
            if (v)
                fail_msg("read: %s", bad[i]);
            assert_int_equal(err.code, AOD_ERR_INPUT);
        }
    }
}

/* An SSN among the keys leaves by its last four digits only, in every
 * copy and format: the privacy office's documents are forwarded and filed
 * as readily as the patient's. */
static void ssn_never_whole(void **state)
{
    size_t i;
    int fmt;

    (void)state;
    for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        for (fmt = AOD_BUNDLE_JSON; fmt <= AOD_BUNDLE_XML; fmt++) {
            char *txt = render(&scenarios[i], (aod_bundle_format)fmt, NULL);
            if (strstr(txt, "123-45-6789"))
                fail_msg("%s (%s): the whole SSN is in the document", scenarios[i].name,
                         fmt == AOD_BUNDLE_JSON ? "JSON" : "XML");
            assert_non_null(strstr(txt, "***-**-6789"));
            free(txt);
        }
}

static const scenario *find(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (strcmp(scenarios[i].name, name) == 0)
            return &scenarios[i];
    fail_msg("no scenario %s", name);
    return NULL;
}

/* ------------------------------------------------------------- helpers */

static json_t *resource(json_t *doc, size_t i)
{
    return json_object_get(json_array_get(json_object_get(doc, "entry"), i), "resource");
}

static const char *str_at(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int is_uuid_urn(const char *s)
{
    size_t i;

    if (!s || strlen(s) != 45 || strncmp(s, "urn:uuid:", 9) != 0)
        return 0;
    s += 9;
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!strchr("0123456789abcdef", s[i])) {
            return 0;
        }
    }
    return s[14] == '8' &&
           strchr("89ab", s[19]) != NULL; /* version 8 (RFC 9562 5.8), its variant */
}

static int is_full_url(json_t *doc, const char *ref)
{
    size_t i;
    json_t *e;

    json_array_foreach(json_object_get(doc, "entry"), i,
                       e) if (ref && strcmp(str_at(e, "fullUrl"), ref) == 0) return 1;
    return 0;
}

/* Every "reference" anywhere in v resolves inside doc; counts them. */
static void check_references(json_t *doc, json_t *v, int *n)
{
    const char *k;
    json_t *c;
    size_t i;

    if (json_is_object(v)) {
        json_object_foreach(v, k, c)
        {
            if (strcmp(k, "reference") == 0) {
                if (!is_full_url(doc, json_string_value(c)))
                    fail_msg("reference %s does not resolve", json_string_value(c));
                (*n)++;
            } else {
                check_references(doc, c, n);
            }
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, c) check_references(doc, c, n);
    }
}

/* No null, empty string, empty array or empty object anywhere. */
static void check_no_empty(json_t *v)
{
    const char *k;
    json_t *c;
    size_t i;

    assert_false(json_is_null(v));
    if (json_is_string(v))
        assert_true(json_string_length(v) > 0);
    if (json_is_object(v)) {
        assert_true(json_object_size(v) > 0);
        json_object_foreach(v, k, c) check_no_empty(c);
    }
    if (json_is_array(v)) {
        assert_true(json_array_size(v) > 0);
        json_array_foreach(v, i, c) check_no_empty(c);
    }
}

static json_t *section_by_code(json_t *comp, const char *code)
{
    size_t i;
    json_t *sec;

    json_array_foreach(json_object_get(comp, "section"), i, sec)
    {
        json_t *c = json_array_get(json_object_get(json_object_get(sec, "code"), "coding"), 0);
        if (strcmp(str_at(c, "system"), AOD_BUNDLE_CS_SECTION) == 0 &&
            strcmp(str_at(c, "code"), code) == 0)
            return sec;
    }
    return NULL;
}

/* The AuditEvent resource whose fullUrl is ref. */
static json_t *event_at(json_t *doc, const char *ref)
{
    size_t i;
    json_t *e;

    json_array_foreach(json_object_get(doc, "entry"), i,
                       e) if (strcmp(str_at(e, "fullUrl"), ref) ==
                              0) return json_object_get(e, "resource");
    return NULL;
}

static json_t *extension(json_t *r, const char *url)
{
    size_t i;
    json_t *x;

    json_array_foreach(json_object_get(r, "extension"), i,
                       x) if (strcmp(str_at(x, "url"), url) == 0) return x;
    return NULL;
}

static int has_label(json_t *r, const char *system, const char *code)
{
    size_t i;
    json_t *c;

    json_array_foreach(json_object_get(json_object_get(r, "meta"), "security"), i,
                       c) if (strcmp(str_at(c, "system"), system) == 0 &&
                              strcmp(str_at(c, "code"), code) == 0) return 1;
    return 0;
}

/* The AuditEvent whose who.display (last agent) is name. */
static json_t *event_of(json_t *doc, const char *name)
{
    size_t i;
    json_t *e;

    json_array_foreach(json_object_get(doc, "entry"), i, e)
    {
        json_t *r = json_object_get(e, "resource");
        json_t *agents = json_object_get(r, "agent");
        json_t *last = json_array_get(agents, json_array_size(agents) - 1);
        const char *d = str_at(json_object_get(last, "who"), "display");
        if (strcmp(str_at(r, "resourceType"), "AuditEvent") == 0 && d && strcmp(d, name) == 0)
            return r;
    }
    return NULL;
}

/* --------------------------------------------------------------- tests */

static void bundle_shape(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        const scenario *sc = &scenarios[i];
        json_t *doc = render_json(sc), *e, *comp = resource(doc, 0), *id;
        int n_refs = 0;
        size_t j, k;

        assert_string_equal(str_at(doc, "resourceType"), "Bundle");
        assert_string_equal(str_at(doc, "type"), "document");
        assert_string_equal(str_at(doc, "timestamp"), "2025-07-01T12:00:00Z");
        id = json_object_get(doc, "identifier");
        assert_string_equal(str_at(id, "system"), "urn:ietf:rfc:3986");
        assert_true(is_uuid_urn(str_at(id, "value")));
        /* Composition first, then Patient and Organization, then events. */
        assert_int_equal(json_array_size(json_object_get(doc, "entry")), 3 + sc->n);
        assert_string_equal(str_at(comp, "resourceType"), "Composition");
        assert_string_equal(str_at(resource(doc, 1), "resourceType"), "Patient");
        assert_string_equal(str_at(resource(doc, 2), "resourceType"), "Organization");
        for (j = 3; j < 3 + (size_t)sc->n; j++)
            assert_string_equal(str_at(resource(doc, j), "resourceType"), "AuditEvent");
        assert_string_equal(str_at(comp, "status"), "final");
        assert_string_equal(str_at(comp, "date"), "2025-07-01T12:00:00Z");
        assert_string_equal(str_at(comp, "confidentiality"), "R");
        assert_string_equal(
            str_at(json_array_get(json_object_get(json_object_get(comp, "type"), "coding"), 0),
                   "code"),
            sc->mode == AOD_MODE_ACCESS ? "access-report" : "accounting-of-disclosures");
        assert_string_equal(
            str_at(json_object_get(json_array_get(json_object_get(comp, "event"), 0), "period"),
                   "end"),
            "2025-06-30T23:59:59.999Z");
        /* Unique urn:uuid fullUrls; every reference resolves. */
        json_array_foreach(json_object_get(doc, "entry"), j, e)
        {
            assert_true(is_uuid_urn(str_at(e, "fullUrl")));
            for (k = 0; k < j; k++)
                assert_string_not_equal(
                    str_at(json_array_get(json_object_get(doc, "entry"), k), "fullUrl"),
                    str_at(e, "fullUrl"));
        }
        check_references(doc, doc, &n_refs);
        /* subject, author, custodian; per event its section's entry,
         * the patient entity and source.observer */
        assert_true(n_refs >= 3 + 3 * sc->n);
        check_no_empty(doc);
        json_decref(doc);
    }
}

/* Each listing section references exactly its events, each event appears
 * in one section; empty listings carry an emptyReason and no entry;
 * every section has a narrative. */
/* The summary section (issue 16): the totals, the people as masked, the
 * systems apart with what they did; in every scenario and language. */
static void overview_section(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        json_t *doc = render_json(&scenarios[i]), *comp = resource(doc, 0);
        json_t *sec = section_by_code(comp, "who-and-why");
        const char *div;

        assert_non_null(sec);
        /* second, after the summary of the counts, before the listing */
        assert_ptr_equal(json_array_get(json_object_get(comp, "section"), 1), sec);
        div = str_at(json_object_get(sec, "text"), "div");
        assert_non_null(strstr(div, "40"));
        assert_non_null(strstr(div, "Nurse, Cardiology, Riverside Hospital"));
        assert_non_null(strstr(div, "Laboratory interface"));
        assert_non_null(strstr(div, strcmp(scenarios[i].lang, "es") == 0 ? "consult" : "viewed"));
        /* one system: the verb agrees (issue 16: no "1 ... are") */
        assert_non_null(strstr(div, strcmp(scenarios[i].lang, "es") == 0
                                        ? "1 sistema informático que actuó por sí solo se indica"
                                        : "1 computer system acting on its own is listed apart"));
        assert_non_null(
            strstr(div, strcmp(scenarios[i].lang, "es") == 0 ? "2 personas" : "2 people"));
        assert_null(json_object_get(sec, "entry"));
        json_decref(doc);
    }
}

static void sections(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        const scenario *sc = &scenarios[i];
        json_t *doc = render_json(sc), *comp = resource(doc, 0), *sec;
        size_t j, n_listed = 0;

        json_array_foreach(json_object_get(comp, "section"), j, sec)
        {
            json_t *entries = json_object_get(sec, "entry"), *ref;
            const char *div = str_at(json_object_get(sec, "text"), "div");
            size_t k;

            assert_non_null(str_at(sec, "title"));
            assert_non_null(div);
            assert_true(strncmp(div, "<div xmlns=\"http://www.w3.org/1999/xhtml\">", 42) == 0);
            assert_null(strstr(div, "bundle.")); /* no template key left unexpanded */
            if (json_object_get(sec, "emptyReason"))
                assert_null(entries); /* cmp-2 */
            json_array_foreach(entries, k, ref)
            {
                json_t *ev = event_at(doc, str_at(ref, "reference"));
                assert_non_null(ev);
                assert_string_equal(str_at(ev, "resourceType"), "AuditEvent");
                n_listed++;
            }
        }
        assert_int_equal(n_listed, sc->n);
        if (sc->n == 0) {
            sec = section_by_code(comp, sc->mode == AOD_MODE_ACCESS ? "accesses" : "disclosures");
            assert_non_null(sec);
            assert_non_null(json_object_get(sec, "emptyReason"));
        }
        assert_non_null(section_by_code(comp, "summary"));
        assert_non_null(section_by_code(comp, "exclusions"));
        assert_non_null(section_by_code(comp, "completeness"));
        json_decref(doc);
    }
}

static void section_membership(void **state)
{
    json_t *doc, *comp, *sec;

    (void)state;
    doc = render_json(find("disclosures-patient-en"));
    comp = resource(doc, 0);
    sec = section_by_code(comp, "summarised-disclosures");
    assert_non_null(sec);
    assert_int_equal(json_array_size(json_object_get(sec, "entry")), 1);
    assert_ptr_equal(
        event_at(doc, str_at(json_array_get(json_object_get(sec, "entry"), 0), "reference")),
        event_of(doc, "State Cancer Registry"));
    assert_int_equal(
        json_array_size(json_object_get(section_by_code(comp, "disclosures"), "entry")), 2);
    assert_null(section_by_code(comp, "withheld-disclosures"));
    assert_null(section_by_code(comp, "failed-attempts"));
    json_decref(doc);

    doc = render_json(find("disclosures-privacy-en"));
    comp = resource(doc, 0);
    sec = section_by_code(comp, "withheld-disclosures");
    assert_non_null(sec);
    assert_int_equal(json_array_size(json_object_get(sec, "entry")), 1);
    json_decref(doc);

    doc = render_json(find("access-patient-en"));
    comp = resource(doc, 0);
    assert_null(section_by_code(comp, "summarised-disclosures"));
    sec = section_by_code(comp, "failed-attempts");
    assert_non_null(sec);
    assert_int_equal(json_array_size(json_object_get(sec, "entry")), 1);
    assert_int_equal(json_array_size(json_object_get(section_by_code(comp, "accesses"), "entry")),
                     4);
    json_decref(doc);

    /* failed FLAG: listed with the others, no section of their own */
    doc = render_json(find("access-privacy-es"));
    comp = resource(doc, 0);
    assert_null(section_by_code(comp, "failed-attempts"));
    assert_int_equal(json_array_size(json_object_get(section_by_code(comp, "accesses"), "entry")),
                     4);
    json_decref(doc);
}

static void security_labels(void **state)
{
    json_t *doc, *ev;

    (void)state;
    doc = render_json(find("access-patient-en"));
    ev = event_of(doc, "Nurse, Cardiology");
    assert_true(has_label(ev, OBS_VALUE, "MASKED"));
    assert_false(has_label(ev, OBS_VALUE, "PSEUDED"));
    ev = event_of(doc, "Staff member K7QM2X");
    assert_true(has_label(ev, OBS_VALUE, "PSEUDED"));
    assert_false(has_label(ev, OBS_VALUE, "MASKED"));
    ev = event_of(doc, "a staff member");
    assert_true(has_label(ev, OBS_VALUE, "MASKED"));
    ev = event_of(doc, "County Health Department");
    assert_false(has_label(ev, OBS_VALUE, "MASKED"));
    assert_false(has_label(ev, OBS_VALUE, "PSEUDED"));
    assert_true(has_label(ev, "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R"));
    /* The Bundle carries the union and the confidentiality. */
    assert_true(has_label(doc, OBS_VALUE, "MASKED"));
    assert_true(has_label(doc, OBS_VALUE, "PSEUDED"));
    assert_true(has_label(doc, "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R"));
    json_decref(doc);

    doc = render_json(find("disclosures-patient-en")); /* full names only */
    assert_false(has_label(doc, OBS_VALUE, "MASKED"));
    assert_false(has_label(doc, OBS_VALUE, "PSEUDED"));
    json_decref(doc);
}

static void counts_and_agents(void **state)
{
    json_t *doc, *ev, *x, *agents, *shown;

    (void)state;
    doc = render_json(find("disclosures-privacy-en"));
    ev = event_of(doc, "State Cancer Registry");
    x = extension(ev, AOD_BUNDLE_EXT_RAW_COUNT);
    assert_int_equal(json_integer_value(json_object_get(x, "valueInteger")), 5);
    x = extension(ev, AOD_BUNDLE_EXT_EVENT_COUNT);
    assert_int_equal(json_integer_value(json_object_get(x, "valueInteger")), 3);
    assert_string_equal(str_at(json_object_get(ev, "period"), "start"), "2025-01-02T10:00:00Z");
    assert_string_equal(str_at(json_object_get(ev, "period"), "end"), "2025-06-30T23:59:59Z");
    /* record ids copied at entry() time, not read back from the caller */
    x = extension(ev, AOD_BUNDLE_EXT_RECORD_IDS);
    assert_string_equal(str_at(x, "valueString"), "21 22 23 24 25");
    assert_non_null(extension(ev, AOD_BUNDLE_EXT_RULE));
    /* A disclosure: the covered entity as source, the recipient as shown. */
    ev = event_of(doc, "County Health Department");
    agents = json_object_get(ev, "agent");
    assert_int_equal(json_array_size(agents), 2);
    assert_true(json_is_true(json_object_get(json_array_get(agents, 0), "requestor")));
    shown = json_array_get(agents, 1);
    assert_true(json_is_false(json_object_get(shown, "requestor")));
    assert_string_equal(str_at(extension(shown, AOD_BUNDLE_EXT_SHOWN_ADDR), "valueString"),
                        "100 Main St, Springfield");
    assert_int_equal(json_integer_value(
                         json_object_get(extension(ev, AOD_BUNDLE_EXT_RAW_COUNT), "valueInteger")),
                     2);
    assert_non_null(json_object_get(json_object_get(ev, "source"), "observer"));
    assert_non_null(json_object_get(ev, "recorded"));
    assert_non_null(json_object_get(ev, "type"));
    json_decref(doc);

    /* The patient's copy: no rule, class, group or record ids. */
    doc = render_json(find("disclosures-patient-en"));
    ev = event_of(doc, "State Cancer Registry");
    assert_null(extension(ev, AOD_BUNDLE_EXT_RECORD_IDS));
    assert_null(extension(ev, AOD_BUNDLE_EXT_RULE));
    assert_null(extension(ev, AOD_BUNDLE_EXT_CLASS));
    assert_null(extension(ev, AOD_BUNDLE_EXT_GROUP));
    assert_non_null(extension(ev, AOD_BUNDLE_EXT_RAW_COUNT));
    json_decref(doc);

    /* An access: one agent, the requestor, shown with role and organisation. */
    doc = render_json(find("access-patient-en"));
    ev = event_of(doc, "Nurse, Cardiology");
    agents = json_object_get(ev, "agent");
    assert_int_equal(json_array_size(agents), 1);
    shown = json_array_get(agents, 0);
    assert_true(json_is_true(json_object_get(shown, "requestor")));
    assert_string_equal(str_at(json_array_get(json_object_get(shown, "role"), 0), "text"), "Nurse");
    assert_string_equal(str_at(extension(shown, AOD_BUNDLE_EXT_SHOWN_ORG), "valueString"),
                        "Riverside Hospital & Clinics <Main>");
    json_decref(doc);
}

/* Nothing the records held but the reader may not see, in either format. */
static void no_leaks(void **state)
{
    size_t i, k;

    (void)state;
    for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        for (k = 0; k < 2; k++) {
            char *txt = render(&scenarios[i], k ? AOD_BUNDLE_XML : AOD_BUNDLE_JSON, NULL);
            const char *const *sp;
            for (sp = secrets; *sp; sp++) {
                /* the privacy office may see the rule's id */
                if (scenarios[i].audience == AOD_AUDIENCE_PRIVACY_OFFICE &&
                    strcmp(*sp, "rule-secret-for-patients") == 0)
                    continue;
                if (strstr(txt, *sp))
                    fail_msg("%s (%s) shows '%s'", scenarios[i].name, k ? "XML" : "JSON", *sp);
            }
            assert_null(strstr(txt, "\"query\""));
            assert_null(strstr(txt, "<query"));
            assert_null(strstr(txt, "\"detail\""));
            if (k) /* XML: markup from the data only ever escaped */
                assert_null(strstr(txt, "<script"));
            free(txt);
        }
    }
}

static void deterministic(void **state)
{
    size_t i, k;

    (void)state;
    for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        for (k = 0; k < 2; k++) {
            aod_bundle_format fmt = k ? AOD_BUNDLE_XML : AOD_BUNDLE_JSON;
            size_t la, lb;
            char *a = render(&scenarios[i], fmt, &la);
            char *b = render(&scenarios[i], fmt, &lb);
            char *c = render_with(&scenarios[i], fmt, T_NOW + 1000, NULL);
            assert_int_equal(la, lb);
            assert_memory_equal(a, b, la);
            assert_string_not_equal(a, c); /* another run time: another document */
            free(a);
            free(b);
            free(c);
        }
    }
}

/* The streamed JSON is exactly what jansson writes for the whole document. */
static void json_layout(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        char *txt = render(&scenarios[i], AOD_BUNDLE_JSON, NULL);
        json_t *doc = json_loads(txt, JSON_REJECT_DUPLICATES, NULL);
        char *again;
        size_t n;

        assert_non_null(doc);
        again = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        assert_non_null(again);
        n = strlen(again);
        assert_int_equal(strlen(txt), n + 1);
        assert_memory_equal(txt, again, n);
        assert_int_equal(txt[n], '\n');
        assert_non_null(strstr(txt, "Núñez")); /* UTF-8 kept, not \u-escaped */
        free(again);
        json_decref(doc);
        free(txt);
    }
}

/* The Composition's second section: the listing. */
static json_t *list_section(json_t *doc)
{
    json_t *secs = json_object_get(
        json_object_get(json_array_get(json_object_get(doc, "entry"), 0), "resource"), "section");
    size_t i;

    /* the listing by its code: the summary sections come before it */
    for (i = 0; i < json_array_size(secs); i++) {
        json_t *sec = json_array_get(secs, i);
        const char *code = json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(sec, "code"), "coding"), 0), "code"));
        if (code && (strcmp(code, "accesses") == 0 || strcmp(code, "disclosures") == 0))
            return sec;
    }
    return NULL;
}

/* The longest string anywhere in v. */
static size_t longest_string(json_t *v)
{
    size_t best = 0, i, n;
    const char *k;
    json_t *m;

    if (json_is_string(v))
        return json_string_length(v);
    if (json_is_array(v))
        for (i = 0; i < json_array_size(v); i++)
            if ((n = longest_string(json_array_get(v, i))) > best)
                best = n;
    if (json_is_object(v))
        json_object_foreach(v, k, m)
        {
            if ((n = longest_string(m)) > best)
                best = n;
        }
    return best;
}

/* A document of n lines into f; returns end()'s result, err filled. */
static int render_many(FILE *f, size_t n, aod_error *err)
{
    aod_policy p = make_policy(AOD_FAILED_SEPARATE, 0);
    aod_report_info info = make_info(&p, AOD_MODE_ACCESS, AOD_AUDIENCE_PATIENT, "en");
    aod_report_summary sum = make_summary();
    aod_text *t = load_text("en");
    aod_sink *s = aod_bundle_sink_new(f, AOD_BUNDLE_JSON, t, err);
    size_t i;
    int rc;

    assert_non_null(s);
    assert_int_equal(s->begin(s, &info, err), 0);
    for (i = 0; i < n; i++) {
        aod_entry e = i % 3 ? masked_read() : disclosure();
        e.when_start = e.when_end = e.recorded = T_NOW - 86400000 + (int64_t)i * 1000;
        assert_int_equal(s->entry(s, &e, err), 0);
    }
    rc = s->end(s, &sum, err);
    s->free(s);
    aod_text_free(t);
    return rc;
}

/* The same for a document far larger than the writer's 64 KB pieces: the
 * Composition's narrative alone (one jansson token) is several of them, and
 * the entries cross piece boundaries at every place. */
static void json_layout_large(void **state)
{
    FILE *f = tmpfile();
    aod_error err;
    json_t *doc;
    char *txt, *again;
    size_t len, n;

    (void)state;
    assert_non_null(f);
    aod_error_init(&err);
    assert_int_equal(render_many(f, 3000, &err), 0);
    txt = slurp(f, &len);
    fclose(f);
    assert_true(len > 20 * 64 * 1024);
    doc = json_loads(txt, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(doc);
    assert_int_equal(json_array_size(json_object_get(doc, "entry")), 3000 + 3);
    /* a narrative (one jansson token) longer than the writer's pieces */
    assert_true(strlen(json_string_value(json_object_get(
                    json_object_get(
                        json_array_get(json_object_get(list_section(doc), "section"), 0), "text"),
                    "div"))) > 64 * 1024 + 1);
    again = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    assert_non_null(again);
    n = strlen(again);
    assert_int_equal(len, n + 1);
    assert_memory_equal(txt, again, n);
    free(again);
    json_decref(doc);
    free(txt);
}

/* FHIR strings stay under 1 MB: a listing longer than 500 lines comes in
 * sub-sections of 500, each with its table and its entries, every line
 * once and in order, and the section itself says so. */
static void long_listing_in_parts(void **state)
{
    FILE *f = tmpfile();
    aod_error err;
    json_t *doc, *sec, *parts;
    size_t i, k, seen = 0;
    char *txt;

    (void)state;
    assert_non_null(f);
    aod_error_init(&err);
    assert_int_equal(render_many(f, 3000, &err), 0);
    txt = slurp(f, NULL);
    fclose(f);
    doc = json_loads(txt, 0, NULL);
    assert_non_null(doc);
    assert_true(longest_string(doc) < 1024 * 1024);
    sec = list_section(doc);
    assert_null(json_object_get(sec, "entry"));
    assert_non_null(strstr(json_string_value(json_object_get(json_object_get(sec, "text"), "div")),
                           "There are 3000 lines"));
    parts = json_object_get(sec, "section");
    assert_int_equal(json_array_size(parts), 6);
    for (i = 0; i < json_array_size(parts); i++) {
        json_t *part = json_array_get(parts, i), *refs = json_object_get(part, "entry");
        assert_int_equal(json_array_size(refs), 500);
        assert_non_null(strstr(str_at(part, "title"), "Part "));
        assert_non_null(json_object_get(json_object_get(part, "text"), "div"));
        for (k = 0; k < json_array_size(refs); k++, seen++)
            /* the entries are the document's in order: Composition, Patient,
             * Organization, then the lines */
            assert_string_equal(
                str_at(json_array_get(refs, k), "reference"),
                json_string_value(json_object_get(
                    json_array_get(json_object_get(doc, "entry"), 3 + seen), "fullUrl")));
    }
    assert_int_equal(seen, 3000);
    json_decref(doc);
    free(txt);
}

/* A write error in the middle of a large document is a write error, not
 * "out of memory". */
static void write_failure_large(void **state)
{
    FILE *f = fopen("/dev/full", "w");
    aod_error err;

    (void)state;
    if (!f)
        skip();
    aod_error_init(&err);
    assert_int_equal(render_many(f, 3000, &err), -1);
    assert_int_equal(err.code, AOD_ERR_IO);
    fclose(f);
}

static const char *const xhtml_allowed[] = {"div",   "p",  "ul", "li", "table", "thead",
                                            "tbody", "tr", "th", "td", NULL};

/* A narrative: the FHIR subset, no attributes but the namespace. */
static void check_xhtml(xmlNodePtr n)
{
    xmlNodePtr c;
    const char *const *a;

    for (a = xhtml_allowed; *a && strcmp(*a, (const char *)n->name) != 0; a++)
        ;
    if (!*a)
        fail_msg("element <%s> in a narrative", (const char *)n->name);
    assert_non_null(n->ns);
    assert_string_equal((const char *)n->ns->href, "http://www.w3.org/1999/xhtml");
    assert_null(n->properties);
    for (c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            check_xhtml(c);
}

static void check_divs_in_json(json_t *v, int *n)
{
    const char *k;
    json_t *c;
    size_t i;

    if (json_is_object(v)) {
        json_object_foreach(v, k, c)
        {
            if (strcmp(k, "div") == 0) {
                const char *s = json_string_value(c);
                xmlDocPtr d = xmlReadMemory(s, (int)strlen(s), "div.xml", NULL,
                                            XML_PARSE_NONET | XML_PARSE_NOERROR);
                if (!d)
                    fail_msg("narrative is not well-formed: %.200s", s);
                check_xhtml(xmlDocGetRootElement(d));
                xmlFreeDoc(d);
                (*n)++;
            } else {
                check_divs_in_json(c, n);
            }
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, c) check_divs_in_json(c, n);
    }
}

static void narratives(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        json_t *doc = render_json(&scenarios[i]);
        int n = 0;
        check_divs_in_json(doc, &n);
        /* Composition, Patient, Organization, each event, each section */
        assert_true(n >= 3 + scenarios[i].n + 4);
        json_decref(doc);
    }
}

static void hostile_strings(void **state)
{
    json_t *doc, *ev, *purpose;
    const char *who;
    char *txt;

    (void)state;
    doc = render_json(find("access-patient-en"));
    ev = event_of(doc, "<script>alert('x')</script> & \"Quote\"   Ltd");
    assert_non_null(ev); /* the control character became a space */
    who =
        str_at(json_object_get(json_array_get(json_object_get(ev, "agent"), 1), "who"), "display");
    assert_non_null(strstr(who, "<script>")); /* JSON keeps it as data */
    /* no type recorded: DICOM's Export for a disclosure */
    assert_string_equal(str_at(json_object_get(ev, "type"), "code"), "110106");
    assert_null(json_object_get(ev, "outcome")); /* not an R4 outcome code */
    assert_null(json_object_get(ev, "source")
                    ? json_object_get(json_object_get(ev, "source"), "site")
                    : NULL); /* white space only */
    purpose = json_array_get(json_object_get(ev, "purposeOfEvent"), 0);
    assert_null(json_object_get(json_array_get(json_object_get(purpose, "coding"), 0), "system"));
    assert_string_equal(str_at(json_array_get(json_object_get(purpose, "coding"), 0), "code"),
                        "OTHER CODE");
    assert_non_null(strstr(str_at(json_object_get(ev, "text"), "div"), "&lt;script&gt;"));
    json_decref(doc);

    txt = render(find("access-patient-en"), AOD_BUNDLE_XML, NULL);
    assert_null(strstr(txt, "<script"));
    assert_null(strstr(txt, "\x01"));
    assert_null(strstr(txt, "\xff"));
    free(txt);
}

/* Counts elements named name in the FHIR namespace under n (deep: all
 * levels; else children only). */
static int count_fhir(xmlNodePtr n, const char *name, int deep)
{
    int k = 0;
    xmlNodePtr c;

    for (c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (c->ns && strcmp((const char *)c->ns->href, "http://hl7.org/fhir") == 0 &&
            strcmp((const char *)c->name, name) == 0)
            k++;
        if (deep)
            k += count_fhir(c, name, deep);
    }
    return k;
}

static void xml_form(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        size_t len;
        char *txt = render(&scenarios[i], AOD_BUNDLE_XML, &len);
        xmlDocPtr d =
            xmlReadMemory(txt, (int)len, "bundle.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
        xmlNodePtr root;
        json_t *doc = render_json(&scenarios[i]);

        if (!d)
            fail_msg("%s: XML not well-formed", scenarios[i].name);
        root = xmlDocGetRootElement(d);
        assert_string_equal((const char *)root->name, "Bundle");
        assert_string_equal((const char *)root->ns->href, "http://hl7.org/fhir");
        assert_int_equal(count_fhir(root, "entry", 0),
                         (int)json_array_size(json_object_get(doc, "entry")));
        assert_int_equal(count_fhir(root, "AuditEvent", 1), scenarios[i].n);
        assert_int_equal(count_fhir(root, "Composition", 1), 1);
        assert_non_null(strstr(txt, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
        assert_non_null(strstr(txt, "<type value=\"document\"/>"));
        xmlFreeDoc(d);
        json_decref(doc);
        free(txt);
    }
}

static void refuses_unmasked(void **state)
{
    const scenario *sc = find("access-patient-en");
    aod_policy p = make_policy(AOD_FAILED_SEPARATE, 1);
    aod_report_info info = make_info(&p, sc->mode, sc->audience, "en");
    aod_text *t = load_text("en");
    aod_entry e = masked_read();
    aod_error err;
    aod_sink *s;

    (void)state;
    aod_error_init(&err);
    assert_null(aod_bundle_sink_new(NULL, AOD_BUNDLE_JSON, t, &err));
    assert_int_equal(err.code, AOD_ERR_INTERNAL);
    aod_error_init(&err);
    s = aod_bundle_sink_new(stdout, AOD_BUNDLE_JSON, t, &err);
    assert_non_null(s);
    assert_int_equal(s->entry(s, &e, &err), -1); /* before begin */
    aod_error_init(&err);
    assert_int_equal(s->begin(s, &info, &err), 0);
    e.shown_name = NULL;
    assert_int_equal(s->entry(s, &e, &err), -1);
    assert_int_equal(err.code, AOD_ERR_INTERNAL);
    s->free(s);
    aod_text_free(t);
}

static void write_failure(void **state)
{
    const scenario *sc = find("access-patient-en");
    aod_policy p = make_policy(AOD_FAILED_SEPARATE, 1);
    aod_report_info info = make_info(&p, sc->mode, sc->audience, "en");
    aod_report_summary sum = make_summary();
    aod_text *t = load_text("en");
    aod_entry e = masked_read();
    FILE *f = fopen("/dev/full", "w");
    size_t k;

    (void)state;
    if (!f) {
        aod_text_free(t);
        skip();
    }
    for (k = 0; k < 2; k++) {
        aod_error err;
        aod_sink *s;
        aod_error_init(&err);
        s = aod_bundle_sink_new(f, k ? AOD_BUNDLE_XML : AOD_BUNDLE_JSON, t, &err);
        assert_non_null(s);
        assert_int_equal(s->begin(s, &info, &err), 0);
        assert_int_equal(s->entry(s, &e, &err), 0);
        assert_int_equal(s->end(s, &sum, &err), -1);
        assert_int_equal(err.code, AOD_ERR_IO);
        s->free(s);
        clearerr(f);
    }
    fclose(f);
    aod_text_free(t);
}

/* The keys of a template file as "\nkey1\nkey2\n...\n" (free it). */
static char *keys_of(const char *rel)
{
    const char *top = getenv("top_srcdir");
    char path[1024], line[4096];
    char *keys = malloc(2);
    size_t len = 1;
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", top && *top ? top : ".", rel);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(keys);
    keys[0] = '\n';
    keys[1] = '\0';
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, " =\t\r\n");
        char *grown;
        if (line[0] == '#' || n == 0)
            continue;
        grown = realloc(keys, len + n + 2);
        assert_non_null(grown);
        keys = grown;
        memcpy(keys + len, line, n);
        len += n;
        keys[len++] = '\n';
        keys[len] = '\0';
    }
    fclose(f);
    return keys;
}

/* Every key of a is in b; what names the file that lacks it. */
static void keys_within(const char *a, const char *b, const char *what)
{
    const char *p = a;

    while (p[1]) {
        const char *nl = strchr(p + 1, '\n');
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(nl - p + 1), p);
        if (!strstr(b, key))
            fail_msg("%s lacks %.*s", what, (int)(nl - p - 1), p + 1);
        p = nl;
    }
}

/* templates/en/bundle.txt and es/bundle.txt have the same keys. */
static void templates_match(void **state)
{
    char *en = keys_of("templates/en/bundle.txt");
    char *es = keys_of("templates/es/bundle.txt");

    (void)state;
    assert_true(strlen(en) > 100);
    keys_within(en, es, "templates/es/bundle.txt");
    keys_within(es, en, "templates/en/bundle.txt");
    free(en);
    free(es);
}

/* With AOD_BUNDLE_OUT set, the program writes the samples for the
 * independent validators instead of running the tests (a mode, not a test
 * that skips itself in every ordinary run). */
static void write_samples(void **state)
{
    const char *dir = getenv("AOD_BUNDLE_OUT");
    size_t i, k;

    (void)state;
    for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        for (k = 0; k < 2; k++) {
            char path[2048];
            size_t len;
            char *txt = render(&scenarios[i], k ? AOD_BUNDLE_XML : AOD_BUNDLE_JSON, &len);
            FILE *f;
            snprintf(path, sizeof path, "%s/%s.%s", dir, scenarios[i].name, k ? "xml" : "json");
            f = fopen(path, "wb");
            if (!f)
                fail_msg("cannot write %s", path);
            assert_int_equal(fwrite(txt, 1, len, f), len);
            assert_int_equal(fclose(f), 0);
            free(txt);
        }
    }
}

static int setup(void **state)
{
    aod_error err;

    (void)state;
    aod_error_init(&err);
    return aod_timefmt_set_zone("UTC", &err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bundle_shape),
        cmocka_unit_test(sections),
        cmocka_unit_test(overview_section),
        cmocka_unit_test(section_membership),
        cmocka_unit_test(security_labels),
        cmocka_unit_test(counts_and_agents),
        cmocka_unit_test(no_leaks),
        cmocka_unit_test(ssn_never_whole),
        cmocka_unit_test(deterministic),
        cmocka_unit_test(json_layout),
        cmocka_unit_test(narratives),
        cmocka_unit_test(hostile_strings),
        cmocka_unit_test(xml_form),
        cmocka_unit_test(refuses_unmasked),
        cmocka_unit_test(write_failure),
        cmocka_unit_test(templates_match),
        cmocka_unit_test(json_layout_large),
        cmocka_unit_test(write_failure_large),
        cmocka_unit_test(long_listing_in_parts),
        cmocka_unit_test(xml_read_back),
    };
    const struct CMUnitTest samples[] = {
        cmocka_unit_test(write_samples),
    };
    const char *out = getenv("AOD_BUNDLE_OUT");
    int rc;

    if (out && *out)
        rc = cmocka_run_group_tests(samples, setup, NULL);
    else
        rc = cmocka_run_group_tests(tests, setup, NULL);
    xmlCleanupParser();
    return rc;
}
