/*
 * jsonfast.c - the loader's quick way to jansson values (see jsonfast.h).
 *
 * Stage: source.  A recursive descent over the text that builds jansson
 * values and gives up (NULL) on anything it is not sure jansson would read
 * the same way; the caller then asks jansson.  Giving up is always safe,
 * so the cases it handles are only the common ones: objects, arrays,
 * strings without \u escapes, integers, true, false and null.
 */
#include "ingest/jsonfast.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 256 /* deeper: jansson's (it allows 2048) */

typedef struct fast {
    const char *p, *end;
    char *tmp; /* a string with escapes, unescaped; then a key, NUL-terminated */
    size_t tmp_len, tmp_cap;
} fast;

static void skip_ws(fast *f)
{
    while (f->p < f->end && (*f->p == ' ' || *f->p == '\n' || *f->p == '\r' || *f->p == '\t'))
        f->p++;
}

static int tmp_add(fast *f, const char *s, size_t n)
{
    if (f->tmp_len + n + 1 > f->tmp_cap) {
        size_t cap = f->tmp_cap ? f->tmp_cap : 256;
        char *t;
        while (cap < f->tmp_len + n + 1)
            cap *= 2;
        if (!(t = realloc(f->tmp, cap)))
            return -1;
        f->tmp = t;
        f->tmp_cap = cap;
    }
    memcpy(f->tmp + f->tmp_len, s, n);
    f->tmp_len += n;
    f->tmp[f->tmp_len] = '\0';
    return 0;
}

/* Reads a string whose opening quote is behind f->p: its bytes (in the
 * text, or unescaped in f->tmp) and whether they are all ASCII.  -1 for
 * what jansson is to judge: a control character, a \u escape, an unknown
 * escape, no closing quote. */
static int read_string(fast *f, const char **s, size_t *n, int *ascii)
{
    const char *p = f->p, *q = memchr(p, '"', (size_t)(f->end - p)), *c;
    unsigned hi = 0;

    if (!q)
        return -1;
    if (!memchr(p, '\\', (size_t)(q - p))) {
        for (c = p; c < q; c++) {
            unsigned char u = (unsigned char)*c;
            if (u < 0x20)
                return -1;
            hi |= u;
        }
        *s = p;
        *n = (size_t)(q - p);
        *ascii = !(hi & 0x80);
        f->p = q + 1;
        return 0;
    }
    f->tmp_len = 0;
    for (c = p;; c++) {
        unsigned char u;
        char e;
        if (c >= f->end)
            return -1;
        u = (unsigned char)*c;
        if (u == '"')
            break;
        if (u < 0x20)
            return -1;
        if (u != '\\') {
            hi |= u;
            if (tmp_add(f, c, 1) != 0)
                return -1;
            continue;
        }
        if (++c >= f->end)
            return -1;
        switch (*c) {
        case '"':
            e = '"';
            break;
        case '\\':
            e = '\\';
            break;
        case '/':
            e = '/';
            break;
        case 'b':
            e = '\b';
            break;
        case 'f':
            e = '\f';
            break;
        case 'n':
            e = '\n';
            break;
        case 'r':
            e = '\r';
            break;
        case 't':
            e = '\t';
            break;
        default:
            return -1; /* \u and anything else: jansson's */
        }
        if (tmp_add(f, &e, 1) != 0)
            return -1;
    }
    *s = f->tmp ? f->tmp : "";
    *n = f->tmp_len;
    *ascii = !(hi & 0x80);
    f->p = c + 1;
    return 0;
}

static json_t *string_value(fast *f)
{
    const char *s;
    size_t n;
    int ascii;

    if (read_string(f, &s, &n, &ascii) != 0)
        return NULL;
    /* jansson checks the UTF-8 of anything beyond ASCII, as its parser would */
    return ascii ? json_stringn_nocheck(s, n) : json_stringn(s, n);
}

/* An integer as jansson reads one: strtoll, and out of range is jansson's
 * to refuse.  A fraction or an exponent (a real) is jansson's too. */
static json_t *number_value(fast *f)
{
    const char *start = f->p, *p = f->p;
    char num[32];
    char *end;
    long long v;

    if (p < f->end && *p == '-')
        p++;
    if (p >= f->end)
        return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < f->end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return NULL;
    }
    if (p < f->end && (*p == '.' || *p == 'e' || *p == 'E' || (*p >= '0' && *p <= '9')))
        return NULL;
    if ((size_t)(p - start) >= sizeof num)
        return NULL;
    memcpy(num, start, (size_t)(p - start));
    num[p - start] = '\0';
    errno = 0;
    v = strtoll(num, &end, 10);
    if (errno == ERANGE || *end != '\0')
        return NULL;
    f->p = p;
    return json_integer((json_int_t)v);
}

static json_t *value(fast *f, int depth);

/* After a member or an element: 1 when a comma says another follows (f
 * then at it), 0 when close ends the container (f behind it), -1 for
 * anything else. */
static int next_item(fast *f, char close)
{
    skip_ws(f);
    if (f->p < f->end && *f->p == ',') {
        f->p++;
        skip_ws(f);
        return 1;
    }
    if (f->p < f->end && *f->p == close) {
        f->p++;
        return 0;
    }
    return -1;
}

static json_t *object_value(fast *f, int depth)
{
    json_t *obj = json_object();

    if (!obj)
        return NULL;
    skip_ws(f);
    if (f->p < f->end && *f->p == '}') {
        f->p++;
        return obj;
    }
    for (;;) {
        const char *k;
        size_t n;
        int ascii, rc;
        json_t *v;

        if (f->p >= f->end || *f->p != '"')
            goto fail;
        f->p++;
        if (read_string(f, &k, &n, &ascii) != 0)
            goto fail;
        /* the key, NUL-terminated, in f->tmp (a key holds no NUL: only a
         * \u escape could put one there) */
        if (k != f->tmp) {
            f->tmp_len = 0;
            if (tmp_add(f, k, n) != 0)
                goto fail;
        }
        skip_ws(f);
        if (f->p >= f->end || *f->p != ':')
            goto fail;
        f->p++;
        skip_ws(f);
        {
            /* the value may use f->tmp: keep the key apart */
            char small[64], *key = n < sizeof small ? small : malloc(n + 1);
            if (!key)
                goto fail;
            memcpy(key, f->tmp, n + 1);
            v = value(f, depth + 1);
            if (!v) {
                rc = -1;
            } else {
                /* (both steal v; a key set again replaces its value: a
                 * duplicate key, jansson's to refuse with
                 * JSON_REJECT_DUPLICATES, shows as a size that did not grow) */
                size_t before = json_object_size(obj);
                rc = ascii ? json_object_set_new_nocheck(obj, key, v)
                           : json_object_set_new(obj, key, v);
                if (rc == 0 && json_object_size(obj) == before)
                    rc = -1;
            }
            if (key != small)
                free(key);
        }
        if (rc != 0)
            goto fail;
        rc = next_item(f, '}');
        if (rc < 0)
            goto fail;
        if (rc == 0)
            return obj;
    }
fail:
    json_decref(obj);
    return NULL;
}

static json_t *array_value(fast *f, int depth)
{
    json_t *arr = json_array();

    if (!arr)
        return NULL;
    skip_ws(f);
    if (f->p < f->end && *f->p == ']') {
        f->p++;
        return arr;
    }
    for (;;) {
        json_t *v = value(f, depth + 1);
        int rc;
        if (!v || json_array_append_new(arr, v) != 0)
            goto fail;
        rc = next_item(f, ']');
        if (rc < 0)
            goto fail;
        if (rc == 0)
            return arr;
    }
fail:
    json_decref(arr);
    return NULL;
}

static json_t *literal(fast *f, const char *word, size_t n, json_t *v)
{
    if ((size_t)(f->end - f->p) < n || memcmp(f->p, word, n) != 0)
        return NULL;
    f->p += n;
    return v;
}

static json_t *value(fast *f, int depth)
{
    if (depth > MAX_DEPTH || f->p >= f->end)
        return NULL;
    switch (*f->p) {
    case '{':
        f->p++;
        return object_value(f, depth);
    case '[':
        f->p++;
        return array_value(f, depth);
    case '"':
        f->p++;
        return string_value(f);
    case 't':
        return literal(f, "true", 4, json_true());
    case 'f':
        return literal(f, "false", 5, json_false());
    case 'n':
        return literal(f, "null", 4, json_null());
    default:
        return number_value(f);
    }
}

json_t *aod_jsonfast_parse(const char *text, size_t len)
{
    fast f;
    json_t *v = NULL;

    f.p = text;
    f.end = text + len;
    f.tmp = NULL;
    f.tmp_len = f.tmp_cap = 0;
    skip_ws(&f);
    /* a top-level object or array only, as json_loadb() without
     * JSON_DECODE_ANY */
    if (f.p < f.end && (*f.p == '{' || *f.p == '[')) {
        v = value(&f, 1);
        skip_ws(&f);
        if (v && f.p != f.end) {
            json_decref(v);
            v = NULL;
        }
    }
    free(f.tmp);
    return v;
}
