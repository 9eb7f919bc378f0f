/*
 * load.h - `aodreport load`: AuditEvent files into the store.
 *
 * Stage: source (ingest).  Reads NDJSON or FHIR Bundles (R4, R5, R6 ballot,
 * mixed) as a stream, parses each event once with jansson, normalises it,
 * and hands the store both the whole resource and the compact form reports
 * read.  One input is one transaction: the first bad record stops that input
 * and nothing of it is kept.
 */
#ifndef AOD_LOAD_H
#define AOD_LOAD_H

#include <stdio.h>

#include "base/error.h"
#include "store/store.h"

/* Progress of one input, for a display: called after each chunk read.
 * bytes: of the file read so far (compressed bytes for a .gz input); total:
 * the file's size, or -1 when not known (a pipe); events: AuditEvents parsed
 * so far. */
typedef void (*aod_load_progress_fn)(void *ctx, long long bytes, long long total, long events);

/* Loads one input.  path "-" reads standard input (named "<stdin>" in
 * messages).  Input compressed with gzip (a .gz file, or a gzip stream on
 * standard input; recognised by its first bytes, not its name) is
 * decompressed as it is read.  counts receives the input's figures on
 * success.  progress (may be NULL) is called with ctx as the input is read.
 * Returns 0, or -1 with err naming the file, the line, the Bundle entry index
 * when there is one, and what is wrong; the store then holds nothing from
 * this input. */
int aod_load_path(aod_store *st, const char *path, aod_load_counts *counts,
                  aod_load_progress_fn progress, void *ctx, aod_error *err);

/* The same for an open, uncompressed stream (borrowed; not closed), without
 * progress. */
int aod_load_stream(aod_store *st, FILE *in, const char *name, aod_load_counts *counts,
                    aod_error *err);

#endif
