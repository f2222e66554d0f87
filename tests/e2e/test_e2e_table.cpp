// The README's table (label `long`): at every setting GPTQ must beat RTN in held-out
// perplexity (documents 23-45, calibration on 0-22).
#include "e2e_common.h"
#include "llama2c_tokenizer.h"

#include "convert.h"
#include "eval.h"
#include "file_io.h"
#include "loaders.h"
#include "sequential.h"

#include <cmath>

using namespace llama;

namespace {

void test_table(void **) {
    const Llama2cTokenizer tok(e2e::g_paths.tokenizer, 512);
    const auto docs = split_documents(read_text_file(e2e::g_paths.text));
    const auto calib = tokenize_documents(tok, select_documents(docs, parse_doc_range("0:23")), 512);
    const auto eval = tokenize_documents(tok, select_documents(docs, parse_doc_range("23:46")), 512);
    gptq_ctx *ctx = e2e::shared_ctx();
    const Model fp = load_llama2c(e2e::g_paths.model);
    const double ppl_fp = evaluate(Forward(fp, ctx), eval).perplexity();
    print_message("%-14s %10s %10s %10s\n", "setting", "FP32", "RTN", "GPTQ");
    const struct {
        int bits, group;
    } settings[] = {{4, -1}, {4, 32}, {3, -1}, {3, 32}, {2, 32}};
    int failures = 0;
    for (const auto &s : settings) {
        double ppl[2];
        for (int rtn = 0; rtn < 2; ++rtn) {
            Model m = load_llama2c(e2e::g_paths.model);
            to_hf_layout(m);
            QuantizeOptions opt;
            opt.params.bits = s.bits;
            opt.params.group_size = s.group;
            opt.rtn = rtn != 0;
            opt.compare_rtn = false;
            quantize_model(m, ctx, rtn ? std::vector<std::vector<int32_t>>{} : calib, opt);
            ppl[rtn] = evaluate(Forward(m, ctx), eval).perplexity();
        }
        char name[32];
        std::snprintf(name, sizeof name, "%d-bit g%d", s.bits, s.group);
        print_message("%-14s %10.4f %10.4f %10.4f%s\n", name, ppl_fp, ppl[1], ppl[0],
                      ppl[0] < ppl[1] ? "" : "   <-- GPTQ not better");
        failures += !(ppl[0] < ppl[1]) || !(ppl_fp < ppl[0]);
    }
    assert_int_equal(failures, 0);
}

} // namespace

int main(int argc, char **argv) {
    if (!e2e::parse_args(argc, argv)) return 2;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_table)};
    const int rc = cmocka_run_group_tests(tests, nullptr, nullptr);
    e2e::destroy_shared_ctx();
    return rc;
}
