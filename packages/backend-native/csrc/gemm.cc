#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "gemm_pack.h"
#include "simd.h"
#include "threadpool.h"
#include "vec8.h"

namespace attnkit {
namespace {

KernelInfo pick_kernel() {
  // ATTNKIT_NATIVE_ISA=generic|avx2|avx512|neon forces one (tests of the fallbacks).
  const char* forced = std::getenv("ATTNKIT_NATIVE_ISA");
  const std::string want = forced ? forced : "";
  const KernelInfo candidates[] = {gemm_kernel_avx512(), gemm_kernel_avx2(), gemm_kernel_neon(),
                                   gemm_kernel_generic()};
  const char* tags[] = {"avx512", "avx2", "neon", "generic"};
  for (int i = 0; i < 4; i++) {
    if (!candidates[i].fn) continue;
    if (want.empty() || want == tags[i]) return candidates[i];
  }
  return gemm_kernel_generic();
}

const KernelInfo& kernel() {
  static const KernelInfo k = pick_kernel();
  return k;
}

struct Blocking {
  int64_t kc, mc, nc;
};

Blocking blocking(const KernelInfo& k) {
  // B's KC×NR micro-panel in half of a 32 KiB L1, but KC at least 256: for the 32-wide AVX-512
  // kernel that fills L1 and measured faster (a K = 256 product, every projection of a
  // d_model-256 layer, then takes one pass over C instead of two). A's MC×KC block in L2.
  int64_t kc = std::min<int64_t>(384, std::max<int64_t>(256, 16384 / (k.nr * 4)));
  int64_t mc = k.mr * std::max<int64_t>(1, 192 / k.mr);
  int64_t nc = k.nr * std::max<int64_t>(1, 1024 / k.nr);
  return {kc, mc, nc};
}

// 64-byte aligned scratch that grows and is reused per thread.
float* scratch(std::vector<float>& v, size_t floats) {
  if (v.size() < floats + 16) v.resize(floats + 16);
  uintptr_t p = reinterpret_cast<uintptr_t>(v.data());
  return reinterpret_cast<float*>((p + 63) & ~uintptr_t(63));
}

/** Packs rows [0,mc) × cols [0,kc) of A into MR-high panels, k-major, zero-padded. */
void pack_a(int64_t mc, int64_t kc, const float* a, int64_t rs, int64_t cs, int mr, float* out) {
  for (int64_t i0 = 0; i0 < mc; i0 += mr) {
    const int64_t rows = std::min<int64_t>(mr, mc - i0);
    if (cs == 1) {
      pack_rows_transposed(a + i0 * rs, rs, kc, mr, static_cast<int>(rows), out);
    } else {
      for (int64_t k = 0; k < kc; k++) {
        const float* src = a + i0 * rs + k * cs;
        for (int64_t r = 0; r < rows; r++) out[k * mr + r] = src[r * rs];
      }
    }
    if (rows < mr) {
      for (int64_t k = 0; k < kc; k++)
        for (int64_t r = rows; r < mr; r++) out[k * mr + r] = 0.f;
    }
    out += kc * mr;
  }
}

/** Packs rows [0,kc) × cols [0,nc) of B into NR-wide panels, k-major, zero-padded. */
void pack_b(int64_t kc, int64_t nc, const float* b, int64_t rs, int64_t cs, int nr, float* out) {
  for (int64_t j0 = 0; j0 < nc; j0 += nr) {
    const int64_t cols = std::min<int64_t>(nr, nc - j0);
    if (cs == 1) {
      for (int64_t k = 0; k < kc; k++) {
        const float* src = b + k * rs + j0;
        float* dst = out + k * nr;
        std::memcpy(dst, src, cols * sizeof(float));
        for (int64_t c = cols; c < nr; c++) dst[c] = 0.f;
      }
    } else {
      if (rs == 1) {
        pack_rows_transposed(b + j0 * cs, cs, kc, nr, static_cast<int>(cols), out);
      } else {
        for (int64_t c = 0; c < cols; c++) {
          const float* src = b + (j0 + c) * cs;
          for (int64_t k = 0; k < kc; k++) out[k * nr + c] = src[k * rs];
        }
      }
      for (int64_t k = 0; k < kc; k++)
        for (int64_t c = cols; c < nr; c++) out[k * nr + c] = 0.f;
    }
    out += kc * nr;
  }
}

/** C[mc,nc] (+)= packed A · packed B, tile by tile; partial edge tiles go through a buffer. */
void macro_kernel(const KernelInfo& k, int64_t mc, int64_t nc, int64_t kc, const float* pa,
                  const float* pb, float* c, int64_t ldc, bool accumulate) {
  alignas(64) float tile[32 * 32];
  for (int64_t j0 = 0; j0 < nc; j0 += k.nr) {
    const int64_t cols = std::min<int64_t>(k.nr, nc - j0);
    const float* b = pb + (j0 / k.nr) * kc * k.nr;
    for (int64_t i0 = 0; i0 < mc; i0 += k.mr) {
      const int64_t rows = std::min<int64_t>(k.mr, mc - i0);
      const float* a = pa + (i0 / k.mr) * kc * k.mr;
      float* dst = c + i0 * ldc + j0;
      if (rows == k.mr && cols == k.nr) {
        k.fn(kc, a, b, dst, ldc, accumulate);
      } else {
        k.fn(kc, a, b, tile, k.nr, false);
        for (int64_t r = 0; r < rows; r++) {
          float* out = dst + r * ldc;
          const float* in = tile + r * k.nr;
          if (accumulate) {
            for (int64_t q = 0; q < cols; q++) out[q] += in[q];
          } else {
            for (int64_t q = 0; q < cols; q++) out[q] = in[q];
          }
        }
      }
    }
  }
}

/** Products at most this wide skip the packed kernel (a 32-wide tile would be mostly padding). */
constexpr int64_t kThinColumns = 8;

/** y[0, n) += s · x[0, n). */
ATTNKIT_CLONES void thin_axpy(float s, const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; i++) y[i] += s * x[i];
}

/**
 * C[M, N] = A · B for N <= kThinColumns, when A's rows (cs 1) or columns (rs 1) are contiguous:
 * dot products against B's columns, or B-weighted sums of A's columns; rows of C split over
 * the threads in fixed blocks. False for other layouts (the packed kernel takes them).
 */
bool thin_product(int64_t M, int64_t N, int64_t K, Operand a, Operand b, float* c) {
  if (a.cs != 1 && a.rs != 1) return false;
  std::vector<float> bt(static_cast<size_t>(N * K));  // B's columns, contiguous
  for (int64_t n = 0; n < N; n++)
    for (int64_t k = 0; k < K; k++) bt[n * K + k] = b.data[k * b.rs + n * b.cs];
  const int64_t block = 64;
  const int64_t blocks = (M + block - 1) / block;
  auto rows = [&](int64_t blk) {
    const int64_t m0 = blk * block, m1 = std::min(M, m0 + block);
    if (a.cs == 1) {
      for (int64_t m = m0; m < m1; m++)
        for (int64_t n = 0; n < N; n++)
          c[m * N + n] = dot_f32(a.data + m * a.rs, bt.data() + n * K, K);
      return;
    }
    float ct[kThinColumns * block] = {};  // C's block transposed: n-major
    for (int64_t k = 0; k < K; k++)
      for (int64_t n = 0; n < N; n++)
        thin_axpy(bt[n * K + k], a.data + k * a.cs + m0, m1 - m0, ct + n * block);
    for (int64_t m = m0; m < m1; m++)
      for (int64_t n = 0; n < N; n++) c[m * N + n] = ct[n * block + (m - m0)];
  };
  if (2.0 * M * N * K < 2e6 || blocks == 1) {
    for (int64_t blk = 0; blk < blocks; blk++) rows(blk);
  } else {
    parallel_for(blocks, rows);
  }
  return true;
}

}  // namespace

ATTNKIT_CLONES float dot_f32(const float* a, const float* b, int64_t n) {
  // Sixteen partial sums in two vectors (AVX2 where the CPU has it), added in a fixed order.
  f32x8 s0 = zero8(), s1 = zero8();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 += load8(a + i) * load8(b + i);
    s1 += load8(a + i + 8) * load8(b + i + 8);
  }
  float lanes[8];
  store8(lanes, s0 + s1);
  float sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
              ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
  for (; i < n; i++) sum += a[i] * b[i];
  return sum;
}

const char* gemm_kernel_name() { return kernel().name; }

void gemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, Operand a, int64_t aStride,
                  const int64_t* aOffsets, Operand b, int64_t bStride, const int64_t* bOffsets,
                  float* c) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  if (K <= 0) {
    std::memset(c, 0, sizeof(float) * batch * M * N);
    return;
  }
  if (N <= kThinColumns) {
    bool done = true;
    for (int64_t bi = 0; bi < batch && done; bi++) {
      const Operand ab{a.data + (aOffsets ? aOffsets[bi] : bi * aStride), a.rs, a.cs};
      const Operand bb{b.data + (bOffsets ? bOffsets[bi] : bi * bStride), b.rs, b.cs};
      done = thin_product(M, N, K, ab, bb, c + bi * M * N);
    }
    if (done) return;
  }
  const KernelInfo& k = kernel();
  const Blocking blk = blocking(k);
  const int64_t mBlocks = (M + blk.mc - 1) / blk.mc;
  const int64_t nBlocks = (N + blk.nc - 1) / blk.nc;
  const int64_t tasks = batch * mBlocks * nBlocks;
  auto task = [&](int64_t t) {
    thread_local std::vector<float> bufA, bufB;
    const int64_t bi = t / (mBlocks * nBlocks);
    const int64_t ib = (t / nBlocks) % mBlocks;
    const int64_t jb = t % nBlocks;
    const float* A = a.data + (aOffsets ? aOffsets[bi] : bi * aStride);
    const float* B = b.data + (bOffsets ? bOffsets[bi] : bi * bStride);
    float* C = c + bi * M * N;
    const int64_t i0 = ib * blk.mc, mc = std::min(blk.mc, M - i0);
    const int64_t j0 = jb * blk.nc, nc = std::min(blk.nc, N - j0);
    const int64_t mPanels = (mc + k.mr - 1) / k.mr, nPanels = (nc + k.nr - 1) / k.nr;
    float* pa = scratch(bufA, mPanels * k.mr * blk.kc);
    float* pb = scratch(bufB, nPanels * k.nr * blk.kc);
    for (int64_t p0 = 0; p0 < K; p0 += blk.kc) {
      const int64_t kc = std::min(blk.kc, K - p0);
      pack_b(kc, nc, B + p0 * b.rs + j0 * b.cs, b.rs, b.cs, k.nr, pb);
      pack_a(mc, kc, A + i0 * a.rs + p0 * a.cs, a.rs, a.cs, k.mr, pa);
      macro_kernel(k, mc, nc, kc, pa, pb, C + i0 * N + j0, N, p0 > 0);
    }
  };
  const double flops = 2.0 * batch * M * N * K;
  if (batch == 1 && mBlocks >= 2 && flops >= 5e7 && num_threads() > 1) {
    // Large single products: pack each B block once, shared by the threads that take the row
    // blocks (instead of every row block packing its own copy). Row blocks come in a multiple
    // of the thread count, of near-equal height: 256 rows as 192 + 64 kept one of two threads
    // idle a third of the time (every weight gradient Xᵀ·dY of a d_model-256 layer).
    const int64_t threads = num_threads();
    const int64_t even = (mBlocks + threads - 1) / threads * threads;
    const int64_t mc = ((M + even - 1) / even + k.mr - 1) / k.mr * k.mr;
    const int64_t rowBlocks = (M + mc - 1) / mc;
    static std::vector<float> shared;  // kernels are called from the JavaScript thread only
    const float* A0 = a.data + (aOffsets ? aOffsets[0] : 0);
    const float* B0 = b.data + (bOffsets ? bOffsets[0] : 0);
    for (int64_t jb = 0; jb < nBlocks; jb++) {
      const int64_t j0 = jb * blk.nc, nc = std::min(blk.nc, N - j0);
      const int64_t nPanels = (nc + k.nr - 1) / k.nr;
      float* pb = scratch(shared, nPanels * k.nr * blk.kc);
      for (int64_t p0 = 0; p0 < K; p0 += blk.kc) {
        const int64_t kc = std::min(blk.kc, K - p0);
        const int64_t parts = std::min<int64_t>(nPanels, 4 * num_threads());
        parallel_for(parts, [&](int64_t part) {
          const int64_t q0 = part * nPanels / parts, q1 = (part + 1) * nPanels / parts;
          const int64_t c0 = q0 * k.nr, c1 = std::min(nc, q1 * k.nr);
          if (c0 < c1) {
            pack_b(kc, c1 - c0, B0 + p0 * b.rs + (j0 + c0) * b.cs, b.rs, b.cs, k.nr,
                   pb + q0 * kc * k.nr);
          }
        });
        parallel_for(rowBlocks, [&](int64_t ib) {
          thread_local std::vector<float> bufA;
          const int64_t i0 = ib * mc, rows = std::min(mc, M - i0);
          float* pa = scratch(bufA, ((rows + k.mr - 1) / k.mr) * k.mr * blk.kc);
          pack_a(rows, kc, A0 + i0 * a.rs + p0 * a.cs, a.rs, a.cs, k.mr, pa);
          macro_kernel(k, rows, nc, kc, pa, pb, c + i0 * N + j0, N, p0 > 0);
        });
      }
    }
    return;
  }
  // Waking the pool costs a few microseconds: small products run on the caller alone.
  if (tasks == 1 || flops < 2e6) {
    for (int64_t t = 0; t < tasks; t++) task(t);
  } else {
    parallel_for(tasks, task);
  }
}

void gemm_pair(const Product& first, const Product& second) {
  const Product* both[2] = {&first, &second};
  auto run = [&](int64_t i) {
    const Product& p = *both[i];
    gemm_batched(1, p.M, p.N, p.K, p.a, 0, nullptr, p.b, 0, nullptr, p.c);
  };
  auto flops = [](const Product& p) { return 2.0 * p.M * p.N * p.K; };
  // Below the shared-B path's size (which keeps one static buffer) a product gains little from
  // a second thread: each takes one (the nested pool calls run inline).
  constexpr double kSideBySide = 2e7;
  if (num_threads() > 1 && flops(first) < kSideBySide && flops(second) < kSideBySide &&
      flops(first) + flops(second) >= 2e5) {
    parallel_for(2, run);
  } else {
    run(0);
    run(1);
  }
}

}  // namespace attnkit
