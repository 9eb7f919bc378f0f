/*
 * outfile.h - output files written whole or not at all.
 *
 * A report file is written to a temporary file beside its final name
 * (created with mode 0600, whatever the umask) and renamed into place only
 * when complete, flushed and synced.  On any failure the temporary file is
 * removed: nobody ever sees half a report, and a portal that picks up files
 * by name never uploads a partial one.  "-" (or NULL) means standard output,
 * where nothing can be taken back.
 */
#ifndef AOD_OUTFILE_H
#define AOD_OUTFILE_H

#include <stdio.h>

#include "base/error.h"

typedef struct aod_outfile aod_outfile;

/* Opens a new output for path.  Returns a handle to finish with exactly one
 * of aod_outfile_commit() or aod_outfile_abort(), or NULL with err set.  An
 * existing path that is not a regular file is refused (AOD_ERR_IO): a
 * directory cannot be written, and renaming over a device or a named pipe
 * would replace it; callers write such paths as they write standard output. */
aod_outfile *aod_outfile_open(const char *path, aod_error *err);

/* The stream to write to (borrowed; do not fclose it). */
FILE *aod_outfile_stream(aod_outfile *o);

/* The temporary path being written (borrowed), or NULL for standard output. */
const char *aod_outfile_temp_path(const aod_outfile *o);

/* Flushes, syncs and closes the temporary file without renaming it, so that
 * its finished bytes can be read back (checksummed, recorded) through
 * aod_outfile_temp_path() before anyone sees the file under its name.  Only
 * aod_outfile_commit() or aod_outfile_abort() may follow.  Nothing happens for
 * standard output.  Returns 0, or -1 with err set (the handle stays open for
 * abort). */
int aod_outfile_close(aod_outfile *o, aod_error *err);

/* Flushes, syncs, closes (unless aod_outfile_close() did) and renames into
 * place; frees o.  Returns 0, or -1 with err set, in which case the temporary
 * file is gone too. */
int aod_outfile_commit(aod_outfile *o, aod_error *err);

/* Discards the output and frees o.  Accepts NULL. */
void aod_outfile_abort(aod_outfile *o);

#endif
