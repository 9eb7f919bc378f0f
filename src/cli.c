/*
 * cli.c - subcommands and their options (see cli.h).
 *
 * Each subcommand is one function that parses its own options with
 * getopt_long and calls the library; none of them holds logic of its own
 * beyond wiring and messages.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "buf.h"
#include "embedded.h"
#include "load.h"
#include "normalize.h"
#include "outfile.h"
#include "policy.h"
#include "record.h"
#include "render/csv.h"
#include "render/text.h"
#include "report.h"
#include "store.h"
#include "timefmt.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv, aod_error *err);
    const char *summary;
} command;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int usage_error(aod_error *err, const char *where, const char *fmt, ...)
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
           "line) or a FHIR Bundle of AuditEvents, in R4, R5 or R6-ballot shape; '-' reads\n"
           "standard input.  Each file is loaded whole or not at all: the first bad record\n"
           "stops that file with its line (and Bundle entry) and nothing of it is kept;\n"
           "the other files are still loaded.  Loading a file again stores nothing twice.\n"
           "\n"
           "  --db CONNINFO   libpq connection string or URI (default: the PG* environment)\n"
           "  -q, --quiet     print only errors\n"
           "  -h, --help      show this help\n");
}

static int cmd_load(int argc, char **argv, aod_error *err)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = NULL;
    aod_load_counts total, one;
    aod_store *st;
    int c, i, quiet = 0, files = 0, failed = 0;

    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'q':
            quiet = 1;
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
    st = aod_store_connect(db, err);
    if (!st)
        return -1;
    {
        int v = aod_store_version(st, err);
        if (v < 0) {
            aod_store_free(st);
            return -1;
        }
        if (v != aod_store_latest_version()) {
            aod_store_free(st);
            aod_error_set(err, AOD_ERR_DB, "database", 0, NULL,
                          "the store is at schema version %d, this program needs %d: run "
                          "'aodreport init' first",
                          v, aod_store_latest_version());
            return -1;
        }
    }
    memset(&total, 0, sizeof total);
    for (i = optind; i < argc; i++) {
        aod_error ferr;
        files++;
        aod_error_init(&ferr);
        if (aod_load_path(st, argv[i], &one, &ferr) != 0) {
            char msg[1024];
            fprintf(stderr, "aodreport: %s\n", aod_error_format(&ferr, msg, sizeof msg));
            fprintf(stderr, "aodreport: %s: not loaded; nothing from this file was stored\n",
                    strcmp(argv[i], "-") == 0 ? "<stdin>" : argv[i]);
            failed++;
            /* A lost connection fails every later file too: stop here. */
            if (ferr.code == AOD_ERR_DB_CONNECT || ferr.code == AOD_ERR_NOMEM) {
                *err = ferr;
                aod_store_free(st);
                return -1;
            }
            if (err->code == AOD_OK)
                *err = ferr;
            continue;
        }
        if (!quiet)
            printf("%s: %ld events read, %ld stored, %ld already present, %ld without patient\n",
                   strcmp(argv[i], "-") == 0 ? "<stdin>" : argv[i], one.read, one.stored, one.already, one.without_patient);
        total.read += one.read;
        total.stored += one.stored;
        total.already += one.already;
        total.without_patient += one.without_patient;
    }
    aod_store_free(st);
    if (!quiet)
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
    int csv_bom;
    char csv_delimiter;
} report_opts;

static void report_help(const char *cmd)
{
    int explain = strcmp(cmd, "explain") == 0;

    printf("Usage: aodreport %s --patient REF [--patient REF...] [OPTIONS]\n\n", cmd);
    if (explain)
        printf("For the privacy office: one CSV line per raw audit record of the patient, with\n"
               "its classification, the policy rule that decided, the de-duplication group it\n"
               "joined, the report line it ended up in (or why not) and the masking applied.\n\n");
    else
        printf("Write one patient's accounting of disclosures (HIPAA 45 CFR 164.528) or access\n"
               "report from the audit store.\n\n");
    printf("  --patient REF      the patient: a reference (Patient/123) or an identifier\n"
           "                     (system|value); repeat for one person known by several keys\n"
           "  --from DATE        first day covered (default: the policy's lookback before --now)\n"
           "  --to DATE          last day covered, inclusive (default: --now)\n"
           "  --mode MODE        disclosures (default) or access\n"
           "  --audience WHO     patient (default) or privacy-office\n"
           "  --policy FILE      policy XML (default: the built-in HIPAA policy)\n"
           "  --now TIMESTAMP    the time the report is made as of (default: now); fixes the\n"
           "                     output for reproducible runs\n"
           "  --lang LANG        language of the words in the report (default: the policy's)\n"
           "  --patient-name N   the patient's name, for the letter\n"
           "  --requested DATE   when the request was received\n");
    if (!explain)
        printf("  --format FORMAT    csv (default)\n");
    printf("  -o, --output FILE  write here (default: standard output); written to a\n"
           "                     temporary file and renamed when complete, mode 0600\n"
           "  --csv-bom          start CSV output with a UTF-8 byte order mark (Excel)\n"
           "  --csv-delimiter C  ',' (default), ';' or 'tab'\n"
           "  --templates DIR    templates directory (default: installed / built in)\n"
           "  --db CONNINFO      libpq connection string (default: the PG* environment)\n"
           "  -h, --help         show this help\n");
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
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    int c;

    memset(o, 0, sizeof *o);
    o->csv_delimiter = ',';
    *help = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o->db = optarg; break;
        case 'p':
            if (o->n_keys == MAX_KEYS)
                return usage_error(err, cmd, "too many --patient keys");
            o->keys[o->n_keys++] = optarg;
            break;
        case 'f': o->from = optarg; break;
        case 't': o->to = optarg; break;
        case 'm': o->mode = optarg; break;
        case 'a': o->audience = optarg; break;
        case 'P': o->policy = optarg; break;
        case 'F': o->format = optarg; break;
        case 'o': o->output = optarg; break;
        case 'n': o->now = optarg; break;
        case 'l': o->lang = optarg; break;
        case 'T': o->templates = optarg; break;
        case 'N': o->patient_name = optarg; break;
        case 'r': o->requested = optarg; break;
        case 'B': o->csv_bom = 1; break;
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
    return 0;
}

/* A date alone means that whole day in the policy's zone (the zone must be
 * set); a full timestamp means itself. */
static int parse_when(const char *opt, const char *s, int end_of_day, int64_t *ms, aod_error *err)
{
    int y, m, d, n = 0;

    if (sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && s[n] == '\0' && n == 10) {
        struct tm tm;
        time_t t;
        int64_t check;
        memset(&tm, 0, sizeof tm);
        tm.tm_year = y - 1900;
        tm.tm_mon = m - 1;
        tm.tm_mday = d + (end_of_day ? 1 : 0);
        tm.tm_isdst = -1;
        t = mktime(&tm);
        /* mktime normalises 2025-02-30 to March: reject what changed. */
        if (t == (time_t)-1 || aod_time_parse(s, &check) != 0) {
            aod_error_set(err, AOD_ERR_USAGE, opt, 0, NULL, "'%s' is not a valid date", s);
            return -1;
        }
        *ms = (int64_t)t * 1000;
        return 0;
    }
    if (aod_time_parse(s, ms) != 0) {
        aod_error_set(err, AOD_ERR_USAGE, opt, 0, NULL,
                      "'%s' is not a date (YYYY-MM-DD) or timestamp (YYYY-MM-DDThh:mm:ssZ)", s);
        return -1;
    }
    return 0;
}

static aod_policy *load_policy(const char *path, aod_error *err)
{
    const aod_embedded_file *xsd = aod_embedded_find("data/policy.xsd");
    aod_policy *p = NULL;
    aod_buf xml;
    FILE *f;
    char chunk[8192];
    size_t n;

    if (!xsd) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "policy schema missing from the program");
        return NULL;
    }
    if (!path) {
        const aod_embedded_file *def = aod_embedded_find("examples/policies/hipaa-default.xml");
        if (!def) {
            aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, NULL, "default policy missing");
            return NULL;
        }
        return aod_policy_load_memory(def->data, def->len, "built-in hipaa-default policy",
                                      xsd->data, xsd->len, err);
    }
    f = fopen(path, "rb");
    if (!f) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "cannot open the policy: %s", strerror(errno));
        return NULL;
    }
    aod_buf_init(&xml, (size_t)16 * 1024 * 1024);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (aod_buf_add(&xml, chunk, n) != 0) {
            aod_error_set(err, AOD_ERR_POLICY, path, 0, NULL, "the policy file is too large");
            goto out;
        }
    }
    if (ferror(f)) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "read error");
        goto out;
    }
    p = aod_policy_load_memory(aod_buf_str(&xml), xml.len, path, xsd->data, xsd->len, err);
out:
    fclose(f);
    aod_buf_free(&xml);
    return p;
}

/* The store streams rows; each goes straight into the report. */
static int push_row(void *ctx, int64_t id, const char *norm, size_t len, aod_error *err)
{
    return aod_report_push_norm(ctx, id, norm, len, err);
}

static aod_sink *make_sink(const report_opts *o, FILE *out, const aod_text *text, aod_error *err)
{
    const char *format = o->format ? o->format : "csv";

    if (strcmp(format, "csv") == 0) {
        aod_csv_options co;
        co.bom = o->csv_bom;
        co.delimiter = o->csv_delimiter;
        return aod_csv_sink_new(out, &co, text, NULL, err);
    }
    aod_error_set(err, AOD_ERR_USAGE, "--format", 0, NULL, "unknown format '%s' (known: csv)",
                  format);
    return NULL;
}

static int cmd_report_common(const char *cmd, int argc, char **argv, aod_error *err)
{
    int explain = strcmp(cmd, "explain") == 0;
    report_opts o;
    aod_report_info info;
    aod_report_summary sum;
    aod_policy *policy = NULL;
    aod_text *text = NULL;
    aod_store *st = NULL;
    aod_outfile *out = NULL;
    aod_sink *sink = NULL;
    aod_report *rep = NULL;
    aod_buf keybuf[MAX_KEYS];
    const char *keys[MAX_KEYS];
    size_t i, nkeys = 0;
    int help, rc = -1;

    if (parse_report_opts(cmd, argc, argv, &o, &help, err) != 0)
        return -1;
    if (help) {
        report_help(cmd);
        return 0;
    }
    memset(&info, 0, sizeof info);
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
    else {
        usage_error(err, "--mode", "'%s': use disclosures or access", o.mode);
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
    policy = load_policy(o.policy, err);
    if (!policy)
        goto out;
    info.policy = policy;
    if (aod_timefmt_set_zone(policy->presentation.time_zone, err) != 0)
        goto out;
    info.lang = o.lang ? o.lang : policy->presentation.language;
    info.patient_name = o.patient_name;
    if (o.now) {
        if (parse_when("--now", o.now, 0, &info.now, err) != 0)
            goto out;
    } else {
        info.now = aod_timefmt_now();
    }
    info.to = info.now;
    if (o.to && parse_when("--to", o.to, 1, &info.to, err) != 0)
        goto out;
    info.from = aod_report_default_from(policy, info.mode, info.now);
    if (o.from && parse_when("--from", o.from, 0, &info.from, err) != 0)
        goto out;
    if (o.requested && parse_when("--requested", o.requested, 0, &info.requested, err) != 0)
        goto out;
    if (info.from >= info.to) {
        aod_error_set(err, AOD_ERR_USAGE, "--from", 0, NULL, "the period is empty (--from is not before --to)");
        goto out;
    }
    text = aod_text_load(o.templates, info.lang, err);
    if (!text)
        goto out;
    if (!explain && o.format && strcmp(o.format, "csv") != 0) {
        /* validate the format before touching the database or the output */
        aod_sink *probe = make_sink(&o, stdout, text, err);
        if (!probe)
            goto out;
        probe->free(probe);
    }
    st = aod_store_connect(o.db, err);
    if (!st)
        goto out;
    out = aod_outfile_open(o.output, err);
    if (!out)
        goto out;
    if (!explain) {
        sink = make_sink(&o, aod_outfile_stream(out), text, err);
        if (!sink)
            goto out;
    }
    rep = aod_report_new(&info, text, sink, err);
    if (!rep)
        goto out;
    if (explain) {
        aod_csv_options co;
        co.bom = o.csv_bom;
        co.delimiter = o.csv_delimiter;
        if (aod_report_explain_to(rep, aod_outfile_stream(out), &co, err) != 0)
            goto out;
    }
    if (aod_store_each_event(st, keys, nkeys, info.from, info.to, push_row, rep, err) != 0)
        goto out;
    if (aod_report_finish(rep, &sum, err) != 0)
        goto out;
    if (aod_outfile_commit(out, err) != 0) {
        out = NULL;
        goto out;
    }
    out = NULL;
    if (sum.records_read == 0)
        fprintf(stderr, "aodreport: no audit records found for %s in the period; the report says so\n",
                keys[0]);
    if (sum.records_unreadable)
        fprintf(stderr, "aodreport: %ld stored record%s could not be read (named above); the report "
                        "counts them\n",
                sum.records_unreadable, sum.records_unreadable == 1 ? "" : "s");
    rc = 0;
out:
    aod_outfile_abort(out);
    aod_report_free(rep);
    if (sink)
        sink->free(sink);
    aod_store_free(st);
    aod_text_free(text);
    aod_policy_free(policy);
    for (i = 0; i < o.n_keys; i++)
        aod_buf_free(&keybuf[i]);
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

/* ------------------------------------------------------------------ main */

static const command commands[] = {
    {"init", cmd_init, "create or upgrade the audit store"},
    {"load", cmd_load, "load AuditEvent files (NDJSON or Bundles) into the store"},
    {"report", cmd_report, "write one patient's accounting of disclosures or access report"},
    {"explain", cmd_explain, "show why each audit record is (not) in a patient's report"},
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
        printf("  %-9s %s\n", commands[i].name, commands[i].summary);
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
