// Tokenizer speed on one thread: a Hugging Face tokenizer.json (default the Qwen3 one) over
// the whole WikiText-2 test file, and the llama2.c tokenizer (stories260K's tok512.bin) with
// its priority-queue merges against the original rescanning loop on growing prefixes.
// Prints MB/s of thread CPU time (so a busy machine does not skew it); asserts nothing.
//   bench_tokenizer [--hf DIR] [--llama2c FILE] [--text FILE] [--quick]
#include "hf_tokenizer.h"
#include "file_io.h"
#include "llama2c_tokenizer.h"
#include "naive_llama2c.h"

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <time.h>

namespace {

// CPU time of this thread: the machine may be shared, and one thread is what is measured.
double now() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Best of `reps` runs of fn(), in seconds.
template <class F> double best_time(int reps, F fn) {
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
        const double t0 = now();
        fn();
        best = std::min(best, now() - t0);
    }
    return best;
}

double mb(size_t bytes) { return double(bytes) / 1e6; }

} // namespace

int main(int argc, char **argv) {
    std::string hf = GPTQ_SHARED_DIR "/tokenizers/qwen3", l2c = GPTQ_SHARED_DIR "/models/stories260K/tok512.bin",
                text_path = GPTQ_SHARED_DIR "/data/wiki.test.raw";
    bool quick = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") quick = true;
        else if (i + 1 < argc && a == "--hf") hf = argv[++i];
        else if (i + 1 < argc && a == "--llama2c") l2c = argv[++i];
        else if (i + 1 < argc && a == "--text") text_path = argv[++i];
        else {
            std::fprintf(stderr, "usage: %s [--hf DIR] [--llama2c FILE] [--text FILE] [--quick]\n", argv[0]);
            return 2;
        }
    }
    try {
        std::string text = llama::read_text_file(text_path);
        if (quick) text.resize(std::min<size_t>(text.size(), 64 * 1024));
        std::printf("text: %s, %.2f MB\n", text_path.c_str(), mb(text.size()));

        double t0 = now();
        const llama::HfTokenizer tok(hf);
        std::printf("\nHugging Face %s: loaded in %.2f s\n", hf.c_str(), now() - t0);
        size_t n = 0;
        // First run with a cold word cache (a fresh tokenizer), then the best warm run.
        const double cold = best_time(1, [&] { n = tok.encode(text, false).size(); });
        const double warm = best_time(quick ? 1 : 3, [&] { n = tok.encode(text, false).size(); });
        std::printf("  whole text: %zu tokens, cold cache %.3f s = %.2f MB/s, warm cache %.3f s = %.2f MB/s\n",
                    n, cold, mb(text.size()) / cold, warm, mb(text.size()) / warm);

        const llama::Llama2cTokenizer l(l2c, 0);
        naive::Llama2cVocab v;
        if (!naive::read_llama2c_vocab(l2c, v)) throw std::runtime_error("cannot read " + l2c);
        std::printf("\nllama2.c %s (%lld tokens)\n", l2c.c_str(), (long long)l.size());
        std::printf("  %10s %14s %14s\n", "bytes", "priority MB/s", "rescan MB/s");
        for (size_t len : {size_t(4096), size_t(16384), size_t(32768)}) {
            if (quick && len > 4096) break;
            const std::string part = text.substr(0, std::min(len, text.size()));
            const double tq = best_time(3, [&] { n = l.encode(part, false).size(); });
            const double tn = best_time(1, [&] { n = naive::llama2c_encode(v, part).size(); });
            std::printf("  %10zu %14.2f %14.3f\n", part.size(), mb(part.size()) / tq, mb(part.size()) / tn);
        }
        const double tq = best_time(1, [&] { n = l.encode(text, false).size(); });
        std::printf("  whole text: %zu tokens in %.3f s = %.2f MB/s (priority queue; the rescan is\n"
                    "  quadratic: extrapolate from the table)\n",
                    n, tq, mb(text.size()) / tq);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bench_tokenizer: %s\n", e.what());
        return 1;
    }
    return 0;
}
