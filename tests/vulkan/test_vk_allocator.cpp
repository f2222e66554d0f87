// RangeAllocator, the bookkeeping under the Vulkan memory arena, against a naive model: a
// byte map of which bytes are taken. Random allocate/free sequences must never hand out
// overlapping or misaligned ranges, must find room whenever the model has an aligned hole,
// and must coalesce back to a single free range when everything is returned.
#include "backends/vulkan/vk_range_allocator.h"

#include <cstdint>
#include <random>
#include <vector>

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
}

using gptq::vk::RangeAllocator;

namespace {

struct Live {
    uint64_t offset, size;
};

// Whether the model has `size` free bytes at some multiple of `align`.
bool model_fits(const std::vector<bool> &taken, uint64_t size, uint64_t align) {
    for (uint64_t at = 0; at + size <= taken.size(); at += align) {
        bool free = true;
        for (uint64_t i = at; i < at + size && free; ++i) free = !taken[i];
        if (free) return true;
    }
    return false;
}

void test_basic(void **) {
    RangeAllocator a(1024);
    const uint64_t x = a.allocate(100, 1);
    const uint64_t y = a.allocate(100, 256);
    assert_int_equal(x, 0);
    assert_int_equal(y, 256);
    assert_int_equal(a.used(), 200);
    // The 156-byte gap between them is still usable.
    assert_int_equal(a.allocate(150, 4), 100);
    assert_int_equal(a.allocate(2000, 1), RangeAllocator::kNone);
    a.free(x, 100);
    a.free(y, 100);
    a.free(100, 150);
    assert_true(a.empty());
    assert_int_equal(a.free_ranges(), 1);
    assert_int_equal(a.allocate(1024, 1), 0);  // whole block again
}

void test_random_against_model(void **) {
    std::mt19937_64 gen(7);
    const uint64_t cap = 4096;
    RangeAllocator a(cap);
    std::vector<bool> taken(cap, false);
    std::vector<Live> live;
    for (int step = 0; step < 20000; ++step) {
        if (!live.empty() && gen() % 3 == 0) {
            const size_t i = size_t(gen() % live.size());
            a.free(live[i].offset, live[i].size);
            for (uint64_t b = live[i].offset; b < live[i].offset + live[i].size; ++b)
                taken[b] = false;
            live[i] = live.back();
            live.pop_back();
            continue;
        }
        const uint64_t size = 1 + gen() % 300;
        const uint64_t align = uint64_t(1) << (gen() % 8);
        const uint64_t at = a.allocate(size, align);
        if (at == RangeAllocator::kNone) {
            // First-fit over coalesced ranges fails only when no aligned hole exists.
            assert_false(model_fits(taken, size, align));
            continue;
        }
        assert_int_equal(at % align, 0);
        assert_true(at + size <= cap);
        for (uint64_t b = at; b < at + size; ++b) {
            assert_false(taken[b]);
            taken[b] = true;
        }
        live.push_back({at, size});
    }
    for (const Live &l : live) a.free(l.offset, l.size);
    assert_true(a.empty());
    assert_int_equal(a.free_ranges(), 1);
}

void test_bad_free(void **) {
    RangeAllocator a(256);
    const uint64_t x = a.allocate(64, 1);
    a.free(x, 64);
    bool threw = false;
    try {
        a.free(x, 64);  // double free is an internal error, not silent corruption
    } catch (const std::exception &) {
        threw = true;
    }
    assert_true(threw);
}

} // namespace

int main() {
    const CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_random_against_model),
        cmocka_unit_test(test_bad_free),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
