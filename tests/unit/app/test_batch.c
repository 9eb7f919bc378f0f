/*
 * test_batch.c - the pure parts of `aodreport batch` and the self-audit
 * event: reading a requests file (RFC 4180, bad rows with their lines),
 * checking request rows, naming patient directories (traversal, slashes,
 * pipes, non-ASCII, collisions), shards, temporary-file names, and the
 * manifest written and read back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "app/batch.h"
#include "pipeline/classify.h"
#include "ingest/normalize.h"
#include "model/record.h"
#include "pipeline/report.h"
#include "app/selfaudit.h"
#include "base/timefmt.h"

/* ------------------------------------------------------ requests file */

#define MAX_SEEN 32

typedef struct seen {
    size_t n_rows, n_bad;
    long row_line[MAX_SEEN];
    char row_patient[MAX_SEEN][128];
    char row_name[MAX_SEEN][128];
    char row_formats[MAX_SEEN][64];
    long bad_line[MAX_SEEN];
    char bad_text[MAX_SEEN][512];
    /* rows checked with aod_batch_request_parse */
    int check;
    size_t n_rejected;
    long rejected_line[MAX_SEEN];
    char rejected_field[MAX_SEEN][96];
    char rejected_text[MAX_SEEN][512];
} seen;

static int on_row(void *ctx, const aod_batch_row *row, aod_error *err)
{
    seen *s = ctx;
    size_t i = s->n_rows++;

    (void)err;
    assert_true(i < MAX_SEEN);
    s->row_line[i] = row->line;
    snprintf(s->row_patient[i], sizeof s->row_patient[i], "%s",
             row->cell[AOD_BATCH_COL_PATIENT] ? row->cell[AOD_BATCH_COL_PATIENT] : "(null)");
    snprintf(s->row_name[i], sizeof s->row_name[i], "%s",
             row->cell[AOD_BATCH_COL_PATIENT_NAME] ? row->cell[AOD_BATCH_COL_PATIENT_NAME]
                                                   : "(null)");
    snprintf(s->row_formats[i], sizeof s->row_formats[i], "%s",
             row->cell[AOD_BATCH_COL_FORMATS] ? row->cell[AOD_BATCH_COL_FORMATS] : "(null)");
    if (s->check) {
        aod_batch_request r;
        aod_error e;
        aod_error_init(&e);
        if (aod_batch_request_parse(row, &r, &e) != 0) {
            size_t k = s->n_rejected++;
            assert_int_equal(e.code, AOD_ERR_USAGE);
            s->rejected_line[k] = e.line;
            snprintf(s->rejected_field[k], sizeof s->rejected_field[k], "%s", e.field);
            snprintf(s->rejected_text[k], sizeof s->rejected_text[k], "%s", e.text);
            assert_int_equal(r.n_keys, 0);
        } else {
            aod_batch_request_clear(&r);
        }
    }
    return 0;
}

static void on_bad(void *ctx, const aod_error *why)
{
    seen *s = ctx;
    size_t i = s->n_bad++;

    assert_true(i < MAX_SEEN);
    assert_int_equal(why->code, AOD_ERR_INPUT);
    assert_string_equal(why->source, "req.csv");
    s->bad_line[i] = why->line;
    snprintf(s->bad_text[i], sizeof s->bad_text[i], "%s", why->text);
}

static int read_csv(const char *text, seen *s, aod_error *err)
{
    aod_error_init(err);
    return aod_batch_read_requests(text, strlen(text), "req.csv", on_row, on_bad, s, err);
}

static void test_requests_rfc4180(void **state)
{
    /* BOM, CRLF, columns in any order and any case, quotes with a comma,
     * a doubled quote and a line break inside, blank lines and an all-empty
     * row, a missing column meaning the default. */
    static const char csv[] = "\xEF\xBB\xBF"
                              "Patient_Name,PATIENT,formats\r\n"
                              "\"M\xC3\xBCller, Jos\xC3\xA9 \"\"Pepe\"\"\",Patient/1,pdf;csv\r\n"
                              "\r\n"
                              "\"two\nlines\",Patient/2,\r\n"
                              ",,\r\n"
                              "  padded  , Patient/3 ,\"\"\n"
                              "last,Patient/4,csv";
    seen s;
    aod_error err;

    (void)state;
    memset(&s, 0, sizeof s);
    assert_int_equal(read_csv(csv, &s, &err), 0);
    assert_int_equal(s.n_bad, 0);
    assert_int_equal(s.n_rows, 4);
    assert_int_equal(s.row_line[0], 2);
    assert_string_equal(s.row_patient[0], "Patient/1");
    assert_string_equal(s.row_name[0], "M\xC3\xBCller, Jos\xC3\xA9 \"Pepe\"");
    assert_string_equal(s.row_formats[0], "pdf;csv");
    assert_int_equal(s.row_line[1], 4);
    assert_string_equal(s.row_name[1], "two\nlines");
    assert_string_equal(s.row_formats[1], "(null)");
    /* the quoted line break moved the next row to line 7 */
    assert_int_equal(s.row_line[2], 7);
    assert_string_equal(s.row_patient[2], "Patient/3");
    assert_string_equal(s.row_name[2], "padded");
    assert_string_equal(s.row_formats[2], "(null)");
    assert_int_equal(s.row_line[3], 8);
    assert_string_equal(s.row_formats[3], "csv");
}

static void test_requests_bad_rows(void **state)
{
    static const char csv[] = "patient,from,formats\n"
                              "Patient/1,2025-01-01,pdf\n"
                              "Patient/\"2\",,\n"                /* quote inside a bare cell */
                              "\"Patient/3\"x,,\n"               /* text after the quote */
                              "Patient/4,2025-01-01\n"           /* a cell short */
                              "Patient/5,2025-01-01,pdf,extra\n" /* a cell too many */
                              "Patient/\xC3(,,\n"                /* not UTF-8 */
                              "Patient/7,,csv\n"
                              "\"Patient/8,,\n"; /* never closed */
    seen s;
    aod_error err;

    (void)state;
    memset(&s, 0, sizeof s);
    assert_int_equal(read_csv(csv, &s, &err), 0);
    assert_int_equal(s.n_rows, 2);
    assert_int_equal(s.row_line[0], 2);
    assert_int_equal(s.row_line[1], 8);
    assert_int_equal(s.n_bad, 6);
    assert_int_equal(s.bad_line[0], 3);
    assert_non_null(strstr(s.bad_text[0], "quote inside an unquoted cell"));
    assert_int_equal(s.bad_line[1], 4);
    assert_non_null(strstr(s.bad_text[1], "after a closing quote"));
    assert_int_equal(s.bad_line[2], 5);
    assert_string_equal(s.bad_text[2], "2 cells, the header has 3");
    assert_int_equal(s.bad_line[3], 6);
    assert_string_equal(s.bad_text[3], "4 cells, the header has 3");
    assert_int_equal(s.bad_line[4], 7);
    assert_string_equal(s.bad_text[4], "not valid UTF-8");
    assert_int_equal(s.bad_line[5], 9);
    assert_non_null(strstr(s.bad_text[5], "not closed"));
}

static void test_requests_header_errors(void **state)
{
    seen s;
    aod_error err;

    (void)state;
    memset(&s, 0, sizeof s);
    assert_int_equal(read_csv("pateint,from\nPatient/1,\n", &s, &err), -1);
    assert_int_equal(err.code, AOD_ERR_INPUT);
    assert_int_equal(err.line, 1);
    assert_non_null(strstr(err.text, "unknown column 'pateint'"));
    assert_int_equal(read_csv("patient,from,From\n", &s, &err), -1);
    assert_non_null(strstr(err.text, "'from' appears twice"));
    assert_int_equal(read_csv("from,to\n2025-01-01,2025-02-01\n", &s, &err), -1);
    assert_non_null(strstr(err.text, "no 'patient' column"));
    assert_int_equal(read_csv("", &s, &err), -1);
    assert_non_null(strstr(err.text, "empty"));
    assert_int_equal(read_csv("\xEF\xBB\xBF\r\n\r\n", &s, &err), -1);
    assert_int_equal(s.n_rows, 0);
}

static void test_request_rows_checked(void **state)
{
    static const char csv[] =
        "patient,from,to,mode,formats,lang,requested,audience\n"
        "Patient/1; http://h/mrn|7 ;Patient/1,2025-01-01,2025-01-31,access,csv;pdf,es,2025-02-01,"
        "privacy-office\n"
        "foo/bar,,,,,,,\n"                       /* 3: not a patient key */
        "Patient/2,2025-02-30,,,,,,\n"           /* 4: impossible date */
        "Patient/3,,,,docx,,,\n"                 /* 5: unknown format */
        "Patient/4,,,everything,,,,\n"           /* 6: unknown mode */
        "Patient/5,2025-03-01,2025-02-01,,,,,\n" /* 7: empty period */
        "Patient/6,,,,,../en,,\n"                /* 8: not a language name */
        "Patient/7,,,,,,,public\n"               /* 9: unknown audience */
        "|,,,,,,,\n"                             /* 10: identifier without value */
        "Patient/8,,2025-13-01,,,,,\n";          /* 11: month 13 */
    static const char *const fields[] = {"patient", "from",     "formats", "mode", "to",
                                         "lang",    "audience", "patient", "to"};
    seen s;
    aod_error err;
    size_t i;

    (void)state;
    memset(&s, 0, sizeof s);
    s.check = 1;
    assert_int_equal(read_csv(csv, &s, &err), 0);
    assert_int_equal(s.n_rows, 10);
    assert_int_equal(s.n_rejected, 9);
    for (i = 0; i < 9; i++) {
        assert_int_equal(s.rejected_line[i], (long)i + 3);
        assert_string_equal(s.rejected_field[i], fields[i]);
    }
    assert_non_null(strstr(s.rejected_text[1], "'2025-02-30' is not a valid date"));
    assert_non_null(strstr(s.rejected_text[2], "unknown format 'docx'"));
}

static void test_request_values(void **state)
{
    aod_batch_row row;
    aod_batch_request r;
    aod_error err;
    char buf[40];

    (void)state;
    memset(&row, 0, sizeof row);
    row.line = 12;
    row.cell[AOD_BATCH_COL_PATIENT] =
        "Patient/b;http://h/mrn|7; https://x/fhir/Patient/b ;Patient/a";
    row.cell[AOD_BATCH_COL_TO] = "2025-01-31";
    row.cell[AOD_BATCH_COL_FORMATS] = "bundle-xml, pdf";
    aod_error_init(&err);
    assert_int_equal(aod_batch_request_parse(&row, &r, &err), 0);
    assert_int_equal(r.line, 12);
    /* normalised, sorted, repeats dropped */
    assert_int_equal(r.n_keys, 3);
    assert_string_equal(r.keys[0], "Patient/a");
    assert_string_equal(r.keys[1], "Patient/b");
    assert_string_equal(r.keys[2], "http://h/mrn|7");
    assert_int_equal(r.mode, -1);
    assert_int_equal(r.audience, -1);
    assert_int_equal(r.formats, AOD_BATCH_PDF | AOD_BATCH_BUNDLE_XML);
    assert_false(r.has_from);
    assert_true(r.has_to);
    /* an inclusive last day: the period ends at the next day's start */
    assert_string_equal(aod_time_format_utc(r.to, buf, sizeof buf), "2025-02-01T00:00:00Z");
    assert_null(r.lang);
    aod_batch_request_clear(&r);
}

static void test_formats(void **state)
{
    unsigned bits = 0;
    aod_error err;

    (void)state;
    aod_error_init(&err);
    assert_int_equal(aod_batch_parse_formats("pdf,csv", &bits, &err), 0);
    assert_int_equal(bits, AOD_BATCH_PDF | AOD_BATCH_CSV);
    assert_int_equal(aod_batch_parse_formats(" bundle-json ; ;csv-completeness;csv ", &bits, &err),
                     0);
    assert_int_equal(bits, AOD_BATCH_BUNDLE_JSON | AOD_BATCH_CSV | AOD_BATCH_CSV_COMPLETENESS);
    assert_int_equal(aod_batch_parse_formats("pdf;bundle", &bits, &err), -1);
    assert_string_equal(err.field, "formats");
    aod_error_init(&err);
    assert_int_equal(aod_batch_parse_formats(" ; ", &bits, &err), -1);
    assert_int_equal(aod_batch_parse_formats("pdf,html;xlsx", &bits, &err), 0);
    assert_int_equal(bits, AOD_BATCH_PDF | AOD_BATCH_HTML | AOD_BATCH_XLSX);
    assert_string_equal(aod_batch_format_name(3), "bundle-xml");
    /* new formats take new bits: the manifest's old bits keep their meaning */
    assert_string_equal(aod_batch_format_name(4), "html");
    assert_string_equal(aod_batch_format_name(5), "xlsx");
    assert_string_equal(aod_batch_format_name(6), "csv-summary");
    assert_string_equal(aod_batch_format_name(7), "csv-completeness");
    assert_string_equal(aod_batch_format_name(8), "mhd");
    assert_string_equal(aod_batch_format_name(9), "mhd-html");
    assert_string_equal(aod_batch_format_name(10), "mhd-simplified");
    assert_string_equal(aod_batch_format_name(11), "mhd-simplified-html");
    assert_null(aod_batch_format_name(12));
    assert_int_equal(
        aod_batch_parse_formats("mhd;mhd-simplified-html,mhd-html;mhd-simplified", &bits, &err), 0);
    assert_int_equal(bits, AOD_BATCH_MHD | AOD_BATCH_MHD_HTML | AOD_BATCH_MHD_SIMPLIFIED |
                               AOD_BATCH_MHD_SIMPLIFIED_HTML);
    assert_int_equal(aod_batch_parse_formats("csv,csv-summary", &bits, &err), 0);
    assert_int_equal(bits, AOD_BATCH_CSV | AOD_BATCH_CSV_SUMMARY);
}

/* -------------------------------------------------------------- naming */

static void dir_of(const char *const *keys, size_t n, char *out)
{
    const char *v[8];
    size_t i;

    for (i = 0; i < n; i++)
        v[i] = keys[i];
    n = aod_batch_sort_keys(v, n);
    aod_batch_patient_dir(v, n, out);
}

static void dir1(const char *key, char *out)
{
    dir_of(&key, 1, out);
}

static void assert_safe_dir(const char *d)
{
    assert_true(strlen(d) > 17 && strlen(d) < AOD_BATCH_DIR_LEN);
    assert_null(strchr(d, '/'));
    assert_null(strchr(d, '|'));
    assert_null(strstr(d, ".."));
    assert_true(d[0] != '.' && d[0] != '-' && d[0] != '_');
    assert_true(aod_batch_is_patient_dir(d));
}

static void test_patient_dir_safe(void **state)
{
    static const char *const keys[] = {
        "../../etc/passwd",
        "Patient/../../x",
        "/abs/Patient/1",
        "http://hospital.example.org/mrn|1000001",
        "sys|a|b",
        "Patient/Jos\xC3\xA9-\xE6\x9D\x8E",
        "....",
        "",
        "-rf",
        "urn:oid:2.16.840.1.113883.4.1|999-00-0001",
        "Patient/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    char d[AOD_BATCH_DIR_LEN];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        dir1(keys[i], d);
        assert_safe_dir(d);
    }
    dir1("Patient/123", d);
    assert_int_equal(strncmp(d, "Patient_123-", 12), 0);
    dir1("http://hospital.example.org/mrn|1000001", d);
    assert_int_equal(strncmp(d, "http_hospital.example.org_mrn_1000001-", 38), 0);
    /* a long key keeps its tail, from a word's start */
    dir1("urn:oid:2.16.840.1.113883.4.1|999-00-0001", d);
    assert_int_equal(strncmp(d, "oid_2.16.840.1.113883.4.1_999-00-0001-", 38), 0);
    dir1("Patient/Jos\xC3\xA9", d);
    assert_int_equal(strncmp(d, "Patient_Jos-", 12), 0);
    dir1("....", d);
    assert_int_equal(strncmp(d, "patient-", 8), 0);
    /* the same name for the same keys, however they are ordered */
    {
        static const char *const a[] = {"Patient/1", "x|2"};
        static const char *const b[] = {"x|2", "Patient/1", "x|2"};
        char da[AOD_BATCH_DIR_LEN], db[AOD_BATCH_DIR_LEN];
        dir_of(a, 2, da);
        dir_of(b, 3, db);
        assert_string_equal(da, db);
    }
}

static void test_patient_dir_collisions(void **state)
{
    /* keys that sanitise to the same readable part still differ */
    static const char *const keys[] = {"Patient/a_b",
                                       "Patient/a/b",
                                       "Patient/a|b",
                                       "Patient/a b",
                                       "Patient/a\xC3\xA9"
                                       "b",
                                       "Patient/a__b",
                                       "patient/a_b"};
    char d[sizeof keys / sizeof keys[0]][AOD_BATCH_DIR_LEN];
    size_t i, j;

    (void)state;
    for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
        dir1(keys[i], d[i]);
    for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
        for (j = i + 1; j < sizeof keys / sizeof keys[0]; j++)
            assert_string_not_equal(d[i], d[j]);
    assert_int_equal(strncmp(d[0], "Patient_a_b-", 12), 0);
    assert_int_equal(strncmp(d[1], "Patient_a_b-", 12), 0);
    /* one key versus the same key with another: different people */
    {
        static const char *const two[] = {"Patient/a_b", "x|1"};
        char d2[AOD_BATCH_DIR_LEN];
        dir_of(two, 2, d2);
        assert_string_not_equal(d2, d[0]);
    }
}

static void test_dir_and_temp_shapes(void **state)
{
    (void)state;
    assert_true(aod_batch_is_patient_dir("Patient_1-0123456789abcdef"));
    assert_false(aod_batch_is_patient_dir("Patient_1-0123456789ABCDEF"));
    assert_false(aod_batch_is_patient_dir("Patient_1-0123456789abcde"));
    assert_false(aod_batch_is_patient_dir(".hidden-0123456789abcdef"));
    assert_false(aod_batch_is_patient_dir("a/b-0123456789abcdef"));
    assert_false(aod_batch_is_patient_dir("manifest.json"));

    assert_true(aod_batch_is_temp_name(".access_2025-01-01_2025-01-31_en.pdf.aodtmp.123.Ab12Cd"));
    assert_true(aod_batch_is_temp_name(".manifest.json.aodtmp.1.x9Z0aa"));
    assert_true(aod_batch_is_temp_name(".r.aodtmp.x.aodtmp.42.000000"));
    assert_true(aod_batch_is_temp_name(".r.html.aodtmp.7.Q1w2E3"));
    assert_true(aod_batch_is_temp_name(".r.xlsx.aodtmp.7.Q1w2E3"));
    assert_false(aod_batch_is_temp_name("access.pdf"));
    assert_false(aod_batch_is_temp_name(".access.pdf"));
    assert_false(aod_batch_is_temp_name(".notes.txt.Ab12Cd"));
    assert_false(aod_batch_is_temp_name(".aodreport-batch.lock"));
    assert_false(aod_batch_is_temp_name(".aodtmp.1.Ab12Cd"));
    assert_false(aod_batch_is_temp_name(".x.pdf.aodtmp.1.Ab-2Cd"));
    assert_false(aod_batch_is_temp_name(".x.pdf.aodtmp..Ab12Cd"));
    assert_false(aod_batch_is_temp_name(".x.pdf.aodtmp.12.Ab12Cd7"));
}

/* -------------------------------------------------------------- shards */

static void test_shards(void **state)
{
    unsigned k = 0, n = 0, counts[5] = {0};
    unsigned char d[AOD_SHA256_DIGEST_LEN];
    aod_error err;
    char key[32];
    const char *v[1];
    int i;

    (void)state;
    aod_error_init(&err);
    assert_int_equal(aod_batch_parse_shard("2/4", &k, &n, &err), 0);
    assert_int_equal(k, 2);
    assert_int_equal(n, 4);
    assert_int_equal(aod_batch_parse_shard("1/1", &k, &n, &err), 0);
    assert_int_equal(aod_batch_parse_shard("0/4", &k, &n, &err), -1);
    assert_int_equal(err.code, AOD_ERR_USAGE);
    assert_int_equal(aod_batch_parse_shard("5/4", &k, &n, &err), -1);
    assert_int_equal(aod_batch_parse_shard("1/", &k, &n, &err), -1);
    assert_int_equal(aod_batch_parse_shard("a/b", &k, &n, &err), -1);
    assert_int_equal(aod_batch_parse_shard("1/4x", &k, &n, &err), -1);
    assert_int_equal(aod_batch_parse_shard("1/1001", &k, &n, &err), -1);

    /* every key falls in exactly one shard, all shards get some, and the
     * choice depends on nothing but the key */
    for (i = 0; i < 1000; i++) {
        unsigned s;
        snprintf(key, sizeof key, "Patient/%d", i);
        v[0] = key;
        aod_batch_patient_digest(v, 1, d);
        s = aod_batch_shard_of(d, 4);
        assert_true(s >= 1 && s <= 4);
        assert_int_equal(aod_batch_shard_of(d, 4), s);
        assert_int_equal(aod_batch_shard_of(d, 1), 1);
        counts[s]++;
    }
    assert_int_equal(counts[1] + counts[2] + counts[3] + counts[4], 1000);
    for (i = 1; i <= 4; i++)
        assert_true(counts[i] > 150);
    /* pinned: the shard of a key never changes between versions */
    v[0] = "Patient/example-1";
    aod_batch_patient_digest(v, 1, d);
    {
        char hex[AOD_SHA256_HEX_LEN];
        aod_sha256_hex(d, sizeof d, hex);
        assert_string_equal(hex,
                            "0d85d87c79007da7d44eb770bc116ca001fdf1d435459b8db6949f004015b21b");
    }
}

/* ------------------------------------------------------------ manifest */

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/aod-test-batch.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int remove_tmpdir(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

static void fill_entry(aod_batch_entry *e, aod_batch_status st, const char *key, long line)
{
    memset(e, 0, sizeof *e);
    e->status = st;
    e->line = line;
    e->keys = calloc(1, sizeof *e->keys);
    e->keys[0] = strdup(key);
    e->n_keys = 1;
    e->records = e->events = e->lines = -1;
}

static void test_manifest_roundtrip(void **state)
{
    aod_batch_entry e[4];
    aod_batch_run_info run;
    aod_batch_done *done = NULL;
    size_t n_done = 0, i;
    aod_error err;
    char path[128];
    int dfd;
    char *text;
    json_t *root;
    json_error_t jerr;
    const char *v[1];

    (void)state;
    fill_entry(&e[0], AOD_BATCH_OK, "Patient/1", 2);
    v[0] = "Patient/1";
    aod_batch_patient_dir(v, 1, e[0].dir);
    e[0].base = strdup("access_2025-06-01_2025-06-30_en");
    e[0].mode = "access";
    e[0].audience = "patient";
    e[0].lang = strdup("en");
    e[0].from = 1748736000000LL;
    e[0].to = 1751328000000LL;
    memset(e[0].request, 'a', AOD_SHA256_HEX_LEN - 1);
    e[0].n_files = 2;
    e[0].files[0].format = "pdf";
    memset(e[0].files[0].sha256, '1', AOD_SHA256_HEX_LEN - 1);
    e[0].files[0].size = 1234;
    e[0].files[1].format = "csv";
    memset(e[0].files[1].sha256, '2', AOD_SHA256_HEX_LEN - 1);
    e[0].files[1].size = 56;
    e[0].records = 10;
    e[0].events = 8;
    e[0].lines = 7;
    snprintf(e[0].self_audit, sizeof e[0].self_audit, "aodreport-0123");
    fill_entry(&e[1], AOD_BATCH_SKIPPED, "foo/bar", 3);
    aod_batch_entry_set_error(&e[1], "patient: not a patient, \"quoted\"");
    fill_entry(&e[2], AOD_BATCH_FAILED, "Patient/=2", 4);
    aod_batch_entry_set_error(&e[2], "database: gone");
    fill_entry(&e[3], AOD_BATCH_PENDING, "Patient/3", 5);

    memset(&run, 0, sizeof run);
    run.requests = "req.csv";
    run.started = 1;
    run.state = "running";
    aod_error_init(&err);
    dfd = open(tmpdir, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    assert_int_equal(aod_batch_manifest_write(dfd, tmpdir, "manifest", &run, e, 4, &err), 0);

    snprintf(path, sizeof path, "%s/manifest.json", tmpdir);
    text = slurp(path);
    root = json_loads(text, 0, &jerr);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "manifest")), "aodreport batch");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "totals"), "ok")), 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(root, "totals"), "skipped")), 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(root, "totals"), "pending")), 1);
    assert_int_equal(json_array_size(json_object_get(root, "reports")), 4);
    {
        json_t *r0 = json_array_get(json_object_get(root, "reports"), 0);
        json_t *f0 = json_array_get(json_object_get(r0, "files"), 0);
        char want[128];
        snprintf(want, sizeof want, "%s/access_2025-06-01_2025-06-30_en.pdf", e[0].dir);
        assert_string_equal(json_string_value(json_object_get(f0, "path")), want);
        assert_int_equal(json_integer_value(json_object_get(f0, "size")), 1234);
        assert_string_equal(json_string_value(json_object_get(r0, "from")), "2025-06-01T00:00:00Z");
    }
    json_decref(root);
    free(text);

    snprintf(path, sizeof path, "%s/manifest.csv", tmpdir);
    text = slurp(path);
    assert_int_equal(strncmp(text, "status,line,patient,patient_dir,", 32), 0);
    assert_non_null(strstr(text, "\r\nok,2,Patient/1,"));
    assert_non_null(strstr(text, ",pdf,"));
    assert_non_null(strstr(text, "\"patient: not a patient, \"\"quoted\"\"\"\r\n"));
    /* spreadsheet safety applies to the manifest too */
    assert_non_null(strstr(text, "failed,4,Patient/=2,"));
    free(text);

    /* nothing temporary is left beside it */
    {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s' | grep -v '^manifest\\.')\"", tmpdir);
        assert_int_equal(system(cmd), 0);
    }

    /* read back: only the complete report */
    assert_int_equal(aod_batch_manifest_read(dfd, "manifest.json", "m", &done, &n_done, &err), 0);
    assert_int_equal(n_done, 1);
    assert_string_equal(done[0].dir, e[0].dir);
    assert_string_equal(done[0].base, "access_2025-06-01_2025-06-30_en");
    assert_int_equal(done[0].n_files, 2);
    assert_string_equal(done[0].files[1].format, "csv");
    assert_int_equal(done[0].files[1].size, 56);
    assert_int_equal(done[0].records, 10);
    assert_string_equal(done[0].self_audit, "aodreport-0123");
    aod_batch_done_free(done, n_done);

    /* written in steps (finished reports to the on-disk body, the rest in
     * hand): the same bytes, nothing temporary left, and found again one
     * request at a time */
    {
        aod_batch_manifest *m = aod_batch_manifest_new(dfd, tmpdir, "steps", &err);
        aod_batch_resume *res = NULL;
        aod_batch_done d;
        char other[AOD_SHA256_HEX_LEN], *whole, cmd[200];
        assert_non_null(m);
        assert_int_equal(aod_batch_manifest_add(m, &e[0], &err), 0);
        assert_int_equal(aod_batch_manifest_add(m, &e[1], &err), 0);
        assert_int_equal(aod_batch_manifest_commit(m, &run, &e[2], 2, &err), 0);
        aod_batch_manifest_free(m);
        snprintf(path, sizeof path, "%s/manifest.json", tmpdir);
        whole = slurp(path);
        snprintf(path, sizeof path, "%s/steps.json", tmpdir);
        text = slurp(path);
        assert_string_equal(text, whole);
        free(text);
        free(whole);
        snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s' | grep -v '^manifest\\.\\|^steps\\.')\"",
                 tmpdir);
        assert_int_equal(system(cmd), 0);

        assert_int_equal(aod_batch_resume_open(dfd, "steps.json", "s", &res, &err), 0);
        assert_int_equal(aod_batch_resume_count(res), 1);
        assert_int_equal(aod_batch_resume_find(res, e[0].request, &d), 1);
        assert_string_equal(d.dir, e[0].dir);
        assert_string_equal(d.base, "access_2025-06-01_2025-06-30_en");
        assert_int_equal(d.n_files, 2);
        assert_int_equal(d.files[1].size, 56);
        assert_int_equal(d.lines, 7);
        assert_string_equal(d.self_audit, "aodreport-0123");
        free(d.base);
        memset(other, 'b', sizeof other - 1);
        other[sizeof other - 1] = '\0';
        assert_int_equal(aod_batch_resume_find(res, other, &d), 0);
        aod_batch_resume_free(res);
        /* missing: nothing done, no error */
        assert_int_equal(aod_batch_resume_open(dfd, "none.json", "n", &res, &err), 0);
        assert_int_equal(aod_batch_resume_count(res), 0);
        aod_batch_resume_free(res);
    }

    /* a manifest edited to point outside DIR is not trusted */
    free(e[0].base);
    e[0].base = strdup("../../etc/x");
    assert_int_equal(aod_batch_manifest_write(dfd, tmpdir, "manifest", &run, e, 4, &err), 0);
    assert_int_equal(aod_batch_manifest_read(dfd, "manifest.json", "m", &done, &n_done, &err), 0);
    assert_int_equal(n_done, 0);
    aod_batch_done_free(done, n_done);

    /* missing: nothing done, no error; not a manifest: an error */
    assert_int_equal(aod_batch_manifest_read(dfd, "none.json", "n", &done, &n_done, &err), 0);
    assert_int_equal(n_done, 0);
    assert_int_equal(aod_batch_manifest_read(dfd, "manifest.csv", "c", &done, &n_done, &err), -1);
    assert_int_equal(err.code, AOD_ERR_INPUT);

    /* a link is not read: its target could be anything */
    assert_int_equal(symlinkat("manifest.json", dfd, "link.json"), 0);
    aod_error_init(&err);
    assert_int_equal(aod_batch_manifest_read(dfd, "link.json", "l", &done, &n_done, &err), -1);
    assert_int_equal(err.code, AOD_ERR_IO);
    close(dfd);

    for (i = 0; i < 4; i++)
        aod_batch_entry_clear(&e[i]);
}

/* The manifest keeps each report's text between writes (a window of
 * thousands is rewritten every half second): a report that changed is
 * written afresh, whichever way it changed, and the result is the same as
 * a manifest written at once from the same reports. */
static void test_manifest_rewritten_after_change(void **state)
{
    aod_batch_entry e[2];
    aod_batch_run_info run;
    aod_batch_manifest *m;
    aod_error err;
    char path[128], *text, *whole;
    int dfd, i;

    (void)state;
    fill_entry(&e[0], AOD_BATCH_PENDING, "Patient/1", 0);
    fill_entry(&e[1], AOD_BATCH_PENDING, "Patient/2", 0);
    memset(&run, 0, sizeof run);
    run.month = "2025-06";
    run.started = 1;
    run.state = "running";
    aod_error_init(&err);
    dfd = open(tmpdir, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    m = aod_batch_manifest_new(dfd, tmpdir, "kept", &err);
    assert_non_null(m);
    assert_int_equal(aod_batch_manifest_commit(m, &run, e, 2, &err), 0);
    snprintf(path, sizeof path, "%s/kept.csv", tmpdir);
    text = slurp(path);
    assert_null(strstr(text, "\r\nok,"));
    free(text);

    /* a result comes in (as the run applies it), another fails */
    e[0].status = AOD_BATCH_OK;
    e[0].records = 12;
    snprintf(e[0].self_audit, sizeof e[0].self_audit, "aodreport-42");
    aod_batch_entry_changed(&e[0]);
    e[1].status = AOD_BATCH_FAILED;
    assert_int_equal(aod_batch_entry_set_error(&e[1], "database: gone"), 0);
    assert_int_equal(aod_batch_manifest_commit(m, &run, e, 2, &err), 0);
    text = slurp(path);
    assert_non_null(strstr(text, "\r\nok,,Patient/1,"));
    assert_non_null(strstr(text, ",12,,,aodreport-42,"));
    assert_non_null(strstr(text, "\r\nfailed,,Patient/2,"));
    assert_non_null(strstr(text, "database: gone"));
    free(text);
    /* the finished reports moved to the body: the same bytes again */
    assert_int_equal(aod_batch_manifest_add(m, &e[0], &err), 0);
    assert_int_equal(aod_batch_manifest_add(m, &e[1], &err), 0);
    assert_int_equal(aod_batch_manifest_commit(m, &run, NULL, 0, &err), 0);
    aod_batch_manifest_free(m);
    assert_int_equal(aod_batch_manifest_write(dfd, tmpdir, "whole", &run, e, 2, &err), 0);
    for (i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/kept.%s", tmpdir, i ? "csv" : "json");
        text = slurp(path);
        snprintf(path, sizeof path, "%s/whole.%s", tmpdir, i ? "csv" : "json");
        whole = slurp(path);
        assert_string_equal(text, whole);
        assert_non_null(strstr(text, "aodreport-42"));
        free(text);
        free(whole);
    }
    close(dfd);
    for (i = 0; i < 2; i++)
        aod_batch_entry_clear(&e[i]);
}

/* ---------------------------------------------------------- self-audit */

static void test_selfaudit_event(void **state)
{
    static const char *const keys[] = {"Patient/p1", "http://h/mrn|7", "|bare"};
    aod_selfaudit_file files[2] = {{"pdf", "a.pdf", "11", 10, NULL},
                                   {"csv", "a.csv", "22", 20, NULL}};
    aod_report_info info;
    aod_selfaudit a;
    aod_record *rec;
    aod_error err;
    char id1[AOD_SELFAUDIT_ID_LEN], id2[AOD_SELFAUDIT_ID_LEN];
    json_t *ev;
    size_t i;

    (void)state;
    memset(&info, 0, sizeof info);
    info.mode = AOD_MODE_ACCESS;
    info.audience = AOD_AUDIENCE_PATIENT;
    info.lang = "en";
    info.patient_keys = keys;
    info.n_patient_keys = 3;
    info.from = 1748736000000LL;
    info.to = 1751328000000LL;
    info.now = 1751328000000LL;
    memset(&a, 0, sizeof a);
    a.info = &info;
    a.operator_name = "Pat Privacy";
    a.files = files;
    a.n_files = 2;
    a.started = 1800000000000LL;
    a.recorded = 1800000001000LL;

    a.db_user = "reporter";
    a.os_user = "root";
    a.host = "h1";
    a.pid = 4242;
    a.process_started = 1799999990000LL;

    /* the id: stable for one person's retry in one process, changed by the
     * bytes and by anyone or anything else exporting the same report */
    aod_selfaudit_id(&a, id1);
    assert_int_equal(strncmp(id1, "aodreport-", 10), 0);
    assert_int_equal(strlen(id1), 42);
    a.recorded += 5000;
    aod_selfaudit_id(&a, id2);
    assert_string_equal(id1, id2);
    files[0].sha256 = "12";
    aod_selfaudit_id(&a, id2);
    assert_string_not_equal(id1, id2);
    files[0].sha256 = "11";
    {
        const char **who[] = {&a.operator_name, &a.db_user, &a.os_user, &a.host};
        size_t k;
        for (k = 0; k < sizeof who / sizeof who[0]; k++) {
            const char *was = *who[k];
            *who[k] = "someone else";
            aod_selfaudit_id(&a, id2);
            assert_string_not_equal(id1, id2);
            *who[k] = was;
        }
        a.pid++;
        aod_selfaudit_id(&a, id2);
        assert_string_not_equal(id1, id2);
        a.pid--;
        a.process_started++;
        aod_selfaudit_id(&a, id2);
        assert_string_not_equal(id1, id2);
        a.process_started--;
    }

    aod_error_init(&err);
    ev = aod_selfaudit_build(&a, &err);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "id")), id1);

    /* it reads as the loader reads it: the patient keys, the subtype
     * classify knows, the operator as requestor */
    rec = aod_record_new();
    assert_int_equal(aod_normalize(ev, rec, &err), 0);
    assert_int_equal(rec->version, AOD_FHIR_R4);
    assert_int_equal(rec->n_patient_keys, 3);
    for (i = 0; i < 3; i++) {
        size_t k;
        int found = 0;
        for (k = 0; k < rec->n_patient_keys; k++)
            found |= strcmp(rec->patient_keys[k], keys[i]) == 0;
        assert_true(found);
    }
    assert_non_null(aod_codings_find(&rec->subtype, AOD_SELF_AUDIT_SYSTEM, AOD_SELF_AUDIT_CODE));
    assert_non_null(
        aod_codings_find(&rec->type, "http://dicom.nema.org/resources/ontology/DCM", "110106"));
    assert_int_equal(rec->action, 'R');
    assert_string_equal(rec->outcome, "0");
    assert_int_equal(rec->n_agents, 2);
    assert_int_equal(rec->agents[0].requestor, 1);
    assert_string_equal(rec->agents[0].who.display, "Pat Privacy");
    assert_int_equal(rec->n_entities, 5);
    assert_string_equal(rec->entities[3].role.code, "3");
    assert_non_null(strstr(rec->entities[3].description, "access report (patient copy)"));
    assert_non_null(strstr(rec->entities[3].description, "2025-06-01 to 2025-06-30, pdf"));
    aod_record_free(rec);
    json_decref(ev);
}

static int zone_utc(void **state)
{
    (void)state;
    return aod_timefmt_set_zone("UTC", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_rfc4180),
        cmocka_unit_test(test_requests_bad_rows),
        cmocka_unit_test(test_requests_header_errors),
        cmocka_unit_test(test_request_rows_checked),
        cmocka_unit_test(test_request_values),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_patient_dir_safe),
        cmocka_unit_test(test_patient_dir_collisions),
        cmocka_unit_test(test_dir_and_temp_shapes),
        cmocka_unit_test(test_shards),
        cmocka_unit_test_setup_teardown(test_manifest_roundtrip, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_manifest_rewritten_after_change, make_tmpdir,
                                        remove_tmpdir),
        cmocka_unit_test(test_selfaudit_event),
    };

    return cmocka_run_group_tests(tests, zone_utc, NULL);
}
