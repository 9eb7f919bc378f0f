/*
 * flags.c - stage "flags" (see flags.h; the flags are explained in
 * doc/privacy-office.md).
 *
 * Pipeline stage, privacy office only.  Every lookup is in memory: the site
 * facts were read once before the first event (model/facts.h), and the
 * volume-spike state is a small window per person, so the stage adds no
 * query and keeps the report streaming.
 */
#include "pipeline/flags.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/timefmt.h"

#define HOUR_MS ((int64_t)3600 * 1000)

/* One person's recent accesses, for volume-spike, and their coverage. */
typedef struct person {
    const char *key; /* pool string */
    int64_t *t;      /* ring of access times within the window */
    long *w;         /* and their weights (a session line counts its events) */
    size_t head, n, cap;
    long in_window; /* sum of the weights in the ring */
    long before;    /* accesses that left the window */
    long accesses, explained;
    /* the roster rows of the person, looked up once */
    int staff_known, tried_id;
    const aod_staff *st;
    size_t n_st;
    const char *skey;
    /* the pool strings of their recent evidence: a person's lines repeat
     * a few combinations, and interning each line's anew costs a hash of
     * the whole text */
    const char *evidence[8];
    unsigned next_evidence;
} person;

struct aod_flags {
    const aod_report_info *info;
    const aod_policy *p;
    const aod_facts *facts;
    aod_strpool *pool;
    aod_entry_fn next;
    void *ctx;
    unsigned on; /* the policy's flags */
    person *people;
    size_t n_people, cap_people; /* open addressing, cap a power of two */
    aod_coverage *coverage;      /* built by aod_flags_summary */
    long accesses, explained, flagged;
    aod_buf ev; /* one line's evidence */
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

aod_flags *aod_flags_new(const aod_report_info *info, aod_strpool *pool, aod_entry_fn next,
                         void *ctx)
{
    aod_flags *f = calloc(1, sizeof *f);

    if (!f)
        return NULL;
    f->info = info;
    f->p = info->policy;
    f->facts = info->facts;
    f->pool = pool;
    f->next = next;
    f->ctx = ctx;
    f->on = info->policy->access_flags.enabled;
    aod_buf_init(&f->ev, 64 * 1024);
    return f;
}

void aod_flags_free(aod_flags *f)
{
    size_t i;

    if (!f)
        return;
    for (i = 0; i < f->cap_people; i++) {
        free(f->people[i].t);
        free(f->people[i].w);
    }
    free(f->people);
    free(f->coverage);
    aod_buf_free(&f->ev);
    free(f);
}

static person *person_get(aod_flags *f, const char *key)
{
    size_t i;

    if ((f->n_people + 1) * 2 > f->cap_people) {
        size_t cap = f->cap_people ? f->cap_people * 2 : 64, j;
        person *v = calloc(cap, sizeof *v);
        if (!v)
            return NULL;
        for (j = 0; j < f->cap_people; j++) {
            if (!f->people[j].key)
                continue;
            for (i = hash(f->people[j].key) & (cap - 1); v[i].key; i = (i + 1) & (cap - 1))
                ;
            v[i] = f->people[j];
        }
        free(f->people);
        f->people = v;
        f->cap_people = cap;
    }
    for (i = hash(key) & (f->cap_people - 1); f->people[i].key; i = (i + 1) & (f->cap_people - 1))
        if (strcmp(f->people[i].key, key) == 0)
            return &f->people[i];
    f->people[i].key = key;
    f->n_people++;
    return &f->people[i];
}

/* ---------------------------------------------------------- comparisons */

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Names compare without case (ASCII) and surrounding space. */
static int same_name(const char *a, const char *b)
{
    size_t na, nb, i;

    if (!a || !b)
        return 0;
    while (*a == ' ')
        a++;
    while (*b == ' ')
        b++;
    na = strlen(a);
    nb = strlen(b);
    while (na && a[na - 1] == ' ')
        na--;
    while (nb && b[nb - 1] == ' ')
        nb--;
    if (na != nb || na == 0)
        return 0;
    for (i = 0; i < na; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

static int addr_char(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

/* Addresses compare on their letters and digits, without case: "1 Main
 * St." and "1 main st" are one address. */
static int same_address(const char *a, const char *b)
{
    int any = 0;

    if (!a || !b)
        return 0;
    for (;;) {
        while (*a && !addr_char((unsigned char)*a))
            a++;
        while (*b && !addr_char((unsigned char)*b))
            b++;
        if (!*a || !*b)
            return !*a && !*b && any;
        if (lower((unsigned char)*a) != lower((unsigned char)*b))
            return 0;
        any = 1;
        a++;
        b++;
    }
}

/* ------------------------------------------------------------- evidence */

static int say(aod_flags *f, aod_entry *e, aod_access_flag flag, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int say(aod_flags *f, aod_entry *e, aod_access_flag flag, const char *fmt, ...)
{
    va_list ap;
    int rc;

    if (!(f->on & (1u << flag)))
        return 0;
    e->access_flags |= 1u << flag;
    if ((f->ev.len && aod_buf_add(&f->ev, "; ", 2) != 0) ||
        aod_buf_adds(&f->ev, aod_policy_access_flag_id(flag)) != 0 ||
        aod_buf_add(&f->ev, ": ", 2) != 0)
        return -1;
    if (!strchr(fmt, '%')) /* most evidence is a fixed phrase: no formatting */
        return aod_buf_adds(&f->ev, fmt);
    va_start(ap, fmt);
    rc = aod_buf_vprintf(&f->ev, fmt, ap);
    va_end(ap);
    return rc;
}

static const char *day_word(int wday)
{
    static const char *const w[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                     "Thursday", "Friday", "Saturday"};
    return wday >= 0 && wday < 7 ? w[wday] : "?";
}

/* --------------------------------------------------------------- checks */

static int is_self_audit(const aod_entry *e)
{
    return (e->flags & AOD_ENTRY_SELF_AUDIT) != 0;
}

static int is_emergency_purpose(const char *code)
{
    return code && (strcmp(code, "ETREAT") == 0 || strcmp(code, "ERTREAT") == 0 ||
                    strcmp(code, "BTG") == 0);
}

int aod_flags_is_emergency(const aod_entry *e)
{
    return (e->activity && strcmp(e->activity, "emergency-access") == 0) ||
           is_emergency_purpose(e->purpose_code);
}

static int own_key(const aod_flags *f, const aod_staff *s)
{
    size_t i, k;

    for (i = 0; i < s->n_patient_keys; i++)
        for (k = 0; k < f->info->n_patient_keys; k++)
            if (strcmp(s->patient_keys[i], f->info->patient_keys[k]) == 0)
                return (int)k + 1;
    return 0;
}

static int after_hours(aod_flags *f, aod_entry *e)
{
    time_t t = (time_t)(e->when_start / 1000 - (e->when_start % 1000 < 0 ? 1 : 0));
    struct tm tm;
    int minutes;
    const char *where;

    if (!localtime_r(&t, &tm))
        return 0;
    minutes = tm.tm_hour * 60 + tm.tm_min;
    if ((f->p->access_flags.days & (1u << tm.tm_wday)) &&
        minutes >= f->p->access_flags.hours_start && minutes < f->p->access_flags.hours_end)
        return 0;
    /* the line shows the time; the evidence names the day and the hours
     * (and so repeats, line after line) */
    if (!(f->p->access_flags.days & (1u << tm.tm_wday)))
        where = "not a working day;";
    else
        where = minutes < f->p->access_flags.hours_start ? "before" : "after";
    return say(f, e, AOD_AFLAG_AFTER_HOURS, "%s, %s the site hours %02d:%02d-%02d:%02d",
               day_word(tm.tm_wday), where, f->p->access_flags.hours_start / 60,
               f->p->access_flags.hours_start % 60, f->p->access_flags.hours_end / 60,
               f->p->access_flags.hours_end % 60) != 0
               ? -1
               : 0;
}

/* Adds the line to the person's window; fires volume-spike when the window
 * holds spike-min-count accesses and spike-factor times the usual rate. */
static int volume(aod_flags *f, person *who, aod_entry *e)
{
    int64_t win = (int64_t)f->p->access_flags.spike_window_hours * HOUR_MS;
    int64_t t = e->when_start;
    long weight = e->count > 0 ? e->count : 1;
    int64_t windows;

    while (who->n && who->t[who->head] <= t - win) {
        who->before += who->w[who->head];
        who->in_window -= who->w[who->head];
        who->head = (who->head + 1) % who->cap;
        who->n--;
    }
    if (who->n == who->cap) {
        size_t cap = who->cap ? who->cap * 2 : 16, i;
        int64_t *nt = malloc(cap * sizeof *nt);
        long *nw = malloc(cap * sizeof *nw);
        if (!nt || !nw) {
            free(nt);
            free(nw);
            return -1;
        }
        for (i = 0; i < who->n; i++) {
            nt[i] = who->t[(who->head + i) % who->cap];
            nw[i] = who->w[(who->head + i) % who->cap];
        }
        free(who->t);
        free(who->w);
        who->t = nt;
        who->w = nw;
        who->head = 0;
        who->cap = cap;
    }
    who->t[(who->head + who->n) % who->cap] = t;
    who->w[(who->head + who->n) % who->cap] = weight;
    who->n++;
    who->in_window += weight;
    /* the usual rate: the accesses before this window, per window of the
     * report period before it (at least one window) */
    windows = (t - win - f->info->from) / win;
    if (windows < 1)
        windows = 1;
    if (who->in_window < f->p->access_flags.spike_min_count ||
        (int64_t)who->in_window * windows < (int64_t)f->p->access_flags.spike_factor * who->before)
        return 0;
    return say(f, e, AOD_AFLAG_VOLUME_SPIKE,
               "%ld accesses within %d h; before them %ld in %lld earlier window%s of %d h",
               who->in_window, f->p->access_flags.spike_window_hours, who->before,
               (long long)windows, windows == 1 ? "" : "s", f->p->access_flags.spike_window_hours);
}

/* The roster rows of the line's person: under actor_key, else actor_id_key;
 * looked up once per person (keyed by actor_key), and once more when a line
 * of theirs first brings an identifier. */
static const aod_staff *staff_of(const aod_flags *f, const aod_entry *e, person *who, size_t *n,
                                 const char **key)
{
    const aod_staff *s = NULL;

    /* not found yet: an event of the same person that also carries the
     * identifier may still find them under it */
    if (who && who->staff_known && (who->n_st > 0 || !e->actor_id_key || who->tried_id)) {
        *n = who->n_st;
        *key = who->skey;
        return who->st;
    }
    *n = 0;
    *key = NULL;
    if (aod_facts_roster_loaded(f->facts)) {
        if (e->actor_key && (s = aod_facts_staff(f->facts, e->actor_key, n)) != NULL)
            *key = e->actor_key;
        else if (e->actor_id_key && (s = aod_facts_staff(f->facts, e->actor_id_key, n)) != NULL)
            *key = e->actor_id_key;
    }
    if (who) {
        who->staff_known = 1;
        who->tried_id |= e->actor_id_key != NULL;
        who->st = s;
        who->n_st = *n;
        who->skey = *key;
    }
    return s;
}

static int flag_line(aod_flags *f, aod_entry *e, person *who)
{
    const aod_patient_facts *pf = f->facts ? aod_facts_patient(f->facts) : NULL;
    const aod_staff *st, *self = NULL, *named = NULL, *housed = NULL;
    const char *skey;
    size_t n = 0, i;
    int self_k = 0, employed = 0, workforce;
    int64_t t = e->when_start;
    char d1[16], d2[16];

    st = staff_of(f, e, who, &n, &skey);
    for (i = 0; i < n; i++) {
        if (!self && (self_k = own_key(f, &st[i])) != 0)
            self = &st[i];
        if (pf && pf->known && !named && same_name(st[i].surname, pf->surname))
            named = &st[i];
        if (pf && pf->known && !housed && same_address(st[i].address, pf->address))
            housed = &st[i];
        if (st[i].start <= t && t < st[i].end)
            employed = 1;
    }
    workforce =
        n > 0 || (e->who.cls == AOD_ACTOR_WORKFORCE && e->actor_key &&
                  strncmp(e->actor_key, "Device/", 7) != 0 && !aod_facts_roster_loaded(f->facts));

    if (!self) {
        if (named && say(f, e, AOD_AFLAG_SAME_SURNAME,
                         "%s has the roster surname %s, as the patient", skey, named->surname) != 0)
            return -1;
        if (housed &&
            say(f, e, AOD_AFLAG_SAME_ADDRESS, "%s has the roster address %s, as the patient", skey,
                housed->address) != 0)
            return -1;
        if (pf && pf->employee && workforce &&
            say(f, e, AOD_AFLAG_CO_WORKER, "the patient is an employee (patient facts)") != 0)
            return -1;
    }
    if (pf && pf->vip &&
        say(f, e, AOD_AFLAG_VIP, "the record is VIP or restricted (patient facts)") != 0)
        return -1;
    if (self && say(f, e, AOD_AFLAG_SELF_ACCESS, "the roster lists %s as %s's own patient key",
                    f->info->patient_keys[self_k - 1], skey) != 0)
        return -1;
    if (!self && named && housed &&
        say(f, e, AOD_AFLAG_FAMILY, "%s shares the patient's surname and address", skey) != 0)
        return -1;
    if (n > 0 && !employed) {
        if (st[0].start == AOD_FACTS_NO_START)
            snprintf(d1, sizeof d1, "-");
        else
            aod_timefmt_date(st[0].start, d1, sizeof d1);
        if (st[n - 1].end == AOD_FACTS_NO_END)
            snprintf(d2, sizeof d2, "-");
        else
            aod_timefmt_date(st[n - 1].end - 1, d2, sizeof d2);
        if (say(f, e, AOD_AFLAG_OUTSIDE_EMPLOYMENT, "%s is on the roster from %s to %s%s", skey, d1,
                d2, n > 1 ? " (with gaps)" : "") != 0)
            return -1;
    }
    if (aod_facts_care_loaded(f->facts) && workforce && !self) {
        int64_t w = (int64_t)f->p->access_flags.care_window_hours * HOUR_MS;
        if (!aod_facts_care_around(f->facts, e->actor_key, e->actor_id_key, t, e->when_end, w) &&
            say(f, e, AOD_AFLAG_NO_RELATIONSHIP,
                "no care relationship or encounter of %s with the patient within %d h",
                skey ? skey : e->actor_key, f->p->access_flags.care_window_hours) != 0)
            return -1;
    }
    if ((f->on & (1u << AOD_AFLAG_AFTER_HOURS)) && after_hours(f, e) != 0)
        return -1;
    if ((f->on & (1u << AOD_AFLAG_VOLUME_SPIKE)) && who && volume(f, who, e) != 0)
        return -1;
    if (e->activity && strcmp(e->activity, "emergency-access") == 0) {
        if (say(f, e, AOD_AFLAG_EMERGENCY, "recorded as an emergency (break-glass) access") != 0)
            return -1;
    } else if (is_emergency_purpose(e->purpose_code) &&
               say(f, e, AOD_AFLAG_EMERGENCY, "emergency purpose %s", e->purpose_code) != 0)
        return -1;
    return 0;
}

/* A recorded purpose, a consent or authorization, or a care relationship
 * or encounter around the access. */
static int explained(const aod_flags *f, const aod_entry *e)
{
    int64_t w = (int64_t)f->p->access_flags.care_window_hours * HOUR_MS;

    if ((e->purpose_code && *e->purpose_code) || (e->purpose_display && *e->purpose_display))
        return 1;
    if (e->exclusion == AOD_EXCL_IV)
        return 1;
    return aod_facts_care_around(f->facts, e->actor_key, e->actor_id_key, e->when_start,
                                 e->when_end, w) != NULL;
}

int aod_flags_push(aod_flags *f, const aod_entry *in, aod_error *err)
{
    aod_entry e = *in;
    person *who = NULL;
    long weight = e.count > 0 ? e.count : 1;

    e.access_flags = 0;
    e.access_evidence = NULL;
    e.explained = 0;
    if (is_self_audit(&e))
        return f->next(f->ctx, &e, err);
    aod_buf_reset(&f->ev);
    if (e.actor_key && !(who = person_get(f, e.actor_key)))
        goto nomem;
    if (f->on && flag_line(f, &e, who) != 0)
        goto nomem;
    if (e.access_flags) {
        const char *ev = aod_buf_str(&f->ev);
        size_t k;
        for (k = 0; who && k < 8 && !e.access_evidence; k++)
            if (who->evidence[k] && strcmp(who->evidence[k], ev) == 0)
                e.access_evidence = who->evidence[k];
        if (!e.access_evidence) {
            e.access_evidence = aod_strpool_intern(f->pool, ev);
            if (!e.access_evidence)
                goto nomem;
            if (who)
                who->evidence[who->next_evidence++ % 8] = e.access_evidence;
        }
        f->flagged++;
    }
    e.explained = explained(f, &e);
    f->accesses += weight;
    if (e.explained)
        f->explained += weight;
    if (who) {
        who->accesses += weight;
        if (e.explained)
            who->explained += weight;
    }
    return f->next(f->ctx, &e, err);
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory flagging accesses");
    return -1;
}

static int coverage_cmp(const void *a, const void *b)
{
    const aod_coverage *x = a, *y = b;

    if (x->accesses != y->accesses)
        return x->accesses > y->accesses ? -1 : 1;
    return strcmp(x->who, y->who);
}

int aod_flags_summary(aod_flags *f, aod_report_summary *sum, aod_error *err)
{
    size_t i, n = 0;

    free(f->coverage);
    f->coverage = NULL;
    if (f->n_people) {
        f->coverage = calloc(f->n_people, sizeof *f->coverage);
        if (!f->coverage) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
            return -1;
        }
        for (i = 0; i < f->cap_people; i++) {
            if (!f->people[i].key || f->people[i].accesses == 0)
                continue;
            f->coverage[n].who = f->people[i].key;
            f->coverage[n].accesses = f->people[i].accesses;
            f->coverage[n].explained = f->people[i].explained;
            n++;
        }
        qsort(f->coverage, n, sizeof *f->coverage, coverage_cmp);
    }
    sum->coverage_accesses = f->accesses;
    sum->coverage_explained = f->explained;
    sum->coverage = f->coverage;
    sum->n_coverage = n;
    sum->flagged_lines = f->flagged;
    sum->flags_on = f->on != 0;
    return 0;
}
