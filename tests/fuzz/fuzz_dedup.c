/*
 * fuzz_dedup.c - libFuzzer target: the de-duplication indexes.  Built with
 * -DAOD_DEDUP_CHECK (tests/fuzz/build.sh), which makes dedup.c compare the
 * line every index finds with the old walk over all open lines and abort on
 * a difference.  The first bytes choose the policy's windows and sessions;
 * then each 4 bytes make a record: the time step (mostly none: bursts at
 * one instant), class, action, and which of a few observers, users, data,
 * X-Request-Ids and queries it names.  No seeds needed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/strpool.h"
#include "model/policy.h"
#include "pipeline/dedup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(void *ctx, const aod_entry *e, aod_error *err)
{
    (void)ctx, (void)e, (void)err;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const obs[] = {NULL, "Device/client", "Device/server", "Device/other"};
    static const char *const actor[] = {NULL, "Practitioner/a", "Practitioner/b", "Device/c"};
    static const char *const ref[] = {NULL, "Observation/1", "Patient/2", "Condition/3"};
    static const char *const xrid[] = {NULL, "x-1", "x-2", "x-3"};
    static const char *const query[] = {NULL, "name=a", "name=b", "_getpages=p1"};
    static const char actions[] = {'C', 'R', 'U', 'D', 'E', 'E', 'R', 0};
    aod_policy p;
    aod_strpool *pool;
    aod_dedup *d;
    aod_error err;
    int64_t t = INT64_C(1700000000000), id = 0;
    size_t i;

    if (size < 3)
        return 0;
    memset(&p, 0, sizeof p);
    p.dedup.pair_window_seconds = data[0] % 8;
    p.dedup.page_window_seconds = (data[1] % 8) * 40;
    p.dedup.sessions = data[2] & 1;
    p.dedup.session_gap_minutes = 1 + data[2] / 8;
    pool = aod_strpool_new();
    d = pool ? aod_dedup_new(&p, pool, sink, NULL) : NULL;
    if (!d)
        abort();
    aod_error_init(&err);
    for (i = 3; i + 4 <= size; i += 4) {
        const uint8_t *b = data + i;
        aod_entry e;

        memset(&e, 0, sizeof e);
        if (b[0] & 0x80) /* a step forward: up to about 17 minutes */
            t += (int64_t)(b[0] & 0x7f) * (b[0] & 0x40 ? 8000 : 300);
        e.recorded = t - ((b[3] & 0xc0) == 0xc0 ? 2000 : 0); /* now and then late */
        e.when_start = e.when_end = e.first = e.last = e.recorded;
        e.count = e.raw_count = 1;
        e.cls = (aod_class)(b[1] % AOD_CLASS_COUNT);
        e.action = actions[(b[1] >> 3) & 7];
        e.observer = obs[(b[1] >> 6) & 3];
        e.actor_key = actor[b[2] & 3];
        e.data_ref = ref[(b[2] >> 2) & 3];
        e.x_request_id = xrid[(b[2] >> 4) & 3];
        e.query = query[(b[2] >> 6) & 3];
        e.data_kinds = (b[3] & 1) ? "Observation" : "Patient";
        e.flags = (b[3] & 2) ? AOD_ENTRY_PURPOSE_UNKNOWN : 0;
        id++;
        e.record_ids = &id;
        e.n_record_ids = 1;
        if (aod_dedup_push(d, &e, &err) != 0)
            abort();
    }
    if (aod_dedup_finish(d, &err) != 0)
        abort();
    aod_dedup_free(d);
    aod_strpool_free(pool);
    return 0;
}
