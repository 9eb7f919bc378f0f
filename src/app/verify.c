/*
 * verify.c - `aodreport verify`: did one person access a patient's record?
 * (see verify.h).
 *
 * Stage: app.  Wiring only, as `report` is: the options, then
 * aod_run_report() with one output whose renderer is the filter sink below.
 * The sink sees the privacy office's access report line by line, keeps the
 * person's lines and, at the end, writes the answer; every other line is
 * dropped unread, so no other name reaches the output.
 */
#include "app/verify.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "app/run.h"
#include "app/selfaudit.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/timefmt.h"
#include "base/utf8.h"
#include "ingest/normalize.h"
#include "model/record.h"
#include "model/text.h"
#include "pipeline/report.h"
#include "store/store.h"

#define MAX_KEYS    32
#define MAX_FOLDED  1024
#define MAX_MATCHES 100000

/* ------------------------------------------------------------ matching */

/* The plain letters of U+00C0 .. U+00FF, lower case; "" for the two signs
 * (multiplication, division) that are not letters. */
static const char *const latin1[64] = {
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
    "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "ss",
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
    "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "y"};

/* Latin Extended-A (U+0100 .. U+017F) in runs sharing one plain letter. */
static const struct {
    uint32_t last;
    const char *plain;
} latin_a[] = {{0x105, "a"}, {0x10D, "c"},  {0x111, "d"}, {0x11B, "e"}, {0x123, "g"}, {0x127, "h"},
               {0x131, "i"}, {0x133, "ij"}, {0x135, "j"}, {0x138, "k"}, {0x142, "l"}, {0x14B, "n"},
               {0x151, "o"}, {0x153, "oe"}, {0x159, "r"}, {0x161, "s"}, {0x167, "t"}, {0x173, "u"},
               {0x175, "w"}, {0x178, "y"},  {0x17E, "z"}, {0x17F, "s"}};

/* Folds s into out: lower case, Latin accents dropped, blanks collapsed and
 * trimmed.  Returns 0, or -1 when s is not UTF-8 or too long. */
static int fold(const char *s, char *out, size_t size)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    int blank = 0;

    while (*p) {
        uint32_t cp;
        size_t n = aod_utf8_decode(p, 4, &cp);
        char one[2] = {0, 0};
        const char *add = one;
        size_t i, len;

        if (n == 0)
            return -1;
        if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == 0xA0) {
            blank = o > 0;
            p += n;
            continue;
        }
        if (cp < 0x80) {
            one[0] = (char)(cp >= 'A' && cp <= 'Z' ? cp + ('a' - 'A') : cp);
        } else if (cp >= 0xC0 && cp <= 0xFF) {
            add = latin1[cp - 0xC0];
            if (!*add)
                add = NULL;
        } else if (cp >= 0x100 && cp <= 0x17F) {
            for (i = 0; cp > latin_a[i].last; i++)
                ;
            add = latin_a[i].plain;
        } else {
            add = NULL;
        }
        if (blank) {
            if (o + 1 >= size)
                return -1;
            out[o++] = ' ';
            blank = 0;
        }
        /* Other characters are compared exactly, as their bytes. */
        if (!add) {
            add = (const char *)p;
            len = n;
        } else {
            len = strlen(add);
        }
        if (o + len >= size)
            return -1;
        memcpy(out + o, add, len);
        o += len;
        p += n;
    }
    out[o] = '\0';
    return 0;
}

int aod_verify_name_equal(const char *want, const char *have)
{
    char a[MAX_FOLDED], b[MAX_FOLDED];

    if (!want || !have || fold(want, a, sizeof a) != 0 || fold(have, b, sizeof b) != 0)
        return 0;
    return a[0] != '\0' && strcmp(a, b) == 0;
}

static int is_key(const char *person)
{
    return strchr(person, '|') || (strchr(person, '/') && !strchr(person, ' '));
}

int aod_verify_party_matches(const char *person, const aod_party *p)
{
    const char *bar = strchr(person, '|');

    if (bar) {
        size_t slen = (size_t)(bar - person);
        if (!p->id_value || strcmp(p->id_value, bar + 1) != 0)
            return 0;
        return slen == 0 || (p->id_system && strlen(p->id_system) == slen &&
                             strncmp(p->id_system, person, slen) == 0);
    }
    if (is_key(person))
        return p->reference && strcmp(p->reference, person) == 0;
    return aod_verify_name_equal(person, p->name);
}

/* ---------------------------------------------------------- the sink */

typedef struct verify_ctx {
    const char *person;
    int json;
    int found;     /* out: 1 when a line matched */
    long accesses; /* out: events behind the matching lines */
} verify_ctx;

typedef struct verify_sink {
    aod_sink base;
    FILE *out;
    verify_ctx *ctx;
    const aod_report_info *info;
    aod_entry *v; /* the person's lines; strings borrowed from the report's pool */
    size_t n, cap;
} verify_sink;

static int vs_begin(aod_sink *s, const aod_report_info *info, aod_error *err)
{
    (void)err;
    ((verify_sink *)s)->info = info;
    return 0;
}

static int vs_entry(aod_sink *s, const aod_entry *e, aod_error *err)
{
    verify_sink *vs = (verify_sink *)s;

    if (!aod_verify_party_matches(vs->ctx->person, &e->who))
        return 0;
    if (vs->n == vs->cap) {
        size_t cap = vs->cap ? vs->cap * 2 : 16;
        aod_entry *v;
        if (cap > MAX_MATCHES || !(v = realloc(vs->v, cap * sizeof *v))) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "too many matching lines");
            return -1;
        }
        vs->v = v;
        vs->cap = cap;
    }
    vs->v[vs->n] = *e;
    vs->v[vs->n].record_ids = NULL; /* not kept past the call */
    vs->v[vs->n].n_record_ids = 0;
    vs->n++;
    return 0;
}

static const char *action_words(char action)
{
    switch (action) {
    case 'C':
        return "created";
    case 'R':
        return "read";
    case 'U':
        return "updated";
    case 'D':
        return "deleted";
    case 'E':
        return "searched or ran";
    default:
        return "accessed";
    }
}

static const char *data_seen(const aod_entry *e)
{
    if (e->data_kinds && *e->data_kinds)
        return e->data_kinds;
    if (e->data && *e->data)
        return e->data;
    return "not recorded";
}

static const char *opt(const char *s)
{
    return s && *s ? s : NULL;
}

static void period_words(const aod_report_info *info, char *from, char *to)
{
    aod_timefmt_date(info->from, from, 16);
    aod_timefmt_date(info->to > info->from ? info->to - 1 : info->to, to, 16);
}

static int write_text(verify_sink *vs, const aod_report_summary *sum)
{
    const aod_report_info *info = vs->info;
    FILE *f = vs->out;
    char from[16], to[16], a[40], b[40];
    size_t i, k;

    period_words(info, from, to);
    fprintf(f, "Did \"%s\" access the record of", vs->ctx->person);
    for (k = 0; k < info->n_patient_keys; k++)
        fprintf(f, "%s %s", k ? "," : "", info->patient_keys[k]);
    fprintf(f, " from %s to %s (%s)?\n", from, to, info->policy->presentation.time_zone);
    if (vs->n == 0) {
        fprintf(f, "No: no access by this person is recorded in the period.\n");
    } else {
        int64_t first = vs->v[0].first, last = vs->v[0].last;
        /* Lines come in order of their start; a session may end after a
         * later line starts. */
        for (i = 1; i < vs->n; i++) {
            if (vs->v[i].first < first)
                first = vs->v[i].first;
            if (vs->v[i].last > last)
                last = vs->v[i].last;
        }
        aod_timefmt_datetime(first, a, sizeof a);
        aod_timefmt_datetime(last, b, sizeof b);
        fprintf(f, "Yes: %ld access%s, the first at %s, the last at %s.\n\n", vs->ctx->accesses,
                vs->ctx->accesses == 1 ? "" : "es", a, b);
        for (i = 0; i < vs->n; i++) {
            const aod_entry *e = &vs->v[i];
            aod_timefmt_datetime(e->first, a, sizeof a);
            aod_timefmt_datetime(e->last, b, sizeof b);
            if (e->first == e->last)
                fprintf(f, "  %s", a);
            else
                fprintf(f, "  %s to %s", a, b);
            fprintf(f, "  %s %s", action_words(e->action), data_seen(e));
            if (e->count > 1)
                fprintf(f, " (%ld times)", e->count);
            if (e->cls == AOD_CLASS_FAILED || (e->flags & AOD_ENTRY_FAILED))
                fprintf(f, " (the attempt failed)");
            fprintf(f, "\n      as recorded: %s", opt(e->who.name) ? e->who.name : "(no name)");
            if (opt(e->who.role))
                fprintf(f, ", %s", e->who.role);
            if (opt(e->who.unit))
                fprintf(f, ", %s", e->who.unit);
            if (opt(e->purpose_code))
                fprintf(f, "; purpose %s",
                        opt(e->purpose_display) ? e->purpose_display : e->purpose_code);
            fprintf(f, "\n");
        }
    }
    fprintf(f,
            "\nChecked %ld audit record%s (%ld event%s after de-duplication), the same as the "
            "access report for this period.\n"
            "Only what the store holds can be answered: an access by a system that sends no "
            "audit events, or before its logging began, cannot be seen.\n",
            sum->records_read, sum->records_read == 1 ? "" : "s", sum->events,
            sum->events == 1 ? "" : "s");
    return 0;
}

static int set_opt(json_t *o, const char *k, const char *v)
{
    return v && *v ? json_object_set_new(o, k, json_string(v)) : 0;
}

/* keys and lines are filled through references of their own, released at
 * the end whatever happened. */
static int write_json(verify_sink *vs, const aod_report_summary *sum, aod_error *err)
{
    const aod_report_info *info = vs->info;
    json_t *root = json_object(), *lines = json_array(), *keys = json_array();
    char a[40], b[40];
    size_t i;
    int rc = -1;

    aod_timefmt_datetime(info->from, a, sizeof a);
    aod_timefmt_datetime(info->to, b, sizeof b);
    if (!root || json_object_set_new(root, "answer", json_string(vs->n ? "yes" : "no")) != 0 ||
        json_object_set_new(root, "person", json_string(vs->ctx->person)) != 0 || !keys ||
        json_object_set(root, "patient_keys", keys) != 0 ||
        json_object_set_new(root, "from", json_string(a)) != 0 ||
        json_object_set_new(root, "to", json_string(b)) != 0 ||
        json_object_set_new(root, "accesses", json_integer(vs->ctx->accesses)) != 0 || !lines ||
        json_object_set(root, "lines", lines) != 0 ||
        json_object_set_new(root, "records_read", json_integer(sum->records_read)) != 0 ||
        json_object_set_new(root, "events", json_integer(sum->events)) != 0)
        goto nomem;
    for (i = 0; i < info->n_patient_keys; i++)
        if (json_array_append_new(keys, json_string(info->patient_keys[i])) != 0)
            goto nomem;
    for (i = 0; i < vs->n; i++) {
        const aod_entry *e = &vs->v[i];
        json_t *l = json_object();
        char act[2] = {e->action, 0};
        if (json_array_append_new(lines, l) != 0)
            goto nomem;
        aod_timefmt_datetime(e->first, a, sizeof a);
        aod_timefmt_datetime(e->last, b, sizeof b);
        if (json_object_set_new(l, "first", json_string(a)) != 0 ||
            json_object_set_new(l, "last", json_string(b)) != 0 ||
            json_object_set_new(l, "count", json_integer(e->count)) != 0 ||
            set_opt(l, "action", act) != 0 ||
            json_object_set_new(l, "data", json_string(data_seen(e))) != 0 ||
            json_object_set_new(
                l, "failed",
                json_boolean(e->cls == AOD_CLASS_FAILED || (e->flags & AOD_ENTRY_FAILED))) != 0 ||
            set_opt(l, "name", e->who.name) != 0 || set_opt(l, "role", e->who.role) != 0 ||
            set_opt(l, "unit", e->who.unit) != 0 || set_opt(l, "purpose", e->purpose_code) != 0)
            goto nomem;
    }
    if (json_dumpf(root, vs->out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 ||
        fputc('\n', vs->out) == EOF) {
        aod_error_set(err, AOD_ERR_IO, NULL, 0, NULL, "write error");
        goto out;
    }
    rc = 0;
    goto out;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
out:
    json_decref(keys);
    json_decref(lines);
    json_decref(root);
    return rc;
}

static int vs_end(aod_sink *s, const aod_report_summary *sum, aod_error *err)
{
    verify_sink *vs = (verify_sink *)s;
    size_t i;

    vs->ctx->found = vs->n > 0;
    vs->ctx->accesses = 0;
    for (i = 0; i < vs->n; i++)
        vs->ctx->accesses += vs->v[i].count;
    if (vs->ctx->json)
        return write_json(vs, sum, err);
    if (write_text(vs, sum) != 0 || ferror(vs->out)) {
        aod_error_set(err, AOD_ERR_IO, NULL, 0, NULL, "write error");
        return -1;
    }
    return 0;
}

static void vs_free(aod_sink *s)
{
    verify_sink *vs = (verify_sink *)s;

    if (vs)
        free(vs->v);
    free(vs);
}

static aod_sink *make_verify_sink(void *ctx, const char *format, FILE *out, const aod_text *text,
                                  aod_error *err)
{
    verify_sink *vs;

    (void)text;
    if (strcmp(format, "verify-text") != 0 && strcmp(format, "verify-json") != 0)
        return NULL;
    vs = calloc(1, sizeof *vs);
    if (!vs) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return NULL;
    }
    vs->base.begin = vs_begin;
    vs->base.entry = vs_entry;
    vs->base.end = vs_end;
    vs->base.free = vs_free;
    vs->out = out;
    vs->ctx = ctx;
    return &vs->base;
}

/* ---------------------------------------------------------- the command */

typedef struct verify_opts {
    const char *db, *person, *from, *to, *now, *policy, *templates, *operator_name;
    const char *keys[MAX_KEYS];
    size_t n_keys;
    int json;
} verify_opts;

static void verify_help(void)
{
    printf("Usage: aodreport verify --patient REF [--patient REF...] --person WHO [OPTIONS]\n"
           "\n"
           "Answer the privacy office's question \"did this person open this patient's\n"
           "record?\": yes or no, with the dates and times and the kinds of data seen,\n"
           "naming nobody else.  The answer is read from the access report (privacy office\n"
           "copy) for the period, so the two never disagree.\n"
           "\n"
           "  --patient REF      the patient: a reference (Patient/123) or an identifier\n"
           "                     (system|value); repeat for one person known by several keys\n"
           "  --person WHO       the person asked about: an identifier (system|value, or\n"
           "                     |value for any system), a reference (Practitioner/12), or\n"
           "                     else a name, matched whole, ignoring case, accents and blanks\n"
           "  --from DATE        first day covered (default: the policy's access lookback)\n"
           "  --to DATE          last day covered, inclusive (default: --now)\n"
           "  --now TIMESTAMP    the time the answer is made as of (default: now)\n"
           "  --policy FILE      the site policy (default: $AODREPORT_POLICY, else\n"
           "                     " AOD_SYSCONF_POLICY ")\n"
           "  --json             answer as JSON instead of text\n"
           "  --templates DIR    templates directory (default: installed / built in)\n"
           "  --operator NAME    who asks, for the self-audit record\n"
           "  --db CONNINFO      libpq connection string (default: the PG* environment)\n"
           "  -h, --help         show this help\n"
           "\n"
           "Exit status: 0 yes (an access was found), 15 no (none in the period), any\n"
           "other: no answer (an error).  Every verify is recorded in the store as an\n"
           "AuditEvent, as every report is.\n");
}

static int usage(aod_error *err, const char *where, const char *msg)
{
    aod_error_set(err, AOD_ERR_USAGE, where, 0, NULL, "%s", msg);
    return -1;
}

static int parse_opts(int argc, char **argv, verify_opts *o, int *help, aod_error *err)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},       {"patient", required_argument, NULL, 'p'},
        {"person", required_argument, NULL, 'w'},   {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},       {"now", required_argument, NULL, 'n'},
        {"policy", required_argument, NULL, 'P'},   {"templates", required_argument, NULL, 'T'},
        {"operator", required_argument, NULL, 'O'}, {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},           {0, 0, 0, 0}};
    int c;

    memset(o, 0, sizeof *o);
    *help = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o->db = optarg;
            break;
        case 'p':
            if (o->n_keys == MAX_KEYS)
                return usage(err, "verify", "too many --patient keys");
            o->keys[o->n_keys++] = optarg;
            break;
        case 'w':
            if (o->person)
                return usage(err, "--person", "give one person per question");
            o->person = optarg;
            break;
        case 'f':
            o->from = optarg;
            break;
        case 't':
            o->to = optarg;
            break;
        case 'n':
            o->now = optarg;
            break;
        case 'P':
            o->policy = optarg;
            break;
        case 'T':
            o->templates = optarg;
            break;
        case 'O':
            o->operator_name = optarg;
            break;
        case 'J':
            o->json = 1;
            break;
        case 'h':
            *help = 1;
            return 0;
        default:
            return usage(err, NULL, "invalid option for 'verify'");
        }
    }
    if (optind < argc)
        return usage(err, "verify", "unexpected argument");
    if (o->n_keys == 0)
        return usage(err, "verify", "--patient is required");
    if (!o->person)
        return usage(err, "verify", "--person is required");
    {
        char folded[MAX_FOLDED];
        if (fold(o->person, folded, sizeof folded) != 0 || !folded[0])
            return usage(err, "--person", "give a key or a name (UTF-8, not blank)");
    }
    return 0;
}

int aod_verify_command(int argc, char **argv, aod_error *err)
{
    verify_opts o;
    verify_ctx ctx;
    aod_report_info info;
    aod_report_summary sum;
    aod_run_options ro;
    aod_run_output output;
    aod_policy *policy = NULL;
    aod_text *text = NULL;
    aod_store *st = NULL;
    aod_buf keybuf[MAX_KEYS];
    const char *keys[MAX_KEYS];
    char self_audit[AOD_SELFAUDIT_ID_LEN] = "";
    size_t i, nkeys = 0;
    int help, rc = -1;

    if (parse_opts(argc, argv, &o, &help, err) != 0)
        return -1;
    if (help) {
        verify_help();
        return 0;
    }
    memset(&info, 0, sizeof info);
    for (i = 0; i < o.n_keys; i++)
        aod_buf_init(&keybuf[i], 4096);
    for (i = 0; i < o.n_keys; i++) {
        if (aod_normalize_patient_key(o.keys[i], &keybuf[i], err) != 0) {
            aod_error_where(err, "--patient", 0, -1);
            if (err->code != AOD_ERR_NOMEM)
                err->code = AOD_ERR_USAGE;
            goto out;
        }
        keys[nkeys++] = aod_buf_str(&keybuf[i]);
    }
    /* The access report the privacy office would get: every access, names
     * as recorded, so the person can be recognised. */
    info.patient_keys = keys;
    info.n_patient_keys = nkeys;
    info.mode = AOD_MODE_ACCESS;
    info.audience = AOD_AUDIENCE_PRIVACY_OFFICE;
    policy = aod_run_load_policy(o.policy, NULL, err);
    if (!policy)
        goto out;
    info.policy = policy;
    if (aod_timefmt_set_zone(policy->presentation.time_zone, err) != 0)
        goto out;
    info.lang = policy->presentation.language;
    if (aod_run_period(policy, o.now, o.from, o.to, &info, err) != 0)
        goto out;
    text = aod_text_load(o.templates, info.lang, err);
    if (!text)
        goto out;
    st = aod_store_connect(o.db, err);
    if (!st || aod_store_check_version(st, err) != 0)
        goto out;
    memset(&ctx, 0, sizeof ctx);
    ctx.person = o.person;
    ctx.json = o.json;
    memset(&ro, 0, sizeof ro);
    ro.operator_name = o.operator_name;
    ro.extra_sink = make_verify_sink;
    ro.extra_ctx = &ctx;
    /* who was asked about goes into the self-audit: a privacy office must
     * be able to audit who asked about whom */
    ro.subject = o.person;
    memset(&output, 0, sizeof output);
    output.format = o.json ? "verify-json" : "verify-text";
    output.path = NULL;
    if (aod_run_report_stoppable(st, &info, text, 0, &output, 1, &ro, &sum, self_audit, err) != 0)
        goto out;
    aod_log(AOD_LOG_INFO, "the question is recorded in the store as AuditEvent %s", self_audit);
    rc = ctx.found ? 0 : AOD_VERIFY_NO;
out:
    aod_store_free(st);
    aod_text_free(text);
    aod_policy_free(policy);
    for (i = 0; i < o.n_keys; i++)
        aod_buf_free(&keybuf[i]);
    return rc;
}
