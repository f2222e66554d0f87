/* The runtime version of the linked library equals the header it was compiled against. */
#include <gptq/gptq.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void test_version_matches_header(void **state) {
    (void)state;
    assert_int_equal(gptq_version_number(), GPTQ_VERSION_NUMBER);
    assert_int_equal(GPTQ_VERSION_NUMBER,
                     GPTQ_VERSION_MAJOR * 10000 + GPTQ_VERSION_MINOR * 100 + GPTQ_VERSION_PATCH);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", GPTQ_VERSION_MAJOR, GPTQ_VERSION_MINOR,
             GPTQ_VERSION_PATCH);
    assert_non_null(gptq_version_string());
    assert_string_equal(gptq_version_string(), want);
    assert_int_equal(gptq_packed_format_version(), GPTQ_PACKED_FORMAT_VERSION);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_version_matches_header)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
