/*
 * cli.h - subcommands and options.
 *
 * The CLI parses arguments, runs one subcommand and reports the outcome as
 * an aod_error; main.c alone turns that into an exit code.  Messages for the
 * user (per-file errors, summaries) are printed here, on stderr / stdout.
 */
#ifndef AOD_CLI_H
#define AOD_CLI_H

#include "base/error.h"

/* What aod_cli_run returns when `verify` answers no: not an error, an
 * answer, which main.c gives its own exit code. */
#define AOD_CLI_ANSWER_NO 1
/* ... and when `verify-signature` finds the signature not valid. */
#define AOD_CLI_BAD_SIGNATURE 2

/* Runs `aodreport ARGS...`.  Returns 0 on success (including --help and
 * --version), AOD_CLI_ANSWER_NO when `verify` found no access, or -1 with
 * err set; err->code decides the exit code. */
int aod_cli_run(int argc, char **argv, aod_error *err);

#endif
