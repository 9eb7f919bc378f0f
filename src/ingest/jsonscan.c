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

/* What the grammar allows next at the innermost level. */
typedef enum want {
    W_TOP,          /* depth 0: a top-level object (or white space) */
    W_KEY_OR_END,   /* after '{' */
    W_KEY,          /* after ',' in an object */
    W_COLON,        /* after a key */
    W_VALUE,        /* after ':', or after ',' in an array */
    W_VALUE_OR_END, /* after '[' */
    W_MORE          /* after a value: ',' or the closing bracket */
} scan_want;

/* A number or literal being read (strings are tracked apart). */
typedef enum scalar { SC_NONE, SC_LITERAL, SC_NUMBER } scalar;

/* The number grammar, one state per place in "-0.5e+3". */
typedef enum num_state { N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP } num_state;

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
    scan_want want;
    int in_string;
    int escape;
    scalar scalar;
    const char *literal; /* SC_LITERAL: "true", "false" or "null" */
    size_t lit_pos;
    num_state num;

    aod_buf doc; /* the current top-level value (entries left out) */
    long doc_line;
    long doc_count;
    int doc_had_entries;

    /* depth-1 key tracking, to find the top-level "entry" array; the key is
     * kept unescaped ("entr\u0079" is "entry" too) */
    int in_key;
    char key[8];
    size_t key_len;
    int key_is_entry;
    int key_u;         /* hex digits of a \u escape still to come */
    unsigned key_code; /* the code point they make */

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

static int between_entries(const aod_jsonscan *s)
{
    return s->in_entries && s->depth == 2 && !s->in_element;
}

static int wants_value(const aod_jsonscan *s)
{
    return s->want == W_VALUE || s->want == W_VALUE_OR_END;
}

/* A byte the grammar does not allow here: says what was found, what was
 * expected, and between which Bundle entries when it is there. */
static int unexpected(aod_jsonscan *s, char c, aod_error *err)
{
    static const char *const expected[] = {
        [W_TOP] = "a JSON object (an AuditEvent or a Bundle)",
        [W_KEY_OR_END] = "a key or '}'",
        [W_KEY] = "a key (a string)",
        [W_COLON] = "':'",
        [W_VALUE] = "a value",
        [W_VALUE_OR_END] = "a value or ']'",
        [W_MORE] = "',' or a closing bracket",
    };
    char found[16], msg[160];

    if (c == '"')
        snprintf(found, sizeof found, "a string");
    else if ((unsigned char)c > 0x20 && (unsigned char)c < 0x7f)
        snprintf(found, sizeof found, "'%c'", c);
    else
        snprintf(found, sizeof found, "byte 0x%02x", (unsigned char)c);
    if (s->want == W_TOP) {
        snprintf(msg, sizeof msg, "expected %s, found %s", expected[W_TOP], found);
    } else if (between_entries(s)) {
        if (s->elem_count == 0)
            snprintf(msg, sizeof msg, "invalid JSON before Bundle entry 0: found %s, expected %s",
                     found, expected[s->want]);
        else
            snprintf(msg, sizeof msg, "invalid JSON after Bundle entry %ld: found %s, expected %s",
                     s->elem_count - 1, found,
                     s->want == W_MORE ? "',' or ']'" : expected[s->want]);
    } else if (s->want == W_MORE) {
        snprintf(msg, sizeof msg, "invalid JSON: found %s, expected ',' or '%c'", found,
                 s->stack[s->depth - 1] == '{' ? '}' : ']');
    } else {
        snprintf(msg, sizeof msg, "invalid JSON: found %s, expected %s", found, expected[s->want]);
    }
    return fail(s, err, msg);
}

/* A value has ended at the current level. */
static void value_done(aod_jsonscan *s)
{
    s->want = s->depth ? W_MORE : W_TOP;
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
        s->key_is_entry = 0;
    } else if (between_entries(s) && wants_value(s)) {
        if (c != '{')
            return entry_not_object(s, err);
        aod_buf_reset(&s->elem);
        s->in_element = 1;
        s->elem_line = s->line;
    } else if (!wants_value(s)) {
        return unexpected(s, c, err);
    } else if (s->depth == 1 && c == '[' && s->key_is_entry && s->stack[0] == '{' &&
               !s->doc_had_entries) {
        s->in_entries = 1;
        s->doc_had_entries = 1;
    }
    if (s->depth >= MAX_DEPTH)
        return fail(s, err, "JSON nested too deeply");
    if (put(s, c, err) != 0)
        return -1;
    s->stack[s->depth++] = c;
    s->want = c == '{' ? W_KEY_OR_END : W_VALUE_OR_END;
    return 0;
}

static int close_bracket(aod_jsonscan *s, char c, aod_error *err)
{
    char want = c == '}' ? '{' : '[';

    if (s->depth == 0 || s->stack[s->depth - 1] != want)
        return fail(s, err, c == '}' ? "unexpected '}'" : "unexpected ']'");
    /* "{" "}" and "[" "]" may close empty; otherwise only after a value */
    if (s->want != W_MORE && s->want != (c == '}' ? W_KEY_OR_END : W_VALUE_OR_END))
        return unexpected(s, c, err);
    if (put(s, c, err) != 0)
        return -1;
    s->depth--;
    value_done(s);
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

static void key_add(aod_jsonscan *s, unsigned c)
{
    /* anything beyond ASCII cannot spell "entry": keep a byte that will not */
    if (s->key_len < sizeof s->key)
        s->key[s->key_len] = c < 0x80 ? (char)c : '\x01';
    s->key_len++;
}

/* One byte of a depth-1 key, unescaping as JSON does. */
static void key_byte(aod_jsonscan *s, char c)
{
    if (s->key_u) {
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : 0; /* jansson refuses the piece anyway */
        s->key_code = s->key_code << 4 | (unsigned)v;
        if (--s->key_u == 0)
            key_add(s, s->key_code);
        return;
    }
    if (s->escape) {
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *p = strchr(from, c);
        if (c == 'u') {
            s->key_u = 4;
            s->key_code = 0;
        } else {
            key_add(s, p && c ? (unsigned char)to[p - from] : 1);
        }
        return;
    }
    if (c != '\\')
        key_add(s, (unsigned char)c);
}

static int in_string_byte(aod_jsonscan *s, char c, aod_error *err)
{
    if (put(s, c, err) != 0)
        return -1;
    if (c == '\n')
        return fail(s, err, "invalid JSON: unterminated string (a line break inside a string)");
    if (s->in_key)
        key_byte(s, c);
    if (s->escape) {
        s->escape = 0;
    } else if (c == '\\') {
        s->escape = 1;
    } else if (c == '"') {
        s->in_string = 0;
        if (s->want == W_KEY_OR_END || s->want == W_KEY) {
            s->want = W_COLON;
            if (s->in_key) {
                s->in_key = 0;
                s->key_len--; /* the closing quote */
                s->key_is_entry = s->key_len == 5 && memcmp(s->key, "entry", 5) == 0;
            }
        } else {
            value_done(s);
        }
    }
    return 0;
}

/* Whether c continues the number or literal being read. */
static int scalar_takes(aod_jsonscan *s, char c)
{
    int digit = c >= '0' && c <= '9';

    if (s->scalar == SC_LITERAL) {
        if (s->literal[s->lit_pos] && s->literal[s->lit_pos] == c) {
            s->lit_pos++;
            return 1;
        }
        return 0;
    }
    switch (s->num) {
    case N_MINUS:
        if (digit)
            s->num = c == '0' ? N_ZERO : N_INT;
        return digit;
    case N_ZERO:
    case N_INT:
        if (digit && s->num == N_INT)
            return 1;
        if (c == '.')
            s->num = N_DOT;
        else if (c == 'e' || c == 'E')
            s->num = N_E;
        else
            return 0;
        return 1;
    case N_DOT:
    case N_FRAC:
        if (digit) {
            s->num = N_FRAC;
            return 1;
        }
        if (s->num == N_FRAC && (c == 'e' || c == 'E')) {
            s->num = N_E;
            return 1;
        }
        return 0;
    case N_E:
        if (c == '+' || c == '-') {
            s->num = N_ESIGN;
            return 1;
        }
        /* fall through */
    case N_ESIGN:
    case N_EXP:
        if (digit)
            s->num = N_EXP;
        return digit;
    }
    return 0;
}

static int scalar_complete(const aod_jsonscan *s)
{
    if (s->scalar == SC_LITERAL)
        return s->literal[s->lit_pos] == '\0';
    return s->num == N_ZERO || s->num == N_INT || s->num == N_FRAC || s->num == N_EXP;
}

static int scalar_start(aod_jsonscan *s, char c, aod_error *err)
{
    if (s->depth == 0)
        return fail(s, err, "expected a JSON object (an AuditEvent or a Bundle)");
    if (between_entries(s) && wants_value(s))
        return entry_not_object(s, err);
    if (!wants_value(s))
        return unexpected(s, c, err);
    if (c == 't' || c == 'f' || c == 'n') {
        s->scalar = SC_LITERAL;
        s->literal = c == 't' ? "true" : c == 'f' ? "false" : "null";
        s->lit_pos = 1;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        s->scalar = SC_NUMBER;
        s->num = c == '-' ? N_MINUS : c == '0' ? N_ZERO : N_INT;
    } else {
        return unexpected(s, c, err);
    }
    return put(s, c, err);
}

static int scan_byte(aod_jsonscan *s, char c, aod_error *err)
{
    if (s->in_string)
        return in_string_byte(s, c, err);
    if (s->scalar != SC_NONE) {
        if (scalar_takes(s, c))
            return put(s, c, err);
        if (!scalar_complete(s))
            return fail(s, err,
                        s->scalar == SC_NUMBER ? "invalid JSON: a malformed number"
                                               : "invalid JSON: an unknown literal "
                                                 "(true, false and null are)");
        s->scalar = SC_NONE;
        value_done(s);
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
        if (between_entries(s) && wants_value(s))
            return entry_not_object(s, err);
        if (s->want != W_KEY_OR_END && s->want != W_KEY && !wants_value(s))
            return unexpected(s, c, err);
        s->in_string = 1;
        if (s->depth == 1 && s->want != W_VALUE && s->stack[0] == '{') {
            s->in_key = 1;
            s->key_len = 0;
            s->key_u = 0;
        }
        return put(s, c, err);
    case ':':
        if (s->want != W_COLON)
            return unexpected(s, c, err);
        s->want = W_VALUE;
        return put(s, c, err);
    case ',':
        if (s->want != W_MORE)
            return unexpected(s, c, err);
        if (s->stack[s->depth - 1] == '{') {
            s->want = W_KEY;
            if (s->depth == 1)
                s->key_is_entry = 0;
        } else {
            s->want = W_VALUE;
        }
        return put(s, c, err);
    default:
        return scalar_start(s, c, err);
    }
}

/* How many bytes of p (n of them) are plain string content: none of '"',
 * '\\' and a line break. */
static size_t string_run(const char *p, size_t n)
{
    const char *q = memchr(p, '"', n);
    size_t m = q ? (size_t)(q - p) : n;

    /* (memchr looks at many bytes a step; strings are mostly tens of bytes) */
    if ((q = memchr(p, '\\', m)))
        m = (size_t)(q - p);
    if ((q = memchr(p, '\n', m)))
        m = (size_t)(q - p);
    return m;
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
    while (i < len) {
        char c;
        /* Inside a string (not a depth-1 key, not after a backslash) every
         * byte up to a quote, a backslash or a line break only goes to the
         * piece: copy the run at once instead of byte by byte. */
        if (s->in_string && !s->escape && !s->in_key) {
            size_t j = string_run(data + i, len - i);
            if (j > 0) {
                aod_buf *b = target(s);
                if (b && aod_buf_add(b, data + i, j) != 0)
                    return fail(s, err,
                                "a JSON document is larger than the size limit (or out of memory)");
                i += j;
                continue;
            }
        }
        c = data[i++];
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
    if (s->depth != 0 || s->in_string || s->scalar != SC_NONE)
        return fail(s, err, "unexpected end of input: a JSON value is not closed");
    return 0;
}
