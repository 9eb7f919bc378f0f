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

#include "base/sign.h"
#include "render/signature.h"

static void help(void)
{
    printf("Usage: aodreport verify-signature FILE [--key PUBKEY]\n"
           "\n"
           "Checks the signature of a FHIR document written with --sign (its\n"
           "Bundle.signature: a JWS over the canonical JSON of the document).\n"
           "\n"
           "  --key PUBKEY  the signer's Ed25519 public key (PEM); without it the key\n"
           "                in the signature is used, which shows the document is\n"
           "                unchanged since it was signed, not who signed it\n"
           "  -h, --help    show this help\n"
           "\n"
           "Exit status: 0 the signature is valid, 16 it is not (or there is none),\n"
           "2 usage, 3 the file is not a JSON Bundle, 6 the file cannot be read.\n");
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
    FILE *f;
    int c, rc = -1;

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
    doc = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    fclose(f);
    if (!doc || !json_is_object(doc) || !json_string_value(json_object_get(doc, "resourceType")) ||
        strcmp(json_string_value(json_object_get(doc, "resourceType")), "Bundle") != 0) {
        if (doc)
            aod_error_set(err, AOD_ERR_INPUT, file, 0, NULL, "not a FHIR Bundle");
        else
            aod_error_set(err, AOD_ERR_INPUT, file, je.line, NULL, "not JSON: %s", je.text);
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
    aod_sign_key_free(key);
    return rc;
}
