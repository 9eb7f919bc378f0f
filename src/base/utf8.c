/* utf8.c - strict UTF-8 decoding (see utf8.h). */
#include "base/utf8.h"

size_t aod_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c;
    size_t len, i;
    uint32_t v;

    if (n == 0)
        return 0;
    c = s[0];
    if (c < 0x80) {
        len = 1;
        v = c;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) /* a NUL stops here too */
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
        (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    if (cp)
        *cp = v;
    return len;
}
