/*
 * entry.h - the line model: what the stages after classify hand on, what
 * the renderers draw, and the interfaces between the report driver and the
 * renderers.
 *
 * Data flow (pipeline/report.c drives it):
 *
 *   store rows -> recio decode -> aod_record -> classify -> aod_entry
 *     -> dedup (merges entries of one real event; sessions)
 *     -> summarize (164.528(b)(3), disclosures mode)
 *     -> suspend (164.528(a)(2))
 *     -> mask (fills the shown_* fields per policy and audience)
 *     -> aod_sink (csv, pdf, bundle) / aod_trace_sink (explain)
 *
 * It lives below both the pipeline and the renderers so that neither
 * includes the other, and the driver and the stages it drives never include
 * each other.
 *
 * An aod_entry is one line of the report.  Its strings are borrowed from
 * the report's string pool (strpool.h), which lives for the whole report, so
 * stages copy entries freely without copying strings.  Stages take entries in
 * and hand entries on through the aod_entry_fn callback.
 */
#ifndef AOD_ENTRY_H
#define AOD_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "model/facts.h"
#include "model/policy.h"
#include "model/record.h"

typedef enum aod_mode {
    AOD_MODE_DISCLOSURES = 0, /* HIPAA 164.528 accounting of disclosures */
    AOD_MODE_ACCESS           /* access report: every access and disclosure */
} aod_mode;

/* What classify decided about one event. */
typedef enum aod_class {
    AOD_CLASS_DISCLOSURE = 0, /* reportable disclosure */
    AOD_CLASS_EXCLUDED,       /* disclosure left out by 164.528(a); see exclusion */
    AOD_CLASS_INTERNAL,       /* use by the workforce or the entity's own systems */
    AOD_CLASS_FAILED,         /* an attempt that did not succeed (outcome not 0) */
    AOD_CLASS_OUT_OF_SCOPE,   /* not about this patient, or outside the period */
    AOD_CLASS_COUNT
} aod_class;

/* "disclosure", "excluded", "internal", "failed", "out-of-scope". */
const char *aod_class_name(aod_class c);

/* Entry flags. */
#define AOD_ENTRY_SUMMARY         0x01u /* summarised repeated disclosures (b)(3) */
#define AOD_ENTRY_SESSION         0x02u /* one actor's accesses grouped as a session */
#define AOD_ENTRY_PURPOSE_UNKNOWN 0x04u /* no purpose was recorded */
#define AOD_ENTRY_SUSPENDED       0x08u /* withheld from the patient: 164.528(a)(2) */
#define AOD_ENTRY_FAILED          0x10u /* the attempt failed */
#define AOD_ENTRY_SELF_AUDIT      0x20u /* the access log itself was read (a report run) */
#define AOD_ENTRY_NO_WORDS        0x40u /* a code the templates have no words for */
/* A person outside the covered entity whose name the patient's copy leaves
 * out (policy masking.name_recipient_persons off): the privacy office
 * checks whether they are really outside, or staff the boundary missed. */
#define AOD_ENTRY_NAME_WITHHELD 0x80u
#define AOD_ENTRY_FLAG_COUNT    8 /* the flags above are bits 0 .. COUNT-1 */

/* The stable name of one AOD_ENTRY_* bit ("summary", "session",
 * "purpose-unknown", "suspended", "failed", "self-audit", "code-without-words",
 * "name-withheld"), as the CSV flags
 * column and the Bundle's report-flag extension write it; "?" otherwise. */
const char *aod_entry_flag_name(unsigned bit);

/* Why an access happened, as far as the store can show it (issue 16
 * point 3).  A recorded basis first: what the event itself says the access
 * was for.  Then evidence: what the event names that it was part of, when
 * no basis was recorded.  Never a guess: without either, NONE, which every
 * output says as "no reason was recorded". */
typedef enum aod_reason {
    AOD_REASON_NONE = 0,  /* nothing recorded, nothing in evidence */
    AOD_REASON_PURPOSE,   /* a purpose of use / authorization code (purpose_*) */
    AOD_REASON_EMERGENCY, /* an emergency override (break-glass) was recorded */
    AOD_REASON_PATIENT,   /* the patient's own request (PATRQT, the patient acting) */
    AOD_REASON_CONSENT,   /* a consent decision or authorization on record (evidence: which) */
    AOD_REASON_ENCOUNTER, /* evidence: the event names the visit (encounter, an Encounter entity) */
    AOD_REASON_ORDER,     /* evidence: the event names an order or plan (basedOn, entity) */
    AOD_REASON_CARE,      /* evidence: a care relationship the site supplied (info.care) */
    AOD_REASON_COUNT
} aod_reason;

/* "none", "purpose", "emergency", "patient-request", "consent",
 * "encounter", "order", "care-relationship": the templates' reason.* keys
 * and the Bundle's reason-basis code; "?" otherwise. */
const char *aod_reason_name(aod_reason r);

/* 1 for a basis the event recorded (PURPOSE .. CONSENT), else 0. */
int aod_reason_recorded(aod_reason r);

/* A party as the events describe it, before masking. */
typedef struct aod_party {
    aod_actor_class cls;
    const char *reference; /* "Practitioner/12", "Organization/3", ... */
    const char *id_system; /* identifier, when recorded */
    const char *id_value;
    const char *name;         /* best name recorded: R4 agent.name, else who.display */
    const char *role;         /* role as words (display, else code) */
    const char *role_code;    /* the code beside it, if any: the templates' role.<code> words */
    const char *unit;         /* unit / department when recorded (agent.location display) */
    const char *organisation; /* organisation name when known */
    const char *address;      /* postal address when known (recipients) */
    const char *network;      /* network address (host, URI) */
    /* 1: a person around the patient (a RelatedPerson, a family or
     * caregiver role), who cannot be a staff member the covered entity's
     * boundary missed: the mask may name them (pipeline/mask.h). */
    int related;
} aod_party;

typedef struct aod_entry {
    /* When: a point (start == end) or a range.  Milliseconds since the epoch. */
    int64_t when_start;
    int64_t when_end;
    /* Summarised lines: first and last disclosure and how many (b)(3);
     * sessions: first and last access.  Otherwise first == when_start,
     * last == when_end, count == 1. */
    int64_t first;
    int64_t last;
    /* AuditEvent.recorded of the earliest record behind the line: the order
     * the store delivers records in, which dedup windows and orders on
     * (when_start may lie days before it). */
    int64_t recorded;
    long count;     /* events behind this line */
    long raw_count; /* raw audit records behind this line */

    aod_class cls;
    aod_exclusion exclusion; /* when cls == EXCLUDED */
    const char *rule_id;     /* the policy rule that decided */
    unsigned flags;          /* AOD_ENTRY_* */
    char action;             /* 'C' 'R' 'U' 'D' 'E' or 0 */
    const char *outcome;     /* outcome code, NULL when not recorded */

    /* Who: for a disclosure the recipient; for an access the person or
     * system that accessed the record. */
    aod_party who;
    const char *data; /* what: a description of the data, never the data */
    const char
        *data_kinds;   /* resource types seen, comma separated ("Observation,DiagnosticReport") */
    const char *where; /* where from: source site or the system that recorded it */
    const char *purpose_system;
    const char *purpose_code;
    const char *purpose_display;
    /* The reason in force (see aod_reason) and, for CONSENT, ENCOUNTER,
     * ORDER and CARE, what showed it: the reference or display of the
     * visit, order or consent ("Encounter/77"), the policy URI. */
    aod_reason reason;
    const char *reason_evidence;
    long reasoned;            /* events behind the line with a recorded or evidenced reason */
    const char *type_code;    /* event type code (DCM 110106, rest, ...) */
    const char *subtype_code; /* event subtype code (read, search-type, disclose, ...) */
    /* What was done, as classify read the whole event: a key of the
     * templates' "activity." words ("disclosed", "media-export",
     * "emergency-access", "received-C", ...), or NULL when the action and
     * subtype say it well enough. */
    const char *activity;
    const char *transaction; /* IHE transaction ("ITI-68"): both ends record it (dedup) */

    /* What dedup matches on (set by classify from the record). */
    const char *x_request_id; /* BALP X-Request-Id, NULL when none */
    const char *observer;     /* who recorded the event (source.observer identity) */
    const char *data_ref;     /* the main data entity's reference ("Observation/7") */
    const char *query;        /* a search's description (not its payload), for page collapse */
    const char *actor_key; /* stable identity of the acting user/system (for pairing, sessions) */
    /* The actor's identifier as "system|value" when actor_key is its
     * reference: a roster may know the person by either (pipeline/flags.h). */
    const char *actor_id_key;

    /* The access flags (pipeline/flags.h), privacy office only: bit
     * aod_access_flag set when the flag fires, and the evidence of each, in
     * flag order, "id: evidence" joined by "; " (pool string, NULL when
     * none).  Always 0 / NULL in the patient's copy: the stage does not run. */
    unsigned access_flags;
    const char *access_evidence;
    /* 1 when the access is explained by a recorded purpose, a consent or
     * authorization, or a care relationship or encounter (flags.h); set by
     * the flags stage, privacy office only. */
    int explained;
    /* Why the patient's digest names this line (batch --notify,
     * pipeline/notify.h): bits AOD_NOTIFY_*, 0 when it does not.  Words a
     * patient may read: never a flag id or its evidence. */
    unsigned notify;

    /* Filled by mask: what the audience sees.  shown_name is never NULL
     * after mask; the others may be. */
    const char *shown_name;
    const char *shown_role;
    const char *shown_organisation;
    const char *shown_address;
    aod_mask_tier tier; /* the tier applied */

    /* The line's reference (issue 16 point 6): the same in every format
     * and every run, derived from its records, never from its position.
     * ref_sum adds up each record's 64-bit key (report.c: its FHIR id and
     * observer, else its stored form), so merging lines adds their sums and
     * the order records arrive in does not matter; ref is that sum written
     * as ten Crockford base-32 characters ("K7Q2M-9XD4P"), set on the way
     * to the renderers (aod_entry_ref_format). */
    uint64_t ref_sum;
    const char *ref;

    /* Traceability (privacy office, explain). */
    long group;                /* dedup group number, 1-based, unique in the report */
    const int64_t *record_ids; /* store ids of the raw records behind the line */
    size_t n_record_ids;
} aod_entry;

/* Writes the reference of a line whose records add up to sum into out (at
 * least AOD_ENTRY_REF_SIZE bytes): "XXXXX-XXXXX", ten characters of the
 * Crockford base-32 alphabet (no I L O U) and a hyphen.  Returns out. */
#define AOD_ENTRY_REF_SIZE 12
char *aod_entry_ref_format(uint64_t sum, char *out, size_t size);

/* Parses a reference as a person types it back: case-insensitive, with or
 * without the hyphen or spaces, I and L read as 1, O as 0.  Writes the
 * canonical form into out (AOD_ENTRY_REF_SIZE bytes).  Returns 0, or -1 when
 * s is not ten base-32 characters. */
int aod_entry_ref_parse(const char *s, char *out, size_t size);

/* Why a line is in the patient's notification digest (batch --notify,
 * doc/notifications.md).  The order is the digest's. */
typedef enum aod_notify_reason {
    AOD_NOTIFY_NEW_ORGANISATION = 0, /* the first access by an organisation new to the patient */
    AOD_NOTIFY_EMERGENCY,            /* an emergency (break-glass) access */
    AOD_NOTIFY_RESTRICTED,           /* an access to a record the site marks restricted (VIP) */
    AOD_NOTIFY_DISCLOSURE,           /* a disclosure outside the covered entity */
    AOD_NOTIFY_FLAGGED,              /* a flag the site marks notify fired (which: not said) */
    AOD_NOTIFY_COUNT
} aod_notify_reason;

/* "new-organisation", "emergency", "restricted", "disclosure", "review". */
const char *aod_notify_reason_name(aod_notify_reason r);

/* The organisation of an outside party on line e, as the digest's
 * new-organisation compares it: its organisation's name, else (an
 * organisation agent) its name, else its reference; NULL for staff, the
 * patient and their representatives, systems, and a party with none of
 * these (borrowed from e).  Compared, never shown. */
const char *aod_entry_org_key(const aod_entry *e);

/* The callback through which a stage hands an entry on.  The entry is
 * borrowed for the call; the receiver copies what it keeps (strings are
 * pool-owned and need no copy; record_ids must be copied). */
typedef int (*aod_entry_fn)(void *ctx, const aod_entry *e, aod_error *err);

/* report --mode breach (doc/breach.md): the notification letter a patient
 * is owed for accesses the privacy office found were not permitted, made
 * from the lines of the patient's access report with these references.
 * Strings borrowed. */
#define AOD_BREACH_MAX_REFS 32
typedef struct aod_breach {
    const char *refs[AOD_BREACH_MAX_REFS]; /* canonical (aod_entry_ref_parse) */
    size_t n_refs;
    const char *actions; /* what the organisation did about it (required) */
    const char *contact; /* whom to contact; NULL: the policy's privacy office */
    int64_t discovered;  /* when it was found (ms), 0 when not given */
} aod_breach;

/* The report as asked for. */
typedef struct aod_report_info {
    aod_mode mode;
    aod_audience audience;
    const char *lang;                /* "en", "es", ... */
    const char *const *patient_keys; /* store form, see record.h */
    size_t n_patient_keys;
    const char *patient_name; /* may be NULL */
    int64_t from;             /* period covered, [from, to), ms */
    int64_t to;
    int64_t now;              /* when the report was generated */
    int64_t requested;        /* when the request was received, 0 if not given */
    const aod_policy *policy; /* organisation, time zone, ... (borrowed) */
    /* What the search responses these events came in said they left out
     * (the stored search outcomes of these keys, store.h): messages,
     * borrowed; the completeness statement says them. */
    const char *const *search_outcomes;
    size_t n_search_outcomes;
    /* What the site knows (roster, patient facts, care; model/facts.h),
     * borrowed; NULL when not read (the patient's copy never reads it). */
    const aod_facts *facts;
    /* What the store can say about its own completeness (store-wide facts:
     * the sources, since when each logs, the horizon, the days a daily
     * source logged nothing); NULL when not known (borrowed). */
    const struct aod_completeness *completeness;
    /* The patient's care relationships the site supplied (load-care), as
     * evidence of a reason (issue 16 point 3): a line with no recorded
     * reason by a person on the patient's care team around the access
     * (the policy's care-window-hours, as the flags' coverage counts it)
     * says so, with the relationship's dates.  Read for every audience;
     * NULL: use facts' care list (the privacy office's), if any.  Borrowed. */
    const aod_facts *care;
    /* batch --notify: mark the lines the patient's digest names
     * (aod_entry.notify), and the organisations that accessed the patient's
     * record before `from` (sorted in byte order, borrowed), which are not
     * new. */
    int notify;
    const char *const *seen_orgs;
    size_t n_seen_orgs;
    /* report --mode breach: the letter for these lines only (an access
     * report, the patient's copy); NULL for every other report. */
    const aod_breach *breach;
} aod_report_info;

/* One source system (source.observer) as the store knows it. */
typedef struct aod_source {
    const char *observer; /* the observer's identity, as the loader keys it */
    const char *display;  /* its name when recorded, else NULL */
    int64_t first_day;    /* first and last UTC day it logged anything, ms */
    int64_t last_day;
    long days; /* days it logged on, between them */
    int daily; /* 1: it logs (nearly) every day, so a silent day is a gap */
} aod_source;

/* A run of days on which a daily source logged nothing for anyone. */
typedef struct aod_gap {
    const char *observer; /* as in aod_source */
    const char *display;
    int64_t from_day; /* first and last silent day (UTC day starts, ms) */
    int64_t to_day;
} aod_gap;

/* The store's completeness facts for one report (store.h fills it). */
typedef struct aod_completeness {
    int64_t horizon; /* before this (ms) nothing can be shown; 0 when the store is empty */
    const aod_source *sources;
    size_t n_sources;
    const aod_gap *gaps; /* inside the report's period, in time order */
    size_t n_gaps;
    long more_gaps; /* runs not listed (the list is capped) */
} aod_completeness;

/* Which section of the summary a line belongs to: a person (staff, an
 * outside person, the patient or a representative), an organisation, or a
 * system acting on its own (batch jobs, interfaces, population queries,
 * scheduled report runs).  The CSV's `section` column names it. */
typedef enum aod_section {
    AOD_SECTION_PERSON = 0,
    AOD_SECTION_ORGANISATION,
    AOD_SECTION_SYSTEM,
    AOD_SECTION_COUNT
} aod_section;

/* e's section, from the actor's class (classify decides who is a system). */
aod_section aod_entry_section(const aod_entry *e);

/* "person", "organisation", "system"; "?" otherwise. */
const char *aod_section_name(aod_section s);

#define AOD_OVERVIEW_MAX_KINDS   12 /* distinct kinds of data kept per summary line */
#define AOD_OVERVIEW_MAX_REASONS 6  /* distinct reasons kept per summary line */

/* One line of the summary that comes first in every report: everything one
 * person, organisation or system (as the audience sees it: the masked
 * identity is the key) did in the report.  Strings are borrowed from the
 * report's pool. */
typedef struct aod_overview_line {
    aod_section section;
    const char *name;         /* shown_name */
    const char *role;         /* shown_role, may be NULL */
    const char *organisation; /* shown_organisation, may be NULL */
    /* System lines are kept apart per thing done: the action letter and
     * classify's activity key (see aod_entry); person lines leave them 0. */
    char action;
    const char *activity;
    int64_t first; /* first access (ms) */
    int64_t last;  /* last access (ms) */
    long count;    /* accesses (events) behind the line */
    long records;  /* raw audit records behind them */
    long people;   /* distinct identities behind the masked name */
    /* Kinds of data seen (FHIR resource types), in the order first seen,
     * and how many of the line's accesses involved each. */
    const char *kinds[AOD_OVERVIEW_MAX_KINDS];
    long kind_count[AOD_OVERVIEW_MAX_KINDS];
    size_t n_kinds;
    int more_kinds; /* 1 when more kinds were seen than kept */
    /* Reasons recorded (purpose code and display, either may be NULL). */
    const char *reason_code[AOD_OVERVIEW_MAX_REASONS];
    const char *reason_display[AOD_OVERVIEW_MAX_REASONS];
    size_t n_reasons;
    int more_reasons;
    long no_reason; /* accesses behind the line with no reason recorded */
} aod_overview_line;

/* The summary: its lines (persons first, then organisations, then systems;
 * each by first access) and its totals.  "records audit records -> accesses
 * accesses by people people and organisations organisations" (+ systems). */
typedef struct aod_overview {
    const aod_overview_line *lines;
    size_t n_lines;
    long records;       /* raw audit records read (as records_read) */
    long accesses;      /* accesses in the report (sum of the lines' counts) */
    long people;        /* distinct persons behind the person lines */
    long organisations; /* organisation lines */
    long systems;       /* system lines' distinct systems */
    long system_accesses;
} aod_overview;

/* Counts that every output states the same way. */
typedef struct aod_report_summary {
    long records_read;                  /* raw audit records read from the store */
    long records_unreadable;            /* could not be decoded; named on stderr */
    long events;                        /* real events after de-duplication */
    long entries;                       /* lines in the report */
    long by_class[AOD_CLASS_COUNT];     /* events per class */
    long by_exclusion[AOD_EXCL_IX + 1]; /* excluded events per 164.528(a) exclusion */
    long suspended;                     /* disclosures withheld under a suspension */
    long summarised;                    /* disclosures folded into summary lines */
    /* The privacy office's own report runs (AOD_ENTRY_SELF_AUDIT): never in
     * records_read, events or by_class; said once, in plain words. */
    long self_audit;         /* report runs, after de-duplication */
    long self_audit_records; /* the raw records behind them */
    /* The first stored records that could not be read (store ids), so the
     * completeness note can name them; n_unreadable_ids <= records_unreadable. */
    int64_t unreadable_ids[16];
    size_t n_unreadable_ids;
    /* Privacy office only (the flags stage; 0 / NULL otherwise):
     * explanation coverage, the accesses explained by a recorded purpose,
     * a consent or authorization, or a care relationship or encounter, over
     * all accesses; per person in coverage[0..n_coverage), most accesses
     * first (borrowed from the report, valid until it is freed); and how
     * many lines carry a flag. */
    long coverage_accesses;
    long coverage_explained;
    const struct aod_coverage *coverage;
    size_t n_coverage;
    long flagged_lines;
    int flags_on; /* 1: the flags stage ran (the policy turns flags on) */
    /* Reasons (issue 16 point 3): of `reason_base` events in the lines
     * listed, how many had a recorded or evidenced reason. */
    long reasoned;
    long reason_base;
    /* The observers behind the listed lines (pool strings, distinct, in
     * the order first met; at most 32, more counted in more_observers). */
    const char *observers[32];
    size_t n_observers;
    long more_observers;
    /* Codes the templates have no words for (roles, purposes, resource
     * types) on this report's lines: the patient's copy says a plain phrase
     * instead, the privacy office's lists them so that words get added.
     * lines_without_words counts the lines with one (AOD_ENTRY_NO_WORDS);
     * no_words holds the first distinct (kind, code) pairs with how many
     * lines each was on, no_words_more the lines of pairs that did not fit.
     * Strings are borrowed from the report's pool: valid until the report
     * is freed. */
    long lines_without_words;
    struct {
        const char *kind; /* "purpose", "role", "resource" */
        const char *code;
        long count;
    } no_words[16];
    size_t n_no_words;
    long no_words_more;
    /* The summary of who did what (pipeline/overview.h), borrowed from the
     * report run: valid until aod_report_free(); NULL in explain runs. */
    const aod_overview *overview;
} aod_report_summary;

/* One person's explanation coverage. */
typedef struct aod_coverage {
    const char *who; /* the actor key as recorded (privacy office copy) */
    long accesses;
    long explained;
} aod_coverage;

/* A renderer.  begin() once, entry() per line in time order, end() once
 * with the final counts; free() always (after a failure too).  A sink that
 * needs the counts before the lines (PDF, Bundle) keeps the lines until
 * end().  Each returns 0 / -1 with err set. */
typedef struct aod_sink aod_sink;
struct aod_sink {
    int (*begin)(aod_sink *s, const aod_report_info *info, aod_error *err);
    int (*entry)(aod_sink *s, const aod_entry *e, aod_error *err);
    int (*end)(aod_sink *s, const aod_report_summary *sum, aod_error *err);
    void (*free)(aod_sink *s);
};

/* A step that fills e's shown_* fields in place: the mask stage behind ctx
 * (pipeline/mask.h), for a renderer that is handed unmasked entries.
 * Returns 0 / -1 with err set. */
typedef int (*aod_entry_mask_fn)(void *ctx, aod_entry *e, aod_error *err);

/* What the explain view says about one raw audit record.  Strings are
 * borrowed from the report's pool. */
typedef struct aod_trace {
    int64_t record_id;
    int64_t recorded;
    const char *fhir_id;
    aod_class cls;
    aod_exclusion exclusion;
    const char *rule;   /* the policy rule that decided */
    const char *reason; /* that rule's reason in words (explain), NULL until set */
    long group;         /* dedup group, 0 if none */
    long group_records;
    long line;                   /* report line it ended up in, 0 if none */
    const char *fate;            /* why it is not in the report, NULL if not said */
    const char *shown;           /* the name shown, NULL if not masked */
    int tier;                    /* aod_mask_tier applied, -1 when not masked */
    unsigned access_flags;       /* the line's access flags (privacy office) */
    const char *access_evidence; /* their evidence, NULL when none */
    const char *access_words;    /* their sentences (templates), set by explain */
    /* The line it ended up in (issue 16 point 6): its reference, and the
     * basis of its reason and what showed it; NULL / NONE if none. */
    const char *ref;
    aod_reason basis;
    const char *basis_evidence;
    /* The stored AuditEvent itself (JSON), when the explain view asks for
     * one line's raw records (explain --ref); NULL otherwise. */
    const char *resource;
} aod_trace;

/* The explain view's renderer.  begin() once, trace() per raw record in the
 * order read, end() once; free() always (after a failure too).  Each returns
 * 0 / -1 with err set. */
typedef struct aod_trace_sink aod_trace_sink;
struct aod_trace_sink {
    int (*begin)(aod_trace_sink *s, aod_error *err);
    int (*trace)(aod_trace_sink *s, const aod_trace *t, aod_error *err);
    int (*end)(aod_trace_sink *s, aod_error *err);
    void (*free)(aod_trace_sink *s);
};

#endif
