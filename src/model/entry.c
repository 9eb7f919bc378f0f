/*
 * entry.c - the names of the line model's classes and flags (see entry.h).
 */
#include "model/entry.h"

#include <stdio.h>
#include <string.h>

const char *aod_class_name(aod_class c)
{
    switch (c) {
    case AOD_CLASS_DISCLOSURE:
        return "disclosure";
    case AOD_CLASS_EXCLUDED:
        return "excluded";
    case AOD_CLASS_INTERNAL:
        return "internal";
    case AOD_CLASS_FAILED:
        return "failed";
    case AOD_CLASS_OUT_OF_SCOPE:
        return "out-of-scope";
    case AOD_CLASS_COUNT:
        break;
    }
    return "?";
}

const char *aod_entry_flag_name(unsigned bit)
{
    switch (bit) {
    case AOD_ENTRY_SUMMARY:
        return "summary";
    case AOD_ENTRY_SESSION:
        return "session";
    case AOD_ENTRY_PURPOSE_UNKNOWN:
        return "purpose-unknown";
    case AOD_ENTRY_SUSPENDED:
        return "suspended";
    case AOD_ENTRY_FAILED:
        return "failed";
    case AOD_ENTRY_SELF_AUDIT:
        return "self-audit";
    case AOD_ENTRY_NO_WORDS:
        return "code-without-words";
    case AOD_ENTRY_NAME_WITHHELD:
        return "name-withheld";
    }
    return "?";
}

const char *aod_notify_reason_name(aod_notify_reason r)
{
    static const char *const names[AOD_NOTIFY_COUNT] = {"new-organisation", "emergency",
                                                        "restricted", "disclosure", "review"};
    return r < AOD_NOTIFY_COUNT ? names[r] : "?";
}

const char *aod_entry_org_key(const aod_entry *e)
{
    const aod_party *w = &e->who;

    if (w->cls != AOD_ACTOR_EXTERNAL_PERSON && w->cls != AOD_ACTOR_EXTERNAL_ORGANISATION)
        return NULL;
    if (w->organisation && *w->organisation)
        return w->organisation;
    if (w->cls == AOD_ACTOR_EXTERNAL_ORGANISATION && w->name && *w->name)
        return w->name;
    return w->reference && *w->reference ? w->reference : NULL;
}

const char *aod_reason_name(aod_reason r)
{
    switch (r) {
    case AOD_REASON_NONE:
        return "none";
    case AOD_REASON_PURPOSE:
        return "purpose";
    case AOD_REASON_EMERGENCY:
        return "emergency";
    case AOD_REASON_PATIENT:
        return "patient-request";
    case AOD_REASON_CONSENT:
        return "consent";
    case AOD_REASON_ENCOUNTER:
        return "encounter";
    case AOD_REASON_ORDER:
        return "order";
    case AOD_REASON_CARE:
        return "care-relationship";
    case AOD_REASON_COUNT:
        break;
    }
    return "?";
}

aod_section aod_entry_section(const aod_entry *e)
{
    switch (e->who.cls) {
    case AOD_ACTOR_SYSTEM_DEVICE:
        return AOD_SECTION_SYSTEM;
    case AOD_ACTOR_EXTERNAL_ORGANISATION:
        return AOD_SECTION_ORGANISATION;
    default:
        return AOD_SECTION_PERSON;
    }
}

const char *aod_section_name(aod_section s)
{
    switch (s) {
    case AOD_SECTION_PERSON:
        return "person";
    case AOD_SECTION_ORGANISATION:
        return "organisation";
    case AOD_SECTION_SYSTEM:
        return "system";
    case AOD_SECTION_COUNT:
        break;
    }
    return "?";
}

int aod_reason_recorded(aod_reason r)
{
    return r == AOD_REASON_PURPOSE || r == AOD_REASON_EMERGENCY || r == AOD_REASON_PATIENT ||
           r == AOD_REASON_CONSENT;
}

/* Crockford's base 32: digits and letters, without I L O U, so that a
 * reference read aloud or typed back cannot be mistaken. */
static const char ref_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

char *aod_entry_ref_format(uint64_t sum, char *out, size_t size)
{
    /* the sum's top 50 bits: 10 characters of 5 bits */
    uint64_t v = sum >> 14;
    char tmp[AOD_ENTRY_REF_SIZE];
    int i, o = 0;

    for (i = 9; i >= 0; i--) {
        tmp[o++] = ref_alphabet[(v >> (5 * i)) & 31u];
        if (i == 5)
            tmp[o++] = '-';
    }
    tmp[o] = '\0';
    if (size > 0)
        snprintf(out, size, "%s", tmp);
    return out;
}

int aod_entry_ref_parse(const char *s, char *out, size_t size)
{
    char digits[11];
    size_t n = 0;

    for (; s && *s; s++) {
        char c = *s;
        const char *p;
        if (c == '-' || c == ' ')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c == 'I' || c == 'L')
            c = '1';
        else if (c == 'O')
            c = '0';
        p = c ? strchr(ref_alphabet, c) : NULL;
        if (!p || n == 10)
            return -1;
        digits[n++] = c;
    }
    if (n != 10 || size < AOD_ENTRY_REF_SIZE)
        return -1;
    snprintf(out, size, "%.5s-%.5s", digits, digits + 5);
    return 0;
}
