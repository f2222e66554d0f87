#include "test_common.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

gptq_backend tc_backend = GPTQ_BACKEND_CPU;

void tc_init(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "cpu";
    if (strcmp(name, "cpu") == 0) {
        tc_backend = GPTQ_BACKEND_CPU;
    } else if (strcmp(name, "vulkan") == 0) {
        tc_backend = GPTQ_BACKEND_VULKAN;
    } else if (strcmp(name, "cuda") == 0) {
        tc_backend = GPTQ_BACKEND_CUDA;
    } else {
        fprintf(stderr, "unknown backend '%s' (expected cpu, vulkan or cuda)\n", name);
        exit(2);
    }
    /* Developer aid: run a subset, e.g. GPTQ_TEST_FILTER='test_matmul*'. */
    const char *filter = getenv("GPTQ_TEST_FILTER");
    if (filter && *filter) cmocka_set_test_filter(filter);
    const char *skip = getenv("GPTQ_TEST_SKIP");
    if (skip && *skip) cmocka_set_skip_filter(skip);
    if (!gptq_backend_available(tc_backend)) {
        fprintf(stderr, "backend %s not available: skipping\n", name);
        exit(TC_EXIT_SKIP);
    }
}

gptq_ctx *tc_ctx(void) {
    gptq_ctx_params p;
    gptq_ctx_params_init(&p);
    p.backend = tc_backend;
    gptq_ctx *ctx = NULL;
    const gptq_status st = gptq_ctx_create(&p, &ctx);
    if (st != GPTQ_OK) fprintf(stderr, "gptq_ctx_create: %s\n", gptq_last_error(NULL));
    assert_int_equal(st, GPTQ_OK);
    assert_non_null(ctx);
    return ctx;
}

gptq_matrix tc_matrix_f32(const float *data, int64_t rows, int64_t cols, int64_t stride) {
    gptq_matrix m;
    m.data = data;
    m.dtype = GPTQ_DTYPE_F32;
    m.rows = rows;
    m.cols = cols;
    m.row_stride = stride;
    return m;
}
