/* error.c - the caller-owned error struct (see error.h). */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void aod_error_init(aod_error *err)
{
    if (!err)
        return;
    memset(err, 0, sizeof *err);
    err->index = -1;
}

static void copy_str(char *dst, size_t size, const char *src)
{
    if (!src) {
        dst[0] = '\0';
        return;
    }
    snprintf(dst, size, "%s", src);
}

void aod_error_set(aod_error *err, aod_errcode code, const char *source, long line,
                   const char *field, const char *fmt, ...)
{
    va_list ap;

    if (!err || err->code != AOD_OK)
        return;
    err->code = code == AOD_OK ? AOD_ERR_INTERNAL : code;
    copy_str(err->source, sizeof err->source, source);
    err->line = line;
    copy_str(err->field, sizeof err->field, field);
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
}

void aod_error_where(aod_error *err, const char *source, long line, long index)
{
    if (!err)
        return;
    if (source && err->source[0] == '\0')
        copy_str(err->source, sizeof err->source, source);
    if (line > 0 && err->line <= 0)
        err->line = line;
    if (index >= 0 && err->index < 0)
        err->index = index;
}

const char *aod_error_format(const aod_error *err, char *out, size_t size)
{
    size_t used = 0;
    int n;

    if (size == 0)
        return out;
    out[0] = '\0';
#define APPEND(...)                                                                                \
    do {                                                                                           \
        n = snprintf(out + used, size - used, __VA_ARGS__);                                        \
        if (n < 0 || (size_t)n >= size - used)                                                     \
            return out;                                                                            \
        used += (size_t)n;                                                                         \
    } while (0)
    if (err->source[0])
        APPEND("%s:", err->source);
    if (err->line > 0)
        APPEND("%ld:", err->line);
    if (used)
        APPEND(" ");
    if (err->index >= 0)
        APPEND("entry %ld: ", err->index);
    if (err->field[0])
        APPEND("%s: ", err->field);
    APPEND("%s", err->text[0] ? err->text : "unknown error");
#undef APPEND
    return out;
}
