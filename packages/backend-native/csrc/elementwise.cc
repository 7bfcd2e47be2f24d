#include "elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "exp_row.h"
#include "simd.h"
#include "threadpool.h"

namespace attnkit {
namespace {

// Work below this many elements runs on the calling thread: waking the pool costs more.
constexpr int64_t kParallelElements = 1 << 16;

template <int OP>
inline float apply(float x, float y) {
  if (OP == kAdd) return x + y;
  if (OP == kSub) return x - y;
  if (OP == kMul) return x * y;
  if (OP == kDiv) return x / y;
  if (OP == kMax) return (x != x || y != y) ? NAN : (x > y ? x : y);
  if (OP == kMin) return (x != x || y != y) ? NAN : (x < y ? x : y);
  float d = x - y;
  return d * d;
}

// Inner loops by stride pattern: both contiguous, one side a scalar, or general.
template <int OP>
ATTNKIT_CLONES void row(const float* a, int64_t sa, const float* b, int64_t sb, float* out,
                        int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; i++) out[i] = apply<OP>(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float y = b[0];
    for (int64_t i = 0; i < n; i++) out[i] = apply<OP>(a[i], y);
  } else if (sa == 0 && sb == 1) {
    const float x = a[0];
    for (int64_t i = 0; i < n; i++) out[i] = apply<OP>(x, b[i]);
  } else {
    for (int64_t i = 0; i < n; i++) out[i] = apply<OP>(a[i * sa], b[i * sb]);
  }
}

using RowFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t);
const RowFn kRows[kBinaryOpCount] = {row<kAdd>, row<kSub>, row<kMul>,        row<kDiv>,
                                     row<kMax>, row<kMin>, row<kSquaredDiff>};

// int32: Add and Sub wrap modulo 2^32 as JavaScript's Int32Array stores do; Max and Min.
template <int OP>
inline int32_t apply_i32(int32_t x, int32_t y) {
  const uint32_t ux = static_cast<uint32_t>(x), uy = static_cast<uint32_t>(y);
  if (OP == kAdd) return static_cast<int32_t>(ux + uy);
  if (OP == kSub) return static_cast<int32_t>(ux - uy);
  if (OP == kMax) return x > y ? x : y;
  return x < y ? x : y;
}

template <int OP>
ATTNKIT_CLONES void row_i32(const int32_t* a, int64_t sa, const int32_t* b, int64_t sb,
                            int32_t* out, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = apply_i32<OP>(a[i * sa], b[i * sb]);
}

using RowFnI32 = void (*)(const int32_t*, int64_t, const int32_t*, int64_t, int32_t*, int64_t);
RowFnI32 row_i32_of(int op) {
  switch (op) {
    case kAdd: return row_i32<kAdd>;
    case kSub: return row_i32<kSub>;
    case kMax: return row_i32<kMax>;
    case kMin: return row_i32<kMin>;
    default: return nullptr;
  }
}

/** Merges adjacent dimensions that are contiguous in every operand; returns the new rank. */
int collapse(int rank, int64_t* shape, int64_t* s0, int64_t* s1, int64_t* s2) {
  int out = 0;
  for (int d = 0; d < rank; d++) {
    if (shape[d] == 1) continue;  // size-1 dims never move the index
    if (out > 0 && s0[out - 1] == s0[d] * shape[d] && s1[out - 1] == s1[d] * shape[d] &&
        (!s2 || s2[out - 1] == s2[d] * shape[d])) {
      shape[out - 1] *= shape[d];
      s0[out - 1] = s0[d];
      s1[out - 1] = s1[d];
      if (s2) s2[out - 1] = s2[d];
      continue;
    }
    shape[out] = shape[d];
    s0[out] = s0[d];
    s1[out] = s1[d];
    if (s2) s2[out] = s2[d];
    out++;
  }
  if (out == 0) {
    shape[0] = 1;
    s0[0] = s1[0] = 1;
    if (s2) s2[0] = 1;
    out = 1;
  }
  return out;
}

}  // namespace

namespace {

/** The broadcasting loop of `binary`, for one element type and its row function. */
template <typename T, typename Fn>
void broadcast_rows(Fn fn, const T* a, const T* b, T* out, int rank, const int64_t* shapeIn,
                    const int64_t* aStridesIn, const int64_t* bStridesIn) {
  int64_t shape[8], sa[8], sb[8], so[8];
  int64_t total = 1;
  for (int d = 0; d < rank; d++) {
    shape[d] = shapeIn[d];
    sa[d] = aStridesIn[d];
    sb[d] = bStridesIn[d];
    total *= shape[d];
  }
  if (total == 0) return;
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; d--) {
    so[d] = stride;
    stride *= shape[d];
  }
  rank = collapse(rank, shape, so, sa, sb);
  const int64_t n = shape[rank - 1];
  const int64_t rows = total / n;
  auto run = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      int64_t rem = r, oa = 0, ob = 0;
      for (int d = rank - 2; d >= 0; d--) {
        const int64_t i = rem % shape[d];
        rem /= shape[d];
        oa += i * sa[d];
        ob += i * sb[d];
      }
      fn(a + oa, sa[rank - 1], b + ob, sb[rank - 1], out + r * n, n);
    }
  };
  if (total < kParallelElements || rows == 1) {
    if (rows == 1 && total >= kParallelElements && sa[0] <= 1 && sb[0] <= 1) {
      // One long row: split it.
      const int64_t chunks = 16, size = (n + chunks - 1) / chunks;
      parallel_for(chunks, [&](int64_t c) {
        const int64_t i0 = c * size, i1 = std::min(n, i0 + size);
        if (i0 < i1) fn(a + i0 * sa[0], sa[0], b + i0 * sb[0], sb[0], out + i0, i1 - i0);
      });
      return;
    }
    run(0, rows);
    return;
  }
  const int64_t chunks = std::min<int64_t>(rows, 64), size = (rows + chunks - 1) / chunks;
  parallel_for(chunks, [&](int64_t c) { run(c * size, std::min(rows, (c + 1) * size)); });
}

}  // namespace

void binary(int op, const float* a, const float* b, float* out, int rank, const int64_t* shape,
            const int64_t* aStrides, const int64_t* bStrides) {
  broadcast_rows(kRows[op], a, b, out, rank, shape, aStrides, bStrides);
}

bool binary_i32(int op, const int32_t* a, const int32_t* b, int32_t* out, int rank,
                const int64_t* shape, const int64_t* aStrides, const int64_t* bStrides) {
  const RowFnI32 fn = row_i32_of(op);
  if (!fn) return false;
  broadcast_rows(fn, a, b, out, rank, shape, aStrides, bStrides);
  return true;
}

namespace {

template <int OP>
inline float unary_apply(float x) {
  if (OP == kExp) return exp_f(x);
  if (OP == kNeg) return -x;
  if (OP == kSquare) return x * x;
  if (OP == kSigmoid) return 1.0f / (1.0f + exp_f(-x));
  if (OP == kRelu) return x < 0.0f ? 0.0f : x;  // NaN passes through, as in tfjs
  if (OP == kAbs) return std::fabs(x);
  if (OP == kReciprocal) return 1.0f / x;
  if (OP == kSqrt) return std::sqrt(x);
  if (OP == kRsqrt) return 1.0f / std::sqrt(x);
  if (OP == kLog) return std::log(x);
  if (OP == kSoftplus) {
    // tfjs' thresholds: exp(x) far below 0, x far above, else log(1 + exp(x)).
    const float threshold = -13.942385152878742f;  // log(float32 epsilon) + 2
    if (x < threshold) return exp_f(x);
    if (x > -threshold) return x;
    return std::log(1.0f + exp_f(x));
  }
  return std::tanh(x);
}

template <int OP>
ATTNKIT_CLONES void unary_loop(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = unary_apply<OP>(x[i]);
}

using UnaryFn = void (*)(const float*, float*, int64_t);
const UnaryFn kUnary[kUnaryOpCount] = {
    unary_loop<kExp>,     unary_loop<kLog>,  unary_loop<kNeg>,  unary_loop<kSqrt>,
    unary_loop<kRsqrt>,   unary_loop<kSquare>, unary_loop<kSigmoid>, unary_loop<kTanh>,
    unary_loop<kRelu>,    unary_loop<kAbs>,  unary_loop<kReciprocal>, unary_loop<kSoftplus>};

}  // namespace

// exp and sigmoid go through the explicit-AVX2 row exponential: inside the ISA clones GCC
// keeps exp_f's selects as branches and the loop runs scalar (200 µs for 32k sigmoids).
static void exp_block(const float* x, float* out, int64_t n) {
  if (out != x) std::memcpy(out, x, n * sizeof(float));
  exp_row_shifted(out, n, 0.0f);
}

static ATTNKIT_CLONES void sigmoid_block(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = -x[i];
  exp_row_shifted(out, n, 0.0f);
  for (int64_t i = 0; i < n; i++) out[i] = 1.0f / (1.0f + out[i]);
}

void unary(int op, const float* x, float* out, int64_t n) {
  const UnaryFn fn = op == kExp ? exp_block : op == kSigmoid ? sigmoid_block : kUnary[op];
  if (n < kParallelElements) {
    fn(x, out, n);
    return;
  }
  const int64_t chunks = 16, size = (n + chunks - 1) / chunks;
  parallel_for(chunks, [&](int64_t c) {
    const int64_t i0 = c * size, i1 = std::min(n, i0 + size);
    if (i0 < i1) fn(x + i0, out + i0, i1 - i0);
  });
}

namespace {

ATTNKIT_CLONES void softmax_rows(const float* x, float* out, int64_t r0, int64_t r1,
                                 int64_t cols) {
  for (int64_t r = r0; r < r1; r++) {
    const float* in = x + r * cols;
    float* o = out + r * cols;
    float max = -kInf;
    for (int64_t j = 0; j < cols; j++) max = in[j] > max ? in[j] : max;
    if (o != in) std::memcpy(o, in, cols * sizeof(float));
    exp_row_shifted(o, cols, max);
    float sum = 0.0f;
    for (int64_t j = 0; j < cols; j++) sum += o[j];
    const float inv = 1.0f / sum;
    for (int64_t j = 0; j < cols; j++) o[j] *= inv;
  }
}

}  // namespace

void softmax(const float* x, float* out, int64_t rows, int64_t cols) {
  if (rows * cols < kParallelElements || rows == 1) {
    softmax_rows(x, out, 0, rows, cols);
    return;
  }
  const int64_t chunks = std::min<int64_t>(rows, 64), size = (rows + chunks - 1) / chunks;
  parallel_for(chunks, [&](int64_t c) {
    softmax_rows(x, out, c * size, std::min(rows, (c + 1) * size), cols);
  });
}

namespace {

template <int OP>
inline float reduce_init() {
  if (OP == kMaxR) return -kInf;
  if (OP == kMinR) return kInf;
  return 0.0f;
}

template <int OP>
inline float combine(float acc, float v) {
  if (OP == kMaxR) return (acc != acc || v != v) ? NAN : (v > acc ? v : acc);
  if (OP == kMinR) return (acc != acc || v != v) ? NAN : (v < acc ? v : acc);
  return acc + v;
}

template <int OP>
ATTNKIT_CLONES void reduce_block(const float* x, float* out, int64_t o0, int64_t o1, int64_t r,
                                 int64_t inner) {
  for (int64_t o = o0; o < o1; o++) {
    const float* in = x + o * r * inner;
    float* dst = out + o * inner;
    if (inner == 1) {
      // Eight partial accumulators keep the loop vectorisable without reassociation flags.
      float acc[8];
      for (int q = 0; q < 8; q++) acc[q] = reduce_init<OP>();
      int64_t j = 0;
      for (; j + 8 <= r; j += 8)
        for (int q = 0; q < 8; q++) acc[q] = combine<OP>(acc[q], in[j + q]);
      float total = reduce_init<OP>();
      for (int q = 0; q < 8; q++) total = combine<OP>(total, acc[q]);
      for (; j < r; j++) total = combine<OP>(total, in[j]);
      dst[0] = OP == kMean ? total / static_cast<float>(r) : total;
    } else {
      for (int64_t i = 0; i < inner; i++) dst[i] = reduce_init<OP>();
      for (int64_t j = 0; j < r; j++) {
        const float* src = in + j * inner;
        for (int64_t i = 0; i < inner; i++) dst[i] = combine<OP>(dst[i], src[i]);
      }
      if (OP == kMean) {
        const float n = static_cast<float>(r);
        for (int64_t i = 0; i < inner; i++) dst[i] /= n;
      }
    }
  }
}

using ReduceFn = void (*)(const float*, float*, int64_t, int64_t, int64_t, int64_t);
const ReduceFn kReduce[kReduceOpCount] = {reduce_block<kSum>, reduce_block<kMean>,
                                          reduce_block<kMaxR>, reduce_block<kMinR>};

}  // namespace

void reduce(int op, const float* x, float* out, int64_t outer, int64_t r, int64_t inner) {
  const ReduceFn fn = kReduce[op];
  if (outer * r * inner < kParallelElements || outer == 1) {
    if (outer == 1 && inner >= 64 && r * inner >= kParallelElements) {
      // Reduce over the leading axis of a matrix: split the columns.
      const int64_t chunks = std::min<int64_t>(16, inner / 16);
      const int64_t size = (inner + chunks - 1) / chunks;
      parallel_for(chunks, [&](int64_t c) {
        const int64_t i0 = c * size, i1 = std::min(inner, i0 + size);
        if (i0 >= i1) return;
        // Column slab [i0, i1): run the same loop on a strided view.
        for (int64_t i = i0; i < i1; i++) out[i] = reduce_init<0>();
        float* dst = out + i0;
        const int64_t w = i1 - i0;
        if (op == kSum || op == kMean) {
          for (int64_t i = 0; i < w; i++) dst[i] = 0.0f;
          for (int64_t j = 0; j < r; j++) {
            const float* src = x + j * inner + i0;
            for (int64_t i = 0; i < w; i++) dst[i] += src[i];
          }
          if (op == kMean)
            for (int64_t i = 0; i < w; i++) dst[i] /= static_cast<float>(r);
        } else {
          const bool isMax = op == kMaxR;
          for (int64_t i = 0; i < w; i++) dst[i] = x[i0 + i];
          for (int64_t j = 1; j < r; j++) {
            const float* src = x + j * inner + i0;
            for (int64_t i = 0; i < w; i++) {
              const float v = src[i], acc = dst[i];
              dst[i] = (acc != acc || v != v) ? NAN : (isMax ? (v > acc ? v : acc) : (v < acc ? v : acc));
            }
          }
        }
      });
      return;
    }
    fn(x, out, 0, outer, r, inner);
    return;
  }
  const int64_t chunks = std::min<int64_t>(outer, 64), size = (outer + chunks - 1) / chunks;
  parallel_for(chunks, [&](int64_t c) { fn(x, out, c * size, std::min(outer, (c + 1) * size), r, inner); });
}

namespace {

// Restrict: seven arrays are too many for the vectoriser's run-time alias checks. Outputs
// never overlap inputs (the kernel allocates them).
ATTNKIT_CLONES void adamw_range(const float* ATTNKIT_RESTRICT p, const float* ATTNKIT_RESTRICT m,
                                const float* ATTNKIT_RESTRICT v, const float* ATTNKIT_RESTRICT g,
                                float* ATTNKIT_RESTRICT pOut, float* ATTNKIT_RESTRICT mOut,
                                float* ATTNKIT_RESTRICT vOut, int64_t n, AdamWParams a) {
  // Same float32 operations, in the same order, as the composite in @attnkit/models' AdamW
  // (no contraction into FMAs: -ffp-contract=off), so both give the same bits.
  const float b1 = a.beta1, b2 = a.beta2, ob1 = a.oneMinusBeta1, ob2 = a.oneMinusBeta2;
  const float c1 = a.c1, c2 = a.c2, eps = a.epsilon, wd = a.weightDecay, lr = a.lr;
  const bool decay = wd != 0.0f;
  const float scale = a.gradScale;
  for (int64_t i = 0; i < n; i++) {
    const float gi = g[i] * scale, pi = p[i];
    const float m1 = m[i] * b1 + gi * ob1;
    const float v1 = v[i] * b2 + (gi * gi) * ob2;
    const float update = (m1 / c1) / (std::sqrt(v1 / c2) + eps);
    const float decayed = decay ? update + pi * wd : update;
    pOut[i] = pi - decayed * lr;
    mOut[i] = m1;
    vOut[i] = v1;
  }
}

}  // namespace

void adamw(const float* p, const float* m, const float* v, const float* g, float* pOut, float* mOut,
           float* vOut, int64_t n, const AdamWParams& a) {
  if (n < kParallelElements) {
    adamw_range(p, m, v, g, pOut, mOut, vOut, n, a);
    return;
  }
  const int64_t chunks = 16, size = (n + chunks - 1) / chunks;
  parallel_for(chunks, [&](int64_t c) {
    const int64_t i0 = c * size, i1 = std::min(n, i0 + size);
    if (i0 < i1) adamw_range(p + i0, m + i0, v + i0, g + i0, pOut + i0, mOut + i0, vOut + i0, i1 - i0, a);
  });
}

double sum_of_squares(const float* x, int64_t n) {
  auto range = [x](int64_t i0, int64_t i1) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = i0;
    for (; i + 8 <= i1; i += 8)
      for (int q = 0; q < 8; q++) acc[q] += static_cast<double>(x[i + q]) * x[i + q];
    for (; i < i1; i++) acc[0] += static_cast<double>(x[i]) * x[i];
    double sum = 0;
    for (int q = 0; q < 8; q++) sum += acc[q];
    return sum;
  };
  constexpr int64_t chunks = 16;
  if (n < kParallelElements) return range(0, n);
  const int64_t size = (n + chunks - 1) / chunks;
  double partial[chunks] = {};
  parallel_for(chunks, [&](int64_t c) {
    const int64_t i0 = c * size, i1 = std::min(n, i0 + size);
    if (i0 < i1) partial[c] = range(i0, i1);
  });
  double sum = 0;
  for (int64_t c = 0; c < chunks; c++) sum += partial[c];
  return sum;
}

namespace {

template <typename T>
void copy_rows(const T* src, T* dst, int rank, const int64_t* shape, const int64_t* ss,
               const int64_t* ds, int64_t r0, int64_t r1) {
  const int64_t n = shape[rank - 1], s = ss[rank - 1], d = ds[rank - 1];
  for (int64_t r = r0; r < r1; r++) {
    int64_t rem = r, os = 0, od = 0;
    for (int k = rank - 2; k >= 0; k--) {
      const int64_t i = rem % shape[k];
      rem /= shape[k];
      os += i * ss[k];
      od += i * ds[k];
    }
    const T* in = src + os;
    T* out = dst + od;
    if (s == 1 && d == 1) {
      std::memcpy(out, in, n * sizeof(T));
    } else if (s == 0) {
      for (int64_t i = 0; i < n; i++) out[i * d] = in[0];
    } else {
      for (int64_t i = 0; i < n; i++) out[i * d] = in[i * s];
    }
  }
}

}  // namespace

void copy_strided(const void* src, void* dst, int elementBytes, int rankIn, const int64_t* shapeIn,
                  const int64_t* srcStridesIn, const int64_t* dstStridesIn) {
  int64_t shape[12], ss[12], ds[12];
  int64_t total = 1;
  for (int k = 0; k < rankIn; k++) {
    shape[k] = shapeIn[k];
    ss[k] = srcStridesIn[k];
    ds[k] = dstStridesIn[k];
    total *= shape[k];
  }
  if (total == 0) return;
  const int rank = collapse(rankIn, shape, ds, ss, nullptr);
  const int64_t rows = total / shape[rank - 1];
  auto run = [&](int64_t r0, int64_t r1) {
    if (elementBytes == 4) {
      copy_rows(static_cast<const uint32_t*>(src), static_cast<uint32_t*>(dst), rank, shape, ss,
                ds, r0, r1);
    } else {
      copy_rows(static_cast<const uint8_t*>(src), static_cast<uint8_t*>(dst), rank, shape, ss,
                ds, r0, r1);
    }
  };
  if (total < 4 * kParallelElements || rows < 4) {
    run(0, rows);
    return;
  }
  const int64_t chunks = std::min<int64_t>(rows, 64), size = (rows + chunks - 1) / chunks;
  parallel_for(chunks, [&](int64_t c) { run(c * size, std::min(rows, (c + 1) * size)); });
}

}  // namespace attnkit
