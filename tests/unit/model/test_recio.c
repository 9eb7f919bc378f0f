/*
 * test_recio.c - the stored form of a record: exact round trips (every
 * string field, any bytes, NULL distinct from "", dictionary strings and
 * their near misses), rows stored as aod1 read the same forever, the aod2
 * dictionary frozen, and a decoder that fails cleanly on every truncation,
 * mutation and random input of either version.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/recio.h"

/* ------------------------------------------------------- a rich record */

static void add_ref(aod_record *r, aod_ref *ref, const char *tag)
{
    char s[64];

    snprintf(s, sizeof s, "%s-ref", tag);
    ref->reference = aod_record_strdup(r, s);
    snprintf(s, sizeof s, "%s-type", tag);
    ref->type = aod_record_strdup(r, s);
    snprintf(s, sizeof s, "%s-sys", tag);
    ref->id_system = aod_record_strdup(r, s);
    snprintf(s, sizeof s, "%s-val", tag);
    ref->id_value = aod_record_strdup(r, s);
    snprintf(s, sizeof s, "%s-disp", tag);
    ref->display = aod_record_strdup(r, s);
}

static void add_codings(aod_record *r, aod_codings *l, const char *tag, int n)
{
    char s[64];
    int i;

    for (i = 0; i < n; i++) {
        snprintf(s, sizeof s, "%s-code-%d", tag, i);
        assert_int_equal(aod_codings_add(r, l, "http://sys.example", s, i ? NULL : "first"), 0);
    }
}

/* Every field set, lists of several lengths (0 included). */
static void build_rich(aod_record *r)
{
    size_t i;

    aod_record_clear(r);
    r->id = aod_record_strdup(r, "ev-1");
    r->version = AOD_FHIR_R5;
    r->recorded = INT64_C(1379808480123);
    r->when_start = INT64_C(-2208988800000);
    r->when_end = INT64_C(7289654399999);
    r->action = 'E';
    r->outcome = aod_record_strdup(r, "8");
    r->outcome_text = aod_record_strdup(r, "serious failure");
    add_codings(r, &r->type, "type", 2);
    add_codings(r, &r->subtype, "subtype", 3);
    add_codings(r, &r->purpose, "purpose", 1);
    r->severity = aod_record_strdup(r, "notice");
    add_ref(r, &r->observer, "observer");
    r->site = aod_record_strdup(r, "site");
    add_codings(r, &r->source_type, "srctype", 1);
    r->x_request_id = aod_record_strdup(r, "xreq");
    r->n_agents = 3;
    r->agents = aod_record_alloc(r, 3 * sizeof *r->agents);
    for (i = 0; i < r->n_agents; i++) {
        aod_agent *a = &r->agents[i];
        add_ref(r, &a->who, "who");
        a->name = aod_record_strdup(r, "name");
        a->alt_id = aod_record_strdup(r, "alt");
        add_codings(r, &a->type, "atype", (int)i);
        add_codings(r, &a->role, "arole", 1);
        a->requestor = (int)i - 1;
        a->network = aod_record_strdup(r, "10.0.0.1");
        a->location = aod_record_strdup(r, "Location/1");
        add_codings(r, &a->purpose, "apurpose", 2);
        a->n_policy = i;
        a->policy = i ? aod_record_alloc(r, i * sizeof *a->policy) : NULL;
        if (i)
            a->policy[i - 1] = aod_record_strdup(r, "http://policy.example");
        if (i > 1)
            a->policy[0] = aod_record_strdup(r, "");
    }
    r->n_entities = 2;
    r->entities = aod_record_alloc(r, 2 * sizeof *r->entities);
    for (i = 0; i < r->n_entities; i++) {
        aod_entity *e = &r->entities[i];
        add_ref(r, &e->what, "what");
        e->type.system = aod_record_strdup(r, "etype-sys");
        e->type.code = aod_record_strdup(r, "2");
        e->role.code = aod_record_strdup(r, "4");
        e->role.display = aod_record_strdup(r, "Domain Resource");
        e->name = aod_record_strdup(r, "ename");
        e->description = aod_record_strdup(r, "edesc");
        add_codings(r, &e->security, "sec", (int)i * 2);
        e->has_query = (int)i;
    }
    assert_int_equal(aod_record_add_patient_key(r, "Patient/1"), 0);
    assert_int_equal(aod_record_add_patient_key(r, "http://mrn|42"), 0);
}

/* ----------------------------------------------------- deep comparison */

static void same_str(const char *a, const char *b, const char *what)
{
    if (!a || !b) {
        if (a != b)
            fail_msg("%s: %s vs %s", what, a ? "set" : "NULL", b ? "set" : "NULL");
        return;
    }
    if (strcmp(a, b) != 0)
        fail_msg("%s: \"%s\" vs \"%s\"", what, a, b);
}

static void same_coding(const aod_coding *a, const aod_coding *b, const char *what)
{
    same_str(a->system, b->system, what);
    same_str(a->code, b->code, what);
    same_str(a->display, b->display, what);
}

static void same_codings(const aod_codings *a, const aod_codings *b, const char *what)
{
    size_t i;

    assert_int_equal(a->n, b->n);
    for (i = 0; i < a->n; i++)
        same_coding(&a->v[i], &b->v[i], what);
}

static void same_ref(const aod_ref *a, const aod_ref *b, const char *what)
{
    same_str(a->reference, b->reference, what);
    same_str(a->type, b->type, what);
    same_str(a->id_system, b->id_system, what);
    same_str(a->id_value, b->id_value, what);
    same_str(a->display, b->display, what);
}

static void same_record(const aod_record *a, const aod_record *b)
{
    size_t i, k;

    same_str(a->id, b->id, "id");
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->recorded, b->recorded);
    assert_int_equal(a->when_start, b->when_start);
    assert_int_equal(a->when_end, b->when_end);
    assert_int_equal(a->action, b->action);
    same_str(a->outcome, b->outcome, "outcome");
    same_str(a->outcome_text, b->outcome_text, "outcome_text");
    same_codings(&a->type, &b->type, "type");
    same_codings(&a->subtype, &b->subtype, "subtype");
    same_codings(&a->purpose, &b->purpose, "purpose");
    same_str(a->severity, b->severity, "severity");
    same_ref(&a->observer, &b->observer, "observer");
    same_str(a->site, b->site, "site");
    same_codings(&a->source_type, &b->source_type, "source_type");
    same_str(a->x_request_id, b->x_request_id, "x_request_id");
    assert_int_equal(a->n_agents, b->n_agents);
    for (i = 0; i < a->n_agents; i++) {
        const aod_agent *x = &a->agents[i], *y = &b->agents[i];
        same_ref(&x->who, &y->who, "agent.who");
        same_str(x->name, y->name, "agent.name");
        same_str(x->alt_id, y->alt_id, "agent.alt_id");
        same_codings(&x->type, &y->type, "agent.type");
        same_codings(&x->role, &y->role, "agent.role");
        assert_int_equal(x->requestor, y->requestor);
        same_str(x->network, y->network, "agent.network");
        same_str(x->location, y->location, "agent.location");
        same_codings(&x->purpose, &y->purpose, "agent.purpose");
        assert_int_equal(x->n_policy, y->n_policy);
        for (k = 0; k < x->n_policy; k++)
            same_str(x->policy[k], y->policy[k], "agent.policy");
    }
    assert_int_equal(a->n_entities, b->n_entities);
    for (i = 0; i < a->n_entities; i++) {
        const aod_entity *x = &a->entities[i], *y = &b->entities[i];
        same_ref(&x->what, &y->what, "entity.what");
        same_coding(&x->type, &y->type, "entity.type");
        same_coding(&x->role, &y->role, "entity.role");
        same_str(x->name, y->name, "entity.name");
        same_str(x->description, y->description, "entity.description");
        same_codings(&x->security, &y->security, "entity.security");
        assert_int_equal(x->has_query, y->has_query);
    }
    assert_int_equal(a->n_patient_keys, b->n_patient_keys);
    for (i = 0; i < a->n_patient_keys; i++)
        same_str(a->patient_keys[i], b->patient_keys[i], "patient_key");
}

static void round_trip(const aod_record *r, aod_record *back)
{
    aod_buf b;
    aod_error err;
    char msg[1024];

    aod_buf_init(&b, 0);
    aod_error_init(&err);
    assert_int_equal(aod_recio_encode(r, &b, &err), 0);
    if (aod_recio_decode(b.data, b.len, back, &err) != 0)
        fail_msg("decode: %s\n%s", aod_error_format(&err, msg, sizeof msg), aod_buf_str(&b));
    same_record(r, back);
    aod_buf_free(&b);
}

/* ------------------------------------------------------- stored aod1 rows */

/* build_rich() with escapes, NULLs and an empty string in it, and the text
 * the aod1 encoder stored for it.  Rows like this stay in stores forever:
 * every later decoder must read them to the same record. */
static void build_rich_escaped(aod_record *r)
{
    build_rich(r);
    r->agents[0].name = "esc\\aped\tname";
    r->outcome_text = "caf\xc3\xa9\x01\xff\r\n";
    r->site = "";
}

static const char rich_aod1[] =
    "aod1\n"
    "R\tev-1\t5\t1379808480123\t-2208988800000\t7289654399999\tE\t8\t"
    "caf\xc3"
    "\xa9"
    "\\x01\\xff\\r\\n\tnotice\txreq\t\tobserver-ref\tobserver-type\t"
    "observer-sys\tobserver-val\tobserver-disp\t2\thttp://sys.example\ttype-code-0\tfirst\t"
    "http://sys.example\ttype-code-1\t\\N\t3\thttp://sys.example\tsubtype-code-0\tfirst\t"
    "http://sys.example\tsubtype-code-1\t\\N\thttp://sys.example\tsubtype-code-2\t\\N\t1\t"
    "http://sys.example\tpurpose-code-0\tfirst\t1\thttp://sys.example\tsrctype-code-0\tfirst\t"
    "3\t2\t2\tPatient/1\thttp://mrn|42\n"
    "A\twho-ref\twho-type\twho-sys\twho-val\twho-disp\tesc\\\\aped\\tname\talt\t0\t1\t"
    "http://sys.example\tarole-code-0\tfirst\t-1\t10.0.0.1\tLocation/1\t2\thttp://sys.example\t"
    "apurpose-code-0\tfirst\thttp://sys.example\tapurpose-code-1\t\\N\t0\n"
    "A\twho-ref\twho-type\twho-sys\twho-val\twho-disp\tname\talt\t1\thttp://sys.example\t"
    "atype-code-0\tfirst\t1\thttp://sys.example\tarole-code-0\tfirst\t0\t10.0.0.1\tLocation/1\t"
    "2\thttp://sys.example\tapurpose-code-0\tfirst\thttp://sys.example\tapurpose-code-1\t\\N\t"
    "1\thttp://policy.example\n"
    "A\twho-ref\twho-type\twho-sys\twho-val\twho-disp\tname\talt\t2\thttp://sys.example\t"
    "atype-code-0\tfirst\thttp://sys.example\tatype-code-1\t\\N\t1\thttp://sys.example\t"
    "arole-code-0\tfirst\t1\t10.0.0.1\tLocation/1\t2\thttp://sys.example\tapurpose-code-0\t"
    "first\thttp://sys.example\tapurpose-code-1\t\\N\t2\t\thttp://policy.example\n"
    "E\twhat-ref\twhat-type\twhat-sys\twhat-val\twhat-disp\tetype-sys\t2\t\\N\t\\N\t4\t"
    "Domain Resource\tename\tedesc\t0\t0\n"
    "E\twhat-ref\twhat-type\twhat-sys\twhat-val\twhat-disp\tetype-sys\t2\t\\N\t\\N\t4\t"
    "Domain Resource\tename\tedesc\t2\thttp://sys.example\tsec-code-0\tfirst\t"
    "http://sys.example\tsec-code-1\t\\N\t1\n";

/* A generated BALP PatientRead event (examples/generate.py, seed 42, event
 * ae-42-7) as the aod1 encoder stored it. */
static const char real_aod1[] =
    "aod1\n"
    "R\tae-42-7\t4\t1704119378628\t1704119378628\t1704119378628\tR\t0\t\\N\t\\N\t"
    "805e5e438629e4f5\thospital.example.org\tDevice/ehr-client\tDevice\t\\N\t\\N\t"
    "Example EHR Clinical Workstation\t1\t"
    "http://terminology.hl7.org/CodeSystem/audit-event-type\trest\t\\N\t1\t"
    "http://hl7.org/fhir/restful-interaction\tread\t\\N\t0\t1\t"
    "http://terminology.hl7.org/CodeSystem/security-source-type\t1\t\\N\t3\t2\t2\t"
    "Patient/p000008\thttp://hospital.example.org/mrn|1000008\n"
    "A\tDevice/ehr-client\tDevice\t\\N\t\\N\t\\N\t\\N\t\\N\t1\t"
    "http://dicom.nema.org/resources/ontology/DCM\t110152\t\\N\t0\t0\t"
    "ws-card-011.hospital.example.org\t\\N\t0\t0\n"
    "A\tDevice/fhir-server\tDevice\t\\N\t\\N\t\\N\t\\N\t\\N\t1\t"
    "http://dicom.nema.org/resources/ontology/DCM\t110153\t\\N\t0\t0\t"
    "fhir.hospital.example.org\t\\N\t0\t0\n"
    "A\tPractitioner/pr-1013\tPractitioner\t\\N\t\\N\t\\N\tIngrid \xc3"
    "\x96"
    "berg\tioberg\t1\t"
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType\tIRCP\t\\N\t1\t"
    "http://hospital.example.org/fhir/CodeSystem/staff-role\tnurse\tNurse\t1\t\\N\t\\N\t1\t"
    "http://terminology.hl7.org/CodeSystem/v3-ActReason\tTREAT\ttreatment\t0\n"
    "E\t\\N\t\\N\t\\N\t805e5e438629e4f5\t\\N\t"
    "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType\tXrequestId\t\\N\t\\N\t"
    "\\N\t\\N\t\\N\t\\N\t0\t0\n"
    "E\tPatient/p000008\tPatient\thttp://hospital.example.org/mrn\t1000008\t"
    "Rosa Kova\xc4"
    "\x8d"
    "i\xc4"
    "\x87"
    "\t"
    "http://terminology.hl7.org/CodeSystem/audit-entity-type\t1\t\\N\t"
    "http://terminology.hl7.org/CodeSystem/object-role\t1\t\\N\t\\N\t\\N\t0\t0\n";

/* ------------------------------------------------------------- the tests */

static void test_round_trip_rich(void **state)
{
    aod_record *r = aod_record_new(), *back = aod_record_new();

    (void)state;
    build_rich(r);
    back->row_id = 4242;
    round_trip(r, back);
    /* row_id is the store's, never in the text. */
    assert_int_equal(back->row_id, 4242);
    /* Decoding again into the same record reuses it cleanly. */
    round_trip(r, back);
    aod_record_clear(r);
    round_trip(r, back);
    aod_record_free(r);
    aod_record_free(back);
}

/* Every string slot of the rich record, so a field encoded in the wrong
 * order or left out shows up. */
static const char ***string_slots(aod_record *r, size_t *n)
{
    static const char **slots[256];
    size_t k = 0, i;

#define SLOT(p) (slots[k++] = &(p))
#define REF(x)                                                                                     \
    do {                                                                                           \
        SLOT((x).reference);                                                                       \
        SLOT((x).type);                                                                            \
        SLOT((x).id_system);                                                                       \
        SLOT((x).id_value);                                                                        \
        SLOT((x).display);                                                                         \
    } while (0)
#define CODING(c)                                                                                  \
    do {                                                                                           \
        SLOT((c).system);                                                                          \
        SLOT((c).code);                                                                            \
        SLOT((c).display);                                                                         \
    } while (0)
    SLOT(r->id);
    SLOT(r->outcome);
    SLOT(r->outcome_text);
    SLOT(r->severity);
    SLOT(r->site);
    SLOT(r->x_request_id);
    REF(r->observer);
    CODING(r->type.v[1]);
    CODING(r->subtype.v[2]);
    CODING(r->purpose.v[0]);
    CODING(r->source_type.v[0]);
    for (i = 0; i < r->n_agents; i++) {
        REF(r->agents[i].who);
        SLOT(r->agents[i].name);
        SLOT(r->agents[i].alt_id);
        SLOT(r->agents[i].network);
        SLOT(r->agents[i].location);
        CODING(r->agents[i].role.v[0]);
        CODING(r->agents[i].purpose.v[1]);
        if (r->agents[i].n_policy)
            SLOT(r->agents[i].policy[r->agents[i].n_policy - 1]);
    }
    for (i = 0; i < r->n_entities; i++) {
        REF(r->entities[i].what);
        CODING(r->entities[i].type);
        CODING(r->entities[i].role);
        SLOT(r->entities[i].name);
        SLOT(r->entities[i].description);
    }
    CODING(r->entities[1].security.v[1]);
    SLOT(r->patient_keys[0]);
    SLOT(r->patient_keys[1]);
#undef SLOT
#undef REF
#undef CODING
    *n = k;
    return slots;
}

static void test_nasty_strings_every_field(void **state)
{
    static const char *const nasty[] = {
        "",
        "\\N",
        "\\",
        "\\\\N",
        "\t",
        "\n",
        "\r\n",
        "a\tb\nc\\d",
        "\\t\\n\\x41",
        "tab\tat\tends\t",
        "\x01\x02\x1f\x7f",
        "caf\xc3\xa9 \xe6\xbc\xa2\xe5\xad\x97 \xf0\x9f\x99\x82",
        "\xff\xfe",         /* not UTF-8 */
        "\xc0\x80",         /* overlong NUL */
        "\xed\xa0\x80",     /* a surrogate */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xe2\x82",         /* cut-short sequence */
        "\xc3",             /* cut short at the end */
        "Patient/1\x0b|x",
        "N",
        "\\x00",
        /* aod2's shorthands, as data */
        "=",
        "~",
        "\\e",
        "\\~",
        "\\~00",
        "http://dicom.nema.org/resources/ontology/DCM",
        "http://dicom.nema.org/resources/ontology/DCM\t",
        "Patient",
    };
    aod_record *r = aod_record_new(), *back = aod_record_new();
    const char ***slots;
    size_t n, i, k;
    aod_buf b;

    (void)state;
    aod_buf_init(&b, 0);
    for (k = 0; k < sizeof nasty / sizeof nasty[0]; k++) {
        build_rich(r);
        slots = string_slots(r, &n);
        assert_true(n > 100);
        for (i = 0; i < n; i++)
            *slots[i] = nasty[k];
        round_trip(r, back);

        /* The stored text is valid for a PostgreSQL text column: no NUL,
         * no raw control bytes other than the TAB/LF structure. */
        aod_buf_reset(&b);
        assert_int_equal(aod_recio_encode(r, &b, NULL), 0);
        for (i = 0; i < b.len; i++) {
            unsigned char c = (unsigned char)b.data[i];
            assert_true(c >= 0x20 || c == '\t' || c == '\n');
            assert_true(c != 0x7f);
        }
        /* One field at a time too, the others keeping their plain values. */
        for (i = 0; i < n; i++) {
            build_rich(r);
            slots = string_slots(r, &n);
            *slots[i] = nasty[k];
            round_trip(r, back);
        }
    }
    aod_buf_free(&b);
    aod_record_free(r);
    aod_record_free(back);
}

static void test_null_vs_empty(void **state)
{
    aod_record *r = aod_record_new(), *back = aod_record_new();
    const char ***slots;
    size_t n, i;

    (void)state;
    build_rich(r);
    slots = string_slots(r, &n);
    for (i = 0; i < n; i++)
        *slots[i] = i % 2 ? NULL : "";
    round_trip(r, back);
    assert_null(back->outcome);
    assert_non_null(back->id);
    assert_string_equal(back->id, "");
    for (i = 0; i < n; i++)
        *slots[i] = i % 2 ? "" : NULL;
    round_trip(r, back);
    assert_null(back->id);
    assert_string_equal(back->outcome, "");
    aod_record_free(r);
    aod_record_free(back);
}

static void test_action_bytes(void **state)
{
    aod_record *r = aod_record_new(), *back = aod_record_new();
    int c;

    (void)state;
    for (c = -128; c < 128; c++) {
        build_rich(r);
        r->action = (char)c;
        round_trip(r, back);
    }
    aod_record_free(r);
    aod_record_free(back);
}

static void test_large_values(void **state)
{
    aod_record *r = aod_record_new(), *back = aod_record_new();
    char *big = malloc(200001);
    size_t i;

    (void)state;
    assert_non_null(big);
    for (i = 0; i < 200000; i++)
        big[i] = (char)("ab\t\\\n\xc3\xa9"[i % 7]);
    big[200000] = '\0';
    build_rich(r);
    r->recorded = INT64_MIN;
    r->when_start = INT64_MAX;
    r->when_end = 0;
    r->outcome_text = big;
    for (i = 0; i < 500; i++)
        assert_int_equal(aod_codings_add(r, &r->purpose, NULL, "c", big + 199990), 0);
    round_trip(r, back);
    aod_record_free(r);
    aod_record_free(back);
    free(big);
}

static void test_dump(void **state)
{
    aod_record *r = aod_record_new();
    aod_buf b;
    const char *want = "id: \"a\\\"b\\\\c\\x01\"\n"
                       "version: R4\n"
                       "recorded: 2013-09-22T00:08:00Z\n"
                       "when_start: 2013-09-22T00:08:00.500Z\n"
                       "when_end: 2013-09-22T00:08:00.500Z\n"
                       "action: \"R\"\n"
                       "type[0]: \"s\" null \"\"\n"
                       "agents: 1\n"
                       "agent[0].who.reference: \"Practitioner/1\"\n"
                       "agent[0].requestor: false\n"
                       "entities: 1\n"
                       "entity[0].role: null \"1\" null\n"
                       "entity[0].query: present\n"
                       "patient_keys: 1\n"
                       "patient_key[0]: \"Patient/1\"\n";

    (void)state;
    r->id = aod_record_strdup(r, "a\"b\\c\x01");
    r->version = AOD_FHIR_R4;
    r->recorded = INT64_C(1379808480000);
    r->when_start = r->when_end = INT64_C(1379808480500);
    r->action = 'R';
    assert_int_equal(aod_codings_add(r, &r->type, "s", NULL, ""), 0);
    r->agents = aod_record_alloc(r, sizeof *r->agents);
    r->n_agents = 1;
    r->agents[0].who.reference = "Practitioner/1";
    r->agents[0].requestor = 0;
    r->entities = aod_record_alloc(r, sizeof *r->entities);
    r->n_entities = 1;
    r->entities[0].role.code = "1";
    r->entities[0].has_query = 1;
    assert_int_equal(aod_record_add_patient_key(r, "Patient/1"), 0);
    aod_buf_init(&b, 0);
    assert_int_equal(aod_recio_dump(r, &b, NULL), 0);
    assert_string_equal(aod_buf_str(&b), want);
    aod_buf_free(&b);
    aod_record_free(r);
}

/* aod3: a record with an R5 encounter and basedOn keeps them; a record
 * without them is still written as aod2, byte for byte as before. */
static void test_context_aod3(void **state)
{
    aod_record *r = aod_record_new(), *back = aod_record_new();
    aod_buf b;
    aod_error err;

    (void)state;
    aod_error_init(&err);
    aod_buf_init(&b, 0);
    r->version = AOD_FHIR_R5;
    r->recorded = r->when_start = r->when_end = 1700000000000;
    r->action = 'R';
    assert_int_equal(aod_recio_encode(r, &b, &err), 0);
    assert_memory_equal(b.data, "aod2\n", 5);

    r->encounter.reference = "Encounter/77";
    r->encounter.display = "Cardiology visit\t2025";
    r->based_on = aod_record_alloc(r, 2 * sizeof *r->based_on);
    r->based_on[0].reference = "ServiceRequest/5";
    r->based_on[1].id_system = "urn:oid:1.2";
    r->based_on[1].id_value = "order-9";
    r->n_based_on = 2;
    aod_buf_reset(&b);
    assert_int_equal(aod_recio_encode(r, &b, &err), 0);
    assert_memory_equal(b.data, "aod3\n", 5);
    assert_int_equal(aod_recio_decode(b.data, b.len, back, &err), 0);
    assert_string_equal(back->encounter.reference, "Encounter/77");
    assert_string_equal(back->encounter.display, "Cardiology visit\t2025");
    assert_null(back->encounter.id_value);
    assert_int_equal(back->n_based_on, 2);
    assert_string_equal(back->based_on[0].reference, "ServiceRequest/5");
    assert_string_equal(back->based_on[1].id_value, "order-9");
    assert_null(back->based_on[1].reference);
    /* every shorter text is refused, never read past its end */
    {
        size_t n;
        for (n = 0; n < b.len; n++) {
            char *copy = malloc(n ? n : 1);
            assert_non_null(copy);
            memcpy(copy, b.data, n);
            assert_int_equal(aod_recio_decode(copy, n, back, &err), -1);
            free(copy);
        }
    }
    aod_buf_free(&b);
    aod_record_free(r);
    aod_record_free(back);
}

/* ----------------------------------------------------- hostile input */

/* A refusal names a byte offset, and never one past the end: the decoder
 * must not have gone there. */
static void offset_within(const aod_error *err, size_t len)
{
    const char *at = strstr(err->text, " at byte ");
    char *end;
    unsigned long long off;

    if (!at)
        fail_msg("no offset in \"%s\"", err->text);
    off = strtoull(at + strlen(" at byte "), &end, 10);
    if (end == at + strlen(" at byte ") || off > len)
        fail_msg("offset past the end (%zu bytes): \"%s\"", len, err->text);
}

static void expect_fail(const char *text, size_t len, const char *field)
{
    aod_record *r = aod_record_new();
    aod_error err;

    aod_error_init(&err);
    if (aod_recio_decode(text, len, r, &err) != -1)
        fail_msg("accepted: %.*s", (int)len, text);
    assert_int_equal(err.code, AOD_ERR_INPUT);
    if (field)
        assert_string_equal(err.field, field);
    offset_within(&err, len);
    aod_record_free(r);
}

/* Every prefix of text fails, each in an exact-size copy so ASan sees any
 * read past the end. */
static void every_truncation_fails(const char *text, size_t full)
{
    size_t len;
    char *copy;

    for (len = 0; len < full; len++) {
        copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, text, len);
        expect_fail(copy, len, NULL);
        free(copy);
    }
}

static void test_every_truncation_fails(void **state)
{
    aod_record *r = aod_record_new();
    aod_buf b;

    (void)state;
    build_rich(r);
    aod_buf_init(&b, 0);
    assert_int_equal(aod_recio_encode(r, &b, NULL), 0);
    every_truncation_fails(b.data, b.len);
    /* with dictionary strings and "=" times */
    aod_record_clear(r);
    assert_int_equal(aod_recio_decode(real_aod1, strlen(real_aod1), r, NULL), 0);
    aod_buf_reset(&b);
    assert_int_equal(aod_recio_encode(r, &b, NULL), 0);
    every_truncation_fails(b.data, b.len);
    every_truncation_fails(rich_aod1, strlen(rich_aod1));
    every_truncation_fails(real_aod1, strlen(real_aod1));
    aod_buf_free(&b);
    aod_record_free(r);
}

static void test_malformed(void **state)
{
    static const struct {
        const char *text;
        const char *field;
    } bad[] = {
        {"", "version"},
        {"aod4\n", "version"},
        {"aod2", "version"},
        {"aod1", "version"},
        {"aod1\n", "record"},
        {"aod1\nX\t", "record"},
        /* A minimal valid record is
         * "aod1\nR\t\\N\t0\t0\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t0\t0"
         * "\t0\t0\t0\n"; each line below breaks one thing in it. */
        {"aod1\nR\t\\N\t7\t0\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t0\t0"
         "\t0\t0\t0\n",
         "version"},
        {"aod1\nR\t\\N\t4\t0x\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t0\t0"
         "\t0\t0\t0\n",
         "recorded"},
        {"aod1\nR\t\\N\t4\t99999999999999999999\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t"
         "\\N\t\\N\t0\t0\t0\t0\t0\t0\t0\n",
         "recorded"},
        {"aod1\nR\t\\N\t4\t0\t0\t0\tRR\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t0"
         "\t0\t0\t0\t0\n",
         "action"},
        {"aod1\nR\t\\N\t4\t0\t0\t0\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t0"
         "\t0\t0\t0\t0\n",
         "action"},
        {"aod1\nR\t\\q\t4\t0\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t0\t0"
         "\t0\t0\t0\n",
         "id"},
        {"aod1\nR\t\\x00\t4\t0\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t0"
         "\t0\t0\t0\t0\n",
         "id"},
        {"aod1\nR\t\\xg1\t4\t0\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t0"
         "\t0\t0\t0\t0\n",
         "id"},
        {"aod1\nR\t\\N\t4\t0\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t999\t0\t0"
         "\t0\t0\t0\t0\n",
         "type"},
        {"aod1\nR\t\\N\t4\t0\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t-1\t0\t0"
         "\t0\t0\t0\t0\n",
         "type"},
        {"aod1\nR\t\\N\t4\t0\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t0\t0"
         "\t1\t0\t0\n",
         "n_agents"},
        {"aod1\nR\t\\N\t4\t0\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t0\t0"
         "\t0\t0\t0\textra\n",
         "record"},
        {"aod1\nR\t\\N\t4\t0\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t0\t0"
         "\t0\t0\t0\n\n",
         "record"},
        {"aod1\nR\t\\N\t4\t0\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t0\n"
         "\t0\t0\t0\t0\n",
         "source.type"},
        /* One agent whose requestor is 2. */
        {"aod1\nR\t\\N\t4\t0\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t0\t0"
         "\t1\t0\t0\nA\t\t\t\t\t\t\t\t0\t0\t2\t\t\t0\t0\n",
         "agent.requestor"},
        {"aod1\nR\t\\N\t4\t0\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t0\t0"
         "\t1\t0\t0\nE\t\t\t\t\t\t\t\t0\t0\t1\t\t\t0\t0\n",
         "agent"},
    };
    static const char good[] =
        "aod1\nR\t\\N\t4\t0\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t0\t0"
        "\t0\t0\t0\n";
    static const char good_agent[] =
        "aod1\nR\t\\N\t4\t0\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t0\t0"
        "\t1\t0\t0\nA\t\t\t\t\t\t\t\t0\t0\t1\t\t\t0\t0\n";
    aod_record *r = aod_record_new();
    aod_error err;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_fail(bad[i].text, strlen(bad[i].text), bad[i].field);
    expect_fail(NULL, 0, "version");
    expect_fail(NULL, 5, "version");
    /* The minimal records the bad ones were made from are fine. */
    aod_error_init(&err);
    assert_int_equal(aod_recio_decode(good, strlen(good), r, &err), 0);
    assert_int_equal(r->version, AOD_FHIR_R4);
    assert_null(r->id);
    assert_int_equal(r->n_agents, 0);
    assert_int_equal(aod_recio_decode(good_agent, strlen(good_agent), r, &err), 0);
    assert_int_equal(r->n_agents, 1);
    assert_int_equal(r->agents[0].requestor, 1);
    assert_string_equal(r->agents[0].who.reference, "");
    aod_record_free(r);
}

/* Decoding what the decoder accepted must give a record the encoder can
 * write again; everything else must fail cleanly.  ASan/valgrind do the
 * rest of the checking. */
static void decode_any(aod_record *r, const char *text, size_t len)
{
    aod_buf again;
    aod_error err;

    aod_error_init(&err);
    if (aod_recio_decode(text, len, r, &err) == 0) {
        aod_buf_init(&again, 0);
        assert_int_equal(aod_recio_encode(r, &again, NULL), 0);
        aod_buf_free(&again);
    } else {
        assert_true(err.code == AOD_ERR_INPUT);
        assert_true(err.field[0] != '\0');
        offset_within(&err, len);
    }
}

/* Every byte of text replaced by each of the format's own bytes, and every
 * byte dropped. */
static void mutate_all(aod_record *d, const char *text, size_t len)
{
    static const char subst[] = {'\t', '\n', '\\', 'N', 'x', '0', '9', '-', 'A',       'E',
                                 'R',  '\0', 'e',  '~', '=', 'f', '7', 'F', (char)0xff};
    size_t i, k;
    char *copy;

    copy = malloc(len);
    assert_non_null(copy);
    for (i = 0; i < len; i++) {
        for (k = 0; k < sizeof subst; k++) {
            memcpy(copy, text, len);
            copy[i] = subst[k];
            decode_any(d, copy, len);
        }
        /* A byte dropped. */
        memcpy(copy, text, i);
        memcpy(copy + i, text + i + 1, len - i - 1);
        decode_any(d, copy, len - 1);
    }
    free(copy);
}

static void test_mutations(void **state)
{
    aod_record *r = aod_record_new(), *d = aod_record_new();
    aod_buf b;

    (void)state;
    build_rich(r);
    r->agents[0].name = "esc\\aped\tname";
    r->outcome_text = "";
    r->when_end = r->recorded;
    r->entities[0].type.system = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
    aod_buf_init(&b, 0);
    assert_int_equal(aod_recio_encode(r, &b, NULL), 0);
    mutate_all(d, b.data, b.len);
    mutate_all(d, rich_aod1, strlen(rich_aod1));
    aod_buf_free(&b);
    aod_record_free(r);
    aod_record_free(d);
}

static void test_random_input(void **state)
{
    static const char alphabet[] = "aod12\t\n\\N0123456789-xAERfe~=";
    aod_record *r = aod_record_new();
    uint64_t x = 0x9E3779B97F4A7C15u;
    char buf[512];
    size_t len, i;
    int round;

    (void)state;
    for (round = 0; round < 20000; round++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        len = (size_t)(x % sizeof buf);
        /* Half plain noise, half built from the format's own bytes behind a
         * valid header so the parser gets past the first line. */
        for (i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = round % 2 ? (char)(x >> 24) : alphabet[(x >> 24) % (sizeof alphabet - 1)];
        }
        if (round % 2 == 0 && len >= 7)
            memcpy(buf, round % 4 ? "aod1\nR\t" : "aod2\nR\t", 7);
        {
            char *exact = malloc(len ? len : 1);
            assert_non_null(exact);
            memcpy(exact, buf, len);
            decode_any(r, exact, len);
            free(exact);
        }
    }
    aod_record_free(r);
}

/* Counts that claim more than the text can hold fail before allocating. */
static void test_huge_counts(void **state)
{
    static const char text[] =
        "aod1\nR\t\\N\t4\t0\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t0\t0"
        "\t9223372036854775807\t0\t0\n";
    static const char text2[] =
        "aod1\nR\t\\N\t4\t0\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t0\t0"
        "\t0\t0\t18446744073709551615\n";

    (void)state;
    expect_fail(text, strlen(text), "n_agents");
    expect_fail(text2, strlen(text2), "patient_keys");
}

/* ------------------------------------------------ aod1, aod2 and the docs */

/* The example of recio.h, "->" standing for TAB, joined into one line per
 * record line: the documentation is checked against the code. */
static const char *const doc_aod2[] = {
    "aod2",
    "R->ev1->4->1379808480000->=->=->R->0->->->->->Device/srv->\\~37->->->->1->"
    "\\~c0->rest->->1->\\~b8->read->->0->0->1->1->1->Patient/1",
    "A->Practitioner/7->\\~6c->->->Dr. A\\tB\\\\C->->->0->0->1->->->0->0",
    "E->Patient/1->\\~69->->->->->->->->1->->->->0->0",
};
static const char *const doc_aod1[] = {
    "aod1",
    "R->ev1->4->1379808480000->1379808480000->1379808480000->R->0->\\N->\\N->\\N->"
    "\\N->Device/srv->Device->\\N->\\N->\\N->1->http://terminology.hl7.org/"
    "CodeSystem/audit-event-type->rest->\\N->1->http://hl7.org/fhir/"
    "restful-interaction->read->\\N->0->0->1->1->1->Patient/1",
    "A->Practitioner/7->Practitioner->\\N->\\N->Dr. A\\tB\\\\C->\\N->\\N->0->0->1->\\N->"
    "\\N->0->0",
    "E->Patient/1->Patient->\\N->\\N->\\N->\\N->\\N->\\N->\\N->1->\\N->\\N->\\N->0->0",
};

/* The lines of a doc example as stored text: "->" made TAB, LF after each. */
static void doc_text(const char *const *lines, size_t n, aod_buf *out)
{
    const char *s;
    size_t i;

    aod_buf_reset(out);
    for (i = 0; i < n; i++) {
        for (s = lines[i]; *s; s++) {
            if (s[0] == '-' && s[1] == '>') {
                assert_int_equal(aod_buf_addc(out, '\t'), 0);
                s++;
            } else {
                assert_int_equal(aod_buf_addc(out, *s), 0);
            }
        }
        assert_int_equal(aod_buf_addc(out, '\n'), 0);
    }
}

static void build_doc_example(aod_record *r)
{
    aod_record_clear(r);
    r->id = "ev1";
    r->version = AOD_FHIR_R4;
    r->recorded = r->when_start = r->when_end = INT64_C(1379808480000);
    r->action = 'R';
    r->outcome = "0";
    r->observer.reference = "Device/srv";
    r->observer.type = "Device";
    assert_int_equal(aod_codings_add(r, &r->type,
                                     "http://terminology.hl7.org/CodeSystem/audit-event-type",
                                     "rest", NULL),
                     0);
    assert_int_equal(
        aod_codings_add(r, &r->subtype, "http://hl7.org/fhir/restful-interaction", "read", NULL),
        0);
    r->agents = aod_record_alloc(r, sizeof *r->agents);
    r->n_agents = 1;
    r->agents[0].who.reference = "Practitioner/7";
    r->agents[0].who.type = "Practitioner";
    r->agents[0].who.display = "Dr. A\tB\\C";
    r->agents[0].requestor = 1;
    r->entities = aod_record_alloc(r, sizeof *r->entities);
    r->n_entities = 1;
    r->entities[0].what.reference = "Patient/1";
    r->entities[0].what.type = "Patient";
    r->entities[0].role.code = "1";
    assert_int_equal(aod_record_add_patient_key(r, "Patient/1"), 0);
}

static void decode_ok(const char *text, size_t len, aod_record *out)
{
    aod_error err;
    char msg[1024];

    aod_error_init(&err);
    if (aod_recio_decode(text, len, out, &err) != 0)
        fail_msg("decode: %s\n%.*s", aod_error_format(&err, msg, sizeof msg), (int)len, text);
}

static void test_aod1_stored_rows(void **state)
{
    aod_record *want = aod_record_new(), *back = aod_record_new();
    aod_buf b;

    (void)state;
    aod_buf_init(&b, 0);
    build_rich_escaped(want);
    decode_ok(rich_aod1, strlen(rich_aod1), back);
    same_record(want, back);
    /* Re-encoded, the same record comes out of aod2 too. */
    round_trip(back, want);

    /* A real event: aod2 keeps every field and takes half the bytes. */
    decode_ok(real_aod1, strlen(real_aod1), want);
    assert_string_equal(want->id, "ae-42-7");
    assert_int_equal(aod_recio_encode(want, &b, NULL), 0);
    assert_memory_equal(b.data, "aod2\n", 5);
    decode_ok(b.data, b.len, back);
    same_record(want, back);
    assert_true(b.len * 10 < strlen(real_aod1) * 6);
    aod_buf_free(&b);
    aod_record_free(want);
    aod_record_free(back);
}

static void test_doc_example(void **state)
{
    aod_record *r = aod_record_new(), *back = aod_record_new();
    aod_buf want, got;

    (void)state;
    aod_buf_init(&want, 0);
    aod_buf_init(&got, 0);
    build_doc_example(r);
    doc_text(doc_aod2, sizeof doc_aod2 / sizeof doc_aod2[0], &want);
    assert_int_equal(aod_recio_encode(r, &got, NULL), 0);
    assert_string_equal(aod_buf_str(&got), aod_buf_str(&want));
    decode_ok(want.data, want.len, back);
    same_record(r, back);
    doc_text(doc_aod1, sizeof doc_aod1 / sizeof doc_aod1[0], &want);
    decode_ok(want.data, want.len, back);
    same_record(r, back);
    aod_buf_free(&want);
    aod_buf_free(&got);
    aod_record_free(r);
    aod_record_free(back);
}

/* ------------------------------------------------------ aod2 shorthands */

/* The encoded id field of an aod2 text (the first field of line R). */
static void id_field(const aod_buf *b, char *out, size_t size)
{
    const char *s = b->data + strlen("aod2\nR\t"), *e;

    assert_true(b->len > strlen("aod2\nR\t"));
    assert_memory_equal(b->data, "aod2\nR\t", strlen("aod2\nR\t"));
    e = strchr(s, '\t');
    assert_non_null(e);
    assert_true((size_t)(e - s) < size);
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = '\0';
}

static void test_dictionary_strings(void **state)
{
#define DCM "http://dicom.nema.org/resources/ontology/DCM"
    static const struct {
        const char *s;   /* the string */
        const char *enc; /* its encoded field; NULL: the string itself */
    } cases[] = {
        {NULL, ""},
        {"", "\\e"},
        {DCM, "\\~af"},
        {"Patient", "\\~69"},
        {"110100", "\\~00"},
        {"warning", "\\~f6"},
        {DCM "x", NULL},
        {DCM "/", NULL},
        {"http://dicom.nema.org/resources/ontology/DC", NULL},
        {"x" DCM, NULL},
        {DCM " " DCM, NULL},
        {"see http://loinc.org here", NULL},
        {"patient", NULL},
        {"Patient ", NULL},
        {"rest", NULL},
        {"=", NULL},
        {"\\~af", "\\\\~af"},
        {"\\e", "\\\\e"},
        {"\\N", "\\\\N"},
        {"Pati\xc3\xa9nt", NULL},
        {"Patient\t", "Patient\\t"},
    };
    aod_record *r = aod_record_new(), *a = aod_record_new(), *b = aod_record_new();
    const char ***slots;
    char enc[256];
    size_t i, n, k;
    aod_buf buf;

    (void)state;
    aod_buf_init(&buf, 0);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        build_rich(r);
        r->id = cases[i].s;
        aod_buf_reset(&buf);
        assert_int_equal(aod_recio_encode(r, &buf, NULL), 0);
        id_field(&buf, enc, sizeof enc);
        assert_string_equal(enc, cases[i].enc ? cases[i].enc : cases[i].s);
        decode_ok(buf.data, buf.len, a);
        decode_ok(buf.data, buf.len, b);
        same_str(a->id, cases[i].s, "id");
        /* A dictionary string is the dictionary's own: two records get the
         * same pointer, where a decoded copy would be in each record's arena. */
        if (cases[i].s && cases[i].enc && !strncmp(cases[i].enc, "\\~", 2))
            assert_ptr_equal(a->id, b->id);
        else if (cases[i].s)
            assert_ptr_not_equal(a->id, b->id);

        /* The same string in every string field. */
        slots = string_slots(r, &n);
        for (k = 0; k < n; k++)
            *slots[k] = cases[i].s;
        round_trip(r, a);
    }
    /* The dictionary string in every field: none is left written out. */
    build_rich(r);
    slots = string_slots(r, &n);
    for (k = 0; k < n; k++)
        *slots[k] = DCM;
    aod_buf_reset(&buf);
    assert_int_equal(aod_recio_encode(r, &buf, NULL), 0);
    assert_null(strstr(aod_buf_str(&buf), "dicom"));
    round_trip(r, a);
    aod_buf_free(&buf);
    aod_record_free(r);
    aod_record_free(a);
    aod_record_free(b);
#undef DCM
}

/* The dictionary is part of the aod2 format and frozen (recio.c): a row
 * written by one binary must read the same in every other.  It can only be
 * seen through the decoder, which is how an old binary would see it. */
static void test_dictionary_frozen(void **state)
{
    static const char hexd[] = "0123456789abcdef";
    aod_record *r = aod_record_new(), *e = aod_record_new();
    char text[128], enc[16], prev[128] = "";
    uint64_t h = UINT64_C(14695981039346656037); /* FNV-1a 64 */
    const unsigned char *s;
    size_t n = 0, i, len;
    aod_error err;
    aod_buf b;

    (void)state;
    aod_buf_init(&b, 0);
    for (i = 0; i < 256; i++) {
        len =
            (size_t)snprintf(text, sizeof text,
                             "aod2\nR\t\\~%c%c\t4\t0\t=\t=\t\t\t\t\t\t\t\t\t\t\t\t0\t0\t0\t0\t0\t0"
                             "\t0\n",
                             hexd[i >> 4], hexd[i & 15]);
        aod_error_init(&err);
        if (aod_recio_decode(text, len, r, &err) != 0) {
            assert_string_equal(err.field, "id");
            break;
        }
        n++;
        assert_non_null(r->id);
        /* Sorted, unique, worth its reference, never escaped. */
        assert_true(strcmp(prev, r->id) < 0);
        assert_true(strlen(r->id) > 4 && strlen(r->id) < sizeof prev);
        for (s = (const unsigned char *)r->id; *s; s++)
            assert_true(*s >= 0x20 && *s < 0x7f && *s != '\\');
        memcpy(prev, r->id, strlen(r->id) + 1);
        for (s = (const unsigned char *)r->id;; s++) {
            h = (h ^ *s) * UINT64_C(1099511628211);
            if (!*s)
                break;
        }
        /* The encoder finds every entry. */
        build_rich(e);
        e->id = r->id;
        aod_buf_reset(&b);
        assert_int_equal(aod_recio_encode(e, &b, NULL), 0);
        id_field(&b, enc, sizeof enc);
        assert_true(enc[0] == '\\' && enc[1] == '~' && (size_t)strtoul(enc + 2, NULL, 16) == i &&
                    strlen(enc) == 4);
    }
    /* No entry past the last one. */
    for (; i < 256; i++) {
        len =
            (size_t)snprintf(text, sizeof text,
                             "aod2\nR\t\\~%c%c\t4\t0\t=\t=\t\t\t\t\t\t\t\t\t\t\t\t0\t0\t0\t0\t0\t0"
                             "\t0\n",
                             hexd[i >> 4], hexd[i & 15]);
        expect_fail(text, len, "id");
    }
    /* If this fails, the table in recio.c was edited: that makes old
     * binaries misread new rows.  Put it back; new entries need "aod3". */
    assert_int_equal(n, 247);
    assert_true(h == UINT64_C(0xd1a3bd2ff8fd93d5));
    aod_buf_free(&b);
    aod_record_free(r);
    aod_record_free(e);
}

static void test_times_same_as_recorded(void **state)
{
    static const int64_t rec = INT64_C(1379808480123);
    static const struct {
        int64_t start, end;
        const char *fields; /* recorded, when_start, when_end as encoded */
    } cases[] = {
        {rec, rec, "1379808480123\t=\t="},
        {rec, rec + 1, "1379808480123\t=\t1379808480124"},
        {rec - 1, rec, "1379808480123\t1379808480122\t="},
        {rec - 1, rec - 1, "1379808480123\t1379808480122\t1379808480122"},
        {0, -1, "1379808480123\t0\t-1"},
    };
    aod_record *r = aod_record_new(), *back = aod_record_new();
    char want[128];
    size_t i;
    aod_buf b;

    (void)state;
    aod_buf_init(&b, 0);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        build_rich(r);
        r->recorded = rec;
        r->when_start = cases[i].start;
        r->when_end = cases[i].end;
        aod_buf_reset(&b);
        assert_int_equal(aod_recio_encode(r, &b, NULL), 0);
        snprintf(want, sizeof want, "aod2\nR\tev-1\t5\t%s\tE\t", cases[i].fields);
        assert_memory_equal(b.data, want, strlen(want));
        round_trip(r, back);
    }
    /* The extremes are equal to themselves too. */
    build_rich(r);
    r->recorded = r->when_start = r->when_end = INT64_MIN;
    round_trip(r, back);
    r->recorded = r->when_start = r->when_end = INT64_MAX;
    round_trip(r, back);
    aod_buf_free(&b);
    aod_record_free(r);
    aod_record_free(back);
}

/* A copy of text (exact size, for ASan) with field `field` (0 = the line's
 * tag) of line `line` (0 = the version line) replaced by value. */
static char *with_field(const char *text, int line, int field, const char *value, size_t *len)
{
    const char *p = text, *start, *end;
    size_t vlen = strlen(value), n;
    char *out;
    int i;

    for (i = 0; i < line; i++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    for (i = 0; i < field; i++) {
        p += strcspn(p, "\t\n");
        assert_int_equal(*p, '\t');
        p++;
    }
    start = p;
    end = start + strcspn(start, "\t\n");
    n = (size_t)(start - text) + vlen + strlen(end);
    out = malloc(n ? n : 1);
    assert_non_null(out);
    memcpy(out, text, (size_t)(start - text));
    memcpy(out + (start - text), value, vlen);
    memcpy(out + (start - text) + vlen, end, strlen(end));
    *len = n;
    return out;
}

static void test_malformed_aod2(void **state)
{
    /* One agent, one entity, everything else empty; "=" times. */
    static const char good[] = "aod2\n"
                               "R\t\t4\t0\t=\t=\t\t\t\t\t\t\t\t\t\t\t\t0\t0\t0\t0\t1\t1\t0\n"
                               "A\t\t\t\t\t\t\t\t0\t0\t1\t\t\t0\t0\n"
                               "E\t\t\t\t\t\t\t\t\t\t\t\t\t\t0\t0\n";
    /* The same in aod1. */
    static const char good1[] =
        "aod1\n"
        "R\t\\N\t4\t0\t0\t0\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t0\t0\t1\t1\t"
        "0\n"
        "A\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t1\t\\N\t\\N\t0\t0\n"
        "E\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\n";
    static const struct {
        int v2, line, field;
        const char *value, *err_field;
    } bad[] = {
        /* \e and \~hh stand for the whole field and nothing else */
        {1, 1, 1, "\\e\\e", "id"},
        {1, 1, 1, "a\\e", "id"},
        {1, 1, 1, "\\ea", "id"},
        {1, 1, 1, "\\~00x", "id"},
        {1, 1, 1, "x\\~00", "id"},
        {1, 1, 1, "\\~00\\~00", "id"},
        {1, 1, 1, "\\~00\\t", "id"},
        /* \~ takes exactly two lowercase hex digits naming an entry */
        {1, 1, 1, "\\~", "id"},
        {1, 1, 1, "\\~0", "id"},
        {1, 1, 1, "\\~0g", "id"},
        {1, 1, 1, "\\~0A", "id"},
        {1, 1, 1, "\\~AF", "id"},
        {1, 1, 1, "\\~-1", "id"},
        {1, 1, 1, "\\~f7", "id"},
        {1, 1, 1, "\\~ff", "id"},
        /* aod1's NULL is an unknown escape in aod2, as before other ones */
        {1, 1, 1, "\\N", "id"},
        {1, 1, 1, "\\q", "id"},
        {1, 1, 1, "\\x00", "id"},
        {1, 1, 1, "\\x4", "id"},
        /* "=" only as when_start and when_end, and alone */
        {1, 1, 2, "=", "version"},
        {1, 1, 3, "=", "recorded"},
        {1, 1, 4, "==", "when_start"},
        {1, 1, 4, "=1", "when_start"},
        {1, 1, 4, "1=", "when_start"},
        {1, 1, 4, "", "when_start"},
        {1, 1, 4, "\\e", "when_start"},
        {1, 1, 5, "= ", "when_end"},
        {1, 1, 5, "-", "when_end"},
        {1, 1, 17, "=", "type"},
        {1, 1, 21, "=", "n_agents"},
        {1, 1, 23, "=", "patient_keys"},
        /* action: empty or one byte; "" is not how aod2 says "none" */
        {1, 1, 6, "\\e", "action"},
        {1, 1, 6, "\\~13", "action"},
        {1, 1, 6, "RR", "action"},
        /* the other lines and fields name themselves */
        {1, 1, 7, "\\N", "outcome"},
        {1, 1, 11, "\\e\\e", "source.site"},
        {1, 1, 13, "\\~zz", "source.observer.type"},
        {1, 2, 2, "\\~f8", "agent.who.type"},
        {1, 2, 6, "\\e\\t", "agent.name"},
        {1, 2, 10, "=", "agent.requestor"},
        {1, 3, 9, "\\~", "entity.role"},
        {1, 3, 13, "\\ee", "entity.description"},
        {1, 3, 15, "=", "entity.has_query"},
        /* none of aod2's shorthands is aod1 */
        {0, 1, 1, "\\e", "id"},
        {0, 1, 1, "\\~00", "id"},
        {0, 1, 4, "=", "when_start"},
        {0, 1, 5, "=", "when_end"},
        {0, 1, 6, "\\N", "action"},
    };
    aod_record *r = aod_record_new();
    size_t i, len;
    char *text;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        text = with_field(bad[i].v2 ? good : good1, bad[i].line, bad[i].field, bad[i].value, &len);
        expect_fail(text, len, bad[i].err_field);
        free(text);
    }
    /* What they were made from is fine, and means the same in both. */
    decode_ok(good, strlen(good), r);
    assert_null(r->id);
    assert_int_equal(r->when_start, 0);
    assert_int_equal(r->when_end, 0);
    assert_int_equal(r->action, 0);
    assert_null(r->agents[0].who.reference);
    assert_int_equal(r->agents[0].requestor, 1);
    assert_null(r->entities[0].role.code);
    decode_ok(good1, strlen(good1), r);
    assert_null(r->id);
    assert_int_equal(r->action, 0);
    assert_null(r->agents[0].who.reference);
    /* Each shorthand on its own decodes. */
    text = with_field(good, 1, 1, "\\e", &len);
    decode_ok(text, len, r);
    assert_string_equal(r->id, "");
    free(text);
    text = with_field(good, 1, 1, "\\~f6", &len);
    decode_ok(text, len, r);
    assert_string_equal(r->id, "warning");
    free(text);
    text = with_field(good, 1, 5, "7", &len);
    decode_ok(text, len, r);
    assert_int_equal(r->when_start, 0);
    assert_int_equal(r->when_end, 7);
    free(text);
    /* A dictionary string written out in full is the same string. */
    text = with_field(good, 1, 1, "Patient", &len);
    decode_ok(text, len, r);
    assert_string_equal(r->id, "Patient");
    free(text);
    aod_record_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_rich),
        cmocka_unit_test(test_nasty_strings_every_field),
        cmocka_unit_test(test_null_vs_empty),
        cmocka_unit_test(test_action_bytes),
        cmocka_unit_test(test_large_values),
        cmocka_unit_test(test_dump),
        cmocka_unit_test(test_every_truncation_fails),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_random_input),
        cmocka_unit_test(test_huge_counts),
        cmocka_unit_test(test_aod1_stored_rows),
        cmocka_unit_test(test_doc_example),
        cmocka_unit_test(test_dictionary_strings),
        cmocka_unit_test(test_dictionary_frozen),
        cmocka_unit_test(test_times_same_as_recorded),
        cmocka_unit_test(test_malformed_aod2),
        cmocka_unit_test(test_context_aod3),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
