/*
 * report.h - the report driver: one report run, records in, lines out
 * through the stages (classify, dedup, summarize, suspend, mask) to a
 * renderer.  The line model and the renderer interfaces it hands lines to
 * are in model/entry.h, below both the stages and the renderers.
 */
#ifndef AOD_REPORT_H
#define AOD_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "model/entry.h"
#include "model/policy.h"
#include "model/record.h"
#include "model/text.h"

typedef struct aod_report aod_report;

/* A report run: records are pushed in, in time order; lines come out of the
 * sink.  info, text and sink are borrowed and must outlive the run; info's
 * policy too.  Returns a new run (free with aod_report_free) or NULL with err
 * set (out of memory, or the pseudonym secret cannot be read). */
aod_report *aod_report_new(const aod_report_info *info, const aod_text *text, aod_sink *sink,
                           aod_error *err);

/* Limits the explain view to the raw records behind the one line whose
 * reference is ref (entry.h; typed back as a person reads it: case and
 * hyphen do not matter).  Returns 0, or -1 with err set (AOD_ERR_USAGE) for
 * a string that is no reference; finish fails (AOD_ERR_USAGE) when no line
 * has it. */
int aod_report_explain_ref(aod_report *r, const char *ref, aod_error *err);

/* Instead of a sink, hand the explain view's renderer (borrowed; it must
 * outlive the run) one trace per raw record, with its class, rule, dedup
 * group and the masking applied, at finish.  Call before the first push. */
int aod_report_explain_to(aod_report *r, aod_trace_sink *explain, aod_error *err);

/* Pushes one stored record in its compact form (see recio.h).  A record that
 * cannot be decoded is counted, named on stderr and skipped; that is not an
 * error.  Returns 0 / -1 (a stage or the sink failed). */
int aod_report_push_norm(aod_report *r, int64_t record_id, const char *norm, size_t len,
                         aod_error *err);

/* Pushes one record already decoded (borrowed). */
int aod_report_push_record(aod_report *r, int64_t record_id, const aod_record *rec, aod_error *err);

/* Flushes the stages, ends the sink and fills sum (may be NULL). */
int aod_report_finish(aod_report *r, aod_report_summary *sum, aod_error *err);

/* Frees the run; accepts NULL.  Does not free the sink. */
void aod_report_free(aod_report *r);

/* The default period for info's mode: [now - lookback, now].  Calendar
 * arithmetic in UTC. */
int64_t aod_report_default_from(const aod_policy *policy, aod_mode mode, int64_t now);

#endif
