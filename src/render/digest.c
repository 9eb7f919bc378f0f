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

struct aod_digest {
    aod_sink base;
    const aod_text *text;
    const aod_report_info *info;
    aod_csv_row *row;
    size_t col[C_N];
    json_t *items;
    long count, more;
    long by_reason[AOD_NOTIFY_COUNT];
    aod_buf lines; /* the text's lines, built as the items come */
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
    json_t *item = NULL, *reasons = NULL;
    aod_buf why;
    char when[40];
    unsigned k;
    int rc = -1;

    if (!e->notify)
        return 0;
    d->count++;
    for (k = 0; k < AOD_NOTIFY_COUNT; k++)
        if (e->notify & (1u << k))
            d->by_reason[k]++;
    if (d->count > AOD_DIGEST_MAX_ITEMS) {
        d->more++;
        return 0;
    }
    aod_buf_init(&why, 64 * 1024);
    if (aod_csv_row_cells(d->row, e, AOD_AUDIENCE_PATIENT, cell, err) != 0)
        goto out;
    reasons = json_array();
    if (!reasons)
        goto nomem;
    for (k = 0; k < AOD_NOTIFY_COUNT; k++)
        if ((e->notify & (1u << k)) &&
            json_array_append_new(reasons,
                                  json_string(aod_notify_reason_name((aod_notify_reason)k))) != 0)
            goto nomem;
    if (reason_words(d, e->notify, &why, err) != 0)
        goto out;
    item = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:O, s:s?}", "ref",
                     nz(cell[d->col[C_REF]]), "when", nz(cell[d->col[C_WHEN]]), "who",
                     nz(cell[d->col[C_WHO]]), "role", nz(cell[d->col[C_ROLE]]), "organisation",
                     nz(cell[d->col[C_ORGANISATION]]), "action", nz(cell[d->col[C_ACTION]]), "data",
                     nz(cell[d->col[C_DATA]]), "reasons", reasons, "why", nz(aod_buf_str(&why)));
    if (!item)
        goto nomem;
    k = (unsigned)json_array_append_new(d->items, item); /* steals item */
    item = NULL;
    if (k != 0)
        goto nomem;
    /* the text: "2026-03-04 10:15  Who (organisation): action, data" */
    {
        const char *org = cell[d->col[C_ORGANISATION]];
        const char *who = cell[d->col[C_WHO]];
        const char *data = cell[d->col[C_DATA]];
        const char *v[13];
        aod_buf what;
        int bad;
        aod_buf_init(&what, 64 * 1024);
        /* what was done, and to what data when the line says */
        bad = aod_buf_adds(&what, cell[d->col[C_ACTION]] ? cell[d->col[C_ACTION]] : "") != 0 ||
              (data && *data && (aod_buf_adds(&what, ", ") != 0 || aod_buf_adds(&what, data) != 0));
        v[0] = "when";
        v[1] = aod_timefmt_minute(e->when_start, when, sizeof when);
        v[2] = "who";
        v[3] = who ? who : "";
        v[4] = "organisation";
        v[5] = org && (!who || strcmp(org, who) != 0) ? org : "";
        v[6] = "what";
        v[7] = aod_buf_str(&what);
        v[8] = "why";
        v[9] = aod_buf_str(&why);
        v[10] = "ref";
        v[11] = cell[d->col[C_REF]];
        v[12] = NULL;
        bad = bad || say(d, &d->lines, v[5][0] ? "notify.line.org" : "notify.line", v, err) != 0 ||
              aod_buf_addc(&d->lines, '\n') != 0 ||
              say(d, &d->lines, "notify.line.why", v, err) != 0 ||
              aod_buf_addc(&d->lines, '\n') != 0 ||
              say(d, &d->lines, "notify.line.ref", v, err) != 0 ||
              aod_buf_adds(&d->lines, "\n\n") != 0;
        aod_buf_free(&what);
        if (bad)
            goto nomem;
    }
    rc = 0;
    goto out;
nomem:
    if (err->code == AOD_OK)
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
out:
    json_decref(reasons);
    json_decref(item);
    aod_buf_free(&why);
    return rc;
}

/* The period's last day: `to` is exclusive. */
static char *last_day(int64_t to, char *out, size_t size)
{
    return aod_timefmt_date(to > 0 ? to - 1 : to, out, size);
}

static int compose_json(aod_digest *d, aod_error *err)
{
    const aod_report_info *info = d->info;
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
    const aod_report_info *info = d->info;
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
    aod_digest *d = (aod_digest *)s;

    (void)sum;
    aod_buf_reset(&d->json);
    aod_buf_reset(&d->out);
    if (d->count == 0 || !d->info)
        return 0;
    if (compose_json(d, err) != 0 || compose_text(d, err) != 0)
        return -1;
    return 0;
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
    if (!d)
        return;
    aod_csv_row_free(d->row);
    json_decref(d->items);
    aod_buf_free(&d->lines);
    aod_buf_free(&d->json);
    aod_buf_free(&d->out);
    free(d);
}
