#include "linear_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "exp_row.h"
#include "simd.h"
#include "threadpool.h"

namespace attnkit {
namespace {

/**
 * One head's view. The value rows are widened to W = dv + 1 when normalising: a column of ones
 * carries the key sum z through the same recurrence as S (its last column).
 */
struct Head {
  const LinearShape& s;
  const float* q;
  const float* k;
  const float* v;
  const float* g;
  int64_t W;
};

/** Rows [start, start + n) of v widened to W columns (ones in the last when normalising). */
void widen(const Head& h, int64_t start, int64_t n, float* ve) {
  const int64_t dv = h.s.dv, W = h.W;
  for (int64_t j = 0; j < n; j++) {
    const float* src = h.v + (start + j) * dv;
    float* dst = ve + j * W;
    for (int64_t w = 0; w < dv; w++) dst[w] = src[w];
    if (W > dv) dst[dv] = 1.f;
  }
}

/** Γ, the inclusive cumulative log decay inside the chunk; returns whether any g is nonzero. */
bool cumulative(const Head& h, int64_t start, int64_t n, float* cum) {
  bool any = false;
  float acc = 0.f;
  for (int64_t i = 0; i < n; i++) {
    const float gi = h.g[start + i];
    any = any || gi != 0.f;
    acc += gi;
    cum[i] = acc;
  }
  return any;
}

/** out[r][c] = in[c][r] for an [rows, cols] block. */
void transpose(const float* in, int64_t rows, int64_t cols, float* out) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) out[c * rows + r] = in[r * cols + c];
}

/**
 * A_ij = scale · (q_i·k_j) · exp(Γ_i - Γ_j) for j <= i, 0 above (n×n); E_ij = exp(Γ_i - Γ_j)
 * kept when `decayed` (else 1). kt is the chunk's keys transposed [dk][n].
 */
ATTNKIT_CLONES void chunk_weights(const Head& h, const float* qc, const float* kt, int64_t n,
                                  const float* cum, bool decayed, float* A, float* E) {
  const int64_t dk = h.s.dk;
  for (int64_t i = 0; i < n; i++) {
    float* row = A + i * n;
    for (int64_t j = 0; j < n; j++) row[j] = 0.f;
    const float* qi = qc + i * dk;
    for (int64_t c = 0; c < dk; c++) {
      const float x = qi[c] * h.s.scale;
      const float* kc = kt + c * n;
      for (int64_t j = 0; j <= i; j++) row[j] += x * kc[j];
    }
    if (decayed) {
      // exp(Γ_i - Γ_j) as exp(-Γ_j - (-Γ_i)) through the vectorised row exponential.
      float* erow = E + i * n;
      for (int64_t j = 0; j <= i; j++) erow[j] = -cum[j];
      exp_row_shifted(erow, i + 1, -cum[i]);
      for (int64_t j = 0; j <= i; j++) row[j] *= erow[j];
    }
  }
}

/** O = A Ve + scale · (Q ⊙ exp(Γ)) S for one chunk ([n][W]). */
ATTNKIT_CLONES void chunk_output(const Head& h, const float* qc, const float* A, const float* ve,
                                 const float* S, int64_t n, const float* cum, bool decayed,
                                 float* O) {
  const int64_t dk = h.s.dk, W = h.W;
  for (int64_t i = 0; i < n; i++) {
    float* o = O + i * W;
    for (int64_t w = 0; w < W; w++) o[w] = 0.f;
    const float* arow = A + i * n;
    for (int64_t j = 0; j <= i; j++) {
      const float a = arow[j];
      const float* vj = ve + j * W;
      for (int64_t w = 0; w < W; w++) o[w] += a * vj[w];
    }
    const float e = h.s.scale * (decayed ? std::exp(cum[i]) : 1.f);
    const float* qi = qc + i * dk;
    for (int64_t c = 0; c < dk; c++) {
      const float x = qi[c] * e;
      const float* sc = S + c * W;
      for (int64_t w = 0; w < W; w++) o[w] += x * sc[w];
    }
  }
}

/** S ← exp(γ) S + Σ_j exp(γ - Γ_j) k_jᵀ ve_j: the state after the chunk. */
ATTNKIT_CLONES void chunk_carry(const Head& h, const float* kc, const float* ve, int64_t n,
                                const float* cum, bool decayed, float* S) {
  const int64_t dk = h.s.dk, W = h.W;
  if (decayed) {
    const float keep = std::exp(cum[n - 1]);
    for (int64_t x = 0; x < dk * W; x++) S[x] *= keep;
  }
  for (int64_t j = 0; j < n; j++) {
    const float f = decayed ? std::exp(cum[n - 1] - cum[j]) : 1.f;
    const float* kj = kc + j * dk;
    const float* vj = ve + j * W;
    for (int64_t c = 0; c < dk; c++) {
      const float x = kj[c] * f;
      float* sc = S + c * W;
      for (int64_t w = 0; w < W; w++) sc[w] += x * vj[w];
    }
  }
}

/** The state [dk][W] from kv [dk][dv] and z [dk]. */
void load_state(const Head& h, const float* kv, const float* z, float* S) {
  const int64_t dk = h.s.dk, dv = h.s.dv, W = h.W;
  for (int64_t c = 0; c < dk; c++) {
    for (int64_t w = 0; w < dv; w++) S[c * W + w] = kv[c * dv + w];
    if (W > dv) S[c * W + dv] = z[c];
  }
}

void store_state(const Head& h, const float* S, float* kv, float* z) {
  const int64_t dk = h.s.dk, dv = h.s.dv, W = h.W;
  for (int64_t c = 0; c < dk; c++) {
    for (int64_t w = 0; w < dv; w++) kv[c * dv + w] = S[c * W + w];
    z[c] = W > dv ? S[c * W + dv] : 0.f;
  }
}

/** out rows from the widened O: O itself, or numerator / (denominator + eps). */
void finish_rows(const Head& h, const float* O, int64_t n, float* out) {
  const int64_t dv = h.s.dv, W = h.W;
  for (int64_t i = 0; i < n; i++) {
    const float* o = O + i * W;
    float* dst = out + i * dv;
    if (W > dv) {
      const float den = o[dv] + h.s.eps;
      for (int64_t w = 0; w < dv; w++) dst[w] = o[w] / den;
    } else {
      for (int64_t w = 0; w < dv; w++) dst[w] = o[w];
    }
  }
}

/** The gradient reaching the widened O from dout (through the division when normalising). */
void widen_grad(const Head& h, const float* O, const float* dout, int64_t n, float* dO) {
  const int64_t dv = h.s.dv, W = h.W;
  for (int64_t i = 0; i < n; i++) {
    const float* o = O + i * W;
    const float* d = dout + i * dv;
    float* r = dO + i * W;
    if (W > dv) {
      const float den = o[dv] + h.s.eps;
      float dot = 0.f;
      for (int64_t w = 0; w < dv; w++) {
        r[w] = d[w] / den;
        dot += d[w] * o[w];
      }
      r[dv] = -dot / (den * den);
    } else {
      for (int64_t w = 0; w < dv; w++) r[w] = d[w];
    }
  }
}

/**
 * Steps per chunk actually used: the caller's, at most t and at most kMaxChunk (scratch is
 * O(chunk²) per head; any chunk size gives the same result up to rounding).
 */
constexpr int64_t kMaxChunk = 1024;
int64_t chunk_of(const LinearShape& s) {
  return std::min<int64_t>({s.chunk, std::max<int64_t>(s.t, 1), kMaxChunk});
}

int64_t chunk_count(const LinearShape& s) {
  return s.t == 0 ? 0 : (s.t + chunk_of(s) - 1) / chunk_of(s);
}

/** Bidirectional form (eq. 5 without a mask): S = Kᵀ Ve over the whole sequence. */
void bidirectional_state(const Head& h, float* ve, float* S) {
  const int64_t dk = h.s.dk, W = h.W;
  std::fill(S, S + dk * W, 0.f);
  widen(h, 0, h.s.t, ve);
  for (int64_t j = 0; j < h.s.t; j++)
    for (int64_t c = 0; c < dk; c++) {
      const float x = h.k[j * dk + c];
      for (int64_t w = 0; w < W; w++) S[c * W + w] += x * ve[j * W + w];
    }
}

/** O = scale · Q S over the whole sequence ([t][W]). */
void bidirectional_output(const Head& h, const float* S, float* O) {
  const int64_t dk = h.s.dk, W = h.W;
  for (int64_t i = 0; i < h.s.t; i++) {
    float* o = O + i * W;
    for (int64_t w = 0; w < W; w++) o[w] = 0.f;
    for (int64_t c = 0; c < dk; c++) {
      const float x = h.s.scale * h.q[i * dk + c];
      for (int64_t w = 0; w < W; w++) o[w] += x * S[c * W + w];
    }
  }
}

void forward_head(const Head& h, const float* kv0, const float* z0, float* out, float* kv,
                  float* z) {
  const LinearShape& s = h.s;
  const int64_t dk = s.dk, W = h.W, C = chunk_of(s);
  std::vector<float> S(dk * W);
  if (!s.causal) {
    std::vector<float> ve(s.t * W), O(s.t * W);
    bidirectional_state(h, ve.data(), S.data());
    bidirectional_output(h, S.data(), O.data());
    finish_rows(h, O.data(), s.t, out);
    store_state(h, S.data(), kv, z);
    return;
  }
  load_state(h, kv0, z0, S.data());
  std::vector<float> ve(C * W), kt(dk * C), A(C * C), E(C * C), O(C * W), cum(C);
  for (int64_t start = 0; start < s.t; start += C) {
    const int64_t n = std::min(C, s.t - start);
    const float* qc = h.q + start * dk;
    const float* kc = h.k + start * dk;
    widen(h, start, n, ve.data());
    const bool decayed = cumulative(h, start, n, cum.data());
    transpose(kc, n, dk, kt.data());
    chunk_weights(h, qc, kt.data(), n, cum.data(), decayed, A.data(), E.data());
    chunk_output(h, qc, A.data(), ve.data(), S.data(), n, cum.data(), decayed, O.data());
    finish_rows(h, O.data(), n, out + start * s.dv);
    chunk_carry(h, kc, ve.data(), n, cum.data(), decayed, S.data());
  }
  store_state(h, S.data(), kv, z);
}

/**
 * One chunk's gradient, given dS (the gradient reaching the state after it; replaced by the
 * one reaching the state before it). With D = dO Veᵀ (masked), P = D ⊙ scale E:
 *   dQ = P K + scale (dO Sᵀ) ⊙ exp(Γ),   dK = Pᵀ Q + (Ve dSᵀ) ⊙ exp(γ - Γ),
 *   dVe = Aᵀ dO + (K ⊙ exp(γ - Γ)) dS,   dS ← exp(γ) dS + scale (Q ⊙ exp(Γ))ᵀ dO,
 *   dΓ_i = Σ_j D_ij A_ij - Σ_j D_ji A_ji + inter_i - carry_i, and dγ (joining dΓ_n) from the
 *   carry; dg is the suffix sum of dΓ inside the chunk (Γ = cumsum g).
 */
struct BackScratch {
  std::vector<float> ve, veT, kt, A, E, O, dO, D, cum, dcum, ST, dST, r, dve, dSnew;
  BackScratch(int64_t C, int64_t dk, int64_t W)
      : ve(C * W), veT(W * C), kt(dk * C), A(C * C), E(C * C), O(C * W), dO(C * W), D(C * C),
        cum(C), dcum(C), ST(W * dk), dST(W * dk), r(std::max(dk, W)), dve(C * W),
        dSnew(dk * W) {}
};

ATTNKIT_CLONES void chunk_backward(const Head& h, int64_t start, int64_t n, const float* S,
                                   const float* dout, float* dS, BackScratch& b, float* dq,
                                   float* dk_, float* dv, float* dg) {
  const LinearShape& s = h.s;
  const int64_t dk = s.dk, dvn = s.dv, W = h.W;
  const float* qc = h.q + start * dk;
  const float* kc = h.k + start * dk;
  float* A = b.A.data();
  float* E = b.E.data();
  float* D = b.D.data();
  float* dO = b.dO.data();
  float* ve = b.ve.data();
  float* cum = b.cum.data();
  float* dcum = b.dcum.data();
  widen(h, start, n, ve);
  const bool decayed = cumulative(h, start, n, cum);
  transpose(kc, n, dk, b.kt.data());
  chunk_weights(h, qc, b.kt.data(), n, cum, decayed, A, E);
  if (W > dvn) {
    chunk_output(h, qc, A, ve, S, n, cum, decayed, b.O.data());
    widen_grad(h, b.O.data(), dout + start * dvn, n, dO);
  } else {
    widen_grad(h, nullptr, dout + start * dvn, n, dO);
  }
  transpose(ve, n, W, b.veT.data());
  // D_ij = dO_i · ve_j (j <= i).
  for (int64_t i = 0; i < n; i++) {
    float* row = D + i * n;
    for (int64_t j = 0; j <= i; j++) row[j] = 0.f;
    for (int64_t w = 0; w < W; w++) {
      const float x = dO[i * W + w];
      const float* vw = b.veT.data() + w * n;
      for (int64_t j = 0; j <= i; j++) row[j] += x * vw[j];
    }
  }
  for (int64_t i = 0; i < n; i++) dcum[i] = 0.f;
  for (int64_t i = 0; i < n; i++) {
    for (int64_t j = 0; j <= i; j++) {
      const float wv = D[i * n + j] * A[i * n + j];
      dcum[i] += wv;
      dcum[j] -= wv;
    }
  }
  float* dqc = dq + start * dk;
  float* dkc = dk_ + start * dk;
  float* dve = b.dve.data();
  for (int64_t x = 0; x < n * dk; x++) {
    dqc[x] = 0.f;
    dkc[x] = 0.f;
  }
  for (int64_t x = 0; x < n * W; x++) dve[x] = 0.f;
  for (int64_t i = 0; i < n; i++) {
    const float* qi = qc + i * dk;
    const float* doi = dO + i * W;
    float* dqi = dqc + i * dk;
    for (int64_t j = 0; j <= i; j++) {
      const float p = D[i * n + j] * s.scale * (decayed ? E[i * n + j] : 1.f);
      const float a = A[i * n + j];
      const float* kj = kc + j * dk;
      float* dkj = dkc + j * dk;
      float* dvj = dve + j * W;
      for (int64_t c = 0; c < dk; c++) dqi[c] += p * kj[c];
      for (int64_t c = 0; c < dk; c++) dkj[c] += p * qi[c];
      for (int64_t w = 0; w < W; w++) dvj[w] += a * doi[w];
    }
  }
  // Inter-chunk read: out_i += scale exp(Γ_i) q_i S.
  transpose(S, dk, W, b.ST.data());
  float* r = b.r.data();
  for (int64_t i = 0; i < n; i++) {
    const float ei = s.scale * (decayed ? std::exp(cum[i]) : 1.f);
    for (int64_t c = 0; c < dk; c++) r[c] = 0.f;
    for (int64_t w = 0; w < W; w++) {
      const float x = dO[i * W + w];
      const float* sw = b.ST.data() + w * dk;
      for (int64_t c = 0; c < dk; c++) r[c] += x * sw[c];
    }
    const float* qi = qc + i * dk;
    float* dqi = dqc + i * dk;
    float dot = 0.f;
    for (int64_t c = 0; c < dk; c++) {
      dqi[c] += ei * r[c];
      dot += qi[c] * r[c];
    }
    dcum[i] += ei * dot;
  }
  // Carry: S' = exp(γ) S + Σ_j exp(γ - Γ_j) k_jᵀ ve_j, with dS the gradient of S'.
  transpose(dS, dk, W, b.dST.data());
  const float gamma = cum[n - 1];
  float dgamma = 0.f;
  for (int64_t j = 0; j < n; j++) {
    const float f = decayed ? std::exp(gamma - cum[j]) : 1.f;
    for (int64_t c = 0; c < dk; c++) r[c] = 0.f;
    const float* vj = ve + j * W;
    for (int64_t w = 0; w < W; w++) {
      const float x = vj[w];
      const float* dsw = b.dST.data() + w * dk;
      for (int64_t c = 0; c < dk; c++) r[c] += x * dsw[c];
    }
    const float* kj = kc + j * dk;
    float* dkj = dkc + j * dk;
    float dot = 0.f;
    for (int64_t c = 0; c < dk; c++) {
      dkj[c] += f * r[c];
      dot += kj[c] * r[c];
    }
    dcum[j] -= f * dot;
    dgamma += f * dot;
    float* dvj = dve + j * W;
    for (int64_t c = 0; c < dk; c++) {
      const float x = kj[c] * f;
      const float* dsc = dS + c * W;
      for (int64_t w = 0; w < W; w++) dvj[w] += x * dsc[w];
    }
  }
  const float keep = decayed ? std::exp(gamma) : 1.f;
  float sds = 0.f;
  for (int64_t x = 0; x < dk * W; x++) sds += S[x] * dS[x];
  dgamma += keep * sds;
  dcum[n - 1] += dgamma;
  // dS before the chunk.
  float* dSn = b.dSnew.data();
  for (int64_t x = 0; x < dk * W; x++) dSn[x] = keep * dS[x];
  for (int64_t i = 0; i < n; i++) {
    const float ei = s.scale * (decayed ? std::exp(cum[i]) : 1.f);
    const float* qi = qc + i * dk;
    const float* doi = dO + i * W;
    for (int64_t c = 0; c < dk; c++) {
      const float x = qi[c] * ei;
      float* dsc = dSn + c * W;
      for (int64_t w = 0; w < W; w++) dsc[w] += x * doi[w];
    }
  }
  std::copy(dSn, dSn + dk * W, dS);
  float acc = 0.f;
  for (int64_t i = n - 1; i >= 0; i--) {
    acc += dcum[i];
    dg[start + i] = acc;
  }
  for (int64_t j = 0; j < n; j++)
    for (int64_t w = 0; w < dvn; w++) dv[(start + j) * dvn + w] = dve[j * W + w];
}

void backward_bidirectional(const Head& h, const float* dout, const float* dkv, const float* dz,
                            float* dq, float* dk_, float* dv, float* dg, float* dkv0,
                            float* dz0) {
  const LinearShape& s = h.s;
  const int64_t t = s.t, dk = s.dk, dvn = s.dv, W = h.W;
  std::vector<float> ve(t * W), S(dk * W), O(t * W), dO(t * W), dS(dk * W), ST(W * dk);
  bidirectional_state(h, ve.data(), S.data());
  if (W > dvn) bidirectional_output(h, S.data(), O.data());
  widen_grad(h, O.data(), dout, t, dO.data());
  load_state(h, dkv, dz, dS.data());
  transpose(S.data(), dk, W, ST.data());
  for (int64_t i = 0; i < t; i++) {
    float* dqi = dq + i * dk;
    for (int64_t c = 0; c < dk; c++) dqi[c] = 0.f;
    for (int64_t w = 0; w < W; w++) {
      const float x = s.scale * dO[i * W + w];
      for (int64_t c = 0; c < dk; c++) dqi[c] += x * ST[w * dk + c];
    }
    const float* qi = h.q + i * dk;
    for (int64_t c = 0; c < dk; c++) {
      const float x = s.scale * qi[c];
      for (int64_t w = 0; w < W; w++) dS[c * W + w] += x * dO[i * W + w];
    }
  }
  for (int64_t j = 0; j < t; j++) {
    float* dkj = dk_ + j * dk;
    const float* kj = h.k + j * dk;
    for (int64_t c = 0; c < dk; c++) {
      float acc = 0.f;
      for (int64_t w = 0; w < W; w++) acc += ve[j * W + w] * dS[c * W + w];
      dkj[c] = acc;
    }
    for (int64_t w = 0; w < dvn; w++) {
      float acc = 0.f;
      for (int64_t c = 0; c < dk; c++) acc += kj[c] * dS[c * W + w];
      dv[j * dvn + w] = acc;
    }
    dg[j] = 0.f;
  }
  std::fill(dkv0, dkv0 + dk * dvn, 0.f);
  std::fill(dz0, dz0 + dk, 0.f);
}

void backward_head(const Head& h, const float* kv0, const float* z0, const float* dout,
                   const float* dkv, const float* dz, float* dq, float* dk_, float* dv, float* dg,
                   float* dkv0, float* dz0) {
  const LinearShape& s = h.s;
  if (!s.causal) {
    backward_bidirectional(h, dout, dkv, dz, dq, dk_, dv, dg, dkv0, dz0);
    return;
  }
  const int64_t dk = s.dk, W = h.W, C = chunk_of(s);
  const int64_t chunks = chunk_count(s), SW = dk * W;
  // States entering each chunk, recomputed by a forward sweep of the carries.
  std::vector<float> states(std::max<int64_t>(chunks, 1) * SW);
  load_state(h, kv0, z0, states.data());
  BackScratch b(C, dk, W);
  for (int64_t c = 0; c + 1 < chunks; c++) {
    const int64_t start = c * C, n = std::min(C, s.t - start);
    std::copy(states.data() + c * SW, states.data() + (c + 1) * SW, states.data() + (c + 1) * SW);
    widen(h, start, n, b.ve.data());
    const bool decayed = cumulative(h, start, n, b.cum.data());
    chunk_carry(h, h.k + start * dk, b.ve.data(), n, b.cum.data(), decayed,
                states.data() + (c + 1) * SW);
  }
  std::vector<float> dS(SW);
  load_state(h, dkv, dz, dS.data());
  for (int64_t c = chunks - 1; c >= 0; c--) {
    const int64_t start = c * C, n = std::min(C, s.t - start);
    chunk_backward(h, start, n, states.data() + c * SW, dout, dS.data(), b, dq, dk_, dv, dg);
  }
  store_state(h, dS.data(), dkv0, dz0);
}

}  // namespace

void linear_attention_forward(const LinearShape& s, const float* q, const float* k,
                              const float* v, const float* g, const float* kv0, const float* z0,
                              float* out, float* kv, float* z) {
  const int64_t W = s.dv + (s.normalize ? 1 : 0);
  parallel_for_checked(s.batch * s.heads, [&](int64_t bh) {
    const Head h{s, q + bh * s.t * s.dk, k + bh * s.t * s.dk, v + bh * s.t * s.dv, g + bh * s.t,
                 W};
    forward_head(h, kv0 + bh * s.dk * s.dv, z0 + bh * s.dk, out + bh * s.t * s.dv,
                 kv + bh * s.dk * s.dv, z + bh * s.dk);
  });
}

void linear_attention_backward(const LinearShape& s, const float* q, const float* k,
                               const float* v, const float* g, const float* kv0, const float* z0,
                               const float* dout, const float* dkv, const float* dz, float* dq,
                               float* dk, float* dv, float* dg, float* dkv0, float* dz0) {
  const int64_t W = s.dv + (s.normalize ? 1 : 0);
  parallel_for_checked(s.batch * s.heads, [&](int64_t bh) {
    const int64_t qo = bh * s.t * s.dk, vo = bh * s.t * s.dv, so = bh * s.dk * s.dv;
    const Head h{s, q + qo, k + qo, v + vo, g + bh * s.t, W};
    backward_head(h, kv0 + so, z0 + bh * s.dk, dout + vo, dkv + so, dz + bh * s.dk, dq + qo,
                  dk + qo, dv + vo, dg + bh * s.t, dkv0 + so, dz0 + bh * s.dk);
  });
}

}  // namespace attnkit
