#include "topk.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "rows.h"

namespace attnkit {

bool top_k(const float* x, int64_t rows, int64_t n, int64_t k, float* values, int32_t* indices) {
  std::atomic<bool> finite{true};
  for_row_blocks(rows, n, [&](int64_t, int64_t r0, int64_t r1) {
    std::vector<int32_t> order(n);
    for (int64_t r = r0; r < r1 && finite.load(std::memory_order_relaxed); r++) {
      const float* row = x + r * n;
      for (int64_t i = 0; i < n; i++) {
        if (!std::isfinite(row[i])) {
          finite.store(false, std::memory_order_relaxed);
          return;
        }
        order[i] = static_cast<int32_t>(i);
      }
      // A strict total order (value, then index), so the k best and their order are unique.
      auto better = [row](int32_t a, int32_t b) {
        return row[a] > row[b] || (row[a] == row[b] && a < b);
      };
      std::partial_sort(order.begin(), order.begin() + k, order.end(), better);
      for (int64_t j = 0; j < k; j++) {
        indices[r * k + j] = order[j];
        values[r * k + j] = row[order[j]];
      }
    }
  });
  return finite.load();
}

}  // namespace attnkit
