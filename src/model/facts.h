/*
 * facts.h - what the site knows about the people of one report: the staff
 * roster, the patient's own facts and their care relationships
 * (doc/privacy-office.md).  The app layer fills it from the store once per
 * report, before the first event; the flags stage (pipeline/flags.h) only
 * reads it, so the pipeline streams without a query per event.
 *
 * Times are milliseconds since the epoch: a date of the site inputs is its
 * day in the policy's time zone, [day start, next day start).  Every string
 * and array belongs to the aod_facts and lives until aod_facts_free().
 */
#ifndef AOD_FACTS_H
#define AOD_FACTS_H

#include <stddef.h>
#include <stdint.h>

#define AOD_FACTS_NO_START INT64_MIN /* no start date: since ever */
#define AOD_FACTS_NO_END   INT64_MAX /* no end date: still */

/* One roster row: a staff key of a person and their employment period. */
typedef struct aod_staff {
    const char *key; /* the reference or "system|value" the audit events carry */
    const char *name;
    const char *surname;
    const char *address;
    const char *department;
    int64_t start;                   /* first day's start, or AOD_FACTS_NO_START */
    int64_t end;                     /* the day after the last day, or AOD_FACTS_NO_END */
    const char *const *patient_keys; /* the person's own patient keys */
    size_t n_patient_keys;
} aod_staff;

/* The patient's facts (from the rows of any of the report's keys). */
typedef struct aod_patient_facts {
    int known;           /* 1: a row for one of the keys was loaded */
    const char *surname; /* NULL when not given */
    const char *address;
    int vip;              /* VIP or restricted record */
    int employee;         /* the patient works here */
    const char *deceased; /* "YYYY-MM-DD" or NULL */
} aod_patient_facts;

/* A care relationship of the patient: staff_key had a reason to look in
 * [from, to). */
typedef struct aod_care {
    const char *staff_key;
    int64_t from; /* or AOD_FACTS_NO_START */
    int64_t to;   /* or AOD_FACTS_NO_END */
} aod_care;

typedef struct aod_facts aod_facts;

/* A new, empty set of facts (nothing loaded).  Returns it or NULL (out of
 * memory). */
aod_facts *aod_facts_new(void);

/* Frees f and everything it holds; accepts NULL. */
void aod_facts_free(aod_facts *f);

/* Says which inputs were ever loaded at the site: a flag that needs an input
 * that was never loaded does not judge (an empty care list loaded does). */
void aod_facts_set_loaded(aod_facts *f, int roster, int patient_facts, int care);
int aod_facts_roster_loaded(const aod_facts *f);
int aod_facts_patient_loaded(const aod_facts *f);
int aod_facts_care_loaded(const aod_facts *f);

/* Adds a roster row (strings copied; may be NULL but key).  patient_keys:
 * the person's own keys joined by 0x1F, or NULL.  Returns 0 / -1 (out of
 * memory). */
int aod_facts_add_staff(aod_facts *f, const char *key, const char *name, const char *surname,
                        const char *address, const char *department, int64_t start, int64_t end,
                        const char *patient_keys);

/* Merges a row of the patient's facts (strings copied): the first surname
 * and address given win, vip and employee are yes when any row says so.
 * Returns 0 / -1. */
int aod_facts_add_patient(aod_facts *f, const char *surname, const char *address, int vip,
                          const char *deceased, int employee);

/* Adds a care relationship (copied).  Returns 0 / -1. */
int aod_facts_add_care(aod_facts *f, const char *staff_key, int64_t from, int64_t to);

/* Sorts what was added for the lookups below; call once, after the adds.
 * Returns 0 / -1. */
int aod_facts_finish(aod_facts *f);

/* The roster rows of key (borrowed, *n of them, 0 and NULL when none). */
const aod_staff *aod_facts_staff(const aod_facts *f, const char *key, size_t *n);

/* The patient's facts (borrowed). */
const aod_patient_facts *aod_facts_patient(const aod_facts *f);

/* The first care relationship of key (borrowed) that overlaps [from, to),
 * or NULL. */
const aod_care *aod_facts_care_near(const aod_facts *f, const char *key, int64_t from, int64_t to);

/* The first care relationship of the person known by key or id_key
 * (either may be NULL) that overlaps [start - window, end + window], or
 * NULL: the one rule by which a care relationship explains an access (the
 * flags' coverage and no-relationship, the report's reason evidence). */
const aod_care *aod_facts_care_around(const aod_facts *f, const char *key, const char *id_key,
                                      int64_t start, int64_t end, int64_t window);

/* Counts, for the privacy office's note on what was read. */
size_t aod_facts_n_staff(const aod_facts *f);
size_t aod_facts_n_care(const aod_facts *f);

#endif
