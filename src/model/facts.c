/*
 * facts.c - the site facts of one report (see facts.h).
 *
 * Plain arrays, sorted once by key and searched by bisection: a roster of
 * 10,000 people costs one allocation per array and a few hundred kilobytes
 * of strings, and a lookup is about 14 comparisons.
 */
#include "model/facts.h"

#include <stdlib.h>
#include <string.h>

#include "base/strpool.h"

struct aod_facts {
    aod_strpool *pool;
    aod_staff *staff;
    size_t n_staff, cap_staff;
    aod_care *care;
    size_t n_care, cap_care;
    aod_patient_facts patient;
    int roster_loaded, patient_loaded, care_loaded;
};

aod_facts *aod_facts_new(void)
{
    aod_facts *f = calloc(1, sizeof *f);

    if (!f)
        return NULL;
    f->pool = aod_strpool_new();
    if (!f->pool) {
        free(f);
        return NULL;
    }
    return f;
}

void aod_facts_free(aod_facts *f)
{
    if (!f)
        return;
    aod_strpool_free(f->pool);
    free(f->staff);
    free(f->care);
    free(f);
}

void aod_facts_set_loaded(aod_facts *f, int roster, int patient_facts, int care)
{
    f->roster_loaded = roster;
    f->patient_loaded = patient_facts;
    f->care_loaded = care;
}

int aod_facts_roster_loaded(const aod_facts *f)
{
    return f && f->roster_loaded;
}

int aod_facts_patient_loaded(const aod_facts *f)
{
    return f && f->patient_loaded;
}

int aod_facts_care_loaded(const aod_facts *f)
{
    return f && f->care_loaded;
}

static const char *copy(aod_facts *f, const char *s, int *oom)
{
    const char *c;

    if (!s)
        return NULL;
    c = aod_strpool_intern(f->pool, s);
    if (!c)
        *oom = 1;
    return c;
}

static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
    size_t c = *cap ? *cap * 2 : 64;
    void *q;

    if (n < *cap)
        return p;
    q = realloc(p, c * size);
    if (q)
        *cap = c;
    return q;
}

int aod_facts_add_staff(aod_facts *f, const char *key, const char *name, const char *surname,
                        const char *address, const char *department, int64_t start, int64_t end,
                        const char *patient_keys)
{
    aod_staff *s, *v = grow(f->staff, &f->cap_staff, f->n_staff, sizeof *f->staff);
    const char **keys = NULL;
    size_t n = 0;
    int oom = 0;

    if (!v)
        return -1;
    f->staff = v;
    if (patient_keys && *patient_keys) {
        const char *p;
        size_t i = 0;
        for (p = patient_keys, n = 1; *p; p++)
            n += *p == '\x1f';
        keys = aod_strpool_alloc(f->pool, n * sizeof *keys);
        if (!keys)
            return -1;
        for (p = patient_keys; i < n; i++) {
            const char *sep = strchr(p, '\x1f');
            size_t len = sep ? (size_t)(sep - p) : strlen(p);
            keys[i] = aod_strpool_internn(f->pool, p, len);
            if (!keys[i])
                return -1;
            p += len + (sep ? 1 : 0);
        }
    }
    s = &f->staff[f->n_staff];
    s->key = copy(f, key, &oom);
    s->name = copy(f, name, &oom);
    s->surname = copy(f, surname, &oom);
    s->address = copy(f, address, &oom);
    s->department = copy(f, department, &oom);
    s->start = start;
    s->end = end;
    s->patient_keys = keys;
    s->n_patient_keys = n;
    if (oom || !s->key)
        return -1;
    f->n_staff++;
    return 0;
}

int aod_facts_add_patient(aod_facts *f, const char *surname, const char *address, int vip,
                          const char *deceased, int employee)
{
    aod_patient_facts *p = &f->patient;
    int oom = 0;

    p->known = 1;
    if (!p->surname && surname && *surname)
        p->surname = copy(f, surname, &oom);
    if (!p->address && address && *address)
        p->address = copy(f, address, &oom);
    if (!p->deceased && deceased && *deceased)
        p->deceased = copy(f, deceased, &oom);
    p->vip |= vip != 0;
    p->employee |= employee != 0;
    return oom ? -1 : 0;
}

int aod_facts_add_care(aod_facts *f, const char *staff_key, int64_t from, int64_t to)
{
    aod_care *v = grow(f->care, &f->cap_care, f->n_care, sizeof *f->care);
    int oom = 0;

    if (!v)
        return -1;
    f->care = v;
    v[f->n_care].staff_key = copy(f, staff_key, &oom);
    v[f->n_care].from = from;
    v[f->n_care].to = to;
    if (oom || !v[f->n_care].staff_key)
        return -1;
    f->n_care++;
    return 0;
}

static int cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static int str_cmp(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) : (a != NULL) - (b != NULL);
}

/* A total order: the store hands the roster over in no order, and rows that
 * compare equal here are alike in every field a flag reads. */
static int staff_cmp(const void *a, const void *b)
{
    const aod_staff *x = a, *y = b;
    int c = strcmp(x->key, y->key);

    if (!c)
        c = cmp_i64(x->start, y->start);
    if (!c)
        c = cmp_i64(x->end, y->end);
    if (!c)
        c = str_cmp(x->surname, y->surname);
    if (!c)
        c = str_cmp(x->address, y->address);
    if (!c)
        c = str_cmp(x->name, y->name);
    if (!c)
        c = str_cmp(x->department, y->department);
    if (!c)
        c = cmp_i64((int64_t)x->n_patient_keys, (int64_t)y->n_patient_keys);
    for (size_t i = 0; !c && i < x->n_patient_keys; i++)
        c = strcmp(x->patient_keys[i], y->patient_keys[i]);
    return c;
}

static int care_cmp(const void *a, const void *b)
{
    const aod_care *x = a, *y = b;
    int c = strcmp(x->staff_key, y->staff_key);

    return c ? c : cmp_i64(x->from, y->from) ? cmp_i64(x->from, y->from) : cmp_i64(x->to, y->to);
}

int aod_facts_finish(aod_facts *f)
{
    if (f->n_staff)
        qsort(f->staff, f->n_staff, sizeof *f->staff, staff_cmp);
    if (f->n_care)
        qsort(f->care, f->n_care, sizeof *f->care, care_cmp);
    return 0;
}

/* The first index in [0, n) whose key is not below key. */
#define LOWER_BOUND(arr, n, field, key, out)                                                       \
    do {                                                                                           \
        size_t lo_ = 0, hi_ = (n);                                                                 \
        while (lo_ < hi_) {                                                                        \
            size_t mid_ = lo_ + (hi_ - lo_) / 2;                                                   \
            if (strcmp((arr)[mid_].field, (key)) < 0)                                              \
                lo_ = mid_ + 1;                                                                    \
            else                                                                                   \
                hi_ = mid_;                                                                        \
        }                                                                                          \
        (out) = lo_;                                                                               \
    } while (0)

const aod_staff *aod_facts_staff(const aod_facts *f, const char *key, size_t *n)
{
    size_t i, j;

    *n = 0;
    if (!f || !key || !f->n_staff)
        return NULL;
    LOWER_BOUND(f->staff, f->n_staff, key, key, i);
    for (j = i; j < f->n_staff && strcmp(f->staff[j].key, key) == 0; j++)
        ;
    *n = j - i;
    return j > i ? &f->staff[i] : NULL;
}

const aod_patient_facts *aod_facts_patient(const aod_facts *f)
{
    return &f->patient;
}

const aod_care *aod_facts_care_near(const aod_facts *f, const char *key, int64_t from, int64_t to)
{
    size_t i;

    if (!f || !key || !f->n_care)
        return NULL;
    LOWER_BOUND(f->care, f->n_care, staff_key, key, i);
    for (; i < f->n_care && strcmp(f->care[i].staff_key, key) == 0; i++)
        if (f->care[i].from < to && from < f->care[i].to)
            return &f->care[i];
    return NULL;
}

size_t aod_facts_n_staff(const aod_facts *f)
{
    return f ? f->n_staff : 0;
}

const aod_care *aod_facts_care_around(const aod_facts *f, const char *key, const char *id_key,
                                      int64_t start, int64_t end, int64_t window)
{
    const aod_care *c = aod_facts_care_near(f, key, start - window, end + window + 1);

    return c ? c : aod_facts_care_near(f, id_key, start - window, end + window + 1);
}

size_t aod_facts_n_care(const aod_facts *f)
{
    return f ? f->n_care : 0;
}
