/*
 * selfaudit.c - the AuditEvent that records a report run (see selfaudit.h).
 *
 * The store builds and stores the event (aod.record_self_audit(), in
 * sql/003_least_privilege.sql) from the run's facts passed here, so that the
 * reporting role needs no INSERT and cannot name another operator: the
 * database user recorded is the session's.  aod_selfaudit_build() gives the
 * same event as JSON, for tests and for reading the shape in C.
 */
#include "app/selfaudit.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/classify.h"
#include "config.h"
#include "base/buf.h"
#include "model/record.h"
#include "base/sha256.h"
#include "base/timefmt.h"

#define DCM         "http://dicom.nema.org/resources/ontology/DCM"
#define OBJECT_ROLE "http://terminology.hl7.org/CodeSystem/object-role"
#define ENTITY_TYPE "http://terminology.hl7.org/CodeSystem/audit-entity-type"
#define PART_TYPE   "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
#define ACT_REASON  "http://terminology.hl7.org/CodeSystem/v3-ActReason"
#define SOURCE_TYPE "http://terminology.hl7.org/CodeSystem/security-source-type"
#define MAX_SORTED  64

static const char *kind_name(const aod_selfaudit *a)
{
    if (a->explain)
        return "explain";
    return a->info->mode == AOD_MODE_ACCESS ? "access" : "disclosures";
}

static const char *kind_words(const aod_selfaudit *a)
{
    if (a->explain)
        return "explain view of the audit records";
    return a->info->mode == AOD_MODE_ACCESS ? "access report" : "accounting of disclosures";
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The keys in byte order (a borrowed view; at most MAX_SORTED kept). */
static size_t sorted_keys(const aod_report_info *info, const char **out)
{
    size_t i, n = info->n_patient_keys < MAX_SORTED ? info->n_patient_keys : MAX_SORTED;

    for (i = 0; i < n; i++)
        out[i] = info->patient_keys[i];
    qsort(out, n, sizeof *out, cmp_str);
    return n;
}

static void hash_str(aod_sha256_ctx *c, const char *s)
{
    aod_sha256_update(c, s ? s : "", s ? strlen(s) : 0);
    aod_sha256_update(c, "\n", 1);
}

static void hash_num(aod_sha256_ctx *c, long long v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    hash_str(c, buf);
}

void aod_selfaudit_id(const aod_selfaudit *a, char *out)
{
    const char *keys[MAX_SORTED];
    unsigned char digest[AOD_SHA256_DIGEST_LEN];
    char hex[33];
    aod_sha256_ctx c;
    size_t i, n = sorted_keys(a->info, keys);

    aod_sha256_init(&c);
    hash_str(&c, "aodreport self-audit 2");
    hash_str(&c, kind_name(a));
    hash_str(&c, aod_policy_audience_name(a->info->audience));
    hash_str(&c, a->info->lang);
    for (i = 0; i < n; i++)
        hash_str(&c, keys[i]);
    hash_num(&c, (long long)a->info->from);
    hash_num(&c, (long long)a->info->to);
    hash_num(&c, (long long)a->info->now);
    for (i = 0; i < a->n_files; i++) {
        hash_str(&c, a->files[i].format);
        hash_str(&c, a->files[i].sha256);
        if (a->files[i].subject)
            hash_str(&c, a->files[i].subject);
    }
    /* Who and which process: another person's export of the same report
     * is another access, never merged with the first. */
    hash_str(&c, "by");
    hash_str(&c, a->operator_name);
    hash_str(&c, a->db_user);
    hash_str(&c, a->os_user);
    hash_str(&c, a->host);
    hash_num(&c, a->pid);
    hash_num(&c, (long long)a->process_started);
    aod_sha256_final(&c, digest);
    aod_sha256_hex(digest, 16, hex);
    memcpy(out, "aodreport-", 10);
    memcpy(out + 10, hex, 33);
}

/* ------------------------------------------------------------ the event */

/* A new {"system","code","display"}. */
static json_t *coding(const char *system, const char *code, const char *display)
{
    return json_pack("{s:s, s:s, s:s}", "system", system, "code", code, "display", display);
}

static json_t *concept(const char *system, const char *code, const char *display)
{
    return json_pack("{s:[o]}", "coding", coding(system, code, display));
}

static json_t *detail(const char *type, const char *value)
{
    return json_pack("{s:s, s:s}", "type", type, "valueString", value);
}

static int append(json_t *array, json_t *item)
{
    return item ? json_array_append_new(array, item) : -1;
}

static json_t *patient_entity(const char *key)
{
    const char *bar = strchr(key, '|');
    json_t *what;

    if (bar) {
        /* "system|value": an identifier; an empty system stays absent */
        json_t *id = json_pack("{s:s}", "value", bar + 1);
        if (id && bar > key &&
            json_object_set_new(id, "system", json_stringn(key, (size_t)(bar - key))) != 0) {
            json_decref(id);
            id = NULL;
        }
        what = id ? json_pack("{s:o}", "identifier", id) : NULL;
    } else {
        what = json_pack("{s:s}", "reference", key);
    }
    if (!what)
        return NULL;
    return json_pack("{s:o, s:o, s:o}", "what", what, "type", coding(ENTITY_TYPE, "1", "Person"),
                     "role", coding(OBJECT_ROLE, "1", "Patient"));
}

static json_t *report_entity(const aod_selfaudit *a, const aod_selfaudit_file *f)
{
    const aod_report_info *info = a->info;
    char from_day[16], to_day[16], from[40], to[40], now[40], size[32], desc[300];
    json_t *e, *details;

    aod_timefmt_date(info->from, from_day, sizeof from_day);
    aod_timefmt_date(info->to > info->from ? info->to - 1 : info->to, to_day, sizeof to_day);
    aod_time_format_utc(info->from, from, sizeof from);
    aod_time_format_utc(info->to, to, sizeof to);
    aod_time_format_utc(info->now, now, sizeof now);
    snprintf(size, sizeof size, "%lld", f->size);
    snprintf(desc, sizeof desc, "%s (%s copy), %s to %s, %s", kind_words(a),
             info->audience == AOD_AUDIENCE_PRIVACY_OFFICE ? "privacy office" : "patient", from_day,
             to_day, f->format);
    details = json_array();
    if (!details || append(details, detail("sha256", f->sha256)) != 0 ||
        append(details, detail("size", size)) != 0 ||
        append(details, detail("format", f->format)) != 0 ||
        append(details, detail("file", f->name)) != 0 ||
        append(details, detail("kind", kind_name(a))) != 0 ||
        append(details, detail("audience", aod_policy_audience_name(info->audience))) != 0 ||
        append(details, detail("language", info->lang ? info->lang : "")) != 0 ||
        append(details, detail("period-start", from)) != 0 ||
        append(details, detail("period-end", to)) != 0 ||
        append(details, detail("as-of", now)) != 0) {
        json_decref(details);
        return NULL;
    }
    e = json_pack("{s:o, s:o, s:s, s:s, s:o}", "type", coding(ENTITY_TYPE, "2", "System Object"),
                  "role", coding(OBJECT_ROLE, "3", "Report"), "name", f->name, "description", desc,
                  "detail", details);
    return e;
}

static json_t *operator_agent(const aod_selfaudit *a)
{
    char who[300], alt[400];
    const char *os = a->os_user && *a->os_user ? a->os_user : "unknown";
    const char *db = a->db_user && *a->db_user ? a->db_user : "unknown";
    const char *host = a->host && *a->host ? a->host : "unknown";

    if (a->operator_name && *a->operator_name)
        snprintf(who, sizeof who, "%s", a->operator_name);
    else
        snprintf(who, sizeof who, "%s (database user %s)", os, db);
    snprintf(alt, sizeof alt, "database user %s; OS user %s on %s", db, os, host);
    return json_pack("{s:o, s:{s:s}, s:s, s:b}", "type",
                     concept(PART_TYPE, "IRCP", "information recipient"), "who", "display", who,
                     "altId", alt, "requestor", 1);
}

json_t *aod_selfaudit_build(const aod_selfaudit *a, aod_error *err)
{
    const char *keys[MAX_SORTED];
    char id[AOD_SELFAUDIT_ID_LEN], recorded[40], started[40], device[64];
    json_t *ev = NULL, *agents, *entities;
    size_t i, n = sorted_keys(a->info, keys);

    aod_selfaudit_id(a, id);
    aod_time_format_utc(a->recorded, recorded, sizeof recorded);
    aod_time_format_utc(a->started <= a->recorded ? a->started : a->recorded, started,
                        sizeof started);
    snprintf(device, sizeof device, "aodreport %s", PACKAGE_VERSION);
    agents = json_array();
    entities = json_array();
    if (!agents || !entities)
        goto nomem;
    if (append(agents, operator_agent(a)) != 0 ||
        append(agents, json_pack("{s:o, s:{s:s, s:s}, s:b}", "type",
                                 concept(DCM, "110153", "Source Role ID"), "who", "type", "Device",
                                 "display", device, "requestor", 0)) != 0)
        goto nomem;
    for (i = 0; i < n; i++)
        if (append(entities, patient_entity(keys[i])) != 0)
            goto nomem;
    for (i = 0; i < a->n_files; i++)
        if (append(entities, report_entity(a, &a->files[i])) != 0)
            goto nomem;
    for (i = 0; i < a->n_files; i++)
        if (a->files[i].subject && *a->files[i].subject &&
            append(entities,
                   json_pack("{s:o, s:o, s:s, s:s}", "type", coding(ENTITY_TYPE, "1", "Person"),
                             "role", coding(OBJECT_ROLE, "6", "User"), "name", a->files[i].subject,
                             "description", "the person asked about (aodreport verify)")) != 0)
            goto nomem;
    ev = json_pack(
        "{s:s, s:s, s:o, s:[o], s:s, s:{s:s, s:s}, s:s, s:s, s:[o], s:o,"
        " s:{s:{s:s}, s:[o]}, s:o}",
        "resourceType", "AuditEvent", "id", id, "type", coding(DCM, "110106", "Export"), "subtype",
        coding(AOD_SELF_AUDIT_SYSTEM, AOD_SELF_AUDIT_CODE, "aodreport report run"), "action", "R",
        "period", "start", started, "end", recorded, "recorded", recorded, "outcome", "0",
        "purposeOfEvent", concept(ACT_REASON, "HCOMPL", "health compliance"), "agent", agents,
        "source", "observer", "display", "aodreport", "type",
        coding(SOURCE_TYPE, "4", "Application Server"), "entity", entities);
    agents = entities = NULL; /* json_pack's "o" took them, even on failure */
    if (!ev)
        goto nomem;
    return ev;
nomem:
    json_decref(agents);
    json_decref(entities);
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory building the self-audit event");
    return NULL;
}

/* keys as a PostgreSQL array literal: every element quoted, " and \ escaped. */
static int array_literal(const aod_report_info *info, aod_buf *out)
{
    size_t i;
    const char *p;

    if (aod_buf_addc(out, '{'))
        return -1;
    for (i = 0; i < info->n_patient_keys; i++) {
        if ((i && aod_buf_addc(out, ',')) || aod_buf_addc(out, '"'))
            return -1;
        for (p = info->patient_keys[i]; *p; p++)
            if (((*p == '"' || *p == '\\') && aod_buf_addc(out, '\\')) || aod_buf_addc(out, *p))
                return -1;
        if (aod_buf_addc(out, '"'))
            return -1;
    }
    return aod_buf_addc(out, '}');
}

static char *files_json(const aod_selfaudit *a)
{
    json_t *files = json_array();
    char *text = NULL;
    size_t i;

    if (!files)
        return NULL;
    for (i = 0; i < a->n_files; i++) {
        json_t *f = json_pack("{s:s, s:s, s:s, s:I}", "format", a->files[i].format, "name",
                              a->files[i].name, "sha256", a->files[i].sha256, "size",
                              (json_int_t)a->files[i].size);
        if (f && a->files[i].subject && *a->files[i].subject &&
            json_object_set_new(f, "subject", json_string(a->files[i].subject)) != 0) {
            json_decref(f);
            goto out;
        }
        if (append(files, f) != 0)
            goto out;
    }
    text = json_dumps(files, JSON_COMPACT);
out:
    json_decref(files);
    return text;
}

/* The arguments of aod.record_self_audit() for one run, and the storage
 * they point into. */
typedef struct sa_args {
    const char *v[AOD_STORE_SELF_AUDIT_ARGS];
    char retry[AOD_SELFAUDIT_ID_LEN], first[16], last[16], from[40], to[40], now[40];
    char started[40], program[64];
    char *files;
    aod_buf keys;
} sa_args;

static void sa_args_free(sa_args *g)
{
    aod_buf_free(&g->keys);
    free(g->files);
    g->files = NULL;
}

static int sa_args_fill(sa_args *g, const aod_selfaudit *a, aod_error *err)
{
    const aod_report_info *info = a->info;

    aod_buf_init(&g->keys, (size_t)1024 * 1024);
    g->files = files_json(a);
    if (!g->files || array_literal(info, &g->keys) != 0) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL,
                      "out of memory storing the self-audit event");
        return -1;
    }
    /* The run's own key: an exact retry of this report merges with it; the
     * server adds the login, so nobody's retry merges with another's. */
    aod_selfaudit_id(a, g->retry);
    aod_timefmt_date(info->from, g->first, sizeof g->first);
    aod_timefmt_date(info->to > info->from ? info->to - 1 : info->to, g->last, sizeof g->last);
    aod_time_format_utc(info->from, g->from, sizeof g->from);
    aod_time_format_utc(info->to, g->to, sizeof g->to);
    aod_time_format_utc(info->now, g->now, sizeof g->now);
    aod_time_format_utc(a->started, g->started, sizeof g->started);
    snprintf(g->program, sizeof g->program, "aodreport %s", PACKAGE_VERSION);
    g->v[0] = g->retry;
    g->v[1] = aod_buf_str(&g->keys);
    g->v[2] = kind_name(a);
    g->v[3] = aod_policy_audience_name(info->audience);
    g->v[4] = info->lang ? info->lang : "";
    g->v[5] = g->first;
    g->v[6] = g->last;
    g->v[7] = g->from;
    g->v[8] = g->to;
    g->v[9] = g->now;
    g->v[10] = g->started;
    g->v[11] = a->operator_name;
    g->v[12] = a->os_user;
    g->v[13] = a->host;
    g->v[14] = g->program;
    g->v[15] = g->files;
    return 0;
}

int aod_selfaudit_write(aod_store *st, const aod_selfaudit *a, char *id_out, int *stored,
                        aod_error *err)
{
    char id[AOD_SELFAUDIT_ID_LEN];
    sa_args g;
    int rc = -1;

    memset(&g, 0, sizeof g);
    if (sa_args_fill(&g, a, err) != 0)
        goto out;
    if (aod_store_self_audit(st, g.v, id, sizeof id, stored, err) != 0)
        goto out;
    if (id_out)
        snprintf(id_out, AOD_SELFAUDIT_ID_LEN, "%s", id);
    rc = 0;
out:
    sa_args_free(&g);
    return rc;
}

int aod_selfaudit_write_many(aod_store *st, const aod_selfaudit *a, size_t n, char *ids,
                             aod_error *err)
{
    sa_args *g = calloc(n ? n : 1, sizeof *g);
    const char **v = calloc(n ? n * AOD_STORE_SELF_AUDIT_ARGS : 1, sizeof *v);
    size_t i, filled = 0;
    int rc = -1;

    if (!g || !v) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL,
                      "out of memory storing the self-audit events");
        goto out;
    }
    for (i = 0; i < n; i++) {
        filled++;
        if (sa_args_fill(&g[i], &a[i], err) != 0)
            goto out;
        memcpy(v + i * AOD_STORE_SELF_AUDIT_ARGS, g[i].v, sizeof g[i].v);
    }
    rc = aod_store_self_audit_many(st, v, n, ids, AOD_SELFAUDIT_ID_LEN, err);
out:
    for (i = 0; g && i < filled; i++)
        sa_args_free(&g[i]);
    free(g);
    free(v);
    return rc;
}

void aod_selfaudit_whoami(char *user, size_t user_size, char *host, size_t host_size)
{
    const struct passwd *pw = getpwuid(geteuid());
    const char *env = getenv("USER");

    if (pw && pw->pw_name)
        snprintf(user, user_size, "%s", pw->pw_name);
    else if (env)
        snprintf(user, user_size, "%s", env);
    else
        snprintf(user, user_size, "uid %ld", (long)geteuid());
    if (host_size == 0)
        return;
    if (gethostname(host, host_size) != 0)
        host[0] = '\0';
    host[host_size - 1] = '\0';
}
