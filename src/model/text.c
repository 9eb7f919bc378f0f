/*
 * text.c - codes to plain words, per language (see text.h).
 *
 * Render-stage support.  Every template file of a language is read whole
 * into one heap block and parsed in place: keys and values are NUL-terminated
 * slices of that block, indexed by one open-addressing table.  English is
 * loaded first as layer 0, the asked language over it as layer 1, so one
 * lookup answers "the language, else English".
 */
#define _POSIX_C_SOURCE 200809L
#include "model/text.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/embedded.h"
#include "base/utf8.h"

#ifndef AOD_DATADIR
#define AOD_DATADIR "/usr/local/share/aodreport"
#endif

#define MAX_FILE_BYTES ((size_t)1024 * 1024) /* one template file */
#define MAX_FILES      64                    /* template files per language */
#define MAX_LANG       32                    /* a language name, with its NUL */
#define MAX_PATH       4096

typedef struct slot {
    const char *key; /* NULL: empty slot */
    const char *value;
    int layer; /* 0 English (fallback), 1 the asked language */
    long line; /* where it was defined, for duplicate messages */
} slot;

typedef struct block {
    struct block *next;
    char data[]; /* one file's bytes, parsed in place */
} block;

struct aod_text {
    char lang[MAX_LANG];
    slot *slots;
    size_t n_slots, n_used;
    block *blocks;
};

/* ------------------------------------------------------------------ table */

/* FNV-1a, fed in pieces so "kind" "." "code" hashes like "kind.code". */
#define FNV_OFFSET 1469598103934665603ULL
#define FNV_PRIME  1099511628211ULL

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= FNV_PRIME;
    }
    return h;
}

static int grow(aod_text *t)
{
    size_t n = t->n_slots ? t->n_slots * 2 : 512, i;
    slot *slots = calloc(n, sizeof *slots);

    if (!slots)
        return -1;
    for (i = 0; i < t->n_slots; i++) {
        size_t j;
        if (!t->slots[i].key)
            continue;
        j = (size_t)fnv(FNV_OFFSET, t->slots[i].key, strlen(t->slots[i].key)) & (n - 1);
        while (slots[j].key)
            j = (j + 1) & (n - 1);
        slots[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = slots;
    t->n_slots = n;
    return 0;
}

#define NOT_FOUND ((size_t)-1)

/* The index of kind.code (code NULL: kind is the whole key), or NOT_FOUND. */
static size_t find(const aod_text *t, const char *kind, const char *code)
{
    size_t klen = strlen(kind), clen = code ? strlen(code) : 0, j;
    uint64_t h = fnv(FNV_OFFSET, kind, klen);

    if (code) {
        h = fnv(h, ".", 1);
        h = fnv(h, code, clen);
    }
    for (j = (size_t)h & (t->n_slots - 1); t->slots[j].key; j = (j + 1) & (t->n_slots - 1)) {
        const char *k = t->slots[j].key;
        if (strncmp(k, kind, klen) != 0)
            continue;
        if (!code) {
            if (k[klen] == '\0')
                return j;
        } else if (k[klen] == '.' && strncmp(k + klen + 1, code, clen) == 0 &&
                   k[klen + 1 + clen] == '\0') {
            return j;
        }
    }
    return NOT_FOUND;
}

/* Adds key = value from layer; a key defined twice in one layer is an
 * error, a layer-1 key replaces the English one. */
static int put(aod_text *t, const char *key, const char *value, int layer, const char *source,
               long line, aod_error *err)
{
    size_t j = find(t, key, NULL);

    if (j != NOT_FOUND) {
        slot *s = &t->slots[j];
        if (s->layer == layer) {
            aod_error_set(err, AOD_ERR_INPUT, source, line, key,
                          "key defined twice (first on line %ld)", s->line);
            return -1;
        }
        s->value = value;
        s->layer = layer;
        s->line = line;
        return 0;
    }
    if ((t->n_used + 1) * 2 > t->n_slots && grow(t) != 0) {
        aod_error_set(err, AOD_ERR_NOMEM, source, line, NULL, "out of memory");
        return -1;
    }
    j = (size_t)fnv(FNV_OFFSET, key, strlen(key)) & (t->n_slots - 1);
    while (t->slots[j].key)
        j = (j + 1) & (t->n_slots - 1);
    t->slots[j].key = key;
    t->slots[j].value = value;
    t->slots[j].layer = layer;
    t->slots[j].line = line;
    t->n_used++;
    return 0;
}

/* ---------------------------------------------------------------- parsing */

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims spaces and tabs at both ends of [*b, *e). */
static void trim(char **b, char **e)
{
    while (*b < *e && is_space(**b))
        (*b)++;
    while (*e > *b && is_space((*e)[-1]))
        (*e)--;
}

/* Parses one file's bytes (data, len, NUL-terminated, owned by t) in place. */
static int parse(aod_text *t, char *data, size_t len, int layer, const char *source, aod_error *err)
{
    char *p = data, *end = data + len;
    long line = 0;
    size_t i;

    for (i = 0; i < len;) {
        size_t n = aod_utf8_decode((const unsigned char *)data + i, len - i, NULL);
        if (n == 0 || data[i] == '\0') {
            long l = 1;
            size_t k;
            for (k = 0; k < i; k++)
                l += data[k] == '\n';
            aod_error_set(err, AOD_ERR_INPUT, source, l, NULL,
                          data[i] ? "not valid UTF-8" : "NUL byte in a template file");
            return -1;
        }
        i += n;
    }
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        char *next, *eq, *kb, *ke, *vb, *ve, *k;

        if (!eol)
            eol = end;
        next = eol < end ? eol + 1 : end;
        line++;
        if (eol > p && eol[-1] == '\r')
            eol--;
        kb = p;
        ve = eol;
        trim(&kb, &ve);
        if (kb == ve || *kb == '#') {
            p = next;
            continue;
        }
        eq = memchr(kb, '=', (size_t)(ve - kb));
        if (!eq) {
            aod_error_set(err, AOD_ERR_INPUT, source, line, NULL, "expected 'key = value'");
            return -1;
        }
        ke = eq;
        vb = eq + 1;
        trim(&kb, &ke);
        trim(&vb, &ve);
        if (kb == ke) {
            aod_error_set(err, AOD_ERR_INPUT, source, line, NULL, "empty key before '='");
            return -1;
        }
        for (k = kb; k < ke; k++) {
            if (is_space(*k)) {
                aod_error_set(err, AOD_ERR_INPUT, source, line, NULL,
                              "a key cannot contain spaces");
                return -1;
            }
        }
        if (vb == ve) {
            *ke = '\0';
            aod_error_set(err, AOD_ERR_INPUT, source, line, kb, "empty value");
            return -1;
        }
        *ke = '\0';
        *ve = '\0';
        if (put(t, kb, vb, layer, source, line, err) != 0)
            return -1;
        p = next;
    }
    return 0;
}

/* Links b (len bytes of data, NUL-terminated) into t and parses it. */
static int add_block(aod_text *t, block *b, size_t len, int layer, const char *source,
                     aod_error *err)
{
    b->next = t->blocks;
    t->blocks = b;
    return parse(t, b->data, len, layer, source, err);
}

/* Keeps a copy of the len bytes at data (an embedded file) and parses it. */
static int add_bytes(aod_text *t, const char *data, size_t len, int layer, const char *source,
                     aod_error *err)
{
    block *b;

    if (len > MAX_FILE_BYTES) {
        aod_error_set(err, AOD_ERR_INPUT, source, 0, NULL, "template file larger than %zu bytes",
                      MAX_FILE_BYTES);
        return -1;
    }
    b = malloc(sizeof *b + len + 1);
    if (!b) {
        aod_error_set(err, AOD_ERR_NOMEM, source, 0, NULL, "out of memory");
        return -1;
    }
    memcpy(b->data, data, len);
    b->data[len] = '\0';
    return add_block(t, b, len, layer, source, err);
}

static int add_file(aod_text *t, const char *path, int layer, aod_error *err)
{
    FILE *f = fopen(path, "rb");
    block *b = NULL, *shrunk;
    struct stat sb;
    size_t len = 0, got, size;
    int rc = -1;

    if (!f || fstat(fileno(f), &sb) != 0) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "cannot open: %s", strerror(errno));
        goto cleanup;
    }
    if (!S_ISREG(sb.st_mode) || (uintmax_t)sb.st_size > MAX_FILE_BYTES) {
        aod_error_set(err, AOD_ERR_INPUT, path, 0, NULL, "not a regular file of at most %zu bytes",
                      MAX_FILE_BYTES);
        goto cleanup;
    }
    /* One byte more than the size says, to notice a file that grew. */
    size = (size_t)sb.st_size + 1;
    b = malloc(sizeof *b + size + 1);
    if (!b) {
        aod_error_set(err, AOD_ERR_NOMEM, path, 0, NULL, "out of memory");
        goto cleanup;
    }
    while (len < size && (got = fread(b->data + len, 1, size - len, f)) > 0)
        len += got;
    if (ferror(f) || len == size) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "cannot read: %s",
                      ferror(f) ? strerror(errno) : "file changed while reading");
        goto cleanup;
    }
    b->data[len] = '\0';
    shrunk = realloc(b, sizeof *b + len + 1);
    if (shrunk)
        b = shrunk;
    rc = add_block(t, b, len, layer, path, err);
    b = NULL; /* t owns it now, parsed or not */
cleanup:
    free(b);
    if (f)
        fclose(f);
    return rc;
}

/* -------------------------------------------------------------- locations */

static int is_dir(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int ends_with_txt(const char *name)
{
    size_t n = strlen(name);

    return n > 4 && name[0] != '.' && strcmp(name + n - 4, ".txt") == 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every *.txt in dir (in name order, so messages are reproducible). */
static int load_dir(aod_text *t, const char *dir, int layer, aod_error *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char *names[MAX_FILES];
    char path[MAX_PATH];
    size_t n = 0, i;
    int rc = -1;

    if (!d) {
        aod_error_set(err, AOD_ERR_IO, dir, 0, NULL, "cannot open directory: %s", strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (!ends_with_txt(de->d_name))
            continue;
        if (n == MAX_FILES) {
            aod_error_set(err, AOD_ERR_INPUT, dir, 0, NULL, "more than %d template files",
                          MAX_FILES);
            goto cleanup;
        }
        names[n] = malloc(strlen(de->d_name) + 1);
        if (!names[n]) {
            aod_error_set(err, AOD_ERR_NOMEM, dir, 0, NULL, "out of memory");
            goto cleanup;
        }
        memcpy(names[n], de->d_name, strlen(de->d_name) + 1);
        n++;
    }
    qsort(names, n, sizeof *names, cmp_names);
    for (i = 0; i < n; i++) {
        int len = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (len < 0 || (size_t)len >= sizeof path) {
            aod_error_set(err, AOD_ERR_IO, dir, 0, NULL, "path too long");
            goto cleanup;
        }
        if (add_file(t, path, layer, err) != 0)
            goto cleanup;
    }
    rc = 0;
cleanup:
    for (i = 0; i < n; i++)
        free(names[i]);
    closedir(d);
    return rc;
}

/* Loads the compiled-in templates/<lang>/NAME.txt files; *found says whether any. */
static int load_embedded(aod_text *t, const char *lang, int layer, int *found, aod_error *err)
{
    const aod_embedded_file *f;
    size_t llen = strlen(lang);

    *found = 0;
    for (f = aod_embedded_files; f->name; f++) {
        const char *rest;
        if (strncmp(f->name, "templates/", 10) != 0 || strncmp(f->name + 10, lang, llen) != 0 ||
            f->name[10 + llen] != '/')
            continue;
        rest = f->name + 10 + llen + 1;
        if (strchr(rest, '/') || !ends_with_txt(rest))
            continue;
        *found = 1;
        if (add_bytes(t, f->data, f->len, layer, f->name, err) != 0)
            return -1;
    }
    return 0;
}

/* Joins base "/" lang into out; 0, or -1 when it does not fit. */
static int join(char *out, size_t size, const char *base, const char *lang)
{
    int n = snprintf(out, size, "%s/%s", base, lang);

    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Loads lang from the first location that has it.  Returns 1 loaded, 0 not
 * found anywhere, -1 error. */
static int load_lang(aod_text *t, const char *dir, const char *lang, int layer, int dir_only,
                     aod_error *err)
{
    char path[MAX_PATH];
    const char *env;
    int found;

    if (dir) {
        if (join(path, sizeof path, dir, lang) == 0 && is_dir(path))
            return load_dir(t, path, layer, err) == 0 ? 1 : -1;
        if (dir_only)
            return 0;
    } else {
        env = getenv("AOD_TEMPLATE_DIR");
        if (env && *env && join(path, sizeof path, env, lang) == 0 && is_dir(path))
            return load_dir(t, path, layer, err) == 0 ? 1 : -1;
        if (join(path, sizeof path, AOD_DATADIR "/templates", lang) == 0 && is_dir(path))
            return load_dir(t, path, layer, err) == 0 ? 1 : -1;
    }
    if (load_embedded(t, lang, layer, &found, err) != 0)
        return -1;
    return found;
}

/* A language name: two to eight letters, then parts of letters or digits
 * after "-" or "_" ("en", "pt-BR", "es_419").  Nothing that could climb out
 * of the templates directory. */
static int valid_lang(const char *lang)
{
    size_t i, part = 0;
    int first = 1;

    if (!lang || strlen(lang) >= MAX_LANG)
        return 0;
    for (i = 0; lang[i]; i++) {
        char c = lang[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        int digit = c >= '0' && c <= '9';
        if ((c == '-' || c == '_') && part > 0) {
            if (first && part < 2)
                return 0;
            first = 0;
            part = 0;
        } else if (alpha || (digit && !first)) {
            if (++part > 8)
                return 0;
        } else {
            return 0;
        }
    }
    return part > 0 && !(first && part < 2);
}

/* ------------------------------------------------------------------- API */

aod_text *aod_text_load(const char *dir_or_NULL, const char *lang, aod_error *err)
{
    aod_text *t = NULL;
    int english = 0, r;

    if (!valid_lang(lang)) {
        aod_error_set(err, AOD_ERR_USAGE, NULL, 0, "language", "'%s' is not a language name",
                      lang ? lang : "(null)");
        goto fail;
    }
    t = calloc(1, sizeof *t);
    if (!t || grow(t) != 0) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        goto fail;
    }
    memcpy(t->lang, lang, strlen(lang) + 1);
    english = strcmp(lang, "en") == 0;
    /* English first, as the fallback layer; a missing English is only an
     * error when English is what was asked for. */
    r = load_lang(t, dir_or_NULL, "en", english ? 1 : 0, english && dir_or_NULL, err);
    if (r < 0)
        goto fail;
    if (english) {
        if (r == 0)
            goto unknown;
        return t;
    }
    r = load_lang(t, dir_or_NULL, lang, 1, dir_or_NULL != NULL, err);
    if (r < 0)
        goto fail;
    if (r == 0)
        goto unknown;
    return t;
unknown:
    if (dir_or_NULL)
        aod_error_set(err, AOD_ERR_USAGE, dir_or_NULL, 0, "language",
                      "no templates for language '%s'", lang);
    else
        aod_error_set(err, AOD_ERR_USAGE, NULL, 0, "language", "no templates for language '%s'",
                      lang);
fail:
    aod_text_free(t);
    return NULL;
}

void aod_text_free(aod_text *t)
{
    block *b, *next;

    if (!t)
        return;
    for (b = t->blocks; b; b = next) {
        next = b->next;
        free(b);
    }
    free(t->slots);
    free(t);
}

const char *aod_text_lang(const aod_text *t)
{
    return t ? t->lang : "";
}

int aod_text_each(const aod_text *t, int (*fn)(const char *key, const char *value, void *ctx),
                  void *ctx)
{
    size_t i;
    int rc;

    for (i = 0; t && i < t->n_slots; i++)
        if (t->slots[i].key && (rc = fn(t->slots[i].key, t->slots[i].value, ctx)) != 0)
            return rc;
    return 0;
}

const char *aod_text_get(const aod_text *t, const char *key)
{
    size_t j;

    if (!t || !key)
        return NULL;
    j = find(t, key, NULL);
    return j != NOT_FOUND ? t->slots[j].value : NULL;
}

const char *aod_text_code(const aod_text *t, const char *kind, const char *code,
                          const char *display)
{
    if (t && kind && code && *code) {
        size_t j = find(t, kind, code);
        if (j != NOT_FOUND)
            return t->slots[j].value;
    }
    if (display && *display)
        return display;
    if (code && *code)
        return code;
    return "";
}

const char *aod_text_reason(const aod_text *t, const char *reason, const char *purpose_code,
                            const char *purpose_display, const char *evidence, int generic,
                            aod_buf *scratch)
{
    const char *vars[3], *tmpl;
    char key[64];
    aod_error ignored;

    if ((purpose_code && *purpose_code) || (purpose_display && *purpose_display))
        return aod_text_shown(t, "purpose", purpose_code, purpose_display, generic);
    snprintf(key, sizeof key, "reason.%s", reason && *reason ? reason : "none");
    tmpl = aod_text_get(t, key);
    if (!tmpl)
        tmpl = aod_text_get(t, "reason.none");
    if (!tmpl)
        return "";
    if (!strchr(tmpl, '{'))
        return tmpl;
    vars[0] = "evidence";
    vars[1] = evidence;
    vars[2] = NULL;
    aod_buf_reset(scratch);
    aod_error_init(&ignored);
    if (aod_text_expand(scratch, tmpl, vars, &ignored) != 0)
        return "";
    return aod_buf_str(scratch);
}

int aod_text_is_bare_code(const char *s)
{
    size_t n = 0;

    if (!s || !*s)
        return 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '-' ||
              s[n] == '_' || s[n] == '.'))
            return 0;
    return n <= 32;
}

const char *aod_text_words(const aod_text *t, const char *kind, const char *code,
                           const char *display)
{
    if (t && kind && code && *code) {
        size_t j = find(t, kind, code);
        if (j != NOT_FOUND)
            return t->slots[j].value;
    }
    if (display && *display && !aod_text_is_bare_code(display))
        return display;
    return NULL;
}

const char *aod_text_shown(const aod_text *t, const char *kind, const char *code,
                           const char *display, int generic)
{
    const char *v = aod_text_words(t, kind, code, display);
    char key[64];

    if (v)
        return v;
    if ((!code || !*code) && (!display || !*display))
        return "";
    if (generic && kind && strlen(kind) < sizeof key - 10) {
        snprintf(key, sizeof key, "no-words.%s", kind);
        v = aod_text_get(t, key);
        if (v)
            return v;
    }
    return display && *display ? display : code;
}

int aod_text_expand(aod_buf *out, const char *tmpl, const char *const *vars, aod_error *err)
{
    const char *p = tmpl, *open;

    while ((open = strchr(p, '{')) != NULL) {
        const char *close = strchr(open + 1, '}');
        const char *const *v;
        size_t n;

        if (aod_buf_add(out, p, (size_t)(open - p)) != 0)
            goto nomem;
        p = open;
        if (!close)
            break;
        n = (size_t)(close - open - 1);
        for (v = vars; v && v[0]; v += 2)
            if (strlen(v[0]) == n && strncmp(v[0], open + 1, n) == 0)
                break;
        if (v && v[0]) {
            if (v[1] && aod_buf_adds(out, v[1]) != 0)
                goto nomem;
            p = close + 1;
        } else {
            if (aod_buf_addc(out, '{') != 0)
                goto nomem;
            p = open + 1;
        }
    }
    if (aod_buf_adds(out, p) != 0)
        goto nomem;
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory expanding a template");
    return -1;
}

int aod_text_key_is_ssn(const char *key)
{
    static const char *const systems[] = {"http://hl7.org/fhir/sid/us-ssn|",
                                          "urn:oid:2.16.840.1.113883.4.1|", NULL};
    size_t i;

    for (i = 0; key && systems[i]; i++)
        if (strncmp(key, systems[i], strlen(systems[i])) == 0)
            return 1;
    return 0;
}

/* The host of a URL ("https://fhir.example.org:8443/r4" -> its n bytes
 * "fhir.example.org"), or a host name as it is; NULL when s is neither. */
static const char *host_of(const char *s, size_t *n)
{
    const char *p = strstr(s, "://"), *q;

    if (p) {
        p += 3;
        *n = strcspn(p, "/:?#");
        return *n ? p : NULL;
    }
    if (!strchr(s, '.'))
        return NULL;
    for (q = s; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
              *q == '-' || *q == '.'))
            return NULL;
    *n = (size_t)(q - s);
    return s;
}

const char *aod_text_source(const aod_text *t, const char *observer, const char *display,
                            aod_buf *out, aod_error *err)
{
    const char *key = "letter.complete.source.system", *id = observer, *slash, *bar, *h, *tmpl;
    char part[256];
    const char *vars[3];
    size_t n;

    aod_buf_reset(out);
    if (display && *display) {
        if (aod_buf_adds(out, display) != 0)
            goto nomem;
        return aod_buf_str(out);
    }
    if (!observer || !*observer) {
        tmpl = aod_text_get(t, "letter.complete.unnamed-system");
        if (aod_buf_adds(out, tmpl ? tmpl : "a system that did not name itself") != 0)
            goto nomem;
        return aod_buf_str(out);
    }
    if (strchr(observer, ' ') && !strstr(observer, "://")) { /* a name */
        if (aod_buf_adds(out, observer) != 0)
            goto nomem;
        return aod_buf_str(out);
    }
    if ((bar = strchr(observer, '|')) != NULL && bar[1])
        id = bar + 1; /* an identifier: its value, which may be an address */
    if ((h = host_of(id, &n)) != NULL) {
        key = "letter.complete.source.host";
        id = h;
    } else if (id != observer) {
        n = strlen(id);
    } else if ((slash = strrchr(observer, '/')) != NULL && slash[1] && slash > observer &&
               observer[0] >= 'A' && observer[0] <= 'Z') {
        if (strncmp(observer, "Organization/", 13) == 0)
            key = "letter.complete.source.organization";
        id = slash + 1; /* a reference: its id */
        n = strlen(id);
    } else {
        n = strlen(id);
    }
    if (n >= sizeof part)
        n = sizeof part - 1;
    memcpy(part, id, n);
    part[n] = '\0';
    vars[0] = strcmp(key, "letter.complete.source.host") == 0 ? "host" : "id";
    vars[1] = part;
    vars[2] = NULL;
    tmpl = aod_text_get(t, key);
    if (aod_text_expand(out, tmpl ? tmpl : "a system recorded as {id}", vars, err) != 0)
        return NULL;
    return aod_buf_str(out);
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
    return NULL;
}

int aod_text_patient_key(const aod_text *t, const char *key, aod_buf *out, aod_error *err)
{
    const char *bar = strchr(key, '|');
    char last4[5];
    size_t n, i, k = 0;

    if (aod_text_key_is_ssn(key)) {
        const char *vars[3] = {"last4", last4, NULL};
        const char *tmpl = aod_text_get(t, "identifier.ssn");

        /* the last four digits, dashes and spaces skipped */
        n = strlen(bar + 1);
        for (i = n; i > 0 && k < 4; i--)
            if (bar[i] >= '0' && bar[i] <= '9')
                last4[3 - k++] = bar[i];
        memmove(last4, last4 + 4 - k, k);
        last4[k] = '\0';
        return aod_text_expand(out, tmpl ? tmpl : "SSN ending in {last4}", vars, err);
    }
    if (!bar || bar == key) {
        if (aod_buf_adds(out, bar ? bar + 1 : key) == 0)
            return 0;
    } else if (aod_buf_printf(out, "%s (%.*s)", bar + 1, (int)(bar - key), key) == 0) {
        return 0;
    }
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
    return -1;
}
