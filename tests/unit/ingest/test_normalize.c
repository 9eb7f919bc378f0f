/*
 * test_normalize.c - stage "normalize": AuditEvent JSON (R4, R5, R6 ballot)
 * into the plain record.
 *
 * Golden cases live in tests/data/normalize/<case>/: event.json is the input,
 * expected.txt the aod_recio_dump() of the record it must give.  Adding a
 * case means adding a directory.  Run with AOD_GOLDEN_WRITE=1 to (re)write
 * the expected files, then read every changed line before committing them:
 * the explicit tests below pin the facts the expected files must agree with.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "ingest/normalize.h"
#include "model/recio.h"

/* ---------------------------------------------------------------- helpers */

static void case_dir(char *out, size_t size, const char *name)
{
    const char *top = getenv("top_srcdir");

    if (!top || !*top)
        top = ".";
    if (name)
        snprintf(out, size, "%s/tests/data/normalize/%s", top, name);
    else
        snprintf(out, size, "%s/tests/data/normalize", top);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    aod_buf b;
    char chunk[4096];
    size_t n;

    if (!f)
        return NULL;
    aod_buf_init(&b, 0);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (aod_buf_add(&b, chunk, n) != 0)
            break;
    if (!ferror(f))
        data = aod_buf_take(&b, len);
    aod_buf_free(&b);
    fclose(f);
    return data;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The case directories, sorted; *n receives the count. */
static char **list_cases(size_t *n)
{
    char dir[1024], path[1400];
    char **names = NULL;
    struct dirent *de;
    struct stat st;
    DIR *d;

    *n = 0;
    case_dir(dir, sizeof dir, NULL);
    d = opendir(dir);
    if (!d)
        return NULL;
    while ((de = readdir(d)) != NULL) {
        char **grown;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s/event.json", dir, de->d_name);
        if (stat(path, &st) != 0)
            continue;
        grown = realloc(names, (*n + 1) * sizeof *names);
        assert_non_null(grown);
        names = grown;
        names[*n] = strdup(de->d_name);
        assert_non_null(names[*n]);
        ++*n;
    }
    closedir(d);
    qsort(names, *n, sizeof *names, cmp_names);
    return names;
}

static json_t *load_case(const char *name)
{
    char path[1400], dir[1024];
    json_error_t jerr;
    json_t *j;

    case_dir(dir, sizeof dir, name);
    snprintf(path, sizeof path, "%s/event.json", dir);
    j = json_load_file(path, 0, &jerr);
    if (!j)
        fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
    return j;
}

/* Normalizes a golden case's input into r (asserting success). */
static void normalize_case(const char *name, aod_record *r)
{
    json_t *j = load_case(name);
    aod_error err;
    char msg[1024];

    aod_error_init(&err);
    if (aod_normalize(j, r, &err) != 0)
        fail_msg("%s: %s", name, aod_error_format(&err, msg, sizeof msg));
    json_decref(j);
}

static int normalize_text(const char *text, aod_record *r, aod_error *err)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    int rc;

    if (!j)
        fail_msg("bad test JSON: %s", jerr.text);
    aod_error_init(err);
    rc = aod_normalize(j, r, err);
    json_decref(j);
    return rc;
}

static void assert_keys(const aod_record *r, const char *const *want, size_t n)
{
    size_t i;

    assert_int_equal(r->n_patient_keys, n);
    for (i = 0; i < n; i++)
        assert_string_equal(r->patient_keys[i], want[i]);
}

static void assert_str_null(const char *s)
{
    assert_null(s);
}

static int64_t t(const char *iso)
{
    int64_t ms;

    assert_int_equal(aod_time_parse(iso, &ms), 0);
    return ms;
}

/* Prints the first line where two dumps differ. */
static void show_diff(const char *name, const char *want, const char *got)
{
    size_t line = 1;
    const char *w = want, *g = got;

    while (*w && *g && *w == *g) {
        if (*w == '\n')
            line++;
        w++;
        g++;
    }
    while (w > want && w[-1] != '\n')
        w--;
    while (g > got && g[-1] != '\n')
        g--;
    fprintf(stderr, "%s: expected.txt differs at line %zu\n  expected: %.*s\n  got:      %.*s\n",
            name, line, (int)strcspn(w, "\n"), w, (int)strcspn(g, "\n"), g);
}

/* ------------------------------------------------------------ golden files */

static void test_golden_cases(void **state)
{
    const char *write = getenv("AOD_GOLDEN_WRITE");
    aod_record *r = aod_record_new(), *back = aod_record_new();
    size_t n = 0, i, failures = 0;
    char **names = list_cases(&n);

    (void)state;
    assert_non_null(r);
    assert_non_null(back);
    /* Fewer cases than were written means the data directory went missing. */
    assert_true(n >= 12);
    for (i = 0; i < n; i++) {
        char dir[1024], path[1400], msg[1024];
        aod_buf dump, enc, dump2;
        aod_error err;
        char *want;
        size_t want_len;

        aod_buf_init(&dump, 0);
        aod_buf_init(&enc, 0);
        aod_buf_init(&dump2, 0);
        aod_error_init(&err);
        normalize_case(names[i], r);
        assert_int_equal(aod_recio_dump(r, &dump, &err), 0);

        case_dir(dir, sizeof dir, names[i]);
        snprintf(path, sizeof path, "%s/expected.txt", dir);
        if (write && *write) {
            FILE *f = fopen(path, "wb");
            assert_non_null(f);
            assert_int_equal(fwrite(dump.data, 1, dump.len, f), dump.len);
            assert_int_equal(fclose(f), 0);
        }
        want = read_all(path, &want_len);
        if (!want) {
            fprintf(stderr, "%s: no expected.txt\n", names[i]);
            failures++;
        } else if (want_len != dump.len || memcmp(want, dump.data, dump.len) != 0) {
            show_diff(names[i], want, aod_buf_str(&dump));
            failures++;
        }
        free(want);

        /* The stored form must carry everything the dump shows. */
        assert_int_equal(aod_recio_encode(r, &enc, &err), 0);
        if (aod_recio_decode(enc.data, enc.len, back, &err) != 0)
            fail_msg("%s: decode: %s", names[i], aod_error_format(&err, msg, sizeof msg));
        assert_int_equal(aod_recio_dump(back, &dump2, &err), 0);
        assert_string_equal(aod_buf_str(&dump2), aod_buf_str(&dump));

        aod_buf_free(&dump);
        aod_buf_free(&enc);
        aod_buf_free(&dump2);
        free(names[i]);
    }
    free(names);
    aod_record_free(r);
    aod_record_free(back);
    assert_int_equal(failures, 0);
}

/* -------------------------------------------------- facts the cases pin */

static void test_disclosure_r4(void **state)
{
    aod_record *r = aod_record_new();
    static const char *const keys[] = {"Patient/example"};

    (void)state;
    normalize_case("hl7-disclosure-r4", r);
    assert_int_equal(r->version, AOD_FHIR_R4);
    assert_string_equal(r->id, "disclosure-r4");
    assert_int_equal(r->recorded, INT64_C(1379808480000));
    assert_int_equal(r->when_start, r->recorded);
    assert_int_equal(r->when_end, r->recorded);
    assert_int_equal(r->action, 'R');
    assert_string_equal(r->outcome, "0");
    assert_string_equal(r->outcome_text, "Disclosure completed");
    assert_int_equal(r->type.n, 1);
    assert_string_equal(r->type.v[0].code, "110106");
    assert_string_equal(r->type.v[0].system, "http://dicom.nema.org/resources/ontology/DCM");
    assert_int_equal(r->subtype.n, 1);
    assert_string_equal(r->subtype.v[0].display, "HIPAA disclosure");
    assert_true(aod_codings_has_code(&r->purpose, "HMARKT"));
    assert_string_equal(r->site, "Disclosure desk");
    assert_string_equal(r->observer.display, "Accounting of Disclosures Application");
    assert_str_null(r->observer.reference);
    assert_string_equal(r->source_type.v[0].code, "4");

    assert_int_equal(r->n_agents, 2);
    assert_str_null(r->agents[0].who.reference);
    assert_string_equal(r->agents[0].who.id_value, "clerk@discloser.example");
    assert_string_equal(r->agents[0].name, "Jordan Example-Clerk");
    assert_string_equal(r->agents[0].alt_id, "clerk-7");
    assert_int_equal(r->agents[0].requestor, 1);
    assert_string_equal(r->agents[0].network, "discloser.example");
    assert_string_equal(r->agents[0].location, "Location/1");
    assert_int_equal(r->agents[0].n_policy, 1);
    assert_string_equal(r->agents[0].policy[0], "http://consent.example/policy/yes");
    assert_string_equal(r->agents[0].type.v[0].code, "110153");
    assert_string_equal(r->agents[1].who.reference, "Practitioner/example");
    assert_string_equal(r->agents[1].who.type, "Practitioner");
    assert_int_equal(r->agents[1].requestor, 0);
    assert_true(aod_codings_has_code(&r->agents[1].purpose, "HMARKT"));

    assert_int_equal(r->n_entities, 2);
    assert_string_equal(r->entities[0].role.code, "1");
    assert_string_equal(r->entities[1].what.reference, "Patient/example");
    assert_string_equal(r->entities[1].what.id_value, "what-id-1");
    assert_string_equal(r->entities[1].description, "summary of the record");
    assert_int_equal(r->entities[1].security.n, 3);
    assert_string_equal(r->entities[1].security.v[2].code, "DELAU");
    assert_int_equal(r->entities[1].has_query, 0);
    /* The _history copy and the role-4 identifier add no key of their own. */
    assert_keys(r, keys, 1);
    aod_record_free(r);
}

static void test_disclosure_r5(void **state)
{
    aod_record *r = aod_record_new();
    static const char *const keys[] = {"Patient/example"};
    aod_buf dump;

    (void)state;
    normalize_case("hl7-disclosure-r5", r);
    assert_int_equal(r->version, AOD_FHIR_R5);
    assert_string_equal(r->type.v[0].code, "110106");
    assert_string_equal(r->subtype.v[0].code, "Disclosure");
    assert_string_equal(r->severity, "notice");
    assert_string_equal(r->outcome, "0");
    assert_string_equal(r->outcome_text, "Disclosure completed");
    /* occurredDateTime -06:00 is midnight UTC, before recorded. */
    assert_int_equal(r->when_start, t("2013-09-22T00:00:00Z"));
    assert_int_equal(r->when_end, r->when_start);
    assert_int_equal(r->recorded, t("2013-09-22T00:08:00Z"));
    assert_true(aod_codings_has_code(&r->purpose, "HMARKT"));
    assert_string_equal(r->site, "Location/desk-1");
    assert_string_equal(r->agents[0].network, "discloser.example");
    assert_true(aod_codings_has_code(&r->agents[1].purpose, "HMARKT"));
    assert_string_equal(r->entities[0].role.code, "4");
    assert_string_equal(r->entities[0].description, "summary of the record");
    assert_int_equal(r->entities[0].security.n, 2);
    assert_keys(r, keys, 1);

    /* Detail values other than the description are never copied. */
    aod_buf_init(&dump, 0);
    assert_int_equal(aod_recio_dump(r, &dump, NULL), 0);
    assert_null(strstr(aod_buf_str(&dump), "MUST NOT"));
    aod_buf_free(&dump);
    aod_record_free(r);
}

static void test_disclosure_r6(void **state)
{
    aod_record *r = aod_record_new();
    static const char *const keys[] = {"Patient/pat-42", "http://hospital.example/mrn|MRN-42"};

    (void)state;
    normalize_case("disclosure-r6-ballot", r);
    assert_int_equal(r->version, AOD_FHIR_R6);
    assert_string_equal(r->type.v[0].code, "110106");
    assert_int_equal(r->subtype.n, 2);
    assert_string_equal(r->subtype.v[0].code, "disclose");
    assert_null(r->subtype.v[1].code);
    assert_string_equal(r->subtype.v[1].display, "Release to an insurer");
    assert_int_equal(r->when_start, t("2025-01-10T08:00:00Z"));
    assert_int_equal(r->when_end, t("2025-01-10T08:30:00.250Z"));
    assert_string_equal(r->outcome_text, "Documents sent");
    assert_true(aod_codings_has_code(&r->purpose, "HPAYMT"));
    assert_string_equal(r->agents[0].network, "https://fhir.hospital.example/fhir");
    assert_int_equal(r->agents[0].requestor, -1);
    assert_string_equal(r->agents[1].network, "Endpoint/insurer-gateway");
    assert_string_equal(r->agents[1].purpose.v[0].display, "claim review");
    assert_string_equal(r->observer.reference, "Device/release-of-information");
    assert_string_equal(r->entities[0].description, "discharge summary and invoices");
    assert_keys(r, keys, 2);
    aod_record_free(r);
}

static void test_balp_client_server(void **state)
{
    aod_record *c = aod_record_new(), *s = aod_record_new();
    static const char *const keys[] = {"Patient/p123"};

    (void)state;
    normalize_case("balp-read-client", c);
    normalize_case("balp-read-server", s);
    assert_int_equal(c->version, AOD_FHIR_R4);
    assert_int_equal(s->version, AOD_FHIR_R4);
    assert_string_equal(c->x_request_id, "6f1c2d3e-0b7a-4c55-9e21-4a7d0c9b8e11");
    assert_string_equal(s->x_request_id, c->x_request_id);
    assert_string_equal(c->observer.reference, "Device/ehr-client");
    assert_string_equal(s->observer.reference, "Device/fhir-server");
    assert_int_equal(c->recorded, t("2024-03-05T13:22:10.345Z"));
    assert_int_equal(s->recorded, t("2024-03-05T13:22:10.512Z"));
    assert_string_equal(c->subtype.v[0].code, "read");
    /* Client: 110152 Destination, not the requestor; the user is. */
    assert_string_equal(c->agents[1].type.v[0].code, "110152");
    assert_int_equal(c->agents[1].requestor, 0);
    assert_int_equal(c->agents[2].requestor, 1);
    assert_string_equal(c->agents[2].who.display, "Dr. Alex Sample");
    assert_string_equal(c->agents[2].role.v[0].code, "PHYS");
    assert_string_equal(s->agents[2].who.id_value, "u12345");
    assert_string_equal(s->agents[0].who.reference, "Device/fhir-server");
    assert_string_equal(s->entities[2].what.reference, "Observation/obs-9");
    assert_keys(c, keys, 1);
    assert_keys(s, keys, 1);
    aod_record_free(c);
    aod_record_free(s);
}

static void test_query(void **state)
{
    aod_record *r = aod_record_new();
    static const char *const keys[] = {"Patient/p123"};
    aod_buf enc;

    (void)state;
    normalize_case("balp-query-search", r);
    assert_int_equal(r->action, 'E');
    assert_null(r->x_request_id);
    assert_int_equal(r->entities[0].has_query, 1);
    assert_string_equal(r->entities[0].role.code, "24");
    assert_string_equal(r->entities[0].description,
                        "https://fhir.hospital.example/fhir/Observation?patient=p123&"
                        "category=laboratory");
    assert_null(r->entities[0].what.reference);
    assert_int_equal(r->entities[1].has_query, 0);
    assert_keys(r, keys, 1);
    /* The query payload is not in the stored form. */
    aod_buf_init(&enc, 0);
    assert_int_equal(aod_recio_encode(r, &enc, NULL), 0);
    assert_null(strstr(aod_buf_str(&enc), "R0VUIC9"));
    aod_buf_free(&enc);
    aod_record_free(r);
}

static void test_patient_sources(void **state)
{
    aod_record *r = aod_record_new();
    static const char *const only[] = {"Patient/p555"};
    static const char *const actor[] = {"Patient/p777", "http://hospital.example/mrn|MRN-777"};
    static const char *const ident[] = {"http://hospital.example/mrn|00042", "|X9"};
    static const char *const absolute[] = {"Patient/7"};

    (void)state;
    normalize_case("r5-patient-only", r);
    assert_int_equal(r->version, AOD_FHIR_R5);
    assert_keys(r, only, 1);
    assert_true(aod_codings_has_code(&r->agents[0].purpose, "TREAT"));

    normalize_case("patient-as-actor", r);
    assert_keys(r, actor, 2);
    assert_string_equal(r->entities[0].name, "Visit note, 2024-06-28");
    assert_int_equal(r->recorded, t("2024-06-30T23:05:44Z"));

    normalize_case("identifier-only-patient", r);
    assert_keys(r, ident, 2);

    normalize_case("absolute-reference", r);
    assert_keys(r, absolute, 1);
    assert_string_equal(r->entities[0].what.reference, "Patient/7");
    assert_string_equal(r->entities[0].what.type, "Patient");
    assert_string_equal(r->entities[1].what.reference, "#contained-list");
    assert_null(r->entities[1].what.type);
    assert_string_equal(r->agents[0].who.reference, "Practitioner/dr-9");
    assert_string_equal(r->agents[0].location, "Location/ward-3");
    assert_string_equal(r->agents[1].who.reference,
                        "urn:uuid:2b0f0c7e-3d39-4d57-8a4e-0f6c9a1b2c3d");
    assert_null(r->agents[1].who.type);
    assert_string_equal(r->observer.reference, "Device/audit-repo");
    assert_int_equal(r->when_start, t("2023-01-01T00:59:59.500Z"));
    assert_int_equal(r->when_end, t("2023-01-01T01:00:00Z"));
    aod_record_free(r);
}

static void test_ragged(void **state)
{
    aod_record *r = aod_record_new();

    (void)state;
    r->row_id = 77;
    normalize_case("ragged", r);
    assert_int_equal(r->row_id, 77);
    assert_int_equal(r->version, AOD_FHIR_UNKNOWN);
    assert_null(r->id);
    assert_int_equal(r->action, 0);
    assert_null(r->outcome);
    assert_int_equal(r->recorded, t("2021-06-01T00:00:00Z"));
    assert_int_equal(r->when_start, r->recorded);
    assert_int_equal(r->when_end, r->recorded);
    assert_int_equal(r->type.n, 0);
    assert_int_equal(r->n_agents, 1);
    assert_string_equal(r->agents[0].who.display, "Someone at the front desk");
    assert_null(r->agents[0].who.reference);
    assert_int_equal(r->agents[0].requestor, -1);
    assert_int_equal(r->n_entities, 0);
    assert_int_equal(r->n_patient_keys, 0);

    normalize_case("ragged-shapes", r);
    assert_int_equal(r->version, AOD_FHIR_R4);
    assert_string_equal(r->id, "");
    assert_int_equal(r->action, 0);
    assert_null(r->outcome);
    assert_int_equal(r->when_start, t("2020-02-29T12:00:00Z"));
    assert_int_equal(r->recorded, t("2020-02-29T10:00:00Z"));
    assert_int_equal(r->subtype.n, 1);
    assert_string_equal(r->subtype.v[0].code, "read");
    assert_int_equal(r->purpose.n, 0);
    assert_int_equal(r->n_agents, 1);
    assert_string_equal(r->agents[0].who.reference, "Practitioner/1");
    assert_int_equal(r->agents[0].requestor, -1);
    assert_string_equal(r->agents[0].name, "");
    assert_int_equal(r->agents[0].role.n, 1);
    assert_string_equal(r->agents[0].role.v[0].display, "attending");
    assert_int_equal(r->agents[0].n_policy, 1);
    assert_null(r->site);
    assert_int_equal(r->n_entities, 2);
    assert_int_equal(r->entities[0].security.n, 1);
    assert_int_equal(r->entities[0].has_query, 0);
    assert_null(r->entities[0].what.type);
    {
        static const char *const keys[] = {"Patient/q1"};
        assert_keys(r, keys, 1);
    }
    aod_record_free(r);
}

/* ------------------------------------------------------------- refusals */

static void test_refused(void **state)
{
    static const struct {
        const char *json;
        const char *field;
    } bad[] = {
        {"[1,2]", ""},
        {"\"AuditEvent\"", ""},
        {"{\"recorded\":\"2013-09-22T00:08:00Z\"}", "resourceType"},
        {"{\"resourceType\":\"Patient\",\"recorded\":\"2013-09-22T00:08:00Z\"}", "resourceType"},
        {"{\"resourceType\":7}", "resourceType"},
        {"{\"resourceType\":\"AuditEvent\"}", "recorded"},
        {"{\"resourceType\":\"AuditEvent\",\"recorded\":\"yesterday\"}", "recorded"},
        {"{\"resourceType\":\"AuditEvent\",\"recorded\":\"2013-02-30T00:00:00Z\"}", "recorded"},
        {"{\"resourceType\":\"AuditEvent\",\"recorded\":1379808480}", "recorded"},
        /* cardinalities and required bindings (issue 14): the element named */
#define EV "{\"resourceType\":\"AuditEvent\",\"recorded\":\"2013-09-22T00:08:00Z\","
#define SRC "\"source\":{\"observer\":{\"display\":\"x\"}}"
#define AG "\"agent\":[{\"who\":{\"display\":\"y\"},\"requestor\":true}]"
        {EV "\"type\":{\"code\":\"rest\"}," SRC "}", "agent"},
        {EV "\"type\":{\"code\":\"rest\"},\"agent\":[]," SRC "}", "agent"},
        {EV "\"type\":{\"code\":\"rest\"}," AG "}", "source"},
        {EV "\"type\":{\"code\":\"rest\"},\"action\":\"X\"," AG "," SRC "}", "action"},
        {EV "\"type\":{\"code\":\"rest\"},\"action\":\"read\"," AG "," SRC "}", "action"},
        {EV "\"type\":{\"code\":\"rest\"},\"agent\":[{\"requestor\":\"yes\"}]," SRC "}",
         "agent[0].requestor"},
        {EV "\"subtype\":[{\"code\":\"read\"}],\"outcomeDesc\":\"ok\"," AG "," SRC "}", "type"},
        {EV "\"type\":{\"code\":\"rest\"},\"outcome\":\"3\"," AG "," SRC "}", "outcome"},
        {EV "\"category\":[{\"text\":\"rest\"}]," AG "," SRC "}", "code"},
        {EV "\"code\":{\"text\":\"read\"},\"agent\":[{\"requestor\":true}]," SRC "}",
         "agent[0].who"},
#undef EV
#undef SRC
#undef AG
    };
    aod_record *r = aod_record_new();
    aod_error err;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(normalize_text(bad[i].json, r, &err), -1);
        assert_int_equal(err.code, AOD_ERR_INPUT);
        assert_string_equal(err.field, bad[i].field);
        assert_true(err.text[0] != '\0');
    }
    assert_int_equal(
        normalize_text("{\"resourceType\":\"Patient\\u0001x\",\"recorded\":\"2013\"}", r, &err),
        -1);
    assert_null(strchr(err.text, '\001'));
    aod_error_init(&err);
    assert_int_equal(aod_normalize(NULL, r, &err), -1);
    assert_int_equal(err.code, AOD_ERR_INPUT);
    aod_record_free(r);
}

/* --------------------------------------------------------------- version */

static aod_fhir_version version_of(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    aod_fhir_version v;

    if (!j)
        fail_msg("bad test JSON: %s", jerr.text);
    v = aod_normalize_detect_version(j);
    json_decref(j);
    return v;
}

static void test_detect_version(void **state)
{
    (void)state;
    assert_int_equal(aod_normalize_detect_version(NULL), AOD_FHIR_UNKNOWN);
    assert_int_equal(version_of("{}"), AOD_FHIR_UNKNOWN);
    assert_int_equal(version_of("{\"type\":{\"system\":\"s\",\"code\":\"rest\"}}"), AOD_FHIR_R4);
    assert_int_equal(version_of("{\"outcome\":\"0\"}"), AOD_FHIR_R4);
    assert_int_equal(version_of("{\"agent\":[{\"altId\":\"x\"}]}"), AOD_FHIR_R4);
    assert_int_equal(version_of("{\"category\":[]}"), AOD_FHIR_R5);
    assert_int_equal(version_of("{\"code\":{\"text\":\"x\"}}"), AOD_FHIR_R5);
    assert_int_equal(version_of("{\"patient\":{\"reference\":\"Patient/1\"}}"), AOD_FHIR_R5);
    assert_int_equal(version_of("{\"agent\":[{\"networkString\":\"h\"}]}"), AOD_FHIR_R5);
    assert_int_equal(version_of("{\"outcome\":{\"code\":{\"code\":\"0\"}}}"), AOD_FHIR_R5);
    assert_int_equal(version_of("{\"type\":{\"coding\":[{\"code\":\"rest\"}]}}"), AOD_FHIR_R6);
    assert_int_equal(version_of("{\"subtype\":[{\"coding\":[{\"code\":\"read\"}]}]}"), AOD_FHIR_R6);
    assert_int_equal(version_of("{\"type\":{\"code\":\"rest\"},\"severity\":\"notice\","
                                "\"patient\":{\"reference\":\"Patient/1\"}}"),
                     AOD_FHIR_R6);
    /* Nothing structural: meta.profile decides. */
    assert_int_equal(version_of("{\"meta\":{\"profile\":[\"https://profiles.ihe.net/ITI/BALP/"
                                "StructureDefinition/IHE.BasicAudit.Read\"]}}"),
                     AOD_FHIR_R4);
    assert_int_equal(version_of("{\"meta\":{\"profile\":[\"http://hl7.org/fhir/"
                                "StructureDefinition/AuditEvent|5.0.0\"]}}"),
                     AOD_FHIR_R5);
}

/* ----------------------------------------------------------- patient key */

static void test_patient_key(void **state)
{
    static const struct {
        const char *in;
        const char *out;
    } good[] = {
        {"Patient/123", "Patient/123"},
        {"  Patient/123\n", "Patient/123"},
        {"Patient/123/_history/2", "Patient/123"},
        {"http://x/fhir/Patient/123", "Patient/123"},
        {"https://h.example/r4/Patient/a-b.c/_history/9", "Patient/a-b.c"},
        {"http://hospital.example/mrn|12345", "http://hospital.example/mrn|12345"},
        {"|12345", "|12345"},
        {"urn:oid:1.2.3|a|b", "urn:oid:1.2.3|a|b"},
    };
    static const char *const bad[] = {
        "",
        "   ",
        "123",
        "Patient",
        "Patient/",
        "Practitioner/1",
        "http://x/fhir/Device/1",
        "sys|",
        "|",
        "Patient/1\x01",
        "patient/1",
        "#Patient/1",
        "urn:uuid:1234",
    };
    aod_error err;
    aod_buf b;
    size_t i;

    (void)state;
    aod_buf_init(&b, 0);
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        aod_buf_reset(&b);
        aod_error_init(&err);
        assert_int_equal(aod_normalize_patient_key(good[i].in, &b, &err), 0);
        assert_string_equal(aod_buf_str(&b), good[i].out);
    }
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        aod_buf_reset(&b);
        aod_error_init(&err);
        if (aod_normalize_patient_key(bad[i], &b, &err) != -1)
            fail_msg("accepted \"%s\" as \"%s\"", bad[i], aod_buf_str(&b));
        assert_int_equal(err.code, AOD_ERR_USAGE);
        assert_string_equal(err.field, "patient");
        assert_int_equal(b.len, 0);
    }
    aod_error_init(&err);
    assert_int_equal(aod_normalize_patient_key(NULL, &b, &err), -1);
    aod_buf_free(&b);
}

/* The keys a record gets and the keys a user types must meet. */
static void test_keys_match_cli_form(void **state)
{
    aod_record *r = aod_record_new();
    aod_buf b;
    aod_error err;

    (void)state;
    aod_buf_init(&b, 0);
    normalize_case("absolute-reference", r);
    assert_int_equal(
        aod_normalize_patient_key("http://example.org/fhir/Patient/7/_history/3", &b, &err), 0);
    assert_string_equal(aod_buf_str(&b), r->patient_keys[0]);
    aod_buf_free(&b);
    aod_record_free(r);
}

/* ------------------------------------------------------ rows for the store */

static json_t *json_of(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);

    if (!j)
        fail_msg("bad test JSON: %s", jerr.text);
    return j;
}

/* What the loader and the self-audit hand the store: the row points at the
 * text given, the compact form is recio's, the observer is an identity. */
static void test_row_with_id(void **state)
{
    static const char text[] =
        "{\"resourceType\":\"AuditEvent\",\"id\":\"e1\",\"recorded\":\"2025-03-04T10:15:30Z\","
        "\"source\":{\"observer\":{\"identifier\":{\"system\":\"urn:sys\",\"value\":\"ehr\"}}},"
        "\"agent\":[{\"who\":{\"display\":\"x\"},\"requestor\":true}],"
        "\"entity\":[{\"what\":{\"reference\":\"Patient/p1\"}}]}";
    json_t *j = json_of(text);
    aod_normalize_row row;
    aod_record *rec = aod_record_new();
    aod_buf norm;
    aod_error err;

    (void)state;
    aod_buf_init(&norm, 0);
    aod_error_init(&err);
    assert_int_equal(aod_normalize_row_init(&row, &err), 0);
    assert_int_equal(aod_normalize_row_make(&row, j, text, sizeof text - 1, &err), 0);
    assert_ptr_equal(row.row.resource, text);
    assert_int_equal(row.row.resource_len, sizeof text - 1);
    assert_null(row.row.canonical);
    assert_string_equal(row.row.fhir_id, "e1");
    assert_string_equal(row.row.observer, "urn:sys|ehr");
    assert_string_equal(row.row.recorded, "2025-03-04T10:15:30Z");
    assert_int_equal(row.row.n_patient_keys, 1);
    assert_string_equal(row.row.patient_keys[0], "Patient/p1");
    assert_int_equal(aod_normalize(j, rec, &err), 0);
    assert_int_equal(aod_recio_encode(rec, &norm, &err), 0);
    assert_int_equal(row.row.norm_len, norm.len);
    assert_memory_equal(row.row.norm, aod_buf_str(&norm), norm.len);
    aod_normalize_row_free(&row);
    aod_buf_free(&norm);
    aod_record_free(rec);
    json_decref(j);
}

/* Without an id: the resource written out compact, and keyed on its
 * canonical JSON; the row is reused from event to event; a refused event
 * fails as aod_normalize() fails. */
static void test_row_without_id(void **state)
{
    json_t *j =
        json_of("{\"agent\": [{\"who\": {\"display\": \"x\"}}],"
                " \"recorded\": \"2025-03-04T10:15:30.5Z\", \"resourceType\": \"AuditEvent\","
                " \"source\": {\"observer\": {\"display\": \"EHR\"}}}");
    json_t *bad = json_of("{\"resourceType\":\"Patient\"}");
    aod_normalize_row row;
    aod_error err;
    int i;

    (void)state;
    aod_error_init(&err);
    assert_int_equal(aod_normalize_row_init(&row, &err), 0);
    for (i = 0; i < 2; i++) {
        assert_int_equal(aod_normalize_row_make(&row, j, NULL, 0, &err), 0);
        assert_null(row.row.fhir_id);
        assert_string_equal(
            row.row.resource,
            "{\"agent\":[{\"who\":{\"display\":\"x\"}}],"
            "\"recorded\":\"2025-03-04T10:15:30.5Z\",\"resourceType\":\"AuditEvent\","
            "\"source\":{\"observer\":{\"display\":\"EHR\"}}}");
        assert_int_equal(row.row.resource_len, strlen(row.row.resource));
        assert_string_equal(row.row.canonical, row.row.resource); /* keys were in order */
        assert_int_equal(row.row.canonical_len, strlen(row.row.canonical));
        assert_string_equal(row.row.observer, "EHR");
        assert_string_equal(row.row.recorded, "2025-03-04T10:15:30.500Z");
        assert_int_equal(row.row.n_patient_keys, 0);
    }
    assert_int_equal(aod_normalize_row_make(&row, bad, NULL, 0, &err), -1);
    assert_int_equal(err.code, AOD_ERR_INPUT);
    aod_normalize_row_free(&row);
    aod_normalize_row_free(&row); /* twice is harmless */
    json_decref(j);
    json_decref(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_cases),
        cmocka_unit_test(test_disclosure_r4),
        cmocka_unit_test(test_disclosure_r5),
        cmocka_unit_test(test_disclosure_r6),
        cmocka_unit_test(test_balp_client_server),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_patient_sources),
        cmocka_unit_test(test_ragged),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_detect_version),
        cmocka_unit_test(test_patient_key),
        cmocka_unit_test(test_keys_match_cli_form),
        cmocka_unit_test(test_row_with_id),
        cmocka_unit_test(test_row_without_id),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
