/*
 * test_verify.c - who `aodreport verify --person` matches: keys exactly,
 * names whole after folding case, Latin accents and blanks, and nothing
 * else (a part of a name, another identifier system, another script's
 * letters treated as Latin).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "app/verify.h"

static void names_fold_case_accents_and_blanks(void **state)
{
    (void)state;
    assert_true(aod_verify_name_equal("ana lopes", "Ana Lópes"));
    assert_true(aod_verify_name_equal("  ANA   LÓPES ", "Ana Lópes"));
    assert_true(aod_verify_name_equal("Zoe Strasse", "Zoë Straße"));
    assert_true(aod_verify_name_equal("zoe strasse", "ZOË STRASSE"));
    assert_false(aod_verify_name_equal("zoe strase", "Zoë Straße"));
    assert_true(aod_verify_name_equal("Aeroe Lukasz", "Æroe Łukasz"));
    assert_false(aod_verify_name_equal("Nikos Papadopoulos", "Νίκος Παπαδόπουλος"));
    assert_true(aod_verify_name_equal("Νίκος Παπαδόπουλος", "Νίκος  Παπαδόπουλος"));
}

static void names_match_whole_only(void **state)
{
    (void)state;
    assert_false(aod_verify_name_equal("Ana", "Ana Lópes"));
    assert_false(aod_verify_name_equal("Ana Lópes", "Dr. Ana Lópes"));
    assert_false(aod_verify_name_equal("Ana Lópes", NULL));
    assert_false(aod_verify_name_equal("   ", "   "));
    assert_false(aod_verify_name_equal("", ""));
    assert_false(aod_verify_name_equal("\xff", "\xff"));
}

static void keys_match_exactly(void **state)
{
    aod_party p;

    (void)state;
    memset(&p, 0, sizeof p);
    p.reference = "Practitioner/dr-1";
    p.id_system = "http://hospital.example.org/staff";
    p.id_value = "E100";
    p.name = "Dr. Ana Lópes";
    assert_true(aod_verify_party_matches("Practitioner/dr-1", &p));
    assert_false(aod_verify_party_matches("Practitioner/dr-10", &p));
    assert_true(aod_verify_party_matches("http://hospital.example.org/staff|E100", &p));
    assert_true(aod_verify_party_matches("|E100", &p));
    assert_false(aod_verify_party_matches("http://hospital.example.org/staf|E100", &p));
    assert_false(aod_verify_party_matches("http://hospital.example.org/staff|E10", &p));
    assert_true(aod_verify_party_matches("dr. ana lopes", &p));
    /* a name with a slash and a blank is a name, not a reference */
    p.name = "A/B Team Lead";
    assert_true(aod_verify_party_matches("a/b team lead", &p));
    p.id_value = NULL;
    assert_false(aod_verify_party_matches("|E100", &p));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_fold_case_accents_and_blanks),
        cmocka_unit_test(names_match_whole_only),
        cmocka_unit_test(keys_match_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
