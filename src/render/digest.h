/*
 * digest.h - the patient's notification digest (batch --notify,
 * doc/notifications.md): a JSON document for the portal and a short text.
 *
 * Stage: render.  An aod_sink that keeps the masked lines the notify stage
 * marked (aod_entry.notify; pipeline/notify.h).  A new-organisation mark
 * is a candidate until aod_digest_finish() is given the organisations that
 * accessed the record before the period (read only when a candidate needs
 * them: aod_digest_needs_seen); then both documents are composed in
 * memory, and the caller writes them only when the digest names a line
 * (aod_digest_count), so a patient with nothing to notify gets no file.  The cells are the
 * patient's CSV's (aod_csv_row_cells, patient audience): a person appears exactly as the patient's
 * copy shows them, and no flag id, evidence or privacy-office column is ever read.
 */
#ifndef AOD_DIGEST_H
#define AOD_DIGEST_H

#include "base/buf.h"
#include "base/error.h"
#include "model/entry.h"
#include "model/text.h"

/* Lines a digest lists; more are counted ("more").  Lines kept until the
 * digest is finished: past that, counted and never listed. */
#define AOD_DIGEST_MAX_ITEMS 200
#define AOD_DIGEST_MAX_KEEP  10000

typedef struct aod_digest aod_digest;

/* A new digest using text (borrowed, must outlive it) for the words.
 * Returns it (aod_digest_free) or NULL with err set. */
aod_digest *aod_digest_new(const aod_text *text, aod_error *err);

/* The digest as a sink (borrowed from d: never free it on its own). */
aod_sink *aod_digest_sink(aod_digest *d);

/* After the sink's end: 1 when a line is the first of the report by an
 * outside organisation, which is new only if not among the organisations
 * seen before the period; 0 when aod_digest_finish needs none. */
int aod_digest_needs_seen(const aod_digest *d);

/* After the sink's end: drops the new-organisation mark of the lines whose
 * organisation (aod_entry_org_key) is among seen[0..n_seen) (sorted in
 * byte order, borrowed), then composes the documents.  Returns 0, or -1
 * with err set (out of memory). */
int aod_digest_finish(aod_digest *d, const char *const *seen, size_t n_seen, aod_error *err);

/* After aod_digest_finish: how many lines it names (0: write nothing). */
long aod_digest_count(const aod_digest *d);

/* After aod_digest_finish: the JSON document and the text, UTF-8, each
 * ending in a newline (borrowed from d). */
const aod_buf *aod_digest_json(const aod_digest *d);
const aod_buf *aod_digest_text(const aod_digest *d);

/* Frees d; accepts NULL. */
void aod_digest_free(aod_digest *d);

#endif
