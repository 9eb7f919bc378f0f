/*
 * fuzz_load.c - libFuzzer target: the loader's path without the database.
 *
 * The input is a file as `aodreport load` reads it (NDJSON or a Bundle),
 * fed to the scanner in uneven chunks; every piece goes through the quick
 * parser (checked against jansson's values) and jansson and
 * normalize exactly as src/ingest/load.c does, and the compact form made for
 * the store is decoded again (what a report does with it).  Seeds:
 * tests/data/load, tests/data/cases/ * /events.ndjson, tests/data/normalize.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ingest/jsonfast.h"
#include "ingest/jsonscan.h"
#include "ingest/normalize.h"
#include "model/recio.h"
#include "model/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct ctx {
    aod_normalize_row row;
    aod_record *back;
} ctx;

static int one_event(ctx *c, json_t *res, const char *text, size_t len, aod_error *err)
{
    aod_error derr;

    if (aod_normalize_row_make(&c->row, res, text, len, err) != 0)
        return -1;
    aod_error_init(&derr);
    aod_record_clear(c->back);
    /* what the loader stored must read back */
    if (aod_recio_decode(c->row.row.norm, c->row.row.norm_len, c->back, &derr) != 0)
        abort();
    return 0;
}

static int on_piece(void *vctx, aod_jsonscan_kind kind, const char *json, size_t len, long line,
                    long index, aod_error *err)
{
    ctx *c = vctx;
    json_error_t jerr;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr), *res;
    json_t *fast = aod_jsonfast_parse(json, len);
    const char *type;
    int rc = -1;

    (void)line, (void)index;
    /* the loader's quick parser (jsonfast.h) must accept nothing jansson
     * rejects and give exactly jansson's values where it accepts */
    if (fast && (!doc || !json_equal(fast, doc)))
        abort();
    json_decref(fast);
    if (!doc) {
        aod_error_set(err, AOD_ERR_INPUT, "fuzz", 0, NULL, "invalid JSON");
        return -1;
    }
    type = json_string_value(json_object_get(doc, "resourceType"));
    switch (kind) {
    case AOD_JSONSCAN_DOCUMENT:
        if (type && strcmp(type, "AuditEvent") == 0)
            rc = one_event(c, doc, json, len, err);
        else
            aod_error_set(err, AOD_ERR_INPUT, "fuzz", 0, NULL, "not an AuditEvent");
        break;
    case AOD_JSONSCAN_ENTRY:
        res = json_object_get(doc, "resource");
        if (json_is_object(res))
            rc = one_event(c, res, NULL, 0, err);
        else
            aod_error_set(err, AOD_ERR_INPUT, "fuzz", 0, NULL, "no resource");
        break;
    case AOD_JSONSCAN_CONTAINER:
        rc = 0;
        break;
    }
    json_decref(doc);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ctx c;
    aod_error err;
    aod_jsonscan *s;
    size_t at = 0, step = 1;

    aod_error_init(&err);
    if (aod_normalize_row_init(&c.row, &err) != 0)
        abort();
    c.back = aod_record_new();
    s = aod_jsonscan_new("fuzz", 1 << 20, on_piece, &c);
    if (!c.back || !s)
        abort();
    /* chunks of 1, 2, 4 ... bytes: the result must not depend on reads */
    while (at < size) {
        size_t n = size - at < step ? size - at : step;
        if (aod_jsonscan_feed(s, (const char *)data + at, n, &err) != 0)
            break;
        at += n;
        step = step < 4096 ? step * 2 : step;
    }
    if (at == size)
        (void)aod_jsonscan_finish(s, &err);
    aod_jsonscan_free(s);
    aod_record_free(c.back);
    aod_normalize_row_free(&c.row);
    return 0;
}
