/*
 * test_pdf.c - the PDF renderer, judged from outside: every document is
 * checked by qpdf (the one tool whose exit code reports damage) and read
 * back with poppler's pdftotext, so the tests see what a reader sees.
 *
 * Cases: a long table (pages, the repeated header row, wrapped and broken
 * cells, "Page X of Y" on every page), names in three scripts, Spanish, the
 * privacy-office copy against the patient's, an empty report, a row taller
 * than a page, one embedded font only, determinism, the document info, and
 * failures that must leave the output empty.  Golden text (pdftotext -raw)
 * for two small reports is in tests/data/pdf/; AOD_UPDATE_GOLDEN=1 rewrites
 * it.
 *
 * poppler-utils and qpdf are required (tests/install-deps.sh installs
 * them): a missing tool fails the test, it does not skip it.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model/policy.h"
#include "render/pdf.h"
#include "model/text.h"
#include "model/entry.h"
#include "base/timefmt.h"

/* 2024-01-01T00:00:00Z .. 2025-01-01 (exclusive), generated 2025-01-15
 * 12:00Z, requested 2025-01-08 12:00Z. */
#define T_FROM INT64_C(1704067200000)
#define T_TO   INT64_C(1735689600000)
#define T_NOW  INT64_C(1736942400000)
#define T_REQ  INT64_C(1736337600000)
#define HOUR   INT64_C(3600000)
#define DAY    (24 * HOUR)

static char tmpdir[256];

/* ---------------------------------------------------------------- helpers */

static const char *srcdir(void)
{
    const char *top = getenv("top_srcdir");

    return top && *top ? top : ".";
}

static void tmp_path(char *out, size_t size, const char *name)
{
    int n = snprintf(out, size, "%s/%s", tmpdir, name);

    assert_true(n > 0 && (size_t)n < size);
}

/* Runs a shell command; returns its exit status (-1 when it did not exit). */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    int n, st;

    va_start(ap, fmt);
    n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof cmd);
    fflush(NULL);
    st = system(cmd);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long size;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    buf[size] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)size;
    return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0, len = strlen(needle);
    const char *p = hay;

    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += len;
    }
    return n;
}

/* Occurrences of needle in the len bytes at hay (which may hold NULs). */
static size_t count_bytes(const char *hay, size_t len, const char *needle)
{
    size_t n = 0, nl = strlen(needle), i;

    for (i = 0; i + nl <= len; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, nl) == 0)
            n++;
    return n;
}

static void must_contain(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("the PDF's text lacks \"%s\"", needle);
}

static void must_lack(const char *hay, const char *needle)
{
    if (strstr(hay, needle))
        fail_msg("the PDF's text has \"%s\"", needle);
}

/* ------------------------------------------------------------ the report */

static const char *org_address[] = {"1200 Harbor Boulevard", "Springfield, IL 62701"};
static const char *const patient_keys[] = {"urn:oid:2.16.840.1.113883.19.5|MRN-004211",
                                           "Patient/8841"};

static aod_policy test_policy(void)
{
    aod_policy p;

    memset(&p, 0, sizeof p);
    p.name = "test-policy";
    p.organisation.name = "Riverside Community Hospital";
    p.organisation.address = org_address;
    p.organisation.n_address = 2;
    p.organisation.privacy_name = "Privacy Office";
    p.organisation.privacy_phone = "+1 217 555 0142";
    p.organisation.privacy_email = "privacy@riverside.example.org";
    p.presentation.time_zone = "UTC";
    p.modes.access_failed = AOD_FAILED_SEPARATE;
    return p;
}

static aod_report_info test_info(const aod_policy *p, aod_mode mode, aod_audience audience,
                                 const char *lang)
{
    aod_report_info in;

    memset(&in, 0, sizeof in);
    in.mode = mode;
    in.audience = audience;
    in.lang = lang;
    in.patient_keys = patient_keys;
    in.n_patient_keys = 2;
    in.patient_name = "Zoë Ångström";
    in.from = T_FROM;
    in.to = T_TO;
    in.now = T_NOW;
    in.requested = T_REQ;
    in.policy = p;
    return in;
}

static aod_report_summary test_summary(long lines)
{
    aod_report_summary s;

    memset(&s, 0, sizeof s);
    s.records_read = 1204;
    s.events = 37 + lines;
    s.entries = lines;
    s.by_class[AOD_CLASS_DISCLOSURE] = lines + 2;
    s.by_class[AOD_CLASS_EXCLUDED] = 30;
    s.by_class[AOD_CLASS_INTERNAL] = 5;
    s.by_exclusion[AOD_EXCL_I] = 27;
    s.by_exclusion[AOD_EXCL_II] = 3;
    s.suspended = 2;
    return s;
}

/* One plain masked line. */
static aod_entry line(int64_t when, const char *who, const char *role)
{
    aod_entry e;

    memset(&e, 0, sizeof e);
    e.when_start = e.when_end = e.first = e.last = e.recorded = when;
    e.count = 1;
    e.raw_count = 2;
    e.cls = AOD_CLASS_DISCLOSURE;
    e.action = 'R';
    e.subtype_code = "disclose";
    e.shown_name = who;
    e.shown_role = role;
    e.data_kinds = "Observation,DiagnosticReport";
    e.where = "Riverside EHR";
    e.purpose_code = "HPAYMT";
    return e;
}

typedef void (*fill_fn)(long i, aod_entry *e);

typedef struct job {
    aod_mode mode;
    aod_audience audience;
    const char *lang;
    long lines;
    fill_fn fill;
    const aod_pdf_options *opts;
    const char *patient_name; /* NULL: the default; "" : none */
} job;

/* The summary the next render() hands over; NULL: none. */
static const aod_overview *job_overview;

/* A rendered document: its bytes, and its text as pdftotext reads it. */
typedef struct doc {
    char *pdf;
    size_t len;
    char *text; /* -layout, pages separated by form feeds */
    char *raw;  /* -raw: content-stream order */
    size_t pages;
} doc;

static aod_text *load_text(const char *lang)
{
    aod_error err;
    aod_text *t;

    aod_error_init(&err);
    t = aod_text_load(NULL, lang, &err);
    if (!t)
        fail_msg("templates for %s: %s", lang, err.text);
    return t;
}

/* Renders job to name.pdf in the temporary directory and reads it back. */
static doc render(const job *j, const char *name)
{
    aod_policy pol = test_policy();
    aod_report_info info = test_info(&pol, j->mode, j->audience, j->lang);
    aod_report_summary sum = test_summary(j->lines);
    aod_text *t = load_text(j->lang);

    sum.overview = job_overview; /* for this render only */
    job_overview = NULL;
    aod_error err;
    aod_sink *s;
    char path[512], txt[600], raw[600];
    FILE *out;
    doc d;
    long i;
    const char *p;

    if (j->patient_name)
        info.patient_name = *j->patient_name ? j->patient_name : NULL;
    tmp_path(path, sizeof path, name);
    out = fopen(path, "wb");
    assert_non_null(out);
    aod_error_init(&err);
    s = aod_pdf_sink_new(out, j->opts, t, &err);
    if (!s)
        fail_msg("aod_pdf_sink_new: %s", err.text);
    if (s->begin(s, &info, &err) != 0)
        fail_msg("begin: %s", err.text);
    for (i = 0; i < j->lines; i++) {
        aod_entry e;
        j->fill(i, &e);
        if (s->entry(s, &e, &err) != 0)
            fail_msg("entry %ld: %s", i, err.text);
    }
    if (s->end(s, &sum, &err) != 0)
        fail_msg("end: %s", err.text);
    s->free(s);
    assert_int_equal(fclose(out), 0);
    aod_text_free(t);

    if (run("qpdf --check '%s' >/dev/null 2>&1", path) != 0)
        fail_msg("qpdf --check rejects %s (is qpdf installed? tests/install-deps.sh)", path);
    snprintf(txt, sizeof txt, "%s.txt", path);
    snprintf(raw, sizeof raw, "%s.raw", path);
    if (run("pdftotext -layout -enc UTF-8 '%s' '%s' 2>/dev/null", path, txt) != 0 ||
        run("pdftotext -raw -enc UTF-8 '%s' '%s' 2>/dev/null", path, raw) != 0)
        fail_msg("pdftotext failed on %s (is poppler-utils installed?)", path);
    memset(&d, 0, sizeof d);
    d.pdf = read_file(path, &d.len);
    d.text = read_file(txt, NULL);
    d.raw = read_file(raw, NULL);
    for (p = d.text; *p; p++)
        d.pages += *p == '\f';
    return d;
}

static void doc_free(doc *d)
{
    free(d->pdf);
    free(d->text);
    free(d->raw);
}

/* Page i (0-based) of d's text, as a new string. */
static char *page_text(const doc *d, size_t i)
{
    const char *p = d->text, *end;
    char *s;

    while (i-- > 0) {
        p = strchr(p, '\f');
        assert_non_null(p);
        p++;
    }
    end = strchr(p, '\f');
    if (!end)
        end = p + strlen(p);
    s = malloc((size_t)(end - p) + 1);
    assert_non_null(s);
    memcpy(s, p, (size_t)(end - p));
    s[end - p] = '\0';
    return s;
}

/* Every page says "Page i of N" (page, of: the words), N the page count. */
static void check_page_numbers(const doc *d, const char *page, const char *of)
{
    size_t i;
    char want[64];

    assert_true(d->pages >= 1);
    for (i = 0; i < d->pages; i++) {
        char *pg = page_text(d, i);
        snprintf(want, sizeof want, "%s %zu %s %zu", page, i + 1, of, d->pages);
        if (!strstr(pg, want))
            fail_msg("page %zu lacks \"%s\"", i + 1, want);
        free(pg);
    }
}

/* The letter comes first (letter_mark on page 1), then the table: from its
 * first page on, every page has the header row (label) once, and no letter
 * page has it.  Returns the table's pages. */
static size_t check_header_rows(const doc *d, const char *label, const char *letter_mark)
{
    size_t i, table = 0;

    for (i = 0; i < d->pages; i++) {
        char *pg = page_text(d, i);
        size_t n = count(pg, label);
        if (i == 0)
            must_contain(pg, letter_mark);
        if (n > 0 || table > 0) {
            if (n != 1)
                fail_msg("page %zu has the header \"%s\" %zu times", i + 1, label, n);
            table++;
        }
        free(pg);
    }
    return table;
}

/* ----------------------------------------------------------------- lines */

static const char *const who[] = {"José Müller-Lüdenscheidt", "Ελένη Παπαδοπούλου",
                                  "Дмитрий Иванов", "Acme Health Insurance Co."};
static const char *const role[] = {"Registered nurse", "Cardiology", NULL, NULL};

/* A 300-character description of distinct words: w001 ... */
static char long_cell[512];

static void make_long_cell(void)
{
    size_t n = 0;
    int i;

    for (i = 1; n < 300; i++)
        n += (size_t)snprintf(long_cell + n, sizeof long_cell - n, "%sword%03d", i > 1 ? " " : "",
                              i);
}

#define LONG_WORD                                                                                  \
    "https://referrals.example.org/very/long/path/that/cannot/fit/on/one/line/of/any/cell/"        \
    "in/this/table?id=0123456789"

static void fill_long(long i, aod_entry *e)
{
    *e = line(T_FROM + i * 7 * HOUR, who[i % 4], role[i % 4]);
    if (i % 50 == 7)
        e->data = long_cell;
    if (i % 50 == 20)
        e->data = "A referral letter sent to " LONG_WORD " for review";
    if (i % 9 == 4) {
        e->flags |= AOD_ENTRY_SUMMARY;
        e->count = 14;
        e->last = e->when_start + 40 * DAY;
    }
    if (i % 4 == 3)
        e->shown_address = "PO Box 9000, Chicago, IL 60601";
}

static void fill_scripts(long i, aod_entry *e)
{
    *e = line(T_FROM + i * DAY, who[i % 4], role[i % 4]);
}

static void fill_access(long i, aod_entry *e)
{
    *e = line(T_FROM + i * 5 * HOUR + 17 * 60000, who[i % 4], role[i % 4]);
    e->subtype_code = "read";
    e->cls = AOD_CLASS_INTERNAL;
    if (i % 5 == 2) {
        e->flags |= AOD_ENTRY_FAILED;
        e->cls = AOD_CLASS_FAILED;
        e->outcome = "8";
    }
    if (i % 7 == 1) {
        e->flags |= AOD_ENTRY_SESSION;
        e->count = 4;
        e->when_end = e->last = e->when_start + 35 * 60000;
    }
    if (i % 3 == 0)
        e->purpose_code = NULL;
}

static void fill_suspended(long i, aod_entry *e)
{
    *e = line(T_FROM + i * DAY, who[i % 4], role[i % 4]);
    if (i == 1)
        e->flags |= AOD_ENTRY_SUSPENDED;
}

/* 6,000 characters: more lines than a page holds. */
static char huge_cell[6200];

static void fill_huge(long i, aod_entry *e)
{
    *e = line(T_FROM + i * DAY, who[i % 4], role[i % 4]);
    if (i == 2) {
        size_t n = 0;
        int k;
        for (k = 1; n < 6000; k++)
            n += (size_t)snprintf(huge_cell + n, sizeof huge_cell - n, "%shuge%04d",
                                  k > 1 ? " " : "", k);
        e->data = huge_cell;
    }
}

/* ----------------------------------------------------------------- tests */

static void long_table(void **state)
{
    job j = {AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en", 400, fill_long, NULL, NULL};
    doc d;
    char *squeezed, *q;
    const char *p;
    size_t table;

    (void)state;
    make_long_cell();
    d = render(&j, "long.pdf");
    assert_true(d.pages > 10);
    check_page_numbers(&d, "Page", "of");
    table = check_header_rows(&d, "Who received it", "Dear ");
    assert_true(table >= 10);
    assert_int_equal(count(d.text, "What information"), table);

    /* Every word of the 300-character cell, each time it occurs (8 rows). */
    for (p = long_cell; *p;) {
        char word[16];
        size_t n = strcspn(p, " ");
        memcpy(word, p, n);
        word[n] = '\0';
        if (count(d.text, word) != 8)
            fail_msg("\"%s\" appears %zu times, not 8", word, count(d.text, word));
        p += n + (p[n] == ' ');
    }
    /* A word wider than its column is broken, not cut: its pieces follow
     * one another in the content stream. */
    squeezed = strdup(d.raw);
    assert_non_null(squeezed);
    for (p = d.raw, q = squeezed; *p; p++)
        if (*p != '\n' && *p != ' ')
            *q++ = *p;
    *q = '\0';
    assert_int_equal(count(squeezed, LONG_WORD), 8);
    free(squeezed);

    /* Summaries give their count and dates. */
    must_contain(d.text, "14 disclosures: first");
    /* The letter. */
    must_contain(d.text, "Riverside Community Hospital");
    must_contain(d.text, "Accounting of disclosures of your health information");
    must_contain(d.text, "Zoë Ångström");
    must_contain(d.text, "MRN-004211");
    must_contain(d.text, "January 8, 2025");                      /* requested */
    must_contain(d.text, "January 1, 2024 to December 31, 2024"); /* to is exclusive */
    must_contain(d.text, "1,204 audit records");
    must_contain(d.text, "with your written permission"); /* an exclusion, in words */
    must_lack(d.text, "Response due");                    /* privacy office only */
    must_lack(d.text, "suspension");
    must_lack(d.text, "letter."); /* no template missing */
    doc_free(&d);
}

static void three_scripts(void **state)
{
    job j = {AOD_MODE_DISCLOSURES,   AOD_AUDIENCE_PATIENT, "en", 8, fill_scripts, NULL,
             "Ζωή Ångström-Смирнова"};
    doc d;
    size_t i;

    (void)state;
    d = render(&j, "scripts.pdf");
    for (i = 0; i < 4; i++)
        must_contain(d.text, who[i]);
    must_contain(d.text, "Ζωή Ångström-Смирнова");
    must_contain(d.text, "Dear Ζωή Ångström-Смирнова,");
    doc_free(&d);
}

static void spanish(void **state)
{
    job j = {AOD_MODE_ACCESS, AOD_AUDIENCE_PATIENT, "es", 120, fill_access, NULL, NULL};
    doc d;
    size_t table;

    (void)state;
    d = render(&j, "es.pdf");
    check_page_numbers(&d, "Página", "de");
    table = check_header_rows(&d, "Qué información", "Estimado/a");
    assert_true(table >= 2);
    must_contain(d.text, "Informe de accesos a su información de salud");
    must_contain(d.text, "15 de enero de 2025");
    must_contain(d.text, "del 1 de enero de 2024 al 31 de diciembre de 2024");
    must_contain(d.text, "Intentos fallidos"); /* the separate section */
    must_contain(d.text, "Leímos 1,204 registros de nuestra bitácora");
    must_contain(d.text, "2024-01-01 00:17"); /* access: date and time */
    must_contain(d.text, "4 accesos: del");
    must_lack(d.text, "letter.");
    doc_free(&d);
}

static void privacy_office_copy(void **state)
{
    job office = {
        AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PRIVACY_OFFICE, "en", 5, fill_suspended, NULL, NULL};
    job patient = office;
    doc o, p;

    (void)state;
    patient.audience = AOD_AUDIENCE_PATIENT;
    o = render(&office, "office.pdf");
    p = render(&patient, "patient.pdf");
    /* 60 days after 2025-01-08, and 30 more. */
    must_contain(o.text, "Privacy office copy");
    must_contain(o.text, "March 9, 2025 (60 days after the request)");
    must_contain(o.text, "April 8, 2025 (30 more days");
    must_contain(o.text, "27 events found"); /* exclusion (i) */
    must_contain(o.text, "2 disclosures were withheld");
    must_contain(o.text, "withheld at the");          /* the flag on the line (wrapped) */
    must_contain(o.text, "7 disclosures are listed"); /* suspended ones count here */
    must_lack(p.text, "Privacy office copy");
    must_lack(p.text, "Response due");
    must_lack(p.text, "withheld");
    must_lack(p.text, "events found");
    must_contain(p.text, "5 disclosures are listed");
    doc_free(&o);
    doc_free(&p);
}

static void fill_none(long i, aod_entry *e)
{
    (void)i;
    (void)e;
    fail_msg("no lines expected");
}

/* ------------------------------------------------------------- summary */

static const char *const staff_role[] = {"Nurse, Cardiology", "Physician, Emergency",
                                         "Clerk, Health Information Management",
                                         "Springfield County Department of Public Health"};

/* A summary of n lines as an ordinary patient's: staff lines for several
 * people over two years with four kinds of data and two reasons, an
 * outside organisation now and then, and one system line with a single
 * access (issue 16: "1 access were made"). */
static aod_overview make_overview(aod_overview_line *l, size_t n, long system_accesses)
{
    static const char *kinds[] = {"Encounter", "Observation", "DocumentReference",
                                  "MedicationAdministration", "Condition"};
    aod_overview ov;
    size_t i, k;

    memset(&ov, 0, sizeof ov);
    memset(l, 0, (n + 1) * sizeof *l);
    for (i = 0; i < n; i++) {
        l[i].section = i % 5 == 4 ? AOD_SECTION_ORGANISATION : AOD_SECTION_PERSON;
        l[i].name = staff_role[i % 4];
        l[i].first = T_FROM + (int64_t)i * DAY;
        l[i].last = T_FROM + (int64_t)(i + 300) * DAY;
        l[i].count = 20 + (long)i;
        l[i].records = l[i].count;
        l[i].people = i % 5 == 4 ? 1 : 3;
        if (i % 5 == 4)
            ov.organisations++;
        else
            ov.people += l[i].people;
        for (k = 0; k < 5; k++) {
            l[i].kinds[k] = kinds[k];
            l[i].kind_count[k] = 5 - (long)k;
        }
        l[i].n_kinds = 5;
        l[i].reason_code[0] = "TREAT";
        l[i].reason_code[1] = "HOPERAT";
        l[i].n_reasons = 2;
        l[i].no_reason = 3;
        ov.accesses += l[i].count;
    }
    l[n].section = AOD_SECTION_SYSTEM;
    l[n].name = "an automated system";
    l[n].action = 'E';
    l[n].first = l[n].last = T_FROM;
    l[n].count = system_accesses;
    l[n].people = 1;
    ov.lines = l;
    ov.n_lines = n + 1;
    ov.records = 1204;
    ov.systems = 1;
    ov.system_accesses = system_accesses;
    ov.accesses += system_accesses;
    return ov;
}

/* The page (0-based) whose text has str, or -1. */
static long page_with(const doc *d, const char *str)
{
    size_t i;

    for (i = 0; i < d->pages; i++) {
        char *pg = page_text(d, i);
        int hit = strstr(pg, str) != NULL;
        free(pg);
        if (hit)
            return (long)i;
    }
    return -1;
}

/* Issue 16 point 1: an ordinary patient's summary (14 people and
 * organisations, one system) fits on the page after the letter, one table
 * row each; a longer one says at its top that it continues, and its last
 * row is not left alone on a page. */
static void summary_fits_or_says_why(void **state)
{
    static aod_overview_line l[61];
    static aod_overview ov;
    job j = {AOD_MODE_ACCESS, AOD_AUDIENCE_PATIENT, "en", 3, fill_long, NULL, NULL};
    doc d;
    long first, last;
    char *pg;

    (void)state;
    ov = make_overview(l, 14, 1);
    job_overview = &ov;
    d = render(&j, "summary-22.pdf");
    first = page_with(&d, "Summary: who accessed");
    assert_true(first > 0);
    pg = page_text(&d, (size_t)first);
    must_contain(pg, "Our computer systems");
    must_contain(pg, "The detailed list follows.");
    must_contain(pg, "Short words in this table: tests: test results and observations");
    /* the verb agrees with one access */
    must_contain(d.raw, "Of these, 1 access was made");
    assert_null(strstr(d.text, "continues on the next page"));
    free(pg);
    doc_free(&d);

    ov = make_overview(l, 60, 2);
    job_overview = &ov;
    d = render(&j, "summary-60.pdf");
    first = page_with(&d, "Summary: who accessed");
    last = page_with(&d, "The detailed list follows.");
    assert_true(first > 0 && last > first);
    pg = page_text(&d, (size_t)first);
    must_contain(pg, "61 people, organizations and systems are listed, more than one page holds:");
    free(pg);
    must_contain(d.raw, "Of these, 2 accesses\nwere made");
    /* the summary's last page holds the header row and at least two rows
     * (each row's first day is its own) */
    pg = page_text(&d, (size_t)last);
    must_contain(pg, "First, last");
    assert_true(count(pg, "2024-") >= 4);
    free(pg);
    doc_free(&d);
}

static void fill_uniform(long i, aod_entry *e)
{
    *e = line(T_FROM + i * HOUR, "Pat Example", NULL);
}

/* Issue 16 point 2: the listing never leaves its last row alone on a page
 * when the row before it can go with it; the rows of every length of a
 * table of equal rows, one of which ends one row past a full page. */
static void no_lone_last_row(void **state)
{
    long n;
    int lone_case = 0;

    (void)state;
    for (n = 8; n <= 40; n++) {
        job j = {AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en", n, fill_uniform, NULL, NULL};
        char name[32];
        doc d;
        char *pg;
        size_t on_last, first_table;

        snprintf(name, sizeof name, "lone-%ld.pdf", n);
        d = render(&j, name);
        pg = page_text(&d, d.pages - 1);
        on_last = count(pg, "Pat Example");
        free(pg);
        pg = page_text(&d, d.pages - 2);
        first_table = count(pg, "Pat Example");
        free(pg);
        if (on_last < 2 && first_table > 0)
            fail_msg("%ld rows: the last page holds %zu row(s)", n, on_last);
        if (on_last == 2 && first_table > 0)
            lone_case = 1; /* the row before the last moved with it */
        doc_free(&d);
    }
    assert_true(lone_case);
}

static void empty_report(void **state)
{
    job j = {AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en", 0, fill_none, NULL, ""};
    doc d;

    (void)state;
    d = render(&j, "empty.pdf");
    must_contain(d.text, "We found no disclosures that this report must list");
    must_contain(d.text, "Dear patient,");
    must_lack(d.text, "Who received it");
    must_lack(d.text, "The list begins");
    check_page_numbers(&d, "Page", "of");
    doc_free(&d);
}

static void row_taller_than_a_page(void **state)
{
    job j = {AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en", 5, fill_huge, NULL, NULL};
    doc d;
    char word[16];
    int k;

    (void)state;
    d = render(&j, "huge.pdf");
    for (k = 1; k < 600; k++) {
        snprintf(word, sizeof word, "huge%04d", k);
        if (strstr(huge_cell, word) && count(d.text, word) != 1)
            fail_msg("\"%s\" appears %zu times", word, count(d.text, word));
    }
    check_page_numbers(&d, "Page", "of");
    assert_true(check_header_rows(&d, "Who received it", "Dear ") >= 3);
    doc_free(&d);
}

static void fill_host(long i, aod_entry *e)
{
    *e = line(T_FROM + i * DAY, who[i % 4], role[i % 4]);
    e->where = "records.riverside-community-hospital.example.org/patient-portal/v2";
    e->data = "https://fhir.riverside-community-hospital.example.org/DocumentReference/abc";
}

/* A host name or URL wider than its column breaks after a dot, a slash or
 * a hyphen: every label of it is still whole on some line. */
static void long_words_break_at_separators(void **state)
{
    static const char *const labels[] = {"records.",  "riverside-",         "community-",
                                         "hospital.", "example.",           "patient-",
                                         "portal/",   "DocumentReference/", NULL};
    job j = {AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en", 2, fill_host, NULL, NULL};
    doc d;
    size_t k;

    (void)state;
    d = render(&j, "hosts.pdf");
    for (k = 0; labels[k]; k++)
        if (!strstr(d.raw, labels[k]))
            fail_msg("\"%s\" is broken inside:\n%s", labels[k], d.raw);
    doc_free(&d);
}

static void one_font(void **state)
{
    aod_pdf_options regular_only = {NULL, "", NULL};
    job j = {AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en", 8, fill_scripts, NULL, NULL};
    doc two, one;
    size_t i;

    (void)state;
    two = render(&j, "two-fonts.pdf");
    j.opts = &regular_only;
    one = render(&j, "one-font.pdf");
    assert_true(one.len < two.len); /* one font file less */
    for (i = 0; i < 4; i++)
        must_contain(one.text, who[i]);
    must_contain(one.text, "What this report does not list"); /* a heading, stroked */
    assert_int_equal(count_bytes(one.pdf, one.len, "/FontFile2"), 1);
    assert_int_equal(count_bytes(two.pdf, two.len, "/FontFile2"), 2);
    doc_free(&two);
    doc_free(&one);
}

/* The first needle in [p, end) (which may hold NULs), or NULL. */
static const char *find_bytes(const char *p, const char *end, const char *needle)
{
    size_t nl = strlen(needle);

    for (; p + nl <= end; p++)
        if (*p == needle[0] && memcmp(p, needle, nl) == 0)
            return p;
    return NULL;
}

/* The glyph count (maxp) of each font file embedded in the PDF at path, as
 * qpdf writes it uncompressed; returns how many were found (at most max). */
static size_t embedded_glyphs(const char *path, unsigned *glyphs, size_t max)
{
    char qdf[600];
    char *d;
    size_t len, n = 0, i;
    const char *p;

    snprintf(qdf, sizeof qdf, "%s.qdf", path);
    assert_int_equal(run("qpdf --qdf --object-streams=disable '%s' '%s'", path, qdf), 0);
    d = read_file(qdf, &len);
    for (p = d; (p = find_bytes(p, d + len, "/Length1 ")) != NULL && n < max; p++) {
        const unsigned char *ttf = (const unsigned char *)find_bytes(p, d + len, "stream\n");
        unsigned tables;
        assert_non_null(ttf);
        ttf += 7;
        tables = (unsigned)ttf[4] << 8 | ttf[5];
        glyphs[n] = 0;
        for (i = 0; i < tables; i++) {
            const unsigned char *rec = ttf + 12 + 16 * i;
            if (memcmp(rec, "maxp", 4) == 0) {
                const unsigned char *maxp = ttf + ((size_t)rec[8] << 24 | (size_t)rec[9] << 16 |
                                                   (size_t)rec[10] << 8 | rec[11]);
                glyphs[n] = (unsigned)maxp[4] << 8 | maxp[5];
            }
        }
        n++;
    }
    free(d);
    return n;
}

/* A three-page letter embeds its two fonts cut to the characters it uses
 * (DejaVu has about 6,000 glyphs; libharu kept every glyph's tables, 190 KB
 * a letter), and still reads back as written in three scripts. */
static void subset_fonts(void **state)
{
    job j = {AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en", 12, fill_scripts, NULL, NULL};
    char path[512];
    unsigned glyphs[4];
    size_t i, n;
    doc d;

    (void)state;
    d = render(&j, "subset.pdf");
    assert_int_equal(d.pages, 3);
    if (d.len > 40 * 1024)
        fail_msg("a three-page letter is %zu bytes, more than 40 KB", d.len);
    for (i = 0; i < 4; i++)
        must_contain(d.text, who[i]);
    must_contain(d.text, "What this report does not list"); /* bold */
    tmp_path(path, sizeof path, "subset.pdf");
    n = embedded_glyphs(path, glyphs, 4);
    assert_int_equal(n, 2);
    for (i = 0; i < n; i++)
        if (glyphs[i] < 10 || glyphs[i] > 150)
            fail_msg("font file %zu of the letter has %u glyphs, not the few it uses", i,
                     glyphs[i]);
    doc_free(&d);
}

static void deterministic(void **state)
{
    job j = {AOD_MODE_ACCESS, AOD_AUDIENCE_PRIVACY_OFFICE, "en", 60, fill_access, NULL, NULL};
    struct timespec pause = {1, 100000000}; /* a clock would move */
    doc a, b;

    (void)state;
    a = render(&j, "a.pdf");
    nanosleep(&pause, NULL);
    b = render(&j, "b.pdf");
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.pdf, b.pdf, a.len);
    doc_free(&a);
    doc_free(&b);
}

static void document_info(void **state)
{
    job j = {AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "es", 3, fill_scripts, NULL, NULL};
    char path[512], info[600];
    doc d;
    char *text;

    (void)state;
    d = render(&j, "info.pdf");
    tmp_path(path, sizeof path, "info.pdf");
    snprintf(info, sizeof info, "%s.info", path);
    assert_int_equal(run("pdfinfo -enc UTF-8 '%s' >'%s' 2>/dev/null", path, info), 0);
    text = read_file(info, NULL);
    must_contain(text, "Registro de divulgaciones de su información de salud");
    must_contain(text, "Author:          Riverside Community Hospital");
    must_contain(text, "Periodo cubierto: del 1 de enero de 2024 al 31 de diciembre de 2024");
    must_contain(text, "Wed Jan 15 12:00:00 2025 UTC"); /* info->now, not the clock */
    must_lack(text, "PDF/A");
    assert_true(count_bytes(d.pdf, d.len, "/FlateDecode") > 0); /* compressed */
    free(text);
    doc_free(&d);
}

/* ------------------------------------------------------- every script */

/* Names in Arabic (joined letters, a lam-alef ligature), Hebrew, Chinese,
 * Japanese and Korean: right-to-left names shaped and reordered with
 * FriBidi, the CJK ones drawn with the fallback font. */
static const char *const world[] = {"محمد عبد الله", "שרה לוי", "王小明", "山田花子", "김민준"};
static const char *const world_role[] = {"طبيب", "אחות", "医生", "看護師", "간호사"};

static void fill_world(long i, aod_entry *e)
{
    *e = line(T_FROM + i * 20 * DAY, world[i % 5], world_role[i % 5]);
}

/* pdftotext, pdffonts and pdfinfo on the file at path say nothing on their
 * standard error (poppler warns about a bad ToUnicode map or font). */
static void poppler_quiet(const char *path)
{
    char err[600];
    char *text;

    snprintf(err, sizeof err, "%s.err", path);
    assert_int_equal(run("{ pdftotext '%s' /dev/null && pdffonts '%s' >/dev/null && "
                         "pdfinfo '%s' >/dev/null; } 2>'%s'",
                         path, path, path, err),
                     0);
    text = read_file(err, NULL);
    if (*text)
        fail_msg("poppler warns on %s: %s", path, text);
    free(text);
}

/* text without the embedding marks (U+202A..U+202E) pdftotext puts around
 * right-to-left runs, in place. */
static void strip_embeddings(char *text)
{
    char *r = text, *w = text;

    while (*r) {
        if ((unsigned char)r[0] == 0xE2 && (unsigned char)r[1] == 0x80 &&
            (unsigned char)r[2] >= 0xAA && (unsigned char)r[2] <= 0xAE) {
            r += 3;
            continue;
        }
        *w++ = *r++;
    }
    *w = '\0';
}

static void world_scripts(void **state)
{
    job j = {AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en", 15, fill_world, NULL, "ليلى أحمد"};
    char path[512], fonts[600];
    doc d;
    char *list;
    size_t i;

    (void)state;
    d = render(&j, "world.pdf");
    tmp_path(path, sizeof path, "world.pdf");
    poppler_quiet(path);
    strip_embeddings(d.text);
    /* Every name reads back as written (logical order, the letters, not
     * their presentation forms): what copy-paste and screen readers get. */
    for (i = 0; i < 5; i++) {
        must_contain(d.text, world[i]);
        must_contain(d.text, world_role[i]);
    }
    must_contain(d.text, "Dear ليلى أحمد,");
    must_lack(d.text, "\xEF\xBF\xBD"); /* no replacement character */
    /* Three fonts: DejaVu Sans, its bold, and the fallback for CJK, each
     * with a ToUnicode map. */
    snprintf(fonts, sizeof fonts, "%s.fonts", path);
    assert_int_equal(run("pdffonts '%s' >'%s' 2>/dev/null", path, fonts), 0);
    list = read_file(fonts, NULL);
    must_contain(list, "DejaVuSans-Bold");
    must_contain(list, "WenQuanYiMicroHei");
    assert_int_equal(count(list, "Identity-H       yes yes yes"), 3);
    free(list);
    doc_free(&d);
}

/* Arabic is drawn in presentation forms, right to left: the content stream
 * holds the isolated/final/medial/initial forms in visual order. */
static void arabic_shaped(void **state)
{
    job j = {AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en", 1, fill_world, NULL, "لا"};
    char path[512], qdf[600];
    doc d;
    char *raw;

    (void)state;
    d = render(&j, "arabic.pdf");
    tmp_path(path, sizeof path, "arabic.pdf");
    snprintf(qdf, sizeof qdf, "%s.qdf", path);
    assert_int_equal(run("qpdf --qdf --object-streams=disable '%s' '%s'", path, qdf), 0);
    raw = read_file(qdf, NULL);
    /* "محمد" in drawing order: final dal FEAA, medial meem FEE4, medial hah
     * FEA4, initial meem FEE3; the name's lam-alef is the ligature FEFB. */
    must_contain(raw, "feaafee4fea4fee3");
    must_contain(raw, "<fefb>");
    /* The ToUnicode map gives the letters back: the ligature is two, in
     * drawing order as the rest of the line (alef, lam). */
    must_contain(raw, "<FEFB> <06270644>");
    must_contain(raw, "<FEAA> <062F>");
    strip_embeddings(d.text);
    must_contain(d.text, "Dear لا,");
    free(raw);
    doc_free(&d);
}

/* /Lang, the title shown, and the outline: the letter, the table and its
 * months. */
/* The outline and catalog of the job's document, as qpdf reads them. */
static char *outline_json(const job *j, const char *name)
{
    char path[512], json[600];
    doc d;
    char *js;

    d = render(j, name);
    tmp_path(path, sizeof path, name);
    snprintf(json, sizeof json, "%s.json", path);
    assert_int_equal(run("qpdf --json --json-key=outlines --json-key=qpdf '%s' >'%s'", path, json),
                     0);
    js = read_file(json, NULL);
    doc_free(&d);
    return js;
}

static void structure(void **state)
{
    job es = {AOD_MODE_ACCESS, AOD_AUDIENCE_PATIENT, "es", 120, fill_access, NULL, NULL};
    job en = {AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en", 15, fill_world, NULL, NULL};
    char *js;

    (void)state;
    js = outline_json(&es, "structure-es.pdf");
    must_contain(js, "\"/Lang\": \"u:es\"");
    must_contain(js, "\"/DisplayDocTitle\": true");
    must_contain(js, "\"/PageMode\": \"/UseOutlines\"");
    must_contain(js, "\"title\": \"Carta\"");
    must_contain(js, "\"title\": \"Accesos a su información de salud\"");
    must_contain(js, "\"title\": \"Intentos fallidos\"");
    must_contain(js, "\"title\": \"enero de 2024\"");
    free(js);

    /* One bookmark per month of the listing, in order, each once. */
    js = outline_json(&en, "structure-en.pdf");
    must_contain(js, "\"/Lang\": \"u:en\"");
    must_contain(js, "\"title\": \"Letter\"");
    assert_int_equal(count(js, "\"title\": \"January 2024\""), 1);
    assert_int_equal(count(js, "\"title\": \"February 2024\""), 1);
    must_contain(js, "\"title\": \"October 2024\"");
    assert_true(strstr(js, "\"January 2024\"") < strstr(js, "\"October 2024\""));
    must_lack(js, "\"title\": \"November 2024\""); /* 15 lines 20 days apart */
    free(js);
}

/* Devanagari needs a shaping engine the PDF does not have (and DejaVu has
 * no Devanagari): the document is refused, naming the characters, where
 * they are, and the HTML output; nothing is written. */
static const char *devanagari = "राहुल शर्मा";

static void fill_devanagari(long i, aod_entry *e)
{
    *e = line(T_FROM + i * DAY, i == 2 ? devanagari : who[i % 4], role[i % 4]);
}

static long file_size(FILE *f);

static void refuses_what_it_cannot_draw(void **state)
{
    aod_policy pol = test_policy();
    aod_report_info info = test_info(&pol, AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en");
    aod_report_summary sum = test_summary(4);
    aod_text *t = load_text("en");
    FILE *out = tmpfile();
    aod_error err;
    aod_sink *s;
    long i;

    (void)state;
    assert_non_null(out);
    aod_error_init(&err);
    s = aod_pdf_sink_new(out, NULL, t, &err);
    assert_non_null(s);
    assert_int_equal(s->begin(s, &info, &err), 0);
    for (i = 0; i < 4; i++) {
        aod_entry e;
        fill_devanagari(i, &e);
        assert_int_equal(s->entry(s, &e, &err), 0);
    }
    assert_int_equal(s->end(s, &sum, &err), -1);
    assert_int_equal(err.code, AOD_ERR_TEMPLATES);
    must_contain(err.text, "U+0930 in table line 3, column \"Who received it\"");
    must_contain(err.text, "--format html");
    assert_int_equal(file_size(out), 0);
    s->free(s);
    fclose(out);

    /* The patient's own name is named as such. */
    info.patient_name = "अनीता";
    aod_error_init(&err);
    out = tmpfile();
    s = aod_pdf_sink_new(out, NULL, t, &err);
    assert_non_null(s);
    assert_int_equal(s->begin(s, &info, &err), 0);
    assert_int_equal(s->end(s, &sum, &err), -1);
    must_contain(err.text, "U+0905 in the patient's name");
    assert_int_equal(file_size(out), 0);
    s->free(s);
    fclose(out);

    /* Without a fallback font, Chinese is refused the same way. */
    {
        aod_pdf_options none = {NULL, NULL, ""};
        info.patient_name = "王小明";
        aod_error_init(&err);
        out = tmpfile();
        s = aod_pdf_sink_new(out, &none, t, &err);
        assert_non_null(s);
        assert_int_equal(s->begin(s, &info, &err), 0);
        assert_int_equal(s->end(s, &sum, &err), -1);
        must_contain(err.text, "U+738B in the patient's name");
        s->free(s);
        fclose(out);
    }
    aod_text_free(t);
}

/* ------------------------------------------------------------- failures */

static long file_size(FILE *f)
{
    assert_int_equal(fflush(f), 0);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    return ftell(f);
}

static void missing_font(void **state)
{
    aod_pdf_options opts = {"/nonexistent/NoSuchFont.ttf", NULL, NULL};
    aod_text *t = load_text("en");
    FILE *out = tmpfile();
    aod_error err;

    (void)state;
    assert_non_null(out);
    aod_error_init(&err);
    assert_null(aod_pdf_sink_new(out, &opts, t, &err));
    assert_int_equal(err.code, AOD_ERR_IO);
    assert_string_equal(err.source, "/nonexistent/NoSuchFont.ttf");
    assert_int_equal(file_size(out), 0);
    /* An explicit bold face must exist too. */
    opts.font_file = NULL;
    opts.bold_font_file = "/nonexistent/Bold.ttf";
    aod_error_init(&err);
    assert_null(aod_pdf_sink_new(out, &opts, t, &err));
    assert_int_equal(err.code, AOD_ERR_IO);
    fclose(out);
    aod_text_free(t);
}

static void not_a_font(void **state)
{
    aod_policy pol = test_policy();
    aod_report_info info = test_info(&pol, AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en");
    aod_report_summary sum = test_summary(0);
    aod_text *t = load_text("en");
    char path[512];
    aod_pdf_options opts = {NULL, NULL, NULL};
    FILE *out = tmpfile();
    aod_error err;
    aod_sink *s;

    (void)state;
    tmp_path(path, sizeof path, "not-a-font.ttf");
    write_file(path, "this is not a TrueType font\n", 28);
    opts.font_file = path;
    aod_error_init(&err);
    s = aod_pdf_sink_new(out, &opts, t, &err);
    assert_non_null(s); /* it can be opened: libharu finds out */
    assert_int_equal(s->begin(s, &info, &err), -1);
    assert_int_equal(err.code, AOD_ERR_IO);
    must_contain(err.text, "not a TrueType font");
    aod_error_init(&err);
    assert_int_equal(s->end(s, &sum, &err), -1);
    s->free(s);
    assert_int_equal(file_size(out), 0);
    fclose(out);
    aod_text_free(t);
}

static void unmasked_line_midway(void **state)
{
    aod_policy pol = test_policy();
    aod_report_info info = test_info(&pol, AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en");
    aod_report_summary sum = test_summary(0);
    aod_text *t = load_text("en");
    FILE *out = tmpfile();
    aod_error err;
    aod_sink *s;
    aod_entry e;
    long i;

    (void)state;
    aod_error_init(&err);
    s = aod_pdf_sink_new(out, NULL, t, &err);
    assert_non_null(s);
    assert_int_equal(s->begin(s, &info, &err), 0);
    for (i = 0; i < 80; i++) {
        fill_scripts(i, &e);
        assert_int_equal(s->entry(s, &e, &err), 0);
    }
    e.shown_name = NULL;
    assert_int_equal(s->entry(s, &e, &err), -1);
    assert_int_equal(err.code, AOD_ERR_INTERNAL);
    aod_error_init(&err);
    assert_int_equal(s->end(s, &sum, &err), -1);
    s->free(s);
    assert_int_equal(file_size(out), 0);
    fclose(out);
    aod_text_free(t);
}

static void write_fails(void **state)
{
    aod_policy pol = test_policy();
    aod_report_info info = test_info(&pol, AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en");
    aod_report_summary sum = test_summary(0);
    aod_text *t = load_text("en");
    char path[512];
    FILE *ro;
    aod_error err;
    aod_sink *s;

    (void)state;
    tmp_path(path, sizeof path, "read-only");
    write_file(path, "", 0);
    ro = fopen(path, "rb");
    assert_non_null(ro);
    aod_error_init(&err);
    s = aod_pdf_sink_new(ro, NULL, t, &err);
    assert_non_null(s);
    assert_int_equal(s->begin(s, &info, &err), 0);
    assert_int_equal(s->end(s, &sum, &err), -1);
    assert_int_equal(err.code, AOD_ERR_IO);
    s->free(s);
    fclose(ro);
    aod_text_free(t);
}

/* ------------------------------------------------------------ golden text */

static void golden(const job *j, const char *name)
{
    char pdf[64], want_path[1024];
    doc d;
    char *want;

    snprintf(pdf, sizeof pdf, "%s.pdf", name);
    d = render(j, pdf);
    snprintf(want_path, sizeof want_path, "%s/tests/data/pdf/%s.txt", srcdir(), name);
    if (getenv("AOD_UPDATE_GOLDEN")) {
        write_file(want_path, d.raw, strlen(d.raw));
        print_message("rewrote %s\n", want_path);
    }
    want = read_file(want_path, NULL);
    if (strcmp(want, d.raw) != 0) {
        char got[512];
        tmp_path(got, sizeof got, pdf);
        fail_msg("the text of %s differs from %s (see: diff %s %s.raw)", pdf, want_path, want_path,
                 got);
    }
    free(want);
    doc_free(&d);
}

static void golden_disclosures_en(void **state)
{
    job j = {AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en", 6, fill_long, NULL, NULL};

    (void)state;
    golden(&j, "disclosures-patient-en");
}

static void golden_access_office_es(void **state)
{
    job j = {AOD_MODE_ACCESS, AOD_AUDIENCE_PRIVACY_OFFICE, "es", 12, fill_access, NULL, NULL};

    (void)state;
    golden(&j, "access-office-es");
}

/* ------------------------------------------------------------------ main */

static int setup(void **state)
{
    char dir[1024];
    const char *base = getenv("TMPDIR");
    aod_error err;

    (void)state;
    snprintf(dir, sizeof dir, "%s/templates", srcdir());
    if (setenv("AOD_TEMPLATE_DIR", dir, 1) != 0)
        return -1;
    snprintf(tmpdir, sizeof tmpdir, "%s/test_pdf.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir))
        return -1;
    aod_error_init(&err);
    return aod_timefmt_set_zone("UTC", &err);
}

static int teardown(void **state)
{
    (void)state;
    if (!getenv("AOD_KEEP_TMP"))
        run("rm -rf '%s'", tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(long_table),
        cmocka_unit_test(three_scripts),
        cmocka_unit_test(spanish),
        cmocka_unit_test(privacy_office_copy),
        cmocka_unit_test(empty_report),
        cmocka_unit_test(summary_fits_or_says_why),
        cmocka_unit_test(no_lone_last_row),
        cmocka_unit_test(row_taller_than_a_page),
        cmocka_unit_test(long_words_break_at_separators),
        cmocka_unit_test(one_font),
        cmocka_unit_test(subset_fonts),
        cmocka_unit_test(deterministic),
        cmocka_unit_test(document_info),
        cmocka_unit_test(missing_font),
        cmocka_unit_test(not_a_font),
        cmocka_unit_test(unmasked_line_midway),
        cmocka_unit_test(write_fails),
        cmocka_unit_test(world_scripts),
        cmocka_unit_test(arabic_shaped),
        cmocka_unit_test(structure),
        cmocka_unit_test(refuses_what_it_cannot_draw),
        cmocka_unit_test(golden_disclosures_en),
        cmocka_unit_test(golden_access_office_es),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
