/*
 * record.h - the plain event model every pipeline stage shares.
 *
 * One aod_record is one AuditEvent as read from the store (R4, R5 or the R6
 * ballot: normalize.c maps them all onto this one shape).  Every array and
 * string hangs off the record's own arena, except strings that are static
 * (the well-known strings aod_recio_decode() hands out from its dictionary,
 * see recio.h): a record owns all its memory, aod_record_clear() makes it
 * reusable without returning pages to the system, and aod_record_free()
 * releases everything.  Fields are borrowed pointers, read-only to every
 * stage: no string is ever written to or freed on its own.  A missing element
 * is NULL (strings), 0 (counts) or -1 (tri-state booleans), never a crash.
 *
 * This header includes nothing of ours: every stage may include it.
 */
#ifndef AOD_RECORD_H
#define AOD_RECORD_H

#include <stddef.h>
#include <stdint.h>

typedef enum aod_fhir_version {
    AOD_FHIR_UNKNOWN = 0,
    AOD_FHIR_R4 = 4, /* R4 / R4B: type + subtype, period, outcome code + outcomeDesc */
    AOD_FHIR_R5 = 5, /* R5: category + code, occurred[x], outcome{code,detail}, patient */
    AOD_FHIR_R6 = 6  /* R6 ballot: type + subtype as CodeableConcept, patient, severity */
} aod_fhir_version;

/* "R4", "R5", "R6" or "unknown" (static string). */
const char *aod_fhir_version_name(aod_fhir_version v);

/* One code.  A CodeableConcept with several codings becomes several
 * aod_coding entries; a CodeableConcept with only text has code == NULL and
 * display == the text. */
typedef struct aod_coding {
    const char *system;  /* may be NULL */
    const char *code;    /* may be NULL */
    const char *display; /* may be NULL */
} aod_coding;

typedef struct aod_codings {
    aod_coding *v;
    size_t n;
} aod_codings;

/* A Reference, flattened. */
typedef struct aod_ref {
    const char *reference; /* "Practitioner/123", made relative ("Patient/x", no _history) */
    const char *type;      /* Reference.type, or the resource type of reference */
    const char *id_system; /* Reference.identifier.system */
    const char *id_value;  /* Reference.identifier.value */
    const char *display;   /* Reference.display */
} aod_ref;

typedef struct aod_agent {
    aod_ref who;
    const char *name;     /* R4 agent.name (a person's name, as recorded) */
    const char *alt_id;   /* R4 agent.altId */
    aod_codings type;     /* agent.type codings (DCM 110152/110153, IRCP, ...) */
    aod_codings role;     /* agent.role codings */
    int requestor;        /* 1 yes, 0 no, -1 not recorded */
    const char *network;  /* network.address / networkString / networkUri / networkReference */
    const char *location; /* agent.location reference */
    aod_codings purpose;  /* R4 purposeOfUse, R5/R6 agent.authorization */
    const char **policy;  /* agent.policy URIs */
    size_t n_policy;
} aod_agent;

typedef struct aod_entity {
    aod_ref what;
    aod_coding type;         /* R4 entity.type (audit-entity-type / resource type) */
    aod_coding role;         /* entity.role (object-role), first coding */
    const char *name;        /* R4 entity.name */
    const char *description; /* R4 entity.description; R5 detail of type "description" */
    aod_codings security;    /* entity.securityLabel */
    int has_query;           /* 1 when entity.query was present (its payload is never kept) */
} aod_entity;

typedef struct aod_record {
    int64_t row_id; /* the store's row id; 0 when not from the store */
    const char *id; /* AuditEvent.id, may be NULL */
    aod_fhir_version version;

    /* Times are milliseconds since 1970-01-01T00:00:00Z. */
    int64_t recorded;   /* AuditEvent.recorded (required) */
    int64_t when_start; /* period.start / occurredPeriod.start / occurredDateTime, else recorded */
    int64_t when_end;   /* period.end / occurredPeriod.end, else == when_start */

    char action;              /* 'C' 'R' 'U' 'D' 'E', or 0 when not recorded */
    const char *outcome;      /* "0" "4" "8" "12" (or another code); NULL when not recorded */
    const char *outcome_text; /* R4 outcomeDesc, R5 outcome.detail text */
    aod_codings type;         /* R4 type, R5 category, R6 type */
    aod_codings subtype;      /* R4 subtype, R5 code, R6 subtype */
    aod_codings purpose;      /* R4 purposeOfEvent, R5/R6 authorization */
    const char *severity;     /* R5/R6 severity */

    aod_ref observer;        /* source.observer: who recorded the event */
    const char *site;        /* source.site (R4 string, R5 Location reference or display) */
    aod_codings source_type; /* source.type */

    const char *x_request_id; /* the BALP X-Request-Id entity's identifier value */

    aod_agent *agents;
    size_t n_agents;
    aod_entity *entities;
    size_t n_entities;

    /* The patient keys the event refers to, in the store's form:
     * "Patient/123" for references, "system|value" for identifiers. */
    const char **patient_keys;
    size_t n_patient_keys;

    /* R5/R6 context: the visit the event belongs to (AuditEvent.encounter)
     * and what it was done for (AuditEvent.basedOn: ServiceRequest, CarePlan,
     * Task ...).  Evidence of a reason when none was recorded
     * (pipeline/classify.c); all fields NULL / 0 when absent (R4 has no
     * such elements: there an entity names the visit or order). */
    aod_ref encounter;
    aod_ref *based_on;
    size_t n_based_on;

    struct aod_arena *arena; /* owns everything above but static strings; private */
} aod_record;

/* Returns a new, empty record (NULL when out of memory); free it with
 * aod_record_free(). */
aod_record *aod_record_new(void);

/* Frees the record and all it owns.  Accepts NULL. */
void aod_record_free(aod_record *r);

/* Empties the record for reuse, keeping its arena's memory. */
void aod_record_clear(aod_record *r);

/* Arena allocation owned by the record: zeroed memory, freed with the record.
 * Returns NULL when out of memory. */
void *aod_record_alloc(aod_record *r, size_t size);

/* Copies n bytes of s into the record's arena as a NUL-terminated string.
 * Returns the copy (borrowed from the record) or NULL when out of memory. */
const char *aod_record_strndup(aod_record *r, const char *s, size_t n);
const char *aod_record_strdup(aod_record *r, const char *s);

/* Adds a coding to a list; returns 0 or -1 (out of memory).  The strings are
 * copied into the record's arena; any may be NULL. */
int aod_codings_add(aod_record *r, aod_codings *list, const char *system, const char *code,
                    const char *display);

/* Adds a patient key unless already present; returns 0 or -1. */
int aod_record_add_patient_key(aod_record *r, const char *key);

/* Lookups that several stages need.  Each returns the first match or NULL. */
const aod_coding *aod_codings_find(const aod_codings *list, const char *system, const char *code);
int aod_codings_has_code(const aod_codings *list, const char *code);

/* Time helpers: parse a FHIR instant / dateTime / date ("2013-09-22",
 * "2013-09-22T00:08:00Z", "2013-09-22T02:08:00.123+02:00") into milliseconds
 * since the epoch.  A date without a time is its day's start in UTC; a
 * dateTime without an offset is taken as UTC.  Returns 0 or -1 (not a date). */
int aod_time_parse(const char *s, int64_t *ms);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12, day
 * 1-31); exact for every year, no libc time zone state. */
int64_t aod_days_from_civil(int64_t y, unsigned m, unsigned d);

/* Formats ms as "2013-09-22T00:08:00Z" (UTC, milliseconds shown only when not
 * zero) into out (at least 32 bytes).  Returns out. */
char *aod_time_format_utc(int64_t ms, char *out, size_t size);

/* The host of a network address ("https://h.example:8443/x", "h.example",
 * "user@h.example"), lower case and without a trailing dot, into buf (size
 * bytes); "" when none fits (no address, an IPv6 literal, too long).
 * Returns buf. */
char *aod_network_host(const char *net, char *buf, size_t size);

/* 1 when host (as aod_network_host gives it) is an IP address: it says
 * nothing about which organisation owns the machine. */
int aod_host_is_ip(const char *host);

#endif
