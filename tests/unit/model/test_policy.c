/*
 * test_policy.c - the policy loader: examples, defaults, every bad file.
 *
 * The good policies are checked field by field against what their XML says.
 * The bad ones live in tests/data/policy/bad-*.xml, each carrying its own
 * expectation in a comment on line 2:
 *     <!-- expect line=N text="words the error must contain" -->
 * so adding a case means adding a file.  Data is found through $top_srcdir
 * (set by make check), falling back to the current directory.
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
#include <unistd.h>

#include <libxml/parser.h>

#include "model/policy.h"

/* ---------------------------------------------------------------- helpers */

static const char *top_srcdir(void)
{
    const char *d = getenv("top_srcdir");

    return d && *d ? d : ".";
}

/* A path under the source tree, in a static buffer per slot. */
static const char *src_path(int slot, const char *rel)
{
    static char paths[4][1024];
    int n = snprintf(paths[slot], sizeof paths[slot], "%s/%s", top_srcdir(), rel);

    assert_true(n > 0 && (size_t)n < sizeof paths[slot]);
    return paths[slot];
}

static const char *xsd_path(void)
{
    return src_path(0, "data/policy.xsd");
}

/* Reads a whole file; the caller frees it. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t used = 0, alloc = 0, n;

    assert_non_null(f);
    do {
        if (alloc - used < 4096) {
            alloc = alloc ? alloc * 2 : 8192;
            buf = realloc(buf, alloc + 1);
            assert_non_null(buf);
        }
        n = fread(buf + used, 1, alloc - used, f);
        used += n;
    } while (n > 0);
    fclose(f);
    buf[used] = '\0';
    if (len)
        *len = used;
    return buf;
}

static aod_policy *load_ok(const char *rel)
{
    aod_error err;
    aod_policy *p;
    char msg[1024];

    aod_error_init(&err);
    p = aod_policy_load_file(src_path(1, rel), xsd_path(), &err);
    if (!p)
        fail_msg("%s did not load: %s", rel, aod_error_format(&err, msg, sizeof msg));
    assert_int_equal(err.code, AOD_OK);
    return p;
}

/* Loads a policy held in a string, with the real schema. */
static aod_policy *load_text(const char *xml, const char *name, aod_error *err)
{
    size_t xsd_len;
    char *xsd = slurp(xsd_path(), &xsd_len);
    aod_policy *p;

    aod_error_init(err);
    p = aod_policy_load_memory(xml, strlen(xml), name, xsd, xsd_len, err);
    free(xsd);
    return p;
}

static const aod_policy_rule *find_rule(const aod_policy *p, const char *id)
{
    size_t i;

    for (i = 0; i < p->classification.n_rules; i++) {
        if (strcmp(p->classification.rules[i].id, id) == 0)
            return &p->classification.rules[i];
    }
    fail_msg("no rule \"%s\"", id);
    return NULL;
}

static size_t rule_index(const aod_policy *p, const char *id)
{
    return (size_t)(find_rule(p, id) - p->classification.rules);
}

static int has_code(const aod_policy_codes *c, const char *code)
{
    size_t i;

    for (i = 0; i < c->n_codes; i++) {
        if (strcmp(c->codes[i], code) == 0)
            return 1;
    }
    return 0;
}

static void expect_codes(const aod_policy_codes *c, const char *const *codes)
{
    assert_true(c->tested);
    for (; *codes; codes++) {
        if (!has_code(c, *codes))
            fail_msg("code %s missing", *codes);
    }
}

static const aod_policy_mask *mask(const aod_policy *p, aod_audience a, aod_actor_class c)
{
    return &p->masking.tiers[a][c];
}

/* The policy header and a minimal body around a fragment, for in-memory
 * cases. */
static char *policy_with(const char *fragment)
{
    static const char head[] =
        "<?xml version=\"1.0\"?>\n"
        "<policy xmlns=\"urn:aodreport:policy:1\" name=\"mem\">\n"
        "<organisation><name>Mem Hospital</name>"
        "<privacy-office><name>PO</name></privacy-office></organisation>\n"
        "<classification><rule id=\"all\"><internal/></rule></classification>\n";
    static const char tail[] = "</policy>\n";
    size_t n = sizeof head + strlen(fragment) + sizeof tail;
    char *s = malloc(n);

    assert_non_null(s);
    snprintf(s, n, "%s%s%s", head, fragment, tail);
    return s;
}

/* ----------------------------------------------------------- the examples */

static void test_hipaa_default(void **state)
{
    static const char *const treatment[] = {"TREAT", "ETREAT", "CAREMGT", NULL};
    static const char *const payment[] = {"HPAYMT", "COVERAGE", "CLMATTCH", NULL};
    static const char *const operations[] = {"HOPERAT", "HQUALIMP", "HSYSADMIN", NULL};
    static const char *const individual[] = {"PATRQT", "PWATRNY", NULL};
    static const char *const legal[] = {"HLEGAL", "LAW", NULL};
    aod_policy *p = load_ok("examples/policies/demo.xml");
    const aod_policy_rule *r;

    (void)state;
    assert_string_equal(p->name, "hipaa-default");
    assert_string_equal(p->organisation.name, "Example Community Hospital");
    assert_int_equal(p->demo, 1); /* demo="true": refused unless named with --policy */
    assert_int_equal(p->organisation.n_address, 2);
    assert_string_equal(p->organisation.address[1], "Springfield, ST 00000");
    assert_string_equal(p->organisation.privacy_name, "Privacy Office");
    assert_string_equal(p->organisation.privacy_email, "privacy@hospital.example.org");
    assert_int_equal(p->inside.n_domains, 1);
    assert_string_equal(p->inside.domains[0], "hospital.example.org");

    /* The default table of DOMAIN.md's appendix, row by row. */
    r = find_rule(p, "treatment");
    expect_codes(&r->purpose, treatment);
    assert_int_equal(r->purpose_level, AOD_PURPOSE_ANY);
    assert_null(r->purpose.system);
    assert_int_equal(r->verdict, AOD_VERDICT_EXCLUDED);
    assert_int_equal(r->exclusion, AOD_EXCL_I);
    assert_string_equal(r->reason, "treatment");

    r = find_rule(p, "payment");
    expect_codes(&r->purpose, payment);
    assert_int_equal(r->exclusion, AOD_EXCL_I);
    assert_string_equal(r->reason, "payment");

    r = find_rule(p, "operations");
    expect_codes(&r->purpose, operations);
    assert_int_equal(r->exclusion, AOD_EXCL_I);
    assert_string_equal(r->reason, "operations");

    r = find_rule(p, "patient-request");
    expect_codes(&r->purpose, individual);
    assert_int_equal(r->exclusion, AOD_EXCL_II);

    /* FAMRQT is not (ii); PATRQT to a third party is (iv) (issue 14) */
    assert_false(has_code(&r->purpose, "FAMRQT"));
    r = find_rule(p, "patient-directed");
    assert_true(has_code(&r->purpose, "PATRQT"));
    assert_int_equal(r->recipient, AOD_RECIPIENT_OUTSIDE);
    assert_int_equal(r->exclusion, AOD_EXCL_IV);
    assert_true(rule_index(p, "patient-directed") < rule_index(p, "patient-request"));
    r = find_rule(p, "family-request");
    assert_int_equal(r->verdict, AOD_VERDICT_REPORTABLE);
    /* the direction of data flow decides before any purpose */
    r = find_rule(p, "received-from-outside");
    assert_int_equal(r->direction, AOD_DIRECTION_IN);
    assert_int_equal(r->verdict, AOD_VERDICT_INTERNAL);
    assert_int_equal(rule_index(p, "received-from-outside"), 0);

    r = find_rule(p, "recipient-is-patient");
    assert_int_equal(r->recipient, AOD_RECIPIENT_PATIENT);
    assert_int_equal(r->exclusion, AOD_EXCL_II);

    r = find_rule(p, "authorized");
    assert_int_equal(r->authorization, 1);
    assert_false(r->purpose.tested);
    assert_int_equal(r->verdict, AOD_VERDICT_EXCLUDED);
    assert_int_equal(r->exclusion, AOD_EXCL_IV);

    r = find_rule(p, "public-health");
    assert_true(has_code(&r->purpose, "PUBHLTH"));
    assert_int_equal(r->verdict, AOD_VERDICT_REPORTABLE);
    assert_int_equal(r->exclusion, AOD_EXCL_NONE);
    r = find_rule(p, "research");
    assert_true(has_code(&r->purpose, "HRESCH"));
    assert_int_equal(r->verdict, AOD_VERDICT_REPORTABLE);
    r = find_rule(p, "legal-oversight-law-enforcement");
    expect_codes(&r->purpose, legal);
    assert_int_equal(r->verdict, AOD_VERDICT_REPORTABLE);

    /* Marketing is reportable unless authorized: the authorization rule
     * must come first. */
    r = find_rule(p, "marketing");
    assert_true(has_code(&r->purpose, "HMARKT"));
    assert_int_equal(r->verdict, AOD_VERDICT_REPORTABLE);
    assert_true(rule_index(p, "authorized") < rule_index(p, "marketing"));
    assert_true(rule_index(p, "authorized") < rule_index(p, "research"));

    r = find_rule(p, "no-purpose-export");
    assert_true(r->no_purpose);
    assert_false(r->purpose.tested);
    assert_string_equal(r->event_type.system, "http://dicom.nema.org/resources/ontology/DCM");
    assert_int_equal(r->event_type.n_codes, 1);
    assert_string_equal(r->event_type.codes[0], "110106");
    assert_int_equal(r->recipient, AOD_RECIPIENT_OUTSIDE);
    assert_int_equal(r->verdict, AOD_VERDICT_REPORTABLE);
    assert_string_equal(r->flag, "purpose-not-recorded");

    r = find_rule(p, "no-purpose-disclose");
    assert_string_equal(r->event_subtype.codes[0], "disclose");
    assert_null(r->event_subtype.system);

    r = find_rule(p, "no-purpose-internal");
    assert_true(r->no_purpose);
    assert_int_equal(r->recipient, AOD_RECIPIENT_INSIDE);
    assert_int_equal(r->verdict, AOD_VERDICT_INTERNAL);
    assert_true(rule_index(p, "no-purpose-export") < rule_index(p, "no-purpose-internal"));

    assert_int_equal(p->classification.unmatched, AOD_VERDICT_REPORTABLE);
    assert_int_equal(p->classification.agent_policy, AOD_AGENT_POLICY_IGNORE);
    assert_int_equal(p->classification.consent_entity, 1);

    assert_string_equal(p->modes.disclosures_lookback.text, "P6Y");
    assert_int_equal(p->modes.disclosures_lookback.years, 6);
    assert_int_equal(p->modes.access_lookback.years, 3);
    assert_int_equal(p->modes.access_failed, AOD_FAILED_SEPARATE);
    assert_int_equal(p->dedup.pair_window_seconds, 5);
    assert_int_equal(p->dedup.page_window_seconds, 300);
    assert_int_equal(p->dedup.sessions, 1);
    assert_int_equal(p->dedup.session_gap_minutes, 30);
    assert_int_equal(p->summarize.enabled, 1);
    assert_int_equal(p->summarize.min_count, 2);
    assert_int_equal(p->n_suspensions, 0);
    assert_int_equal(mask(p, AOD_AUDIENCE_PATIENT, AOD_ACTOR_WORKFORCE)->tier, AOD_TIER_ROLE_UNIT);
    /* outside persons: where they were, not who (a staff member outside
     * the listed domains looks the same) */
    assert_int_equal(mask(p, AOD_AUDIENCE_PATIENT, AOD_ACTOR_EXTERNAL_PERSON)->tier,
                     AOD_TIER_ORGANISATION);
    assert_int_equal(p->masking.name_recipient_persons, 0);
    assert_int_equal(mask(p, AOD_AUDIENCE_PATIENT, AOD_ACTOR_SYSTEM_DEVICE)->tier,
                     AOD_TIER_GENERIC);
    assert_string_equal(mask(p, AOD_AUDIENCE_PATIENT, AOD_ACTOR_SYSTEM_DEVICE)->label,
                        "actor.system-device");
    assert_int_equal(mask(p, AOD_AUDIENCE_PRIVACY_OFFICE, AOD_ACTOR_WORKFORCE)->tier,
                     AOD_TIER_FULL_NAME);
    assert_null(p->masking.pseudonym_secret);
    assert_string_equal(p->presentation.time_zone, "UTC");
    assert_string_equal(p->presentation.language, "en");
    assert_int_equal(p->n_warnings, 0);
    aod_policy_free(p);
}

static void test_show_names(void **state)
{
    aod_policy *p = load_ok("examples/policies/show-names.xml");
    int c;

    (void)state;
    assert_string_equal(p->name, "show-names");
    for (c = 0; c < AOD_ACTOR_CLASS_COUNT; c++) {
        if (c == AOD_ACTOR_EXTERNAL_ORGANISATION)
            continue;
        assert_int_equal(mask(p, AOD_AUDIENCE_PATIENT, (aod_actor_class)c)->tier,
                         AOD_TIER_FULL_NAME);
    }
    assert_int_equal(p->organisation.n_identifiers, 1);
    assert_string_equal(p->organisation.identifiers[0].value, "974589095");
    assert_int_equal(p->inside.n_identifier_systems, 1);
    assert_int_equal(p->inside.n_domains, 2);
    assert_string_equal(p->inside.organisation_refs[0], "Organization/example-university-hospital");
    assert_int_equal(p->modes.access_lookback.years, 10);
    assert_int_equal(p->modes.access_failed, AOD_FAILED_FLAG);
    assert_int_equal(p->dedup.sessions, 1);
    assert_string_equal(p->presentation.time_zone, "Europe/Oslo");
    assert_int_equal(p->n_warnings, 0);
    aod_policy_free(p);
}

static void test_organisation_only(void **state)
{
    aod_policy *p = load_ok("examples/policies/organisation-only.xml");
    const aod_policy_party *ba;

    (void)state;
    assert_int_equal(mask(p, AOD_AUDIENCE_PATIENT, AOD_ACTOR_WORKFORCE)->tier,
                     AOD_TIER_ORGANISATION);
    assert_int_equal(mask(p, AOD_AUDIENCE_PATIENT, AOD_ACTOR_EXTERNAL_PERSON)->tier,
                     AOD_TIER_ORGANISATION);
    assert_int_equal(mask(p, AOD_AUDIENCE_PATIENT, AOD_ACTOR_SYSTEM_DEVICE)->tier,
                     AOD_TIER_ORGANISATION);
    assert_int_equal(mask(p, AOD_AUDIENCE_PATIENT, AOD_ACTOR_PATIENT_OR_REPRESENTATIVE)->tier,
                     AOD_TIER_FULL_NAME);
    /* The file has no privacy-office audience: the default applies. */
    assert_int_equal(mask(p, AOD_AUDIENCE_PRIVACY_OFFICE, AOD_ACTOR_WORKFORCE)->tier,
                     AOD_TIER_FULL_NAME);
    assert_null(p->organisation.privacy_phone);
    assert_string_equal(p->organisation.privacy_email, "privacy@health.example.org.au");
    assert_int_equal(p->inside.n_business_associates, 1);
    ba = &p->inside.business_associates[0];
    assert_string_equal(ba->names[0], "Example Pathology Services");
    assert_string_equal(ba->domains[0], "pathology.example.com.au");
    assert_int_equal(p->modes.access_lookback.years, 1);
    assert_int_equal(p->modes.access_lookback.months, 0);
    assert_int_equal(p->modes.access_failed, AOD_FAILED_OMIT);
    assert_string_equal(p->presentation.time_zone, "Australia/Sydney");
    aod_policy_free(p);
}

/* The built-in default goes through aod_policy_load_memory with both texts
 * compiled into the program; the same bytes must load from memory. */
/* The jurisdiction presets (doc/presets.md): each loads without a
 * warning, is marked as a template, has a protected-staff class, and masks
 * the workforce for the patient as its law says. */
static void test_presets(void **state)
{
    static const struct {
        const char *file;
        aod_mask_tier workforce;
        int access_years, access_months;
        int name_persons; /* names outside persons: only where staff are named too */
    } presets[] = {
        {"examples/policies/us-hipaa-accounting.xml", AOD_TIER_ROLE_UNIT, 3, 0, 0},
        {"examples/policies/us-access-report.xml", AOD_TIER_FULL_NAME, 3, 0, 1},
        {"examples/policies/eu-ehds-access-log.xml", AOD_TIER_FULL_NAME, 3, 0, 1},
        {"examples/policies/ch-epr.xml", AOD_TIER_FULL_NAME, 10, 0, 1},
        {"examples/policies/se-unit.xml", AOD_TIER_ROLE_UNIT, 3, 0, 0},
        {"examples/policies/au-mhr.xml", AOD_TIER_ORGANISATION, 1, 0, 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        aod_policy *p = load_ok(presets[i].file);
        if (p->n_warnings)
            fail_msg("%s: %s", presets[i].file, p->warnings[0].text);
        assert_true(p->demo);
        assert_true(p->masking.n_protected_systems + p->masking.n_protected_keys > 0);
        assert_int_equal(mask(p, AOD_AUDIENCE_PATIENT, AOD_ACTOR_WORKFORCE)->tier,
                         presets[i].workforce);
        assert_int_equal(p->modes.access_lookback.years, presets[i].access_years);
        assert_int_equal(p->modes.access_lookback.months, presets[i].access_months);
        assert_int_equal(p->masking.name_recipient_persons, presets[i].name_persons);
        aod_policy_free(p);
    }
}

static void test_default_from_memory(void **state)
{
    size_t xml_len, xsd_len;
    char *xml = slurp(src_path(1, "examples/policies/demo.xml"), &xml_len);
    char *xsd = slurp(xsd_path(), &xsd_len);
    aod_error err;
    aod_policy *p;

    (void)state;
    aod_error_init(&err);
    p = aod_policy_load_memory(xml, xml_len, "built-in", xsd, xsd_len, &err);
    assert_non_null(p);
    assert_string_equal(p->source, "built-in");
    assert_int_equal(p->classification.n_rules, 20);
    aod_policy_free(p);
    free(xml);
    free(xsd);
}

/* ------------------------------------------------------ the full policy */

static void test_full_policy(void **state)
{
    static const char *const actions_tested[] = {"HRESCH", "CLINTRCH", NULL};
    aod_policy *p = load_ok("tests/data/policy/good-full.xml");
    const aod_policy_rule *r;
    const aod_policy_party *ba;
    const aod_policy_suspension *s;
    char expect_secret[1100];

    (void)state;
    assert_string_equal(p->name, "good-full");
    /* White space in text collapses as in xs:token. */
    assert_string_equal(p->organisation.name, "Riverside General Hospital");
    assert_string_equal(p->organisation.address[0], "1 River Road");
    assert_string_equal(p->organisation.identifiers[0].system, "http://hl7.org/fhir/sid/us-npi");
    assert_string_equal(p->organisation.identifiers[0].value, "1234567893");
    assert_string_equal(p->organisation.privacy_name, "Privacy and Compliance Office");
    assert_string_equal(p->organisation.privacy_phone, "+1 555 0199");

    assert_int_equal(p->inside.n_organisation_refs, 1);
    assert_int_equal(p->inside.n_identifier_systems, 2);
    assert_string_equal(p->inside.identifier_systems[1], "urn:oid:1.2.3.4.5");
    assert_int_equal(p->inside.n_business_associates, 1);
    ba = &p->inside.business_associates[0];
    assert_int_equal(ba->n_names, 2);
    assert_string_equal(ba->names[1], "Acme Billing LLC");
    assert_int_equal(ba->n_identifiers, 2);
    assert_string_equal(ba->identifiers[0].system, "urn:ietf:rfc:3986");
    assert_null(ba->identifiers[1].system);
    assert_string_equal(ba->identifiers[1].value, "ACME-01");
    assert_string_equal(ba->references[0], "Organization/acme");

    assert_int_equal(p->classification.unmatched, AOD_VERDICT_INTERNAL);
    assert_int_equal(p->classification.agent_policy, AOD_AGENT_POLICY_LISTED);
    assert_int_equal(p->classification.consent_entity, 0);
    assert_int_equal(p->classification.n_policy_prefixes, 2);
    assert_string_equal(p->classification.policy_prefixes[1], "urn:riverside:auth:");
    assert_int_equal(p->classification.n_rules, 6);

    r = &p->classification.rules[0];
    assert_string_equal(r->id, "everything-at-once");
    assert_string_equal(r->description, "Tests every condition.");
    assert_int_equal(r->line, 37);
    expect_codes(&r->purpose, actions_tested);
    assert_int_equal(r->purpose.n_codes, 2);
    assert_int_equal(r->purpose_level, AOD_PURPOSE_AGENT);
    assert_string_equal(r->purpose.system, "http://terminology.hl7.org/CodeSystem/v3-ActReason");
    assert_int_equal(r->no_purpose, 0);
    assert_string_equal(r->event_type.codes[0], "110106");
    assert_int_equal(r->event_subtype.n_codes, 2);
    assert_string_equal(r->event_subtype.codes[1], "Disclosure");
    assert_string_equal(r->actions, "RE");
    assert_int_equal(r->recipient, AOD_RECIPIENT_OUTSIDE);
    assert_int_equal(r->authorization, 0);
    assert_string_equal(r->security_label.codes[0], "LDS");
    assert_int_equal(r->verdict, AOD_VERDICT_EXCLUDED);
    assert_int_equal(r->exclusion, AOD_EXCL_VIII);
    assert_string_equal(r->reason, "limited-data-set");
    assert_string_equal(r->flag, "check-agreement");

    r = find_rule(p, "event-purpose");
    assert_int_equal(r->purpose_level, AOD_PURPOSE_EVENT);
    assert_int_equal(r->authorization, -1);
    assert_null(r->actions);
    assert_false(r->event_type.tested);
    assert_null(r->flag);
    r = find_rule(p, "authorized");
    assert_int_equal(r->authorization, 1);
    r = find_rule(p, "catch-all");
    assert_int_equal(r->verdict, AOD_VERDICT_INTERNAL);
    assert_null(r->reason);

    assert_int_equal(p->modes.disclosures_lookback.years, 7);
    assert_int_equal(p->modes.access_lookback.years, 1);
    assert_int_equal(p->modes.access_lookback.months, 6);
    assert_string_equal(p->modes.access_lookback.text, "P1Y6M");
    assert_int_equal(p->modes.access_failed, AOD_FAILED_FLAG);
    assert_int_equal(p->dedup.pair_window_seconds, 10);
    assert_int_equal(p->dedup.page_window_seconds, 600);
    assert_int_equal(p->dedup.sessions, 1);
    assert_int_equal(p->dedup.session_gap_minutes, 45);
    assert_int_equal(p->summarize.enabled, 0);
    assert_int_equal(p->summarize.min_count, 3);

    assert_int_equal(p->n_suspensions, 3);
    s = &p->suspensions[0];
    assert_string_equal(s->id, "oig-written");
    assert_int_equal(s->statement, AOD_STATEMENT_WRITTEN);
    assert_string_equal(s->agency, "Office of Inspector General");
    assert_string_equal(s->official, "Special Agent J. Doe");
    assert_string_equal(s->statement_reference, "OIG letter 2024-17");
    assert_string_equal(s->start.text, "2024-01-10");
    assert_string_equal(s->end.text, "2024-07-10");
    assert_int_equal(s->clamped, 0);
    assert_int_equal(s->end.days - s->start.days, 182);
    assert_string_equal(s->covers.domains[0], "oig.example.gov");
    s = &p->suspensions[1];
    assert_int_equal(s->statement, AOD_STATEMENT_ORAL);
    assert_int_equal(s->clamped, 1);
    assert_string_equal(s->end_requested.text, "2024-06-01");
    assert_string_equal(s->end.text, "2024-03-16"); /* 2024 is a leap year */
    assert_null(s->official);
    assert_string_equal(s->covers.identifiers[0].value, "RPD");
    assert_string_equal(s->covers.references[0], "Organization/rpd");
    s = &p->suspensions[2];
    assert_int_equal(s->clamped, 0);
    assert_string_equal(s->end.text, "2025-01-14"); /* no end: 30 days, across a year */

    snprintf(expect_secret, sizeof expect_secret, "%s/tests/data/policy/secrets/pseudonym.key",
             top_srcdir());
    assert_string_equal(p->masking.pseudonym_secret, expect_secret);
    assert_int_equal(mask(p, AOD_AUDIENCE_PATIENT, AOD_ACTOR_WORKFORCE)->tier, AOD_TIER_GENERIC);
    assert_string_equal(mask(p, AOD_AUDIENCE_PATIENT, AOD_ACTOR_WORKFORCE)->label, "staff.member");
    assert_int_equal(mask(p, AOD_AUDIENCE_PATIENT, AOD_ACTOR_EXTERNAL_PERSON)->tier,
                     AOD_TIER_PSEUDONYM);
    assert_int_equal(p->masking.name_recipient_persons, 1);
    assert_int_equal(mask(p, AOD_AUDIENCE_PATIENT, AOD_ACTOR_SYSTEM_DEVICE)->tier,
                     AOD_TIER_ORGANISATION);
    /* Classes the file leaves out keep their defaults. */
    assert_int_equal(mask(p, AOD_AUDIENCE_PATIENT, AOD_ACTOR_EXTERNAL_ORGANISATION)->tier,
                     AOD_TIER_ORGANISATION);
    assert_string_equal(mask(p, AOD_AUDIENCE_PATIENT, AOD_ACTOR_EXTERNAL_ORGANISATION)->label,
                        "actor.external-organisation");
    assert_int_equal(mask(p, AOD_AUDIENCE_PRIVACY_OFFICE, AOD_ACTOR_WORKFORCE)->tier,
                     AOD_TIER_PSEUDONYM);
    assert_int_equal(mask(p, AOD_AUDIENCE_PRIVACY_OFFICE, AOD_ACTOR_EXTERNAL_PERSON)->tier,
                     AOD_TIER_FULL_NAME);
    assert_string_equal(p->presentation.time_zone, "America/New_York");
    assert_string_equal(p->presentation.language, "es");

    /* Accepted, but worth telling the privacy office about. */
    assert_int_equal(p->n_warnings, 4);
    assert_non_null(strstr(p->warnings[0].text, "never apply"));
    assert_int_equal(p->warnings[0].line, 65);
    assert_non_null(strstr(p->warnings[1].text, "longer than the six years"));
    assert_non_null(strstr(p->warnings[2].text, "clamped to 2024-03-16"));
    assert_int_equal(p->warnings[2].line, 90);
    assert_non_null(strstr(p->warnings[3].text, "named anyway"));
    aod_policy_free(p);
}

static void test_minimal_defaults(void **state)
{
    aod_policy *p = load_ok("tests/data/policy/good-minimal.xml");

    (void)state;
    assert_string_equal(p->organisation.name, "Test Hospital");
    assert_int_equal(p->demo, 0); /* no demo attribute: a site policy */
    assert_int_equal(p->organisation.n_address, 0);
    assert_null(p->organisation.address);
    assert_null(p->organisation.privacy_email);
    assert_int_equal(p->inside.n_domains, 0);
    assert_int_equal(p->inside.n_business_associates, 0);
    assert_int_equal(p->classification.n_rules, 1);
    assert_int_equal(p->classification.rules[0].verdict, AOD_VERDICT_INTERNAL);
    assert_int_equal(p->classification.unmatched, AOD_VERDICT_REPORTABLE);
    assert_string_equal(p->modes.disclosures_lookback.text, "P6Y");
    assert_string_equal(p->modes.access_lookback.text, "P3Y");
    assert_int_equal(p->modes.access_failed, AOD_FAILED_SEPARATE);
    assert_int_equal(p->dedup.pair_window_seconds, 5);
    assert_int_equal(p->dedup.page_window_seconds, 300);
    assert_int_equal(p->dedup.sessions, 1);
    assert_int_equal(p->dedup.session_gap_minutes, 30);
    assert_int_equal(p->summarize.enabled, 1);
    assert_int_equal(p->summarize.min_count, 2);
    assert_int_equal(p->n_suspensions, 0);
    assert_null(p->suspensions);
    assert_int_equal(mask(p, AOD_AUDIENCE_PATIENT, AOD_ACTOR_WORKFORCE)->tier, AOD_TIER_ROLE_UNIT);
    assert_string_equal(mask(p, AOD_AUDIENCE_PATIENT, AOD_ACTOR_WORKFORCE)->label,
                        "actor.workforce");
    assert_string_equal(p->presentation.time_zone, "UTC");
    assert_string_equal(p->presentation.language, "en");
    assert_int_equal(p->n_warnings, 0);
    aod_policy_free(p);
}

/* -------------------------------------------------------- the bad files */

/* Reads the expectation comment of a bad file. */
static void read_expectation(const char *text, long *line, char *want, size_t size)
{
    const char *e = strstr(text, "<!-- expect line=");
    char *end;
    size_t n = 0;

    assert_non_null(e);
    *line = strtol(e + strlen("<!-- expect line="), &end, 10);
    assert_true(strncmp(end, " text=\"", 7) == 0);
    for (e = end + 7; *e && *e != '"' && n + 1 < size; e++) {
        if (*e == '\\' && e[1])
            e++;
        want[n++] = *e;
    }
    want[n] = '\0';
    assert_true(n > 0);
}

static int is_bad_file(const char *name)
{
    size_t n = strlen(name);

    return strncmp(name, "bad-", 4) == 0 && n > 8 && strcmp(name + n - 4, ".xml") == 0;
}

static void test_bad_files(void **state)
{
    const char *dir_path = src_path(2, "tests/data/policy");
    DIR *dir = opendir(dir_path);
    struct dirent *de;
    FILE *capture;
    int saved_stderr;
    int checked = 0;

    (void)state;
    assert_non_null(dir);
    /* libxml2 must not print: everything goes into aod_error.  Catch fd 2
     * while the bad files load and require it to stay empty. */
    capture = tmpfile();
    assert_non_null(capture);
    fflush(stderr);
    saved_stderr = dup(2);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fileno(capture), 2) >= 0);

    while ((de = readdir(dir)) != NULL) {
        char path[2048], want[512], msg[1024];
        aod_error err;
        aod_policy *p;
        char *text;
        long line;

        if (!is_bad_file(de->d_name))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir_path, de->d_name);
        text = slurp(path, NULL);
        read_expectation(text, &line, want, sizeof want);
        free(text);

        aod_error_init(&err);
        p = aod_policy_load_file(path, xsd_path(), &err);
        aod_error_format(&err, msg, sizeof msg);
        if (p) {
            aod_policy_free(p);
            fail_msg("%s loaded but should not", de->d_name);
        }
        if (err.code != AOD_ERR_POLICY)
            fail_msg("%s: code %d, not AOD_ERR_POLICY: %s", de->d_name, (int)err.code, msg);
        if (err.line != line)
            fail_msg("%s: line %ld, expected %ld: %s", de->d_name, err.line, line, msg);
        if (!strstr(err.text, want))
            fail_msg("%s: \"%s\" does not contain \"%s\"", de->d_name, err.text, want);
        assert_string_equal(err.source, path);
        checked++;
    }
    closedir(dir);

    fflush(stderr);
    assert_true(dup2(saved_stderr, 2) >= 0);
    close(saved_stderr);
    fseek(capture, 0, SEEK_END);
    assert_int_equal(ftell(capture), 0);
    fclose(capture);

    /* Guard against a wrong top_srcdir turning this into a test of nothing. */
    assert_true(checked >= 20);
}

/* ------------------------------------------------------- XXE and friends */

static void test_external_entity_not_read(void **state)
{
    static const char marker[] = "AOD-XXE-MARKER-7f3a";
    char dir_template[] = "/tmp/aod-policy-XXXXXX";
    char secret_path[256], xml[2048], msg[1024];
    const char *dir = mkdtemp(dir_template);
    static const struct {
        const char *before, *after; /* around the secret file's path */
    } forms[] = {
        /* an external general entity used in content */
        {"<!DOCTYPE policy [<!ENTITY leak SYSTEM \"file://", "\">]>\n"},
        /* an external DTD subset */
        {"<!DOCTYPE policy SYSTEM \"file://", "\">\n"},
        /* a parameter entity pulled into the internal subset */
        {"<!DOCTYPE policy [<!ENTITY % p SYSTEM \"file://", "\"> %p;]>\n"},
    };
    size_t i;
    FILE *f;

    (void)state;
    assert_non_null(dir);
    snprintf(secret_path, sizeof secret_path, "%s/secret.txt", dir);
    f = fopen(secret_path, "w");
    assert_non_null(f);
    fputs(marker, f);
    fclose(f);

    for (i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char doctype[512];
        aod_error err;
        aod_policy *p;

        snprintf(doctype, sizeof doctype, "%s%s%s", forms[i].before, secret_path, forms[i].after);
        snprintf(xml, sizeof xml,
                 "<?xml version=\"1.0\"?>\n%s"
                 "<policy xmlns=\"urn:aodreport:policy:1\" name=\"xxe\">\n"
                 "<organisation><name>&leak;</name>"
                 "<privacy-office><name>PO</name></privacy-office></organisation>\n"
                 "<classification><rule id=\"all\"><internal/></rule></classification>\n"
                 "</policy>\n",
                 doctype);
        p = load_text(xml, "xxe.xml", &err);
        aod_error_format(&err, msg, sizeof msg);
        if (p) {
            /* Had it loaded, the entity's text would be the name. */
            aod_policy_free(p);
            fail_msg("a DOCTYPE was accepted (form %zu)", i);
        }
        assert_int_equal(err.code, AOD_ERR_POLICY);
        assert_int_equal(err.line, 2);
        assert_non_null(strstr(err.text, "DOCTYPE is not allowed"));
        assert_null(strstr(msg, marker));
    }
    remove(secret_path);
    rmdir(dir);
}

/* ------------------------------------------------------------ suspensions */

static void test_oral_suspension_cap(void **state)
{
    char *xml = policy_with(
        "<suspensions>\n"
        "<suspension id=\"long\" statement=\"oral\" start=\"2023-12-20\" end=\"2024-03-01\">"
        "<agency>A</agency><covers><name>A</name></covers></suspension>\n"
        "<suspension id=\"exact\" statement=\"oral\" start=\"2023-02-01\" end=\"2023-03-03\">"
        "<agency>B</agency><covers><name>B</name></covers></suspension>\n"
        "<suspension id=\"short\" statement=\"oral\" start=\"2023-05-01\" end=\"2023-05-01\">"
        "<agency>C</agency><covers><name>C</name></covers></suspension>\n"
        "<suspension id=\"written-long\" statement=\"written\" start=\"2020-01-01\" "
        "end=\"2022-12-31\"><agency>D</agency><covers><name>D</name></covers></suspension>\n"
        "</suspensions>\n");
    aod_error err;
    aod_policy *p = load_text(xml, "mem.xml", &err);
    const aod_policy_suspension *s;

    (void)state;
    assert_non_null(p);
    assert_int_equal(p->n_suspensions, 4);

    s = &p->suspensions[0];
    assert_int_equal(s->clamped, 1);
    assert_string_equal(s->end_requested.text, "2024-03-01");
    assert_string_equal(s->end.text, "2024-01-19");
    assert_int_equal(s->end.days - s->start.days, 30);
    assert_int_equal(s->end.year, 2024);
    assert_int_equal(s->end.month, 1);
    assert_int_equal(s->end.day, 19);

    s = &p->suspensions[1]; /* exactly 30 days in February 2023 */
    assert_int_equal(s->clamped, 0);
    assert_string_equal(s->end.text, "2023-03-03");

    s = &p->suspensions[2];
    assert_int_equal(s->clamped, 0);
    assert_int_equal(s->end.days, s->start.days);

    s = &p->suspensions[3]; /* written statements are not capped */
    assert_int_equal(s->clamped, 0);
    assert_string_equal(s->end.text, "2022-12-31");

    assert_int_equal(p->n_warnings, 1);
    assert_non_null(strstr(p->warnings[0].text, "\"long\""));
    assert_non_null(strstr(p->warnings[0].text, "clamped to 2024-01-19"));
    assert_int_equal(p->warnings[0].line, 6);
    aod_policy_free(p);
    free(xml);
}

static void test_epoch_days(void **state)
{
    char *xml =
        policy_with("<suspensions><suspension id=\"e\" statement=\"written\" start=\"1970-01-01\" "
                    "end=\"2000-03-01\"><agency>E</agency><covers><name>E</name></covers>"
                    "</suspension></suspensions>\n");
    aod_error err;
    aod_policy *p = load_text(xml, "mem.xml", &err);

    (void)state;
    assert_non_null(p);
    assert_int_equal(p->suspensions[0].start.days, 0);
    assert_int_equal(p->suspensions[0].end.days, 11017); /* 2000-03-01, after a leap day */
    aod_policy_free(p);
    free(xml);
}

/* ----------------------------------------------------- paths and warnings */

static void test_secret_paths(void **state)
{
    char *xml = policy_with("<masking><pseudonym-secret file=\"keys/site.key\"/></masking>\n");
    char *abs = policy_with("<masking><pseudonym-secret file=\"/etc/aod/site.key\"/></masking>\n");
    aod_error err;
    aod_policy *p;

    (void)state;
    p = load_text(xml, "/etc/aodreport/site-policy.xml", &err);
    assert_non_null(p);
    assert_string_equal(p->masking.pseudonym_secret, "/etc/aodreport/keys/site.key");
    aod_policy_free(p);

    p = load_text(xml, "site-policy.xml", &err); /* no directory: as given */
    assert_non_null(p);
    assert_string_equal(p->masking.pseudonym_secret, "keys/site.key");
    aod_policy_free(p);

    p = load_text(xml, "/site-policy.xml", &err);
    assert_non_null(p);
    assert_string_equal(p->masking.pseudonym_secret, "/keys/site.key");
    aod_policy_free(p);

    p = load_text(abs, "/etc/aodreport/site-policy.xml", &err);
    assert_non_null(p);
    assert_string_equal(p->masking.pseudonym_secret, "/etc/aod/site.key");
    aod_policy_free(p);

    p = load_text(xml, NULL, &err);
    assert_non_null(p);
    assert_string_equal(p->source, "<policy>");
    aod_policy_free(p);
    free(xml);
    free(abs);
}

static void test_pseudonym_without_secret_warns(void **state)
{
    char *xml = policy_with("<masking><audience name=\"patient\">"
                            "<actor class=\"workforce\" tier=\"pseudonym\"/>"
                            "</audience></masking>\n");
    aod_error err;
    aod_policy *p = load_text(xml, "mem.xml", &err);

    (void)state;
    assert_non_null(p);
    assert_int_equal(p->n_warnings, 1);
    assert_non_null(strstr(p->warnings[0].text, "no pseudonym-secret"));
    aod_policy_free(p);
    free(xml);
}

static void test_protected_staff_parsed(void **state)
{
    char *xml = policy_with("<masking><protected-staff>"
                            "<identifier-system>urn:example:protected</identifier-system>"
                            "<staff>Practitioner/7</staff>"
                            "<staff> http://hospital.example.org/staff|E9 </staff>"
                            "</protected-staff></masking>\n");
    aod_error err;
    aod_policy *p = load_text(xml, "mem.xml", &err);

    (void)state;
    assert_non_null(p);
    assert_int_equal(p->masking.n_protected_systems, 1);
    assert_string_equal(p->masking.protected_systems[0], "urn:example:protected");
    assert_int_equal(p->masking.n_protected_keys, 2);
    assert_string_equal(p->masking.protected_keys[0], "Practitioner/7");
    assert_string_equal(p->masking.protected_keys[1], "http://hospital.example.org/staff|E9");
    /* outside persons are not named to the patient unless the policy says */
    assert_int_equal(p->masking.name_recipient_persons, 0);
    aod_policy_free(p);
    free(xml);
    xml = policy_with("<masking name-recipient-persons=\"true\"/>\n");
    p = load_text(xml, "mem.xml", &err);
    assert_non_null(p);
    assert_int_equal(p->masking.name_recipient_persons, 1);
    aod_policy_free(p);
    free(xml);
    /* after the audiences it is out of place */
    xml = policy_with("<masking><audience name=\"patient\"/><protected-staff/></masking>\n");
    p = load_text(xml, "mem.xml", &err);
    assert_null(p);
    assert_int_equal(err.code, AOD_ERR_POLICY);
    free(xml);
}

static void test_semantic_errors_in_memory(void **state)
{
    static const struct {
        const char *fragment;
        long line;
        const char *want;
    } cases[] = {
        {"<presentation time-zone=\"Etc/Nowhere\"/>\n", 5, "unknown time zone"},
        {"<modes><access lookback=\"P\"/></modes>\n", 5, "is not a period"},
        {"<modes><access lookback=\"P0Y0M0D\"/></modes>\n", 5, "is empty"},
        {"<suspensions><suspension id=\"x\" statement=\"oral\" start=\"2024-02-30\">"
         "<agency>A</agency><covers><name>A</name></covers></suspension></suspensions>\n",
         5, "start"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *xml = policy_with(cases[i].fragment);
        aod_error err;
        aod_policy *p = load_text(xml, "mem.xml", &err);

        assert_null(p);
        assert_int_equal(err.code, AOD_ERR_POLICY);
        assert_int_equal(err.line, cases[i].line);
        if (!strstr(err.text, cases[i].want))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.text, cases[i].want);
        free(xml);
    }
}

static void test_time_zone_utc_and_link(void **state)
{
    char *utc = policy_with("<presentation time-zone=\"UTC\"/>\n");
    char *etc = policy_with("<presentation time-zone=\"Etc/UTC\"/>\n");
    aod_error err;
    aod_policy *p;

    (void)state;
    p = load_text(utc, "mem.xml", &err);
    assert_non_null(p);
    assert_string_equal(p->presentation.time_zone, "UTC");
    aod_policy_free(p);
    p = load_text(etc, "mem.xml", &err);
    assert_non_null(p);
    assert_string_equal(p->presentation.time_zone, "Etc/UTC");
    aod_policy_free(p);
    free(utc);
    free(etc);
}

/* ---------------------------------------------------------- other errors */

static void test_io_errors(void **state)
{
    aod_error err;

    (void)state;
    aod_error_init(&err);
    assert_null(aod_policy_load_file("/nonexistent/policy.xml", xsd_path(), &err));
    assert_int_equal(err.code, AOD_ERR_IO);
    assert_string_equal(err.source, "/nonexistent/policy.xml");

    aod_error_init(&err);
    assert_null(aod_policy_load_file(src_path(1, "tests/data/policy/good-minimal.xml"),
                                     "/nonexistent/policy.xsd", &err));
    assert_int_equal(err.code, AOD_ERR_IO);
    assert_string_equal(err.source, "/nonexistent/policy.xsd");

    aod_error_init(&err);
    assert_null(aod_policy_load_memory("<x/>", 4, "m", NULL, 0, &err));
    assert_int_equal(err.code, AOD_ERR_INTERNAL);
}

static void test_empty_input(void **state)
{
    aod_error err;
    aod_policy *p = load_text("", "empty.xml", &err);

    (void)state;
    assert_null(p);
    assert_int_equal(err.code, AOD_ERR_POLICY);
    assert_string_equal(err.source, "empty.xml");
    assert_non_null(strstr(err.text, "empty"));
}

static void test_broken_schema(void **state)
{
    static const char xsd[] = "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">"
                              "<xs:element name=\"policy\" type=\"nosuch:Type\"/></xs:schema>";
    static const char xml[] = "<policy/>";
    aod_error err;

    (void)state;
    aod_error_init(&err);
    assert_null(aod_policy_load_memory(xml, strlen(xml), "m.xml", xsd, strlen(xsd), &err));
    assert_int_equal(err.code, AOD_ERR_POLICY);
    assert_string_equal(err.source, "policy schema");
    assert_non_null(strstr(err.text, "schema"));
}

static void test_first_error_wins(void **state)
{
    aod_error err;

    (void)state;
    aod_error_init(&err);
    aod_error_set(&err, AOD_ERR_USAGE, "earlier", 1, NULL, "first");
    assert_null(aod_policy_load_file("/nonexistent/policy.xml", xsd_path(), &err));
    assert_int_equal(err.code, AOD_ERR_USAGE);
    assert_string_equal(err.text, "first");
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(aod_policy_exclusion_name(AOD_EXCL_I),
                        "(i) treatment, payment and health care operations");
    assert_string_equal(aod_policy_exclusion_name(AOD_EXCL_IV),
                        "(iv) pursuant to an authorization");
    assert_string_equal(aod_policy_exclusion_name(AOD_EXCL_NONE), "");
    assert_string_equal(aod_policy_exclusion_name((aod_exclusion)42), "?");
    assert_string_equal(aod_policy_exclusion_key(AOD_EXCL_VIII), "viii");
    assert_string_equal(aod_policy_exclusion_key(AOD_EXCL_IX), "ix");
    assert_string_equal(aod_policy_verdict_name(AOD_VERDICT_EXCLUDED), "excluded");
    assert_string_equal(aod_policy_actor_class_name(AOD_ACTOR_PATIENT_OR_REPRESENTATIVE),
                        "patient-or-representative");
    assert_string_equal(aod_policy_actor_class_name(AOD_ACTOR_CLASS_COUNT), "?");
    assert_string_equal(aod_policy_audience_name(AOD_AUDIENCE_PRIVACY_OFFICE), "privacy-office");
    assert_string_equal(aod_policy_tier_name(AOD_TIER_ROLE_UNIT), "role-unit");
    assert_string_equal(aod_policy_tier_name((aod_mask_tier)-1), "?");
}

static void test_free_null(void **state)
{
    (void)state;
    aod_policy_free(NULL);
}

static int teardown_libxml(void **state)
{
    (void)state;
    /* The process ends after the group: libxml2's globals go now, so that
     * valgrind sees no leak, and never inside the library itself. */
    xmlCleanupParser();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hipaa_default),
        cmocka_unit_test(test_show_names),
        cmocka_unit_test(test_organisation_only),
        cmocka_unit_test(test_default_from_memory),
        cmocka_unit_test(test_full_policy),
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_external_entity_not_read),
        cmocka_unit_test(test_oral_suspension_cap),
        cmocka_unit_test(test_epoch_days),
        cmocka_unit_test(test_secret_paths),
        cmocka_unit_test(test_pseudonym_without_secret_warns),
        cmocka_unit_test(test_protected_staff_parsed),
        cmocka_unit_test(test_presets),
        cmocka_unit_test(test_semantic_errors_in_memory),
        cmocka_unit_test(test_time_zone_utc_and_link),
        cmocka_unit_test(test_io_errors),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_broken_schema),
        cmocka_unit_test(test_first_error_wins),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_free_null),
    };

    return cmocka_run_group_tests(tests, NULL, teardown_libxml);
}
