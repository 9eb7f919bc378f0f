/*
 * fuzz_report.c - libFuzzer target: the renderers, fed by the whole report
 * pipeline (classify, dedup, summarize, mask) with the events of the input.
 *
 * The first byte picks the output (CSV for the patient or the privacy
 * office, HTML, XLSX, Bundle JSON or XML, PDF now and then: a PDF costs
 * tens of milliseconds), the mode, the language and the patient's name (none,
 * Latin, Arabic or Chinese: the PDF shapes, reorders, falls back or refuses);
 * the rest is NDJSON as the loader reads it.  Each event is normalised
 * and encoded as the loader stores it, then pushed in its compact form as
 * the store hands it to a report; the patient is the first key of the
 * first event; the policy is examples/policies/demo.xml.  Output goes to
 * /dev/null.  Seeds: tests/data/cases/ * /events.ndjson and
 * tests/data/scripts/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/embedded.h"
#include "ingest/jsonscan.h"
#include "ingest/normalize.h"
#include "model/policy.h"
#include "model/text.h"
#include "pipeline/report.h"
#include "render/bundle.h"
#include "render/csv.h"
#include "render/html.h"
#include "render/pdf.h"
#include "render/xlsx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EVENTS 64

typedef struct ctx {
    aod_normalize_row row;
    char *norms[MAX_EVENTS];
    size_t lens[MAX_EVENTS];
    size_t n;
    char key[256];
} ctx;

static int on_piece(void *vctx, aod_jsonscan_kind kind, const char *json, size_t len, long line,
                    long index, aod_error *err)
{
    ctx *c = vctx;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL), *res = doc;

    (void)line, (void)index;
    if (doc && kind == AOD_JSONSCAN_ENTRY)
        res = json_object_get(doc, "resource");
    if (doc && kind != AOD_JSONSCAN_CONTAINER && c->n < MAX_EVENTS && json_is_object(res) &&
        aod_normalize_row_make(&c->row, res, NULL, 0, err) == 0) {
        const aod_load_row *r = &c->row.row;
        c->norms[c->n] = malloc(r->norm_len + 1);
        if (c->norms[c->n]) {
            memcpy(c->norms[c->n], r->norm, r->norm_len + 1);
            c->lens[c->n++] = r->norm_len;
        }
        if (!c->key[0] && r->n_patient_keys)
            snprintf(c->key, sizeof c->key, "%s", r->patient_keys[0]);
    }
    aod_error_init(err); /* a bad event is skipped, as a test of the rest */
    json_decref(doc);
    return 0;
}

/* The demo policy of the source tree (build.sh passes its place). */
static aod_policy *default_policy(void)
{
    const aod_embedded_file *xsd = aod_embedded_find("data/policy.xsd");
    const char *path = AOD_FUZZ_SRCDIR "/examples/policies/demo.xml";
    static char text[1 << 16];
    size_t n;
    aod_error err;
    FILE *f = fopen(path, "rb");

    aod_error_init(&err);
    if (!xsd || !f)
        abort();
    n = fread(text, 1, sizeof text, f);
    fclose(f);
    return aod_policy_load_memory(text, n, path, xsd->data, xsd->len, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static aod_policy *policy;
    static aod_text *text[2];
    static FILE *null;
    const char *keys[1];
    unsigned pick = size ? data[0] : 0;
    aod_report_info info;
    aod_report *r = NULL;
    aod_sink *sink = NULL;
    aod_jsonscan *s;
    aod_error err;
    ctx c;
    size_t i;

    if (!policy) {
        aod_error_init(&err);
        policy = default_policy();
        text[0] = aod_text_load(NULL, "en", &err);
        text[1] = aod_text_load(NULL, "es", &err);
        null = fopen("/dev/null", "w");
        if (!policy || !text[0] || !text[1] || !null)
            abort();
    }
    if (size == 0)
        return 0;
    memset(&c, 0, sizeof c);
    aod_error_init(&err);
    if (aod_normalize_row_init(&c.row, &err) != 0)
        abort();
    s = aod_jsonscan_new("fuzz", 1 << 20, on_piece, &c);
    if (!s)
        abort();
    if (aod_jsonscan_feed(s, (const char *)data + 1, size - 1, &err) == 0)
        (void)aod_jsonscan_finish(s, &err);
    aod_jsonscan_free(s);

    keys[0] = c.key[0] ? c.key : "Patient/p1";
    memset(&info, 0, sizeof info);
    info.mode = (pick & 8) ? AOD_MODE_ACCESS : AOD_MODE_DISCLOSURES;
    info.audience = (pick & 16) ? AOD_AUDIENCE_PRIVACY_OFFICE : AOD_AUDIENCE_PATIENT;
    info.lang = (pick & 32) ? "es" : "en";
    info.patient_keys = keys;
    info.n_patient_keys = 1;
    {
        static const char *const names[] = {"Maria José Núñez", "ليلى أحمد", "王小明"};
        info.patient_name = (pick & 64) ? names[size % 3] : NULL;
    }
    info.from = INT64_C(946684800000); /* 2000 */
    info.to = INT64_C(4102444800000);  /* 2100 */
    info.now = INT64_C(1767225600000); /* 2026 */
    info.policy = policy;
    aod_error_init(&err);
    switch (pick & 7) {
    case 0:
        sink = aod_csv_sink_new(null, NULL, text[(pick & 32) != 0], NULL, NULL, &err);
        break;
    case 1:
        sink = aod_html_sink_new(null, text[(pick & 32) != 0], &err);
        break;
    case 2:
    case 3:
        sink = aod_bundle_sink_new(null, AOD_BUNDLE_JSON, text[(pick & 32) != 0], &err);
        break;
    case 4:
        sink = aod_bundle_sink_new(null, AOD_BUNDLE_XML, text[(pick & 32) != 0], &err);
        break;
    case 5:
        sink = aod_xlsx_sink_new(null, text[(pick & 32) != 0], &err);
        break;
    default: /* 6: CSV, 7: HTML, or with bit 128 a PDF */
        if (pick & 128)
            sink = aod_pdf_sink_new(null, NULL, text[(pick & 32) != 0], &err);
        else if (pick & 1)
            sink = aod_html_sink_new(null, text[(pick & 32) != 0], &err);
        else
            sink = aod_csv_sink_new(null, NULL, text[(pick & 32) != 0], NULL, NULL, &err);
        break;
    }
    if (!sink)
        abort();
    r = aod_report_new(&info, text[(pick & 32) != 0], sink, &err);
    if (!r)
        abort();
    for (i = 0; i < c.n; i++)
        if (aod_report_push_norm(r, (int64_t)i + 1, c.norms[i], c.lens[i], &err) != 0)
            break;
    if (i == c.n)
        (void)aod_report_finish(r, NULL, &err);
    aod_report_free(r);
    sink->free(sink);
    for (i = 0; i < c.n; i++)
        free(c.norms[i]);
    aod_normalize_row_free(&c.row);
    return 0;
}
