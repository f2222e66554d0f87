#include "backends/cpu/thread_pool.h"

namespace gptq::cpu {

namespace {
// True on a thread that is currently running pool tasks: nested parallel_for runs inline.
thread_local bool t_in_task = false;
thread_local int t_thread = 0;  // this thread's index while t_in_task
} // namespace

ThreadPool::ThreadPool(int n_threads) {
    if (n_threads <= 0) {
        const unsigned hc = std::thread::hardware_concurrency();
        n_threads = hc == 0 ? 1 : int(hc);
    }
    size_ = n_threads;
    threads_.reserve(size_t(size_ - 1));
    try {
        for (int i = 1; i < size_; ++i) threads_.emplace_back([this, i] { worker(i); });
    } catch (...) {
        // Could not start all threads (resource limits): run with what we have.
        size_ = int(threads_.size()) + 1;
    }
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    start_cv_.notify_all();
    for (auto &t : threads_) t.join();
}

// Claims tasks one at a time under the mutex: tasks are coarse (a GEMM tile, a row range),
// so the lock is cheap next to the work and keeps the bookkeeping obviously correct.
void ThreadPool::work(int thread) {
    t_in_task = true;
    t_thread = thread;
    for (;;) {
        int64_t task;
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (next_ >= n_tasks_ || error_) break;
            task = next_++;
        }
        try {
            fn_(ctx_, task, thread);
        } catch (...) {
            std::lock_guard<std::mutex> lock(mu_);
            if (!error_) error_ = std::current_exception();
        }
    }
    t_in_task = false;
}

void ThreadPool::worker(int index) {
    uint64_t seen = 0;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mu_);
            start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
        }
        work(index);
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (--active_ == 0) done_cv_.notify_one();
        }
    }
}

void ThreadPool::run(int64_t n_tasks, TaskFn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (t_in_task || threads_.empty() || n_tasks == 1) {
        // Keep the caller's thread index so per-thread scratch indexed by it stays private.
        const int thread = t_in_task ? t_thread : 0;
        for (int64_t t = 0; t < n_tasks; ++t) fn(ctx, t, thread);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        fn_ = fn;
        ctx_ = ctx;
        n_tasks_ = n_tasks;
        next_ = 0;
        error_ = nullptr;
        active_ = int(threads_.size());
        ++generation_;
    }
    start_cv_.notify_all();
    work(0);
    std::exception_ptr err;
    {
        std::unique_lock<std::mutex> lock(mu_);
        done_cv_.wait(lock, [&] { return active_ == 0; });
        err = error_;
        error_ = nullptr;
        fn_ = nullptr;
        ctx_ = nullptr;
    }
    if (err) std::rethrow_exception(err);
}

} // namespace gptq::cpu
