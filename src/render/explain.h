/*
 * explain.h - the explain view's renderer: why each raw audit record is, or
 * is not, in a patient's report.
 *
 * Stage: render.  One CSV row per raw record, in the order the store
 * delivered them, in the CSV renderer's dialect (csv.h: RFC 4180, formula
 * cells neutralised, optional BOM, delimiter): record_id, fhir_id,
 * recorded, class, exclusion, rule, dedup_group, group_records,
 * report_line, fate, shown_as, mask_tier, ref (the line's reference),
 * reason_basis (the line's reason basis and evidence, "encounter:
 * Encounter/77"), resource (the stored AuditEvent, only for explain --ref;
 * else empty).  The rows are kept by the report
 * driver and handed over at its finish, so the sink streams.
 */
#ifndef AOD_EXPLAIN_H
#define AOD_EXPLAIN_H

#include <stdio.h>

#include "base/error.h"
#include "model/entry.h"
#include "render/csv.h"

/* A new explain sink writing to out (borrowed; the sink neither flushes it
 * at free nor closes it).  opts (borrowed, copied; NULL: no BOM, ',').
 * Returns a new sink (free it through its free member), or NULL with err
 * set (AOD_ERR_NOMEM).  Its end() fails with AOD_ERR_IO when out has seen
 * a write error. */
aod_trace_sink *aod_explain_sink_new(FILE *out, const aod_csv_options *opts, aod_error *err);

#endif
