/*
 * jsonfast.h - the loader's quick way to jansson values.
 *
 * Stage: source (the loader's parser).  jansson's own parser reads one
 * character at a time through a stream; parsing was half of the loader's
 * CPU (doc/benchmarks.md, "Load").  aod_jsonfast_parse() builds the same
 * jansson values from the text directly, for the documents audit logs are
 * made of, and declines everything else: whenever it is not certain that
 * jansson would give exactly these values (a real number, a \u escape, a
 * control character in a string, a duplicate key, an integer out of range,
 * anything that is not JSON, deep nesting), it returns NULL and the caller
 * parses with json_loadb(), which then also says what is wrong, in its own
 * words.  Strings that are not pure ASCII are checked as UTF-8 by jansson
 * itself (json_stringn()), so what the two accept is the same.
 */
#ifndef AOD_JSONFAST_H
#define AOD_JSONFAST_H

#include <stddef.h>

#include <jansson.h>

/* Parses the len bytes at text as one JSON object or array with only white
 * space around it, as json_loadb(text, len, JSON_REJECT_DUPLICATES, ...)
 * would.  Returns a new reference, or NULL when it declines (see above) or
 * runs out of memory: the caller then uses json_loadb(). */
json_t *aod_jsonfast_parse(const char *text, size_t len);

#endif
