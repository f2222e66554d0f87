/* The MSE clipping search on the context's backend (every compiled backend runs this).
 *
 * A layer whose best clip is known in closed form: with H = I there is no error feedback
 * (U is diagonal), so every group's parameters are exactly the search's choice. Each group
 * holds one outlier c and otherwise the values 0.31 c {1, 2, 3} / 3 (2 bits, asymmetric,
 * norm 1): the shrink p = 0.31 puts every non-outlier on the grid and costs only the
 * outlier's 0.69 c; a larger p leaves most of them off the grid (0.32: on average 0.0067 c
 * each, over 60 of them), a smaller one clips the largest.
 * So the chosen scale is p c / 3 with p the fp32 value of 1 - 69/100 exactly when the
 * search tries shrink step 69, i.e. counts floor(maxshrink * grid) = 70 steps for
 * maxshrink 0.7 (a float 0.7f * 100 is 69.99999881 in double: truncating it gives 69
 * steps and scale 0.32 c / 3). A maxshrink of 0.69 must stop before step 69, which shows
 * the test can tell the two counts apart. Checked for every source of group parameters:
 * one group per row, static groups, dynamic groups, dynamic groups with act-order. */
#include "test_common.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

enum { N = 4, K = 256, G = 64 };

/* Row r scaled by c = r + 1; in each group (or the whole row) one outlier c. */
static void make_layer(float *w, int group) {
    const int span = group > 0 ? group : K;
    for (int r = 0; r < N; ++r)
        for (int j = 0; j < K; ++j) {
            const float c = (float)(r + 1);
            const int outlier = (j % span) == (7 * (j / span) + r) % span;
            w[r * K + j] = outlier ? c : 0.31f * c * (float)(1 + j % 3) / 3.0f;
        }
}

/* Scale the quantizer derives from the range [0, p c]: (p c - 0) / maxq in fp32. */
static float scale_at_step(int step, float c) {
    const float p = (float)(1.0 - (double)step / 100.0);
    const float hi = p * c, lo = p * 0.0f;
    return (hi - lo) / 3.0f;
}

static void check_case(int group, int static_groups, int act_order, float maxshrink,
                       int expected_step) {
    gptq_ctx *ctx = tc_ctx();
    float *w = tc_xmalloc(sizeof(float) * N * K);
    float *h = tc_xcalloc((size_t)K * K, sizeof(float));
    make_layer(w, group);
    for (int j = 0; j < K; ++j) h[j * K + j] = 1.0f;
    gptq_hessian *hs;
    assert_int_equal(gptq_hessian_create(ctx, K, &hs), GPTQ_OK);
    assert_int_equal(gptq_hessian_set(hs, h, K, 1), GPTQ_OK);

    gptq_quant_params qp;
    gptq_quant_params_init(&qp);
    qp.bits = 2;
    qp.group_size = group;
    qp.static_groups = static_groups;
    qp.desc_act = act_order;
    qp.block_size = 48; /* groups start inside blocks: the driver's block-start rule */
    qp.mse = GPTQ_MSE_ON;
    qp.mse_grid = 100;
    qp.mse_maxshrink = maxshrink;
    qp.mse_norm = 1.0f;
    gptq_matrix wm = tc_matrix_f32(w, N, K, 0);
    gptq_qlayer *q;
    assert_int_equal(gptq_quantize_layer(ctx, &qp, &wm, hs, &q, NULL), GPTQ_OK);

    const int n_groups = group > 0 ? K / group : 1;
    float scales[N * (K / G)];
    int32_t zeros[N * (K / G)];
    assert_int_equal(gptq_qlayer_get_scales(q, scales, (size_t)(n_groups * N)), GPTQ_OK);
    assert_int_equal(gptq_qlayer_get_zeros(q, zeros, (size_t)(n_groups * N)), GPTQ_OK);
    for (int g = 0; g < n_groups; ++g)
        for (int r = 0; r < N; ++r) {
            const float want = scale_at_step(expected_step, (float)(r + 1));
            if (scales[g * N + r] != want)
                fail_msg("group %d row %d (G %d static %d act %d maxshrink %g): scale %.9g, "
                         "expected %.9g (shrink step %d)",
                         g, r, group, static_groups, act_order, (double)maxshrink,
                         (double)scales[g * N + r], (double)want, expected_step);
            assert_int_equal(zeros[g * N + r], 0);
        }
    gptq_qlayer_destroy(q);
    gptq_hessian_destroy(hs);
    gptq_ctx_destroy(ctx);
    free(h);
    free(w);
}

static void test_mse_per_row(void **state) {
    (void)state;
    check_case(-1, 0, 0, 0.7f, 69);
    check_case(-1, 0, 0, 0.69f, 68);
}

static void test_mse_static_groups(void **state) {
    (void)state;
    check_case(G, 1, 1, 0.7f, 69);
    check_case(G, 1, 1, 0.69f, 68);
}

static void test_mse_dynamic_groups(void **state) {
    (void)state;
    check_case(G, 0, 0, 0.7f, 69);
    check_case(G, 0, 0, 0.69f, 68);
}

static void test_mse_dynamic_act_order(void **state) {
    (void)state;
    check_case(G, 0, 1, 0.7f, 69);
}

int main(int argc, char **argv) {
    tc_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mse_per_row),
        cmocka_unit_test(test_mse_static_groups),
        cmocka_unit_test(test_mse_dynamic_groups),
        cmocka_unit_test(test_mse_dynamic_act_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
