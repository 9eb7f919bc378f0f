/*
 * cli.c - subcommands and their options (see cli.h).
 *
 * Each subcommand is one function that parses its own options with
 * getopt_long and calls the library; none of them holds logic of its own
 * beyond wiring and messages.
 */
#include "app/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "app/batch.h"
#include "app/check.h"
#include "base/buf.h"
#include "base/sign.h"
#include "ingest/load.h"
#include "ingest/sitecsv.h"
#include "ingest/normalize.h"
#include "model/policy.h"
#include "model/record.h"
#include "render/csv.h"
#include "model/text.h"
#include "pipeline/report.h"
#include "app/run.h"
#include "app/selfaudit.h"
#include "app/sigcheck.h"
#include "app/verify.h"
#include "app/maintain.h"
#include "base/log.h"
#include "store/store.h"
#include "base/timefmt.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv, aod_error *err);
    const char *summary;
} command;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
usage_error(aod_error *err, const char *where, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    aod_error_set(err, AOD_ERR_USAGE, where, 0, NULL, "%s", msg);
    return -1;
}

/* getopt_long prints its own complaint; we add where to look for help. */
static int bad_option(aod_error *err, const char *cmd)
{
    aod_error_set(err, AOD_ERR_USAGE, NULL, 0, NULL, "invalid option for '%s'", cmd);
    return -1;
}

/* ------------------------------------------------------------------ init */

static void init_help(void)
{
    printf("Usage: aodreport init [--db CONNINFO]\n"
           "\n"
           "Create the audit store (schema aod) or upgrade it to this version's schema.\n"
           "Running it on an up-to-date store changes nothing.\n"
           "\n"
           "  --db CONNINFO   libpq connection string or URI (default: the PG* environment);\n"
           "                  never put a password here: use ~/.pgpass or a service file\n"
           "  -h, --help      show this help\n");
}

static int cmd_init(int argc, char **argv, aod_error *err)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    const char *db = NULL;
    aod_store *st;
    int c, applied, version, rc;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'h':
            init_help();
            return 0;
        default:
            return bad_option(err, "init");
        }
    }
    if (optind < argc)
        return usage_error(err, "init", "unexpected argument '%s'", argv[optind]);
    st = aod_store_connect(db, err);
    if (!st)
        return -1;
    rc = aod_store_init(st, &applied, &version, err);
    if (rc == 0) {
        if (applied == 0)
            printf("The store is up to date (schema version %d); nothing changed.\n", version);
        else
            printf("Store ready: applied %d migration%s, schema version %d.\n", applied,
                   applied == 1 ? "" : "s", version);
    }
    aod_store_free(st);
    return rc;
}

/* ------------------------------------------------------------------ load */

static void load_help(void)
{
    printf("Usage: aodreport load [--db CONNINFO] FILE...\n"
           "\n"
           "Load FHIR AuditEvents into the store.  Each FILE is NDJSON (one AuditEvent per\n"
           "line) or a FHIR Bundle of AuditEvents, in R4, R5 or R6-ballot shape, plain or\n"
           "gzip-compressed; '-' reads standard input.  Each file is loaded whole or not at\n"
           "all: the first bad record stops that file with its line (and Bundle entry) and\n"
           "nothing of it is kept; the other files are still loaded.  Loading a file again\n"
           "stores nothing twice.  On a terminal a progress line shows the bytes read,\n"
           "events per second and the time left; otherwise one line per file.\n"
           "\n"
           "  --db CONNINFO   libpq connection string or URI (default: the PG* environment)\n"
           "  -q, --quiet     print only errors\n"
           "  --json          print one JSON summary (each file and the total) on standard\n"
           "                  output instead of lines\n"
           "  -h, --help      show this help\n");
}

/* The progress line of one file, on a terminal. */
typedef struct load_progress {
    const char *name;
    struct timespec start;
    double last;
    int drawn;
} load_progress;

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void show_progress(void *ctx, long long bytes, long long total, long events)
{
    load_progress *p = ctx;
    double t = seconds_since(&p->start);
    char eta[40] = "";

    if (t - p->last < 0.25)
        return;
    p->last = t;
    if (total > 0 && bytes > 0 && bytes < total) {
        long s = (long)((double)(total - bytes) * t / (double)bytes + 0.5);
        snprintf(eta, sizeof eta, ", ETA %ld:%02ld", s / 60, s % 60);
    }
    if (total > 0)
        fprintf(stderr, "\r\033[K%s: %.1f of %.1f MB (%d%%), %ld events, %.0f events/s%s", p->name,
                (double)bytes / 1e6, (double)total / 1e6,
                (int)(100.0 * (double)bytes / (double)total), events,
                t > 0 ? (double)events / t : 0.0, eta);
    else
        fprintf(stderr, "\r\033[K%s: %.1f MB, %ld events, %.0f events/s", p->name,
                (double)bytes / 1e6, events, t > 0 ? (double)events / t : 0.0);
    p->drawn = 1;
}

static json_t *counts_json(const aod_load_counts *c)
{
    return json_pack("{s:I, s:I, s:I, s:I}", "read", (json_int_t)c->read, "stored",
                     (json_int_t)c->stored, "already_present", (json_int_t)c->already,
                     "without_patient", (json_int_t)c->without_patient);
}

static int cmd_load(int argc, char **argv, aod_error *err)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = NULL;
    aod_load_counts total, one;
    aod_store *st;
    json_t *jfiles = NULL;
    int c, i, quiet = 0, json = 0, files = 0, failed = 0, tty;

    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            load_help();
            return 0;
        default:
            return bad_option(err, "load");
        }
    }
    if (optind >= argc)
        return usage_error(err, "load", "no input file given (use '-' for standard input)");
    tty = !quiet && !json && isatty(STDERR_FILENO);
    if (json && !(jfiles = json_array())) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return -1;
    }
    st = aod_store_connect(db, err);
    if (!st || aod_store_check_version(st, err) != 0) {
        aod_store_free(st);
        json_decref(jfiles);
        return -1;
    }
    memset(&total, 0, sizeof total);
    for (i = optind; i < argc; i++) {
        const char *name = strcmp(argv[i], "-") == 0 ? "<stdin>" : argv[i];
        load_progress prog;
        aod_error ferr;
        char msg[1024];
        int rc;

        files++;
        aod_error_init(&ferr);
        memset(&prog, 0, sizeof prog);
        prog.name = name;
        clock_gettime(CLOCK_MONOTONIC, &prog.start);
        rc = aod_load_path(st, argv[i], &one, tty ? show_progress : NULL, &prog, &ferr);
        if (prog.drawn)
            fputs("\r\033[K", stderr);
        if (rc != 0) {
            aod_log(AOD_LOG_ERR, "%s", aod_error_format(&ferr, msg, sizeof msg));
            aod_log(AOD_LOG_ERR, "%s: not loaded; nothing from this file was stored", name);
            failed++;
            if (jfiles)
                json_array_append_new(jfiles, json_pack("{s:s, s:s, s:s}", "file", name, "status",
                                                        "failed", "error", msg));
            /* A lost connection fails every later file too: stop here. */
            if (ferr.code == AOD_ERR_DB_CONNECT || ferr.code == AOD_ERR_NOMEM) {
                *err = ferr;
                aod_store_free(st);
                json_decref(jfiles);
                return -1;
            }
            if (err->code == AOD_OK)
                *err = ferr;
            continue;
        }
        if (jfiles)
            json_array_append_new(jfiles, json_pack("{s:s, s:s, s:o, s:f}", "file", name, "status",
                                                    "loaded", "counts", counts_json(&one),
                                                    "seconds", seconds_since(&prog.start)));
        else if (!quiet)
            printf("%s: %ld events read, %ld stored, %ld already present, %ld without patient\n",
                   name, one.read, one.stored, one.already, one.without_patient);
        total.read += one.read;
        total.stored += one.stored;
        total.already += one.already;
        total.without_patient += one.without_patient;
    }
    aod_store_free(st);
    if (jfiles) {
        json_t *doc = json_pack("{s:o, s:i, s:i, s:o}", "files", jfiles, "files_failed", failed,
                                "files_total", files, "total", counts_json(&total));
        if (!doc || json_dumpf(doc, stdout, JSON_COMPACT | JSON_REAL_PRECISION(3)) != 0 ||
            putchar('\n') == EOF) {
            json_decref(doc);
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory writing JSON");
            return -1;
        }
        json_decref(doc);
    } else if (!quiet)
        printf("Total: %d file%s (%d failed), %ld events read, %ld stored, %ld already present, "
               "%ld without patient\n",
               files, files == 1 ? "" : "s", failed, total.read, total.stored, total.already,
               total.without_patient);
    if (failed) {
        aod_errcode code = err->code == AOD_OK ? AOD_ERR_INPUT : err->code;
        aod_error_init(err);
        aod_error_set(err, code, NULL, 0, NULL, "%d of %d file%s not loaded", failed, files,
                      files == 1 ? "" : "s");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------- report, explain */

#define MAX_KEYS 32

typedef struct report_opts {
    const char *db;
    const char *keys[MAX_KEYS];
    size_t n_keys;
    const char *from, *to, *now, *requested;
    const char *mode, *audience, *policy, *format, *output, *lang, *templates;
    const char *patient_name;
    const char *font, *fallback_font;
    const char *sign; /* --sign KEYFILE */
    const char *operator_name;
    const char *ref; /* explain --ref; report --mode breach: REF[,REF...] */
    const char *actions, *contact, *discovered; /* report --mode breach */
    int csv_bom;
    int json;
    char csv_delimiter;
} report_opts;

static void report_help(const char *cmd)
{
    int explain = strcmp(cmd, "explain") == 0;

    printf("Usage: aodreport %s --patient REF [--patient REF...] [OPTIONS]\n\n", cmd);
    if (explain)
        printf("For the privacy office: one CSV line per raw audit record of the patient, with\n"
               "its classification, the policy rule that decided, the de-duplication group it\n"
               "joined, the report line it ended up in (or why not) and the masking applied.\n"
               "With --ref, only the records of that line, each with its stored AuditEvent.\n\n");
    else
        printf("Write one patient's accounting of disclosures (HIPAA 45 CFR 164.528) or access\n"
               "report from the audit store.\n\n");
    printf("  --patient REF      the patient: a reference (Patient/123) or an identifier\n"
           "                     (system|value); repeat for one person known by several keys\n"
           "  --from DATE        first day covered (default: the policy's lookback before --now)\n"
           "  --to DATE          last day covered, inclusive (default: --now)\n"
           "  --mode MODE        disclosures (default) or access%s\n"
           "  --audience WHO     patient (default) or privacy-office\n"
           "  --policy FILE      the site policy (default: $AODREPORT_POLICY, else\n"
           "                     " AOD_SYSCONF_POLICY ")\n"
           "  --now TIMESTAMP    the time the report is made as of (default: now); fixes the\n"
           "                     output for reproducible runs\n"
           "  --lang LANG        language of the words in the report (default: the policy's)\n"
           "  --patient-name N   the patient's name, for the letter\n"
           "  --requested DATE   when the request was received\n",
           explain ? ""
                   : ",\n                     or breach (the letter the patient is owed for\n"
                     "                     accesses found not permitted: --ref, --actions)");
    if (!explain)
        printf("  --format FORMAT    csv (default), pdf (a letter and table for the patient),\n"
               "                     html (the same letter and table as an accessible web\n"
               "                     page), xlsx (the CSV's lines as a typed spreadsheet),\n"
               "                     bundle-json or bundle-xml (a FHIR R4 Document Bundle),\n"
               "                     mhd or mhd-html (IHE MHD ITI-65: a transaction Bundle\n"
               "                     for a portal, with the PDF or HTML and the Document\n"
               "                     Bundle), mhd-simplified or mhd-simplified-html (ITI-105:\n"
               "                     one DocumentReference carrying the PDF or HTML)\n"
               "                     csv-summary (the summary: one row per person,\n"
               "                     organisation or system)\n"
               "  --font FILE        TrueType font for the PDF (default: DejaVu Sans)\n"
               "  --sign KEYFILE     sign the FHIR document (bundle-json, bundle-xml, or the\n"
               "                     one mhd carries) with this Ed25519 private key (PEM,\n"
               "                     mode 0600): Bundle.signature, a JWS over its canonical\n"
               "                     JSON (the same for the XML form)\n"
               "  --fallback-font FILE  TrueType font (or collection) for the characters\n"
               "                     --font lacks: Chinese, Japanese, Korean (default:\n"
               "                     WenQuanYi Micro Hei); '' for none\n");
    if (!explain)
        printf("  --ref REF[,REF...] with --mode breach: the lines of the patient's access\n"
               "                     report (as printed: XXXXX-XXXXX) the letter is about\n"
               "  --actions TEXT     with --mode breach: what was done about it (required)\n"
               "  --contact TEXT     with --mode breach: whom to contact (default: the\n"
               "                     policy's privacy office)\n"
               "  --discovered DATE  with --mode breach: when it was found\n");
    if (explain)
        printf("  --ref REF          only the raw records behind the report line with this\n"
               "                     reference (as printed on the line: XXXXX-XXXXX), each\n"
               "                     with the AuditEvent the store holds; give the report's\n"
               "                     --patient, --mode, --audience and period\n");
    printf("  -o, --output FILE  write here (default: standard output); written to a\n"
           "                     temporary file and renamed when complete, mode 0600\n"
           "  --csv-bom          start CSV output with a UTF-8 byte order mark (Excel)\n"
           "  --csv-delimiter C  ',' (default), ';' or 'tab'\n"
           "  --templates DIR    templates directory (default: installed / built in)\n"
           "  --operator NAME    who runs the report, for the self-audit record, shown with\n"
           "                     the database user (default: the OS user)\n"
           "  --json             print a summary (counts, file, checksum, self-audit id) as\n"
           "                     JSON on standard output; needs -o\n"
           "  --db CONNINFO      libpq connection string (default: the PG* environment)\n"
           "  -h, --help         show this help\n"
           "\n"
           "Every %s is recorded in the store as an AuditEvent (the privacy office\n"
           "reading the access log); if that record cannot be written, no output is\n"
           "written either.\n",
           explain ? "explain view" : "report");
}

static int parse_report_opts(const char *cmd, int argc, char **argv, report_opts *o, int *help,
                             aod_error *err)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"patient", required_argument, NULL, 'p'},
                                         {"from", required_argument, NULL, 'f'},
                                         {"to", required_argument, NULL, 't'},
                                         {"mode", required_argument, NULL, 'm'},
                                         {"audience", required_argument, NULL, 'a'},
                                         {"policy", required_argument, NULL, 'P'},
                                         {"format", required_argument, NULL, 'F'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"now", required_argument, NULL, 'n'},
                                         {"lang", required_argument, NULL, 'l'},
                                         {"templates", required_argument, NULL, 'T'},
                                         {"patient-name", required_argument, NULL, 'N'},
                                         {"requested", required_argument, NULL, 'r'},
                                         {"csv-bom", no_argument, NULL, 'B'},
                                         {"csv-delimiter", required_argument, NULL, 'D'},
                                         {"font", required_argument, NULL, 'U'},
                                         {"sign", required_argument, NULL, 'S'},
                                         {"fallback-font", required_argument, NULL, 'k'},
                                         {"operator", required_argument, NULL, 'O'},
                                         {"json", no_argument, NULL, 'J'},
                                         {"ref", required_argument, NULL, 'R'},
                                         {"actions", required_argument, NULL, 'A'},
                                         {"contact", required_argument, NULL, 'C'},
                                         {"discovered", required_argument, NULL, 'V'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    int c;

    memset(o, 0, sizeof *o);
    o->csv_delimiter = ',';
    *help = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o->db = optarg;
            break;
        case 'p':
            if (o->n_keys == MAX_KEYS)
                return usage_error(err, cmd, "too many --patient keys");
            o->keys[o->n_keys++] = optarg;
            break;
        case 'f':
            o->from = optarg;
            break;
        case 't':
            o->to = optarg;
            break;
        case 'm':
            o->mode = optarg;
            break;
        case 'a':
            o->audience = optarg;
            break;
        case 'P':
            o->policy = optarg;
            break;
        case 'F':
            o->format = optarg;
            break;
        case 'o':
            o->output = optarg;
            break;
        case 'n':
            o->now = optarg;
            break;
        case 'l':
            o->lang = optarg;
            break;
        case 'T':
            o->templates = optarg;
            break;
        case 'N':
            o->patient_name = optarg;
            break;
        case 'r':
            o->requested = optarg;
            break;
        case 'B':
            o->csv_bom = 1;
            break;
        case 'U':
            o->font = optarg;
            break;
        case 'S':
            o->sign = optarg;
            break;
        case 'k':
            o->fallback_font = optarg;
            break;
        case 'O':
            o->operator_name = optarg;
            break;
        case 'J':
            o->json = 1;
            break;
        case 'R':
            o->ref = optarg;
            break;
        case 'A':
            o->actions = optarg;
            break;
        case 'C':
            o->contact = optarg;
            break;
        case 'V':
            o->discovered = optarg;
            break;
        case 'D':
            if (strcmp(optarg, ",") == 0 || strcmp(optarg, ";") == 0)
                o->csv_delimiter = optarg[0];
            else if (strcmp(optarg, "tab") == 0 || strcmp(optarg, "\t") == 0)
                o->csv_delimiter = '\t';
            else
                return usage_error(err, "--csv-delimiter", "'%s': use ',', ';' or 'tab'", optarg);
            break;
        case 'h':
            *help = 1;
            return 0;
        default:
            return bad_option(err, cmd);
        }
    }
    if (optind < argc)
        return usage_error(err, cmd, "unexpected argument '%s'", argv[optind]);
    if (o->n_keys == 0)
        return usage_error(err, cmd, "--patient is required");
    /* the breach letter's options belong to it; --ref to it and explain */
    if (strcmp(cmd, "explain") == 0 || !o->mode || strcmp(o->mode, "breach") != 0) {
        if (o->ref && strcmp(cmd, "explain") != 0)
            return usage_error(err, "--ref", "--ref belongs to explain and to --mode breach");
        if (o->actions || o->contact || o->discovered)
            return usage_error(err,
                               o->actions   ? "--actions"
                               : o->contact ? "--contact"
                                            : "--discovered",
                               "belongs to --mode breach");
    } else {
        if (!o->ref)
            return usage_error(err, "--ref",
                               "--mode breach needs the references of the lines it is about "
                               "(--ref REF[,REF...], as the access report prints them)");
        if (!o->actions || !*o->actions)
            return usage_error(err, "--actions",
                               "--mode breach needs what was done about it (--actions TEXT): "
                               "the letter must say it");
    }
    if (o->json && (!o->output || strcmp(o->output, "-") == 0))
        return usage_error(err, "--json", "the summary goes to standard output: give -o FILE");
    return 0;
}

/* report --mode breach: the references (REF[,REF...], each as a person
 * types it back) into refs, and the letter's words, into b. */
static int parse_breach(const report_opts *o, aod_breach *b,
                        char refs[AOD_BREACH_MAX_REFS][AOD_ENTRY_REF_SIZE], aod_error *err)
{
    const char *p = o->ref, *end;
    size_t i;

    memset(b, 0, sizeof *b);
    for (; p; p = *end ? end + 1 : NULL) {
        char one[64];
        size_t n;
        end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        n = (size_t)(end - p);
        if (b->n_refs == AOD_BREACH_MAX_REFS)
            return usage_error(err, "--ref", "at most %d references in one letter",
                               AOD_BREACH_MAX_REFS);
        if (n < sizeof one) {
            memcpy(one, p, n);
            one[n] = '\0';
        }
        if (n >= sizeof one || aod_entry_ref_parse(one, refs[b->n_refs], AOD_ENTRY_REF_SIZE) != 0)
            return usage_error(err, "--ref",
                               "'%.*s' is not a line reference (ten letters and digits, as "
                               "XXXXX-XXXXX)",
                               (int)(n < 64 ? n : 64), p);
        for (i = 0; i < b->n_refs && strcmp(refs[i], refs[b->n_refs]) != 0; i++)
            ;
        if (i == b->n_refs) { /* the same line twice is said once */
            b->refs[b->n_refs] = refs[b->n_refs];
            b->n_refs++;
        }
    }
    b->actions = o->actions;
    b->contact = o->contact;
    return 0;
}

/* The --json summary of one report or explain view, on standard output. */
static int print_report_json(const char *cmd, const report_opts *o, const char *const *keys,
                             size_t n_keys, const aod_run_output *out,
                             const aod_report_summary *sum, const char *self_audit)
{
    json_t *doc, *jkeys = json_array();
    size_t i;
    int rc = -1;

    /* An SSN is printed as the logs print keys, by its last four characters:
     * a full SSN never leaves (doc/bundle.md), not even to the operator's
     * terminal or a cron mail. */
    for (i = 0; jkeys && i < n_keys; i++) {
        char masked[512];
        const char *k = aod_text_key_is_ssn(keys[i])
                            ? aod_error_mask_key(keys[i], masked, sizeof masked)
                            : keys[i];
        if (json_array_append_new(jkeys, json_string(k)) != 0)
            break;
    }
    doc = json_pack("{s:s, s:o, s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, "
                    "s:s}",
                    "command", cmd, "patient_keys", jkeys, "mode",
                    o->mode ? o->mode : "disclosures", "audience",
                    strcmp(cmd, "explain") == 0 ? "privacy-office"
                    : o->audience               ? o->audience
                                                : "patient",
                    "format", out->format, "output", out->path, "size", (json_int_t)out->size,
                    "sha256", out->sha256, "records_read", (json_int_t)sum->records_read,
                    "records_unreadable", (json_int_t)sum->records_unreadable, "events",
                    (json_int_t)sum->events, "lines", (json_int_t)sum->entries, "suspended",
                    (json_int_t)sum->suspended, "summarised", (json_int_t)sum->summarised,
                    "self_audit", self_audit);
    if (doc && json_dumpf(doc, stdout, JSON_COMPACT) == 0 && putchar('\n') != EOF)
        rc = 0;
    json_decref(doc);
    return rc;
}

static int cmd_report_common(const char *cmd, int argc, char **argv, aod_error *err)
{
    int explain = strcmp(cmd, "explain") == 0;
    report_opts o;
    aod_report_info info;
    aod_breach breach;
    char refs[AOD_BREACH_MAX_REFS][AOD_ENTRY_REF_SIZE];
    aod_report_summary sum;
    aod_run_options ro;
    aod_run_output output[2];
    size_t n_outputs = 1;
    aod_buf companion;
    aod_policy *policy = NULL;
    aod_text *text = NULL;
    aod_sign_key *sign_key = NULL;
    aod_store *st = NULL;
    aod_buf keybuf[MAX_KEYS];
    const char *keys[MAX_KEYS];
    char self_audit[AOD_SELFAUDIT_ID_LEN] = "", masked[300];
    size_t i, nkeys = 0;
    int help, rc = -1;

    if (parse_report_opts(cmd, argc, argv, &o, &help, err) != 0)
        return -1;
    if (help) {
        report_help(cmd);
        return 0;
    }
    memset(&info, 0, sizeof info);
    aod_buf_init(&companion, 8192);
    for (i = 0; i < o.n_keys; i++)
        aod_buf_init(&keybuf[i], 4096);
    for (i = 0; i < o.n_keys; i++) {
        if (aod_normalize_patient_key(o.keys[i], &keybuf[i], err) != 0) {
            aod_error_where(err, "--patient", 0, -1);
            if (err->code != AOD_ERR_NOMEM) {
                err->code = AOD_ERR_USAGE;
            }
            goto out;
        }
        keys[nkeys++] = aod_buf_str(&keybuf[i]);
    }
    info.patient_keys = keys;
    info.n_patient_keys = nkeys;
    if (!o.mode || strcmp(o.mode, "disclosures") == 0)
        info.mode = AOD_MODE_DISCLOSURES;
    else if (strcmp(o.mode, "access") == 0)
        info.mode = AOD_MODE_ACCESS;
    else if (!explain && strcmp(o.mode, "breach") == 0) {
        /* the letter about lines of the patient's access report */
        info.mode = AOD_MODE_ACCESS;
        if (parse_breach(&o, &breach, refs, err) != 0)
            goto out;
        info.breach = &breach;
    } else {
        usage_error(err, "--mode", "'%s': use disclosures or access%s", o.mode,
                    explain ? "" : " (or breach)");
        goto out;
    }
    if (!o.audience || strcmp(o.audience, "patient") == 0)
        info.audience = AOD_AUDIENCE_PATIENT;
    else if (strcmp(o.audience, "privacy-office") == 0)
        info.audience = AOD_AUDIENCE_PRIVACY_OFFICE;
    else {
        usage_error(err, "--audience", "'%s': use patient or privacy-office", o.audience);
        goto out;
    }
    if (explain)
        info.audience = AOD_AUDIENCE_PRIVACY_OFFICE;
    if (info.breach && info.audience != AOD_AUDIENCE_PATIENT) {
        usage_error(err, "--audience", "the breach letter is the patient's: leave --audience out");
        goto out;
    }
    if (info.breach && o.format && strcmp(o.format, "pdf") != 0 && strcmp(o.format, "html") != 0 &&
        strcmp(o.format, "csv") != 0) {
        usage_error(err, "--format", "the breach letter is pdf or html (or csv: its lines), not %s",
                    o.format);
        goto out;
    }
    /* validate the format before touching the database or the output */
    if (!explain && o.format && !aod_run_format_known(o.format)) {
        usage_error(err, "--format",
                    "unknown format '%s' (known: csv, csv-summary, csv-completeness, pdf, html, "
                    "xlsx, bundle-json, bundle-xml, mhd, mhd-html, mhd-simplified, "
                    "mhd-simplified-html)",
                    o.format);
        goto out;
    }
    /* A PDF on a terminal is a screenful of binary and a mangled terminal. */
    if (!explain && o.format && strcmp(o.format, "pdf") == 0 &&
        (!o.output || strcmp(o.output, "-") == 0) && isatty(STDOUT_FILENO)) {
        usage_error(err, "--format",
                    "a PDF is not written to a terminal: give -o FILE or "
                    "redirect standard output");
        goto out;
    }
    /* --sign: a FHIR document is what carries a signature */
    if (o.sign) {
        const char *f = o.format ? o.format : "csv";
        if (explain || (strcmp(f, "bundle-json") != 0 && strcmp(f, "bundle-xml") != 0 &&
                        strcmp(f, "mhd") != 0 && strcmp(f, "mhd-html") != 0)) {
            usage_error(err, "--sign",
                        "signs a FHIR document: use it with --format bundle-json, bundle-xml, or "
                        "mhd / mhd-html (the document they carry), not %s",
                        explain ? "explain" : f);
            goto out;
        }
        sign_key = aod_sign_key_load_private(o.sign, err);
        if (!sign_key)
            goto out;
    }
    policy = aod_run_load_policy(o.policy, NULL, err);
    if (!policy)
        goto out;
    info.policy = policy;
    if (aod_timefmt_set_zone(policy->presentation.time_zone, err) != 0)
        goto out;
    info.lang = o.lang ? o.lang : policy->presentation.language;
    info.patient_name = o.patient_name;
    if (aod_run_period(policy, o.now, o.from, o.to, &info, err) != 0)
        goto out;
    if (info.breach && o.discovered &&
        aod_run_parse_when("--discovered", o.discovered, 0, &breach.discovered, err) != 0)
        goto out;
    if (o.requested && aod_run_parse_when("--requested", o.requested, 0, &info.requested, err) != 0)
        goto out;
    text = aod_text_load(o.templates, info.lang, err);
    if (!text)
        goto out;
    st = aod_store_connect(o.db, err);
    if (!st || aod_store_check_version(st, err) != 0)
        goto out;
    memset(&ro, 0, sizeof ro);
    ro.font = o.font;
    ro.sign_key = sign_key;
    ro.fallback_font = o.fallback_font;
    ro.csv.bom = o.csv_bom;
    ro.csv.delimiter = o.csv_delimiter;
    ro.operator_name = o.operator_name;
    ro.explain_ref = explain ? o.ref : NULL;
    /* Test hook, as batch has: the finished temporary file waits this long
     * for the self-audit, so a test can kill the run there. */
    if (getenv("AOD_TEST_SLOW_MS"))
        ro.pause_ms = strtol(getenv("AOD_TEST_SLOW_MS"), NULL, 10);
    memset(output, 0, sizeof output);
    output[0].format = explain || !o.format ? "csv" : o.format;
    output[0].path = o.output;
    /* A CSV written to a file carries its completeness statement in a
     * companion file (doc/csv.md): rows after the table would break RFC
     * 4180 readers.  report.csv -> report.completeness.csv */
    if (!explain && strcmp(output[0].format, "csv") == 0 && o.output &&
        strcmp(o.output, "-") != 0) {
        size_t n = strlen(o.output);
        if (n > 4 && strcmp(o.output + n - 4, ".csv") == 0)
            n -= 4;
        if (aod_buf_add(&companion, o.output, n) != 0 ||
            aod_buf_adds(&companion, ".completeness.csv") != 0) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
            goto out;
        }
        output[1].format = "csv-completeness";
        output[1].path = aod_buf_str(&companion);
        n_outputs = 2;
    }
    if (aod_run_report_stoppable(st, &info, text, explain, output, n_outputs, &ro, &sum, self_audit,
                                 err) != 0)
        goto out;
    if (sum.records_read == 0)
        aod_log(AOD_LOG_NOTICE, "no audit records found for %s in the period; the report says so",
                aod_error_mask_key(keys[0], masked, sizeof masked));
    if (sum.records_unreadable)
        aod_log(AOD_LOG_WARNING,
                "%ld stored record%s could not be read (named above); the report counts them",
                sum.records_unreadable, sum.records_unreadable == 1 ? "" : "s");
    if (o.json && print_report_json(cmd, &o, keys, nkeys, &output[0], &sum, self_audit) != 0) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory writing the summary");
        goto out;
    }
    rc = 0;
out:
    aod_store_free(st);
    aod_text_free(text);
    aod_policy_free(policy);
    aod_sign_key_free(sign_key);
    for (i = 0; i < o.n_keys; i++)
        aod_buf_free(&keybuf[i]);
    aod_buf_free(&companion);
    return rc;
}

static int cmd_report(int argc, char **argv, aod_error *err)
{
    return cmd_report_common("report", argc, argv, err);
}

static int cmd_explain(int argc, char **argv, aod_error *err)
{
    return cmd_report_common("explain", argc, argv, err);
}

/* ------------------------------------------------------------------ batch */

static void batch_help(void)
{
    printf("Usage: aodreport batch --requests FILE --out-dir DIR [OPTIONS]\n"
           "       aodreport batch --month YYYY-MM --out-dir DIR [OPTIONS]\n"
           "\n"
           "Many reports in one run: one per row of a requests file (CSV with a header row:\n"
           "patient, from, to, mode, formats, lang, requested, patient_name, audience), or\n"
           "one for every patient key with events recorded in a month (access mode unless\n"
           "--mode says otherwise).  Files go to DIR/<patient-dir>/, with DIR/manifest.json\n"
           "and DIR/manifest.csv listing each report, its files, checksums and status.\n"
           "Running the same command again skips what is complete and makes the rest.\n"
           "\n"
           "  --requests FILE    the requests (CSV; '-' reads standard input)\n"
           "  --month YYYY-MM    every patient with activity in that month\n"
           "  --out-dir DIR      where the reports and the manifest go (created if missing)\n"
           "  --formats LIST     default formats: pdf, csv, html, xlsx, bundle-json,\n"
           "                     bundle-xml, csv-summary, mhd, mhd-html, mhd-simplified,\n"
           "                     mhd-simplified-html, separated by ',' or ';'\n"
           "                     (default: pdf,csv); csv-completeness: a CSV's\n"
           "                     completeness statement\n"
           "  --sign KEYFILE     sign each FHIR document (bundle-json, bundle-xml, and the\n"
           "                     one mhd / mhd-html carries) with this Ed25519 key, as\n"
           "                     report --sign does; the other formats are not signed\n"
           "  --mode MODE        default mode: disclosures or access\n"
           "  --audience WHO     default audience: patient (default) or privacy-office\n"
           "  --lang LANG        default language (default: the policy's)\n"
           "  --notify           with --month: also a digest per patient with something to\n"
           "                     tell (<report>.notify.json and .notify.txt): a new\n"
           "                     organisation, an emergency access, a restricted record,\n"
           "                     a disclosure, a flag the policy marks notify\n"
           "  --now TIMESTAMP    the time every report is made as of (default: now)\n"
           "  --policy FILE      the site policy (default: $AODREPORT_POLICY, else\n"
           "                     " AOD_SYSCONF_POLICY ")\n"
           "  --jobs N           reports made at once, each worker with its own database\n"
           "                     connection (default 1, at most 64)\n"
           "  --shard K/N        only the patients whose key hashes to shard K of N\n"
           "  --operator NAME    who runs the batch, for the self-audit records\n"
           "  --templates DIR    templates directory (default: installed / built in)\n"
           "  --font FILE        TrueType font for the PDFs (default: DejaVu Sans)\n"
           "  --fallback-font FILE  font for the characters --font lacks (CJK)\n"
           "  --csv-bom          start CSV files with a UTF-8 byte order mark\n"
           "  --csv-delimiter C  ',' (default), ';' or 'tab'\n"
           "  --db CONNINFO      libpq connection string (default: the PG* environment)\n"
           "  -q, --quiet        print only problems\n"
           "  -v, --verbose      one line per report, on a terminal too\n"
           "  -h, --help         show this help\n"
           "\n"
           "Exit status: 0 all done, 9 interrupted, 10 some rows skipped or reports failed,\n"
           "4 the database went away; see aodreport(1).\n");
}

static int cmd_batch(int argc, char **argv, aod_error *err)
{
    static const struct option opts[] = {{"requests", required_argument, NULL, 'R'},
                                         {"month", required_argument, NULL, 'M'},
                                         {"out-dir", required_argument, NULL, 'o'},
                                         {"formats", required_argument, NULL, 'F'},
                                         {"mode", required_argument, NULL, 'm'},
                                         {"audience", required_argument, NULL, 'a'},
                                         {"lang", required_argument, NULL, 'l'},
                                         {"now", required_argument, NULL, 'n'},
                                         {"policy", required_argument, NULL, 'P'},
                                         {"db", required_argument, NULL, 'd'},
                                         {"templates", required_argument, NULL, 'T'},
                                         {"font", required_argument, NULL, 'U'},
                                         {"fallback-font", required_argument, NULL, 'k'},
                                         {"sign", required_argument, NULL, 'K'},
                                         {"operator", required_argument, NULL, 'O'},
                                         {"jobs", required_argument, NULL, 'j'},
                                         {"shard", required_argument, NULL, 'S'},
                                         {"csv-bom", no_argument, NULL, 'B'},
                                         {"csv-delimiter", required_argument, NULL, 'D'},
                                         {"notify", no_argument, NULL, 'N'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    aod_batch_options o;
    char *end;
    long jobs;
    int c;

    memset(&o, 0, sizeof o);
    o.jobs = 1;
    o.csv_delimiter = ',';
    while ((c = getopt_long(argc, argv, "qvh", opts, NULL)) != -1) {
        switch (c) {
        case 'R':
            o.requests = optarg;
            break;
        case 'M':
            o.month = optarg;
            break;
        case 'o':
            o.out_dir = optarg;
            break;
        case 'F':
            o.formats = optarg;
            break;
        case 'm':
            o.mode = optarg;
            break;
        case 'a':
            o.audience = optarg;
            break;
        case 'l':
            o.lang = optarg;
            break;
        case 'n':
            o.now = optarg;
            break;
        case 'P':
            o.policy = optarg;
            break;
        case 'd':
            o.db = optarg;
            break;
        case 'T':
            o.templates = optarg;
            break;
        case 'U':
            o.font = optarg;
            break;
        case 'k':
            o.fallback_font = optarg;
            break;
        case 'K':
            o.sign = optarg;
            break;
        case 'O':
            o.operator_name = optarg;
            break;
        case 'B':
            o.csv_bom = 1;
            break;
        case 'N':
            o.notify = 1;
            break;
        case 'q':
            o.quiet = 1;
            break;
        case 'v':
            o.verbose = 1;
            break;
        case 'j':
            errno = 0;
            jobs = strtol(optarg, &end, 10);
            if (end == optarg || *end || errno || jobs < 1 || jobs > 64)
                return usage_error(err, "--jobs", "'%s': give a number from 1 to 64", optarg);
            o.jobs = (int)jobs;
            break;
        case 'S':
            if (aod_batch_parse_shard(optarg, &o.shard_k, &o.shard_n, err) != 0)
                return -1;
            break;
        case 'D':
            if (strcmp(optarg, ",") == 0 || strcmp(optarg, ";") == 0)
                o.csv_delimiter = optarg[0];
            else if (strcmp(optarg, "tab") == 0 || strcmp(optarg, "\t") == 0)
                o.csv_delimiter = '\t';
            else
                return usage_error(err, "--csv-delimiter", "'%s': use ',', ';' or 'tab'", optarg);
            break;
        case 'h':
            batch_help();
            return 0;
        default:
            return bad_option(err, "batch");
        }
    }
    if (optind < argc)
        return usage_error(err, "batch", "unexpected argument '%s'", argv[optind]);
    return aod_batch_run(&o, err);
}

/* ------------------------------------------------------------------ check */

static void check_help(void)
{
    printf("Usage: aodreport check [OPTIONS]\n"
           "\n"
           "Say whether this site is ready to write reports, changing nothing: the site\n"
           "policy (found as a report finds it, valid, not the demonstration), the\n"
           "templates and the PDF font for the letter's language, the database, its\n"
           "schema version (without migrating) and whether this login may read the\n"
           "store and record its self-audit.  One line per check; the exit status is\n"
           "the first problem's (see aodreport(1)): 11 no site policy or still the\n"
           "example, 7 invalid policy, 14 templates or font, 4 database unreachable,\n"
           "12 schema, 13 privileges.\n"
           "\n"
           "  --policy FILE      the policy to check (default: $AODREPORT_POLICY, else\n"
           "                     " AOD_SYSCONF_POLICY ")\n"
           "  --lang LANG        the letter's language (default: the policy's)\n"
           "  --templates DIR    templates directory (default: installed / built in)\n"
           "  --font FILE        the PDF font (default: DejaVu Sans)\n"
           "  --fallback-font FILE  the font for the characters --font lacks, as the PDF\n"
           "                     takes it (default: WenQuanYi Micro Hei when installed);\n"
           "                     '' for none\n"
           "  --db CONNINFO      libpq connection string (default: the PG* environment)\n"
           "  --json             one JSON object instead of lines\n"
           "  -h, --help         show this help\n");
}

static int cmd_check(int argc, char **argv, aod_error *err)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"policy", required_argument, NULL, 'P'},
                                         {"lang", required_argument, NULL, 'l'},
                                         {"templates", required_argument, NULL, 'T'},
                                         {"font", required_argument, NULL, 'U'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"fallback-font", required_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    aod_check_options o;
    int c;

    memset(&o, 0, sizeof o);
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.db = optarg;
            break;
        case 'P':
            o.policy = optarg;
            break;
        case 'l':
            o.lang = optarg;
            break;
        case 'T':
            o.templates = optarg;
            break;
        case 'U':
            o.font = optarg;
            break;
        case 'k':
            o.fallback_font = optarg;
            break;
        case 'j':
            o.json = 1;
            break;
        case 'h':
            check_help();
            return 0;
        default:
            return bad_option(err, "check");
        }
    }
    if (optind < argc)
        return usage_error(err, "check", "unexpected argument '%s'", argv[optind]);
    return aod_check_run(&o, err);
}

/* ---------------------------------------------------------- site inputs */

static void site_help(aod_site_kind kind)
{
    static const char *const what[AOD_SITE_KIND_COUNT] = {
        "the staff roster: staff_key,name,surname,address,department,start,end,patient_keys",
        "facts about patients: patient_key,surname,address,vip,deceased,employee",
        "care relationships: patient_key,staff_key,from,to"};
    static const char *const cmd[AOD_SITE_KIND_COUNT] = {"load-roster", "load-patient-facts",
                                                         "load-care"};

    printf("Usage: aodreport %s [--db CONNINFO] FILE.csv\n"
           "\n"
           "Replace %s.\n"
           "The file is CSV (RFC 4180) with a header row naming those columns; dates are\n"
           "YYYY-MM-DD, yes/no columns say yes or no.  The stored list is replaced whole, in\n"
           "one transaction: a bad row names the file, line and column, and nothing is\n"
           "loaded.  The privacy office's copy reads the lists (doc/privacy-office.md).\n"
           "\n"
           "  --db CONNINFO   libpq connection string or URI (default: the PG* environment)\n"
           "  -h, --help      show this help\n",
           cmd[kind], what[kind]);
}

static int cmd_site(aod_site_kind kind, const char *name, int argc, char **argv, aod_error *err)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    const char *db = NULL;
    aod_store *st;
    long rows = 0;
    int c, rc;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'h':
            site_help(kind);
            return 0;
        default:
            return bad_option(err, name);
        }
    }
    if (optind >= argc)
        return usage_error(err, name, "no input file given (use '-' for standard input)");
    if (optind + 1 < argc)
        return usage_error(err, name, "one file only: each load replaces the whole list");
    st = aod_store_connect(db, err);
    if (!st || aod_store_check_version(st, err) != 0) {
        aod_store_free(st);
        return -1;
    }
    rc = aod_sitecsv_load(st, kind, argv[optind], &rows, err);
    if (rc == 0)
        printf("%s: %ld row%s loaded; the %s list was replaced\n",
               strcmp(argv[optind], "-") == 0 ? "<stdin>" : argv[optind], rows,
               rows == 1 ? "" : "s", aod_store_site_kind_name(kind));
    aod_store_free(st);
    return rc;
}

static int cmd_load_roster(int argc, char **argv, aod_error *err)
{
    return cmd_site(AOD_SITE_ROSTER, "load-roster", argc, argv, err);
}

static int cmd_load_facts(int argc, char **argv, aod_error *err)
{
    return cmd_site(AOD_SITE_PATIENT_FACTS, "load-patient-facts", argc, argv, err);
}

static int cmd_load_care(int argc, char **argv, aod_error *err)
{
    return cmd_site(AOD_SITE_CARE, "load-care", argc, argv, err);
}

/* ------------------------------------------------------------------ main */

static const command commands[] = {
    {"init", cmd_init, "create or upgrade the audit store"},
    {"load", cmd_load, "load AuditEvent files (NDJSON or Bundles) into the store"},
    {"load-roster", cmd_load_roster, "replace the staff roster (CSV) the flags read"},
    {"load-patient-facts", cmd_load_facts, "replace the patient facts (CSV): VIP, employee, ..."},
    {"load-care", cmd_load_care, "replace the care relationships (CSV) the flags read"},
    {"report", cmd_report, "write one patient's accounting of disclosures or access report"},
    {"explain", cmd_explain, "show why each audit record is (not) in a patient's report"},
    {"batch", cmd_batch, "many reports: a requests file or a month's patients, resumable"},
    {"check", cmd_check, "say whether this site is ready: policy, templates, font, database"},
    {"verify", aod_verify_command, "did one person access a patient's record? yes or no, and when"},
    {"maintain", aod_maintain_command, "make the coming months' partitions, cluster closed months"},
    {"retention", aod_retention_command, "drop the months past retention, and record it"},
    {"verify-signature", aod_sigcheck_command,
     "check the signature of a document written with --sign"},
};

static void main_help(void)
{
    size_t i;

    printf("Usage: aodreport COMMAND [OPTIONS]\n"
           "\n"
           "Accountings of disclosures and access reports from FHIR AuditEvents.\n"
           "\n"
           "Commands:\n");
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        printf("  %-18s %s\n", commands[i].name, commands[i].summary);
    printf("\n"
           "'aodreport COMMAND --help' describes each command; see also aodreport(1).\n"
           "  -h, --help      show this help\n"
           "  -V, --version   show the version\n");
}

int aod_cli_run(int argc, char **argv, aod_error *err)
{
    size_t i;

    if (argc < 2) {
        main_help();
        return usage_error(err, NULL, "no command given");
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        main_help();
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("aodreport %s\n", PACKAGE_VERSION);
        return 0;
    }
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            optind = 1;
            opterr = 1;
            return commands[i].run(argc - 1, argv + 1, err);
        }
    }
    return usage_error(err, NULL, "unknown command '%s'", argv[1]);
}
