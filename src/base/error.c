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

static const char *format_raw(const aod_error *err, char *out, size_t size)
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

const char *aod_error_format(const aod_error *err, char *out, size_t size)
{
    char raw[sizeof err->source + sizeof err->field + sizeof err->text + 64];

    format_raw(err, raw, sizeof raw);
    aod_error_escape(raw, out, size);
    return out;
}

/* The code point of the UTF-8 sequence at s, with its length in *len; -1
 * (and *len 1) for a byte that does not start a well-formed sequence. */
static long decode(const unsigned char *s, size_t *len)
{
    long cp;
    size_t n, i;

    if (s[0] < 0x80) {
        *len = 1;
        return s[0];
    }
    *len = 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2;
        cp = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3;
        cp = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return -1;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return -1;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    /* overlong forms, surrogates and beyond U+10FFFF are not text */
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *len = n;
    return cp;
}

/* Characters that reorder or break a log line when shown: C1 controls,
 * the bidi embeddings, overrides, isolates and marks, and the Unicode line
 * and paragraph separators. */
static int unsafe_cp(long cp)
{
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
           (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

const char *aod_error_escape(const char *in, char *out, size_t size)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t used = 0;

    if (size == 0)
        return out;
    while (*s) {
        char esc[24];
        size_t len, n;
        long cp = decode(s, &len);
        if (cp == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (cp == '\r')
            snprintf(esc, sizeof esc, "\\r");
        else if (cp == '\t')
            snprintf(esc, sizeof esc, "\\t");
        else if (cp < 0 || cp < 0x20 || cp == 0x7F)
            snprintf(esc, sizeof esc, "\\x%02X", (unsigned)s[0]);
        else if (unsafe_cp(cp))
            snprintf(esc, sizeof esc, "\\u%04lX", (unsigned long)cp);
        else
            esc[0] = '\0';
        n = esc[0] ? strlen(esc) : len;
        if (used + n >= size)
            break;
        memcpy(out + used, esc[0] ? (const unsigned char *)esc : s, n);
        used += n;
        s += len;
    }
    out[used] = '\0';
    return out;
}

const char *aod_error_mask_key(const char *key, char *out, size_t size)
{
    const char *bar = strchr(key, '|');
    char masked[512];
    size_t used = 0, chars = 0, i, len;

    if (!bar) {
        /* a reference (Patient/123) is the server's id, not an identifier */
        return aod_error_escape(key, out, size);
    }
    for (i = 0; bar[1 + i]; i += len, chars++)
        decode((const unsigned char *)bar + 1 + i, &len);
    /* the system as it is; of the value, only its last four characters */
    used =
        (size_t)(bar - key) + 1 < sizeof masked - 1 ? (size_t)(bar - key) + 1 : sizeof masked - 1;
    memcpy(masked, key, used);
    for (i = 0; bar[1 + i] && used < sizeof masked - 1; i += len) {
        decode((const unsigned char *)bar + 1 + i, &len);
        if (chars > 4) {
            masked[used++] = '*';
        } else {
            if (used + len >= sizeof masked)
                break;
            memcpy(masked + used, bar + 1 + i, len);
            used += len;
        }
        chars--;
    }
    masked[used] = '\0';
    return aod_error_escape(masked, out, size);
}
