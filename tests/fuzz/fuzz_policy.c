/*
 * fuzz_policy.c - libFuzzer target: the policy parser (XML + the schema
 * compiled into the program).  Seeds: tests/data/policy, examples/policies.
 */
#include <stdint.h>
#include <stdlib.h>

#include "base/embedded.h"
#include "model/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const aod_embedded_file *xsd = aod_embedded_find("data/policy.xsd");
    aod_error err;
    aod_policy *p;

    if (!xsd)
        abort();
    aod_error_init(&err);
    p = aod_policy_load_memory((const char *)data, size, "fuzz.xml", xsd->data, xsd->len, &err);
    if (!p && err.code == AOD_OK)
        abort(); /* a failure must say why */
    aod_policy_free(p);
    return 0;
}
