// The fp32 model: tokenizer, forward pass, the reference perplexity, prefill vs KV-cached
// decode, and the llama2.c -> Hugging Face RoPE row permutation.
#include "e2e_common.h"
#include "llama2c_tokenizer.h"

#include "convert.h"
#include "eval.h"
#include "file_io.h"
#include "half.h"
#include "loaders.h"

#include <cmath>

using namespace llama;

namespace {

const std::vector<std::string> &all_docs() {
    static const std::vector<std::string> docs = split_documents(read_text_file(e2e::g_paths.text));
    return docs;
}

void test_documents(void **) {
    const auto &docs = all_docs();
    assert_int_equal(docs.size(), 46);
    for (const std::string &d : docs) {
        assert_true(d.find("<|endoftext|>") == std::string::npos);
        assert_false(d.empty());
    }
    // A separator line with CRLF counts too; text after the last separator is a document.
    const auto d2 = split_documents("a\nb\n<|endoftext|>\r\nc\n<|endoftext|>\nd");
    assert_int_equal(d2.size(), 3);
    assert_string_equal(d2[0].c_str(), "a\nb");
    assert_string_equal(d2[2].c_str(), "d");
    const DocRange r = parse_doc_range("23:46");
    assert_int_equal(r.first, 23);
    assert_int_equal(r.end, 46);
    assert_int_equal(select_documents(docs, r).size(), 23);
    e2e::expect_error([] { parse_doc_range("5:2"); }, GPTQ_ERR_INVALID_ARGUMENT);
    e2e::expect_error([] { parse_doc_range("x"); }, GPTQ_ERR_INVALID_ARGUMENT);
    e2e::expect_error([&] { select_documents(docs, parse_doc_range("40:47")); },
                      GPTQ_ERR_INVALID_ARGUMENT);
}

void test_tokenizer(void **) {
    const Llama2cTokenizer tok(e2e::g_paths.tokenizer, 512);
    // Every document decodes back to its text (the leading space after BOS is dropped).
    for (const std::string &d : all_docs()) {
        const std::vector<int32_t> ids = tok.encode(d, true);
        assert_int_equal(ids[0], Llama2cTokenizer::kBos);
        std::string back;
        for (size_t i = 1; i < ids.size(); ++i) back += tok.decode(ids[i - 1], ids[i]);
        // A document that itself starts with a space keeps it; decode drops only the
        // prepended one.
        assert_string_equal(back.c_str(), d.c_str());
    }
    // Characters outside the 512-token vocabulary (a CJK character and an emoji) fall back
    // to their UTF-8 bytes, one token each at id 3 + byte.
    const std::string text = "\xe4\xb8\xad\xf0\x9f\x98\x80 caf\xc3\xa9";
    const std::vector<int32_t> ids = tok.encode(text, false);
    int byte_tokens = 0;
    std::string back;
    int32_t prev = -1;
    for (int32_t id : ids) {
        if (id >= Llama2cTokenizer::kByteBase && id < Llama2cTokenizer::kByteBase + 256) ++byte_tokens;
        back += tok.decode(prev, id);
        prev = id;
    }
    assert_int_equal(byte_tokens, 7);
    assert_int_equal(ids[1], Llama2cTokenizer::kByteBase + 0xe4);
    assert_string_equal(back.c_str(), (" " + text).c_str());
    // Merges happen: a common word is far fewer tokens than characters.
    assert_true(tok.encode("Once upon a time", false).size() <= 6);
    assert_int_equal(tok.encode("", true).size(), 1);
}

// The figure a straightforward float implementation of the llama2.c model gives over all 46
// documents (BOS + text, cut at 512). fp32 summation-order differences move the mean NLL
// by ~1e-4 relative; 1e-3 still catches any real error (a wrong RoPE pairing, a missing
// norm or an off-by-one target each shift it by several percent).
void test_fp32_perplexity(void **) {
    const Model m = load_llama2c(e2e::g_paths.model);
    const Llama2cTokenizer tok(e2e::g_paths.tokenizer, m.cfg.vocab_size);
    const auto seqs = tokenize_documents(tok, all_docs(), m.cfg.seq_len);
    const Forward fwd(m, e2e::shared_ctx());
    const EvalResult r = evaluate(fwd, seqs);
    print_message("fp32: %lld tokens, mean NLL %.6f, perplexity %.4f\n", (long long)r.tokens,
                  r.mean_nll(), r.perplexity());
    assert_true(std::fabs(r.mean_nll() - 1.2229) / 1.2229 < 1e-3);
    assert_true(std::fabs(r.perplexity() - 3.397) / 3.397 < 2e-3);
}

double max_abs_diff(const std::vector<float> &a, const std::vector<float> &b) {
    assert_int_equal(a.size(), b.size());
    double d = 0;
    for (size_t i = 0; i < a.size(); ++i) d = std::max(d, double(std::fabs(a[i] - b[i])));
    return d;
}

// Logits are O(10); fp32 sums over 64..172 terms in a different order differ by ~1e-5.
constexpr double kLogitTol = 1e-3;

void test_prefill_matches_decode(void **) {
    const Model m = load_llama2c(e2e::g_paths.model);
    const Llama2cTokenizer tok(e2e::g_paths.tokenizer, m.cfg.vocab_size);
    std::vector<int32_t> ids = tok.encode(all_docs()[3], true);
    ids.resize(40);
    const Forward fwd(m, e2e::shared_ctx());
    std::vector<LayerKV> c1, c2;
    const std::vector<float> full = fwd.logits(ids, 0, c1);
    // Two chunks then single tokens, through the cache.
    std::vector<float> step = fwd.logits(std::vector<int32_t>(ids.begin(), ids.begin() + 17), 0, c2);
    for (size_t t = 17; t < ids.size(); ++t) {
        const std::vector<float> one = fwd.logits({ids[t]}, int64_t(t), c2);
        step.insert(step.end(), one.begin(), one.end());
    }
    assert_true(max_abs_diff(full, step) < kLogitTol);
}

// The permuted q/k rows with rotate-halves RoPE compute the same model as llama2.c.
void test_hf_layout_conversion(void **) {
    Model a = load_llama2c(e2e::g_paths.model);
    Model b = load_llama2c(e2e::g_paths.model);
    const Llama2cTokenizer tok(e2e::g_paths.tokenizer, a.cfg.vocab_size);
    std::vector<int32_t> ids = tok.encode(all_docs()[5], true);
    ids.resize(64);
    to_hf_layout(b);
    assert_true(b.cfg.rope == RopeStyle::Halves);
    // The permutation really moved rows (so the equality below is not trivial) ...
    assert_true(max_abs_diff(a.blocks[0].lin[kQ].weight(), b.blocks[0].lin[kQ].weight()) > 0.01);
    std::vector<LayerKV> ca, cb;
    const auto la = Forward(a, e2e::shared_ctx()).logits(ids, 0, ca);
    const auto lb = Forward(b, e2e::shared_ctx()).logits(ids, 0, cb);
    assert_true(max_abs_diff(la, lb) < kLogitTol);
    // ... and using the permuted rows with the wrong RoPE convention does change the result.
    b.cfg.rope = RopeStyle::Interleaved;
    std::vector<LayerKV> cc;
    const auto lc = Forward(b, e2e::shared_ctx()).logits(ids, 0, cc);
    assert_true(max_abs_diff(la, lc) > 0.1);
}

void test_permutation_indices(void **) {
    // 1 head of 6 dims, one column: row 2i+t -> t*3+i.
    std::vector<float> w = {0, 1, 2, 3, 4, 5};
    permute_interleaved_to_halves(w.data(), 1, 6, 1);
    const float expect[] = {0, 2, 4, 1, 3, 5};
    for (int i = 0; i < 6; ++i) assert_true(w[size_t(i)] == expect[i]);
}

// Checkpoint dtypes: every finite half survives half -> float -> half, and rounding is to
// nearest even at the midpoints (checked against exact values built from the bit layout).
void test_half_conversions(void **) {
    for (uint32_t h = 0; h < 0x10000u; ++h) {
        if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu)) continue;  // NaN payloads
        assert_int_equal(float_to_half(half_to_float(uint16_t(h))), h);
    }
    assert_int_equal(float_to_half(1.0f + 1.0f / 2048), 0x3c00);      // tie -> even (down)
    assert_int_equal(float_to_half(1.0f + 3.0f / 2048), 0x3c02);      // tie -> even (up)
    assert_int_equal(float_to_half(65520.0f), 0x7c00);                // rounds past max: Inf
    assert_int_equal(float_to_half(std::ldexp(1.0f, -25)), 0x0000);   // half the min subnormal
    assert_int_equal(float_to_half(std::ldexp(3.0f, -26)), 0x0001);   // above it: rounds up
    assert_true(std::isnan(half_to_float(float_to_half(NAN))));
    assert_true(half_to_float(0x0001) == std::ldexp(1.0f, -24));
    assert_int_equal(float_to_bf16(1.0f + 1.0f / 256), 0x3f80);       // tie -> even
    assert_int_equal(float_to_bf16(1.0f + 3.0f / 256), 0x3f82);
    assert_true(bf16_to_float(0x3f80) == 1.0f);
}

} // namespace

int main(int argc, char **argv) {
    if (!e2e::parse_args(argc, argv)) return 2;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half_conversions),
        cmocka_unit_test(test_documents),
        cmocka_unit_test(test_tokenizer),
        cmocka_unit_test(test_permutation_indices),
        cmocka_unit_test(test_prefill_matches_decode),
        cmocka_unit_test(test_hf_layout_conversion),
        cmocka_unit_test(test_fp32_perplexity),
    };
    const int rc = cmocka_run_group_tests(tests, nullptr, nullptr);
    e2e::destroy_shared_ctx();
    return rc;
}
