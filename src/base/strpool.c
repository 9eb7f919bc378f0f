/* strpool.c - interned strings for one report (see strpool.h). */
#include "base/strpool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_SIZE ((size_t)64 * 1024)

typedef struct chunk {
    struct chunk *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
} chunk;

struct aod_strpool {
    chunk *chunks;
    const char **slots; /* open addressing; NULL = empty */
    size_t n_slots, n_used;
    size_t bytes;
};

aod_strpool *aod_strpool_new(void)
{
    aod_strpool *p = calloc(1, sizeof *p);

    if (!p)
        return NULL;
    p->n_slots = 1024;
    p->slots = calloc(p->n_slots, sizeof *p->slots);
    if (!p->slots) {
        free(p);
        return NULL;
    }
    return p;
}

void aod_strpool_free(aod_strpool *p)
{
    chunk *c, *next;

    if (!p)
        return;
    for (c = p->chunks; c; c = next) {
        next = c->next;
        free(c);
    }
    free(p->slots);
    free(p);
}

void *aod_strpool_alloc(aod_strpool *p, size_t size)
{
    chunk *c = p->chunks;
    size_t need = (size + 15) & ~(size_t)15;
    void *mem;

    if (need < size)
        return NULL;
    if (!c || c->size - c->used < need) {
        size_t csize = need > CHUNK_SIZE ? need : CHUNK_SIZE;
        c = malloc(sizeof *c + csize);
        if (!c)
            return NULL;
        c->size = csize;
        c->used = 0;
        /* a big one-off allocation goes behind the current chunk so the
         * current one keeps filling */
        if (p->chunks && need > CHUNK_SIZE) {
            c->next = p->chunks->next;
            p->chunks->next = c;
        } else {
            c->next = p->chunks;
            p->chunks = c;
        }
        p->bytes += csize;
    }
    mem = c->data + c->used;
    c->used += need;
    memset(mem, 0, need);
    return mem;
}

/* FNV-1a: short strings, good spread, no allocation. */
static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int grow(aod_strpool *p)
{
    size_t n = p->n_slots * 2, i;
    const char **slots = calloc(n, sizeof *slots);

    if (!slots)
        return -1;
    for (i = 0; i < p->n_slots; i++) {
        const char *s = p->slots[i];
        size_t j;
        if (!s)
            continue;
        j = (size_t)hash(s, strlen(s)) & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = s;
    }
    free(p->slots);
    p->slots = slots;
    p->n_slots = n;
    return 0;
}

const char *aod_strpool_internn(aod_strpool *p, const char *s, size_t n)
{
    size_t j;
    char *copy;

    if (!s)
        return NULL;
    if ((p->n_used + 1) * 4 > p->n_slots * 3 && grow(p) != 0)
        return NULL;
    j = (size_t)hash(s, n) & (p->n_slots - 1);
    while (p->slots[j]) {
        const char *t = p->slots[j];
        if (strncmp(t, s, n) == 0 && t[n] == '\0')
            return t;
        j = (j + 1) & (p->n_slots - 1);
    }
    copy = aod_strpool_alloc(p, n + 1);
    if (!copy)
        return NULL;
    memcpy(copy, s, n);
    copy[n] = '\0';
    p->slots[j] = copy;
    p->n_used++;
    return copy;
}

const char *aod_strpool_intern(aod_strpool *p, const char *s)
{
    return s ? aod_strpool_internn(p, s, strlen(s)) : NULL;
}

size_t aod_strpool_bytes(const aod_strpool *p)
{
    return p->bytes + p->n_slots * sizeof *p->slots;
}
