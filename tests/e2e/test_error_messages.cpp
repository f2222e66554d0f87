// llama::check turns a failed libgptq call into one message: when the library already named
// the layer, the caller's label (the same layer name) is not prepended a second time; when it
// did not, the label and the status say what failed.
#include "e2e_common.h"
#include "error.h"

#include <string>

namespace {

size_t count(const std::string &s, const std::string &what) {
    size_t n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
}

void test_layer_named_once(void **) {
    gptq_ctx *ctx = e2e::shared_ctx();
    const std::string name = "model.layers.0.self_attn.q_proj";
    gptq_quant_params p;
    gptq_quant_params_init(&p);
    p.bits = 5;
    p.layer_name = name.c_str();
    const float w[4] = {1, 2, 3, 4};
    const gptq_matrix m{w, GPTQ_DTYPE_F32, 2, 2, 2};
    gptq_qlayer *q = nullptr;
    const gptq_status st = gptq_quantize_rtn(ctx, &p, &m, &q);
    assert_int_equal(st, GPTQ_ERR_UNSUPPORTED);
    const std::string msg =
        e2e::expect_error([&] { llama::check(ctx, st, name.c_str()); }, GPTQ_ERR_UNSUPPORTED);
    assert_int_equal(count(msg, name), 1);
    assert_true(msg.find("bits = 5") != std::string::npos);
}

void test_label_added_when_missing(void **) {
    gptq_ctx *ctx = e2e::shared_ctx();
    gptq_qlayer_info info{};
    const gptq_status st = gptq_qlayer_get_info(nullptr, &info);
    assert_int_not_equal(st, GPTQ_OK);
    const std::string msg =
        e2e::expect_error([&] { llama::check(ctx, st, "layer info"); }, st);
    assert_int_equal(msg.compare(0, 12, "layer info: "), 0);
}

} // namespace

int main(int argc, char **argv) {
    if (!e2e::parse_args(argc, argv)) return 2;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_named_once),
        cmocka_unit_test(test_label_added_when_missing),
    };
    const int rc = cmocka_run_group_tests(tests, nullptr, nullptr);
    e2e::destroy_shared_ctx();
    return rc;
}
