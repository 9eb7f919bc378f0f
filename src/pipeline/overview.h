/*
 * overview.h - the overview stage: the summary every report starts with.
 *
 * Pipeline: ... -> mask -> overview -> render.  It sees each masked line
 * once, as the renderer does, and folds it into one summary line per
 * identity as the audience sees it (shown name, role and organisation; a
 * system also per thing it did), with first and last access, the number
 * of accesses, the kinds of data seen and the reasons recorded.  Memory
 * grows with the distinct identities of the report, never with its events:
 * a 100,000-event report by 300 people holds 300 lines.
 *
 * Who is a system is decided before (classify: the actor's class; the
 * self-audit flag); the stage only files each line in its section.
 */
#ifndef AOD_OVERVIEW_H
#define AOD_OVERVIEW_H

#include "base/error.h"
#include "base/strpool.h"
#include "model/entry.h"

typedef struct aod_overview_acc aod_overview_acc;

/* A new, empty overview.  pool (borrowed; must outlive it) interns the
 * identity keys.  Returns it (free with aod_overview_free) or NULL when out
 * of memory. */
aod_overview_acc *aod_overview_new(aod_strpool *pool);

/* Folds the masked line e (borrowed; shown_name set) in.  Returns 0, or -1
 * with err set (AOD_ERR_NOMEM; AOD_ERR_INTERNAL for an unmasked line). */
int aod_overview_add(aod_overview_acc *o, const aod_entry *e, aod_error *err);

/* Orders the lines and returns the summary, borrowed from o until it is
 * freed.  Call once, after the last add.  records: the raw audit records read, for the totals line.
 */
const aod_overview *aod_overview_result(aod_overview_acc *o, long records);

/* Frees o; accepts NULL. */
void aod_overview_free(aod_overview_acc *o);

#endif
