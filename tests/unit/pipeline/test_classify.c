/*
 * test_classify.c - stage "classify": each row of the DOMAIN.md appendix
 * table with the shipped default policy, the BALP client/server read pair,
 * disclosures, the patient as actor, failed and out-of-scope records, and
 * the line's fields.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "pipeline/classify.h"
#include "testutil.h"

#define PATIENT  "Patient/p1"
#define HOSPITAL "Example Community Hospital"

typedef struct fixture {
    aod_policy *policy;
    aod_strpool *pool;
    aod_report_info info;
    const char *keys[2];
    aod_record *r;
    aod_entry e;
} fixture;

static int setup_with(void **state, aod_policy *policy)
{
    fixture *f = tu_check(calloc(1, sizeof *f));

    f->policy = policy;
    f->pool = tu_check(aod_strpool_new());
    f->keys[0] = PATIENT;
    f->keys[1] = "urn:oid:1.2.3|MRN-7";
    f->info.mode = AOD_MODE_DISCLOSURES;
    f->info.patient_keys = f->keys;
    f->info.n_patient_keys = 2;
    f->info.from = tu_time("2020-01-01T00:00:00Z");
    f->info.to = tu_time("2026-01-01T00:00:00Z");
    f->info.policy = f->policy;
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, tu_policy_file("examples/policies/demo.xml"));
}

static int teardown(void **state)
{
    fixture *f = *state;

    aod_record_free(f->r);
    aod_strpool_free(f->pool);
    aod_policy_free(f->policy);
    free(f);
    return 0;
}

/* Classifies f->r (record id 42) into f->e. */
static void run(fixture *f)
{
    aod_error err;

    aod_error_init(&err);
    assert_int_equal(aod_classify(f->policy, &f->info, f->r, 42, f->pool, &f->e, &err), 0);
    assert_int_equal(f->e.n_record_ids, 1);
    assert_int_equal(f->e.record_ids[0], 42);
    assert_int_equal(f->e.count, 1);
    assert_int_equal(f->e.raw_count, 1);
    assert_int_equal(f->e.group, 0);
    assert_null(f->e.shown_name);
}

static void use(fixture *f, aod_record *r)
{
    aod_record_free(f->r);
    f->r = r;
}

/* A workforce member reads an Observation of the patient (R4 rest read),
 * with agent purpose `purpose` (NULL: none). */
static aod_record *staff_read(const char *purpose)
{
    aod_record *r = tu_record("2024-03-05T10:00:00Z", 'R');
    aod_agent *a;

    tu_code(r, &r->type, TU_EVENT_TYPE, "rest", "RESTful Operation");
    tu_code(r, &r->subtype, TU_RESTFUL, "read", NULL);
    tu_ref(r, &r->observer, "Device/fhir-server", "FHIR server");
    a = tu_agent(r, "Practitioner/dr1", "Dr. Alice Smith", 1);
    tu_code(r, &a->role, NULL, "doctor", "Doctor");
    if (purpose)
        tu_code(r, &a->purpose, TU_ACT_REASON, purpose, NULL);
    tu_patient(r, PATIENT);
    tu_entity(r, "Observation/obs1", "4");
    return r;
}

/* An Export (DCM 110106, subtype disclose) by a clerk to `recipient_ref`,
 * with event purpose `purpose` (NULL: none). */
static aod_record *export_to(const char *recipient_ref, const char *recipient_name,
                             const char *network, const char *purpose)
{
    aod_record *r = tu_record("2024-04-01T09:30:00Z", 'R');
    aod_agent *a;

    tu_code(r, &r->type, TU_DCM, "110106", "Export");
    tu_code(r, &r->subtype, TU_LIFECYCLE, "disclose", "Disclose");
    tu_ref(r, &r->observer, "Device/him-system", "HIM release system");
    if (purpose)
        tu_code(r, &r->purpose, TU_ACT_REASON, purpose, NULL);
    a = tu_agent(r, "Practitioner/clerk9", "Robin Clerk", 1);
    tu_code(r, &a->type, TU_DCM, "110153", "Source Role ID");
    a->network = tu_str(r, "him.hospital.example.org");
    a = tu_agent(r, recipient_ref, recipient_name, 0);
    tu_code(r, &a->type, TU_DCM, "110152", "Destination Role ID");
    a->network = tu_str(r, network);
    tu_patient(r, PATIENT);
    tu_entity(r, "DocumentReference/doc5", "4")->description = tu_str(r, "discharge summary");
    return r;
}

/* ------------------------------------------------------ the appendix table */

static void test_treatment_payment_operations(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *purpose, *rule;
    } rows[] = {
        {"TREAT", "treatment"},    {"ETREAT", "treatment"},    {"CAREMGT", "treatment"},
        {"HPAYMT", "payment"},     {"COVERAGE", "payment"},    {"CLMATTCH", "payment"},
        {"HOPERAT", "operations"}, {"HQUALIMP", "operations"}, {"HSYSADMIN", "operations"},
    };
    size_t i;

    for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        /* A workforce read is a use, not a disclosure: internal, though the
         * exclusion rule that allows it is named. */
        use(f, staff_read(rows[i].purpose));
        run(f);
        assert_int_equal(f->e.cls, AOD_CLASS_INTERNAL);
        assert_int_equal(f->e.exclusion, AOD_EXCL_NONE);
        assert_string_equal(f->e.rule_id, rows[i].rule);
        assert_string_equal(f->e.purpose_code, rows[i].purpose);
        assert_false(f->e.flags & AOD_ENTRY_PURPOSE_UNKNOWN);
    }
    /* The same purposes on a disclosure to an outside party: still (i). */
    use(f,
        export_to("Organization/clinic2", "Lakeside Clinic", "ehr.lakeside.example.com", "TREAT"));
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_EXCLUDED);
    assert_int_equal(f->e.exclusion, AOD_EXCL_I);
    assert_string_equal(f->e.who.reference, "Organization/clinic2");
}

static void test_patient_request(void **state)
{
    fixture *f = *state;
    /* to a parent (a personal representative): (ii) whoever asked; FAMRQT
     * is no (ii) purpose of its own, the recipient makes it (ii) */
    static const char *const codes[] = {"PATRQT", "FAMRQT", "PWATRNY"};
    static const char *const rules[] = {"patient-request", "recipient-is-patient",
                                        "patient-request"};
    size_t i;

    for (i = 0; i < 3; i++) {
        aod_record *r = export_to("RelatedPerson/rp1", "Jo Parent", NULL, codes[i]);

        tu_code(r, &r->agents[1].role, "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "PRN",
                "parent");
        use(f, r);
        run(f);
        assert_int_equal(f->e.cls, AOD_CLASS_EXCLUDED);
        assert_int_equal(f->e.exclusion, AOD_EXCL_II);
        assert_string_equal(f->e.rule_id, rules[i]);
        assert_int_equal(f->e.who.cls, AOD_ACTOR_PATIENT_OR_REPRESENTATIVE);
    }
}

/* PATRQT to a third party is the patient's direction, (iv); the patient as
 * BALP authorizer (SNOMED 429577009) is an authorization; FAMRQT to someone
 * who is not a representative is listed. */
static void test_patient_directed(void **state)
{
    fixture *f = *state;
    aod_record *r;
    aod_agent *a;

    r = export_to("Organization/insurer", "Life Insurer", "insurer.example.com", "PATRQT");
    use(f, r);
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_EXCLUDED);
    assert_int_equal(f->e.exclusion, AOD_EXCL_IV);
    assert_string_equal(f->e.rule_id, "patient-directed");

    r = export_to("Organization/insurer", "Life Insurer", "insurer.example.com", "HMARKT");
    a = tu_agent(r, PATIENT, NULL, 0);
    tu_code(r, &a->type, "http://snomed.info/sct", "429577009", "Patient advocate");
    use(f, r);
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_EXCLUDED);
    assert_int_equal(f->e.exclusion, AOD_EXCL_IV);
    assert_string_equal(f->e.rule_id, "authorized");

    r = export_to("RelatedPerson/bro", "Sam Brother", NULL, "FAMRQT");
    tu_code(r, &r->agents[1].role, "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "BRO",
            "brother");
    use(f, r);
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_DISCLOSURE);
    assert_string_equal(f->e.rule_id, "family-request");
}

/* Data coming in is no disclosure; an export onto a disc is one. */
static void test_direction_and_media(void **state)
{
    fixture *f = *state;
    aod_record *r = tu_record("2024-04-01T09:30:00Z", 'C');
    aod_agent *a;

    tu_code(r, &r->type, TU_DCM, "110107", "Import");
    tu_ref(r, &r->observer, "Device/recipient", NULL);
    a = tu_agent(r, NULL, "Outside Lab", 0);
    tu_code(r, &a->type, TU_DCM, "110153", "Source Role ID");
    a->network = tu_str(r, "lab.outside.example.com");
    tu_patient(r, PATIENT);
    use(f, r);
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_INTERNAL);
    assert_string_equal(f->e.rule_id, "received-from-outside");
    assert_string_equal(f->e.activity, "received-C");

    r = tu_record("2024-04-01T09:30:00Z", 'R');
    tu_code(r, &r->type, TU_DCM, "110106", "Export");
    tu_ref(r, &r->observer, "Device/burner", NULL);
    a = tu_agent(r, "Practitioner/clerk9", "Robin Clerk", 1);
    a = tu_agent(r, NULL, "DVD for the patient's lawyer", 0);
    tu_code(r, &a->type, TU_DCM, "110154", "Destination Media");
    tu_patient(r, PATIENT);
    use(f, r);
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_DISCLOSURE);
    assert_string_equal(f->e.rule_id, "no-purpose-export");
    assert_string_equal(f->e.activity, "media-export");
    assert_string_equal(f->e.who.name, "DVD for the patient's lawyer");
}

static void test_authorization(void **state)
{
    fixture *f = *state;
    aod_record *r;

    /* a Consent entity */
    r = export_to("Organization/univ", "State University", "research.univ.example.edu", "HRESCH");
    tu_entity(r, "Consent/c7", NULL);
    use(f, r);
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_EXCLUDED);
    assert_int_equal(f->e.exclusion, AOD_EXCL_IV);
    assert_string_equal(f->e.rule_id, "authorized");
    /* the Consent is the authorization, not the data sent */
    assert_string_equal(f->e.data_kinds, "DocumentReference");

    /* the default policy ignores agent.policy (BALP puts token ids there) */
    r = export_to("Organization/univ", "State University", "research.univ.example.edu", "HRESCH");
    tu_agent_policy(r, &r->agents[0], "urn:hospital:authorization:2024-88");
    use(f, r);
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_DISCLOSURE);
    assert_string_equal(f->e.rule_id, "research");

    /* marketing with an authorization is excluded, without one reported */
    r = export_to("Organization/adco", "AdCo", "adco.example.com", "HMARKT");
    tu_entity(r, "Consent/c8", NULL);
    use(f, r);
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_EXCLUDED);
    assert_string_equal(f->e.rule_id, "authorized");
    use(f, export_to("Organization/adco", "AdCo", "adco.example.com", "HMARKT"));
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_DISCLOSURE);
    assert_string_equal(f->e.rule_id, "marketing");
    assert_int_equal(f->e.exclusion, AOD_EXCL_NONE);
}

/* agent-policy="listed" and "any" */
static void test_authorization_evidence_modes(void **state)
{
    static const char listed[] =
        "<policy xmlns='urn:aodreport:policy:1' name='t'>"
        "<organisation><name>H</name><privacy-office><name>P</name></privacy-office>"
        "</organisation><classification>"
        "<authorization-evidence agent-policy='listed' consent-entity='false'>"
        "<policy-uri-prefix>urn:hospital:authorization:</policy-uri-prefix>"
        "</authorization-evidence>"
        "<rule id='authorized'><match><authorization/></match>"
        "<excluded exclusion='iv' reason='authorization'/></rule>"
        "<rule id='rest'><reportable/></rule></classification></policy>";
    fixture *f = *state;
    aod_record *r;

    aod_policy_free(f->policy);
    f->policy = tu_policy_text(listed);
    r = export_to("Organization/univ", NULL, NULL, "HRESCH");
    tu_agent_policy(r, &r->agents[0], "urn:oauth:token:abc");
    use(f, r);
    run(f);
    assert_string_equal(f->e.rule_id, "rest");
    tu_agent_policy(r, &r->agents[1], "urn:hospital:authorization:2024-88");
    run(f);
    assert_string_equal(f->e.rule_id, "authorized");
    /* consent-entity="false": a Consent is not evidence */
    r = export_to("Organization/univ", NULL, NULL, "HRESCH");
    tu_entity(r, "Consent/c7", NULL);
    use(f, r);
    run(f);
    assert_string_equal(f->e.rule_id, "rest");
    /* agent-policy="any": every URI */
    f->policy->classification.agent_policy = AOD_AGENT_POLICY_ANY;
    tu_agent_policy(r, &r->agents[0], "urn:oauth:token:abc");
    run(f);
    assert_string_equal(f->e.rule_id, "authorized");
}

static void test_reportable_purposes(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *purpose, *rule;
    } rows[] = {
        {"PUBHLTH", "public-health"},
        {"HRESCH", "research"},
        {"HLEGAL", "legal-oversight-law-enforcement"},
        {"LAW", "legal-oversight-law-enforcement"},
        {"GOV", "legal-oversight-law-enforcement"},
        {"HMARKT", "marketing"},
    };
    size_t i;

    for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        use(f, export_to("Organization/agency", "State Agency", "agency.example.gov",
                         rows[i].purpose));
        run(f);
        assert_int_equal(f->e.cls, AOD_CLASS_DISCLOSURE);
        assert_string_equal(f->e.rule_id, rows[i].rule);
        assert_string_equal(f->e.purpose_code, rows[i].purpose);
        assert_string_equal(f->e.purpose_system, TU_ACT_REASON);
        assert_int_equal(f->e.who.cls, AOD_ACTOR_EXTERNAL_ORGANISATION);
        assert_string_equal(f->e.who.name, "State Agency");
    }
    /* a directory / involved-in-care purpose is (v); a neighbour is not
     * the patient's representative */
    use(f, export_to("RelatedPerson/x", "Neighbour", NULL, "HDIRECT"));
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_EXCLUDED);
    assert_int_equal(f->e.exclusion, AOD_EXCL_V);
    assert_string_equal(f->e.rule_id, "directory-or-involved");
    assert_int_equal(f->e.who.cls, AOD_ACTOR_EXTERNAL_PERSON);
}

static void test_no_purpose(void **state)
{
    fixture *f = *state;

    /* export to an outside recipient: reported, purpose unknown */
    use(f,
        export_to("Organization/lawfirm", "Dewey & Partners LLP", "mail.dewey.example.com", NULL));
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_DISCLOSURE);
    assert_string_equal(f->e.rule_id, "no-purpose-export");
    assert_true(f->e.flags & AOD_ENTRY_PURPOSE_UNKNOWN);
    assert_null(f->e.purpose_code);

    /* internal read: a use */
    use(f, staff_read(NULL));
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_INTERNAL);
    assert_string_equal(f->e.rule_id, "no-purpose-internal");
    assert_true(f->e.flags & AOD_ENTRY_PURPOSE_UNKNOWN);
    assert_int_equal(f->e.who.cls, AOD_ACTOR_WORKFORCE);
}

/* ---------------------------------------------------------- disclosures */

static void test_disclosure_to_law_firm(void **state)
{
    fixture *f = *state;
    aod_record *r = export_to("Organization/lawfirm", "Dewey & Partners LLP",
                              "https://records.dewey.example.com/inbox", "HLEGAL");

    r->agents[1].location = tu_str(r, "1 Court Street, Springfield");
    tu_xrid(r, "req-77");
    use(f, r);
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_DISCLOSURE);
    assert_string_equal(f->e.rule_id, "legal-oversight-law-enforcement");
    /* who is the firm (110152), not the clerk who sent it */
    assert_int_equal(f->e.who.cls, AOD_ACTOR_EXTERNAL_ORGANISATION);
    assert_string_equal(f->e.who.reference, "Organization/lawfirm");
    assert_string_equal(f->e.who.name, "Dewey & Partners LLP");
    assert_string_equal(f->e.who.organisation, "Dewey & Partners LLP");
    assert_string_equal(f->e.who.address, "1 Court Street, Springfield");
    assert_null(f->e.who.unit);
    assert_string_equal(f->e.who.network, "https://records.dewey.example.com/inbox");
    /* the rest of the line */
    assert_string_equal(f->e.data, "discharge summary");
    assert_string_equal(f->e.data_kinds, "DocumentReference");
    assert_string_equal(f->e.data_ref, "DocumentReference/doc5");
    assert_string_equal(f->e.type_code, "110106");
    assert_string_equal(f->e.subtype_code, "disclose");
    assert_string_equal(f->e.where, "HIM release system");
    assert_string_equal(f->e.observer, "Device/him-system");
    assert_string_equal(f->e.x_request_id, "req-77");
    assert_string_equal(f->e.actor_key, "Practitioner/clerk9");
    assert_int_equal(f->e.action, 'R');
    assert_string_equal(f->e.outcome, "0");
    assert_int_equal(f->e.when_start, tu_time("2024-04-01T09:30:00Z"));
    assert_int_equal(f->e.recorded, tu_time("2024-04-01T09:30:00Z"));
    assert_int_equal(f->e.first, f->e.when_start);
    assert_int_equal(f->e.last, f->e.when_end);
    /* strings are the pool's */
    assert_ptr_equal(f->e.who.name, aod_strpool_intern(f->pool, "Dewey & Partners LLP"));
}

/* The HL7 example-disclosure, R4 form: marketing, accounted for (the default
 * policy does not take agent[0]'s agent.policy URI for an authorization). */
static void test_hl7_example_disclosure(void **state)
{
    fixture *f = *state;
    aod_record *r = tu_record("2013-09-22T00:08:00Z", 'R');
    aod_agent *a;
    aod_entity *e;

    f->info.from = tu_time("2013-01-01T00:00:00Z");
    tu_code(r, &r->type, TU_DCM, "110106", "Export");
    tu_code(r, &r->subtype, NULL, "Disclosure", "HIPAA disclosure");
    tu_code(r, &r->purpose, TU_ACT_REASON, "HMARKT", "healthcare marketing");
    tu_ref(r, &r->observer, NULL, "Watchers Accounting of Disclosures Application");
    a = tu_agent(r, NULL, NULL, 1);
    tu_code(r, &a->type, TU_DCM, "110153", "Source Role ID");
    tu_ident(r, &a->who, NULL, "SomeIdiot@nowhere");
    a->name = tu_str(r, "That guy everyone wishes would be caught");
    a->location = tu_str(r, "Location/1");
    a->network = tu_str(r, "custodian.net");
    tu_agent_policy(r, a, "http://consent.com/yes");
    a = tu_agent(r, "Practitioner/example", NULL, 0);
    tu_code(r, &a->type, TU_DCM, "110152", "Destination Role ID");
    a->network = tu_str(r, "marketing.land");
    tu_code(r, &a->purpose, TU_ACT_REASON, "HMARKT", NULL);
    e = tu_entity(r, "Patient/p1", "1");
    (void)e;
    aod_record_add_patient_key(r, PATIENT);
    e = tu_entity(r, "Patient/p1", "4");
    e->description = tu_str(r, "data about Everthing important");
    use(f, r);
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_DISCLOSURE);
    assert_int_equal(f->e.exclusion, AOD_EXCL_NONE);
    assert_string_equal(f->e.rule_id, "marketing");
    assert_string_equal(f->e.who.reference, "Practitioner/example");
    /* marketing.land is not hospital.example.org */
    assert_int_equal(f->e.who.cls, AOD_ACTOR_EXTERNAL_PERSON);
    assert_null(f->e.who.organisation);
    assert_string_equal(f->e.purpose_code, "HMARKT");
    assert_string_equal(f->e.data, "data about Everthing important");
    assert_string_equal(f->e.data_kinds, "Patient");
    assert_string_equal(f->e.where, "Watchers Accounting of Disclosures Application");
    assert_string_equal(f->e.actor_key, "SomeIdiot@nowhere");
}

/* R5 shape: category/code/authorization read into the same record fields;
 * patient only in `patient` (so no patient entity). */
static void test_r5_disclosure(void **state)
{
    fixture *f = *state;
    aod_record *r = tu_record("2024-05-02T12:00:00Z", 'R');
    aod_agent *a;

    r->version = AOD_FHIR_R5;
    tu_code(r, &r->type, TU_DCM, "110106", "Export");
    tu_code(r, &r->subtype, NULL, NULL, "Disclosure");
    tu_code(r, &r->purpose, TU_ACT_REASON, "PUBHLTH", NULL);
    aod_record_add_patient_key(r, PATIENT);
    a = tu_agent(r, "Device/exporter", "Export service", -1);
    tu_code(r, &a->type, TU_DCM, "110153", NULL);
    a = tu_agent(r, "Organization/cdc", "State Immunization Registry", -1);
    tu_code(r, &a->type, TU_DCM, "110152", NULL);
    a->network = tu_str(r, "https://iis.state.example.gov/fhir");
    tu_entity(r, "Immunization/imm3", "4");
    use(f, r);
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_DISCLOSURE);
    assert_string_equal(f->e.rule_id, "public-health");
    assert_string_equal(f->e.who.name, "State Immunization Registry");
    assert_int_equal(f->e.who.cls, AOD_ACTOR_EXTERNAL_ORGANISATION);
    assert_null(f->e.subtype_code); /* text only */
    assert_null(f->e.data);         /* a bare type is not a description */
    assert_string_equal(f->e.data_kinds, "Immunization");
    assert_null(f->e.actor_key); /* nobody asked: a push */
}

/* An export with no 110152 agent: the outside agent that is not the source. */
static void test_recipient_without_destination_code(void **state)
{
    fixture *f = *state;
    aod_record *r = tu_record("2024-06-01T08:00:00Z", 'R');
    aod_agent *a;

    tu_code(r, &r->type, TU_DCM, "110106", NULL);
    a = tu_agent(r, "Practitioner/dr1", "Dr. Alice Smith", 1);
    tu_code(r, &a->type, TU_DCM, "110153", NULL);
    a = tu_agent(r, "Device/printer4", "Ward printer", 0);
    a = tu_agent(r, "Organization/insurer", "Acme Insurance", 0);
    tu_patient(r, PATIENT);
    use(f, r);
    run(f);
    assert_string_equal(f->e.who.reference, "Organization/insurer");
    assert_int_equal(f->e.cls, AOD_CLASS_DISCLOSURE);
    assert_string_equal(f->e.rule_id, "no-purpose-export");
}

/* ------------------------------------------------------------ BALP read */

/* One BALP PatientRead as recorded by `observer`: client agent 110152
 * Destination, server 110153 Source, user IRCP requestor. */
static aod_record *balp_read(const char *recorded, const char *observer, const char *client_net)
{
    aod_record *r = tu_record(recorded, 'R');
    aod_agent *a;

    tu_code(r, &r->type, TU_EVENT_TYPE, "rest", NULL);
    tu_code(r, &r->subtype, TU_RESTFUL, "read", NULL);
    tu_ref(r, &r->observer, observer, NULL);
    a = tu_agent(r, "Device/client-app", "Charting app", -1);
    tu_code(r, &a->type, TU_DCM, "110152", "Destination Role ID");
    a->network = tu_str(r, client_net);
    a = tu_agent(r, "Device/fhir-server", "FHIR server", -1);
    tu_code(r, &a->type, TU_DCM, "110153", "Source Role ID");
    a->network = tu_str(r, "fhir.hospital.example.org");
    a = tu_agent(r, "Practitioner/dr1", "Dr. Alice Smith", 1);
    tu_code(r, &a->type, TU_PARTICIPATION, "IRCP", "information recipient");
    tu_patient(r, PATIENT);
    tu_entity(r, "Observation/obs1", "4");
    tu_xrid(r, "x-1");
    return r;
}

static void test_balp_read_pair(void **state)
{
    fixture *f = *state;
    aod_entry client;

    use(f, balp_read("2024-03-05T10:00:00.100Z", "Device/client-app", "10.2.3.4"));
    run(f);
    client = f->e;
    use(f, balp_read("2024-03-05T10:00:00.400Z", "Device/fhir-server", "10.2.3.4"));
    run(f);
    /* both sides: the user, never the client device typed 110152 */
    assert_string_equal(client.who.reference, "Practitioner/dr1");
    assert_string_equal(f->e.who.reference, "Practitioner/dr1");
    assert_int_equal(f->e.who.cls, AOD_ACTOR_WORKFORCE);
    assert_string_equal(f->e.who.organisation, HOSPITAL);
    assert_int_equal(f->e.cls, AOD_CLASS_INTERNAL);
    assert_int_equal(client.cls, AOD_CLASS_INTERNAL);
    /* what dedup pairs them on */
    assert_string_equal(client.observer, "Device/client-app");
    assert_string_equal(f->e.observer, "Device/fhir-server");
    assert_ptr_equal(client.data_ref, f->e.data_ref);
    assert_ptr_equal(client.actor_key, f->e.actor_key);
    assert_ptr_equal(client.x_request_id, f->e.x_request_id);
    assert_string_equal(f->e.data_kinds, "Observation");
    assert_string_equal(f->e.subtype_code, "read");

    /* a client outside the covered entity makes the read a disclosure to
     * that user, who is still who - not the device */
    use(f, balp_read("2024-03-05T10:00:00Z", "Device/fhir-server", "portal.otherclinic.example"));
    run(f);
    assert_string_equal(f->e.who.reference, "Practitioner/dr1");
    assert_int_equal(f->e.who.cls, AOD_ACTOR_EXTERNAL_PERSON);
    assert_int_equal(f->e.cls, AOD_CLASS_DISCLOSURE);
    assert_string_equal(f->e.rule_id, "no-purpose-outside");
}

/* BALP query: the search string is the line's query; kinds from it. */
static void test_balp_query(void **state)
{
    fixture *f = *state;
    aod_record *r = tu_record("2024-03-05T11:00:00Z", 'E');
    aod_agent *a;

    tu_code(r, &r->type, TU_EVENT_TYPE, "rest", NULL);
    tu_code(r, &r->subtype, TU_RESTFUL, "search-type", NULL);
    tu_ref(r, &r->observer, "Device/fhir-server", NULL);
    a = tu_agent(r, "Device/client-app", NULL, -1);
    tu_code(r, &a->type, TU_DCM, "110153", NULL);
    a = tu_agent(r, NULL, "Nurse Bo", 1);
    tu_ident(r, &a->who, "https://hospital.example.org/staff", "bo17");
    tu_code(r, &a->purpose, TU_ACT_REASON, "TREAT", NULL);
    tu_patient(r, PATIENT);
    tu_query(r, "Observation?patient=p1&category=laboratory");
    use(f, r);
    run(f);
    assert_string_equal(f->e.query, "Observation?patient=p1&category=laboratory");
    assert_string_equal(f->e.data_kinds, "Observation");
    assert_null(f->e.data_ref);
    assert_string_equal(f->e.actor_key, "https://hospital.example.org/staff|bo17");
    assert_string_equal(f->e.who.name, "Nurse Bo");
    assert_int_equal(f->e.cls, AOD_CLASS_INTERNAL);
    assert_string_equal(f->e.rule_id, "treatment");
}

/* "Where from" is words: the site, else the system's display, else the
 * organisation a host belongs to; never a bare domain, URI or reference. */
static void test_where_in_words(void **state)
{
    fixture *f = *state;
    aod_record *r;

    r = balp_read("2024-03-05T10:00:00Z", "Device/fhir-server", "10.2.3.4");
    r->site = tu_str(r, "hospital.example.org");
    tu_ref(r, &r->observer, "Device/ehr", "Charting system");
    use(f, r);
    run(f);
    assert_string_equal(f->e.where, "Charting system");

    r = balp_read("2024-03-05T10:00:00Z", "Device/fhir-server", "10.2.3.4");
    r->site = tu_str(r, "Main campus");
    use(f, r);
    run(f);
    assert_string_equal(f->e.where, "Main campus");

    /* a host of the covered entity: its name */
    r = balp_read("2024-03-05T10:00:00Z", "Device/fhir-server", "10.2.3.4");
    r->site = tu_str(r, "ehr.hospital.example.org");
    use(f, r);
    run(f);
    assert_string_equal(f->e.where, HOSPITAL);

    /* a URL of nobody we know, a reference: nothing rather than machine text */
    r = balp_read("2024-03-05T10:00:00Z", "https://fhir.elsewhere.example/r4", "10.2.3.4");
    r->site = tu_str(r, "elsewhere.example");
    use(f, r);
    run(f);
    assert_null(f->e.where);
}

/* -------------------------------------------------- patient, failed, scope */

static void test_patient_self_access(void **state)
{
    fixture *f = *state;
    aod_record *r = tu_record("2024-07-07T19:00:00Z", 'R');
    aod_agent *a;

    tu_code(r, &r->type, TU_EVENT_TYPE, "rest", NULL);
    tu_ref(r, &r->observer, "Device/portal", "Patient portal");
    a = tu_agent(r, PATIENT, "Pat Patient", 1);
    a->network = tu_str(r, "203.0.113.9");
    aod_record_add_patient_key(r, PATIENT);
    tu_entity(r, "Observation/obs1", "4");
    use(f, r);
    run(f);
    assert_int_equal(f->e.who.cls, AOD_ACTOR_PATIENT_OR_REPRESENTATIVE);
    assert_string_equal(f->e.who.reference, PATIENT);
    assert_int_equal(f->e.cls, AOD_CLASS_EXCLUDED);
    assert_int_equal(f->e.exclusion, AOD_EXCL_II);
    assert_string_equal(f->e.rule_id, "recipient-is-patient");
    assert_string_equal(f->e.where, "Patient portal");

    /* the patient known by identifier only */
    r = tu_record("2024-07-07T19:05:00Z", 'R');
    a = tu_agent(r, NULL, NULL, 1);
    tu_ident(r, &a->who, "urn:oid:1.2.3", "MRN-7");
    aod_record_add_patient_key(r, "urn:oid:1.2.3|MRN-7");
    use(f, r);
    run(f);
    assert_int_equal(f->e.who.cls, AOD_ACTOR_PATIENT_OR_REPRESENTATIVE);
    assert_int_equal(f->e.cls, AOD_CLASS_EXCLUDED);
    assert_string_equal(f->e.actor_key, "urn:oid:1.2.3|MRN-7");
}

static void test_failed(void **state)
{
    fixture *f = *state;
    aod_record *r =
        export_to("Organization/agency", "State Agency", "agency.example.gov", "PUBHLTH");

    r->outcome = tu_str(r, "8");
    use(f, r);
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_FAILED);
    assert_true(f->e.flags & AOD_ENTRY_FAILED);
    assert_string_equal(f->e.rule_id, "failed");
    assert_string_equal(f->e.outcome, "8");
    /* still a full line */
    assert_string_equal(f->e.who.name, "State Agency");
    assert_string_equal(f->e.purpose_code, "PUBHLTH");

    /* success spelled "0", and no outcome at all, are not failures */
    r = staff_read("TREAT");
    r->outcome = NULL;
    use(f, r);
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_INTERNAL);
    assert_false(f->e.flags & AOD_ENTRY_FAILED);
}

static void test_out_of_scope(void **state)
{
    fixture *f = *state;
    aod_record *r = tu_record("2024-03-05T10:00:00Z", 'R');

    /* another patient (a failed attempt on their record does not show up
     * as a failure in this report) */
    tu_agent(r, "Practitioner/dr1", NULL, 1);
    tu_patient(r, "Patient/p2");
    r->outcome = tu_str(r, "4");
    use(f, r);
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_OUT_OF_SCOPE);
    assert_string_equal(f->e.rule_id, "out-of-scope");
    assert_string_equal(f->e.who.reference, "Practitioner/dr1");

    /* before the period, and at its (exclusive) end */
    use(f, staff_read("TREAT"));
    f->r->recorded = tu_time("2019-12-31T23:59:59.999Z");
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_OUT_OF_SCOPE);
    f->r->recorded = tu_time("2026-01-01T00:00:00Z");
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_OUT_OF_SCOPE);
    f->r->recorded = tu_time("2020-01-01T00:00:00Z");
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_INTERNAL);
}

static void test_self_audit(void **state)
{
    fixture *f = *state;
    aod_record *r = tu_record("2024-08-01T02:00:00Z", 'E');
    aod_agent *a;

    tu_code(r, &r->type, TU_DCM, "110106", "Export");
    tu_code(r, &r->subtype, AOD_SELF_AUDIT_SYSTEM, AOD_SELF_AUDIT_CODE, NULL);
    a = tu_agent(r, "Device/aodreport", "aodreport", 1);
    (void)a;
    tu_patient(r, PATIENT);
    use(f, r);
    run(f);
    assert_int_equal(f->e.cls, AOD_CLASS_INTERNAL);
    assert_true(f->e.flags & AOD_ENTRY_SELF_AUDIT);
    assert_string_equal(f->e.rule_id, "self-audit");
    assert_int_equal(f->e.who.cls, AOD_ACTOR_WORKFORCE);
    assert_string_equal(f->e.who.unit, "Privacy Office");
    assert_string_equal(f->e.who.organisation, HOSPITAL);
}

/* -------------------------------------------- inside / outside from policy */

static const char site_policy[] =
    "<policy xmlns='urn:aodreport:policy:1' name='site'>"
    "<organisation><name>Riverside Health</name>"
    "<identifier system='http://hl7.org/fhir/sid/us-npi' value='1234567893'/>"
    "<privacy-office><name>Privacy</name></privacy-office></organisation>"
    "<covered-entity>"
    "<organisation-reference>Organization/riverside</organisation-reference>"
    "<identifier-system>http://riverside.example.org/staff</identifier-system>"
    "<network-domain>riverside.example.org</network-domain>"
    "<business-associate><name>Acme Billing Services</name>"
    "<network-domain>acme-billing.example.com</network-domain>"
    "<reference>Organization/acme</reference></business-associate>"
    "</covered-entity>"
    "<classification>"
    "<rule id='outside'><match><recipient>outside</recipient></match><reportable/></rule>"
    "<rule id='patient'><match><recipient>patient</recipient></match>"
    "<excluded exclusion='ii' reason='to-individual'/></rule>"
    "<rule id='inside'><match><recipient>inside</recipient></match><internal/></rule>"
    "</classification></policy>";

static int setup_site(void **state)
{
    return setup_with(state, tu_policy_text(site_policy));
}

/* A read by one agent with the given identity. */
static aod_record *read_by(const char *ref, const char *id_system, const char *network)
{
    aod_record *r = tu_record("2024-03-05T10:00:00Z", 'R');
    aod_agent *a = tu_agent(r, ref, "Someone", 1);

    if (id_system)
        tu_ident(r, &a->who, id_system, "u1");
    a->network = tu_str(r, network);
    a->location = tu_str(r, "Cardiology ward");
    tu_patient(r, PATIENT);
    return r;
}

static void test_inside_outside(void **state)
{
    fixture *f = *state;

    /* workforce by identifier system; location names the unit */
    use(f, read_by(NULL, "http://riverside.example.org/staff", NULL));
    run(f);
    assert_int_equal(f->e.who.cls, AOD_ACTOR_WORKFORCE);
    assert_string_equal(f->e.rule_id, "inside");
    assert_string_equal(f->e.who.unit, "Cardiology ward");
    assert_string_equal(f->e.who.organisation, "Riverside Health");

    /* an identifier of another system, no reference: outside */
    use(f, read_by(NULL, "http://hl7.org/fhir/sid/us-npi", NULL));
    run(f);
    assert_int_equal(f->e.who.cls, AOD_ACTOR_EXTERNAL_PERSON);
    assert_string_equal(f->e.rule_id, "outside");
    assert_null(f->e.who.unit);
    assert_string_equal(f->e.who.address, "Cardiology ward");

    /* network host inside a listed domain (sub-domain), and outside */
    use(f, read_by("Practitioner/x", NULL, "https://ehr.riverside.example.org:8443/app"));
    run(f);
    assert_int_equal(f->e.who.cls, AOD_ACTOR_WORKFORCE);
    use(f, read_by("Practitioner/x", NULL, "notriverside.example.org"));
    run(f);
    assert_int_equal(f->e.who.cls, AOD_ACTOR_EXTERNAL_PERSON);
    /* an IP address says nothing */
    use(f, read_by("Practitioner/x", NULL, "192.0.2.44"));
    run(f);
    assert_int_equal(f->e.who.cls, AOD_ACTOR_WORKFORCE);

    /* a business associate is outside, even on a sub-domain of its own */
    use(f, read_by("Organization/acme", NULL, NULL));
    run(f);
    assert_int_equal(f->e.who.cls, AOD_ACTOR_EXTERNAL_ORGANISATION);
    assert_string_equal(f->e.who.organisation, "Acme Billing Services");
    use(f, read_by("Device/bot", NULL, "worker3.acme-billing.example.com"));
    run(f);
    assert_int_equal(f->e.who.cls, AOD_ACTOR_EXTERNAL_ORGANISATION);
    assert_string_equal(f->e.rule_id, "outside");

    /* the entity's own Organization, and a device of its own */
    use(f, read_by("Organization/riverside", NULL, NULL));
    run(f);
    assert_int_equal(f->e.who.cls, AOD_ACTOR_WORKFORCE);
    use(f, read_by("Device/pump", NULL, NULL));
    run(f);
    assert_int_equal(f->e.who.cls, AOD_ACTOR_SYSTEM_DEVICE);
    /* another Organization */
    use(f, read_by("Organization/other", NULL, NULL));
    run(f);
    assert_int_equal(f->e.who.cls, AOD_ACTOR_EXTERNAL_ORGANISATION);
    /* a representative; a friend is an outside person */
    use(f, read_by("RelatedPerson/mum", NULL, NULL));
    tu_code(f->r, &f->r->agents[0].role, NULL, "MTH", "mother");
    run(f);
    assert_int_equal(f->e.who.cls, AOD_ACTOR_PATIENT_OR_REPRESENTATIVE);
    assert_string_equal(f->e.rule_id, "patient");
    use(f, read_by("RelatedPerson/friend", NULL, NULL));
    tu_code(f->r, &f->r->agents[0].role, NULL, "FRND", "friend");
    run(f);
    assert_int_equal(f->e.who.cls, AOD_ACTOR_EXTERNAL_PERSON);
    assert_string_equal(f->e.rule_id, "outside");
}

static void test_party_matches(void **state)
{
    static const char *const names[] = {"  Office of Inspector General "};
    static const char *const domains[] = {"oig.example.gov"};
    static const char *const refs[] = {"Organization/oig"};
    aod_policy_identifier ids[] = {{NULL, "OIG-1"}, {"urn:sys", "X"}};
    aod_policy_party p;
    aod_party who;

    (void)state;
    memset(&p, 0, sizeof p);
    p.names = (const char **)(uintptr_t)names;
    p.n_names = 1;
    p.identifiers = ids;
    p.n_identifiers = 2;
    p.domains = (const char **)(uintptr_t)domains;
    p.n_domains = 1;
    p.references = (const char **)(uintptr_t)refs;
    p.n_references = 1;

    memset(&who, 0, sizeof who);
    assert_false(aod_classify_party_matches(&p, &who));
    who.name = "office of inspector general";
    assert_true(aod_classify_party_matches(&p, &who));
    who.name = "Office of Inspector";
    assert_false(aod_classify_party_matches(&p, &who));
    who.organisation = "OFFICE OF INSPECTOR GENERAL";
    assert_true(aod_classify_party_matches(&p, &who));
    memset(&who, 0, sizeof who);
    who.id_system = "anything";
    who.id_value = "OIG-1";
    assert_true(aod_classify_party_matches(&p, &who));
    who.id_value = "X";
    assert_false(aod_classify_party_matches(&p, &who));
    who.id_system = "urn:sys";
    assert_true(aod_classify_party_matches(&p, &who));
    memset(&who, 0, sizeof who);
    who.network = "https://user@api.oig.example.gov:443/fhir?x=1";
    assert_true(aod_classify_party_matches(&p, &who));
    who.network = "fakeoig.example.gov";
    assert_false(aod_classify_party_matches(&p, &who));
    who.network = "OIG.EXAMPLE.GOV.";
    assert_true(aod_classify_party_matches(&p, &who));
    memset(&who, 0, sizeof who);
    who.reference = "Organization/oig";
    assert_true(aod_classify_party_matches(&p, &who));
    who.reference = "Organization/oig2";
    assert_false(aod_classify_party_matches(&p, &who));
}

/* ------------------------------------------------------------ systems */

/* A read of the patient's Observation by one agent, in access mode. */
static aod_record *one_agent_read(const char *ref, const char *display, int requestor,
                                  aod_agent **out)
{
    aod_record *r = tu_record("2024-03-05T10:00:00Z", 'R');

    tu_code(r, &r->type, TU_EVENT_TYPE, "rest", NULL);
    tu_code(r, &r->subtype, TU_RESTFUL, "read", NULL);
    *out = tu_agent(r, ref, display, requestor);
    tu_patient(r, PATIENT);
    tu_entity(r, "Observation/obs1", "4");
    return r;
}

/* Issue 16 point 2: software acting on its own is a system, never a
 * person's line; a person's reference never is, whatever its role says. */
static void test_systems_apart(void **state)
{
    fixture *f = *state;
    aod_agent *a;

    f->info.mode = AOD_MODE_ACCESS;
    /* a person asks */
    use(f, one_agent_read("Practitioner/dr1", "Dr. Alice Smith", 1, &a));
    run(f);
    assert_int_equal(aod_entry_section(&f->e), AOD_SECTION_PERSON);
    /* a Device */
    use(f, one_agent_read("Device/lab-interface", "Lab interface", -1, &a));
    run(f);
    assert_int_equal(aod_entry_section(&f->e), AOD_SECTION_SYSTEM);
    /* no reference, but the role says application */
    use(f, one_agent_read(NULL, "Bed management", -1, &a));
    tu_code(f->r, &a->role, NULL, "application", "application");
    run(f);
    assert_int_equal(f->e.who.cls, AOD_ACTOR_SYSTEM_DEVICE);
    assert_int_equal(aod_entry_section(&f->e), AOD_SECTION_SYSTEM);
    /* DICOM 110150 Application as the agent type */
    use(f, one_agent_read(NULL, "Quality job", -1, &a));
    tu_code(f->r, &a->type, TU_DCM, "110150", "Application");
    run(f);
    assert_int_equal(aod_entry_section(&f->e), AOD_SECTION_SYSTEM);
    /* nobody asked (requestor false) and no person in the event */
    use(f, one_agent_read(NULL, "nightly job", 0, &a));
    run(f);
    assert_int_equal(aod_entry_section(&f->e), AOD_SECTION_SYSTEM);
    /* a name with no reference and no say either way: a person */
    use(f, one_agent_read(NULL, "Dr. Bob Jones", -1, &a));
    run(f);
    assert_int_equal(f->e.who.cls, AOD_ACTOR_WORKFORCE);
    assert_int_equal(aod_entry_section(&f->e), AOD_SECTION_PERSON);
    /* a practitioner whose role code reads "system" is still a person */
    use(f, one_agent_read("Practitioner/dr2", "Dr. Carol Diaz", 1, &a));
    tu_code(f->r, &a->role, NULL, "system", NULL);
    run(f);
    assert_int_equal(aod_entry_section(&f->e), AOD_SECTION_PERSON);
    /* an outside organisation */
    use(f, one_agent_read("Organization/insurer", "Acme Insurance", 1, &a));
    run(f);
    assert_int_equal(aod_entry_section(&f->e), AOD_SECTION_ORGANISATION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_treatment_payment_operations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_patient_directed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direction_and_media, setup, teardown),
        cmocka_unit_test_setup_teardown(test_patient_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authorization, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authorization_evidence_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reportable_purposes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_purpose, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disclosure_to_law_firm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hl7_example_disclosure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r5_disclosure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recipient_without_destination_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_balp_read_pair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_balp_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_where_in_words, setup, teardown),
        cmocka_unit_test_setup_teardown(test_patient_self_access, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_scope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_self_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inside_outside, setup_site, teardown),
        cmocka_unit_test(test_party_matches),
        cmocka_unit_test_setup_teardown(test_systems_apart, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
