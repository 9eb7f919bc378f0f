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
#include "base/sign.h"
#include "model/facts.h"
#include "model/policy.h"
#include "render/csv.h"
#include "model/text.h"
#include "pipeline/report.h"
#include "app/selfaudit.h"
#include "base/sha256.h"
#include "store/store.h"

/* The most outputs one report writes at once (a batch row may ask for
 * every format: batch.c checks AOD_BATCH_NFORMATS against this). */
#define AOD_RUN_MAX_OUTPUTS 12

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
    /* --sign: the key that signs bundle-json documents (and the document an
     * MHD submission carries); NULL: unsigned.  Borrowed. */
    const aod_sign_key *sign_key;
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
    /* verify's question: the person asked about, recorded in the self-audit
     * with the answer file (selfaudit.h); NULL for reports. */
    const char *subject;
    /* explain --ref: only the raw records of the line with this reference,
     * each with its stored AuditEvent; NULL: every record. */
    const char *explain_ref;
    /* 1: the caller makes the outputs durable (aod_outfile_defer_sync):
     * a batch syncs a group of reports at once.  0: each file and its
     * directory are synced as it is published. */
    int defer_sync;
    /* batch --notify: each job keeps the lines its patient's digest names
     * (render/digest.h), written by aod_run_job_digest_to's files when there
     * is one.  0: none. */
    int notify;
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

/* aod_run_report for a command run in the foreground: SIGINT and SIGTERM
 * stop it as opts->stop describes (the caller's opts->stop is ignored).
 * The handlers are installed for the run and the previous ones restored
 * before returning. */
int aod_run_report_stoppable(aod_store *st, const aod_report_info *info, const aod_text *text,
                             int explain, aod_run_output *outs, size_t n_outs,
                             const aod_run_options *opts, aod_report_summary *sum,
                             char *self_audit_id, aod_error *err);

/* The same run in steps, for the batch, which feeds many reports from one
 * query and records their self-audits in one transaction:
 *   aod_run_begin -> aod_run_push per row -> aod_run_finish
 *   -> aod_run_record_group (with the other reports of the group)
 *   -> aod_run_publish -> aod_run_job_free.
 * The bytes are those aod_run_report writes for the same rows. */
typedef struct aod_run_job aod_run_job;

/* The site facts (roster, patient facts, care) a privacy-office report of
 * info reads, as much of them as info's policy's flags need.  A caller
 * whose connection will be busy streaming rows (a month batch's group)
 * reads them first and hands them in info->facts.  Returns a new object
 * (aod_facts_free) or NULL with err set. */
aod_facts *aod_run_read_facts(aod_store *st, const aod_report_info *info, aod_error *err);

/* Only the patient's care relationships (info's keys), for a report that
 * reads no other site facts: the evidence of a reason in every copy
 * (info->care).  Returns a new object (aod_facts_free) or NULL with err
 * set. */
aod_facts *aod_run_read_care(aod_store *st, const aod_report_info *info, aod_error *err);

/* The care lists of a month batch's group in one query: out[k] (n of them)
 * receives the care relationships of keys[k] (a new object, or NULL when
 * the list has none for it or skip[k] is set: a report that reads its site
 * facts itself; skip may be NULL).  On failure every out[k] is NULL.
 * Returns 0 / -1. */
int aod_run_read_care_group(aod_store *st, const char *const *keys, size_t n,
                            const unsigned char *skip, aod_facts **out, aod_error *err);

/* batch --notify: the organisations that accessed info's patient before
 * info->from (aod_entry_org_key of the lines of the patient's access
 * report over that time), sorted in byte order and unique, into a new
 * array *out of *n new strings (aod_run_seen_orgs_free).  Reads the store
 * (st must be free to query).  Returns 0, or -1 with err set. */
int aod_run_seen_orgs(aod_store *st, const aod_report_info *info, const aod_text *text, char ***out,
                      size_t *n, aod_error *err);
void aod_run_seen_orgs_free(char **v, size_t n);

/* Opens the outputs under temporary names and the pipeline.  Arguments as
 * aod_run_report's (borrowed; outs must outlive the job).  outcome_msgs:
 * the search outcomes of info's keys, as aod_store_search_outcomes() gives
 * them (borrowed, copied), or NULL to read them and the completeness
 * facts from st; with outcome_msgs the caller hands the completeness facts
 * in info->completeness (borrowed: they must outlive the job; NULL: none)
 * and, for a privacy-office report, the site facts in info->facts
 * (aod_run_read_facts; borrowed, must outlive the job), for any other its
 * care list in info->care (aod_run_read_care, or the group's; NULL: none):
 * nothing is asked of st here.  Returns a new job (aod_run_job_free) or NULL with err set. */
aod_run_job *aod_run_begin(aod_store *st, const aod_report_info *info, const aod_text *text,
                           int explain, aod_run_output *outs, size_t n_outs,
                           const aod_run_options *opts, const char *const *outcome_msgs,
                           size_t n_outcome_msgs, aod_error *err);

/* batch --notify (opts->notify): the digest files of j, names in the
 * directory dir_fd (borrowed; both stay in the job's outputs[0..2)), opened
 * now under temporary names; written by aod_run_job_digest_finish when the
 * digest names a line, else removed; published with the report.  Call it
 * before the first row.  Returns 0, or -1 with err set. */
int aod_run_job_digest_to(aod_run_job *j, int dir_fd, const char *json_name, const char *text_name,
                          aod_error *err);

/* After aod_run_finish, with st free to query: finishes j's digest (the
 * organisations seen before the period are read, through
 * aod_run_seen_orgs, only when a line may be the first by a new one) and
 * writes its files, or drops them when it names nothing.  0, or -1 with
 * err set.  Nothing to do without a digest. */
int aod_run_job_digest_finish(aod_run_job *j, aod_store *st, aod_error *err);

/* After aod_run_job_digest_finish: the digest files written (their sha256 and size)
 * into *outs (borrowed from j): 2 (JSON, text), or 0 when the digest names
 * nothing or none was asked for. */
size_t aod_run_job_digest(const aod_run_job *j, const aod_run_output **outs);

/* One stored row (as aod_store_event_fn), in report order.  0 / -1. */
int aod_run_push(aod_run_job *j, int64_t id, const char *norm, size_t len, aod_error *err);

/* Ends the report and closes its temporaries; fills each output's sha256
 * and size; sum (may be NULL) receives the counts.  Returns 0 / -1. */
int aod_run_finish(aod_run_job *j, aod_report_summary *sum, aod_error *err);

/* Records the self-audits of the finished jobs jobs[0..n) in one
 * transaction: all or none.  Returns 0, or -1 with err set (then none is
 * recorded, and none may be published). */
int aod_run_record_group(aod_store *st, aod_run_job *const *jobs, size_t n, aod_error *err);

/* After its self-audit is recorded: renames the outputs into place.
 * Returns 0, or -1 with err set (the outputs not yet renamed are removed
 * by aod_run_job_free). */
int aod_run_publish(aod_run_job *j, aod_error *err);

/* The id of the recorded self-audit (borrowed), "" before. */
const char *aod_run_job_self_audit_id(const aod_run_job *j);

/* Frees j, removing whatever of its outputs is not published.  Accepts
 * NULL. */
void aod_run_job_free(aod_run_job *j);

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

/* 1 when format is one of csv, pdf, html, xlsx, bundle-json, bundle-xml,
 * mhd, mhd-html, mhd-simplified, mhd-simplified-html. */
int aod_run_format_known(const char *format);

/* The file extension for a known format ("csv", "pdf", "html", "xlsx",
 * "json", "xml"), or
 * NULL. */
const char *aod_run_format_ext(const char *format);

#endif
