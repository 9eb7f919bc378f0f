/*
 * embedded.h - data files compiled into the program (see src/base/embed.sh).
 *
 * Names are paths relative to the source tree ("sql/001_store.sql").  The
 * list ends with an entry whose name is NULL.  All data is static and NUL
 * terminated (len does not count the NUL).
 */
#ifndef AOD_EMBEDDED_H
#define AOD_EMBEDDED_H

#include <stddef.h>

typedef struct aod_embedded_file {
    const char *name;
    const char *data;
    size_t len;
} aod_embedded_file;

extern const aod_embedded_file aod_embedded_files[];

/* The file called name, or NULL (borrowed, static). */
const aod_embedded_file *aod_embedded_find(const char *name);

#endif
