/*
 * check.c - `aodreport check` (see check.h).
 *
 * Each check fills one finding; findings are printed at the end, as lines
 * or as one JSON object, so that --json output is a single document even
 * when a check fails halfway.
 */
#include "app/check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "app/run.h"
#include "config.h"
#include "model/policy.h"
#include "render/font.h"
#include "model/text.h"
#include "store/store.h"

#ifndef AOD_FONT_FILE
#define AOD_FONT_FILE "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
#endif
/* the PDF's (render/pdf.c): used when it is there and no other is given */
#ifndef AOD_FALLBACK_FONT_FILE
#define AOD_FALLBACK_FONT_FILE "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
#endif

enum {
    CHECK_POLICY,
    CHECK_TEMPLATES,
    CHECK_FONT,
    CHECK_DATABASE,
    CHECK_SCHEMA,
    CHECK_PRIVILEGE,
    N_CHECKS
};

static const char *const check_names[N_CHECKS] = {"policy",   "templates", "font",
                                                  "database", "schema",    "privilege"};

typedef enum status { ST_SKIPPED = 0, ST_OK, ST_PROBLEM } status;

typedef struct finding {
    status st;
    aod_errcode code; /* with ST_PROBLEM */
    char text[700];
} finding;

typedef struct checker {
    finding f[N_CHECKS];
    aod_policy *policy;
    aod_text *text;
    const char *lang;
} checker;

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static void
say(checker *c, int which, status st, const char *fmt, ...)
{
    va_list ap;

    c->f[which].st = st;
    va_start(ap, fmt);
    vsnprintf(c->f[which].text, sizeof c->f[which].text, fmt, ap);
    va_end(ap);
}

static void problem(checker *c, int which, aod_errcode code, const aod_error *e)
{
    char msg[600];

    c->f[which].st = ST_PROBLEM;
    c->f[which].code = code;
    snprintf(c->f[which].text, sizeof c->f[which].text, "%s", aod_error_format(e, msg, sizeof msg));
}

/* An RFC 2606 / 6761 name, or one under example.<tld>: a placeholder. */
static int placeholder_host(const char *h)
{
    static const char *const suffixes[] = {".example", ".test", ".invalid", ".localhost", NULL};
    size_t n = strlen(h), i;

    if (strncmp(h, "example.", 8) == 0 || strstr(h, ".example.") || strcmp(h, "example") == 0)
        return 1;
    for (i = 0; suffixes[i]; i++) {
        size_t k = strlen(suffixes[i]);
        if (n >= k && strcmp(h + n - k, suffixes[i]) == 0)
            return 1;
    }
    return 0;
}

/* Lists what in p is still an example, into out; 0 when nothing is. */
static int placeholders(const aod_policy *p, char *out, size_t size)
{
    size_t used = 0, i;
    int n = 0;
    const char *at;

#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (used < size) {                                                                         \
            int w = snprintf(out + used, size - used, "%s", n++ ? "; " : "");                      \
            used += w > 0 ? (size_t)w : 0;                                                         \
        }                                                                                          \
        if (used < size) {                                                                         \
            int w = snprintf(out + used, size - used, __VA_ARGS__);                                \
            used += w > 0 ? (size_t)w : 0;                                                         \
        }                                                                                          \
    } while (0)
    out[0] = '\0';
    if (p->demo)
        ADD("<policy demo=\"true\">: it says it is the demonstration");
    if (p->organisation.name && strncmp(p->organisation.name, "Example ", 8) == 0)
        ADD("organisation name \"%s\"", p->organisation.name);
    for (i = 0; i < p->inside.n_domains; i++)
        if (placeholder_host(p->inside.domains[i]))
            ADD("covered-entity network-domain %s", p->inside.domains[i]);
    if (p->organisation.privacy_email && (at = strchr(p->organisation.privacy_email, '@')) &&
        placeholder_host(at + 1))
        ADD("privacy office e-mail %s", p->organisation.privacy_email);
#undef ADD
    return n;
}

static void check_policy(checker *c, const aod_check_options *o)
{
    aod_policy_origin origin;
    const char *path = aod_run_policy_path(o->policy, &origin);
    char still[500];
    struct stat sb;
    aod_error e;

    aod_error_init(&e);
    if (origin != AOD_POLICY_OPTION && stat(path, &sb) != 0 && errno == ENOENT) {
        c->f[CHECK_POLICY].st = ST_PROBLEM;
        c->f[CHECK_POLICY].code = AOD_ERR_CONFIG;
        snprintf(c->f[CHECK_POLICY].text, sizeof c->f[CHECK_POLICY].text,
                 "%s: no site policy%s; create it from %s/policies/demo.xml (doc/policy.md)", path,
                 origin == AOD_POLICY_ENV ? " (from AODREPORT_POLICY)" : "", AOD_DATADIR);
        return;
    }
    c->policy = aod_run_load_policy_file(path, NULL, &e);
    if (!c->policy) {
        problem(c, CHECK_POLICY, e.code == AOD_ERR_IO ? AOD_ERR_CONFIG : e.code, &e);
        return;
    }
    if (placeholders(c->policy, still, sizeof still)) {
        c->f[CHECK_POLICY].st = ST_PROBLEM;
        c->f[CHECK_POLICY].code = AOD_ERR_CONFIG;
        snprintf(c->f[CHECK_POLICY].text, sizeof c->f[CHECK_POLICY].text,
                 "%s: still the example: %s", path, still);
        return;
    }
    say(c, CHECK_POLICY, ST_OK, "%s: valid (policy \"%s\", organisation \"%s\")", path,
        c->policy->name, c->policy->organisation.name ? c->policy->organisation.name : "");
}

static void check_templates(checker *c, const aod_check_options *o)
{
    aod_error e;

    aod_error_init(&e);
    c->lang = o->lang ? o->lang : c->policy ? c->policy->presentation.language : "en";
    c->text = aod_text_load(o->templates, c->lang, &e);
    if (!c->text) {
        problem(c, CHECK_TEMPLATES, AOD_ERR_TEMPLATES, &e);
        return;
    }
    say(c, CHECK_TEMPLATES, ST_OK, "language %s: templates found", c->lang);
}

typedef struct cover {
    const aod_font *font, *fallback;
    uint32_t missing;
    const char *where;
} cover;

static int cover_one(const char *key, const char *value, void *ctx)
{
    cover *cv = ctx;

    if (!value)
        return 0;
    cv->missing = aod_font_first_missing_either(cv->font, cv->fallback, value, strlen(value));
    cv->where = key;
    return cv->missing != 0;
}

static void check_font(checker *c, const aod_check_options *o)
{
    const char *path = o->font ? o->font : AOD_FONT_FILE;
    /* As the PDF takes it: given, else the default when it is there; "" none. */
    const char *fb_path = o->fallback_font                            ? o->fallback_font
                          : access(AOD_FALLBACK_FONT_FILE, R_OK) == 0 ? AOD_FALLBACK_FONT_FILE
                                                                      : "";
    cover cv;
    aod_font *font, *fallback = NULL;
    aod_error e;
    size_t i;

    aod_error_init(&e);
    font = aod_font_open(path, &e);
    if (!font) {
        problem(c, CHECK_FONT, AOD_ERR_TEMPLATES, &e);
        return;
    }
    if (*fb_path && !(fallback = aod_font_open(fb_path, &e))) {
        char msg[600];
        aod_font_free(font);
        say(c, CHECK_FONT, ST_PROBLEM, "the fallback font (--fallback-font): %s",
            aod_error_format(&e, msg, sizeof msg));
        c->f[CHECK_FONT].code = AOD_ERR_TEMPLATES;
        return;
    }
    memset(&cv, 0, sizeof cv);
    cv.font = font;
    cv.fallback = fallback;
    if (c->text)
        aod_text_each(c->text, cover_one, &cv);
    if (!cv.missing && c->policy) {
        const aod_policy *p = c->policy;
        const char *letterhead[4];
        letterhead[0] = p->organisation.name;
        letterhead[1] = p->organisation.privacy_name;
        letterhead[2] = p->organisation.privacy_phone;
        letterhead[3] = p->organisation.privacy_email;
        for (i = 0; !cv.missing && i < 4; i++)
            if (letterhead[i] && (cv.missing = aod_font_first_missing_either(
                                      font, fallback, letterhead[i], strlen(letterhead[i]))))
                cv.where = "the policy's organisation";
        for (i = 0; !cv.missing && i < p->organisation.n_address; i++)
            if ((cv.missing =
                     aod_font_first_missing_either(font, fallback, p->organisation.address[i],
                                                   strlen(p->organisation.address[i]))))
                cv.where = "the policy's address";
    }
    aod_font_free(font);
    aod_font_free(fallback);
    if (cv.missing) {
        char fonts[600];
        if (*fb_path)
            snprintf(fonts, sizeof fonts, "%s (nor the fallback font %s)", path, fb_path);
        else
            snprintf(fonts, sizeof fonts, "%s", path);
        say(c, CHECK_FONT, ST_PROBLEM,
            "%s has no glyph for U+%04X (in %s): a %s letter would show empty boxes; "
            "give a font that covers the language with --font or --fallback-font",
            fonts, (unsigned)cv.missing, cv.where, c->lang ? c->lang : "");
        c->f[CHECK_FONT].code = AOD_ERR_TEMPLATES;
        return;
    }
    if (*fb_path)
        say(c, CHECK_FONT, ST_OK,
            "%s, with the fallback font %s, covers every character of the %s "
            "letter",
            path, fb_path, c->lang ? c->lang : "");
    else
        say(c, CHECK_FONT, ST_OK, "%s covers every character of the %s letter", path,
            c->lang ? c->lang : "");
}

static void check_database(checker *c, const aod_check_options *o)
{
    char user[128];
    aod_store *st;
    aod_error e;
    int version, may_read, may_record;

    aod_error_init(&e);
    st = aod_store_connect(o->db, &e);
    if (!st) {
        problem(c, CHECK_DATABASE, e.code, &e);
        return;
    }
    if (aod_store_privileges(st, &may_read, &may_record, user, sizeof user, &e) != 0) {
        problem(c, CHECK_DATABASE, e.code, &e);
        goto out;
    }
    say(c, CHECK_DATABASE, ST_OK, "connected as %s", user);
    if (!may_read && aod_store_version(st, &e) < 0) {
        /* it cannot even read the schema version: a privilege problem */
        c->f[CHECK_PRIVILEGE].st = ST_PROBLEM;
        c->f[CHECK_PRIVILEGE].code = AOD_ERR_PRIVILEGE;
        snprintf(c->f[CHECK_PRIVILEGE].text, sizeof c->f[CHECK_PRIVILEGE].text,
                 "%s may not read the store: grant it aod_reader (sql/roles.sql)", user);
        goto out;
    }
    aod_error_init(&e);
    version = aod_store_version(st, &e);
    if (version < 0) {
        problem(c, CHECK_SCHEMA, AOD_ERR_SCHEMA, &e);
        goto out;
    }
    if (version != aod_store_latest_version()) {
        c->f[CHECK_SCHEMA].st = ST_PROBLEM;
        c->f[CHECK_SCHEMA].code = AOD_ERR_SCHEMA;
        snprintf(c->f[CHECK_SCHEMA].text, sizeof c->f[CHECK_SCHEMA].text,
                 version == 0 ? "no store in this database (schema version %d, this program "
                                "needs %d): run 'aodreport init' as the store's owner"
                              : "the store is at schema version %d, this program needs %d: "
                                "run 'aodreport init' as the store's owner",
                 version, aod_store_latest_version());
        goto out;
    }
    say(c, CHECK_SCHEMA, ST_OK, "schema version %d", version);
    if (!may_read || !may_record) {
        c->f[CHECK_PRIVILEGE].st = ST_PROBLEM;
        c->f[CHECK_PRIVILEGE].code = AOD_ERR_PRIVILEGE;
        snprintf(c->f[CHECK_PRIVILEGE].text, sizeof c->f[CHECK_PRIVILEGE].text,
                 "%s may %s: grant it aod_reader (sql/roles.sql)", user,
                 !may_read ? "not read the store's report rows"
                           : "not record its self-audit (EXECUTE on aod.record_self_audit and "
                             "aod.record_self_audits), so every report would be refused");
        goto out;
    }
    /* EXECUTE is not enough to know: record one and roll it back. */
    aod_error_init(&e);
    if (aod_store_try_self_audit(st, &e) != 0) {
        problem(c, CHECK_PRIVILEGE, e.code == AOD_ERR_DB ? AOD_ERR_PRIVILEGE : e.code, &e);
        goto out;
    }
    say(c, CHECK_PRIVILEGE, ST_OK,
        "%s may read the store and record its self-audit (tried, and rolled back)", user);
out:
    aod_store_free(st);
}

static const char *status_name(status st)
{
    return st == ST_OK ? "ok" : st == ST_PROBLEM ? "problem" : "skipped";
}

static int print_json(const checker *c)
{
    json_t *doc = json_object(), *list = json_array();
    int i, ok = 1, rc = -1;

    if (!doc || !list)
        goto out;
    for (i = 0; i < N_CHECKS; i++) {
        json_t *one = json_pack("{s:s, s:s, s:s}", "check", check_names[i], "status",
                                status_name(c->f[i].st), "message", c->f[i].text);
        if (!one || json_array_append_new(list, one) != 0)
            goto out;
        if (c->f[i].st == ST_PROBLEM)
            ok = 0;
    }
    if (json_object_set_new(doc, "ok", json_boolean(ok)) != 0 ||
        json_object_set(doc, "checks", list) != 0 || json_dumpf(doc, stdout, JSON_INDENT(2)) != 0)
        goto out;
    putchar('\n');
    rc = 0;
out:
    json_decref(list);
    json_decref(doc);
    return rc;
}

int aod_check_run(const aod_check_options *o, aod_error *err)
{
    checker c;
    int i, first = -1, problems = 0;

    memset(&c, 0, sizeof c);
    check_policy(&c, o);
    check_templates(&c, o);
    check_font(&c, o);
    check_database(&c, o);
    for (i = 0; i < N_CHECKS; i++) {
        if (c.f[i].st == ST_SKIPPED)
            snprintf(c.f[i].text, sizeof c.f[i].text, "not checked: an earlier check failed");
        if (c.f[i].st == ST_PROBLEM && problems++ == 0)
            first = i;
    }
    if (o->json) {
        if (print_json(&c) != 0)
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory writing JSON");
    } else {
        for (i = 0; i < N_CHECKS; i++)
            printf("%-9s %-7s %s\n", check_names[i], status_name(c.f[i].st), c.f[i].text);
    }
    if (first >= 0)
        aod_error_set(err, c.f[first].code, "check", 0, check_names[first],
                      "%d problem%s; the first: %s", problems, problems == 1 ? "" : "s",
                      c.f[first].text);
    aod_text_free(c.text);
    aod_policy_free(c.policy);
    return first >= 0 || err->code != AOD_OK ? -1 : 0;
}
