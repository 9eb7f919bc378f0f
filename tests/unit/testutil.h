/*
 * testutil.h - helpers shared by the unit tests: build records field by
 * field, build report lines, load policies, collect the lines a stage emits.
 *
 * Header only (static inline, so a test that uses a few of them compiles
 * without unused-function warnings).  Helpers abort on out of memory or on
 * a malformed argument: a test's own setup failing is not a test result.
 * Names start with tu_.
 */
#ifndef AOD_TESTUTIL_H
#define AOD_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "model/policy.h"
#include "model/record.h"
#include "model/entry.h"
#include "base/strpool.h"

#define TU_DCM              "http://dicom.nema.org/resources/ontology/DCM"
#define TU_EVENT_TYPE       "http://terminology.hl7.org/CodeSystem/audit-event-type"
#define TU_RESTFUL          "http://hl7.org/fhir/restful-interaction"
#define TU_LIFECYCLE        "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
#define TU_OBJECT_ROLE      "http://terminology.hl7.org/CodeSystem/object-role"
#define TU_ENTITY_TYPE      "http://terminology.hl7.org/CodeSystem/audit-entity-type"
#define TU_BALP_ENTITY_TYPE "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
#define TU_ACT_REASON       "http://terminology.hl7.org/CodeSystem/v3-ActReason"
#define TU_PARTICIPATION    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"

static inline void tu_die(const char *what)
{
    fprintf(stderr, "test setup failed: %s\n", what);
    abort();
}

static inline void *tu_check(void *p)
{
    if (!p)
        tu_die("out of memory");
    return p;
}

/* ------------------------------------------------------------------ time */

/* A FHIR instant as milliseconds since the epoch. */
static inline int64_t tu_time(const char *iso)
{
    int64_t ms;

    if (aod_time_parse(iso, &ms) != 0)
        tu_die(iso);
    return ms;
}

/* ---------------------------------------------------------------- records */

static inline const char *tu_str(aod_record *r, const char *s)
{
    return s ? tu_check((void *)(uintptr_t)aod_record_strdup(r, s)) : NULL;
}

static inline void tu_code(aod_record *r, aod_codings *list, const char *system, const char *code,
                           const char *display)
{
    if (aod_codings_add(r, list, system, code, display) != 0)
        tu_die("aod_codings_add");
}

/* A new record: recorded (and when) at iso, the action letter (0: none),
 * outcome "0".  Free with aod_record_free(). */
static inline aod_record *tu_record(const char *iso, char action)
{
    aod_record *r = tu_check(aod_record_new());

    r->version = AOD_FHIR_R4;
    r->recorded = tu_time(iso);
    r->when_start = r->when_end = r->recorded;
    r->action = action;
    r->outcome = tu_str(r, "0");
    return r;
}

/* Fills a reference: ref ("Practitioner/1", may be NULL) and display. */
static inline void tu_ref(aod_record *r, aod_ref *out, const char *ref, const char *display)
{
    const char *slash = ref ? strchr(ref, '/') : NULL;

    memset(out, 0, sizeof *out);
    out->reference = tu_str(r, ref);
    out->display = tu_str(r, display);
    if (slash)
        out->type = tu_check((void *)(uintptr_t)aod_record_strndup(r, ref, (size_t)(slash - ref)));
}

static inline void tu_ident(aod_record *r, aod_ref *out, const char *system, const char *value)
{
    out->id_system = tu_str(r, system);
    out->id_value = tu_str(r, value);
}

/* Grows an arena array of n elements by one zeroed element. */
static inline void *tu_grow(aod_record *r, void *v, size_t n, size_t elem)
{
    unsigned char *fresh = tu_check(aod_record_alloc(r, (n + 1) * elem));

    if (n)
        memcpy(fresh, v, n * elem);
    return fresh;
}

/* Appends an agent and returns it.  Earlier agent pointers of r are stale
 * afterwards: finish one agent before adding the next. */
static inline aod_agent *tu_agent(aod_record *r, const char *who_ref, const char *display,
                                  int requestor)
{
    aod_agent *a;

    r->agents = tu_grow(r, r->agents, r->n_agents, sizeof *r->agents);
    a = &r->agents[r->n_agents++];
    tu_ref(r, &a->who, who_ref, display);
    a->requestor = requestor;
    return a;
}

static inline void tu_agent_policy(aod_record *r, aod_agent *a, const char *uri)
{
    const char **v = tu_grow(r, (void *)a->policy, a->n_policy, sizeof *v);

    v[a->n_policy++] = tu_str(r, uri);
    a->policy = v;
}

/* Appends an entity (what_ref may be NULL) with an object-role code (NULL:
 * none) and returns it; the same staleness rule as tu_agent. */
static inline aod_entity *tu_entity(aod_record *r, const char *what_ref, const char *role)
{
    aod_entity *e;

    r->entities = tu_grow(r, r->entities, r->n_entities, sizeof *r->entities);
    e = &r->entities[r->n_entities++];
    tu_ref(r, &e->what, what_ref, NULL);
    if (role) {
        e->role.system = tu_str(r, TU_OBJECT_ROLE);
        e->role.code = tu_str(r, role);
    }
    return e;
}

/* The BALP patient entity (role 1, type 1 Person) plus the patient key. */
static inline void tu_patient(aod_record *r, const char *patient_ref)
{
    aod_entity *e = tu_entity(r, patient_ref, "1");

    e->type.system = tu_str(r, TU_ENTITY_TYPE);
    e->type.code = tu_str(r, "1");
    if (aod_record_add_patient_key(r, patient_ref) != 0)
        tu_die("patient key");
}

/* The BALP X-Request-Id entity and the record's x_request_id. */
static inline void tu_xrid(aod_record *r, const char *value)
{
    aod_entity *e = tu_entity(r, NULL, NULL);

    e->type.system = tu_str(r, TU_BALP_ENTITY_TYPE);
    e->type.code = tu_str(r, "XrequestId");
    e->what.id_value = tu_str(r, value);
    r->x_request_id = tu_str(r, value);
}

/* A query entity (role 24) with the cleaned-up search string. */
static inline void tu_query(aod_record *r, const char *description)
{
    aod_entity *e = tu_entity(r, NULL, "24");

    e->description = tu_str(r, description);
    e->has_query = 1;
}

/* ---------------------------------------------------------------- entries */

/* A plain classified line: cls, action, recorded (== when) at ms, one record
 * id.  Strings stay NULL: set them with tu_s().  The id array lives in pool. */
static inline void tu_entry(aod_entry *e, aod_strpool *pool, int64_t ms, aod_class cls, char action,
                            int64_t record_id)
{
    int64_t *ids = tu_check(aod_strpool_alloc(pool, sizeof *ids));

    memset(e, 0, sizeof *e);
    e->when_start = e->when_end = e->first = e->last = e->recorded = ms;
    e->cls = cls;
    e->action = action;
    e->count = e->raw_count = 1;
    ids[0] = record_id;
    e->record_ids = ids;
    e->n_record_ids = 1;
}

/* s interned in pool (NULL stays NULL). */
static inline const char *tu_s(aod_strpool *pool, const char *s)
{
    return s ? tu_check((void *)(uintptr_t)aod_strpool_intern(pool, s)) : NULL;
}

/* ---------------------------------------------------------------- sinks */

/* Collects the lines a stage emits, with copies of their record ids. */
typedef struct tu_sink {
    aod_entry *v;
    size_t n, cap;
    int fail_at; /* return -1 for line number fail_at (1-based); 0: never */
} tu_sink;

static inline int tu_sink_fn(void *ctx, const aod_entry *e, aod_error *err)
{
    tu_sink *s = ctx;
    int64_t *ids = NULL;

    if (s->fail_at && (size_t)s->fail_at == s->n + 1) {
        aod_error_set(err, AOD_ERR_IO, "test", 0, NULL, "sink refused line %zu", s->n + 1);
        return -1;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = tu_check(realloc(s->v, s->cap * sizeof *s->v));
    }
    if (e->n_record_ids) {
        ids = tu_check(malloc(e->n_record_ids * sizeof *ids));
        memcpy(ids, e->record_ids, e->n_record_ids * sizeof *ids);
    }
    s->v[s->n] = *e;
    s->v[s->n].record_ids = ids;
    s->n++;
    return 0;
}

static inline void tu_sink_free(tu_sink *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        free((void *)(uintptr_t)s->v[i].record_ids);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* --------------------------------------------------------------- policies */

static inline const char *tu_top_srcdir(void)
{
    const char *top = getenv("top_srcdir");

    return top && *top ? top : ".";
}

/* Loads top_srcdir/relpath against data/policy.xsd; aborts on failure. */
static inline aod_policy *tu_policy_file(const char *relpath)
{
    char path[1024], xsd[1024], msg[1024];
    aod_error err;
    aod_policy *p;

    snprintf(path, sizeof path, "%s/%s", tu_top_srcdir(), relpath);
    snprintf(xsd, sizeof xsd, "%s/data/policy.xsd", tu_top_srcdir());
    aod_error_init(&err);
    p = aod_policy_load_file(path, xsd, &err);
    if (!p)
        tu_die(aod_error_format(&err, msg, sizeof msg));
    return p;
}

/* Loads a policy from the XML text xml (data/policy.xsd validates it). */
static inline aod_policy *tu_policy_text(const char *xml)
{
    char xsd_path[1024], msg[1024];
    char *xsd = NULL;
    size_t n = 0, cap = 0, got;
    aod_error err;
    aod_policy *p;
    FILE *f;

    snprintf(xsd_path, sizeof xsd_path, "%s/data/policy.xsd", tu_top_srcdir());
    f = fopen(xsd_path, "rb");
    if (!f)
        tu_die(xsd_path);
    do {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 65536;
            xsd = tu_check(realloc(xsd, cap));
        }
        got = fread(xsd + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    aod_error_init(&err);
    p = aod_policy_load_memory(xml, strlen(xml), "test-policy.xml", xsd, n, &err);
    free(xsd);
    if (!p)
        tu_die(aod_error_format(&err, msg, sizeof msg));
    return p;
}

/* ----------------------------------------------- files and captured output */

/* top_srcdir/rel into out (size bytes); returns out. */
static inline const char *tu_src_path(char *out, size_t size, const char *rel)
{
    int n = snprintf(out, size, "%s/%s", tu_top_srcdir(), rel);

    if (n < 0 || (size_t)n >= size)
        tu_die(rel);
    return out;
}

/* Writes len bytes of data to path, created or truncated. */
static inline void tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        tu_die(path);
}

/* Everything written to f so far (a tmpfile(), say) as a new NUL-terminated
 * string to free(); *len (when not NULL) gets its length.  Leaves f at its
 * end, so writing can go on. */
static inline char *tu_slurp(FILE *f, size_t *len)
{
    long size;
    char *s;

    if (fflush(f) != 0 || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0)
        tu_die("tu_slurp: cannot size the stream");
    s = tu_check(malloc((size_t)size + 1));
    rewind(f);
    if (fread(s, 1, (size_t)size, f) != (size_t)size)
        tu_die("tu_slurp: short read");
    s[size] = '\0';
    if (len)
        *len = (size_t)size;
    return s;
}

#endif
