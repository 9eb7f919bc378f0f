/*
 * policy.h - the site policy: policy XML + XSD -> one plain struct.
 *
 * Not a pipeline stage but what every stage reads: classify takes its rules
 * and the covered entity's boundary, dedup and summarize their windows, the
 * suspension handling its list, mask its tiers, render the organisation,
 * time zone and language.  The loader parses the XML with libxml2 (no network,
 * no DTD, no entity expansion), validates it against data/policy.xsd, adds
 * the checks XML Schema cannot make, and builds an aod_policy.
 *
 * An aod_policy is a public struct of plain fields, read-only after loading.
 * Every string and array in it belongs to the policy and lives until
 * aod_policy_free(); a pointer taken from it is borrowed.  Absent optional
 * strings are NULL; absent lists have count 0 (and a NULL array).  Sections
 * the file leaves out hold the defaults documented field by field below and
 * in doc/policy.md.
 */
#ifndef AOD_POLICY_H
#define AOD_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* The XML namespace of policy files. */
#define AOD_POLICY_NS "urn:aodreport:policy:1"

/* ------------------------------------------------------------ enumerations */

/* 45 CFR 164.528(a)(1): the disclosures an accounting leaves out. */
typedef enum aod_exclusion {
    AOD_EXCL_NONE = 0,
    AOD_EXCL_I,    /* treatment, payment, health care operations (164.506) */
    AOD_EXCL_II,   /* to the individual about themselves (164.502) */
    AOD_EXCL_III,  /* incident to a permitted use or disclosure (164.502) */
    AOD_EXCL_IV,   /* pursuant to an authorization (164.508) */
    AOD_EXCL_V,    /* facility directory, persons involved in care, notification (164.510) */
    AOD_EXCL_VI,   /* national security or intelligence (164.512(k)(2)) */
    AOD_EXCL_VII,  /* correctional institutions, law enforcement with custody (164.512(k)(5)) */
    AOD_EXCL_VIII, /* part of a limited data set (164.514(e)) */
    AOD_EXCL_IX    /* before the compliance date */
} aod_exclusion;

/* What a classification rule decides. */
typedef enum aod_verdict {
    AOD_VERDICT_REPORTABLE = 0, /* a disclosure the HIPAA accounting lists */
    AOD_VERDICT_EXCLUDED,       /* a disclosure 164.528(a) leaves out (see exclusion) */
    AOD_VERDICT_INTERNAL        /* a use inside the covered entity, not a disclosure */
} aod_verdict;

/* Where a purpose-of-use condition looks. */
typedef enum aod_purpose_level {
    AOD_PURPOSE_ANY = 0, /* the event's purpose or any agent's */
    AOD_PURPOSE_EVENT,   /* R4 purposeOfEvent, R5/R6 authorization (aod_record.purpose) */
    AOD_PURPOSE_AGENT    /* R4 agent.purposeOfUse, R5/R6 agent.authorization, any agent */
} aod_purpose_level;

/* Who received the data, as the classify stage determines it. */
typedef enum aod_recipient_kind {
    AOD_RECIPIENT_UNTESTED = 0, /* the rule does not look at the recipient */
    AOD_RECIPIENT_PATIENT,      /* the patient or their personal representative */
    AOD_RECIPIENT_OUTSIDE,      /* someone outside the covered entity (business associates too) */
    AOD_RECIPIENT_INSIDE        /* no recipient outside: workforce or the entity's own systems */
} aod_recipient_kind;

/* Which way the data moved (classify.h says how it is found).  Only data
 * leaving the covered entity can be a 164.528 disclosure. */
typedef enum aod_direction {
    AOD_DIRECTION_UNTESTED = 0, /* the rule does not look at the direction */
    AOD_DIRECTION_IN,           /* an outside party sent or wrote data into our records */
    AOD_DIRECTION_OUT           /* anything else: a use, or data that left */
} aod_direction;

/* Which agent.policy URIs count as a recorded authorization. */
typedef enum aod_agent_policy_use {
    AOD_AGENT_POLICY_ANY = 0, /* every agent.policy URI */
    AOD_AGENT_POLICY_LISTED,  /* only those starting with a listed prefix */
    AOD_AGENT_POLICY_IGNORE   /* none (the site's policy URIs mean something else) */
} aod_agent_policy_use;

/* Failed attempts (outcome other than 0) in an access report. */
typedef enum aod_failed_mode {
    AOD_FAILED_OMIT = 0, /* leave them out */
    AOD_FAILED_SEPARATE, /* list them in a section of their own */
    AOD_FAILED_FLAG      /* list them with the rest, marked as failed */
} aod_failed_mode;

typedef enum aod_statement { AOD_STATEMENT_WRITTEN = 0, AOD_STATEMENT_ORAL } aod_statement;

/* Kinds of actor the mask stage tells apart. */
typedef enum aod_actor_class {
    AOD_ACTOR_WORKFORCE = 0,         /* staff of the covered entity */
    AOD_ACTOR_EXTERNAL_PERSON,       /* a person outside the covered entity */
    AOD_ACTOR_EXTERNAL_ORGANISATION, /* an organisation outside the covered entity */
    AOD_ACTOR_PATIENT_OR_REPRESENTATIVE,
    AOD_ACTOR_SYSTEM_DEVICE, /* software, devices, automated queries */
    AOD_ACTOR_CLASS_COUNT
} aod_actor_class;

/* The access flags of the privacy office's copy (pipeline/flags.h,
 * doc/privacy-office.md): signals that an access may need a look, each on
 * or off in the policy's <access-flags>.  Never in the patient's copy. */
typedef enum aod_access_flag {
    AOD_AFLAG_SAME_SURNAME = 0,   /* the person shares the patient's surname */
    AOD_AFLAG_SAME_ADDRESS,       /* ... the patient's address */
    AOD_AFLAG_CO_WORKER,          /* the patient works here too */
    AOD_AFLAG_VIP,                /* a VIP or restricted record */
    AOD_AFLAG_SELF_ACCESS,        /* staff opening their own record */
    AOD_AFLAG_FAMILY,             /* same surname and same address */
    AOD_AFLAG_OUTSIDE_EMPLOYMENT, /* outside the person's employment dates */
    AOD_AFLAG_NO_RELATIONSHIP,    /* no care relationship around the access */
    AOD_AFLAG_AFTER_HOURS,        /* outside the site's hours */
    AOD_AFLAG_VOLUME_SPIKE,       /* far more accesses than the person's usual rate */
    AOD_AFLAG_EMERGENCY,          /* emergency (break-glass) access */
    AOD_AFLAG_COUNT
} aod_access_flag;

/* Who reads the report. */
typedef enum aod_audience {
    AOD_AUDIENCE_PATIENT = 0,
    AOD_AUDIENCE_PRIVACY_OFFICE,
    AOD_AUDIENCE_COUNT
} aod_audience;

/* How much of an actor's identity is shown, most to least. */
typedef enum aod_mask_tier {
    AOD_TIER_FULL_NAME = 0, /* the name as recorded */
    AOD_TIER_PSEUDONYM,     /* a stable keyed pseudonym ("Staff member K7Q") */
    AOD_TIER_ROLE_UNIT,     /* role and unit/department, no name */
    AOD_TIER_ORGANISATION,  /* the organisation only */
    AOD_TIER_GENERIC        /* a fixed label ("a staff member"), see aod_policy_mask.label */
} aod_mask_tier;

/* ------------------------------------------------------------ small parts */

typedef struct aod_policy_identifier {
    const char *system; /* NULL in a match key: any system */
    const char *value;
} aod_policy_identifier;

/* How to recognise one outside party in an event; any one key matching is
 * enough.  Names compare without regard to case and surrounding space;
 * identifiers compare exactly (system too, when given); a network domain
 * matches a host equal to it or ending in "." + domain; references compare
 * with FHIR references as the record holds them ("Organization/123"). */
typedef struct aod_policy_party {
    const char **names; /* names[0] is the display name when any */
    size_t n_names;
    aod_policy_identifier *identifiers;
    size_t n_identifiers;
    const char **domains;
    size_t n_domains;
    const char **references;
    size_t n_references;
} aod_policy_party;

/* A calendar date.  days counts from 1970-01-01 (day 0) and is what to
 * compare; text is the ISO form. */
typedef struct aod_policy_date {
    int year, month, day;
    int64_t days;
    char text[11];
} aod_policy_date;

/* A period of whole years, months and days ("P6Y", "P1Y6M"). */
typedef struct aod_policy_period {
    int years, months, days;
    const char *text;
} aod_policy_period;

/* A code condition: one of codes[] in system (NULL: any system). */
typedef struct aod_policy_codes {
    int tested; /* 0: the rule does not test this; the rest is empty */
    const char *system;
    const char **codes;
    size_t n_codes;
} aod_policy_codes;

/* One classification rule.  The classify stage tries rules in order; the
 * first whose every tested condition holds decides.  See doc/policy.md for
 * how each condition reads an aod_record. */
typedef struct aod_policy_rule {
    const char *id;          /* shown by explain and in the privacy-office CSV */
    const char *description; /* may be NULL */
    long line;               /* where the rule is in the policy file */

    /* Conditions. */
    aod_policy_codes purpose;        /* a purpose of use among these codes ... */
    aod_purpose_level purpose_level; /* ... at this level */
    int no_purpose;                  /* 1: no purpose recorded at any level */
    aod_policy_codes event_type;     /* aod_record.type (R4 type, R5 category) */
    aod_policy_codes event_subtype;  /* aod_record.subtype (R4 subtype, R5 code) */
    const char *actions;             /* NULL, or the accepted action letters ("RE") */
    aod_recipient_kind recipient;
    aod_direction direction;         /* data flowing in, or not */
    int authorization;               /* -1 untested, 1 one must be recorded, 0 none may be */
    aod_policy_codes security_label; /* any entity's securityLabel */

    /* Result. */
    aod_verdict verdict;
    aod_exclusion exclusion; /* AOD_EXCL_NONE unless verdict is EXCLUDED */
    const char *reason;      /* short key ("treatment"); required when EXCLUDED */
    const char *flag;        /* e.g. "purpose-not-recorded"; may be NULL */
} aod_policy_rule;

typedef struct aod_policy_suspension {
    const char *id;
    long line;
    const char *agency;              /* the oversight agency or law enforcement official */
    const char *official;            /* who made the statement; may be NULL */
    const char *statement_reference; /* letter number, note of the call; may be NULL */
    aod_statement statement;
    aod_policy_date start;         /* first day suspended */
    aod_policy_date end;           /* last day suspended (inclusive), after the oral cap */
    aod_policy_date end_requested; /* the end the file gave (== end unless clamped) */
    int clamped;                   /* 1: an oral suspension was cut to 30 days */
    aod_policy_party covers;       /* the recipients whose disclosures are withheld */
} aod_policy_suspension;

typedef struct aod_policy_mask {
    aod_mask_tier tier;
    const char *label; /* text key for the generic tier, e.g. "actor.workforce"; never NULL */
} aod_policy_mask;

typedef struct aod_policy_warning {
    long line; /* 0 when it concerns the file as a whole */
    const char *text;
} aod_policy_warning;

/* ----------------------------------------------------------------- policy */

typedef struct aod_policy {
    const char *name;   /* the policy's name attribute, e.g. "hipaa-default" */
    const char *source; /* the file name it was loaded from (or the given name) */
    /* 1: the file says demo="true": its organisation, domains and contact are
     * placeholders (examples/policies/demo.xml).  A report refuses it unless
     * the user named the file explicitly (--policy); `check` flags it. */
    int demo;

    struct {
        const char *name;
        const char **address; /* address lines, in order */
        size_t n_address;
        aod_policy_identifier *identifiers;
        size_t n_identifiers;
        const char *privacy_name;  /* the privacy office */
        const char *privacy_phone; /* may be NULL */
        const char *privacy_email; /* may be NULL */
    } organisation;

    /* Who counts as inside the covered entity (workforce, own systems). */
    struct {
        const char **organisation_refs; /* "Organization/123" */
        size_t n_organisation_refs;
        const char **identifier_systems; /* who.identifier.system values of the workforce */
        size_t n_identifier_systems;
        const char **domains; /* network domains of the entity's own hosts */
        size_t n_domains;
        aod_policy_party *business_associates; /* outside, named, still accounted */
        size_t n_business_associates;
    } inside;

    struct {
        aod_policy_rule *rules;
        size_t n_rules;
        aod_verdict unmatched; /* when no rule matches: REPORTABLE (default) or INTERNAL */
        aod_agent_policy_use agent_policy; /* default ANY */
        const char **policy_prefixes;      /* with AOD_AGENT_POLICY_LISTED */
        size_t n_policy_prefixes;
        int consent_entity; /* 1 (default): a Consent entity is an authorization */
        /* 1 (default): the patient (or a personal representative) recorded as
         * the authorizer agent (SNOMED 429577009, BALP PrivacyDisclosure)
         * is an authorization */
        int patient_authorizer;
    } classification;

    struct {
        aod_policy_period disclosures_lookback; /* default P6Y */
        aod_policy_period access_lookback;      /* default P3Y */
        aod_failed_mode access_failed;          /* default SEPARATE */
    } modes;

    struct {
        int pair_window_seconds; /* client/server pairing window, default 5 */
        int page_window_seconds; /* search page collapse window, default 300 */
        int sessions;            /* 1 (default): the access report groups one person's
                                  * consecutive accesses into sessions; never the
                                  * accounting, whose lines are disclosures */
        int session_gap_minutes; /* default 30 */
    } dedup;

    struct {
        int enabled;   /* default 1 */
        int min_count; /* at least this many disclosures to summarise; default 2 */
    } summarize;

    aod_policy_suspension *suspensions;
    size_t n_suspensions;

    /* <access-flags> (doc/policy.md): which flags the privacy office's copy
     * computes, and their settings.  Absent: none. */
    struct {
        unsigned enabled;       /* bit aod_access_flag: on; default 0 (all off) */
        unsigned notify;        /* bit aod_access_flag: batch --notify tells the patient */
        int care_window_hours;  /* no-relationship: +- this around the access; default 24 */
        int hours_start;        /* site hours, minutes after midnight local; default 420 (07:00) */
        int hours_end;          /* default 1140 (19:00); end > start */
        unsigned days;          /* working days, bit 0 Sunday .. bit 6 Saturday; default Mon-Fri */
        int spike_window_hours; /* volume-spike window; default 24 */
        int spike_min_count;    /* at least this many in the window; default 20 */
        int spike_factor;       /* and this many times the usual rate; default 5 */
    } access_flags;

    struct {
        /* tiers[audience][actor class]; defaults in doc/policy.md */
        aod_policy_mask tiers[AOD_AUDIENCE_COUNT][AOD_ACTOR_CLASS_COUNT];
        /* The HMAC key file for stable pseudonyms, resolved against the
         * policy file's directory; NULL when none is configured.  Not read
         * here: the mask stage reads it when it needs it. */
        const char *pseudonym_secret;
        /* Protected staff (<protected-staff>): a workforce member with an
         * identifier in one of these systems, or whose reference or
         * "system|value" is one of these keys, is shown to the patient as
         * their unit only (pipeline/mask.h).  NULL / 0 when none. */
        const char **protected_systems;
        size_t n_protected_systems;
        const char **protected_keys;
        size_t n_protected_keys;
        /* <masking name-recipient-persons="true">: a person outside the
         * covered entity (the recipient of a disclosure, an outside person
         * in the access report) is shown to the patient by name.  Default
         * 0: by organisation, host or role with the address, never by
         * personal name, since the boundary is drawn from domains and
         * identifier systems that can miss a staff member (pipeline/mask.h).
         * The privacy office sees names either way. */
        int name_recipient_persons;
    } masking;

    struct {
        const char *time_zone; /* IANA name or "UTC" (default) */
        const char *language;  /* default "en" */
    } presentation;

    /* Things the loader accepted but changed or doubts, for the privacy
     * office to see (e.g. an oral suspension clamped to 30 days). */
    aod_policy_warning *warnings;
    size_t n_warnings;

    struct aod_policy_mem *mem; /* owns everything above; private */
} aod_policy;

/* ---------------------------------------------------------------- loading */

/* Loads the policy file at path (borrowed), validating it against the XSD
 * file at xsd_path (borrowed; NULL: AOD_DATADIR "/policy.xsd").  Returns a
 * new policy to free with aod_policy_free(), or NULL with err set: AOD_ERR_IO
 * when a file cannot be read, AOD_ERR_POLICY with source = path, line = the
 * offending line and text = what is wrong, AOD_ERR_NOMEM. */
aod_policy *aod_policy_load_file(const char *path, const char *xsd_path, aod_error *err);

/* The same from memory: xml (borrowed, len bytes) is the policy, name
 * (borrowed; NULL: "<policy>") names it in errors and anchors relative
 * paths (its directory part, when it has one), xsd_text (borrowed, xsd_len
 * bytes, required) is the schema.  Returns a new policy or NULL with err set. */
aod_policy *aod_policy_load_memory(const char *xml, size_t len, const char *name,
                                   const char *xsd_text, size_t xsd_len, aod_error *err);

/* Frees the policy and everything it owns.  Accepts NULL. */
void aod_policy_free(aod_policy *p);

/* ------------------------------------------------------------------ names
 * Each returns a static string (never NULL; "?" for a value out of range). */

/* "(i) treatment, payment and health care operations", ..., "" for NONE. */
const char *aod_policy_exclusion_name(aod_exclusion e);
/* "i" ... "ix", "" for NONE: the form used in the policy file. */
const char *aod_policy_exclusion_key(aod_exclusion e);
/* "reportable", "excluded", "internal". */
const char *aod_policy_verdict_name(aod_verdict v);
/* "workforce", "external-person", ... as in the policy file. */
const char *aod_policy_actor_class_name(aod_actor_class c);
/* "same-surname", "same-address", "co-worker", "vip", "self-access",
 * "family", "outside-employment", "no-relationship", "after-hours",
 * "volume-spike", "emergency": the ids of the policy file, the CSV and the
 * Bundle. */
const char *aod_policy_access_flag_id(aod_access_flag f);
/* "patient", "privacy-office". */
const char *aod_policy_audience_name(aod_audience a);
/* "full-name", "pseudonym", "role-unit", "organisation", "generic". */
const char *aod_policy_tier_name(aod_mask_tier t);

#endif
