// Block-sparse attention (MoBA, Lu et al. 2025, sec. 2.2, eq. 2; block-sparse FlashAttention,
// Dao et al. 2022, sec. 3.3): each block of queries reads only the key blocks listed for it.
// Per (batch, head, query block) the listed blocks' keys are gathered once (transposed, so the
// logits vectorise over keys) and the softmax runs over them alone: work and scratch are
// O(B · kPerBlock · B) per query block, never O(tq · tk). The backward recomputes the
// probabilities from the saved log-sum-exp; a task owns one (batch, kv head), so the key and
// value gradients of a GQA group and of every query block need no locks.
#include "block_sparse.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "exp_row.h"
#include "simd.h"
#include "threadpool.h"

namespace attnkit {
namespace {

/** The listed key blocks of one query block: unique, -1 dropped, in first-seen order. */
struct Gathered {
  std::vector<int64_t> pos;  // key positions, W of them
  std::vector<float> kt;     // [d, W]: keys transposed
  std::vector<float> vt;     // [dv, W]: values transposed (backward only)
  int64_t width = 0;
};

void gather(const BlockSparseShape& s, const int32_t* row, const float* k, const float* v,
            bool values, Gathered* g) {
  g->pos.clear();
  for (int64_t slot = 0; slot < s.k_per_block; slot++) {
    const int64_t j = row[slot];
    if (j < 0) continue;
    bool seen = false;
    for (int64_t e = 0; e < slot; e++) seen = seen || row[e] == row[slot];
    if (seen) continue;
    const int64_t end = std::min(s.tk, (j + 1) * s.block);
    for (int64_t p = j * s.block; p < end; p++) g->pos.push_back(p);
  }
  const int64_t w = static_cast<int64_t>(g->pos.size());
  g->width = w;
  g->kt.resize(static_cast<size_t>(s.d * w));
  for (int64_t x = 0; x < w; x++) {
    const float* kr = k + g->pos[x] * s.d;
    for (int64_t c = 0; c < s.d; c++) g->kt[c * w + x] = kr[c];
  }
  if (!values) return;
  g->vt.resize(static_cast<size_t>(s.dv * w));
  for (int64_t x = 0; x < w; x++) {
    const float* vr = v + g->pos[x] * s.dv;
    for (int64_t c = 0; c < s.dv; c++) g->vt[c * w + x] = vr[c];
  }
}

/** srow[x] = scale · q · k_x over the gathered keys, -inf where causality hides key x. */
inline void logits(const BlockSparseShape& s, const Gathered& g, const float* qi,
                           int64_t qpos, float* srow) {
  const int64_t w = g.width;
  for (int64_t x = 0; x < w; x++) srow[x] = 0.f;
  for (int64_t c = 0; c < s.d; c++) {
    const float a = qi[c] * s.scale;
    const float* kc = g.kt.data() + c * w;
    for (int64_t x = 0; x < w; x++) srow[x] += a * kc[x];
  }
  if (!s.causal) return;
  const int64_t* pos = g.pos.data();
  for (int64_t x = 0; x < w; x++) srow[x] = pos[x] <= qpos ? srow[x] : -kInf;
}

inline float max_of(const float* x, int64_t n) {
  float m = -kInf;
  for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

/** Queries [lo, hi) of query block qb (relative to the first), clipped to [0, tq). */
inline void query_range(const BlockSparseShape& s, int64_t qb, int64_t* lo, int64_t* hi) {
  const int64_t start = (s.first_block + qb) * s.block - s.query_offset;
  *lo = std::max<int64_t>(0, start);
  *hi = std::min<int64_t>(s.tq, start + s.block);
}

inline int64_t kv_head_of(const BlockSparseShape& s, int64_t head) {
  return head / (s.heads / s.kv_heads);
}

/** One query row: its output over the gathered keys and its log-sum-exp. */
ATTNKIT_CLONES void forward_row(const BlockSparseShape& s, const Gathered& g, const float* qi,
                                int64_t qpos, const float* vb, float* ATTNKIT_RESTRICT srow,
                                float* ATTNKIT_RESTRICT o, float* lse) {
  for (int64_t c = 0; c < s.dv; c++) o[c] = 0.f;
  logits(s, g, qi, qpos, srow);
  const float m = max_of(srow, g.width);
  if (m == -kInf) {  // no visible key (or nothing listed)
    *lse = -kInf;
    return;
  }
  exp_row_shifted(srow, g.width, m);  // the vectorised exp (GCC keeps exp_f scalar here)
  float sum = 0.f;
  for (int64_t x = 0; x < g.width; x++) sum += srow[x];
  for (int64_t x = 0; x < g.width; x++) {
    const float p = srow[x];
    if (p == 0.f) continue;
    const float* ATTNKIT_RESTRICT vr = vb + g.pos[x] * s.dv;
    for (int64_t c = 0; c < s.dv; c++) o[c] += p * vr[c];
  }
  const float inv = 1.f / sum;
  for (int64_t c = 0; c < s.dv; c++) o[c] *= inv;
  *lse = m + std::log(sum);
}

/**
 * One query row of the backward: dS = P ⊙ (dO·Vᵀ - D), D = dO·O - dlse (∂lse/∂S = P);
 * dq_i = scale·Σ dS k, and dk, dv of the gathered keys accumulate.
 */
ATTNKIT_CLONES void backward_row(const BlockSparseShape& s, const Gathered& g,
                                 const float* ATTNKIT_RESTRICT qi, int64_t qpos, float l,
                                 const float* ATTNKIT_RESTRICT gi, const float* oi, float dlse,
                                 const float* kb, float* ATTNKIT_RESTRICT p,
                                 float* ATTNKIT_RESTRICT ds, float* ATTNKIT_RESTRICT dqi,
                                 float* dkb, float* dvb) {
  const int64_t w = g.width;
  logits(s, g, qi, qpos, p);
  exp_row_shifted(p, w, l);
  float dd = -dlse;
  for (int64_t c = 0; c < s.dv; c++) dd += gi[c] * oi[c];
  for (int64_t x = 0; x < w; x++) ds[x] = 0.f;
  for (int64_t c = 0; c < s.dv; c++) {
    const float a = gi[c];
    const float* ATTNKIT_RESTRICT vc = g.vt.data() + c * w;
    for (int64_t x = 0; x < w; x++) ds[x] += a * vc[x];
  }
  for (int64_t x = 0; x < w; x++) ds[x] = p[x] * (ds[x] - dd) * s.scale;
  for (int64_t x = 0; x < w; x++) {
    const int64_t kp = g.pos[x];
    const float a = ds[x], pr = p[x];
    if (a != 0.f) {
      const float* ATTNKIT_RESTRICT kr = kb + kp * s.d;
      float* ATTNKIT_RESTRICT dkr = dkb + kp * s.d;
      for (int64_t c = 0; c < s.d; c++) dqi[c] += a * kr[c];
      for (int64_t c = 0; c < s.d; c++) dkr[c] += a * qi[c];
    }
    if (pr != 0.f) {
      float* ATTNKIT_RESTRICT dvr = dvb + kp * s.dv;
      for (int64_t c = 0; c < s.dv; c++) dvr[c] += pr * gi[c];
    }
  }
}

}  // namespace

void block_sparse_forward(const BlockSparseShape& s, const float* q, const float* k,
                          const float* v, const int32_t* selected, float* out, float* lse) {
  const int64_t tasks = s.batch * s.heads * s.num_query_blocks;
  parallel_for_checked(tasks, [&](int64_t task) {
    const int64_t qb = task % s.num_query_blocks;
    const int64_t bh = task / s.num_query_blocks;
    const int64_t b = bh / s.heads, h = bh % s.heads;
    const int64_t kvh = b * s.kv_heads + kv_head_of(s, h);
    Gathered g;
    gather(s, selected + task * s.k_per_block, k + kvh * s.tk * s.d, v, false, &g);
    const float* vb = v + kvh * s.tk * s.dv;
    std::vector<float> srow(static_cast<size_t>(std::max<int64_t>(1, g.width)));
    int64_t lo, hi;
    query_range(s, qb, &lo, &hi);
    for (int64_t i = lo; i < hi; i++) {
      const int64_t row = bh * s.tq + i;
      forward_row(s, g, q + row * s.d, s.query_offset + i, vb, srow.data(), out + row * s.dv,
                  lse + row);
    }
  });
}

void block_sparse_backward(const BlockSparseShape& s, const float* q, const float* k,
                           const float* v, const int32_t* selected, const float* out,
                           const float* lse, const float* dout, const float* dlse, float* dq,
                           float* dk, float* dv) {
  const int64_t group = s.heads / s.kv_heads;
  parallel_for_checked(s.batch * s.kv_heads, [&](int64_t kvh) {
    const int64_t b = kvh / s.kv_heads, hk = kvh % s.kv_heads;
    const float* kb = k + kvh * s.tk * s.d;
    const float* vb = v + kvh * s.tk * s.dv;
    float* dkb = dk + kvh * s.tk * s.d;
    float* dvb = dv + kvh * s.tk * s.dv;
    std::fill(dkb, dkb + s.tk * s.d, 0.f);
    std::fill(dvb, dvb + s.tk * s.dv, 0.f);
    Gathered g;
    std::vector<float> p, ds;
    for (int64_t h = hk * group; h < (hk + 1) * group; h++) {
      const int64_t bh = b * s.heads + h;
      for (int64_t qb = 0; qb < s.num_query_blocks; qb++) {
        int64_t lo, hi;
        query_range(s, qb, &lo, &hi);
        for (int64_t i = lo; i < hi; i++) {
          float* dqi = dq + (bh * s.tq + i) * s.d;
          for (int64_t c = 0; c < s.d; c++) dqi[c] = 0.f;
        }
        gather(s, selected + (bh * s.num_query_blocks + qb) * s.k_per_block, kb, vb, true, &g);
        const int64_t w = g.width;
        if (w == 0) continue;
        p.resize(static_cast<size_t>(w));
        ds.resize(static_cast<size_t>(w));
        for (int64_t i = lo; i < hi; i++) {
          const int64_t row = bh * s.tq + i;
          const float l = lse[row];
          if (l == -kInf) continue;  // saw no key: every gradient is 0
          backward_row(s, g, q + row * s.d, s.query_offset + i, l, dout + row * s.dv,
                       out + row * s.dv, dlse[row], kb, p.data(), ds.data(), dq + row * s.d, dkb,
                       dvb);
        }
      }
    }
  });
}

}  // namespace attnkit
