/* buf.c - growable byte buffer with a size cap (see buf.h). */
#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void aod_buf_init(aod_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap ? cap : AOD_BUF_DEFAULT_CAP;
}

void aod_buf_free(aod_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}

void aod_buf_reset(aod_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int grow(aod_buf *b, size_t extra)
{
    size_t need, size;
    char *p;

    if (extra > b->cap || b->len > b->cap - extra) {
        aod_buf_free(b);
        return -1;
    }
    need = b->len + extra + 1;
    if (need <= b->alloc)
        return 0;
    size = b->alloc ? b->alloc : 256;
    while (size < need)
        size = size > ((size_t)-1) / 2 ? need : size * 2;
    if (size > b->cap + 1)
        size = b->cap + 1;
    p = realloc(b->data, size);
    if (!p) {
        aod_buf_free(b);
        return -1;
    }
    b->data = p;
    b->alloc = size;
    return 0;
}

int aod_buf_add(aod_buf *b, const void *mem, size_t len)
{
    /* room already (alloc never exceeds cap + 1, so the cap holds): the
     * common case, a few bytes into a buffer that has grown before */
    if (b->alloc - b->len > len) {
        memcpy(b->data + b->len, mem, len);
        b->len += len;
        b->data[b->len] = '\0';
        return 0;
    }
    if (grow(b, len) != 0)
        return -1;
    if (len)
        memcpy(b->data + b->len, mem, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int aod_buf_adds(aod_buf *b, const char *s)
{
    return aod_buf_add(b, s, strlen(s));
}

int aod_buf_addc(aod_buf *b, char c)
{
    if (b->alloc - b->len > 1) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return 0;
    }
    return aod_buf_add(b, &c, 1);
}

int aod_buf_vprintf(aod_buf *b, const char *fmt, va_list ap)
{
    va_list copy;
    int n;

    va_copy(copy, ap);
    n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0 || grow(b, (size_t)n) != 0) {
        aod_buf_free(b);
        return -1;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int aod_buf_printf(aod_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = aod_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *aod_buf_take(aod_buf *b, size_t *len)
{
    char *p = b->data;

    if (!p) {
        p = calloc(1, 1);
        if (len)
            *len = 0;
        return p;
    }
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    return p;
}

const char *aod_buf_str(const aod_buf *b)
{
    return b->data ? b->data : "";
}
