/*
 * fuzz_requests.c - libFuzzer target: the batch requests file reader (CSV).
 * Seeds: tests/fuzz/seeds/requests.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/batch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_row(void *ctx, const aod_batch_row *row, aod_error *err)
{
    (void)ctx, (void)row, (void)err;
    return 0;
}

static void on_bad(void *ctx, const aod_error *why)
{
    (void)ctx;
    if (why->line <= 0)
        abort(); /* a bad row is named by its line */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    aod_error err;
    char *copy = malloc(size ? size : 1); /* exactly size: ASan sees any read past it */

    if (!copy)
        return 0;
    memcpy(copy, data, size);
    aod_error_init(&err);
    (void)aod_batch_read_requests(copy, size, "fuzz.csv", on_row, on_bad, NULL, &err);
    free(copy);
    return 0;
}
