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

/* Loads one input.  path "-" reads standard input (named "<stdin>" in
 * messages).  counts receives the input's figures on success.  Returns 0, or
 * -1 with err naming the file, the line, the Bundle entry index when there is
 * one, and what is wrong; the store then holds nothing from this input. */
int aod_load_path(aod_store *st, const char *path, aod_load_counts *counts, aod_error *err);

/* The same for an open stream (borrowed; not closed). */
int aod_load_stream(aod_store *st, FILE *in, const char *name, aod_load_counts *counts,
                    aod_error *err);

#endif
