/*
 * jsonscan.c - cut a JSON byte stream into documents and Bundle entries.
 *
 * Stage: source (loader input).  See jsonscan.h for what is handed over.
 * The scanner is a byte-at-a-time state machine; it keeps a stack of open
 * brackets so that a '{' closed by ']' is caught here, with a line number,
 * rather than producing a confusing piece for jansson.
 */
#include "ingest/jsonscan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

#define MAX_DEPTH         512
#define DEFAULT_MAX_PIECE ((size_t)64 * 1024 * 1024)

struct aod_jsonscan {
    char source[256];
    aod_jsonscan_fn fn;
    void *ctx;
    size_t max_piece;
    int failed;

    long line;
    long offset; /* bytes seen, to skip a leading BOM */
    int depth;
    char stack[MAX_DEPTH]; /* '{' or '[' per open level */
    int in_string;
    int escape;

    aod_buf doc; /* the current top-level value (entries left out) */
    long doc_line;
    long doc_count;
    int doc_had_entries;

    /* depth-1 key tracking, to find the top-level "entry" array */
    int expect_key;
    int in_key;
    char key[8];
    size_t key_len;
    int key_is_entry;

    int in_entries; /* inside the top-level "entry" array */
    int in_element; /* inside one element of it */
    aod_buf elem;
    long elem_line;
    long elem_count;
};

aod_jsonscan *aod_jsonscan_new(const char *source, size_t max_piece, aod_jsonscan_fn fn, void *ctx)
{
    aod_jsonscan *s = calloc(1, sizeof *s);

    if (!s)
        return NULL;
    if (source) {
        size_t n = strlen(source);
        if (n >= sizeof s->source)
            n = sizeof s->source - 1;
        memcpy(s->source, source, n);
    }
    s->fn = fn;
    s->ctx = ctx;
    s->max_piece = max_piece ? max_piece : DEFAULT_MAX_PIECE;
    s->line = 1;
    aod_buf_init(&s->doc, s->max_piece);
    aod_buf_init(&s->elem, s->max_piece);
    return s;
}

void aod_jsonscan_free(aod_jsonscan *s)
{
    if (!s)
        return;
    aod_buf_free(&s->doc);
    aod_buf_free(&s->elem);
    free(s);
}

long aod_jsonscan_line(const aod_jsonscan *s)
{
    return s->line;
}

static int fail(aod_jsonscan *s, aod_error *err, const char *what)
{
    aod_error_set(err, AOD_ERR_INPUT, s->source, s->line, NULL, "%s", what);
    s->failed = 1;
    return -1;
}

/* The buffer the current byte belongs to, or NULL to drop it (the commas and
 * white space between entry elements). */
static aod_buf *target(aod_jsonscan *s)
{
    if (s->in_element)
        return &s->elem;
    if (s->in_entries && s->depth == 2)
        return NULL;
    return &s->doc;
}

static int put(aod_jsonscan *s, char c, aod_error *err)
{
    aod_buf *b = target(s);

    if (b && aod_buf_addc(b, c) != 0)
        return fail(s, err, "a JSON document is larger than the size limit (or out of memory)");
    return 0;
}

static int emit(aod_jsonscan *s, aod_jsonscan_kind kind, aod_buf *b, long line, long index,
                aod_error *err)
{
    int rc = s->fn(s->ctx, kind, aod_buf_str(b), b->len, line, index, err);

    aod_buf_reset(b);
    if (rc != 0) {
        s->failed = 1;
        if (err && err->code == AOD_OK)
            aod_error_set(err, AOD_ERR_INPUT, s->source, line, NULL, "rejected");
        return -1;
    }
    return 0;
}

static int entry_not_object(aod_jsonscan *s, aod_error *err)
{
    char msg[96];

    snprintf(msg, sizeof msg, "Bundle entry %ld is not a JSON object", s->elem_count);
    return fail(s, err, msg);
}

static int open_bracket(aod_jsonscan *s, char c, aod_error *err)
{
    if (s->depth == 0) {
        if (c != '{')
            return fail(s, err, "expected a JSON object (an AuditEvent or a Bundle)");
        aod_buf_reset(&s->doc);
        s->doc_line = s->line;
        s->doc_had_entries = 0;
        s->elem_count = 0;
        s->expect_key = 1;
        s->key_is_entry = 0;
    } else if (s->depth == 1 && c == '[' && s->key_is_entry && !s->expect_key &&
               s->stack[0] == '{' && !s->doc_had_entries) {
        s->in_entries = 1;
        s->doc_had_entries = 1;
    } else if (s->in_entries && s->depth == 2 && !s->in_element) {
        if (c != '{') {
            char msg[96];
            snprintf(msg, sizeof msg, "Bundle entry %ld is not a JSON object", s->elem_count);
            return fail(s, err, msg);
        }
        aod_buf_reset(&s->elem);
        s->in_element = 1;
        s->elem_line = s->line;
    }
    if (s->depth >= MAX_DEPTH)
        return fail(s, err, "JSON nested too deeply");
    if (put(s, c, err) != 0)
        return -1;
    s->stack[s->depth++] = c;
    return 0;
}

static int close_bracket(aod_jsonscan *s, char c, aod_error *err)
{
    char want = c == '}' ? '{' : '[';

    if (s->depth == 0 || s->stack[s->depth - 1] != want)
        return fail(s, err, c == '}' ? "unexpected '}'" : "unexpected ']'");
    if (put(s, c, err) != 0)
        return -1;
    s->depth--;
    if (s->in_element && s->depth == 2) {
        s->in_element = 0;
        return emit(s, AOD_JSONSCAN_ENTRY, &s->elem, s->elem_line, s->elem_count++, err);
    }
    if (s->in_entries && s->depth == 1) {
        s->in_entries = 0;
        /* the ']' went to the array level, which is dropped; close it in doc */
        if (aod_buf_addc(&s->doc, ']') != 0)
            return fail(s, err, "out of memory");
        s->key_is_entry = 0;
    }
    if (s->depth == 0) {
        long n = s->doc_had_entries ? s->elem_count : s->doc_count;
        aod_jsonscan_kind kind =
            s->doc_had_entries ? AOD_JSONSCAN_CONTAINER : AOD_JSONSCAN_DOCUMENT;
        s->doc_count++;
        return emit(s, kind, &s->doc, s->doc_line, n, err);
    }
    return 0;
}

static int scan_byte(aod_jsonscan *s, char c, aod_error *err)
{
    if (s->in_string) {
        if (put(s, c, err) != 0)
            return -1;
        if (c == '\n')
            return fail(s, err, "invalid JSON: unterminated string (a line break inside a string)");
        if (s->escape) {
            s->escape = 0;
        } else if (c == '\\') {
            s->escape = 1;
        } else if (c == '"') {
            s->in_string = 0;
            if (s->in_key) {
                s->in_key = 0;
                s->key_is_entry = s->key_len == 5 && memcmp(s->key, "entry", 5) == 0;
            }
            return 0;
        }
        if (s->in_key) {
            if (s->key_len < sizeof s->key)
                s->key[s->key_len] = c;
            s->key_len++;
        }
        return 0;
    }
    switch (c) {
    case ' ':
    case '\t':
    case '\r':
    case '\n':
        return s->depth ? put(s, c, err) : 0;
    case '{':
    case '[':
        return open_bracket(s, c, err);
    case '}':
    case ']':
        return close_bracket(s, c, err);
    case '"':
        if (s->depth == 0)
            return fail(s, err, "expected a JSON object (an AuditEvent or a Bundle)");
        if (s->in_entries && s->depth == 2 && !s->in_element)
            return entry_not_object(s, err);
        s->in_string = 1;
        if (s->depth == 1 && s->expect_key && s->stack[0] == '{') {
            s->in_key = 1;
            s->key_len = 0;
        }
        return put(s, c, err);
    case ':':
        if (s->depth == 1)
            s->expect_key = 0;
        return put(s, c, err);
    case ',':
        if (s->depth == 1) {
            s->expect_key = 1;
            s->key_is_entry = 0;
        }
        return put(s, c, err);
    default:
        if (s->depth == 0)
            return fail(s, err, "expected a JSON object (an AuditEvent or a Bundle)");
        if (s->in_entries && s->depth == 2 && !s->in_element)
            return entry_not_object(s, err);
        return put(s, c, err);
    }
}

int aod_jsonscan_feed(aod_jsonscan *s, const char *data, size_t len, aod_error *err)
{
    size_t i = 0;

    if (s->failed)
        return -1;
    /* A UTF-8 byte order mark at the very start is allowed and skipped. */
    while (s->offset < 3 && i < len) {
        static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
        if ((unsigned char)data[i] != bom[s->offset]) {
            if (s->offset > 0)
                return fail(s, err, "invalid byte at the start of the file");
            s->offset = 3;
            break;
        }
        s->offset++;
        i++;
    }
    for (; i < len; i++) {
        char c = data[i];
        if (scan_byte(s, c, err) != 0)
            return -1;
        if (c == '\n' && !s->failed)
            s->line++;
    }
    return 0;
}

int aod_jsonscan_finish(aod_jsonscan *s, aod_error *err)
{
    if (s->failed)
        return -1;
    if (s->depth != 0 || s->in_string)
        return fail(s, err, "unexpected end of input: a JSON value is not closed");
    return 0;
}
