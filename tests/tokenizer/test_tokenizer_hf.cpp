// Hugging Face tokenizers against ../shared/tokenizers/golden.json (ids made by
// transformers.js, a port of Hugging Face tokenizers): every case id for id, through the
// library and through `gptq tokenize`; decoding round trips; the lazy prefix encoder; BPE
// merges against a naive rescan; the Metaspace form of the Mistral tokenizer; refusal of
// unsupported components.
// argv: SHARED_TOKENIZERS_DIR GPTQ_CLI. Exit 77 (skipped) without the shared data.
#include "e2e_common.h"
#include "error.h"
#include "file_io.h"
#include "hf_tokenizer.h"
#include "run_command.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <map>
#include <memory>
#include <random>

namespace {

std::string g_dir, g_cli;
nlohmann::json g_golden;

const llama::HfTokenizer &tokenizer(const std::string &name) {
    // Loading the 151k-token Qwen3 vocabulary takes about a second: once per program.
    static std::map<std::string, std::unique_ptr<llama::HfTokenizer>> cache;
    auto &t = cache[name];
    if (!t) t = std::make_unique<llama::HfTokenizer>(llama::join_path(g_dir, name));
    return *t;
}

std::vector<int32_t> ids_of(const nlohmann::json &j) { return j.get<std::vector<int32_t>>(); }

void expect_same_ids(const std::vector<int32_t> &got, const std::vector<int32_t> &want, const char *what,
                     size_t case_no) {
    const size_t n = std::min(got.size(), want.size());
    for (size_t i = 0; i < n; ++i)
        if (got[i] != want[i])
            fail_msg("case %zu %s: id %zu is %d, expected %d", case_no, what, i, got[i], want[i]);
    if (got.size() != want.size())
        fail_msg("case %zu %s: %zu ids, expected %zu", case_no, what, got.size(), want.size());
}

// A text round-trips when it holds no special-token string: decode leaves special tokens out
// (as Hugging Face's skip_special_tokens), and the SentencePiece normalizer prepends ▁ to
// each piece between special tokens, which decoding keeps as a space.
bool has_special_string(const std::string &text) {
    for (const char *s : {"<|endoftext|>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"})
        if (text.find(s) != std::string::npos) return true;
    return false;
}

void test_golden_ids(void **) {
    size_t checked = 0;
    for (size_t i = 0; i < g_golden.size(); ++i) {
        const auto &c = g_golden[i];
        const llama::HfTokenizer &tok = tokenizer(c["tokenizer"].get<std::string>());
        const std::string text = c["text"].get<std::string>();
        e2e::no_throw([&] {
            expect_same_ids(tok.encode(text, false), ids_of(c["ids_no_special"]), "ids_no_special", i);
            expect_same_ids(tok.encode(text, true), ids_of(c["ids_special"]), "ids_special", i);
        });
        checked += 2;
    }
    assert_int_equal(checked, 40);
    // BOS / EOS as tokenizer_config.json names them (Qwen3 has no BOS; its EOS is <|im_end|>).
    assert_int_equal(tokenizer("qwen3").bos_id(), -1);
    assert_int_equal(tokenizer("qwen3").eos_id(), 151645);
    assert_int_equal(tokenizer("mistral").bos_id(), 1);
    assert_int_equal(tokenizer("mistral").eos_id(), 2);
}

void test_round_trip(void **) {
    size_t round_trips = 0;
    for (size_t i = 0; i < g_golden.size(); ++i) {
        const auto &c = g_golden[i];
        const llama::HfTokenizer &tok = tokenizer(c["tokenizer"].get<std::string>());
        const std::string text = c["text"].get<std::string>();
        const std::vector<int32_t> ids = ids_of(c["ids_special"]);
        const std::string all = tok.decode(ids);
        if (has_special_string(text)) continue;
        if (all != text) fail_msg("case %zu: decode(encode(text)) differs from the text", i);
        ++round_trips;
        // Streaming decode (what generate prints) adds up to the whole decode. (After a
        // special token a piece is decoded as at the start of a text, so texts with special
        // tokens inside are left out here too.)
        std::string streamed;
        int32_t prev = -1;
        for (int32_t id : ids) {
            streamed += tok.decode(prev, id);
            prev = id;
        }
        if (streamed != all) fail_msg("case %zu: token-by-token decode differs from decode", i);
    }
    assert_int_equal(round_trips, 18);  // 1 of the 10 texts per tokenizer holds special strings
}

// encode_prefix stops early and gives a prefix of the full encoding.
void test_prefix(void **) {
    for (size_t i = 0; i < g_golden.size(); ++i) {
        const auto &c = g_golden[i];
        const llama::HfTokenizer &tok = tokenizer(c["tokenizer"].get<std::string>());
        const std::string text = c["text"].get<std::string>();
        const std::vector<int32_t> full = ids_of(c["ids_special"]);
        for (size_t want : {size_t(1), size_t(7), full.size() / 2, full.size() + 5}) {
            const std::vector<int32_t> got = tok.encode_prefix(text, true, want);
            if (got.size() < std::min(want, full.size()) || got.size() > full.size() ||
                !std::equal(got.begin(), got.end(), full.begin()))
                fail_msg("case %zu: encode_prefix(%zu) is not a long enough prefix (%zu ids)", i, want,
                         got.size());
        }
    }
    // On the long text the work really stops early: 100 tokens of 20 KB.
    const std::string wiki = g_golden[9]["text"].get<std::string>();
    assert_true(tokenizer("qwen3").encode_prefix(wiki, false, 100).size() < 200);
}

// The CLI prints the same ids: the 20 KB WikiText case (Mistral) from a file, and the Qwen3
// special-token case from --string.
void test_cli(void **) {
    const std::string dir = e2e::make_temp_dir();
    const struct {
        size_t case_no;
        bool special;
    } runs[] = {{19, true}, {19, false}, {4, false}};
    for (const auto &r : runs) {
        const auto &c = g_golden[r.case_no];
        const std::string text_file = dir + "/text.txt";
        e2e::write_bytes(text_file, c["text"].get<std::string>());
        const std::string cmd = shell_quote(g_cli) + " tokenize --tokenizer " +
                                shell_quote(g_dir + "/" + c["tokenizer"].get<std::string>()) + " --text " +
                                shell_quote(text_file) + (r.special ? "" : " --no-special");
        int status = 0;
        const std::string out = run_command(cmd, &status);
        assert_int_equal(status, 0);
        const nlohmann::json got = nlohmann::json::parse(out, nullptr, false);
        assert_false(got.is_discarded());
        expect_same_ids(ids_of(got), ids_of(c[r.special ? "ids_special" : "ids_no_special"]), "CLI", r.case_no);
    }
    // A refused tokenizer: exit status 1 and the component named on stderr.
    const std::string bad = dir + "/wordpiece.json";
    e2e::write_bytes(bad, R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})");
    int status = 0;
    const std::string err =
        run_command(shell_quote(g_cli) + " tokenize --tokenizer " + shell_quote(bad) + " --string a 2>&1", &status);
    assert_int_equal(status, 1);
    assert_non_null(std::strstr(err.c_str(), "WordPiece"));
    e2e::remove_tree(dir);
}

// A small hand-made BPE whose merges overlap ("a b" and "b c" compete, "ab ab" needs two
// merges first), checked on random strings against the textbook algorithm: merge the
// lowest-ranked adjacent pair, leftmost first, until none applies.
void test_bpe_against_naive(void **) {
    const std::vector<std::pair<std::string, std::string>> merges = {
        {"b", "c"}, {"a", "b"}, {"ab", "c"}, {"a", "bc"}, {"ab", "ab"}, {"c", "c"}, {"abab", "cc"}, {"b", "b"}};
    nlohmann::json vocab = {{"a", 0}, {"b", 1}, {"c", 2}};
    nlohmann::json mj = nlohmann::json::array();
    for (const auto &m : merges) {
        if (!vocab.contains(m.first + m.second)) vocab[m.first + m.second] = vocab.size();
        mj.push_back(m.first + " " + m.second);
    }
    const nlohmann::json tj = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", mj}}},
                               {"added_tokens", nlohmann::json::array()}};
    const std::string dir = e2e::make_temp_dir();
    e2e::write_bytes(dir + "/tokenizer.json", tj.dump());
    const llama::HfTokenizer tok(dir);
    std::mt19937 rng(7);
    for (int trial = 0; trial < 2000; ++trial) {
        std::string text(size_t(rng() % 24), 'a');
        for (char &ch : text) ch = char('a' + rng() % 3);
        std::vector<std::string> sym;
        for (char ch : text) sym.emplace_back(1, ch);
        for (;;) {
            size_t best_rank = merges.size(), best_at = 0;
            for (size_t k = 0; k + 1 < sym.size(); ++k)
                for (size_t r = 0; r < best_rank; ++r)
                    if (merges[r].first == sym[k] && merges[r].second == sym[k + 1]) best_rank = r, best_at = k;
            if (best_rank == merges.size()) break;
            sym[best_at] += sym[best_at + 1];
            sym.erase(sym.begin() + long(best_at) + 1);
        }
        std::vector<int32_t> want;
        for (const std::string &s : sym) want.push_back(vocab[s].get<int32_t>());
        expect_same_ids(tok.encode(text, false), want, text.c_str(), size_t(trial));
    }
    e2e::remove_tree(dir);
}

// The newer form of the Mistral / Llama 2 tokenizer: no normalizer, a Metaspace pre-tokenizer
// that prepends ▁ only at the start of the text (prepend_scheme "first") and a Metaspace
// decoder. It must give the golden ids of the legacy form wherever the two agree: texts that
// neither start with a space (Metaspace does not prepend ▁ to "▁...") nor hold special tokens.
void test_metaspace(void **) {
    nlohmann::json tj = nlohmann::json::parse(llama::read_text_file(g_dir + "/mistral/tokenizer.json"));
    tj["normalizer"] = nullptr;
    tj["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "first"}, {"split", false}};
    tj["decoder"] = {{"type", "Sequence"},
                     {"decoders", {{{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "first"}},
                                   {{"type", "ByteFallback"}},
                                   {{"type", "Fuse"}}}}};
    const std::string dir = e2e::make_temp_dir();
    e2e::write_bytes(dir + "/tokenizer.json", tj.dump());
    const llama::HfTokenizer tok(dir + "/tokenizer.json");
    size_t checked = 0;
    for (size_t i = 0; i < g_golden.size(); ++i) {
        const auto &c = g_golden[i];
        const std::string text = c["text"].get<std::string>();
        if (c["tokenizer"] != "mistral" || has_special_string(text) || (!text.empty() && text[0] == ' ')) continue;
        const std::vector<int32_t> ids = tok.encode(text, false);
        expect_same_ids(ids, ids_of(c["ids_no_special"]), "Metaspace", i);
        if (tok.decode(ids) != text) fail_msg("case %zu: Metaspace decode differs from the text", i);
        ++checked;
    }
    assert_int_equal(checked, 6);
    // "first": after a special token no ▁ is prepended (the legacy normalizer prepends one).
    const std::vector<int32_t> ids = tok.encode("a</s>b", false);
    assert_int_equal(ids.size(), 3);
    assert_int_equal(ids[1], 2);
    assert_true(tok.token_text(ids[2]) == "b");
    e2e::remove_tree(dir);
}

// Each unsupported component is refused with its name in the message.
void test_refusals(void **) {
    const std::string dir = e2e::make_temp_dir();
    const nlohmann::json base = {{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}}, {"merges", {"a b"}}}},
                                 {"added_tokens", nlohmann::json::array()}};
    struct Case {
        const char *key;
        nlohmann::json value;
        const char *named;
        gptq_status status;
    };
    const std::vector<Case> cases = {
        {"model", {{"type", "WordPiece"}, {"vocab", {{"a", 0}}}}, "WordPiece", GPTQ_ERR_UNSUPPORTED},
        {"model", {{"type", "Unigram"}, {"vocab", nlohmann::json::array()}}, "Unigram", GPTQ_ERR_UNSUPPORTED},
        {"normalizer", {{"type", "Lowercase"}}, "Lowercase", GPTQ_ERR_UNSUPPORTED},
        {"normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}, {{"type", "Precompiled"}}}}},
         "Precompiled", GPTQ_ERR_UNSUPPORTED},
        {"pre_tokenizer", {{"type", "Whitespace"}}, "Whitespace", GPTQ_ERR_UNSUPPORTED},
        {"decoder", {{"type", "WordPiece"}}, "WordPiece", GPTQ_ERR_UNSUPPORTED},
        {"post_processor", {{"type", "MysteryProcessing"}}, "MysteryProcessing", GPTQ_ERR_UNSUPPORTED},
        {"pre_tokenizer", {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}},
         "does not compile", GPTQ_ERR_FORMAT},
        {"model", {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", {"a z"}}}, "not in the vocabulary",
         GPTQ_ERR_FORMAT},
    };
    for (const Case &c : cases) {
        nlohmann::json tj = base;
        tj[c.key] = c.value;
        const std::string path = dir + "/tokenizer.json";
        e2e::write_bytes(path, tj.dump());
        const std::string msg = e2e::expect_error([&] { llama::HfTokenizer t(path); }, c.status);
        if (msg.find(c.named) == std::string::npos)
            fail_msg("the message for %s does not name '%s': %s", c.key, c.named, msg.c_str());
    }
    e2e::write_bytes(dir + "/tokenizer.json", "{not json");
    e2e::expect_error([&] { llama::HfTokenizer t(dir); }, GPTQ_ERR_FORMAT);
    e2e::write_bytes(dir + "/tokenizer.json", base.dump());
    const llama::HfTokenizer ok(dir);
    assert_true(ok.encode("ab", false) == std::vector<int32_t>{2});
    e2e::expect_error([&] { ok.encode("a\xff", false); }, GPTQ_ERR_FORMAT);  // not UTF-8
    e2e::remove_tree(dir);
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s SHARED_TOKENIZERS_DIR GPTQ_CLI\n", argv[0]);
        return 2;
    }
    g_dir = argv[1];
    g_cli = argv[2];
    const std::string golden = llama::join_path(g_dir, "golden.json");
    if (!llama::file_exists(golden)) {
        std::fprintf(stderr, "%s missing: skipped\n", golden.c_str());
        return 77;
    }
    g_golden = nlohmann::json::parse(llama::read_text_file(golden));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_ids),  cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_prefix),      cmocka_unit_test(test_cli),
        cmocka_unit_test(test_bpe_against_naive), cmocka_unit_test(test_metaspace),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
