/*
 * digest.c - the patient's notification digest (see digest.h).
 *
 * Stage: render.  The JSON is built with jansson and dumped with sorted
 * insertion order and a fixed indent, so the same lines give the same
 * bytes; the text uses the templates' notify.* words of the report's
 * language.
 */
#include "render/digest.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/timefmt.h"
#include "model/policy.h"
#include "render/csv.h"

/* The patient CSV's cells the digest reads, by name (doc/csv.md). */
enum { C_WHEN, C_WHO, C_ROLE, C_ORGANISATION, C_ACTION, C_DATA, C_REF, C_N };
static const char *const cell_names[C_N] = {"when",   "who",  "role", "organisation",
                                            "action", "data", "ref"};

/* A line the notify stage marked, as the patient's CSV says it (copies:
 * the digest is composed after the report's pool may be gone). */
typedef struct item {
    char *cell[C_N];
    char *org;     /* aod_entry_org_key, compared with the seen ones, never shown */
    char when[40]; /* the text's time */
    unsigned notify;
} item;

struct aod_digest {
    aod_sink base;
    const aod_text *text;
    const aod_report_info *info;
    aod_report_info held; /* what of info the composition reads */
    aod_csv_row *row;
    size_t col[C_N];
    item *v;
    size_t n, cap;
    long dropped; /* lines past AOD_DIGEST_MAX_KEEP: counted, not kept */
    long count, more;
    long by_reason[AOD_NOTIFY_COUNT];
    json_t *items;
    aod_buf lines; /* the text's lines */
    aod_buf json, out;
};

static const char *word(const aod_digest *d, const char *key)
{
    const char *w = aod_text_get(d->text, key);
    return w ? w : key;
}

static int say(aod_digest *d, aod_buf *b, const char *key, const char *const *vars, aod_error *err)
{
    return aod_text_expand(b, word(d, key), vars, err);
}

static int digest_begin(aod_sink *s, const aod_report_info *info, aod_error *err)
{
    aod_digest *d = (aod_digest *)s;

    (void)err;
    d->info = info;
    d->held = *info;
    return 0;
}

/* The reasons of a line in words, "; " between them, into b. */
static int reason_words(aod_digest *d, unsigned bits, aod_buf *b, aod_error *err)
{
    unsigned k;
    int first = 1;

    for (k = 0; k < AOD_NOTIFY_COUNT; k++) {
        char key[64];
        if (!(bits & (1u << k)))
            continue;
        snprintf(key, sizeof key, "notify.reason.%s", aod_notify_reason_name((aod_notify_reason)k));
        if ((!first && aod_buf_adds(b, "; ") != 0) || aod_buf_adds(b, word(d, key)) != 0)
            goto nomem;
        first = 0;
    }
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
    return -1;
}

/* NULL for an empty value: the JSON says null, not "". */
static const char *nz(const char *s)
{
    return s && *s ? s : NULL;
}

static int digest_entry(aod_sink *s, const aod_entry *e, aod_error *err)
{
    aod_digest *d = (aod_digest *)s;
    const char *cell[AOD_CSV_MAX_COLUMNS];
    const char *org;
    item *it;
    size_t k;

    if (!e->notify)
        return 0;
    if (d->n == AOD_DIGEST_MAX_KEEP) {
        d->dropped++;
        return 0;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 16;
        item *v = realloc(d->v, cap * sizeof *v);
        if (!v)
            goto nomem;
        d->v = v;
        d->cap = cap;
    }
    if (aod_csv_row_cells(d->row, e, AOD_AUDIENCE_PATIENT, cell, err) != 0)
        return -1;
    it = &d->v[d->n];
    memset(it, 0, sizeof *it);
    d->n++; /* freed with the digest, whole or not */
    for (k = 0; k < C_N; k++) {
        const char *c = cell[d->col[k]];
        if (c && *c && !(it->cell[k] = strdup(c)))
            goto nomem;
    }
    org = aod_entry_org_key(e);
    if (org && !(it->org = strdup(org)))
        goto nomem;
    aod_timefmt_minute(e->when_start, it->when, sizeof it->when);
    it->notify = e->notify;
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
    return -1;
}

/* One line of the digest, into the JSON items and the text. */
static int say_item(aod_digest *d, const item *it, unsigned bits, aod_error *err)
{
    json_t *reasons = json_array(), *j = NULL;
    aod_buf why, what;
    const char *v[13];
    const char *org = it->cell[C_ORGANISATION], *who = it->cell[C_WHO], *data = it->cell[C_DATA];
    unsigned k;
    int rc = -1;

    aod_buf_init(&why, 64 * 1024);
    aod_buf_init(&what, 64 * 1024);
    if (!reasons)
        goto nomem;
    for (k = 0; k < AOD_NOTIFY_COUNT; k++)
        if ((bits & (1u << k)) && json_array_append_new(reasons, json_string(aod_notify_reason_name(
                                                                     (aod_notify_reason)k))) != 0)
            goto nomem;
    if (reason_words(d, bits, &why, err) != 0)
        goto out;
    j = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:O, s:s?}", "ref", it->cell[C_REF],
                  "when", it->cell[C_WHEN], "who", who, "role", it->cell[C_ROLE], "organisation",
                  org, "action", it->cell[C_ACTION], "data", data, "reasons", reasons, "why",
                  nz(aod_buf_str(&why)));
    if (!j)
        goto nomem;
    k = (unsigned)json_array_append_new(d->items, j); /* steals j */
    if (k != 0)
        goto nomem;
    /* the text: "2026-03-04 10:15  Who (organisation): action, data" */
    if (aod_buf_adds(&what, it->cell[C_ACTION] ? it->cell[C_ACTION] : "") != 0 ||
        (data && (aod_buf_adds(&what, ", ") != 0 || aod_buf_adds(&what, data) != 0)))
        goto nomem;
    v[0] = "when";
    v[1] = it->when;
    v[2] = "who";
    v[3] = who ? who : "";
    v[4] = "organisation";
    v[5] = org && (!who || strcmp(org, who) != 0) ? org : "";
    v[6] = "what";
    v[7] = aod_buf_str(&what);
    v[8] = "why";
    v[9] = aod_buf_str(&why);
    v[10] = "ref";
    v[11] = it->cell[C_REF] ? it->cell[C_REF] : "";
    v[12] = NULL;
    if (say(d, &d->lines, v[5][0] ? "notify.line.org" : "notify.line", v, err) != 0 ||
        aod_buf_addc(&d->lines, '\n') != 0 || say(d, &d->lines, "notify.line.why", v, err) != 0 ||
        aod_buf_addc(&d->lines, '\n') != 0 || say(d, &d->lines, "notify.line.ref", v, err) != 0 ||
        aod_buf_adds(&d->lines, "\n\n") != 0)
        goto nomem;
    rc = 0;
    goto out;
nomem:
    if (err->code == AOD_OK)
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory writing the digest");
out:
    json_decref(reasons);
    aod_buf_free(&why);
    aod_buf_free(&what);
    return rc;
}

/* The period's last day: `to` is exclusive. */
static char *last_day(int64_t to, char *out, size_t size)
{
    return aod_timefmt_date(to > 0 ? to - 1 : to, out, size);
}

static int compose_json(aod_digest *d, aod_error *err)
{
    const aod_report_info *info = &d->held;
    const aod_policy *p = info->policy;
    json_t *doc = NULL, *keys = json_array(), *counts = json_object();
    char from[32], to[32], now[40];
    size_t i;
    char *dump = NULL;
    int rc = -1;

    if (!keys || !counts)
        goto nomem;
    for (i = 0; i < info->n_patient_keys; i++)
        if (json_array_append_new(keys, json_string(info->patient_keys[i])) != 0)
            goto nomem;
    for (i = 0; i < AOD_NOTIFY_COUNT; i++)
        if (json_object_set_new(counts, aod_notify_reason_name((aod_notify_reason)i),
                                json_integer(d->by_reason[i])) != 0)
            goto nomem;
    /* "O": every value referenced anew, so the locals are released below
     * whether the pack worked or not */
    doc = json_pack(
        "{s:s, s:i, s:s?, s:O, s:{s:s, s:s}, s:s, s:s, s:I, s:O, s:O, s:I,"
        " s:{s:s?, s:s?, s:s?}}",
        "digest", "aodreport-notification", "version", 1, "organisation", p->organisation.name,
        "patient", keys, "period", "from", aod_timefmt_date(info->from, from, sizeof from), "to",
        last_day(info->to, to, sizeof to), "generated",
        aod_timefmt_datetime(info->now, now, sizeof now), "lang", aod_text_lang(d->text), "lines",
        (json_int_t)d->count, "counts", counts, "items", d->items, "more", (json_int_t)d->more,
        "contact", "office", p->organisation.privacy_name, "phone", p->organisation.privacy_phone,
        "email", p->organisation.privacy_email);
    if (!doc)
        goto nomem;
    dump = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    if (!dump || aod_buf_adds(&d->json, dump) != 0 || aod_buf_addc(&d->json, '\n') != 0)
        goto nomem;
    rc = 0;
    goto out;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory writing the digest");
out:
    free(dump);
    json_decref(doc);
    json_decref(keys);
    json_decref(counts);
    return rc;
}

static int compose_text(aod_digest *d, aod_error *err)
{
    const aod_report_info *info = &d->held;
    const aod_policy *p = info->policy;
    char from[32], to[32], n[24], more[24];
    const char *v[] = {"organisation",
                       p->organisation.name ? p->organisation.name : "",
                       "from",
                       aod_timefmt_date(info->from, from, sizeof from),
                       "to",
                       last_day(info->to, to, sizeof to),
                       "n",
                       n,
                       "more",
                       more,
                       "office",
                       p->organisation.privacy_name ? p->organisation.privacy_name : "",
                       "phone",
                       p->organisation.privacy_phone ? p->organisation.privacy_phone : "",
                       "email",
                       p->organisation.privacy_email ? p->organisation.privacy_email : "",
                       NULL};
    aod_buf *b = &d->out;

    snprintf(n, sizeof n, "%ld", d->count);
    snprintf(more, sizeof more, "%ld", d->more);
    if (say(d, b, "notify.title", v, err) != 0 || aod_buf_addc(b, '\n') != 0 ||
        say(d, b, "notify.period", v, err) != 0 || aod_buf_adds(b, "\n\n") != 0 ||
        say(d, b, "notify.intro", v, err) != 0 || aod_buf_adds(b, "\n\n") != 0 ||
        aod_buf_adds(b, aod_buf_str(&d->lines)) != 0)
        goto nomem;
    if (d->more > 0 && (say(d, b, "notify.more", v, err) != 0 || aod_buf_adds(b, "\n\n") != 0))
        goto nomem;
    if (say(d, b, "notify.contact", v, err) != 0 || aod_buf_addc(b, '\n') != 0)
        goto nomem;
    return 0;
nomem:
    if (err->code == AOD_OK)
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory writing the digest");
    return -1;
}

static int digest_end(aod_sink *s, const aod_report_summary *sum, aod_error *err)
{
    (void)s;
    (void)sum;
    (void)err;
    return 0; /* composed by aod_digest_finish, once the seen organisations are known */
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int aod_digest_needs_seen(const aod_digest *d)
{
    size_t i;

    for (i = 0; i < d->n; i++)
        if (d->v[i].notify & (1u << AOD_NOTIFY_NEW_ORGANISATION))
            return 1;
    return 0;
}

int aod_digest_finish(aod_digest *d, const char *const *seen, size_t n_seen, aod_error *err)
{
    size_t i, k;

    d->count = d->more = 0;
    memset(d->by_reason, 0, sizeof d->by_reason);
    aod_buf_reset(&d->lines);
    aod_buf_reset(&d->json);
    aod_buf_reset(&d->out);
    json_array_clear(d->items);
    for (i = 0; i < d->n; i++) {
        const item *it = &d->v[i];
        unsigned bits = it->notify;
        /* an organisation that accessed the record before the period is
         * not new */
        if ((bits & (1u << AOD_NOTIFY_NEW_ORGANISATION)) && it->org && n_seen &&
            bsearch(&it->org, seen, n_seen, sizeof *seen, cmp_str))
            bits &= ~(1u << AOD_NOTIFY_NEW_ORGANISATION);
        if (!bits)
            continue;
        d->count++;
        for (k = 0; k < AOD_NOTIFY_COUNT; k++)
            if (bits & (1u << k))
                d->by_reason[k]++;
        if (d->count > AOD_DIGEST_MAX_ITEMS) {
            d->more++;
            continue;
        }
        if (say_item(d, it, bits, err) != 0)
            return -1;
    }
    /* lines past the kept ones: named, not listed, their reasons unknown */
    d->count += d->dropped;
    d->more += d->dropped;
    if (d->count == 0 || !d->info)
        return 0;
    return compose_json(d, err) != 0 || compose_text(d, err) != 0 ? -1 : 0;
}

static void digest_free_sink(aod_sink *s)
{
    (void)s; /* owned by the digest: aod_digest_free */
}

aod_digest *aod_digest_new(const aod_text *text, aod_error *err)
{
    aod_digest *d = calloc(1, sizeof *d);
    size_t i, k;

    if (!d) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return NULL;
    }
    d->base.begin = digest_begin;
    d->base.entry = digest_entry;
    d->base.end = digest_end;
    d->base.free = digest_free_sink;
    d->text = text;
    aod_buf_init(&d->lines, 16 * 1024 * 1024);
    aod_buf_init(&d->json, 64 * 1024 * 1024);
    aod_buf_init(&d->out, 16 * 1024 * 1024);
    for (k = 0; k < C_N; k++) {
        const char *name;
        for (i = 0; (name = aod_csv_column_name(i)) && strcmp(name, cell_names[k]) != 0; i++)
            ;
        if (!name || i >= aod_csv_columns(AOD_AUDIENCE_PATIENT)) {
            aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "no CSV column %s", cell_names[k]);
            goto fail;
        }
        d->col[k] = i;
    }
    d->row = aod_csv_row_new(text, err);
    if (!d->row)
        goto fail;
    d->items = json_array();
    if (!d->items) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        goto fail;
    }
    return d;
fail:
    aod_digest_free(d);
    return NULL;
}

aod_sink *aod_digest_sink(aod_digest *d)
{
    return &d->base;
}

long aod_digest_count(const aod_digest *d)
{
    return d ? d->count : 0;
}

const aod_buf *aod_digest_json(const aod_digest *d)
{
    return &d->json;
}

const aod_buf *aod_digest_text(const aod_digest *d)
{
    return &d->out;
}

void aod_digest_free(aod_digest *d)
{
    size_t i, k;

    if (!d)
        return;
    for (i = 0; i < d->n; i++) {
        for (k = 0; k < C_N; k++)
            free(d->v[i].cell[k]);
        free(d->v[i].org);
    }
    free(d->v);
    aod_csv_row_free(d->row);
    json_decref(d->items);
    aod_buf_free(&d->lines);
    aod_buf_free(&d->json);
    aod_buf_free(&d->out);
    free(d);
}
