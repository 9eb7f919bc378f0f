/*
 * buf.h - a growable byte buffer with a hard size cap.
 *
 * Modelled on the habit of curl's dynbuf: the buffer refuses to grow past its
 * cap, frees itself when an append fails (so a failed build leaves nothing to
 * clean but the struct), and keeps its contents NUL terminated.  The memory is
 * reused across aod_buf_reset() calls: fresh pages are expensive here.
 */
#ifndef AOD_BUF_H
#define AOD_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct aod_buf {
    char *data;   /* owned; NUL terminated when len > 0 or after any append */
    size_t len;   /* bytes used, not counting the terminating NUL */
    size_t alloc; /* bytes allocated */
    size_t cap;   /* most bytes the buffer may hold */
} aod_buf;

#define AOD_BUF_DEFAULT_CAP ((size_t)256 * 1024 * 1024)

/* Initialises an empty buffer that may grow to cap bytes (0: the default). */
void aod_buf_init(aod_buf *b, size_t cap);

/* Frees the memory; the buffer is empty and usable again afterwards. */
void aod_buf_free(aod_buf *b);

/* Empties the buffer but keeps its memory for reuse. */
void aod_buf_reset(aod_buf *b);

/* Appends; each returns 0, or -1 after freeing the buffer (out of memory or
 * over the cap). */
int aod_buf_add(aod_buf *b, const void *mem, size_t len);
int aod_buf_adds(aod_buf *b, const char *s);
int aod_buf_addc(aod_buf *b, char c);
int aod_buf_printf(aod_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
int aod_buf_vprintf(aod_buf *b, const char *fmt, va_list ap);

/* Hands the bytes over: returns a new NUL-terminated string the caller must
 * free() (an empty string when the buffer is empty, NULL when out of memory),
 * and leaves the buffer empty.  *len, when not NULL, receives the length. */
char *aod_buf_take(aod_buf *b, size_t *len);

/* Borrowed pointer to the contents, never NULL ("" when empty). */
const char *aod_buf_str(const aod_buf *b);

#endif
