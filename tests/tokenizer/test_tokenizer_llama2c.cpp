// The llama2.c tokenizer's priority-queue merges give the ids of the original algorithm (a
// rescan of the whole sequence per merge, written out again here from tok512.bin) on every
// TinyStories validation document and on WikiText-2 lines (out-of-domain text, many byte
// fallbacks); the lazy prefix encoder gives a prefix of the whole encoding.
// argv: TOKENIZER_BIN TINYSTORIES_TXT WIKITEXT_RAW GPTQ_CLI. Exit 77 (skipped) without the data.
#include "e2e_common.h"
#include "eval.h"
#include "file_io.h"
#include "llama2c_tokenizer.h"
#include "naive_llama2c.h"
#include "run_command.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <sstream>

namespace {

std::string g_tok, g_stories, g_wiki, g_cli;

void check_same(const llama::Llama2cTokenizer &tok, const naive::Llama2cVocab &v, const std::string &text, const char *what,
                size_t n) {
    const std::vector<int32_t> got = tok.encode(text, false), want = naive::llama2c_encode(v, text);
    if (got != want) {
        size_t i = 0;
        while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
        fail_msg("%s %zu: ids differ at %zu (%zu vs %zu ids)", what, n, i, got.size(), want.size());
    }
    if (tok.decode(got) != text) fail_msg("%s %zu: decode(encode(text)) differs from the text", what, n);
}

void test_stories_documents(void **) {
    const llama::Llama2cTokenizer tok(g_tok, 512);
    naive::Llama2cVocab v;
    assert_true(naive::read_llama2c_vocab(g_tok, v));
    const auto docs = llama::split_documents(llama::read_text_file(g_stories));
    assert_int_equal(docs.size(), 46);
    for (size_t i = 0; i < docs.size(); ++i) check_same(tok, v, docs[i], "document", i);
}

void test_wikitext_lines(void **) {
    const llama::Llama2cTokenizer tok(g_tok, 512);
    naive::Llama2cVocab v;
    assert_true(naive::read_llama2c_vocab(g_tok, v));
    std::istringstream in(llama::read_text_file(g_wiki));
    std::string line;
    size_t n = 0;
    for (; n < 400 && std::getline(in, line); ++n) check_same(tok, v, line, "line", n);
    assert_int_equal(n, 400);
}

// encode_prefix cuts the text after newlines: its ids are a prefix of the whole text's, all of
// them when asked for more than there are, and the work stops early.
void test_prefix(void **) {
    const llama::Llama2cTokenizer tok(g_tok, 512);
    for (const std::string &path : {g_stories, g_wiki}) {
        std::string text = llama::read_text_file(path);
        text.resize(std::min<size_t>(text.size(), 200000));
        const std::vector<int32_t> full = tok.encode(text, true);
        for (size_t want : {size_t(1), size_t(1000), size_t(10000), full.size() + 1}) {
            const std::vector<int32_t> got = tok.encode_prefix(text, true, want);
            if (got.size() < std::min(want, full.size()) || got.size() > full.size() ||
                !std::equal(got.begin(), got.end(), full.begin()))
                fail_msg("%s: encode_prefix(%zu) is not a long enough prefix (%zu of %zu ids)", path.c_str(),
                         want, got.size(), full.size());
        }
        assert_true(tok.encode_prefix(text, true, 100).size() < 5000);
    }
}

// `gptq tokenize` with a llama2.c file prints the library's ids (BOS included by default).
void test_cli(void **) {
    const llama::Llama2cTokenizer tok(g_tok, 512);
    const std::string text = llama::split_documents(llama::read_text_file(g_stories))[0];
    int status = 0;
    const std::string out = run_command(
        shell_quote(g_cli) + " tokenize --tokenizer " + shell_quote(g_tok) + " --string " + shell_quote(text), &status);
    assert_int_equal(status, 0);
    const nlohmann::json ids = nlohmann::json::parse(out, nullptr, false);
    assert_false(ids.is_discarded());
    assert_true(ids.get<std::vector<int32_t>>() == tok.encode(text, true));
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s TOKENIZER_BIN TINYSTORIES_TXT WIKITEXT_RAW GPTQ_CLI\n", argv[0]);
        return 2;
    }
    g_tok = argv[1];
    g_stories = argv[2];
    g_wiki = argv[3];
    g_cli = argv[4];
    for (const std::string &p : {g_tok, g_stories, g_wiki})
        if (!llama::file_exists(p)) {
            std::fprintf(stderr, "%s missing: skipped\n", p.c_str());
            return 77;
        }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories_documents),
        cmocka_unit_test(test_wikitext_lines),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
