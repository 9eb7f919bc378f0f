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
    long events; /* session level: events merged */
    int64_t *ids;
    size_t n_ids, cap_ids;
    group *next;                  /* FIFO */
    group *open_prev, *open_next; /* open list */
};

typedef struct level {
    group *head, *tail;
    group *open;
    size_t held;
} level;

struct aod_dedup {
    const aod_policy *policy;
    aod_strpool *pool;
    aod_entry_fn out;
    void *ctx;
    level ev, ses;
    group *spare;
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
    FILL(dst, src, role);
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

    if (g) {
        d->spare = g->next;
        ids = g->ids;
        cap = g->cap_ids;
        memset(g, 0, sizeof *g);
        g->ids = ids;
        g->cap_ids = cap;
        return g;
    }
    return calloc(1, sizeof *g);
}

static void group_put(aod_dedup *d, group *g)
{
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
}

/* Closes the lines of l that input at time now can no longer reach; all of
 * them when all is set. */
static void close_past(level *l, int64_t now, int all)
{
    group *g = l->open, *next;

    for (; g; g = next) {
        next = g->open_next;
        if (all || now - g->rec_last > g->horizon || now - g->rec_first > g->span)
            open_remove(l, g);
    }
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
static group *find_xrid(aod_dedup *d, const aod_entry *e)
{
    group *g;

    if (!e->x_request_id)
        return NULL;
    for (g = d->ev.open; g; g = g->open_next)
        if (same(g->e.x_request_id, e->x_request_id) && failed_compatible(g, e) &&
            gap_to(g, e) <= d->xrid_ms && fits_span(g, e))
            return g;
    return NULL;
}

static int same_data(const aod_entry *a, const aod_entry *b)
{
    if (a->data_ref || b->data_ref)
        return same(a->data_ref, b->data_ref);
    return a->query && same(a->query, b->query);
}

/* Step 2: the other side's record of the same interaction. */
static group *find_pair(aod_dedup *d, const aod_entry *e)
{
    group *g, *best = NULL;

    if (!e->observer)
        return NULL;
    for (g = d->ev.open; g; g = g->open_next) {
        if (g->n_obs != 1 || same(g->obs, e->observer) || !failed_compatible(g, e) ||
            g->e.action != e->action || !same_data(&g->e, e) || gap_to(g, e) > d->pair_ms ||
            !fits_span(g, e))
            continue;
        if (g->e.actor_key && e->actor_key && !same(g->e.actor_key, e->actor_key))
            continue;
        if (g->e.x_request_id && e->x_request_id && !same(g->e.x_request_id, e->x_request_id))
            continue;
        if (!best || g->rec_last > best->rec_last)
            best = g;
    }
    return best;
}

/* Step 3: the search this page belongs to. */
static group *find_page(aod_dedup *d, const aod_entry *e)
{
    group *g, *best = NULL;

    if (e->action != 'E' || !e->actor_key || !e->query)
        return NULL;
    for (g = d->ev.open; g; g = g->open_next) {
        if (g->e.action != 'E' || g->e.cls != e->cls || !same(g->e.actor_key, e->actor_key) ||
            !g->e.query || gap_to(g, e) > d->page_ms || !fits_span(g, e))
            continue;
        if (!same(g->e.query, e->query) && !is_page_fetch(e->query))
            continue;
        if (!best || g->rec_last > best->rec_last)
            best = g;
    }
    return best;
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
    FILL(&m, lo, x_request_id);
    FILL(&m, lo, observer);
    FILL(&m, lo, data_ref);
    FILL(&m, lo, query);
    FILL(&m, lo, actor_key);
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
    FILL(m, e, observer);
    s->events++;
    s->rec_first = min64(s->rec_first, g->rec_first);
    s->rec_last = max64(s->rec_last, g->rec_last);
    group_put(d, g);
    return 0;
}

/* Takes a closed event line (ownership passes) into the session level. */
static int session_take(aod_dedup *d, group *g, aod_error *err)
{
    level *l = &d->ses;
    group *s, *best = NULL;

    close_past(l, g->rec_first, 0);
    if (flush(d, l, err) != 0) {
        group_put(d, g);
        return -1;
    }
    if (sessionable(g)) {
        for (s = l->open; s; s = s->open_next)
            if (same(s->e.actor_key, g->e.actor_key) && g->rec_first - s->rec_last <= d->gap_ms &&
                g->rec_last - s->rec_first <= SESSION_SPAN_MS &&
                (!best || s->rec_last > best->rec_last))
                best = s;
        if (best) {
            if (session_merge(d, best, g) != 0) {
                group_put(d, g);
                aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory merging a session");
                return -1;
            }
            return 0;
        }
        g->horizon = d->gap_ms;
        g->span = SESSION_SPAN_MS;
        g->events = 1;
        fifo_add(l, g);
        open_add(l, g);
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
    return d;
}

int aod_dedup_push(aod_dedup *d, const aod_entry *e, aod_error *err)
{
    group *g;

    close_past(&d->ev, e->recorded, 0);
    if (flush(d, &d->ev, err) != 0)
        return -1;

    if (e->cls != AOD_CLASS_OUT_OF_SCOPE) {
        g = find_xrid(d, e);
        if (!g)
            g = find_pair(d, e);
        if (!g)
            g = find_page(d, e);
        if (g) {
            if (event_merge(d, g, e) != 0) {
                aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory merging records");
                return -1;
            }
            return 0;
        }
    }
    g = event_new(d, e);
    if (!g) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory holding a record");
        return -1;
    }
    fifo_add(&d->ev, g);
    if (e->cls != AOD_CLASS_OUT_OF_SCOPE)
        open_add(&d->ev, g);
    return flush(d, &d->ev, err);
}

int aod_dedup_finish(aod_dedup *d, aod_error *err)
{
    close_past(&d->ev, 0, 1);
    if (flush(d, &d->ev, err) != 0)
        return -1;
    if (d->sessions) {
        close_past(&d->ses, 0, 1);
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
