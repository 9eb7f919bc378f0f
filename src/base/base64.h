/*
 * base64.h - Base64 (RFC 4648 section 4) and its URL-safe form without
 * padding (section 5, as JWS uses it).
 *
 * A support module: the MHD renderer streams documents into FHIR base64Binary
 * values, and signatures travel as JWS (base64url) inside base64.  Nothing
 * here allocates.
 */
#ifndef AOD_BASE64_H
#define AOD_BASE64_H

#include <stddef.h>

/* The bytes aod_base64_encode() writes for n input bytes, NUL included. */
#define AOD_BASE64_SIZE(n) ((((n) + 2) / 3) * 4 + 1)

/* Encodes n bytes of in (borrowed) into out, which holds
 * AOD_BASE64_SIZE(n) bytes.  url: 0 the standard alphabet with '='
 * padding, 1 the URL-safe alphabet without padding.  Returns the length
 * written (without the NUL).  Encoding in pieces gives the same text as
 * one call only when every piece but the last is a multiple of 3 bytes. */
size_t aod_base64_encode(const void *in, size_t n, char *out, int url);

/* Decodes n characters of in (borrowed) into out, which holds at least
 * n / 4 * 3 + 3 bytes.  url: 1 accepts the URL-safe alphabet without
 * padding, 0 the standard one with its padding.  Nothing else is accepted
 * (no white space).  Returns the number of bytes in out, or -1 when in is
 * not valid base64 of that kind. */
long aod_base64_decode(const char *in, size_t n, unsigned char *out, int url);

#endif
