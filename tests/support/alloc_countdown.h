// A countdown allocator for allocation-failure sweeps. alloc_countdown.cpp replaces every
// global operator new/delete; linked into a test executable, it is also what libgptq.so's
// std::vector/std::string/std::thread allocations bind to. Compile it into ONE executable
// only (never into a support library other tests link): it changes the program's allocator.
#pragma once

namespace alloc_countdown {

struct Stats {
    long allocations = 0;     // operator new calls (all threads) while armed
    long failed = 0;          // how many of them were made to fail
    bool failed_nothrow = false;  // the first failed one was a nothrow form (returns NULL)
    bool failed_off_thread = false;  // ... and happened on a thread other than arm()'s
};

// Starts counting allocations on every thread. The fail_at-th one (1-based) throws
// std::bad_alloc, or returns NULL for the nothrow forms; fail_at == 0 only counts. sticky:
// every allocation after it fails as well (memory that stays exhausted).
void arm(long fail_at, bool sticky = false);

// Stops counting and failing; returns what happened since arm().
Stats disarm();

} // namespace alloc_countdown
