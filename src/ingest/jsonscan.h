/*
 * jsonscan.h - split a stream of JSON into documents without holding it all.
 *
 * Stage: source (the loader's reader).  Input files are NDJSON (one
 * AuditEvent per line) or FHIR Bundles that may hold millions of entries.
 * jansson only parses whole documents, so this scanner tracks just enough of
 * the JSON grammar (strings, escapes, nesting) to cut the byte stream into
 * pieces that jansson then parses one at a time:
 *
 *   - every top-level value is a DOCUMENT (an NDJSON line, or a whole small
 *     file), unless it is an object with an "entry" array at its top level;
 *   - each element of such a top-level "entry" array is handed over as an
 *     ENTRY as soon as it closes, with its 0-based index;
 *   - the object itself, with the "entry" array emptied to [], is handed over
 *     last as a CONTAINER, so the caller can check it is a Bundle.
 *
 * Memory is bounded by the largest single piece, never by the file.  The
 * JSON grammar is checked here at every depth (commas, colons, keys, the
 * numbers and literals; strings as far as their ends), so that nothing
 * between pieces - the separators of the "entry" array, which no piece
 * carries - goes unchecked; what is inside strings (escapes, UTF-8) and
 * duplicate keys are jansson's to check when it parses each piece.  A key
 * is compared unescaped: "entr\u0079" is "entry".
 */
#ifndef AOD_JSONSCAN_H
#define AOD_JSONSCAN_H

#include <stddef.h>

#include "base/error.h"

typedef enum aod_jsonscan_kind {
    AOD_JSONSCAN_DOCUMENT,
    AOD_JSONSCAN_ENTRY,
    AOD_JSONSCAN_CONTAINER
} aod_jsonscan_kind;

/* Called for each piece.  json is borrowed (valid only during the call) and
 * NUL terminated; line is the 1-based line where the piece starts; index is
 * the entry index for ENTRY, the number of entries seen for CONTAINER, and the
 * 0-based document number for DOCUMENT.  Return 0 to go on, -1 (with err set)
 * to stop the scan. */
typedef int (*aod_jsonscan_fn)(void *ctx, aod_jsonscan_kind kind, const char *json, size_t len,
                               long line, long index, aod_error *err);

typedef struct aod_jsonscan aod_jsonscan;

/* New scanner reporting errors against source (copied).  NULL when out of
 * memory.  max_piece caps one piece in bytes (0: 64 MiB). */
aod_jsonscan *aod_jsonscan_new(const char *source, size_t max_piece, aod_jsonscan_fn fn, void *ctx);

/* Frees the scanner; accepts NULL. */
void aod_jsonscan_free(aod_jsonscan *s);

/* Feeds len bytes.  Returns 0, or -1 with err set (structure error, piece too
 * large, out of memory, or the callback's error).  After an error the scanner
 * refuses further input. */
int aod_jsonscan_feed(aod_jsonscan *s, const char *data, size_t len, aod_error *err);

/* Declares the end of input: -1 when a value is left open. */
int aod_jsonscan_finish(aod_jsonscan *s, aod_error *err);

/* The current line (1-based) of the input, for messages. */
long aod_jsonscan_line(const aod_jsonscan *s);

#endif
