/* The tests' own safetensors reader must refuse hostile headers before it allocates: a
 * shape whose element count wraps (2^62 + 1 elements of 4 bytes "fit" in 4 bytes), a
 * negative or non-integer dimension, offsets outside the file. A valid file still opens. */
#include "safetensors.h"
#include "test_common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* Writes an 8-byte length, the JSON header and `data_len` zero bytes; returns the path. */
static const char *write_file(const char *header, size_t data_len) {
    static char path[64];
    strcpy(path, "/tmp/gptq-st-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    assert_non_null(f);
    uint64_t n = strlen(header);
    for (int i = 0; i < 8; ++i) fputc((int)((n >> (8 * i)) & 0xff), f);
    fwrite(header, 1, n, f);
    for (size_t i = 0; i < data_len; ++i) fputc(0, f);
    fclose(f);
    return path;
}

static void expect_refused(const char *header, size_t data_len) {
    const char *path = write_file(header, data_len);
    st_file *f = st_open(path);
    unlink(path);
    if (f) st_close(f);
    assert_null(f);
}

static void test_valid_file_opens(void **state) {
    (void)state;
    const char *path =
        write_file("{\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24);
    st_file *f = st_open(path);
    unlink(path);
    assert_non_null(f);
    st_tensor_info info;
    assert_int_equal(st_info(f, "x", &info), 0);
    assert_int_equal(info.numel, 6);
    st_close(f);
}

/* 27905 * 429509837 * 384773 = 2^62 + 1: times 4 bytes it wraps to 4. */
static void test_wrapping_shape_refused(void **state) {
    (void)state;
    expect_refused("{\"x\":{\"dtype\":\"F32\",\"shape\":[27905,429509837,384773],"
                   "\"data_offsets\":[0,4]}}",
                   4);
}

static void test_bad_dimensions_refused(void **state) {
    (void)state;
    expect_refused("{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4);
    expect_refused("{\"x\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4);
    expect_refused("{\"x\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4);
}

static void test_bad_offsets_refused(void **state) {
    (void)state;
    expect_refused("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4);
    expect_refused("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4);
    expect_refused("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_file_opens),
        cmocka_unit_test(test_wrapping_shape_refused),
        cmocka_unit_test(test_bad_dimensions_refused),
        cmocka_unit_test(test_bad_offsets_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
