/*
 * summarize.c - stage "summarize": 164.528(b)(3) summary lines (see
 * summarize.h, DOMAIN.md 1.5).
 *
 * Keeps every disclosure it is given (few: accesses never come here), groups
 * them as they arrive - the groups are fewer still, so a linear search of
 * them is enough - and at finish sorts the output lines by first date.
 */
#include "pipeline/summarize.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 256

typedef struct item {
    aod_entry e; /* e.record_ids points into ids */
    int64_t *ids;
    long grp; /* index into groups, -1: never summarised */
    size_t arrival;
} item;

typedef struct sgroup {
    /* the key; the strings are pool strings, compared by content */
    const char *ref, *id_system, *id_value, *name;
    const char *purpose_system, *purpose_code;
    aod_exclusion exclusion;
    const char *rule_id;
    size_t n;     /* members */
    size_t first; /* the earliest member's item index */
} sgroup;

/* One output line: an item alone, or a group's summary. */
typedef struct outline {
    int64_t when;
    size_t arrival;
    size_t item; /* the line itself, or the group's earliest member */
    long grp;    /* -1 for a plain line */
} outline;

struct aod_summarize {
    const aod_policy *policy;
    aod_strpool *pool;
    aod_entry_fn out;
    void *ctx;
    item *items;
    size_t n_items, cap_items;
    sgroup *groups;
    size_t n_groups, cap_groups;
};

static int same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* who.name lower case, white space collapsed and trimmed, interned; NULL
 * when empty or on OOM (*oom set). */
static const char *norm_name(aod_strpool *pool, const char *s, int *oom)
{
    char buf[NAME_MAX_LEN];
    size_t n = 0;
    int space = 0;
    const char *p;

    if (!s)
        return NULL;
    for (; *s && n + 2 < sizeof buf; s++) {
        char c = *s;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            space = n > 0;
            continue;
        }
        if (space)
            buf[n++] = ' ';
        space = 0;
        buf[n++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    if (n == 0)
        return NULL;
    buf[n] = '\0';
    p = aod_strpool_intern(pool, buf);
    if (!p)
        *oom = 1;
    return p;
}

static int summarisable(const aod_summarize *s, const aod_entry *e)
{
    return s->policy->summarize.enabled && e->cls == AOD_CLASS_DISCLOSURE && e->purpose_code &&
           !(e->flags & AOD_ENTRY_SUSPENDED) &&
           (e->who.reference || e->who.id_value || e->who.name);
}

/* The group of e's key, made when new; -1 on OOM. */
static long group_of(aod_summarize *s, const aod_entry *e, size_t idx)
{
    sgroup key, *g;
    int oom = 0;
    size_t i;

    memset(&key, 0, sizeof key);
    if (e->who.reference) {
        key.ref = e->who.reference;
    } else if (e->who.id_value) {
        key.id_system = e->who.id_system;
        key.id_value = e->who.id_value;
    } else {
        key.name = norm_name(s->pool, e->who.name, &oom);
        if (oom)
            return -1;
    }
    key.purpose_system = e->purpose_system;
    key.purpose_code = e->purpose_code;
    key.exclusion = e->exclusion;
    key.rule_id = e->rule_id;

    for (i = 0; i < s->n_groups; i++) {
        g = &s->groups[i];
        if (same(g->ref, key.ref) && same(g->id_system, key.id_system) &&
            same(g->id_value, key.id_value) && same(g->name, key.name) &&
            same(g->purpose_system, key.purpose_system) &&
            same(g->purpose_code, key.purpose_code) && g->exclusion == key.exclusion &&
            same(g->rule_id, key.rule_id)) {
            const aod_entry *f = &s->items[g->first].e;
            g->n++;
            if (e->when_start < f->when_start)
                g->first = idx;
            return (long)i;
        }
    }
    if (s->n_groups == s->cap_groups) {
        size_t cap = s->cap_groups ? s->cap_groups * 2 : 16;
        sgroup *v = realloc(s->groups, cap * sizeof *v);
        if (!v)
            return -1;
        s->groups = v;
        s->cap_groups = cap;
    }
    key.n = 1;
    key.first = idx;
    s->groups[s->n_groups] = key;
    return (long)s->n_groups++;
}

aod_summarize *aod_summarize_new(const aod_policy *policy, aod_strpool *pool, aod_entry_fn out,
                                 void *ctx)
{
    aod_summarize *s = calloc(1, sizeof *s);

    if (!s)
        return NULL;
    s->policy = policy;
    s->pool = pool;
    s->out = out;
    s->ctx = ctx;
    return s;
}

int aod_summarize_push(aod_summarize *s, const aod_entry *e, aod_error *err)
{
    item *it;
    int64_t *ids = NULL;

    if (s->n_items == s->cap_items) {
        size_t cap = s->cap_items ? s->cap_items * 2 : 64;
        item *v;

        if (cap > SIZE_MAX / sizeof *v)
            goto nomem;
        v = realloc(s->items, cap * sizeof *v);
        if (!v)
            goto nomem;
        s->items = v;
        s->cap_items = cap;
    }
    if (e->n_record_ids) {
        ids = malloc(e->n_record_ids * sizeof *ids);
        if (!ids)
            goto nomem;
        memcpy(ids, e->record_ids, e->n_record_ids * sizeof *ids);
    }
    it = &s->items[s->n_items];
    it->e = *e;
    it->e.record_ids = ids;
    it->ids = ids;
    it->arrival = s->n_items;
    it->grp = -1;
    /* Counted in before grouping: group_of may make it a group's first. */
    s->n_items++;
    if (summarisable(s, e)) {
        it->grp = group_of(s, e, it->arrival);
        if (it->grp < 0) {
            s->n_items--;
            free(ids);
            goto nomem;
        }
    }
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory keeping disclosures");
    return -1;
}

static int outline_cmp(const void *a, const void *b)
{
    const outline *x = a, *y = b;

    if (x->when != y->when)
        return x->when < y->when ? -1 : 1;
    return x->arrival < y->arrival ? -1 : x->arrival > y->arrival;
}

/* Builds and emits the summary line of group gi. */
static int emit_summary(aod_summarize *s, long gi, aod_error *err)
{
    const sgroup *g = &s->groups[gi];
    aod_entry line = s->items[g->first].e;
    int64_t *ids = NULL;
    size_t i, n_ids = 0;
    int rc;

    for (i = 0; i < s->n_items; i++)
        if (s->items[i].grp == gi)
            n_ids += s->items[i].e.n_record_ids;
    if (n_ids) {
        ids = malloc(n_ids * sizeof *ids);
        if (!ids) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory summarising");
            return -1;
        }
    }
    line.first = line.when_start;
    line.last = line.when_end;
    line.count = 0;
    line.raw_count = 0;
    line.reasoned = 0;
    line.ref_sum = 0;
    n_ids = 0;
    for (i = 0; i < s->n_items; i++) {
        const aod_entry *e = &s->items[i].e;

        if (s->items[i].grp != gi)
            continue;
        if (e->when_end > line.last)
            line.last = e->when_end;
        if (e->recorded < line.recorded)
            line.recorded = e->recorded;
        line.count += e->count;
        line.raw_count += e->raw_count;
        line.reasoned += e->reasoned;
        line.ref_sum += e->ref_sum;
        if (e->n_record_ids)
            memcpy(ids + n_ids, e->record_ids, e->n_record_ids * sizeof *ids);
        n_ids += e->n_record_ids;
    }
    line.flags |= AOD_ENTRY_SUMMARY;
    line.record_ids = ids;
    line.n_record_ids = n_ids;
    rc = s->out(s->ctx, &line, err);
    free(ids);
    return rc;
}

int aod_summarize_finish(aod_summarize *s, aod_error *err)
{
    outline *lines;
    size_t i, n = 0;
    size_t min = s->policy->summarize.min_count > 0 ? (size_t)s->policy->summarize.min_count : 2;
    int rc = 0;

    if (s->n_items == 0)
        return 0;
    lines = malloc(s->n_items * sizeof *lines);
    if (!lines) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory summarising");
        return -1;
    }
    for (i = 0; i < s->n_items; i++) {
        const item *it = &s->items[i];
        outline *o = &lines[n];

        if (it->grp >= 0 && s->groups[it->grp].n >= min) {
            if (s->groups[it->grp].first != i)
                continue;
            o->grp = it->grp;
        } else {
            o->grp = -1;
        }
        o->item = i;
        o->when = it->e.when_start;
        o->arrival = it->arrival;
        n++;
    }
    qsort(lines, n, sizeof *lines, outline_cmp);
    for (i = 0; i < n && rc == 0; i++) {
        if (lines[i].grp >= 0)
            rc = emit_summary(s, lines[i].grp, err);
        else
            rc = s->out(s->ctx, &s->items[lines[i].item].e, err);
    }
    free(lines);
    if (rc != 0) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "report line sink failed");
        return -1;
    }
    return 0;
}

void aod_summarize_free(aod_summarize *s)
{
    size_t i;

    if (!s)
        return;
    for (i = 0; i < s->n_items; i++)
        free(s->items[i].ids);
    free(s->items);
    free(s->groups);
    free(s);
}
