// A small fork-join pool sized to the cores: the calling thread works too, workers spin briefly
// after a job (kernels come in bursts) and then sleep.
#pragma once
#include <cstdint>
#include <atomic>
#include <functional>
#include <stdexcept>

namespace attnkit {

/** Runs fn(task) for task in [0, count), spread over the pool; returns when all are done. */
void parallel_for(int64_t count, const std::function<void(int64_t)>& fn);

/** Threads used by parallel_for (workers + the caller). */
int num_threads();

/** Resizes the pool (1 = run everything on the caller). */
void set_num_threads(int n);

/**
 * parallel_for for task bodies that may throw (an allocation that fails): a worker thread must
 * not let an exception escape, so the first failure is recorded, the remaining tasks are
 * skipped, and the calling thread throws it as a std::runtime_error.
 */
template <typename F>
void parallel_for_checked(int64_t count, const F& fn) {
  std::atomic<bool> failed{false};
  parallel_for(count, [&](int64_t task) {
    if (failed.load(std::memory_order_relaxed)) return;
    try {
      fn(task);
    } catch (...) {
      failed.store(true, std::memory_order_relaxed);
    }
  });
  if (failed.load()) throw std::runtime_error("a native kernel ran out of memory for its scratch");
}

}  // namespace attnkit
