// A small fork-join pool sized to the cores: the calling thread works too, workers spin briefly
// after a job (kernels come in bursts) and then sleep.
#pragma once
#include <cstdint>
#include <functional>

namespace attnkit {

/** Runs fn(task) for task in [0, count), spread over the pool; returns when all are done. */
void parallel_for(int64_t count, const std::function<void(int64_t)>& fn);

/** Threads used by parallel_for (workers + the caller). */
int num_threads();

/** Resizes the pool (1 = run everything on the caller). */
void set_num_threads(int n);

}  // namespace attnkit
