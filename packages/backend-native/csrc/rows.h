// Splitting row-wise work over the pool: fixed blocks of rows, so a reduction over rows adds the
// blocks' partial sums in the same order whatever the thread count (results never depend on it).
#pragma once
#include <algorithm>
#include <cstdint>

#include "threadpool.h"

namespace attnkit {

/** Rows per block: a block is one task, and the unit of a cross-row partial sum. */
inline int64_t row_block(int64_t rows, int64_t cols) {
  const int64_t target = 1 << 14;  // elements per task: below this, waking threads costs more
  return std::max<int64_t>(1, std::min<int64_t>(rows, target / std::max<int64_t>(1, cols)));
}

/** fn(block, r0, r1) over blocks of `row_block` rows; on the calling thread when small. */
template <typename F>
void for_row_blocks(int64_t rows, int64_t cols, const F& fn) {
  const int64_t size = row_block(rows, cols), blocks = (rows + size - 1) / size;
  if (blocks <= 1) {
    if (rows > 0) fn(0, 0, rows);
    return;
  }
  parallel_for(blocks, [&](int64_t i) { fn(i, i * size, std::min(rows, (i + 1) * size)); });
}

}  // namespace attnkit
