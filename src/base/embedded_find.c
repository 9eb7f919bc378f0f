/* embedded_find.c - lookup in the table that src/base/embed.sh generates. */
#include "base/embedded.h"

#include <string.h>

const aod_embedded_file *aod_embedded_find(const char *name)
{
    const aod_embedded_file *f;

    for (f = aod_embedded_files; f->name; f++)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}
