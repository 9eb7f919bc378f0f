/*
 * secretfile.h - opening a file that holds a secret (a signing key, the
 * pseudonym secret).
 *
 * Anyone who can read such a file can forge signatures or reverse
 * pseudonyms, and anyone who can replace it can choose them.  So the file
 * must be a regular file owned by the caller (or root) with no group or
 * other permission bits, and it is opened without following a symbolic link
 * and without blocking on a FIFO.
 */
#ifndef AOD_SECRETFILE_H
#define AOD_SECRETFILE_H

#include <stdio.h>

#include "base/error.h"

/* How a refusal is reported: what the file is in words ("the signing key"),
 * the option or policy field that named it, the error code for a file that
 * is there but refused, and the code for one that is missing or unreadable. */
typedef struct aod_secret_kind {
    const char *what;
    const char *field;
    aod_errcode refused;
    aod_errcode missing;
} aod_secret_kind;

/* Opens path for reading if it passes the checks above; returns NULL with
 * err set (naming path and kind->field) otherwise. */
FILE *aod_secret_open(const char *path, const aod_secret_kind *kind, aod_error *err);

#endif
