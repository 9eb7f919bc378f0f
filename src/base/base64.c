/*
 * base64.c - RFC 4648 base64 and base64url (see base64.h).
 */
#include "base/base64.h"

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t aod_base64_encode(const void *in, size_t n, char *out, int url)
{
    const unsigned char *p = in;
    const char *a = url ? url_alphabet : std_alphabet;
    size_t i, k = 0;

    for (i = 0; i + 2 < n; i += 3) {
        unsigned long v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 | p[i + 2];
        out[k++] = a[v >> 18 & 63];
        out[k++] = a[v >> 12 & 63];
        out[k++] = a[v >> 6 & 63];
        out[k++] = a[v & 63];
    }
    if (i < n) {
        unsigned long v =
            (unsigned long)p[i] << 16 | (i + 1 < n ? (unsigned long)p[i + 1] << 8 : 0);
        out[k++] = a[v >> 18 & 63];
        out[k++] = a[v >> 12 & 63];
        if (i + 1 < n)
            out[k++] = a[v >> 6 & 63];
        else if (!url)
            out[k++] = '=';
        if (!url)
            out[k++] = '=';
    }
    out[k] = '\0';
    return k;
}

static int value_of(char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

long aod_base64_decode(const char *in, size_t n, unsigned char *out, int url)
{
    size_t i, pad = 0, k = 0;
    unsigned long v = 0;
    int bits = 0;

    if (!url) {
        if (n % 4 != 0)
            return -1;
        while (pad < 2 && n > 0 && in[n - 1] == '=') {
            n--;
            pad++;
        }
    } else if (n % 4 == 1) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        int d = value_of(in[i], url);
        if (d < 0)
            return -1;
        v = (v << 6 | (unsigned long)d) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (unsigned char)(v >> bits);
        }
    }
    /* the bits left over must be zero (a canonical encoding) */
    if (bits > 0 && (v & ((1ul << bits) - 1)) != 0)
        return -1;
    return (long)k;
}
