#include "attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "exp_row.h"
#include "simd.h"
#include "threadpool.h"
#include "vec8.h"

// Products here may fuse into FMAs (the build turns contraction off for the kernels that must
// match tfjs bit for bit; these are checked against the composite within a tolerance): twice
// the arithmetic per instruction in the logits and gradient loops.
#if defined(__clang__)
#pragma clang fp contract(fast)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=fast")
#endif

namespace attnkit {
namespace {

constexpr int64_t BQ = 32;  // queries per block
constexpr int64_t BK = 64;  // keys per block

inline bool visible(const AttentionShape& s, int32_t qp, int32_t kp) {
  if (!s.causal) return true;
  if (kp > qp) return false;
  return s.window <= 0 || static_cast<int64_t>(qp) - kp < s.window;
}

/** Whether any pair in the query block [qlo, qhi] × key block [klo, khi] of positions is visible. */
inline bool block_visible(const AttentionShape& s, int32_t qlo, int32_t qhi, int32_t klo,
                          int32_t khi) {
  if (!s.causal) return true;
  if (klo > qhi) return false;
  return s.window <= 0 || static_cast<int64_t>(qlo) - khi < s.window;
}

/** Whether every pair of the block is visible (no mask to apply, no zero weights to skip). */
inline bool block_full(const AttentionShape& s, int32_t qlo, int32_t qhi, int32_t klo,
                       int32_t khi) {
  if (!s.causal) return true;
  if (qlo == kPaddingPosition || khi > qlo) return false;
  return s.window <= 0 || static_cast<int64_t>(qhi) - klo < s.window;
}

void min_max(const int32_t* p, int64_t n, int32_t* lo, int32_t* hi) {
  int32_t a = p[0], b = p[0];
  for (int64_t i = 1; i < n; i++) {
    a = std::min(a, p[i]);
    b = std::max(b, p[i]);
  }
  *lo = a;
  *hi = b;
}

/** kt[c][j] = k[j][c]: a key block transposed so products with it vectorise over keys. */
void transpose_block(const float* k, int64_t rows, int64_t d, float* kt) {
  for (int64_t j = 0; j < rows; j++)
    for (int64_t c = 0; c < d; c++) kt[c * BK + j] = k[j * d + c];
  for (int64_t j = rows; j < BK; j++)
    for (int64_t c = 0; c < d; c++) kt[c * BK + j] = 0.f;
}

/** Columns actually computed for a key block of `cols` keys: rounded up to a SIMD multiple. */
inline int64_t width_of(int64_t cols) { return std::min<int64_t>(BK, (cols + 15) & ~int64_t(15)); }

/**
 * out[i][j] = scale · (a_i · bt[·][j]) for R rows of a (row stride d) and 16 columns of a
 * transposed block bt [d][BK]: the R × 16 sums stay in registers over the whole d loop.
 */
template <int R>
ATTNKIT_INLINE void logits_tile(const float* a, int64_t d, const float* bt, float scale,
                                float* out) {
  f32x8 acc[R][2];
  for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = zero8();
  for (int64_t c = 0; c < d; c++) {
    const f32x8 b0 = load8(bt + c * BK), b1 = load8(bt + c * BK + 8);
    for (int r = 0; r < R; r++) {
      acc[r][0] += a[r * d + c] * b0;
      acc[r][1] += a[r * d + c] * b1;
    }
  }
  // Scaled once at the end: a multiply per step would take an FMA slot per row.
  for (int r = 0; r < R; r++) {
    store8(out + r * BK, scale * acc[r][0]);
    store8(out + r * BK + 8, scale * acc[r][1]);
  }
}

template <int R>
ATTNKIT_WIDE_CLONES void rows_times_block_r(const float* a, int64_t rows, int64_t d,
                                            const float* bt, float scale, int64_t width,
                                            float* out) {
  for (int64_t j = 0; j < width; j += 16) {
    int64_t i = 0;
    for (; i + R <= rows; i += R) logits_tile<R>(a + i * d, d, bt + j, scale, out + i * BK + j);
    for (; i < rows; i++) logits_tile<1>(a + i * d, d, bt + j, scale, out + i * BK + j);
  }
}

/** The product over the first width_of(cols) columns (a multiple of 16; the rest unused). */
void rows_times_block(const float* a, int64_t rows, int64_t d, const float* bt, float scale,
                      int64_t cols, float* out) {
  if (wide_registers()) return rows_times_block_r<8>(a, rows, d, bt, scale, width_of(cols), out);
  rows_times_block_r<4>(a, rows, d, bt, scale, width_of(cols), out);
}

/** Sets masked logits of one row to -inf (branch-free, so it vectorises). */
inline void mask_row(const AttentionShape& s, float* srow, int64_t cols, int32_t qp,
                     const int32_t* kp) {
  if (!s.causal) return;
  const int64_t window = s.window;
  for (int64_t j = 0; j < cols; j++) {
    const int64_t gap = static_cast<int64_t>(qp) - kp[j];
    const bool seen = gap >= 0 && (window <= 0 || gap < window);
    srow[j] = seen ? srow[j] : -kInf;
  }
}

/** Largest value of a row (eight partial maxima keep the loop vectorisable). */
inline float row_max(const float* x, int64_t n) {
  float acc[8];
  for (int q = 0; q < 8; q++) acc[q] = -kInf;
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int q = 0; q < 8; q++) acc[q] = x[j + q] > acc[q] ? x[j + q] : acc[q];
  float m = -kInf;
  for (int q = 0; q < 8; q++) m = acc[q] > m ? acc[q] : m;
  for (; j < n; j++) m = x[j] > m ? x[j] : m;
  return m;
}

/** x[j] = exp(x[j] - shift) for a row; returns the sum (eight partial sums). */
inline float exp_row(float* x, int64_t n, float shift) {
  exp_row_shifted_fast(x, n, shift);
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int q = 0; q < 8; q++) acc[q] += x[j + q];
  float sum = 0.f;
  for (int q = 0; q < 8; q++) sum += acc[q];
  for (; j < n; j++) sum += x[j];
  return sum;
}

/**
 * Online-softmax update of one query block with one key block: turns the block's logits into
 * P = exp(S - m_new) in place (0 for rows with nothing to add), rescales each row's running
 * sum and output by exp(m_old - m_new); the caller then adds P · V.
 */
ATTNKIT_CLONES void forward_softmax(const AttentionShape& s, float* sblk, int64_t rows,
                                    int64_t cols, const int32_t* qp, const int32_t* kp, bool full,
                                    float* m, float* l, float* acc) {
  const int64_t dv = s.dv;
  for (int64_t i = 0; i < rows; i++) {
    float* srow = sblk + i * BK;
    if (qp[i] == kPaddingPosition) {
      std::fill(srow, srow + cols, 0.f);
      continue;
    }
    if (!full) mask_row(s, srow, cols, qp[i], kp);
    const float rowMax = row_max(srow, cols);
    if (rowMax == -kInf) {  // nothing visible in this block
      std::fill(srow, srow + cols, 0.f);
      continue;
    }
    const float mNew = rowMax > m[i] ? rowMax : m[i];
    const float sum = exp_row(srow, cols, mNew);
    if (mNew == m[i]) {
      l[i] += sum;  // the running max stands: nothing to rescale
      continue;
    }
    const float corr = exp_f(m[i] - mNew);
    l[i] = l[i] * corr + sum;
    m[i] = mNew;
    float* o = acc + i * dv;
    for (int64_t c = 0; c < dv; c++) o[c] *= corr;
  }
}

/**
 * out[r][0..W) += Σ_k a(r, k) · b[k][0..W) for R rows, where a(r, k) is a[r · rs + k · ks] (so
 * a transposed operand is read in place): the R · W sums stay in registers over the k loop.
 * Sparse: steps where all R entries are 0 (masked pairs) are skipped.
 */
template <int W, int R, bool Sparse>
ATTNKIT_INLINE void accumulate_tile(const float* a, int64_t rs, int64_t ks, int64_t inner,
                                    const float* b, float* out) {
  constexpr int V = W / 8;
  f32x8 acc[R][V];
  for (int q = 0; q < R; q++)
    for (int c = 0; c < V; c++) acc[q][c] = zero8();
  for (int64_t k = 0; k < inner; k++) {
    float x[R];
    bool any = false;
    for (int q = 0; q < R; q++) {
      x[q] = a[q * rs + k * ks];
      any = any || x[q] != 0.f;
    }
    if (Sparse && !any) continue;  // masked (causal) entries: half of a diagonal block
    const float* bk = b + k * W;
    f32x8 bv[V];
    for (int c = 0; c < V; c++) bv[c] = load8(bk + 8 * c);
    for (int q = 0; q < R; q++)
      for (int c = 0; c < V; c++) acc[q][c] += x[q] * bv[c];
  }
  for (int q = 0; q < R; q++)
    for (int c = 0; c < V; c++) store8(out + q * W + 8 * c, load8(out + q * W + 8 * c) + acc[q][c]);
}

/** accumulate_tile over all rows, R at a time (R · W / 8 = 8 sums: the add latency hidden). */
template <int W, int R, bool Sparse>
ATTNKIT_WIDE_CLONES void accumulate_rows_w(const float* a, int64_t rs, int64_t ks, int64_t rows,
                                      int64_t inner, const float* b, float* out) {
  int64_t r = 0;
  for (; r + R <= rows; r += R)
    accumulate_tile<W, R, Sparse>(a + r * rs, rs, ks, inner, b, out + r * W);
  for (; r < rows; r++) accumulate_tile<W, 1, Sparse>(a + r * rs, rs, ks, inner, b, out + r * W);
}

/**
 * R rows per tile (R · W / 8 sums: 8-12 chains hide the FMA latency in AVX2's 16 registers),
 * RWide with AVX-512's 32.
 */
template <int W, int R, int RWide>
void accumulate_rows_tiled(const float* a, int64_t rs, int64_t ks, int64_t rows, int64_t inner,
                       const float* b, bool sparse, float* out) {
  if (wide_registers()) {
    if (sparse) return accumulate_rows_w<W, RWide, true>(a, rs, ks, rows, inner, b, out);
    return accumulate_rows_w<W, RWide, false>(a, rs, ks, rows, inner, b, out);
  }
  if (sparse) return accumulate_rows_w<W, R, true>(a, rs, ks, rows, inner, b, out);
  accumulate_rows_w<W, R, false>(a, rs, ks, rows, inner, b, out);
}

ATTNKIT_CLONES void accumulate_rows_any(const float* a, int64_t rs, int64_t ks, int64_t rows,
                                        int64_t inner, const float* b, int64_t width,
                                        float* out) {
  for (int64_t r = 0; r < rows; r++) {
    float* orow = out + r * width;
    for (int64_t k = 0; k < inner; k++) {
      const float x = a[r * rs + k * ks];
      if (x == 0.f) continue;
      const float* bk = b + k * width;
      for (int64_t c = 0; c < width; c++) orow[c] += x * bk[c];
    }
  }
}

/**
 * out [rows][width] += A [rows][inner] · b [inner][width], A(r, k) = a[r · rs + k · ks];
 * sparse: A may hold masked zeros worth skipping (a block on the causal diagonal).
 */
void accumulate_rows(const float* a, int64_t rs, int64_t ks, int64_t rows, int64_t inner,
                     const float* b, int64_t width, bool sparse, float* out) {
  switch (width) {
    case 16:
      return accumulate_rows_tiled<16, 4, 8>(a, rs, ks, rows, inner, b, sparse, out);
    case 32:
      return accumulate_rows_tiled<32, 3, 4>(a, rs, ks, rows, inner, b, sparse, out);
    case 64:
      return accumulate_rows_tiled<64, 1, 2>(a, rs, ks, rows, inner, b, sparse, out);
    default:
      return accumulate_rows_any(a, rs, ks, rows, inner, b, width, out);
  }
}

float* grow(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace

void attention_forward(const AttentionShape& s, const float* q, const float* k, const float* v,
                       const int32_t* qpos, const int32_t* kpos, float* out, float* lse) {
  const int64_t group = s.heads / s.kvHeads;
  const int64_t qBlocks = (s.tq + BQ - 1) / BQ, kBlocks = (s.tk + BK - 1) / BK;
  std::vector<int32_t> kRange(2 * kBlocks);
  for (int64_t kb = 0; kb < kBlocks; kb++) {
    const int64_t j0 = kb * BK, cols = std::min(BK, s.tk - j0);
    min_max(kpos + j0, cols, &kRange[2 * kb], &kRange[2 * kb + 1]);
  }
  const int64_t tasks = s.batch * s.heads * qBlocks;
  const double work = static_cast<double>(s.batch) * s.heads * s.tq * s.tk * (s.d + s.dv);
  const bool threaded = work >= 2e5;
  // Every key block transposed once up front, not once per query block and head of its group.
  const int64_t ktSize = s.d * BK;
  std::vector<float> ktAll(static_cast<size_t>(s.batch * s.kvHeads * kBlocks * ktSize));
  auto pack = [&](int64_t n) {
    const int64_t bg = n / kBlocks, j0 = (n % kBlocks) * BK;
    transpose_block(k + (bg * s.tk + j0) * s.d, std::min(BK, s.tk - j0), s.d,
                    ktAll.data() + n * ktSize);
  };
  if (threaded) {
    parallel_for(s.batch * s.kvHeads * kBlocks, pack);
  } else {
    for (int64_t n = 0; n < s.batch * s.kvHeads * kBlocks; n++) pack(n);
  }
  auto task = [&](int64_t t) {
    thread_local std::vector<float> bufS, bufAcc, bufM, bufL, bufQ;
    const int64_t qb = t % qBlocks, bh = t / qBlocks;
    const int64_t b = bh / s.heads, h = bh % s.heads, g = h / group;
    const int64_t i0 = qb * BQ, rows = std::min(BQ, s.tq - i0);
    const float* qBlk = q + (bh * s.tq + i0) * s.d;
    if (s.rowIndex) {
      float* gathered = grow(bufQ, BQ * s.d);
      for (int64_t i = 0; i < rows; i++) {
        const int64_t from = stored_row(s, bh * s.tq + i0 + i);
        if (from < 0) std::fill(gathered + i * s.d, gathered + (i + 1) * s.d, 0.f);
        else std::memcpy(gathered + i * s.d, q + from * s.d, s.d * sizeof(float));
      }
      qBlk = gathered;
    }
    const float* vHead = v + (b * s.kvHeads + g) * s.tk * s.dv;
    const float* ktHead = ktAll.data() + (b * s.kvHeads + g) * kBlocks * ktSize;
    float* sblk = grow(bufS, BQ * BK);
    float* acc = grow(bufAcc, BQ * s.dv);
    float* m = grow(bufM, BQ);
    float* l = grow(bufL, BQ);
    std::fill(acc, acc + rows * s.dv, 0.f);
    std::fill(m, m + rows, -kInf);
    std::fill(l, l + rows, 0.f);
    const int32_t* qp = query_positions(s, qpos, bh) + i0;
    int32_t qlo, qhi;
    min_max(qp, rows, &qlo, &qhi);
    for (int64_t kb = 0; kb < kBlocks; kb++) {
      if (!block_visible(s, qlo, qhi, kRange[2 * kb], kRange[2 * kb + 1])) continue;
      const int64_t j0 = kb * BK, cols = std::min(BK, s.tk - j0);
      // Causal: leading and trailing rows placed before every key of the block see none of it
      // (packed row-mask rows spread over a wide span of positions; padding rows).
      int64_t lo = 0, hi = rows;
      if (s.causal) {
        while (lo < hi && qp[lo] < kRange[2 * kb]) lo++;
        while (hi > lo && qp[hi - 1] < kRange[2 * kb]) hi--;
      }
      const int64_t n = hi - lo;
      if (n == 0) continue;
      // S = scale · Q Kᵀ, then O += P V
      rows_times_block(qBlk + lo * s.d, n, s.d, ktHead + kb * ktSize, s.scale, cols, sblk);
      const bool full = block_full(s, qlo, qhi, kRange[2 * kb], kRange[2 * kb + 1]);
      forward_softmax(s, sblk, n, cols, qp + lo, kpos + j0, full, m + lo, l + lo, acc + lo * s.dv);
      accumulate_rows(sblk, BK, 1, n, cols, vHead + j0 * s.dv, s.dv, !full, acc + lo * s.dv);
    }
    for (int64_t i = 0; i < rows; i++) {
      const int64_t row = stored_row(s, bh * s.tq + i0 + i);
      if (qp[i] == kPaddingPosition) {
        if (row >= 0) lse[row] = kInf;  // a packing row: nothing computed, its output never read
        continue;
      }
      float* o = out + row * s.dv;
      if (l[i] > 0.f) {
        const float inv = 1.f / l[i];
        for (int64_t c = 0; c < s.dv; c++) o[c] = acc[i * s.dv + c] * inv;
        lse[row] = m[i] + std::log(l[i]);
      } else {
        // No visible key: the composite's masked logits are all equal, so weights are uniform.
        for (int64_t c = 0; c < s.dv; c++) {
          float sum = 0.f;
          for (int64_t j = 0; j < s.tk; j++) sum += vHead[j * s.dv + c];
          o[c] = s.tk > 0 ? sum / static_cast<float>(s.tk) : 0.f;
        }
        lse[row] = kInf;
      }
    }
  };
  if (!threaded) {
    for (int64_t t = 0; t < tasks; t++) task(t);
  } else {
    parallel_for(tasks, task);
  }
}

namespace {

/** dV_j += P_ij dO_i, dK_j += dS_ij Q_i, dQ_i += dS_ij K_j pair by pair, skipping masked pairs. */
ATTNKIT_CLONES void accumulate_pairs(const float* p, const float* ds, int64_t rows, int64_t cols,
                                     const float* qBlk, const float* doBlk, const float* kBlk,
                                     int64_t d, int64_t dv, float* dqBlk, float* dkBlk,
                                     float* dvBlk) {
  for (int64_t i = 0; i < rows; i++) {
    const float* doi = doBlk + i * dv;
    const float* qi = qBlk + i * d;
    float* dqi = dqBlk + i * d;
    for (int64_t j = 0; j < cols; j++) {
      const float pij = p[i * BK + j], dsij = ds[i * BK + j];
      if (pij == 0.f && dsij == 0.f) continue;
      float* dvj = dvBlk + j * dv;
      for (int64_t c = 0; c < dv; c++) dvj[c] += pij * doi[c];
      float* dkj = dkBlk + j * d;
      const float* kj = kBlk + j * d;
      for (int64_t c = 0; c < d; c++) {
        dkj[c] += dsij * qi[c];
        dqi[c] += dsij * kj[c];
      }
    }
  }
}

/**
 * One query block × key block of the backward pass: recompute P = exp(S - lse), then
 * dS = scale · P ⊙ (dO Vᵀ - D), and dV += Pᵀ dO, dK += dSᵀ Q, dQ += dS K as three
 * register-blocked products.
 */
ATTNKIT_CLONES void backward_block(const AttentionShape& s, const float* qBlk, const float* doBlk,
                                   const float* lseBlk, const float* dBlk, int64_t rows,
                                   const int32_t* qp, const float* kBlk, const float* kt,
                                   const float* vt, int64_t cols, const int32_t* kp, bool full,
                                   float* sblk, float* dpblk, float* dqBlk, float* dkBlk,
                                   float* dvBlk) {
  const int64_t d = s.d, dv = s.dv;
  // S = scale · Q Kᵀ and dP = dO Vᵀ, each row's sums in registers.
  rows_times_block(qBlk, rows, d, kt, s.scale, cols, sblk);
  rows_times_block(doBlk, rows, dv, vt, 1.f, cols, dpblk);
  for (int64_t i = 0; i < rows; i++) {
    float* srow = sblk + i * BK;
    float* dprow = dpblk + i * BK;
    const float li = lseBlk[i];
    if (qp[i] == kPaddingPosition || li == kInf) {
      // Padding rows pass nothing; a row with nothing visible was uniform (P = 1 / tk), so
      // only v gets a gradient.
      const float p = qp[i] == kPaddingPosition ? 0.f : 1.f / static_cast<float>(s.tk);
      for (int64_t j = 0; j < cols; j++) {
        srow[j] = p;
        dprow[j] = 0.f;
      }
      continue;
    }
    // P = exp(S - lse) (masked logits give exactly 0), dS = scale · P ⊙ (dP - D).
    if (!full) mask_row(s, srow, cols, qp[i], kp);
    exp_row_shifted_fast(srow, cols, li);
    const float di = dBlk[i];
    for (int64_t j = 0; j < cols; j++) dprow[j] = s.scale * srow[j] * (dprow[j] - di);
  }
  if (d < 32 || dv < 32) {
    // Small heads: one pass over the pairs (measured faster at d 16, where each product's
    // rows are only two SIMD registers wide).
    accumulate_pairs(sblk, dpblk, rows, cols, qBlk, doBlk, kBlk, d, dv, dqBlk, dkBlk, dvBlk);
    return;
  }
  // Pᵀ and dSᵀ are read in place (row stride 1, inner stride BK).
  accumulate_rows(sblk, 1, BK, cols, rows, doBlk, dv, !full, dvBlk);
  accumulate_rows(dpblk, 1, BK, cols, rows, qBlk, d, !full, dkBlk);
  accumulate_rows(dpblk, BK, 1, rows, cols, kBlk, d, !full, dqBlk);
}

}  // namespace

void attention_backward(const AttentionShape& s, const float* q, const float* k, const float* v,
                        const int32_t* qpos, const int32_t* kpos, const float* out,
                        const float* lse, const float* dout, float* dq, float* dk, float* dv) {
  const int64_t group = s.heads / s.kvHeads;
  const int64_t qBlocks = (s.tq + BQ - 1) / BQ, kBlocks = (s.tk + BK - 1) / BK;
  std::vector<int32_t> kRange(2 * kBlocks);
  for (int64_t kb = 0; kb < kBlocks; kb++) {
    const int64_t j0 = kb * BK, cols = std::min(BK, s.tk - j0);
    min_max(kpos + j0, cols, &kRange[2 * kb], &kRange[2 * kb + 1]);
  }
  // D_i = rowsum(dO_i ⊙ O_i), once per query row.
  std::vector<float> delta(s.batch * s.heads * s.tq);
  for (int64_t r = 0; r < s.batch * s.heads * s.tq; r++) {
    const int64_t from = stored_row(s, r);
    float sum = 0.f;
    if (from >= 0)
      for (int64_t c = 0; c < s.dv; c++) sum += dout[from * s.dv + c] * out[from * s.dv + c];
    delta[r] = sum;
  }
  std::fill(dq, dq + s.batch * s.heads * stored_rows(s) * s.d, 0.f);
  // Each (batch, kv head) owns its dK/dV rows and its query heads' dQ rows, so tasks never
  // write the same memory; when there are fewer of them than threads, query blocks are split
  // across tasks with private dK/dV that are summed afterwards.
  // The split depends on the shapes only, never on the thread count, so results do not either.
  const int64_t owners = s.batch * s.kvHeads;
  const int64_t split = std::max<int64_t>(1, std::min<int64_t>(qBlocks, (8 + owners - 1) / owners));
  const int64_t kvSize = s.tk * (s.d + s.dv);
  std::vector<float> partial(split > 1 ? owners * split * kvSize : 0);
  auto task = [&](int64_t t) {
    thread_local std::vector<float> bufKt, bufVt, bufS, bufDp, bufRows;
    const int64_t owner = t / split, part = t % split;
    const int64_t b = owner / s.kvHeads, g = owner % s.kvHeads;
    const float* kHead = k + (b * s.kvHeads + g) * s.tk * s.d;
    const float* vHead = v + (b * s.kvHeads + g) * s.tk * s.dv;
    float* dkHead;
    float* dvHead;
    if (split > 1) {
      dkHead = partial.data() + t * kvSize;
      dvHead = dkHead + s.tk * s.d;
    } else {
      dkHead = dk + (b * s.kvHeads + g) * s.tk * s.d;
      dvHead = dv + (b * s.kvHeads + g) * s.tk * s.dv;
    }
    std::fill(dkHead, dkHead + s.tk * s.d, 0.f);
    std::fill(dvHead, dvHead + s.tk * s.dv, 0.f);
    float* kt = grow(bufKt, s.d * BK);
    float* vt = grow(bufVt, s.dv * BK);
    float* sblk = grow(bufS, BQ * BK);
    float* dpblk = grow(bufDp, BQ * BK);
    const int64_t qb0 = part * qBlocks / split, qb1 = (part + 1) * qBlocks / split;
    // Row-mask mode: this task's rows of q, dout, lse (and its dq) gathered once, as if packed.
    const int64_t r0 = qb0 * BQ, span = std::min(qb1 * BQ, s.tq) - r0;
    const int64_t width = s.d + s.dv + 1 + s.d;
    float* rowsBuf = s.rowIndex ? grow(bufRows, group * span * width) : nullptr;
    if (rowsBuf) {
      for (int64_t hh = 0; hh < group; hh++)
        for (int64_t i = 0; i < span; i++) {
          const int64_t packed = (b * s.heads + g * group + hh) * s.tq + r0 + i;
          const int64_t from = stored_row(s, packed), at = hh * span + i;
          float* qi = rowsBuf + at * s.d;
          float* doi = rowsBuf + group * span * s.d + at * s.dv;
          float* li = rowsBuf + group * span * (s.d + s.dv) + at;
          std::fill(rowsBuf + group * span * (s.d + s.dv + 1) + at * s.d,
                    rowsBuf + group * span * (s.d + s.dv + 1) + (at + 1) * s.d, 0.f);
          if (from < 0) {
            std::fill(qi, qi + s.d, 0.f);
            std::fill(doi, doi + s.dv, 0.f);
            *li = 3e38f;  // finite: a padding row's weights come out 0, it is not 'uniform'
            continue;
          }
          std::memcpy(qi, q + from * s.d, s.d * sizeof(float));
          std::memcpy(doi, dout + from * s.dv, s.dv * sizeof(float));
          *li = lse[from];
        }
    }
    // Where row `row0 + i` of head h (packed numbering) reads and writes.
    struct Rows {
      const float *q, *dout, *lse;
      float* dq;
    };
    auto rows_at = [&](int64_t hh, int64_t row0, int64_t i0) -> Rows {
      if (!rowsBuf) return {q + row0 * s.d, dout + row0 * s.dv, lse + row0, dq + row0 * s.d};
      const int64_t at = hh * span + i0 - r0;
      return {rowsBuf + at * s.d, rowsBuf + group * span * s.d + at * s.dv,
              rowsBuf + group * span * (s.d + s.dv) + at,
              rowsBuf + group * span * (s.d + s.dv + 1) + at * s.d};
    };
    for (int64_t kb = 0; kb < kBlocks; kb++) {
      const int64_t j0 = kb * BK, cols = std::min(BK, s.tk - j0);
      bool packed = false;
      for (int64_t hh = 0; hh < group; hh++) {
        const int64_t h = g * group + hh;
        for (int64_t qb = qb0; qb < qb1; qb++) {
          const int64_t i0 = qb * BQ, rows = std::min(BQ, s.tq - i0);
          const int64_t row0 = (b * s.heads + h) * s.tq + i0;
          const int32_t* qp = query_positions(s, qpos, b * s.heads + h) + i0;
          int32_t qlo, qhi;
          min_max(qp, rows, &qlo, &qhi);
          const Rows at = rows_at(hh, row0, i0);
          bool uniform = false;
          for (int64_t i = 0; i < rows && !uniform; i++) uniform = at.lse[i] == kInf;
          if (!uniform && !block_visible(s, qlo, qhi, kRange[2 * kb], kRange[2 * kb + 1])) continue;
          // As in the forward: rows placed before every key of the block pass nothing (unless a
          // row saw no key at all: its uniform weights reach every key).
          int64_t lo = 0, hi = rows;
          if (s.causal && !uniform) {
            while (lo < hi && qp[lo] < kRange[2 * kb]) lo++;
            while (hi > lo && qp[hi - 1] < kRange[2 * kb]) hi--;
            if (hi == lo) continue;
          }
          if (!packed) {
            transpose_block(kHead + j0 * s.d, cols, s.d, kt);
            transpose_block(vHead + j0 * s.dv, cols, s.dv, vt);
            packed = true;
          }
          backward_block(s, at.q + lo * s.d, at.dout + lo * s.dv, at.lse + lo,
                         delta.data() + row0 + lo, hi - lo, qp + lo, kHead + j0 * s.d, kt, vt,
                         cols, kpos + j0,
                         block_full(s, qlo, qhi, kRange[2 * kb], kRange[2 * kb + 1]), sblk, dpblk,
                         at.dq + lo * s.d, dkHead + j0 * s.d, dvHead + j0 * s.dv);
        }
      }
    }
    if (rowsBuf) {
      for (int64_t hh = 0; hh < group; hh++)
        for (int64_t i = 0; i < span; i++) {
          const int64_t from = stored_row(s, (b * s.heads + g * group + hh) * s.tq + r0 + i);
          if (from >= 0)
            std::memcpy(dq + from * s.d, rows_at(hh, 0, r0 + i).dq, s.d * sizeof(float));
        }
    }
  };
  const int64_t tasks = owners * split;
  const double work = static_cast<double>(s.batch) * s.heads * s.tq * s.tk * (s.d + s.dv);
  if (work < 1e5) {
    for (int64_t t = 0; t < tasks; t++) task(t);
  } else {
    parallel_for(tasks, task);
  }
  if (split > 1) {
    for (int64_t owner = 0; owner < owners; owner++) {
      float* dkHead = dk + owner * s.tk * s.d;
      float* dvHead = dv + owner * s.tk * s.dv;
      std::fill(dkHead, dkHead + s.tk * s.d, 0.f);
      std::fill(dvHead, dvHead + s.tk * s.dv, 0.f);
      for (int64_t part = 0; part < split; part++) {
        const float* src = partial.data() + (owner * split + part) * kvSize;
        for (int64_t i = 0; i < s.tk * s.d; i++) dkHead[i] += src[i];
        for (int64_t i = 0; i < s.tk * s.dv; i++) dvHead[i] += src[s.tk * s.d + i];
      }
    }
  }
}

}  // namespace attnkit
