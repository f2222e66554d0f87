// A small persistent thread pool for the CPU backend. One pool per backend (per gptq_ctx);
// the calling thread takes part in every parallel_for, so a pool of size 1 has no workers.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace gptq::cpu {

class ThreadPool {
public:
    // n_threads <= 0 means std::thread::hardware_concurrency().
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool &) = delete;
    ThreadPool &operator=(const ThreadPool &) = delete;

    int size() const { return size_; }

    // Runs fn(task, thread) for every task in [0, n_tasks), thread in [0, size()). Tasks are
    // handed out dynamically. A parallel_for issued from inside a task runs serially on that
    // thread (no nested parallelism). The first exception thrown by a task is rethrown here
    // after all tasks have stopped.
    template <class F>
    void parallel_for(int64_t n_tasks, F &&fn) {
        using Fn = std::remove_reference_t<F>;
        run(n_tasks,
            [](void *ctx, int64_t task, int thread) { (*static_cast<Fn *>(ctx))(task, thread); },
            const_cast<void *>(static_cast<const void *>(&fn)));
    }

private:
    using TaskFn = void (*)(void *, int64_t, int);
    void run(int64_t n_tasks, TaskFn fn, void *ctx);
    void worker(int index);
    void work(int thread);

    int size_ = 1;
    std::vector<std::thread> threads_;
    std::mutex mu_;
    std::condition_variable start_cv_, done_cv_;
    uint64_t generation_ = 0;
    bool stop_ = false;
    int active_ = 0;  // workers still inside the current job

    // The current job (valid while a run() is in progress).
    TaskFn fn_ = nullptr;
    void *ctx_ = nullptr;
    int64_t n_tasks_ = 0;
    int64_t next_ = 0;  // guarded by mu_
    std::exception_ptr error_;
};

// Splits [0, n) into `parts` near-equal contiguous ranges; returns range `i` as [begin, end).
inline void split_range(int64_t n, int64_t parts, int64_t i, int64_t *begin, int64_t *end) {
    const int64_t base = n / parts, rem = n % parts;
    *begin = i * base + (i < rem ? i : rem);
    *end = *begin + base + (i < rem ? 1 : 0);
}

} // namespace gptq::cpu
