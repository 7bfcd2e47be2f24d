#include "threadpool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define ATTNKIT_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define ATTNKIT_PAUSE() asm volatile("yield")
#else
#define ATTNKIT_PAUSE() ((void)0)
#endif

namespace attnkit {
namespace {

class Pool {
 public:
  explicit Pool(int threads) { start(threads); }
  ~Pool() { stop(); }

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int threads) {
    std::lock_guard<std::mutex> run(run_mutex_);
    stop();
    start(threads);
  }

  void run(int64_t count, const std::function<void(int64_t)>& fn) {
    if (count <= 0) return;
    // Inline when there is nothing to share, or when called from inside a task (no nesting).
    if (workers_.empty() || count == 1 || inside_ || count > static_cast<int64_t>(kMask)) {
      for (int64_t i = 0; i < count; i++) fn(i);
      return;
    }
    std::lock_guard<std::mutex> run(run_mutex_);
    fn_ = &fn;
    done_.store(0, std::memory_order_relaxed);
    job_ += 1;
    // One word holds job id, task count and next task, so a worker still finishing an older job
    // can never take a task of this one with stale bounds.
    state_.store(((job_ & 0xffff) << 48) | (static_cast<uint64_t>(count) << 24),
                 std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    work();
    // Wait for tasks, not for workers: a worker still asleep simply finds nothing left.
    while (done_.load(std::memory_order_acquire) != count) ATTNKIT_PAUSE();
  }

 private:
  void work() {
    inside_ = true;
    uint64_t s = state_.load(std::memory_order_acquire);
    for (;;) {
      uint64_t index = s & kMask, count = (s >> 24) & kMask;
      if (index >= count) break;
      if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) continue;
      (*fn_)(static_cast<int64_t>(index));
      done_.fetch_add(1, std::memory_order_release);
      s = state_.load(std::memory_order_acquire);
    }
    inside_ = false;
  }

  void loop() {
    uint64_t seen = generation_.load(std::memory_order_acquire);
    for (;;) {
      // Spin a little before sleeping: the next kernel usually follows within microseconds.
      auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(100);
      while (generation_.load(std::memory_order_acquire) == seen && !quit_.load() &&
             std::chrono::steady_clock::now() < until) {
        for (int s = 0; s < 32; s++) ATTNKIT_PAUSE();
      }
      if (generation_.load(std::memory_order_acquire) == seen && !quit_.load()) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] {
          return generation_.load(std::memory_order_acquire) != seen || quit_.load();
        });
      }
      if (quit_.load()) return;
      seen = generation_.load(std::memory_order_acquire);
      work();
    }
  }

  void start(int threads) {
    quit_.store(false);
    for (int i = 1; i < threads; i++) workers_.emplace_back([this] { loop(); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      quit_.store(true);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex run_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> quit_{false};
  static constexpr uint64_t kMask = (1ull << 24) - 1;
  std::atomic<uint64_t> state_{0};
  uint64_t job_ = 0;
  std::atomic<int64_t> done_{0};
  const std::function<void(int64_t)>* fn_ = nullptr;
  static thread_local bool inside_;
};

thread_local bool Pool::inside_ = false;

int default_threads() {
  if (const char* env = std::getenv("ATTNKIT_NATIVE_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1 && n <= 256) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

Pool& pool() {
  // Leaked on purpose: joining threads from a static destructor at process exit can deadlock.
  static Pool* instance = new Pool(default_threads());
  return *instance;
}

}  // namespace

void parallel_for(int64_t count, const std::function<void(int64_t)>& fn) { pool().run(count, fn); }

int num_threads() { return pool().threads(); }

void set_num_threads(int n) { pool().resize(n < 1 ? 1 : n); }

}  // namespace attnkit
