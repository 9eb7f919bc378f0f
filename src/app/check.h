/*
 * check.h - `aodreport check`: is this site ready to write reports?
 *
 * Not a pipeline stage: it asks each part the pipeline needs whether it is
 * there, in the order a report needs them, without changing anything (it
 * never migrates the store, never writes a self-audit record):
 *   policy     found (as a report finds it), valid against the XSD, and not
 *              the demonstration or its placeholders (example domains);
 *   templates  the letter's language has templates;
 *   font       the PDF font (and its fallback font, as the PDF takes it) is
 *              readable and one of them has a glyph for every character of
 *              the letter's words and the policy's letterhead;
 *   database   reachable;
 *   schema     at this program's version;
 *   privilege  the login may read the report rows and record its self-audit.
 * Each finding is printed (one line each, or one JSON object); the first
 * problem decides the outcome.
 */
#ifndef AOD_CHECK_H
#define AOD_CHECK_H

#include "base/error.h"

typedef struct aod_check_options {
    const char *db;        /* conninfo, NULL: the PG* environment */
    const char *policy;    /* --policy, NULL: as a report finds it */
    const char *templates; /* --templates, NULL: installed / built in */
    const char *font;      /* --font, NULL: the build's default */
    /* --fallback-font: the font for what font lacks, as the PDF takes it;
     * NULL: the build's default when it is there, "": none */
    const char *fallback_font;
    const char *lang; /* --lang, NULL: the policy's (else "en") */
    int json;         /* 1: one JSON object on stdout instead of lines */
} aod_check_options;

/* Runs every check (o borrowed) and prints the findings on stdout.  Returns
 * 0 when there is no problem, else -1 with err set to the first problem:
 * AOD_ERR_CONFIG (no site policy, or still the example), AOD_ERR_POLICY
 * (invalid), AOD_ERR_TEMPLATES (templates or font), AOD_ERR_DB_CONNECT,
 * AOD_ERR_SCHEMA, AOD_ERR_PRIVILEGE, AOD_ERR_NOMEM. */
int aod_check_run(const aod_check_options *o, aod_error *err);

#endif
