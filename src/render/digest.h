/*
 * digest.h - the patient's notification digest (batch --notify,
 * doc/notifications.md): a JSON document for the portal and a short text.
 *
 * Stage: render.  An aod_sink that keeps the masked lines the notify stage
 * marked (aod_entry.notify; pipeline/notify.h) and, at end, composes both
 * documents in memory; the caller writes them only when the digest names
 * a line (aod_digest_count), so a patient with nothing to notify gets no
 * file.  The cells are the patient's CSV's (aod_csv_row_cells, patient
 * audience): a person appears exactly as the patient's copy shows them,
 * and no flag id, evidence or privacy-office column is ever read.
 */
#ifndef AOD_DIGEST_H
#define AOD_DIGEST_H

#include "base/buf.h"
#include "base/error.h"
#include "model/entry.h"
#include "model/text.h"

/* Lines a digest lists; more are counted ("more"). */
#define AOD_DIGEST_MAX_ITEMS 200

typedef struct aod_digest aod_digest;

/* A new digest using text (borrowed, must outlive it) for the words.
 * Returns it (aod_digest_free) or NULL with err set. */
aod_digest *aod_digest_new(const aod_text *text, aod_error *err);

/* The digest as a sink (borrowed from d: never free it on its own). */
aod_sink *aod_digest_sink(aod_digest *d);

/* After the sink's end: how many lines it names (0: write nothing). */
long aod_digest_count(const aod_digest *d);

/* After the sink's end: the JSON document and the text, UTF-8, each ending
 * in a newline (borrowed from d). */
const aod_buf *aod_digest_json(const aod_digest *d);
const aod_buf *aod_digest_text(const aod_digest *d);

/* Frees d; accepts NULL. */
void aod_digest_free(aod_digest *d);

#endif
