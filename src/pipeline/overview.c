/*
 * overview.c - the overview stage (see overview.h): one summary line per
 * identity as the audience sees it.
 *
 * Two open-addressing tables: lines by their key (section, shown name,
 * role, organisation, and for systems the action), and the distinct
 * recorded identities behind each line, so "by K people" counts people,
 * not masked labels.  Both grow with distinct identities only.
 */
#include "pipeline/overview.h"

#include "base/buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct ident_slot {
    const char *ident; /* interned; NULL = empty */
    size_t line;
} ident_slot;

struct aod_overview_acc {
    aod_strpool *pool;
    aod_overview_line *lines;
    size_t n_lines, cap_lines;
    size_t *index; /* line index + 1, 0 = empty */
    size_t n_index;
    ident_slot *idents;
    size_t n_idents, n_idents_used;
    aod_buf key;          /* scratch: one identity key */
    long people, systems; /* distinct identities over all person / system lines */
    aod_overview result;
};

static uint64_t str_hash(uint64_t h, const char *s)
{
    if (!s)
        return h * 1099511628211ULL + 1;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ 0xFF) * 1099511628211ULL;
}

static int str_same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static uint64_t line_hash(const aod_overview_line *l)
{
    uint64_t h =
        14695981039346656037ULL ^ (uint64_t)l->section ^ ((uint64_t)(unsigned char)l->action << 8);

    h = str_hash(h, l->name);
    h = str_hash(h, l->role);
    h = str_hash(h, l->organisation);
    return str_hash(h, l->activity);
}

static int line_same(const aod_overview_line *a, const aod_overview_line *b)
{
    return a->section == b->section && a->action == b->action && str_same(a->name, b->name) &&
           str_same(a->role, b->role) && str_same(a->organisation, b->organisation) &&
           str_same(a->activity, b->activity);
}

static int index_grow(aod_overview_acc *o)
{
    size_t n = o->n_index ? o->n_index * 2 : 64, i;
    size_t *idx = calloc(n, sizeof *idx);

    if (!idx)
        return -1;
    for (i = 0; i < o->n_lines; i++) {
        size_t j = (size_t)line_hash(&o->lines[i]) & (n - 1);
        while (idx[j])
            j = (j + 1) & (n - 1);
        idx[j] = i + 1;
    }
    free(o->index);
    o->index = idx;
    o->n_index = n;
    return 0;
}

/* The line with l's key, added when new; NULL when out of memory. */
static aod_overview_line *line_get(aod_overview_acc *o, const aod_overview_line *l)
{
    size_t j;

    if ((o->n_lines + 1) * 2 > o->n_index && index_grow(o) != 0)
        return NULL;
    for (j = (size_t)line_hash(l) & (o->n_index - 1); o->index[j]; j = (j + 1) & (o->n_index - 1))
        if (line_same(&o->lines[o->index[j] - 1], l))
            return &o->lines[o->index[j] - 1];
    if (o->n_lines == o->cap_lines) {
        size_t cap = o->cap_lines ? o->cap_lines * 2 : 32;
        aod_overview_line *nl = realloc(o->lines, cap * sizeof *nl);
        if (!nl)
            return NULL;
        o->lines = nl;
        o->cap_lines = cap;
    }
    o->lines[o->n_lines] = *l;
    o->index[j] = ++o->n_lines;
    return &o->lines[o->n_lines - 1];
}

static int idents_grow(aod_overview_acc *o)
{
    size_t n = o->n_idents ? o->n_idents * 2 : 64, i;
    ident_slot *v = calloc(n, sizeof *v);

    if (!v)
        return -1;
    for (i = 0; i < o->n_idents; i++) {
        size_t j;
        if (!o->idents[i].ident)
            continue;
        j = (size_t)(str_hash((uint64_t)o->idents[i].line, o->idents[i].ident) & (n - 1));
        while (v[j].ident)
            j = (j + 1) & (n - 1);
        v[j] = o->idents[i];
    }
    free(o->idents);
    o->idents = v;
    o->n_idents = n;
    return 0;
}

/* Counts the recorded identity behind e once per line.  Returns 1 when it
 * is new to the line, 0 when seen, -1 when out of memory. */
static int ident_new(aod_overview_acc *o, const aod_entry *e, size_t line)
{
    const aod_party *w = &e->who;
    const char *id;
    size_t j;

    int rc;

    aod_buf_reset(&o->key);
    if (w->reference || w->id_value)
        rc = aod_buf_printf(&o->key, "%s|%s|%s", w->reference ? w->reference : "",
                            w->id_system ? w->id_system : "", w->id_value ? w->id_value : "");
    else if (e->actor_key && e->cls != AOD_CLASS_DISCLOSURE)
        rc = aod_buf_printf(&o->key, "k|%s", e->actor_key);
    else
        rc = aod_buf_printf(&o->key, "n|%s|%s|%s", w->name ? w->name : "", w->role ? w->role : "",
                            w->organisation ? w->organisation : "");
    if (rc != 0)
        return -1;
    id = aod_strpool_intern(o->pool, aod_buf_str(&o->key));
    if (!id)
        return -1;
    if ((o->n_idents_used + 1) * 2 > o->n_idents && idents_grow(o) != 0)
        return -1;
    for (j = (size_t)(str_hash((uint64_t)line, id) & (o->n_idents - 1)); o->idents[j].ident;
         j = (j + 1) & (o->n_idents - 1))
        if (o->idents[j].ident == id && o->idents[j].line == line)
            return 0;
    o->idents[j].ident = id;
    o->idents[j].line = line;
    o->n_idents_used++;
    return 1;
}

static int add_kinds(aod_overview_acc *o, aod_overview_line *l, const char *list, long count)
{
    const char *p = list;

    while (p && *p) {
        const char *end = p + strcspn(p, ", ");
        if (end > p) {
            const char *k = aod_strpool_internn(o->pool, p, (size_t)(end - p));
            size_t i;
            if (!k)
                return -1;
            for (i = 0; i < l->n_kinds && l->kinds[i] != k; i++)
                ;
            if (i < l->n_kinds)
                l->kind_count[i] += count;
            else if (l->n_kinds < AOD_OVERVIEW_MAX_KINDS) {
                l->kind_count[l->n_kinds] = count;
                l->kinds[l->n_kinds++] = k;
            } else
                l->more_kinds = 1;
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

static void add_reason(aod_overview_line *l, const aod_entry *e)
{
    size_t i;

    if (!(e->purpose_code && *e->purpose_code) && !(e->purpose_display && *e->purpose_display)) {
        l->no_reason += e->count;
        return;
    }
    for (i = 0; i < l->n_reasons; i++)
        if (str_same(l->reason_code[i], e->purpose_code) &&
            (e->purpose_code || str_same(l->reason_display[i], e->purpose_display)))
            return;
    if (l->n_reasons == AOD_OVERVIEW_MAX_REASONS) {
        l->more_reasons = 1;
        return;
    }
    l->reason_code[l->n_reasons] = e->purpose_code;
    l->reason_display[l->n_reasons++] = e->purpose_display;
}

aod_overview_acc *aod_overview_new(aod_strpool *pool)
{
    aod_overview_acc *o = calloc(1, sizeof *o);

    if (!o)
        return NULL;
    o->pool = pool;
    aod_buf_init(&o->key, 64 * 1024);
    return o;
}

int aod_overview_add(aod_overview_acc *o, const aod_entry *e, aod_error *err)
{
    aod_overview_line k, *l;
    int fresh;

    if (!e->shown_name) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "overview", "an unmasked line");
        return -1;
    }
    memset(&k, 0, sizeof k);
    k.section = aod_entry_section(e);
    k.name = e->shown_name;
    k.role = e->shown_role;
    k.organisation = e->shown_organisation;
    if (k.section == AOD_SECTION_SYSTEM) {
        k.action = e->action;
        k.activity = e->activity;
    }
    k.first = e->first;
    k.last = e->last;
    l = line_get(o, &k);
    if (!l)
        goto nomem;
    if (e->first < l->first)
        l->first = e->first;
    if (e->last > l->last)
        l->last = e->last;
    l->count += e->count;
    l->records += e->raw_count;
    fresh = ident_new(o, e, (size_t)(l - o->lines));
    if (fresh < 0)
        goto nomem;
    l->people += fresh;
    /* the totals count each identity once, whatever lines it is in */
    if (fresh && k.section != AOD_SECTION_ORGANISATION) {
        int once = ident_new(o, e, k.section == AOD_SECTION_SYSTEM ? SIZE_MAX : SIZE_MAX - 1);
        if (once < 0)
            goto nomem;
        if (k.section == AOD_SECTION_SYSTEM)
            o->systems += once;
        else
            o->people += once;
    }
    if (add_kinds(o, l, e->data_kinds, e->count) != 0)
        goto nomem;
    add_reason(l, e);
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "overview", "out of memory");
    return -1;
}

static int str_cmp(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

static int line_cmp(const void *pa, const void *pb)
{
    const aod_overview_line *a = pa, *b = pb;
    int c;

    if (a->section != b->section)
        return a->section < b->section ? -1 : 1;
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    if ((c = str_cmp(a->name, b->name)) != 0 || (c = str_cmp(a->role, b->role)) != 0 ||
        (c = str_cmp(a->organisation, b->organisation)) != 0 ||
        (c = str_cmp(a->activity, b->activity)) != 0)
        return c;
    return (a->action > b->action) - (a->action < b->action);
}

const aod_overview *aod_overview_result(aod_overview_acc *o, long records)
{
    aod_overview *r = &o->result;
    size_t i;

    /* the index points into the unsorted order: drop it */
    if (o->n_lines > 1) /* qsort takes no NULL, even for nothing */
        qsort(o->lines, o->n_lines, sizeof *o->lines, line_cmp);
    free(o->index);
    o->index = NULL;
    o->n_index = 0;
    free(o->idents);
    o->idents = NULL;
    o->n_idents = o->n_idents_used = 0;
    memset(r, 0, sizeof *r);
    r->lines = o->lines;
    r->n_lines = o->n_lines;
    r->records = records;
    for (i = 0; i < o->n_lines; i++) {
        const aod_overview_line *l = &o->lines[i];
        r->accesses += l->count;
        if (l->section == AOD_SECTION_ORGANISATION)
            r->organisations++;
        else if (l->section == AOD_SECTION_SYSTEM)
            r->system_accesses += l->count;
    }
    r->people = o->people;
    r->systems = o->systems;
    return r;
}

void aod_overview_free(aod_overview_acc *o)
{
    if (!o)
        return;
    free(o->lines);
    free(o->index);
    free(o->idents);
    aod_buf_free(&o->key);
    free(o);
}
