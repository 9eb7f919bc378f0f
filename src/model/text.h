/*
 * text.h - codes to plain words, per language (render stage support).
 *
 * A report speaks to a patient, so no renderer prints "HPAYMT" or "110106"
 * where words exist.  The words live in template files, one directory per
 * language: templates/<lang>/NAME.txt, lines "key = value" (templates/README.md
 * gives the format and the key scheme).  A key missing in a language falls
 * back to English, and a key missing in English falls back to what the event
 * itself recorded (the code's display, then the code).
 *
 * Where templates come from, first match wins, per language:
 *   1. the directory given to aod_text_load(), or else
 *   2. $AOD_TEMPLATE_DIR/<lang>/, then AOD_DATADIR/templates/<lang>/,
 *   3. then the copies compiled into the program (embedded.h).
 *
 * An aod_text is read-only after loading; every string it returns is
 * borrowed from it and lives until aod_text_free().
 */
#ifndef AOD_TEXT_H
#define AOD_TEXT_H

#include "base/buf.h"
#include "base/error.h"

typedef struct aod_text aod_text;

/* Loads the templates of language lang (borrowed; "en", "es", "pt-BR"...)
 * and the English ones as its fallback.  dir_or_NULL (borrowed) is a
 * templates directory holding one subdirectory per language; when it is
 * given, lang must be there (English may still come from the compiled-in
 * copy).  Returns a new aod_text to free with aod_text_free(), or NULL with
 * err set: AOD_ERR_USAGE when lang is not a language name or no templates
 * exist for it (the message names the language), AOD_ERR_IO when a file
 * cannot be read, AOD_ERR_INPUT with source/line when a template line is
 * malformed (no '=', empty key or value, a key twice, not UTF-8),
 * AOD_ERR_NOMEM. */
aod_text *aod_text_load(const char *dir_or_NULL, const char *lang, aod_error *err);

/* Frees t and every string it handed out.  Accepts NULL. */
void aod_text_free(aod_text *t);

/* The language t was loaded for (borrowed from t). */
const char *aod_text_lang(const aod_text *t);

/* The words for key (borrowed from t), from the language, else from
 * English; NULL when neither has it (or t or key is NULL). */
const char *aod_text_get(const aod_text *t, const char *key);

/* Plain words for a code: the template "kind.code" when there is one
 * (kind: "action", "purpose", "event-type", "subtype", "resource",
 * "outcome", "exclusion", "class", "actor", "tier", ...), else display,
 * else code, else "".  Never NULL; borrowed from t or from the arguments.
 * An empty display or code counts as absent. */
const char *aod_text_code(const aod_text *t, const char *kind, const char *code,
                          const char *display);

/* The reason of a line in words (issue 16 point 3): reason is the
 * aod_reason_name() of entry.h ("none", "purpose", "consent", "encounter"
 * ...).  A recorded purpose speaks for itself (the "purpose." words);
 * otherwise the template "reason.<name>" with {evidence} filled in, so the
 * words say what showed the reason; "reason.none" ("no reason was
 * recorded") when nothing did; generic (the patient's copy): a purpose
 * code without words as aod_text_shown says it.  Written into scratch (reset first) when a
 * template is expanded; returns the words, borrowed from t, the arguments
 * or scratch; "" when out of memory (scratch freed itself). */
const char *aod_text_reason(const aod_text *t, const char *reason, const char *purpose_code,
                            const char *purpose_display, const char *evidence, int generic,
                            aod_buf *scratch);
/* 1 when s is a code as systems write it ("HMARKT", "429577009", "NIECE"):
 * capitals, digits and - _ . only, at most 32 characters.  Not words a
 * reader understands. */
int aod_text_is_bare_code(const char *s);

/* Words a reader understands for a code, or NULL when there are none: the
 * template "kind.code", else display when it is given and is not itself a
 * bare code.  Borrowed from t or display. */
const char *aod_text_words(const aod_text *t, const char *kind, const char *code,
                           const char *display);

/* What a copy prints for a code of that kind: its words (aod_text_words),
 * else, for the patient (generic nonzero), the plain phrase of the template
 * "no-words.kind" ("a reason recorded in code ..."), else the display or
 * the code as recorded (the privacy office needs it to add the words).
 * Never NULL; "" when code and display are both absent. */
const char *aod_text_shown(const aod_text *t, const char *kind, const char *code,
                           const char *display, int generic);

/* Calls fn(key, value, ctx) for every template the language uses (its own
 * and the English ones it falls back to), in no particular order; key and
 * value are borrowed from t.  Stops when fn returns non-zero and returns
 * that; else 0.  `check` reads every value to see that the font covers it. */
int aod_text_each(const aod_text *t, int (*fn)(const char *key, const char *value, void *ctx),
                  void *ctx);

/* Appends tmpl (borrowed) to out with each "{name}" replaced by its value.
 * vars (borrowed) is a NULL-terminated list of name, value pairs: {"role",
 * "Nurse", "unit", "Ward 3", NULL}; a NULL value counts as "".  A brace that
 * does not open a listed name is copied as it is.  Returns 0, or -1 with
 * err set (AOD_ERR_NOMEM: out has then freed itself, see buf.h). */
int aod_text_expand(aod_buf *out, const char *tmpl, const char *const *vars, aod_error *err);

/* Appends a patient key (borrowed; the store's form: "system|value" or
 * "Patient/123") to out as a reader should see it: "value (system)", or for a
 * US Social Security number only its last four digits, in the words of the
 * template "identifier.ssn" ({last4}).  A full SSN never reaches a report.
 * Returns 0, or -1 with err set (AOD_ERR_NOMEM: out has freed itself). */
int aod_text_patient_key(const aod_text *t, const char *key, aod_buf *out, aod_error *err);

/* A source system (AuditEvent.source.observer) in words, into out (reset
 * first): its display when a record named it; else words made from how
 * the store knows it, never the bare key: "a system recorded as
 * fhir-server" (a reference Device/fhir-server, an identifier's value),
 * "an organization recorded as ..." (Organization/...), "a system at the
 * address fhir.example.org" (a URL or a host name); a name with spaces as
 * it is; "a system that did not name itself" when there is nothing.  The
 * words are those of the templates letter.complete.source.*.  Returns the
 * words (out's, borrowed until out changes), or NULL with err set
 * (AOD_ERR_NOMEM). */
const char *aod_text_source(const aod_text *t, const char *observer, const char *display,
                            aod_buf *out, aod_error *err);

/* Whether key is a US Social Security number ("system|value" with the SSA
 * system URI or OID).  Returns 1 or 0. */
int aod_text_key_is_ssn(const char *key);

#endif
