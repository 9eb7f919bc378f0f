/*
 * test_dedup.c - stage "dedup": X-Request-Id merges, client/server pairs
 * and their window, search pages, sessions, the classes that never merge,
 * the output order on an interleaved stream, and the memory bound.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/dedup.h"
#include "testutil.h"

#define T0  ((int64_t)1709632800000) /* 2024-03-05T10:00:00Z */
#define SEC ((int64_t)1000)
#define MIN (60 * SEC)

typedef struct fixture {
    aod_policy policy;
    aod_strpool *pool;
    aod_dedup *d;
    tu_sink sink;
    int64_t next_id;
} fixture;

static int setup(void **state)
{
    fixture *f = tu_check(calloc(1, sizeof *f));

    f->policy.dedup.pair_window_seconds = 5;
    f->policy.dedup.page_window_seconds = 300;
    f->policy.dedup.sessions = 0;
    f->policy.dedup.session_gap_minutes = 30;
    f->pool = tu_check(aod_strpool_new());
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    aod_dedup_free(f->d);
    aod_strpool_free(f->pool);
    tu_sink_free(&f->sink);
    free(f);
    return 0;
}

static void start(fixture *f)
{
    f->d = aod_dedup_new(&f->policy, f->pool, tu_sink_fn, &f->sink);
    assert_non_null(f->d);
}

/* A line as classify would give it; record ids count up from 1. */
static aod_entry mk(fixture *f, int64_t ms, aod_class cls, char action, const char *observer,
                    const char *data_ref, const char *actor, const char *xrid, const char *query)
{
    aod_entry e;

    tu_entry(&e, f->pool, ms, cls, action, ++f->next_id);
    e.observer = tu_s(f->pool, observer);
    e.data_ref = tu_s(f->pool, data_ref);
    e.actor_key = tu_s(f->pool, actor);
    e.x_request_id = tu_s(f->pool, xrid);
    e.query = tu_s(f->pool, query);
    if (data_ref) {
        char kind[64];
        size_t n = strcspn(data_ref, "/");

        memcpy(kind, data_ref, n);
        kind[n] = '\0';
        e.data_kinds = tu_s(f->pool, kind);
        e.data = e.data_kinds;
    }
    if (cls == AOD_CLASS_FAILED)
        e.flags |= AOD_ENTRY_FAILED;
    return e;
}

static void push(fixture *f, const aod_entry *e)
{
    aod_error err;

    aod_error_init(&err);
    assert_int_equal(aod_dedup_push(f->d, e, &err), 0);
}

static void finish(fixture *f)
{
    aod_error err;

    aod_error_init(&err);
    assert_int_equal(aod_dedup_finish(f->d, &err), 0);
    assert_int_equal(aod_dedup_pending(f->d), 0);
    assert_int_equal(aod_dedup_groups(f->d), (long)f->sink.n);
}

/* Pushes a read of Observation/1 by dr1 recorded by observer at ms. */
static void read_at(fixture *f, int64_t ms, const char *observer, const char *xrid)
{
    aod_entry e = mk(f, ms, AOD_CLASS_INTERNAL, 'R', observer, "Observation/1", "Practitioner/dr1",
                     xrid, NULL);
    push(f, &e);
}

/* -------------------------------------------------------------- X-Request */

static void test_xrid_pair(void **state)
{
    fixture *f = *state;
    aod_entry *l;

    start(f);
    read_at(f, T0, "Device/client", "req-1");
    read_at(f, T0 + 300, "Device/server", "req-1");
    finish(f);
    assert_int_equal(f->sink.n, 1);
    l = &f->sink.v[0];
    assert_int_equal(l->count, 1);
    assert_int_equal(l->raw_count, 2);
    assert_int_equal(l->n_record_ids, 2);
    assert_int_equal(l->record_ids[0], 1);
    assert_int_equal(l->record_ids[1], 2);
    assert_int_equal(l->group, 1);
    assert_int_equal(l->when_start, T0);
    assert_int_equal(l->when_end, T0 + 300);
    assert_int_equal(l->recorded, T0);
    assert_false(l->flags & AOD_ENTRY_SESSION);
}

/* Same X-Request-Id but far apart (beyond the page window): a server that
 * reuses ids; and one far outside any pairing window still merges by id. */
static void test_xrid_window(void **state)
{
    fixture *f = *state;

    start(f);
    read_at(f, T0, "Device/client", "req-1");
    read_at(f, T0 + 60 * SEC, "Device/server", "req-1"); /* skewed clock: merged */
    read_at(f, T0 + 30 * MIN, "Device/server", "req-1"); /* reused id: new */
    finish(f);
    assert_int_equal(f->sink.n, 2);
    assert_int_equal(f->sink.v[0].raw_count, 2);
    assert_int_equal(f->sink.v[1].raw_count, 1);
    assert_int_equal(f->sink.v[1].group, 2);
}

/* ------------------------------------------------------ client/server pair */

static void test_pair_window(void **state)
{
    fixture *f = *state;
    aod_entry e;

    start(f);
    /* within 5 s, different observers: one event */
    read_at(f, T0, "Device/client", NULL);
    read_at(f, T0 + 3 * SEC, "Device/server", NULL);
    /* 7 s apart: two */
    read_at(f, T0 + 10 * MIN, "Device/client", NULL);
    read_at(f, T0 + 10 * MIN + 7 * SEC, "Device/server", NULL);
    /* same observer twice: two (a user reading twice) */
    read_at(f, T0 + 20 * MIN, "Device/server", NULL);
    read_at(f, T0 + 20 * MIN + 1 * SEC, "Device/server", NULL);
    /* server lacks the user: still one */
    read_at(f, T0 + 30 * MIN, "Device/client", NULL);
    e = mk(f, T0 + 30 * MIN + 1 * SEC, AOD_CLASS_INTERNAL, 'R', "Device/server", "Observation/1",
           NULL, NULL, NULL);
    push(f, &e);
    /* different users: two */
    read_at(f, T0 + 40 * MIN, "Device/client", NULL);
    e = mk(f, T0 + 40 * MIN + 1 * SEC, AOD_CLASS_INTERNAL, 'R', "Device/server", "Observation/1",
           "Practitioner/dr2", NULL, NULL);
    push(f, &e);
    /* different X-Request-Ids: two requests */
    read_at(f, T0 + 50 * MIN, "Device/client", "a");
    read_at(f, T0 + 50 * MIN + 1 * SEC, "Device/server", "b");
    finish(f);

    assert_int_equal(f->sink.n, 10);
    assert_int_equal(f->sink.v[0].raw_count, 2);
    assert_int_equal(f->sink.v[0].count, 1);
    assert_int_equal(f->sink.v[1].raw_count, 1);
    assert_int_equal(f->sink.v[2].raw_count, 1);
    assert_int_equal(f->sink.v[3].raw_count, 1);
    assert_int_equal(f->sink.v[4].raw_count, 1);
    assert_int_equal(f->sink.v[5].raw_count, 2);
    /* the merged line keeps the client's user */
    assert_string_equal(f->sink.v[5].actor_key, "Practitioner/dr1");
    assert_int_equal(f->sink.v[6].raw_count, 1);
    assert_int_equal(f->sink.v[7].raw_count, 1);
    assert_int_equal(f->sink.v[8].raw_count, 1);
    assert_int_equal(f->sink.v[9].raw_count, 1);
    assert_int_equal(f->sink.v[9].group, 10);
    assert_int_equal(f->sink.v[9].recorded, T0 + 50 * MIN + 1 * SEC);
}

/* A disclosure (client side knew the recipient is outside) and the
 * server's internal-looking record: merged, the disclosure wins. */
static void test_pair_classes(void **state)
{
    fixture *f = *state;
    aod_entry a, b;

    start(f);
    a = mk(f, T0, AOD_CLASS_INTERNAL, 'R', "Device/server", "Observation/1", "Practitioner/dr1",
           "r1", NULL);
    a.rule_id = tu_s(f->pool, "no-purpose-internal");
    a.flags |= AOD_ENTRY_PURPOSE_UNKNOWN;
    a.where = tu_s(f->pool, "FHIR server");
    b = mk(f, T0 + 200, AOD_CLASS_DISCLOSURE, 'R', "Device/gateway", "Observation/1",
           "Practitioner/dr1", "r1", NULL);
    b.rule_id = tu_s(f->pool, "public-health");
    b.purpose_code = tu_s(f->pool, "PUBHLTH");
    b.who.reference = tu_s(f->pool, "Organization/agency");
    b.data_kinds = tu_s(f->pool, "Observation,Condition");
    push(f, &a);
    push(f, &b);
    /* a failed attempt with the same id stays apart */
    a = mk(f, T0 + 300, AOD_CLASS_FAILED, 'R', "Device/client", "Observation/1", "Practitioner/dr1",
           "r1", NULL);
    push(f, &a);
    finish(f);
    assert_int_equal(f->sink.n, 2);
    assert_int_equal(f->sink.v[0].cls, AOD_CLASS_DISCLOSURE);
    assert_string_equal(f->sink.v[0].rule_id, "public-health");
    assert_string_equal(f->sink.v[0].purpose_code, "PUBHLTH");
    assert_false(f->sink.v[0].flags & AOD_ENTRY_PURPOSE_UNKNOWN);
    assert_string_equal(f->sink.v[0].who.reference, "Organization/agency");
    assert_string_equal(f->sink.v[0].where, "FHIR server"); /* filled from the other */
    assert_string_equal(f->sink.v[0].data_kinds, "Observation,Condition");
    assert_int_equal(f->sink.v[0].raw_count, 2);
    assert_int_equal(f->sink.v[0].recorded, T0);
    assert_int_equal(f->sink.v[1].cls, AOD_CLASS_FAILED);
    assert_int_equal(f->sink.v[1].raw_count, 1);
}

/* -------------------------------------------------------------- searches */

static void test_search_pages(void **state)
{
    fixture *f = *state;
    static const char *const q[] = {
        "Observation?patient=p1&category=laboratory",
        "Observation?_getpages=f00&_getpagesoffset=20&_count=20",
        "Observation?_getpages=f00&_getpagesoffset=40&_count=20",
        "Observation?_getpages=f00&_getpagesoffset=60&_count=20",
    };
    aod_entry e;
    int i;

    start(f);
    for (i = 0; i < 4; i++) {
        e = mk(f, T0 + i * 40 * SEC, AOD_CLASS_INTERNAL, 'E', "Device/server", NULL,
               "Practitioner/dr1", NULL, q[i]);
        push(f, &e);
    }
    /* another user's search in between is not part of it */
    e = mk(f, T0 + 50 * SEC, AOD_CLASS_INTERNAL, 'E', "Device/server", NULL, "Practitioner/dr2",
           NULL, q[0]);
    push(f, &e);
    /* the same search again 10 minutes after the last page: a new one */
    e = mk(f, T0 + 120 * SEC + 10 * MIN, AOD_CLASS_INTERNAL, 'E', "Device/server", NULL,
           "Practitioner/dr1", NULL, q[0]);
    push(f, &e);
    finish(f);
    assert_int_equal(f->sink.n, 3);
    assert_int_equal(f->sink.v[0].raw_count, 4);
    assert_int_equal(f->sink.v[0].count, 1);
    assert_string_equal(f->sink.v[0].query, q[0]);
    assert_int_equal(f->sink.v[0].when_end, T0 + 120 * SEC);
    assert_string_equal(f->sink.v[1].actor_key, "Practitioner/dr2");
    assert_int_equal(f->sink.v[2].raw_count, 1);
}

/* -------------------------------------------------------------- sessions */

static void session_stream(fixture *f)
{
    static const char *const refs[] = {"Observation/1", "Condition/2", "Observation/3"};
    aod_entry e;
    int i;

    for (i = 0; i < 3; i++) {
        e = mk(f, T0 + i * 5 * MIN, AOD_CLASS_INTERNAL, 'R', "Device/server", refs[i],
               "Practitioner/dr1", NULL, NULL);
        push(f, &e);
    }
    /* a disclosure in between belongs to no session */
    e = mk(f, T0 + 6 * MIN, AOD_CLASS_DISCLOSURE, 'R', "Device/server", "Observation/1",
           "Practitioner/dr1", NULL, NULL);
    push(f, &e);
    /* 40 minutes after the last: a new session */
    e = mk(f, T0 + 50 * MIN, AOD_CLASS_INTERNAL, 'U', "Device/server", "Observation/1",
           "Practitioner/dr1", NULL, NULL);
    push(f, &e);
    finish(f);
}

static void test_sessions_off(void **state)
{
    fixture *f = *state;

    start(f);
    session_stream(f);
    assert_int_equal(f->sink.n, 5);
    assert_false(f->sink.v[0].flags & AOD_ENTRY_SESSION);
}

static void test_sessions_on(void **state)
{
    fixture *f = *state;
    aod_entry *s;

    f->policy.dedup.sessions = 1;
    start(f);
    session_stream(f);
    assert_int_equal(f->sink.n, 3);
    s = &f->sink.v[0];
    assert_true(s->flags & AOD_ENTRY_SESSION);
    assert_int_equal(s->cls, AOD_CLASS_INTERNAL);
    assert_int_equal(s->count, 3);
    assert_int_equal(s->raw_count, 3);
    assert_int_equal(s->n_record_ids, 3);
    assert_int_equal(s->first, T0);
    assert_int_equal(s->last, T0 + 10 * MIN);
    assert_int_equal(s->when_end, T0 + 10 * MIN);
    assert_string_equal(s->data_kinds, "Observation,Condition");
    assert_null(s->data_ref); /* the events differ */
    assert_int_equal(s->action, 'R');
    assert_int_equal(s->group, 1);
    /* the disclosure, on its own, after the session that started earlier */
    assert_int_equal(f->sink.v[1].cls, AOD_CLASS_DISCLOSURE);
    assert_int_equal(f->sink.v[1].group, 2);
    /* the later access alone: no session flag */
    assert_false(f->sink.v[2].flags & AOD_ENTRY_SESSION);
    assert_int_equal(f->sink.v[2].action, 'U');
}

/* ----------------------------------------------------------- pass-through */

static void test_out_of_scope_passes(void **state)
{
    fixture *f = *state;
    aod_entry e;

    start(f);
    read_at(f, T0, "Device/client", "x");
    e = mk(f, T0 + 100, AOD_CLASS_OUT_OF_SCOPE, 'R', "Device/server", "Observation/1",
           "Practitioner/dr1", "x", NULL);
    push(f, &e);
    read_at(f, T0 + 200, "Device/server", "x");
    finish(f);
    assert_int_equal(f->sink.n, 2);
    assert_int_equal(f->sink.v[0].raw_count, 2);
    assert_int_equal(f->sink.v[0].group, 1);
    assert_int_equal(f->sink.v[1].cls, AOD_CLASS_OUT_OF_SCOPE);
    assert_int_equal(f->sink.v[1].record_ids[0], 2);
    assert_int_equal(f->sink.v[1].group, 2);
}

static void test_sink_error(void **state)
{
    fixture *f = *state;
    aod_error err;

    f->sink.fail_at = 1;
    start(f);
    read_at(f, T0, "Device/client", NULL);
    aod_error_init(&err);
    assert_int_equal(aod_dedup_finish(f->d, &err), -1);
    assert_int_equal(err.code, AOD_ERR_IO);
}

/* ---------------------------------------------------------- order, memory */

/* A small deterministic generator. */
static uint32_t rnd(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* An interleaved stream: 20 users, client and server records (sometimes one
 * side only, sometimes with an X-Request-Id), pages, ties. */
static void interleaved(fixture *f, int n, int64_t step_ms, uint32_t seed)
{
    static const char *const obs[] = {"Device/client", "Device/server"};
    int64_t t = T0;
    int i = 0;

    while (i < n) {
        char actor[32], ref[32], xrid[32];
        uint32_t r = rnd(&seed);
        int sides = r % 3 == 0 ? 1 : 2, k;
        aod_class cls = r % 11 == 0   ? AOD_CLASS_DISCLOSURE
                        : r % 13 == 0 ? AOD_CLASS_FAILED
                                      : AOD_CLASS_INTERNAL;

        snprintf(actor, sizeof actor, "Practitioner/u%u", (unsigned)(r % 20));
        snprintf(ref, sizeof ref, "Observation/%u", (unsigned)(rnd(&seed) % 50));
        snprintf(xrid, sizeof xrid, "x%d", i);
        for (k = 0; k < sides && i < n; k++, i++) {
            aod_entry e =
                mk(f, t + k * (int64_t)(rnd(&seed) % 3000), cls, r % 5 ? 'R' : 'E', obs[k], ref,
                   actor, r % 2 ? xrid : NULL, r % 5 ? NULL : "Observation?code=x");
            push(f, &e);
        }
        t += (int64_t)(rnd(&seed) % (uint32_t)step_ms);
    }
}

static void check_order_and_ids(fixture *f, int n)
{
    char *seen = tu_check(calloc((size_t)n + 1, 1));
    long raw = 0;
    size_t i, k;

    for (i = 0; i < f->sink.n; i++) {
        const aod_entry *e = &f->sink.v[i];

        if (i)
            assert_true(e->recorded >= f->sink.v[i - 1].recorded);
        assert_int_equal(e->group, (long)i + 1);
        assert_int_equal(e->n_record_ids, (size_t)e->raw_count);
        raw += e->raw_count;
        for (k = 0; k < e->n_record_ids; k++) {
            int64_t id = e->record_ids[k];
            assert_true(id >= 1 && id <= n);
            assert_int_equal(seen[id], 0);
            seen[id] = 1;
        }
    }
    assert_int_equal(raw, n);
    free(seen);
}

/* 1,000 records generated with jitter (client and server, ties, searches,
 * X-Request-Ids) and sorted by recorded, as the store delivers them. */
static void test_order_interleaved(void **state)
{
    fixture *f = *state;
    aod_entry *v;
    size_t n = 1000, i, j;
    uint32_t seed = 7;
    int64_t t = T0;

    v = tu_check(calloc(n, sizeof *v));
    for (i = 0; i < n; i++) {
        uint32_t r = rnd(&seed);
        char actor[32], ref[32];

        snprintf(actor, sizeof actor, "Practitioner/u%u", (unsigned)(r % 20));
        snprintf(ref, sizeof ref, "Observation/%u", (unsigned)(rnd(&seed) % 30));
        v[i] = mk(f, t + (int64_t)(rnd(&seed) % 4000),
                  r % 9 == 0 ? AOD_CLASS_EXCLUDED : AOD_CLASS_INTERNAL, r % 4 ? 'R' : 'E',
                  i % 2 ? "Device/server" : "Device/client", ref, actor, r % 3 ? NULL : actor,
                  r % 4 ? NULL : "Observation?code=x");
        if (rnd(&seed) % 4 == 0)
            t += (int64_t)(rnd(&seed) % 20000);
    }
    /* insertion sort by recorded keeps ties in generation order */
    for (i = 1; i < n; i++) {
        aod_entry x = v[i];
        for (j = i; j > 0 && v[j - 1].recorded > x.recorded; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
    start(f);
    for (i = 0; i < n; i++)
        push(f, &v[i]);
    finish(f);
    assert_true(f->sink.n < n); /* something merged */
    assert_true(f->sink.n > n / 10);
    check_order_and_ids(f, (int)n);

    /* the same with sessions on */
    tu_sink_free(&f->sink);
    aod_dedup_free(f->d);
    f->policy.dedup.sessions = 1;
    start(f);
    for (i = 0; i < n; i++)
        push(f, &v[i]);
    finish(f);
    check_order_and_ids(f, (int)n);
    free(v);
}

/* Issue 15, point 10: one interface engine writes 30,000 records of one
 * patient at one instant, each naming another user, none merging.  The walk
 * over every open line made this quadratic (27 s here, 40,000: over a
 * minute); indexed it takes a fraction of a second.  The last record is the
 * server's side of the first: it must still find it among all the others. */
static void test_burst_one_instant(void **state)
{
    fixture *f = *state;
    const char *vg = getenv("AOD_VALGRIND");
    struct timespec t0, t1;
    double secs;
    aod_entry e;
    char actor[48];
    int i, n = 30000;

    if (vg && *vg)
        skip(); /* a timing test: valgrind is 50 times slower */
    start(f);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < n; i++) {
        snprintf(actor, sizeof actor, "Practitioner/p%d", i);
        e = mk(f, T0, AOD_CLASS_INTERNAL, 'R', "Device/client", "Observation/1", actor, NULL, NULL);
        push(f, &e);
    }
    e = mk(f, T0 + 100, AOD_CLASS_INTERNAL, 'R', "Device/server", "Observation/1",
           "Practitioner/p0", NULL, NULL);
    push(f, &e);
    finish(f);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_int_equal(f->sink.n, n);
    assert_int_equal(f->sink.v[0].raw_count, 2);
    assert_string_equal(f->sink.v[0].actor_key, "Practitioner/p0");
    assert_int_equal(f->sink.v[1].raw_count, 1);
    if (secs > 5.0)
        fail_msg("%d records at one instant took %.1f s: quadratic again?", n, secs);
}

/* 200,000 records over about 70 days: lines leave as the input moves on,
 * and what is held stays small. */
static void memory_run(fixture *f, int sessions)
{
    const int n = 200000;
    size_t max_pending = 0;
    int i;
    uint32_t seed = 11;
    int64_t t = T0;

    f->policy.dedup.sessions = sessions;
    start(f);
    for (i = 0; i < n; i++) {
        char actor[32], ref[32];
        uint32_t r = rnd(&seed);
        aod_entry e;

        snprintf(actor, sizeof actor, "Practitioner/u%u", (unsigned)(r % 50));
        snprintf(ref, sizeof ref, "Observation/%u", (unsigned)(r % 1000));
        e = mk(f, t, AOD_CLASS_INTERNAL, r % 6 ? 'R' : 'E', i % 2 ? "Device/a" : "Device/b", ref,
               actor, NULL, r % 6 ? NULL : "Observation?code=x");
        push(f, &e);
        if (aod_dedup_pending(f->d) > max_pending)
            max_pending = aod_dedup_pending(f->d);
        t += 30 * SEC;
    }
    /* nearly everything left before finish */
    assert_true(f->sink.n > (size_t)(sessions ? n / 100 : n / 2));
    assert_true(aod_dedup_pending(f->d) < 2000);
    finish(f);
    check_order_and_ids(f, n);
    print_message("sessions %d: %zu lines, at most %zu held\n", sessions, f->sink.n, max_pending);
    /* bounded by windows: 5 min of pages at 2 records a minute, or with
     * sessions 12 h of 50 users' lines, far below n */
    assert_true(max_pending < (sessions ? 2000u : 50u));
}

static void test_memory_bounded(void **state)
{
    memory_run(*state, 0);
}

static void test_memory_bounded_sessions(void **state)
{
    memory_run(*state, 1);
}

static void test_interleaved_small(void **state)
{
    fixture *f = *state;

    start(f);
    interleaved(f, 3000, 5000, 3);
    finish(f);
    check_order_and_ids(f, 3000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_xrid_pair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xrid_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pair_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pair_classes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessions_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessions_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_scope_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_interleaved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interleaved_small, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_bounded_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_burst_one_instant, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
