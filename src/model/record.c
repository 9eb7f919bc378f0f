/*
 * record.c - the plain event model every pipeline stage shares (see record.h).
 *
 * Not a stage itself: the memory and small helpers under every stage.  A report
 * decodes up to hundreds of thousands of records through one aod_record, so
 * the arena keeps its chunks across aod_record_clear(): on this kind of VM a
 * fresh page costs more than decoding a whole record.
 */
#include "model/record.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ arena */

#define ARENA_ALIGN       ((uintptr_t)16)
#define ARENA_FIRST_CHUNK ((size_t)4096)
#define ARENA_MAX_CHUNK   ((size_t)64 * 1024)
#define GROW_SLOTS        16

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t size; /* bytes in data */
    size_t used; /* bytes handed out, counting alignment padding */
    unsigned char data[];
} arena_chunk;

/*
 * Lists in record.h carry a count but no capacity, and any stage may build a
 * list itself (with an exact-size array) and later hand it to
 * aod_codings_add().  So a capacity is never inferred from the count: the
 * arena remembers the spare room of the arrays it grew itself, keyed by the
 * array's address and the count the room belongs to.  The table is only a
 * cache - a miss (an array we did not grow, a slot overwritten, a copied list
 * struct whose count no longer matches) costs one copy, never correctness.
 */
typedef struct grow_slot {
    void *ptr;
    size_t cap; /* elements the array can hold */
    size_t n;   /* the element count the spare room is valid for */
} grow_slot;

struct aod_arena {
    arena_chunk *first;
    arena_chunk *cur;
    size_t next_size;
    grow_slot slots[GROW_SLOTS];
};

static arena_chunk *chunk_new(size_t size)
{
    arena_chunk *c;

    if (size > SIZE_MAX - sizeof *c)
        return NULL;
    c = malloc(sizeof *c + size);
    if (!c)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

/* Returns a pointer to size bytes inside c aligned to ARENA_ALIGN, or NULL
 * when c lacks the room. */
static void *chunk_take(arena_chunk *c, size_t size)
{
    uintptr_t base = (uintptr_t)c->data;
    uintptr_t at = base + c->used;
    size_t pad = (size_t)((ARENA_ALIGN - (at & (ARENA_ALIGN - 1))) & (ARENA_ALIGN - 1));

    if (pad > c->size - c->used || size > c->size - c->used - pad)
        return NULL;
    c->used += pad + size;
    return c->data + (c->used - size);
}

static void *arena_alloc(struct aod_arena *a, size_t size)
{
    arena_chunk *c, *last = NULL;
    size_t want;
    void *p;

    if (size == 0)
        size = 1;
    for (c = a->cur; c; c = c->next) {
        p = chunk_take(c, size);
        if (p) {
            a->cur = c;
            return p;
        }
        last = c;
    }
    /* Room for the request plus worst-case alignment padding. */
    if (size > SIZE_MAX - ARENA_ALIGN)
        return NULL;
    want = a->next_size;
    if (want < size + ARENA_ALIGN)
        want = size + ARENA_ALIGN;
    c = chunk_new(want);
    if (!c)
        return NULL;
    if (a->next_size < ARENA_MAX_CHUNK)
        a->next_size *= 2;
    if (last)
        last->next = c;
    else
        a->first = c;
    a->cur = c;
    return chunk_take(c, size);
}

static void arena_reset(struct aod_arena *a)
{
    arena_chunk *c;

    for (c = a->first; c; c = c->next)
        c->used = 0;
    a->cur = a->first;
    memset(a->slots, 0, sizeof a->slots);
}

static void arena_free(struct aod_arena *a)
{
    arena_chunk *c, *next;

    if (!a)
        return;
    for (c = a->first; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

static size_t slot_of(const void *p)
{
    uintptr_t u = (uintptr_t)p;

    return (size_t)((u >> 4) ^ (u >> 10)) % GROW_SLOTS;
}

/*
 * Makes room for element n of the array *v (which holds n elements of elem
 * bytes) and returns the new element, zeroed; *v may move.  NULL when out of
 * memory (*v unchanged).
 */
static void *array_push(aod_record *r, void **v, size_t n, size_t elem)
{
    struct aod_arena *a = r->arena;
    grow_slot *slot;
    unsigned char *fresh;
    size_t cap;

    if (*v) {
        slot = &a->slots[slot_of(*v)];
        if (slot->ptr == *v && slot->n == n && slot->cap > n) {
            slot->n = n + 1;
            return (unsigned char *)*v + n * elem;
        }
    }
    cap = n < 2 ? 4 : n * 2;
    if (cap > SIZE_MAX / elem)
        return NULL;
    fresh = arena_alloc(a, cap * elem);
    if (!fresh)
        return NULL;
    memset(fresh, 0, cap * elem);
    if (n)
        memcpy(fresh, *v, n * elem);
    *v = fresh;
    slot = &a->slots[slot_of(fresh)];
    slot->ptr = fresh;
    slot->cap = cap;
    slot->n = n + 1;
    return fresh + n * elem;
}

/* ----------------------------------------------------------------- record */

aod_record *aod_record_new(void)
{
    aod_record *r = calloc(1, sizeof *r);

    if (!r)
        return NULL;
    r->arena = calloc(1, sizeof *r->arena);
    if (!r->arena) {
        free(r);
        return NULL;
    }
    r->arena->next_size = ARENA_FIRST_CHUNK;
    return r;
}

void aod_record_free(aod_record *r)
{
    if (!r)
        return;
    arena_free(r->arena);
    free(r);
}

void aod_record_clear(aod_record *r)
{
    struct aod_arena *a;

    if (!r)
        return;
    a = r->arena;
    memset(r, 0, sizeof *r);
    r->arena = a;
    if (a)
        arena_reset(a);
}

void *aod_record_alloc(aod_record *r, size_t size)
{
    void *p = arena_alloc(r->arena, size);

    if (p)
        memset(p, 0, size ? size : 1);
    return p;
}

const char *aod_record_strndup(aod_record *r, const char *s, size_t n)
{
    char *p;

    if (!s || n == SIZE_MAX)
        return NULL;
    p = arena_alloc(r->arena, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

const char *aod_record_strdup(aod_record *r, const char *s)
{
    if (!s)
        return NULL;
    return aod_record_strndup(r, s, strlen(s));
}

/* Copies s (which may be NULL) into *out; -1 only when out of memory. */
static int dup_opt(aod_record *r, const char *s, const char **out)
{
    *out = NULL;
    if (!s)
        return 0;
    *out = aod_record_strdup(r, s);
    return *out ? 0 : -1;
}

int aod_codings_add(aod_record *r, aod_codings *list, const char *system, const char *code,
                    const char *display)
{
    const char *s, *c, *d;
    aod_coding *slot;
    void *v;

    if (dup_opt(r, system, &s) || dup_opt(r, code, &c) || dup_opt(r, display, &d))
        return -1;
    v = list->v;
    slot = array_push(r, &v, list->n, sizeof *slot);
    if (!slot)
        return -1;
    list->v = v;
    slot->system = s;
    slot->code = c;
    slot->display = d;
    list->n++;
    return 0;
}

int aod_record_add_patient_key(aod_record *r, const char *key)
{
    const char **slot;
    const char *copy;
    size_t i;
    void *v;

    if (!key)
        return -1;
    for (i = 0; i < r->n_patient_keys; i++)
        if (strcmp(r->patient_keys[i], key) == 0)
            return 0;
    copy = aod_record_strdup(r, key);
    if (!copy)
        return -1;
    v = r->patient_keys;
    slot = array_push(r, &v, r->n_patient_keys, sizeof *slot);
    if (!slot)
        return -1;
    r->patient_keys = v;
    *slot = copy;
    r->n_patient_keys++;
    return 0;
}

static int str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

const aod_coding *aod_codings_find(const aod_codings *list, const char *system, const char *code)
{
    size_t i;

    if (!list)
        return NULL;
    for (i = 0; i < list->n; i++) {
        const aod_coding *c = &list->v[i];

        if (system && !str_eq(c->system, system))
            continue;
        if (code && !str_eq(c->code, code))
            continue;
        return c;
    }
    return NULL;
}

int aod_codings_has_code(const aod_codings *list, const char *code)
{
    return code && aod_codings_find(list, NULL, code) != NULL;
}

const char *aod_fhir_version_name(aod_fhir_version v)
{
    switch (v) {
    case AOD_FHIR_R4:
        return "R4";
    case AOD_FHIR_R5:
        return "R5";
    case AOD_FHIR_R6:
        return "R6";
    case AOD_FHIR_UNKNOWN:
        break;
    }
    return "unknown";
}

/* ------------------------------------------------------------------- time */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil); exact for every year, no libc time zone state. */
int64_t aod_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Reads exactly n ASCII digits (isdigit() would consult the locale). */
static int read_digits(const char **p, int n, int *out)
{
    const char *s = *p;
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *p = s + n;
    *out = v;
    return 0;
}

int aod_time_parse(const char *s, int64_t *ms)
{
    const char *p = s;
    int year, mon = 1, day = 1, hour = 0, min = 0, sec = 0, frac = 0;
    int off_h = 0, off_m = 0, sign = 0, scale;
    int64_t days, t;

    if (!s || !ms)
        return -1;
    if (read_digits(&p, 4, &year) != 0 || year == 0)
        return -1;
    if (*p == '\0')
        goto done;
    if (*p++ != '-' || read_digits(&p, 2, &mon) != 0 || mon < 1 || mon > 12)
        return -1;
    if (*p == '\0')
        goto done;
    if (*p++ != '-' || read_digits(&p, 2, &day) != 0 || day < 1 || day > days_in_month(year, mon))
        return -1;
    if (*p == '\0')
        goto done;
    if (*p++ != 'T' || read_digits(&p, 2, &hour) != 0 || hour > 23)
        return -1;
    if (*p++ != ':' || read_digits(&p, 2, &min) != 0 || min > 59)
        return -1;
    /* FHIR requires the seconds; a sender that drops them still meant a time. */
    if (*p == ':') {
        p++;
        if (read_digits(&p, 2, &sec) != 0 || sec > 60)
            return -1;
        if (*p == '.') {
            p++;
            if (*p < '0' || *p > '9')
                return -1;
            /* Milliseconds from the first three digits; finer ones are cut. */
            for (scale = 100; *p >= '0' && *p <= '9'; p++) {
                frac += (*p - '0') * scale;
                scale /= 10;
            }
        }
    }
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (read_digits(&p, 2, &off_h) != 0 || *p++ != ':' || read_digits(&p, 2, &off_m) != 0)
            return -1;
        if (off_h > 14 || off_m > 59 || (off_h == 14 && off_m != 0))
            return -1;
    }
    if (*p != '\0')
        return -1;
done:
    days = aod_days_from_civil(year, (unsigned)mon, (unsigned)day);
    t = ((days * 24 + hour) * 60 + min) * 60 + sec;
    t -= (int64_t)sign * (off_h * 60 + off_m) * 60;
    *ms = t * 1000 + frac;
    return 0;
}

char *aod_time_format_utc(int64_t ms, char *out, size_t size)
{
    const int64_t day_ms = 86400000;
    int64_t days = ms / day_ms, rem = ms % day_ms, y;
    unsigned mon, mday, hh, mm, ss, milli;

    if (!out || size == 0)
        return out;
    if (rem < 0) {
        rem += day_ms;
        days--;
    }
    civil_from_days(days, &y, &mon, &mday);
    milli = (unsigned)(rem % 1000);
    rem /= 1000;
    ss = (unsigned)(rem % 60);
    mm = (unsigned)(rem / 60 % 60);
    hh = (unsigned)(rem / 3600);
    if (milli)
        snprintf(out, size, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)y, mon, mday, hh,
                 mm, ss, milli);
    else
        snprintf(out, size, "%04lld-%02u-%02uT%02u:%02u:%02uZ", (long long)y, mon, mday, hh, mm,
                 ss);
    return out;
}

/* ------------------------------------------------------------ networks */

/* The host of a network address ("https://h.example:8443/x", "h.example",
 * "user@h.example"), lower case, into buf; "" when none fits. */
char *aod_network_host(const char *net, char *buf, size_t size)
{
    const char *s, *at, *end;
    size_t n, i;

    buf[0] = '\0';
    if (!net)
        return buf;
    s = strstr(net, "://");
    s = s ? s + 3 : net;
    end = s + strcspn(s, "/?#");
    at = memchr(s, '@', (size_t)(end - s));
    if (at)
        s = at + 1;
    if (*s == '[') /* IPv6 literal: not a domain */
        return buf;
    n = strcspn(s, ":/?#");
    if (s + n > end)
        n = (size_t)(end - s);
    if (n == 0 || n >= size)
        return buf;
    for (i = 0; i < n; i++)
        buf[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    buf[n] = '\0';
    while (n && buf[n - 1] == '.')
        buf[--n] = '\0';
    return buf;
}

/* An IP address says nothing about which organisation owns it. */
int aod_host_is_ip(const char *host)
{
    size_t i;

    if (!host[0])
        return 0;
    for (i = 0; host[i]; i++)
        if (!((host[i] >= '0' && host[i] <= '9') || host[i] == '.'))
            return strchr(host, ':') != NULL;
    return 1;
}
