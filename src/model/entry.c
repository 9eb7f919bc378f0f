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
