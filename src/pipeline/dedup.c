/*
 * dedup.c - stage "dedup": N raw audit records -> M events -> sessions (see
 * dedup.h for the rules and the order guarantee, DOMAIN.md 3.4-3.5 for why).
 *
 * Two levels, each a small streaming machine of the same shape:
 *
 *   push -> [events: X-Request-Id, client/server pairs, search pages]
 *        -> [sessions, when the policy asks]  -> callback
 *
 * A level keeps its lines ("groups") in a FIFO in creation order.  Input
 * arrives in recorded order and a line's first record is the one that
 * created it, so creation order is already output order: a level emits from
 * the head of its FIFO while the head is closed.  Lines that may still grow
 * are also on an "open" list, which is what each new entry is compared
 * with; a line closes once the input has moved past its window (or its span
 * limit), which is what bounds memory.  An event line moves on to the session
 * level whole (the struct itself, no copy); merged lines are recycled through
 * a free list, ids buffer included, since fresh memory is what costs here.
 *
 * Finding the line a record joins must not cost a walk over every open line:
 * one interface engine writing 100,000 records at one instant keeps 100,000
 * lines open at once.  So each rule has an index (see "index" below): lines
 * are filed in hash slots under exactly the fields that rule compares for
 * equality, each slot a max-heap ordered as the rule's choice is (latest
 * record, then newest line), and the deadlines of the open lines sit in a
 * min-heap per level.  Heap entries are not removed when a line changes:
 * each carries the line's version and goes stale when the line is merged,
 * refiled or closed; stale entries are dropped when met, and when they pile
 * up the whole index is rebuilt from the open lines.  Every answer is checked
 * against the rule itself; the only inequality a slot cannot express
 * ("another observer" for pairs) is handled by one heap per observer inside
 * the slot, each announcing its top to the slot.  Building with
 * -DAOD_DEDUP_CHECK compares every answer with the old linear walk (the
 * dedup fuzz target does), which stays as the fallback.
 */
#include "pipeline/dedup.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SECOND_MS         ((int64_t)1000)
#define EVENT_SPAN_MIN_MS (3600 * SECOND_MS)
#define SESSION_SPAN_MS   (12 * 3600 * SECOND_MS)
#define KINDS_MAX         256
#define PAGE_FETCH_MARK   "_getpages"

typedef struct group group;
struct group {
    aod_entry e;       /* the line; e.record_ids is set only while emitting */
    int64_t rec_first; /* recorded span of the records (events) behind it */
    int64_t rec_last;
    int64_t horizon; /* it may grow while input <= rec_last + horizon */
    int64_t span;    /* ... and input <= rec_first + span */
    const char *obs; /* the observer when only one was seen */
    int n_obs;       /* observers seen: 0 (none known), 1, 2 (several) */
    int open;
    long events;  /* session level: events merged */
    uint64_t seq; /* creation number: later lines are newer */
    uint64_t ver; /* bumped on every change; heap entries of older versions are stale */
    int64_t *ids;
    size_t n_ids, cap_ids;
    group *next;                  /* FIFO */
    group *open_prev, *open_next; /* open list */
};

/* One heap entry: a line as it was when filed, and under what key. */
typedef struct hent {
    int64_t k1;  /* rec_last (or minus the deadline) */
    uint64_t k2; /* seq */
    group *g;
    uint64_t ver;     /* g->ver when filed */
    struct slot *sub; /* in a pair family: the observer's heap announcing */
} hent;

typedef struct heap {
    hent *v;
    size_t n, cap;
} heap;

typedef struct level {
    group *head, *tail;
    group *open;
    size_t held;
    heap due; /* the open lines by deadline (k1 = -deadline) */
} level;

enum slot_kind { K_XRID, K_FAMILY, K_OBSERVER, K_PAGE_QUERY, K_PAGE_ACTOR, K_SESSION };

/* An index slot: the lines sharing one key.  Key strings are borrowed (they
 * live in the pool or as long, see dedup.h). */
typedef struct slot {
    struct slot *next; /* hash chain */
    uint64_t hash;
    int kind, a, b, c;
    const char *s1, *s2;
    const struct slot *family; /* K_OBSERVER: the family it announces to */
    heap h;
    group *ann; /* K_OBSERVER: the entry announced in the family */
    uint64_t ann_ver;
    int announced;
} slot;

typedef struct catalog {
    slot **tab;
    size_t cap, n;
    size_t entries; /* heap entries held, stale ones included */
    size_t budget;  /* rebuild when entries + slots exceed it */
} catalog;

struct aod_dedup {
    const aod_policy *policy;
    aod_strpool *pool;
    aod_entry_fn out;
    void *ctx;
    level ev, ses;
    group *spare;
    catalog ix;
    int use_all, use_none; /* pair families kept (see index_pair) */
    uint64_t seq;
    long emitted;
    int sessions;
    int64_t pair_ms, page_ms, xrid_ms, gap_ms, event_span_ms;
};

/* ---------------------------------------------------------------- helpers */

static int same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int is_page_fetch(const char *q)
{
    return q && strstr(q, PAGE_FETCH_MARK) != NULL;
}

/* How reportable a class is, for merges across classes. */
static int rank(aod_class c)
{
    switch (c) {
    case AOD_CLASS_DISCLOSURE:
        return 3;
    case AOD_CLASS_EXCLUDED:
        return 2;
    case AOD_CLASS_INTERNAL:
        return 1;
    case AOD_CLASS_FAILED:
    case AOD_CLASS_OUT_OF_SCOPE:
    case AOD_CLASS_COUNT:
        break;
    }
    return 0;
}

static int party_empty(const aod_party *p)
{
    return !p->reference && !p->id_value && !p->name;
}

static int party_same(const aod_party *a, const aod_party *b)
{
    return (a->reference && same(a->reference, b->reference)) ||
           (a->id_value && same(a->id_value, b->id_value) && same(a->id_system, b->id_system)) ||
           (a->name && same(a->name, b->name));
}

#define FILL(dst, src, f)                                                                          \
    do {                                                                                           \
        if (!(dst)->f)                                                                             \
            (dst)->f = (src)->f;                                                                   \
    } while (0)

static void party_fill(aod_party *dst, const aod_party *src)
{
    if (party_empty(dst)) {
        *dst = *src;
        return;
    }
    if (!party_same(dst, src))
        return;
    FILL(dst, src, reference);
    FILL(dst, src, id_system);
    FILL(dst, src, id_value);
    FILL(dst, src, name);
    if (!dst->role) {
        /* the words and their code together */
        dst->role = src->role;
        dst->role_code = src->role_code;
    }
    FILL(dst, src, unit);
    FILL(dst, src, organisation);
    FILL(dst, src, address);
    FILL(dst, src, network);
}

/* The union of two comma separated lists, interned; *out unchanged on OOM
 * (returns -1). */
static int kinds_union(aod_strpool *pool, const char *a, const char *b, const char **out)
{
    char buf[KINDS_MAX];
    size_t n;
    const char *p;

    if (!b || same(a, b)) {
        *out = a;
        return 0;
    }
    if (!a) {
        *out = b;
        return 0;
    }
    n = strlen(a);
    if (n >= sizeof buf) {
        *out = a;
        return 0;
    }
    memcpy(buf, a, n + 1);
    for (p = b; *p;) {
        size_t k = strcspn(p, ","), i = 0;
        int found = 0;

        while (i < n && !found) {
            size_t m = strcspn(buf + i, ",");
            found = m == k && memcmp(buf + i, p, k) == 0;
            i += m + 1;
        }
        if (!found && k && n + 1 + k < sizeof buf) {
            buf[n++] = ',';
            memcpy(buf + n, p, k);
            n += k;
            buf[n] = '\0';
        }
        p += k;
        if (*p == ',')
            p++;
    }
    p = aod_strpool_intern(pool, buf);
    if (!p)
        return -1;
    *out = p;
    return 0;
}

/* ----------------------------------------------------------------- groups */

static group *group_get(aod_dedup *d)
{
    group *g = d->spare;
    int64_t *ids;
    size_t cap;
    uint64_t ver;

    if (g) {
        d->spare = g->next;
        ids = g->ids;
        cap = g->cap_ids;
        ver = g->ver; /* stays increasing: old heap entries must not match */
        memset(g, 0, sizeof *g);
        g->ids = ids;
        g->cap_ids = cap;
        g->ver = ver + 1;
    } else {
        g = calloc(1, sizeof *g);
        if (!g)
            return NULL;
    }
    g->seq = ++d->seq;
    return g;
}

static void group_put(aod_dedup *d, group *g)
{
    g->ver++;
    g->next = d->spare;
    d->spare = g;
}

static int ids_add(group *g, const int64_t *ids, size_t n)
{
    if (n > g->cap_ids - g->n_ids) {
        size_t cap = g->cap_ids ? g->cap_ids : 4;
        int64_t *v;

        while (cap - g->n_ids < n) {
            if (cap > SIZE_MAX / 2 / sizeof *v)
                return -1;
            cap *= 2;
        }
        v = realloc(g->ids, cap * sizeof *v);
        if (!v)
            return -1;
        g->ids = v;
        g->cap_ids = cap;
    }
    if (n)
        memcpy(g->ids + g->n_ids, ids, n * sizeof *ids);
    g->n_ids += n;
    return 0;
}

static void fifo_add(level *l, group *g)
{
    g->next = NULL;
    if (l->tail)
        l->tail->next = g;
    else
        l->head = g;
    l->tail = g;
    l->held++;
}

static void open_add(level *l, group *g)
{
    g->open = 1;
    g->open_prev = NULL;
    g->open_next = l->open;
    if (l->open)
        l->open->open_prev = g;
    l->open = g;
}

static void open_remove(level *l, group *g)
{
    if (g->open_prev)
        g->open_prev->open_next = g->open_next;
    else
        l->open = g->open_next;
    if (g->open_next)
        g->open_next->open_prev = g->open_prev;
    g->open = 0;
    g->open_prev = g->open_next = NULL;
    g->ver++;
}

/* ------------------------------------------------------------------ index */

static int hent_gt(const hent *x, const hent *y)
{
    return x->k1 > y->k1 || (x->k1 == y->k1 && x->k2 > y->k2);
}

static int hent_stale(const hent *x)
{
    return x->g->ver != x->ver;
}

static void heap_swap(heap *h, size_t i, size_t j)
{
    hent t = h->v[i];

    h->v[i] = h->v[j];
    h->v[j] = t;
}

static int heap_push(catalog *ix, heap *h, const hent *x)
{
    size_t i;

    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1;
        hent *v;

        if (cap > SIZE_MAX / sizeof *v)
            return -1;
        v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return -1;
        h->v = v;
        h->cap = cap;
    }
    i = h->n++;
    h->v[i] = *x;
    while (i > 0 && hent_gt(&h->v[i], &h->v[(i - 1) / 2])) {
        heap_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    ix->entries++;
    return 0;
}

static void heap_pop(catalog *ix, heap *h)
{
    size_t i = 0;

    h->v[0] = h->v[--h->n];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;

        if (l < h->n && hent_gt(&h->v[l], &h->v[m]))
            m = l;
        if (r < h->n && hent_gt(&h->v[r], &h->v[m]))
            m = r;
        if (m == i)
            break;
        heap_swap(h, i, m);
        i = m;
    }
    ix->entries--;
}

/* The top entry that is still current, dropping stale ones; NULL if none. */
static const hent *heap_top(catalog *ix, heap *h)
{
    while (h->n && hent_stale(&h->v[0]))
        heap_pop(ix, h);
    return h->n ? &h->v[0] : NULL;
}

static uint64_t hash_mix(uint64_t h, uint64_t v)
{
    h ^= v;
    return h * UINT64_C(1099511628211);
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    if (!s)
        return hash_mix(h, 0x1ff);
    for (; *s; s++)
        h = hash_mix(h, (unsigned char)*s);
    return hash_mix(h, 0x100);
}

static uint64_t slot_hash(int kind, int a, int b, int c, const char *s1, const char *s2,
                          const slot *family)
{
    uint64_t h = UINT64_C(14695981039346656037);

    h = hash_mix(h, (uint64_t)kind);
    h = hash_mix(h, (uint64_t)(unsigned)a);
    h = hash_mix(h, (uint64_t)(unsigned)b);
    h = hash_mix(h, (uint64_t)(unsigned)c);
    h = hash_str(h, s1);
    h = hash_str(h, s2);
    h = hash_mix(h, (uint64_t)(uintptr_t)family);
    /* the table uses the low bits: fold the high ones in (a multiply only
     * carries upwards) */
    h ^= h >> 32;
    h *= UINT64_C(0xd6e8feb86659fd93);
    return h ^ (h >> 32);
}

/* The slot under this key: found, or created when create is set.  NULL when
 * absent (or out of memory: *oom set). */
static slot *slot_get(catalog *ix, int kind, int a, int b, int c, const char *s1, const char *s2,
                      const slot *family, int create, int *oom)
{
    uint64_t h = slot_hash(kind, a, b, c, s1, s2, family);
    slot *s;

    if (ix->cap) {
        for (s = ix->tab[h & (ix->cap - 1)]; s; s = s->next)
            if (s->hash == h && s->kind == kind && s->a == a && s->b == b && s->c == c &&
                s->family == family && same(s->s1, s1) && same(s->s2, s2))
                return s;
    }
    if (!create)
        return NULL;
    if (ix->n >= ix->cap / 2) {
        size_t cap = ix->cap ? ix->cap * 2 : 256, i;
        slot **tab = calloc(cap, sizeof *tab);

        if (!tab || cap > SIZE_MAX / 2 / sizeof *tab) {
            free(tab);
            *oom = 1;
            return NULL;
        }
        for (i = 0; i < ix->cap; i++) {
            slot *next;
            for (s = ix->tab[i]; s; s = next) {
                next = s->next;
                s->next = tab[s->hash & (cap - 1)];
                tab[s->hash & (cap - 1)] = s;
            }
        }
        free(ix->tab);
        ix->tab = tab;
        ix->cap = cap;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        *oom = 1;
        return NULL;
    }
    s->hash = h;
    s->kind = kind;
    s->a = a;
    s->b = b;
    s->c = c;
    s->s1 = s1;
    s->s2 = s2;
    s->family = family;
    s->next = ix->tab[h & (ix->cap - 1)];
    ix->tab[h & (ix->cap - 1)] = s;
    ix->n++;
    return s;
}

static void catalog_clear(catalog *ix)
{
    size_t i;

    for (i = 0; i < ix->cap; i++) {
        slot *s, *next;
        for (s = ix->tab[i]; s; s = next) {
            next = s->next;
            free(s->h.v);
            free(s);
        }
        ix->tab[i] = NULL;
    }
    ix->n = 0;
    ix->entries = 0;
}

static hent hent_of(group *g, int64_t k1)
{
    hent x;

    x.k1 = k1;
    x.k2 = g->seq;
    x.g = g;
    x.ver = g->ver;
    x.sub = NULL;
    return x;
}

static int64_t add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* Files g in l's deadline heap: it closes once input passes the earlier of
 * rec_last + horizon and rec_first + span. */
static int file_due(catalog *ix, level *l, group *g)
{
    int64_t due = min64(add_sat(g->rec_last, g->horizon), add_sat(g->rec_first, g->span));
    hent x = hent_of(g, due == INT64_MIN ? INT64_MAX : -due);

    return heap_push(ix, &l->due, &x);
}

/* Closes the lines of l that input at time now can no longer reach; all of
 * them when all is set. */
static void close_past(aod_dedup *d, level *l, int64_t now, int all)
{
    const hent *x;

    if (all) {
        while (l->open)
            open_remove(l, l->open);
        return;
    }
    while ((x = heap_top(&d->ix, &l->due)) && -x->k1 < now) {
        group *g = x->g;
        heap_pop(&d->ix, &l->due);
        open_remove(l, g);
    }
}

/* Pair families: the pair rule's equal fields, with the actor either as is
 * (ONE) or left out (ALL), and the lines with or without an X-Request-Id
 * (ANY) or only those without (NONE). */
enum { FAM_ONE = 0, FAM_ALL = 2, XR_ANY = 0, XR_NONE = 4 };

/* The data a pair must agree on: 1 and data_ref, 2 and query, 0 when the
 * line cannot pair. */
static int data_key(const aod_entry *e, const char **s)
{
    if (e->data_ref) {
        *s = e->data_ref;
        return 1;
    }
    *s = e->query;
    return e->query ? 2 : 0;
}

static slot *family_get(aod_dedup *d, const aod_entry *e, int failed, int mode, const char *actor,
                        int create, int *oom)
{
    const char *ds;
    int dk = data_key(e, &ds);

    /* One IHE transaction's two records pair whatever their actions and
     * actors (same_act): its family is the transaction's, keyed 'T' where
     * the others have their action letter. */
    if (e->transaction)
        return slot_get(&d->ix, K_FAMILY, 'T', failed | mode, dk, ds, e->transaction, NULL, create,
                        oom);
    return slot_get(&d->ix, K_FAMILY, e->action, failed | mode, dk, ds, actor, NULL, create, oom);
}

/* Files g under its observer in family f, announcing a new top. */
static int file_observer(aod_dedup *d, slot *f, group *g)
{
    int oom = 0;
    slot *o = slot_get(&d->ix, K_OBSERVER, 0, 0, 0, g->obs, NULL, f, 1, &oom);
    hent x = hent_of(g, g->rec_last);

    if (!o || heap_push(&d->ix, &o->h, &x) != 0)
        return -1;
    if (o->h.v[0].g == g && o->h.v[0].ver == g->ver) {
        x.sub = o;
        if (heap_push(&d->ix, &f->h, &x) != 0)
            return -1;
        o->ann = x.g;
        o->ann_ver = x.ver;
        o->announced = 1;
    }
    return 0;
}

static int is_failed(const aod_entry *e)
{
    return e->cls == AOD_CLASS_FAILED;
}

/* (Re)files an open event line under every rule it can be found by. */
static int file_event(aod_dedup *d, group *g)
{
    const aod_entry *e = &g->e;
    int oom = 0, failed = is_failed(e);
    const char *ds;
    slot *s;
    hent x;

    g->ver++;
    if (file_due(&d->ix, &d->ev, g) != 0)
        return -1;
    if (e->x_request_id) {
        x = hent_of(g, 0);
        s = slot_get(&d->ix, K_XRID, failed, 0, 0, e->x_request_id, NULL, NULL, 1, &oom);
        if (!s || heap_push(&d->ix, &s->h, &x) != 0)
            return -1;
    }
    if (g->n_obs == 1 && data_key(e, &ds)) {
        int xr, n = e->x_request_id || !d->use_none ? 1 : 2;

        for (xr = 0; xr < n; xr++) {
            int xm = xr ? XR_NONE : XR_ANY;
            slot *one = family_get(d, e, failed, FAM_ONE | xm, e->actor_key, 1, &oom);
            slot *all =
                one && d->use_all ? family_get(d, e, failed, FAM_ALL | xm, NULL, 1, &oom) : NULL;

            if (!one || (d->use_all && !all) || file_observer(d, one, g) != 0 ||
                (all && file_observer(d, all, g) != 0))
                return -1;
        }
    }
    if (e->action == 'E' && e->actor_key && e->query) {
        x = hent_of(g, g->rec_last);
        s = slot_get(&d->ix, K_PAGE_QUERY, e->cls, 0, 0, e->actor_key, e->query, NULL, 1, &oom);
        if (!s || heap_push(&d->ix, &s->h, &x) != 0)
            return -1;
        s = slot_get(&d->ix, K_PAGE_ACTOR, e->cls, 0, 0, e->actor_key, NULL, NULL, 1, &oom);
        if (!s || heap_push(&d->ix, &s->h, &x) != 0)
            return -1;
    }
    return 0;
}

static int file_session(aod_dedup *d, group *s)
{
    int oom = 0;
    slot *k;
    hent x;

    s->ver++;
    if (file_due(&d->ix, &d->ses, s) != 0)
        return -1;
    k = slot_get(&d->ix, K_SESSION, 0, 0, 0, s->e.actor_key, NULL, NULL, 1, &oom);
    x = hent_of(s, s->rec_last);
    return k && heap_push(&d->ix, &k->h, &x) == 0 ? 0 : -1;
}

/* Stale entries have piled up: files the open lines afresh.  The cost is
 * paid for by the entries pushed since the last time. */
static int catalog_rebuild(aod_dedup *d)
{
    group *g;

    catalog_clear(&d->ix);
    d->ev.due.n = 0;
    d->ses.due.n = 0;
    for (g = d->ev.open; g; g = g->open_next)
        if (file_event(d, g) != 0)
            return -1;
    for (g = d->ses.open; g; g = g->open_next)
        if (file_session(d, g) != 0)
            return -1;
    d->ix.budget = 2 * (d->ix.entries + d->ix.n) + 4096;
    return 0;
}

/* --------------------------------------------------------------- emission */

static int session_take(aod_dedup *d, group *g, aod_error *err);

static int emit_final(aod_dedup *d, group *g, aod_error *err)
{
    int rc;

    d->emitted++;
    g->e.group = d->emitted;
    g->e.record_ids = g->ids;
    g->e.n_record_ids = g->n_ids;
    rc = d->out(d->ctx, &g->e, err);
    g->e.record_ids = NULL;
    group_put(d, g);
    if (rc != 0)
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "report line sink failed");
    return rc != 0 ? -1 : 0;
}

/* Hands on the closed lines at the head of l's FIFO. */
static int flush(aod_dedup *d, level *l, aod_error *err)
{
    while (l->head && !l->head->open) {
        group *g = l->head;
        int rc;

        l->head = g->next;
        if (!l->head)
            l->tail = NULL;
        l->held--;
        g->next = NULL;
        if (l == &d->ev && d->sessions)
            rc = session_take(d, g, err);
        else
            rc = emit_final(d, g, err);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------- event level */

static int64_t event_horizon(const aod_dedup *d, const group *g)
{
    int64_t h = 0;

    if (g->e.x_request_id)
        h = max64(h, d->xrid_ms);
    if (g->n_obs == 1)
        h = max64(h, d->pair_ms);
    if (g->e.action == 'E' && g->e.actor_key && g->e.query)
        h = max64(h, d->page_ms);
    return h;
}

static int64_t gap_to(const group *g, const aod_entry *e)
{
    return e->recorded > g->rec_last ? e->recorded - g->rec_last : 0;
}

static int fits_span(const group *g, const aod_entry *e)
{
    return e->recorded - g->rec_first <= g->span;
}

static int failed_compatible(const group *g, const aod_entry *e)
{
    return (g->e.cls == AOD_CLASS_FAILED) == (e->cls == AOD_CLASS_FAILED);
}

/* Step 1: the line with the same X-Request-Id. */
static int xrid_fits(const aod_dedup *d, const group *g, const aod_entry *e)
{
    return same(g->e.x_request_id, e->x_request_id) && failed_compatible(g, e) &&
           gap_to(g, e) <= d->xrid_ms && fits_span(g, e);
}

static int same_data(const aod_entry *a, const aod_entry *b)
{
    if (a->data_ref || b->data_ref)
        return same(a->data_ref, b->data_ref);
    return a->query && same(a->query, b->query);
}

/* An IHE transaction (subtype urn:ihe:event-type-code#ITI-nn): both ends
 * record it, each with its own action (the consumer an Import "C", the
 * responder an Export "R") and each naming the other machine its own way,
 * so the transaction stands in for the action and the actor. */
static int same_transaction(const aod_entry *a, const aod_entry *b)
{
    return a->transaction && b->transaction && same(a->transaction, b->transaction);
}

static int same_act(const aod_entry *a, const aod_entry *b)
{
    if (a->transaction || b->transaction)
        return same_transaction(a, b);
    return a->action == b->action;
}

/* Step 2: the other side's record of the same interaction, the time apart. */
static int pair_fits_but_time(const group *g, const aod_entry *e)
{
    return g->n_obs == 1 && !same(g->obs, e->observer) && failed_compatible(g, e) &&
           same_act(&g->e, e) && same_data(&g->e, e) &&
           !(g->e.actor_key && e->actor_key && !same(g->e.actor_key, e->actor_key) &&
             !same_transaction(&g->e, e)) &&
           !(g->e.x_request_id && e->x_request_id && !same(g->e.x_request_id, e->x_request_id));
}

static int pair_fits(const aod_dedup *d, const group *g, const aod_entry *e)
{
    return pair_fits_but_time(g, e) && gap_to(g, e) <= d->pair_ms && fits_span(g, e);
}

/* Step 3: the search this page belongs to, the time apart. */
static int page_fits_but_time(const group *g, const aod_entry *e)
{
    return g->e.action == 'E' && g->e.cls == e->cls && same(g->e.actor_key, e->actor_key) &&
           g->e.query && (same(g->e.query, e->query) || is_page_fetch(e->query));
}

static int page_fits(const aod_dedup *d, const group *g, const aod_entry *e)
{
    return page_fits_but_time(g, e) && gap_to(g, e) <= d->page_ms && fits_span(g, e);
}

/* The rules by a walk over every open line (the reference the indexes are
 * checked against, and their fallback).  Ties go to the newest line. */
static group *scan_xrid(aod_dedup *d, const aod_entry *e)
{
    group *g;

    for (g = d->ev.open; g; g = g->open_next)
        if (xrid_fits(d, g, e))
            return g;
    return NULL;
}

static group *scan_best(aod_dedup *d, const aod_entry *e,
                        int (*fits)(const aod_dedup *, const group *, const aod_entry *))
{
    group *g, *best = NULL;

    for (g = d->ev.open; g; g = g->open_next)
        if (fits(d, g, e) && (!best || g->rec_last > best->rec_last))
            best = g;
    return best;
}

/* The indexed answers.  An index gives the best line among those that agree
 * on everything but time; as time only gets further from older lines, if
 * that one is out of the window so is every other. */
static group *index_xrid(aod_dedup *d, const aod_entry *e)
{
    int oom = 0;
    slot *s = slot_get(&d->ix, K_XRID, is_failed(e), 0, 0, e->x_request_id, NULL, NULL, 0, &oom);
    const hent *x = s ? heap_top(&d->ix, &s->h) : NULL;

    if (!x)
        return NULL;
    /* every open line with this id is within its window (its horizon is
     * xrid_ms), so the newest is the answer */
    return xrid_fits(d, x->g, e) ? x->g : scan_xrid(d, e);
}

/* The best entry of family f whose observer is not obs, into *out; 0 if
 * none.  Each observer's heap has one entry announced in f, at least as high
 * as its current top; an announcement found out of date is replaced. */
static int family_best(aod_dedup *d, slot *f, const char *obs, hent *out, int *oom)
{
    hent held;
    int holding = 0, found = 0;

    while (!found && f->h.n) {
        hent a = f->h.v[0];
        slot *o = a.sub;
        const hent *top;

        if (!o->announced || o->ann != a.g || o->ann_ver != a.ver) {
            heap_pop(&d->ix, &f->h); /* superseded */
            continue;
        }
        top = heap_top(&d->ix, &o->h);
        if (!top || top->g != a.g || top->ver != a.ver) {
            heap_pop(&d->ix, &f->h);
            o->announced = 0;
            if (top) {
                hent n = *top;
                n.sub = o;
                if (heap_push(&d->ix, &f->h, &n) != 0) {
                    *oom = 1;
                    break;
                }
                o->ann = n.g;
                o->ann_ver = n.ver;
                o->announced = 1;
            }
            continue;
        }
        if (same(o->s1, obs)) {
            held = a; /* the one observer excluded: set aside, put back below */
            holding = 1;
            heap_pop(&d->ix, &f->h);
            continue;
        }
        *out = a;
        found = 1;
    }
    if (holding && heap_push(&d->ix, &f->h, &held) != 0)
        *oom = 1;
    return found;
}

static group *index_pair(aod_dedup *d, const aod_entry *e)
{
    int xm = e->x_request_id ? XR_NONE : XR_ANY, failed = is_failed(e), oom = 0, i, have = 0;
    slot *f[2] = {NULL, NULL};
    hent best = {0, 0, NULL, 0, NULL}, x;
    const char *ds;

    if (!data_key(e, &ds))
        return NULL;
    /* the families without the actor, or of the lines without an id, are
     * kept from the first record that needs them on: most streams never do */
    if ((!e->actor_key && !d->use_all) || (e->x_request_id && !d->use_none)) {
        d->use_all |= !e->actor_key;
        d->use_none |= e->x_request_id != NULL;
        if (catalog_rebuild(d) != 0)
            return scan_best(d, e, pair_fits);
    }
    if (e->actor_key) {
        f[0] = family_get(d, e, failed, FAM_ONE | xm, e->actor_key, 0, &oom);
        f[1] = family_get(d, e, failed, FAM_ONE | xm, NULL, 0, &oom);
    } else {
        f[0] = family_get(d, e, failed, FAM_ALL | xm, NULL, 0, &oom);
    }
    for (i = 0; i < 2; i++) {
        if (f[i] && family_best(d, f[i], e->observer, &x, &oom) && (!have || hent_gt(&x, &best))) {
            best = x;
            have = 1;
        }
    }
    if (oom)
        return scan_best(d, e, pair_fits);
    if (!have)
        return NULL;
    if (pair_fits(d, best.g, e))
        return best.g;
    return pair_fits_but_time(best.g, e) ? NULL : scan_best(d, e, pair_fits);
}

static group *index_page(aod_dedup *d, const aod_entry *e)
{
    int oom = 0;
    slot *s =
        is_page_fetch(e->query)
            ? slot_get(&d->ix, K_PAGE_ACTOR, e->cls, 0, 0, e->actor_key, NULL, NULL, 0, &oom)
            : slot_get(&d->ix, K_PAGE_QUERY, e->cls, 0, 0, e->actor_key, e->query, NULL, 0, &oom);
    const hent *x = s ? heap_top(&d->ix, &s->h) : NULL;

    if (!x)
        return NULL;
    if (page_fits(d, x->g, e))
        return x->g;
    return page_fits_but_time(x->g, e) ? NULL : scan_best(d, e, page_fits);
}

#ifdef AOD_DEDUP_CHECK
#include <stdio.h>
static group *checked(group *fast, group *slow, const char *rule)
{
    if (fast != slow) {
        fprintf(stderr, "dedup: the %s index disagrees with the walk\n", rule);
        abort();
    }
    return fast;
}
#define CHECKED(fast, slow, rule) checked((fast), (slow), (rule))
#else
/* the walk is compiled (and type checked) but not run */
#define CHECKED(fast, slow, rule) ((void)sizeof(slow), (fast))
#endif

static group *find_xrid(aod_dedup *d, const aod_entry *e)
{
    if (!e->x_request_id)
        return NULL;
    return CHECKED(index_xrid(d, e), scan_xrid(d, e), "X-Request-Id");
}

static group *find_pair(aod_dedup *d, const aod_entry *e)
{
    if (!e->observer)
        return NULL;
    return CHECKED(index_pair(d, e), scan_best(d, e, pair_fits), "pair");
}

static group *find_page(aod_dedup *d, const aod_entry *e)
{
    if (e->action != 'E' || !e->actor_key || !e->query)
        return NULL;
    return CHECKED(index_page(d, e), scan_best(d, e, page_fits), "page");
}

/* Merges e into line g as records of one event.  Returns 0 or -1 (OOM). */
static int event_merge(aod_dedup *d, group *g, const aod_entry *e)
{
    const aod_entry *hi = &g->e, *lo = e;
    aod_entry m;
    const char *kinds;
    unsigned own;

    if (rank(e->cls) > rank(g->e.cls)) {
        hi = e;
        lo = &g->e;
    }
    if (kinds_union(d->pool, hi->data_kinds, lo->data_kinds, &kinds) != 0 ||
        ids_add(g, e->record_ids, e->n_record_ids) != 0)
        return -1;
    m = *hi;
    m.data_kinds = kinds;
    m.when_start = min64(hi->when_start, lo->when_start);
    m.when_end = max64(hi->when_end, lo->when_end);
    m.first = min64(hi->first, lo->first);
    m.last = max64(hi->last, lo->last);
    m.recorded = min64(hi->recorded, lo->recorded);
    m.count = hi->count > lo->count ? hi->count : lo->count;
    m.raw_count = hi->raw_count + lo->raw_count;
    own = AOD_ENTRY_PURPOSE_UNKNOWN; /* goes with the winning decision */
    m.flags = hi->flags | (lo->flags & ~own);
    party_fill(&m.who, &lo->who);
    if (!m.action)
        m.action = lo->action;
    FILL(&m, lo, outcome);
    FILL(&m, lo, data);
    FILL(&m, lo, where);
    FILL(&m, lo, type_code);
    FILL(&m, lo, subtype_code);
    FILL(&m, lo, activity);
    FILL(&m, lo, transaction);
    FILL(&m, lo, x_request_id);
    FILL(&m, lo, observer);
    FILL(&m, lo, data_ref);
    FILL(&m, lo, query);
    FILL(&m, lo, actor_key);
    /* one event: its reason is the best any of its records gives (a
     * recorded basis over evidence over none); its reference adds up all
     * its records (entry.h) */
    if (lo->reason != AOD_REASON_NONE &&
        (m.reason == AOD_REASON_NONE ||
         (aod_reason_recorded(lo->reason) && !aod_reason_recorded(m.reason)))) {
        m.reason = lo->reason;
        m.reason_evidence = lo->reason_evidence;
    }
    m.reasoned = hi->reasoned > lo->reasoned ? hi->reasoned : lo->reasoned;
    m.ref_sum = hi->ref_sum + lo->ref_sum;
    m.record_ids = NULL;
    m.n_record_ids = 0;
    m.group = 0;
    g->e = m;

    if (e->observer && g->n_obs == 0) {
        g->obs = e->observer;
        g->n_obs = 1;
    } else if (e->observer && g->n_obs == 1 && !same(g->obs, e->observer)) {
        g->n_obs = 2;
    }
    g->rec_first = min64(g->rec_first, e->recorded);
    g->rec_last = max64(g->rec_last, e->recorded);
    g->horizon = event_horizon(d, g);
    return 0;
}

static group *event_new(aod_dedup *d, const aod_entry *e)
{
    group *g = group_get(d);

    if (!g)
        return NULL;
    if (ids_add(g, e->record_ids, e->n_record_ids) != 0) {
        group_put(d, g);
        return NULL;
    }
    g->e = *e;
    g->e.record_ids = NULL;
    g->e.n_record_ids = 0;
    g->e.group = 0;
    g->rec_first = g->rec_last = e->recorded;
    g->obs = e->observer;
    g->n_obs = e->observer ? 1 : 0;
    g->span = d->event_span_ms;
    g->horizon = event_horizon(d, g);
    g->events = 1;
    return g;
}

/* --------------------------------------------------------- session level */

static int sessionable(const group *g)
{
    return g->e.cls == AOD_CLASS_INTERNAL && g->e.actor_key && !(g->e.flags & AOD_ENTRY_SELF_AUDIT);
}

static int session_merge(aod_dedup *d, group *s, group *g)
{
    aod_entry *m = &s->e;
    const aod_entry *e = &g->e;
    const char *kinds;

    if (kinds_union(d->pool, m->data_kinds, e->data_kinds, &kinds) != 0 ||
        ids_add(s, g->ids, g->n_ids) != 0)
        return -1;
    m->data_kinds = kinds;
    m->when_start = min64(m->when_start, e->when_start);
    m->when_end = max64(m->when_end, e->when_end);
    m->first = min64(m->first, e->first);
    m->last = max64(m->last, e->last);
    m->recorded = min64(m->recorded, e->recorded);
    m->count += e->count;
    m->raw_count += e->raw_count;
    m->reasoned += e->reasoned;
    m->ref_sum += e->ref_sum;
    if (m->reason == AOD_REASON_NONE && e->reason != AOD_REASON_NONE) {
        m->reason = e->reason;
        m->reason_evidence = e->reason_evidence;
    }
    if (m->action != e->action)
        m->action = 0;
    if (!same(m->data, e->data))
        m->data = NULL;
    if (!same(m->data_ref, e->data_ref))
        m->data_ref = NULL;
    if (!same(m->query, e->query))
        m->query = NULL;
    if (!same(m->x_request_id, e->x_request_id))
        m->x_request_id = NULL;
    if (!m->purpose_code && !m->purpose_display && (e->purpose_code || e->purpose_display)) {
        m->purpose_system = e->purpose_system;
        m->purpose_code = e->purpose_code;
        m->purpose_display = e->purpose_display;
        m->flags &= ~AOD_ENTRY_PURPOSE_UNKNOWN;
    }
    m->flags |= e->flags & ~AOD_ENTRY_PURPOSE_UNKNOWN;
    m->flags |= AOD_ENTRY_SESSION;
    party_fill(&m->who, &e->who);
    FILL(m, e, outcome);
    FILL(m, e, where);
    FILL(m, e, type_code);
    FILL(m, e, subtype_code);
    FILL(m, e, activity);
    FILL(m, e, observer);
    s->events++;
    s->rec_first = min64(s->rec_first, g->rec_first);
    s->rec_last = max64(s->rec_last, g->rec_last);
    group_put(d, g);
    return 0;
}

static int session_fits(const aod_dedup *d, const group *s, const group *g)
{
    return same(s->e.actor_key, g->e.actor_key) && g->rec_first - s->rec_last <= d->gap_ms &&
           g->rec_last - s->rec_first <= SESSION_SPAN_MS;
}

static group *scan_session(aod_dedup *d, const group *g)
{
    group *s, *best = NULL;

    for (s = d->ses.open; s; s = s->open_next)
        if (session_fits(d, s, g) && (!best || s->rec_last > best->rec_last))
            best = s;
    return best;
}

/* The actor's open session g continues: the one with the latest record.  Its
 * span may have run out where an older one's has not: then the actor's
 * sessions (a handful) are looked at one by one. */
static group *index_session(aod_dedup *d, const group *g)
{
    int oom = 0;
    slot *k = slot_get(&d->ix, K_SESSION, 0, 0, 0, g->e.actor_key, NULL, NULL, 0, &oom);
    const hent *x = k ? heap_top(&d->ix, &k->h) : NULL;
    const hent *best = NULL;
    size_t i;

    if (!x || session_fits(d, x->g, g))
        return x ? x->g : NULL;
    if (g->rec_first - x->g->rec_last > d->gap_ms)
        return NULL;
    for (i = 0; i < k->h.n; i++) {
        x = &k->h.v[i];
        if (!hent_stale(x) && session_fits(d, x->g, g) && (!best || hent_gt(x, best)))
            best = x;
    }
    return best ? best->g : NULL;
}

/* Takes a closed event line (ownership passes) into the session level. */
static int session_take(aod_dedup *d, group *g, aod_error *err)
{
    level *l = &d->ses;
    group *best;

    close_past(d, l, g->rec_first, 0);
    if (flush(d, l, err) != 0) {
        group_put(d, g);
        return -1;
    }
    if (sessionable(g)) {
        best = CHECKED(index_session(d, g), scan_session(d, g), "session");
        if (best) {
            if (session_merge(d, best, g) != 0) {
                group_put(d, g);
                aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory merging a session");
                return -1;
            }
            if (file_session(d, best) != 0) {
                aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory holding a session");
                return -1;
            }
            return 0;
        }
        g->horizon = d->gap_ms;
        g->span = SESSION_SPAN_MS;
        g->events = 1;
        fifo_add(l, g);
        open_add(l, g);
        if (file_session(d, g) != 0) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory holding a session");
            return -1;
        }
        return 0;
    }
    fifo_add(l, g);
    return flush(d, l, err);
}

/* ------------------------------------------------------------------ API */

aod_dedup *aod_dedup_new(const aod_policy *policy, aod_strpool *pool, aod_entry_fn out, void *ctx)
{
    aod_dedup *d = calloc(1, sizeof *d);

    if (!d)
        return NULL;
    d->policy = policy;
    d->pool = pool;
    d->out = out;
    d->ctx = ctx;
    d->sessions = policy->dedup.sessions != 0;
    d->pair_ms =
        (int64_t)(policy->dedup.pair_window_seconds > 0 ? policy->dedup.pair_window_seconds : 0) *
        SECOND_MS;
    d->page_ms =
        (int64_t)(policy->dedup.page_window_seconds > 0 ? policy->dedup.page_window_seconds : 0) *
        SECOND_MS;
    d->gap_ms =
        (int64_t)(policy->dedup.session_gap_minutes > 0 ? policy->dedup.session_gap_minutes : 30) *
        60 * SECOND_MS;
    d->xrid_ms = max64(d->pair_ms, d->page_ms);
    d->event_span_ms = max64(EVENT_SPAN_MIN_MS, d->xrid_ms);
    d->ix.budget = 4096;
    return d;
}

int aod_dedup_push(aod_dedup *d, const aod_entry *e, aod_error *err)
{
    group *g;

    if (d->ix.entries + d->ix.n > d->ix.budget && catalog_rebuild(d) != 0)
        goto nomem;
    close_past(d, &d->ev, e->recorded, 0);
    if (flush(d, &d->ev, err) != 0)
        return -1;

    if (e->cls != AOD_CLASS_OUT_OF_SCOPE) {
        g = find_xrid(d, e);
        if (!g)
            g = find_pair(d, e);
        if (!g)
            g = find_page(d, e);
        if (g) {
            if (event_merge(d, g, e) != 0 || file_event(d, g) != 0)
                goto nomem;
            return 0;
        }
    }
    g = event_new(d, e);
    if (!g)
        goto nomem;
    fifo_add(&d->ev, g);
    if (e->cls != AOD_CLASS_OUT_OF_SCOPE) {
        open_add(&d->ev, g);
        if (file_event(d, g) != 0)
            goto nomem;
    }
    return flush(d, &d->ev, err);

nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory holding a record");
    return -1;
}

int aod_dedup_finish(aod_dedup *d, aod_error *err)
{
    close_past(d, &d->ev, 0, 1);
    if (flush(d, &d->ev, err) != 0)
        return -1;
    if (d->sessions) {
        close_past(d, &d->ses, 0, 1);
        if (flush(d, &d->ses, err) != 0)
            return -1;
    }
    return 0;
}

static void free_list(group *g)
{
    group *next;

    for (; g; g = next) {
        next = g->next;
        free(g->ids);
        free(g);
    }
}

void aod_dedup_free(aod_dedup *d)
{
    if (!d)
        return;
    free_list(d->ev.head);
    free_list(d->ses.head);
    free_list(d->spare);
    catalog_clear(&d->ix);
    free(d->ix.tab);
    free(d->ev.due.v);
    free(d->ses.due.v);
    free(d);
}

long aod_dedup_groups(const aod_dedup *d)
{
    return d ? d->emitted : 0;
}

size_t aod_dedup_pending(const aod_dedup *d)
{
    return d ? d->ev.held + d->ses.held : 0;
}
