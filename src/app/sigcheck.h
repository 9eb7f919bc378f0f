/*
 * sigcheck.h - `aodreport verify-signature FILE [--key PUBKEY]`: does a
 * signed FHIR document (--sign) still carry a valid signature?
 */
#ifndef AOD_SIGCHECK_H
#define AOD_SIGCHECK_H

#include "base/error.h"

/* What aod_sigcheck_command returns when the signature does not verify (or
 * the document has none): an answer, not an error; main.c gives it exit
 * status 16 (cli.h passes it on as AOD_CLI_BAD_SIGNATURE). */
#define AOD_SIGCHECK_INVALID 2 /* AOD_CLI_BAD_SIGNATURE */

/* Runs the command (argv[0] is "verify-signature").  Prints the answer on
 * standard output.  Returns 0 when the signature is valid,
 * AOD_SIGCHECK_INVALID when it is not, or -1 with err set (AOD_ERR_USAGE,
 * AOD_ERR_IO: the file cannot be read, AOD_ERR_INPUT: it is not a JSON
 * Bundle, AOD_ERR_NOMEM). */
int aod_sigcheck_command(int argc, char **argv, aod_error *err);

#endif
