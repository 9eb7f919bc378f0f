/*
 * entry.c - the names of the line model's classes and flags (see entry.h).
 */
#include "model/entry.h"

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
