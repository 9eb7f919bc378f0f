/*
 * run.h - one report from the store to its files: what `report`, `explain`
 * and every report of `batch` do alike.
 *
 * The sequence, for one patient and one period:
 *   open each output under a temporary name (outfile.h) -> one renderer per
 *   format, fed by one pass over the store (several formats share the pass)
 *   -> the report pipeline (report.h) -> close the temporaries -> SHA-256 and
 *   size of each -> the self-audit AuditEvent into the store (selfaudit.h),
 *   its own transaction -> rename each output into place.
 * A report whose self-audit cannot be written is not published: its
 * temporary files are removed and the run fails.  Standard output goes
 * through an unnamed temporary file for the same reason, and is copied out
 * only once the self-audit is stored.
 *
 * Also here, because the CLI and batch both need them: the policy loader,
 * the date parser for options and request rows, and the format names.
 */
#ifndef AOD_RUN_H
#define AOD_RUN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "model/policy.h"
#include "render/csv.h"
#include "model/text.h"
#include "pipeline/report.h"
#include "app/selfaudit.h"
#include "base/sha256.h"
#include "store/store.h"

/* One output of a run. */
typedef struct aod_run_output {
    const char *format;              /* in: "csv", "pdf", "html", "xlsx", "bundle-json", ... */
    const char *path;                /* in: the file; NULL or "-": standard output */
    int at_dir;                      /* in: 1: path is a name in the directory dir_fd */
    int dir_fd;                      /* in: with at_dir (batch), checked (outfile.h) */
    char sha256[AOD_SHA256_HEX_LEN]; /* out: lowercase hex of the bytes */
    long long size;                  /* out: bytes */
} aod_run_output;

/* Settings every report of a run shares.  All borrowed. */
typedef struct aod_run_options {
    const char *font;          /* PDF font file, NULL: the built-in default */
    const char *fallback_font; /* PDF font for what font lacks (CJK); NULL default, "" none */
    aod_csv_options csv;       /* CSV and explain dialect */
    const char *operator_name; /* --operator, NULL: the OS and database users */
    /* When *stop becomes non-zero (a signal handler sets it) the run stops at
     * the next record or step: AOD_ERR_INTERRUPTED, nothing published. */
    const volatile sig_atomic_t *stop;
    /* Test hook (AOD_TEST_SLOW_MS, batch and report): milliseconds to wait with the
     * finished temporaries in place, before the self-audit and the renames. */
    long pause_ms;
    /* A renderer for a format this file does not know (verify's answer,
     * app/verify.h), tried before the known ones: returns a new sink, or
     * NULL with err set, or NULL with err untouched when the format is not
     * its own.  NULL: none. */
    aod_sink *(*extra_sink)(void *ctx, const char *format, FILE *out, const aod_text *text,
                            aod_error *err);
    void *extra_ctx;
} aod_run_options;

/* Runs one report (explain: the explain view, one CSV output) for info
 * (borrowed; its policy, keys and lang too) with text (borrowed, loaded for
 * info->lang) from st into outs[0..n_outs) (formats and paths borrowed;
 * sha256 and size filled).  sum (may be NULL) receives the counts;
 * self_audit_id (AOD_SELFAUDIT_ID_LEN bytes, may be NULL) the self-audit
 * event's id.  Returns 0, or -1 with err set; then no output of the run is
 * left, neither under its name nor as a temporary file (unless a rename
 * itself failed after others succeeded, which the message says). */
int aod_run_report(aod_store *st, const aod_report_info *info, const aod_text *text, int explain,
                   aod_run_output *outs, size_t n_outs, const aod_run_options *opts,
                   aod_report_summary *sum, char *self_audit_id, aod_error *err);

/* Where the site policy came from (aod_run_load_policy). */
typedef enum aod_policy_origin {
    AOD_POLICY_OPTION = 0, /* --policy FILE: the user named it */
    AOD_POLICY_ENV,        /* $AODREPORT_POLICY */
    AOD_POLICY_SYSTEM      /* AOD_SYSCONF_POLICY ($(sysconfdir)/aodreport/policy.xml) */
} aod_policy_origin;

/* The site policy file: option (--policy, may be NULL), else
 * $AODREPORT_POLICY when set and not empty, else AOD_SYSCONF_POLICY.  Writes
 * the path (borrowed from option, the environment or a constant) and where it
 * came from (origin may be NULL). */
const char *aod_run_policy_path(const char *option, aod_policy_origin *origin);

/* Loads the site policy (aod_run_policy_path) and validates it.  digest (32
 * bytes, may be NULL) receives the SHA-256 of its bytes.  Refused with
 * AOD_ERR_CONFIG, and a message naming the file to create or edit: a policy
 * found through the environment or the system path that does not exist, or
 * that is still a demonstration (demo="true"); a demonstration named with
 * --policy is accepted (the quick start, the tests).  Returns a new policy
 * (aod_policy_free) or NULL with err set. */
aod_policy *aod_run_load_policy(const char *option, unsigned char *digest, aod_error *err);

/* Loads and validates the policy file at path (borrowed), whatever it says
 * about itself: what `check` needs.  Returns a new policy or NULL with err
 * set. */
aod_policy *aod_run_load_policy_file(const char *path, unsigned char *digest, aod_error *err);

/* Parses an option or request cell: "YYYY-MM-DD" is that day's start in the
 * process's time zone (aod_timefmt_set_zone), or with end_of_day the next
 * day's start (an inclusive last day); a FHIR dateTime is itself.  opt
 * (borrowed) names the option in messages.  Returns 0, or -1 with err set
 * (AOD_ERR_USAGE: not a date, or an impossible one like 2025-02-30). */
int aod_run_parse_when(const char *opt, const char *s, int end_of_day, int64_t *ms, aod_error *err);

/* The report period of the options --now, --from and --to (each borrowed,
 * NULL when not given): info->now is --now or the clock, info->to is --now
 * or the end of --to's day, info->from is --from or the mode's default
 * look-back from info->now (info->mode must be set).  Returns 0, or -1 with
 * err set (AOD_ERR_USAGE: a bad date, or an empty period). */
int aod_run_period(const aod_policy *policy, const char *now, const char *from, const char *to,
                   aod_report_info *info, aod_error *err);

/* 1 when format is one of csv, pdf, html, xlsx, bundle-json, bundle-xml. */
int aod_run_format_known(const char *format);

/* The file extension for a known format ("csv", "pdf", "html", "xlsx",
 * "json", "xml"), or
 * NULL. */
const char *aod_run_format_ext(const char *format);

#endif
