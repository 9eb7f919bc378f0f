/*
 * main.c - the aodreport program: run the CLI, map its outcome to an exit
 * code.  Exit codes live here and in doc/aodreport.1, nowhere else.
 */
#include <stdio.h>

#include "app/cli.h"
#include "base/log.h"
#include "base/error.h"

enum exit_code {
    EXIT_OK = 0,
    EXIT_FAILURE_GENERIC = 1,
    EXIT_USAGE = 2,          /* bad command line */
    EXIT_INPUT = 3,          /* bad input data: a file not loaded, an unreadable requests file */
    EXIT_DB_CONNECT = 4,     /* the database could not be reached */
    EXIT_DB = 5,             /* the database refused a statement */
    EXIT_IO = 6,             /* a file could not be read or written */
    EXIT_POLICY = 7,         /* the policy file is invalid */
    EXIT_NOMEM = 8,          /* out of memory or a size limit */
    EXIT_INTERRUPTED = 9,    /* SIGINT / SIGTERM: stopped, work in flight rolled back */
    EXIT_PARTIAL = 10,       /* batch: some reports skipped (bad request rows) or failed */
    EXIT_CONFIG = 11,        /* no site policy, or the site policy is still the demonstration */
    EXIT_SCHEMA = 12,        /* check: the store is missing or not at this version's schema */
    EXIT_PRIVILEGE = 13,     /* check: the role may not read reports or record its self-audit */
    EXIT_TEMPLATES = 14,     /* check: templates or font missing or not covering the language */
    EXIT_NO_ACCESS = 15,     /* verify: the answer is no (no access by that person in the period) */
    EXIT_BAD_SIGNATURE = 16, /* verify-signature: not valid, or no signature (the answer) */
    EXIT_INTERNAL = 70       /* a bug */
};

static int exit_code(aod_errcode code)
{
    switch (code) {
    case AOD_OK:
        return EXIT_OK;
    case AOD_ERR_USAGE:
        return EXIT_USAGE;
    case AOD_ERR_INPUT:
        return EXIT_INPUT;
    case AOD_ERR_DB_CONNECT:
        return EXIT_DB_CONNECT;
    case AOD_ERR_DB:
        return EXIT_DB;
    case AOD_ERR_IO:
        return EXIT_IO;
    case AOD_ERR_POLICY:
        return EXIT_POLICY;
    case AOD_ERR_NOMEM:
        return EXIT_NOMEM;
    case AOD_ERR_INTERNAL:
        return EXIT_INTERNAL;
    case AOD_ERR_INTERRUPTED:
        return EXIT_INTERRUPTED;
    case AOD_ERR_PARTIAL:
        return EXIT_PARTIAL;
    case AOD_ERR_CONFIG:
        return EXIT_CONFIG;
    case AOD_ERR_SCHEMA:
        return EXIT_SCHEMA;
    case AOD_ERR_PRIVILEGE:
        return EXIT_PRIVILEGE;
    case AOD_ERR_TEMPLATES:
        return EXIT_TEMPLATES;
    }
    return EXIT_FAILURE_GENERIC;
}

int main(int argc, char **argv)
{
    aod_error err;
    int rc, answer_no = 0, bad_signature = 0;

    aod_error_init(&err);
    rc = aod_cli_run(argc, argv, &err);
    /* verify's "no" is an answer, not a failure, but scripts must tell it
     * from "yes" (0) and from "could not say" (any other code). */
    if (rc == AOD_CLI_ANSWER_NO) {
        answer_no = 1;
        rc = 0;
    }
    /* so is verify-signature's "not valid" */
    if (rc == AOD_CLI_BAD_SIGNATURE) {
        bad_signature = 1;
        rc = 0;
    }
    /* A failed write to stdout (a full disk, a closed pipe) is an error too. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        aod_error_set(&err, AOD_ERR_IO, "<stdout>", 0, NULL, "write error");
        rc = -1;
    }
    if (rc != 0) {
        char msg[1024];
        aod_log(AOD_LOG_ERR, "%s", aod_error_format(&err, msg, sizeof msg));
        if (err.code == AOD_ERR_USAGE)
            fprintf(stderr, "%sTry 'aodreport --help'.\n", aod_log_prefix(AOD_LOG_ERR));
        return exit_code(err.code == AOD_OK ? AOD_ERR_INTERNAL : err.code);
    }
    return answer_no ? EXIT_NO_ACCESS : bad_signature ? EXIT_BAD_SIGNATURE : EXIT_OK;
}
