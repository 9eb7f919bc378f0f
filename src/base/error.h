/*
 * error.h - the one error struct every module fills.
 *
 * The caller owns an aod_error (usually on its stack) and passes a pointer
 * down.  The first error set wins: later calls to aod_error_set() on an
 * already-set error change nothing, so the innermost, most precise message
 * survives while outer layers unwind.  Nothing here allocates.
 */
#ifndef AOD_ERROR_H
#define AOD_ERROR_H

#include <stddef.h>

typedef enum aod_errcode {
    AOD_OK = 0,
    AOD_ERR_USAGE,       /* bad command line */
    AOD_ERR_IO,          /* a file could not be read or written */
    AOD_ERR_INPUT,       /* malformed input data (JSON, CSV row, AuditEvent) */
    AOD_ERR_POLICY,      /* the policy file is invalid */
    AOD_ERR_DB_CONNECT,  /* the database could not be reached */
    AOD_ERR_DB,          /* the database refused a statement */
    AOD_ERR_NOMEM,       /* out of memory, or a size cap was hit */
    AOD_ERR_INTERNAL,    /* a bug: an invariant did not hold */
    AOD_ERR_INTERRUPTED, /* stopped by SIGINT / SIGTERM; work in flight rolled back */
    AOD_ERR_PARTIAL,     /* a batch ran, but some of its reports were skipped or failed */
    AOD_ERR_CONFIG,      /* the site is not configured: no site policy, or still the demo */
    AOD_ERR_SCHEMA,      /* the store's schema is not this version's (check) */
    AOD_ERR_PRIVILEGE,   /* the database role may not do what the command needs (check) */
    AOD_ERR_TEMPLATES    /* templates or font missing, or not covering the language (check) */
} aod_errcode;

typedef struct aod_error {
    aod_errcode code;
    char source[256]; /* the input: a file name, "<stdin>", "database" ... */
    long line;        /* 1-based line in source, 0 when not known */
    long index;       /* 0-based record / Bundle entry / row index, -1 when not known */
    char field[96];   /* the field or element concerned, "" when none */
    char text[512];   /* what is wrong, in words */
} aod_error;

/* Clears err (code AOD_OK).  err may be NULL. */
void aod_error_init(aod_error *err);

/* Sets err unless it is already set (first error wins).  Any of source and
 * field may be NULL.  err may be NULL, in which case nothing happens. */
void aod_error_set(aod_error *err, aod_errcode code, const char *source, long line,
                   const char *field, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

/* Adds where information to an error that lacks it (an inner function knew the
 * field, the outer one knows the file and line).  Only empty parts are filled. */
void aod_error_where(aod_error *err, const char *source, long line, long index);

/* Formats err as one line ("FILE:LINE: entry N: field F: text") into out
 * (always NUL terminated), escaped as aod_error_escape() does: a value
 * quoted in a message can neither forge a log line nor reorder one.
 * Returns out. */
const char *aod_error_format(const aod_error *err, char *out, size_t size);

/* Copies the string in into out (always NUL terminated, cut at a whole
 * character), fit to be printed on one log line: line breaks and tabs as
 * \n \r \t, other control bytes and bytes that are not UTF-8 as \xHH, C1
 * controls, bidi controls (U+061C, U+200E/F, U+202A-202E, U+2066-2069) and
 * U+2028/2029 as \uXXXX.  Returns out. */
const char *aod_error_escape(const char *in, char *out, size_t size);

/* A patient key for a log line, into out: an identifier "system|value"
 * keeps its system and the last four characters of its value, the rest of
 * the value masked with '*' (what cron mail and syslog may hold); a
 * reference (Patient/123) is kept.  Escaped as aod_error_escape().  Returns
 * out. */
const char *aod_error_mask_key(const char *key, char *out, size_t size);

#endif
