/*
 * sigcheck.c - the verify-signature command (see sigcheck.h): reads a
 * document, checks its Bundle.signature (render/signature.h) and says so.
 */
#include "app/sigcheck.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/sign.h"
#include "render/bundle.h"
#include "render/signature.h"

static void help(void)
{
    printf("Usage: aodreport verify-signature FILE [--key PUBKEY]\n"
           "\n"
           "Checks the signature of a FHIR document written with --sign (its\n"
           "Bundle.signature: a JWS over the canonical JSON of the document), JSON or\n"
           "XML.  An XML document is read back into its JSON form, which must give\n"
           "back the file byte for byte as aodreport writes it; the signature is then\n"
           "checked over that JSON.\n"
           "\n"
           "  --key PUBKEY  the signer's Ed25519 public key (PEM); without it the key\n"
           "                in the signature is used, which shows the document is\n"
           "                unchanged since it was signed, not who signed it\n"
           "  -h, --help    show this help\n"
           "\n"
           "Exit status: 0 the signature is valid, 16 it is not (or there is none),\n"
           "2 usage, 3 the file is not a FHIR Bundle (JSON or XML), 6 the file cannot\n"
           "be read.\n");
}

/* The whole file into b. */
static int read_all(FILE *f, aod_buf *b)
{
    char chunk[65536];
    size_t n;

    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (aod_buf_add(b, chunk, n) != 0)
            return -1;
    return ferror(f) ? -1 : 0;
}

/* An XML document starts with '<' (after any white space). */
static int looks_xml(const aod_buf *b)
{
    size_t i = 0;

    while (i < b->len &&
           (b->data[i] == ' ' || b->data[i] == '\n' || b->data[i] == '\r' || b->data[i] == '\t'))
        i++;
    return i < b->len && b->data[i] == '<';
}

/* Whether doc, written as XML, gives back the file's bytes: 0 with *why
 * NULL when it does, 0 with *why set when not, -1 with err set when the
 * XML cannot be written.  This is what makes reading the XML back safe: an
 * edit the reading does not see (a comment, another attribute order, white
 * space, an element it drops) still fails here. */
static int same_as_written(json_t *doc, const aod_buf *bytes, const char **why, aod_error *err)
{
    char *mem = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&mem, &len);
    int rc;

    if (!m) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return -1;
    }
    rc = aod_bundle_write_xml(m, doc, err);
    fclose(m);
    if (rc == 0 && (len != bytes->len || memcmp(mem, bytes->data, len) != 0))
        *why = "the XML is not byte for byte the XML form of the document it holds, as "
               "aodreport writes it: it was changed after signing (or re-encoded, re-indented)";
    free(mem);
    if (rc != 0 && err->code == AOD_ERR_INPUT) {
        aod_error_init(err);
        *why = "the XML holds a value XML cannot carry";
        return 0;
    }
    return rc;
}

int aod_sigcheck_command(int argc, char **argv, aod_error *err)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    const char *key_path = NULL, *file;
    aod_sign_key *key = NULL;
    aod_signature_result res;
    json_error_t je;
    json_t *doc = NULL;
    aod_buf bytes;
    FILE *f;
    int c, rc = -1;

    aod_buf_init(&bytes, (size_t)-1 / 2);
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'k') {
            key_path = optarg;
        } else if (c == 'h') {
            help();
            return 0;
        } else {
            aod_error_set(err, AOD_ERR_USAGE, "verify-signature", 0, NULL, "bad option");
            return -1;
        }
    }
    if (optind + 1 != argc) {
        aod_error_set(err, AOD_ERR_USAGE, "verify-signature", 0, NULL,
                      optind >= argc ? "name the signed document (FILE)"
                                     : "one document at a time");
        return -1;
    }
    file = argv[optind];
    if (key_path) {
        key = aod_sign_key_load_public(key_path, err);
        if (!key)
            return -1;
    }
    f = fopen(file, "rb");
    if (!f) {
        aod_error_set(err, AOD_ERR_IO, file, 0, NULL, "cannot open: %s", strerror(errno));
        goto out;
    }
    if (read_all(f, &bytes) != 0) {
        fclose(f);
        aod_error_set(err, AOD_ERR_IO, file, 0, NULL, "cannot read: %s", strerror(errno));
        goto out;
    }
    fclose(f);
    if (looks_xml(&bytes)) {
        const char *why = NULL;
        doc = aod_bundle_read_xml(bytes.data, bytes.len, err);
        if (!doc) {
            aod_error_where(err, file, -1, -1);
            if (err->code == AOD_ERR_INPUT && strcmp(err->field, "xml") != 0) {
                /* XML, but not the form written here: changed, or not ours */
                char msg[400];
                aod_error_format(err, msg, sizeof msg);
                printf("%s: NOT VALID: not the XML form of a document aodreport signed (%s)\n",
                       file, msg);
                aod_error_init(err);
                rc = AOD_SIGCHECK_INVALID;
            }
            goto out;
        }
        if (same_as_written(doc, &bytes, &why, err) != 0)
            goto out;
        if (why) {
            printf("%s: NOT VALID: %s\n", file, why);
            rc = AOD_SIGCHECK_INVALID;
            goto out;
        }
    } else {
        doc = json_loadb(bytes.data ? bytes.data : "", bytes.len, JSON_REJECT_DUPLICATES, &je);
    }
    if (!doc || !json_is_object(doc) || !json_string_value(json_object_get(doc, "resourceType")) ||
        strcmp(json_string_value(json_object_get(doc, "resourceType")), "Bundle") != 0) {
        if (doc)
            aod_error_set(err, AOD_ERR_INPUT, file, 0, NULL, "not a FHIR Bundle");
        else
            aod_error_set(err, AOD_ERR_INPUT, file, je.line, NULL, "not JSON or XML: %s", je.text);
        goto out;
    }
    if (aod_signature_check(doc, key, &res, err) != 0)
        goto out;
    if (res.valid)
        printf("%s: valid signature by key %s%s, signed %s\n", file, res.kid,
               res.trusted ? " (the key given)"
                           : " (the key in the signature: give --key to "
                             "check who signed)",
               res.when[0] ? res.when : "(no date)");
    else
        printf("%s: NOT VALID: %s\n", file, res.reason);
    rc = res.valid ? 0 : AOD_SIGCHECK_INVALID;
out:
    json_decref(doc);
    aod_buf_free(&bytes);
    aod_sign_key_free(key);
    return rc;
}
