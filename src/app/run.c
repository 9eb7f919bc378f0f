/*
 * run.c - one report from the store to its files (see run.h).
 *
 * Wiring only: the stages live in report.c, the renderers in render/, the
 * database in store.c.  What this file adds is the order that keeps every
 * published file accounted for: render to temporaries, checksum, self-audit,
 * then rename.
 */
#include "app/run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/embedded.h"
#include "base/outfile.h"
#include "model/record.h"
#include "render/bundle.h"
#include "render/digest.h"
#include "render/explain.h"
#include "render/html.h"
#include "render/mhd.h"
#include "render/pdf.h"
#include "render/signature.h"
#include "render/xlsx.h"
#include "base/timefmt.h"

#define MAX_OUTPUTS AOD_RUN_MAX_OUTPUTS

/* ---------------------------------------------------------------- helpers */

const char *aod_run_policy_path(const char *option, aod_policy_origin *origin)
{
    const char *env = getenv("AODREPORT_POLICY");
    aod_policy_origin o = AOD_POLICY_OPTION;
    const char *path = option;

    if (!path && env && *env) {
        o = AOD_POLICY_ENV;
        path = env;
    } else if (!path) {
        o = AOD_POLICY_SYSTEM;
        path = AOD_SYSCONF_POLICY;
    }
    if (origin)
        *origin = o;
    return path;
}

aod_policy *aod_run_load_policy_file(const char *path, unsigned char *digest, aod_error *err)
{
    const aod_embedded_file *xsd = aod_embedded_find("data/policy.xsd");
    aod_policy *p = NULL;
    aod_buf xml;
    FILE *f;
    char chunk[8192];
    size_t n;

    if (!xsd) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL,
                      "policy schema missing from the program");
        return NULL;
    }
    f = fopen(path, "rb");
    if (!f) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "cannot open the policy: %s",
                      strerror(errno));
        return NULL;
    }
    aod_buf_init(&xml, (size_t)16 * 1024 * 1024);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (aod_buf_add(&xml, chunk, n) != 0) {
            aod_error_set(err, AOD_ERR_POLICY, path, 0, NULL, "the policy file is too large");
            goto out;
        }
    }
    if (ferror(f)) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "read error");
        goto out;
    }
    if (digest)
        aod_sha256(xml.data, xml.len, digest);
    p = aod_policy_load_memory(aod_buf_str(&xml), xml.len, path, xsd->data, xsd->len, err);
out:
    fclose(f);
    aod_buf_free(&xml);
    return p;
}

aod_policy *aod_run_load_policy(const char *option, unsigned char *digest, aod_error *err)
{
    aod_policy_origin origin;
    const char *path = aod_run_policy_path(option, &origin);
    const char *from = origin == AOD_POLICY_ENV ? " (from AODREPORT_POLICY)" : "";
    struct stat sb;
    aod_policy *p;

    /* No site policy: say which file to create rather than "cannot open". */
    if (origin != AOD_POLICY_OPTION && stat(path, &sb) != 0 && errno == ENOENT) {
        aod_error_set(err, AOD_ERR_CONFIG, path, 0, NULL,
                      "no site policy%s: create this file from %s/policies/demo.xml with your "
                      "organisation, privacy office and network domains (doc/policy.md), or "
                      "name a policy with --policy; 'aodreport check' says what is missing",
                      from, AOD_DATADIR);
        return NULL;
    }
    p = aod_run_load_policy_file(path, digest, err);
    if (p && p->demo && origin != AOD_POLICY_OPTION) {
        aod_error_set(err, AOD_ERR_CONFIG, path, 0, NULL,
                      "the site policy%s is still the demonstration (demo=\"true\"): its "
                      "organisation and domains are placeholders; put in your own and remove "
                      "demo=\"true\" ('aodreport check' lists what is still the example), or "
                      "name the demo with --policy to write a demonstration report",
                      from);
        aod_policy_free(p);
        return NULL;
    }
    return p;
}

int aod_run_period(const aod_policy *policy, const char *now, const char *from, const char *to,
                   aod_report_info *info, aod_error *err)
{
    if (now) {
        if (aod_run_parse_when("--now", now, 0, &info->now, err) != 0)
            return -1;
    } else {
        info->now = aod_timefmt_now();
    }
    info->to = info->now;
    if (to && aod_run_parse_when("--to", to, 1, &info->to, err) != 0)
        return -1;
    info->from = aod_report_default_from(policy, info->mode, info->now);
    if (from && aod_run_parse_when("--from", from, 0, &info->from, err) != 0)
        return -1;
    if (info->from >= info->to) {
        aod_error_set(err, AOD_ERR_USAGE, "--from", 0, NULL,
                      "the period is empty (--from is not before --to)");
        return -1;
    }
    return 0;
}

int aod_run_parse_when(const char *opt, const char *s, int end_of_day, int64_t *ms, aod_error *err)
{
    int y, m, d, n = 0;

    if (sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && s[n] == '\0' && n == 10) {
        struct tm tm;
        time_t t;
        int64_t check;
        memset(&tm, 0, sizeof tm);
        tm.tm_year = y - 1900;
        tm.tm_mon = m - 1;
        tm.tm_mday = d + (end_of_day ? 1 : 0);
        tm.tm_isdst = -1;
        t = mktime(&tm);
        /* mktime normalises 2025-02-30 to March: reject what changed. */
        if (t == (time_t)-1 || aod_time_parse(s, &check) != 0) {
            aod_error_set(err, AOD_ERR_USAGE, opt, 0, NULL, "'%s' is not a valid date", s);
            return -1;
        }
        *ms = (int64_t)t * 1000;
        return 0;
    }
    if (aod_time_parse(s, ms) != 0) {
        aod_error_set(err, AOD_ERR_USAGE, opt, 0, NULL,
                      "'%s' is not a date (YYYY-MM-DD) or timestamp (YYYY-MM-DDThh:mm:ssZ)", s);
        return -1;
    }
    return 0;
}

static const struct {
    const char *name, *ext;
} formats[] = {{"csv", "csv"},
               {"pdf", "pdf"},
               {"html", "html"},
               {"xlsx", "xlsx"},
               {"bundle-json", "json"},
               {"bundle-xml", "xml"},
               {"mhd", "mhd.json"},
               {"mhd-html", "mhd-html.json"},
               {"mhd-simplified", "mhd-simplified.json"},
               {"mhd-simplified-html", "mhd-simplified-html.json"},
               {"csv-summary", "summary.csv"},
               {"csv-completeness", "completeness.csv"}};

const char *aod_run_format_ext(const char *format)
{
    size_t i;

    for (i = 0; format && i < sizeof formats / sizeof formats[0]; i++)
        if (strcmp(format, formats[i].name) == 0)
            return formats[i].ext;
    return NULL;
}

int aod_run_format_known(const char *format)
{
    return aod_run_format_ext(format) != NULL;
}

static aod_sink *make_sink(const char *format, FILE *out, const aod_text *text,
                           const aod_run_options *o, aod_error *err)
{
    aod_pdf_options po; /* the PDF's, also for the PDF an MHD submission carries */

    if (o->extra_sink) {
        aod_sink *s = o->extra_sink(o->extra_ctx, format, out, text, err);
        if (s || err->code != AOD_OK)
            return s;
    }
    if (strcmp(format, "csv") == 0)
        return aod_csv_sink_new(out, &o->csv, text, NULL, NULL, err);
    if (strcmp(format, "csv-completeness") == 0)
        return aod_csv_completeness_sink_new(out, &o->csv, text, err);
    if (strcmp(format, "csv-summary") == 0)
        return aod_csv_summary_sink_new(out, &o->csv, text, err);
    memset(&po, 0, sizeof po);
    po.font_file = o->font;
    po.fallback_font_file = o->fallback_font;
    if (strcmp(format, "pdf") == 0)
        return aod_pdf_sink_new(out, &po, text, err);
    if (strcmp(format, "html") == 0)
        return aod_html_sink_new(out, text, err);
    if (strcmp(format, "xlsx") == 0)
        return aod_xlsx_sink_new(out, text, err);
    if ((strcmp(format, "bundle-json") == 0 || strcmp(format, "bundle-xml") == 0) && o->sign_key) {
        /* the document is written as JSON to a temporary file, then signed
         * and written in its format (the XML form from the same values) */
        FILE *tmp = tmpfile();
        aod_sink *inner;
        if (!tmp) {
            aod_error_set(err, AOD_ERR_IO, NULL, 0, NULL,
                          "cannot make a temporary file for the document to sign");
            return NULL;
        }
        inner = aod_bundle_sink_new(tmp, AOD_BUNDLE_JSON, text, err);
        if (!inner) {
            fclose(tmp);
            return NULL;
        }
        return aod_signature_sink_new_as(
            inner, tmp, out, o->sign_key,
            strcmp(format, "bundle-xml") == 0 ? AOD_BUNDLE_XML : AOD_BUNDLE_JSON, err);
    }
    if (strcmp(format, "bundle-json") == 0)
        return aod_bundle_sink_new(out, AOD_BUNDLE_JSON, text, err);
    if (strcmp(format, "bundle-xml") == 0)
        return aod_bundle_sink_new(out, AOD_BUNDLE_XML, text, err);
    if (strncmp(format, "mhd", 3) == 0 && aod_run_format_known(format))
        return aod_mhd_sink_new(
            out, strstr(format, "simplified") ? AOD_MHD_SIMPLIFIED : AOD_MHD_PROVIDE,
            strstr(format, "html") ? AOD_MHD_HTML : AOD_MHD_PDF, &po, o->sign_key, text, err);
    aod_error_set(err, AOD_ERR_USAGE, "--format", 0, NULL,
                  "unknown format '%s' (known: csv, csv-summary, csv-completeness, pdf, html, "
                  "xlsx, bundle-json, bundle-xml, mhd, mhd-html, mhd-simplified, "
                  "mhd-simplified-html)",
                  format);
    return NULL;
}

/* ------------------------------------------------- explain --ref: records */

/* The explain view of one line: each raw record also with the AuditEvent
 * the store holds for it (a few records, so one query each). */
typedef struct raw_sink {
    aod_trace_sink base;
    aod_trace_sink *inner;
    aod_store *st;
    aod_buf json;
} raw_sink;

static int raw_begin(aod_trace_sink *b, aod_error *err)
{
    raw_sink *s = (raw_sink *)b;
    return s->inner->begin(s->inner, err);
}

static int raw_trace(aod_trace_sink *b, const aod_trace *t, aod_error *err)
{
    raw_sink *s = (raw_sink *)b;
    aod_trace copy = *t;

    if (aod_store_event_resource(s->st, t->record_id, &s->json, err) != 0)
        return -1;
    copy.resource = s->json.len ? aod_buf_str(&s->json) : NULL;
    return s->inner->trace(s->inner, &copy, err);
}

static int raw_end(aod_trace_sink *b, aod_error *err)
{
    raw_sink *s = (raw_sink *)b;
    return s->inner->end(s->inner, err);
}

static void raw_free(aod_trace_sink *b)
{
    raw_sink *s = (raw_sink *)b;

    if (!s)
        return;
    aod_buf_free(&s->json);
    free(s);
}

/* ------------------------------------------------------------- tee sink */

/* Several renderers fed from one pass over the store. */
typedef struct tee_sink {
    aod_sink base;
    aod_sink **v;
    size_t n;
} tee_sink;

static int tee_begin(aod_sink *s, const aod_report_info *info, aod_error *err)
{
    tee_sink *t = (tee_sink *)s;
    size_t i;

    for (i = 0; i < t->n; i++)
        if (t->v[i]->begin(t->v[i], info, err) != 0)
            return -1;
    return 0;
}

static int tee_entry(aod_sink *s, const aod_entry *e, aod_error *err)
{
    tee_sink *t = (tee_sink *)s;
    size_t i;

    for (i = 0; i < t->n; i++)
        if (t->v[i]->entry(t->v[i], e, err) != 0)
            return -1;
    return 0;
}

static int tee_end(aod_sink *s, const aod_report_summary *sum, aod_error *err)
{
    tee_sink *t = (tee_sink *)s;
    size_t i;

    for (i = 0; i < t->n; i++)
        if (t->v[i]->end(t->v[i], sum, err) != 0)
            return -1;
    return 0;
}

/* Frees the tee only: the sinks it feeds belong to the caller. */
static void tee_free(aod_sink *s)
{
    free(s);
}

/* ------------------------------------------------------------------ run */

static int interrupted(const volatile sig_atomic_t *stop, aod_error *err)
{
    if (stop && *stop) {
        aod_error_set(err, AOD_ERR_INTERRUPTED, NULL, 0, NULL, "interrupted");
        return 1;
    }
    return 0;
}

/* SHA-256 and size of the bytes written to o, read back from its start. */
static int out_digest(const aod_outfile *o, const char *name, char *hex, long long *size,
                      aod_error *err)
{
    unsigned char buf[65536], digest[AOD_SHA256_DIGEST_LEN];
    aod_sha256_ctx c;
    long long total = 0;
    int fd = aod_outfile_read_fd(o);

    aod_sha256_init(&c);
    for (;;) {
        ssize_t n = pread(fd, buf, sizeof buf, (off_t)total);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            aod_error_set(err, AOD_ERR_IO, name, 0, NULL, "cannot read back the output: %s",
                          strerror(errno));
            aod_sha256_final(&c, digest); /* releases the hash (sha256.h) */
            return -1;
        }
        if (n == 0)
            break;
        aod_sha256_update(&c, buf, (size_t)n);
        total += n;
    }
    aod_sha256_final(&c, digest);
    aod_sha256_hex(digest, sizeof digest, hex);
    *size = total;
    return 0;
}

static int is_stdout(const char *path)
{
    return !path || strcmp(path, "-") == 0;
}

static const char *base_name(const char *path)
{
    const char *slash;

    if (is_stdout(path))
        return "-";
    slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void sleep_ms(long ms)
{
    struct timespec ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* When this process first wrote a self-audit: with the pid, it tells this
 * process from an earlier one that had the same pid.  A batch worker is
 * forked before it writes any, so each worker has its own. */
static int64_t process_started(void)
{
    static int64_t t;
    static pid_t owner;

    if (!t || owner != getpid()) {
        t = aod_timefmt_now();
        owner = getpid();
    }
    return t;
}

/* The stored search outcomes of a report's keys, copied (the store's rows
 * go with its result): at most AOD_RUN_OUTCOMES, each cut at a character
 * boundary to fit. */
#define AOD_RUN_OUTCOMES 8
typedef struct outcomes {
    char text[AOD_RUN_OUTCOMES][400];
    const char *v[AOD_RUN_OUTCOMES];
    size_t n;
} outcomes;

static int take_outcome(void *ctx, const char *message, aod_error *err)
{
    outcomes *o = ctx;
    size_t n = strlen(message);
    char *t;

    (void)err;
    if (o->n >= AOD_RUN_OUTCOMES)
        return 0;
    t = o->text[o->n];
    if (n >= sizeof o->text[0]) {
        n = sizeof o->text[0] - 1;
        while (n > 0 && ((unsigned char)message[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(t, message, n);
    t[n] = '\0';
    o->v[o->n] = t;
    o->n++;
    return 0;
}

/* ------------------------------------------------------------ site facts */

typedef struct facts_ctx {
    aod_facts *f;
} facts_ctx;

/* A site input's date as the day in the policy's zone: its start, or with
 * end_of_day the next day's start; absent dates are open ends. */
static int site_day(const char *v, int end_of_day, int64_t *ms, aod_error *err)
{
    if (!v || !*v) {
        *ms = end_of_day ? AOD_FACTS_NO_END : AOD_FACTS_NO_START;
        return 0;
    }
    return aod_run_parse_when("site input", v, end_of_day, ms, err);
}

static int take_staff(void *ctx, const char *const *v, size_t n, aod_error *err)
{
    facts_ctx *c = ctx;
    int64_t start, end;

    if (n < 8 || site_day(v[5], 0, &start, err) != 0 || site_day(v[6], 1, &end, err) != 0)
        return -1;
    if (aod_facts_add_staff(c->f, v[0], v[1], v[2], v[3], v[4], start, end, v[7]) != 0) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory reading the roster");
        return -1;
    }
    return 0;
}

static int take_patient(void *ctx, const char *const *v, size_t n, aod_error *err)
{
    facts_ctx *c = ctx;

    if (n < 6)
        return -1;
    if (aod_facts_add_patient(c->f, v[1], v[2], v[3] && v[3][0] == 't', v[4],
                              v[5] && v[5][0] == 't') != 0) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory reading patient facts");
        return -1;
    }
    return 0;
}

static int take_care(void *ctx, const char *const *v, size_t n, aod_error *err)
{
    facts_ctx *c = ctx;
    int64_t from, to;

    if (n < 4 || site_day(v[2], 0, &from, err) != 0 || site_day(v[3], 1, &to, err) != 0)
        return -1;
    if (aod_facts_add_care(c->f, v[1], from, to) != 0) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL,
                      "out of memory reading care relationships");
        return -1;
    }
    return 0;
}

/* What the site knows, for the privacy office's copy: read once, before the
 * first event (model/facts.h).  The roster is read whole: finding the staff
 * keys of the patient's events first would read every event twice
 * (doc/privacy-office.md, "Cost"); the patient's facts and care
 * relationships by the report's keys.  Only when a flag needs them. */
aod_facts *aod_run_read_facts(aod_store *st, const aod_report_info *info, aod_error *err)
{
    const unsigned roster_flags = (1u << AOD_AFLAG_SAME_SURNAME) | (1u << AOD_AFLAG_SAME_ADDRESS) |
                                  (1u << AOD_AFLAG_CO_WORKER) | (1u << AOD_AFLAG_SELF_ACCESS) |
                                  (1u << AOD_AFLAG_FAMILY) | (1u << AOD_AFLAG_OUTSIDE_EMPLOYMENT) |
                                  (1u << AOD_AFLAG_NO_RELATIONSHIP);
    const unsigned patient_flags = (1u << AOD_AFLAG_SAME_SURNAME) | (1u << AOD_AFLAG_SAME_ADDRESS) |
                                   (1u << AOD_AFLAG_CO_WORKER) | (1u << AOD_AFLAG_VIP) |
                                   (1u << AOD_AFLAG_FAMILY);
    unsigned on = info->policy->access_flags.enabled;
    facts_ctx c;
    int roster = 0, patient = 0, care = 0;

    c.f = aod_facts_new();
    if (!c.f) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return NULL;
    }
    if ((on & roster_flags) &&
        aod_store_site_read(st, AOD_SITE_ROSTER, NULL, 0, take_staff, &c, &roster, err) != 0)
        goto fail;
    /* a digest says when the record is restricted, flag or not */
    if (((on & patient_flags) || info->notify) &&
        aod_store_site_read(st, AOD_SITE_PATIENT_FACTS, info->patient_keys, info->n_patient_keys,
                            take_patient, &c, &patient, err) != 0)
        goto fail;
    /* the care list also explains accesses (coverage), flags or not */
    if (aod_store_site_read(st, AOD_SITE_CARE, info->patient_keys, info->n_patient_keys, take_care,
                            &c, &care, err) != 0)
        goto fail;
    aod_facts_set_loaded(c.f, roster, patient, care);
    aod_facts_finish(c.f);
    return c.f;
fail:
    aod_facts_free(c.f);
    return NULL;
}

/* The group's care lists: each row to the report of its key. */
typedef struct keyed {
    const char *key;
    size_t k; /* its index in the group */
} keyed;

typedef struct group_care {
    const keyed *order; /* the group's keys, sorted by strcmp */
    size_t n;
    const unsigned char *skip;
    aod_facts **out;
} group_care;

static int keyed_cmp(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->k > y->k) - (x->k < y->k);
}

static int take_group_care(void *ctx, const char *const *v, size_t n, aod_error *err)
{
    group_care *g = ctx;
    size_t lo = 0, hi = g->n;
    facts_ctx c;

    if (n < 4 || !v[0])
        return -1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(g->order[mid].key, v[0]) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* a key twice in the group: every report of it gets the row */
    for (; lo < g->n && strcmp(g->order[lo].key, v[0]) == 0; lo++) {
        size_t k = g->order[lo].k;
        if (g->skip && g->skip[k])
            continue;
        if (!g->out[k] && !(g->out[k] = aod_facts_new())) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
            return -1;
        }
        c.f = g->out[k];
        if (take_care(&c, v, n, err) != 0)
            return -1;
    }
    return 0;
}

int aod_run_read_care_group(aod_store *st, const char *const *keys, size_t n,
                            const unsigned char *skip, aod_facts **out, aod_error *err)
{
    group_care g;
    keyed *order = NULL;
    size_t k;
    int rc = -1;

    for (k = 0; k < n; k++)
        out[k] = NULL;
    if (n == 0)
        return 0;
    order = malloc(n * sizeof *order);
    if (!order) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return -1;
    }
    for (k = 0; k < n; k++) {
        order[k].key = keys[k];
        order[k].k = k;
    }
    qsort(order, n, sizeof *order, keyed_cmp);
    g.order = order;
    g.n = n;
    g.skip = skip;
    g.out = out;
    if (aod_store_site_read(st, AOD_SITE_CARE, keys, n, take_group_care, &g, NULL, err) != 0)
        goto out;
    for (k = 0; k < n; k++)
        if (out[k]) {
            aod_facts_set_loaded(out[k], 0, 0, 1);
            aod_facts_finish(out[k]);
        }
    rc = 0;
out:
    if (rc != 0)
        for (k = 0; k < n; k++) {
            aod_facts_free(out[k]);
            out[k] = NULL;
        }
    free(order);
    return rc;
}

aod_facts *aod_run_read_care(aod_store *st, const aod_report_info *info, aod_error *err)
{
    facts_ctx c;
    int care = 0;

    c.f = aod_facts_new();
    if (!c.f) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return NULL;
    }
    if (aod_store_site_read(st, AOD_SITE_CARE, info->patient_keys, info->n_patient_keys, take_care,
                            &c, &care, err) != 0) {
        aod_facts_free(c.f);
        return NULL;
    }
    aod_facts_set_loaded(c.f, 0, 0, care);
    aod_facts_finish(c.f);
    return c.f;
}

/* What the self-audit of a finished job records (files: MAX_OUTPUTS), by
 * os_user on host (aod_selfaudit_whoami()). */
static void selfaudit_of(const aod_run_job *j, aod_selfaudit *a, aod_selfaudit_file *files,
                         const char *os_user, const char *host);

/* Records the run; a failure is the run's failure (selfaudit.h says why). */
static int self_audit(aod_store *st, const aod_run_job *j, char *id_out, aod_error *err)
{
    aod_selfaudit_file files[MAX_OUTPUTS];
    aod_selfaudit a;
    char os_user[128], host[256];
    aod_error aerr;

    aod_selfaudit_whoami(os_user, sizeof os_user, host, sizeof host);
    selfaudit_of(j, &a, files, os_user, host);
    a.db_user = aod_store_user(st);
    aod_error_init(&aerr);
    if (aod_selfaudit_write(st, &a, id_out, NULL, &aerr) != 0) {
        char msg[700];
        aod_error_set(err, aerr.code, "self-audit", 0, NULL,
                      "the report could not be recorded as an access in the store, so it was not "
                      "written (%s)",
                      aod_error_format(&aerr, msg, sizeof msg));
        return -1;
    }
    return 0;
}

/* One report on its way: the outputs open under temporary names, the
 * pipeline fed row by row. */
struct aod_run_job {
    aod_outfile *files[MAX_OUTPUTS];
    aod_sink *sinks[MAX_OUTPUTS];
    aod_trace_sink *explainer;
    tee_sink *tee;
    aod_report *rep;
    aod_report_info info; /* with the search outcomes (and the site facts) */
    aod_facts *facts;     /* privacy office and explain only */
    aod_facts *care;      /* the care list, for the other reports (info.care) */
    outcomes found;
    aod_run_output *outs;
    size_t n_outs;
    int explain, finished;
    const aod_run_options *opts;
    int64_t started;
    char self_audit_id[AOD_SELFAUDIT_ID_LEN];
    aod_store_completeness *complete; /* the completeness statement's store facts */
    raw_sink *raw;                    /* explain --ref: records with their events */
    /* batch --notify: the digest, its two files, and the tee's sinks (the
     * outputs' and the digest's) */
    aod_digest *digest;
    const aod_text *text;
    aod_outfile *digest_files[2];
    aod_run_output digest_outs[2];
    size_t n_digest;
    aod_sink *tee_v[MAX_OUTPUTS + 1];
};

aod_run_job *aod_run_begin(aod_store *st, const aod_report_info *info, const aod_text *text,
                           int explain, aod_run_output *outs, size_t n_outs,
                           const aod_run_options *opts, const char *const *outcome_msgs,
                           size_t n_outcome_msgs, aod_error *err)
{
    aod_run_job *j;
    aod_sink *sink;
    size_t i;

    if (n_outs == 0 || n_outs > MAX_OUTPUTS || (explain && n_outs != 1)) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "bad number of outputs (%zu)", n_outs);
        return NULL;
    }
    j = calloc(1, sizeof *j);
    if (!j) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return NULL;
    }
    j->outs = outs;
    j->n_outs = n_outs;
    j->explain = explain;
    j->opts = opts;
    j->text = text;
    j->started = aod_timefmt_now();
    for (i = 0; i < n_outs; i++) {
        FILE *stream;
        if (outs[i].at_dir)
            j->files[i] = aod_outfile_openat(outs[i].dir_fd, outs[i].path, outs[i].path, err);
        else
            j->files[i] = aod_outfile_open(outs[i].path, err);
        if (!j->files[i])
            goto fail;
        if (opts->defer_sync)
            aod_outfile_defer_sync(j->files[i]);
        stream = aod_outfile_stream(j->files[i]);
        if (explain) {
            j->explainer = aod_explain_sink_new(stream, &opts->csv, err);
            if (!j->explainer)
                goto fail;
        } else {
            j->sinks[i] = make_sink(outs[i].format, stream, text, opts, err);
            if (!j->sinks[i])
                goto fail;
        }
    }
    if (!explain && opts->notify) {
        j->digest = aod_digest_new(text, err);
        if (!j->digest)
            goto fail;
    }
    if (!explain && (n_outs > 1 || j->digest)) {
        size_t n = 0;
        for (i = 0; i < n_outs; i++)
            j->tee_v[n++] = j->sinks[i];
        if (j->digest)
            j->tee_v[n++] = aod_digest_sink(j->digest);
        j->tee = calloc(1, sizeof *j->tee);
        if (!j->tee) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
            goto fail;
        }
        j->tee->base.begin = tee_begin;
        j->tee->base.entry = tee_entry;
        j->tee->base.end = tee_end;
        j->tee->base.free = tee_free;
        j->tee->v = j->tee_v;
        j->tee->n = n;
        sink = &j->tee->base;
    } else {
        sink = j->sinks[0];
    }
    /* A search response that said it was incomplete (a community that did
     * not answer) is part of what the completeness statement must say. */
    if (outcome_msgs) {
        for (i = 0; i < n_outcome_msgs; i++)
            (void)take_outcome(&j->found, outcome_msgs[i], err);
    } else if (aod_store_search_outcomes(st, info->patient_keys, info->n_patient_keys, take_outcome,
                                         &j->found, err) != 0) {
        goto fail;
    }
    j->info = *info;
    j->info.search_outcomes = j->found.v;
    j->info.n_search_outcomes = j->found.n;
    /* What the store can say of its own completeness: its sources, since
     * when each logs, the horizon, the silent days of daily sources. */
    if (!outcome_msgs) {
        /* a month batch's group streams its rows on this connection while
         * its reports begin (outcome_msgs given): no query here; the group
         * reads these facts once, before its rows, and hands them in
         * info->completeness (batchrun.c) */
        j->complete = aod_store_completeness_get(st, info->from, info->to, err);
        if (!j->complete)
            goto fail;
        j->info.completeness = aod_store_completeness_view(j->complete);
    }
    /* the site facts, for the privacy office only: the patient's copy
     * never reads them.  A month batch's group read them before its rows
     * began to stream (info->facts given, borrowed). */
    if (!info->facts && (explain || info->audience == AOD_AUDIENCE_PRIVACY_OFFICE)) {
        if (outcome_msgs) {
            aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL,
                          "the site facts of a grouped report must be read before its rows");
            goto fail;
        }
        j->facts = aod_run_read_facts(st, info, err);
        if (!j->facts)
            goto fail;
        j->info.facts = j->facts;
    }
    /* the care list is evidence of a reason in every copy (issue 16
     * point 3); the privacy office's is part of its site facts, and a
     * month batch's group hands it in (info->care) */
    if (!j->info.facts && !info->care && !outcome_msgs) {
        j->care = aod_run_read_care(st, info, err);
        if (!j->care)
            goto fail;
        j->info.care = j->care;
    }
    j->rep = aod_report_new(&j->info, text, sink, err);
    if (!j->rep)
        goto fail;
    if (j->explainer && opts->explain_ref) {
        j->raw = calloc(1, sizeof *j->raw);
        if (!j->raw) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
            goto fail;
        }
        j->raw->base.begin = raw_begin;
        j->raw->base.trace = raw_trace;
        j->raw->base.end = raw_end;
        j->raw->base.free = raw_free;
        j->raw->inner = j->explainer;
        j->raw->st = st;
        aod_buf_init(&j->raw->json, (size_t)64 * 1024 * 1024);
        if (aod_report_explain_ref(j->rep, opts->explain_ref, err) != 0)
            goto fail;
    }
    if (j->explainer &&
        aod_report_explain_to(j->rep, j->raw ? &j->raw->base : j->explainer, err) != 0)
        goto fail;
    return j;
fail:
    aod_run_job_free(j);
    return NULL;
}

int aod_run_push(aod_run_job *j, int64_t id, const char *norm, size_t len, aod_error *err)
{
    if (interrupted(j->opts->stop, err))
        return -1;
    return aod_report_push_norm(j->rep, id, norm, len, err);
}

/* The stream of a job's failed output, for a renderer's I/O error that
 * does not know the file's name. */
static void name_failed_output(aod_run_job *j, aod_error *err)
{
    size_t i;

    for (i = 0; err->code == AOD_ERR_IO && !err->source[0] && i < j->n_outs; i++)
        if (j->files[i] && ferror(aod_outfile_stream(j->files[i])))
            aod_error_where(err, is_stdout(j->outs[i].path) ? "<stdout>" : j->outs[i].path, 0, -1);
}

int aod_run_finish(aod_run_job *j, aod_report_summary *sum, aod_error *err)
{
    aod_report_summary local;
    size_t i;

    if (!sum)
        sum = &local;
    if (aod_report_finish(j->rep, sum, err) != 0)
        goto fail;
    /* the per-person coverage lives with the report, which the job frees */
    sum->coverage = NULL;
    sum->n_coverage = 0;
    /* The bytes are final: close, checksum; the self-audit and the renames
     * come after, so a failure before them leaves nothing behind. */
    for (i = 0; i < j->n_outs; i++) {
        const char *name = is_stdout(j->outs[i].path) ? "<stdout>" : j->outs[i].path;
        if (aod_outfile_close(j->files[i], err) != 0 ||
            out_digest(j->files[i], name, j->outs[i].sha256, &j->outs[i].size, err) != 0)
            goto fail;
    }
    j->finished = 1;
    return 0;
fail:
    name_failed_output(j, err);
    return -1;
}

int aod_run_job_digest_to(aod_run_job *j, int dir_fd, const char *json_name, const char *text_name,
                          aod_error *err)
{
    const char *names[2];
    size_t i;

    if (!j->digest || j->digest_files[0]) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "no digest asked for");
        return -1;
    }
    names[0] = json_name;
    names[1] = text_name;
    for (i = 0; i < 2; i++) {
        j->digest_outs[i].format = i == 0 ? "notify-json" : "notify-text";
        j->digest_outs[i].path = names[i];
        j->digest_outs[i].at_dir = 1;
        j->digest_outs[i].dir_fd = dir_fd;
        j->digest_files[i] = aod_outfile_openat(dir_fd, names[i], names[i], err);
        if (!j->digest_files[i])
            return -1;
        if (j->opts->defer_sync)
            aod_outfile_defer_sync(j->digest_files[i]);
    }
    return 0;
}

/* The digest's bytes into its files when it names a line; else the files
 * are dropped, and the patient has no digest. */
static int write_digest(aod_run_job *j, aod_error *err)
{
    const aod_buf *bytes[2];
    size_t i;

    if (!j->digest_files[0])
        return 0;
    if (aod_digest_count(j->digest) == 0) {
        for (i = 0; i < 2; i++) {
            aod_outfile_abort(j->digest_files[i]);
            j->digest_files[i] = NULL;
        }
        return 0;
    }
    bytes[0] = aod_digest_json(j->digest);
    bytes[1] = aod_digest_text(j->digest);
    for (i = 0; i < 2; i++) {
        FILE *f = aod_outfile_stream(j->digest_files[i]);
        if (fwrite(bytes[i]->data, 1, bytes[i]->len, f) != bytes[i]->len) {
            aod_error_set(err, AOD_ERR_IO, j->digest_outs[i].path, 0, NULL, "write error");
            return -1;
        }
        if (aod_outfile_close(j->digest_files[i], err) != 0 ||
            out_digest(j->digest_files[i], j->digest_outs[i].path, j->digest_outs[i].sha256,
                       &j->digest_outs[i].size, err) != 0)
            return -1;
    }
    j->n_digest = 2;
    return 0;
}

int aod_run_job_digest_finish(aod_run_job *j, aod_store *st, aod_error *err)
{
    char **seen = NULL;
    size_t n_seen = 0;
    int rc = -1;

    if (!j->digest || !j->digest_files[0])
        return 0;
    if (!j->finished) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "the report is not finished");
        return -1;
    }
    /* the organisations seen before the period, only when a line may be
     * the first by a new one */
    if (aod_digest_needs_seen(j->digest) &&
        aod_run_seen_orgs(st, &j->info, j->text, &seen, &n_seen, err) != 0)
        goto out;
    if (aod_digest_finish(j->digest, (const char *const *)seen, n_seen, err) != 0 ||
        write_digest(j, err) != 0)
        goto out;
    rc = 0;
out:
    aod_run_seen_orgs_free(seen, n_seen);
    return rc;
}

size_t aod_run_job_digest(const aod_run_job *j, const aod_run_output **outs)
{
    *outs = j->digest_outs;
    return j->n_digest;
}

static void selfaudit_of(const aod_run_job *j, aod_selfaudit *a, aod_selfaudit_file *files,
                         const char *os_user, const char *host)
{
    size_t i;

    for (i = 0; i < j->n_outs; i++) {
        /* the store's self-audit knows kinds of file, and the summary is a
         * CSV file (its name tells it from the listing) */
        files[i].format = strcmp(j->outs[i].format, "csv-summary") == 0 ? "csv" : j->outs[i].format;
        files[i].name = base_name(j->outs[i].path);
        files[i].sha256 = j->outs[i].sha256;
        files[i].size = j->outs[i].size;
        files[i].subject = i == 0 ? j->opts->subject : NULL;
    }
    memset(a, 0, sizeof *a);
    a->info = &j->info;
    a->explain = j->explain;
    a->operator_name = j->opts->operator_name;
    a->os_user = os_user;
    a->host = host;
    a->pid = (long)getpid();
    a->process_started = process_started();
    a->files = files;
    a->n_files = j->n_outs;
    a->started = j->started;
    a->recorded = aod_timefmt_now();
}

int aod_run_record_group(aod_store *st, aod_run_job *const *jobs, size_t n, aod_error *err)
{
    aod_selfaudit *a = calloc(n ? n : 1, sizeof *a);
    aod_selfaudit_file *files = calloc(n ? n * MAX_OUTPUTS : 1, sizeof *files);
    char *ids = calloc(n ? n : 1, AOD_SELFAUDIT_ID_LEN);
    char os_user[128], host[256];
    aod_error aerr;
    size_t i;
    int rc = -1;

    aod_error_init(&aerr);
    if (!a || !files || !ids) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        goto out;
    }
    /* once for the group: the user database is read afresh by each call */
    aod_selfaudit_whoami(os_user, sizeof os_user, host, sizeof host);
    for (i = 0; i < n; i++) {
        if (!jobs[i]->finished) {
            aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "a report is not finished");
            goto out;
        }
        selfaudit_of(jobs[i], &a[i], files + i * MAX_OUTPUTS, os_user, host);
        a[i].db_user = aod_store_user(st);
    }
    if (aod_selfaudit_write_many(st, a, n, ids, &aerr) != 0) {
        char msg[700];
        aod_error_set(err, aerr.code, "self-audit", 0, NULL,
                      "the reports could not be recorded as accesses in the store, so none of "
                      "them was written (%s)",
                      aod_error_format(&aerr, msg, sizeof msg));
        goto out;
    }
    for (i = 0; i < n; i++)
        memcpy(jobs[i]->self_audit_id, ids + i * AOD_SELFAUDIT_ID_LEN, AOD_SELFAUDIT_ID_LEN);
    rc = 0;
out:
    free(a);
    free(files);
    free(ids);
    return rc;
}

int aod_run_publish(aod_run_job *j, aod_error *err)
{
    size_t i;

    for (i = 0; i < j->n_outs; i++) {
        aod_outfile *f = j->files[i];
        j->files[i] = NULL;
        if (aod_outfile_commit(f, err) != 0)
            return -1;
    }
    for (i = 0; i < j->n_digest; i++) {
        aod_outfile *f = j->digest_files[i];
        j->digest_files[i] = NULL;
        if (aod_outfile_commit(f, err) != 0)
            return -1;
    }
    return 0;
}

const char *aod_run_job_self_audit_id(const aod_run_job *j)
{
    return j->self_audit_id;
}

void aod_run_job_free(aod_run_job *j)
{
    size_t i;

    if (!j)
        return;
    aod_report_free(j->rep);
    aod_facts_free(j->facts);
    aod_facts_free(j->care);
    if (j->raw)
        raw_free(&j->raw->base);
    aod_store_completeness_free(j->complete);
    if (j->explainer)
        j->explainer->free(j->explainer);
    free(j->tee);
    for (i = 0; i < j->n_outs; i++) {
        if (j->sinks[i])
            j->sinks[i]->free(j->sinks[i]);
        aod_outfile_abort(j->files[i]);
    }
    aod_digest_free(j->digest);
    aod_outfile_abort(j->digest_files[0]);
    aod_outfile_abort(j->digest_files[1]);
    free(j);
}

/* The store streams rows; each goes straight into the report. */
static int push_row(void *ctx, int64_t id, const char *norm, size_t len, aod_error *err)
{
    return aod_run_push(ctx, id, norm, len, err);
}

/* ------------------------------------------------------ seen organisations */

/* A sink that keeps the organisation of each line (aod_entry_org_key). */
typedef struct orgs_sink {
    aod_sink base;
    char **v;
    size_t n, cap;
} orgs_sink;

static int orgs_begin(aod_sink *s, const aod_report_info *info, aod_error *err)
{
    (void)s;
    (void)info;
    (void)err;
    return 0;
}

static int orgs_entry(aod_sink *s, const aod_entry *e, aod_error *err)
{
    orgs_sink *o = (orgs_sink *)s;
    const char *org = aod_entry_org_key(e);
    size_t i;

    if (!org)
        return 0;
    /* a patient's record sees few organisations: a short list */
    for (i = o->n; i > 0; i--)
        if (strcmp(o->v[i - 1], org) == 0)
            return 0;
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 16;
        char **v = realloc(o->v, cap * sizeof *v);
        if (!v)
            goto nomem;
        o->v = v;
        o->cap = cap;
    }
    if (!(o->v[o->n] = strdup(org)))
        goto nomem;
    o->n++;
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
    return -1;
}

static int orgs_end(aod_sink *s, const aod_report_summary *sum, aod_error *err)
{
    (void)s;
    (void)sum;
    (void)err;
    return 0;
}

static void orgs_free(aod_sink *s)
{
    (void)s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void aod_run_seen_orgs_free(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int push_report(void *ctx, int64_t id, const char *norm, size_t len, aod_error *err)
{
    return aod_report_push_norm(ctx, id, norm, len, err);
}

int aod_run_seen_orgs(aod_store *st, const aod_report_info *info, const aod_text *text, char ***out,
                      size_t *n, aod_error *err)
{
    aod_report_info h = *info;
    orgs_sink o;
    aod_report *rep;
    int rc = -1;

    memset(&o, 0, sizeof o);
    o.base.begin = orgs_begin;
    o.base.entry = orgs_entry;
    o.base.end = orgs_end;
    o.base.free = orgs_free;
    /* every access before the period, as the patient's access report would
     * list them: the same classification, dedup and parties */
    h.mode = AOD_MODE_ACCESS;
    h.audience = AOD_AUDIENCE_PATIENT;
    h.from = 0;
    h.to = info->from;
    h.notify = 0;
    h.seen_orgs = NULL;
    h.n_seen_orgs = 0;
    h.facts = NULL;
    h.completeness = NULL;
    h.care = NULL;
    rep = aod_report_new(&h, text, &o.base, err);
    if (!rep)
        goto out;
    if (h.to > 0 && aod_store_each_event(st, h.patient_keys, h.n_patient_keys, h.from, h.to,
                                         push_report, rep, err) != 0)
        goto out;
    if (aod_report_finish(rep, NULL, err) != 0)
        goto out;
    if (o.n > 1)
        qsort(o.v, o.n, sizeof *o.v, cmp_str);
    *out = o.v;
    *n = o.n;
    o.v = NULL;
    o.n = 0;
    rc = 0;
out:
    aod_report_free(rep);
    aod_run_seen_orgs_free(o.v, o.n);
    return rc;
}

int aod_run_report(aod_store *st, const aod_report_info *info, const aod_text *text, int explain,
                   aod_run_output *outs, size_t n_outs, const aod_run_options *opts,
                   aod_report_summary *sum, char *self_audit_id, aod_error *err)
{
    aod_run_job *j = aod_run_begin(st, info, text, explain, outs, n_outs, opts, NULL, 0, err);
    int rc = -1;

    if (!j)
        return -1;
    if (aod_store_each_event(st, j->info.patient_keys, j->info.n_patient_keys, j->info.from,
                             j->info.to, push_row, j, err) != 0)
        goto out;
    if (aod_run_finish(j, sum, err) != 0)
        goto out;
    if (opts->pause_ms > 0)
        sleep_ms(opts->pause_ms);
    if (interrupted(opts->stop, err))
        goto out;
    if (self_audit(st, j, self_audit_id, err) != 0)
        goto out;
    if (aod_run_publish(j, err) != 0)
        goto out;
    rc = 0;
out:
    aod_run_job_free(j);
    return rc;
}

/* The signal that stopped aod_run_report_stoppable's run, 0 while none. */
static volatile sig_atomic_t foreground_stop;

static void on_foreground_signal(int sig)
{
    foreground_stop = sig;
}

int aod_run_report_stoppable(aod_store *st, const aod_report_info *info, const aod_text *text,
                             int explain, aod_run_output *outs, size_t n_outs,
                             const aod_run_options *opts, aod_report_summary *sum,
                             char *self_audit_id, aod_error *err)
{
    struct sigaction sa, old_int, old_term;
    aod_run_options o = *opts;
    int rc;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_foreground_signal;
    sigemptyset(&sa.sa_mask);
    foreground_stop = 0;
    o.stop = &foreground_stop;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rc = aod_run_report(st, info, text, explain, outs, n_outs, &o, sum, self_audit_id, err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}
