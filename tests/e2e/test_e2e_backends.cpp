// The model tooling on another backend (Vulkan, CUDA) against the CPU reference backend:
// a checkpoint evaluates to the same perplexity, and sequential GPTQ run on the backend
// yields a model as good as the CPU one. argv[3] names the backend; exit 77 if unusable.
#include "e2e_common.h"
#include "llama2c_tokenizer.h"

#include "checkpoint.h"
#include "convert.h"
#include "eval.h"
#include "file_io.h"
#include "loaders.h"
#include "sequential.h"

#include <cmath>

using namespace llama;

namespace {

gptq_ctx *g_cpu = nullptr;

struct Data {
    std::vector<std::vector<int32_t>> calib, eval;
};

const Data &data() {
    static Data d = [] {
        Data x;
        const Llama2cTokenizer tok(e2e::g_paths.tokenizer, 512);
        const auto docs = split_documents(read_text_file(e2e::g_paths.text));
        x.calib = tokenize_documents(tok, select_documents(docs, parse_doc_range("0:8")), 512);
        x.eval = tokenize_documents(tok, select_documents(docs, parse_doc_range("23:33")), 512);
        return x;
    }();
    return d;
}

Model quantize_on(gptq_ctx *ctx, bool rtn) {
    Model m = load_llama2c(e2e::g_paths.model);
    to_hf_layout(m);
    QuantizeOptions opt;
    opt.params.bits = 4;
    opt.params.group_size = 32;
    opt.params.desc_act = !rtn;
    opt.rtn = rtn;
    opt.compare_rtn = false;
    quantize_model(m, ctx, rtn ? std::vector<std::vector<int32_t>>{} : data().calib, opt);
    return m;
}

double nll(const Model &m, gptq_ctx *ctx) { return evaluate(Forward(m, ctx), data().eval).mean_nll(); }

// Same checkpoint, two backends: only the matmul's fp32 summation order differs, which moves
// logits by ~1e-6 relative; 1e-5 on the mean NLL leaves room and still catches any real
// kernel error (a wrong code or scale shifts it by > 1e-3).
void test_checkpoint_on_backend(void **) {
    const Model q = quantize_on(g_cpu, true);
    const std::string dir = e2e::make_temp_dir();
    save_checkpoint(q, g_cpu, dir, SaveOptions());
    const Model on_backend = load_hf(dir, e2e::shared_ctx());
    const double a = nll(q, g_cpu), b = nll(on_backend, e2e::shared_ctx());
    print_message("RTN 4b g32: cpu %.8f, %s %.8f\n", a, gptq_backend_name(e2e::g_paths.backend), b);
    assert_true(std::fabs(a - b) <= 1e-5 * a);
    e2e::remove_tree(dir);
}

// GPTQ is a long chain of fp32 operations; a backend may round a few codes differently, but
// the resulting model must be as good: NLL within 0.2% of the CPU-quantized model.
void test_gptq_on_backend(void **) {
    const Model a = quantize_on(g_cpu, false);
    const Model b = quantize_on(e2e::shared_ctx(), false);
    const double na = nll(a, g_cpu), nb = nll(b, e2e::shared_ctx());
    print_message("GPTQ 4b g32 act-order: cpu %.8f, %s %.8f\n", na,
                  gptq_backend_name(e2e::g_paths.backend), nb);
    assert_true(std::fabs(na - nb) <= 2e-3 * na);
}

} // namespace

int main(int argc, char **argv) {
    if (!e2e::parse_args(argc, argv)) return 2;
    e2e::shared_ctx();  // exits 77 when the backend is unusable
    gptq_ctx_params p;
    gptq_ctx_params_init(&p);
    p.backend = GPTQ_BACKEND_CPU;
    if (gptq_ctx_create(&p, &g_cpu) != GPTQ_OK) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint_on_backend),
        cmocka_unit_test(test_gptq_on_backend),
    };
    const int rc = cmocka_run_group_tests(tests, nullptr, nullptr);
    gptq_ctx_destroy(g_cpu);
    e2e::destroy_shared_ctx();
    return rc;
}
