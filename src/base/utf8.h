/*
 * utf8.h - one strict UTF-8 decoder for every module that checks or walks
 * text (the compact record form, templates, the PDF and Bundle writers).
 */
#ifndef AOD_UTF8_H
#define AOD_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length (1 to 4) of the valid UTF-8 sequence at s, which has n bytes
 * available, or 0 when it is invalid: overlong forms, surrogates and values
 * past U+10FFFF are invalid.  A NUL byte ends a sequence, so a NUL-terminated
 * string may be passed with n = 4 without reading past its end.  *cp, when
 * cp is not NULL, receives the code point of a valid sequence. */
size_t aod_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

#endif
