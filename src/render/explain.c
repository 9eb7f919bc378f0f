/*
 * explain.c - the explain view as CSV (see explain.h).
 *
 * Stage: render.  Cells go through the CSV renderer's writer, so the view
 * quotes and neutralises exactly as the report does.  Write errors are
 * looked for once, at the end, on the stream's error flag.
 */
#include "render/explain.h"

#include <stdlib.h>

#include "base/timefmt.h"
#include "model/policy.h"

typedef struct explain_sink {
    aod_trace_sink base;
    FILE *out;
    aod_csv_options opts;
} explain_sink;

/* The access flags' ids, ';' separated (as the CSV's access_flags). */
static void flag_ids(unsigned f, char *out, size_t size)
{
    size_t len = 0;
    unsigned i;

    out[0] = '\0';
    for (i = 0; i < AOD_AFLAG_COUNT; i++)
        if (f & (1u << i))
            len += (size_t)snprintf(out + len, len < size ? size - len : 0, "%s%s", len ? ";" : "",
                                    aod_policy_access_flag_id((aod_access_flag)i));
}

static int explain_begin(aod_trace_sink *base, aod_error *err)
{
    static const char *const head[] = {"record_id",
                                       "fhir_id",
                                       "recorded",
                                       "class",
                                       "exclusion",
                                       "rule",
                                       "reason",
                                       "dedup_group",
                                       "group_records",
                                       "report_line",
                                       "fate",
                                       "shown_as",
                                       "mask_tier",
                                       "ref",
                                       "reason_basis",
                                       "resource",
                                       "access_flags",
                                       "access_flag_evidence",
                                       "access_flag_words"};
    explain_sink *s = (explain_sink *)base;
    size_t k;

    (void)err;
    if (s->opts.bom)
        fputs("\xEF\xBB\xBF", s->out);
    for (k = 0; k < sizeof head / sizeof head[0]; k++)
        aod_csv_write_cell(s->out, head[k], s->opts.delimiter,
                           k + 1 == sizeof head / sizeof head[0]);
    return 0;
}

static int explain_trace(aod_trace_sink *base, const aod_trace *t, aod_error *err)
{
    explain_sink *s = (explain_sink *)base;
    FILE *out = s->out;
    char d = s->opts.delimiter;
    char id[32], when[40], group[32], grec[32], line[32], ids[256];

    (void)err;
    snprintf(id, sizeof id, "%lld", (long long)t->record_id);
    aod_timefmt_datetime(t->recorded, when, sizeof when);
    snprintf(group, sizeof group, "%ld", t->group);
    snprintf(grec, sizeof grec, "%ld", t->group_records);
    snprintf(line, sizeof line, "%ld", t->line);
    aod_csv_write_cell(out, id, d, 0);
    aod_csv_write_cell(out, t->fhir_id ? t->fhir_id : "", d, 0);
    aod_csv_write_cell(out, when, d, 0);
    aod_csv_write_cell(out, aod_class_name(t->cls), d, 0);
    aod_csv_write_cell(out, aod_policy_exclusion_key(t->exclusion), d, 0);
    aod_csv_write_cell(out, t->rule ? t->rule : "", d, 0);
    aod_csv_write_cell(out, t->reason ? t->reason : "", d, 0);
    aod_csv_write_cell(out, t->group ? group : "", d, 0);
    aod_csv_write_cell(out, t->group ? grec : "", d, 0);
    aod_csv_write_cell(out, t->line ? line : "", d, 0);
    aod_csv_write_cell(out,
                       t->line ? (t->group_records > 1 ? "in the report, merged" : "in the report")
                               : (t->fate ? t->fate : "not shown"),
                       d, 0);
    aod_csv_write_cell(out, t->shown ? t->shown : "", d, 0);
    aod_csv_write_cell(out, t->tier >= 0 ? aod_policy_tier_name((aod_mask_tier)t->tier) : "", d, 0);
    aod_csv_write_cell(out, t->ref ? t->ref : "", d, 0);
    if (t->line) {
        /* "encounter: Encounter/77": the basis, and what showed it */
        char basis[512];
        snprintf(basis, sizeof basis, "%s%s%s", aod_reason_name(t->basis),
                 t->basis_evidence ? ": " : "", t->basis_evidence ? t->basis_evidence : "");
        aod_csv_write_cell(out, basis, d, 0);
    } else {
        aod_csv_write_cell(out, "", d, 0);
    }
    aod_csv_write_cell(out, t->resource ? t->resource : "", d, 0);
    flag_ids(t->access_flags, ids, sizeof ids);
    aod_csv_write_cell(out, ids, d, 0);
    aod_csv_write_cell(out, t->access_evidence ? t->access_evidence : "", d, 0);
    aod_csv_write_cell(out, t->access_words ? t->access_words : "", d, 1);
    return 0;
}

static int explain_end(aod_trace_sink *base, aod_error *err)
{
    explain_sink *s = (explain_sink *)base;

    if (ferror(s->out)) {
        aod_error_set(err, AOD_ERR_IO, NULL, 0, NULL, "write error");
        return -1;
    }
    return 0;
}

static void explain_free(aod_trace_sink *base)
{
    free(base);
}

aod_trace_sink *aod_explain_sink_new(FILE *out, const aod_csv_options *opts, aod_error *err)
{
    explain_sink *s = calloc(1, sizeof *s);

    if (!s) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return NULL;
    }
    s->base.begin = explain_begin;
    s->base.trace = explain_trace;
    s->base.end = explain_end;
    s->base.free = explain_free;
    s->out = out;
    if (opts)
        s->opts = *opts;
    if (!s->opts.delimiter)
        s->opts.delimiter = ',';
    return &s->base;
}
