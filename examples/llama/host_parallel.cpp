#include "host_parallel.h"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <thread>
#include <vector>

namespace llama {

int host_threads() {
    static const int n = [] {
        if (const char *e = std::getenv("GPTQ_HOST_THREADS")) {
            const int v = std::atoi(e);
            if (v >= 1) return v;
        }
        return int(std::max(1u, std::thread::hardware_concurrency()));
    }();
    return n;
}

void parallel_ranges(int64_t n, double work, const std::function<void(int64_t, int64_t)> &fn) {
    const int64_t parts = std::min<int64_t>(n, work < 1e5 ? 1 : host_threads());
    if (parts <= 1) {
        if (n > 0) fn(0, n);
        return;
    }
    std::vector<std::thread> threads;
    std::vector<std::exception_ptr> errors(static_cast<size_t>(parts));
    auto run = [&](int64_t p) {
        try {
            fn(n * p / parts, n * (p + 1) / parts);
        } catch (...) {
            errors[size_t(p)] = std::current_exception();
        }
    };
    threads.reserve(size_t(parts - 1));
    for (int64_t p = 1; p < parts; ++p) threads.emplace_back(run, p);
    run(0);
    for (std::thread &t : threads) t.join();
    for (const auto &e : errors)
        if (e) std::rethrow_exception(e);
}

float dot(const float *a, const float *b, int64_t n) {
    float acc[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

} // namespace llama
