/*
 * report.c - one report run: records in, lines out (see report.h).
 *
 * Drives the stages in order: decode -> classify -> dedup -> (suspend,
 * summarize) -> mask -> sink.  Keeps the counts every renderer states and,
 * for `explain`, one trace per raw record.  Memory: the stages hold only
 * their windows (dedup) or the disclosures (summarize); the strings live in
 * the report's pool and grow with distinct values, not with events.
 */
#include "pipeline/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/sha256.h"
#include "base/timefmt.h"
#include "base/strpool.h"
#include "model/recio.h"
#include "pipeline/classify.h"
#include "pipeline/dedup.h"
#include "pipeline/flags.h"
#include "pipeline/notify.h"
#include "pipeline/mask.h"
#include "pipeline/overview.h"
#include "base/log.h"
#include "pipeline/summarize.h"
#include "pipeline/suspend.h"

struct aod_report {
    const aod_report_info *info;
    const aod_text *text;
    aod_sink *sink;
    aod_strpool *pool;
    aod_record *rec;
    aod_dedup *dedup;
    aod_policy dedup_policy; /* the policy as dedup reads it (sessions by mode) */
    aod_summarize *summarize;
    aod_mask *mask;
    aod_flags *flags;   /* privacy office and explain only, and for notify */
    aod_notify *notify; /* batch --notify only */
    unsigned char breach_found[AOD_BREACH_MAX_REFS]; /* report --mode breach */
    aod_overview_acc *overview;                      /* NULL in explain runs */
    aod_report_summary sum;
    int begun;

    /* explain */
    aod_trace_sink *explain;
    char explain_ref[AOD_ENTRY_REF_SIZE]; /* only this line's records; "" all */
    aod_trace *traces;
    size_t n_traces, cap_traces;
    size_t *index; /* open addressing: record_id -> trace index + 1 */
    size_t n_index;
    aod_buf why; /* one record's reason in words (reason_words) */

    /* the stored form of the record being pushed (aod_report_push_norm),
     * for the key of a record without an id */
    const char *norm;
    size_t norm_len;
};

/* ---------------------------------------------------------------- traces */

static size_t id_hash(int64_t id, size_t n)
{
    uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ULL;
    return (size_t)(x >> 17) & (n - 1);
}

static int index_grow(aod_report *r)
{
    size_t n = r->n_index ? r->n_index * 2 : 1024, i;
    size_t *idx = calloc(n, sizeof *idx);

    if (!idx)
        return -1;
    for (i = 0; i < r->n_traces; i++) {
        size_t j = id_hash(r->traces[i].record_id, n);
        while (idx[j])
            j = (j + 1) & (n - 1);
        idx[j] = i + 1;
    }
    free(r->index);
    r->index = idx;
    r->n_index = n;
    return 0;
}

static aod_trace *trace_find(aod_report *r, int64_t id)
{
    size_t j;

    if (!r->n_index)
        return NULL;
    for (j = id_hash(id, r->n_index); r->index[j]; j = (j + 1) & (r->n_index - 1))
        if (r->traces[r->index[j] - 1].record_id == id)
            return &r->traces[r->index[j] - 1];
    return NULL;
}

static int trace_add(aod_report *r, const aod_record *rec, const aod_entry *e)
{
    aod_trace *t;
    size_t j;

    if (r->n_traces == r->cap_traces) {
        size_t cap = r->cap_traces ? r->cap_traces * 2 : 1024;
        aod_trace *nt = realloc(r->traces, cap * sizeof *nt);
        if (!nt)
            return -1;
        r->traces = nt;
        r->cap_traces = cap;
    }
    if ((r->n_traces + 1) * 2 > r->n_index && index_grow(r) != 0)
        return -1;
    t = &r->traces[r->n_traces];
    memset(t, 0, sizeof *t);
    t->record_id = e->record_ids[0];
    t->recorded = rec->recorded;
    t->fhir_id = aod_strpool_intern(r->pool, rec->id);
    t->cls = e->cls;
    t->exclusion = e->exclusion;
    t->rule = e->rule_id;
    t->tier = -1;
    for (j = id_hash(t->record_id, r->n_index); r->index[j]; j = (j + 1) & (r->n_index - 1))
        ;
    r->index[j] = ++r->n_traces;
    return 0;
}

/* Sets the fate of every record behind e that has none yet. */
static void trace_fate(aod_report *r, const aod_entry *e, const char *fate)
{
    size_t i;

    if (!r->explain)
        return;
    for (i = 0; i < e->n_record_ids; i++) {
        aod_trace *t = trace_find(r, e->record_ids[i]);
        if (t && !t->fate && !t->line)
            t->fate = fate;
    }
}

/* --------------------------------------------------------------- stages */

static int fail_nomem(aod_error *err)
{
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
    return -1;
}

/* Remembers an observer behind a listed line for the completeness
 * statement: distinct, in the order met, the first 32 by name. */
static void note_observer(aod_report *r, const char *obs)
{
    size_t i;

    for (i = 0; i < r->sum.n_observers; i++)
        if (r->sum.observers[i] == obs || strcmp(r->sum.observers[i], obs) == 0)
            return;
    if (r->sum.n_observers < sizeof r->sum.observers / sizeof r->sum.observers[0])
        r->sum.observers[r->sum.n_observers++] = obs;
    else
        r->sum.more_observers++;
}

#define HOUR_MS ((int64_t)3600 * 1000)

/* A date of the care list as the evidence says it ("2025-02-01"). */
static const char *care_day(int64_t ms, char *out, size_t size)
{
    return aod_timefmt_date(ms, out, size);
}

/*
 * Issue 16 point 3: a line with no recorded reason whose person was on the
 * patient's care team around it (the site's care list, load-care) has that
 * as its reason, and the evidence gives the relationship's dates.  The same
 * window as the privacy office's explanation coverage (flags.c), so the two
 * counts agree.  Returns 0 (e changed or not) / -1.
 */
static int care_reason(aod_report *r, aod_entry *e, aod_error *err)
{
    const aod_facts *f = r->info->care ? r->info->care : r->info->facts;
    int64_t w = (int64_t)r->info->policy->access_flags.care_window_hours * HOUR_MS;
    const aod_care *c;
    const char *vars[5], *tmpl, *key;
    char from[16], to[16];

    if (!f || !aod_facts_n_care(f))
        return 0;
    c = aod_facts_care_around(f, e->actor_key, e->actor_id_key, e->when_start, e->when_end, w);
    if (!c)
        return 0;
    if (c->from != AOD_FACTS_NO_START && c->to != AOD_FACTS_NO_END)
        key = "care.period";
    else if (c->from != AOD_FACTS_NO_START)
        key = "care.since";
    else if (c->to != AOD_FACTS_NO_END)
        key = "care.until";
    else
        key = "care.always";
    tmpl = aod_text_get(r->text, key);
    if (!tmpl) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "the template %s is missing", key);
        return -1;
    }
    vars[0] = "from";
    vars[1] = c->from != AOD_FACTS_NO_START ? care_day(c->from, from, sizeof from) : "";
    vars[2] = "to";
    /* the list's end date is the day after its last day */
    vars[3] = c->to != AOD_FACTS_NO_END ? care_day(c->to - 1, to, sizeof to) : "";
    vars[4] = NULL;
    aod_buf_reset(&r->why);
    if (aod_text_expand(&r->why, tmpl, vars, err) != 0)
        return -1;
    e->reason_evidence = aod_strpool_intern(r->pool, aod_buf_str(&r->why));
    if (!e->reason_evidence)
        return fail_nomem(err);
    e->reason = AOD_REASON_CARE;
    e->reasoned = e->count;
    return 0;
}

/* The last stage: mask, count, hand to the sink (or to the traces). */
static int on_flagged(void *ctx, const aod_entry *in, aod_error *err)
{
    aod_report *r = ctx;
    aod_entry e = *in;
    size_t i;

    char ref[AOD_ENTRY_REF_SIZE];

    if (r->notify && aod_notify_mark(r->notify, &e, err) != 0)
        return -1;
    if (r->info->audience != AOD_AUDIENCE_PRIVACY_OFFICE && !r->explain) {
        /* the flags ran for the digest only: none of it goes further */
        e.access_flags = 0;
        e.access_evidence = NULL;
        e.explained = 0;
    }
    if (e.reason == AOD_REASON_NONE && care_reason(r, &e, err) != 0)
        return -1;
    e.ref = aod_strpool_intern(r->pool, aod_entry_ref_format(e.ref_sum, ref, sizeof ref));
    if (!e.ref)
        return fail_nomem(err);
    if (r->info->breach) {
        /* the breach letter: only the lines the office named */
        const aod_breach *b = r->info->breach;
        for (i = 0; i < b->n_refs && strcmp(b->refs[i], e.ref) != 0; i++)
            ;
        if (i == b->n_refs)
            return 0;
        r->breach_found[i] = 1;
    }
    if (aod_mask_apply(r->mask, &e, err) != 0)
        return -1;
    r->sum.entries++;
    r->sum.reasoned += e.reasoned;
    r->sum.reason_base += e.count;
    if (e.observer && !(e.flags & AOD_ENTRY_SELF_AUDIT)) /* our own runs are no source */
        note_observer(r, e.observer);
    if (e.flags & AOD_ENTRY_SUMMARY)
        r->sum.summarised += e.count;
    if (r->explain) {
        for (i = 0; i < e.n_record_ids; i++) {
            aod_trace *t = trace_find(r, e.record_ids[i]);
            if (!t)
                continue;
            t->line = r->sum.entries;
            t->shown = e.shown_name;
            t->tier = (int)e.tier;
            t->access_flags = e.access_flags;
            t->access_evidence = e.access_evidence;
            t->ref = e.ref;
            t->basis = e.reason;
            t->basis_evidence = e.reason_evidence;
        }
        return 0;
    }
    if (aod_overview_add(r->overview, &e, err) != 0)
        return -1;
    return r->sink->entry(r->sink, &e, err);
}

/* A line of the report: through the flags stage for the privacy office
 * (never for the patient's copy), then mask and the sink. */
static int on_line(void *ctx, const aod_entry *in, aod_error *err)
{
    aod_report *r = ctx;

    if (r->flags)
        return aod_flags_push(r->flags, in, err);
    return on_flagged(r, in, err);
}

/* After dedup: one real event.  Decide whether the report shows it. */
static int on_event(void *ctx, const aod_entry *in, aod_error *err)
{
    aod_report *r = ctx;
    aod_entry e = *in;
    const aod_policy *p = r->info->policy;
    size_t i;

    if (r->explain) {
        for (i = 0; i < e.n_record_ids; i++) {
            aod_trace *t = trace_find(r, e.record_ids[i]);
            if (t) {
                t->group = e.group;
                t->group_records = e.raw_count;
            }
        }
    }
    if (e.cls == AOD_CLASS_OUT_OF_SCOPE) {
        trace_fate(r, &e, "not about this patient or outside the period");
        return 0;
    }
    if (e.flags & AOD_ENTRY_SELF_AUDIT) {
        /* Reading the log to answer a request is not something done with
         * the patient's record: one plain sentence, outside every total. */
        r->sum.self_audit++;
        r->sum.self_audit_records += e.raw_count;
        r->sum.records_read -= e.raw_count;
        /* the privacy office's access report still lists its own runs */
        if (r->info->audience == AOD_AUDIENCE_PRIVACY_OFFICE && r->info->mode == AOD_MODE_ACCESS)
            return on_line(r, &e, err);
        trace_fate(r, &e, "the privacy office's own report run (counted separately)");
        return 0;
    }
    r->sum.events++;
    r->sum.by_class[e.cls]++;
    if (e.cls == AOD_CLASS_EXCLUDED && e.exclusion <= AOD_EXCL_IX)
        r->sum.by_exclusion[e.exclusion]++;

    if (e.cls == AOD_CLASS_DISCLOSURE) {
        const aod_policy_suspension *sp = aod_suspend_match(p, &e);
        if (sp) {
            r->sum.suspended++;
            e.flags |= AOD_ENTRY_SUSPENDED;
            if (r->info->audience == AOD_AUDIENCE_PATIENT) {
                trace_fate(r, &e, aod_strpool_intern(r->pool, "withheld: suspension in force"));
                return 0;
            }
            return on_line(r, &e, err); /* privacy office: listed, never summarised */
        }
    }
    if (r->info->mode == AOD_MODE_DISCLOSURES) {
        if (e.cls != AOD_CLASS_DISCLOSURE) {
            trace_fate(r, &e,
                       e.cls == AOD_CLASS_EXCLUDED ? "excluded from the accounting"
                       : e.cls == AOD_CLASS_FAILED ? "failed attempt"
                                                   : "internal use, not a disclosure");
            return 0;
        }
        if (r->summarize)
            return aod_summarize_push(r->summarize, &e, err);
        return on_line(r, &e, err);
    }
    /* access mode: every access and disclosure, failed ones per policy */
    if (e.cls == AOD_CLASS_FAILED) {
        if (p->modes.access_failed == AOD_FAILED_OMIT) {
            trace_fate(r, &e, "failed attempt (omitted by policy)");
            return 0;
        }
        e.flags |= AOD_ENTRY_FAILED;
    }
    return on_line(r, &e, err);
}

aod_report *aod_report_new(const aod_report_info *info, const aod_text *text, aod_sink *sink,
                           aod_error *err)
{
    aod_report *r = calloc(1, sizeof *r);
    const aod_policy *p = info->policy;

    if (!r) {
        fail_nomem(err);
        return NULL;
    }
    r->info = info;
    r->text = text;
    aod_buf_init(&r->why, 64 * 1024);
    r->sink = sink;
    r->pool = aod_strpool_new();
    r->rec = aod_record_new();
    if (!r->pool || !r->rec)
        goto nomem;
    /* Sessions are for the access report: an accounting lists disclosures,
     * and its counts are of events, never of sessions. */
    r->dedup_policy = *p;
    if (info->mode != AOD_MODE_ACCESS)
        r->dedup_policy.dedup.sessions = 0;
    r->dedup = aod_dedup_new(&r->dedup_policy, r->pool, on_event, r);
    if (!r->dedup)
        goto nomem;
    if (info->mode == AOD_MODE_DISCLOSURES && p->summarize.enabled) {
        r->summarize = aod_summarize_new(p, r->pool, on_line, r);
        if (!r->summarize)
            goto nomem;
    }
    r->overview = aod_overview_new(r->pool);
    if (!r->overview)
        goto nomem;
    r->mask = aod_mask_new(p, info->audience, info->mode, text, r->pool, err);
    if (!r->mask)
        goto fail;
    /* the digest (batch --notify) asks whether a flag the site marks
     * notify fired, for the patient's copy too: on_flagged clears them */
    if (info->audience == AOD_AUDIENCE_PRIVACY_OFFICE || info->notify) {
        r->flags = aod_flags_new(info, r->pool, on_flagged, r);
        if (!r->flags)
            goto nomem;
    }
    if (info->notify && !(r->notify = aod_notify_new(info)))
        goto nomem;
    return r;
nomem:
    fail_nomem(err);
fail:
    aod_report_free(r);
    return NULL;
}

int aod_report_explain_ref(aod_report *r, const char *ref, aod_error *err)
{
    if (aod_entry_ref_parse(ref, r->explain_ref, sizeof r->explain_ref) != 0) {
        r->explain_ref[0] = '\0';
        aod_error_set(err, AOD_ERR_USAGE, "--ref", 0, NULL,
                      "'%s' is not a line reference (ten letters and digits, as XXXXX-XXXXX)",
                      ref ? ref : "");
        return -1;
    }
    return 0;
}

int aod_report_explain_to(aod_report *r, aod_trace_sink *explain, aod_error *err)
{
    if (r->begun) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "explain set after the first record");
        return -1;
    }
    r->explain = explain;
    /* the explain view is the privacy office's: it shows the flags */
    if (!r->flags) {
        r->flags = aod_flags_new(r->info, r->pool, on_flagged, r);
        if (!r->flags)
            return fail_nomem(err);
    }
    return 0;
}

static int begin(aod_report *r, aod_error *err)
{
    r->begun = 1;
    if (r->explain || !r->sink)
        return 0;
    return r->sink->begin(r->sink, r->info, err);
}

/* A record's share of its line's reference (entry.h): the first 8 bytes of
 * SHA-256 over its FHIR id and its observer, which name it in any store it
 * is loaded into; a record without an id by its stored form. */
static uint64_t record_key(const aod_report *r, int64_t record_id, const aod_record *rec)
{
    unsigned char d[AOD_SHA256_DIGEST_LEN];
    aod_sha256_ctx h;
    const aod_ref *o = &rec->observer;
    uint64_t v = 0;
    int i;

    aod_sha256_init(&h);
    if (rec->id) {
        const char *obs = o->reference ? o->reference : o->id_value ? o->id_value : o->display;
        aod_sha256_update(&h, "ref\x1f", 4);
        if (!o->reference && o->id_value && o->id_system)
            aod_sha256_update(&h, o->id_system, strlen(o->id_system));
        aod_sha256_update(&h, "\x1f", 1);
        if (obs)
            aod_sha256_update(&h, obs, strlen(obs));
        aod_sha256_update(&h, "\x1f", 1);
        aod_sha256_update(&h, rec->id, strlen(rec->id));
    } else if (r->norm) {
        aod_sha256_update(&h, "norm\x1f", 5);
        aod_sha256_update(&h, r->norm, r->norm_len);
    } else {
        char buf[48];
        int n = snprintf(buf, sizeof buf, "row\x1f%lld\x1f%lld", (long long)record_id,
                         (long long)rec->recorded);
        aod_sha256_update(&h, buf, (size_t)n);
    }
    aod_sha256_final(&h, d);
    for (i = 0; i < 8; i++)
        v = v << 8 | d[i];
    return v;
}

int aod_report_push_record(aod_report *r, int64_t record_id, const aod_record *rec, aod_error *err)
{
    aod_entry e;

    if (!r->begun && begin(r, err) != 0)
        return -1;
    r->sum.records_read++;
    if (aod_classify(r->info->policy, r->info, rec, record_id, r->pool, &e, err) != 0)
        return -1;
    e.ref_sum = record_key(r, record_id, rec);
    if (r->explain && trace_add(r, rec, &e) != 0)
        return fail_nomem(err);
    return aod_dedup_push(r->dedup, &e, err);
}

int aod_report_push_norm(aod_report *r, int64_t record_id, const char *norm, size_t len,
                         aod_error *err)
{
    aod_error derr;
    int rc;

    aod_record_clear(r->rec);
    aod_error_init(&derr);
    if (aod_recio_decode(norm, len, r->rec, &derr) != 0) {
        char msg[700];
        if (!r->begun && begin(r, err) != 0)
            return -1;
        r->sum.records_read++;
        r->sum.records_unreadable++;
        if (r->sum.n_unreadable_ids <
            sizeof r->sum.unreadable_ids / sizeof r->sum.unreadable_ids[0])
            r->sum.unreadable_ids[r->sum.n_unreadable_ids++] = record_id;
        aod_log(AOD_LOG_WARNING,
                "warning: stored event %lld could not be read and is left out "
                "(counted in the report): %s",
                (long long)record_id, aod_error_format(&derr, msg, sizeof msg));
        return 0;
    }
    r->rec->row_id = record_id;
    r->norm = norm;
    r->norm_len = len;
    rc = aod_report_push_record(r, record_id, r->rec, err);
    r->norm = NULL;
    return rc;
}

/* The rule's reason in the words a privacy officer reads: the reason (or
 * flag) of the policy rule, with the 164.528(a)(1) paragraph for an
 * exclusion; the built-in steps (out of scope, failed, self-audit, no rule)
 * from the templates' "explain." words.  Into r's scratch buffer. */
static const char *reason_words(aod_report *r, const aod_trace *t)
{
    const aod_policy *p = r->info->policy;
    const aod_policy_rule *rule = NULL;
    const char *w = NULL;
    char key[96];
    size_t i;

    aod_buf_reset(&r->why);
    for (i = 0; t->rule && i < p->classification.n_rules; i++)
        if (strcmp(p->classification.rules[i].id, t->rule) == 0)
            rule = &p->classification.rules[i];
    if (rule && rule->reason)
        w = aod_text_code(r->text, "reason", rule->reason, NULL);
    else if (rule && rule->flag) {
        snprintf(key, sizeof key, "flag.%s", rule->flag);
        w = aod_text_get(r->text, key) ? aod_text_get(r->text, key) : rule->flag;
    } else if (t->rule) {
        snprintf(key, sizeof key, "explain.%s", t->rule);
        w = aod_text_get(r->text, key);
    }
    if (w && aod_buf_adds(&r->why, w) != 0)
        return "";
    if (t->cls == AOD_CLASS_EXCLUDED && t->exclusion != AOD_EXCL_NONE) {
        snprintf(key, sizeof key, "exclusion.%s", aod_policy_exclusion_key(t->exclusion));
        if (aod_buf_printf(&r->why, "%s45 CFR 164.528(a)(1)(%s): %s", w ? "; " : "",
                           aod_policy_exclusion_key(t->exclusion),
                           aod_text_get(r->text, key) ? aod_text_get(r->text, key) : "") != 0)
            return "";
    }
    return aod_buf_str(&r->why);
}

static int write_explain(aod_report *r, aod_error *err)
{
    aod_trace_sink *out = r->explain;
    size_t i;

    size_t shown = 0;

    if (r->explain_ref[0]) {
        /* one line's records: refuse a reference no line has before
         * anything is written */
        for (i = 0; i < r->n_traces && !shown; i++)
            shown = r->traces[i].ref && strcmp(r->traces[i].ref, r->explain_ref) == 0;
        if (!shown) {
            aod_error_set(err, AOD_ERR_USAGE, "--ref", 0, NULL,
                          "no line of this report has the reference %s (check the patient, "
                          "mode, audience and period it was made with)",
                          r->explain_ref);
            return -1;
        }
    }
    if (out->begin(out, err) != 0)
        return -1;
    for (i = 0; i < r->n_traces; i++) {
        aod_trace *t = &r->traces[i];
        if (r->explain_ref[0] && (!t->ref || strcmp(t->ref, r->explain_ref) != 0))
            continue;
        t->reason = aod_strpool_intern(r->pool, reason_words(r, t));
        if (!t->reason) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
            return -1;
        }
        if (t->access_flags) {
            unsigned k;
            aod_buf_reset(&r->why);
            for (k = 0; k < AOD_AFLAG_COUNT; k++) {
                char key[64];
                const char *w;
                if (!(t->access_flags & (1u << k)))
                    continue;
                snprintf(key, sizeof key, "access-flag.%s",
                         aod_policy_access_flag_id((aod_access_flag)k));
                w = aod_text_get(r->text, key);
                if ((r->why.len && aod_buf_addc(&r->why, ' ') != 0) ||
                    aod_buf_adds(&r->why, w ? w : key) != 0) {
                    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
                    return -1;
                }
            }
            t->access_words = aod_strpool_intern(r->pool, aod_buf_str(&r->why));
        }
        if (out->trace(out, t, err) != 0)
            return -1;
    }
    return out->end(out, err);
}

/* report --mode breach: every reference asked for must name a line, or no
 * letter is written (the files are only renamed into place on success). */
static int breach_check(aod_report *r, aod_error *err)
{
    const aod_breach *b = r->info->breach;
    char from[32], to[32];
    size_t i;

    for (i = 0; i < b->n_refs; i++)
        if (!r->breach_found[i]) {
            aod_timefmt_date(r->info->from, from, sizeof from);
            aod_timefmt_date(r->info->to > r->info->from ? r->info->to - 1 : r->info->to, to,
                             sizeof to);
            aod_error_set(err, AOD_ERR_USAGE, "--ref", 0, NULL,
                          "no line of the patient's access report from %s to %s has the "
                          "reference %s: give the patient and the period of the report that "
                          "printed it (--patient, --from, --to)",
                          from, to, b->refs[i]);
            return -1;
        }
    return 0;
}

int aod_report_finish(aod_report *r, aod_report_summary *sum, aod_error *err)
{
    if (!r->begun && begin(r, err) != 0)
        return -1;
    if (aod_dedup_finish(r->dedup, err) != 0)
        return -1;
    if (r->summarize && aod_summarize_finish(r->summarize, err) != 0)
        return -1;
    if (r->info->breach && breach_check(r, err) != 0)
        return -1;
    if (r->flags && (r->info->audience == AOD_AUDIENCE_PRIVACY_OFFICE || r->explain) &&
        aod_flags_summary(r->flags, &r->sum, err) != 0)
        return -1;
    aod_mask_no_words(r->mask, &r->sum);
    if (r->explain || r->info->breach) /* the letter names its lines itself */
        r->sum.overview = NULL;
    else
        r->sum.overview = aod_overview_result(r->overview, r->sum.records_read);
    if (sum)
        *sum = r->sum;
    if (r->explain)
        return write_explain(r, err);
    return r->sink->end(r->sink, &r->sum, err);
}

void aod_report_free(aod_report *r)
{
    if (!r)
        return;
    aod_mask_free(r->mask);
    aod_flags_free(r->flags);
    aod_notify_free(r->notify);
    aod_overview_free(r->overview);
    aod_summarize_free(r->summarize);
    aod_dedup_free(r->dedup);
    aod_record_free(r->rec);
    aod_strpool_free(r->pool);
    free(r->traces);
    free(r->index);
    aod_buf_free(&r->why);
    free(r);
}

int64_t aod_report_default_from(const aod_policy *policy, aod_mode mode, int64_t now)
{
    const aod_policy_period *lb = mode == AOD_MODE_DISCLOSURES ? &policy->modes.disclosures_lookback
                                                               : &policy->modes.access_lookback;
    time_t t = (time_t)(now / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    tm.tm_year -= lb->years;
    tm.tm_mon -= lb->months;
    tm.tm_mday -= lb->days;
    tm.tm_isdst = 0;
    return (int64_t)timegm(&tm) * 1000 + now % 1000;
}
