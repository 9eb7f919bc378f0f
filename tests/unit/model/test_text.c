/*
 * test_text.c - templates: codes to plain words, per language.
 *
 * The shipped templates are checked for the keys every renderer relies on
 * and for the same key set in each language; the loader is checked on small
 * template trees written to a temporary directory: fallback to English,
 * search order, the file format and each way a file can be wrong.
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
#include <unistd.h>

#include "base/buf.h"
#include "base/embedded.h"
#include "model/text.h"
#include "testutil.h"

#ifndef AOD_DATADIR
#define AOD_DATADIR "/usr/local/share/aodreport"
#endif

/* ---------------------------------------------------------------- helpers */

static int dir_exists(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* A template tree in a fresh temporary directory. */
typedef struct tree {
    char dir[64];
} tree;

static void tree_new(tree *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/aod-test-text-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
}

/* Writes dir/lang/name with content (languages directories made as needed). */
static void tree_put(const tree *t, const char *lang, const char *name, const char *content)
{
    char path[256];

    snprintf(path, sizeof path, "%s/%s", t->dir, lang);
    assert_true(mkdir(path, 0700) == 0 || access(path, F_OK) == 0);
    snprintf(path, sizeof path, "%s/%s/%s", t->dir, lang, name);
    tu_write_file(path, content, strlen(content));
}

static void tree_free(tree *t)
{
    DIR *d = opendir(t->dir), *sub;
    struct dirent *de, *fe;
    char path[512], file[1024];

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", t->dir, de->d_name);
        sub = opendir(path);
        assert_non_null(sub);
        while ((fe = readdir(sub)) != NULL) {
            if (fe->d_name[0] == '.')
                continue;
            snprintf(file, sizeof file, "%s/%s", path, fe->d_name);
            assert_int_equal(unlink(file), 0);
        }
        closedir(sub);
        assert_int_equal(rmdir(path), 0);
    }
    closedir(d);
    assert_int_equal(rmdir(t->dir), 0);
}

static aod_text *load_shipped(const char *lang)
{
    char dir[1024];
    aod_error err;
    aod_text *t;

    aod_error_init(&err);
    t = aod_text_load(tu_src_path(dir, sizeof dir, "templates"), lang, &err);
    if (!t)
        fail_msg("loading %s: %s", lang, err.text);
    return t;
}

/* Loads from the tree and expects failure with code; returns the error. */
static aod_error load_fails(const tree *t, const char *lang, aod_errcode code)
{
    aod_error err;

    aod_error_init(&err);
    assert_null(aod_text_load(t->dir, lang, &err));
    assert_int_equal(err.code, code);
    return err;
}

/* The keys of a template file, as a test-side parser sees them: one string
 * with "\nkey\n" for each, for strstr checks. */
static char *keys_of(const char *rel)
{
    char path[1024], line[2048];
    FILE *f = fopen(tu_src_path(path, sizeof path, rel), "r");
    size_t size = 1, used = 0;
    char *keys = calloc(1, 1);

    assert_non_null(f);
    assert_non_null(keys);
    while (fgets(line, sizeof line, f)) {
        char *p = line, *eq;
        size_t n;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\0')
            continue;
        eq = strchr(p, '=');
        assert_non_null(eq);
        while (eq > p && (eq[-1] == ' ' || eq[-1] == '\t'))
            eq--;
        n = (size_t)(eq - p);
        size += n + 2;
        keys = realloc(keys, size + 1);
        assert_non_null(keys);
        keys[used++] = '\n';
        memcpy(keys + used, p, n);
        used += n;
        keys[used] = '\0';
    }
    fclose(f);
    keys = realloc(keys, used + 2);
    assert_non_null(keys);
    keys[used++] = '\n';
    keys[used] = '\0';
    return keys;
}

/* -------------------------------------------------------- shipped templates */

static void test_english_words(void **state)
{
    aod_text *t = load_shipped("en");

    (void)state;
    assert_string_equal(aod_text_lang(t), "en");
    assert_string_equal(aod_text_get(t, "action.R"), "viewed");
    assert_string_equal(aod_text_code(t, "action", "C", NULL), "created");
    assert_string_equal(aod_text_code(t, "purpose", "TREAT", "Treatment"), "treatment");
    assert_string_equal(aod_text_code(t, "purpose", "HPAYMT", NULL), "payment for health care");
    assert_string_equal(aod_text_code(t, "event-type", "110106", "Export"),
                        "export of information");
    assert_string_equal(aod_text_code(t, "resource", "Observation", NULL),
                        "test results and observations");
    assert_string_equal(aod_text_code(t, "outcome", "0", NULL), "completed");
    assert_string_equal(aod_text_code(t, "exclusion", "i", NULL),
                        "for your treatment, payment for your care, or our health care "
                        "operations");
    assert_string_equal(aod_text_code(t, "subtype", "disclose", NULL),
                        "shared outside our organization");
    assert_string_equal(aod_text_get(t, "actor.workforce-of"), "a staff member of {organisation}");
    aod_text_free(t);
}

static void test_code_fallbacks(void **state)
{
    aod_text *t = load_shipped("en");

    (void)state;
    /* unknown code: the recorded display, else the code, else "" */
    assert_string_equal(aod_text_code(t, "purpose", "LOCALX", "Local purpose"), "Local purpose");
    assert_string_equal(aod_text_code(t, "purpose", "LOCALX", NULL), "LOCALX");
    assert_string_equal(aod_text_code(t, "purpose", "LOCALX", ""), "LOCALX");
    assert_string_equal(aod_text_code(t, "purpose", NULL, NULL), "");
    assert_string_equal(aod_text_code(t, "purpose", "", ""), "");
    assert_string_equal(aod_text_code(t, "purpose", NULL, "Shown"), "Shown");
    assert_string_equal(aod_text_code(NULL, "purpose", "TREAT", NULL), "TREAT");
    /* a kind is part of the key: "TREAT" is no action */
    assert_string_equal(aod_text_code(t, "action", "TREAT", NULL), "TREAT");
    /* case matters in codes */
    assert_string_equal(aod_text_code(t, "purpose", "treat", NULL), "treat");
    assert_null(aod_text_get(t, "purpose"));
    assert_null(aod_text_get(t, "purpose."));
    assert_null(aod_text_get(t, "no.such.key"));
    assert_null(aod_text_get(t, NULL));
    assert_null(aod_text_get(NULL, "action.R"));
    aod_text_free(t);
}

/* Issue 16 point 4: a source without a display is said in words made from
 * its key, never as the bare key or a bare domain. */
static void test_source_words(void **state)
{
    aod_text *en = load_shipped("en"), *es = load_shipped("es");
    aod_error err;
    aod_buf b;

    (void)state;
    aod_buf_init(&b, 4096);
    aod_error_init(&err);
    assert_string_equal(aod_text_source(en, "Device/fhir-server", NULL, &b, &err),
                        "a system recorded as fhir-server");
    assert_string_equal(aod_text_source(en, "Device/fhir-server", "Our FHIR server", &b, &err),
                        "Our FHIR server");
    assert_string_equal(aod_text_source(en, "Organization/acme", NULL, &b, &err),
                        "an organization recorded as acme");
    assert_string_equal(aod_text_source(en, "https://fhir.example.org:8443/r4", NULL, &b, &err),
                        "a system at the address fhir.example.org");
    assert_string_equal(aod_text_source(en, "hospital.example.org", NULL, &b, &err),
                        "a system at the address hospital.example.org");
    assert_string_equal(aod_text_source(en, "urn:ietf:rfc:3986|ehr-7", NULL, &b, &err),
                        "a system recorded as ehr-7");
    assert_string_equal(aod_text_source(en, "https://h.example.org/ids|https://fhir.example.net/r4",
                                        NULL, &b, &err),
                        "a system at the address fhir.example.net");
    assert_string_equal(aod_text_source(en, "Example EHR", NULL, &b, &err), "Example EHR");
    assert_string_equal(aod_text_source(en, NULL, NULL, &b, &err),
                        "a system that did not name itself");
    assert_string_equal(aod_text_source(es, "Device/fhir-server", NULL, &b, &err),
                        "un sistema registrado como fhir-server");
    aod_buf_free(&b);
    aod_text_free(en);
    aod_text_free(es);
}

static void test_spanish_words(void **state)
{
    aod_text *t = load_shipped("es");

    (void)state;
    assert_string_equal(aod_text_lang(t), "es");
    /* the exact UTF-8 bytes, so an editor re-encoding the file is caught */
    assert_string_equal(aod_text_code(t, "action", "C", NULL), "cre\xC3\xB3");
    assert_string_equal(aod_text_code(t, "purpose", "TREAT", NULL), "tratamiento");
    assert_string_equal(aod_text_get(t, "pseudonym.workforce"), "Miembro del personal");
    assert_string_equal(aod_text_code(t, "exclusion", "ii", NULL),
                        "a usted o a su representante personal");
    aod_text_free(t);
}

/* Keys every renderer and the mask stage ask for. */
static void test_required_keys(void **state)
{
    static const char *const required[] = {
        "action.C",
        "action.R",
        "action.U",
        "action.D",
        "action.E",
        "outcome.0",
        "outcome.4",
        "outcome.8",
        "outcome.12",
        "exclusion.i",
        "exclusion.ii",
        "exclusion.iii",
        "exclusion.iv",
        "exclusion.v",
        "exclusion.vi",
        "exclusion.vii",
        "exclusion.viii",
        "exclusion.ix",
        "class.disclosure",
        "class.excluded",
        "class.internal",
        "class.failed",
        "class.out-of-scope",
        "actor.workforce",
        "actor.external-person",
        "actor.external-organisation",
        "actor.patient-or-representative",
        "actor.system-device",
        "actor.workforce-of",
        "pseudonym.workforce",
        "pseudonym.external-person",
        "pseudonym.external-organisation",
        "pseudonym.patient-or-representative",
        "pseudonym.system-device",
        "tier.full-name",
        "tier.pseudonym",
        "tier.role-unit",
        "tier.organisation",
        "tier.generic",
        "format.role-unit",
        "purpose.TREAT",
        "purpose.ETREAT",
        "purpose.CAREMGT",
        "purpose.HPAYMT",
        "purpose.COVERAGE",
        "purpose.CLMATTCH",
        "purpose.HOPERAT",
        "purpose.PATRQT",
        "purpose.FAMRQT",
        "purpose.PWATRNY",
        "purpose.PUBHLTH",
        "purpose.HRESCH",
        "purpose.HLEGAL",
        "purpose.HMARKT",
        "purpose.HDIRECT",
        "purpose.LAW",
        "event-type.rest",
        "subtype.read",
        "subtype.search-type",
        "subtype.disclose",
        "resource.Observation",
        "resource.DiagnosticReport",
        "resource.DocumentReference",
        "resource.MedicationRequest",
        "resource.Condition",
        "resource.Encounter",
        "resource.Patient",
        "resource.AllergyIntolerance",
        "resource.Immunization",
        "resource.Procedure",
        "resource.CarePlan",
        "resource.Composition",
        "resource.Bundle",
        "resource.Binary",
        "resource.ImagingStudy",
    };
    static const char *const langs[] = {"en", "es"};
    char key[32];
    size_t i, l;
    int code;

    (void)state;
    for (l = 0; l < 2; l++) {
        aod_text *t = load_shipped(langs[l]);
        for (i = 0; i < sizeof required / sizeof required[0]; i++)
            if (!aod_text_get(t, required[i]))
                fail_msg("%s: missing %s", langs[l], required[i]);
        for (code = 110100; code <= 110114; code++) {
            snprintf(key, sizeof key, "event-type.%d", code);
            if (!aod_text_get(t, key))
                fail_msg("%s: missing %s", langs[l], key);
        }
        aod_text_free(t);
    }
}

/* Every language has exactly the English keys: a key missing in Spanish
 * would silently show English to a Spanish reader. */
static void test_languages_have_same_keys(void **state)
{
    char *en = keys_of("templates/en/codes.txt");
    char *es = keys_of("templates/es/codes.txt");
    char *p, *nl;

    (void)state;
    for (p = en + 1; *p; p = nl + 1) {
        char probe[256];
        nl = strchr(p, '\n');
        assert_non_null(nl);
        assert_true((size_t)(nl - p) + 3 < sizeof probe);
        snprintf(probe, sizeof probe, "\n%.*s\n", (int)(nl - p), p);
        if (!strstr(es, probe))
            fail_msg("templates/es/codes.txt lacks %.*s", (int)(nl - p), p);
    }
    for (p = es + 1; *p; p = nl + 1) {
        char probe[256];
        nl = strchr(p, '\n');
        snprintf(probe, sizeof probe, "\n%.*s\n", (int)(nl - p), p);
        if (!strstr(en, probe))
            fail_msg("templates/es/codes.txt has %.*s, which English lacks", (int)(nl - p), p);
    }
    free(en);
    free(es);
}

/* Once the lead lists the templates in EMBED_FILES, the compiled-in copies
 * must be the source files, byte for byte. */
static void test_embedded_copies(void **state)
{
    static const char *const names[] = {"templates/en/codes.txt", "templates/es/codes.txt"};
    size_t i;

    (void)state;
    for (i = 0; i < 2; i++) {
        const aod_embedded_file *f = aod_embedded_find(names[i]);
        char path[1024];
        FILE *src;
        char *text;
        size_t len;

        if (!f)
            continue; /* not embedded (yet): nothing to compare */
        src = fopen(tu_src_path(path, sizeof path, names[i]), "rb");
        assert_non_null(src);
        text = tu_slurp(src, &len);
        fclose(src);
        assert_int_equal(f->len, len);
        assert_memory_equal(f->data, text, len);
        free(text);
    }
    /* with no directory given, none in the environment and none installed
     * under AOD_DATADIR, the compiled-in copy answers */
    if (aod_embedded_find("templates/es/codes.txt") && !dir_exists(AOD_DATADIR "/templates")) {
        aod_error err;
        aod_text *t;
        aod_error_init(&err);
        t = aod_text_load(NULL, "es", &err);
        assert_non_null(t);
        assert_string_equal(aod_text_code(t, "purpose", "TREAT", NULL), "tratamiento");
        aod_text_free(t);
    }
}

/* ------------------------------------------------------------- the loader */

static void test_fallback_to_english(void **state)
{
    tree t;
    aod_text *tx;
    aod_error err;

    (void)state;
    tree_new(&t);
    tree_put(&t, "en", "a.txt", "greeting = hello\nfarewell = goodbye\nkind.x = ex\n");
    tree_put(&t, "fr", "a.txt", "greeting = bonjour\n");
    aod_error_init(&err);
    tx = aod_text_load(t.dir, "fr", &err);
    assert_non_null(tx);
    assert_string_equal(aod_text_get(tx, "greeting"), "bonjour");
    assert_string_equal(aod_text_get(tx, "farewell"), "goodbye");
    assert_string_equal(aod_text_code(tx, "kind", "x", "shown"), "ex");
    assert_string_equal(aod_text_code(tx, "kind", "y", "shown"), "shown");
    aod_text_free(tx);
    tree_free(&t);
}

static void test_format_details(void **state)
{
    tree t;
    aod_text *tx;
    aod_error err;

    (void)state;
    tree_new(&t);
    tree_put(&t, "en", "a.txt",
             "\xEF\xBB\xBF"
             "a = x  y \r\n"
             "   # an indented comment = not a key\r\n"
             "\r\n"
             "\t b\t=\tz\n"
             "c==equals=\n"
             "url = http://example.org/a#frag\n"
             "last = no newline at the end");
    aod_error_init(&err);
    tx = aod_text_load(t.dir, "en", &err);
    assert_non_null(tx);
    assert_string_equal(aod_text_get(tx, "a"), "x  y");
    assert_string_equal(aod_text_get(tx, "b"), "z");
    assert_string_equal(aod_text_get(tx, "c"), "=equals=");
    assert_string_equal(aod_text_get(tx, "url"), "http://example.org/a#frag");
    assert_string_equal(aod_text_get(tx, "last"), "no newline at the end");
    assert_null(aod_text_get(tx, "#"));
    aod_text_free(tx);
    tree_free(&t);
}

static void test_several_files(void **state)
{
    tree t;
    aod_text *tx;
    aod_error err;

    (void)state;
    tree_new(&t);
    tree_put(&t, "en", "a.txt", "one = 1\n");
    tree_put(&t, "en", "b.txt", "two = 2\n");
    tree_put(&t, "en", "notes.md", "this = is not read\n");
    aod_error_init(&err);
    tx = aod_text_load(t.dir, "en", &err);
    assert_non_null(tx);
    assert_string_equal(aod_text_get(tx, "one"), "1");
    assert_string_equal(aod_text_get(tx, "two"), "2");
    assert_null(aod_text_get(tx, "this"));
    aod_text_free(tx);
    /* the same key in two files of one language is an error in the second */
    tree_put(&t, "en", "c.txt", "\none = again\n");
    {
        aod_error e = load_fails(&t, "en", AOD_ERR_INPUT);
        assert_non_null(strstr(e.source, "/en/c.txt"));
        assert_int_equal(e.line, 2);
        assert_string_equal(e.field, "one");
        assert_non_null(strstr(e.text, "twice"));
    }
    tree_free(&t);
}

static void test_malformed_files(void **state)
{
    static const struct {
        const char *content;
        long line;
        const char *words;
    } cases[] = {
        {"a = 1\n# fine\nno equals sign here\n", 3, "key = value"},
        {"a = 1\n = orphan value\n", 2, "empty key"},
        {"a = 1\nb =   \n", 2, "empty value"},
        {"a = 1\nb = 2\na = 3\n", 3, "twice (first on line 1)"},
        {"a = 1\nmy key = 2\n", 2, "spaces"},
        {"a = 1\nb = caf\xE9\n", 2, "UTF-8"},      /* Latin-1, not UTF-8 */
        {"a = 1\nb = \xC0\xAF\n", 2, "UTF-8"},     /* overlong '/' */
        {"a = 1\nb = \xED\xA0\x80\n", 2, "UTF-8"}, /* a surrogate */
        {"a = 1\n\nb = \xE2\x82\n", 3, "UTF-8"},   /* cut short at the end */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tree t;
        aod_error e;
        tree_new(&t);
        tree_put(&t, "en", "codes.txt", cases[i].content);
        e = load_fails(&t, "en", AOD_ERR_INPUT);
        if (e.line != cases[i].line || !strstr(e.text, cases[i].words))
            fail_msg("case %zu: got line %ld '%s'", i, e.line, e.text);
        assert_non_null(strstr(e.source, "/en/codes.txt"));
        tree_free(&t);
    }
}

static void test_unknown_language(void **state)
{
    static const char *const bad[] = {"",    "e",   "../en", "en/..",       "en us",
                                      "-en", "en-", "1en",   "toolongname", "en--us"};
    tree t;
    aod_error e;
    size_t i;

    (void)state;
    tree_new(&t);
    tree_put(&t, "en", "a.txt", "a = 1\n");
    e = load_fails(&t, "xx", AOD_ERR_USAGE);
    assert_non_null(strstr(e.text, "'xx'"));
    e = load_fails(&t, "pt-BR", AOD_ERR_USAGE);
    assert_non_null(strstr(e.text, "'pt-BR'"));
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e = load_fails(&t, bad[i], AOD_ERR_USAGE);
        if (!strstr(e.text, "not a language name"))
            fail_msg("'%s': %s", bad[i], e.text);
    }
    e = load_fails(&t, NULL, AOD_ERR_USAGE);
    tree_free(&t);

    /* a directory given must hold the language asked for, English too */
    tree_new(&t);
    tree_put(&t, "fr", "a.txt", "a = 1\n");
    e = load_fails(&t, "en", AOD_ERR_USAGE);
    assert_non_null(strstr(e.text, "'en'"));
    assert_string_equal(e.source, t.dir);
    tree_free(&t);
}

static void test_language_names(void **state)
{
    static const char *const good[] = {"es_419", "pt-BR", "zh-Hant-TW", "sv"};
    tree t;
    aod_text *tx;
    aod_error err;
    size_t i;

    (void)state;
    tree_new(&t);
    tree_put(&t, "en", "a.txt", "a = 1\n");
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        tree_put(&t, good[i], "a.txt", "a = 2\n");
        aod_error_init(&err);
        tx = aod_text_load(t.dir, good[i], &err);
        if (!tx)
            fail_msg("%s: %s", good[i], err.text);
        assert_string_equal(aod_text_get(tx, "a"), "2");
        assert_string_equal(aod_text_lang(tx), good[i]);
        aod_text_free(tx);
    }
    tree_free(&t);
}

/* dir NULL: $AOD_TEMPLATE_DIR comes first. */
static void test_environment_directory(void **state)
{
    tree t;
    aod_text *tx;
    aod_error err;

    (void)state;
    tree_new(&t);
    tree_put(&t, "en", "a.txt", "a = from the environment\nb = english\n");
    tree_put(&t, "qq", "a.txt", "a = qq words\n");
    assert_int_equal(setenv("AOD_TEMPLATE_DIR", t.dir, 1), 0);
    aod_error_init(&err);
    tx = aod_text_load(NULL, "qq", &err);
    assert_non_null(tx);
    assert_string_equal(aod_text_get(tx, "a"), "qq words");
    assert_string_equal(aod_text_get(tx, "b"), "english");
    aod_text_free(tx);
    /* a language found nowhere is an error naming it */
    aod_error_init(&err);
    assert_null(aod_text_load(NULL, "qz", &err));
    assert_int_equal(err.code, AOD_ERR_USAGE);
    assert_non_null(strstr(err.text, "'qz'"));
    assert_int_equal(unsetenv("AOD_TEMPLATE_DIR"), 0);
    tree_free(&t);
}

static void test_expand(void **state)
{
    const char *vars[] = {"role", "Nurse", "unit", "Ward 3", "empty", NULL, NULL};
    aod_buf b;
    aod_error err;

    (void)state;
    aod_buf_init(&b, 0);
    aod_error_init(&err);
    assert_int_equal(aod_text_expand(&b, "{role}, {unit}", vars, &err), 0);
    assert_string_equal(aod_buf_str(&b), "Nurse, Ward 3");
    aod_buf_reset(&b);
    assert_int_equal(aod_text_expand(&b, "[{empty}] {other} {unit", vars, &err), 0);
    assert_string_equal(aod_buf_str(&b), "[] {other} {unit");
    aod_buf_reset(&b);
    assert_int_equal(aod_text_expand(&b, "{{role}}", vars, &err), 0);
    assert_string_equal(aod_buf_str(&b), "{Nurse}");
    aod_buf_reset(&b);
    assert_int_equal(aod_text_expand(&b, "no vars {role}", NULL, &err), 0);
    assert_string_equal(aod_buf_str(&b), "no vars {role}");
    /* appends */
    assert_int_equal(aod_text_expand(&b, "+{unit}", vars, &err), 0);
    assert_string_equal(aod_buf_str(&b), "no vars {role}+Ward 3");
    aod_buf_free(&b);
    /* a buffer over its cap fails with NOMEM */
    aod_buf_init(&b, 4);
    assert_int_equal(aod_text_expand(&b, "{role}, {unit}", vars, &err), -1);
    assert_int_equal(err.code, AOD_ERR_NOMEM);
    aod_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_english_words),   cmocka_unit_test(test_code_fallbacks),
        cmocka_unit_test(test_spanish_words),   cmocka_unit_test(test_source_words),
        cmocka_unit_test(test_required_keys),   cmocka_unit_test(test_languages_have_same_keys),
        cmocka_unit_test(test_embedded_copies), cmocka_unit_test(test_fallback_to_english),
        cmocka_unit_test(test_format_details),  cmocka_unit_test(test_several_files),
        cmocka_unit_test(test_malformed_files), cmocka_unit_test(test_unknown_language),
        cmocka_unit_test(test_language_names),  cmocka_unit_test(test_environment_directory),
        cmocka_unit_test(test_expand),
    };

    /* The environment must not steer the loader in the other tests. */
    unsetenv("AOD_TEMPLATE_DIR");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
