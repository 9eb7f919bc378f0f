/*
 * notify.c - stage "notify" (see notify.h; the digest is described in
 * doc/notifications.md).
 *
 * Pipeline stage, batch --notify only.  In memory: the organisations seen
 * before the period come sorted in the report info, and those this report
 * has named are a short list (a patient's month has few).
 */
#include "pipeline/notify.h"

#include <stdlib.h>
#include <string.h>

#include "model/facts.h"
#include "pipeline/flags.h"

struct aod_notify {
    const aod_report_info *info;
    int restricted;     /* the patient facts say VIP or restricted */
    const char **named; /* organisations already notified (borrowed from lines' pool) */
    size_t n_named, cap_named;
};

aod_notify *aod_notify_new(const aod_report_info *info)
{
    aod_notify *n = calloc(1, sizeof *n);
    const aod_patient_facts *pf;

    if (!n)
        return NULL;
    n->info = info;
    pf = info->facts ? aod_facts_patient(info->facts) : NULL;
    n->restricted = pf && pf->known && pf->vip;
    return n;
}

void aod_notify_free(aod_notify *n)
{
    if (!n)
        return;
    free(n->named);
    free(n);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 1 when org is new to the patient and not yet named by this report; then
 * remembers it.  -1 out of memory. */
static int first_time(aod_notify *n, const char *org)
{
    size_t i;

    if (n->info->n_seen_orgs && bsearch(&org, n->info->seen_orgs, n->info->n_seen_orgs,
                                        sizeof *n->info->seen_orgs, cmp_str))
        return 0;
    for (i = 0; i < n->n_named; i++)
        if (strcmp(n->named[i], org) == 0)
            return 0;
    if (n->n_named == n->cap_named) {
        size_t cap = n->cap_named ? 2 * n->cap_named : 8;
        const char **v = realloc(n->named, cap * sizeof *v);
        if (!v)
            return -1;
        n->named = v;
        n->cap_named = cap;
    }
    n->named[n->n_named++] = org;
    return 1;
}

static int outside_disclosure(const aod_entry *e)
{
    if (e->cls == AOD_CLASS_DISCLOSURE)
        return 1;
    if (e->cls != AOD_CLASS_EXCLUDED)
        return 0;
    switch (e->exclusion) {
    case AOD_EXCL_I:
    case AOD_EXCL_III:
    case AOD_EXCL_IV:
    case AOD_EXCL_V:
    case AOD_EXCL_VIII:
        return 1;
    default:
        return 0;
    }
}

int aod_notify_mark(aod_notify *n, aod_entry *e, aod_error *err)
{
    const char *org;
    unsigned bits = 0;

    e->notify = 0;
    if (e->flags & (AOD_ENTRY_SELF_AUDIT | AOD_ENTRY_FAILED | AOD_ENTRY_SUSPENDED))
        return 0;
    if ((org = aod_entry_org_key(e))) {
        int r = first_time(n, org);
        if (r < 0) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
            return -1;
        }
        if (r)
            bits |= 1u << AOD_NOTIFY_NEW_ORGANISATION;
    }
    if (aod_flags_is_emergency(e))
        bits |= 1u << AOD_NOTIFY_EMERGENCY;
    if (n->restricted && e->cls != AOD_CLASS_OUT_OF_SCOPE)
        bits |= 1u << AOD_NOTIFY_RESTRICTED;
    if (outside_disclosure(e))
        bits |= 1u << AOD_NOTIFY_DISCLOSURE;
    if (e->access_flags & n->info->policy->access_flags.notify)
        bits |= 1u << AOD_NOTIFY_FLAGGED;
    e->notify = bits;
    return 0;
}
