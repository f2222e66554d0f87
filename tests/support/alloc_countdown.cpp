// Replacement global allocation functions (all the forms C++17 lets a program replace) with
// a countdown that makes one chosen allocation (or every one from it on) fail. Storage comes
// from malloc/free, so AddressSanitizer's LeakSanitizer still sees every block.
#include "alloc_countdown.h"

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace {

std::atomic<bool> g_armed{false};
std::atomic<long> g_seen{0};
std::atomic<long> g_fail_at{0};
std::atomic<bool> g_sticky{false};
std::atomic<long> g_failed{0};
std::atomic<bool> g_failed_nothrow{false};
std::atomic<bool> g_failed_off_thread{false};
thread_local bool t_armed_here = false;  // this thread called arm()

// Counts this allocation (when armed); true if it is to fail. Worker threads of the library
// allocate too, hence atomics: exactly one allocation sees g_seen == g_fail_at.
bool this_one_fails(bool nothrow) {
    if (!g_armed.load(std::memory_order_acquire)) return false;
    const long n = g_seen.fetch_add(1, std::memory_order_relaxed) + 1;
    const long at = g_fail_at.load(std::memory_order_relaxed);
    if (at == 0 || n < at || (n > at && !g_sticky.load(std::memory_order_relaxed))) return false;
    g_failed.fetch_add(1, std::memory_order_relaxed);
    if (n == at) {
        if (nothrow) g_failed_nothrow.store(true, std::memory_order_relaxed);
        if (!t_armed_here) g_failed_off_thread.store(true, std::memory_order_relaxed);
    }
    return true;
}

// No new_handler loop: the library under test never installs one, and a failing allocation
// is exactly what the sweep wants the library to see.
void *allocate(std::size_t size, std::size_t align, bool nothrow) {
    if (this_one_fails(nothrow)) {
        if (nothrow) return nullptr;
        throw std::bad_alloc();
    }
    if (size == 0) size = 1;
    void *p = nullptr;
    if (align <= alignof(std::max_align_t)) {
        p = std::malloc(size);
    } else {
        if (align < sizeof(void *)) align = sizeof(void *);
        if (posix_memalign(&p, align, size) != 0) p = nullptr;
    }
    if (!p && !nothrow) throw std::bad_alloc();
    return p;
}

constexpr std::size_t kPlain = alignof(std::max_align_t);

} // namespace

namespace alloc_countdown {

void arm(long fail_at, bool sticky) {
    g_sticky.store(sticky, std::memory_order_relaxed);
    g_seen.store(0, std::memory_order_relaxed);
    g_failed.store(0, std::memory_order_relaxed);
    g_failed_nothrow.store(false, std::memory_order_relaxed);
    g_failed_off_thread.store(false, std::memory_order_relaxed);
    t_armed_here = true;
    g_fail_at.store(fail_at, std::memory_order_relaxed);
    g_armed.store(true, std::memory_order_release);
}

Stats disarm() {
    g_armed.store(false, std::memory_order_release);
    t_armed_here = false;
    Stats s;
    s.allocations = g_seen.load(std::memory_order_relaxed);
    s.failed = g_failed.load(std::memory_order_relaxed);
    s.failed_nothrow = g_failed_nothrow.load(std::memory_order_relaxed);
    s.failed_off_thread = g_failed_off_thread.load(std::memory_order_relaxed);
    return s;
}

} // namespace alloc_countdown

void *operator new(std::size_t n) { return allocate(n, kPlain, false); }
void *operator new[](std::size_t n) { return allocate(n, kPlain, false); }
void *operator new(std::size_t n, const std::nothrow_t &) noexcept {
    return allocate(n, kPlain, true);
}
void *operator new[](std::size_t n, const std::nothrow_t &) noexcept {
    return allocate(n, kPlain, true);
}
void *operator new(std::size_t n, std::align_val_t a) {
    return allocate(n, std::size_t(a), false);
}
void *operator new[](std::size_t n, std::align_val_t a) {
    return allocate(n, std::size_t(a), false);
}
void *operator new(std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
    return allocate(n, std::size_t(a), true);
}
void *operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
    return allocate(n, std::size_t(a), true);
}

void operator delete(void *p) noexcept { std::free(p); }
void operator delete[](void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }
void operator delete[](void *p, std::size_t) noexcept { std::free(p); }
void operator delete(void *p, const std::nothrow_t &) noexcept { std::free(p); }
void operator delete[](void *p, const std::nothrow_t &) noexcept { std::free(p); }
void operator delete(void *p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void *p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void *p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void *p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept {
    std::free(p);
}
void operator delete[](void *p, std::align_val_t, const std::nothrow_t &) noexcept {
    std::free(p);
}
