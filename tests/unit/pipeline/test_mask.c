/*
 * test_mask.c - the mask stage: each tier, the fallbacks when the record
 * lacks what a tier shows, keyed pseudonyms, and the disclosure recipients
 * no policy can hide.
 *
 * Expected pseudonyms were computed outside this code base (Python's hmac
 * module, same input layout as mask.c documents), so a change in the
 * derivation fails here instead of silently renaming every staff member.
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
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/mask.h"
#include "model/policy.h"
#include "model/text.h"
#include "model/entry.h"
#include "base/strpool.h"
#include "testutil.h"

/* The secret as mask.c accepts it: a private file (mode 0600). */
static void write_secret(const char *path, const void *data, size_t len)
{
    tu_write_file(path, data, len);
    if (chmod(path, 0600) != 0)
        tu_die(path);
}

#define SECRET "0123456789abcdef-test-secret"

typedef struct fixture {
    char dir[64];
    char secret_path[128];
    aod_policy policy;
    aod_text *en, *es;
    aod_strpool *pool;
} fixture;

static const char *const class_labels[AOD_ACTOR_CLASS_COUNT] = {
    "actor.workforce", "actor.external-person", "actor.external-organisation",
    "actor.patient-or-representative", "actor.system-device"};

/* Every class of audience a at tier t. */
static void set_tiers(fixture *f, aod_audience a, aod_mask_tier t)
{
    int c;

    for (c = 0; c < AOD_ACTOR_CLASS_COUNT; c++) {
        f->policy.masking.tiers[a][c].tier = t;
        f->policy.masking.tiers[a][c].label = class_labels[c];
    }
}

static aod_text *load(const char *lang)
{
    char dir[1024];
    aod_error err;
    aod_text *t;

    aod_error_init(&err);
    t = aod_text_load(tu_src_path(dir, sizeof dir, "templates"), lang, &err);
    assert_non_null(t);
    return t;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/aod-test-mask-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->secret_path, sizeof f->secret_path, "%s/secret", f->dir);
    write_secret(f->secret_path, SECRET "\n", strlen(SECRET) + 1);
    f->policy.name = "test";
    f->policy.source = "test-policy.xml";
    f->policy.organisation.name = "Example Hospital";
    f->policy.masking.pseudonym_secret = f->secret_path;
    set_tiers(f, AOD_AUDIENCE_PATIENT, AOD_TIER_GENERIC);
    set_tiers(f, AOD_AUDIENCE_PRIVACY_OFFICE, AOD_TIER_FULL_NAME);
    f->en = load("en");
    f->es = load("es");
    f->pool = aod_strpool_new();
    assert_non_null(f->pool);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    unlink(f->secret_path);
    rmdir(f->dir);
    aod_text_free(f->en);
    aod_text_free(f->es);
    aod_strpool_free(f->pool);
    free(f);
    return 0;
}

static aod_mask *new_mask(fixture *f, aod_audience a, aod_mode mode, const aod_text *t)
{
    aod_error err;
    aod_mask *m;

    aod_error_init(&err);
    m = aod_mask_new(&f->policy, a, mode, t, f->pool, &err);
    if (!m)
        fail_msg("aod_mask_new: %s", err.text);
    return m;
}

/* An internal access by a workforce member with everything recorded. */
static aod_entry staff_entry(void)
{
    aod_entry e;

    memset(&e, 0, sizeof e);
    e.cls = AOD_CLASS_INTERNAL;
    e.action = 'R';
    e.count = 1;
    e.who.cls = AOD_ACTOR_WORKFORCE;
    e.who.reference = "Practitioner/12";
    e.who.id_system = "http://hospital.example.org/staff";
    e.who.id_value = "E1234";
    e.who.name = "Dr. Alice Smith";
    e.who.role = "Physician";
    e.who.unit = "Cardiology";
    return e;
}

static void apply(aod_mask *m, aod_entry *e)
{
    aod_error err;

    aod_error_init(&err);
    if (aod_mask_apply(m, e, &err) != 0)
        fail_msg("aod_mask_apply: %s", err.text);
    assert_non_null(e->shown_name);
}

/* Masks e under (audience, mode) with every class at tier t. */
static aod_entry masked(fixture *f, aod_entry e, aod_mask_tier t, aod_mode mode)
{
    aod_mask *m;

    set_tiers(f, AOD_AUDIENCE_PATIENT, t);
    m = new_mask(f, AOD_AUDIENCE_PATIENT, mode, f->en);
    apply(m, &e);
    aod_mask_free(m);
    return e;
}

#define assert_str_or_null(a, b)                                                                   \
    do {                                                                                           \
        if ((b) == NULL)                                                                           \
            assert_null(a);                                                                        \
        else                                                                                       \
            assert_string_equal((a), (b));                                                         \
    } while (0)

static void expect(const aod_entry *e, const char *name, const char *role, const char *org,
                   const char *address, aod_mask_tier tier)
{
    assert_string_equal(e->shown_name, name);
    assert_str_or_null(e->shown_role, role);
    assert_str_or_null(e->shown_organisation, org);
    assert_str_or_null(e->shown_address, address);
    assert_int_equal(e->tier, tier);
}

/* ------------------------------------------------------------------ tiers */

static void test_full_name(void **state)
{
    fixture *f = *state;
    aod_entry e = staff_entry();

    e = masked(f, e, AOD_TIER_FULL_NAME, AOD_MODE_ACCESS);
    /* the workforce's organisation is the covered entity */
    expect(&e, "Dr. Alice Smith", "Physician", "Example Hospital", NULL, AOD_TIER_FULL_NAME);

    e = staff_entry();
    e.who.name = NULL;
    e = masked(f, e, AOD_TIER_FULL_NAME, AOD_MODE_ACCESS);
    expect(&e, "Physician", NULL, "Example Hospital", NULL, AOD_TIER_FULL_NAME);

    e = staff_entry();
    e.who.name = "";
    e.who.role = NULL;
    e = masked(f, e, AOD_TIER_FULL_NAME, AOD_MODE_ACCESS);
    expect(&e, "a staff member", NULL, NULL, NULL, AOD_TIER_FULL_NAME);
}

static void test_pseudonym(void **state)
{
    fixture *f = *state;
    aod_entry e = staff_entry(), e2;
    aod_mask *m;

    e = masked(f, e, AOD_TIER_PSEUDONYM, AOD_MODE_ACCESS);
    expect(&e, "Staff member 4MMCAP", "Physician", "Example Hospital", NULL, AOD_TIER_PSEUDONYM);

    /* the reference is the identity: the same person under another name */
    e = staff_entry();
    e.who.name = "A. Smith";
    e = masked(f, e, AOD_TIER_PSEUDONYM, AOD_MODE_ACCESS);
    assert_string_equal(e.shown_name, "Staff member 4MMCAP");

    e = staff_entry();
    e.who.reference = "Practitioner/13";
    e = masked(f, e, AOD_TIER_PSEUDONYM, AOD_MODE_ACCESS);
    assert_string_equal(e.shown_name, "Staff member XXG9SK");

    /* no reference: identifier system|value */
    e = staff_entry();
    e.who.reference = NULL;
    e = masked(f, e, AOD_TIER_PSEUDONYM, AOD_MODE_ACCESS);
    assert_string_equal(e.shown_name, "Staff member ZDPD6Y");

    /* only a name */
    e = staff_entry();
    e.who.reference = "";
    e.who.id_value = NULL;
    e = masked(f, e, AOD_TIER_PSEUDONYM, AOD_MODE_ACCESS);
    assert_string_equal(e.shown_name, "Staff member P2NM9X");

    /* nothing to key on: the generic label */
    e = staff_entry();
    e.who.reference = NULL;
    e.who.id_value = NULL;
    e.who.name = NULL;
    e = masked(f, e, AOD_TIER_PSEUDONYM, AOD_MODE_ACCESS);
    expect(&e, "a staff member", NULL, NULL, NULL, AOD_TIER_GENERIC);

    /* the word is the language's and the class's */
    set_tiers(f, AOD_AUDIENCE_PATIENT, AOD_TIER_PSEUDONYM);
    m = new_mask(f, AOD_AUDIENCE_PATIENT, AOD_MODE_ACCESS, f->es);
    e = staff_entry();
    apply(m, &e);
    assert_string_equal(e.shown_name, "Miembro del personal 4MMCAP");
    e2 = staff_entry();
    e2.who.cls = AOD_ACTOR_SYSTEM_DEVICE;
    apply(m, &e2);
    assert_string_equal(e2.shown_name, "Sistema 4MMCAP");
    aod_mask_free(m);
}

/* One report codes each identity once and reuses the code: many people,
 * each seen again and again in any order (past the cache's first growth),
 * keep the code a report of their own would give them, and no two share
 * one. */
static void test_pseudonym_reused(void **state)
{
    enum { PEOPLE = 300 };
    fixture *f = *state;
    static char refs[PEOPLE][32], names[PEOPLE][32];
    const char *first[PEOPLE];
    aod_mask *m, *alone;
    aod_entry e;
    int i, j, pass;

    set_tiers(f, AOD_AUDIENCE_PATIENT, AOD_TIER_PSEUDONYM);
    m = new_mask(f, AOD_AUDIENCE_PATIENT, AOD_MODE_ACCESS, f->en);
    for (pass = 0; pass < 3; pass++) {
        for (j = 0; j < PEOPLE; j++) {
            i = pass == 1 ? PEOPLE - 1 - j : (j * 7) % PEOPLE;
            snprintf(refs[i], sizeof refs[i], "Practitioner/p%d", i);
            snprintf(names[i], sizeof names[i], "Person %d", i);
            e = staff_entry();
            /* by reference for even people, by name alone for odd ones */
            e.who.reference = i % 2 ? NULL : refs[i];
            e.who.id_value = NULL;
            e.who.name = names[i];
            apply(m, &e);
            if (pass == 0)
                first[i] = e.shown_name;
            else
                assert_string_equal(e.shown_name, first[i]);
        }
    }
    for (i = 0; i < PEOPLE; i++) {
        for (j = 0; j < i; j++)
            assert_string_not_equal(first[i], first[j]);
        if (i % 37 == 0) {
            alone = new_mask(f, AOD_AUDIENCE_PATIENT, AOD_MODE_ACCESS, f->en);
            e = staff_entry();
            e.who.reference = i % 2 ? NULL : refs[i];
            e.who.id_value = NULL;
            e.who.name = names[i];
            apply(alone, &e);
            assert_string_equal(e.shown_name, first[i]);
            aod_mask_free(alone);
        }
    }
    aod_mask_free(m);
}

/* The secret's trailing line end is not part of the key. */
static void test_pseudonym_secret_line_end(void **state)
{
    fixture *f = *state;
    aod_entry e;

    write_secret(f->secret_path, SECRET, strlen(SECRET));
    e = masked(f, staff_entry(), AOD_TIER_PSEUDONYM, AOD_MODE_ACCESS);
    assert_string_equal(e.shown_name, "Staff member 4MMCAP");
    write_secret(f->secret_path, SECRET "\r\n", strlen(SECRET) + 2);
    e = masked(f, staff_entry(), AOD_TIER_PSEUDONYM, AOD_MODE_ACCESS);
    assert_string_equal(e.shown_name, "Staff member 4MMCAP");
    /* another secret, other codes */
    write_secret(f->secret_path, SECRET "!", strlen(SECRET) + 1);
    e = masked(f, staff_entry(), AOD_TIER_PSEUDONYM, AOD_MODE_ACCESS);
    assert_string_not_equal(e.shown_name, "Staff member 4MMCAP");
    assert_int_equal(strlen(e.shown_name), strlen("Staff member 4MMCAP"));
    write_secret(f->secret_path, SECRET "\n", strlen(SECRET) + 1);
}

/* "Staff 5853" and "Staff 53767" share their first six code characters
 * under the test secret: within one report they must still differ. */
static void test_pseudonym_clash(void **state)
{
    fixture *f = *state;
    aod_entry a, b;
    aod_mask *m;

    set_tiers(f, AOD_AUDIENCE_PATIENT, AOD_TIER_PSEUDONYM);
    m = new_mask(f, AOD_AUDIENCE_PATIENT, AOD_MODE_ACCESS, f->en);
    memset(&a, 0, sizeof a);
    a.cls = AOD_CLASS_INTERNAL;
    a.who.cls = AOD_ACTOR_WORKFORCE;
    b = a;
    a.who.name = "Staff 5853";
    b.who.name = "Staff 53767";
    apply(m, &a);
    apply(m, &b);
    assert_string_equal(a.shown_name, "Staff member ZPE46Y");
    assert_string_equal(b.shown_name, "Staff member ZPE46YXDQ2P7");
    /* and keep them for the rest of the report */
    a.shown_name = b.shown_name = NULL;
    apply(m, &b);
    apply(m, &a);
    assert_string_equal(a.shown_name, "Staff member ZPE46Y");
    assert_string_equal(b.shown_name, "Staff member ZPE46YXDQ2P7");
    aod_mask_free(m);

    /* whoever comes first in a report has the short code */
    m = new_mask(f, AOD_AUDIENCE_PATIENT, AOD_MODE_ACCESS, f->en);
    apply(m, &b);
    apply(m, &a);
    assert_string_equal(b.shown_name, "Staff member ZPE46Y");
    assert_string_equal(a.shown_name, "Staff member ZPE46YHE92MG");
    aod_mask_free(m);
}

static void test_role_unit(void **state)
{
    fixture *f = *state;
    aod_entry e = staff_entry();
    aod_mask *m;

    e = masked(f, e, AOD_TIER_ROLE_UNIT, AOD_MODE_ACCESS);
    expect(&e, "Physician, Cardiology", NULL, "Example Hospital", NULL, AOD_TIER_ROLE_UNIT);

    e = staff_entry();
    e.who.role = NULL;
    e = masked(f, e, AOD_TIER_ROLE_UNIT, AOD_MODE_ACCESS);
    expect(&e, "a staff member, Cardiology", NULL, "Example Hospital", NULL, AOD_TIER_ROLE_UNIT);

    e = staff_entry();
    e.who.unit = NULL;
    e = masked(f, e, AOD_TIER_ROLE_UNIT, AOD_MODE_ACCESS);
    expect(&e, "Physician", NULL, "Example Hospital", NULL, AOD_TIER_ROLE_UNIT);

    e = staff_entry();
    e.who.unit = "";
    e.who.role = NULL;
    e = masked(f, e, AOD_TIER_ROLE_UNIT, AOD_MODE_ACCESS);
    expect(&e, "a staff member", NULL, NULL, NULL, AOD_TIER_GENERIC);

    m = new_mask(f, AOD_AUDIENCE_PATIENT, AOD_MODE_ACCESS, f->es);
    e = staff_entry();
    e.who.role = NULL;
    apply(m, &e);
    assert_string_equal(e.shown_name, "un miembro del personal, Cardiology");
    aod_mask_free(m);
}

static void test_organisation(void **state)
{
    fixture *f = *state;
    aod_entry e = staff_entry();

    e = masked(f, e, AOD_TIER_ORGANISATION, AOD_MODE_ACCESS);
    expect(&e, "a staff member of Example Hospital", NULL, "Example Hospital", NULL,
           AOD_TIER_ORGANISATION);

    e = staff_entry();
    e.who.organisation = "Northside Clinic";
    e = masked(f, e, AOD_TIER_ORGANISATION, AOD_MODE_ACCESS);
    expect(&e, "a staff member of Northside Clinic", NULL, "Northside Clinic", NULL,
           AOD_TIER_ORGANISATION);

    e = staff_entry();
    e.who.cls = AOD_ACTOR_SYSTEM_DEVICE;
    e.who.organisation = "Lab Services Inc.";
    e = masked(f, e, AOD_TIER_ORGANISATION, AOD_MODE_ACCESS);
    expect(&e, "an automated system of Lab Services Inc.", NULL, "Lab Services Inc.", NULL,
           AOD_TIER_ORGANISATION);

    /* a system of unknown organisation is not assumed to be ours */
    e = staff_entry();
    e.who.cls = AOD_ACTOR_SYSTEM_DEVICE;
    e = masked(f, e, AOD_TIER_ORGANISATION, AOD_MODE_ACCESS);
    expect(&e, "an automated system", NULL, NULL, NULL, AOD_TIER_GENERIC);

    /* no template for the class: the organisation's name itself */
    e = staff_entry();
    e.who.cls = AOD_ACTOR_PATIENT_OR_REPRESENTATIVE;
    e.who.organisation = "Family Law LLP";
    e = masked(f, e, AOD_TIER_ORGANISATION, AOD_MODE_ACCESS);
    expect(&e, "Family Law LLP", NULL, "Family Law LLP", NULL, AOD_TIER_ORGANISATION);
}

static void test_generic(void **state)
{
    fixture *f = *state;
    aod_entry e = staff_entry();
    aod_mask *m;

    e.who.address = "1 Staff Road";
    e = masked(f, e, AOD_TIER_GENERIC, AOD_MODE_ACCESS);
    expect(&e, "a staff member", NULL, NULL, NULL, AOD_TIER_GENERIC);

    /* the policy names the label; one the templates lack falls back to the class's */
    set_tiers(f, AOD_AUDIENCE_PATIENT, AOD_TIER_GENERIC);
    f->policy.masking.tiers[AOD_AUDIENCE_PATIENT][AOD_ACTOR_WORKFORCE].label =
        "actor.system-device";
    f->policy.masking.tiers[AOD_AUDIENCE_PATIENT][AOD_ACTOR_PATIENT_OR_REPRESENTATIVE].label =
        "label.not-in-templates";
    m = new_mask(f, AOD_AUDIENCE_PATIENT, AOD_MODE_ACCESS, f->es);
    e = staff_entry();
    apply(m, &e);
    assert_string_equal(e.shown_name, "un sistema autom\xC3\xA1tico");
    e = staff_entry();
    e.who.cls = AOD_ACTOR_PATIENT_OR_REPRESENTATIVE;
    apply(m, &e);
    assert_string_equal(e.shown_name, "usted o su representante");
    aod_mask_free(m);
}

/* ------------------------------------------------- recipients stay named */

static void test_disclosure_recipient_named(void **state)
{
    fixture *f = *state;
    aod_entry e = staff_entry();

    /* a policy that names outside persons (name-recipient-persons="true") */
    f->policy.masking.name_recipient_persons = 1;
    /* a reportable disclosure in a HIPAA accounting: named, with address,
     * even if classify took the recipient for workforce */
    e.cls = AOD_CLASS_DISCLOSURE;
    e.who.address = "9 Registry Way, Springfield";
    e = masked(f, e, AOD_TIER_GENERIC, AOD_MODE_DISCLOSURES);
    expect(&e, "Dr. Alice Smith", "Physician", "Example Hospital", "9 Registry Way, Springfield",
           AOD_TIER_FULL_NAME);

    /* an excluded one is masked as the policy says */
    e = staff_entry();
    e.cls = AOD_CLASS_EXCLUDED;
    e.who.address = "9 Registry Way, Springfield";
    e = masked(f, e, AOD_TIER_GENERIC, AOD_MODE_DISCLOSURES);
    expect(&e, "a staff member", NULL, NULL, NULL, AOD_TIER_GENERIC);

    /* an external organisation, any mode, any tier, named by its name */
    memset(&e, 0, sizeof e);
    e.cls = AOD_CLASS_INTERNAL;
    e.who.cls = AOD_ACTOR_EXTERNAL_ORGANISATION;
    e.who.reference = "Organization/7";
    e.who.organisation = "State Cancer Registry";
    e.who.address = "PO Box 1, Capital City";
    e = masked(f, e, AOD_TIER_PSEUDONYM, AOD_MODE_ACCESS);
    expect(&e, "State Cancer Registry", NULL, "State Cancer Registry", "PO Box 1, Capital City",
           AOD_TIER_FULL_NAME);

    /* an external person without a name: their organisation, then the label */
    memset(&e, 0, sizeof e);
    e.cls = AOD_CLASS_DISCLOSURE;
    e.who.cls = AOD_ACTOR_EXTERNAL_PERSON;
    e.who.role = "Investigator";
    e.who.organisation = "County Sheriff";
    e = masked(f, e, AOD_TIER_ROLE_UNIT, AOD_MODE_DISCLOSURES);
    expect(&e, "County Sheriff", "Investigator", "County Sheriff", NULL, AOD_TIER_FULL_NAME);
    memset(&e, 0, sizeof e);
    e.cls = AOD_CLASS_DISCLOSURE;
    e.who.cls = AOD_ACTOR_EXTERNAL_PERSON;
    e = masked(f, e, AOD_TIER_ORGANISATION, AOD_MODE_DISCLOSURES);
    expect(&e, "a person outside our organization", NULL, NULL, NULL, AOD_TIER_FULL_NAME);
}

/* The default (name-recipient-persons false): a person is outside only
 * because no domain or identifier system matched, which a staff member on
 * a portal host or a home workstation can also be.  The patient learns
 * where, never who; the privacy office sees the name and a flag. */
static void test_outside_person_unnamed(void **state)
{
    fixture *f = *state;
    aod_entry e, base;
    aod_mask *m;

    memset(&base, 0, sizeof base);
    base.cls = AOD_CLASS_DISCLOSURE;
    base.action = 'R';
    base.count = 1;
    base.who.cls = AOD_ACTOR_EXTERNAL_PERSON;
    base.who.reference = "Practitioner/77";
    base.who.name = "Dr. Jane Moonlight";
    base.who.role = "Physician";
    base.who.network = "https://WS12.Clinic-Portal.example:8443/fhir";
    base.who.address = "5 Harbor Street";

    /* the host the person used, the role and the address: no name, under
     * every tier the policy may set */
    for (int t = AOD_TIER_FULL_NAME; t <= AOD_TIER_GENERIC; t++) {
        if (t == AOD_TIER_PSEUDONYM)
            continue;
        e = masked(f, base, (aod_mask_tier)t, AOD_MODE_DISCLOSURES);
        expect(&e, "a person at ws12.clinic-portal.example", "Physician", NULL, "5 Harbor Street",
               AOD_TIER_ORGANISATION);
        assert_true(e.flags & AOD_ENTRY_NAME_WITHHELD);
        e = masked(f, base, (aod_mask_tier)t, AOD_MODE_ACCESS);
        assert_string_equal(e.shown_name, "a person at ws12.clinic-portal.example");
    }
    /* the organisation when recorded */
    e = base;
    e.who.organisation = "County Sheriff";
    e = masked(f, e, AOD_TIER_FULL_NAME, AOD_MODE_DISCLOSURES);
    expect(&e, "a person at County Sheriff", "Physician", "County Sheriff", "5 Harbor Street",
           AOD_TIER_ORGANISATION);
    /* an IP address says nothing: the role */
    e = base;
    e.who.network = "10.2.3.4";
    e = masked(f, e, AOD_TIER_FULL_NAME, AOD_MODE_DISCLOSURES);
    expect(&e, "Physician", NULL, NULL, "5 Harbor Street", AOD_TIER_ORGANISATION);
    /* nothing but the name: the label */
    e = base;
    e.who.network = NULL;
    e.who.role = NULL;
    e.who.address = NULL;
    e = masked(f, e, AOD_TIER_FULL_NAME, AOD_MODE_DISCLOSURES);
    expect(&e, "a person outside our organization", NULL, NULL, NULL, AOD_TIER_ORGANISATION);

    /* a staff member classify took for a recipient: the workforce tier */
    e = staff_entry();
    e.cls = AOD_CLASS_DISCLOSURE;
    e = masked(f, e, AOD_TIER_ROLE_UNIT, AOD_MODE_DISCLOSURES);
    expect(&e, "Physician, Cardiology", NULL, "Example Hospital", NULL, AOD_TIER_ROLE_UNIT);

    /* organisations are still named: they are not people */
    memset(&e, 0, sizeof e);
    e.cls = AOD_CLASS_DISCLOSURE;
    e.who.cls = AOD_ACTOR_EXTERNAL_ORGANISATION;
    e.who.organisation = "State Cancer Registry";
    e = masked(f, e, AOD_TIER_GENERIC, AOD_MODE_DISCLOSURES);
    expect(&e, "State Cancer Registry", NULL, "State Cancer Registry", NULL, AOD_TIER_FULL_NAME);

    /* the privacy office sees the name, flagged for review */
    e = base;
    m = new_mask(f, AOD_AUDIENCE_PRIVACY_OFFICE, AOD_MODE_DISCLOSURES, f->en);
    apply(m, &e);
    aod_mask_free(m);
    expect(&e, "Dr. Jane Moonlight", "Physician", NULL, "5 Harbor Street", AOD_TIER_FULL_NAME);
    assert_true(e.flags & AOD_ENTRY_NAME_WITHHELD);

    /* and with name-recipient-persons="true" the patient does too */
    f->policy.masking.name_recipient_persons = 1;
    e = masked(f, base, AOD_TIER_GENERIC, AOD_MODE_DISCLOSURES);
    expect(&e, "Dr. Jane Moonlight", "Physician", NULL, "5 Harbor Street", AOD_TIER_FULL_NAME);
    assert_false(e.flags & AOD_ENTRY_NAME_WITHHELD);
}

/* Codes the templates have no words for are flagged on the line and
 * counted by kind and code, in both audiences, once per line. */
static void test_codes_without_words(void **state)
{
    fixture *f = *state;
    aod_report_summary sum;
    aod_entry e;
    aod_mask *m;
    int a;

    for (a = 0; a < AOD_AUDIENCE_COUNT; a++) {
        m = new_mask(f, (aod_audience)a, AOD_MODE_ACCESS, f->en);
        e = staff_entry();
        e.purpose_code = "LOCALPOU"; /* no template, no display */
        e.data_kinds = "Observation,Unknownish";
        apply(m, &e);
        assert_true(e.flags & AOD_ENTRY_NO_WORDS);
        e = staff_entry();
        e.purpose_code = "LOCALPOU";
        e.purpose_display = "LOCALPOU"; /* a display that is a code is no words */
        apply(m, &e);
        assert_true(e.flags & AOD_ENTRY_NO_WORDS);
        e = staff_entry();
        e.purpose_code = "LOCALPOU";
        e.purpose_display = "Local purpose"; /* words enough */
        e.purpose_system = NULL;
        e.data_kinds = "Observation";
        apply(m, &e);
        assert_false(e.flags & AOD_ENTRY_NO_WORDS);
        e = staff_entry();
        e.purpose_code = "TREAT";
        apply(m, &e);
        assert_false(e.flags & AOD_ENTRY_NO_WORDS);

        memset(&sum, 0, sizeof sum);
        aod_mask_no_words(m, &sum);
        assert_int_equal(sum.lines_without_words, 2);
        assert_int_equal(sum.n_no_words, 2);
        assert_string_equal(sum.no_words[0].kind, "purpose");
        assert_string_equal(sum.no_words[0].code, "LOCALPOU");
        assert_int_equal(sum.no_words[0].count, 2);
        assert_string_equal(sum.no_words[1].kind, "resource");
        assert_string_equal(sum.no_words[1].code, "Unknownish");
        assert_int_equal(sum.no_words[1].count, 1);
        assert_int_equal(sum.no_words_more, 0);
        aod_mask_free(m);
    }
}

static void test_privacy_office(void **state)
{
    fixture *f = *state;
    aod_entry e = staff_entry();
    aod_mask *m;

    set_tiers(f, AOD_AUDIENCE_PATIENT, AOD_TIER_GENERIC);
    m = new_mask(f, AOD_AUDIENCE_PRIVACY_OFFICE, AOD_MODE_ACCESS, f->en);
    apply(m, &e);
    expect(&e, "Dr. Alice Smith", "Physician", "Example Hospital", NULL, AOD_TIER_FULL_NAME);
    aod_mask_free(m);
}

/* Whatever is missing, shown_name is set, for every class and tier. */
static void test_never_null(void **state)
{
    fixture *f = *state;
    int c, t;

    for (t = AOD_TIER_FULL_NAME; t <= AOD_TIER_GENERIC; t++) {
        for (c = 0; c < AOD_ACTOR_CLASS_COUNT; c++) {
            aod_entry e;
            memset(&e, 0, sizeof e);
            e.who.cls = (aod_actor_class)c;
            e.cls = AOD_CLASS_INTERNAL;
            e = masked(f, e, (aod_mask_tier)t, AOD_MODE_ACCESS);
            assert_true(e.shown_name[0] != '\0');
            assert_null(e.shown_address);
        }
    }
}

/* --------------------------------------------------------------- failures */

static void expect_new_fails(fixture *f, const char *source, const char *words)
{
    aod_error err;

    aod_error_init(&err);
    assert_null(
        aod_mask_new(&f->policy, AOD_AUDIENCE_PATIENT, AOD_MODE_ACCESS, f->en, f->pool, &err));
    assert_int_equal(err.code, AOD_ERR_POLICY);
    assert_string_equal(err.source, source);
    if (!strstr(err.text, words))
        fail_msg("expected '%s' in '%s'", words, err.text);
}

static void test_secret_errors(void **state)
{
    fixture *f = *state;
    char missing[160];
    aod_mask *m;

    set_tiers(f, AOD_AUDIENCE_PATIENT, AOD_TIER_GENERIC);
    f->policy.masking.tiers[AOD_AUDIENCE_PATIENT][AOD_ACTOR_SYSTEM_DEVICE].tier =
        AOD_TIER_PSEUDONYM;

    snprintf(missing, sizeof missing, "%s/no-such-secret", f->dir);
    f->policy.masking.pseudonym_secret = missing;
    expect_new_fails(f, missing, "cannot open");

    f->policy.masking.pseudonym_secret = f->dir; /* a directory */
    expect_new_fails(f, f->dir, "not a regular file");

    /* a key others can read is no secret */
    f->policy.masking.pseudonym_secret = f->secret_path;
    assert_int_equal(chmod(f->secret_path, 0640), 0);
    expect_new_fails(f, f->secret_path, "readable or writable by others");
    assert_int_equal(chmod(f->secret_path, 0600), 0);

    f->policy.masking.pseudonym_secret = f->secret_path;
    write_secret(f->secret_path, "0123456789abcde\n\n", 17); /* 15 bytes + line ends */
    expect_new_fails(f, f->secret_path, "holds 15 bytes; at least 16");
    write_secret(f->secret_path, "", 0);
    expect_new_fails(f, f->secret_path, "holds 0 bytes");
    write_secret(f->secret_path, "0123456789abcdef\r\n", 18); /* exactly 16 */
    m = new_mask(f, AOD_AUDIENCE_PATIENT, AOD_MODE_ACCESS, f->en);
    aod_mask_free(m);
    write_secret(f->secret_path, SECRET "\n", strlen(SECRET) + 1);

    f->policy.masking.pseudonym_secret = NULL;
    expect_new_fails(f, "test-policy.xml", "names no pseudonym secret file");

    /* no pseudonym tier for this audience: the secret is not needed, nor read */
    f->policy.masking.pseudonym_secret = missing;
    set_tiers(f, AOD_AUDIENCE_PRIVACY_OFFICE, AOD_TIER_PSEUDONYM);
    set_tiers(f, AOD_AUDIENCE_PATIENT, AOD_TIER_ROLE_UNIT);
    m = new_mask(f, AOD_AUDIENCE_PATIENT, AOD_MODE_ACCESS, f->en);
    aod_mask_free(m);
    f->policy.masking.pseudonym_secret = f->secret_path;
    set_tiers(f, AOD_AUDIENCE_PRIVACY_OFFICE, AOD_TIER_FULL_NAME);
}

static void test_bad_arguments(void **state)
{
    fixture *f = *state;
    aod_entry e = staff_entry();
    aod_error err;
    aod_mask *m;

    aod_error_init(&err);
    assert_null(
        aod_mask_new(&f->policy, AOD_AUDIENCE_COUNT, AOD_MODE_ACCESS, f->en, f->pool, &err));
    assert_int_equal(err.code, AOD_ERR_INTERNAL);
    aod_error_init(&err);
    assert_null(
        aod_mask_new(&f->policy, AOD_AUDIENCE_PATIENT, AOD_MODE_ACCESS, NULL, f->pool, &err));
    assert_int_equal(err.code, AOD_ERR_INTERNAL);

    m = new_mask(f, AOD_AUDIENCE_PATIENT, AOD_MODE_ACCESS, f->en);
    e.who.cls = AOD_ACTOR_CLASS_COUNT;
    aod_error_init(&err);
    assert_int_equal(aod_mask_apply(m, &e, &err), -1);
    assert_int_equal(err.code, AOD_ERR_INTERNAL);
    assert_null(e.shown_name);
    aod_mask_free(m);
    aod_mask_free(NULL);
}

/* Protected staff: the unit only, for the patient, whatever the tier; by
 * identifier system, by reference or by system|value; never the recipient
 * of a disclosure, never another class, and the privacy office unchanged. */
static void test_protected_staff(void **state)
{
    fixture *f = *state;
    static const char *systems[] = {"urn:example:protected-staff"};
    static const char *keys[] = {"Practitioner/12", "http://hospital.example.org/staff|E9"};
    aod_entry e;
    aod_mask *m;

    f->policy.masking.protected_keys = keys;
    f->policy.masking.n_protected_keys = 2;
    e = masked(f, staff_entry(), AOD_TIER_FULL_NAME, AOD_MODE_ACCESS);
    expect(&e, "Cardiology", NULL, "Example Hospital", NULL, AOD_TIER_ROLE_UNIT);
    e = masked(f, staff_entry(), AOD_TIER_PSEUDONYM, AOD_MODE_ACCESS);
    expect(&e, "Cardiology", NULL, "Example Hospital", NULL, AOD_TIER_ROLE_UNIT);

    /* never more than the tier shows */
    e = masked(f, staff_entry(), AOD_TIER_ORGANISATION, AOD_MODE_ACCESS);
    expect(&e, "a staff member of Example Hospital", NULL, "Example Hospital", NULL,
           AOD_TIER_ORGANISATION);

    /* by system|value, and with no unit recorded: the generic label */
    e = staff_entry();
    e.who.reference = "Practitioner/99";
    e.who.id_value = "E9";
    e.who.unit = NULL;
    e = masked(f, e, AOD_TIER_FULL_NAME, AOD_MODE_ACCESS);
    expect(&e, "a staff member", NULL, NULL, NULL, AOD_TIER_GENERIC);

    /* not listed: the tier applies */
    e = staff_entry();
    e.who.reference = "Practitioner/13";
    e = masked(f, e, AOD_TIER_FULL_NAME, AOD_MODE_ACCESS);
    expect(&e, "Dr. Alice Smith", "Physician", "Example Hospital", NULL, AOD_TIER_FULL_NAME);

    /* by identifier system */
    f->policy.masking.n_protected_keys = 0;
    f->policy.masking.protected_systems = systems;
    f->policy.masking.n_protected_systems = 1;
    e = staff_entry();
    e.who.id_system = "urn:example:protected-staff";
    e = masked(f, e, AOD_TIER_FULL_NAME, AOD_MODE_ACCESS);
    expect(&e, "Cardiology", NULL, "Example Hospital", NULL, AOD_TIER_ROLE_UNIT);

    /* another class with that system is not staff */
    e = staff_entry();
    e.who.cls = AOD_ACTOR_SYSTEM_DEVICE;
    e.who.id_system = "urn:example:protected-staff";
    e = masked(f, e, AOD_TIER_FULL_NAME, AOD_MODE_ACCESS);
    expect(&e, "Dr. Alice Smith", "Physician", NULL, NULL, AOD_TIER_FULL_NAME);

    /* the privacy office sees them by its own tiers */
    e = staff_entry();
    e.who.id_system = "urn:example:protected-staff";
    set_tiers(f, AOD_AUDIENCE_PRIVACY_OFFICE, AOD_TIER_FULL_NAME);
    m = new_mask(f, AOD_AUDIENCE_PRIVACY_OFFICE, AOD_MODE_ACCESS, f->en);
    apply(m, &e);
    aod_mask_free(m);
    expect(&e, "Dr. Alice Smith", "Physician", "Example Hospital", NULL, AOD_TIER_FULL_NAME);
    f->policy.masking.n_protected_systems = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pseudonym, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pseudonym_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pseudonym_secret_line_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pseudonym_clash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_unit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_organisation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disclosure_recipient_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outside_person_unnamed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codes_without_words, setup, teardown),
        cmocka_unit_test_setup_teardown(test_privacy_office, setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protected_staff, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
