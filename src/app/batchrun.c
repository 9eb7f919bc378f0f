/*
 * batchrun.c - `aodreport batch`: plan the reports, run them in worker
 * processes, keep the manifest (see batch.h).
 *
 * One parent, N workers (fork, no exec).  The parent plans, hands out one
 * report at a time over a pipe per worker, collects one result line per
 * report, rewrites the manifest as results come in, draws the progress and
 * handles signals.  Each worker has its own database connection and runs
 * reports with run.h; it shares the parent's policy, templates and plan
 * (copied at fork, read-only).  Processes rather than threads: libpq, libharu
 * and the process-wide time zone are then no concern, and a worker that
 * crashes costs one report (a group, in a month run), not the run.
 *
 * A month run hands out groups of consecutive patient keys instead of
 * single reports (work_group): one query streams the group's rows in
 * patient order, one syncfs and one self-audit transaction cover the
 * group, then its files are renamed (doc/operations.md, "Durability").
 * The workers take groups as they come free, so each works through its
 * own ranges of the key space and both cores stay busy to the end.
 *
 * Signals: SIGINT and SIGTERM stop the run.  The workers roll back the
 * report in hand (run.h: nothing published, no self-audit), the parent
 * writes the manifest (those reports "pending") and returns
 * AOD_ERR_INTERRUPTED.  Workers get SIGTERM when the parent dies
 * (PR_SET_PDEATHSIG on Linux), so a killed run leaves at most temporary
 * dot-files, which the next run removes.
 */
#include "app/batch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <jansson.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/outfile.h"
#include "model/policy.h"
#include "model/record.h"
#include "model/text.h"
#include "pipeline/report.h"
#include "app/run.h"
#include "store/store.h"
#include "base/timefmt.h"

#define MAX_JOBS          64
#define MAX_LANGS         32
#define MANIFEST_EVERY_MS 500
/* Requests planned and run at a time: what the run holds in memory. */
#define WINDOW 4096
/* Reports of a month run made from one query, with their self-audits in
 * one transaction (work_group); fewer when they have many formats, since
 * each keeps two descriptors per file open until the group is published. */
#define MAX_GROUP       64
#define GROUP_MAX_FILES 192
#define LOCK_NAME       ".aodreport-batch.lock"

/* Set by the signal handlers: the signal that asked the run to stop, and
 * (in the parent) how many stop signals came. */
static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t stop_count;
static int wake_pipe[2] = {-1, -1};

static void on_stop_parent(int sig)
{
    int saved = errno;
    ssize_t r;

    stop_signal = sig;
    if (stop_count < 100)
        stop_count++;
    if (wake_pipe[1] >= 0) {
        r = write(wake_pipe[1], "x", 1);
        (void)r;
    }
    errno = saved;
}

static void on_stop_worker(int sig)
{
    stop_signal = sig;
}

typedef struct lang_text {
    char *lang;
    aod_text *text; /* NULL when it could not be loaded */
    char error[400];
} lang_text;

/* What a worker needs besides the entry. */
typedef struct job {
    aod_report_info info;
    const aod_text *text;
    char *patient_name; /* owned */
} job;

typedef struct plan {
    const aod_batch_options *o;
    aod_policy *policy;
    char policy_hex[AOD_SHA256_HEX_LEN];
    int64_t now;
    int64_t month_from, month_to;
    unsigned formats;
    aod_run_options ro;
    aod_sign_key *sign_key; /* --sign, NULL: unsigned */
    char sign_kid[80];      /* "signed by <hex of the public key>", "" unsigned */
    lang_text langs[MAX_LANGS];
    size_t n_langs;
    aod_batch_entry *entries; /* the window: the reports planned and not yet finished */
    job *jobs;
    size_t n, cap;
    size_t window;    /* plan and run this many at a time */
    size_t group_max; /* reports in one group of a month run (work_group) */
    struct run_state *s;
    aod_error deferred; /* an error of a callback that cannot return one */
    char manifest_base[64];
    int out_fd; /* the checked --out-dir; everything in it is opened relative to it */
    aod_batch_run_info run;
    long removed_temps;
} plan;

/* ---------------------------------------------------------------- output */

typedef struct progress {
    int tty, quiet, verbose;
    size_t total, done, failed;
    struct timespec start;
    double last_draw;
    int drawn;
} progress;

static double since(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void bar_clear(progress *p)
{
    if (p->drawn) {
        fputs("\r\033[K", stderr);
        p->drawn = 0;
    }
}

static void bar_draw(progress *p, int force)
{
    double t = since(&p->start), rate;
    char eta[32] = "";
    int width = 24, fill;

    if (!p->tty || p->quiet || p->total == 0 || (!force && t - p->last_draw < 0.2))
        return;
    p->last_draw = t;
    rate = t > 0 ? (double)p->done / t : 0;
    if (rate > 0 && p->done < p->total) {
        long s = (long)((double)(p->total - p->done) / rate + 0.5);
        snprintf(eta, sizeof eta, "  ETA %ldm%02lds", s / 60, s % 60);
    }
    fill = (int)((double)width * (double)p->done / (double)p->total);
    fprintf(stderr, "\r\033[K[%.*s%*s] %zu/%zu  %.1f reports/s%s", fill, "########################",
            width - fill, "", p->done, p->total, rate, eta);
    if (p->failed)
        fprintf(stderr, "  (%zu failed)", p->failed);
    p->drawn = 1;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
say(progress *p, aod_log_level level, const char *fmt, ...)
{
    char line[2048], safe[4096];
    va_list ap;

    /* One line whatever the values in it (request cells, file names). */
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    bar_clear(p);
    fprintf(stderr, "%saodreport: %s\n", aod_log_prefix(level),
            aod_error_escape(line, safe, sizeof safe));
    bar_draw(p, 1);
}

/* "Patient/1" or "Patient/1 (+2 keys)" for messages; an identifier's value
 * masked (aod_error_mask_key): logs go to cron mail. */
static const char *who(const aod_batch_entry *e, char *buf, size_t size)
{
    char key[256];

    if (e->n_keys == 0)
        snprintf(buf, size, "(no patient)");
    else if (e->n_keys == 1)
        snprintf(buf, size, "%s", aod_error_mask_key(e->keys[0], key, sizeof key));
    else
        snprintf(buf, size, "%s (+%zu key%s)", aod_error_mask_key(e->keys[0], key, sizeof key),
                 e->n_keys - 1, e->n_keys == 2 ? "" : "s");
    return buf;
}

/* The patient directory for a log line: its name shows the first key, so
 * only its digest part is printed ("...-0123456789abcdef"). */
static const char *dir_shown(const aod_batch_entry *e)
{
    const char *dash = strrchr(e->dir, '-');
    return dash ? dash : e->dir;
}

/* ------------------------------------------------------------- planning */

static const char *mode_name(int mode)
{
    return mode == AOD_MODE_ACCESS ? "access" : "disclosures";
}

static const aod_text *text_for(plan *p, const char *lang, const char **why)
{
    size_t i;
    aod_error err;

    for (i = 0; i < p->n_langs; i++)
        if (strcmp(p->langs[i].lang, lang) == 0)
            goto found;
    if (p->n_langs == MAX_LANGS) {
        *why = "too many languages in one run";
        return NULL;
    }
    i = p->n_langs;
    p->langs[i].lang = strdup(lang);
    if (!p->langs[i].lang) {
        *why = "out of memory";
        return NULL;
    }
    aod_error_init(&err);
    p->langs[i].text = aod_text_load(p->o->templates, lang, &err);
    if (!p->langs[i].text)
        aod_error_format(&err, p->langs[i].error, sizeof p->langs[i].error);
    p->n_langs++;
found:
    *why = p->langs[i].error;
    return p->langs[i].text;
}

static aod_batch_entry *new_entry(plan *p, aod_error *err)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        aod_batch_entry *e = realloc(p->entries, cap * sizeof *e);
        job *j;
        if (!e)
            goto nomem;
        p->entries = e;
        j = realloc(p->jobs, cap * sizeof *j);
        if (!j)
            goto nomem;
        p->jobs = j;
        p->cap = cap;
    }
    memset(&p->entries[p->n], 0, sizeof p->entries[p->n]);
    memset(&p->jobs[p->n], 0, sizeof p->jobs[p->n]);
    p->entries[p->n].records = p->entries[p->n].events = p->entries[p->n].lines = -1;
    return &p->entries[p->n++];
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory planning the batch");
    return NULL;
}

/* A request row that cannot be run: listed as skipped. */
static int add_skipped(plan *p, long line, const char *patient_cell, const char *why,
                       aod_error *err)
{
    aod_batch_entry *e = new_entry(p, err);

    if (!e)
        return -1;
    e->status = AOD_BATCH_SKIPPED;
    e->line = line;
    if (patient_cell) {
        e->keys = malloc(sizeof *e->keys);
        if (!e->keys || !(e->keys[0] = strdup(patient_cell)))
            goto nomem;
        e->n_keys = 1;
    }
    if (aod_batch_entry_set_error(e, why) != 0)
        goto nomem;
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
    return -1;
}

/* The formats --sign signs: the FHIR documents (bundle-json, bundle-xml)
 * and the one an ITI-65 submission carries (mhd, mhd-html). */
#define SIGNED_FORMATS                                                                             \
    (AOD_BATCH_BUNDLE_JSON | AOD_BATCH_BUNDLE_XML | AOD_BATCH_MHD | AOD_BATCH_MHD_HTML)

/* What a request is, for resuming: everything that decides its output, the
 * period as given (so "default" stays "default" from one day to the next). */
static void fingerprint(const plan *p, const aod_batch_entry *e, const char *period,
                        const char *patient_name, int64_t requested, unsigned formats, char *out)
{
    const aod_batch_options *o = p->o;
    unsigned char d[AOD_SHA256_DIGEST_LEN];
    aod_sha256_ctx c;
    char buf[128];
    size_t i;

#define LINE(s)                                                                                    \
    do {                                                                                           \
        const char *s_ = (s);                                                                      \
        aod_sha256_update(&c, s_ ? s_ : "", s_ ? strlen(s_) : 0);                                  \
        aod_sha256_update(&c, "\n", 1);                                                            \
    } while (0)
    aod_sha256_init(&c);
    LINE("aodreport batch request 1");
    for (i = 0; i < e->n_keys; i++)
        LINE(e->keys[i]);
    LINE(e->mode);
    LINE(e->audience);
    LINE(e->lang);
    LINE(period);
    snprintf(buf, sizeof buf, "requested %lld formats %u", (long long)requested, formats);
    LINE(buf);
    LINE(patient_name);
    LINE(o->now);
    LINE(p->policy_hex);
    LINE(o->templates);
    LINE(o->font);
    if (o->fallback_font) /* only when given: earlier fingerprints stay valid */
        LINE(o->fallback_font);
    /* signed: by which key (unsigned runs' fingerprints unchanged); only
     * when the report has a format that carries a signature */
    if (p->sign_kid[0] && (formats & SIGNED_FORMATS))
        LINE(p->sign_kid);
    if (o->notify) /* the same: a run without --notify keeps its fingerprints */
        LINE("notify 1");
    snprintf(buf, sizeof buf, "csv %d %d", o->csv_bom, o->csv_delimiter);
    LINE(buf);
#undef LINE
    aod_sha256_final(&c, d);
    aod_sha256_hex(d, sizeof d, out);
}

/* Fills a planned (runnable) entry and its job.  keys are taken (owned). */
static int plan_report(plan *p, long line, char **keys, size_t n_keys, int mode, int audience,
                       const char *lang, int64_t from, int64_t to, const char *period,
                       int64_t requested, const char *patient_name, unsigned formats,
                       aod_error *err)
{
    aod_batch_entry *e;
    job *j;
    char from_day[16], to_day[16];
    const char *why = NULL;
    const aod_text *text;
    unsigned char digest[AOD_SHA256_DIGEST_LEN];
    size_t i;

    aod_batch_patient_digest((const char *const *)keys, n_keys, digest);
    if (p->o->shard_n && aod_batch_shard_of(digest, p->o->shard_n) != p->o->shard_k) {
        for (i = 0; i < n_keys; i++)
            free(keys[i]);
        free(keys);
        return 0;
    }
    e = new_entry(p, err);
    if (!e) {
        for (i = 0; i < n_keys; i++)
            free(keys[i]);
        free(keys);
        return -1;
    }
    j = &p->jobs[p->n - 1];
    e->line = line;
    e->keys = keys;
    e->n_keys = n_keys;
    aod_batch_patient_dir((const char *const *)keys, n_keys, e->dir);
    e->mode = mode_name(mode);
    e->audience = aod_policy_audience_name((aod_audience)audience);
    e->lang = strdup(lang);
    e->from = from;
    e->to = to;
    aod_timefmt_date(from, from_day, sizeof from_day);
    aod_timefmt_date(to - 1, to_day, sizeof to_day);
    e->base = malloc(128);
    if (!e->lang || !e->base)
        goto nomem;
    snprintf(e->base, 128, "%s_%s_%s_%s%s", e->mode, from_day, to_day, lang,
             audience == AOD_AUDIENCE_PRIVACY_OFFICE ? "_privacy-office" : "");
    for (i = 0; i < AOD_BATCH_NFORMATS; i++) {
        if (!(formats & (1u << i)))
            continue;
        e->files[e->n_files].format = aod_batch_format_name(i);
        e->files[e->n_files].size = -1;
        e->n_files++;
    }
    fingerprint(p, e, period, patient_name, requested, formats, e->request);
    if (patient_name && !(j->patient_name = strdup(patient_name)))
        goto nomem;

    text = text_for(p, lang, &why);
    if (!text || from >= to) {
        char masked[300];
        /* Every skipped row is said on standard error too: cron mails it. */
        if (!text)
            why = why ? why : "no templates for the language";
        else
            why = "the period is empty (from is not before to)";
        e->status = AOD_BATCH_SKIPPED;
        if (p->o->requests)
            aod_log(AOD_LOG_WARNING, "skipped: %s:%ld: %s", p->o->requests, line, why);
        else
            aod_log(AOD_LOG_WARNING, "skipped: %s: %s", who(e, masked, sizeof masked), why);
        return aod_batch_entry_set_error(e, why) == 0 ? 0 : -1;
    }
    j->text = text;
    j->info.mode = (aod_mode)mode;
    j->info.audience = (aod_audience)audience;
    j->info.lang = e->lang;
    j->info.n_patient_keys = n_keys;
    j->info.patient_name = j->patient_name;
    j->info.from = from;
    j->info.to = to;
    j->info.now = p->now;
    j->info.requested = requested;
    j->info.policy = p->policy;
    /* patient_keys is set once the entries stop moving (realloc) */
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory planning the batch");
    return -1;
}

static int default_mode(const plan *p)
{
    const char *m = p->o->mode;

    if (m)
        return strcmp(m, "access") == 0 ? AOD_MODE_ACCESS : AOD_MODE_DISCLOSURES;
    /* A monthly run is the proactive "who looked at my record" notice:
     * every access.  A request is the HIPAA accounting unless it says. */
    return p->o->month ? AOD_MODE_ACCESS : AOD_MODE_DISCLOSURES;
}

static int default_audience(const plan *p)
{
    return p->o->audience && strcmp(p->o->audience, "privacy-office") == 0
               ? AOD_AUDIENCE_PRIVACY_OFFICE
               : AOD_AUDIENCE_PATIENT;
}

static const char *default_lang(const plan *p)
{
    return p->o->lang ? p->o->lang : p->policy->presentation.language;
}

static int window_full(plan *p, aod_error *err);

typedef struct req_ctx {
    plan *p;
    progress *pr;
    const char *name;
} req_ctx;

static void on_bad_csv_row(void *ctx, const aod_error *why)
{
    req_ctx *c = ctx;
    aod_error err;
    char msg[700];

    aod_error_init(&err);
    aod_error_format(why, msg, sizeof msg);
    say(c->pr, AOD_LOG_WARNING, "skipped: %s", msg);
    if (c->p->deferred.code != AOD_OK)
        return;
    if (add_skipped(c->p, why->line, NULL, why->text, &err) != 0 || window_full(c->p, &err) != 0)
        c->p->deferred = err;
}

static int on_request_row(void *ctx, const aod_batch_row *row, aod_error *err)
{
    req_ctx *c = ctx;
    plan *p = c->p;
    aod_batch_request r;
    aod_error rerr;
    char **keys;
    char period[128];
    int mode, audience;
    int64_t from, to;
    size_t i;

    if (p->deferred.code != AOD_OK) {
        *err = p->deferred;
        return -1;
    }
    if (window_full(p, err) != 0)
        return -1;
    aod_error_init(&rerr);
    if (aod_batch_request_parse(row, &r, &rerr) != 0) {
        char msg[700], text[sizeof rerr.field + sizeof rerr.text + 4];
        if (rerr.code == AOD_ERR_NOMEM) {
            *err = rerr;
            return -1;
        }
        aod_error_where(&rerr, c->name, row->line, -1);
        aod_error_format(&rerr, msg, sizeof msg);
        say(c->pr, AOD_LOG_WARNING, "skipped: %s", msg);
        snprintf(text, sizeof text, "%s%s%s", rerr.field, rerr.field[0] ? ": " : "", rerr.text);
        return add_skipped(p, row->line, row->cell[AOD_BATCH_COL_PATIENT], text, err);
    }
    mode = r.mode >= 0 ? r.mode : default_mode(p);
    audience = r.audience >= 0 ? r.audience : default_audience(p);
    to = r.has_to ? r.to : p->now;
    from = r.has_from ? r.from : aod_report_default_from(p->policy, (aod_mode)mode, p->now);
    snprintf(period, sizeof period, "from %lld to %lld", r.has_from ? (long long)r.from : -1LL,
             r.has_to ? (long long)r.to : -1LL);
    keys = malloc(r.n_keys * sizeof *keys);
    if (!keys) {
        aod_batch_request_clear(&r);
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return -1;
    }
    for (i = 0; i < r.n_keys; i++) {
        keys[i] = r.keys[i];
        r.keys[i] = NULL;
    }
    {
        size_t n = r.n_keys;
        int rc;
        r.n_keys = 0;
        rc = plan_report(p, row->line, keys, n, mode, audience, r.lang ? r.lang : default_lang(p),
                         from, to, period, r.has_requested ? r.requested : 0, r.patient_name,
                         r.formats ? r.formats : p->formats, err);
        aod_batch_request_clear(&r);
        return rc;
    }
}

/* Plans the requests file's rows, reading it as it goes (batch.h). */
static int plan_requests(plan *p, progress *pr, aod_error *err)
{
    const char *path = p->o->requests;
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    req_ctx c;
    int rc;

    if (!f) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "cannot open the requests file: %s",
                      strerror(errno));
        return -1;
    }
    c.p = p;
    c.pr = pr;
    c.name = path;
    rc = aod_batch_read_requests_file(f, path, on_request_row, on_bad_csv_row, &c, err);
    if (rc == 0 && p->deferred.code != AOD_OK) {
        *err = p->deferred;
        rc = -1;
    }
    if (f != stdin)
        fclose(f);
    return rc;
}

static int on_month_patient(void *ctx, const char *key, aod_error *err)
{
    plan *p = ctx;
    char **keys = malloc(sizeof *keys);
    char period[64];

    if (!keys || !(keys[0] = strdup(key))) {
        free(keys);
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return -1;
    }
    snprintf(period, sizeof period, "month %s", p->o->month);
    return plan_report(p, 0, keys, 1, default_mode(p), default_audience(p), default_lang(p),
                       p->month_from, p->month_to, period, 0, NULL, p->formats, err);
}

static int parse_month(plan *p, aod_error *err)
{
    int y, m, n = 0;
    char first[48];

    if (sscanf(p->o->month, "%4d-%2d%n", &y, &m, &n) != 2 || n != 7 || p->o->month[n] || m < 1 ||
        m > 12 || y < 1900 || y > 9998) {
        aod_error_set(err, AOD_ERR_USAGE, "--month", 0, NULL, "'%s': give YYYY-MM", p->o->month);
        return -1;
    }
    snprintf(first, sizeof first, "%04d-%02d-01", y, m);
    if (aod_run_parse_when("--month", first, 0, &p->month_from, err) != 0)
        return -1;
    snprintf(first, sizeof first, "%04d-%02d-01", m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1);
    if (aod_run_parse_when("--month", first, 0, &p->month_to, err) != 0)
        return -1;
    if (p->month_from >= p->now) {
        aod_error_set(err, AOD_ERR_USAGE, "--month", 0, NULL, "%s has not begun yet (as of --now)",
                      p->o->month);
        return -1;
    }
    /* A month not over yet is covered up to now. */
    if (p->month_to > p->now)
        p->month_to = p->now;
    return 0;
}

/*
 * The reports planned so far, to find a row asking for the same files as an
 * earlier one.  The rows are planned and run a window at a time, so the
 * earlier row may be long gone: what is kept of each runnable report is 32
 * bytes (a 128-bit digest of its patient directory and file name, 64 more
 * bits of its patient digest, its line), in an open-addressing table at
 * most half full.  That is the one thing a run keeps per request; a million
 * reports (hours of work, a million files on disk) make it 64-128 MB.
 */
typedef struct seen_slot {
    unsigned char out[16]; /* SHA-256(dir "/" base), the first 128 bits; all 0: empty */
    unsigned char keys[8]; /* the patient digest's bits 64..127 (the dir has 0..63) */
    long line;
} seen_slot;

typedef struct seen_set {
    seen_slot *v;
    size_t n, cap; /* cap a power of two */
} seen_set;

static void seen_free(seen_set *t)
{
    free(t->v);
    memset(t, 0, sizeof *t);
}

static seen_slot *seen_find(seen_set *t, const unsigned char out[16])
{
    size_t i;
    uint64_t h;

    memcpy(&h, out, sizeof h);
    for (i = (size_t)h & (t->cap - 1);; i = (i + 1) & (t->cap - 1))
        if (t->v[i].out[0] == 0 || memcmp(t->v[i].out, out, 16) == 0)
            return &t->v[i];
}

static int seen_grow(seen_set *t)
{
    seen_set bigger;
    size_t i;

    bigger.cap = t->cap ? t->cap * 2 : 4096;
    bigger.n = t->n;
    bigger.v = calloc(bigger.cap, sizeof *bigger.v);
    if (!bigger.v)
        return -1;
    for (i = 0; i < t->cap; i++)
        if (t->v[i].out[0] != 0)
            *seen_find(&bigger, t->v[i].out) = t->v[i];
    free(t->v);
    *t = bigger;
    return 0;
}

/* Two rows asking for the same files: the later one is skipped.  (Two
 * different patients sharing a directory name would need a 64-bit hash
 * collision; it is checked all the same.) */
static int check_duplicates(plan *p, seen_set *seen, progress *pr, aod_error *err)
{
    size_t i;

    for (i = 0; i < p->n; i++) {
        aod_batch_entry *e = &p->entries[i];
        unsigned char d[AOD_SHA256_DIGEST_LEN], keys[AOD_SHA256_DIGEST_LEN];
        aod_sha256_ctx c;
        seen_slot *slot;
        char msg[300];

        if (!e->base || e->status == AOD_BATCH_SKIPPED)
            continue;
        aod_sha256_init(&c);
        aod_sha256_update(&c, e->dir, strlen(e->dir));
        aod_sha256_update(&c, "/", 1);
        aod_sha256_update(&c, e->base, strlen(e->base));
        aod_sha256_final(&c, d);
        d[0] |= 1; /* never 0: that marks an empty slot */
        aod_batch_patient_digest((const char *const *)e->keys, e->n_keys, keys);
        if ((seen->n + 1) * 2 > seen->cap && seen_grow(seen) != 0) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
            return -1;
        }
        slot = seen_find(seen, d);
        if (slot->out[0] == 0) {
            memcpy(slot->out, d, sizeof slot->out);
            memcpy(slot->keys, keys + 8, sizeof slot->keys);
            slot->line = e->line > 0 ? e->line : -1;
            seen->n++;
            continue;
        }
        if (memcmp(slot->keys, keys + 8, sizeof slot->keys) != 0)
            snprintf(msg, sizeof msg,
                     "its patient directory %s is also that of line %ld (a "
                     "different patient): please report this",
                     e->dir, slot->line);
        else
            snprintf(msg, sizeof msg,
                     "the same report as line %ld (patient, mode, period, "
                     "audience and language); list all its formats in one row",
                     slot->line);
        e->status = AOD_BATCH_SKIPPED;
        if (aod_batch_entry_set_error(e, msg) != 0) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
            return -1;
        }
        say(pr, AOD_LOG_WARNING, "skipped: %s:%ld: %s", p->o->requests ? p->o->requests : "",
            e->line, msg);
    }
    return 0;
}

/* ----------------------------------------------------- directory, resume */

/* Holds DIR/.aodreport-batch.lock for the run (released when the process
 * ends, however it ends).  Never through a link: a planted one stops the
 * run.  Returns the descriptor or -1. */
static int lock_dir(const plan *p, aod_error *err)
{
    struct flock fl;
    struct stat sb;
    aod_buf path;
    int fd = -1;

    aod_buf_init(&path, 8192);
    if (aod_buf_printf(&path, "%s/%s", p->o->out_dir, LOCK_NAME) != 0) {
        aod_error_set(err, AOD_ERR_IO, p->o->out_dir, 0, NULL, "path too long");
        goto out;
    }
    fd = openat(p->out_fd, LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        if (fstatat(p->out_fd, LOCK_NAME, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode))
            aod_error_set(err, AOD_ERR_IO, aod_buf_str(&path), 0, NULL,
                          "is a symbolic link (owner uid %ld): refused; remove it and check who "
                          "can write to %s",
                          (long)sb.st_uid, p->o->out_dir);
        else
            aod_error_set(err, AOD_ERR_IO, aod_buf_str(&path), 0, NULL, "cannot open the lock: %s",
                          strerror(e));
        goto out;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid()) {
        aod_error_set(err, AOD_ERR_IO, aod_buf_str(&path), 0, NULL,
                      "refused: not a regular file of this user; remove it");
        close(fd);
        fd = -1;
        goto out;
    }
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        aod_error_set(err, AOD_ERR_IO, p->o->out_dir, 0, NULL,
                      "another aodreport batch is writing into this directory (it holds %s)",
                      aod_buf_str(&path));
        close(fd);
        fd = -1;
    }
out:
    aod_buf_free(&path);
    return fd;
}

/* The temporary files a killed run left in DIR and its patient directories
 * (outfile.h says which are removed). */
static long remove_temps(const plan *p)
{
    struct dirent *de;
    long removed = aod_outfile_clean_temps(p->out_fd);
    int fd = dup(p->out_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

    if (!d) {
        if (fd >= 0)
            close(fd);
        return removed;
    }
    /* A dup shares the offset, which the listing above left at the end. */
    rewinddir(d);
    while ((de = readdir(d))) {
        int sub;
        if (!aod_batch_is_patient_dir(de->d_name))
            continue;
        /* never through a link; a directory not ours is left alone */
        sub = openat(p->out_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            continue;
        if (aod_outfile_dir_check(sub, de->d_name, NULL) == 0)
            removed += aod_outfile_clean_temps(sub);
        close(sub);
    }
    closedir(d);
    return removed;
}

/* 1 when DIR/<dir>/<name> is a regular file (not through a link) with f's
 * size and SHA-256. */
static int file_matches(const plan *p, const char *dir, const char *name, const aod_batch_file *f)
{
    unsigned char buf[65536], d[AOD_SHA256_DIGEST_LEN];
    char hex[AOD_SHA256_HEX_LEN];
    aod_sha256_ctx c;
    struct stat sb;
    ssize_t n;
    int ok = 0, dfd, fd = -1;

    dfd = openat(p->out_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return 0;
    fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (long long)sb.st_size != f->size)
        goto out;
    aod_sha256_init(&c);
    while ((n = read(fd, buf, sizeof buf)) > 0)
        aod_sha256_update(&c, buf, (size_t)n);
    aod_sha256_final(&c, d);
    aod_sha256_hex(d, sizeof d, hex);
    ok = n == 0 && strcmp(hex, f->sha256) == 0;
out:
    if (fd >= 0)
        close(fd);
    close(dfd);
    return ok;
}

/* Marks the window's entries an earlier run completed (per its manifest
 * and the files on disk).  Returns how many. */
static size_t resume(plan *p, aod_batch_resume *done, aod_error *err)
{
    aod_buf path;
    size_t i, k, count = 0;

    if (aod_batch_resume_count(done) == 0)
        return 0;
    aod_buf_init(&path, 8192);
    for (i = 0; i < p->n; i++) {
        aod_batch_entry *e = &p->entries[i];
        aod_batch_done d;
        int ok = 1, found;

        if (e->status != AOD_BATCH_PENDING)
            continue;
        found = aod_batch_resume_find(done, e->request, &d);
        if (found < 0) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
            break;
        }
        if (!found || d.n_files != e->n_files || strcmp(d.dir, e->dir) != 0)
            ok = 0;
        for (k = 0; ok && k < d.n_files; k++) {
            ok = strcmp(d.files[k].format, e->files[k].format) == 0;
            aod_buf_reset(&path);
            if (ok && aod_buf_printf(&path, "%s.%s", d.base,
                                     aod_run_format_ext(d.files[k].format)) != 0) {
                aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
                free(d.base);
                break;
            }
            ok = ok && file_matches(p, d.dir, aod_buf_str(&path), &d.files[k]);
        }
        /* the digest too, when the earlier run wrote one */
        for (k = 0; ok && k < d.n_notify; k++) {
            aod_buf_reset(&path);
            if (aod_buf_printf(&path, "%s.%s", d.base, k == 0 ? "notify.json" : "notify.txt") !=
                0) {
                aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
                free(d.base);
                break;
            }
            ok = file_matches(p, d.dir, aod_buf_str(&path), &d.notify[k]);
        }
        if (err->code != AOD_OK)
            break;
        if (!ok) {
            free(d.base);
            continue;
        }
        /* Keep the earlier names: a default period may have been named
         * after an earlier day. */
        free(e->base);
        e->base = d.base;
        memcpy(e->files, d.files, sizeof e->files);
        memcpy(e->notify, d.notify, sizeof e->notify);
        e->n_notify = d.n_notify;
        e->records = d.records;
        e->events = d.events;
        e->lines = d.lines;
        memcpy(e->self_audit, d.self_audit, sizeof e->self_audit);
        e->status = AOD_BATCH_OK;
        e->resumed = 1;
        aod_batch_entry_changed(e);
        count++;
    }
    aod_buf_free(&path);
    return count;
}

/* -------------------------------------------------------------- workers */

typedef struct worker {
    pid_t pid;
    int job_fd;               /* parent writes job numbers */
    int res_fd;               /* parent reads result lines */
    uint32_t jobs[MAX_GROUP]; /* the entries in hand (a group in a month run) */
    size_t n_jobs;            /* 0 when idle */
    struct timespec job_start;
    aod_buf in; /* a partial result line */
} worker;

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static long env_ms(const char *name)
{
    const char *v = getenv(name);
    return v ? strtol(v, NULL, 10) : 0;
}

/* One report in a worker; the result as one JSON line. */
static char *work(plan *p, size_t i, aod_store **st)
{
    aod_batch_entry *e = &p->entries[i];
    job *j = &p->jobs[i];
    aod_run_output outs[AOD_BATCH_NFORMATS];
    char names[AOD_BATCH_NFORMATS][256], dir[4096];
    char said[AOD_SELFAUDIT_ID_LEN] = "", msg[1024] = "";
    aod_report_summary sum;
    struct timespec t0;
    json_t *res, *files;
    aod_error err;
    char *line;
    size_t k;
    int rc = -1, dfd = -1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    aod_error_init(&err);
    memset(&sum, 0, sizeof sum);
    memset(outs, 0, sizeof outs);
    if ((size_t)snprintf(dir, sizeof dir, "%s/%s", p->o->out_dir, e->dir) >= sizeof dir) {
        aod_error_set(&err, AOD_ERR_IO, p->o->out_dir, 0, NULL, "path too long");
        goto done;
    }
    dfd = aod_outfile_subdir(p->out_fd, e->dir, 1, dir, &err);
    if (dfd < 0)
        goto done;
    for (k = 0; k < e->n_files; k++) {
        if ((size_t)snprintf(names[k], sizeof names[k], "%s.%s", e->base,
                             aod_run_format_ext(e->files[k].format)) >= sizeof names[k]) {
            aod_error_set(&err, AOD_ERR_IO, dir, 0, NULL, "path too long");
            goto done;
        }
        outs[k].format = e->files[k].format;
        outs[k].path = names[k];
        outs[k].at_dir = 1;
        outs[k].dir_fd = dfd;
    }
    if (!*st && !(*st = aod_store_connect(p->o->db, &err)))
        goto done;
    rc = aod_run_report(*st, &j->info, j->text, 0, outs, e->n_files, &p->ro, &sum, said, &err);
done:
    if (dfd >= 0)
        close(dfd);
    if (rc != 0) {
        aod_error_format(&err, msg, sizeof msg);
        /* A lost connection is not coming back by itself: connect afresh. */
        if (err.code == AOD_ERR_DB_CONNECT || err.code == AOD_ERR_DB) {
            aod_store_free(*st);
            *st = NULL;
        }
    }
    files = json_array();
    for (k = 0; rc == 0 && files && k < e->n_files; k++)
        json_array_append_new(files, json_pack("{s:s, s:I}", "sha256", outs[k].sha256, "size",
                                               (json_int_t)outs[k].size));
    res = json_pack("{s:I, s:i, s:s, s:I, s:I, s:I, s:o, s:s, s:f}", "job", (json_int_t)i, "code",
                    (int)err.code, "error", msg, "records", (json_int_t)sum.records_read, "events",
                    (json_int_t)sum.events, "lines", (json_int_t)sum.entries, "files",
                    files ? files : json_array(), "self_audit", said, "seconds", since(&t0));
    line = res ? json_dumps(res, JSON_COMPACT) : NULL;
    json_decref(res);
    return line;
}

/* One report of a group (work_group). */
typedef struct group_item {
    size_t i; /* the entry */
    aod_run_output outs[AOD_BATCH_NFORMATS];
    char names[AOD_BATCH_NFORMATS][256];
    aod_run_job *job;
    aod_report_summary sum;
    aod_error err; /* its own failure, if any */
    int done;      /* finished (its temporaries complete) or failed */
    int published;
    struct timespec t0;
    double seconds;
    char *outcome[8]; /* its search outcomes (owned) */
    size_t n_outcomes;
    aod_facts *facts;          /* a privacy-office report's site facts (owned) */
    aod_facts *care;           /* the others' care list (owned; NULL: none) */
    char notify_names[2][256]; /* --notify: the digest's file names */
} group_item;

typedef struct group {
    plan *p;
    aod_store *st;
    group_item *v;
    size_t n, cur; /* the item whose rows are coming; n when past the end */
    const char **keys;
    /* The completeness statement's store facts (sources, horizon, gaps)
     * depend on the period only, the same for every report of a month:
     * read once per group, before its rows stream, and shared. */
    aod_store_completeness *complete;
    int64_t complete_from, complete_to;
} group;

static void item_fail(group_item *it, const aod_error *err)
{
    if (it->err.code == AOD_OK)
        it->err = *err;
    aod_run_job_free(it->job);
    it->job = NULL;
    it->done = 1;
}

/* Opens item k's outputs and pipeline. */
static int item_begin(group *g, size_t k)
{
    plan *p = g->p;
    group_item *it = &g->v[k];
    aod_batch_entry *e = &p->entries[it->i];
    aod_report_info info;
    char dir[4096];
    aod_error err;
    size_t f;
    int dfd;

    aod_error_init(&err);
    clock_gettime(CLOCK_MONOTONIC, &it->t0);
    if ((size_t)snprintf(dir, sizeof dir, "%s/%s", p->o->out_dir, e->dir) >= sizeof dir) {
        aod_error_set(&err, AOD_ERR_IO, p->o->out_dir, 0, NULL, "path too long");
        goto fail;
    }
    dfd = aod_outfile_subdir(p->out_fd, e->dir, 1, dir, &err);
    if (dfd < 0)
        goto fail;
    for (f = 0; f < e->n_files; f++) {
        if ((size_t)snprintf(it->names[f], sizeof it->names[f], "%s.%s", e->base,
                             aod_run_format_ext(e->files[f].format)) >= sizeof it->names[f]) {
            aod_error_set(&err, AOD_ERR_IO, dir, 0, NULL, "path too long");
            close(dfd);
            goto fail;
        }
        it->outs[f].format = e->files[f].format;
        it->outs[f].path = it->names[f];
        it->outs[f].at_dir = 1;
        it->outs[f].dir_fd = dfd;
    }
    /* the outputs keep their own descriptor of the directory; the report
     * says the group's completeness facts when its period is theirs */
    info = p->jobs[it->i].info;
    if (g->complete && info.from == g->complete_from && info.to == g->complete_to)
        info.completeness = aod_store_completeness_view(g->complete);
    info.facts = it->facts;
    info.care = it->care;
    info.notify = p->ro.notify;
    it->job = aod_run_begin(g->st, &info, p->jobs[it->i].text, 0, it->outs, e->n_files, &p->ro,
                            (const char *const *)it->outcome, it->n_outcomes, &err);
    if (it->job && p->ro.notify) {
        if ((size_t)snprintf(it->notify_names[0], sizeof it->notify_names[0], "%s.notify.json",
                             e->base) >= sizeof it->notify_names[0] ||
            (size_t)snprintf(it->notify_names[1], sizeof it->notify_names[1], "%s.notify.txt",
                             e->base) >= sizeof it->notify_names[1]) {
            aod_error_set(&err, AOD_ERR_IO, dir, 0, NULL, "path too long");
            close(dfd);
            goto fail;
        }
        if (aod_run_job_digest_to(it->job, dfd, it->notify_names[0], it->notify_names[1], &err) !=
            0) {
            close(dfd);
            goto fail;
        }
    }
    close(dfd);
    if (!it->job)
        goto fail;
    return 0;
fail:
    item_fail(it, &err);
    return -1;
}

/* Item k has all its rows: finish it (opening it first if it had none). */
static void item_end(group *g, size_t k)
{
    group_item *it = &g->v[k];
    aod_error err;

    if (it->done)
        return;
    if (!it->job && item_begin(g, k) != 0)
        return;
    aod_error_init(&err);
    if (aod_run_finish(it->job, &it->sum, &err) != 0) {
        item_fail(it, &err);
        return;
    }
    it->done = 1;
    it->seconds = since(&it->t0);
}

static int group_outcome(void *ctx, const char *key, const char *message, aod_error *err)
{
    group *g = ctx;
    size_t k;

    for (k = 0; k < g->n; k++) {
        group_item *it = &g->v[k];
        if (strcmp(g->keys[k], key) != 0 || it->n_outcomes >= 8)
            continue;
        if (!(it->outcome[it->n_outcomes] = strdup(message))) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
            return -1;
        }
        it->n_outcomes++;
    }
    return 0;
}

/* A row of the group's query: rows come grouped by key, in the order the
 * items are (the server's order of patient keys, as planned). */
static int group_row(void *ctx, const char *key, int64_t id, const char *norm, size_t len,
                     aod_error *err)
{
    group *g = ctx;
    group_item *it;
    aod_error ierr;

    if (stop_signal) {
        aod_error_set(err, AOD_ERR_INTERRUPTED, NULL, 0, NULL, "interrupted");
        return -1;
    }
    while (g->cur < g->n && strcmp(g->keys[g->cur], key) != 0) {
        item_end(g, g->cur);
        g->cur++;
    }
    if (g->cur >= g->n) {
        aod_error_set(err, AOD_ERR_DB, "database", 0, NULL,
                      "the store sent the rows of patient key '%s' out of order", key);
        return -1;
    }
    it = &g->v[g->cur];
    if (it->done || (!it->job && item_begin(g, g->cur) != 0))
        return 0; /* it failed; its other rows are skipped */
    aod_error_init(&ierr);
    if (aod_run_push(it->job, id, norm, len, &ierr) != 0) {
        if (ierr.code == AOD_ERR_INTERRUPTED) {
            *err = ierr;
            return -1;
        }
        item_fail(it, &ierr);
    }
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_signal)
        ;
}

/* The result line of a group's item. */
static char *group_result(plan *p, group_item *it)
{
    aod_batch_entry *e = &p->entries[it->i];
    json_t *res, *files = json_array(), *digest = json_array();
    const aod_run_output *douts = NULL;
    char msg[1024] = "";
    char *line;
    size_t k, nd;
    int ok = it->published && it->err.code == AOD_OK;

    if (!ok) {
        if (it->err.code == AOD_OK)
            aod_error_set(&it->err, AOD_ERR_INTERNAL, NULL, 0, NULL, "not made");
        aod_error_format(&it->err, msg, sizeof msg);
    }
    for (k = 0; ok && files && k < e->n_files; k++)
        json_array_append_new(files, json_pack("{s:s, s:I}", "sha256", it->outs[k].sha256, "size",
                                               (json_int_t)it->outs[k].size));
    res =
        json_pack("{s:I, s:i, s:s, s:I, s:I, s:I, s:o, s:s, s:f}", "job", (json_int_t)it->i, "code",
                  ok ? 0 : (int)it->err.code, "error", msg, "records",
                  (json_int_t)it->sum.records_read, "events", (json_int_t)it->sum.events, "lines",
                  (json_int_t)it->sum.entries, "files", files ? files : json_array(), "self_audit",
                  ok ? aod_run_job_self_audit_id(it->job) : "", "seconds", it->seconds);
    /* --notify: the digest's files, when the patient has one */
    nd = ok && it->job ? aod_run_job_digest(it->job, &douts) : 0;
    for (k = 0; digest && k < nd; k++)
        json_array_append_new(digest, json_pack("{s:s, s:I}", "sha256", douts[k].sha256, "size",
                                                (json_int_t)douts[k].size));
    if (res && nd > 0 && digest)
        json_object_set(res, "notify", digest);
    json_decref(digest);
    line = res ? json_dumps(res, JSON_COMPACT) : NULL;
    json_decref(res);
    return line;
}

/*
 * A group of month reports (one patient key each, the same period): their
 * rows in one query in patient order, each key's rows fed to its own
 * report as they stream by; then the finished temporaries synced at once,
 * the group's self-audits recorded in one transaction, and only then the
 * files renamed into place (doc/operations.md, "Durability").  A report
 * that fails alone fails alone; a self-audit transaction that fails fails
 * the whole group, and none of its files appears.  Writes one result line
 * per report to res_fd.  Returns 0, or -1 when the pipe is gone.
 */
/* The care lists of the group's reports that read no site facts of their
 * own, in one query before the rows stream (issue 16 point 3). */
static int group_care(group *g, aod_error *err)
{
    unsigned char *skip = calloc(g->n ? g->n : 1, 1);
    aod_facts **care = calloc(g->n ? g->n : 1, sizeof *care);
    size_t k;
    int rc = -1;

    if (!skip || !care) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        goto out;
    }
    for (k = 0; k < g->n; k++)
        skip[k] = g->v[k].facts != NULL;
    if (aod_run_read_care_group(g->st, g->keys, g->n, skip, care, err) != 0)
        goto out;
    for (k = 0; k < g->n; k++)
        g->v[k].care = care[k];
    rc = 0;
out:
    free(skip);
    free(care);
    return rc;
}

static int work_group(plan *p, const uint32_t *idx, size_t n, aod_store **st, int res_fd)
{
    group g;
    aod_run_job *done[MAX_GROUP];
    size_t k, m = 0;
    aod_error err;
    long pause = env_ms("AOD_TEST_PUBLISH_PAUSE_MS");
    int rc = 0;

    aod_error_init(&err);
    memset(&g, 0, sizeof g);
    g.p = p;
    g.n = n;
    g.v = calloc(n, sizeof *g.v);
    g.keys = calloc(n, sizeof *g.keys);
    if (!g.v || !g.keys) {
        free(g.v);
        free(g.keys);
        return -1;
    }
    for (k = 0; k < n; k++) {
        g.v[k].i = idx[k];
        g.keys[k] = p->entries[idx[k]].keys[0];
        aod_error_init(&g.v[k].err);
    }
    if (!*st && !(*st = aod_store_connect(p->o->db, &err)))
        goto failed;
    g.st = *st;
    if (aod_store_search_outcomes_keys(g.st, g.keys, n, group_outcome, &g, &err) != 0)
        goto failed;
    g.complete_from = p->jobs[idx[0]].info.from;
    g.complete_to = p->jobs[idx[0]].info.to;
    g.complete = aod_store_completeness_get(g.st, g.complete_from, g.complete_to, &err);
    if (!g.complete)
        goto failed;
    /* the privacy office's site facts, and a digest's, while the
     * connection is free */
    for (k = 0; k < n; k++) {
        aod_report_info info = p->jobs[g.v[k].i].info;
        info.notify = p->ro.notify;
        if (info.audience != AOD_AUDIENCE_PRIVACY_OFFICE && !info.notify)
            continue;
        if (!(g.v[k].facts = aod_run_read_facts(g.st, &info, &err)))
            goto failed;
    }
    /* the others' care lists (evidence of a reason), one query for all */
    if (group_care(&g, &err) != 0)
        goto failed;
    if (aod_store_each_keys_event(g.st, g.keys, n, p->month_from, p->month_to, group_row, &g,
                                  &err) != 0)
        goto failed;
    for (; g.cur < n; g.cur++)
        item_end(&g, g.cur);
    /* --notify: the digests, now that the connection is free again (a
     * digest with a candidate new organisation reads what came before) */
    for (k = 0; p->ro.notify && k < n; k++) {
        group_item *it = &g.v[k];
        aod_error derr;
        if (!it->job || !it->done || it->err.code != AOD_OK)
            continue;
        aod_error_init(&derr);
        if (aod_run_job_digest_finish(it->job, g.st, &derr) != 0) {
            if (derr.code == AOD_ERR_DB_CONNECT || derr.code == AOD_ERR_DB) {
                err = derr;
                goto failed;
            }
            item_fail(it, &derr);
        }
    }
    for (k = 0; k < n; k++)
        if (g.v[k].job && g.v[k].done && g.v[k].err.code == AOD_OK)
            done[m++] = g.v[k].job;
    if (m == 0)
        goto report;
    /* The data of every finished temporary on disk before the self-audits
     * say the files exist. */
    if (aod_outfile_sync_fs(p->out_fd, p->o->out_dir, &err) != 0)
        goto failed;
    if (p->ro.pause_ms > 0)
        sleep_ms(p->ro.pause_ms);
    if (stop_signal) {
        aod_error_set(&err, AOD_ERR_INTERRUPTED, NULL, 0, NULL, "interrupted");
        goto failed;
    }
    if (aod_run_record_group(g.st, done, m, &err) != 0)
        goto failed;
    /* Recorded: publish.  From here on a signal waits for the renames. */
    for (k = 0; k < n; k++) {
        group_item *it = &g.v[k];
        aod_error perr;
        if (!it->job || !it->done || it->err.code != AOD_OK)
            continue;
        aod_error_init(&perr);
        if (aod_run_publish(it->job, &perr) != 0)
            it->err = perr;
        else
            it->published = 1;
        if (pause > 0)
            sleep_ms(pause);
    }
    /* Their names go to disk before the manifest lists them: the parent
     * syncs once before it writes the manifest (write_manifest), rather
     * than each group waiting here for a second sync of its own. */
    goto report;
failed:
    if (err.code == AOD_ERR_DB_CONNECT || err.code == AOD_ERR_DB) {
        aod_store_free(*st);
        *st = NULL;
    }
    for (k = 0; k < n; k++)
        if (!g.v[k].published)
            item_fail(&g.v[k], &err);
report:
    for (k = 0; k < n; k++) {
        group_item *it = &g.v[k];
        char *line = group_result(p, it);
        size_t o;
        if (rc == 0 && (!line || write_all(res_fd, line, strlen(line)) != 0 ||
                        write_all(res_fd, "\n", 1) != 0))
            rc = -1;
        free(line);
        aod_run_job_free(it->job);
        aod_facts_free(it->facts);
        aod_facts_free(it->care);
        for (o = 0; o < it->n_outcomes; o++)
            free(it->outcome[o]);
    }
    aod_store_completeness_free(g.complete);
    free(g.v);
    free(g.keys);
    return rc;
}

static void worker_main(plan *p, int job_fd, int res_fd, pid_t parent)
{
    struct sigaction sa;
    aod_store *st = NULL;
    uint32_t idx;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_worker;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
    if (getppid() != parent)
        exit(0);
    p->ro.stop = &stop_signal;
    p->ro.pause_ms = env_ms("AOD_TEST_SLOW_MS");
    while (!stop_signal) {
        uint32_t msg[1 + MAX_GROUP];
        ssize_t r = read(job_fd, msg, sizeof msg);
        char *line;
        size_t k;
        if (r < 0 && errno == EINTR)
            continue;
        /* one message per write, far below PIPE_BUF: read whole */
        if (r < (ssize_t)(2 * sizeof idx) || msg[0] == 0 || msg[0] > MAX_GROUP ||
            (size_t)r != (1 + msg[0]) * sizeof idx)
            break;
        for (k = 0; k < msg[0]; k++)
            if (msg[1 + k] >= p->n)
                break;
        if (k < msg[0])
            break;
        if (p->o->month) {
            if (work_group(p, msg + 1, msg[0], &st, res_fd) != 0)
                break;
            continue;
        }
        idx = msg[1];
        line = work(p, idx, &st);
        if (!line || write_all(res_fd, line, strlen(line)) != 0 ||
            write_all(res_fd, "\n", 1) != 0) {
            free(line);
            break;
        }
        free(line);
    }
    aod_store_free(st);
    close(job_fd);
    close(res_fd);
    exit(0);
}

static int spawn(plan *p, worker *w, size_t nw, size_t k, aod_error *err)
{
    int jp[2], rp[2];
    pid_t pid, parent = getpid();
    size_t i;

    if (pipe(jp) != 0)
        goto fail;
    if (pipe(rp) != 0) {
        close(jp[0]);
        close(jp[1]);
        goto fail;
    }
    /* Every stream, the manifest's on-disk body included: a worker's exit()
     * would otherwise write a copy of what is still buffered. */
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        close(jp[0]);
        close(jp[1]);
        close(rp[0]);
        close(rp[1]);
        goto fail;
    }
    if (pid == 0) {
        close(jp[1]);
        close(rp[0]);
        for (i = 0; i < nw; i++) {
            if (i == k || w[i].pid <= 0)
                continue;
            close(w[i].job_fd);
            close(w[i].res_fd);
        }
        if (wake_pipe[0] >= 0) {
            close(wake_pipe[0]);
            close(wake_pipe[1]);
            wake_pipe[0] = wake_pipe[1] = -1; /* the parent's handler must not write there */
        }
        worker_main(p, jp[0], rp[1], parent);
    }
    close(jp[0]);
    close(rp[1]);
    fcntl(jp[1], F_SETFD, FD_CLOEXEC);
    fcntl(rp[0], F_SETFD, FD_CLOEXEC);
    w[k].pid = pid;
    w[k].job_fd = jp[1];
    w[k].res_fd = rp[0];
    w[k].n_jobs = 0;
    aod_buf_init(&w[k].in, (size_t)1024 * 1024);
    return 0;
fail:
    aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "cannot start a worker process: %s",
                  strerror(errno));
    return -1;
}

/* --------------------------------------------------------------- the run */

typedef struct run_state {
    plan *p;
    progress pr;
    worker w[MAX_JOBS];
    size_t nw, alive;
    size_t *todo;
    size_t n_todo, next;
    int stopping, interrupted, killed, db_lost, workers_lost, dirty;
    int unsynced; /* files published since the last sync (write_manifest) */
    size_t worker_trouble;
    size_t written, failed, rolled_back;
    struct timespec last_manifest;
    double manifest_secs; /* what the last manifest write took */
    aod_error manifest_err;
    /* across the windows */
    int started;              /* start_run() done */
    size_t windows;           /* windows finished */
    int lock_fd;              /* the directory's lock, held for the run */
    aod_batch_manifest *m;    /* the finished reports, on disk */
    aod_batch_resume *resume; /* what an earlier run completed */
    seen_set seen;            /* the reports planned so far (duplicates) */
    size_t resumed, skipped, pending;
} run_state;

static void write_manifest(run_state *s, const char *state)
{
    plan *p = s->p;
    aod_error err;

    struct timespec t0;

    aod_error_init(&err);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* The names of the files a month run's workers renamed since the last
     * time on disk before the manifest lists them (work_group).  A failure
     * loses nothing: the files are in place and recorded, and a name lost
     * to a crash is missing from the manifest too (made again). */
    if (s->unsynced) {
        (void)aod_outfile_sync_fs(p->out_fd, p->o->out_dir, &err);
        aod_error_init(&err);
        s->unsynced = 0;
    }
    p->run.state = state;
    if (aod_batch_manifest_commit(s->m, &p->run, p->entries, p->n, &err) != 0) {
        char msg[700];
        say(&s->pr, AOD_LOG_WARNING, "warning: the manifest could not be written: %s",
            aod_error_format(&err, msg, sizeof msg));
        if (s->manifest_err.code == AOD_OK)
            s->manifest_err = err;
    } else {
        aod_error_init(&s->manifest_err);
    }
    s->manifest_secs = since(&t0);
    clock_gettime(CLOCK_MONOTONIC, &s->last_manifest);
    s->dirty = 0;
}

/* Is it time to write the manifest again?  Every MANIFEST_EVERY_MS, but
 * never spending more than a tenth of the run on it: a manifest of a
 * million reports takes seconds to write. */
static int manifest_due(const run_state *s)
{
    double every = MANIFEST_EVERY_MS / 1000.0, min_gap = s->manifest_secs * 10;

    return s->dirty && since(&s->last_manifest) >= (min_gap > every ? min_gap : every);
}

static void log_result(run_state *s, const aod_batch_entry *e)
{
    char w[300], files[64] = "";
    size_t k;

    who(e, w, sizeof w);
    if (e->status == AOD_BATCH_FAILED) {
        say(&s->pr, AOD_LOG_ERR, "failed: %s %s: %s", w, e->base, e->error ? e->error : "");
        return;
    }
    if (e->status != AOD_BATCH_OK || s->pr.quiet || (s->pr.tty && !s->pr.verbose))
        return;
    for (k = 0; k < e->n_files; k++)
        snprintf(files + strlen(files), sizeof files - strlen(files), "%s%s", k ? "," : "",
                 aod_run_format_ext(e->files[k].format));
    say(&s->pr, AOD_LOG_INFO,
        "[%zu/%zu] ok %s -> ...%s/%s.{%s}: %ld records -> %ld events, %ld lines, %.2f s",
        s->pr.done, s->pr.total, w, dir_shown(e), e->base, files, e->records, e->events, e->lines,
        e->seconds);
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

/* Applies a worker's result line to its entry. */
static void apply_result(run_state *s, worker *w, const char *line)
{
    plan *p = s->p;
    json_error_t jerr;
    json_t *r = json_loads(line, 0, &jerr), *files, *f;
    aod_batch_entry *e;
    long code;
    size_t k;

    json_int_t jn = r ? json_integer_value(json_object_get(r, "job")) : -1;

    for (k = 0; k < w->n_jobs && (json_int_t)w->jobs[k] != jn; k++)
        ;
    if (!r || k >= w->n_jobs) {
        json_decref(r);
        return;
    }
    e = &p->entries[jn];
    w->jobs[k] = w->jobs[--w->n_jobs];
    aod_batch_entry_changed(e);
    code = (long)json_integer_value(json_object_get(r, "code"));
    e->seconds = json_real_value(json_object_get(r, "seconds"));
    s->dirty = 1;
    if (code == AOD_OK) {
        files = json_object_get(r, "files");
        json_array_foreach(files, k, f)
        {
            if (k >= e->n_files)
                break;
            snprintf(e->files[k].sha256, sizeof e->files[k].sha256, "%s", jstr(f, "sha256"));
            e->files[k].size = (long long)json_integer_value(json_object_get(f, "size"));
        }
        e->n_notify = 0;
        json_array_foreach(json_object_get(r, "notify"), k, f)
        {
            static const char *const formats[2] = {"notify-json", "notify-text"};
            if (k >= 2)
                break;
            e->notify[k].format = formats[k];
            snprintf(e->notify[k].sha256, sizeof e->notify[k].sha256, "%s", jstr(f, "sha256"));
            e->notify[k].size = (long long)json_integer_value(json_object_get(f, "size"));
            e->n_notify = k + 1;
        }
        e->records = (long)json_integer_value(json_object_get(r, "records"));
        e->events = (long)json_integer_value(json_object_get(r, "events"));
        e->lines = (long)json_integer_value(json_object_get(r, "lines"));
        snprintf(e->self_audit, sizeof e->self_audit, "%s", jstr(r, "self_audit"));
        e->status = AOD_BATCH_OK;
        aod_batch_entry_set_error(e, NULL);
        s->written++;
        /* a month run's worker leaves syncing the names to write_manifest */
        s->unsynced = s->unsynced || p->o->month != NULL;
    } else if (code == AOD_ERR_INTERRUPTED) {
        e->status = AOD_BATCH_PENDING;
        aod_batch_entry_set_error(e, "interrupted before it was complete; nothing of it was kept");
        s->rolled_back++;
    } else {
        e->status = AOD_BATCH_FAILED;
        aod_batch_entry_set_error(e, jstr(r, "error"));
        s->failed++;
        s->pr.failed++;
        if (code == AOD_ERR_DB_CONNECT && !s->db_lost) {
            s->db_lost = 1;
            s->stopping = 1;
            say(&s->pr, AOD_LOG_ERR,
                "the database connection is lost: no more reports are started");
        }
    }
    json_decref(r);
    if (e->status != AOD_BATCH_PENDING)
        s->pr.done++;
    log_result(s, e);
    bar_draw(&s->pr, 0);
}

static void worker_gone(run_state *s, worker *w)
{
    int status = 0;
    char msg[200];

    close(w->res_fd);
    close(w->job_fd);
    w->res_fd = w->job_fd = -1;
    while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
        ;
    w->pid = 0;
    s->alive--;
    /* A worker ends with status 0 however its report ended: anything else
     * (a crash, a sanitizer's report) is a bug to hear about. */
    if (!s->killed && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
        s->worker_trouble++;
        say(&s->pr, AOD_LOG_WARNING, "warning: a worker process ended abnormally (%s %d)",
            WIFSIGNALED(status) ? "signal" : "status",
            WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    }
    while (w->n_jobs > 0) {
        aod_batch_entry *e = &s->p->entries[w->jobs[--w->n_jobs]];
        aod_batch_entry_changed(e);
        if (WIFSIGNALED(status))
            snprintf(msg, sizeof msg, "the worker process ended by signal %d while making it",
                     WTERMSIG(status));
        else
            snprintf(msg, sizeof msg, "the worker process ended (status %d) while making it",
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        if (s->interrupted) {
            e->status = AOD_BATCH_PENDING;
            aod_batch_entry_set_error(e,
                                      "interrupted before it was complete; nothing of it was kept");
        } else {
            e->status = AOD_BATCH_FAILED;
            aod_batch_entry_set_error(e, msg);
            s->failed++;
            s->pr.failed++;
            s->pr.done++;
            log_result(s, e);
        }
        s->dirty = 1;
    }
    aod_buf_free(&w->in);
}

static void read_worker(run_state *s, worker *w)
{
    char buf[65536];
    ssize_t r = read(w->res_fd, buf, sizeof buf);

    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (r <= 0) {
        worker_gone(s, w);
        return;
    }
    if (aod_buf_add(&w->in, buf, (size_t)r) != 0) {
        worker_gone(s, w);
        return;
    }
    for (;;) {
        char *nl = memchr(w->in.data, '\n', w->in.len);
        size_t n;
        if (!nl)
            break;
        *nl = '\0';
        apply_result(s, w, w->in.data);
        n = (size_t)(nl - w->in.data) + 1;
        memmove(w->in.data, nl + 1, w->in.len - n);
        w->in.len -= n;
        w->in.data[w->in.len] = '\0';
    }
}

/* How many reports the next message to a worker carries: one, or in a
 * month run a group of consecutive planned reports (consecutive patient
 * keys), smaller towards the end so that every worker has a share. */
static size_t group_size(const run_state *s)
{
    const plan *p = s->p;
    size_t left = s->n_todo - s->next, share, cap = p->group_max, files;

    if (!p->o->month)
        return 1;
    files = p->n > 0 ? p->entries[s->todo[s->next]].n_files : 1;
    if (files > 0 && GROUP_MAX_FILES / files < cap)
        cap = GROUP_MAX_FILES / files;
    share = (left + s->nw - 1) / s->nw;
    if (share < cap)
        cap = share;
    return cap > 0 ? cap : 1;
}

static void dispatch(run_state *s)
{
    size_t k, i;

    for (k = 0; k < s->nw && !s->stopping && s->next < s->n_todo; k++) {
        worker *w = &s->w[k];
        uint32_t msg[1 + MAX_GROUP];
        size_t n;
        if (w->pid <= 0 || w->n_jobs > 0)
            continue;
        n = group_size(s);
        if (n > s->n_todo - s->next)
            n = s->n_todo - s->next;
        msg[0] = (uint32_t)n;
        for (i = 0; i < n; i++)
            msg[1 + i] = (uint32_t)s->todo[s->next + i];
        if (write_all(w->job_fd, msg, (1 + n) * sizeof msg[0]) != 0)
            continue; /* it died; its pipe will say so */
        for (i = 0; i < n; i++)
            w->jobs[i] = msg[1 + i];
        w->n_jobs = n;
        s->next += n;
        clock_gettime(CLOCK_MONOTONIC, &w->job_start);
    }
}

static void on_signal(run_state *s)
{
    size_t k, busy = 0;

    /* A second signal: the operator will not wait for the rollback (a
     * worker stuck on a database that does not answer).  Their temporary
     * files are removed by the next run. */
    if (stop_count >= 2 && !s->killed) {
        s->killed = 1;
        for (k = 0; k < s->nw; k++)
            if (s->w[k].pid > 0)
                kill(s->w[k].pid, SIGKILL);
        say(&s->pr, AOD_LOG_WARNING, "stopping now: worker processes killed");
    }
    if (!stop_signal || s->interrupted)
        return;
    s->interrupted = 1;
    s->stopping = 1;
    for (k = 0; k < s->nw; k++)
        if (s->w[k].pid > 0 && s->w[k].n_jobs > 0) {
            kill(s->w[k].pid, SIGTERM);
            busy += s->w[k].n_jobs;
        }
    say(&s->pr, AOD_LOG_WARNING, "%s: stopping; %zu report%s in flight %s rolled back",
        stop_signal == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)", busy,
        busy == 1 ? "" : "s", busy == 1 ? "is" : "are");
}

static void loop(run_state *s)
{
    struct pollfd fds[MAX_JOBS + 1];
    worker *owner[MAX_JOBS + 1];
    size_t k;

    for (;;) {
        size_t nfd = 0, busy = 0;
        int n;

        on_signal(s);
        dispatch(s);
        for (k = 0; k < s->nw; k++)
            if (s->w[k].pid > 0 && s->w[k].n_jobs > 0)
                busy++;
        if (busy == 0 && (s->stopping || s->next >= s->n_todo || s->alive == 0))
            break;
        fds[nfd].fd = wake_pipe[0];
        fds[nfd].events = POLLIN;
        owner[nfd++] = NULL;
        for (k = 0; k < s->nw; k++) {
            if (s->w[k].pid <= 0)
                continue;
            fds[nfd].fd = s->w[k].res_fd;
            fds[nfd].events = POLLIN;
            owner[nfd++] = &s->w[k];
        }
        n = poll(fds, (nfds_t)nfd, 200);
        if (n > 0) {
            for (k = 0; k < nfd; k++) {
                if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                if (!owner[k]) {
                    char drain[64];
                    while (read(wake_pipe[0], drain, sizeof drain) > 0)
                        ;
                } else if (owner[k]->pid > 0) {
                    read_worker(s, owner[k]);
                }
            }
        }
        bar_draw(&s->pr, 0);
        if (manifest_due(s))
            write_manifest(s, "running");
    }
}

static void stop_workers(run_state *s)
{
    size_t k;

    /* Closing a worker's job pipe tells it to finish. */
    for (k = 0; k < s->nw; k++)
        if (s->w[k].pid > 0 && s->w[k].job_fd >= 0) {
            close(s->w[k].job_fd);
            s->w[k].job_fd = -1;
        }
    for (k = 0; k < s->nw; k++) {
        worker *w = &s->w[k];
        if (w->pid <= 0)
            continue;
        /* drain anything it still says, then reap it */
        while (w->pid > 0) {
            struct pollfd fd;
            fd.fd = w->res_fd;
            fd.events = POLLIN;
            if (poll(&fd, 1, 1000) < 0 && errno != EINTR)
                break;
            if (fd.revents)
                read_worker(s, w);
            on_signal(s);
        }
    }
}

/* ----------------------------------------------------------------- setup */

static int check_options(const aod_batch_options *o, aod_error *err)
{
    if (!!o->requests == !!o->month) {
        aod_error_set(err, AOD_ERR_USAGE, "batch", 0, NULL,
                      "give either --requests FILE or --month YYYY-MM");
        return -1;
    }
    if (!o->out_dir || !*o->out_dir) {
        aod_error_set(err, AOD_ERR_USAGE, "batch", 0, NULL, "--out-dir is required");
        return -1;
    }
    if (o->jobs < 1 || o->jobs > MAX_JOBS) {
        aod_error_set(err, AOD_ERR_USAGE, "--jobs", 0, NULL, "give 1 to %d", MAX_JOBS);
        return -1;
    }
    if (o->mode && strcmp(o->mode, "access") != 0 && strcmp(o->mode, "disclosures") != 0) {
        aod_error_set(err, AOD_ERR_USAGE, "--mode", 0, NULL, "'%s': use disclosures or access",
                      o->mode);
        return -1;
    }
    if (o->audience && strcmp(o->audience, "patient") != 0 &&
        strcmp(o->audience, "privacy-office") != 0) {
        aod_error_set(err, AOD_ERR_USAGE, "--audience", 0, NULL,
                      "'%s': use patient or privacy-office", o->audience);
        return -1;
    }
    /* the digest goes to the patient: it is made from the patient's copy,
     * of the month's reports */
    if (o->notify && !o->month) {
        aod_error_set(err, AOD_ERR_USAGE, "--notify", 0, NULL,
                      "the digests are made by the month's batch: give --month YYYY-MM");
        return -1;
    }
    if (o->notify && o->audience && strcmp(o->audience, "patient") != 0) {
        aod_error_set(err, AOD_ERR_USAGE, "--notify", 0, NULL,
                      "the digest goes to the patient: it is made from the patient's copy, "
                      "not with --audience %s",
                      o->audience);
        return -1;
    }
    return 0;
}

/* The database is there and initialised: fail before any work. */
static int check_store(plan *p, aod_error *err)
{
    aod_store *st = aod_store_connect(p->o->db, err);
    int rc = -1;

    if (!st)
        return -1;
    if (aod_store_check_version(st, err) != 0)
        rc = -1;
    else if (p->o->month)
        rc = aod_store_each_patient(st, p->month_from, p->month_to, on_month_patient, p, err);
    else
        rc = 0;
    /* Closed before the workers fork: a libpq connection is not shared. */
    aod_store_free(st);
    return rc;
}

/* Forgets the window's entries (they are in the manifest). */
static void window_clear(plan *p)
{
    size_t i;

    for (i = 0; i < p->n; i++) {
        aod_batch_entry_clear(&p->entries[i]);
        free(p->jobs[i].patient_name);
    }
    p->n = 0;
}

static void plan_free(plan *p)
{
    size_t i;

    window_clear(p);
    free(p->entries);
    free(p->jobs);
    for (i = 0; i < p->n_langs; i++) {
        free(p->langs[i].lang);
        aod_text_free(p->langs[i].text);
    }
    aod_policy_free(p->policy);
    aod_sign_key_free(p->sign_key);
}

static int prepare(plan *p, aod_error *err)
{
    const aod_batch_options *o = p->o;
    unsigned char digest[AOD_SHA256_DIGEST_LEN];
    const char *why = NULL;

    if (check_options(o, err) != 0)
        return -1;
    if (aod_batch_parse_formats(o->formats ? o->formats : "pdf,csv", &p->formats, err) != 0)
        return -1;
    if (o->sign) {
        /* Each FHIR document is signed as `report --sign` signs it; the
         * other formats carry no signature.  Loaded once, before the
         * workers start (they inherit it). */
        unsigned char pub[AOD_SIGN_PUBLIC_LEN];
        p->sign_key = aod_sign_key_load_private(o->sign, err);
        if (!p->sign_key)
            return -1;
        if (aod_sign_key_public(p->sign_key, pub) != 0) {
            aod_error_set(err, AOD_ERR_INTERNAL, "--sign", 0, NULL, "cannot read the public key");
            return -1;
        }
        memcpy(p->sign_kid, "signed by ", 10);
        aod_sha256_hex(pub, sizeof pub, p->sign_kid + 10);
        p->ro.sign_key = p->sign_key;
    }
    p->policy = aod_run_load_policy(o->policy, digest, err);
    if (!p->policy)
        return -1;
    aod_sha256_hex(digest, sizeof digest, p->policy_hex);
    if (aod_timefmt_set_zone(p->policy->presentation.time_zone, err) != 0)
        return -1;
    if (o->now) {
        if (aod_run_parse_when("--now", o->now, 0, &p->now, err) != 0)
            return -1;
    } else {
        p->now = aod_timefmt_now();
    }
    if (o->month && parse_month(p, err) != 0)
        return -1;
    if (!text_for(p, default_lang(p), &why)) {
        aod_error_set(err, AOD_ERR_USAGE, "--lang", 0, NULL, "%s", why);
        return -1;
    }
    if (o->shard_n)
        snprintf(p->manifest_base, sizeof p->manifest_base, "manifest-%u-of-%u", o->shard_k,
                 o->shard_n);
    else
        snprintf(p->manifest_base, sizeof p->manifest_base, "manifest");

    return 0;
}

/* Opens what an earlier run completed (s->resume). */
static int load_resume(run_state *s, aod_error *err)
{
    plan *p = s->p;
    aod_buf path;
    aod_error merr;
    char name[128];

    aod_buf_init(&path, 8192);
    if ((size_t)snprintf(name, sizeof name, "%s.json", p->manifest_base) >= sizeof name ||
        aod_buf_printf(&path, "%s/%s", p->o->out_dir, name) != 0) {
        aod_error_set(err, AOD_ERR_IO, p->o->out_dir, 0, NULL, "path too long");
        aod_buf_free(&path);
        return -1;
    }
    aod_error_init(&merr);
    if (aod_batch_resume_open(p->out_fd, name, aod_buf_str(&path), &s->resume, &merr) != 0) {
        char msg[700];
        if (merr.code == AOD_ERR_NOMEM) {
            *err = merr;
            aod_buf_free(&path);
            return -1;
        }
        say(&s->pr, AOD_LOG_WARNING, "warning: %s; every report is made again",
            aod_error_format(&merr, msg, sizeof msg));
    }
    aod_buf_free(&path);
    return 0;
}

/* What comes once the first window is planned (so that the requests
 * file's own errors come first): the database (it also lists a month's
 * patients), the directory, its lock, what a killed run left, what an
 * earlier run completed, and the manifest. */
static int start_run(run_state *s, aod_error *err)
{
    plan *p = s->p;
    const aod_batch_options *o = p->o;
    struct stat sb;

    s->started = 1;
    if (check_store(p, err) != 0)
        return -1;
    p->out_fd = aod_outfile_dir_open(o->out_dir, 1, err);
    if (p->out_fd < 0)
        return -1;
    /* Ours, so allowed (outfile.h); but others may plant things in it. */
    if (fstat(p->out_fd, &sb) == 0 && (sb.st_mode & (S_IWGRP | S_IWOTH)))
        say(&s->pr, AOD_LOG_WARNING,
            "warning: %s is writable by group or others (mode %04o): nothing in it is "
            "reached through a link, but others can disturb the run; make it 0700",
            o->out_dir, (unsigned)(sb.st_mode & 07777));
    s->lock_fd = lock_dir(p, err);
    if (s->lock_fd < 0)
        return -1;
    p->removed_temps = remove_temps(p);
    if (p->removed_temps && !o->quiet)
        say(&s->pr, AOD_LOG_INFO, "removed %ld temporary file%s an interrupted run left in %s",
            p->removed_temps, p->removed_temps == 1 ? "" : "s", o->out_dir);
    if (load_resume(s, err) != 0)
        return -1;
    s->m = aod_batch_manifest_new(p->out_fd, o->out_dir, p->manifest_base, err);
    return s->m ? 0 : -1;
}

/* Runs the window's pending reports in worker processes (forked now, so
 * they see this window's plan). */
static void run_window(run_state *s, aod_error *err)
{
    plan *p = s->p;
    size_t i;

    s->next = 0;
    s->nw = (size_t)p->o->jobs < s->n_todo ? (size_t)p->o->jobs : s->n_todo;
    s->alive = 0;
    for (i = 0; i < s->nw; i++) {
        if (spawn(p, s->w, s->nw, i, err) != 0)
            break;
        s->alive++;
    }
    if (s->alive == 0) {
        s->stopping = 1;
        s->workers_lost = 1;
        s->nw = 0;
        return;
    }
    aod_error_init(err);
    loop(s);
    /* every worker gone with work left: nothing more can be done */
    if (s->alive == 0 && !s->stopping && s->next < s->n_todo) {
        s->workers_lost = 1;
        s->stopping = 1;
    }
    stop_workers(s);
    /* killed workers could not remove their temporary files */
    if (s->killed)
        remove_temps(p);
    for (i = 0; i < s->nw; i++)
        aod_buf_free(&s->w[i].in);
    s->nw = 0;
}

/* Checks, resumes, runs and files the planned window; the run's reports
 * are then in the manifest and the window is empty.  last: the requests
 * (or the month's patients) are all planned. */
static int flush_window(run_state *s, int last, aod_error *err)
{
    plan *p = s->p;
    const aod_batch_options *o = p->o;
    size_t i, resumed, skipped = 0, *todo;
    aod_error werr;

    if (!s->started && start_run(s, err) != 0)
        return -1;
    for (i = 0; i < p->n; i++)
        p->jobs[i].info.patient_keys = (const char *const *)p->entries[i].keys;
    if (check_duplicates(p, &s->seen, &s->pr, err) != 0)
        return -1;
    resumed = resume(p, s->resume, err);
    if (err->code != AOD_OK)
        return -1;
    todo = realloc(s->todo, (p->n ? p->n : 1) * sizeof *s->todo);
    if (!todo) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return -1;
    }
    s->todo = todo;
    s->n_todo = 0;
    for (i = 0; i < p->n; i++) {
        if (p->entries[i].status == AOD_BATCH_PENDING)
            s->todo[s->n_todo++] = i;
        else if (p->entries[i].status == AOD_BATCH_SKIPPED)
            skipped++;
        if (o->verbose && p->entries[i].resumed) {
            char w[300];
            say(&s->pr, AOD_LOG_INFO, "already complete: %s %s", who(&p->entries[i], w, sizeof w),
                p->entries[i].base);
        }
    }
    s->resumed += resumed;
    s->skipped += skipped;
    s->pr.total += s->n_todo;
    if (!o->quiet && (s->windows == 0 || o->verbose) && !s->stopping)
        say(&s->pr, AOD_LOG_INFO,
            "%s%zu report%s to make%s (%zu already complete, %zu skipped), %d worker%s",
            last && s->windows == 0 ? "" : "in the next requests: ", s->n_todo,
            s->n_todo == 1 ? "" : "s", o->month ? " for the month's patients" : "", resumed,
            skipped, o->jobs, o->jobs == 1 ? "" : "s");
    s->dirty = 1;
    if (s->windows == 0 || (!s->stopping && manifest_due(s))) {
        write_manifest(s, "running");
        if (s->windows == 0 && s->manifest_err.code != AOD_OK) {
            *err = s->manifest_err;
            return -1;
        }
    }
    on_signal(s);
    if (s->n_todo > 0 && !s->stopping && !stop_signal) {
        aod_error_init(&werr);
        run_window(s, &werr);
        if (s->alive == 0 && s->workers_lost && werr.code != AOD_OK && s->windows == 0) {
            *err = werr;
            return -1;
        }
    }
    on_signal(s);
    /* Finished, or pending for good (the run is stopping): on disk. */
    for (i = 0; i < p->n; i++) {
        if (p->entries[i].status == AOD_BATCH_PENDING)
            s->pending++;
        if (aod_batch_manifest_add(s->m, &p->entries[i], err) != 0)
            return -1;
    }
    window_clear(p);
    s->windows++;
    return 0;
}

/* Called before each request is planned: runs the window when it is full. */
static int window_full(plan *p, aod_error *err)
{
    return p->n >= p->window ? flush_window(p->s, 0, err) : 0;
}

int aod_batch_run(const aod_batch_options *o, aod_error *err)
{
    struct sigaction sa, old_int, old_term, old_pipe;
    run_state *s;
    plan *p;
    size_t i;
    int handlers = 0, rc = -1;
    double secs;

    s = calloc(1, sizeof *s);
    p = calloc(1, sizeof *p);
    if (!s || !p) {
        free(s);
        free(p);
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return -1;
    }
    s->p = p;
    s->lock_fd = -1;
    p->o = o;
    p->s = s;
    p->out_fd = -1;
    p->window =
        env_ms("AOD_TEST_BATCH_WINDOW") > 0 ? (size_t)env_ms("AOD_TEST_BATCH_WINDOW") : WINDOW;
    /* Test hook: smaller groups, so that a test can stop a run between two. */
    p->group_max = env_ms("AOD_TEST_BATCH_GROUP") > 0 && env_ms("AOD_TEST_BATCH_GROUP") < MAX_GROUP
                       ? (size_t)env_ms("AOD_TEST_BATCH_GROUP")
                       : MAX_GROUP;
    aod_error_init(&p->deferred);
    aod_error_init(&s->manifest_err);
    s->pr.tty = isatty(2);
    s->pr.quiet = o->quiet;
    s->pr.verbose = o->verbose;
    clock_gettime(CLOCK_MONOTONIC, &s->pr.start);
    p->run.requests = o->requests;
    p->run.month = o->month;
    p->run.now = o->now;
    p->run.shard_k = o->shard_k;
    p->run.shard_n = o->shard_n;
    p->run.started = aod_timefmt_now();
    p->ro.font = o->font;
    p->ro.fallback_font = o->fallback_font;
    p->ro.csv.bom = o->csv_bom;
    p->ro.csv.delimiter = o->csv_delimiter ? o->csv_delimiter : ',';
    p->ro.operator_name = o->operator_name;
    /* A month run syncs each group of reports at once (work_group). */
    p->ro.defer_sync = o->month != NULL;
    p->ro.notify = o->notify;

    /* Stop requests are noted from the start; workers inherit the flag. */
    stop_signal = 0;
    stop_count = 0;
    if (pipe(wake_pipe) != 0) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "pipe: %s", strerror(errno));
        goto out;
    }
    fcntl(wake_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(wake_pipe[1], F_SETFL, O_NONBLOCK);
    fcntl(wake_pipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(wake_pipe[1], F_SETFD, FD_CLOEXEC);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_parent;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, &old_pipe);
    handlers = 1;

    if (prepare(p, err) != 0)
        goto out;
    /* The requests are planned and run a window at a time (flush_window,
     * from the reader's callbacks and once at the end); a month's patients
     * come from the store in start_run(). */
    if (o->requests && plan_requests(p, &s->pr, err) != 0)
        goto out;
    if (flush_window(s, 1, err) != 0)
        goto out;
    on_signal(s);
    bar_draw(&s->pr, 1);
    bar_clear(&s->pr);

    write_manifest(s, s->interrupted                  ? "interrupted"
                      : s->db_lost || s->workers_lost ? "stopped"
                                                      : "complete");
    secs = since(&s->pr.start);
    {
        size_t pending = s->pending, resumed = s->resumed, skipped = s->skipped;
        if (!o->quiet)
            printf("Batch: %zu written, %zu already complete, %zu failed, %zu skipped, %zu not "
                   "run; %.1f s (%.1f reports/s).  Manifest: %s/%s.json\n",
                   s->written, resumed, s->failed, skipped, pending, secs,
                   secs > 0 ? (double)s->written / secs : 0.0, o->out_dir, p->manifest_base);
        if (s->interrupted)
            aod_error_set(err, AOD_ERR_INTERRUPTED, NULL, 0, NULL,
                          "interrupted: %zu report%s not made; run the same command again to "
                          "finish",
                          pending, pending == 1 ? "" : "s");
        else if (s->db_lost)
            aod_error_set(err, AOD_ERR_DB_CONNECT, "database", 0, NULL,
                          "the connection was lost: %zu report%s failed, %zu not run; run the "
                          "same command again when the database is back",
                          s->failed, s->failed == 1 ? "" : "s", pending);
        else if (s->manifest_err.code != AOD_OK)
            *err = s->manifest_err;
        else if (s->worker_trouble)
            aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL,
                          "%zu worker process%s ended abnormally (see above)", s->worker_trouble,
                          s->worker_trouble == 1 ? "" : "es");
        else if (s->failed || skipped || pending)
            aod_error_set(err, AOD_ERR_PARTIAL, NULL, 0, NULL,
                          "%zu report%s failed, %zu request row%s skipped%s; see %s/%s.json",
                          s->failed, s->failed == 1 ? "" : "s", skipped, skipped == 1 ? "" : "s",
                          pending ? ", some not run" : "", o->out_dir, p->manifest_base);
        else
            rc = 0;
    }
out:
    if (handlers) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        sigaction(SIGPIPE, &old_pipe, NULL);
    }
    for (i = 0; i < 2; i++)
        if (wake_pipe[i] >= 0) {
            close(wake_pipe[i]);
            wake_pipe[i] = -1;
        }
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    aod_batch_manifest_free(s->m);
    aod_batch_resume_free(s->resume);
    seen_free(&s->seen);
    if (p->out_fd >= 0)
        close(p->out_fd);
    free(s->todo);
    plan_free(p);
    free(p);
    free(s);
    return rc;
}
